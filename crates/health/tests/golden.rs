//! Golden cases: `testdata/<case>/object.yaml` is assessed and compared with
//! `expected.json` ({"status", "message"}). `FERRY_BLESS=1` rewrites the
//! expected files from the current output.

use std::fs;
use std::path::Path;

use health::{Health, assess};

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 40, "expected at least 40 cases, found {}", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let yaml = fs::read_to_string(case.join("object.yaml")).unwrap();
        let object: serde_json::Value =
            serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: object.yaml: {e}"));
        let actual = assess(&object).unwrap_or_else(|| panic!("{name}: kind has no check"));
        let expected_path = case.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            fs::write(&expected_path, text).unwrap();
            continue;
        }
        let text = fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{name}: expected.json: {e} (run with FERRY_BLESS=1)"));
        let expected: Health = serde_json::from_str(&text).unwrap();
        if actual != expected {
            failures.push(format!("{name}:\n  expected {expected:?}\n  actual   {actual:?}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}
