//! Reconciles Pipelines: expands each into the Stages it owns (server-side applied, labelled
//! `ferry.dev/pipeline`, owned by the Pipeline) and deletes the owned Stages it no longer lists.
//! An invalid Pipeline applies nothing and says why in its status.

use std::sync::Arc;

use kube::ResourceExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use promotion::{Pipeline, PipelineStatus};
use serde_json::json;

use crate::{Context, ReconcileError};

/// One pass over one Pipeline.
pub(crate) async fn reconcile(pipeline: Arc<Pipeline>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = pipeline.name_any();
    let old = pipeline.status.clone().unwrap_or_default();
    let mut status = PipelineStatus { observed_generation: pipeline.metadata.generation, ..Default::default() };
    match promotion::expand::expand(&pipeline) {
        Err(error) => {
            status.stages = old.stages.clone();
            status.message = Some(error.to_string());
        }
        Ok(stages) => {
            let params = PatchParams::apply(crate::FIELD_MANAGER).force();
            for stage in &stages {
                let stage_name = stage.name_any();
                let mut object = serde_json::to_value(stage).unwrap_or_default();
                object["apiVersion"] = json!("ferry.dev/v1alpha1");
                object["kind"] = json!("Stage");
                if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    metadata.insert("namespace".into(), json!(promotion::NAMESPACE));
                }
                // Status is the stage controller's, never part of the expansion.
                if let Some(map) = object.as_object_mut() {
                    map.remove("status");
                }
                context
                    .stages
                    .patch(&stage_name, &params, &Patch::Apply(&object))
                    .await
                    .map_err(|source| ReconcileError::kube("apply", "Stage", &stage_name, source))?;
                status.stages.push(stage_name);
            }
            let owned = context
                .stages
                .list(&ListParams::default().labels(&format!("{}={name}", promotion::PIPELINE_LABEL)))
                .await
                .map_err(|source| ReconcileError::kube("list", "Stage", &name, source))?;
            for stale in owned.items.iter().filter(|s| !status.stages.contains(&s.name_any())) {
                let stale_name = stale.name_any();
                match context.stages.delete(&stale_name, &DeleteParams::default()).await {
                    Ok(_) => tracing::info!(pipeline = %name, stage = %stale_name, "stage removed from pipeline"),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => return Err(ReconcileError::kube("delete", "Stage", &stale_name, source)),
                }
            }
        }
    }
    if status != old {
        context
            .pipelines
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({ "status": status })))
            .await
            .map_err(|source| ReconcileError::kube("write status of", "Pipeline", &name, source))?;
    }
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Pipeline>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "pipeline reconcile failed");
    crate::retry_after_error()
}
