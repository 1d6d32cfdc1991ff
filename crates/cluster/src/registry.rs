//! The catalogue of resources the local cluster serves: every built-in
//! resource of the supported group versions (as in Kubernetes 1.33), plus
//! the resources CustomResourceDefinitions register at run time.
//!
//! Also builds the discovery documents (legacy `/api`, `/apis`,
//! `/api/v1`, `/apis/<g>/<v>`, and aggregated discovery v2), and the cells of
//! `kubectl get` tables.
//!
//! Deliberate differences from Kubernetes:
//! - discovery lists no `storageVersionHash`;
//! - subresources such as `pods/log` or `pods/exec` are listed in discovery
//!   (kubectl shows them in `api-resources`) but the local cluster does not
//!   serve them;
//! - a few printer columns are simpler than Kubernetes' (see
//!   [`table_cells`]).

use std::collections::HashMap;
use std::sync::Arc;

use patch::Schema;
use serde_json::Value;

mod builtin;
mod crd;
mod discovery;
mod printers;

pub use discovery::Discovery;
pub use printers::{Computed, human_duration, table_cells, table_cells_at, table_column_definitions};

/// Paths of the scale subresource's fields inside the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// JSON path of the desired replicas, for example `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSON path of the observed replicas, for example `.status.replicas`.
    pub status_replicas_path: String,
    /// JSON path of the label selector string in status, if any.
    pub label_selector_path: Option<String>,
}

/// Where a resource's schema comes from.
#[derive(Debug, Clone)]
pub enum SchemaSource {
    /// The built-in schema of its kind (`Schema::builtin()`).
    Builtin,
    /// A CRD version's `openAPIV3Schema`.
    Crd(Arc<Schema>),
    /// No schema: any fields are accepted.
    None,
}

/// A column of `kubectl get` output (a Table response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header, for example `READY`.
    pub name: String,
    /// OpenAPI type of the cells: `string`, `integer`, `date`, ...
    pub type_: String,
    /// JSON path of the value inside the object, for example `.status.readyReplicas`.
    pub json_path: String,
    /// Column priority: 0 always shown, 1 only with `-o wide`.
    pub priority: i32,
    /// Column description.
    pub description: String,
    /// OpenAPI format of the cells (`name` for the NAME column), often empty.
    pub format: String,
    /// For built-in kinds: a cell Kubernetes computes from several fields
    /// (`1/1`, a count). When set, `json_path` only documents the source.
    pub computed: Option<Computed>,
}

/// One resource at one version.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, for example `v1`.
    pub version: String,
    /// Kind, for example `Deployment`.
    pub kind: String,
    /// Kind of lists, for example `DeploymentList`.
    pub list_kind: String,
    /// Plural resource name, for example `deployments`.
    pub plural: String,
    /// Singular name, for example `deployment`.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names, for example `deploy`.
    pub short_names: Vec<String>,
    /// Categories, for example `all`.
    pub categories: Vec<String>,
    /// Verbs, as discovery reports them.
    pub verbs: Vec<String>,
    /// Has a status subresource.
    pub status: bool,
    /// Has a scale subresource.
    pub scale: Option<ScaleSpec>,
    /// Other subresources discovery lists but the local cluster does not
    /// serve (for example `pods/log`).
    pub other_subresources: Vec<String>,
    /// Schema of objects.
    pub schema: SchemaSource,
    /// Columns for `kubectl get` after NAME (which is implied), including
    /// AGE where Kubernetes shows it, in Kubernetes' order.
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The storage key prefix shared by every version: `group/plural`.
    pub fn storage_resource(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// The name of the CustomResourceDefinition that registered this
    /// resource (`plural.group`), if it is a custom resource.
    pub fn crd_name(&self) -> Option<String> {
        match self.schema {
            SchemaSource::Crd(_) => Some(format!("{}.{}", self.plural, self.group)),
            SchemaSource::Builtin | SchemaSource::None => None,
        }
    }
}

/// The set of served resources. Cloned and swapped as a whole when CRDs change.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Every resource, built-ins first (in Kubernetes' discovery order),
    /// then CRD resources in the order they were added.
    resources: Vec<Arc<ResourceType>>,
    by_plural: HashMap<(String, String, String), usize>,
    by_kind: HashMap<(String, String, String), usize>,
    /// Storage version of each custom resource, by CRD name.
    storage_versions: HashMap<String, String>,
}

