//! Controllers of the local cluster.
