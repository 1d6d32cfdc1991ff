//! Kustomize applications end to end: detected from the files, rendered with
//! the real tool, synced to the local cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

/// A base (Deployment + generated ConfigMap) and three overlays that differ
/// in replicas, image tag and a setting.
fn write_overlays(repo: &Repo) {
    repo.write(
        "base/kustomization.yaml",
        "resources:\n  - deployment.yaml\nconfigMapGenerator:\n  - name: settings\n    literals:\n      - greeting=hello\n",
    );
    repo.write(
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.25\n        envFrom:\n        - configMapRef:\n            name: settings\n",
    );
    for (env, replicas, tag) in [("dev", 1, "1.27-dev"), ("staging", 2, "1.27"), ("prod", 3, "1.26")] {
        repo.write(
            &format!("overlays/{env}/kustomization.yaml"),
            &format!(
                "resources:\n  - ../../base\nnameSuffix: -{env}\nreplicas:\n  - name: web\n    count: {replicas}\nimages:\n  - name: nginx\n    newTag: \"{tag}\"\nconfigMapGenerator:\n  - name: settings\n    behavior: merge\n    literals:\n      - environment={env}\n"
            ),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_environment_overlays_sync_with_their_differences() {
    let env = Env::start().await;
    let repo = Repo::new();
    write_overlays(&repo);
    let sha = repo.commit("overlays");
    for stage in ["dev", "staging", "prod"] {
        env.create_app(app_json(
            &format!("web-{stage}"),
            &repo.url(),
            &format!("overlays/{stage}"),
            stage,
            json!({"prune": true}),
        ))
        .await;
    }
    for (stage, replicas, image) in
        [("dev", 1, "nginx:1.27-dev"), ("staging", 2, "nginx:1.27"), ("prod", 3, "nginx:1.26")]
    {
        let app = env.wait_synced_healthy(&format!("web-{stage}")).await;
        let status = app.status.unwrap();
        assert_eq!(status.sync.unwrap().revision.as_deref(), Some(sha.as_str()));
        assert_eq!(status.resources.len(), 2, "{stage}: {:?}", status.resources);

        let deployments: Api<Deployment> = Api::namespaced(env.client(), stage);
        let web = deployments.get(&format!("web-{stage}")).await.unwrap();
        let spec = web.spec.unwrap();
        assert_eq!(spec.replicas, Some(replicas), "{stage}");
        let container = &spec.template.spec.unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some(image), "{stage}");
        // The generated ConfigMap's hashed name is what the Deployment refers to.
        let settings_name = container.env_from.as_ref().unwrap()[0].config_map_ref.as_ref().unwrap().name.clone();
        assert!(settings_name.starts_with(&format!("settings-{stage}-")), "{settings_name}");
        let maps: Api<ConfigMap> = Api::namespaced(env.client(), stage);
        let data = maps.get(&settings_name).await.unwrap().data.unwrap();
        assert_eq!(data["environment"], stage);
        assert_eq!(data["greeting"], "hello");
        assert_eq!(
            web.metadata.annotations.unwrap()["ferry.dev/tracking-id"],
            format!("web-{stage}:apps/Deployment:{stage}/web-{stage}")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argo_style_overrides_apply_and_changing_them_resyncs() {
    let env = Env::start().await;
    let repo = Repo::new();
    write_overlays(&repo);
    repo.commit("overlays");
    // No selfHeal: changing an override keeps the revision, and auto-sync
    // still syncs it (the synced source is recorded with the operation).
    let mut app = app_json("web", &repo.url(), "overlays/dev", "demo", json!({"prune": true}));
    app["spec"]["source"]["kustomize"] =
        json!({"namePrefix": "team-", "images": ["nginx:1.28"], "commonLabels": {"owner": "team"}});
    env.create_app(app).await;
    env.wait_synced_healthy("web").await;
    let deployments: Api<Deployment> = Api::namespaced(env.client(), "demo");
    let web = deployments.get("team-web-dev").await.unwrap();
    assert_eq!(web.metadata.labels.clone().unwrap()["owner"], "team");
    let image = |d: Deployment| d.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap();
    assert_eq!(image(web), "nginx:1.28");

    // A changed override is a changed render at the same commit.
    env.wait_app("web", "the first sync recorded", |app| {
        app.status
            .as_ref()
            .and_then(|s| s.operation_state.as_ref())
            .is_some_and(|s| s.phase == application::OperationPhase::Succeeded)
    })
    .await;
    env.patch_app("web", json!({"spec": {"source": {"kustomize": {"images": ["nginx:1.29"]}}}})).await;
    eventually("the new image override is applied", || {
        let deployments = deployments.clone();
        async move { deployments.get("team-web-dev").await.is_ok_and(|d| image(d) == "nginx:1.29") }
    })
    .await;
    env.wait_synced_healthy("web").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_kustomization_is_a_comparison_error() {
    let env = Env::start().await;
    let repo = Repo::new();
    repo.write("app/kustomization.yaml", "resources:\n  - missing.yaml\n");
    repo.commit("broken");
    env.create_app(app_json("broken", &repo.url(), "app", "demo", json!({}))).await;
    let message = env.wait_comparison_error("broken").await;
    assert!(message.contains("kustomize") && message.contains("missing.yaml"), "{message}");
}
