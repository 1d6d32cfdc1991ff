//! Benchmarks of promotion, run by `bench/run promotion` (see bench/README.md): the local
//! cluster, the Application controller and the promoter in this (release) process, Debian's
//! docker-registry on loopback, real git repositories. They print `BENCH` lines and assert only
//! correctness, never timings.
//!
//! `cargo bench -p promoter --bench promotion [-- FILTER]`

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmarks fail loudly by design

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "../../warehouse/tests/support/registry.rs"]
mod registry;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use oci_client::Reference;
use oci_client::secrets::RegistryAuth;
use promotion::{Freight, FreightFields, Image, Promotion, PromotionPhase, Stage, Warehouse};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// One warehouse over an image repository with many tags: discovery time and memory.
async fn bench_warehouse_10k_tags() {
    let tags = env_usize("BENCH_TAGS", 10_000);
    let registry = registry::start_registry(None);
    let pusher = registry::pusher();
    let auth = RegistryAuth::Anonymous;
    let address = registry.address.clone();
    let started = Instant::now();
    // The first push uploads the blobs; the rest only put the manifest under another tag.
    registry::push_image(&pusher, &auth, &address, "team/web", "v1.0.0", "2024-01-01T00:00:00Z", "x").await;
    let first = Reference::with_tag(address.clone(), "team/web".into(), "v1.0.0".into());
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let (manifest, _) = pusher.pull_manifest_raw(&first, &auth, &[media_type]).await.unwrap();
    let names: Vec<String> = (1..tags).map(|i| format!("v1.{}.{}", i / 100, i % 100)).collect();
    futures::stream::iter(names)
        .for_each_concurrent(16, |tag| {
            let (pusher, address, manifest) = (&pusher, &address, manifest.clone());
            async move {
                let reference = Reference::with_tag(address.clone(), "team/web".into(), tag);
                pusher.push_manifest_raw(&reference, manifest.to_vec(), media_type.parse().unwrap()).await.unwrap();
            }
        })
        .await;
    println!("(pushed {tags} tags in {:.1} s)", started.elapsed().as_secs_f64());

    let git = source::GitCache::new(source::CacheConfig {
        root: tempfile::tempdir().unwrap().keep(),
        git: "git".into(),
        fetch_timeout: Duration::from_secs(60),
    })
    .unwrap();
    let none_git = |_: &str| None;
    let none_registry = |_: &str| None;
    let context =
        warehouse::DiscoveryContext { git: &git, git_credentials: &none_git, registry_credentials: &none_registry };
    let subscription: promotion::Subscription = serde_json::from_value(json!({
        "image": {"repoURL": format!("{address}/team/web"), "constraint": "^1"}
    }))
    .unwrap();
    let before = rss_kib();
    let mut times = Vec::new();
    let mut newest = String::new();
    for _ in 0..env_usize("BENCH_ROUNDS", 5) {
        let start = Instant::now();
        let found = warehouse::discover(&subscription, &context).await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        newest = found.images[0].tag.clone();
    }
    let after = rss_kib();
    assert_eq!(newest, format!("v1.{}.{}", (tags - 1) / 100, (tags - 1) % 100));
    let median = percentile(&mut times, 0.5);
    println!(
        "BENCH warehouse {tags} tags: discovery (SemVer ^1, 20 newest with digests) median {median:.0} ms, min {:.0} ms, max {:.0} ms; process RSS {} KiB before, {} KiB after ({} KiB growth)",
        times[0],
        times[times.len() - 1],
        before,
        after,
        after.saturating_sub(before)
    );
}

