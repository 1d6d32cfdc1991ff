//! Promotion harness: the Application controller's harness (a local cluster, the controller,
//! git repositories) plus the promotion CRDs and the promoter, all in this process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use promotion::{CommitStatus, Freight, Promotion, PullRequest, Stage, Warehouse};
use serde_json::{Value, json};
use tokio::sync::watch;

pub mod builders;
pub mod waits;

pub use builders::*;

#[path = "../../../controller/tests/common/mod.rs"]
pub mod gitops;

pub use gitops::{Repo, eventually};

/// The registry webhook's token in these tests.
pub const TOKEN: &str = "registry-token";

/// The Application controller and the promoter on a local cluster.
pub struct Promo {
    pub env: gitops::Env,
    pub data: tempfile::TempDir,
    pub listen: std::net::SocketAddr,
    promoter: Option<(tokio::task::JoinHandle<()>, watch::Sender<bool>)>,
}

impl Promo {
    pub async fn start() -> Promo {
        let env = gitops::Env::start().await;
        let crds: Api<CustomResourceDefinition> = Api::all(env.client());
        for crd in promotion::crds() {
            crds.create(&PostParams::default(), &crd).await.unwrap();
        }
        let stages: Api<Stage> = Api::namespaced(env.client(), promotion::NAMESPACE);
        eventually("the promotion CRDs are served", || {
            let stages = stages.clone();
            async move { stages.list(&ListParams::default()).await.is_ok() }
        })
        .await;
        let mut promo = Promo { env, data: tempfile::tempdir().unwrap(), listen: gitops::free_port(), promoter: None };
        promo.start_promoter().await;
        promo
    }

    pub fn client(&self) -> kube::Client {
        self.env.client()
    }

    /// Starts the promoter, serving its webhook on `self.listen`.
    pub async fn start_promoter(&mut self) {
        let mut config = promoter::PromoterConfig::new(self.data.path().to_owned());
        config.registry_webhook_token = Some(TOKEN.to_owned());
        config.default_interval = Duration::from_secs(3600);
        let promoter = promoter::Promoter::new(self.client(), config).unwrap();
        let (stop, shutdown) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(self.listen).await.unwrap();
        let router = promoter.router();
        let server_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut server_shutdown = server_shutdown;
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = server_shutdown.wait_for(|stop| *stop).await;
                })
                .await;
        });
        let task = tokio::spawn(async move {
            promoter.run(shutdown).await.unwrap();
        });
        self.promoter = Some((task, stop));
    }

    /// Stops the promoter abruptly, as a crash would (no drain).
    pub async fn kill_promoter(&mut self) {
        if let Some((task, stop)) = self.promoter.take() {
            task.abort();
            let _ = task.await;
            let _ = stop.send(true);
        }
        // The old webhook server may still hold its port for a moment.
        self.listen = gitops::free_port();
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client(), promotion::NAMESPACE)
    }

    /// Server-side applies a ferry object (JSON with apiVersion/kind/metadata.name).
    pub async fn apply<K>(&self, object: Value)
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

    /// Waits until `check` finds what it looks for in the objects of kind `K` (90 s).
    pub async fn wait_for<K, T>(&self, what: &str, check: impl Fn(&[K]) -> Option<T>) -> T
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
        waits::watch_until(self.api::<K>(), what, Duration::from_secs(90), check).await
    }

    /// The promotions of `stage`, oldest first.
    pub async fn promotions(&self, stage: &str) -> Vec<Promotion> {
        let mut list: Vec<Promotion> = self
            .api::<Promotion>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.spec.stage == stage)
            .collect();
        list.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp));
        list
    }

    /// Waits for a promotion of `freight` to `stage` to end; returns it.
    pub async fn promotion_ended(&self, stage: &str, freight: &str) -> Promotion {
        let (stage, freight) = (stage.to_owned(), freight.to_owned());
        self.wait_for::<Promotion, _>(&format!("a promotion of {freight} to {stage} to end"), move |all| {
            all.iter()
                .find(|p| {
                    p.spec.stage == stage
                        && p.spec.freight == freight
                        && p.status.as_ref().is_some_and(|s| s.phase.is_terminal())
                })
                .cloned()
        })
        .await
    }

    /// Waits for the freight holding image `tag`.
    pub async fn freight_with_tag(&self, tag: &str) -> Freight {
        let tag = tag.to_owned();
        self.wait_for::<Freight, _>(&format!("freight of {tag}"), move |all| {
            all.iter().find(|f| f.spec.images.iter().any(|i| i.tag == tag)).cloned()
        })
        .await
    }

    /// Posts a commit status as a CI system would.
    pub async fn post_status(&self, repo: &str, sha: &str, key: &str, phase: &str) {
        let name = promotion::gates::commit_status_name(repo, sha, key);
        self.apply::<CommitStatus>(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "CommitStatus",
            "metadata": {"name": name, "namespace": promotion::NAMESPACE},
            "spec": {"repoURL": repo, "sha": sha, "key": key, "phase": phase, "description": format!("ci says {phase}")},
        }))
        .await;
    }

    /// Sends a registry push notification for `repository` at `host`.
    pub async fn notify_push(&self, host: &str, repository: &str, token: &str) -> u16 {
        let body = json!({"events": [{"action": "push", "target": {"repository": repository, "tag": "x"},
            "request": {"host": host}}]})
        .to_string();
        let (status, _) = gitops::request(
            self.listen,
            "POST",
            "/api/webhook/registry",
            &[("authorization", format!("Bearer {token}")), ("content-type", "application/json".to_owned())],
            body.into_bytes(),
        )
        .await;
        status
    }
}

