//! Promotion resources (`ferry.dev/v1alpha1`) and the pure policy over them.
//!
//! - [`Warehouse`]: watches artifact sources and produces [`Freight`].
//! - [`Freight`]: an immutable, content-addressed set of versions with a human alias.
//! - [`Stage`]: an environment that requests freight, promotes it with steps and verifies it.
//! - [`Promotion`]: one run of a stage's steps for one freight (a state machine in status).
//! - [`CommitStatus`]: a keyed opinion about a commit; the universal gate.
//! - [`Pipeline`]: stages in order over one warehouse; expanded into Stages.
//! - [`PullRequest`]: the local SCM provider's pull requests.
//!
//! Field names follow Kargo's where the concept is the same.
//!
//! Invariant: this crate does no IO. It holds the types, the CRDs generated from them, and
//! pure functions of them (naming, eligibility, selection, gates, expansion, statistics).

mod commit_status;
pub mod duration;
pub mod eligibility;
pub mod expand;
mod freight;
pub mod gates;
pub mod naming;
mod pipeline;
mod promotion;
pub mod run;
pub mod selection;
mod stage;
pub mod stats;
mod warehouse;
pub mod windows;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use commit_status::{
    CommitStatus, CommitStatusPhase, CommitStatusSpec, PullRequest, PullRequestSpec, PullRequestState,
    PullRequestStatus,
};
pub use freight::{
    ApprovedStage, Chart, CurrentStage, Freight, FreightFields, FreightOrigin, FreightReference, FreightStatus,
    GitCommit, Image, VerifiedStage,
};
pub use pipeline::{Pipeline, PipelineSpec, PipelineStage, PipelineStatus};
pub use promotion::{
    ABORT_ANNOTATION, NoSteps, Promotion, PromotionPhase, PromotionSpec, PromotionStatus, StepPhase, StepStatus,
    new_promotion, promotion_name, stage_vars,
};
pub use stage::{
    Approval, AutoPromotion, AvailabilityStrategy, FreightRequest, FreightSources, Gates, HttpCheck, InterruptPolicy,
    JobCheck, PromotionReference, PromotionStep, PromotionTemplate, PromotionTemplateSpec, SelectionPolicy, Stage,
    StageSpec, StageStatus, StepRetry, Var, Verification,
};
pub use warehouse::{
    ChartSubscription, CommitSelectionStrategy, DiscoveredArtifacts, FreightCreationPolicy, GitSubscription,
    ImageSelectionStrategy, ImageSubscription, Subscription, Warehouse, WarehouseSpec, WarehouseStatus,
};

/// The namespace promotion resources live in.
pub const NAMESPACE: &str = "ferry";

/// The git trailer on every commit ferry makes (hydration, promotion). Its value is the
/// Promotion's name. Warehouses skip commits carrying it, so ferry's own commits never
/// become new freight.
pub const PROMOTION_TRAILER: &str = "Ferry-Promotion";

/// The git trailer naming the freight a ferry commit carries.
pub const FREIGHT_TRAILER: &str = "Ferry-Freight";

/// The git trailer naming a dry (source) commit a hydrated commit was rendered from.
pub const SOURCE_TRAILER: &str = "Ferry-Source-Commit";

/// Label on Stages a Pipeline owns: the Pipeline's name.
pub const PIPELINE_LABEL: &str = "ferry.dev/pipeline";

/// Label on Promotions and CommitStatuses: the Stage's name.
pub const STAGE_LABEL: &str = "ferry.dev/stage";

/// Annotation on Freight: when its warehouse made it (RFC 3339 with nanoseconds), so freight made
/// within one second still orders newest first.
pub const CREATED_ANNOTATION: &str = "ferry.dev/created-at";

/// Label on Freight: the origin Warehouse's name.
pub const WAREHOUSE_LABEL: &str = "ferry.dev/warehouse";

/// Commit-status keys ferry posts itself.
pub mod keys {
    /// The stage's application is Healthy at the commit.
    pub const HEALTH: &str = "ferry.dev/health";
    /// The freight has soaked in the stage for the required time.
    pub const SOAK: &str = "ferry.dev/soak";
    /// A human approved the freight for the stage (`ferry approve`).
    pub const APPROVAL: &str = "ferry.dev/approval";
    /// The current time is inside the stage's allowed windows.
    pub const WINDOW: &str = "ferry.dev/window";
}

/// A status condition, as in `metav1.Condition`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Verified`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Every CRD of this crate.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Warehouse::crd(),
        Freight::crd(),
        Stage::crd(),
        Promotion::crd(),
        CommitStatus::crd(),
        Pipeline::crd(),
        PullRequest::crd(),
    ]
}

/// Schema of a free-form JSON object (`x-kubernetes-preserve-unknown-fields`).
fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Schema of a map from names to free-form JSON values.
fn any_object_map(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true }
    })
}

#[cfg(test)]
mod tests;
