//! Bouquet's integration tests: one binary for the whole workspace (each extra test binary
//! costs a link of every crate).
//!
//! - `store`: the conformance suite of the store, on SQLite and PostgreSQL.
//! - `http_*`: a real server on a random port (SQLite), driven over HTTP.
//! - `tenancy`: the helper that proves another organisation's user is refused.
//! - `cli`: the `bouquet` binary itself.

// Helpers of a test crate may panic: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod helpers;
mod http_actes;
mod http_actes_exchange;
mod http_api;
mod http_auth;
mod http_invitations;
mod http_members;
mod http_pages;
mod http_parapheur;
mod http_parapheur_reminders;
mod http_signup;
mod http_tenancy;
mod registry;
mod simulator;
mod store;
mod tenancy;
