//! One repository of an OCI registry, through `oci-client`: listing tags page by page, a tag's
//! manifest digest, an image's config. Shared by image and OCI chart subscriptions.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::DiscoveryError;

/// Tags asked for per page of the tags list.
const PAGE_SIZE: usize = 1000;

/// Pages read at most: a million tags. Past that the subscription is refused, not truncated.
const MAX_PAGES: usize = 1000;

/// Requests in flight at once for per-tag work (digests, configs) of one subscription.
pub(crate) const CONCURRENT_REQUESTS: usize = 8;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Credentials for a registry or chart repository, read by the caller from a Secret.
/// `Debug` masks the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// The username for basic auth; `None` (or empty) sends the password as a bearer token.
    pub username: Option<String>,
    /// The password, or the token.
    pub password: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials").field("username", &self.username).field("password", &"***").finish()
    }
}

impl RegistryCredentials {
    /// The username, when it is set and not empty.
    pub(crate) fn user(&self) -> Option<&str> {
        self.username.as_deref().filter(|u| !u.is_empty())
    }

    /// Replace the password in a message; a very short one is left alone, since masking it
    /// would garble the message without hiding anything worth hiding.
    pub(crate) fn mask(&self, message: &str) -> String {
        if self.password.len() >= 4 { message.replace(&self.password, "***") } else { message.to_owned() }
    }
}

/// Whether to speak plain HTTP to a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insecure {
    /// Plain HTTP: the subscription's `insecure: true`.
    Yes,
    /// HTTPS: `insecure: false`.
    No,
    /// Not said: plain HTTP on loopback (as Docker treats local registries), else HTTPS.
    Unset,
}

impl From<Option<bool>> for Insecure {
    fn from(value: Option<bool>) -> Self {
        match value {
            Some(true) => Insecure::Yes,
            Some(false) => Insecure::No,
            None => Insecure::Unset,
        }
    }
}

/// A registry host is loopback: `localhost` or a loopback address, with or without a port.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `registry/path/name` (an optional `oci://` stripped) as a reference; a tag or digest in it
/// is refused, since the subscription chooses the tag.
pub(crate) fn parse_repository(repo: &str, location: &str) -> Result<Reference, DiscoveryError> {
    let invalid = |reason: &str| DiscoveryError::InvalidRepoUrl { repo: repo.to_owned(), reason: reason.to_owned() };
    let location = location.trim().trim_start_matches("oci://").trim_end_matches('/');
    if location.contains("://") {
        return Err(invalid("expected registry/path/name (or oci://registry/path/name), without another scheme"));
    }
    let last = location.rsplit('/').next().unwrap_or(location);
    if last.contains(':') || location.contains('@') {
        return Err(invalid("must name a repository without a tag or digest"));
    }
    Reference::try_from(location).map_err(|e| invalid(&e.to_string()))
}

/// One repository on a registry, with a client and the credentials to use.
pub(crate) struct Repository {
    /// The subscription's repo URL, for errors.
    repo: String,
    reference: Reference,
    client: Client,
    auth: RegistryAuth,
    credentials: Option<RegistryCredentials>,
}

