//! The committer: the one thread that writes.
//!
//! It takes every batch waiting in its queue (a group), checks each batch's
//! preconditions against the current state plus the batches accepted before
//! it in the group, writes the accepted batches in one durable redb
//! transaction, and only then publishes them and answers their callers.
//! One fsync per group rather than per batch is what lets many concurrent
//! writers go fast.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::oneshot;

use super::disk::Disk;
use super::state::State;
use super::{Event, EventKind, Expect, ObjectKey, StoreError, StoredObject, Write};

/// Upper bound on the writes of one group, so that one transaction (and the
/// pause of readers while it is published) stays short.
const MAX_GROUP_WRITES: usize = 8192;

/// The answer to one commit.
type Reply = oneshot::Sender<Result<Vec<StoredObject>, StoreError>>;

/// What the committer is asked to do.
pub(super) enum Request {
    /// Commit a batch atomically.
    Commit { writes: Vec<Write>, reply: Reply },
    /// Finish the queued batches, close the database, then signal `done`.
    Close { done: oneshot::Sender<()> },
}

/// Starts the committer thread, which owns `disk`.
pub(super) fn spawn(disk: Disk, state: Arc<RwLock<State>>) -> Result<Sender<Request>, StoreError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("store-committer".to_owned())
        .spawn(move || run(disk, &state, &receiver))
        .map_err(|e| StoreError::Io(format!("starting the committer: {e}")))?;
    Ok(sender)
}

fn run(disk: Disk, state: &RwLock<State>, receiver: &Receiver<Request>) {
    let mut committer = Committer { disk, state, buffer: Vec::new() };
    // `recv` fails once every `Store` handle is gone.
    while let Ok(first) = receiver.recv() {
        let mut group = Vec::new();
        let mut size = 0;
        let mut close = None;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Commit { writes, reply } => {
                    size += writes.len().max(1);
                    group.push((writes, reply));
                }
                Request::Close { done } => {
                    close = Some(done);
                    break;
                }
            }
            if size >= MAX_GROUP_WRITES {
                break;
            }
            next = receiver.try_recv().ok();
        }
        committer.commit_group(group);
        if let Some(done) = close {
            committer.shut_down();
            // The caller may have stopped waiting; nothing to do then.
            let _ = done.send(());
            return;
        }
    }
    committer.shut_down();
}

struct Committer<'a> {
    disk: Disk,
    state: &'a RwLock<State>,
    /// Reused for serializing objects.
    buffer: Vec<u8>,
}

/// A batch that passed its preconditions, with what it will change.
struct Staged {
    events: Vec<Arc<Event>>,
    results: Vec<StoredObject>,
    /// The state of each key it touches, after it.
    after: HashMap<ObjectKey, Option<StoredObject>>,
}

impl Committer<'_> {
    fn shut_down(self) {
        self.state.write().unwrap_or_else(PoisonError::into_inner).close_watchers();
        // `self.disk` is dropped here, closing the file before `close` returns.
    }

    fn commit_group(&mut self, group: Vec<(Vec<Write>, Reply)>) {
        let current_rv = self.state.read().unwrap_or_else(PoisonError::into_inner).rv;
        let mut next_rv = current_rv + 1;
        let mut group_after: HashMap<ObjectKey, Option<StoredObject>> = HashMap::new();
        let mut events = Vec::new();
        let mut accepted = Vec::new();
        for (writes, reply) in group {
            match self.stage(writes, &group_after, next_rv) {
                Ok(staged) => {
                    next_rv += staged.events.len() as u64;
                    group_after.extend(staged.after);
                    events.extend(staged.events);
                    accepted.push((reply, staged.results));
                }
                Err(error) => {
                    // The caller may have gone away; nobody to tell then.
                    let _ = reply.send(Err(error));
                }
            }
        }
        if !events.is_empty() {
            if let Err(error) = self.disk.write(&events, next_rv - 1) {
                tracing::error!(%error, "store commit failed");
                let message = error.to_string();
                for (reply, _) in accepted {
                    let _ = reply.send(Err(StoreError::Io(message.clone())));
                }
                return;
            }
            self.state.write().unwrap_or_else(PoisonError::into_inner).apply(&events);
        }
        for (reply, results) in accepted {
            let _ = reply.send(Ok(results));
        }
    }

    /// Checks one batch and prepares its events, numbered from `first_rv`.
    fn stage(
        &mut self,
        writes: Vec<Write>,
        group_after: &HashMap<ObjectKey, Option<StoredObject>>,
        first_rv: u64,
    ) -> Result<Staged, StoreError> {
        let mut staged = Staged {
            events: Vec::with_capacity(writes.len()),
            results: Vec::with_capacity(writes.len()),
            after: HashMap::new(),
        };
        for (index, write) in writes.into_iter().enumerate() {
            let rv = first_rv + index as u64;
            let (key, expect) = match &write {
                Write::Put { key, expect, .. } | Write::Delete { key, expect } => (key, *expect),
            };
            let previous = match staged.after.get(key).or_else(|| group_after.get(key)) {
                Some(state) => state.clone(),
                None => self.state.read().unwrap_or_else(PoisonError::into_inner).get(key),
            };
            let holds = match expect {
                Expect::Absent => previous.is_none(),
                Expect::Exists => previous.is_some(),
                Expect::Version(v) => previous.as_ref().is_some_and(|p| p.rv == v),
            };
            if !holds {
                return Err(StoreError::Precondition {
                    index,
                    key: key.clone(),
                    expect,
                    found: previous.map(|p| p.rv),
                });
            }
            let (kind, key, object) = match (write, &previous) {
                (Write::Put { key, mut object, .. }, _) => {
                    let kind = if previous.is_some() { EventKind::Modified } else { EventKind::Added };
                    (kind, key, self.serialize(&mut object, rv)?)
                }
                (Write::Delete { key, .. }, Some(last)) => {
                    let mut object: Value = serde_json::from_slice(&last.json)
                        .map_err(|e| StoreError::Io(format!("reading the stored {key:?}: {e}")))?;
                    (EventKind::Deleted, key, self.serialize(&mut object, rv)?)
                }
                // Nothing to delete, whatever the precondition said.
                (Write::Delete { key, .. }, None) => {
                    return Err(StoreError::Precondition { index, key, expect, found: None });
                }
            };
            let after = match kind {
                EventKind::Deleted => None,
                EventKind::Added | EventKind::Modified => Some(object.clone()),
            };
            staged.after.insert(key.clone(), after);
            staged.results.push(object.clone());
            staged.events.push(Arc::new(Event { kind, key, object, previous }));
        }
        Ok(staged)
    }

    /// Sets `metadata.resourceVersion` and serializes, into an allocation of
    /// exactly the JSON's size (memory holds every object).
    fn serialize(&mut self, object: &mut Value, rv: u64) -> Result<StoredObject, StoreError> {
        if let Value::Object(fields) = object {
            let metadata = fields.entry("metadata").or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(metadata) = metadata {
                metadata.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
            }
        }
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, object)
            .map_err(|e| StoreError::Io(format!("serializing an object: {e}")))?;
        Ok(StoredObject { rv, json: Bytes::copy_from_slice(&self.buffer) })
    }
}
