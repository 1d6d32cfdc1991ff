//! The promotion controller: warehouses → freight → stages → promotions, gated by commit statuses.
//!
//! One kube-runtime controller per resource kind, all in namespace `ferry`:
//! - [`warehouses`]: discovers artifact versions (`warehouse` crate) on an interval, on a refresh
//!   annotation or on a push webhook, and creates Freight (content-addressed names, aliases);
//! - [`pipelines`]: expands each Pipeline into the Stages it owns;
//! - [`stages`]: keeps each Stage's status (current freight, health, soak), posts ferry's own
//!   commit statuses (health, soak, approval), marks freight verified, and creates Promotions
//!   (auto-promotion with its selection and interrupt policies);
//! - [`promotions`]: runs one Promotion at a time per stage, step by step (`steps` crate), storing
//!   the state machine in status after every step, so a restart resumes where it stopped;
//! - [`pulls`]: merges the local SCM provider's PullRequests with git.
//!
//! Invariants:
//! - Reconcilers act on the current state of the objects, never on events alone; everything
//!   a restart must know is in status.
//! - This is the only crate that writes the status of Warehouses, Freight, Stages, Promotions,
//!   Pipelines and PullRequests.
//! - One bad warehouse, stage or promotion becomes a condition or a phase on that object; it never
//!   stops the others.
//! - Policy (eligibility, selection, gates, the step state machine, expansion) is pure and lives in
//!   the `promotion` crate; this crate only reads, decides through it, and writes.

mod credentials;
mod metrics;
mod pipelines;
mod promotions;
mod pulls;
mod server;
mod services;
mod stages;
mod warehouses;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client};
use promotion::{CommitStatus, Freight, Pipeline, Promotion, PullRequest, Stage, Warehouse};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;

pub use metrics::Metrics;

/// How long in-flight reconciles may take to finish after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);

/// Field manager for the promoter's writes.
pub const FIELD_MANAGER: &str = "ferry-promoter";

/// How the promoter runs.
#[derive(Debug, Clone)]
pub struct PromoterConfig {
    /// Where scratch worktrees (`promotions/`) and git mirrors (`warehouse-git/`) live.
    pub data_dir: PathBuf,
    /// Warehouse discovery interval when the Warehouse names none.
    pub default_interval: Duration,
    /// Limit for one git fetch.
    pub fetch_timeout: Duration,
    /// The render engine's tools, for the `hydrate` step.
    pub tools: Arc<render::Toolbox>,
    /// Objects of each kind reconciled at once.
    pub concurrency: u16,
    /// Bearer token registry push notifications must carry; none disables the endpoint.
    pub registry_webhook_token: Option<String>,
}

impl PromoterConfig {
    /// Defaults for everything but the data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        PromoterConfig {
            data_dir,
            default_interval: Duration::from_secs(300),
            fetch_timeout: Duration::from_secs(90),
            tools: Arc::new(render::Toolbox::default()),
            concurrency: 8,
            registry_webhook_token: None,
        }
    }
}

/// Why the promoter could not start.
#[derive(Debug, thiserror::Error)]
pub enum PromoterError {
    /// The git cache directory cannot be used.
    #[error("open the warehouse git cache")]
    GitCache(#[source] source::SourceError),
    /// A promotion CRD is not installed in the management cluster.
    #[error("the promotion CRDs (warehouses.ferry.dev, …) are not installed; run `ferry install`")]
    CrdMissing,
    /// Talking to the management cluster failed at startup.
    #[error("reach the management cluster")]
    Kube(#[source] kube::Error),
}

/// What every reconcile shares.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) config: PromoterConfig,
    pub(crate) git: source::GitCache,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) warehouses: Api<Warehouse>,
    pub(crate) freight: Api<Freight>,
    pub(crate) stages: Api<Stage>,
    pub(crate) promotions: Api<Promotion>,
    pub(crate) statuses: Api<CommitStatus>,
    pub(crate) pulls: Api<PullRequest>,
    pub(crate) pipelines: Api<Pipeline>,
    /// Warehouses a webhook asked to discover now.
    marks: Mutex<HashSet<String>>,
    /// Wakes the warehouse controller for a marked warehouse.
    wake: mpsc::UnboundedSender<ObjectRef<Warehouse>>,
    wakes: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<Warehouse>>>>,
    /// The warehouse controller's cache (set when it starts).
    warehouse_store: OnceLock<Store<Warehouse>>,
    /// Failed merge attempts per local PullRequest, for the retry backoff (`pulls.rs`).
    pub(crate) pull_failures: Mutex<std::collections::HashMap<String, u32>>,
    /// Turns at pushing to a branch, shared by all promotions (`git-push`).
    pub(crate) pushes: steps::PushLocks,
}

