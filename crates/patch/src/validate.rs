//! Field validation: finding fields an object sets that its schema does not
//! declare (`fieldValidation=Strict|Warn`), and dropping them (what the API
//! server does to typed objects under `Ignore` and `Warn`).
//!
//! Paths are written the way Kubernetes' strict decoding names them:
//! `.spec.foo`, `.spec.template.spec.containers[0].bogus`. Objects that
//! accept unknown fields (maps, `x-kubernetes-preserve-unknown-fields`,
//! schema-less objects) contribute no unknown fields of their own, but their
//! declared children are still checked.

use serde_json::{Map, Value};

use crate::{Shape, TypeRef};

/// Fields every object root declares, whatever its schema says: a CRD's
/// `openAPIV3Schema` usually leaves them out.
const ROOT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The paths of the fields of `object` that `ty` does not declare, in
/// document order.
pub fn unknown_fields(object: &Value, ty: TypeRef<'_>) -> Vec<String> {
    let mut found = Vec::new();
    walk_root(object, ty, &mut |path| found.push(path.to_owned()));
    found
}

/// Removes from `object` every field [`unknown_fields`] reports.
pub fn strip_unknown_fields(object: &mut Value, ty: TypeRef<'_>) {
    strip(object, ty, Level::Root);
}

/// Where a map sits: at the root of an object (or of an embedded resource),
/// where `apiVersion`, `kind` and `metadata` are always declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Nested,
}

/// A value whose JSON type differs from what its schema declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// Path of the value, like `.spec.replicas`.
    pub path: String,
    /// The type the schema declares: `string`, `integer`, `number`, `boolean`, `object` or `array`.
    pub expected: String,
    /// The JSON type found.
    pub found: &'static str,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn declared_type(ty: TypeRef<'_>) -> Option<String> {
    let raw = ty.raw();
    if raw.get("x-kubernetes-int-or-string").is_some() || raw.get("oneOf").is_some() || raw.get("anyOf").is_some() {
        return None;
    }
    if raw.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
        && raw.get("type").is_none()
    {
        return None;
    }
    match raw.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").map(str::to_owned),
        _ => None,
    }
}

/// Values whose JSON type contradicts the schema (nulls are accepted: they
/// mean "unset"). Integer-valued numbers satisfy `number`; int-or-string
/// and quantities accept both.
pub fn type_errors(object: &Value, ty: TypeRef<'_>) -> Vec<TypeError> {
    let mut out = Vec::new();
    let mut path = String::new();
    check_types(object, ty, &mut path, &mut out, 0);
    out
}

fn check_types(value: &Value, ty: TypeRef<'_>, path: &mut String, out: &mut Vec<TypeError>, depth: usize) {
    if value.is_null() || depth > 64 {
        return;
    }
    let found = json_type(value);
    if let Some(expected) = declared_type(ty) {
        let ok = match expected.as_str() {
            "number" => found == "number" || found == "integer",
            "integer" => found == "integer" || value.as_f64().is_some_and(|f| f.fract() == 0.0 && f.is_finite()),
            other => other == found,
        };
        if !ok {
            out.push(TypeError { path: path.clone(), expected, found });
            return;
        }
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(field) = ty.field(k) {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    check_types(v, field, path, out, depth + 1);
                    path.truncate(len);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_ty) = ty.items() {
                for (i, v) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    check_types(v, item_ty, path, out, depth + 1);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

fn level_of(ty: TypeRef<'_>) -> Level {
    // An embedded resource (`x-kubernetes-embedded-resource`) is a whole
    // object of its own.
    if ty.raw().get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true) {
        Level::Root
    } else {
        Level::Nested
    }
}

/// What to do with one field of an object.
enum Field<'a> {
    /// Declared: check its value against this type.
    Typed(TypeRef<'a>),
    /// Declared without a usable schema, or allowed by the container.
    Allowed,
    /// Not declared.
    Unknown,
}

fn classify<'a>(ty: TypeRef<'a>, name: &str, level: Level) -> Field<'a> {
    match ty.field(name) {
        Some(child) => Field::Typed(child),
        None if level == Level::Root && ROOT_FIELDS.contains(&name) => Field::Allowed,
        None if ty.accepts_unknown_fields() => Field::Allowed,
        None => Field::Unknown,
    }
}

fn is_not_object(ty: TypeRef<'_>) -> bool {
    matches!(ty.shape(), Shape::Scalar | Shape::List)
}

fn walk_root(object: &Value, ty: TypeRef<'_>, report: &mut dyn FnMut(&str)) {
    let mut path = String::new();
    walk(object, ty, Level::Root, &mut path, report);
}

fn walk(value: &Value, ty: TypeRef<'_>, level: Level, path: &mut String, report: &mut dyn FnMut(&str)) {
    match value {
        // An object where the schema wants a scalar or a list is a type
        // error, reported elsewhere; its fields are not "unknown".
        Value::Object(_) if is_not_object(ty) => {}
        Value::Object(map) => {
            for (name, child) in map {
                let len = path.len();
                path.push('.');
                path.push_str(name);
                match classify(ty, name, level) {
                    Field::Typed(child_ty) => walk(child, child_ty, level_of(child_ty), path, report),
                    Field::Allowed => {}
                    Field::Unknown => report(path),
                }
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            let Some(item_ty) = ty.items() else { return };
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, item_ty, level_of(item_ty), path, report);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn strip(value: &mut Value, ty: TypeRef<'_>, level: Level) {
    match value {
        Value::Object(_) if is_not_object(ty) => {}
        Value::Object(map) => strip_map(map, ty, level),
        Value::Array(items) => {
            let Some(item_ty) = ty.items() else { return };
            for item in items {
                strip(item, item_ty, level_of(item_ty));
            }
        }
        _ => {}
    }
}

fn strip_map(map: &mut Map<String, Value>, ty: TypeRef<'_>, level: Level) {
    // `retain` keeps the remaining fields in their order.
    map.retain(|name, child| match classify(ty, name, level) {
        Field::Typed(child_ty) => {
            strip(child, child_ty, level_of(child_ty));
            true
        }
        Field::Allowed => true,
        Field::Unknown => false,
    });
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod type_tests {
    use serde_json::json;

    use super::type_errors;
    use crate::{Gvk, Schema};

    #[test]
    fn wrong_types_are_reported_with_paths() {
        let cm = Schema::builtin().root(&Gvk::new("", "v1", "ConfigMap")).expect("configmap");
        let errors = type_errors(&json!({"metadata": {"name": "x", "labels": {"a": 1}}, "data": [1]}), cm);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec![".metadata.labels.a", ".data"]);
        assert_eq!(errors[1].expected, "object");
        assert_eq!(errors[1].found, "array");
    }

    #[test]
    fn int_or_string_and_nulls_pass() {
        let svc = Schema::builtin().root(&Gvk::new("", "v1", "Service")).expect("service");
        let ok = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81.0, "targetPort": 8080}], "type": null}});
        assert!(type_errors(&ok, svc).is_empty());
        let bad = json!({"spec": {"ports": [{"port": "eighty"}]}});
        assert_eq!(type_errors(&bad, svc)[0].path, ".spec.ports[0].port");
    }

    #[test]
    fn crd_schema_types() {
        let schema = Schema::from_crd(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}),
        );
        let root = schema.crd_root().expect("root");
        let errors = type_errors(&json!({"spec": {"size": "big"}}), root);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].expected, "integer");
        assert_eq!(errors[0].found, "string");
    }
}
