//! The workload simulator: no containers run, yet Pods, ReplicaSets,
//! Deployments, StatefulSets, DaemonSets, Jobs, Services and
//! PersistentVolumeClaims converge as in a real cluster, after
//! [`ControllersConfig::ready_delay`](super::ControllersConfig::ready_delay),
//! with the faults the user configured.
//!
//! One store watch feeds one queue per kind; each queue has one worker, so
//! writes of one kind never race each other (Service IP allocation relies on it).

mod daemonset;
mod deployment;
mod job;
mod pod;
mod replicaset;
mod service;
mod statefulset;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::Rng;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::runtime::{self, Change, Next, Queue};
use super::{ControllersConfig, FaultConfig};
use crate::api::{ApiError, Cluster};
use crate::store::{EventKind, Scope};

#[cfg(test)]
pub(crate) use daemonset::{daemonset_plan, daemonset_status};
#[cfg(test)]
pub(crate) use deployment::resolve_int_or_percent;
#[cfg(test)]
pub(crate) use deployment::{RsUpdate, deployment_plan, deployment_status};
#[cfg(test)]
pub(crate) use job::{job_plan, job_status};
#[cfg(test)]
pub(crate) use pod::{crash_count, pod_status};
#[cfg(test)]
pub(crate) use replicaset::{replicaset_plan, replicaset_status};
#[cfg(test)]
pub(crate) use service::{ServiceChanges, Used, bound_claim_status, service_changes};
#[cfg(test)]
pub(crate) use statefulset::{claims_for as statefulset_claims, pod_for as statefulset_pod};
#[cfg(test)]
pub(crate) use statefulset::{statefulset_plan, statefulset_status};

/// The field manager of the simulator's writes.
const MANAGER: &str = "ferry-simulator";
/// The field manager of writes a real cluster's controller manager makes.
const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// The ConfigMap holding faults: namespace and name.
pub(crate) const FAULTS_CONFIG_MAP: (&str, &str) = ("ferry-system", "ferry-simulator");

/// A namespaced object's namespace and name.
type NsName = (String, String);

/// What the simulator's reconcilers share.
pub(crate) struct Sim {
    cluster: Cluster,
    ready_delay: Duration,
    file_faults: FaultConfig,
    /// File faults merged with the ConfigMap's.
    faults: RwLock<FaultConfig>,
}

