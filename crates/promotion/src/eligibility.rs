//! Which freight a stage may take: direct from its warehouse, or verified (and soaked) upstream.
