//! `ferry up`: the local cluster and the controller in one process, and with
//! `--demo` a sample git repository and app to try them on.

mod pipeline;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use application::Application;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use tokio::sync::watch;

use crate::cli;
use crate::controller_cmd::{Tuning, warn_if_exposed};

/// Whether to load the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demo {
    /// Just the cluster and the controller.
    No,
    /// Also the sample repository and app.
    Yes,
}

/// Runs `ferry up` until Ctrl-C or SIGTERM, then stops the controller and
/// the cluster, in that order.
pub async fn run(data_dir: PathBuf, local: cluster::local::LocalConfig, tuning: &Tuning, demo: Demo) -> Result<()> {
    cli::init_crypto();
    let mut config = tuning.config(data_dir.join("controller"))?;
    if let Some(addr) = config.listen.filter(|addr| addr.port() == 0) {
        // Port 0: pick the port now, so the address printed below is the one served.
        let picked = std::net::TcpListener::bind(addr)
            .and_then(|listener| listener.local_addr())
            .with_context(|| format!("cannot listen on {addr}"))?;
        config.listen = Some(picked);
    }
    warn_if_exposed(config.listen);
    let running = cluster::local::start(local)
        .await
        .with_context(|| format!("cannot start the local cluster in {}", data_dir.display()))?;
    let client = client_for(&running.kubeconfig).await?;
    cli::install::install_crd(&client).await.context("cannot install the CRDs")?;

    let (stop, shutdown) = watch::channel(false);
    let mut controller = tokio::spawn(crate::controller_cmd::run_controllers(
        client.clone(),
        config.clone(),
        tuning.promoter_config(&config),
        shutdown,
    ));

    println!("ferry local cluster serving at {}", running.url);
    println!("kubeconfig: {}", running.kubeconfig.display());
    if let Some(listen) = config.listen {
        println!("controller: metrics at http://{listen}/metrics, git webhook at http://{listen}/api/webhook");
    }
    let kubeconfig = running.kubeconfig.display().to_string();
    if demo == Demo::Yes {
        let repo = demo_repo(&data_dir.join("demo").join("repo")).await?;
        demo_app(&client, &repo).await?;
        pipeline::create(&client, &repo).await?;
        println!();
        println!("demo: git repository {} (app `guestbook`, path apps/guestbook)", repo.display());
        println!(
            "demo: pipeline `guestbook` (dev → staging → prod, prod behind approval) from warehouse `guestbook`, \
             hydrated into branches environment/<stage>"
        );
        println!("try:");
        println!("  export KUBECONFIG={kubeconfig}");
        println!("  ferry app list");
        println!("  ferry app get guestbook");
        println!("  kubectl -n demo get deployments,services,configmaps,jobs");
        println!("  # change something in git and watch it sync (polling every {}):", tuning.poll_interval);
        println!("  sed -i 's/replicas: 2/replicas: 3/' {}/apps/guestbook/deployment.yaml", repo.display());
        println!("  git -C {} commit -qam 'scale up'", repo.display());
        println!("  ferry app wait guestbook && ferry app history guestbook");
        println!("  # promotion: every commit touching apps/guestbook becomes freight, promoted dev → staging → prod");
        println!("  ferry pipeline guestbook");
        println!("  ferry freight list");
        println!("  ferry promotion list");
        println!("  ferry approve prod --freight <alias from `ferry freight list`>");
        println!("  ferry promotion diff <promotion>   # the hydrated diff of a promotion's pull request");
        println!("  ferry promote dev --freight <older alias>   # rollback: promote older freight");
    } else {
        println!("try: KUBECONFIG={kubeconfig} ferry app list");
    }

    tokio::select! {
        _ = crate::shutdown_signal() => {}
        // The controller ends by itself only on an error at startup (the
        // address is taken, say): report that error, not just the fact.
        outcome = &mut controller => {
            running.stop().await;
            return match outcome {
                Ok(Ok(())) => bail!("the controller stopped unexpectedly"),
                Ok(Err(error)) => Err(error).context("the controller stopped"),
                Err(join) => bail!("the controller task failed: {join}"),
            };
        }
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let outcome = controller.await;
    running.stop().await;
    match outcome {
        Ok(result) => result.context("the controller stopped"),
        Err(join) => bail!("the controller task failed: {join}"),
    }
}

async fn client_for(kubeconfig: &Path) -> Result<kube::Client> {
    let config = cli::kube_config(Some(kubeconfig), None).await?;
    kube::Client::try_from(config).context("cannot build a client for the local cluster")
}

const DEMO_FILES: &[(&str, &str)] = &[
    (
        "apps/guestbook/migrate-job.yaml",
        "# Runs before anything else is applied (a PreSync hook), and is replaced on each sync.
apiVersion: batch/v1
kind: Job
metadata:
  name: guestbook-migrate
  annotations:
    ferry.dev/hook: PreSync
    ferry.dev/hook-delete-policy: BeforeHookCreation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox:1.36
        command: [\"sh\", \"-c\", \"echo migrating\"]
",
    ),
    (
        "apps/guestbook/config.yaml",
        "# Wave 0: configuration first.
apiVersion: v1
kind: ConfigMap
metadata:
  name: guestbook-config
  annotations:
    ferry.dev/sync-wave: \"0\"
data:
  GREETING: hello from git
",
    ),
    (
        "apps/guestbook/deployment.yaml",
        "# Wave 1: the workload, once wave 0 is healthy.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook
  annotations:
    ferry.dev/sync-wave: \"1\"
spec:
  replicas: 2
  selector:
    matchLabels:
      app: guestbook
  template:
    metadata:
      labels:
        app: guestbook
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - configMapRef:
            name: guestbook-config
        ports:
        - containerPort: 80
",
    ),
    (
        "apps/guestbook/service.yaml",
        "apiVersion: v1
kind: Service
metadata:
  name: guestbook
  annotations:
    ferry.dev/sync-wave: \"1\"
spec:
  selector:
    app: guestbook
  ports:
  - port: 80
    targetPort: 80
",
    ),
];

/// Creates the demo repository (kept as it is when it already exists).
async fn demo_repo(dir: &Path) -> Result<PathBuf> {
    if dir.join(".git").exists() {
        return Ok(dir.to_owned());
    }
    for (file, content) in DEMO_FILES {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.with_context(|| format!("cannot create {}", parent.display()))?;
        }
        tokio::fs::write(&path, content).await.with_context(|| format!("cannot write {}", path.display()))?;
    }
    git(dir, &["init", "-q", "-b", "main"]).await?;
    git(dir, &["add", "-A"]).await?;
    git(
        dir,
        &["-c", "user.name=ferry demo", "-c", "user.email=demo@ferry.invalid", "commit", "-q", "-m", "guestbook demo"],
    )
    .await?;
    Ok(dir.to_owned())
}

async fn git(dir: &Path, args: &[&str]) -> Result<()> {
    git_output(dir, args).await.map(|_| ())
}

/// Runs git in `dir` and returns its trimmed standard output.
async fn git_output(dir: &Path, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run git (is it installed?)")?;
    if !output.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

async fn demo_app(client: &kube::Client, repo: &Path) -> Result<()> {
    let apps: Api<Application> = Api::namespaced(client.clone(), application::NAMESPACE);
    let app = json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook", "namespace": application::NAMESPACE,
            "finalizers": [application::FINALIZER]},
        "spec": {
            "project": "default",
            "source": {"repoURL": format!("file://{}", repo.display()), "targetRevision": "HEAD", "path": "apps/guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "demo"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    });
    apps.patch("guestbook", &PatchParams::apply("ferry-up").force(), &Patch::Apply(&app))
        .await
        .map_err(cli::kube_error)
        .context("cannot create the demo application")?;
    Ok(())
}
