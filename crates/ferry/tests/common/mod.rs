//! Shared harness of ferry's integration tests: starts the real `ferry`
//! binary on a free loopback port with a temporary data directory, and gives
//! tests real clients of it (kubectl with its own HOME, kube-rs, raw HTTP).
//!
//! Every wait polls with a deadline; nothing sleeps a fixed time to wait for
//! the server. Each test binary includes this module and uses only part of
//! it, hence the `dead_code` allowance.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a test harness fails loudly by design
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod process;

/// How long the server may take to start and answer `/readyz`. Generous:
/// the test machine has two cores shared with compilers.
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// Default deadline for polls waiting on the server's controllers.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// How long one kubectl invocation may run before the test fails.
const KUBECTL_DEADLINE: Duration = Duration::from_secs(120);

/// Installs rustls' ring provider once per process; kube-rs needs one chosen
/// explicitly when more than one could be linked.
pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Whether the workload simulator runs in the server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sim {
    /// Workloads converge (the default of `ferry cluster serve`).
    On,
    /// `--no-simulation`.
    Off,
}

/// How to start the server under test.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Workload simulator on or off.
    pub simulation: Sim,
    /// `--ready-delay-ms`; short by default so tests converge quickly.
    pub ready_delay_ms: u64,
    /// Content of a fault-injection file passed with `--faults`.
    pub faults: Option<String>,
    /// Extra environment for the server process.
    pub env: Vec<(String, String)>,
    /// `--watch-history`: changes kept for resuming watches (server default
    /// when `None`).
    pub watch_history: Option<usize>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { simulation: Sim::On, ready_delay_ms: 200, faults: None, env: Vec::new(), watch_history: None }
    }
}

/// How to stop a server before a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, then wait for a clean exit.
    Graceful,
    /// SIGKILL (`kill -9`): no chance to flush anything.
    Kill,
}

/// Temporary directories of one server: its data directory and the HOME
/// that kubectl uses (discovery cache) for it.
pub struct Dirs {
    root: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let root = tempfile::Builder::new().prefix("ferry-test-").tempdir().expect("temporary directory");
        std::fs::create_dir_all(root.path().join("data")).expect("data dir");
        std::fs::create_dir_all(root.path().join("home")).expect("home dir");
        Dirs { root }
    }
    /// The server's `--data-dir`.
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    /// kubectl's HOME.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }
    /// Scratch space for the test's own files.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// A `ferry cluster serve` child process. Killed (SIGKILL) on drop; if the
/// test is failing, the server's log is printed to help diagnose it.
pub struct Server {
    /// Base URL, for example `http://127.0.0.1:41234`.
    pub url: String,
    /// The kubeconfig the server wrote.
    pub kubeconfig: PathBuf,
    /// The bearer token from `DIR/token`.
    pub token: String,
    /// The temporary directories (shared with a restarted server).
    pub dirs: Arc<Dirs>,
    options: ServerOptions,
    child: Option<Child>,
    log: PathBuf,
    generation: u32,
}

impl Server {
    /// Starts a server with the default options.
    pub async fn start() -> Server {
        Server::start_with(ServerOptions::default()).await
    }

    /// Starts a server with `options` in fresh temporary directories.
    pub async fn start_with(options: ServerOptions) -> Server {
        init_crypto();
        let dirs = Arc::new(Dirs::new());
        Server::spawn(dirs, options, 0).await
    }

    async fn spawn(dirs: Arc<Dirs>, options: ServerOptions, generation: u32) -> Server {
        let log = dirs.root().join(format!("server-{generation}.log"));
        let log_file = std::fs::File::create(&log).expect("server log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(["cluster", "serve", "--data-dir"]).arg(dirs.data()).args([
            "--listen",
            "127.0.0.1:0",
            "--ready-delay-ms",
            &options.ready_delay_ms.to_string(),
        ]);
        if options.simulation == Sim::Off {
            cmd.arg("--no-simulation");
        }
        if let Some(history) = options.watch_history {
            cmd.args(["--watch-history", &history.to_string()]);
        }
        if let Some(faults) = &options.faults {
            let path = dirs.root().join("faults.yaml");
            std::fs::write(&path, faults).expect("write faults file");
            cmd.arg("--faults").arg(path);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        cmd.env("FERRY_LOG", std::env::var("FERRY_LOG").unwrap_or_else(|_| "info".to_owned()));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().expect("spawn ferry");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Keep draining stdout for the life of the process so it never
        // blocks on a full pipe; the first URL line goes to the test.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("ferry local cluster serving at ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(START_DEADLINE)).await.expect("join");
        let mut server = Server {
            url: String::new(),
            kubeconfig: dirs.data().join("kubeconfig"),
            token: String::new(),
            dirs,
            options,
            child: Some(child),
            log,
            generation,
        };
        let url = match url {
            Ok(url) => url,
            Err(_) => panic!("ferry did not print its URL within {START_DEADLINE:?}; log:\n{}", server.log_tail()),
        };
        server.url = url;
        server.token = std::fs::read_to_string(server.dirs.data().join("token")).expect("token file").trim().to_owned();
        server.wait_ready().await;
        server
    }

