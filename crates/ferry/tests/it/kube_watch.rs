//! Watches through kube-rs: watcher and reflector, resuming from a
//! resourceVersion, 410 Gone, selector-filtered watches, timeouts and the
//! order of events under concurrent writers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::Duration;

use common::{DEADLINE, Server, Stop, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use serde_json::json;

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        data: Some([("v".to_owned(), "0".to_owned())].into()),
        ..Default::default()
    }
}

fn rv(cm: &ConfigMap) -> u64 {
    cm.resource_version().unwrap().parse().unwrap()
}

/// A watch event reduced to (type, name, resourceVersion); bookmarks are
/// returned as ("BOOKMARK", "", rv).
fn describe(event: &WatchEvent<ConfigMap>) -> (String, String, u64) {
    match event {
        WatchEvent::Added(o) => ("ADDED".into(), o.name_any(), rv(o)),
        WatchEvent::Modified(o) => ("MODIFIED".into(), o.name_any(), rv(o)),
        WatchEvent::Deleted(o) => ("DELETED".into(), o.name_any(), rv(o)),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), String::new(), b.metadata.resource_version.parse().unwrap_or(0)),
        WatchEvent::Error(e) => (format!("ERROR {}", e.code), e.reason.clone(), 0),
    }
}

/// Reads `n` non-bookmark events from a watch, with a deadline.
async fn next_events<S>(stream: &mut S, n: usize) -> Vec<(String, String, u64)>
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, kube::Error>> + Unpin,
{
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(DEADLINE, stream.next()).await;
        match next {
            Ok(Some(Ok(event))) => {
                let d = describe(&event);
                if d.0 != "BOOKMARK" {
                    out.push(d);
                }
            }
            other => panic!("watch ended or stalled after {out:?}: {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let a = api.create(&PostParams::default(), &config_map("a", &[])).await.unwrap();
    let b = api.create(&PostParams::default(), &config_map("b", &[])).await.unwrap();
    let b2 = api.patch("b", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "1"}}))).await.unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();

    let mut stream = api.watch(&WatchParams::default(), &a.resource_version().unwrap()).await.unwrap().boxed();
    let events = next_events(&mut stream, 3).await;
    assert_eq!(
        events.iter().map(|(t, n, _)| (t.as_str(), n.as_str())).collect::<Vec<_>>(),
        [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "a")],
        "exactly the changes after a's resourceVersion"
    );
    assert_eq!(events[0].2, rv(&b));
    assert_eq!(events[1].2, rv(&b2));
    assert!(events[2].2 > rv(&b2), "a delete has its own resourceVersion");

    // Live events follow the replayed ones on the same stream.
    let c = api.create(&PostParams::default(), &config_map("c", &[])).await.unwrap();
    let live = next_events(&mut stream, 1).await;
    assert_eq!(live, [("ADDED".to_owned(), "c".to_owned(), rv(&c))]);

    // Resuming from the delete's resourceVersion sees only what came after.
    let mut later = api.watch(&WatchParams::default(), &events[2].2.to_string()).await.unwrap().boxed();
    assert_eq!(next_events(&mut later, 1).await[0].1, "c");
}

#[tokio::test]
async fn watch_from_before_a_restart_is_gone() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let old = api.create(&PostParams::default(), &config_map("old", &[])).await.unwrap();
    api.create(&PostParams::default(), &config_map("newer", &[])).await.unwrap();
    // The store keeps no watch history across restarts: resourceVersions
    // older than the restart are beyond the kept history.
    let server = server.restart(Stop::Graceful).await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    expect_gone(&api, &old.resource_version().unwrap()).await;

    // The list-then-watch that clients do after a 410 works.
    let list = api.list(&ListParams::default()).await.unwrap();
    let mut stream =
        api.watch(&WatchParams::default(), list.metadata.resource_version.as_deref().unwrap()).await.unwrap().boxed();
    api.create(&PostParams::default(), &config_map("after", &[])).await.unwrap();
    assert_eq!(next_events(&mut stream, 1).await[0].1, "after");
}

