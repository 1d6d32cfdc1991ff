//! The controllers against a real [`Cluster`] over a temporary store.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::api::{Cluster, DeleteOptions, Propagation, WriteOptions};
use crate::controllers::runtime;
use crate::controllers::{ControllersConfig, FaultConfig, Simulation, bootstrap, run};
use crate::store::{Store, StoreOptions};

struct Running {
    cluster: Cluster,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(faults: FaultConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cluster.redb"), StoreOptions::default()).unwrap();
        let cluster = Cluster::new(store);
        bootstrap(&cluster).await.unwrap();
        // Idempotent: a second run changes nothing and fails on nothing.
        bootstrap(&cluster).await.unwrap();
        let (stop, shutdown) = watch::channel(false);
        let config = ControllersConfig { simulation: Simulation::On, ready_delay: Duration::from_millis(50), faults };
        let task = tokio::spawn(run(cluster.clone(), config, shutdown));
        Running { cluster, stop, task, _dir: dir }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap();
    }

    fn get(&self, group: &str, version: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let rt = runtime::resource(&self.cluster, group, version, plural).unwrap();
        runtime::get_opt(&self.cluster, &rt, namespace, name).unwrap()
    }

    fn list(&self, group: &str, version: &str, plural: &str, namespace: &str) -> Vec<Value> {
        let rt = runtime::resource(&self.cluster, group, version, plural).unwrap();
        runtime::list_values(&self.cluster, &rt, Some(namespace)).unwrap()
    }

    async fn create(&self, group: &str, version: &str, plural: &str, namespace: &str, object: Value) -> Value {
        let rt = runtime::resource(&self.cluster, group, version, plural).unwrap();
        self.cluster.create(&rt, namespace, object, &WriteOptions::default()).await.unwrap().object
    }

    async fn delete(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) {
        let rt = runtime::resource(&self.cluster, group, version, plural).unwrap();
        let options = DeleteOptions { propagation: Some(propagation), ..DeleteOptions::default() };
        self.cluster.delete(&rt, namespace, name, &options).await.unwrap();
    }
}

/// Polls `check` until it returns `Some`, or fails after a generous deadline.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    })
}

fn condition(object: &Value, type_: &str) -> Option<(String, String)> {
    let c = runtime::condition(object.get("status")?, type_)?;
    Some((c["status"].as_str()?.to_owned(), c["reason"].as_str().unwrap_or("").to_owned()))
}

