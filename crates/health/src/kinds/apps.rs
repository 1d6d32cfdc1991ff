//! Workload controllers of the `apps` group. Each one first checks that its
//! controller has seen the latest spec (observedGeneration), because status
//! counts for an older spec say nothing about the rollout being waited for.

use serde_json::Value;

use crate::fields::{condition, count_at, generations, int_at, is_true, name, str_at};
use crate::{Health, HealthStatus};

/// `spec.replicas`, defaulted as the API server does.
fn desired_replicas(object: &Value) -> i64 {
    int_at(object, &["spec", "replicas"]).unwrap_or(1)
}

fn progressing(message: String) -> Health {
    Health::new(HealthStatus::Progressing, message)
}

/// Deployment: paused is Suspended; a rollout past its progress deadline is
/// Degraded; otherwise Progressing until every replica is updated and
/// available and old ones are gone.
pub(crate) fn deployment(object: &Value) -> Health {
    if is_true(object, &["spec", "paused"]) {
        return Health::new(HealthStatus::Suspended, "Deployment is paused");
    }
    let (generation, observed) = generations(object);
    if generation > observed {
        return progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired generation".to_owned(),
        );
    }
    if condition(object, "Progressing").is_some_and(|c| c.reason == "ProgressDeadlineExceeded") {
        return Health::new(
            HealthStatus::Degraded,
            format!("Deployment {:?} exceeded its progress deadline", name(object)),
        );
    }
    let replicas = desired_replicas(object);
    let updated = count_at(object, &["status", "updatedReplicas"]);
    let current = count_at(object, &["status", "replicas"]);
    let available = count_at(object, &["status", "availableReplicas"]);
    if updated < replicas {
        return progressing(format!(
            "Waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated..."
        ));
    }
    if current > updated {
        return progressing(format!(
            "Waiting for rollout to finish: {} old replicas are pending termination...",
            current - updated
        ));
    }
    if available < updated {
        return progressing(format!(
            "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Health::new(HealthStatus::Healthy, "")
}

/// StatefulSet: Progressing until enough pods are ready and the rollout has
/// reached what the update strategy asks for (all pods at the new revision,
/// the pods above the partition, or nothing at all for OnDelete).
pub(crate) fn stateful_set(object: &Value) -> Health {
    let (generation, observed) = generations(object);
    if observed == 0 || generation > observed {
        return progressing("Waiting for statefulset spec update to be observed...".to_owned());
    }
    let replicas = desired_replicas(object);
    let ready = count_at(object, &["status", "readyReplicas"]);
    if ready < replicas {
        return progressing(format!("Waiting for {} pods to be ready...", replicas - ready));
    }
    let strategy = str_at(object, &["spec", "updateStrategy", "type"]).unwrap_or("RollingUpdate");
    if strategy == "OnDelete" {
        // Pods are only replaced when someone deletes them, so there is no
        // rollout to wait for.
        return Health::new(HealthStatus::Healthy, format!("statefulset has {ready} ready pods"));
    }
    let updated = count_at(object, &["status", "updatedReplicas"]);
    if let Some(partition) =
        int_at(object, &["spec", "updateStrategy", "rollingUpdate", "partition"]).filter(|p| *p > 0)
    {
        let target = (replicas - partition).max(0);
        if updated < target {
            return progressing(format!(
                "Waiting for partitioned roll out to finish: {updated} out of {target} new pods have been updated..."
            ));
        }
        return Health::new(
            HealthStatus::Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    let update_revision = str_at(object, &["status", "updateRevision"]).unwrap_or("");
    let current_revision = str_at(object, &["status", "currentRevision"]).unwrap_or("");
    if update_revision != current_revision {
        return progressing(format!(
            "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
        ));
    }
    let current = count_at(object, &["status", "currentReplicas"]);
    Health::new(
        HealthStatus::Healthy,
        format!("statefulset rolling update complete {current} pods at revision {current_revision}..."),
    )
}

/// DaemonSet: Progressing until every scheduled node runs an updated,
/// available pod (OnDelete has no rollout to wait for).
pub(crate) fn daemon_set(object: &Value) -> Health {
    let (generation, observed) = generations(object);
    if generation > observed {
        return progressing(
            "Waiting for rollout to finish: observed daemon set generation less than desired generation".to_owned(),
        );
    }
    let desired = count_at(object, &["status", "desiredNumberScheduled"]);
    let updated = count_at(object, &["status", "updatedNumberScheduled"]);
    let available = count_at(object, &["status", "numberAvailable"]);
    if str_at(object, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
        return Health::new(
            HealthStatus::Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    let name = name(object);
    if updated < desired {
        return progressing(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        ));
    }
    if available < desired {
        return progressing(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {updated} updated pods are available..."
        ));
    }
    Health::new(HealthStatus::Healthy, "")
}

/// ReplicaSet: Degraded when the controller reports it cannot create pods
/// (ReplicaFailure, e.g. a quota), Progressing until all are available.
pub(crate) fn replica_set(object: &Value) -> Health {
    let (generation, observed) = generations(object);
    if generation > observed {
        return progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired generation".to_owned(),
        );
    }
    if let Some(failure) = condition(object, "ReplicaFailure").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Degraded, failure.describe());
    }
    let replicas = desired_replicas(object);
    let available = count_at(object, &["status", "availableReplicas"]);
    if available < replicas {
        return progressing(format!(
            "Waiting for rollout to finish: {available} out of {replicas} new replicas are available..."
        ));
    }
    Health::new(HealthStatus::Healthy, "")
}
