//! The plugin config: Argo CD's `ConfigManagementPlugin` documents, so a
//! sidecar's `plugin.yaml` works here unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

use super::{Discover, FileModes, Plugin, PluginConfigError, ProgramSpec};

/// API groups accepted in `apiVersion`: Argo CD's, so files port unchanged,
/// and ferry's own.
const API_VERSIONS: [&str; 2] = ["argoproj.io/v1alpha1", "ferry.dev/v1alpha1"];

const KIND: &str = "ConfigManagementPlugin";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Spec,
}

/// Only the name matters; labels and the like are allowed and ignored.
#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: String,
}

// Unknown fields are refused so a typo (`generat:`) is an error rather than
// a plugin that silently does nothing; every field Argo CD's sidecar format
// has is accepted, and those ferry has no use for are ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    version: String,
    init: Option<CommandDoc>,
    generate: Option<CommandDoc>,
    discover: Option<DiscoverDoc>,
    #[serde(default)]
    preserve_file_mode: bool,
    /// Argo CD's parameter announcements for its UI: ignored.
    #[serde(default, rename = "parameters")]
    _parameters: Option<serde_json::Value>,
    /// Argo CD's repository locking: renders here always use a private copy.
    #[serde(default, rename = "allowConcurrency")]
    _allow_concurrency: Option<bool>,
    #[serde(default, rename = "lockRepo")]
    _lock_repo: Option<bool>,
    /// Argo CD's git credential passing: ferry never gives plugins credentials.
    #[serde(default, rename = "provideGitCreds")]
    _provide_git_creds: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CommandDoc {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DiscoverDoc {
    #[serde(default)]
    file_name: String,
    find: Option<FindDoc>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FindDoc {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    glob: String,
}

/// Parses every document of `text` (named `file` in errors) into plugins, in
/// document order, refusing duplicate names.
pub(super) fn parse(text: &str, file: &str) -> Result<Vec<Plugin>, PluginConfigError> {
    let documents: Vec<Document> = serde_saphyr::from_multiple(text)
        .map_err(|e| PluginConfigError::Parse { file: file.to_owned(), message: e.to_string() })?;
    let mut plugins = Vec::with_capacity(documents.len());
    for (index, document) in documents.into_iter().enumerate() {
        plugins.push(plugin(document, file, index)?);
    }
    Ok(plugins)
}

/// Reads a config file, or every `*.yaml`/`*.yml` file directly in a
/// directory (in name order), and checks names are unique across all of them.
pub(super) fn load(path: &Path) -> Result<Vec<Plugin>, PluginConfigError> {
    let shown = path.display().to_string();
    let read_error = |source| PluginConfigError::Read { path: shown.clone(), source };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    let files = if metadata.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let entry_path = entry.path();
            let is_yaml = entry_path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if is_yaml && entry_path.is_file() {
                files.push(entry_path);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut plugins = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text =
            std::fs::read_to_string(&file).map_err(|source| PluginConfigError::Read { path: shown.clone(), source })?;
        plugins.extend(parse(&text, &shown)?);
    }
    check_unique(&plugins)?;
    Ok(plugins)
}

/// Refuses two plugins with the same (versioned) name: selection by name
/// would be ambiguous.
pub(super) fn check_unique(plugins: &[Plugin]) -> Result<(), PluginConfigError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for plugin in plugins {
        if let Some(first) = seen.insert(&plugin.name, &plugin.file) {
            return Err(PluginConfigError::Duplicate {
                name: plugin.name.clone(),
                first: first.to_owned(),
                second: plugin.file.clone(),
            });
        }
    }
    Ok(())
}

fn plugin(document: Document, file: &str, index: usize) -> Result<Plugin, PluginConfigError> {
    let name = document.metadata.name.trim().to_owned();
    let invalid = |message: String| PluginConfigError::Invalid {
        file: file.to_owned(),
        document: index,
        plugin: name.clone(),
        message,
    };
    if !API_VERSIONS.contains(&document.api_version.as_str()) {
        return Err(invalid(format!(
            "apiVersion must be one of {}, found {:?}",
            API_VERSIONS.join(", "),
            document.api_version
        )));
    }
    if document.kind != KIND {
        return Err(invalid(format!("kind must be {KIND}, found {:?}", document.kind)));
    }
    if name.is_empty() {
        return Err(invalid("metadata.name is required".to_owned()));
    }
    let spec = document.spec;
    let generate = match spec.generate {
        Some(command) => program(command.command, command.args).map_err(|m| invalid(format!("spec.generate: {m}")))?,
        None => return Err(invalid("spec.generate.command is required".to_owned())),
    };
    let init = spec
        .init
        .map(|command| program(command.command, command.args))
        .transpose()
        .map_err(|m| invalid(format!("spec.init: {m}")))?;
    let discover = discover(spec.discover).map_err(invalid)?;
    let version = spec.version.trim();
    // Argo CD names a versioned plugin `name-version`; apps refer to it so.
    let full_name = if version.is_empty() { name.clone() } else { format!("{name}-{version}") };
    Ok(Plugin {
        name: full_name,
        file: file.to_owned(),
        init,
        generate,
        discover,
        modes: if spec.preserve_file_mode { FileModes::Preserve } else { FileModes::Normalize },
    })
}

fn program(command: Vec<String>, args: Vec<String>) -> Result<ProgramSpec, String> {
    match command.first() {
        None => Err("command is required".to_owned()),
        Some(first) if first.trim().is_empty() => Err("command must start with a program".to_owned()),
        Some(_) if command.iter().chain(&args).any(|arg| arg.contains('\0')) => {
            Err("command and args must not contain NUL characters".to_owned())
        }
        Some(_) => Ok(ProgramSpec { argv: command.into_iter().chain(args).collect() }),
    }
}

/// Argo CD's precedence: `fileName`, then `find.glob`, then `find.command`;
/// no rule means the plugin is used only when an app names it.
fn discover(doc: Option<DiscoverDoc>) -> Result<Discover, String> {
    let Some(doc) = doc else { return Ok(Discover::Never) };
    if !doc.file_name.trim().is_empty() {
        return glob(&doc.file_name, "spec.discover.fileName").map(Discover::Glob);
    }
    let Some(find) = doc.find else { return Ok(Discover::Never) };
    if !find.glob.trim().is_empty() {
        return glob(&find.glob, "spec.discover.find.glob").map(Discover::Glob);
    }
    if find.command.is_empty() && find.args.is_empty() {
        return Ok(Discover::Never);
    }
    program(find.command, find.args).map(Discover::Command).map_err(|m| format!("spec.discover.find: {m}"))
}

/// A discovery glob, relative to the app directory. Absolute patterns and
/// `..` are refused when the config is read, so discovery can never look
/// outside the app. `*` stops at `/` and `**` crosses directories.
fn glob(pattern: &str, field: &str) -> Result<super::DiscoverGlob, String> {
    let trimmed = pattern.trim();
    if trimmed.starts_with('/') {
        return Err(format!("{field} {pattern:?} must be relative to the app directory"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("{field} {pattern:?} must not contain `..`")),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(format!("{field} {pattern:?} matches nothing"));
    }
    let relative = parts.join("/");
    let matcher: GlobMatcher = GlobBuilder::new(&relative)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("{field} {pattern:?}: {e}"))?
        .compile_matcher();
    // Without `**` no match can be deeper than the pattern's own components,
    // which bounds the walk of a large app directory.
    let depth = if parts.iter().any(|p| p.contains("**")) { None } else { Some(parts.len()) };
    Ok(super::DiscoverGlob { pattern: pattern.to_owned(), matcher, depth })
}
