//! End-to-end harness: a local cluster and the controller in this process,
//! and real git repositories in temp directories.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use application::Application;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A local cluster.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub running: Option<cluster::local::Running>,
    pub client: Client,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Self::start_with(Vec::new()).await
    }

    /// A cluster whose simulator crash-loops images matching `crash_loop`.
    pub async fn start_with(crash_loop: Vec<String>) -> Cluster {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let faults_file = if crash_loop.is_empty() {
            None
        } else {
            let path = dir.path().join("faults.yaml");
            std::fs::write(&path, format!("crashLoop: [{}]\n", crash_loop.join(", "))).unwrap();
            Some(path)
        };
        let running = cluster::local::start(cluster::local::LocalConfig {
            data_dir: dir.path().join("cluster"),
            listen: "127.0.0.1:0".parse().unwrap(),
            simulation: cluster::controllers::Simulation::On,
            ready_delay: Duration::from_millis(300),
            faults_file,
            watch_history: 10_000,
        })
        .await
        .unwrap();
        let client = client_for(&running.kubeconfig).await;
        Cluster { dir, running: Some(running), client }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.running.as_ref().unwrap().kubeconfig.clone()
    }
}

pub async fn client_for(kubeconfig: &Path) -> Client {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

/// The management cluster with the CRD installed and the controller running.
pub struct Env {
    pub cluster: Cluster,
    pub data: tempfile::TempDir,
    pub apps: Api<Application>,
    pub config: controller::ControllerConfig,
    controller: Option<(tokio::task::JoinHandle<()>, watch::Sender<bool>)>,
}

impl Env {
    pub async fn start() -> Env {
        Self::start_on(Cluster::start().await, |_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut controller::ControllerConfig)) -> Env {
        Self::start_on(Cluster::start().await, configure).await
    }

    pub async fn start_on(cluster: Cluster, configure: impl FnOnce(&mut controller::ControllerConfig)) -> Env {
        let client = cluster.client.clone();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &application::crd()).await.unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": application::NAMESPACE}})).unwrap();
        namespaces.create(&PostParams::default(), &ns).await.unwrap();
        let apps: Api<Application> = Api::namespaced(client.clone(), application::NAMESPACE);
        eventually("the Application CRD is served", || {
            let apps = apps.clone();
            async move { apps.list(&Default::default()).await.is_ok() }
        })
        .await;
        let data = tempfile::tempdir().unwrap();
        let mut config = controller::ControllerConfig::new(data.path().to_owned());
        config.poll_interval = Duration::from_secs(1);
        config.sync_timeout = Duration::from_secs(60);
        configure(&mut config);
        let mut env = Env { cluster, data, apps, config, controller: None };
        env.start_controller().await;
        env
    }

    pub fn client(&self) -> Client {
        self.cluster.client.clone()
    }

    pub async fn start_controller(&mut self) {
        let (stop, shutdown) = watch::channel(false);
        let client = self.client();
        let config = self.config.clone();
        let task = tokio::spawn(async move {
            if let Err(error) = controller::run(client, config, shutdown).await {
                panic!("controller failed: {error:#?}");
            }
        });
        self.controller = Some((task, stop));
    }

    /// Stops the controller abruptly, as a crash would (no drain).
    pub async fn kill_controller(&mut self) {
        if let Some((task, _stop)) = self.controller.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops the controller gracefully.
    pub async fn stop_controller(&mut self) {
        if let Some((task, stop)) = self.controller.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// Creates an Application from JSON.
    pub async fn create_app(&self, app: Value) -> Application {
        let app: Application = serde_json::from_value(app).unwrap();
        self.apps.create(&PostParams::default(), &app).await.unwrap()
    }

    pub async fn app(&self, name: &str) -> Application {
        self.apps.get(name).await.unwrap()
    }

    /// Polls the app until `check` holds, failing with the last status.
    pub async fn wait_app(&self, name: &str, what: &str, check: impl Fn(&Application) -> bool) -> Application {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let app = self.apps.get(name).await.unwrap();
            if check(&app) {
                return app;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; application {name}:\n{}",
                    serde_json::to_string_pretty(&app).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the controller has re-compared the app `times` more times
    /// (each periodic reconcile moves `status.reconciledAt`, once per poll
    /// interval), so a test can check that something did *not* happen.
    pub async fn wait_reconciled(&self, name: &str, times: usize) -> Application {
        let mut app = self.app(name).await;
        for _ in 0..times {
            let seen = reconciled_at(&app);
            app = self.wait_app(name, "another reconcile", |now| reconciled_at(now) != seen).await;
        }
        app
    }

    pub async fn wait_synced_healthy(&self, name: &str) -> Application {
        self.wait_app(name, "Synced and Healthy", is_synced_healthy).await
    }

    /// Writes a merge patch to the app.
    /// Waits for a ComparisonError condition on the app; returns its message.
    pub async fn wait_comparison_error(&self, name: &str) -> String {
        let app = self
            .wait_app(name, "a ComparisonError", |app| {
                app.status.as_ref().is_some_and(|s| {
                    s.conditions.iter().any(|c| c.type_ == application::ApplicationConditionType::ComparisonError)
                })
            })
            .await;
        condition_message(&app).unwrap()
    }

    pub async fn patch_app(&self, name: &str, patch: Value) {
        self.apps.patch(name, &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    }
}

pub fn is_synced_healthy(app: &Application) -> bool {
    let status = app.status.as_ref();
    status.and_then(|s| s.sync.as_ref()).is_some_and(|s| s.status == application::SyncStatusCode::Synced)
        && status.and_then(|s| s.health.as_ref()).is_some_and(|h| h.status == health::HealthStatus::Healthy)
        && app.spec.operation.is_none()
}

pub fn reconciled_at(app: &Application) -> Option<String> {
    app.status.as_ref().and_then(|s| s.reconciled_at.as_ref()).map(|t| t.0.to_string())
}

pub fn sync_status(app: &Application) -> Option<application::SyncStatusCode> {
    app.status.as_ref().and_then(|s| s.sync.as_ref()).map(|s| s.status)
}

pub fn operation_phase(app: &Application) -> Option<application::OperationPhase> {
    app.status.as_ref().and_then(|s| s.operation_state.as_ref()).map(|s| s.phase)
}

pub fn condition_message(app: &Application) -> Option<String> {
    app.status.as_ref().and_then(|s| s.conditions.first()).map(|c| c.message.clone())
}

/// An Application spec pointing at `repo` / `path`, auto-synced.
pub fn app_json(name: &str, repo: &str, path: &str, namespace: &str, automated: Value) -> Value {
    let mut spec = json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": application::NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        },
    });
    if !automated.is_null() {
        spec["spec"]["syncPolicy"]["automated"] = automated;
    }
    spec
}

/// Makes the simulator keep containers of images matching `pattern`
/// running and unready (a hook Job of such an image never completes), or
/// lifts that with an empty pattern.
pub async fn set_never_ready(env: &Env, pattern: &str) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "ferry-system");
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ferry-simulator", "namespace": "ferry-system"},
        "data": {"neverReady": pattern},
    }))
    .unwrap();
    if maps.get_opt("ferry-simulator").await.unwrap().is_some() {
        maps.patch("ferry-simulator", &PatchParams::default(), &Patch::Merge(json!({"data": {"neverReady": pattern}})))
            .await
            .unwrap();
    } else {
        maps.create(&PostParams::default(), &cm).await.unwrap();
    }
}

