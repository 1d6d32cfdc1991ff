//! Reconciles Pipelines. (Being written.)

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::Pipeline;

use crate::{Context, ReconcileError};

/// One pass over one Pipeline.
pub(crate) async fn reconcile(object: Arc<Pipeline>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let _ = (&object, &context);
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Pipeline>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "pipelines reconcile failed");
    crate::retry_after_error()
}
