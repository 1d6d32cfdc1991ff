//! Writing an Application's status (and, with it, `operation` and the
//! refresh annotation) as JSON merge patches holding only what changed.
//!
//! Only changes are sent, so a reconcile that finds nothing new writes
//! nothing and does not wake itself up again; and a field the controller did
//! not change (say, `phase: Terminating` written by `ferry app terminate-op`
//! meanwhile) is not overwritten by a stale copy.

use application::{Application, ApplicationStatus, Operation};
use kube::api::{Patch, PatchParams};
use serde_json::{Map, Value, json};

use crate::Context;

/// What to do with the top-level `operation` field in the same write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OperationField {
    /// Leave it.
    Keep,
    /// Remove it: the operation is over. Guarded by resourceVersion, so a
    /// request written meanwhile is not lost.
    Clear,
    /// Set it: the controller started an automated sync.
    Set(Operation),
}

/// Tracks what was last written, so the next patch holds only the changes.
pub(crate) struct StatusWriter {
    name: String,
    /// The status as last read or written; serialised only when a write
    /// needs the difference (most reconciles change nothing).
    base: ApplicationStatus,
    resource_version: Option<String>,
    /// The resourceVersion of this writer's last write, if it wrote.
    written: Option<String>,
    /// Whether the app holds an `operation` (as read, then as written).
    operation_present: bool,
}

impl StatusWriter {
    pub(crate) fn new(app: &Application) -> Self {
        StatusWriter {
            name: app.metadata.name.clone().unwrap_or_default(),
            base: app.status.clone().unwrap_or_default(),
            resource_version: app.metadata.resource_version.clone(),
            written: None,
            operation_present: app.spec.operation.is_some(),
        }
    }

    /// Whether the app holds an `operation`: it had one when read, or this
    /// writer set one since (and did not clear it).
    pub(crate) fn operation_present(&self) -> bool {
        self.operation_present
    }

    /// The resourceVersion the app got from this writer's last write; `None`
    /// when it wrote nothing.
    pub(crate) fn written(&self) -> Option<&str> {
        self.written.as_deref()
    }

    /// Writes `status` (and the extras) if anything changed.
    pub(crate) async fn write(
        &mut self,
        context: &Context,
        status: &ApplicationStatus,
        operation: &OperationField,
        consume_refresh: bool,
    ) -> Result<(), kube::Error> {
        let mut patch = Map::new();
        if *status != self.base {
            let old = serde_json::to_value(&self.base).unwrap_or(Value::Null);
            let new = serde_json::to_value(status).unwrap_or(Value::Null);
            if let Some(changes) = merge_diff(&old, &new) {
                patch.insert("status".into(), changes);
            }
        }
        let mut metadata = Map::new();
        match operation {
            OperationField::Keep => {}
            OperationField::Clear => {
                patch.insert("operation".into(), Value::Null);
                if let Some(version) = &self.resource_version {
                    metadata.insert("resourceVersion".into(), Value::String(version.clone()));
                }
            }
            OperationField::Set(requested) => {
                patch.insert("operation".into(), serde_json::to_value(requested).unwrap_or(Value::Null));
            }
        }
        if consume_refresh {
            metadata.insert("annotations".into(), json!({ application::REFRESH_ANNOTATION: null }));
        }
        if !metadata.is_empty() {
            patch.insert("metadata".into(), Value::Object(metadata));
        }
        if patch.is_empty() {
            return Ok(());
        }
        let written =
            context.apps.patch(&self.name, &PatchParams::default(), &Patch::Merge(Value::Object(patch))).await?;
        context.metrics.status_written();
        self.base = status.clone();
        self.resource_version = written.metadata.resource_version;
        self.written = self.resource_version.clone();
        match operation {
            OperationField::Keep => {}
            OperationField::Clear => self.operation_present = false,
            OperationField::Set(_) => self.operation_present = true,
        }
        Ok(())
    }
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`, or `None`
/// when they are equal. Removed keys become `null`; arrays are replaced.
pub(crate) fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => {
                        if let Some(change) = merge_diff(previous, value) {
                            patch.insert(key.clone(), change);
                        }
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        // A null inside a merge patch means "delete"; a status never holds
        // explicit nulls (absent fields are skipped when serialising).
        _ => Some(new.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::merge_diff;
    use serde_json::json;

    #[test]
    fn equal_values_need_no_patch() {
        assert_eq!(merge_diff(&json!({"a": {"b": 1}}), &json!({"a": {"b": 1}})), None);
    }

    #[test]
    fn changed_added_and_removed_keys() {
        let old = json!({"sync": {"status": "Synced", "revision": "a"}, "gone": {"x": 1}, "list": [1, 2]});
        let new = json!({"sync": {"status": "OutOfSync", "revision": "a"}, "list": [1], "added": true});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(patch, json!({"sync": {"status": "OutOfSync"}, "gone": null, "list": [1], "added": true}));
        // Applying the patch to old gives new.
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, new);
    }
}
