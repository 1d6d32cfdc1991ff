//! Object metadata rules: names, timestamps, schemas, and the parts of an
//! object that clients may not change.

use patch::{Gvk, Schema, TypeRef};
use serde_json::{Map, Value};

use super::{ApiError, Cause, Reason};
use crate::registry::{ResourceType, SchemaSource};
use crate::store::ObjectKey;

/// The largest object accepted, as in Kubernetes (etcd's request limit).
pub const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024;

/// Now, as Kubernetes formats timestamps (RFC 3339, seconds).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The storage key of an object.
pub fn key(rt: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        resource: rt.storage_resource(),
        namespace: if rt.namespaced { namespace.to_owned() } else { String::new() },
        name: name.to_owned(),
    }
}

/// The schema of a resource's objects, if any.
pub fn type_of(rt: &ResourceType) -> Option<TypeRef<'_>> {
    match &rt.schema {
        SchemaSource::Builtin => Schema::builtin().root(&Gvk::new(&rt.group, &rt.version, &rt.kind)),
        SchemaSource::Crd(schema) => schema.crd_root(),
        SchemaSource::None => None,
    }
}

/// `metadata` of an object, created if missing.
pub fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let obj = object.as_object_mut()?;
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
}

/// A string field of `metadata`.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// The finalizers of an object.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The resourceVersion of a stored object's JSON.
pub fn parse_rv(rv: &str) -> Option<u64> {
    rv.parse().ok()
}

/// What kind of name a resource's objects must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameRule {
    /// RFC 1123 label: namespaces, services.
    Label,
    /// RFC 1123 subdomain: most resources.
    Subdomain,
    /// Any path segment: RBAC objects and custom resources.
    PathSegment,
}

fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") | ("", "services") => NameRule::Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ if matches!(rt.schema, SchemaSource::Crd(_) | SchemaSource::None) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Checks a name against the resource's naming rule; the error messages
/// follow Kubernetes' wording.
pub fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let message = match name_rule(rt) {
        NameRule::Label if !is_label(name) => Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc')",
        ),
        NameRule::Subdomain if !crate::selector::is_dns_subdomain(name) => Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        ),
        NameRule::PathSegment
            if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('%') =>
        {
            Some("may not be '.' or '..' and may not contain '/' or '%'")
        }
        _ => None,
    };
    match message {
        None => Ok(()),
        Some(m) => Err(ApiError::invalid(
            rt,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{name}\": {m}"),
                field: "metadata.name".into(),
            }],
        )),
    }
}

/// The object's content apart from metadata and status: a change here bumps
/// `metadata.generation`.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
        m
    };
    strip(old) != strip(new)
}

/// Equal apart from managedFields timestamps and resourceVersion: a write
/// that changes nothing is not persisted (no new resourceVersion, no event),
/// as in Kubernetes.
pub fn same_content(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            if let Some(Value::Array(entries)) = m.get_mut("managedFields") {
                for e in entries {
                    if let Some(e) = e.as_object_mut() {
                        e.remove("time");
                    }
                }
            }
        }
        v
    };
    strip(old) == strip(new)
}

/// Checks the object's `apiVersion` and `kind` against the resource
/// addressed, filling them in when absent.
pub fn check_type(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(obj) = object.as_object_mut() else {
        return Err(ApiError::bad_request("the request body must be a JSON or YAML object"));
    };
    let api_version = rt.api_version();
    match obj.get("kind").and_then(Value::as_str) {
        Some(k) if k != rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the kind of the resource ({})",
                rt.kind
            )));
        }
        Some(_) => {}
        None => {
            obj.insert("kind".into(), Value::String(rt.kind.clone()));
        }
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => {
            // Another served version of the same group is fine: versions
            // share storage without conversion (a documented difference).
            let group_of = |v: &str| v.rsplit_once('/').map(|(g, _)| g.to_owned()).unwrap_or_default();
            if group_of(v) != rt.group {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({api_version})"
                )));
            }
            obj.insert("apiVersion".into(), Value::String(api_version));
        }
        Some(_) => {}
        None => {
            obj.insert("apiVersion".into(), Value::String(api_version));
        }
    }
    if let Some(m) = obj.get("metadata")
        && !m.is_object()
        && !m.is_null()
    {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// A random lowercase alphanumeric suffix, as generateName uses.
pub fn random_suffix(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// An error for a malformed field of a request object.
pub fn invalid_field(rt: &ResourceType, name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(rt, name, vec![Cause { reason: "FieldValueInvalid".into(), message, field: field.into() }])
}

/// A precondition failure on delete.
pub fn precondition_failed(rt: &ResourceType, name: &str, what: &str, expected: &str, actual: &str) -> ApiError {
    let mut e = ApiError::stale(rt, name);
    e.reason = Reason::Conflict;
    e.message = format!(
        "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: {what} in precondition: {expected}, {what} in object meta: {actual}",
        super::qualified(rt)
    );
    e
}

/// Whether objects of this resource carry `metadata.generation`: kinds with
/// a spec (and every custom resource), not data-only kinds like ConfigMaps.
pub fn has_generation(rt: &ResourceType) -> bool {
    match &rt.schema {
        SchemaSource::Builtin => type_of(rt).is_some_and(|t| t.field("spec").is_some()),
        SchemaSource::Crd(_) | SchemaSource::None => true,
    }
}
