use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::{Gvk, Schema};

const TIME: &str = "2025-01-01T00:00:00Z";

fn deployment() -> TypeRef<'static> {
    Schema::builtin().root(&Gvk::new("apps", "v1", "Deployment")).expect("deployment schema")
}

fn request(manager: &str) -> Request<'_> {
    Request { manager, api_version: "apps/v1", time: TIME, subresource: None }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One golden case: `testdata/apply/<case>/` with `request.json`
/// (`operation` apply|update, `manager`, `apiVersion`, `time`, `subresource`,
/// `force`, `schema`: "group/version/Kind", "crd" for `crd-schema.json`, or
/// absent), `live.json` (absent to create), `applied.json` (apply) or
/// `new.json` (update), and `expected.json` or `expected-error.txt`.
fn run_case(dir: &Path) -> Result<Value, String> {
    let req = read_json(&dir.join("request.json"));
    let text = |name: &str| req.get(name).and_then(Value::as_str);
    let crd_schema;
    let ty = match text("schema") {
        None => None,
        Some("crd") => {
            crd_schema = Schema::from_crd(&read_json(&dir.join("crd-schema.json")));
            Some(crd_schema.crd_root().expect("crd root"))
        }
        Some(gvk) => {
            let parts: Vec<&str> = gvk.split('/').collect();
            let (group, version, kind) = match parts.as_slice() {
                [v, k] => ("", *v, *k),
                [g, v, k] => (*g, *v, *k),
                _ => panic!("bad schema {gvk}"),
            };
            Some(Schema::builtin().root(&Gvk::new(group, version, kind)).expect("builtin kind"))
        }
    };
    let request = Request {
        manager: text("manager").expect("manager"),
        api_version: text("apiVersion").expect("apiVersion"),
        time: text("time").unwrap_or(TIME),
        subresource: text("subresource"),
    };
    let live_path = dir.join("live.json");
    let live = live_path.exists().then(|| read_json(&live_path));
    match text("operation").unwrap_or("apply") {
        "apply" => {
            let force = if req.get("force") == Some(&Value::Bool(true)) { Force::Yes } else { Force::No };
            apply(live.as_ref(), &read_json(&dir.join("applied.json")), ty, &request, force).map_err(|e| e.to_string())
        }
        "update" => Ok(record_update(live.as_ref(), read_json(&dir.join("new.json")), ty, &request)),
        other => panic!("unknown operation {other}"),
    }
}

#[test]
fn golden_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/apply");
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("testdata/apply")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "expected the golden cases under {}", root.display());
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let (expected_ok, expected_err) = (dir.join("expected.json"), dir.join("expected-error.txt"));
        let got = run_case(dir);
        if bless {
            let _ = std::fs::remove_file(&expected_ok);
            let _ = std::fs::remove_file(&expected_err);
            match &got {
                Ok(v) => std::fs::write(&expected_ok, serde_json::to_string_pretty(v).expect("json") + "\n"),
                Err(e) => std::fs::write(&expected_err, format!("{e}\n")),
            }
            .expect("bless");
            continue;
        }
        match got {
            Ok(v) if expected_ok.exists() => {
                if v != read_json(&expected_ok) {
                    failures.push(format!("{name}: got\n{}", serde_json::to_string_pretty(&v).expect("json")));
                }
            }
            Err(e) if expected_err.exists() => {
                let want = std::fs::read_to_string(&expected_err).expect("expected-error.txt");
                if e != want.trim_end() {
                    failures.push(format!("{name}: got error\n{e}"));
                }
            }
            Ok(v) => failures.push(format!("{name}: expected an error, got\n{v}")),
            Err(e) => failures.push(format!("{name}: unexpected error {e}")),
        }
    }
    assert!(failures.is_empty(), "golden mismatches (FERRY_BLESS=1 rewrites):\n{}", failures.join("\n\n"));
}

fn nginx(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image}]}
            }
        }
    })
}

fn entry(obj: &Value, manager: &str, operation: Operation) -> Option<ManagedEntry> {
    read_managed(obj)
        .expect("managedFields")
        .into_iter()
        .find(|e: &ManagedEntry| e.manager == manager && e.operation == operation)
}

