//! One pass over one app: refresh → compare → (auto-)sync → status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use application::{
    Application, ApplicationCondition, ApplicationConditionType, ApplicationStatus, InitiatedBy, Operation,
    OperationPhase, Refresh, ResourceStatus, SyncOperation, SyncState, SyncStatusCode,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use live::{LiveCache, LiveObject};
use serde_json::Value;
use sync::ResourceKey;

use crate::clusters::Destination;
use crate::compare::{self, Comparison, Desired, Scope};
use crate::operation;
use crate::renders::{self, Reuse};
use crate::repos::{Fetched, Freshness};
use crate::status::{OperationField, StatusWriter};
use crate::{Context, delete};

/// A reconcile that could not finish (reading or writing the app failed); retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    /// Reading the Application failed.
    #[error("read application {name:?}")]
    Read {
        /// The app.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// Writing the Application failed.
    #[error("write status of application {name:?}")]
    Write {
        /// The app.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

/// What the controller remembers between reconciles of one app. Losing it
/// (a restart) costs one recomputation, never correctness.
#[derive(Default)]
pub(crate) struct Memo {
    apps: Mutex<HashMap<String, AppMemo>>,
}

#[derive(Clone, Default)]
pub(crate) struct AppMemo {
    /// What the prepared desired state was made from (render and destination).
    prepared_key: String,
    /// The render job of the last reconcile and what it was made from
    /// (revision, source, declared paths): a commit's tree never changes, so
    /// the same inputs give the same job without reading the mirror.
    job: Option<(String, Arc<renders::Job>)>,
    prepared: Option<Arc<Desired>>,
    /// Hash of everything the comparison depends on.
    compare_key: u64,
    comparison: Option<Arc<Comparison>>,
    /// When reconciledAt was last written.
    reconciled_at: Option<Instant>,
    /// When self-heal last started a sync.
    pub(crate) last_self_heal: Option<Instant>,
    /// When a failed sync's retry is due.
    pub(crate) retry_at: Option<Instant>,
    /// The resourceVersion of the controller's last write to the app: a
    /// copy older than that (the watch lags behind our own writes) must
    /// not be acted on.
    written: Option<String>,
}

impl Memo {
    pub(crate) fn get(&self, name: &str) -> AppMemo {
        let apps = self.apps.lock().unwrap_or_else(|poison| poison.into_inner());
        apps.get(name).cloned().unwrap_or_default()
    }

    pub(crate) fn put(&self, name: &str, memo: AppMemo) {
        let mut apps = self.apps.lock().unwrap_or_else(|poison| poison.into_inner());
        apps.insert(name.to_owned(), memo);
    }

    pub(crate) fn forget(&self, name: &str) {
        let mut apps = self.apps.lock().unwrap_or_else(|poison| poison.into_inner());
        apps.remove(name);
    }
}

/// What refresh → compare found.
pub(crate) struct Observed {
    pub(crate) destination: Destination,
    pub(crate) desired: Arc<Desired>,
    pub(crate) comparison: Arc<Comparison>,
}

/// A failure that becomes a condition on the app.
pub(crate) struct Problem {
    pub(crate) kind: ApplicationConditionType,
    pub(crate) message: String,
}

impl Problem {
    fn comparison(message: impl Into<String>) -> Self {
        Problem { kind: ApplicationConditionType::ComparisonError, message: message.into() }
    }
}

pub(crate) async fn reconcile(app: Arc<Application>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let result = reconcile_app(&app, &context).await;
    context.metrics.observe_reconcile(started.elapsed(), result.is_ok());
    result
}

pub(crate) fn error_policy(app: Arc<Application>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(app = %app.name_any(), error = %crate::error_chain(error), "reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile_app(app: &Application, context: &Context) -> Result<Action, ReconcileError> {
    let name = app.name_any();
    // The watch may not have delivered our last status write yet. Acting on
    // the older copy would redo finished steps of an operation (create a
    // hook again, start a finished operation over), so read the latest.
    let latest;
    let app = if is_behind(app.metadata.resource_version.as_deref(), context.memo.get(&name).written.as_deref()) {
        match context.apps.get_opt(&name).await {
            Ok(Some(found)) => {
                latest = found;
                &latest
            }
            Ok(None) => return Ok(Action::await_change()),
            Err(source) => return Err(ReconcileError::Read { name, source }),
        }
    } else {
        app
    };
    if app.metadata.deletion_timestamp.is_some() {
        context.memo.forget(&name);
        return delete::finalize(app, context).await;
    }
    let refresh_annotation = app.annotations().get(application::REFRESH_ANNOTATION).cloned();
    let refresh = refresh_annotation.as_deref().map(|value| value.parse::<Refresh>().unwrap_or(Refresh::Normal));
    let mut memo = context.memo.get(&name);
    let mut status = app.status.clone().unwrap_or_default();
    let mut writer = StatusWriter::new(app);

    let observed = observe(app, context, refresh, &mut memo).await;
    let mut conditions = Vec::new();
    match &observed {
        Ok(observed) => apply_comparison(&mut status, &observed.comparison, &observed.desired.tools),
        Err(problem) => {
            conditions.push(problem);
            let revision = status.sync.as_ref().and_then(|s| s.revision.clone());
            status.sync = Some(SyncState { status: SyncStatusCode::Unknown, revision, tools: BTreeMap::new() });
        }
    }

    // An automated sync becomes a requested operation, written with the status.
    let mut operation_field = OperationField::Keep;
    let mut requested = app.spec.operation.clone();
    let running = status
        .operation_state
        .as_ref()
        .is_some_and(|s| matches!(s.phase, OperationPhase::Running | OperationPhase::Terminating));
    let mut requeue = context.config.poll_interval;
    if requested.is_none()
        && !running
        && let Ok(observed) = &observed
    {
        match auto_sync(app, &status, &observed.comparison, &memo, context.config.self_heal_backoff) {
            AutoSync::Start { self_heal } => {
                if self_heal {
                    memo.last_self_heal = Some(Instant::now());
                }
                let operation = Operation {
                    sync: Some(SyncOperation {
                        revision: Some(observed.comparison.revision.clone()),
                        prune: app
                            .spec
                            .spec
                            .sync_policy
                            .as_ref()
                            .and_then(|p| p.automated.as_ref())
                            .is_some_and(|a| a.prune),
                        ..SyncOperation::default()
                    }),
                    initiated_by: Some(InitiatedBy { username: None, automated: true }),
                };
                operation_field = OperationField::Set(operation.clone());
                requested = Some(operation);
            }
            AutoSync::Later(after) => requeue = requeue.min(after),
            AutoSync::No => {}
        }
    }

    let outcome = operation::advance(
        operation::Request { app, requested: requested.as_ref(), observed: observed.as_ref().ok() },
        context,
        &mut status,
        &mut memo,
        &mut writer,
        &mut operation_field,
    )
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(source) => {
            remember_written(context, &name, &writer);
            return Err(ReconcileError::Write { name, source });
        }
    };
    if let Some(after) = outcome.requeue {
        requeue = requeue.min(after);
    }
    if outcome.clear_operation {
        // An automated sync that finished before anything was written never
        // had its `operation` written: nothing to clear.
        operation_field = if writer.operation_present() { OperationField::Clear } else { OperationField::Keep };
        operation::record_history(&mut status);
    }
    let problem = outcome.problem;
    if let Some(problem) = &problem {
        conditions.push(problem);
    }

    set_conditions(&mut status, &conditions);
    let now = Instant::now();
    let write_reconciled = refresh.is_some()
        || memo.reconciled_at.is_none_or(|at| now.duration_since(at) >= context.config.poll_interval)
        || status_changed(app, &status);
    if write_reconciled {
        status.reconciled_at = Some(now_time());
        memo.reconciled_at = Some(now);
    }
    if let Err(source) = writer.write(context, &status, &operation_field, refresh_annotation.is_some()).await {
        remember_written(context, &name, &writer);
        return Err(ReconcileError::Write { name, source });
    }
    if let Some(version) = writer.written() {
        memo.written = Some(version.to_owned());
    }
    context.memo.put(&name, memo);
    Ok(Action::requeue(requeue))
}

/// Keeps the version of writes made before a pass failed, so the retry does
/// not act on an older copy either.
fn remember_written(context: &Context, name: &str, writer: &StatusWriter) {
    if let Some(version) = writer.written() {
        let mut memo = context.memo.get(name);
        memo.written = Some(version.to_owned());
        context.memo.put(name, memo);
    }
}

/// Whether the copy at resourceVersion `seen` is older than our last write.
/// resourceVersions are opaque in general but integers on etcd and the local
/// cluster; anything else is taken as current.
fn is_behind(seen: Option<&str>, written: Option<&str>) -> bool {
    match (seen.map(str::parse::<u64>), written.map(str::parse::<u64>)) {
        (Some(Ok(seen)), Some(Ok(written))) => seen < written,
        _ => false,
    }
}

/// Whether anything but reconciledAt differs from what the app holds.
fn status_changed(app: &Application, status: &ApplicationStatus) -> bool {
    let mut current = app.status.clone().unwrap_or_default();
    current.reconciled_at = status.reconciled_at.clone();
    current != *status
}

pub(crate) fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Conditions are replaced wholesale each pass; an unchanged condition keeps
/// its transition time.
fn set_conditions(status: &mut ApplicationStatus, problems: &[&Problem]) {
    let previous = std::mem::take(&mut status.conditions);
    status.conditions = problems
        .iter()
        .map(|problem| {
            let kept = previous.iter().find(|c| c.type_ == problem.kind && c.message == problem.message);
            ApplicationCondition {
                type_: problem.kind,
                message: problem.message.clone(),
                last_transition_time: kept.and_then(|c| c.last_transition_time.clone()).or_else(|| Some(now_time())),
            }
        })
        .collect();
}

fn apply_comparison(status: &mut ApplicationStatus, comparison: &Comparison, tools: &BTreeMap<String, String>) {
    status.sync =
        Some(SyncState { status: comparison.sync, revision: Some(comparison.revision.clone()), tools: tools.clone() });
    status.health = Some(comparison.health.clone());
    status.resources = comparison
        .resources
        .iter()
        .map(|resource| ResourceStatus {
            group: resource.key.group.clone(),
            version: resource.api_version.rsplit('/').next().unwrap_or_default().to_owned(),
            kind: resource.key.kind.clone(),
            namespace: Some(resource.key.namespace.clone()).filter(|ns| !ns.is_empty()),
            name: resource.key.name.clone(),
            status: resource.status,
            health: resource.health.as_ref().map(|h| application::HealthState {
                status: h.status,
                message: Some(h.message.clone()).filter(|m| !m.is_empty()),
            }),
        })
        .collect();
}

enum AutoSync {
    Start { self_heal: bool },
    Later(Duration),
    No,
}

/// Argo CD's rules: sync when OutOfSync, once per revision; a failed sync of
/// a revision is not retried beyond `retry`; self-heal re-syncs drift of an
/// already-synced revision, at most once per backoff.
fn auto_sync(
    app: &Application,
    status: &ApplicationStatus,
    comparison: &Comparison,
    memo: &AppMemo,
    backoff: Duration,
) -> AutoSync {
    let Some(automated) = app.spec.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()) else {
        return AutoSync::No;
    };
    if comparison.sync != SyncStatusCode::OutOfSync {
        return AutoSync::No;
    }
    let out_of_sync: Vec<_> = comparison.resources.iter().filter(|r| r.status == SyncStatusCode::OutOfSync).collect();
    if !automated.prune && out_of_sync.iter().all(|r| r.requires_pruning) {
        return AutoSync::No;
    }
    let last = status.operation_state.as_ref();
    let same_revision = last.is_some_and(|state| {
        let whole_app = state.operation.as_ref().and_then(|o| o.sync.as_ref()).is_some_and(|s| s.resources.is_empty());
        let result = state.sync_result.as_ref();
        // A changed source (say, new Kustomize overrides) at the same
        // revision is a new desired state, as in Argo CD.
        whole_app
            && result.and_then(|r| r.revision.as_deref()) == Some(comparison.revision.as_str())
            && result.and_then(|r| r.source.as_ref()).is_none_or(|source| *source == app.spec.spec.source)
    });
    if !same_revision {
        return AutoSync::Start { self_heal: false };
    }
    let succeeded = last.is_some_and(|s| s.phase == OperationPhase::Succeeded);
    if !succeeded || !automated.self_heal {
        return AutoSync::No;
    }
    match memo.last_self_heal {
        Some(at) if at.elapsed() < backoff => AutoSync::Later(backoff - at.elapsed()),
        _ => AutoSync::Start { self_heal: true },
    }
}

/// Refresh and compare: fetch when due, resolve, render, read live state.
pub(crate) async fn observe(
    app: &Application,
    context: &Context,
    refresh: Option<Refresh>,
    memo: &mut AppMemo,
) -> Result<Observed, Problem> {
    let spec = &app.spec.spec;
    let name = app.name_any();
    let destination = context.clusters.resolve(&spec.destination).await.map_err(|error| Problem {
        kind: ApplicationConditionType::InvalidSpecError,
        message: format!("destination: {error}"),
    })?;
    let revision = resolve_revision(context, app, &spec.source.target_revision, refresh).await?;
    let reuse = if refresh == Some(Refresh::Hard) { Reuse::No } else { Reuse::Yes };
    let desired = desired_at(context, app, &destination.live, &revision, reuse, memo).await?;

    let mut kinds: BTreeSet<(String, String)> = desired.kinds.clone();
    // Kinds the app managed before: a kind no longer in git must still be
    // watched, or its objects could never be pruned.
    if let Some(status) = &app.status {
        for resource in &status.resources {
            let api_version = crate::compare::api_version_of(resource);
            kinds.insert((api_version, resource.kind.clone()));
        }
    }
    for (api_version, kind) in &kinds {
        match destination.live.resolve(api_version, kind).await {
            Ok(resolved) => {
                destination.live.watch(&resolved).await.map_err(|error| {
                    Problem::comparison(format!(
                        "watch {kind} on {}: {}",
                        destination.server,
                        crate::error_chain(&error)
                    ))
                })?;
            }
            Err(live::LiveError::UnknownKind { .. }) => {}
            Err(error) => {
                return Err(Problem::comparison(format!(
                    "cluster {}: {}",
                    destination.server,
                    crate::error_chain(&error)
                )));
            }
        }
    }

    let mut live = BTreeMap::new();
    for object in destination.live.managed_by(&name) {
        live.insert(object.key.clone(), object);
    }
    for key in &desired.keys {
        if !live.contains_key(key)
            && let Some(found) = destination.live.get(key)
        {
            live.insert(key.clone(), found);
        }
    }

    let key = compare_key(app, &revision, &desired, &live);
    let comparison = match &memo.comparison {
        // The comparison is a function of the render and the live versions:
        // when neither changed, even a refresh can reuse it (a hard refresh
        // re-renders, which changes the key).
        Some(previous) if memo.compare_key == key && refresh != Some(Refresh::Hard) => previous.clone(),
        _ => {
            let objects: BTreeMap<ResourceKey, Value> =
                live.iter().map(|(key, object)| (key.clone(), object.object())).collect();
            let comparison =
                compare::compare_app(&name, &revision, &desired.objects(), &objects, &spec.ignore_differences);
            let comparison = Arc::new(comparison);
            memo.compare_key = key;
            memo.comparison = Some(comparison.clone());
            comparison
        }
    };
    Ok(Observed { destination, desired, comparison })
}

/// Fetches when due and resolves `revision` to a commit.
pub(crate) async fn resolve_revision(
    context: &Context,
    app: &Application,
    revision: &str,
    refresh: Option<Refresh>,
) -> Result<String, Problem> {
    let asked = Instant::now();
    let repo = &app.spec.spec.source.repo_url;
    if repo.is_empty() {
        return Err(Problem {
            kind: ApplicationConditionType::InvalidSpecError,
            message: "source.repoURL is empty".into(),
        });
    }
    // A chart from a Helm repository is named by its version: nothing to
    // fetch or resolve (the pull happens on a render-cache miss).
    if app.spec.spec.source.chart.is_some() {
        return Ok(revision.to_owned());
    }
    // A refresh (normal or hard) sees every commit pushed before it, as
    // Argo CD's does; a hard one also re-renders.
    let freshness = match refresh {
        Some(_) => Freshness::StartedAfter(asked),
        None => Freshness::WhenDue,
    };
    match context.repos.ensure_fresh(repo, freshness).await {
        Ok(Fetched::Yes) => context.enqueue_repo(&source::normalize_url(repo)),
        Ok(Fetched::No) => {}
        // The source's errors name the repository already.
        Err(message) => return Err(Problem::comparison(message)),
    }
    context
        .repos
        .resolve(repo, revision)
        .await
        .map_err(|error| Problem::comparison(format!("revision {revision:?}: {}", crate::error_chain(&error))))
}

/// The prepared desired state of the app at `revision`, reusing the last
/// preparation when the render is the same.
pub(crate) async fn desired_at(
    context: &Context,
    app: &Application,
    live: &LiveCache,
    revision: &str,
    reuse: Reuse,
    memo: &mut AppMemo,
) -> Result<Arc<Desired>, Problem> {
    let source = &app.spec.spec.source;
    let namespace = app.spec.spec.destination.namespace.clone().unwrap_or_default();
    let job_inputs = renders::job_inputs(app, revision);
    let job = match &memo.job {
        // A hard refresh also reads the cluster's capabilities again.
        Some((inputs, job)) if *inputs == job_inputs && reuse == Reuse::Yes => job.clone(),
        _ => {
            let job = Arc::new(render_job(context, app, live, revision).await?);
            memo.job = Some((job_inputs, job.clone()));
            job
        }
    };
    // What the prepared objects depend on: the render and the destination.
    let key = format!("{}\n{namespace}", job.digest);
    if reuse == Reuse::Yes
        && memo.prepared_key == key
        && let Some(prepared) = &memo.prepared
    {
        return Ok(prepared.clone());
    }
    let rendered = match &source.chart {
        Some(chart) => {
            let pull = async {
                let credentials = context.repos.credentials(&source.repo_url).await;
                context.charts.pull(&source.repo_url, chart, revision, credentials).await
            };
            context.renders.render(&job, reuse, pull).await
        }
        None => {
            let checkout = async {
                context
                    .repos
                    .checkout(&source.repo_url, revision)
                    .await
                    .map_err(|error| format!("checkout {revision}: {}", crate::error_chain(&error)))
            };
            context.renders.render(&job, reuse, checkout).await
        }
    };
    let (objects, tools) = match rendered.as_ref() {
        Ok(entry) => (entry.objects.clone(), entry.tools.clone()),
        Err(message) => return Err(Problem::comparison(format!("render {:?}: {message}", source.path))),
    };
    let mut scopes: HashMap<(String, String), Option<Scope>> = HashMap::new();
    for object in objects.iter() {
        let api_version = string_at(object, "/apiVersion").to_owned();
        let kind = string_at(object, "/kind").to_owned();
        if scopes.contains_key(&(api_version.clone(), kind.clone())) {
            continue;
        }
        let scope = match live.resolve(&api_version, &kind).await {
            Ok(resolved) if resolved.namespaced => Some(Scope::Namespaced),
            Ok(_) => Some(Scope::Cluster),
            Err(live::LiveError::UnknownKind { .. }) => None,
            Err(error) => return Err(Problem::comparison(crate::error_chain(&error))),
        };
        scopes.insert((api_version, kind), scope);
    }
    let name = app.name_any();
    let prepared = compare::prepare(&objects, &name, &namespace, &|api_version, kind| {
        scopes.get(&(api_version.to_owned(), kind.to_owned())).copied().flatten()
    })
    .map_err(|error| Problem::comparison(error.to_string()))?;
    // Duplicates and unreadable sync annotations are refused before
    // anything is compared or applied.
    sync::plan(&prepared, &[], &sync::PlanOptions { app: name, ..sync::PlanOptions::default() })
        .map_err(|error| Problem::comparison(crate::error_chain(&error)))?;
    let mut prepared = Desired::new(&prepared);
    prepared.tools = tools;
    let prepared = Arc::new(prepared);
    memo.prepared_key = key;
    memo.prepared = Some(prepared.clone());
    Ok(prepared)
}

/// The render job of `app` at `revision`: for a git source, keyed by the
/// object ids of the paths its output depends on (read from the mirror, no
/// checkout); for a chart from a Helm repository, by chart and version.
async fn render_job(
    context: &Context,
    app: &Application,
    live: &LiveCache,
    revision: &str,
) -> Result<renders::Job, Problem> {
    let source = &app.spec.spec.source;
    // Helm charts and plugins see the destination's version and API
    // versions, as in Argo CD; other tools do not, and skip the requests.
    let capabilities = || async {
        live.capabilities().await.map_err(|error| {
            Problem::comparison(format!("read the destination's capabilities: {}", crate::error_chain(&error)))
        })
    };
    if source.chart.is_some() {
        let capabilities = capabilities().await?;
        return Ok(context.renders.job(app, revision, &renders::Content::Chart, Some(&capabilities)));
    }
    let mut paths = renders::input_paths(app);
    let inputs = paths.len();
    // Whether the app's path holds a chart (Helm output depends on the app's
    // name); an escaping path has none, and its render reports it.
    if let Some(base) = renders::lexical(&source.path) {
        paths.push(if base.is_empty() { "Chart.yaml".to_owned() } else { format!("{base}/Chart.yaml") });
    }
    let mut ids =
        context.repos.path_ids(&source.repo_url, revision, &paths).await.map_err(|error| {
            Problem::comparison(format!("read revision {revision}: {}", crate::error_chain(&error)))
        })?;
    let chart = ids.len() > inputs && ids.pop().flatten().is_some();
    paths.truncate(inputs);
    let pairs: Vec<(String, Option<String>)> = paths.into_iter().zip(ids).collect();
    let capabilities =
        if chart || source.helm.is_some() || source.plugin.is_some() { Some(capabilities().await?) } else { None };
    let content = renders::Content::Git { paths: &pairs, chart };
    Ok(context.renders.job(app, revision, &content, capabilities.as_deref()))
}

fn compare_key(
    app: &Application,
    revision: &str,
    desired: &Arc<Desired>,
    live: &BTreeMap<ResourceKey, LiveObject>,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    revision.hash(&mut hasher);
    (Arc::as_ptr(desired) as usize).hash(&mut hasher);
    serde_json::to_string(&app.spec.spec.ignore_differences).unwrap_or_default().hash(&mut hasher);
    for (key, object) in live {
        key.hash(&mut hasher);
        object.resource_version.hash(&mut hasher);
    }
    hasher.finish()
}

fn string_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}
