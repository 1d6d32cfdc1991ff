//! Warehouse discovery: the newest versions of what a Warehouse subscribes to, and the Freight
//! they make.
//!
//! - [`discover`]: one subscription → [`DiscoveredArtifacts`], newest first, at most its
//!   `discoveryLimit` (default 20). Git through the source stage's mirror ([`source::GitCache`]);
//!   images and OCI charts through `oci-client`; HTTP chart repositories by their `index.yaml`.
//! - [`next_freight`]: the newest version of every subscription as one Freight, named by its
//!   content ([`promotion::naming::freight_name`]).
//! - [`matches_push`]: whether a push webhook concerns a subscription.
//!
//! # Invariants
//!
//! - **Errors name the subscription and the step, never a secret.** Passwords travel in headers
//!   (registries) or through the source stage's credential helper (git), and are masked out of
//!   any message that could echo them.
//! - **Plain HTTP only on loopback.** A registry is spoken to over HTTPS unless it is on loopback
//!   (127.0.0.1, localhost, ::1), where plain HTTP is the default as Docker does for local
//!   registries; `insecure: true` for any other host is refused.
//! - **Bounded work.** Tags are listed in pages; SemVer and Lexical fetch a manifest digest only
//!   for the chosen `discoveryLimit` tags; NewestBuild refuses more than
//!   [`image::MAX_NEWEST_BUILD_CANDIDATES`] candidates; a git walk reads at most
//!   [`source::MAX_HISTORY_WALK`] commits.
//! - No state: every call discovers afresh. Nothing here writes to a cluster.

mod chart;
mod error;
mod git;
pub mod image;
mod oci;
mod select;
mod webhook;

use promotion::{DiscoveredArtifacts, FreightFields, FreightOrigin, Subscription};

pub use error::DiscoveryError;
pub use oci::RegistryCredentials;
pub use select::{DEFAULT_DISCOVERY_LIMIT, MAX_DISCOVERY_LIMIT};
pub use webhook::matches_push;

/// Looks up git credentials by repo URL (as written in the subscription).
pub type GitCredentialLookup<'a> = &'a (dyn Fn(&str) -> Option<source::Credentials> + Send + Sync);

/// Looks up registry or chart repository credentials by repo URL (as written in the
/// subscription).
pub type RegistryCredentialLookup<'a> = &'a (dyn Fn(&str) -> Option<RegistryCredentials> + Send + Sync);

/// What discovery needs from its caller.
#[derive(Clone, Copy)]
pub struct DiscoveryContext<'a> {
    /// The mirror cache git subscriptions are fetched into and read from.
    pub git: &'a source::GitCache,
    /// Credentials for git repositories (from repository Secrets).
    pub git_credentials: GitCredentialLookup<'a>,
    /// Credentials for registries and chart repositories (from Secrets).
    pub registry_credentials: RegistryCredentialLookup<'a>,
}

impl std::fmt::Debug for DiscoveryContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryContext").field("git", self.git).finish_non_exhaustive()
    }
}

/// The newest versions of one subscription, newest first, at most its `discoveryLimit`.
///
/// An empty list is not an error: no tag matched the constraint, or no commit touched the
/// watched paths. A missing tracked tag (Digest), an unreachable or refusing registry, a bad
/// constraint or pattern are.
pub async fn discover(sub: &Subscription, ctx: &DiscoveryContext<'_>) -> Result<DiscoveredArtifacts, DiscoveryError> {
    match (&sub.git, &sub.image, &sub.chart) {
        (Some(git), None, None) => {
            let commits = git::discover(git, ctx.git, (ctx.git_credentials)(&git.repo_url)).await?;
            Ok(DiscoveredArtifacts { repo_url: git.repo_url.clone(), commits, ..DiscoveredArtifacts::default() })
        }
        (None, Some(image), None) => {
            let images = image::discover(image, (ctx.registry_credentials)(&image.repo_url)).await?;
            Ok(DiscoveredArtifacts { repo_url: image.repo_url.clone(), images, ..DiscoveredArtifacts::default() })
        }
        (None, None, Some(chart)) => {
            let charts = chart::discover(chart, (ctx.registry_credentials)(&chart.repo_url)).await?;
            Ok(DiscoveredArtifacts { repo_url: chart.repo_url.clone(), charts, ..DiscoveredArtifacts::default() })
        }
        _ => Err(DiscoveryError::InvalidSubscription { found: kinds(sub) }),
    }
}

/// "none", "git", "git and image", …
fn kinds(sub: &Subscription) -> String {
    let set: Vec<&str> = [("git", sub.git.is_some()), ("image", sub.image.is_some()), ("chart", sub.chart.is_some())]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
    if set.is_empty() { "none".to_owned() } else { set.join(" and ") }
}

/// A Freight to create: its name (the content hash) and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NextFreight {
    /// The Freight's name: [`promotion::naming::freight_name`] of its artifacts.
    pub name: String,
    /// Origin and artifacts. `alias` is left empty: the caller picks one with
    /// [`promotion::naming::alias_for`], knowing which aliases are taken.
    pub fields: FreightFields,
}

/// The Freight made of the newest version of every subscription of the Warehouse
/// `warehouse_name`, or `None` when there are no subscriptions or one of them found nothing.
/// The same versions always give the same name, so the caller creates it only when no Freight
/// of that name exists.
pub fn next_freight(warehouse_name: &str, discovered: &[DiscoveredArtifacts]) -> Option<NextFreight> {
    if discovered.is_empty() {
        return None;
    }
    let mut fields = FreightFields { origin: FreightOrigin::warehouse(warehouse_name), ..FreightFields::default() };
    for artifacts in discovered {
        if let Some(commit) = artifacts.commits.first() {
            fields.commits.push(commit.clone());
        } else if let Some(image) = artifacts.images.first() {
            fields.images.push(image.clone());
        } else if let Some(chart) = artifacts.charts.first() {
            fields.charts.push(chart.clone());
        } else {
            return None;
        }
    }
    let name = promotion::naming::freight_name(&fields.commits, &fields.images, &fields.charts);
    Some(NextFreight { name, fields })
}

#[cfg(test)]
mod tests;