    /// Polls `/readyz` (no credentials) until it answers `ok`.
    pub async fn wait_ready(&self) {
        let anonymous = self.anonymous_client().await;
        let ready = eventually("/readyz to answer ok", START_DEADLINE, || {
            let anonymous = anonymous.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).expect("request");
                match anonymous.request_text(req).await {
                    Ok(text) if text.trim() == "ok" => Ok(()),
                    Ok(text) => Err(text),
                    Err(e) => Err(e.to_string()),
                }
            }
        });
        // A server that never gets ready fails with its log, not just a timeout.
        if tokio::time::timeout(START_DEADLINE + Duration::from_secs(5), ready).await.is_err() {
            panic!("/readyz did not answer ok; log:\n{}", self.log_tail());
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stops the server and starts a new one on the same data directory and
    /// options (new port, same token).
    pub async fn restart(mut self, stop: Stop) -> Server {
        self.stop(stop);
        let dirs = self.dirs.clone();
        let options = self.options.clone();
        let generation = self.generation + 1;
        drop(self);
        Server::spawn(dirs, options, generation).await
    }

    /// Stops the process now.
    pub fn stop(&mut self, stop: Stop) {
        let Some(mut child) = self.child.take() else { return };
        match stop {
            Stop::Kill => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Stop::Graceful => {
                let pid = child.id().to_string();
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                // Wait for the exit in a thread, so the deadline needs no polling.
                let (tx, rx) = std::sync::mpsc::channel();
                let waiter = std::thread::spawn(move || {
                    let status = child.wait();
                    let _ = tx.send(());
                    status
                });
                let exited = rx.recv_timeout(Duration::from_secs(30)).is_ok();
                if !exited {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                }
                let status = waiter.join().expect("waiter thread");
                assert!(exited, "ferry did not exit within 30s of SIGTERM; log:\n{}", self.log_tail());
                let status = status.expect("wait for ferry");
                assert!(status.success(), "ferry exited with {status} after SIGTERM; log:\n{}", self.log_tail());
            }
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The kube-rs configuration from the server's kubeconfig (URL, CA,
    /// token).
    pub async fn config(&self) -> kube::Config {
        init_crypto();
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kubeconfig to config")
    }

    /// A kube-rs client built from the server's kubeconfig.
    pub async fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config().await).expect("kube client")
    }

    /// A kube-rs client that trusts the server but sends no credentials.
    pub async fn anonymous_client(&self) -> kube::Client {
        let mut config = self.config().await;
        config.auth_info = kube::config::AuthInfo::default();
        kube::Client::try_from(config).expect("anonymous client")
    }

    /// A kube-rs client that trusts the server and sends `token`.
    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        let mut config = self.config().await;
        config.auth_info = kube::config::AuthInfo { token: Some(token.to_owned().into()), ..Default::default() };
        kube::Client::try_from(config).expect("client with token")
    }

    /// Runs kubectl against this server.
    pub async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_with(args, None, &[]).await
    }

    /// Runs kubectl with `stdin` as its standard input (for `-f -`).
    pub async fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.kubectl_with(args, Some(stdin), &[]).await
    }

    /// Runs kubectl with standard input and extra environment.
    pub async fn kubectl_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.kubectl_command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl (is it on PATH?)");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write kubectl stdin");
            drop(pipe);
        }
        let output = match tokio::time::timeout(KUBECTL_DEADLINE, child.wait_with_output()).await {
            Ok(output) => output.expect("kubectl output"),
            Err(_) => panic!("kubectl {args:?} did not finish within {KUBECTL_DEADLINE:?}"),
        };
        Out {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `kubectl apply -f -` of `yaml`, which must succeed. Tests whose
    /// subject is not `kubectl create` set up objects this way.
    pub async fn apply(&self, yaml: &str) -> Out {
        self.kubectl_stdin(&["apply", "-f", "-"], yaml).await.ok()
    }

    /// A kubectl command with this server's KUBECONFIG and its own HOME,
    /// for tests that stream its output (`get --watch`).
    pub fn kubectl_command(&self, args: &[&str]) -> tokio::process::Command {
        // `kubectl` on these machines is gcloud's dispatcher, which runs the
        // kubectl matching the server's minor version; FERRY_TEST_KUBECTL
        // pins one (for example /usr/lib/google-cloud-sdk/bin/kubectl.1.32).
        let kubectl = std::env::var("FERRY_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
        let mut cmd = tokio::process::Command::new(kubectl);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dirs.home())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .kill_on_drop(true);
        cmd
    }

    /// Sends a raw request with the bearer token and returns the status
    /// code and body, whatever they are.
    pub async fn raw(&self, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
        let client = self.client().await;
        raw_with(&client, method, path, content_type, body).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- ferry server log (last lines) ----\n{}\n----", self.log_tail());
        }
    }
}

