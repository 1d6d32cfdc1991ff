//! Sync operations requested through the `operation` field, and the limits
//! of a running one: manual, selective and dry-run syncs, rollback,
//! termination, the sync timeout and retries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use application::{Application, OperationPhase, OperationState, SyncStatusCode};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

fn state(app: &Application) -> OperationState {
    app.status.as_ref().and_then(|s| s.operation_state.clone()).expect("an operation state")
}

fn history_len(app: &Application) -> usize {
    app.status.as_ref().map_or(0, |s| s.history.len())
}

fn revision(app: &Application) -> Option<String> {
    app.status.as_ref()?.sync.as_ref()?.revision.clone()
}

/// The operation ended (any final phase) and the request was cleared.
fn finished(app: &Application) -> bool {
    matches!(operation_phase(app), Some(OperationPhase::Succeeded | OperationPhase::Failed | OperationPhase::Error))
        && app.spec.operation.is_none()
}

/// Requests a sync through the `operation` field, as `kubectl patch` would.
async fn request_sync(env: &Env, name: &str, sync: Value) {
    env.patch_app(name, json!({"operation": {"sync": sync, "initiatedBy": {"username": "tester"}}})).await;
}

/// Requests a sync and waits for it to finish.
async fn sync_and_wait(env: &Env, name: &str, sync: Value) -> Application {
    request_sync(env, name, sync).await;
    // Only the controller clears `operation`, when the operation ends: any
    // read after the request without it shows the requested one finished.
    env.wait_app(name, "the requested sync to finish", finished).await
}

