//! `ignoreDifferences`: parts of an object left out of the comparison.

use patch::fields::PathElement;
use patch::{Shape, TypeRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project::item_identity;

/// Fields to leave out of the comparison for matching resources, as in
/// Argo CD's `spec.ignoreDifferences` (field names match, in camelCase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IgnoreDifference {
    /// API group of the resource (empty for the core group, `*` for any).
    pub group: String,
    /// Kind of the resource (`*` for any).
    pub kind: String,
    /// Name of the resource; any when absent.
    pub name: Option<String>,
    /// Namespace of the resource; any when absent.
    pub namespace: Option<String>,
    /// RFC 6901 JSON pointers to fields removed from both sides.
    pub json_pointers: Vec<String>,
    /// Field managers whose fields (per the live object's managedFields)
    /// are removed from both sides.
    pub managed_fields_managers: Vec<String>,
}

impl IgnoreDifference {
    /// True when this rule applies to `object`.
    pub fn matches(&self, object: &Value) -> bool {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let meta = |field: &str| object.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or("");
        (self.group == "*" || self.group == group)
            && (self.kind == "*" || self.kind == kind)
            && self.name.as_deref().is_none_or(|n| n == meta("name"))
            && self.namespace.as_deref().is_none_or(|n| n == meta("namespace"))
    }
}

/// Removes the field at an RFC 6901 pointer, if present.
pub(crate) fn remove_pointer(value: &mut Value, pointer: &str) {
    if pointer.is_empty() {
        // The whole object cannot be ignored; Argo CD rejects it as well.
        return;
    }
    let Some(rest) = pointer.strip_prefix('/') else { return };
    let tokens: Vec<String> = rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect();
    let Some((last, parents)) = tokens.split_last() else { return };
    let mut node = value;
    for token in parents {
        let next = match node {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    match node {
        Value::Object(map) => {
            map.shift_remove(last);
        }
        Value::Array(items) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Removes the field at a managedFields path (and everything under it).
pub(crate) fn remove_path(value: &mut Value, path: &[PathElement], ty: Option<TypeRef<'_>>) {
    let Some((first, rest)) = path.split_first() else { return };
    match (value, first) {
        (Value::Object(map), PathElement::Field(name)) => {
            if rest.is_empty() {
                map.shift_remove(name);
            } else if let Some(child) = map.get_mut(name) {
                remove_path(child, rest, ty.and_then(|t| t.field(name)));
            }
        }
        (Value::Array(items), element) => {
            let list = ty.filter(|t| t.shape() == Shape::List);
            let item_ty = list.and_then(|t| t.items());
            let position = items.iter().position(|item| match (element, list) {
                (PathElement::Index(_), _) => false,
                (_, Some(list)) => item_identity(item, list).cmp(element).is_eq(),
                (PathElement::Value(v), None) => item == v,
                (PathElement::Key(keys), None) => keys.iter().all(|(k, v)| item.get(k) == Some(v)),
                (PathElement::Field(_), None) => false,
            });
            let position = match element {
                PathElement::Index(i) => Some(*i).filter(|i| *i < items.len()),
                _ => position,
            };
            let Some(i) = position else { return };
            if rest.is_empty() {
                items.remove(i);
            } else {
                remove_path(&mut items[i], rest, item_ty);
            }
        }
        _ => {}
    }
}
