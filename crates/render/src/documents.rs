//! Parsing one manifest file into objects: multi-document YAML, JSON, and
//! flattening of `List` kinds.

use serde_json::Value;

use crate::{Manifest, RenderError};

/// Parses `bytes` (the content of `file`) and appends its objects to `out`.
/// Nothing is appended when any document is bad.
pub(crate) fn parse_file(file: &str, bytes: &[u8], out: &mut Vec<Manifest>) -> Result<(), RenderError> {
    let documents = if file.ends_with(".json") { parse_json(file, bytes)? } else { parse_yaml(file, bytes)? };
    let mut objects = Vec::new();
    for (index, document) in documents.into_iter().enumerate() {
        flatten(file, index, document, &mut objects)?;
    }
    out.extend(objects);
    Ok(())
}

fn parse_json(file: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| RenderError::Parse {
        file: file.to_owned(),
        document: 0,
        message: e.to_string(),
    })?;
    Ok(match value {
        // A top-level array is taken as a sequence of documents.
        Value::Array(items) => items,
        other => vec![other],
    })
}

fn parse_yaml(file: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
    let mut reader = std::io::Cursor::new(bytes);
    let mut documents = Vec::new();
    // The streaming reader yields one result per non-empty document, so the
    // number read before an error is the failing document's index. Empty and
    // comment-only documents (`---` separators, trailing `---`) are skipped.
    for result in serde_saphyr::read::<_, Value>(&mut reader) {
        match result {
            Ok(Value::Null) => {}
            Ok(value) => documents.push(value),
            Err(e) => {
                return Err(RenderError::Parse {
                    file: file.to_owned(),
                    document: documents.len(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(documents)
}

/// Checks `value` is a Kubernetes object and appends it, or its items when it
/// is a list.
pub(crate) fn flatten(file: &str, document: usize, value: Value, out: &mut Vec<Manifest>) -> Result<(), RenderError> {
    let invalid = |message: String| RenderError::InvalidObject { file: file.to_owned(), document, message };
    let Value::Object(map) = &value else {
        return Err(invalid(format!("expected an object, found {}", type_name(&value))));
    };
    let kind = match map.get("kind") {
        Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err(invalid("object has no kind".to_owned())),
        Some(other) => return Err(invalid(format!("kind must be a string, found {}", type_name(other)))),
    };
    let items = map.get("items");
    // `List` is the generic list; typed lists such as `ConfigMapList` are
    // flattened only when they carry items, so a custom kind that merely
    // ends in "List" is still applied as itself.
    let is_list = kind == "List" || (kind.ends_with("List") && matches!(items, Some(Value::Array(_))));
    if is_list {
        match items {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    flatten(file, document, item.clone(), out)?;
                }
            }
            Some(other) => return Err(invalid(format!("{kind} items must be a list, found {}", type_name(other)))),
        }
        return Ok(());
    }
    match map.get("apiVersion") {
        Some(Value::String(v)) if !v.is_empty() => {}
        _ => return Err(invalid(format!("{kind} has no apiVersion"))),
    }
    out.push(Manifest { file: file.to_owned(), index: document, object: value });
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
