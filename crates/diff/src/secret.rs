//! Secret masking: values of a Secret's `data` never reach any output, but
//! the masks still tell whether each value differs.

use serde_json::{Map, Value};

/// The mask of a value that is the same on both sides (or on one side only).
pub const MASK_SAME: &str = "++++++++";
/// The mask of a live value that differs from the desired one.
pub const MASK_CHANGED: &str = "--------";

/// Replaces every value of `data` and `stringData` on both sides by a mask.
/// Normalisation has already folded `stringData` into `data`; masking it
/// too guards against callers that skipped that step.
pub(crate) fn mask(desired: &mut Value, live: Option<&mut Value>) {
    let mut live = live;
    for field in ["data", "stringData"] {
        let want = desired.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
        let have = live.as_deref().and_then(|l| l.get(field)).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(Value::Object(map)) = desired.get_mut(field) {
            mask_map(map, |_, _| MASK_SAME);
        }
        if let Some(Value::Object(map)) = live.as_deref_mut().and_then(|l| l.get_mut(field)) {
            mask_map(map, |key, value| match want.get(key) {
                Some(d) if d != value => MASK_CHANGED,
                _ => MASK_SAME,
            });
        }
        // Anything that is not a map of values is masked whole.
        for (side, values) in [(Some(&mut *desired), &want), (live.as_deref_mut(), &have)] {
            if let Some(side) = side
                && let Some(v) = side.get_mut(field)
                && !v.is_object()
                && values.is_empty()
            {
                *v = Value::String(MASK_SAME.to_owned());
            }
        }
    }
}

fn mask_map(map: &mut Map<String, Value>, mask_of: impl Fn(&str, &Value) -> &'static str) {
    for (key, value) in map.iter_mut() {
        *value = Value::String(mask_of(key, value).to_owned());
    }
}
