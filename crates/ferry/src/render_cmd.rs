//! `ferry render`: the manifests the controller would apply for a local
//! directory, rendered offline with the same detection, engine and options;
//! also a committed revision of its repository (`--revision`, `--repo`), and
//! the hydrated diff between a revision and the working tree
//! (`--diff-against`).

mod compare;
mod revision;

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use application::{
    ApplicationSource, DirectorySource, HelmFileParameter, HelmParameter, HelmSource, JsonnetSource, JsonnetVar,
    KustomizeReplica, KustomizeSource, PluginEnv, PluginSource,
};
use clap::Args;

use crate::cli::{self, Format};
use revision::Repository;

/// Arguments of `ferry render`.
#[derive(Args)]
pub struct RenderArgs {
    /// The app's directory (its `spec.source.path` is this, relative to the repository root);
    /// with --repo, the app's path inside that repository
    path: PathBuf,
    /// The repository root (default: the nearest directory above PATH holding `.git`)
    #[arg(long, value_name = "DIR", conflicts_with = "repo")]
    repo_root: Option<PathBuf>,
    /// Render this committed revision instead of the working tree: a branch, tag or commit
    /// (of the local repository, anything git understands, such as HEAD~1)
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// The repository to render from (default: the local repository holding PATH);
    /// without --revision, its default branch
    #[arg(long, value_name = "URL")]
    repo: Option<String>,
    /// Print the hydrated diff from revision REV to PATH as it is now (or to --revision);
    /// exits 1 when there are differences, 0 when none
    #[arg(long, value_name = "REV")]
    diff_against: Option<String>,
    /// Kustomize image override (`name=newName:tag`, `name:tag`, `name@digest`); repeatable
    #[arg(long = "kustomize-image", value_name = "IMAGE")]
    kustomize_images: Vec<String>,
    /// Kustomize name prefix
    #[arg(long, value_name = "PREFIX")]
    kustomize_name_prefix: Option<String>,
    /// Kustomize name suffix
    #[arg(long, value_name = "SUFFIX")]
    kustomize_name_suffix: Option<String>,
    /// Kustomize namespace
    #[arg(long, value_name = "NAMESPACE")]
    kustomize_namespace: Option<String>,
    /// Kustomize common label; repeatable
    #[arg(long = "kustomize-common-label", value_name = "KEY=VALUE")]
    kustomize_common_labels: Vec<String>,
    /// Kustomize common annotation; repeatable
    #[arg(long = "kustomize-common-annotation", value_name = "KEY=VALUE")]
    kustomize_common_annotations: Vec<String>,
    /// Kustomize replica count override; repeatable
    #[arg(long = "kustomize-replicas", value_name = "NAME=COUNT")]
    kustomize_replicas: Vec<String>,
    /// Kustomize component (relative to PATH); repeatable
    #[arg(long = "kustomize-component", value_name = "DIR")]
    kustomize_components: Vec<String>,
    /// Read subdirectories of a plain directory app
    #[arg(long)]
    directory_recurse: bool,
    /// Glob of files to read in a directory app
    #[arg(long, value_name = "GLOB")]
    directory_include: Option<String>,
    /// Glob of files to skip in a directory app (wins over --directory-include)
    #[arg(long, value_name = "GLOB")]
    directory_exclude: Option<String>,
    /// Jsonnet top-level argument (a string); repeatable
    #[arg(long = "jsonnet-tla", value_name = "KEY=VALUE")]
    jsonnet_tlas: Vec<String>,
    /// Jsonnet top-level argument (Jsonnet code); repeatable
    #[arg(long = "jsonnet-tla-code", value_name = "KEY=CODE")]
    jsonnet_tla_codes: Vec<String>,
    /// Jsonnet external variable (a string); repeatable
    #[arg(long = "jsonnet-ext-var", value_name = "KEY=VALUE")]
    jsonnet_ext_vars: Vec<String>,
    /// Jsonnet external variable (Jsonnet code); repeatable
    #[arg(long = "jsonnet-ext-var-code", value_name = "KEY=CODE")]
    jsonnet_ext_var_codes: Vec<String>,
    /// Jsonnet library path (relative to the repository root); repeatable
    #[arg(long = "jsonnet-lib", value_name = "DIR")]
    jsonnet_libs: Vec<String>,
    /// Helm values file (relative to the chart); repeatable, merged in order
    #[arg(long = "helm-values", value_name = "FILE")]
    helm_values: Vec<String>,
    /// Helm value (`--set`); repeatable
    #[arg(long = "helm-set", value_name = "KEY=VALUE")]
    helm_set: Vec<String>,
    /// Helm value kept a string (`--set-string`); repeatable
    #[arg(long = "helm-set-string", value_name = "KEY=VALUE")]
    helm_set_string: Vec<String>,
    /// Helm value read from a file in the repository (`--set-file`); repeatable
    #[arg(long = "helm-set-file", value_name = "KEY=PATH")]
    helm_set_file: Vec<String>,
    /// Helm release name (default: --app-name)
    #[arg(long, value_name = "NAME")]
    helm_release_name: Option<String>,
    /// Kubernetes version the chart sees (.Capabilities.KubeVersion)
    #[arg(long, value_name = "VERSION")]
    helm_kube_version: Option<String>,
    /// API version the chart sees in .Capabilities.APIVersions; repeatable
    #[arg(long = "helm-api-versions", value_name = "GROUP/VERSION")]
    helm_api_versions: Vec<String>,
    /// Leave out the chart's CRDs
    #[arg(long)]
    helm_skip_crds: bool,
    /// Treat missing Helm values files as empty
    #[arg(long)]
    helm_ignore_missing_value_files: bool,
    /// Config-management plugins (a file or directory of ConfigManagementPlugin documents),
    /// as given to the controller
    #[arg(long, env = "FERRY_PLUGINS", value_name = "PATH")]
    plugins: Option<PathBuf>,
    /// Render with this plugin (with --plugins); `discover` picks one by its discovery rules
    #[arg(long, value_name = "NAME")]
    plugin: Option<String>,
    /// Plugin environment variable (passed as ARGOCD_ENV_KEY); repeatable
    #[arg(long = "plugin-env", value_name = "KEY=VALUE")]
    plugin_env: Vec<String>,
    /// The app's name, as the controller passes it to Helm (release name) and plugins
    #[arg(long, value_name = "NAME", default_value = "app")]
    app_name: String,
    /// The destination namespace, as the controller passes it to Helm and plugins
    #[arg(long = "dest-namespace", value_name = "NAMESPACE", default_value = "default")]
    dest_namespace: String,
    /// Output format: multi-document YAML, or a JSON list (not used by --diff-against)
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    output: Format,
}

