//! `ferry stage list|get`.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kube::ResourceExt;
use promotion::{Promotion, Stage};

use super::promotion::objects::{self, Cluster, Scope};
use super::table::Table;
use super::{Format, print_machine};

/// `ferry stage ...`.
#[derive(Args, Debug)]
pub struct StageArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: StageCommand,
}

#[derive(Subcommand, Debug)]
enum StageCommand {
    /// List stages: current freight, health, phase, promotion and gates
    List(ListArgs),
    /// Show one stage
    Get(GetArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// Stage name
    name: String,
    /// Output format (default: a human-readable view)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

/// Runs `ferry stage ...`.
pub async fn run(args: StageArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    match args.command {
        StageCommand::List(list) => {
            let stages = cluster.list::<Stage>().await.context("cannot list stages")?;
            match list.output {
                Some(format) => print_machine(&stages, format),
                None if stages.is_empty() => {
                    eprintln!("no stages found in namespace {:?}", cluster.namespace());
                    Ok(())
                }
                None => {
                    print!("{}", list_table(&stages));
                    Ok(())
                }
            }
        }
        StageCommand::Get(get) => {
            let stage = cluster.get::<Stage>(&get.name).await?;
            match get.output {
                Some(format) => print_machine(&stage, format),
                None => {
                    let mut promotions = cluster.list::<Promotion>().await.unwrap_or_default();
                    promotions.retain(|p| p.spec.stage == get.name);
                    print!("{}", describe(&stage, &promotions));
                    Ok(())
                }
            }
        }
    }
}

/// The stage's current freight as shown: alias, else short name.
pub fn current_freight(stage: &Stage) -> String {
    let status = stage.status.clone().unwrap_or_default();
    match status.current_freight {
        Some(current) => objects::freight_text(status.freight_alias.as_deref(), &current.name),
        None => String::new(),
    }
}

/// The gates in a few words: `proposed: ci/tests; active: ferry.dev/health`.
pub fn gates_text(stage: &Stage) -> String {
    let Some(gates) = &stage.spec.gates else { return String::new() };
    let mut parts = Vec::new();
    if !gates.proposed.is_empty() {
        parts.push(format!("proposed: {}", gates.proposed.join(",")));
    }
    if !gates.active.is_empty() {
        parts.push(format!("active: {}", gates.active.join(",")));
    }
    if stage.spec.approval.as_ref().is_some_and(|a| a.required) {
        parts.push("approval".to_owned());
    }
    parts.join("; ")
}

/// `ferry stage list` as a table.
pub fn list_table(stages: &[Stage]) -> String {
    let mut table = Table::new(["NAME", "FREIGHT", "HEALTH", "PHASE", "PROMOTION", "GATES"]);
    for stage in stages {
        let status = stage.status.clone().unwrap_or_default();
        table.row(vec![
            stage.name_any(),
            current_freight(stage),
            status.health.unwrap_or_default(),
            status.phase.unwrap_or_default(),
            status.current_promotion.unwrap_or_default(),
            gates_text(stage),
        ]);
    }
    table.render()
}

/// `ferry stage get`.
pub fn describe(stage: &Stage, promotions: &[Promotion]) -> String {
    let mut out = String::new();
    let status = stage.status.clone().unwrap_or_default();
    let field = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "{:<18}{value}", format!("{key}:"));
    };
    field(&mut out, "Name", &stage.name_any());
    field(&mut out, "Freight", &current_freight(stage));
    field(&mut out, "Health", status.health.as_deref().unwrap_or(""));
    field(&mut out, "Phase", status.phase.as_deref().unwrap_or(""));
    field(&mut out, "Active commit", status.active_commit.as_deref().unwrap_or(""));
    field(&mut out, "Promotion", status.current_promotion.as_deref().unwrap_or(""));
    if let Some(last) = &status.last_promotion {
        field(&mut out, "Last promotion", &format!("{} {:?}", last.name, last.phase));
    }
    field(&mut out, "Gates", &gates_text(stage));
    let auto = match &stage.spec.auto_promotion {
        Some(a) if a.enabled => format!("{:?}, {:?}", a.selection_policy, a.interrupt_policy),
        _ => "off".to_owned(),
    };
    field(&mut out, "Auto-promotion", &auto);
    if let Some(app) = &stage.spec.application {
        field(&mut out, "Application", app);
    }
    let _ = writeln!(out, "Requested freight:");
    for request in &stage.spec.requested_freight {
        let mut from = Vec::new();
        if request.sources.direct {
            from.push("direct".to_owned());
        }
        if !request.sources.stages.is_empty() {
            from.push(format!(
                "after {} ({:?})",
                request.sources.stages.join(","),
                request.sources.availability_strategy
            ));
        }
        if let Some(soak) = &request.sources.required_soak_time {
            from.push(format!("soak {soak}"));
        }
        let _ = writeln!(out, "  {} {}: {}", request.origin.kind, request.origin.name, from.join(", "));
    }
    let steps = stage.spec.promotion_template.as_ref().map(|t| t.spec.steps.as_slice()).unwrap_or_default();
    let _ = writeln!(out, "Steps:");
    for (i, step) in steps.iter().enumerate() {
        let alias = step.alias.as_deref().map(|a| format!(" as {a}")).unwrap_or_default();
        let _ = writeln!(out, "  {}. {}{alias}", i + 1, step.uses);
    }
    for condition in &status.conditions {
        let message = condition.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        let _ = writeln!(out, "Condition {}={}{message}", condition.type_, condition.status);
    }
    if !promotions.is_empty() {
        let _ = writeln!(out, "Promotions:");
        let mut sorted: Vec<&Promotion> = promotions.iter().collect();
        sorted.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        for line in super::promotion::list_table(&sorted, objects::now()).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}
