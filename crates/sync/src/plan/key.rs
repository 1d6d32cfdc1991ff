//! Resource identity and the ownership (tracking id) annotation.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The identity of a Kubernetes object inside a sync: no version, so the
/// same object served under two API versions is still one resource.
///
/// Cluster-scoped objects have an empty `namespace`; the core group is empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ResourceKey {
    /// API group (`apps`), empty for the core group.
    pub group: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl ResourceKey {
    /// Builds a key from its parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self { group: group.to_owned(), kind: kind.to_owned(), namespace: namespace.to_owned(), name: name.to_owned() }
    }

    /// Reads the key of an object, or names the first field that is missing.
    ///
    /// A hook may have only `metadata.generateName`; it then stands in for
    /// the name, since such hooks get a fresh name at every sync.
    pub fn from_object(object: &Value) -> Result<Self, &'static str> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty());
        let api_version = text("/apiVersion").ok_or("apiVersion")?;
        let kind = text("/kind").ok_or("kind")?;
        let name = text("/metadata/name").or_else(|| text("/metadata/generateName")).ok_or("metadata.name")?;
        let group = api_version.split_once('/').map_or("", |(group, _)| group);
        Ok(Self::new(group, kind, text("/metadata/namespace").unwrap_or(""), name))
    }

    /// Whether this key, used as a selective-sync filter, selects `other`.
    /// An empty namespace in the filter matches any namespace, as Argo CD's
    /// `--resource GROUP:KIND:NAME` does.
    pub fn selects(&self, other: &ResourceKey) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.name == other.name
            && (self.namespace.is_empty() || self.namespace == other.namespace)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.group, self.kind, self.namespace, self.name)
    }
}

/// The value of the tracking annotation that marks `key` as owned by `app`:
/// `<app>:<group>/<kind>:<namespace>/<name>`.
pub fn tracking_id(app: &str, key: &ResourceKey) -> String {
    format!("{app}:{}/{}:{}/{}", key.group, key.kind, key.namespace, key.name)
}

/// Splits a tracking id into the app name and the resource it claims to be.
/// Returns `None` when the value is not in the tracking-id format.
pub fn parse_tracking_id(value: &str) -> Option<(&str, ResourceKey)> {
    let (app, rest) = value.split_once(':')?;
    let (group_kind, namespace_name) = rest.split_once(':')?;
    let (group, kind) = group_kind.split_once('/')?;
    // Argo CD writes cluster-scoped objects as `:/name` but older ids omit
    // the slash; accept both.
    let (namespace, name) = namespace_name.split_once('/').unwrap_or(("", namespace_name));
    if app.is_empty() || kind.is_empty() || name.is_empty() {
        return None;
    }
    Some((app, ResourceKey::new(group, kind, namespace, name)))
}

/// Whether `live` (whose key is `key`) is owned by `app` through the tracking
/// annotation `annotation`. The id must also name the object itself: a copy
/// of another object's annotations does not make it ours.
pub(crate) fn owned_by(live: &Value, key: &ResourceKey, app: &str, annotation: &str) -> bool {
    let value = live.get("metadata").and_then(|m| m.get("annotations")).and_then(|a| a.get(annotation));
    match value.and_then(Value::as_str).and_then(parse_tracking_id) {
        Some((owner, claimed)) => owner == app && &claimed == key,
        None => false,
    }
}
