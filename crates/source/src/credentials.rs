//! Credentials for one repo, and how they reach git without touching argv, URLs or logs.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::SourceError;
use crate::repo_url::{RepoUrl, Transport};

/// Credentials for one repo. `Debug` masks every secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// HTTP username. With only a password (a token), `x-access-token` is sent, which GitHub
    /// requires for app tokens and GitLab/Gitea accept for any token.
    pub username: Option<String>,
    /// HTTP password or token.
    pub password: Option<String>,
    /// PEM/OpenSSH private key for ssh remotes.
    pub ssh_private_key: Option<String>,
    /// Skip ssh host key verification (`StrictHostKeyChecking=no`).
    pub insecure_ignore_host_key: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mask = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &mask(&self.password))
            .field("ssh_private_key", &mask(&self.ssh_private_key))
            .field("insecure_ignore_host_key", &self.insecure_ignore_host_key)
            .finish()
    }
}

/// Environment variables the credential helper reads. Not secret themselves.
const USERNAME_VAR: &str = "FERRY_GIT_USERNAME";
const PASSWORD_VAR: &str = "FERRY_GIT_PASSWORD";
const DEFAULT_TOKEN_USERNAME: &str = "x-access-token";

/// A shell-function credential helper: git appends the action ("get", "store", "erase") as `$1`.
/// The secret stays in the child's environment; only this fixed text is in argv.
const HELPER: &str = "!f() { test \"$1\" = get || exit 0; \
     printf 'username=%s\\npassword=%s\\n' \"$FERRY_GIT_USERNAME\" \"$FERRY_GIT_PASSWORD\"; }; f";

/// How one git invocation authenticates: extra `-c` arguments, environment, and the temporary
/// directory holding an ssh key (deleted on drop, i.e. when the git process is done).
pub(crate) struct GitAuth {
    /// `-c key=value` pairs placed before the git subcommand. Never secret.
    pub config_args: Vec<OsString>,
    /// Environment for the git child process. May carry secrets; never logged.
    pub env: Vec<(OsString, OsString)>,
    /// Secret values, for masking git's stderr.
    pub secrets: Vec<String>,
    _key_dir: Option<tempfile::TempDir>,
}

/// Build the auth setup for one git network operation. `temp_root` receives the 0700 directory
/// holding an ssh key, if any.
pub(crate) fn git_auth(
    url: &RepoUrl,
    credentials: Option<&Credentials>,
    temp_root: &Path,
) -> Result<GitAuth, SourceError> {
    let invalid =
        |reason: &str| SourceError::InvalidCredentials { repo: url.display.clone(), reason: reason.to_string() };
    let empty = Credentials::default();
    let creds = credentials.unwrap_or(&empty);
    let mut auth = GitAuth {
        config_args: Vec::new(),
        env: vec![
            // Never prompt: no terminal, and askpass programs that fail.
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("GIT_ASKPASS".into(), "false".into()),
            ("SSH_ASKPASS".into(), "false".into()),
            ("SSH_ASKPASS_REQUIRE".into(), "never".into()),
            // git's messages are matched in a few places and shown to users: keep them stable.
            ("LC_ALL".into(), "C".into()),
        ],
        secrets: Vec::new(),
        _key_dir: None,
    };

    let password = creds.password.clone().or_else(|| url.password.clone());
    if url.transport == Transport::Http
        && let Some(password) = password.filter(|p| !p.is_empty())
    {
        let username = creds
            .username
            .clone()
            .or_else(|| url.username.clone())
            .unwrap_or_else(|| DEFAULT_TOKEN_USERNAME.to_string());
        // The helper protocol is line based: a newline would let a value inject fields.
        if [&username, &password].iter().any(|v| v.contains(['\n', '\r', '\0'])) {
            return Err(invalid("username and password must not contain newlines or NUL"));
        }
        // An empty helper first clears helpers from the user's config, so ours is the only one.
        auth.config_args.push("credential.helper=".into());
        auth.config_args.push(format!("credential.helper={HELPER}").into());
        auth.env.push((USERNAME_VAR.into(), username.into()));
        auth.env.push((PASSWORD_VAR.into(), password.clone().into()));
        auth.secrets.push(password);
    }

    let mut ssh = String::from("ssh -o BatchMode=yes");
    if creds.insecure_ignore_host_key {
        ssh.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
    } else {
        ssh.push_str(" -o StrictHostKeyChecking=yes");
    }
    if url.transport == Transport::Ssh
        && let Some(key) = creds.ssh_private_key.as_ref().filter(|k| !k.trim().is_empty())
    {
        let dir = tempfile::Builder::new()
            .prefix("cred-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(temp_root)
            .map_err(|e| SourceError::io("create credentials directory", temp_root, e))?;
        let key_path = dir.path().join("key");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .map_err(|e| SourceError::io("write ssh key", &key_path, e))?;
        // ssh refuses a key whose last line lacks its newline.
        let mut contents = key.replace("\r\n", "\n");
        if !contents.ends_with('\n') {
            contents.push('\n');
        }
        file.write_all(contents.as_bytes()).map_err(|e| SourceError::io("write ssh key", &key_path, e))?;
        ssh.push_str(" -o IdentitiesOnly=yes -i ");
        ssh.push_str(&shell_quote(&key_path.to_string_lossy()));
        auth.secrets.push(key.clone());
        auth._key_dir = Some(dir);
    }
    auth.env.push(("GIT_SSH_COMMAND".into(), ssh.into()));
    auth.env.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
    Ok(auth)
}

/// Quote for the POSIX shell git runs `GIT_SSH_COMMAND` with.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
