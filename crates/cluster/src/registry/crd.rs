//! Resources registered by CustomResourceDefinitions.

use std::sync::Arc;

use patch::Schema;
use serde_json::Value;

use super::{PrinterColumn, Registry, RegistryError, ResourceType, ScaleSpec, SchemaSource};
use crate::selector::is_dns_subdomain;

/// Verbs of every custom resource.
const CRD_VERBS: &[&str] = &["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"];

impl Registry {
    /// A registry with the served versions of an `apiextensions.k8s.io/v1`
    /// CustomResourceDefinition added, replacing any earlier registration
    /// of the same CRD name.
    pub fn with_crd(&self, crd: &Value) -> Result<Registry, RegistryError> {
        let (name, storage_version, added) = crd_resources(crd)?;
        let mut resources: Vec<Arc<ResourceType>> =
            self.resources.iter().filter(|rt| rt.crd_name().as_deref() != Some(name.as_str())).cloned().collect();
        for rt in &added {
            let clash =
                resources.iter().find(|r| r.group == rt.group && r.version == rt.version && r.plural == rt.plural);
            if let Some(existing) = clash {
                let owner =
                    existing.crd_name().map_or_else(|| "a built-in resource".to_owned(), |c| format!("CRD {c:?}"));
                return Err(invalid(
                    &name,
                    "spec.names.plural",
                    &format!("{}/{} {} is already served by {owner}", rt.group, rt.version, rt.plural),
                ));
            }
        }
        resources.extend(added.into_iter().map(Arc::new));
        let mut storage_versions = self.storage_versions.clone();
        storage_versions.insert(name, storage_version);
        Ok(Registry::from_resources(resources, storage_versions))
    }

    /// A registry without the resources of the CRD named `crd_name`.
    pub fn without_crd(&self, crd_name: &str) -> Registry {
        let resources =
            self.resources.iter().filter(|rt| rt.crd_name().as_deref() != Some(crd_name)).cloned().collect();
        let mut storage_versions = self.storage_versions.clone();
        storage_versions.remove(crd_name);
        Registry::from_resources(resources, storage_versions)
    }
}