#[test]
fn reapplying_the_same_configuration_changes_nothing() {
    let first = apply(None, &nginx(2, "nginx:1"), Some(deployment()), &request("kubectl"), Force::No).expect("create");
    let later = Request { time: "2025-02-02T00:00:00Z", ..request("kubectl") };
    let second = apply(Some(&first), &nginx(2, "nginx:1"), Some(deployment()), &later, Force::No).expect("re-apply");
    // Same object, and the entry keeps its time: nothing changed.
    assert_eq!(first, second);
}

#[test]
fn apply_entry_time_moves_when_the_object_changes() {
    let first = apply(None, &nginx(2, "nginx:1"), Some(deployment()), &request("kubectl"), Force::No).expect("create");
    let later = Request { time: "2025-02-02T00:00:00Z", ..request("kubectl") };
    let second = apply(Some(&first), &nginx(3, "nginx:1"), Some(deployment()), &later, Force::No).expect("re-apply");
    let e = entry(&second, "kubectl", Operation::Apply).expect("entry");
    assert_eq!(e.time.as_deref(), Some("2025-02-02T00:00:00Z"));
    assert_eq!(second["spec"]["replicas"], json!(3));
}

#[test]
fn update_then_apply_conflicts_and_force_moves_ownership() {
    let created = record_update(None, nginx(2, "nginx:1"), Some(deployment()), &request("kubectl-create"));
    let applied = nginx(2, "nginx:2");
    let err =
        apply(Some(&created), &applied, Some(deployment()), &request("kubectl"), Force::No).expect_err("conflict");
    let ApplyError::Conflicts(conflicts) = &err else { panic!("{err}") };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, r#".spec.template.spec.containers[name="nginx"].image"#);
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: .spec.template.spec.containers[name="nginx"].image"#
    );

    let forced = apply(Some(&created), &applied, Some(deployment()), &request("kubectl"), Force::Yes).expect("force");
    assert_eq!(forced["spec"]["template"]["spec"]["containers"][0]["image"], json!("nginx:2"));
    let image: Vec<PathElement> = vec![
        PathElement::Field("spec".into()),
        PathElement::Field("template".into()),
        PathElement::Field("spec".into()),
        PathElement::Field("containers".into()),
        PathElement::Key(serde_json::from_value(json!({"name": "nginx"})).expect("key")),
        PathElement::Field("image".into()),
    ];
    assert!(entry(&forced, "kubectl", Operation::Apply).expect("applier").fields.contains(&image));
    let creator = entry(&forced, "kubectl-create", Operation::Update).expect("creator keeps the rest");
    assert!(!creator.fields.contains(&image));
    // Replicas had the same value: shared, not taken.
    let replicas = [PathElement::Field("spec".into()), PathElement::Field("replicas".into())];
    assert!(creator.fields.contains(&replicas));
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let conflicts = vec![
        Conflict {
            manager: "b".into(),
            operation: Operation::Apply,
            api_version: "v1".into(),
            subresource: None,
            field: ".data.x".into(),
        },
        Conflict {
            manager: "a".into(),
            operation: Operation::Update,
            api_version: "v1".into(),
            subresource: Some("status".into()),
            field: ".status.phase".into(),
        },
        Conflict {
            manager: "b".into(),
            operation: Operation::Apply,
            api_version: "v1".into(),
            subresource: None,
            field: ".data.y".into(),
        },
    ];
    assert_eq!(
        ApplyError::Conflicts(conflicts).to_string(),
        "Apply failed with 3 conflicts: conflicts with \"a\" with subresource \"status\" using v1:\n- .status.phase\nconflicts with \"b\":\n- .data.x\n- .data.y"
    );
}

#[test]
fn apply_rejects_what_kubernetes_rejects() {
    let req = request("kubectl");
    for (applied, want) in
        [(json!([1]), "must be an object"), (json!({"metadata": {"managedFields": []}}), "managedFields must be nil")]
    {
        let err = apply(None, &applied, Some(deployment()), &req, Force::No).expect_err("invalid");
        assert!(matches!(&err, ApplyError::Invalid(m) if m.contains(want)), "{err}");
    }
}

#[test]
fn managed_fields_round_trip_and_drop_empty_entries() {
    let obj = json!({"metadata": {"managedFields": [
        {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": TIME,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
        {"manager": "ctl", "operation": "Update", "apiVersion": "v1", "time": TIME,
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}, "subresource": "status"}
    ]}});
    let entries = read_managed(&obj).expect("read");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].subresource.as_deref(), Some("status"));
    let mut written = json!({"metadata": {}});
    write_managed(&mut written, &entries);
    assert_eq!(written, obj);

    let mut emptied = entries.clone();
    for e in &mut emptied {
        e.fields = FieldSet::new();
    }
    write_managed(&mut written, &emptied);
    assert_eq!(written, json!({"metadata": {}}));
}

