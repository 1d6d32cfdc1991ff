//! kubectl 1.32 against a fresh local cluster: discovery, the objects a
//! fresh cluster has, reading with every output format, selectors and
//! namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::{DEADLINE, Server, at, cm_yaml, eventually, item_names, ns_yaml, parse_table};
use serde_json::Value;

#[tokio::test]
async fn version_reports_a_kubernetes_server() {
    let server = Server::start().await;
    let out = server.kubectl(&["version", "-o", "json"]).await.ok();
    let v = out.json();
    assert_eq!(at(&v, "/serverVersion/major"), "1", "{v}");
    let minor = at(&v, "/serverVersion/minor").as_str().unwrap_or_default();
    assert!(minor.trim_end_matches('+').parse::<u32>().is_ok(), "minor is a number: {v}");
    let git = at(&v, "/serverVersion/gitVersion").as_str().unwrap_or_default();
    assert!(git.starts_with("v1."), "gitVersion {git}");
    // kubectl warns when client and server are more than one minor apart.
    assert!(!out.stderr.contains("version difference"), "{}", out.stderr);
}

#[tokio::test]
async fn api_resources_show_scope_shortnames_and_kinds() {
    let server = Server::start().await;
    let out = server.kubectl(&["api-resources", "-o", "wide"]).await.ok();
    let rows = parse_table(&out.stdout);
    let find = |name: &str, api: &str| {
        rows.iter()
            .find(|r| r["NAME"] == name && r["APIVERSION"] == api)
            .unwrap_or_else(|| panic!("api-resources lacks {name} {api}:\n{}", out.stdout))
            .clone()
    };
    // (name, apiVersion, shortnames, namespaced, kind)
    let expected = [
        ("pods", "v1", "po", "true", "Pod"),
        ("services", "v1", "svc", "true", "Service"),
        ("configmaps", "v1", "cm", "true", "ConfigMap"),
        ("namespaces", "v1", "ns", "false", "Namespace"),
        ("nodes", "v1", "no", "false", "Node"),
        ("persistentvolumeclaims", "v1", "pvc", "true", "PersistentVolumeClaim"),
        ("deployments", "apps/v1", "deploy", "true", "Deployment"),
        ("replicasets", "apps/v1", "rs", "true", "ReplicaSet"),
        ("statefulsets", "apps/v1", "sts", "true", "StatefulSet"),
        ("daemonsets", "apps/v1", "ds", "true", "DaemonSet"),
        ("cronjobs", "batch/v1", "cj", "true", "CronJob"),
        ("jobs", "batch/v1", "", "true", "Job"),
        ("ingresses", "networking.k8s.io/v1", "ing", "true", "Ingress"),
        ("clusterroles", "rbac.authorization.k8s.io/v1", "", "false", "ClusterRole"),
        ("customresourcedefinitions", "apiextensions.k8s.io/v1", "crd,crds", "false", "CustomResourceDefinition"),
        ("horizontalpodautoscalers", "autoscaling/v2", "hpa", "true", "HorizontalPodAutoscaler"),
        ("poddisruptionbudgets", "policy/v1", "pdb", "true", "PodDisruptionBudget"),
        ("storageclasses", "storage.k8s.io/v1", "sc", "false", "StorageClass"),
        ("leases", "coordination.k8s.io/v1", "", "true", "Lease"),
        ("endpointslices", "discovery.k8s.io/v1", "", "true", "EndpointSlice"),
        ("events", "events.k8s.io/v1", "ev", "true", "Event"),
        (
            "validatingwebhookconfigurations",
            "admissionregistration.k8s.io/v1",
            "",
            "false",
            "ValidatingWebhookConfiguration",
        ),
        ("apiservices", "apiregistration.k8s.io/v1", "", "false", "APIService"),
    ];
    for (name, api, short, namespaced, kind) in expected {
        let row = find(name, api);
        assert_eq!(row["SHORTNAMES"], short, "shortnames of {name}");
        assert_eq!(row["NAMESPACED"], namespaced, "scope of {name}");
        assert_eq!(row["KIND"], kind, "kind of {name}");
    }
    let deploy = find("deployments", "apps/v1");
    for verb in ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] {
        assert!(deploy["VERBS"].contains(verb), "deployments verbs {:?}", deploy["VERBS"]);
    }

    let cluster_scoped = server.kubectl(&["api-resources", "--namespaced=false", "-o", "name"]).await.ok();
    let names: Vec<&str> = cluster_scoped.stdout.lines().collect();
    assert!(names.contains(&"nodes"), "{names:?}");
    assert!(names.contains(&"namespaces"), "{names:?}");
    assert!(!names.contains(&"pods"), "{names:?}");

    let versions = server.kubectl(&["api-versions"]).await.ok();
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "coordination.k8s.io/v1",
        "policy/v1",
        "autoscaling/v2",
        "storage.k8s.io/v1",
        "admissionregistration.k8s.io/v1",
        "apiregistration.k8s.io/v1",
        "events.k8s.io/v1",
        "discovery.k8s.io/v1",
    ] {
        assert!(versions.stdout.lines().any(|l| l == gv), "api-versions lacks {gv}:\n{}", versions.stdout);
    }
}

