//! `git-open-pr` and `git-wait-for-pr`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use source::worktree::{Checkout, Worktree};

use crate::steps::outputs;
use crate::{PullRequestRequest, StepContext, StepError, StepOutcome, inside_workdir};

/// The hydrated diff in a PR body is cut at about this many bytes.
pub(crate) const MAX_DIFF_BYTES: usize = 60 * 1024;

/// `git-open-pr` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct OpenConfig {
    /// The repository.
    #[serde(rename = "repoURL")]
    repo_url: String,
    /// The branch with the changes (usually git-push's `branch` output).
    source_branch: String,
    /// The branch to merge into.
    target_branch: String,
    /// The title (default: `Promote <freight alias> to <stage>`).
    #[serde(default)]
    title: Option<String>,
    /// Text above the diff.
    #[serde(default)]
    description: Option<String>,
    /// Only diff this directory of the repository (default: all of it).
    #[serde(default)]
    diff_path: Option<String>,
}

/// **git-open-pr**: opens a pull request from `sourceBranch` to `targetBranch` through the
/// controller's SCM provider. The body carries the *hydrated diff*: a unified diff of the files
/// (under `diffPath`) between the two branches, cut at about 60 KB with a note saying so.
///
/// Outputs: `prNumber` and `pr.id` (the provider's id), `url` and `pr.url`.
///
/// Idempotency: the provider returns (and updates) the open PR for the same branches instead
/// of opening a second one.
pub(crate) async fn open(config: OpenConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let credentials = ctx.credentials.credentials(&config.repo_url);
    // A fetch-only scratch clone, private to this step.
    let scratch = inside_workdir(ctx.workdir, ".ferry/open-pr")?;
    let tree = Worktree::clone(ctx.git, &config.repo_url, credentials.as_ref(), &scratch, &Checkout::FetchOnly).await?;
    if tree.rev(&format!("refs/remotes/origin/{}", config.source_branch)).await?.is_none() {
        return Err(StepError::failed(format!(
            "git-open-pr: source branch {:?} does not exist (push it first)",
            config.source_branch
        )));
    }
    let path = config.diff_path.clone().unwrap_or_default();
    let old = tree.files_at(&format!("refs/remotes/origin/{}", config.target_branch), &path).await?;
    let new = tree.files_at(&format!("refs/remotes/origin/{}", config.source_branch), &path).await?;
    let diff = unified_diff(&old, &new);
    let alias = &ctx.freight.spec.alias;
    let title = config.title.clone().unwrap_or_else(|| format!("Promote {alias} to {}", ctx.stage));
    let body = pr_body(config.description.as_deref(), &diff, ctx);
    let request = PullRequestRequest {
        repo_url: config.repo_url.clone(),
        source_branch: config.source_branch.clone(),
        target_branch: config.target_branch.clone(),
        title,
        body,
    };
    let pr = ctx.services.open_pull_request(&request).await?;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    Ok(StepOutcome::succeeded(outputs([
        ("prNumber", Value::String(pr.id.clone())),
        ("url", Value::String(pr.url.clone())),
        ("pr", serde_json::json!({ "id": pr.id, "url": pr.url })),
    ])))
}

/// The PR body: the description, where the change comes from, and the diff.
fn pr_body(description: Option<&str>, diff: &str, ctx: &StepContext<'_>) -> String {
    let mut body = String::new();
    if let Some(description) = description.filter(|d| !d.trim().is_empty()) {
        body.push_str(description.trim_end());
        body.push_str("\n\n");
    }
    let freight = ctx.freight.metadata.name.as_deref().unwrap_or_default();
    body.push_str(&format!(
        "Promotion `{}` of freight `{}` (`{freight}`) to stage `{}`.\n\n",
        ctx.promotion, ctx.freight.spec.alias, ctx.stage
    ));
    if diff.is_empty() {
        body.push_str("The hydrated manifests do not change.\n");
    } else {
        body.push_str("### Hydrated diff\n\n```diff\n");
        body.push_str(diff);
        if !diff.ends_with('\n') {
            body.push('\n');
        }
        body.push_str("```\n");
    }
    body
}

/// A unified diff of two file sets, file by file in path order, cut at [`MAX_DIFF_BYTES`].
pub(crate) fn unified_diff(old: &BTreeMap<String, Vec<u8>>, new: &BTreeMap<String, Vec<u8>>) -> String {
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut out = String::new();
    for path in paths {
        let (before, after) = (old.get(path), new.get(path));
        if before == after {
            continue;
        }
        let text = |bytes: Option<&Vec<u8>>| bytes.map(|b| std::str::from_utf8(b).map(str::to_owned));
        let (old_name, new_name) = (
            if before.is_some() { format!("a/{path}") } else { "/dev/null".to_owned() },
            if after.is_some() { format!("b/{path}") } else { "/dev/null".to_owned() },
        );
        match (text(before), text(after)) {
            (Some(Err(_)), _) | (_, Some(Err(_))) => {
                out.push_str(&format!("Binary file {path} changed\n"));
            }
            (before, after) => {
                let before = before.and_then(Result::ok).unwrap_or_default();
                let after = after.and_then(Result::ok).unwrap_or_default();
                let diff = similar::TextDiff::from_lines(&before, &after);
                out.push_str(&format!("diff --git a/{path} b/{path}\n"));
                out.push_str(&diff.unified_diff().context_radius(3).header(&old_name, &new_name).to_string());
            }
        }
        if out.len() > MAX_DIFF_BYTES {
            break;
        }
    }
    if out.len() > MAX_DIFF_BYTES {
        let mut cut = MAX_DIFF_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        // End on a whole line.
        if let Some(line_end) = out[..cut].rfind('\n') {
            cut = line_end + 1;
        }
        let total = out.len();
        out.truncate(cut);
        out.push_str(&format!(
            "... diff cut at {cut} of {total}+ bytes; see the full change with `ferry promotion diff`\n"
        ));
    }
    out
}

/// `git-wait-for-pr` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WaitConfig {
    /// The repository.
    #[serde(rename = "repoURL")]
    repo_url: String,
    /// The PR (git-open-pr's `prNumber`): a number or a provider id.
    pr_number: PrId,
}

/// A PR id given as a number or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PrId {
    Number(u64),
    Text(String),
}

/// **git-wait-for-pr**: waits until the PR `prNumber` is merged (`running` until then) and
/// fails when it is closed without merging.
///
/// Outputs: `commit` (the merge commit).
///
/// Idempotency: it only reads the PR's state.
pub(crate) async fn wait(config: WaitConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let id = match &config.pr_number {
        PrId::Number(n) => n.to_string(),
        PrId::Text(s) => s.clone(),
    };
    let info = ctx.services.pull_request(&config.repo_url, &id).await?;
    Ok(match info.state {
        promotion::PullRequestState::Open => {
            StepOutcome::running(format!("waiting for pull request {id} to be merged"))
        }
        promotion::PullRequestState::Closed => {
            StepOutcome::failed(format!("pull request {id} was closed without being merged"))
        }
        promotion::PullRequestState::Merged => {
            StepOutcome::succeeded(outputs([("commit", info.merge_commit.map(Value::String).unwrap_or(Value::Null))]))
        }
    })
}