fn invalid(crd: &str, field: &str, message: &str) -> RegistryError {
    RegistryError::InvalidCrd { crd: crd.to_owned(), field: field.to_owned(), message: message.to_owned() }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A DNS-1035 label: lowercase alphanumerics and `-`, starting with a letter.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Parses and validates a CRD into its name, storage version, and one
/// resource per served version.
fn crd_resources(crd: &Value) -> Result<(String, String, Vec<ResourceType>), RegistryError> {
    let name = crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(invalid(name, "metadata.name", "Required value"));
    }
    let spec = crd.get("spec").ok_or_else(|| invalid(name, "spec", "Required value"))?;
    let group = str_field(spec, "group").ok_or_else(|| invalid(name, "spec.group", "Required value"))?;
    if !group.contains('.') || !is_dns_subdomain(group) {
        return Err(invalid(
            name,
            "spec.group",
            &format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    let names = spec.get("names").ok_or_else(|| invalid(name, "spec.names", "Required value"))?;
    let plural = str_field(names, "plural").ok_or_else(|| invalid(name, "spec.names.plural", "Required value"))?;
    if !is_dns_label(plural) {
        return Err(invalid(
            name,
            "spec.names.plural",
            &format!("Invalid value: {plural:?}: must be a lowercase DNS-1035 label"),
        ));
    }
    let kind = str_field(names, "kind").ok_or_else(|| invalid(name, "spec.names.kind", "Required value"))?;
    let singular = str_field(names, "singular").map_or_else(|| kind.to_lowercase(), str::to_owned);
    if !is_dns_label(&singular) {
        return Err(invalid(
            name,
            "spec.names.singular",
            &format!("Invalid value: {singular:?}: must be a lowercase DNS-1035 label"),
        ));
    }
    let list_kind = str_field(names, "listKind").map_or_else(|| format!("{kind}List"), str::to_owned);
    let short_names = string_list(names.get("shortNames"));
    let categories = string_list(names.get("categories"));
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            name,
            "metadata.name",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        Some(other) => {
            return Err(invalid(
                name,
                "spec.scope",
                &format!("Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""),
            ));
        }
        None => return Err(invalid(name, "spec.scope", "Required value")),
    };
    let versions = spec.get("versions").and_then(Value::as_array).filter(|v| !v.is_empty());
    let versions = versions.ok_or_else(|| {
        invalid(name, "spec.versions", "Required value: must have exactly one version marked as storage version")
    })?;
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| str_field(v, "name"))
        .collect();
    let [storage_version] = storage.as_slice() else {
        return Err(invalid(
            name,
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    };
    if !versions.iter().any(|v| v.get("served").and_then(Value::as_bool) == Some(true)) {
        return Err(invalid(name, "spec.versions", "Invalid value: must have at least one served version"));
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let field = |f: &str| format!("spec.versions[{i}].{f}");
        let version = str_field(v, "name").ok_or_else(|| invalid(name, &field("name"), "Required value"))?;
        if !is_dns_label(version) {
            return Err(invalid(
                name,
                &field("name"),
                &format!("Invalid value: {version:?}: must be a DNS-1035 label"),
            ));
        }
        if seen.contains(&version) {
            return Err(invalid(name, &field("name"), &format!("Duplicate value: {version:?}")));
        }
        seen.push(version);
        let schema = v.pointer("/schema/openAPIV3Schema").filter(|s| s.is_object());
        let Some(schema) = schema else {
            return Err(invalid(name, &field("schema.openAPIV3Schema"), "Required value: schemas are required"));
        };
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let subresources = v.get("subresources");
        let status = subresources.and_then(|s| s.get("status")).is_some_and(Value::is_object);
        let scale = match subresources.and_then(|s| s.get("scale")).filter(|s| !s.is_null()) {
            None => None,
            Some(scale) => Some(ScaleSpec {
                spec_replicas_path: str_field(scale, "specReplicasPath")
                    .ok_or_else(|| invalid(name, &field("subresources.scale.specReplicasPath"), "Required value"))?
                    .to_owned(),
                status_replicas_path: str_field(scale, "statusReplicasPath")
                    .ok_or_else(|| invalid(name, &field("subresources.scale.statusReplicasPath"), "Required value"))?
                    .to_owned(),
                label_selector_path: str_field(scale, "labelSelectorPath").map(str::to_owned),
            }),
        };
        let printer_columns = printer_columns(v);
        out.push(ResourceType {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            list_kind: list_kind.clone(),
            plural: plural.to_owned(),
            singular: singular.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            verbs: CRD_VERBS.iter().map(|s| (*s).to_owned()).collect(),
            status,
            scale,
            other_subresources: Vec::new(),
            schema: SchemaSource::Crd(Arc::new(Schema::from_crd(schema))),
            printer_columns,
        });
    }
    Ok((name.to_owned(), (*storage_version).to_owned(), out))
}

/// The version's `additionalPrinterColumns`, or Kubernetes' default AGE.
fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    let columns: Vec<PrinterColumn> = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some(PrinterColumn {
                        name: str_field(c, "name")?.to_owned(),
                        type_: str_field(c, "type").unwrap_or("string").to_owned(),
                        json_path: str_field(c, "jsonPath")?.to_owned(),
                        priority: c
                            .get("priority")
                            .and_then(Value::as_i64)
                            .and_then(|p| i32::try_from(p).ok())
                            .unwrap_or(0),
                        description: str_field(c, "description").unwrap_or_default().to_owned(),
                        format: str_field(c, "format").unwrap_or_default().to_owned(),
                        computed: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !columns.is_empty() {
        return columns;
    }
    vec![PrinterColumn {
        name: "Age".to_owned(),
        type_: "date".to_owned(),
        json_path: ".metadata.creationTimestamp".to_owned(),
        priority: 0,
        description: "CreationTimestamp is a timestamp representing the server time when this object was created."
            .to_owned(),
        format: String::new(),
        computed: None,
    }]
}
