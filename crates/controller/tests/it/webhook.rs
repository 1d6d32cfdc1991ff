//! The controller's HTTP endpoint: a signed push webhook refreshes the apps
//! of the pushed repo at once; a badly signed one is refused; metrics and
//! health are served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use application::SyncStatusCode;
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

const SECRET: &str = "s3cret";

fn sign(body: &[u8], secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn push_payload(repo: &Repo, after: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": after,
        "repository": {
            "name": "app",
            "full_name": "test/app",
            "html_url": "https://example.com/test/app",
            "clone_url": repo.url(),
        },
    }))
    .unwrap()
}

fn revision(app: &application::Application) -> Option<String> {
    app.status.as_ref()?.sync.as_ref()?.revision.clone()
}

async fn start_env() -> (Env, SocketAddr) {
    let addr = free_port();
    let env = Env::start_with(|config| {
        // Only the webhook can make the controller see a push in time.
        config.poll_interval = Duration::from_secs(3600);
        config.listen = Some(addr);
        config.webhook_secrets.github = Some(SECRET.into());
    })
    .await;
    wait_listening(addr).await;
    (env, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_push_webhook_syncs_the_new_commit_and_bad_signature_is_refused() {
    let (env, addr) = start_env().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    let first = repo.commit("first");
    env.create_app(app_json("hooked", &repo.url(), "app", "demo", json!({}))).await;
    let app = env.wait_synced_healthy("hooked").await;
    assert_eq!(revision(&app).as_deref(), Some(first.as_str()));

    repo.write("app/cm.yaml", &config_map("settings", "two"));
    let second = repo.commit("second");
    let body = push_payload(&repo, &second);

    // A wrong signature is refused and changes nothing.
    let (status, text) = request(
        addr,
        "POST",
        "/api/webhook",
        &[
            ("x-github-event", "push".into()),
            ("x-hub-signature-256", sign(&body, "not-the-secret")),
            ("content-type", "application/json".into()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, 401, "{text}");
    let (status, text) = request(
        addr,
        "POST",
        "/api/webhook",
        &[("x-github-event", "push".into()), ("content-type", "application/json".into())],
        body.clone(),
    )
    .await;
    assert_eq!(status, 401, "an unsigned payload is refused when a secret is set: {text}");
    // With an hour-long poll interval nothing else fetches: after a
    // reconcile that follows the refused webhooks (woken by a label change,
    // counted on /metrics), the app is still at the first commit.
    let before = reconciles(addr).await;
    env.patch_app("hooked", json!({"metadata": {"labels": {"poke": "1"}}})).await;
    common::eventually("a reconcile after the refused webhooks", || async move { reconciles(addr).await > before })
        .await;
    let app = env.app("hooked").await;
    assert_eq!(revision(&app).as_deref(), Some(first.as_str()), "refreshed without a valid webhook");

    // The signed push is accepted and the new commit synced.
    let (status, text) = request(
        addr,
        "POST",
        "/api/webhook",
        &[
            ("x-github-event", "push".into()),
            ("x-hub-signature-256", sign(&body, SECRET)),
            ("content-type", "application/json".into()),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("refreshing 1 application"), "{text}");
    let app = env
        .wait_app("hooked", "the pushed commit synced", |app| {
            is_synced_healthy(app) && revision(app).as_deref() == Some(second.as_str())
        })
        .await;
    assert_eq!(app.status.unwrap().history.len(), 2);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_for_another_repo_or_event_refreshes_nothing() {
    let (env, addr) = start_env().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    repo.commit("first");
    env.create_app(app_json("other", &repo.url(), "app", "demo", json!({}))).await;
    env.wait_synced_healthy("other").await;

    let elsewhere = Repo::new();
    let body = push_payload(&elsewhere, "1111111111111111111111111111111111111111");
    let headers = [("x-github-event", "push".to_owned()), ("x-hub-signature-256", sign(&body, SECRET))];
    let (status, text) = request(addr, "POST", "/api/webhook", &headers, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("refreshing 0 application"), "{text}");

    let body = br#"{"zen": "hello"}"#.to_vec();
    let headers = [("x-github-event", "ping".to_owned()), ("x-hub-signature-256", sign(&body, SECRET))];
    let (status, text) = request(addr, "POST", "/api/webhook", &headers, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("ignored"), "{text}");

    let body = b"not json".to_vec();
    let headers = [("x-github-event", "push".to_owned()), ("x-hub-signature-256", sign(&body, SECRET))];
    let (status, text) = request(addr, "POST", "/api/webhook", &headers, body).await;
    assert_eq!(status, 400, "{text}");
    let app = env.app("other").await;
    assert_eq!(app.status.and_then(|s| s.sync).map(|s| s.status), Some(SyncStatusCode::Synced));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_and_healthz_are_served() {
    let (env, addr) = start_env().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    repo.commit("first");
    env.create_app(app_json("measured", &repo.url(), "app", "demo", json!({}))).await;
    env.wait_synced_healthy("measured").await;

    let (status, text) = request(addr, "GET", "/healthz", &[], Vec::new()).await;
    assert_eq!((status, text.trim()), (200, "ok"));

    let (status, text) = request(addr, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(status, 200, "{text}");
    for name in [
        "ferry_reconciles_total",
        "ferry_reconcile_duration_seconds",
        "ferry_syncs_started_total",
        "ferry_git_fetches_total",
        "ferry_applications",
        "ferry_cache_objects",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let sample = |prefix: &str| -> f64 {
        text.lines()
            .filter(|line| line.starts_with(prefix) && !line.starts_with('#'))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(sample("ferry_reconciles_total") >= 1.0, "{text}");
    assert_eq!(sample("ferry_applications"), 1.0, "{text}");
    assert!(sample("ferry_syncs_started_total") >= 1.0, "{text}");
    assert!(sample("ferry_git_fetches_total") >= 1.0, "{text}");
}
