//! Tests of the controllers' pure decisions, and (in `live`) of the
//! controllers running against a real [`Cluster`].

mod live;

use std::time::Duration;

use chrono::TimeZone;
use serde_json::{Value, json};

use super::gc::{self, DependentAction, Index, Item, OwnerState};
use super::namespace::{NamespaceAction, namespace_action};
use super::runtime::{self, Condition, Next, OwnerRef, Queue, Timestamp, UpdateTime};
use super::simulator::{self, Used};
use super::{Fault, FaultConfig};
use crate::store::{EventKind, ObjectKey};

fn t(seconds: i64) -> Timestamp {
    chrono::Utc.timestamp_opt(1_700_000_000 + seconds, 0).single().unwrap_or_default()
}

fn ts(seconds: i64) -> String {
    runtime::format_time(t(seconds))
}

// ---------- faults ----------

#[test]
fn fault_file_accepts_lists_and_comma_strings() {
    let config =
        FaultConfig::parse("neverReady: [\"*/slow:*\", \"busybox\"]\ncrashLoop: \"*:broken, nginx:1.0\"\n", "f.yaml")
            .unwrap();
    assert_eq!(config.never_ready, vec!["*/slow:*", "busybox"]);
    assert_eq!(config.crash_loop, vec!["*:broken", "nginx:1.0"]);
}

#[test]
fn fault_file_rejects_unknown_keys() {
    assert!(FaultConfig::parse("neverready: [a]\n", "f.yaml").is_err());
}

#[test]
fn fault_globs_match_full_images_and_crash_loop_wins() {
    let config = FaultConfig { never_ready: vec!["*/app:v2".into(), "redis*".into()], crash_loop: vec!["*:v2".into()] };
    assert_eq!(config.fault_for("ghcr.io/acme/app:v2"), Some(Fault::CrashLoop));
    assert_eq!(config.fault_for("redis:7"), Some(Fault::NeverReady));
    assert_eq!(config.fault_for("nginx:1.27"), None);
    assert_eq!(config.fault_for("ghcr.io/acme/app:v3"), None);
}

#[test]
fn config_map_faults_merge_with_file_faults() {
    let cm = json!({"data": {"neverReady": " a* , ,b ", "crashLoop": "c"}});
    let from_cm = FaultConfig::from_config_map(&cm);
    assert_eq!(from_cm.never_ready, vec!["a*", "b"]);
    let merged = FaultConfig { never_ready: vec!["x".into()], crash_loop: vec![] }.merged(&from_cm);
    assert_eq!(merged.never_ready, vec!["x", "a*", "b"]);
    assert_eq!(merged.crash_loop, vec!["c"]);
}

// ---------- runtime ----------

#[tokio::test]
async fn queue_deduplicates_and_delays() {
    let queue: std::sync::Arc<Queue<String>> = Queue::new();
    queue.add("a".into());
    queue.add("a".into());
    queue.add("b".into());
    assert_eq!(queue.len(), 2);
    assert_eq!(queue.next().await, "a");
    assert_eq!(queue.next().await, "b");
    queue.add_after("c".into(), Duration::from_millis(5));
    queue.add_after("c".into(), Duration::from_secs(3600));
    let got = tokio::time::timeout(Duration::from_secs(10), queue.next()).await;
    assert_eq!(got.ok().as_deref(), Some("c"));
    assert_eq!(queue.len(), 0);
}

#[test]
fn next_min_prefers_the_sooner_delay() {
    assert_eq!(Next::Done.min(Next::After(Duration::from_secs(3))), Next::After(Duration::from_secs(3)));
    assert_eq!(
        Next::After(Duration::from_secs(1)).min(Next::After(Duration::from_secs(3))),
        Next::After(Duration::from_secs(1))
    );
    assert_eq!(Next::Done.min(Next::Done), Next::Done);
}

