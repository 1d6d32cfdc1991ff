//! `ferry health -f FILE`: the controller's health assessment, offline, for
//! manifests in CI.

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One assessed object, as printed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// Kind.
    pub kind: String,
    /// Namespace (empty when not set).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Health status.
    pub status: health::HealthStatus,
    /// Health message.
    pub message: String,
}

/// Reads every object of a multi-document YAML or JSON text, flattening
/// `List` kinds (`kind: List` and `*List` with `items`).
pub fn objects(text: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text).context("the input is not valid JSON")? {
            Value::Array(items) => items,
            one => vec![one],
        }
    } else {
        serde_saphyr::from_multiple::<Value>(text).context("the input is not valid YAML")?
    };
    let mut out = Vec::new();
    for doc in docs {
        flatten(doc, &mut out, 0)?;
    }
    Ok(out)
}

fn flatten(doc: Value, out: &mut Vec<Value>, depth: usize) -> Result<()> {
    if depth > 16 {
        bail!("lists are nested too deeply");
    }
    match doc {
        Value::Null => Ok(()),
        Value::Object(ref map) => {
            let is_list = map.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array);
            if is_list {
                if let Some(Value::Array(items)) = doc.get("items").cloned() {
                    for item in items {
                        flatten(item, out, depth + 1)?;
                    }
                }
                return Ok(());
            }
            if map.get("kind").and_then(Value::as_str).is_none() {
                bail!("an object has no kind");
            }
            out.push(doc);
            Ok(())
        }
        _ => bail!("every document must be an object"),
    }
}

/// Assesses each object with the controller's checks. Kinds without a check
/// are Healthy, as for an application's health.
pub fn assess(objects: &[Value]) -> Vec<Row> {
    objects
        .iter()
        .map(|o| {
            let text = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
            let h = health::assess(o).unwrap_or_else(|| health::Health::new(health::HealthStatus::Healthy, ""));
            Row {
                kind: text("/kind"),
                namespace: text("/metadata/namespace"),
                name: text("/metadata/name"),
                status: h.status,
                message: h.message,
            }
        })
        .collect()
}

/// An aligned table, as kubectl prints.
pub fn table(rows: &[Row]) -> String {
    let header = ["KIND", "NAMESPACE", "NAME", "STATUS", "MESSAGE"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| [r.kind.clone(), r.namespace.clone(), r.name.clone(), r.status.to_string(), r.message.clone()])
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: [&str; 5]| {
        let mut l = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &cells {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    out
}

/// Reads FILE, or standard input for `-`.
pub fn read_input(file: &str) -> Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1, readyReplicas: 1}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {name: data}
  status: {phase: Pending}
"#;

    #[test]
    fn lists_are_flattened_and_each_object_assessed() {
        let objs = objects(MANIFESTS).expect("parse");
        let rows = assess(&objs);
        let summary: Vec<(&str, health::HealthStatus)> = rows.iter().map(|r| (r.name.as_str(), r.status)).collect();
        assert_eq!(
            summary,
            vec![
                ("web", health::HealthStatus::Progressing),
                ("c", health::HealthStatus::Healthy),
                ("data", health::HealthStatus::Progressing),
            ]
        );
        let t = table(&rows);
        assert!(t.starts_with("KIND"), "{t}");
        let first: Vec<&str> = t.lines().nth(1).map(|l| l.split_whitespace().take(4).collect()).unwrap_or_default();
        assert_eq!(first, vec!["Deployment", "prod", "web", "Progressing"], "{t}");
        let header_width = t.lines().next().and_then(|l| l.find("NAMESPACE"));
        assert_eq!(header_width, t.lines().nth(1).and_then(|l| l.find("prod")), "columns are aligned:\n{t}");
    }

    #[test]
    fn json_arrays_and_bad_input() {
        let rows =
            assess(&objects(r#"[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]"#).expect("json"));
        assert_eq!(rows.len(), 1);
        assert!(objects("kind: [unclosed").is_err());
        assert!(objects("- 1\n- 2\n").is_err());
        assert!(objects("metadata: {name: x}\n").is_err());
    }
}
