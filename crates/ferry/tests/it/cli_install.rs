//! `ferry install`: the printed manifests apply with kubectl, and the direct
//! server-side apply is idempotent.

use crate::common;

use common::{DEADLINE, Server, at, eventually};

async fn crd_established(server: &Server) {
    eventually("the Application CRD to be Established", DEADLINE, || async {
        let out = server.kubectl(&["get", "crd", "applications.ferry.dev", "-o", "json"]).await;
        if out.code != 0 {
            return Err(out.stderr);
        }
        let crd = out.json();
        let established = crd["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
        if established { Ok(()) } else { Err(crd["status"].to_string()) }
    })
    .await;
}

#[tokio::test]
async fn printed_manifests_apply_with_kubectl() {
    let server = Server::start().await;
    let printed = server.ferry(&["install", "--print"]).await.ok();
    let again = server.ferry(&["install", "--print"]).await.ok();
    assert_eq!(printed.stdout, again.stdout, "--print is deterministic");
    assert!(printed.stdout.starts_with("---\n"), "{}", &printed.stdout[..80.min(printed.stdout.len())]);

    let applied = server.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &printed.stdout).await.ok();
    assert!(
        applied.stdout.contains("customresourcedefinition.apiextensions.k8s.io/applications.ferry.dev"),
        "{}",
        applied.stdout
    );
    crd_established(&server).await;

    let deployment =
        server.kubectl(&["get", "deployment", "ferry-controller", "-n", "ferry", "-o", "json"]).await.ok().json();
    let pod = at(&deployment, "/spec/template/spec");
    assert_eq!(pod["serviceAccountName"], "ferry-controller");
    let container = &pod["containers"][0];
    assert_eq!(
        container["image"].as_str().unwrap_or_default(),
        format!("ghcr.io/ferry-dev/ferry:{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        container["args"],
        serde_json::json!(["controller", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/ferry"])
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(pod["volumes"][0]["emptyDir"], serde_json::json!({}));

    let role = server.kubectl(&["get", "clusterrole", "ferry-controller", "-o", "json"]).await.ok().json();
    assert_eq!(role["rules"][0]["verbs"], serde_json::json!(["*"]));
    assert_eq!(role["rules"][1]["nonResourceURLs"], serde_json::json!(["*"]));
    let binding = server.kubectl(&["get", "clusterrolebinding", "ferry-controller", "-o", "json"]).await.ok().json();
    assert_eq!(binding["subjects"][0]["namespace"], "ferry");
    let service =
        server.kubectl(&["get", "service", "ferry-controller", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    server.kubectl(&["get", "serviceaccount", "ferry-controller", "-n", "ferry"]).await.ok();

    // The CRD serves Applications: kubectl can create one.
    let app = "apiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata:\n  name: probe\n  namespace: ferry\n\
spec:\n  source:\n    repoURL: file:///r\n    path: p\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: d\n";
    server.apply(app).await;
    let listed = server.ferry(&["app", "list"]).await.ok();
    assert!(listed.stdout.lines().any(|l| l.starts_with("probe ")), "{}", listed.stdout);
}

#[tokio::test]
async fn direct_install_is_server_side_and_idempotent() {
    let server = Server::start().await;
    // Before installing, app commands say what is missing.
    let missing = server.ferry(&["app", "list"]).await.fails();
    assert!(missing.stderr.contains("ferry install"), "{}", missing.stderr);

    let expected = "namespace/ferry serverside-applied
customresourcedefinition.apiextensions.k8s.io/applications.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/warehouses.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/freights.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/stages.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/promotions.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/commitstatuses.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/pipelines.ferry.dev serverside-applied
customresourcedefinition.apiextensions.k8s.io/pullrequests.ferry.dev serverside-applied
serviceaccount/ferry-controller serverside-applied
clusterrole.rbac.authorization.k8s.io/ferry-controller serverside-applied
clusterrolebinding.rbac.authorization.k8s.io/ferry-controller serverside-applied
clusterrole.rbac.authorization.k8s.io/ferry-promotion-edit serverside-applied
clusterrole.rbac.authorization.k8s.io/ferry-promotion-view serverside-applied
deployment.apps/ferry-controller serverside-applied
service/ferry-controller serverside-applied
";
    let first = server.ferry(&["install", "--image", "example.com/ferry:test"]).await.ok();
    assert_eq!(first.stdout, expected);
    let second = server.ferry(&["install", "--image", "example.com/ferry:test"]).await.ok();
    assert_eq!(second.stdout, expected, "a second install applies the same objects");
    crd_established(&server).await;

    let crd = server
        .kubectl(&["get", "crd", "applications.ferry.dev", "-o", "json", "--show-managed-fields"])
        .await
        .ok()
        .json();
    let managers: Vec<&str> = crd["metadata"]["managedFields"]
        .as_array()
        .map(|m| m.iter().filter_map(|f| f["manager"].as_str()).collect())
        .unwrap_or_default();
    assert!(managers.contains(&"ferry-install"), "{managers:?}");
    let deployment =
        server.kubectl(&["get", "deployment", "ferry-controller", "-n", "ferry", "-o", "json"]).await.ok().json();
    assert_eq!(at(&deployment, "/spec/template/spec/containers/0/image"), "example.com/ferry:test");
    assert_eq!(at(&deployment, "/metadata/generation"), 1, "an identical re-apply changes nothing");

    let listed = server.ferry(&["app", "list"]).await.ok();
    assert_eq!(listed.stdout, "No applications found.\n");
}
