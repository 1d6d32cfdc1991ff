//! The built-in steps, one module per family. Each step's doc comment states its config, its
//! outputs and how it stays idempotent.

pub(crate) mod app;
pub(crate) mod copy;
pub(crate) mod exec;
pub(crate) mod git;
pub(crate) mod http;
pub(crate) mod hydrate;
pub(crate) mod pr;
pub(crate) mod yaml;

use serde_json::{Map, Value};

/// Builds an outputs map from pairs.
pub(crate) fn outputs<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `30s`, `5m`, `1h`, `250ms`, or plain seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(number)),
        "" | "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        _ => return Err(format!("{text:?} is not a duration like 30s, 5m or 1h")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}
