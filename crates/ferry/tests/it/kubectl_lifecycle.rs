//! kubectl 1.32 and object lifecycles: cascading deletion, watching, waiting
//! for rollouts, CRDs, namespace deletion, the workload simulator and fault
//! injection.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::{Duration, Instant};

use common::{DEADLINE, Server, ServerOptions, Sim, cm_yaml, deployment_yaml, eventually, item_names, ns_yaml};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Objects of `kind` whose ownerReferences name `owner_uid`.
async fn owned_by(server: &Server, kind: &str, owner_uid: &str) -> Vec<Value> {
    let list = server.kubectl(&["get", kind, "-o", "json"]).await.ok().json();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"].as_array().is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
        })
        .cloned()
        .collect()
}

fn uid(obj: &Value) -> String {
    obj["metadata"]["uid"].as_str().expect("uid").to_owned()
}

/// Creates a Deployment and waits until its ReplicaSet and Pods exist;
/// returns (deployment, replicaset, pods).
async fn running_deployment(server: &Server, name: &str, replicas: u32) -> (Value, Value, Vec<Value>) {
    server.kubectl_stdin(&["apply", "-f", "-"], &deployment_yaml(name, replicas, "nginx:1.27")).await.ok();
    server.kubectl(&["rollout", "status", &format!("deployment/{name}"), "--timeout=60s"]).await.ok();
    let deploy = server.kubectl(&["get", "deploy", name, "-o", "json"]).await.ok().json();
    let rss = owned_by(server, "replicasets", &uid(&deploy)).await;
    assert_eq!(rss.len(), 1, "one ReplicaSet owned by the Deployment: {rss:?}");
    let rs = rss[0].clone();
    let owner = &rs["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Deployment");
    assert_eq!(owner["controller"], true);
    let pods = owned_by(server, "pods", &uid(&rs)).await;
    assert_eq!(pods.len(), replicas as usize, "pods owned by the ReplicaSet");
    (deploy, rs, pods)
}

#[tokio::test]
async fn delete_cascade_background_removes_dependents() {
    let server = Server::start().await;
    let (deploy, rs, _) = running_deployment(&server, "bg", 2).await;
    server.kubectl(&["delete", "deployment", "bg", "--cascade=background"]).await.ok();
    server.kubectl(&["get", "deploy", "bg"]).await.fails();
    eventually("ReplicaSet and Pods garbage-collected", DEADLINE, || async {
        let rss = owned_by(&server, "replicasets", &uid(&deploy)).await;
        let pods = owned_by(&server, "pods", &uid(&rs)).await;
        if rss.is_empty() && pods.is_empty() { Ok(()) } else { Err(format!("{} rs, {} pods", rss.len(), pods.len())) }
    })
    .await;
}

