//! `ferry app`: create, inspect and operate Applications.
//!
//! Requests are fields on the Application, as in Argo CD: a sync is the
//! top-level `operation` field, a refresh the `ferry.dev/refresh`
//! annotation, termination the Terminating phase of
//! `status.operationState`. The controller acts on them; this module only
//! writes them and watches the status.

mod operation;
mod view;

#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use application::{
    Application, ApplicationDestination, ApplicationFields, ApplicationSource, ApplicationSpec, DirectorySource,
    HelmParameter, HelmSource, SyncPolicy, SyncPolicyAutomated,
};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use kube::Api;
use kube::api::PostParams;

use super::{ConnArgs, Format, print_machine};

/// The field manager of the CLI's own writes.
const FIELD_MANAGER: &str = "ferry-cli";

/// `ferry app ...`.
#[derive(Args, Debug)]
pub struct AppArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: AppCommand,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum AppCommand {
    /// Create an application
    Create(CreateArgs),
    /// List applications
    List(ListArgs),
    /// Show an application: source, destination, status and resources
    Get(GetArgs),
    /// Request a sync (written to the application's `operation` field)
    Sync(SyncArgs),
    /// Wait until an application is synced, healthy and idle
    Wait(WaitArgs),
    /// Show what a sync would change: a diff per resource of live against git (exit code 1 when they differ)
    Diff(NameArgs),
    /// Show the sync history
    History(HistoryArgs),
    /// Sync back to the revision of a history entry (not while auto-sync is on)
    Rollback(RollbackArgs),
    /// Stop the running operation
    TerminateOp(NameArgs),
    /// Delete an application (with --cascade, its resources too)
    Delete(DeleteArgs),
}

