//! Sync annotations, parsed once into typed values.
//!
//! Every annotation is read under `ferry.dev/` and under Argo CD's
//! `argocd.argoproj.io/`; when an object carries both, ferry's wins, so a
//! migrated manifest can override its Argo CD heritage without editing it.
//!
//! Helm's hook annotations are understood as Argo CD understands them, when
//! neither prefix sets a hook: `helm.sh/hook` pre-install/pre-upgrade →
//! PreSync, post-install/post-upgrade → PostSync (other Helm hook types, such
//! as `test`, are not run: the object is skipped), `helm.sh/hook-weight` →
//! sync wave, `helm.sh/hook-delete-policy` → delete policy. `crd-install` is
//! Helm 2's marker for CRDs, which are ordinary resources.

use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use super::Phase;

/// ferry's annotation prefix; wins over [`ARGOCD_PREFIX`].
pub const FERRY_PREFIX: &str = "ferry.dev/";
/// Argo CD's annotation prefix, read unchanged.
pub const ARGOCD_PREFIX: &str = "argocd.argoproj.io/";
/// Helm's hook annotation.
const HELM_HOOK: &str = "helm.sh/hook";
/// Helm's hook ordering, a fallback for the sync wave.
const HELM_HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's hook delete policy.
const HELM_HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// An annotation whose value cannot be understood. The object's identity is
/// added by the caller ([`super::PlanError::Annotation`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnnotationError {
    /// The value is not a string (annotations are string maps).
    #[error("{annotation} must be a string")]
    NotString {
        /// Full annotation name.
        annotation: String,
    },
    /// The sync wave is not a 32-bit integer.
    #[error("{annotation}: {value:?} is not an integer sync wave")]
    Wave {
        /// Full annotation name.
        annotation: String,
        /// The value found.
        value: String,
    },
    /// A hook type is not one of PreSync, Sync, PostSync, SyncFail, Skip.
    #[error("{annotation}: unknown hook type {value:?} (expected PreSync, Sync, PostSync, SyncFail or Skip)")]
    HookType {
        /// Full annotation name.
        annotation: String,
        /// The offending entry.
        value: String,
    },
    /// A delete policy is not one of HookSucceeded, HookFailed, BeforeHookCreation.
    #[error(
        "{annotation}: unknown hook delete policy {value:?} (expected HookSucceeded, HookFailed or BeforeHookCreation)"
    )]
    DeletePolicy {
        /// Full annotation name.
        annotation: String,
        /// The offending entry.
        value: String,
    },
}

/// One entry of the `hook` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookType {
    /// Runs before the Sync phase.
    PreSync,
    /// Runs with the ordinary resources.
    Sync,
    /// Runs after every Sync-phase resource is healthy.
    PostSync,
    /// Runs only when the sync fails.
    SyncFail,
    /// The object is neither a hook nor applied: it is left alone.
    Skip,
}

impl HookType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "PreSync" => Self::PreSync,
            "Sync" => Self::Sync,
            "PostSync" => Self::PostSync,
            "SyncFail" => Self::SyncFail,
            "Skip" => Self::Skip,
            _ => return None,
        })
    }

    /// The phase this hook runs in; `None` for [`HookType::Skip`].
    pub fn phase(self) -> Option<Phase> {
        match self {
            Self::PreSync => Some(Phase::PreSync),
            Self::Sync => Some(Phase::Sync),
            Self::PostSync => Some(Phase::PostSync),
            Self::SyncFail => Some(Phase::SyncFail),
            Self::Skip => None,
        }
    }
}

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeletePolicy {
    /// After the hook succeeded.
    HookSucceeded,
    /// After the hook failed.
    HookFailed,
    /// Before the hook is created again (the default, as in Argo CD).
    BeforeHookCreation,
}

impl DeletePolicy {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "HookSucceeded" => Self::HookSucceeded,
            "HookFailed" => Self::HookFailed,
            "BeforeHookCreation" => Self::BeforeHookCreation,
            _ => return None,
        })
    }
}

impl fmt::Display for DeletePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The hook annotations of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Hook types, sorted and without duplicates; never empty.
    pub types: Vec<HookType>,
    /// Delete policies, sorted and without duplicates; never empty for a
    /// hook (defaults to [`DeletePolicy::BeforeHookCreation`]).
    pub delete_policies: Vec<DeletePolicy>,
}

