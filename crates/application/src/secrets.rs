//! The Secrets that register destination clusters and git repositories.
//!
//! The layout is Argo CD's, so users who know it can write these Secrets by
//! hand: a Secret in the [`NAMESPACE`](crate::NAMESPACE) namespace, labelled
//! [`SECRET_TYPE_LABEL`] `cluster` or `repository`.
//!
//! - A cluster Secret holds `name`, `server` and `config`, a JSON document
//!   with `bearerToken`, `username`, `password` and `tlsClientConfig`
//!   (`insecure`, `caData`, `certData`, `keyData`, `serverName`; the data
//!   fields are base64 of PEM, as in a kubeconfig).
//! - A repository Secret holds `url`, and optionally `username`, `password`,
//!   `sshPrivateKey`, `insecure` and `type`.
//!
//! Pure conversions only: reading and writing the Secrets is the caller's
//! job. No `Debug` output of these types ever shows a credential.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// Label whose value says what a Secret registers.
pub const SECRET_TYPE_LABEL: &str = "ferry.dev/secret-type";
/// [`SECRET_TYPE_LABEL`] value of a destination cluster.
pub const CLUSTER_SECRET_TYPE: &str = "cluster";
/// [`SECRET_TYPE_LABEL`] value of a git repository's credentials.
pub const REPOSITORY_SECRET_TYPE: &str = "repository";
/// The name of the cluster ferry runs in; never stored as a Secret.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// The server URL of [`IN_CLUSTER_NAME`].
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Shown instead of a credential in `Debug` output.
const MASK: &str = "***";

/// A Secret that cannot be read as a cluster or repository, or a cluster
/// whose connection settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The Secret is not labelled as the expected type.
    #[error("secret {secret:?} is not labelled {SECRET_TYPE_LABEL}={expected}")]
    WrongType {
        /// Secret name.
        secret: String,
        /// The label value that was expected.
        expected: &'static str,
    },
    /// A required data key is missing or empty.
    #[error("secret {secret:?} has no {key:?}")]
    MissingKey {
        /// Secret name.
        secret: String,
        /// The data key.
        key: &'static str,
    },
    /// A data value is not UTF-8 text.
    #[error("secret {secret:?}: {key:?} is not UTF-8 text")]
    NotText {
        /// Secret name.
        secret: String,
        /// The data key.
        key: &'static str,
    },
    /// The cluster `config` is not the expected JSON.
    #[error("secret {secret:?}: config is not valid cluster configuration JSON")]
    BadConfig {
        /// Secret name.
        secret: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The server URL cannot be used.
    #[error("cluster {cluster:?}: server {server:?} is not a valid http(s) URL: {reason}")]
    InvalidServer {
        /// Cluster name.
        cluster: String,
        /// The URL as written.
        server: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `tlsClientConfig` data field is not base64.
    #[error("cluster {cluster:?}: tlsClientConfig.{field} is not valid base64")]
    Base64 {
        /// Cluster name.
        cluster: String,
        /// The field (`caData`, `certData`, `keyData`).
        field: &'static str,
        /// The decoding error.
        #[source]
        source: base64::DecodeError,
    },
    /// `caData` holds no PEM certificate.
    #[error("cluster {cluster:?}: tlsClientConfig.caData holds no PEM certificate")]
    NoCaCertificate {
        /// Cluster name.
        cluster: String,
    },
    /// Only one of `certData` and `keyData` is set.
    #[error("cluster {cluster:?}: tlsClientConfig needs both certData and keyData for a client certificate")]
    IncompleteClientCertificate {
        /// Cluster name.
        cluster: String,
    },
}

/// A destination cluster, as stored in a cluster Secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret {
    /// The name apps use in `spec.destination.name`.
    pub name: String,
    /// The API server URL, matched by `spec.destination.server`.
    pub server: String,
    /// How to authenticate and verify the server.
    pub config: ClusterConfig,
}

/// How to reach a cluster: credentials and TLS settings (Argo CD's layout).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// A bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_client_config: TlsClientConfig,
}

/// TLS settings of a cluster. The data fields are base64 of PEM, as in a
/// kubeconfig's `*-data` fields.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsClientConfig {
    /// Skip verifying the server's certificate.
    #[serde(default)]
    pub insecure: bool,
    /// CA bundle that signs the server's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    /// Client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_data: Option<String>,
    /// Client private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
    /// Name to verify the server's certificate against, instead of the URL's
    /// host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

