//! Git subscriptions: the newest commits of a branch, or tags, read from the source stage's
//! mirror after a fetch.
//!
//! On a branch, a commit counts unless it carries the promotion trailer (ferry's own hydration
//! and promotion commits), is by an excluded author, or changes no path the subscription
//! watches. Tag strategies take tags as deliberate releases: those filters do not apply.

use std::sync::Arc;

use globset::{Glob, GlobBuilder, GlobMatcher};
use promotion::{CommitSelectionStrategy, GitCommit, GitSubscription, PROMOTION_TRAILER};
use regex::Regex;
use source::{ChangedPaths, CommitInfo, Credentials, GitCache, HistoryQuery, MAX_HISTORY_WALK, TagInfo};

use crate::DiscoveryError;
use crate::select::{Constraint, TagFilter, by_semver, discovery_limit, lexical};

/// The newest commits of the subscription, newest first, at most its discovery limit.
pub(crate) async fn discover(
    sub: &GitSubscription,
    git: &GitCache,
    credentials: Option<Credentials>,
) -> Result<Vec<GitCommit>, DiscoveryError> {
    let repo = sub.repo_url.as_str();
    let limit = discovery_limit(sub.discovery_limit);
    let git_failed = |step: &'static str| move |error| DiscoveryError::Git { repo: repo.to_owned(), step, error };
    // Everything that can be wrong with the subscription is checked before the network.
    match sub.commit_selection_strategy {
        CommitSelectionStrategy::NewestFromBranch => {
            let filter = CommitFilter::new(sub)?;
            git.fetch(repo, credentials.as_ref()).await.map_err(git_failed("fetch"))?;
            let branch = sub.branch.as_deref().map(str::trim).filter(|b| !b.is_empty());
            let query = HistoryQuery {
                revision: branch.map(|b| format!("refs/heads/{b}")).unwrap_or_default(),
                limit,
                max_walk: MAX_HISTORY_WALK,
                changed_paths: if filter.needs_paths() { ChangedPaths::Compute } else { ChangedPaths::Skip },
                keep: Some(Arc::new(move |commit: &CommitInfo| filter.keeps(commit))),
            };
            let commits = git.history(repo, query).await.map_err(git_failed("read history"))?;
            Ok(commits.iter().map(|c| git_commit(repo, c, branch.map(str::to_owned), None)).collect())
        }
        strategy => {
            let filter = TagFilter::new(repo, sub.allow_tags.as_deref(), &sub.ignore_tags)?;
            let constraint = Constraint::parse(repo, sub.semver_constraint.as_deref())?;
            git.fetch(repo, credentials.as_ref()).await.map_err(git_failed("fetch"))?;
            let tags: Vec<TagInfo> = git
                .tags(repo)
                .await
                .map_err(git_failed("list tags"))?
                .into_iter()
                .filter(|t| filter.admits(&t.name))
                .collect();
            let chosen = match strategy {
                CommitSelectionStrategy::SemVer => by_semver(tags, |t| t.name.as_str(), &constraint),
                CommitSelectionStrategy::Lexical => lexical(tags, |t| t.name.as_str()),
                _ => {
                    let mut tags = tags;
                    tags.sort_by(|a, b| b.tagged_at.cmp(&a.tagged_at).then_with(|| b.name.cmp(&a.name)));
                    tags
                }
            };
            Ok(chosen.iter().take(limit).map(|t| git_commit(repo, &t.commit, None, Some(t.name.clone()))).collect())
        }
    }
}