/// Renders and prints; with `--diff-against`, fails with [`cli::Exit`]`(1)`
/// after printing when there are differences.
pub fn run(args: &RenderArgs) -> Result<()> {
    let location = locate(args)?;
    let source = source_of(args, location.app_path.clone())?;
    let shown = args.path.display().to_string();
    let engine = Engine {
        app: render::AppInfo {
            name: args.app_name.clone(),
            namespace: args.dest_namespace.clone(),
            revision: String::new(),
            repo_url: args.repo.clone().unwrap_or_default(),
            // Offline: no cluster to ask; `--helm-kube-version` and
            // `--helm-api-versions` stand in for it.
            ..render::AppInfo::default()
        },
        tools: render::Toolbox::new(
            render::HelmTools::default(),
            match &args.plugins {
                Some(path) => render::Plugins::load(path).context("invalid --plugins")?,
                None => render::Plugins::default(),
            },
        ),
    };
    let mut repository = match (&args.repo, &location.checkout) {
        (Some(url), _) => Some(Repository::open(url.clone(), None)?),
        (None, Some(root)) if args.revision.is_some() || args.diff_against.is_some() => {
            let root_text = root.to_str().context("the repository path is not UTF-8")?;
            Some(Repository::open(format!("file://{root_text}"), Some(root.clone()))?)
        }
        (None, _) => None,
    };

    // The side printed, or compared with the base: the working tree unless
    // a revision (or another repository) is asked for.
    let (current, current_label) = match (&mut repository, &location.checkout) {
        (Some(repo), _) if args.revision.is_some() || args.repo.is_some() => {
            let revision = args.revision.as_deref().unwrap_or("HEAD");
            (render_revision(repo, revision, &source, &engine, &shown, Missing::Fail)?, revision.to_owned())
        }
        (_, Some(root)) => (render_tree(root, &source, &engine, "", &shown)?, "working tree".to_owned()),
        (_, None) => bail!("nothing to render: pass --revision or a local PATH"),
    };

    let Some(base) = &args.diff_against else {
        let objects: Vec<&serde_json::Value> = current.iter().collect();
        print!("{}", format_output(&objects, args.output)?);
        return Ok(());
    };
    let Some(repo) = &mut repository else { bail!("--diff-against needs a git repository") };
    // An app that did not exist at the base is all additions.
    let before = render_revision(repo, base, &source, &engine, &shown, Missing::Empty)?;
    let text = compare::hydrated_diff(&before, &current, &compare::Labels { old: base, new: &current_label });
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("cannot write the diff")?;
    if text.is_empty() { Ok(()) } else { Err(cli::Exit(1).into()) }
}

