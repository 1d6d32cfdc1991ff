//! The `/openapi/v2` and `/openapi/v3` documents.
//!
//! kubectl's default validation reads `/openapi/v3`, then the document of
//! the object's group version, and looks for a PATCH operation carrying the
//! object's `x-kubernetes-group-version-kind` and a `fieldValidation` query
//! parameter; finding one, it leaves validation to the server. Client-side
//! apply also reads `components.schemas` (patch strategies and merge keys)
//! to compute strategic merge patches.
//!
//! The schemas come from the vendored Kubernetes 1.33 definitions
//! (JSON Schema under `$defs`), converted: references point at
//! `#/components/schemas/` (v3) or `#/definitions/` (v2), nullable types
//! `[T, "null"]` become `T`, and `x-kubernetes-*` extensions and
//! descriptions are kept. A group-version document holds only the
//! definitions its operations reference, transitively.
//!
//! The documents are pure functions of the registry: callers may cache them
//! per registry (the registry is replaced whenever CRDs change).
//!
//! `/openapi/v2` is served as JSON, or as gnostic's protobuf
//! `openapi.v2.Document` (`openapi/v2proto.rs`) when asked: kubectl validates `kind: List`
//! files against it.
//!
//! Deliberate differences from Kubernetes: no watch paths (`/watch/...`) and
//! no paths for non-resource endpoints are listed.

use std::collections::{BTreeSet, HashSet};
use std::hash::{Hash, Hasher};

use patch::{Gvk, Schema};
use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType, SchemaSource};

mod paths;
pub(crate) mod v2proto;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const KUBERNETES_VERSION: &str = "v1.33.0";

/// Which OpenAPI flavour a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Swagger 2.0 (`/openapi/v2`).
    V2,
    /// OpenAPI 3.0 (`/openapi/v3/...`).
    V3,
}

impl Flavor {
    fn ref_prefix(self) -> &'static str {
        match self {
            Flavor::V2 => "#/definitions/",
            Flavor::V3 => "#/components/schemas/",
        }
    }
}

/// The `/openapi/v3` discovery index: one entry per served group version,
/// with a `hash` that changes when the document's content does.
pub fn openapi_v3_index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, version) in registry.group_versions() {
        let path = index_path(&group, &version);
        let hash = group_version_hash(registry, &group, &version);
        paths.insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}));
    }
    json!({"paths": paths})
}

/// `api/v1` or `apis/<group>/<version>`.
fn index_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// A content hash of a group version's document, computed from what the
/// document is generated from (cheaper than generating it).
pub fn group_version_hash(registry: &Registry, group: &str, version: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    group.hash(&mut h);
    version.hash(&mut h);
    for rt in registry.resources_in(group, version) {
        (&rt.kind, &rt.list_kind, &rt.plural, rt.namespaced, rt.status, rt.scale.is_some()).hash(&mut h);
        rt.verbs.hash(&mut h);
        if let Some(root) = match &rt.schema {
            SchemaSource::Crd(schema) => schema.crd_root(),
            SchemaSource::Builtin | SchemaSource::None => None,
        } {
            root.raw().to_string().hash(&mut h);
        }
    }
    format!("{:016X}", h.finish())
}

/// The OpenAPI 3.0 document of one group version (`/openapi/v3/api/v1`,
/// `/openapi/v3/apis/<group>/<version>`), if it is served.
pub fn openapi_v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&std::sync::Arc<ResourceType>> = registry.resources_in(group, version).collect();
    if resources.is_empty() {
        return None;
    }
    let mut path_map = Map::new();
    for rt in &resources {
        paths::resource_paths(rt, Flavor::V3, &mut path_map);
    }
    let mut schemas = Map::new();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    collect_refs(&Value::Object(path_map.clone()), Flavor::V3, &mut roots);
    for rt in &resources {
        if let SchemaSource::Crd(schema) = &rt.schema {
            for (name, def) in crd_definitions(rt, schema, Flavor::V3) {
                collect_refs(&def, Flavor::V3, &mut roots);
                schemas.insert(name, def);
            }
        }
    }
    for name in transitive_builtin(roots) {
        if schemas.contains_key(&name) {
            continue;
        }
        if let Some(def) = Schema::builtin().definitions().get(&name) {
            schemas.insert(name.clone(), convert_definition(&name, def, Flavor::V3));
        }
    }
    sort_map(&mut schemas);
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": path_map,
        "components": {"schemas": schemas},
    }))
}

/// The Swagger 2.0 document of every served resource (`/openapi/v2`), with
/// every built-in definition, as JSON (see `openapi/v2proto.rs` for protobuf).
pub fn openapi_v2(registry: &Registry) -> Value {
    let mut path_map = Map::new();
    let mut definitions = Map::new();
    for (name, def) in Schema::builtin().definitions() {
        definitions.insert(name.clone(), convert_definition(name, def, Flavor::V2));
    }
    for rt in registry.resources() {
        paths::resource_paths(rt, Flavor::V2, &mut path_map);
        if let SchemaSource::Crd(schema) = &rt.schema {
            for (name, def) in crd_definitions(rt, schema, Flavor::V2) {
                definitions.insert(name, def);
            }
        }
    }
    sort_map(&mut definitions);
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": path_map,
        "definitions": definitions,
    })
}

fn sort_map(map: &mut Map<String, Value>) {
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    map.extend(entries);
}

