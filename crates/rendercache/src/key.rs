//! Cache keys: every input that can change a render, hashed into one SHA-256 digest.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Seeds every key, so a digest of this crate never equals a SHA-256 of anything else, and a
/// change to how parts are encoded changes every key (old entries become plain misses).
const DOMAIN: &[u8] = b"ferry.dev/rendercache/key/v1\0";

/// The identity of one render: an ordered list of named parts (repo URL, tree ids of the app's
/// paths, source options, tool versions, ...) hashed with SHA-256.
///
/// The caller supplies every input that can change the output; this type only hashes them, with
/// an unambiguous encoding (each name and value is length-prefixed, so `("ab", "c")` and
/// `("a", "bc")` differ). **Order is significant**: add parts in a fixed order (Helm value files,
/// for one, are order-sensitive, so the key must be too).
///
/// ```
/// use rendercache::CacheKey;
///
/// let key = CacheKey::new().part("repo", "https://example.com/apps.git").part("tree", "3f2a…");
/// assert_eq!(key.digest(), CacheKey::new().part("repo", "https://example.com/apps.git").part("tree", "3f2a…").digest());
/// assert_eq!(key.digest().to_string().len(), 64);
/// ```
#[derive(Clone)]
pub struct CacheKey {
    hasher: Sha256,
}

impl CacheKey {
    /// A key with no parts yet.
    pub fn new() -> Self {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        CacheKey { hasher }
    }

    /// Add one named input. `value` is hashed as bytes (a `&str`, `String` or `&[u8]`).
    pub fn part(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.absorb(name.as_bytes());
        self.absorb(value.as_ref());
        self
    }

    /// Add one named JSON input (say `spec.source.helm`) in a canonical form: object keys sorted
    /// at every level, no whitespace. Two values that differ only in key order give the same key.
    pub fn part_json(self, name: &str, value: &serde_json::Value) -> Self {
        let mut canonical = Vec::new();
        write_canonical(value, &mut canonical);
        self.part(name, canonical)
    }

    /// The SHA-256 digest of the parts so far.
    pub fn digest(&self) -> Digest {
        Digest(self.hasher.clone().finalize().into())
    }

    fn absorb(&mut self, bytes: &[u8]) {
        // usize → u64 never truncates on the platforms Rust supports.
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }
}

impl Default for CacheKey {
    fn default() -> Self {
        CacheKey::new()
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&self.digest().to_string()).finish()
    }
}

/// A SHA-256 digest naming one cache entry; `Display` gives 64 lowercase hex digits, which is
/// also the entry's file name on disk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub(crate) [u8; 32]);

impl Digest {
    /// Parse 64 lowercase hex digits (the form `Display` writes). Anything else is `None`.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Digest(out))
    }
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// JSON with object keys sorted at every level and no whitespace.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                if let Some(item) = map.get(key) {
                    write_canonical(item, out);
                }
            }
            out.push(b'}');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &serde_json::Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail; a failure would only drop bytes from the key,
    // which makes it differ, never collide with another input's.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"\0invalid\0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> CacheKey {
        CacheKey::new().part("repo", "https://example.com/r.git").part("tree", "abc").part("helm", "v3.16.0")
    }

    #[test]
    fn same_parts_same_digest_and_any_change_differs() {
        assert_eq!(base().digest(), base().digest());
        let variants = [
            CacheKey::new().part("repo", "https://example.com/r.git").part("tree", "abd").part("helm", "v3.16.0"),
            CacheKey::new().part("repo", "https://example.com/r.git").part("tree", "abc").part("helm", "v3.16.1"),
            CacheKey::new().part("repo", "https://example.com/r.git").part("tree", "abc").part("helm2", "v3.16.0"),
            // Same bytes, split differently between name and value.
            CacheKey::new().part("repo", "https://example.com/r.git").part("tre", "eabc").part("helm", "v3.16.0"),
            // Order is significant.
            CacheKey::new().part("tree", "abc").part("repo", "https://example.com/r.git").part("helm", "v3.16.0"),
            base().part("extra", ""),
            CacheKey::new(),
        ];
        let mut digests: Vec<Digest> = variants.iter().map(CacheKey::digest).collect();
        digests.push(base().digest());
        let count = digests.len();
        digests.sort();
        digests.dedup();
        assert_eq!(digests.len(), count, "every variant has its own digest");
    }

    #[test]
    fn digest_is_stable_across_versions_of_this_code() {
        // Pinned: a change here silently invalidates every cache on disk, so it must be deliberate
        // (bump DOMAIN's version when the encoding changes). Computed independently as
        // sha256(DOMAIN, le64(4), "repo", le64(1), "r").
        assert_eq!(
            CacheKey::new().part("repo", "r").digest().to_string(),
            "d5401b105c0d0e2230beb35ef1b379552ce439c0b168d9ac4bf481b28f4600af"
        );
    }

    #[test]
    fn json_parts_ignore_key_order_but_not_values() {
        let a = json!({"releaseName": "x", "values": {"b": 1, "a": [1, {"z": null, "y": "s"}]}});
        let b = json!({"values": {"a": [1, {"y": "s", "z": null}], "b": 1}, "releaseName": "x"});
        let c = json!({"values": {"a": [{"y": "s", "z": null}, 1], "b": 1}, "releaseName": "x"});
        let key = |v: &serde_json::Value| CacheKey::new().part_json("helm", v).digest();
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert_ne!(key(&json!("1")), key(&json!(1)));
    }

    #[test]
    fn hex_round_trips_and_rejects_other_forms() {
        let digest = base().digest();
        let hex = digest.to_string();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(Digest::from_hex(&hex), Some(digest));
        assert_eq!(Digest::from_hex(&hex.to_ascii_uppercase()), None);
        assert_eq!(Digest::from_hex(&hex[1..]), None);
        assert_eq!(Digest::from_hex(&format!("{}g", &hex[1..])), None);
        assert_eq!(format!("{:?}", base()), format!("CacheKey({hex:?})"));
    }
}
