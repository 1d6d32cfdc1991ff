use super::*;
use crate::CommitStatusSpec;

const REPO: &str = "https://git.example.com/org/app";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn status(key: &str, phase: CommitStatusPhase, description: Option<&str>) -> CommitStatus {
    status_for(REPO, SHA, key, phase, description)
}

fn status_for(repo: &str, sha: &str, key: &str, phase: CommitStatusPhase, description: Option<&str>) -> CommitStatus {
    CommitStatus::new(
        &commit_status_name(repo, sha, key),
        CommitStatusSpec {
            repo_url: repo.to_owned(),
            sha: sha.to_owned(),
            key: key.to_owned(),
            phase,
            description: description.map(str::to_owned),
            url: None,
        },
    )
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn no_keys_pass() {
    assert_eq!(evaluate(&[], &[], REPO, SHA), GateResult::Passed);
}

#[test]
fn every_key_must_succeed() {
    let statuses = [
        status("ci/tests", CommitStatusPhase::Success, None),
        status("ferry.dev/health", CommitStatusPhase::Success, None),
    ];
    assert_eq!(evaluate(&keys(&["ci/tests", "ferry.dev/health"]), &statuses, REPO, SHA), GateResult::Passed);
}

#[test]
fn missing_and_pending_keys_are_reported_separately() {
    let statuses = [status("ci/tests", CommitStatusPhase::Pending, None)];
    let result = evaluate(&keys(&["ci/tests", "ferry.dev/soak"]), &statuses, REPO, SHA);
    assert_eq!(result, GateResult::Pending { missing: keys(&["ferry.dev/soak"]), pending: keys(&["ci/tests"]) });
    assert_eq!(result.summary(), "waiting for gates (pending: ci/tests; no status yet: ferry.dev/soak)");
}

#[test]
fn a_failure_fails_even_with_keys_missing() {
    let statuses = [status("ci/tests", CommitStatusPhase::Failure, Some("3 tests failed"))];
    let result = evaluate(&keys(&["ferry.dev/soak", "ci/tests"]), &statuses, REPO, SHA);
    assert_eq!(result, GateResult::Failed { key: "ci/tests".into(), description: "3 tests failed".into() });
    assert_eq!(result.summary(), "gate ci/tests failed: 3 tests failed");
}

#[test]
fn the_last_status_of_a_key_wins() {
    let statuses =
        [status("ci/tests", CommitStatusPhase::Failure, None), status("ci/tests", CommitStatusPhase::Success, None)];
    assert_eq!(evaluate(&keys(&["ci/tests"]), &statuses, REPO, SHA), GateResult::Passed);
    let reversed = [statuses[1].clone(), statuses[0].clone()];
    assert!(matches!(evaluate(&keys(&["ci/tests"]), &reversed, REPO, SHA), GateResult::Failed { .. }));
}

#[test]
fn statuses_of_other_commits_or_repositories_do_not_count() {
    let other_sha = status_for(REPO, "ffff", "ci/tests", CommitStatusPhase::Success, None);
    let other_repo = status_for("https://git.example.com/org/other", SHA, "ci/tests", CommitStatusPhase::Success, None);
    let result = evaluate(&keys(&["ci/tests"]), &[other_sha, other_repo], REPO, SHA);
    assert_eq!(result, GateResult::Pending { missing: keys(&["ci/tests"]), pending: vec![] });
}

#[test]
fn repository_urls_and_shas_match_loosely() {
    let spelled = status_for(
        "https://GIT.example.com/org/app.git/",
        &SHA.to_uppercase(),
        "ci/tests",
        CommitStatusPhase::Success,
        None,
    );
    assert_eq!(evaluate(&keys(&["ci/tests"]), &[spelled], REPO, SHA), GateResult::Passed);
}

#[test]
fn normalisation() {
    assert_eq!(normalize_repo_url("https://GitHub.com/Org/App.git"), "https://github.com/Org/App");
    assert_eq!(normalize_repo_url("HTTPS://github.com/org/app/"), "https://github.com/org/app");
    assert_eq!(normalize_repo_url("https://user:token@github.com/org/app"), "https://github.com/org/app");
    assert_eq!(normalize_repo_url("ssh://git@GitHub.com/org/app.git"), "ssh://github.com/org/app");
    assert_eq!(normalize_repo_url("git@GitHub.com:org/app.git"), "github.com:org/app");
    assert_eq!(normalize_repo_url(" /srv/git/app.git/ "), "/srv/git/app");
    assert_eq!(normalize_repo_url("/srv/Git:old/app"), "/srv/Git:old/app");
    assert_eq!(normalize_repo_url("http://127.0.0.1:8080/app.git"), "http://127.0.0.1:8080/app");
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[test]
fn commit_status_names_are_stable_valid_and_distinct() {
    let name = commit_status_name(REPO, SHA, "ferry.dev/health");
    assert!(name.starts_with("ferry-dev-health-0123456-"), "{name}");
    assert!(is_dns_label(&name), "{name}");
    // The same triple, spelled differently, names the same object.
    assert_eq!(
        commit_status_name("https://git.example.com/org/app.git", &SHA.to_uppercase(), "ferry.dev/health"),
        name
    );
    // Keys that slug alike still differ.
    assert_ne!(commit_status_name(REPO, SHA, "ci/tests"), commit_status_name(REPO, SHA, "ci.tests"));
    assert_ne!(commit_status_name(REPO, SHA, "ci/tests"), commit_status_name(REPO, "abc", "ci/tests"));
    for key in ["", "---", "A Very Long Key With Spaces And Ümlauts That Goes On And On/and/on", "9"] {
        let name = commit_status_name(REPO, "", key);
        assert!(is_dns_label(&name), "{key:?} -> {name}");
    }
}