impl Hook {
    /// Whether the object is marked Skip: it is then not synced at all.
    pub fn is_skip(&self) -> bool {
        self.types.contains(&HookType::Skip)
    }

    /// The phases the hook runs in, in execution order.
    pub fn phases(&self) -> impl Iterator<Item = Phase> + '_ {
        self.types.iter().filter_map(|t| t.phase())
    }
}

/// A three-way permission, as for `Prune=` and `Delete=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `=true`.
    Allowed,
    /// `=false`: never done by ferry.
    Denied,
    /// `=confirm`: done only after a user confirms.
    Confirm,
}

/// Deletion propagation for pruned objects (`PrunePropagationPolicy=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Dependents first.
    Foreground,
    /// Owner first, dependents by the garbage collector.
    Background,
    /// Dependents are left behind.
    Orphan,
}

/// The `sync-options` annotation. `None` means "not set on the object", so
/// the Application's own sync options apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// `Prune=true|false|confirm`.
    pub prune: Option<Permission>,
    /// `PruneLast=true`: prune after every other task.
    pub prune_last: Option<bool>,
    /// `Delete=true|false|confirm`: whether deleting the app deletes it.
    pub delete: Option<Permission>,
    /// `Replace=true`: replace instead of apply.
    pub replace: Option<bool>,
    /// `Force=true`: delete and recreate when apply fails.
    pub force: Option<bool>,
    /// `ServerSideApply=true|false`.
    pub server_side_apply: Option<bool>,
    /// `Validate=false`: skip schema validation.
    pub validate: Option<bool>,
    /// `SkipDryRunOnMissingResource=true`: the kind may not exist yet.
    pub skip_dry_run_on_missing_resource: Option<bool>,
    /// `CreateNamespace=true`.
    pub create_namespace: Option<bool>,
    /// `ApplyOutOfSyncOnly=true`.
    pub apply_out_of_sync_only: Option<bool>,
    /// `RespectIgnoreDifferences=true`.
    pub respect_ignore_differences: Option<bool>,
    /// `FailOnSharedResource=true`.
    pub fail_on_shared_resource: Option<bool>,
    /// `PrunePropagationPolicy=foreground|background|orphan`.
    pub prune_propagation_policy: Option<PropagationPolicy>,
}

impl SyncOptions {
    /// Parses a comma list of `Name=value`. Unknown names or values are
    /// returned as warnings, not errors: a typo must not block a sync, and
    /// newer Argo CD options should not break older ferry.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut options = Self::default();
        let mut warnings = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry.split_once('=').map_or((entry, ""), |(n, v)| (n.trim(), v.trim()));
            let known = match name {
                "Prune" => set(&mut options.prune, permission(value)),
                "Delete" => set(&mut options.delete, permission(value)),
                "PruneLast" => set(&mut options.prune_last, boolean(value)),
                "Replace" => set(&mut options.replace, boolean(value)),
                "Force" => set(&mut options.force, boolean(value)),
                "ServerSideApply" => set(&mut options.server_side_apply, boolean(value)),
                "Validate" => set(&mut options.validate, boolean(value)),
                "SkipDryRunOnMissingResource" => set(&mut options.skip_dry_run_on_missing_resource, boolean(value)),
                "CreateNamespace" => set(&mut options.create_namespace, boolean(value)),
                "ApplyOutOfSyncOnly" => set(&mut options.apply_out_of_sync_only, boolean(value)),
                "RespectIgnoreDifferences" => set(&mut options.respect_ignore_differences, boolean(value)),
                "FailOnSharedResource" => set(&mut options.fail_on_shared_resource, boolean(value)),
                "PrunePropagationPolicy" => set(&mut options.prune_propagation_policy, propagation(value)),
                _ => {
                    warnings.push(format!("unknown sync option {entry:?}"));
                    continue;
                }
            };
            if !known {
                warnings.push(format!("unknown value in sync option {entry:?}"));
            }
        }
        (options, warnings)
    }
}

