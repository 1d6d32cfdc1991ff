//! `ferry repo add|list|rm`: git credentials, stored as Secrets labelled
//! `ferry.dev/secret-type: repository`. Passwords and keys are written to
//! the Secret and never printed.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use application::secrets::{REPOSITORY_SECRET_TYPE, RepoSecret, SECRET_TYPE_LABEL, repo_secret_name};
use clap::{ArgGroup, Args, Subcommand};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Serialize;

use super::table::Table;
use super::{ConnArgs, Format, is_conflict, is_not_found, kube_error, print_machine};

const FIELD_MANAGER: &str = "ferry-cli";

/// `ferry repo ...`.
#[derive(Args, Debug)]
pub struct RepoArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: RepoCommand,
}

#[derive(Subcommand, Debug)]
enum RepoCommand {
    /// Store credentials for a git repository
    Add(AddArgs),
    /// List repositories with stored credentials (never the secrets themselves)
    List(ListArgs),
    /// Remove a repository's credentials
    Rm(RmArgs),
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("secret").args(["password", "password_stdin"])))]
struct AddArgs {
    /// Repository URL (http(s)://, ssh:// or git@host:path)
    url: String,
    /// User name for HTTP basic auth
    #[arg(long)]
    username: Option<String>,
    /// Password or token for HTTP basic auth (visible in the process list: prefer --password-stdin)
    #[arg(long)]
    password: Option<String>,
    /// Read the password or token from standard input
    #[arg(long)]
    password_stdin: bool,
    /// Private key file for ssh:// remotes
    #[arg(long, value_name = "FILE")]
    ssh_private_key_path: Option<PathBuf>,
    /// Skip TLS verification (HTTPS) or host-key checking (SSH)
    #[arg(long)]
    insecure_ignore_host_key: bool,
    /// Replace the credentials if the repository is already registered
    #[arg(long)]
    upsert: bool,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct RmArgs {
    /// Repository URL
    url: String,
}

/// One row of `ferry repo list`: what is stored, not the secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoRow {
    /// Repository URL.
    pub url: String,
    /// User name, if any.
    pub username: String,
    /// Whether a password is stored.
    pub has_password: bool,
    /// Whether an SSH private key is stored.
    pub has_ssh_key: bool,
    /// Whether TLS/host-key verification is skipped.
    pub insecure: bool,
}

/// Runs `ferry repo ...`.
pub async fn run(args: RepoArgs) -> Result<()> {
    match args.command {
        RepoCommand::Add(add_args) => {
            // Everything local is checked before connecting.
            let repo = build(&add_args)?;
            let api = secrets_api(&args.conn).await?;
            add(&api, &repo, add_args.upsert).await
        }
        RepoCommand::List(list_args) => list(&secrets_api(&args.conn).await?, list_args.output).await,
        RepoCommand::Rm(rm_args) => rm(&secrets_api(&args.conn).await?, &rm_args.url).await,
    }
}

async fn secrets_api(conn: &ConnArgs) -> Result<Api<Secret>> {
    Ok(Api::namespaced(super::client(conn).await?, application::NAMESPACE))
}

/// Whether `url` looks like a git remote ferry can fetch, or a Helm chart
/// repository (`https://`) or OCI registry (`oci://`).
fn check_url(url: &str) -> Result<()> {
    let schemes = ["https://", "http://", "ssh://", "file://", "git://", "oci://"];
    let scp_like = !url.contains("://") && url.contains('@') && url.contains(':');
    if schemes.iter().any(|s| url.starts_with(s)) || scp_like {
        return Ok(());
    }
    bail!("invalid repository URL {url:?}: expected https://, http://, ssh://, file://, oci:// or user@host:path")
}

