//! Golden cases: `testdata/<case>/{desired.yaml, live.yaml?, options.json?,
//! expected.json}`. `FERRY_BLESS=1` rewrites `expected.json`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
use std::fs;
use std::path::Path;

use diff::{DiffOptions, FIELD_MANAGER, IgnoreDifference, ResourceDiff};
use patch::Schema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CaseOptions {
    ignore_differences: Vec<IgnoreDifference>,
    manager: Option<String>,
    /// A CRD version's openAPIV3Schema.
    crd_schema: Option<Value>,
}

fn yaml(path: &Path) -> Option<Value> {
    let text = fs::read_to_string(path).ok()?;
    Some(serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Every Secret value of `object`, as written and base64-decoded.
fn secret_values(object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in ["data", "stringData"] {
        for value in object.get(field).and_then(Value::as_object).into_iter().flat_map(|m| m.values()) {
            if let Some(s) = value.as_str() {
                out.push(s.to_owned());
                use base64::Engine;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    out.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
    }
    out
}

fn run(dir: &Path) -> ResourceDiff {
    let desired = yaml(&dir.join("desired.yaml")).expect("desired.yaml");
    let live = yaml(&dir.join("live.yaml"));
    let options: CaseOptions = fs::read_to_string(dir.join("options.json"))
        .map(|t| serde_json::from_str(&t).expect("options.json"))
        .unwrap_or_default();
    let schema = options.crd_schema.as_ref().map(Schema::from_crd);
    let opts = DiffOptions {
        ignore: &options.ignore_differences,
        manager: options.manager.as_deref().unwrap_or(FIELD_MANAGER),
        schema: schema.as_ref(),
    };
    let result = diff::diff(&desired, live.as_ref(), &opts);
    // No Secret value may reach any output, whatever the case.
    let is_secret = |o: &Value| o.get("kind") == Some(&json!("Secret"));
    let secrets: Vec<String> = [Some(&desired), live.as_ref()]
        .into_iter()
        .flatten()
        .filter(|o| is_secret(o))
        .flat_map(secret_values)
        .collect();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        for (name, text) in
            [("diff", &result.diff), ("desired_yaml", &result.desired_yaml), ("live_yaml", &result.live_yaml)]
        {
            assert!(!text.contains(secret.as_str()), "{}: secret value {secret:?} leaked into {name}", dir.display());
        }
    }
    result
}

#[test]
fn golden() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let mut cases: Vec<_> = fs::read_dir(&root).expect("testdata").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    assert!(cases.len() >= 20, "expected at least 20 cases, found {}", cases.len());
    let mut failures = Vec::new();
    for dir in cases {
        let result = run(&dir);
        let got = json!({"synced": result.synced, "diff": result.diff});
        let expected_path = dir.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
            fs::write(&expected_path, text).expect("write expected.json");
            continue;
        }
        let expected: Value = fs::read_to_string(&expected_path)
            .map(|t| serde_json::from_str(&t).expect("expected.json"))
            .unwrap_or(Value::Null);
        if expected != got {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                dir.display(),
                serde_json::to_string_pretty(&expected).unwrap_or_default(),
                serde_json::to_string_pretty(&got).unwrap_or_default()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
