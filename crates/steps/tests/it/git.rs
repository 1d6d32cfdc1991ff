//! git-clone, yaml-update, kustomize-set-image, git-commit and git-push against real
//! repositories (bare origins on `file://` URLs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness;

use harness::{Env, Origin, step};
use serde_json::json;
use steps::OutcomePhase;

const VALUES: &str =
    "# values for dev\nimage:\n  repository: registry.local/app\n  tag: v0.9.0 # pinned by ferry\nreplicas: 2\n";

fn promote_steps(url: &str, push: bool) -> Vec<promotion::PromotionStep> {
    let mut steps = vec![
        step("git-clone", "clone", json!({ "repoURL": url, "checkout": [{ "branch": "main", "path": "repo" }] })),
        step(
            "yaml-update",
            "update",
            json!({
                "path": "repo/env/${{ vars.env }}/values.yaml",
                "updates": [{ "key": "image.tag", "value": "${{ imageFrom('registry.local/app').tag }}" }]
            }),
        ),
        step(
            "git-commit",
            "commit",
            json!({ "path": "repo", "message": "Promote ${{ freight.alias }} to ${{ ctx.stage }}" }),
        ),
    ];
    if push {
        steps.push(step("git-push", "push", json!({ "path": "repo" })));
    }
    steps
}

#[tokio::test]
async fn clone_update_commit_push_and_a_rerun_finds_its_own_commit() {
    let origin = Origin::new(&[("env/dev/values.yaml", VALUES)]);
    let before = origin.count("main");

    // A first attempt that "crashes" before pushing: its commit SHA must be reproducible.
    let crashed = Env::new();
    let (outcomes, outputs) = crashed.run(&promote_steps(&origin.url, false)).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    let unpushed = outputs["commit"]["commit"].as_str().unwrap().to_owned();

    let env = Env::new();
    let (outcomes, outputs) = env.run(&promote_steps(&origin.url, true)).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    let pushed = outputs["push"]["commit"].as_str().unwrap().to_owned();
    assert_eq!(pushed, unpushed, "same change, same parent, same promotion: same commit");
    assert_eq!(outputs["push"]["branch"], "main");
    assert_eq!(origin.head("main"), pushed);
    assert_eq!(origin.count("main"), before + 1);
    assert_eq!(
        origin.show("main:env/dev/values.yaml"),
        VALUES.replace("v0.9.0", "v1.0.0").trim_end(),
        "only the tag changed; comments kept"
    );
    let message = origin.message("main");
    assert!(message.starts_with("Promote brave-otter to dev\n\n"), "{message}");
    assert!(message.contains("Ferry-Promotion: dev-promo-1"), "{message}");
    assert!(message.contains("Ferry-Freight: f0123456789"), "{message}");
    assert!(message.contains("Ferry-Source-Commit: 1111111111111111111111111111111111111111"), "{message}");

    // Re-running the whole promotion (a restarted controller) changes nothing.
    let (outcomes, outputs) = env.run(&promote_steps(&origin.url, true)).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    assert_eq!(outputs["update"]["changed"], false);
    assert_eq!(outputs["commit"]["commit"], pushed.as_str());
    assert_eq!(outputs["push"]["commit"], pushed.as_str());
    assert_eq!(origin.count("main"), before + 1, "no second commit");
}

#[tokio::test]
async fn a_push_behind_the_remote_is_rebased_and_pushed() {
    let origin = Origin::new(&[("env/dev/values.yaml", VALUES), ("README.md", "hello\n")]);
    let env = Env::new();
    let steps = promote_steps(&origin.url, true);
    let (outcomes, _) = env.run(&steps[..3]).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    let other = origin.commit("main", &[("README.md", "hello again\n")], "someone else");

    let (outcomes, outputs) = {
        let mut outputs = serde_json::Map::new();
        outputs.insert("commit".into(), json!({}));
        let outcome = steps::run_step(&steps[3], &env.ctx(&outputs, None)).await;
        (vec![outcome.clone()], outcome.outputs)
    };
    assert_eq!(outcomes[0].phase, OutcomePhase::Succeeded, "{outcomes:?}");
    let pushed = outputs["commit"].as_str().unwrap();
    assert_eq!(origin.head("main"), pushed);
    assert_eq!(harness::git(&origin.dir.path().join("origin.git"), &["rev-parse", "main^"]), other);
    assert_eq!(origin.show("main:README.md"), "hello again");
    assert!(origin.show("main:env/dev/values.yaml").contains("tag: v1.0.0"));
}

#[tokio::test]
async fn a_true_conflict_fails_with_a_message_and_leaves_origin_alone() {
    let origin = Origin::new(&[("env/dev/values.yaml", VALUES)]);
    let env = Env::new();
    let steps = promote_steps(&origin.url, true);
    let (outcomes, _) = env.run(&steps[..3]).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    let theirs = origin.commit("main", &[("env/dev/values.yaml", &VALUES.replace("v0.9.0", "v0.9.1"))], "hotfix");

    let outputs = serde_json::Map::new();
    let outcome = steps::run_step(&steps[3], &env.ctx(&outputs, None)).await;
    assert_eq!(outcome.phase, OutcomePhase::Failed, "{outcome:?}");
    let message = outcome.message.unwrap_or_default();
    assert!(message.contains("conflict") && message.contains("main"), "{message}");
    assert_eq!(origin.head("main"), theirs, "origin unchanged");
}

