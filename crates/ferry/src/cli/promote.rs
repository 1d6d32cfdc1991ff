//! `ferry promote STAGE --freight X` and `ferry approve STAGE --freight X`.
//!
//! A promotion is a Promotion object: this writes it, with the stage's vars
//! and steps copied in, and the controller runs it. Rollback is promoting
//! older freight; nothing is special about it.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams, PostParams};
use promotion::{Freight, Promotion, Stage};

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

/// The Promotion `ferry promote` creates for `freight` in `stage` at `now`.
pub fn build(stage: &Stage, freight: &Freight, now: DateTime<Utc>) -> Result<Promotion> {
    Ok(promotion::new_promotion(stage, freight, now)?)
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
