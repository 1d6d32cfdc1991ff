//! Commit-status gates: whether a commit passes a stage's proposed or active gates.
