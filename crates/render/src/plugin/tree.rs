//! The repository as a plugin sees it: a private copy, so a plugin's
//! commands (which may write anywhere in their working tree) never touch the
//! shared checkout; and read-only listings of the app directory for
//! discovery globs.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{DiscoverGlob, FileModes};
use crate::RenderError;
use crate::paths::{io_error, join, resolve_link};

/// Copies the tree under the canonical `root` into the existing, empty
/// directory `to`, skipping `.git`.
///
/// Every symlink is checked first: one leading outside the repository fails
/// the copy (a plugin could otherwise read, say, the controller's
/// credentials through it). Links inside are rebuilt to point at the same
/// place inside the copy; dangling links are left out, as they have nothing
/// to read. Directories are created fresh (owner-writable, so the scratch
/// copy can always be removed); files get mode 0644 unless the plugin asks
/// for the repository's modes, as Argo CD unpacks the tree for its sidecars.
pub(super) fn copy(root: &Path, to: &Path, modes: FileModes) -> Result<(), RenderError> {
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|source| io_error(&rel, source))? {
            let entry = entry.map_err(|source| io_error(&rel, source))?;
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let child_rel = join(&rel, &name.to_string_lossy());
            let path = entry.path();
            let target = to.join(&child_rel);
            let file_type = entry.file_type().map_err(|source| io_error(&child_rel, source))?;
            if file_type.is_symlink() {
                if let Some(real) = resolve_link(root, &path, &child_rel)? {
                    let inside = real.strip_prefix(root).unwrap_or(Path::new(""));
                    std::os::unix::fs::symlink(to.join(inside), &target)
                        .map_err(|source| io_error(&child_rel, source))?;
                }
            } else if file_type.is_dir() {
                fs::create_dir(&target).map_err(|source| io_error(&child_rel, source))?;
                stack.push((path, child_rel));
            } else if file_type.is_file() {
                fs::copy(&path, &target).map_err(|source| io_error(&child_rel, source))?;
                let mode = match modes {
                    // Set-id and sticky bits are dropped: nothing in a scratch
                    // copy should run with another user's rights.
                    FileModes::Preserve => {
                        entry.metadata().map_err(|source| io_error(&child_rel, source))?.permissions().mode() & 0o777
                    }
                    FileModes::Normalize => 0o644,
                };
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(|source| io_error(&child_rel, source))?;
            }
            // FIFOs, sockets and devices are left out: nothing renders from them.
        }
    }
    Ok(())
}

/// Whether any path under the canonical `app_dir` (relative to it) matches
/// `glob`. Only names are listed, nothing is read; symlinked directories are
/// followed only when they lead to a place inside `root` not yet visited.
pub(super) fn any_match(root: &Path, app_dir: &Path, glob: &DiscoverGlob) -> Result<bool, RenderError> {
    let mut visited: HashSet<PathBuf> = HashSet::from([app_dir.to_path_buf()]);
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(app_dir.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let child_rel = join(&rel, &entry.file_name().to_string_lossy());
            if glob.matcher.is_match(&child_rel) {
                return Ok(true);
            }
            if glob.depth.is_some_and(|max| depth + 1 >= max) {
                continue;
            }
            let Ok(file_type) = entry.file_type() else { continue };
            let next = if file_type.is_dir() {
                Some(entry.path())
            } else if file_type.is_symlink() {
                match fs::canonicalize(entry.path()) {
                    Ok(real) if real.starts_with(root) && real.is_dir() => Some(real),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(next) = next {
                let key = fs::canonicalize(&next).unwrap_or_else(|_| next.clone());
                if visited.insert(key) {
                    stack.push((next, child_rel, depth + 1));
                }
            }
        }
    }
    Ok(false)
}
