//! Jobs: run `completions` Pods, `parallelism` at a time, to success.

use serde_json::{Map, Value, json};

use super::{CONTROLLER_MANAGER, Sim};
use crate::api::{ApiError, Reason};
use crate::controllers::runtime::{self, Condition, Next, Timestamp, UpdateTime};

pub(super) async fn reconcile(sim: &Sim, namespace: &str, name: &str) -> Result<Next, ApiError> {
    let cluster = &sim.cluster;
    let rt = runtime::resource(cluster, "batch", "v1", "jobs")?;
    let Some(job) = runtime::get_opt(cluster, &rt, namespace, name)? else {
        return Ok(Next::Done);
    };
    if runtime::is_terminating(&job) {
        return Ok(Next::Done);
    }
    let pods_rt = runtime::resource(cluster, "", "v1", "pods")?;
    let pods = runtime::controlled_by(runtime::list_values(cluster, &pods_rt, Some(namespace))?, runtime::uid_of(&job));
    let uid = runtime::uid_of(&job).to_owned();
    let template = runtime::at(&job, &["spec", "template"]).cloned().unwrap_or(Value::Null);
    for _ in 0..job_plan(&job, &pods) {
        let pod = super::pod_from_template(
            &job,
            &template,
            &format!("{name}-{}", super::random_suffix()),
            &[
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", name),
                ("controller-uid", &uid),
                ("job-name", name),
            ],
        );
        runtime::tolerate(
            cluster.create(&pods_rt, namespace, pod, &runtime::manager(CONTROLLER_MANAGER)).await,
            Reason::AlreadyExists,
        )?;
    }
    let status = job_status(&job, &pods, chrono::Utc::now());
    super::write_status(cluster, &rt, &job, status, CONTROLLER_MANAGER).await?;
    Ok(Next::Done)
}

fn completions(job: &Value) -> i64 {
    runtime::int_at(job, &["spec", "completions"]).unwrap_or(1).max(0)
}

fn phase_count(pods: &[Value], phase: &str) -> i64 {
    pods.iter().filter(|p| runtime::str_at(p, &["status", "phase"]) == phase).count() as i64
}

fn is_finished(job: &Value) -> bool {
    job.get("status")
        .and_then(|s| runtime::condition(s, "Complete").or_else(|| runtime::condition(s, "Failed")))
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// How many Pods to start now.
pub fn job_plan(job: &Value, pods: &[Value]) -> usize {
    let suspended = runtime::at(job, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true);
    if suspended || is_finished(job) {
        return 0;
    }
    let parallelism = runtime::int_at(job, &["spec", "parallelism"]).unwrap_or(1).max(0);
    let succeeded = phase_count(pods, "Succeeded");
    let active = pods.iter().filter(|p| super::is_active(p)).count() as i64;
    let wanted = parallelism.min(completions(job) - succeeded);
    (wanted - active).max(0) as usize
}

/// The status a Job should have with these Pods.
pub fn job_status(job: &Value, pods: &[Value], now: Timestamp) -> Value {
    let mut status: Map<String, Value> = job.get("status").and_then(Value::as_object).cloned().unwrap_or_default();
    if is_finished(job) {
        return Value::Object(status);
    }
    let suspended = runtime::at(job, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true);
    let succeeded = phase_count(pods, "Succeeded");
    let failed = phase_count(pods, "Failed");
    let active: Vec<&Value> = pods.iter().filter(|p| super::is_active(p)).collect();
    let ready = active.iter().filter(|p| super::is_ready(p)).count() as i64;
    if !suspended && !status.contains_key("startTime") {
        status.insert("startTime".into(), runtime::format_time(now).into());
    }
    runtime::put_nonzero(&mut status, "active", active.len() as i64);
    runtime::put_nonzero(&mut status, "succeeded", succeeded);
    runtime::put_nonzero(&mut status, "failed", failed);
    status.insert("ready".into(), ready.into());
    status.insert("terminating".into(), (pods.iter().filter(|p| runtime::is_terminating(p)).count() as i64).into());
    status.insert("uncountedTerminatedPods".into(), json!({}));
    let backoff_limit = runtime::int_at(job, &["spec", "backoffLimit"]).unwrap_or(6).max(0);
    if failed > backoff_limit && !suspended {
        let mut conditions: Vec<Value> =
            status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        for type_ in ["FailureTarget", "Failed"] {
            runtime::set_condition(
                &mut conditions,
                Condition {
                    type_,
                    status: "True",
                    reason: "BackoffLimitExceeded",
                    message: "Job has reached the specified backoff limit".into(),
                },
                UpdateTime::Absent,
                now,
            );
        }
        status.insert("conditions".into(), Value::Array(conditions));
    } else if succeeded >= completions(job) && !suspended {
        let mut conditions: Vec<Value> =
            status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        for type_ in ["SuccessCriteriaMet", "Complete"] {
            runtime::set_condition(
                &mut conditions,
                Condition {
                    type_,
                    status: "True",
                    reason: "CompletionsReached",
                    message: "Reached expected number of succeeded pods".into(),
                },
                UpdateTime::Absent,
                now,
            );
        }
        for condition in &mut conditions {
            if let Some(map) = condition.as_object_mut() {
                map.insert("lastProbeTime".into(), runtime::format_time(now).into());
            }
        }
        status.insert("conditions".into(), Value::Array(conditions));
        status.insert("completionTime".into(), runtime::format_time(now).into());
    }
    Value::Object(status)
}
