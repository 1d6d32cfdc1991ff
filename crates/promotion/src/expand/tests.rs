use std::path::{Path, PathBuf};

use super::*;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/expand")
}

/// The expansion of a case as text: the Stages as YAML, or the error with its causes.
fn render(pipeline: &Pipeline) -> (String, &'static str) {
    match expand(pipeline) {
        Ok(stages) => (serde_saphyr::to_string(&stages).unwrap(), "stages.yaml"),
        Err(err) => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text.push('\n');
            (text, "error.txt")
        }
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("FERRY_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 5, "expected the golden cases under {}", testdata().display());
    for case in cases {
        let input = std::fs::read_to_string(case.join("pipeline.yaml")).unwrap();
        let pipeline: Pipeline = serde_saphyr::from_str(&input).unwrap();
        let (got, file) = render(&pipeline);
        let path = case.join(file);
        if bless {
            for stale in ["stages.yaml", "error.txt"] {
                let _ = std::fs::remove_file(case.join(stale));
            }
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing; run with FERRY_BLESS=1 to create it", path.display()));
        assert_eq!(got, want, "case {} differs from {file} (FERRY_BLESS=1 refreshes it)", case.display());
    }
}

fn three_stages() -> Pipeline {
    let input = std::fs::read_to_string(testdata().join("three-stages/pipeline.yaml")).unwrap();
    serde_saphyr::from_str(&input).unwrap()
}

#[test]
fn stages_chain_through_their_predecessor() {
    let stages = expand(&three_stages()).unwrap();
    let names: Vec<String> = stages.iter().map(ResourceExt::name_any).collect();
    assert_eq!(names, ["dev", "staging", "prod"]);
    assert!(stages[0].spec.requested_freight[0].sources.direct);
    let prod = &stages[2].spec.requested_freight[0];
    assert_eq!(prod.origin, FreightOrigin::warehouse("app"));
    assert!(!prod.sources.direct);
    assert_eq!(prod.sources.stages, ["staging"]);
    assert_eq!(prod.sources.required_soak_time.as_deref(), Some("1h"));
    for stage in &stages {
        assert_eq!(stage.labels().get(PIPELINE_LABEL).map(String::as_str), Some("demo"));
        let owner = &stage.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Pipeline", "5f1d2c3b-0000-4000-8000-000000000001"));
        assert_eq!(stage.spec.promotion_template, Some(three_stages().spec.promotion_template));
    }
}

#[test]
fn stage_vars_override_pipeline_vars_in_place() {
    let var = |name: &str, value: &str| Var { name: name.to_owned(), value: value.to_owned() };
    let merged = merge_vars(&[var("repo", "r"), var("env", "base")], &[var("extra", "x"), var("env", "prod")]);
    assert_eq!(merged, [var("repo", "r"), var("env", "prod"), var("extra", "x")]);
}

#[test]
fn stage_names_must_be_dns_labels() {
    assert!(check_dns_label("prod-eu-1").is_ok());
    for bad in ["", "Prod", "prod.eu", "-prod", "prod-", "prod_eu", &"a".repeat(64)] {
        assert!(check_dns_label(bad).is_err(), "{bad:?}");
    }
}
