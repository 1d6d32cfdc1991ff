//! Reconciles Stages: the health of the stage's Application at the active commit, ferry's own
//! commit status on it (`ferry.dev/health`, then `ferry.dev/soak` once verified), verification
//! (healthy for the soak time, active gates `success`, the HTTP check, the Job check in `job`)
//! which marks the freight `verifiedIn` the stage, and auto-promotion (`promotion::selection`).
//! The approval and window statuses go on the proposed commit, from `services`.
//!
//! A Degraded app never verifies its freight, so stages downstream never get it.

use std::sync::Arc;
use std::time::Duration;

use application::Application;
use chrono::Utc;
use health::HealthStatus;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use promotion::duration::{elapsed, format_duration, format_timestamp, parse_duration, parse_timestamp};
use promotion::gates::GateResult;
use promotion::selection::AutoDecision;
use promotion::{CommitStatus, CommitStatusPhase, Condition, Freight, Stage, StageStatus, VerifiedStage};
use serde_json::json;

use crate::promotions::stage_promotions;
use crate::{Context, ReconcileError};
use watches::Wake;

mod job;
mod watches;

/// How often a stage is looked at while nothing wakes it (soak, HTTP checks).
const RECHECK: Duration = Duration::from_secs(15);

/// One pass over one Stage.
pub(crate) async fn reconcile(stage: Arc<Stage>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = stage.name_any();
    let now = Utc::now();
    let old = stage.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.observed_generation = stage.metadata.generation;
    let freight = context
        .freight
        .list(&ListParams::default())
        .await
        .map_err(|source| ReconcileError::kube("list", "Freight", &name, source))?
        .items;
    let promotions = stage_promotions(&context, &name).await?;
    let current = old.current_freight.as_ref().and_then(|r| freight.iter().find(|f| f.name_any() == r.name));
    let mut requeue = RECHECK;

    // Health of the stage's app at the active commit.
    let app = match &stage.spec.application {
        Some(app) => Api::<Application>::namespaced(context.client.clone(), application::NAMESPACE)
            .get_opt(app)
            .await
            .map_err(|source| ReconcileError::kube("read", "Application", app, source))?,
        None => None,
    };
    let at_commit = |app: &Application| {
        let revision = app.status.as_ref().and_then(|s| s.sync.as_ref()).and_then(|s| s.revision.clone());
        match (&old.active_commit, revision) {
            (Some(active), Some(revision)) => revision.starts_with(active.as_str()) || active.starts_with(&revision),
            (None, _) => true,
            (Some(_), None) => false,
        }
    };
    let health = app.as_ref().map(|app| {
        let state = crate::services::app_state(app);
        let synced = state.sync == application::SyncStatusCode::Synced;
        // Not yet at the landed commit (unless already Degraded), or Healthy but not synced:
        // the rollout of the promotion is still under way.
        let rolling = !at_commit(app) && state.health != HealthStatus::Degraded;
        if rolling || (state.health == HealthStatus::Healthy && !synced) {
            HealthStatus::Progressing
        } else {
            state.health
        }
    });
    status.health = health.map(|h| h.to_string()).or_else(|| stage.spec.application.as_ref().map(|_| "Missing".into()));
    let healthy = match (&stage.spec.application, health) {
        (None, _) => current.is_some(),
        (Some(_), Some(h)) => h == HealthStatus::Healthy,
        (Some(_), None) => false,
    };
    status.healthy_since =
        if healthy { old.healthy_since.clone().or_else(|| Some(format_timestamp(now))) } else { None };
    if let (Some(app), Some(active), Some(health)) = (&app, &old.active_commit, health) {
        let phase = match health {
            HealthStatus::Healthy => CommitStatusPhase::Success,
            HealthStatus::Degraded | HealthStatus::Missing => CommitStatusPhase::Failure,
            _ => CommitStatusPhase::Pending,
        };
        let repo = &app.spec.spec.source.repo_url;
        post_status(&context, repo, active, promotion::keys::HEALTH, phase, &format!("{} is {health}", app.name_any()))
            .await?;
    }

    // Verification of the freight the stage runs.
    let verified = current.is_some_and(|f| f.status.as_ref().is_some_and(|s| s.verified_in.contains_key(&name)));
    let mut conditions = Vec::new();
    if let Some(freight) = current
        && !verified
    {
        let (outcome, wait) = verify(&context, &stage, freight, &old, app.as_ref(), health, now).await?;
        match outcome {
            Verdict::Verified => {
                let patch = json!({ "status": { "verifiedIn": { &name: VerifiedStage {
                    verified_at: Some(format_timestamp(now)), longest_soak_seconds: None } } } });
                context
                    .freight
                    .patch_status(&freight.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|source| {
                        ReconcileError::kube("write status of", "Freight", &freight.name_any(), source)
                    })?;
                if let (Some(app), Some(active)) = (&app, &old.active_commit) {
                    let text = format!("{} verified in {name}", freight.spec.alias);
                    post_status(
                        &context,
                        &app.spec.spec.source.repo_url,
                        active,
                        promotion::keys::SOAK,
                        CommitStatusPhase::Success,
                        &text,
                    )
                    .await?;
                }
                conditions.push(condition(
                    "Verified",
                    true,
                    "Verified",
                    &format!("freight {} verified", freight.spec.alias),
                ));
                status.phase = Some("Steady".into());
            }
            Verdict::Waiting(message) => {
                conditions.push(condition("Verified", false, "Verifying", &message));
                status.phase = Some("Verifying".into());
            }
            Verdict::Failed { reason, message } => {
                conditions.push(condition("Verified", false, reason, &message));
                status.phase = Some("Failed".into());
            }
        }
        requeue = requeue.min(wait);
    } else if let Some(freight) = current {
        conditions.push(condition("Verified", true, "Verified", &format!("freight {} verified", freight.spec.alias)));
        status.phase = Some("Steady".into());
    }

    // Auto-promotion.
    let in_flight = promotion::selection::in_flight(&promotions).first().map(|p| p.name_any());
    if in_flight.is_some() {
        status.phase = Some("Promoting".into());
    }
    let upstream_names: Vec<String> =
        stage.spec.requested_freight.iter().flat_map(|r| r.sources.stages.iter().cloned()).collect();
    let mut upstream = Vec::new();
    for up in &upstream_names {
        if let Some(found) =
            context.stages.get_opt(up).await.map_err(|source| ReconcileError::kube("read", "Stage", up, source))?
        {
            upstream.push(found);
        }
    }
    let available = promotion::eligibility::available_freight(&stage, &freight, now);
    let input = promotion::selection::SelectionInput {
        stage: &stage,
        available: &available,
        upstream_stages: &upstream,
        current_freight: old.current_freight.as_ref().map(|r| r.name.as_str()),
        promotions: &promotions,
    };
    match promotion::selection::next_auto_promotion(&input) {
        AutoDecision::Nothing { reason } => {
            conditions.push(condition("AutoPromotion", false, "Idle", &reason));
        }
        AutoDecision::Promote { freight: chosen } => {
            create_promotion(&context, &stage, &freight, &chosen, now).await?;
            status.phase = Some("Promoting".into());
        }
        AutoDecision::Supersede { running, freight: chosen } => {
            let created = create_promotion(&context, &stage, &freight, &chosen, now).await?;
            if created.is_empty() {
                // Nothing replaces it (no steps, or the freight vanished): let the running one finish.
                status.current_promotion = old.current_promotion.clone();
            } else {
                let patch = json!({ "metadata": { "annotations": {
                promotion::ABORT_ANNOTATION: format!("superseded by {created} (ReleaseLatest)") } } });
                context
                    .promotions
                    .patch(&running, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(|source| ReconcileError::kube("abort", "Promotion", &running, source))?;
            }
            status.phase = Some("Promoting".into());
        }
    }
    status.current_promotion = in_flight.or(old.current_promotion.clone()).filter(|p| {
        promotions.iter().any(|q| q.name_any() == *p && !q.status.as_ref().is_some_and(|s| s.phase.is_terminal()))
    });
    status.conditions = keep_transition_times(&old.conditions, conditions, now);
    if status != old {
        // A replace at the resourceVersion this pass read: the promotion controller writes the
        // current freight and the active commit meanwhile, and a stale copy must not undo that.
        let mut updated = (*stage).clone();
        updated.status = Some(status);
        match context.stages.replace_status(&name, &PostParams::default(), &updated).await {
            Ok(_) => {}
            // Changed under us: the watch brings the new copy; look again soon regardless.
            Err(kube::Error::Api(error)) if error.code == 409 => {
                return Ok(Action::requeue(Duration::from_millis(200)));
            }
            Err(source) => return Err(ReconcileError::kube("write status of", "Stage", &name, source)),
        }
    }
    Ok(Action::requeue(requeue))
}

/// Where verification of the current freight is.
enum Verdict {
    Verified,
    Waiting(String),
    /// Failed; the reason is the condition's (`Degraded`, `GateFailed`, `JobFailed`,
    /// `InvalidVerification`).
    Failed {
        reason: &'static str,
        message: String,
    },
}

async fn verify(
    context: &Context,
    stage: &Stage,
    freight: &Freight,
    status: &StageStatus,
    app: Option<&Application>,
    health: Option<HealthStatus>,
    now: chrono::DateTime<Utc>,
) -> Result<(Verdict, Duration), ReconcileError> {
    let name = stage.name_any();
    let verification = stage.spec.verification.clone().unwrap_or_default();
    let soak = match verification.required_soak_time.as_deref().map(parse_duration).transpose() {
        Ok(soak) => soak.unwrap_or_default(),
        Err(error) => {
            return Ok((
                Verdict::Failed {
                    reason: "InvalidVerification",
                    message: format!("invalid verification.requiredSoakTime: {error}"),
                },
                RECHECK,
            ));
        }
    };
    if let Some(app) = app {
        match health {
            Some(HealthStatus::Degraded) => {
                let why = app.status.as_ref().and_then(|s| s.health.as_ref()).and_then(|h| h.message.clone());
                let message = format!(
                    "application {} is Degraded{}",
                    app.name_any(),
                    why.map(|w| format!(": {w}")).unwrap_or_default()
                );
                return Ok((Verdict::Failed { reason: "Degraded", message }, RECHECK));
            }
            Some(HealthStatus::Healthy) => {}
            other => {
                let what = other.map(|h| h.to_string()).unwrap_or_else(|| "Unknown".into());
                return Ok((
                    Verdict::Waiting(format!("application {} is {what}", app.name_any())),
                    Duration::from_secs(2),
                ));
            }
        }
    }
    let since = status.healthy_since.as_deref().and_then(parse_timestamp).unwrap_or(now);
    let healthy_for = elapsed(since, now);
    if healthy_for < soak {
        let left = soak - healthy_for;
        let message = format!("soaking: {} of {}", format_duration(healthy_for), format_duration(soak));
        return Ok((Verdict::Waiting(message), left.min(RECHECK).max(Duration::from_millis(200))));
    }
    let active = stage.spec.gates.as_ref().map(|g| g.active.clone()).unwrap_or_default();
    if !active.is_empty() {
        let (Some(app), Some(commit)) = (app, &status.active_commit) else {
            return Ok((Verdict::Waiting("active gates need an application and an active commit".into()), RECHECK));
        };
        let mut statuses = context
            .statuses
            .list(&ListParams::default())
            .await
            .map_err(|source| ReconcileError::kube("list", "CommitStatus", &name, source))?
            .items;
        statuses.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
        match promotion::gates::evaluate(&active, &statuses, &app.spec.spec.source.repo_url, commit) {
            GateResult::Passed => context.metrics.gate_checked("passed"),
            GateResult::Failed { key, description } => {
                context.metrics.gate_checked("failed");
                return Ok((
                    Verdict::Failed {
                        reason: "GateFailed",
                        message: format!("active gate {key} failed: {description}"),
                    },
                    RECHECK,
                ));
            }
            other => {
                context.metrics.gate_checked("pending");
                return Ok((Verdict::Waiting(format!("active gates: {}", other.summary())), Duration::from_secs(2)));
            }
        }
    }
    // `${{ }}` in the checks see what a promotion's steps see: the stage's vars, the freight, `ctx`.
    let (http, job) = match evaluate_checks(stage, freight, &verification) {
        Ok(checks) => checks,
        Err(message) => return Ok((Verdict::Failed { reason: "InvalidVerification", message }, RECHECK)),
    };
    if let Some(check) = &http {
        match http_check(check).await {
            Ok(()) => {}
            Err(message) => return Ok((Verdict::Waiting(format!("http check: {message}")), Duration::from_secs(2))),
        }
    }
    if let Some(check) = &job {
        match job::check(context, &name, freight, app, check).await? {
            job::JobOutcome::Passed => {}
            job::JobOutcome::Running(message) => return Ok((Verdict::Waiting(message), Duration::from_secs(2))),
            job::JobOutcome::Failed(message) => return Ok((Verdict::Failed { reason: "JobFailed", message }, RECHECK)),
        }
    }
    Ok((Verdict::Verified, RECHECK))
}

/// The HTTP and Job checks with their `${{ }}` expressions evaluated (the HTTP check's URL; the
/// Job's namespace and spec) over the stage's vars, the freight being verified and `ctx`.
fn evaluate_checks(
    stage: &Stage,
    freight: &Freight,
    verification: &promotion::Verification,
) -> Result<(Option<promotion::HttpCheck>, Option<promotion::JobCheck>), String> {
    if verification.http.is_none() && verification.job.is_none() {
        return Ok((None, None));
    }
    let mut scope = steps::expr::Scope {
        freight: serde_json::to_value(freight).unwrap_or_default(),
        ctx: json!({"stage": stage.name_any(), "namespace": promotion::NAMESPACE, "project": promotion::NAMESPACE}),
        ..Default::default()
    };
    scope.vars = steps::expr::evaluate_vars(&promotion::stage_vars(stage), &scope)
        .map_err(|e| format!("verification: vars: {e}"))?;
    let text = |what: &str, value: &str| -> Result<String, String> {
        match steps::expr::evaluate(&serde_json::Value::String(value.to_owned()), &scope) {
            Ok(serde_json::Value::String(text)) => Ok(text),
            Ok(other) => Ok(other.to_string()),
            Err(e) => Err(format!("verification.{what}: {e}")),
        }
    };
    let http = match &verification.http {
        Some(check) => Some(promotion::HttpCheck { url: text("http.url", &check.url)?, ..check.clone() }),
        None => None,
    };
    let job = match &verification.job {
        Some(check) => Some(promotion::JobCheck {
            namespace: check.namespace.as_deref().map(|ns| text("job.namespace", ns)).transpose()?,
            spec: steps::expr::evaluate(&check.spec, &scope).map_err(|e| format!("verification.job.spec: {e}"))?,
        }),
        None => None,
    };
    Ok((http, job))
}

/// The HTTP check: the status is 2xx, or the CEL `successExpression` over `response` holds.
async fn http_check(check: &promotion::HttpCheck) -> Result<(), String> {
    let timeout = check.timeout.as_deref().map(parse_duration).transpose().map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(timeout.unwrap_or(Duration::from_secs(10)))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let method = reqwest::Method::from_bytes(check.method.as_deref().unwrap_or("GET").as_bytes())
        .map_err(|_| format!("invalid method {:?}", check.method))?;
    let response = client.request(method, &check.url).send().await.map_err(|e| format!("{}: {e}", check.url))?;
    let code = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let Some(expression) = &check.success_expression else {
        return if (200..300).contains(&code) { Ok(()) } else { Err(format!("{} answered {code}", check.url)) };
    };
    let body_value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    let mut scope = steps::expr::Scope {
        vars: Default::default(),
        outputs: Default::default(),
        freight: serde_json::Value::Null,
        ctx: serde_json::Value::Null,
        extra: Default::default(),
    };
    scope.extra.insert("response".into(), json!({ "status": code, "body": body_value }));
    match steps::expr::condition(expression, &scope) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{expression} is false (status {code})")),
        Err(error) => Err(error.to_string()),
    }
}

