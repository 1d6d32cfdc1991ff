//! The HTTP surface of the local cluster: authentication, routing of
//! Kubernetes API paths, content negotiation (JSON, YAML, Table), watch
//! streams, and `metav1.Status` errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use crate::api::{
    ApiError, Cluster, DeleteOptions, DryRun, FieldValidation, ListParams, PatchType, Propagation, Reason, Subresource,
    WatchEventKind, WatchParams, WriteOptions,
};
use crate::registry::{Registry, ResourceType};

mod protobuf;
mod route;
mod strict;
mod table;

use route::{Route, Target};

/// The largest request body accepted (the object limit plus room for a patch envelope).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024 + 64 * 1024;

/// How often a watch with `allowWatchBookmarks` gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

/// The longest a watch runs when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// The Kubernetes version the local cluster reports.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

struct State {
    cluster: Cluster,
    token: String,
}

/// Serves the Kubernetes API over HTTPS on `listener` until `shutdown`
/// completes; in-flight requests get a few seconds to finish.
pub async fn serve(
    cluster: Cluster,
    listener: std::net::TcpListener,
    identity: &crate::tls::Identity,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(State { cluster, token });
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Body| {
        let state = state.clone();
        async move { handle(state, method, uri, headers, body).await }
    });
    let config = tls_config(identity)?;
    let handle = axum_server::Handle::new();
    let drain = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        drain.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, axum_server::tls_rustls::RustlsConfig::from_config(config))?
        .handle(handle)
        .serve(app.into_make_service())
        .await
}

fn tls_config(identity: &crate::tls::Identity) -> std::io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| invalid(&e))?;
    // The ring provider is chosen explicitly: no process-wide default is assumed.
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The address a listener is bound to, as a URL.
pub fn url_of(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

fn json_response(code: StatusCode, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn value_response(code: StatusCode, value: &Value) -> Response {
    json_response(code, Bytes::from(value.to_string()))
}

fn error_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.reason.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    value_response(code, &e.to_status())
}

fn text_response(code: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

async fn handle(state: Arc<State>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let path = uri.path().to_owned();
    if matches!(path.as_str(), "/healthz" | "/readyz" | "/livez")
        || path.starts_with("/healthz/")
        || path.starts_with("/readyz/")
        || path.starts_with("/livez/")
    {
        return text_response(StatusCode::OK, "ok");
    }
    if !authorized(&state.token, &headers) {
        return error_response(&ApiError::new(Reason::Unauthorized, "Unauthorized"));
    }
    let query = Query::parse(uri.query().unwrap_or(""));
    let response = match route::parse(&path) {
        Some(route) => dispatch(&state, &method, route, &query, &headers, body).await,
        None => Err(ApiError::new(Reason::NotFound, "the server could not find the requested resource")),
    };
    let response = response.unwrap_or_else(|e| error_response(&e));
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    response
}

fn authorized(token: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
        return false;
    };
    // Compare without early exit so the token cannot be guessed by timing.
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Query parameters of a request.
#[derive(Debug, Default)]
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(q: &str) -> Query {
        Query { pairs: form_urlencoded::parse(q.as_bytes()).into_owned().collect() }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true") | Some("1"))
    }
}

fn accepts_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().is_some_and(|first| first.contains("as=Table")))
}

fn accepts_aggregated(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))
}

/// The media type of gnostic's protobuf `openapi.v2.Document` as clients
/// ask for it (kubectl sends this one)...
const OPENAPI_V2_PROTOBUF_ACCEPT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// ...and as Kubernetes labels the response: `@` is not a media-type token
/// character, and Go's `mime.ParseMediaType` (in client-go) rejects it in a
/// `Content-Type`.
const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether `/openapi/v2` should be answered in protobuf: the first media
/// type of `Accept` that the server can produce is a protobuf one.
fn accepts_openapi_v2_protobuf(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let protobuf = |t: &str| t == OPENAPI_V2_PROTOBUF_ACCEPT || t == OPENAPI_V2_PROTOBUF;
    accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .find(|t| protobuf(t) || t.starts_with("application/json") || *t == "*/*" || *t == "application/*")
        .is_some_and(protobuf)
}