#[tokio::test]
async fn fresh_cluster_looks_like_a_real_one() {
    let server = Server::start().await;
    let ns = server.kubectl(&["get", "namespaces", "-o", "json"]).await.ok().json();
    let names = item_names(&ns);
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.iter().any(|n| n == want), "namespaces {names:?} lack {want}");
        let item = ns["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == want).unwrap();
        assert_eq!(item["status"]["phase"], "Active", "{item}");
    }

    let sas = server.kubectl(&["get", "serviceaccounts", "-A", "-o", "json"]).await.ok().json();
    for namespace in &names {
        let has_default = sas["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|sa| sa["metadata"]["name"] == "default" && sa["metadata"]["namespace"] == namespace.as_str());
        assert!(has_default, "no default ServiceAccount in {namespace}");
    }

    let svc = server.kubectl(&["get", "service", "kubernetes", "-n", "default", "-o", "json"]).await.ok().json();
    let ip = svc["spec"]["clusterIP"].as_str().unwrap_or_default();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "kubernetes Service has a clusterIP: {svc}");
    assert_eq!(at(&svc, "/spec/ports/0/port"), 443, "{svc}");

    let nodes = server.kubectl(&["get", "nodes", "-o", "json"]).await.ok().json();
    let ready = nodes["items"].as_array().unwrap().iter().any(|node| {
        node["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    });
    assert!(ready, "no Ready node: {nodes}");
    server.kubectl(&["wait", "--for=condition=Ready", "node", "--all", "--timeout=30s"]).await.ok();
    let table = server.kubectl(&["get", "nodes"]).await.ok();
    let rows = parse_table(&table.stdout);
    assert!(rows.iter().any(|r| r["STATUS"] == "Ready"), "{}", table.stdout);
}

#[tokio::test]
async fn get_and_describe_in_every_output_format() {
    let server = Server::start().await;
    server
        .kubectl_stdin(&["create", "-f", "-"], &cm_yaml("settings", None, &[("color", "blue"), ("size", "10")], &[]))
        .await
        .ok();
    server.kubectl(&["label", "configmap", "settings", "tier=web"]).await.ok();

    let json = server.kubectl(&["get", "configmap", "settings", "-o", "json"]).await.ok().json();
    assert_eq!(json["kind"], "ConfigMap");
    assert_eq!(json["data"]["color"], "blue");
    assert_eq!(json["metadata"]["labels"]["tier"], "web");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(json["metadata"][field].as_str().is_some_and(|s| !s.is_empty()), "metadata.{field} in {json}");
    }

    let yaml = server.kubectl(&["get", "configmap", "settings", "-o", "yaml"]).await.ok();
    let parsed: Value = serde_saphyr::from_str(&yaml.stdout).expect("yaml output parses");
    assert_eq!(parsed["data"]["size"], "10");
    assert_eq!(parsed["metadata"]["uid"], json["metadata"]["uid"]);

    let wide = server.kubectl(&["get", "configmaps", "-o", "wide"]).await.ok();
    let rows = parse_table(&wide.stdout);
    let row = rows.iter().find(|r| r["NAME"] == "settings").unwrap_or_else(|| panic!("{}", wide.stdout));
    assert_eq!(row["DATA"], "2", "{}", wide.stdout);

    let name = server.kubectl(&["get", "cm", "settings", "-o", "name"]).await.ok();
    assert_eq!(name.stdout.trim(), "configmap/settings");

    let jsonpath = server.kubectl(&["get", "cm", "settings", "-o", "jsonpath={.data.color}"]).await.ok();
    assert_eq!(jsonpath.stdout, "blue");

    let labels = server.kubectl(&["get", "cm", "settings", "--show-labels"]).await.ok();
    assert!(labels.stdout.contains("tier=web"), "{}", labels.stdout);

    let described = server.kubectl(&["describe", "configmap", "settings"]).await.ok();
    assert!(described.stdout.contains("Name:") && described.stdout.contains("settings"), "{}", described.stdout);
    assert!(described.stdout.contains("color"), "{}", described.stdout);
    assert!(described.stdout.contains("tier=web"), "{}", described.stdout);

    let missing = server.kubectl(&["get", "configmap", "nope"]).await.fails();
    assert!(missing.stderr.contains("NotFound") || missing.stderr.contains("not found"), "{}", missing.stderr);
    let dup = server.kubectl_stdin(&["create", "-f", "-"], &cm_yaml("settings", None, &[], &[])).await.fails();
    assert!(dup.stderr.contains("AlreadyExists") || dup.stderr.contains("already exists"), "{}", dup.stderr);
}

#[tokio::test]
async fn describe_workloads_and_nodes() {
    let server = Server::start().await;
    server.kubectl_stdin(&["apply", "-f", "-"], &common::deployment_yaml("web", 2, "nginx:1.27")).await.ok();
    server.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]).await.ok();

    let deploy = server.kubectl(&["describe", "deployment", "web"]).await.ok();
    assert!(deploy.stdout.contains("Replicas:"), "{}", deploy.stdout);
    assert!(deploy.stdout.contains("nginx:1.27"), "{}", deploy.stdout);
    assert!(deploy.stdout.contains("NewReplicaSet:"), "{}", deploy.stdout);

    let pods = server.kubectl(&["describe", "pods", "-l", "app=web"]).await.ok();
    assert!(pods.stdout.matches("Name:").count() >= 2, "{}", pods.stdout);
    assert!(pods.stdout.contains("Controlled By:"), "{}", pods.stdout);

    let wide = server.kubectl(&["get", "pods", "-l", "app=web", "-o", "wide"]).await.ok();
    let rows = parse_table(&wide.stdout);
    assert_eq!(rows.len(), 2, "{}", wide.stdout);
    for row in &rows {
        assert_eq!(row["STATUS"], "Running", "{}", wide.stdout);
        assert_eq!(row["READY"], "1/1", "{}", wide.stdout);
        assert!(!row["NODE"].is_empty() && row["NODE"] != "<none>", "{}", wide.stdout);
    }

    let node = server.kubectl(&["describe", "nodes"]).await.ok();
    assert!(node.stdout.contains("Conditions:"), "{}", node.stdout);
}

