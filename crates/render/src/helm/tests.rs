//! Helm charts with the real Helm engine, through both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
//!
//! Golden cases: each `testdata/helm/<case>/app<suffix>.yaml` (an
//! `ApplicationSource`) is rendered against `<case>/repo` for the app
//! `demo` in namespace `apps`, and compared with
//! `<case>/expected<suffix>.yaml`: each manifest as a YAML document headed by
//! its file and index, or `error: <message>`. `FERRY_BLESS=1` rewrites the
//! expected files.
//!
//! Both backends run every case and must agree byte for byte: the library
//! (`FERRY_LIBHELM`, installed by `scripts/helm-sdk`) and the CLI, whose
//! `helm` is the shim `testdata/helm/bin/helm` over the same library (or the
//! program named by `FERRY_TEST_HELM`). Nothing is skipped: without the
//! library the tests fail and say how to install it.

use std::fs;
use std::path::{Path, PathBuf};

use application::{ApplicationSource, HelmSource};

use super::*;
use crate::{AppInfo, Manifest, RenderError};

mod registries;
mod units;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("helm")
}

fn library() -> PathBuf {
    let path = std::env::var_os("FERRY_LIBHELM").filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!("FERRY_LIBHELM is not set: run `export FERRY_LIBHELM=$(scripts/helm-sdk)` (installs helm-python-sdk)")
    });
    let path = PathBuf::from(path);
    assert!(path.exists(), "FERRY_LIBHELM={} does not exist: run scripts/helm-sdk", path.display());
    path
}

fn shim() -> PathBuf {
    std::env::var_os("FERRY_TEST_HELM").map(PathBuf::from).unwrap_or_else(|| testdata().join("bin").join("helm"))
}

/// Both backends, library first.
fn backends() -> Vec<(&'static str, HelmTools)> {
    library();
    vec![
        ("lib", HelmTools::new(HelmOptions { engine: Some(HelmEngine::Library(library())), ..HelmOptions::default() })),
        ("cli", HelmTools::new(HelmOptions { engine: Some(HelmEngine::Cli(shim())), ..HelmOptions::default() })),
    ]
}

fn app() -> AppInfo {
    AppInfo { name: "demo".into(), namespace: "apps".into(), ..AppInfo::default() }
}

fn to_text(outcome: &Result<(Vec<Manifest>, String), RenderError>) -> String {
    match outcome {
        Ok((manifests, _)) => manifests
            .iter()
            .map(|m| format!("--- # {} [{}]\n{}", m.file, m.index, serde_saphyr::to_string(&m.object).unwrap()))
            .collect(),
        Err(error) => format!("error: {}\n", serde_json::to_string(&error.to_string()).unwrap()),
    }
}

