//! `http`: call a URL and judge the response with expressions.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::expr::{self, Scope};
use crate::steps::parse_duration;
use crate::{StepContext, StepError, StepOutcome};

/// Responses larger than this are refused: expressions read the whole body.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// `http` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HttpConfig {
    /// The URL (`http` or `https`).
    url: String,
    /// GET by default.
    #[serde(default)]
    method: Option<String>,
    /// Request headers.
    #[serde(default)]
    headers: Vec<Header>,
    /// The request body.
    #[serde(default)]
    body: Option<String>,
    /// CEL over `response` (`status`, `headers`, `body`): true means done.
    #[serde(default)]
    success_expression: Option<String>,
    /// CEL over `response`: true means failed for good (checked first).
    #[serde(default)]
    failure_expression: Option<String>,
    /// Outputs computed from the response.
    #[serde(default)]
    outputs: Vec<OutputConfig>,
    /// Request timeout (`10s`, default 30s).
    #[serde(default)]
    timeout: Option<String>,
}

/// A request header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Header {
    name: String,
    value: String,
}

/// An output computed from the response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OutputConfig {
    name: String,
    from_expression: String,
}

/// **http**: sends one request and judges the response, seen by expressions as `response`
/// (`status`, `headers` by lower-case name, `body` parsed as JSON when it is JSON, else text).
/// `failureExpression` true → failed; then `successExpression` true → succeeded, false →
/// running (asked again later). Without a success expression, a 2xx status succeeds and
/// anything else fails.
///
/// Outputs: one per `outputs[]` entry, from its `fromExpression` (on success).
///
/// Idempotency: as idempotent as the request; prefer GETs and idempotent endpoints.
pub(crate) async fn http(config: HttpConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let timeout = match &config.timeout {
        Some(text) => parse_duration(text).map_err(|e| StepError::failed(format!("http: timeout: {e}")))?,
        None => Duration::from_secs(30),
    };
    let response = tokio::time::timeout(timeout, send(&config)).await.map_err(|_| StepError::Transient {
        message: format!("http: {} did not answer within {timeout:?}", config.url),
    })??;
    let mut scope: Scope = ctx.scope();
    scope.extra.insert("response".to_owned(), response.clone());
    if let Some(failure) = &config.failure_expression
        && expr::condition(failure, &scope)?
    {
        return Ok(StepOutcome::failed(format!(
            "http: failure expression {failure:?} is true (status {})",
            response["status"]
        )));
    }
    let success = match &config.success_expression {
        Some(success) => expr::condition(success, &scope)?,
        None => response["status"].as_u64().is_some_and(|s| (200..300).contains(&s)),
    };
    if !success {
        return Ok(match &config.success_expression {
            Some(expression) => StepOutcome::running(format!(
                "http: success expression {expression:?} is not true yet (status {})",
                response["status"]
            )),
            None => StepOutcome::failed(format!("http: {} answered status {}", config.url, response["status"])),
        });
    }
    let mut outputs = Map::new();
    for output in &config.outputs {
        let text = if expr::has_expression(&output.from_expression) {
            output.from_expression.clone()
        } else {
            format!("${{{{ {} }}}}", output.from_expression)
        };
        outputs.insert(output.name.clone(), expr::evaluate(&Value::String(text), &scope)?);
    }
    Ok(StepOutcome::succeeded(outputs))
}

/// Sends the request; the response as `{status, headers, body}`.
async fn send(config: &HttpConfig) -> Result<Value, StepError> {
    let method = config.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let method = hyper::Method::from_bytes(method.as_bytes())
        .map_err(|_| StepError::failed(format!("http: invalid method {method:?}")))?;
    let uri: hyper::Uri =
        config.url.parse().map_err(|e| StepError::failed(format!("http: invalid url {:?}: {e}", config.url)))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(StepError::failed(format!("http: url {:?} must be http or https", config.url)));
    }
    let mut request = hyper::Request::builder().method(method).uri(uri);
    for header in &config.headers {
        request = request.header(header.name.as_str(), header.value.as_str());
    }
    let body = Full::new(bytes::Bytes::from(config.body.clone().unwrap_or_default()));
    let request = request.body(body).map_err(|e| StepError::failed(format!("http: invalid request: {e}")))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| StepError::Transient { message: format!("http: TLS setup: {e}") })?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let response = client
        .request(request)
        .await
        .map_err(|e| StepError::Transient { message: format!("http: {} failed: {}", config.url, error_chain(&e)) })?;
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        headers.insert(name.as_str().to_owned(), Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()));
    }
    let bytes = Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| StepError::Transient { message: format!("http: reading the response of {}: {e}", config.url) })?
        .to_bytes();
    let body = serde_json::from_slice::<Value>(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(serde_json::json!({ "status": status, "headers": headers, "body": body }))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