fn accepts_json(headers: &HeaderMap) -> bool {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => a.split(',').any(|t| {
            let t = t.trim();
            t.starts_with("application/json") || t.starts_with("*/*") || t.starts_with("application/*") || t.is_empty()
        }),
    }
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(Reason::RequestEntityTooLarge, format!("Request entity too large: limit is {MAX_BODY_BYTES}"))
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Decodes a JSON or YAML request body into one object.
fn decode(body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let value: Value = if yaml {
        serde_saphyr::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?
    };
    Ok(value)
}

fn decode_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type(headers);
    let value = match ct.as_str() {
        "application/json" | "" => decode(body, false)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => decode(body, true)?,
        "application/vnd.kubernetes.protobuf" => protobuf::decode(body).map_err(|e| match e {
            protobuf::DecodeError::UnsupportedKind { .. } => ApiError::new(Reason::UnsupportedMediaType, e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        })?,
        other => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!(
                    "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
                ),
            ));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    Ok(value)
}

/// Request options are validated as objects in Kubernetes: a bad value is
/// 422 Invalid.
fn invalid_option(message: String) -> ApiError {
    let field = message.split(':').next().unwrap_or_default().to_owned();
    let mut e = ApiError::new(Reason::Invalid, format!("options are invalid: {message}"));
    e.causes = vec![crate::api::Cause { reason: "FieldValueNotSupported".into(), message: message.clone(), field }];
    e
}

/// `fieldValidation=Strict` refuses JSON bodies that repeat a field.
fn reject_duplicates(options: &WriteOptions, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    if options.field_validation != FieldValidation::Strict || content_type(headers).contains("yaml") {
        return Ok(());
    }
    match strict::first_duplicate(body) {
        Some(path) => Err(ApiError::bad_request(format!("strict decoding error: json: duplicate field \"{path}\""))),
        None => Ok(()),
    }
}

fn write_options(query: &Query, headers: &HeaderMap) -> Result<WriteOptions, ApiError> {
    let dry_run = match query.get("dryRun") {
        None | Some("") => DryRun::No,
        Some("All") => DryRun::All,
        Some(other) => {
            return Err(invalid_option(format!(
                "dryRun[0]: Unsupported value: \"{other}\": supported values: \"All\""
            )));
        }
    };
    let field_validation = match query.get("fieldValidation") {
        None | Some("") => FieldValidation::Warn,
        Some(v) if v.eq_ignore_ascii_case("strict") => FieldValidation::Strict,
        Some(v) if v.eq_ignore_ascii_case("warn") => FieldValidation::Warn,
        Some(v) if v.eq_ignore_ascii_case("ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(invalid_option(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    let field_manager = match query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) if m.len() > 128 => {
            return Err(invalid_option("fieldManager: Too long: may not be more than 128 bytes".into()));
        }
        Some(m) => Some(m.to_owned()),
        None => None,
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok(WriteOptions { dry_run, field_manager, user_agent, field_validation })
}

async fn dispatch(
    state: &State,
    method: &Method,
    route: Route,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let registry = state.cluster.registry();
    if !matches!(route, Route::Resource(_)) && *method != Method::GET && *method != Method::HEAD {
        return Err(ApiError::new(
            Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({method})"),
        ));
    }
    match route {
        Route::Version => Ok(value_response(StatusCode::OK, &version())),
        Route::LegacyRoot => {
            if accepts_aggregated(headers) {
                Ok(aggregated(registry.aggregated_discovery(crate::registry::Discovery::Core)))
            } else {
                Ok(value_response(StatusCode::OK, &registry.api_versions()))
            }
        }
        Route::GroupsRoot => {
            if accepts_aggregated(headers) {
                Ok(aggregated(registry.aggregated_discovery(crate::registry::Discovery::Named)))
            } else {
                Ok(value_response(StatusCode::OK, &registry.api_group_list()))
            }
        }
        Route::Group(group) => {
            let list = registry.api_group_list();
            let found = list
                .get("groups")
                .and_then(Value::as_array)
                .and_then(|gs| gs.iter().find(|g| g.get("name").and_then(Value::as_str) == Some(group.as_str())))
                .cloned();
            match found {
                Some(mut g) => {
                    g["kind"] = Value::String("APIGroup".into());
                    g["apiVersion"] = Value::String("v1".into());
                    Ok(value_response(StatusCode::OK, &g))
                }
                None => Err(ApiError::new(Reason::NotFound, "the server could not find the requested resource")),
            }
        }
        Route::GroupVersion { group, version } => match registry.api_resource_list(&group, &version) {
            Some(doc) => Ok(value_response(StatusCode::OK, &doc)),
            None => Err(ApiError::new(Reason::NotFound, "the server could not find the requested resource")),
        },
        Route::OpenApiV3Index => Ok(value_response(StatusCode::OK, &crate::openapi::openapi_v3_index(&registry))),
        Route::OpenApiV3 { group, version } => {
            match crate::openapi::openapi_v3_group_version(&registry, &group, &version) {
                Some(doc) => Ok(value_response(StatusCode::OK, &doc)),
                None => Err(ApiError::new(Reason::NotFound, "the server could not find the requested resource")),
            }
        }
        Route::OpenApiV2 => {
            if accepts_openapi_v2_protobuf(headers) {
                let bytes = crate::openapi::v2proto::encode(&crate::openapi::openapi_v2(&registry))
                    .map_err(|e| ApiError::internal(format!("encoding /openapi/v2 as protobuf: {e}")))?;
                let mut r = Response::new(Body::from(bytes));
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(OPENAPI_V2_PROTOBUF));
                Ok(r)
            } else if accepts_json(headers) {
                Ok(value_response(StatusCode::OK, &crate::openapi::openapi_v2(&registry)))
            } else {
                Err(ApiError::new(Reason::NotAcceptable, "only application/json is served for /openapi/v2"))
            }
        }
        Route::Resource(target) => resource(state, &registry, method, target, query, headers, body).await,
    }
}

