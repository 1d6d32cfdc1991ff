//! The local provider's git merge, against real repositories in temp directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use scm::ScmError;
use scm::local::{BranchMerge, LocalConfig, MergeKind, MergeStrategy, merge_branches};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A bare origin and a clone to make commits in; `main` has one commit, pushed as
/// `env/staging` too, and `env/staging-next` adds a change on top.
struct Repos {
    _dir: tempfile::TempDir,
    origin: std::path::PathBuf,
    work: std::path::PathBuf,
    url: String,
}

impl Repos {
    fn new() -> Repos {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "--quiet", "--bare", "--initial-branch=main"]);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        let url = format!("file://{}", origin.display());
        git(&work, &["remote", "add", "origin", &url]);
        let repos = Repos { _dir: dir, origin, work, url };
        repos.commit("app.yaml", "replicas: 1\n", "initial");
        git(&repos.work, &["push", "--quiet", "origin", "main:main", "main:env/staging"]);
        git(&repos.work, &["checkout", "--quiet", "-b", "env/staging-next"]);
        repos.commit("app.yaml", "replicas: 2\n", "hydrate v2");
        git(&repos.work, &["push", "--quiet", "origin", "env/staging-next"]);
        repos
    }

    fn commit(&self, file: &str, content: &str, message: &str) -> String {
        std::fs::write(self.work.join(file), content).unwrap();
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "--quiet", "-m", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn origin_head(&self, branch: &str) -> String {
        git(&self.origin, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    /// A commit on `env/staging` that `env/staging-next` does not have.
    fn diverge_target(&self, file: &str, content: &str) {
        git(&self.work, &["checkout", "--quiet", "-B", "env/staging", "origin/env/staging"]);
        self.commit(file, content, "hotfix on staging");
        git(&self.work, &["push", "--quiet", "origin", "env/staging"]);
        git(&self.work, &["checkout", "--quiet", "env/staging-next"]);
    }
}

fn config(work_dir: &Path) -> LocalConfig {
    LocalConfig { work_dir: work_dir.to_path_buf(), ..LocalConfig::default() }
}

fn request<'a>(url: &'a str, promotion: Option<&'a str>) -> BranchMerge<'a> {
    BranchMerge {
        repo_url: url,
        source_branch: "env/staging-next",
        target_branch: "env/staging",
        title: "Promote v2 to staging",
        promotion,
        expected_head: None,
    }
}

#[tokio::test]
async fn fast_forwards_when_possible_and_is_idempotent() {
    let repos = Repos::new();
    let scratch = tempfile::tempdir().unwrap();
    let source_head = repos.origin_head("env/staging-next");
    let merged = merge_branches(&request(&repos.url, Some("p1")), &config(scratch.path())).await.unwrap();
    assert_eq!(merged.how, MergeKind::FastForward);
    assert_eq!(merged.merge_commit, source_head);
    assert_eq!(merged.source_head, source_head);
    assert_eq!(repos.origin_head("env/staging"), source_head);

    let again = merge_branches(&request(&repos.url, Some("p1")), &config(scratch.path())).await.unwrap();
    assert_eq!(again.how, MergeKind::AlreadyMerged);
    assert_eq!(again.merge_commit, source_head);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0, "scratch clones are removed");
}

#[tokio::test]
async fn makes_a_merge_commit_with_the_trailer_when_the_target_moved() {
    let repos = Repos::new();
    repos.diverge_target("NOTES.md", "hotfix\n");
    let target_before = repos.origin_head("env/staging");
    let source_head = repos.origin_head("env/staging-next");
    let scratch = tempfile::tempdir().unwrap();
    let merged = merge_branches(&request(&repos.url, Some("staging-abc")), &config(scratch.path())).await.unwrap();
    assert_eq!(merged.how, MergeKind::MergeCommit);
    assert_eq!(repos.origin_head("env/staging"), merged.merge_commit);
    let parents = git(&repos.origin, &["rev-list", "--parents", "-n1", &merged.merge_commit]);
    assert_eq!(parents, format!("{} {target_before} {source_head}", merged.merge_commit));
    let message = git(&repos.origin, &["log", "-1", "--format=%B", &merged.merge_commit]);
    assert_eq!(
        message,
        "Merge branch 'env/staging-next' into env/staging\n\nPromote v2 to staging\n\nFerry-Promotion: staging-abc"
    );
    let trailer =
        git(&repos.origin, &["log", "-1", "--format=%(trailers:key=Ferry-Promotion,valueonly)", &merged.merge_commit]);
    assert_eq!(trailer, "staging-abc");
    let author = git(&repos.origin, &["log", "-1", "--format=%an <%ae>", &merged.merge_commit]);
    assert_eq!(author, "ferry <ferry@localhost>");
    let content = git(&repos.origin, &["show", &format!("{}:app.yaml", merged.merge_commit)]);
    assert_eq!(content, "replicas: 2");

    // Resuming after a crash finds the merge that was pushed, and pushes nothing.
    let again = merge_branches(&request(&repos.url, Some("staging-abc")), &config(scratch.path())).await.unwrap();
    assert_eq!((again.how, again.merge_commit.as_str()), (MergeKind::AlreadyMerged, merged.merge_commit.as_str()));
    assert_eq!(repos.origin_head("env/staging"), merged.merge_commit);
}

#[tokio::test]
async fn always_merge_commit_when_asked() {
    let repos = Repos::new();
    let scratch = tempfile::tempdir().unwrap();
    let config = LocalConfig { strategy: MergeStrategy::MergeCommit, ..config(scratch.path()) };
    let merged = merge_branches(&request(&repos.url, None), &config).await.unwrap();
    assert_eq!(merged.how, MergeKind::MergeCommit);
    assert_ne!(merged.merge_commit, merged.source_head);
    let message = git(&repos.origin, &["log", "-1", "--format=%B", &merged.merge_commit]);
    assert!(!message.contains("Ferry-Promotion"), "no trailer without a promotion: {message}");
}

#[tokio::test]
async fn conflicts_and_moved_heads_change_nothing() {
    let repos = Repos::new();
    repos.diverge_target("app.yaml", "replicas: 3\n");
    let target_before = repos.origin_head("env/staging");
    let scratch = tempfile::tempdir().unwrap();
    let error = merge_branches(&request(&repos.url, None), &config(scratch.path())).await.unwrap_err();
    assert!(matches!(error, ScmError::NotMergeable { .. }), "{error}");
    assert!(error.to_string().contains("conflicting changes in app.yaml"), "{error}");
    assert_eq!(repos.origin_head("env/staging"), target_before);

    let stale =
        BranchMerge { expected_head: Some("0123456789abcdef0123456789abcdef01234567"), ..request(&repos.url, None) };
    let error = merge_branches(&stale, &config(scratch.path())).await.unwrap_err();
    assert!(matches!(error, ScmError::Conflict { .. }), "{error}");

    let missing = BranchMerge { source_branch: "env/nope", ..request(&repos.url, None) };
    let error = merge_branches(&missing, &config(scratch.path())).await.unwrap_err();
    assert!(error.to_string().contains("source branch \"env/nope\" does not exist"), "{error}");
    assert_eq!(repos.origin_head("env/staging"), target_before);
}
