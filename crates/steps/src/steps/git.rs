//! `git-clone`, `git-commit` and `git-push`.

use std::time::UNIX_EPOCH;

use serde::Deserialize;
use serde_json::Value;
use source::worktree::{
    Checkout, CommitOutcome, CommitRequest, Identity, MissingBranch, PushOutcome, RebaseOutcome, Worktree,
};

use crate::steps::outputs;
use crate::{StepContext, StepError, StepOutcome, inside_workdir};

/// How many times a rejected push is rebased and tried again.
const PUSH_ATTEMPTS: usize = 10;

/// How far back a branch's history is searched for this promotion's own commit.
const TRAILER_DEPTH: usize = 100;

/// `git-clone` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CloneConfig {
    /// The repository.
    #[serde(rename = "repoURL")]
    repo_url: String,
    /// What to check out where.
    checkout: Vec<CheckoutConfig>,
}

/// One checkout: exactly one of `branch`, `commit` or `tag`, into `path`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CheckoutConfig {
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    commit: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    /// Where, relative to the working directory.
    path: String,
    /// With `branch`: start an empty (orphan) branch when the remote has none of that name.
    #[serde(default)]
    create: bool,
}

/// **git-clone**: clones `repoURL` once per `checkout` entry into its `path`, checking out a
/// `branch` (a local branch tracking the remote one), a `commit` or a `tag` (detached). With
/// `create: true`, a branch the remote lacks starts empty (an orphan branch, pushed later).
///
/// Outputs: `commit` (the first checkout's HEAD, absent for a new empty branch) and `commits`
/// (path → HEAD).
///
/// Idempotency: each run clones afresh over whatever is at the path.
pub(crate) async fn clone(config: CloneConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let credentials = ctx.credentials.credentials(&config.repo_url);
    let mut commits = serde_json::Map::new();
    let mut first: Option<Value> = None;
    for entry in &config.checkout {
        let dir = inside_workdir(ctx.workdir, &entry.path)?;
        if dir == inside_workdir(ctx.workdir, "")? {
            return Err(StepError::failed("git-clone: a checkout path must not be the working directory itself"));
        }
        let checkout = match (&entry.branch, &entry.commit, &entry.tag) {
            (Some(branch), None, None) => Checkout::Branch {
                name: branch.clone(),
                missing: if entry.create { MissingBranch::CreateOrphan } else { MissingBranch::Fail },
            },
            (None, Some(commit), None) => Checkout::Commit(commit.clone()),
            (None, None, Some(tag)) => Checkout::Tag(tag.clone()),
            _ => {
                return Err(StepError::failed(format!(
                    "git-clone: checkout {:?} needs exactly one of branch, commit or tag",
                    entry.path
                )));
            }
        };
        let tree = Worktree::clone(ctx.git, &config.repo_url, credentials.as_ref(), &dir, &checkout).await?;
        let head = tree.head().await?.map(Value::String).unwrap_or(Value::Null);
        if first.is_none() {
            first = Some(head.clone());
        }
        commits.insert(entry.path.clone(), head);
    }
    Ok(StepOutcome::succeeded(outputs([("commit", first.unwrap_or(Value::Null)), ("commits", Value::Object(commits))])))
}

/// `git-commit` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CommitConfig {
    /// The worktree, relative to the working directory.
    path: String,
    /// The message (a template: expressions are already evaluated).
    message: String,
    /// Author and committer; default `ferry <ferry@localhost>`.
    #[serde(default)]
    author: Option<AuthorConfig>,
}

/// A commit identity.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthorConfig {
    name: String,
    email: String,
}

