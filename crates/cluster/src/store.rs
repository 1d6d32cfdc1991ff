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

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

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

struct Inner {}

/// A stream of events for one watch.
pub struct Watch {}

impl Watch {
    /// The next event, in commit order. `Err(Expired)` when this watcher fell
    /// too far behind; `None` when the store closed.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>, StoreError>> {
        todo!()
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and loads every object.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let _ = (path, options);
        todo!()
    }

    /// Commits `writes` atomically and durably. Returns the stored version
    /// of each write (for a delete: the last state, at the deletion's rv).
    pub async fn commit(&self, writes: Vec<Write>) -> Result<Vec<StoredObject>, StoreError> {
        let _ = writes;
        todo!()
    }

    /// The current version of `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<StoredObject> {
        let _ = key;
        todo!()
    }

    /// Lists objects in `scope`, ordered by key.
    pub fn list(&self, scope: &Scope, options: &ListOptions) -> Result<ListPage, StoreError> {
        let _ = (scope, options);
        todo!()
    }

    /// The resourceVersion of the latest commit.
    pub fn current_rv(&self) -> u64 {
        todo!()
    }

    /// Watches `scope` for changes committed after `since_rv`.
    pub fn watch(&self, scope: &Scope, since_rv: u64) -> Result<Watch, StoreError> {
        let _ = (scope, since_rv);
        todo!()
    }
}
