//! The semantics of reads and writes, shared by the HTTP server and the
//! in-process controllers: object metadata (uid, generation, timestamps,
//! generateName, managedFields), optimistic concurrency, subresources,
//! patches and server-side apply, dry runs, field validation, and deletion
//! with finalizers and propagation policies.

use std::sync::Arc;

use serde_json::Value;

use patch::apply::Force;

use crate::registry::{Registry, ResourceType};
use crate::store::Store;

/// The reason of a failed request, as in `metav1.Status.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 400.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 406.
    NotAcceptable,
    /// 409, create of an existing object.
    AlreadyExists,
    /// 409, stale resourceVersion or apply conflict.
    Conflict,
    /// 410.
    Gone,
    /// 410, expired continue token or watch resourceVersion.
    Expired,
    /// 413.
    RequestEntityTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 422.
    Invalid,
    /// 500.
    InternalError,
    /// 503.
    ServiceUnavailable,
}

/// One cause of an `Invalid` or `Conflict` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// For example `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The field path, for example `metadata.name` or `.spec.replicas`.
    pub field: String,
}

/// A failed request. Serialized as a `metav1.Status` by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Why.
    pub reason: Reason,
    /// Message for humans.
    pub message: String,
    /// Kind of the object concerned, when known (for `details.kind`).
    pub kind: Option<String>,
    /// Group of the object concerned (for `details.group`).
    pub group: Option<String>,
    /// Name of the object concerned (for `details.name`).
    pub name: Option<String>,
    /// Causes (for `details.causes`).
    pub causes: Vec<Cause>,
}

/// `dryRun=All`: validate and compute, but do not persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    /// Persist.
    #[default]
    No,
    /// Do everything but persist.
    All,
}

/// `fieldValidation`: what to do with fields the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them, and warn.
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

/// Options shared by every write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Dry run.
    pub dry_run: DryRun,
    /// The field manager the client named (`fieldManager`); required for apply.
    pub field_manager: Option<String>,
    /// The client's user agent: other writes default their field manager
    /// from it, as Kubernetes does.
    pub user_agent: Option<String>,
    /// Unknown-field handling.
    pub field_validation: FieldValidation,
}

/// Which part of an object a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subresource {
    /// The object itself (status is ignored when the resource has a status subresource).
    #[default]
    Main,
    /// `/status`: only status changes.
    Status,
    /// `/scale`: an `autoscaling/v1` Scale view of the replicas.
    Scale,
}

/// The kind of a PATCH body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply(Force),
}

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Delete the owner now; the garbage collector deletes dependents.
    #[default]
    Background,
    /// Delete dependents first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Remove owner references from dependents, keep them.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// Propagation policy (`None`: the resource's default).
    pub propagation: Option<Propagation>,
    /// Only delete if the uid matches.
    pub precondition_uid: Option<String>,
    /// Only delete if the resourceVersion matches.
    pub precondition_rv: Option<String>,
    /// Dry run.
    pub dry_run: DryRun,
}

/// Options of a list.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `limit`.
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// A successful write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored (or as it would be stored, on a dry run).
    pub object: Value,
    /// The object did not exist before (201 rather than 200).
    pub created: bool,
    /// Warnings for the `Warning` header (for example unknown fields).
    pub warnings: Vec<String>,
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object: its last state if it is gone, or its current state (with
    /// `deletionTimestamp`) if finalizers keep it.
    pub object: Value,
    /// The object is gone (200 with the object) rather than pending (202).
    pub gone: bool,
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct ListResult {
    /// The items, as JSON.
    pub items: Vec<bytes::Bytes>,
    /// The list's resourceVersion.
    pub resource_version: u64,
    /// The continue token, if more items follow.
    pub continue_token: Option<String>,
    /// Items left after this page, when known.
    pub remaining: Option<u64>,
}

impl WriteOptions {
    /// The manager of a non-apply write: the named one, else the user
    /// agent's product name, else `unknown`.
    pub fn manager(&self) -> String {
        if let Some(m) = &self.field_manager {
            return m.clone();
        }
        match &self.user_agent {
            Some(ua) => ua.split('/').next().unwrap_or(ua).chars().take(128).collect(),
            None => "unknown".to_owned(),
        }
    }
}

impl Reason {
    /// The HTTP status code of this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Gone | Reason::Expired => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::InternalError => 500,
            Reason::ServiceUnavailable => 503,
        }
    }

    /// The `reason` string of a `metav1.Status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

