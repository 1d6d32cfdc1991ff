//! `ferry controller`: the Application controller against any cluster, and
//! the pieces `ferry up` shares with it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::sync::watch;

use crate::cli::{self, ConnArgs};

/// Options of `ferry controller` (and the controller half of `ferry up`).
#[derive(Args, Debug, Clone)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Directory for git mirrors and snapshots (default: ~/.ferry/controller)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Same as --controller-listen (the name the installed Deployment uses;
    /// only `ferry up` needs the longer name, its --listen being the cluster's)
    #[arg(long, value_name = "ADDR", conflicts_with = "controller_listen")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Controller settings shared by `ferry controller` and `ferry up`.
#[derive(Args, Debug, Clone)]
pub struct Tuning {
    /// Address for /metrics, /healthz and the git webhook (/api/webhook)
    #[arg(long = "controller-listen", default_value = "127.0.0.1:8080")]
    pub controller_listen: SocketAddr,
    /// How often repositories are fetched without a webhook (e.g. 120s, 1s at least)
    #[arg(long, default_value = "120s")]
    pub poll_interval: String,
    /// Default time limit of one sync attempt (an app's syncPolicy.syncTimeout overrides it)
    #[arg(long, default_value = "10m")]
    pub sync_timeout: String,
    /// Applications reconciled at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Secret of GitHub webhooks (X-Hub-Signature-256)
    #[arg(long, env = "FERRY_WEBHOOK_GITHUB_SECRET", hide_env_values = true)]
    pub webhook_github_secret: Option<String>,
    /// Secret token of GitLab webhooks (X-Gitlab-Token)
    #[arg(long, env = "FERRY_WEBHOOK_GITLAB_SECRET", hide_env_values = true)]
    pub webhook_gitlab_secret: Option<String>,
    /// Secret of Gitea webhooks (X-Gitea-Signature)
    #[arg(long, env = "FERRY_WEBHOOK_GITEA_SECRET", hide_env_values = true)]
    pub webhook_gitea_secret: Option<String>,
    /// Bearer token registry push notifications to /api/webhook/registry must carry (unset: the
    /// endpoint is off)
    #[arg(long, env = "FERRY_REGISTRY_WEBHOOK_TOKEN", hide_env_values = true)]
    pub registry_webhook_token: Option<String>,
    /// Config-management plugins: a file of ConfigManagementPlugin documents (Argo CD's
    /// format), or a directory of them
    #[arg(long, env = "FERRY_PLUGINS", value_name = "PATH")]
    pub plugins: Option<PathBuf>,
    /// MiB of rendered manifests kept on disk under the data directory
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub render_cache_mib: u64,
    /// Renders (tool runs) at once (default: twice the number of cores)
    #[arg(long, value_name = "N")]
    pub render_concurrency: Option<usize>,
}

impl Tuning {
    /// The controller configuration these options describe.
    pub fn config(&self, data_dir: PathBuf) -> Result<controller::ControllerConfig> {
        let mut config = controller::ControllerConfig::new(data_dir);
        config.listen = Some(self.controller_listen);
        config.poll_interval = cli::parse_duration(&self.poll_interval).context("invalid --poll-interval")?;
        if config.poll_interval < Duration::from_secs(1) {
            bail!("--poll-interval must be at least 1s");
        }
        config.sync_timeout = cli::parse_duration(&self.sync_timeout).context("invalid --sync-timeout")?;
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        config.concurrency = self.concurrency;
        let plugins = match &self.plugins {
            Some(path) => render::Plugins::load(path).context("invalid --plugins")?,
            None => render::Plugins::default(),
        };
        config.tools = std::sync::Arc::new(render::Toolbox::new(render::HelmTools::default(), plugins));
        config.render_cache_bytes = self.render_cache_mib.saturating_mul(1024 * 1024);
        if let Some(renders) = self.render_concurrency {
            if renders == 0 {
                bail!("--render-concurrency must be at least 1");
            }
            config.render_concurrency = renders;
        }
        config.webhook_secrets = source::webhook::WebhookSecrets {
            github: self.webhook_github_secret.clone(),
            gitlab: self.webhook_gitlab_secret.clone(),
            gitea: self.webhook_gitea_secret.clone(),
        };
        Ok(config)
    }

    /// The promoter's configuration beside the controller's `config`.
    pub fn promoter_config(&self, config: &controller::ControllerConfig) -> promoter::PromoterConfig {
        let mut promoter = promoter::PromoterConfig::new(config.data_dir.join("promotion"));
        promoter.tools = config.tools.clone();
        promoter.registry_webhook_token = self.registry_webhook_token.clone();
        promoter
    }
}

/// Runs `ferry controller` until Ctrl-C or SIGTERM.
pub async fn run(mut args: ControllerArgs) -> Result<()> {
    cli::init_crypto();
    if let Some(listen) = args.listen {
        args.tuning.controller_listen = listen;
    }
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => crate::home_dir()?.join(".ferry").join("controller"),
    };
    let config = args.tuning.config(data_dir)?;
    warn_if_exposed(config.listen);
    let client = cli::client(&args.conn).await?;
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down the controller");
        let _ = stop.send(true);
    });
    if let Some(listen) = config.listen {
        println!("ferry controller: metrics and webhook at http://{listen}/metrics, /api/webhook");
    }
    let promoter = args.tuning.promoter_config(&config);
    run_controllers(client, config, promoter, shutdown).await
}

/// Runs the Application controller and the promoter side by side on one HTTP endpoint until
/// `shutdown` turns true.
pub async fn run_controllers(
    client: kube::Client,
    mut config: controller::ControllerConfig,
    promoter_config: promoter::PromoterConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let promoter = promoter::Promoter::new(client.clone(), promoter_config).context("cannot start the promoter")?;
    config.companion = Some(std::sync::Arc::new(promoter.clone()));
    // Either one stopping (an error at startup, say) stops the other, so the process ends.
    let (stop, both) = watch::channel(false);
    let applications = controller::run(client, config, both.clone());
    let promotions = promoter.run(both);
    tokio::pin!(applications, promotions);
    let mut outer = shutdown;
    let outer_stop = async move {
        while !*outer.borrow() {
            if outer.changed().await.is_err() {
                break;
            }
        }
    };
    let (applications, promotions) = tokio::select! {
        result = &mut applications => {
            let _ = stop.send(true);
            (result, promotions.await)
        }
        result = &mut promotions => {
            let _ = stop.send(true);
            (applications.await, result)
        }
        () = outer_stop => {
            let _ = stop.send(true);
            tokio::join!(applications, promotions)
        }
    };
    applications.context("the controller stopped")?;
    promotions.context("the promoter stopped")
}

/// Warns when the endpoint is reachable beyond this machine.
pub fn warn_if_exposed(listen: Option<SocketAddr>) {
    if let Some(listen) = listen
        && !listen.ip().is_loopback()
    {
        tracing::warn!(%listen, "controller endpoint listens beyond loopback; set webhook secrets");
    }
}
