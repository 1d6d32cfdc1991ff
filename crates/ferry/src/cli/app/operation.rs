//! Requests to the controller and waits on it: sync, rollback,
//! terminate-op, refresh, wait and delete.
//!
//! The contract with the controller: a sync request is the top-level
//! `operation` field. When the controller starts it, it writes
//! `status.operationState` (phase Running, `startedAt`); when it ends, it sets
//! a terminal phase (Succeeded, Failed or Error) with `finishedAt` and a
//! message, and clears `operation`. Writes carry the resourceVersion they
//! were decided on, so a request never overwrites one made concurrently.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use application::{
    Application, InitiatedBy, Operation, OperationPhase, OperationState, SyncOperation, SyncOperationResource,
    SyncStatusCode,
};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::{FIELD_MANAGER, fetch, not_installed, view};
use crate::cli::{format_duration, is_conflict, is_not_found, kube_error};

/// How often waits re-read the Application.
const POLL: Duration = Duration::from_millis(500);
/// How many times a write is retried after losing a race with another
/// writer (usually the controller updating status).
const ATTEMPTS: usize = 8;

/// Whether a command waits for the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Return once the request is written.
    No,
    /// Wait at most this long.
    For(Duration),
}

/// Whether a rollback prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Keep resources that are not in the revision.
    No,
    /// Delete them.
    Yes,
}

/// Whether deleting an app deletes its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cascade {
    /// The app's finalizers decide.
    No,
    /// Add the resources finalizer first.
    Yes,
}

/// What `ferry app wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor {
    /// Sync status Synced.
    pub sync: bool,
    /// Health Healthy.
    pub health: bool,
    /// No operation requested or running.
    pub operation: bool,
}

/// The parts of a sync request the user chooses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncRequest {
    /// Revision to sync to; the target revision when unset.
    pub revision: Option<String>,
    /// Only these resources; all when empty.
    pub resources: Vec<SyncOperationResource>,
    /// Delete resources no longer in git.
    pub prune: bool,
    /// Only report.
    pub dry_run: bool,
}

/// Parses `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (the core group
/// is empty, as in `:Service:web`).
pub fn parse_resource(text: &str) -> Result<SyncOperationResource> {
    let invalid = || anyhow!("invalid --resource {text:?}: expected GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME");
    let mut parts = text.splitn(3, ':');
    let (Some(group), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let (namespace, name) = match rest.split_once('/') {
        Some((ns, name)) => (Some(ns.to_owned()).filter(|n| !n.is_empty()), name),
        None => (None, rest),
    };
    if kind.is_empty() || name.is_empty() || name.contains('/') {
        return Err(invalid());
    }
    Ok(SyncOperationResource { group: group.to_owned(), kind: kind.to_owned(), name: name.to_owned(), namespace })
}

/// What was true when a sync was requested, to recognise its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// When the request was written (whole seconds, as status times are).
    pub requested_at: Timestamp,
    /// The operation state before the request.
    pub previous: Option<OperationState>,
}

/// Where a requested sync stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncProgress {
    /// Not finished; the message says what it is doing, when known.
    Pending(String),
    /// Finished with this phase (Succeeded, Failed or Error).
    Done(Box<OperationState>),
}

/// Where the sync requested at `baseline` stands, from the app as read now.
pub fn sync_progress(app: &Application, baseline: &Baseline) -> SyncProgress {
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref());
    // A state is this request's if it started after the request, or if it
    // is not the one there was before (which also covers a controller whose
    // clock is behind the CLI's).
    let current = state.filter(|s| s.started_at.0 >= baseline.requested_at || Some(*s) != baseline.previous.as_ref());
    let terminal = current.filter(|s| is_terminal(s.phase));
    match (app.spec.operation.is_some(), terminal, current) {
        (false, Some(done), _) => SyncProgress::Done(Box::new(done.clone())),
        (_, _, Some(s)) if !is_terminal(s.phase) => {
            let phase = format!("{:?}", s.phase);
            SyncProgress::Pending(match &s.message {
                Some(m) => format!("{phase}: {m}"),
                None => phase,
            })
        }
        _ => SyncProgress::Pending("Pending: waiting for the controller to start the operation".to_owned()),
    }
}