fn mask(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| MASK)
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSecret")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("config", &self.config)
            .finish()
    }
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("bearer_token", &mask(&self.bearer_token))
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("tls_client_config", &self.tls_client_config)
            .finish()
    }
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The CA is public, but its bulk helps nobody reading a log.
        f.debug_struct("TlsClientConfig")
            .field("insecure", &self.insecure)
            .field("ca_data", &self.ca_data.as_ref().map(|_| "<set>"))
            .field("cert_data", &self.cert_data.as_ref().map(|_| "<set>"))
            .field("key_data", &mask(&self.key_data))
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// The Secret name of the cluster called `name`.
pub fn cluster_secret_name(name: &str) -> String {
    format!("cluster-{name}")
}

impl ClusterSecret {
    /// Whether this is the cluster a destination's `server` (when set; a trailing slash does not
    /// matter) or else `name` means. The Application controller and verification Jobs both use it.
    pub fn is_destination(&self, server: Option<&str>, name: Option<&str>) -> bool {
        match server {
            Some(server) => self.server.trim_end_matches('/') == server.trim_end_matches('/'),
            None => Some(self.name.as_str()) == name,
        }
    }

    /// Reads a cluster Secret.
    pub fn from_secret(secret: &Secret) -> Result<Self, SecretError> {
        let reader = Reader::new(secret, CLUSTER_SECRET_TYPE)?;
        let name = reader.required("name")?;
        let server = reader.required("server")?;
        let config = match reader.optional("config")? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|source| SecretError::BadConfig { secret: reader.name.clone(), source })?,
            None => ClusterConfig::default(),
        };
        Ok(ClusterSecret { name, server, config })
    }

    /// The Secret that stores this cluster in `namespace`.
    pub fn to_secret(&self, namespace: &str) -> Secret {
        // Serializing a struct of strings and bools to JSON cannot fail.
        let config = serde_json::to_string(&self.config).unwrap_or_default();
        let data = [("name", self.name.clone()), ("server", self.server.clone()), ("config", config)];
        build_secret(&cluster_secret_name(&self.name), namespace, CLUSTER_SECRET_TYPE, &data)
    }

    /// A kube-rs configuration for this cluster: server URL, CA, client
    /// credentials and TLS options.
    pub fn kube_config(&self) -> Result<kube::Config, SecretError> {
        let invalid = |reason: String| SecretError::InvalidServer {
            cluster: self.name.clone(),
            server: self.server.clone(),
            reason,
        };
        let uri: http::Uri = self.server.parse().map_err(|e| invalid(format!("{e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(invalid("the scheme must be http or https".to_owned())),
        }
        if uri.host().is_none() {
            return Err(invalid("it has no host".to_owned()));
        }
        let tls = &self.config.tls_client_config;
        let mut config = kube::Config::new(uri);
        config.accept_invalid_certs = tls.insecure;
        config.tls_server_name = tls.server_name.clone().filter(|s| !s.is_empty());
        if let Some(ca) = tls.ca_data.as_deref().filter(|s| !s.is_empty()) {
            let pem_bytes = self.decode("caData", ca)?;
            let certs: Vec<Vec<u8>> = pem::parse_many(&pem_bytes)
                .map_err(|_| SecretError::NoCaCertificate { cluster: self.name.clone() })?
                .into_iter()
                .filter(|p| p.tag() == "CERTIFICATE")
                .map(pem::Pem::into_contents)
                .collect();
            if certs.is_empty() {
                return Err(SecretError::NoCaCertificate { cluster: self.name.clone() });
            }
            config.root_cert = Some(certs);
        }
        let auth = &mut config.auth_info;
        if let Some(token) = self.config.bearer_token.as_deref().filter(|s| !s.is_empty()) {
            auth.token = Some(token.to_owned().into());
        }
        if let Some(user) = self.config.username.as_deref().filter(|s| !s.is_empty()) {
            auth.username = Some(user.to_owned());
            auth.password = self.config.password.clone().map(Into::into);
        }
        let cert = tls.cert_data.as_deref().filter(|s| !s.is_empty());
        let key = tls.key_data.as_deref().filter(|s| !s.is_empty());
        match (cert, key) {
            (Some(cert), Some(key)) => {
                // kube-rs decodes these itself; decoding here only gives a
                // clear error early.
                self.decode("certData", cert)?;
                self.decode("keyData", key)?;
                config.auth_info.client_certificate_data = Some(cert.to_owned());
                config.auth_info.client_key_data = Some(key.to_owned().into());
            }
            (None, None) => {}
            _ => return Err(SecretError::IncompleteClientCertificate { cluster: self.name.clone() }),
        }
        Ok(config)
    }

    fn decode(&self, field: &'static str, value: &str) -> Result<Vec<u8>, SecretError> {
        base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|source| SecretError::Base64 {
            cluster: self.name.clone(),
            field,
            source,
        })
    }
}

