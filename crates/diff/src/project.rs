//! Projecting the live object onto the fields that matter for comparison:
//! those desired sets, plus those ferry applied before and desired dropped
//! (an apply would remove them). Everything else in live was defaulted by
//! the server or set by another manager, and is not a difference.

use std::cmp::Ordering;

use patch::fields::{FieldSet, PathElement};
use patch::{ListType, MapType, Shape, TypeRef};
use serde_json::{Map, Value};

use crate::normalize::{ScalarKind, scalar_kind};
use crate::quantity;

/// How a position compares.
enum Position<'a> {
    /// An object compared field by field.
    Granular,
    /// A list whose items are matched by identity (map or set lists).
    Items(TypeRef<'a>),
    /// One value compared whole.
    Leaf,
}

fn classify<'a>(value: &Value, ty: Option<TypeRef<'a>>) -> Position<'a> {
    let Some(t) = ty else {
        return if value.is_object() { Position::Granular } else { Position::Leaf };
    };
    match t.shape() {
        Shape::Object | Shape::Map | Shape::Any if value.is_object() && t.map_type() == MapType::Granular => {
            Position::Granular
        }
        Shape::List if value.is_array() && t.list_type() != ListType::Atomic => Position::Items(t),
        _ => Position::Leaf,
    }
}

/// The identity of an item of `list`: its key fields, or its value for a set.
pub(crate) fn item_identity(item: &Value, list: TypeRef<'_>) -> PathElement {
    let ListType::Map { keys } = list.list_type() else { return PathElement::Value(item.clone()) };
    let Value::Object(obj) = item else { return PathElement::Value(item.clone()) };
    let mut identity = Map::new();
    for key in keys {
        match obj.get(&key) {
            Some(v) if !v.is_null() => {
                identity.insert(key, v.clone());
            }
            // The API server defaults the protocol of ports, which is part
            // of their key; an item without one is the TCP item.
            _ if key == "protocol" => {
                identity.insert(key, Value::String("TCP".into()));
            }
            _ => {}
        }
    }
    PathElement::Key(identity)
}

fn same(a: &PathElement, b: &PathElement) -> bool {
    a.cmp(b) == Ordering::Equal
}

/// The part of `live` to compare with `desired` (both normalised), given
/// the fields `owned` by ferry's previous apply at this position.
pub(crate) fn project(desired: &Value, live: &Value, ty: Option<TypeRef<'_>>, owned: Option<&FieldSet>) -> Value {
    match (desired, live, classify(desired, ty)) {
        (Value::Object(want), Value::Object(have), Position::Granular) => {
            let mut out = Map::new();
            for (key, d) in want {
                if let Some(l) = have.get(key) {
                    let element = PathElement::Field(key.clone());
                    let child_owned = owned.and_then(|o| o.children(&element));
                    out.insert(key.clone(), project(d, l, ty.and_then(|t| t.field(key)), child_owned));
                }
            }
            for (key, l) in have {
                if want.contains_key(key) {
                    continue;
                }
                if let Some(v) = owned_part(l, ty.and_then(|t| t.field(key)), owned, &PathElement::Field(key.clone())) {
                    out.insert(key.clone(), v);
                }
            }
            Value::Object(out)
        }
        (Value::Array(want), Value::Array(have), Position::Items(list)) => {
            let item_ty = list.items();
            let have_ids: Vec<PathElement> = have.iter().map(|l| item_identity(l, list)).collect();
            let mut used = vec![false; have.len()];
            let mut out = Vec::new();
            // Items come out in desired's order: the API server keeps the
            // order it first saw, so order alone can never be synced away.
            for d in want {
                let id = item_identity(d, list);
                let found = have_ids.iter().enumerate().find(|(i, h)| !used[*i] && same(h, &id)).map(|(i, _)| i);
                if let Some(i) = found {
                    used[i] = true;
                    let child_owned = owned.and_then(|o| o.children(&id));
                    out.push(project(d, &have[i], item_ty, child_owned));
                }
            }
            for (i, l) in have.iter().enumerate() {
                if !used[i]
                    && let Some(v) = owned_part(l, item_ty, owned, &have_ids[i])
                {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        (Value::String(d), Value::String(l), Position::Leaf)
            if scalar_kind(ty) == ScalarKind::Quantity
                && quantity::parse(d).is_some()
                && quantity::parse(d) == quantity::parse(l) =>
        {
            // Equal amounts in different families ("1Gi", "1073741824").
            desired.clone()
        }
        _ => live.clone(),
    }
}

/// The part of a live value at `element` that ferry owns, when desired no
/// longer sets it.
fn owned_part(live: &Value, ty: Option<TypeRef<'_>>, owned: Option<&FieldSet>, element: &PathElement) -> Option<Value> {
    let owned = owned?;
    if owned.has_member(element) {
        return Some(live.clone());
    }
    let children = owned.children(element).filter(|c| !c.is_empty())?;
    owned_only(live, ty, children)
}

fn owned_only(live: &Value, ty: Option<TypeRef<'_>>, owned: &FieldSet) -> Option<Value> {
    match (live, classify(live, ty)) {
        (Value::Object(have), Position::Granular) => {
            let out: Map<String, Value> = have
                .iter()
                .filter_map(|(key, l)| {
                    owned_part(l, ty.and_then(|t| t.field(key)), Some(owned), &PathElement::Field(key.clone()))
                        .map(|v| (key.clone(), v))
                })
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (Value::Array(have), Position::Items(list)) => {
            let out: Vec<Value> =
                have.iter().filter_map(|l| owned_part(l, list.items(), Some(owned), &item_identity(l, list))).collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(live.clone()),
    }
}
