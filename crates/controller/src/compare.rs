//! Desired versus live for one app: which resources are Synced, which are
//! OutOfSync (and why, as a diff), and how healthy each is. Pure: the
//! reconciler gathers the inputs.

use std::collections::{BTreeMap, BTreeSet};

use application::{HealthState, IgnoreDifference, SyncStatusCode};
use health::{Health, HealthStatus};
use serde_json::{Map, Value};
use sync::ResourceKey;
use sync::plan::{Annotations, TRACKING_ANNOTATION, parse_tracking_id, tracking_id};

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Namespaced.
    Namespaced,
    /// Cluster-scoped.
    Cluster,
}

/// Why the desired state cannot be used. Nothing is applied then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// The cluster does not serve the kind, and the app does not define it.
    #[error(
        "{kind} {name:?} ({api_version}): the destination cluster does not serve this kind \
         (install its CRD first, or add the CRD to the app)"
    )]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
        /// The object's name (empty when it has none).
        name: String,
    },
    /// Two desired objects are the same resource. Applying either would
    /// silently lose the other, so neither is.
    #[error("{resource} is defined more than once in the app")]
    Duplicate {
        /// The resource, as `Kind.group "name" in namespace "ns"`.
        resource: String,
    },
    /// A desired object lacks apiVersion, kind or name.
    #[error("desired object {index} has no {field}")]
    Invalid {
        /// Position, from 1.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
}

/// One resource of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceComparison {
    /// Identity.
    pub key: ResourceKey,
    /// apiVersion (desired's, else live's).
    pub api_version: String,
    /// Synced or OutOfSync.
    pub status: SyncStatusCode,
    /// Live health; Missing when the object does not exist, `None` for
    /// kinds without a check.
    pub health: Option<Health>,
    /// Unified diff from live to desired, Secret data masked; empty when synced.
    pub diff: String,
    /// Live but no longer desired.
    pub requires_pruning: bool,
}

/// The outcome of comparing an app.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The commit compared against.
    pub revision: String,
    /// Every non-hook resource, desired or live, sorted by key.
    pub resources: Vec<ResourceComparison>,
    /// Synced when every resource is.
    pub sync: SyncStatusCode,
    /// The worst resource health.
    pub health: HealthState,
}

/// An app's prepared desired state as the controller keeps it between
/// reconciles: compact JSON (a `serde_json::Value` tree costs several times
/// its text), with the keys and kinds every reconcile needs at hand.
#[derive(Debug)]
pub struct Desired {
    /// Each object's key, in order.
    pub keys: Vec<ResourceKey>,
    /// Distinct (apiVersion, kind) pairs.
    pub kinds: BTreeSet<(String, String)>,
    /// The tools that rendered the objects, name → version.
    pub tools: BTreeMap<String, String>,
    json: Box<str>,
}

impl Desired {
    /// Keeps prepared objects compactly.
    pub fn new(objects: &[Value]) -> Self {
        let keys = objects.iter().filter_map(|o| ResourceKey::from_object(o).ok()).collect();
        let kinds = objects
            .iter()
            .map(|o| {
                let field = |name: &str| o.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
                (field("apiVersion"), field("kind"))
            })
            .collect();
        let json = serde_json::to_string(objects).unwrap_or_else(|_| "[]".to_owned()).into_boxed_str();
        Desired { keys, kinds, tools: BTreeMap::new(), json }
    }

    /// The objects, parsed again.
    pub fn objects(&self) -> Vec<Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// Prepares rendered objects for comparing and applying: namespaced objects
/// without a namespace get the destination's, cluster-scoped ones lose any
/// namespace, and every object carries the tracking annotation.
///
/// `scope` answers from the destination's discovery; kinds it does not know
/// are accepted when the app itself defines them with a CRD (the CRD is
/// applied first, so the objects can be created in the same sync).
pub fn prepare(
    rendered: &[Value],
    app: &str,
    namespace: &str,
    scope: &dyn Fn(&str, &str) -> Option<Scope>,
) -> Result<Vec<Value>, DesiredError> {
    let defined = crd_scopes(rendered);
    let mut prepared = Vec::with_capacity(rendered.len());
    let mut seen = BTreeSet::new();
    for (index, object) in rendered.iter().enumerate() {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        if api_version.is_empty() {
            return Err(DesiredError::Invalid { index: index + 1, field: "apiVersion" });
        }
        if kind.is_empty() {
            return Err(DesiredError::Invalid { index: index + 1, field: "kind" });
        }
        let group = api_version.rsplit_once('/').map(|(group, _)| group).unwrap_or("");
        let resolved = scope(api_version, kind).or_else(|| defined.get(&(group.to_owned(), kind.to_owned())).copied());
        let Some(resolved) = resolved else {
            let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            return Err(DesiredError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                name: name.to_owned(),
            });
        };
        let mut object = object.clone();
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(DesiredError::Invalid { index: index + 1, field: "metadata" });
        };
        match resolved {
            Scope::Namespaced => {
                let empty = metadata.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty);
                if empty && !namespace.is_empty() {
                    metadata.insert("namespace".into(), Value::String(namespace.to_owned()));
                }
            }
            Scope::Cluster => {
                metadata.remove("namespace");
            }
        }
        let key =
            ResourceKey::from_object(&object).map_err(|field| DesiredError::Invalid { index: index + 1, field })?;
        // Checked after namespace defaulting: `namespace: prod` and no
        // namespace at all are the same object when the destination is prod.
        if !seen.insert(key.clone()) {
            return Err(DesiredError::Duplicate { resource: describe(&key) });
        }
        let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(DesiredError::Invalid { index: index + 1, field: "metadata" });
        };
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(TRACKING_ANNOTATION.into(), Value::String(tracking_id(app, &key)));
        }
        prepared.push(object);
    }
    Ok(prepared)
}

