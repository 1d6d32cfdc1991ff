//! The in-memory representation of watched objects: one map per kind, an
//! index from owner uid to children, and the compaction of bodies.
//!
//! Every lock here is a `std::sync::RwLock` held only for map operations;
//! nothing awaits while holding one, and a poisoned lock is still used (a
//! panic elsewhere must not take the cache down with it).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;
use sync::plan::{ResourceKey, parse_tracking_id};

use crate::{ChildRef, KeepManagers, LiveObject};

/// The annotation `kubectl apply` (client-side) writes; a full copy of the
/// manifest, useless to diff, health and the tree.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// What a kind's objects are stored under: `(namespace, name)`.
pub(crate) type ObjectName = (Box<str>, Box<str>);

/// One stored object. Untracked objects have no body: identity, owners and
/// resourceVersion are all the tree needs of them.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) uid: Box<str>,
    pub(crate) resource_version: Box<str>,
    pub(crate) owners: Arc<[Box<str>]>,
    pub(crate) app: Option<Arc<str>>,
    /// Compact JSON of the object, tracked objects only.
    pub(crate) body: Option<Arc<str>>,
    /// The list generation that last saw this entry; entries from an older
    /// generation are gone once a re-list completes.
    pub(crate) epoch: u32,
}

impl Entry {
    /// Approximate heap and inline bytes this entry costs, map slot included.
    fn bytes(&self, name: &ObjectName) -> usize {
        // A hashbrown slot holds the key and value inline plus one control byte.
        std::mem::size_of::<(ObjectName, Entry)>()
            + 1
            + name.0.len()
            + name.1.len()
            + self.uid.len()
            + self.resource_version.len()
            + 16
            + self.owners.iter().map(|o| std::mem::size_of::<Box<str>>() + o.len()).sum::<usize>()
            + self.body.as_ref().map_or(0, |b| 16 + b.len())
    }
}

/// Identity of a watched kind, shared by all its objects.
#[derive(Debug)]
pub(crate) struct KindInfo {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) api_version: String,
}

/// All objects of one watched kind.
#[derive(Debug)]
pub(crate) struct KindStore {
    pub(crate) info: KindInfo,
    pub(crate) objects: RwLock<HashMap<ObjectName, Entry>>,
}

impl KindStore {
    pub(crate) fn new(info: KindInfo) -> Self {
        KindStore { info, objects: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn key(&self, name: &ObjectName) -> ResourceKey {
        ResourceKey::new(&self.info.group, &self.info.kind, &name.0, &name.1)
    }

    pub(crate) fn live_object(&self, name: &ObjectName, entry: &Entry) -> LiveObject {
        LiveObject {
            key: self.key(name),
            api_version: self.info.api_version.clone(),
            uid: entry.uid.to_string(),
            resource_version: entry.resource_version.to_string(),
            app: entry.app.clone(),
            owner_uids: entry.owners.clone(),
            body: entry.body.clone(),
        }
    }

    /// `(objects, tracked, bytes)`.
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        let objects = read(&self.objects);
        let tracked = objects.values().filter(|e| e.body.is_some()).count();
        let bytes = objects.iter().map(|(name, entry)| entry.bytes(name)).sum::<usize>();
        (objects.len(), tracked, bytes)
    }
}

/// Where an object lives: its kind's store and its name there. Equal when
/// both name the same store and object.
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub(crate) kind: Arc<KindStore>,
    pub(crate) name: ObjectName,
}

impl PartialEq for Loc {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.kind, &other.kind) && self.name == other.name
    }
}

impl Eq for Loc {}

impl std::hash::Hash for Loc {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.kind), state);
        self.name.hash(state);
    }
}

/// A multimap from a string (an owner uid, an app name) to objects.
#[derive(Debug, Default)]
pub(crate) struct Index {
    map: RwLock<HashMap<Box<str>, HashSet<Loc>>>,
}

impl Index {
    /// Moves `loc` from the keys in `old` to those in `new`.
    pub(crate) fn update(&self, loc: &Loc, old: &[&str], new: &[&str]) {
        if old == new {
            return;
        }
        let mut map = write(&self.map);
        for key in old.iter().filter(|o| !new.contains(o)) {
            if let Some(set) = map.get_mut(*key) {
                set.remove(loc);
                if set.is_empty() {
                    map.remove(*key);
                }
            }
        }
        for key in new.iter().filter(|n| !old.contains(n)) {
            map.entry(Box::from(*key)).or_default().insert(loc.clone());
        }
    }

