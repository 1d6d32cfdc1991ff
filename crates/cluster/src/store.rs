//! Durable object storage for the local cluster.
//!
//! Every object lives in memory (as its serialized JSON) and in a redb
//! database on disk. Writes go through one committer, which batches
//! concurrent writers into one redb transaction (group commit), fsyncs it,
//! then publishes the new state to readers and watchers, in commit order.
//! A write is acknowledged only after its batch is durable, and readers never
//! see a write that is not durable.
//!
//! The store knows nothing of Kubernetes semantics beyond
//! `metadata.resourceVersion`, which it assigns from one global counter.
//!
//! Details callers rely on:
//! - each write of a batch gets its own resourceVersion, and the versions of
//!   one commit are consecutive; a rejected batch consumes none;
//! - a `Delete` of a key that does not exist fails its precondition, whatever
//!   the precondition says (there is nothing to delete);
//! - the history keeps the last [`StoreOptions::history`] events. Lists at an
//!   older resourceVersion, and watches from one, get [`StoreError::Expired`].
//!   After a restart the history is empty, so only the current
//!   resourceVersion can be resumed from. Kubernetes' "resourceVersion 0"
//!   (start from any state) is the caller's to translate, for example into
//!   a list followed by a watch from the list's resourceVersion;
//! - a watcher that falls more than a bounded number of events behind is
//!   ended with [`StoreError::Expired`] rather than slowing writers down.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

mod committer;
mod disk;
mod state;
#[cfg(test)]
mod tests;

use committer::Request;
use state::State;

/// Where an object lives: its resource (group and plural, shared by all
/// versions), namespace (empty when cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// `group/plural`, for example `apps/deployments`, or `/pods` for the core group.
    pub resource: String,
    /// Namespace, or empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// One stored version of an object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The resourceVersion the store assigned to this version.
    pub rv: u64,
    /// The object, serialized as JSON, with `metadata.resourceVersion` set to `rv`.
    pub json: Bytes,
}

/// A precondition on the current state of a key, checked at commit time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The key must not exist (create).
    Absent,
    /// The key must exist (any version).
    Exists,
    /// The key must exist at exactly this resourceVersion.
    Version(u64),
}

/// One write in an atomic batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Store `object` at `key`. The store sets `metadata.resourceVersion`.
    Put {
        /// Where.
        key: ObjectKey,
        /// The new object.
        object: Value,
        /// Precondition.
        expect: Expect,
    },
    /// Remove `key`.
    Delete {
        /// Where.
        key: ObjectKey,
        /// Precondition.
        expect: Expect,
    },
}

/// What to list or watch: one resource (optionally one namespace), or everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// `group/plural`; `None` for every resource.
    pub resource: Option<String>,
    /// A namespace; `None` for all namespaces.
    pub namespace: Option<String>,
}

/// Options of one list call.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Serve the state as of this resourceVersion (a continued list).
    /// `None` serves the latest state.
    pub at_rv: Option<u64>,
    /// Start after this key (exclusive), for pagination.
    pub start_after: Option<ObjectKey>,
    /// At most this many items; `None` for all.
    pub limit: Option<usize>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The objects, ordered by key.
    pub items: Vec<StoredObject>,
    /// The keys of `items`, in the same order.
    pub keys: Vec<ObjectKey>,
    /// The resourceVersion of the snapshot served.
    pub rv: u64,
    /// More items follow the last one.
    pub more: bool,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

/// One committed change, as watchers see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Which object.
    pub key: ObjectKey,
    /// The new state; for `Deleted`, the last state with
    /// `metadata.resourceVersion` set to the deletion's resourceVersion.
    pub object: StoredObject,
    /// The state before this change (`None` for `Added`).
    pub previous: Option<StoredObject>,
}

/// Store options.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many recent events are kept for watch resumption and continued
    /// lists. Older resourceVersions get `Expired`.
    pub history: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { history: 100_000 }
    }
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A precondition of write number `index` in the batch did not hold;
    /// nothing in the batch was written.
    #[error("precondition failed for {key:?}: expected {expect:?}, found {found:?}")]
    Precondition {
        /// Index of the failing write in the batch.
        index: usize,
        /// Its key.
        key: ObjectKey,
        /// What was expected.
        expect: Expect,
        /// The current resourceVersion, if the key exists.
        found: Option<u64>,
    },
    /// The requested resourceVersion is older than the kept history.
    #[error("resourceVersion {requested} is too old (oldest kept is {oldest})")]
    Expired {
        /// The resourceVersion asked for.
        requested: u64,
        /// The oldest resourceVersion still served.
        oldest: u64,
    },
    /// The database failed; the batch was not written.
    #[error("storage failure: {0}")]
    Io(String),
    /// The store is shutting down.
    #[error("store is closed")]
    Closed,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Everything readers see. The committer is its only writer, and holds
    /// the write lock only to publish a commit that is already durable.
    state: Arc<RwLock<State>>,
    /// The committer's queue. A std channel, because the committer is a
    /// plain thread (redb's API blocks).
    requests: std::sync::mpsc::Sender<Request>,
    /// Whether `close` has been asked for; later commits fail fast.
    closing: AtomicBool,
}

