//! Walking an app directory: path confinement, symlinks, include/exclude.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobMatcher};

use crate::{MAX_FILE_BYTES, Manifest, RenderError, documents};

/// Options for a directory of plain manifests; mirrors Argo CD's
/// `spec.source.directory`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryOptions {
    /// Descend into subdirectories; otherwise only the app directory itself is read.
    pub recurse: bool,
    /// Glob a file's path (relative to the app path) must match to be read,
    /// e.g. `{deploy.yaml,svc/*.yaml}`. `*` also matches `/`, as in Argo CD.
    pub include: Option<String>,
    /// Glob of files to skip; wins over `include`.
    pub exclude: Option<String>,
}

/// Extensions read as manifests; everything else in the tree is ignored.
const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Renders every manifest file under `app_path` (relative to `repo_root`).
///
/// Output is sorted by file path, then document order. The whole render fails
/// on the first bad file, so callers never see a partial desired state.
pub fn render_directory(
    repo_root: &Path,
    app_path: &str,
    options: &DirectoryOptions,
) -> Result<Vec<Manifest>, RenderError> {
    let selection = select_files(repo_root, app_path, options, is_manifest_name)?;
    let mut manifests = Vec::new();
    for file in &selection.files {
        let bytes = read_limited(&file.real, &file.rel_to_root)?;
        documents::parse_file(&file.rel_to_root, &bytes, &mut manifests)?;
    }
    Ok(manifests)
}

/// The files of an app directory that a source type reads, after
/// recurse/include/exclude; shared by every directory-based source type so
/// that confinement is checked in one place.
pub(crate) struct Selection {
    /// The canonical repository root.
    pub(crate) root: PathBuf,
    /// The canonical app directory.
    pub(crate) app_dir: PathBuf,
    /// The selected files, sorted by `rel_to_root`.
    pub(crate) files: Vec<FoundFile>,
}

/// Walks the app directory and keeps the files whose name `wanted` accepts
/// and that the options' include/exclude select. Every symlink met on the way
/// is checked to stay inside the repository.
pub(crate) fn select_files(
    repo_root: &Path,
    app_path: &str,
    options: &DirectoryOptions,
    wanted: fn(&str) -> bool,
) -> Result<Selection, RenderError> {
    let include = options.include.as_deref().map(compile).transpose()?;
    let exclude = options.exclude.as_deref().map(compile).transpose()?;

    let root =
        fs::canonicalize(repo_root).map_err(|_| RenderError::PathNotFound { path: repo_root.display().to_string() })?;
    let app_rel = normalize_app_path(app_path)?;
    let app_dir = resolve_inside(&root, &root.join(&app_rel), app_path)?
        .ok_or_else(|| RenderError::PathNotFound { path: app_path.to_owned() })?;
    let metadata = fs::metadata(&app_dir).map_err(|source| io_error(&app_rel, source))?;
    if !metadata.is_dir() {
        return Err(RenderError::NotADirectory { path: app_path.to_owned() });
    }

    let mut walk = Walk {
        root: &root,
        app_rel: &app_rel,
        recurse: options.recurse,
        wanted,
        visited: HashSet::new(),
        files: Vec::new(),
    };
    walk.visited.insert(app_dir.clone());
    walk.dir(&app_dir, "")?;

    let mut files: Vec<FoundFile> = walk
        .files
        .into_iter()
        .filter(|f| include.as_ref().is_none_or(|g| g.is_match(&f.rel_to_app)))
        .filter(|f| !exclude.as_ref().is_some_and(|g| g.is_match(&f.rel_to_app)))
        .collect();
    for file in &mut files {
        file.rel_to_root = join_rel(&app_rel, &file.rel_to_app);
    }
    // Paths are sorted as strings, not in walk order, so `a.yaml` comes before
    // `a/b.yaml` no matter how the directory listing was ordered.
    files.sort_by(|a, b| a.rel_to_root.cmp(&b.rel_to_root));
    Ok(Selection { root, app_dir, files })
}

fn compile(pattern: &str) -> Result<GlobMatcher, RenderError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| RenderError::InvalidPattern { pattern: pattern.to_owned(), message: e.kind().to_string() })
}

