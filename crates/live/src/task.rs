//! The watch task of one kind: kube-runtime's watcher into the kind's store.
//!
//! Any watch error drops the watcher and, after a backoff, starts a fresh
//! one, which lists again: that is the moment the cache knows it is
//! complete again (a silently resumed watch would give no such signal), and
//! entries not seen in the new list are removed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, DefaultBackoff, Event};
use tokio::sync::watch;

use crate::store::{self, Entry, Incoming, Loc, ObjectName, read, write};
use crate::{KindWatch, Phase, Shared};

/// What a watch task needs.
pub(crate) struct TaskContext {
    pub(crate) client: kube::Client,
    pub(crate) shared: Arc<Shared>,
    pub(crate) kind: Arc<KindWatch>,
    pub(crate) alive: watch::Receiver<()>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Why a watcher stream was left.
enum Leave {
    Stop,
    Resync,
    Error(watcher::Error),
    Ended,
}

/// Resolves when the cache is dropped or shutdown is requested.
async fn stopping(alive: &mut watch::Receiver<()>, shutdown: &mut watch::Receiver<bool>) {
    let dropped = async {
        // Only ever ends with an error: the sender never sends.
        while alive.changed().await.is_ok() {}
    };
    let shut = async {
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            // The sender is gone without asking to stop: never stop for it.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = dropped => {}
        () = shut => {}
    }
}

fn is_not_found(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 404,
        watcher::Error::WatchError(status) => status.code == 404,
        _ => false,
    }
}