#[tokio::test]
async fn kustomize_set_image_edits_images_in_place() {
    let kustomization = "# overlay\nresources:\n  - ../../base\nimages:\n  - name: other\n    newTag: \"1\"\n";
    let origin = Origin::new(&[("env/dev/kustomization.yaml", kustomization)]);
    let env = Env::new();
    let steps = vec![
        step(
            "git-clone",
            "clone",
            json!({ "repoURL": origin.url, "checkout": [{ "branch": "main", "path": "repo" }] }),
        ),
        step(
            "kustomize-set-image",
            "img",
            json!({ "path": "repo/env/dev", "images": [{ "image": "registry.local/app" }] }),
        ),
        step(
            "kustomize-set-image",
            "img2",
            json!({ "path": "repo/env/dev", "images": [{ "image": "other", "digest": "sha256:def" }] }),
        ),
    ];
    let (outcomes, outputs) = env.run(&steps).await;
    assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    assert_eq!(outputs["img"]["changed"], true);
    let text = std::fs::read_to_string(env.workdir.path().join("repo/env/dev/kustomization.yaml")).unwrap();
    assert_eq!(
        text,
        "# overlay\nresources:\n  - ../../base\nimages:\n  - name: other\n    digest: sha256:def\n  - name: registry.local/app\n    newTag: v1.0.0\n"
    );
    // Again: nothing changes.
    let (_, outputs) = env.run(&steps[1..]).await;
    assert_eq!(outputs["img"]["changed"], false);
}

#[tokio::test]
async fn paths_that_escape_the_workdir_are_refused() {
    let env = Env::new();
    std::os::unix::fs::symlink("/etc", env.workdir.path().join("link")).unwrap();
    for (uses, config) in [
        ("yaml-update", json!({ "path": "../values.yaml", "updates": [{ "key": "a", "value": 1 }] })),
        ("yaml-update", json!({ "path": "link/hostname", "updates": [{ "key": "a", "value": 1 }] })),
        ("copy", json!({ "inPath": "link/hostname", "outPath": "x" })),
        ("copy", json!({ "inPath": "a", "outPath": "/tmp/x" })),
    ] {
        let outputs = serde_json::Map::new();
        let outcome = steps::run_step(&step(uses, "s", config.clone()), &env.ctx(&outputs, None)).await;
        assert_eq!(outcome.phase, OutcomePhase::Failed, "{config}");
        assert!(outcome.message.unwrap_or_default().contains("escapes"), "{config}");
    }
}

#[tokio::test]
async fn a_resumed_push_finds_its_rebased_commit_by_trailer() {
    let origin = Origin::new(&[("env/dev/values.yaml", VALUES), ("README.md", "hello\n")]);
    let steps = promote_steps(&origin.url, true);
    // Two copies of the same attempt: the second stands for a controller that crashed after
    // its push went through and resumes with its old worktree.
    let (first, resumed) = (Env::new(), Env::new());
    for env in [&first, &resumed] {
        let (outcomes, _) = env.run(&steps[..3]).await;
        assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
    }
    origin.commit("main", &[("README.md", "moved on\n")], "someone else");
    let outputs = serde_json::Map::new();
    let pushed = steps::run_step(&steps[3], &first.ctx(&outputs, None)).await;
    assert_eq!(pushed.phase, OutcomePhase::Succeeded, "{pushed:?}");
    let count = origin.count("main");

    let again = steps::run_step(&steps[3], &resumed.ctx(&outputs, None)).await;
    assert_eq!(again.phase, OutcomePhase::Succeeded, "{again:?}");
    assert_eq!(again.outputs["commit"], pushed.outputs["commit"], "found by its Ferry-Promotion trailer");
    assert_eq!(origin.count("main"), count, "no second commit");
}

#[tokio::test]
async fn concurrent_promotions_of_one_process_all_land_on_one_branch() {
    const PROMOTIONS: usize = 12;
    let files: Vec<(String, String)> =
        (0..PROMOTIONS).map(|i| (format!("env/e{i}/values.yaml"), VALUES.to_owned())).collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let origin = Origin::new(&files);
    let before = origin.count("main");

    // Each promotion edits its own folder; all clone the same `main` before any of them pushes.
    let mut envs = Vec::new();
    for i in 0..PROMOTIONS {
        let mut env = Env::new();
        env.promotion = format!("e{i}-promo");
        env.vars.insert("env".into(), json!(format!("e{i}")));
        let (outcomes, _) = env.run(&promote_steps(&origin.url, false)).await;
        assert!(outcomes.iter().all(|o| o.phase == OutcomePhase::Succeeded), "{outcomes:?}");
        envs.push(env);
    }
    let push = step("git-push", "push", json!({ "path": "repo" }));
    let pushes = steps::PushLocks::default();
    let outputs = serde_json::Map::new();
    let outcomes = futures::future::join_all(envs.iter().map(|env| {
        let mut ctx = env.ctx(&outputs, None);
        ctx.pushes = &pushes;
        let push = &push;
        async move { steps::run_step(push, &ctx).await }
    }))
    .await;
    for outcome in &outcomes {
        assert_eq!(outcome.phase, OutcomePhase::Succeeded, "{outcome:?}");
    }
    assert_eq!(origin.count("main"), before + PROMOTIONS, "one commit per promotion");
    for i in 0..PROMOTIONS {
        assert!(origin.show(&format!("main:env/e{i}/values.yaml")).contains("tag: v1.0.0"), "e{i}");
    }
}
