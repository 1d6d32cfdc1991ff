//! Strategic merge patch, as the Kubernetes API server applies it to
//! built-in kinds (`application/strategic-merge-patch+json`).
//!
//! Lists whose schema names a merge key merge element-wise by that key;
//! lists with strategy `merge` and scalar items merge as sets; other lists
//! are replaced. Directives: `$patch: replace|merge|delete`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`,
//! `$retainKeys`.
//!
//! Deliberate differences from the Kubernetes implementation, all on inputs
//! that kubectl never produces:
//! - `$patch: delete` on a nested map removes the field (Kubernetes leaves an
//!   empty map, which its typed decoding then mostly drops);
//! - `$patch: merge` is accepted as the explicit default (Kubernetes rejects
//!   it);
//! - values added where the original had nothing are cleaned like merged
//!   ones: their nulls are dropped and their directives applied, so no
//!   directive ever reaches the result;
//! - `$deleteFromPrimitiveList` removes values whatever the list's strategy,
//!   and an original element lacking the merge key is kept rather than
//!   failing the patch.

mod order;

use serde_json::{Map, Value};

use crate::TypeRef;

/// A strategic merge patch that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum StrategicError {
    /// The patch is not well formed (for example a directive with a bad value).
    #[error("invalid strategic merge patch: {0}")]
    Invalid(String),
}

const PATCH_KEY: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies `patch` to `original`. `ty` is the schema of the whole object;
/// with `None` (no schema), lists are replaced, as in a JSON merge patch,
/// but directives are still honoured.
pub fn strategic_merge(original: &Value, patch: &Value, ty: Option<TypeRef<'_>>) -> Result<Value, StrategicError> {
    let Value::Object(patch) = patch else {
        return Err(invalid("", "the patch must be a JSON object"));
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        // Nothing to merge into: the patch builds the object from scratch.
        _ => Map::new(),
    };
    let merged = merge_map(original, patch, ty, "")?;
    // `$patch: delete` at the root leaves nothing, as in Kubernetes.
    Ok(Value::Object(merged.unwrap_or_default()))
}

fn invalid(path: &str, message: impl std::fmt::Display) -> StrategicError {
    let at = if path.is_empty() { "." } else { path };
    StrategicError::Invalid(format!("{at}: {message}"))
}

/// The value of a `$patch` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Replace,
    Delete,
    Merge,
}

fn directive(map: &Map<String, Value>, path: &str) -> Result<Option<Directive>, StrategicError> {
    match map.get(PATCH_KEY) {
        None => Ok(None),
        Some(Value::String(s)) if s == "replace" => Ok(Some(Directive::Replace)),
        Some(Value::String(s)) if s == "delete" => Ok(Some(Directive::Delete)),
        Some(Value::String(s)) if s == "merge" => Ok(Some(Directive::Merge)),
        Some(other) => {
            Err(invalid(path, format!("unknown $patch directive {other} (expected replace, merge or delete)")))
        }
    }
}

/// What the schema says about one field: its type and how it merges.
#[derive(Debug, Clone, Default)]
struct FieldMeta<'a> {
    ty: Option<TypeRef<'a>>,
    merge_key: Option<String>,
    merge: bool,
    replace: bool,
}

impl<'a> FieldMeta<'a> {
    fn of(parent: Option<TypeRef<'a>>, name: &str) -> FieldMeta<'a> {
        let Some(parent) = parent else { return FieldMeta::default() };
        let Some(ty) = parent.field(name) else { return FieldMeta::default() };
        let strategy = ty.patch_strategy();
        let mut meta =
            FieldMeta { ty: Some(ty), merge_key: strategy.merge_key, merge: strategy.merge, replace: strategy.replace };
        // The OpenAPI documents put the strategy beside a `$ref` for fields of
        // a named type (for example a PodDisruptionBudget's `selector`, which
        // is replaced); resolving the reference loses it, so read the
        // unresolved property too.
        let property = parent.raw().get("properties").and_then(|p| p.get(name));
        if let Some(s) = property.and_then(|p| p.get("x-kubernetes-patch-strategy")).and_then(Value::as_str) {
            let parts: Vec<&str> = s.split(',').map(str::trim).collect();
            meta.merge |= parts.contains(&"merge");
            meta.replace |= parts.contains(&"replace");
        }
        meta
    }

    fn items(&self) -> Option<TypeRef<'a>> {
        self.ty.and_then(|t| t.items())
    }
}

