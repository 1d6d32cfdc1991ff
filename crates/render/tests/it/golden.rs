//! Golden cases: `testdata/<case>/repo` is rendered with the options of each
//! variant below and compared with `testdata/<case>/<variant>.json` (a list of
//! `{file, index, object}`). `FERRY_BLESS=1` rewrites the expected files.

use std::fs;
use std::path::Path;

use render::{DirectoryOptions, Manifest, Source};
use serde_json::{Value, json};

/// Renders like the controller, with default tools, keeping only the objects.
fn render(repo: &std::path::Path, path: &str, source: &Source) -> Result<Vec<Manifest>, render::RenderError> {
    render::render(repo, path, source, &render::AppInfo::default(), &render::Toolbox::default()).map(|r| r.manifests)
}

struct Variant {
    case: &'static str,
    name: &'static str,
    app_path: &'static str,
    options: DirectoryOptions,
}

fn variants() -> Vec<Variant> {
    let opts = |recurse, include: Option<&str>, exclude: Option<&str>| DirectoryOptions {
        recurse,
        include: include.map(str::to_owned),
        exclude: exclude.map(str::to_owned),
    };
    vec![
        // Top directory only: multi-document YAML, empty documents, JSON, lists.
        Variant { case: "directory", name: "top-only", app_path: "", options: opts(false, None, None) },
        Variant { case: "directory", name: "recurse", app_path: ".", options: opts(true, None, None) },
        // `{a,b}` alternatives, and exclude winning over a matching include.
        Variant {
            case: "directory",
            name: "include-exclude",
            app_path: "./",
            options: opts(true, Some("{*.json,sub/*.yaml}"), Some("{sub/skip.yaml,other/*}")),
        },
        // An app below the root: file paths stay relative to the repository root,
        // globs match relative to the app path.
        Variant { case: "directory", name: "subdir", app_path: "sub", options: opts(true, Some("deeper/*"), None) },
    ]
}

fn to_json(manifests: &[Manifest]) -> Value {
    Value::Array(manifests.iter().map(|m| json!({"file": m.file, "index": m.index, "object": m.object})).collect())
}

#[test]
fn golden_cases() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for v in variants() {
        let label = format!("{}/{}", v.case, v.name);
        let repo = testdata.join(v.case).join("repo");
        let actual = render(&repo, v.app_path, &Source::Directory(v.options))
            .unwrap_or_else(|e| panic!("{label}: render failed: {e}"));
        let actual_text = serde_json::to_string_pretty(&to_json(&actual)).unwrap() + "\n";
        let expected_path = testdata.join(v.case).join(format!("{}.json", v.name));
        if bless {
            fs::write(&expected_path, &actual_text).unwrap();
            continue;
        }
        let expected_text =
            fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{label}: {e} (run with FERRY_BLESS=1)"));
        if actual_text != expected_text {
            failures.push(format!("{label}:\n--- expected\n{expected_text}\n--- actual\n{actual_text}"));
        }
    }
    assert!(failures.is_empty(), "{} variant(s) differ:\n{}", failures.len(), failures.join("\n"));
}
