//! `ferry warehouse list|refresh`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use promotion::Warehouse;

use super::promotion::objects::{self, Cluster, FIELD_MANAGER, Scope};
use super::table::Table;
use super::{Format, print_machine};

/// The annotation that asks for a discovery now; the value is a token (the
/// request time), compared with `status.lastHandledRefresh`. Same name as
/// an Application's refresh request.
pub const REFRESH_ANNOTATION: &str = application::REFRESH_ANNOTATION;

/// `ferry warehouse ...`.
#[derive(Args, Debug)]
pub struct WarehouseArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(subcommand)]
    command: WarehouseCommand,
}

#[derive(Subcommand, Debug)]
enum WarehouseCommand {
    /// List warehouses: last freight, last discovery and readiness
    List(ListArgs),
    /// Ask the controller to look for new versions now
    Refresh(RefreshArgs),
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Output format (default: a table)
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Format>,
}

#[derive(Args, Debug)]
struct RefreshArgs {
    /// Warehouse name
    name: String,
}

/// Runs `ferry warehouse ...`.
pub async fn run(args: WarehouseArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    match args.command {
        WarehouseCommand::List(list) => {
            let warehouses = cluster.list::<Warehouse>().await.context("cannot list warehouses")?;
            match list.output {
                Some(format) => print_machine(&warehouses, format),
                None if warehouses.is_empty() => {
                    eprintln!("no warehouses found in namespace {:?}", cluster.namespace());
                    Ok(())
                }
                None => {
                    print!("{}", list_table(&warehouses, &cluster).await);
                    Ok(())
                }
            }
        }
        WarehouseCommand::Refresh(refresh) => {
            // Fail with "not found" rather than creating anything.
            cluster.get::<Warehouse>(&refresh.name).await?;
            let token = promotion::duration::format_timestamp(objects::now());
            let patch = serde_json::json!({ "metadata": { "annotations": { REFRESH_ANNOTATION: token } } });
            cluster
                .api::<Warehouse>()
                .patch(
                    &refresh.name,
                    &PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() },
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|e| cluster.explain::<Warehouse>(e, Some(&refresh.name)))
                .with_context(|| format!("cannot request a refresh of warehouse {:?}", refresh.name))?;
            println!("warehouse {:?}: refresh requested", refresh.name);
            Ok(())
        }
    }
}

async fn list_table(warehouses: &[Warehouse], cluster: &Cluster) -> String {
    // Aliases live on the Freight; one list beats a get per warehouse.
    let freight = cluster.list::<promotion::Freight>().await.unwrap_or_default();
    let now = objects::now();
    let mut table = Table::new(["NAME", "LAST FREIGHT", "DISCOVERED", "READY", "MESSAGE"]);
    for w in warehouses {
        let status = w.status.clone().unwrap_or_default();
        let last = status.last_freight.as_ref().map(|r| {
            let alias = freight
                .iter()
                .find(|f| f.metadata.name.as_deref() == Some(r.name.as_str()))
                .map(|f| f.spec.alias.as_str());
            objects::freight_text(alias, &r.name)
        });
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        table.row(vec![
            w.name_any(),
            last.unwrap_or_default(),
            objects::since_text(status.discovered_at.as_deref(), now).to_string()
                + if status.discovered_at.is_some() { " ago" } else { "" },
            ready.map_or("Unknown".to_owned(), |c| c.status.clone()),
            ready.and_then(|c| c.message.clone()).unwrap_or_default(),
        ]);
    }
    table.render()
}