fn is_terminal(phase: OperationPhase) -> bool {
    matches!(phase, OperationPhase::Succeeded | OperationPhase::Failed | OperationPhase::Error)
}

/// Why an app cannot take a new operation now, if it cannot.
pub fn busy(app: &Application) -> Option<String> {
    if app.spec.operation.is_some() {
        return Some("an operation is already requested".to_owned());
    }
    let state = app.status.as_ref().and_then(|s| s.operation_state.as_ref())?;
    view::is_active(state).then(|| format!("an operation is {:?}", state.phase))
}

/// What `ferry app wait` still waits for; empty when done.
pub fn pending(app: &Application, what: WaitFor) -> Vec<String> {
    let mut out = Vec::new();
    let status = app.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation);
    // A status written for an older spec says nothing about the new one.
    if (what.sync || what.health)
        && let (Some(observed), Some(generation)) = (observed, app.metadata.generation)
        && observed < generation
    {
        out.push(format!("reconcile of generation {generation}"));
    }
    if what.sync {
        let sync = status.and_then(|s| s.sync.as_ref()).map(|s| s.status).unwrap_or_default();
        if sync != SyncStatusCode::Synced {
            out.push(format!("sync status {sync:?}"));
        }
    }
    if what.health {
        match status.and_then(|s| s.health.as_ref()) {
            Some(h) if h.status == health::HealthStatus::Healthy => {}
            Some(h) => out.push(match &h.message {
                Some(m) => format!("health {} ({m})", h.status),
                None => format!("health {}", h.status),
            }),
            None => out.push("health Unknown".to_owned()),
        }
    }
    if what.operation {
        let state = status.and_then(|s| s.operation_state.as_ref()).filter(|s| view::is_active(s));
        match state {
            Some(s) => out.push(match &s.message {
                Some(m) => format!("operation {:?} ({m})", s.phase),
                None => format!("operation {:?}", s.phase),
            }),
            None if app.spec.operation.is_some() => out.push("requested operation to start".to_owned()),
            None => {}
        }
    }
    out
}

fn username() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "cli".to_owned())
}

fn operation(sync: SyncOperation) -> Operation {
    Operation { sync: Some(sync), initiated_by: Some(InitiatedBy { username: Some(username()), automated: false }) }
}

/// `ferry app sync`.
pub async fn sync(api: &Api<Application>, name: &str, request: SyncRequest, wait: Wait) -> Result<()> {
    let op = operation(SyncOperation {
        revision: request.revision,
        resources: request.resources,
        prune: request.prune,
        dry_run: request.dry_run,
    });
    // Argo CD resolves the target revision afresh when a sync starts, so a
    // sync right after a push deploys it. The controller fetches between
    // polls only on a hard refresh, so one is requested with the operation
    // (in the same write: the reconcile that starts the sync sees both).
    let baseline = request_operation(api, name, &op, Some(application::Refresh::Hard), |_| Ok(())).await?;
    println!("application {name:?}: sync requested");
    finish(api, name, baseline, wait).await
}

/// `ferry app rollback`.
pub async fn rollback(api: &Api<Application>, name: &str, id: i64, prune: Prune, wait: Wait) -> Result<()> {
    let app = fetch(api, name).await?;
    let entry = app
        .status
        .as_ref()
        .and_then(|s| s.history.iter().find(|h| h.id == id))
        .ok_or_else(|| anyhow!("application {name:?} has no history id {id} (see `ferry app history {name}`)"))?;
    let op = operation(SyncOperation {
        revision: Some(entry.revision.clone()),
        resources: Vec::new(),
        prune: prune == Prune::Yes,
        dry_run: false,
    });
    let revision = entry.revision.clone();
    // The history revision is a commit the controller has fetched already.
    let baseline = request_operation(api, name, &op, None, refuse_auto_sync).await?;
    println!("application {name:?}: rollback to history id {id} ({}) requested", view::short_revision(&revision));
    finish(api, name, baseline, wait).await
}

