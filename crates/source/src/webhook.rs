//! Push webhooks from GitHub, GitLab and Gitea: verify the secret, then extract which repo and
//! ref moved. The caller matches `repo_urls` against apps with [`crate::normalize_url`].

use std::fmt;

use http::HeaderMap;
use serde::Deserialize;

/// Which provider sent a webhook, from its event header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `X-GitHub-Event`.
    GitHub,
    /// `X-Gitlab-Event`.
    GitLab,
    /// `X-Gitea-Event` (Gitea also sends `X-GitHub-Event`; its own header wins).
    Gitea,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
            Provider::Gitea => "Gitea",
        })
    }
}

/// Webhook secrets per provider. `None` accepts unsigned payloads from that provider.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebhookSecrets {
    /// HMAC key for `X-Hub-Signature-256`.
    pub github: Option<String>,
    /// Token compared with `X-Gitlab-Token`.
    pub gitlab: Option<String>,
    /// HMAC key for `X-Gitea-Signature`.
    pub gitea: Option<String>,
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("WebhookSecrets")
            .field("github", &mask(&self.github))
            .field("gitlab", &mask(&self.gitlab))
            .field("gitea", &mask(&self.gitea))
            .finish()
    }
}

/// A verified push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Who sent it.
    pub provider: Provider,
    /// Every URL form of the repo found in the payload (web, http clone, ssh clone), deduplicated,
    /// in payload order.
    pub repo_urls: Vec<String>,
    /// The ref that moved, e.g. `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// The new commit; `None` when the ref was deleted or the payload does not say.
    pub after: Option<String>,
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// None of the known event headers is present.
    #[error("webhook: unknown provider (no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header)")]
    UnknownProvider,
    /// A secret is configured but the request carries no signature or token.
    #[error("webhook from {provider}: missing signature")]
    MissingSignature {
        /// Who claimed to send it.
        provider: Provider,
    },
    /// The signature or token does not match the configured secret.
    #[error("webhook from {provider}: signature does not match")]
    BadSignature {
        /// Who claimed to send it.
        provider: Provider,
    },
    /// The body of a push event is not the JSON we expect.
    #[error("webhook from {provider}: invalid push payload: {message}")]
    InvalidPayload {
        /// Who sent it.
        provider: Provider,
        /// What is wrong.
        message: String,
    },
}

/// Verify and parse a webhook.
///
/// GitHub: `X-Hub-Signature-256` = `sha256=` + hex HMAC-SHA256 of the body. Gitea:
/// `X-Gitea-Signature` = hex HMAC-SHA256 of the body. GitLab: `X-Gitlab-Token` equals the secret.
/// With a secret configured for the provider, a missing or wrong signature is an error (checked
/// before anything else, for every event); without one, the payload is accepted. Events other than
/// pushes (ping, issues, merge requests...) return `Ok(None)`.
pub fn parse(headers: &HeaderMap, body: &[u8], secrets: &WebhookSecrets) -> Result<Option<PushEvent>, WebhookError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let (provider, event) = if let Some(event) = header("x-gitea-event") {
        (Provider::Gitea, event)
    } else if let Some(event) = header("x-gitlab-event") {
        (Provider::GitLab, event)
    } else if let Some(event) = header("x-github-event") {
        (Provider::GitHub, event)
    } else {
        return Err(WebhookError::UnknownProvider);
    };

    match provider {
        Provider::GitHub => {
            verify_hmac(provider, secrets.github.as_deref(), header("x-hub-signature-256"), "sha256=", body)?
        }
        Provider::Gitea => verify_hmac(provider, secrets.gitea.as_deref(), header("x-gitea-signature"), "", body)?,
        Provider::GitLab => verify_token(provider, secrets.gitlab.as_deref(), header("x-gitlab-token"))?,
    }

    let is_push = match provider {
        Provider::GitHub | Provider::Gitea => event == "push",
        Provider::GitLab => matches!(event, "Push Hook" | "Tag Push Hook" | "System Hook"),
    };
    if !is_push {
        return Ok(None);
    }
    let invalid = |message: String| WebhookError::InvalidPayload { provider, message };
    let payload: Payload = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    // GitLab system hooks share a header for many events; only pushes carry a ref.
    if provider == Provider::GitLab
        && event == "System Hook"
        && !matches!(payload.event_name.as_deref(), Some("push" | "tag_push"))
    {
        return Ok(None);
    }
    let git_ref = payload.git_ref.filter(|r| !r.is_empty()).ok_or_else(|| invalid("no ref".to_string()))?;
    let mut repo_urls: Vec<String> = Vec::new();
    for url in payload.repository.iter().flat_map(Urls::all).chain(payload.project.iter().flat_map(Urls::all)) {
        if !url.is_empty() && !repo_urls.iter().any(|known| known == url) {
            repo_urls.push(url.to_string());
        }
    }
    if repo_urls.is_empty() {
        return Err(invalid("no repository url".to_string()));
    }
    // A deleted ref reports the all-zero SHA.
    let after = payload.after.filter(|sha| !sha.is_empty() && !sha.bytes().all(|b| b == b'0'));
    Ok(Some(PushEvent { provider, repo_urls, git_ref, after }))
}

fn verify_hmac(
    provider: Provider,
    secret: Option<&str>,
    signature: Option<&str>,
    prefix: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    let Some(secret) = secret else { return Ok(()) };
    let signature = signature.filter(|s| !s.is_empty()).ok_or(WebhookError::MissingSignature { provider })?;
    let tag = signature.strip_prefix(prefix).and_then(decode_hex).ok_or(WebhookError::BadSignature { provider })?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    // Constant-time comparison inside ring.
    ring::hmac::verify(&key, body, &tag).map_err(|_| WebhookError::BadSignature { provider })
}

fn verify_token(provider: Provider, secret: Option<&str>, token: Option<&str>) -> Result<(), WebhookError> {
    let Some(secret) = secret else { return Ok(()) };
    let token = token.filter(|t| !t.is_empty()).ok_or(WebhookError::MissingSignature { provider })?;
    // Compare HMACs of both under a per-call key: constant time, and independent of lengths.
    let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
        .map_err(|_| WebhookError::BadSignature { provider })?;
    let expected = ring::hmac::sign(&key, secret.as_bytes());
    ring::hmac::verify(&key, token.as_bytes(), expected.as_ref()).map_err(|_| WebhookError::BadSignature { provider })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

/// The fields of GitHub, GitLab and Gitea push payloads that matter here; they overlap enough
/// for one struct.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    /// GitLab system hooks say which event they carry.
    event_name: Option<String>,
    repository: Option<Urls>,
    /// GitLab only.
    project: Option<Urls>,
}

#[derive(Deserialize)]
struct Urls {
    html_url: Option<String>,
    clone_url: Option<String>,
    ssh_url: Option<String>,
    git_url: Option<String>,
    url: Option<String>,
    web_url: Option<String>,
    homepage: Option<String>,
    git_http_url: Option<String>,
    git_ssh_url: Option<String>,
    http_url: Option<String>,
}

impl Urls {
    fn all(&self) -> impl Iterator<Item = &str> {
        [
            &self.html_url,
            &self.web_url,
            &self.homepage,
            &self.clone_url,
            &self.git_http_url,
            &self.http_url,
            &self.ssh_url,
            &self.git_ssh_url,
            &self.git_url,
            &self.url,
        ]
        .into_iter()
        .filter_map(|url| url.as_deref())
    }
}
