//! `copy`.

use std::path::Path;

use crate::{StepContext, StepError, StepOutcome, inside_workdir};
use serde::Deserialize;

/// `copy` config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CopyConfig {
    /// A file or directory, relative to the working directory.
    in_path: String,
    /// Where to copy it, relative to the working directory.
    out_path: String,
}

/// **copy**: copies the file or directory `inPath` to `outPath` (directories recursively,
/// merging into an existing directory; `.git` directories are skipped). Symlinks are copied as
/// links only when they point inside the working directory; others are refused.
///
/// Outputs: none.
///
/// Idempotency: copying again overwrites with the same bytes.
pub(crate) async fn copy(config: CopyConfig, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    let from = inside_workdir(ctx.workdir, &config.in_path)?;
    let to = inside_workdir(ctx.workdir, &config.out_path)?;
    let root = inside_workdir(ctx.workdir, "")?;
    let shown = config.in_path.clone();
    tokio::task::spawn_blocking(move || copy_blocking(&from, &to, &root, &shown))
        .await
        .map_err(|e| StepError::Transient { message: format!("copy: {e}") })??;
    Ok(StepOutcome::succeeded(serde_json::Map::new()))
}

fn copy_blocking(from: &Path, to: &Path, root: &Path, shown: &str) -> Result<(), StepError> {
    let meta = std::fs::symlink_metadata(from).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StepError::failed(format!("copy: {shown:?} does not exist")),
        _ => StepError::io(format!("read {shown:?}"), e),
    })?;
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(|e| StepError::io(format!("create {}", to.display()), e))?;
        let entries = std::fs::read_dir(from).map_err(|e| StepError::io(format!("list {shown:?}"), e))?;
        let mut names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            if name == ".git" {
                continue;
            }
            copy_blocking(&from.join(&name), &to.join(&name), root, shown)?;
        }
        Ok(())
    } else if meta.file_type().is_symlink() {
        let target = std::fs::canonicalize(from).map_err(|_| StepError::PathEscapes { path: shown.to_owned() })?;
        if !target.starts_with(root) {
            return Err(StepError::PathEscapes { path: shown.to_owned() });
        }
        let link = std::fs::read_link(from).map_err(|e| StepError::io(format!("read link {shown:?}"), e))?;
        let _ = std::fs::remove_file(to);
        std::os::unix::fs::symlink(link, to).map_err(|e| StepError::io(format!("link {}", to.display()), e))
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StepError::io(format!("create {}", parent.display()), e))?;
        }
        std::fs::copy(from, to).map(drop).map_err(|e| StepError::io(format!("copy {shown:?}"), e))
    }
}
