//! Pipeline expansion into Stages.
//!
//! Stage `i` of a Pipeline becomes a Stage that takes freight from the pipeline's warehouse:
//! directly when `i == 0`, otherwise once verified in stage `i - 1` and soaked there for the
//! stage's `requiredSoakTime`. Every Stage gets the shared promotion template, the pipeline's
//! vars overridden by its own, its own gates, verification, approval, auto-promotion and
//! application, the label `ferry.dev/pipeline=<pipeline>` and an owner reference to the
//! Pipeline (so deleting the Pipeline deletes its Stages).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::duration::{DurationError, parse_duration};
use crate::{
    FreightOrigin, FreightRequest, FreightSources, NAMESPACE, PIPELINE_LABEL, Pipeline, Stage, StageSpec, Var,
};

/// Why a Pipeline cannot be expanded. Each names the pipeline (and the stage).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpandError {
    /// `spec.stages` is empty.
    #[error("pipeline {pipeline} has no stages")]
    NoStages {
        /// The Pipeline.
        pipeline: String,
    },
    /// `spec.warehouse` is empty.
    #[error("pipeline {pipeline} names no warehouse")]
    NoWarehouse {
        /// The Pipeline.
        pipeline: String,
    },
    /// Two stages share a name.
    #[error("pipeline {pipeline} lists stage {stage} more than once")]
    DuplicateStage {
        /// The Pipeline.
        pipeline: String,
        /// The repeated name.
        stage: String,
    },
    /// A stage name is not a DNS-1123 label.
    #[error("pipeline {pipeline}: invalid stage name {stage:?}: {reason}")]
    InvalidStageName {
        /// The Pipeline.
        pipeline: String,
        /// The name.
        stage: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The first stage has no previous stage to soak in.
    #[error(
        "pipeline {pipeline}: stage {stage} is the first stage, so it has no previous stage to soak in (remove requiredSoakTime)"
    )]
    SoakOnFirstStage {
        /// The Pipeline.
        pipeline: String,
        /// The first stage.
        stage: String,
    },
    /// A `requiredSoakTime` does not parse.
    #[error("pipeline {pipeline}: stage {stage} has an invalid requiredSoakTime")]
    InvalidSoakTime {
        /// The Pipeline.
        pipeline: String,
        /// The stage.
        stage: String,
        /// The parse error.
        #[source]
        source: DurationError,
    },
}

/// Expands `pipeline` into its Stages, in pipeline order.
///
/// The Stages live in the Pipeline's namespace (default `ferry`). The owner reference is left
/// out when the Pipeline has no `metadata.uid` (not stored yet, e.g. a file being previewed).
pub fn expand(pipeline: &Pipeline) -> Result<Vec<Stage>, ExpandError> {
    let name = pipeline.name_any();
    let spec = &pipeline.spec;
    if spec.stages.is_empty() {
        return Err(ExpandError::NoStages { pipeline: name });
    }
    if spec.warehouse.trim().is_empty() {
        return Err(ExpandError::NoWarehouse { pipeline: name });
    }
    let mut seen = BTreeSet::new();
    for stage in &spec.stages {
        if let Err(reason) = check_dns_label(&stage.name) {
            return Err(ExpandError::InvalidStageName { pipeline: name, stage: stage.name.clone(), reason });
        }
        if !seen.insert(stage.name.as_str()) {
            return Err(ExpandError::DuplicateStage { pipeline: name, stage: stage.name.clone() });
        }
        if let Some(soak) = stage.required_soak_time.as_deref() {
            parse_duration(soak).map_err(|source| ExpandError::InvalidSoakTime {
                pipeline: name.clone(),
                stage: stage.name.clone(),
                source,
            })?;
        }
    }
    if let Some(first) = spec.stages.first().filter(|s| s.required_soak_time.is_some()) {
        return Err(ExpandError::SoakOnFirstStage { pipeline: name, stage: first.name.clone() });
    }

    let namespace = pipeline.namespace().unwrap_or_else(|| NAMESPACE.to_owned());
    let owner = owner_reference(pipeline);
    let origin = FreightOrigin::warehouse(&spec.warehouse);
    let mut previous: Option<&str> = None;
    let mut out = Vec::with_capacity(spec.stages.len());
    for stage in &spec.stages {
        let sources = match previous {
            None => FreightSources { direct: true, ..Default::default() },
            Some(up) => FreightSources {
                direct: false,
                stages: vec![up.to_owned()],
                required_soak_time: stage.required_soak_time.clone(),
                ..Default::default()
            },
        };
        let stage_spec = StageSpec {
            vars: merge_vars(&spec.vars, &stage.vars),
            requested_freight: vec![FreightRequest { origin: origin.clone(), sources }],
            promotion_template: Some(spec.promotion_template.clone()),
            auto_promotion: stage.auto_promotion.clone(),
            gates: stage.gates.clone(),
            verification: stage.verification.clone(),
            approval: stage.approval.clone(),
            application: stage.application.clone(),
            windows: stage.windows.clone(),
        };
        let mut object = Stage::new(&stage.name, stage_spec);
        object.metadata = ObjectMeta {
            name: Some(stage.name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(BTreeMap::from([(PIPELINE_LABEL.to_owned(), name.clone())])),
            owner_references: owner.clone().map(|o| vec![o]),
            ..Default::default()
        };
        out.push(object);
        previous = Some(&stage.name);
    }
    Ok(out)
}

/// `base` with each var of `overrides` replacing the one of the same name in place, and the
/// others appended in their order.
fn merge_vars(base: &[Var], overrides: &[Var]) -> Vec<Var> {
    let mut out = base.to_vec();
    for var in overrides {
        match out.iter_mut().find(|v| v.name == var.name) {
            Some(existing) => existing.value.clone_from(&var.value),
            None => out.push(var.clone()),
        }
    }
    out
}

fn owner_reference(pipeline: &Pipeline) -> Option<OwnerReference> {
    let uid = pipeline.metadata.uid.clone().filter(|u| !u.is_empty())?;
    Some(OwnerReference {
        api_version: Pipeline::api_version(&()).into_owned(),
        kind: Pipeline::kind(&()).into_owned(),
        name: pipeline.name_any(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Stage names must be DNS-1123 labels (not just object names): they are also label values,
/// parts of branch names (`environment/<stage>-next`) and of commit-status names.
fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > 63 {
        return Err(format!("must be at most 63 characters, has {}", name.len()));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err("must consist of lowercase letters, digits and '-'".to_owned());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
