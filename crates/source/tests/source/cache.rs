//! Mirror cache against local upstream repos.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use source::{GitCache, SourceError};

use crate::support::{Upstream, cache, cache_with, files_under, git};

async fn resolve(cache: &GitCache, url: &str, revision: &str) -> Result<String, SourceError> {
    cache.resolve(url, revision).await
}

#[tokio::test]
async fn resolves_every_revision_form() {
    let upstream = Upstream::new();
    let c1 = upstream.commit(&[("a.txt", "one")], "one");
    upstream.git(&["tag", "v1"]);
    let c2 = upstream.commit(&[("a.txt", "two")], "two");
    upstream.git(&["tag", "-a", "v2", "-m", "annotated"]);
    upstream.git(&["checkout", "-q", "-b", "feature"]);
    let c3 = upstream.commit(&[("b.txt", "feature")], "feature");
    upstream.git(&["checkout", "-q", "main"]);
    let (_root, cache) = cache();
    let url = upstream.url();

    let before = resolve(&cache, &url, "main").await;
    assert!(matches!(before, Err(SourceError::NotFetched { .. })), "{before:?}");

    cache.fetch(&url, None).await.unwrap();
    let expectations = [
        ("", &c2),
        ("HEAD", &c2),
        ("main", &c2),
        ("refs/heads/main", &c2),
        ("heads/main", &c2),
        ("feature", &c3),
        ("v1", &c1),
        ("v2", &c2),
        ("refs/tags/v2", &c2),
        (c1.as_str(), &c1),
        (&c3[..7], &c3),
        (&c1[..12], &c1),
    ];
    for (revision, expected) in expectations {
        assert_eq!(&resolve(&cache, &url, revision).await.unwrap(), expected, "{revision:?}");
    }
    let upper = c3[..10].to_ascii_uppercase();
    assert_eq!(resolve(&cache, &url, &upper).await.unwrap(), c3);

    for missing in ["nope", "refs/heads/nope", "0123456789abcdef0123456789abcdef01234567", "abc", "a..b", "main~1"] {
        let result = resolve(&cache, &url, missing).await;
        assert!(matches!(result, Err(SourceError::RevisionNotFound { .. })), "{missing}: {result:?}");
    }
    // The annotated tag object itself peels to its commit.
    let tag_object = upstream.git(&["rev-parse", "v2"]);
    assert_ne!(tag_object, c2);
    assert_eq!(resolve(&cache, &url, &tag_object).await.unwrap(), c2);
    // A tree is not a revision.
    let tree = upstream.git(&["rev-parse", "main^{tree}"]);
    let result = resolve(&cache, &url, &tree).await;
    assert!(matches!(result, Err(SourceError::RevisionNotFound { .. })), "{result:?}");
    // The same repo through a file:// URL shares the mirror.
    let file_url = format!("file://{url}/");
    assert_eq!(resolve(&cache, &file_url, "feature").await.unwrap(), c3);
}

#[tokio::test]
async fn head_follows_the_remote_default_branch() {
    let upstream = Upstream::new();
    upstream.commit(&[("a", "1")], "main");
    upstream.git(&["checkout", "-q", "-b", "trunk"]);
    let trunk = upstream.commit(&[("a", "2")], "trunk");
    let (_root, cache) = cache();
    cache.fetch(&upstream.url(), None).await.unwrap();
    assert_eq!(resolve(&cache, &upstream.url(), "HEAD").await.unwrap(), trunk);
}

#[tokio::test]
async fn fetch_picks_up_new_commits_force_pushes_and_deletions() {
    let upstream = Upstream::new();
    let c1 = upstream.commit(&[("a", "1")], "one");
    upstream.git(&["branch", "doomed"]);
    upstream.git(&["tag", "moving"]);
    let (_root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c1);

    let c2 = upstream.commit(&[("a", "2")], "two");
    // Not visible before the next fetch: resolve never touches the network.
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c1);
    cache.fetch(&url, None).await.unwrap();
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c2);

    // Rewrite history (what a force push does to the remote), move a tag, delete a branch.
    upstream.git(&["reset", "-q", "--hard", &c1]);
    let c3 = upstream.commit(&[("a", "3")], "rewritten");
    upstream.git(&["tag", "-f", "moving"]);
    upstream.git(&["branch", "-D", "doomed"]);
    cache.fetch(&url, None).await.unwrap();
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c3);
    assert_eq!(resolve(&cache, &url, "moving").await.unwrap(), c3);
    let deleted = resolve(&cache, &url, "doomed").await;
    assert!(matches!(deleted, Err(SourceError::RevisionNotFound { .. })), "{deleted:?}");
    // The rewritten-away commit is still in the mirror, so pinned SHAs keep working.
    assert_eq!(resolve(&cache, &url, &c2).await.unwrap(), c2);
}

