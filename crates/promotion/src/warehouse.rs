//! The Warehouse resource: where new freight comes from.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Condition, FreightReference};

/// What a Warehouse watches and how often.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Warehouse",
    namespaced,
    status = "WarehouseStatus",
    derive = "PartialEq",
    shortname = "wh",
    category = "ferry",
    doc = "Watches git repositories, image repositories and chart repositories, and produces Freight",
    printcolumn(name = "Last Freight", type_ = "string", json_path = ".status.lastFreight.name"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseSpec {
    /// The artifact sources; one freight holds one version of each.
    pub subscriptions: Vec<Subscription>,
    /// How often to look for new versions, as a duration (`30s`, `5m`, `1h`). Default 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Whether discovered versions become Freight without a human.
    #[serde(default)]
    pub freight_creation_policy: FreightCreationPolicy,
}

/// Whether new versions become Freight on their own.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum FreightCreationPolicy {
    /// Every new combination of newest versions becomes Freight.
    #[default]
    Automatic,
    /// Versions are discovered and listed in status; Freight is created by hand.
    Manual,
}

/// One artifact source. Exactly one field is set.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// A git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSubscription>,
    /// An OCI image repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSubscription>,
    /// A Helm chart in an HTTP chart repository or an OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSubscription>,
}

/// How commits of a git subscription are chosen.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum CommitSelectionStrategy {
    /// The newest commits of `branch`.
    #[default]
    NewestFromBranch,
    /// Tags, highest semantic version first (`semverConstraint` filters).
    SemVer,
    /// Tags, in reverse lexical order.
    Lexical,
    /// Tags, newest commit date first.
    NewestTag,
}

/// A git repository subscription.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSubscription {
    /// The repository URL (`https://`, `http://`, `ssh://`, `file://`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// How commits are chosen.
    #[serde(default)]
    pub commit_selection_strategy: CommitSelectionStrategy,
    /// Branch for `NewestFromBranch`; default: the remote's HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Semantic version constraint for tag strategies (`^1.2`, `>=1.0.0, <2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_constraint: Option<String>,
    /// Regular expression tags must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_tags: Option<String>,
    /// Regular expressions of tags to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_tags: Vec<String>,
    /// Only commits touching one of these paths (globs or prefixes) count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_paths: Vec<String>,
    /// Commits touching only these paths (globs or prefixes) do not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_paths: Vec<String>,
    /// Commits by these authors (name or email, exact) do not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_authors: Vec<String>,
    /// How many versions to list in status (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<u32>,
}

/// How tags of an image subscription are chosen.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum ImageSelectionStrategy {
    /// Highest semantic version (`constraint` filters).
    #[default]
    SemVer,
    /// Reverse lexical order of tags.
    Lexical,
    /// Newest image by its config's creation date.
    NewestBuild,
    /// One mutable tag (`constraint`), tracked by digest.
    Digest,
}

/// An OCI image repository subscription.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSubscription {
    /// The repository, `registry/path/name` (no tag).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// How tags are chosen.
    #[serde(default)]
    pub image_selection_strategy: ImageSelectionStrategy,
    /// For SemVer: a version constraint; for Digest: the tag to track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Regular expression tags must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_tags: Option<String>,
    /// Regular expressions of tags to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_tags: Vec<String>,
    /// Use plain HTTP (allowed for loopback registries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// How many versions to list in status (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<u32>,
}

/// A Helm chart subscription.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartSubscription {
    /// `https://…` chart repository, or `oci://registry/path` (the chart is the last segment).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The chart's name in an HTTP repository (unused for OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Semantic version constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_constraint: Option<String>,
    /// How many versions to list in status (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_limit: Option<u32>,
}

/// What a Warehouse last saw.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The newest Freight this Warehouse created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_freight: Option<FreightReference>,
    /// When discovery last ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_at: Option<String>,
    /// The newest versions per subscription, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovered_artifacts: Vec<DiscoveredArtifacts>,
    /// The last refresh token handled (the `ferry.dev/refresh` annotation's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_refresh: Option<String>,
    /// `Ready`, or why not (an unreachable registry, a bad constraint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Versions discovered for one subscription, newest first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredArtifacts {
    /// The subscription's repository URL.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Commits, for a git subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<crate::GitCommit>,
    /// Images, for an image subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::Image>,
    /// Charts, for a chart subscription.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<crate::Chart>,
}
