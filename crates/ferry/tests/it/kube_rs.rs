//! kube-rs (the client the engine uses) against the local cluster: typed and
//! dynamic APIs, every patch type, optimistic concurrency, selectors,
//! pagination, dry runs, field validation, generation, finalizers,
//! authentication and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::collections::BTreeMap;

use common::{DEADLINE, Server, Stop, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{GroupVersionKind, Status};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

fn config_map(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some(name.to_owned()), ..Default::default() },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [
                    {"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "side", "image": "busybox:1"}
                ]}
            }
        }
    }))
    .unwrap()
}

/// The API error's status, or a panic naming what happened instead.
#[track_caller]
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn rv_of<K: kube::Resource>(obj: &K) -> u64 {
    obj.meta().resource_version.as_deref().expect("resourceVersion").parse().expect("numeric resourceVersion")
}

#[tokio::test]
async fn typed_config_map_create_get_list_replace_delete() {
    let server = Server::start().await;
    let client = server.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &config_map("one", &[("k", "v")])).await.unwrap();
    assert!(!created.uid().unwrap_or_default().is_empty());
    assert!(created.creation_timestamp().is_some());
    assert!(created.managed_fields().iter().any(|m| m.operation.as_deref() == Some("Update")), "{created:?}");

    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["k"], "v");
    assert_eq!(got.uid(), created.uid());

    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().any(|c| c.name_any() == "one"));
    let list_rv: u64 = list.metadata.resource_version.as_deref().unwrap().parse().unwrap();
    assert!(list_rv >= rv_of(&created));

    let mut changed = got.clone();
    changed.data.as_mut().unwrap().insert("k2".into(), "v2".into());
    let replaced = api.replace("one", &PostParams::default(), &changed).await.unwrap();
    assert!(rv_of(&replaced) > rv_of(&got), "resourceVersion increases");
    assert_eq!(replaced.data.as_ref().unwrap().len(), 2);

    let dup = api_error(api.create(&PostParams::default(), &config_map("one", &[])).await);
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"), "{dup:?}");

    api.delete("one", &DeleteParams::default()).await.unwrap();
    let gone = api_error(api.get("one").await);
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"), "{gone:?}");
    assert!(api.get_opt("one").await.unwrap().is_none());
    let again = api_error(api.delete("one", &DeleteParams::default()).await);
    assert_eq!(again.code, 404);
}

#[tokio::test]
async fn stale_resource_version_replace_is_a_conflict() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let first = api.create(&PostParams::default(), &config_map("c", &[("n", "0")])).await.unwrap();
    let mut a = first.clone();
    a.data.as_mut().unwrap().insert("n".into(), "1".into());
    api.replace("c", &PostParams::default(), &a).await.unwrap();
    let mut b = first.clone();
    b.data.as_mut().unwrap().insert("n".into(), "2".into());
    let conflict = api_error(api.replace("c", &PostParams::default(), &b).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"), "{conflict:?}");
    assert_eq!(api.get("c").await.unwrap().data.unwrap()["n"], "1", "the stale write changed nothing");

    // Same with a patch carrying a stale resourceVersion precondition.
    let stale = json!({"metadata": {"resourceVersion": first.resource_version()}, "data": {"n": "3"}});
    let conflict = api_error(api.patch("c", &PatchParams::default(), &Patch::Merge(&stale)).await);
    assert_eq!(conflict.code, 409, "{conflict:?}");
}