/// The app as the controller would describe it to the tools, and the tools.
struct Engine {
    app: render::AppInfo,
    tools: render::Toolbox,
}

/// What to do when the app's path does not exist at a revision.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Report it, as the controller would.
    Fail,
    /// Render nothing (the base of a diff that adds the app).
    Empty,
}

/// The objects of the app in the directory tree at `root`.
fn render_tree(
    root: &Path,
    source: &ApplicationSource,
    engine: &Engine,
    revision: &str,
    shown: &str,
) -> Result<Vec<serde_json::Value>> {
    let detected = render::detect(root, source).with_context(|| format!("cannot render {shown}"))?;
    let app = render::AppInfo { revision: revision.to_owned(), ..engine.app.clone() };
    let rendered = render::render(root, &source.path, &detected, &app, &engine.tools)
        .with_context(|| format!("cannot render {shown}"))?;
    Ok(rendered.manifests.into_iter().map(|m| m.object).collect())
}

/// The objects of the app at `revision` of the repository.
fn render_revision(
    repo: &mut Repository,
    revision: &str,
    source: &ApplicationSource,
    engine: &Engine,
    shown: &str,
    missing: Missing,
) -> Result<Vec<serde_json::Value>> {
    let root =
        repo.snapshot(revision).with_context(|| format!("cannot read revision {revision:?} of {}", repo.url()))?;
    if missing == Missing::Empty && std::fs::symlink_metadata(root.join(&source.path)).is_err() {
        return Ok(Vec::new());
    }
    render_tree(&root, source, engine, revision, &format!("{shown} at revision {revision:?}"))
}

/// The documents as the chosen format; YAML has one `---`-led document per object.
fn format_output(objects: &[&serde_json::Value], format: Format) -> Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(objects).context("cannot encode JSON")? + "\n"),
        Format::Yaml => {
            let mut out = String::new();
            for object in objects {
                out.push_str("---\n");
                out.push_str(&serde_saphyr::to_string(object).context("cannot encode YAML")?);
            }
            Ok(out)
        }
    }
}

/// Where the app is.
struct Location {
    /// The local repository root holding PATH (none with --repo).
    checkout: Option<PathBuf>,
    /// The app's path relative to the repository root, `/`-separated.
    app_path: String,
}

/// The repository root and the app's path in it.
fn locate(args: &RenderArgs) -> Result<Location> {
    if args.repo.is_some() {
        return Ok(Location { checkout: None, app_path: path_in_repository(&args.path)? });
    }
    let dir = std::fs::canonicalize(&args.path).with_context(|| format!("cannot open {}", args.path.display()))?;
    if !dir.is_dir() {
        bail!("{} is not a directory", args.path.display());
    }
    let root = match &args.repo_root {
        Some(root) => std::fs::canonicalize(root).with_context(|| format!("cannot open {}", root.display()))?,
        None => repository_root(&dir)
            .with_context(|| format!("no .git found above {}; pass --repo-root", args.path.display()))?,
    };
    let Ok(inside) = dir.strip_prefix(&root) else {
        bail!("{} is not inside the repository root {}", args.path.display(), root.display());
    };
    let app_path = inside
        .components()
        .map(|c| c.as_os_str().to_str().context("the path is not UTF-8"))
        .collect::<Result<Vec<_>>>()?
        .join("/");
    Ok(Location { checkout: Some(root), app_path })
}

/// PATH as a path inside a repository given by URL: `/`-separated, no `.`
/// segments. `..` is kept so the render refuses it as escaping the repository.
fn path_in_repository(path: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().context("the path is not UTF-8")?),
            Component::ParentDir => parts.push(".."),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                bail!("with --repo, PATH is the app's path inside the repository, not {}", path.display())
            }
        }
    }
    Ok(parts.join("/"))
}

