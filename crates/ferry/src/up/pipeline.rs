//! The promotion half of `ferry up --demo`: a warehouse watching the demo repository and a
//! three-stage pipeline (dev → staging → prod) over hydrated environment branches.
//!
//! - The warehouse subscribes to `main`, only to commits touching `apps/guestbook/`; ferry's own
//!   commits (on the environment branches, with the `Ferry-Promotion` trailer) never make freight.
//! - Every stage hydrates `apps/guestbook` at the freight's commit into `environment/<stage>`:
//!   dev pushes there directly; staging and prod push to `environment/<stage>-next` and open a pull
//!   request with the local provider, merged by ferry once the gates pass.
//! - prod requires `ferry approve`.
//! - Applications `guestbook-<stage>` track the environment branches.

use std::path::Path;

use anyhow::{Context, Result};
use application::Application;
use kube::Api;
use kube::api::{Patch, PatchParams};
use promotion::{Pipeline, Warehouse};
use serde_json::{Value, json};

/// The stages, in order.
pub const STAGES: [&str; 3] = ["dev", "staging", "prod"];

/// Creates the environment branches, the Applications, the Warehouse and the Pipeline.
pub async fn create(client: &kube::Client, repo: &Path) -> Result<()> {
    let repo_url = format!("file://{}", repo.display());
    for stage in STAGES {
        environment_branch(repo, stage).await?;
    }
    let params = PatchParams::apply("ferry-up").force();
    let apps: Api<Application> = Api::namespaced(client.clone(), application::NAMESPACE);
    for stage in STAGES {
        let name = format!("guestbook-{stage}");
        let app = stage_app(&name, &repo_url, stage);
        apps.patch(&name, &params, &Patch::Apply(&app))
            .await
            .map_err(crate::cli::kube_error)
            .with_context(|| format!("cannot create the demo application {name}"))?;
    }
    let warehouses: Api<Warehouse> = Api::namespaced(client.clone(), promotion::NAMESPACE);
    warehouses
        .patch("guestbook", &params, &Patch::Apply(&warehouse(&repo_url)))
        .await
        .map_err(crate::cli::kube_error)
        .context("cannot create the demo warehouse")?;
    let pipelines: Api<Pipeline> = Api::namespaced(client.clone(), promotion::NAMESPACE);
    pipelines
        .patch("guestbook", &params, &Patch::Apply(&pipeline(&repo_url)))
        .await
        .map_err(crate::cli::kube_error)
        .context("cannot create the demo pipeline")?;
    Ok(())
}

/// Starts `environment/<stage>` as an empty branch, so the stage's app has something to track
/// before its first promotion. Left alone when it exists.
async fn environment_branch(repo: &Path, stage: &str) -> Result<()> {
    let branch = format!("refs/heads/environment/{stage}");
    if super::git_output(repo, &["rev-parse", "--verify", "--quiet", &branch]).await.is_ok() {
        return Ok(());
    }
    let empty_tree = super::git_output(repo, &["hash-object", "-t", "tree", "/dev/null"]).await?;
    let commit = super::git_output(
        repo,
        &[
            "-c",
            "user.name=ferry demo",
            "-c",
            "user.email=demo@ferry.invalid",
            "commit-tree",
            &empty_tree,
            "-m",
            &format!("start environment/{stage}"),
        ],
    )
    .await?;
    super::git_output(repo, &["update-ref", &branch, &commit]).await?;
    Ok(())
}

fn stage_app(name: &str, repo_url: &str, stage: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": application::NAMESPACE, "finalizers": [application::FINALIZER]},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": format!("environment/{stage}"), "path": "."},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": format!("guestbook-{stage}")},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    })
}

fn warehouse(repo_url: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Warehouse",
        "metadata": {"name": "guestbook", "namespace": promotion::NAMESPACE},
        "spec": {
            "interval": "15s",
            "subscriptions": [{"git": {
                "repoURL": repo_url,
                "branch": "main",
                "includePaths": ["apps/guestbook/"],
            }}],
        },
    })
}

