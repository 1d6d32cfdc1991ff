//! When to fetch which repo, and with which credentials.
//!
//! A repo is fetched when it was never fetched, when its last fetch is older
//! than the poll interval, or when a webhook or a hard refresh marked it
//! stale. One fetch per repo at a time: the 1,000 apps of a monorepo share
//! one `git fetch`, and only the app that fetched re-queues the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use application::secrets::{RepoSecret, SECRET_TYPE_LABEL};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use source::{Credentials, GitCache, SourceError};
use tokio::sync::{oneshot, watch};

use crate::Metrics;

/// How long a fetch waits for the first list of repository Secrets.
const SECRETS_WAIT: Duration = Duration::from_secs(10);

/// The fetch state of every repo apps use.
pub(crate) struct Repos {
    git: GitCache,
    /// Repository Secrets, watched: a fetch never waits on an API list.
    secrets: Store<Secret>,
    _stop_secrets: oneshot::Sender<()>,
    poll: Duration,
    metrics: Arc<Metrics>,
    state: Mutex<HashMap<String, Arc<tokio::sync::Mutex<RepoState>>>>,
}

#[derive(Default)]
struct RepoState {
    fetched_at: Option<Instant>,
    /// When the last fetch started.
    started_at: Option<Instant>,
    stale: bool,
    /// The last fetch's error, reported until the next attempt.
    error: Option<String>,
    /// Revisions resolved since the last fetch: resolving opens the mirror,
    /// which is the most expensive step of a no-op refresh otherwise.
    resolved: HashMap<String, String>,
}

/// Whether a reconcile may use the mirror as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Fetch only when due.
    WhenDue,
    /// Fetch unless a fetch started at or after this instant (a refresh: it
    /// sees every commit pushed before it was asked for, while a burst of
    /// refreshes waiting on the same repo shares one fetch).
    StartedAfter(Instant),
}

/// What [`Repos::ensure_fresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// Nothing new: the mirror was fresh, or the fetch moved no revision in use.
    No,
    /// This call fetched and something moved; the repo's other apps should be re-queued.
    Yes,
}

impl Repos {
    pub(crate) fn new(
        git: GitCache,
        client: Client,
        poll: Duration,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let api: Api<Secret> = Api::namespaced(client, application::NAMESPACE);
        let config = watcher::Config::default().labels(&format!("{SECRET_TYPE_LABEL}=repository"));
        let (secrets, writer) = reflector::store();
        let (stop_secrets, stopped) = oneshot::channel();
        tokio::spawn(crate::clusters::watch_secrets(
            reflector::reflector(writer, watcher(api, config)).default_backoff(),
            stopped,
            shutdown,
        ));
        Repos { git, secrets, _stop_secrets: stop_secrets, poll, metrics, state: Mutex::new(HashMap::new()) }
    }

    fn entry(&self, repo: &str) -> Arc<tokio::sync::Mutex<RepoState>> {
        let mut state = self.state.lock().unwrap_or_else(|poison| poison.into_inner());
        state.entry(source::normalize_url(repo)).or_default().clone()
    }

    /// Marks `repo` (normalised URL) for a fetch at its next use.
    pub(crate) async fn mark_stale(&self, repo: &str) {
        self.entry(repo).lock().await.stale = true;
    }

    /// Fetches `repo` if it is due; returns the last fetch error when the
    /// repo could not be reached (until the next attempt is due).
    pub(crate) async fn ensure_fresh(&self, repo: &str, freshness: Freshness) -> Result<Fetched, String> {
        let entry = self.entry(repo);
        let mut state = entry.lock().await;
        let due = match (state.fetched_at, freshness) {
            (None, _) => true,
            (Some(_), Freshness::StartedAfter(asked)) => state.stale || state.started_at.is_none_or(|s| s < asked),
            (Some(at), Freshness::WhenDue) => state.stale || at.elapsed() >= self.poll,
        };
        if !due {
            return match &state.error {
                Some(error) => Err(error.clone()),
                None => Ok(Fetched::No),
            };
        }
        let credentials = self.credentials(repo).await;
        let started = Instant::now();
        state.started_at = Some(started);
        let result = self.git.fetch(repo, credentials.as_ref()).await;
        self.metrics.observe_fetch(started.elapsed(), result.is_ok());
        state.fetched_at = Some(Instant::now());
        state.stale = false;
        let before = std::mem::take(&mut state.resolved);
        match result {
            Ok(()) => {
                state.error = None;
                // Re-queue the repo's other apps only when a revision they
                // use moved: a poll or refresh that brings nothing new must
                // not wake a thousand apps.
                let mut moved = before.is_empty();
                for (revision, sha) in before {
                    match self.git.resolve(repo, &revision).await {
                        Ok(now) => {
                            moved |= now != sha;
                            state.resolved.insert(revision, now);
                        }
                        Err(_) => moved = true,
                    }
                }
                Ok(if moved { Fetched::Yes } else { Fetched::No })
            }
            Err(error) => {
                let message = crate::error_chain(&error);
                state.error = Some(message.clone());
                Err(message)
            }
        }
    }

    /// The commit `revision` names in the mirror.
    pub(crate) async fn resolve(&self, repo: &str, revision: &str) -> Result<String, SourceError> {
        let entry = self.entry(repo);
        let mut state = entry.lock().await;
        if let Some(sha) = state.resolved.get(revision) {
            return Ok(sha.clone());
        }
        let sha = self.git.resolve(repo, revision).await?;
        state.resolved.insert(revision.to_owned(), sha.clone());
        Ok(sha)
    }

    /// The git object id at each of `paths` in commit `sha` (none where a
    /// path does not exist), read from the mirror without a checkout.
    pub(crate) async fn path_ids(
        &self,
        repo: &str,
        sha: &str,
        paths: &[String],
    ) -> Result<Vec<Option<String>>, SourceError> {
        self.git.path_ids(repo, sha, paths).await
    }

    /// The snapshot directory of `sha`.
    pub(crate) async fn checkout(&self, repo: &str, sha: &str) -> Result<std::path::PathBuf, SourceError> {
        self.git.checkout(repo, sha).await
    }

    /// Credentials from the repository Secrets whose URL matches `repo`
    /// exactly or as a prefix (longest wins), as Argo CD's credential
    /// templates do. Unreadable Secrets are skipped: they cannot be used, and
    /// a public repo must still work.
    pub(crate) async fn credentials(&self, repo: &str) -> Option<Credentials> {
        if tokio::time::timeout(SECRETS_WAIT, self.secrets.wait_until_ready()).await.is_err() {
            tracing::warn!("no list of repository secrets yet; fetching without credentials");
        }
        let list = self.secrets.state();
        let wanted = source::normalize_url(repo);
        list.iter()
            .filter_map(|secret| RepoSecret::from_secret(secret).ok())
            .filter(|candidate| {
                let url = source::normalize_url(&candidate.url);
                wanted == url || wanted.starts_with(&format!("{url}/"))
            })
            .max_by_key(|candidate| candidate.url.len())
            .map(|secret| Credentials {
                username: secret.username,
                password: secret.password,
                ssh_private_key: secret.ssh_private_key,
                insecure_ignore_host_key: secret.insecure_ignore_host_key,
            })
    }
}
