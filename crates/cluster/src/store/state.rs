//! What readers see: every object, the recent history, and the watchers.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::{Event, EventKind, ListOptions, ListPage, NOT_LAGGED, ObjectKey, Scope, StoreError, StoredObject, Watch};

/// Every object, by resource, then by (namespace, name): iterating it yields
/// keys in `ObjectKey` order.
pub(super) type Objects = BTreeMap<String, BTreeMap<(String, String), StoredObject>>;

/// One live watcher, as the committer sees it.
struct Watcher {
    scope: Scope,
    events: mpsc::Sender<Arc<Event>>,
    lagged: Arc<AtomicU64>,
}

/// The store's in-memory state. Changed only by the committer, after a
/// durable commit.
pub(super) struct State {
    objects: Objects,
    /// The resourceVersion of the last commit.
    pub(super) rv: u64,
    /// The most recent events, oldest first.
    history: VecDeque<Arc<Event>>,
    /// Every event newer than this is in `history`: the oldest
    /// resourceVersion that lists and watches may start from.
    pub(super) history_start: u64,
    history_limit: usize,
    watchers: Vec<Watcher>,
    watch_buffer: usize,
}

impl State {
    pub(super) fn new(objects: Objects, rv: u64, history_limit: usize, watch_buffer: usize) -> State {
        State {
            objects,
            rv,
            history: VecDeque::new(),
            // The history of earlier runs is gone: only `rv` can be resumed from.
            history_start: rv,
            history_limit,
            watchers: Vec::new(),
            watch_buffer,
        }
    }

    pub(super) fn get(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.objects.get(&key.resource)?.get(&(key.namespace.clone(), key.name.clone())).cloned()
    }

    /// Applies durable events, in commit order: the objects, the history,
    /// then the watchers.
    pub(super) fn apply(&mut self, events: &[Arc<Event>]) {
        for event in events {
            let key = &event.key;
            match event.kind {
                EventKind::Added | EventKind::Modified => {
                    self.objects
                        .entry(key.resource.clone())
                        .or_default()
                        .insert((key.namespace.clone(), key.name.clone()), event.object.clone());
                }
                EventKind::Deleted => {
                    if let Some(map) = self.objects.get_mut(&key.resource) {
                        map.remove(&(key.namespace.clone(), key.name.clone()));
                        if map.is_empty() {
                            self.objects.remove(&key.resource);
                        }
                    }
                }
            }
            self.rv = event.object.rv;
            self.history.push_back(Arc::clone(event));
            while self.history.len() > self.history_limit {
                match self.history.pop_front() {
                    Some(dropped) => self.history_start = dropped.object.rv,
                    None => break,
                }
            }
        }
        self.publish(events);
    }

