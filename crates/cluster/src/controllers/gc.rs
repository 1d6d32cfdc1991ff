//! Garbage collection by `metadata.ownerReferences`.
//!
//! An index (owner uid → dependents) is kept from a watch over every
//! resource. A dependent whose owners are all gone is deleted; references
//! to owners that are gone are dropped while another owner lives. Owners
//! being deleted with the `foregroundDeletion` finalizer wait for their
//! blocking dependents to be deleted first; with `orphan`, their dependents
//! lose the owner reference and stay.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::runtime::{self, Change, Next, OwnerRef, Queue};
use crate::api::{ApiError, Cluster, DeleteOptions, Propagation, Reason, Subresource};
use crate::registry::ResourceType;
use crate::store::{EventKind, ObjectKey, Scope};

const MANAGER: &str = "garbage-collector";

/// The finalizer of an owner deleted with `propagationPolicy: Foreground`.
pub(crate) const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer of an owner deleted with `propagationPolicy: Orphan`.
pub(crate) const ORPHAN: &str = "orphan";

/// How long an owner waiting for dependents with finalizers of their own
/// waits before looking again (deletions of dependents also wake it).
const WAIT_RECHECK: Duration = Duration::from_secs(2);

/// Work for the collector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Item {
    /// Check that this object's owners still exist.
    Dependent(ObjectKey),
    /// This object is being deleted with a GC finalizer: handle its dependents.
    Owner(ObjectKey),
}

/// Who depends on whom.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Each indexed object's owner uids.
    owners_of: HashMap<ObjectKey, Vec<String>>,
    /// Owner uid → its dependents.
    dependents: HashMap<String, HashSet<ObjectKey>>,
    /// Owners being deleted with a GC finalizer, by uid.
    finalizing: HashMap<String, ObjectKey>,
}

impl Index {
    /// Records the current owners of `key` (empty: not a dependent).
    pub(crate) fn set_owners(&mut self, key: &ObjectKey, owners: Vec<String>) {
        self.remove(key);
        if owners.is_empty() {
            return;
        }
        for owner in &owners {
            self.dependents.entry(owner.clone()).or_default().insert(key.clone());
        }
        self.owners_of.insert(key.clone(), owners);
    }

    /// Forgets `key` as a dependent.
    pub(crate) fn remove(&mut self, key: &ObjectKey) {
        if let Some(owners) = self.owners_of.remove(key) {
            for owner in owners {
                if let Some(set) = self.dependents.get_mut(&owner) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(&owner);
                    }
                }
            }
        }
    }

    /// The dependents of `owner_uid`, sorted.
    pub(crate) fn dependents_of(&self, owner_uid: &str) -> Vec<ObjectKey> {
        let mut out: Vec<ObjectKey> =
            self.dependents.get(owner_uid).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        out.sort();
        out
    }

    /// The owner uids of `key`.
    pub(crate) fn owners_of(&self, key: &ObjectKey) -> &[String] {
        self.owners_of.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Forgets everything (before a relist).
    pub(crate) fn clear(&mut self) {
        *self = Index::default();
    }

    /// Applies one store event; returns the work it calls for.
    pub(crate) fn observe(&mut self, kind: EventKind, key: &ObjectKey, object: &Value) -> Vec<Item> {
        let mut work = Vec::new();
        let uid = runtime::uid_of(object).to_owned();
        let was_dependent = self.owners_of.contains_key(key);
        if kind == EventKind::Deleted {
            let owners = self.owners_of(key).to_vec();
            self.remove(key);
            self.finalizing.remove(&uid);
            // Its dependents may now be orphans.
            work.extend(self.dependents_of(&uid).into_iter().map(Item::Dependent));
            // Owners in foreground deletion may have been waiting for it.
            work.extend(owners.iter().filter_map(|o| self.finalizing.get(o)).cloned().map(Item::Owner));
            return work;
        }
        let refs: Vec<String> = runtime::owner_refs(object).into_iter().map(|r| r.uid).collect();
        let changed = self.owners_of(key) != refs.as_slice();
        if changed || (kind == EventKind::Added && !refs.is_empty()) {
            self.set_owners(key, refs.clone());
            if !refs.is_empty() {
                work.push(Item::Dependent(key.clone()));
            }
            if was_dependent {
                // A dropped reference may release an owner in foreground deletion.
                work.extend(self.finalizing.values().cloned().map(Item::Owner));
            }
        }
        if runtime::is_terminating(object) {
            let gc_finalizer = runtime::finalizers(object).iter().any(|f| *f == FOREGROUND || *f == ORPHAN);
            if gc_finalizer {
                self.finalizing.insert(uid, key.clone());
                work.push(Item::Owner(key.clone()));
            }
            // A dependent that started terminating may release its owners.
            work.extend(refs.iter().filter_map(|o| self.finalizing.get(o)).cloned().map(Item::Owner));
        } else {
            self.finalizing.remove(&uid);
        }
        work
    }
}