/// From a tag appearing in the registry to dev Synced and Healthy at it.
async fn bench_tag_to_dev_healthy() {
    let rounds = env_usize("BENCH_ROUNDS", 5);
    for variant in ["webhook", "polling"] {
        let promo = Promo::start().await;
        let registry = registry::start_registry(None);
        let image = format!("{}/team/web", registry.address);
        let pusher = registry::pusher();
        let auth = RegistryAuth::Anonymous;
        let repo = source_repo();
        let url = repo.url();
        promo.env.create_app(app("web-dev", &url, "main", "env/dev")).await;
        let mut warehouse = image_warehouse("web", &image);
        warehouse["spec"]["interval"] = json!(if variant == "polling" { "2s" } else { "1h" });
        promo.apply::<Warehouse>(warehouse).await;
        let mut stage = dev_stage(&url, &image);
        stage["spec"]["verification"] = serde_json::Value::Null;
        promo.apply::<Stage>(stage).await;
        let mut samples = Vec::new();
        for round in 0..rounds {
            let tag = format!("v1.0.{round}");
            let start = Instant::now();
            registry::push_image(&pusher, &auth, &registry.address, "team/web", &tag, "2024-01-01T00:00:00Z", &tag)
                .await;
            if variant == "webhook" {
                assert_eq!(promo.notify_push(&registry.address, "team/web", TOKEN).await, 200);
            }
            let wanted = format!("{image}:{tag}");
            loop {
                let app = promo.env.app("web-dev").await;
                let healthy = gitops::is_synced_healthy(&app);
                if healthy && deployment_image(&promo, "web-dev").await.as_deref() == Some(wanted.as_str()) {
                    break;
                }
                if start.elapsed() > Duration::from_secs(120) {
                    let promotions: Vec<String> = promo
                        .promotions("dev")
                        .await
                        .iter()
                        .map(|p| {
                            format!(
                                "{} {:?} {:?}",
                                p.spec.freight,
                                phase(p),
                                p.status.as_ref().and_then(|s| s.message.clone())
                            )
                        })
                        .collect();
                    let freight: Vec<String> = promo
                        .api::<Freight>()
                        .list(&ListParams::default())
                        .await
                        .unwrap()
                        .items
                        .iter()
                        .map(|f| format!("{} {}", f.name_any(), f.spec.images[0].tag))
                        .collect();
                    let warehouse: Warehouse = promo.api::<Warehouse>().get("web").await.unwrap();
                    panic!(
                        "{tag} did not reach dev: promotions {promotions:#?}, freight {freight:#?}, warehouse {:?}",
                        warehouse.status
                    );
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        let p50 = percentile(&mut samples, 0.5);
        println!(
            "BENCH tag to dev Synced+Healthy ({variant}{}): {rounds} tags: p50 {p50:.0} ms, min {:.0} ms, max {:.0} ms",
            if variant == "polling" { ", warehouse interval 2s" } else { "" },
            samples[0],
            samples[samples.len() - 1]
        );
    }
}

/// Many stages promoting at once, all committing to the same branch of one repository.
async fn bench_100_stages_promoting() {
    let count = env_usize("BENCH_STAGES", 100);
    let promo = Promo::start().await;
    let repo = Repo::new();
    for i in 0..count {
        repo.write(&format!("env/s{i}/values.yaml"), "# values of one stage\nimage:\n  tag: none\n");
    }
    repo.commit("stages");
    repo.git(&["checkout", "-q", "--detach"]);
    let url = repo.url();
    for i in 0..count {
        promo
            .apply::<Stage>(json!({
                "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
                "metadata": {"name": format!("s{i}"), "namespace": promotion::NAMESPACE},
                "spec": {
                    "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}],
                    "vars": [{"name": "repoURL", "value": url}],
                    "promotionTemplate": {"spec": {"steps": [
                        {"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}", "checkout": [{"branch": "main", "path": "./repo"}]}},
                        {"uses": "yaml-update", "config": {"path": "./repo/env/${{ ctx.stage }}/values.yaml",
                            "updates": [{"key": "image.tag", "value": "${{ freight.images[0].tag }}"}]}},
                        {"uses": "git-commit", "config": {"path": "./repo", "message": "${{ ctx.stage }}: ${{ freight.images[0].tag }}"}},
                        {"uses": "git-push", "config": {"path": "./repo"}},
                    ]}},
                },
            }))
            .await;
    }
    let images = vec![Image {
        repo_url: "registry.invalid/team/web".into(),
        tag: "v1.0.0".into(),
        digest: format!("sha256:{:0>64}", 7),
        created_at: None,
    }];
    let name = promotion::naming::freight_name(&[], &images, &[]);
    let mut freight = Freight::new(
        &name,
        FreightFields {
            alias: "bench".into(),
            origin: promotion::FreightOrigin::warehouse("web"),
            images,
            ..Default::default()
        },
    );
    freight.metadata.namespace = Some(promotion::NAMESPACE.to_owned());
    let freight = promo.api::<Freight>().create(&PostParams::default(), &freight).await.unwrap();
    let stages = promo.api::<Stage>().list(&ListParams::default()).await.unwrap().items;
    let start = Instant::now();
    for stage in &stages {
        let promotion = promotion::new_promotion(stage, &freight, chrono::Utc::now()).unwrap();
        promo.api::<Promotion>().create(&PostParams::default(), &promotion).await.unwrap();
    }
    let ended = promo
        .wait_for::<Promotion, _>("every promotion to end", |all| {
            (all.len() == count && all.iter().all(|p| phase(p).is_terminal())).then(|| all.to_vec())
        })
        .await;
    let took = start.elapsed().as_secs_f64();
    let succeeded = ended.iter().filter(|p| phase(p) == PromotionPhase::Succeeded).count();
    let commits = repo.git(&["rev-list", "--count", "main"]).parse::<usize>().unwrap() - 1;
    let failed: Vec<String> = ended
        .iter()
        .filter(|p| phase(p) != PromotionPhase::Succeeded)
        .map(|p| format!("{}: {:?}", p.name_any(), p.status.as_ref().and_then(|s| s.message.clone())))
        .collect();
    println!(
        "BENCH {count} stages promoting at once (one repo, one branch): {succeeded}/{count} succeeded in {took:.1} s = {:.1} promotions/s; main received {commits} commits",
        count as f64 / took
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
    assert_eq!(commits, count, "one commit per promotion");
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "bench_".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let benches: [(&str, fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>); 3] = [
        ("bench_warehouse_10k_tags", || Box::pin(bench_warehouse_10k_tags())),
        ("bench_tag_to_dev_healthy", || Box::pin(bench_tag_to_dev_healthy())),
        ("bench_100_stages_promoting", || Box::pin(bench_100_stages_promoting())),
    ];
    for (name, bench) in benches {
        if name.contains(&filter) {
            runtime.block_on(bench());
        }
    }
}