#[tokio::test]
async fn patches_merge_json_strategic_and_apply() {
    let server = Server::start().await;
    let api: Api<Deployment> = Api::namespaced(server.client().await, "default");
    api.create(&PostParams::default(), &deployment("d", 1)).await.unwrap();

    let merged = api
        .patch("d", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"m": "1"}}})))
        .await
        .unwrap();
    assert_eq!(merged.labels()["m"], "1");
    assert_eq!(merged.labels()["app"], "d");

    let ops: Value = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}, {"op": "add", "path": "/metadata/labels/j", "value": "2"}]);
    let jsoned = api
        .patch("d", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(ops).unwrap()))
        .await
        .unwrap();
    assert_eq!(jsoned.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(jsoned.labels()["j"], "2");

    // Strategic: containers merge by name, env by name.
    let strategic = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}
    ]}}}});
    let patched = api.patch("d", &PatchParams::default(), &Patch::Strategic(strategic)).await.unwrap();
    let containers = &patched.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers;
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:2"));
    let mut env: Vec<&str> = containers[0].env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
    env.sort();
    assert_eq!(env, ["A", "B"], "env merges by name");
    assert_eq!(containers[1].name, "side");

    // Server-side apply: a second manager conflicts on replicas, then forces.
    let apply =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 5}});
    let mine = api.patch("d", &PatchParams::apply("alice").force(), &Patch::Apply(&apply)).await.unwrap();
    assert_eq!(mine.spec.as_ref().unwrap().replicas, Some(5));
    let theirs =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 7}});
    let conflict = api_error(api.patch("d", &PatchParams::apply("bob"), &Patch::Apply(&theirs)).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"), "{conflict:?}");
    let causes = conflict.details.as_ref().map(|d| d.causes.clone()).unwrap_or_default();
    assert!(
        causes.iter().any(|c| c.field.contains("spec.replicas")),
        "conflict cause names spec.replicas: {conflict:?}"
    );
    assert!(conflict.message.contains("alice"), "names the owning manager: {}", conflict.message);
    let forced = api.patch("d", &PatchParams::apply("bob").force(), &Patch::Apply(&theirs)).await.unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(7));
    let bob =
        forced.managed_fields().iter().find(|m| m.manager.as_deref() == Some("bob")).expect("bob's entry").clone();
    let fields = serde_json::to_value(&bob.fields_v1).unwrap();
    assert!(fields.pointer("/f:spec/f:replicas").is_some(), "{fields}");
    let alice_owns_replicas = forced.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some("alice")
            && serde_json::to_value(&m.fields_v1).unwrap().pointer("/f:spec/f:replicas").is_some()
    });
    assert!(!alice_owns_replicas, "force takes the field away from alice");
}

#[tokio::test]
async fn dynamic_objects_through_discovery() {
    let server = Server::start().await;
    let client = server.client().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("apps/v1 Deployment discovered");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        caps.subresources.iter().any(|(sub, _)| sub.plural == "deployments/scale" || sub.plural == "scale"),
        "{caps:?}"
    );
    let (node_ar, node_caps) = discovery.resolve_gvk(&GroupVersionKind::gvk("", "v1", "Node")).expect("nodes");
    assert_eq!(node_caps.scope, Scope::Cluster);
    for group in [
        "",
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "policy",
        "autoscaling",
    ] {
        assert!(discovery.has_group(group), "group {group:?} discovered");
    }

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(serde_json::to_value(deployment("dyn", 1)).unwrap()).unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.data["spec"]["replicas"], 1);
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert!(listed.items.iter().any(|o| o.name_any() == "dyn"));
    let patched =
        api.patch("dyn", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    assert_eq!(patched.data["spec"]["replicas"], 2);

    let nodes: Api<DynamicObject> = Api::all_with(client, &node_ar);
    let list = nodes.list(&ListParams::default()).await.unwrap();
    assert!(!list.items.is_empty(), "a node exists");
}

