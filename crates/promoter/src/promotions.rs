//! Reconciles Promotions: one at a time per stage, one step per pass, the state machine
//! (`promotion::run`) written to status after every step, so a restart resumes at the step it
//! was on. Every built-in step is idempotent, so redoing the step a crash interrupted finds its
//! own work instead of doing it twice.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use promotion::duration::{format_timestamp, parse_timestamp};
use promotion::run::{self, StepOutcome};
use promotion::{
    CurrentStage, Freight, FreightReference, Promotion, PromotionPhase, PromotionReference, PromotionStatus, Stage,
    StepPhase, VerifiedStage,
};
use serde_json::{Map, Value, json};

use crate::credentials::Secrets;
use crate::services::{self, PromotionServices};
use crate::{Context, ReconcileError};

/// Key of `status.state` holding exec steps' own state between runs, by alias.
const STEP_STATE_KEY: &str = "_stepState";

/// One pass over one Promotion.
pub(crate) async fn reconcile(object: Arc<Promotion>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = object.name_any();
    // The watch may lag behind our own status write; act on the latest copy only.
    let Some(promotion) = context
        .promotions
        .get_opt(&name)
        .await
        .map_err(|source| ReconcileError::kube("read", "Promotion", &name, source))?
    else {
        return Ok(Action::await_change());
    };
    let status = promotion.status.clone().unwrap_or_default();
    if status.phase.is_terminal() {
        remove_workdir(&context, &name).await;
        return Ok(Action::await_change());
    }
    let now = Utc::now();
    let stage = context
        .stages
        .get_opt(&promotion.spec.stage)
        .await
        .map_err(|source| ReconcileError::kube("read", "Stage", &promotion.spec.stage, source))?;
    let freight = context
        .freight
        .get_opt(&promotion.spec.freight)
        .await
        .map_err(|source| ReconcileError::kube("read", "Freight", &promotion.spec.freight, source))?;

    if let Some(who) = run::abort_requested(&promotion) {
        if let (Some(stage), Some(freight)) = (&stage, &freight)
            && let Some((_, step)) = run::current_step(&promotion)
        {
            let _ = with_step_context(&context, &promotion, stage, freight, async |ctx| {
                if let Err(error) = steps::abort_step(step, ctx).await {
                    tracing::warn!(promotion = %name, error = %error, "step abort failed");
                }
            })
            .await;
        }
        let who = if who.is_empty() { "a user".to_owned() } else { who };
        let next = run::abort(&promotion, &format!("aborted by {who}"), now);
        return finish(&context, &promotion, next, None).await;
    }
    let (Some(stage), Some(freight)) = (stage, freight) else {
        let missing = format!(
            "{} not found",
            if context.stages.get_opt(&promotion.spec.stage).await.ok().flatten().is_none() {
                format!("stage {:?}", promotion.spec.stage)
            } else {
                format!("freight {:?}", promotion.spec.freight)
            }
        );
        return fail(&context, &promotion, &missing, now).await;
    };

    if status.phase == PromotionPhase::Pending {
        return start(&context, &promotion, &stage, &freight, now).await;
    }
    step(&context, &promotion, &stage, &freight).await
}

