//! Benchmarks of the GitOps engine, run by `bench/run gitops` (see
//! bench/README.md): `ferry cluster serve` and `ferry controller` as two
//! release processes on this machine, apps from real git repositories.
//! They print `BENCH` lines and assert only correctness, never timings.
//!
//! `cargo bench -p ferry --bench gitops`

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmarks fail loudly by design

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use application::Application;
use common::{Server, ServerOptions, Sim};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Writes app `i`: 8 ConfigMaps, a Service and a one-replica Deployment.
fn write_app(root: &Path, i: usize, value: &str) {
    let dir = root.join(format!("apps/app-{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    for j in 0..8 {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}-cm-{j}\ndata:\n  value: \"{value}\"\n"
        ));
    }
    text.push_str(&format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n  - port: 80\n"
    ));
    text.push_str(&format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    ));
    std::fs::write(dir.join("manifests.yaml"), text).unwrap();
}

fn app_object(name: &str, repo: &str, path: &str, namespace: &str) -> Application {
    serde_json::from_value(json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": "ferry"},
        "spec": {
            "source": {"repoURL": repo, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    }))
    .unwrap()
}

fn synced_at(app: &Application, revision: &str) -> bool {
    let Some(status) = app.status.as_ref() else { return false };
    status
        .sync
        .as_ref()
        .is_some_and(|s| s.status == application::SyncStatusCode::Synced && s.revision.as_deref() == Some(revision))
        && status.health.as_ref().is_some_and(|h| h.status == health::HealthStatus::Healthy)
        && app.spec.operation.is_none()
}

/// Waits until every app is Synced at `revision` and Healthy; returns how long it took.
async fn wait_all(apps: &Api<Application>, revision: &str, count: usize, start: Instant) -> Duration {
    let deadline = start + Duration::from_secs(600);
    loop {
        let list = apps.list(&ListParams::default()).await.unwrap();
        let done = list.items.iter().filter(|a| synced_at(a, revision)).count();
        if done == count {
            return start.elapsed();
        }
        assert!(Instant::now() < deadline, "only {done} of {count} apps synced after 600 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `ferry controller` as a child process, killed on drop.
struct ControllerProcess {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl ControllerProcess {
    async fn start(kubeconfig: &Path) -> ControllerProcess {
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["controller", "--kubeconfig"])
            .arg(kubeconfig)
            .arg("--data-dir")
            .arg(data.path())
            .args(["--controller-listen", &format!("127.0.0.1:{port}"), "--poll-interval", "1h"])
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let process = ControllerProcess { child, port, _data: data };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(port, "/healthz").await.is_none() {
            assert!(Instant::now() < deadline, "controller did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    request(&mut stream, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).await
}

async fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let mut text =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    request(&mut stream, &text).await
}

async fn request(stream: &mut tokio::net::TcpStream, text: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(text.as_bytes()).await.ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await.ok()?;
    Some(out)
}

/// A GitHub push event for `repo` (no secret is configured in the bench).
fn push_payload(repo: &str, after: &str) -> String {
    json!({"ref": "refs/heads/main", "after": after,
        "repository": {"clone_url": repo, "html_url": repo, "url": repo, "full_name": "bench/repo"}})
    .to_string()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (1-based) are utime and stime; after the
    // name, the state is field 3, so they sit at indexes 11 and 12.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

async fn install(client: &kube::Client) {
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &application::crd())
        .await
        .unwrap();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "ferry"}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), "ferry");
    let deadline = Instant::now() + Duration::from_secs(30);
    while apps.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "CRD not served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_apps(apps: &Api<Application>, objects: Vec<Application>) {
    let mut pending = futures::stream::iter(objects.into_iter().map(|app| {
        let apps = apps.clone();
        async move { apps.create(&PostParams::default(), &app).await.unwrap() }
    }))
    .buffer_unordered(16);
    while pending.next().await.is_some() {}
}

/// A git repository of `count` apps (`apps/app-N`); its first commit and URL.
fn monorepo(count: usize) -> (tempfile::TempDir, String, String) {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    for i in 0..count {
        write_app(repo.path(), i, "one");
    }
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "first"]);
    let first = git(repo.path(), &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.path().display());
    (repo, first, url)
}

