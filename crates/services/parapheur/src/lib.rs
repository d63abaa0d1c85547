//! The parapheur: circuits of visa, signature and cachet that produce real PAdES, XAdES and
//! CAdES signatures (the `bouquet-crypto` crate), the inbox of élus, delegations, the
//! bordereau de signature, and the API other modules and business software send with.
//!
//! # Layout
//!
//! - [`model`]: steps, actors, statuses, actions, document kinds.
//! - [`circuits`]: an organisation's circuits; [`dossiers`]: dossiers, their copy of the
//!   circuit, who may act, and what each action changes (the state machine);
//!   [`delegations`]: absences.
//! - [`signing`]: certificates (keys sealed at rest), the demo PKI and time-stamping
//!   authority, and the signature of a document by its kind.
//! - [`flow`]: the operations as pages, the API and other modules call them, with their
//!   e-mails and the outbox event at the end; [`bordereau`]: the PDF of the history.
//! - [`web`]: pages and API; [`module`]: what the platform composes; [`demo`]: demo data.

pub mod bordereau;
pub mod circuits;
pub mod delegations;
pub mod demo;
pub mod dossiers;
pub mod flow;
pub mod model;
pub mod module;
pub mod reminders;
pub mod signing;
pub mod web;

pub use module::ParapheurModule;