fn io_error(path: &str, source: std::io::Error) -> RenderError {
    RenderError::Io { path: path.to_owned(), source }
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// Lexically normalises the app path to `a/b/c` form. Absolute paths and `..`
/// that climbs above the root are refused before touching the filesystem, so
/// the answer does not depend on what happens to exist outside the repository.
pub(crate) fn normalize_app_path(app_path: &str) -> Result<String, RenderError> {
    let escapes = || RenderError::PathEscapesRepository { path: app_path.to_owned() };
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(app_path).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(escapes)?.to_owned()),
            Component::ParentDir => {
                parts.pop().ok_or_else(escapes)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    Ok(parts.join("/"))
}

/// Canonicalises `path` and checks it is inside `root`. `Ok(None)` when it
/// does not exist (or is a dangling symlink). `shown` names the path in errors.
pub(crate) fn resolve_inside(root: &Path, path: &Path, shown: &str) -> Result<Option<PathBuf>, RenderError> {
    match fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(Some(real)),
        Ok(_) => Err(RenderError::PathEscapesRepository { path: shown.to_owned() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error(shown, source)),
    }
}

/// A file found by the walk.
pub(crate) struct FoundFile {
    /// Canonical location to read from.
    pub(crate) real: PathBuf,
    /// Path relative to the app directory, as reached through the tree; what
    /// include/exclude match against.
    pub(crate) rel_to_app: String,
    /// Path relative to the repository root; filled in after filtering.
    pub(crate) rel_to_root: String,
}

struct Walk<'a> {
    root: &'a Path,
    /// The app path relative to the root, to name paths in errors.
    app_rel: &'a str,
    recurse: bool,
    /// Which file names the source type reads.
    wanted: fn(&str) -> bool,
    /// Canonical directories already read: a symlink cycle, or two links to
    /// the same directory, is read once instead of forever.
    visited: HashSet<PathBuf>,
    files: Vec<FoundFile>,
}

impl Walk<'_> {
    /// `rel` (relative to the app) as shown in errors: relative to the root.
    fn shown(&self, rel: &str) -> String {
        join_rel(self.app_rel, rel)
    }

    /// Reads the canonical directory `real`, reached as `rel` (relative to the app).
    fn dir(&mut self, real: &Path, rel: &str) -> Result<(), RenderError> {
        let mut entries = Vec::new();
        let shown = self.shown(rel);
        for entry in fs::read_dir(real).map_err(|source| io_error(&shown, source))? {
            let entry = entry.map_err(|source| io_error(&shown, source))?;
            entries.push(entry.file_name());
        }
        // Sorted so that which of two links to the same directory gets read
        // (the first one) does not depend on the filesystem's listing order.
        entries.sort();

        for name in entries {
            // A name that is not UTF-8 cannot be matched or reported faithfully;
            // a lossy name could collide with another file, so it is refused.
            let Some(name_str) = name.to_str() else {
                return Err(io_error(
                    &self.shown(&join_rel(rel, &name.to_string_lossy())),
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "file name is not UTF-8"),
                ));
            };
            let child_rel = join_rel(rel, name_str);
            let child_shown = self.shown(&child_rel);
            let path = real.join(&name);
            let link = fs::symlink_metadata(&path).map_err(|source| io_error(&child_shown, source))?;

            let (child_real, metadata) = if link.file_type().is_symlink() {
                // Every symlink in the walked tree is checked, even ones that
                // would be filtered out later: a link out of the repository is
                // a sign of a hostile tree and fails the render.
                match resolve_inside(self.root, &path, &child_shown)? {
                    Some(target) => {
                        let metadata = fs::metadata(&target).map_err(|source| io_error(&child_shown, source))?;
                        (target, metadata)
                    }
                    None if (self.wanted)(name_str) => {
                        return Err(io_error(
                            &child_shown,
                            std::io::Error::new(std::io::ErrorKind::NotFound, "dangling symlink"),
                        ));
                    }
                    None => continue,
                }
            } else {
                (path, link)
            };

            if metadata.is_dir() {
                // `.git` holds objects, not manifests, and can be large.
                if !self.recurse || name_str == ".git" {
                    continue;
                }
                if self.visited.insert(child_real.clone()) {
                    self.dir(&child_real, &child_rel)?;
                }
            } else if metadata.is_file() && (self.wanted)(name_str) {
                // Only regular files: reading a FIFO or device could block forever.
                self.files.push(FoundFile { real: child_real, rel_to_app: child_rel, rel_to_root: String::new() });
            }
        }
        Ok(())
    }
}

pub(crate) fn is_manifest_name(name: &str) -> bool {
    Path::new(name).extension().and_then(|e| e.to_str()).is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e))
}

/// Reads at most [`MAX_FILE_BYTES`]; the limit is checked on the bytes read,
/// not just the metadata, in case the file grows in between.
pub(crate) fn read_limited(path: &Path, shown: &str) -> Result<Vec<u8>, RenderError> {
    let too_large = || RenderError::FileTooLarge { file: shown.to_owned(), limit: MAX_FILE_BYTES };
    let file = fs::File::open(path).map_err(|source| io_error(shown, source))?;
    if file.metadata().map_err(|source| io_error(shown, source))?.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|source| io_error(shown, source))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}
