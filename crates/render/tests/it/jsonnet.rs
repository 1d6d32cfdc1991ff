//! Jsonnet rendering.
//!
//! Golden cases: every `testdata/jsonnet/<case>/` holds `repo/` (the
//! repository tree), `app.yaml` (`path` and `directory`, as in an
//! Application's `spec.source`) and `expected.yaml` (the manifests as a list
//! of `{file, index, object}`, or `error:` with the render error).
//! `FERRY_BLESS=1` rewrites the expected files. Each case is rendered twice
//! and must come out byte-identical.
//!
//! Symlink cases, limits and timeouts build their trees in temporary
//! directories (symlinks do not live in testdata portably).

#![allow(clippy::unwrap_used, reason = "helpers outside #[test] fail the test on a bad fixture")]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use application::{DirectorySource, JsonnetSource, JsonnetVar};
use render::{
    DirectoryOptions, JsonnetLimits, Manifest, RenderError, Source, jsonnet_version, render_jsonnet,
    render_jsonnet_with_limits,
};
use serde_json::{Value, json};

/// Renders like the controller, with default tools, keeping only the objects.
fn render(repo: &std::path::Path, path: &str, source: &Source) -> Result<Vec<Manifest>, render::RenderError> {
    render::render(repo, path, source, &render::AppInfo::default(), &render::Toolbox::default()).map(|r| r.manifests)
}

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("jsonnet")
}

/// Reads a case's `app.yaml` into the render source.
fn load_app(case_dir: &Path) -> (String, Source) {
    let text = fs::read_to_string(case_dir.join("app.yaml")).unwrap();
    let app: Value = serde_saphyr::from_str(&text).unwrap();
    let path = app["path"].as_str().unwrap_or_default().to_owned();
    let directory: DirectorySource =
        app.get("directory").map(|d| serde_json::from_value(d.clone()).unwrap()).unwrap_or_default();
    let options =
        DirectoryOptions { recurse: directory.recurse, include: directory.include, exclude: directory.exclude };
    (path, Source::Jsonnet(options, directory.jsonnet.unwrap_or_default()))
}

