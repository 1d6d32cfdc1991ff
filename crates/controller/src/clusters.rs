//! Destination clusters: `in-cluster` (the management cluster itself) and
//! those registered as Secrets labelled `ferry.dev/secret-type: cluster`.
//! Each gets one live-state cache, created on first use and shared by every
//! app that deploys there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use application::secrets::{ClusterSecret, SECRET_TYPE_LABEL};
use application::{Application, ApplicationDestination};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use live::{LiveCache, LiveConfig};
use tokio::sync::{broadcast, mpsc, watch};

use crate::Metrics;

/// The server URL and name of the cluster ferry runs against.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The name of the cluster ferry runs against.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Why an app's destination cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// Neither a server nor a name is set.
    #[error("destination has neither server nor name")]
    NoDestination,
    /// No registered cluster has that name or server.
    #[error("cluster {0:?} is not registered (ferry cluster add)")]
    Unknown(String),
    /// The cluster Secret cannot be read.
    #[error("cluster secret {name:?} is invalid: {message}")]
    InvalidSecret {
        /// Secret name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Listing cluster Secrets failed.
    #[error("list cluster secrets: {0}")]
    List(String),
}

/// Every destination's live cache.
pub(crate) struct Clusters {
    management: Client,
    shutdown: watch::Receiver<bool>,
    trigger: mpsc::UnboundedSender<ObjectRef<Application>>,
    metrics: Arc<Metrics>,
    caches: Mutex<HashMap<String, LiveCache>>,
}

/// A resolved destination.
pub(crate) struct Destination {
    /// The server URL (cache key, and what status shows).
    pub(crate) server: String,
    /// Its live state.
    pub(crate) live: LiveCache,
}

impl Clusters {
    pub(crate) fn new(
        management: Client,
        shutdown: watch::Receiver<bool>,
        trigger: mpsc::UnboundedSender<ObjectRef<Application>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Clusters { management, shutdown, trigger, metrics, caches: Mutex::new(HashMap::new()) }
    }

    /// Every cache created so far (for metrics).
    pub(crate) fn all(&self) -> Vec<(String, LiveCache)> {
        let caches = self.caches.lock().unwrap_or_else(|poison| poison.into_inner());
        caches.iter().map(|(server, cache)| (server.clone(), cache.clone())).collect()
    }

    /// The live cache for `destination`, created on first use.
    pub(crate) async fn resolve(&self, destination: &ApplicationDestination) -> Result<Destination, ClusterError> {
        let server = destination.server.as_deref().filter(|s| !s.is_empty());
        let name = destination.name.as_deref().filter(|s| !s.is_empty());
        if server == Some(IN_CLUSTER_SERVER) || (server.is_none() && name == Some(IN_CLUSTER_NAME)) {
            let live = self.cache_for(IN_CLUSTER_SERVER, || Ok(self.management.clone()))?;
            return Ok(Destination { server: IN_CLUSTER_SERVER.to_owned(), live });
        }
        let wanted = match (server, name) {
            (Some(server), _) => server,
            (None, Some(name)) => name,
            (None, None) => return Err(ClusterError::NoDestination),
        };
        if let Some(server) = server
            && let Some(live) = self.cached(server)
        {
            return Ok(Destination { server: server.to_owned(), live });
        }
        let registered = self.registered().await?;
        let found = registered
            .into_iter()
            .find(|(_, cluster)| match server {
                Some(server) => cluster.server.trim_end_matches('/') == server.trim_end_matches('/'),
                None => Some(cluster.name.as_str()) == name,
            })
            .ok_or_else(|| ClusterError::Unknown(wanted.to_owned()))?;
        let (secret_name, cluster) = found;
        let live = self.cache_for(&cluster.server, || {
            let config = cluster
                .kube_config()
                .map_err(|error| ClusterError::InvalidSecret { name: secret_name.clone(), message: error.to_string() })?;
            Client::try_from(config)
                .map_err(|error| ClusterError::InvalidSecret { name: secret_name.clone(), message: error.to_string() })
        })?;
        Ok(Destination { server: cluster.server, live })
    }

    fn cached(&self, server: &str) -> Option<LiveCache> {
        let caches = self.caches.lock().unwrap_or_else(|poison| poison.into_inner());
        caches.get(server).cloned()
    }

    fn cache_for(
        &self,
        server: &str,
        client: impl FnOnce() -> Result<Client, ClusterError>,
    ) -> Result<LiveCache, ClusterError> {
        let mut caches = self.caches.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(cache) = caches.get(server) {
            return Ok(cache.clone());
        }
        let config = LiveConfig {
            tracking_annotation: sync::plan::TRACKING_ANNOTATION.to_owned(),
            discovery_refresh_min: Duration::from_secs(2),
            ..LiveConfig::default()
        };
        let cache = LiveCache::new(client()?, config, self.shutdown.clone());
        tokio::spawn(forward(cache.subscribe(), self.trigger.clone(), self.metrics.clone()));
        caches.insert(server.to_owned(), cache.clone());
        Ok(cache)
    }

    /// Registered clusters, by Secret name.
    async fn registered(&self) -> Result<Vec<(String, ClusterSecret)>, ClusterError> {
        let secrets: Api<Secret> = Api::namespaced(self.management.clone(), application::NAMESPACE);
        let params = ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}=cluster"));
        let list = secrets.list(&params).await.map_err(|error| ClusterError::List(error.to_string()))?;
        let mut clusters = Vec::new();
        for secret in &list.items {
            let name = secret.metadata.name.clone().unwrap_or_default();
            match ClusterSecret::from_secret(secret) {
                Ok(cluster) => clusters.push((name, cluster)),
                Err(error) => tracing::warn!(secret = %name, %error, "skipping invalid cluster secret"),
            }
        }
        Ok(clusters)
    }
}

/// Turns live changes into reconciles of the apps they belong to.
async fn forward(
    mut changes: broadcast::Receiver<Arc<str>>,
    trigger: mpsc::UnboundedSender<ObjectRef<Application>>,
    metrics: Arc<Metrics>,
) {
    loop {
        match changes.recv().await {
            Ok(app) => {
                if trigger.send(ObjectRef::new(&app).within(application::NAMESPACE)).is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // The app names are lost; the periodic requeue of every app
                // catches up, so this only delays reactions.
                metrics.live_lagged(missed);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
