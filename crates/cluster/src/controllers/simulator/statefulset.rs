//! StatefulSets: Pods `<name>-0..n` created in order (or all at once with
//! `podManagementPolicy: Parallel`), rolled from the highest ordinal down,
//! with one PVC per volume claim template and ordinal.

use serde_json::{Map, Value, json};

use super::{CONTROLLER_MANAGER, Sim};
use crate::api::{ApiError, DeleteOptions, Reason};
use crate::controllers::runtime::{self, Next, Timestamp};

/// The label naming a Pod's revision.
pub(crate) const REVISION_LABEL: &str = "controller-revision-hash";

/// What a StatefulSet's Pods need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatefulSetPlan {
    /// Ordinals of Pods to create.
    pub create: Vec<i64>,
    /// Names of Pods to delete (scale down, or roll to the new revision).
    pub delete: Vec<String>,
}

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "apps", "v1", "statefulsets")?;
    let Some(sts) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&sts) {
        return Ok(Next::Done);
    }
    let pods_rt = runtime::resource(cluster, "", "v1", "pods")?;
    let pods = runtime::controlled_by(runtime::list_values(cluster, &pods_rt, Some(namespace))?, runtime::uid_of(&sts));
    let plan = statefulset_plan(&sts, &pods);
    let options = runtime::manager(CONTROLLER_MANAGER);
    if !plan.create.is_empty() {
        let claims_rt = runtime::resource(cluster, "", "v1", "persistentvolumeclaims")?;
        for ordinal in &plan.create {
            for claim in claims_for(&sts, *ordinal) {
                runtime::tolerate(cluster.create(&claims_rt, namespace, claim, &options).await, Reason::AlreadyExists)?;
            }
            runtime::tolerate(
                cluster.create(&pods_rt, namespace, pod_for(&sts, *ordinal), &options).await,
                Reason::AlreadyExists,
            )?;
        }
    }
    for pod in &plan.delete {
        runtime::tolerate(cluster.delete(&pods_rt, namespace, pod, &DeleteOptions::default()).await, Reason::NotFound)?;
    }
    let (status, next) = statefulset_status(&sts, &pods, chrono::Utc::now());
    super::write_status(cluster, &rt, &sts, status, CONTROLLER_MANAGER).await?;
    Ok(next)
}

/// `<name>-<hash of the template>`.
pub(crate) fn update_revision(sts: &Value) -> String {
    format!(
        "{}-{}",
        runtime::name_of(sts),
        super::template_hash(runtime::at(sts, &["spec", "template"]).unwrap_or(&Value::Null))
    )
}

fn ordinal_of(sts: &Value, pod: &Value) -> Option<i64> {
    runtime::name_of(pod).strip_prefix(runtime::name_of(sts))?.strip_prefix('-')?.parse().ok()
}

fn claim_name(template: &Value, sts: &Value, ordinal: i64) -> String {
    format!("{}-{}-{ordinal}", runtime::name_of(template), runtime::name_of(sts))
}

/// The PVCs of Pod `ordinal`, one per volume claim template.
pub(crate) fn claims_for(sts: &Value, ordinal: i64) -> Vec<Value> {
    let templates =
        runtime::at(sts, &["spec", "volumeClaimTemplates"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let labels = runtime::at(sts, &["spec", "selector", "matchLabels"]).cloned().unwrap_or_else(|| json!({}));
    templates
        .iter()
        .map(|template| {
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim_name(template, sts, ordinal), "namespace": runtime::namespace_of(sts), "labels": labels},
                "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
            })
        })
        .collect()
}

/// Pod `ordinal` of the StatefulSet, at its update revision.
pub(crate) fn pod_for(sts: &Value, ordinal: i64) -> Value {
    let name = format!("{}-{ordinal}", runtime::name_of(sts));
    let revision = update_revision(sts);
    let ordinal_text = ordinal.to_string();
    let template = runtime::at(sts, &["spec", "template"]).cloned().unwrap_or_else(|| json!({}));
    let mut pod = super::pod_from_template(
        sts,
        &template,
        &name,
        &[
            (REVISION_LABEL, &revision),
            ("statefulset.kubernetes.io/pod-name", &name),
            ("apps.kubernetes.io/pod-index", &ordinal_text),
        ],
    );
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("hostname".into(), name.clone().into());
        let service = runtime::str_at(sts, &["spec", "serviceName"]);
        if !service.is_empty() {
            spec.insert("subdomain".into(), service.into());
        }
        let templates =
            runtime::at(sts, &["spec", "volumeClaimTemplates"]).and_then(Value::as_array).cloned().unwrap_or_default();
        if !templates.is_empty() {
            let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
            if let Some(list) = volumes.as_array_mut() {
                for template in &templates {
                    let volume = runtime::name_of(template);
                    list.retain(|v| v.get("name").and_then(Value::as_str) != Some(volume));
                    list.push(json!({"name": volume, "persistentVolumeClaim": {"claimName": claim_name(template, sts, ordinal)}}));
                }
            }
        }
    }
    pod
}

