//! The HTTP surface of the local cluster.
