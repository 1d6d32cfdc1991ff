//! The Pipeline resource: a shorthand that expands into Stages.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Approval, AutoPromotion, Gates, PromotionTemplate, Var, Verification};

/// An ordered list of stages over one warehouse with one shared promotion template.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Pipeline",
    namespaced,
    status = "PipelineStatus",
    derive = "PartialEq",
    category = "ferry",
    doc = "Stages in order over one warehouse with a shared promotion template; expanded into Stages",
    printcolumn(name = "Warehouse", type_ = "string", json_path = ".spec.warehouse"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// The Warehouse the first stage takes freight from.
    pub warehouse: String,
    /// Variables shared by every stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// The shared promotion template.
    pub promotion_template: PromotionTemplate,
    /// The stages, in promotion order; each takes freight verified in the one before it.
    pub stages: Vec<PipelineStage>,
}

/// One stage of a pipeline.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStage {
    /// The Stage's name.
    pub name: String,
    /// Variables for this stage (override the pipeline's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// Soak required in the previous stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_soak_time: Option<String>,
    /// Automatic promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion: Option<AutoPromotion>,
    /// Gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<Gates>,
    /// Verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Manual approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The Application the stage deploys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// When promotions may land (cron allow/deny windows, UTC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<crate::windows::Window>,
}

/// What the expansion produced.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineStatus {
    /// The `metadata.generation` expanded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Stages it owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// Why expansion failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