/// A Pending promotion starts when it is its stage's next, its freight is approved (when the
/// stage requires it) and its steps are valid.
async fn start(
    context: &Context,
    promotion: &Promotion,
    stage: &Stage,
    freight: &Freight,
    now: chrono::DateTime<Utc>,
) -> Result<Action, ReconcileError> {
    let name = promotion.name_any();
    let siblings = stage_promotions(context, &promotion.spec.stage).await?;
    if promotion::selection::next_to_run(&siblings).as_deref() != Some(name.as_str()) {
        let ahead = promotion::selection::in_flight(&siblings).first().map(|p| p.name_any()).unwrap_or_default();
        set_message(context, promotion, &format!("waiting for promotion {ahead} of stage {}", stage.name_any()))
            .await?;
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    if let Some(reason) = promotion::eligibility::needs_approval(stage, freight) {
        set_message(context, promotion, &reason).await?;
        return Ok(Action::requeue(Duration::from_secs(3)));
    }
    if let Err(error) = steps::validate(&promotion.spec.steps) {
        return fail(context, promotion, &format!("invalid steps: {error}"), now).await;
    }
    let mut next = run::begin(promotion, now);
    next.freight_alias = Some(freight.spec.alias.clone());
    write(context, &name, &next).await?;
    patch_stage_status(context, &promotion.spec.stage, json!({ "currentPromotion": name, "phase": "Promoting" }))
        .await?;
    Ok(Action::requeue(Duration::from_millis(10)))
}

/// Runs the current step once and records the outcome.
async fn step(
    context: &Context,
    promotion: &Promotion,
    stage: &Stage,
    freight: &Freight,
) -> Result<Action, ReconcileError> {
    let name = promotion.name_any();
    let Some((index, step)) = run::current_step(promotion) else {
        // Past the last step (steps edited under it): advancing finishes it.
        let next =
            run::advance(promotion, StepOutcome { phase: StepPhase::Succeeded, ..Default::default() }, Utc::now());
        return finish(context, promotion, next, None).await;
    };
    let workdir = workdir(context, &name);
    if index > 0 && !workdir.exists() {
        // The scratch directory is gone (a new machine): redo every step from the first.
        tracing::info!(promotion = %name, "scratch directory missing; restarting from the first step");
        let mut status = promotion.status.clone().unwrap_or_default();
        status.current_step = 0;
        if let Some(first) = status.steps.first_mut() {
            first.phase = StepPhase::Running;
        }
        write(context, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_millis(10)));
    }
    if let Err(error) = tokio::fs::create_dir_all(&workdir).await {
        tracing::warn!(promotion = %name, %error, "cannot create the scratch directory");
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    let alias = run::step_alias(step, index);
    let (outcome, waiting, mask) =
        match with_step_context(context, promotion, stage, freight, async |ctx| steps::run_step(step, ctx).await).await
        {
            Ok(result) => result,
            Err(message) => {
                return fail(context, promotion, &message, Utc::now()).await;
            }
        };
    let result = format!("{:?}", outcome.phase);
    context.metrics.step_ran(&step.uses, &result);
    let running = outcome.phase == steps::OutcomePhase::Running;
    let phase = match outcome.phase {
        steps::OutcomePhase::Succeeded => StepPhase::Succeeded,
        steps::OutcomePhase::Running => StepPhase::Running,
        steps::OutcomePhase::Skipped => StepPhase::Skipped,
        steps::OutcomePhase::Failed => StepPhase::Failed,
        steps::OutcomePhase::Errored => StepPhase::Errored,
    };
    let message = match (running, waiting, outcome.message.as_deref()) {
        (true, Some(waiting), _) => Some(waiting),
        (_, _, message) => message.map(|m| mask.apply(m)),
    };
    let outputs = if outcome.outputs.is_empty() && phase != StepPhase::Succeeded {
        None
    } else {
        Some(Value::Object(outcome.outputs.clone()))
    };
    let mut next = run::advance(promotion, StepOutcome { phase, message: message.clone(), outputs }, Utc::now());
    if running && next.phase == PromotionPhase::Running {
        next.message = message;
    }
    keep_step_state(&mut next, &alias, outcome.state);
    if step.uses == "git-open-pr" {
        // The local provider's PRs are objects: `local/<name>`, as `ferry promotion diff` reads it.
        let id = outcome.outputs.get("prNumber").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        let url = outcome.outputs.get("url").and_then(Value::as_str);
        next.pull_request = match (id, url) {
            (Some(id), Some(url)) if url.contains("/apis/ferry.dev/") => Some(format!("local/{id}")),
            (_, Some(url)) => Some(url.to_owned()),
            (id, None) => id,
        };
    }
    if let Some(commit) = outcome.outputs.get("commit").and_then(Value::as_str)
        && matches!(step.uses.as_str(), "git-push" | "git-wait-for-pr")
    {
        next.landed_commit = Some(commit.to_owned());
    }
    if next.phase.is_terminal() {
        return finish(context, promotion, next, Some(freight)).await;
    }
    write(context, &name, &next).await?;
    Ok(if running { Action::requeue(Duration::from_secs(2)) } else { Action::requeue(Duration::from_millis(10)) })
}

/// Builds the [`steps::StepContext`] for one run and calls `f` with it. An error is a message
/// that fails the promotion (an expression error in the vars, an unknown SCM provider).
async fn with_step_context<T>(
    context: &Context,
    promotion: &Promotion,
    stage: &Stage,
    freight: &Freight,
    f: impl AsyncFnOnce(&steps::StepContext<'_>) -> T,
) -> Result<(T, Option<String>, Mask), String> {
    let name = promotion.name_any();
    let status = promotion.status.clone().unwrap_or_default();
    let base = steps::expr::Scope {
        vars: Map::new(),
        outputs: Map::new(),
        freight: serde_json::to_value(freight).unwrap_or(Value::Null),
        ctx: json!({
            "stage": promotion.spec.stage,
            "promotion": name,
            "namespace": promotion::NAMESPACE,
            "project": promotion::NAMESPACE,
        }),
        extra: Map::new(),
    };
    let secrets = Secrets::load(&context.client).await;
    let mut mask = Mask::default();
    for var in &promotion.spec.vars {
        mask.add_url(&var.value, &secrets);
    }
    let vars =
        steps::expr::evaluate_vars(&promotion.spec.vars, &base).map_err(|e| mask.apply(&format!("vars: {e}")))?;
    for value in vars.values().filter_map(Value::as_str) {
        mask.add_url(value, &secrets);
    }
    let outputs: Map<String, Value> = status
        .state
        .iter()
        .filter(|(k, _)| k.as_str() != STEP_STATE_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let alias = run::current_step(promotion).map(|(i, s)| run::step_alias(s, i)).unwrap_or_default();
    let step_state = status.state.get(STEP_STATE_KEY).and_then(|s| s.get(&alias)).cloned();
    let (provider, token) = services::provider(context, &vars).await.map_err(|e| mask.apply(&e))?;
    mask.extend(token);
    let services = PromotionServices { context, promotion: &name, stage, freight, provider, waiting: Mutex::new(None) };
    let created_at = promotion
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| parse_timestamp(&t.0.to_string()))
        .map(SystemTime::from)
        .unwrap_or_else(SystemTime::now);
    let workdir = workdir(context, &name);
    let git = source::worktree::WorktreeConfig::default();
    let ctx = steps::StepContext {
        workdir: &workdir,
        promotion: &name,
        stage: &promotion.spec.stage,
        namespace: promotion::NAMESPACE,
        freight,
        vars: &vars,
        outputs: &outputs,
        state: step_state.as_ref(),
        created_at,
        services: &services,
        credentials: &secrets,
        git: &git,
        toolbox: context.config.tools.clone(),
        pushes: &context.pushes,
    };
    let result = f(&ctx).await;
    let waiting = services.waiting.lock().ok().and_then(|w| w.clone());
    Ok((result, waiting.map(|w| mask.apply(&w)), mask))
}

/// Secret values that must never reach a status message: the SCM token, and the passwords
/// of repository credentials and URL userinfo for every URL among the vars. The crates below
/// mask what they know; this also covers a var's value echoed by an expression or a step.
#[derive(Default)]
struct Mask {
    secrets: Vec<String>,
}

impl Mask {
    fn extend(&mut self, secret: Option<String>) {
        // Very short values would garble messages and hide nothing.
        if let Some(secret) = secret.filter(|s| s.len() >= 3)
            && !self.secrets.contains(&secret)
        {
            self.secrets.push(secret);
        }
    }

    /// The secrets `value`, if it is a URL, may bring: its userinfo password and the
    /// passwords of the repository credentials matching it.
    fn add_url(&mut self, value: &str, secrets: &Secrets) {
        let Ok(url) = reqwest::Url::parse(value.trim()) else { return };
        self.extend(url.password().map(str::to_owned));
        self.extend(secrets.git(value).and_then(|c| c.password));
        self.extend(secrets.registry(value).map(|c| c.password));
    }

    fn apply(&self, message: &str) -> String {
        let mut masked = message.to_owned();
        // Longest first, so a secret containing another is masked whole.
        let mut secrets: Vec<&String> = self.secrets.iter().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for secret in secrets {
            masked = masked.replace(secret.as_str(), "***");
        }
        masked
    }
}

fn keep_step_state(status: &mut PromotionStatus, alias: &str, state: Option<Value>) {
    let entry = status.state.entry(STEP_STATE_KEY.to_owned()).or_insert_with(|| json!({}));
    if let Some(map) = entry.as_object_mut() {
        match state {
            Some(state) => {
                map.insert(alias.to_owned(), state);
            }
            None => {
                map.remove(alias);
            }
        }
    }
    if entry.as_object().is_some_and(Map::is_empty) {
        status.state.remove(STEP_STATE_KEY);
    }
}

/// Ends a promotion: writes the freight's and the stage's status, then its own.
async fn finish(
    context: &Context,
    promotion: &Promotion,
    mut status: PromotionStatus,
    freight: Option<&Freight>,
) -> Result<Action, ReconcileError> {
    let name = promotion.name_any();
    if status.message.is_none() {
        status.message = run::terminal_message(promotion, &status);
    }
    let stage = &promotion.spec.stage;
    let reference = PromotionReference {
        name: name.clone(),
        freight: FreightReference {
            name: promotion.spec.freight.clone(),
            origin: freight.map(|f| f.spec.origin.clone()).unwrap_or_default(),
        },
        phase: status.phase,
        finished_at: status.finished_at.clone(),
    };
    if status.phase == PromotionPhase::Succeeded {
        if let Some(freight) = freight {
            landed(context, stage, freight, &status).await?;
        }
        patch_stage_status(
            context,
            stage,
            json!({
                "currentPromotion": null,
                "lastPromotion": reference,
                "currentFreight": { "name": promotion.spec.freight, "origin": reference.freight.origin },
                "freightAlias": freight.map(|f| f.spec.alias.clone()),
                "activeCommit": status.landed_commit,
                "healthySince": null,
                "phase": "Verifying",
            }),
        )
        .await?;
    } else {
        patch_stage_status(context, stage, json!({ "currentPromotion": null, "lastPromotion": reference })).await?;
    }
    // The promotion's own end is written last, so whoever sees it ended also sees the stage and
    // the freight it changed. A crash before this write redoes the last step (idempotent) and
    // these writes (the same values).
    write(context, &name, &status).await?;
    let took = status
        .started_at
        .as_deref()
        .and_then(parse_timestamp)
        .zip(status.finished_at.as_deref().and_then(parse_timestamp))
        .map(|(start, end)| promotion::duration::elapsed(start, end));
    context.metrics.promotion_ended(status.phase, took);
    remove_workdir(context, &name).await;
    Ok(Action::await_change())
}

/// The freight now runs in the stage: `currentIn` moves to it from the freight that ran there.
async fn landed(
    context: &Context,
    stage: &str,
    freight: &Freight,
    status: &PromotionStatus,
) -> Result<(), ReconcileError> {
    let now = status.finished_at.clone().unwrap_or_else(|| format_timestamp(Utc::now()));
    let others = context
        .freight
        .list(&ListParams::default())
        .await
        .map_err(|source| ReconcileError::kube("list", "Freight", stage, source))?;
    for other in others.items.iter().filter(|f| f.name_any() != freight.name_any()) {
        let Some(current) = other.status.as_ref().and_then(|s| s.current_in.get(stage)) else { continue };
        // Keep how long it ran here verified, for soak decisions downstream.
        let mut patch = json!({ "status": { "currentIn": { stage: null } } });
        if let Some(verified) = other.status.as_ref().and_then(|s| s.verified_in.get(stage)) {
            let ran = current
                .since
                .as_deref()
                .and_then(parse_timestamp)
                .map(|since| promotion::duration::elapsed(since, Utc::now()).as_secs())
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(0);
            let longest = verified.longest_soak_seconds.unwrap_or(0).max(ran);
            patch["status"]["verifiedIn"] =
                json!({ stage: VerifiedStage { longest_soak_seconds: Some(longest), ..verified.clone() } });
        }
        context
            .freight
            .patch_status(&other.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ReconcileError::kube("write status of", "Freight", &other.name_any(), source))?;
    }
    let patch = json!({ "status": { "currentIn": { stage: CurrentStage { since: Some(now) } } } });
    context
        .freight
        .patch_status(&freight.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| ReconcileError::kube("write status of", "Freight", &freight.name_any(), source))?;
    Ok(())
}

async fn fail(
    context: &Context,
    promotion: &Promotion,
    message: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Action, ReconcileError> {
    let mut status = promotion.status.clone().unwrap_or_default();
    status.phase = PromotionPhase::Failed;
    status.message = Some(message.to_owned());
    status.finished_at = Some(format_timestamp(now));
    if status.started_at.is_none() {
        status.started_at = status.finished_at.clone();
    }
    tracing::info!(promotion = %promotion.name_any(), %message, "promotion failed");
    finish(context, promotion, status, None).await
}

async fn set_message(context: &Context, promotion: &Promotion, message: &str) -> Result<(), ReconcileError> {
    let status = promotion.status.clone().unwrap_or_default();
    if status.message.as_deref() == Some(message) {
        return Ok(());
    }
    let next = PromotionStatus { message: Some(message.to_owned()), ..status };
    write(context, &promotion.name_any(), &next).await
}

async fn write(context: &Context, name: &str, status: &PromotionStatus) -> Result<(), ReconcileError> {
    context
        .promotions
        .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
        .await
        .map_err(|source| ReconcileError::kube("write status of", "Promotion", name, source))?;
    Ok(())
}

/// Merge-patches a Stage's status (fields set to null are removed).
pub(crate) async fn patch_stage_status(context: &Context, stage: &str, patch: Value) -> Result<(), ReconcileError> {
    match context.stages.patch_status(stage, &PatchParams::default(), &Patch::Merge(json!({ "status": patch }))).await {
        Ok(_) => Ok(()),
        // A deleted stage has no status to keep.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::kube("write status of", "Stage", stage, source)),
    }
}

/// The promotions of a stage (by `spec.stage`).
pub(crate) async fn stage_promotions(context: &Context, stage: &str) -> Result<Vec<Promotion>, ReconcileError> {
    let list = context
        .promotions
        .list(&ListParams::default())
        .await
        .map_err(|source| ReconcileError::kube("list", "Promotion", stage, source))?;
    Ok(list.items.into_iter().filter(|p| p.spec.stage == stage).collect())
}

fn workdir(context: &Context, name: &str) -> PathBuf {
    context.config.data_dir.join("promotions").join(name)
}

async fn remove_workdir(context: &Context, name: &str) {
    let dir = workdir(context, name);
    if dir.exists()
        && let Err(error) = tokio::fs::remove_dir_all(&dir).await
    {
        tracing::warn!(promotion = name, %error, "cannot remove the scratch directory");
    }
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Promotion>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "promotion reconcile failed");
    crate::retry_after_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_url_passwords_and_tokens() {
        let mut mask = Mask::default();
        mask.add_url("https://robot:s3cret-pass@git.example.com/team/app.git", &Secrets::default());
        mask.add_url("not a url", &Secrets::default());
        mask.extend(Some("ghp_token123".to_owned()));
        mask.extend(Some("ab".to_owned()));
        let message = "push https://robot:s3cret-pass@git.example.com/team/app.git: 403 (token ghp_token123, ab)";
        assert_eq!(mask.apply(message), "push https://robot:***@git.example.com/team/app.git: 403 (token ***, ab)");
    }
}
