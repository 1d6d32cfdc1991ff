//! The desired side of an Application: source, destination, sync policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn head() -> String {
    "HEAD".to_owned()
}

/// Where an app's manifests come from.
///
/// Each way of rendering is its own optional field, as in Argo CD: today
/// only `directory`; `kustomize`, `helm` and `jsonnet` slot in beside it.
/// With none set, the path is read as a plain directory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// The git repository URL (`file://`, `http(s)://` or `ssh://`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag, commit SHA or `HEAD`.
    #[serde(default = "head")]
    pub target_revision: String,
    /// Directory inside the repository; the root when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Options for a plain directory of YAML/JSON files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySource>,
}

/// Options for a plain directory of manifests.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySource {
    /// Whether to read subdirectories too.
    #[serde(default)]
    pub recurse: bool,
    /// Glob of files to read (`{a,b}` alternatives); all when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Glob of files to skip; wins over `include`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
}

/// The cluster and namespace an app deploys to.
///
/// Give either `server` (an API server URL; `https://kubernetes.default.svc`
/// is the cluster ferry runs against) or `name` (`in-cluster`, or a cluster
/// registered with `ferry cluster add`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDestination {
    /// API server URL of the target cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Name of the target cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace for namespaced resources that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// When and how to sync.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Sync automatically when OutOfSync; manual sync only when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<SyncPolicyAutomated>,
    /// Options such as `CreateNamespace=true`, `PruneLast=true`,
    /// `ApplyOutOfSyncOnly=true`, `PrunePropagationPolicy=foreground`,
    /// `Validate=false`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// How to retry a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// How long one sync attempt may run (a Go duration such as `5m`)
    /// before it fails naming what it was waiting for; the controller's
    /// default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_timeout: Option<String>,
}

/// Automated sync settings.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicyAutomated {
    /// Whether auto-sync deletes resources that are no longer in git.
    #[serde(default)]
    pub prune: bool,
    /// Whether auto-sync also reverts drift made in the cluster.
    #[serde(default)]
    pub self_heal: bool,
}

/// How to retry a failed sync.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryStrategy {
    /// Maximum number of attempts; negative means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Delay between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff between sync attempts.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay, as a duration string such as `5s` or `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Multiplier applied to the delay after each attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Upper bound on the delay, as a duration string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// Differences the comparison should not count for matching resources.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreDifference {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Object name; all objects of the kind when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace; all namespaces when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 6901 pointers to fields to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// Field managers whose fields to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}
