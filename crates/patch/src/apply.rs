//! Server-side apply: merging an applied configuration into a live object
//! while tracking which manager owns which fields.

/// Server-side apply `force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    /// Conflicts fail the request.
    #[default]
    No,
    /// Take ownership of conflicting fields.
    Yes,
}
