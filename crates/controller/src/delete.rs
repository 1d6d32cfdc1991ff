//! Deleting an Application: with the finalizer `ferry.dev/resources-finalizer`
//! its resources are deleted first (cascade); without it they stay.
//!
//! As in Argo CD: resources annotated `Delete=false` (or `Delete=confirm`,
//! which ferry cannot confirm yet) in the sync-options annotation survive
//! the app; and an app whose destination cluster is not registered (any
//! more) loses the finalizer instead of blocking its deletion forever, since
//! nothing can be deleted on a cluster ferry cannot reach.

use std::time::Duration;

use application::{Application, FINALIZER};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::controller::Action;
use live::LiveObject;
use serde_json::{Value, json};
use sync::plan::{Annotations, Permission};

use crate::Context;
use crate::clusters::ClusterError;
use crate::reconcile::ReconcileError;

/// How soon to look again while resources are still going away.
const RECHECK: Duration = Duration::from_millis(500);
/// How soon to retry after an error (API refused, destination broken).
const RETRY: Duration = Duration::from_secs(5);

pub(crate) async fn finalize(app: &Application, context: &Context) -> Result<Action, ReconcileError> {
    let name = app.name_any();
    if !app.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let destination = match context.clusters.resolve(&app.spec.spec.destination).await {
        Ok(destination) => destination,
        Err(error @ (ClusterError::Unknown(_) | ClusterError::NoDestination)) => {
            tracing::warn!(app = %name, %error, "destination not registered: removing the finalizer without deleting resources");
            return remove_finalizer(app, context).await;
        }
        Err(error) => {
            // Registered but unusable (a bad Secret, the API unreachable):
            // deleting may work once it is fixed. Keep the finalizer; the
            // user can remove it to give up.
            tracing::warn!(app = %name, %error, "cannot delete resources: destination unavailable");
            return Ok(Action::requeue(RETRY));
        }
    };
    let live = &destination.live;
    // Make sure every kind the app managed is watched, or its objects would
    // be invisible and survive.
    if let Some(status) = &app.status {
        for resource in &status.resources {
            let api_version = crate::compare::api_version_of(resource);
            if let Ok(resolved) = live.resolve(&api_version, &resource.kind).await
                && let Err(error) = live.watch(&resolved).await
            {
                tracing::warn!(app = %name, %error, "watch before cascade delete");
                return Ok(Action::requeue(Duration::from_secs(2)));
            }
        }
    }
    let remaining: Vec<(LiveObject, Value)> = live
        .managed_by(&name)
        .into_iter()
        .map(|object| {
            let body = object.object();
            (object, body)
        })
        .filter(|(_, body)| deletable(body))
        .collect();
    if remaining.is_empty() {
        return remove_finalizer(app, context).await;
    }
    let mut failed = false;
    for (object, body) in &remaining {
        // Already on its way out (foreground deletion waits for dependents):
        // asking again changes nothing.
        if body.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
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
            Err(error) => {
                failed = true;
                tracing::warn!(app = %name, resource = %object.key, %error, "cascade delete");
            }
        }
    }
    Ok(Action::requeue(if failed { RETRY } else { RECHECK }))
}

/// Whether deleting the app may delete this object: not when its
/// sync-options say `Delete=false` or `Delete=confirm`.
fn deletable(object: &Value) -> bool {
    match Annotations::parse(object) {
        Ok((annotations, _)) => annotations.sync_options.delete.is_none_or(|p| p == Permission::Allowed),
        // An unreadable annotation was refused at sync time already; the
        // object is the app's, so it goes with the app.
        Err(_) => true,
    }
}

async fn remove_finalizer(app: &Application, context: &Context) -> Result<Action, ReconcileError> {
    let name = app.name_any();
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
