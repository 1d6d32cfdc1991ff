//! The `paths` of OpenAPI documents: collection, item and subresource
//! operations of each resource.

use serde_json::{Map, Value, json};

use super::{Flavor, definition_name};
use crate::registry::ResourceType;

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";

/// A query parameter: name, OpenAPI type, description.
type Param = (&'static str, &'static str, &'static str);

const LIST_PARAMS: &[Param] = &[
    ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    ("continue", "string", "The continue option should be set when retrieving more results from the server."),
    ("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields."),
    ("labelSelector", "string", "A selector to restrict the list of returned objects by their labels."),
    ("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    (
        "resourceVersion",
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    ("sendInitialEvents", "boolean", "sendInitialEvents=true may be set together with watch=true."),
    ("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    (
        "watch",
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
    ),
];

const DRY_RUN: Param = (
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
);
const FIELD_MANAGER: Param = (
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
);
const FIELD_VALIDATION: Param = (
    "fieldValidation",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
);
const FORCE: Param = (
    "force",
    "boolean",
    "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.",
);
const WRITE_PARAMS: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH_PARAMS: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
const DELETE_PARAMS: &[Param] = &[
    DRY_RUN,
    ("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
    ("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
    (
        "propagationPolicy",
        "string",
        "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
    ),
];

/// Adds the paths of one resource to `out`.
pub(super) fn resource_paths(rt: &ResourceType, flavor: Flavor, out: &mut Map<String, Value>) {
    let Some(kind_def) = definition_name(rt, &rt.kind) else { return };
    let list_def = definition_name(rt, &rt.list_kind);
    let has = |verb: &str| rt.verbs.iter().any(|v| v == verb);
    let prefix =
        if rt.group.is_empty() { format!("/api/{}", rt.version) } else { format!("/apis/{}/{}", rt.group, rt.version) };
    let scope = if rt.namespaced { "/namespaces/{namespace}" } else { "" };
    let collection = format!("{prefix}{scope}/{}", rt.plural);
    let item = format!("{collection}/{{name}}");
    let op = Op { rt, flavor, gvk: gvk(&rt.group, &rt.version, &rt.kind), suffix: "" };
    let ns_param = rt
        .namespaced
        .then(|| path_param("namespace", "object name and auth scope, such as for teams and projects", flavor));
    let name_param = path_param("name", &format!("name of the {}", rt.kind), flavor);

    // The collection.
    let mut ops = Map::new();
    if let (true, Some(list_def)) = (has("list"), &list_def) {
        ops.insert(
            "get".into(),
            op.build("list", &format!("list or watch objects of kind {}", rt.kind), LIST_PARAMS, None, list_def, &[]),
        );
    }
    if has("create") {
        ops.insert(
            "post".into(),
            op.build(
                "post",
                &format!("create a {}", rt.kind),
                WRITE_PARAMS,
                Some(Body::Object(&kind_def)),
                &kind_def,
                &["201", "202"],
            ),
        );
    }
    if has("deletecollection") {
        let params: Vec<Param> = LIST_PARAMS.iter().chain(DELETE_PARAMS).copied().collect();
        ops.insert(
            "delete".into(),
            op.build(
                "deletecollection",
                &format!("delete collection of {}", rt.kind),
                &params,
                Some(Body::Object(DELETE_OPTIONS)),
                STATUS,
                &[],
            ),
        );
    }
    if !ops.is_empty() {
        ops.insert("parameters".into(), Value::Array(ns_param.iter().cloned().collect()));
        out.insert(collection.clone(), Value::Object(ops));
    }

    // The item.
    let mut ops = Map::new();
    if has("get") {
        ops.insert(
            "get".into(),
            op.build("get", &format!("read the specified {}", rt.kind), &[], None, &kind_def, &[]),
        );
    }
    if has("update") {
        ops.insert(
            "put".into(),
            op.build(
                "put",
                &format!("replace the specified {}", rt.kind),
                WRITE_PARAMS,
                Some(Body::Object(&kind_def)),
                &kind_def,
                &["201"],
            ),
        );
    }
    if has("patch") {
        ops.insert(
            "patch".into(),
            op.build(
                "patch",
                &format!("partially update the specified {}", rt.kind),
                PATCH_PARAMS,
                Some(Body::Patch),
                &kind_def,
                &["201"],
            ),
        );
    }
    if has("delete") {
        ops.insert(
            "delete".into(),
            op.build(
                "delete",
                &format!("delete a {}", rt.kind),
                DELETE_PARAMS,
                Some(Body::Object(DELETE_OPTIONS)),
                STATUS,
                &["202"],
            ),
        );
    }
    if !ops.is_empty() {
        ops.insert("parameters".into(), Value::Array(ns_param.iter().cloned().chain([name_param.clone()]).collect()));
        out.insert(item.clone(), Value::Object(ops));
    }

    // Subresources with the object's own kind, and scale.
    let mut subresources: Vec<(&str, Op<'_>, String)> = Vec::new();
    if rt.status {
        subresources.push((
            "status",
            Op { rt, flavor, gvk: gvk(&rt.group, &rt.version, &rt.kind), suffix: "Status" },
            kind_def.clone(),
        ));
    }
    if rt.scale.is_some() {
        subresources.push((
            "scale",
            Op { rt, flavor, gvk: gvk("autoscaling", "v1", "Scale"), suffix: "Scale" },
            SCALE.to_owned(),
        ));
    }
    for (sub, sub_op, def) in subresources {
        let mut ops = Map::new();
        ops.insert(
            "get".into(),
            sub_op.build("get", &format!("read {sub} of the specified {}", rt.kind), &[], None, &def, &[]),
        );
        ops.insert(
            "put".into(),
            sub_op.build(
                "put",
                &format!("replace {sub} of the specified {}", rt.kind),
                WRITE_PARAMS,
                Some(Body::Object(&def)),
                &def,
                &["201"],
            ),
        );
        ops.insert(
            "patch".into(),
            sub_op.build(
                "patch",
                &format!("partially update {sub} of the specified {}", rt.kind),
                PATCH_PARAMS,
                Some(Body::Patch),
                &def,
                &["201"],
            ),
        );
        ops.insert("parameters".into(), Value::Array(ns_param.iter().cloned().chain([name_param.clone()]).collect()));
        out.insert(format!("{item}/{sub}"), Value::Object(ops));
    }

    // Lists across all namespaces.
    if let (true, Some(list_def)) = (rt.namespaced && has("list"), &list_def) {
        {
            let all = Op { rt, flavor, gvk: gvk(&rt.group, &rt.version, &rt.kind), suffix: "ForAllNamespaces" };
            let mut ops = Map::new();
            ops.insert(
                "get".into(),
                all.build(
                    "list",
                    &format!("list or watch objects of kind {}", rt.kind),
                    LIST_PARAMS,
                    None,
                    list_def,
                    &[],
                ),
            );
            ops.insert("parameters".into(), json!([]));
            out.insert(format!("{prefix}/{}", rt.plural), Value::Object(ops));
        }
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn path_param(name: &str, description: &str, flavor: Flavor) -> Value {
    match flavor {
        Flavor::V3 => {
            json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string", "uniqueItems": true}})
        }
        Flavor::V2 => {
            json!({"name": name, "in": "path", "required": true, "description": description, "type": "string", "uniqueItems": true})
        }
    }
}

fn query_param(p: &Param, flavor: Flavor) -> Value {
    let (name, ty, description) = *p;
    match flavor {
        Flavor::V3 => {
            json!({"name": name, "in": "query", "description": description, "schema": {"type": ty, "uniqueItems": true}})
        }
        Flavor::V2 => json!({"name": name, "in": "query", "description": description, "type": ty, "uniqueItems": true}),
    }
}

/// A request body.
enum Body<'a> {
    /// An object of this definition.
    Object(&'a str),
    /// A patch, in any of the patch content types the resource accepts.
    Patch,
}

/// Builds operations of one resource with one group-version-kind.
struct Op<'a> {
    rt: &'a ResourceType,
    flavor: Flavor,
    gvk: Value,
    /// Appended to operation ids so that they stay unique (`Status`).
    suffix: &'static str,
}

impl Op<'_> {
    fn build(
        &self,
        action: &str,
        description: &str,
        params: &[Param],
        body: Option<Body<'_>>,
        response: &str,
        extra_codes: &[&str],
    ) -> Value {
        let flavor = self.flavor;
        let reference = |def: &str| json!({"$ref": format!("{}{def}", flavor.ref_prefix())});
        let mut parameters: Vec<Value> = params.iter().map(|p| query_param(p, flavor)).collect();
        let mut op = Map::new();
        op.insert("description".into(), json!(description));
        op.insert("operationId".into(), json!(format!("{}{}", operation_id(self.rt, action), self.suffix)));
        op.insert("tags".into(), json!([tag(self.rt)]));
        let patch_types: Vec<&str> = {
            let mut t =
                vec!["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];
            if matches!(self.rt.schema, crate::registry::SchemaSource::Builtin) {
                t.push("application/strategic-merge-patch+json");
            }
            t
        };
        match (flavor, body) {
            (_, None) => {}
            (Flavor::V3, Some(Body::Object(def))) => {
                op.insert(
                    "requestBody".into(),
                    json!({"content": {"application/json": {"schema": reference(def)}}, "required": true}),
                );
            }
            (Flavor::V3, Some(Body::Patch)) => {
                let content: Map<String, Value> =
                    patch_types.iter().map(|t| ((*t).to_owned(), json!({"schema": reference(PATCH)}))).collect();
                op.insert("requestBody".into(), json!({"content": content, "required": true}));
            }
            (Flavor::V2, Some(b)) => {
                let def = match b {
                    Body::Object(def) => def,
                    Body::Patch => {
                        op.insert("consumes".into(), json!(patch_types));
                        PATCH
                    }
                };
                parameters.insert(0, json!({"name": "body", "in": "body", "required": true, "schema": reference(def)}));
            }
        }
        op.insert("parameters".into(), Value::Array(parameters));
        let mut responses = Map::new();
        for code in std::iter::once("200").chain(extra_codes.iter().copied()) {
            let text = match code {
                "201" => "Created",
                "202" => "Accepted",
                _ => "OK",
            };
            let response_value = match flavor {
                Flavor::V3 => {
                    json!({"description": text, "content": {"application/json": {"schema": reference(response)}}})
                }
                Flavor::V2 => json!({"description": text, "schema": reference(response)}),
            };
            responses.insert(code.to_owned(), response_value);
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        op.insert("responses".into(), Value::Object(responses));
        op.insert("x-kubernetes-action".into(), json!(action));
        op.insert("x-kubernetes-group-version-kind".into(), self.gvk.clone());
        Value::Object(op)
    }
}

/// `apps_v1`, `core_v1`, `example.com_v1`-like tags, as Kubernetes groups operations.
fn tag(rt: &ResourceType) -> String {
    let group = if rt.group.is_empty() { "core".to_owned() } else { rt.group.clone() };
    format!("{group}_{}", rt.version)
}

/// `patchAppsV1NamespacedDeployment`-like operation ids.
fn operation_id(rt: &ResourceType, action: &str) -> String {
    let verb = match action {
        "get" => "read",
        "post" => "create",
        "put" => "replace",
        "deletecollection" => "deleteCollection",
        other => other,
    };
    let group = if rt.group.is_empty() { "core".to_owned() } else { rt.group.clone() };
    let camel: String = group
        .split(['.', '-'])
        .chain(std::iter::once(rt.version.as_str()))
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect();
    let scope = if rt.namespaced { "Namespaced" } else { "" };
    format!("{verb}{camel}{scope}{}", rt.kind)
}
