//! Server-side apply: merging an applied configuration into a live object
//! while tracking which manager owns which fields.
//!
//! Ownership lives in `metadata.managedFields`: one entry per manager,
//! operation (`Apply` or `Update`) and subresource (and, for `Update`, API
//! version), each holding a [`FieldSet`]. [`apply`] handles
//! `application/apply-patch+yaml` requests; [`record_update`] records every
//! other write (create, update, JSON/merge/strategic patch).
//!
//! Differences from Kubernetes, on purpose:
//! - objects are not converted between API versions: all entries are read as
//!   if they were at the request's version;
//! - there is no cap on the number of `Update` entries (Kubernetes folds the
//!   oldest into `ancient-changes` beyond ten);
//! - an object without managedFields is not given a `before-first-apply`
//!   entry on its first apply;
//! - a field set to `null` in an applied configuration is owned but removed
//!   from the object (as decoding into built-in types does);
//! - a new `Apply` entry always gets a time, even when the apply changed
//!   nothing;
//! - without Go types, an `Update` entry marks (`.`) every map and list the
//!   write created, and empty structs, but not structs with content
//!   (Kubernetes marks pointer structs too);
//! - the vendored built-in schema has no defaults, so the one default that
//!   matters for list keys (`protocol: TCP` of container and service ports) is
//!   built in; CRD key defaults come from their schema;
//! - `status` and other fields are tracked as given: stripping status from
//!   main-resource writes of kinds with a status subresource (and everything
//!   but status from status writes) is the caller's job.

mod compare;
mod managed;
mod merge;
#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

use crate::TypeRef;
use crate::fields::{FieldSet, PathElement, Strictness, collect, path_string};

pub use managed::{ManagedFieldsError, read_managed, write_managed};

/// Server-side apply `force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    /// Conflicts fail the request.
    #[default]
    No,
    /// Take ownership of conflicting fields.
    Yes,
}

/// The kind of write a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply: the entry is exactly the manager's last applied configuration.
    Apply,
    /// Any other write: the entry accumulates the fields the manager changed.
    Update,
}

impl Operation {
    /// The name used in `managedFields[].operation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedEntry {
    /// The field manager (`?fieldManager=`, or derived from the user agent).
    pub manager: String,
    /// The kind of write.
    pub operation: Operation,
    /// The API version the fields are expressed in, for example `apps/v1`.
    pub api_version: String,
    /// When the entry last changed (RFC 3339).
    pub time: Option<String>,
    /// The subresource written through (`status`, `scale`), if any.
    pub subresource: Option<String>,
    /// The fields owned.
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// True when this entry is the one a write by (`manager`, `operation`,
    /// `api_version`, `subresource`) records into. Appliers keep one entry
    /// whatever the version; updaters get one per version, as in Kubernetes.
    fn is_for(&self, operation: Operation, request: &Request<'_>) -> bool {
        self.manager == request.manager
            && self.operation == operation
            && self.subresource.as_deref() == request.subresource
            && (operation == Operation::Apply || self.api_version == request.api_version)
    }
}

/// Who is writing, and when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The API version of the request, for example `apps/v1`.
    pub api_version: &'a str,
    /// The time to record (RFC 3339); the crate has no clock.
    pub time: &'a str,
    /// The subresource written through, if any.
    pub subresource: Option<&'a str>,
}

/// A field another manager owns and an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// Its operation.
    pub operation: Operation,
    /// Its API version.
    pub api_version: String,
    /// Its subresource.
    pub subresource: Option<String>,
    /// The field, as a path string (`.spec.replicas`).
    pub field: String,
}

impl Conflict {
    /// The manager as Kubernetes names it in conflict messages and in the
    /// `FieldManagerConflict` causes: `"kubectl"`, or for updaters
    /// `"kubectl-edit" using apps/v1`, with `with subresource "status"` when
    /// written through one.
    pub fn manager_description(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflict with {}: {}", self.manager_description(), self.field)
    }
}

/// A server-side apply that cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields other managers own would change (HTTP 409).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is malformed (HTTP 400 or 422).
    #[error("{0}")]
    Invalid(String),
    /// The live object's managedFields cannot be read.
    #[error(transparent)]
    ManagedFields(#[from] ManagedFieldsError),
}

/// The message Kubernetes gives a failed apply: one conflict on one line,
/// several grouped by manager.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: {only}");
    }
    let mut managers: Vec<String> = conflicts.iter().map(Conflict::manager_description).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in &managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| &c.manager_description() == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Metadata fields the API server fills in: no client owns them, and
/// comparisons of desired and live state leave them out.
pub const SERVER_METADATA: [&str; 8] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

fn strip_ignored(set: &mut FieldSet) {
    for top in ["apiVersion", "kind"] {
        set.remove_subtree(&[PathElement::Field(top.into())]);
    }
    let meta = PathElement::Field("metadata".into());
    // Identity is never owned either.
    for name in ["name", "namespace"].iter().chain(SERVER_METADATA.iter()) {
        set.remove_subtree(&[meta.clone(), PathElement::Field((*name).into())]);
    }
    set.remove_member(&[meta]);
}

/// `obj` without `metadata.managedFields` (which is never part of the
/// comparison), or an empty object.
fn without_managed(obj: Option<&Value>) -> Value {
    let mut out = obj.cloned().unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    out
}