fn outcome(result: &Result<Vec<Manifest>, RenderError>) -> Value {
    match result {
        Ok(manifests) => Value::Array(
            manifests.iter().map(|m| json!({"file": m.file, "index": m.index, "object": m.object})).collect(),
        ),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<_> = fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 10, "testdata/jsonnet has too few cases");
    let mut failures = Vec::new();
    for case_dir in cases {
        let case = case_dir.file_name().unwrap().to_string_lossy().into_owned();
        let (path, source) = load_app(&case_dir);
        let repo = case_dir.join("repo");
        let first = serde_saphyr::to_string(&outcome(&render(&repo, &path, &source))).unwrap();
        let second = serde_saphyr::to_string(&outcome(&render(&repo, &path, &source))).unwrap();
        assert_eq!(first, second, "{case}: two renders differ");
        let expected_path = case_dir.join("expected.yaml");
        if bless {
            fs::write(&expected_path, &first).unwrap();
            continue;
        }
        let expected =
            fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{case}: {e} (run with FERRY_BLESS=1)"));
        if first != expected {
            failures.push(format!("{case}:\n--- expected\n{expected}\n--- actual\n{first}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}

/// Golden cases whose outcome matters beyond matching the recorded file:
/// checked here so that blessing a wrong result cannot hide it.
#[test]
fn golden_cases_say_what_they_should() {
    let render_case = |case: &str| {
        let dir = testdata().join(case);
        let (path, source) = load_app(&dir);
        render(&dir.join("repo"), &path, &source)
    };

    let tlas = render_case("tlas").unwrap();
    assert_eq!(tlas.len(), 1);
    assert_eq!(tlas[0].object["metadata"]["name"], "web");
    assert_eq!(tlas[0].object["spec"]["replicas"], 3);
    assert_eq!(tlas[0].object["metadata"]["labels"], json!({"team": "X", "tier": "frontend"}));

    let ext = render_case("ext-vars").unwrap();
    assert_eq!(ext[0].object["metadata"]["name"], "settings-prod");
    assert_eq!(ext[0].object["data"]["total"], "6");

    let array = render_case("array").unwrap();
    let names: Vec<_> =
        array.iter().map(|m| (m.file.as_str(), m.index, m.object["metadata"]["name"].clone())).collect();
    assert_eq!(
        names,
        vec![
            ("app/a.jsonnet", 0, json!("a-0")),
            ("app/a.jsonnet", 1, json!("a-1")),
            ("app/a.jsonnet", 2, json!("a-2")),
            ("app/b.jsonnet", 0, json!("b-svc")),
            ("app/b.jsonnet", 0, json!("b-sa")),
            ("app/c.yaml", 0, json!("c-plain")),
        ]
    );

    let object = render_case("object").unwrap();
    assert_eq!(object[0].object["data"]["file"], "app/main.jsonnet");
    assert!(object[0].object.get("helper").is_none());
    // Keys come out sorted, whatever order the source wrote them in.
    let keys: Vec<_> = object[0].object.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["apiVersion", "data", "kind", "metadata"]);

    match render_case("eval-error") {
        Err(RenderError::Jsonnet { file, message }) => {
            assert_eq!(file, "app/main.jsonnet");
            assert!(message.contains("app/main.jsonnet:3:8"), "no line/column in {message:?}");
        }
        other => panic!("expected a Jsonnet error, got {other:?}"),
    }
    match render_case("syntax-error") {
        Err(RenderError::Jsonnet { file, message }) => {
            assert_eq!(file, "app/main.jsonnet");
            assert!(message.contains("app/main.jsonnet:4:"), "no line/column in {message:?}");
        }
        other => panic!("expected a Jsonnet error, got {other:?}"),
    }
    for case in ["escape-dotdot", "escape-absolute"] {
        match render_case(case) {
            Err(RenderError::Jsonnet { message, .. }) => {
                assert!(message.contains("escapes the repository"), "{case}: {message:?}");
            }
            other => panic!("{case}: expected the import to be refused, got {other:?}"),
        }
    }
    assert!(matches!(render_case("libs-escape"), Err(RenderError::PathEscapesRepository { .. })));
    assert!(matches!(render_case("not-an-object"), Err(RenderError::InvalidObject { document: 1, .. })));
    let included = render_case("include-exclude").unwrap();
    let names: Vec<_> = included.iter().map(|m| m.object["metadata"]["name"].clone()).collect();
    assert_eq!(names, [json!("kept"), json!("top")]);
    let libs = render_case("libs").unwrap();
    assert_eq!(libs[0].object["data"]["greeting"], "hello");
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn no_options() -> DirectoryOptions {
    DirectoryOptions::default()
}

const CONFIG_MAP: &str = "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }";

#[test]
fn import_through_a_symlink_out_of_the_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(&dir.path().join("outside/secret.libsonnet"), "{ secret: 'outside' }");
    write(&repo.join("app/main.jsonnet"), "(import '../lib/evil.libsonnet') + (import '../lib/dir/secret.libsonnet')");
    fs::create_dir_all(repo.join("lib")).unwrap();
    // A file link and a directory link, both leaving the repository; they
    // are outside the app directory, so only the import resolver sees them.
    symlink(dir.path().join("outside/secret.libsonnet"), repo.join("lib/evil.libsonnet")).unwrap();
    symlink("../../outside", repo.join("lib/dir")).unwrap();
    let err = render_jsonnet(&repo, "app", &no_options(), &JsonnetSource::default()).unwrap_err();
    match err {
        RenderError::Jsonnet { file, message } => {
            assert_eq!(file, "app/main.jsonnet");
            assert!(message.contains("escapes the repository"), "{message:?}");
            assert!(!message.contains("outside'"), "the secret leaked into {message:?}");
        }
        other => panic!("expected a refused import, got {other:?}"),
    }

    // Through the directory link alone, too.
    write(&repo.join("app/main.jsonnet"), "import '../lib/dir/secret.libsonnet'");
    let err = render_jsonnet(&repo, "app", &no_options(), &JsonnetSource::default()).unwrap_err();
    assert!(err.to_string().contains("escapes the repository"), "{err}");
}

#[test]
fn a_library_path_that_is_a_symlink_out_of_the_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(&dir.path().join("outside/k.libsonnet"), "{}");
    write(&repo.join("app/main.jsonnet"), "import 'k.libsonnet'");
    symlink("../outside", repo.join("vendor")).unwrap();
    let source = JsonnetSource { libs: vec!["vendor".into()], ..Default::default() };
    let err = render_jsonnet(&repo, "app", &no_options(), &source).unwrap_err();
    assert!(matches!(err, RenderError::PathEscapesRepository { ref path } if path == "vendor"), "{err:?}");
}

#[test]
fn a_symlink_inside_the_repository_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(&repo.join("shared/common.libsonnet"), "{ owner: 'platform' }");
    write(&repo.join("app/main.jsonnet"), &format!("{CONFIG_MAP} + {{ data: import 'common.libsonnet' }}"));
    symlink("../shared/common.libsonnet", repo.join("app/common.libsonnet")).unwrap();
    let manifests = render_jsonnet(&repo, "app", &no_options(), &JsonnetSource::default()).unwrap();
    assert_eq!(manifests[0].object["data"], json!({"owner": "platform"}));
}

#[test]
fn a_jsonnet_file_linked_from_outside_fails_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    write(&dir.path().join("outside.jsonnet"), CONFIG_MAP);
    fs::create_dir_all(repo.join("app")).unwrap();
    symlink(dir.path().join("outside.jsonnet"), repo.join("app/main.jsonnet")).unwrap();
    let err = render_jsonnet(&repo, "app", &no_options(), &JsonnetSource::default()).unwrap_err();
    assert!(matches!(err, RenderError::PathEscapesRepository { .. }), "{err:?}");
}

#[test]
fn output_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app/main.jsonnet"),
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { a: std.repeat('x', 5000) } }",
    );
    let limits = JsonnetLimits { max_output_bytes: 4096, ..Default::default() };
    let err =
        render_jsonnet_with_limits(dir.path(), "app", &no_options(), &JsonnetSource::default(), &limits).unwrap_err();
    assert!(matches!(err, RenderError::OutputTooLarge { limit: 4096, .. }), "{err:?}");

    let limits = JsonnetLimits { max_output_bytes: 8192, ..Default::default() };
    let manifests =
        render_jsonnet_with_limits(dir.path(), "app", &no_options(), &JsonnetSource::default(), &limits).unwrap();
    assert_eq!(manifests.len(), 1);
}

