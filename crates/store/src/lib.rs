//! Bouquet's store: everything that touches the database, the blob storage or the mail relay.
//!
//! # Layout
//!
//! - [`db`]: the [`Db`] handle (SQLite with one writer, or PostgreSQL), transactions, and the
//!   [`run!`] macro that runs one body of sqlx code on either engine.
//! - [`migrate`]: one migrator for the migrations every crate owns.
//! - [`blobs`]: content-addressed files through `object_store`, streamed and hashed both ways,
//!   fsync'd before they are acknowledged.
//! - [`audit`]: the hash-chained journal (one chain per organisation), checkpoints, verifier.
//! - [`jobs`] and [`worker`]: the job queue in the database, its workers, and [`outbox`], the
//!   one way modules tell each other that something happened.
//! - [`accounts`], [`orgs`]: people, organisations, roles, sessions, tokens, subscriptions.
//! - [`invitations`], [`signups`]: people invited by an administrator, companies that register
//!   themselves; both by e-mailed links whose secret only the sending job sees.
//! - [`usage`]: usage events and their monthly aggregates.
//! - [`search`]: full-text search that behaves the same on both engines.
//! - [`bulk`]: multi-row statements for the bulk functions (`orgs::create_many`…).
//! - [`mail`]: outgoing e-mail (SMTP, or `.eml` files in demo mode), sent by a job.
//! - [`platform`]: the bundle handed to every module: db, blobs, clock, keys, mailer.
//!
//! **Architecture Invariant:** every SQL statement of this crate runs on both engines; the
//! conformance suite (`crates/bouquet/tests/it/store`) runs it on SQLite always and on
//! PostgreSQL when `BOUQUET_TEST_DATABASE_URL` is set.

pub mod accounts;
pub mod audit;
pub mod blobs;
pub mod bulk;
pub mod db;
pub mod error;
pub mod invitations;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod migrate;
pub mod orgs;
pub mod outbox;
pub mod page;
pub mod platform;
pub mod query;
pub mod search;
pub mod settings;
pub mod signups;
pub mod usage;
pub mod worker;

pub use db::{Conn, Db, Engine, Handle, Pooled, Tx};
pub use error::{StoreError, StoreResult};
pub use platform::Platform;
