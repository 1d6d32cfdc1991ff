//! Health and deletion: a crash-looping image makes the app Degraded and
//! fails its sync; per-resource health; deleting an app with and without
//! the resources finalizer; an app of apps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use application::{Application, OperationPhase, SyncStatusCode};
use common::*;
use health::HealthStatus;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

fn app_health(app: &Application) -> Option<HealthStatus> {
    app.status.as_ref().and_then(|s| s.health.as_ref()).map(|h| h.status)
}

fn resource_health(app: &Application, kind: &str, name: &str) -> Option<HealthStatus> {
    app.status
        .as_ref()?
        .resources
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .and_then(|r| r.health.as_ref())
        .map(|h| h.status)
}

/// A Deployment that gives up quickly (the default progress deadline is 10 min).
fn impatient_deployment(name: &str, image: &str) -> String {
    deployment(name, image).replace("spec:\n  replicas: 2\n", "spec:\n  replicas: 2\n  progressDeadlineSeconds: 2\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_looping_image_degrades_the_app_and_fails_the_sync() {
    let env = Env::start_on(Cluster::start_with(vec!["crash/*".into()]).await, |_| {}).await;
    let repo = Repo::new();
    repo.write("app/good.yaml", &deployment("good", "nginx:1.27"));
    repo.write("app/bad.yaml", &impatient_deployment("bad", "crash/app:1"));
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    let sha = repo.commit("a crashing image");
    env.create_app(app_json("crash", &repo.url(), "app", "demo", json!({}))).await;

    let app = env
        .wait_app("crash", "the sync to end", |app| {
            matches!(
                operation_phase(app),
                Some(OperationPhase::Failed | OperationPhase::Succeeded | OperationPhase::Error)
            ) && app.spec.operation.is_none()
        })
        .await;
    let status = app.status.clone().unwrap();
    let state = status.operation_state.clone().unwrap();
    assert_eq!(state.phase, OperationPhase::Failed, "a Degraded resource fails the sync: {:?}", state.message);
    let message = state.message.clone().unwrap_or_default();
    assert!(message.contains("bad"), "the failure names the degraded resource: {message}");
    assert!(status.history.is_empty(), "a failed sync is not history: {:?}", status.history);

    let app = env.wait_app("crash", "app health Degraded", |app| app_health(app) == Some(HealthStatus::Degraded)).await;
    let health = app.status.as_ref().unwrap().health.clone().unwrap();
    let message = health.message.unwrap_or_default();
    assert!(message.contains("Deployment") && message.contains("bad"), "app health names the resource: {message}");
    // Everything was applied, so the app is Synced even though it is unhealthy.
    assert_eq!(sync_status(&app), Some(SyncStatusCode::Synced));
    assert_eq!(app.status.as_ref().unwrap().sync.as_ref().unwrap().revision.as_deref(), Some(sha.as_str()));

    // Health per resource.
    assert_eq!(resource_health(&app, "Deployment", "bad"), Some(HealthStatus::Degraded));
    assert_eq!(resource_health(&app, "Deployment", "good"), Some(HealthStatus::Healthy));
    let bad = app.status.as_ref().unwrap().resources.iter().find(|r| r.name == "bad").unwrap();
    assert!(bad.health.as_ref().unwrap().message.as_deref().is_some_and(|m| !m.is_empty()), "{bad:?}");
    // A ConfigMap has no health check: no health, which never makes the app worse.
    let cm = app.status.as_ref().unwrap().resources.iter().find(|r| r.kind == "ConfigMap").unwrap();
    assert!(cm.health.as_ref().is_none_or(|h| h.status == HealthStatus::Healthy), "{cm:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_looping_pod_is_degraded() {
    let env = Env::start_on(Cluster::start_with(vec!["crash/*".into()]).await, |_| {}).await;
    let repo = Repo::new();
    repo.write(
        "app/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lonely\nspec:\n  containers:\n  - name: main\n    image: crash/app:1\n",
    );
    repo.commit("a crashing pod");
    env.create_app(app_json("pod", &repo.url(), "app", "demo", json!({}))).await;
    let app = env.wait_app("pod", "app health Degraded", |app| app_health(app) == Some(HealthStatus::Degraded)).await;
    assert_eq!(resource_health(&app, "Pod", "lonely"), Some(HealthStatus::Degraded));
    let message = app.status.unwrap().health.unwrap().message.unwrap_or_default();
    assert!(message.contains("lonely"), "{message}");
    let app = env
        .wait_app("pod", "the sync to end", |app| {
            app.spec.operation.is_none() && operation_phase(app) != Some(OperationPhase::Running)
        })
        .await;
    assert_eq!(operation_phase(&app), Some(OperationPhase::Failed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_with_the_finalizer_deletes_only_the_apps_resources() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("owned", "1"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.27"));
    repo.commit("first");
    let mut app = app_json("doomed", &repo.url(), "app", "demo", json!({}));
    app["metadata"]["finalizers"] = json!([application::FINALIZER]);
    env.create_app(app).await;
    env.wait_synced_healthy("doomed").await;

    // Neighbours: an unrelated ConfigMap, and one another app owns.
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    let unrelated: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "unrelated"}})).unwrap();
    maps.create(&PostParams::default(), &unrelated).await.unwrap();
    repo.write("other/cm.yaml", &config_map("neighbour", "1"));
    repo.commit("a neighbour");
    env.create_app(app_json("neighbour", &repo.url(), "other", "demo", json!({}))).await;
    env.wait_synced_healthy("neighbour").await;

    env.apps.delete("doomed", &DeleteParams::default()).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    eventually("the app's resources are deleted", || {
        let (maps, deployments) = (maps.clone(), deployments.clone());
        async move {
            maps.get_opt("owned").await.unwrap().is_none() && deployments.get_opt("web").await.unwrap().is_none()
        }
    })
    .await;
    eventually("the app is gone", || {
        let apps = env.apps.clone();
        async move { apps.get_opt("doomed").await.unwrap().is_none() }
    })
    .await;
    assert!(maps.get_opt("unrelated").await.unwrap().is_some(), "an unrelated object was deleted");
    assert!(maps.get_opt("neighbour").await.unwrap().is_some(), "another app's object was deleted");
    assert!(is_synced_healthy(&env.app("neighbour").await));
    // The namespace CreateNamespace made is not the app's to delete.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client());
    let demo = namespaces.get("demo").await.unwrap();
    assert!(demo.metadata.deletion_timestamp.is_none(), "the namespace is being deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_without_the_finalizer_keeps_the_resources() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("kept", "1"));
    repo.write("app/web.yaml", &deployment("web", "nginx:1.27"));
    repo.commit("first");
    env.create_app(app_json("orphaning", &repo.url(), "app", "demo", json!({}))).await;
    env.wait_synced_healthy("orphaning").await;

    env.apps.delete("orphaning", &DeleteParams::default()).await.unwrap();
    eventually("the app is gone", || {
        let apps = env.apps.clone();
        async move { apps.get_opt("orphaning").await.unwrap().is_none() }
    })
    .await;
    // Give the controller a chance to (wrongly) act on the deletion: a fresh
    // app reconciled after it proves the controller has moved on.
    repo.write("marker/cm.yaml", &config_map("marker", "1"));
    repo.commit("marker");
    env.create_app(app_json("marker", &repo.url(), "marker", "demo", json!({}))).await;
    env.wait_synced_healthy("marker").await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("kept").await.unwrap().is_some());
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    assert!(deployments.get_opt("web").await.unwrap().is_some());
}

/// The child Application manifest an app of apps deploys.
fn child_app(name: &str, repo: &str, path: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: ferry\nspec:\n  project: default\n  source:\n    repoURL: {repo}\n    targetRevision: HEAD\n    path: {path}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {name}\n  syncPolicy:\n    automated: {{}}\n    syncOptions: [CreateNamespace=true]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_of_apps_creates_children_and_reflects_their_health() {
    let env = Env::start_on(Cluster::start_with(vec!["crash/*".into()]).await, |_| {}).await;
    let repo = Repo::new();
    repo.write("apps/child.yaml", &child_app("child", &repo.url(), "child"));
    repo.write("child/cm.yaml", &config_map("from-child", "1"));
    repo.write("child/web.yaml", &deployment("web", "nginx:1.27"));
    repo.commit("app of apps");
    let mut parent = app_json("parent", &repo.url(), "apps", application::NAMESPACE, json!({"prune": true}));
    parent["spec"]["syncPolicy"]["syncOptions"] = json!([]);
    env.create_app(parent).await;

    let parent = env.wait_synced_healthy("parent").await;
    let child = env.wait_synced_healthy("child").await;
    assert_eq!(
        child.metadata.annotations.as_ref().unwrap()["ferry.dev/tracking-id"],
        "parent:ferry.dev/Application:ferry/child"
    );
    assert_eq!(resource_health(&parent, "Application", "child"), Some(HealthStatus::Healthy));
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "child");
    assert!(maps.get_opt("from-child").await.unwrap().is_some());

    // The child turns Degraded; the parent follows.
    repo.write("child/web.yaml", &impatient_deployment("web", "crash/app:2"));
    repo.commit("break the child");
    env.wait_app("child", "child Degraded", |app| app_health(app) == Some(HealthStatus::Degraded)).await;
    let parent = env
        .wait_app("parent", "parent Degraded through its child", |app| app_health(app) == Some(HealthStatus::Degraded))
        .await;
    assert_eq!(resource_health(&parent, "Application", "child"), Some(HealthStatus::Degraded));
    let message = parent.status.as_ref().unwrap().health.as_ref().unwrap().message.clone().unwrap_or_default();
    assert!(message.contains("child"), "{message}");
    // The parent itself is in sync: its only resource, the child's spec, matches git.
    assert_eq!(sync_status(&parent), Some(SyncStatusCode::Synced));

    // Fixed again: both recover.
    repo.write("child/web.yaml", &deployment("web", "nginx:1.28"));
    repo.commit("fix the child");
    env.wait_app("child", "child Healthy", |app| app_health(app) == Some(HealthStatus::Healthy)).await;
    env.wait_app("parent", "parent Healthy", |app| app_health(app) == Some(HealthStatus::Healthy)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_false_resources_survive_the_apps_deletion() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("removed", "1"));
    repo.write(
        "app/keep.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: precious\n  annotations:\n    argocd.argoproj.io/sync-options: Delete=false\n",
    );
    repo.write(
        "app/keep2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: precious2\n  annotations:\n    ferry.dev/sync-options: Prune=true,Delete=false\n",
    );
    repo.commit("first");
    let mut app = app_json("careful", &repo.url(), "app", "demo", json!({}));
    app["metadata"]["finalizers"] = json!([application::FINALIZER]);
    env.create_app(app).await;
    env.wait_synced_healthy("careful").await;

    env.apps.delete("careful", &DeleteParams::default()).await.unwrap();
    eventually("the app is gone", || {
        let apps = env.apps.clone();
        async move { apps.get_opt("careful").await.unwrap().is_none() }
    })
    .await;
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("removed").await.unwrap().is_none(), "the app's other resources are deleted");
    assert!(maps.get_opt("precious").await.unwrap().is_some(), "Delete=false keeps the resource");
    assert!(maps.get_opt("precious2").await.unwrap().is_some(), "Delete=false (ferry.dev prefix) keeps the resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_an_app_of_an_unregistered_cluster_does_not_hang() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.commit("first");
    let mut app = app_json("stranded", &repo.url(), "app", "demo", json!({}));
    app["metadata"]["finalizers"] = json!([application::FINALIZER]);
    app["spec"]["destination"] = json!({"name": "decommissioned", "namespace": "demo"});
    env.create_app(app).await;
    env.wait_app("stranded", "a condition", |app| app.status.as_ref().is_some_and(|s| !s.conditions.is_empty())).await;

    // As in Argo CD: nothing can be deleted on a cluster ferry does not know,
    // so the finalizer is dropped instead of blocking the deletion forever.
    env.apps.delete("stranded", &DeleteParams::default()).await.unwrap();
    eventually("the app is gone", || {
        let apps = env.apps.clone();
        async move { apps.get_opt("stranded").await.unwrap().is_none() }
    })
    .await;
}