#[tokio::test]
async fn delete_cascade_foreground_removes_dependents_first() {
    let server = Server::start().await;
    let (deploy, rs, _) = running_deployment(&server, "fg", 2).await;
    // Watch the Deployment to see it wait, Terminating, for its dependents.
    let mut watch = server.kubectl_command(&["get", "deploy", "fg", "--watch", "-o", "json", "--output-watch-events"]);
    watch.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    let mut watch = watch.spawn().unwrap();
    let mut reader = BufReader::new(watch.stdout.take().unwrap());
    // Wait for the watch to have listed the Deployment before deleting it.
    let first = collect_json_events(&mut reader, DEADLINE, |_| true).await;
    assert_eq!(first.len(), 1, "initial watch event");
    // kubectl delete waits (by default) until the Deployment itself is gone.
    let (events, _) =
        tokio::join!(collect_json_events(&mut reader, Duration::from_secs(120), |e| e["type"] == "DELETED"), async {
            server.kubectl(&["delete", "deployment", "fg", "--cascade=foreground", "--timeout=60s"]).await.ok()
        });
    // With foreground deletion the owner disappears only after its
    // blocking dependents: nothing may be left by now.
    assert!(
        owned_by(&server, "replicasets", &uid(&deploy)).await.is_empty(),
        "ReplicaSet outlived its foreground-deleted owner"
    );
    assert!(
        owned_by(&server, "pods", &uid(&rs)).await.is_empty(),
        "Pods outlived their foreground-deleted owner's deletion"
    );
    let terminating = events.iter().any(|e| {
        e["object"]["metadata"]["deletionTimestamp"].is_string()
            && e["object"]["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
    });
    assert!(terminating, "the Deployment showed deletionTimestamp with the foregroundDeletion finalizer: {events:?}");
    assert!(events.last().is_some_and(|e| e["type"] == "DELETED"), "{events:?}");
}

/// Reads kubectl's JSON event stream until `done` matches an
/// event or the deadline passes.
async fn collect_json_events<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    deadline: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    let mut events = Vec::new();
    let mut buf = String::new();
    let mut line = String::new();
    while start.elapsed() < deadline {
        line.clear();
        let read = tokio::time::timeout(deadline.saturating_sub(start.elapsed()), reader.read_line(&mut line)).await;
        match read {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
        buf.push_str(&line);
        // kubectl prints one event per line; should it pretty-print, the
        // buffer parses once the object is complete.
        if let Ok(event) = serde_json::from_str::<Value>(&buf) {
            buf.clear();
            let finished = done(&event);
            events.push(event);
            if finished {
                break;
            }
        }
    }
    events
}

#[tokio::test]
async fn delete_cascade_orphan_keeps_dependents() {
    let server = Server::start().await;
    let (deploy, rs, pods) = running_deployment(&server, "or", 2).await;
    server.kubectl(&["delete", "deployment", "or", "--cascade=orphan"]).await.ok();
    server.kubectl(&["get", "deploy", "or"]).await.fails();
    // The orphaned ReplicaSet stays, without the reference to its deleted owner.
    let rs_name = rs["metadata"]["name"].as_str().unwrap();
    let after = eventually("ownerReference to the deleted Deployment removed", DEADLINE, || async {
        let now = server.kubectl(&["get", "rs", rs_name, "-o", "json"]).await.ok().json();
        let refs = now["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
        if refs.iter().any(|r| r["uid"] == uid(&deploy).as_str()) { Err(now.to_string()) } else { Ok(now) }
    })
    .await;
    assert_eq!(uid(&after), uid(&rs), "same ReplicaSet");
    let still = owned_by(&server, "pods", &uid(&rs)).await;
    assert_eq!(still.len(), pods.len(), "orphan keeps the Pods, still owned by the ReplicaSet");
}

#[tokio::test]
async fn get_watch_streams_changes() {
    let server = Server::start().await;
    server.apply(&cm_yaml("w0", None, &[], &[])).await;
    let mut cmd = server.kubectl_command(&["get", "configmaps", "--watch", "--output-watch-events"]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut next_line = async || -> String {
        match tokio::time::timeout(DEADLINE, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("kubectl get --watch ended or stalled: {other:?}"),
        }
    };
    // The initial list comes first, as ADDED.
    loop {
        let line = next_line().await;
        seen.push(line.clone());
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(1) == Some(&"w0") {
            assert_eq!(cols[0], "ADDED", "{seen:?}");
            break;
        }
    }
    server.apply(&cm_yaml("w1", None, &[], &[])).await;
    server.kubectl(&["label", "configmap", "w1", "x=y"]).await.ok();
    server.kubectl(&["delete", "configmap", "w1"]).await.ok();
    let mut w1 = Vec::new();
    while w1.len() < 3 {
        let line = next_line().await;
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(1) == Some(&"w1") {
            w1.push(cols[0].to_owned());
        }
    }
    assert_eq!(w1, ["ADDED", "MODIFIED", "DELETED"]);
    child.kill().await.ok();
}

#[tokio::test]
async fn wait_available_and_rollout_status() {
    let server = Server::start().await;
    server.kubectl_stdin(&["apply", "-f", "-"], &deployment_yaml("ro", 2, "nginx:1.27")).await.ok();
    let out = server.kubectl(&["rollout", "status", "deployment/ro", "--timeout=60s"]).await.ok();
    assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
    server.kubectl(&["wait", "--for=condition=Available", "deployment/ro", "--timeout=60s"]).await.ok();
    let got = server.kubectl(&["get", "deploy", "ro", "-o", "json"]).await.ok().json();
    assert_eq!(got["status"]["observedGeneration"], got["metadata"]["generation"]);
    assert_eq!(got["status"]["readyReplicas"], 2);
    assert_eq!(got["status"]["availableReplicas"], 2);

    // A new template rolls out through a second ReplicaSet.
    server.kubectl(&["set", "image", "deployment/ro", "main=nginx:1.28"]).await.ok();
    let out = server.kubectl(&["rollout", "status", "deployment/ro", "--timeout=60s"]).await.ok();
    assert!(out.stdout.contains("successfully rolled out"), "{}", out.stdout);
    let got = server.kubectl(&["get", "deploy", "ro", "-o", "json"]).await.ok().json();
    assert_eq!(got["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2", "{got}");
    let rss = owned_by(&server, "replicasets", &uid(&got)).await;
    assert_eq!(rss.len(), 2, "old and new ReplicaSets: {rss:?}");
    let new =
        rss.iter().find(|r| r["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28").expect("new RS");
    let old =
        rss.iter().find(|r| r["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27").expect("old RS");
    assert_eq!(new["spec"]["replicas"], 2);
    assert_eq!(old["spec"]["replicas"], 0);
    let pods = server.kubectl(&["get", "pods", "-l", "app=ro", "-o", "json"]).await.ok().json();
    let images: Vec<&str> =
        pods["items"].as_array().unwrap().iter().filter_map(|p| p["spec"]["containers"][0]["image"].as_str()).collect();
    assert_eq!(images, ["nginx:1.28", "nginx:1.28"], "only new pods remain");

    let undo = server.kubectl(&["rollout", "undo", "deployment/ro"]).await.ok();
    assert!(undo.stdout.contains("rolled back"), "{}", undo.stdout);
    server.kubectl(&["rollout", "status", "deployment/ro", "--timeout=60s"]).await.ok();
    let image =
        server.kubectl(&["get", "deploy", "ro", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]).await.ok();
    assert_eq!(image.stdout, "nginx:1.27");
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wg]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
          status:
            type: object
            properties:
              phase:
                type: string
"#;

#[tokio::test]
async fn crd_lifecycle() {
    let server = Server::start().await;
    server.kubectl_stdin(&["apply", "-f", "-"], CRD).await.ok();
    server.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).await.ok();
    let resources = eventually("widgets in api-resources", DEADLINE, || async {
        let out = server.kubectl(&["api-resources", "--api-group=example.com"]).await.ok();
        if out.stdout.contains("widgets") { Ok(out.stdout) } else { Err(out.stdout) }
    })
    .await;
    let rows = common::parse_table(&resources);
    let row = rows.iter().find(|r| r["NAME"] == "widgets").unwrap();
    assert_eq!(row["SHORTNAMES"], "wg");
    assert_eq!(row["NAMESPACED"], "true");
    assert_eq!(row["KIND"], "Widget");
    assert_eq!(row["APIVERSION"], "example.com/v1");

    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";
    server.kubectl_stdin(&["apply", "-f", "-"], widget).await.ok();
    let got = server.kubectl(&["get", "wg", "w1", "-o", "json"]).await.ok().json();
    assert_eq!(got["spec"]["size"], 3);
    assert_eq!(got["metadata"]["generation"], 1);
    let table = server.kubectl(&["get", "widgets"]).await.ok();
    assert!(table.stdout.contains("w1"), "{}", table.stdout);

    // With a status subresource, the main resource ignores status.
    server.kubectl(&["patch", "widget", "w1", "--type", "merge", "-p", r#"{"status":{"phase":"Ignored"}}"#]).await.ok();
    let got = server.kubectl(&["get", "widget", "w1", "-o", "json"]).await.ok().json();
    assert!(got["status"]["phase"].is_null(), "{got}");
    server
        .kubectl(&[
            "patch",
            "widget",
            "w1",
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"phase":"Ready"}}"#,
        ])
        .await
        .ok();
    let got = server.kubectl(&["get", "widget", "w1", "-o", "json"]).await.ok().json();
    assert_eq!(got["status"]["phase"], "Ready");
    assert_eq!(got["metadata"]["generation"], 1, "status changes do not bump generation");

    server.kubectl(&["delete", "crd", "widgets.example.com", "--timeout=60s"]).await.ok();
    eventually("widgets to leave discovery", DEADLINE, || async {
        let out = server.kubectl(&["get", "widgets"]).await;
        if out.code != 0 { Ok(()) } else { Err(out.stdout) }
    })
    .await;
    // Recreating the CRD shows that its objects went with it.
    server.kubectl_stdin(&["apply", "-f", "-"], CRD).await.ok();
    server.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).await.ok();
    let list = eventually("widgets served again", DEADLINE, || async {
        let out = server.kubectl(&["get", "widgets", "-A", "-o", "json"]).await;
        if out.code == 0 { Ok(out.json()) } else { Err(out.stderr) }
    })
    .await;
    assert!(item_names(&list).is_empty(), "objects of a deleted CRD are gone: {list}");
}

#[tokio::test]
async fn crd_schema_is_enforced() {
    let server = Server::start().await;
    server.apply(CRD).await;
    server.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).await.ok();
    eventually("widgets served", DEADLINE, || async {
        let out = server.kubectl(&["get", "widgets"]).await;
        if out.code == 0 { Ok(()) } else { Err(out.stderr) }
    })
    .await;
    // kubectl's default validation (server-side, Strict) rejects unknown fields.
    let unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: 3\n  colour: red\n";
    let out = server.kubectl_stdin(&["apply", "-f", "-"], unknown).await.fails();
    assert!(out.stderr.contains("colour"), "{}", out.stderr);
    // Values must match the schema's types.
    let wrong_type = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w3\nspec:\n  size: big\n";
    let out = server.kubectl_stdin(&["apply", "-f", "-"], wrong_type).await.fails();
    assert!(out.stderr.contains("spec.size"), "{}", out.stderr);
    let listed = server.kubectl(&["get", "widgets", "-o", "name"]).await.ok();
    assert!(listed.stdout.trim().is_empty(), "nothing invalid was stored: {}", listed.stdout);
}

#[tokio::test]
async fn namespace_deletion_cascades() {
    let server = Server::start().await;
    server.apply(&ns_yaml("doomed")).await;
    server.apply(&cm_yaml("c1", Some("doomed"), &[], &[])).await;
    server.kubectl_stdin(&["apply", "-n", "doomed", "-f", "-"], &deployment_yaml("d1", 1, "nginx")).await.ok();
    // A finalizer holds one object, so the namespace must stay Terminating.
    server
        .kubectl_stdin(
            &["create", "-n", "doomed", "-f", "-"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
        )
        .await
        .ok();
    server.kubectl(&["rollout", "status", "deployment/d1", "-n", "doomed", "--timeout=60s"]).await.ok();

    server.kubectl(&["delete", "namespace", "doomed", "--wait=false"]).await.ok();
    let ns = server.kubectl(&["get", "namespace", "doomed", "-o", "json"]).await.ok().json();
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());

    // New objects are refused in a terminating namespace.
    let refused =
        server.kubectl_stdin(&["create", "-f", "-"], &cm_yaml("late", Some("doomed"), &[], &[])).await.fails();
    assert!(refused.stderr.contains("being terminated") || refused.stderr.contains("Forbidden"), "{}", refused.stderr);

    eventually("everything but the held object to go", DEADLINE, || async {
        let all = server
            .kubectl(&["get", "configmaps,deployments,replicasets,pods", "-n", "doomed", "-o", "name"])
            .await
            .ok();
        let left: Vec<&str> = all.stdout.lines().collect();
        if left == ["configmap/held"] { Ok(()) } else { Err(all.stdout.clone()) }
    })
    .await;
    let ns = server.kubectl(&["get", "namespace", "doomed", "-o", "json"]).await.ok().json();
    assert_eq!(ns["status"]["phase"], "Terminating", "still held by the finalizer: {ns}");

    server
        .kubectl(&[
            "patch",
            "configmap",
            "held",
            "-n",
            "doomed",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await
        .ok();
    eventually("namespace gone", DEADLINE, || async {
        let out = server.kubectl(&["get", "namespace", "doomed"]).await;
        if out.code != 0 && (out.stderr.contains("NotFound") || out.stderr.contains("not found")) {
            Ok(())
        } else {
            Err(format!("{out:?}"))
        }
    })
    .await;
    let left = server.kubectl(&["get", "configmaps,deployments,pods", "-n", "doomed", "-o", "name"]).await.ok();
    assert!(left.stdout.trim().is_empty(), "{}", left.stdout);
}

#[tokio::test]
async fn simulator_converges_jobs_services_and_claims() {
    let server = Server::start().await;
    let manifests = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: public
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 443
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: main
        image: postgres:16
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: main
        image: agent:1
"#;
    server.kubectl_stdin(&["apply", "-f", "-"], manifests).await.ok();
    server.kubectl(&["wait", "--for=condition=Complete", "job/once", "--timeout=60s"]).await.ok();
    server.kubectl(&["rollout", "status", "statefulset/db", "--timeout=60s"]).await.ok();
    server.kubectl(&["rollout", "status", "daemonset/agent", "--timeout=60s"]).await.ok();
    let sts_pods = server.kubectl(&["get", "pods", "-l", "app=db", "-o", "name"]).await.ok();
    let mut names: Vec<&str> = sts_pods.stdout.lines().collect();
    names.sort();
    assert_eq!(names, ["pod/db-0", "pod/db-1"]);
    server.kubectl(&["wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=60s"]).await.ok();
    let svc = eventually("clusterIP assigned", DEADLINE, || async {
        let svc = server.kubectl(&["get", "svc", "web", "-o", "json"]).await.ok().json();
        let ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default().to_owned();
        if ip.parse::<std::net::Ipv4Addr>().is_ok() { Ok(svc) } else { Err(svc.to_string()) }
    })
    .await;
    let lb = eventually("load balancer ingress", DEADLINE, || async {
        let svc = server.kubectl(&["get", "svc", "public", "-o", "json"]).await.ok().json();
        if svc["status"]["loadBalancer"]["ingress"][0]["ip"].is_string() { Ok(svc) } else { Err(svc.to_string()) }
    })
    .await;
    assert_ne!(svc["spec"]["clusterIP"], lb["spec"]["clusterIP"], "distinct cluster IPs");
}

#[tokio::test]
async fn no_simulation_leaves_workloads_alone() {
    let server = Server::start_with(ServerOptions { simulation: Sim::Off, ..ServerOptions::default() }).await;
    server.kubectl_stdin(&["apply", "-f", "-"], &deployment_yaml("still", 2, "nginx")).await.ok();
    // Namespaces still work (an API controller, not the simulator).
    server.apply(&ns_yaml("x")).await;
    let ns = eventually("namespace Active", DEADLINE, || async {
        let ns = server.kubectl(&["get", "ns", "x", "-o", "json"]).await.ok().json();
        if ns["status"]["phase"] == "Active" { Ok(ns) } else { Err(ns.to_string()) }
    })
    .await;
    assert_eq!(ns["metadata"]["name"], "x");
    let pods = server.kubectl(&["get", "pods", "-o", "name"]).await.ok();
    assert!(pods.stdout.trim().is_empty(), "no simulator, no pods: {}", pods.stdout);
    let rss = server.kubectl(&["get", "rs", "-o", "name"]).await.ok();
    assert!(rss.stdout.trim().is_empty(), "{}", rss.stdout);
}

#[tokio::test]
async fn fault_injection_never_ready_exceeds_progress_deadline() {
    let server = Server::start_with(ServerOptions {
        faults: Some("neverReady:\n- \"*/broken:*\"\ncrashLoop: \"*/crashy:*\"\n".to_owned()),
        ..ServerOptions::default()
    })
    .await;
    let broken = deployment_yaml("broken", 1, "example.com/broken:1")
        .replace("  replicas: 1\n", "  replicas: 1\n  progressDeadlineSeconds: 2\n");
    server.kubectl_stdin(&["apply", "-f", "-"], &broken).await.ok();
    let deploy = eventually("ProgressDeadlineExceeded", DEADLINE, || async {
        let d = server.kubectl(&["get", "deploy", "broken", "-o", "json"]).await.ok().json();
        let hit = d["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "Progressing" && c["status"] == "False" && c["reason"] == "ProgressDeadlineExceeded"
            })
        });
        if hit { Ok(d) } else { Err(d["status"].to_string()) }
    })
    .await;
    assert!(deploy["status"]["readyReplicas"].as_u64().unwrap_or(0) == 0, "{deploy}");
    let out = server.kubectl(&["rollout", "status", "deployment/broken", "--timeout=30s"]).await.fails();
    assert!(out.stderr.contains("exceeded its progress deadline"), "{}", out.stderr);
    let pod = server.kubectl(&["get", "pods", "-l", "app=broken", "-o", "json"]).await.ok().json();
    let ready = &pod["items"][0]["status"]["containerStatuses"][0];
    assert_eq!(ready["ready"], false, "{pod}");
    assert_eq!(pod["items"][0]["status"]["phase"], "Running", "never-ready pods run: {pod}");

    // A healthy image in the same cluster is unaffected.
    server.kubectl_stdin(&["apply", "-f", "-"], &deployment_yaml("fine", 1, "example.com/fine:1")).await.ok();
    server.kubectl(&["rollout", "status", "deployment/fine", "--timeout=60s"]).await.ok();

    server.kubectl_stdin(&["apply", "-f", "-"], &deployment_yaml("crashy", 1, "example.com/crashy:1")).await.ok();
    eventually("CrashLoopBackOff", DEADLINE, || async {
        let p = server.kubectl(&["get", "pods", "-l", "app=crashy", "-o", "json"]).await.ok().json();
        let status = &p["items"][0]["status"]["containerStatuses"][0];
        if status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            && status["restartCount"].as_u64().unwrap_or(0) > 0
        {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
}

#[tokio::test]
async fn fault_injection_from_the_simulator_config_map() {
    let server = Server::start().await;
    server.apply(&cm_yaml("ferry-simulator", Some("ferry-system"), &[("neverReady", "*/stuck:*")], &[])).await;
    let stuck = deployment_yaml("stuck", 1, "example.com/stuck:2")
        .replace("  replicas: 1\n", "  replicas: 1\n  progressDeadlineSeconds: 2\n");
    server.kubectl_stdin(&["apply", "-f", "-"], &stuck).await.ok();
    let out = server.kubectl(&["rollout", "status", "deployment/stuck", "--timeout=60s"]).await.fails();
    assert!(out.stderr.contains("exceeded its progress deadline"), "{}", out.stderr);
}
