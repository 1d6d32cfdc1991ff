//! The environment a plugin's commands see: Argo CD's build environment and
//! the app's plugin env and parameters, and nothing of the controller's own
//! (which may hold tokens).

use std::path::Path;

use application::PluginSource;

use crate::{AppInfo, RenderError};

/// PATH for the commands when the controller has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Everything the app gives the plugin, as `(name, value)` pairs in the
/// order they are set (a later pair wins over an earlier one of the same
/// name).
pub(super) fn environment(
    app_path: &str,
    app: &AppInfo,
    source: &PluginSource,
    home: &Path,
) -> Result<Vec<(String, String)>, RenderError> {
    let path = std::env::var("PATH").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| DEFAULT_PATH.to_owned());
    let build = build_env(app_path, app);
    let mut env = vec![("PATH".to_owned(), path), ("HOME".to_owned(), home.display().to_string())];
    env.extend(build.iter().cloned());
    for var in &source.env {
        if var.name.is_empty() {
            return Err(RenderError::InvalidSource {
                message: "spec.source.plugin.env has an entry without a name".to_owned(),
            });
        }
        // Argo CD expands references to the build environment in values, so
        // `$ARGOCD_APP_NAME` works in a plugin env.
        env.push((format!("ARGOCD_ENV_{}", var.name), expand(&var.value, &build)));
    }
    let parameters = serde_json::to_string(&source.parameters)
        .map_err(|e| RenderError::InvalidSource { message: format!("spec.source.plugin.parameters: {e}") })?;
    env.push(("ARGOCD_APP_PARAMETERS".to_owned(), parameters));
    for parameter in &source.parameters {
        let name = format!("PARAM_{}", escape(&parameter.name));
        if let Some(value) = &parameter.string {
            env.push((name.clone(), value.clone()));
        }
        for (index, value) in parameter.array.iter().enumerate() {
            env.push((format!("{name}_{index}"), value.clone()));
        }
        for (key, value) in &parameter.map {
            env.push((format!("{name}_{}", escape(key)), value.clone()));
        }
    }
    for (name, value) in &env {
        check(name, value)?;
    }
    Ok(env)
}

/// Argo CD's build environment for an app.
fn build_env(app_path: &str, app: &AppInfo) -> Vec<(String, String)> {
    let short = |n: usize| app.revision.chars().take(n).collect::<String>();
    [
        ("ARGOCD_APP_NAME", app.name.clone()),
        ("ARGOCD_APP_NAMESPACE", app.namespace.clone()),
        ("ARGOCD_APP_REVISION", app.revision.clone()),
        ("ARGOCD_APP_REVISION_SHORT", short(7)),
        ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
        ("ARGOCD_APP_SOURCE_PATH", app_path.to_owned()),
        ("ARGOCD_APP_SOURCE_REPO_URL", app.repo_url.clone()),
        // The requested ref is not known to the renderer yet; Argo CD sets
        // the variable either way, so plugins that read it see it empty.
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", String::new()),
        ("KUBE_VERSION", app.kube_version.clone().unwrap_or_default().trim_start_matches('v').to_owned()),
        ("KUBE_API_VERSIONS", app.api_versions.join(",")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// A parameter name or map key as an env var name part: upper case, with
/// every character other than `A-Z`, `0-9` and `_` replaced by `_`.
pub(super) fn escape(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// Replaces `$NAME` and `${NAME}` for names of the build environment; any
/// other `$` text is kept as written, so values that merely contain a dollar
/// sign pass through.
pub(super) fn expand(value: &str, vars: &[(String, String)]) -> String {
    let lookup = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        match lookup(name).filter(|_| !name.is_empty()) {
            Some(replacement) => {
                out.push_str(replacement);
                rest = &after[consumed..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Names and values the OS cannot carry are refused with the variable named,
/// rather than failing the spawn with an opaque error.
fn check(name: &str, value: &str) -> Result<(), RenderError> {
    if name.contains(['=', '\0']) {
        return Err(RenderError::InvalidSource { message: format!("plugin env name {name:?} contains `=` or NUL") });
    }
    if value.contains('\0') {
        return Err(RenderError::InvalidSource { message: format!("plugin env {name} contains a NUL character") });
    }
    Ok(())
}
