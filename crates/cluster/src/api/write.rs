//! Writes: create, update, patch (including server-side apply) and delete.
//!
//! Every write is read-modify-write against one stored version and commits
//! with that version as a precondition, so concurrent writers never lose an
//! update: a conflicting write either fails with 409 (when the client named
//! a resourceVersion) or is recomputed against the new state.

use serde_json::{Map, Value};

use super::meta::{self, check_type, key, meta_str, metadata_mut, type_of};
use super::{
    ApiError, Cluster, DeleteOptions, Deleted, DryRun, FieldValidation, PatchType, Propagation, Reason, Subresource,
    WriteOptions, Written,
};
use crate::registry::{ResourceType, simple_path};
use crate::store::{Expect, StoreError, StoredObject, Write};

/// How many times a write is recomputed after losing a race before giving up.
const MAX_RETRIES: usize = 32;

/// Finalizer the garbage collector honours for foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer the garbage collector honours for orphaning dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer that deletes a CRD's objects before the CRD goes.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// How managedFields are maintained for a write.
enum Ownership<'a> {
    /// Record the changed fields for this manager (create, update, non-apply
    /// patch), on the main resource or a subresource.
    Update(&'a str, Subresource),
    /// Already computed by server-side apply.
    Applied,
}

/// Why a write attempt did not land.
enum Failure {
    /// Another writer changed the object first: recompute and try again,
    /// unless the client named the resourceVersion it expected.
    LostRace,
    /// A real error, for the client.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

/// What a retry loop does with one attempt: `None` means try again.
fn settle(
    attempt: Result<Written, Failure>,
    rt: &ResourceType,
    name: &str,
    named_rv: Option<u64>,
) -> Option<Result<Written, ApiError>> {
    match attempt {
        Ok(w) => Some(Ok(w)),
        Err(Failure::LostRace) if named_rv.is_none() => None,
        Err(Failure::LostRace) => Some(Err(ApiError::stale(rt, name))),
        Err(Failure::Api(e)) => Some(Err(e)),
    }
}

struct Current {
    rv: u64,
    object: Value,
}

fn parse_stored(stored: &StoredObject) -> Result<Value, ApiError> {
    serde_json::from_slice(&stored.json).map_err(|e| ApiError::internal(format!("stored object is unreadable: {e}")))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Expired { .. } => ApiError::new(Reason::Expired, e.to_string()),
        StoreError::Closed => ApiError::new(Reason::ServiceUnavailable, "the server is shutting down"),
        other => ApiError::internal(other.to_string()),
    }
}

fn set_path(object: &mut Value, path: &str, value: Value) {
    let segs: Vec<&str> = path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()).collect();
    let mut cur = object;
    for (i, seg) in segs.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(obj) = cur.as_object_mut() else { return };
        if i + 1 == segs.len() {
            obj.insert((*seg).to_owned(), value);
            return;
        }
        cur = obj.entry((*seg).to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
}

impl Cluster {
    fn current(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Option<Current>, ApiError> {
        match self.inner.store.get(&key(rt, namespace, name)) {
            None => Ok(None),
            Some(stored) => Ok(Some(Current { rv: stored.rv, object: parse_stored(&stored)? })),
        }
    }

    /// Reads one object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.current(rt, namespace, name)?.map(|c| c.object).ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Reads the scale subresource of an object.
    pub fn get_scale(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let object = self.get(rt, namespace, name)?;
        scale_view(rt, &object)
    }

    /// Creates an object in `namespace` (empty for cluster-scoped resources).
    pub async fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        mut object: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        check_type(rt, &mut object)?;
        let manager = options.manager();
        let name = self.prepare_create(rt, namespace, &mut object)?;
        let attempt = self
            .commit_write(rt, namespace, &name, None, object, options, Ownership::Update(&manager, Subresource::Main))
            .await;
        // A create has no race to retry: losing one is AlreadyExists.
        settle(attempt, rt, &name, Some(0)).unwrap_or_else(|| Err(ApiError::stale(rt, &name)))
    }

