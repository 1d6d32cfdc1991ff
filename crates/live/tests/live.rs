//! The live-state cache against ferry's local cluster, in process: discovery,
//! watches, tracking, notifications, the resource tree, recovery after an
//! API-server restart, and memory per tracked object.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::controllers::Simulation;
use cluster::local::{LocalConfig, Running};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use live::{KeepManagers, LiveCache, LiveConfig, LiveError};
use serde_json::{Value, json};
use sync::plan::{ResourceKey, tracking_id};
use tokio::sync::{broadcast, watch};

const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Ok`, or fails the test after `DEADLINE`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > DEADLINE => panic!("timed out waiting for {what}; last seen: {last}"),
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn start_cluster(dir: &Path, listen: SocketAddr) -> Running {
    init_crypto();
    let config = LocalConfig {
        data_dir: dir.to_owned(),
        listen,
        simulation: Simulation::On,
        ready_delay: Duration::from_millis(100),
        faults_file: None,
        watch_history: 10_000,
    };
    // A restart on the same directory and port may have to wait for the
    // previous instance to release them.
    eventually("the local cluster to start", || {
        let config = config.clone();
        async move { cluster::local::start(config).await.map_err(|e| format!("{e:#?}")) }
    })
    .await
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn client_of(running: &Running) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(&running.kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    _running: Running,
    client: kube::Client,
    cache: LiveCache,
    shutdown: watch::Sender<bool>,
}

async fn fixture(config: LiveConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let running = start_cluster(dir.path(), any_port()).await;
    let client = client_of(&running).await;
    let (shutdown, rx) = watch::channel(false);
    let cache = LiveCache::new(client.clone(), config, rx);
    Fixture { _dir: dir, _running: running, client, cache, shutdown }
}

fn tracked_config_map(app: &str, name: &str, value: &str) -> ConfigMap {
    let key = ResourceKey::new("", "ConfigMap", "default", name);
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": name, "namespace": "default",
            "annotations": {
                "ferry.dev/tracking-id": tracking_id(app, &key),
                "kubectl.kubernetes.io/last-applied-configuration": "{\"a\":\"large copy\"}",
            },
        },
        "data": {"k": value},
    }))
    .unwrap()
}

fn plain_config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn cm_key(name: &str) -> ResourceKey {
    ResourceKey::new("", "ConfigMap", "default", name)
}

fn names(objects: &[live::LiveObject]) -> Vec<String> {
    objects.iter().map(|o| o.key.name.clone()).collect()
}

/// Receives until `app` arrives (other apps may come first).
async fn expect_app(rx: &mut broadcast::Receiver<Arc<str>>, app: &str) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(got) if &*got == app => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("channel closed"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait).await.unwrap_or_else(|_| panic!("no notification for {app}"));
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn resolves_builtin_kinds_new_crds_and_rejects_unknown_ones() {
    let fast = LiveConfig { discovery_refresh_min: Duration::ZERO, ..LiveConfig::default() };
    let f = fixture(fast).await;
    let cache = &f.cache;

    let cm = cache.resolve("v1", "ConfigMap").await.unwrap();
    assert_eq!((cm.resource.plural.as_str(), cm.namespaced), ("configmaps", true));
    let deploy = cache.resolve("apps/v1", "Deployment").await.unwrap();
    assert_eq!((deploy.resource.group.as_str(), deploy.resource.plural.as_str()), ("apps", "deployments"));
    let ns = cache.resolve("v1", "Namespace").await.unwrap();
    assert!(!ns.namespaced);

    match cache.resolve("v1", "NoSuchKind").await {
        Err(LiveError::UnknownKind { api_version, kind }) => {
            assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "NoSuchKind"))
        }
        other => panic!("expected UnknownKind, got {other:?}"),
    }
    assert!(matches!(cache.resolve("example.com/v1", "Widget").await, Err(LiveError::UnknownKind { .. })));
    assert!(matches!(cache.resolve("not a version//", "X").await, Err(LiveError::UnknownKind { .. })));

    // A second cache that rediscovers at most hourly keeps its miss.
    let (_tx, rx) = watch::channel(false);
    let slow = LiveCache::new(
        f.client.clone(),
        LiveConfig { discovery_refresh_min: Duration::from_secs(3600), ..LiveConfig::default() },
        rx,
    );
    assert!(matches!(slow.resolve("example.com/v1", "Widget").await, Err(LiveError::UnknownKind { .. })));

    let crds: Api<CustomResourceDefinition> = Api::all(f.client.clone());
    crds.create(&PostParams::default(), &widget_crd()).await.unwrap();
    let widget = eventually("the new CRD to resolve", || async {
        cache.resolve("example.com/v1", "Widget").await.map_err(|e| e.to_string())
    })
    .await;
    assert_eq!((widget.resource.plural.as_str(), widget.namespaced), ("widgets", true));
    assert!(
        matches!(slow.resolve("example.com/v1", "Widget").await, Err(LiveError::UnknownKind { .. })),
        "a miss is not rediscovered within discovery_refresh_min"
    );

    // Watch a tracked widget, then delete the CRD: the kind is dropped, its
    // app is told, and the cache stays healthy (no retry loop on a dead kind).
    cache.watch(&widget).await.unwrap();
    let mut events = cache.subscribe();
    let widgets: Api<DynamicObject> = Api::namespaced_with(f.client.clone(), "default", &widget.resource);
    let key = ResourceKey::new("example.com", "Widget", "default", "w1");
    let w1: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1", "annotations": {"ferry.dev/tracking-id": tracking_id("gadgets", &key)}},
        "spec": {"size": 3},
    }))
    .unwrap();
    widgets.create(&PostParams::default(), &w1).await.unwrap();
    expect_app(&mut events, "gadgets").await;
    let stored = cache.get(&key).unwrap();
    assert_eq!(stored.object()["spec"]["size"], 3);
    assert_eq!(stored.api_version, "example.com/v1");

    crds.delete("widgets.example.com", &DeleteParams::default()).await.unwrap();
    eventually("the widget to leave the cache", || async {
        match cache.get(&key) {
            None => Ok(()),
            Some(o) => Err(format!("still cached at {}", o.resource_version)),
        }
    })
    .await;
    expect_app(&mut events, "gadgets").await;
    eventually("the cache to be healthy without the deleted kind", || async {
        if cache.healthy() { Ok(()) } else { Err(format!("{:?}", cache.stats())) }
    })
    .await;
    assert!(cache.managed_by("gadgets").is_empty());
}

#[tokio::test]
async fn config_maps_tracked_updated_untracked_and_deleted() {
    let f = fixture(LiveConfig::default()).await;
    let cache = &f.cache;
    let api: Api<ConfigMap> = Api::namespaced(f.client.clone(), "default");
    let pp = PostParams::default();
    api.create(&pp, &tracked_config_map("app1", "a", "1")).await.unwrap();
    api.create(&pp, &plain_config_map("b")).await.unwrap();
    api.create(&pp, &tracked_config_map("app2", "c", "1")).await.unwrap();
    // A copied annotation naming another object does not make this one tracked.
    let mut copy = tracked_config_map("app1", "a", "1");
    copy.metadata.name = Some("d".into());
    api.create(&pp, &copy).await.unwrap();

    let resolved = cache.resolve("v1", "ConfigMap").await.unwrap();
    cache.watch(&resolved).await.unwrap();
    // The list is complete when watch returns: no polling needed.
    assert_eq!(names(&cache.managed_by("app1")), ["a"]);
    assert_eq!(names(&cache.managed_by("app2")), ["c"]);
    assert!(cache.healthy());
    cache.watch(&resolved).await.unwrap(); // idempotent
    assert_eq!(cache.stats().kinds, 1, "ConfigMaps have no child kinds");

    let a = cache.get(&cm_key("a")).unwrap();
    assert_eq!(a.app.as_deref(), Some("app1"));
    assert!(a.has_body());
    let body = a.object();
    assert_eq!(body["data"]["k"], "1");
    assert_eq!(body["kind"], "ConfigMap");
    assert!(body["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_none());
    let managers: Vec<&str> = body["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|e| e["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(managers.iter().all(|m| *m == "ferry"), "only ferry's entries are kept: {managers:?}");

    let b = cache.get(&cm_key("b")).unwrap();
    assert!(b.app.is_none() && !b.has_body());
    assert!(!b.uid.is_empty());
    assert_eq!(
        b.object(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "b", "namespace": "default", "uid": b.uid, "resourceVersion": b.resource_version}})
    );
    assert!(cache.get(&cm_key("d")).unwrap().app.is_none());
    assert!(cache.get(&cm_key("missing")).is_none());
    assert!(cache.get(&ResourceKey::new("apps", "Deployment", "default", "a")).is_none(), "kind not watched");

    let mut events = cache.subscribe();
    // Update.
    let patch = json!({"data": {"k": "2"}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    expect_app(&mut events, "app1").await;
    assert_eq!(cache.get(&cm_key("a")).unwrap().object()["data"]["k"], "2");

    // Annotation removed: the old app is told and no longer manages it.
    let patch = json!({"metadata": {"annotations": {"ferry.dev/tracking-id": null}}});
    api.patch("c", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    expect_app(&mut events, "app2").await;
    assert!(cache.managed_by("app2").is_empty());
    assert!(!cache.get(&cm_key("c")).unwrap().has_body());

    // Server-side apply by ferry: its managedFields entry is kept.
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "e", "namespace": "default",
        "annotations": {"ferry.dev/tracking-id": tracking_id("app1", &cm_key("e"))}}, "data": {"x": "y"}});
    api.patch("e", &PatchParams::apply("ferry"), &Patch::Apply(&applied)).await.unwrap();
    expect_app(&mut events, "app1").await;
    let e = eventually("e to be cached", || async { cache.get(&cm_key("e")).ok_or_else(|| "absent".to_owned()) }).await;
    assert_eq!(e.object()["metadata"]["managedFields"][0]["manager"], "ferry");
    assert_eq!(names(&cache.managed_by("app1")), ["a", "e"], "sorted by key");

    // Delete.
    api.delete("a", &DeleteParams::default()).await.unwrap();
    expect_app(&mut events, "app1").await;
    eventually("a to be gone", || async {
        if cache.get(&cm_key("a")).is_none() { Ok(()) } else { Err("still there".to_owned()) }
    })
    .await;
    assert_eq!(names(&cache.managed_by("app1")), ["e"]);

    let stats = cache.stats();
    assert_eq!(stats.tracked, 1, "{stats:?}");
    assert_eq!(cache.stats().kinds, 1);
    assert!(stats.objects >= 4, "{stats:?}");

    // Widening the kept managers re-lists: bodies gain every entry.
    api.create(&pp, &tracked_config_map("app3", "f", "1")).await.unwrap();
    let updates = |o: &live::LiveObject| {
        o.object()["metadata"]["managedFields"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|e| e["operation"] == "Update").count())
    };
    let f_before =
        eventually("f to be cached", || async { cache.get(&cm_key("f")).ok_or_else(|| "absent".to_owned()) }).await;
    assert_eq!(updates(&f_before), 0, "the creator's entry is dropped by default");
    cache.set_keep_managers(KeepManagers::All);
    eventually("bodies to keep every manager", || async {
        let f = cache.get(&cm_key("f")).ok_or("gone")?;
        if updates(&f) >= 1 && cache.healthy() { Ok(()) } else { Err(format!("{}", f.object())) }
    })
    .await;

    // Shutdown stops the watches; nothing new can be watched.
    f.shutdown.send(true).unwrap();
    eventually("the watches to stop", || async {
        if cache.healthy() { Err("still healthy".to_owned()) } else { Ok(()) }
    })
    .await;
    assert!(matches!(cache.watch(&resolved).await, Err(LiveError::Stopped)));
}

#[tokio::test]
async fn children_of_a_deployment_form_its_tree() {
    let f = fixture(LiveConfig::default()).await;
    let cache = &f.cache;
    let resolved = cache.resolve("apps/v1", "Deployment").await.unwrap();
    cache.watch(&resolved).await.unwrap();
    assert_eq!(cache.stats().kinds, 3, "Deployment, ReplicaSet and Pod");

    let key = ResourceKey::new("apps", "Deployment", "default", "web");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"ferry.dev/tracking-id": tracking_id("shop", &key)}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
        },
    }))
    .unwrap();
    let api: Api<Deployment> = Api::namespaced(f.client.clone(), "default");
    let created = api.create(&PostParams::default(), &deployment).await.unwrap();
    let uid = created.metadata.uid.unwrap();

    let tree = eventually("a ReplicaSet and two Pods under the Deployment", || async {
        let tree = cache.children(&uid);
        let pods = tree.iter().filter(|c| c.key.kind == "Pod").count();
        let sets = tree.iter().filter(|c| c.key.kind == "ReplicaSet").count();
        if sets == 1 && pods == 2 { Ok(tree) } else { Err(format!("{tree:?}")) }
    })
    .await;
    let set = &tree[0];
    assert_eq!((set.key.group.as_str(), set.key.kind.as_str()), ("apps", "ReplicaSet"));
    assert_eq!(set.parent_uid, uid);
    assert!(set.app.is_none(), "the ReplicaSet inherits the annotation but is not tracked");
    for pod in &tree[1..] {
        assert_eq!(pod.key.kind, "Pod");
        assert_eq!(pod.api_version, "v1");
        assert_eq!(pod.parent_uid, set.uid);
    }
    assert_eq!(cache.children(&set.uid).len(), 2);
    assert!(cache.children("no-such-uid").is_empty());
    let rs = cache.get(&set.key).unwrap();
    assert!(!rs.has_body(), "children are identity records");
    assert_eq!(rs.owner_uids().collect::<Vec<_>>(), [uid.as_str()]);
    assert_eq!(names(&cache.managed_by("shop")), ["web"]);
}

#[tokio::test]
async fn recovers_after_an_api_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_cluster(dir.path(), any_port()).await;
    let port: SocketAddr = running.url.trim_start_matches("https://").parse().unwrap();
    let client = client_of(&running).await;
    let (_shutdown, rx) = watch::channel(false);
    let cache = LiveCache::new(client.clone(), LiveConfig::default(), rx);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["keep", "drop"] {
        api.create(&PostParams::default(), &tracked_config_map("app", name, "1")).await.unwrap();
    }
    cache.watch(&cache.resolve("v1", "ConfigMap").await.unwrap()).await.unwrap();
    assert_eq!(names(&cache.managed_by("app")), ["drop", "keep"]);
    let mut events = cache.subscribe();

    running.stop().await;
    eventually("the cache to notice the outage", || async {
        if cache.healthy() { Err("healthy".to_owned()) } else { Ok(()) }
    })
    .await;
    // Reads still answer from the last known state.
    assert_eq!(cache.managed_by("app").len(), 2);

    // Delete one while the cache cannot see it: through another instance
    // on another port, then come back on the original port.
    let other = start_cluster(dir.path(), any_port()).await;
    Api::<ConfigMap>::namespaced(client_of(&other).await, "default")
        .delete("drop", &DeleteParams::default())
        .await
        .unwrap();
    other.stop().await;
    let running = start_cluster(dir.path(), port).await;

    eventually("the deletion to show after the re-list", || async {
        let now = names(&cache.managed_by("app"));
        if now == ["keep"] && cache.healthy() { Ok(()) } else { Err(format!("{now:?}, healthy {}", cache.healthy())) }
    })
    .await;
    expect_app(&mut events, "app").await;

    // And the watch is live again.
    api.create(&PostParams::default(), &tracked_config_map("app", "new", "1")).await.unwrap();
    eventually("a new object to appear", || async {
        let now = names(&cache.managed_by("app"));
        if now == ["keep", "new"] { Ok(()) } else { Err(format!("{now:?}")) }
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn a_thousand_tracked_config_maps_stay_small() {
    let f = fixture(LiveConfig::default()).await;
    let cache = &f.cache;
    cache.watch(&cache.resolve("v1", "ConfigMap").await.unwrap()).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(f.client.clone(), "default");
    let count = 1000;
    let results: Vec<Result<ConfigMap, kube::Error>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &tracked_config_map("bulk", &format!("cm-{i:04}"), "some value"))
                    .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));
    eventually("all ConfigMaps to be cached", || async {
        let n = cache.managed_by("bulk").len();
        if n == count { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    let stats = cache.stats();
    let json_bytes: usize = cache.managed_by("bulk").iter().map(|o| o.object().to_string().len()).sum::<usize>();
    let per_object = stats.bytes / stats.tracked;
    let overhead = stats.bytes.saturating_sub(json_bytes) / stats.tracked;
    eprintln!("{stats:?}: {per_object} bytes per tracked object, {overhead} beyond its JSON");
    assert!(stats.tracked >= count, "{stats:?}");
    assert!(per_object < 4096, "{per_object} bytes per tracked object");
    let sample = cache.get(&cm_key("cm-0001")).unwrap().object();
    assert_eq!(sample["data"]["k"], "some value");
    assert!(Value::is_object(&sample["metadata"]));
}
