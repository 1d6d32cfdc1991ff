//! Field sets in the `FieldsV1` format of `metadata.managedFields`.
//!
//! A field set is a trie of path elements: `f:<name>` for a field,
//! `k:<json object>` for an item of an associative list (by its keys),
//! `v:<json value>` for an item of a set, `i:<index>` for an atomic-list
//! position (rare), and `.` for "this node itself is owned".
//!
//! A node of the trie can be a *member* (the path itself is in the set), have
//! *children*, or both. `{"f:a":{}}` makes `.a` a member; `{"f:a":{"f:b":{}}}`
//! makes only `.a.b` a member; `{"f:a":{".":{},"f:b":{}}}` makes both members.

mod collect;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::TypeRef;

pub(crate) use collect::{Position, Strictness, classify, collect, field_type, item_element, presence};

/// One step of a path into an object.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A field of an object (or a key of a map).
    Field(String),
    /// An item of an associative list, by the values of its key fields.
    Key(Map<String, Value>),
    /// An item of a set, by its (scalar) value.
    Value(Value),
    /// A position in a list.
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The key of this element in the `FieldsV1` format (`f:name`, `k:{...}`,
    /// `v:value`, `i:index`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(keys) => format!("k:{}", Value::Object(sorted_map(keys))),
            PathElement::Value(value) => format!("v:{value}"),
            PathElement::Index(index) => format!("i:{index}"),
        }
    }

    /// Parses a `FieldsV1` key (`f:name`, `k:{...}`, `v:value`, `i:index`).
    pub fn from_fields_v1_key(key: &str) -> Option<PathElement> {
        let (kind, rest) = key.split_at_checked(2)?;
        match kind {
            "f:" => Some(PathElement::Field(rest.to_owned())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(keys) => Some(PathElement::Key(sorted_map(&keys))),
                _ => None,
            },
            "v:" => serde_json::from_str(rest).ok().map(PathElement::Value),
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

/// Key fields are compared and written in name order, whatever order the
/// object had, so that two spellings of one item are one element.
fn sorted_map(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A total order over JSON values: by kind (null, bool, number, string,
/// list, object), then by value; numbers numerically.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            // Ties (and NaN-free equal floats of different spelling, like 1
            // and 1.0) fall back to the text, keeping the order total.
            fx.partial_cmp(&fy).unwrap_or(Ordering::Equal).then_with(|| x.to_string().cmp(&y.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare_values(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

fn compare_maps(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    let mut xs: Vec<(&String, &Value)> = x.iter().collect();
    let mut ys: Vec<(&String, &Value)> = y.iter().collect();
    xs.sort_by(|a, b| a.0.cmp(b.0));
    ys.sort_by(|a, b| a.0.cmp(b.0));
    for ((kx, vx), (ky, vy)) in xs.iter().zip(&ys) {
        let o = kx.cmp(ky).then_with(|| compare_values(vx, vy));
        if o != Ordering::Equal {
            return o;
        }
    }
    xs.len().cmp(&ys.len())
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_maps(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// Written as in Kubernetes conflict messages: `.name`, `[key="value"]`,
/// `[="value"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(keys) => {
                let parts: Vec<String> = sorted_map(keys).iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(value) => write!(f, "[={value}]"),
            PathElement::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Renders a path the way Kubernetes conflict messages do, for example
/// `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A `FieldsV1` document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FieldsError {
    /// A node of the trie is not a JSON object.
    #[error("fieldsV1 at {path:?} is not an object")]
    NotAnObject {
        /// Where, as a path string (empty for the root).
        path: String,
    },
    /// A key is not `.`, `f:`, `k:{...}`, `v:` or `i:`.
    #[error("fieldsV1 at {path:?} has a malformed key {key:?}")]
    BadKey {
        /// Where, as a path string (empty for the root).
        path: String,
        /// The offending key.
        key: String,
    },
}

/// A set of field paths, stored as a trie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Invariant: every node is a member or has a non-empty child set.
    entries: BTreeMap<PathElement, Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    member: bool,
    children: FieldSet,
}

impl Node {
    fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Reads a `fieldsV1` object.
    pub fn from_fields_v1(fields: &Value) -> Result<FieldSet, FieldsError> {
        let mut path = Vec::new();
        let (root_member, set) = parse_v1(fields, &mut path)?;
        if root_member {
            // The root is the object itself; it cannot be owned.
            return Err(FieldsError::BadKey { path: String::new(), key: ".".into() });
        }
        Ok(set)
    }

    /// Writes this set as a `fieldsV1` object, keys in Kubernetes order
    /// (`.` first, then fields by name, then keys, values and indexes).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.to_v1_map())
    }

    fn to_v1_map(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (pe, node) in &self.entries {
            let mut inner = Map::new();
            if node.member && !node.children.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            inner.extend(node.children.to_v1_map());
            out.insert(pe.to_fields_v1_key(), Value::Object(inner));
        }
        out
    }

    /// True when the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one path. The empty path (the object itself) is not representable
    /// and is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else { return };
        let node = self.entries.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.children.insert(rest);
        }
    }

    /// True when `path` is a member of the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        let Some((first, rest)) = path.split_first() else { return false };
        match self.entries.get(first) {
            Some(node) if rest.is_empty() => node.member,
            Some(node) => node.children.contains(rest),
            None => false,
        }
    }

    /// The paths under `element`, relative to it (empty when there are none).
    pub fn children(&self, element: &PathElement) -> Option<&FieldSet> {
        self.entries.get(element).map(|n| &n.children)
    }

    /// True when `element` itself is a member.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.entries.get(element).is_some_and(|n| n.member)
    }

    /// True when `element` is a member or has members under it.
    pub fn touches(&self, element: &PathElement) -> bool {
        self.entries.contains_key(element)
    }

    /// The top-level elements of the trie, with their membership and children.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PathElement, bool, &FieldSet)> {
        self.entries.iter().map(|(pe, n)| (pe, n.member, &n.children))
    }

    /// Removes `path` and everything under it.
    pub(crate) fn remove_subtree(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else { return };
        if rest.is_empty() {
            self.entries.remove(first);
            return;
        }
        if let Some(node) = self.entries.get_mut(first) {
            node.children.remove_subtree(rest);
            if node.is_empty() {
                self.entries.remove(first);
            }
        }
    }

    /// Removes `path` as a member, keeping what is under it.
    pub(crate) fn remove_member(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else { return };
        if let Some(node) = self.entries.get_mut(first) {
            if rest.is_empty() {
                node.member = false;
            } else {
                node.children.remove_member(rest);
            }
            if node.is_empty() {
                self.entries.remove(first);
            }
        }
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.extend(other);
        out
    }

    /// Adds every path of `other` to this set.
    pub fn extend(&mut self, other: &FieldSet) {
        for (pe, theirs) in &other.entries {
            match self.entries.get_mut(pe) {
                Some(ours) => {
                    ours.member |= theirs.member;
                    ours.children.extend(&theirs.children);
                }
                None => {
                    self.entries.insert(pe.clone(), theirs.clone());
                }
            }
        }
    }

    /// Paths in this set and not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        for (pe, ours) in &self.entries {
            let node = match other.entries.get(pe) {
                None => ours.clone(),
                Some(theirs) => {
                    Node { member: ours.member && !theirs.member, children: ours.children.difference(&theirs.children) }
                }
            };
            if !node.is_empty() {
                out.entries.insert(pe.clone(), node);
            }
        }
        out
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        for (pe, ours) in &self.entries {
            if let Some(theirs) = other.entries.get(pe) {
                let node = Node {
                    member: ours.member && theirs.member,
                    children: ours.children.intersection(&theirs.children),
                };
                if !node.is_empty() {
                    out.entries.insert(pe.clone(), node);
                }
            }
        }
        out
    }

    /// Every member path, parents before children.
    pub fn members(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.walk_members(&mut prefix, &mut out);
        out
    }

    fn walk_members(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for (pe, node) in &self.entries {
            prefix.push(pe.clone());
            if node.member {
                out.push(prefix.clone());
            }
            node.children.walk_members(prefix, out);
            prefix.pop();
        }
    }

    /// Every member path, rendered as in Kubernetes conflict messages
    /// (`.spec.replicas`, `.spec.containers[name="nginx"].image`).
    pub fn paths(&self) -> Vec<String> {
        self.members().iter().map(|p| path_string(p)).collect()
    }

    /// The fields an object sets: its leaves (scalars, atomic lists and maps),
    /// and for each item of an associative list or set, the item itself (`.`)
    /// plus its own fields. Empty objects contribute nothing. With no type
    /// (or where the schema says nothing), objects are granular and lists atomic.
    pub fn of_object(obj: &Value, ty: Option<TypeRef<'_>>) -> FieldSet {
        collect(obj, ty, Strictness::Lenient).unwrap_or_default()
    }
}

fn parse_v1(value: &Value, path: &mut Vec<PathElement>) -> Result<(bool, FieldSet), FieldsError> {
    let Value::Object(map) = value else {
        return Err(FieldsError::NotAnObject { path: path_string(path) });
    };
    let mut member = false;
    let mut set = FieldSet::new();
    for (key, child) in map {
        if key == "." {
            member = true;
            continue;
        }
        let pe = PathElement::from_fields_v1_key(key)
            .ok_or_else(|| FieldsError::BadKey { path: path_string(path), key: key.clone() })?;
        path.push(pe.clone());
        let (child_member, children) = parse_v1(child, path)?;
        path.pop();
        // `{}` is a leaf: the element itself is owned.
        let node = Node { member: child_member || children.is_empty(), children };
        let entry = set.entries.entry(pe).or_default();
        entry.member |= node.member;
        entry.children.extend(&node.children);
    }
    Ok((member, set))
}
