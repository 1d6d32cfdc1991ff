//! `ferry freight list|get|alias`.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use promotion::{Freight, Stage};

use super::promotion::objects::{self, Cluster, FIELD_MANAGER, Scope};
use super::table::Table;
use super::{Format, print_machine};

/// `ferry freight ...`.
#[derive(Args, Debug)]
pub struct FreightArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: FreightCommand,
}

#[derive(Subcommand, Debug)]
enum FreightCommand {
    /// List freight, newest first: artifacts, and the stages it is in, verified in and approved for
    List(ListArgs),
    /// Show one freight by alias or name
    Get(GetArgs),
    /// Give a freight a new alias
    Alias(AliasArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Only freight from this warehouse
    #[arg(long, value_name = "NAME")]
    warehouse: Option<String>,
    /// Only freight available to this stage (what `ferry promote` accepts)
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// Freight alias or name
    freight: String,
    /// Output format (default: a human-readable view)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct AliasArgs {
    /// Freight name (or current alias)
    freight: String,
    /// The new alias
    alias: String,
}

/// Runs `ferry freight ...`.
pub async fn run(args: FreightArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    match args.command {
        FreightCommand::List(list) => list_freight(&cluster, list).await,
        FreightCommand::Get(get) => {
            let freight = cluster.freight(&get.freight).await?;
            match get.output {
                Some(format) => print_machine(&freight, format),
                None => {
                    print!("{}", describe(&freight));
                    Ok(())
                }
            }
        }
        FreightCommand::Alias(alias) => set_alias(&cluster, &alias.freight, &alias.alias).await,
    }
}

async fn list_freight(cluster: &Cluster, args: ListArgs) -> Result<()> {
    let mut all = cluster.list::<Freight>().await.context("cannot list freight")?;
    if let Some(warehouse) = &args.warehouse {
        all.retain(|f| &f.spec.origin.name == warehouse);
    }
    if let Some(stage) = &args.stage {
        let stage = cluster.get::<Stage>(stage).await?;
        let now = objects::now();
        all.retain(|f| promotion::eligibility::why_not(&stage, f, now).is_none());
    }
    all.sort_by(promotion::eligibility::newest_first);
    match args.output {
        Some(format) => print_machine(&all, format),
        None => {
            if all.is_empty() {
                eprintln!("no freight found in namespace {:?}", cluster.namespace());
                return Ok(());
            }
            print!("{}", list_table(&all, objects::now()));
            Ok(())
        }
    }
}

/// `ferry freight list` as a table.
pub fn list_table(freight: &[Freight], now: chrono::DateTime<chrono::Utc>) -> String {
    let mut table =
        Table::new(["ALIAS", "NAME", "ORIGIN", "ARTIFACTS", "CURRENT IN", "VERIFIED IN", "APPROVED FOR", "AGE"]);
    for f in freight {
        let status = f.status.clone().unwrap_or_default();
        table.row(vec![
            f.spec.alias.clone(),
            objects::short_name(&f.name_any()),
            f.spec.origin.name.clone(),
            objects::artifacts(f),
            objects::keys(&status.current_in),
            objects::keys(&status.verified_in),
            objects::keys(&status.approved_for),
            objects::age(f.metadata.creation_timestamp.as_ref(), now),
        ]);
    }
    table.render()
}

/// `ferry freight get`.
pub fn describe(f: &Freight) -> String {
    let mut out = String::new();
    let status = f.status.clone().unwrap_or_default();
    let _ = writeln!(out, "Name:     {}", f.name_any());
    let _ = writeln!(out, "Alias:    {}", f.spec.alias);
    let _ = writeln!(out, "Origin:   {} {}", f.spec.origin.kind, f.spec.origin.name);
    if let Some(created) = &f.metadata.creation_timestamp {
        let _ = writeln!(out, "Created:  {}", created.0);
    }
    if !f.spec.commits.is_empty() {
        let _ = writeln!(out, "Commits:");
        for c in &f.spec.commits {
            let mut line = format!("  {} {}", c.repo_url, c.id);
            for (label, value) in [("tag", &c.tag), ("branch", &c.branch), ("at", &c.committed_at)] {
                if let Some(value) = value {
                    line.push_str(&format!(" {label}={value}"));
                }
            }
            if let Some(message) = &c.message {
                line.push_str(&format!(" {message:?}"));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if !f.spec.images.is_empty() {
        let _ = writeln!(out, "Images:");
        for i in &f.spec.images {
            let _ = writeln!(out, "  {}:{} {}", i.repo_url, i.tag, i.digest);
        }
    }
    if !f.spec.charts.is_empty() {
        let _ = writeln!(out, "Charts:");
        for c in &f.spec.charts {
            let name = if c.name.is_empty() { String::new() } else { format!(" {}", c.name) };
            let _ = writeln!(out, "  {}{name} {}", c.repo_url, c.version);
        }
    }
    let mut table = Table::new(["STAGE", "CURRENT", "VERIFIED", "APPROVED"]);
    let stages: std::collections::BTreeSet<&String> =
        status.current_in.keys().chain(status.verified_in.keys()).chain(status.approved_for.keys()).collect();
    for stage in stages {
        let current = status.current_in.get(stage).map(|c| format!("since {}", c.since.clone().unwrap_or_default()));
        let verified = status.verified_in.get(stage).map(|v| v.verified_at.clone().unwrap_or_else(|| "yes".to_owned()));
        let approved = status.approved_for.get(stage).map(|a| {
            format!("by {} at {}", a.approved_by.clone().unwrap_or_default(), a.approved_at.clone().unwrap_or_default())
        });
        table.row(vec![
            stage.clone(),
            current.unwrap_or_default(),
            verified.unwrap_or_default(),
            approved.unwrap_or_default(),
        ]);
    }
    if table.is_empty() {
        let _ = writeln!(out, "Stages:   none yet");
    } else {
        let _ = writeln!(out, "Stages:");
        for line in table.render().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

async fn set_alias(cluster: &Cluster, freight: &str, alias: &str) -> Result<()> {
    if !super::is_dns_label(alias, 63) {
        bail!("invalid alias {alias:?}: use lowercase letters, digits and '-' (at most 63)");
    }
    let target = cluster.freight(freight).await?;
    let name = target.name_any();
    let all = cluster.list::<Freight>().await.context("cannot list freight")?;
    if let Some(holder) = all.iter().find(|f| f.spec.alias == alias) {
        if holder.name_any() == name {
            println!("freight {name:?} already has alias {alias:?}");
            return Ok(());
        }
        bail!("alias {alias:?} is taken by freight {:?}", holder.name_any());
    }
    // The resourceVersion makes the write fail if the freight changed since
    // it was read.
    let patch = serde_json::json!({
        "metadata": { "resourceVersion": target.resource_version() },
        "alias": alias,
    });
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
    cluster
        .api::<Freight>()
        .patch(&name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| cluster.explain::<Freight>(e, Some(&name)))
        .with_context(|| format!("cannot set the alias of freight {name:?}"))?;
    println!("freight {name:?} is now {alias:?} (was {:?})", target.spec.alias);
    Ok(())
}
