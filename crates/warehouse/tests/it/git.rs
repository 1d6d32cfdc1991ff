//! Git subscriptions over real repositories in temp dirs (file:// URLs), fetched into the
//! source stage's mirror cache: monorepo paths, ferry's own commits, excluded authors,
//! first-parent history, and tags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use promotion::{CommitSelectionStrategy, GitCommit, GitSubscription, Subscription};
use warehouse::{DiscoveryContext, discover};

struct Repo {
    dir: tempfile::TempDir,
    /// Commit times increase by a minute per commit, so NewestTag has an order to find.
    clock: std::cell::Cell<i64>,
}

impl Repo {
    fn new() -> Self {
        let repo = Repo { dir: tempfile::tempdir().unwrap(), clock: std::cell::Cell::new(1_700_000_000) };
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    fn git(&self, args: &[&str]) -> String {
        let time = format!("@{} +0000", self.clock.get());
        let out = Command::new("git")
            .current_dir(self.dir.path())
            .args([
                "-c",
                "user.name=Ann",
                "-c",
                "user.email=ann@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .env("GIT_AUTHOR_DATE", &time)
            .env("GIT_COMMITTER_DATE", &time)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Writes the files and commits them with `message` (by `author` when given); returns the SHA.
    fn commit(&self, files: &[&str], message: &str, author: Option<&str>) -> String {
        for file in files {
            let path = self.dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::write(&path, format!("{old}{message}\n")).unwrap();
        }
        self.clock.set(self.clock.get() + 60);
        self.git(&["add", "-A"]);
        let mut args = vec!["commit", "--quiet", "--allow-empty", "-m", message];
        if let Some(author) = author {
            args.extend(["--author", author]);
        }
        self.git(&args);
        self.git(&["rev-parse", "HEAD"])
    }
}

struct Discoverer {
    _dir: tempfile::TempDir,
    git: source::GitCache,
}

impl Discoverer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let git = source::GitCache::new(source::CacheConfig::new(dir.path())).unwrap();
        Discoverer { _dir: dir, git }
    }

    async fn commits(&self, sub: GitSubscription) -> Vec<GitCommit> {
        let ctx = DiscoveryContext { git: &self.git, git_credentials: &|_| None, registry_credentials: &|_| None };
        discover(&Subscription { git: Some(sub), ..Subscription::default() }, &ctx).await.unwrap().commits
    }
}

fn ids(commits: &[GitCommit]) -> Vec<&str> {
    commits.iter().map(|c| c.id.as_str()).collect()
}

fn sub(repo: &Repo) -> GitSubscription {
    GitSubscription { repo_url: repo.url(), ..GitSubscription::default() }
}

#[tokio::test]
async fn a_monorepo_app_sees_only_its_own_commits() {
    let repo = Repo::new();
    let web1 = repo.commit(&["apps/web/deploy.yaml"], "web: first", None);
    let api = repo.commit(&["apps/api/deploy.yaml"], "api: change", None);
    let docs = repo.commit(&["apps/web/docs/README.md"], "web: docs", None);
    let ferry =
        repo.commit(&["apps/web/deploy.yaml"], "promote dev\n\nFerry-Promotion: dev-abc\nFerry-Freight: 123", None);
    let bot = repo.commit(&["apps/web/deploy.yaml"], "bump", Some("Release Bot <bot@example.com>"));
    let web2 = repo.commit(&["apps/web/deploy.yaml", "apps/api/deploy.yaml"], "both: change", None);
    let discoverer = Discoverer::new();

    // Without path filters only ferry's own commit is skipped, newest first.
    let all = discoverer.commits(sub(&repo)).await;
    assert_eq!(ids(&all), [&web2, &bot, &docs, &api, &web1]);
    assert_eq!(all[0].message.as_deref(), Some("both: change"));
    assert_eq!(all[0].author.as_deref(), Some("Ann <ann@example.com>"));
    assert_eq!(all[0].repo_url, repo.url());
    assert!(all[0].committed_at.as_deref().unwrap().ends_with('Z'));

    let web = GitSubscription {
        include_paths: vec!["apps/web".to_owned()],
        exclude_paths: vec!["glob:**/*.md".to_owned()],
        exclude_authors: vec!["bot@example.com".to_owned()],
        branch: Some("main".to_owned()),
        ..sub(&repo)
    };
    let found = discoverer.commits(web.clone()).await;
    assert_eq!(ids(&found), [&web2, &web1]);
    assert_eq!(found[0].branch.as_deref(), Some("main"));
    assert!(!ids(&found).contains(&ferry.as_str()));

    let limited = GitSubscription { discovery_limit: Some(1), ..web.clone() };
    assert_eq!(ids(&discoverer.commits(limited).await), [&web2]);

    // A new commit is seen on the next discovery (each one fetches).
    let web3 = repo.commit(&["apps/web/values.yaml"], "web: values", None);
    assert_eq!(ids(&discoverer.commits(web).await)[0], web3);
}

#[tokio::test]
async fn history_follows_first_parents() {
    let repo = Repo::new();
    let base = repo.commit(&["apps/web/a"], "base", None);
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    let feature = repo.commit(&["apps/web/b"], "feature work", None);
    repo.git(&["checkout", "--quiet", "main"]);
    let other = repo.commit(&["apps/api/c"], "api", None);
    repo.clock.set(repo.clock.get() + 60);
    repo.git(&["merge", "--quiet", "--no-ff", "-m", "merge feature", "feature"]);
    let merge = repo.git(&["rev-parse", "HEAD"]);
    let discoverer = Discoverer::new();

    let web = GitSubscription { include_paths: vec!["apps/web".to_owned()], ..sub(&repo) };
    // The merge brings apps/web/b into main: it counts; the feature commit is not main's step.
    assert_eq!(ids(&discoverer.commits(web).await), [&merge, &base]);
    let all = discoverer.commits(sub(&repo)).await;
    assert_eq!(ids(&all), [&merge, &other, &base]);
    let on_feature = GitSubscription { branch: Some("feature".to_owned()), ..sub(&repo) };
    assert_eq!(ids(&discoverer.commits(on_feature).await), [&feature, &base]);
}

#[tokio::test]
async fn tags_by_semver_lexical_and_age() {
    let repo = Repo::new();
    let one = repo.commit(&["a"], "one", None);
    repo.git(&["tag", "v1.0.0"]);
    let two = repo.commit(&["a"], "two", None);
    repo.git(&["tag", "-a", "v1.2.0", "-m", "annotated"]);
    let three = repo.commit(&["a"], "three", None);
    repo.git(&["tag", "v2.0.0"]);
    repo.git(&["tag", "junk"]);
    // Tagged last (tagger time) though its commit is the oldest.
    repo.clock.set(repo.clock.get() + 600);
    repo.git(&["tag", "-a", "v1.1.0", "-m", "late", &one]);
    let discoverer = Discoverer::new();

    let semver = GitSubscription {
        commit_selection_strategy: CommitSelectionStrategy::SemVer,
        semver_constraint: Some("^1".to_owned()),
        ..sub(&repo)
    };
    let found = discoverer.commits(semver).await;
    let tags: Vec<_> = found.iter().map(|c| c.tag.as_deref().unwrap()).collect();
    assert_eq!(tags, ["v1.2.0", "v1.1.0", "v1.0.0"]);
    assert_eq!(ids(&found), [&two, &one, &one], "annotated tags peel to their commit");

    let lexical = GitSubscription {
        commit_selection_strategy: CommitSelectionStrategy::Lexical,
        ignore_tags: vec!["^junk$".to_owned()],
        ..sub(&repo)
    };
    let found = discoverer.commits(lexical).await;
    assert_eq!(
        found.iter().map(|c| c.tag.as_deref().unwrap()).collect::<Vec<_>>(),
        ["v2.0.0", "v1.2.0", "v1.1.0", "v1.0.0"]
    );

    let newest = GitSubscription {
        commit_selection_strategy: CommitSelectionStrategy::NewestTag,
        allow_tags: Some("^v".to_owned()),
        ..sub(&repo)
    };
    let found = discoverer.commits(newest).await;
    assert_eq!(found[0].tag.as_deref(), Some("v1.1.0"));
    assert_eq!(found[1].id, three);
}

#[tokio::test]
async fn a_missing_repository_or_branch_is_an_error_naming_it() {
    let discoverer = Discoverer::new();
    let ctx = DiscoveryContext { git: &discoverer.git, git_credentials: &|_| None, registry_credentials: &|_| None };
    let missing = Path::new("/nonexistent/ferry-repo");
    let absent = GitSubscription { repo_url: format!("file://{}", missing.display()), ..GitSubscription::default() };
    let error =
        discover(&Subscription { git: Some(absent), ..Subscription::default() }, &ctx).await.unwrap_err().to_string();
    assert!(error.starts_with("fetch:") && error.contains("/nonexistent/ferry-repo"), "{error}");

    let repo = Repo::new();
    repo.commit(&["a"], "one", None);
    let nope = GitSubscription { branch: Some("nope".to_owned()), ..sub(&repo) };
    let error =
        discover(&Subscription { git: Some(nope), ..Subscription::default() }, &ctx).await.unwrap_err().to_string();
    assert!(error.contains("read history") && error.contains("refs/heads/nope"), "{error}");
}
