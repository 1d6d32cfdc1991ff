//! The Application controller: for every Application, refresh → compare →
//! (sync) → status, forever.
//!
//! Invariants:
//! - Reconciles are idempotent and act on the current state: the Application
//!   (spec, `operation`, status) plus the live-state cache. A restart loses
//!   nothing but caches; a running sync continues from `status.operationState`.
//! - This is the only crate that writes Applications' status and that
//!   applies to or deletes from destination clusters.
//! - One app's failure (bad repo, broken YAML, unreachable cluster) becomes
//!   a condition on that app; it never stops the others.
//! - Status is written only when it changes, so the controller's own writes
//!   do not loop.
//!
//! Module map: [`repos`] (git fetch policy and credentials), [`clusters`]
//! (destinations and their live caches), [`compare`] (desired vs live),
//! [`operation`] (carrying out a sync step by step), [`reconcile`] (one pass
//! over one app), [`status`] (patches), [`metrics`], [`server`] (`/metrics`,
//! `/healthz`, the git webhook).

mod charts;
mod clusters;
mod compare;
mod delete;
mod metrics;
mod operation;
mod reconcile;
mod renders;
mod repos;
mod server;
mod status;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use application::Application;
use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

pub use clusters::{IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
pub use compare::{Comparison, DesiredError, ResourceComparison, compare_app};
pub use metrics::Metrics;

/// Field manager for everything ferry applies to destination clusters.
pub const FIELD_MANAGER: &str = "ferry";

/// Field manager for the controller's writes to Applications.
pub const CONTROLLER_MANAGER: &str = "ferry-controller";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Where the git mirrors and snapshots live.
    pub data_dir: PathBuf,
    /// Address for `/metrics`, `/healthz` and the webhook; none serves nothing.
    pub listen: Option<SocketAddr>,
    /// How often repos are fetched without a webhook (Argo CD: 3 min; ferry: 2 min).
    pub poll_interval: Duration,
    /// Apps reconciled at once.
    pub concurrency: u16,
    /// Default limit for one sync attempt; `spec.syncPolicy.syncTimeout` overrides it.
    pub sync_timeout: Duration,
    /// Least time between two self-heal syncs of one app.
    pub self_heal_backoff: Duration,
    /// Secrets that webhook payloads must be signed with.
    pub webhook_secrets: source::webhook::WebhookSecrets,
    /// Limit for one git fetch.
    pub fetch_timeout: Duration,
    /// The Helm engine and plugins renders use.
    pub tools: Arc<render::Toolbox>,
    /// Renders run at once.
    pub render_concurrency: usize,
    /// Bytes of rendered manifests kept on disk (`<data dir>/renders`).
    pub render_cache_bytes: u64,
    /// Another component served by the same HTTP endpoint (the promoter).
    pub companion: Option<Arc<dyn Companion>>,
}

/// A component sharing the controller's HTTP endpoint: its routes are merged in, its metrics
/// appended to `/metrics`, and it hears of every verified git push webhook.
pub trait Companion: Send + Sync + std::fmt::Debug {
    /// Routes to serve beside the controller's.
    fn routes(&self) -> axum::Router;
    /// Metrics in the Prometheus text format, without the final `# EOF` line.
    fn metrics(&self) -> String;
    /// Repositories (as the webhook named them) a verified push event was for.
    fn on_git_push(&self, repo_urls: &[String]);
}

impl ControllerConfig {
    /// Defaults for everything but the data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        ControllerConfig {
            data_dir,
            listen: None,
            poll_interval: Duration::from_secs(120),
            concurrency: 16,
            sync_timeout: Duration::from_secs(600),
            self_heal_backoff: Duration::from_secs(5),
            webhook_secrets: source::webhook::WebhookSecrets { github: None, gitlab: None, gitea: None },
            fetch_timeout: Duration::from_secs(90),
            tools: Arc::new(render::Toolbox::default()),
            render_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            render_cache_bytes: 512 * 1024 * 1024,
            companion: None,
        }
    }

    fn renders(&self, metrics: Arc<Metrics>) -> Result<renders::Renders, ControllerError> {
        // Each app keeps its prepared objects between reconciles, so the
        // memory tier only serves apps sharing a render and the first
        // reconciles after a restart; a small one keeps the controller's
        // memory flat with thousands of apps (a disk hit costs ~0.2 ms).
        let limits = rendercache::Limits {
            disk_bytes: self.render_cache_bytes,
            memory_entries: 64,
            memory_bytes: 16 * 1024 * 1024,
        };
        renders::Renders::new(
            self.data_dir.join("renders"),
            limits,
            self.render_concurrency,
            self.tools.clone(),
            metrics,
        )
        .map_err(ControllerError::RenderCache)
    }

    fn charts(&self) -> charts::Charts {
        charts::Charts::new(self.data_dir.join("charts"), self.tools.clone())
    }
}

