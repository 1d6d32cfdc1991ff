//! Commit history and tags of a mirror as last fetched, read with gix (no process, no network):
//! what a Warehouse's git subscription discovers.
//!
//! The history follows first parents only, as `git log --first-parent`: on a branch that takes
//! merges, the merge commits are the branch's own steps, and each one's change is its diff
//! against the branch's previous state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use gix::objs::tree::EntryKind;

use crate::repo_url::RepoUrl;
use crate::{GitCache, SourceError};

/// Commits read at most by one [`GitCache::history`] call, whatever the query asks: the bound
/// on the work one subscription can cause.
pub const MAX_HISTORY_WALK: usize = 10_000;

/// Object cache of the handle used for one walk: trees shared by neighbouring commits are read
/// once.
const WALK_OBJECT_CACHE_BYTES: usize = 8 << 20;

/// One commit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitInfo {
    /// The full commit SHA.
    pub id: String,
    /// The whole message, lossily decoded as UTF-8.
    pub message: String,
    /// The trailers of the message's last paragraph (`Token: value`), as `git interpret-trailers`
    /// parses them.
    pub trailers: Vec<(String, String)>,
    /// The author's name.
    pub author_name: String,
    /// The author's email, without angle brackets.
    pub author_email: String,
    /// The committer time, in seconds since the Unix epoch.
    pub time: i64,
    /// Repo-relative paths of the files this commit adds, changes or deletes against its first
    /// parent (every file for a root commit), sorted. Empty when not asked for
    /// ([`ChangedPaths::Skip`]).
    pub changed_paths: Vec<String>,
}

/// Whether a history walk computes [`CommitInfo::changed_paths`] (a tree diff per commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangedPaths {
    /// Diff each commit against its first parent.
    #[default]
    Compute,
    /// Leave `changed_paths` empty.
    Skip,
}

/// Decides whether a walked commit is returned.
pub type CommitFilter = Arc<dyn Fn(&CommitInfo) -> bool + Send + Sync>;

/// What [`GitCache::history`] walks and returns.
#[derive(Clone, Default)]
pub struct HistoryQuery {
    /// Where to start, as [`GitCache::resolve`] takes it (`""` is the remote's HEAD; prefer
    /// `refs/heads/<branch>` for a branch, so a tag of the same name cannot shadow it).
    pub revision: String,
    /// Return at most this many commits (those `keep` accepts).
    pub limit: usize,
    /// Read at most this many commits (capped at [`MAX_HISTORY_WALK`]), so a filter that
    /// accepts nothing still ends the walk.
    pub max_walk: usize,
    /// Whether changed paths are computed.
    pub changed_paths: ChangedPaths,
    /// Commits this rejects are walked past and not returned; `None` keeps all.
    pub keep: Option<CommitFilter>,
}

impl std::fmt::Debug for HistoryQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryQuery")
            .field("revision", &self.revision)
            .field("limit", &self.limit)
            .field("max_walk", &self.max_walk)
            .field("changed_paths", &self.changed_paths)
            .field("keep", &self.keep.as_ref().map(|_| "<filter>"))
            .finish()
    }
}

/// One tag and the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagInfo {
    /// The tag name, without `refs/tags/`.
    pub name: String,
    /// The commit it peels to (`changed_paths` empty).
    pub commit: CommitInfo,
    /// When the tag was made: the tagger time of an annotated tag, else the commit's time
    /// (seconds since the Unix epoch).
    pub tagged_at: i64,
}

impl GitCache {
    /// The first-parent history from `query.revision`, newest first: the commits `query.keep`
    /// accepts, at most `query.limit` of them, after reading at most `query.max_walk` commits.
    /// Reads the mirror as last fetched.
    pub async fn history(&self, repo_url: &str, query: HistoryQuery) -> Result<Vec<CommitInfo>, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let start = self.resolve(repo_url, &query.revision).await?;
        let mirror = self.mirror_dir(repo_url)?;
        blocking(url.display.clone(), move || history_blocking(&mirror, &url, &start, &query)).await?
    }

    /// Every tag of the mirror as last fetched that peels to a commit, sorted by name. Tags of
    /// trees or blobs are skipped.
    pub async fn tags(&self, repo_url: &str) -> Result<Vec<TagInfo>, SourceError> {
        let url = RepoUrl::parse(repo_url)?;
        let mirror = self.mirror_dir(repo_url)?;
        blocking(url.display.clone(), move || tags_blocking(&mirror, &url)).await?
    }
}