/// **git-commit**: commits every change in the worktree at `path` with `message`, followed by
/// the trailers `Ferry-Promotion: <promotion>`, `Ferry-Freight: <freight>` and one
/// `Ferry-Source-Commit: <sha>` per source commit (the freight's commits, then any `drySha`
/// an earlier step output). Author and committer are `ferry <ferry@localhost>` (or `author`),
/// dated at the promotion's creation.
///
/// Outputs: `commit` (the new commit, or HEAD when there was nothing to commit).
///
/// Idempotency: the same changes on the same parent make the same SHA; no changes commit nothing.
pub(crate) async fn commit(config: CommitConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let dir = inside_workdir(ctx.workdir, &config.path)?;
    let tree = Worktree::open(ctx.git, &dir).await?;
    let message = with_trailers(&config.message, ctx);
    let identity = identity(config.author.as_ref());
    let date = git_date(ctx);
    let outcome = tree.commit(&CommitRequest { message: &message, identity: &identity, date: &date }).await?;
    let (commit, note) = match outcome {
        CommitOutcome::Committed(sha) => (Value::String(sha), None),
        CommitOutcome::NothingToCommit(head) => {
            (head.map(Value::String).unwrap_or(Value::Null), Some("nothing to commit".to_owned()))
        }
    };
    let mut outcome = StepOutcome::succeeded(outputs([("commit", commit)]));
    outcome.message = note;
    Ok(outcome)
}

/// `git-push` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PushConfig {
    /// The worktree, relative to the working directory.
    path: String,
    /// The remote branch; default the checked-out branch.
    #[serde(default)]
    target_branch: Option<String>,
    /// Push to `<branch>-next` instead (the proposed branch of the hydrated-branch layout).
    #[serde(default)]
    generate_target_branch: bool,
}

/// **git-push**: pushes HEAD of the worktree at `path` to `targetBranch` (default: the
/// checked-out branch), or to `<that branch>-next` with `generateTargetBranch`. A target branch is
/// never forced: when the remote moved on, it fetches, rebases and tries again, up to 10 times, with growing pauses; a
/// conflict, or still being rejected, fails with the reason. Promotions of one process take turns
/// per branch ([`crate::PushLocks`]), so only writers outside it can reject a push. A `-next` proposal branch is ferry's
/// own and is replaced (with a lease on what was read), so a newer promotion's proposal
/// supersedes an older one's.
///
/// Outputs: `branch`, `commit` (what the remote branch holds of this promotion).
///
/// Idempotency: when the remote branch already holds HEAD, or a commit carrying this
/// promotion's `Ferry-Promotion` trailer, it succeeds with that commit without pushing.
pub(crate) async fn push(config: PushConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let dir = inside_workdir(ctx.workdir, &config.path)?;
    let tree = Worktree::open(ctx.git, &dir).await?;
    let base = match config.target_branch.clone() {
        Some(branch) => branch,
        None => tree
            .branch()
            .await?
            .ok_or_else(|| StepError::failed("git-push: no targetBranch and the worktree is not on a branch"))?,
    };
    let branch = if config.generate_target_branch { format!("{base}-next") } else { base };
    let credentials = ctx.credentials.credentials(tree.repo_url());
    let Some(mut head) = tree.head().await? else {
        return Err(StepError::failed(format!("git-push: nothing to push to {branch:?}: the worktree has no commit")));
    };
    let remote_ref = format!("refs/remotes/origin/{branch}");
    let _turn = ctx.pushes.turn(tree.repo_url(), &branch).await;
    let done = |commit: &str| {
        StepOutcome::succeeded(outputs([
            ("branch", Value::String(branch.clone())),
            ("commit", Value::String(commit.to_owned())),
        ]))
    };
    if config.generate_target_branch {
        // The proposal branch is ferry's own, rebuilt from its target by each promotion: a newer
        // promotion (ReleaseLatest) replaces an older one's proposal instead of stacking on it.
        for _ in 0..PUSH_ATTEMPTS {
            let remote = tree.fetch_branch(credentials.as_ref(), &branch).await?;
            if let Some(remote) = &remote {
                if tree.is_ancestor(&head, remote).await? {
                    return Ok(done(&head));
                }
                if let Some(own) =
                    tree.find_trailer(&remote_ref, promotion::PROMOTION_TRAILER, ctx.promotion, TRAILER_DEPTH).await?
                {
                    return Ok(done(&own));
                }
            }
            match tree.push_replacing(credentials.as_ref(), &branch, remote.as_deref()).await? {
                PushOutcome::Pushed(commit) => return Ok(done(&commit)),
                PushOutcome::Rejected(message) => {
                    tracing::info!(branch = %branch, %message, "proposal moved while pushing; trying again");
                }
            }
        }
        return Ok(StepOutcome::failed(format!(
            "git-push: {branch:?} kept moving while replacing the proposal ({PUSH_ATTEMPTS} attempts); giving up"
        )));
    }
    let identity = identity(None);
    let date = git_date(ctx);
    for attempt in 0..=PUSH_ATTEMPTS {
        if let Some(remote) = tree.fetch_branch(credentials.as_ref(), &branch).await? {
            if tree.is_ancestor(&head, &remote).await? {
                return Ok(done(&head));
            }
            if let Some(own) =
                tree.find_trailer(&remote_ref, promotion::PROMOTION_TRAILER, ctx.promotion, TRAILER_DEPTH).await?
            {
                return Ok(done(&own));
            }
            if attempt > 0 || !tree.is_ancestor(&remote, &head).await? {
                match tree.rebase(&remote_ref, &identity, &date).await? {
                    RebaseOutcome::Rebased(rebased) => head = rebased,
                    RebaseOutcome::Conflict(message) => {
                        return Ok(StepOutcome::failed(format!(
                            "git-push: {branch:?} moved on and this promotion's changes conflict with it: {message}"
                        )));
                    }
                }
            }
        }
        if attempt == PUSH_ATTEMPTS {
            break;
        }
        match tree.push(credentials.as_ref(), &branch).await? {
            PushOutcome::Pushed(commit) => return Ok(done(&commit)),
            PushOutcome::Rejected(message) => {
                tracing::info!(branch = %branch, %message, attempt, "push rejected, rebasing");
                // Many promotions pushing to one branch at once: spread the retries so they
                // do not collide again in lockstep.
                tokio::time::sleep(retry_pause(ctx.promotion, attempt)).await;
            }
        }
    }
    Ok(StepOutcome::failed(format!(
        "git-push: {branch:?} was rejected {PUSH_ATTEMPTS} times (non-fast-forward) even after rebasing; giving up"
    )))
}

