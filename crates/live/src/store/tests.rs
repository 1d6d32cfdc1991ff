#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use serde_json::{Value, json};

use super::*;

fn kind() -> KindInfo {
    KindInfo { group: "apps".into(), kind: "Deployment".into(), api_version: "apps/v1".into() }
}

fn deployment(tracking: Option<&str>) -> Value {
    let mut annotations = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": \"copy\"}",
        "team": "a",
    });
    if let Some(id) = tracking {
        annotations["ferry.dev/tracking-id"] = Value::String(id.to_owned());
    }
    json!({
        "metadata": {
            "name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "42",
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "owner-1"}],
            "managedFields": [
                {"manager": "ferry", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
            ],
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    })
}

const ANNOTATION: &str = "ferry.dev/tracking-id";

#[test]
fn tracked_object_keeps_a_compact_body_without_noise() {
    let object = deployment(Some("shop:apps/Deployment:prod/web"));
    let got = incoming(object, &kind(), ANNOTATION, &KeepManagers::default(), 3).unwrap();
    assert_eq!(got.name, ("prod".into(), "web".into()));
    assert_eq!(got.entry.app.as_deref(), Some("shop"));
    assert_eq!(&*got.entry.uid, "u-1");
    assert_eq!(&*got.entry.resource_version, "42");
    assert_eq!(&got.entry.owners[..], &[Box::<str>::from("owner-1")]);
    assert_eq!(got.entry.epoch, 3);
    let body: Value = serde_json::from_str(got.entry.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["apiVersion"], "apps/v1", "type filled in: list items may lack it");
    assert_eq!(body["kind"], "Deployment");
    assert_eq!(body["status"]["readyReplicas"], 2, "health needs status");
    let managers: Vec<&str> =
        body["metadata"]["managedFields"].as_array().unwrap().iter().map(|m| m["manager"].as_str().unwrap()).collect();
    assert_eq!(managers, ["ferry"]);
    let annotations = body["metadata"]["annotations"].as_object().unwrap();
    assert!(!annotations.contains_key(LAST_APPLIED));
    assert_eq!(annotations["team"], "a");
}

#[test]
fn keep_all_managers_keeps_every_entry() {
    let object = deployment(Some("shop:apps/Deployment:prod/web"));
    let got = incoming(object, &kind(), ANNOTATION, &KeepManagers::All, 0).unwrap();
    let body: Value = serde_json::from_str(got.entry.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["metadata"]["managedFields"].as_array().unwrap().len(), 2);
}

#[test]
fn no_kept_manager_removes_managed_fields_entirely() {
    let object = deployment(Some("shop:apps/Deployment:prod/web"));
    let got = incoming(object, &kind(), ANNOTATION, &KeepManagers::Only(vec!["argocd".into()]), 0).unwrap();
    let body: Value = serde_json::from_str(got.entry.body.as_deref().unwrap()).unwrap();
    assert!(body["metadata"].get("managedFields").is_none(), "{body}");
}

#[test]
fn untracked_and_foreign_ids_keep_identity_only() {
    for id in [
        None,
        // A ReplicaSet inherits its Deployment's annotation; a copy names another object.
        Some("shop:apps/ReplicaSet:prod/web"),
        Some("shop:apps/Deployment:staging/web"),
        Some("shop:apps/Deployment:prod/other"),
        Some("not a tracking id"),
    ] {
        let got = incoming(deployment(id), &kind(), ANNOTATION, &KeepManagers::default(), 0).unwrap();
        assert!(got.entry.app.is_none(), "{id:?}");
        assert!(got.entry.body.is_none(), "{id:?}");
        assert_eq!(&*got.entry.uid, "u-1");
        assert_eq!(got.entry.owners.len(), 1);
    }
}

#[test]
fn object_without_a_name_is_skipped() {
    assert!(incoming(json!({"metadata": {"uid": "x"}}), &kind(), ANNOTATION, &KeepManagers::default(), 0).is_none());
    assert!(incoming(json!("garbage"), &kind(), ANNOTATION, &KeepManagers::default(), 0).is_none());
}

/// The figure behind storing compact JSON rather than `serde_json::Value`:
/// a typical Deployment is several times smaller as bytes.
#[test]
fn compact_json_is_much_smaller_than_a_value() {
    let mut object = deployment(Some("shop:apps/Deployment:prod/web"));
    object["spec"] = json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "frontend"}},
            "spec": {"containers": [{
                "name": "web", "image": "nginx:1.27",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
            }]},
        },
    });
    let got = incoming(object, &kind(), ANNOTATION, &KeepManagers::default(), 0).unwrap();
    let compact = got.entry.body.as_deref().unwrap();
    let as_value: Value = serde_json::from_str(compact).unwrap();
    let value_bytes = value_heap_bytes(&as_value) + std::mem::size_of::<Value>();
    eprintln!("compact {} bytes, serde_json::Value ~{value_bytes} bytes", compact.len());
    assert!(compact.len() * 3 < value_bytes, "compact {} vs value {value_bytes}", compact.len());
}
