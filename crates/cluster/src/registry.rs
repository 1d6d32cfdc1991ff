//! The catalogue of resources the local cluster serves: every built-in
//! resource of the supported group versions (as in Kubernetes 1.33), plus
//! the resources CustomResourceDefinitions register at run time.
//!
//! Also builds the discovery documents (legacy `/api`, `/apis`,
//! `/api/v1`, `/apis/<g>/<v>`, and aggregated discovery v2).

use std::sync::Arc;

use patch::Schema;

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
    /// Extra columns for `kubectl get` (NAME and AGE are implied).
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
}

/// The set of served resources. Cloned and swapped as a whole when CRDs change.
#[derive(Debug, Clone, Default)]
pub struct Registry {}
