use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;

fn env_value<'a>(auth: &'a GitAuth, name: &str) -> Option<&'a str> {
    auth.env.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.to_str())
}

fn url(text: &str) -> RepoUrl {
    match RepoUrl::parse(text) {
        Ok(url) => url,
        Err(e) => panic!("{text}: {e}"),
    }
}

fn auth(repo: &str, creds: Option<&Credentials>, tmp: &Path) -> GitAuth {
    match git_auth(&url(repo), creds, tmp) {
        Ok(auth) => auth,
        Err(e) => panic!("{repo}: {e}"),
    }
}

#[test]
fn debug_masks_secrets() {
    let creds = Credentials {
        username: Some("bob".into()),
        password: Some("hunter22".into()),
        ssh_private_key: Some("-----BEGIN KEY-----".into()),
        insecure_ignore_host_key: false,
    };
    let debug = format!("{creds:?}");
    assert!(debug.contains("bob"), "{debug}");
    assert!(!debug.contains("hunter22"), "{debug}");
    assert!(!debug.contains("BEGIN"), "{debug}");
}

#[test]
fn never_prompts() {
    let tmp = tempfile::tempdir().unwrap();
    let auth = auth("https://h/r", None, tmp.path());
    assert_eq!(env_value(&auth, "GIT_TERMINAL_PROMPT"), Some("0"));
    assert_eq!(env_value(&auth, "GIT_ASKPASS"), Some("false"));
    assert!(env_value(&auth, "GIT_SSH_COMMAND").is_some_and(|c| c.contains("BatchMode=yes")));
    assert!(auth.config_args.is_empty(), "no helper without a password");
}

#[test]
fn password_goes_through_helper_environment_not_argv() {
    let tmp = tempfile::tempdir().unwrap();
    let creds =
        Credentials { username: Some("bob".into()), password: Some("hunter22".into()), ..Credentials::default() };
    let auth = auth("https://h/r", Some(&creds), tmp.path());
    assert_eq!(auth.config_args.first().and_then(|a| a.to_str()), Some("credential.helper="));
    for arg in &auth.config_args {
        assert!(!arg.to_string_lossy().contains("hunter22"));
    }
    assert_eq!(env_value(&auth, USERNAME_VAR), Some("bob"));
    assert_eq!(env_value(&auth, PASSWORD_VAR), Some("hunter22"));
    assert_eq!(auth.secrets, vec!["hunter22".to_string()]);
}

#[test]
fn token_alone_gets_a_username_and_url_password_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = Credentials { password: Some("tok".into()), ..Credentials::default() };
    let auth = auth("https://h/r", Some(&creds), tmp.path());
    assert_eq!(env_value(&auth, USERNAME_VAR), Some(DEFAULT_TOKEN_USERNAME));
    let auth = git_auth(&url("https://al:pw%21@h/r"), None, tmp.path());
    let auth = auth.ok();
    assert_eq!(auth.as_ref().and_then(|a| env_value(a, USERNAME_VAR)), Some("al"));
    assert_eq!(auth.as_ref().and_then(|a| env_value(a, PASSWORD_VAR)), Some("pw!"));
}

#[test]
fn newline_in_password_is_refused_without_echoing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = Credentials { password: Some("abc\nhost=evil".into()), ..Credentials::default() };
    let error = git_auth(&url("https://h/r"), Some(&creds), tmp.path()).err();
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("newlines"), "{message}");
    assert!(!message.contains("evil"), "{message}");
}

#[test]
fn ssh_key_is_a_private_temp_file_removed_after_use() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = Credentials {
        ssh_private_key: Some("KEY MATERIAL".into()),
        insecure_ignore_host_key: false,
        ..Credentials::default()
    };
    let auth = auth("git@h:o/r", Some(&creds), tmp.path());
    let command = env_value(&auth, "GIT_SSH_COMMAND").unwrap_or_default().to_string();
    assert!(command.contains("StrictHostKeyChecking=yes"), "{command}");
    assert!(command.contains("BatchMode=yes"), "{command}");
    assert!(!command.contains("KEY MATERIAL"), "{command}");
    let key_path =
        command.split_once("-i '").and_then(|(_, rest)| rest.split_once('\'')).map(|(path, _)| PathBuf::from(path));
    let key_path = key_path.unwrap_or_default();
    assert!(key_path.starts_with(tmp.path()), "{command}");
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
    assert_eq!(mode(&key_path), Some(0o600));
    assert_eq!(key_path.parent().and_then(mode), Some(0o700));
    assert_eq!(std::fs::read_to_string(&key_path).ok().as_deref(), Some("KEY MATERIAL\n"));
    drop(auth);
    assert!(!key_path.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).map(Iterator::count).ok(), Some(0));
}

#[test]
fn insecure_flag_disables_host_key_checking() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = Credentials { insecure_ignore_host_key: true, ..Credentials::default() };
    let auth = auth("ssh://git@h/o/r", Some(&creds), tmp.path());
    let command = env_value(&auth, "GIT_SSH_COMMAND").unwrap_or_default();
    assert!(command.contains("StrictHostKeyChecking=no"), "{command}");
    assert!(command.contains("UserKnownHostsFile=/dev/null"), "{command}");
    assert!(!command.contains(" -i "), "{command}");
}

#[test]
fn ssh_key_is_ignored_for_http_and_password_for_ssh() {
    let tmp = tempfile::tempdir().unwrap();
    let creds =
        Credentials { password: Some("pw".into()), ssh_private_key: Some("KEY".into()), ..Credentials::default() };
    let http = auth("https://h/r", Some(&creds), tmp.path());
    assert!(!env_value(&http, "GIT_SSH_COMMAND").unwrap_or_default().contains(" -i "));
    let ssh = auth("git@h:o/r", Some(&creds), tmp.path());
    assert!(ssh.config_args.is_empty());
    assert_eq!(env_value(&ssh, PASSWORD_VAR), None);
}

/// The helper snippet is shell: run it through real git to prove it answers `get`.
#[test]
fn helper_answers_git_credential_fill() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let creds = Credentials {
        username: Some("bob".into()),
        password: Some("it's a \"pass\" $HOME \\n".into()),
        ..Credentials::default()
    };
    let auth = auth("https://h/r", Some(&creds), tmp.path());
    let mut command = std::process::Command::new("git");
    for arg in &auth.config_args {
        command.arg("-c").arg(arg);
    }
    let mut child = command
        .args(["credential", "fill"])
        .envs(auth.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"protocol=https\nhost=h\n\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("username=bob\n"), "{stdout}");
    assert!(stdout.contains("password=it's a \"pass\" $HOME \\n\n"), "{stdout}");
}
