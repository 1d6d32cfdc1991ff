use super::*;

#[test]
fn normalizes_equivalent_forms_to_one_string() {
    let cases = [
        ("https://GitHub.com/Org/Repo.git", "https://github.com/Org/Repo"),
        ("https://github.com/Org/Repo/", "https://github.com/Org/Repo"),
        ("https://user:secret@github.com/Org/Repo.git/", "https://github.com/Org/Repo"),
        ("HTTPS://github.com:443/Org/Repo", "https://github.com/Org/Repo"),
        ("http://example.com:80/r", "http://example.com/r"),
        ("http://example.com:8080/r", "http://example.com:8080/r"),
        ("git@github.com:org/repo.git", "ssh://github.com/org/repo"),
        ("ssh://git@github.com/org/repo", "ssh://github.com/org/repo"),
        ("ssh://git@GITHUB.com:22/org/repo.git", "ssh://github.com/org/repo"),
        ("git+ssh://git@github.com/org/repo", "ssh://github.com/org/repo"),
        ("file:///srv/repos/app/", "file:///srv/repos/app"),
        ("/srv/repos/app", "file:///srv/repos/app"),
        ("/srv/repos/app.git", "file:///srv/repos/app.git"),
        ("  https://h/x  ", "https://h/x"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_url(input), expected, "{input}");
    }
}

#[test]
fn scp_like_and_ssh_url_share_a_storage_key() {
    assert_eq!(
        storage_key(&normalize_url("git@host.example:org/repo")),
        storage_key(&normalize_url("ssh://git@host.example/org/repo.git"))
    );
    let key = storage_key(&normalize_url("https://h/x"));
    assert_eq!(key.len(), 32);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn refuses_other_schemes_and_option_injection() {
    for url in [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "git://example.com/repo",
        "ftp://example.com/repo",
        "-uhelp",
        "",
        "https://example.com/a\nb",
    ] {
        let error = RepoUrl::parse(url).err();
        assert!(matches!(error, Some(SourceError::UnsupportedUrl { .. })), "{url:?}: {error:?}");
    }
    let message = RepoUrl::parse("ext::sh -c x").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("\"ext::\" is not supported"), "{message}");
}

#[test]
fn refused_url_message_has_no_password() {
    let message = RepoUrl::parse("ftp://bob:hunter22@example.com/r").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("ftp://example.com/r"), "{message}");
    assert!(!message.contains("hunter22"), "{message}");
}

#[test]
fn password_is_moved_out_of_the_url() {
    let url = RepoUrl::parse("https://bob:p%40ss@Example.com/r.git").ok();
    let url = url.as_ref();
    assert_eq!(url.map(|u| u.git_url.as_str()), Some("https://bob@Example.com/r.git"));
    assert_eq!(url.map(|u| u.display.as_str()), Some("https://Example.com/r.git"));
    assert_eq!(url.and_then(|u| u.username.as_deref()), Some("bob"));
    assert_eq!(url.and_then(|u| u.password.as_deref()), Some("p@ss"));
    assert_eq!(url.map(|u| u.transport), Some(Transport::Http));
}

#[test]
fn classifies_transports_like_git() {
    let transport = |url: &str| RepoUrl::parse(url).ok().map(|u| u.transport);
    assert_eq!(transport("git@h:o/r"), Some(Transport::Ssh));
    assert_eq!(transport("h:o/r"), Some(Transport::Ssh));
    assert_eq!(transport("ssh://h/o/r"), Some(Transport::Ssh));
    assert_eq!(transport("./dir:with/colon"), Some(Transport::File));
    assert_eq!(transport("/abs/path"), Some(Transport::File));
    assert_eq!(transport("file:///abs/path"), Some(Transport::File));
    assert_eq!(transport("http://h/r"), Some(Transport::Http));
    assert_eq!(transport("git@[::1]:o/r"), Some(Transport::Ssh));
}

#[test]
fn masks_passwords_in_git_output() {
    let stderr = "fatal: unable to access 'https://bob:tok3n@host/r/': 403; retry with tok3n";
    let masked = mask_secrets(stderr, &["tok3n"]);
    assert!(!masked.contains("tok3n"), "{masked}");
    let masked = mask_secrets("fatal: unable to access 'https://bob:other@host/r/'", &[]);
    assert_eq!(masked, "fatal: unable to access 'https://bob:***@host/r/'");
    assert_eq!(mask_secrets("no urls here", &["ab"]), "no urls here");
}