impl ApiError {
    /// An error with a reason and message and no details.
    pub fn new(reason: Reason, message: impl Into<String>) -> ApiError {
        ApiError { reason, message: message.into(), kind: None, group: None, name: None, causes: Vec::new() }
    }

    /// `400 BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(Reason::BadRequest, message)
    }

    /// `404 NotFound` for an object of a resource.
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            reason: Reason::NotFound,
            message: format!("{} \"{name}\" not found", qualified(rt)),
            kind: Some(rt.plural.clone()),
            group: Some(rt.group.clone()),
            name: Some(name.to_owned()),
            causes: Vec::new(),
        }
    }

    fn for_object(reason: Reason, rt: &ResourceType, name: &str, message: String) -> ApiError {
        ApiError {
            reason,
            message,
            kind: Some(rt.plural.clone()),
            group: Some(rt.group.clone()),
            name: Some(name.to_owned()),
            causes: Vec::new(),
        }
    }

    /// `409 Conflict` for a stale resourceVersion.
    pub fn stale(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::for_object(
            Reason::Conflict,
            rt,
            name,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(rt)
            ),
        )
    }

    /// `422 Invalid` with causes.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
        let detail: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let mut e = ApiError::for_object(
            Reason::Invalid,
            rt,
            name,
            format!("{}.{} \"{name}\" is invalid: {}", rt.kind, rt.group, detail.join(", ")).replace(". \"", " \""),
        );
        if rt.group.is_empty() {
            e.message = format!("{} \"{name}\" is invalid: {}", rt.kind, detail.join(", "));
        }
        e.kind = Some(rt.kind.clone());
        e.causes = causes;
        e
    }

    /// `500 InternalError`.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Reason::InternalError, message)
    }

    /// The `metav1.Status` object of this error.
    pub fn to_status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), Value::String(n.clone()));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), Value::String(g.clone()));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), Value::String(k.clone()));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| serde_json::json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        let mut status = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.reason.code(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason.as_str())
    }
}

impl std::error::Error for ApiError {}

/// `deployments.apps`, or `pods` for the core group.
pub fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() { rt.plural.clone() } else { format!("{}.{}", rt.plural, rt.group) }
}

mod defaults;
mod list;
mod meta;
mod write;

pub use list::{WatchEvent, WatchEventKind, WatchParams, WatchStream};

/// The local cluster's API: cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ClusterInner>,
}

struct ClusterInner {
    store: Store,
    registry: std::sync::RwLock<Arc<Registry>>,
    /// Serialises registry rebuilds after CRD writes.
    crd_refresh: tokio::sync::Mutex<()>,
}

/// The storage key of a resource's CustomResourceDefinitions.
const CRD_RESOURCE: &str = "apiextensions.k8s.io/customresourcedefinitions";

impl Cluster {
    /// A cluster over `store`, serving the built-in resources and the CRDs
    /// found in the store.
    pub fn new(store: Store) -> Cluster {
        let registry = registry_with_crds(&store);
        Cluster {
            inner: Arc::new(ClusterInner {
                store,
                registry: std::sync::RwLock::new(Arc::new(registry)),
                crd_refresh: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The underlying store (controllers watch it directly).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The resources served now.
    pub fn registry(&self) -> Arc<Registry> {
        match self.inner.registry.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the registry from the CRDs in the store. Called after every
    /// CRD write, so discovery reflects a new CRD as soon as its write is
    /// acknowledged.
    async fn refresh_crds(&self) {
        let _guard = self.inner.crd_refresh.lock().await;
        let registry = Arc::new(registry_with_crds(&self.inner.store));
        match self.inner.registry.write() {
            Ok(mut r) => *r = registry,
            Err(poisoned) => *poisoned.into_inner() = registry,
        }
    }
}

fn registry_with_crds(store: &Store) -> Registry {
    let mut registry = Registry::builtin();
    let scope = crate::store::Scope { resource: Some(CRD_RESOURCE.to_owned()), namespace: None };
    let Ok(page) = store.list(&scope, &crate::store::ListOptions::default()) else {
        return registry;
    };
    for item in page.items {
        let Ok(crd) = serde_json::from_slice::<Value>(&item.json) else { continue };
        match registry.with_crd(&crd) {
            Ok(r) => registry = r,
            Err(e) => tracing::warn!(error = %e, "ignoring stored CustomResourceDefinition"),
        }
    }
    registry
}
