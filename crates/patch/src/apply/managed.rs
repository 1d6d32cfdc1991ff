//! Reading and writing `metadata.managedFields`.

use serde_json::{Map, Value};

use super::{ManagedEntry, Operation};
use crate::fields::{FieldSet, FieldsError};

/// `metadata.managedFields` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManagedFieldsError {
    /// managedFields is not a list.
    #[error("metadata.managedFields must be a list")]
    NotAList,
    /// One entry is malformed.
    #[error("metadata.managedFields[{index}]: {reason}")]
    Entry {
        /// The position of the entry.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// One entry's `fieldsV1` is malformed.
    #[error("metadata.managedFields[{index}].fieldsV1 is malformed")]
    Fields {
        /// The position of the entry.
        index: usize,
        /// The parse error.
        #[source]
        source: FieldsError,
    },
}

/// The entries of `obj`'s `metadata.managedFields` (none when absent).
pub fn read_managed(obj: &Value) -> Result<Vec<ManagedEntry>, ManagedFieldsError> {
    let items = match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ManagedFieldsError::NotAList),
    };
    let mut entries: Vec<ManagedEntry> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let bad = |reason: &str| ManagedFieldsError::Entry { index, reason: reason.to_owned() };
        let Value::Object(item) = item else { return Err(bad("expected an object")) };
        let text = |name: &str| -> Result<Option<String>, ManagedFieldsError> {
            match item.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(&format!("{name} must be a string"))),
            }
        };
        let operation = match text("operation")?.as_deref() {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            _ => return Err(bad("operation must be `Apply` or `Update`")),
        };
        let api_version =
            text("apiVersion")?.filter(|v| !v.is_empty()).ok_or_else(|| bad("apiVersion must not be empty"))?;
        match text("fieldsType")?.as_deref() {
            Some("FieldsV1") => {}
            Some(other) => return Err(bad(&format!("invalid fieldsType {other:?}"))),
            None => return Err(bad("missing fieldsType")),
        }
        let fields = match item.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|source| ManagedFieldsError::Fields { index, source })?,
        };
        let entry = ManagedEntry {
            manager: text("manager")?.unwrap_or_default(),
            operation,
            api_version,
            time: text("time")?,
            subresource: text("subresource")?.filter(|s| !s.is_empty()),
            fields,
        };
        let duplicate = entries.iter().any(|e| {
            e.manager == entry.manager
                && e.operation == entry.operation
                && e.subresource == entry.subresource
                && (entry.operation == Operation::Apply || e.api_version == entry.api_version)
        });
        if duplicate {
            return Err(bad(&format!("duplicate entry for manager {:?}", entry.manager)));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Sets `obj`'s `metadata.managedFields` to `entries`, leaving out entries
/// that own nothing, in Kubernetes order (Apply before Update, then by time,
/// manager, version and subresource). With no entry left, managedFields is
/// removed.
pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let mut kept: Vec<&ManagedEntry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    kept.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| a.time.as_deref().unwrap_or("").cmp(b.time.as_deref().unwrap_or("")))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| a.api_version.cmp(&b.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let Some(root) = obj.as_object_mut() else { return };
    if kept.is_empty() {
        if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove("managedFields");
        }
        return;
    }
    let list: Vec<Value> = kept.into_iter().map(entry_json).collect();
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

fn entry_json(entry: &ManagedEntry) -> Value {
    let mut out = Map::new();
    out.insert("manager".into(), Value::String(entry.manager.clone()));
    out.insert("operation".into(), Value::String(entry.operation.as_str().into()));
    out.insert("apiVersion".into(), Value::String(entry.api_version.clone()));
    if let Some(time) = &entry.time {
        out.insert("time".into(), Value::String(time.clone()));
    }
    out.insert("fieldsType".into(), Value::String("FieldsV1".into()));
    out.insert("fieldsV1".into(), entry.fields.to_fields_v1());
    if let Some(sub) = &entry.subresource {
        out.insert("subresource".into(), Value::String(sub.clone()));
    }
    Value::Object(out)
}
