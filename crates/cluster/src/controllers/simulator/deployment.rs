//! Deployments: one ReplicaSet per pod template, rolled by the strategy,
//! and the status `kubectl rollout status` and health checks read.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{CONTROLLER_MANAGER, Sim};
use crate::api::{ApiError, DeleteOptions, Reason, Subresource};
use crate::controllers::runtime::{self, Condition, Next, Timestamp, UpdateTime};

/// The label tying a ReplicaSet and its Pods to a pod template.
pub(crate) const HASH_LABEL: &str = "pod-template-hash";
/// The revision annotation of Deployments and their ReplicaSets.
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";

const DEFAULT_PROGRESS_DEADLINE: i64 = 600;
const DEFAULT_HISTORY_LIMIT: i64 = 10;

/// A change to an existing ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsUpdate {
    /// Its name.
    pub name: String,
    /// New `spec.replicas`.
    pub replicas: i64,
    /// New revision annotation, when it changes (a rollback to this template).
    pub revision: Option<i64>,
}

/// What a Deployment's ReplicaSets need.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPlan {
    /// A ReplicaSet to create for the current template.
    pub create: Option<Value>,
    /// Scaling or revision changes of existing ReplicaSets.
    pub updates: Vec<RsUpdate>,
    /// Old, empty ReplicaSets beyond `revisionHistoryLimit`.
    pub delete: Vec<String>,
    /// The Deployment's revision (that of its new ReplicaSet).
    pub revision: i64,
}

impl DeploymentPlan {
    fn is_empty(&self) -> bool {
        self.create.is_none() && self.updates.is_empty() && self.delete.is_empty()
    }
}

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "apps", "v1", "deployments")?;
    let Some(deploy) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&deploy) {
        return Ok(Next::Done);
    }
    let rs_rt = runtime::resource(cluster, "apps", "v1", "replicasets")?;
    let rss = runtime::controlled_by(runtime::list_values(cluster, &rs_rt, Some(namespace))?, runtime::uid_of(&deploy));
    let plan = deployment_plan(&deploy, &rss);
    let options = runtime::manager(CONTROLLER_MANAGER);
    if let Some(rs) = &plan.create {
        cluster.create(&rs_rt, namespace, rs.clone(), &options).await?;
    }
    for update in &plan.updates {
        let Some(mut rs) = rss.iter().find(|rs| runtime::name_of(rs) == update.name).cloned() else {
            continue;
        };
        if let Some(spec) = rs.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), update.replicas.into());
        }
        if let Some(revision) = update.revision {
            set_annotation(&mut rs, REVISION, &revision.to_string());
        }
        cluster.update(&rs_rt, namespace, &update.name, Subresource::Main, rs, &options).await?;
    }
    for name in &plan.delete {
        runtime::tolerate(cluster.delete(&rs_rt, namespace, name, &DeleteOptions::default()).await, Reason::NotFound)?;
    }
    let revision = plan.revision.to_string();
    if runtime::str_at(&deploy, &["metadata", "annotations", REVISION]) != revision {
        let mut annotated = deploy.clone();
        set_annotation(&mut annotated, REVISION, &revision);
        cluster.update(&rt, namespace, name, Subresource::Main, annotated, &options).await?;
        // The update's event brings the Deployment back for its status.
        return Ok(Next::Done);
    }
    if !plan.is_empty() {
        // The ReplicaSets' events bring it back.
        return Ok(Next::Done);
    }
    let (status, next) = deployment_status(&deploy, &rss, chrono::Utc::now());
    super::write_status(cluster, &rt, &deploy, status, CONTROLLER_MANAGER).await?;
    Ok(next)
}

fn set_annotation(object: &mut Value, key: &str, value: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(map) = annotations.as_object_mut() {
        map.insert(key.into(), value.into());
    }
}

fn revision_of(rs: &Value) -> i64 {
    runtime::str_at(rs, &["metadata", "annotations", REVISION]).parse().unwrap_or(0)
}

fn spec_replicas(rs: &Value) -> i64 {
    runtime::int_at(rs, &["spec", "replicas"]).unwrap_or(0).max(0)
}

fn status_int(rs: &Value, field: &str) -> i64 {
    runtime::int_at(rs, &["status", field]).unwrap_or(0)
}

