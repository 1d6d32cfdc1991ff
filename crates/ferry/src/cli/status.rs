//! `ferry status post`: post a CommitStatus ("an opinion about a commit").
//!
//! The object's name is derived from (repository, SHA, key), and the write
//! is a server-side apply, so posting again for the same triple updates the
//! one object instead of adding another.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use kube::api::{Patch, PatchParams};
use promotion::{CommitStatus, CommitStatusPhase, CommitStatusSpec};

use super::promotion::objects::{Cluster, FIELD_MANAGER, Scope};

/// `ferry status ...`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: StatusCommand,
}

#[derive(Subcommand, Debug)]
enum StatusCommand {
    /// Create or update the commit status of (repository, SHA, key)
    Post(PostArgs),
}

/// A commit status's opinion, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PhaseArg {
    /// Not decided yet
    Pending,
    /// Good
    Success,
    /// Bad
    Failure,
}

impl From<PhaseArg> for CommitStatusPhase {
    fn from(phase: PhaseArg) -> Self {
        match phase {
            PhaseArg::Pending => CommitStatusPhase::Pending,
            PhaseArg::Success => CommitStatusPhase::Success,
            PhaseArg::Failure => CommitStatusPhase::Failure,
        }
    }
}

#[derive(Args, Debug)]
struct PostArgs {
    /// Repository URL
    #[arg(long, value_name = "URL")]
    repo: String,
    /// Full commit SHA
    #[arg(long, value_name = "SHA")]
    sha: String,
    /// What the opinion is about, for example ci/tests
    #[arg(long, value_name = "KEY")]
    key: String,
    /// The opinion
    #[arg(long, value_enum)]
    phase: PhaseArg,
    /// One line for humans
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Where to read more
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

/// Runs `ferry status ...`.
pub async fn run(args: StatusArgs) -> Result<()> {
    let StatusCommand::Post(post) = args.command;
    let object = build(&post)?;
    let cluster = Cluster::connect(&args.scope).await?;
    let name = object.metadata.name.clone().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    cluster
        .api::<CommitStatus>()
        .patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| cluster.explain::<CommitStatus>(e, None))
        .with_context(|| format!("cannot post commit status {:?}", post.key))?;
    println!("commitstatus {name:?}: {} is {} on {}", post.key, phase_text(post.phase), short(&post.sha));
    Ok(())
}

fn phase_text(phase: PhaseArg) -> &'static str {
    match phase {
        PhaseArg::Pending => "pending",
        PhaseArg::Success => "success",
        PhaseArg::Failure => "failure",
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn build(post: &PostArgs) -> Result<CommitStatus> {
    for (flag, value) in [("--repo", &post.repo), ("--sha", &post.sha), ("--key", &post.key)] {
        if value.trim().is_empty() {
            bail!("{flag} must not be empty");
        }
    }
    if !post.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("invalid --sha {:?}: expected a hexadecimal commit id", post.sha);
    }
    let name = promotion::gates::commit_status_name(&post.repo, &post.sha, &post.key);
    // Apply sends every field the CLI owns: an omitted description or URL
    // is removed from the object, as a repost means "this is the opinion now".
    let object = CommitStatus::new(
        &name,
        CommitStatusSpec {
            repo_url: post.repo.clone(),
            sha: post.sha.to_ascii_lowercase(),
            key: post.key.clone(),
            phase: post.phase.into(),
            description: post.description.clone(),
            url: post.url.clone(),
        },
    );
    Ok(object)
}
