use std::collections::BTreeMap;

use application::SyncStatusCode;
use health::HealthStatus;
use serde_json::{Value, json};
use sync::ResourceKey;

use super::{DesiredError, Scope, compare_app, prepare};

fn scope(_: &str, kind: &str) -> Option<Scope> {
    match kind {
        "ConfigMap" | "Deployment" | "Job" => Some(Scope::Namespaced),
        "Namespace" | "ClusterRole" | "CustomResourceDefinition" => Some(Scope::Cluster),
        _ => None,
    }
}

fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn tracked(app: &str, mut object: Value) -> Value {
    let key = ResourceKey::from_object(&object).unwrap();
    object["metadata"]["annotations"] = json!({ sync::plan::TRACKING_ANNOTATION: sync::plan::tracking_id(app, &key) });
    object
}

#[test]
fn prepare_sets_namespace_and_tracking() {
    let rendered = vec![
        config_map("a", json!({"k": "v"})),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "namespace": "ignored"}}),
    ];
    let prepared = prepare(&rendered, "web", "prod", &scope).unwrap();
    assert_eq!(prepared[0]["metadata"]["namespace"], "prod");
    assert_eq!(prepared[0]["metadata"]["annotations"]["ferry.dev/tracking-id"], "web:/ConfigMap:prod/a");
    assert!(prepared[1]["metadata"].get("namespace").is_none());
    assert_eq!(prepared[1]["metadata"]["annotations"]["ferry.dev/tracking-id"], "web:/Namespace:/team");
}

#[test]
fn prepare_keeps_an_explicit_namespace() {
    let mut object = config_map("a", json!({}));
    object["metadata"]["namespace"] = json!("other");
    let prepared = prepare(&[object], "web", "prod", &scope).unwrap();
    assert_eq!(prepared[0]["metadata"]["namespace"], "other");
}

#[test]
fn unknown_kind_is_refused_unless_the_app_defines_it() {
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let error = prepare(std::slice::from_ref(&widget), "web", "prod", &scope).unwrap_err();
    assert!(matches!(error, DesiredError::UnknownKind { ref kind, .. } if kind == "Widget"), "{error}");
    assert!(
        error.to_string().starts_with("Widget \"w\" (example.com/v1): the destination cluster does not serve"),
        "{error}"
    );

    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}}});
    let prepared = prepare(&[crd, widget], "web", "prod", &scope).unwrap();
    assert_eq!(prepared[1]["metadata"]["namespace"], "prod");
}

#[test]
fn duplicates_are_refused_naming_the_resource() {
    let error =
        prepare(&[config_map("a", json!({})), config_map("a", json!({"k": "v"}))], "web", "prod", &scope).unwrap_err();
    assert_eq!(error.to_string(), "ConfigMap \"a\" in namespace \"prod\" is defined more than once in the app");

    // An explicit namespace equal to the destination's is the same object.
    let mut explicit = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    let defaulted = explicit.clone();
    explicit["metadata"]["namespace"] = json!("prod");
    let error = prepare(&[defaulted, explicit], "web", "prod", &scope).unwrap_err();
    assert_eq!(error.to_string(), "Deployment.apps \"web\" in namespace \"prod\" is defined more than once in the app");

    // The same name in two namespaces, or of two kinds, is fine.
    let mut other = config_map("a", json!({}));
    other["metadata"]["namespace"] = json!("other");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
    assert_eq!(prepare(&[config_map("a", json!({})), other, ns], "web", "prod", &scope).unwrap().len(), 3);
}

#[test]
fn missing_kind_is_invalid() {
    let error = prepare(&[json!({"apiVersion": "v1", "metadata": {"name": "x"}})], "web", "", &scope).unwrap_err();
    assert_eq!(error, DesiredError::Invalid { index: 1, field: "kind" });
}

fn live_map(objects: &[Value]) -> BTreeMap<ResourceKey, Value> {
    objects.iter().map(|o| (ResourceKey::from_object(o).unwrap(), o.clone())).collect()
}