impl Repository {
    pub(crate) fn connect(
        repo: &str,
        reference: Reference,
        insecure: Insecure,
        credentials: Option<RegistryCredentials>,
    ) -> Result<Self, DiscoveryError> {
        let loopback = is_loopback(reference.registry());
        let protocol = match (insecure, loopback) {
            (Insecure::Yes, false) => {
                return Err(DiscoveryError::InsecureNotAllowed {
                    repo: repo.to_owned(),
                    host: reference.registry().to_owned(),
                });
            }
            (Insecure::Yes | Insecure::Unset, true) => ClientProtocol::Http,
            (Insecure::No, _) | (Insecure::Unset, false) => ClientProtocol::Https,
        };
        // reqwest is built without a default crypto provider, so that only ring (which the
        // workspace already uses) is compiled in. Installing fails once one is installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config).map_err(|e| DiscoveryError::Remote {
            repo: repo.to_owned(),
            step: "create registry client",
            message: e.to_string(),
        })?;
        let auth = match &credentials {
            None => RegistryAuth::Anonymous,
            Some(c) => match c.user() {
                Some(user) => RegistryAuth::Basic(user.to_owned(), c.password.clone()),
                None => RegistryAuth::Bearer(c.password.clone()),
            },
        };
        Ok(Repository { repo: repo.to_owned(), reference, client, auth, credentials })
    }

    fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            tag.to_owned(),
        )
    }

    /// Every tag, reading the list page by page (`n` and `last`), sorted and deduplicated.
    pub(crate) async fn list_tags(&self) -> Result<Vec<String>, DiscoveryError> {
        let mut tags: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .list_tags(&self.reference, &self.auth, Some(PAGE_SIZE), last.as_deref())
                .await
                .map_err(|e| self.fail("list tags", e))?;
            // Fewer tags than asked: the last page. More: the registry ignores `n` (as
            // distribution 2.x does) and sent everything.
            let more = page.tags.len() == PAGE_SIZE;
            let next = page.tags.last().cloned();
            tags.extend(page.tags);
            // A registry that ignores `last` serves the same page again: stop rather than loop.
            if !more || next.is_none() || next == last {
                tags.sort();
                tags.dedup();
                return Ok(tags);
            }
            last = next;
        }
        Err(DiscoveryError::TooMany {
            repo: self.repo.clone(),
            reason: format!("more than {} tags; narrow the repository", PAGE_SIZE * MAX_PAGES),
        })
    }

    /// The manifest digest the tag points at now (of the index, for a multi-platform image).
    pub(crate) async fn digest(&self, tag: &str) -> Result<String, DiscoveryError> {
        self.client.fetch_manifest_digest(&self.tagged(tag), &self.auth).await.map_err(|e| self.fail("get manifest", e))
    }

    /// The tag's manifest digest and its image config's `created` time (for a multi-platform
    /// image, the config of this machine's platform).
    pub(crate) async fn digest_and_created(&self, tag: &str) -> Result<(String, Option<String>), DiscoveryError> {
        let (_manifest, digest, config, list_digest) = self
            .client
            .pull_manifest_and_config_and_list_digest(&self.tagged(tag), &self.auth)
            .await
            .map_err(|e| self.fail("get image config", e))?;
        let created = serde_json::from_str::<serde_json::Value>(&config)
            .ok()
            .and_then(|config| config.get("created").and_then(|c| c.as_str()).map(str::to_owned));
        Ok((list_digest.unwrap_or(digest), created))
    }

    /// A registry error as a discovery error, in words a user can act on, secrets masked.
    fn fail(&self, step: &'static str, error: OciDistributionError) -> DiscoveryError {
        let message = match &error {
            OciDistributionError::UnauthorizedError { .. } => match &self.credentials {
                None => "authentication required (HTTP 401): the registry refused anonymous access; \
                         add credentials for this repository"
                    .to_owned(),
                Some(_) => "the registry refused the credentials (HTTP 401)".to_owned(),
            },
            OciDistributionError::RegistryError { envelope, .. } => {
                envelope.errors.iter().map(|e| format!("{:?}: {}", e.code, e.message)).collect::<Vec<_>>().join("; ")
            }
            OciDistributionError::ServerError { code, message, .. } => {
                let message: String = message.trim().chars().take(200).collect();
                format!("HTTP {code}: {message}")
            }
            OciDistributionError::RequestError(request) => {
                let chain = error_chain(request);
                if request.is_connect() || request.is_timeout() {
                    format!("registry unreachable: {chain}")
                } else {
                    chain
                }
            }
            other => error_chain(other),
        };
        let message = match &self.credentials {
            Some(credentials) => credentials.mask(&message),
            None => message,
        };
        DiscoveryError::Remote { repo: self.repo.clone(), step, message }
    }
}

/// An error and its causes, joined: reqwest's own message hides the cause (e.g. connection
/// refused) in its source.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