/// Why the controller could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The git cache directory cannot be used.
    #[error("open the git cache")]
    GitCache(#[source] source::SourceError),
    /// The render cache directory cannot be used.
    #[error("open the render cache")]
    RenderCache(#[source] rendercache::CacheError),
    /// The metrics/webhook address cannot be bound.
    #[error("listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Application CRD is not installed in the management cluster.
    #[error("the Application CRD (applications.ferry.dev) is not installed; run `ferry install`")]
    CrdMissing,
    /// Talking to the management cluster failed at startup.
    #[error("reach the management cluster")]
    Kube(#[source] kube::Error),
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) apps: Api<Application>,
    pub(crate) config: ControllerConfig,
    pub(crate) repos: repos::Repos,
    pub(crate) clusters: clusters::Clusters,
    pub(crate) renders: renders::Renders,
    pub(crate) charts: charts::Charts,
    pub(crate) memo: reconcile::Memo,
    pub(crate) metrics: Arc<Metrics>,
    /// Asks for a reconcile of one app (webhooks, live changes, fetched repos).
    pub(crate) trigger: mpsc::UnboundedSender<ObjectRef<Application>>,
    pub(crate) store: kube::runtime::reflector::Store<Application>,
}

impl Context {
    /// Queue a reconcile of the app named `name`.
    pub(crate) fn enqueue(&self, name: &str) {
        // The receiver lives as long as the controller; a send error only
        // happens during shutdown, when nothing needs reconciling.
        let _ = self.trigger.send(ObjectRef::new(name).within(application::NAMESPACE));
    }

    /// Queue every app whose source is `repo` (normalised URL).
    pub(crate) fn enqueue_repo(&self, repo: &str) {
        for app in self.store.state() {
            if source::normalize_url(&app.spec.spec.source.repo_url) == repo
                && let Some(name) = app.metadata.name.as_deref()
            {
                self.enqueue(name);
            }
        }
    }
}

/// Runs the controller against the management cluster `client` until
/// `shutdown` turns true, then drains in-flight reconciles.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ControllerError> {
    let apps: Api<Application> = Api::namespaced(client.clone(), application::NAMESPACE);
    // Fail fast with a clear message instead of a watcher retrying forever.
    if let Err(error) = apps.list(&kube::api::ListParams::default().limit(1)).await {
        return Err(match error {
            kube::Error::Api(status) if status.code == 404 => ControllerError::CrdMissing,
            other => ControllerError::Kube(other),
        });
    }

    let git = source::GitCache::new(source::CacheConfig {
        root: config.data_dir.join("git"),
        git: PathBuf::from("git"),
        fetch_timeout: config.fetch_timeout,
    })
    .map_err(ControllerError::GitCache)?;
    let metrics = Arc::new(Metrics::new());
    let (trigger, triggers) = mpsc::unbounded_channel();

    // The controller's own view of the Applications, without managedFields
    // (a large share of each object, never read here).
    let (store, writer) = kube::runtime::reflector::store();
    let stream = watcher::watcher(apps.clone(), watcher::Config::default())
        .default_backoff()
        .modify(|app: &mut Application| app.metadata.managed_fields = None)
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream(stream, store)
        .with_config(controller::Config::default().concurrency(config.concurrency).debounce(Duration::from_millis(50)));
    let store = controller.store();
    let context = Arc::new(Context {
        apps,
        repos: repos::Repos::new(git, client.clone(), config.poll_interval, metrics.clone(), shutdown.clone()),
        clusters: clusters::Clusters::new(client.clone(), shutdown.clone(), trigger.clone(), metrics.clone()),
        renders: config.renders(metrics.clone())?,
        charts: config.charts(),
        memo: reconcile::Memo::default(),
        metrics: metrics.clone(),
        trigger,
        store,
        config: config.clone(),
    });

    let server = match config.listen {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|source| ControllerError::Listen { addr, source })?;
            Some(tokio::spawn(server::serve(listener, context.clone(), shutdown.clone())))
        }
        None => None,
    };

    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    controller
        .reconcile_on(UnboundedReceiverStream::new(triggers))
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, context)
        .for_each(|_| async {})
        .await;
    if let Some(server) = server {
        let _ = server.await;
    }
    Ok(())
}

/// Compares one app once, outside the controller (for `ferry app diff`):
/// fetches its repo into `cache_dir`, renders, reads the destination's live
/// state and diffs. The error is the condition the controller would show.
pub async fn compare_once(
    client: Client,
    app: &Application,
    cache_dir: PathBuf,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<Comparison>, String> {
    let git = source::GitCache::new(source::CacheConfig {
        root: cache_dir.clone(),
        git: PathBuf::from("git"),
        fetch_timeout: Duration::from_secs(90),
    })
    .map_err(|error| error_chain(&error))?;
    let metrics = Arc::new(Metrics::new());
    let (trigger, _triggers) = mpsc::unbounded_channel();
    let (store, _writer) = kube::runtime::reflector::store::<Application>();
    let config = ControllerConfig::new(cache_dir);
    let context = Context {
        apps: Api::namespaced(client.clone(), application::NAMESPACE),
        repos: repos::Repos::new(git, client.clone(), config.poll_interval, metrics.clone(), shutdown.clone()),
        clusters: clusters::Clusters::new(client, shutdown, trigger.clone(), metrics.clone()),
        renders: config.renders(metrics.clone()).map_err(|error| error_chain(&error))?,
        charts: config.charts(),
        memo: reconcile::Memo::default(),
        metrics,
        trigger,
        store,
        config,
    };
    let mut memo = reconcile::AppMemo::default();
    reconcile::observe(app, &context, Some(application::Refresh::Hard), &mut memo)
        .await
        .map(|observed| observed.comparison)
        .map_err(|problem| problem.message)
}

/// An error and its sources on one line, for conditions and messages
/// (lower-level causes already quoted by a higher level are not repeated).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
