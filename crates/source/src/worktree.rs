//! Scratch worktrees for promotion steps: clone a branch into a working directory, commit,
//! rebase and push, with the same hardening and credential handling as the mirror cache.
//!
//! A worktree's `origin` remote holds the repo URL *without* any password, so nothing secret is
//! written to disk; credentials are handed to each network operation through the credential
//! helper, as for mirrors. Commits are made with a caller-given identity and date, so the same
//! change on the same parent always makes the same commit (a re-run step finds its own work).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SourceError;
use crate::credentials::{Credentials, git_auth};
use crate::git::{self, Invocation, RunError};
use crate::repo_url::{RepoUrl, mask_secrets};

/// Settings for every worktree operation beyond the auth-related ones.
const LOCAL_CONFIG: &[&str] = &[
    // A user's global signing or line-ending settings must not change the commits ferry makes.
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "core.autocrlf=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
];

/// How git runs for worktrees.
#[derive(Debug, Clone)]
pub struct WorktreeConfig {
    /// The git binary (default `git` from `PATH`).
    pub git: PathBuf,
    /// Limit for one git invocation; its process group is killed when it is reached.
    pub timeout: Duration,
}

impl Default for WorktreeConfig {
    fn default() -> Self {
        WorktreeConfig { git: PathBuf::from("git"), timeout: Duration::from_secs(120) }
    }
}

/// What to check out after cloning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// A branch, as a local branch tracking the remote one.
    Branch {
        /// The branch name (no `refs/heads/`).
        name: String,
        /// What to do when the remote has no such branch.
        missing: MissingBranch,
    },
    /// A commit (full or short SHA), detached.
    Commit(String),
    /// A tag, detached.
    Tag(String),
    /// Nothing: only fetch (for reading trees of branches).
    FetchOnly,
}

/// What cloning does when the requested branch does not exist on the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingBranch {
    /// Fail.
    Fail,
    /// Start an empty orphan branch of that name (pushed later).
    CreateOrphan,
}

/// Who a commit is by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// A commit to make of everything changed in the worktree.
#[derive(Debug, Clone)]
pub struct CommitRequest<'a> {
    /// The full message (trailers included).
    pub message: &'a str,
    /// Author and committer.
    pub identity: &'a Identity,
    /// Author and committer date, in git's internal format (`<unix seconds> +0000`).
    pub date: &'a str,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new commit, by SHA.
    Committed(String),
    /// The worktree had no changes; the current HEAD (none on an unborn branch).
    NothingToCommit(Option<String>),
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The branch now points at this commit.
    Pushed(String),
    /// The remote refused because it moved on (non-fast-forward); git's explanation.
    Rejected(String),
}

/// What a rebase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebaseOutcome {
    /// HEAD is now this commit, on top of the new base.
    Rebased(String),
    /// The changes conflict; the rebase was aborted and HEAD is unchanged.
    Conflict(String),
}