async fn wait_out_of_sync(env: &Env, name: &str) -> Application {
    env.wait_app(name, "OutOfSync", |app| sync_status(app) == Some(SyncStatusCode::OutOfSync)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manual_sync_through_the_operation_field() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    let sha = repo.commit("first");
    env.create_app(app_json("manual", &repo.url(), "app", "demo", Value::Null)).await;
    let app = wait_out_of_sync(&env, "manual").await;
    assert!(app.status.unwrap().operation_state.is_none(), "no automated policy: nothing syncs by itself");
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("settings").await.unwrap().is_none());

    let app = sync_and_wait(&env, "manual", json!({})).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    assert!(app.spec.operation.is_none(), "the request is cleared when the operation ends");
    assert_eq!(state.operation.unwrap().initiated_by.unwrap().username.as_deref(), Some("tester"));
    assert_eq!(state.sync_result.unwrap().revision.as_deref(), Some(sha.as_str()));
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "one");
    let app = env.wait_synced_healthy("manual").await;
    assert_eq!(history_len(&app), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn selective_sync_applies_only_the_named_resources() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/a.yaml", &config_map("alpha", "a"));
    repo.write("app/b.yaml", &config_map("beta", "b"));
    repo.commit("two maps");
    // The namespace exists: sync::plan leaves CreateNamespace out of a
    // selective sync (see the report).
    let namespaces: Api<Namespace> = Api::all(env.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "demo"}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    env.create_app(app_json("selective", &repo.url(), "app", "demo", Value::Null)).await;
    wait_out_of_sync(&env, "selective").await;

    let app = sync_and_wait(
        &env,
        "selective",
        json!({"resources": [{"group": "", "kind": "ConfigMap", "name": "alpha", "namespace": "demo"}]}),
    )
    .await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert_eq!(maps.get("alpha").await.unwrap().data.unwrap()["value"], "a");
    assert!(maps.get_opt("beta").await.unwrap().is_none(), "beta was not selected");
    let results = state.sync_result.unwrap().resources;
    assert!(results.iter().all(|r| r.name != "beta"), "{results:#?}");
    let app = wait_out_of_sync(&env, "selective").await;
    let beta = app.status.unwrap().resources.into_iter().find(|r| r.name == "beta").unwrap();
    assert_eq!(beta.status, SyncStatusCode::OutOfSync);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dry_run_applies_nothing_and_succeeds() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.27"));
    repo.write("app/pre.yaml", &hook_job("pre", "PreSync", "busybox:1.36", ""));
    repo.commit("first");
    env.create_app(app_json("dry", &repo.url(), "app", "demo", Value::Null)).await;
    wait_out_of_sync(&env, "dry").await;

    let app = sync_and_wait(&env, "dry", json!({"dryRun": true})).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    let namespaces: Api<Namespace> = Api::all(env.client());
    assert!(namespaces.get_opt("demo").await.unwrap().is_none(), "CreateNamespace is dry-run too");
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("settings").await.unwrap().is_none());
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    let jobs: Api<Job> = Api::namespaced(env.client(), "demo");
    assert!(jobs.get_opt("pre").await.unwrap().is_none(), "hooks do not run in a dry run");
    assert_eq!(history_len(&app), 0, "a dry run is not history");
    assert_eq!(sync_status(&env.app("dry").await), Some(SyncStatusCode::OutOfSync));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollback_to_an_earlier_revision() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    let first = repo.commit("first");
    env.create_app(app_json("rollback", &repo.url(), "app", "demo", Value::Null)).await;
    wait_out_of_sync(&env, "rollback").await;
    let app = sync_and_wait(&env, "rollback", json!({})).await;
    assert_eq!(state(&app).phase, OperationPhase::Succeeded);

    repo.write("app/cm.yaml", &config_map("settings", "two"));
    let second = repo.commit("second");
    env.wait_app("rollback", "the second commit seen", |app| revision(app).as_deref() == Some(second.as_str())).await;
    let app = sync_and_wait(&env, "rollback", json!({})).await;
    assert_eq!(state(&app).phase, OperationPhase::Succeeded);
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "two");
    assert_eq!(history_len(&app), 2);

    // Roll back to the first history entry's revision.
    let entry = app.status.as_ref().unwrap().history[0].clone();
    assert_eq!(entry.revision, first);
    let app = sync_and_wait(&env, "rollback", json!({"revision": entry.revision})).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Succeeded, "{state:#?}");
    assert_eq!(state.sync_result.unwrap().revision.as_deref(), Some(first.as_str()));
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "one");
    let history = app.status.as_ref().unwrap().history.clone();
    assert_eq!(history.len(), 3, "{history:#?}");
    assert_eq!(history[2].revision, first);
    assert!(history[2].id > history[1].id);
    // Git still says `two`: the rolled-back app is OutOfSync, and without
    // auto-sync it stays at the first commit.
    let app = wait_out_of_sync(&env, "rollback").await;
    assert_eq!(revision(&app).as_deref(), Some(second.as_str()));
    assert_eq!(maps.get("settings").await.unwrap().data.unwrap()["value"], "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminating_a_running_operation_stops_it() {
    let env = Env::start().await;
    set_never_ready(&env, "stuck/*").await;
    let repo = Repo::new();
    repo.write("app/migrate.yaml", &hook_job("migrate", "PreSync", "stuck/migrate:1", ""));
    repo.write("app/cm.yaml", &config_map("settings", "one"));
    repo.commit("a hook that never ends");
    env.create_app(app_json("stop", &repo.url(), "app", "demo", Value::Null)).await;
    wait_out_of_sync(&env, "stop").await;
    request_sync(&env, "stop", json!({})).await;
    let jobs: Api<Job> = Api::namespaced(env.client(), "demo");
    env.wait_app("stop", "the hook running", |app| {
        operation_phase(app) == Some(OperationPhase::Running)
            && app
                .status
                .as_ref()
                .and_then(|s| s.operation_state.as_ref())
                .and_then(|s| s.sync_result.as_ref())
                .is_some_and(|r| r.resources.iter().any(|r| r.name == "migrate"))
    })
    .await;
    assert!(jobs.get_opt("migrate").await.unwrap().is_some());

    // What `ferry app terminate-op` writes.
    env.patch_app("stop", json!({"status": {"operationState": {"phase": "Terminating"}}})).await;
    let app = env.wait_app("stop", "the operation to end", finished).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Failed, "{state:#?}");
    assert_eq!(state.message.as_deref(), Some("operation terminated"));
    assert!(state.finished_at.is_some());
    assert!(app.spec.operation.is_none(), "the request is cleared");
    eventually("the running hook is stopped (deleted)", || {
        let jobs = jobs.clone();
        async move { jobs.get_opt("migrate").await.unwrap().is_none() }
    })
    .await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("settings").await.unwrap().is_none(), "nothing after the hook ran");
    assert_eq!(history_len(&app), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clearing_the_operation_field_stops_a_running_operation() {
    let env = Env::start().await;
    set_never_ready(&env, "stuck/*").await;
    let repo = Repo::new();
    repo.write("app/web.yaml", &deployment("web", "stuck/web:1"));
    repo.write(
        "app/later.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n  annotations:\n    ferry.dev/sync-wave: \"1\"\n",
    );
    repo.commit("a deployment that never becomes ready");
    env.create_app(app_json("cleared", &repo.url(), "app", "demo", Value::Null)).await;
    wait_out_of_sync(&env, "cleared").await;
    request_sync(&env, "cleared", json!({})).await;
    env.wait_app("cleared", "waiting for the deployment", |app| {
        operation_phase(app) == Some(OperationPhase::Running)
            && state(app).message.is_some_and(|m| m.contains("waiting for healthy state of apps/Deployment web"))
    })
    .await;
    env.patch_app("cleared", json!({"operation": null})).await;
    let app = env
        .wait_app("cleared", "the operation to end", |app| operation_phase(app) == Some(OperationPhase::Failed))
        .await;
    assert_eq!(state(&app).message.as_deref(), Some("operation terminated"));
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("later").await.unwrap().is_none(), "wave 1 never started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_timeout_fails_naming_what_it_waited_for() {
    let env = Env::start().await;
    set_never_ready(&env, "stuck/*").await;
    let repo = Repo::new();
    repo.write("app/web.yaml", &deployment("web", "stuck/web:1"));
    repo.commit("a deployment that never becomes ready");
    let mut app = app_json("slow", &repo.url(), "app", "demo", json!({}));
    app["spec"]["syncPolicy"]["syncTimeout"] = json!("2s");
    env.create_app(app).await;

    let app = env.wait_app("slow", "the sync to time out", finished).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Failed, "{state:#?}");
    let message = state.message.unwrap_or_default();
    assert!(message.contains("timed out after 2s"), "{message}");
    assert!(message.contains("apps/Deployment web"), "the message names what it waited for: {message}");
    assert_eq!(history_len(&app), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_apply_is_retried_up_to_the_limit_then_fails() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/good.yaml", &config_map("good", "1"));
    // Strict field validation refuses the unknown field: every apply fails.
    repo.write("app/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\nspec:\n  oops: true\n");
    repo.commit("one bad object");
    let mut app = app_json("retry", &repo.url(), "app", "demo", json!({}));
    app["spec"]["syncPolicy"]["retry"] = json!({"limit": 2, "backoff": {"duration": "1s", "factor": 1}});
    env.create_app(app).await;

    let retrying = env
        .wait_app("retry", "a retry", |app| {
            operation_phase(app) == Some(OperationPhase::Running) && state(app).retry_count >= 1
        })
        .await;
    assert!(state(&retrying).message.unwrap_or_default().contains("retrying"), "{:#?}", state(&retrying));
    let app = env.wait_app("retry", "the retries to run out", finished).await;
    let state = state(&app);
    assert_eq!(state.phase, OperationPhase::Failed, "{state:#?}");
    assert_eq!(state.retry_count, 2, "{state:#?}");
    let message = state.message.unwrap_or_default();
    assert!(message.contains("ConfigMap bad") && message.contains("spec"), "{message}");
    assert_eq!(history_len(&app), 0);
    // A failed revision is not synced again automatically.
    for _ in 0..2 {
        let again = env.wait_reconciled("retry", 1).await;
        assert_eq!(again.status.as_ref().and_then(|s| s.operation_state.as_ref()).map(|s| s.retry_count), Some(2));
        assert_eq!(operation_phase(&again), Some(OperationPhase::Failed));
    }
}
