//! Which tool renders an app: the explicit field first, then the files at
//! the path, as Argo CD decides.

use std::fs;
use std::path::Path;

use application::{ApplicationSource, DirectorySource};

use crate::paths::{normalize, resolve_inside};
use crate::{DirectoryOptions, RenderError, Source};

/// File names that make a directory a Kustomize app, in the order Kustomize
/// itself looks for them.
pub(crate) const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The [`Source`] for an app's spec and the files at its path.
///
/// Explicit fields win: `kustomize` → Kustomize, `helm` or `chart` → Helm,
/// `plugin` → a plugin, `directory.jsonnet` → Jsonnet; setting more than one
/// of them is refused, as in Argo CD (an empty `directory: {}` does not
/// count). Otherwise the files directly at the path decide: a kustomization →
/// Kustomize, `Chart.yaml` → Helm, any `*.jsonnet` →
/// Jsonnet, else a plain directory. A `directory` block without `jsonnet`
/// still makes the app a directory (never Kustomize or Helm), but its
/// `*.jsonnet` files are evaluated, as Argo CD's directory type does.
///
/// The path is checked before anything is read: absolute paths, `..` above
/// the root and symlinks out of it are refused. A path that does not exist
/// detects as a directory, whose render then reports it missing.
pub fn detect(repo_root: &Path, source: &ApplicationSource) -> Result<Source, RenderError> {
    // An empty `directory: {}` (as UIs write it) says nothing, as in Argo CD.
    let directory = source.directory.as_ref().filter(|d| **d != DirectorySource::default());
    let explicit: Vec<&str> = [
        ("directory", directory.is_some()),
        ("kustomize", source.kustomize.is_some()),
        ("helm", source.helm.is_some() || source.chart.is_some()),
        ("plugin", source.plugin.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if explicit.len() > 1 {
        return Err(RenderError::InvalidSource {
            message: format!("spec.source sets {}; choose one", explicit.join(" and ")),
        });
    }
    if let Some(kustomize) = &source.kustomize {
        return Ok(Source::Kustomize(kustomize.clone()));
    }
    if let Some(plugin) = &source.plugin {
        return Ok(Source::Plugin(plugin.clone()));
    }
    if source.helm.is_some() || source.chart.is_some() {
        return Ok(Source::Helm(source.helm.clone().unwrap_or_default()));
    }
    let options = directory_options(directory);
    if let Some(jsonnet) = directory.and_then(|d| d.jsonnet.as_ref()) {
        return Ok(Source::Jsonnet(options, jsonnet.clone()));
    }

    let root =
        fs::canonicalize(repo_root).map_err(|_| RenderError::PathNotFound { path: repo_root.display().to_string() })?;
    let app_rel = normalize(&source.path)?;
    let Some(app_dir) = resolve_inside(&root, &app_rel, &source.path)? else {
        return Ok(Source::Directory(options));
    };
    if directory.is_none() {
        if KUSTOMIZATION_FILES.iter().any(|name| app_dir.join(name).is_file()) {
            return Ok(Source::Kustomize(application::KustomizeSource::default()));
        }
        if app_dir.join("Chart.yaml").is_file() {
            return Ok(Source::Helm(application::HelmSource::default()));
        }
    }
    if has_jsonnet(&app_dir) {
        return Ok(Source::Jsonnet(options, application::JsonnetSource::default()));
    }
    Ok(Source::Directory(options))
}

/// The directory options of a spec; empty globs count as unset.
fn directory_options(directory: Option<&DirectorySource>) -> DirectoryOptions {
    DirectoryOptions {
        recurse: directory.is_some_and(|d| d.recurse),
        include: directory.and_then(|d| d.include.clone()).filter(|s| !s.is_empty()),
        exclude: directory.and_then(|d| d.exclude.clone()).filter(|s| !s.is_empty()),
    }
}

/// Whether a `*.jsonnet` file sits directly in `dir` (unreadable: no).
fn has_jsonnet(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        Path::new(&entry.file_name()).extension().is_some_and(|e| e == "jsonnet") && entry.path().is_file()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::normalize;

    #[test]
    fn normalize_keeps_paths_inside() {
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("./a/b/../c/").unwrap(), "a/c");
        assert!(matches!(normalize("a/../.."), Err(RenderError::PathEscapesRepository { .. })));
        assert!(matches!(normalize("/etc"), Err(RenderError::PathEscapesRepository { .. })));
    }
}