/// Decides which Pods to create or delete (pure).
pub fn statefulset_plan(sts: &Value, pods: &[Value]) -> StatefulSetPlan {
    let desired = super::desired_replicas(sts);
    let parallel = runtime::str_at(sts, &["spec", "podManagementPolicy"]) == "Parallel";
    let revision = update_revision(sts);
    let mut by_ordinal: Vec<(i64, &Value)> = pods.iter().filter_map(|p| ordinal_of(sts, p).map(|o| (o, p))).collect();
    by_ordinal.sort_by_key(|(o, _)| *o);
    let find = |ordinal: i64| by_ordinal.iter().find(|(o, _)| *o == ordinal).map(|(_, p)| *p);
    let mut plan = StatefulSetPlan::default();
    let any_terminating = pods.iter().any(runtime::is_terminating);

    // Create missing ordinals: in order, each after its predecessors are Ready.
    for ordinal in 0..desired {
        match find(ordinal) {
            None => {
                plan.create.push(ordinal);
                if !parallel {
                    break;
                }
            }
            Some(pod) if !parallel && (!super::is_ready(pod) || runtime::is_terminating(pod)) => {
                break;
            }
            Some(_) => {}
        }
    }
    // Scale down from the highest ordinal.
    let excess: Vec<&Value> = by_ordinal
        .iter()
        .rev()
        .filter(|(o, _)| *o >= desired)
        .map(|(_, p)| *p)
        .filter(|p| !runtime::is_terminating(p))
        .collect();
    if !excess.is_empty() {
        if parallel {
            plan.delete.extend(excess.iter().map(|p| runtime::name_of(p).to_owned()));
        } else if !any_terminating {
            plan.delete.push(runtime::name_of(excess[0]).to_owned());
        }
        return plan;
    }
    // Roll: once every Pod is there and Ready, replace the highest outdated one.
    let on_delete = runtime::str_at(sts, &["spec", "updateStrategy", "type"]) == "OnDelete";
    let partition = runtime::int_at(sts, &["spec", "updateStrategy", "rollingUpdate", "partition"]).unwrap_or(0);
    let all_ready = (0..desired).all(|o| find(o).is_some_and(|p| super::is_ready(p) && !runtime::is_terminating(p)));
    if !on_delete && plan.create.is_empty() && all_ready && !any_terminating {
        let outdated = by_ordinal.iter().rev().find(|(o, p)| {
            *o >= partition && *o < desired && runtime::str_at(p, &["metadata", "labels", REVISION_LABEL]) != revision
        });
        if let Some((_, pod)) = outdated {
            plan.delete.push(runtime::name_of(pod).to_owned());
        }
    }
    plan
}

/// The status a StatefulSet should have with these Pods.
pub fn statefulset_status(sts: &Value, pods: &[Value], now: Timestamp) -> (Value, Next) {
    let mut status: Map<String, Value> = sts.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
    let desired = super::desired_replicas(sts);
    let revision = update_revision(sts);
    // Without a recorded current revision (a fresh status), the Pods tell it.
    let current_revision = status
        .get("currentRevision")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            pods.iter()
                .filter(|p| super::is_active(p))
                .min_by_key(|p| ordinal_of(sts, p))
                .map(|p| runtime::str_at(p, &["metadata", "labels", REVISION_LABEL]).to_owned())
                .filter(|r| !r.is_empty())
        })
        .unwrap_or_else(|| revision.clone());
    let min_ready = super::min_ready(sts);
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0, 0);
    let mut next = Next::Done;
    for pod in pods.iter().filter(|p| super::is_active(p)) {
        replicas += 1;
        if super::is_ready(pod) {
            ready += 1;
        }
        let (is_available, when) = super::availability(pod, min_ready, now);
        next = next.min(when);
        if is_available {
            available += 1;
        }
        let pod_revision = runtime::str_at(pod, &["metadata", "labels", REVISION_LABEL]);
        if pod_revision == current_revision {
            current += 1;
        }
        if pod_revision == revision {
            updated += 1;
        }
    }
    let rolled = updated == desired && ready == desired && replicas == desired;
    let (current_revision, current) = if rolled { (revision.clone(), updated) } else { (current_revision, current) };
    status.insert("observedGeneration".into(), runtime::int_at(sts, &["metadata", "generation"]).unwrap_or(0).into());
    status.insert("replicas".into(), replicas.into());
    runtime::put_nonzero(&mut status, "readyReplicas", ready);
    status.insert("availableReplicas".into(), available.into());
    runtime::put_nonzero(&mut status, "currentReplicas", current);
    runtime::put_nonzero(&mut status, "updatedReplicas", updated);
    status.insert("currentRevision".into(), current_revision.into());
    status.insert("updateRevision".into(), revision.into());
    status.insert("collisionCount".into(), 0.into());
    (Value::Object(status), next)
}
