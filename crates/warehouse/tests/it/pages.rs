//! Discovery over 10,000 tags against a fake registry of the test's own that pages the tags
//! list (`n` and `last`, as the distribution spec says) and counts requests: every page is
//! read, and only the chosen tags' manifests are asked for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use promotion::{ImageSelectionStrategy, ImageSubscription, Subscription};
use warehouse::{DiscoveryContext, discover};

#[derive(Default)]
struct Fake {
    tags: Vec<String>,
    pages: AtomicUsize,
    manifests: AtomicUsize,
}

/// A JSON body (axum is built without its `json` feature here).
fn json(value: serde_json::Value) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "application/json")], value.to_string())
}

async fn tags_list(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> ([(&'static str, &'static str); 1], String) {
    fake.pages.fetch_add(1, Ordering::SeqCst);
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let last = query.get("last").cloned().unwrap_or_default();
    let page: Vec<&String> = fake.tags.iter().filter(|t| **t > last).take(n).collect();
    json(serde_json::json!({"name": "team/app", "tags": page}))
}

async fn manifest(State(fake): State<Arc<Fake>>, Path(tag): Path<String>) -> (StatusCode, HeaderMap) {
    fake.manifests.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    let index = fake.tags.iter().position(|t| *t == tag);
    let Some(index) = index else {
        return (StatusCode::NOT_FOUND, headers);
    };
    headers.insert("Docker-Content-Digest", format!("sha256:{index:064x}").parse().unwrap());
    headers.insert("Content-Type", "application/vnd.oci.image.manifest.v1+json".parse().unwrap());
    (StatusCode::OK, headers)
}

#[tokio::test]
async fn ten_thousand_tags_cost_eleven_pages_and_twenty_manifests() {
    let mut tags: Vec<String> = (0..10_000).map(|i| format!("v1.{}.{}", i / 100, i % 100)).collect();
    tags.push("latest".to_owned());
    tags.sort();
    let fake = Arc::new(Fake { tags, ..Fake::default() });
    let app = Router::new()
        .route("/v2/", get(|| async { json(serde_json::json!({})) }))
        .route("/v2/team/app/tags/list", get(tags_list))
        .route("/v2/team/app/manifests/{tag}", get(manifest))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let git = source::GitCache::new(source::CacheConfig::new(dir.path())).unwrap();
    let ctx = DiscoveryContext { git: &git, git_credentials: &|_| None, registry_credentials: &|_| None };
    let sub = Subscription {
        image: Some(ImageSubscription {
            repo_url: format!("{address}/team/app"),
            image_selection_strategy: ImageSelectionStrategy::SemVer,
            constraint: Some(">=1.50".to_owned()),
            ..ImageSubscription::default()
        }),
        ..Subscription::default()
    };
    let found = discover(&sub, &ctx).await.unwrap();
    let tags: Vec<&str> = found.images.iter().map(|i| i.tag.as_str()).collect();
    assert_eq!(tags.len(), 20);
    assert_eq!(&tags[..3], ["v1.99.99", "v1.99.98", "v1.99.97"]);
    let index = fake.tags.iter().position(|t| t == "v1.99.99").unwrap();
    assert_eq!(found.images[0].digest, format!("sha256:{index:064x}"));
    // 10,001 tags at 1,000 a page: ten full pages and one of a single tag.
    assert_eq!(fake.pages.load(Ordering::SeqCst), 11);
    assert_eq!(fake.manifests.load(Ordering::SeqCst), 20);
}