    /// Fills in and checks a new object's metadata; returns its name.
    fn prepare_create(&self, rt: &ResourceType, namespace: &str, object: &mut Value) -> Result<String, ApiError> {
        let Some(meta) = metadata_mut(object) else {
            return Err(ApiError::bad_request("the request body must be an object"));
        };
        if meta.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request("resourceVersion should not be set on objects to be created"));
        }
        // Namespace: the URL wins; a different one in the body is an error.
        if rt.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), Value::String(namespace.to_owned()));
                }
            }
        } else {
            meta.remove("namespace");
        }
        let name = match meta.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => match meta.get("generateName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                Some(prefix) => {
                    let prefix: String = prefix.chars().take(58).collect();
                    let name = format!("{prefix}{}", meta::random_suffix(5));
                    meta.insert("name".into(), Value::String(name.clone()));
                    name
                }
                None => {
                    return Err(ApiError::invalid(
                        rt,
                        "",
                        vec![super::Cause {
                            reason: "FieldValueRequired".into(),
                            message: "Required value: name or generateName is required".into(),
                            field: "metadata.name".into(),
                        }],
                    ));
                }
            },
        };
        meta.insert("uid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), Value::String(meta::now()));
        if meta::has_generation(rt) {
            meta.insert("generation".into(), Value::from(1));
        } else {
            meta.remove("generation");
        }
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("selfLink");
        meta::validate_name(rt, &name)?;
        if rt.namespaced {
            self.check_namespace_open(namespace)?;
        }
        if rt.status
            && let Some(obj) = object.as_object_mut()
        {
            obj.remove("status");
        }
        Ok(name)
    }

    /// A namespaced object may only be created in a namespace that exists and
    /// is not terminating.
    fn check_namespace_open(&self, namespace: &str) -> Result<(), ApiError> {
        let registry = self.registry();
        let Some(ns_rt) = registry.resolve("", "v1", "namespaces") else {
            return Ok(());
        };
        let ns = self.current(&ns_rt, "", namespace)?.ok_or_else(|| ApiError::not_found(&ns_rt, namespace))?;
        if meta_str(&ns.object, "deletionTimestamp").is_some() {
            return Err(ApiError::new(
                Reason::Forbidden,
                format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }

    /// Replaces an object (PUT), or its status or scale.
    pub async fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        mut body: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if subresource == Subresource::Scale {
            return self.write_scale(rt, namespace, name, ScaleChange::Replace(body), options).await;
        }
        check_type(rt, &mut body)?;
        if let Some(n) = meta_str(&body, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let user_rv = match meta_str(&body, "resourceVersion").filter(|s| !s.is_empty()) {
            Some(rv) => Some(meta::parse_rv(rv).ok_or_else(|| {
                meta::invalid_field(
                    rt,
                    name,
                    "metadata.resourceVersion",
                    format!("Invalid value: \"{rv}\": must be an integer"),
                )
            })?),
            None => None,
        };
        let manager = options.manager();
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.current(rt, namespace, name)? else {
                return Err(ApiError::not_found(rt, name));
            };
            if user_rv.is_some_and(|rv| rv != cur.rv) {
                return Err(ApiError::stale(rt, name));
            }
            let new = merge_update(rt, subresource, &cur.object, body.clone());
            let attempt = self
                .commit_write(rt, namespace, name, Some(&cur), new, options, Ownership::Update(&manager, subresource))
                .await;
            if let Some(done) = settle(attempt, rt, name, user_rv) {
                return done;
            }
        }
        Err(ApiError::stale(rt, name))
    }

    /// Patches an object, or its status or scale. An apply patch creates the
    /// object when it does not exist.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        patch_type: PatchType,
        body: Value,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        if subresource == Subresource::Scale {
            return self.write_scale(rt, namespace, name, ScaleChange::Patch(patch_type, body), options).await;
        }
        if let PatchType::Apply(force) = patch_type {
            return self.apply(rt, namespace, name, subresource, body, force, options).await;
        }
        if patch_type == PatchType::Strategic && !matches!(rt.schema, crate::registry::SchemaSource::Builtin) {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let manager = options.manager();
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.current(rt, namespace, name)? else {
                return Err(ApiError::not_found(rt, name));
            };
            let mut patched = apply_patch(rt, patch_type, &cur.object, &body)?;
            // A patch is a precondition only when it names a resourceVersion;
            // otherwise a lost race is retried against the new state.
            let user_rv = if names_resource_version(patch_type, &body) {
                Some(meta_str(&patched, "resourceVersion").and_then(meta::parse_rv).unwrap_or(0))
            } else {
                None
            };
            if user_rv.is_some_and(|rv| rv != cur.rv) {
                return Err(ApiError::stale(rt, name));
            }
            check_type(rt, &mut patched)?;
            if meta_str(&patched, "name") != Some(name) {
                return Err(ApiError::bad_request("the name of an object cannot be changed by a patch"));
            }
            let new = merge_update(rt, subresource, &cur.object, patched);
            let attempt = self
                .commit_write(rt, namespace, name, Some(&cur), new, options, Ownership::Update(&manager, subresource))
                .await;
            if let Some(done) = settle(attempt, rt, name, user_rv) {
                return done;
            }
        }
        Err(ApiError::stale(rt, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        subresource: Subresource,
        mut applied: Value,
        force: patch::apply::Force,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let Some(manager) = options.field_manager.clone() else {
            let mut e = ApiError::new(
                Reason::Invalid,
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            );
            e.causes = vec![super::Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            }];
            return Err(e);
        };
        check_type(rt, &mut applied)?;
        match meta_str(&applied, "name") {
            Some(n) if n == name => {}
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            None => {
                return Err(ApiError::bad_request("metadata.name is required in an applied configuration"));
            }
        }
        if rt.namespaced
            && let Some(ns) = meta_str(&applied, "namespace")
            && ns != namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        // A resourceVersion in an applied configuration is a precondition.
        let applied_rv =
            meta_str(&applied, "resourceVersion").filter(|s| !s.is_empty()).map(|s| meta::parse_rv(s).unwrap_or(0));
        if let Some(meta) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
        }
        // Only the part the subresource addresses is applied.
        if rt.status
            && let Some(obj) = applied.as_object_mut()
        {
            match subresource {
                Subresource::Status => {
                    let status = obj.remove("status");
                    obj.retain(|k, _| k == "apiVersion" || k == "kind" || k == "metadata");
                    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.retain(|k, _| k == "name" || k == "namespace");
                    }
                    if let Some(s) = status {
                        obj.insert("status".into(), s);
                    }
                }
                _ => {
                    obj.remove("status");
                }
            }
        }
        let warnings = self.unknown_field_check(rt, name, &mut applied, options.field_validation)?;
        let request_sub = match subresource {
            Subresource::Status => Some("status"),
            _ => None,
        };
        let time = meta::now();
        let api_version = rt.api_version();
        let request = patch::apply::Request {
            manager: &manager,
            api_version: &api_version,
            time: &time,
            subresource: request_sub,
        };
        for _ in 0..MAX_RETRIES {
            let cur = self.current(rt, namespace, name)?;
            if applied_rv.is_some() && applied_rv != cur.as_ref().map(|c| c.rv) {
                return Err(ApiError::stale(rt, name));
            }
            let merged = patch::apply::apply(cur.as_ref().map(|c| &c.object), &applied, type_of(rt), &request, force)
                .map_err(|e| apply_error(rt, name, e))?;
            let result = match &cur {
                None => {
                    if subresource == Subresource::Status {
                        return Err(ApiError::not_found(rt, name));
                    }
                    let mut object = merged;
                    self.prepare_create(rt, namespace, &mut object)?;
                    self.commit_write(rt, namespace, name, None, object, options, Ownership::Applied).await
                }
                Some(c) => {
                    let new = merge_update(rt, subresource, &c.object, merged);
                    self.commit_write(rt, namespace, name, Some(c), new, options, Ownership::Applied).await
                }
            };
            match result {
                Err(Failure::LostRace) => continue,
                // Created by someone else since we looked: apply to theirs.
                Err(Failure::Api(e)) if e.reason == Reason::AlreadyExists && cur.is_none() => continue,
                Err(Failure::Api(e)) => return Err(e),
                Ok(mut w) => {
                    w.warnings.extend(warnings);
                    return Ok(w);
                }
            }
        }
        Err(ApiError::stale(rt, name))
    }

    /// Unknown fields: dropped, warned about, or refused (per `fieldValidation`).
    fn unknown_field_check(
        &self,
        rt: &ResourceType,
        name: &str,
        object: &mut Value,
        mode: FieldValidation,
    ) -> Result<Vec<String>, ApiError> {
        let _ = name;
        let Some(ty) = type_of(rt) else { return Ok(Vec::new()) };
        let unknown = patch::validate::unknown_fields(object, ty);
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        let described: Vec<String> =
            unknown.iter().map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.'))).collect();
        match mode {
            FieldValidation::Strict => {
                Err(ApiError::bad_request(format!("strict decoding error: {}", described.join(", "))))
            }
            FieldValidation::Warn => {
                patch::validate::strip_unknown_fields(object, ty);
                Ok(described)
            }
            FieldValidation::Ignore => {
                patch::validate::strip_unknown_fields(object, ty);
                Ok(Vec::new())
            }
        }
    }

    /// The common tail of every write: validation, generation, ownership,
    /// finalizer-driven removal, no-op detection, dry run, and the commit.
    /// A lost race is reported as `Conflict` with an empty message, for the
    /// caller to retry.
    #[allow(clippy::too_many_arguments)]
    async fn commit_write(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        old: Option<&Current>,
        mut new: Value,
        options: &WriteOptions,
        ownership: Ownership<'_>,
    ) -> Result<Written, Failure> {
        let mut warnings = Vec::new();
        if !matches!(ownership, Ownership::Applied) {
            warnings = self.unknown_field_check(rt, name, &mut new, options.field_validation)?;
        }
        super::defaults::apply(rt, &mut new);
        if let (Some(old), true) = (old, meta::has_generation(rt)) {
            let generation =
                old.object.get("metadata").and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(1);
            let bumped = if meta::spec_changed(&old.object, &new) { generation + 1 } else { generation };
            if let Some(m) = metadata_mut(&mut new) {
                m.insert("generation".into(), Value::from(bumped));
            }
        }
        if let Ownership::Update(manager, sub) = ownership {
            let time = meta::now();
            let api_version = rt.api_version();
            let subresource = match sub {
                Subresource::Main => None,
                Subresource::Status => Some("status"),
                Subresource::Scale => Some("scale"),
            };
            let request = patch::apply::Request { manager, api_version: &api_version, time: &time, subresource };
            new = patch::apply::record_update(old.map(|o| &o.object), new, type_of(rt), &request);
        }
        validate_types(rt, name, &new)?;
        validate_object(rt, name, &new)?;
        if let Some(old) = old {
            validate_update(rt, name, &old.object, &new)?;
        }
        let size = serde_json::to_vec(&new).map(|v| v.len()).unwrap_or(0);
        if size > meta::MAX_OBJECT_BYTES {
            return Err(
                ApiError::new(Reason::RequestEntityTooLarge, "Request entity too large: limit is 3145728").into()
            );
        }
        let is_crd = rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
        if is_crd {
            self.registry().with_crd(&new).map_err(|e| meta::invalid_field(rt, name, "spec", e.to_string()))?;
        }
        let k = key(rt, namespace, name);
        if let Some(old) = old {
            // A terminating object whose finalizers are all gone is removed.
            if meta_str(&old.object, "deletionTimestamp").is_some() && releasable(&new) {
                if options.dry_run == DryRun::All {
                    return Ok(Written { object: new, created: false, warnings });
                }
                let stored = self
                    .inner
                    .store
                    .commit(vec![Write::Delete { key: k, expect: Expect::Version(old.rv) }])
                    .await
                    .map_err(race_or_error)?;
                if is_crd {
                    self.refresh_crds().await;
                }
                let object = stored.first().map(parse_stored).transpose()?.unwrap_or(new);
                return Ok(Written { object, created: false, warnings });
            }
            if meta::same_content(&old.object, &new) {
                return Ok(Written { object: old.object.clone(), created: false, warnings });
            }
        }
        if options.dry_run == DryRun::All {
            if let (Some(old), Some(m)) = (old, metadata_mut(&mut new)) {
                m.insert("resourceVersion".into(), Value::String(old.rv.to_string()));
            }
            return Ok(Written { object: new, created: old.is_none(), warnings });
        }
        let expect = match old {
            Some(o) => Expect::Version(o.rv),
            None => Expect::Absent,
        };
        let result = self.inner.store.commit(vec![Write::Put { key: k, object: new, expect }]).await;
        let stored = match result {
            Ok(s) => s,
            Err(StoreError::Precondition { .. }) if old.is_none() => {
                let mut e =
                    ApiError::new(Reason::AlreadyExists, format!("{} \"{name}\" already exists", super::qualified(rt)));
                e.kind = Some(rt.plural.clone());
                e.group = Some(rt.group.clone());
                e.name = Some(name.to_owned());
                return Err(Failure::Api(e));
            }
            Err(e) => return Err(race_or_error(e)),
        };
        if is_crd {
            self.refresh_crds().await;
        }
        let object = match stored.first() {
            Some(s) => parse_stored(s)?,
            None => return Err(Failure::Api(ApiError::internal("the store acknowledged no object"))),
        };
        Ok(Written { object, created: old.is_none(), warnings })
    }

    async fn write_scale(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        change: ScaleChange,
        options: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let Some(spec) = rt.scale.clone() else {
            return Err(ApiError::not_found(rt, name));
        };
        let manager = options.manager();
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.current(rt, namespace, name)? else {
                return Err(ApiError::not_found(rt, name));
            };
            let view = scale_view(rt, &cur.object)?;
            let new_view = match &change {
                ScaleChange::Replace(body) => body.clone(),
                ScaleChange::Patch(PatchType::Apply(_), body) => {
                    let mut v = view.clone();
                    if let Some(r) = body.get("spec").and_then(|s| s.get("replicas")) {
                        set_path(&mut v, ".spec.replicas", r.clone());
                    }
                    v
                }
                ScaleChange::Patch(pt, body) => apply_patch(rt, *pt, &view, body)?,
            };
            let user_rv = match &change {
                ScaleChange::Replace(body) => {
                    meta_str(body, "resourceVersion").filter(|s| !s.is_empty()).map(|s| meta::parse_rv(s).unwrap_or(0))
                }
                ScaleChange::Patch(pt, body) if names_resource_version(*pt, body) => {
                    Some(meta_str(&new_view, "resourceVersion").and_then(meta::parse_rv).unwrap_or(0))
                }
                ScaleChange::Patch(..) => None,
            };
            if user_rv.is_some_and(|rv| rv != cur.rv) {
                return Err(ApiError::stale(rt, name));
            }
            let Some(replicas) = new_view.get("spec").and_then(|s| s.get("replicas")).and_then(Value::as_i64) else {
                return Err(meta::invalid_field(rt, name, "spec.replicas", "Required value".into()));
            };
            if replicas < 0 {
                return Err(meta::invalid_field(
                    rt,
                    name,
                    "spec.replicas",
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                ));
            }
            let mut new = cur.object.clone();
            set_path(&mut new, &spec.spec_replicas_path, Value::from(replicas));
            let attempt = self
                .commit_write(
                    rt,
                    namespace,
                    name,
                    Some(&cur),
                    new,
                    options,
                    Ownership::Update(&manager, Subresource::Scale),
                )
                .await;
            if let Some(done) = settle(attempt, rt, name, user_rv) {
                let w = done?;
                let object = scale_view(rt, &w.object)?;
                return Ok(Written { object, created: false, warnings: w.warnings });
            }
        }
        Err(ApiError::stale(rt, name))
    }

    /// Deletes an object, honouring finalizers and the propagation policy.
    pub async fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.current(rt, namespace, name)? else {
                return Err(ApiError::not_found(rt, name));
            };
            if let Some(uid) = &options.precondition_uid {
                let actual = meta_str(&cur.object, "uid").unwrap_or_default();
                if uid != actual {
                    return Err(meta::precondition_failed(rt, name, "UID", uid, actual));
                }
            }
            if let Some(rv) = &options.precondition_rv
                && meta::parse_rv(rv) != Some(cur.rv)
            {
                return Err(meta::precondition_failed(rt, name, "ResourceVersion", rv, &cur.rv.to_string()));
            }
            let mut new = cur.object.clone();
            let mut finalizers = meta::finalizers(&new);
            match options.propagation.unwrap_or_default() {
                Propagation::Foreground => push_unique(&mut finalizers, FOREGROUND_FINALIZER),
                Propagation::Orphan => push_unique(&mut finalizers, ORPHAN_FINALIZER),
                Propagation::Background => {}
            }
            let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
            let is_crd = rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions";
            if is_crd {
                push_unique(&mut finalizers, CRD_CLEANUP_FINALIZER);
            }
            let spec_finalizers = is_namespace
                && new
                    .get("spec")
                    .and_then(|s| s.get("finalizers"))
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
            if finalizers.is_empty() && !spec_finalizers {
                if options.dry_run == DryRun::All {
                    return Ok(Deleted { object: cur.object, gone: true });
                }
                match self
                    .inner
                    .store
                    .commit(vec![Write::Delete { key: key(rt, namespace, name), expect: Expect::Version(cur.rv) }])
                    .await
                {
                    Ok(stored) => {
                        if is_crd {
                            self.refresh_crds().await;
                        }
                        let object = stored.first().map(parse_stored).transpose()?.unwrap_or(cur.object);
                        return Ok(Deleted { object, gone: true });
                    }
                    Err(StoreError::Precondition { .. }) => continue,
                    Err(e) => return Err(store_error(e)),
                }
            }
            // Graceful: mark for deletion; whoever owns each finalizer finishes it.
            if meta_str(&cur.object, "deletionTimestamp").is_some() && finalizers == meta::finalizers(&cur.object) {
                return Ok(Deleted { object: cur.object, gone: false });
            }
            if let Some(m) = metadata_mut(&mut new) {
                if !m.contains_key("deletionTimestamp") {
                    m.insert("deletionTimestamp".into(), Value::String(meta::now()));
                    m.insert("deletionGracePeriodSeconds".into(), Value::from(0));
                    if let Some(g) = m.get("generation").and_then(Value::as_i64) {
                        m.insert("generation".into(), Value::from(g + 1));
                    }
                }
                m.insert("finalizers".into(), Value::from(finalizers.clone()));
            }
            if is_namespace {
                set_path(&mut new, ".status.phase", Value::String("Terminating".into()));
            }
            if options.dry_run == DryRun::All {
                return Ok(Deleted { object: new, gone: false });
            }
            match self
                .inner
                .store
                .commit(vec![Write::Put {
                    key: key(rt, namespace, name),
                    object: new,
                    expect: Expect::Version(cur.rv),
                }])
                .await
            {
                Ok(stored) => {
                    let object = stored.first().map(parse_stored).transpose()?.unwrap_or(Value::Null);
                    return Ok(Deleted { object, gone: false });
                }
                Err(StoreError::Precondition { .. }) => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::stale(rt, name))
    }
}

