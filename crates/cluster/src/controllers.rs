//! Controllers of the local cluster: the objects a fresh cluster has
//! ([`bootstrap`]), namespace lifecycle, ownerReferences garbage collection,
//! CustomResourceDefinition status and cleanup, and the workload simulator.
//!
//! Every controller is level-triggered: it follows the store (list, then
//! watch), queues the keys of objects that may need work, reads each
//! object's *current* state through the [`Cluster`] API, decides what to do
//! with a pure function, and writes through the same API as any client
//! (optimistic concurrency included: a conflict just requeues the key).
//! One failing object is logged and retried; it never stops a controller.
//!
//! Deliberate differences from Kubernetes:
//! - no containers run: Pods become Running at once and Ready after
//!   [`ControllersConfig::ready_delay`], unless a fault matches their image;
//! - Pod IPs are derived from the Pod's uid in 10.244.0.0/16 and are not
//!   guaranteed unique;
//! - Pods are placed on the one node `ferry-local` by their controller (no
//!   scheduler); Services get their clusterIP from a controller shortly after
//!   creation, not from the API call itself; NodePorts are not allocated;
//! - ReplicaSets, StatefulSets and DaemonSets do not adopt orphaned Pods;
//!   StatefulSets write no ControllerRevisions; PVCs become Bound without a
//!   PersistentVolume;
//! - Jobs run all their Pods to success (fault-matching Pods never finish);
//!   `backoffLimit`, `activeDeadlineSeconds` and CronJobs are not simulated.

mod bootstrap;
mod crd;
mod gc;
mod namespace;
mod runtime;
mod simulator;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::api::{ApiError, Cluster};

/// Whether the workload simulator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Simulation {
    /// Workloads converge as in a real cluster.
    #[default]
    On,
    /// Only the API's own controllers run (namespaces, GC, CRDs).
    Off,
}

/// What a faulty container does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Runs, but never becomes ready.
    NeverReady,
    /// Crashes and restarts forever (`CrashLoopBackOff`).
    CrashLoop,
}

/// Image patterns that trigger faults, as globs (`*`, `?`) matched against
/// a container's full image reference, for example `*/broken:*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultConfig {
    /// Containers with a matching image never become ready.
    pub never_ready: Vec<String>,
    /// Containers with a matching image crash-loop.
    pub crash_loop: Vec<String>,
}

/// A fault configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FaultConfigError {
    /// The file could not be read.
    #[error("cannot read fault configuration {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a YAML or JSON mapping of the expected shape.
    #[error("invalid fault configuration {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Either a list of patterns or one comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Patterns {
    List(Vec<String>),
    Joined(String),
}

impl Patterns {
    fn into_vec(self) -> Vec<String> {
        match self {
            Patterns::List(list) => list.into_iter().flat_map(|p| split_patterns(&p)).collect(),
            Patterns::Joined(text) => split_patterns(&text),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultFile {
    never_ready: Option<Patterns>,
    crash_loop: Option<Patterns>,
}

fn split_patterns(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

impl FaultConfig {
    /// Parses a fault file: a YAML (or JSON) mapping with the keys
    /// `neverReady` and `crashLoop`, each a list of patterns or one
    /// comma-separated string, the same shape as the `ferry-system/ferry-simulator`
    /// ConfigMap's data.
    pub fn parse(text: &str, path: &str) -> Result<FaultConfig, FaultConfigError> {
        let file: FaultFile = serde_saphyr::from_str(text)
            .map_err(|e| FaultConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        Ok(FaultConfig {
            never_ready: file.never_ready.map(Patterns::into_vec).unwrap_or_default(),
            crash_loop: file.crash_loop.map(Patterns::into_vec).unwrap_or_default(),
        })
    }

    /// Reads and parses a fault file (see [`FaultConfig::parse`]).
    pub fn load(path: &Path) -> Result<FaultConfig, FaultConfigError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| FaultConfigError::Read { path: shown.clone(), source })?;
        FaultConfig::parse(&text, &shown)
    }

    /// The faults a ConfigMap's `data` declares (keys `neverReady` and
    /// `crashLoop`, comma-separated patterns).
    pub fn from_config_map(config_map: &Value) -> FaultConfig {
        let key = |k: &str| {
            config_map
                .get("data")
                .and_then(|d| d.get(k))
                .and_then(Value::as_str)
                .map(split_patterns)
                .unwrap_or_default()
        };
        FaultConfig { never_ready: key("neverReady"), crash_loop: key("crashLoop") }
    }

    /// Both configurations' patterns.
    pub fn merged(&self, other: &FaultConfig) -> FaultConfig {
        let join = |a: &[String], b: &[String]| a.iter().chain(b).cloned().collect::<Vec<_>>();
        FaultConfig {
            never_ready: join(&self.never_ready, &other.never_ready),
            crash_loop: join(&self.crash_loop, &other.crash_loop),
        }
    }

    /// The fault of a container running `image`, if any. Crash loops win
    /// over never-ready when both match.
    pub fn fault_for(&self, image: &str) -> Option<Fault> {
        let matches = |patterns: &[String]| patterns.iter().any(|p| wildmatch::WildMatch::new(p).matches(image));
        if matches(&self.crash_loop) {
            Some(Fault::CrashLoop)
        } else if matches(&self.never_ready) {
            Some(Fault::NeverReady)
        } else {
            None
        }
    }
}

/// How the controllers run.
#[derive(Debug, Clone)]
pub struct ControllersConfig {
    /// Whether the workload simulator runs.
    pub simulation: Simulation,
    /// How long a simulated container takes to become ready.
    pub ready_delay: Duration,
    /// Faults from a file; the `ferry-system/ferry-simulator` ConfigMap adds to them.
    pub faults: FaultConfig,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        ControllersConfig {
            simulation: Simulation::On,
            ready_delay: Duration::from_secs(1),
            faults: FaultConfig::default(),
        }
    }
}

/// Creates what a fresh cluster has, idempotently: the namespaces
/// `default`, `kube-system`, `kube-public`, `kube-node-lease` and
/// `ferry-system` (Active, each with a `default` ServiceAccount), the
/// `kubernetes` Service, and the Ready node `ferry-local`.
pub async fn bootstrap(cluster: &Cluster) -> Result<(), ApiError> {
    bootstrap::bootstrap(cluster).await
}

/// Runs every controller until `shutdown` turns true (or its sender is
/// dropped), then returns once they have all stopped.
pub async fn run(cluster: Cluster, config: ControllersConfig, shutdown: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    namespace::spawn(&mut tasks, &cluster, &shutdown);
    gc::spawn(&mut tasks, &cluster, &shutdown);
    crd::spawn(&mut tasks, &cluster, &shutdown);
    if config.simulation == Simulation::On {
        simulator::spawn(&mut tasks, &cluster, &config, &shutdown);
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a controller task ended abnormally");
        }
    }
}
