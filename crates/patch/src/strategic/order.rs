//! Element order of merged lists.
//!
//! Kubernetes keeps the relative order the patch gives (or its
//! `$setElementOrder` list) for the elements the patch names, keeps the
//! relative order of the live list for the others, and interleaves the two:
//! a live-only element goes before a patch element only when both were in the
//! live list in that order. So new elements land right after the patch
//! element before them, ahead of the remaining live-only ones.

use serde_json::Value;

use super::{StrategicError, invalid};

/// Equality of list elements or merge-key values. Numbers compare by value,
/// as the Go implementation (which decodes every number to a float) does.
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// The identity of a list element: its merge-key value, or itself for scalars.
fn identity<'v>(element: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) => element.get(k),
        None => Some(element),
    }
}

/// Orders `merged`, whose first `server_len` elements come from the live
/// list (in its order) and the rest were added by the patch.
pub(super) fn arrange(merged: Vec<Value>, server_len: usize, patch_order: &[&Value], key: Option<&str>) -> Vec<Value> {
    let position = |v: &Value| -> Option<usize> {
        let id = identity(v, key)?;
        patch_order.iter().position(|o| identity(o, key).is_some_and(|oid| same(oid, id)))
    };
    let mut named: Vec<(usize, usize, Value)> = Vec::new();
    let mut server_only: Vec<(usize, Value)> = Vec::new();
    for (index, v) in merged.into_iter().enumerate() {
        match position(&v) {
            Some(p) => named.push((p, index, v)),
            None => server_only.push((index, v)),
        }
    }
    named.sort_by_key(|(p, index, _)| (*p, *index));

    let mut out = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((s, _)), Some((_, n, _))) => *s < server_len && *n < server_len && s < n,
        };
        let next = if take_server { server_only.next().map(|(_, v)| v) } else { named.next().map(|(_, _, v)| v) };
        out.extend(next);
    }
    out
}

/// Checks a `$setElementOrder` list: its elements carry the merge key (or are
/// scalars), and it names the patch's elements in the patch's order.
pub(super) fn check_set_order(
    items: &[&Value],
    order: &[Value],
    key: Option<&str>,
    path: &str,
) -> Result<(), StrategicError> {
    for element in order {
        let ok = match key {
            Some(k) => element.get(k).is_some(),
            None => !element.is_object() && !element.is_array(),
        };
        if !ok {
            let expected = match key {
                Some(k) => format!("objects with the merge key {k:?}"),
                None => "scalars".to_owned(),
            };
            return Err(invalid(path, format!("$setElementOrder elements must be {expected}, got {element}")));
        }
    }
    let mut next = 0;
    for element in order {
        let Some(item) = items.get(next) else { break };
        if let (Some(a), Some(b)) = (identity(item, key), identity(element, key))
            && same(a, b)
        {
            next += 1;
        }
    }
    if next < items.len() {
        return Err(invalid(
            path,
            "the patch list names elements in an order (or a set) that its $setElementOrder list does not",
        ));
    }
    Ok(())
}
