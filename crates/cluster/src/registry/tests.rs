use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use patch::{Gvk, Schema};
use serde_json::{Value, json};

use super::*;

fn registry() -> Registry {
    Registry::builtin()
}

fn rt(group: &str, version: &str, plural: &str) -> Arc<ResourceType> {
    match registry().resolve(group, version, plural) {
        Some(rt) => rt,
        None => panic!("{group}/{version}/{plural} should be served"),
    }
}

/// Compares with `testdata/<name>`, rewriting it when `FERRY_BLESS=1`.
fn golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/registry/testdata").join(name);
    let text = serde_json::to_string_pretty(actual).unwrap_or_default() + "\n";
    if std::env::var("FERRY_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap_or(&path)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with FERRY_BLESS=1)", path.display()));
    assert_eq!(text, expected, "{} differs (run with FERRY_BLESS=1 to refresh)", path.display());
}

#[test]
fn every_builtin_kind_has_a_schema() {
    for rt in registry().resources() {
        let gvk = Gvk::new(&rt.group, &rt.version, &rt.kind);
        assert!(Schema::builtin().root(&gvk).is_some(), "no schema for {gvk:?}");
        if rt.verbs.iter().any(|v| v == "list") {
            let list = Gvk::new(&rt.group, &rt.version, &rt.list_kind);
            assert!(Schema::builtin().root(&list).is_some(), "no schema for {list:?}");
        }
    }
}

#[test]
fn serves_the_supported_group_versions() {
    let gvs: Vec<String> = registry()
        .group_versions()
        .iter()
        .map(|(g, v)| if g.is_empty() { v.clone() } else { format!("{g}/{v}") })
        .collect();
    assert_eq!(
        gvs,
        [
            "v1",
            "apiregistration.k8s.io/v1",
            "apps/v1",
            "events.k8s.io/v1",
            "autoscaling/v2",
            "batch/v1",
            "networking.k8s.io/v1",
            "policy/v1",
            "rbac.authorization.k8s.io/v1",
            "storage.k8s.io/v1",
            "admissionregistration.k8s.io/v1",
            "apiextensions.k8s.io/v1",
            "coordination.k8s.io/v1",
            "discovery.k8s.io/v1",
        ]
    );
    assert_eq!(registry().resources().len(), 49);
}

/// group, version, plural, kind, namespaced, short names.
type NameCase<'a> = (&'a str, &'a str, &'a str, &'a str, bool, &'a [&'a str]);

#[test]
fn names_scopes_and_short_names() {
    let cases: &[NameCase] = &[
        ("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
        ("", "v1", "namespaces", "Namespace", false, &["ns"]),
        ("", "v1", "pods", "Pod", true, &["po"]),
        ("", "v1", "services", "Service", true, &["svc"]),
        ("", "v1", "nodes", "Node", false, &["no"]),
        ("", "v1", "persistentvolumes", "PersistentVolume", false, &["pv"]),
        ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"]),
        ("", "v1", "resourcequotas", "ResourceQuota", true, &["quota"]),
        ("", "v1", "limitranges", "LimitRange", true, &["limits"]),
        ("", "v1", "componentstatuses", "ComponentStatus", false, &["cs"]),
        ("", "v1", "endpoints", "Endpoints", true, &["ep"]),
        ("", "v1", "events", "Event", true, &["ev"]),
        ("", "v1", "replicationcontrollers", "ReplicationController", true, &["rc"]),
        ("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]),
        ("apps", "v1", "deployments", "Deployment", true, &["deploy"]),
        ("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"]),
        ("batch", "v1", "cronjobs", "CronJob", true, &["cj"]),
        ("networking.k8s.io", "v1", "ingresses", "Ingress", true, &["ing"]),
        ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, &["netpol"]),
        ("networking.k8s.io", "v1", "ipaddresses", "IPAddress", false, &["ip"]),
        ("networking.k8s.io", "v1", "servicecidrs", "ServiceCIDR", false, &[]),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
        ),
        ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"]),
        ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["hpa"]),
        ("storage.k8s.io", "v1", "storageclasses", "StorageClass", false, &["sc"]),
        ("storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity", true, &[]),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            false,
            &[],
        ),
    ];
    for (group, version, plural, kind, namespaced, short) in cases {
        let r = rt(group, version, plural);
        assert_eq!(&r.kind, kind);
        assert_eq!(r.singular, kind.to_lowercase());
        assert_eq!(r.namespaced, *namespaced, "{plural}");
        assert_eq!(r.short_names, short.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{plural}");
        let by_kind = registry().by_kind(group, version, kind);
        assert_eq!(by_kind.map(|r| r.plural.clone()).as_deref(), Some(*plural));
    }
    assert!(registry().resolve("apps", "v1", "nope").is_none());
    assert!(registry().resolve("", "v2", "pods").is_none());
}

