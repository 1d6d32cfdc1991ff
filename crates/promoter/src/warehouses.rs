//! Reconciles Warehouses. (Being written.)

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::Warehouse;

use crate::{Context, ReconcileError};

/// One pass over one Warehouse.
pub(crate) async fn reconcile(object: Arc<Warehouse>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let _ = (&object, &context);
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Warehouse>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "warehouses reconcile failed");
    crate::retry_after_error()
}

/// Marks warehouses subscribed to these repositories for discovery now.
pub(crate) fn on_git_push(context: &Context, repo_urls: &[String]) {
    let _ = (context, repo_urls);
}
