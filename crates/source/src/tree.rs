//! Object ids of paths in a commit, read from the mirror's object store with gix (no checkout,
//! no process). The render cache keys an app on the ids of its source paths, so a commit that
//! leaves those paths untouched maps to the same key and reuses the cached manifests.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use gix::objs::tree::EntryKind;

use crate::SourceError;
use crate::repo_url::RepoUrl;

/// Symlinks followed while resolving one path before giving up, as Linux's `ELOOP` limit.
const MAX_SYMLINK_HOPS: usize = 40;

/// A path inside the repository as normalised components: no empty, `.` or `..` parts.
pub(crate) type RepoPath = Vec<Vec<u8>>;

/// Normalise a repo-relative path: `/` separated, a leading `/` means the root as well, empty and
/// `.` components are dropped and `..` goes up one level. `""`, `"."` and `"/"` are the root.
/// Going above the root is an error (the message names the path).
pub(crate) fn normalize(path: &str) -> Result<RepoPath, String> {
    let mut components: RepoPath = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() {
                    return Err(format!("path {path:?} goes above the repository root"));
                }
            }
            name => components.push(name.as_bytes().to_vec()),
        }
    }
    Ok(components)
}

/// Blocking body of [`crate::GitCache::path_ids`]: find the commit's root tree in the mirror and
/// resolve every path against it.
pub(crate) fn path_ids_blocking(
    mirror: &Path,
    url: &RepoUrl,
    sha: &str,
    paths: &[String],
) -> Result<Vec<Option<String>>, SourceError> {
    let read_failed = |message: String| SourceError::Read { repo: url.display.clone(), message };
    // Validate every path before touching the repo: a bad path is the caller's error, whatever
    // state the mirror is in.
    let normalized = paths.iter().map(|path| normalize(path)).collect::<Result<Vec<_>, _>>().map_err(read_failed)?;
    let commit = parse_full_sha(sha)
        .ok_or_else(|| SourceError::RevisionNotFound { repo: url.display.clone(), revision: sha.to_string() })?;
    if !mirror.is_dir() {
        forget(mirror);
        return Err(SourceError::NotFetched { repo: url.display.clone() });
    }
    // A handle kept from an earlier call may predate a re-clone or a repack; on any failure the
    // lookup is retried once on a fresh handle, so a stale one costs time, never a wrong answer.
    if let Some(repo) = take(mirror)
        && let Ok(ids) = lookup(&repo, url, sha, commit, &normalized)
    {
        keep(mirror, repo);
        return Ok(ids);
    }
    let repo = open(mirror).map_err(|_| SourceError::NotFetched { repo: url.display.clone() })?;
    let ids = lookup(&repo, url, sha, commit, &normalized)?;
    keep(mirror, repo);
    Ok(ids)
}

fn lookup(
    repo: &gix::Repository,
    url: &RepoUrl,
    sha: &str,
    commit: gix::ObjectId,
    paths: &[RepoPath],
) -> Result<Vec<Option<String>>, SourceError> {
    let read_failed = |message: String| SourceError::Read { repo: url.display.clone(), message };
    let root = match repo.try_find_object(commit) {
        Ok(Some(object)) if object.kind == gix::object::Kind::Commit => {
            object.into_commit().tree_id().map_err(|e| read_failed(e.to_string()))?.detach()
        }
        // A tree, blob or tag id is not a commit to read paths from.
        Ok(_) => return Err(SourceError::RevisionNotFound { repo: url.display.clone(), revision: sha.to_string() }),
        Err(e) => return Err(read_failed(e.to_string())),
    };
    let mut walker = Walker { repo, trees: HashMap::new() };
    paths
        .iter()
        .map(|path| walker.resolve(root, path.clone()).map(|found| found.map(|id| id.to_string())))
        .collect::<Result<Vec<_>, String>>()
        .map_err(read_failed)
}

/// Mirrors kept open per blocking thread, most recently used last. Opening one costs about as
/// much as the whole lookup (config, refs, pack indices), and the object cache of a kept handle
/// serves the commit and root tree of repeated calls from memory. `gix::Repository` is not
/// `Send` (gix is built without its `parallel` feature), hence per thread rather than shared.
const KEPT_PER_THREAD: usize = 8;

/// Object cache of one kept handle: commits and trees are small, and objects never change. Kept
/// small because every blocking thread may hold one per mirror (a 1,000-directory tree is ~40 KB).
const OBJECT_CACHE_BYTES: usize = 512 << 10;

thread_local! {
    static KEPT: RefCell<Vec<(PathBuf, gix::Repository)>> = const { RefCell::new(Vec::new()) };
}

