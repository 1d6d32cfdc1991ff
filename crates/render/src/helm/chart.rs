//! The chart on disk: checking its tree stays inside the repository, finding
//! dependencies that `charts/` lacks, and the scratch copy in which they are
//! built (the checkout itself is never written).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::RenderError;
use crate::paths::{normalize, resolve_inside};

/// Deepest directory nesting followed, so a symlink loop inside the
/// repository ends instead of recursing forever.
const MAX_DEPTH: usize = 64;

/// What [`walk`] does with the tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Walk<'a> {
    /// Only check that no symlink leads outside the repository.
    Check,
    /// Check, and copy the tree (symlinks resolved) to this directory.
    CopyTo(&'a Path),
}

/// Walks `dir` (inside the canonical `root`), refusing any symlink whose
/// target is outside `root`: Helm follows symlinks in a chart, so one could
/// otherwise expose the controller's files through `.Files.Get`.
pub(crate) fn walk(root: &Path, dir: &Path, mode: Walk<'_>) -> Result<(), RenderError> {
    walk_at(root, dir, mode, 0)
}

fn walk_at(root: &Path, dir: &Path, mode: Walk<'_>, depth: usize) -> Result<(), RenderError> {
    let shown = |path: &Path| path.strip_prefix(root).unwrap_or(path).display().to_string();
    let io = |path: &Path| {
        let path = shown(path);
        move |source| RenderError::Io { path, source }
    };
    if depth > MAX_DEPTH {
        return Err(RenderError::InvalidSource { message: format!("{} is nested too deeply", shown(dir)) });
    }
    if let Walk::CopyTo(dest) = mode {
        fs::create_dir_all(dest).map_err(io(dest))?;
    }
    let mut entries: Vec<_> = fs::read_dir(dir).map_err(io(dir))?.collect::<Result<_, _>>().map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        let (is_dir, is_file) = if kind.is_symlink() {
            let real = match fs::canonicalize(&path) {
                Ok(real) => real,
                // A dangling link names nothing to read; Helm skips it too.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RenderError::Io { path: shown(&path), source }),
            };
            if !real.starts_with(root) {
                return Err(RenderError::PathEscapesRepository { path: shown(&path) });
            }
            (real.is_dir(), real.is_file())
        } else {
            (kind.is_dir(), kind.is_file())
        };
        let target = match mode {
            Walk::Check => None,
            Walk::CopyTo(dest) => Some(dest.join(entry.file_name())),
        };
        if is_dir {
            let sub = match &target {
                Some(target) => Walk::CopyTo(target),
                None => Walk::Check,
            };
            walk_at(root, &path, sub, depth + 1)?;
        } else if is_file && let Some(target) = target {
            fs::copy(&path, &target).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// One `dependencies` entry of `Chart.yaml` (or `requirements.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dependency {
    /// The subchart's name.
    pub(crate) name: String,
    /// Where it comes from (`https://…`, `oci://…`, `file://…`, or empty).
    pub(crate) repository: String,
}

/// The dependencies the chart at `chart_dir` declares.
pub(crate) fn dependencies(chart_dir: &Path, shown: &str) -> Result<Vec<Dependency>, RenderError> {
    let mut found = Vec::new();
    for file in ["Chart.yaml", "requirements.yaml"] {
        let path = chart_dir.join(file);
        let Ok(text) = fs::read_to_string(&path) else { continue };
        let name = if shown.is_empty() { file.to_owned() } else { format!("{shown}/{file}") };
        let value: Value = serde_saphyr::from_str(&text).map_err(|e| RenderError::Parse {
            file: name.clone(),
            document: 0,
            message: e.to_string(),
        })?;
        let Some(Value::Array(list)) = value.get("dependencies") else { continue };
        for item in list {
            let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
            if text("name").is_empty() {
                return Err(RenderError::InvalidObject {
                    file: name.clone(),
                    document: 0,
                    message: "a dependency has no name".to_owned(),
                });
            }
            found.push(Dependency { name: text("name"), repository: text("repository") });
        }
    }
    Ok(found)
}

/// Whether `charts/` holds the dependency: a directory named for it (or
/// whose `Chart.yaml` names it), or a `<name>-<version>.tgz`.
pub(crate) fn is_vendored(chart_dir: &Path, dependency: &Dependency) -> bool {
    let Ok(entries) = fs::read_dir(chart_dir.join("charts")) else { return false };
    entries.flatten().any(|entry| {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            file_name == dependency.name || chart_name(&path).is_some_and(|n| n == dependency.name)
        } else {
            file_name.ends_with(".tgz")
                && file_name
                    .strip_prefix(&dependency.name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit() || c == 'v'))
        }
    })
}

fn chart_name(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let value: Value = serde_saphyr::from_str(&text).ok()?;
    value.get("name")?.as_str().map(str::to_owned)
}

/// Copies the chart at `chart_rel` into `scratch` at the same
/// repository-relative place, with the `file://` dependencies it names (so
/// their relative paths still resolve). Returns the copy's chart directory.
pub(crate) fn copy_for_build(
    root: &Path,
    chart_rel: &str,
    chart_dir: &Path,
    dependencies: &[Dependency],
    scratch: &Path,
) -> Result<PathBuf, RenderError> {
    let copy = scratch.join(chart_rel);
    walk(root, chart_dir, Walk::CopyTo(&copy))?;
    for dependency in dependencies {
        let Some(local) = dependency.repository.strip_prefix("file://") else { continue };
        let joined = if chart_rel.is_empty() { local.to_owned() } else { format!("{chart_rel}/{local}") };
        let rel = if Path::new(local).is_absolute() {
            return Err(RenderError::PathEscapesRepository { path: dependency.repository.clone() });
        } else {
            normalize(&joined)
                .map_err(|_| RenderError::PathEscapesRepository { path: dependency.repository.clone() })?
        };
        let Some(real) = resolve_inside(root, &rel, &dependency.repository)? else {
            // Missing: `helm dependency build` reports it in its own words.
            continue;
        };
        if real.is_dir() && !rel.is_empty() && !Path::new(chart_rel).starts_with(&rel) {
            walk(root, &real, Walk::CopyTo(&scratch.join(&rel)))?;
        }
    }
    Ok(copy)
}
