//! `ferry pipeline [NAME]`: a terminal picture of stages, left to right in
//! the order freight flows (the `requestedFreight` upstream graph), each box
//! with the stage's current freight, health, gates and promotion.
//!
//! [`render`] is the pure layout, golden-tested under `pipeline/testdata`;
//! [`run`] reads the cluster into [`StageBox`]es.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;

use anyhow::{Context, Result};
use clap::Args;
use kube::ResourceExt;
use promotion::{CommitStatus, Pipeline, Promotion, PromotionPhase, Stage};
use serde::Deserialize;

use super::promotion::objects::{self, Cluster, Scope};

/// `ferry pipeline`.
#[derive(Args, Debug)]
pub struct PipelineArgs {
    #[command(flatten)]
    scope: Scope,
    /// Only the stages of this Pipeline (default: every stage in the namespace)
    name: Option<String>,
}

/// One stage as drawn.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StageBox {
    /// The stage's name.
    pub name: String,
    /// Stages it takes freight from.
    pub upstream: Vec<String>,
    /// Its current freight (alias), empty when none.
    pub freight: String,
    /// Its health, empty when unknown.
    pub health: String,
    /// Its gates, in a few words.
    pub gates: String,
    /// Its pending or running promotion, in a few words.
    pub promotion: String,
}

/// Whether to color the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain text (not a terminal, or NO_COLOR).
    Plain,
    /// ANSI colors for health and promotion state.
    Color,
}

/// Runs `ferry pipeline`.
pub async fn run(args: PipelineArgs) -> Result<()> {
    let cluster = Cluster::connect(&args.scope).await?;
    let mut stages = cluster.list::<Stage>().await.context("cannot list stages")?;
    if let Some(name) = &args.name {
        let pipeline = cluster.get::<Pipeline>(name).await?;
        let order: Vec<String> = pipeline.spec.stages.iter().map(|s| s.name.clone()).collect();
        let owned = pipeline.status.as_ref().map(|s| s.stages.clone()).unwrap_or_default();
        stages.retain(|s| {
            let stage = s.name_any();
            s.labels().get(promotion::PIPELINE_LABEL) == Some(name) || owned.contains(&stage) || order.contains(&stage)
        });
        // The pipeline's own order within each column.
        stages.sort_by_key(|s| order.iter().position(|o| *o == s.name_any()).unwrap_or(usize::MAX));
        if stages.is_empty() {
            anyhow::bail!("pipeline {name:?} has no stages yet (the controller expands it into Stages)");
        }
    }
    if stages.is_empty() {
        eprintln!("no stages found in namespace {:?}", cluster.namespace());
        return Ok(());
    }
    let promotions = cluster.list::<Promotion>().await.unwrap_or_default();
    let statuses = cluster.list::<CommitStatus>().await.unwrap_or_default();
    let boxes: Vec<StageBox> = stages.iter().map(|s| stage_box(s, &promotions, &statuses)).collect();
    let style = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Color
    } else {
        Style::Plain
    };
    print!("{}", render(&boxes, style));
    Ok(())
}

/// What the picture shows of one stage.
pub fn stage_box(stage: &Stage, promotions: &[Promotion], statuses: &[CommitStatus]) -> StageBox {
    let name = stage.name_any();
    let status = stage.status.clone().unwrap_or_default();
    let mut upstream: Vec<String> =
        stage.spec.requested_freight.iter().flat_map(|r| r.sources.stages.iter().cloned()).collect();
    upstream.dedup();
    StageBox {
        upstream,
        freight: super::stage::current_freight(stage),
        health: status.health.clone().unwrap_or_default(),
        gates: gates_summary(stage, statuses),
        promotion: promotion_summary(&name, &status, promotions),
        name,
    }
}

/// `none`, or how many active gates pass on the active commit, and how many
/// proposed gates there are (those apply to a commit not landed yet).
fn gates_summary(stage: &Stage, statuses: &[CommitStatus]) -> String {
    let gates = stage.spec.gates.clone().unwrap_or_default();
    let approval = stage.spec.approval.as_ref().is_some_and(|a| a.required);
    let mut parts = Vec::new();
    if !gates.active.is_empty() {
        let active = stage.status.as_ref().and_then(|s| s.active_commit.clone()).unwrap_or_default();
        let passing = gates
            .active
            .iter()
            .filter(|key| {
                statuses.iter().any(|s| {
                    &s.spec.key == *key
                        && !active.is_empty()
                        && s.spec.sha.eq_ignore_ascii_case(&active)
                        && s.spec.phase == promotion::CommitStatusPhase::Success
                })
            })
            .count();
        parts.push(format!("{passing}/{} ok", gates.active.len()));
    }
    if !gates.proposed.is_empty() {
        parts.push(format!("{} proposed", gates.proposed.len()));
    }
    if approval {
        parts.push("approval".to_owned());
    }
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}

