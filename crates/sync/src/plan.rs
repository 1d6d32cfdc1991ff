//! The pure planning part of a sync: what to do, in which order.
//!
//! [`plan`] turns the desired objects, the live objects and the request
//! ([`PlanOptions`]) into a [`Plan`]: an ordered list of [`Task`]s, and the
//! SyncFail hooks kept apart because they run only when the sync fails.
//!
//! Order, as in Argo CD: phase (PreSync, Sync, PostSync), then wave
//! ascending, then applies and hooks before prunes, then kind order
//! (Namespace first, unknown kinds last; reversed for prunes, so a Namespace
//! is deleted after what it contains), then name, namespace and group.
//!
//! Desired objects must already have their namespace resolved: the planner
//! cannot know which kinds are namespaced.

mod annotations;
mod key;
mod order;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use thiserror::Error;

pub use annotations::{
    ARGOCD_PREFIX, AnnotationError, Annotations, CompareOptions, DeletePolicy, FERRY_PREFIX, Hook, HookType,
    Permission, PropagationPolicy, SyncOptions,
};
pub use key::{ResourceKey, parse_tracking_id, tracking_id};

/// The annotation ferry writes to mark ownership, with the value
/// `<app>:<group>/<kind>:<namespace>/<name>`.
pub const TRACKING_ANNOTATION: &str = "ferry.dev/tracking-id";

/// A phase of a sync, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Hooks before anything is applied.
    PreSync,
    /// The resources themselves, Sync hooks and prunes.
    Sync,
    /// Hooks after the Sync phase is healthy.
    PostSync,
    /// Hooks run only when the sync failed.
    SyncFail,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so table renderings can align phases.
        f.pad(match self {
            Self::PreSync => "PreSync",
            Self::Sync => "Sync",
            Self::PostSync => "PostSync",
            Self::SyncFail => "SyncFail",
        })
    }
}

impl From<Phase> for application::SyncPhase {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::PreSync => Self::PreSync,
            Phase::Sync => Self::Sync,
            Phase::PostSync => Self::PostSync,
            Phase::SyncFail => Self::SyncFail,
        }
    }
}

impl From<application::SyncPhase> for Phase {
    fn from(phase: application::SyncPhase) -> Self {
        match phase {
            application::SyncPhase::PreSync => Self::PreSync,
            application::SyncPhase::Sync => Self::Sync,
            application::SyncPhase::PostSync => Self::PostSync,
            application::SyncPhase::SyncFail => Self::SyncFail,
        }
    }
}

/// What the request asks for, beyond the objects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanOptions {
    /// Application name, as written in tracking ids.
    pub app: String,
    /// Annotation holding the tracking id (normally [`TRACKING_ANNOTATION`]).
    pub tracking_annotation: String,
    /// Whether live objects no longer desired are deleted; when unset they
    /// appear as skipped prune tasks, so the user sees what would go.
    pub prune: bool,
    /// App-level `PruneLast=true`: every prune runs after everything else.
    pub prune_last: bool,
    /// Selective sync: only these resources (an empty namespace matches any).
    /// Empty means the whole app. Hooks do not run in a selective sync.
    pub resources: Vec<ResourceKey>,
    /// App-level `CreateNamespace=true`: the destination namespace to create
    /// before anything else, unless the desired objects define it.
    pub create_namespace: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            app: String::new(),
            tracking_annotation: TRACKING_ANNOTATION.to_owned(),
            prune: false,
            prune_last: false,
            resources: Vec::new(),
            create_namespace: None,
        }
    }
}

/// Why a planned task will not be carried out. Kept in the plan so the
/// per-resource result says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The request did not enable pruning.
    PruneNotEnabled,
    /// The live object says `Prune=false`.
    PruneDenied,
    /// The live object says `Prune=confirm`, and pruning awaits confirmation.
    PruneNeedsConfirmation,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PruneNotEnabled => "ignored (requires pruning)",
            Self::PruneDenied => "ignored (Prune=false)",
            Self::PruneNeedsConfirmation => "ignored (Prune=confirm, awaiting confirmation)",
        })
    }
}

