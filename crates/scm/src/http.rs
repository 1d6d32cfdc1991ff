//! What the REST providers share: repository URL parsing, the HTTP client with token auth, and
//! the mapping of HTTP failures to [`ScmError`]s with tokens masked.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::{Operation, ScmError};

/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 500;

/// Where a repository lives, from its clone URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoLocation {
    /// `http` or `https` (ssh remotes map to `https`).
    pub scheme: &'static str,
    /// Host, with the port for http(s) URLs.
    pub host: String,
    /// Path segments without `.git` (`["owner", "repo"]`, or GitLab's `["group", "sub", "project"]`).
    pub segments: Vec<String>,
}

/// Parse `https://host/owner/repo(.git)`, `ssh://git@host[:port]/owner/repo.git` and
/// `git@host:owner/repo.git`.
pub(crate) fn parse_repo_url(operation: Operation, repo_url: &str) -> Result<RepoLocation, ScmError> {
    let invalid =
        |reason: &str| ScmError::InvalidRepoUrl { operation, repo: display_repo(repo_url), reason: reason.to_string() };
    let (scheme, host, path) = if repo_url.contains("://") {
        let url = Url::parse(repo_url).map_err(|e| invalid(&e.to_string()))?;
        let host = url.host_str().ok_or_else(|| invalid("no host"))?.to_string();
        match url.scheme() {
            "https" | "http" => {
                let host = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                };
                let scheme = if url.scheme() == "http" { "http" } else { "https" };
                (scheme, host, url.path().to_string())
            }
            // The API of an ssh remote is served over https on the same host.
            "ssh" | "git+ssh" => ("https", host, url.path().to_string()),
            other => return Err(invalid(&format!("unsupported scheme {other:?}"))),
        }
    } else if let Some((authority, path)) = repo_url.split_once(':') {
        let host = authority.rsplit('@').next().unwrap_or(authority);
        if host.is_empty() || path.is_empty() {
            return Err(invalid("expected user@host:owner/repo"));
        }
        ("https", host.to_string(), path.to_string())
    } else {
        return Err(invalid("expected an https or ssh URL"));
    };
    let trimmed = path.trim_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let segments: Vec<String> = trimmed.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    if segments.len() < 2 {
        return Err(invalid("expected at least owner/repo in the path"));
    }
    Ok(RepoLocation { scheme, host, segments })
}

/// The URL without userinfo, for errors and logs.
pub(crate) fn display_repo(repo_url: &str) -> String {
    match Url::parse(repo_url) {
        Ok(mut url) if url.has_authority() => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        // scp-like `user@host:path` carries no secret (ssh has no password in the URL).
        _ => repo_url.to_string(),
    }
}

/// How the token is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    /// `Authorization: Bearer <token>` (GitHub).
    Bearer,
    /// `PRIVATE-TOKEN: <token>` (GitLab).
    PrivateToken,
    /// `Authorization: token <token>` (Gitea).
    Token,
}

/// An HTTP client for one API root.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    token: Option<String>,
    scheme: AuthScheme,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("scheme", &self.scheme)
            .finish()
    }
}

/// One request's identity, for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The operation.
    pub operation: Operation,
    /// The repository URL as given.
    pub repo_url: &'a str,
}

impl Call<'_> {
    fn repo(&self) -> String {
        display_repo(self.repo_url)
    }
}

