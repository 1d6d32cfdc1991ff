//! Destination clusters: `in-cluster` (the management cluster itself) and
//! those registered as Secrets labelled `ferry.dev/secret-type: cluster`.
//! Each gets one live-state cache, created on first use and shared by every
//! app that deploys there.
//!
//! The registrations are watched (a reflector over the cluster Secrets), and
//! every resolve consults them: a removed Secret makes the cluster an
//! invalid destination at once, and changed credentials replace the cache
//! (and its client) instead of being ignored until a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use application::secrets::{CLUSTER_SECRET_TYPE, ClusterSecret, SECRET_TYPE_LABEL};
use application::{Application, ApplicationDestination};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use live::{LiveCache, LiveConfig};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::Metrics;

/// The server URL and name of the cluster ferry runs against.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The name of the cluster ferry runs against.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// How long a resolve waits for the first list of cluster Secrets.
const REGISTRATIONS_WAIT: Duration = Duration::from_secs(10);

/// Why an app's destination cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// Neither a server nor a name is set.
    #[error("destination has neither server nor name")]
    NoDestination,
    /// Both are set (Argo CD refuses this too: they could disagree).
    #[error("destination has both name {name:?} and server {server:?}; set only one")]
    Both {
        /// `destination.name`.
        name: String,
        /// `destination.server`.
        server: String,
    },
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
    /// The cluster Secrets, kept current by a watch.
    secrets: Store<Secret>,
    /// Stops the Secret watch when the controller's state goes away.
    _stop_secrets: oneshot::Sender<()>,
    caches: Mutex<HashMap<String, Cached>>,
}

/// A live cache and the registration it was built from (`None` for
/// in-cluster), so a changed registration is noticed.
struct Cached {
    registration: Option<ClusterSecret>,
    live: LiveCache,
}

/// A resolved destination.
pub(crate) struct Destination {
    /// The server URL (cache key, and what status shows).
    pub(crate) server: String,
    /// Its live state.
    pub(crate) live: LiveCache,
}

impl Clusters {
    /// Starts watching cluster Secrets on the current runtime.
    pub(crate) fn new(
        management: Client,
        shutdown: watch::Receiver<bool>,
        trigger: mpsc::UnboundedSender<ObjectRef<Application>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let api: Api<Secret> = Api::namespaced(management.clone(), application::NAMESPACE);
        let config = watcher::Config::default().labels(&format!("{SECRET_TYPE_LABEL}={CLUSTER_SECRET_TYPE}"));
        let (secrets, writer) = reflector::store();
        let (stop_secrets, stopped) = oneshot::channel();
        tokio::spawn(watch_secrets(
            reflector::reflector(writer, watcher(api, config)).default_backoff(),
            stopped,
            shutdown.clone(),
        ));
        Clusters {
            management,
            shutdown,
            trigger,
            metrics,
            secrets,
            _stop_secrets: stop_secrets,
            caches: Mutex::new(HashMap::new()),
        }
    }

    /// Every cache created so far (for metrics).
    pub(crate) fn all(&self) -> Vec<(String, LiveCache)> {
        let caches = self.caches.lock().unwrap_or_else(|poison| poison.into_inner());
        caches.iter().map(|(server, cached)| (server.clone(), cached.live.clone())).collect()
    }