    /// The objects filed under `key`.
    pub(crate) fn get(&self, key: &str) -> Vec<Loc> {
        read(&self.map).get(key).map(|set| set.iter().cloned().collect()).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> usize {
        let slot = std::mem::size_of::<Loc>() + 1;
        read(&self.map)
            .iter()
            .map(|(k, v)| {
                std::mem::size_of::<(Box<str>, HashSet<Loc>)>()
                    + 1
                    + k.len()
                    + v.iter().map(|c| slot + c.name.0.len() + c.name.1.len()).sum::<usize>()
            })
            .sum()
    }
}

/// Every descendant of `uid` by ownerReferences, breadth first; each level
/// sorted by key.
pub(crate) fn descendants(owners: &Index, uid: &str) -> Vec<ChildRef> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    seen.insert(uid.to_owned());
    let mut frontier = vec![uid.to_owned()];
    while !frontier.is_empty() {
        let mut level: Vec<ChildRef> = Vec::new();
        for parent in &frontier {
            for loc in owners.get(parent) {
                let objects = read(&loc.kind.objects);
                let Some(entry) = objects.get(&loc.name) else { continue };
                // An ownership cycle (hand-written ownerReferences) ends here.
                if !seen.insert(entry.uid.to_string()) {
                    continue;
                }
                level.push(ChildRef {
                    key: loc.kind.key(&loc.name),
                    api_version: loc.kind.info.api_version.clone(),
                    uid: entry.uid.to_string(),
                    resource_version: entry.resource_version.to_string(),
                    parent_uid: parent.clone(),
                    app: entry.app.clone(),
                });
            }
        }
        level.sort_by(|a, b| a.key.cmp(&b.key));
        frontier = level.iter().map(|c| c.uid.clone()).collect();
        out.extend(level);
    }
    out
}

/// What the watch task extracts from one object.
pub(crate) struct Incoming {
    pub(crate) name: ObjectName,
    pub(crate) entry: Entry,
}

/// Reads what the cache keeps of `object` (a full object from a watch, as
/// JSON). `None` when it has no name (never served by a conforming server).
pub(crate) fn incoming(
    object: Value,
    kind: &KindInfo,
    tracking_annotation: &str,
    keep: &KeepManagers,
    epoch: u32,
) -> Option<Incoming> {
    let meta = object.get("metadata")?;
    let text = |field: &str| meta.get(field).and_then(Value::as_str).unwrap_or_default();
    let name = text("name");
    if name.is_empty() {
        return None;
    }
    let namespace = text("namespace");
    let owners: Arc<[Box<str>]> = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| refs.iter().filter_map(|r| r.get("uid").and_then(Value::as_str)).map(Box::from).collect())
        .unwrap_or_default();
    let app = meta
        .get("annotations")
        .and_then(|a| a.get(tracking_annotation))
        .and_then(Value::as_str)
        .and_then(parse_tracking_id)
        // The id must name this very object: ReplicaSets inherit their
        // Deployment's annotations, and a copied manifest keeps its id;
        // neither makes the copy tracked.
        .filter(|(_, claimed)| {
            claimed.group == kind.group
                && claimed.kind == kind.kind
                && claimed.namespace == namespace
                && claimed.name == name
        })
        .map(|(app, _)| Arc::<str>::from(app));
    let entry = Entry {
        uid: text("uid").into(),
        resource_version: text("resourceVersion").into(),
        owners,
        body: None,
        app,
        epoch,
    };
    let name: ObjectName = (namespace.into(), name.into());
    let body = entry.app.as_ref().map(|_| compact_body(object, kind, keep));
    Some(Incoming { name, entry: Entry { body, ..entry } })
}

/// The stored form of a tracked object: compact JSON without the parts
/// nothing downstream reads.
fn compact_body(mut object: Value, kind: &KindInfo, keep: &KeepManagers) -> Arc<str> {
    if let Some(map) = object.as_object_mut() {
        // List items may omit their type; the stored object always has it.
        map.insert("apiVersion".to_owned(), Value::String(kind.api_version.clone()));
        map.insert("kind".to_owned(), Value::String(kind.kind.clone()));
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if let KeepManagers::Only(names) = keep {
            let mut empty = false;
            if let Some(fields) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
                fields
                    .retain(|f| f.get("manager").and_then(Value::as_str).is_some_and(|m| names.iter().any(|n| n == m)));
                empty = fields.is_empty();
            }
            if empty {
                meta.remove("managedFields");
            }
        }
        let mut empty = false;
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove(LAST_APPLIED);
            empty = annotations.is_empty();
        }
        if empty {
            meta.remove("annotations");
        }
    }
    Arc::from(object.to_string())
}

/// Rough heap footprint of a `serde_json::Value` (with `preserve_order`),
/// to compare against compact bytes; used by the tests and the report.
pub fn value_heap_bytes(value: &Value) -> usize {
    let node = std::mem::size_of::<Value>();
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.capacity(),
        Value::Array(items) => items.capacity() * node + items.iter().map(value_heap_bytes).sum::<usize>(),
        Value::Object(map) => {
            // IndexMap: entries (hash + key + value) plus the index table.
            map.len() * (8 + std::mem::size_of::<String>() + node + std::mem::size_of::<usize>() + 1)
                + map.iter().map(|(k, v)| k.capacity() + value_heap_bytes(v)).sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests;