impl Http {
    /// A client sending `token` with `scheme`, and `headers` on every request.
    pub(crate) fn new(
        token: Option<String>,
        scheme: AuthScheme,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Http, ScmError> {
        // reqwest panics when it builds its TLS config without a process-wide provider; the
        // binary installs one, and a missing one is a configuration error here, not a panic.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(ScmError::Config {
                reason: "no rustls crypto provider is installed in this process".to_string(),
            });
        }
        if let Some(token) = &token
            && (token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(ScmError::Config { reason: "the token is empty or has invalid characters".to_string() });
        }
        let mut default_headers = reqwest::header::HeaderMap::new();
        default_headers.insert("Accept", reqwest::header::HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            default_headers.insert(*name, reqwest::header::HeaderValue::from_static(value));
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ScmError::Config { reason: format!("http client: {}", e.without_url()) })?;
        Ok(Http { client, token, scheme })
    }

    /// Send and decode a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<T, ScmError> {
        let bytes = self.send(call, method, url, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ScmError::Decode {
            operation: call.operation,
            repo: call.repo(),
            message: e.to_string(),
        })
    }

    /// Send; the answer's body on success.
    pub(crate) async fn send(
        &self,
        call: Call<'_>,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ScmError> {
        let mut request = self.client.request(method, url);
        if let Some(token) = &self.token {
            request = match self.scheme {
                AuthScheme::Bearer => request.header("Authorization", format!("Bearer {token}")),
                AuthScheme::PrivateToken => request.header("PRIVATE-TOKEN", token.as_str()),
                AuthScheme::Token => request.header("Authorization", format!("token {token}")),
            };
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let transport = |e: reqwest::Error| ScmError::Transport {
            operation: call.operation,
            repo: call.repo(),
            source: e.without_url(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(self.status_error(call, status, &bytes))
    }

    fn status_error(&self, call: Call<'_>, status: StatusCode, body: &[u8]) -> ScmError {
        let message = self.mask(&server_message(status, body));
        let (operation, repo) = (call.operation, call.repo());
        match status.as_u16() {
            401 => ScmError::Unauthorized { operation, repo },
            403 => ScmError::Forbidden { operation, repo, message },
            404 => ScmError::NotFound { operation, repo, message },
            409 => ScmError::Conflict { operation, repo, message },
            422 => ScmError::Rejected { operation, repo, message },
            405 | 406 if operation == Operation::Merge => ScmError::NotMergeable { operation, repo, message },
            code => ScmError::Api { operation, repo, status: code, message },
        }
    }

    /// Remove the token from text a server sent back (some echo request headers).
    fn mask(&self, text: &str) -> String {
        match &self.token {
            Some(token) if !token.is_empty() => text.replace(token.as_str(), "***"),
            _ => text.to_string(),
        }
    }
}

/// The explanation in an error body: `message` (a string, or GitLab's field → messages map),
/// `error`, and GitHub's `errors[].message`; else the raw text.
fn server_message(status: StatusCode, body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            let mut parts = Vec::new();
            for key in ["message", "error"] {
                match value.get(key) {
                    Some(Value::String(s)) => parts.push(s.clone()),
                    Some(Value::Null) | None => {}
                    Some(other) => parts.push(other.to_string()),
                }
            }
            if let Some(Value::Array(errors)) = value.get("errors") {
                for error in errors {
                    match error.get("message").and_then(Value::as_str) {
                        Some(message) => parts.push(message.to_string()),
                        None => parts.push(error.to_string()),
                    }
                }
            }
            if parts.is_empty() { value.to_string() } else { parts.join("; ") }
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let text = if text.is_empty() { status.canonical_reason().unwrap_or("no explanation").to_string() } else { text };
    truncate(&text, MAX_MESSAGE)
}

/// At most `max` bytes of `text`, on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `base` with `segments` appended, each percent-encoded as one segment (so a `/` inside one,
/// as in GitLab's `group%2Fproject` or a branch name, stays inside it).
pub(crate) fn api_url(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// Parse an API root, or `None` when unset.
pub(crate) fn parse_api_url(api_url: Option<&str>) -> Result<Option<Url>, ScmError> {
    api_url
        .map(|raw| {
            let url = Url::parse(raw)
                .map_err(|e| ScmError::Config { reason: format!("invalid API URL {}: {e}", display_repo(raw)) })?;
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(ScmError::Config { reason: format!("API URL {} must be http(s)", display_repo(raw)) });
            }
            Ok(url)
        })
        .transpose()
}

/// Build a URL from a location's scheme and host plus a path; repository hosts come from URLs
/// that already parsed, so failure here means a malformed host.
pub(crate) fn host_url(
    operation: Operation,
    repo_url: &str,
    location: &RepoLocation,
    path: &str,
) -> Result<Url, ScmError> {
    Url::parse(&format!("{}://{}{path}", location.scheme, location.host)).map_err(|e| ScmError::InvalidRepoUrl {
        operation,
        repo: display_repo(repo_url),
        reason: e.to_string(),
    })
}

/// The owner and repository name: the last two path segments (GitHub and Gitea have no
/// nesting; a Gitea served under a path prefix keeps the prefix before them).
pub(crate) fn owner_repo(location: &RepoLocation) -> (&str, &str) {
    let n = location.segments.len();
    (&location.segments[n - 2], &location.segments[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let cases = [
            ("https://github.com/acme/app.git", "https", "github.com", vec!["acme", "app"]),
            ("https://user:secret@github.com/acme/app", "https", "github.com", vec!["acme", "app"]),
            ("http://127.0.0.1:3000/acme/app.git", "http", "127.0.0.1:3000", vec!["acme", "app"]),
            ("git@github.com:acme/app.git", "https", "github.com", vec!["acme", "app"]),
            ("ssh://git@gitlab.example:2222/group/sub/app.git", "https", "gitlab.example", vec!["group", "sub", "app"]),
        ];
        for (url, scheme, host, segments) in cases {
            let location = parse_repo_url(Operation::Get, url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(location.scheme, scheme, "{url}");
            assert_eq!(location.host, host, "{url}");
            assert_eq!(location.segments, segments, "{url}");
        }
    }

    #[test]
    fn refuses_urls_without_owner_and_repo() {
        for url in ["https://github.com/acme", "not a url", "file:///tmp/repo", "git@github.com:"] {
            assert!(parse_repo_url(Operation::Get, url).is_err(), "{url}");
        }
    }

    #[test]
    fn display_strips_userinfo() {
        assert_eq!(display_repo("https://x-access-token:ghp_secret@github.com/a/b.git"), "https://github.com/a/b.git");
    }

    #[test]
    fn segments_are_encoded_whole() {
        let base = Url::parse("https://gitlab.example/api/v4").unwrap_or_else(|e| panic!("{e}"));
        let url = api_url(&base, &["projects", "group/sub/app", "merge_requests"]);
        assert_eq!(url.as_str(), "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/merge_requests");
    }

    #[test]
    fn server_messages_are_extracted_and_truncated() {
        let body =
            br#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for a:b."}]}"#;
        assert_eq!(
            server_message(StatusCode::UNPROCESSABLE_ENTITY, body),
            "Validation Failed; A pull request already exists for a:b."
        );
        let gitlab = br#"{"message":{"title":["can't be blank"]}}"#;
        assert_eq!(server_message(StatusCode::BAD_REQUEST, gitlab), r#"{"title":["can't be blank"]}"#);
        let long = "é".repeat(400);
        assert!(server_message(StatusCode::BAD_GATEWAY, long.as_bytes()).len() <= MAX_MESSAGE + "…".len());
        assert_eq!(server_message(StatusCode::NOT_FOUND, b""), "Not Found");
    }
}
