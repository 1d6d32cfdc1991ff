//! Running a local cluster: the data directory (database, token,
//! kubeconfig), the store, the controllers and the HTTP server, with one
//! shutdown signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::api::Cluster;
use crate::controllers::{self, ControllersConfig, FaultConfig, Simulation};
use crate::store::{Store, StoreOptions};

/// Everything `ferry cluster serve` and `ferry up` can set.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Where the database, token and kubeconfig live.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Run the workload simulator.
    pub simulation: Simulation,
    /// How long simulated workloads take to become ready.
    pub ready_delay: Duration,
    /// Fault-injection file, if any.
    pub faults_file: Option<PathBuf>,
    /// How many recent changes are kept for watch resumption and continued
    /// lists; older resourceVersions get 410.
    pub watch_history: usize,
}

/// Startup failures.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The data directory cannot be used.
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be opened.
    #[error("cannot open the database")]
    Store(#[source] crate::store::StoreError),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The fault-injection file is invalid.
    #[error("invalid fault-injection file")]
    Faults(#[source] controllers::FaultConfigError),
    /// The initial objects could not be created.
    #[error("cannot create the initial objects: {0}")]
    Bootstrap(String),
}

/// A running local cluster.
pub struct Running {
    /// The API server's URL.
    pub url: String,
    /// The kubeconfig written for it.
    pub kubeconfig: PathBuf,
    /// The in-process API.
    pub cluster: Cluster,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    controllers: tokio::task::JoinHandle<()>,
}

fn data_err(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + '_ {
    move |source| LocalError::DataDir { path: path.to_owned(), source }
}

/// The bearer token of a data directory, created on first use so restarts
/// keep existing kubeconfigs working.
fn token(dir: &Path) -> Result<String, LocalError> {
    let path = dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
        _ => {
            use rand::Rng;
            let mut rng = rand::rng();
            let t: String = (0..40).map(|_| format!("{:x}", rng.random_range(0..16u8))).collect();
            write_private(&path, &t).map_err(data_err(&path))?;
            Ok(t)
        }
    }
}

pub(crate) fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)
}

/// The kubeconfig for a local cluster: context `ferry-local`, bearer token.
pub fn kubeconfig(url: &str, token: &str, ca_pem: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferry-local\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: ferry-local\n  user:\n    token: {token}\ncontexts:\n- name: ferry-local\n  context:\n    cluster: ferry-local\n    user: ferry-local\n    namespace: default\ncurrent-context: ferry-local\npreferences: {{}}\n"
    )
}

/// Starts a local cluster and returns once it answers requests.
pub async fn start(config: LocalConfig) -> Result<Running, LocalError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(data_err(dir))?;
    let faults = match &config.faults_file {
        Some(f) => FaultConfig::load(f).map_err(LocalError::Faults)?,
        None => FaultConfig::default(),
    };
    let token = token(dir)?;
    let db = dir.join("cluster.redb");
    let watch_history = config.watch_history.max(1);
    let store = tokio::task::spawn_blocking(move || Store::open(&db, StoreOptions { history: watch_history }))
        .await
        .map_err(|e| LocalError::Bootstrap(e.to_string()))?
        .map_err(LocalError::Store)?;
    let cluster = Cluster::new(store);
    controllers::bootstrap(&cluster).await.map_err(|e| LocalError::Bootstrap(e.to_string()))?;
    let identity = crate::tls::load_or_create(dir).map_err(|e| LocalError::Bootstrap(e.to_string()))?;
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|source| LocalError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| LocalError::Listen { addr: config.listen, source })?;
    let url = crate::server::url_of(addr);
    let kubeconfig_path = dir.join("kubeconfig");
    write_private(&kubeconfig_path, &kubeconfig(&url, &token, &identity.ca_pem)).map_err(data_err(&kubeconfig_path))?;
    let (tx, rx) = watch::channel(false);
    let mut server_rx = rx.clone();
    let server_cluster = cluster.clone();
    let server = tokio::spawn(async move {
        crate::server::serve(server_cluster, listener, &identity, token, async move {
            let _ = server_rx.wait_for(|stop| *stop).await;
        })
        .await
    });
    let controllers_config =
        ControllersConfig { simulation: config.simulation, ready_delay: config.ready_delay, faults };
    let controllers = tokio::spawn(controllers::run(cluster.clone(), controllers_config, rx));
    Ok(Running { url, kubeconfig: kubeconfig_path, cluster, shutdown: tx, server, controllers })
}

impl Running {
    /// Stops serving, drains in-flight requests and stops the controllers.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        // Watches are long-lived; do not let them hold shutdown forever.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.controllers).await;
    }
}
