//! Warehouses through the whole `ferry controller` path: the promoter runs as the Application
//! controller's companion, so git push webhooks reach it through the controller's `/api/webhook`,
//! registry notifications through `/api/webhook/registry`, and its metrics appear on `/metrics`.
//! Every warehouse has an hour-long interval: anything discovered after the first pass was
//! discovered because of what the test did.
//!
//! Covered elsewhere: image freight with digests and the registry webhook's token
//! (`pipeline.rs`), ferry's own commits skipped and the refresh annotation (`pipelines.rs`), an
//! unreachable registry (`bad_inputs.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::gitops::{self, Repo};
use common::{TOKEN, eventually, ready_message};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use promotion::{Freight, PullRequest, PullRequestState, Stage, Warehouse};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A local cluster, the Application controller serving on `listen`, and the promoter as its
/// companion (the arrangement `ferry controller` makes).
struct Setup {
    env: gitops::Env,
    listen: SocketAddr,
    _data: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

impl Setup {
    async fn start() -> Setup {
        let cluster = gitops::Cluster::start().await;
        let client = cluster.client.clone();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in promotion::crds() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        let stages: Api<Stage> = Api::namespaced(client.clone(), promotion::NAMESPACE);
        eventually("the promotion CRDs are served", || {
            let stages = stages.clone();
            async move { stages.list(&ListParams::default()).await.is_ok() }
        })
        .await;
        let data = tempfile::tempdir().unwrap();
        let mut config = promoter::PromoterConfig::new(data.path().to_owned());
        config.registry_webhook_token = Some(TOKEN.to_owned());
        config.default_interval = Duration::from_secs(3600);
        let promoter = promoter::Promoter::new(client, config).unwrap();
        let listen = gitops::free_port();
        let companion = promoter.clone();
        let env = gitops::Env::start_on(cluster, move |config| {
            config.listen = Some(listen);
            config.companion = Some(Arc::new(companion) as Arc<dyn controller::Companion>);
        })
        .await;
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(async move { promoter.run(shutdown).await.unwrap() });
        gitops::wait_listening(listen).await;
        Setup { env, listen, _data: data, _stop: stop }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.env.client(), promotion::NAMESPACE)
    }

    async fn apply<K>(&self, object: Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        self.api::<K>().patch(&name, &PatchParams::apply("test").force(), &Patch::Apply(&object)).await.unwrap();
    }

    /// Polls (90 s) until `check` finds what it looks for among the objects of kind `K`.
    async fn wait_for<K, T>(&self, what: &str, check: impl Fn(&[K]) -> Option<T>) -> T
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
        K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    {
        common::waits::watch_until(self.api::<K>(), what, Duration::from_secs(90), check).await
    }

    async fn freight(&self) -> Vec<Freight> {
        self.api::<Freight>().list(&ListParams::default()).await.unwrap().items
    }

    /// A GitHub push notification for `repo_url`, unsigned (no webhook secret configured).
    async fn git_push(&self, repo_url: &str) -> (u16, String) {
        let body = json!({"ref": "refs/heads/main", "repository": {"clone_url": repo_url}}).to_string();
        gitops::request(
            self.listen,
            "POST",
            "/api/webhook",
            &[("x-github-event", "push".into()), ("content-type", "application/json".into())],
            body.into_bytes(),
        )
        .await
    }

    /// A registry notification with `body`, authorised by `token` when given.
    async fn registry_notification(&self, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
        registry_notification(self.listen, token, body).await
    }

    /// The sum of the samples of a metric on the controller's `/metrics`.
    async fn metric(&self, prefix: &str) -> f64 {
        gitops::metric(self.listen, prefix).await
    }
}

async fn registry_notification(listen: SocketAddr, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(token) = token {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    gitops::request(listen, "POST", "/api/webhook/registry", &headers, body).await
}

fn git_warehouse(name: &str, repo_url: &str, policy: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": name, "namespace": promotion::NAMESPACE},
        "spec": {"interval": "1h", "freightCreationPolicy": policy,
                 "subscriptions": [{"git": {"repoURL": repo_url, "branch": "main"}}]},
    })
}

/// The commit ids the warehouse `name` last discovered, once it has discovered anything.
fn discovered_commits(all: &[Warehouse], name: &str) -> Option<Vec<String>> {
    let status = all.iter().find(|w| w.name_any() == name)?.status.as_ref()?;
    let artifacts = status.discovered_artifacts.first()?;
    Some(artifacts.commits.iter().map(|c| c.id.clone()).collect())
}

