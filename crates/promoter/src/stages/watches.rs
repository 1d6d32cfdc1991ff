//! Which stages a change of a related object concerns, so the Stage controller wakes those only.

use std::sync::Arc;

use application::Application;
use kube::ResourceExt;
use promotion::{CommitStatus, Freight, Promotion, Stage};

/// A changed object a stage's status depends on.
pub(super) enum Wake<'a> {
    /// A promotion: its own stage.
    Promotion(&'a Promotion),
    /// A freight: the stages requesting freight of its origin, and those it runs in, was
    /// verified in or approved for.
    Freight(&'a Freight),
    /// A commit status: the stages whose active commit it is about.
    CommitStatus(&'a CommitStatus),
    /// An application: the stages it is the application of.
    Application(&'a Application),
}

/// The names of the stages `wake` concerns.
pub(super) fn affected(stages: &[Arc<Stage>], wake: &Wake<'_>) -> Vec<String> {
    stages.iter().filter(|stage| concerns(stage, wake)).map(|stage| stage.name_any()).collect()
}

fn concerns(stage: &Stage, wake: &Wake<'_>) -> bool {
    let name = stage.name_any();
    match wake {
        Wake::Promotion(promotion) => promotion.spec.stage == name,
        Wake::Freight(freight) => {
            let origin = &freight.spec.origin;
            let requested = stage
                .spec
                .requested_freight
                .iter()
                .any(|request| request.origin.kind == origin.kind && request.origin.name == origin.name);
            let listed = freight.status.as_ref().is_some_and(|status| {
                status.current_in.contains_key(&name)
                    || status.verified_in.contains_key(&name)
                    || status.approved_for.contains_key(&name)
            });
            requested || listed
        }
        Wake::CommitStatus(status) => {
            let sha = status.spec.sha.as_str();
            stage.status.as_ref().and_then(|s| s.active_commit.as_deref()).is_some_and(|active| {
                !sha.is_empty() && !active.is_empty() && (active.starts_with(sha) || sha.starts_with(active))
            })
        }
        Wake::Application(app) => stage.spec.application.as_deref() == Some(app.name_any().as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(name: &str, warehouse: &str, app: &str, active: Option<&str>) -> Arc<Stage> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "ferry.dev/v1alpha1", "kind": "Stage",
                "metadata": {"name": name, "namespace": "ferry"},
                "spec": {
                    "application": app,
                    "requestedFreight": [{"origin": {"kind": "Warehouse", "name": warehouse}, "sources": {"direct": true}}],
                },
                "status": {"activeCommit": active},
            }))
            .unwrap(),
        )
    }

    fn stages() -> Vec<Arc<Stage>> {
        vec![
            stage("dev", "web", "web-dev", Some("aaaa1111")),
            stage("staging", "web", "web-staging", Some("bbbb2222")),
            stage("api", "api", "api-dev", None),
        ]
    }

    #[test]
    fn promotions_wake_their_stage() {
        let promotion: Promotion = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ferry"}, "spec": {"stage": "staging", "freight": "f", "steps": []},
        }))
        .unwrap();
        assert_eq!(affected(&stages(), &Wake::Promotion(&promotion)), ["staging"]);
    }

    #[test]
    fn freight_wakes_the_stages_of_its_warehouse_and_those_listed_in_its_status() {
        let freight: Freight = serde_json::from_value(json!({
            "metadata": {"name": "f", "namespace": "ferry"},
            "alias": "a", "origin": {"kind": "Warehouse", "name": "web"},
            "status": {"currentIn": {"gone": {}}},
        }))
        .unwrap();
        assert_eq!(affected(&stages(), &Wake::Freight(&freight)), ["dev", "staging"]);
        let other: Freight = serde_json::from_value(json!({
            "metadata": {"name": "g", "namespace": "ferry"},
            "alias": "b", "origin": {"kind": "Warehouse", "name": "elsewhere"},
            "status": {"verifiedIn": {"api": {}}},
        }))
        .unwrap();
        assert_eq!(affected(&stages(), &Wake::Freight(&other)), ["api"]);
    }

    #[test]
    fn commit_statuses_wake_the_stages_on_that_commit_and_apps_their_stages() {
        let status: CommitStatus = serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "ferry"},
            "spec": {"repoURL": "file:///r", "sha": "bbbb2222ffff", "key": "ci", "phase": "success"},
        }))
        .unwrap();
        assert_eq!(affected(&stages(), &Wake::CommitStatus(&status)), ["staging"]);
        let app: Application = serde_json::from_value(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": "api-dev", "namespace": "ferry"},
            "spec": {"source": {"repoURL": "file:///r", "path": "."}, "destination": {"namespace": "api"}},
        }))
        .unwrap();
        assert_eq!(affected(&stages(), &Wake::Application(&app)), ["api"]);
    }
}
