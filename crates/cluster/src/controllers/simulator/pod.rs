//! Pods: Running at once, Ready after the readiness delay, unless a fault
//! matches a container's image. Pods of Jobs run to completion.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{MANAGER, Sim};
use crate::api::{ApiError, Subresource};
use crate::controllers::bootstrap::{NODE_IP, NODE_NAME};
use crate::controllers::runtime::{self, Condition, Next, Timestamp, UpdateTime};
use crate::controllers::{Fault, FaultConfig};

/// First crash-loop back-off; it doubles up to [`MAX_BACKOFF`], as the kubelet's.
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let rt = runtime::resource(&sim.cluster, "", "v1", "pods")?;
    let Some(pod) = runtime::get_opt(&sim.cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&pod) {
        return Ok(Next::Done);
    }
    if runtime::str_at(&pod, &["spec", "nodeName"]).is_empty() {
        // No scheduler: bind to the one node.
        let mut bound = pod.clone();
        if let Some(spec) = bound.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), NODE_NAME.into());
        }
        sim.cluster
            .update(&rt, namespace, name, Subresource::Main, bound, &runtime::manager("default-scheduler"))
            .await?;
        return Ok(Next::Done);
    }
    let (status, next) = pod_status(&pod, &sim.faults(), chrono::Utc::now(), sim.ready_delay);
    super::write_status(&sim.cluster, &rt, &pod, status, MANAGER).await?;
    Ok(next)
}

/// How many times a crash-looping container has restarted `elapsed` after
/// its first crash (which counts), and how long until the next restart.
pub fn crash_count(elapsed: Duration) -> (u32, Duration, Duration) {
    let mut count = 1u32;
    let mut at = Duration::ZERO;
    let mut backoff = FIRST_BACKOFF;
    loop {
        if backoff >= MAX_BACKOFF {
            // Steady state: one restart per maximal back-off.
            let since = elapsed.saturating_sub(at);
            let more = (since.as_secs() / MAX_BACKOFF.as_secs()) as u32;
            let next_at = at + MAX_BACKOFF * (more + 1);
            return (count.saturating_add(more), MAX_BACKOFF, next_at.saturating_sub(elapsed));
        }
        if at + backoff > elapsed {
            return (count, backoff, (at + backoff).saturating_sub(elapsed));
        }
        at += backoff;
        count += 1;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A deterministic address for a Pod in 10.244.0.0/16, from its uid.
pub(crate) fn pod_ip(uid: &str) -> String {
    let hash = super::fnv1a(uid.as_bytes());
    let third = (hash >> 8) & 0xff;
    let fourth = (hash & 0xff).clamp(2, 254);
    format!("10.244.{third}.{fourth}")
}

/// A made-up, stable digest for ids.
fn digest(seed: &str) -> String {
    (0u8..8).map(|i| format!("{:08x}", super::fnv1a(format!("{i}/{seed}").as_bytes()))).collect()
}

/// What one container is doing.
struct ContainerState {
    status: Value,
    ready: bool,
    completed: bool,
    /// A run-to-completion container that exited non-zero.
    failed: bool,
    next: Next,
}

fn container_state(
    container: &Value,
    pod: &Value,
    fault: Option<Fault>,
    to_completion: bool,
    start: Timestamp,
    now: Timestamp,
    ready_delay: Duration,
) -> ContainerState {
    let name = runtime::str_at(container, &["name"]);
    let image = runtime::str_at(container, &["image"]);
    let elapsed = runtime::until(start, now);
    let started_at = runtime::format_time(start);
    let uid = runtime::uid_of(pod);
    let container_id = |restarts: u32| format!("containerd://{}", digest(&format!("{uid}/{name}/{restarts}")));
    let mut status = Map::new();
    status.insert("name".into(), name.into());
    status.insert("image".into(), image.into());
    status.insert("imageID".into(), format!("{image}@sha256:{}", digest(image)).into());
    let not_yet = elapsed < ready_delay;
    let mut failed = false;
    let (ready, completed, next, restarts, started, state, last_state) = match fault {
        // A Job's container that crashes ends the Pod (restartPolicy Never).
        Some(Fault::CrashLoop) if !not_yet && to_completion => {
            failed = true;
            let finished = start + chrono::Duration::from_std(ready_delay).unwrap_or_default();
            let state = json!({"terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": started_at,
                "finishedAt": runtime::format_time(finished),
                "containerID": container_id(0),
            }});
            (false, false, Next::Done, 0, false, state, json!({}))
        }
        Some(Fault::CrashLoop) if !not_yet => {
            let (restarts, backoff, until_next) = crash_count(elapsed - ready_delay);
            let crashed_at = runtime::format_time(now);
            let state = json!({"waiting": {
                "reason": "CrashLoopBackOff",
                "message": format!("back-off {}s restarting failed container={name} pod={}_{}({uid})", backoff.as_secs(), runtime::name_of(pod), runtime::namespace_of(pod)),
            }});
            let last = json!({"terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": started_at,
                "finishedAt": crashed_at,
                "containerID": container_id(restarts.saturating_sub(1)),
            }});
            // The restart count only moves when a restart happens; keep the
            // recorded crash time until then so the status is stable.
            let last = previous_last_state(pod, name, restarts).unwrap_or(last);
            (false, false, Next::After(until_next), restarts, false, state, last)
        }
        Some(Fault::NeverReady) => {
            (false, false, Next::Done, 0, true, json!({"running": {"startedAt": started_at}}), json!({}))
        }
        _ if not_yet => {
            let wait = ready_delay - elapsed;
            (false, false, Next::After(wait), 0, true, json!({"running": {"startedAt": started_at}}), json!({}))
        }
        None if to_completion => {
            let finished = start + chrono::Duration::from_std(ready_delay).unwrap_or_default();
            let state = json!({"terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started_at,
                "finishedAt": runtime::format_time(finished),
                "containerID": container_id(0),
            }});
            (false, true, Next::Done, 0, false, state, json!({}))
        }
        _ => (true, false, Next::Done, 0, true, json!({"running": {"startedAt": started_at}}), json!({})),
    };
    // Waiting and terminated containers carry no live container id.
    if state.get("waiting").is_none() && !completed {
        status.insert("containerID".into(), container_id(restarts).into());
    }
    status.insert("lastState".into(), last_state);
    status.insert("ready".into(), ready.into());
    status.insert("restartCount".into(), restarts.into());
    status.insert("started".into(), started.into());
    status.insert("state".into(), state);
    ContainerState { status: Value::Object(status), ready, completed, failed, next }
}