/// The running promotion, else the first pending one, else how the last ended
/// when it did not succeed, else `idle`.
fn promotion_summary(stage: &str, status: &promotion::StageStatus, promotions: &[Promotion]) -> String {
    let mut open: Vec<&Promotion> = promotions
        .iter()
        .filter(|p| p.spec.stage == stage && !p.status.as_ref().map(|s| s.phase).unwrap_or_default().is_terminal())
        .collect();
    open.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let phase = |p: &Promotion| p.status.as_ref().map(|s| s.phase).unwrap_or_default();
    let label = |p: &Promotion| {
        objects::freight_text(p.status.as_ref().and_then(|s| s.freight_alias.as_deref()), &p.spec.freight)
    };
    let more = if open.len() > 1 { format!(" +{}", open.len() - 1) } else { String::new() };
    if let Some(running) = open.iter().find(|p| phase(p) == PromotionPhase::Running) {
        return format!("promoting {}{more}", label(running));
    }
    if let Some(pending) = open.first() {
        return format!("pending {}{more}", label(pending));
    }
    match &status.last_promotion {
        Some(last) if last.phase != PromotionPhase::Succeeded => format!("last {:?}", last.phase),
        _ => "idle".to_owned(),
    }
}

/// A cell's color.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Normal,
    Good,
    Warn,
    Bad,
}

fn tone_of(value: &str) -> Tone {
    match value.split_whitespace().next().unwrap_or("") {
        "Healthy" => Tone::Good,
        "Progressing" | "Suspended" | "promoting" | "pending" => Tone::Warn,
        "Degraded" | "Missing" | "last" => Tone::Bad,
        _ => Tone::Normal,
    }
}

/// Columns between boxes, where the arrows go.
const GAP: usize = 6;