fn open(mirror: &Path) -> Result<gix::Repository, String> {
    // Isolated: the user's git config must not change how a mirror is read.
    let mut repo = gix::open_opts(mirror, gix::open::Options::isolated()).map_err(|e| e.to_string())?;
    repo.object_cache_size(OBJECT_CACHE_BYTES);
    Ok(repo)
}

fn take(mirror: &Path) -> Option<gix::Repository> {
    KEPT.with_borrow_mut(|kept| {
        let index = kept.iter().position(|(path, _)| path == mirror)?;
        Some(kept.remove(index).1)
    })
}

fn keep(mirror: &Path, repo: gix::Repository) {
    KEPT.with_borrow_mut(|kept| {
        kept.retain(|(path, _)| path != mirror);
        if kept.len() >= KEPT_PER_THREAD {
            kept.remove(0);
        }
        kept.push((mirror.to_path_buf(), repo));
    });
}

fn forget(mirror: &Path) {
    KEPT.with_borrow_mut(|kept| kept.retain(|(path, _)| path != mirror));
}

fn parse_full_sha(sha: &str) -> Option<gix::ObjectId> {
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    gix::ObjectId::from_hex(sha.as_bytes()).ok()
}

/// Resolves paths of one commit, keeping the raw data of every tree it read so that several
/// paths under one directory read the root and shared parents once.
struct Walker<'r> {
    repo: &'r gix::Repository,
    trees: HashMap<gix::ObjectId, Vec<u8>>,
}

/// One tree entry, owned.
struct Found {
    kind: EntryKind,
    id: gix::ObjectId,
}

impl Walker<'_> {
    /// The id the path names in the tree `root`: a tree for a directory, a blob for a file, the
    /// commit of a submodule. Symlinks on the way, and at the end, are followed inside the tree
    /// (their target's id is returned, as a checkout would show it); a dangling symlink, one
    /// pointing outside the repository, or a loop of them resolve to `None`.
    fn resolve(&mut self, root: gix::ObjectId, path: RepoPath) -> Result<Option<gix::ObjectId>, String> {
        // The directories entered so far, root first; `..` in a symlink target pops one.
        let mut parents: Vec<gix::ObjectId> = vec![root];
        let mut remaining: VecDeque<Vec<u8>> = path.into();
        let mut hops = 0;
        while let Some(name) = remaining.pop_front() {
            // Only symlink targets bring `..` here: input paths are normalised.
            if name == b".." {
                if parents.len() <= 1 {
                    return Ok(None);
                }
                parents.pop();
                continue;
            }
            let dir = *parents.last().unwrap_or(&root);
            let Some(entry) = self.entry(dir, &name)? else {
                return Ok(None);
            };
            match entry.kind {
                EntryKind::Tree => {
                    parents.push(entry.id);
                }
                EntryKind::Link => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Ok(None);
                    }
                    let target = self.blob(entry.id)?;
                    if target.first() == Some(&b'/') {
                        return Ok(None);
                    }
                    // The target replaces the link's name, relative to the link's directory.
                    for part in target.split(|b| *b == b'/').rev() {
                        match part {
                            b"" | b"." => {}
                            _ => remaining.push_front(part.to_vec()),
                        }
                    }
                }
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Commit => {
                    if !remaining.is_empty() {
                        // A file (or submodule) used as a directory.
                        return Ok(None);
                    }
                    return Ok(Some(entry.id));
                }
            }
        }
        // The path ended on a directory (possibly reached through symlinks).
        Ok(Some(*parents.last().unwrap_or(&root)))
    }

    /// Look the entry `name` up in the tree `dir`.
    fn entry(&mut self, dir: gix::ObjectId, name: &[u8]) -> Result<Option<Found>, String> {
        if !self.trees.contains_key(&dir) {
            let object = self.repo.find_object(dir).map_err(|e| format!("read tree {dir}: {e}"))?;
            if object.kind != gix::object::Kind::Tree {
                return Err(format!("object {dir} is not a tree"));
            }
            self.trees.insert(dir, object.detach().data);
        }
        let Some(data) = self.trees.get(&dir) else {
            return Ok(None);
        };
        for entry in gix::objs::TreeRefIter::from_bytes(data, self.repo.object_hash()) {
            let entry = entry.map_err(|e| format!("decode tree {dir}: {e}"))?;
            let filename: &[u8] = entry.filename.as_ref();
            if filename == name {
                return Ok(Some(Found { kind: entry.mode.kind(), id: entry.oid.to_owned() }));
            }
        }
        Ok(None)
    }

    fn blob(&self, id: gix::ObjectId) -> Result<Vec<u8>, String> {
        let blob = self.repo.find_blob(id).map_err(|e| format!("read symlink {id}: {e}"))?;
        Ok(blob.detach().data)
    }
}

#[cfg(test)]
mod tests;
