use super::*;

const CA_PEM: &str = include_str!("../../testdata/secrets/ca.pem");

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn cluster() -> ClusterSecret {
    ClusterSecret {
        name: "prod".to_owned(),
        server: "https://prod.example.com:6443".to_owned(),
        config: ClusterConfig {
            bearer_token: Some("tok-123".to_owned()),
            username: None,
            password: None,
            tls_client_config: TlsClientConfig {
                insecure: false,
                ca_data: Some(b64(CA_PEM)),
                cert_data: None,
                key_data: None,
                server_name: Some("api.prod".to_owned()),
            },
        },
    }
}

fn data_text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).map(|b| String::from_utf8(b.0.clone()).expect("utf8"))
}

#[test]
fn cluster_secret_has_argo_cd_layout() {
    let secret = cluster().to_secret("ferry");
    assert_eq!(secret.metadata.name.as_deref(), Some("cluster-prod"));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("ferry"));
    assert_eq!(
        secret.metadata.labels.as_ref().and_then(|l| l.get(SECRET_TYPE_LABEL)).map(String::as_str),
        Some("cluster")
    );
    assert_eq!(data_text(&secret, "name").as_deref(), Some("prod"));
    assert_eq!(data_text(&secret, "server").as_deref(), Some("https://prod.example.com:6443"));
    let config: serde_json::Value = serde_json::from_str(&data_text(&secret, "config").expect("config")).expect("json");
    assert_eq!(config["bearerToken"], "tok-123");
    assert_eq!(config["tlsClientConfig"]["insecure"], false);
    assert_eq!(config["tlsClientConfig"]["caData"], b64(CA_PEM));
    assert_eq!(config["tlsClientConfig"]["serverName"], "api.prod");
    assert!(config.get("password").is_none(), "unset fields are omitted: {config}");
}

#[test]
fn cluster_secret_round_trips() {
    let original = cluster();
    let back = ClusterSecret::from_secret(&original.to_secret("ferry")).expect("read back");
    assert_eq!(back, original);
}

#[test]
fn cluster_secret_reads_string_data_written_by_hand() {
    let mut secret = Secret::default();
    secret.metadata.name = Some("cluster-x".to_owned());
    secret.metadata.labels = Some(BTreeMap::from([(SECRET_TYPE_LABEL.to_owned(), "cluster".to_owned())]));
    secret.string_data = Some(BTreeMap::from([
        ("name".to_owned(), "x".to_owned()),
        ("server".to_owned(), "https://x:443".to_owned()),
        ("config".to_owned(), r#"{"username":"u","password":"p","tlsClientConfig":{"insecure":true}}"#.to_owned()),
    ]));
    let read = ClusterSecret::from_secret(&secret).expect("read");
    assert_eq!(read.config.username.as_deref(), Some("u"));
    assert!(read.config.tls_client_config.insecure);
}

#[test]
fn cluster_secret_errors_name_the_problem() {
    let mut secret = cluster().to_secret("ferry");
    secret.metadata.labels = None;
    let err = ClusterSecret::from_secret(&secret).expect_err("unlabelled");
    assert!(matches!(err, SecretError::WrongType { .. }), "{err}");

    let mut secret = cluster().to_secret("ferry");
    secret.data.as_mut().expect("data").remove("server");
    let err = ClusterSecret::from_secret(&secret).expect_err("no server");
    assert_eq!(err.to_string(), r#"secret "cluster-prod" has no "server""#);

    let mut secret = cluster().to_secret("ferry");
    secret.data.as_mut().expect("data").insert("config".to_owned(), ByteString(b"{not json".to_vec()));
    let err = ClusterSecret::from_secret(&secret).expect_err("bad json");
    assert!(matches!(err, SecretError::BadConfig { .. }), "{err}");
}

#[test]
fn debug_never_shows_credentials() {
    let mut c = cluster();
    c.config.password = Some("hunter2".to_owned());
    c.config.tls_client_config.key_data = Some(b64("PRIVATE KEY"));
    let text = format!("{c:?}");
    for secret in ["tok-123", "hunter2", &b64("PRIVATE KEY")] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
    let repo = RepoSecret {
        url: "https://git.example.com/a".to_owned(),
        username: Some("bob".to_owned()),
        password: Some("s3cret".to_owned()),
        ssh_private_key: Some("-----BEGIN OPENSSH PRIVATE KEY-----".to_owned()),
        insecure_ignore_host_key: false,
    };
    let text = format!("{repo:?}");
    assert!(!text.contains("s3cret") && !text.contains("OPENSSH"), "{text}");
    assert!(text.contains("bob"), "the user name is not a secret: {text}");
}

#[test]
fn kube_config_carries_url_ca_token_and_tls_options() {
    let config = cluster().kube_config().expect("config");
    assert_eq!(config.cluster_url.to_string(), "https://prod.example.com:6443/");
    let roots = config.root_cert.expect("root certs");
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].first(), Some(&0x30), "DER starts with a SEQUENCE");
    assert_eq!(config.tls_server_name.as_deref(), Some("api.prod"));
    assert!(!config.accept_invalid_certs);
    use secrecy::ExposeSecret;
    assert_eq!(config.auth_info.token.as_ref().map(|t| t.expose_secret().to_owned()).as_deref(), Some("tok-123"));
}