struct Canvas {
    cells: Vec<Vec<(char, Tone)>>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas { cells: vec![vec![(' ', Tone::Normal); width]; height] }
    }

    fn put(&mut self, x: usize, y: usize, c: char, tone: Tone) {
        if let Some(cell) = self.cells.get_mut(y).and_then(|row| row.get_mut(x)) {
            *cell = (c, tone);
        }
    }

    fn text(&mut self, x: usize, y: usize, text: &str, tone: Tone) {
        for (i, c) in text.chars().enumerate() {
            self.put(x + i, y, c, tone);
        }
    }

    /// A line character; where two lines cross, a `+`.
    fn line(&mut self, x: usize, y: usize, c: char) {
        let existing = self.cells.get(y).and_then(|row| row.get(x)).map(|cell| cell.0);
        let c = match existing {
            Some(' ') | None => c,
            Some(e) if e == c => c,
            Some('>') => '>',
            Some(_) => '+',
        };
        self.put(x, y, c, Tone::Normal);
    }

    fn render(&self, style: Style) -> String {
        let mut out = String::new();
        for row in &self.cells {
            let mut line = String::new();
            let mut current = Tone::Normal;
            let end = row.iter().rposition(|(c, _)| *c != ' ').map_or(0, |i| i + 1);
            for &(c, tone) in &row[..end] {
                if style == Style::Color && tone != current {
                    line.push_str(match tone {
                        Tone::Normal => "\x1b[0m",
                        Tone::Good => "\x1b[32m",
                        Tone::Warn => "\x1b[33m",
                        Tone::Bad => "\x1b[31m",
                    });
                    current = tone;
                }
                line.push(c);
            }
            if current != Tone::Normal {
                line.push_str("\x1b[0m");
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// Column of each box: 0 for stages with no upstream in the picture,
/// otherwise one more than their furthest upstream. Cycles (invalid, but
/// possible in user input) are cut where they close.
fn columns(boxes: &[StageBox]) -> Vec<usize> {
    let index: HashMap<&str, usize> = boxes.iter().enumerate().map(|(i, b)| (b.name.as_str(), i)).collect();
    let mut depth: Vec<Option<usize>> = vec![None; boxes.len()];
    fn visit(
        i: usize,
        boxes: &[StageBox],
        index: &HashMap<&str, usize>,
        depth: &mut [Option<usize>],
        path: &mut Vec<usize>,
    ) -> usize {
        if let Some(d) = depth[i] {
            return d;
        }
        path.push(i);
        let mut d = 0;
        for up in &boxes[i].upstream {
            if let Some(&u) = index.get(up.as_str())
                && !path.contains(&u)
            {
                d = d.max(visit(u, boxes, index, depth, path) + 1);
            }
        }
        path.pop();
        depth[i] = Some(d);
        d
    }
    (0..boxes.len()).map(|i| visit(i, boxes, &index, &mut depth, &mut Vec::new())).collect()
}

/// The picture: boxes in columns by [`columns`], in input order within a
/// column, joined by arrows from each upstream in the column just left.
/// Upstreams further left, or not in the picture, are named in the box
/// (`from: …`).
pub fn render(boxes: &[StageBox], style: Style) -> String {
    if boxes.is_empty() {
        return String::new();
    }
    let column = columns(boxes);
    let index: HashMap<&str, usize> = boxes.iter().enumerate().map(|(i, b)| (b.name.as_str(), i)).collect();
    let lines: Vec<Vec<(String, String)>> = boxes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let or = |v: &str, none: &str| if v.is_empty() { none.to_owned() } else { v.to_owned() };
            let mut lines = vec![
                (String::new(), b.name.clone()),
                ("freight: ".to_owned(), or(&b.freight, "none")),
                ("health: ".to_owned(), or(&b.health, "Unknown")),
                ("gates: ".to_owned(), or(&b.gates, "none")),
                ("promotion: ".to_owned(), or(&b.promotion, "idle")),
            ];
            let far: Vec<&str> = b
                .upstream
                .iter()
                .filter(|u| index.get(u.as_str()).is_none_or(|&j| column[j] + 1 != column[i]))
                .map(String::as_str)
                .collect();
            if !far.is_empty() {
                lines.push(("from: ".to_owned(), far.join(", ")));
            }
            lines
        })
        .collect();
    let inner = lines.iter().map(Vec::len).max().unwrap_or(0);
    let height = inner + 2;
    let columns_count = column.iter().max().map_or(1, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); columns_count];
    for (i, c) in column.iter().enumerate() {
        members[*c].push(i);
    }
    let widths: Vec<usize> = members
        .iter()
        .map(|m| {
            m.iter()
                .flat_map(|&i| lines[i].iter().map(|(k, v)| k.chars().count() + v.chars().count()))
                .max()
                .unwrap_or(0)
                + 4
        })
        .collect();
    let mut left = Vec::with_capacity(columns_count);
    let mut x = 0;
    for w in &widths {
        left.push(x);
        x += w + GAP;
    }
    let total_width = x - GAP;
    let rows = members.iter().map(Vec::len).max().unwrap_or(1);
    let mut canvas = Canvas::new(total_width, rows * (height + 1) - 1);
    let mut top: BTreeMap<usize, usize> = BTreeMap::new();
    for (c, m) in members.iter().enumerate() {
        for (r, &i) in m.iter().enumerate() {
            let (x, y, w) = (left[c], r * (height + 1), widths[c]);
            top.insert(i, y);
            for dx in 0..w {
                let edge = if dx == 0 || dx == w - 1 { '+' } else { '-' };
                canvas.put(x + dx, y, edge, Tone::Normal);
                canvas.put(x + dx, y + height - 1, edge, Tone::Normal);
            }
            for dy in 1..height - 1 {
                canvas.put(x, y + dy, '|', Tone::Normal);
                canvas.put(x + w - 1, y + dy, '|', Tone::Normal);
            }
            for (n, (key, value)) in lines[i].iter().enumerate() {
                canvas.text(x + 2, y + 1 + n, key, Tone::Normal);
                let tone = if key.is_empty() { Tone::Normal } else { tone_of(value) };
                canvas.text(x + 2 + key.chars().count(), y + 1 + n, value, tone);
            }
        }
    }
    // Arrows leave and enter at the name line, so they read as "this stage, then that one".
    for (i, b) in boxes.iter().enumerate() {
        for up in &b.upstream {
            let Some(&u) = index.get(up.as_str()) else { continue };
            if column[u] + 1 != column[i] {
                continue;
            }
            let (Some(&from), Some(&to)) = (top.get(&u), top.get(&i)) else { continue };
            let (src, dst) = (from + 1, to + 1);
            let gx = left[column[u]] + widths[column[u]];
            if src == dst {
                for dx in 0..GAP - 1 {
                    canvas.line(gx + dx, src, '-');
                }
            } else {
                canvas.line(gx, src, '-');
                canvas.line(gx + 1, src, '-');
                canvas.line(gx + 2, src, '+');
                let (a, z) = if src < dst { (src + 1, dst) } else { (dst + 1, src) };
                for y in a..z {
                    canvas.line(gx + 2, y, '|');
                }
                canvas.line(gx + 2, dst, '+');
                canvas.line(gx + 3, dst, '-');
                canvas.line(gx + 4, dst, '-');
            }
            canvas.put(gx + GAP - 1, dst, '>', Tone::Normal);
        }
    }
    canvas.render(style)
}

#[cfg(test)]
mod tests;