#[test]
fn categories_verbs_and_subresources() {
    let all: Vec<String> = registry()
        .resources()
        .iter()
        .filter(|r| r.categories.contains(&"all".to_string()))
        .map(|r| r.plural.clone())
        .collect();
    assert_eq!(
        all,
        [
            "pods",
            "replicationcontrollers",
            "services",
            "daemonsets",
            "deployments",
            "replicasets",
            "statefulsets",
            "horizontalpodautoscalers",
            "cronjobs",
            "jobs"
        ]
    );
    assert_eq!(rt("", "v1", "bindings").verbs, ["create"]);
    assert_eq!(rt("", "v1", "componentstatuses").verbs, ["get", "list"]);
    assert!(!rt("", "v1", "namespaces").verbs.contains(&"deletecollection".to_string()));
    let scaled: Vec<String> =
        registry().resources().iter().filter(|r| r.scale.is_some()).map(|r| r.plural.clone()).collect();
    assert_eq!(scaled, ["replicationcontrollers", "deployments", "replicasets", "statefulsets"]);
    assert!(rt("apps", "v1", "deployments").status);
    assert!(!rt("", "v1", "configmaps").status);
    assert!(rt("", "v1", "pods").other_subresources.contains(&"log".to_string()));
    assert_eq!(registry().preferred_version("autoscaling").as_deref(), Some("v2"));
    assert_eq!(registry().preferred_version("nope.example.com"), None);
}

#[test]
fn version_priority_orders_like_kubernetes() {
    let mut versions = vec!["v1alpha1", "foo", "v2beta1", "v1", "v1beta2", "v1beta1", "v2", "v11alpha2", "bar"];
    versions.sort_by(|a, b| version_priority(a, b));
    assert_eq!(versions, ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v11alpha2", "v1alpha1", "bar", "foo"]);
}

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {
                    "name": "v1beta1", "served": true, "storage": false,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
                },
                {
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}, "color": {"type": "string"}}},
                        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"},
                            "conditions": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}
                    }}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                    "additionalPrinterColumns": [
                        {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "priority": 1},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                    ]
                },
                {"name": "v0", "served": false, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
            ]
        }
    })
}

