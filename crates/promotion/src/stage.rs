//! The Stage resource: an environment that requests, promotes and verifies freight.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Condition, FreightOrigin, FreightReference};

/// A Stage's desired behaviour.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Stage",
    namespaced,
    status = "StageStatus",
    derive = "PartialEq",
    category = "ferry",
    doc = "An environment: which freight it accepts, how it is promoted, and how it is verified",
    printcolumn(name = "Freight", type_ = "string", json_path = ".status.freightAlias"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StageSpec {
    /// Variables for the promotion steps' expressions (`vars.name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// Where freight may come from.
    pub requested_freight: Vec<FreightRequest>,
    /// The steps a promotion runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_template: Option<PromotionTemplate>,
    /// Automatic promotion; off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion: Option<AutoPromotion>,
    /// Commit statuses that must be `success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    /// What makes freight verified here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Freight must be approved for this stage (`ferry approve`) before it is promoted or merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The ferry Application this stage deploys, for health and verification (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// When promotions may land (cron allow/deny windows, UTC); ferry posts `ferry.dev/window`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<crate::windows::Window>,
}

/// A named value.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Var {
    /// The name (`vars.<name>` in expressions).
    pub name: String,
    /// The value; may itself hold `${{ }}` expressions.
    #[serde(default)]
    pub value: String,
}

/// One origin of freight and the paths it may take to this stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightRequest {
    /// The Warehouse.
    pub origin: FreightOrigin,
    /// Direct from the Warehouse, or through upstream stages.
    #[serde(default)]
    pub sources: FreightSources,
}

/// The paths freight may take.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightSources {
    /// Straight from the Warehouse.
    #[serde(default)]
    pub direct: bool,
    /// After being verified in these upstream stages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// How long it must have run in the upstream stage (`1h`, `30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_soak_time: Option<String>,
    /// With several upstream stages: verified in one of them, or in all.
    #[serde(default)]
    pub availability_strategy: AvailabilityStrategy,
}

/// Fan-in rule over upstream stages.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum AvailabilityStrategy {
    /// Verified in any one upstream stage.
    #[default]
    OneOf,
    /// Verified in every upstream stage.
    All,
}

/// The steps of a promotion.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTemplate {
    /// The template.
    pub spec: PromotionTemplateSpec,
}

/// Vars and steps.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTemplateSpec {
    /// Variables, after the stage's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<PromotionStep>,
}

/// One step: a built-in (`uses: git-clone`) with its config.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStep {
    /// The step kind (`git-clone`, `hydrate`, `exec`, …).
    pub uses: String,
    /// An alias; later steps read its outputs as `outputs.<as>`.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// A condition expression; the step is skipped when it is false.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_: Option<String>,
    /// The step's configuration; strings may hold `${{ }}` expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::any_object")]
    pub config: Option<serde_json::Value>,
    /// Retries for errored attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<StepRetry>,
}

/// How an errored step is retried.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRetry {
    /// Consecutive errors tolerated before the promotion fails (default 1 = no retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_threshold: Option<u32>,
    /// How long a `running` step may keep running (`10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Automatic promotion.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoPromotion {
    /// On or off (default on when the field is present).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Which freight to pick.
    #[serde(default)]
    pub selection_policy: SelectionPolicy,
    /// What a newer freight does to a promotion not yet landed.
    #[serde(default)]
    pub interrupt_policy: InterruptPolicy,
}

fn yes() -> bool {
    true
}

/// Which freight auto-promotion picks.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum SelectionPolicy {
    /// The newest freight available to the stage.
    #[default]
    NewestFreight,
    /// The freight the upstream stage currently runs.
    MatchUpstream,
}

/// What a newer freight does to a promotion that has not landed.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum InterruptPolicy {
    /// The newer freight supersedes it; its open PR is updated in place.
    #[default]
    ReleaseLatest,
    /// The newer freight waits its turn.
    Queue,
}

/// Commit-status gates.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gates {
    /// Keys that must be `success` on the proposed commit before it lands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposed: Vec<String>,
    /// Keys that must be `success` on the active commit before freight counts as verified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
}

/// What verifies freight in a stage.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// How long the app must stay Healthy at the promoted revision (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_soak_time: Option<String>,
    /// An HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// A Job run on the destination that must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobCheck>,
}

/// An HTTP verification check.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// The URL (may hold expressions).
    pub url: String,
    /// GET by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A CEL expression over `response.status`, `response.body`, `response.headers`; default: status is 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_expression: Option<String>,
    /// Per-request timeout (`10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// A Job verification check.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobCheck {
    /// The namespace on the stage's destination (default: the application's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Job's `spec` (a `batch/v1` JobSpec).
    #[schemars(schema_with = "crate::any_object")]
    pub spec: serde_json::Value,
}

/// Manual approval.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Approval is required (default true when the field is present).
    #[serde(default = "yes")]
    pub required: bool,
}

/// What a Stage runs and how it is doing.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Steady`, `Promoting`, `Verifying` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The freight the stage runs (the last successful promotion's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_freight: Option<FreightReference>,
    /// Its alias, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight_alias: Option<String>,
    /// The commit the stage's application runs (the active hydrated commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_commit: Option<String>,
    /// Health of the stage's application (a HealthStatus name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Since when the current freight has been Healthy (RFC 3339), for soak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<String>,
    /// The promotion running now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_promotion: Option<String>,
    /// The last promotion that ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion: Option<PromotionReference>,
    /// `Ready`, `Verified`, or why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A promotion that ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionReference {
    /// The Promotion's name.
    pub name: String,
    /// Its freight.
    pub freight: FreightReference,
    /// Its final phase.
    pub phase: crate::PromotionPhase,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}
