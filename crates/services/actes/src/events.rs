//! The timeline of an acte: every step, who, when. Written in the same transaction as the
//! change it tells.

use bouquet_kernel::UserId;
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreResult, exec, run, run_sql};
use jiff::Timestamp;

/// One line of the timeline, as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub acte_id: String,
    pub seq: i64,
    pub kind: String,
    pub label: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub message_id: Option<String>,
    pub at: i64,
}

/// A new line: `kind` is a stable code ("cree", "transmis", "ar_recu", "message_recu"…),
/// `label` the French sentence shown ("Accusé de réception reçu : exécutoire depuis le
/// 08/07/2022").
pub struct NewEvent<'a> {
    pub kind: &'static str,
    pub label: String,
    pub user: Option<UserId>,
    pub message_id: Option<&'a str>,
}

pub async fn record(
    tx: &mut Tx,
    now: Timestamp,
    acte_id: &str,
    e: NewEvent<'_>,
) -> StoreResult<()> {
    // Two transactions writing the same acte's timeline at once would read the same
    // MAX(seq): on PostgreSQL the acte's row is locked first (SQLite has one writer).
    run_sql!(tx,
        sqlite: "SELECT id FROM actes WHERE id = $1",
        postgres: "SELECT id FROM actes WHERE id = $1 FOR UPDATE",
        |c, sql| sqlx::query(sql).bind(acte_id).execute(c).await.map(|_| ()))?;
    let seq: i64 = run!(tx, |c| sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM actes_events WHERE acte_id = $1"
    )
    .bind(acte_id)
    .fetch_one(c)
    .await)?;
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO actes_events (id, acte_id, seq, kind, label, user_id, message_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(new_id().to_string())
        .bind(acte_id)
        .bind(seq)
        .bind(e.kind)
        .bind(&e.label)
        .bind(e.user.map(|u| u.to_string()))
        .bind(e.message_id)
        .bind(to_micros(now))
    )?;
    Ok(())
}

/// The whole timeline of an acte, oldest first. The caller has checked the acte belongs to
/// the organisation.
pub async fn timeline(h: &mut impl Handle, acte_id: &str) -> StoreResult<Vec<EventRow>> {
    Ok(run!(h, |c| sqlx::query_as(
        "SELECT e.id, e.acte_id, e.seq, e.kind, e.label, e.user_id, u.display_name AS user_name, \
         e.message_id, e.at FROM actes_events e LEFT JOIN users u ON u.id = e.user_id \
         WHERE e.acte_id = $1 ORDER BY e.seq"
    )
    .bind(acte_id)
    .fetch_all(c)
    .await)?)
}