/// Resolves an int-or-percent rolling parameter against `desired`.
pub(crate) fn resolve_int_or_percent(value: Option<&Value>, desired: i64, default_percent: i64, round_up: bool) -> i64 {
    let percent = |p: i64| {
        let scaled = p.saturating_mul(desired);
        if round_up { (scaled + 99) / 100 } else { scaled / 100 }
    };
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0).max(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.trim().parse::<i64>().ok()) {
            Some(p) => percent(p.max(0)),
            None => s.parse::<i64>().unwrap_or(0).max(0),
        },
        _ => percent(default_percent),
    }
}

/// `(maxSurge, maxUnavailable)` of a rolling Deployment.
pub(crate) fn surge_and_unavailable(deploy: &Value) -> (i64, i64) {
    let desired = super::desired_replicas(deploy);
    let rolling = runtime::at(deploy, &["spec", "strategy", "rollingUpdate"]);
    let surge = resolve_int_or_percent(rolling.and_then(|r| r.get("maxSurge")), desired, 25, true);
    let unavailable = resolve_int_or_percent(rolling.and_then(|r| r.get("maxUnavailable")), desired, 25, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable.min(desired)) }
}

/// The hash of the Deployment's current pod template.
pub(crate) fn deployment_hash(deploy: &Value) -> String {
    super::template_hash(runtime::at(deploy, &["spec", "template"]).unwrap_or(&Value::Null))
}

/// The new ReplicaSet (for the current template) among `rss`.
fn find_new<'a>(rss: &'a [Value], hash: &str) -> Option<&'a Value> {
    rss.iter().find(|rs| runtime::str_at(rs, &["metadata", "labels", HASH_LABEL]) == hash)
}

/// Old ReplicaSets, oldest first.
fn olds<'a>(rss: &'a [Value], new_name: &str) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = rss.iter().filter(|rs| runtime::name_of(rs) != new_name).collect();
    out.sort_by(|a, b| {
        revision_of(a)
            .cmp(&revision_of(b))
            .then(
                runtime::str_at(a, &["metadata", "creationTimestamp"])
                    .cmp(runtime::str_at(b, &["metadata", "creationTimestamp"])),
            )
            .then(runtime::name_of(a).cmp(runtime::name_of(b)))
    });
    out
}

/// The ReplicaSet a Deployment's template calls for.
pub(crate) fn new_replicaset(deploy: &Value, hash: &str, replicas: i64, revision: i64) -> Value {
    let name = format!("{}-{hash}", runtime::name_of(deploy));
    let mut template = runtime::at(deploy, &["spec", "template"]).cloned().unwrap_or_else(|| json!({}));
    if let Some(t) = template.as_object_mut() {
        let metadata = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = metadata.as_object_mut() {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(HASH_LABEL.into(), hash.into());
            }
        }
    }
    let mut selector = runtime::at(deploy, &["spec", "selector"]).cloned().unwrap_or_else(|| json!({}));
    if let Some(s) = selector.as_object_mut() {
        let match_labels = s.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(m) = match_labels.as_object_mut() {
            m.insert(HASH_LABEL.into(), hash.into());
        }
    }
    let labels = runtime::at(&template, &["metadata", "labels"]).cloned().unwrap_or_else(|| json!({}));
    let desired = super::desired_replicas(deploy);
    let (surge, _) = surge_and_unavailable(deploy);
    let mut spec = Map::new();
    spec.insert("replicas".into(), replicas.into());
    if let Some(min_ready) = runtime::int_at(deploy, &["spec", "minReadySeconds"]).filter(|m| *m > 0) {
        spec.insert("minReadySeconds".into(), min_ready.into());
    }
    spec.insert("selector".into(), selector);
    spec.insert("template".into(), template);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": runtime::namespace_of(deploy),
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + surge).to_string(),
                REVISION: revision.to_string(),
            },
            "ownerReferences": [runtime::controller_reference(deploy)],
        },
        "spec": Value::Object(spec),
    })
}

