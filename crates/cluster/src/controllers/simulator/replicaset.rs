//! ReplicaSets: keep `spec.replicas` Pods, report how many are ready and available.

use serde_json::{Map, Value};

use super::{CONTROLLER_MANAGER, Sim};
use crate::api::{ApiError, DeleteOptions, Reason};
use crate::controllers::runtime::{self, Next, Timestamp};

/// Pods created per reconcile at most, so one huge scale-up cannot starve
/// other ReplicaSets.
const MAX_BURST: usize = 100;

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "apps", "v1", "replicasets")?;
    let Some(rs) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&rs) {
        return Ok(Next::Done);
    }
    let pods_rt = runtime::resource(cluster, "", "v1", "pods")?;
    let pods = runtime::controlled_by(runtime::list_values(cluster, &pods_rt, Some(namespace))?, runtime::uid_of(&rs));
    let (create, delete) = replicaset_plan(&rs, &pods);
    let template = runtime::at(&rs, &["spec", "template"]).cloned().unwrap_or(Value::Null);
    for _ in 0..create {
        let pod = super::pod_from_template(&rs, &template, &format!("{name}-{}", super::random_suffix()), &[]);
        runtime::tolerate(
            cluster.create(&pods_rt, namespace, pod, &runtime::manager(CONTROLLER_MANAGER)).await,
            Reason::AlreadyExists,
        )?;
    }
    for pod in &delete {
        runtime::tolerate(cluster.delete(&pods_rt, namespace, pod, &DeleteOptions::default()).await, Reason::NotFound)?;
    }
    let (status, next) = replicaset_status(&rs, &pods, chrono::Utc::now());
    super::write_status(cluster, &rt, &rs, status, CONTROLLER_MANAGER).await?;
    Ok(next)
}

/// How many Pods to create, and which to delete (the least useful first:
/// unready before ready, newer before older).
pub fn replicaset_plan(rs: &Value, pods: &[Value]) -> (usize, Vec<String>) {
    let desired = super::desired_replicas(rs);
    let mut active: Vec<&Value> = pods.iter().filter(|p| super::is_active(p)).collect();
    let count = active.len() as i64;
    if count < desired {
        return (((desired - count) as usize).min(MAX_BURST), Vec::new());
    }
    if count == desired {
        return (0, Vec::new());
    }
    active.sort_by(|a, b| {
        let ready = super::is_ready(a).cmp(&super::is_ready(b));
        let newer = runtime::str_at(b, &["metadata", "creationTimestamp"])
            .cmp(runtime::str_at(a, &["metadata", "creationTimestamp"]));
        ready.then(newer).then(runtime::name_of(a).cmp(runtime::name_of(b)))
    });
    let excess = (count - desired) as usize;
    (0, active.iter().take(excess).map(|p| runtime::name_of(p).to_owned()).collect())
}

/// The status a ReplicaSet should have with these Pods.
pub fn replicaset_status(rs: &Value, pods: &[Value], now: Timestamp) -> (Value, Next) {
    let mut status: Map<String, Value> = rs.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
    let template_labels = runtime::at(rs, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let min_ready = super::min_ready(rs);
    let mut replicas = 0;
    let mut labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    let mut next = Next::Done;
    for pod in pods.iter().filter(|p| super::is_active(p)) {
        replicas += 1;
        let labels = runtime::at(pod, &["metadata", "labels"]).and_then(Value::as_object);
        if template_labels.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
            labeled += 1;
        }
        if super::is_ready(pod) {
            ready += 1;
        }
        let (is_available, when) = super::availability(pod, min_ready, now);
        if is_available {
            available += 1;
        }
        next = next.min(when);
    }
    status.insert("replicas".into(), replicas.into());
    runtime::put_nonzero(&mut status, "fullyLabeledReplicas", labeled);
    runtime::put_nonzero(&mut status, "readyReplicas", ready);
    runtime::put_nonzero(&mut status, "availableReplicas", available);
    runtime::put_nonzero(
        &mut status,
        "observedGeneration",
        runtime::int_at(rs, &["metadata", "generation"]).unwrap_or(0),
    );
    (Value::Object(status), next)
}