/// Whether a patch body sets `metadata.resourceVersion` (making it a precondition).
fn names_resource_version(patch_type: PatchType, body: &Value) -> bool {
    match patch_type {
        PatchType::Json => body.as_array().is_some_and(|ops| {
            ops.iter().any(|op| op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion"))
        }),
        _ => body.get("metadata").and_then(|m| m.get("resourceVersion")).is_some_and(|v| !v.is_null()),
    }
}

enum ScaleChange {
    Replace(Value),
    Patch(PatchType, Value),
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|f| f == item) {
        list.push(item.to_owned());
    }
}

/// A terminating object may go once no finalizer holds it.
fn releasable(object: &Value) -> bool {
    let spec_finalizers =
        object.get("spec").and_then(|s| s.get("finalizers")).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
            && object.get("kind").and_then(Value::as_str) == Some("Namespace");
    meta::finalizers(object).is_empty() && !spec_finalizers
}

fn race_or_error(e: StoreError) -> Failure {
    match e {
        StoreError::Precondition { .. } => Failure::LostRace,
        other => Failure::Api(store_error(other)),
    }
}

fn apply_error(rt: &ResourceType, name: &str, e: patch::apply::ApplyError) -> ApiError {
    match e {
        patch::apply::ApplyError::Conflicts(conflicts) => {
            let message = patch::apply::ApplyError::Conflicts(conflicts.clone()).to_string();
            let mut err = ApiError::new(Reason::Conflict, message);
            err.kind = Some(rt.plural.clone());
            err.group = Some(rt.group.clone());
            err.name = Some(name.to_owned());
            err.causes = conflicts
                .iter()
                .map(|c| super::Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {}", c.manager_description()),
                    field: c.field.clone(),
                })
                .collect();
            err
        }
        other => ApiError::bad_request(other.to_string()),
    }
}

