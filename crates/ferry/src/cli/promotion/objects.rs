//! What the promotion verbs share: the namespace flag, typed access to the
//! promotion resources with user-facing errors, freight lookup by alias or
//! name, and short text for times and artifacts.

use std::fmt::Debug;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Utc};
use clap::Args;
use kube::api::ListParams;
use kube::core::NamespaceResourceScope;
use kube::{Api, Resource, ResourceExt};
use promotion::Freight;
use serde::de::DeserializeOwned;

use crate::cli::ConnArgs;

/// The field manager of the CLI's writes.
pub const FIELD_MANAGER: &str = "ferry-cli";

/// Where the promotion resources are: the cluster, and the namespace.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Namespace of the promotion resources
    #[arg(short = 'n', long, default_value = promotion::NAMESPACE, global = true)]
    pub namespace: String,
}

/// A connected client bound to one namespace.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    namespace: String,
}

/// A namespaced resource the CLI reads.
pub trait Object:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned + serde::Serialize
{
}

impl<K> Object for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + DeserializeOwned + serde::Serialize
{
}

/// The lowercase kind, for messages (`stage`, `freight`).
pub fn kind_of<K: Object>() -> String {
    K::kind(&()).to_lowercase()
}

impl Cluster {
    /// Connects with the scope's kubeconfig.
    pub async fn connect(scope: &Scope) -> Result<Cluster> {
        if !crate::cli::is_dns_label(&scope.namespace, 63) {
            return Err(anyhow!("invalid namespace {:?}", scope.namespace));
        }
        let client = crate::cli::client(&scope.conn).await?;
        Ok(Cluster { client, namespace: scope.namespace.clone() })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The API of `K` in the namespace.
    pub fn api<K: Object>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// One object; a missing one is `stage "dev" not found in namespace "ferry"`.
    pub async fn get<K: Object>(&self, name: &str) -> Result<K> {
        match self.api::<K>().get(name).await {
            Ok(object) => Ok(object),
            Err(e) => Err(self.explain::<K>(e, Some(name))),
        }
    }

    /// One object, or `None` when it does not exist.
    pub async fn get_opt<K: Object>(&self, name: &str) -> Result<Option<K>> {
        match self.api::<K>().get_opt(name).await {
            Ok(object) => Ok(object),
            Err(e) => Err(self.explain::<K>(e, Some(name))),
        }
    }

    /// Every object of the kind in the namespace, sorted by name.
    pub async fn list<K: Object>(&self) -> Result<Vec<K>> {
        let list = self.api::<K>().list(&ListParams::default()).await.map_err(|e| self.explain::<K>(e, None))?;
        let mut items = list.items;
        items.sort_by_key(|o| o.name_any());
        Ok(items)
    }

    /// Turns the API server's errors into what they mean here: the CRD is
    /// not installed, the namespace is missing, or the object does not
    /// exist.
    pub fn explain<K: Object>(&self, e: kube::Error, name: Option<&str>) -> anyhow::Error {
        let kind = kind_of::<K>();
        if let kube::Error::Api(status) = &e
            && status.code == 404
        {
            if status.message.contains("could not find the requested resource") {
                return anyhow!("the {} CRD is not installed in this cluster (run `ferry install`)", K::kind(&()));
            }
            if status.message.contains(&format!("namespaces \"{}\" not found", self.namespace)) {
                return anyhow!("namespace {:?} does not exist", self.namespace);
            }
            if let Some(name) = name {
                return anyhow!("{kind} {name:?} not found in namespace {:?}", self.namespace);
            }
        }
        crate::cli::kube_error(e)
    }

    /// The Freight named `alias_or_name`: by name first, then by alias.
    pub async fn freight(&self, alias_or_name: &str) -> Result<Freight> {
        if let Some(freight) = self.get_opt::<Freight>(alias_or_name).await? {
            return Ok(freight);
        }
        let all = self.list::<Freight>().await.context("cannot list freight")?;
        find_freight(all, alias_or_name).ok_or_else(|| {
            anyhow!("freight {alias_or_name:?} not found in namespace {:?} (by name or alias)", self.namespace)
        })
    }
}

/// The freight with this alias, or this name.
pub fn find_freight(all: Vec<Freight>, alias_or_name: &str) -> Option<Freight> {
    let mut by_name = None;
    for freight in all {
        if freight.spec.alias == alias_or_name {
            return Some(freight);
        }
        if freight.metadata.name.as_deref() == Some(alias_or_name) {
            by_name = Some(freight);
        }
    }
    by_name
}

/// The current time.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// The user who runs the command (`$USER`, else `unknown`).
pub fn user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".to_owned())
}

/// A freight name shortened for tables (content hashes are long).
pub fn short_name(name: &str) -> String {
    name.chars().take(7).collect()
}

/// How a freight is shown: its alias, else its short name.
pub fn freight_text(alias: Option<&str>, name: &str) -> String {
    match alias {
        Some(alias) if !alias.is_empty() => alias.to_owned(),
        _ => short_name(name),
    }
}

/// Time since `created`, kubectl-style: `45s`, `12m`, `5h`, `3d`.
pub fn age(created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>, now: DateTime<Utc>) -> String {
    let Some(created) = created else { return String::new() };
    let created = DateTime::<Utc>::from_timestamp(created.0.as_second(), 0);
    match created {
        Some(t) => since(t, now),
        None => String::new(),
    }
}

/// Time since an RFC 3339 timestamp, as [`age`]; empty when unreadable.
pub fn since_text(timestamp: Option<&str>, now: DateTime<Utc>) -> String {
    timestamp.and_then(promotion::duration::parse_timestamp).map(|t| since(t, now)).unwrap_or_default()
}

fn since(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The artifacts of a freight in one line: `app:v1.0.0, repo@1a2b3c4, chart@1.2.0`.
pub fn artifacts(freight: &Freight) -> String {
    let last =
        |url: &str| url.trim_end_matches('/').rsplit('/').next().unwrap_or(url).trim_end_matches(".git").to_owned();
    let mut parts = Vec::new();
    for image in &freight.spec.images {
        parts.push(format!("{}:{}", last(&image.repo_url), image.tag));
    }
    for commit in &freight.spec.commits {
        let id = commit.tag.clone().unwrap_or_else(|| short_name(&commit.id));
        parts.push(format!("{}@{id}", last(&commit.repo_url)));
    }
    for chart in &freight.spec.charts {
        let name = if chart.name.is_empty() { last(&chart.repo_url) } else { chart.name.clone() };
        parts.push(format!("{name}@{}", chart.version));
    }
    parts.join(", ")
}

/// Stage names of a map's keys, comma-separated.
pub fn keys<V>(map: &std::collections::BTreeMap<String, V>) -> String {
    map.keys().cloned().collect::<Vec<_>>().join(",")
}
