//! Typed views over OpenAPI schemas: what the merge algorithms need to know
//! about a position in an object (its shape, list semantics, merge keys).
//!
//! Two sources of schemas exist:
//! - the vendored definitions of Kubernetes 1.33 built-in types
//!   ([`Schema::builtin`]), keyed by group/version/kind;
//! - a CustomResourceDefinition version's `openAPIV3Schema`
//!   ([`Schema::from_crd`]), whose `metadata` falls back to the built-in
//!   `ObjectMeta` the way the API server treats it.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

const BUILTIN_JSON: &str = include_str!("../schema/kubernetes-1.33.json");
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, for example `v1`.
    pub version: String,
    /// Kind, for example `Deployment`.
    pub kind: String,
}

impl Gvk {
    /// Builds a Gvk from its parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk { group: group.to_owned(), version: version.to_owned(), kind: kind.to_owned() }
    }
}

/// Errors building a schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The definitions document is not an object of named schemas.
    #[error("schema definitions are malformed: {0}")]
    Malformed(String),
}

/// A set of named OpenAPI definitions, plus optionally an anonymous root
/// (for a CRD's `openAPIV3Schema`).
#[derive(Debug, Clone)]
pub struct Schema {
    defs: Map<String, Value>,
    roots: HashMap<Gvk, String>,
    /// For CRD schemas: the root schema itself.
    anonymous_root: Option<Value>,
}

/// How a list merges (server-side apply semantics, `x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// The whole list is one value, replaced as a unit.
    Atomic,
    /// A list of unique scalars.
    Set,
    /// A list of objects identified by the values of these keys.
    Map {
        /// The key fields, in order.
        keys: Vec<String>,
    },
}

/// How a map (object) merges (`x-kubernetes-map-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// Each field merges on its own (the default).
    Granular,
    /// The whole map is one value.
    Atomic,
}

/// Strategic-merge-patch directives for a list or map field
/// (`x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchStrategy {
    /// The list elements are merged by this key (strategy `merge` on a list of objects).
    pub merge_key: Option<String>,
    /// The strategy includes `merge`: lists merge instead of being replaced.
    pub merge: bool,
    /// The strategy includes `retainKeys`.
    pub retain_keys: bool,
    /// The strategy is `replace`.
    pub replace: bool,
}

/// The JSON shape a schema position describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An object with known properties.
    Object,
    /// An object whose values all share one schema (`additionalProperties`).
    Map,
    /// An array.
    List,
    /// A string, number, integer or boolean (including int-or-string and quantities).
    Scalar,
    /// Anything: no schema, or `x-kubernetes-preserve-unknown-fields` without properties.
    Any,
}

/// A position in a [`Schema`]: the type of one field, list item or map value.
#[derive(Debug, Clone, Copy)]
pub struct TypeRef<'a> {
    schema: &'a Schema,
    node: &'a Value,
    /// True at the root of a CRD schema, where `metadata` is ObjectMeta.
    crd_root: bool,
}

static BUILTIN: OnceLock<Schema> = OnceLock::new();

