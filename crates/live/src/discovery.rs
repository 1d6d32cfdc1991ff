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
}

impl DiscoveryCache {
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
