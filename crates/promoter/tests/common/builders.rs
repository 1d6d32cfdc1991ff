//! JSON builders of the objects promotion tests create, shared (with `#[path]`) by the promoter's
//! in-process tests and the binary's end-to-end tests: pure data, no harness, no IO.

#![allow(dead_code)]

use promotion::{Freight, Promotion, PromotionPhase};
use serde_json::{Value, json};

/// A Deployment `web` whose image promotions set. A short progress deadline, so a version
/// that never gets ready turns Degraded quickly.
pub const APP_YAML: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        # the image is set by promotions
        image: example.invalid/web:none
";

/// The phase of a promotion.
pub fn phase(promotion: &Promotion) -> PromotionPhase {
    promotion.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// Whether `freight` is verified in `stage`.
pub fn verified_in(freight: &Freight, stage: &str) -> bool {
    freight.status.as_ref().is_some_and(|s| s.verified_in.contains_key(stage))
}

/// A warehouse over one image repository (SemVer, constraint `^1`), discovering hourly: new
/// versions come by a refresh or the registry webhook.
pub fn image_warehouse(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Warehouse",
        "metadata": {"name": name, "namespace": promotion::NAMESPACE},
        "spec": {"interval": "1h", "subscriptions": [{"image": {
            "repoURL": image, "imageSelectionStrategy": "SemVer", "constraint": "^1"}}]},
    })
}

/// An Application tracking `revision` and `path` of `repo`, synced automatically.
pub fn app(name: &str, repo: &str, revision: &str, path: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": application::NAMESPACE},
        "spec": {
            "source": {"repoURL": repo, "targetRevision": revision, "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    })
}

/// The dev stage: folder layout on `main` (clone, set the image, commit, push, sync, wait),
/// directly from warehouse `web`, auto-promoted, verified after `soak`.
pub fn soaked_dev_stage(repo: &str, image: &str, soak: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
        "metadata": {"name": "dev", "namespace": promotion::NAMESPACE},
        "spec": {
            "application": "web-dev",
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "web"}, "sources": {"direct": true}}],
            "autoPromotion": {},
            "verification": {"requiredSoakTime": soak},
            "vars": [{"name": "repoURL", "value": repo}, {"name": "image", "value": image}],
            "promotionTemplate": {"spec": {"steps": [
                {"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}",
                    "checkout": [{"branch": "main", "path": "./repo"}]}},
                {"uses": "yaml-update", "config": {"path": "./repo/env/dev/deployment.yaml", "updates": [
                    {"key": "spec.template.spec.containers.0.image",
                     "value": "${{ vars.image + ':' + imageFrom(vars.image).tag }}"}]}},
                {"uses": "git-commit", "config": {"path": "./repo",
                    "message": "dev: web ${{ imageFrom(vars.image).tag }}"}},
                {"uses": "git-push", "as": "push", "config": {"path": "./repo"}},
                {"uses": "app-sync", "config": {"app": "web-dev", "revision": "${{ outputs.push.commit }}"}},
                {"uses": "app-wait", "config": {"app": "web-dev", "revision": "${{ outputs.push.commit }}"}},
            ]}},
        },
    })
}

/// A hydrated-branch stage: sets the image in `env/<stage>` on `main`, renders it into
/// `environment/<stage>-next`, opens a local pull request into `environment/<stage>`, waits
/// for its merge, syncs and waits for `web-<stage>`. Freight comes from `upstream` (a stage)
/// or, when `upstream` is `None`, directly from the warehouse. `extra` is merged into the spec.
pub fn hydrated_stage(name: &str, upstream: Option<&str>, repo: &str, image: &str, extra: Value) -> Value {
    let sources = match upstream {
        Some(stage) => json!({"stages": [stage]}),
        None => json!({"direct": true}),
    };
    let mut stage = json!({
        "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
        "metadata": {"name": name, "namespace": promotion::NAMESPACE},
        "spec": {
            "application": format!("web-{name}"),
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "web"}, "sources": sources}],
            "autoPromotion": {},
            "vars": [{"name": "repoURL", "value": repo}, {"name": "image", "value": image}],
            "promotionTemplate": {"spec": {"steps": [
                {"uses": "git-clone", "config": {"repoURL": "${{ vars.repoURL }}", "checkout": [
                    {"branch": "main", "path": "./src"},
                    {"branch": "environment/${{ ctx.stage }}", "create": true, "path": "./out"}]}},
                {"uses": "yaml-update", "config": {"path": "./src/env/${{ ctx.stage }}/deployment.yaml", "updates": [
                    {"key": "spec.template.spec.containers.0.image",
                     "value": "${{ vars.image + ':' + imageFrom(vars.image).tag }}"}]}},
                {"uses": "hydrate", "config": {"sourcePath": "./src", "path": "env/${{ ctx.stage }}", "outPath": "./out"}},
                {"uses": "git-commit", "config": {"path": "./out",
                    "message": "${{ ctx.stage }}: web ${{ imageFrom(vars.image).tag }}"}},
                {"uses": "git-push", "as": "push", "config": {"path": "./out", "generateTargetBranch": true}},
                {"uses": "git-open-pr", "as": "pr", "config": {"repoURL": "${{ vars.repoURL }}",
                    "sourceBranch": "${{ outputs.push.branch }}", "targetBranch": "environment/${{ ctx.stage }}"}},
                {"uses": "git-wait-for-pr", "as": "merge", "config": {"repoURL": "${{ vars.repoURL }}",
                    "prNumber": "${{ outputs.pr.prNumber }}"}},
                {"uses": "app-sync", "config": {"app": "web-${{ ctx.stage }}", "revision": "${{ outputs.merge.commit }}"}},
                {"uses": "app-wait", "config": {"app": "web-${{ ctx.stage }}", "revision": "${{ outputs.merge.commit }}"}},
            ]}},
        },
    });
    if let (Some(spec), Some(extra)) = (stage["spec"].as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            spec.insert(key.clone(), value.clone());
        }
    }
    stage
}
