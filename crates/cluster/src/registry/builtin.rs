//! The table of built-in resources: one row per resource, as Kubernetes
//! 1.33 serves them.

use std::sync::Arc;

use super::printers::Computed as C;
use super::{PrinterColumn, ResourceType, ScaleSpec, SchemaSource};

/// Scope of a built-in resource.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Namespaced,
    Cluster,
}
use Scope::{Cluster, Namespaced};

/// One row of the table.
struct Def {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    scope: Scope,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    verbs: &'static [&'static str],
    /// Subresources: `status`, `scale`, and the ones only listed in discovery.
    subresources: &'static [&'static str],
    /// Columns after NAME; empty means Kubernetes' default (`Created At`).
    columns: &'static [Col],
}

/// A printer column of the table.
struct Col {
    name: &'static str,
    type_: &'static str,
    path: &'static str,
    priority: i32,
    computed: Option<C>,
}

/// A column read straight from a field.
const fn field(name: &'static str, type_: &'static str, path: &'static str) -> Col {
    Col { name, type_, path, priority: 0, computed: None }
}

/// A column Kubernetes computes.
const fn calc(name: &'static str, type_: &'static str, computed: C) -> Col {
    Col { name, type_, path: "", priority: 0, computed: Some(computed) }
}

/// A column shown only with `-o wide`.
const fn wide(col: Col) -> Col {
    Col { priority: 1, ..col }
}

const AGE: Col = calc("Age", "string", C::Age);

/// Every verb of an ordinary resource.
const ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const API_EXT: &[&str] = &["api-extensions"];
const CAT_ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];
const SCALE_STATUS: &[&str] = &["scale", "status"];

const POD_CONTAINERS: &str = ".spec.template.spec";