fn load(path: &Path) -> ApplicationSource {
    serde_saphyr::from_str(&fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, with its content, to prove renders write nothing.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((
                    path.clone(),
                    fs::read_link(&path)
                        .map(|l| l.into_os_string().into_encoded_bytes())
                        .unwrap_or_else(|_| fs::read(&path).unwrap()),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn helm_golden_cases_agree_across_backends() {
    let backends = backends();
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    let mut cases: Vec<PathBuf> =
        fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("repo").is_dir()).collect();
    cases.sort();
    for case in cases {
        let before = snapshot(&case.join("repo"));
        let mut apps: Vec<String> = fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("app") && n.ends_with(".yaml"))
            .collect();
        apps.sort();
        for app_file in apps {
            count += 1;
            let suffix = &app_file["app".len()..app_file.len() - ".yaml".len()];
            let label = format!("{}/{app_file}", case.file_name().unwrap().to_string_lossy());
            let source = load(&case.join(&app_file));
            let helm = source.helm.clone().unwrap_or_default();
            let outputs: Vec<(&str, String)> = backends
                .iter()
                .map(|(name, tools)| {
                    (*name, to_text(&render_helm(&case.join("repo"), &source.path, &helm, &app(), tools)))
                })
                .collect();
            let actual = &outputs[0].1;
            if outputs[1].1 != *actual {
                failures.push(format!("{label}: backends differ:\n--- lib\n{actual}\n--- cli\n{}", outputs[1].1));
            }
            let expected_path = case.join(format!("expected{suffix}.yaml"));
            if bless {
                fs::write(&expected_path, actual).unwrap();
                continue;
            }
            let expected =
                fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{label}: {e} (run with FERRY_BLESS=1)"));
            if *actual != expected {
                failures.push(format!("{label}:\n--- expected\n{expected}\n--- actual\n{actual}"));
            }
        }
        assert_eq!(snapshot(&case.join("repo")), before, "{}: a render changed the checkout", case.display());
    }
    assert!(count >= 15, "golden cases found: {count}");
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn helm_values_per_environment_and_hooks() {
    let repo = testdata().join("envs").join("repo");
    for (name, tools) in backends() {
        let render = |file: &str| {
            let helm = load(&testdata().join("envs").join(file)).helm.unwrap();
            render_helm(&repo, "charts/web", &helm, &app(), &tools).unwrap()
        };
        let (dev, version) = render("app-dev.yaml");
        assert!(version.starts_with('v'), "{name}: {version}");
        let find = |ms: &[Manifest], kind: &str| ms.iter().find(|m| m.object["kind"] == kind).cloned().unwrap();
        let deployment = find(&dev, "Deployment");
        assert_eq!(deployment.file, "web/templates/deployment.yaml", "{name}");
        assert_eq!(deployment.object["metadata"]["name"], "demo-web");
        assert_eq!(deployment.object["metadata"]["namespace"], "apps");
        assert_eq!(deployment.object["spec"]["replicas"], 1);
        let (prod, _) = render("app-prod.yaml");
        let deployment = find(&prod, "Deployment");
        assert_eq!(deployment.object["metadata"]["name"], "shop-web", "{name}");
        assert_eq!(deployment.object["metadata"]["namespace"], "prod");
        assert_eq!(deployment.object["spec"]["replicas"], 3);
        assert_eq!(deployment.object["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
        // The vendored dependency renders with the parent's values.
        assert_eq!(find(&prod, "ConfigMap").object["data"]["greeting"], "hello", "{name}");
        // Hooks stay, annotations intact, for the sync phases.
        let job = find(&prod, "Job");
        assert_eq!(job.object["metadata"]["annotations"]["helm.sh/hook"], "pre-install,pre-upgrade", "{name}");
        assert_eq!(job.object["metadata"]["annotations"]["helm.sh/hook-weight"], "-5");
        // CRDs from the chart's crds/, unless skipped.
        assert_eq!(find(&prod, "CustomResourceDefinition").file, "web/crds/widgets.yaml");
        let (skipped, _) = render("app-skip-crds.yaml");
        assert!(skipped.iter().all(|m| m.object["kind"] != "CustomResourceDefinition"), "{name}");
        assert!(!skipped.is_empty());
    }
}

#[test]
fn helm_rendering_twice_is_byte_identical() {
    for (name, tools) in backends() {
        let repo = testdata().join("features").join("repo");
        let helm = load(&testdata().join("features").join("app-parameters.yaml")).helm.unwrap();
        let first = to_text(&render_helm(&repo, "chart", &helm, &app(), &tools));
        let second = to_text(&render_helm(&repo, "chart", &helm, &app(), &tools));
        assert!(first.starts_with("---"), "{name}: {first}");
        assert_eq!(first, second, "{name}");
    }
}

#[test]
fn helm_errors_are_clear_and_keep_secrets_out() {
    let repo = testdata().join("errors").join("repo");
    for (name, tools) in backends() {
        let helm = HelmSource { release_name: Some("db".into()), ..HelmSource::default() };
        let error = render_helm(&repo, "broken", &helm, &app(), &tools).unwrap_err();
        let RenderError::ToolFailed { tool, message } = &error else { panic!("{name}: {error:?}") };
        assert_eq!(tool, "helm");
        assert!(message.contains("broken/templates/secret.yaml"), "{name}: {message}");
        assert!(!message.contains("c3VwZXJzZWNyZXQ="), "{name}: secret data in {message}");
        assert!(message.len() <= 2100, "{name}: {}", message.len());

        let helm = HelmSource { value_files: vec!["values-missing.yaml".into()], ..HelmSource::default() };
        let error = render_helm(&repo, "chart", &helm, &app(), &tools).unwrap_err();
        assert!(
            matches!(&error, RenderError::PathNotFound { path } if path == "chart/values-missing.yaml"),
            "{error:?}"
        );

        for file in ["../../../etc/passwd", "/etc/passwd", "../values/passwd.yaml", "../values/outside.yaml"] {
            let helm = HelmSource { value_files: vec![file.into()], ..HelmSource::default() };
            let error = render_helm(&repo, "chart", &helm, &app(), &tools).unwrap_err();
            assert!(matches!(error, RenderError::PathEscapesRepository { .. }), "{name} {file}: {error:?}");
            // Even when missing files are ignored, escapes are not.
            let helm = HelmSource { ignore_missing_value_files: true, ..helm };
            let error = render_helm(&repo, "chart", &helm, &app(), &tools).unwrap_err();
            assert!(matches!(error, RenderError::PathEscapesRepository { .. }), "{name} {file}: {error:?}");
        }
    }
}

#[test]
fn helm_missing_tool_names_what_to_install() {
    let tools = HelmTools::new(HelmOptions {
        engine: Some(HelmEngine::Library(PathBuf::from("/nonexistent/libhelm_c.so"))),
        ..HelmOptions::default()
    });
    let repo = testdata().join("envs").join("repo");
    let error = render_helm(&repo, "charts/web", &HelmSource::default(), &app(), &tools).unwrap_err();
    let RenderError::ToolMissing { tool, hint } = &error else { panic!("{error:?}") };
    assert_eq!(tool, "helm");
    assert!(hint.contains("pip install helm-python-sdk") && hint.contains("helm"), "{hint}");
    assert!(tools.describe().contains("no Helm backend"), "{}", tools.describe());

    let tools = HelmTools::new(HelmOptions {
        engine: Some(HelmEngine::Cli(PathBuf::from("/nonexistent/helm"))),
        ..HelmOptions::default()
    });
    let error = render_helm(&repo, "charts/web", &HelmSource::default(), &app(), &tools).unwrap_err();
    assert!(
        matches!(&error, RenderError::ToolMissing { hint, .. } if hint.contains("pip install helm-python-sdk")),
        "{error:?}"
    );
}

#[test]
fn helm_describe_names_backend_and_version() {
    for (name, tools) in backends() {
        let text = tools.describe();
        let expected = if name == "lib" { "libhelm v4" } else { "helm CLI v4" };
        assert!(text.starts_with(expected), "{name}: {text}");
    }
}

#[test]
fn helm_limits_apply_to_both_backends() {
    let repo = testdata().join("envs").join("repo");
    let small =
        |engine| HelmTools::new(HelmOptions { engine: Some(engine), output_limit: 100, ..HelmOptions::default() });
    for tools in [small(HelmEngine::Library(library())), small(HelmEngine::Cli(shim()))] {
        let error = render_helm(&repo, "charts/web", &HelmSource::default(), &app(), &tools).unwrap_err();
        assert!(matches!(error, RenderError::OutputTooLarge { limit: 100, .. }), "{}: {error:?}", tools.describe());
    }

    // A CLI that never finishes is killed at the timeout.
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("helm");
    fs::write(&slow, "#!/bin/sh\nexec sleep 600\n").unwrap();
    fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tools = HelmTools::new(HelmOptions {
        engine: Some(HelmEngine::Cli(slow)),
        timeout: std::time::Duration::from_secs(1),
        ..HelmOptions::default()
    });
    let error = render_helm(&repo, "charts/web", &HelmSource::default(), &app(), &tools).unwrap_err();
    assert!(matches!(error, RenderError::Timeout { seconds: 1, .. }), "{error:?}");

    // A library call that does not return is given up at the timeout.
    let backend = library::LibraryBackend::open(&library(), std::time::Duration::from_millis(200), 1024).unwrap();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let error = backend
        .on_thread(move |_| {
            let _ = blocked.recv();
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(error, RenderError::Timeout { .. }), "{error:?}");
    drop(release);
}