fn git_commit(repo: &str, commit: &CommitInfo, branch: Option<String>, tag: Option<String>) -> GitCommit {
    let subject = commit.message.lines().next().unwrap_or_default().trim().to_owned();
    GitCommit {
        repo_url: repo.to_owned(),
        id: commit.id.clone(),
        branch,
        tag,
        message: Some(subject).filter(|s| !s.is_empty()),
        author: Some(format!("{} <{}>", commit.author_name, commit.author_email)),
        committed_at: chrono::DateTime::from_timestamp(commit.time, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

/// Which commits of a branch count.
pub(crate) struct CommitFilter {
    exclude_authors: Vec<String>,
    include: Vec<PathPattern>,
    exclude: Vec<PathPattern>,
}

impl CommitFilter {
    pub(crate) fn new(sub: &GitSubscription) -> Result<Self, DiscoveryError> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(|p| PathPattern::parse(&sub.repo_url, p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(CommitFilter {
            exclude_authors: sub
                .exclude_authors
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
            include: compile(&sub.include_paths)?,
            exclude: compile(&sub.exclude_paths)?,
        })
    }

    pub(crate) fn needs_paths(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty()
    }

    /// A commit counts when it does not carry the promotion trailer, is not by an excluded author
    /// (name or email, exact), and changes at least one path that is included (or there are no
    /// includes) and not excluded.
    pub(crate) fn keeps(&self, commit: &CommitInfo) -> bool {
        let promotion = commit.trailers.iter().any(|(token, _)| token.trim().eq_ignore_ascii_case(PROMOTION_TRAILER));
        let excluded_author = self
            .exclude_authors
            .iter()
            .any(|a| *a == commit.author_name || a.eq_ignore_ascii_case(&commit.author_email));
        if promotion || excluded_author {
            return false;
        }
        if !self.needs_paths() {
            return true;
        }
        commit.changed_paths.iter().any(|path| {
            (self.include.is_empty() || self.include.iter().any(|p| p.matches(path)))
                && !self.exclude.iter().any(|p| p.matches(path))
        })
    }
}

/// An includePaths / excludePaths entry, in Kargo's forms: `glob:PATTERN`, `regex:PATTERN` (or
/// `regexp:`), or a plain entry, which is a glob when it has glob characters (`*?[{`) and a path
/// prefix otherwise (`apps/web` is the directory and everything under it).
///
/// A glob's `*` stays inside one path component (`**` crosses them), and a glob matches a path
/// when it matches the path or any of its parent directories: `apps/web*` covers
/// `apps/web-api/deploy.yaml`. A regular expression is unanchored, as Kargo's.
pub(crate) enum PathPattern {
    Prefix(String),
    Glob(GlobMatcher),
    Regex(Regex),
}

impl PathPattern {
    pub(crate) fn parse(repo: &str, text: &str) -> Result<Self, DiscoveryError> {
        let invalid =
            |reason: String| DiscoveryError::InvalidPattern { repo: repo.to_owned(), pattern: text.to_owned(), reason };
        let glob = |pattern: &str| -> Result<PathPattern, DiscoveryError> {
            let pattern = pattern.trim_start_matches("./").trim_start_matches('/');
            let glob: Glob =
                GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| invalid(e.to_string()))?;
            Ok(PathPattern::Glob(glob.compile_matcher()))
        };
        if let Some(pattern) = text.strip_prefix("regex:").or_else(|| text.strip_prefix("regexp:")) {
            return Regex::new(pattern).map(PathPattern::Regex).map_err(|e| invalid(e.to_string()));
        }
        if let Some(pattern) = text.strip_prefix("glob:") {
            return glob(pattern);
        }
        if text.contains(['*', '?', '[', '{']) {
            return glob(text);
        }
        let prefix = text.trim_start_matches("./").trim_matches('/');
        Ok(PathPattern::Prefix(prefix.to_owned()))
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            // The empty prefix (`/` or `.`) is the whole repository.
            PathPattern::Prefix(prefix) => {
                prefix.is_empty()
                    || path == prefix
                    || path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.starts_with('/'))
            }
            PathPattern::Glob(glob) => {
                glob.is_match(path) || path.match_indices('/').any(|(end, _)| glob.is_match(&path[..end]))
            }
            PathPattern::Regex(regex) => regex.is_match(path),
        }
    }
}

#[cfg(test)]
mod tests;