/// What one task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Apply a desired object.
    Apply {
        /// The desired object.
        object: Value,
        /// Its per-resource sync options.
        sync_options: SyncOptions,
    },
    /// Create a hook object and wait for it.
    Hook {
        /// The hook object.
        object: Value,
        /// When to delete it.
        delete_policies: Vec<DeletePolicy>,
        /// Its per-resource sync options.
        sync_options: SyncOptions,
    },
    /// Delete a live object that is no longer desired.
    Prune {
        /// The live object's `apiVersion`, needed to address it.
        api_version: String,
        /// `Some` when the prune is only reported, not done.
        skip: Option<SkipReason>,
        /// Whether it moved to the final wave (PruneLast).
        last: PruneLast,
    },
}

/// Whether a prune was moved to the final wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneLast {
    /// In the (reversed) wave of the live object.
    No,
    /// After every other task of the Sync phase.
    Yes,
}

/// One step of a sync.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Phase it runs in.
    pub phase: Phase,
    /// Wave it runs in, after any reordering of prunes.
    pub wave: i32,
    /// The resource.
    pub key: ResourceKey,
    /// What to do.
    pub action: Action,
}

impl Task {
    /// Short name of the action: `apply`, `hook` or `prune`.
    pub fn verb(&self) -> &'static str {
        match self.action {
            Action::Apply { .. } => "apply",
            Action::Hook { .. } => "hook",
            Action::Prune { .. } => "prune",
        }
    }

    /// The object's `apiVersion` (`apps/v1`): the desired one for applies
    /// and hooks, the live one for prunes.
    pub fn api_version(&self) -> &str {
        match &self.action {
            Action::Apply { object, .. } | Action::Hook { object, .. } => {
                object.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
            }
            Action::Prune { api_version, .. } => api_version,
        }
    }

    /// Human note on the task: options in effect, delete policies, why it is skipped.
    pub fn note(&self) -> String {
        match &self.action {
            Action::Apply { sync_options, .. } => sync_options.to_string(),
            Action::Hook { delete_policies, sync_options, .. } => {
                let policies: Vec<String> = delete_policies.iter().map(ToString::to_string).collect();
                let mut note = format!("delete={}", policies.join(","));
                let options = sync_options.to_string();
                if !options.is_empty() {
                    note = format!("{note} {options}");
                }
                note
            }
            Action::Prune { skip, last, .. } => {
                let mut parts = Vec::new();
                if *last == PruneLast::Yes {
                    parts.push("PruneLast".to_owned());
                }
                if let Some(skip) = skip {
                    parts.push(skip.to_string());
                }
                parts.join(" ")
            }
        }
    }

    fn sort_key(&self) -> (Phase, i32, u8, usize, &str, &str, &str) {
        let rank = order::kind_rank(&self.key.kind);
        // Prunes after applies of the same wave (a renamed object exists
        // anew before the old one goes), in reverse kind order.
        let (class, rank) = match self.action {
            Action::Prune { .. } => (1, usize::MAX - rank),
            _ => (0, rank),
        };
        (self.phase, self.wave, class, rank, &self.key.name, &self.key.namespace, &self.key.group)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} {:>4} {:<5} {}", self.phase, self.wave, self.verb(), self.key)?;
        let note = self.note();
        if !note.is_empty() {
            write!(f, "  {note}")?;
        }
        Ok(())
    }
}

/// A warning about one resource (unknown options and the like); the sync goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The resource it is about.
    pub key: ResourceKey,
    /// What is wrong.
    pub message: String,
}

/// The tasks of one wave, for progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wave<'a> {
    /// Phase of the wave.
    pub phase: Phase,
    /// Wave number.
    pub wave: i32,
    /// Its tasks, in order.
    pub tasks: &'a [Task],
}