pub(super) fn spawn(tasks: &mut JoinSet<()>, cluster: &Cluster, shutdown: &watch::Receiver<bool>) {
    let queue: Arc<Queue<Item>> = Queue::new();
    let index = Arc::new(Mutex::new(Index::default()));
    let events = Arc::clone(&queue);
    let watched = Arc::clone(&index);
    tasks.spawn(runtime::follow(cluster.store().clone(), Scope::default(), shutdown.clone(), move |change| {
        let mut index = watched.lock().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Reset => index.clear(),
            Change::Event(event) => {
                let bytes = &event.object.json;
                // Most objects neither own-reference nor finalize: skip parsing them.
                let relevant = index.owners_of.contains_key(&event.key)
                    || contains(bytes, b"ownerReferences")
                    || contains(bytes, b"deletionTimestamp")
                    || (event.kind == EventKind::Deleted && contains(bytes, b"\"uid\""));
                if !relevant {
                    return;
                }
                let Ok(object) = serde_json::from_slice::<Value>(bytes) else {
                    return;
                };
                for item in index.observe(event.kind, &event.key, &object) {
                    events.add(item);
                }
            }
        }
    }));
    let cluster = cluster.clone();
    tasks.spawn(runtime::work("garbage-collector", queue, shutdown.clone(), move |item| {
        let cluster = cluster.clone();
        let index = Arc::clone(&index);
        async move {
            match item {
                Item::Dependent(key) => check_dependent(&cluster, &key).await,
                Item::Owner(key) => {
                    let Some(rt) = runtime::by_storage_resource(&cluster, &key.resource) else {
                        return Ok(Next::Done);
                    };
                    let Some(owner) = runtime::get_opt(&cluster, &rt, &key.namespace, &key.name)? else {
                        return Ok(Next::Done);
                    };
                    let dependents =
                        index.lock().unwrap_or_else(|e| e.into_inner()).dependents_of(runtime::uid_of(&owner));
                    finalize_owner(&cluster, &rt, owner, &dependents).await
                }
            }
        }
    }));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Whether an owner reference still points at a live object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerState {
    /// The owner exists with the referenced uid.
    Alive,
    /// No object of that name, or one with another uid.
    Gone,
    /// The owner's kind is not served: leave the reference alone.
    Unknown,
}

/// What to do with a dependent, given the state of each of its owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DependentAction {
    /// Keep it as it is.
    Keep,
    /// Delete it: every owner is gone.
    Delete,
    /// Drop the references to these (gone) owner uids; others live.
    DropReferences(Vec<String>),
}

/// Decides a dependent's fate from its owners' states (pure).
pub(crate) fn dependent_action(owners: &[(OwnerRef, OwnerState)]) -> DependentAction {
    if owners.is_empty() {
        return DependentAction::Keep;
    }
    let gone: Vec<String> = owners.iter().filter(|(_, s)| *s == OwnerState::Gone).map(|(r, _)| r.uid.clone()).collect();
    if gone.is_empty() {
        DependentAction::Keep
    } else if gone.len() == owners.len() {
        DependentAction::Delete
    } else {
        DependentAction::DropReferences(gone)
    }
}

async fn owner_state(cluster: &Cluster, reference: &OwnerRef, namespace: &str) -> Result<OwnerState, ApiError> {
    let Some(rt) = runtime::by_api_version_kind(cluster, &reference.api_version, &reference.kind) else {
        return Ok(OwnerState::Unknown);
    };
    let namespace = if rt.namespaced { namespace } else { "" };
    Ok(match runtime::get_opt(cluster, &rt, namespace, &reference.name)? {
        Some(owner) if runtime::uid_of(&owner) == reference.uid => OwnerState::Alive,
        _ => OwnerState::Gone,
    })
}

