use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::registry::Registry;

fn decode(bytes: &[u8]) -> Document {
    Document::decode(bytes).unwrap_or_else(|e| panic!("decode: {e}"))
}

fn encoded(v: &Value) -> Document {
    decode(&encode(v).unwrap_or_else(|e| panic!("encode: {e}")))
}

fn builtin() -> Document {
    encoded(&crate::openapi::openapi_v2(&Registry::builtin()))
}

fn definition<'d>(doc: &'d Document, name: &str) -> &'d Schema {
    doc.definitions
        .iter()
        .flat_map(|d| &d.additional_properties)
        .find(|n| n.name == name)
        .and_then(|n| n.value.as_ref())
        .unwrap_or_else(|| panic!("no definition {name}"))
}

fn property<'s>(schema: &'s Schema, name: &str) -> &'s Schema {
    schema
        .properties
        .iter()
        .flat_map(|p| &p.additional_properties)
        .find(|n| n.name == name)
        .and_then(|n| n.value.as_ref())
        .unwrap_or_else(|| panic!("no property {name}"))
}

/// The JSON value of a vendor extension, parsed back from its text.
fn extension(list: &[NamedAny], name: &str) -> Option<Value> {
    list.iter().find(|e| e.name == name).map(|e| {
        let yaml = e.value.as_ref().map(|a| a.yaml.as_str()).unwrap_or_default();
        serde_json::from_str(yaml).unwrap_or_else(|err| panic!("{name}: {err}: {yaml}"))
    })
}

/// Field numbers checked against bytes written by hand from
/// OpenAPIv2.proto, independently of the derived messages: Document.swagger
/// is 1, Document.definitions 9, Definitions.additional_properties 1,
/// NamedSchema.name/value 1/2, Schema.type 22 (a two-byte key), TypeItem.value 1.
#[test]
fn wire_bytes_follow_the_gnostic_field_numbers() {
    let bytes =
        encode(&json!({"swagger": "2.0", "definitions": {"A": {"type": "string"}}})).unwrap_or_else(|e| panic!("{e}"));
    let type_item = [&[0x0a, 6][..], b"string"].concat();
    let schema = [&[0xb2, 0x01, type_item.len() as u8][..], &type_item].concat();
    let named = [&[0x0a, 1, b'A', 0x12, schema.len() as u8][..], &schema].concat();
    let definitions = [&[0x0a, named.len() as u8][..], &named].concat();
    let want = [&[0x0a, 3][..], b"2.0", &[0x4a, definitions.len() as u8], &definitions].concat();
    assert_eq!(bytes, want);
}

#[test]
fn builtin_document_keeps_swagger_and_info() {
    let doc = builtin();
    assert_eq!(doc.swagger, "2.0");
    let info = doc.info.unwrap_or_else(|| panic!("no info"));
    assert_eq!(info.title, "Kubernetes");
    assert!(info.version.starts_with("v1."), "{}", info.version);
}