#[rustfmt::skip]
const TABLE: &[Def] = &[
    // core/v1
    Def { group: "", kind: "Binding", plural: "bindings", scope: Namespaced, short_names: NONE, categories: NONE, verbs: &["create"], subresources: NONE, columns: &[] },
    Def { group: "", kind: "ComponentStatus", plural: "componentstatuses", scope: Cluster, short_names: &["cs"], categories: NONE, verbs: &["get", "list"], subresources: NONE,
        columns: &[calc("Status", "string", C::ConditionType("Healthy", "Healthy", "Unhealthy")), field("Message", "string", ".conditions[0].message"), field("Error", "string", ".conditions[0].error")] },
    Def { group: "", kind: "ConfigMap", plural: "configmaps", scope: Namespaced, short_names: &["cm"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Data", "integer", C::Count(&[".data", ".binaryData"])), AGE] },
    Def { group: "", kind: "Endpoints", plural: "endpoints", scope: Namespaced, short_names: &["ep"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Endpoints", "string", C::Endpoints), AGE] },
    Def { group: "", kind: "Event", plural: "events", scope: Namespaced, short_names: &["ev"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Last Seen", "string", C::EventLastSeen), field("Type", "string", ".type"), field("Reason", "string", ".reason"), calc("Object", "string", C::EventObject(".involvedObject")), field("Message", "string", ".message")] },
    Def { group: "", kind: "LimitRange", plural: "limitranges", scope: Namespaced, short_names: &["limits"], categories: NONE, verbs: ALL, subresources: NONE, columns: &[] },
    Def { group: "", kind: "Namespace", plural: "namespaces", scope: Cluster, short_names: &["ns"], categories: NONE,
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"], subresources: &["finalize", "status"],
        columns: &[field("Status", "string", ".status.phase"), AGE] },
    Def { group: "", kind: "Node", plural: "nodes", scope: Cluster, short_names: &["no"], categories: NONE, verbs: ALL, subresources: &["proxy", "status"],
        columns: &[calc("Status", "string", C::NodeStatus), calc("Roles", "string", C::NodeRoles), AGE, field("Version", "string", ".status.nodeInfo.kubeletVersion"),
            wide(calc("Internal-IP", "string", C::NodeAddress("InternalIP"))), wide(calc("External-IP", "string", C::NodeAddress("ExternalIP"))),
            wide(field("OS-Image", "string", ".status.nodeInfo.osImage")), wide(field("Kernel-Version", "string", ".status.nodeInfo.kernelVersion")),
            wide(field("Container-Runtime", "string", ".status.nodeInfo.containerRuntimeVersion"))] },
    Def { group: "", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", scope: Namespaced, short_names: &["pvc"], categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[field("Status", "string", ".status.phase"), field("Volume", "string", ".spec.volumeName"), field("Capacity", "string", ".status.capacity.storage"),
            calc("Access Modes", "string", C::AccessModes(".status.accessModes")), field("StorageClass", "string", ".spec.storageClassName"),
            field("VolumeAttributesClass", "string", ".spec.volumeAttributesClassName"), AGE, wide(field("VolumeMode", "string", ".spec.volumeMode"))] },
    Def { group: "", kind: "PersistentVolume", plural: "persistentvolumes", scope: Cluster, short_names: &["pv"], categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[field("Capacity", "string", ".spec.capacity.storage"), calc("Access Modes", "string", C::AccessModes(".spec.accessModes")),
            calc("Reclaim Policy", "string", C::Default(".spec.persistentVolumeReclaimPolicy", "Retain")), field("Status", "string", ".status.phase"),
            calc("Claim", "string", C::NamespacedRef(".spec.claimRef")), field("StorageClass", "string", ".spec.storageClassName"),
            field("VolumeAttributesClass", "string", ".spec.volumeAttributesClassName"), calc("Reason", "string", C::Default(".status.reason", "")), AGE,
            wide(field("VolumeMode", "string", ".spec.volumeMode"))] },
    Def { group: "", kind: "Pod", plural: "pods", scope: Namespaced, short_names: &["po"], categories: CAT_ALL, verbs: ALL,
        subresources: &["attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy", "resize", "status"],
        columns: &[calc("Ready", "string", C::PodReady), calc("Status", "string", C::PodStatus), calc("Restarts", "string", C::PodRestarts), AGE,
            wide(field("IP", "string", ".status.podIP")), wide(field("Node", "string", ".spec.nodeName")),
            wide(field("Nominated Node", "string", ".status.nominatedNodeName")), wide(calc("Readiness Gates", "string", C::PodReadinessGates))] },
    Def { group: "", kind: "PodTemplate", plural: "podtemplates", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Containers", "string", C::Containers(".template.spec")), calc("Images", "string", C::Images(".template.spec")),
            calc("Pod Labels", "string", C::MapSelector(".template.metadata.labels")), AGE] },
    Def { group: "", kind: "ReplicationController", plural: "replicationcontrollers", scope: Namespaced, short_names: &["rc"], categories: CAT_ALL, verbs: ALL, subresources: SCALE_STATUS,
        columns: &[calc("Desired", "integer", C::IntOrZero(".spec.replicas")), calc("Current", "integer", C::IntOrZero(".status.replicas")),
            calc("Ready", "integer", C::IntOrZero(".status.readyReplicas")), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS))),
            wide(calc("Selector", "string", C::MapSelector(".spec.selector")))] },
    Def { group: "", kind: "ResourceQuota", plural: "resourcequotas", scope: Namespaced, short_names: &["quota"], categories: NONE, verbs: ALL, subresources: STATUS, columns: &[AGE] },
    Def { group: "", kind: "Secret", plural: "secrets", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("Type", "string", ".type"), calc("Data", "integer", C::Count(&[".data"])), AGE] },
    Def { group: "", kind: "ServiceAccount", plural: "serviceaccounts", scope: Namespaced, short_names: &["sa"], categories: NONE, verbs: ALL, subresources: &["token"],
        columns: &[calc("Secrets", "integer", C::Count(&[".secrets"])), AGE] },
    Def { group: "", kind: "Service", plural: "services", scope: Namespaced, short_names: &["svc"], categories: CAT_ALL, verbs: ALL, subresources: &["proxy", "status"],
        columns: &[field("Type", "string", ".spec.type"), field("Cluster-IP", "string", ".spec.clusterIP"), calc("External-IP", "string", C::ServiceExternalIp),
            calc("Port(s)", "string", C::ServicePorts), AGE, wide(calc("Selector", "string", C::MapSelector(".spec.selector")))] },
    // admissionregistration.k8s.io/v1
    Def { group: "admissionregistration.k8s.io", kind: "MutatingWebhookConfiguration", plural: "mutatingwebhookconfigurations", scope: Cluster, short_names: NONE, categories: API_EXT, verbs: ALL, subresources: NONE,
        columns: &[calc("Webhooks", "integer", C::Count(&[".webhooks"])), AGE] },
    Def { group: "admissionregistration.k8s.io", kind: "ValidatingAdmissionPolicy", plural: "validatingadmissionpolicies", scope: Cluster, short_names: NONE, categories: API_EXT, verbs: ALL, subresources: STATUS,
        columns: &[calc("Validations", "integer", C::Count(&[".spec.validations"])), calc("ParamKind", "string", C::ParamKind), AGE] },
    Def { group: "admissionregistration.k8s.io", kind: "ValidatingAdmissionPolicyBinding", plural: "validatingadmissionpolicybindings", scope: Cluster, short_names: NONE, categories: API_EXT, verbs: ALL, subresources: NONE,
        columns: &[field("PolicyName", "string", ".spec.policyName"), calc("ParamRef", "string", C::NamespacedRef(".spec.paramRef")), AGE] },
    Def { group: "admissionregistration.k8s.io", kind: "ValidatingWebhookConfiguration", plural: "validatingwebhookconfigurations", scope: Cluster, short_names: NONE, categories: API_EXT, verbs: ALL, subresources: NONE,
        columns: &[calc("Webhooks", "integer", C::Count(&[".webhooks"])), AGE] },
    // apiextensions.k8s.io/v1
    Def { group: "apiextensions.k8s.io", kind: "CustomResourceDefinition", plural: "customresourcedefinitions", scope: Cluster, short_names: &["crd", "crds"], categories: API_EXT, verbs: ALL, subresources: STATUS, columns: &[] },
    // apiregistration.k8s.io/v1
    Def { group: "apiregistration.k8s.io", kind: "APIService", plural: "apiservices", scope: Cluster, short_names: NONE, categories: API_EXT, verbs: ALL, subresources: STATUS,
        columns: &[calc("Service", "string", C::ApiServiceService), calc("Available", "string", C::ConditionType("Available", "True", "False")), AGE] },
    // apps/v1
    Def { group: "apps", kind: "ControllerRevision", plural: "controllerrevisions", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Controller", "string", C::ControllerOwner), field("Revision", "integer", ".revision"), AGE] },
    Def { group: "apps", kind: "DaemonSet", plural: "daemonsets", scope: Namespaced, short_names: &["ds"], categories: CAT_ALL, verbs: ALL, subresources: STATUS,
        columns: &[calc("Desired", "integer", C::IntOrZero(".status.desiredNumberScheduled")), calc("Current", "integer", C::IntOrZero(".status.currentNumberScheduled")),
            calc("Ready", "integer", C::IntOrZero(".status.numberReady")), calc("Up-to-date", "integer", C::IntOrZero(".status.updatedNumberScheduled")),
            calc("Available", "integer", C::IntOrZero(".status.numberAvailable")), calc("Node Selector", "string", C::MapSelector(".spec.template.spec.nodeSelector")), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS))),
            wide(calc("Selector", "string", C::Selector(".spec.selector")))] },
    Def { group: "apps", kind: "Deployment", plural: "deployments", scope: Namespaced, short_names: &["deploy"], categories: CAT_ALL, verbs: ALL, subresources: SCALE_STATUS,
        columns: &[calc("Ready", "string", C::Ratio(".status.readyReplicas", ".spec.replicas")), calc("Up-to-date", "integer", C::IntOrZero(".status.updatedReplicas")),
            calc("Available", "integer", C::IntOrZero(".status.availableReplicas")), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS))),
            wide(calc("Selector", "string", C::Selector(".spec.selector")))] },
    Def { group: "apps", kind: "ReplicaSet", plural: "replicasets", scope: Namespaced, short_names: &["rs"], categories: CAT_ALL, verbs: ALL, subresources: SCALE_STATUS,
        columns: &[calc("Desired", "integer", C::IntOrZero(".spec.replicas")), calc("Current", "integer", C::IntOrZero(".status.replicas")),
            calc("Ready", "integer", C::IntOrZero(".status.readyReplicas")), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS))),
            wide(calc("Selector", "string", C::Selector(".spec.selector")))] },
    Def { group: "apps", kind: "StatefulSet", plural: "statefulsets", scope: Namespaced, short_names: &["sts"], categories: CAT_ALL, verbs: ALL, subresources: SCALE_STATUS,
        columns: &[calc("Ready", "string", C::Ratio(".status.readyReplicas", ".spec.replicas")), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS)))] },
    // autoscaling/v2
    Def { group: "autoscaling", kind: "HorizontalPodAutoscaler", plural: "horizontalpodautoscalers", scope: Namespaced, short_names: &["hpa"], categories: CAT_ALL, verbs: ALL, subresources: STATUS,
        columns: &[calc("Reference", "string", C::KindNameRef(".spec.scaleTargetRef")), calc("MinPods", "string", C::Default(".spec.minReplicas", "<unset>")),
            field("MaxPods", "integer", ".spec.maxReplicas"), calc("Replicas", "integer", C::IntOrZero(".status.currentReplicas")), AGE] },
    // batch/v1
    Def { group: "batch", kind: "CronJob", plural: "cronjobs", scope: Namespaced, short_names: &["cj"], categories: CAT_ALL, verbs: ALL, subresources: STATUS,
        columns: &[field("Schedule", "string", ".spec.schedule"), field("Timezone", "string", ".spec.timeZone"), calc("Suspend", "boolean", C::BoolTitle(".spec.suspend")),
            calc("Active", "integer", C::Count(&[".status.active"])), calc("Last Schedule", "string", C::AgeOf(".status.lastScheduleTime")), AGE,
            wide(calc("Containers", "string", C::Containers(".spec.jobTemplate.spec.template.spec"))), wide(calc("Images", "string", C::Images(".spec.jobTemplate.spec.template.spec"))),
            wide(calc("Selector", "string", C::Selector(".spec.jobTemplate.spec.selector")))] },
    Def { group: "batch", kind: "Job", plural: "jobs", scope: Namespaced, short_names: NONE, categories: CAT_ALL, verbs: ALL, subresources: STATUS,
        columns: &[calc("Status", "string", C::JobStatus), calc("Completions", "string", C::JobCompletions), calc("Duration", "string", C::JobDuration), AGE,
            wide(calc("Containers", "string", C::Containers(POD_CONTAINERS))), wide(calc("Images", "string", C::Images(POD_CONTAINERS))),
            wide(calc("Selector", "string", C::Selector(".spec.selector")))] },
    // coordination.k8s.io/v1
    Def { group: "coordination.k8s.io", kind: "Lease", plural: "leases", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("Holder", "string", ".spec.holderIdentity"), AGE] },
    // discovery.k8s.io/v1
    Def { group: "discovery.k8s.io", kind: "EndpointSlice", plural: "endpointslices", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("AddressType", "string", ".addressType"), calc("Ports", "string", C::SlicePorts), calc("Endpoints", "string", C::SliceEndpoints), AGE] },
    // events.k8s.io/v1
    Def { group: "events.k8s.io", kind: "Event", plural: "events", scope: Namespaced, short_names: &["ev"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Last Seen", "string", C::EventLastSeen), field("Type", "string", ".type"), field("Reason", "string", ".reason"), calc("Object", "string", C::EventObject(".regarding")), field("Message", "string", ".note")] },
    // networking.k8s.io/v1
    Def { group: "networking.k8s.io", kind: "IngressClass", plural: "ingressclasses", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("Controller", "string", ".spec.controller"), calc("Parameters", "string", C::KindNameRef(".spec.parameters")), AGE] },
    Def { group: "networking.k8s.io", kind: "Ingress", plural: "ingresses", scope: Namespaced, short_names: &["ing"], categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[field("Class", "string", ".spec.ingressClassName"), calc("Hosts", "string", C::IngressHosts), calc("Address", "string", C::LoadBalancerAddress(".status.loadBalancer.ingress")),
            calc("Ports", "string", C::IngressPorts), AGE] },
    Def { group: "networking.k8s.io", kind: "IPAddress", plural: "ipaddresses", scope: Cluster, short_names: &["ip"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("ParentRef", "string", C::KindNameRef(".spec.parentRef")), AGE] },
    Def { group: "networking.k8s.io", kind: "NetworkPolicy", plural: "networkpolicies", scope: Namespaced, short_names: &["netpol"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Pod-Selector", "string", C::Selector(".spec.podSelector")), AGE] },
    Def { group: "networking.k8s.io", kind: "ServiceCIDR", plural: "servicecidrs", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[calc("CIDRs", "string", C::Join(".spec.cidrs")), AGE] },
    // policy/v1
    Def { group: "policy", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", scope: Namespaced, short_names: &["pdb"], categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[calc("Min Available", "string", C::Default(".spec.minAvailable", "N/A")), calc("Max Unavailable", "string", C::Default(".spec.maxUnavailable", "N/A")),
            calc("Allowed Disruptions", "integer", C::IntOrZero(".status.disruptionsAllowed")), AGE] },
    // rbac.authorization.k8s.io/v1
    Def { group: "rbac.authorization.k8s.io", kind: "ClusterRoleBinding", plural: "clusterrolebindings", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Role", "string", C::KindNameRef(".roleRef")), AGE] },
    Def { group: "rbac.authorization.k8s.io", kind: "ClusterRole", plural: "clusterroles", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE, columns: &[] },
    Def { group: "rbac.authorization.k8s.io", kind: "RoleBinding", plural: "rolebindings", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Role", "string", C::KindNameRef(".roleRef")), AGE] },
    Def { group: "rbac.authorization.k8s.io", kind: "Role", plural: "roles", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE, columns: &[] },
    // storage.k8s.io/v1
    Def { group: "storage.k8s.io", kind: "CSIDriver", plural: "csidrivers", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("AttachRequired", "boolean", C::Default(".spec.attachRequired", "true")), calc("PodInfoOnMount", "boolean", C::Default(".spec.podInfoOnMount", "false")), AGE] },
    Def { group: "storage.k8s.io", kind: "CSINode", plural: "csinodes", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[calc("Drivers", "integer", C::Count(&[".spec.drivers"])), AGE] },
    Def { group: "storage.k8s.io", kind: "CSIStorageCapacity", plural: "csistoragecapacities", scope: Namespaced, short_names: NONE, categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("StorageClassName", "string", ".storageClassName"), field("Capacity", "string", ".capacity"), AGE] },
    Def { group: "storage.k8s.io", kind: "StorageClass", plural: "storageclasses", scope: Cluster, short_names: &["sc"], categories: NONE, verbs: ALL, subresources: NONE,
        columns: &[field("Provisioner", "string", ".provisioner"), calc("ReclaimPolicy", "string", C::Default(".reclaimPolicy", "Delete")),
            calc("VolumeBindingMode", "string", C::Default(".volumeBindingMode", "Immediate")), calc("AllowVolumeExpansion", "string", C::Default(".allowVolumeExpansion", "false")), AGE] },
    Def { group: "storage.k8s.io", kind: "VolumeAttachment", plural: "volumeattachments", scope: Cluster, short_names: NONE, categories: NONE, verbs: ALL, subresources: STATUS,
        columns: &[field("Attacher", "string", ".spec.attacher"), field("PV", "string", ".spec.source.persistentVolumeName"), field("Node", "string", ".spec.nodeName"),
            calc("Attached", "boolean", C::Default(".status.attached", "false")), AGE] },
];

/// Every built-in group and its one served version.
const VERSION: &str = "v1";

fn version_of(group: &str) -> &'static str {
    match group {
        "autoscaling" => "v2",
        _ => VERSION,
    }
}

