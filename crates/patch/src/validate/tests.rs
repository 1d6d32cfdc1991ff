// Tests may fail loudly; the workspace warns on expect in library code only.
#![allow(clippy::expect_used)]

use serde_json::{Value, json};

use super::{strip_unknown_fields, unknown_fields};
use crate::{Gvk, Schema, TypeRef};

fn builtin(group: &str, version: &str, kind: &str) -> TypeRef<'static> {
    Schema::builtin().root(&Gvk::new(group, version, kind)).expect("built-in kind")
}

fn deployment_with_unknowns() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"any.key/is": "fine"}, "colour": "blue"},
        "spec": {
            "replicas": 2,
            "foo": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostname": "x"}]},
                        {"name": "b", "image": "busybox", "bogus": true, "resources": {"limits": {"cpu": "1"}}}
                    ]
                }
            }
        },
        "status": {"replicas": 1, "shiny": true}
    })
}

#[test]
fn reports_unknown_fields_of_a_builtin_kind_in_document_order() {
    let found = unknown_fields(&deployment_with_unknowns(), builtin("apps", "v1", "Deployment"));
    assert_eq!(
        found,
        vec![
            ".metadata.colour",
            ".spec.foo",
            ".spec.template.spec.containers[0].ports[0].hostname",
            ".spec.template.spec.containers[1].bogus",
            ".status.shiny",
        ]
    );
}

#[test]
fn a_valid_object_has_no_unknown_fields() {
    let mut object = deployment_with_unknowns();
    strip_unknown_fields(&mut object, builtin("apps", "v1", "Deployment"));
    assert!(unknown_fields(&object, builtin("apps", "v1", "Deployment")).is_empty());
}

#[test]
fn strip_removes_exactly_the_unknown_fields_and_keeps_order() {
    let mut object = deployment_with_unknowns();
    strip_unknown_fields(&mut object, builtin("apps", "v1", "Deployment"));
    assert_eq!(object["metadata"], json!({"name": "web", "labels": {"any.key/is": "fine"}}));
    let spec_keys: Vec<&str> =
        object["spec"].as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(spec_keys, ["replicas", "selector", "template"]);
    assert_eq!(object["spec"]["template"]["spec"]["containers"][0]["ports"], json!([{"containerPort": 80}]));
    assert_eq!(
        object["spec"]["template"]["spec"]["containers"][1],
        json!({"name": "b", "image": "busybox", "resources": {"limits": {"cpu": "1"}}})
    );
    assert_eq!(object["status"], json!({"replicas": 1}));
}

#[test]
fn maps_and_free_form_fields_accept_anything() {
    // ConfigMap data is a map; a CRD's spec.versions[].schema is free-form JSON schema.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b", "weird key": "c"}});
    assert!(unknown_fields(&cm, builtin("", "v1", "ConfigMap")).is_empty());
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "default": {"free": {"form": 1}}, "x-kubernetes-preserve-unknown-fields": true}}
            }],
            "nonsense": 1
        }
    });
    assert_eq!(
        unknown_fields(&crd, builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition")),
        vec![".spec.nonsense"]
    );
}

fn widget_schema() -> Schema {
    Schema::from_crd(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer"},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"known": {"type": "object", "properties": {"x": {"type": "string"}}}}},
                    "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                    "port": {"x-kubernetes-int-or-string": true},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}
                }
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }
    }))
}

#[test]
fn crd_schema_unknown_fields() {
    let schema = widget_schema();
    let root = schema.crd_root().expect("root");
    let widget = json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default", "nope": 1},
        "spec": {
            "size": 3,
            "colour": "red",
            "items": [{"name": "a"}, {"name": "b", "weight": 2}],
            "extra": {"anything": {"goes": true}, "known": {"x": "1", "y": "2"}},
            "byName": {"a": {"port": 1}, "b": {"port": 2, "host": "h"}},
            "port": "http",
            "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"free": 1}, "other": 1}
        },
        "status": {"ready": true, "phase": "Running"},
        "unexpected": {}
    });
    assert_eq!(
        unknown_fields(&widget, root),
        vec![
            ".metadata.nope",
            ".spec.colour",
            ".spec.items[1].weight",
            ".spec.extra.known.y",
            ".spec.byName.b.host",
            ".spec.embedded.other",
            ".status.phase",
            ".unexpected",
        ]
    );

    let mut stripped = widget.clone();
    strip_unknown_fields(&mut stripped, root);
    assert!(unknown_fields(&stripped, root).is_empty());
    assert_eq!(stripped["spec"]["extra"], json!({"anything": {"goes": true}, "known": {"x": "1"}}));
    assert_eq!(stripped["apiVersion"], "example.com/v1", "root fields are always declared");
    assert!(stripped.get("unexpected").is_none());
}

#[test]
fn schema_less_crd_accepts_everything() {
    let schema = Schema::from_crd(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let root = schema.crd_root().expect("root");
    let object = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"a": [1, {"b": 2}]}});
    assert!(unknown_fields(&object, root).is_empty());
    let mut copy = object.clone();
    strip_unknown_fields(&mut copy, root);
    assert_eq!(copy, object);
}

#[test]
fn type_mismatches_are_not_unknown_fields() {
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": {"a": 1}}});
    assert!(unknown_fields(&object, builtin("apps", "v1", "Deployment")).is_empty());
}
