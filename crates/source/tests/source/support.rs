//! Test repos built with the git CLI, isolated from the user's git config.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use source::{CacheConfig, GitCache};

/// Run git in `dir` with a fixed identity and no user/system config; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap_or_else(|e| panic!("run git {args:?}: {e}"));
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A non-bare upstream repo with branch `main`.
pub struct Upstream {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Upstream {
    pub fn new() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upstream");
        std::fs::create_dir(&path).unwrap();
        git(&path, &["init", "-q", "-b", "main"]);
        Upstream { _dir: dir, path }
    }

    /// The plain-path URL of this repo.
    pub fn url(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Write files (creating parents), commit everything, return the commit SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (name, content) in files {
            let path = self.path.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, content).unwrap();
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.path, args)
    }
}

/// A cache in a fresh temp dir.
pub fn cache() -> (tempfile::TempDir, GitCache) {
    let root = tempfile::tempdir().unwrap();
    let cache = GitCache::new(CacheConfig::new(root.path().join("cache"))).unwrap();
    (root, cache)
}

/// A cache with a custom config tweak.
pub fn cache_with(tweak: impl FnOnce(&mut CacheConfig)) -> (tempfile::TempDir, GitCache) {
    let root = tempfile::tempdir().unwrap();
    let mut config = CacheConfig::new(root.path().join("cache"));
    config.fetch_timeout = Duration::from_secs(60);
    tweak(&mut config);
    let cache = GitCache::new(config).unwrap();
    (root, cache)
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(path),
                Ok(kind) if kind.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}
