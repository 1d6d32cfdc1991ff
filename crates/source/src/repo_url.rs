//! Repo URLs: which transports are allowed, the canonical form used for matching, and the forms
//! handed to git and put into messages.

use crate::SourceError;

/// The git transport a URL uses. Plain local paths use git's `file` protocol too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    File,
    Http,
    Ssh,
}

/// A repo URL that passed the scheme allow-list.
#[derive(Debug, Clone)]
pub(crate) struct RepoUrl {
    /// What git is given: the URL without any password.
    pub git_url: String,
    /// For errors and logs: the URL with all userinfo stripped.
    pub display: String,
    /// See [`normalize_url`].
    pub normalized: String,
    pub transport: Transport,
    /// Username found in the URL, percent-decoded.
    pub username: Option<String>,
    /// Password found in the URL, percent-decoded; it is passed to git like any other password.
    pub password: Option<String>,
}

impl RepoUrl {
    pub(crate) fn parse(url: &str) -> Result<RepoUrl, SourceError> {
        let url = url.trim();
        let refuse =
            |reason: &str| SourceError::UnsupportedUrl { repo: strip_userinfo_lossy(url), reason: reason.to_string() };
        if url.is_empty() {
            return Err(refuse("empty repo url"));
        }
        if url.starts_with('-') {
            return Err(refuse("must not start with '-'"));
        }
        if url.chars().any(char::is_control) {
            return Err(refuse("contains control characters"));
        }
        match shape(url) {
            Shape::Scheme { scheme, authority, path } => {
                let transport = match scheme.as_str() {
                    "http" | "https" => Transport::Http,
                    "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                    "file" => Transport::File,
                    other => {
                        return Err(refuse(&format!(
                            "scheme {other:?} is not supported (use file, http, https or ssh)"
                        )));
                    }
                };
                let (userinfo, hostport) = match authority.rsplit_once('@') {
                    Some((userinfo, hostport)) => (Some(userinfo), hostport),
                    None => (None, authority),
                };
                let (raw_user, raw_password) = match userinfo {
                    Some(info) => match info.split_once(':') {
                        Some((user, password)) => (Some(user), Some(password)),
                        None => (Some(info), None),
                    },
                    None => (None, None),
                };
                let user_prefix =
                    raw_user.filter(|user| !user.is_empty()).map(|user| format!("{user}@")).unwrap_or_default();
                let canonical_scheme = if transport == Transport::Ssh { "ssh" } else { scheme.as_str() };
                let normalized = if transport == Transport::File {
                    format!("file://{}", trim_path(path, KeepGitSuffix::Yes))
                } else {
                    format!(
                        "{canonical_scheme}://{}{}",
                        canonical_host(hostport, canonical_scheme),
                        trim_path(path, KeepGitSuffix::No)
                    )
                };
                Ok(RepoUrl {
                    git_url: format!("{scheme}://{user_prefix}{hostport}{path}"),
                    display: format!("{scheme}://{hostport}{path}"),
                    normalized,
                    transport,
                    username: raw_user.filter(|u| !u.is_empty()).map(percent_decode),
                    password: raw_password.filter(|p| !p.is_empty()).map(percent_decode),
                })
            }
            Shape::Scp { user, host, path } => {
                let user_prefix = user.map(|user| format!("{user}@")).unwrap_or_default();
                Ok(RepoUrl {
                    git_url: format!("{user_prefix}{host}:{path}"),
                    display: format!("{host}:{path}"),
                    normalized: format!(
                        "ssh://{}/{}",
                        canonical_host(host, "ssh"),
                        trim_path(path, KeepGitSuffix::No).trim_start_matches('/')
                    ),
                    transport: Transport::Ssh,
                    username: user.map(percent_decode),
                    password: None,
                })
            }
            Shape::Local(path) => {
                let absolute = std::path::absolute(path)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| path.to_string());
                Ok(RepoUrl {
                    git_url: path.to_string(),
                    display: path.to_string(),
                    normalized: format!("file://{}", trim_path(&absolute, KeepGitSuffix::Yes)),
                    transport: Transport::File,
                    username: None,
                    password: None,
                })
            }
        }
    }
}