/// The app's source as the controller would see it.
fn source_of(args: &RenderArgs, path: String) -> Result<ApplicationSource> {
    let kustomize = KustomizeSource {
        name_prefix: args.kustomize_name_prefix.clone(),
        name_suffix: args.kustomize_name_suffix.clone(),
        images: args.kustomize_images.clone(),
        replicas: args
            .kustomize_replicas
            .iter()
            .map(|r| {
                let (name, count) = pair(r, "--kustomize-replicas")?;
                let count =
                    count.parse().with_context(|| format!("--kustomize-replicas {r}: count is not a number"))?;
                Ok(KustomizeReplica { name, count })
            })
            .collect::<Result<_>>()?,
        common_labels: args
            .kustomize_common_labels
            .iter()
            .map(|l| pair(l, "--kustomize-common-label"))
            .collect::<Result<_>>()?,
        common_annotations: args
            .kustomize_common_annotations
            .iter()
            .map(|a| pair(a, "--kustomize-common-annotation"))
            .collect::<Result<_>>()?,
        namespace: args.kustomize_namespace.clone(),
        patches: Vec::new(),
        components: args.kustomize_components.clone(),
    };
    let vars = |plain: &[String], code: &[String], flag: &str| -> Result<Vec<JsonnetVar>> {
        let mut vars = Vec::new();
        for (items, is_code) in [(plain, false), (code, true)] {
            for item in items {
                let (name, value) = pair(item, flag)?;
                vars.push(JsonnetVar { name, value, code: is_code });
            }
        }
        Ok(vars)
    };
    let jsonnet = JsonnetSource {
        ext_vars: vars(&args.jsonnet_ext_vars, &args.jsonnet_ext_var_codes, "--jsonnet-ext-var")?,
        tlas: vars(&args.jsonnet_tlas, &args.jsonnet_tla_codes, "--jsonnet-tla")?,
        libs: args.jsonnet_libs.clone(),
    };
    let directory = DirectorySource {
        recurse: args.directory_recurse,
        include: args.directory_include.clone(),
        exclude: args.directory_exclude.clone(),
        jsonnet: (jsonnet != JsonnetSource::default()).then_some(jsonnet),
    };
    let mut parameters = Vec::new();
    for (items, force_string) in [(&args.helm_set, false), (&args.helm_set_string, true)] {
        for item in items {
            let (name, value) = pair(item, if force_string { "--helm-set-string" } else { "--helm-set" })?;
            parameters.push(HelmParameter { name, value, force_string });
        }
    }
    let helm = HelmSource {
        value_files: args.helm_values.clone(),
        parameters,
        file_parameters: args
            .helm_set_file
            .iter()
            .map(|item| pair(item, "--helm-set-file").map(|(name, path)| HelmFileParameter { name, path }))
            .collect::<Result<_>>()?,
        release_name: args.helm_release_name.clone(),
        skip_crds: args.helm_skip_crds,
        ignore_missing_value_files: args.helm_ignore_missing_value_files,
        kube_version: args.helm_kube_version.clone(),
        api_versions: args.helm_api_versions.clone(),
        ..HelmSource::default()
    };
    let source = ApplicationSource {
        repo_url: String::new(),
        target_revision: "HEAD".to_owned(),
        path,
        // Only options actually given are set, so detection sees the same
        // spec an Application with these fields would have.
        directory: (directory != DirectorySource::default()).then_some(directory),
        kustomize: (kustomize != KustomizeSource::default()).then_some(kustomize),
        helm: (helm != HelmSource::default()).then_some(helm),
        plugin: match (&args.plugin, args.plugin_env.is_empty()) {
            (None, true) => None,
            (name, _) => Some(PluginSource {
                name: name.clone().filter(|n| n != "discover"),
                env: args
                    .plugin_env
                    .iter()
                    .map(|item| pair(item, "--plugin-env").map(|(name, value)| PluginEnv { name, value }))
                    .collect::<Result<_>>()?,
                parameters: Vec::new(),
            }),
        },
        ..ApplicationSource::default()
    };
    Ok(source)
}

/// `KEY=VALUE` → its two halves.
fn pair(text: &str, flag: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => bail!("{flag} {text}: expected KEY=VALUE"),
    }
}

/// The nearest directory at or above `dir` that holds `.git`.
fn repository_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}
