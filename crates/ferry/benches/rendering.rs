//! Benchmarks of rendering, run by `bench/run rendering` (see
//! bench/README.md). They print `BENCH` lines and assert only correctness,
//! never timings.
//!
//! - cold Kustomize render: ferry's renderer (which runs the same tool)
//!   against `kubectl kustomize` run directly, interleaved in one run;
//! - warm render: what a render-cache hit costs the controller (object ids of
//!   the app's paths from the git mirror, the key, the lookup) for a
//!   100-object app, from memory and from disk;
//! - Helm: the library backend (in-process) against the CLI backend.
//!
//! `cargo bench -p ferry --bench rendering`

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmarks fail loudly by design

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
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

/// A kustomization of `objects` ConfigMaps over a base, with a name prefix
/// and common labels: the shape of a typical overlay.
fn write_kustomization(root: &Path, objects: usize) {
    let base = root.join("base");
    let overlay = root.join("overlays/prod");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&overlay).unwrap();
    let mut text = String::new();
    for i in 0..objects {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  index: \"{i}\"\n  text: some configuration value {i}\n"
        ));
    }
    std::fs::write(base.join("objects.yaml"), text).unwrap();
    std::fs::write(
        base.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n",
    )
    .unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamePrefix: prod-\nlabels:\n- pairs: {env: prod}\n  includeSelectors: false\nresources:\n- ../../base\n",
    )
    .unwrap();
}

fn kubectl() -> String {
    std::env::var("FERRY_KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Cold renders of one kustomization: ferry's renderer and `kubectl
/// kustomize` alternate, so both see the same machine load.
fn bench_kustomize_cold() {
    let rounds = env_usize("BENCH_ROUNDS", 20);
    let repo = tempfile::tempdir().unwrap();
    write_kustomization(repo.path(), 100);
    let source = application::ApplicationSource { path: "overlays/prod".to_owned(), ..Default::default() };
    let tools = render::Toolbox::default();
    let app = render::AppInfo::default();
    let detected = render::detect(repo.path(), &source).unwrap();
    let (mut ferry, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let rendered = render::render(repo.path(), &source.path, &detected, &app, &tools).unwrap();
        ferry.push(start.elapsed());
        assert_eq!(rendered.manifests.len(), 100);

        let start = Instant::now();
        let out = Command::new(kubectl()).arg("kustomize").arg(repo.path().join("overlays/prod")).output().unwrap();
        direct.push(start.elapsed());
        assert!(out.status.success());
    }
    let (ferry, direct) = (median(ferry), median(direct));
    println!(
        "BENCH kustomize cold render (100 objects, overlay over a base; median of {rounds}): ferry {:.1} ms, kubectl kustomize directly {:.1} ms: {:.2}x",
        ferry.as_secs_f64() * 1e3,
        direct.as_secs_f64() * 1e3,
        ferry.as_secs_f64() / direct.as_secs_f64()
    );
}

/// A cache hit as the controller takes it: the object ids of the app's
/// input paths read from the mirror, the key built, the entry looked up.
fn bench_cache_hit() {
    let rounds = env_usize("BENCH_ROUNDS", 2000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for app in 0..200 {
        let dir = repo.join(format!("apps/app-{app}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{app}-cm-{i}\ndata:\n  index: \"{i}\"\n"
            ));
        }
        std::fs::write(dir.join("objects.yaml"), text).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "apps"]);
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.display());
    let cache = source::GitCache::new(source::CacheConfig::new(work.path().join("git"))).unwrap();
    runtime.block_on(cache.fetch(&url, None)).unwrap();

    let tools = render::Toolbox::default();
    let source = application::ApplicationSource { path: "apps/app-7".to_owned(), ..Default::default() };
    let key = |ids: &[Option<String>]| {
        let mut key = rendercache::CacheKey::new()
            .part("source", serde_json::to_string(&source).unwrap())
            .part("tools", tools.fingerprint());
        for id in ids {
            key = key.part("id", id.as_deref().unwrap_or("(missing)"));
        }
        key
    };
    let paths = vec!["apps/app-7".to_owned(), "apps/app-7/Chart.yaml".to_owned()];
    let checkout = runtime.block_on(cache.checkout(&url, &sha)).unwrap();
    let detected = render::detect(&checkout, &source).unwrap();
    let rendered = render::render(&checkout, &source.path, &detected, &render::AppInfo::default(), &tools).unwrap();
    assert_eq!(rendered.manifests.len(), 100);
    let objects: Vec<serde_json::Value> = rendered.manifests.into_iter().map(|m| m.object).collect();
    let store = work.path().join("renders");
    let renders = rendercache::RenderCache::open(&store, rendercache::Limits::default()).unwrap();
    let ids = runtime.block_on(cache.path_ids(&url, &sha, &paths)).unwrap();
    renders.put(&key(&ids), rendercache::Entry::new(objects, rendered.tools));

    let hit = |renders: &rendercache::RenderCache, memory_only: bool| -> Duration {
        let start = Instant::now();
        let ids = runtime.block_on(cache.path_ids(&url, &sha, &paths)).unwrap();
        let key = key(&ids);
        let entry = if memory_only { renders.get_memory(&key) } else { renders.get(&key) };
        let took = start.elapsed();
        assert_eq!(entry.expect("a hit").objects.len(), 100);
        took
    };
    let memory: Vec<Duration> = (0..rounds).map(|_| hit(&renders, true)).collect();
    // Disk: a fresh cache per sample (each opens the directory, then reads
    // the entry once; the open is not counted).
    let disk: Vec<Duration> = (0..50.min(rounds))
        .map(|_| {
            let fresh = rendercache::RenderCache::open(&store, rendercache::Limits::default()).unwrap();
            hit(&fresh, false)
        })
        .collect();
    let mean = |samples: &[Duration]| samples.iter().sum::<Duration>().as_secs_f64() / samples.len() as f64;
    println!(
        "BENCH warm render (cache hit, 100-object app in a 200-app repo; ids from the git mirror + key + lookup): memory {:.3} ms mean, {:.3} ms median over {rounds}; disk {:.3} ms mean",
        mean(&memory) * 1e3,
        median(memory.clone()).as_secs_f64() * 1e3,
        mean(&disk) * 1e3,
    );
}