async fn create_promotion(
    context: &Context,
    stage: &Stage,
    freight: &[Freight],
    chosen: &str,
    now: chrono::DateTime<Utc>,
) -> Result<String, ReconcileError> {
    let name = stage.name_any();
    let Some(freight) = freight.iter().find(|f| f.name_any() == chosen) else {
        return Ok(String::new());
    };
    let Ok(promotion) = promotion::new_promotion(stage, freight, now) else {
        return Ok(String::new());
    };
    let promotion_name = promotion.name_any();
    match context.promotions.create(&PostParams::default(), &promotion).await {
        Ok(_) => {
            tracing::info!(stage = %name, freight = %freight.spec.alias, promotion = %promotion_name, "auto-promotion");
            Ok(promotion_name)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(promotion_name),
        Err(source) => Err(ReconcileError::kube("create", "Promotion", &promotion_name, source)),
    }
}

/// Creates or updates ferry's own commit status (one object per repo, sha and key).
pub(crate) async fn post_status(
    context: &Context,
    repo: &str,
    sha: &str,
    key: &str,
    phase: CommitStatusPhase,
    description: &str,
) -> Result<(), ReconcileError> {
    let name = promotion::gates::commit_status_name(repo, sha, key);
    let object = json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "CommitStatus",
        "metadata": { "name": name, "namespace": promotion::NAMESPACE },
        "spec": { "repoURL": repo, "sha": sha, "key": key, "phase": phase, "description": description },
    });
    if let Ok(Some(existing)) = context.statuses.get_opt(&name).await
        && existing.spec.phase == phase
        && existing.spec.description.as_deref() == Some(description)
    {
        return Ok(());
    }
    let _: CommitStatus = context
        .statuses
        .patch(&name, &PatchParams::apply(crate::FIELD_MANAGER).force(), &Patch::Apply(&object))
        .await
        .map_err(|source| ReconcileError::kube("post", "CommitStatus", &name, source))?;
    Ok(())
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_transition_time: None,
    }
}