/// Canonical form of a repo URL, for matching webhook payloads and credentials to apps.
///
/// Lowercases scheme and host, drops default ports, strips userinfo, trailing `/` and a trailing
/// `.git`; the scp-like `git@host:org/repo` becomes `ssh://host/org/repo`, the same as
/// `ssh://git@host/org/repo`. Paths keep their case (servers differ on whether it matters).
/// Local paths and `file://` URLs become absolute `file://` URLs and keep a `.git` suffix, since
/// `repo` and `repo.git` are different directories on disk. A URL this crate refuses is returned
/// trimmed, unchanged otherwise.
pub fn normalize_url(url: &str) -> String {
    match RepoUrl::parse(url) {
        Ok(parsed) => parsed.normalized,
        Err(_) => url.trim().to_string(),
    }
}

/// Directory name of a repo's mirror and snapshots: a hash of the normalized URL, so no user
/// text ever becomes a path component.
pub(crate) fn storage_key(normalized: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, normalized.as_bytes());
    to_hex(&digest.as_ref()[..16])
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Shape<'a> {
    Scheme { scheme: String, authority: &'a str, path: &'a str },
    Scp { user: Option<&'a str>, host: &'a str, path: &'a str },
    Local(&'a str),
}

fn is_scheme(candidate: &str) -> bool {
    let mut chars = candidate.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Classify like git does: `scheme://`, then the `transport::address` helper syntax (returned as
/// an unsupported scheme), then scp-like when a ':' comes before any '/', else a local path.
fn shape(url: &str) -> Shape<'_> {
    if let Some((scheme, rest)) = url.split_once("://")
        && is_scheme(scheme)
    {
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        return Shape::Scheme { scheme: scheme.to_ascii_lowercase(), authority, path };
    }
    if let Some((helper, _)) = url.split_once("::")
        && is_scheme(helper)
    {
        return Shape::Scheme { scheme: format!("{}::", helper.to_ascii_lowercase()), authority: "", path: "" };
    }
    // An IPv6 host is bracketed; its colons do not count.
    let search_from = if url.contains("@[") || url.starts_with('[') { url.find(']').unwrap_or(0) } else { 0 };
    if let Some(colon) = url[search_from..].find(':').map(|i| i + search_from)
        && !url[..colon].contains('/')
        && colon > 0
    {
        let (user_host, path) = (&url[..colon], &url[colon + 1..]);
        let (user, host) = match user_host.rsplit_once('@') {
            Some((user, host)) => (Some(user).filter(|u| !u.is_empty()), host),
            None => (None, user_host),
        };
        return Shape::Scp { user, host, path };
    }
    Shape::Local(url)
}

#[derive(Clone, Copy, PartialEq)]
enum KeepGitSuffix {
    Yes,
    No,
}

fn trim_path(path: &str, keep: KeepGitSuffix) -> &str {
    let mut trimmed = path.trim_end_matches('/');
    if keep == KeepGitSuffix::No {
        trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed).trim_end_matches('/');
    }
    trimmed
}

fn canonical_host(hostport: &str, scheme: &str) -> String {
    let lower = hostport.to_ascii_lowercase();
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        "ssh" => ":22",
        _ => return lower,
    };
    match lower.strip_suffix(default_port) {
        Some(host) => host.to_string(),
        None => lower,
    }
}

fn percent_decode(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// Best-effort userinfo removal for URLs that failed to parse (they still go into messages).
fn strip_userinfo_lossy(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{}", &rest[authority_end..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// Mask secrets in text that came from git (stderr) before it goes into an error: every literal
/// occurrence of a known secret, and the password part of any `scheme://user:password@` found.
pub(crate) fn mask_secrets(text: &str, secrets: &[&str]) -> String {
    let mut masked = text.to_string();
    for secret in secrets {
        // Very short secrets would garble the message; they are still caught by the URL rule.
        if secret.len() >= 3 {
            masked = masked.replace(secret, "***");
        }
    }
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let authority_end =
            after.find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '\'' | '"' | '`')).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***@");
                    out.push_str(host);
                }
                None => out.push_str(authority),
            },
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
