//! Carrying out a sync: the IO half of the state machine in `sync::operation`.
//!
//! Each pass recomputes the plan from the operation's revision, asks
//! `sync::next` what to do, does it (server-side apply, hook creation,
//! deletion), records the outcomes in `status.operationState` and writes them
//! at once, so a controller killed at any point resumes from the last
//! recorded step. Hooks carry a run stamp, so a hook created just before a
//! crash is recognised and never created twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use application::{
    Application, ApplicationConditionType, ApplicationStatus, Operation, OperationPhase, OperationState,
    RevisionHistory, SyncOperationResult,
};
use futures::StreamExt;
use kube::Api;
use kube::ResourceExt;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy, ValidationDirective};
use live::LiveCache;
use serde_json::Value;
use sync::plan::{Action, PropagationPolicy as PrunePolicy, SyncOptions};
use sync::{Mode, Outcome as WorkOutcome, ResourceKey, Step, StepInput, Task, Termination, Work};

use crate::reconcile::{AppMemo, Observed, Problem, desired_at, now_time, resolve_revision};
use crate::renders::Reuse;
use crate::status::{OperationField, StatusWriter};
use crate::{Context, FIELD_MANAGER};

/// Annotation stamped on hook objects: which operation attempt created them.
pub const HOOK_RUN_ANNOTATION: &str = "ferry.dev/hook-run";

/// History entries kept, as Argo CD's default revisionHistoryLimit.
const HISTORY_LIMIT: usize = 10;

/// Steps taken in one pass before yielding to other apps.
const STEPS_PER_PASS: usize = 8;

/// What the reconcile needs to know about the operation.
pub(crate) struct Request<'a> {
    pub(crate) app: &'a Application,
    /// The requested operation: the app's `operation`, or an automated sync
    /// the reconcile just decided on.
    pub(crate) requested: Option<&'a Operation>,
    pub(crate) observed: Option<&'a Observed>,
}

/// How the pass left the operation.
#[derive(Default)]
pub(crate) struct Advanced {
    /// Come back this soon.
    pub(crate) requeue: Option<Duration>,
    /// The operation finished: clear the top-level `operation`.
    pub(crate) clear_operation: bool,
    /// An error to show as a condition.
    pub(crate) problem: Option<Problem>,
}