#[test]
fn malformed_managed_fields_are_reported() {
    for bad in [
        json!({"metadata": {"managedFields": {}}}),
        json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]}}),
        json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV2"}]}}),
        json!({"metadata": {"managedFields": [{"manager": "x", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"x:y": {}}}]}}),
    ] {
        assert!(read_managed(&bad).is_err(), "{bad}");
    }
}

#[test]
fn record_update_ignores_client_managed_fields_through_a_subresource() {
    let old = record_update(None, nginx(2, "nginx:1"), Some(deployment()), &request("creator"));
    let mut new = old.clone();
    new["metadata"]["managedFields"] = json!([]);
    new["status"] = json!({"replicas": 2});
    let req = Request { subresource: Some("status"), ..request("kube-controller-manager") };
    let out = record_update(Some(&old), new, Some(deployment()), &req);
    assert!(entry(&out, "creator", Operation::Update).is_some());
    let status = entry(&out, "kube-controller-manager", Operation::Update).expect("status entry");
    assert_eq!(status.subresource.as_deref(), Some("status"));
    assert_eq!(status.fields.paths(), vec![".status.replicas"]);
}

#[test]
fn record_update_without_changes_adds_no_entry() {
    let old = record_update(None, nginx(2, "nginx:1"), Some(deployment()), &request("creator"));
    let out = record_update(Some(&old), old.clone(), Some(deployment()), &request("someone"));
    assert_eq!(out, old);
}

#[test]
fn never_tracked_fields_are_left_out() {
    let created =
        apply(None, &nginx(1, "nginx:1"), Some(deployment()), &request("kubectl"), Force::No).expect("create");
    let paths = entry(&created, "kubectl", Operation::Apply).expect("entry").fields.paths();
    assert!(
        paths.iter().all(|p| !p.starts_with(".apiVersion") && !p.starts_with(".kind") && !p.starts_with(".metadata")),
        "{paths:?}"
    );
}

#[test]
fn apply_edit_apply_round_trip_like_kubectl() {
    let ty = Some(deployment());
    let created = apply(None, &nginx(2, "nginx:1"), ty, &request("kubectl"), Force::No).expect("create");
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(7);
    let edited = record_update(Some(&created), edited, ty, &request("kubectl-edit"));
    let editor = entry(&edited, "kubectl-edit", Operation::Update).expect("editor entry");
    assert_eq!(editor.fields.paths(), vec![".spec.replicas"]);
    assert!(
        !entry(&edited, "kubectl", Operation::Apply)
            .expect("applier")
            .fields
            .paths()
            .contains(&".spec.replicas".to_owned())
    );

    let err = apply(Some(&edited), &nginx(2, "nginx:1"), ty, &request("kubectl"), Force::No).expect_err("conflict");
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas"#
    );

    // Dropping replicas from the configuration leaves the edited value alone.
    let mut without = nginx(2, "nginx:1");
    without["spec"].as_object_mut().expect("spec").shift_remove("replicas");
    let kept = apply(Some(&edited), &without, ty, &request("kubectl"), Force::No).expect("no conflict");
    assert_eq!(kept["spec"]["replicas"], json!(7));
}

#[test]
fn odd_inputs_do_not_panic() {
    let ty = Some(deployment());
    let lives = [
        json!({}),
        json!({"spec": "x"}),
        json!({"spec": {"template": {"spec": {"containers": {"a": 1}}}}}),
        json!({"metadata": []}),
    ];
    let applieds = [
        json!({"spec": {"template": {"spec": {"containers": [1, "x"]}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": null}]}}}}),
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}}}}),
        json!({"metadata": {"finalizers": [{"a": 1}, {"a": 2}]}, "spec": null}),
    ];
    for live in &lives {
        for applied in &applieds {
            let _ = apply(Some(live), applied, ty, &request("m"), Force::No);
            let _ = apply(Some(live), applied, None, &request("m"), Force::Yes);
            let _ = record_update(Some(live), applied.clone(), ty, &request("m"));
        }
    }
}
