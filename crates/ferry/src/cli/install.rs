//! `ferry install`: what a real cluster needs to run ferry. The namespace,
//! the Application CRD and the promotion CRDs (generated from the Rust
//! types), the controller's ServiceAccount and RBAC, ClusterRoles that let
//! users edit or view the promotion resources, its Deployment and Service.
//!
//! `--print` writes the manifests as multi-document YAML (deterministic, for
//! `kubectl apply -f -` or a GitOps repository); otherwise they are applied
//! server-side, the CRDs first and Established before the rest.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, Namespace, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ConnArgs;

/// The field manager of `ferry install`.
const FIELD_MANAGER: &str = "ferry-install";
/// Name of the controller's ServiceAccount, RBAC, Deployment and Service.
const CONTROLLER: &str = "ferry-controller";
/// Port of metrics, health checks and the git webhook.
const PORT: i32 = 8080;
/// Where the controller keeps its git cache.
const DATA_DIR: &str = "/var/lib/ferry";
/// How long to wait for the CRD to be Established.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);

/// `ferry install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Print the manifests (multi-document YAML) instead of applying them
    #[arg(long)]
    print: bool,
    /// Controller image (default: ghcr.io/ferry-dev/ferry:<this version>)
    #[arg(long)]
    image: Option<String>,
    /// Namespace of the controller (Applications always live in namespace ferry)
    #[arg(long, default_value = application::NAMESPACE)]
    namespace: String,
}

/// Everything `ferry install` writes, in apply order.
pub struct Manifests {
    /// The controller's namespace, and `ferry` if different.
    pub namespaces: Vec<Namespace>,
    /// `applications.ferry.dev`.
    pub crd: CustomResourceDefinition,
    /// Warehouse, Freight, Stage, Promotion, CommitStatus, Pipeline and
    /// PullRequest (`promotion::crds()`).
    pub promotion_crds: Vec<CustomResourceDefinition>,
    /// The controller's identity.
    pub service_account: ServiceAccount,
    /// What the controller may do: everything, as Argo CD's application
    /// controller (it applies arbitrary kinds).
    pub cluster_role: ClusterRole,
    /// Binds the role to the ServiceAccount.
    pub cluster_role_binding: ClusterRoleBinding,
    /// Users' access to the promotion resources, aggregated into the
    /// built-in `admin`/`edit` and `view` roles: `ferry-promotion-edit`
    /// (promote, approve, post statuses) and `ferry-promotion-view`.
    pub user_roles: Vec<ClusterRole>,
    /// The controller.
    pub deployment: Deployment,
    /// Metrics and the git webhook.
    pub service: Service,
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), CONTROLLER.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "ferry".to_owned()),
        ("app.kubernetes.io/component".to_owned(), "controller".to_owned()),
    ])
}

fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_owned(), CONTROLLER.to_owned())])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([("app.kubernetes.io/part-of".to_owned(), "ferry".to_owned())])),
        ..ObjectMeta::default()
    }
}

/// The default controller image: this binary's version.
pub fn default_image() -> String {
    format!("ghcr.io/ferry-dev/ferry:{}", env!("CARGO_PKG_VERSION"))
}