fn with_widgets() -> Registry {
    registry().with_crd(&widget_crd()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn crds_register_their_served_versions() {
    let r = with_widgets();
    let v1 = r.resolve("example.com", "v1", "widgets").unwrap_or_else(|| panic!("v1 served"));
    assert!(r.resolve("example.com", "v1beta1", "widgets").is_some());
    assert!(r.resolve("example.com", "v0", "widgets").is_none());
    assert_eq!(v1.kind, "Widget");
    assert_eq!(v1.list_kind, "WidgetList");
    assert_eq!(v1.short_names, ["wd"]);
    assert_eq!(v1.categories, ["all"]);
    assert!(v1.namespaced);
    assert!(v1.status);
    assert_eq!(v1.crd_name().as_deref(), Some("widgets.example.com"));
    assert_eq!(
        v1.scale,
        Some(ScaleSpec {
            spec_replicas_path: ".spec.replicas".into(),
            status_replicas_path: ".status.replicas".into(),
            label_selector_path: Some(".status.selector".into())
        })
    );
    assert!(matches!(v1.schema, SchemaSource::Crd(_)));
    assert_eq!(r.storage_version(&v1), "v1");
    let beta = r.resolve("example.com", "v1beta1", "widgets").unwrap_or_else(|| panic!("beta served"));
    assert_eq!(r.storage_version(&beta), "v1");
    assert!(!beta.status);
    assert_eq!(beta.printer_columns.len(), 1, "default AGE column");
    assert_eq!(r.versions("example.com"), ["v1", "v1beta1"]);
    assert_eq!(r.groups().last().map(String::as_str), Some("example.com"));
    assert_eq!(r.storage_version(&rt("apps", "v1", "deployments")), "v1");
}

#[test]
fn crds_are_replaced_and_removed() {
    let r = with_widgets();
    let mut changed = widget_crd();
    changed["spec"]["scope"] = json!("Cluster");
    changed["spec"]["versions"][0]["served"] = json!(false);
    let r2 = r.with_crd(&changed).unwrap_or_else(|e| panic!("{e}"));
    assert!(r2.resolve("example.com", "v1beta1", "widgets").is_none());
    assert!(!r2.resolve("example.com", "v1", "widgets").is_some_and(|rt| rt.namespaced));
    assert_eq!(r2.resources().len(), registry().resources().len() + 1);
    let r3 = r2.without_crd("widgets.example.com");
    assert!(r3.resolve("example.com", "v1", "widgets").is_none());
    assert_eq!(r3.resources().len(), registry().resources().len());
    assert!(r3.preferred_version("example.com").is_none());
}

type Mutation = Box<dyn Fn(&mut Value)>;

#[test]
fn invalid_crds_name_the_field() {
    let cases: Vec<(&str, Mutation)> = vec![
        ("metadata.name", Box::new(|c| c["metadata"] = json!({}))),
        ("metadata.name", Box::new(|c| c["metadata"]["name"] = json!("gadgets.example.com"))),
        ("spec.group", Box::new(|c| c["spec"]["group"] = json!("example"))),
        (
            "spec.names.plural",
            Box::new(|c| c["spec"]["names"].as_object_mut().map(|n| n.remove("plural")).map(drop).unwrap_or(())),
        ),
        ("spec.names.kind", Box::new(|c| c["spec"]["names"]["kind"] = json!(""))),
        ("spec.scope", Box::new(|c| c["spec"]["scope"] = json!("Global"))),
        ("spec.versions", Box::new(|c| c["spec"]["versions"] = json!([]))),
        ("spec.versions", Box::new(|c| c["spec"]["versions"][0]["storage"] = json!(true))),
        (
            "spec.versions",
            Box::new(|c| {
                for v in c["spec"]["versions"].as_array_mut().into_iter().flatten() {
                    v["served"] = json!(false);
                }
            }),
        ),
        ("spec.versions[1].schema.openAPIV3Schema", Box::new(|c| c["spec"]["versions"][1]["schema"] = json!({}))),
        (
            "spec.versions[1].subresources.scale.specReplicasPath",
            Box::new(|c| {
                c["spec"]["versions"][1]["subresources"]["scale"] = json!({"statusReplicasPath": ".status.replicas"})
            }),
        ),
    ];
    for (field, mutate) in cases {
        let mut crd = widget_crd();
        mutate(&mut crd);
        match registry().with_crd(&crd) {
            Err(RegistryError::InvalidCrd { field: f, .. }) => assert_eq!(f, field),
            Ok(_) => panic!("CRD with a bad {field} was accepted"),
        }
    }
    // A CRD may not take over a built-in resource.
    let mut crd = widget_crd();
    crd["metadata"]["name"] = json!("ingresses.networking.k8s.io");
    crd["spec"]["group"] = json!("networking.k8s.io");
    crd["spec"]["names"]["plural"] = json!("ingresses");
    assert!(registry().with_crd(&crd).is_err());
}

#[test]
fn legacy_discovery_documents() {
    let r = with_widgets();
    assert_eq!(r.api_versions(), json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}));
    let groups = r.api_group_list();
    let example = groups["groups"].as_array().and_then(|g| g.iter().find(|g| g["name"] == "example.com")).cloned();
    assert_eq!(
        example,
        Some(json!({
            "name": "example.com",
            "versions": [{"groupVersion": "example.com/v1", "version": "v1"}, {"groupVersion": "example.com/v1beta1", "version": "v1beta1"}],
            "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}
        }))
    );
    assert_eq!(r.api_group("example.com").map(|g| g["preferredVersion"]["version"].clone()), Some(json!("v1")));
    assert!(r.api_group("nope.io").is_none());
    assert!(r.api_resource_list("nope.io", "v1").is_none());
    golden("apps-v1-resources.json", &r.api_resource_list("apps", "v1").unwrap_or_default());
    golden("example.com-v1-resources.json", &r.api_resource_list("example.com", "v1").unwrap_or_default());
    let core = r.api_resource_list("", "v1").unwrap_or_default();
    let names: Vec<&str> =
        core["resources"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()).collect();
    for expected in [
        "pods",
        "pods/log",
        "pods/exec",
        "pods/status",
        "serviceaccounts/token",
        "replicationcontrollers/scale",
        "namespaces/finalize",
    ] {
        assert!(names.contains(&expected), "{expected} missing from /api/v1");
    }
}

