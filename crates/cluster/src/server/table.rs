//! `meta.k8s.io/v1` Table responses, which `kubectl get` asks for.

use serde_json::{Value, json};

use crate::registry::ResourceType;

/// A Table of `objects`. Rows carry the whole object with `include_object`,
/// otherwise its metadata (PartialObjectMetadata), as kubectl needs for
/// namespaces and labels columns.
pub fn table(rt: &ResourceType, objects: &[Value], resource_version: Option<u64>, include_object: bool) -> Value {
    let columns = crate::registry::table_column_definitions(rt);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = crate::registry::table_cells(rt, o);
            let object = if include_object {
                o.clone()
            } else {
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(Value::Null),
                })
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut meta = json!({});
    if let Some(rv) = resource_version {
        meta["resourceVersion"] = Value::String(rv.to_string());
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}
