//! Actes: transmission of délibérations, arrêtés, contrats and budget documents to the
//! contrôle de légalité in the @CTES (ACTES) format, the préfecture's messages and the
//! collectivité's answers, the acte tamponné and the bordereau d'acquittement.
//!
//! # Layout
//!
//! - [`model`]: statuses of an acte, states of a message, the outbox topic.
//! - [`events`]: the timeline of an acte.
//! - Authoring (the acte, its pieces, settings and classification, lists and search):
//!   [`actes`], [`settings`], and the pages in [`web::authoring`].
//! - Exchange (transmission, the préfecture's returns, answers, annulation, classification
//!   requests, alerts): [`exchange`], and the pages in [`web::exchange`].
//! - [`tampon`]: the acte tamponné; [`bordereau`]: the bordereau d'acquittement.
//! - [`module`]: what the platform composes; [`demo`]: demo data.
//!
//! The format itself (XML, naming, archives, XSD) is `bouquet-format-actes`; the préfecture
//! is reached through the connector protocol that `bouquet-sim-prefecture` also speaks.

pub mod actes;
pub mod bordereau;
pub mod demo;
pub mod events;
pub mod exchange;
pub mod model;
pub mod module;
pub mod settings;
pub mod tampon;
pub mod web;

pub use module::ActesModule;
