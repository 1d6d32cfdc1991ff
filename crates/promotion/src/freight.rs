//! The Freight resource: an immutable set of artifact versions.
//!
//! As in Kargo, Freight has no `spec`: its artifacts sit at the root of the object, and its name is
//! a hash of them ([`freight_name`]), so the same versions always make the same Freight.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The artifacts of a Freight, flattened onto the root object (`no_spec`).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Freight",
    plural = "freights",
    namespaced,
    no_spec,
    status = "FreightStatus",
    derive = "PartialEq",
    category = "ferry",
    doc = "An immutable set of artifact versions (commits, images, charts) that moves through stages",
    printcolumn(name = "Alias", type_ = "string", json_path = ".alias"),
    printcolumn(name = "Origin", type_ = "string", json_path = ".origin.name"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct FreightFields {
    /// A human name (adjective-animal), unique in the namespace.
    #[serde(default)]
    pub alias: String,
    /// The Warehouse that produced it.
    #[serde(default)]
    pub origin: FreightOrigin,
    /// Git commits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<GitCommit>,
    /// Images, each pinned by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Helm charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<Chart>,
}

/// Where freight comes from: a kind (always `Warehouse` today) and a name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct FreightOrigin {
    /// `Warehouse`.
    #[serde(default = "warehouse_kind")]
    pub kind: String,
    /// The Warehouse's name.
    pub name: String,
}

fn warehouse_kind() -> String {
    "Warehouse".to_owned()
}

impl FreightOrigin {
    /// The origin for a Warehouse named `name`.
    pub fn warehouse(name: &str) -> Self {
        FreightOrigin { kind: warehouse_kind(), name: name.to_owned() }
    }
}

/// One git commit.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitCommit {
    /// The repository URL.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The full commit SHA.
    pub id: String,
    /// The branch it was found on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The tag it was found by, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The first line of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Name <email>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Commit time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<String>,
}

/// One image version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The repository (`registry/path/name`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest (`sha256:…`).
    #[serde(default)]
    pub digest: String,
    /// Build time from the image config, when known (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// One Helm chart version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chart {
    /// The chart repository (`https://…` or `oci://…`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// The chart name (empty for OCI, where the URL names it).
    #[serde(default)]
    pub name: String,
    /// The chart version.
    pub version: String,
}

/// A reference to a Freight by name, with its origin.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightReference {
    /// The Freight's name (its content hash).
    pub name: String,
    /// Where it came from.
    #[serde(default)]
    pub origin: FreightOrigin,
}

/// Where a Freight has been.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FreightStatus {
    /// Stages currently running it, by stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current_in: BTreeMap<String, CurrentStage>,
    /// Stages it was verified in, by stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified_in: BTreeMap<String, VerifiedStage>,
    /// Stages a human approved it for, by stage name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approved_for: BTreeMap<String, ApprovedStage>,
}

/// A stage running a Freight.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentStage {
    /// Since when (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A stage a Freight was verified in.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedStage {
    /// When verification passed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<String>,
    /// The longest continuous time it ran in the stage, in seconds (the soak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_soak_seconds: Option<i64>,
}

/// A manual approval.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovedStage {
    /// When (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}
