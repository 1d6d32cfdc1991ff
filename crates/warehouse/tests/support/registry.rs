//! Test support shared by the tests of warehouses and of the promoter (included with
//! `#[path]`): Debian's `docker-registry` on loopback, and images pushed by plain registry v2
//! uploads (oci-client's push).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

/// A `docker-registry` on a free loopback port, storage in a temp dir; killed on drop.
pub struct Registry {
    child: Child,
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Starts a registry; with `user`, it requires that user and password (htpasswd, bcrypt).
pub fn start_registry(user: Option<(&str, &str)>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let mut auth = String::new();
    if let Some((name, password)) = user {
        let hash = bcrypt::hash_with_result(password, 4).unwrap().format_for_version(bcrypt::Version::TwoY);
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{name}:{hash}\n")).unwrap();
        auth = format!("auth: {{htpasswd: {{realm: test, path: {}}}}}\n", htpasswd.display());
    }
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {address}}}\n{auth}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("docker-registry: {e} (apt-get install -y docker-registry)"));
    // Wait for the "listening on" line; a thread keeps draining stderr so the pipe never fills.
    let stderr = child.stderr.take().unwrap();
    let (ready, listening) = std::sync::mpsc::channel();
    let wanted = format!("listening on {address}");
    std::thread::spawn(move || {
        let mut ready = Some(ready);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&wanted)
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("docker-registry did not start listening on {address}"));
    Registry { child, address, _dir: dir }
}

pub fn pusher() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig { protocol: ClientProtocol::Http, ..ClientConfig::default() })
}

/// Pushes a one-layer image as `repo:tag`, its config `created` at `created`, its layer made of
/// `content`; returns the manifest digest.
pub async fn push_image(
    client: &Client,
    auth: &RegistryAuth,
    address: &str,
    repo: &str,
    tag: &str,
    created: &str,
    content: &str,
) -> String {
    let reference = Reference::with_tag(address.to_owned(), repo.to_owned(), tag.to_owned());
    client.auth(&reference, auth, RegistryOperation::Push).await.unwrap();
    let config = serde_json::json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {}
    });
    let config = Config::oci_v1(serde_json::to_vec(&config).unwrap(), None);
    let layer = ImageLayer::oci_v1(content.as_bytes().to_vec(), None);
    client.push_blob(&reference, config.data.clone(), &config.sha256_digest()).await.unwrap();
    client.push_blob(&reference, layer.data.clone(), &layer.sha256_digest()).await.unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.media_type, "digest": config.sha256_digest(), "size": config.data.len()},
        "layers": [{"mediaType": layer.media_type, "digest": layer.sha256_digest(), "size": layer.data.len()}]
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = ImageLayer::oci_v1(body.clone(), None).sha256_digest();
    client
        .push_manifest_raw(&reference, body, "application/vnd.oci.image.manifest.v1+json".parse().unwrap())
        .await
        .unwrap();
    digest
}
