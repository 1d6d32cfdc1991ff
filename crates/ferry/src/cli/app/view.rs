//! Human views of Applications: the list table, `app get`, history and
//! per-resource sync results. Pure: text from values.

use std::fmt::Write as _;

use application::{Application, OperationState, ResourceResult, RevisionHistory, SyncStatusCode};

use crate::cli::table::Table;

/// A commit SHA shortened to 7 characters, as git and Argo CD show it;
/// anything else (a branch, a tag) unchanged.
pub fn short_revision(revision: &str) -> String {
    let is_sha = revision.len() >= 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if is_sha { revision[..7].to_owned() } else { revision.to_owned() }
}

fn sync_status(app: &Application) -> SyncStatusCode {
    app.status.as_ref().and_then(|s| s.sync.as_ref()).map(|s| s.status).unwrap_or_default()
}

fn sync_text(code: SyncStatusCode) -> &'static str {
    match code {
        SyncStatusCode::Synced => "Synced",
        SyncStatusCode::OutOfSync => "OutOfSync",
        SyncStatusCode::Unknown => "Unknown",
    }
}

fn health_text(app: &Application) -> String {
    app.status.as_ref().and_then(|s| s.health.as_ref()).map_or("Unknown".to_owned(), |h| h.status.to_string())
}

/// The destination cluster as the user named it: the server URL, or the
/// cluster name.
fn cluster_text(app: &Application) -> String {
    let d = &app.spec.spec.destination;
    d.server.clone().or_else(|| d.name.clone()).unwrap_or_default()
}

/// `ferry app list`.
pub fn list_table(apps: &[Application]) -> String {
    let mut t = Table::new(["NAME", "CLUSTER", "NAMESPACE", "PROJECT", "SYNC", "HEALTH", "REVISION", "REPO", "PATH"]);
    for app in apps {
        let spec = &app.spec.spec;
        let revision = app.status.as_ref().and_then(|s| s.sync.as_ref()).and_then(|s| s.revision.as_deref());
        t.row(vec![
            app.metadata.name.clone().unwrap_or_default(),
            cluster_text(app),
            spec.destination.namespace.clone().unwrap_or_default(),
            spec.project.clone().unwrap_or_else(|| "default".to_owned()),
            sync_text(sync_status(app)).to_owned(),
            health_text(app),
            revision.map(short_revision).unwrap_or_default(),
            spec.source.repo_url.clone(),
            spec.source.path.clone(),
        ]);
    }
    if t.is_empty() {
        return "No applications found.\n".to_owned();
    }
    t.render()
}

fn field(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{:<20}{value}", format!("{key}:"));
}