/// A pause before push attempt `attempt + 1`: growing with the attempt, and different per
/// promotion (a hash of its name), so concurrent pushers drift apart.
fn retry_pause(promotion: &str, attempt: usize) -> std::time::Duration {
    let spread = promotion.bytes().fold(attempt as u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 150;
    std::time::Duration::from_millis(50 * (attempt as u64 + 1) + spread)
}

/// The message with ferry's trailers.
fn with_trailers(message: &str, ctx: &StepContext<'_>) -> String {
    let mut text = message.trim_end().to_owned();
    text.push_str("\n\n");
    text.push_str(&format!("{}: {}\n", promotion::PROMOTION_TRAILER, ctx.promotion));
    let freight = ctx.freight.metadata.name.as_deref().unwrap_or_default();
    text.push_str(&format!("{}: {}\n", promotion::FREIGHT_TRAILER, freight));
    for sha in source_commits(ctx) {
        text.push_str(&format!("{}: {}\n", promotion::SOURCE_TRAILER, sha));
    }
    text
}

/// The freight's commits, then any `drySha` an earlier step output, without repeats.
pub(crate) fn source_commits(ctx: &StepContext<'_>) -> Vec<String> {
    let mut shas: Vec<String> = ctx.freight.spec.commits.iter().map(|c| c.id.clone()).collect();
    for output in ctx.outputs.values() {
        if let Some(sha) = output.get("drySha").and_then(Value::as_str)
            && !shas.iter().any(|s| s == sha)
        {
            shas.push(sha.to_owned());
        }
    }
    shas
}

fn identity(author: Option<&AuthorConfig>) -> Identity {
    match author {
        Some(author) => Identity { name: author.name.clone(), email: author.email.clone() },
        None => Identity { name: "ferry".to_owned(), email: "ferry@localhost".to_owned() },
    }
}

/// The promotion's creation time in git's internal date format.
fn git_date(ctx: &StepContext<'_>) -> String {
    let seconds = ctx.created_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{seconds} +0000")
}