#[test]
fn unbounded_recursion_is_an_error_with_a_trimmed_trace() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("app/main.jsonnet"), "local f(n) = f(n + 1) + 1;\nf(0)");
    let err = render_jsonnet(dir.path(), "app", &no_options(), &JsonnetSource::default()).unwrap_err();
    match err {
        RenderError::Jsonnet { file, message } => {
            assert_eq!(file, "app/main.jsonnet");
            assert!(message.contains("stack overflow"), "{message:?}");
            assert!(message.lines().count() <= 13, "trace not trimmed: {} lines", message.lines().count());
            assert!(message.len() < 4096);
        }
        other => panic!("expected a Jsonnet error, got {other:?}"),
    }
}

#[test]
fn a_runaway_evaluation_times_out() {
    let dir = tempfile::tempdir().unwrap();
    // Exponential work at shallow depth: the stack limit never trips.
    write(
        &dir.path().join("app/main.jsonnet"),
        "local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1);\n{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, n: f(200) }",
    );
    let limits = JsonnetLimits { timeout: Duration::from_millis(300), ..Default::default() };
    let err =
        render_jsonnet_with_limits(dir.path(), "app", &no_options(), &JsonnetSource::default(), &limits).unwrap_err();
    assert!(matches!(err, RenderError::Timeout { ref tool, .. } if tool == "jsonnet"), "{err:?}");

    // The abandoned evaluation does not stop other renders.
    write(&dir.path().join("other/main.jsonnet"), CONFIG_MAP);
    let manifests = render_jsonnet(dir.path(), "other", &no_options(), &JsonnetSource::default()).unwrap();
    assert_eq!(manifests.len(), 1);
}

#[test]
fn tla_and_ext_var_code_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("app/main.jsonnet"),
        "function(x) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: x } }",
    );
    let var = |name: &str, value: &str| JsonnetVar { name: name.into(), value: value.into(), code: true };

    let source = JsonnetSource { tlas: vec![var("x", "{ oops")], ..Default::default() };
    match render_jsonnet(dir.path(), "app", &no_options(), &source).unwrap_err() {
        RenderError::Jsonnet { file, .. } => assert_eq!(file, "<tla:x>"),
        other => panic!("{other:?}"),
    }
    let source = JsonnetSource { ext_vars: vec![var("y", "[1,")], ..Default::default() };
    match render_jsonnet(dir.path(), "app", &no_options(), &source).unwrap_err() {
        RenderError::Jsonnet { file, .. } => assert_eq!(file, "<extVar:y>"),
        other => panic!("{other:?}"),
    }
    // A missing TLA is an error of the file it is missing from.
    match render_jsonnet(dir.path(), "app", &no_options(), &JsonnetSource::default()).unwrap_err() {
        RenderError::Jsonnet { file, message } => {
            assert_eq!(file, "app/main.jsonnet");
            assert!(message.contains("x"), "{message:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn version_is_reported() {
    assert!(jsonnet_version().starts_with("0.5.0-pre"), "{}", jsonnet_version());
}
