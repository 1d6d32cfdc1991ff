//! Reading the few fields checks need from an untyped object, leniently:
//! a missing or mistyped field reads as absent, never as an error, because
//! health is computed for whatever the cluster (or a user's file) holds.

use serde_json::Value;

/// The value at `path` below `value`, if every step exists.
pub(crate) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The string at `path`.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

/// The integer at `path`.
pub(crate) fn int_at(value: &Value, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(Value::as_i64)
}

/// The integer at `path`, or 0 when absent: Kubernetes omits zero counters
/// from status, so absent means zero.
pub(crate) fn count_at(value: &Value, path: &[&str]) -> i64 {
    int_at(value, path).unwrap_or(0)
}

/// Whether the boolean at `path` is present and true.
pub(crate) fn is_true(value: &Value, path: &[&str]) -> bool {
    at(value, path).and_then(Value::as_bool) == Some(true)
}

/// The object's name, for messages.
pub(crate) fn name(object: &Value) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.generation` and `status.observedGeneration` (0 when absent).
pub(crate) fn generations(object: &Value) -> (i64, i64) {
    (count_at(object, &["metadata", "generation"]), count_at(object, &["status", "observedGeneration"]))
}

/// One entry of a `status.conditions` list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Condition<'a> {
    /// "True", "False" or "Unknown".
    pub(crate) status: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) message: &'a str,
}

impl Condition<'_> {
    pub(crate) fn is_true(&self) -> bool {
        self.status == "True"
    }

    pub(crate) fn is_false(&self) -> bool {
        self.status == "False"
    }

    /// "reason: message", or whichever of the two is present.
    pub(crate) fn describe(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (false, true) => self.reason.to_owned(),
            _ => self.message.to_owned(),
        }
    }
}

/// The condition of type `kind` in a list of conditions.
pub(crate) fn condition_in<'a>(conditions: &'a Value, kind: &str) -> Option<Condition<'a>> {
    conditions.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind)).map(|c| Condition {
        status: c.get("status").and_then(Value::as_str).unwrap_or(""),
        reason: c.get("reason").and_then(Value::as_str).unwrap_or(""),
        message: c.get("message").and_then(Value::as_str).unwrap_or(""),
    })
}

/// The condition of type `kind` in `status.conditions`.
pub(crate) fn condition<'a>(object: &'a Value, kind: &str) -> Option<Condition<'a>> {
    condition_in(at(object, &["status", "conditions"])?, kind)
}

/// Whether `status.loadBalancer.ingress` lists at least one address.
pub(crate) fn has_load_balancer_ingress(object: &Value) -> bool {
    at(object, &["status", "loadBalancer", "ingress"]).and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}
