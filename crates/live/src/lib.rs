//! The live state of one destination cluster: a watch-based cache of the
//! kinds ferry's apps manage, plus their owned children for the resource
//! tree.
//!
//! - Kinds are resolved through discovery of just the group version asked
//!   about ([`LiveCache::resolve`]) and watched cluster-wide on demand
//!   ([`LiveCache::watch`]) with kube-runtime's watcher.
//! - Memory stays small: objects carrying a valid tracking annotation keep
//!   their body as compact JSON (minus `managedFields` of other managers and
//!   the last-applied annotation); every other object is an identity record
//!   (name, uid, resourceVersion, owner uids).
//! - A watch error re-lists the kind after a backoff (kube-runtime's
//!   `DefaultBackoff`); objects deleted meanwhile disappear when the re-list
//!   completes. A kind that stops being served (its CRD deleted) is dropped.
//! - Readers never wait on a watch: each kind is a `HashMap` behind a
//!   `std::sync::RwLock` written only for single inserts and removals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::discovery::ApiResource;
use serde_json::{Value, json};
use sync::plan::{ResourceKey, TRACKING_ANNOTATION};
use tokio::sync::{broadcast, watch};

mod discovery;
mod store;
mod task;

pub use discovery::Capabilities;
use discovery::DiscoveryCache;
use store::{Index, KindInfo, KindStore, ObjectName, read, write};

pub use store::value_heap_bytes;

/// Which `metadata.managedFields` entries tracked objects keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepManagers {
    /// Every entry (needed by `ignoreDifferences.managedFieldsManagers`).
    All,
    /// Only entries whose `manager` is one of these.
    Only(Vec<String>),
}

impl Default for KeepManagers {
    fn default() -> Self {
        KeepManagers::Only(vec!["ferry".to_owned()])
    }
}

/// How a [`LiveCache`] behaves.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The annotation holding the tracking id (`ferry.dev/tracking-id`).
    pub tracking_annotation: String,
    /// A resolve miss rediscovers a group version at most this often.
    pub discovery_refresh_min: Duration,
    /// Which managedFields entries tracked objects keep.
    pub keep_managers: KeepManagers,
    /// Capacity of the change channel; slower receivers get `Lagged`.
    pub events_capacity: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            tracking_annotation: TRACKING_ANNOTATION.to_owned(),
            discovery_refresh_min: Duration::from_secs(5),
            keep_managers: KeepManagers::default(),
            events_capacity: 4096,
        }
    }
}

/// Failures of the cache.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The cluster does not serve this kind (yet).
    #[error("the cluster does not serve kind {kind} in {api_version}")]
    UnknownKind {
        /// The apiVersion asked about.
        api_version: String,
        /// The kind asked about.
        kind: String,
    },
    /// Discovery failed for another reason than "not served".
    #[error("discovery of {api_version} failed: {source}")]
    Discovery {
        /// The apiVersion being discovered.
        api_version: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// The initial list of a kind failed.
    #[error("cannot watch {kind}: {message}")]
    Watch {
        /// `group/kind` (`apps/Deployment`, `/ConfigMap`).
        kind: String,
        /// Why.
        message: String,
    },
    /// The cache is shutting down.
    #[error("the live-state cache is shutting down")]
    Stopped,
}

/// A kind as served by the cluster.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of this kind live in namespaces.
    pub namespaced: bool,
}

/// One live object. Cheap to clone: the body is shared.
#[derive(Debug, Clone)]
pub struct LiveObject {
    /// Group, kind, namespace and name.
    pub key: ResourceKey,
    /// The apiVersion the kind is watched in.
    pub api_version: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// The app its tracking annotation names, when that id names this object.
    pub app: Option<Arc<str>>,
    owner_uids: Arc<[Box<str>]>,
    body: Option<Arc<str>>,
}

