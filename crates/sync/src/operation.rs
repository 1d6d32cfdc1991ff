//! The sync operation as a pure state machine.
//!
//! The controller loops: [`next`] names what to do ([`Step`]); the
//! controller performs the IO of each [`Work`] (server-side apply, hook
//! creation and deletion, prunes), folds each outcome into
//! `status.operationState.syncResult.resources` with [`record`], writes the
//! status, and calls [`next`] again when live state changes or on a short
//! timer.
//!
//! Everything [`next`] decides comes from the plan, the recorded results and
//! live health, never from memory of earlier calls. So a controller that
//! restarts mid-operation resumes where the stored results say it was: a
//! hook that has a result is never created again; a running one is awaited.
//!
//! Semantics follow Argo CD: phases PreSync, Sync, PostSync in order, waves
//! ascending inside a phase; a wave's tasks start together and the next
//! wave starts when every resource of the wave is healthy (or gone, for
//! prunes) and every hook of the wave has finished. A failed apply, a failed
//! hook or a Degraded resource fails the operation: hooks still running are
//! awaited, then the SyncFail hooks run, then the operation finishes Failed
//! naming the first failure.
//!
//! No IO, no clocks: the caller enforces the sync timeout and uses the
//! [`Step::Wait`] message in its error.

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use application::{HookPhase, OperationPhase, ResourceResult, ResultCode, SyncPhase};
use health::{Health, HealthStatus};
use serde_json::Value;

use crate::plan::{Action, DeletePolicy, Phase, Plan, ResourceKey, Task};

/// Message of an operation that had nothing to do.
pub const NO_RESOURCES: &str = "successfully synced (no resources)";
/// Message of a successful operation.
pub const SUCCEEDED: &str = "successfully synced (all tasks run)";
/// Message of a successful dry run.
pub const DRY_RUN_SUCCEEDED: &str = "successfully synced (dry run: nothing changed)";
/// Message of an operation stopped on request.
pub const TERMINATED: &str = "operation terminated";

/// Whether the operation changes the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply, create hooks, prune; wait for health between waves.
    Apply,
    /// Every [`Work`] is sent with `dryRun=All`; nothing waits for health
    /// and no hook runs ([`Work::ValidateHook`] reports them instead).
    DryRun,
}

/// Whether the user asked to stop the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Go on.
    NotRequested,
    /// `operationState.phase` is Terminating (or the operation was cleared).
    Requested,
}

/// What [`next`] decides from. The [`Work`] it returns borrows the plan
/// (`'p`) only, so the rest (`'a`) may be dropped while the work is done.
pub struct StepInput<'p, 'a> {
    /// The plan, recomputed at each call from the operation's revision.
    pub plan: &'p Plan,
    /// What was done so far (`operationState.syncResult.resources`).
    pub results: &'a [ResourceResult],
    /// Live health of a resource; `None` when it is not in the live state.
    /// Kinds without a health check must read as `Some(Healthy)` once they
    /// exist: see [`live_health`].
    ///
    /// It must reflect at least the writes of the [`Work`] recorded so far
    /// (wait for the cache to see the applied or created object's
    /// resourceVersion): a stale view of a previous hook object would read
    /// as that hook having finished.
    pub health: &'a dyn Fn(&ResourceKey) -> Option<Health>,
    /// Apply or dry run.
    pub mode: Mode,
    /// Whether the user asked to stop.
    pub termination: Termination,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'p> {
    /// Do these now, record each outcome with [`record`], then call [`next`]
    /// again. All are of one phase and wave, or of the SyncFail hooks, or
    /// record-only work for the same wave.
    Run(Vec<Work<'p>>),
    /// Nothing to do until live state changes. The message names what is
    /// awaited, e.g. `waiting for healthy state of apps/Deployment web
    /// (wave 1): Progressing: 1 of 3 replicas updated`.
    Wait {
        /// What is awaited; for progress display and the timeout error.
        message: String,
    },
    /// The operation is over.
    Finish {
        /// Succeeded or Failed.
        phase: OperationPhase,
        /// Why, naming the first failure.
        message: String,
    },
}

/// One piece of work for the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Work<'p> {
    /// Server-side apply the task's object (with `dryRun=All` in a dry run).
    Apply {
        /// The apply task.
        task: &'p Task,
    },
    /// Create the hook object. With `recreate`, first delete any object of
    /// that name (policy BeforeHookCreation, the default) and wait until it
    /// is gone.
    CreateHook {
        /// The hook task.
        task: &'p Task,
        /// Whether an existing object of that name is deleted first.
        recreate: bool,
    },
    /// A running hook finished (or is stopped, on termination). Delete it
    /// when `delete` (its HookSucceeded / HookFailed policy, or termination).
    FinishHook {
        /// The hook task.
        task: &'p Task,
        /// How it ended.
        phase: HookPhase,
        /// Whether to delete the hook object now.
        delete: bool,
        /// Why: the hook's health message, or `terminated`.
        message: String,
    },
    /// Delete the live object (with `dryRun=All` in a dry run).
    Prune {
        /// The prune task.
        task: &'p Task,
    },
    /// No IO: record a prune that is not done (PruneSkipped, with the plan's
    /// reason).
    Skip {
        /// The skipped prune task.
        task: &'p Task,
    },
    /// Dry run only: the hook does not run. Create it with `dryRun=All`
    /// (nothing is persisted) so a broken manifest shows, and record it.
    ValidateHook {
        /// The hook task.
        task: &'p Task,
    },
    /// No IO: record that an applied resource failed its health (Degraded),
    /// which fails the operation.
    Fail {
        /// The apply task.
        task: &'p Task,
        /// What is wrong, from the health check.
        message: String,
    },
}