/// Sends a raw request through `client` (its auth applies) and returns the
/// status code and body.
pub async fn raw_with(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let mut builder = http::Request::builder().method(method).uri(path).header("Accept", "application/json");
    if let Some(ct) = content_type {
        builder = builder.header("Content-Type", ct);
    }
    let req = builder.body(kube::client::Body::from(body)).expect("request");
    let resp = client.send(req).await.unwrap_or_else(|e| panic!("{method} {path}: transport error {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("read body").to_bytes().to_vec();
    (status, bytes)
}

/// What a kubectl run printed and returned.
#[derive(Debug, Clone)]
pub struct Out {
    /// The arguments, for messages.
    pub args: Vec<String>,
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts the command succeeded and returns it.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "kubectl {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts the command failed and returns it.
    #[track_caller]
    pub fn fails(self) -> Out {
        assert_ne!(
            self.code, 0,
            "kubectl {:?} should have failed:\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    /// Standard output parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("kubectl {:?} printed no JSON ({e}): {}", self.args, self.stdout))
    }
}

/// Polls `check` until it returns `Some`, or panics after `deadline` with
/// `what` and the last value seen.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => {
                if start.elapsed() > deadline {
                    panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// Follows a JSON pointer, returning `Null` when absent.
pub fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// The names of the items of a List object.
pub fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Parses kubectl's column output (header line, then rows aligned under
/// it) into one map per row, keyed by header. Cells are cut at the header
/// columns' start offsets, so empty cells (no SHORTNAMES) stay empty.
pub fn parse_table(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else { return Vec::new() };
    let mut starts = Vec::new();
    let bytes = header.as_bytes();
    for i in 0..bytes.len() {
        // kubectl pads columns with at least three spaces; a single space
        // is inside a header ("NOMINATED NODE").
        if bytes[i] != b' ' && (i == 0 || (i >= 2 && bytes[i - 1] == b' ' && bytes[i - 2] == b' ')) {
            starts.push(i);
        }
    }
    let names: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).copied().unwrap_or(header.len());
            header[s..end].trim().to_owned()
        })
        .collect();
    lines
        .map(|line| {
            names
                .iter()
                .enumerate()
                .map(|(n, name)| {
                    let s = starts[n].min(line.len());
                    let e = starts.get(n + 1).copied().unwrap_or(line.len()).min(line.len());
                    (name.clone(), line[s..e].trim().to_owned())
                })
                .collect()
        })
        .collect()
}

/// A unique-enough suffix for names within one server.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A ConfigMap manifest (YAML).
pub fn cm_yaml(name: &str, namespace: Option<&str>, data: &[(&str, &str)], labels: &[(&str, &str)]) -> String {
    let mut y = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    if let Some(ns) = namespace {
        y.push_str(&format!("  namespace: {ns}\n"));
    }
    if !labels.is_empty() {
        y.push_str("  labels:\n");
        for (k, v) in labels {
            y.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    if !data.is_empty() {
        y.push_str("data:\n");
        for (k, v) in data {
            y.push_str(&format!("  {k}: \"{v}\"\n"));
        }
    }
    y
}

/// A Namespace manifest (YAML).
pub fn ns_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// A Deployment manifest (YAML) with one container.
pub fn deployment_yaml(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: {image}
        ports:
        - containerPort: 80
"
    )
}

/// How long one `ferry` CLI invocation may run before the test fails.
const FERRY_CLI_DEADLINE: Duration = Duration::from_secs(120);

impl Server {
    /// Runs the `ferry` CLI against this server: `KUBECONFIG` is its
    /// kubeconfig, HOME is the test's, `USER` is `ferry-test`.
    pub async fn ferry(&self, args: &[&str]) -> Out {
        self.ferry_with(args, None).await
    }

    /// Runs the `ferry` CLI with `stdin` as its standard input.
    pub async fn ferry_with(&self, args: &[&str], stdin: Option<&str>) -> Out {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dirs.home())
            .env("USER", "ferry-test")
            .env("FERRY_LOG", "warn")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .kill_on_drop(true)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ferry");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write ferry stdin");
            drop(pipe);
        }
        let output = match tokio::time::timeout(FERRY_CLI_DEADLINE, child.wait_with_output()).await {
            Ok(output) => output.expect("ferry output"),
            Err(_) => panic!("ferry {args:?} did not finish within {FERRY_CLI_DEADLINE:?}"),
        };
        Out {
            args: std::iter::once("(ferry)".to_owned()).chain(args.iter().map(|s| s.to_string())).collect(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `ferry install` (server-side apply of the CRD, RBAC and controller),
    /// which must succeed: the setup of tests about Applications.
    pub async fn install_ferry(&self) -> Out {
        self.ferry(&["install"]).await.ok()
    }
}