impl Context {
    /// Asks for discovery of the warehouse `name` now.
    pub(crate) fn mark(&self, name: &str) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.insert(name.to_owned());
        }
        // The receiver lives as long as the controller; an error only happens at shutdown.
        let _ = self.wake.send(warehouses::object_ref(name));
    }

    /// Whether a webhook asked for discovery of `name` (and forgets it).
    pub(crate) fn take_mark(&self, name: &str) -> bool {
        self.marks.lock().map(|mut marks| marks.remove(name)).unwrap_or(false)
    }

    /// The warehouses known to the controller (empty before it starts).
    pub(crate) fn warehouse_store(&self) -> Store<Warehouse> {
        match self.warehouse_store.get() {
            Some(store) => store.clone(),
            None => kube::runtime::reflector::store().0,
        }
    }
}

/// The promoter's handle for the HTTP side (webhooks, metrics), made before [`run`].
#[derive(Clone)]
pub struct Promoter {
    context: Arc<Context>,
}

impl Promoter {
    /// Prepares the promoter against the management cluster `client`.
    pub fn new(client: Client, config: PromoterConfig) -> Result<Self, PromoterError> {
        let git = source::GitCache::new(source::CacheConfig {
            root: config.data_dir.join("warehouse-git"),
            git: PathBuf::from("git"),
            fetch_timeout: config.fetch_timeout,
        })
        .map_err(PromoterError::GitCache)?;
        let ns = promotion::NAMESPACE;
        let (wake, wakes) = mpsc::unbounded_channel();
        let context = Context {
            marks: Mutex::new(HashSet::new()),
            wake,
            wakes: Mutex::new(Some(wakes)),
            warehouse_store: OnceLock::new(),
            pull_failures: Mutex::new(std::collections::HashMap::new()),
            pushes: steps::PushLocks::default(),
            warehouses: Api::namespaced(client.clone(), ns),
            freight: Api::namespaced(client.clone(), ns),
            stages: Api::namespaced(client.clone(), ns),
            promotions: Api::namespaced(client.clone(), ns),
            statuses: Api::namespaced(client.clone(), ns),
            pulls: Api::namespaced(client.clone(), ns),
            pipelines: Api::namespaced(client.clone(), ns),
            client,
            git,
            metrics: Arc::new(Metrics::new()),
            config,
        };
        Ok(Promoter { context: Arc::new(context) })
    }

    /// Routes to merge into the controller's HTTP server: `/api/webhook/registry` (registry
    /// push notifications) and the git push hook for warehouses.
    pub fn router(&self) -> axum::Router {
        server::router(self.context.clone())
    }

    /// The promoter's metrics in the Prometheus text format (without the final `# EOF`).
    pub fn encode_metrics(&self) -> String {
        self.context.metrics.encode()
    }

    /// Git push webhook: refresh warehouses subscribed to these repositories.
    pub fn on_git_push(&self, repo_urls: &[String]) {
        warehouses::on_git_push(&self.context, repo_urls);
    }