impl Work<'_> {
    /// The task this work is for.
    pub fn task(&self) -> &Task {
        match self {
            Work::Apply { task }
            | Work::CreateHook { task, .. }
            | Work::FinishHook { task, .. }
            | Work::Prune { task }
            | Work::Skip { task }
            | Work::ValidateHook { task }
            | Work::Fail { task, .. } => task,
        }
    }
}

/// How a [`Work`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// The API server refused or failed; the message is shown to the user.
    Failed(String),
}

/// Live health as [`StepInput::health`] expects it: `None` when the object
/// is absent, its health check's result when its kind has one, and Healthy
/// when it has none (it is as ready as it will be once it exists).
pub fn live_health(object: Option<&Value>) -> Option<Health> {
    object.map(|o| health::assess(o).unwrap_or_else(|| Health::new(HealthStatus::Healthy, "")))
}

/// Folds one performed [`Work`] and its outcome into `results`: the entry
/// of that resource and phase is updated in place, or appended, so the
/// order stays that of first touch.
pub fn record(results: &mut Vec<ResourceResult>, work: &Work<'_>, outcome: Outcome) {
    let task = work.task();
    let phase = SyncPhase::from(task.phase);
    let index = results.iter().position(|r| r.sync_phase == Some(phase) && result_key(r) == task.key);
    let previous = index.and_then(|i| results.get(i));
    let hook_phase = previous.and_then(|r| r.hook_phase);
    let (status, hook_phase, message) = match (work, outcome) {
        (Work::Apply { .. }, Outcome::Ok) => (ResultCode::Synced, None, "applied".to_owned()),
        (Work::Apply { .. } | Work::Prune { .. } | Work::ValidateHook { .. }, Outcome::Failed(e)) => {
            (ResultCode::SyncFailed, None, e)
        }
        (Work::CreateHook { .. }, Outcome::Ok) => {
            (ResultCode::Synced, Some(HookPhase::Running), "hook created".to_owned())
        }
        (Work::CreateHook { .. }, Outcome::Failed(e)) => (ResultCode::SyncFailed, Some(HookPhase::Failed), e),
        (Work::FinishHook { phase, message, .. }, Outcome::Ok) => (ResultCode::Synced, Some(*phase), message.clone()),
        // The hook ended either way; a failed deletion is worth telling but
        // does not change how it ended.
        (Work::FinishHook { phase, message, .. }, Outcome::Failed(e)) => {
            (ResultCode::Synced, Some(*phase), join(message, &format!("deleting the hook failed: {e}")))
        }
        (Work::Prune { .. }, Outcome::Ok) => (ResultCode::Pruned, None, "pruned".to_owned()),
        (Work::Skip { task }, _) => (ResultCode::PruneSkipped, None, skip_reason(task)),
        (Work::ValidateHook { .. }, Outcome::Ok) => (ResultCode::Synced, None, "hook not run (dry run)".to_owned()),
        (Work::Fail { message, .. }, _) => (ResultCode::SyncFailed, hook_phase, message.clone()),
    };
    let result = ResourceResult {
        group: task.key.group.clone(),
        version: task.api_version().rsplit('/').next().unwrap_or_default().to_owned(),
        kind: task.key.kind.clone(),
        namespace: Some(task.key.namespace.clone()).filter(|n| !n.is_empty()),
        name: task.key.name.clone(),
        status,
        message: Some(message).filter(|m| !m.is_empty()),
        sync_phase: Some(phase),
        wave: task.wave,
        hook_phase,
    };
    match index.and_then(|i| results.get_mut(i)) {
        Some(slot) => *slot = result,
        None => results.push(result),
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_owned() } else { format!("{a}; {b}") }
}