fn owned_by<'a>(items: &'a [Value], uid: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| runtime::controller_ref(i).is_some_and(|r| r.uid == uid)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_cluster_looks_like_a_real_one() {
    let c = Running::start(FaultConfig::default()).await;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease", "ferry-system"] {
        let namespace = c.get("", "v1", "namespaces", "", ns).unwrap();
        assert_eq!(namespace["status"]["phase"], "Active", "{ns}");
        assert!(c.get("", "v1", "serviceaccounts", ns, "default").is_some(), "{ns}");
    }
    let service = c.get("", "v1", "services", "default", "kubernetes").unwrap();
    assert_eq!(service["spec"]["clusterIP"], "10.96.0.1");
    let node = c.get("", "v1", "nodes", "", "ferry-local").unwrap();
    assert_eq!(condition(&node, "Ready").unwrap().0, "True");
    // Namespaces created later get their ServiceAccount too.
    c.create(
        "",
        "v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await;
    eventually("the team namespace to be Active with a ServiceAccount", || async {
        let ns = c.get("", "v1", "namespaces", "", "team")?;
        (ns["status"]["phase"] == "Active" && c.get("", "v1", "serviceaccounts", "team", "default").is_some())
            .then_some(())
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_becomes_available_and_is_collected() {
    let c = Running::start(FaultConfig::default()).await;
    let deploy = c.create("apps", "v1", "deployments", "default", deployment("web", "nginx:1.27", 3)).await;
    let uid = runtime::uid_of(&deploy).to_owned();
    let status = eventually("the deployment to be available", || async {
        let d = c.get("apps", "v1", "deployments", "default", "web")?;
        let done = condition(&d, "Available") == Some(("True".into(), "MinimumReplicasAvailable".into()))
            && condition(&d, "Progressing") == Some(("True".into(), "NewReplicaSetAvailable".into()))
            && d["status"]["readyReplicas"] == 3
            && d["status"]["updatedReplicas"] == 3
            && d["status"]["observedGeneration"] == d["metadata"]["generation"];
        done.then(|| d["status"].clone())
    })
    .await;
    assert_eq!(status["availableReplicas"], 3);
    let d = c.get("apps", "v1", "deployments", "default", "web").unwrap();
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    let rss = c.list("apps", "v1", "replicasets", "default");
    let owned_rs = owned_by(&rss, &uid);
    assert_eq!(owned_rs.len(), 1);
    let rs_uid = runtime::uid_of(owned_rs[0]).to_owned();
    let pods = c.list("", "v1", "pods", "default");
    let owned_pods = owned_by(&pods, &rs_uid);
    assert_eq!(owned_pods.len(), 3);
    for pod in &owned_pods {
        assert_eq!(pod["spec"]["nodeName"], "ferry-local");
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(condition(pod, "Ready").unwrap().0, "True");
        assert!(runtime::name_of(pod).starts_with(&format!("{}-", runtime::name_of(owned_rs[0]))));
    }

    c.delete("apps", "v1", "deployments", "default", "web", Propagation::Background).await;
    eventually("the replicaset and pods to be collected", || async {
        let rss = c.list("apps", "v1", "replicasets", "default");
        let pods = c.list("", "v1", "pods", "default");
        (owned_by(&rss, &uid).is_empty() && owned_by(&pods, &rs_uid).is_empty()).then_some(())
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_and_orphan_deletion() {
    let c = Running::start(FaultConfig::default()).await;
    c.create("apps", "v1", "deployments", "default", deployment("fg", "nginx:1", 2)).await;
    c.create("apps", "v1", "deployments", "default", deployment("orph", "nginx:1", 2)).await;
    let ready = |name: &'static str| {
        let c = &c;
        async move {
            let d = c.get("apps", "v1", "deployments", "default", name)?;
            (d["status"]["availableReplicas"] == 2).then_some(())
        }
    };
    eventually("fg to be available", || ready("fg")).await;
    eventually("orph to be available", || ready("orph")).await;

    c.delete("apps", "v1", "deployments", "default", "fg", Propagation::Foreground).await;
    eventually("fg and its dependents to be gone", || async {
        let gone = c.get("apps", "v1", "deployments", "default", "fg").is_none();
        let leftovers = c.list("", "v1", "pods", "default").iter().any(|p| runtime::name_of(p).starts_with("fg-"));
        (gone && !leftovers).then_some(())
    })
    .await;

    let orph = c.get("apps", "v1", "deployments", "default", "orph").unwrap();
    c.delete("apps", "v1", "deployments", "default", "orph", Propagation::Orphan).await;
    eventually("orph to be gone, leaving its replicaset", || async {
        let gone = c.get("apps", "v1", "deployments", "default", "orph").is_none();
        gone.then_some(())
    })
    .await;
    let rss = c.list("apps", "v1", "replicasets", "default");
    let kept: Vec<&Value> = rss.iter().filter(|r| runtime::name_of(r).starts_with("orph-")).collect();
    assert_eq!(kept.len(), 1);
    assert!(runtime::owner_refs(kept[0]).iter().all(|r| r.uid != runtime::uid_of(&orph)));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_namespace_is_emptied_then_removed() {
    let c = Running::start(FaultConfig::default()).await;
    c.create(
        "",
        "v1",
        "namespaces",
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}),
    )
    .await;
    c.create(
        "",
        "v1",
        "configmaps",
        "doomed",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "doomed"}}),
    )
    .await;
    c.delete("", "v1", "namespaces", "", "doomed", Propagation::Background).await;
    eventually("the namespace to go", || async { c.get("", "v1", "namespaces", "", "doomed").is_none().then_some(()) })
        .await;
    assert!(c.get("", "v1", "configmaps", "doomed", "cm").is_none());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_image_exceeds_the_progress_deadline() {
    let c = Running::start(FaultConfig::default()).await;
    c.create(
        "",
        "v1",
        "configmaps",
        "ferry-system",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ferry-simulator", "namespace": "ferry-system"}, "data": {"crashLoop": "*/broken:*"}}),
    )
    .await;
    let mut broken = deployment("broken", "acme/broken:1", 1);
    broken["spec"]["progressDeadlineSeconds"] = json!(1);
    c.create("apps", "v1", "deployments", "default", broken).await;
    eventually("the deadline to pass", || async {
        let d = c.get("apps", "v1", "deployments", "default", "broken")?;
        (condition(&d, "Progressing") == Some(("False".into(), "ProgressDeadlineExceeded".into()))).then_some(())
    })
    .await;
    let pods = c.list("", "v1", "pods", "default");
    let pod = pods.iter().find(|p| runtime::name_of(p).starts_with("broken-")).unwrap();
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_claims_statefulsets_and_jobs_converge() {
    let c = Running::start(FaultConfig::default()).await;
    c.create(
        "",
        "v1",
        "services",
        "default",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb", "namespace": "default"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]}}),
    )
    .await;
    c.create(
        "apps",
        "v1",
        "statefulsets",
        "default",
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
               "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )
    .await;
    c.create(
        "batch",
        "v1",
        "jobs",
        "default",
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}),
    )
    .await;
    eventually("everything to converge", || async {
        let lb = c.get("", "v1", "services", "default", "lb")?;
        let sts = c.get("apps", "v1", "statefulsets", "default", "db")?;
        let claim = c.get("", "v1", "persistentvolumeclaims", "default", "data-db-1")?;
        let job = c.get("batch", "v1", "jobs", "default", "once")?;
        let ok = lb["spec"]["clusterIP"].as_str().is_some_and(|ip| ip.starts_with("10."))
            && lb["status"]["loadBalancer"]["ingress"][0]["ip"].is_string()
            && sts["status"]["readyReplicas"] == 2
            && sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
            && claim["status"]["phase"] == "Bound"
            && condition(&job, "Complete").is_some_and(|(s, _)| s == "True");
        ok.then_some(())
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_stop_on_shutdown_without_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.redb"), StoreOptions::default()).unwrap();
    let cluster = Cluster::new(store);
    bootstrap(&cluster).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let config = ControllersConfig { simulation: Simulation::Off, ..ControllersConfig::default() };
    let task = tokio::spawn(run(cluster.clone(), config, shutdown));
    let rt = runtime::resource(&cluster, "apps", "v1", "deployments").unwrap();
    cluster.create(&rt, "default", deployment("idle", "nginx:1", 1), &WriteOptions::default()).await.unwrap();
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    // Nothing simulated the Deployment.
    let rss = runtime::list_values(
        &cluster,
        &runtime::resource(&cluster, "apps", "v1", "replicasets").unwrap(),
        Some("default"),
    )
    .unwrap();
    assert!(rss.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_change_rolls_to_a_new_replicaset() {
    let c = Running::start(FaultConfig::default()).await;
    c.create("apps", "v1", "deployments", "default", deployment("roll", "nginx:1", 2)).await;
    let complete = |revision: &'static str| {
        let c = &c;
        async move {
            let d = c.get("apps", "v1", "deployments", "default", "roll")?;
            let done = d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision
                && d["status"]["observedGeneration"] == d["metadata"]["generation"]
                && d["status"]["updatedReplicas"] == 2
                && d["status"]["replicas"] == 2
                && d["status"]["availableReplicas"] == 2
                && condition(&d, "Progressing").is_some_and(|(_, reason)| reason == "NewReplicaSetAvailable");
            done.then_some(d)
        }
    };
    eventually("revision 1 to complete", || complete("1")).await;
    let rt = runtime::resource(&c.cluster, "apps", "v1", "deployments").unwrap();
    let mut d = c.get("apps", "v1", "deployments", "default", "roll").unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    c.cluster.update(&rt, "default", "roll", crate::api::Subresource::Main, d, &WriteOptions::default()).await.unwrap();
    let d = eventually("revision 2 to complete", || complete("2")).await;
    let rss = c.list("apps", "v1", "replicasets", "default");
    let mine = owned_by(&rss, runtime::uid_of(&d));
    assert_eq!(mine.len(), 2);
    let mut replicas: Vec<i64> = mine.iter().map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(-1)).collect();
    replicas.sort();
    assert_eq!(replicas, vec![0, 2]);
    let pods = c.list("", "v1", "pods", "default");
    let images: Vec<&str> = pods
        .iter()
        .filter(|p| runtime::name_of(p).starts_with("roll-"))
        .map(|p| runtime::str_at(&p["spec"]["containers"][0], &["image"]))
        .collect();
    assert_eq!(images, vec!["nginx:2", "nginx:2"]);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_is_established_and_its_objects_go_with_it() {
    let c = Running::start(FaultConfig::default()).await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    });
    c.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", crd).await;
    eventually("the CRD to be Established", || async {
        let crd = c.get("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", "widgets.example.com")?;
        (condition(&crd, "Established").is_some_and(|(s, _)| s == "True")
            && crd["status"]["storedVersions"] == json!(["v1"]))
        .then_some(())
    })
    .await;
    c.create(
        "example.com",
        "v1",
        "widgets",
        "default",
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}),
    )
    .await;
    c.delete(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "",
        "widgets.example.com",
        Propagation::Background,
    )
    .await;
    eventually("the CRD to go", || async {
        c.get("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", "widgets.example.com")
            .is_none()
            .then_some(())
    })
    .await;
    let scope = crate::store::Scope { resource: Some("example.com/widgets".into()), namespace: None };
    assert!(c.cluster.store().list(&scope, &crate::store::ListOptions::default()).unwrap().items.is_empty());
    c.stop().await;
}
