//! The Job verification check: one `batch/v1` Job per (stage, freight), created on the cluster
//! the stage's Application deploys to (in its destination namespace unless the check names one),
//! and read back until it is `Complete` or `Failed`.
//!
//! The Job's name is derived from the stage and the freight, so a restarted promoter finds the
//! Job it created instead of starting a second one, and a new freight gets a fresh run.

use std::collections::BTreeMap;

use application::Application;
use application::secrets::{CLUSTER_SECRET_TYPE, ClusterSecret, SECRET_TYPE_LABEL};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use promotion::{Freight, JobCheck};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{Context, ReconcileError};

/// The label marking the Jobs ferry made.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Longest Job name: its pods carry it in the `job-name` label (at most 63 characters).
const MAX_NAME: usize = 63;

/// Where a Job check is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JobOutcome {
    /// The Job completed.
    Passed,
    /// Still running (or waiting for its namespace); the message says which.
    Running(String),
    /// The Job failed, or cannot be made from the stage's spec.
    Failed(String),
}

/// Runs (or reads) the Job check of `stage` for `freight`.
pub(super) async fn check(
    context: &Context,
    stage: &str,
    freight: &Freight,
    app: Option<&Application>,
    check: &JobCheck,
) -> Result<JobOutcome, ReconcileError> {
    let namespace = check
        .namespace
        .clone()
        .or_else(|| app.and_then(|app| app.spec.spec.destination.namespace.clone()))
        .filter(|ns| !ns.is_empty());
    let Some(namespace) = namespace else {
        return Ok(JobOutcome::Failed(
            "verification.job needs a namespace: set verification.job.namespace or the application's destination namespace"
                .to_owned(),
        ));
    };
    let name = job_name(stage, &freight.name_any());
    let client = match destination_client(context, app).await? {
        Ok(client) => client,
        Err(message) => return Ok(JobOutcome::Failed(format!("verification job: {message}"))),
    };
    let jobs: Api<Job> = Api::namespaced(client, &namespace);
    let found = jobs.get_opt(&name).await.map_err(|source| ReconcileError::kube("read", "Job", &name, source))?;
    let job = match found {
        Some(job) => job,
        None => {
            let job = match build(&name, &namespace, stage, freight, check) {
                Ok(job) => job,
                Err(message) => return Ok(JobOutcome::Failed(message)),
            };
            match jobs.create(&PostParams::default(), &job).await {
                Ok(created) => {
                    tracing::info!(stage, job = %name, %namespace, "verification job created");
                    remove_earlier(&jobs, stage, &name).await;
                    created
                }
                // Made by an earlier pass whose answer was lost: read it next time.
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    return Ok(JobOutcome::Running(format!("job {namespace}/{name} starting")));
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    return Ok(JobOutcome::Running(format!(
                        "job {namespace}/{name} waits for namespace {namespace} to exist"
                    )));
                }
                // The API server refused the spec: a user error, reported, never retried blindly.
                Err(kube::Error::Api(status)) if status.code == 400 || status.code == 422 => {
                    return Ok(JobOutcome::Failed(format!("invalid verification.job.spec: {}", status.message)));
                }
                Err(source) => return Err(ReconcileError::kube("create", "Job", &name, source)),
            }
        }
    };
    Ok(outcome(&job))
}

/// The API of the cluster the application deploys to, found as the Application controller finds
/// it: the management cluster for `in-cluster` (or without an application), else the cluster
/// Secret registered under the destination's server or name. The inner error is the user's to
/// fix (an unknown cluster, an unreadable Secret); the outer one is retried.
async fn destination_client(
    context: &Context,
    app: Option<&Application>,
) -> Result<Result<Client, String>, ReconcileError> {
    let Some(destination) = app.map(|app| &app.spec.spec.destination) else {
        return Ok(Ok(context.client.clone()));
    };
    let server = destination.server.as_deref().filter(|s| !s.is_empty());
    let name = destination.name.as_deref().filter(|s| !s.is_empty());
    match (server, name) {
        (Some(controller::IN_CLUSTER_SERVER), _) | (None, Some(controller::IN_CLUSTER_NAME)) | (None, None) => {
            return Ok(Ok(context.client.clone()));
        }
        _ => {}
    }
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), application::NAMESPACE);
    let params = ListParams::default().labels(&format!("{SECRET_TYPE_LABEL}={CLUSTER_SECRET_TYPE}"));
    let mut listed = secrets
        .list(&params)
        .await
        .map_err(|source| ReconcileError::kube("list", "Secret", "cluster secrets", source))?
        .items;
    // Deterministic when two Secrets claim the same cluster, as in the Application controller.
    listed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let found = listed
        .iter()
        .filter_map(|secret| ClusterSecret::from_secret(secret).ok())
        .find(|cluster| cluster.is_destination(server, name));
    let Some(cluster) = found else {
        return Ok(Err(format!(
            "cluster {:?} is not registered (ferry cluster add)",
            server.or(name).unwrap_or_default()
        )));
    };
    let client = cluster
        .kube_config()
        .map_err(|e| e.to_string())
        .and_then(|config| Client::try_from(config).map_err(|e| e.to_string()))
        .map_err(|e| format!("cluster {:?}: {e}", cluster.name));
    Ok(client)
}

