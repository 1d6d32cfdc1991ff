//! Reconciles Promotions. (Being written.)

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::Promotion;

use crate::{Context, ReconcileError};

/// One pass over one Promotion.
pub(crate) async fn reconcile(object: Arc<Promotion>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let _ = (&object, &context);
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Promotion>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "promotions reconcile failed");
    crate::retry_after_error()
}