/// The local PullRequests.
pub async fn pull_requests(promo: &Promo) -> Vec<PullRequest> {
    promo.api::<PullRequest>().list(&ListParams::default()).await.unwrap().items
}

/// The commits of `branch` in `repo` carrying `Ferry-Promotion: <promotion>`.
pub fn commits_of(repo: &Repo, branch: &str, promotion: &str) -> usize {
    repo.git(&["log", "--format=%H", "--grep", &format!("Ferry-Promotion: {promotion}"), branch])
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// Names of objects, for messages.
pub fn names<K: ResourceExt>(objects: &[K]) -> Vec<String> {
    objects.iter().map(|o| o.name_any()).collect()
}

#[allow(unused_imports)]
pub use gitops::set_never_ready;

/// Warehouse `name`'s Ready condition message.
pub fn ready_message(warehouse: &Warehouse) -> Option<(String, String)> {
    warehouse
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.message.clone().unwrap_or_default()))
}

/// The dev stage: folder layout, direct from the warehouse, commits to `main`, 1 s soak.
pub fn dev_stage(repo: &str, image: &str) -> Value {
    soaked_dev_stage(repo, image, "1s")
}

/// A hydrated-branch stage fed by stage `upstream`, through a pull request of the local provider.
pub fn branch_stage(name: &str, upstream: &str, repo: &str, image: &str, extra: Value) -> Value {
    hydrated_stage(name, Some(upstream), repo, image, extra)
}

/// The source repository: `env/<stage>/deployment.yaml`, and an empty branch per hydrated stage.
pub fn source_repo() -> Repo {
    let repo = Repo::new();
    for stage in ["dev", "staging", "prod"] {
        repo.write(&format!("env/{stage}/deployment.yaml"), APP_YAML);
    }
    repo.commit("web");
    for stage in ["staging", "prod"] {
        repo.git(&["branch", &format!("environment/{stage}")]);
    }
    // Promotions push to `main`: nothing may have it checked out.
    repo.git(&["checkout", "-q", "--detach"]);
    repo
}

pub async fn deployment_image(promo: &Promo, namespace: &str) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(promo.client(), namespace);
    let deployment = api.get_opt("web").await.ok()??;
    deployment.spec?.template.spec?.containers.first()?.image.clone()
}

/// Freight of `image` at `tag`, made directly (no warehouse needed), from warehouse `web`.
pub async fn image_freight(promo: &Promo, image: &str, tag: &str) -> Freight {
    let images = vec![promotion::Image {
        repo_url: image.to_owned(),
        tag: tag.to_owned(),
        digest: format!("sha256:{:0>64}", tag.len()),
        created_at: None,
    }];
    let name = promotion::naming::freight_name(&[], &images, &[]);
    let mut freight = Freight::new(
        &name,
        promotion::FreightFields {
            alias: format!("web-{}", tag.replace('.', "-")),
            origin: promotion::FreightOrigin::warehouse("web"),
            images,
            ..Default::default()
        },
    );
    freight.metadata.namespace = Some(promotion::NAMESPACE.to_owned());
    freight.metadata.annotations = Some(std::collections::BTreeMap::from([(
        promotion::CREATED_ANNOTATION.to_owned(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    )]));
    promo.api::<Freight>().create(&PostParams::default(), &freight).await.unwrap()
}

/// Waits for a promotion of `freight` whose status message contains `text`.
pub async fn promotion_saying(promo: &Promo, freight: &str, text: &str) -> Promotion {
    let (freight, text) = (freight.to_owned(), text.to_owned());
    promo
        .wait_for::<Promotion, _>(&format!("a promotion of {freight} saying {text:?}"), move |all| {
            all.iter()
                .find(|p| {
                    p.spec.freight == freight
                        && p.status.as_ref().and_then(|s| s.message.as_deref()).is_some_and(|m| m.contains(&text))
                })
                .cloned()
        })
        .await
}
