//! Merging an applied configuration into a live object, and removing what a
//! manager stopped applying.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::TypeRef;
use crate::fields::{FieldSet, PathElement, Position, Strictness, classify, field_type, item_element};

/// The value at a position after applying `applied` over `live`; `None` when
/// the position ends up absent (an applied `null`).
///
/// The applied configuration has been validated (keys present, no
/// duplicates) before this is called.
pub(super) fn merge(live: Option<&Value>, applied: &Value, ty: Option<TypeRef<'_>>) -> Option<Value> {
    if applied.is_null() {
        return None;
    }
    match (classify(applied, ty), live) {
        (Position::Granular(t), live) => {
            let mut out = match live {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            for (name, value) in applied.as_object().into_iter().flatten() {
                match merge(out.get(name), value, field_type(t, name)) {
                    // Inserting an existing key keeps its place.
                    Some(v) => {
                        out.insert(name.clone(), v);
                    }
                    None => {
                        out.shift_remove(name);
                    }
                }
            }
            Some(Value::Object(out))
        }
        (Position::Items(list), Some(Value::Array(live_items))) => {
            let applied_items = applied.as_array().map(Vec::as_slice).unwrap_or_default();
            Some(Value::Array(merge_items(live_items, applied_items, list)))
        }
        _ => Some(applied.clone()),
    }
}

/// Merges two lists item by item. Items the applied list names come in its
/// order; live items it does not name keep their place among them.
fn merge_items(live: &[Value], applied: &[Value], list: TypeRef<'_>) -> Vec<Value> {
    let element = |item: &Value| item_element(item, list, Strictness::Lenient).ok();
    let applied_pes: Vec<Option<PathElement>> = applied.iter().map(element).collect();
    let mut applied_at: HashMap<String, usize> = HashMap::new();
    for (i, pe) in applied_pes.iter().enumerate() {
        if let Some(pe) = pe {
            applied_at.entry(pe.to_fields_v1_key()).or_insert(i);
        }
    }
    // The first live item of each identity is the one merged into.
    let mut live_first: HashMap<String, &Value> = HashMap::new();
    let live_keys: Vec<Option<String>> =
        live.iter().map(|item| element(item).map(|pe| pe.to_fields_v1_key())).collect();
    for (item, key) in live.iter().zip(&live_keys) {
        if let Some(key) = key {
            live_first.entry(key.clone()).or_insert(item);
        }
    }

    let items_ty = list.items();
    let emit = |out: &mut Vec<Value>, index: usize| {
        let counterpart = applied_pes[index].as_ref().and_then(|pe| live_first.get(&pe.to_fields_v1_key()).copied());
        if let Some(v) = merge(counterpart, &applied[index], items_ty) {
            out.push(v);
        }
    };
    let mut out = Vec::with_capacity(live.len().max(applied.len()));
    let mut next = 0;
    for (item, key) in live.iter().zip(&live_keys) {
        match key.as_ref().and_then(|k| applied_at.get(k)) {
            None => out.push(item.clone()),
            Some(&j) if j >= next => {
                for index in next..=j {
                    emit(&mut out, index);
                }
                next = j + 1;
            }
            // Already emitted in applied order (or a duplicate of one).
            Some(_) => {}
        }
    }
    for index in next..applied.len() {
        emit(&mut out, index);
    }
    out
}

/// Removes from `value` what the manager applied last time (`last`) and no
/// manager owns now (`owned`, which includes the new applied set).
///
/// A field is removed whole when nobody owns it or anything under it; a list
/// item is removed whole when nobody owns the item itself. So a container the
/// manager stops applying goes away with its defaulted fields, while a field
/// another manager set under a kept item stays.
pub(super) fn prune(value: &mut Value, ty: Option<TypeRef<'_>>, last: &FieldSet, owned: &FieldSet) {
    let empty = FieldSet::new();
    match (classify(value, ty), value) {
        (Position::Granular(t), Value::Object(map)) => {
            for (pe, _, last_children) in last.iter() {
                let PathElement::Field(name) = pe else { continue };
                if !owned.touches(pe) {
                    map.shift_remove(name);
                } else if let Some(child) = map.get_mut(name) {
                    let owned_children = owned.children(pe).unwrap_or(&empty);
                    prune(child, field_type(t, name), last_children, owned_children);
                }
            }
        }
        (Position::Items(list), Value::Array(items)) => {
            let items_ty = list.items();
            items.retain_mut(|item| {
                let Ok(pe) = item_element(item, list, Strictness::Lenient) else { return true };
                if last.has_member(&pe) && !owned.has_member(&pe) {
                    return false;
                }
                if let Some(last_children) = last.children(&pe) {
                    let owned_children = owned.children(&pe).unwrap_or(&empty);
                    prune(item, items_ty, last_children, owned_children);
                }
                true
            });
        }
        _ => {}
    }
}