/// Merges a map patch into `original`. `None` means the map is deleted.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Option<TypeRef<'_>>,
    path: &str,
) -> Result<Option<Map<String, Value>>, StrategicError> {
    match directive(patch, path)? {
        Some(Directive::Delete) => return Ok(None),
        Some(Directive::Replace) => {
            let rest: Map<String, Value> =
                patch.iter().filter(|(k, _)| *k != PATCH_KEY).map(|(k, v)| (k.clone(), v.clone())).collect();
            return merge_map(Map::new(), &rest, ty, path);
        }
        Some(Directive::Merge) | None => {}
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        retain_keys(&mut original, patch, retain, path)?;
    }

    // Directive keys naming a sibling list field.
    let mut set_order: Vec<(&str, &[Value])> = Vec::new();
    let mut delete_from: Vec<(&str, &[Value])> = Vec::new();
    for (key, value) in patch {
        if let Some(field) = list_directive(key, SET_ELEMENT_ORDER, path)? {
            let Value::Array(order) = value else {
                return Err(invalid(path, format!("{key} must be a list")));
            };
            set_order.push((field, order));
        } else if let Some(field) = list_directive(key, DELETE_FROM_PRIMITIVE_LIST, path)? {
            let Value::Array(values) = value else {
                return Err(invalid(path, format!("{key} must be a list")));
            };
            delete_from.push((field, values));
        }
    }

    // Removals first, so values the patch lists again are added back.
    for (field, values) in &delete_from {
        if let Some(Value::Array(list)) = original.get_mut(*field) {
            list.retain(|v| !values.iter().any(|d| order::same(v, d)));
        }
    }

    for (key, patch_value) in patch {
        if is_directive_key(key) {
            continue;
        }
        let child_path = format!("{path}.{key}");
        if patch_value.is_null() {
            original.shift_remove(key);
            continue;
        }
        let meta = FieldMeta::of(ty, key);
        let order = set_order.iter().find(|(f, _)| f == key).map(|(_, o)| *o);
        let current = original.get_mut(key).map(Value::take);
        match merge_value(current, patch_value, &meta, order, &child_path)? {
            Some(v) => {
                original.insert(key.clone(), v);
            }
            None => {
                original.shift_remove(key);
            }
        }
    }

    // `$setElementOrder` for a list the patch does not otherwise touch:
    // only the order changes.
    for (field, order) in &set_order {
        if patch.contains_key(*field) {
            continue;
        }
        let meta = FieldMeta::of(ty, field);
        if let Some(Value::Array(list)) = original.get_mut(*field) {
            let child_path = format!("{path}.{field}");
            let items = std::mem::take(list);
            *list = reorder_only(items, order, &meta, &child_path)?;
        }
    }

    Ok(Some(original))
}

fn is_directive_key(key: &str) -> bool {
    key == PATCH_KEY
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// For `$prefix/<field>`, the field; an error when the prefix is there but
/// malformed (no slash, or no field name).
fn list_directive<'k>(key: &'k str, prefix: &str, path: &str) -> Result<Option<&'k str>, StrategicError> {
    let Some(rest) = key.strip_prefix(prefix) else { return Ok(None) };
    match rest.strip_prefix('/') {
        Some(field) if !field.is_empty() => Ok(Some(field)),
        _ => Err(invalid(path, format!("malformed directive {key:?} (expected {prefix}/<field>)"))),
    }
}

fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &str,
) -> Result<(), StrategicError> {
    let keys: Vec<&str> = match retain {
        Value::Array(items) => items.iter().map(Value::as_str).collect::<Option<_>>(),
        _ => None,
    }
    .ok_or_else(|| invalid(path, "$retainKeys must be a list of field names"))?;
    // A patch that sets a field it does not retain contradicts itself.
    for (key, value) in patch {
        if !value.is_null() && !is_directive_key(key) && !keys.contains(&key.as_str()) {
            return Err(invalid(path, format!("field {key:?} is set but not listed in $retainKeys")));
        }
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

/// Merges one field's patch value into its current value (absent when the
/// original lacks the field). `None` means the field is removed.
fn merge_value(
    current: Option<Value>,
    patch: &Value,
    meta: &FieldMeta<'_>,
    order: Option<&[Value]>,
    path: &str,
) -> Result<Option<Value>, StrategicError> {
    match patch {
        Value::Object(p) => {
            let base = match current {
                // A field with strategy `replace` takes the patch as a whole.
                Some(Value::Object(m)) if !meta.replace => m,
                _ => Map::new(),
            };
            Ok(merge_map(base, p, meta.ty, path)?.map(Value::Object))
        }
        Value::Array(p) => {
            let base = match current {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            merge_list(base, p, meta, order, path).map(|l| Some(Value::Array(l)))
        }
        scalar => Ok(Some(scalar.clone())),
    }
}

/// A patch list split into its directive elements and the others.
struct ListPatch<'p> {
    replace: bool,
    deletions: Vec<&'p Map<String, Value>>,
    items: Vec<&'p Value>,
}

fn split_list_patch<'p>(patch: &'p [Value], path: &str) -> Result<ListPatch<'p>, StrategicError> {
    let mut split = ListPatch { replace: false, deletions: Vec::new(), items: Vec::new() };
    for (i, element) in patch.iter().enumerate() {
        let Value::Object(m) = element else {
            split.items.push(element);
            continue;
        };
        match directive(m, &format!("{path}[{i}]"))? {
            Some(Directive::Replace) => split.replace = true,
            Some(Directive::Delete) => split.deletions.push(m),
            // An element with `$patch: merge` is an ordinary element.
            Some(Directive::Merge) | None => split.items.push(element),
        }
    }
    Ok(split)
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    meta: &FieldMeta<'_>,
    order: Option<&[Value]>,
    path: &str,
) -> Result<Vec<Value>, StrategicError> {
    let split = split_list_patch(patch, path)?;
    let items_ty = meta.items();
    let objects = split.items.iter().filter(|v| v.is_object()).count();
    if objects != 0 && objects != split.items.len() {
        return Err(invalid(path, "a list patch cannot mix objects and scalars"));
    }

    if split.replace || !meta.merge {
        if !split.deletions.is_empty() && !split.replace {
            return Err(invalid(
                path,
                "$patch: delete needs a list merged by a key, and this list is replaced as a whole",
            ));
        }
        return split.items.iter().enumerate().map(|(i, v)| clean(v, items_ty, &format!("{path}[{i}]"))).collect();
    }

    // The elements tell scalars from objects when the patch has none.
    let object_list = objects > 0 || (split.items.is_empty() && original.iter().any(Value::is_object));
    match (&meta.merge_key, object_list) {
        (Some(key), true) => merge_keyed_list(original, &split, key, items_ty, order, path),
        (None, true) => {
            if !split.deletions.is_empty() {
                return Err(invalid(path, "$patch: delete needs a list merged by a key, and this list has none"));
            }
            // Kubernetes refuses to merge objects without a key; replacing is
            // the closest safe reading.
            split.items.iter().enumerate().map(|(i, v)| clean(v, items_ty, &format!("{path}[{i}]"))).collect()
        }
        (_, false) => {
            if !split.deletions.is_empty() {
                return Err(invalid(
                    path,
                    "$patch: delete cannot apply to a list of scalars (use $deleteFromPrimitiveList)",
                ));
            }
            merge_scalar_set(original, &split.items, order, path)
        }
    }
}

