//! The exchange with the préfecture (contrôle de légalité): everything after the acte is
//! written.
//!
//! - [`connector`]: the [`connector::Prefecture`] trait and its HTTP implementation of the
//!   connector protocol (the one `bouquet-sim-prefecture` speaks).
//! - [`transmit`]: the transmission of an acte (1-1): request, then the job that builds,
//!   checks (XSD), packs, stores and deposits its archive.
//! - [`outgoing`]: what every sending shares: the envelope and its daily serial, the archive
//!   stored before it is sent, the deposit and its outcome (retries with backoff, refusal,
//!   "la préfecture ne répond pas").
//! - [`replies`]: answers (2-2, 3-3, 3-4, 4-3, 4-4), automatic ARs (3-2, 4-2), annulation
//!   (6-1), classification requests (7-1, on demand: [`request_classification`]).
//! - [`returns`]: the mailbox fetched every minute, each return stored before it is
//!   acknowledged, then processed (AR, anomalies, letters, déféré, annulation,
//!   classification); what cannot be understood is stored and flagged.
//! - [`alerts`]: the 48-hour "no AR" alert.
//! - [`data`]: the rows it reads and writes.

pub mod alerts;
pub mod connector;
pub mod data;
pub mod outgoing;
pub mod replies;
pub mod returns;
pub mod transmit;

use std::sync::Arc;

use bouquet_store::worker::Registry;
use jiff::SignedDuration;

pub use replies::{ReplyKind, request_classification};
pub use transmit::Person;

/// Jobs of the exchange: transmission, deposits, automatic ARs and classification
/// requests, the mailbox, the alerts.
pub fn register_jobs(registry: &mut Registry) {
    registry.handle(transmit::TRANSMIT, Arc::new(transmit::Transmission));
    registry.handle(outgoing::SEND, Arc::new(replies::Send));
    registry.handle(replies::AUTO_AR, Arc::new(replies::AutoAr));
    registry.handle(
        replies::AUTO_CLASSIFICATION,
        Arc::new(replies::AutoClassification),
    );
    registry.handle(returns::FETCH, Arc::new(returns::FetchReturns));
    registry.handle(alerts::ALERTS, Arc::new(alerts::Alerts));
}

/// Periodic jobs of the exchange: the mailbox every minute, the alerts every quarter hour.
pub fn schedules() -> Vec<bouquet_webkit::module::Schedule> {
    vec![
        bouquet_webkit::module::Schedule {
            kind: returns::FETCH,
            every: SignedDuration::from_mins(1),
        },
        bouquet_webkit::module::Schedule {
            kind: alerts::ALERTS,
            every: SignedDuration::from_mins(15),
        },
    ]
}
