//! Duplicate-field detection for `fieldValidation=Strict` on JSON bodies:
//! `serde_json::Value` keeps the last of two equal keys silently, so the
//! body is scanned once more with a visitor that remembers keys per object.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The path of the first duplicated field, like `data` or `spec.template`.
pub fn first_duplicate(body: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut found = None;
    let _ = Scan { path: String::new(), found: &mut found }.deserialize(&mut de);
    found
}

struct Scan<'a> {
    path: String,
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq.next_element_seed(Scan { path: format!("{}[{i}]", self.path), found: &mut *self.found })?.is_some() {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) && self.found.is_none() {
                *self.found = Some(path.clone());
                return Err(de::Error::custom("duplicate field"));
            }
            map.next_value_seed(Scan { path, found: &mut *self.found })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate;

    #[test]
    fn finds_nested_duplicates() {
        assert_eq!(first_duplicate(br#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(first_duplicate(br#"{"m":{"x":[{"k":1,"k":2}]}}"#).as_deref(), Some("m.x[0].k"));
        assert_eq!(first_duplicate(br#"{"a":{"b":1},"c":{"b":1}}"#), None);
        assert_eq!(first_duplicate(b"not json"), None);
    }
}