impl LiveObject {
    /// The object as stored. Tracked objects: the full object without
    /// `managedFields` entries of managers not kept and without the
    /// last-applied annotation. Untracked objects: only `apiVersion`, `kind`
    /// and `metadata` `name`, `namespace`, `uid` and `resourceVersion`.
    pub fn object(&self) -> Value {
        if let Some(parsed) = self.body.as_deref().and_then(|b| serde_json::from_str(b).ok()) {
            return parsed;
        }
        let mut metadata = json!({"name": self.key.name, "uid": self.uid, "resourceVersion": self.resource_version});
        if !self.key.namespace.is_empty() {
            metadata["namespace"] = Value::String(self.key.namespace.clone());
        }
        json!({"apiVersion": self.api_version, "kind": self.key.kind, "metadata": metadata})
    }

    /// Whether the full body is kept (the object is tracked).
    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// The uids in its `ownerReferences`.
    pub fn owner_uids(&self) -> impl Iterator<Item = &str> {
        self.owner_uids.iter().map(|u| &**u)
    }
}

/// One node of a resource tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRef {
    /// Group, kind, namespace and name.
    pub key: ResourceKey,
    /// The apiVersion its kind is watched in.
    pub api_version: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// The uid of the owner through which it was reached.
    pub parent_uid: String,
    /// The app its own tracking annotation names, if any.
    pub app: Option<Arc<str>>,
}

/// Sizes, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Kinds being watched.
    pub kinds: usize,
    /// Objects held (tracked or not).
    pub objects: usize,
    /// Objects with a valid tracking annotation (their body is kept).
    pub tracked: usize,
    /// Approximate bytes held by objects and indexes.
    pub bytes: usize,
}

/// The state of one kind's watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Listing (first time or after an error).
    Listing,
    /// Listed and watching.
    Synced,
    /// Failed before the first list completed, or no longer served; the
    /// kind has been dropped.
    Failed(String),
    /// Shut down.
    Stopped,
}

/// One watched kind: its objects and its watch's state.
#[derive(Debug)]
pub(crate) struct KindWatch {
    pub(crate) store: Arc<KindStore>,
    pub(crate) resource: ApiResource,
    pub(crate) phase: watch::Sender<Phase>,
    pub(crate) synced_once: AtomicBool,
    /// Bumped to make the watch re-list (the kept managers changed).
    pub(crate) resync: watch::Sender<u64>,
}

type GroupKind = (String, String);

/// What the watch tasks share with the cache. Holds no client and no stop
/// signal, so the tasks do not keep the cache alive.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tracking_annotation: String,
    pub(crate) keep: RwLock<Arc<KeepManagers>>,
    pub(crate) kinds: RwLock<HashMap<GroupKind, Arc<KindWatch>>>,
    pub(crate) owners: Index,
    pub(crate) apps: Index,
    pub(crate) events: broadcast::Sender<Arc<str>>,
    pub(crate) discovery: DiscoveryCache,
}

struct Inner {
    client: kube::Client,
    shared: Arc<Shared>,
    discovery_refresh_min: Duration,
    shutdown: watch::Receiver<bool>,
    /// Dropped with the last clone of the cache; the tasks see the channel
    /// close and stop.
    alive: watch::Sender<()>,
}

/// The live state of one cluster. Clone is cheap.
#[derive(Clone)]
pub struct LiveCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCache").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

/// The children kinds whose controllers create: `(apiVersion, kind)`.
fn child_kinds(group: &str, kind: &str) -> &'static [(&'static str, &'static str)] {
    match (group, kind) {
        ("apps", "Deployment") => &[("apps/v1", "ReplicaSet")],
        ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => &[("v1", "Pod")],
        ("batch", "CronJob") => &[("batch/v1", "Job")],
        _ => &[],
    }
}

