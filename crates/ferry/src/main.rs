//! The `ferry` binary: GitOps delivery and environment promotion for
//! Kubernetes. Only this crate builds the async runtime.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// jemalloc instead of glibc's allocator: the controller and the local
/// cluster allocate many short-lived JSON values; under glibc malloc that was
/// about 40% of the controller's CPU in profiles, and freed memory stayed
/// fragmented (RSS). (mimalloc was as fast but kept far more memory.)
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cli;
mod controller_cmd;
mod health_cmd;
mod render_cmd;
mod up;

#[derive(Parser)]
#[command(name = "ferry", version, about = "GitOps delivery and environment promotion for Kubernetes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start everything ferry needs locally: the local cluster and the controller
    Up(UpArgs),
    /// Work with clusters
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Print the health of each object in a manifest file, as the controller assesses it
    Health(HealthArgs),
    /// Create, inspect and operate applications
    App(cli::app::AppArgs),
    /// Manage credentials of git repositories
    Repo(cli::repo::RepoArgs),
    /// Install ferry (CRD, RBAC, controller) into a cluster, or print the manifests
    Install(cli::install::InstallArgs),
    /// Run the Application controller against a cluster (the management cluster of the kubeconfig)
    Controller(controller_cmd::ControllerArgs),
    /// Print the manifests the controller would apply for a local directory, rendered offline
    Render(render_cmd::RenderArgs),
    /// List warehouses, or ask one to look for new versions now
    Warehouse(cli::warehouse::WarehouseArgs),
    /// List, show and alias freight
    Freight(cli::freight::FreightArgs),
    /// List and show stages
    Stage(cli::stage::StageArgs),
    /// Promote freight to a stage (promoting older freight rolls back)
    Promote(cli::promote::PromoteArgs),
    /// Approve freight for a stage
    Approve(cli::promote::ApproveArgs),
    /// List, show, abort promotions and print their diffs
    Promotion(cli::promotion::PromotionArgs),
    /// Post commit statuses (promotion gates)
    Status(cli::status::StatusArgs),
    /// Draw the stages left to right: freight, health, gates and promotions
    Pipeline(cli::pipeline::PipelineArgs),
    /// DORA figures from the promotion history
    Stats(cli::stats::StatsArgs),
}