#[tokio::test]
async fn label_selectors_namespaces_and_field_selectors() {
    let server = Server::start().await;
    server.apply(&ns_yaml("alpha")).await;
    server.apply(&ns_yaml("beta")).await;
    for (ns, name, labels) in [
        ("alpha", "a-web", "tier=web,env=prod"),
        ("alpha", "a-db", "tier=db,env=prod"),
        ("alpha", "a-none", ""),
        ("beta", "b-web", "tier=web,env=dev"),
        ("beta", "b-cache", "tier=cache"),
    ] {
        server.apply(&cm_yaml(name, Some(ns), &[], &[])).await;
        if !labels.is_empty() {
            let mut args = vec!["label", "configmap", name, "-n", ns];
            let parts: Vec<&str> = labels.split(',').collect();
            args.extend(parts);
            server.kubectl(&args).await.ok();
        }
    }
    let names = |out: common::Out| {
        // Only this test's objects: the server may hold others (for example
        // a root CA ConfigMap in every namespace).
        let mut n: Vec<String> = out
            .stdout
            .lines()
            .map(|l| l.trim_start_matches("configmap/").to_owned())
            .filter(|n| n.starts_with("a-") || n.starts_with("b-"))
            .collect();
        n.sort();
        n
    };
    let sel = |s: &'static str| ["get", "configmaps", "-A", "-o", "name", "-l", s];

    assert_eq!(names(server.kubectl(&sel("tier=web")).await.ok()), ["a-web", "b-web"]);
    assert_eq!(names(server.kubectl(&sel("tier!=web")).await.ok()), ["a-db", "a-none", "b-cache"]);
    assert_eq!(names(server.kubectl(&sel("tier in (db,cache)")).await.ok()), ["a-db", "b-cache"]);
    assert_eq!(names(server.kubectl(&sel("tier notin (web,db),tier")).await.ok()), ["b-cache"]);
    assert_eq!(names(server.kubectl(&sel("env")).await.ok()), ["a-db", "a-web", "b-web"]);
    assert_eq!(names(server.kubectl(&sel("tier,!env")).await.ok()), ["b-cache"]);
    assert_eq!(names(server.kubectl(&sel("env=prod,tier=db")).await.ok()), ["a-db"]);

    let alpha = server.kubectl(&["get", "configmaps", "-n", "alpha", "-o", "json"]).await.ok().json();
    let mut in_alpha = item_names(&alpha);
    in_alpha.retain(|n| n.starts_with("a-"));
    in_alpha.sort();
    assert_eq!(in_alpha, ["a-db", "a-none", "a-web"]);
    assert!(alpha["items"].as_array().unwrap().iter().all(|i| i["metadata"]["namespace"] == "alpha"));

    let all = server.kubectl(&["get", "configmaps", "-A"]).await.ok();
    let rows = parse_table(&all.stdout);
    assert!(rows.iter().any(|r| r["NAMESPACE"] == "beta" && r["NAME"] == "b-web"), "{}", all.stdout);
    assert!(rows.iter().any(|r| r["NAMESPACE"] == "alpha" && r["NAME"] == "a-web"), "{}", all.stdout);

    let by_name = server
        .kubectl(&["get", "configmaps", "-A", "-o", "name", "--field-selector", "metadata.name=b-web"])
        .await
        .ok();
    assert_eq!(by_name.stdout.trim(), "configmap/b-web");
    let by_ns = server
        .kubectl(&["get", "configmaps", "-A", "-o", "json", "--field-selector", "metadata.namespace=beta"])
        .await
        .ok()
        .json();
    assert!(by_ns["items"].as_array().unwrap().iter().all(|i| i["metadata"]["namespace"] == "beta"), "{by_ns}");
    let not_ns = server
        .kubectl(&["get", "configmaps", "-A", "-o", "json", "--field-selector", "metadata.namespace!=beta"])
        .await
        .ok()
        .json();
    assert!(item_names(&not_ns).iter().any(|n| n == "a-web"));
    assert!(!item_names(&not_ns).iter().any(|n| n == "b-web"));

    let bad = server.kubectl(&["get", "configmaps", "-l", "tier in (web"]).await.fails();
    assert!(!bad.stderr.is_empty());

    // Deleting by selector removes exactly the matching objects.
    let deleted = server.kubectl(&["delete", "configmaps", "-n", "beta", "-l", "tier=cache"]).await.ok();
    assert!(deleted.stdout.contains("b-cache"), "{}", deleted.stdout);
    assert_eq!(
        names(server.kubectl(&["get", "configmaps", "-A", "-o", "name"]).await.ok()),
        ["a-db", "a-none", "a-web", "b-web"]
    );

    // Selectors follow label changes.
    server.kubectl(&["label", "configmap", "a-none", "-n", "alpha", "tier=web"]).await.ok();
    eventually("a-none to match tier=web", DEADLINE, || async {
        let out = server.kubectl(&sel("tier=web")).await.ok();
        let got = names(out);
        if got == ["a-none", "a-web", "b-web"] { Ok(()) } else { Err(format!("{got:?}")) }
    })
    .await;
}

