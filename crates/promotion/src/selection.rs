//! Auto-promotion: which freight to promote next, and what a newer freight does to one in flight.
