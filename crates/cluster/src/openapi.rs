//! The `/openapi/v2` and `/openapi/v3` documents.