impl LiveCache {
    /// Starts with no watches. Watch tasks (spawned by [`LiveCache::watch`]
    /// on the current runtime) stop when `shutdown` becomes true or the last
    /// clone of the cache is dropped. A dropped `shutdown` sender is not a
    /// shutdown.
    pub fn new(client: kube::Client, config: LiveConfig, shutdown: watch::Receiver<bool>) -> Self {
        let (events, _) = broadcast::channel(config.events_capacity.max(1));
        let shared = Arc::new(Shared {
            tracking_annotation: config.tracking_annotation,
            keep: RwLock::new(Arc::new(config.keep_managers)),
            kinds: RwLock::new(HashMap::new()),
            owners: Index::default(),
            apps: Index::default(),
            events,
            discovery: DiscoveryCache::default(),
        });
        let (alive, _) = watch::channel(());
        LiveCache {
            inner: Arc::new(Inner {
                client,
                shared,
                discovery_refresh_min: config.discovery_refresh_min,
                shutdown,
                alive,
            }),
        }
    }

    /// The client the cache watches with.
    pub fn client(&self) -> &kube::Client {
        &self.inner.client
    }

    /// The cluster's version and served API versions (cached for a few
    /// minutes), for Helm's `.Capabilities`.
    pub async fn capabilities(&self) -> Result<Arc<Capabilities>, LiveError> {
        self.inner.shared.discovery.capabilities(&self.inner.client).await
    }

