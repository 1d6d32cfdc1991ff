//! Chart subscriptions: versions of a Helm chart in an HTTP chart repository (its `index.yaml`)
//! or in an OCI registry (the chart repository's tags), highest semantic version first.

use std::collections::BTreeMap;
use std::time::Duration;

use promotion::{Chart, ChartSubscription};
use serde::Deserialize;

use crate::DiscoveryError;
use crate::oci::{Insecure, RegistryCredentials, Repository, error_chain, parse_repository};
use crate::select::{Constraint, by_semver, discovery_limit};

/// The largest `index.yaml` read (big public repositories serve a few tens of MiB).
pub const MAX_INDEX_BYTES: usize = 64 << 20;

const TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The part of a chart repository's `index.yaml` discovery reads.
#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Debug, Deserialize)]
struct IndexEntry {
    version: String,
}

/// The newest versions of the chart, highest first, at most the discovery limit.
pub(crate) async fn discover(
    sub: &ChartSubscription,
    credentials: Option<RegistryCredentials>,
) -> Result<Vec<Chart>, DiscoveryError> {
    let repo = sub.repo_url.trim();
    let limit = discovery_limit(sub.discovery_limit);
    let constraint = Constraint::parse(repo, sub.semver_constraint.as_deref())?;
    if let Some(location) = repo.strip_prefix("oci://") {
        let reference = parse_repository(repo, location)?;
        let registry = Repository::connect(repo, reference, Insecure::Unset, credentials)?;
        // OCI tags cannot hold `+`; Helm pushes `1.0.0+build` as `1.0.0_build`.
        let versions: Vec<String> = registry.list_tags().await?.into_iter().map(|t| t.replace('_', "+")).collect();
        let versions = by_semver(versions, String::as_str, &constraint);
        return Ok(versions.into_iter().take(limit).map(|version| chart(repo, "", version)).collect());
    }
    let name =
        sub.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).ok_or_else(|| DiscoveryError::InvalidRepoUrl {
            repo: repo.to_owned(),
            reason: "a chart in an HTTP chart repository needs its name".to_owned(),
        })?;
    let index = fetch_index(repo, credentials.as_ref()).await?;
    let Some(entries) = index.entries.get(name) else {
        return Err(DiscoveryError::Remote {
            repo: repo.to_owned(),
            step: "get chart index",
            message: format!("the index has no chart named {name:?}"),
        });
    };
    let versions = by_semver(entries.iter().map(|e| e.version.clone()).collect(), String::as_str, &constraint);
    Ok(versions.into_iter().take(limit).map(|version| chart(repo, name, version)).collect())
}

fn chart(repo: &str, name: &str, version: String) -> Chart {
    Chart { repo_url: repo.to_owned(), name: name.to_owned(), version }
}

async fn fetch_index(repo: &str, credentials: Option<&RegistryCredentials>) -> Result<Index, DiscoveryError> {
    let failed = |message: String| DiscoveryError::Remote {
        repo: repo.to_owned(),
        step: "get chart index",
        message: credentials.map_or_else(|| message.clone(), |c| c.mask(&message)),
    };
    let url = reqwest::Url::parse(&format!("{}/index.yaml", repo.trim_end_matches('/')))
        .map_err(|e| DiscoveryError::InvalidRepoUrl { repo: repo.to_owned(), reason: e.to_string() })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DiscoveryError::InvalidRepoUrl {
            repo: repo.to_owned(),
            reason: "expected an http(s):// chart repository or oci://registry/path/chart".to_owned(),
        });
    }
    // See `oci::Repository::connect`: only ring is compiled in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| failed(error_chain(&e)))?;
    let mut request = client.get(url);
    if let Some(credentials) = credentials {
        request = match credentials.user() {
            Some(user) => request.basic_auth(user, Some(&credentials.password)),
            None => request.bearer_auth(&credentials.password),
        };
    }
    let mut response = request.send().await.map_err(|e| {
        let chain = error_chain(&e);
        failed(if e.is_connect() || e.is_timeout() { format!("repository unreachable: {chain}") } else { chain })
    })?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let what = if credentials.is_some() { "refused the credentials" } else { "requires credentials" };
        return Err(failed(format!("the repository {what} (HTTP {})", status.as_u16())));
    }
    if !status.is_success() {
        return Err(failed(format!("HTTP {}", status.as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_INDEX_BYTES {
            return Err(failed(format!("index.yaml is larger than {} MiB", MAX_INDEX_BYTES >> 20)));
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| failed("index.yaml is not UTF-8".to_owned()))?;
    // A big repository's index has millions of nodes; the default budget is for config files.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = 50_000_000;
    budget.max_events = 100_000_000;
    budget.max_total_scalar_bytes = MAX_INDEX_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(&text, options).map_err(|e| failed(format!("parse index.yaml: {e}")))
}
