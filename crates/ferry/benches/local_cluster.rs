//! Benchmarks of the local cluster, run by `bench/run` (see bench/README.md).
//! They print figures and assert only correctness (every event seen, in
//! order), never timings. A bench target, not a test: `cargo test` never
//! runs it.
//!
//! `cargo bench -p ferry --bench local_cluster [-- FILTER]`

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, ServerOptions, Sim};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A ConfigMap whose JSON is about 1 KiB.
fn one_kib(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some(name.to_owned()), ..Default::default() },
        data: Some([("payload".to_owned(), "x".repeat(900))].into()),
        ..Default::default()
    }
}

async fn bench_server() -> Server {
    // Simulation off: the figures are the API server's and store's alone.
    Server::start_with(ServerOptions { simulation: Sim::Off, ..Default::default() }).await
}

/// Creates `total` 1 KiB ConfigMaps named `{prefix}-{n}` from `clients`
/// independent clients (each its own connection pool); returns the elapsed
/// time and every acknowledged resourceVersion.
async fn create_many(server: &Server, prefix: &str, total: usize, clients: usize) -> (Duration, Vec<u64>) {
    let mut apis = Vec::new();
    for _ in 0..clients {
        apis.push(Api::<ConfigMap>::namespaced(server.client().await, "default"));
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for api in apis {
        let next = next.clone();
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut rvs = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return rvs;
                }
                let created =
                    api.create(&PostParams::default(), &one_kib(&format!("{prefix}-{n}"))).await.expect("create");
                rvs.push(created.resource_version().unwrap().parse::<u64>().unwrap());
            }
        }));
    }
    let mut rvs = Vec::new();
    for t in tasks {
        rvs.extend(t.await.unwrap());
    }
    (start.elapsed(), rvs)
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn bench_durable_creates() {
    let total = env_usize("BENCH_CREATES", 20_000);
    let clients = env_usize("BENCH_CLIENTS", 16);
    let server = bench_server().await;
    // Warm up connections and the store.
    create_many(&server, "warm", 200, clients).await;
    let (elapsed, rvs) = create_many(&server, "c", total, clients).await;
    assert_eq!(rvs.len(), total);
    println!(
        "BENCH creates: {total} durable creates of 1 KiB ConfigMaps, {clients} concurrent clients: {:.2} s, {:.0} creates/s",
        elapsed.as_secs_f64(),
        per_sec(total, elapsed)
    );
}

async fn bench_watch_fan_out() {
    let watchers = env_usize("BENCH_WATCHERS", 10);
    let writes = env_usize("BENCH_WATCH_WRITES", 10_000);
    let server = bench_server().await;
    let start_rv = {
        let api = Api::<ConfigMap>::namespaced(server.client().await, "default");
        api.list(&kube::api::ListParams::default().limit(1)).await.unwrap().metadata.resource_version.unwrap()
    };
    let mut handles = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    let start_cell = Arc::new(std::sync::OnceLock::<Instant>::new());
    for _ in 0..watchers {
        let api = Api::<ConfigMap>::namespaced(server.client().await, "default");
        let start_rv = start_rv.clone();
        let ready_tx = ready_tx.clone();
        let start_cell = start_cell.clone();
        handles.push(tokio::spawn(async move {
            let mut stream = api.watch(&WatchParams::default().timeout(290), &start_rv).await.expect("watch").boxed();
            ready_tx.send(()).await.unwrap();
            let mut rvs = Vec::with_capacity(writes);
            while rvs.len() < writes {
                match tokio::time::timeout(Duration::from_secs(120), stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Added(o)))) => {
                        rvs.push(o.resource_version().unwrap().parse::<u64>().unwrap())
                    }
                    Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
                    other => panic!("watcher got {other:?} after {} events", rvs.len()),
                }
            }
            let elapsed = start_cell.get().expect("writes started").elapsed();
            (elapsed, rvs)
        }));
    }
    for _ in 0..watchers {
        ready_rx.recv().await.unwrap();
    }
    let _ = start_cell.set(Instant::now());
    let (write_time, mut acked) = create_many(&server, "w", writes, 16).await;
    acked.sort_unstable();
    let mut rates = Vec::new();
    for h in handles {
        let (elapsed, rvs) = h.await.unwrap();
        assert!(rvs.windows(2).all(|w| w[0] < w[1]), "a watcher saw events out of order");
        assert_eq!(rvs, acked, "a watcher missed or duplicated events");
        rates.push(per_sec(writes, elapsed));
    }
    let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "BENCH watch (live): {watchers} watchers x {writes} writes (written in {:.2} s, {:.0}/s): every watcher saw every event in order; events/s per watcher: min {min:.0}, mean {mean:.0} (bounded by the write rate)",
        write_time.as_secs_f64(),
        per_sec(writes, write_time)
    );

    // The same fan-out without the write rate as the bound: the watchers
    // start from the old resourceVersion after the writes, so the server
    // replays all of them from its history to every watcher at once.
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let api = Api::<ConfigMap>::namespaced(server.client().await, "default");
        let start_rv = start_rv.clone();
        handles.push(tokio::spawn(async move {
            let mut stream = api.watch(&WatchParams::default().timeout(290), &start_rv).await.expect("watch").boxed();
            let mut rvs = Vec::with_capacity(writes);
            while rvs.len() < writes {
                match tokio::time::timeout(Duration::from_secs(120), stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Added(o)))) => {
                        rvs.push(o.resource_version().unwrap().parse::<u64>().unwrap())
                    }
                    Ok(Some(Ok(WatchEvent::Bookmark(_)))) => {}
                    other => panic!("replaying watcher got {other:?} after {} events", rvs.len()),
                }
            }
            (start.elapsed(), rvs)
        }));
    }
    let mut rates = Vec::new();
    for h in handles {
        let (elapsed, rvs) = h.await.unwrap();
        assert_eq!(rvs, acked, "a replaying watcher missed, duplicated or reordered events");
        rates.push(per_sec(writes, elapsed));
    }
    let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "BENCH watch (replay): {watchers} watchers each replaying {writes} events from history: all in order; events/s per watcher: min {min:.0}, mean {mean:.0}"
    );
}