/// `ferry app create`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("destination").required(true).args(["dest_server", "dest_name"])))]
pub struct CreateArgs {
    /// Application name
    pub name: String,
    /// Git repository URL (file://, http(s):// or ssh://)
    #[arg(long = "repo", value_name = "URL")]
    pub repo: String,
    /// Directory inside the repository (not used with --helm-chart)
    #[arg(long, value_name = "PATH", required_unless_present = "helm_chart", default_value = "")]
    pub path: String,
    /// Branch, tag, commit SHA or HEAD
    #[arg(long, value_name = "REVISION", default_value = "HEAD")]
    pub revision: String,
    /// Destination API server URL (https://kubernetes.default.svc is the cluster ferry runs in)
    #[arg(long, value_name = "URL")]
    pub dest_server: Option<String>,
    /// Destination cluster name (in-cluster, or one added with `ferry cluster add`)
    #[arg(long, value_name = "NAME")]
    pub dest_name: Option<String>,
    /// Destination namespace
    #[arg(long, value_name = "NAMESPACE")]
    pub dest_namespace: String,
    /// Project
    #[arg(long, default_value = "default")]
    pub project: String,
    /// Sync automatically when the app is OutOfSync
    #[arg(long)]
    pub auto_sync: bool,
    /// With --auto-sync: delete resources that are no longer in git
    #[arg(long)]
    pub prune: bool,
    /// With --auto-sync: revert changes made in the cluster
    #[arg(long)]
    pub self_heal: bool,
    /// Sync option, e.g. CreateNamespace=true (repeatable)
    #[arg(long = "sync-option", value_name = "OPTION")]
    pub sync_options: Vec<String>,
    /// Read subdirectories too
    #[arg(long)]
    pub directory_recurse: bool,
    /// Glob of files to read, e.g. '*.yaml' or '{a,b}.yaml'
    #[arg(long, value_name = "GLOB")]
    pub directory_include: Option<String>,
    /// Glob of files to skip (wins over --directory-include)
    #[arg(long, value_name = "GLOB")]
    pub directory_exclude: Option<String>,
    /// Helm chart name, when --repo is a Helm repository (https://…) or registry (oci://…);
    /// --revision is then the chart version
    #[arg(long = "helm-chart", value_name = "CHART")]
    pub helm_chart: Option<String>,
    /// Helm values file (relative to the chart); repeatable
    #[arg(long = "values", value_name = "FILE")]
    pub helm_values: Vec<String>,
    /// Helm value (`--set`); repeatable
    #[arg(long = "helm-set", value_name = "KEY=VALUE")]
    pub helm_set: Vec<String>,
    /// Helm value kept a string (`--set-string`); repeatable
    #[arg(long = "helm-set-string", value_name = "KEY=VALUE")]
    pub helm_set_string: Vec<String>,
    /// Helm release name (default: the application name)
    #[arg(long = "release-name", value_name = "NAME")]
    pub release_name: Option<String>,
    /// Replace the spec of the application if it exists
    #[arg(long)]
    pub upsert: bool,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

/// How thoroughly `get --refresh` refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RefreshArg {
    /// Compare against the cached render
    Normal,
    /// Re-fetch and re-render the source first
    Hard,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// Application name
    name: String,
    /// Output format (default: a human-readable view)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
    /// Ask the controller to refresh first, and wait for it
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "normal", value_name = "TYPE")]
    refresh: Option<RefreshArg>,
    /// How long --refresh waits for the controller
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
struct SyncArgs {
    /// Application name
    name: String,
    /// Sync only this resource, GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (repeatable; core group is empty)
    #[arg(long = "resource", value_name = "GROUP:KIND:NAME")]
    resources: Vec<String>,
    /// Delete resources that are no longer in git
    #[arg(long)]
    prune: bool,
    /// Only report what would change
    #[arg(long)]
    dry_run: bool,
    /// Sync to this revision instead of the target revision
    #[arg(long, value_name = "REVISION")]
    revision: Option<String>,
    /// Wait for the operation to finish and print its results
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
struct WaitArgs {
    /// Application name
    name: String,
    /// Wait until Synced
    #[arg(long)]
    sync: bool,
    /// Wait until Healthy
    #[arg(long)]
    health: bool,
    /// Wait until no operation is requested or running
    #[arg(long)]
    operation: bool,
    /// How long to wait
    #[arg(long, default_value = "2m", value_parser = super::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
struct HistoryArgs {
    /// Application name
    name: String,
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct RollbackArgs {
    /// Application name
    name: String,
    /// History id (see `ferry app history`)
    id: i64,
    /// Delete resources that are not in the rolled-back revision
    #[arg(long)]
    prune: bool,
    /// Wait for the operation to finish
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    timeout: Duration,
}

#[derive(Args, Debug)]
struct NameArgs {
    /// Application name
    name: String,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Application name
    name: String,
    /// Also delete the application's resources (adds the ferry.dev/resources-finalizer finalizer first)
    #[arg(long)]
    cascade: bool,
    /// Wait until the application is gone
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    timeout: Duration,
}

/// Runs `ferry app ...`.
pub async fn run(args: AppArgs) -> Result<()> {
    // Validate what needs no cluster before connecting to one.
    let created = match &args.command {
        AppCommand::Create(create) => Some(build(create)?),
        _ => None,
    };
    let client = super::client(&args.conn).await?;
    let api: Api<Application> = Api::namespaced(client, application::NAMESPACE);
    match args.command {
        AppCommand::Create(create) => match created {
            Some(app) => create_app(&api, app, create.upsert).await,
            None => Err(anyhow!("internal error: no application was built")),
        },
        AppCommand::List(list) => list_apps(&api, list.output).await,
        AppCommand::Get(get) => get_app(&api, get).await,
        AppCommand::Sync(sync) => {
            let request = operation::SyncRequest {
                revision: sync.revision,
                resources: sync.resources.iter().map(|r| operation::parse_resource(r)).collect::<Result<_>>()?,
                prune: sync.prune,
                dry_run: sync.dry_run,
            };
            let wait = if sync.wait { operation::Wait::For(sync.timeout) } else { operation::Wait::No };
            operation::sync(&api, &sync.name, request, wait).await
        }
        AppCommand::Wait(w) => {
            let mut what = operation::WaitFor { sync: w.sync, health: w.health, operation: w.operation };
            if !(w.sync || w.health || w.operation) {
                what = operation::WaitFor { sync: true, health: true, operation: true };
            }
            operation::wait(&api, &w.name, what, w.timeout).await
        }
        AppCommand::History(h) => {
            let app = fetch(&api, &h.name).await?;
            let history = app.status.as_ref().map(|s| s.history.clone()).unwrap_or_default();
            match h.output {
                Some(format) => print_machine(&history, format),
                None => {
                    print!("{}", view::history_table(&history));
                    Ok(())
                }
            }
        }
        AppCommand::Rollback(r) => {
            let wait = if r.wait { operation::Wait::For(r.timeout) } else { operation::Wait::No };
            let prune = if r.prune { operation::Prune::Yes } else { operation::Prune::No };
            operation::rollback(&api, &r.name, r.id, prune, wait).await
        }
        AppCommand::TerminateOp(t) => operation::terminate(&api, &t.name).await,
        AppCommand::Diff(d) => diff(&api, &d.name).await,
        AppCommand::Delete(d) => {
            let cascade = if d.cascade { operation::Cascade::Yes } else { operation::Cascade::No };
            let wait = if d.wait { operation::Wait::For(d.timeout) } else { operation::Wait::No };
            operation::delete(&api, &d.name, cascade, wait).await
        }
    }
}

/// The Application `ferry app create` would write; checks the flags.
pub fn build(args: &CreateArgs) -> Result<Application> {
    if !super::is_dns_label(&args.name, 253) {
        bail!("invalid application name {:?}: use lowercase letters, digits and '-'", args.name);
    }
    if (args.prune || args.self_heal) && !args.auto_sync {
        bail!("--prune and --self-heal apply to automated sync; add --auto-sync");
    }
    let mut sync_options = Vec::new();
    for option in &args.sync_options {
        for entry in option.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            validate_sync_option(entry)?;
            sync_options.push(entry.to_owned());
        }
    }
    let directory = (args.directory_recurse || args.directory_include.is_some() || args.directory_exclude.is_some())
        .then(|| DirectorySource {
            recurse: args.directory_recurse,
            include: args.directory_include.clone(),
            exclude: args.directory_exclude.clone(),
            jsonnet: None,
        });
    let mut parameters = Vec::new();
    for (items, force_string) in [(&args.helm_set, false), (&args.helm_set_string, true)] {
        for item in items {
            let Some((name, value)) = item.split_once('=').filter(|(name, _)| !name.is_empty()) else {
                bail!("--helm-set{} {item:?}: expected KEY=VALUE", if force_string { "-string" } else { "" });
            };
            parameters.push(HelmParameter { name: name.to_owned(), value: value.to_owned(), force_string });
        }
    }
    let helm = HelmSource {
        value_files: args.helm_values.clone(),
        parameters,
        release_name: args.release_name.clone(),
        ..HelmSource::default()
    };
    if args.helm_chart.is_some() && directory.is_some() {
        bail!("--helm-chart cannot be combined with --directory-* options");
    }
    let automated = args.auto_sync.then_some(SyncPolicyAutomated { prune: args.prune, self_heal: args.self_heal });
    let sync_policy = (automated.is_some() || !sync_options.is_empty()).then(|| SyncPolicy {
        automated,
        sync_options,
        ..SyncPolicy::default()
    });
    let spec = ApplicationSpec {
        project: Some(args.project.clone()),
        source: ApplicationSource {
            repo_url: args.repo.clone(),
            target_revision: args.revision.clone(),
            path: args.path.clone(),
            directory,
            helm: (helm != HelmSource::default()).then_some(helm),
            chart: args.helm_chart.clone(),
            ..ApplicationSource::default()
        },
        destination: ApplicationDestination {
            server: args.dest_server.clone(),
            name: args.dest_name.clone(),
            namespace: Some(args.dest_namespace.clone()),
        },
        sync_policy,
        ..ApplicationSpec::default()
    };
    let mut app = Application::new(&args.name, ApplicationFields { spec, operation: None });
    app.metadata.namespace = Some(application::NAMESPACE.to_owned());
    Ok(app)
}

/// The sync options ferry knows, for error messages.
const KNOWN_SYNC_OPTIONS: &str = "CreateNamespace=true, PruneLast=true, ApplyOutOfSyncOnly=true, \
     PrunePropagationPolicy=foreground|background|orphan, Validate=false, ServerSideApply=true, Replace=true, \
     Force=true, SkipDryRunOnMissingResource=true, RespectIgnoreDifferences=true, FailOnSharedResource=true";

fn validate_sync_option(entry: &str) -> Result<()> {
    if !entry.contains('=') {
        bail!("invalid sync option {entry:?}: expected NAME=VALUE, one of {KNOWN_SYNC_OPTIONS}");
    }
    let (_, warnings) = sync::plan::SyncOptions::parse(entry);
    if !warnings.is_empty() {
        bail!("unknown sync option {entry:?}; known options: {KNOWN_SYNC_OPTIONS}");
    }
    Ok(())
}

async fn create_app(api: &Api<Application>, app: Application, upsert: bool) -> Result<()> {
    let name = app.metadata.name.clone().unwrap_or_default();
    if upsert {
        return upsert_app(api, app).await;
    }
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
    match api.create(&params, &app).await {
        Ok(_) => {
            println!("application {name:?} created");
            Ok(())
        }
        Err(e) if super::is_conflict(&e) => {
            bail!("application {name:?} already exists (use --upsert to update it)")
        }
        Err(e) => Err(not_installed(e, &name)).with_context(|| format!("cannot create application {name:?}")),
    }
}

/// Creates the app, or replaces the spec of an existing one (keeping its
/// metadata, requested operation and status). A server-side apply would
/// keep fields the first `create` wrote and this spec drops (a `server`
/// replaced by a `name`), so the spec is replaced whole.
async fn upsert_app(api: &Api<Application>, app: Application) -> Result<()> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
    for _ in 0..8 {
        let mut existing = match api.get(&name).await {
            Ok(existing) => existing,
            Err(e) if super::is_not_found(&e) => match api.create(&params, &app).await {
                Ok(_) => {
                    println!("application {name:?} created");
                    return Ok(());
                }
                Err(e) if super::is_conflict(&e) => continue,
                Err(e) => {
                    return Err(not_installed(e, &name)).with_context(|| format!("cannot create application {name:?}"));
                }
            },
            Err(e) => return Err(super::kube_error(e)).with_context(|| format!("cannot read application {name:?}")),
        };
        if existing.spec.spec == app.spec.spec {
            println!("application {name:?} unchanged");
            return Ok(());
        }
        existing.spec.spec = app.spec.spec.clone();
        match api.replace(&name, &params, &existing).await {
            Ok(_) => {
                println!("application {name:?} configured");
                return Ok(());
            }
            Err(e) if super::is_conflict(&e) => continue,
            Err(e) => return Err(super::kube_error(e)).with_context(|| format!("cannot update application {name:?}")),
        }
    }
    bail!("application {name:?} kept changing while updating it; try again")
}

async fn list_apps(api: &Api<Application>, output: Option<Format>) -> Result<()> {
    let list = api
        .list(&kube::api::ListParams::default())
        .await
        .map_err(|e| not_installed(e, ""))
        .context("cannot list applications")?;
    let mut apps = list.items;
    apps.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match output {
        Some(format) => print_machine(&apps, format),
        None => {
            print!("{}", view::list_table(&apps));
            Ok(())
        }
    }
}

async fn get_app(api: &Api<Application>, args: GetArgs) -> Result<()> {
    if let Some(refresh) = args.refresh {
        let refresh = match refresh {
            RefreshArg::Normal => application::Refresh::Normal,
            RefreshArg::Hard => application::Refresh::Hard,
        };
        operation::refresh(api, &args.name, refresh, args.timeout).await?;
    }
    let app = fetch(api, &args.name).await?;
    match args.output {
        Some(format) => print_machine(&app, format),
        None => {
            print!("{}", view::describe(&app));
            Ok(())
        }
    }
}

/// Reads one Application; a missing one is `application "NAME" not found`.
async fn fetch(api: &Api<Application>, name: &str) -> Result<Application> {
    match api.get(name).await {
        Ok(app) => Ok(app),
        Err(e) if super::is_not_found(&e) => Err(not_installed(e, name)),
        Err(e) => Err(super::kube_error(e)).with_context(|| format!("cannot read application {name:?}")),
    }
}

/// Turns the API server's 404s into the three things they mean here: ferry
/// is not installed, its namespace is missing, or the application does not
/// exist.
fn not_installed(e: kube::Error, name: &str) -> anyhow::Error {
    if let kube::Error::Api(status) = &e
        && status.code == 404
    {
        if status.message.contains("could not find the requested resource") {
            return anyhow!("the Application CRD is not installed in this cluster (run `ferry install`)");
        }
        if status.message.contains(&format!("namespaces \"{}\" not found", application::NAMESPACE)) {
            return anyhow!("namespace {:?} does not exist (run `ferry install`)", application::NAMESPACE);
        }
        if !name.is_empty() {
            return anyhow!("application {name:?} not found");
        }
    }
    super::kube_error(e)
}

/// `ferry app diff`: compares the app here, as the controller would, with a
/// fresh render of its source and the destination's live state.
async fn diff(api: &Api<Application>, name: &str) -> Result<()> {
    let app = api.get(name).await.map_err(|e| {
        if super::is_not_found(&e) { anyhow!("application {name:?} not found") } else { super::kube_error(e) }
    })?;
    let cache = tempfile::tempdir().context("cannot create a temporary directory for the git cache")?;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let comparison = controller::compare_once(api.clone().into_client(), &app, cache.path().to_owned(), shutdown)
        .await
        .map_err(|message| anyhow!("cannot compare application {name:?}: {message}"))?;
    let mut differs = false;
    for resource in &comparison.resources {
        if resource.status == application::SyncStatusCode::Synced {
            continue;
        }
        differs = true;
        let key = &resource.key;
        let group = if key.group.is_empty() { String::new() } else { format!("{}/", key.group) };
        let place = if key.namespace.is_empty() { key.name.clone() } else { format!("{}/{}", key.namespace, key.name) };
        let note = if resource.requires_pruning { " (requires pruning)" } else { "" };
        println!("===== {group}{} {place}{note} ======", key.kind);
        print!("{}", resource.diff);
        if !resource.diff.ends_with('\n') && !resource.diff.is_empty() {
            println!();
        }
    }
    if differs {
        return Err(super::Exit(1).into());
    }
    Ok(())
}
