//! Freight names (content hashes) and aliases.
