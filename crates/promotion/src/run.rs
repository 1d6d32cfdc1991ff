//! The promotion state machine: the next status given a step's outcome.
