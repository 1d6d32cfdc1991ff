//! The on-disk format of one entry, and its atomic write.
//!
//! A file is one header line then the body:
//!
//! ```text
//! ferry-rendercache 1 <key: 64 hex> <sha256 of body: 64 hex> <body length>\n
//! {"tools":{...},"objects":[...]}
//! ```
//!
//! The header makes every failure mode a detectable miss: another format version (the magic or
//! version differs), a file under the wrong name (the key differs), a truncated or extended file
//! (the length differs; checked cheaply when the cache opens), and flipped bits (the checksum
//! differs; checked on every read). The body is JSON because objects are `serde_json::Value`s
//! (a self-describing format is needed anyway), and with `preserve_order` a read returns the
//! objects byte-for-byte as rendered.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Digest, Entry};

const MAGIC: &str = "ferry-rendercache";
/// Bump when the body or header changes: older files then read as corrupt and are deleted.
const VERSION: &str = "1";
/// Longer than any header this version writes; a file without a newline by then is corrupt.
const MAX_HEADER: usize = 256;

#[derive(Serialize)]
struct BodyRef<'a> {
    tools: &'a BTreeMap<String, String>,
    objects: &'a [serde_json::Value],
}

#[derive(Deserialize)]
struct Body {
    tools: BTreeMap<String, String>,
    objects: Vec<serde_json::Value>,
}

/// Why an entry could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file is gone (removed by another process sharing the directory, or by hand).
    Missing,
    /// The file exists but is not a valid entry of this version for this key: delete it.
    Corrupt(String),
    /// Reading failed for another reason (permissions, IO error): leave the file alone.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::NotFound { ReadError::Missing } else { ReadError::Io(error) }
    }
}

/// The whole file for `entry` under `digest`.
pub(crate) fn encode(digest: &Digest, entry: &Entry) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(&BodyRef { tools: &entry.tools, objects: &entry.objects })?;
    let sum = Digest(Sha256::digest(&body).into());
    let mut file = format!("{MAGIC} {VERSION} {digest} {sum} {}\n", body.len()).into_bytes();
    file.extend_from_slice(&body);
    Ok(file)
}

/// The size `entry` would have on disk, for the memory tier's accounting of entries that are
/// never written (it stands in for their size in memory).
pub(crate) fn encoded_len(entry: &Entry) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising Values into a counter cannot fail; on failure the count is merely low.
    let _ = serde_json::to_writer(&mut count, &BodyRef { tools: &entry.tools, objects: &entry.objects });
    count.0 + MAX_HEADER as u64
}

struct Header {
    key: Digest,
    sum: Digest,
    body_len: u64,
    /// Bytes of the header line, newline included.
    len: usize,
}

fn parse_header(start: &[u8]) -> Result<Header, String> {
    let end = start.iter().take(MAX_HEADER).position(|b| *b == b'\n').ok_or_else(|| "no header line".to_string())?;
    let line = std::str::from_utf8(&start[..end]).map_err(|_| "header is not text".to_string())?;
    let fields: Vec<&str> = line.split(' ').collect();
    let [magic, version, key, sum, body_len] = fields.as_slice() else {
        return Err(format!("header has {} fields", fields.len()));
    };
    if *magic != MAGIC {
        return Err("not a render cache entry".to_string());
    }
    if *version != VERSION {
        return Err(format!("format version {version:?}, this build reads {VERSION:?}"));
    }
    Ok(Header {
        key: Digest::from_hex(key).ok_or_else(|| "bad key in header".to_string())?,
        sum: Digest::from_hex(sum).ok_or_else(|| "bad checksum in header".to_string())?,
        body_len: body_len.parse().map_err(|_| "bad length in header".to_string())?,
        len: end + 1,
    })
}

fn check_header(header: &Header, digest: &Digest, file_len: u64) -> Result<(), String> {
    if header.key != *digest {
        return Err(format!("holds key {} instead", header.key));
    }
    if header.len as u64 + header.body_len != file_len {
        return Err(format!("is {file_len} bytes, header says {}", header.len as u64 + header.body_len));
    }
    Ok(())
}