impl Sim {
    fn faults(&self) -> FaultConfig {
        self.faults.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_config_map_faults(&self, from_config_map: Option<&FaultConfig>) -> bool {
        let merged = match from_config_map {
            Some(extra) => self.file_faults.merged(extra),
            None => self.file_faults.clone(),
        };
        let mut faults = self.faults.write().unwrap_or_else(|e| e.into_inner());
        let changed = *faults != merged;
        *faults = merged;
        changed
    }
}

/// One queue per kind.
#[derive(Clone)]
struct Queues {
    pods: Arc<Queue<NsName>>,
    replicasets: Arc<Queue<NsName>>,
    deployments: Arc<Queue<NsName>>,
    statefulsets: Arc<Queue<NsName>>,
    daemonsets: Arc<Queue<NsName>>,
    jobs: Arc<Queue<NsName>>,
    services: Arc<Queue<NsName>>,
    claims: Arc<Queue<NsName>>,
}

pub(super) fn spawn(
    tasks: &mut JoinSet<()>,
    cluster: &Cluster,
    config: &ControllersConfig,
    shutdown: &watch::Receiver<bool>,
) {
    let sim = Arc::new(Sim {
        cluster: cluster.clone(),
        ready_delay: config.ready_delay,
        file_faults: config.faults.clone(),
        faults: RwLock::new(config.faults.clone()),
    });
    let queues = Queues {
        pods: Queue::new(),
        replicasets: Queue::new(),
        deployments: Queue::new(),
        statefulsets: Queue::new(),
        daemonsets: Queue::new(),
        jobs: Queue::new(),
        services: Queue::new(),
        claims: Queue::new(),
    };
    let dispatch_sim = Arc::clone(&sim);
    let dispatch_queues = queues.clone();
    tasks.spawn(runtime::follow(cluster.store().clone(), Scope::default(), shutdown.clone(), move |change| {
        dispatch(&dispatch_sim, &dispatch_queues, change);
    }));

    macro_rules! worker {
        ($name:literal, $queue:expr, $reconcile:path) => {{
            let sim = Arc::clone(&sim);
            tasks.spawn(runtime::work(
                $name,
                Arc::clone(&$queue),
                shutdown.clone(),
                move |(namespace, name): NsName| {
                    let sim = Arc::clone(&sim);
                    async move { $reconcile(&sim, &namespace, &name).await }
                },
            ));
        }};
    }
    worker!("simulator-pods", queues.pods, pod::reconcile);
    worker!("simulator-replicasets", queues.replicasets, replicaset::reconcile);
    worker!("simulator-deployments", queues.deployments, deployment::reconcile);
    worker!("simulator-statefulsets", queues.statefulsets, statefulset::reconcile);
    worker!("simulator-daemonsets", queues.daemonsets, daemonset::reconcile);
    worker!("simulator-jobs", queues.jobs, job::reconcile);
    worker!("simulator-services", queues.services, service::reconcile);
    worker!("simulator-claims", queues.claims, service::reconcile_claim);
}

fn dispatch(sim: &Sim, queues: &Queues, change: Change) {
    let event = match change {
        Change::Reset => {
            sim.set_config_map_faults(None);
            return;
        }
        Change::Event(event) => event,
    };
    let key = &event.key;
    let ns_name = || (key.namespace.clone(), key.name.clone());
    let parse = || serde_json::from_slice::<Value>(&event.object.json).ok();
    let owner_kind =
        |object: &Option<Value>| object.as_ref().and_then(runtime::controller_ref).map(|r| (r.kind, r.name));
    match key.resource.as_str() {
        "/pods" => {
            queues.pods.add(ns_name());
            if let Some((kind, name)) = owner_kind(&parse()) {
                let owner = (key.namespace.clone(), name);
                match kind.as_str() {
                    "ReplicaSet" => queues.replicasets.add(owner),
                    "StatefulSet" => queues.statefulsets.add(owner),
                    "DaemonSet" => queues.daemonsets.add(owner),
                    "Job" => queues.jobs.add(owner),
                    _ => {}
                }
            }
        }
        "apps/replicasets" => {
            queues.replicasets.add(ns_name());
            if let Some((kind, name)) = owner_kind(&parse())
                && kind == "Deployment"
            {
                queues.deployments.add((key.namespace.clone(), name));
            }
        }
        "apps/deployments" => queues.deployments.add(ns_name()),
        "apps/statefulsets" => queues.statefulsets.add(ns_name()),
        "apps/daemonsets" => queues.daemonsets.add(ns_name()),
        "batch/jobs" => queues.jobs.add(ns_name()),
        "/services" => queues.services.add(ns_name()),
        "/persistentvolumeclaims" => queues.claims.add(ns_name()),
        "/configmaps" if (key.namespace.as_str(), key.name.as_str()) == FAULTS_CONFIG_MAP => {
            let faults = if event.kind == EventKind::Deleted {
                None
            } else {
                parse().map(|cm| FaultConfig::from_config_map(&cm))
            };
            if sim.set_config_map_faults(faults.as_ref()) {
                requeue_all_pods(sim, queues);
            }
        }
        _ => {}
    }
}

/// Faults changed: every Pod is looked at again.
fn requeue_all_pods(sim: &Sim, queues: &Queues) {
    let scope = Scope { resource: Some("/pods".into()), namespace: None };
    match sim.cluster.store().list(&scope, &crate::store::ListOptions::default()) {
        Ok(page) => {
            for key in page.keys {
                queues.pods.add((key.namespace, key.name));
            }
        }
        Err(error) => tracing::warn!(%error, "cannot list pods after a fault change"),
    }
}

/// A short hash of a pod template, stable across JSON key order: FNV-1a
/// over the canonical (key-sorted) JSON, spelled with consonants and digits
/// so it never forms words, as Kubernetes' `pod-template-hash` is.
pub(crate) fn template_hash(template: &Value) -> String {
    let canonical = canonical_json(template);
    encode_hash(fnv1a(canonical.as_bytes()))
}

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn encode_hash(mut value: u32) -> String {
    let base = SAFE_ALPHABET.len() as u32;
    let mut out = String::new();
    loop {
        out.push(char::from(SAFE_ALPHABET[(value % base) as usize]));
        value /= base;
        if value == 0 {
            break;
        }
    }
    out
}

/// 32-bit FNV-1a.
pub(crate) fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

/// JSON with object keys sorted at every level.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Five random characters for generated Pod names.
pub(crate) fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..5).map(|_| char::from(SAFE_ALPHABET[rng.random_range(0..SAFE_ALPHABET.len())])).collect()
}