    /// Hands `events` to every watcher whose scope they are in. Never
    /// waits: a watcher whose buffer is full is dropped, and its stream
    /// ends with `Expired`.
    fn publish(&mut self, events: &[Arc<Event>]) {
        let history_start = self.history_start;
        self.watchers.retain(|watcher| {
            for event in events {
                if !watcher.scope.contains(&event.key) {
                    continue;
                }
                match watcher.events.try_send(Arc::clone(event)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        watcher.lagged.store(history_start, Ordering::Release);
                        return false;
                    }
                    // The watch was dropped.
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            !watcher.events.is_closed()
        });
    }

    /// Ends every watch (they see `None` once they have read what they hold).
    pub(super) fn close_watchers(&mut self) {
        self.watchers.clear();
    }

    pub(super) fn subscribe(&mut self, scope: &Scope, since_rv: u64) -> Result<Watch, StoreError> {
        if since_rv < self.history_start {
            return Err(StoreError::Expired { requested: since_rv, oldest: self.history_start });
        }
        let first = self.history.partition_point(|e| e.object.rv <= since_rv);
        let replay = self.history.range(first..).filter(|e| scope.contains(&e.key)).cloned().collect();
        let (sender, live) = mpsc::channel(self.watch_buffer);
        let lagged = Arc::new(AtomicU64::new(NOT_LAGGED));
        self.watchers.push(Watcher { scope: scope.clone(), events: sender, lagged: Arc::clone(&lagged) });
        Ok(Watch { replay, live, lagged, last_rv: since_rv, finished: false })
    }

    pub(super) fn list(&self, scope: &Scope, options: &ListOptions) -> Result<ListPage, StoreError> {
        // A past snapshot is the current state with the newer events of the
        // scope undone: for each key they touched, the state before the
        // oldest of them.
        let mut undone: BTreeMap<ObjectKey, Option<StoredObject>> = BTreeMap::new();
        let rv = match options.at_rv {
            Some(at) if at < self.rv => {
                if at < self.history_start {
                    return Err(StoreError::Expired { requested: at, oldest: self.history_start });
                }
                for event in self.history.iter().rev() {
                    if event.object.rv <= at {
                        break;
                    }
                    if scope.contains(&event.key) {
                        undone.insert(event.key.clone(), event.previous.clone());
                    }
                }
                at
            }
            _ => self.rv,
        };

        let after = options.start_after.as_ref();
        let mut current = self.scan(scope, after).peekable();
        let undone_lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut undone = undone.range((undone_lower, Bound::Unbounded)).peekable();

        let limit = options.limit.unwrap_or(usize::MAX);
        let mut page = ListPage { items: Vec::new(), keys: Vec::new(), rv, more: false };
        loop {
            let order = match (current.peek(), undone.peek()) {
                (None, None) => break,
                (Some(_), None) => CmpOrdering::Less,
                (None, Some(_)) => CmpOrdering::Greater,
                (Some((resource, (namespace, name), _)), Some((key, _))) => (
                    *resource,
                    namespace.as_str(),
                    name.as_str(),
                )
                    .cmp(&(key.resource.as_str(), key.namespace.as_str(), key.name.as_str())),
            };
            let item = match order {
                CmpOrdering::Less => current.next().map(|(resource, (namespace, name), object)| {
                    let key =
                        ObjectKey { resource: resource.to_owned(), namespace: namespace.clone(), name: name.clone() };
                    (key, object.clone())
                }),
                CmpOrdering::Greater | CmpOrdering::Equal => {
                    if order == CmpOrdering::Equal {
                        current.next();
                    }
                    undone.next().and_then(|(key, object)| Some((key.clone(), object.clone()?)))
                }
            };
            let Some((key, object)) = item else { continue };
            if page.items.len() == limit {
                page.more = true;
                break;
            }
            page.keys.push(key);
            page.items.push(object);
        }
        Ok(page)
    }

    /// The current objects of `scope` after `after`, in key order.
    fn scan<'a>(
        &'a self,
        scope: &'a Scope,
        after: Option<&'a ObjectKey>,
    ) -> impl Iterator<Item = (&'a str, &'a (String, String), &'a StoredObject)> + 'a {
        let resources: Box<dyn Iterator<Item = (&'a String, &'a _)> + 'a> = match (&scope.resource, after) {
            (Some(resource), _) => Box::new(self.objects.get_key_value(resource).into_iter()),
            (None, Some(after)) => {
                Box::new(self.objects.range::<str, _>((Bound::Included(after.resource.as_str()), Bound::Unbounded)))
            }
            (None, None) => Box::new(self.objects.iter()),
        };
        resources.flat_map(move |(resource, map)| {
            let range = start_bound(resource, scope.namespace.as_deref(), after)
                .map(|lower| map.range((lower, Bound::Unbounded)));
            range
                .into_iter()
                .flatten()
                .take_while(move |((namespace, _), _)| scope.namespace.as_ref().is_none_or(|n| n == namespace))
                .map(move |(key, object)| (resource.as_str(), key, object))
        })
    }
}

/// Where to start in the map of `resource`, given the namespace filter and
/// the key to start after; `None` when nothing in it qualifies.
fn start_bound(resource: &str, namespace: Option<&str>, after: Option<&ObjectKey>) -> Option<Bound<(String, String)>> {
    let after = match after {
        Some(a) => match a.resource.as_str().cmp(resource) {
            CmpOrdering::Less => None,
            CmpOrdering::Equal => Some((a.namespace.as_str(), a.name.as_str())),
            CmpOrdering::Greater => return None,
        },
        None => None,
    };
    let exclusive = |ns: &str, name: &str| Bound::Excluded((ns.to_owned(), name.to_owned()));
    match (namespace, after) {
        (None, None) => Some(Bound::Unbounded),
        (None, Some((ns, name))) => Some(exclusive(ns, name)),
        (Some(wanted), None) => Some(Bound::Included((wanted.to_owned(), String::new()))),
        (Some(wanted), Some((ns, name))) => match ns.cmp(wanted) {
            CmpOrdering::Less => Some(Bound::Included((wanted.to_owned(), String::new()))),
            CmpOrdering::Equal => Some(exclusive(ns, name)),
            CmpOrdering::Greater => None,
        },
    }
}
