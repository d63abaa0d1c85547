//! Domain events between modules: one outbox, drained by the job queue.
//!
//! A module that wants to say "this acte was acquitted" calls [`publish`] in the transaction
//! that made the change: the event row and a dispatch job are committed with it, or not at
//! all. The dispatch job then enqueues one job per subscriber of the topic, so that each
//! subscriber is retried on its own. Modules subscribe (see `worker::RegistryBuilder`); they
//! never poll each other's tables.

use bouquet_kernel::OrgId;
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::{Handle, Tx};
use crate::error::StoreResult;
use crate::jobs::{self, NewJob};
use crate::{exec, run};

/// The job kind that fans an event out to its subscribers.
pub const DISPATCH: &str = "outbox.dispatch";

/// What a subscriber's job receives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub event_id: String,
    pub topic: String,
    pub org_id: Option<String>,
    pub payload: Value,
}

/// Publishes `topic` with `payload`, atomically with the caller's change.
pub async fn publish(
    tx: &mut Tx,
    now: Timestamp,
    org: Option<OrgId>,
    topic: &str,
    payload: Value,
) -> StoreResult<String> {
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO events (id, topic, org_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(&id)
    .bind(topic)
    .bind(org.map(|o| o.to_string()))
    .bind(payload.to_string())
    .bind(to_micros(now)))?;
    let mut job = NewJob::new(DISPATCH, json!({ "event_id": id }));
    job.org = org;
    jobs::enqueue(tx, now, job).await?;
    Ok(id)
}

/// Reads an event back as the envelope subscribers get.
pub async fn load(h: &mut impl Handle, event_id: &str) -> StoreResult<Option<Envelope>> {
    let row: Option<(String, String, Option<String>, String)> = run!(h, |c| sqlx::query_as(
        "SELECT id, topic, org_id, payload FROM events WHERE id = $1"
    )
    .bind(event_id)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|(event_id, topic, org_id, payload)| Envelope {
        event_id,
        topic,
        org_id,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
    }))
}
