//! ferry's user-facing commands over the Kubernetes API: `ferry app`,
//! `ferry cluster add|list|rm`, `ferry repo`, `ferry install`, and the
//! promotion verbs (`warehouse`, `freight`, `stage`, `promote`, `approve`,
//! `promotion`, `status`, `pipeline`, `stats`) over the resources of the
//! `promotion` crate.
//!
//! Every command talks to the management cluster through a kubeconfig, as
//! kubectl does; Applications and the Secrets that register clusters and
//! repositories live in namespace [`application::NAMESPACE`]. The CLI only
//! reads and writes those objects: the controller does the work, so
//! `kubectl` alone can drive ferry too.

pub mod app;
pub mod cluster;
pub mod freight;
pub mod install;
pub mod pipeline;
pub mod promote;
pub mod promotion;
pub mod repo;
pub mod stage;
pub mod stats;
pub mod status;
mod table;
pub mod warehouse;

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;

/// How to reach the management cluster.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Kubeconfig of the management cluster (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context)
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
}

/// Machine-readable output formats (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON
    Json,
    /// YAML
    Yaml,
}

/// Installs rustls' ring provider once: kube-rs needs one chosen explicitly
/// when more than one could be linked.
pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A kube-rs configuration from a kubeconfig file, or by inference
/// (`$KUBECONFIG`, `~/.kube/config`, in-cluster).
pub async fn kube_config(kubeconfig: Option<&std::path::Path>, context: Option<&str>) -> Result<kube::Config> {
    init_crypto();
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..kube::config::KubeConfigOptions::default()
    };
    match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .with_context(|| format!("cannot use kubeconfig {}", path.display()))
        }
        None if context.is_some() => {
            kube::Config::from_kubeconfig(&options).await.context("cannot load the kubeconfig")
        }
        None => kube::Config::infer().await.context("cannot find a kubeconfig (pass --kubeconfig or set KUBECONFIG)"),
    }
}

/// A client of the management cluster.
pub async fn client(conn: &ConnArgs) -> Result<kube::Client> {
    let config = kube_config(conn.kubeconfig.as_deref(), conn.context.as_deref()).await?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client")
}

/// Whether `e` is the API server's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether `e` is the API server's 409 (already exists, or a stale
/// resourceVersion).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A kube-rs error as a user reads it: the API server's message, without
/// the Rust debug dump kube-rs adds.
pub fn kube_error(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(status) => {
            if status.message.is_empty() {
                anyhow!("the API server answered {} {}", status.code, status.reason)
            } else {
                anyhow!("{}", status.message)
            }
        }
        other => anyhow!(lowercase_first(&other.to_string())),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Prints `value` as JSON or YAML.
pub fn print_machine<T: Serialize>(value: &T, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value).context("cannot encode JSON")?),
        Format::Yaml => print!("{}", serde_saphyr::to_string(value).context("cannot encode YAML")?),
    }
    Ok(())
}

/// Parses a duration such as `30s`, `5m`, `1h30m` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let trimmed = text.trim();
    // A bare number is seconds, as for `kubectl wait --timeout`.
    if let Ok(secs) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let signed: k8s_openapi::jiff::SignedDuration =
        trimmed.parse().map_err(|_| anyhow!("invalid duration {text:?}, expected for example 30s, 5m or 1h30m"))?;
    if signed.is_negative() {
        bail!("invalid duration {text:?}: must not be negative");
    }
    Duration::try_from(signed).map_err(|_| anyhow!("invalid duration {text:?}"))
}

/// Formats a duration for messages: `30s`, `5m`, `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Whether `name` is a valid DNS-1123 label (lowercase alphanumerics and
/// `-`, starting and ending alphanumeric, at most `max` characters).
pub fn is_dns_label(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("30s").expect("30s"), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").expect("5m"), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").expect("1h30m"), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").expect("500ms"), Duration::from_millis(500));
        assert_eq!(parse_duration("20").expect("bare"), Duration::from_secs(20));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("prod-1", 63));
        assert!(!is_dns_label("Prod", 63));
        assert!(!is_dns_label("-a", 63));
        assert!(!is_dns_label("", 63));
        assert!(!is_dns_label("a_b", 63));
    }
}

/// Ends the process with this code and no message (as `kubectl diff` exits 1
/// when there are differences).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}