#[tokio::test]
async fn label_and_field_selectors() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    for (name, labels) in [
        ("s1", vec![("app", "web"), ("tier", "front")]),
        ("s2", vec![("app", "web"), ("tier", "back")]),
        ("s3", vec![("app", "db")]),
        ("s4", vec![]),
    ] {
        let mut cm = config_map(name, &[]);
        cm.metadata.labels =
            Some(labels.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<BTreeMap<_, _>>());
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| {
        let mut n: Vec<String> = list.items.iter().map(|c| c.name_any()).filter(|n| n.starts_with('s')).collect();
        n.sort();
        n
    };
    let cases: [(&str, &[&str]); 9] = [
        ("app=web", &["s1", "s2"]),
        ("app==web", &["s1", "s2"]),
        ("app!=web", &["s3", "s4"]),
        ("app in (web,db)", &["s1", "s2", "s3"]),
        ("app notin (web)", &["s3", "s4"]),
        ("tier", &["s1", "s2"]),
        ("!tier", &["s3", "s4"]),
        ("app=web,tier=back", &["s2"]),
        ("app=web,tier notin (back)", &["s1"]),
    ];
    for (selector, want) in cases {
        let got = names(api.list(&ListParams::default().labels(selector)).await.unwrap());
        assert_eq!(got, want, "selector {selector}");
    }
    let by_name = names(api.list(&ListParams::default().fields("metadata.name=s3")).await.unwrap());
    assert_eq!(by_name, ["s3"]);
    let not_name = names(api.list(&ListParams::default().fields("metadata.name!=s3")).await.unwrap());
    assert_eq!(not_name, ["s1", "s2", "s4"]);
    let both =
        names(api.list(&ListParams::default().fields("metadata.namespace=default").labels("app=db")).await.unwrap());
    assert_eq!(both, ["s3"]);
    let none = names(api.list(&ListParams::default().fields("metadata.namespace=other")).await.unwrap());
    assert!(none.is_empty());

    // deletecollection honours the selector.
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("app=web")).await.unwrap();
    let left = names(api.list(&ListParams::default()).await.unwrap());
    assert_eq!(left, ["s3", "s4"]);

    let bad = api_error(api.list(&ListParams::default().labels("app in (web")).await);
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"), "{bad:?}");
    let bad_field = api_error(api.list(&ListParams::default().fields("spec.nothing=1")).await);
    assert_eq!(bad_field.code, 400, "unsupported field selector: {bad_field:?}");
}

#[tokio::test]
async fn pagination_is_a_consistent_snapshot() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    for i in 0..25 {
        api.create(&PostParams::default(), &config_map(&format!("page-{i:02}"), &[("v", "0")])).await.unwrap();
    }
    let lp = ListParams::default().labels("").limit(10);
    let first = api.list(&lp).await.unwrap();
    assert_eq!(first.items.len(), 10);
    let snapshot_rv = first.metadata.resource_version.clone().unwrap();
    let mut token = first.metadata.continue_.clone().expect("a continue token");
    assert!(first.metadata.remaining_item_count.is_none_or(|n| n > 0));
    let mut seen: Vec<ConfigMap> = first.items;

    // Writes between pages must not show up in later pages.
    api.create(&PostParams::default(), &config_map("page-99", &[])).await.unwrap();
    api.delete("page-24", &DeleteParams::default()).await.unwrap();
    api.patch("page-20", &PatchParams::default(), &Patch::Merge(json!({"data": {"v": "changed"}}))).await.unwrap();

    loop {
        let page = api.list(&ListParams::default().limit(10).continue_token(&token)).await.unwrap();
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(snapshot_rv.as_str()),
            "every page is of the same snapshot"
        );
        seen.extend(page.items);
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = t,
            _ => break,
        }
    }
    let names: Vec<String> = seen.iter().map(|c| c.name_any()).filter(|n| n.starts_with("page-")).collect();
    let want: Vec<String> = (0..25).map(|i| format!("page-{i:02}")).collect();
    assert_eq!(names, want, "every object once, in order, as of the first page");
    let p20 = seen.iter().find(|c| c.name_any() == "page-20").unwrap();
    assert_eq!(p20.data.as_ref().unwrap()["v"], "0", "the snapshot's version of page-20");

    let all = api.list(&ListParams::default()).await.unwrap();
    assert!(all.metadata.continue_.as_deref().unwrap_or("").is_empty());
    assert!(all.items.iter().any(|c| c.name_any() == "page-99"));
    assert!(!all.items.iter().any(|c| c.name_any() == "page-24"));

    let bad = api_error(api.list(&ListParams::default().limit(10).continue_token("garbage")).await);
    assert_eq!(bad.code, 400, "{bad:?}");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let dry = PostParams { dry_run: true, ..Default::default() };
    let would = api.create(&dry, &config_map("dry", &[("a", "1")])).await.unwrap();
    assert_eq!(would.name_any(), "dry");
    assert!(api.get_opt("dry").await.unwrap().is_none(), "dry-run create left an object");

    let real = api.create(&PostParams::default(), &config_map("real", &[("a", "1")])).await.unwrap();
    let patched =
        api.patch("real", &PatchParams::default().dry_run(), &Patch::Merge(json!({"data": {"a": "2"}}))).await.unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["a"], "2", "dry run returns the would-be object");
    let applied = api
        .patch(
            "real",
            &PatchParams::apply("dry").force().dry_run(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}, "data": {"b": "3"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["b"], "3");
    let mut replaced = real.clone();
    replaced.data = Some(BTreeMap::from([("c".to_owned(), "4".to_owned())]));
    api.replace("real", &dry, &replaced).await.unwrap();
    api.delete("real", &DeleteParams::default().dry_run()).await.unwrap();

    let now = api.get("real").await.unwrap();
    assert_eq!(now.data.unwrap(), BTreeMap::from([("a".to_owned(), "1".to_owned())]));
    assert_eq!(
        now.metadata.resource_version, real.metadata.resource_version,
        "no dry-run write bumped the resourceVersion"
    );
}