#[test]
fn set_condition_keeps_transition_time_while_status_holds() {
    let mut conditions = Vec::new();
    let cond = |status: &'static str, reason: &'static str| Condition {
        type_: "Ready",
        status,
        reason,
        message: String::new(),
    };
    runtime::set_condition(&mut conditions, cond("False", "A"), UpdateTime::OnChange, t(0));
    runtime::set_condition(&mut conditions, cond("False", "B"), UpdateTime::OnChange, t(10));
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["lastTransitionTime"], ts(0));
    assert_eq!(conditions[0]["lastUpdateTime"], ts(10));
    runtime::set_condition(&mut conditions, cond("False", "B"), UpdateTime::OnChange, t(20));
    assert_eq!(conditions[0]["lastUpdateTime"], ts(10));
    runtime::set_condition(&mut conditions, cond("True", "B"), UpdateTime::OnChange, t(30));
    assert_eq!(conditions[0]["lastTransitionTime"], ts(30));
    runtime::set_condition(&mut conditions, cond("True", "B"), UpdateTime::Touch, t(40));
    assert_eq!(conditions[0]["lastUpdateTime"], ts(40));
    assert_eq!(conditions[0]["lastTransitionTime"], ts(30));
}

#[test]
fn retry_delay_is_short_for_races_and_bounded() {
    let conflict = crate::api::ApiError::new(crate::api::Reason::Conflict, "x");
    let broken = crate::api::ApiError::new(crate::api::Reason::InternalError, "x");
    assert!(runtime::retry_delay(&conflict, 1) < runtime::retry_delay(&broken, 1));
    assert_eq!(runtime::retry_delay(&broken, 100), Duration::from_secs(30));
}

// ---------- namespaces ----------

#[test]
fn namespace_actions_follow_phase_and_finalizers() {
    assert_eq!(namespace_action(&json!({"metadata": {"name": "a"}})), NamespaceAction::Activate);
    assert_eq!(namespace_action(&json!({"status": {"phase": "Active"}})), NamespaceAction::EnsureServiceAccount);
    let terminating = json!({"metadata": {"deletionTimestamp": ts(0)}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}});
    assert_eq!(namespace_action(&terminating), NamespaceAction::Finalize);
    let done = json!({"metadata": {"deletionTimestamp": ts(0)}, "spec": {"finalizers": []}});
    assert_eq!(namespace_action(&done), NamespaceAction::Nothing);
}

// ---------- garbage collection ----------

fn key(resource: &str, name: &str) -> ObjectKey {
    ObjectKey { resource: resource.into(), namespace: "ns".into(), name: name.into() }
}

fn owned(name: &str, uid: &str, owners: &[&str]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(
            |o| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": o, "blockOwnerDeletion": true}),
        )
        .collect();
    json!({"metadata": {"name": name, "namespace": "ns", "uid": uid, "ownerReferences": refs}})
}

#[test]
fn gc_index_tracks_dependents_and_queues_orphans() {
    let mut index = Index::default();
    let pod = key("/pods", "p");
    let work = index.observe(EventKind::Added, &pod, &owned("p", "pod-uid", &["rs-uid"]));
    assert_eq!(work, vec![Item::Dependent(pod.clone())]);
    assert_eq!(index.dependents_of("rs-uid"), vec![pod.clone()]);
    // An unchanged update queues nothing.
    assert!(index.observe(EventKind::Modified, &pod, &owned("p", "pod-uid", &["rs-uid"])).is_empty());
    // The owner goes: its dependents are checked.
    let rs = json!({"metadata": {"name": "rs-uid", "namespace": "ns", "uid": "rs-uid"}});
    let work = index.observe(EventKind::Deleted, &key("apps/replicasets", "rs-uid"), &rs);
    assert_eq!(work, vec![Item::Dependent(pod.clone())]);
    // The references are dropped: no longer a dependent.
    index.observe(EventKind::Modified, &pod, &owned("p", "pod-uid", &[]));
    assert!(index.dependents_of("rs-uid").is_empty());
    assert!(index.owners_of(&pod).is_empty());
}

#[test]
fn gc_index_queues_finalizing_owners_when_dependents_go() {
    let mut index = Index::default();
    let owner_key = key("apps/replicasets", "rs");
    let owner = json!({"metadata": {"name": "rs", "namespace": "ns", "uid": "rs-uid", "deletionTimestamp": ts(0), "finalizers": ["foregroundDeletion"]}});
    let pod = key("/pods", "p");
    index.observe(EventKind::Added, &pod, &owned("p", "pod-uid", &["rs-uid"]));
    assert_eq!(index.observe(EventKind::Modified, &owner_key, &owner), vec![Item::Owner(owner_key.clone())]);
    let work = index.observe(EventKind::Deleted, &pod, &owned("p", "pod-uid", &["rs-uid"]));
    assert_eq!(work, vec![Item::Owner(owner_key.clone())]);
    index.clear();
    assert!(index.dependents_of("rs-uid").is_empty());
}

