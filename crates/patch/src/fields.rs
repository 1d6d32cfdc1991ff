//! Field sets in the `FieldsV1` format of `metadata.managedFields`.
//!
//! A field set is a trie of path elements: `f:<name>` for a field,
//! `k:<json object>` for an item of an associative list (by its keys),
//! `v:<json value>` for an item of a set, `i:<index>` for an atomic-list
//! position (rare), and `.` for "this node itself is owned".
