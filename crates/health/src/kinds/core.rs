//! Core-group kinds: Pod, PersistentVolumeClaim and Service.

use serde_json::Value;

use crate::fields::{at, condition, has_load_balancer_ingress, str_at};
use crate::{Health, HealthStatus};

/// Whether a container's waiting reason means it will not start without a
/// change: image pull failures, crash loops, bad configuration. Kubernetes
/// names these `Err*`, `*Error` and `*BackOff`.
fn is_error_reason(reason: &str) -> bool {
    reason.starts_with("Err") || reason.ends_with("Error") || reason.ends_with("BackOff")
}

/// The container statuses of a pod: init containers first, then the others.
fn container_statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainerStatuses", "containerStatuses"]
        .into_iter()
        .filter_map(|list| at(pod, &["status", list]).and_then(Value::as_array))
        .flatten()
}

/// Why a terminated container failed, if it did.
fn failure_of(container: &Value) -> Option<String> {
    let terminated = at(container, &["state", "terminated"])?;
    if let Some(message) = str_at(terminated, &["message"]).filter(|m| !m.is_empty()) {
        return Some(message.to_owned());
    }
    if str_at(terminated, &["reason"]) == Some("OOMKilled") {
        return Some("OOMKilled".to_owned());
    }
    let code = terminated.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
    (code != 0).then(|| {
        let name = str_at(container, &["name"]).unwrap_or("");
        format!("container {name:?} failed with exit code {code}")
    })
}

/// Pod: by phase, with two refinements for long-running pods
/// (restartPolicy Always): a container stuck in an error wait
/// (CrashLoopBackOff, ImagePullBackOff, ...) is Degraded, and a running pod
/// that is not ready after a container restart is Degraded.
///
/// Pods with restartPolicy OnFailure or Never run to completion (hooks, job
/// pods): they stay Progressing while running and are not judged by their
/// waiting reasons, because an image that is not pullable yet may become so
/// and a hook must not fail early for it.
pub(crate) fn pod(object: &Value) -> Health {
    let restart_policy = str_at(object, &["spec", "restartPolicy"]).unwrap_or("Always");
    let status_message = str_at(object, &["status", "message"]).unwrap_or("");
    if restart_policy == "Always" {
        let stuck: Vec<&str> = container_statuses(object)
            .filter_map(|c| at(c, &["state", "waiting"]))
            .filter_map(|waiting| {
                let reason = str_at(waiting, &["reason"])?;
                is_error_reason(reason)
                    .then(|| str_at(waiting, &["message"]).filter(|m| !m.is_empty()).unwrap_or(reason))
            })
            .collect();
        if !stuck.is_empty() {
            return Health::new(HealthStatus::Degraded, stuck.join(", "));
        }
    }
    match str_at(object, &["status", "phase"]).unwrap_or("Pending") {
        "Pending" => Health::new(HealthStatus::Progressing, status_message),
        "Succeeded" => Health::new(HealthStatus::Healthy, status_message),
        "Failed" => {
            let message = if status_message.is_empty() {
                container_statuses(object).find_map(failure_of).unwrap_or_default()
            } else {
                status_message.to_owned()
            };
            Health::new(HealthStatus::Degraded, message)
        }
        "Running" if restart_policy == "Always" => {
            if condition(object, "Ready").is_some_and(|c| c.is_true()) {
                return Health::new(HealthStatus::Healthy, status_message);
            }
            let restarted = at(object, &["status", "containerStatuses"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| at(c, &["lastState", "terminated"]).is_some());
            match restarted {
                Some(container) => {
                    let name = str_at(container, &["name"]).unwrap_or("");
                    let reason = str_at(container, &["lastState", "terminated", "reason"]).unwrap_or("Error");
                    let message = if status_message.is_empty() {
                        format!("container {name:?} restarted after {reason} and is not ready")
                    } else {
                        status_message.to_owned()
                    };
                    Health::new(HealthStatus::Degraded, message)
                }
                None => Health::new(HealthStatus::Progressing, status_message),
            }
        }
        "Running" => Health::new(HealthStatus::Progressing, status_message),
        _ => Health::new(HealthStatus::Unknown, status_message),
    }
}

/// PersistentVolumeClaim: Bound is Healthy, Pending waits for a volume,
/// Lost means the volume is gone.
pub(crate) fn persistent_volume_claim(object: &Value) -> Health {
    match str_at(object, &["status", "phase"]) {
        Some("Bound") => Health::new(HealthStatus::Healthy, ""),
        Some("Pending") | None => Health::new(HealthStatus::Progressing, "Waiting for the claim to be bound"),
        Some("Lost") => Health::new(HealthStatus::Degraded, "The bound volume no longer exists"),
        Some(other) => Health::new(HealthStatus::Unknown, format!("Unknown phase {other:?}")),
    }
}

/// Service: only a LoadBalancer has something to wait for, its address.
pub(crate) fn service(object: &Value) -> Health {
    if str_at(object, &["spec", "type"]) == Some("LoadBalancer") && !has_load_balancer_ingress(object) {
        return Health::new(HealthStatus::Progressing, "Waiting for a load balancer address");
    }
    Health::new(HealthStatus::Healthy, "")
}