fn owner_ref(uid: &str) -> OwnerRef {
    OwnerRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: uid.into(),
        uid: uid.into(),
        controller: false,
        block_owner_deletion: false,
    }
}

#[test]
fn dependents_go_only_when_every_owner_is_gone() {
    assert_eq!(gc::dependent_action(&[]), DependentAction::Keep);
    assert_eq!(gc::dependent_action(&[(owner_ref("a"), OwnerState::Alive)]), DependentAction::Keep);
    assert_eq!(gc::dependent_action(&[(owner_ref("a"), OwnerState::Unknown)]), DependentAction::Keep);
    assert_eq!(gc::dependent_action(&[(owner_ref("a"), OwnerState::Gone)]), DependentAction::Delete);
    assert_eq!(
        gc::dependent_action(&[(owner_ref("a"), OwnerState::Gone), (owner_ref("b"), OwnerState::Alive)]),
        DependentAction::DropReferences(vec!["a".into()])
    );
    assert_eq!(
        gc::dependent_action(&[(owner_ref("a"), OwnerState::Gone), (owner_ref("b"), OwnerState::Unknown)]),
        DependentAction::DropReferences(vec!["a".into()])
    );
}

#[test]
fn owner_references_are_removed_and_blocking_is_read() {
    let pod = owned("p", "u", &["a", "b"]);
    assert!(gc::blocks_owner(&pod, "a"));
    assert!(!gc::blocks_owner(&pod, "zzz"));
    let one = gc::without_owner_refs(&pod, &["a".into()]);
    assert_eq!(runtime::owner_refs(&one).len(), 1);
    let none = gc::without_owner_refs(&pod, &["a".into(), "b".into()]);
    assert!(none["metadata"].get("ownerReferences").is_none());
}

// ---------- CRDs ----------

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "uid": "crd-uid"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
            "versions": [{"name": "v1beta1", "served": true, "storage": false}, {"name": "v1", "served": true, "storage": true}],
        },
    })
}

#[test]
fn crd_status_accepts_names_and_records_storage_version() {
    let status = super::crd::crd_status(&crd(), t(0));
    assert_eq!(status["acceptedNames"]["kind"], "Widget");
    assert_eq!(status["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(status["acceptedNames"]["singular"], "widget");
    assert_eq!(status["acceptedNames"]["shortNames"], json!(["wd"]));
    assert_eq!(status["storedVersions"], json!(["v1"]));
    for type_ in ["NamesAccepted", "Established"] {
        assert_eq!(runtime::condition(&status, type_).map(|c| c["status"].clone()), Some(json!("True")));
    }
    // Idempotent: a second pass over the result changes nothing.
    let mut again = crd();
    again["status"] = status.clone();
    assert_eq!(super::crd::crd_status(&again, t(100)), status);
    // Versions once stored stay listed.
    again["spec"]["versions"][0]["storage"] = json!(true);
    again["spec"]["versions"][1]["storage"] = json!(false);
    assert_eq!(super::crd::crd_status(&again, t(100))["storedVersions"], json!(["v1", "v1beta1"]));
}

#[test]
fn crd_resource_type_comes_from_its_spec() {
    let rt = super::crd::resource_type_of(&crd()).unwrap();
    assert_eq!(
        (rt.group.as_str(), rt.version.as_str(), rt.plural.as_str(), rt.namespaced),
        ("example.com", "v1", "widgets", true)
    );
    assert_eq!(rt.storage_resource(), "example.com/widgets");
}

// ---------- bootstrap ----------

#[test]
fn node_status_is_ready_and_stable() {
    let first = super::bootstrap::node_status(None, t(0));
    assert_eq!(runtime::condition(&first, "Ready").map(|c| c["status"].clone()), Some(json!("True")));
    assert_eq!(first["nodeInfo"]["kubeletVersion"], "v1.33.0");
    assert_eq!(super::bootstrap::node_status(Some(&first), t(500)), first);
}

// ---------- simulator ----------

mod workloads;
