//! The Promotion resource: one run of a stage's steps for one freight.
//!
//! The run is a state machine kept in `status`, so a restarted controller resumes at the step
//! it was running; every built-in step is idempotent for that reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::{CustomResource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Freight, PromotionStep, Stage, Var};

/// Annotation that asks for a running promotion to be aborted; the value is who asked.
pub const ABORT_ANNOTATION: &str = "ferry.dev/abort";

/// What to promote where, and how.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Promotion",
    namespaced,
    status = "PromotionStatus",
    derive = "PartialEq",
    shortname = "promo",
    category = "ferry",
    doc = "One run of a stage's promotion steps for one freight",
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stage"),
    printcolumn(name = "Freight", type_ = "string", json_path = ".spec.freight"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PromotionSpec {
    /// The Stage.
    pub stage: String,
    /// The Freight's name.
    pub freight: String,
    /// Variables (the stage's and the template's, copied when the promotion was created).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// The steps, copied from the stage's template when the promotion was created.
    #[serde(default)]
    pub steps: Vec<PromotionStep>,
}

/// Where a promotion is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema, PartialOrd, Ord, Hash)]
pub enum PromotionPhase {
    /// Waiting for its turn (one promotion runs per stage).
    #[default]
    Pending,
    /// Running its steps.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed (a clear user-facing reason).
    Failed,
    /// A step errored more times than its retry allows.
    Errored,
    /// Someone aborted it, or a newer freight superseded it (ReleaseLatest).
    Aborted,
}

impl PromotionPhase {
    /// Whether the promotion has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Errored | Self::Aborted)
    }
}

/// How a step ended, or where it is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum StepPhase {
    /// Not started.
    #[default]
    Pending,
    /// Started; will be called again.
    Running,
    /// Done.
    Succeeded,
    /// Its `if` was false.
    Skipped,
    /// Failed for good.
    Failed,
    /// Errored (may be retried).
    Errored,
    /// Aborted.
    Aborted,
}

/// The state of a promotion run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    /// The phase.
    #[serde(default)]
    pub phase: PromotionPhase,
    /// Why it is in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The index of the step running now.
    #[serde(default)]
    pub current_step: u32,
    /// Per step, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepStatus>,
    /// Outputs by step alias (bounded in size).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "crate::any_object_map")]
    pub state: BTreeMap<String, serde_json::Value>,
    /// The freight's alias, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freight_alias: Option<String>,
    /// The commit the promotion landed (what the stage now runs), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed_commit: Option<String>,
    /// The pull request it opened, when any (URL or `local/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    /// When it started running (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// One step's run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// The step's alias (`as`) or `step-<index>`.
    pub alias: String,
    /// The step kind.
    pub uses: String,
    /// Where it is.
    #[serde(default)]
    pub phase: StepPhase,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Consecutive errors so far.
    #[serde(default)]
    pub errors: u32,
    /// When it started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A stage has no steps to promote with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stage {stage:?} has no promotion steps (spec.promotionTemplate.spec.steps)")]
pub struct NoSteps {
    /// The stage.
    pub stage: String,
}

/// A stage's vars as its promotions and verification see them: the stage's, then its template's.
pub fn stage_vars(stage: &Stage) -> Vec<crate::Var> {
    let mut vars = stage.spec.vars.clone();
    vars.extend(stage.spec.promotion_template.as_ref().map(|t| t.spec.vars.clone()).unwrap_or_default());
    vars
}

/// The Promotion of `freight` to `stage` created at `now` (by `ferry promote` or by
/// auto-promotion): vars are the stage's then its template's, steps the template's, copied so
/// later edits of the stage do not change a promotion under way.
pub fn new_promotion(stage: &Stage, freight: &Freight, now: DateTime<Utc>) -> Result<Promotion, NoSteps> {
    let stage_name = stage.name_any();
    let template = stage.spec.promotion_template.as_ref().map(|t| &t.spec);
    let steps = template.map(|t| t.steps.clone()).unwrap_or_default();
    if steps.is_empty() {
        return Err(NoSteps { stage: stage_name });
    }
    let vars = stage_vars(stage);
    let mut promotion = Promotion::new(
        &promotion_name(&stage_name, &freight.name_any(), now),
        PromotionSpec { stage: stage_name.clone(), freight: freight.name_any(), vars, steps },
    );
    promotion.metadata.namespace = Some(crate::NAMESPACE.to_owned());
    // A label value is at most 63 characters; longer stage names go unlabelled
    // (spec.stage still names the stage).
    if stage_name.len() <= 63 {
        promotion.metadata.labels = Some(BTreeMap::from([(crate::STAGE_LABEL.to_owned(), stage_name)]));
    }
    Ok(promotion)
}

/// `<stage>-<freight short>-<time>`: unique per millisecond, sortable by creation within a
/// stage, and a valid object name (at most 253).
pub fn promotion_name(stage: &str, freight: &str, now: DateTime<Utc>) -> String {
    let stage: String = stage.chars().take(200).collect();
    let short: String =
        freight.chars().filter(|c| c.is_ascii_alphanumeric()).take(7).collect::<String>().to_lowercase();
    format!("{stage}-{short}-{:x}", now.timestamp_millis().max(0))
}
