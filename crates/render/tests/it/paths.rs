//! Path confinement, symlinks, errors and determinism, on trees built in
//! temporary directories (symlinks cannot live in testdata portably).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use render::{DirectoryOptions, MAX_FILE_BYTES, Manifest, RenderError, render_directory};

fn object(kind: &str, name: &str) -> String {
    format!("apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n")
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn recurse() -> DirectoryOptions {
    DirectoryOptions { recurse: true, ..DirectoryOptions::default() }
}

fn names(manifests: &[Manifest]) -> Vec<String> {
    manifests
        .iter()
        .map(|m| format!("{}:{}", m.file, m.object["metadata"]["name"].as_str().unwrap_or("<no name>")))
        .collect()
}

fn escaped_path(result: Result<Vec<Manifest>, RenderError>) -> String {
    match result {
        Err(RenderError::PathEscapesRepository { path }) => path,
        other => panic!("expected PathEscapesRepository, got {other:?}"),
    }
}

#[test]
fn recurse_off_reads_only_the_top_directory() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "app/top.yaml", &object("ConfigMap", "top"));
    write(repo.path(), "app/nested/inner.yaml", &object("ConfigMap", "inner"));
    let flat = render_directory(repo.path(), "app", &DirectoryOptions::default()).unwrap();
    assert_eq!(names(&flat), ["app/top.yaml:top"]);
    let deep = render_directory(repo.path(), "app", &recurse()).unwrap();
    assert_eq!(names(&deep), ["app/nested/inner.yaml:inner", "app/top.yaml:top"]);
}

#[test]
fn output_is_sorted_by_path_and_identical_across_runs() {
    let repo = tempfile::tempdir().unwrap();
    // Created in reverse order, so a listing in creation order would differ.
    for name in ["z.yaml", "m/b.yaml", "m.yaml", "a.json"] {
        let text = if name.ends_with(".json") {
            format!("{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{}\"}}}}", &name[..1])
        } else {
            object("ConfigMap", &name[..1]) + "---\n" + &object("Secret", &format!("{}2", &name[..1]))
        };
        write(repo.path(), name, &text);
    }
    let first = render_directory(repo.path(), "", &recurse()).unwrap();
    assert_eq!(
        names(&first),
        ["a.json:a", "m.yaml:m", "m.yaml:m2", "m/b.yaml:m", "m/b.yaml:m2", "z.yaml:z", "z.yaml:z2"]
    );
    assert_eq!(first.iter().map(|m| m.index).collect::<Vec<_>>(), [0, 0, 1, 0, 1, 0, 1]);
    let dump = |ms: &[Manifest]| ms.iter().map(|m| format!("{} {} {}", m.file, m.index, m.object)).collect::<String>();
    for _ in 0..3 {
        assert_eq!(dump(&render_directory(repo.path(), "", &recurse()).unwrap()), dump(&first));
    }
}

#[test]
fn dot_dot_that_escapes_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer.path().join("repo");
    write(&repo, "app/a.yaml", &object("ConfigMap", "a"));
    write(outer.path(), "secret/s.yaml", &object("Secret", "stolen"));
    assert_eq!(escaped_path(render_directory(&repo, "../secret", &recurse())), "../secret");
    assert_eq!(escaped_path(render_directory(&repo, "app/../../secret", &recurse())), "app/../../secret");
    // `..` that stays inside the repository is fine.
    let inside = render_directory(&repo, "app/../app", &recurse()).unwrap();
    assert_eq!(names(&inside), ["app/a.yaml:a"]);
}

#[test]
fn absolute_app_path_is_refused() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "app/a.yaml", &object("ConfigMap", "a"));
    let absolute = repo.path().join("app").display().to_string();
    assert_eq!(escaped_path(render_directory(repo.path(), &absolute, &recurse())), absolute);
    assert_eq!(escaped_path(render_directory(repo.path(), "/etc", &recurse())), "/etc");
}

#[test]
fn symlinked_file_outside_the_repo_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer.path().join("repo");
    write(&repo, "app/a.yaml", &object("ConfigMap", "a"));
    write(outer.path(), "outside.yaml", &object("Secret", "stolen"));
    symlink(outer.path().join("outside.yaml"), repo.join("app/nested-link.yaml")).unwrap();
    assert_eq!(escaped_path(render_directory(&repo, "app", &DirectoryOptions::default())), "app/nested-link.yaml");
}

#[test]
fn symlinked_directory_outside_the_repo_is_refused_at_any_depth() {
    let outer = tempfile::tempdir().unwrap();
    let repo = outer.path().join("repo");
    write(&repo, "app/deep/er/a.yaml", &object("ConfigMap", "a"));
    write(outer.path(), "elsewhere/s.yaml", &object("Secret", "stolen"));
    symlink(outer.path().join("elsewhere"), repo.join("app/deep/er/escape")).unwrap();
    assert_eq!(escaped_path(render_directory(&repo, "app", &recurse())), "app/deep/er/escape");
    // The app path itself through a symlink leading out.
    symlink(outer.path().join("elsewhere"), repo.join("linked-app")).unwrap();
    assert_eq!(escaped_path(render_directory(&repo, "linked-app", &recurse())), "linked-app");
}

