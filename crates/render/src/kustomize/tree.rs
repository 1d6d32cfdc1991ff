//! The repository tree as Kustomize will see it: every symlink checked to stay
//! inside the root, and (for overrides) a scratch copy to build on.

use std::fs;
use std::path::{Path, PathBuf};

use crate::RenderError;
use crate::paths::{io_error, join, resolve_link};

/// What to do with the tree while checking it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Walk<'a> {
    /// Only check symlinks.
    Check,
    /// Also copy it to this (existing, empty) directory.
    CopyTo(&'a Path),
}

/// Walks the tree under the canonical `root` (skipping `.git`) and refuses it
/// when a symlink leads outside. Kustomize reads whatever a kustomization
/// names, so one link to `/etc` anywhere in the tree is enough to leak a file
/// into rendered output; checking all of them is cheaper than proving which
/// ones a kustomization reaches.
pub(crate) fn walk(root: &Path, mode: Walk<'_>) -> Result<(), RenderError> {
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| io_error(&rel, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| io_error(&rel, source))?;
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let child_rel = join(&rel, &name.to_string_lossy());
            let path = entry.path();
            let file_type = entry.file_type().map_err(|source| io_error(&child_rel, source))?;
            let target = mode_target(mode, &child_rel);
            if file_type.is_symlink() {
                let Some(real) = resolve_link(root, &path, &child_rel)? else {
                    // A dangling link has no content to leak; Kustomize fails
                    // on it by itself if it is used.
                    continue;
                };
                if let Some(target) = target {
                    // Rebuilt to point at the same place inside the copy, so
                    // the copy never refers back to the checkout.
                    let inside = real.strip_prefix(root).unwrap_or(Path::new(""));
                    let copy_root = match mode {
                        Walk::CopyTo(copy_root) => copy_root,
                        Walk::Check => root,
                    };
                    std::os::unix::fs::symlink(copy_root.join(inside), &target)
                        .map_err(|source| io_error(&child_rel, source))?;
                }
            } else if file_type.is_dir() {
                if let Some(target) = target {
                    fs::create_dir(&target).map_err(|source| io_error(&child_rel, source))?;
                }
                stack.push((path, child_rel));
            } else if file_type.is_file()
                && let Some(target) = target
            {
                fs::copy(&path, &target).map_err(|source| io_error(&child_rel, source))?;
            }
            // FIFOs, sockets and devices are left out: nothing renders from them.
        }
    }
    Ok(())
}

fn mode_target(mode: Walk<'_>, rel: &str) -> Option<PathBuf> {
    match mode {
        Walk::Check => None,
        Walk::CopyTo(copy_root) => Some(copy_root.join(rel)),
    }
}