/// Argo CD refuses a rollback that auto-sync would immediately undo.
fn refuse_auto_sync(app: &Application) -> Result<()> {
    if app.spec.spec.sync_policy.as_ref().is_some_and(|p| p.automated.is_some()) {
        bail!("rollback cannot be initiated when auto-sync is enabled");
    }
    Ok(())
}

async fn finish(api: &Api<Application>, name: &str, baseline: Baseline, wait: Wait) -> Result<()> {
    match wait {
        Wait::No => Ok(()),
        Wait::For(timeout) => wait_sync(api, name, &baseline, timeout).await,
    }
}

/// Writes `op` to the app's `operation` field unless another one is
/// requested or running, with `refresh` as the refresh annotation. `check`
/// may refuse the request after reading the app.
async fn request_operation(
    api: &Api<Application>,
    name: &str,
    op: &Operation,
    refresh: Option<application::Refresh>,
    check: impl Fn(&Application) -> Result<()>,
) -> Result<Baseline> {
    for _ in 0..ATTEMPTS {
        let app = fetch(api, name).await?;
        check(&app)?;
        if busy(&app).is_some() {
            bail!("another operation is already in progress");
        }
        let requested_at = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now());
        let mut patch = json!({
            "metadata": { "resourceVersion": app.metadata.resource_version },
            "operation": op,
        });
        if let Some(refresh) = refresh {
            patch["metadata"]["annotations"] = json!({ application::REFRESH_ANNOTATION: refresh.as_str() });
        }
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
        match api.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => {
                return Ok(Baseline { requested_at, previous: app.status.and_then(|s| s.operation_state) });
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) if is_not_found(&e) => return Err(not_installed(e, name)),
            Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot request an operation on {name:?}")),
        }
    }
    bail!("application {name:?} kept changing while requesting the operation; try again")
}