/// The recorded last state of container `name` if its restart count is unchanged.
fn previous_last_state(pod: &Value, name: &str, restarts: u32) -> Option<Value> {
    let statuses = runtime::at(pod, &["status", "containerStatuses"])?.as_array()?;
    let previous = statuses.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(name))?;
    if previous.get("restartCount").and_then(Value::as_u64) == Some(u64::from(restarts)) {
        previous.get("lastState").filter(|l| l.get("terminated").is_some()).cloned()
    } else {
        None
    }
}

/// The status a Pod should have at `now`, and when to look again.
pub fn pod_status(pod: &Value, faults: &FaultConfig, now: Timestamp, ready_delay: Duration) -> (Value, Next) {
    let current = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    if matches!(runtime::str_at(&current, &["phase"]), "Succeeded" | "Failed") {
        return (current, Next::Done);
    }
    let start = current.get("startTime").and_then(Value::as_str).and_then(runtime::parse_time).unwrap_or(now);
    let to_completion = runtime::controller_ref(pod).is_some_and(|r| r.kind == "Job");
    let containers: Vec<Value> =
        runtime::at(pod, &["spec", "containers"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut next = Next::Done;
    let mut statuses = Vec::new();
    let mut unready = Vec::new();
    let mut all_completed = !containers.is_empty();
    let mut any_failed = false;
    for container in &containers {
        let fault = faults.fault_for(runtime::str_at(container, &["image"]));
        let state = container_state(container, pod, fault, to_completion, start, now, ready_delay);
        next = next.min(state.next);
        all_completed &= state.completed;
        any_failed |= state.failed;
        if !state.ready {
            unready.push(runtime::str_at(container, &["name"]).to_owned());
        }
        statuses.push(state.status);
    }
    let succeeded = to_completion && all_completed;
    let ready = !containers.is_empty() && unready.is_empty();

    let mut conditions: Vec<Value> = current.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut set = |type_: &str, status: &str, reason: &str, message: String| {
        runtime::set_condition(&mut conditions, Condition { type_, status, reason, message }, UpdateTime::Absent, now);
    };
    set("PodReadyToStartContainers", "True", "", String::new());
    set("Initialized", "True", "", String::new());
    if succeeded {
        set("Ready", "False", "PodCompleted", String::new());
        set("ContainersReady", "False", "PodCompleted", String::new());
    } else if ready {
        set("Ready", "True", "", String::new());
        set("ContainersReady", "True", "", String::new());
    } else {
        let message = format!("containers with unready status: [{}]", unready.join(" "));
        set("Ready", "False", "ContainersNotReady", message.clone());
        set("ContainersReady", "False", "ContainersNotReady", message);
    }
    set("PodScheduled", "True", "", String::new());
    // Kubernetes omits empty reasons and messages.
    for condition in &mut conditions {
        if let Some(map) = condition.as_object_mut() {
            map.retain(|k, v| !((k == "reason" || k == "message") && v.as_str() == Some("")));
        }
    }

    let init_statuses: Vec<Value> = runtime::at(pod, &["spec", "initContainers"])
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|c| {
                    let image = runtime::str_at(c, &["image"]);
                    json!({
                        "name": runtime::str_at(c, &["name"]),
                        "image": image,
                        "imageID": format!("{image}@sha256:{}", digest(image)),
                        "ready": true,
                        "restartCount": 0,
                        "started": false,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": runtime::format_time(start), "finishedAt": runtime::format_time(start)}},
                        "lastState": {},
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    let pod_ip = pod_ip(runtime::uid_of(pod));
    let mut status = Map::new();
    let phase = if any_failed {
        "Failed"
    } else if succeeded {
        "Succeeded"
    } else {
        "Running"
    };
    status.insert("phase".into(), phase.into());
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("hostIP".into(), NODE_IP.into());
    status.insert("hostIPs".into(), json!([{"ip": NODE_IP}]));
    status.insert("podIP".into(), pod_ip.clone().into());
    status.insert("podIPs".into(), json!([{"ip": pod_ip}]));
    status.insert("startTime".into(), runtime::format_time(start).into());
    if !init_statuses.is_empty() {
        status.insert("initContainerStatuses".into(), Value::Array(init_statuses));
    }
    status.insert("containerStatuses".into(), Value::Array(statuses));
    status.insert("qosClass".into(), qos_class(&containers).into());
    (Value::Object(status), next)
}

/// `BestEffort` without any requests or limits, `Burstable` otherwise
/// (Guaranteed is not worked out).
fn qos_class(containers: &[Value]) -> &'static str {
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| runtime::at(c, &["resources", k]).and_then(Value::as_object).is_some_and(|m| !m.is_empty()))
    });
    if any { "Burstable" } else { "BestEffort" }
}
