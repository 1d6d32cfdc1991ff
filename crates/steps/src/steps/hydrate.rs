//! `hydrate`: render the dry source into plain manifests.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use source::worktree::Worktree;

use crate::steps::outputs;
use crate::steps::yaml::write_atomically;
use crate::{StepContext, StepError, StepOutcome, inside_workdir};

/// The rendered objects, as multi-document YAML.
pub(crate) const MANIFEST_FILE: &str = "manifest.yaml";

/// What the output was rendered from.
pub(crate) const METADATA_FILE: &str = "hydrator.metadata";

/// `hydrate` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HydrateConfig {
    /// The dry repository's worktree (from git-clone), relative to the working directory.
    source_path: String,
    /// The app's directory inside it (default: its root).
    #[serde(default)]
    path: String,
    /// The output directory, relative to the working directory.
    out_path: String,
    /// How to render, as an Application's `spec.source` says (default: detected from the files).
    #[serde(default)]
    source: Option<RenderSource>,
    /// The app the render is for (Helm's release name and namespace).
    #[serde(default)]
    app: Option<AppConfig>,
}

/// The tool fields of an Application's `spec.source`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RenderSource {
    #[serde(default)]
    directory: Option<application::DirectorySource>,
    #[serde(default)]
    kustomize: Option<application::KustomizeSource>,
    #[serde(default)]
    helm: Option<application::HelmSource>,
    #[serde(default)]
    plugin: Option<application::PluginSource>,
}

/// The app a render is for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppConfig {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

/// **hydrate**: renders the app at `path` of the dry worktree `sourcePath` with the render
/// engine (Kustomize, Helm, Jsonnet, plugins or plain files; `source` as in an Application) and
/// writes `<outPath>/manifest.yaml` (every object, in render order, as multi-document YAML) and
/// `<outPath>/hydrator.metadata` (JSON: the dry SHA, the freight's name and alias, the source
/// commits and the tool versions; no timestamps). Other files in `outPath` are left alone.
///
/// Outputs: `drySha` (the dry worktree's HEAD) and `changed` (whether either file changed).
///
/// Idempotency: the same inputs give byte-identical files, so a re-run changes nothing.
pub(crate) async fn hydrate(config: HydrateConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let repo_root = inside_workdir(ctx.workdir, &config.source_path)?;
    let out_dir = inside_workdir(ctx.workdir, &config.out_path)?;
    let tree = Worktree::open(ctx.git, &repo_root).await.map_err(|e| {
        StepError::failed(format!("hydrate: {:?} is not a worktree made by git-clone: {e}", config.source_path))
    })?;
    let dry_sha = tree
        .head()
        .await?
        .ok_or_else(|| StepError::failed(format!("hydrate: {:?} has no commit to render", config.source_path)))?;
    let tools = config.source.unwrap_or_default();
    let app = config.app.unwrap_or_default();
    let spec = application::ApplicationSource {
        repo_url: tree.repo_url().to_owned(),
        target_revision: dry_sha.clone(),
        path: config.path.clone(),
        directory: tools.directory,
        kustomize: tools.kustomize,
        helm: tools.helm,
        plugin: tools.plugin,
        chart: None,
    };
    let info = render::AppInfo {
        name: if app.name.is_empty() { ctx.stage.to_owned() } else { app.name },
        namespace: app.namespace,
        revision: dry_sha.clone(),
        repo_url: tree.repo_url().to_owned(),
        kube_version: None,
        api_versions: Vec::new(),
    };
    let toolbox = ctx.toolbox.clone();
    let root = repo_root.clone();
    let app_path = config.path.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let source = render::detect(&root, &spec)?;
        render::render(&root, &app_path, &source, &info, &toolbox)
    })
    .await
    .map_err(|e| StepError::Transient { message: format!("hydrate: {e}") })??;

    let mut manifest = String::new();
    for object in &rendered.manifests {
        let yaml = serde_saphyr::to_string(&object.object)
            .map_err(|e| StepError::failed(format!("hydrate: cannot encode {} as YAML: {e}", object.file)))?;
        manifest.push_str("---\n");
        manifest.push_str(&yaml);
        if !yaml.ends_with('\n') {
            manifest.push('\n');
        }
    }
    let metadata = metadata(ctx, &dry_sha, &config.path, tree.repo_url(), &rendered.tools);
    let mut metadata_text = serde_json::to_string_pretty(&metadata)
        .map_err(|e| StepError::failed(format!("hydrate: cannot encode metadata: {e}")))?;
    metadata_text.push('\n');

    tokio::fs::create_dir_all(&out_dir).await.map_err(|e| StepError::io(format!("create {:?}", config.out_path), e))?;
    let mut changed = false;
    for (name, bytes) in [(MANIFEST_FILE, manifest.as_bytes()), (METADATA_FILE, metadata_text.as_bytes())] {
        let file = out_dir.join(name);
        let before = tokio::fs::read(&file).await.ok();
        if before.as_deref() != Some(bytes) {
            changed = true;
            write_atomically(&file, bytes)
                .await
                .map_err(|e| StepError::io(format!("write {}/{name}", config.out_path), e))?;
        }
    }
    Ok(StepOutcome::succeeded(outputs([("drySha", Value::String(dry_sha)), ("changed", Value::Bool(changed))])))
}

fn metadata(
    ctx: &StepContext<'_>,
    dry_sha: &str,
    path: &str,
    repo_url: &str,
    tools: &BTreeMap<String, String>,
) -> Value {
    let commits: Vec<Value> =
        ctx.freight.spec.commits.iter().map(|c| json!({ "repoURL": c.repo_url, "id": c.id })).collect();
    json!({
        "drySha": dry_sha,
        "repoURL": repo_url,
        "path": path,
        "freight": {
            "name": ctx.freight.metadata.name.clone().unwrap_or_default(),
            "alias": ctx.freight.spec.alias,
        },
        "sourceCommits": commits,
        "tools": tools,
    })
}