#[derive(Args)]
struct HealthArgs {
    /// Multi-document YAML or JSON file (Lists are flattened); `-` reads standard input
    #[arg(short = 'f', long = "filename")]
    file: String,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    /// Aligned columns
    Table,
    /// A JSON list of {kind, namespace, name, status, message}
    Json,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Serve ferry's local Kubernetes-compatible cluster
    Serve(ServeArgs),
    /// Register a destination cluster from a kubeconfig
    Add(cli::cluster::AddArgs),
    /// List destination clusters
    List(cli::cluster::ListArgs),
    /// Remove a destination cluster
    Rm(cli::cluster::RmArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Directory for the database, token and kubeconfig
    #[arg(long)]
    data_dir: PathBuf,
    #[command(flatten)]
    common: LocalArgs,
}

#[derive(Args)]
struct UpArgs {
    /// Directory for the local cluster's data (default: ~/.ferry/local)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also create a sample git repository and app (guestbook: a PreSync hook and two waves)
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    common: LocalArgs,
    #[command(flatten)]
    tuning: controller_cmd::Tuning,
}

#[derive(Args)]
struct LocalArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Do not simulate workloads (Deployments, Pods, Jobs... stay as written)
    #[arg(long)]
    no_simulation: bool,
    /// How long simulated workloads take to become ready, in milliseconds
    #[arg(long, default_value_t = 1000)]
    ready_delay_ms: u64,
    /// YAML file of fault-injection patterns (neverReady, crashLoop)
    #[arg(long)]
    faults: Option<PathBuf>,
    /// How many recent changes are kept for resuming watches (older resourceVersions get 410 Gone)
    #[arg(long, default_value_t = 100_000)]
    watch_history: usize,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<cli::Exit>().is_some() => {
            std::process::ExitCode::from(e.downcast_ref::<cli::Exit>().map_or(1, |exit| exit.0))
        }
        Err(e) => {
            // One line per cause, lowercase, no backtrace: this is for users.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    if let Command::Health(args) = &cli.command {
        return health(args);
    }
    if let Command::Render(args) = &cli.command {
        return render_cmd::run(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: logs redirected to a file or collected by a pod stay plain.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Cluster(ClusterCommand::Serve(args)) => serve(args.data_dir, args.common).await,
            Command::Health(args) => health(&args),
            Command::Render(args) => render_cmd::run(&args),
            Command::App(args) => cli::app::run(args).await,
            Command::Repo(args) => cli::repo::run(args).await,
            Command::Install(args) => cli::install::run(args).await,
            Command::Cluster(ClusterCommand::Add(args)) => cli::cluster::add(args).await,
            Command::Cluster(ClusterCommand::List(args)) => cli::cluster::list(args).await,
            Command::Cluster(ClusterCommand::Rm(args)) => cli::cluster::rm(args).await,
            Command::Controller(args) => controller_cmd::run(args).await,
            Command::Warehouse(args) => cli::warehouse::run(args).await,
            Command::Freight(args) => cli::freight::run(args).await,
            Command::Stage(args) => cli::stage::run(args).await,
            Command::Promote(args) => cli::promote::promote(args).await,
            Command::Approve(args) => cli::promote::approve(args).await,
            Command::Promotion(args) => cli::promotion::run(args).await,
            Command::Status(args) => cli::status::run(args).await,
            Command::Pipeline(args) => cli::pipeline::run(args).await,
            Command::Stats(args) => cli::stats::run(args).await,
            Command::Up(args) => {
                let dir = match args.data_dir {
                    Some(d) => d,
                    None => default_data_dir()?,
                };
                let local = local_config(dir.clone(), args.common)?;
                let demo = if args.demo { up::Demo::Yes } else { up::Demo::No };
                up::run(dir, local, &args.tuning, demo).await
            }
        }
    })
}

fn health(args: &HealthArgs) -> Result<()> {
    let text = health_cmd::read_input(&args.file)?;
    let objects = health_cmd::objects(&text).with_context(|| format!("cannot read manifests from {}", args.file))?;
    let rows = health_cmd::assess(&objects);
    match args.output {
        Output::Table => print!("{}", health_cmd::table(&rows)),
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows).context("cannot encode the result")?),
    }
    Ok(())
}

fn default_data_dir() -> Result<PathBuf> {
    Ok(home_dir()?.join(".ferry").join("local"))
}

/// The user's home directory, for default data directories.
pub(crate) fn home_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home))
}

fn local_config(data_dir: PathBuf, args: LocalArgs) -> Result<cluster::local::LocalConfig> {
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "listening beyond loopback: anyone who can reach this address and holds the token can use the cluster");
    }
    if args.ready_delay_ms > 3_600_000 {
        bail!("--ready-delay-ms must be at most one hour");
    }
    Ok(cluster::local::LocalConfig {
        data_dir: data_dir.clone(),
        listen: args.listen,
        simulation: if args.no_simulation {
            cluster::controllers::Simulation::Off
        } else {
            cluster::controllers::Simulation::On
        },
        ready_delay: Duration::from_millis(args.ready_delay_ms),
        faults_file: args.faults,
        watch_history: args.watch_history,
    })
}

async fn serve(data_dir: PathBuf, args: LocalArgs) -> Result<()> {
    let config = local_config(data_dir.clone(), args)?;
    let running = cluster::local::start(config)
        .await
        .with_context(|| format!("cannot start the local cluster in {}", data_dir.display()))?;
    println!("ferry local cluster serving at {}", running.url);
    println!("kubeconfig: {}", running.kubeconfig.display());
    println!("try: KUBECONFIG={} kubectl get nodes", running.kubeconfig.display());
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap's own consistency checks (unique argument names, ...), which
    /// otherwise only fire when a subcommand is first used.
    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
