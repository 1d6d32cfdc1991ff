//! Namespace lifecycle: new namespaces become Active and get a `default`
//! ServiceAccount; a terminating namespace is emptied, then its `kubernetes`
//! finalizer is removed so the API can let it go.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::runtime::{self, Change, Next, Queue};
use crate::api::{ApiError, Cluster, DeleteOptions, Reason, Subresource};
use crate::store::{EventKind, Scope};

const MANAGER: &str = "kube-controller-manager";

/// The finalizer the API puts in `spec.finalizers` of a namespace.
pub(crate) const NAMESPACE_FINALIZER: &str = "kubernetes";

/// How often a terminating namespace whose contents linger (finalizers of
/// their own) is looked at again, besides the deletions that wake it.
const TERMINATING_RECHECK: Duration = Duration::from_secs(2);

pub(super) fn spawn(tasks: &mut JoinSet<()>, cluster: &Cluster, shutdown: &watch::Receiver<bool>) {
    let queue: Arc<Queue<String>> = Queue::new();
    let events = Arc::clone(&queue);
    tasks.spawn(runtime::follow(cluster.store().clone(), Scope::default(), shutdown.clone(), move |change| {
        let Change::Event(event) = change else { return };
        if event.key.resource == "/namespaces" {
            events.add(event.key.name.clone());
        } else if event.kind == EventKind::Deleted && !event.key.namespace.is_empty() {
            // The namespace may have been waiting for this object to go.
            events.add(event.key.namespace.clone());
        }
    }));
    let cluster = cluster.clone();
    tasks.spawn(runtime::work("namespace", queue, shutdown.clone(), move |name| {
        let cluster = cluster.clone();
        async move { reconcile(&cluster, &name).await }
    }));
}

/// What a namespace needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NamespaceAction {
    /// Set `status.phase: Active` and make sure it has a default ServiceAccount.
    Activate,
    /// Already Active: make sure it has a default ServiceAccount.
    EnsureServiceAccount,
    /// Terminating: delete its contents, then drop the finalizer.
    Finalize,
    /// Terminating and already finalized: the API removes it.
    Nothing,
}

/// Decides what a namespace needs from its current state.
pub(crate) fn namespace_action(namespace: &Value) -> NamespaceAction {
    if runtime::is_terminating(namespace) {
        let pending = runtime::at(namespace, &["spec", "finalizers"])
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(NAMESPACE_FINALIZER)));
        return if pending { NamespaceAction::Finalize } else { NamespaceAction::Nothing };
    }
    if runtime::str_at(namespace, &["status", "phase"]) == "Active" {
        NamespaceAction::EnsureServiceAccount
    } else {
        NamespaceAction::Activate
    }
}

async fn reconcile(cluster: &Cluster, name: &str) -> Result<Next, ApiError> {
    let rt = runtime::resource(cluster, "", "v1", "namespaces")?;
    let Some(namespace) = runtime::get_opt(cluster, &rt, "", name)? else {
        return Ok(Next::Done);
    };
    match namespace_action(&namespace) {
        NamespaceAction::Activate => {
            activate(cluster, namespace).await?;
            ensure_service_account(cluster, name).await?;
            Ok(Next::Done)
        }
        NamespaceAction::EnsureServiceAccount => {
            ensure_service_account(cluster, name).await?;
            Ok(Next::Done)
        }
        NamespaceAction::Finalize => finalize(cluster, namespace).await,
        NamespaceAction::Nothing => Ok(Next::Done),
    }
}

/// Sets `status.phase: Active`.
pub(crate) async fn activate(cluster: &Cluster, mut namespace: Value) -> Result<(), ApiError> {
    let rt = runtime::resource(cluster, "", "v1", "namespaces")?;
    let name = runtime::name_of(&namespace).to_owned();
    if let Some(object) = namespace.as_object_mut() {
        object.insert("status".into(), json!({"phase": "Active"}));
    }
    cluster.update(&rt, "", &name, Subresource::Status, namespace, &runtime::manager(MANAGER)).await?;
    Ok(())
}

/// Creates the `default` ServiceAccount of `namespace` if it is missing.
pub(crate) async fn ensure_service_account(cluster: &Cluster, namespace: &str) -> Result<(), ApiError> {
    let rt = runtime::resource(cluster, "", "v1", "serviceaccounts")?;
    if runtime::get_opt(cluster, &rt, namespace, "default")?.is_some() {
        return Ok(());
    }
    let account = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace},
    });
    match cluster.create(&rt, namespace, account, &runtime::manager(MANAGER)).await {
        Ok(_) => Ok(()),
        Err(error) if error.reason == Reason::AlreadyExists => Ok(()),
        // The namespace started terminating meanwhile: nothing to do.
        Err(error) if error.reason == Reason::Forbidden => Ok(()),
        Err(error) => Err(error),
    }
}

async fn finalize(cluster: &Cluster, namespace: Value) -> Result<Next, ApiError> {
    let name = runtime::name_of(&namespace).to_owned();
    let mut remaining = 0usize;
    for rt in runtime::storage_resources(cluster) {
        if !rt.namespaced {
            continue;
        }
        let items = runtime::list_values(cluster, &rt, Some(&name))?;
        for item in items {
            remaining += 1;
            if runtime::is_terminating(&item) {
                continue;
            }
            let options =
                DeleteOptions { precondition_uid: Some(runtime::uid_of(&item).to_owned()), ..DeleteOptions::default() };
            match cluster.delete(&rt, &name, runtime::name_of(&item), &options).await {
                Ok(deleted) if deleted.gone => remaining -= 1,
                Ok(_) => {}
                Err(error) if matches!(error.reason, Reason::NotFound | Reason::Conflict) => {}
                Err(error) => return Err(error),
            }
        }
    }
    if remaining > 0 {
        return Ok(Next::After(TERMINATING_RECHECK));
    }
    let rt = runtime::resource(cluster, "", "v1", "namespaces")?;
    let mut finalized = namespace;
    if let Some(list) = finalized.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) {
        list.retain(|f| f.as_str() != Some(NAMESPACE_FINALIZER));
    }
    match cluster.update(&rt, "", &name, Subresource::Main, finalized, &runtime::manager(MANAGER)).await {
        Ok(_) => Ok(Next::Done),
        Err(error) if error.reason == Reason::NotFound => Ok(Next::Done),
        Err(error) => Err(error),
    }
}