/// Merges the applied configuration `applied` into `live` (`None` to
/// create) on behalf of `request.manager`, and returns the new object with
/// `metadata.managedFields` updated.
///
/// Fields in `applied` are set; associative lists merge by key, sets by
/// value, atomic lists and maps are replaced. Fields the manager applied
/// last time (its `Apply` entry for the same subresource) and no longer
/// applies are removed, unless another manager owns them. A field whose value
/// would change and that another manager owns is a conflict, unless
/// `force` is [`Force::Yes`], in which case the other manager loses it.
///
/// Identity and server-set metadata in `applied` (name, uid,
/// resourceVersion...) are merged like any field but never owned; checking
/// them (for example a resourceVersion precondition) is the caller's job.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    ty: Option<TypeRef<'_>>,
    request: &Request<'_>,
    force: Force,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid("the applied configuration must be an object".into()));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".into()));
    }
    let mut entries = match live {
        Some(obj) => read_managed(obj)?,
        None => Vec::new(),
    };
    let live = without_managed(live);

    let mut applied_set = collect(applied, ty, Strictness::Strict).map_err(ApplyError::Invalid)?;
    strip_ignored(&mut applied_set);
    let mut merged = merge::merge(Some(&live), applied, ty).unwrap_or_else(|| Value::Object(Default::default()));

    let mine = entries.iter().position(|e| e.is_for(Operation::Apply, request));
    let last = mine.map(|i| entries[i].fields.clone());
    let previous_time = mine.and_then(|i| entries[i].time.clone());
    if let Some(i) = mine {
        entries.remove(i);
    }
    if let Some(last) = &last {
        let mut owned = applied_set.clone();
        for e in &entries {
            owned.extend(&e.fields);
        }
        merge::prune(&mut merged, ty, last, &owned);
    }

    let mut change = compare::compare(&live, &merged, ty);
    change.strip(strip_ignored);
    let changed = change.modified.union(&change.added);

    let mut conflicts = Vec::new();
    for entry in &entries {
        for path in entry.fields.intersection(&changed).members() {
            conflicts.push(Conflict {
                manager: entry.manager.clone(),
                operation: entry.operation,
                api_version: entry.api_version.clone(),
                subresource: entry.subresource.clone(),
                field: path_string(&path),
            });
        }
    }
    if force == Force::No && !conflicts.is_empty() {
        conflicts.sort_by_key(Conflict::manager_description);
        return Err(ApplyError::Conflicts(conflicts));
    }
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&changed).difference(&change.removed);
    }

    let object_changed = merged != live;
    entries.push(ManagedEntry {
        manager: request.manager.to_owned(),
        operation: Operation::Apply,
        api_version: request.api_version.to_owned(),
        time: match previous_time {
            Some(t) if !object_changed => Some(t),
            _ => Some(request.time.to_owned()),
        },
        subresource: request.subresource.map(str::to_owned),
        fields: applied_set,
    });
    write_managed(&mut merged, &entries);
    Ok(merged)
}

/// Records a write that is not an apply (create, update, JSON/merge/strategic
/// patch) from `old` (`None` on create) to `new`, and returns `new` with
/// `metadata.managedFields` updated.
///
/// Fields that changed or appeared become owned by `request.manager` (in its
/// `Update` entry for this version and subresource) and leave every other
/// entry; fields that disappeared leave every entry.
///
/// As in Kubernetes, a client may rewrite managedFields through the main
/// resource: a `new` whose managedFields is `[]` (or `[{}]`) starts from no
/// entries, and any other readable, non-empty value in `new` is taken as the
/// starting point; otherwise (and always through a subresource) `old`'s
/// entries are.
pub fn record_update(old: Option<&Value>, new: Value, ty: Option<TypeRef<'_>>, request: &Request<'_>) -> Value {
    let mut entries = starting_entries(old, &new, request);
    let old = without_managed(old);
    let mut new = new;
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }

    let mut change = compare::compare(&old, &new, ty);
    change.strip(strip_ignored);
    let taken = change.modified.union(&change.added);
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&taken).difference(&change.removed);
    }
    if !taken.is_empty() {
        match entries.iter_mut().find(|e| e.is_for(Operation::Update, request)) {
            Some(entry) => {
                entry.fields.extend(&taken);
                entry.time = Some(request.time.to_owned());
            }
            None => entries.push(ManagedEntry {
                manager: request.manager.to_owned(),
                operation: Operation::Update,
                api_version: request.api_version.to_owned(),
                time: Some(request.time.to_owned()),
                subresource: request.subresource.map(str::to_owned),
                fields: taken,
            }),
        }
    }
    write_managed(&mut new, &entries);
    new
}

fn starting_entries(old: Option<&Value>, new: &Value, request: &Request<'_>) -> Vec<ManagedEntry> {
    let from_old = || old.and_then(|o| read_managed(o).ok()).unwrap_or_default();
    if request.subresource.is_some() {
        return from_old();
    }
    match new.pointer("/metadata/managedFields") {
        Some(Value::Array(items)) if items.is_empty() => Vec::new(),
        Some(Value::Array(items)) if items.len() == 1 && items[0].as_object().is_some_and(|o| o.is_empty()) => {
            Vec::new()
        }
        Some(_) => match read_managed(new) {
            Ok(entries) if !entries.is_empty() => entries,
            _ => from_old(),
        },
        None => from_old(),
    }
}