#[test]
fn kube_config_basic_auth_client_certificate_and_insecure() {
    let mut c = cluster();
    c.config.bearer_token = None;
    c.config.username = Some("admin".to_owned());
    c.config.password = Some("pw".to_owned());
    c.config.tls_client_config = TlsClientConfig {
        insecure: true,
        cert_data: Some(b64(CA_PEM)),
        key_data: Some(b64("key")),
        ..TlsClientConfig::default()
    };
    let config = c.kube_config().expect("config");
    assert!(config.accept_invalid_certs);
    assert!(config.root_cert.is_none());
    assert_eq!(config.auth_info.username.as_deref(), Some("admin"));
    assert_eq!(config.auth_info.client_certificate_data.as_deref(), Some(b64(CA_PEM).as_str()));
    assert!(config.auth_info.client_key_data.is_some());
}

#[test]
fn kube_config_refuses_bad_settings() {
    let mut c = cluster();
    c.server = "prod.example.com".to_owned();
    assert!(matches!(c.kube_config(), Err(SecretError::InvalidServer { .. })));

    let mut c = cluster();
    c.config.tls_client_config.ca_data = Some("%%%".to_owned());
    assert!(matches!(c.kube_config(), Err(SecretError::Base64 { field: "caData", .. })));

    let mut c = cluster();
    c.config.tls_client_config.ca_data = Some(b64("no pem here"));
    assert!(matches!(c.kube_config(), Err(SecretError::NoCaCertificate { .. })));

    let mut c = cluster();
    c.config.tls_client_config.cert_data = Some(b64(CA_PEM));
    assert!(matches!(c.kube_config(), Err(SecretError::IncompleteClientCertificate { .. })));
}

#[test]
fn repo_secret_layout_and_round_trip() {
    let repo = RepoSecret {
        url: "https://git.example.com/org/app.git".to_owned(),
        username: Some("bob".to_owned()),
        password: Some("s3cret".to_owned()),
        ssh_private_key: None,
        insecure_ignore_host_key: true,
    };
    let secret = repo.to_secret("ferry");
    assert_eq!(secret.metadata.name, Some(repo_secret_name("https://git.example.com/org/app.git")));
    assert_eq!(
        secret.metadata.labels.as_ref().and_then(|l| l.get(SECRET_TYPE_LABEL)).map(String::as_str),
        Some("repository")
    );
    assert_eq!(data_text(&secret, "type").as_deref(), Some("git"));
    assert_eq!(data_text(&secret, "insecure").as_deref(), Some("true"));
    assert_eq!(data_text(&secret, "sshPrivateKey"), None);
    assert_eq!(RepoSecret::from_secret(&secret).expect("read"), repo);
}

#[test]
fn repo_names_follow_the_normalized_url() {
    let a = repo_secret_name("https://Git.Example.com/org/app.git/");
    assert_eq!(a, repo_secret_name("https://git.example.com/org/app"));
    assert_ne!(a, repo_secret_name("https://git.example.com/org/other"));
    assert!(a.starts_with("repo-") && a.len() == "repo-".len() + 16, "{a}");
    // Stable across releases: Secrets written by one version are found by the next.
    assert_eq!(
        repo_secret_name("https://git.example.com/org/app"),
        "repo-".to_owned() + &fnv_hex("https://git.example.com/org/app")
    );
    let repo = RepoSecret { url: "ssh://git@host/r.git".to_owned(), ..RepoSecret::default() };
    assert!(repo.matches("SSH://git@host/r"));
    assert!(!repo.matches("ssh://git@host/s"));
}

/// FNV-1a 64, written out so the test pins the algorithm, not the crate.
fn fnv_hex(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
