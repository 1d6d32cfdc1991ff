//! Commit-status gates: whether a commit passes a stage's proposed or active gates.
//!
//! A gate is a list of keys; it passes when, for the (repository, commit), the status of every
//! key is `success`. Repository URLs are compared normalised ([`normalize_repo_url`]), SHAs
//! without regard to case.

use sha2::{Digest, Sha256};

use crate::{CommitStatus, CommitStatusPhase};

/// The outcome of a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateResult {
    /// Every key is `success` (also when there are no keys).
    Passed,
    /// Nothing failed, but some keys are not `success` yet.
    Pending {
        /// Keys with no status for the commit.
        missing: Vec<String>,
        /// Keys whose status is `pending`.
        pending: Vec<String>,
    },
    /// A key is `failure`: the first such key in gate order.
    Failed {
        /// The key.
        key: String,
        /// The status's description (empty when it has none).
        description: String,
    },
}

impl GateResult {
    /// One line for status messages and the `ferry pipeline` picture.
    pub fn summary(&self) -> String {
        match self {
            GateResult::Passed => "gates passed".to_owned(),
            GateResult::Pending { missing, pending } => {
                let mut parts = Vec::new();
                if !pending.is_empty() {
                    parts.push(format!("pending: {}", pending.join(", ")));
                }
                if !missing.is_empty() {
                    parts.push(format!("no status yet: {}", missing.join(", ")));
                }
                format!("waiting for gates ({})", parts.join("; "))
            }
            GateResult::Failed { key, description } if description.is_empty() => format!("gate {key} failed"),
            GateResult::Failed { key, description } => format!("gate {key} failed: {description}"),
        }
    }
}

/// Evaluates the gate `keys` on commit `sha` of `repo_url` against `statuses` (any statuses;
/// those of other commits are ignored).
///
/// Several statuses for one key: the last one in `statuses` wins, so callers pass them
/// oldest first (ferry names them with [`commit_status_name`], so there is normally one).
/// Any `failure` fails the gate, even when other keys are still missing.
pub fn evaluate(keys: &[String], statuses: &[CommitStatus], repo_url: &str, sha: &str) -> GateResult {
    let repo = normalize_repo_url(repo_url);
    let mut missing = Vec::new();
    let mut pending = Vec::new();
    for key in keys {
        let latest = statuses.iter().rev().find(|s| {
            &s.spec.key == key && s.spec.sha.eq_ignore_ascii_case(sha) && normalize_repo_url(&s.spec.repo_url) == repo
        });
        match latest.map(|s| (s.spec.phase, s)) {
            None => missing.push(key.clone()),
            Some((CommitStatusPhase::Pending, _)) => pending.push(key.clone()),
            Some((CommitStatusPhase::Success, _)) => {}
            Some((CommitStatusPhase::Failure, s)) => {
                return GateResult::Failed {
                    key: key.clone(),
                    description: s.spec.description.clone().unwrap_or_default(),
                };
            }
        }
    }
    if missing.is_empty() && pending.is_empty() { GateResult::Passed } else { GateResult::Pending { missing, pending } }
}

/// A repository URL in a form where equal repositories compare equal: surrounding whitespace,
/// trailing slashes and a trailing `.git` removed; for URLs with a scheme, scheme and host
/// lowercased and any user name or password dropped; for scp-like addresses
/// (`git@host:org/repo`), the host lowercased and the user dropped. Paths keep their case (servers differ on it).
/// An HTTPS URL and an scp-like address of the same repository stay different.
pub fn normalize_repo_url(url: &str) -> String {
    let trimmed = url.trim();
    let base = if trimmed.contains("://") {
        match url::Url::parse(trimmed) {
            Ok(mut parsed) => {
                // Credentials say who fetched, not which repository it is.
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                // The url crate lowercases hosts of http(s) only; `ssh://` hosts are opaque to it.
                if let Some(host) = parsed.host_str().map(str::to_ascii_lowercase) {
                    let _ = parsed.set_host(Some(&host));
                }
                parsed.to_string()
            }
            Err(_) => trimmed.to_owned(),
        }
    } else if let Some((host, path)) = trimmed.split_once(':').filter(|(host, _)| !host.contains('/')) {
        // scp-like: [user@]host:path (as git decides: no slash before the first colon)
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        format!("{}:{path}", host.to_ascii_lowercase())
    } else {
        trimmed.to_owned()
    };
    let mut out = base.as_str();
    loop {
        let before = out.len();
        out = out.trim_end_matches('/');
        out = out.strip_suffix(".git").unwrap_or(out);
        if out.len() == before {
            break;
        }
    }
    out.to_owned()
}

/// Longest key prefix kept in a CommitStatus name, for readability; the hash makes it unique.
const KEY_PART: usize = 32;

/// The object name for the CommitStatus of (`repo_url`, `sha`, `key`), so that posting the
/// same triple twice updates one object: `<key>-<sha prefix>-<hash>`, where the key is
/// reduced to lowercase letters, digits and dashes, and the hash (16 hex digits of SHA-256)
/// covers the normalised URL, the lowercased SHA and the key exactly. At most 63 characters
/// and a valid DNS-1123 label (hence also a valid object name).
pub fn commit_status_name(repo_url: &str, sha: &str, key: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [normalize_repo_url(repo_url), sha.to_ascii_lowercase(), key.to_owned()] {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") hash differently.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let key_part = slug(key, KEY_PART);
    let sha_part = slug(sha, 7);
    [key_part, sha_part, hash].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

/// Lowercase letters and digits of `text`, other runs turned into one dash, no leading or
/// trailing dash, at most `max` characters.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests;