/// Read and verify the entry `digest` at `path`; returns it with the file's size. A successful
/// read also sets the file's mtime to now, so recency survives a restart.
pub(crate) fn read(path: &Path, digest: &Digest) -> Result<(Entry, u64), ReadError> {
    let mut file = File::open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let header = parse_header(&bytes).map_err(ReadError::Corrupt)?;
    check_header(&header, digest, bytes.len() as u64).map_err(ReadError::Corrupt)?;
    let body = &bytes[header.len..];
    if Digest(Sha256::digest(body).into()) != header.sum {
        return Err(ReadError::Corrupt("checksum mismatch".to_string()));
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| ReadError::Corrupt(format!("body: {e}")))?;
    // Only the LRU order after a restart depends on this; failing to update it changes nothing else.
    let _ = file.set_modified(SystemTime::now());
    Ok((Entry::new(body.objects, body.tools), bytes.len() as u64))
}

/// The cheap check run for every file when the cache opens: header and length, not the
/// checksum. Returns the file's size and modification time.
pub(crate) fn check(path: &Path, digest: &Digest) -> Result<(u64, SystemTime), ReadError> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    let mut start = Vec::with_capacity(MAX_HEADER);
    (&mut file).take(MAX_HEADER as u64).read_to_end(&mut start)?;
    let header = parse_header(&start).map_err(ReadError::Corrupt)?;
    check_header(&header, digest, metadata.len()).map_err(ReadError::Corrupt)?;
    Ok((metadata.len(), metadata.modified()?))
}

/// Write `bytes` to a new file in `tmp` and flush it to stable storage; the caller renames it
/// into place. Created `0600` by `tempfile`; removed if dropped before being renamed.
pub(crate) fn write_temp(tmp: &Path, bytes: &[u8]) -> io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::Builder::new().prefix("entry-").tempfile_in(tmp)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    Ok(file)
}

/// Make a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheKey;
    use serde_json::json;

    fn sample() -> (Digest, Entry, Vec<u8>) {
        let digest = CacheKey::new().part("t", "1").digest();
        let entry = Entry::new(
            vec![json!({"kind": "ConfigMap", "metadata": {"name": "c", "z": 1, "a": 2}})],
            BTreeMap::from([("kustomize".to_string(), "v5.5.0".to_string())]),
        );
        let bytes = encode(&digest, &entry).unwrap();
        (digest, entry, bytes)
    }

    #[test]
    fn round_trip_keeps_key_order_and_detects_every_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        let (digest, entry, bytes) = sample();
        std::fs::write(&path, &bytes).unwrap();
        let (read_back, len) = read(&path, &digest).unwrap();
        assert_eq!(read_back, entry);
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(check(&path, &digest).unwrap().0, bytes.len() as u64);
        // Key order inside objects is kept as rendered, not sorted.
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#"{"name":"c","z":1,"a":2}"#), "{text}");
        assert!(encoded_len(&entry) >= bytes.len() as u64);

        let header_end = bytes.iter().position(|b| *b == b'\n').unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x01;
        let other_version = String::from_utf8(bytes.clone()).unwrap().replacen(" 1 ", " 2 ", 1).into_bytes();
        let damaged: Vec<(&str, Vec<u8>, bool)> = vec![
            ("truncated", bytes[..bytes.len() - 5].to_vec(), true),
            ("extended", [bytes.as_slice(), b"x"].concat(), true),
            ("flipped bit in body", flipped, false),
            ("header only", bytes[..header_end].to_vec(), true),
            ("empty", Vec::new(), true),
            ("other version", other_version, true),
            ("not ours", b"hello world\n{}".to_vec(), true),
        ];
        for (case, content, cheap_check_sees_it) in damaged {
            std::fs::write(&path, &content).unwrap();
            assert!(matches!(read(&path, &digest), Err(ReadError::Corrupt(_))), "{case}");
            assert_eq!(matches!(check(&path, &digest), Err(ReadError::Corrupt(_))), cheap_check_sees_it, "{case}");
        }
        // The right file under another key's name.
        std::fs::write(&path, &bytes).unwrap();
        let other = CacheKey::new().part("t", "2").digest();
        assert!(matches!(read(&path, &other), Err(ReadError::Corrupt(_))));
        assert!(matches!(check(&path, &other), Err(ReadError::Corrupt(_))));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(read(&path, &digest), Err(ReadError::Missing)));
    }
}
