//! The controller's HTTP endpoint: `/metrics`, `/healthz` and the git
//! webhook at `/api/webhook` (GitHub, GitLab, Gitea push events).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::watch;

use crate::Context;

/// Largest webhook body accepted (GitHub caps payloads at 25 MB; pushes are far smaller).
const MAX_BODY: usize = 5 * 1024 * 1024;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    context: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let companion = context.config.companion.as_ref().map(|companion| companion.routes());
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/webhook", post(webhook))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(context);
    if let Some(routes) = companion {
        app = app.merge(routes);
    }
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::warn!(%error, "metrics/webhook server stopped");
    }
}

async fn metrics(State(context): State<Arc<Context>>) -> String {
    context.metrics.set_apps(context.store.state().len());
    for (server, cache) in context.clusters.all() {
        let stats = cache.stats();
        context.metrics.set_cache(&server, stats.objects, stats.bytes);
    }
    let mut text = context.metrics.encode();
    if let Some(companion) = &context.config.companion {
        let more = companion.metrics();
        if !more.trim().is_empty() {
            // Both are OpenMetrics text; only one `# EOF` may end the whole.
            let own = text.trim_end().trim_end_matches("# EOF").to_owned();
            text = format!("{own}{}\n# EOF\n", more.trim());
        }
    }
    text
}

async fn webhook(State(context): State<Arc<Context>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let event = match source::webhook::parse(&headers, &body, &context.config.webhook_secrets) {
        Ok(Some(event)) => event,
        Ok(None) => return (StatusCode::OK, "ignored: not a push event\n".into()),
        Err(error) => {
            let status = match error {
                source::webhook::WebhookError::MissingSignature { .. }
                | source::webhook::WebhookError::BadSignature { .. } => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            return (status, format!("{error}\n"));
        }
    };
    if let Some(companion) = &context.config.companion {
        companion.on_git_push(&event.repo_urls);
    }
    let urls: std::collections::BTreeSet<String> = event.repo_urls.iter().map(|u| source::normalize_url(u)).collect();
    let mut matched = 0usize;
    for url in &urls {
        let apps: Vec<String> = context
            .store
            .state()
            .iter()
            .filter(|app| source::normalize_url(&app.spec.spec.source.repo_url) == *url)
            .filter_map(|app| app.metadata.name.clone())
            .collect();
        if apps.is_empty() {
            continue;
        }
        context.repos.mark_stale(url).await;
        matched += apps.len();
        for app in apps {
            context.enqueue(&app);
        }
    }
    (StatusCode::OK, format!("refreshing {matched} application(s)\n"))
}
