use serde_json::{Value, json};

use super::*;
use crate::{Gvk, Schema};

/// managedFields of a Deployment created with `kubectl apply` (client-side)
/// and then reconciled by the deployment controller, as a 1.32 API server
/// stores them.
const KUBECTL_MANAGED_FIELDS: &str = r#"[
{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1","time":"2025-03-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}},
{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","time":"2025-03-01T10:00:05Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Progressing\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}},"subresource":"status"},
{"manager":"finalizer-controller","operation":"Update","apiVersion":"v1","time":"2025-03-01T10:00:06Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/cleanup\"":{}}},"f:spec":{"f:args":{"i:0":{}}}}}
]"#;

fn deployment() -> TypeRef<'static> {
    Schema::builtin().root(&Gvk::new("apps", "v1", "Deployment")).expect("deployment schema")
}

fn set(v: Value) -> FieldSet {
    FieldSet::from_fields_v1(&v).expect("fieldsV1")
}

#[test]
fn kubectl_managed_fields_round_trip_byte_for_byte() {
    let entries: Vec<Value> = serde_json::from_str(KUBECTL_MANAGED_FIELDS).expect("blob");
    for entry in entries {
        let raw = &entry["fieldsV1"];
        let back = FieldSet::from_fields_v1(raw).expect("parse").to_fields_v1();
        assert_eq!(serde_json::to_string(&back).expect("json"), serde_json::to_string(raw).expect("json"));
    }
}

#[test]
fn keys_are_written_in_kubernetes_order_whatever_the_input_order() {
    let shuffled = json!({"f:spec": {"k:{\"protocol\":\"TCP\",\"port\":8080}": {}, "k:{\"port\":443,\"protocol\":\"TCP\"}": {}, "f:b": {}, ".": {}}});
    let text = serde_json::to_string(&set(shuffled).to_fields_v1()).expect("json");
    assert_eq!(
        text,
        r#"{"f:spec":{".":{},"f:b":{},"k:{\"port\":443,\"protocol\":\"TCP\"}":{},"k:{\"port\":8080,\"protocol\":\"TCP\"}":{}}}"#
    );
}

#[test]
fn malformed_fields_v1_is_an_error() {
    for bad in
        [json!([]), json!({"f:a": 1}), json!({"x:a": {}}), json!({"k:[1]": {}}), json!({"i:-1": {}}), json!({".": {}})]
    {
        assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
    }
}

#[test]
fn paths_read_like_kubernetes_conflicts() {
    let s = set(json!({
        "f:metadata": {"f:finalizers": {"v:\"example.com/x\"": {}}},
        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
            ".": {}, "f:image": {}, "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {}}
        }}}}, "f:args": {"i:2": {}}}
    }));
    assert_eq!(
        s.paths(),
        vec![
            r#".metadata.finalizers[="example.com/x"]"#,
            ".spec.args[2]",
            ".spec.replicas",
            r#".spec.template.spec.containers[name="nginx"]"#,
            r#".spec.template.spec.containers[name="nginx"].image"#,
            r#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]"#,
        ]
    );
}

#[test]
fn set_operations_respect_membership_of_inner_nodes() {
    let a = set(json!({"f:labels": {".": {}, "f:app": {}, "f:tier": {}}}));
    let b = set(json!({"f:labels": {"f:tier": {}, "f:zone": {}}}));
    assert_eq!(a.union(&b), set(json!({"f:labels": {".": {}, "f:app": {}, "f:tier": {}, "f:zone": {}}})));
    assert_eq!(a.difference(&b), set(json!({"f:labels": {".": {}, "f:app": {}}})));
    assert_eq!(a.intersection(&b), set(json!({"f:labels": {"f:tier": {}}})));
    assert!(b.difference(&a.union(&b)).is_empty());
    assert!(a.intersection(&set(json!({"f:other": {}}))).is_empty());
    assert!(FieldSet::new().is_empty());
}

#[test]
fn of_object_on_a_typed_deployment_matches_the_api_server() {
    let applied = json!({
        "metadata": {"labels": {"app": "nginx"}, "annotations": {}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80}]
                }]}
            }
        }
    });
    let fields = FieldSet::of_object(&applied, Some(deployment()));
    // The selector is an atomic map, args an atomic list, ports a map list
    // whose missing `protocol` key defaults to TCP; the empty annotations
    // map sets nothing.
    assert_eq!(
        serde_json::to_string(&fields.to_fields_v1()).expect("json"),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:args":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
    );
}

#[test]
fn of_object_sets_track_each_value() {
    let obj = json!({"metadata": {"finalizers": ["a", "b"]}});
    let fields = FieldSet::of_object(&obj, Some(deployment()));
    assert_eq!(fields.paths(), vec![r#".metadata.finalizers[="a"]"#, r#".metadata.finalizers[="b"]"#]);
}

#[test]
fn of_object_without_schema_treats_lists_as_atomic() {
    let obj = json!({"spec": {"items": [{"name": "a"}], "nested": {"x": 1, "empty": {}}}});
    assert_eq!(FieldSet::of_object(&obj, None).paths(), vec![".spec.items", ".spec.nested.x"]);
}

#[test]
fn strict_collection_rejects_missing_keys_and_duplicates() {
    let missing = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let err = collect(&missing, Some(deployment()), Strictness::Strict).expect_err("missing key");
    assert!(err.contains(".spec.template.spec.containers: element 0") && err.contains("\"name\""), "{err}");
    let dup = json!({"metadata": {"finalizers": ["a", "a"]}});
    let err = collect(&dup, Some(deployment()), Strictness::Strict).expect_err("duplicate");
    assert_eq!(err, r#".metadata.finalizers: duplicate entries for key [="a"]"#);
    // Stored objects are read leniently: one identity for both.
    assert_eq!(FieldSet::of_object(&dup, Some(deployment())).paths().len(), 1);
}