fn aggregated(doc: Value) -> Response {
    let mut r = value_response(StatusCode::OK, &doc);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
    );
    r
}

fn version() -> Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "ferry",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if std::env::consts::ARCH == "x86_64" { "amd64" } else { std::env::consts::ARCH }),
    })
}

fn resolve(registry: &Registry, target: &Target) -> Result<Arc<ResourceType>, ApiError> {
    let rt = registry
        .resolve(&target.group, &target.version, &target.resource)
        .ok_or_else(|| ApiError::new(Reason::NotFound, "the server could not find the requested resource"))?;
    if target.namespace.is_some() && !rt.namespaced {
        return Err(ApiError::new(Reason::NotFound, "the server could not find the requested resource"));
    }
    Ok(rt)
}

fn subresource(rt: &ResourceType, name: Option<&str>) -> Result<Subresource, ApiError> {
    match name {
        None => Ok(Subresource::Main),
        Some("status") if rt.status => Ok(Subresource::Status),
        Some("scale") if rt.scale.is_some() => Ok(Subresource::Scale),
        // Kubernetes serves namespaces/finalize to clear spec.finalizers; it
        // is a PUT of the whole namespace.
        Some("finalize") if rt.group.is_empty() && rt.plural == "namespaces" => Ok(Subresource::Main),
        Some(other) => Err(ApiError::new(
            Reason::NotFound,
            format!("the server could not find the requested resource ({}/{other})", rt.plural),
        )),
    }
}

fn patch_type(headers: &HeaderMap, query: &Query) -> Result<PatchType, ApiError> {
    match content_type(headers).as_str() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => {
            let force = if query.flag("force") { patch::apply::Force::Yes } else { patch::apply::Force::No };
            Ok(PatchType::Apply(force))
        }
        other => Err(ApiError::new(
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format ({other}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
            ),
        )),
    }
}