/// Deletes the stage's verification Jobs of earlier freight in this namespace (with their
/// Pods): only the current freight's result matters, and one Job per freight would pile up.
/// Best effort: a leftover Job costs nothing but space.
async fn remove_earlier(jobs: &Api<Job>, stage: &str, current: &str) {
    let params = ListParams::default().labels(&format!("{MANAGED_BY}=ferry"));
    let listed = match jobs.list(&params).await {
        Ok(listed) => listed.items,
        Err(error) => {
            tracing::warn!(stage, error = %crate::error_chain(&error), "cannot list earlier verification jobs");
            return;
        }
    };
    for job in listed {
        let name = job.name_any();
        let ours = job.annotations().get(promotion::STAGE_LABEL).map(String::as_str) == Some(stage);
        if !ours || name == current {
            continue;
        }
        if let Err(error) = jobs.delete(&name, &DeleteParams::background()).await {
            tracing::warn!(stage, job = %name, error = %crate::error_chain(&error), "cannot delete an earlier verification job");
        }
    }
}

/// What a Job's conditions say.
fn outcome(job: &Job) -> JobOutcome {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_ref()).cloned().unwrap_or_default();
    let holds = |kind: &str| conditions.iter().find(|c| c.type_ == kind && c.status == "True");
    if holds("Complete").is_some() {
        return JobOutcome::Passed;
    }
    if let Some(failed) = holds("Failed") {
        let why = [failed.reason.as_deref(), failed.message.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        let why = if why.is_empty() { String::new() } else { format!(": {why}") };
        return JobOutcome::Failed(format!("verification job {namespace}/{name} failed{why}"));
    }
    JobOutcome::Running(format!("verification job {namespace}/{name} is running"))
}

/// The Job object: the stage's spec, named and labelled for this run.
fn build(name: &str, namespace: &str, stage: &str, freight: &Freight, check: &JobCheck) -> Result<Job, String> {
    let value = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "namespace": namespace },
        "spec": check.spec,
    });
    let mut job: Job = serde_json::from_value(value).map_err(|e| format!("invalid verification.job.spec: {e}"))?;
    job.metadata.labels = Some(BTreeMap::from([(MANAGED_BY.to_owned(), "ferry".to_owned())]));
    // Annotations, not labels: a stage name may be longer than a label value may be.
    job.metadata.annotations = Some(BTreeMap::from([
        (promotion::STAGE_LABEL.to_owned(), stage.to_owned()),
        ("ferry.dev/freight".to_owned(), freight.name_any()),
    ]));
    Ok(job)
}

/// `verify-<stage>-<freight[..12]>`, a DNS label of at most 63 characters. A stage name too long
/// to fit is cut and followed by a hash of the whole name, so two long names never share a Job.
pub(super) fn job_name(stage: &str, freight: &str) -> String {
    let freight: String =
        freight.chars().filter(char::is_ascii_alphanumeric).take(12).collect::<String>().to_lowercase();
    let clean: String =
        stage.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let room = MAX_NAME - "verify-".len() - 1 - freight.len();
    let stage_part = if clean.len() <= room {
        clean
    } else {
        let hash: String = Sha256::digest(stage.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
        let keep = room - 9;
        format!("{}-{}", clean[..keep].trim_end_matches('-'), &hash[..8])
    };
    format!("verify-{}-{freight}", stage_part.trim_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_dns_labels_and_long_stages_do_not_collide() {
        assert_eq!(job_name("dev", "0123456789abcdef0123"), "verify-dev-0123456789ab");
        assert_eq!(job_name("eu.prod", "ABCDEF0123456789"), "verify-eu-prod-abcdef012345");
        let long_a = format!("{}a", "x".repeat(80));
        let long_b = format!("{}b", "x".repeat(80));
        let (a, b) = (job_name(&long_a, "f00d"), job_name(&long_b, "f00d"));
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.len() <= MAX_NAME, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(name.ends_with("-f00d"), "{name}");
        }
    }

    #[test]
    fn conditions_decide_the_outcome() {
        let job = |conditions: serde_json::Value| -> Job {
            serde_json::from_value(json!({
                "metadata": {"name": "verify-dev-abc", "namespace": "web"},
                "status": {"conditions": conditions},
            }))
            .unwrap()
        };
        assert_eq!(outcome(&job(json!([{"type": "Complete", "status": "True"}]))), JobOutcome::Passed);
        assert_eq!(
            outcome(&job(json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]))),
            JobOutcome::Failed(
                "verification job web/verify-dev-abc failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
                    .into()
            )
        );
        assert!(matches!(outcome(&job(json!([]))), JobOutcome::Running(_)));
        assert!(matches!(outcome(&job(json!([{"type": "Complete", "status": "False"}]))), JobOutcome::Running(_)));
    }
}
