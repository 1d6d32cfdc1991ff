//! The objects every fresh cluster has. Idempotent: run at every start.

use serde_json::{Value, json};

use super::namespace;
use super::runtime::{self, Timestamp};
use crate::api::{ApiError, Cluster, Reason, Subresource};

const MANAGER: &str = "kube-apiserver";

/// The one simulated node.
pub(crate) const NODE_NAME: &str = "ferry-local";
/// The node's address (also every Pod's hostIP).
pub(crate) const NODE_IP: &str = "172.18.0.2";
/// The `kubernetes` Service's clusterIP, the first of the service range.
pub(crate) const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// The namespaces a fresh cluster has.
pub(crate) const NAMESPACES: [&str; 5] = ["default", "kube-system", "kube-public", "kube-node-lease", "ferry-system"];

/// The labels of the simulated node (DaemonSet node selectors match them).
pub(crate) fn node_labels() -> Value {
    json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": NODE_NAME,
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "",
    })
}

pub(super) async fn bootstrap(cluster: &Cluster) -> Result<(), ApiError> {
    let namespaces = runtime::resource(cluster, "", "v1", "namespaces")?;
    for name in NAMESPACES {
        let object = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        });
        runtime::tolerate(
            cluster.create(&namespaces, "", object, &runtime::manager(MANAGER)).await,
            Reason::AlreadyExists,
        )?;
        let current = cluster.get(&namespaces, "", name)?;
        if runtime::str_at(&current, &["status", "phase"]) != "Active" && !runtime::is_terminating(&current) {
            namespace::activate(cluster, current).await?;
        }
        namespace::ensure_service_account(cluster, name).await?;
    }

    let services = runtime::resource(cluster, "", "v1", "services")?;
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": KUBERNETES_SERVICE_IP,
            "clusterIPs": [KUBERNETES_SERVICE_IP],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    });
    runtime::tolerate(
        cluster.create(&services, "default", service, &runtime::manager(MANAGER)).await,
        Reason::AlreadyExists,
    )?;

    let nodes = runtime::resource(cluster, "", "v1", "nodes")?;
    let node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": node_labels(),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
    });
    runtime::tolerate(cluster.create(&nodes, "", node, &runtime::manager("kubelet")).await, Reason::AlreadyExists)?;
    let mut current = cluster.get(&nodes, "", NODE_NAME)?;
    let status = node_status(current.get("status"), chrono::Utc::now());
    if current.get("status") != Some(&status) {
        if let Some(object) = current.as_object_mut() {
            object.insert("status".into(), status);
        }
        cluster.update(&nodes, "", NODE_NAME, Subresource::Status, current, &runtime::manager("kubelet")).await?;
    }
    Ok(())
}

/// The simulated node's status: Ready, with room for plenty of Pods. The
/// condition times of an existing status are kept, so a restart does not
/// rewrite the node.
pub(crate) fn node_status(current: Option<&Value>, now: Timestamp) -> Value {
    let now_text = runtime::format_time(now);
    let existing_time = |type_: &str| {
        current
            .and_then(|s| runtime::condition(s, type_))
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| now_text.clone())
    };
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        let since = existing_time(type_);
        json!({
            "type": type_,
            "status": status,
            "lastHeartbeatTime": since,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        })
    };
    let resources = json!({
        "cpu": "8",
        "ephemeral-storage": "102400Mi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": "16Gi",
        "pods": "110",
    });
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": NODE_IP},
            {"type": "Hostname", "address": NODE_NAME},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "f3a1c0de000000000000000000000001",
            "systemUUID": "f3a1c0de-0000-0000-0000-000000000001",
            "bootID": "f3a1c0de-0000-0000-0000-000000000002",
            "kernelVersion": "6.1.0-ferry",
            "osImage": "ferry simulated node",
            "containerRuntimeVersion": concat!("ferry-simulator://", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": "v1.33.0",
            "kubeProxyVersion": "v1.33.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}
