//! apiVersion + kind → API resource, through per-group-version discovery.
//!
//! Only the group versions actually asked about are discovered (one request
//! each, `/api/v1` or `/apis/GROUP/VERSION`), never the whole cluster. A miss
//! rediscovers that group version at most once per `discovery_refresh_min`,
//! so a CRD created moments ago resolves and a typo does not hammer the API.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use kube::core::GroupVersion;
use kube::discovery::Scope;

use crate::store::{read, write};
use crate::{LiveError, Resolved};

/// Cached resolutions and when each group version was last discovered.
#[derive(Debug, Default)]
pub(crate) struct DiscoveryCache {
    /// `(apiVersion, kind)` → resource.
    resolved: RwLock<HashMap<(String, String), Resolved>>,
    /// apiVersion → last discovery; guarded by an async mutex so concurrent
    /// misses on the same group version cost one request.
    refreshed: tokio::sync::Mutex<HashMap<String, Instant>>,
    /// The cluster's version and API versions, and when they were read.
    capabilities: tokio::sync::Mutex<Option<(Instant, std::sync::Arc<Capabilities>)>>,
}

/// What a cluster offers, as Helm's `.Capabilities` (and Argo CD's plugin
/// environment) describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// The server's version, `v1.33.0`.
    pub kube_version: String,
    /// Every served group version (`v1`, `apps/v1`, …), sorted.
    pub api_versions: Vec<String>,
}

/// How long capabilities are reused: clusters are upgraded and CRDs added
/// rarely, and a chart asking for them would otherwise cost two requests
/// per render.
const CAPABILITIES_TTL: Duration = Duration::from_secs(300);

impl DiscoveryCache {
    /// The cluster's capabilities, read at most once per [`CAPABILITIES_TTL`]
    /// (failures are not kept).
    pub(crate) async fn capabilities(&self, client: &kube::Client) -> Result<std::sync::Arc<Capabilities>, LiveError> {
        let mut cached = self.capabilities.lock().await;
        if let Some((at, capabilities)) = cached.as_ref()
            && at.elapsed() < CAPABILITIES_TTL
        {
            return Ok(capabilities.clone());
        }
        let failed = |source| LiveError::Discovery { api_version: "(all)".to_owned(), source };
        let version = client.apiserver_version().await.map_err(failed)?;
        let mut api_versions = client.list_core_api_versions().await.map_err(failed)?.versions;
        for group in client.list_api_groups().await.map_err(failed)?.groups {
            api_versions.extend(group.versions.into_iter().map(|v| v.group_version));
        }
        api_versions.sort();
        api_versions.dedup();
        let capabilities = std::sync::Arc::new(Capabilities { kube_version: version.git_version, api_versions });
        *cached = Some((Instant::now(), capabilities.clone()));
        Ok(capabilities)
    }

    pub(crate) fn cached(&self, api_version: &str, kind: &str) -> Option<Resolved> {
        read(&self.resolved).get(&(api_version.to_owned(), kind.to_owned())).cloned()
    }

    /// Forgets a resolution (its CRD was deleted), so the next resolve asks
    /// the server again (subject to the rate limit).
    pub(crate) fn forget(&self, api_version: &str, kind: &str) {
        write(&self.resolved).remove(&(api_version.to_owned(), kind.to_owned()));
    }

    pub(crate) async fn resolve(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
        refresh_min: Duration,
    ) -> Result<Resolved, LiveError> {
        if let Some(hit) = self.cached(api_version, kind) {
            return Ok(hit);
        }
        let unknown = || LiveError::UnknownKind { api_version: api_version.to_owned(), kind: kind.to_owned() };
        if !plausible(api_version) {
            return Err(unknown());
        }
        let gv: GroupVersion = api_version.parse().map_err(|_| unknown())?;
        let mut refreshed = self.refreshed.lock().await;
        // Another caller may have discovered it while we waited.
        if let Some(hit) = self.cached(api_version, kind) {
            return Ok(hit);
        }
        if refreshed.get(api_version).is_some_and(|at| at.elapsed() < refresh_min) {
            return Err(unknown());
        }
        let group = kube::discovery::pinned_group(client, &gv).await;
        refreshed.insert(api_version.to_owned(), Instant::now());
        drop(refreshed);
        let group = match group {
            Ok(group) => group,
            Err(kube::Error::Api(status)) if status.code == 404 => return Err(unknown()),
            Err(source) => return Err(LiveError::Discovery { api_version: api_version.to_owned(), source }),
        };
        let found: Vec<((String, String), Resolved)> = group
            .versioned_resources(&gv.version)
            .into_iter()
            .map(|(resource, caps)| {
                let namespaced = caps.scope == Scope::Namespaced;
                ((api_version.to_owned(), resource.kind.clone()), Resolved { resource, namespaced })
            })
            .collect();
        let mut resolved = write(&self.resolved);
        // Kinds no longer served in this group version are dropped too.
        resolved.retain(|(v, _), _| v != api_version);
        resolved.extend(found);
        resolved.get(&(api_version.to_owned(), kind.to_owned())).cloned().ok_or_else(unknown)
    }
}

/// Whether `api_version` can name a group version at all (`v1`,
/// `apps/v1`); anything else would only make a malformed request.
fn plausible(api_version: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    match api_version.split_once('/') {
        Some((group, version)) => name(group) && name(version),
        None => name(api_version),
    }
}