async fn blocking<T: Send + 'static>(
    repo: String,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SourceError::Read { repo, message: format!("history task failed: {e}") })
}

fn open(mirror: &Path, url: &RepoUrl) -> Result<gix::Repository, SourceError> {
    if !mirror.is_dir() {
        return Err(SourceError::NotFetched { repo: url.display.clone() });
    }
    // Isolated: the user's git config must not change how a mirror is read.
    let mut repo = gix::open_opts(mirror, gix::open::Options::isolated())
        .map_err(|_| SourceError::NotFetched { repo: url.display.clone() })?;
    repo.object_cache_size(WALK_OBJECT_CACHE_BYTES);
    Ok(repo)
}

fn history_blocking(
    mirror: &Path,
    url: &RepoUrl,
    start: &str,
    query: &HistoryQuery,
) -> Result<Vec<CommitInfo>, SourceError> {
    let read_failed = |message: String| SourceError::Read { repo: url.display.clone(), message };
    let repo = open(mirror, url)?;
    let mut next = Some(gix::ObjectId::from_hex(start.as_bytes()).map_err(|e| read_failed(e.to_string()))?);
    let max_walk = query.max_walk.min(MAX_HISTORY_WALK);
    let mut kept = Vec::new();
    let mut walked = 0;
    while let Some(id) = next {
        if kept.len() >= query.limit || walked >= max_walk {
            break;
        }
        walked += 1;
        let commit = repo.find_commit(id).map_err(|e| read_failed(format!("read commit {id}: {e}")))?;
        let parent = commit.parent_ids().next().map(gix::Id::detach);
        let mut info = commit_info(&commit).map_err(|e| read_failed(format!("decode commit {id}: {e}")))?;
        if query.changed_paths == ChangedPaths::Compute {
            let tree = commit.tree_id().map_err(|e| read_failed(format!("read commit {id}: {e}")))?.detach();
            let parent_tree = match parent {
                Some(parent) => Some(
                    repo.find_commit(parent)
                        .and_then(|p| p.tree_id().map(gix::Id::detach))
                        .map_err(|e| read_failed(format!("read commit {parent}: {e}")))?,
                ),
                None => None,
            };
            let mut paths = BTreeSet::new();
            diff_trees(&repo, parent_tree, Some(tree), "", &mut paths).map_err(read_failed)?;
            info.changed_paths = paths.into_iter().collect();
        }
        if query.keep.as_ref().is_none_or(|keep| keep(&info)) {
            kept.push(info);
        }
        next = parent;
    }
    Ok(kept)
}

fn commit_info(commit: &gix::Commit<'_>) -> Result<CommitInfo, String> {
    let author = commit.author().map_err(|e| e.to_string())?;
    let time = commit.time().map_err(|e| e.to_string())?.seconds;
    let message = commit.message_raw().map_err(|e| e.to_string())?.to_string();
    let trailers = commit
        .message()
        .map_err(|e| e.to_string())?
        .body()
        .map(|body| body.trailers().map(|t| (t.token.to_string(), t.value.to_string())).collect())
        .unwrap_or_default();
    Ok(CommitInfo {
        id: commit.id.to_string(),
        message,
        trailers,
        author_name: author.name.to_string(),
        author_email: author.email.to_string(),
        time,
        changed_paths: Vec::new(),
    })
}

