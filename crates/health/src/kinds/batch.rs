//! `batch` kinds: Job and CronJob.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::fields::{at, condition, is_true, str_at};
use crate::{Health, HealthStatus};

/// Job: by its terminal conditions. A Job that has failed, or is about to
/// (FailureTarget, set while its pods are being terminated), is Degraded; a
/// complete one is Healthy; a suspended one Suspended; anything else is
/// still running.
pub(crate) fn job(object: &Value) -> Health {
    for kind in ["Failed", "FailureTarget"] {
        if let Some(failed) = condition(object, kind).filter(|c| c.is_true()) {
            return Health::new(HealthStatus::Degraded, failed.describe());
        }
    }
    if let Some(complete) = condition(object, "Complete").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Healthy, complete.describe());
    }
    if let Some(suspended) = condition(object, "Suspended").filter(|c| c.is_true()) {
        return Health::new(HealthStatus::Suspended, suspended.describe());
    }
    if is_true(object, &["spec", "suspend"]) {
        return Health::new(HealthStatus::Suspended, "Job is suspended");
    }
    Health::new(HealthStatus::Progressing, "Job is running")
}

fn timestamp(object: &Value, field: &str) -> Option<DateTime<FixedOffset>> {
    str_at(object, &["status", field]).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

/// CronJob: a CronJob is a schedule, not a workload, so it is Healthy unless
/// suspended, or its last scheduled run is over and did not succeed (no
/// success recorded since it was scheduled). Running jobs do not make it
/// Progressing: a wave must not wait for the next run of a schedule.
pub(crate) fn cron_job(object: &Value) -> Health {
    if is_true(object, &["spec", "suspend"]) {
        return Health::new(HealthStatus::Suspended, "CronJob is suspended");
    }
    let Some(scheduled) = timestamp(object, "lastScheduleTime") else {
        return Health::new(HealthStatus::Healthy, "CronJob has not been scheduled yet");
    };
    let active = at(object, &["status", "active"]).and_then(Value::as_array).map_or(0, Vec::len);
    if active > 0 {
        return Health::new(HealthStatus::Healthy, format!("CronJob has {active} active job(s)"));
    }
    // Echo the timestamp as the cluster wrote it.
    let scheduled_text = str_at(object, &["status", "lastScheduleTime"]).unwrap_or("");
    match timestamp(object, "lastSuccessfulTime") {
        Some(succeeded) if succeeded >= scheduled => {
            Health::new(HealthStatus::Healthy, format!("Last run, scheduled at {scheduled_text}, succeeded"))
        }
        _ => Health::new(
            HealthStatus::Degraded,
            format!("Last run, scheduled at {scheduled_text}, did not complete successfully"),
        ),
    }
}
