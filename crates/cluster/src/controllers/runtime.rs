//! The machinery every controller shares: a deduplicating work queue with
//! delayed requeues, a list-then-watch loop over the store, the worker loop
//! that turns reconcile outcomes into requeues, and small JSON accessors.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::api::{ApiError, Cluster, ListParams, Reason, WriteOptions};
use crate::registry::ResourceType;
use crate::store::{Event, EventKind, ListOptions, Scope, Store, StoreError};

/// Wall-clock time, as written in object timestamps.
pub(crate) type Timestamp = DateTime<Utc>;

/// What a reconcile wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing until the object (or something it watches) changes.
    Done,
    /// Look again after this delay (a timer, for example a readiness delay).
    After(Duration),
}

impl Next {
    /// The sooner of two outcomes.
    pub(crate) fn min(self, other: Next) -> Next {
        match (self, other) {
            (Next::Done, o) | (o, Next::Done) => o,
            (Next::After(a), Next::After(b)) => Next::After(a.min(b)),
        }
    }
}

struct QueueState<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    /// Pending delayed requeues: only the earliest per key is kept, so
    /// repeated requeues of one key never pile up timers.
    delayed: HashMap<K, Instant>,
}

/// A queue of keys to reconcile: a key queued twice is reconciled once.
pub(crate) struct Queue<K> {
    state: Mutex<QueueState<K>>,
    notify: Notify,
}