/// The shared template: hydrate the freight's commit into the stage's environment branch, land
/// it (directly, or by pull request when `viaPR` is "true"), then sync and wait for the app.
fn pipeline(repo_url: &str) -> Value {
    let via_pr = "vars.viaPR == 'true'";
    json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "guestbook", "namespace": promotion::NAMESPACE},
        "spec": {
            "warehouse": "guestbook",
            "vars": [{"name": "repoURL", "value": repo_url}, {"name": "viaPR", "value": "true"}],
            "promotionTemplate": {"spec": {"steps": [
                {"uses": "git-clone", "config": {
                    "repoURL": "${{ vars.repoURL }}",
                    "checkout": [
                        {"commit": "${{ commitFrom(vars.repoURL).id }}", "path": "./src"},
                        {"branch": "environment/${{ ctx.stage }}", "create": true, "path": "./out"},
                    ],
                }},
                {"uses": "hydrate", "as": "hydrate", "config": {
                    "sourcePath": "./src",
                    "path": "apps/guestbook",
                    "outPath": "./out",
                    "app": {"name": "guestbook-${{ ctx.stage }}", "namespace": "guestbook-${{ ctx.stage }}"},
                }},
                {"uses": "git-commit", "as": "commit", "config": {
                    "path": "./out",
                    "message": "guestbook: hydrate ${{ freight.alias }} for ${{ ctx.stage }}",
                }},
                {"uses": "git-push", "as": "push", "config": {
                    "path": "./out",
                    "generateTargetBranch": format!("${{{{ {via_pr} }}}}"),
                }},
                {"uses": "git-open-pr", "as": "pr", "if": via_pr, "config": {
                    "repoURL": "${{ vars.repoURL }}",
                    "sourceBranch": "${{ outputs.push.branch }}",
                    "targetBranch": "environment/${{ ctx.stage }}",
                }},
                {"uses": "git-wait-for-pr", "as": "merge", "if": via_pr, "config": {
                    "repoURL": "${{ vars.repoURL }}",
                    "prNumber": "${{ outputs.pr.prNumber }}",
                }},
                {"uses": "app-sync", "config": {"app": "guestbook-${{ ctx.stage }}"}},
                {"uses": "app-wait", "config": {"app": "guestbook-${{ ctx.stage }}"}},
            ]}},
            "stages": [
                {"name": "dev", "vars": [{"name": "viaPR", "value": "false"}],
                 "autoPromotion": {"enabled": true}, "application": "guestbook-dev"},
                {"name": "staging", "autoPromotion": {"enabled": true}, "application": "guestbook-staging"},
                {"name": "prod", "autoPromotion": {"enabled": true}, "approval": {"required": true},
                 "application": "guestbook-prod"},
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_pipeline_expands_into_three_stages_with_valid_steps() {
        let pipeline: Pipeline = serde_json::from_value(pipeline("file:///tmp/repo")).unwrap();
        let stages = promotion::expand::expand(&pipeline).unwrap();
        let names: Vec<_> = stages.iter().map(|s| s.metadata.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["dev", "staging", "prod"]);
        let steps = &stages[0].spec.promotion_template.as_ref().unwrap().spec.steps;
        steps::validate(steps).unwrap();
        assert!(promotion::selection::approval_required(&stages[2]));
        assert!(!promotion::selection::approval_required(&stages[1]));
    }

    #[test]
    fn the_demo_warehouse_and_apps_parse() {
        let warehouse: Warehouse = serde_json::from_value(warehouse("file:///tmp/repo")).unwrap();
        let git = warehouse.spec.subscriptions[0].git.as_ref().unwrap();
        assert_eq!(git.include_paths, ["apps/guestbook/"]);
        let app: Application = serde_json::from_value(stage_app("guestbook-dev", "file:///tmp/repo", "dev")).unwrap();
        assert_eq!(app.spec.spec.source.target_revision, "environment/dev");
    }
}
