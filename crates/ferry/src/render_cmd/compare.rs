//! The hydrated diff between two renders of one app: per resource, a
//! unified diff of the normalised YAML, with Secret values masked by the
//! `diff` crate (the same masking `ferry app diff` shows).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use diff::DiffOptions;
use patch::fields::FieldSet;
use patch::{Gvk, Schema};
use serde_json::{Value, json};

/// What the two sides are called in the diff headers.
pub(super) struct Labels<'a> {
    /// The base (`--diff-against REV`).
    pub old: &'a str,
    /// What is compared with it (the working tree, or `--revision`).
    pub new: &'a str,
}

/// Resources are matched by group, kind, namespace and name (not version:
/// moving an object to a newer API version is a change of that object).
type Key = (String, String, String, String);

/// The unified diff from `old` to `new`, resources in key order, empty when
/// they render the same.
pub(super) fn hydrated_diff(old: &[Value], new: &[Value], labels: &Labels<'_>) -> String {
    let mut sides: BTreeMap<Key, (Vec<&Value>, Vec<&Value>)> = BTreeMap::new();
    for object in old {
        sides.entry(key(object)).or_default().0.push(object);
    }
    for object in new {
        sides.entry(key(object)).or_default().1.push(object);
    }
    let options = DiffOptions::default();
    let mut out = String::new();
    for (key, (olds, news)) in &sides {
        let id = display(key);
        // A key rendered twice (a broken app) pairs its copies in order.
        for i in 0..olds.len().max(news.len()) {
            match (olds.get(i), news.get(i)) {
                (Some(before), Some(after)) => {
                    let result = diff::diff(after, Some(&owned_by_ferry(before)), &options);
                    if !result.synced {
                        let _ = writeln!(out, "--- {id} ({})\n+++ {id} ({})", labels.old, labels.new);
                        // Our own header replaces the diff crate's live/desired one.
                        let body = result.diff.split_once("\n+++ ").and_then(|(_, rest)| rest.split_once('\n'));
                        out.push_str(body.map_or(result.diff.as_str(), |(_, hunks)| hunks));
                    }
                }
                (None, Some(added)) => {
                    let yaml = diff::diff(added, None, &options).desired_yaml;
                    let _ = writeln!(out, "--- /dev/null\n+++ {id} ({})", labels.new);
                    whole(&mut out, &yaml, Whole::Added);
                }
                (Some(removed), None) => {
                    let yaml = diff::diff(removed, None, &options).desired_yaml;
                    let _ = writeln!(out, "--- {id} ({})\n+++ /dev/null", labels.old);
                    whole(&mut out, &yaml, Whole::Removed);
                }
                (None, None) => {}
            }
        }
    }
    out
}

/// `object` as if ferry had applied every field of it.
///
/// The diff crate compares only the fields desired sets, plus those ferry
/// applied before: that is right against a live object full of server
/// defaults, but between two renders a field the newer one dropped is a
/// difference too. Claiming all of the old side's fields for ferry's
/// manager makes the comparison two-sided, with the crate's normalisation
/// and Secret masking unchanged.
fn owned_by_ferry(object: &Value) -> Value {
    let normalized = diff::normalize(object);
    let ty = builtin_type(object);
    let fields = FieldSet::of_object(&normalized, ty).to_fields_v1();
    let api_version = object.get("apiVersion").and_then(Value::as_str).filter(|v| !v.is_empty()).unwrap_or("v1");
    let mut owned = object.clone();
    if let Some(Value::Object(map)) = owned.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({}))) {
        map.insert(
            "managedFields".to_owned(),
            json!([{
                "manager": diff::FIELD_MANAGER,
                "operation": "Apply",
                "apiVersion": api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }]),
        );
    }
    owned
}

/// The schema of a built-in kind, as the diff crate picks it.
fn builtin_type(object: &Value) -> Option<patch::TypeRef<'static>> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Schema::builtin().root(&Gvk::new(group, version, kind))
}

fn key(object: &Value) -> Key {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let api_version = text("/apiVersion");
    let group = api_version.rsplit_once('/').map(|(group, _)| group.to_owned()).unwrap_or_default();
    (group, text("/kind"), text("/metadata/namespace"), text("/metadata/name"))
}

/// `apps/Deployment prod/web`, `ConfigMap settings`.
fn display((group, kind, namespace, name): &Key) -> String {
    let mut id = String::new();
    if !group.is_empty() {
        id.push_str(group);
        id.push('/');
    }
    id.push_str(kind);
    id.push(' ');
    if !namespace.is_empty() {
        id.push_str(namespace);
        id.push('/');
    }
    id.push_str(name);
    id
}

/// Which way a whole resource changed.
enum Whole {
    /// Only the new side has it.
    Added,
    /// Only the old side has it.
    Removed,
}

/// A whole document as one hunk of added or removed lines.
fn whole(out: &mut String, yaml: &str, change: Whole) {
    let count = yaml.lines().count();
    let sign = match change {
        Whole::Added => {
            let _ = writeln!(out, "@@ -0,0 +1,{count} @@");
            '+'
        }
        Whole::Removed => {
            let _ = writeln!(out, "@@ -1,{count} +0,0 @@");
            '-'
        }
    };
    for line in yaml.lines() {
        out.push(sign);
        out.push_str(line);
        out.push('\n');
    }
}