pub(crate) async fn run(mut cx: TaskContext) {
    let api: Api<DynamicObject> = Api::all_with(cx.client.clone(), &cx.kind.resource);
    let mut backoff = DefaultBackoff::default();
    let mut resync = cx.kind.resync.subscribe();
    let mut epoch: u32 = 0;
    let name = format!("{}/{}", cx.kind.resource.group, cx.kind.resource.kind);
    loop {
        let mut stream = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
        // Apps changed by the current list, told once it completes.
        let mut listed_apps = BTreeSet::new();
        let leave = loop {
            tokio::select! {
                () = stopping(&mut cx.alive, &mut cx.shutdown) => break Leave::Stop,
                changed = resync.changed() => {
                    if changed.is_ok() { break Leave::Resync }
                }
                item = stream.next() => match item {
                    Some(Ok(event)) => {
                        if let Event::Init = event {
                            epoch = epoch.wrapping_add(1);
                            cx.kind.phase.send_replace(Phase::Listing);
                        }
                        apply(&cx, event, epoch, &mut listed_apps);
                    }
                    Some(Err(error)) => break Leave::Error(error),
                    None => break Leave::Ended,
                },
            }
        };
        drop(stream);
        match leave {
            Leave::Stop => {
                cx.kind.phase.send_replace(Phase::Stopped);
                return;
            }
            Leave::Resync => continue,
            Leave::Error(error) if is_not_found(&error) => {
                tracing::info!(kind = %name, "kind no longer served; dropping its watch");
                drop_kind(&cx, "the kind is no longer served");
                return;
            }
            Leave::Error(error) if !cx.kind.synced_once.load(Ordering::Acquire) => {
                tracing::warn!(kind = %name, %error, "initial list failed");
                drop_kind(&cx, &error.to_string());
                return;
            }
            Leave::Error(error) => {
                tracing::warn!(kind = %name, %error, "watch failed; re-listing after a backoff");
            }
            Leave::Ended => {}
        }
        cx.kind.phase.send_replace(Phase::Listing);
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        tokio::select! {
            () = stopping(&mut cx.alive, &mut cx.shutdown) => {
                cx.kind.phase.send_replace(Phase::Stopped);
                return;
            }
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Applies one watcher event to the store and tells the apps concerned.
fn apply(cx: &TaskContext, event: Event<DynamicObject>, epoch: u32, listed_apps: &mut BTreeSet<Arc<str>>) {
    match event {
        Event::Init => listed_apps.clear(),
        Event::InitApply(object) => {
            if let Some(incoming) = decode(cx, object, epoch) {
                listed_apps.extend(upsert(cx, incoming));
            }
        }
        Event::InitDone => {
            listed_apps.extend(sweep(cx, epoch));
            for app in std::mem::take(listed_apps) {
                let _ = cx.shared.events.send(app);
            }
            cx.kind.synced_once.store(true, Ordering::Release);
            cx.kind.phase.send_replace(Phase::Synced);
        }
        Event::Apply(object) => {
            if let Some(incoming) = decode(cx, object, epoch) {
                notify(cx, upsert(cx, incoming));
            }
        }
        Event::Delete(object) => {
            if let Some(incoming) = decode(cx, object, epoch) {
                let mut apps = remove(cx, &incoming.name);
                apps.extend(incoming.entry.app);
                notify(cx, apps);
            }
        }
    }
}

fn notify(cx: &TaskContext, apps: impl IntoIterator<Item = Arc<str>>) {
    let unique: BTreeSet<Arc<str>> = apps.into_iter().collect();
    for app in unique {
        // No receiver is not an error: nobody is listening yet.
        let _ = cx.shared.events.send(app);
    }
}

fn decode(cx: &TaskContext, object: DynamicObject, epoch: u32) -> Option<Incoming> {
    let value = match serde_json::to_value(object) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(%error, "cannot re-encode a watched object; skipping it");
            return None;
        }
    };
    let keep = read(&cx.shared.keep).clone();
    store::incoming(value, &cx.kind.store.info, &cx.shared.tracking_annotation, &keep, epoch)
}

fn owners_of(entry: Option<&Entry>) -> Vec<&str> {
    entry.map(|e| e.owners.iter().map(|o| &**o).collect()).unwrap_or_default()
}

fn app_of(entry: Option<&Entry>) -> Vec<&str> {
    entry.and_then(|e| e.app.as_deref()).into_iter().collect()
}

/// Stores an object; returns the apps to tell (old and new owner app) when
/// it changed.
fn upsert(cx: &TaskContext, incoming: Incoming) -> Vec<Arc<str>> {
    let Incoming { name, entry } = incoming;
    let new = entry.clone();
    let old = write(&cx.kind.store.objects).insert(name.clone(), entry);
    let loc = Loc { kind: cx.kind.store.clone(), name };
    cx.shared.owners.update(&loc, &owners_of(old.as_ref()), &owners_of(Some(&new)));
    cx.shared.apps.update(&loc, &app_of(old.as_ref()), &app_of(Some(&new)));
    let changed = old.as_ref().is_none_or(|o| o.resource_version != new.resource_version || o.app != new.app);
    if !changed {
        return Vec::new();
    }
    old.and_then(|o| o.app).into_iter().chain(new.app).collect()
}

/// Removes an object; returns its app, if any.
fn remove(cx: &TaskContext, name: &ObjectName) -> Vec<Arc<str>> {
    let old = write(&cx.kind.store.objects).remove(name);
    let Some(old) = old else { return Vec::new() };
    let loc = Loc { kind: cx.kind.store.clone(), name: name.clone() };
    cx.shared.owners.update(&loc, &owners_of(Some(&old)), &[]);
    cx.shared.apps.update(&loc, &app_of(Some(&old)), &[]);
    old.app.into_iter().collect()
}

/// After a list: removes what the list did not contain (deleted while the
/// watch was down); returns their apps.
fn sweep(cx: &TaskContext, epoch: u32) -> Vec<Arc<str>> {
    let stale: Vec<ObjectName> =
        read(&cx.kind.store.objects).iter().filter(|(_, e)| e.epoch != epoch).map(|(name, _)| name.clone()).collect();
    stale.iter().flat_map(|name| remove(cx, name)).collect()
}

/// Forgets the kind entirely: its objects (telling their apps), its place
/// in the kind map and its discovery entry; waiters get `message`.
fn drop_kind(cx: &TaskContext, message: &str) {
    let all: Vec<ObjectName> = read(&cx.kind.store.objects).keys().cloned().collect();
    let apps: Vec<Arc<str>> = all.iter().flat_map(|name| remove(cx, name)).collect();
    notify(cx, apps);
    let resource = &cx.kind.resource;
    {
        let mut kinds = write(&cx.shared.kinds);
        let key = (resource.group.clone(), resource.kind.clone());
        if kinds.get(&key).is_some_and(|k| Arc::ptr_eq(k, &cx.kind)) {
            kinds.remove(&key);
        }
    }
    cx.shared.discovery.forget(&resource.api_version, &resource.kind);
    cx.kind.phase.send_replace(Phase::Failed(message.to_owned()));
}