#[test]
fn aggregated_discovery_documents() {
    let r = with_widgets();
    let core = r.aggregated_discovery(Discovery::Core);
    assert_eq!(core["kind"], "APIGroupDiscoveryList");
    assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    assert_eq!(core["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(core["items"][0]["versions"][0]["version"], "v1");
    let named = r.aggregated_discovery(Discovery::Named);
    let items = named["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 14, "13 built-in named groups and example.com");
    assert!(items.iter().all(|i| i["metadata"]["name"] != ""));
    let apps = items.iter().find(|i| i["metadata"]["name"] == "apps").cloned().unwrap_or_default();
    golden("aggregated-apps.json", &apps);
    let example = items.iter().find(|i| i["metadata"]["name"] == "example.com").cloned().unwrap_or_default();
    golden("aggregated-example.com.json", &example);
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).single().unwrap_or_default()
}

fn cells(group: &str, version: &str, plural: &str, object: Value) -> Vec<Value> {
    table_cells_at(&rt(group, version, plural), &object, now())
}

#[test]
fn pod_cells() {
    let pod = json!({
        "metadata": {"name": "web-0", "creationTimestamp": "2025-01-01T11:55:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}
    });
    assert_eq!(
        cells("", "v1", "pods", pod),
        [
            json!("web-0"),
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("3"),
            json!("5m"),
            json!("10.0.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    let headers: Vec<Value> =
        table_column_definitions(&rt("", "v1", "pods")).iter().map(|c| c["name"].clone()).collect();
    assert_eq!(
        headers,
        ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    );
}

#[test]
fn workload_cells() {
    let deploy = json!({
        "metadata": {"name": "web", "creationTimestamp": "2024-12-30T12:00:00Z"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3}
    });
    assert_eq!(
        cells("apps", "v1", "deployments", deploy),
        [json!("web"), json!("2/3"), json!(3), json!(0), json!("2d"), json!("web"), json!("nginx:1"), json!("app=web")]
    );
    let job = json!({
        "metadata": {"name": "j", "creationTimestamp": "2025-01-01T11:00:00Z"},
        "spec": {"completions": 1, "template": {"spec": {"containers": []}}},
        "status": {"succeeded": 1, "startTime": "2025-01-01T11:00:00Z", "completionTime": "2025-01-01T11:00:42Z",
            "conditions": [{"type": "Complete", "status": "True"}]}
    });
    let c = cells("batch", "v1", "jobs", job);
    assert_eq!(c[..5], [json!("j"), json!("Complete"), json!("1/1"), json!("42s"), json!("60m")]);
}

#[test]
fn service_node_and_config_cells() {
    let svc = json!({
        "metadata": {"name": "web", "creationTimestamp": "2025-01-01T12:00:00Z"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "web"}}
    });
    assert_eq!(
        cells("", "v1", "services", svc),
        [
            json!("web"),
            json!("NodePort"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80:30080/TCP,53/UDP"),
            json!("0s"),
            json!("app=web")
        ]
    );
    let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}});
    assert_eq!(cells("", "v1", "services", lb)[3], json!("<pending>"));
    let node = json!({
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}, "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.0"}}
    });
    assert_eq!(
        cells("", "v1", "nodes", node)[..5],
        [json!("n1"), json!("Ready,SchedulingDisabled"), json!("control-plane"), json!("12h"), json!("v1.33.0")]
    );
    let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(cells("", "v1", "configmaps", cm)[..2], [json!("c"), json!(3)]);
    let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "MQ=="}});
    assert_eq!(cells("", "v1", "secrets", secret)[..3], [json!("s"), json!("Opaque"), json!(1)]);
    let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
    assert_eq!(cells("", "v1", "namespaces", ns)[..2], [json!("default"), json!("Active")]);
    let pvc = json!({"metadata": {"name": "data"}, "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}, "spec": {"volumeName": "pv-1"}});
    assert_eq!(
        cells("", "v1", "persistentvolumeclaims", pvc)[..5],
        [json!("data"), json!("Bound"), json!("pv-1"), json!("1Gi"), json!("RWO")]
    );
}

#[test]
fn default_and_crd_cells() {
    let crd = json!({"metadata": {"name": "widgets.example.com", "creationTimestamp": "2025-01-01T10:00:00Z"}});
    let headers: Vec<Value> = table_column_definitions(&rt("apiextensions.k8s.io", "v1", "customresourcedefinitions"))
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(headers, ["Name", "Created At"]);
    assert_eq!(
        cells("apiextensions.k8s.io", "v1", "customresourcedefinitions", crd),
        [json!("widgets.example.com"), json!("2025-01-01T10:00:00Z")]
    );

    let r = with_widgets();
    let widgets = r.resolve("example.com", "v1", "widgets").unwrap_or_else(|| panic!("served"));
    let w = json!({
        "metadata": {"name": "w1", "creationTimestamp": "2025-01-01T11:59:00Z"},
        "spec": {"color": "blue", "replicas": 2},
        "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}]}
    });
    assert_eq!(
        table_cells_at(&widgets, &w, now()),
        [json!("w1"), json!("blue"), json!("False"), json!(2), json!("60s")]
    );
    let bare = json!({"metadata": {"name": "w2"}});
    assert_eq!(
        table_cells_at(&widgets, &bare, now()),
        [json!("w2"), Value::Null, Value::Null, Value::Null, Value::Null]
    );
    let priorities: Vec<Value> = table_column_definitions(&widgets).iter().map(|c| c["priority"].clone()).collect();
    assert_eq!(priorities, [json!(0), json!(0), json!(0), json!(1), json!(0)]);
}

#[test]
fn human_durations() {
    let d = chrono::Duration::seconds;
    for (secs, text) in [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (100 * 86400, "100d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(human_duration(d(secs)), text, "{secs}s");
    }
}