pub(crate) async fn advance(
    request: Request<'_>,
    context: &Context,
    status: &mut ApplicationStatus,
    memo: &mut AppMemo,
    writer: &mut StatusWriter,
    operation_field: &mut OperationField,
) -> Result<Advanced, kube::Error> {
    let app = request.app;
    let running = status
        .operation_state
        .as_ref()
        .is_some_and(|s| matches!(s.phase, OperationPhase::Running | OperationPhase::Terminating));
    // Whether the app already holds this operation's state.
    let mut persisted = running;
    if !running {
        let Some(requested) = request.requested else {
            return Ok(Advanced::default());
        };
        // A present `operation` next to a finished state is a new request:
        // the controller clears `operation` in the same write that ends one.
        status.operation_state = Some(OperationState {
            operation: Some(requested.clone()),
            phase: OperationPhase::Running,
            message: Some("starting".into()),
            started_at: now_time(),
            finished_at: None,
            sync_result: Some(SyncOperationResult::default()),
            retry_count: 0,
        });
        memo.retry_at = None;
        context.metrics.sync_started();
    }
    let Some(state) = status.operation_state.as_mut() else {
        return Ok(Advanced::default());
    };
    let termination = if state.phase == OperationPhase::Terminating || request.requested.is_none() {
        Termination::Requested
    } else {
        Termination::NotRequested
    };
    if termination == Termination::NotRequested
        && let Some(at) = memo.retry_at
    {
        let now = Instant::now();
        if at > now {
            return Ok(Advanced { requeue: Some(at - now), ..Advanced::default() });
        }
        memo.retry_at = None;
        state.started_at = now_time();
    }

    let Some(sync_request) = state.operation.as_ref().and_then(|o| o.sync.clone()) else {
        return Ok(finish(app, state, OperationPhase::Error, "the operation has no sync".into(), memo, Mode::Apply));
    };
    let mode = if sync_request.dry_run { Mode::DryRun } else { Mode::Apply };
    if termination == Termination::Requested && state.sync_result.as_ref().is_none_or(|r| r.resources.is_empty()) {
        return Ok(finish(app, state, OperationPhase::Failed, sync::operation::TERMINATED.into(), memo, mode));
    }

    // The revision is resolved once, when the operation starts, and kept.
    let target = &app.spec.spec.source.target_revision;
    let known = state.sync_result.as_ref().and_then(|r| r.revision.clone());
    let revision = match known {
        Some(revision) => revision,
        None => {
            let wanted = sync_request.revision.clone().unwrap_or_else(|| target.clone());
            let resolved = match request.observed {
                Some(observed) if &wanted == target || wanted == observed.comparison.revision => {
                    Ok(observed.comparison.revision.clone())
                }
                _ => resolve_revision(context, app, &wanted, None).await,
            };
            match resolved {
                Ok(revision) => {
                    let result = state.sync_result.get_or_insert_with(Default::default);
                    result.revision = Some(revision.clone());
                    result.source = Some(app.spec.spec.source.clone());
                    revision
                }
                Err(problem) => return Ok(finish(app, state, OperationPhase::Error, problem.message, memo, mode)),
            }
        }
    };

    let (live, desired) = match request.observed {
        Some(observed) if observed.comparison.revision == revision => {
            (observed.destination.live.clone(), observed.desired.clone())
        }
        _ => {
            let destination = match context.clusters.resolve(&app.spec.spec.destination).await {
                Ok(destination) => destination,
                Err(error) => {
                    return Ok(finish(app, state, OperationPhase::Error, format!("destination: {error}"), memo, mode));
                }
            };
            let mut scratch = AppMemo::default();
            match desired_at(context, app, &destination.live, &revision, Reuse::Yes, &mut scratch).await {
                Ok(desired) => (destination.live, desired),
                Err(problem) => return Ok(finish(app, state, OperationPhase::Error, problem.message, memo, mode)),
            }
        }
    };
    let desired_keys = desired.keys.clone();
    let desired = desired.objects();
    if let Err(message) = watch_kinds(&live, &desired).await {
        return Ok(finish(app, state, OperationPhase::Error, message, memo, mode));
    }

    let name = app.name_any();
    let app_options = app_sync_options(app);
    let mut selected: Vec<Value> = desired.clone();
    if app_options.apply_out_of_sync_only == Some(true)
        && let Some(observed) = request.observed
        && observed.comparison.revision == revision
    {
        let out_of_sync: std::collections::BTreeSet<&ResourceKey> = observed
            .comparison
            .resources
            .iter()
            .filter(|r| r.status != application::SyncStatusCode::Synced)
            .map(|r| &r.key)
            .collect();
        selected.retain(|object| {
            crate::compare::is_hook(object)
                || ResourceKey::from_object(object).is_ok_and(|key| out_of_sync.contains(&key))
        });
    }
    let mut live_objects: BTreeMap<ResourceKey, Value> =
        live.managed_by(&name).into_iter().map(|o| (o.key.clone(), o.object())).collect();
    for key in &desired_keys {
        if !live_objects.contains_key(key)
            && let Some(found) = live.get(key)
        {
            live_objects.insert(key.clone(), found.object());
        }
    }
    let live_list: Vec<Value> = live_objects.into_values().collect();
    let namespace = app.spec.spec.destination.namespace.clone().unwrap_or_default();
    let options = sync::PlanOptions {
        app: name.clone(),
        prune: sync_request.prune,
        prune_last: app_options.prune_last == Some(true),
        resources: sync_request
            .resources
            .iter()
            .map(|r| ResourceKey::new(&r.group, &r.kind, r.namespace.as_deref().unwrap_or(""), &r.name))
            .collect(),
        create_namespace: (app_options.create_namespace == Some(true) && !namespace.is_empty()).then_some(namespace),
        ..sync::PlanOptions::default()
    };
    let plan = match sync::plan(&selected, &live_list, &options) {
        Ok(plan) => plan,
        Err(error) => {
            return Ok(finish(app, state, OperationPhase::Error, crate::error_chain(&error), memo, mode));
        }
    };

    // Every kind the plan touches must be watched, or its health would
    // never be seen (the namespace of CreateNamespace is not desired).
    let planned: Vec<Value> = plan
        .tasks
        .iter()
        .chain(&plan.sync_fail)
        .map(|task| serde_json::json!({"apiVersion": task.api_version(), "kind": task.key.kind}))
        .collect();
    if let Err(message) = watch_kinds(&live, &planned).await {
        return Ok(finish(app, state, OperationPhase::Error, message, memo, mode));
    }
    let stamp = format!("{}#{}", state.started_at.0, state.retry_count);
    let timeout = app
        .spec
        .spec
        .sync_policy
        .as_ref()
        .and_then(|p| p.sync_timeout.as_deref())
        .and_then(|t| sync::parse_duration(t).ok())
        .unwrap_or(context.config.sync_timeout);
    let started_at = state.started_at.clone();
    let new_namespaces: std::collections::BTreeSet<&str> = plan
        .tasks
        .iter()
        .filter(|t| t.key.group.is_empty() && t.key.kind == "Namespace" && matches!(t.action, Action::Apply { .. }))
        .map(|t| t.key.name.as_str())
        .collect();
    let executor =
        Executor { live: &live, mode, stamp: &stamp, app_options: &app_options, new_namespaces: &new_namespaces };
    // Before the first change, every object is applied once with dryRun=All
    // (as Argo CD does): an object the API server refuses fails the sync
    // with nothing applied, instead of half of the app.
    let untouched = state.sync_result.as_ref().is_none_or(|r| r.resources.is_empty());
    if mode == Mode::Apply && termination == Termination::NotRequested && untouched {
        let checker = Executor { mode: Mode::DryRun, ..executor };
        let failures = checker.preflight(&plan).await;
        if !failures.is_empty() {
            let result = state.sync_result.get_or_insert_with(Default::default);
            let first = failures
                .first()
                .map(|(task, message)| format!("{} failed: {message}", sync::operation::describe(&task.key)))
                .unwrap_or_default();
            let count = failures.len();
            for (task, message) in failures {
                sync::record(&mut result.resources, &Work::Apply { task }, WorkOutcome::Failed(message));
            }
            let message = format!("sync failed: {first} (dry run of {count} resource(s) failed, nothing was applied)");
            return Ok(finish(app, state, OperationPhase::Failed, message, memo, mode));
        }
    }
    for _ in 0..STEPS_PER_PASS {
        let Some(state) = status.operation_state.as_mut() else { break };
        let results = state.sync_result.as_ref().map(|r| r.resources.clone()).unwrap_or_default();
        let health = |key: &ResourceKey| sync::live_health(live.get(key).map(|o| o.object()).as_ref());
        let step = sync::next(&StepInput { plan: &plan, results: &results, health: &health, mode, termination });
        match step {
            Step::Run(works) => {
                // A hook's run stamp is the operation's start time: record
                // the operation before creating its first hook, or a crash
                // right after the creation would start a new operation
                // that does not recognise the hook and runs it again.
                if !persisted && works.iter().any(|w| matches!(w, Work::CreateHook { .. })) {
                    writer.write(context, status, operation_field, false).await?;
                    *operation_field = OperationField::Keep;
                }
                let Some(state) = status.operation_state.as_mut() else { break };
                let outcomes = executor.run(&works).await;
                let result = state.sync_result.get_or_insert_with(Default::default);
                let mut written = Vec::new();
                for (work, (outcome, version)) in works.iter().zip(outcomes) {
                    sync::record(&mut result.resources, work, outcome);
                    if let Some(version) = version {
                        written.push((work.task().key.clone(), version));
                    }
                }
                state.message = Some(format!("{} task(s) done", result.resources.len()));
                // Hooks are persisted before anything else happens: a restart
                // must see what was created (applies and prunes are
                // idempotent; their results go with the pass's last write).
                // An automated sync's `operation` goes with the first write
                // of its state: a restart that finds a Running state without
                // an `operation` takes it as cleared and terminates it.
                if works.iter().any(|w| matches!(w, Work::CreateHook { .. } | Work::FinishHook { .. })) {
                    writer.write(context, status, operation_field, false).await?;
                    *operation_field = OperationField::Keep;
                    persisted = true;
                }
                if !caught_up(&live, &written).await {
                    return Ok(Advanced { requeue: Some(Duration::from_millis(500)), ..Advanced::default() });
                }
            }
            Step::Wait { message } => {
                let elapsed = elapsed_since(&started_at);
                if elapsed >= timeout {
                    let message = format!("sync timed out after {}: {message}", humanize(timeout));
                    return Ok(finish(app, state, OperationPhase::Failed, message, memo, mode));
                }
                state.message = Some(message);
                return Ok(Advanced { requeue: Some(Duration::from_secs(1)), ..Advanced::default() });
            }
            Step::Finish { phase, message } => {
                return Ok(finish(app, state, phase, message, memo, mode));
            }
        }
    }
    Ok(Advanced { requeue: Some(Duration::ZERO), ..Advanced::default() })
}