    /// apiVersion + kind → the API resource, via discovery of that group
    /// version, cached. A miss rediscovers (at most once per
    /// `discovery_refresh_min` per group version), so a CRD created moments
    /// ago resolves.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Resolved, LiveError> {
        let inner = &self.inner;
        inner.shared.discovery.resolve(&inner.client, api_version, kind, inner.discovery_refresh_min).await
    }

    /// Ensures this kind, and the kinds its controllers create (Deployment →
    /// ReplicaSet → Pod, StatefulSet/DaemonSet/Job → Pod, CronJob → Job), are
    /// watched cluster-wide. Returns once each has been listed, so a
    /// following read is complete. Cheap when already watched.
    pub async fn watch(&self, resolved: &Resolved) -> Result<(), LiveError> {
        if *self.inner.shutdown.borrow() {
            return Err(LiveError::Stopped);
        }
        let mut kinds = vec![resolved.clone()];
        let mut next = 0;
        while let Some(parent) = kinds.get(next).map(|r| r.resource.clone()) {
            next += 1;
            for (api_version, kind) in child_kinds(&parent.group, &parent.kind) {
                match self.resolve(api_version, kind).await {
                    Ok(child) => {
                        if !kinds
                            .iter()
                            .any(|k| k.resource.kind == child.resource.kind && k.resource.group == child.resource.group)
                        {
                            kinds.push(child);
                        }
                    }
                    // A cluster without workloads API: no tree below.
                    Err(LiveError::UnknownKind { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let watches: Vec<Arc<KindWatch>> = kinds.iter().map(|r| self.start(r)).collect();
        for kind in watches {
            self.wait_synced(&kind).await?;
        }
        Ok(())
    }

    fn start(&self, resolved: &Resolved) -> Arc<KindWatch> {
        let resource = &resolved.resource;
        let gk = (resource.group.clone(), resource.kind.clone());
        let mut kinds = write(&self.inner.shared.kinds);
        if let Some(existing) = kinds.get(&gk) {
            return existing.clone();
        }
        let info = KindInfo {
            group: resource.group.clone(),
            kind: resource.kind.clone(),
            api_version: resource.api_version.clone(),
        };
        let kind = Arc::new(KindWatch {
            store: Arc::new(KindStore::new(info)),
            resource: resource.clone(),
            phase: watch::channel(Phase::Listing).0,
            synced_once: AtomicBool::new(false),
            resync: watch::channel(0).0,
        });
        kinds.insert(gk, kind.clone());
        drop(kinds);
        tokio::spawn(task::run(task::TaskContext {
            client: self.inner.client.clone(),
            shared: self.inner.shared.clone(),
            kind: kind.clone(),
            alive: self.inner.alive.subscribe(),
            shutdown: self.inner.shutdown.clone(),
        }));
        kind
    }

    async fn wait_synced(&self, kind: &KindWatch) -> Result<(), LiveError> {
        let mut phase = kind.phase.subscribe();
        loop {
            if kind.synced_once.load(Ordering::Acquire) {
                return Ok(());
            }
            match &*phase.borrow_and_update() {
                Phase::Synced => return Ok(()),
                Phase::Failed(message) => {
                    let name = format!("{}/{}", kind.resource.group, kind.resource.kind);
                    return Err(LiveError::Watch { kind: name, message: message.clone() });
                }
                Phase::Stopped => return Err(LiveError::Stopped),
                Phase::Listing => {}
            }
            // The sender lives in `kind`, which we hold: this only ends with a change.
            if phase.changed().await.is_err() {
                return Err(LiveError::Stopped);
            }
        }
    }

    /// Objects whose tracking annotation names `app` (and this very
    /// object), any watched kind, sorted by key.
    pub fn managed_by(&self, app: &str) -> Vec<LiveObject> {
        let mut out: Vec<LiveObject> = self
            .inner
            .shared
            .apps
            .get(app)
            .into_iter()
            .filter_map(|loc| {
                let objects = read(&loc.kind.objects);
                let entry = objects.get(&loc.name).filter(|e| e.app.as_deref() == Some(app))?;
                Some(loc.kind.live_object(&loc.name, entry))
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// One object by key (any watched kind), tracked or not.
    pub fn get(&self, key: &ResourceKey) -> Option<LiveObject> {
        let kind = read(&self.inner.shared.kinds).get(&(key.group.clone(), key.kind.clone())).cloned()?;
        let name: ObjectName = (key.namespace.as_str().into(), key.name.as_str().into());
        let objects = read(&kind.store.objects);
        objects.get(&name).map(|entry| kind.store.live_object(&name, entry))
    }

    /// The resource tree below the object with this uid: its children by
    /// ownerReferences, transitively, breadth first (each level sorted by
    /// key). Only watched kinds appear.
    pub fn children(&self, uid: &str) -> Vec<ChildRef> {
        store::descendants(&self.inner.shared.owners, uid)
    }

    /// Every change to an object whose tracking annotation names an app
    /// (added, modified, deleted, or the annotation removed: the old app is
    /// told) sends that app's name. A lagging receiver gets
    /// `RecvError::Lagged` and must treat it as "everything changed".
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.shared.events.subscribe()
    }

    /// Changes which managedFields entries are kept. Widening it makes every
    /// watch re-list so stored bodies gain the entries.
    pub fn set_keep_managers(&self, keep: KeepManagers) {
        {
            let mut current = write(&self.inner.shared.keep);
            if **current == keep {
                return;
            }
            *current = Arc::new(keep);
        }
        for kind in read(&self.inner.shared.kinds).values() {
            kind.resync.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Counts for metrics and benchmarks.
    pub fn stats(&self) -> CacheStats {
        let shared = &self.inner.shared;
        let kinds: Vec<Arc<KindWatch>> = read(&shared.kinds).values().cloned().collect();
        let mut stats = CacheStats { kinds: kinds.len(), ..CacheStats::default() };
        for kind in &kinds {
            let (objects, tracked, bytes) = kind.store.stats();
            stats.objects += objects;
            stats.tracked += tracked;
            stats.bytes += bytes;
        }
        stats.bytes += shared.owners.bytes() + shared.apps.bytes();
        stats
    }

    /// Whether every watch is listed and connected (false while one is
    /// re-listing after an error).
    pub fn healthy(&self) -> bool {
        read(&self.inner.shared.kinds).values().all(|k| *k.phase.borrow() == Phase::Synced)
    }
}
