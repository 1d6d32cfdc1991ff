//! Comparing desired and live Kubernetes objects.
//!
//! [`diff`] tells whether a live object matches what git desires, and
//! renders the difference as a unified YAML diff. The rules aim at "no false
//! OutOfSync": an object ferry just applied, with nothing changed since,
//! always compares Synced.
//! - Both sides are [normalised](normalize): status, server-populated
//!   metadata and empty values are dropped; quantities and int-or-strings
//!   get one spelling; sets are sorted.
//! - Only what desired sets is compared (plus what ferry applied before and
//!   desired no longer sets, which the next apply removes). Fields the API
//!   server defaulted or other managers set are not differences. Items of
//!   associative lists (containers by name, ports by port and protocol) are
//!   matched by key, so their order does not matter.
//! - [`IgnoreDifference`] rules remove fields from both sides.
//! - Secret `data` is masked in every output ([`MASK_SAME`], [`MASK_CHANGED`]).
//!
//! Invariant: no IO, no clocks. Types come from `patch`'s schemas.

mod ignore;
mod normalize;
mod project;
mod quantity;
mod secret;
#[cfg(test)]
mod tests;

use patch::apply::{Operation, read_managed};
use patch::fields::FieldSet;
use patch::{Gvk, Schema, TypeRef};
use serde_json::Value;

pub use ignore::IgnoreDifference;
pub use secret::{MASK_CHANGED, MASK_SAME};

/// The field manager ferry applies with.
pub const FIELD_MANAGER: &str = "ferry";

/// How to compare.
#[derive(Debug, Clone, Copy)]
pub struct DiffOptions<'a> {
    /// Rules for fields to leave out; only those matching the object apply.
    pub ignore: &'a [IgnoreDifference],
    /// The field manager ferry applies with: fields it applied before and
    /// desired no longer sets are differences (the next apply removes them).
    pub manager: &'a str,
    /// The schema of the object's kind when it is not built in (a CRD's,
    /// from [`Schema::from_crd`]). Without one, a custom resource's objects
    /// compare field by field and its lists as wholes.
    pub schema: Option<&'a Schema>,
}

impl Default for DiffOptions<'_> {
    fn default() -> Self {
        DiffOptions { ignore: &[], manager: FIELD_MANAGER, schema: None }
    }
}

/// The comparison of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDiff {
    /// No differences after normalisation and ignores (false when there is
    /// no live object).
    pub synced: bool,
    /// Unified diff from `live` to `desired`, empty when synced.
    pub diff: String,
    /// The compared desired object as YAML (normalised, ignores applied, Secret data masked).
    pub desired_yaml: String,
    /// The compared part of the live object as YAML (normalised, projected
    /// onto desired's fields, ignores applied, Secret data masked); empty
    /// when there is no live object.
    pub live_yaml: String,
}

/// Normalises an object of a built-in kind (any other kind is normalised
/// without a schema): drops `status`, server-populated metadata (uid,
/// resourceVersion, generation, creationTimestamp, deletionTimestamp,
/// managedFields, selfLink) and the last-applied-configuration annotation;
/// drops nulls and empty lists and maps; writes quantities canonically
/// (`"0.5"` → `"500m"`, `"1024Mi"` → `"1Gi"`) and numeric int-or-strings as
/// numbers; sorts lists the schema calls sets; folds a Secret's `stringData`
/// into `data` as the API server does.
pub fn normalize(object: &Value) -> Value {
    normalize::normalize_typed(object, type_of(object, None))
}

/// Like [`normalize`], with the schema of a kind that is not built in.
pub fn normalize_with_schema(object: &Value, schema: Option<&Schema>) -> Value {
    normalize::normalize_typed(object, type_of(object, schema))
}

/// Compares `desired` with `live` (`None` when the object does not exist).
pub fn diff(desired: &Value, live: Option<&Value>, options: &DiffOptions<'_>) -> ResourceDiff {
    let ty = type_of(desired, options.schema);
    let mut want = normalize::normalize_typed(desired, ty);
    let mut have = live.map(|live| {
        let owned = managed_fields(live, |m, op| m == options.manager && op == Operation::Apply);
        project::project(&want, &normalize::normalize_typed(live, ty), ty, Some(&owned))
    });

    for rule in options.ignore.iter().filter(|r| r.matches(desired)) {
        for pointer in &rule.json_pointers {
            ignore::remove_pointer(&mut want, pointer);
            if let Some(have) = &mut have {
                ignore::remove_pointer(have, pointer);
            }
        }
        if let Some(live) = live
            && !rule.managed_fields_managers.is_empty()
        {
            let theirs = managed_fields(live, |m, _| rule.managed_fields_managers.iter().any(|x| x == m));
            for path in theirs.members() {
                ignore::remove_path(&mut want, &path, ty);
                if let Some(have) = &mut have {
                    ignore::remove_path(have, &path, ty);
                }
            }
        }
    }

    if normalize::is_secret(desired) || live.is_some_and(normalize::is_secret) {
        secret::mask(&mut want, have.as_mut());
    }

    let synced = have.as_ref() == Some(&want);
    let desired_yaml = to_yaml(&want);
    let live_yaml = have.as_ref().map(to_yaml).unwrap_or_default();
    let diff = if synced {
        String::new()
    } else {
        similar::TextDiff::from_lines(&live_yaml, &desired_yaml).unified_diff().header("live", "desired").to_string()
    };
    ResourceDiff { synced, diff, desired_yaml, live_yaml }
}

/// The type of `object`: from `schema` when given, else the built-in kind.
fn type_of<'a>(object: &Value, schema: Option<&'a Schema>) -> Option<TypeRef<'a>> {
    if let Some(schema) = schema {
        return schema.crd_root();
    }
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Schema::builtin().root(&Gvk::new(group, version, kind))
}

/// The fields of `live` owned by the managedFields entries `pick` selects.
/// Unreadable managedFields own nothing: a diff never fails.
fn managed_fields(live: &Value, pick: impl Fn(&str, Operation) -> bool) -> FieldSet {
    let mut fields = FieldSet::new();
    for entry in read_managed(live).unwrap_or_default() {
        if pick(&entry.manager, entry.operation) {
            fields.extend(&entry.fields);
        }
    }
    fields
}

fn to_yaml(value: &Value) -> String {
    let sorted = normalize::sort_keys(value);
    serde_saphyr::to_string(&sorted).or_else(|_| serde_json::to_string_pretty(&sorted)).unwrap_or_default()
}
