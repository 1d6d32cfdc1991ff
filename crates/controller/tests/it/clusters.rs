//! Several destination clusters from one controller: in-cluster plus a
//! second local cluster registered as a cluster Secret.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use application::ApplicationConditionType;
use application::secrets::ClusterSecret;
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

fn first_condition(app: &application::Application) -> Option<(ApplicationConditionType, String)> {
    app.status.as_ref().and_then(|s| s.conditions.first()).map(|c| (c.type_, c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_sync_to_their_own_cluster() {
    let env = Env::start().await;
    let second = Cluster::start().await;
    let secrets: Api<Secret> = Api::namespaced(env.client(), application::NAMESPACE);
    secrets.create(&PostParams::default(), &cluster_secret(&second, "second")).await.unwrap();

    let repo = Repo::new();
    repo.write("here/cm.yaml", &config_map("here", "management"));
    repo.write("there/cm.yaml", &config_map("there", "second"));
    repo.write("there/web.yaml", &deployment("web", "nginx:1.27"));
    repo.commit("two apps");
    env.create_app(app_json("here", &repo.url(), "here", "demo", json!({"prune": true}))).await;
    let mut there = app_json("there", &repo.url(), "there", "demo", json!({"prune": true}));
    there["spec"]["destination"] = json!({"name": "second", "namespace": "demo"});
    env.create_app(there).await;

    env.wait_synced_healthy("here").await;
    let app = env.wait_synced_healthy("there").await;
    assert_eq!(app.status.as_ref().unwrap().resources.len(), 2, "{:?}", app.status.unwrap().resources);

    let management: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    let remote: Api<ConfigMap> = Api::namespaced(second.client.clone(), "demo");
    assert_eq!(management.get("here").await.unwrap().data.unwrap()["value"], "management");
    assert!(management.get_opt("there").await.unwrap().is_none(), "the second cluster's object leaked into in-cluster");
    let there_cm = remote.get("there").await.unwrap();
    assert_eq!(there_cm.data.unwrap()["value"], "second");
    assert_eq!(there_cm.metadata.annotations.unwrap()["ferry.dev/tracking-id"], "there:/ConfigMap:demo/there");
    assert!(remote.get_opt("here").await.unwrap().is_none(), "in-cluster's object leaked into the second cluster");
    let remote_deployments: Api<Deployment> = Api::namespaced(second.client.clone(), "demo");
    assert!(remote_deployments.get_opt("web").await.unwrap().is_some());
    let local_deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    assert!(local_deployments.get_opt("web").await.unwrap().is_none());

    // Drift on the second cluster is seen there (its own live cache).
    remote.patch("there", &PatchParams::default(), &Patch::Merge(json!({"data": {"value": "drifted"}}))).await.unwrap();
    env.wait_app("there", "OutOfSync after drift on the second cluster", |app| {
        sync_status(app) == Some(application::SyncStatusCode::OutOfSync)
    })
    .await;
    assert_eq!(sync_status(&env.app("here").await), Some(application::SyncStatusCode::Synced));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destination_by_server_url_finds_the_registered_cluster() {
    let env = Env::start().await;
    let second = Cluster::start().await;
    let secret = cluster_secret(&second, "by-url");
    let server = ClusterSecret::from_secret(&secret).unwrap().server;
    let secrets: Api<Secret> = Api::namespaced(env.client(), application::NAMESPACE);
    secrets.create(&PostParams::default(), &secret).await.unwrap();

    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("remote", "1"));
    repo.commit("first");
    let mut app = app_json("url", &repo.url(), "app", "demo", json!({}));
    app["spec"]["destination"] = json!({"server": server, "namespace": "demo"});
    env.create_app(app).await;
    env.wait_synced_healthy("url").await;
    let remote: Api<ConfigMap> = Api::namespaced(second.client.clone(), "demo");
    assert!(remote.get_opt("remote").await.unwrap().is_some());
    let management: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(management.get_opt("remote").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unregistered_cluster_is_an_invalid_spec() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.commit("first");
    let mut app = app_json("lost", &repo.url(), "app", "demo", json!({}));
    app["spec"]["destination"] = json!({"name": "nowhere", "namespace": "demo"});
    env.create_app(app).await;
    let mut by_url = app_json("lost-url", &repo.url(), "app", "demo", json!({}));
    by_url["spec"]["destination"] = json!({"server": "https://10.255.255.1:6443", "namespace": "demo"});
    env.create_app(by_url).await;

    for (name, wanted) in [("lost", "\"nowhere\""), ("lost-url", "\"https://10.255.255.1:6443\"")] {
        let app = env.wait_app(name, "a condition", |app| first_condition(app).is_some()).await;
        let (kind, message) = first_condition(&app).unwrap();
        assert_eq!(kind, ApplicationConditionType::InvalidSpecError, "{message}");
        assert!(message.contains(wanted), "{message}");
        assert!(message.contains("not registered"), "{message}");
        assert!(app.status.as_ref().unwrap().operation_state.is_none());
    }
    let management: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(management.get_opt("settings").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_to_the_cluster_secret_take_effect() {
    let env = Env::start().await;
    let second = Cluster::start().await;
    let secret = cluster_secret(&second, "moving");
    let server = ClusterSecret::from_secret(&secret).unwrap().server;
    let secrets: Api<Secret> = Api::namespaced(env.client(), application::NAMESPACE);
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("remote", "1"));
    repo.commit("first");
    let mut app = app_json("mover", &repo.url(), "app", "demo", json!({}));
    app["spec"]["destination"] = json!({"server": server, "namespace": "demo"});
    env.create_app(app).await;
    env.wait_synced_healthy("mover").await;

    // `ferry cluster rm`: the cluster is no longer a valid destination.
    let secret_name = secret.metadata.name.clone().unwrap();
    secrets.delete(&secret_name, &Default::default()).await.unwrap();
    let app = env
        .wait_app("mover", "an InvalidSpecError after the cluster was removed", |app| {
            first_condition(app).is_some_and(|(kind, _)| kind == ApplicationConditionType::InvalidSpecError)
        })
        .await;
    let (_, message) = first_condition(&app).unwrap();
    assert!(message.contains("not registered"), "{message}");

    // Registered again with a revoked token: the new credentials are used.
    let mut revoked = ClusterSecret::from_secret(&secret).unwrap();
    revoked.config.bearer_token = Some("revoked".into());
    secrets.create(&PostParams::default(), &revoked.to_secret(application::NAMESPACE)).await.unwrap();
    let app = env
        .wait_app("mover", "a ComparisonError with the revoked token", |app| {
            first_condition(app).is_some_and(|(kind, _)| kind == ApplicationConditionType::ComparisonError)
        })
        .await;
    let (_, message) = first_condition(&app).unwrap();
    assert!(message.contains(&server), "the message names the cluster: {message}");

    // And fixed: the condition clears.
    secrets.delete(&secret_name, &Default::default()).await.unwrap();
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    env.wait_app("mover", "Synced, Healthy and no condition", |app| {
        is_synced_healthy(app) && app.status.as_ref().is_some_and(|s| s.conditions.is_empty())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destination_with_both_name_and_server_is_an_invalid_spec() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/cm.yaml", &config_map("settings", "1"));
    repo.commit("first");
    let mut app = app_json("both", &repo.url(), "app", "demo", json!({}));
    app["spec"]["destination"] =
        json!({"name": "in-cluster", "server": "https://kubernetes.default.svc", "namespace": "demo"});
    env.create_app(app).await;
    let app = env.wait_app("both", "a condition", |app| first_condition(app).is_some()).await;
    let (kind, message) = first_condition(&app).unwrap();
    assert_eq!(kind, ApplicationConditionType::InvalidSpecError, "{message}");
    assert!(message.contains("both"), "{message}");
    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "demo");
    assert!(maps.get_opt("settings").await.unwrap().is_none());
}
