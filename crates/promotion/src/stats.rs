//! DORA figures from promotion history.
