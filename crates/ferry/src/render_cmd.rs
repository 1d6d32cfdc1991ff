//! `ferry render`: the manifests the controller would apply for a local
//! directory, rendered offline with the same detection, engine and options.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use application::{ApplicationSource, DirectorySource, JsonnetSource, JsonnetVar, KustomizeReplica, KustomizeSource};
use clap::Args;

use crate::cli::Format;

/// Arguments of `ferry render`.
#[derive(Args)]
pub struct RenderArgs {
    /// The app's directory (its `spec.source.path` is this, relative to the repository root)
    path: PathBuf,
    /// The repository root (default: the nearest directory above PATH holding `.git`)
    #[arg(long, value_name = "DIR")]
    repo_root: Option<PathBuf>,
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
    /// Output format: multi-document YAML, or a JSON list
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    output: Format,
}

/// Renders and prints.
pub fn run(args: &RenderArgs) -> Result<()> {
    let (root, source) = source_of(args)?;
    let detected = render::detect(&root, &source).with_context(|| format!("cannot render {}", args.path.display()))?;
    let manifests = render::render(&root, &source.path, &detected)
        .with_context(|| format!("cannot render {}", args.path.display()))?;
    let objects: Vec<&serde_json::Value> = manifests.iter().map(|m| &m.object).collect();
    print!("{}", format_output(&objects, args.output)?);
    Ok(())
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

/// The repository root and the app's source as the controller would see it.
fn source_of(args: &RenderArgs) -> Result<(PathBuf, ApplicationSource)> {
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
    let path = inside
        .components()
        .map(|c| c.as_os_str().to_str().context("the path is not UTF-8"))
        .collect::<Result<Vec<_>>>()?
        .join("/");

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
    let source = ApplicationSource {
        repo_url: String::new(),
        target_revision: "HEAD".to_owned(),
        path,
        // Only options actually given are set, so detection sees the same
        // spec an Application with these fields would have.
        directory: (directory != DirectorySource::default()).then_some(directory),
        kustomize: (kustomize != KustomizeSource::default()).then_some(kustomize),
    };
    Ok((root, source))
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