/// Credentials for a git repository, as stored in a repository Secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RepoSecret {
    /// The repository URL, as apps write it in `spec.source.repoURL`.
    pub url: String,
    /// User name for HTTP basic auth.
    pub username: Option<String>,
    /// Password or token for HTTP basic auth.
    pub password: Option<String>,
    /// PEM private key for `ssh://` remotes.
    pub ssh_private_key: Option<String>,
    /// Skip TLS verification (HTTPS) or host-key checking (SSH).
    pub insecure_ignore_host_key: bool,
}

impl fmt::Debug for RepoSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoSecret")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("ssh_private_key", &mask(&self.ssh_private_key))
            .field("insecure_ignore_host_key", &self.insecure_ignore_host_key)
            .finish()
    }
}

/// A repository URL in the form used to match credentials and name
/// Secrets: trimmed, lowercase, without a trailing `/` or `.git`, so
/// `https://Example.com/org/app.git/` and `https://example.com/org/app`
/// are the same repository.
pub fn normalize_repo_url(url: &str) -> String {
    let mut url = url.trim().to_lowercase();
    while url.ends_with('/') {
        url.pop();
    }
    if let Some(stripped) = url.strip_suffix(".git") {
        url = stripped.to_owned();
    }
    url
}

/// The Secret name of the repository at `url`: `repo-` and a hash of the
/// normalized URL (FNV-1a, stable across releases and platforms).
pub fn repo_secret_name(url: &str) -> String {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(normalize_repo_url(url).as_bytes());
    format!("repo-{:016x}", hasher.finish())
}

impl RepoSecret {
    /// Reads a repository Secret.
    pub fn from_secret(secret: &Secret) -> Result<Self, SecretError> {
        let reader = Reader::new(secret, REPOSITORY_SECRET_TYPE)?;
        Ok(RepoSecret {
            url: reader.required("url")?,
            username: reader.optional("username")?,
            password: reader.optional("password")?,
            ssh_private_key: reader.optional("sshPrivateKey")?,
            insecure_ignore_host_key: reader.optional("insecure")?.is_some_and(|v| v.trim() == "true"),
        })
    }

    /// The Secret that stores these credentials in `namespace`.
    pub fn to_secret(&self, namespace: &str) -> Secret {
        let mut data = vec![("url", self.url.clone()), ("type", "git".to_owned())];
        let optional =
            [("username", &self.username), ("password", &self.password), ("sshPrivateKey", &self.ssh_private_key)];
        for (key, value) in optional {
            if let Some(value) = value {
                data.push((key, value.clone()));
            }
        }
        if self.insecure_ignore_host_key {
            data.push(("insecure", "true".to_owned()));
        }
        build_secret(&repo_secret_name(&self.url), namespace, REPOSITORY_SECRET_TYPE, &data)
    }

    /// Whether these credentials are for the repository at `url`.
    pub fn matches(&self, url: &str) -> bool {
        normalize_repo_url(&self.url) == normalize_repo_url(url)
    }
}

fn build_secret(name: &str, namespace: &str, type_: &str, data: &[(&str, String)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([(SECRET_TYPE_LABEL.to_owned(), type_.to_owned())])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.clone().into_bytes()))).collect()),
        ..Secret::default()
    }
}

/// Reads text values of a Secret, from `stringData` (as written) over
/// `data` (as the API server returns it).
struct Reader<'a> {
    secret: &'a Secret,
    name: String,
}

impl<'a> Reader<'a> {
    fn new(secret: &'a Secret, expected: &'static str) -> Result<Self, SecretError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let labelled = secret.metadata.labels.as_ref().and_then(|l| l.get(SECRET_TYPE_LABEL));
        if labelled.map(String::as_str) != Some(expected) {
            return Err(SecretError::WrongType { secret: name, expected });
        }
        Ok(Reader { secret, name })
    }

    fn optional(&self, key: &'static str) -> Result<Option<String>, SecretError> {
        if let Some(text) = self.secret.string_data.as_ref().and_then(|d| d.get(key)) {
            return Ok(Some(text.clone()).filter(|t| !t.is_empty()));
        }
        let Some(bytes) = self.secret.data.as_ref().and_then(|d| d.get(key)) else { return Ok(None) };
        let text =
            String::from_utf8(bytes.0.clone()).map_err(|_| SecretError::NotText { secret: self.name.clone(), key })?;
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    fn required(&self, key: &'static str) -> Result<String, SecretError> {
        self.optional(key)?.ok_or_else(|| SecretError::MissingKey { secret: self.name.clone(), key })
    }
}

#[cfg(test)]
mod tests;
