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
    /// The field manager; defaults from the user agent, as Kubernetes does.
    pub field_manager: Option<String>,
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

/// The local cluster's API: cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ClusterInner>,
}

struct ClusterInner {
    store: Store,
    registry: std::sync::RwLock<Arc<Registry>>,
}

impl Cluster {
    /// A cluster over `store`, serving the built-in resources and the CRDs
    /// found in the store.
    pub fn new(store: Store) -> Cluster {
        let _ = store;
        todo!()
    }

    /// The underlying store (controllers watch it directly).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The resources served now.
    pub fn registry(&self) -> Arc<Registry> {
        todo!()
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let _ = (rt, namespace, name);
        todo!()
    }

    /// Lists objects, in one namespace or (with `None`) all.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>, params: &ListParams) -> Result<ListResult, ApiError> {
        let _ = (rt, namespace, params);
        todo!()
    }

    /// Creates an object in `namespace` (empty for cluster-scoped resources).
    pub async fn create(&self, rt: &ResourceType, namespace: &str, object: Value, options: &WriteOptions) -> Result<Written, ApiError> {
        let _ = (rt, namespace, object, options);
        todo!()
    }

    /// Replaces an object (PUT), or its status or scale.
    pub async fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        object: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let _ = (rt, namespace, name, subresource, object, options);
        todo!()
    }

    /// Patches an object, or its status or scale. An apply patch creates the
    /// object when it does not exist.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        patch_type: PatchType,
        body: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let _ = (rt, namespace, name, subresource, patch_type, body, options);
        todo!()
    }

    /// Deletes an object, honouring finalizers and the propagation policy.
    pub async fn delete(&self, rt: &ResourceType, namespace: &str, name: &str, options: &DeleteOptions) -> Result<Deleted, ApiError> {
        let _ = (rt, namespace, name, options);
        todo!()
    }
}
