//! The observed side of an Application, written by the controller.

use health::HealthStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema for [`HealthStatus`], which lives in the pure `health` crate and
/// does not derive `JsonSchema`.
fn health_status_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"],
    })
}

/// Schema for [`Time`], which k8s-openapi only describes with its
/// `schemars` feature; enabling that would change k8s-openapi for the whole
/// workspace for one string type.
fn time_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "format": "date-time",
    })
}

/// What the controller last observed about an app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Whether live state matches git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncState>,
    /// The worst health of the app's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthState>,
    /// Every resource the app manages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// The current or last operation: a state machine that survives restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// Past syncs, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
    /// Errors that stop the app from being compared or synced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationCondition>,
    /// When the app was last compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_schema")]
    pub reconciled_at: Option<Time>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Whether live state matches git, for an app or one resource.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, JsonSchema)]
pub enum SyncStatusCode {
    /// Live state matches git.
    Synced,
    /// Live state differs from git.
    OutOfSync,
    /// Not compared yet, or the comparison failed.
    #[default]
    Unknown,
}

/// The app's sync status and the revision it was compared against.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Synced, OutOfSync or Unknown.
    pub status: SyncStatusCode,
    /// The resolved commit SHA (for a chart from a Helm repository, its version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The tools that rendered the compared manifests, name → version
    /// (e.g. `kustomize` → `v5.5.0`), so a render can be reproduced.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tools: std::collections::BTreeMap<String, String>,
}

/// A health status with a human-readable reason.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    /// Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
    #[schemars(schema_with = "health_status_schema")]
    pub status: HealthStatus,
    /// Why, when not obvious.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One resource the app manages.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// Whether this resource matches git.
    pub status: SyncStatusCode,
    /// This resource's health; absent for kinds without a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthState>,
}

/// Phase of an operation.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum OperationPhase {
    /// In progress.
    Running,
    /// Finished, everything applied.
    Succeeded,
    /// Finished, some resource failed.
    Failed,
    /// Could not run (bad spec, unreachable repo, ...).
    Error,
    /// Being stopped on request.
    Terminating,
}

/// The current or last operation on an app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// The operation being run, as it was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<crate::Operation>,
    /// Running, Succeeded, Failed, Error or Terminating.
    pub phase: OperationPhase,
    /// What happened, or what is being waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the operation started.
    #[schemars(schema_with = "time_schema")]
    pub started_at: Time,
    /// When the operation finished; unset while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_schema")]
    pub finished_at: Option<Time>,
    /// Per-resource results so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncOperationResult>,
    /// How many times the operation has been retried after failing.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub retry_count: i64,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// Results of a sync operation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResult {
    /// The revision synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The source as it was when the sync started (auto-sync runs again
    /// when the source changes, even at the same revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::ApplicationSource>,
    /// One entry per resource touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceResult>,
}

/// Outcome for one resource of a sync.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum ResultCode {
    /// Applied.
    Synced,
    /// Apply failed.
    SyncFailed,
    /// Deleted because it is no longer in git.
    Pruned,
    /// Not deleted: pruning is off or the resource opts out.
    PruneSkipped,
}

/// Result for one resource of a sync: data, not an error.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// What happened to it.
    pub status: ResultCode,
    /// Detail, e.g. the API server's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The phase the resource was synced in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<SyncPhase>,
    /// The wave the resource was synced in.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wave: i32,
    /// For hooks: whether the hook is still running, or how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_phase: Option<HookPhase>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The phases of a sync, in the order they run (SyncFail only on failure).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
pub enum SyncPhase {
    /// Hooks that run before anything is applied.
    PreSync,
    /// The resources themselves (and Sync hooks).
    Sync,
    /// Hooks that run once everything is applied and healthy.
    PostSync,
    /// Hooks that run when the sync failed.
    SyncFail,
}

/// Where a hook is in its life.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum HookPhase {
    /// Created; waiting for it to finish.
    Running,
    /// Finished successfully (a Job completed, or the object became healthy).
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
}

/// One past sync.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionHistory {
    /// Increasing id, the argument to rollback.
    pub id: i64,
    /// The commit SHA synced.
    pub revision: String,
    /// When the sync finished.
    #[schemars(schema_with = "time_schema")]
    pub deployed_at: Time,
}

/// Kind of error condition on an app.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum ApplicationConditionType {
    /// The app could not be compared (repo unreachable, render failed, ...).
    ComparisonError,
    /// A sync could not run.
    SyncError,
    /// The spec is invalid (unknown destination, bad path, ...).
    InvalidSpecError,
}

/// An error condition on an app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// Which kind of error.
    #[serde(rename = "type")]
    pub type_: ApplicationConditionType,
    /// What went wrong, for a human.
    pub message: String,
    /// When the condition appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_schema")]
    pub last_transition_time: Option<Time>,
}
