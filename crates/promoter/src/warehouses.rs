//! Reconciles Warehouses: discovery on an interval, on a refresh annotation, on a spec change
//! or on a push webhook; new versions become Freight.
//!
//! A failed discovery becomes `Ready=False` with the reason (no password in it) and keeps the
//! versions found before; no Freight is made from it.
//!
//! Due when any of these holds: `interval` (default: the promoter's) has passed since
//! `status.discoveredAt`; the `ferry.dev/refresh` annotation differs from
//! `status.lastHandledRefresh`; the spec changed (`metadata.generation` ≠
//! `status.observedGeneration`); a push webhook marked it (an in-memory mark, consumed here).
//!
//! Credentials come from repository Secrets (label `ferry.dev/secret-type: repository`, as
//! `ferry repo add` writes them and the Application controller reads them), matched by the
//! longest URL prefix: git remotes take username/password or an SSH key; registries and chart
//! repositories (`oci://` optional in the Secret's `url`) take username/password, or a password
//! alone sent as a bearer token. See `credentials.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use promotion::duration::{format_timestamp, parse_duration, parse_timestamp};
use promotion::{
    Condition, DiscoveredArtifacts, Freight, FreightCreationPolicy, FreightReference, Subscription, Warehouse,
    WarehouseStatus,
};
use serde_json::json;

use crate::credentials::Secrets;
use crate::{Context, ReconcileError};

/// One pass over one Warehouse.
pub(crate) async fn reconcile(warehouse: Arc<Warehouse>, context: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = warehouse.name_any();
    let status = warehouse.status.clone().unwrap_or_default();
    let now = Utc::now();
    let interval = match warehouse.spec.interval.as_deref().map(parse_duration).transpose() {
        Ok(interval) => interval.unwrap_or(context.config.default_interval).max(Duration::from_secs(1)),
        Err(error) => {
            let message = format!("invalid interval: {error}");
            let next = WarehouseStatus { conditions: ready(false, "InvalidSpec", &message, &status), ..status.clone() };
            write_status(&context, &name, &status, next).await?;
            return Ok(Action::await_change());
        }
    };
    let refresh = warehouse.annotations().get(application::REFRESH_ANNOTATION).cloned();
    let marked = context.take_mark(&name);
    let since = status.discovered_at.as_deref().and_then(parse_timestamp);
    let elapsed = since.map(|at| promotion::duration::elapsed(at, now));
    let due = marked
        || refresh.is_some() && refresh != status.last_handled_refresh
        || warehouse.metadata.generation != status.observed_generation
        || elapsed.is_none_or(|elapsed| elapsed >= interval);
    if !due {
        let left = interval.saturating_sub(elapsed.unwrap_or_default());
        return Ok(Action::requeue(left.max(Duration::from_millis(200))));
    }

    let started = Instant::now();
    let secrets = Secrets::load(&context.client).await;
    let git_credentials = |url: &str| secrets.git(url);
    let registry_credentials = |url: &str| secrets.registry(url);
    let discovery = warehouse::DiscoveryContext {
        git: &context.git,
        git_credentials: &git_credentials,
        registry_credentials: &registry_credentials,
    };
    let mut discovered = Vec::with_capacity(warehouse.spec.subscriptions.len());
    let mut failure = None;
    if warehouse.spec.subscriptions.is_empty() {
        failure = Some("the warehouse has no subscriptions".to_owned());
    }
    for subscription in &warehouse.spec.subscriptions {
        match warehouse::discover(subscription, &discovery).await {
            Ok(found) => discovered.push(found),
            Err(error) => {
                failure = Some(mask(&crate::error_chain(&error), &secrets_of(subscription, &secrets)));
                break;
            }
        }
    }
    context.metrics.observe_discovery(started.elapsed(), failure.is_none());

    let mut next = status.clone();
    next.observed_generation = warehouse.metadata.generation;
    next.discovered_at = Some(format_timestamp(now));
    next.last_handled_refresh = refresh.or(status.last_handled_refresh.clone());
    if let Some(message) = failure {
        tracing::info!(warehouse = %name, %message, "discovery failed");
        next.conditions = ready(false, "DiscoveryFailed", &message, &status);
        write_status(&context, &name, &status, next).await?;
        return Ok(Action::requeue(interval));
    }
    next.discovered_artifacts = discovered.clone();
    next.conditions = ready(true, "Discovered", &summary(&discovered), &status);
    if warehouse.spec.freight_creation_policy == FreightCreationPolicy::Automatic
        && let Some(freight) = warehouse::next_freight(&name, &discovered)
    {
        let reference =
            FreightReference { name: freight.name.clone(), origin: promotion::FreightOrigin::warehouse(&name) };
        create_freight(&context, &name, freight).await?;
        next.last_freight = Some(reference);
    }
    write_status(&context, &name, &status, next).await?;
    Ok(Action::requeue(interval))
}

/// The secrets a discovery of `subscription` may have used: passwords of its credentials and
/// of the userinfo of its URL.
fn secrets_of(subscription: &Subscription, secrets: &Secrets) -> Vec<String> {
    let url = match (&subscription.git, &subscription.image, &subscription.chart) {
        (Some(git), _, _) => git.repo_url.as_str(),
        (_, Some(image), _) => image.repo_url.as_str(),
        (_, _, Some(chart)) => chart.repo_url.as_str(),
        _ => return Vec::new(),
    };
    let mut found = Vec::new();
    if let Some(password) = secrets.git(url).and_then(|c| c.password) {
        found.push(password);
    }
    if let Some(credentials) = secrets.registry(url) {
        found.push(credentials.password);
    }
    if let Ok(parsed) = reqwest::Url::parse(url.trim())
        && let Some(password) = parsed.password()
    {
        found.push(password.to_owned());
    }
    found
}

