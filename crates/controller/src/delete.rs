//! Deleting an Application: with the finalizer `ferry.dev/resources-finalizer`
//! its resources are deleted first (cascade); without it they stay.

use std::time::Duration;

use application::{Application, FINALIZER};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::controller::Action;
use serde_json::json;

use crate::Context;
use crate::reconcile::ReconcileError;

pub(crate) async fn finalize(app: &Application, context: &Context) -> Result<Action, ReconcileError> {
    let name = app.name_any();
    if !app.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let destination = match context.clusters.resolve(&app.spec.spec.destination).await {
        Ok(destination) => destination,
        Err(error) => {
            // The destination is gone or broken: nothing can be deleted. Keep
            // the finalizer (the user decides by removing it) and say why.
            tracing::warn!(app = %name, %error, "cannot delete resources: destination unavailable");
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    let live = &destination.live;
    // Make sure every kind the app managed is watched, or its objects would
    // be invisible and survive.
    if let Some(status) = &app.status {
        for resource in &status.resources {
            let api_version = if resource.group.is_empty() {
                resource.version.clone()
            } else {
                format!("{}/{}", resource.group, resource.version)
            };
            if let Ok(resolved) = live.resolve(&api_version, &resource.kind).await
                && let Err(error) = live.watch(&resolved).await
            {
                tracing::warn!(app = %name, %error, "watch before cascade delete");
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
        }
    }
    let remaining = live.managed_by(&name);
    if !remaining.is_empty() {
        for object in &remaining {
            let Ok(resolved) = live.resolve(&object.api_version, &object.key.kind).await else { continue };
            let client = live.client().clone();
            let api: kube::Api<kube::api::DynamicObject> = if resolved.namespaced {
                kube::Api::namespaced_with(client, &object.key.namespace, &resolved.resource)
            } else {
                kube::Api::all_with(client, &resolved.resource)
            };
            let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() };
            match api.delete(&object.key.name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => tracing::warn!(app = %name, resource = %object.key, %error, "cascade delete"),
            }
        }
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let finalizers: Vec<String> = app.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": app.resource_version() }
    });
    context
        .apps
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|source| ReconcileError::Write { name: name.clone(), source })?;
    Ok(Action::await_change())
}