fn freight_of(all: &[Freight], commit: &str) -> Option<Freight> {
    all.iter().find(|f| f.spec.commits.iter().any(|c| c.id == commit)).cloned()
}

#[tokio::test]
async fn a_git_warehouse_manual_then_automatic_refreshed_by_push_and_keeping_versions_on_failure() {
    let setup = Setup::start().await;
    let repo = Repo::new();
    repo.write("app.yaml", "a: 1\n");
    let first = repo.commit("one");

    // Manual: the versions are recorded, no Freight is made.
    setup.apply::<Warehouse>(git_warehouse("web", &repo.url(), "Manual")).await;
    let seen = setup
        .wait_for::<Warehouse, _>("the manual discovery", |all| {
            discovered_commits(all, "web").filter(|c| !c.is_empty())
        })
        .await;
    assert_eq!(seen, [first.as_str()]);
    let warehouse: Warehouse = setup.api().get("web").await.unwrap();
    assert_eq!(ready_message(&warehouse).map(|(status, _)| status).as_deref(), Some("True"));
    assert!(setup.freight().await.is_empty(), "a Manual warehouse made freight");

    // Automatic (a spec change is discovered at once): one Freight, labelled, aliased, recorded.
    setup.apply::<Warehouse>(git_warehouse("web", &repo.url(), "Automatic")).await;
    let one = setup.wait_for::<Freight, _>("freight of the first commit", |all| freight_of(all, &first)).await;
    assert!(!one.spec.alias.is_empty());
    assert_eq!(one.labels().get(promotion::WAREHOUSE_LABEL).map(String::as_str), Some("web"));
    assert_eq!(one.spec.origin.name, "web");
    setup
        .wait_for::<Warehouse, _>("lastFreight", |all| {
            let last = all.first()?.status.as_ref()?.last_freight.as_ref()?;
            (last.name == one.name_any()).then_some(())
        })
        .await;

    // A git push webhook through the controller refreshes it despite the hour-long interval.
    repo.write("app.yaml", "a: 2\n");
    let second = repo.commit("two");
    let (code, text) = setup.git_push(&repo.url()).await;
    assert_eq!(code, 200, "{text}");
    let two = setup.wait_for::<Freight, _>("freight of the pushed commit", |all| freight_of(all, &second)).await;
    assert_ne!(two.spec.alias, one.spec.alias, "aliases are unique");
    assert_eq!(setup.freight().await.len(), 2);
    assert_eq!(setup.metric("ferry_freight_created_total").await, 2.0);
    assert!(setup.metric("ferry_warehouse_discoveries_total{result=\"success\"}").await >= 3.0);

    // The repository disappears: Ready=False saying why, the versions found before are kept,
    // no Freight is made.
    std::fs::rename(repo.path().join(".git"), repo.path().join("moved.git")).unwrap();
    let (code, text) = setup.git_push(&repo.url()).await;
    assert_eq!(code, 200, "{text}");
    let message = setup
        .wait_for::<Warehouse, _>("the failed discovery", |all| {
            all.first().and_then(ready_message).filter(|(status, _)| status == "False").map(|(_, message)| message)
        })
        .await;
    assert!(message.contains(&repo.url()) && message.contains("does not appear to be a git repository"), "{message}");
    let kept = setup.wait_for::<Warehouse, _>("the kept versions", |all| discovered_commits(all, "web")).await;
    assert_eq!(kept.first(), Some(&second), "the previous discovery is kept");
    assert_eq!(setup.freight().await.len(), 2);
    assert!(setup.metric("ferry_warehouse_discoveries_total{result=\"error\"}").await >= 1.0);
}

