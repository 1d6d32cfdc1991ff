//! Webhooks for warehouses: registry push notifications. (Being written.)

use std::sync::Arc;

use crate::Context;

/// The promoter's routes.
pub(crate) fn router(context: Arc<Context>) -> axum::Router {
    let _ = context;
    axum::Router::new()
}
