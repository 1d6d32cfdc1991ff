//! Config-management plugins end to end: a plugin from ferry's config renders
//! an app with the app's env and parameters, and it syncs; a plugin that
//! hangs is killed at its timeout and becomes a condition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

const PLUGINS: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: envsubst
spec:
  discover:
    fileName: "./*.tmpl"
  generate:
    command: [sh, -c]
    args:
    - 'sed -e "s/@GREETING@/$ARGOCD_ENV_GREETING/" -e "s/@APP@/$ARGOCD_APP_NAME/" -e "s/@REPLICAS@/$PARAM_REPLICAS/" *.tmpl'
---
apiVersion: argoproj.io/v1alpha1
kind: ConfigManagementPlugin
metadata:
  name: hangs
spec:
  generate:
    command: [sleep, "60"]
"#;

async fn start() -> Env {
    Env::start_with(|config| {
        let plugins = render::Plugins::parse(PLUGINS).unwrap().with_limits(Duration::from_secs(2), 1024 * 1024);
        config.tools = Arc::new(render::Toolbox::new(render::HelmTools::default(), plugins));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_discovered_plugin_renders_with_the_apps_env_and_syncs() {
    let env = start().await;
    let repo = Repo::new();
    repo.write(
        "app/config.tmpl",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  greeting: \"@GREETING@\"\n  app: \"@APP@\"\n  replicas: \"@REPLICAS@\"\n",
    );
    repo.commit("template");
    let mut app = app_json("templated", &repo.url(), "app", "plugins", json!({"prune": true}));
    app["spec"]["source"]["plugin"] = json!({
        "env": [{"name": "GREETING", "value": "hello from a plugin"}],
        "parameters": [{"name": "replicas", "string": "3"}],
    });
    env.create_app(app).await;
    let app = env.wait_synced_healthy("templated").await;
    let tools = app.status.unwrap().sync.unwrap().tools;
    assert_eq!(tools.get("plugin").map(String::as_str), Some("envsubst"), "{tools:?}");

    let maps: Api<ConfigMap> = Api::namespaced(env.client(), "plugins");
    let data = maps.get("greeting").await.unwrap().data.unwrap();
    assert_eq!(data.get("greeting").map(String::as_str), Some("hello from a plugin"));
    assert_eq!(data.get("app").map(String::as_str), Some("templated"));
    assert_eq!(data.get("replicas").map(String::as_str), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_past_its_timeout_is_a_condition() {
    let env = start().await;
    let repo = Repo::new();
    repo.write("app/README", "nothing to see\n");
    repo.commit("hangs");
    let mut app = app_json("stuck", &repo.url(), "app", "plugins", json!({"prune": true}));
    app["spec"]["source"]["plugin"] = json!({"name": "hangs"});
    env.create_app(app).await;
    let message = env.wait_comparison_error("stuck").await;
    assert!(message.contains("plugin hangs") && message.contains("did not finish"), "{message}");
}
