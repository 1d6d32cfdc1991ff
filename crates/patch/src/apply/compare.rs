//! Which fields changed between two versions of an object.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::TypeRef;
use crate::fields::{FieldSet, PathElement, Position, Strictness, classify, field_type, item_element, presence};

/// The fields that differ between two objects.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Present in both, with different values.
    pub(super) modified: FieldSet,
    /// Present only in the new object.
    pub(super) added: FieldSet,
    /// Present only in the old object.
    pub(super) removed: FieldSet,
}

impl Comparison {
    /// Applies `f` to each of the three sets.
    pub(super) fn strip(&mut self, f: fn(&mut FieldSet)) {
        f(&mut self.modified);
        f(&mut self.added);
        f(&mut self.removed);
    }
}

/// Compares two whole objects.
pub(super) fn compare(old: &Value, new: &Value, ty: Option<TypeRef<'_>>) -> Comparison {
    let mut out = Comparison::default();
    let mut path = Vec::new();
    walk(&mut out, &mut path, Some(old), Some(new), ty, Item::No);
    out
}

/// Whether a position is a list item (whose presence is itself a field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Yes,
    No,
}

/// Everything `value` sets at `path`, including the item itself.
fn subtree(path: &[PathElement], value: &Value, ty: Option<TypeRef<'_>>, item: Item) -> FieldSet {
    let mut out = presence(path, value, ty);
    if item == Item::Yes {
        out.insert(path);
    }
    out
}

fn walk(
    out: &mut Comparison,
    path: &mut Vec<PathElement>,
    old: Option<&Value>,
    new: Option<&Value>,
    ty: Option<TypeRef<'_>>,
    item: Item,
) {
    // A null is as good as absent: typed API servers drop them.
    let (old, new) = (old.filter(|v| !v.is_null()), new.filter(|v| !v.is_null()));
    let (old, new) = match (old, new) {
        (None, None) => return,
        (None, Some(n)) => {
            out.added.extend(&subtree(path, n, ty, item));
            return;
        }
        (Some(o), None) => {
            out.removed.extend(&subtree(path, o, ty, item));
            return;
        }
        (Some(o), Some(n)) => (o, n),
    };
    match (classify(old, ty), classify(new, ty)) {
        (Position::Granular(t), Position::Granular(_)) => {
            let empty = Map::new();
            let o = old.as_object().unwrap_or(&empty);
            let n = new.as_object().unwrap_or(&empty);
            let names = o.keys().chain(n.keys().filter(|k| !o.contains_key(*k)));
            for name in names {
                path.push(PathElement::Field(name.clone()));
                walk(out, path, o.get(name), n.get(name), field_type(t, name), Item::No);
                path.pop();
            }
        }
        (Position::Items(list), Position::Items(_)) => {
            let olds = group(old, list);
            let news = group(new, list);
            let items_ty = list.items();
            let pes = olds.keys().chain(news.keys().filter(|k| !olds.contains_key(*k)));
            for pe in pes {
                let (o, n) = (olds.get(pe), news.get(pe));
                path.push(pe.clone());
                match (o.map(Vec::as_slice), n.map(Vec::as_slice)) {
                    (Some([o]), Some([n])) => walk(out, path, Some(o), Some(n), items_ty, Item::Yes),
                    (Some(o), None) => {
                        for v in o {
                            out.removed.extend(&subtree(path, v, items_ty, Item::Yes));
                        }
                    }
                    (None, Some(n)) => {
                        for v in n {
                            out.added.extend(&subtree(path, v, items_ty, Item::Yes));
                        }
                    }
                    // Duplicated identities are compared as one value.
                    (o, n) => {
                        if o != n {
                            out.modified.insert(path);
                        }
                    }
                }
                path.pop();
            }
        }
        (Position::Leaf, Position::Leaf) => {
            if old != new {
                out.modified.insert(path);
            }
        }
        // The value changed shape (for example an object replaced by a
        // string where no schema says which it is).
        _ => {
            if old != new {
                let before = subtree(path, old, ty, item);
                let after = subtree(path, new, ty, item);
                out.removed.extend(&before.difference(&after));
                out.added.extend(&after.difference(&before));
                out.modified.extend(&after.intersection(&before));
            }
        }
    }
}

/// The items of a list by identity, in first-seen order of identities kept
/// by the map's sort (order does not matter for a comparison).
fn group<'v>(list_value: &'v Value, list: TypeRef<'_>) -> BTreeMap<PathElement, Vec<&'v Value>> {
    let mut out: BTreeMap<PathElement, Vec<&'v Value>> = BTreeMap::new();
    for item in list_value.as_array().into_iter().flatten() {
        if let Ok(pe) = item_element(item, list, Strictness::Lenient) {
            out.entry(pe).or_default().push(item);
        }
    }
    out
}
