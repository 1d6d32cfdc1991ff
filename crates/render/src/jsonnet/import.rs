//! An import resolver that never reads outside the repository.
//!
//! jrsonnet's own `FileImportResolver` follows any path: `import
//! '../../etc/x'`, an absolute path, or a symlink out of the checkout. This
//! one canonicalises every candidate (which resolves `..` and every symlink
//! on the way) and refuses it unless it lies under the canonical repository
//! root, so the check holds for the app's files, library paths and imports
//! made from imported files alike.

use std::any::Any;
use std::fs;
use std::path::{Component, Path, PathBuf};

use jrsonnet_evaluator::error::{ErrorKind, Result};
use jrsonnet_evaluator::{ImportResolver, bail};
use jrsonnet_gcmodule::Trace;
use jrsonnet_parser::{SourceFile, SourcePath};

use crate::MAX_FILE_BYTES;
use crate::directory::read_limited;

/// Resolves `import`, `importstr` and `importbin` relative to the importing
/// file, then along the library paths, inside `root` only.
pub(super) struct ConfinedResolver {
    /// The canonical repository root.
    pub(super) root: PathBuf,
    /// Where imports made from code that is not a file (ext vars and TLAs
    /// given as code) are resolved: the canonical app directory.
    pub(super) app_dir: PathBuf,
    /// Canonical library directories, in search order; all inside `root`.
    pub(super) libs: Vec<PathBuf>,
}

// Holds only paths, never jsonnet values, so there is nothing for the cycle
// collector to visit.
impl Trace for ConfinedResolver {
    fn is_type_tracked() -> bool {
        false
    }
}

/// What a candidate path turned out to be.
enum Candidate {
    /// A regular file inside the root, canonical.
    File(PathBuf),
    /// Nothing there; the next search location is tried.
    Missing,
}

impl ConfinedResolver {
    /// Checks one candidate location. Anything that exists but resolves
    /// outside the root is an error, not a miss: falling through to a
    /// library path would hide the escape attempt.
    fn check(&self, candidate: &Path, shown: &str) -> Result<Candidate> {
        let real = match fs::canonicalize(candidate) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Candidate::Missing),
            Err(e) => bail!(ErrorKind::ImportIo(format!("{shown}: {e}"))),
        };
        if !real.starts_with(&self.root) {
            bail!(ErrorKind::RuntimeError(format!("import {shown:?} escapes the repository").into()));
        }
        let metadata = fs::metadata(&real).map_err(|e| ErrorKind::ImportIo(format!("{shown}: {e}")))?;
        // Directories, FIFOs and devices are refused: reading a FIFO could
        // block the evaluation forever.
        if !metadata.is_file() {
            bail!(ErrorKind::RuntimeError(format!("import {shown:?} is not a regular file").into()));
        }
        Ok(Candidate::File(real))
    }

    /// The path relative to the root, for messages; the absolute path when
    /// it is outside (which only happens just before refusing it).
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().into_owned()
    }
}

impl ImportResolver for ConfinedResolver {
    fn resolve_from(&self, from: &SourcePath, path: &str) -> Result<SourcePath> {
        // An absolute import would name a file by its place on the
        // controller's disk, which no repository can rely on.
        if Path::new(path).components().any(|c| matches!(c, Component::RootDir | Component::Prefix(_))) {
            bail!(ErrorKind::RuntimeError(format!("import {path:?} escapes the repository").into()));
        }
        let base = match from.downcast_ref::<SourceFile>() {
            Some(file) => file.path().parent().map_or_else(|| self.root.clone(), Path::to_path_buf),
            None => self.app_dir.clone(),
        };
        let direct = base.join(path);
        if let Candidate::File(real) = self.check(&direct, &self.shown(&direct))? {
            return Ok(SourcePath::new(SourceFile::new(real)));
        }
        for lib in &self.libs {
            let candidate = lib.join(path);
            if let Candidate::File(real) = self.check(&candidate, &self.shown(&candidate))? {
                return Ok(SourcePath::new(SourceFile::new(real)));
            }
        }
        bail!(ErrorKind::ImportFileNotFound(from.clone(), path.to_owned()))
    }

    fn resolve(&self, path: &Path) -> Result<SourcePath> {
        match self.check(path, &self.shown(path))? {
            Candidate::File(real) => Ok(SourcePath::new(SourceFile::new(real))),
            Candidate::Missing => bail!(ErrorKind::AbsoluteImportFileNotFound(path.to_owned())),
        }
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> Result<Vec<u8>> {
        // Only paths this resolver produced reach here, but the check is
        // cheap and keeps the invariant local.
        let Some(file) = resolved.downcast_ref::<SourceFile>() else {
            bail!(ErrorKind::RuntimeError(format!("cannot load {resolved}").into()));
        };
        let shown = self.shown(file.path());
        let Candidate::File(real) = self.check(file.path(), &shown)? else {
            bail!(ErrorKind::ResolvedFileNotFound(resolved.clone()));
        };
        read_limited(&real, &shown).map_err(|e| match e {
            crate::RenderError::FileTooLarge { .. } => {
                ErrorKind::RuntimeError(format!("{shown} is larger than the {MAX_FILE_BYTES}-byte limit").into()).into()
            }
            other => ErrorKind::ImportIo(other.to_string()).into(),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