impl fmt::Display for SyncOptions {
    /// Renders the options that are set, in Argo CD spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let permission = |p: Permission| match p {
            Permission::Allowed => "true",
            Permission::Denied => "false",
            Permission::Confirm => "confirm",
        };
        let mut parts: Vec<String> = Vec::new();
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        };
        push("Prune", self.prune.map(|p| permission(p).to_owned()));
        push("PruneLast", self.prune_last.map(|b| b.to_string()));
        push("Delete", self.delete.map(|p| permission(p).to_owned()));
        push("Replace", self.replace.map(|b| b.to_string()));
        push("Force", self.force.map(|b| b.to_string()));
        push("ServerSideApply", self.server_side_apply.map(|b| b.to_string()));
        push("Validate", self.validate.map(|b| b.to_string()));
        push("SkipDryRunOnMissingResource", self.skip_dry_run_on_missing_resource.map(|b| b.to_string()));
        push("CreateNamespace", self.create_namespace.map(|b| b.to_string()));
        push("ApplyOutOfSyncOnly", self.apply_out_of_sync_only.map(|b| b.to_string()));
        push("RespectIgnoreDifferences", self.respect_ignore_differences.map(|b| b.to_string()));
        push("FailOnSharedResource", self.fail_on_shared_resource.map(|b| b.to_string()));
        push("PrunePropagationPolicy", self.prune_propagation_policy.map(|p| format!("{p:?}").to_lowercase()));
        f.write_str(&parts.join(","))
    }
}

/// The `compare-options` annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// `IgnoreExtraneous`: the object does not make the app OutOfSync.
    pub ignore_extraneous: bool,
    /// `ServerSideDiff=true|false`.
    pub server_side_diff: Option<bool>,
    /// `IncludeMutationWebhook=true|false`.
    pub include_mutation_webhook: Option<bool>,
}

impl CompareOptions {
    /// Parses a comma list; unknown entries become warnings.
    pub fn parse(text: &str) -> (Self, Vec<String>) {
        let mut options = Self::default();
        let mut warnings = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry.split_once('=').map_or((entry, None), |(n, v)| (n.trim(), Some(v.trim())));
            let known = match (name, value) {
                ("IgnoreExtraneous", None) => {
                    options.ignore_extraneous = true;
                    true
                }
                ("ServerSideDiff", Some(v)) => set(&mut options.server_side_diff, boolean(v)),
                ("IncludeMutationWebhook", Some(v)) => set(&mut options.include_mutation_webhook, boolean(v)),
                _ => false,
            };
            if !known {
                warnings.push(format!("unknown compare option {entry:?}"));
            }
        }
        (options, warnings)
    }
}

/// Everything the sync annotations of one object say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Sync wave; 0 when absent.
    pub wave: i32,
    /// Hook settings; `None` for an ordinary resource.
    pub hook: Option<Hook>,
    /// Per-resource sync options.
    pub sync_options: SyncOptions,
    /// Per-resource compare options.
    pub compare_options: CompareOptions,
}

impl Annotations {
    /// Parses the sync annotations of `object`. Returns the typed values and
    /// the warnings (unknown options) worth showing to the user.
    pub fn parse(object: &Value) -> Result<(Self, Vec<String>), AnnotationError> {
        let empty = Map::new();
        let map = annotation_map(object).unwrap_or(&empty);
        let mut warnings = Vec::new();
        let wave = parse_wave(map)?;
        let hook = parse_hook(map)?;
        let sync_options = match lookup(map, "sync-options")? {
            Some((_, text)) => {
                let (options, w) = SyncOptions::parse(text);
                warnings.extend(w);
                options
            }
            None => SyncOptions::default(),
        };
        let compare_options = match lookup(map, "compare-options")? {
            Some((_, text)) => {
                let (options, w) = CompareOptions::parse(text);
                warnings.extend(w);
                options
            }
            None => CompareOptions::default(),
        };
        Ok((Self { wave, hook, sync_options, compare_options }, warnings))
    }
}

pub(crate) fn annotation_map(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata")?.get("annotations")?.as_object()
}

/// Finds `name` under ferry's prefix, else Argo CD's; returns the full
/// annotation name (for messages) and the value.
fn lookup<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<(String, &'a str)>, AnnotationError> {
    for prefix in [FERRY_PREFIX, ARGOCD_PREFIX] {
        let annotation = format!("{prefix}{name}");
        if let Some(value) = map.get(&annotation) {
            return match value.as_str() {
                Some(text) => Ok(Some((annotation, text))),
                None => Err(AnnotationError::NotString { annotation }),
            };
        }
    }
    Ok(None)
}

