//! Golden tests of the pipeline picture: `testdata/<case>/input.yaml` (a
//! list of boxes) renders to `testdata/<case>/expected.txt`. `FERRY_BLESS=1`
//! rewrites the expected files.

use std::path::Path;

use super::*;

fn boxes(yaml: &str) -> Vec<StageBox> {
    serde_saphyr::from_str(yaml).expect("input.yaml is a list of stage boxes")
}

#[test]
fn golden_pictures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/pipeline/testdata");
    let mut cases: Vec<_> = std::fs::read_dir(&root).expect("testdata").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    assert!(cases.len() >= 3, "golden cases missing in {}", root.display());
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    for case in cases {
        let input = std::fs::read_to_string(case.join("input.yaml")).expect("input.yaml");
        let got = render(&boxes(&input), Style::Plain);
        let expected_path = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &got).expect("write expected.txt");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(got, expected, "case {} (FERRY_BLESS=1 to refresh):\n{got}", case.display());
    }
}

#[test]
fn columns_follow_the_upstream_graph_and_survive_cycles() {
    let b = |name: &str, up: &[&str]| StageBox {
        name: name.into(),
        upstream: up.iter().map(|s| (*s).to_owned()).collect(),
        ..StageBox::default()
    };
    let graph = [b("prod", &["staging"]), b("dev", &[]), b("staging", &["dev"])];
    assert_eq!(columns(&graph), [2, 0, 1]);
    let cycle = [b("a", &["b"]), b("b", &["a"])];
    let c = columns(&cycle);
    assert!(c == [1, 0] || c == [0, 1], "{c:?}");
}

#[test]
fn plain_has_no_escapes_and_color_marks_health() {
    let input = [StageBox { name: "dev".into(), health: "Degraded".into(), ..StageBox::default() }];
    assert!(!render(&input, Style::Plain).contains('\x1b'));
    let colored = render(&input, Style::Color);
    assert!(colored.contains("\x1b[31mDegraded\x1b[0m"), "{colored:?}");
}