/// Builds the built-in resources, in table order.
pub(super) fn resources() -> Vec<Arc<ResourceType>> {
    TABLE.iter().map(|d| Arc::new(resource(d))).collect()
}

fn resource(d: &Def) -> ResourceType {
    let version = version_of(d.group);
    let scale = d.subresources.contains(&"scale").then(|| ScaleSpec {
        spec_replicas_path: ".spec.replicas".to_owned(),
        status_replicas_path: ".status.replicas".to_owned(),
        label_selector_path: Some(".status.selector".to_owned()),
    });
    let mut printer_columns: Vec<PrinterColumn> = d
        .columns
        .iter()
        .map(|c| PrinterColumn {
            name: c.name.to_owned(),
            type_: c.type_.to_owned(),
            json_path: c.path.to_owned(),
            priority: c.priority,
            description: String::new(),
            format: String::new(),
            computed: c.computed.clone(),
        })
        .collect();
    if printer_columns.is_empty() {
        // Kubernetes' default table for kinds without a printer.
        printer_columns.push(PrinterColumn {
            name: "Created At".to_owned(),
            type_: "date".to_owned(),
            json_path: ".metadata.creationTimestamp".to_owned(),
            priority: 0,
            description: "CreationTimestamp is a timestamp representing the server time when this object was created."
                .to_owned(),
            format: String::new(),
            computed: Some(C::Timestamp(".metadata.creationTimestamp")),
        });
    }
    ResourceType {
        group: d.group.to_owned(),
        version: version.to_owned(),
        kind: d.kind.to_owned(),
        list_kind: format!("{}List", d.kind),
        plural: d.plural.to_owned(),
        singular: d.kind.to_lowercase(),
        namespaced: d.scope == Namespaced,
        short_names: d.short_names.iter().map(|s| (*s).to_owned()).collect(),
        categories: d.categories.iter().map(|s| (*s).to_owned()).collect(),
        verbs: d.verbs.iter().map(|s| (*s).to_owned()).collect(),
        status: d.subresources.contains(&"status"),
        scale,
        other_subresources: d
            .subresources
            .iter()
            .filter(|s| !matches!(**s, "status" | "scale"))
            .map(|s| (*s).to_owned())
            .collect(),
        schema: SchemaSource::Builtin,
        printer_columns,
    }
}