/// The object a PUT or PATCH produces, keeping what clients cannot change:
/// identity, timestamps, and the part another subresource owns.
fn merge_update(rt: &ResourceType, subresource: Subresource, old: &Value, mut new: Value) -> Value {
    if subresource == Subresource::Status {
        let mut out = old.clone();
        if let Some(obj) = out.as_object_mut() {
            match new.as_object_mut().and_then(|n| n.remove("status")) {
                Some(s) => {
                    obj.insert("status".into(), s);
                }
                None => {
                    obj.remove("status");
                }
            }
        }
        // Metadata changes through /status are ignored, except managedFields
        // which the ownership step maintains.
        return out;
    }
    if rt.status
        && let Some(obj) = new.as_object_mut()
    {
        match old.get("status") {
            Some(s) => {
                obj.insert("status".into(), s.clone());
            }
            None => {
                obj.remove("status");
            }
        }
    }
    if let (Some(old_meta), Some(new_meta)) = (old.get("metadata").and_then(Value::as_object), metadata_mut(&mut new)) {
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
        ] {
            match old_meta.get(field) {
                Some(v) => {
                    new_meta.insert(field.into(), v.clone());
                }
                None => {
                    new_meta.remove(field);
                }
            }
        }
        new_meta.remove("resourceVersion");
        new_meta.remove("selfLink");
        if !new_meta.contains_key("managedFields")
            && let Some(mf) = old_meta.get("managedFields")
        {
            new_meta.insert("managedFields".into(), mf.clone());
        }
    }
    new
}