/// Decides the ReplicaSets of a Deployment (pure): create the new one,
/// scale by the strategy, bump the revision on rollback, prune history.
pub fn deployment_plan(deploy: &Value, rss: &[Value]) -> DeploymentPlan {
    let desired = super::desired_replicas(deploy);
    let hash = deployment_hash(deploy);
    let new = find_new(rss, &hash);
    let new_name =
        new.map(|rs| runtime::name_of(rs).to_owned()).unwrap_or_else(|| format!("{}-{hash}", runtime::name_of(deploy)));
    let old = olds(rss, &new_name);
    let max_old_revision = old.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
    let revision = match new {
        Some(rs) if revision_of(rs) > max_old_revision => revision_of(rs),
        _ => max_old_revision + 1,
    };
    let paused = runtime::at(deploy, &["spec", "paused"]).and_then(Value::as_bool) == Some(true);
    let mut plan = DeploymentPlan { create: None, updates: Vec::new(), delete: Vec::new(), revision };
    if paused {
        // A paused Deployment neither rolls nor scales.
        plan.revision = new.map(revision_of).unwrap_or(max_old_revision);
        return plan;
    }

    let new_current = new.map(spec_replicas).unwrap_or(0);
    let new_available = new.map(|rs| status_int(rs, "availableReplicas")).unwrap_or(0);
    let old_total: i64 = old.iter().map(|rs| spec_replicas(rs)).sum();
    let mut old_targets: Vec<i64> = old.iter().map(|rs| spec_replicas(rs)).collect();
    let recreate = runtime::str_at(deploy, &["spec", "strategy", "type"]) == "Recreate";

    let new_target = if recreate {
        if old_total > 0 {
            old_targets.iter_mut().for_each(|t| *t = 0);
            new_current
        } else if old.iter().any(|rs| status_int(rs, "replicas") > 0) {
            // Old Pods are still going away.
            new_current
        } else {
            desired
        }
    } else {
        let (surge, unavailable) = surge_and_unavailable(deploy);
        let target = if old_total == 0 || new_current > desired {
            desired
        } else {
            let allowed = desired + surge;
            let current = old_total + new_current;
            if current >= allowed { new_current } else { desired.min(new_current + allowed - current) }
        };
        if target == new_current {
            // Scaled up nothing this round: scale old ones down as far as
            // availability allows (a real controller does one or the other per sync).
            let min_available = desired - unavailable;
            let new_unavailable = (new_current - new_available).max(0);
            let all_pods = old_total + new_current;
            let max_scaled_down = all_pods - min_available - new_unavailable;
            if max_scaled_down > 0 {
                // Unhealthy old replicas can go first: they serve nothing.
                let mut budget = max_scaled_down;
                for (i, rs) in old.iter().enumerate() {
                    let unhealthy = (old_targets[i] - status_int(rs, "availableReplicas")).max(0).min(budget);
                    old_targets[i] -= unhealthy;
                    budget -= unhealthy;
                }
                let available: i64 = rss.iter().map(|rs| status_int(rs, "availableReplicas")).sum();
                let mut scale_down = (available - min_available).max(0);
                for target in old_targets.iter_mut() {
                    let take = (*target).min(scale_down);
                    *target -= take;
                    scale_down -= take;
                }
            }
        }
        target
    };

    match new {
        None => plan.create = Some(new_replicaset(deploy, &hash, new_target, revision)),
        Some(rs) => {
            let revision_change = (revision_of(rs) != revision).then_some(revision);
            if spec_replicas(rs) != new_target || revision_change.is_some() {
                plan.updates.push(RsUpdate { name: new_name.clone(), replicas: new_target, revision: revision_change });
            }
        }
    }
    for (rs, target) in old.iter().zip(&old_targets) {
        if spec_replicas(rs) != *target {
            plan.updates.push(RsUpdate { name: runtime::name_of(rs).to_owned(), replicas: *target, revision: None });
        }
    }
    let limit =
        runtime::int_at(deploy, &["spec", "revisionHistoryLimit"]).unwrap_or(DEFAULT_HISTORY_LIMIT).max(0) as usize;
    let empty: Vec<&&Value> = old
        .iter()
        .zip(&old_targets)
        .filter(|(rs, t)| **t == 0 && spec_replicas(rs) == 0 && status_int(rs, "replicas") == 0)
        .map(|(rs, _)| rs)
        .collect();
    if empty.len() > limit {
        plan.delete = empty[..empty.len() - limit].iter().map(|rs| runtime::name_of(rs).to_owned()).collect();
    }
    plan
}

