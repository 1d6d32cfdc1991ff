//! Path ids against real repos made with the git CLI and fetched into a mirror.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{normalize, path_ids_blocking};
use crate::{CacheConfig, GitCache, SourceError};

/// Run git in `dir` with a fixed identity and no user/system config; panics on failure.
fn git(dir: &Path, args: &[&str]) -> String {
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

/// An upstream work tree, a mirror cache, and the upstream's URL.
struct Fixture {
    _dir: tempfile::TempDir,
    upstream: PathBuf,
    cache: GitCache,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let upstream = dir.path().join("upstream");
        std::fs::create_dir(&upstream).unwrap();
        git(&upstream, &["init", "-q", "-b", "main"]);
        let cache = GitCache::new(CacheConfig::new(dir.path().join("cache"))).unwrap();
        Fixture { _dir: dir, upstream, cache }
    }

    fn url(&self) -> String {
        self.upstream.to_string_lossy().into_owned()
    }

    fn write(&self, files: &[(&str, &str)]) {
        for (name, content) in files {
            let path = self.upstream.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }

    fn symlink(&self, target: &str, link: &str) {
        let path = self.upstream.join(link);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    /// Commit everything, fetch it into the mirror, return the commit SHA.
    async fn commit(&self, message: &str) -> String {
        git(&self.upstream, &["add", "-A"]);
        git(&self.upstream, &["commit", "-q", "--allow-empty", "-m", message]);
        self.cache.fetch(&self.url(), None).await.unwrap();
        git(&self.upstream, &["rev-parse", "HEAD"])
    }

    /// What git itself says `<sha>:<path>` is.
    fn rev_parse(&self, sha: &str, path: &str) -> String {
        git(&self.upstream, &["rev-parse", &format!("{sha}:{path}")])
    }

    async fn ids(&self, sha: &str, paths: &[&str]) -> Result<Vec<Option<String>>, SourceError> {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        self.cache.path_ids(&self.url(), sha, &paths).await
    }
}

#[test]
fn normalize_drops_dots_and_refuses_escapes() {
    let text = |path: &str| {
        normalize(path).map(|parts| parts.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>())
    };
    for root in ["", ".", "/", "./", "//", "a/..", "./a/../."] {
        assert_eq!(text(root).unwrap(), Vec::<String>::new(), "{root:?}");
    }
    assert_eq!(text("apps/foo").unwrap(), ["apps", "foo"]);
    assert_eq!(text("/apps//foo/").unwrap(), ["apps", "foo"]);
    assert_eq!(text("./apps/bar/../foo/./x.yaml").unwrap(), ["apps", "foo", "x.yaml"]);
    for escape in ["..", "../x", "a/../../x", "/..", "./a/../../"] {
        let error = normalize(escape).unwrap_err();
        assert!(error.contains("above the repository root"), "{escape}: {error}");
    }
}

#[tokio::test]
async fn ids_of_dirs_files_root_and_absent_paths_match_git() {
    let fx = Fixture::new();
    fx.write(&[("apps/foo/deploy.yaml", "a: 1"), ("apps/bar/deploy.yaml", "b: 1"), ("README.md", "hi")]);
    let sha = fx.commit("one").await;
    let ids = fx
        .ids(&sha, &["apps/foo", "apps/foo/deploy.yaml", "", ".", "/", "./apps/bar/", "apps/nope", "README.md/x"])
        .await
        .unwrap();
    let foo = fx.rev_parse(&sha, "apps/foo");
    let root = fx.rev_parse(&sha, "");
    assert_eq!(ids[0].as_deref(), Some(foo.as_str()));
    assert_eq!(ids[1].as_deref(), Some(fx.rev_parse(&sha, "apps/foo/deploy.yaml").as_str()));
    assert_eq!(ids[2].as_deref(), Some(root.as_str()));
    assert_eq!(ids[3].as_deref(), Some(root.as_str()));
    assert_eq!(ids[4].as_deref(), Some(root.as_str()));
    assert_eq!(ids[5].as_deref(), Some(fx.rev_parse(&sha, "apps/bar").as_str()));
    assert_eq!(ids[6], None, "absent path");
    assert_eq!(ids[7], None, "a file used as a directory");
    assert_ne!(foo, root);
    // The SHA may come in upper case or padded, as elsewhere in the crate.
    let upper = format!(" {} ", sha.to_ascii_uppercase());
    assert_eq!(fx.ids(&upper, &["apps/foo"]).await.unwrap(), vec![Some(foo)]);
    assert_eq!(fx.ids(&sha, &[]).await.unwrap(), Vec::<Option<String>>::new());
}

#[tokio::test]
async fn a_commit_elsewhere_keeps_the_ids_of_200_untouched_apps() {
    let fx = Fixture::new();
    let files: Vec<(String, String)> =
        (0..200).map(|i| (format!("apps/app-{i:03}/deploy.yaml"), format!("replicas: {i}"))).collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    fx.write(&borrowed);
    let first = fx.commit("200 apps").await;
    fx.write(&[("apps/app-042/deploy.yaml", "replicas: 100")]);
    let second = fx.commit("touch app 42").await;
    let paths: Vec<String> = (0..200).map(|i| format!("apps/app-{i:03}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let before = fx.ids(&first, &paths).await.unwrap();
    let after = fx.ids(&second, &paths).await.unwrap();
    let changed: Vec<usize> = (0..200).filter(|&i| before[i] != after[i]).collect();
    assert_eq!(changed, [42]);
    assert!(before.iter().chain(&after).all(Option::is_some));
}

#[tokio::test]
async fn bad_paths_shas_and_unfetched_repos_are_errors() {
    let fx = Fixture::new();
    fx.write(&[("a/b.yaml", "x: 1")]);
    let sha = fx.commit("one").await;

    let escape = fx.ids(&sha, &["a", "a/../../etc"]).await;
    assert!(
        matches!(&escape, Err(SourceError::Read { message, .. }) if message.contains("above the repository root")),
        "{escape:?}"
    );

    let tree = fx.rev_parse(&sha, "");
    for bad in [tree.as_str(), "0123456789abcdef0123456789abcdef01234567", &sha[..12], "main", ""] {
        let result = fx.ids(bad, &["a"]).await;
        assert!(matches!(result, Err(SourceError::RevisionNotFound { .. })), "{bad:?}: {result:?}");
    }

    let other = Fixture::new();
    let result = other.ids(&sha, &["a"]).await;
    assert!(matches!(result, Err(SourceError::NotFetched { .. })), "{result:?}");
}

#[tokio::test]
async fn symlinks_are_followed_inside_the_repository_only() {
    let fx = Fixture::new();
    fx.write(&[("base/deploy.yaml", "a: 1"), ("envs/prod/values.yaml", "v: 1")]);
    fx.symlink("../../base", "envs/prod/base");
    fx.symlink("values.yaml", "envs/prod/current.yaml");
    fx.symlink("envs/prod", "prod");
    fx.symlink("../../..", "envs/prod/escape");
    fx.symlink("/etc", "envs/prod/absolute");
    fx.symlink("missing", "envs/prod/dangling");
    fx.symlink("loop-b", "envs/loop-a");
    fx.symlink("loop-a", "envs/loop-b");
    fx.symlink("base/../envs/prod", "back");
    let sha = fx.commit("links").await;
    let ids = fx
        .ids(
            &sha,
            &[
                "envs/prod/base",
                "envs/prod/base/deploy.yaml",
                "envs/prod/current.yaml",
                "prod/values.yaml",
                "prod",
                "back",
                "envs/prod/escape",
                "envs/prod/absolute",
                "envs/prod/dangling",
                "envs/loop-a",
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids[0].as_deref(), Some(fx.rev_parse(&sha, "base").as_str()));
    assert_eq!(ids[1].as_deref(), Some(fx.rev_parse(&sha, "base/deploy.yaml").as_str()));
    assert_eq!(ids[2].as_deref(), Some(fx.rev_parse(&sha, "envs/prod/values.yaml").as_str()));
    assert_eq!(ids[3].as_deref(), Some(fx.rev_parse(&sha, "envs/prod/values.yaml").as_str()));
    assert_eq!(ids[4].as_deref(), Some(fx.rev_parse(&sha, "envs/prod").as_str()));
    assert_eq!(ids[5].as_deref(), Some(fx.rev_parse(&sha, "envs/prod").as_str()));
    assert_eq!(&ids[6..], [None, None, None, None]);
}

/// Kept handles are per thread, so this test calls the blocking body on its own thread.
#[tokio::test]
async fn a_kept_handle_sees_new_fetches_and_reclones() {
    let fx = Fixture::new();
    fx.write(&[("app/a.yaml", "a: 1")]);
    let first = fx.commit("one").await;
    let mirror = fx.cache.mirror_dir(&fx.url()).unwrap();
    let url = crate::repo_url::RepoUrl::parse(&fx.url()).unwrap();
    let paths = vec!["app".to_string()];
    let ids = |sha: &str| path_ids_blocking(&mirror, &url, sha, &paths);

    assert_eq!(ids(&first).unwrap(), vec![Some(fx.rev_parse(&first, "app"))]);
    fx.write(&[("app/a.yaml", "a: 2")]);
    let second = fx.commit("two").await;
    assert_eq!(ids(&second).unwrap(), vec![Some(fx.rev_parse(&second, "app"))]);

    std::fs::remove_dir_all(&mirror).unwrap();
    assert!(matches!(ids(&second), Err(SourceError::NotFetched { .. })));
    fx.write(&[("app/a.yaml", "a: 3")]);
    let third = fx.commit("three, cloned again").await;
    assert_eq!(ids(&third).unwrap(), vec![Some(fx.rev_parse(&third, "app"))]);
    assert_eq!(ids(&first).unwrap(), vec![Some(fx.rev_parse(&first, "app"))]);
}