fn written_response(code: StatusCode, object: &Value, warnings: &[String]) -> Response {
    with_warnings(value_response(code, object), warnings)
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    state: &State,
    registry: &Registry,
    method: &Method,
    target: Target,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let rt = resolve(registry, &target)?;
    let cluster = &state.cluster;
    let namespace = target.namespace.clone().unwrap_or_default();
    let table = accepts_table(headers);
    let Some(name) = target.name.clone() else {
        // Collection.
        return match *method {
            Method::GET if query.flag("watch") => watch(cluster, rt, target.namespace.as_deref(), query, table),
            Method::GET => {
                if let Some(t) = query.get("timeoutSeconds") {
                    t.parse::<u64>()
                        .map_err(|_| ApiError::bad_request("timeoutSeconds must be a non-negative integer"))?;
                }
                match query.get("resourceVersionMatch") {
                    None | Some("") | Some("NotOlderThan") | Some("Exact") => {}
                    Some(other) => {
                        return Err(invalid_option(format!(
                            "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                        )));
                    }
                }
                let params = ListParams {
                    label_selector: query.get("labelSelector").map(str::to_owned),
                    field_selector: query.get("fieldSelector").map(str::to_owned),
                    limit: match query.get("limit") {
                        None | Some("") => None,
                        Some(l) => {
                            Some(l.parse().map_err(|_| ApiError::bad_request("limit must be a non-negative integer"))?)
                        }
                    },
                    continue_token: query.get("continue").map(str::to_owned),
                };
                let list = cluster.list(&rt, target.namespace.as_deref(), &params)?;
                if table {
                    let objects: Vec<Value> =
                        list.items.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect();
                    let include_object = query.get("includeObject") == Some("Object");
                    let mut t = table::table(&rt, &objects, Some(list.resource_version), include_object);
                    if let Some(c) = &list.continue_token {
                        t["metadata"]["continue"] = Value::String(c.clone());
                    }
                    return Ok(value_response(StatusCode::OK, &t));
                }
                Ok(json_response(StatusCode::OK, list_body(&rt, &list)))
            }
            Method::POST => {
                let bytes = read_body(body).await?;
                let object = decode_object(headers, &bytes)?;
                let options = write_options(query, headers)?;
                reject_duplicates(&options, headers, &bytes)?;
                let w = cluster.create(&rt, &namespace, object, &options).await?;
                let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
                Ok(written_response(code, &w.object, &w.warnings))
            }
            Method::DELETE => delete_collection(cluster, &rt, target.namespace.as_deref(), query, headers, body).await,
            _ => Err(ApiError::new(
                Reason::MethodNotAllowed,
                format!("the server does not allow this method on the requested resource ({method})"),
            )),
        };
    };
    let sub = subresource(&rt, target.subresource.as_deref())?;
    match *method {
        Method::GET => {
            let object = match sub {
                Subresource::Scale => cluster.get_scale(&rt, &namespace, &name)?,
                _ => cluster.get(&rt, &namespace, &name)?,
            };
            if table && sub == Subresource::Main {
                let include_object = query.get("includeObject") == Some("Object");
                return Ok(value_response(StatusCode::OK, &table::table(&rt, &[object], None, include_object)));
            }
            Ok(value_response(StatusCode::OK, &object))
        }
        Method::PUT => {
            let bytes = read_body(body).await?;
            let object = decode_object(headers, &bytes)?;
            let options = write_options(query, headers)?;
            reject_duplicates(&options, headers, &bytes)?;
            let w = cluster.update(&rt, &namespace, &name, sub, object, &options).await?;
            Ok(written_response(StatusCode::OK, &w.object, &w.warnings))
        }
        Method::PATCH => {
            let pt = patch_type(headers, query)?;
            let bytes = read_body(body).await?;
            let patch = decode(&bytes, matches!(pt, PatchType::Apply(_)))?;
            let options = write_options(query, headers)?;
            reject_duplicates(&options, headers, &bytes)?;
            let w = cluster.patch(&rt, &namespace, &name, sub, pt, patch, &options).await?;
            let code = if w.created { StatusCode::CREATED } else { StatusCode::OK };
            Ok(written_response(code, &w.object, &w.warnings))
        }
        Method::DELETE if sub == Subresource::Main => {
            let options = delete_options(query, headers, body).await?;
            let d = cluster.delete(&rt, &namespace, &name, &options).await?;
            if d.gone {
                let uid = d.object.get("metadata").and_then(|m| m.get("uid")).cloned().unwrap_or(Value::Null);
                let status = serde_json::json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": uid},
                });
                Ok(value_response(StatusCode::OK, &status))
            } else {
                Ok(value_response(StatusCode::ACCEPTED, &d.object))
            }
        }
        _ => Err(ApiError::new(
            Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({method})"),
        )),
    }
}

fn list_body(rt: &ResourceType, list: &crate::api::ListResult) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": list.resource_version.to_string()});
    if let Some(c) = &list.continue_token {
        meta["continue"] = Value::String(c.clone());
    }
    if let Some(r) = list.remaining {
        meta["remainingItemCount"] = Value::from(r);
    }
    // Items are spliced in as stored bytes, so a large list is not re-parsed.
    let mut out = Vec::with_capacity(list.items.iter().map(|i| i.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(
        format!(
            "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
            Value::String(format!("{}List", rt.kind)),
            Value::String(rt.api_version()),
            meta
        )
        .as_bytes(),
    );
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

async fn delete_options(query: &Query, headers: &HeaderMap, body: Body) -> Result<DeleteOptions, ApiError> {
    let bytes = read_body(body).await?;
    let mut options = DeleteOptions::default();
    let parsed: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        let ct = content_type(headers);
        decode(&bytes, ct.contains("yaml"))?
    };
    let policy = parsed
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| query.get("propagationPolicy").map(str::to_owned));
    options.propagation = match policy.as_deref() {
        None | Some("") => match parsed
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| query.get("orphanDependents").map(|v| v == "true"))
        {
            Some(true) => Some(Propagation::Orphan),
            _ => None,
        },
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be one of Background, Foreground or Orphan, not {other:?}"
            )));
        }
    };
    let pre = parsed.get("preconditions");
    options.precondition_uid = pre.and_then(|p| p.get("uid")).and_then(Value::as_str).map(str::to_owned);
    options.precondition_rv = pre.and_then(|p| p.get("resourceVersion")).and_then(Value::as_str).map(str::to_owned);
    let dry =
        parsed.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|v| v.as_str() == Some("All")))
            || query.get("dryRun") == Some("All");
    options.dry_run = if dry { DryRun::All } else { DryRun::No };
    Ok(options)
}