/// A watch from `resource_version` must fail with 410 Gone, either as the
/// HTTP status or as the stream's first event (Kubernetes sends the latter).
async fn expect_gone(api: &Api<ConfigMap>, resource_version: &str) {
    match api.watch(&WatchParams::default(), resource_version).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"), "{status:?}");
        }
        Err(other) => panic!("watch failed without a 410: {other:?}"),
        Ok(stream) => {
            let mut stream = stream.boxed();
            match tokio::time::timeout(DEADLINE, stream.next()).await {
                Ok(Some(Ok(WatchEvent::Error(status)))) => {
                    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"), "{status:?}")
                }
                Ok(Some(Err(kube::Error::Api(status)))) => assert_eq!(status.code, 410, "{status:?}"),
                other => panic!("expected a 410 ERROR event, got {other:?}"),
            }
        }
    }
    // A list at a resourceVersion that old with a continue is also gone, but
    // a plain list always works.
    api.list(&ListParams::default()).await.unwrap();
}

/// Writes more events than the kept history, then checks that a watch from
/// an old resourceVersion is Gone while a recent one still resumes.
#[tokio::test]
async fn watch_from_beyond_kept_history_is_gone() {
    const HISTORY: usize = 100;
    let server = Server::start_with(common::ServerOptions {
        simulation: common::Sim::Off,
        watch_history: Some(HISTORY),
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let first = api.create(&PostParams::default(), &config_map("first", &[])).await.unwrap();
    churn(&api, HISTORY + 50, 4).await;
    expect_gone(&api, &first.resource_version().unwrap()).await;

    // A resourceVersion still inside the history resumes normally.
    let recent = api.create(&PostParams::default(), &config_map("recent", &[])).await.unwrap();
    api.create(&PostParams::default(), &config_map("after-recent", &[])).await.unwrap();
    let mut stream = api.watch(&WatchParams::default(), &recent.resource_version().unwrap()).await.unwrap().boxed();
    assert_eq!(next_events(&mut stream, 1).await[0].1, "after-recent");
}

/// Makes `writes` changes from `workers` concurrent clients, each patching
/// its own ConfigMap.
async fn churn(api: &Api<ConfigMap>, writes: usize, workers: usize) {
    let per = writes.div_ceil(workers);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("churn-{w}");
            api.create(&PostParams::default(), &config_map(&name, &[])).await.unwrap();
            for i in 0..per {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"data": {"v": i.to_string()}})))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn selector_filtered_watch_sees_objects_enter_and_leave() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let start = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default().labels("team=a"), &start).await.unwrap().boxed();
    api.create(&PostParams::default(), &config_map("x", &[("team", "b")])).await.unwrap();
    api.create(&PostParams::default(), &config_map("y", &[("team", "a")])).await.unwrap();
    api.patch("x", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})))
        .await
        .unwrap();
    api.patch("y", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"team": "c"}}})))
        .await
        .unwrap();
    api.patch("y", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "ignored"}}))).await.unwrap();
    api.patch("x", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "seen"}}))).await.unwrap();
    let events = next_events(&mut stream, 4).await;
    let got: Vec<(&str, &str)> = events.iter().map(|(t, n, _)| (t.as_str(), n.as_str())).collect();
    // Entering the selector is ADDED, leaving it is DELETED.
    assert_eq!(got, [("ADDED", "y"), ("ADDED", "x"), ("DELETED", "y"), ("MODIFIED", "x")]);

    let mut fields = api.watch(&WatchParams::default().fields("metadata.name=x"), &start).await.unwrap().boxed();
    let events = next_events(&mut fields, 3).await;
    assert!(events.iter().all(|(_, n, _)| n == "x"), "{events:?}");
}

#[tokio::test]
async fn watch_timeout_ends_the_stream() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let start = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let stream = api.watch(&WatchParams::default().timeout(1), &start).await.unwrap();
    let collected = tokio::time::timeout(DEADLINE, stream.try_collect::<Vec<_>>()).await;
    let events = collected.expect("the server ends a watch after timeoutSeconds").expect("a clean end, not an error");
    let mut last = start.parse::<u64>().unwrap();
    for event in &events {
        let (kind, _, rv) = describe(event);
        assert_eq!(kind, "BOOKMARK", "nothing changed, so only bookmarks may come: {events:?}");
        assert!(rv >= last, "bookmarks never go back: {events:?}");
        last = rv;
    }
}