#[tokio::test]
async fn field_validation_strict_warn_and_ignore() {
    let server = Server::start().await;
    let client = server.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // kube-rs' PostParams has no fieldValidation, so creates go raw.
    let create = |name: &str, validation: &str| {
        let client = client.clone();
        let body = serde_json::to_vec(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}, "bogus": true}),
        )
        .unwrap();
        let path = format!("/api/v1/namespaces/default/configmaps?fieldValidation={validation}");
        async move { common::raw_with(&client, "POST", &path, Some("application/json"), body).await }
    };
    let (code, body) = create("strict", "Strict").await;
    let err: Status =
        serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{code}: {}", String::from_utf8_lossy(&body)));
    assert_eq!((code, err.code, err.reason.as_str()), (400, 400, "BadRequest"), "{err:?}");
    assert!(err.message.contains("bogus"), "names the unknown field: {}", err.message);
    assert!(api.get_opt("strict").await.unwrap().is_none());

    for (name, validation) in [("warn", "Warn"), ("ignore", "Ignore")] {
        let (code, body) = create(name, validation).await;
        assert_eq!(code, 201, "{validation}: {}", String::from_utf8_lossy(&body));
        let created: Value = serde_json::from_slice(&body).unwrap();
        assert!(created.get("bogus").is_none(), "unknown field dropped: {created}");
        assert_eq!(created["data"]["a"], "1");
    }

    // Strict also applies to patches and nested unknown fields.
    let deploys: Api<Deployment> = Api::namespaced(server.client().await, "default");
    deploys.create(&PostParams::default(), &deployment("v", 1)).await.unwrap();
    let pp = PatchParams { field_validation: Some(kube::api::ValidationDirective::Strict), ..Default::default() };
    let err = api_error(
        deploys.patch("v", &pp, &Patch::Merge(json!({"spec": {"template": {"spec": {"nodeSelectr": {}}}}}))).await,
    );
    assert_eq!(err.code, 400, "{err:?}");
    assert!(err.message.contains("nodeSelectr"), "{}", err.message);
    // Duplicate fields are errors under Strict too.
    let (code, body) = server
        .raw(
            "POST",
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            Some("application/json"),
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}"#
                .to_vec(),
        )
        .await;
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let server = Server::start_with(common::ServerOptions { simulation: common::Sim::Off, ..Default::default() }).await;
    let api: Api<Deployment> = Api::namespaced(server.client().await, "default");
    let created = api.create(&PostParams::default(), &deployment("g", 1)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = api
        .patch("g", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1), "metadata changes keep generation");
    let scaled =
        api.patch("g", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    let same = api.patch("g", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    assert_eq!(same.metadata.generation, Some(2), "a no-op spec write keeps generation");
    assert_eq!(same.resource_version(), scaled.resource_version(), "a no-op write keeps resourceVersion");

    let status = json!({"status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 1}});
    let with_status = api.patch_status("g", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    assert_eq!(with_status.metadata.generation, Some(2), "status changes keep generation");
    assert_eq!(with_status.status.as_ref().unwrap().ready_replicas, Some(1));

    // The main resource ignores status; the status subresource ignores spec.
    let ignored =
        api.patch("g", &PatchParams::default(), &Patch::Merge(json!({"status": {"readyReplicas": 9}}))).await.unwrap();
    assert_eq!(ignored.status.as_ref().unwrap().ready_replicas, Some(1));
    let spec_via_status =
        api.patch_status("g", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 9}}))).await.unwrap();
    assert_eq!(spec_via_status.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(spec_via_status.metadata.generation, Some(2));

    // Scale subresource.
    let scale = api.get_scale("g").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    api.patch_scale("g", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}}))).await.unwrap();
    let now = api.get("g").await.unwrap();
    assert_eq!(now.spec.as_ref().unwrap().replicas, Some(4));
    assert_eq!(now.metadata.generation, Some(3));

    // ConfigMaps have no spec and no generation bumps from data changes
    // beyond what Kubernetes does (it leaves generation unset).
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let cm = cms.create(&PostParams::default(), &config_map("nogen", &[])).await.unwrap();
    assert!(cm.metadata.generation.is_none_or(|g| g == 1), "{cm:?}");
}