/// The status a Deployment should have with these ReplicaSets at `now`,
/// and when to look again (the progress deadline).
pub fn deployment_status(deploy: &Value, rss: &[Value], now: Timestamp) -> (Value, Next) {
    let current = deploy.get("status").cloned().unwrap_or_else(|| json!({}));
    let desired = super::desired_replicas(deploy);
    let hash = deployment_hash(deploy);
    let new = find_new(rss, &hash);
    let new_name =
        new.map(|rs| runtime::name_of(rs).to_owned()).unwrap_or_else(|| format!("{}-{hash}", runtime::name_of(deploy)));
    let sum = |field: &str| rss.iter().map(|rs| status_int(rs, field)).sum::<i64>();
    let replicas = sum("replicas");
    let updated = new.map(|rs| status_int(rs, "replicas")).unwrap_or(0);
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let total_spec: i64 = rss.iter().map(spec_replicas).sum();
    let unavailable = (total_spec - available).max(0);
    let generation = runtime::int_at(deploy, &["metadata", "generation"]).unwrap_or(0);

    let mut status: Map<String, Value> = current.as_object().cloned().unwrap_or_default();
    runtime::put_nonzero(&mut status, "observedGeneration", generation);
    runtime::put_nonzero(&mut status, "replicas", replicas);
    runtime::put_nonzero(&mut status, "updatedReplicas", updated);
    runtime::put_nonzero(&mut status, "readyReplicas", ready);
    runtime::put_nonzero(&mut status, "availableReplicas", available);
    runtime::put_nonzero(&mut status, "unavailableReplicas", unavailable);

    let mut conditions: Vec<Value> = current.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let (_, max_unavailable) = surge_and_unavailable(deploy);
    if available >= desired - max_unavailable {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Available",
                status: "True",
                reason: "MinimumReplicasAvailable",
                message: "Deployment has minimum availability.".into(),
            },
            UpdateTime::OnChange,
            now,
        );
    } else {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Available",
                status: "False",
                reason: "MinimumReplicasUnavailable",
                message: "Deployment does not have minimum availability.".into(),
            },
            UpdateTime::OnChange,
            now,
        );
    }

    let mut next = Next::Done;
    let paused = runtime::at(deploy, &["spec", "paused"]).and_then(Value::as_bool) == Some(true);
    let progressing = runtime::condition(&current, "Progressing").cloned();
    let deadline =
        runtime::int_at(deploy, &["spec", "progressDeadlineSeconds"]).unwrap_or(DEFAULT_PROGRESS_DEADLINE).max(0);
    let complete = new.is_some() && updated == desired && replicas == desired && available == desired;
    let old_int = |field: &str| runtime::int_at(&current, &[field]).unwrap_or(0);
    let spec_changed = runtime::int_at(&current, &["observedGeneration"]).unwrap_or(0) < generation;
    let made_progress = spec_changed
        || updated > old_int("updatedReplicas")
        || (replicas - updated) < (old_int("replicas") - old_int("updatedReplicas"))
        || ready > old_int("readyReplicas")
        || available > old_int("availableReplicas");
    let mentions_new = progressing.as_ref().is_some_and(|c| {
        c.get("message").and_then(Value::as_str).is_some_and(|m| m.contains(&format!("\"{new_name}\"")))
    });
    if paused {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Progressing",
                status: "Unknown",
                reason: "DeploymentPaused",
                message: "Deployment is paused".into(),
            },
            UpdateTime::OnChange,
            now,
        );
    } else if complete {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Progressing",
                status: "True",
                reason: "NewReplicaSetAvailable",
                message: format!("ReplicaSet \"{new_name}\" has successfully progressed."),
            },
            UpdateTime::OnChange,
            now,
        );
    } else if made_progress || progressing.is_none() || !mentions_new {
        let (reason, message) = if mentions_new {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."))
        } else {
            ("NewReplicaSetCreated", format!("Created new replica set \"{new_name}\""))
        };
        runtime::set_condition(
            &mut conditions,
            Condition { type_: "Progressing", status: "True", reason, message },
            UpdateTime::Touch,
            now,
        );
        next = Next::After(Duration::from_secs(deadline.unsigned_abs()));
    } else if let Some(condition) = &progressing {
        let timed_out = condition.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded");
        let last_update =
            condition.get("lastUpdateTime").and_then(Value::as_str).and_then(runtime::parse_time).unwrap_or(now);
        let due = last_update + chrono::Duration::seconds(deadline);
        if !timed_out && due <= now {
            runtime::set_condition(
                &mut conditions,
                Condition {
                    type_: "Progressing",
                    status: "False",
                    reason: "ProgressDeadlineExceeded",
                    message: format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                },
                UpdateTime::Touch,
                now,
            );
        } else if !timed_out {
            next = Next::After(runtime::until(now, due));
        }
    }
    status.insert("conditions".into(), Value::Array(conditions));
    (Value::Object(status), next)
}