/// 1,000 apps × 10 objects from one monorepo: initial sync, then one commit
/// that changes every app; the controller's RSS per object; and the CPU of
/// no-op refreshes.
async fn bench_many_apps() {
    let count = env_usize("BENCH_APPS", 1000);
    let server =
        Server::start_with(ServerOptions { simulation: Sim::On, ready_delay_ms: 200, ..Default::default() }).await;
    let client = server.client().await;
    install(&client).await;
    let (repo, first, url) = monorepo(count);

    let controller = ControllerProcess::start(&server.kubeconfig).await;
    let idle_rss = rss_bytes(controller.pid());
    let apps: Api<Application> = Api::namespaced(client.clone(), "ferry");
    let objects: Vec<Application> = (0..count)
        .map(|i| app_object(&format!("app-{i}"), &url, &format!("apps/app-{i}"), &format!("bench-{}", i / 100)))
        .collect();
    let (server_cpu, controller_cpu) = (cpu_seconds(server.pid()), cpu_seconds(controller.pid()));
    let start = Instant::now();
    create_apps(&apps, objects).await;
    let initial = wait_all(&apps, &first, count, start).await;
    println!(
        "BENCH many apps: {count} apps x 10 objects, created at once: all Synced and Healthy in {:.2} s (CPU: API server {:.1} s, controller {:.1} s)",
        initial.as_secs_f64(),
        cpu_seconds(server.pid()) - server_cpu,
        cpu_seconds(controller.pid()) - controller_cpu,
    );

    // One commit changing every app, announced by webhook.
    for i in 0..count {
        write_app(repo.path(), i, "two");
    }
    git(repo.path(), &["commit", "-qam", "second"]);
    let second = git(repo.path(), &["rev-parse", "HEAD"]);
    let (server_cpu, controller_cpu) = (cpu_seconds(server.pid()), cpu_seconds(controller.pid()));
    let start = Instant::now();
    announce_push(controller.port, &url, &second).await;
    let changed = wait_all(&apps, &second, count, start).await;
    println!(
        "BENCH many apps: one commit changing all {count} apps (webhook): all Synced and Healthy in {:.2} s (CPU: API server {:.1} s, controller {:.1} s)",
        changed.as_secs_f64(),
        cpu_seconds(server.pid()) - server_cpu,
        cpu_seconds(controller.pid()) - controller_cpu,
    );

    let rss = rss_bytes(controller.pid());
    let objects = count * 10;
    println!(
        "BENCH controller RSS: {:.1} MiB idle, {:.1} MiB with {count} apps / {objects} objects: {:.0} bytes per object (apps, caches and renders included)",
        idle_rss as f64 / 1048576.0,
        rss as f64 / 1048576.0,
        (rss.saturating_sub(idle_rss)) as f64 / objects as f64
    );

    // The live-state cache's own figure, as exported on /metrics.
    let metrics = http_get(controller.port, "/metrics").await.unwrap();
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    let (cached, bytes) = (gauge("ferry_cache_objects"), gauge("ferry_cache_bytes"));
    println!(
        "BENCH live cache: {cached} objects (tracked and their children) in {:.1} MiB: {:.0} bytes per object",
        bytes / 1048576.0,
        bytes / cached.max(1.0)
    );

    // No-op refreshes: annotate apps, wait until the controller has consumed
    // every annotation, and charge the controller's CPU minus its idle rate.
    let idle_window = Duration::from_secs(3);
    let idle_start = cpu_seconds(controller.pid());
    tokio::time::sleep(idle_window).await;
    let idle_rate = (cpu_seconds(controller.pid()) - idle_start) / idle_window.as_secs_f64();
    let refreshed = count.min(100);
    let rounds = 10;
    let cpu_before = cpu_seconds(controller.pid());
    let start = Instant::now();
    for _ in 0..rounds {
        for i in 0..refreshed {
            let patch = json!({"metadata": {"annotations": {"ferry.dev/refresh": "normal"}}});
            apps.patch(&format!("app-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let list = apps.list(&ListParams::default()).await.unwrap();
            let pending = list
                .items
                .iter()
                .filter(|a| a.metadata.annotations.as_ref().is_some_and(|m| m.contains_key("ferry.dev/refresh")))
                .count();
            if pending == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{pending} refreshes not consumed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(controller.pid()) - cpu_before - idle_rate * elapsed;
    let total = refreshed * rounds;
    println!(
        "BENCH no-op refresh: {total} refreshes of 10-object apps (annotation ferry.dev/refresh=normal): {:.3} ms controller CPU each (idle rate {:.1}% of a core subtracted; includes removing the annotation)",
        cpu * 1000.0 / total as f64,
        idle_rate * 100.0
    );

    // No-op reconciles: a label change wakes the app without asking for a
    // refresh, so nothing is fetched, the comparison is reused and nothing
    // is written: the steady-state cost of an unchanged app.
    let cpu_before = cpu_seconds(controller.pid());
    let start = Instant::now();
    let metrics_before = http_get(controller.port, "/metrics").await.unwrap();
    let reconciles = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("ferry_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    let before = reconciles(&metrics_before);
    for round in 0..rounds {
        for i in 0..refreshed {
            let patch = json!({"metadata": {"labels": {"bench-round": round.to_string()}}});
            apps.patch(&format!("app-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done;
    loop {
        done = reconciles(&http_get(controller.port, "/metrics").await.unwrap()) - before;
        if done >= total as f64 * 0.9 {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} reconciles");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    done = reconciles(&http_get(controller.port, "/metrics").await.unwrap()) - before;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(controller.pid()) - cpu_before - idle_rate * elapsed;
    println!(
        "BENCH no-op reconcile: {done} reconciles of unchanged 10-object apps (label changes; no fetch, no write): {:.3} ms controller CPU each (includes receiving the watch event)",
        cpu * 1000.0 / done.max(1.0)
    );
    drop(controller);
}

/// Webhook → Synced latency for one app in its own repo.
async fn bench_webhook_latency() {
    let rounds = env_usize("BENCH_WEBHOOK_ROUNDS", 20);
    let server =
        Server::start_with(ServerOptions { simulation: Sim::On, ready_delay_ms: 200, ..Default::default() }).await;
    let client = server.client().await;
    install(&client).await;
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    write_app(repo.path(), 0, "v0");
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "v0"]);
    let mut revision = git(repo.path(), &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.path().display());
    let controller = ControllerProcess::start(&server.kubeconfig).await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "ferry");
    apps.create(&PostParams::default(), &app_object("hooked", &url, "apps/app-0", "webhook")).await.unwrap();
    wait_all(&apps, &revision, 1, Instant::now()).await;
    let mut latencies = Vec::new();
    for round in 1..=rounds {
        write_app(repo.path(), 0, &format!("v{round}"));
        git(repo.path(), &["commit", "-qam", &format!("v{round}")]);
        revision = git(repo.path(), &["rev-parse", "HEAD"]);
        let start = Instant::now();
        announce_push(controller.port, &url, &revision).await;
        let deadline = start + Duration::from_secs(60);
        loop {
            let app = apps.get("hooked").await.unwrap();
            if synced_at(&app, &revision) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round} did not sync");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "BENCH webhook to Synced: one app of 10 objects, {rounds} pushes: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        p(0.5),
        p(0.9),
        p(1.0)
    );
    drop(controller);
}

/// POSTs a GitHub push event for `sha` of `url` to the controller's webhook.
async fn announce_push(port: u16, url: &str, sha: &str) {
    let reply = http_post(
        port,
        "/api/webhook",
        &[("X-GitHub-Event", "push"), ("Content-Type", "application/json")],
        &push_payload(url, sha),
    )
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// Renders the controller has run, from `/metrics`.
fn renders_total(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ferry_renders_total"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// A 200-app monorepo whose apps declare `manifest-generate-paths`: one
/// commit touching one app (webhook) → how many renders, and how long until
/// every app is Synced at the new commit.
async fn bench_monorepo() {
    let count = env_usize("BENCH_MONOREPO_APPS", 200);
    let server =
        Server::start_with(ServerOptions { simulation: Sim::On, ready_delay_ms: 200, ..Default::default() }).await;
    let client = server.client().await;
    install(&client).await;
    let (repo, first, url) = monorepo(count);
    let controller = ControllerProcess::start(&server.kubeconfig).await;
    let apps: Api<Application> = Api::namespaced(client.clone(), "ferry");
    let objects: Vec<Application> = (0..count)
        .map(|i| {
            let mut app = app_object(&format!("app-{i}"), &url, &format!("apps/app-{i}"), &format!("mono-{}", i / 100));
            app.metadata.annotations =
                Some([("ferry.dev/manifest-generate-paths".to_owned(), ".".to_owned())].into_iter().collect());
            app
        })
        .collect();
    create_apps(&apps, objects).await;
    wait_all(&apps, &first, count, Instant::now()).await;
    let before = renders_total(&http_get(controller.port, "/metrics").await.unwrap());

    write_app(repo.path(), 7, "two");
    git(repo.path(), &["commit", "-qam", "one app"]);
    let second = git(repo.path(), &["rev-parse", "HEAD"]);
    let cpu = cpu_seconds(controller.pid());
    let start = Instant::now();
    announce_push(controller.port, &url, &second).await;
    let took = wait_all(&apps, &second, count, start).await;
    let rendered = renders_total(&http_get(controller.port, "/metrics").await.unwrap()) - before;
    assert_eq!(rendered, 1.0, "a commit touching one app renders exactly one");
    println!(
        "BENCH monorepo: {count} apps, one commit touching one app (webhook): {rendered} render, all {count} Synced at the new commit in {:.2} s (controller CPU {:.2} s)",
        took.as_secs_f64(),
        cpu_seconds(controller.pid()) - cpu,
    );
    drop(controller);
}

type Bench = (&'static str, fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let benches: [Bench; 3] = [
        ("bench_gitops_many_apps", || Box::pin(bench_many_apps())),
        ("bench_gitops_webhook", || Box::pin(bench_webhook_latency())),
        ("bench_gitops_monorepo", || Box::pin(bench_monorepo())),
    ];
    for (name, bench) in benches {
        if name.contains(&filter) {
            println!("running {name}");
            runtime.block_on(bench());
        }
    }
}