/// Applies a non-apply patch to a JSON document.
fn apply_patch(rt: &ResourceType, patch_type: PatchType, base: &Value, body: &Value) -> Result<Value, ApiError> {
    let mut out = base.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| ApiError::bad_request(format!("the JSON patch is malformed: {e}")))?;
            json_patch::patch(&mut out, &ops)
                .map_err(|e| ApiError::new(Reason::Invalid, format!("the JSON patch could not be applied: {e}")))?;
        }
        PatchType::Merge => {
            if !body.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut out, body);
        }
        PatchType::Strategic => {
            if !body.is_object() {
                return Err(ApiError::bad_request("a strategic merge patch must be a JSON object"));
            }
            let ty = if base.get("kind").and_then(Value::as_str) == Some("Scale") { None } else { type_of(rt) };
            out =
                patch::strategic::strategic_merge(base, body, ty).map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        PatchType::Apply(_) => {
            return Err(ApiError::internal("apply patches are handled separately"));
        }
    }
    if !out.is_object() {
        return Err(ApiError::bad_request("the patch must leave an object"));
    }
    Ok(out)
}

/// The `autoscaling/v1` Scale view of an object.
pub fn scale_view(rt: &ResourceType, object: &Value) -> Result<Value, ApiError> {
    let Some(spec) = &rt.scale else {
        return Err(ApiError::new(Reason::NotFound, format!("{} has no scale subresource", super::qualified(rt))));
    };
    let meta = object.get("metadata").cloned().unwrap_or(Value::Null);
    let mut view_meta = Map::new();
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(field) {
            view_meta.insert(field.into(), v.clone());
        }
    }
    let replicas = simple_path(object, &spec.spec_replicas_path).and_then(Value::as_i64).unwrap_or(0);
    let status_replicas = simple_path(object, &spec.status_replicas_path).and_then(Value::as_i64).unwrap_or(0);
    let selector = match &spec.label_selector_path {
        Some(p) => simple_path(object, p).and_then(Value::as_str).map(str::to_owned),
        None => object
            .pointer("/spec/selector")
            .and_then(|s| crate::selector::LabelSelector::from_json(s).ok())
            .map(|s| s.to_string()),
    };
    let mut status = serde_json::json!({"replicas": status_replicas});
    if let Some(sel) = selector {
        status["selector"] = Value::String(sel);
    }
    Ok(serde_json::json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": view_meta,
        "spec": {"replicas": replicas},
        "status": status,
    }))
}