/// Ends an attempt: retries a failure when the policy allows, else records
/// the final phase (and history on success).
fn finish(
    app: &Application,
    state: &mut OperationState,
    phase: OperationPhase,
    message: String,
    memo: &mut AppMemo,
    mode: Mode,
) -> Advanced {
    let retry = app.spec.spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref());
    let terminated = message == sync::operation::TERMINATED;
    if phase == OperationPhase::Failed
        && !terminated
        && mode == Mode::Apply
        && state.phase != OperationPhase::Terminating
        && sync::retries_left(retry, state.retry_count)
    {
        let attempt = u32::try_from(state.retry_count).unwrap_or(u32::MAX);
        let delay =
            sync::retry_delay(attempt, retry.and_then(|r| r.backoff.as_ref())).unwrap_or(Duration::from_secs(5));
        state.retry_count += 1;
        if let Some(result) = state.sync_result.as_mut() {
            result.resources.clear();
        }
        state.message = Some(format!("{message} (retrying in {}, attempt {})", humanize(delay), state.retry_count + 1));
        memo.retry_at = Some(Instant::now() + delay);
        return Advanced { requeue: Some(delay), ..Advanced::default() };
    }
    state.phase = phase;
    state.message = Some(message);
    state.finished_at = Some(now_time());
    let mut problem = None;
    if phase == OperationPhase::Error {
        problem = Some(Problem {
            kind: ApplicationConditionType::SyncError,
            message: state.message.clone().unwrap_or_default(),
        });
    }
    Advanced { requeue: Some(Duration::ZERO), clear_operation: true, problem }
}