    /// The live cache for `destination`, created on first use.
    pub(crate) async fn resolve(&self, destination: &ApplicationDestination) -> Result<Destination, ClusterError> {
        let server = destination.server.as_deref().filter(|s| !s.is_empty());
        let name = destination.name.as_deref().filter(|s| !s.is_empty());
        let wanted = match (server, name) {
            (Some(server), Some(name)) => {
                return Err(ClusterError::Both { name: name.to_owned(), server: server.to_owned() });
            }
            (Some(server), None) => server,
            (None, Some(name)) => name,
            (None, None) => return Err(ClusterError::NoDestination),
        };
        if wanted == IN_CLUSTER_SERVER || (server.is_none() && wanted == IN_CLUSTER_NAME) {
            let live = self.cache_for(IN_CLUSTER_SERVER, None, || Ok(self.management.clone()))?;
            return Ok(Destination { server: IN_CLUSTER_SERVER.to_owned(), live });
        }
        let registered = self.registered().await?;
        let found = registered
            .into_iter()
            .find(|(_, cluster)| cluster.is_destination(server, name))
            .ok_or_else(|| ClusterError::Unknown(wanted.to_owned()))?;
        let (secret_name, cluster) = found;
        let live = self.cache_for(&cluster.server, Some(&cluster), || {
            let config = cluster.kube_config().map_err(|error| ClusterError::InvalidSecret {
                name: secret_name.clone(),
                message: error.to_string(),
            })?;
            Client::try_from(config)
                .map_err(|error| ClusterError::InvalidSecret { name: secret_name.clone(), message: error.to_string() })
        })?;
        Ok(Destination { server: cluster.server, live })
    }

    /// The cache of `server`, built anew when there is none or when it was
    /// built from another registration (the old one's watches stop when its
    /// last user drops it).
    fn cache_for(
        &self,
        server: &str,
        registration: Option<&ClusterSecret>,
        client: impl FnOnce() -> Result<Client, ClusterError>,
    ) -> Result<LiveCache, ClusterError> {
        let mut caches = self.caches.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(cached) = caches.get(server)
            && cached.registration.as_ref() == registration
        {
            return Ok(cached.live.clone());
        }
        let config = LiveConfig {
            tracking_annotation: sync::plan::TRACKING_ANNOTATION.to_owned(),
            discovery_refresh_min: Duration::from_secs(2),
            ..LiveConfig::default()
        };
        let live = LiveCache::new(client()?, config, self.shutdown.clone());
        tokio::spawn(forward(live.subscribe(), self.trigger.clone(), self.metrics.clone()));
        caches.insert(server.to_owned(), Cached { registration: registration.cloned(), live: live.clone() });
        Ok(live)
    }

    /// Registered clusters, by Secret name.
    async fn registered(&self) -> Result<Vec<(String, ClusterSecret)>, ClusterError> {
        match tokio::time::timeout(REGISTRATIONS_WAIT, self.secrets.wait_until_ready()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ClusterError::List("the cluster secret watch stopped".into())),
            Err(_) => {
                return Err(ClusterError::List(format!(
                    "no list of cluster secrets in namespace {:?} after {}s (see the controller log)",
                    application::NAMESPACE,
                    REGISTRATIONS_WAIT.as_secs()
                )));
            }
        }
        let mut clusters = Vec::new();
        let mut secrets = self.secrets.state();
        // Deterministic when two Secrets claim the same server or name.
        secrets.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        for secret in &secrets {
            let name = secret.metadata.name.clone().unwrap_or_default();
            match ClusterSecret::from_secret(secret) {
                Ok(cluster) => clusters.push((name, cluster)),
                Err(error) => tracing::warn!(secret = %name, %error, "skipping invalid cluster secret"),
            }
        }
        Ok(clusters)
    }
}

/// Drives the cluster Secret watch until the controller shuts down or its
/// state is dropped. Errors are retried with backoff by the stream itself.
pub(crate) async fn watch_secrets(
    stream: impl futures::Stream<Item = Result<watcher::Event<Secret>, watcher::Error>> + Send + 'static,
    mut stopped: oneshot::Receiver<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut stream = std::pin::pin!(stream);
    // A dropped shutdown sender is not a shutdown; it just stops being
    // watched (a closed channel would otherwise wake the loop forever).
    let mut shutdown_open = true;
    loop {
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(_)) => {}
                Some(Err(error)) => tracing::warn!(%error, "watch cluster secrets"),
                None => return,
            },
            _ = &mut stopped => return,
            changed = shutdown.changed(), if shutdown_open => shutdown_open = changed.is_ok(),
        }
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