impl<K: Clone + Eq + Hash + Send + Sync + 'static> Queue<K> {
    pub(crate) fn new() -> Arc<Queue<K>> {
        Arc::new(Queue {
            state: Mutex::new(QueueState { ready: VecDeque::new(), queued: HashSet::new(), delayed: HashMap::new() }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<K>> {
        // A poisoned lock only means another thread panicked mid-push; the
        // queue's state is still a valid set of keys.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now.
    pub(crate) fn add(&self, key: K) {
        let mut state = self.lock();
        if state.queued.insert(key.clone()) {
            state.ready.push_back(key);
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Queues `key` after `delay`.
    pub(crate) fn add_after(self: &Arc<Self>, key: K, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let due = Instant::now() + delay;
        {
            let mut state = self.lock();
            match state.delayed.get(&key) {
                Some(existing) if *existing <= due => return,
                _ => {
                    state.delayed.insert(key.clone(), due);
                }
            }
        }
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let fire = {
                let mut state = queue.lock();
                if state.delayed.get(&key) == Some(&due) {
                    state.delayed.remove(&key);
                    true
                } else {
                    // An earlier timer for the same key replaced this one.
                    false
                }
            };
            if fire {
                queue.add(key);
            }
        });
    }

    /// The next key to reconcile.
    pub(crate) async fn next(&self) -> K {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.lock();
                if let Some(key) = state.ready.pop_front() {
                    state.queued.remove(&key);
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Number of keys waiting (not counting delayed ones).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().ready.len()
    }
}

/// Resolves when shutdown is requested (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps, or returns early (with `false`) on shutdown.
pub(crate) async fn sleep_or_stop(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = stopped(shutdown) => false,
    }
}

/// What a store follower sees.
pub(crate) enum Change {
    /// The follower (re)listed: forget everything known so far; `Added`
    /// events for every object follow.
    Reset,
    /// One object changed (or was listed).
    Event(Arc<Event>),
}

/// Lists `scope`, then follows its watch; relists when the watch expires.
/// Returns on shutdown or when the store closes.
pub(crate) async fn follow(
    store: Store,
    scope: Scope,
    mut shutdown: watch::Receiver<bool>,
    mut handle: impl FnMut(Change),
) {
    loop {
        let page = match store.list(&scope, &ListOptions::default()) {
            Ok(page) => page,
            Err(StoreError::Closed) => return,
            Err(error) => {
                tracing::warn!(?scope, %error, "controller list failed; retrying");
                if !sleep_or_stop(Duration::from_secs(1), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        handle(Change::Reset);
        let rv = page.rv;
        for (key, object) in page.keys.into_iter().zip(page.items) {
            handle(Change::Event(Arc::new(Event { kind: EventKind::Added, key, object, previous: None })));
        }
        let mut watch = match store.watch(&scope, rv) {
            Ok(watch) => watch,
            Err(StoreError::Closed) => return,
            Err(error) => {
                tracing::warn!(?scope, %error, "controller watch failed; relisting");
                if !sleep_or_stop(Duration::from_millis(200), &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                event = watch.next() => match event {
                    None => return,
                    Some(Ok(event)) => handle(Change::Event(event)),
                    Some(Err(StoreError::Expired { .. })) => break,
                    Some(Err(StoreError::Closed)) => return,
                    Some(Err(error)) => {
                        tracing::warn!(?scope, %error, "controller watch broke; relisting");
                        break;
                    }
                },
            }
        }
    }
}

/// Runs `reconcile` for each queued key until shutdown. Conflicts requeue
/// at once (the object moved on; look again), other errors after a backoff.
pub(crate) async fn work<K, F, Fut>(
    name: &'static str,
    queue: Arc<Queue<K>>,
    mut shutdown: watch::Receiver<bool>,
    mut reconcile: F,
) where
    K: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Result<Next, ApiError>>,
{
    let mut failures: HashMap<K, u32> = HashMap::new();
    loop {
        let key = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            key = queue.next() => key,
        };
        let outcome = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            outcome = reconcile(key.clone()) => outcome,
        };
        match outcome {
            Ok(next) => {
                failures.remove(&key);
                if let Next::After(delay) = next {
                    queue.add_after(key, delay);
                }
            }
            Err(error) => {
                let count = failures.entry(key.clone()).or_insert(0);
                *count = count.saturating_add(1);
                let delay = retry_delay(&error, *count);
                if matches!(
                    error.reason,
                    Reason::Conflict | Reason::AlreadyExists | Reason::NotFound | Reason::Forbidden
                ) {
                    tracing::debug!(controller = name, ?key, reason = ?error.reason, message = %error.message, "reconcile raced; retrying");
                } else {
                    tracing::warn!(controller = name, ?key, reason = ?error.reason, message = %error.message, "reconcile failed; retrying");
                }
                queue.add_after(key, delay);
            }
        }
    }
}

/// Backoff after a failed reconcile: races retry fast, real failures back
/// off exponentially up to 30 s.
pub(crate) fn retry_delay(error: &ApiError, attempt: u32) -> Duration {
    let base = match error.reason {
        Reason::Conflict | Reason::AlreadyExists | Reason::NotFound | Reason::Forbidden => Duration::from_millis(20),
        _ => Duration::from_millis(500),
    };
    let factor = 1u32 << attempt.saturating_sub(1).min(10);
    (base * factor).min(Duration::from_secs(30))
}

/// An `InternalError` for failures of the controllers' own making.
pub(crate) fn internal(message: impl Into<String>) -> ApiError {
    ApiError {
        reason: Reason::InternalError,
        message: message.into(),
        kind: None,
        group: None,
        name: None,
        causes: Vec::new(),
    }
}

/// The resource type served for `group/version/plural`, or an error naming it.
pub(crate) fn resource(
    cluster: &Cluster,
    group: &str,
    version: &str,
    plural: &str,
) -> Result<Arc<ResourceType>, ApiError> {
    cluster
        .registry()
        .resolve(group, version, plural)
        .ok_or_else(|| internal(format!("resource {plural}.{version}.{group} is not served")))
}

/// Every resource type served, one version per storage resource (`group/plural`).
pub(crate) fn storage_resources(cluster: &Cluster) -> Vec<Arc<ResourceType>> {
    let registry = cluster.registry();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for rt in registry.resources() {
        if seen.insert(rt.storage_resource()) {
            out.push(Arc::clone(rt));
        }
    }
    out
}

/// The resource type behind a storage resource (`group/plural`).
pub(crate) fn by_storage_resource(cluster: &Cluster, storage: &str) -> Option<Arc<ResourceType>> {
    let registry = cluster.registry();
    let any = registry.resources().iter().find(|rt| rt.storage_resource() == storage)?;
    // Prefer the version objects are stored in, so reads need no conversion.
    registry.resolve(&any.group, &registry.storage_version(any), &any.plural).or_else(|| Some(Arc::clone(any)))
}

/// The resource type of `apiVersion` + `kind`.
pub(crate) fn by_api_version_kind(cluster: &Cluster, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
    let (group, version) = split_api_version(api_version);
    cluster.registry().by_kind(group, version, kind)
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// Lists every object of `rt` in `namespace` (or all namespaces), parsed.
pub(crate) fn list_values(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let result = cluster.list(rt, namespace, &ListParams::default())?;
    let mut out = Vec::with_capacity(result.items.len());
    for item in result.items {
        match serde_json::from_slice(&item) {
            Ok(value) => out.push(value),
            Err(error) => tracing::warn!(%error, "skipping an unparsable stored object"),
        }
    }
    Ok(out)
}

/// Reads an object; `None` when it does not exist.
pub(crate) fn get_opt(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    match cluster.get(rt, namespace, name) {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.reason == Reason::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Write options naming `manager` as the field manager.
pub(crate) fn manager(manager: &str) -> WriteOptions {
    WriteOptions { field_manager: Some(manager.to_owned()), ..WriteOptions::default() }
}

/// Treats `AlreadyExists` (create) and `NotFound` (delete) as success: the
/// level a controller wanted is reached either way.
pub(crate) fn tolerate<T>(result: Result<T, ApiError>, reason: Reason) -> Result<Option<T>, ApiError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.reason == reason => Ok(None),
        Err(error) => Err(error),
    }
}

/// Formats a timestamp as Kubernetes does (RFC 3339, whole seconds, `Z`).
pub(crate) fn format_time(time: Timestamp) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The time from `now` until `then`, zero if past.
pub(crate) fn until(now: Timestamp, then: Timestamp) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

/// Follows a path of object keys.
pub(crate) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// A string at `path`, or "".
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).and_then(Value::as_str).unwrap_or("")
}

/// An integer at `path`.
pub(crate) fn int_at(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(Value::as_i64)
}

/// `metadata.name`.
pub(crate) fn name_of(value: &Value) -> &str {
    str_at(value, &["metadata", "name"])
}

/// `metadata.namespace`.
pub(crate) fn namespace_of(value: &Value) -> &str {
    str_at(value, &["metadata", "namespace"])
}

/// `metadata.uid`.
pub(crate) fn uid_of(value: &Value) -> &str {
    str_at(value, &["metadata", "uid"])
}

/// The object is being deleted.
pub(crate) fn is_terminating(value: &Value) -> bool {
    at(value, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// `metadata.finalizers`.
pub(crate) fn finalizers(value: &Value) -> Vec<&str> {
    at(value, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A copy of `value` without the finalizer `name` in `metadata.finalizers`.
pub(crate) fn without_finalizer(value: &Value, name: &str) -> Value {
    let mut out = value.clone();
    if let Some(list) = out.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
        list.retain(|f| f.as_str() != Some(name));
    }
    out
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerRef {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) uid: String,
    pub(crate) controller: bool,
    pub(crate) block_owner_deletion: bool,
}

/// `metadata.ownerReferences`, skipping malformed entries.
pub(crate) fn owner_refs(value: &Value) -> Vec<OwnerRef> {
    let Some(list) = at(value, &["metadata", "ownerReferences"]).and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let uid = r.get("uid")?.as_str()?;
            Some(OwnerRef {
                api_version: r.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_owned(),
                kind: r.get("kind").and_then(Value::as_str).unwrap_or("").to_owned(),
                name: r.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
                uid: uid.to_owned(),
                controller: r.get("controller").and_then(Value::as_bool).unwrap_or(false),
                block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// The controlling owner reference, if any.
pub(crate) fn controller_ref(value: &Value) -> Option<OwnerRef> {
    owner_refs(value).into_iter().find(|r| r.controller)
}

/// The objects among `items` whose controller is `owner_uid`.
pub(crate) fn controlled_by(items: Vec<Value>, owner_uid: &str) -> Vec<Value> {
    items.into_iter().filter(|item| controller_ref(item).is_some_and(|r| r.uid == owner_uid)).collect()
}

/// An owner reference to `owner` (an object with apiVersion, kind and metadata).
pub(crate) fn controller_reference(owner: &Value) -> Value {
    serde_json::json!({
        "apiVersion": str_at(owner, &["apiVersion"]),
        "kind": str_at(owner, &["kind"]),
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Sets `key` in `map` to `value` when non-zero, removes it otherwise (the
/// `omitempty` integers of Kubernetes statuses).
pub(crate) fn put_nonzero(map: &mut Map<String, Value>, key: &str, value: i64) {
    if value == 0 {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), Value::from(value));
    }
}

/// A condition, as in `metav1.Condition` and the apps conditions.
#[derive(Debug, Clone)]
pub(crate) struct Condition<'a> {
    pub(crate) type_: &'a str,
    pub(crate) status: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) message: String,
}

/// How a condition's `lastUpdateTime` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateTime {
    /// The condition has no `lastUpdateTime` (pods, jobs, CRDs).
    Absent,
    /// Kept while status and reason are unchanged.
    OnChange,
    /// Set to now: the condition records fresh progress.
    Touch,
}

/// Sets a condition in `conditions` (an array), keeping its
/// `lastTransitionTime` while its status is unchanged.
pub(crate) fn set_condition(
    conditions: &mut Vec<Value>,
    condition: Condition<'_>,
    update_time: UpdateTime,
    now: Timestamp,
) {
    let now_text = format_time(now);
    let existing = conditions.iter().position(|c| c.get("type").and_then(Value::as_str) == Some(condition.type_));
    let previous = existing.map(|i| conditions[i].clone());
    let same_status =
        previous.as_ref().is_some_and(|p| p.get("status").and_then(Value::as_str) == Some(condition.status));
    let same_reason =
        previous.as_ref().is_some_and(|p| p.get("reason").and_then(Value::as_str) == Some(condition.reason));
    let transition = match &previous {
        Some(p) if same_status => p.get("lastTransitionTime").cloned().unwrap_or_else(|| Value::from(now_text.clone())),
        _ => Value::from(now_text.clone()),
    };
    let mut out = Map::new();
    out.insert("type".into(), condition.type_.into());
    out.insert("status".into(), condition.status.into());
    match update_time {
        UpdateTime::Absent => {}
        UpdateTime::OnChange => {
            let kept =
                previous.as_ref().filter(|_| same_status && same_reason).and_then(|p| p.get("lastUpdateTime").cloned());
            out.insert("lastUpdateTime".into(), kept.unwrap_or_else(|| Value::from(now_text.clone())));
        }
        UpdateTime::Touch => {
            out.insert("lastUpdateTime".into(), Value::from(now_text.clone()));
        }
    }
    out.insert("lastTransitionTime".into(), transition);
    out.insert("reason".into(), condition.reason.into());
    out.insert("message".into(), condition.message.into());
    match existing {
        Some(i) => conditions[i] = Value::Object(out),
        None => conditions.push(Value::Object(out)),
    }
}

/// The condition of type `type_` in a status's `conditions`.
pub(crate) fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status.get("conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}
