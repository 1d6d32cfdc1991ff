//! `ferry promote STAGE --freight X` and `ferry approve STAGE --freight X`.
//!
//! A promotion is a Promotion object: this writes it, with the stage's vars
//! and steps copied in, and the controller runs it. Rollback is promoting
//! older freight; nothing is special about it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use promotion::{Freight, Promotion, PromotionSpec, Stage};

use super::promotion::objects::{self, Cluster, FIELD_MANAGER, Scope};

/// `ferry promote`.
#[derive(Args, Debug)]
pub struct PromoteArgs {
    #[command(flatten)]
    scope: Scope,
    /// Stage to promote to
    stage: String,
    /// Freight alias or name (older freight rolls back)
    #[arg(long, value_name = "ALIAS|NAME")]
    freight: String,
}

/// `ferry approve`.
#[derive(Args, Debug)]
pub struct ApproveArgs {
    #[command(flatten)]
    scope: Scope,
    /// Stage the freight is approved for
    stage: String,
    /// Freight alias or name
    #[arg(long, value_name = "ALIAS|NAME")]
    freight: String,
    /// Who approves (default: $USER)
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
}

/// Runs `ferry promote`.
pub async fn promote(args: PromoteArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    let stage = cluster.get::<Stage>(&args.stage).await?;
    let freight = cluster.freight(&args.freight).await?;
    let now = objects::now();
    // The stage's availability rules (origin, upstream verification, soak, approval).
    if let Some(reason) = promotion::eligibility::why_not(&stage, &freight, now) {
        bail!("cannot promote to stage {:?}: {reason}", args.stage);
    }
    let mut object = build(&stage, &freight, now)?;
    object.metadata.namespace = Some(cluster.namespace().to_owned());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PostParams::default() };
    let created = cluster
        .api::<Promotion>()
        .create(&params, &object)
        .await
        .map_err(|e| cluster.explain::<Promotion>(e, None))
        .context("cannot create the promotion")?;
    println!(
        "promotion {:?} created: freight {} to stage {}",
        created.name_any(),
        objects::freight_text(Some(&freight.spec.alias), &freight.name_any()),
        args.stage
    );
    Ok(())
}

/// The Promotion `ferry promote` creates for `freight` in `stage` at `now`:
/// vars are the stage's then its template's, steps the template's.
pub fn build(stage: &Stage, freight: &Freight, now: DateTime<Utc>) -> Result<Promotion> {
    let stage_name = stage.name_any();
    let template = stage.spec.promotion_template.as_ref().map(|t| &t.spec);
    let steps = template.map(|t| t.steps.clone()).unwrap_or_default();
    if steps.is_empty() {
        bail!("stage {stage_name:?} has no promotion steps (spec.promotionTemplate.spec.steps)");
    }
    let mut vars = stage.spec.vars.clone();
    vars.extend(template.map(|t| t.vars.clone()).unwrap_or_default());
    let mut promotion = Promotion::new(
        &promotion_name(&stage_name, &freight.name_any(), now),
        PromotionSpec { stage: stage_name.clone(), freight: freight.name_any(), vars, steps },
    );
    // A label value is at most 63 characters; longer stage names go unlabelled
    // (spec.stage still names the stage).
    if stage_name.len() <= 63 {
        promotion.metadata.labels = Some(BTreeMap::from([(promotion::STAGE_LABEL.to_owned(), stage_name)]));
    }
    Ok(promotion)
}

/// `<stage>-<freight short>-<time>`: unique per millisecond, sortable by
/// creation within a stage, and a valid object name (at most 253).
pub fn promotion_name(stage: &str, freight: &str, now: DateTime<Utc>) -> String {
    let stage: String = stage.chars().take(200).collect();
    let short: String =
        freight.chars().filter(|c| c.is_ascii_alphanumeric()).take(7).collect::<String>().to_lowercase();
    format!("{stage}-{short}-{:x}", now.timestamp_millis().max(0))
}

/// Runs `ferry approve`.
pub async fn approve(args: ApproveArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    cluster.get::<Stage>(&args.stage).await?;
    let freight = cluster.freight(&args.freight).await?;
    let name = freight.name_any();
    let by = args.by.clone().unwrap_or_else(objects::user);
    let at = promotion::duration::format_timestamp(objects::now());
    let patch = serde_json::json!({
        "status": { "approvedFor": { args.stage.as_str(): { "approvedAt": at, "approvedBy": by } } }
    });
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
    cluster
        .api::<Freight>()
        .patch_status(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.explain::<Freight>(e, Some(&name)))
        .with_context(|| format!("cannot approve freight {name:?}"))?;
    println!(
        "freight {} ({name}) approved for stage {} by {by} at {at}",
        objects::freight_text(Some(&freight.spec.alias), &name),
        args.stage
    );
    Ok(())
}