fn build(args: &AddArgs) -> Result<RepoSecret> {
    check_url(&args.url)?;
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read the password from standard input")?;
        let text = text.trim_end_matches(['\r', '\n']).to_owned();
        if text.is_empty() {
            bail!("--password-stdin: standard input is empty");
        }
        Some(text)
    } else {
        args.password.clone()
    };
    if password.is_some() && args.username.is_none() {
        bail!("a password needs a --username (for a token, any user name such as 'git' works)");
    }
    let ssh_private_key = match &args.ssh_private_key_path {
        Some(path) => {
            let key = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the SSH private key {}", path.display()))?;
            if !key.contains("PRIVATE KEY") {
                bail!("{} does not look like a PEM or OpenSSH private key", path.display());
            }
            Some(key)
        }
        None => None,
    };
    Ok(RepoSecret {
        url: args.url.clone(),
        username: args.username.clone(),
        password,
        ssh_private_key,
        insecure_ignore_host_key: args.insecure_ignore_host_key,
    })
}

async fn add(api: &Api<Secret>, repo: &RepoSecret, upsert: bool) -> Result<()> {
    let secret = repo.to_secret(application::NAMESPACE);
    let name = repo_secret_name(&repo.url);
    let url = &repo.url;
    if upsert {
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&secret))
            .await
            .map_err(namespace_hint)
            .with_context(|| format!("cannot store repository {url:?}"))?;
    } else {
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        match api.create(&params, &secret).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => bail!("repository {url:?} already exists (use --upsert to replace it)"),
            Err(e) => return Err(namespace_hint(e)).with_context(|| format!("cannot store repository {url:?}")),
        }
    }
    println!("repository {url:?} added");
    Ok(())
}

fn namespace_hint(e: kube::Error) -> anyhow::Error {
    if is_not_found(&e) {
        return anyhow::anyhow!("namespace {:?} does not exist (run `ferry install`)", application::NAMESPACE);
    }
    kube_error(e)
}

/// Rows of `ferry repo list`, sorted by URL. Unreadable Secrets are listed
/// by name so they can be found and fixed.
pub fn rows(secrets: &[Secret]) -> Vec<RepoRow> {
    let mut rows: Vec<RepoRow> = secrets
        .iter()
        .map(|s| match RepoSecret::from_secret(s) {
            Ok(r) => RepoRow {
                url: r.url,
                username: r.username.unwrap_or_default(),
                has_password: r.password.is_some(),
                has_ssh_key: r.ssh_private_key.is_some(),
                insecure: r.insecure_ignore_host_key,
            },
            Err(e) => RepoRow {
                url: format!("(secret {}: {e})", s.metadata.name.as_deref().unwrap_or_default()),
                username: String::new(),
                has_password: false,
                has_ssh_key: false,
                insecure: false,
            },
        })
        .collect();
    rows.sort_by(|a, b| a.url.cmp(&b.url));
    rows
}

async fn list(api: &Api<Secret>, output: Option<Format>) -> Result<()> {
    let params = ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={REPOSITORY_SECRET_TYPE}"));
    let secrets = api.list(&params).await.map_err(kube_error).context("cannot list repositories")?;
    let rows = rows(&secrets.items);
    match output {
        Some(format) => print_machine(&rows, format),
        None => {
            if rows.is_empty() {
                println!("No repositories found.");
                return Ok(());
            }
            let mut t = Table::new(["URL", "USERNAME", "HAS-PASSWORD", "HAS-SSH-KEY", "INSECURE"]);
            for r in rows {
                t.row(vec![
                    r.url,
                    r.username,
                    r.has_password.to_string(),
                    r.has_ssh_key.to_string(),
                    r.insecure.to_string(),
                ]);
            }
            print!("{}", t.render());
            Ok(())
        }
    }
}

async fn rm(api: &Api<Secret>, url: &str) -> Result<()> {
    let name = repo_secret_name(url);
    let existing = match api.get(&name).await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => bail!("repository {url:?} not found"),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot read repository {url:?}")),
    };
    let labelled = existing.metadata.labels.as_ref().and_then(|l| l.get(SECRET_TYPE_LABEL));
    if labelled.map(String::as_str) != Some(REPOSITORY_SECRET_TYPE) {
        bail!("repository {url:?} not found");
    }
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => bail!("repository {url:?} not found"),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot remove repository {url:?}")),
    }
    println!("repository {url:?} removed");
    Ok(())
}
