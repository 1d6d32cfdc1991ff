//! The promoter's webhook: `POST /api/webhook/registry`, registry push notifications (the
//! envelope of Docker distribution's notifications: `{"events": [{"action": "push", "target":
//! {"repository", "tag"}, "request": {"host"}}]}`), authenticated by a shared bearer token
//! (distribution cannot sign its notifications; it sends configured headers). Warehouses
//! subscribed to a pushed image are discovered at once. Only manifest pushes count: a registry
//! also reports every layer (blob) upload, and the tag exists only once its manifest is pushed.
//! Git pushes arrive through the Application controller's `/api/webhook` (signed), which hands
//! them to the promoter.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;

use crate::Context;

/// Largest notification body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// The promoter's routes.
pub(crate) fn router(context: Arc<Context>) -> Router {
    Router::new()
        .route("/api/webhook/registry", post(registry))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(context)
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: Target,
    #[serde(default)]
    request: Request,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    media_type: String,
}

impl Target {
    /// Whether this is a manifest (or index) push rather than a layer or config blob upload.
    /// A tag means a manifest; without one, the media type says (an event without either is
    /// taken as a manifest, so an unusual registry still triggers discovery).
    fn is_manifest(&self) -> bool {
        if !self.tag.is_empty() || self.media_type.is_empty() {
            return true;
        }
        let media_type = self.media_type.to_ascii_lowercase();
        media_type.contains("manifest") || media_type.contains("image.index")
    }
}

#[derive(Deserialize, Default)]
struct Request {
    #[serde(default)]
    host: String,
}

async fn registry(State(context): State<Arc<Context>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let Some(token) = context.config.registry_webhook_token.as_deref() else {
        context.metrics.webhook("registry", "disabled");
        return (StatusCode::FORBIDDEN, "registry webhook disabled: set --registry-webhook-token\n".into());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
        context.metrics.webhook("registry", "unauthorized");
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n".into());
    }
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(error) => {
            context.metrics.webhook("registry", "invalid");
            return (StatusCode::BAD_REQUEST, format!("not a registry notification: {error}\n"));
        }
    };
    let pushed: Vec<String> = envelope
        .events
        .iter()
        .filter(|event| event.action == "push" && !event.target.repository.is_empty() && event.target.is_manifest())
        .map(|event| {
            if event.request.host.is_empty() {
                event.target.repository.clone()
            } else {
                format!("{}/{}", event.request.host, event.target.repository)
            }
        })
        .collect();
    let woken = crate::warehouses::on_push(&context, &pushed);
    context.metrics.webhook("registry", "accepted");
    (StatusCode::OK, format!("refreshing {woken} warehouse(s)\n"))
}

/// Compares without leaking where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