/// A Pod from `template`, controlled by `owner`, placed on the node.
/// `labels` are added to the template's.
pub(crate) fn pod_from_template(owner: &Value, template: &Value, name: &str, labels: &[(&str, &str)]) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".into(), name.into());
    metadata.insert("namespace".into(), runtime::namespace_of(owner).into());
    let mut all_labels =
        runtime::at(template, &["metadata", "labels"]).and_then(Value::as_object).cloned().unwrap_or_default();
    for (k, v) in labels {
        all_labels.insert((*k).into(), (*v).into());
    }
    if !all_labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(all_labels));
    }
    if let Some(annotations) =
        runtime::at(template, &["metadata", "annotations"]).filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
    {
        metadata.insert("annotations".into(), annotations.clone());
    }
    metadata.insert("ownerReferences".into(), json!([runtime::controller_reference(owner)]));
    let mut spec = template.get("spec").and_then(Value::as_object).cloned().unwrap_or_default();
    if spec.get("nodeName").and_then(Value::as_str).unwrap_or("").is_empty() {
        spec.insert("nodeName".into(), super::bootstrap::NODE_NAME.into());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": Value::Object(metadata), "spec": Value::Object(spec)})
}

/// A Pod counts toward its controller: not terminating and not finished.
pub(crate) fn is_active(pod: &Value) -> bool {
    !runtime::is_terminating(pod) && !matches!(runtime::str_at(pod, &["status", "phase"]), "Succeeded" | "Failed")
}

/// The Pod's Ready condition is True.
pub(crate) fn is_ready(pod: &Value) -> bool {
    pod.get("status").and_then(|s| runtime::condition(s, "Ready")).and_then(|c| c.get("status")).and_then(Value::as_str)
        == Some("True")
}

/// Ready for at least `min_ready` at `now`; otherwise when it will be.
pub(crate) fn availability(pod: &Value, min_ready: Duration, now: runtime::Timestamp) -> (bool, Next) {
    if !is_ready(pod) {
        return (false, Next::Done);
    }
    if min_ready.is_zero() {
        return (true, Next::Done);
    }
    let since = pod
        .get("status")
        .and_then(|s| runtime::condition(s, "Ready"))
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(runtime::parse_time);
    match since {
        Some(since) => {
            let min_ready = chrono::Duration::from_std(min_ready).unwrap_or(chrono::Duration::MAX);
            let at = since.checked_add_signed(min_ready).unwrap_or(since);
            if at <= now { (true, Next::Done) } else { (false, Next::After(runtime::until(now, at))) }
        }
        None => (true, Next::Done),
    }
}

/// `spec.minReadySeconds` of a workload.
pub(crate) fn min_ready(object: &Value) -> Duration {
    Duration::from_secs(runtime::int_at(object, &["spec", "minReadySeconds"]).unwrap_or(0).max(0).unsigned_abs())
}

/// `spec.replicas`, defaulting to 1 as the API does.
pub(crate) fn desired_replicas(object: &Value) -> i64 {
    runtime::int_at(object, &["spec", "replicas"]).unwrap_or(1).max(0)
}

/// Replaces `status` in `object` and writes it when it changed.
async fn write_status(
    cluster: &Cluster,
    rt: &crate::registry::ResourceType,
    object: &Value,
    status: Value,
    manager: &str,
) -> Result<(), ApiError> {
    if object.get("status") == Some(&status) {
        return Ok(());
    }
    let mut updated = object.clone();
    if let Some(map) = updated.as_object_mut() {
        map.insert("status".into(), status);
    }
    cluster
        .update(
            rt,
            runtime::namespace_of(object),
            runtime::name_of(object),
            crate::api::Subresource::Status,
            updated,
            &runtime::manager(manager),
        )
        .await?;
    Ok(())
}
