//! Reconciles PullRequests. (Being written.)

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::PullRequest;

use crate::{Context, ReconcileError};

/// One pass over one PullRequest.
pub(crate) async fn reconcile(object: Arc<PullRequest>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let _ = (&object, &context);
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<PullRequest>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "pulls reconcile failed");
    crate::retry_after_error()
}
