//! `ferry promotion list|get|abort|diff`, and (in [`objects`]) what every
//! promotion verb shares.

pub mod objects;

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use promotion::{Promotion, PullRequest};

use self::objects::{Cluster, FIELD_MANAGER, Scope};
use super::table::Table;
use super::{Format, print_machine};

/// `ferry promotion ...`.
#[derive(Args, Debug)]
pub struct PromotionArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: PromotionCommand,
}

#[derive(Subcommand, Debug)]
enum PromotionCommand {
    /// List promotions, oldest first
    List(ListArgs),
    /// Show a promotion: its steps and their outputs
    Get(GetArgs),
    /// Ask the controller to abort a promotion
    Abort(NameArgs),
    /// Print the hydrated diff the promotion produced
    Diff(NameArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only promotions of this stage
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// Promotion name
    name: String,
    /// Output format (default: a human-readable view)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct NameArgs {
    /// Promotion name
    name: String,
}

/// Runs `ferry promotion ...`.
pub async fn run(args: PromotionArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    match args.command {
        PromotionCommand::List(list) => {
            let mut all = cluster.list::<Promotion>().await.context("cannot list promotions")?;
            if let Some(stage) = &list.stage {
                all.retain(|p| &p.spec.stage == stage);
            }
            all.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
            match list.output {
                Some(format) => print_machine(&all, format),
                None if all.is_empty() => {
                    eprintln!("no promotions found in namespace {:?}", cluster.namespace());
                    Ok(())
                }
                None => {
                    print!("{}", list_table(&all.iter().collect::<Vec<_>>(), objects::now()));
                    Ok(())
                }
            }
        }
        PromotionCommand::Get(get) => {
            let promotion = cluster.get::<Promotion>(&get.name).await?;
            match get.output {
                Some(format) => print_machine(&promotion, format),
                None => {
                    print!("{}", describe(&promotion)?);
                    Ok(())
                }
            }
        }
        PromotionCommand::Abort(abort) => {
            let promotion = cluster.get::<Promotion>(&abort.name).await?;
            let phase = promotion.status.as_ref().map(|s| s.phase).unwrap_or_default();
            if phase.is_terminal() {
                bail!("promotion {:?} has already ended ({phase:?})", abort.name);
            }
            let user = objects::user();
            let patch = serde_json::json!({ "metadata": { "annotations": { promotion::ABORT_ANNOTATION: user } } });
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
            cluster
                .api::<Promotion>()
                .patch(&abort.name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|e| cluster.explain::<Promotion>(e, Some(&abort.name)))
                .with_context(|| format!("cannot request the abort of promotion {:?}", abort.name))?;
            println!("promotion {:?}: abort requested by {user}", abort.name);
            Ok(())
        }
        PromotionCommand::Diff(diff) => {
            let promotion = cluster.get::<Promotion>(&diff.name).await?;
            if let Some(text) = stored_diff(&promotion) {
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
                return Ok(());
            }
            // The local provider's pull request carries the diff in its body.
            let local = promotion
                .status
                .as_ref()
                .and_then(|s| s.pull_request.as_deref())
                .and_then(|pr| pr.strip_prefix("local/"));
            if let Some(pr) = local
                && let Some(pull) = cluster.get_opt::<PullRequest>(pr).await?
                && !pull.spec.body.is_empty()
            {
                println!("{}", pull.spec.body.trim_end());
                return Ok(());
            }
            bail!("promotion {:?} has no stored diff (no step output named diff, and no local pull request)", diff.name)
        }
    }
}

/// The hydrated diff a promotion stored: a step output named `diff` (the
/// last step's first, as later steps see the final state), or a top-level
/// `diff` entry.
pub fn stored_diff(promotion: &Promotion) -> Option<String> {
    let status = promotion.status.as_ref()?;
    if let Some(serde_json::Value::String(text)) = status.state.get("diff") {
        return Some(text.clone());
    }
    let order: Vec<&str> = status.steps.iter().rev().map(|s| s.alias.as_str()).collect();
    let by_step = order.iter().filter_map(|alias| status.state.get(*alias));
    let rest = status.state.iter().filter(|(k, _)| !order.contains(&k.as_str())).map(|(_, v)| v);
    by_step.chain(rest).find_map(|outputs| outputs.get("diff").and_then(|d| d.as_str()).map(str::to_owned))
}

/// `ferry promotion list` as a table.
pub fn list_table(promotions: &[&Promotion], now: DateTime<Utc>) -> String {
    let mut table = Table::new(["NAME", "STAGE", "FREIGHT", "PHASE", "STEP", "AGE", "MESSAGE"]);
    for p in promotions {
        let status = p.status.clone().unwrap_or_default();
        let total = p.spec.steps.len();
        let step = if total == 0 {
            String::new()
        } else if status.phase.is_terminal() {
            format!("{total}/{total}")
        } else {
            let i = (status.current_step as usize).min(total.saturating_sub(1));
            format!("{}/{total} {}", i + 1, p.spec.steps.get(i).map(|s| s.uses.as_str()).unwrap_or(""))
        };
        table.row(vec![
            p.name_any(),
            p.spec.stage.clone(),
            objects::freight_text(status.freight_alias.as_deref(), &p.spec.freight),
            format!("{:?}", status.phase),
            step,
            objects::age(p.metadata.creation_timestamp.as_ref(), now),
            status.message.unwrap_or_default(),
        ]);
    }
    table.render()
}

/// `ferry promotion get`.
pub fn describe(p: &Promotion) -> Result<String> {
    let mut out = String::new();
    let status = p.status.clone().unwrap_or_default();
    let field = |out: &mut String, key: &str, value: &str| {
        if !value.is_empty() {
            let _ = writeln!(out, "{:<15}{value}", format!("{key}:"));
        }
    };
    field(&mut out, "Name", &p.name_any());
    field(&mut out, "Stage", &p.spec.stage);
    field(
        &mut out,
        "Freight",
        format!("{} {}", status.freight_alias.clone().unwrap_or_default(), p.spec.freight).trim(),
    );
    field(&mut out, "Phase", &format!("{:?}", status.phase));
    field(&mut out, "Message", status.message.as_deref().unwrap_or(""));
    field(&mut out, "Started", status.started_at.as_deref().unwrap_or(""));
    field(&mut out, "Finished", status.finished_at.as_deref().unwrap_or(""));
    field(&mut out, "Landed commit", status.landed_commit.as_deref().unwrap_or(""));
    field(&mut out, "Pull request", status.pull_request.as_deref().unwrap_or(""));
    if let Some(by) = p.annotations().get(promotion::ABORT_ANNOTATION) {
        field(&mut out, "Abort asked by", by);
    }
    let mut table = Table::new(["#", "STEP", "USES", "PHASE", "ATTEMPTS", "MESSAGE"]);
    for (i, step) in p.spec.steps.iter().enumerate() {
        let alias = step.alias.clone().unwrap_or_else(|| format!("step-{i}"));
        let run =
            status.steps.get(i).filter(|s| s.alias == alias).or_else(|| status.steps.iter().find(|s| s.alias == alias));
        table.row(vec![
            (i + 1).to_string(),
            alias,
            step.uses.clone(),
            run.map_or("Pending".to_owned(), |r| format!("{:?}", r.phase)),
            run.map_or(String::new(), |r| r.attempts.to_string()),
            run.and_then(|r| r.message.clone()).unwrap_or_default(),
        ]);
    }
    let _ = writeln!(out, "Steps:");
    for line in table.render().lines() {
        let _ = writeln!(out, "  {line}");
    }
    if !status.state.is_empty() {
        let _ = writeln!(out, "Outputs:");
        let yaml = serde_saphyr::to_string(&status.state).context("cannot encode the outputs")?;
        for line in yaml.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    Ok(out)
}