fn skip_reason(task: &Task) -> String {
    match &task.action {
        Action::Prune { skip: Some(reason), .. } => reason.to_string(),
        _ => String::new(),
    }
}

fn result_key(result: &ResourceResult) -> ResourceKey {
    ResourceKey::new(&result.group, &result.kind, result.namespace.as_deref().unwrap_or(""), &result.name)
}

/// Decides the next step of the operation from `input` alone.
pub fn next<'p>(input: &StepInput<'p, '_>) -> Step<'p> {
    let done = Done::new(input.results);
    if input.termination == Termination::Requested {
        return terminate(input.plan, &done);
    }
    if input.plan.tasks.is_empty() && input.results.is_empty() {
        return Step::Finish { phase: OperationPhase::Succeeded, message: NO_RESOURCES.to_owned() };
    }
    if let Some(failure) = first_failure(input.results) {
        return after_failure(input, &done, failure);
    }
    for wave in input.plan.waves() {
        match evaluate(input, &done, wave.tasks) {
            WaveState::Done => {}
            WaveState::Run(work) => return Step::Run(work),
            WaveState::Wait(message) => return Step::Wait { message },
        }
    }
    let message = match input.mode {
        Mode::Apply => SUCCEEDED,
        Mode::DryRun => DRY_RUN_SUCCEEDED,
    };
    Step::Finish { phase: OperationPhase::Succeeded, message: message.to_owned() }
}

/// Results by (phase, resource), for lookups from tasks.
struct Done<'r>(HashMap<(Phase, ResourceKey), &'r ResourceResult>);

impl<'r> Done<'r> {
    fn new(results: &'r [ResourceResult]) -> Self {
        let map = results.iter().filter_map(|r| Some(((Phase::from(r.sync_phase?), result_key(r)), r))).collect();
        Self(map)
    }

    fn get(&self, task: &Task) -> Option<&'r ResourceResult> {
        self.0.get(&(task.phase, task.key.clone())).copied()
    }
}

/// Stops the operation: hooks still running are stopped (deleted), then it
/// finishes Failed.
fn terminate<'p>(plan: &'p Plan, done: &Done<'_>) -> Step<'p> {
    let work: Vec<Work<'p>> = plan
        .tasks
        .iter()
        .chain(&plan.sync_fail)
        .filter(|t| matches!(t.action, Action::Hook { .. }))
        .filter(|t| done.get(t).is_some_and(|r| r.hook_phase == Some(HookPhase::Running)))
        .map(|task| Work::FinishHook { task, phase: HookPhase::Failed, delete: true, message: "terminated".into() })
        .collect();
    if work.is_empty() {
        Step::Finish { phase: OperationPhase::Failed, message: TERMINATED.to_owned() }
    } else {
        Step::Run(work)
    }
}

/// The first result that fails the operation, in the order things happened.
/// SyncFail hooks do not count: they run because of a failure.
fn first_failure(results: &[ResourceResult]) -> Option<&ResourceResult> {
    results.iter().filter(|r| r.sync_phase != Some(SyncPhase::SyncFail)).find(|r| is_failure(r))
}

