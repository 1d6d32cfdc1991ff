//! Integration tests of the git source stage against real git, with repos created in temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

mod cache;
mod http_auth;
mod webhook;
