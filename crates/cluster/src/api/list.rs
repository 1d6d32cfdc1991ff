//! Reads of many objects: lists with selectors and pagination, and watches.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{ApiError, Cluster, ListParams, ListResult, Reason};
use crate::registry::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventKind, ListOptions, ObjectKey, Scope, StoreError, StoredObject, Watch};

/// Options of a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `resourceVersion`: `None` or `0` starts with the current objects as
    /// ADDED events; a version streams the changes after it.
    pub resource_version: Option<String>,
    /// `sendInitialEvents=true`: start with the current objects, then a
    /// bookmark marking the end of the initial events.
    pub send_initial_events: bool,
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEventKind {
    /// ADDED.
    Added,
    /// MODIFIED.
    Modified,
    /// DELETED.
    Deleted,
    /// BOOKMARK: only a resourceVersion.
    Bookmark,
    /// ERROR: the watch ends (for example 410 Expired).
    Error,
}

impl WatchEventKind {
    /// The `type` string of a watch event.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventKind::Added => "ADDED",
            WatchEventKind::Modified => "MODIFIED",
            WatchEventKind::Deleted => "DELETED",
            WatchEventKind::Bookmark => "BOOKMARK",
            WatchEventKind::Error => "ERROR",
        }
    }
}

/// One event of a watch stream.
#[derive(Debug, Clone)]
pub struct WatchEvent {
    /// The type.
    pub kind: WatchEventKind,
    /// The object as JSON (a Status for errors, a stub for bookmarks).
    pub object: Bytes,
    /// The event's resourceVersion.
    pub rv: u64,
}

/// A running watch, filtered by the selectors.
pub struct WatchStream {
    initial: std::vec::IntoIter<WatchEvent>,
    watch: Option<Watch>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    rt: Arc<ResourceType>,
    last_rv: u64,
    finished: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn encode_token(t: &ContinueToken) -> String {
    let json = serde_json::to_vec(t).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(s: &str) -> Option<ContinueToken> {
    if !s.len().is_multiple_of(2) || s.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    serde_json::from_slice(&bytes?).ok()
}

/// The field labels a resource supports in field selectors, beyond
/// `metadata.name` and `metadata.namespace` (as in Kubernetes 1.33).
fn supported_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "replicationcontrollers") | ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        ("certificates.k8s.io", "certificatesigningrequests") => &["spec.signerName"],
        _ => &[],
    }
}

fn parse_selectors(
    rt: &ResourceType,
    label: Option<&str>,
    field: Option<&str>,
) -> Result<(Option<LabelSelector>, Option<FieldSelector>), ApiError> {
    let labels = match label.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(
            LabelSelector::parse(s).map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
        ),
        None => None,
    };
    let fields = match field.filter(|s| !s.trim().is_empty()) {
        Some(s) => {
            Some(FieldSelector::parse(s).map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?)
        }
        None => None,
    };
    if let Some(f) = &fields {
        let allowed = supported_fields(rt);
        for r in f.requirements() {
            let path = r.path.as_str();
            if path != "metadata.name" && path != "metadata.namespace" && !allowed.contains(&path) {
                return Err(ApiError::bad_request(format!("field label not supported: {path}")));
            }
        }
    }
    Ok((labels, fields))
}

fn matches(labels: &Option<LabelSelector>, fields: &Option<FieldSelector>, json: &[u8]) -> bool {
    if labels.is_none() && fields.is_none() {
        return true;
    }
    let Ok(object) = serde_json::from_slice::<Value>(json) else { return false };
    if let Some(l) = labels {
        let empty = serde_json::Map::new();
        let map = object.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object).unwrap_or(&empty);
        if !l.matches(map) {
            return false;
        }
    }
    if let Some(f) = fields
        && !f.matches(&object)
    {
        return false;
    }
    true
}

fn expired(e: StoreError) -> ApiError {
    match e {
        StoreError::Expired { .. } => ApiError::new(
            Reason::Expired,
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        ),
        StoreError::Closed => ApiError::new(Reason::ServiceUnavailable, "the server is shutting down"),
        other => ApiError::internal(other.to_string()),
    }
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> WatchEvent {
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = serde_json::json!({"k8s.io/initial-events-end": "true"});
    }
    let object = serde_json::json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta});
    WatchEvent { kind: WatchEventKind::Bookmark, object: Bytes::from(object.to_string()), rv }
}

/// Rewrites a stored object's apiVersion to the version requested (versions
/// of one resource share storage without conversion).
pub fn served_json(rt: &ResourceType, stored: &StoredObject) -> Bytes {
    if rt.group.is_empty() || !rt_has_other_versions(rt) {
        return stored.json.clone();
    }
    match serde_json::from_slice::<Value>(&stored.json) {
        Ok(mut v) if v.get("apiVersion").and_then(Value::as_str) != Some(&rt.api_version()) => {
            v["apiVersion"] = Value::String(rt.api_version());
            Bytes::from(v.to_string())
        }
        _ => stored.json.clone(),
    }
}

fn rt_has_other_versions(rt: &ResourceType) -> bool {
    matches!(rt.schema, crate::registry::SchemaSource::Crd(_))
}