fn is_failure(result: &ResourceResult) -> bool {
    result.status == ResultCode::SyncFailed || result.hook_phase == Some(HookPhase::Failed)
}

/// After a failure: let hooks already running finish (a half-run migration
/// is worse than a late SyncFail hook), start nothing new, run the SyncFail
/// hooks wave by wave, then finish Failed.
fn after_failure<'p>(input: &StepInput<'p, '_>, done: &Done<'_>, failure: &ResourceResult) -> Step<'p> {
    let running: Vec<&'p Task> = input
        .plan
        .tasks
        .iter()
        .filter(|t| done.get(t).is_some_and(|r| r.hook_phase == Some(HookPhase::Running)))
        .collect();
    let mut work = Vec::new();
    let mut waiting = Vec::new();
    for task in running {
        if let Some(result) = done.get(task) {
            match progress(input, task, result) {
                Progress::Done => {}
                Progress::Work(w) => work.push(w),
                Progress::Waiting(message) => waiting.push(message),
            }
        }
    }
    if !work.is_empty() {
        return Step::Run(work);
    }
    if let Some(message) = summarize(waiting) {
        return Step::Wait { message: format!("{message}, before running SyncFail hooks") };
    }
    for tasks in input.plan.sync_fail.chunk_by(|a, b| a.wave == b.wave) {
        // A failed SyncFail hook is reported in the final message; it does
        // not stop the other SyncFail hooks.
        match evaluate(input, done, tasks) {
            WaveState::Done => {}
            WaveState::Run(work) => return Step::Run(work),
            WaveState::Wait(message) => return Step::Wait { message },
        }
    }
    let mut message = format!("sync failed: {}", describe_failure(failure));
    let sync_fail_failures: Vec<String> = input
        .results
        .iter()
        .filter(|r| r.sync_phase == Some(SyncPhase::SyncFail) && is_failure(r))
        .map(describe_failure)
        .collect();
    if !sync_fail_failures.is_empty() {
        message = format!("{message}; SyncFail hooks failed too: {}", sync_fail_failures.join("; "));
    }
    Step::Finish { phase: OperationPhase::Failed, message }
}

fn describe_failure(result: &ResourceResult) -> String {
    let key = result_key(result);
    let phase = result.sync_phase.map_or(Phase::Sync, Phase::from);
    let hook = if result.hook_phase.is_some() { "hook " } else { "" };
    let what = format!("{hook}{} ({})", describe(&key), place(phase, result.wave, result.hook_phase.is_some()));
    match result.message.as_deref() {
        Some(message) => format!("{what} failed: {message}"),
        None => format!("{what} failed"),
    }
}

/// Where in the sync a task runs, for messages: `wave 1` for resources of
/// the Sync phase, `PreSync` or `PreSync, wave -1` otherwise.
fn place(phase: Phase, wave: i32, hook: bool) -> String {
    match (phase, wave) {
        (Phase::Sync, _) if !hook => format!("wave {wave}"),
        (_, 0) => phase.to_string(),
        _ => format!("{phase}, wave {wave}"),
    }
}

/// `apps/Deployment web`, or `ConfigMap settings` for the core group: how
/// messages name a resource.
pub fn describe(key: &ResourceKey) -> String {
    if key.group.is_empty() {
        format!("{} {}", key.kind, key.name)
    } else {
        format!("{}/{} {}", key.group, key.kind, key.name)
    }
}

fn task_place(task: &Task) -> String {
    place(task.phase, task.wave, matches!(task.action, Action::Hook { .. }))
}

enum WaveState<'p> {
    Done,
    Run(Vec<Work<'p>>),
    Wait(String),
}

/// Where one wave stands: work to record or start, something to await, or
/// done.
fn evaluate<'p>(input: &StepInput<'p, '_>, done: &Done<'_>, tasks: &'p [Task]) -> WaveState<'p> {
    let mut start = Vec::new();
    let mut finish = Vec::new();
    let mut waiting = Vec::new();
    for task in tasks {
        match done.get(task) {
            None => start.push(start_work(input.mode, task)),
            Some(result) => match progress(input, task, result) {
                Progress::Done => {}
                Progress::Work(work) => finish.push(work),
                Progress::Waiting(message) => waiting.push(message),
            },
        }
    }
    // Finishing comes first: it may reveal a failure, and then nothing more
    // of this wave should start.
    if !finish.is_empty() {
        return WaveState::Run(finish);
    }
    if !start.is_empty() {
        return WaveState::Run(start);
    }
    match summarize(waiting) {
        Some(message) => WaveState::Wait(message),
        None => WaveState::Done,
    }
}

