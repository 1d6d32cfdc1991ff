//! Reproducible hydration: every source type renders the same inputs to
//! byte-identical output twice, in fresh copies of the repository, and
//! records the version of every tool it used.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use application::ApplicationSource;
use render::{AppInfo, Plugins, Toolbox};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Copies `from` into a fresh temp dir (symlinks kept as links).
fn copy(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status =
        std::process::Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(dir.path()).status();
    assert!(status.unwrap().success());
    dir
}

/// Renders `case/app` in a fresh copy of `case/repo`; the output as text
/// (objects in order, keys as rendered) and the tools recorded.
fn render_fresh(case: &str, app: &str, tools: &Toolbox) -> (String, Vec<(String, String)>) {
    let case_dir = testdata().join(case);
    let mut spec: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(case_dir.join(app)).unwrap()).unwrap();
    // Some cases leave the (unused) repository URL out.
    spec.as_object_mut().unwrap().entry("repoURL").or_insert_with(|| "file:///unused".into());
    let source: ApplicationSource = serde_json::from_value(spec).unwrap();
    let repo = copy(&case_dir.join("repo"));
    let info =
        AppInfo { name: "app".into(), namespace: "demo".into(), revision: "0123abcd".into(), ..AppInfo::default() };
    let detected = render::detect(repo.path(), &source).unwrap();
    let rendered = render::render(repo.path(), &source.path, &detected, &info, tools)
        .unwrap_or_else(|e| panic!("{case}/{app}: {e}"));
    assert!(!rendered.manifests.is_empty(), "{case}/{app}: nothing rendered");
    let text: String = rendered.manifests.iter().map(|m| serde_json::to_string(&m.object).unwrap() + "\n").collect();
    (text, rendered.tools.into_iter().collect())
}

#[test]
fn every_source_type_renders_byte_identically_and_records_its_tools() {
    let plugins = Plugins::load(&testdata().join("plugin/templates/plugins.yaml")).unwrap();
    let tools = Toolbox::new(render::HelmTools::default(), plugins);
    let cases = [
        ("kustomize/overlays", "app-prod.yaml", Some("kustomize")),
        ("jsonnet/tlas", "app.yaml", Some("jsonnet")),
        ("helm/envs", "app-prod.yaml", Some("helm")),
        ("plugin/templates", "app-discover.yaml", Some("plugin")),
    ];
    for (case, app, tool) in cases {
        let (first, first_tools) = render_fresh(case, app, &tools);
        let (second, second_tools) = render_fresh(case, app, &tools);
        assert_eq!(first, second, "{case}/{app}: two renders differ");
        assert_eq!(first_tools, second_tools, "{case}/{app}");
        let names: Vec<&str> = first_tools.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, tool.into_iter().collect::<Vec<_>>(), "{case}/{app}: tools recorded");
        assert!(first_tools.iter().all(|(_, version)| !version.is_empty() && version != "unknown"), "{first_tools:?}");
    }
}

#[test]
fn plain_directories_record_no_tool() {
    let repo = copy(&testdata().join("directory/repo"));
    let source = ApplicationSource::default();
    let detected = render::detect(repo.path(), &source).unwrap();
    let first = render::render(repo.path(), "", &detected, &AppInfo::default(), &Toolbox::default()).unwrap();
    let second = render::render(repo.path(), "", &detected, &AppInfo::default(), &Toolbox::default()).unwrap();
    assert_eq!(first, second);
    assert!(first.tools.is_empty(), "{:?}", first.tools);
}
