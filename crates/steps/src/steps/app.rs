//! `app-sync` and `app-wait`: ferry Applications, through the controller.

use application::{OperationPhase, SyncStatusCode};
use health::HealthStatus;
use serde::Deserialize;
use serde_json::Value;

use crate::steps::outputs;
use crate::{StepContext, StepError, StepOutcome};

/// `app-sync` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SyncConfig {
    /// One Application.
    #[serde(default)]
    app: Option<String>,
    /// Several Applications.
    #[serde(default)]
    apps: Vec<String>,
    /// The revision to sync to (usually git-push's `commit` output).
    #[serde(default)]
    revision: Option<String>,
}

/// **app-sync**: refreshes each Application and syncs it, to `revision` when given.
///
/// Outputs: `apps`, `revision`.
///
/// Idempotency: syncing to the same revision again changes nothing in the cluster.
pub(crate) async fn sync(config: SyncConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let apps = names(config.app, config.apps)?;
    for app in &apps {
        ctx.services.sync_app(app, config.revision.as_deref()).await?;
    }
    Ok(StepOutcome::succeeded(outputs([
        ("apps", Value::from(apps)),
        ("revision", config.revision.map(Value::String).unwrap_or(Value::Null)),
    ])))
}

/// `app-wait` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WaitConfig {
    /// One Application.
    #[serde(default)]
    app: Option<String>,
    /// Several Applications.
    #[serde(default)]
    apps: Vec<String>,
    /// The revision each must be synced at (default: any).
    #[serde(default)]
    revision: Option<String>,
}

/// **app-wait**: `running` until every Application is Synced and Healthy (at `revision` when
/// given); fails when one stays Degraded at that revision, or its sync failed, for
/// [`DEGRADED_GRACE`] (right after a sync, health may still describe the previous rollout).
///
/// Outputs: `apps`.
///
/// Idempotency: it only reads state.
/// How long an app may stay Degraded (or its sync failed) before app-wait fails.
pub(crate) const DEGRADED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) async fn wait(config: WaitConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let apps = names(config.app, config.apps)?;
    let mut waiting = Vec::new();
    let mut bad = None;
    for app in &apps {
        let state = ctx.services.app_state(app).await?;
        if let Some(revision) = &config.revision
            && state.revision.as_deref() != Some(revision.as_str())
        {
            waiting.push(format!("{app} is not at {revision} yet"));
            continue;
        }
        if matches!(state.operation, Some(OperationPhase::Failed | OperationPhase::Error)) {
            bad.get_or_insert(format!("application {app}: sync failed"));
            continue;
        }
        if state.health == HealthStatus::Degraded {
            bad.get_or_insert(format!("application {app} is Degraded"));
            continue;
        }
        if state.sync != SyncStatusCode::Synced || state.health != HealthStatus::Healthy {
            waiting.push(format!("{app} is {:?} and {:?}", state.sync, state.health));
        }
    }
    if let Some(problem) = bad {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let since = ctx.state.and_then(|s| s.get("badSince")).and_then(Value::as_u64).unwrap_or(now);
        if now.saturating_sub(since) >= DEGRADED_GRACE.as_secs() {
            return Ok(StepOutcome::failed(problem));
        }
        let mut outcome = StepOutcome::running(format!("{problem}; failing if it stays so"));
        outcome.state = Some(serde_json::json!({ "badSince": since }));
        return Ok(outcome);
    }
    if waiting.is_empty() {
        Ok(StepOutcome::succeeded(outputs([("apps", Value::from(apps))])))
    } else {
        Ok(StepOutcome::running(format!("waiting: {}", waiting.join("; "))))
    }
}

fn names(app: Option<String>, apps: Vec<String>) -> Result<Vec<String>, StepError> {
    let mut all: Vec<String> = app.into_iter().chain(apps).filter(|a| !a.is_empty()).collect();
    all.dedup();
    if all.is_empty() {
        return Err(StepError::failed("no app or apps given"));
    }
    Ok(all)
}