#[test]
fn equal_objects_are_synced_and_healthy() {
    let desired = prepare(&[config_map("a", json!({"k": "v"}))], "web", "prod", &scope).unwrap();
    let mut live = desired[0].clone();
    live["metadata"]["uid"] = json!("1");
    live["metadata"]["resourceVersion"] = json!("7");
    let comparison = compare_app("web", "abc", &desired, &live_map(&[live]), &[]);
    assert_eq!(comparison.sync, SyncStatusCode::Synced);
    assert_eq!(comparison.health.status, HealthStatus::Healthy);
    assert_eq!(comparison.resources.len(), 1);
    assert!(comparison.resources[0].diff.is_empty());
}

#[test]
fn changed_missing_and_extra_objects() {
    let desired =
        prepare(&[config_map("a", json!({"k": "new"})), config_map("b", json!({}))], "web", "prod", &scope).unwrap();
    let mut changed = desired[0].clone();
    changed["data"]["k"] = json!("old");
    let mut extra = tracked("web", config_map("gone", json!({})));
    extra["metadata"]["namespace"] = json!("prod");
    extra = tracked("web", extra);
    let mut foreign = tracked("other", config_map("theirs", json!({})));
    foreign["metadata"]["namespace"] = json!("prod");
    let comparison = compare_app("web", "abc", &desired, &live_map(&[changed, extra, foreign]), &[]);
    assert_eq!(comparison.sync, SyncStatusCode::OutOfSync);
    let by_name: BTreeMap<&str, _> = comparison.resources.iter().map(|r| (r.key.name.as_str(), r)).collect();
    assert_eq!(by_name.len(), 3, "another app's object is not ours: {by_name:?}");
    assert_eq!(by_name["a"].status, SyncStatusCode::OutOfSync);
    assert!(
        by_name["a"].diff.contains("-  k: old") && by_name["a"].diff.contains("+  k: new"),
        "{}",
        by_name["a"].diff
    );
    assert_eq!(by_name["b"].health.as_ref().unwrap().status, HealthStatus::Missing);
    assert!(by_name["gone"].requires_pruning);
    assert_eq!(comparison.health.status, HealthStatus::Missing);
}

#[test]
fn ignore_differences_hide_a_field() {
    let desired = prepare(&[config_map("a", json!({"k": "v", "n": "1"}))], "web", "prod", &scope).unwrap();
    let mut live = desired[0].clone();
    live["data"]["n"] = json!("2");
    let rule = application::IgnoreDifference {
        group: String::new(),
        kind: "ConfigMap".into(),
        name: None,
        namespace: None,
        json_pointers: vec!["/data/n".into()],
        managed_fields_managers: vec![],
    };
    let comparison = compare_app("web", "abc", &desired, &live_map(&[live]), &[rule]);
    assert_eq!(comparison.sync, SyncStatusCode::Synced);
}

#[test]
fn hooks_are_not_part_of_sync_status() {
    let hook = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
        "spec": {"template": {"spec": {"containers": [], "restartPolicy": "Never"}}}});
    let desired = prepare(&[hook], "web", "prod", &scope).unwrap();
    let comparison = compare_app("web", "abc", &desired, &BTreeMap::new(), &[]);
    assert!(comparison.resources.is_empty());
    assert_eq!(comparison.sync, SyncStatusCode::Synced);
}

#[test]
fn secret_values_never_appear_in_diffs() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"password": "hunter2-new"}});
    let desired = prepare(&[secret], "web", "prod", &|_, _| Some(Scope::Namespaced)).unwrap();
    let mut live = desired[0].clone();
    live.as_object_mut().unwrap().remove("stringData");
    live["data"] = json!({"password": "aHVudGVyMi1vbGQ="});
    let comparison = compare_app("web", "abc", &desired, &live_map(&[live]), &[]);
    let diff = &comparison.resources[0].diff;
    assert!(!diff.contains("hunter2") && !diff.contains("aHVudGVyMi1vbGQ="), "{diff}");
}