pub(crate) fn parse_wave(map: &Map<String, Value>) -> Result<i32, AnnotationError> {
    match lookup(map, "sync-wave")? {
        // Helm itself reads an unparsable weight as 0; so does Argo CD.
        None => Ok(map.get(HELM_HOOK_WEIGHT).and_then(Value::as_str).and_then(|w| w.trim().parse().ok()).unwrap_or(0)),
        Some((annotation, text)) => {
            text.trim().parse().map_err(|_| AnnotationError::Wave { annotation, value: text.to_owned() })
        }
    }
}

/// Whether the object carries a hook annotation under either prefix, or is
/// a Helm hook.
pub(crate) fn has_hook(map: &Map<String, Value>) -> bool {
    [FERRY_PREFIX, ARGOCD_PREFIX].iter().any(|prefix| map.contains_key(&format!("{prefix}hook")))
        || helm_hook(map).is_some()
}

/// The value of `helm.sh/hook`, unless it only marks a Helm 2 CRD.
fn helm_hook(map: &Map<String, Value>) -> Option<&str> {
    map.get(HELM_HOOK).and_then(Value::as_str).filter(|text| text.trim() != "crd-install")
}

/// A Helm hook as Argo CD runs it; see the module documentation.
fn parse_helm_hook(text: &str, map: &Map<String, Value>) -> Hook {
    let mut types: Vec<HookType> = text
        .split(',')
        .filter_map(|entry| match entry.trim() {
            "pre-install" | "pre-upgrade" => Some(HookType::PreSync),
            "post-install" | "post-upgrade" => Some(HookType::PostSync),
            _ => None,
        })
        .collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        types.push(HookType::Skip);
    }
    let mut delete_policies: Vec<DeletePolicy> = map
        .get(HELM_HOOK_DELETE_POLICY)
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .filter_map(|entry| match entry.trim() {
            "before-hook-creation" => Some(DeletePolicy::BeforeHookCreation),
            "hook-succeeded" => Some(DeletePolicy::HookSucceeded),
            "hook-failed" => Some(DeletePolicy::HookFailed),
            _ => None,
        })
        .collect();
    delete_policies.sort();
    delete_policies.dedup();
    if delete_policies.is_empty() {
        delete_policies.push(DeletePolicy::BeforeHookCreation);
    }
    Hook { types, delete_policies }
}

fn parse_hook(map: &Map<String, Value>) -> Result<Option<Hook>, AnnotationError> {
    let Some((annotation, text)) = lookup(map, "hook")? else {
        return Ok(helm_hook(map).map(|text| parse_helm_hook(text, map)));
    };
    let mut types = Vec::new();
    for entry in text.split(',').map(str::trim) {
        // An empty or misspelt type would silently turn a hook into an
        // ordinary resource (or drop it): refuse it instead.
        let ty = HookType::parse(entry)
            .ok_or_else(|| AnnotationError::HookType { annotation: annotation.clone(), value: entry.to_owned() })?;
        types.push(ty);
    }
    types.sort();
    types.dedup();
    let mut delete_policies = Vec::new();
    if let Some((annotation, text)) = lookup(map, "hook-delete-policy")? {
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let policy = DeletePolicy::parse(entry).ok_or_else(|| AnnotationError::DeletePolicy {
                annotation: annotation.clone(),
                value: entry.to_owned(),
            })?;
            delete_policies.push(policy);
        }
    }
    delete_policies.sort();
    delete_policies.dedup();
    if delete_policies.is_empty() {
        delete_policies.push(DeletePolicy::BeforeHookCreation);
    }
    Ok(Some(Hook { types, delete_policies }))
}

/// Parses the sync options of an object, warnings discarded; used for live
/// objects, whose annotations must never block a sync.
pub(crate) fn lenient_sync_options(map: &Map<String, Value>) -> SyncOptions {
    match lookup(map, "sync-options") {
        Ok(Some((_, text))) => SyncOptions::parse(text).0,
        _ => SyncOptions::default(),
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *slot = Some(v);
            true
        }
        None => false,
    }
}

fn boolean(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn permission(value: &str) -> Option<Permission> {
    match value {
        "true" => Some(Permission::Allowed),
        "false" => Some(Permission::Denied),
        "confirm" => Some(Permission::Confirm),
        _ => None,
    }
}

fn propagation(value: &str) -> Option<PropagationPolicy> {
    match value {
        "foreground" => Some(PropagationPolicy::Foreground),
        "background" => Some(PropagationPolicy::Background),
        "orphan" => Some(PropagationPolicy::Orphan),
        _ => None,
    }
}