/// Appends a successful sync to the history (called by the reconcile after
/// `finish`, where the status is at hand).
pub(crate) fn record_history(status: &mut ApplicationStatus) {
    let Some(state) = status.operation_state.as_ref() else { return };
    let dry_run = state.operation.as_ref().and_then(|o| o.sync.as_ref()).is_some_and(|s| s.dry_run);
    if state.phase != OperationPhase::Succeeded || dry_run {
        return;
    }
    let Some(revision) = state.sync_result.as_ref().and_then(|r| r.revision.clone()) else { return };
    let deployed_at = state.finished_at.clone().unwrap_or_else(now_time);
    let id = status.history.iter().map(|h| h.id).max().map_or(0, |id| id + 1);
    status.history.push(RevisionHistory { id, revision, deployed_at });
    let excess = status.history.len().saturating_sub(HISTORY_LIMIT);
    status.history.drain(..excess);
}

fn elapsed_since(time: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Duration {
    let now = k8s_openapi::jiff::Timestamp::now();
    let span = now.duration_since(time.0);
    Duration::try_from(span).unwrap_or(Duration::ZERO)
}

fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else if secs >= 1 {
        format!("{secs}s")
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The app-level `spec.syncPolicy.syncOptions`, parsed like the annotation.
pub(crate) fn app_sync_options(app: &Application) -> SyncOptions {
    let text = app.spec.spec.sync_policy.as_ref().map(|p| p.sync_options.join(",")).unwrap_or_default();
    SyncOptions::parse(&text).0
}

/// Starts watches for every desired kind that the cluster knows.
async fn watch_kinds(live: &LiveCache, desired: &[Value]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for object in desired {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !seen.insert((api_version, kind)) {
            continue;
        }
        match live.resolve(api_version, kind).await {
            Ok(resolved) => live.watch(&resolved).await.map_err(|e| crate::error_chain(&e))?,
            Err(live::LiveError::UnknownKind { .. }) => {}
            Err(error) => return Err(crate::error_chain(&error)),
        }
    }
    Ok(())
}

/// Waits (briefly) until the cache shows at least the versions just written,
/// so the next decision does not read a stale object.
async fn caught_up(live: &LiveCache, written: &[(ResourceKey, String)]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let behind = written.iter().any(|(key, version)| {
            let seen = live.get(key).map(|o| o.resource_version.clone());
            match (seen.as_deref().map(str::parse::<u64>), version.parse::<u64>()) {
                (Some(Ok(seen)), Ok(wanted)) => seen < wanted,
                _ => seen.as_deref() != Some(version.as_str()),
            }
        });
        if !behind {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Does the IO a step asks for.
struct Executor<'a> {
    live: &'a LiveCache,
    mode: Mode,
    stamp: &'a str,
    app_options: &'a SyncOptions,
    /// Namespaces this sync applies (CreateNamespace or in git).
    new_namespaces: &'a std::collections::BTreeSet<&'a str>,
}

impl<'a> Executor<'a> {
    /// Dry-runs every apply of the plan; returns the refused ones. Kinds the
    /// cluster does not serve yet (their CRD is in the same sync) are left to
    /// the real apply.
    async fn preflight<'p>(&self, plan: &'p sync::Plan) -> Vec<(&'p Task, String)> {
        let mut checks = Vec::new();
        for task in &plan.tasks {
            if !matches!(task.action, Action::Apply { .. }) {
                continue;
            }
            if matches!(
                self.live.resolve(task.api_version(), &task.key.kind).await,
                Err(live::LiveError::UnknownKind { .. })
            ) {
                continue;
            }
            let check: Check<'p, '_> =
                Box::pin(async move { self.apply(task, None).await.err().map(|message| (task, message)) });
            checks.push(check);
        }
        let mut running = futures::stream::iter(checks).buffer_unordered(8);
        let mut failures = Vec::new();
        while let Some(outcome) = running.next().await {
            failures.extend(outcome);
        }
        failures.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        failures
    }
}

/// One dry-run apply of the preflight: the task and the API server's refusal.
type Check<'p, 'e> = std::pin::Pin<Box<dyn std::future::Future<Output = Option<(&'p Task, String)>> + Send + 'e>>;

/// A work's outcome, and the resourceVersion it wrote (to wait for).
type Done = (WorkOutcome, Option<String>);

impl Executor<'_> {
    /// Runs every work of one step: namespaces and CRDs first, one by one (the
    /// rest may need them), then the others concurrently.
    async fn run(&self, works: &[Work<'_>]) -> Vec<Done> {
        let mut outcomes: Vec<Option<Done>> = vec![None; works.len()];
        let mut rest = Vec::new();
        for (index, work) in works.iter().enumerate() {
            if matches!(work.task().key.kind.as_str(), "Namespace" | "CustomResourceDefinition") {
                outcomes[index] = Some(self.perform(work).await);
            } else {
                let future: std::pin::Pin<Box<dyn std::future::Future<Output = (usize, Done)> + Send + '_>> =
                    Box::pin(async move { (index, self.perform(work).await) });
                rest.push(future);
            }
        }
        let mut running = futures::stream::iter(rest).buffer_unordered(8);
        while let Some((index, done)) = running.next().await {
            outcomes[index] = Some(done);
        }
        outcomes.into_iter().map(|o| o.unwrap_or((WorkOutcome::Failed("not run".into()), None))).collect()
    }

    async fn perform(&self, work: &Work<'_>) -> Done {
        let task = work.task();
        let result = match work {
            Work::Apply { .. } => self.apply(task, None).await,
            Work::ValidateHook { .. } => self.apply(task, None).await,
            Work::CreateHook { recreate, .. } => self.create_hook(task, *recreate).await,
            Work::FinishHook { delete, .. } => {
                if *delete {
                    self.delete(task, PropagationPolicy::Background).await.map(|()| None)
                } else {
                    Ok(None)
                }
            }
            Work::Prune { .. } => {
                let policy =
                    match task_options(task).prune_propagation_policy.or(self.app_options.prune_propagation_policy) {
                        Some(PrunePolicy::Background) => PropagationPolicy::Background,
                        Some(PrunePolicy::Orphan) => PropagationPolicy::Orphan,
                        _ => PropagationPolicy::Foreground,
                    };
                self.delete(task, policy).await.map(|()| None)
            }
            Work::Skip { .. } | Work::Fail { .. } => Ok(None),
        };
        match result {
            Ok(version) => (WorkOutcome::Ok, version),
            Err(message) => (WorkOutcome::Failed(message), None),
        }
    }

    /// The dynamic API for a task's object; waits a little for a kind whose
    /// CRD was applied moments ago.
    async fn api(&self, task: &Task) -> Result<Api<DynamicObject>, String> {
        let api_version = task.api_version();
        let deadline = Instant::now() + Duration::from_secs(10);
        let resolved = loop {
            match self.live.resolve(api_version, &task.key.kind).await {
                Ok(resolved) => break resolved,
                Err(live::LiveError::UnknownKind { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => return Err(crate::error_chain(&error)),
            }
        };
        let client = self.live.client().clone();
        Ok(if resolved.namespaced {
            Api::namespaced_with(client, &task.key.namespace, &resolved.resource)
        } else {
            Api::all_with(client, &resolved.resource)
        })
    }

    async fn apply(&self, task: &Task, stamp: Option<&str>) -> Result<Option<String>, String> {
        let Some(object) = task_object(task) else {
            return Err("nothing to apply".into());
        };
        let api = self.api(task).await?;
        let mut object = object.clone();
        if let Some(stamp) = stamp
            && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(HOOK_RUN_ANNOTATION.into(), Value::String(stamp.to_owned()));
            }
        }
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = self.mode == Mode::DryRun;
        let validate = task_options(task).validate.or(self.app_options.validate).unwrap_or(true);
        params.field_validation =
            Some(if validate { ValidationDirective::Strict } else { ValidationDirective::Ignore });
        let applied = match api.patch(&task.key.name, &params, &Patch::Apply(&object)).await {
            Ok(applied) => applied,
            // A dry-run namespace is not persisted, so a dry run of what
            // goes into it cannot find it; the real sync would.
            Err(kube::Error::Api(status))
                if self.mode == Mode::DryRun
                    && self.new_namespaces.contains(task.key.namespace.as_str())
                    && is_namespace_not_found(&status, &task.key.namespace) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(api_message(error)),
        };
        Ok((self.mode == Mode::Apply).then(|| applied.resource_version()).flatten())
    }

    async fn create_hook(&self, task: &Task, recreate: bool) -> Result<Option<String>, String> {
        let api = self.api(task).await?;
        let existing = api.get_opt(&task.key.name).await.map_err(api_message)?;
        if let Some(existing) = &existing {
            if existing.annotations().get(HOOK_RUN_ANNOTATION).map(String::as_str) == Some(self.stamp) {
                // Created by this very attempt before a restart: never twice.
                return Ok(existing.resource_version());
            }
            if recreate {
                let params =
                    DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
                match api.delete(&task.key.name, &params).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => return Err(api_message(error)),
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                while api.get_opt(&task.key.name).await.map_err(api_message)?.is_some() {
                    if Instant::now() >= deadline {
                        return Err(format!("the previous {} {} is still being deleted", task.key.kind, task.key.name));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        self.apply(task, Some(self.stamp)).await
    }

    async fn delete(&self, task: &Task, policy: PropagationPolicy) -> Result<(), String> {
        let api = self.api(task).await?;
        let params =
            DeleteParams { propagation_policy: Some(policy), dry_run: self.mode == Mode::DryRun, ..Default::default() };
        match api.delete(&task.key.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(api_message(error)),
        }
    }
}

fn task_object(task: &Task) -> Option<&Value> {
    match &task.action {
        Action::Apply { object, .. } | Action::Hook { object, .. } => Some(object),
        Action::Prune { .. } => None,
    }
}

fn task_options(task: &Task) -> SyncOptions {
    match &task.action {
        Action::Apply { sync_options, .. } | Action::Hook { sync_options, .. } => sync_options.clone(),
        Action::Prune { .. } => SyncOptions::default(),
    }
}

/// Whether the API server refused because namespace `namespace` does not exist.
fn is_namespace_not_found(status: &kube::core::Status, namespace: &str) -> bool {
    if status.code != 404 || namespace.is_empty() {
        return false;
    }
    match &status.details {
        Some(details) if !details.kind.is_empty() => details.kind == "namespaces" && details.name == namespace,
        _ => status.message == format!("namespaces \"{namespace}\" not found"),
    }
}

/// The API server's message, as users of kubectl know it.
fn api_message(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message,
        other => crate::error_chain(&other),
    }
}
