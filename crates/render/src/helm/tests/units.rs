//! Pure pieces: value layering, set escaping, output splitting, ordering,
//! transports.

use serde_json::{Value, json};

use super::super::cli::split_sources;
use super::super::values::{Layer, escape_commas, merge};
use super::*;

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn helm_set_values_land_like_helm_parser() {
    let mut base = object(json!({"list": [{"a": 1}, "b", "c"], "map": {"x": 1, "y": 2}, "s": "text"}));
    // `list[1]=B` and `list[0].z=2` update elements; nulls are the parser's padding.
    merge(&mut base, object(json!({"list": [null, "B"]})), Layer::Set);
    merge(&mut base, object(json!({"list": [{"z": 2}]})), Layer::Set);
    merge(&mut base, object(json!({"list": [null, null, null, "d"]})), Layer::Set);
    merge(&mut base, object(json!({"map": {"y": 3}, "s": {"now": "map"}})), Layer::Set);
    assert_eq!(
        Value::Object(base.clone()),
        json!({"list": [{"a": 1, "z": 2}, "B", "c", "d"], "map": {"x": 1, "y": 3}, "s": {"now": "map"}})
    );
    // A values file replaces lists whole.
    merge(&mut base, object(json!({"list": ["only"]})), Layer::File);
    assert_eq!(base["list"], json!(["only"]));
}

#[test]
fn helm_parameter_commas_are_escaped_like_argo_cd() {
    assert_eq!(escape_commas("one,two"), "one\\,two");
    assert_eq!(escape_commas("one\\,two"), "one\\,two");
    assert_eq!(escape_commas("{a,b}"), "{a,b}");
    assert_eq!(escape_commas("plain"), "plain");
}

#[test]
fn helm_template_output_splits_by_source() {
    let output = "---\n# Source: c/crds/x.yaml\nkind: A\n---\n# Source: c/templates/b.yaml\nkind: B\n---\n# Source: c/templates/a.yaml\nkind: C\n---\n# Source: c/templates/b.yaml\nkind: D\n---\n# comment only\n";
    let files = split_sources(output);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["c/crds/x.yaml", "c/templates/b.yaml", "c/templates/a.yaml"]);
    assert_eq!(files[1].yaml, "---\nkind: B\n---\nkind: D\n---\n# comment only\n");
}

#[test]
fn helm_manifest_order_does_not_depend_on_document_order() {
    let file = |docs: &str| vec![RenderedFile { path: "c/templates/x.yaml".into(), yaml: docs.into() }];
    let a = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n";
    let b = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n";
    let c = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: z}\n";
    let one = to_manifests(file(&format!("{a}---\n{b}---\n{c}"))).unwrap();
    let two = to_manifests(file(&format!("{b}---\n{c}---\n{a}"))).unwrap();
    assert_eq!(one, two);
    let kinds: Vec<_> = one.iter().map(|m| (m.object["kind"].as_str().unwrap(), m.index)).collect();
    assert_eq!(kinds, [("ConfigMap", 0), ("Deployment", 1), ("Service", 2)]);
}

#[test]
fn helm_notes_and_partials_are_not_objects() {
    assert!(!keep_template("c/templates/NOTES.txt"));
    assert!(!keep_template("c/charts/sub/templates/NOTES.txt"));
    assert!(!keep_template("c/templates/_helpers.tpl"));
    assert!(keep_template("c/templates/deploy.yaml"));
}

#[test]
fn helm_plain_http_only_on_loopback() {
    assert_eq!(transport("https://charts.example.com").unwrap(), Transport::Tls);
    assert_eq!(transport("http://127.0.0.1:8080/charts").unwrap(), Transport::PlainHttp);
    assert_eq!(transport("http://user:pw@localhost:1").unwrap(), Transport::PlainHttp);
    assert_eq!(transport("oci://[::1]:5000/charts").unwrap(), Transport::PlainHttp);
    assert_eq!(transport("oci://registry.example.com/charts").unwrap(), Transport::Tls);
    assert!(matches!(transport("http://charts.example.com"), Err(RenderError::InvalidSource { .. })));
    assert!(matches!(transport("http://127.0.0.1.example.com"), Err(RenderError::InvalidSource { .. })));
    assert!(matches!(transport("ftp://127.0.0.1"), Err(RenderError::InvalidSource { .. })));
}

#[test]
fn helm_pull_refuses_odd_chart_names() {
    let tools = HelmTools::new(HelmOptions::default());
    for chart in ["", "..", "a/b", "oci://x"] {
        let request =
            ChartPull { repo_url: "https://charts.example.com".into(), chart: chart.into(), ..ChartPull::default() };
        let error = pull_chart(&tools, &request, Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(error, RenderError::InvalidSource { .. }), "{chart}: {error:?}");
    }
}
