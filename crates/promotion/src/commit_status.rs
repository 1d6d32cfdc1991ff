//! CommitStatus ("an opinion about a commit") and PullRequest (the local SCM provider's PRs).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A keyed pass/fail opinion about one commit. Anything may post one.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "CommitStatus",
    namespaced,
    derive = "PartialEq",
    category = "ferry",
    doc = "A keyed pass/fail opinion about a commit; the universal promotion gate",
    printcolumn(name = "Key", type_ = "string", json_path = ".spec.key"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".spec.phase"),
    printcolumn(name = "SHA", type_ = "string", json_path = ".spec.sha"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CommitStatusSpec {
    /// The repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The full commit SHA.
    pub sha: String,
    /// What the opinion is about (`ci/tests`, `ferry.dev/health`).
    pub key: String,
    /// The opinion.
    pub phase: CommitStatusPhase,
    /// One line for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A commit status's opinion.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CommitStatusPhase {
    /// Not decided yet.
    #[default]
    Pending,
    /// Good.
    Success,
    /// Bad.
    Failure,
}

/// A pull request held by ferry itself (the `local` SCM provider), merged with git.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "PullRequest",
    namespaced,
    status = "PullRequestStatus",
    derive = "PartialEq",
    shortname = "pr",
    category = "ferry",
    doc = "A pull request of ferry's local SCM provider: merged by ferry with git",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceBranch"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.targetBranch"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestSpec {
    /// The repository.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The branch to merge.
    pub source_branch: String,
    /// The branch to merge into.
    pub target_branch: String,
    /// The title.
    pub title: String,
    /// The body (Markdown; carries the hydrated diff).
    #[serde(default)]
    pub body: String,
    /// Set to true to ask ferry to merge it.
    #[serde(default)]
    pub merge: bool,
    /// Set to true to close it without merging.
    #[serde(default)]
    pub close: bool,
}

/// Where a local pull request is.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestStatus {
    /// Open, merged or closed.
    #[serde(default)]
    pub state: PullRequestState,
    /// The head of the source branch when last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// The merge commit on the target branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// Why a merge failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A pull request's state.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PullRequestState {
    /// Open.
    #[default]
    Open,
    /// Merged.
    Merged,
    /// Closed without merging.
    Closed,
}