/// Entries of one tree by name: (kind, id).
fn entries(
    repo: &gix::Repository,
    tree: Option<gix::ObjectId>,
) -> Result<BTreeMap<Vec<u8>, (EntryKind, gix::ObjectId)>, String> {
    let mut out = BTreeMap::new();
    let Some(tree) = tree else {
        return Ok(out);
    };
    let object = repo.find_object(tree).map_err(|e| format!("read tree {tree}: {e}"))?;
    if object.kind != gix::object::Kind::Tree {
        return Err(format!("object {tree} is not a tree"));
    }
    for entry in gix::objs::TreeRefIter::from_bytes(&object.data, repo.object_hash()) {
        let entry = entry.map_err(|e| format!("decode tree {tree}: {e}"))?;
        out.insert(entry.filename.to_vec(), (entry.mode.kind(), entry.oid.to_owned()));
    }
    Ok(out)
}

/// Collect the paths of non-tree entries that differ between `old` and `new` (either may be
/// absent), descending only into subtrees whose ids differ: unchanged directories cost nothing.
fn diff_trees(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: Option<gix::ObjectId>,
    prefix: &str,
    out: &mut BTreeSet<String>,
) -> Result<(), String> {
    if old == new {
        return Ok(());
    }
    let old_entries = entries(repo, old)?;
    let new_entries = entries(repo, new)?;
    let names: BTreeSet<&Vec<u8>> = old_entries.keys().chain(new_entries.keys()).collect();
    for name in names {
        let before = old_entries.get(name);
        let after = new_entries.get(name);
        if before == after {
            continue;
        }
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        let tree_of = |side: Option<&(EntryKind, gix::ObjectId)>| match side {
            Some((EntryKind::Tree, id)) => Some(*id),
            _ => None,
        };
        let (old_tree, new_tree) = (tree_of(before), tree_of(after));
        if old_tree.is_some() || new_tree.is_some() {
            diff_trees(repo, old_tree, new_tree, &format!("{path}/"), out)?;
        }
        // A file (or symlink, or submodule) on either side that is not the same on the other.
        let is_file =
            |side: Option<&(EntryKind, gix::ObjectId)>| side.is_some_and(|(kind, _)| *kind != EntryKind::Tree);
        if is_file(before) || is_file(after) {
            out.insert(path);
        }
    }
    Ok(())
}

fn tags_blocking(mirror: &Path, url: &RepoUrl) -> Result<Vec<TagInfo>, SourceError> {
    let read_failed = |message: String| SourceError::Read { repo: url.display.clone(), message };
    let repo = open(mirror, url)?;
    let references = repo.references().map_err(|e| read_failed(e.to_string()))?;
    let mut tags = Vec::new();
    for reference in references.tags().map_err(|e| read_failed(e.to_string()))? {
        let mut reference = reference.map_err(|e| read_failed(e.to_string()))?;
        let name = reference.name().shorten().to_string();
        // The ref's own target, before any peeling: for an annotated tag, the tag object, which
        // carries the tag's time. A symbolic tag ref is followed first.
        let Ok(target) = reference.follow_to_object() else {
            continue;
        };
        let mut id = target.detach();
        let mut tagged_at = None;
        let commit = loop {
            let object = repo.find_object(id).map_err(|e| read_failed(format!("read tag {name}: {e}")))?;
            match object.kind {
                gix::object::Kind::Tag => {
                    let tag = object.into_tag();
                    if tagged_at.is_none() {
                        tagged_at = tag.tagger().ok().flatten().map(|tagger| tagger.seconds());
                    }
                    id = tag.target_id().map_err(|e| read_failed(format!("read tag {name}: {e}")))?.detach();
                }
                gix::object::Kind::Commit => break Some(object.into_commit()),
                gix::object::Kind::Tree | gix::object::Kind::Blob => break None,
            }
        };
        let Some(commit) = commit else {
            continue;
        };
        let info = commit_info(&commit).map_err(|e| read_failed(format!("decode commit of tag {name}: {e}")))?;
        tags.push(TagInfo { name, tagged_at: tagged_at.unwrap_or(info.time), commit: info });
    }
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tags)
}
