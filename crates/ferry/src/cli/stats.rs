//! `ferry stats`: DORA figures from the promotion history in the cluster
//! (definitions in [`promotion::stats`]).

use anyhow::{Context, Result, anyhow};
use clap::Args;
use promotion::stats::{Spread, StageStats, Window};
use promotion::{Freight, Promotion};
use serde::Serialize;

use super::promotion::objects::{self, Cluster, Scope};
use super::table::Table;
use super::{Format, print_machine};

/// `ferry stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    scope: Scope,
    /// Only this stage
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// How far back to look, for example 30d, 12h or 2w
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    since: String,
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

/// What `-o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    since: String,
    until: String,
    stages: Vec<StageStats>,
}

/// Runs `ferry stats`.
pub async fn run(args: StatsArgs) -> Result<()> {
    let since = promotion::duration::parse_duration(&args.since).map_err(|e| anyhow!("--since: {e}"))?;
    let since = chrono::Duration::from_std(since).map_err(|_| anyhow!("--since {:?} is too long", args.since))?;
    let cluster = Cluster::connect(&args.scope).await?;
    let mut promotions = cluster.list::<Promotion>().await.context("cannot list promotions")?;
    if let Some(stage) = &args.stage {
        promotions.retain(|p| &p.spec.stage == stage);
    }
    let freight = cluster.list::<Freight>().await.context("cannot list freight")?;
    let end = objects::now();
    let start = end.checked_sub_signed(since).ok_or_else(|| anyhow!("--since {:?} is too long", args.since))?;
    let stages = promotion::stats::compute(&promotions, &freight, Window { start, end });
    match args.output {
        Some(format) => print_machine(
            &Report {
                since: promotion::duration::format_timestamp(start),
                until: promotion::duration::format_timestamp(end),
                stages,
            },
            format,
        ),
        None if stages.is_empty() => {
            eprintln!("no finished promotions found in namespace {:?}", cluster.namespace());
            Ok(())
        }
        None => {
            print!("{}", table(&stages));
            Ok(())
        }
    }
}

/// The figures as a table, one row per stage.
pub fn table(stages: &[StageStats]) -> String {
    let mut table = Table::new([
        "STAGE",
        "DEPLOYS",
        "PER DAY",
        "LEAD TIME P50",
        "LEAD TIME P90",
        "CHANGE FAILURE",
        "RESTORE P50",
        "OPEN",
    ]);
    let lead = |s: &Option<Spread>, pick: fn(&Spread) -> i64| s.as_ref().map_or("-".to_owned(), |s| duration(pick(s)));
    for s in stages {
        table.row(vec![
            s.stage.clone(),
            s.deployments.to_string(),
            s.deployments_per_day.map_or("-".to_owned(), |d| format!("{d:.2}")),
            lead(&s.lead_time, |s| s.median_seconds),
            lead(&s.lead_time, |s| s.p90_seconds),
            s.change_failure_rate
                .map_or("-".to_owned(), |r| format!("{:.0}% ({}/{})", r * 100.0, s.change_failures, s.deployments)),
            lead(&s.time_to_restore, |s| s.median_seconds),
            s.open_incidents.to_string(),
        ]);
    }
    table.render()
}

fn duration(seconds: i64) -> String {
    promotion::duration::format_duration(std::time::Duration::from_secs(seconds.max(0).unsigned_abs()))
}