impl Schema {
    /// The built-in Kubernetes 1.33 types.
    pub fn builtin() -> &'static Schema {
        BUILTIN.get_or_init(|| {
            // The vendored file is checked by this crate's tests; an unreadable
            // file would be a build defect, so fall back to an empty schema
            // rather than panic.
            let doc: Value = serde_json::from_str(BUILTIN_JSON).unwrap_or(Value::Null);
            Schema::from_definitions(doc.get("$defs").cloned().unwrap_or(Value::Null)).unwrap_or_else(|_| Schema {
                defs: Map::new(),
                roots: HashMap::new(),
                anonymous_root: None,
            })
        })
    }

    /// Builds a schema from an object of named definitions whose references
    /// look like `#/$defs/NAME` or `#/definitions/NAME` or `#/components/schemas/NAME`.
    pub fn from_definitions(defs: Value) -> Result<Schema, SchemaError> {
        let Value::Object(defs) = defs else {
            return Err(SchemaError::Malformed("expected an object of definitions".into()));
        };
        let mut roots = HashMap::new();
        for (name, def) in &defs {
            if let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") {
                for gvk in gvks {
                    let field = |f: &str| gvk.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
                    let gvk = Gvk { group: field("group"), version: field("version"), kind: field("kind") };
                    // Several definitions may claim the same GVK (for example
                    // DeleteOptions); keep the first, which is stable.
                    roots.entry(gvk).or_insert_with(|| name.clone());
                }
            }
        }
        Ok(Schema { defs, roots, anonymous_root: None })
    }

    /// A schema for one version of a CustomResourceDefinition, from its
    /// `openAPIV3Schema`. References to built-in types (ObjectMeta) resolve
    /// against the built-in schema.
    pub fn from_crd(open_api_v3_schema: &Value) -> Schema {
        Schema {
            defs: Schema::builtin().defs.clone(),
            roots: HashMap::new(),
            anonymous_root: Some(open_api_v3_schema.clone()),
        }
    }

    /// The named definitions, for publishing OpenAPI documents.
    pub fn definitions(&self) -> &Map<String, Value> {
        &self.defs
    }

    /// The definition name of a kind, for example `io.k8s.api.apps.v1.Deployment`.
    pub fn definition_name(&self, gvk: &Gvk) -> Option<&str> {
        self.roots.get(gvk).map(String::as_str)
    }

    /// Every kind this schema knows, with its definition name.
    pub fn kinds(&self) -> impl Iterator<Item = (&Gvk, &str)> {
        self.roots.iter().map(|(g, n)| (g, n.as_str()))
    }

    /// The type of a whole object of this kind.
    pub fn root(&self, gvk: &Gvk) -> Option<TypeRef<'_>> {
        let name = self.roots.get(gvk)?;
        let node = self.defs.get(name)?;
        Some(TypeRef { schema: self, node, crd_root: false })
    }

    /// The type of a named definition.
    pub fn definition(&self, name: &str) -> Option<TypeRef<'_>> {
        let node = self.defs.get(name)?;
        Some(TypeRef { schema: self, node, crd_root: false })
    }

    /// For a schema built by [`Schema::from_crd`]: the type of the whole object.
    pub fn crd_root(&self) -> Option<TypeRef<'_>> {
        self.anonymous_root.as_ref().map(|node| TypeRef { schema: self, node, crd_root: true })
    }

    fn resolve<'a>(&'a self, mut node: &'a Value) -> &'a Value {
        // Follow $ref chains (bounded, in case of a cycle of pure references).
        for _ in 0..16 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else { break };
            let name = r.rsplit('/').next().unwrap_or(r);
            match self.defs.get(name) {
                Some(next) => node = next,
                None => break,
            }
        }
        // `allOf: [ {$ref} ]` is how some generators wrap a reference.
        if let Some(Value::Array(all)) = node.get("allOf")
            && all.len() == 1
            && node.get("properties").is_none()
        {
            return self.resolve(&all[0]);
        }
        node
    }
}

fn has_type(node: &Value, ty: &str) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(ty)),
        _ => false,
    }
}

impl<'a> TypeRef<'a> {
    fn at(&self, node: &'a Value) -> TypeRef<'a> {
        TypeRef { schema: self.schema, node: self.schema.resolve(node), crd_root: false }
    }

    fn node(&self) -> &'a Value {
        self.schema.resolve(self.node)
    }