/// What discovery says about a subresource: its response kind
/// (`group`, `version`, `kind`) and verbs.
pub(super) struct SubresourceInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];

/// Discovery facts of the subresources that are only listed (not `status`
/// or `scale`, which depend on the resource).
pub(super) fn other_subresource(plural: &str, sub: &str) -> Option<SubresourceInfo> {
    let info = |group, version, kind, verbs| Some(SubresourceInfo { group, version, kind, verbs });
    match (plural, sub) {
        ("pods", "attach") => info("", "v1", "PodAttachOptions", &["create", "get"]),
        ("pods", "binding") => info("", "v1", "Binding", &["create"]),
        ("pods", "ephemeralcontainers") => info("", "v1", "Pod", GET_PATCH_UPDATE),
        ("pods", "eviction") => info("policy", "v1", "Eviction", &["create"]),
        ("pods", "exec") => info("", "v1", "PodExecOptions", &["create", "get"]),
        ("pods", "log") => info("", "v1", "Pod", &["get"]),
        ("pods", "portforward") => info("", "v1", "PodPortForwardOptions", &["create", "get"]),
        ("pods", "proxy") => info("", "v1", "PodProxyOptions", PROXY_VERBS),
        ("pods", "resize") => info("", "v1", "Pod", GET_PATCH_UPDATE),
        ("nodes", "proxy") => info("", "v1", "NodeProxyOptions", PROXY_VERBS),
        ("services", "proxy") => info("", "v1", "ServiceProxyOptions", PROXY_VERBS),
        ("namespaces", "finalize") => info("", "v1", "Namespace", &["update"]),
        ("serviceaccounts", "token") => info("authentication.k8s.io", "v1", "TokenRequest", &["create"]),
        _ => None,
    }
}