/// A resource as users read it (kubectl's `kind.group` form):
/// `Deployment.apps "web" in namespace "prod"`, `Namespace "team"`.
pub(crate) fn describe(key: &ResourceKey) -> String {
    let kind = if key.group.is_empty() { key.kind.clone() } else { format!("{}.{}", key.kind, key.group) };
    if key.namespace.is_empty() {
        format!("{kind} {:?}", key.name)
    } else {
        format!("{kind} {:?} in namespace {:?}", key.name, key.namespace)
    }
}

/// Kinds the rendered CRDs define, with their scope.
fn crd_scopes(rendered: &[Value]) -> BTreeMap<(String, String), Scope> {
    rendered
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .filter_map(|crd| {
            let group = crd.pointer("/spec/group")?.as_str()?;
            let kind = crd.pointer("/spec/names/kind")?.as_str()?;
            let scope = match crd.pointer("/spec/scope").and_then(Value::as_str) {
                Some("Cluster") => Scope::Cluster,
                _ => Scope::Namespaced,
            };
            Some(((group.to_owned(), kind.to_owned()), scope))
        })
        .collect()
}

/// Whether an object is a sync hook (hooks are not part of sync status).
pub(crate) fn is_hook(object: &Value) -> bool {
    matches!(Annotations::parse(object), Ok((annotations, _)) if annotations.hook.is_some())
}

/// Compares prepared desired objects with the live ones (the app's tracked
/// objects plus whatever exists at desired keys).
pub fn compare_app(
    app: &str,
    revision: &str,
    desired: &[Value],
    live: &BTreeMap<ResourceKey, Value>,
    ignore: &[IgnoreDifference],
) -> Comparison {
    let rules: Vec<diff::IgnoreDifference> = ignore
        .iter()
        .map(|rule| diff::IgnoreDifference {
            group: rule.group.clone(),
            kind: rule.kind.clone(),
            name: rule.name.clone(),
            namespace: rule.namespace.clone(),
            json_pointers: rule.json_pointers.clone(),
            managed_fields_managers: rule.managed_fields_managers.clone(),
        })
        .collect();
    let options = diff::DiffOptions { ignore: &rules, ..diff::DiffOptions::default() };
    let mut resources = Vec::new();
    let mut desired_keys = BTreeSet::new();
    for object in desired {
        let Ok(key) = ResourceKey::from_object(object) else { continue };
        desired_keys.insert(key.clone());
        if is_hook(object) {
            continue;
        }
        let current = live.get(&key);
        let result = diff::diff(object, current, &options);
        let health = match current {
            Some(current) => health::assess(current),
            None => Some(Health::new(HealthStatus::Missing, "resource does not exist")),
        };
        resources.push(ResourceComparison {
            key,
            api_version: api_version(object),
            status: if result.synced { SyncStatusCode::Synced } else { SyncStatusCode::OutOfSync },
            health,
            diff: result.diff,
            requires_pruning: false,
        });
    }
    for (key, object) in live {
        if desired_keys.contains(key) || is_hook(object) || !tracked_by(object, app, key) {
            continue;
        }
        let extraneous_ignored = matches!(Annotations::parse(object),
            Ok((annotations, _)) if annotations.compare_options.ignore_extraneous);
        let result = diff::diff(&Value::Null, Some(object), &options);
        resources.push(ResourceComparison {
            key: key.clone(),
            api_version: api_version(object),
            status: if extraneous_ignored { SyncStatusCode::Synced } else { SyncStatusCode::OutOfSync },
            health: health::assess(object),
            diff: result.diff,
            requires_pruning: true,
        });
    }
    resources.sort_by(|a, b| a.key.cmp(&b.key));
    let sync = if resources.iter().all(|r| r.status == SyncStatusCode::Synced) {
        SyncStatusCode::Synced
    } else {
        SyncStatusCode::OutOfSync
    };
    let counted: Vec<&ResourceComparison> = resources.iter().filter(|r| !r.requires_pruning).collect();
    let status = health::worst(counted.iter().map(|r| r.health.as_ref()));
    let message = counted
        .iter()
        .find(|r| r.health.as_ref().is_some_and(|h| h.status == status && status != HealthStatus::Healthy))
        .map(|r| {
            let detail = r.health.as_ref().map(|h| h.message.as_str()).unwrap_or_default();
            if detail.is_empty() { r.key.to_string() } else { format!("{}: {detail}", r.key) }
        });
    Comparison { revision: revision.to_owned(), resources, sync, health: HealthState { status, message } }
}

/// Whether `object`'s tracking id names this app and this very object (a
/// copied annotation on another object does not count).
fn tracked_by(object: &Value, app: &str, key: &ResourceKey) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TRACKING_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(parse_tracking_id)
        .is_some_and(|(owner, tracked)| owner == app && &tracked == key)
}

/// The apiVersion of a resource listed in an app's status (`apps/v1`, `v1`).
pub(crate) fn api_version_of(resource: &application::ResourceStatus) -> String {
    if resource.group.is_empty() {
        resource.version.clone()
    } else {
        format!("{}/{}", resource.group, resource.version)
    }
}

fn api_version(object: &Value) -> String {
    object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests;