/// The ordered tasks of a sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// PreSync, Sync and PostSync tasks, in execution order.
    pub tasks: Vec<Task>,
    /// SyncFail hooks, in order; run only when the sync fails.
    pub sync_fail: Vec<Task>,
    /// Warnings found while planning.
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// The main tasks grouped by (phase, wave), in execution order.
    /// Executors wait for health between two waves.
    pub fn waves(&self) -> Vec<Wave<'_>> {
        self.tasks
            .chunk_by(|a, b| (a.phase, a.wave) == (b.phase, b.wave))
            .filter_map(|tasks| tasks.first().map(|t| Wave { phase: t.phase, wave: t.wave, tasks }))
            .collect()
    }
}

impl fmt::Display for Plan {
    /// One line per task (phase, wave, action, key, note), SyncFail hooks
    /// last, then the warnings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for task in self.tasks.iter().chain(&self.sync_fail) {
            writeln!(f, "{task}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning {}: {}", warning.key, warning.message)?;
        }
        Ok(())
    }
}

/// Why no plan could be made. Nothing is applied then: a broken input never
/// leads to a partial sync.
#[derive(Debug, Error)]
pub enum PlanError {
    /// A desired object lacks an identifying field. `index` counts from 0.
    #[error("desired object {} has no {field}", .index + 1)]
    Invalid {
        /// Position in the desired list, from 0.
        index: usize,
        /// The missing field.
        field: &'static str,
    },
    /// Two desired objects have the same key. Indexes count from 0.
    #[error("{key} is defined twice: desired objects {} and {}", .first + 1, .second + 1)]
    Duplicate {
        /// The shared key.
        key: ResourceKey,
        /// Position of the first definition.
        first: usize,
        /// Position of the second definition.
        second: usize,
    },
    /// An annotation of a desired object cannot be understood.
    #[error("reading the sync annotations of {key}")]
    Annotation {
        /// The object.
        key: ResourceKey,
        /// What is wrong.
        #[source]
        source: AnnotationError,
    },
}

/// Plans a sync of `desired` over `live`.
///
/// `live` may hold any objects of the destination; only those whose
/// tracking id names this app and this very object are pruning candidates,
/// and live hooks are never pruned (their delete policy handles them).
pub fn plan(desired: &[Value], live: &[Value], options: &PlanOptions) -> Result<Plan, PlanError> {
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<ResourceKey, usize> = BTreeMap::new();
    let mut parsed = Vec::with_capacity(desired.len());
    for (index, object) in desired.iter().enumerate() {
        let key = ResourceKey::from_object(object).map_err(|field| PlanError::Invalid { index, field })?;
        if let Some(&first) = seen.get(&key) {
            return Err(PlanError::Duplicate { key, first, second: index });
        }
        seen.insert(key.clone(), index);
        let (annotations, found) =
            Annotations::parse(object).map_err(|source| PlanError::Annotation { key: key.clone(), source })?;
        warnings.extend(found.into_iter().map(|message| Warning { key: key.clone(), message }));
        parsed.push((key, object, annotations));
    }

    let selective = !options.resources.is_empty();
    let selected = |key: &ResourceKey| !selective || options.resources.iter().any(|r| r.selects(key));
    for filter in &options.resources {
        if !seen.keys().any(|k| filter.selects(k)) && !live.iter().any(|l| is_key(l, filter)) {
            warnings.push(Warning { key: filter.clone(), message: "selected resource is not part of the app".into() });
        }
    }

    let mut tasks = Vec::new();
    let mut sync_fail = Vec::new();
    for (key, object, annotations) in parsed {
        let Annotations { wave, hook, sync_options, .. } = annotations;
        match hook {
            Some(hook) if hook.is_skip() => {}
            // Selective sync applies what the user picked and nothing else,
            // as in Argo CD.
            Some(_) if selective => {}
            Some(hook) => {
                for phase in hook.phases() {
                    let task = Task {
                        phase,
                        wave,
                        key: key.clone(),
                        action: Action::Hook {
                            object: object.clone(),
                            delete_policies: hook.delete_policies.clone(),
                            sync_options: sync_options.clone(),
                        },
                    };
                    if phase == Phase::SyncFail { sync_fail.push(task) } else { tasks.push(task) }
                }
            }
            None if selected(&key) => tasks.push(Task {
                phase: Phase::Sync,
                wave,
                key,
                action: Action::Apply { object: object.clone(), sync_options },
            }),
            None => {}
        }
    }

    let mut prunes = prune_tasks(live, &seen, options, &selected, &mut warnings);
    reverse_prune_waves(&mut prunes);
    tasks.extend(prunes);
    let last_wave = tasks.iter().filter(|t| t.phase == Phase::Sync).map(|t| t.wave).max().unwrap_or(0).max(0);
    for task in &mut tasks {
        if let Action::Prune { last: PruneLast::Yes, .. } = task.action {
            task.wave = last_wave.saturating_add(1);
        }
    }

    if let Some(namespace) = &options.create_namespace {
        let key = ResourceKey::new("", "Namespace", "", namespace);
        // A selective sync needs the namespace as much as a full one does
        // (applying an existing namespace changes nothing).
        if !seen.contains_key(&key) {
            // Before everything, PreSync hooks of negative waves included.
            let wave = tasks.iter().filter(|t| t.phase == Phase::PreSync).map(|t| t.wave).min().unwrap_or(0).min(0);
            let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
            tasks.push(Task {
                phase: Phase::PreSync,
                wave,
                key,
                action: Action::Apply { object, sync_options: SyncOptions::default() },
            });
        }
    }

    tasks.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    sync_fail.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(Plan { tasks, sync_fail, warnings })
}