#[test]
fn deployment_definition_has_properties_and_gvk() {
    let doc = builtin();
    let deployment = definition(&doc, "io.k8s.api.apps.v1.Deployment");
    assert_eq!(property(deployment, "spec").r#ref, "#/definitions/io.k8s.api.apps.v1.DeploymentSpec");
    assert_eq!(property(deployment, "kind").r#type.as_ref().map(|t| t.value.clone()), Some(vec!["string".into()]));
    assert_eq!(
        extension(&deployment.vendor_extension, "x-kubernetes-group-version-kind"),
        Some(json!([{"group": "apps", "kind": "Deployment", "version": "v1"}]))
    );
    let spec = definition(&doc, "io.k8s.api.apps.v1.DeploymentSpec");
    assert!(spec.required.contains(&"selector".to_owned()), "{:?}", spec.required);
}

#[test]
fn patch_strategy_extensions_survive() {
    let doc = builtin();
    let containers = property(definition(&doc, "io.k8s.api.core.v1.PodSpec"), "containers");
    assert_eq!(extension(&containers.vendor_extension, "x-kubernetes-patch-merge-key"), Some(json!("name")));
    assert_eq!(extension(&containers.vendor_extension, "x-kubernetes-patch-strategy"), Some(json!("merge")));
    let items = containers.items.as_ref().unwrap_or_else(|| panic!("no items"));
    assert_eq!(items.schema.len(), 1);
    assert_eq!(items.schema[0].r#ref, "#/definitions/io.k8s.api.core.v1.Container");
    let labels = property(definition(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), "labels");
    match labels.additional_properties.as_ref().and_then(|a| a.oneof.as_ref()) {
        Some(additional_properties_item::Oneof::Schema(s)) => {
            assert_eq!(s.r#type.as_ref().map(|t| t.value.clone()), Some(vec!["string".into()]));
        }
        other => panic!("labels.additionalProperties: {other:?}"),
    }
}

/// A parameter's name and which message holds it.
fn name_and_location(item: &ParametersItem) -> Option<(&str, &'static str)> {
    use non_body_parameter::Oneof as NonBody;
    let parameters_item::Oneof::Parameter(p) = item.oneof.as_ref()? else {
        return None;
    };
    match p.oneof.as_ref()? {
        parameter::Oneof::BodyParameter(b) => Some((b.name.as_str(), "body")),
        parameter::Oneof::NonBodyParameter(n) => match n.oneof.as_ref()? {
            NonBody::Query(q) => Some((q.name.as_str(), "query")),
            NonBody::FormData(q) => Some((q.name.as_str(), "formData")),
            NonBody::Path(p) => Some((p.name.as_str(), "path")),
            NonBody::Header(p) => Some((p.name.as_str(), "header")),
        },
    }
}

#[test]
fn patch_operation_carries_gvk_action_and_parameters() {
    let doc = builtin();
    let item = doc
        .paths
        .iter()
        .flat_map(|p| &p.path)
        .find(|p| p.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        .and_then(|p| p.value.as_ref())
        .unwrap_or_else(|| panic!("no deployment path"));
    let patch = item.patch.as_ref().unwrap_or_else(|| panic!("no patch operation"));
    assert_eq!(extension(&patch.vendor_extension, "x-kubernetes-action"), Some(json!("patch")));
    assert_eq!(
        extension(&patch.vendor_extension, "x-kubernetes-group-version-kind"),
        Some(json!({"group": "apps", "kind": "Deployment", "version": "v1"}))
    );
    assert!(patch.consumes.iter().any(|c| c == "application/strategic-merge-patch+json"), "{:?}", patch.consumes);
    let names: Vec<(&str, &str)> = patch.parameters.iter().filter_map(name_and_location).collect();
    assert!(names.contains(&("body", "body")), "{names:?}");
    assert!(names.contains(&("fieldValidation", "query")), "{names:?}");
    let path_params: Vec<&str> = item
        .parameters
        .iter()
        .filter_map(name_and_location)
        .filter(|(_, location)| *location == "path")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(path_params, ["namespace", "name"]);
}

#[test]
fn schema_shapes_map_to_their_messages() {
    let doc = encoded(&json!({
        "swagger": "2.0",
        "definitions": {"X": {
            "type": ["string", "null"],
            "items": [{"type": "integer"}, {"type": "boolean"}],
            "additionalProperties": false,
            "enum": ["a", 1],
            "default": {"k": [1]},
            "maxLength": 5,
            "minimum": 1.5,
            "x-kubernetes-int-or-string": true,
            "x-kubernetes-list-map-keys": ["name", "protocol"],
        }},
        "responses": {"ignored": {}},
    }));
    let x = definition(&doc, "X");
    assert_eq!(x.r#type.as_ref().map(|t| t.value.clone()), Some(vec!["string".into(), "null".into()]));
    assert_eq!(x.items.as_ref().map(|i| i.schema.len()), Some(2));
    assert_eq!(
        x.additional_properties.as_ref().and_then(|a| a.oneof.clone()),
        Some(additional_properties_item::Oneof::Boolean(false))
    );
    let values: Vec<&str> = x.r#enum.iter().map(|a| a.yaml.as_str()).collect();
    assert_eq!(values, ["\"a\"", "1"]);
    assert_eq!(x.default.as_ref().map(|a| a.yaml.as_str()), Some(r#"{"k":[1]}"#));
    assert_eq!((x.max_length, x.minimum), (5, 1.5));
    assert_eq!(extension(&x.vendor_extension, "x-kubernetes-int-or-string"), Some(json!(true)));
    assert_eq!(extension(&x.vendor_extension, "x-kubernetes-list-map-keys"), Some(json!(["name", "protocol"])));
}

#[test]
fn wrong_types_are_errors_with_a_pointer() {
    let err = encode(&json!({"definitions": {"a/b": {"properties": {"p": {"required": "yes"}}}}}));
    match err {
        Err(EncodeError::WrongType { at, expected }) => {
            assert_eq!(at, "/definitions/a~1b/properties/p/required");
            assert_eq!(expected, "an array of strings");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(encode(&json!([])), Err(EncodeError::WrongType { .. })));
}

#[test]
fn unknown_parameter_location_is_an_error() {
    let err = encode(&json!({"paths": {"/x": {"get": {"parameters": [{"name": "c", "in": "cookie"}]}}}}));
    match err {
        Err(EncodeError::UnknownLocation { at, location }) => {
            assert_eq!(at, "/paths/~1x/get/parameters/0");
            assert_eq!(location, "cookie");
        }
        other => panic!("{other:?}"),
    }
}
