//! Golden tests: `testdata/strategic/<case>/` holds `original.json`,
//! `patch.json`, and either `kind.txt` (`apps/v1 Deployment`, `v1 Pod`, or
//! `none` for no schema) or `schema.json` (a CRD's `openAPIV3Schema`). The
//! expected outcome is `expected.json`, or `error.txt` for a patch that must
//! be refused. `FERRY_BLESS=1` rewrites the expectations.

// Tests may fail loudly; the workspace warns on expect in library code only.
#![allow(clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{StrategicError, strategic_merge};
use crate::{Gvk, Schema, TypeRef};

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn parse_gvk(text: &str) -> Gvk {
    let (api_version, kind) = text.trim().split_once(' ').expect("kind.txt holds `<apiVersion> <Kind>`");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Gvk::new(group, version, kind.trim())
}

fn run_case(dir: &Path) -> Result<Value, StrategicError> {
    let original = read_json(&dir.join("original.json"));
    let patch = read_json(&dir.join("patch.json"));
    let schema_path = dir.join("schema.json");
    if schema_path.exists() {
        let schema = Schema::from_crd(&read_json(&schema_path));
        return strategic_merge(&original, &patch, schema.crd_root());
    }
    let kind = fs::read_to_string(dir.join("kind.txt")).expect("kind.txt or schema.json");
    let ty: Option<TypeRef<'_>> = if kind.trim() == "none" {
        None
    } else {
        let gvk = parse_gvk(&kind);
        Some(Schema::builtin().root(&gvk).unwrap_or_else(|| panic!("unknown kind {gvk:?}")))
    };
    strategic_merge(&original, &patch, ty)
}

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/strategic");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("testdata/strategic")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_cases() {
    let bless = std::env::var("FERRY_BLESS").is_ok_and(|v| v == "1");
    let dirs = case_dirs();
    assert!(dirs.len() >= 15, "expected at least 15 golden cases, found {}", dirs.len());
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let outcome = run_case(&dir);
        let expected_path = dir.join("expected.json");
        let error_path = dir.join("error.txt");
        if bless {
            match &outcome {
                Ok(v) => {
                    let text = serde_json::to_string_pretty(v).expect("serialize") + "\n";
                    fs::write(&expected_path, text).expect("write expected.json");
                    let _ = fs::remove_file(&error_path);
                }
                Err(e) => {
                    fs::write(&error_path, format!("{e}\n")).expect("write error.txt");
                    let _ = fs::remove_file(&expected_path);
                }
            }
            continue;
        }
        match (outcome, error_path.exists()) {
            (Ok(got), false) => {
                let want = read_json(&expected_path);
                // Compare the text too: key order is part of the contract.
                if got != want || serde_json::to_string(&got).ok() != serde_json::to_string(&want).ok() {
                    failures.push(format!(
                        "{name}: got\n{}\nwant\n{}",
                        serde_json::to_string_pretty(&got).unwrap_or_default(),
                        serde_json::to_string_pretty(&want).unwrap_or_default()
                    ));
                }
            }
            (Err(e), true) => {
                let want = fs::read_to_string(&error_path).expect("error.txt");
                if e.to_string() != want.trim_end() {
                    failures.push(format!("{name}: error {e:?}, want {:?}", want.trim_end()));
                }
            }
            (Ok(got), true) => failures.push(format!("{name}: expected an error, got {got}")),
            (Err(e), false) => failures.push(format!("{name}: unexpected error: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ (FERRY_BLESS=1 to refresh):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn deployment() -> TypeRef<'static> {
    Schema::builtin().root(&Gvk::new("apps", "v1", "Deployment")).expect("deployment")
}

#[test]
fn patch_must_be_an_object() {
    let err = strategic_merge(&json!({}), &json!([1]), None).expect_err("a list is not a patch");
    assert!(err.to_string().contains("must be a JSON object"), "{err}");
}

#[test]
fn original_is_not_mutated_and_result_is_stable() {
    let original = json!({"metadata": {"finalizers": ["a", "b"]}});
    let patch = json!({"metadata": {"finalizers": ["c"]}});
    let once = strategic_merge(&original, &patch, Some(deployment())).expect("merge");
    let twice = strategic_merge(&once, &patch, Some(deployment())).expect("merge again");
    assert_eq!(original, json!({"metadata": {"finalizers": ["a", "b"]}}));
    assert_eq!(once, twice, "merging the same patch twice changes nothing more");
}

#[test]
fn directives_never_reach_the_result_of_a_new_field() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "a", "env": [{"name": "X", "value": null}], "$retainKeys": ["name", "env"]}]
    }}}});
    let got = strategic_merge(&json!({}), &patch, Some(deployment())).expect("merge");
    assert_eq!(got, json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}}}}));
}

#[test]
fn numeric_merge_keys_match_by_value() {
    let original = json!({"spec": {"ports": [{"port": 80, "name": "http"}]}});
    let patch = json!({"spec": {"ports": [{"port": 80.0, "name": "web"}]}});
    let service = Schema::builtin().root(&Gvk::new("", "v1", "Service")).expect("service");
    let got = strategic_merge(&original, &patch, Some(service)).expect("merge");
    assert_eq!(got["spec"]["ports"].as_array().map(Vec::len), Some(1));
    assert_eq!(got["spec"]["ports"][0]["name"], "web");
}
