//! The Application custom resource (`applications.ferry.dev/v1alpha1`).
//!
//! Field names mirror Argo CD's Application so Argo CD users recognise them:
//! `spec.source`, `spec.destination`, `spec.syncPolicy`, `status.sync`,
//! `status.operationState` and so on.
//!
//! Argo CD keeps sync requests in a top-level `operation` field, beside
//! `spec` rather than inside it. kube's `CustomResource` derive normally
//! only knows `spec` and `status`, so the derived struct is
//! [`ApplicationFields`] in `no_spec` mode: its fields (`spec` and
//! `operation`) are flattened onto the root object, both on the wire and in
//! the generated schema. On the Rust side that reads `app.spec.spec` and
//! `app.spec.operation`; the generated CRD lists both `spec` and `operation`
//! as root properties, so the API server keeps `operation` without any
//! `x-kubernetes-preserve-unknown-fields` at the root.
//!
//! This crate does no IO: it holds the types, the constants that go with
//! them, and the CRD generated from them.

pub mod secrets;
mod source;
mod status;

use std::fmt;
use std::str::FromStr;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use source::{
    ApplicationDestination, ApplicationSource, Backoff, DirectorySource, HelmFileParameter, HelmParameter, HelmSource,
    IgnoreDifference, JsonnetSource, JsonnetVar, KustomizePatch, KustomizeReplica, KustomizeSelector, KustomizeSource,
    PluginEnv, PluginParameter, PluginSource, RetryStrategy, SyncPolicy, SyncPolicyAutomated,
};
pub use status::{
    ApplicationCondition, ApplicationConditionType, ApplicationStatus, HealthState, HookPhase, OperationPhase,
    OperationState, ResourceResult, ResourceStatus, ResultCode, RevisionHistory, SyncOperationResult, SyncPhase,
    SyncState, SyncStatusCode,
};

/// Finalizer that makes deleting an Application also delete its resources.
/// Without it, the resources stay in the cluster.
pub const FINALIZER: &str = "ferry.dev/resources-finalizer";

/// Annotation that requests a refresh; its value parses as [`Refresh`].
pub const REFRESH_ANNOTATION: &str = "ferry.dev/refresh";

/// The namespace Applications live in.
pub const NAMESPACE: &str = "ferry";

/// The fields of an Application besides `metadata` and `status`.
///
/// Flattened onto the root object (`no_spec`), so `spec` and `operation`
/// sit side by side at the top level as in Argo CD.
// Clippy reads the repeated `printcolumn(...)` keys as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Application",
    namespaced,
    no_spec,
    status = "ApplicationStatus",
    derive = "PartialEq",
    shortname = "app",
    category = "ferry",
    doc = "An app: manifests from a git source, kept in sync with a destination cluster and namespace",
    printcolumn(name = "Sync Status", type_ = "string", json_path = ".status.sync.status"),
    printcolumn(name = "Health Status", type_ = "string", json_path = ".status.health.status"),
    printcolumn(name = "Revision", type_ = "string", json_path = ".status.sync.revision", priority = "10"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationFields {
    /// What to deploy, where, and how to keep it in sync.
    pub spec: ApplicationSpec,
    /// A requested operation (a sync); the controller clears it when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

/// What to deploy, where, and how to keep it in sync.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// The project the app belongs to (`default` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Where the manifests come from.
    pub source: ApplicationSource,
    /// The cluster and namespace the manifests go to.
    pub destination: ApplicationDestination,
    /// When and how to sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences the comparison should not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifference>,
}

/// A requested operation, written to the top-level `operation` field.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// A sync request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
    /// Who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<InitiatedBy>,
}

/// A request to sync an app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperation {
    /// The revision to sync to; the source's `targetRevision` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Only these resources (a selective sync); all of them when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<SyncOperationResource>,
    /// Whether to delete live resources that are no longer in git.
    #[serde(default)]
    pub prune: bool,
    /// Whether to only report what would change.
    #[serde(default)]
    pub dry_run: bool,
}

/// Who asked for an operation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitiatedBy {
    /// The user, for a manual request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether the controller started it (auto-sync or self-heal).
    #[serde(default)]
    pub automated: bool,
}

/// One resource named in a selective sync.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncOperationResource {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Namespace; empty for cluster-scoped resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// How thoroughly to refresh, from the [`REFRESH_ANNOTATION`] value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresh {
    /// Compare against the cached render of the resolved revision.
    Normal,
    /// Re-fetch and re-render the source before comparing.
    Hard,
}

impl Refresh {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresh::Normal => "normal",
            Refresh::Hard => "hard",
        }
    }
}

impl fmt::Display for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A [`REFRESH_ANNOTATION`] value that is neither `normal` nor `hard`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown refresh type {0:?}, expected normal or hard")]
pub struct ParseRefreshError(pub String);

impl FromStr for Refresh {
    type Err = ParseRefreshError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Refresh::Normal),
            "hard" => Ok(Refresh::Hard),
            other => Err(ParseRefreshError(other.to_owned())),
        }
    }
}

/// Generating the CRD's YAML failed.
#[derive(Debug, thiserror::Error)]
#[error("serialize the Application CRD to YAML")]
pub struct CrdYamlError(#[source] serde_saphyr::SerializeError);

/// The CustomResourceDefinition for `applications.ferry.dev`, generated from
/// the Rust types.
///
/// Like Argo CD's, it has no `status` subresource: the controller ends an
/// operation by writing its final state and clearing the top-level
/// `operation` in one patch, so a crash can never leave a finished operation
/// that looks requested again (which would re-run it).
pub fn crd() -> CustomResourceDefinition {
    let mut crd = Application::crd();
    for version in &mut crd.spec.versions {
        version.subresources = None;
    }
    crd
}

/// [`crd`] as YAML, ready for `kubectl apply -f -`. The output is
/// deterministic: schema properties are sorted maps.
pub fn crd_yaml() -> Result<String, CrdYamlError> {
    serde_saphyr::to_string(&crd()).map_err(CrdYamlError)
}

#[cfg(test)]
mod tests;