/// Values must have the JSON types their schema declares. Built-in kinds
/// fail to decode (400), as in Kubernetes; custom resources fail validation (422).
fn validate_types(rt: &ResourceType, name: &str, object: &Value) -> Result<(), ApiError> {
    let Some(ty) = type_of(rt) else { return Ok(()) };
    let errors = patch::validate::type_errors(object, ty);
    let Some(first) = errors.first() else { return Ok(()) };
    match rt.schema {
        crate::registry::SchemaSource::Builtin => Err(ApiError::bad_request(format!(
            "the object cannot be decoded: {} must be of type {}, not {}",
            first.path.trim_start_matches('.'),
            first.expected,
            first.found
        ))),
        _ => Err(ApiError::invalid(
            rt,
            name,
            errors
                .iter()
                .map(|e| {
                    let field = e.path.trim_start_matches('.').to_owned();
                    super::Cause {
                        reason: "FieldValueTypeInvalid".into(),
                        message: format!(
                            "Invalid value: \"{}\": {field} in body must be of type {}",
                            e.found, e.expected
                        ),
                        field,
                    }
                })
                .collect(),
        )),
    }
}

/// Rules about what an update may change.
fn validate_update(rt: &ResourceType, name: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let immutable_kind = rt.group.is_empty() && (rt.plural == "configmaps" || rt.plural == "secrets");
    if immutable_kind && old.get("immutable").and_then(Value::as_bool) == Some(true) {
        for field in ["data", "binaryData", "stringData", "type"] {
            if old.get(field) != new.get(field) {
                return Err(meta::invalid_field(
                    rt,
                    name,
                    field,
                    "Forbidden: field is immutable when `immutable` is set".into(),
                ));
            }
        }
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            return Err(meta::invalid_field(
                rt,
                name,
                "immutable",
                "Forbidden: field is immutable when `immutable` is set".into(),
            ));
        }
    }
    Ok(())
}

/// Structural checks every object must pass (beyond its schema).
fn validate_object(rt: &ResourceType, name: &str, object: &Value) -> Result<(), ApiError> {
    let Some(meta) = object.get("metadata").and_then(Value::as_object) else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                if let Some((k, _)) = m.iter().find(|(_, v)| !v.is_string()) {
                    return Err(meta::invalid_field(
                        rt,
                        name,
                        &format!("metadata.{field}"),
                        format!("Invalid value: \"{k}\": values must be strings"),
                    ));
                }
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!("metadata.{field} must be a map of strings")));
            }
        }
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let value = v.as_str().unwrap_or_default();
            if crate::selector::validate_key(k).is_err() {
                return Err(meta::invalid_field(
                    rt,
                    name,
                    "metadata.labels",
                    format!(
                        "Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                    ),
                ));
            }
            if crate::selector::validate_value(value).is_err() {
                return Err(meta::invalid_field(
                    rt,
                    name,
                    "metadata.labels",
                    format!(
                        "Invalid value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                    ),
                ));
            }
        }
    }
    Ok(())
}
