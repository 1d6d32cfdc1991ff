use serde_json::{Value, json};

use super::*;
use crate::registry::Registry;

fn doc(registry: &Registry, group: &str, version: &str) -> Value {
    openapi_v3_group_version(registry, group, version)
        .unwrap_or_else(|| panic!("{group}/{version} should have a document"))
}

fn crd_registry() -> Registry {
    let crd = json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    });
    Registry::builtin().with_crd(&crd).unwrap_or_else(|e| panic!("{e}"))
}

/// What kubectl's query-parameter verifier looks for: a PATCH operation
/// with the kind's GVK and a `fieldValidation` query parameter.
fn patch_supports(doc: &Value, group: &str, version: &str, kind: &str, param: &str) -> bool {
    let want = json!({"group": group, "version": version, "kind": kind});
    doc["paths"].as_object().into_iter().flatten().any(|(_, item)| {
        let op = &item["patch"];
        op["x-kubernetes-group-version-kind"] == want
            && op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == param && p["in"] == "query")
    })
}

#[test]
fn index_lists_every_group_version_with_a_stable_hash() {
    let r = crd_registry();
    let index = openapi_v3_index(&r);
    let paths = index["paths"].as_object().cloned().unwrap_or_default();
    assert_eq!(paths.len(), r.group_versions().len());
    let url = paths["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    assert!(paths.contains_key("api/v1"));
    assert!(paths.contains_key("apis/example.com/v1"));
    // Same content, same hash; a changed CRD changes only its own hash.
    assert_eq!(openapi_v3_index(&r), index);
    let crd = json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    });
    let changed = openapi_v3_index(&r.with_crd(&crd).unwrap_or_else(|e| panic!("{e}")));
    assert_ne!(changed["paths"]["apis/example.com/v1"], index["paths"]["apis/example.com/v1"]);
    assert_eq!(changed["paths"]["apis/apps/v1"], index["paths"]["apis/apps/v1"]);
}

#[test]
fn every_kind_supports_server_side_field_validation() {
    let r = crd_registry();
    for (group, version) in r.group_versions() {
        let d = doc(&r, &group, &version);
        assert_eq!(d["openapi"], "3.0.0");
        for rt in r.resources_in(&group, &version) {
            if rt.verbs.iter().any(|v| v == "patch") {
                for param in ["fieldValidation", "dryRun", "fieldManager", "force"] {
                    assert!(
                        patch_supports(&d, &group, &version, &rt.kind, param),
                        "{group}/{version} {} lacks {param}",
                        rt.kind
                    );
                }
            }
        }
    }
    assert!(openapi_v3_group_version(&r, "apps", "v2").is_none());
}

#[test]
fn deployment_paths_and_actions() {
    let d = doc(&Registry::builtin(), "apps", "v1");
    let item = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    for (method, action) in [("get", "get"), ("put", "put"), ("patch", "patch"), ("delete", "delete")] {
        assert_eq!(item[method]["x-kubernetes-action"], action);
    }
    let collection = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
    for (method, action) in [("get", "list"), ("post", "post"), ("delete", "deletecollection")] {
        assert_eq!(collection[method]["x-kubernetes-action"], action);
    }
    assert_eq!(d["paths"]["/apis/apps/v1/deployments"]["get"]["x-kubernetes-action"], "list");
    let scale = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(
        scale["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    let content = item["patch"]["requestBody"]["content"].as_object().cloned().unwrap_or_default();
    assert!(content.contains_key("application/strategic-merge-patch+json"));
    assert!(content.contains_key("application/apply-patch+yaml"));
    // Operation ids are unique.
    let mut ids: Vec<String> = Vec::new();
    for (_, path_item) in d["paths"].as_object().into_iter().flatten() {
        for (_, op) in path_item.as_object().into_iter().flatten() {
            if let Some(id) = op["operationId"].as_str() {
                assert!(!ids.contains(&id.to_owned()), "duplicate operationId {id}");
                ids.push(id.to_owned());
            }
        }
    }
    // Cluster-scoped resources have no namespace segment.
    let core = doc(&Registry::builtin(), "", "v1");
    assert!(core["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
    assert!(core["paths"]["/api/v1/nodes/{name}/status"]["patch"].is_object());
    assert!(core["paths"]["/api/v1/namespaces/{namespace}/bindings"]["post"].is_object());
    assert!(core["paths"]["/api/v1/namespaces/{namespace}/bindings"]["get"].is_null());
}

#[test]
fn schemas_are_converted_and_closed_under_references() {
    let d = doc(&Registry::builtin(), "apps", "v1");
    let schemas = d["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(deployment["type"], "object");
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(deployment["properties"]["spec"]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
    assert!(deployment["properties"]["kind"]["enum"].is_null());
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
    // Only what is referenced: no Pod (a core kind) in apps/v1.
    assert!(!schemas.contains_key("io.k8s.api.core.v1.Pod"));
    assert!(schemas.contains_key("io.k8s.api.core.v1.PodTemplateSpec"));
    // Every reference resolves, and no nullable type array is left.
    let text = serde_json::to_string(&d).unwrap_or_default();
    assert!(!text.contains("#/$defs/"));
    assert!(!text.contains("\"null\""));
    let mut refs = BTreeSet::new();
    collect_refs(&d, Flavor::V3, &mut refs);
    for r in refs {
        assert!(schemas.contains_key(&r), "dangling reference to {r}");
    }
}

#[test]
fn crd_documents_carry_their_schema() {
    let d = doc(&crd_registry(), "example.com", "v1");
    let schemas = &d["components"]["schemas"];
    let widget = &schemas["com.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "version": "v1", "kind": "Widget"}])
    );
    assert_eq!(widget["properties"]["spec"]["properties"]["size"]["type"], "integer");
    assert_eq!(
        widget["properties"]["metadata"]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(schemas["com.example.v1.WidgetList"].is_object());
    assert!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
    let patch = &d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    let content = patch["requestBody"]["content"].as_object().cloned().unwrap_or_default();
    assert!(!content.contains_key("application/strategic-merge-patch+json"));
    assert!(d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status"]["patch"].is_object());
}

#[test]
fn swagger_v2_document() {
    let d = openapi_v2(&crd_registry());
    assert_eq!(d["swagger"], "2.0");
    let defs = d["definitions"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        defs["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]["$ref"],
        "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    );
    assert_eq!(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"], "string");
    assert!(defs.contains_key("com.example.v1.Widget"));
    let patch = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "fieldValidation" && p["type"] == "string")
    );
    assert_eq!(patch["parameters"][0]["in"], "body");
    let text = serde_json::to_string(&d).unwrap_or_default();
    assert!(!text.contains("#/components/"));
    assert!(!text.contains("\"oneOf\":["), "swagger 2.0 has no oneOf");
}