impl Cluster {
    /// Lists objects, in one namespace or (with `None`) all.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ListResult, ApiError> {
        let (labels, fields) = parse_selectors(rt, params.label_selector.as_deref(), params.field_selector.as_deref())?;
        let resource = rt.storage_resource();
        let scope = Scope {
            resource: Some(resource.clone()),
            namespace: if rt.namespaced { namespace.map(str::to_owned) } else { None },
        };
        let token = match params.continue_token.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(decode_token(s).ok_or_else(|| ApiError::bad_request("continue key is not valid"))?),
            None => None,
        };
        let mut at_rv = token.as_ref().map(|t| t.rv);
        let mut start_after = token.map(|t| ObjectKey { resource: resource.clone(), namespace: t.ns, name: t.name });
        let limit = params.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut last_key: Option<ObjectKey> = None;
        let mut more;
        let mut rv;
        loop {
            let want = limit.map(|l| (l - items.len()).max(1));
            let page = self
                .inner
                .store
                .list(&scope, &ListOptions { at_rv, start_after: start_after.clone(), limit: want })
                .map_err(expired)?;
            rv = page.rv;
            at_rv = Some(page.rv);
            more = page.more;
            for (stored, key) in page.items.iter().zip(page.keys.iter()) {
                if matches(&labels, &fields, &stored.json) {
                    items.push(served_json(rt, stored));
                }
                last_key = Some(key.clone());
            }
            start_after = last_key.clone();
            let full = limit.is_some_and(|l| items.len() >= l);
            if !more || full || limit.is_none() {
                break;
            }
        }
        let continue_token = match (more, &last_key) {
            (true, Some(k)) => Some(encode_token(&ContinueToken { rv, ns: k.namespace.clone(), name: k.name.clone() })),
            _ => None,
        };
        Ok(ListResult { items, resource_version: rv, continue_token, remaining: None })
    }

    /// Starts a watch of a resource, in one namespace or all.
    pub fn watch(
        &self,
        rt: Arc<ResourceType>,
        namespace: Option<&str>,
        params: &WatchParams,
    ) -> Result<WatchStream, ApiError> {
        let (labels, fields) =
            parse_selectors(&rt, params.label_selector.as_deref(), params.field_selector.as_deref())?;
        let scope = Scope {
            resource: Some(rt.storage_resource()),
            namespace: if rt.namespaced { namespace.map(str::to_owned) } else { None },
        };
        let requested = params.resource_version.as_deref().filter(|s| !s.is_empty() && *s != "0");
        let start_from_list = requested.is_none() || params.send_initial_events;
        let (initial, since) = if start_from_list {
            let page = self.inner.store.list(&scope, &ListOptions::default()).map_err(expired)?;
            let mut events: Vec<WatchEvent> = page
                .items
                .iter()
                .filter(|s| matches(&labels, &fields, &s.json))
                .map(|s| WatchEvent { kind: WatchEventKind::Added, object: served_json(&rt, s), rv: s.rv })
                .collect();
            if params.send_initial_events {
                events.push(bookmark(&rt, page.rv, true));
            }
            (events, page.rv)
        } else {
            let rv: u64 = requested
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ApiError::bad_request("resourceVersion must be an integer"))?;
            (Vec::new(), rv)
        };
        let watch = self.inner.store.watch(&scope, since).map_err(|e| match e {
            StoreError::Expired { requested, oldest } => {
                ApiError::new(Reason::Expired, format!("too old resource version: {requested} ({oldest})"))
            }
            other => expired(other),
        })?;
        Ok(WatchStream {
            initial: initial.into_iter(),
            watch: Some(watch),
            labels,
            fields,
            rt,
            last_rv: since,
            finished: false,
        })
    }
}

impl WatchStream {
    /// The next event; `None` when the watch ended. An expired watch yields
    /// one ERROR event (410) and then ends.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        if let Some(e) = self.initial.next() {
            return Some(e);
        }
        if self.finished {
            return None;
        }
        loop {
            let watch = self.watch.as_mut()?;
            match watch.next().await {
                None => {
                    self.finished = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.finished = true;
                    let status = ApiError::new(Reason::Expired, format!("the watch fell behind: {e}")).to_status();
                    return Some(WatchEvent {
                        kind: WatchEventKind::Error,
                        object: Bytes::from(status.to_string()),
                        rv: self.last_rv,
                    });
                }
                Some(Ok(event)) => {
                    self.last_rv = event.object.rv;
                    if let Some(e) = self.filter(&event) {
                        return Some(e);
                    }
                }
            }
        }
    }

    /// A bookmark at the last resourceVersion seen.
    pub fn bookmark(&self) -> WatchEvent {
        bookmark(&self.rt, self.last_rv, false)
    }

    /// Maps a store event through the selectors: an object that starts or
    /// stops matching appears as ADDED or DELETED, as in Kubernetes.
    fn filter(&self, event: &Arc<Event>) -> Option<WatchEvent> {
        let now = matches(&self.labels, &self.fields, &event.object.json);
        let before = match &event.previous {
            Some(p) if event.kind == EventKind::Modified => matches(&self.labels, &self.fields, &p.json),
            _ => false,
        };
        let kind = match (event.kind, before, now) {
            (EventKind::Added, _, true) => WatchEventKind::Added,
            (EventKind::Deleted, _, true) => WatchEventKind::Deleted,
            (EventKind::Modified, true, true) => WatchEventKind::Modified,
            (EventKind::Modified, false, true) => WatchEventKind::Added,
            (EventKind::Modified, true, false) => WatchEventKind::Deleted,
            _ => return None,
        };
        Some(WatchEvent { kind, object: served_json(&self.rt, &event.object), rv: event.object.rv })
    }
}