fn merge_keyed_list(
    mut merged: Vec<Value>,
    split: &ListPatch<'_>,
    key: &str,
    items_ty: Option<TypeRef<'_>>,
    order: Option<&[Value]>,
    path: &str,
) -> Result<Vec<Value>, StrategicError> {
    for deletion in &split.deletions {
        let id = deletion
            .get(key)
            .ok_or_else(|| invalid(path, format!("an element with $patch: delete has no merge key {key:?}")))?;
        merged.retain(|e| !e.get(key).is_some_and(|v| order::same(v, id)));
    }
    let server_len = merged.len();
    for (i, item) in split.items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Value::Object(item) = item else { continue };
        let id = item.get(key).ok_or_else(|| invalid(&item_path, format!("element has no merge key {key:?}")))?;
        let found = merged.iter_mut().find(|e| e.get(key).is_some_and(|v| order::same(v, id)));
        match found {
            Some(existing) => {
                let base = match existing.take() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                // Only `$patch: delete` yields None, and such elements were split off.
                *existing = Value::Object(merge_map(base, item, items_ty, &item_path)?.unwrap_or_default());
            }
            None => {
                if let Some(m) = merge_map(Map::new(), item, items_ty, &item_path)? {
                    merged.push(Value::Object(m));
                }
            }
        }
    }
    let patch_order: Vec<&Value> = match order {
        Some(o) => {
            order::check_set_order(&split.items, o, Some(key), path)?;
            o.iter().collect()
        }
        None => split.items.clone(),
    };
    Ok(order::arrange(merged, server_len, &patch_order, Some(key)))
}

fn merge_scalar_set(
    original: Vec<Value>,
    items: &[&Value],
    order: Option<&[Value]>,
    path: &str,
) -> Result<Vec<Value>, StrategicError> {
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + items.len());
    let push_new = |merged: &mut Vec<Value>, v: Value| {
        if !merged.iter().any(|m| order::same(m, &v)) {
            merged.push(v);
        }
    };
    for v in original {
        push_new(&mut merged, v);
    }
    let server_len = merged.len();
    for v in items {
        push_new(&mut merged, (*v).clone());
    }
    let patch_order: Vec<&Value> = match order {
        Some(o) => {
            order::check_set_order(items, o, None, path)?;
            o.iter().collect()
        }
        None => items.to_vec(),
    };
    Ok(order::arrange(merged, server_len, &patch_order, None))
}

/// Applies a `$setElementOrder` to a list the patch leaves alone otherwise.
fn reorder_only(
    items: Vec<Value>,
    order: &[Value],
    meta: &FieldMeta<'_>,
    path: &str,
) -> Result<Vec<Value>, StrategicError> {
    if !meta.merge {
        return Ok(items);
    }
    let key = if items.iter().any(Value::is_object) { meta.merge_key.as_deref() } else { None };
    order::check_set_order(&[], order, key, path)?;
    let server_len = items.len();
    Ok(order::arrange(items, server_len, &order.iter().collect::<Vec<_>>(), key))
}

/// A patch value written where the original has nothing: merged into an
/// empty value, so its nulls and directives do not reach the result.
fn clean(value: &Value, ty: Option<TypeRef<'_>>, path: &str) -> Result<Value, StrategicError> {
    let meta = FieldMeta { ty, ..FieldMeta::default() };
    match value {
        Value::Object(_) | Value::Array(_) => {
            Ok(merge_value(None, value, &meta, None, path)?.unwrap_or(Value::Object(Map::new())))
        }
        scalar => Ok(scalar.clone()),
    }
}

#[cfg(test)]
mod tests;
