//! Credentials from repository Secrets (label `ferry.dev/secret-type: repository`, the same
//! Secrets `ferry repo add` writes and the Application controller reads). One Secret serves git
//! remotes (username/password or SSH key) and registries (username/password; a password without
//! a username is sent as a bearer token). The longest URL prefix wins.

use application::secrets::{RepoSecret, SECRET_TYPE_LABEL};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;

/// A snapshot of the repository Secrets.
#[derive(Default, Clone)]
pub(crate) struct Secrets {
    repos: Vec<RepoSecret>,
}

impl Secrets {
    /// Reads the repository Secrets of the promotion namespace. A failed read is logged and
    /// gives none: public remotes must keep working.
    pub(crate) async fn load(client: &kube::Client) -> Secrets {
        let api: Api<Secret> = Api::namespaced(client.clone(), promotion::NAMESPACE);
        let params = ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}=repository"));
        match api.list(&params).await {
            Ok(list) => Secrets { repos: list.items.iter().filter_map(|s| RepoSecret::from_secret(s).ok()).collect() },
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "cannot list repository secrets; going without");
                Secrets::default()
            }
        }
    }

    fn find(&self, url: &str) -> Option<&RepoSecret> {
        let wanted = key(url);
        self.repos
            .iter()
            .filter(|candidate| {
                let prefix = key(&candidate.url);
                wanted == prefix || wanted.starts_with(&format!("{prefix}/"))
            })
            .max_by_key(|candidate| candidate.url.len())
    }

    /// Credentials for a git remote.
    pub(crate) fn git(&self, url: &str) -> Option<source::Credentials> {
        self.find(url).map(|secret| source::Credentials {
            username: secret.username.clone(),
            password: secret.password.clone(),
            ssh_private_key: secret.ssh_private_key.clone(),
            insecure_ignore_host_key: secret.insecure_ignore_host_key,
        })
    }

    /// Credentials for a registry or chart repository.
    pub(crate) fn registry(&self, url: &str) -> Option<warehouse::RegistryCredentials> {
        let secret = self.find(url)?;
        let password = secret.password.clone()?;
        Some(warehouse::RegistryCredentials { username: secret.username.clone(), password })
    }
}

impl steps::GitCredentials for Secrets {
    fn credentials(&self, repo_url: &str) -> Option<source::Credentials> {
        self.git(repo_url)
    }
}

/// A URL without scheme `oci://`, in the form credentials are matched by.
fn key(url: &str) -> String {
    source::normalize_url(url.trim().trim_start_matches("oci://"))
}