#[test]
fn symlinks_inside_the_repo_are_followed() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "shared/base.yaml", &object("ConfigMap", "base"));
    write(repo.path(), "app/own.yaml", &object("ConfigMap", "own"));
    symlink("../shared", repo.path().join("app/shared-dir")).unwrap();
    symlink("../shared/base.yaml", repo.path().join("app/linked.yaml")).unwrap();
    let manifests = render_directory(repo.path(), "app", &recurse()).unwrap();
    assert_eq!(names(&manifests), ["app/linked.yaml:base", "app/own.yaml:own", "app/shared-dir/base.yaml:base"]);
}

#[test]
fn symlink_cycles_terminate() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "app/a/x.yaml", &object("ConfigMap", "x"));
    symlink("..", repo.path().join("app/a/up")).unwrap();
    symlink(".", repo.path().join("app/self")).unwrap();
    let manifests = render_directory(repo.path(), "app", &recurse()).unwrap();
    assert_eq!(names(&manifests), ["app/a/x.yaml:x"]);
}

#[test]
fn missing_app_path_is_reported() {
    let repo = tempfile::tempdir().unwrap();
    match render_directory(repo.path(), "nope", &recurse()) {
        Err(RenderError::PathNotFound { path }) => assert_eq!(path, "nope"),
        other => panic!("expected PathNotFound, got {other:?}"),
    }
    write(repo.path(), "file.yaml", &object("ConfigMap", "a"));
    assert!(matches!(render_directory(repo.path(), "file.yaml", &recurse()), Err(RenderError::NotADirectory { .. })));
}

#[test]
fn invalid_yaml_names_file_and_document_and_fails_the_whole_render() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "a-good.yaml", &object("ConfigMap", "good"));
    let bad = format!("{}---\n{}---\nkind: [unclosed\n", object("ConfigMap", "one"), object("ConfigMap", "two"));
    write(repo.path(), "b-bad.yaml", &bad);
    match render_directory(repo.path(), "", &recurse()) {
        Err(RenderError::Parse { file, document, message }) => {
            assert_eq!((file.as_str(), document), ("b-bad.yaml", 2));
            assert!(!message.is_empty());
        }
        other => panic!("expected Parse, got {other:?}"),
    }
    write(repo.path(), "b-bad.yaml", "");
    write(repo.path(), "c.json", "{\"apiVersion\": ");
    assert!(matches!(
        render_directory(repo.path(), "", &recurse()),
        Err(RenderError::Parse { file, document: 0, .. }) if file == "c.json"
    ));
}

#[test]
fn objects_without_kind_or_api_version_are_refused() {
    let repo = tempfile::tempdir().unwrap();
    write(repo.path(), "a.yaml", &(object("ConfigMap", "ok") + "---\napiVersion: v1\nmetadata:\n  name: kindless\n"));
    match render_directory(repo.path(), "", &recurse()) {
        Err(RenderError::InvalidObject { file, document, message }) => {
            assert_eq!((file.as_str(), document), ("a.yaml", 1));
            assert!(message.contains("kind"), "{message}");
        }
        other => panic!("expected InvalidObject, got {other:?}"),
    }
    write(repo.path(), "a.yaml", "kind: ConfigMap\n");
    assert!(matches!(render_directory(repo.path(), "", &recurse()), Err(RenderError::InvalidObject { .. })));
    write(repo.path(), "a.yaml", "just a string\n");
    assert!(matches!(render_directory(repo.path(), "", &recurse()), Err(RenderError::InvalidObject { .. })));
    // List items are checked too.
    write(repo.path(), "a.yaml", "apiVersion: v1\nkind: List\nitems:\n  - metadata: {name: x}\n");
    assert!(matches!(render_directory(repo.path(), "", &recurse()), Err(RenderError::InvalidObject { .. })));
}

#[test]
fn files_over_the_limit_are_refused() {
    let repo = tempfile::tempdir().unwrap();
    let file = fs::File::create(repo.path().join("huge.yaml")).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    match render_directory(repo.path(), "", &recurse()) {
        Err(e @ RenderError::FileTooLarge { .. }) => assert!(e.to_string().contains("huge.yaml"), "{e}"),
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
}

#[test]
fn invalid_glob_is_reported() {
    let repo = tempfile::tempdir().unwrap();
    let options = DirectoryOptions { include: Some("{a,b".to_owned()), ..recurse() };
    assert!(matches!(
        render_directory(repo.path(), "", &options),
        Err(RenderError::InvalidPattern { pattern, .. }) if pattern == "{a,b"
    ));
}
