//! Kustomize apps with the real tool, and source type detection.
//!
//! Golden cases: each `testdata/kustomize/<case>/app<suffix>.yaml` (an
//! `ApplicationSource`) is detected and rendered against `<case>/repo` and
//! compared with `<case>/expected<suffix>.yaml`: the manifests as
//! multi-document YAML, or `error: <message>` when the render fails.
//! `FERRY_BLESS=1` rewrites the expected files.
//!
//! The tool is the pinned kubectl named by `FERRY_TEST_KUBECTL` when set,
//! otherwise whatever this machine offers (`kustomize`, else `kubectl`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use application::{ApplicationSource, DirectorySource, JsonnetSource, KustomizeSource};
use render::{KustomizeOptions, KustomizeTool, Manifest, RenderError, Source, detect, render_kustomize_with};

fn options() -> KustomizeOptions {
    KustomizeOptions {
        tool: std::env::var_os("FERRY_TEST_KUBECTL").map(|k| KustomizeTool::Kubectl(PathBuf::from(k))),
        ..KustomizeOptions::default()
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("kustomize")
}

/// Detects and renders like the controller, with the test's tool.
fn render_source(repo: &Path, source: &ApplicationSource) -> Result<Vec<Manifest>, RenderError> {
    match detect(repo, source)? {
        Source::Kustomize(overrides) => render_kustomize_with(repo, &source.path, &overrides, &options()),
        other => render::render(repo, &source.path, &other, &render::AppInfo::default(), &render::Toolbox::default())
            .map(|r| r.manifests),
    }
}

fn to_yaml(manifests: &[Manifest]) -> String {
    manifests.iter().map(|m| format!("---\n{}", serde_saphyr::to_string(&m.object).unwrap())).collect()
}

fn outcome_text(outcome: &Result<Vec<Manifest>, RenderError>) -> String {
    match outcome {
        Ok(manifests) => to_yaml(manifests),
        Err(error) => format!("error: {}\n", serde_json::to_string(&error.to_string()).unwrap()),
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("FERRY_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut count = 0;
    let mut cases: Vec<PathBuf> = fs::read_dir(testdata()).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    for case in cases {
        let mut apps: Vec<String> = fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("app") && n.ends_with(".yaml"))
            .collect();
        apps.sort();
        for app in apps {
            count += 1;
            let suffix = &app["app".len()..app.len() - ".yaml".len()];
            let label = format!("{}/{app}", case.file_name().unwrap().to_string_lossy());
            let source: ApplicationSource = serde_saphyr::from_str(&fs::read_to_string(case.join(&app)).unwrap())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let actual = outcome_text(&render_source(&case.join("repo"), &source));
            let expected_path = case.join(format!("expected{suffix}.yaml"));
            if bless {
                fs::write(&expected_path, &actual).unwrap();
                continue;
            }
            let expected =
                fs::read_to_string(&expected_path).unwrap_or_else(|e| panic!("{label}: {e} (run with FERRY_BLESS=1)"));
            if actual != expected {
                failures.push(format!("{label}:\n--- expected\n{expected}\n--- actual\n{actual}"));
            }
        }
    }
    assert!(count >= 10, "golden cases found: {count}");
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}

fn source(path: &str) -> ApplicationSource {
    ApplicationSource { repo_url: "file:///unused".into(), path: path.into(), ..ApplicationSource::default() }
}

#[test]
fn overlays_differ_per_environment() {
    let repo = testdata().join("overlays").join("repo");
    let replicas = |env: &str| {
        let manifests = render_source(&repo, &source(&format!("overlays/{env}"))).unwrap();
        let deployment = manifests.iter().find(|m| m.object["kind"] == "Deployment").unwrap();
        assert_eq!(deployment.object["metadata"]["name"], format!("{env}-web"));
        assert_eq!(deployment.file, format!("overlays/{env}/kustomization.yaml"));
        (deployment.object["spec"]["replicas"].as_i64().unwrap(), deployment.object.clone())
    };
    assert_eq!(replicas("dev").0, 1);
    assert_eq!(replicas("staging").0, 2);
    let (count, prod) = replicas("prod");
    assert_eq!(count, 3);
    assert_eq!(prod["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
    assert_eq!(prod["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"], "512Mi");
}

#[test]
fn rendering_twice_is_byte_identical() {
    for (case, app) in [("overrides", "app.yaml"), ("overlays", "app-prod.yaml")] {
        let dir = testdata().join(case);
        let source: ApplicationSource = serde_saphyr::from_str(&fs::read_to_string(dir.join(app)).unwrap()).unwrap();
        let first = to_yaml(&render_source(&dir.join("repo"), &source).unwrap());
        let second = to_yaml(&render_source(&dir.join("repo"), &source).unwrap());
        assert!(!first.is_empty());
        assert_eq!(first, second, "{case}");
    }
}

#[test]
fn overrides_work_on_a_read_only_checkout_and_leave_it_untouched() {
    let checkout = tempfile::tempdir().unwrap();
    copy_tree(&testdata().join("overrides").join("repo"), checkout.path());
    let before = listing(checkout.path());
    set_read_only(checkout.path());
    let case = testdata().join("overrides");
    let source: ApplicationSource =
        serde_saphyr::from_str(&fs::read_to_string(case.join("app.yaml")).unwrap()).unwrap();
    let manifests = render_source(checkout.path(), &source);
    set_writable(checkout.path());
    let manifests = manifests.unwrap();
    assert!(manifests.iter().any(|m| m.object["metadata"]["name"] == "team-api-v1"));
    assert_eq!(listing(checkout.path()), before, "the checkout is unchanged");
}

#[test]
fn missing_tool_names_what_to_install() {
    let repo = testdata().join("overlays").join("repo");
    let options = KustomizeOptions {
        tool: Some(KustomizeTool::Kubectl("/nonexistent/kubectl".into())),
        ..KustomizeOptions::default()
    };
    let error = render_kustomize_with(&repo, "overlays/dev", &KustomizeSource::default(), &options).unwrap_err();
    match &error {
        RenderError::ToolMissing { tool, hint } => {
            assert_eq!(tool, "kustomize");
            assert!(hint.contains("install kustomize") && hint.contains("kubectl"), "{hint}");
        }
        other => panic!("expected ToolMissing, got {other:?}"),
    }
}

/// A fake tool: a shell script with `body`.
fn fake_tool(dir: &Path, body: &str) -> KustomizeTool {
    let path = dir.join("fake-kustomize");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    KustomizeTool::Kustomize(path)
}

#[test]
fn a_hanging_tool_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    // The tool starts a child that would outlive it, then hangs.
    let tool = fake_tool(dir.path(), &format!("sleep 300 &\necho $! > {}\nwait", pid_file.display()));
    let options = KustomizeOptions { tool: Some(tool), timeout: Duration::from_secs(1), ..KustomizeOptions::default() };
    let repo = testdata().join("overlays").join("repo");
    let error = render_kustomize_with(&repo, "overlays/dev", &KustomizeSource::default(), &options).unwrap_err();
    assert!(matches!(&error, RenderError::Timeout { tool, seconds: 1 } if tool == "kustomize"), "{error:?}");
    let child: u32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Gone, or a zombie waiting for its new parent to reap it.
        let state = fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if state.is_empty() || state.split_whitespace().nth(2) == Some("Z") {
            break;
        }
        assert!(Instant::now() < deadline, "the tool's child {child} is still running: {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn output_over_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tool = fake_tool(dir.path(), "yes 'apiVersion: v1' | head -c 100000");
    let options = KustomizeOptions { tool: Some(tool), output_limit: 10_000, ..KustomizeOptions::default() };
    let repo = testdata().join("overlays").join("repo");
    let error = render_kustomize_with(&repo, "overlays/dev", &KustomizeSource::default(), &options).unwrap_err();
    assert!(matches!(&error, RenderError::OutputTooLarge { limit: 10_000, .. }), "{error:?}");
}

#[test]
fn failures_show_the_end_of_stderr_without_secret_data() {
    let dir = tempfile::tempdir().unwrap();
    let tool = fake_tool(
        dir.path(),
        "for i in $(seq 1 500); do echo \"noise line $i\" >&2; done\n\
         printf 'apiVersion: v1\\nkind: Secret\\ndata:\\n  password: aHVudGVyMg==\\n' >&2\n\
         echo 'Error: the real cause' >&2\nexit 1",
    );
    let options = KustomizeOptions { tool: Some(tool), ..KustomizeOptions::default() };
    let repo = testdata().join("overlays").join("repo");
    let error = render_kustomize_with(&repo, "overlays/dev", &KustomizeSource::default(), &options).unwrap_err();
    let RenderError::ToolFailed { tool, message } = &error else { panic!("{error:?}") };
    assert_eq!(tool, "kustomize");
    assert!(message.len() <= 2048 + 3, "{}", message.len());
    assert!(message.ends_with("the real cause"), "{message}");
    assert!(!message.contains("aHVudGVyMg=="), "{message}");
}

#[test]
fn the_tool_version_is_known() {
    let tool = options().tool.map_or_else(KustomizeTool::find, Ok).unwrap();
    let version = tool.version().expect("the tool answers its version");
    assert!(version.contains("kustomize v"), "{version}");
    // The process-wide answer uses the machine's own tool, which may differ.
    if let Some(version) = render::kustomize_version() {
        assert!(version.contains("kustomize v"), "{version}");
    }
}

/// A repository tree for detection tests.
fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }
    dir
}

#[test]
fn detection_follows_files_and_explicit_fields() {
    let repo = tree(&[
        "k/kustomization.yaml",
        "k2/kustomization.yml",
        "k3/Kustomization",
        "chart/Chart.yaml",
        "j/main.jsonnet",
        "j/deep/ignored.yaml",
        "jdeep/sub/main.jsonnet",
        "plain/a.yaml",
        "mixed/kustomization.yaml",
        "mixed/main.jsonnet",
    ]);
    let root = repo.path();
    let detected = |s: &ApplicationSource| detect(root, s);
    let default_dir = || Source::Directory(render::DirectoryOptions::default());

    for path in ["k", "k2", "k3", "mixed"] {
        assert_eq!(detected(&source(path)).unwrap(), Source::Kustomize(KustomizeSource::default()), "{path}");
    }
    assert_eq!(detected(&source("chart")).unwrap(), Source::Helm(application::HelmSource::default()));
    assert_eq!(
        detected(&source("j")).unwrap(),
        Source::Jsonnet(render::DirectoryOptions::default(), JsonnetSource::default())
    );
    // Only files directly in the directory count.
    assert_eq!(detected(&source("jdeep")).unwrap(), default_dir());
    assert_eq!(detected(&source("plain")).unwrap(), default_dir());
    assert_eq!(detected(&source("missing")).unwrap(), default_dir(), "render reports it missing");

    // Explicit kustomize wins over the files.
    let overrides = KustomizeSource { name_prefix: Some("p-".into()), ..KustomizeSource::default() };
    let explicit = ApplicationSource { kustomize: Some(overrides.clone()), ..source("plain") };
    assert_eq!(detected(&explicit).unwrap(), Source::Kustomize(overrides));
    // Explicit jsonnet, with the directory's options.
    let jsonnet = JsonnetSource { libs: vec!["lib".into()], ..JsonnetSource::default() };
    let explicit = ApplicationSource {
        directory: Some(DirectorySource {
            recurse: true,
            jsonnet: Some(jsonnet.clone()),
            ..DirectorySource::default()
        }),
        ..source("k")
    };
    let recurse = render::DirectoryOptions { recurse: true, ..render::DirectoryOptions::default() };
    assert_eq!(detected(&explicit).unwrap(), Source::Jsonnet(recurse.clone(), jsonnet));
    // A directory block makes it a directory even with a kustomization present.
    let explicit = ApplicationSource {
        directory: Some(DirectorySource { recurse: true, ..DirectorySource::default() }),
        ..source("k")
    };
    assert_eq!(detected(&explicit).unwrap(), Source::Directory(recurse));
    // ... but an empty one says nothing.
    let empty = ApplicationSource { directory: Some(DirectorySource::default()), ..source("k") };
    assert_eq!(detected(&empty).unwrap(), Source::Kustomize(KustomizeSource::default()));
    // Both kinds of options set: refused, as in Argo CD.
    let both = ApplicationSource {
        directory: Some(DirectorySource { recurse: true, ..DirectorySource::default() }),
        kustomize: Some(KustomizeSource::default()),
        ..source("k")
    };
    assert!(matches!(detected(&both), Err(RenderError::InvalidSource { .. })));
    // Explicit helm, chart or plugin win over the files; two of them are refused.
    let helm = application::HelmSource { release_name: Some("r".into()), ..Default::default() };
    let explicit = ApplicationSource { helm: Some(helm.clone()), ..source("k") };
    assert_eq!(detected(&explicit).unwrap(), Source::Helm(helm));
    let chart = ApplicationSource { chart: Some("nginx".into()), ..source("") };
    assert_eq!(detected(&chart).unwrap(), Source::Helm(application::HelmSource::default()));
    let plugin = application::PluginSource { name: Some("p".into()), ..Default::default() };
    let explicit = ApplicationSource { plugin: Some(plugin.clone()), ..source("chart") };
    assert_eq!(detected(&explicit).unwrap(), Source::Plugin(plugin.clone()));
    let both = ApplicationSource { plugin: Some(plugin), kustomize: Some(KustomizeSource::default()), ..source("k") };
    let error = detected(&both).unwrap_err();
    assert!(error.to_string().contains("kustomize and plugin"), "{error}");
}

#[test]
fn detection_refuses_paths_out_of_the_repository() {
    let outside = tree(&["kustomization.yaml"]);
    let repo = tree(&["app/a.yaml"]);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("link")).unwrap();
    for path in ["..", "app/../..", "/etc", "link"] {
        let error = detect(repo.path(), &source(path)).unwrap_err();
        assert!(matches!(error, RenderError::PathEscapesRepository { .. }), "{path}: {error:?}");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), target).unwrap();
        } else if kind.is_dir() {
            fs::create_dir(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.push((rel, Vec::new()));
            } else {
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn set_mode(dir: &Path, file_mode: u32, dir_mode: u32) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            set_mode(&path, file_mode, dir_mode);
            fs::set_permissions(&path, fs::Permissions::from_mode(dir_mode)).unwrap();
        } else {
            fs::set_permissions(&path, fs::Permissions::from_mode(file_mode)).unwrap();
        }
    }
}

fn set_read_only(dir: &Path) {
    set_mode(dir, 0o444, 0o555);
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
}

fn set_writable(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    set_mode(dir, 0o644, 0o755);
}