/// The definition name of a kind's schema, for references from paths.
pub(crate) fn definition_name(rt: &ResourceType, kind: &str) -> Option<String> {
    match &rt.schema {
        SchemaSource::Crd(_) => Some(crd_definition_name(&rt.group, &rt.version, kind)),
        SchemaSource::Builtin => {
            Schema::builtin().definition_name(&Gvk::new(&rt.group, &rt.version, kind)).map(str::to_owned)
        }
        SchemaSource::None => None,
    }
}

/// `com.example.v1.Widget` for `example.com/v1` `Widget`, as Kubernetes
/// names CRD definitions.
fn crd_definition_name(group: &str, version: &str, kind: &str) -> String {
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// The definitions of a CRD version: the kind (its `openAPIV3Schema` with
/// standard `apiVersion`, `kind` and `metadata`) and its list kind.
fn crd_definitions(rt: &ResourceType, schema: &Schema, flavor: Flavor) -> Vec<(String, Value)> {
    let prefix = flavor.ref_prefix();
    let gvk = |kind: &str| json!([{"group": rt.group, "version": rt.version, "kind": kind}]);
    let mut root = schema.crd_root().map(|r| r.raw().clone()).unwrap_or_else(|| json!({"type": "object"}));
    if let Value::Object(obj) = &mut root {
        obj.entry("type").or_insert(json!("object"));
        let properties = obj.entry("properties").or_insert_with(|| json!({}));
        if let Value::Object(props) = properties {
            props.insert(
                "apiVersion".into(),
                json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
            );
            props.insert(
                "kind".into(),
                json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
            );
            props.insert("metadata".into(), json!({"$ref": format!("{prefix}{OBJECT_META}")}));
        }
        obj.insert("x-kubernetes-group-version-kind".into(), gvk(&rt.kind));
    }
    let name = crd_definition_name(&rt.group, &rt.version, &rt.kind);
    let list = json!({
        "description": format!("{} is a list of {}", rt.list_kind, rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "items": {"type": "array", "items": {"$ref": format!("{prefix}{name}")}},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"$ref": format!("{prefix}{LIST_META}")},
        },
        "x-kubernetes-group-version-kind": gvk(&rt.list_kind),
    });
    vec![(name, root), (crd_definition_name(&rt.group, &rt.version, &rt.list_kind), list)]
}

/// Adds the definition names referenced anywhere in `v` to `out`.
fn collect_refs(v: &Value, flavor: Flavor, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref" {
                    if let Some(name) = x.as_str().and_then(|r| r.strip_prefix(flavor.ref_prefix())) {
                        out.insert(name.to_owned());
                    }
                } else {
                    collect_refs(x, flavor, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, flavor, out)),
        _ => {}
    }
}

/// The built-in definitions reachable from `roots`, roots included.
fn transitive_builtin(roots: BTreeSet<String>) -> Vec<String> {
    let defs = Schema::builtin().definitions();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = roots.into_iter().collect();
    let mut out = Vec::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(def) = defs.get(&name) else { continue };
        out.push(name);
        let mut refs = BTreeSet::new();
        collect_vendored_refs(def, &mut refs);
        queue.extend(refs.into_iter().filter(|r| !seen.contains(r)));
    }
    out
}

fn collect_vendored_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "$ref" {
                    if let Some(r) = x.as_str() {
                        out.insert(r.rsplit('/').next().unwrap_or(r).to_owned());
                    }
                } else {
                    collect_vendored_refs(x, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_vendored_refs(x, out)),
        _ => {}
    }
}

/// Converts one vendored JSON-Schema definition to OpenAPI.
pub(crate) fn convert_definition(name: &str, def: &Value, flavor: Flavor) -> Value {
    let description = def.get("description").cloned();
    let special = match (name, flavor) {
        (INT_OR_STRING, Flavor::V2) => Some(json!({"type": "string", "format": "int-or-string"})),
        (INT_OR_STRING, Flavor::V3) => {
            Some(json!({"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}))
        }
        (QUANTITY, Flavor::V2) => Some(json!({"type": "string"})),
        (QUANTITY, Flavor::V3) => Some(json!({"oneOf": [{"type": "string"}, {"type": "number"}]})),
        _ => None,
    };
    if let Some(mut s) = special {
        if let (Some(d), Value::Object(o)) = (description, &mut s) {
            o.insert("description".into(), d);
        }
        return s;
    }
    let mut out = convert(def, flavor);
    // The vendored kinds pin `apiVersion` and `kind` with an enum; Kubernetes
    // does not publish those.
    if def.get("x-kubernetes-group-version-kind").is_some() {
        for field in ["apiVersion", "kind"] {
            if let Some(Value::Object(p)) = out.pointer_mut(&format!("/properties/{field}")) {
                p.remove("enum");
            }
        }
    }
    out
}

/// Rewrites references and nullable types, recursively.
fn convert(v: &Value, flavor: Flavor) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, x) in map {
                let converted = match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        let name = r.rsplit('/').next().unwrap_or(r);
                        Value::String(format!("{}{name}", flavor.ref_prefix()))
                    }
                    ("type", Value::Array(types)) => {
                        let non_null: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
                        match non_null.as_slice() {
                            [one] => (*one).clone(),
                            [] => continue,
                            _ => Value::Array(non_null.into_iter().cloned().collect()),
                        }
                    }
                    _ => convert(x, flavor),
                };
                out.insert(k.clone(), converted);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|x| convert(x, flavor)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