#[tokio::test]
async fn finalizers_hold_an_object_until_cleared() {
    let server = Server::start().await;
    let api: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let mut cm = config_map("held", &[]);
    cm.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
    api.create(&PostParams::default(), &cm).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let terminating = api.get("held").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some(), "{terminating:?}");
    assert_eq!(terminating.finalizers(), ["example.com/hold"]);
    // Deleting again changes nothing; adding new finalizers is still allowed
    // but the object can no longer be updated to remove deletionTimestamp.
    api.delete("held", &DeleteParams::default()).await.unwrap();
    assert!(api.get("held").await.unwrap().metadata.deletion_timestamp.is_some());
    let refused = api_error(api.create(&PostParams::default(), &config_map("held", &[])).await);
    assert_eq!(refused.code, 409, "{refused:?}");

    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    eventually("held to be gone", DEADLINE, || async {
        match api.get_opt("held").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn generate_name_and_global_resource_versions() {
    let server = Server::start().await;
    let client = server.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut template = config_map("", &[]);
    template.metadata.name = None;
    template.metadata.generate_name = Some("gen-".to_owned());
    let a = cms.create(&PostParams::default(), &template).await.unwrap();
    let b = cms.create(&PostParams::default(), &template).await.unwrap();
    assert!(a.name_any().starts_with("gen-") && a.name_any().len() > 4);
    assert_ne!(a.name_any(), b.name_any());
    // One counter across kinds and namespaces.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "kube-system");
    let d = deploys.create(&PostParams::default(), &deployment("rv", 1)).await.unwrap();
    let c = cms.create(&PostParams::default(), &config_map("after", &[])).await.unwrap();
    assert!(rv_of(&a) < rv_of(&b) && rv_of(&b) < rv_of(&d) && rv_of(&d) < rv_of(&c));
}

#[tokio::test]
async fn requests_without_the_token_get_401() {
    let server = Server::start().await;
    let anonymous = server.anonymous_client().await;
    let api: Api<ConfigMap> = Api::namespaced(anonymous.clone(), "default");
    let err = api_error(api.list(&ListParams::default()).await);
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"), "{err:?}");
    let (code, _) = common::raw_with(&anonymous, "GET", "/api", None, Vec::new()).await;
    assert_eq!(code, 401);

    let wrong = server.client_with_token("wrong-token").await;
    let err = api_error(Api::<ConfigMap>::namespaced(wrong, "default").get("x").await);
    assert_eq!(err.code, 401, "{err:?}");
    // Health endpoints need no token.
    for path in ["/healthz", "/livez", "/readyz"] {
        let (code, body) = common::raw_with(&anonymous, "GET", path, None, Vec::new()).await;
        assert_eq!((code, String::from_utf8_lossy(&body).trim()), (200, "ok"), "{path}");
    }
}

#[tokio::test]
async fn restart_keeps_objects_uids_and_resource_versions() {
    let server = Server::start().await;
    let client = server.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let a = cms.create(&PostParams::default(), &config_map("keep-a", &[("x", "1")])).await.unwrap();
    cms.create(&PostParams::default(), &config_map("keep-b", &[("x", "2")])).await.unwrap();
    let b = cms.patch("keep-b", &PatchParams::default(), &Patch::Merge(json!({"data": {"x": "3"}}))).await.unwrap();
    cms.create(&PostParams::default(), &config_map("gone", &[])).await.unwrap();
    cms.delete("gone", &DeleteParams::default()).await.unwrap();
    let before = cms.list(&ListParams::default()).await.unwrap();
    let token = server.token.clone();

    let server = server.restart(Stop::Graceful).await;
    assert_eq!(server.token, token, "the token survives restarts");
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    for original in [&a, &b] {
        let now = cms.get(&original.name_any()).await.unwrap();
        assert_eq!(now.uid(), original.uid());
        assert_eq!(now.resource_version(), original.resource_version());
        assert_eq!(now.data, original.data);
    }
    assert!(cms.get_opt("gone").await.unwrap().is_none());
    let after = cms.list(&ListParams::default()).await.unwrap();
    let list_rv =
        |l: &kube::core::ObjectList<ConfigMap>| l.metadata.resource_version.clone().unwrap().parse::<u64>().unwrap();
    assert!(list_rv(&after) >= list_rv(&before), "resourceVersion never goes back");

    let server = server.restart(Stop::Kill).await;
    let cms: Api<ConfigMap> = Api::namespaced(server.client().await, "default");
    let now = cms.get("keep-b").await.unwrap();
    assert_eq!((now.uid(), now.resource_version()), (b.uid(), b.resource_version()));
    let next = cms.create(&PostParams::default(), &config_map("post-restart", &[])).await.unwrap();
    assert!(rv_of(&next) > rv_of(&b), "new writes continue the counter");
    // kubectl still works with the same kubeconfig path (new port written).
    let out = server.kubectl(&["get", "cm", "keep-a", "-o", "jsonpath={.metadata.uid}"]).await.ok();
    assert_eq!(Some(out.stdout), a.uid());
}

#[tokio::test]
async fn scale_subresource_of_statefulsets_and_replicasets() {
    use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
    let server = Server::start_with(common::ServerOptions { simulation: common::Sim::Off, ..Default::default() }).await;
    let client = server.client().await;
    let template = json!({
        "metadata": {"labels": {"app": "s"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}
    });
    let sts: StatefulSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
        "spec": {"serviceName": "s", "replicas": 1, "selector": {"matchLabels": {"app": "s"}}, "template": template}
    }))
    .unwrap();
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "s"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "s"}}, "template": template}
    }))
    .unwrap();
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    stss.create(&PostParams::default(), &sts).await.unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();

    let scale = stss.get_scale("s").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(scale.metadata.name.as_deref(), Some("s"));
    stss.patch_scale("s", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    assert_eq!(stss.get("s").await.unwrap().spec.unwrap().replicas, Some(3));

    let mut scale = rss.get_scale("s").await.unwrap();
    scale.spec.as_mut().unwrap().replicas = Some(2);
    rss.replace_scale("s", &PostParams::default(), &scale).await.unwrap();
    assert_eq!(rss.get("s").await.unwrap().spec.unwrap().replicas, Some(2));
    // A stale resourceVersion on the Scale conflicts like on the object.
    let stale = api_error(rss.replace_scale("s", &PostParams::default(), &scale).await);
    assert_eq!(stale.code, 409, "{stale:?}");
}
