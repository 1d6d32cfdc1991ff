use serde_json::json;

use super::*;

#[test]
fn normalize_drops_server_fields_and_empties() {
    let live = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "c", "uid": "u", "resourceVersion": "1", "generation": 2,
            "creationTimestamp": "t", "managedFields": [], "labels": {},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
        },
        "data": {"a": "1"}, "binaryData": null, "status": {"x": 1}
    });
    assert_eq!(
        normalize(&live),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    );
}

#[test]
fn normalize_keeps_empty_structs_that_mean_something() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"volumes": [{"name": "scratch", "emptyDir": {}}]}});
    assert_eq!(normalize(&pod).pointer("/spec/volumes/0/emptyDir"), Some(&json!({})));
}

#[test]
fn normalize_canonicalises_quantities_and_int_or_string() {
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"strategy": {"rollingUpdate": {"maxSurge": "1", "maxUnavailable": "25%"}},
            "template": {"spec": {"containers": [{"name": "c",
                "resources": {"limits": {"cpu": 2, "memory": "2048Mi"}, "requests": {"cpu": "0.25"}}}]}}}});
    let n = normalize(&dep);
    assert_eq!(n.pointer("/spec/strategy/rollingUpdate/maxSurge"), Some(&json!(1)));
    assert_eq!(n.pointer("/spec/strategy/rollingUpdate/maxUnavailable"), Some(&json!("25%")));
    let res = n.pointer("/spec/template/spec/containers/0/resources").expect("resources");
    assert_eq!(res, &json!({"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "250m"}}));
}

#[test]
fn plain_string_fields_are_not_reinterpreted() {
    // A ConfigMap value that looks like a quantity or a number stays as written.
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1000m", "b": "80"}});
    assert_eq!(normalize(&cm).get("data"), Some(&json!({"a": "1000m", "b": "80"})));
}

#[test]
fn finalizers_are_a_set() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["b", "a"]}});
    assert_eq!(normalize(&cm).pointer("/metadata/finalizers"), Some(&json!(["a", "b"])));
}

#[test]
fn ignore_rule_matching() {
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "namespace": "n"}});
    let rule = |group: &str, kind: &str, name: Option<&str>| IgnoreDifference {
        group: group.into(),
        kind: kind.into(),
        name: name.map(str::to_owned),
        ..IgnoreDifference::default()
    };
    assert!(rule("apps", "Deployment", None).matches(&obj));
    assert!(rule("*", "*", Some("w")).matches(&obj));
    assert!(!rule("", "Deployment", None).matches(&obj));
    assert!(!rule("apps", "Deployment", Some("x")).matches(&obj));
}

#[test]
fn ignore_difference_reads_argo_cd_spelling() {
    let rule: IgnoreDifference = serde_json::from_value(json!({
        "group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"],
        "managedFieldsManagers": ["kube-controller-manager"]
    }))
    .expect("parses");
    assert_eq!(rule.json_pointers, ["/spec/replicas"]);
    assert_eq!(rule.managed_fields_managers, ["kube-controller-manager"]);
    assert_eq!(rule.name, None);
}

#[test]
fn pointer_escapes_are_honoured() {
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "annotations": {"example.com/build": "1"}}});
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "annotations": {"example.com/build": "2"}}});
    let ignore = [IgnoreDifference {
        kind: "ConfigMap".into(),
        json_pointers: vec!["/metadata/annotations/example.com~1build".into()],
        ..IgnoreDifference::default()
    }];
    assert!(!diff(&desired, Some(&live), &DiffOptions::default()).synced);
    assert!(diff(&desired, Some(&live), &DiffOptions { ignore: &ignore, ..DiffOptions::default() }).synced);
}

#[test]
fn unreadable_managed_fields_do_not_fail_the_diff() {
    let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "managedFields": "garbage"}, "data": {"a": "1"}});
    let result = diff(&desired, Some(&live), &DiffOptions::default());
    assert!(result.synced);
    assert_eq!(result.diff, "");
    assert_eq!(result.desired_yaml, result.live_yaml);
}