#[tokio::test]
async fn imperative_create_commands() {
    // kubectl's typed `create` subcommands send protobuf bodies.
    let server = Server::start().await;
    server.kubectl(&["create", "namespace", "made"]).await.ok();
    server
        .kubectl(&["create", "configmap", "cfg", "-n", "made", "--from-literal=a=1", "--from-literal=b=2"])
        .await
        .ok();
    server.kubectl(&["create", "secret", "generic", "sec", "-n", "made", "--from-literal=password=hunter2"]).await.ok();
    server.kubectl(&["create", "deployment", "dep", "-n", "made", "--image=nginx:1.27", "--replicas=2"]).await.ok();
    server.kubectl(&["create", "service", "clusterip", "svc", "-n", "made", "--tcp=80:8080"]).await.ok();
    server.kubectl(&["create", "job", "once", "-n", "made", "--image=busybox:1"]).await.ok();
    server.kubectl(&["create", "serviceaccount", "robot", "-n", "made"]).await.ok();

    let cfg = server.kubectl(&["get", "configmap", "cfg", "-n", "made", "-o", "json"]).await.ok().json();
    assert_eq!(cfg["data"], serde_json::json!({"a": "1", "b": "2"}));
    let sec = server.kubectl(&["get", "secret", "sec", "-n", "made", "-o", "json"]).await.ok().json();
    assert_eq!(sec["data"]["password"], "aHVudGVyMg==", "base64 of hunter2: {sec}");
    assert_eq!(sec["type"], "Opaque");
    let dep = server.kubectl(&["get", "deployment", "dep", "-n", "made", "-o", "json"]).await.ok().json();
    assert_eq!(dep["spec"]["replicas"], 2);
    assert_eq!(dep["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    let svc = server.kubectl(&["get", "service", "svc", "-n", "made", "-o", "json"]).await.ok().json();
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    server.kubectl(&["get", "job", "once", "-n", "made"]).await.ok();
    server.kubectl(&["get", "serviceaccount", "robot", "-n", "made"]).await.ok();
    let dup = server.kubectl(&["create", "configmap", "cfg", "-n", "made"]).await.fails();
    assert!(dup.stderr.contains("AlreadyExists") || dup.stderr.contains("already exists"), "{}", dup.stderr);
    server.kubectl(&["rollout", "status", "deployment/dep", "-n", "made", "--timeout=60s"]).await.ok();
}