/// How many events a live watcher may have waiting before it is ended with
/// `Expired`. Large enough to absorb a burst of big group commits, small
/// enough that a stuck client cannot hold much memory.
const WATCH_BUFFER: usize = 16 * 1024;

/// Marks a watcher that has not fallen behind (see `Watch::lagged`).
const NOT_LAGGED: u64 = u64::MAX;

/// A stream of events for one watch.
pub struct Watch {
    /// Events from the history, delivered before the live ones.
    replay: std::collections::VecDeque<Arc<Event>>,
    /// Live events, filtered to the watch's scope by the committer.
    live: mpsc::Receiver<Arc<Event>>,
    /// `NOT_LAGGED`, or the oldest kept resourceVersion at the moment the
    /// committer found this watcher's buffer full and dropped it.
    lagged: Arc<AtomicU64>,
    /// The resourceVersion of the last event delivered (or the watch's
    /// start); later events must be newer.
    last_rv: u64,
    /// The stream has ended.
    finished: bool,
}

impl Watch {
    /// The next event, in commit order. `Err(Expired)` when this watcher fell
    /// too far behind; `None` when the store closed.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>, StoreError>> {
        if self.finished {
            return None;
        }
        if let Some(event) = self.replay.pop_front() {
            self.last_rv = event.object.rv;
            return Some(Ok(event));
        }
        loop {
            match self.live.recv().await {
                // Only a watch that started ahead of the store skips events.
                Some(event) if event.object.rv <= self.last_rv => continue,
                Some(event) => {
                    self.last_rv = event.object.rv;
                    return Some(Ok(event));
                }
                None => {
                    self.finished = true;
                    let oldest = self.lagged.load(Ordering::Acquire);
                    if oldest == NOT_LAGGED {
                        return None;
                    }
                    return Some(Err(StoreError::Expired { requested: self.last_rv, oldest }));
                }
            }
        }
    }
}

impl Scope {
    /// Whether `key` is in this scope.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.resource.as_ref().is_none_or(|r| *r == key.resource)
            && self.namespace.as_ref().is_none_or(|n| *n == key.namespace)
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and loads every object.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        Store::open_with_buffer(path, options, WATCH_BUFFER)
    }

    /// `open`, with the size of each watcher's buffer (tests use a tiny one).
    fn open_with_buffer(path: &Path, options: StoreOptions, watch_buffer: usize) -> Result<Store, StoreError> {
        let (disk, objects, rv) = disk::Disk::open(path)?;
        let state = Arc::new(RwLock::new(State::new(objects, rv, options.history, watch_buffer.max(1))));
        let requests = committer::spawn(disk, Arc::clone(&state))?;
        Ok(Store { inner: Arc::new(Inner { state, requests, closing: AtomicBool::new(false) }) })
    }

    /// Commits `writes` atomically and durably. Returns the stored version
    /// of each write (for a delete: the last state, at the deletion's rv).
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<StoredObject>, StoreError> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (reply, done) = oneshot::channel();
        self.inner.requests.send(Request::Commit { writes, reply }).map_err(|_| StoreError::Closed)?;
        // A dropped reply means the committer stopped before this batch.
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// The current version of `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.read().get(key)
    }

    /// Lists objects in `scope`, ordered by key.
    pub fn list(&self, scope: &Scope, options: &ListOptions) -> Result<ListPage, StoreError> {
        self.read().list(scope, options)
    }

    /// The resourceVersion of the latest commit.
    pub fn current_rv(&self) -> u64 {
        self.read().rv
    }

    /// The oldest resourceVersion that lists and watches can still start
    /// from; older ones get [`StoreError::Expired`].
    pub fn oldest_rv(&self) -> u64 {
        self.read().history_start
    }

    /// Watches `scope` for changes committed after `since_rv`.
    pub fn watch(&self, scope: &Scope, since_rv: u64) -> Result<Watch, StoreError> {
        // Subscribing under the write lock, the one the committer publishes
        // under, is what makes replay and live events meet with no gap and
        // no duplicate.
        self.inner.state.write().unwrap_or_else(PoisonError::into_inner).subscribe(scope, since_rv)
    }

    /// Stops the store: commits already queued are finished, later ones get
    /// [`StoreError::Closed`], watches end, and the database file is closed
    /// (so it can be opened again) by the time this returns.
    pub async fn close(&self) {
        self.inner.closing.store(true, Ordering::Release);
        let (done, closed) = oneshot::channel();
        if self.inner.requests.send(Request::Close { done }).is_ok() {
            // An error means the committer already stopped, which is the goal.
            let _ = closed.await;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}
