//! Broken inputs: each gives a clear condition on the app and applies
//! nothing, not even the valid objects next to the broken one; fixing the
//! repo clears the condition; one broken app never stalls the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use application::{Application, ApplicationConditionType};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

/// The namespace every test app deploys to.
const NS: &str = "demo";

/// Waits for the app's first condition and returns its type and message.
async fn wait_condition(env: &Env, name: &str) -> (ApplicationConditionType, String) {
    let app = env
        .wait_app(name, "an error condition", |app| app.status.as_ref().is_some_and(|s| !s.conditions.is_empty()))
        .await;
    let condition = app.status.as_ref().and_then(|s| s.conditions.first()).cloned().unwrap();
    (condition.type_, condition.message)
}

/// Nothing of the app reached the cluster: no sync started, the namespace
/// (created by CreateNamespace during a sync) does not exist, and no
/// ConfigMap there or anywhere carries the app's tracking id.
async fn assert_nothing_applied(env: &Env, name: &str) {
    let app = env.app(name).await;
    assert!(
        app.status.as_ref().and_then(|s| s.operation_state.as_ref()).is_none(),
        "no sync may start on broken input: {:?}",
        app.status.as_ref().and_then(|s| s.operation_state.as_ref())
    );
    let namespaces: Api<Namespace> = Api::all(env.client());
    assert!(namespaces.get_opt(NS).await.unwrap().is_none(), "namespace {NS} was created");
    let maps: Api<ConfigMap> = Api::all(env.client());
    let tracked: Vec<String> = maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|cm| {
            cm.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("ferry.dev/tracking-id"))
                .is_some_and(|id| id.starts_with(&format!("{name}:")))
        })
        .map(|cm| format!("{}/{}", cm.metadata.namespace.unwrap_or_default(), cm.metadata.name.unwrap_or_default()))
        .collect();
    assert!(tracked.is_empty(), "objects of {name} were applied: {tracked:?}");
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "condition message {message:?} does not mention {part:?}");
    }
}

fn revision(app: &Application) -> Option<String> {
    app.status.as_ref().and_then(|s| s.sync.as_ref()).and_then(|s| s.revision.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_yaml_applies_nothing_and_fixing_it_syncs() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/good.yaml", &config_map("good", "1"));
    repo.write("app/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata: [unclosed\n");
    repo.commit("broken");
    env.create_app(app_json("yaml", &repo.url(), "app", NS, json!({"prune": true}))).await;

    let (kind, message) = wait_condition(&env, "yaml").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["app/bad.yaml"]);
    let app = env.app("yaml").await;
    assert_eq!(sync_status(&app), Some(application::SyncStatusCode::Unknown));
    assert_nothing_applied(&env, "yaml").await;

    // The fix is picked up by polling: the condition clears and both objects sync.
    repo.write("app/bad.yaml", &config_map("bad", "2"));
    let fixed = repo.commit("fixed");
    let app = env
        .wait_app("yaml", "the fixed commit synced", |app| {
            is_synced_healthy(app) && revision(app).as_deref() == Some(fixed.as_str())
        })
        .await;
    assert!(app.status.as_ref().unwrap().conditions.is_empty(), "{:?}", app.status.unwrap().conditions);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), NS);
    assert_eq!(maps.get("good").await.unwrap().data.unwrap()["value"], "1");
    assert_eq!(maps.get("bad").await.unwrap().data.unwrap()["value"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_resources_apply_nothing() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("settings", "a"));
    repo.write("app/b.yaml", &config_map("settings", "b"));
    repo.write("app/other.yaml", &config_map("other", "1"));
    repo.commit("twice");
    env.create_app(app_json("dup", &repo.url(), "app", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "dup").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["ConfigMap \"settings\" in namespace \"demo\"", "defined more than once"]);
    assert_nothing_applied(&env, "dup").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kind_applies_nothing() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.write(
        "app/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gadget\nspec:\n  size: 3\n",
    );
    repo.commit("widget");
    env.create_app(app_json("unknown", &repo.url(), "app", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "unknown").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["Widget", "example.com/v1", "gadget"]);
    assert_nothing_applied(&env, "unknown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unreachable_repos_give_a_condition() {
    let env = Env::start().await;
    env.create_app(app_json("nofile", "file:///nonexistent/repo.git", "app", NS, json!({}))).await;
    env.create_app(app_json("noport", "http://127.0.0.1:1/x.git", "app", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "nofile").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["file:///nonexistent/repo.git"]);
    let (kind, message) = wait_condition(&env, "noport").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["http://127.0.0.1:1/x.git"]);
    assert_nothing_applied(&env, "nofile").await;
    assert_nothing_applied(&env, "noport").await;
    for name in ["nofile", "noport"] {
        assert_eq!(sync_status(&env.app(name).await), Some(application::SyncStatusCode::Unknown));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_path_gives_a_condition() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.commit("first");
    env.create_app(app_json("missing", &repo.url(), "no/such/dir", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "missing").await;
    assert!(
        matches!(kind, ApplicationConditionType::ComparisonError | ApplicationConditionType::InvalidSpecError),
        "{kind:?}: {message}"
    );
    assert_mentions(&message, &["no/such/dir", "does not exist"]);
    assert_nothing_applied(&env, "missing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn path_escaping_the_repo_is_refused() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.commit("first");
    env.create_app(app_json("escape", &repo.url(), "../..", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "escape").await;
    assert!(
        matches!(kind, ApplicationConditionType::ComparisonError | ApplicationConditionType::InvalidSpecError),
        "{kind:?}: {message}"
    );
    assert_mentions(&message, &["../..", "escapes the repository"]);
    assert_nothing_applied(&env, "escape").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn symlink_out_of_the_repo_is_refused() {
    let env = Env::start().await;
    // A valid manifest outside the repo: if the link were followed, it would sync.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("stolen.yaml");
    std::fs::write(&target, config_map("stolen", "secret")).unwrap();
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    std::os::unix::fs::symlink(&target, repo.path().join("app/leak.yaml")).unwrap();
    repo.commit("a link out");
    assert!(repo.git(&["ls-files", "-s", "app/leak.yaml"]).starts_with("120000"), "committed as a symlink");
    env.create_app(app_json("link", &repo.url(), "app", NS, json!({}))).await;

    let (kind, message) = wait_condition(&env, "link").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["app/leak.yaml", "escapes the repository"]);
    assert_nothing_applied(&env, "link").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_app_does_not_stall_a_good_one() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("good/cm.yaml", &config_map("fine", "1"));
    repo.write("broken/cm.yaml", "kind: [\n");
    repo.commit("one good, one broken");
    let mut broken = app_json("broken", &repo.url(), "broken", "other", json!({}));
    broken["spec"]["syncPolicy"]["automated"] = json!({"prune": true});
    let good = app_json("good", &repo.url(), "good", NS, json!({}));
    // Created together, broken first; plus an unreachable repo for good measure.
    env.create_app(broken).await;
    env.create_app(app_json("gone", "http://127.0.0.1:1/gone.git", "x", "gone", json!({}))).await;
    env.create_app(good).await;

    env.wait_synced_healthy("good").await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), NS);
    assert_eq!(maps.get("fine").await.unwrap().data.unwrap()["value"], "1");
    let (kind, message) = wait_condition(&env, "broken").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError, "{message}");
    assert_mentions(&message, &["broken/cm.yaml"]);
    let (kind, _) = wait_condition(&env, "gone").await;
    assert_eq!(kind, ApplicationConditionType::ComparisonError);
}