/// Why a CustomResourceDefinition cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A field of the CRD is missing or invalid.
    #[error("CustomResourceDefinition {crd:?} is invalid: {field}: {message}")]
    InvalidCrd {
        /// The CRD's `metadata.name` (may be empty when that is the problem).
        crd: String,
        /// The path of the offending field, for example `spec.group`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The order in which Kubernetes lists its built-in groups under `/apis`.
const GROUP_ORDER: &[&str] = &[
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

impl Registry {
    /// The built-in resources of the supported Kubernetes 1.33 group
    /// versions. Cheap: the table is built once per process.
    pub fn builtin() -> Registry {
        static BUILTIN: std::sync::OnceLock<Vec<Arc<ResourceType>>> = std::sync::OnceLock::new();
        let resources = BUILTIN.get_or_init(builtin::resources).clone();
        Registry::from_resources(resources, HashMap::new())
    }

    fn from_resources(resources: Vec<Arc<ResourceType>>, storage_versions: HashMap<String, String>) -> Registry {
        let mut by_plural = HashMap::new();
        let mut by_kind = HashMap::new();
        for (i, rt) in resources.iter().enumerate() {
            by_plural.insert((rt.group.clone(), rt.version.clone(), rt.plural.clone()), i);
            by_kind.entry((rt.group.clone(), rt.version.clone(), rt.kind.clone())).or_insert(i);
        }
        Registry { resources, by_plural, by_kind, storage_versions }
    }

    /// The resource served at `/apis/<group>/<version>/<plural>` (or
    /// `/api/v1/<plural>` for the core group).
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        let i = self.by_plural.get(&(group.to_owned(), version.to_owned(), plural.to_owned()))?;
        self.resources.get(*i).cloned()
    }

    /// The resource of a kind at a group version.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let i = self.by_kind.get(&(group.to_owned(), version.to_owned(), kind.to_owned()))?;
        self.resources.get(*i).cloned()
    }

    /// Every served resource: built-ins first, in discovery order.
    pub fn resources(&self) -> &[Arc<ResourceType>] {
        &self.resources
    }

    /// The version objects of a resource are stored in: the CRD's storage
    /// version for custom resources, the resource's version for built-ins.
    pub fn storage_version(&self, rt: &ResourceType) -> String {
        rt.crd_name().and_then(|n| self.storage_versions.get(&n).cloned()).unwrap_or_else(|| rt.version.clone())
    }

    /// The resources of one group version, in discovery order.
    pub fn resources_in(&self, group: &str, version: &str) -> impl Iterator<Item = &Arc<ResourceType>> {
        let (group, version) = (group.to_owned(), version.to_owned());
        self.resources.iter().filter(move |rt| rt.group == group && rt.version == version)
    }

    /// The served groups, core (`""`) first, then in Kubernetes' order, then
    /// CRD groups by name.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for rt in &self.resources {
            if !groups.contains(&rt.group) {
                groups.push(rt.group.clone());
            }
        }
        let rank = |g: &str| -> (usize, String) {
            if g.is_empty() {
                return (0, String::new());
            }
            match GROUP_ORDER.iter().position(|x| *x == g) {
                Some(i) => (1 + i, String::new()),
                None => (1 + GROUP_ORDER.len(), g.to_owned()),
            }
        };
        groups.sort_by_key(|g| rank(g));
        groups
    }

    /// The versions served for a group, most preferred first (Kubernetes'
    /// version priority: GA, then beta, then alpha, higher numbers first).
    pub fn versions(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for rt in self.resources.iter().filter(|rt| rt.group == group) {
            if !versions.contains(&rt.version) {
                versions.push(rt.version.clone());
            }
        }
        versions.sort_by(|a, b| version_priority(a, b));
        versions
    }

    /// Every served `(group, version)`, groups in [`Registry::groups`]
    /// order and versions most preferred first.
    pub fn group_versions(&self) -> Vec<(String, String)> {
        self.groups().into_iter().flat_map(|g| self.versions(&g).into_iter().map(move |v| (g.clone(), v))).collect()
    }

    /// The preferred version of a group, if the group is served.
    pub fn preferred_version(&self, group: &str) -> Option<String> {
        self.versions(group).into_iter().next()
    }
}

/// Orders Kubernetes-style versions by priority, most preferred first:
/// `v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < other` (where `<` means
/// "before"); versions that do not look like Kubernetes versions sort
/// alphabetically after the others.
pub fn version_priority(a: &str, b: &str) -> std::cmp::Ordering {
    fn parse(v: &str) -> Option<(u64, u8, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let rest = &rest[digits.len()..];
        if rest.is_empty() {
            return Some((major, 2, 0));
        }
        let (stage, num) = if let Some(n) = rest.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = rest.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        let minor: u64 = num.parse().ok()?;
        Some((major, stage, minor))
    }
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sb.cmp(&sa).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Reads a simple Kubernetes JSON path such as `.spec.replicas` (dotted
/// fields only). Used for scale subresource paths.
pub fn simple_path<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = object;
    for segment in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        node = node.get(segment)?;
    }
    Some(node)
}

#[cfg(test)]
mod tests;