/// Why a worktree operation failed. `repo` is the URL with userinfo stripped.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The URL or credentials were refused, or the network operation failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A git command failed; `message` is git's stderr, trimmed and masked.
    #[error("git {step} in {repo}: {message}")]
    Git {
        /// What was being done (`checkout`, `commit`, `push`, …).
        step: &'static str,
        /// The URL, userinfo stripped.
        repo: String,
        /// git's explanation.
        message: String,
    },
    /// A filesystem operation failed.
    #[error("{step} {}", path.display())]
    Io {
        /// What was being done.
        step: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A working directory cloned from a remote, with `origin` pointing at it.
#[derive(Debug, Clone)]
pub struct Worktree {
    dir: PathBuf,
    url: RepoUrl,
    config: WorktreeConfig,
}

impl Worktree {
    /// Clone `repo_url` into `dir` and check out `checkout`. Whatever was at `dir` is removed
    /// first, so cloning again over an earlier attempt is fine. Every branch and tag is fetched
    /// (a scratch clone is short-lived; this keeps commit and tag checkouts simple).
    pub async fn clone(
        config: &WorktreeConfig,
        repo_url: &str,
        credentials: Option<&Credentials>,
        dir: &Path,
        checkout: &Checkout,
    ) -> Result<Worktree, WorktreeError> {
        let url = RepoUrl::parse(repo_url)?;
        match tokio::fs::remove_dir_all(dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WorktreeError::Io { step: "remove old worktree", path: dir.into(), source }),
        }
        tokio::fs::create_dir_all(dir).await.map_err(|source| WorktreeError::Io {
            step: "create worktree",
            path: dir.into(),
            source,
        })?;
        let tree = Worktree { dir: dir.to_path_buf(), url, config: config.clone() };
        tree.local("init", args(&["init", "--quiet"])).await?;
        let remote = vec!["remote".into(), "add".into(), "origin".into(), "--".into(), tree.url.git_url.clone().into()];
        tree.local("init", remote).await?;
        tree.fetch_all(credentials).await?;
        match checkout {
            Checkout::FetchOnly => {}
            Checkout::Branch { name, missing } => {
                check_branch_name(&tree, name)?;
                let remote_ref = format!("refs/remotes/origin/{name}");
                if tree.rev(&remote_ref).await?.is_some() {
                    let argv = vec!["checkout".into(), "--quiet".into(), "-B".into(), name.into(), remote_ref.into()];
                    tree.local("checkout", argv).await?;
                } else if *missing == MissingBranch::CreateOrphan {
                    let head = vec!["symbolic-ref".into(), "HEAD".into(), format!("refs/heads/{name}").into()];
                    tree.local("checkout", head).await?;
                } else {
                    return Err(tree.failed("checkout", format!("branch {name:?} does not exist")));
                }
            }
            Checkout::Commit(sha) | Checkout::Tag(sha) => {
                let target = match checkout {
                    Checkout::Tag(tag) => format!("refs/tags/{tag}"),
                    _ => sha.clone(),
                };
                let Some(commit) = tree.rev(&format!("{target}^{{commit}}")).await? else {
                    return Err(tree.failed("checkout", format!("{sha:?} is not a commit of the repository")));
                };
                tree.local("checkout", vec!["checkout".into(), "--quiet".into(), "--detach".into(), commit.into()])
                    .await?;
            }
        }
        Ok(tree)
    }

    /// Open a worktree an earlier [`Worktree::clone`] made at `dir`.
    pub async fn open(config: &WorktreeConfig, dir: &Path) -> Result<Worktree, WorktreeError> {
        // git would search parent directories; only a worktree of our own will do.
        if !dir.join(".git").is_dir() {
            return Err(WorktreeError::Git {
                step: "open",
                repo: dir.display().to_string(),
                message: "not a git worktree".to_owned(),
            });
        }
        let probe =
            Worktree { dir: dir.to_path_buf(), url: RepoUrl::parse("file:///nonexistent")?, config: config.clone() };
        let out = probe.local("open", args(&["config", "--get", "remote.origin.url"])).await?;
        let url = RepoUrl::parse(String::from_utf8_lossy(&out).trim())?;
        Ok(Worktree { dir: dir.to_path_buf(), url, config: config.clone() })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The remote's URL as given to git (no password).
    pub fn repo_url(&self) -> &str {
        &self.url.git_url
    }

    /// The commit HEAD points at; `None` on an unborn branch.
    pub async fn head(&self) -> Result<Option<String>, WorktreeError> {
        self.rev("HEAD").await
    }

    /// The checked-out branch; `None` when detached.
    pub async fn branch(&self) -> Result<Option<String>, WorktreeError> {
        match self.local("branch", args(&["symbolic-ref", "--quiet", "--short", "HEAD"])).await {
            Ok(out) => Ok(Some(String::from_utf8_lossy(&out).trim().to_owned())),
            Err(WorktreeError::Git { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The full SHA `rev` names, `None` when it names nothing.
    pub async fn rev(&self, rev: &str) -> Result<Option<String>, WorktreeError> {
        let argv = vec!["rev-parse".into(), "--verify".into(), "--quiet".into(), "--end-of-options".into(), rev.into()];
        match self.local("rev-parse", argv).await {
            Ok(out) => Ok(Some(String::from_utf8_lossy(&out).trim().to_owned())),
            Err(WorktreeError::Git { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Stage everything (additions, changes, deletions) and commit it.
    pub async fn commit(&self, request: &CommitRequest<'_>) -> Result<CommitOutcome, WorktreeError> {
        self.local("add", args(&["add", "--all"])).await?;
        let status = self.local("status", args(&["status", "--porcelain"])).await?;
        if status.iter().all(u8::is_ascii_whitespace) {
            return Ok(CommitOutcome::NothingToCommit(self.head().await?));
        }
        let env = identity_env(request.identity, request.date);
        // The message goes through a file, never argv: it may be long.
        let message_file = self.dir.join(".git").join("FERRY_COMMIT_MSG");
        tokio::fs::write(&message_file, request.message).await.map_err(|source| WorktreeError::Io {
            step: "write commit message",
            path: message_file.clone(),
            source,
        })?;
        let mut file_arg = OsString::from("--file=");
        file_arg.push(&message_file);
        let argv = vec!["commit".into(), "--quiet".into(), "--no-verify".into(), "--cleanup=verbatim".into(), file_arg];
        self.run("commit", argv, &[], &env, &[]).await?;
        let head = self.head().await?.ok_or_else(|| self.failed("commit", "no HEAD after committing".into()))?;
        Ok(CommitOutcome::Committed(head))
    }

    /// Fetch one remote branch into `refs/remotes/origin/<branch>`; its SHA, or `None` when the
    /// remote has no such branch.
    pub async fn fetch_branch(
        &self,
        credentials: Option<&Credentials>,
        branch: &str,
    ) -> Result<Option<String>, WorktreeError> {
        check_branch_name(self, branch)?;
        self.fetch_all(credentials).await?;
        self.rev(&format!("refs/remotes/origin/{branch}")).await
    }

    /// Push HEAD to `branch` on the remote (never forced).
    pub async fn push(&self, credentials: Option<&Credentials>, branch: &str) -> Result<PushOutcome, WorktreeError> {
        check_branch_name(self, branch)?;
        let head = self.head().await?.ok_or_else(|| self.failed("push", "nothing to push: no commit".into()))?;
        let auth = git_auth(&self.url, credentials, &std::env::temp_dir())?;
        let secrets: Vec<&str> = auth.secrets.iter().map(String::as_str).collect();
        let argv = vec![
            "push".into(),
            "--quiet".into(),
            "--porcelain".into(),
            "origin".into(),
            format!("{head}:refs/heads/{branch}").into(),
        ];
        match self.run("push", argv, &auth.config_args, &auth.env, &secrets).await {
            Ok(_) => Ok(PushOutcome::Pushed(head)),
            Err(WorktreeError::Git { message, .. })
                if message.contains("[rejected]")
                    || message.contains("non-fast-forward")
                    || message.contains("fetch first")
                    || message.contains("Updates were rejected")
                    // Another push updating the same ref at this moment (local and file remotes).
                    || message.contains("cannot lock ref") =>
            {
                Ok(PushOutcome::Rejected(message))
            }
            Err(other) => Err(other),
        }
    }

    /// Push HEAD to `branch` on the remote, replacing what is there when the remote branch is
    /// still at `lease` (`None`: when it does not exist). For branches ferry owns outright (a
    /// proposal `<branch>-next`, rebuilt from its target by each promotion); a branch that moved
    /// since `lease` is not overwritten ([`PushOutcome::Rejected`]).
    pub async fn push_replacing(
        &self,
        credentials: Option<&Credentials>,
        branch: &str,
        lease: Option<&str>,
    ) -> Result<PushOutcome, WorktreeError> {
        check_branch_name(self, branch)?;
        let head = self.head().await?.ok_or_else(|| self.failed("push", "nothing to push: no commit".into()))?;
        let auth = git_auth(&self.url, credentials, &std::env::temp_dir())?;
        let secrets: Vec<&str> = auth.secrets.iter().map(String::as_str).collect();
        let argv = vec![
            "push".into(),
            "--quiet".into(),
            "--porcelain".into(),
            format!("--force-with-lease=refs/heads/{branch}:{}", lease.unwrap_or("")).into(),
            "origin".into(),
            format!("{head}:refs/heads/{branch}").into(),
        ];
        match self.run("push", argv, &auth.config_args, &auth.env, &secrets).await {
            Ok(_) => Ok(PushOutcome::Pushed(head)),
            Err(WorktreeError::Git { message, .. })
                if message.contains("[rejected]") || message.contains("stale info") =>
            {
                Ok(PushOutcome::Rejected(message))
            }
            Err(other) => Err(other),
        }
    }

    /// Rebase the current branch onto `onto`, with `identity` and `date` for the rewritten
    /// commits (so a retried rebase makes the same commits). A conflict aborts the rebase.
    pub async fn rebase(&self, onto: &str, identity: &Identity, date: &str) -> Result<RebaseOutcome, WorktreeError> {
        let env = identity_env(identity, date);
        let argv =
            vec!["rebase".into(), "--quiet".into(), "--no-autostash".into(), "--end-of-options".into(), onto.into()];
        match self.run("rebase", argv, &[], &env, &[]).await {
            Ok(_) => {
                let head = self.head().await?.ok_or_else(|| self.failed("rebase", "no HEAD after rebase".into()))?;
                Ok(RebaseOutcome::Rebased(head))
            }
            Err(WorktreeError::Git { message, .. }) => {
                // Leave the worktree as it was before; an abort that fails has nothing to abort.
                let _ = self.local("rebase", args(&["rebase", "--abort"])).await;
                Ok(RebaseOutcome::Conflict(message))
            }
            Err(other) => Err(other),
        }
    }

    /// The newest commit among the last `depth` commits of `rev` whose trailer `key` has exactly
    /// `value`, if any.
    pub async fn find_trailer(
        &self,
        rev: &str,
        key: &str,
        value: &str,
        depth: usize,
    ) -> Result<Option<String>, WorktreeError> {
        let format = format!("--format=%H%x00%(trailers:key={key},valueonly,separator=%x00)%x01");
        let argv = vec![
            "log".into(),
            format!("--max-count={depth}").into(),
            format.into(),
            "--end-of-options".into(),
            rev.into(),
        ];
        let out = self.local("log", argv).await?;
        let text = String::from_utf8_lossy(&out);
        for record in text.split('\u{1}') {
            let mut fields = record.trim_start_matches('\n').split('\0');
            let Some(sha) = fields.next().filter(|s| !s.is_empty()) else { continue };
            if fields.any(|v| v.trim() == value) {
                return Ok(Some(sha.to_owned()));
            }
        }
        Ok(None)
    }

    /// Whether `ancestor` is reachable from `descendant`.
    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, WorktreeError> {
        let argv = vec!["merge-base".into(), "--is-ancestor".into(), ancestor.into(), descendant.into()];
        match self.local("merge-base", argv).await {
            Ok(_) => Ok(true),
            Err(WorktreeError::Git { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The files under `path` (repository-relative; `""` for all) in commit `rev`, by path,
    /// with their contents (a symlink's content is its target). Empty when `rev` names nothing.
    pub async fn files_at(&self, rev: &str, path: &str) -> Result<BTreeMap<String, Vec<u8>>, WorktreeError> {
        let mut files = BTreeMap::new();
        let Some(commit) = self.rev(&format!("{rev}^{{commit}}")).await? else { return Ok(files) };
        let mut argv: Vec<OsString> = args(&["ls-tree", "-r", "-z", "--full-tree", &commit, "--"]);
        if !path.is_empty() {
            argv.push(path.into());
        }
        let listing = self.local("ls-tree", argv).await?;
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, name)) = entry.split_once('\t') else { continue };
            let mut meta = meta.split(' ');
            let (_mode, kind, oid) = (meta.next(), meta.next(), meta.next());
            if kind != Some("blob") {
                continue; // submodules
            }
            let Some(oid) = oid else { continue };
            let blob = self.local("cat-file", args(&["cat-file", "blob", oid])).await?;
            files.insert(name.to_owned(), blob);
        }
        Ok(files)
    }

    async fn fetch_all(&self, credentials: Option<&Credentials>) -> Result<(), WorktreeError> {
        let auth = git_auth(&self.url, credentials, &std::env::temp_dir())?;
        let secrets: Vec<&str> = auth.secrets.iter().map(String::as_str).collect();
        let argv = args(&[
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            "--no-tags",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
            "+refs/tags/*:refs/tags/*",
        ]);
        self.run("fetch", argv, &auth.config_args, &auth.env, &secrets).await.map(drop).map_err(|e| match e {
            WorktreeError::Git { repo, message, .. } => WorktreeError::Source(SourceError::Fetch { repo, message }),
            other => other,
        })
    }

    async fn local(&self, step: &'static str, argv: Vec<OsString>) -> Result<Vec<u8>, WorktreeError> {
        let env = [("LC_ALL".into(), "C".into()), ("GIT_TERMINAL_PROMPT".into(), "0".into())];
        self.run(step, argv, &[], &env, &[]).await
    }

    async fn run(
        &self,
        step: &'static str,
        argv: Vec<OsString>,
        auth_config: &[OsString],
        env: &[(OsString, OsString)],
        secrets: &[&str],
    ) -> Result<Vec<u8>, WorktreeError> {
        let mut config: Vec<OsString> = LOCAL_CONFIG.iter().map(OsString::from).collect();
        config.extend(auth_config.iter().cloned());
        let mut full: Vec<OsString> = vec!["-C".into(), self.dir.clone().into()];
        full.extend(argv);
        let invocation =
            Invocation { git: &self.config.git, config: &config, env, args: full, timeout: self.config.timeout };
        git::run(invocation).await.map_err(|error| match error {
            RunError::Spawn(error) => {
                WorktreeError::Io { step: "run git", path: self.config.git.clone(), source: error }
            }
            RunError::TimedOut => self.failed(step, format!("timed out after {}s", self.config.timeout.as_secs_f64())),
            RunError::Failed(stderr) => self.failed(step, mask_secrets(&stderr, secrets)),
        })
    }

    fn failed(&self, step: &'static str, message: String) -> WorktreeError {
        WorktreeError::Git { step, repo: self.url.display.clone(), message }
    }
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn identity_env(identity: &Identity, date: &str) -> Vec<(OsString, OsString)> {
    vec![
        ("LC_ALL".into(), "C".into()),
        ("GIT_AUTHOR_NAME".into(), identity.name.clone().into()),
        ("GIT_AUTHOR_EMAIL".into(), identity.email.clone().into()),
        ("GIT_COMMITTER_NAME".into(), identity.name.clone().into()),
        ("GIT_COMMITTER_EMAIL".into(), identity.email.clone().into()),
        ("GIT_AUTHOR_DATE".into(), date.into()),
        ("GIT_COMMITTER_DATE".into(), date.into()),
        // A rebase must never open an editor.
        ("GIT_EDITOR".into(), "true".into()),
        ("GIT_SEQUENCE_EDITOR".into(), "true".into()),
    ]
}

/// Branch names reach git as parts of refspecs: refuse anything git would not accept as a branch,
/// and anything that could be read as an option.
fn check_branch_name(tree: &Worktree, name: &str) -> Result<(), WorktreeError> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name.chars().any(|c| c.is_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\'));
    if bad { Err(tree.failed("check branch", format!("{name:?} is not a valid branch name"))) } else { Ok(()) }
}