    /// Runs every promotion controller until `shutdown` turns true, then drains.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), PromoterError> {
        let context = self.context;
        // Fail fast with a clear message instead of watchers retrying forever.
        if let Err(error) = context.stages.list(&kube::api::ListParams::default().limit(1)).await {
            return Err(match error {
                kube::Error::Api(status) if status.code == 404 => PromoterError::CrdMissing,
                other => PromoterError::Kube(other),
            });
        }
        let signal = shutdown.clone();
        let stop = move || {
            let mut shutdown = signal.clone();
            async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            }
        };
        let config = kube::runtime::controller::Config::default()
            .concurrency(context.config.concurrency)
            .debounce(Duration::from_millis(50));
        let watch = watcher::Config::default();

        let warehouses = Controller::new(context.warehouses.clone(), watch.clone()).with_config(config.clone());
        let _ = context.warehouse_store.set(warehouses.store());
        let wakes = context.wakes.lock().ok().and_then(|mut wakes| wakes.take());
        let warehouses = match wakes {
            Some(wakes) => warehouses.reconcile_on(UnboundedReceiverStream::new(wakes)),
            None => warehouses,
        };
        let warehouses = warehouses
            .graceful_shutdown_on(stop())
            .run(warehouses::reconcile, warehouses::error_policy, context.clone())
            .for_each(|_| async {});
        let pipelines = Controller::new(context.pipelines.clone(), watch.clone())
            .owns(context.stages.clone(), watch.clone())
            .with_config(config.clone())
            .graceful_shutdown_on(stop())
            .run(pipelines::reconcile, pipelines::error_policy, context.clone())
            .for_each(|_| async {});
        let stages = stages::controller(&context, watch.clone(), config.clone())
            .graceful_shutdown_on(stop())
            .run(stages::reconcile, stages::error_policy, context.clone())
            .for_each(|_| async {});
        let promotions = Controller::new(context.promotions.clone(), watch.clone())
            .with_config(config.clone())
            .graceful_shutdown_on(stop())
            .run(promotions::reconcile, promotions::error_policy, context.clone())
            .for_each(|_| async {});
        let pulls = Controller::new(context.pulls.clone(), watch)
            .with_config(config)
            .graceful_shutdown_on(stop())
            .run(pulls::reconcile, pulls::error_policy, context.clone())
            .for_each(|_| async {});
        let all = async {
            tokio::join!(warehouses, pipelines, stages, promotions, pulls);
        };
        tokio::pin!(all);
        let signalled = async {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = &mut all => {}
            () = signalled => {
                // In-flight reconciles get a moment to finish. A controller stopped before its
                // cache first filled waits for that forever, hence the bound.
                let _ = tokio::time::timeout(DRAIN, &mut all).await;
            }
        }
        Ok(())
    }
}

/// A reconcile that could not finish (the management cluster refused a read or write); retried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    /// Reading or writing an object failed.
    #[error("{action} {kind} {name:?}")]
    Kube {
        /// What was being done (`read`, `write status of`, `create`).
        action: &'static str,
        /// The object's kind.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// A failed call to the management cluster.
    pub(crate) fn kube(action: &'static str, kind: &'static str, name: &str, source: kube::Error) -> Self {
        ReconcileError::Kube { action, kind, name: name.to_owned(), source }
    }
}

/// The retry every reconciler uses after a [`ReconcileError`].
pub(crate) fn retry_after_error() -> Action {
    Action::requeue(Duration::from_secs(2))
}

/// An error and its sources on one line, for conditions and messages.
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

impl std::fmt::Debug for Promoter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Promoter").field("data_dir", &self.context.config.data_dir).finish()
    }
}

impl controller::Companion for Promoter {
    fn routes(&self) -> axum::Router {
        self.router()
    }

    fn metrics(&self) -> String {
        self.encode_metrics()
    }

    fn on_git_push(&self, repo_urls: &[String]) {
        Promoter::on_git_push(self, repo_urls);
    }
}
