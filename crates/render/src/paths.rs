//! Paths from app specs, kept inside the repository: lexical normalisation,
//! resolution through symlinks with an escape check, and the app directory
//! every tool starts from.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::RenderError;

/// Lexically normalises a repository-relative path to `a/b/c` form (empty
/// for the root). Absolute paths and `..` that climbs above the root are
/// refused before touching the filesystem.
pub(crate) fn normalize(path: &str) -> Result<String, RenderError> {
    let escapes = || RenderError::PathEscapesRepository { path: path.to_owned() };
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(escapes)?),
            Component::ParentDir => {
                parts.pop().ok_or_else(escapes)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    Ok(parts.join("/"))
}

/// Canonicalises `root/rel` (symlinks followed) and checks it stays inside
/// the canonical `root`. `Ok(None)` when it does not exist. `shown` names the
/// path in errors.
pub(crate) fn resolve_inside(root: &Path, rel: &str, shown: &str) -> Result<Option<PathBuf>, RenderError> {
    match fs::canonicalize(root.join(rel)) {
        Ok(real) if real.starts_with(root) => Ok(Some(real)),
        Ok(_) => Err(RenderError::PathEscapesRepository { path: shown.to_owned() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RenderError::Io { path: shown.to_owned(), source }),
    }
}

/// The canonical repository root and app directory of `app_path`, checked to
/// be inside the repository and to be a directory.
pub(crate) fn app_dir(repo_root: &Path, app_path: &str) -> Result<(PathBuf, PathBuf), RenderError> {
    let root =
        fs::canonicalize(repo_root).map_err(|_| RenderError::PathNotFound { path: repo_root.display().to_string() })?;
    let app_rel = normalize(app_path)?;
    let dir = resolve_inside(&root, &app_rel, app_path)?
        .ok_or_else(|| RenderError::PathNotFound { path: app_path.to_owned() })?;
    if !dir.is_dir() {
        return Err(RenderError::NotADirectory { path: app_path.to_owned() });
    }
    Ok((root, dir))
}

/// The canonical target of the link at `path` (`rel` in messages), which
/// must be inside `root`; `None` when it dangles or loops (nothing to read).
pub(crate) fn resolve_link(root: &Path, path: &Path, rel: &str) -> Result<Option<PathBuf>, RenderError> {
    match fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(Some(real)),
        Ok(_) => Err(RenderError::PathEscapesRepository { path: rel.to_owned() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A loop of links, or a link through a file.
        Err(e)
            if matches!(
                rustix::io::Errno::from_io_error(&e),
                Some(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(io_error(rel, source)),
    }
}

/// `dir/name`, or `name` at the root.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// An IO error about `path` (repository-relative).
pub(crate) fn io_error(path: &str, source: std::io::Error) -> RenderError {
    RenderError::Io { path: path.to_owned(), source }
}
