//! Charts from Helm repositories (`spec.source.chart`): an HTTP chart
//! repository (`https://…` serving `index.yaml`) or an OCI registry
//! (`oci://host/path`, or `host/path` without a scheme, as Argo CD writes
//! it). Each (repository, chart, version) is pulled once into the data
//! directory and reused across reconciles and restarts: a published chart
//! version does not change. Pulls of the same chart share one download.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// One pull's outcome: the chart's directory, or why it failed.
type Pulled = Arc<OnceCell<Result<PathBuf, String>>>;

/// Pulled charts under `<data dir>/charts`.
pub(crate) struct Charts {
    dir: PathBuf,
    tools: Arc<render::Toolbox>,
    pulls: Mutex<HashMap<String, Pulled>>,
}

impl Charts {
    pub(crate) fn new(dir: PathBuf, tools: Arc<render::Toolbox>) -> Self {
        Charts { dir, tools, pulls: Mutex::new(HashMap::new()) }
    }

    /// The directory of `chart` at `version` from the repository `repo`,
    /// pulled if not yet on disk. Failures are not remembered: the next
    /// reconcile tries again.
    pub(crate) async fn pull(
        &self,
        repo: &str,
        chart: &str,
        version: &str,
        credentials: Option<source::Credentials>,
    ) -> Result<PathBuf, String> {
        let id = hex(&Sha256::digest(format!("{}\n{chart}\n{version}", source::normalize_url(repo))));
        let target = self.dir.join(&id);
        let cell = {
            let mut pulls = self.pulls.lock().unwrap_or_else(|poison| poison.into_inner());
            pulls.entry(id.clone()).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| async {
                // Argo CD writes OCI repositories without a scheme.
                let repo_url = if repo.contains("://") { repo.to_owned() } else { format!("oci://{repo}") };
                let request = render::ChartPull {
                    repo_url,
                    chart: chart.to_owned(),
                    version: version.to_owned(),
                    username: credentials.as_ref().and_then(|c| c.username.clone()),
                    password: credentials.as_ref().and_then(|c| c.password.clone()),
                };
                let tools = self.tools.clone();
                let root = self.dir.clone();
                tokio::task::spawn_blocking(move || pull_into(&root, &target, &request, &tools))
                    .await
                    .map_err(|join| format!("chart pull task failed: {join}"))
                    .and_then(|result| result)
            })
            .await
            .clone();
        if outcome.is_err() {
            self.pulls.lock().unwrap_or_else(|poison| poison.into_inner()).remove(&id);
        }
        outcome
    }
}

/// Pulls into a temporary directory beside `target` and renames it into
/// place, so a crash half-way leaves no half chart that a later run trusts.
fn pull_into(
    root: &Path,
    target: &Path,
    request: &render::ChartPull,
    tools: &render::Toolbox,
) -> Result<PathBuf, String> {
    let shown = format!("chart {:?} version {:?} from {}", request.chart, request.version, request.repo_url);
    if let Some(dir) = chart_dir(target) {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).map_err(|error| format!("create {}: {error}", root.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(root)
        .map_err(|error| format!("create a scratch directory in {}: {error}", root.display()))?;
    render::pull_chart(&tools.helm, request, scratch.path())
        .map_err(|error| format!("pull {shown}: {}", crate::error_chain(&error)))?;
    let pulled = scratch.keep();
    match std::fs::rename(&pulled, target) {
        Ok(()) => {}
        // Another process put it there first: theirs is as good as ours.
        Err(_) if chart_dir(target).is_some() => {
            let _ = std::fs::remove_dir_all(&pulled);
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&pulled);
            return Err(format!("store {shown}: {error}"));
        }
    }
    chart_dir(target).ok_or_else(|| format!("pull {shown}: no Chart.yaml in the downloaded chart"))
}

/// The one chart directory (holding `Chart.yaml`) inside `dir`, if any.
fn chart_dir(dir: &Path) -> Option<PathBuf> {
    if dir.join("Chart.yaml").is_file() {
        return Some(dir.to_owned());
    }
    std::fs::read_dir(dir).ok()?.flatten().map(|entry| entry.path()).find(|path| path.join("Chart.yaml").is_file())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