async fn bench_list_and_rss() {
    let objects = env_usize("BENCH_OBJECTS", 100_000);
    let server = bench_server().await;
    let (fill, _) = create_many(&server, "l", objects, 16).await;
    println!("BENCH fill: {objects} creates in {:.2} s ({:.0}/s)", fill.as_secs_f64(), per_sec(objects, fill));
    let client = server.client().await;
    let mut best = Duration::MAX;
    let mut body_len = 0;
    let mut items = 0;
    let mut json_size = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let (code, body) =
            common::raw_with(&client, "GET", "/api/v1/namespaces/default/configmaps", None, Vec::new()).await;
        let elapsed = start.elapsed();
        assert_eq!(code, 200);
        best = best.min(elapsed);
        body_len = body.len();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let list = v["items"].as_array().unwrap();
        items = list.len();
        // JSON size of the objects: each item as the server serialises it.
        json_size = list.iter().map(|i| serde_json::to_vec(i).unwrap().len()).sum::<usize>();
    }
    assert!(items >= objects);
    println!(
        "BENCH list: one full list of {items} ConfigMaps ({:.1} MiB of JSON): best of 3 {:.3} s",
        body_len as f64 / 1048576.0,
        best.as_secs_f64()
    );
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let start = Instant::now();
    let typed = api.list(&kube::api::ListParams::default()).await.unwrap();
    println!(
        "BENCH list: the same through kube-rs, typed: {:.3} s ({} items)",
        start.elapsed().as_secs_f64(),
        typed.items.len()
    );
    // Paged, as kubectl and informers list (limit=500 plus continue).
    let start = Instant::now();
    let mut paged = 0;
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let mut lp = kube::api::ListParams::default().limit(500);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list_metadata(&lp).await.unwrap();
        paged += page.items.len();
        pages += 1;
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    println!(
        "BENCH list: paged with limit=500 (metadata only): {pages} pages, {paged} items in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let table = server.kubectl(&["get", "configmaps", "-o", "name"]).await.ok();
    println!(
        "BENCH list: kubectl get configmaps -o name: {:.3} s ({} lines)",
        start.elapsed().as_secs_f64(),
        table.stdout.lines().count()
    );

    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let rss = rss_kib * 1024;
    println!(
        "BENCH rss: server RSS {:.1} MiB with {items} objects of {:.1} MiB JSON: {:.2}x",
        rss as f64 / 1048576.0,
        json_size as f64 / 1048576.0,
        rss as f64 / json_size as f64
    );
}

type BenchFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
type Bench = (&'static str, fn() -> BenchFuture);

/// Runs the benchmarks whose names contain the filter (the first argument
/// that is not a flag), one at a time: they would otherwise compete for the
/// cores.
fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let benches: [Bench; 3] = [
        ("bench_durable_creates", || Box::pin(bench_durable_creates())),
        ("bench_watch_fan_out", || Box::pin(bench_watch_fan_out())),
        ("bench_list_and_rss", || Box::pin(bench_list_and_rss())),
    ];
    for (name, bench) in benches {
        if name.contains(&filter) {
            println!("running {name}");
            runtime.block_on(bench());
        }
    }
}