fn start_work(mode: Mode, task: &Task) -> Work<'_> {
    match (&task.action, mode) {
        (Action::Apply { .. }, _) => Work::Apply { task },
        (Action::Hook { .. }, Mode::DryRun) => Work::ValidateHook { task },
        (Action::Hook { delete_policies, .. }, Mode::Apply) => {
            Work::CreateHook { task, recreate: delete_policies.contains(&DeletePolicy::BeforeHookCreation) }
        }
        (Action::Prune { skip: Some(_), .. }, _) => Work::Skip { task },
        (Action::Prune { skip: None, .. }, _) => Work::Prune { task },
    }
}

enum Progress<'p> {
    Done,
    Work(Work<'p>),
    Waiting(String),
}

/// Where one started task stands.
fn progress<'p>(input: &StepInput<'p, '_>, task: &'p Task, result: &ResourceResult) -> Progress<'p> {
    if input.mode == Mode::DryRun {
        return Progress::Done;
    }
    let health = || (input.health)(&task.key);
    let name = describe(&task.key);
    let place = task_place(task);
    match &task.action {
        Action::Apply { .. } if result.status != ResultCode::Synced => Progress::Done,
        Action::Apply { .. } => match health() {
            None => Progress::Waiting(format!("waiting for {name} ({place}) to appear in the live state")),
            Some(h) => match h.status {
                // A suspended object (a paused Deployment) will not move on
                // by itself: waiting would only end in the sync timeout.
                HealthStatus::Healthy | HealthStatus::Suspended => Progress::Done,
                HealthStatus::Degraded => Progress::Work(Work::Fail { task, message: health_text(&h) }),
                HealthStatus::Progressing | HealthStatus::Missing | HealthStatus::Unknown => {
                    Progress::Waiting(format!("waiting for healthy state of {name} ({place}): {}", health_text(&h)))
                }
            },
        },
        Action::Hook { delete_policies, .. } => {
            if result.hook_phase != Some(HookPhase::Running) {
                return Progress::Done;
            }
            let Some(h) = health() else {
                return Progress::Waiting(format!("waiting for hook {name} ({place}) to appear in the live state"));
            };
            let (phase, policy) = match h.status {
                HealthStatus::Healthy => (HookPhase::Succeeded, DeletePolicy::HookSucceeded),
                HealthStatus::Degraded => (HookPhase::Failed, DeletePolicy::HookFailed),
                HealthStatus::Suspended | HealthStatus::Progressing | HealthStatus::Missing | HealthStatus::Unknown => {
                    return Progress::Waiting(format!(
                        "waiting for completion of hook {name} ({place}): {}",
                        health_text(&h)
                    ));
                }
            };
            let delete = delete_policies.contains(&policy);
            // Kinds without a check say nothing; the result should.
            let message = match (h.message.is_empty(), phase) {
                (false, _) => h.message,
                (true, HookPhase::Failed) => "hook failed".to_owned(),
                (true, _) => "hook succeeded".to_owned(),
            };
            Progress::Work(Work::FinishHook { task, phase, delete, message })
        }
        Action::Prune { .. } if result.status != ResultCode::Pruned => Progress::Done,
        Action::Prune { .. } => match health() {
            None => Progress::Done,
            Some(_) => Progress::Waiting(format!("waiting for deletion of {name} ({place})")),
        },
    }
}

fn health_text(health: &Health) -> String {
    if health.message.is_empty() { health.status.to_string() } else { format!("{}: {}", health.status, health.message) }
}

/// The first awaited thing, and how many more.
fn summarize(waiting: Vec<String>) -> Option<String> {
    let count = waiting.len();
    let first = waiting.into_iter().next()?;
    Some(match count {
        1 => first,
        n => format!("{first} (and {} more)", n - 1),
    })
}