/// Keeps a condition's transition time while its status stays the same.
fn keep_transition_times(old: &[Condition], new: Vec<Condition>, now: chrono::DateTime<Utc>) -> Vec<Condition> {
    new.into_iter()
        .map(|mut condition| {
            condition.last_transition_time = match old.iter().find(|c| c.type_ == condition.type_) {
                Some(previous) if previous.status == condition.status => previous.last_transition_time.clone(),
                _ => Some(format_timestamp(now)),
            };
            condition
        })
        .collect()
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Stage>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "stage reconcile failed");
    crate::retry_after_error()
}

/// The Stage controller, also woken by changes of what a stage's status depends on: its
/// promotions, the freight of its warehouses, commit statuses on its active commit and its
/// Application. Each change wakes only the stages it concerns (`watches`).
pub(crate) fn controller(
    context: &Context,
    watch: watcher::Config,
    config: kube::runtime::controller::Config,
) -> Controller<Stage> {
    let controller = Controller::new(context.stages.clone(), watch.clone()).with_config(config);
    let store = controller.store();
    let mapper = move || {
        let store = store.clone();
        move |wake: Wake<'_>| {
            watches::affected(&store.state(), &wake)
                .into_iter()
                .map(|name| ObjectRef::new(&name).within(promotion::NAMESPACE))
                .collect::<Vec<_>>()
        }
    };
    let (for_promotions, for_freight, for_statuses, for_apps) = (mapper(), mapper(), mapper(), mapper());
    controller
        .watches(context.promotions.clone(), watch.clone(), move |promotion: promotion::Promotion| {
            for_promotions(Wake::Promotion(&promotion))
        })
        .watches(context.freight.clone(), watch.clone(), move |freight: Freight| for_freight(Wake::Freight(&freight)))
        .watches(context.statuses.clone(), watch.clone(), move |status: CommitStatus| {
            for_statuses(Wake::CommitStatus(&status))
        })
        .watches(
            Api::<Application>::namespaced(context.client.clone(), application::NAMESPACE),
            watch,
            move |app: Application| for_apps(Wake::Application(&app)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(verification: serde_json::Value) -> Stage {
        serde_json::from_value(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
            "metadata": {"name": "dev", "namespace": "ferry"},
            "spec": {
                "vars": [{"name": "host", "value": "web-${{ ctx.stage }}.example"}],
                "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}],
                "verification": verification,
            },
        }))
        .unwrap()
    }

    fn freight() -> Freight {
        serde_json::from_value(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Freight",
            "metadata": {"name": "f0123456789", "namespace": "ferry"},
            "alias": "brave-otter", "origin": {"kind": "Warehouse", "name": "web"},
            "images": [{"repoURL": "registry.local/web", "tag": "v1.2.0", "digest": "sha256:abc"}],
        }))
        .unwrap()
    }

    #[test]
    fn checks_see_vars_freight_and_ctx() {
        let stage = stage(json!({
            "http": {"url": "https://${{ vars.host }}/version?want=${{ imageFrom('registry.local/web').tag }}"},
            "job": {"namespace": "${{ ctx.stage }}-checks", "spec": {"template": {"spec": {"containers": [
                {"name": "smoke", "image": "smoke:${{ freight.alias }}"}]}}}},
        }));
        let verification = stage.spec.verification.clone().unwrap();
        let (http, job) = evaluate_checks(&stage, &freight(), &verification).unwrap();
        assert_eq!(http.unwrap().url, "https://web-dev.example/version?want=v1.2.0");
        let job = job.unwrap();
        assert_eq!(job.namespace.as_deref(), Some("dev-checks"));
        assert_eq!(job.spec["template"]["spec"]["containers"][0]["image"], "smoke:brave-otter");
    }

    #[test]
    fn a_bad_expression_names_the_check() {
        let stage = stage(json!({"http": {"url": "https://${{ vars.missing }}/"}}));
        let verification = stage.spec.verification.clone().unwrap();
        let error = evaluate_checks(&stage, &freight(), &verification).unwrap_err();
        assert!(error.starts_with("verification.http.url: ") && error.contains("vars.missing"), "{error}");
    }
}