/// Polls `check` until it holds (60 s deadline).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A git repository made by the test.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub fn write(&self, file: &str, content: &str) {
        let path = self.dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join(file)).unwrap();
    }

    /// Commits everything; returns the new SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

pub fn config_map(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{data}\"\n")
}

pub fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

/// A Job hook for `phase`, in `wave`.
pub fn hook_job(name: &str, phase: &str, image: &str, extra_annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    ferry.dev/hook: {phase}\n{extra_annotations}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: {image}\n"
    )
}

pub fn addr(listen: Option<SocketAddr>) -> SocketAddr {
    listen.unwrap()
}

/// A free port on the loopback interface (bound, read, released).
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// One HTTP/1.1 request; the status code and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder().method(method).uri(path).header("host", addr.to_string());
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let response = sender.send_request(builder.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The sum of the samples of metric lines starting with `prefix` (a name,
/// optionally with the start of its labels), from `/metrics`.
pub async fn metric(addr: SocketAddr, prefix: &str) -> f64 {
    let (_, text) = request(addr, "GET", "/metrics", &[], Vec::new()).await;
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// How many reconciles the controller has run, from `/metrics`.
pub async fn reconciles(addr: SocketAddr) -> f64 {
    metric(addr, "ferry_reconciles_total").await
}

/// Waits until the endpoint accepts connections (the controller binds it
/// while starting).
pub async fn wait_listening(addr: SocketAddr) {
    eventually(
        "the controller's endpoint listens",
        || async move { tokio::net::TcpStream::connect(addr).await.is_ok() },
    )
    .await;
}

/// The Secret registering `cluster` as `name`, built from its kubeconfig
/// (server URL and CA) and its bearer token.
pub fn cluster_secret(cluster: &Cluster, name: &str) -> k8s_openapi::api::core::v1::Secret {
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let entry = kubeconfig.clusters[0].cluster.clone().unwrap();
    // The kubeconfig holds the token as a secrecy::SecretString; the local
    // cluster also keeps it in plain text in its data directory.
    let token = std::fs::read_to_string(cluster.dir.path().join("cluster/token")).unwrap().trim().to_owned();
    assert!(!token.is_empty());
    application::secrets::ClusterSecret {
        name: name.to_owned(),
        server: entry.server.unwrap(),
        config: application::secrets::ClusterConfig {
            bearer_token: Some(token),
            tls_client_config: application::secrets::TlsClientConfig {
                ca_data: entry.certificate_authority_data,
                ..application::secrets::TlsClientConfig::default()
            },
            ..application::secrets::ClusterConfig::default()
        },
    }
    .to_secret(application::NAMESPACE)
}
