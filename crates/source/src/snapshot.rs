//! Writing the tree of a commit to disk with gix (blocking; run it on a blocking thread).

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use gix::objs::tree::EntryKind;

/// Deeper trees are refused: real repos are nowhere near, and recursion must stay bounded.
const MAX_DEPTH: usize = 256;

/// Why a tree could not be written. Turned into [`crate::SourceError::Checkout`] by the caller.
pub(crate) type WriteError = String;

/// Write the tree of commit `commit` into `target`, which must not exist yet.
///
/// Files are created read-only (`0444`, or `0555` when executable), symlinks as symlinks with
/// their target as stored, submodules (gitlinks) are skipped. Every entry is created exclusively
/// (`O_EXCL`, `mkdir`), so a crafted tree with duplicate names or a symlink posing as a directory
/// cannot make us write outside `target`.
pub(crate) fn write_commit_tree(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    target: &Path,
) -> Result<(), WriteError> {
    let commit = repo.find_commit(commit).map_err(|e| format!("commit not in the mirror: {e}"))?;
    let tree_id = commit.tree_id().map_err(|e| format!("read commit: {e}"))?.detach();
    std::fs::create_dir(target).map_err(|e| format!("create {}: {e}", target.display()))?;
    write_tree(repo, tree_id, target, 0)
}

fn write_tree(repo: &gix::Repository, tree_id: gix::ObjectId, dir: &Path, depth: usize) -> Result<(), WriteError> {
    if depth > MAX_DEPTH {
        return Err(format!("tree deeper than {MAX_DEPTH} levels"));
    }
    let tree = repo.find_tree(tree_id).map_err(|e| format!("read tree {tree_id}: {e}"))?;
    let decoded = tree.decode().map_err(|e| format!("decode tree {tree_id}: {e}"))?;
    for entry in &decoded.entries {
        let name: &[u8] = entry.filename.as_ref();
        if !is_safe_name(name) {
            return Err(format!("refusing tree entry {:?}", String::from_utf8_lossy(name)));
        }
        let path = dir.join(OsStr::from_bytes(name));
        let oid = entry.oid.to_owned();
        match entry.mode.kind() {
            EntryKind::Tree => {
                std::fs::create_dir(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
                write_tree(repo, oid, &path, depth + 1)?;
            }
            kind @ (EntryKind::Blob | EntryKind::BlobExecutable) => {
                let blob = repo.find_blob(oid).map_err(|e| format!("read blob {oid}: {e}"))?;
                let mode = if kind == EntryKind::BlobExecutable { 0o555 } else { 0o444 };
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(|e| format!("create {}: {e}", path.display()))?;
                file.write_all(&blob.data).map_err(|e| format!("write {}: {e}", path.display()))?;
            }
            EntryKind::Link => {
                let blob = repo.find_blob(oid).map_err(|e| format!("read symlink {oid}: {e}"))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&blob.data), &path)
                    .map_err(|e| format!("create symlink {}: {e}", path.display()))?;
            }
            // Submodules are not fetched; the gitlink is skipped (see the crate docs).
            EntryKind::Commit => {}
        }
    }
    Ok(())
}

/// git itself refuses these names; a crafted tree may not.
fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}
