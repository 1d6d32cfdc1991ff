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
