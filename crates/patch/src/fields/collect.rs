//! How a position of an object is tracked (field by field, item by item, or
//! as one leaf), and the field set an object value sets.

use serde_json::{Map, Value};

use super::{FieldSet, PathElement, path_string};
use crate::{ListType, MapType, Shape, TypeRef};

/// How strictly list items are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// An applied configuration: an item missing a key, or two items with
    /// the same identity, is an error.
    Strict,
    /// A stored object: best effort (missing keys are left out of the item's
    /// identity; duplicates share one identity).
    Lenient,
}

/// How a position is tracked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Position<'a> {
    /// An object whose fields are tracked one by one; the type of the object
    /// (for the fields' types), if known.
    Granular(Option<TypeRef<'a>>),
    /// A list whose items are tracked one by one (`map` or `set` lists).
    Items(TypeRef<'a>),
    /// One value, owned as a whole: scalars, atomic lists and maps.
    Leaf,
}

/// Classifies `value` at a position of type `ty`. Without a type, objects are
/// granular and everything else is a leaf (lists are atomic), as Kubernetes
/// does for fields its schema does not describe.
pub(crate) fn classify<'a>(value: &Value, ty: Option<TypeRef<'a>>) -> Position<'a> {
    let Some(t) = ty else {
        return if value.is_object() { Position::Granular(None) } else { Position::Leaf };
    };
    match t.shape() {
        Shape::Object | Shape::Map | Shape::Any => {
            if t.map_type() == MapType::Atomic {
                Position::Leaf
            } else if value.is_object() || value.is_null() {
                Position::Granular(Some(t))
            } else {
                Position::Leaf
            }
        }
        Shape::List => match t.list_type() {
            ListType::Atomic => Position::Leaf,
            ListType::Set | ListType::Map { .. } if value.is_array() || value.is_null() => Position::Items(t),
            ListType::Set | ListType::Map { .. } => Position::Leaf,
        },
        Shape::Scalar => Position::Leaf,
    }
}

/// The type of field `name` of an object of type `ty`.
pub(crate) fn field_type<'a>(ty: Option<TypeRef<'a>>, name: &str) -> Option<TypeRef<'a>> {
    ty.and_then(|t| t.field(name))
}

/// The identity of an item of list type `list`: its key fields for a `map`
/// list, its value for a `set`.
pub(crate) fn item_element(item: &Value, list: TypeRef<'_>, strictness: Strictness) -> Result<PathElement, String> {
    let keys = match list.list_type() {
        ListType::Map { keys } => keys,
        ListType::Set | ListType::Atomic => return Ok(PathElement::Value(item.clone())),
    };
    let Value::Object(obj) = item else {
        return match strictness {
            Strictness::Strict => Err(format!("expected an object with key fields {keys:?}, got {item}")),
            Strictness::Lenient => Ok(PathElement::Value(item.clone())),
        };
    };
    let items = list.items();
    let mut key = Map::new();
    for name in &keys {
        match obj.get(name) {
            Some(v) if !v.is_null() => {
                key.insert(name.clone(), v.clone());
            }
            _ => match key_default(items, name, &keys) {
                Some(default) => {
                    key.insert(name.clone(), default);
                }
                None if strictness == Strictness::Strict => {
                    return Err(format!(
                        "associative list with keys has an element that omits key field {name:?} (and doesn't have default value)"
                    ));
                }
                None => {}
            },
        }
    }
    // Keys are kept in name order: see `sorted_map`.
    Ok(PathElement::Key(super::sorted_map(&key)))
}

/// The value a missing key field takes. The schema's `default` wins; the
/// vendored built-in definitions carry no defaults, so the one Kubernetes
/// relies on for built-in list keys (`protocol` of container and service
/// ports, defaulted to TCP) is known here.
fn key_default(items: Option<TypeRef<'_>>, name: &str, keys: &[String]) -> Option<Value> {
    if let Some(default) = items.and_then(|i| i.field(name)).and_then(|f| f.raw().get("default")) {
        return Some(default.clone());
    }
    let port_list = keys.iter().any(|k| k == "containerPort" || k == "port");
    (name == "protocol" && port_list).then(|| Value::String("TCP".into()))
}

/// What a collection records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    /// The fields a configuration sets: leaves and list items.
    Leaves,
    /// Everything present, as a write that creates it owns it: also maps and
    /// lists themselves, and empty structs.
    Presence,
}

/// The field set `value` sets, relative to its own position.
pub(crate) fn collect(value: &Value, ty: Option<TypeRef<'_>>, strictness: Strictness) -> Result<FieldSet, String> {
    let mut path = Vec::new();
    let mut out = FieldSet::new();
    collect_at(value, ty, strictness, Track::Leaves, &mut path, &mut out)?;
    Ok(out)
}

/// Everything a write that makes `value` appear at `path` comes to own:
/// its leaves and list items, plus each map and list that appears with it
/// (the `.` Kubernetes records for them in `Update` entries) and empty
/// structs. Structs with content are not marked: a typed API server sees
/// most of them as always present (they are not pointers in Go).
pub(crate) fn presence(path: &[PathElement], value: &Value, ty: Option<TypeRef<'_>>) -> FieldSet {
    let mut path = path.to_vec();
    let mut out = FieldSet::new();
    // Lenient collection cannot fail.
    let _ = collect_at(value, ty, Strictness::Lenient, Track::Presence, &mut path, &mut out);
    out
}

/// Adds to `out` what `value` (at `path`) sets. At the root, nothing is
/// marked: the object itself is never a member.
fn collect_at(
    value: &Value,
    ty: Option<TypeRef<'_>>,
    strictness: Strictness,
    track: Track,
    path: &mut Vec<PathElement>,
    out: &mut FieldSet,
) -> Result<(), String> {
    if track == Track::Presence && value.is_null() {
        return Ok(());
    }
    match classify(value, ty) {
        Position::Leaf => out.insert(path),
        Position::Granular(t) => {
            if track == Track::Presence {
                let is_map = t.is_none_or(|t| t.shape() != Shape::Object);
                let is_empty = value.as_object().is_none_or(|o| o.values().all(Value::is_null));
                if is_map || is_empty {
                    out.insert(path);
                }
            }
            for (name, child) in value.as_object().into_iter().flatten() {
                path.push(PathElement::Field(name.clone()));
                collect_at(child, field_type(t, name), strictness, track, path, out)?;
                path.pop();
            }
        }
        Position::Items(list) => {
            if track == Track::Presence {
                out.insert(path);
            }
            let mut seen = FieldSet::new();
            for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                let pe = item_element(item, list, strictness)
                    .map_err(|reason| format!("{}: element {index}: {reason}", path_string(path)))?;
                path.push(pe);
                if strictness == Strictness::Strict && seen.contains(&path[path.len() - 1..]) {
                    let key = path_string(&path[path.len() - 1..]);
                    path.pop();
                    return Err(format!("{}: duplicate entries for key {key}", path_string(path)));
                }
                seen.insert(&path[path.len() - 1..]);
                out.insert(path);
                collect_at(item, list.items(), strictness, track, path, out)?;
                path.pop();
            }
        }
    }
    Ok(())
}
