//! DaemonSets: one Pod on the one node (when its node selector matches).

use serde_json::{Map, Value};

use super::{CONTROLLER_MANAGER, Sim};
use crate::api::{ApiError, DeleteOptions, Reason};
use crate::controllers::bootstrap::node_labels;
use crate::controllers::runtime::{self, Next, Timestamp};

/// The label naming a Pod's template revision.
const REVISION_LABEL: &str = "controller-revision-hash";

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "apps", "v1", "daemonsets")?;
    let Some(ds) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&ds) {
        return Ok(Next::Done);
    }
    let pods_rt = runtime::resource(cluster, "", "v1", "pods")?;
    let pods = runtime::controlled_by(runtime::list_values(cluster, &pods_rt, Some(namespace))?, runtime::uid_of(&ds));
    let (create, delete) = daemonset_plan(&ds, &pods);
    let options = runtime::manager(CONTROLLER_MANAGER);
    if create {
        let hash = revision(&ds);
        let generation = runtime::int_at(&ds, &["metadata", "generation"]).unwrap_or(1).to_string();
        let template = runtime::at(&ds, &["spec", "template"]).cloned().unwrap_or(Value::Null);
        let pod = super::pod_from_template(
            &ds,
            &template,
            &format!("{name}-{}", super::random_suffix()),
            &[(REVISION_LABEL, &hash), ("pod-template-generation", &generation)],
        );
        runtime::tolerate(cluster.create(&pods_rt, namespace, pod, &options).await, Reason::AlreadyExists)?;
    }
    for pod in &delete {
        runtime::tolerate(cluster.delete(&pods_rt, namespace, pod, &DeleteOptions::default()).await, Reason::NotFound)?;
    }
    let (status, next) = daemonset_status(&ds, &pods, chrono::Utc::now());
    super::write_status(cluster, &rt, &ds, status, CONTROLLER_MANAGER).await?;
    Ok(next)
}

fn revision(ds: &Value) -> String {
    super::template_hash(runtime::at(ds, &["spec", "template"]).unwrap_or(&Value::Null))
}

/// The node matches the Pod template's `nodeSelector`.
fn node_matches(ds: &Value) -> bool {
    let labels = node_labels();
    runtime::at(ds, &["spec", "template", "spec", "nodeSelector"])
        .and_then(Value::as_object)
        .is_none_or(|selector| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Whether to create the node's Pod, and which Pods to delete (outdated
/// or extra ones, or all when the node does not match).
pub fn daemonset_plan(ds: &Value, pods: &[Value]) -> (bool, Vec<String>) {
    let hash = revision(ds);
    let active: Vec<&Value> = pods.iter().filter(|p| super::is_active(p)).collect();
    if !node_matches(ds) {
        return (false, active.iter().map(|p| runtime::name_of(p).to_owned()).collect());
    }
    let on_delete = runtime::str_at(ds, &["spec", "updateStrategy", "type"]) == "OnDelete";
    let (current, outdated): (Vec<&Value>, Vec<&Value>) =
        active.iter().partition(|p| on_delete || runtime::str_at(p, &["metadata", "labels", REVISION_LABEL]) == hash);
    let mut delete: Vec<String> = current.iter().skip(1).map(|p| runtime::name_of(p).to_owned()).collect();
    delete.extend(outdated.iter().map(|p| runtime::name_of(p).to_owned()));
    let terminating = pods.iter().any(runtime::is_terminating);
    // The replacement starts once the outdated Pod is gone (maxUnavailable 1).
    let create = current.is_empty() && outdated.is_empty() && !terminating;
    (create, delete)
}

/// The status a DaemonSet should have with these Pods.
pub fn daemonset_status(ds: &Value, pods: &[Value], now: Timestamp) -> (Value, Next) {
    let mut status: Map<String, Value> = ds.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
    let hash = revision(ds);
    let desired = i64::from(node_matches(ds));
    let min_ready = super::min_ready(ds);
    let (mut scheduled, mut ready, mut available, mut updated) = (0, 0, 0, 0);
    let mut next = Next::Done;
    for pod in pods.iter().filter(|p| super::is_active(p)) {
        scheduled += 1;
        if super::is_ready(pod) {
            ready += 1;
        }
        let (is_available, when) = super::availability(pod, min_ready, now);
        next = next.min(when);
        if is_available {
            available += 1;
        }
        if runtime::str_at(pod, &["metadata", "labels", REVISION_LABEL]) == hash {
            updated += 1;
        }
    }
    status.insert("currentNumberScheduled".into(), scheduled.min(desired).into());
    status.insert("desiredNumberScheduled".into(), desired.into());
    status.insert("numberMisscheduled".into(), (scheduled - desired).max(0).into());
    status.insert("numberReady".into(), ready.into());
    runtime::put_nonzero(&mut status, "numberAvailable", available);
    runtime::put_nonzero(&mut status, "numberUnavailable", (desired - available).max(0));
    runtime::put_nonzero(&mut status, "updatedNumberScheduled", updated);
    status.insert("observedGeneration".into(), runtime::int_at(ds, &["metadata", "generation"]).unwrap_or(0).into());
    (Value::Object(status), next)
}
