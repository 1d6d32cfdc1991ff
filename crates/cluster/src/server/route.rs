//! Parsing Kubernetes API paths.

/// A resource request: which resource, where, and which object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Object name, if the path names one.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
}

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/api`.
    LegacyRoot,
    /// `/apis`.
    GroupsRoot,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion {
        /// Group.
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v3`.
    OpenApiV3Index,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
    OpenApiV3 {
        /// Group.
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v2`.
    OpenApiV2,
    /// A resource collection, object or subresource.
    Resource(Target),
}

/// Parses a request path; `None` when it is not an API path.
pub fn parse(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    match segs.as_slice() {
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::LegacyRoot),
        ["apis"] => Some(Route::GroupsRoot),
        ["apis", group] => Some(Route::Group((*group).to_owned())),
        ["api", version] => Some(Route::GroupVersion { group: String::new(), version: (*version).to_owned() }),
        ["apis", group, version] => {
            Some(Route::GroupVersion { group: (*group).to_owned(), version: (*version).to_owned() })
        }
        ["openapi", "v2"] => Some(Route::OpenApiV2),
        ["openapi", "v3"] => Some(Route::OpenApiV3Index),
        ["openapi", "v3", "api", version] => {
            Some(Route::OpenApiV3 { group: String::new(), version: (*version).to_owned() })
        }
        ["openapi", "v3", "apis", group, version] => {
            Some(Route::OpenApiV3 { group: (*group).to_owned(), version: (*version).to_owned() })
        }
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => None,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let target = |namespace: Option<&str>, resource: &str, name: Option<&str>, sub: Option<&str>| {
        Some(Route::Resource(Target {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
        }))
    };
    // `namespaces/<ns>/status` and `namespaces/<ns>/finalize` address the
    // namespace itself; any other third segment is a resource in it.
    let is_namespace_sub = |s: &str| s == "status" || s == "finalize";
    match rest {
        [res] => target(None, res, None, None),
        [res, name] => target(None, res, Some(name), None),
        ["namespaces", ns, sub] if group.is_empty() && is_namespace_sub(sub) => {
            target(None, "namespaces", Some(ns), Some(sub))
        }
        ["namespaces", ns, res] => target(Some(ns), res, None, None),
        [res, name, sub] => target(None, res, Some(name), Some(sub)),
        ["namespaces", ns, res, name] => target(Some(ns), res, Some(name), None),
        ["namespaces", ns, res, name, sub] => target(Some(ns), res, Some(name), Some(sub)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(group: &str, resource: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>) -> Option<Route> {
        Some(Route::Resource(Target {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            namespace: ns.map(Into::into),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
        }))
    }

    #[test]
    fn paths() {
        assert_eq!(parse("/api"), Some(Route::LegacyRoot));
        assert_eq!(parse("/apis/"), Some(Route::GroupsRoot));
        assert_eq!(parse("/api/v1/pods"), t("", "pods", None, None, None));
        assert_eq!(parse("/api/v1/namespaces"), t("", "namespaces", None, None, None));
        assert_eq!(parse("/api/v1/namespaces/default"), t("", "namespaces", None, Some("default"), None));
        assert_eq!(
            parse("/api/v1/namespaces/default/status"),
            t("", "namespaces", None, Some("default"), Some("status"))
        );
        assert_eq!(parse("/api/v1/namespaces/default/pods"), t("", "pods", Some("default"), None, None));
        assert_eq!(parse("/api/v1/namespaces/a/pods/b"), t("", "pods", Some("a"), Some("b"), None));
        assert_eq!(
            parse("/apis/apps/v1/namespaces/a/deployments/b/scale"),
            t("apps", "deployments", Some("a"), Some("b"), Some("scale"))
        );
        assert_eq!(parse("/apis/apps/v1/deployments"), t("apps", "deployments", None, None, None));
        assert_eq!(parse("/api/v1/nodes/n1/status"), t("", "nodes", None, Some("n1"), Some("status")));
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Some(Route::OpenApiV3 { group: "apps".into(), version: "v1".into() })
        );
        assert_eq!(parse("/api/v1/namespaces/a/pods/b/c/d"), None);
        assert_eq!(parse("/api/v1/namespaces/../pods"), None);
        assert_eq!(parse("/nope"), None);
    }
}
