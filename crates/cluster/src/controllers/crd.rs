//! CustomResourceDefinitions: names accepted and Established status, and on
//! deletion, removal of every custom object before the CRD goes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::runtime::{self, Change, Condition, Next, Queue, Timestamp, UpdateTime};
use crate::api::{ApiError, Cluster, DeleteOptions, Reason, Subresource};
use crate::registry::{ResourceType, SchemaSource};
use crate::store::Scope;

const MANAGER: &str = "kube-apiserver";

/// The finalizer the API puts on a CRD being deleted.
pub(crate) const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// How soon a CRD whose objects linger (finalizers of their own) is looked at again.
const CLEANUP_RECHECK: Duration = Duration::from_secs(1);

pub(super) fn spawn(tasks: &mut JoinSet<()>, cluster: &Cluster, shutdown: &watch::Receiver<bool>) {
    let queue: Arc<Queue<String>> = Queue::new();
    let events = Arc::clone(&queue);
    let scope = Scope { resource: Some("apiextensions.k8s.io/customresourcedefinitions".into()), namespace: None };
    tasks.spawn(runtime::follow(cluster.store().clone(), scope, shutdown.clone(), move |change| {
        if let Change::Event(event) = change {
            events.add(event.key.name.clone());
        }
    }));
    let cluster = cluster.clone();
    tasks.spawn(runtime::work("crd", queue, shutdown.clone(), move |name| {
        let cluster = cluster.clone();
        async move { reconcile(&cluster, &name).await }
    }));
}

/// The status a served CRD should have: names accepted, Established, and
/// the storage version recorded in `storedVersions`.
pub(crate) fn crd_status(crd: &Value, now: Timestamp) -> Value {
    let current = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut status = current.as_object().cloned().unwrap_or_default();
    let names = runtime::at(crd, &["spec", "names"]).cloned().unwrap_or_else(|| json!({}));
    let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut accepted = Map::new();
    accepted.insert("plural".into(), names.get("plural").cloned().unwrap_or(Value::from("")));
    let singular =
        names.get("singular").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| kind.to_lowercase());
    accepted.insert("singular".into(), singular.into());
    for key in ["shortNames", "categories"] {
        if let Some(v) = names.get(key).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
            accepted.insert(key.into(), v.clone());
        }
    }
    accepted.insert("kind".into(), kind.into());
    let list_kind =
        names.get("listKind").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| format!("{kind}List"));
    accepted.insert("listKind".into(), list_kind.into());
    status.insert("acceptedNames".into(), Value::Object(accepted));

    let mut conditions: Vec<Value> = current.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    if runtime::is_terminating(crd) {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Terminating",
                status: "True",
                reason: "InstanceDeletionInProgress",
                message: "CustomResource deletion is in progress".into(),
            },
            UpdateTime::Absent,
            now,
        );
    } else {
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "NamesAccepted",
                status: "True",
                reason: "NoConflicts",
                message: "no conflicts found".into(),
            },
            UpdateTime::Absent,
            now,
        );
        runtime::set_condition(
            &mut conditions,
            Condition {
                type_: "Established",
                status: "True",
                reason: "InitialNamesAccepted",
                message: "the initial names have been accepted".into(),
            },
            UpdateTime::Absent,
            now,
        );
    }
    status.insert("conditions".into(), Value::Array(conditions));

    let mut stored: Vec<Value> = current.get("storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(version) = storage_version(crd)
        && !stored.iter().any(|v| v.as_str() == Some(version))
    {
        stored.push(version.into());
    }
    status.insert("storedVersions".into(), Value::Array(stored));
    Value::Object(status)
}

/// The name of the version marked `storage: true`.
pub(crate) fn storage_version(crd: &Value) -> Option<&str> {
    runtime::at(crd, &["spec", "versions"])?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
}

/// The resource type of a CRD's storage version, built from its spec: used
/// to delete its objects when the registry no longer serves it.
pub(crate) fn resource_type_of(crd: &Value) -> Option<ResourceType> {
    let group = runtime::str_at(crd, &["spec", "group"]);
    let names = runtime::at(crd, &["spec", "names"])?;
    let kind = names.get("kind")?.as_str()?.to_owned();
    let plural = names.get("plural")?.as_str()?.to_owned();
    let version = storage_version(crd)?.to_owned();
    Some(ResourceType {
        group: group.to_owned(),
        version,
        list_kind: format!("{kind}List"),
        singular: kind.to_lowercase(),
        kind,
        plural,
        namespaced: runtime::str_at(crd, &["spec", "scope"]) != "Cluster",
        short_names: Vec::new(),
        categories: Vec::new(),
        verbs: Vec::new(),
        status: false,
        scale: None,
        other_subresources: Vec::new(),
        schema: SchemaSource::None,
        printer_columns: Vec::new(),
    })
}

async fn reconcile(cluster: &Cluster, name: &str) -> Result<Next, ApiError> {
    let rt = runtime::resource(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
    let Some(crd) = runtime::get_opt(cluster, &rt, "", name)? else {
        return Ok(Next::Done);
    };
    let status = crd_status(&crd, chrono::Utc::now());
    let crd = if crd.get("status") != Some(&status) {
        let mut updated = crd.clone();
        if let Some(object) = updated.as_object_mut() {
            object.insert("status".into(), status);
        }
        cluster.update(&rt, "", name, Subresource::Status, updated, &runtime::manager(MANAGER)).await?.object
    } else {
        crd
    };
    if !runtime::is_terminating(&crd) || !runtime::finalizers(&crd).contains(&CLEANUP_FINALIZER) {
        return Ok(Next::Done);
    }
    let Some(own) = resource_type_of(&crd) else {
        // Without names there cannot be objects.
        let updated = runtime::without_finalizer(&crd, CLEANUP_FINALIZER);
        runtime::tolerate(
            cluster.update(&rt, "", name, Subresource::Main, updated, &runtime::manager(MANAGER)).await,
            Reason::NotFound,
        )?;
        return Ok(Next::Done);
    };
    let served = runtime::by_storage_resource(cluster, &own.storage_resource()).unwrap_or_else(|| Arc::new(own));
    let items = runtime::list_values(cluster, &served, None)?;
    let mut remaining = 0usize;
    for item in &items {
        remaining += 1;
        if runtime::is_terminating(item) {
            continue;
        }
        let options =
            DeleteOptions { precondition_uid: Some(runtime::uid_of(item).to_owned()), ..DeleteOptions::default() };
        match cluster.delete(&served, runtime::namespace_of(item), runtime::name_of(item), &options).await {
            Ok(deleted) if deleted.gone => remaining -= 1,
            Ok(_) => {}
            Err(error) if matches!(error.reason, Reason::NotFound | Reason::Conflict) => remaining -= 1,
            Err(error) => return Err(error),
        }
    }
    if remaining > 0 {
        return Ok(Next::After(CLEANUP_RECHECK));
    }
    let updated = runtime::without_finalizer(&crd, CLEANUP_FINALIZER);
    runtime::tolerate(
        cluster.update(&rt, "", name, Subresource::Main, updated, &runtime::manager(MANAGER)).await,
        Reason::NotFound,
    )?;
    Ok(Next::Done)
}
