//! The value of a cache entry: rendered objects and the tools that rendered them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// What one render produced: the objects in render order, and the version of every tool used
/// (tool name → version), recorded with the output for reproducibility.
///
/// `objects` sits behind an `Arc` so a memory hit hands out the same parsed objects without a
/// copy or a parse.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// Rendered objects, in the order the renderer produced them.
    pub objects: Arc<Vec<Value>>,
    /// Tool name → version used for this render (e.g. `kustomize` → `v5.5.0`).
    pub tools: BTreeMap<String, String>,
}

impl Entry {
    /// An entry from owned parts.
    pub fn new(objects: Vec<Value>, tools: BTreeMap<String, String>) -> Self {
        Entry { objects: Arc::new(objects), tools }
    }

    /// Whether any object is a Secret (`kind: Secret`, whatever its `apiVersion`, also inside a
    /// `*List`). Such entries are never written to disk.
    pub fn contains_secret(&self) -> bool {
        self.objects.iter().any(is_secret)
    }
}

/// Any `kind: Secret` counts, not only core `v1`: keeping a lookalike out of the disk tier costs
/// one re-render after a restart, while writing a real one would put plaintext at rest.
fn is_secret(object: &Value) -> bool {
    match object.get("kind").and_then(Value::as_str) {
        Some("Secret") => true,
        Some(kind) if kind.ends_with("List") => {
            object.get("items").and_then(Value::as_array).is_some_and(|items| items.iter().any(is_secret))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_found_at_top_level_and_in_lists() {
        let entry = |objects: Vec<Value>| Entry::new(objects, BTreeMap::new());
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        assert!(!entry(vec![config.clone()]).contains_secret());
        assert!(!entry(vec![]).contains_secret());
        assert!(entry(vec![config.clone(), secret.clone()]).contains_secret());
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [config.clone(), secret]});
        assert!(entry(vec![list]).contains_secret());
        let clean_list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": [config]});
        assert!(!entry(vec![clean_list]).contains_secret());
        // A field named like a Secret is not one.
        let sealed = json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "spec": {"kind": "Secret"}});
        assert!(!entry(vec![sealed]).contains_secret());
    }
}
