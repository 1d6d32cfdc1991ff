//! Reconciles Stages. (Being written.)

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use promotion::Stage;

use crate::{Context, ReconcileError};

/// One pass over one Stage.
pub(crate) async fn reconcile(object: Arc<Stage>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let _ = (&object, &context);
    Ok(Action::await_change())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Stage>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "stages reconcile failed");
    crate::retry_after_error()
}

/// The Stage controller, also woken by changes of what a stage's status depends on.
pub(crate) fn controller(
    context: &Context,
    watch: kube::runtime::watcher::Config,
    config: kube::runtime::controller::Config,
) -> kube::runtime::Controller<Stage> {
    kube::runtime::Controller::new(context.stages.clone(), watch).with_config(config)
}