async fn check_dependent(cluster: &Cluster, key: &ObjectKey) -> Result<Next, ApiError> {
    let Some(rt) = runtime::by_storage_resource(cluster, &key.resource) else {
        return Ok(Next::Done);
    };
    let Some(object) = runtime::get_opt(cluster, &rt, &key.namespace, &key.name)? else {
        return Ok(Next::Done);
    };
    let mut owners = Vec::new();
    for reference in runtime::owner_refs(&object) {
        let state = owner_state(cluster, &reference, &key.namespace).await?;
        owners.push((reference, state));
    }
    match dependent_action(&owners) {
        DependentAction::Keep => Ok(Next::Done),
        DependentAction::Delete => {
            if runtime::is_terminating(&object) {
                return Ok(Next::Done);
            }
            let options = DeleteOptions {
                propagation: Some(Propagation::Background),
                precondition_uid: Some(runtime::uid_of(&object).to_owned()),
                ..DeleteOptions::default()
            };
            tracing::debug!(?key, "deleting an object whose owners are gone");
            runtime::tolerate(cluster.delete(&rt, &key.namespace, &key.name, &options).await, Reason::NotFound)?;
            Ok(Next::Done)
        }
        DependentAction::DropReferences(uids) => {
            let updated = without_owner_refs(&object, &uids);
            cluster
                .update(&rt, &key.namespace, &key.name, Subresource::Main, updated, &runtime::manager(MANAGER))
                .await?;
            Ok(Next::Done)
        }
    }
}

/// A copy of `object` without the owner references to `uids` (the field
/// is removed when none remain).
pub(crate) fn without_owner_refs(object: &Value, uids: &[String]) -> Value {
    let mut out = object.clone();
    if let Some(metadata) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let mut empty = false;
        if let Some(list) = metadata.get_mut("ownerReferences").and_then(Value::as_array_mut) {
            list.retain(|r| !r.get("uid").and_then(Value::as_str).is_some_and(|u| uids.iter().any(|x| x == u)));
            empty = list.is_empty();
        }
        if empty {
            metadata.remove("ownerReferences");
        }
    }
    out
}

/// Whether a dependent keeps its owner (in foreground deletion) waiting.
pub(crate) fn blocks_owner(dependent: &Value, owner_uid: &str) -> bool {
    runtime::owner_refs(dependent).iter().any(|r| r.uid == owner_uid && r.block_owner_deletion)
}

async fn finalize_owner(
    cluster: &Cluster,
    rt: &ResourceType,
    owner: Value,
    dependents: &[ObjectKey],
) -> Result<Next, ApiError> {
    if !runtime::is_terminating(&owner) {
        return Ok(Next::Done);
    }
    let finalizers = runtime::finalizers(&owner);
    let uid = runtime::uid_of(&owner).to_owned();
    let (namespace, name) = (runtime::namespace_of(&owner).to_owned(), runtime::name_of(&owner).to_owned());
    if finalizers.contains(&ORPHAN) {
        for key in dependents {
            let Some(drt) = runtime::by_storage_resource(cluster, &key.resource) else {
                continue;
            };
            let Some(dependent) = runtime::get_opt(cluster, &drt, &key.namespace, &key.name)? else {
                continue;
            };
            if !runtime::owner_refs(&dependent).iter().any(|r| r.uid == uid) {
                continue;
            }
            let updated = without_owner_refs(&dependent, std::slice::from_ref(&uid));
            runtime::tolerate(
                cluster
                    .update(&drt, &key.namespace, &key.name, Subresource::Main, updated, &runtime::manager(MANAGER))
                    .await,
                Reason::NotFound,
            )?;
        }
        let updated = runtime::without_finalizer(&owner, ORPHAN);
        runtime::tolerate(
            cluster.update(rt, &namespace, &name, Subresource::Main, updated, &runtime::manager(MANAGER)).await,
            Reason::NotFound,
        )?;
        return Ok(Next::Done);
    }
    if finalizers.contains(&FOREGROUND) {
        let mut blocking = 0usize;
        for key in dependents {
            let Some(drt) = runtime::by_storage_resource(cluster, &key.resource) else {
                continue;
            };
            let Some(dependent) = runtime::get_opt(cluster, &drt, &key.namespace, &key.name)? else {
                continue;
            };
            if !runtime::owner_refs(&dependent).iter().any(|r| r.uid == uid) {
                continue;
            }
            if blocks_owner(&dependent, &uid) {
                blocking += 1;
            }
            if runtime::is_terminating(&dependent) {
                continue;
            }
            let options = DeleteOptions {
                propagation: Some(Propagation::Foreground),
                precondition_uid: Some(runtime::uid_of(&dependent).to_owned()),
                ..DeleteOptions::default()
            };
            if let Some(deleted) =
                runtime::tolerate(cluster.delete(&drt, &key.namespace, &key.name, &options).await, Reason::NotFound)?
                && deleted.gone
                && blocks_owner(&dependent, &uid)
            {
                blocking -= 1;
            }
        }
        if blocking > 0 {
            return Ok(Next::After(WAIT_RECHECK));
        }
        let updated = runtime::without_finalizer(&owner, FOREGROUND);
        runtime::tolerate(
            cluster.update(rt, &namespace, &name, Subresource::Main, updated, &runtime::manager(MANAGER)).await,
            Reason::NotFound,
        )?;
    }
    Ok(Next::Done)
}