/// `message` with every secret in `secrets` replaced by `***` (the warehouse crate masks its
/// own; this also covers a password written into the subscription's URL). Very short secrets
/// are left alone: masking them would garble the message and hide nothing.
fn mask(message: &str, secrets: &[String]) -> String {
    let mut masked = message.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        masked = masked.replace(secret.as_str(), "***");
    }
    masked
}

/// Creates the Freight unless it exists (its name is its content, so it is the same freight).
async fn create_freight(
    context: &Context,
    warehouse: &str,
    next: warehouse::NextFreight,
) -> Result<(), ReconcileError> {
    if context
        .freight
        .get_opt(&next.name)
        .await
        .map_err(|source| ReconcileError::kube("read", "Freight", &next.name, source))?
        .is_some()
    {
        return Ok(());
    }
    let existing = context
        .freight
        .list(&ListParams::default())
        .await
        .map_err(|source| ReconcileError::kube("list", "Freight", warehouse, source))?;
    let taken: std::collections::HashSet<String> = existing.items.iter().map(|f| f.spec.alias.clone()).collect();
    let mut fields = next.fields;
    fields.alias = promotion::naming::alias_for(&next.name, &|alias| taken.contains(alias));
    let mut freight = Freight::new(&next.name, fields);
    freight.metadata.namespace = Some(promotion::NAMESPACE.to_owned());
    freight.metadata.labels = Some(BTreeMap::from([(promotion::WAREHOUSE_LABEL.to_owned(), warehouse.to_owned())]));
    freight.metadata.annotations = Some(BTreeMap::from([(
        promotion::CREATED_ANNOTATION.to_owned(),
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    )]));
    match context.freight.create(&PostParams::default(), &freight).await {
        Ok(_) => {
            tracing::info!(warehouse, freight = %next.name, alias = %freight.spec.alias, "new freight");
            context.metrics.freight_created();
            Ok(())
        }
        // Another writer made the same freight: same name, same content.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => Err(ReconcileError::kube("create", "Freight", &next.name, source)),
    }
}

fn summary(discovered: &[DiscoveredArtifacts]) -> String {
    let versions: usize = discovered.iter().map(|d| d.commits.len() + d.images.len() + d.charts.len()).sum();
    format!("{versions} version(s) from {} subscription(s)", discovered.len())
}

/// The `Ready` condition, keeping its transition time when the status does not change.
fn ready(ok: bool, reason: &str, message: &str, previous: &WarehouseStatus) -> Vec<Condition> {
    let status = if ok { "True" } else { "False" };
    let old = previous.conditions.iter().find(|c| c.type_ == "Ready");
    let since = match old {
        Some(old) if old.status == status => old.last_transition_time.clone(),
        _ => Some(format_timestamp(Utc::now())),
    };
    vec![Condition {
        type_: "Ready".to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_transition_time: since,
    }]
}

async fn write_status(
    context: &Context,
    name: &str,
    old: &WarehouseStatus,
    new: WarehouseStatus,
) -> Result<(), ReconcileError> {
    if *old == new {
        return Ok(());
    }
    context
        .warehouses
        .patch_status(name, &PatchParams::default(), &Patch::Merge(json!({ "status": new })))
        .await
        .map_err(|source| ReconcileError::kube("write status of", "Warehouse", name, source))?;
    Ok(())
}

/// Logs and retries a failed reconcile.
pub(crate) fn error_policy(object: Arc<Warehouse>, error: &ReconcileError, _context: Arc<Context>) -> Action {
    tracing::warn!(name = %object.name_any(), error = %crate::error_chain(error), "warehouse reconcile failed");
    crate::retry_after_error()
}

/// Marks warehouses subscribed to these repositories (or images) for discovery now.
pub(crate) fn on_push(context: &Context, pushed: &[String]) -> usize {
    let mut woken = 0;
    for warehouse in context.warehouse_store().state() {
        let hit =
            warehouse.spec.subscriptions.iter().any(|sub| pushed.iter().any(|url| warehouse::matches_push(sub, url)));
        if hit {
            let name = warehouse.name_any();
            context.mark(&name);
            woken += 1;
        }
    }
    woken
}

/// Marks warehouses subscribed to these git repositories for discovery now.
pub(crate) fn on_git_push(context: &Context, repo_urls: &[String]) {
    let woken = on_push(context, repo_urls);
    tracing::debug!(woken, "git push webhook");
}

/// The reference the trigger channel takes.
pub(crate) fn object_ref(name: &str) -> ObjectRef<Warehouse> {
    ObjectRef::new(name).within(promotion::NAMESPACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_subscription_url_is_masked() {
        let subscription: Subscription = serde_json::from_value(json!({"git": {
            "repoURL": "https://robot:s3cret-pw@git.example.com/team/app.git", "branch": "main"}}))
        .expect("a git subscription");
        let secrets = secrets_of(&subscription, &Secrets::default());
        let message = "fetch https://robot:s3cret-pw@git.example.com/team/app.git: 403 for s3cret-pw";
        assert_eq!(mask(message, &secrets), "fetch https://robot:***@git.example.com/team/app.git: 403 for ***");
    }

    #[test]
    fn very_short_secrets_are_left_alone() {
        assert_eq!(mask("a b c", &["b".to_owned()]), "a b c");
    }
}
