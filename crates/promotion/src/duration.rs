//! Durations as users write them (`30s`, `5m`, `1h30m`).