fn is_key(object: &Value, filter: &ResourceKey) -> bool {
    ResourceKey::from_object(object).is_ok_and(|k| filter.selects(&k))
}

fn prune_tasks(
    live: &[Value],
    desired: &BTreeMap<ResourceKey, usize>,
    options: &PlanOptions,
    selected: &dyn Fn(&ResourceKey) -> bool,
    warnings: &mut Vec<Warning>,
) -> Vec<Task> {
    let empty = Map::new();
    let mut tasks = Vec::new();
    for object in live {
        // Live objects are not ours to validate: malformed ones are skipped.
        let Ok(key) = ResourceKey::from_object(object) else { continue };
        if desired.contains_key(&key)
            || !key::owned_by(object, &key, &options.app, &options.tracking_annotation)
            || !selected(&key)
        {
            continue;
        }
        let map = annotations::annotation_map(object).unwrap_or(&empty);
        if annotations::has_hook(map) {
            continue;
        }
        // A bad annotation on a live object must not block the sync that
        // would replace it.
        let wave = annotations::parse_wave(map).unwrap_or_else(|e| {
            warnings.push(Warning { key: key.clone(), message: format!("{e}; pruning in wave 0") });
            0
        });
        let sync_options = annotations::lenient_sync_options(map);
        let skip = match sync_options.prune {
            _ if !options.prune => Some(SkipReason::PruneNotEnabled),
            Some(Permission::Denied) => Some(SkipReason::PruneDenied),
            Some(Permission::Confirm) => Some(SkipReason::PruneNeedsConfirmation),
            Some(Permission::Allowed) | None => None,
        };
        let last =
            if options.prune_last || sync_options.prune_last == Some(true) { PruneLast::Yes } else { PruneLast::No };
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        tasks.push(Task { phase: Phase::Sync, wave, key, action: Action::Prune { api_version, skip, last } });
    }
    tasks
}

/// Prunes run in reverse wave order: the distinct waves of the (not
/// PruneLast) prunes are mirrored, so the prune of the highest wave takes
/// the lowest wave's slot. What was created last is deleted first, while
/// prunes still interleave with the applies of their slot, as in Argo CD.
fn reverse_prune_waves(prunes: &mut [Task]) {
    let mut waves: Vec<i32> = prunes
        .iter()
        .filter(|t| matches!(t.action, Action::Prune { last: PruneLast::No, .. }))
        .map(|t| t.wave)
        .collect();
    waves.sort_unstable();
    waves.dedup();
    for task in prunes.iter_mut().filter(|t| matches!(t.action, Action::Prune { last: PruneLast::No, .. })) {
        if let Ok(i) = waves.binary_search(&task.wave)
            && let Some(&mirror) = waves.get(waves.len() - 1 - i)
        {
            task.wave = mirror;
        }
    }
}