    /// The raw schema node (after resolving references).
    pub fn raw(&self) -> &'a Value {
        self.node()
    }

    /// The JSON shape of this position.
    pub fn shape(&self) -> Shape {
        let n = self.node();
        if n.get("x-kubernetes-int-or-string").is_some() || n.get("oneOf").is_some() || n.get("anyOf").is_some() {
            return Shape::Scalar;
        }
        if has_type(n, "array") || n.get("items").is_some() {
            return Shape::List;
        }
        if n.get("properties").is_some() {
            return Shape::Object;
        }
        if let Some(ap) = n.get("additionalProperties")
            && ap.is_object()
        {
            return Shape::Map;
        }
        if has_type(n, "object") {
            return Shape::Any;
        }
        if ["string", "integer", "number", "boolean"].iter().any(|t| has_type(n, t)) {
            return Shape::Scalar;
        }
        Shape::Any
    }

    /// The type of field `name` of this object: a declared property, or the
    /// value type of a map. `None` when the schema says nothing about it.
    pub fn field(&self, name: &str) -> Option<TypeRef<'a>> {
        if self.crd_root && name == "metadata" {
            return self.schema.definition(OBJECT_META);
        }
        let n = self.node();
        if let Some(p) = n.get("properties").and_then(|p| p.get(name)) {
            return Some(self.at(p));
        }
        match n.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => Some(self.at(ap)),
            _ => None,
        }
    }

    /// The declared property names of this object (empty for maps and scalars).
    pub fn properties(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.node().get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.keys().map(String::as_str))
    }

    /// True when this object accepts fields its schema does not declare
    /// (maps, `x-kubernetes-preserve-unknown-fields`, or schema-less objects).
    pub fn accepts_unknown_fields(&self) -> bool {
        let n = self.node();
        if n.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        match self.shape() {
            Shape::Object => matches!(n.get("additionalProperties"), Some(Value::Object(_)) | Some(Value::Bool(true))),
            Shape::Map | Shape::Any => true,
            Shape::List | Shape::Scalar => false,
        }
    }

    /// The type of the items of this list.
    pub fn items(&self) -> Option<TypeRef<'a>> {
        self.node().get("items").map(|i| self.at(i))
    }

    /// List semantics for server-side apply. Falls back to the strategic
    /// merge key when no `x-kubernetes-list-type` is given, and to atomic.
    pub fn list_type(&self) -> ListType {
        let n = self.node();
        match n.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => {
                let keys: Vec<String> = n
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|ks| ks.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if keys.is_empty() { ListType::Atomic } else { ListType::Map { keys } }
            }
            Some(_) => ListType::Atomic,
            None => match n.get("x-kubernetes-patch-merge-key").and_then(Value::as_str) {
                Some(key) => ListType::Map { keys: vec![key.to_owned()] },
                None => ListType::Atomic,
            },
        }
    }

    /// Map semantics for server-side apply.
    pub fn map_type(&self) -> MapType {
        match self.node().get("x-kubernetes-map-type").and_then(Value::as_str) {
            Some("atomic") => MapType::Atomic,
            _ => MapType::Granular,
        }
    }

    /// Strategic-merge-patch directives for this field.
    pub fn patch_strategy(&self) -> PatchStrategy {
        let n = self.node();
        let strategy = n.get("x-kubernetes-patch-strategy").and_then(Value::as_str).unwrap_or("");
        let parts: Vec<&str> = strategy.split(',').map(str::trim).collect();
        PatchStrategy {
            merge_key: n.get("x-kubernetes-patch-merge-key").and_then(Value::as_str).map(str::to_owned),
            merge: parts.contains(&"merge"),
            retain_keys: parts.contains(&"retainKeys"),
            replace: parts.contains(&"replace"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> TypeRef<'static> {
        Schema::builtin().root(&Gvk::new("apps", "v1", "Deployment")).expect("deployment")
    }

    #[test]
    fn containers_merge_by_name() {
        let containers = deployment()
            .field("spec")
            .and_then(|s| s.field("template"))
            .and_then(|t| t.field("spec"))
            .and_then(|s| s.field("containers"))
            .expect("containers");
        assert_eq!(containers.shape(), Shape::List);
        assert_eq!(containers.list_type(), ListType::Map { keys: vec!["name".into()] });
        let ps = containers.patch_strategy();
        assert_eq!(ps.merge_key.as_deref(), Some("name"));
        assert!(ps.merge);
        assert_eq!(containers.items().map(|i| i.shape()), Some(Shape::Object));
    }

    #[test]
    fn metadata_lists() {
        let meta = deployment().field("metadata").expect("metadata");
        assert_eq!(meta.field("finalizers").map(|f| f.list_type()), Some(ListType::Set));
        assert_eq!(
            meta.field("ownerReferences").map(|f| f.list_type()),
            Some(ListType::Map { keys: vec!["uid".into()] })
        );
        let labels = meta.field("labels").expect("labels");
        assert_eq!(labels.shape(), Shape::Map);
        assert_eq!(labels.field("app").map(|v| v.shape()), Some(Shape::Scalar));
    }

    #[test]
    fn int_or_string_and_quantity_are_scalars() {
        let port = Schema::builtin()
            .root(&Gvk::new("", "v1", "Service"))
            .and_then(|s| s.field("spec"))
            .and_then(|s| s.field("ports"))
            .and_then(|p| p.items())
            .and_then(|p| p.field("targetPort"))
            .expect("targetPort");
        assert_eq!(port.shape(), Shape::Scalar);
    }

    #[test]
    fn crd_root_metadata_is_object_meta() {
        let schema = Schema::from_crd(&serde_json::json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}
        }));
        let root = schema.crd_root().expect("root");
        assert_eq!(root.field("metadata").and_then(|m| m.field("labels")).map(|l| l.shape()), Some(Shape::Map));
        assert_eq!(root.field("spec").and_then(|s| s.field("size")).map(|s| s.shape()), Some(Shape::Scalar));
        assert!(root.field("spec").and_then(|s| s.field("other")).is_none());
    }

    #[test]
    fn all_groups_are_present() {
        for (g, v, k) in [
            ("", "v1", "ConfigMap"),
            ("apps", "v1", "StatefulSet"),
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            ("apiregistration.k8s.io", "v1", "APIService"),
            ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            ("discovery.k8s.io", "v1", "EndpointSlice"),
        ] {
            assert!(Schema::builtin().root(&Gvk::new(g, v, k)).is_some(), "{g}/{v} {k}");
        }
    }
}