#[tokio::test]
async fn concurrent_writes_are_watched_in_commit_order() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let start = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut stream = api.watch(&WatchParams::default(), &start).await.unwrap().boxed();
    let writers = 4;
    let writes = 40;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("ord-{w}");
            let mut acked = vec![rv(&api.create(&PostParams::default(), &config_map(&name, &[])).await.unwrap())];
            for i in 1..writes {
                let patched = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"data": {"v": i.to_string()}})))
                    .await
                    .unwrap();
                acked.push(rv(&patched));
            }
            (name, acked)
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        let (name, rvs) = t.await.unwrap();
        acked.extend(rvs.into_iter().map(|rv| (name.clone(), rv)));
    }
    let events = next_events(&mut stream, writers * writes).await;
    let rvs: Vec<u64> = events.iter().map(|e| e.2).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "events in strictly increasing resourceVersion order: {rvs:?}");
    let mut seen: Vec<(String, u64)> = events.into_iter().map(|(_, n, rv)| (n, rv)).collect();
    seen.sort_by_key(|e| e.1);
    acked.sort_by_key(|e| e.1);
    assert_eq!(seen, acked, "one event per acknowledged write, with its resourceVersion");
}

#[tokio::test]
async fn watcher_and_reflector_follow_changes() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    api.create(&PostParams::default(), &config_map("pre", &[("r", "1")])).await.unwrap();
    let (reader, writer) = reflector::store::<ConfigMap>();
    let config = watcher::Config::default().labels("r=1").timeout(5);
    let stream = reflector::reflector(writer, watcher(api.clone(), config));
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let summary = match event {
                Ok(watcher::Event::Apply(o)) => format!("apply {} {}", o.name_any(), o.data.unwrap_or_default()["v"]),
                Ok(watcher::Event::Delete(o)) => format!("delete {}", o.name_any()),
                Ok(watcher::Event::InitApply(o)) => format!("init {}", o.name_any()),
                Ok(watcher::Event::Init) => "init-start".to_owned(),
                Ok(watcher::Event::InitDone) => "init-done".to_owned(),
                Err(e) => format!("error {e}"),
            };
            if events_tx.send(summary).is_err() {
                break;
            }
        }
    });
    tokio::time::timeout(DEADLINE, reader.wait_until_ready()).await.expect("reflector ready").unwrap();
    assert!(reader.get(&ObjectRef::new("pre").within("default")).is_some());

    api.create(&PostParams::default(), &config_map("live", &[("r", "1")])).await.unwrap();
    api.create(&PostParams::default(), &config_map("other", &[("r", "2")])).await.unwrap();
    api.patch("live", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "2"}}))).await.unwrap();
    let key = ObjectRef::new("live").within("default");
    eventually("reflector to hold live v=2", DEADLINE, || async {
        match reader.get(&key) {
            Some(o) if o.data.as_ref().is_some_and(|d| d["v"] == "2") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    api.delete("live", &DeleteParams::default()).await.unwrap();
    eventually("reflector to drop live", DEADLINE, || async {
        if reader.get(&key).is_none() { Ok(()) } else { Err("still there".to_owned()) }
    })
    .await;
    assert!(reader.get(&ObjectRef::new("other").within("default")).is_none(), "the selector is honoured");

    // The watcher's own view, in order. It may re-list after its 5 s
    // timeout; the first pass must be exactly this.
    let mut seen = Vec::new();
    while !seen.iter().any(|s: &String| s == "delete live") {
        match tokio::time::timeout(DEADLINE, events_rx.recv()).await {
            Ok(Some(s)) => seen.push(s),
            other => panic!("watcher stopped: {other:?} after {seen:?}"),
        }
    }
    assert_eq!(seen, ["init-start", "init pre", "init-done", "apply live 0", "apply live 2", "delete live"]);
    driver.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
}