#[tokio::test]
async fn registry_notifications_secrets_in_messages_and_local_pull_requests() {
    let setup = Setup::start().await;
    let closed = gitops::free_port();

    // A password in a subscription's URL never reaches the condition.
    let leaky = format!("http://robot:s3cret-pw@{closed}/team/app.git");
    setup.apply::<Warehouse>(git_warehouse("leaky", &leaky, "Automatic")).await;
    let (status, message) = setup
        .wait_for::<Warehouse, _>("the leaky warehouse's condition", |all| {
            all.iter().find(|w| w.name_any() == "leaky").and_then(ready_message)
        })
        .await;
    assert_eq!(status, "False");
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(message.contains(&closed.to_string()), "the message names the remote: {message}");

    // An image warehouse over an unreachable registry; wait for its first discovery.
    let image = json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": "images", "namespace": promotion::NAMESPACE},
        "spec": {"interval": "1h", "subscriptions": [{"image": {"repoURL": format!("{closed}/team/web")}}]},
    });
    setup.apply::<Warehouse>(image).await;
    setup
        .wait_for::<Warehouse, _>("the image warehouse's first discovery", |all| {
            all.iter().find(|w| w.name_any() == "images").and_then(ready_message)
        })
        .await;
    let errors = "ferry_warehouse_discoveries_total{result=\"error\"}";
    let before = setup.metric(errors).await;

    let event = |target: Value| {
        json!({"events": [{"action": "push", "target": target, "request": {"host": closed.to_string()}}]})
            .to_string()
            .into_bytes()
    };
    let blob = event(json!({"repository": "team/web", "mediaType": "application/octet-stream"}));
    let manifest = event(
        json!({"repository": "team/web", "tag": "v1", "mediaType": "application/vnd.oci.image.manifest.v1+json"}),
    );
    let (code, text) = setup.registry_notification(None, manifest.clone()).await;
    assert_eq!(code, 401, "{text}");
    let (code, text) = setup.registry_notification(Some("not-the-token"), manifest.clone()).await;
    assert_eq!(code, 401, "{text}");
    let (code, text) = setup.registry_notification(Some(TOKEN), b"{not json".to_vec()).await;
    assert_eq!(code, 400, "{text}");
    let (code, _) = setup.registry_notification(Some(TOKEN), vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(code, 413, "a body over 1 MiB is refused");
    let (code, text) = setup.registry_notification(Some(TOKEN), blob).await;
    assert_eq!((code, text.trim()), (200, "refreshing 0 warehouse(s)"), "a layer upload refreshes nothing");
    let (code, text) = setup.registry_notification(Some(TOKEN), manifest).await;
    assert_eq!((code, text.trim()), (200, "refreshing 1 warehouse(s)"));
    // Only the notification can have caused another discovery within the hour.
    eventually("the notified warehouse is discovered again", || async { setup.metric(errors).await > before }).await;
    assert!(setup.metric("ferry_promotion_webhooks_total{kind=\"registry\",result=\"unauthorized\"}").await >= 2.0);

    // Without a configured token the endpoint says how to enable it.
    let disabled = promoter::Promoter::new(
        setup.env.client(),
        promoter::PromoterConfig::new(tempfile::tempdir().unwrap().path().to_owned()),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, disabled.router()).await });
    let (code, text) = registry_notification(address, Some(TOKEN), b"{}".to_vec()).await;
    assert_eq!(code, 403);
    assert!(text.contains("--registry-webhook-token"), "{text}");

    // Local pull requests: one that cannot merge (its source branch is missing) says why and stays
    // open; one asked to close is closed.
    let repo = Repo::new();
    repo.write("a.txt", "one\n");
    repo.commit("one");
    let pull = |name: &str, extra: Value| {
        let mut spec = json!({"repoURL": repo.url(), "sourceBranch": "missing", "targetBranch": "main", "title": name});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<PullRequest>(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "PullRequest",
            "metadata": {"name": name, "namespace": promotion::NAMESPACE}, "spec": spec,
        }))
        .unwrap()
    };
    let api = setup.api::<PullRequest>();
    api.create(&PostParams::default(), &pull("stuck", json!({"merge": true}))).await.unwrap();
    api.create(&PostParams::default(), &pull("dropped", json!({"close": true}))).await.unwrap();
    let stuck = setup
        .wait_for::<PullRequest, _>("the failed merge's message", |all| {
            let pr = all.iter().find(|p| p.name_any() == "stuck")?;
            pr.status.as_ref()?.message.clone().map(|message| (pr.status.as_ref().map(|s| s.state), message))
        })
        .await;
    assert_eq!(stuck.0, Some(PullRequestState::Open), "{}", stuck.1);
    assert!(stuck.1.contains("missing"), "the message names the branch: {}", stuck.1);
    setup
        .wait_for::<PullRequest, _>("the closed pull request", |all| {
            all.iter()
                .find(|p| {
                    p.name_any() == "dropped" && p.status.as_ref().is_some_and(|s| s.state == PullRequestState::Closed)
                })
                .map(|_| ())
        })
        .await;
    let log = repo.git(&["log", "--format=%s", "main"]);
    assert_eq!(log, "one", "nothing merged into main");
}
