//! `ferry cluster add|list|rm`: destination clusters, stored as Secrets
//! labelled `ferry.dev/secret-type: cluster` (Argo CD's layout).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use application::secrets::{
    CLUSTER_SECRET_TYPE, ClusterConfig, ClusterSecret, IN_CLUSTER_NAME, IN_CLUSTER_SERVER, SECRET_TYPE_LABEL,
    TlsClientConfig, cluster_secret_name,
};
use base64::Engine;
use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use serde::Serialize;

use super::table::Table;
use super::{ConnArgs, Format, is_conflict, is_not_found, kube_error, print_machine};

/// The field manager of the CLI's writes.
const FIELD_MANAGER: &str = "ferry-cli";
/// How long `cluster add` waits for the new cluster to answer.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(15);

/// `ferry cluster add`.
#[derive(Args, Debug)]
#[command(after_help = "Here --kubeconfig and --context select the cluster being ADDED (as in \
`ferry cluster add prod --kubeconfig prod.yaml`). The management cluster, where ferry stores it, \
is chosen with --mgmt-kubeconfig and --mgmt-context (default: $KUBECONFIG, then ~/.kube/config).")]
pub struct AddArgs {
    /// Name for the cluster, used by apps in spec.destination.name
    pub name: String,
    /// Kubeconfig of the cluster to add (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of that kubeconfig (default: its current context)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Kubeconfig of the management cluster, where the cluster is stored
    #[arg(long, value_name = "FILE")]
    pub mgmt_kubeconfig: Option<PathBuf>,
    /// Context of the management kubeconfig
    #[arg(long, value_name = "NAME")]
    pub mgmt_context: Option<String>,
    /// Store this API server URL instead of the kubeconfig's (the address the controller reaches it at)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Replace the cluster if it is already registered
    #[arg(long)]
    pub upsert: bool,
}

/// `ferry cluster list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

/// `ferry cluster rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Cluster name
    name: String,
    #[command(flatten)]
    conn: ConnArgs,
}

/// One row of `ferry cluster list -o json`: never the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterRow {
    /// Cluster name.
    pub name: String,
    /// API server URL.
    pub server: String,
}

/// Reads the connection settings of `context` (default: the current
/// context) from a kubeconfig, refusing what a Secret cannot hold.
pub fn cluster_from_kubeconfig(kubeconfig: &Kubeconfig, context: Option<&str>, name: &str) -> Result<ClusterSecret> {
    let context_name = match context {
        Some(c) => c.to_owned(),
        None => kubeconfig.current_context.clone().context("the kubeconfig has no current context; pass --context")?,
    };
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .with_context(|| format!("context {context_name:?} not found in the kubeconfig"))?;
    let cluster =
        kubeconfig.clusters.iter().find(|c| c.name == ctx.cluster).and_then(|c| c.cluster.as_ref()).with_context(
            || format!("cluster {:?} of context {context_name:?} not found in the kubeconfig", ctx.cluster),
        )?;
    let server = cluster
        .server
        .clone()
        .filter(|s| !s.is_empty())
        .with_context(|| format!("cluster {:?} in the kubeconfig has no server", ctx.cluster))?;
    let auth = match &ctx.user {
        Some(user) => kubeconfig
            .auth_infos
            .iter()
            .find(|a| &a.name == user)
            .and_then(|a| a.auth_info.clone())
            .with_context(|| format!("user {user:?} of context {context_name:?} not found in the kubeconfig"))?,
        None => kube::config::AuthInfo::default(),
    };
    if auth.exec.is_some() {
        bail!("exec credential plugins are not supported; use a token or client certificate");
    }
    if auth.auth_provider.is_some() {
        bail!("auth-provider plugins are not supported; use a token or client certificate");
    }
    let token = match (&auth.token, &auth.token_file) {
        (Some(token), _) => Some(secrecy::ExposeSecret::expose_secret(token).to_owned()),
        (None, Some(file)) => {
            Some(read_text(Path::new(file), "token file")?.trim().to_owned()).filter(|t| !t.is_empty())
        }
        (None, None) => None,
    };
    let ca_data = data_or_file(
        cluster.certificate_authority_data.clone(),
        cluster.certificate_authority.as_deref(),
        "certificate authority",
    )?;
    let cert_data =
        data_or_file(auth.client_certificate_data.clone(), auth.client_certificate.as_deref(), "client certificate")?;
    let key_data = data_or_file(
        auth.client_key_data.as_ref().map(|k| secrecy::ExposeSecret::expose_secret(k).to_owned()),
        auth.client_key.as_deref(),
        "client key",
    )?;
    Ok(ClusterSecret {
        name: name.to_owned(),
        server,
        config: ClusterConfig {
            bearer_token: token,
            username: auth.username.clone(),
            password: auth.password.as_ref().map(|p| secrecy::ExposeSecret::expose_secret(p).to_owned()),
            tls_client_config: TlsClientConfig {
                insecure: cluster.insecure_skip_tls_verify.unwrap_or(false),
                ca_data,
                cert_data,
                key_data,
                server_name: cluster.tls_server_name.clone(),
            },
        },
    })
}

fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// Kubeconfig `*-data` fields are base64 already; files are read and
/// encoded the same way.
fn data_or_file(data: Option<String>, file: Option<&str>, what: &str) -> Result<Option<String>> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        return Ok(Some(data));
    }
    let Some(file) = file else { return Ok(None) };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read the {what} {file}"))?;
    Ok(Some(base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// `ferry cluster add`.
pub async fn add(args: AddArgs) -> Result<()> {
    let name = &args.name;
    if name == IN_CLUSTER_NAME {
        bail!("{IN_CLUSTER_NAME:?} is the built-in name of the cluster ferry runs in; choose another name");
    }
    if !super::is_dns_label(name, 245) {
        bail!("invalid cluster name {name:?}: use lowercase letters, digits and '-'");
    }
    let kubeconfig = match &args.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).with_context(|| format!("cannot read kubeconfig {}", path.display()))?
        }
        None => Kubeconfig::read().context("cannot read the kubeconfig of the cluster to add (pass --kubeconfig)")?,
    };
    let mut cluster = cluster_from_kubeconfig(&kubeconfig, args.context.as_deref(), name)?;
    super::init_crypto();
    verify(&cluster).await?;
    if let Some(server) = &args.server {
        cluster.server = server.clone();
        cluster.kube_config().map_err(|e| anyhow!(e))?;
    }
    let config = super::kube_config(args.mgmt_kubeconfig.as_deref(), args.mgmt_context.as_deref()).await?;
    let client = kube::Client::try_from(config).context("cannot build a Kubernetes client")?;
    let api: Api<Secret> = Api::namespaced(client, application::NAMESPACE);
    let secret = cluster.to_secret(application::NAMESPACE);
    let secret_name = cluster_secret_name(name);
    if args.upsert {
        api.patch(&secret_name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&secret))
            .await
            .map_err(namespace_hint)
            .with_context(|| format!("cannot store cluster {name:?}"))?;
    } else {
        let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
        match api.create(&params, &secret).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => bail!("cluster {name:?} already exists (use --upsert to replace it)"),
            Err(e) => return Err(namespace_hint(e)).with_context(|| format!("cannot store cluster {name:?}")),
        }
    }
    println!("cluster {name:?} added ({})", cluster.server);
    Ok(())
}

/// Checks the stored settings work before storing them: the same
/// conversion the controller uses, then a request.
async fn verify(cluster: &ClusterSecret) -> Result<()> {
    let config = cluster.kube_config().map_err(|e| anyhow!(e))?;
    let client = kube::Client::try_from(config).context("cannot build a client for the cluster")?;
    match tokio::time::timeout(VERIFY_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            Err(kube_error(e)).with_context(|| format!("cannot reach cluster {:?} at {}", cluster.name, cluster.server))
        }
        Err(_) => bail!(
            "cannot reach cluster {:?} at {}: no answer within {}s",
            cluster.name,
            cluster.server,
            VERIFY_TIMEOUT.as_secs()
        ),
    }
}

fn namespace_hint(e: kube::Error) -> anyhow::Error {
    if is_not_found(&e) {
        return anyhow!("namespace {:?} does not exist (run `ferry install`)", application::NAMESPACE);
    }
    kube_error(e)
}

/// `ferry cluster list`.
pub async fn list(args: ListArgs) -> Result<()> {
    let client = super::client(&args.conn).await?;
    let api: Api<Secret> = Api::namespaced(client, application::NAMESPACE);
    let params = ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={CLUSTER_SECRET_TYPE}"));
    let secrets = api.list(&params).await.map_err(kube_error).context("cannot list clusters")?;
    let mut rows = vec![ClusterRow { name: IN_CLUSTER_NAME.to_owned(), server: IN_CLUSTER_SERVER.to_owned() }];
    let mut registered: Vec<ClusterRow> = secrets
        .items
        .iter()
        .map(|s| match ClusterSecret::from_secret(s) {
            Ok(c) => ClusterRow { name: c.name, server: c.server },
            Err(e) => {
                ClusterRow { name: s.metadata.name.clone().unwrap_or_default(), server: format!("(unreadable: {e})") }
            }
        })
        .collect();
    registered.sort_by(|a, b| a.name.cmp(&b.name));
    rows.extend(registered);
    match args.output {
        Some(format) => print_machine(&rows, format),
        None => {
            let mut t = Table::new(["NAME", "SERVER"]);
            for r in rows {
                t.row(vec![r.name, r.server]);
            }
            print!("{}", t.render());
            Ok(())
        }
    }
}

/// `ferry cluster rm`.
pub async fn rm(args: RmArgs) -> Result<()> {
    let name = &args.name;
    if name == IN_CLUSTER_NAME {
        bail!("cluster {IN_CLUSTER_NAME:?} is built in and cannot be removed");
    }
    let client = super::client(&args.conn).await?;
    let api: Api<Secret> = Api::namespaced(client, application::NAMESPACE);
    let secret_name = cluster_secret_name(name);
    // Only delete what really is a cluster Secret: the name alone could
    // collide with an unrelated Secret.
    let existing = match api.get(&secret_name).await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => bail!("cluster {name:?} not found"),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot read cluster {name:?}")),
    };
    let labelled = existing.metadata.labels.as_ref().and_then(|l| l.get(SECRET_TYPE_LABEL));
    if labelled.map(String::as_str) != Some(CLUSTER_SECRET_TYPE) {
        bail!(
            "cluster {name:?} not found (secret {secret_name:?} is not labelled {SECRET_TYPE_LABEL}={CLUSTER_SECRET_TYPE})"
        );
    }
    match api.delete(&secret_name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => bail!("cluster {name:?} not found"),
        Err(e) => return Err(kube_error(e)).with_context(|| format!("cannot remove cluster {name:?}")),
    }
    println!("cluster {name:?} removed");
    Ok(())
}
