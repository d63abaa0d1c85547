//! The members module (adhésions).
//!
//! # Layout
//!
//! - [`registry`]: the official registry of communes and EPCI (BANATIC), embedded as a
//!   compressed snapshot, parsed, searched, and compared with a newer file; [`current`]:
//!   which snapshot the platform uses (embedded, or imported by the operator);
//!   [`registry_import`]: importing a newer official file; [`mergers`]: member communes
//!   merged into a commune nouvelle, moved there in one step.
//! - [`members`]: members, their status with its history, college, the filtered lists.
//! - [`engagements`]: conventions and charters, prepared, signed, terminated;
//!   [`documents`]: their PDF (tagged, PDF/UA-1); [`reminders`]: the daily reminder job;
//!   [`circuit`]: their signature through a two-organisation circuit of the parapheur.
//! - [`import`]: members imported from a CSV file, every line checked in a preview first;
//!   [`import_apply`]: what the platform adds to the checks, and the writing.
//! - [`web`]: pages and API; [`module`]: what the platform composes; [`demo`]: demo data.

pub mod circuit;
pub mod current;
pub mod demo;
pub mod documents;
pub mod engagements;
pub mod import;
pub mod import_apply;
pub mod members;
pub mod mergers;
pub mod module;
pub mod registry;
pub mod registry_import;
pub mod reminders;
pub mod scale;
pub mod web;

pub use module::AdhesionsModule;