#[tokio::test]
async fn checkout_materializes_files_modes_and_symlinks() {
    let upstream = Upstream::new();
    upstream.commit(&[("app/deploy.yaml", "kind: ConfigMap\n"), ("run.sh", "#!/bin/sh\n")], "files");
    std::fs::set_permissions(upstream.path.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("app/deploy.yaml", upstream.path.join("link")).unwrap();
    std::os::unix::fs::symlink("../../../etc/passwd", upstream.path.join("escape")).unwrap();
    let sha = upstream.commit(&[], "links");
    let (root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();

    let dir = cache.checkout(&url, &sha).await.unwrap();
    assert!(dir.starts_with(root.path()));
    assert!(!dir.to_string_lossy().contains("upstream"), "no user text in paths: {}", dir.display());
    assert_eq!(std::fs::read_to_string(dir.join("app/deploy.yaml")).unwrap(), "kind: ConfigMap\n");
    assert_eq!(std::fs::read_link(dir.join("link")).unwrap(), Path::new("app/deploy.yaml"));
    // Kept as written; refusing escapes is the render stage's job.
    assert_eq!(std::fs::read_link(dir.join("escape")).unwrap(), Path::new("../../../etc/passwd"));
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("run.sh"), 0o555);
    assert_eq!(mode("app/deploy.yaml"), 0o444);
    assert!(!dir.join(".git").exists());

    // Idempotent: same directory, untouched.
    let again = cache.checkout(&url, &sha.to_ascii_uppercase()).await.unwrap();
    assert_eq!(again, dir);
    assert_eq!(std::fs::read_to_string(again.join("app/deploy.yaml")).unwrap(), "kind: ConfigMap\n");
}

#[tokio::test]
async fn concurrent_checkouts_of_one_sha_share_one_snapshot() {
    let upstream = Upstream::new();
    let files: Vec<(String, String)> =
        (0..50).map(|i| (format!("d{}/f{i}.yaml", i % 5), format!("n: {i}\n"))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sha = upstream.commit(&refs, "many");
    let (root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            let (url, sha) = (url.clone(), sha.clone());
            tokio::spawn(async move { cache.checkout(&url, &sha).await })
        })
        .collect();
    let mut dirs = Vec::new();
    for task in tasks {
        dirs.push(task.await.unwrap().unwrap());
    }
    assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
    assert_eq!(files_under(&dirs[0]).len(), 50);
    assert_eq!(std::fs::read_to_string(dirs[0].join("d3/f13.yaml")).unwrap(), "n: 13\n");
    // Nothing left over in staging.
    assert_eq!(std::fs::read_dir(root.path().join("cache/tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn checkout_skips_submodules_and_rejects_bad_shas() {
    let upstream = Upstream::new();
    let first = upstream.commit(&[("a", "1")], "one");
    upstream.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{first},vendor/sub")]);
    upstream.git(&["commit", "-q", "-m", "submodule"]);
    let sha = upstream.git(&["rev-parse", "HEAD"]);
    let (_root, cache) = cache();
    let url = upstream.url();

    let unfetched = cache.checkout(&url, &sha).await;
    assert!(matches!(unfetched, Err(SourceError::NotFetched { .. })), "{unfetched:?}");
    cache.fetch(&url, None).await.unwrap();
    let dir = cache.checkout(&url, &sha).await.unwrap();
    assert!(dir.join("a").is_file());
    assert!(!dir.join("vendor/sub").exists());

    for bad in ["main", "../../etc", &sha[..10]] {
        let result = cache.checkout(&url, bad).await;
        assert!(matches!(result, Err(SourceError::Checkout { .. })), "{bad}: {result:?}");
    }
    let absent = cache.checkout(&url, "0123456789abcdef0123456789abcdef01234567").await;
    let message = absent.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(message.contains("not in the mirror"), "{message}");
}

#[tokio::test]
async fn prune_keeps_only_listed_snapshots() {
    let upstream = Upstream::new();
    let c1 = upstream.commit(&[("a", "1")], "one");
    let c2 = upstream.commit(&[("a", "2")], "two");
    let (_root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();
    let d1 = cache.checkout(&url, &c1).await.unwrap();
    let d2 = cache.checkout(&url, &c2).await.unwrap();
    // The keep list may name the repo by any equivalent URL.
    cache.prune_snapshots(&[(format!("file://{url}"), c2.clone())]).await.unwrap();
    assert!(!d1.exists());
    assert!(d2.is_dir());
    cache.prune_snapshots(&[]).await.unwrap();
    assert!(!d2.exists());
    // A pruned snapshot comes back on demand.
    assert_eq!(cache.checkout(&url, &c1).await.unwrap(), d1);
}

/// A git wrapper that logs each subcommand, to count real git processes.
fn counting_git(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("git-wrapper");
    let log = dir.join("git.log");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec git \"$@\"\n", log.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn fetch_count(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("git.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(" fetch "))
        .count()
}

#[tokio::test]
async fn concurrent_fetches_coalesce() {
    let upstream = Upstream::new();
    let c1 = upstream.commit(&[("a", "1")], "one");
    let bin = tempfile::tempdir().unwrap();
    let wrapper = counting_git(bin.path());
    let (_root, cache) = cache_with(|config| config.git = wrapper.clone());
    let url = upstream.url();

    let results = futures::future::join_all((0..8).map(|_| cache.fetch(&url, None))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // One clone, plus at most one fetch for everyone who asked while it ran.
    let fetches = fetch_count(bin.path());
    assert!((1..=2).contains(&fetches), "{fetches} git fetches for 8 callers");
    let mirror = cache.mirror_dir(&url).unwrap();
    git(&mirror, &["fsck", "--no-progress"]);
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c1);

    // Callers after that get a fresh fetch that sees new commits.
    let c2 = upstream.commit(&[("a", "2")], "two");
    let results = futures::future::join_all((0..8).map(|_| cache.fetch(&url, None))).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(fetch_count(bin.path()) <= fetches + 2);
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c2);
}

#[tokio::test]
async fn different_repos_fetch_in_parallel_from_spawned_tasks() {
    let upstreams: Vec<Upstream> = (0..4).map(|_| Upstream::new()).collect();
    let shas: Vec<String> = upstreams.iter().map(|u| u.commit(&[("a", "x")], "one")).collect();
    let (_root, cache) = cache();
    let tasks: Vec<_> = upstreams
        .iter()
        .map(|u| {
            let (cache, url) = (cache.clone(), u.url());
            tokio::spawn(async move { cache.fetch(&url, None).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for (upstream, sha) in upstreams.iter().zip(&shas) {
        assert_eq!(&resolve(&cache, &upstream.url(), "HEAD").await.unwrap(), sha);
    }
}

#[tokio::test]
async fn broken_mirror_is_cloned_again() {
    let upstream = Upstream::new();
    let c1 = upstream.commit(&[("a", "1")], "one");
    let (_root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();
    let mirror = cache.mirror_dir(&url).unwrap();
    // What an interrupted clone from an older layout or a disk mishap may leave.
    std::fs::remove_file(mirror.join("HEAD")).unwrap();
    std::fs::remove_dir_all(mirror.join("objects")).unwrap();
    cache.fetch(&url, None).await.unwrap();
    assert_eq!(resolve(&cache, &url, "main").await.unwrap(), c1);
    git(&mirror, &["fsck", "--no-progress"]);
}

#[tokio::test]
async fn leftovers_of_a_crash_are_swept_on_start() {
    let root = tempfile::tempdir().unwrap();
    let config = source::CacheConfig::new(root.path().join("cache"));
    drop(GitCache::new(config.clone()).unwrap());
    let stale = root.path().join("cache/tmp/clone-123/mirror.git");
    std::fs::create_dir_all(&stale).unwrap();
    drop(GitCache::new(config).unwrap());
    assert!(!stale.exists());
}

#[tokio::test]
async fn empty_remote_clones_and_has_no_revisions() {
    let upstream = Upstream::new();
    let (_root, cache) = cache();
    let url = upstream.url();
    cache.fetch(&url, None).await.unwrap();
    let result = resolve(&cache, &url, "HEAD").await;
    assert!(matches!(result, Err(SourceError::RevisionNotFound { .. })), "{result:?}");
    let sha = upstream.commit(&[("a", "1")], "first");
    cache.fetch(&url, None).await.unwrap();
    assert_eq!(resolve(&cache, &url, "HEAD").await.unwrap(), sha);
}

#[tokio::test]
async fn unreachable_repos_give_clear_errors() {
    let (root, cache) = cache();
    let missing = root.path().join("no/such/repo");
    let error = cache.fetch(&missing.to_string_lossy(), None).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    assert!(message.contains("does not appear to be a git repository"), "{message}");
    assert!(message.contains(&*missing.to_string_lossy()), "names the repo: {message}");
    assert!(!cache.mirror_dir(&missing.to_string_lossy()).unwrap().exists());

    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let error = cache.fetch(&url, None).await.unwrap_err();
    let message = error.to_string().to_ascii_lowercase();
    assert!(matches!(error, SourceError::Fetch { .. }), "{error:?}");
    assert!(message.contains("connect"), "{message}");
    assert!(message.contains(&format!("fetch http://127.0.0.1:{port}/repo.git")), "{message}");
    assert_eq!(std::fs::read_dir(root.path().join("cache/tmp")).unwrap().count(), 0);

    // Transports outside the allow-list never reach git.
    let error = cache.fetch("ext::sh -c touch% /tmp/ferry-pwned", None).await.unwrap_err();
    assert!(matches!(error, SourceError::UnsupportedUrl { .. }), "{error:?}");

    // A git binary that does not exist.
    let (_root2, broken) = cache_with(|config| config.git = "/nonexistent/git".into());
    let error = broken.fetch(&missing.to_string_lossy(), None).await.unwrap_err();
    assert!(matches!(error, SourceError::Spawn { .. }), "{error:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept connections and hold them open without a byte of reply.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let (_root, cache) = cache_with(|config| config.fetch_timeout = std::time::Duration::from_secs(1));
    let error = cache.fetch(&format!("http://127.0.0.1:{port}/slow.git"), None).await.unwrap_err();
    assert!(matches!(error, SourceError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    server.abort();
}
