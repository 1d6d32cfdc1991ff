//! Config paths, kept inside the promotion's scratch directory.

use std::path::{Component, Path, PathBuf};

use crate::StepError;

/// `workdir/rel`, refused when `rel` is absolute, climbs above `workdir` with `..`, or passes
/// through a symlink that leads outside it. The path need not exist; the part that does exist
/// is resolved on disk, so a link planted by an earlier step (or a cloned repository) cannot
/// redirect a write.
pub fn inside_workdir(workdir: &Path, rel: &str) -> Result<PathBuf, StepError> {
    let escapes = || StepError::PathEscapes { path: rel.to_owned() };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(rel).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop().ok_or_else(escapes)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    let root = std::fs::canonicalize(workdir)
        .map_err(|source| StepError::Io { what: "open the scratch directory".into(), source })?;
    let mut resolved = root.clone();
    for (i, part) in parts.iter().enumerate() {
        let next = resolved.join(part);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let real = std::fs::canonicalize(&next).map_err(|_| escapes())?;
                if !real.starts_with(&root) {
                    return Err(escapes());
                }
                resolved = real;
            }
            Ok(_) => resolved = next,
            Err(_) => {
                // The rest does not exist yet: nothing on disk can redirect it.
                for rest in &parts[i..] {
                    resolved.push(rest);
                }
                return Ok(resolved);
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_workdir() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        assert_eq!(inside_workdir(&root, "a/b/../c").unwrap(), root.join("a/c"));
        assert_eq!(inside_workdir(&root, "").unwrap(), root);
        for bad in ["../x", "a/../../x", "/etc/passwd"] {
            assert!(matches!(inside_workdir(&root, bad), Err(StepError::PathEscapes { .. })), "{bad}");
        }
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        assert!(matches!(inside_workdir(&root, "out/passwd"), Err(StepError::PathEscapes { .. })));
        std::os::unix::fs::symlink(root.join("a"), root.join("in")).unwrap();
        assert_eq!(inside_workdir(&root, "in/x").unwrap(), root.join("a/x"));
    }
}