/// Builds the manifests for the controller in `namespace`, running `image`.
pub fn manifests(namespace: &str, image: &str) -> Manifests {
    let mut namespaces = vec![Namespace { metadata: meta(namespace, None), ..Namespace::default() }];
    if namespace != application::NAMESPACE {
        namespaces.push(Namespace { metadata: meta(application::NAMESPACE, None), ..Namespace::default() });
    }
    let ns = Some(namespace);
    let probe = |initial: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(10),
        ..Probe::default()
    };
    let container = Container {
        name: "controller".to_owned(),
        image: Some(image.to_owned()),
        command: Some(vec!["ferry".to_owned()]),
        args: Some(
            ["controller", "--listen", &format!("0.0.0.0:{PORT}"), "--data-dir", DATA_DIR]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe(2)),
        liveness_probe: Some(probe(10)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("100m".to_owned())),
                ("memory".to_owned(), Quantity("128Mi".to_owned())),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), ..Capabilities::default() }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".to_owned(),
            mount_path: DATA_DIR.to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let deployment = Deployment {
        metadata: ObjectMeta { labels: Some(labels()), ..meta(CONTROLLER, ns) },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            // One controller at a time: two would race on the same apps.
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".to_owned()), ..DeploymentStrategy::default() }),
            selector: LabelSelector { match_labels: Some(selector()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels()), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(CONTROLLER.to_owned()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        // The distroless "nonroot" user; runAsNonRoot needs a
                        // numeric user to verify against.
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        fs_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "data".to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    Manifests {
        namespaces,
        crd: application::crd(),
        promotion_crds: promotion::crds(),
        service_account: ServiceAccount { metadata: meta(CONTROLLER, ns), ..ServiceAccount::default() },
        cluster_role: ClusterRole {
            metadata: meta(CONTROLLER, None),
            rules: Some(vec![
                PolicyRule {
                    api_groups: Some(vec!["*".to_owned()]),
                    resources: Some(vec!["*".to_owned()]),
                    verbs: vec!["*".to_owned()],
                    ..PolicyRule::default()
                },
                PolicyRule {
                    non_resource_urls: Some(vec!["*".to_owned()]),
                    verbs: vec!["get".to_owned()],
                    ..PolicyRule::default()
                },
            ]),
            ..ClusterRole::default()
        },
        cluster_role_binding: ClusterRoleBinding {
            metadata: meta(CONTROLLER, None),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_owned(),
                kind: "ClusterRole".to_owned(),
                name: CONTROLLER.to_owned(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name: CONTROLLER.to_owned(),
                namespace: Some(namespace.to_owned()),
                ..Subject::default()
            }]),
        },
        user_roles: user_roles(),
        deployment,
        service: Service {
            metadata: ObjectMeta { labels: Some(labels()), ..meta(CONTROLLER, ns) },
            spec: Some(ServiceSpec {
                selector: Some(selector()),
                ports: Some(vec![ServicePort {
                    name: Some("http".to_owned()),
                    port: PORT,
                    target_port: Some(IntOrString::String("http".to_owned())),
                    protocol: Some("TCP".to_owned()),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        },
    }
}

/// The plural names of the promotion resources, as RBAC names them.
fn promotion_resources() -> Vec<String> {
    promotion::crds().iter().map(|crd| crd.spec.names.plural.clone()).collect()
}

/// ClusterRoles for people: editing promotion resources (creating
/// Promotions, approving Freight through its status, posting
/// CommitStatuses) and viewing them. The aggregation labels fold them into
/// Kubernetes' `admin`, `edit` and `view` roles.
fn user_roles() -> Vec<ClusterRole> {
    let resources = promotion_resources();
    let with_status: Vec<String> = resources.iter().flat_map(|r| [r.clone(), format!("{r}/status")]).collect();
    let verbs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let role = |name: &str, aggregate: &[&str], rules: Vec<PolicyRule>| {
        let mut metadata = meta(name, None);
        if let Some(labels) = metadata.labels.as_mut() {
            for to in aggregate {
                labels.insert(format!("rbac.authorization.k8s.io/aggregate-to-{to}"), "true".to_owned());
            }
        }
        ClusterRole { metadata, rules: Some(rules), ..ClusterRole::default() }
    };
    vec![
        role(
            "ferry-promotion-edit",
            &["admin", "edit"],
            vec![PolicyRule {
                api_groups: Some(vec!["ferry.dev".to_owned()]),
                resources: Some(with_status.clone()),
                verbs: verbs(&["get", "list", "watch", "create", "update", "patch", "delete"]),
                ..PolicyRule::default()
            }],
        ),
        role(
            "ferry-promotion-view",
            &["view"],
            vec![PolicyRule {
                api_groups: Some(vec!["ferry.dev".to_owned()]),
                resources: Some(with_status),
                verbs: verbs(&["get", "list", "watch"]),
                ..PolicyRule::default()
            }],
        ),
    ]
}

fn yaml<T: Serialize>(value: &T) -> Result<String> {
    serde_saphyr::to_string(value).context("cannot encode the manifests as YAML")
}

impl Manifests {
    /// Multi-document YAML, in apply order.
    pub fn to_yaml(&self) -> Result<String> {
        let mut docs = Vec::new();
        for ns in &self.namespaces {
            docs.push(yaml(ns)?);
        }
        docs.push(yaml(&self.crd)?);
        for crd in &self.promotion_crds {
            docs.push(yaml(crd)?);
        }
        docs.push(yaml(&self.service_account)?);
        docs.push(yaml(&self.cluster_role)?);
        docs.push(yaml(&self.cluster_role_binding)?);
        for role in &self.user_roles {
            docs.push(yaml(role)?);
        }
        docs.push(yaml(&self.deployment)?);
        docs.push(yaml(&self.service)?);
        Ok(docs.iter().map(|d| format!("---\n{}", d.trim_start_matches("---\n"))).collect())
    }
}

/// Runs `ferry install`.
pub async fn run(args: InstallArgs) -> Result<()> {
    if !super::is_dns_label(&args.namespace, 63) {
        bail!("invalid namespace {:?}", args.namespace);
    }
    let image = args.image.clone().unwrap_or_else(default_image);
    let m = manifests(&args.namespace, &image);
    if args.print {
        print!("{}", m.to_yaml()?);
        return Ok(());
    }
    let client = super::client(&args.conn).await?;
    let ns = &args.namespace;
    for namespace in &m.namespaces {
        apply(Api::<Namespace>::all(client.clone()), namespace).await?;
    }
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in std::iter::once(&m.crd).chain(&m.promotion_crds) {
        apply(crds.clone(), crd).await?;
    }
    for crd in std::iter::once(&m.crd).chain(&m.promotion_crds) {
        wait_established(&crds, crd).await?;
    }
    apply(Api::<ServiceAccount>::namespaced(client.clone(), ns), &m.service_account).await?;
    apply(Api::<ClusterRole>::all(client.clone()), &m.cluster_role).await?;
    apply(Api::<ClusterRoleBinding>::all(client.clone()), &m.cluster_role_binding).await?;
    for role in &m.user_roles {
        apply(Api::<ClusterRole>::all(client.clone()), role).await?;
    }
    apply(Api::<Deployment>::namespaced(client.clone(), ns), &m.deployment).await?;
    apply(Api::<Service>::namespaced(client, ns), &m.service).await?;
    Ok(())
}

/// Installs just what a local control plane needs: the `ferry` namespace,
/// the Application CRD and the promotion CRDs (Established). Quiet, for
/// `ferry up`.
pub async fn install_crd(client: &kube::Client) -> Result<()> {
    let m = manifests(application::NAMESPACE, &default_image());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for namespace in &m.namespaces {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        Api::<Namespace>::all(client.clone())
            .patch(&name, &params, &Patch::Apply(namespace))
            .await
            .map_err(super::kube_error)
            .with_context(|| format!("cannot apply namespace {name}"))?;
    }
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in std::iter::once(&m.crd).chain(&m.promotion_crds) {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &params, &Patch::Apply(crd))
            .await
            .map_err(super::kube_error)
            .with_context(|| format!("cannot apply CRD {name}"))?;
    }
    for crd in std::iter::once(&m.crd).chain(&m.promotion_crds) {
        wait_established(&crds, crd).await?;
    }
    Ok(())
}

/// kubectl's name for an object: `deployment.apps/ferry-controller`.
fn kubectl_name<K: k8s_openapi::Resource + kube::Resource>(object: &K) -> String {
    let kind = K::KIND.to_lowercase();
    let name = object.meta().name.clone().unwrap_or_default();
    if K::GROUP.is_empty() { format!("{kind}/{name}") } else { format!("{kind}.{}/{name}", K::GROUP) }
}

async fn apply<K>(api: Api<K>, object: &K) -> Result<()>
where
    K: kube::Resource + k8s_openapi::Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let display = kubectl_name(object);
    let name = object.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .map_err(super::kube_error)
        .with_context(|| format!("cannot apply {display}"))?;
    println!("{display} serverside-applied");
    Ok(())
}

async fn wait_established(api: &Api<CustomResourceDefinition>, crd: &CustomResourceDefinition) -> Result<()> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let deadline = Instant::now() + CRD_TIMEOUT;
    loop {
        let live =
            api.get(&name).await.map_err(super::kube_error).with_context(|| format!("cannot read CRD {name}"))?;
        let established = live
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("CRD {name} was not Established within {}s", CRD_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_is_deterministic_and_complete() {
        let a = manifests("ferry", "img:1").to_yaml().expect("yaml");
        let b = manifests("ferry", "img:1").to_yaml().expect("yaml");
        assert_eq!(a, b);
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&a).expect("parse back");
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        let mut expected = vec!["Namespace"];
        expected.extend(std::iter::repeat_n("CustomResourceDefinition", 1 + promotion::crds().len()));
        expected.extend(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ClusterRole", "ClusterRole"]);
        expected.extend(["Deployment", "Service"]);
        assert_eq!(kinds, expected);
        let crd_names: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        for name in [
            "applications.ferry.dev",
            "freights.ferry.dev",
            "stages.ferry.dev",
            "promotions.ferry.dev",
            "commitstatuses.ferry.dev",
        ] {
            assert!(crd_names.contains(&name), "{name} missing from {crd_names:?}");
        }
        let edit = docs.iter().find(|d| d["metadata"]["name"] == "ferry-promotion-edit").expect("edit role");
        assert_eq!(edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
        let resources = edit["rules"][0]["resources"].as_array().expect("resources");
        assert!(resources.iter().any(|r| r == "freights/status"), "{resources:?}");
        assert!(resources.iter().any(|r| r == "promotions"), "{resources:?}");
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").expect("deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "img:1");
        assert_eq!(container["args"][0], "controller");
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(container["volumeMounts"][0]["mountPath"], DATA_DIR);
    }

    #[test]
    fn another_namespace_still_creates_ferry() {
        let m = manifests("ops", "img:1");
        let names: Vec<_> = m.namespaces.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        assert_eq!(names, ["ops", "ferry"]);
        assert_eq!(m.deployment.metadata.namespace.as_deref(), Some("ops"));
        assert_eq!(m.cluster_role_binding.subjects.as_ref().and_then(|s| s[0].namespace.as_deref()), Some("ops"));
    }
}
