//! Discovery documents: `/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`, and
//! aggregated discovery (`apidiscovery.k8s.io/v2`).

use serde_json::{Map, Value, json};

use super::builtin::other_subresource;
use super::{Registry, ResourceType};

const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// One subresource as discovery describes it.
struct Subresource {
    name: String,
    group: String,
    version: String,
    kind: String,
    verbs: Vec<String>,
}

fn subresources(rt: &ResourceType) -> Vec<Subresource> {
    let mut subs = Vec::new();
    let own = |name: &str, verbs: &[&str]| Subresource {
        name: name.to_owned(),
        group: rt.group.clone(),
        version: rt.version.clone(),
        kind: rt.kind.clone(),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
    };
    for name in &rt.other_subresources {
        if let Some(info) = other_subresource(&rt.plural, name) {
            subs.push(Subresource {
                name: name.clone(),
                group: info.group.to_owned(),
                version: info.version.to_owned(),
                kind: info.kind.to_owned(),
                verbs: info.verbs.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
    }
    if rt.scale.is_some() {
        subs.push(Subresource {
            name: "scale".to_owned(),
            group: "autoscaling".to_owned(),
            version: "v1".to_owned(),
            kind: "Scale".to_owned(),
            verbs: STATUS_VERBS.iter().map(|s| (*s).to_owned()).collect(),
        });
    }
    if rt.status {
        subs.push(own("status", STATUS_VERBS));
    }
    subs.sort_by(|a, b| a.name.cmp(&b.name));
    subs
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") }
}

impl Registry {
    /// `GET /api`: the core group's versions (`APIVersions`).
    ///
    /// `serverAddressByClientCIDRs` is empty: clients use the address they
    /// already reached the server at.
    pub fn api_versions(&self) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": self.versions(""),
            "serverAddressByClientCIDRs": [],
        })
    }

    /// `GET /apis`: every named group (`APIGroupList`).
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(|g| {
                let versions: Vec<Value> = self
                    .versions(&g)
                    .iter()
                    .map(|v| json!({"groupVersion": group_version(&g, v), "version": v}))
                    .collect();
                let preferred = versions.first().cloned().unwrap_or(Value::Null);
                json!({"name": g, "versions": versions, "preferredVersion": preferred})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `GET /apis/<group>` (`APIGroup`), if the group is served.
    pub fn api_group(&self, group: &str) -> Option<Value> {
        let versions: Vec<Value> = self
            .versions(group)
            .iter()
            .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
            .collect();
        let preferred = versions.first()?.clone();
        Some(
            json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions, "preferredVersion": preferred}),
        )
    }

    /// `GET /api/v1` or `GET /apis/<group>/<version>`: the resources of a
    /// group version, subresources included (`APIResourceList`), if served.
    pub fn api_resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let mut resources = Vec::new();
        for rt in self.resources_in(group, version) {
            let mut r = Map::new();
            r.insert("name".into(), json!(rt.plural));
            r.insert("singularName".into(), json!(rt.singular));
            r.insert("namespaced".into(), json!(rt.namespaced));
            r.insert("kind".into(), json!(rt.kind));
            r.insert("verbs".into(), json!(rt.verbs));
            if !rt.short_names.is_empty() {
                r.insert("shortNames".into(), json!(rt.short_names));
            }
            if !rt.categories.is_empty() {
                r.insert("categories".into(), json!(rt.categories));
            }
            resources.push(Value::Object(r));
            for sub in subresources(rt) {
                let mut s = Map::new();
                s.insert("name".into(), json!(format!("{}/{}", rt.plural, sub.name)));
                s.insert("singularName".into(), json!(""));
                s.insert("namespaced".into(), json!(rt.namespaced));
                if sub.group != rt.group || sub.version != rt.version {
                    s.insert("group".into(), json!(sub.group));
                    s.insert("version".into(), json!(sub.version));
                }
                s.insert("kind".into(), json!(sub.kind));
                s.insert("verbs".into(), json!(sub.verbs));
                resources.push(Value::Object(s));
            }
        }
        if resources.is_empty() {
            return None;
        }
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version(group, version),
            "resources": resources,
        }))
    }

    /// Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`):
    /// for `GET /api` (`Legacy::Core`, the core group only) or `GET /apis`
    /// (`Legacy::Named`, every named group). Serve it with the content type
    /// `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
    pub fn aggregated_discovery(&self, which: Discovery) -> Value {
        let items: Vec<Value> = self
            .groups()
            .into_iter()
            .filter(|g| g.is_empty() == (which == Discovery::Core))
            .map(|g| {
                let versions: Vec<Value> = self
                    .versions(&g)
                    .iter()
                    .map(|v| {
                        let resources: Vec<Value> = self.resources_in(&g, v).map(|rt| discovery_resource(rt)).collect();
                        json!({"version": v, "resources": resources, "freshness": "Current"})
                    })
                    .collect();
                let metadata = if g.is_empty() {
                    json!({"creationTimestamp": null})
                } else {
                    json!({"name": g, "creationTimestamp": null})
                };
                json!({"metadata": metadata, "versions": versions})
            })
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        })
    }
}

/// Which aggregated discovery document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `/api`: the core group.
    Core,
    /// `/apis`: the named groups.
    Named,
}

fn discovery_resource(rt: &ResourceType) -> Value {
    let mut r = Map::new();
    r.insert("resource".into(), json!(rt.plural));
    r.insert("responseKind".into(), json!({"group": rt.group, "version": rt.version, "kind": rt.kind}));
    r.insert("scope".into(), json!(if rt.namespaced { "Namespaced" } else { "Cluster" }));
    r.insert("singularResource".into(), json!(rt.singular));
    r.insert("verbs".into(), json!(rt.verbs));
    if !rt.short_names.is_empty() {
        r.insert("shortNames".into(), json!(rt.short_names));
    }
    if !rt.categories.is_empty() {
        r.insert("categories".into(), json!(rt.categories));
    }
    let subs: Vec<Value> = subresources(rt)
        .into_iter()
        .map(|s| {
            json!({
                "subresource": s.name,
                "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                "verbs": s.verbs,
            })
        })
        .collect();
    if !subs.is_empty() {
        r.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(r)
}