/// Helm: the library in-process against the CLI backend (a `helm`
/// program: `FERRY_HELM`, or the test shim that runs the same library
/// through Python when no helm binary is installed), on the same chart.
fn bench_helm_backends() {
    let rounds = env_usize("BENCH_ROUNDS", 20);
    let library = std::env::var("FERRY_LIBHELM").expect("set FERRY_LIBHELM (scripts/helm-sdk prints it)");
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/testdata/helm/bin/helm");
    let cli = std::env::var("FERRY_HELM").map(std::path::PathBuf::from).unwrap_or(shim);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../render/testdata/helm/envs/repo");
    let helm = application::HelmSource { value_files: vec!["values-prod.yaml".into()], ..Default::default() };
    let app = render::AppInfo { name: "shop".into(), namespace: "prod".into(), ..Default::default() };
    let tools = |engine| render::HelmTools::new(render::HelmOptions { engine: Some(engine), ..Default::default() });
    let backends =
        [("library", tools(render::HelmEngine::Library(library.into()))), ("CLI", tools(render::HelmEngine::Cli(cli)))];
    let mut results = Vec::new();
    for (name, tools) in &backends {
        // The first call loads the library (or finds the program): not counted.
        let (first, _) = render::render_helm(&repo, "charts/web", &helm, &app, tools).unwrap();
        let samples: Vec<Duration> = (0..rounds)
            .map(|_| {
                let start = Instant::now();
                let (manifests, _) = render::render_helm(&repo, "charts/web", &helm, &app, tools).unwrap();
                let took = start.elapsed();
                assert_eq!(manifests, first);
                took
            })
            .collect();
        results.push(format!("{name} ({}) {:.1} ms", tools.describe(), median(samples).as_secs_f64() * 1e3));
    }
    println!("BENCH helm render (chart with a dependency and a hook; median of {rounds}): {}", results.join(", "));
}

type Bench = (&'static str, fn());

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let benches: [Bench; 3] = [
        ("bench_render_kustomize_cold", bench_kustomize_cold),
        ("bench_render_cache_hit", bench_cache_hit),
        ("bench_render_helm", bench_helm_backends),
    ];
    for (name, bench) in benches {
        if name.contains(&filter) {
            println!("running {name}");
            bench();
        }
    }
}
