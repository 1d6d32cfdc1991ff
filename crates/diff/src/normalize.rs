//! Normalisation: the parts of an object that say nothing about what the
//! user asked for are removed, and equal values get one spelling.

use base64::Engine;
use patch::{ListType, Shape, TypeRef};
use serde_json::{Map, Value};

use crate::quantity;

/// Annotations written by clients for their own bookkeeping. The
/// last-applied configuration would also leak Secret values in plain text.
const BOOKKEEPING_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// What a scalar position holds, as far as comparing spellings goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    /// A resource quantity.
    Quantity,
    /// An int-or-string (ports, maxSurge).
    IntOrString,
    /// Anything else: compared as written.
    Plain,
}

/// Classifies a scalar position from its schema.
pub(crate) fn scalar_kind(ty: Option<TypeRef<'_>>) -> ScalarKind {
    let Some(ty) = ty else { return ScalarKind::Plain };
    let raw = ty.raw();
    let types_of = |alternatives: &Value| -> Vec<String> {
        alternatives
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|alt| match alt.get("type") {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    if raw.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        // CRD generators spell quantities as int-or-string with the quantity pattern.
        let pattern = raw.get("pattern").and_then(Value::as_str).unwrap_or("");
        return if pattern.contains("[KMGTPE]i") { ScalarKind::Quantity } else { ScalarKind::IntOrString };
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = raw.get(key) {
            let types = types_of(alternatives);
            if types.iter().any(|t| t == "number") {
                return ScalarKind::Quantity;
            }
            if types.iter().any(|t| t == "integer") && types.iter().any(|t| t == "string") {
                return ScalarKind::IntOrString;
            }
        }
    }
    ScalarKind::Plain
}

/// True for a core/v1 Secret.
pub(crate) fn is_secret(object: &Value) -> bool {
    object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Normalises `object` whose type is `ty` (see [`crate::normalize`]).
pub(crate) fn normalize_typed(object: &Value, ty: Option<TypeRef<'_>>) -> Value {
    let mut object = object.clone();
    if let Value::Object(map) = &mut object {
        // Status is the controllers' report, never part of what is desired.
        map.remove("status");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for field in patch::apply::SERVER_METADATA {
                meta.remove(field);
            }
            if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
                for name in BOOKKEEPING_ANNOTATIONS {
                    annotations.remove(name);
                }
            }
        }
    }
    if is_secret(&object) {
        fold_string_data(&mut object);
    }
    clean(&object, ty, Level::Root).unwrap_or_else(|| Value::Object(Map::new()))
}

/// The API server stores `stringData` base64-encoded into `data` (where it
/// wins over `data`) and never returns `stringData`; doing the same to the
/// desired side keeps a just-applied Secret Synced.
fn fold_string_data(secret: &mut Value) {
    let Value::Object(map) = secret else { return };
    let Some(Value::Object(string_data)) = map.remove("stringData") else { return };
    let data = map.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, value) in string_data {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            data.insert(key, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Nested,
}

/// Drops nulls and empty lists and maps (absent and empty mean the same to
/// the API server), canonicalises quantities and int-or-strings, and sorts
/// lists the schema calls sets. Empty structs (`emptyDir: {}`) are kept:
/// there, presence is the meaning.
fn clean(value: &Value, ty: Option<TypeRef<'_>>, level: Level) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                if let Some(child) = clean(child, ty.and_then(|t| t.field(key)), Level::Nested) {
                    out.insert(key.clone(), child);
                }
            }
            let is_struct = ty.is_some_and(|t| t.shape() == Shape::Object);
            if out.is_empty() && level == Level::Nested && !is_struct {
                return None;
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let item_ty = ty.and_then(|t| t.items());
            let mut out: Vec<Value> = items.iter().filter_map(|item| clean(item, item_ty, Level::Nested)).collect();
            if out.is_empty() {
                return None;
            }
            if ty.is_some_and(|t| t.shape() == Shape::List && t.list_type() == ListType::Set) {
                // Sets have no order; a stable one keeps the YAML diff quiet.
                out.sort_by_key(Value::to_string);
            }
            Some(Value::Array(out))
        }
        Value::String(text) => Some(match scalar_kind(ty) {
            ScalarKind::Quantity => Value::String(quantity::canonical(text).unwrap_or_else(|| text.clone())),
            ScalarKind::IntOrString => match text.parse::<i64>() {
                // Only plain digits: "+80" or "080" are names, not numbers.
                Ok(n) if n.to_string() == *text => Value::from(n),
                _ => value.clone(),
            },
            ScalarKind::Plain => value.clone(),
        }),
        Value::Number(n) => Some(match scalar_kind(ty) {
            ScalarKind::Quantity => {
                quantity::canonical(&n.to_string()).map(Value::String).unwrap_or_else(|| value.clone())
            }
            ScalarKind::IntOrString | ScalarKind::Plain => value.clone(),
        }),
        Value::Bool(_) => Some(value.clone()),
    }
}

/// Sorts object keys at every level, for stable YAML output.
pub(crate) fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}