async fn wait_sync(api: &Api<Application>, name: &str, baseline: &Baseline, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let app = fetch(api, name).await?;
        match sync_progress(&app, baseline) {
            SyncProgress::Done(state) => return report(name, &state),
            SyncProgress::Pending(message) => {
                if message != last {
                    println!("{message}");
                    last = message;
                }
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for the operation on application {name:?} ({last})",
                format_duration(timeout)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints a finished operation's results; an error when it did not succeed.
fn report(name: &str, state: &OperationState) -> Result<()> {
    if let Some(result) = state.sync_result.as_ref().filter(|r| !r.resources.is_empty()) {
        println!();
        print!("{}", view::results_table(&result.resources));
        println!();
    }
    let message = state.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    match state.phase {
        OperationPhase::Succeeded => {
            println!("operation on application {name:?} Succeeded{message}");
            Ok(())
        }
        phase => bail!("operation on application {name:?} {phase:?}{message}"),
    }
}

/// `ferry app wait`.
pub async fn wait(api: &Api<Application>, name: &str, what: WaitFor, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last: Option<Vec<String>> = None;
    loop {
        let app = fetch(api, name).await?;
        let now = pending(&app, what);
        if now.is_empty() {
            let mut reached = Vec::new();
            if what.sync {
                reached.push("Synced");
            }
            if what.health {
                reached.push("Healthy");
            }
            if what.operation {
                reached.push("no operation running");
            }
            println!("application {name:?}: {}", reached.join(", "));
            return Ok(());
        }
        if last.as_ref() != Some(&now) {
            println!("waiting for {}", now.join(", "));
            last = Some(now.clone());
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for application {name:?}: still pending {}",
                format_duration(timeout),
                now.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `ferry app terminate-op`.
pub async fn terminate(api: &Api<Application>, name: &str) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let app = fetch(api, name).await?;
        match phase_of(&app) {
            Some(OperationPhase::Running) => {}
            Some(OperationPhase::Terminating) => {
                println!("application {name:?}: the operation is already terminating");
                return Ok(());
            }
            _ => bail!("no operation is in progress"),
        }
        let patch = json!({
            "metadata": { "resourceVersion": app.metadata.resource_version },
            "status": { "operationState": { "phase": "Terminating" } },
        });
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
        // The CRD has no status subresource (one write ends an operation and
        // clears `operation`), so status is patched on the object itself. A
        // CRD that does declare one ignores status there; then patch /status.
        let result = match api.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(updated) if phase_of(&updated) != Some(OperationPhase::Terminating) => {
                api.patch_status(name, &params, &Patch::Merge(&patch)).await
            }
            other => other,
        };
        match result {
            Ok(_) => {
                println!("application {name:?}: terminating the running operation");
                return Ok(());
            }
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot terminate the operation on {name:?}")),
        }
    }
    bail!("application {name:?} kept changing while terminating its operation; try again")
}

fn phase_of(app: &Application) -> Option<OperationPhase> {
    app.status.as_ref().and_then(|s| s.operation_state.as_ref()).map(|s| s.phase)
}

/// `ferry app get --refresh`: sets the refresh annotation and waits for
/// the controller to remove it.
pub async fn refresh(
    api: &Api<Application>,
    name: &str,
    refresh: application::Refresh,
    timeout: Duration,
) -> Result<()> {
    let patch = json!({ "metadata": { "annotations": { application::REFRESH_ANNOTATION: refresh.as_str() } } });
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
    match api.patch(name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Err(not_installed(e, name)),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot request a refresh of {name:?}")),
    }
    let deadline = Instant::now() + timeout;
    loop {
        let app = fetch(api, name).await?;
        let requested =
            app.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(application::REFRESH_ANNOTATION));
        if !requested {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for the controller to refresh application {name:?} (is the controller running?)",
                format_duration(timeout)
            );
        }
        tokio::time::sleep(POLL.min(timeout)).await;
    }
}

/// `ferry app delete`.
pub async fn delete(api: &Api<Application>, name: &str, cascade: Cascade, wait: Wait) -> Result<()> {
    if cascade == Cascade::Yes {
        add_finalizer(api, name).await?;
    }
    let remaining = match api.delete(name, &DeleteParams::default()).await {
        Ok(either) => either.left().and_then(|app| app.metadata.finalizers).unwrap_or_default(),
        Err(e) if is_not_found(&e) => return Err(not_installed(e, name)),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot delete application {name:?}")),
    };
    if remaining.is_empty() {
        println!("application {name:?} deleted");
    } else {
        println!("application {name:?} marked for deletion (waiting for finalizers: {})", remaining.join(", "));
    }
    let Wait::For(timeout) = wait else { return Ok(()) };
    let deadline = Instant::now() + timeout;
    loop {
        let finalizers = match api.get(name).await {
            Ok(app) => app.metadata.finalizers.unwrap_or_default(),
            Err(e) if is_not_found(&e) => {
                if !remaining.is_empty() {
                    println!("application {name:?} deleted");
                }
                return Ok(());
            }
            Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot read application {name:?}")),
        };
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} waiting for application {name:?} to be deleted (finalizers: {})",
                format_duration(timeout),
                finalizers.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn add_finalizer(api: &Api<Application>, name: &str) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let app = fetch(api, name).await?;
        let mut finalizers = app.metadata.finalizers.clone().unwrap_or_default();
        if finalizers.iter().any(|f| f == application::FINALIZER) {
            return Ok(());
        }
        finalizers.push(application::FINALIZER.to_owned());
        // A merge patch replaces lists whole: the resourceVersion makes sure
        // no finalizer added meanwhile is lost.
        let patch = json!({
            "metadata": { "resourceVersion": app.metadata.resource_version, "finalizers": finalizers },
        });
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
        match api.patch(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot add the finalizer to {name:?}")),
        }
    }
    bail!("application {name:?} kept changing while adding its finalizer; try again")
}