async fn delete_collection(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let options = delete_options(query, headers, body).await?;
    let params = ListParams {
        label_selector: query.get("labelSelector").map(str::to_owned),
        field_selector: query.get("fieldSelector").map(str::to_owned),
        ..ListParams::default()
    };
    let list = cluster.list(rt, namespace, &params)?;
    let mut deleted = Vec::new();
    for item in &list.items {
        let Ok(object) = serde_json::from_slice::<Value>(item) else { continue };
        let ns =
            object.get("metadata").and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("").to_owned();
        let Some(name) = object.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str) else { continue };
        match cluster.delete(rt, &ns, name, &options).await {
            Ok(d) => deleted.push(d.object),
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let out = serde_json::json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": cluster.store().current_rv().to_string()},
        "items": deleted,
    });
    Ok(value_response(StatusCode::OK, &out))
}

fn watch(
    cluster: &Cluster,
    rt: Arc<ResourceType>,
    namespace: Option<&str>,
    query: &Query,
    table: bool,
) -> Result<Response, ApiError> {
    let params = WatchParams {
        label_selector: query.get("labelSelector").map(str::to_owned),
        field_selector: query.get("fieldSelector").map(str::to_owned),
        resource_version: query.get("resourceVersion").map(str::to_owned),
        send_initial_events: query.flag("sendInitialEvents"),
    };
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => {
            Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request("timeoutSeconds must be an integer"))?)
        }
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let mut stream = cluster.watch(rt.clone(), namespace, &params)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            let event = tokio::select! {
                e = stream.next() => match e { Some(e) => e, None => break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = ticker.tick(), if bookmarks => stream.bookmark(),
                _ = tx.closed() => break,
            };
            if event.kind == WatchEventKind::Bookmark && !bookmarks {
                continue;
            }
            let object: Bytes = if table
                && matches!(event.kind, WatchEventKind::Added | WatchEventKind::Modified | WatchEventKind::Deleted)
            {
                match serde_json::from_slice::<Value>(&event.object) {
                    Ok(o) => Bytes::from(table::table(&rt, &[o], None, true).to_string()),
                    Err(_) => event.object.clone(),
                }
            } else {
                event.object.clone()
            };
            let mut line = Vec::with_capacity(object.len() + 32);
            line.extend_from_slice(b"{\"type\":\"");
            line.extend_from_slice(event.kind.as_str().as_bytes());
            line.extend_from_slice(b"\",\"object\":");
            line.extend_from_slice(&object);
            line.extend_from_slice(b"}\n");
            if tx.send(Ok(Bytes::from(line))).await.is_err() {
                break;
            }
            if event.kind == WatchEventKind::Error {
                break;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut r = Response::new(body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(r)
}