/// `ferry app get NAME`: the app's settings, status, operation and
/// resources.
pub fn describe(app: &Application) -> String {
    let mut out = String::new();
    let spec = &app.spec.spec;
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let namespace = app.metadata.namespace.as_deref().unwrap_or(application::NAMESPACE);
    field(&mut out, "Name", &format!("{namespace}/{name}"));
    field(&mut out, "Project", spec.project.as_deref().unwrap_or("default"));
    if let Some(server) = &spec.destination.server {
        field(&mut out, "Server", server);
    }
    if let Some(cluster) = &spec.destination.name {
        field(&mut out, "Cluster", cluster);
    }
    field(&mut out, "Namespace", spec.destination.namespace.as_deref().unwrap_or_default());
    field(&mut out, "Repo", &spec.source.repo_url);
    field(&mut out, "Target", &spec.source.target_revision);
    field(&mut out, "Path", &spec.source.path);
    if let Some(dir) = &spec.source.directory {
        let mut parts = Vec::new();
        if dir.recurse {
            parts.push("recurse".to_owned());
        }
        if let Some(include) = &dir.include {
            parts.push(format!("include {include}"));
        }
        if let Some(exclude) = &dir.exclude {
            parts.push(format!("exclude {exclude}"));
        }
        field(&mut out, "Directory", &parts.join(", "));
    }
    let policy = spec.sync_policy.as_ref();
    let automated = match policy.and_then(|p| p.automated.as_ref()) {
        Some(a) => {
            let flags: Vec<&str> =
                [(a.prune, "Prune"), (a.self_heal, "SelfHeal")].iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
            if flags.is_empty() { "Automated".to_owned() } else { format!("Automated ({})", flags.join(", ")) }
        }
        None => "Manual".to_owned(),
    };
    field(&mut out, "Sync Policy", &automated);
    if let Some(p) = policy.filter(|p| !p.sync_options.is_empty()) {
        field(&mut out, "Sync Options", &p.sync_options.join(","));
    }
    let status = app.status.as_ref();
    let sync = status.and_then(|s| s.sync.as_ref());
    let mut sync_line = format!("{} to {}", sync_text(sync_status(app)), spec.source.target_revision);
    if let Some(rev) = sync.and_then(|s| s.revision.as_deref()) {
        let _ = write!(sync_line, " ({})", short_revision(rev));
    }
    field(&mut out, "Sync Status", &sync_line);
    let mut health = health_text(app);
    if let Some(message) = status.and_then(|s| s.health.as_ref()).and_then(|h| h.message.as_deref()) {
        let _ = write!(health, " ({message})");
    }
    field(&mut out, "Health Status", &health);
    if let Some(at) = status.and_then(|s| s.reconciled_at.as_ref()) {
        field(&mut out, "Reconciled At", &at.0.to_string());
    }
    if let Some(status) = status.filter(|s| !s.conditions.is_empty()) {
        out.push('\n');
        let mut t = Table::new(["CONDITION", "MESSAGE", "LAST TRANSITION"]);
        for c in &status.conditions {
            t.row(vec![
                format!("{:?}", c.type_),
                c.message.clone(),
                c.last_transition_time.as_ref().map(|t| t.0.to_string()).unwrap_or_default(),
            ]);
        }
        out.push_str(&t.render());
    }
    let state = status.and_then(|s| s.operation_state.as_ref());
    if let Some(state) = state {
        out.push('\n');
        operation_fields(&mut out, state);
    }
    if app.spec.operation.is_some() && state.is_none_or(|s| !is_active(s)) {
        if state.is_none() {
            out.push('\n');
        }
        field(&mut out, "Requested", "a sync (waiting for the controller to start it)");
    }
    if let Some(status) = status.filter(|s| !s.resources.is_empty()) {
        out.push('\n');
        let results = state.and_then(|s| s.sync_result.as_ref()).map(|r| r.resources.as_slice()).unwrap_or_default();
        let mut t = Table::new(["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH", "MESSAGE"]);
        for r in &status.resources {
            let result = results
                .iter()
                .find(|x| x.group == r.group && x.kind == r.kind && x.name == r.name && x.namespace == r.namespace);
            let message = result
                .and_then(|x| x.message.clone())
                .or_else(|| r.health.as_ref().and_then(|h| h.message.clone()))
                .unwrap_or_default();
            t.row(vec![
                r.group.clone(),
                r.kind.clone(),
                r.namespace.clone().unwrap_or_default(),
                r.name.clone(),
                sync_text(r.status).to_owned(),
                r.health.as_ref().map(|h| h.status.to_string()).unwrap_or_default(),
                message,
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

/// Whether an operation is still running or being stopped.
pub fn is_active(state: &OperationState) -> bool {
    matches!(state.phase, application::OperationPhase::Running | application::OperationPhase::Terminating)
}

fn operation_fields(out: &mut String, state: &OperationState) {
    field(out, "Operation", "Sync");
    let revision = state
        .sync_result
        .as_ref()
        .and_then(|r| r.revision.as_deref())
        .or_else(|| state.operation.as_ref().and_then(|o| o.sync.as_ref()).and_then(|s| s.revision.as_deref()));
    if let Some(rev) = revision {
        field(out, "Sync Revision", rev);
    }
    field(out, "Phase", &format!("{:?}", state.phase));
    field(out, "Start", &state.started_at.0.to_string());
    if let Some(finished) = &state.finished_at {
        field(out, "Finished", &finished.0.to_string());
    }
    if let Some(message) = &state.message {
        field(out, "Message", message);
    }
}

/// `ferry app history NAME`.
pub fn history_table(history: &[RevisionHistory]) -> String {
    let mut t = Table::new(["ID", "DATE", "REVISION"]);
    for h in history {
        t.row(vec![h.id.to_string(), h.deployed_at.0.to_string(), h.revision.clone()]);
    }
    t.render()
}

/// Per-resource results of a finished sync.
pub fn results_table(results: &[ResourceResult]) -> String {
    let mut t = Table::new(["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HOOK", "MESSAGE"]);
    for r in results {
        t.row(vec![
            r.group.clone(),
            r.kind.clone(),
            r.namespace.clone().unwrap_or_default(),
            r.name.clone(),
            format!("{:?}", r.status),
            r.hook_phase.map(|p| format!("{p:?}")).unwrap_or_default(),
            r.message.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}
