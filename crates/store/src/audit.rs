//! The audit journal: append-only, hash-chained, one chain per organisation.
//!
//! Every state change appends an event **in the same transaction** as the change, so the
//! journal can never miss a committed change nor record one that rolled back. Each event
//! carries the SHA-256 of the previous event of its chain ([`bouquet_kernel::audit`]); the
//! chain's head (`audit_heads`) is updated in the same statement sequence, which on
//! PostgreSQL also serialises appends to one chain (the head row is locked until commit)
//! while other organisations' chains proceed in parallel.
//!
//! Heads are checkpointed regularly and at shutdown: the checkpoint signs (Ed25519, the
//! platform key) the chain's length and last hash, so that cutting the last events of a
//! chain is detected even if `audit_heads` is rewritten too. [`verify`] walks every chain.

use bouquet_kernel::audit::{
    EventFields, GENESIS_HASH, PLATFORM_CHAIN, checkpoint_message, event_hash,
};
use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{OrgId, UserId};
use ed25519_dalek::{Signature, Signer, Verifier};
use jiff::Timestamp;
use serde_json::Value;

use crate::db::{Db, Handle, Tx};
use crate::error::{StoreError, StoreResult};
use crate::keys::PlatformKeys;
use crate::page::{Cursor, Page};
use crate::{exec, run};

/// Who did it, as recorded.
#[derive(Clone, Debug)]
pub struct AuditActor {
    pub user_id: Option<UserId>,
    /// A readable name kept with the event ("Sophie Lebrun", "système", "Bouquet (démo)").
    pub label: String,
}

impl AuditActor {
    pub fn user(id: UserId, label: impl Into<String>) -> Self {
        Self {
            user_id: Some(id),
            label: label.into(),
        }
    }

    pub fn system() -> Self {
        Self {
            user_id: None,
            label: "Système".into(),
        }
    }
}

/// A state change to record.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The organisation whose chain receives the event; `None` for the platform chain.
    pub org: Option<OrgId>,
    pub actor: AuditActor,
    /// A code such as `user.created` (see `bouquet_kernel::audit::action_label`).
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub details: Value,
}

impl NewEvent {
    pub fn new(
        org: Option<OrgId>,
        actor: &AuditActor,
        action: &'static str,
        object_type: &'static str,
        object_id: impl ToString,
    ) -> Self {
        Self {
            org,
            actor: actor.clone(),
            action,
            object_type,
            object_id: object_id.to_string(),
            details: Value::Object(Default::default()),
        }
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

fn chain_of(org: Option<OrgId>) -> String {
    org.map_or_else(|| PLATFORM_CHAIN.to_owned(), |o| o.to_string())
}

/// Appends an event to its chain, inside the caller's transaction.
pub async fn append(tx: &mut Tx, at: Timestamp, event: NewEvent) -> StoreResult<String> {
    let chain = chain_of(event.org);
    let at_micros = to_micros(at);
    exec!(tx, sqlx::query(
        "INSERT INTO audit_heads (chain, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (chain) DO NOTHING"
    )
    .bind(&chain)
    .bind(GENESIS_HASH))?;
    // Taking the next number locks the head row until commit (PostgreSQL); SQLite already
    // holds the single write lock.
    let (seq, prev_hash): (i64, String) = run!(tx, |c| sqlx::query_as(
        "UPDATE audit_heads SET seq = seq + 1 WHERE chain = $1 RETURNING seq, hash"
    )
    .bind(&chain)
    .fetch_one(c)
    .await)?;
    let org_id = event.org.map(|o| o.to_string());
    let actor_id = event.actor.user_id.map(|u| u.to_string());
    let details = event.details.to_string();
    let hash = event_hash(&EventFields {
        chain: &chain,
        seq,
        prev_hash: &prev_hash,
        at_micros,
        org_id: org_id.as_deref(),
        actor_id: actor_id.as_deref(),
        actor_label: &event.actor.label,
        action: event.action,
        object_type: event.object_type,
        object_id: &event.object_id,
        details: &details,
    });
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO audit_events (id, chain, seq, prev_hash, hash, at, org_id, actor_id, actor_label, action, object_type, object_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(&id)
    .bind(&chain)
    .bind(seq)
    .bind(&prev_hash)
    .bind(&hash)
    .bind(at_micros)
    .bind(&org_id)
    .bind(&actor_id)
    .bind(&event.actor.label)
    .bind(event.action)
    .bind(event.object_type)
    .bind(&event.object_id)
    .bind(&details))?;
    exec!(
        tx,
        sqlx::query("UPDATE audit_heads SET hash = $2 WHERE chain = $1")
            .bind(&chain)
            .bind(&hash)
    )?;
    Ok(id)
}

/// Appends `events` in their order, inside the caller's transaction: exactly what calling
/// [`append`] for each in turn would write (the same numbering, links, hashes and heads), in a
/// few multi-row statements instead of four statements an event. For seeding and imports of
/// many rows; the heads of the chains concerned are locked until commit, as by [`append`].
/// Returns the ids of the events, in order.
pub async fn append_many(
    tx: &mut Tx,
    at: Timestamp,
    events: &[NewEvent],
) -> StoreResult<Vec<String>> {
    use crate::bulk::{self, int, opt_text, text};
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let at_micros = to_micros(at);
    let mut chains: Vec<String> = Vec::new();
    let mut heads: std::collections::HashMap<String, (i64, String)> = Default::default();
    for e in events {
        let chain = chain_of(e.org);
        if !heads.contains_key(&chain) {
            heads.insert(chain.clone(), (0, GENESIS_HASH.to_owned()));
            chains.push(chain);
        }
    }
    let new_heads: Vec<Vec<crate::query::Arg>> = chains
        .iter()
        .map(|c| vec![text(c.as_str()), int(0), text(GENESIS_HASH)])
        .collect();
    bulk::insert(
        tx,
        "INSERT INTO audit_heads (chain, seq, hash)",
        &new_heads,
        "ON CONFLICT (chain) DO NOTHING",
    )
    .await?;
    // Reading the heads through an UPDATE locks them until commit (PostgreSQL), like the
    // `UPDATE … RETURNING` of `append`; SQLite already holds the single write lock.
    let keys: Vec<crate::query::Arg> = chains.iter().map(|c| text(c.as_str())).collect();
    let current: Vec<(String, i64, String)> = bulk::fetch_in(
        tx,
        "UPDATE audit_heads SET seq = seq WHERE chain IN",
        &keys,
        "RETURNING chain, seq, hash",
    )
    .await?;
    for (chain, seq, hash) in current {
        heads.insert(chain, (seq, hash));
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let chain = chain_of(event.org);
        let (seq, prev_hash) = heads
            .get(&chain)
            .cloned()
            .unwrap_or((0, GENESIS_HASH.to_owned()));
        let seq = seq + 1;
        let org_id = event.org.map(|o| o.to_string());
        let actor_id = event.actor.user_id.map(|u| u.to_string());
        let details = event.details.to_string();
        let hash = event_hash(&EventFields {
            chain: &chain,
            seq,
            prev_hash: &prev_hash,
            at_micros,
            org_id: org_id.as_deref(),
            actor_id: actor_id.as_deref(),
            actor_label: &event.actor.label,
            action: event.action,
            object_type: event.object_type,
            object_id: &event.object_id,
            details: &details,
        });
        let id = new_id().to_string();
        rows.push(vec![
            text(id.as_str()),
            text(chain.as_str()),
            int(seq),
            text(prev_hash),
            text(hash.as_str()),
            int(at_micros),
            opt_text(org_id),
            opt_text(actor_id),
            text(event.actor.label.as_str()),
            text(event.action),
            text(event.object_type),
            text(event.object_id.as_str()),
            text(details),
        ]);
        heads.insert(chain, (seq, hash));
        ids.push(id);
    }
    bulk::insert(
        tx,
        "INSERT INTO audit_events (id, chain, seq, prev_hash, hash, at, org_id, actor_id, actor_label, action, object_type, object_id, details)",
        &rows,
        "",
    )
    .await?;
    let moved: Vec<Vec<crate::query::Arg>> = chains
        .iter()
        .filter_map(|c| {
            heads
                .get(c)
                .map(|(seq, hash)| vec![text(c.as_str()), int(*seq), text(hash.as_str())])
        })
        .collect();
    bulk::insert(
        tx,
        "INSERT INTO audit_heads (chain, seq, hash)",
        &moved,
        "ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )
    .await?;
    Ok(ids)
}

/// One event as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub chain: String,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub at: i64,
    pub org_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: String,
}

impl EventRow {
    pub fn at(&self) -> Timestamp {
        from_micros(self.at)
    }

    fn fields(&self) -> EventFields<'_> {
        EventFields {
            chain: &self.chain,
            seq: self.seq,
            prev_hash: &self.prev_hash,
            at_micros: self.at,
            org_id: self.org_id.as_deref(),
            actor_id: self.actor_id.as_deref(),
            actor_label: &self.actor_label,
            action: &self.action,
            object_type: &self.object_type,
            object_id: &self.object_id,
            details: &self.details,
        }
    }
}

/// Filters of the journal pages.
#[derive(Clone, Debug, Default)]
pub struct JournalFilter {
    /// `None` = every organisation (operator view); `Some` = one organisation's chain.
    pub org: Option<OrgId>,
    /// Only the platform chain (events with no organisation).
    pub platform_only: bool,
    pub actor: Option<UserId>,
    /// Prefix of the action code, e.g. `session.` or `user.created`.
    pub action_prefix: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

const EVENT_COLUMNS: &str = "id, chain, seq, prev_hash, hash, at, org_id, actor_id, actor_label, action, object_type, object_id, details";

/// Newest first, keyset-paginated on (at, id).
pub async fn list(
    h: &mut impl Handle,
    filter: &JournalFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<EventRow>> {
    let (c_at, c_id) = crate::page::int_text_key(cursor)?;
    // One organisation's events through the index on (org_id, at): the `$1 IS NULL OR …`
    // form hides it from SQLite's planner, which then walks the whole journal by date
    // (a quarter of a second per member page once `demo --scale` has run).
    let org_clause = if filter.org.is_some() {
        "org_id = $1"
    } else {
        "CAST($1 AS TEXT) IS NULL"
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events
         WHERE {org_clause}
           AND ($2 = FALSE OR org_id IS NULL)
           AND (CAST($3 AS TEXT) IS NULL OR actor_id = $3)
           AND (CAST($4 AS TEXT) IS NULL OR substr(action, 1, length(CAST($4 AS TEXT))) = $4)
           AND (CAST($5 AS BIGINT) IS NULL OR at >= $5)
           AND (CAST($6 AS BIGINT) IS NULL OR at < $6)
           AND (CAST($7 AS BIGINT) IS NULL OR at < $7 OR (at = $7 AND id < $8))
         ORDER BY at DESC, id DESC
         LIMIT $9"
    );
    // A plain prefix comparison, not LIKE: `_` is an ordinary character of action codes, and
    // LIKE ignores case on SQLite but not on PostgreSQL.
    let prefix = filter.action_prefix.clone();
    let rows: Vec<EventRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(filter.org.map(|o| o.to_string()))
        .bind(filter.platform_only)
        .bind(filter.actor.map(|u| u.to_string()))
        .bind(&prefix)
        .bind(filter.from.map(to_micros))
        .bind(filter.to.map(to_micros))
        .bind(c_at)
        .bind(&c_id)
        .bind(limit + 1)
        .fetch_all(c)
        .await)?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new().push_int(r.at).push_text(&r.id)
    }))
}

/// Checkpoints every chain whose head moved since its last checkpoint. Idempotent, and safe
/// to run from several nodes at once.
pub async fn checkpoint_all(db: &Db, now: Timestamp, keys: &PlatformKeys) -> StoreResult<usize> {
    let mut conn = db.read().await?;
    let heads: Vec<(String, i64, String)> = run!(&mut conn, |c| {
        sqlx::query_as(
        "SELECT h.chain, h.seq, h.hash FROM audit_heads h
         WHERE h.seq > COALESCE((SELECT MAX(k.seq) FROM audit_checkpoints k WHERE k.chain = h.chain), 0)"
    )
    .fetch_all(c)
    .await
    })?;
    drop(conn);
    if heads.is_empty() {
        return Ok(0);
    }
    let at = to_micros(now);
    let mut tx = db.begin().await?;
    for (chain, seq, hash) in &heads {
        let signature = keys.audit.sign(&checkpoint_message(chain, *seq, hash, at));
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO audit_checkpoints (chain, seq, hash, at, key_id, signature)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain, seq) DO NOTHING"
            )
            .bind(chain)
            .bind(seq)
            .bind(hash)
            .bind(at)
            .bind(&keys.audit_key_id)
            .bind(hex::encode(signature.to_bytes()))
        )?;
    }
    tx.commit().await?;
    Ok(heads.len())
}

/// What is wrong with a chain: the first problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub chain: String,
    /// The number of the first bad event, when one is to blame.
    pub seq: Option<i64>,
    pub event_id: Option<String>,
    /// In French, for the operator.
    pub message: String,
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub chains: usize,
    pub events: u64,
    pub checkpoints: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks every chain and checks: numbering without gap from 1, each event's link to the
/// previous one, each event's own hash, the head, and every checkpoint (signature, position
/// and hash). `progress(done, total)` is called as events are read.
pub async fn verify(
    db: &Db,
    keys: &PlatformKeys,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> StoreResult<VerifyReport> {
    // One snapshot for the whole walk: events appended meanwhile are simply not seen, instead
    // of looking like a head that ran ahead of its events.
    let mut conn = db.snapshot().await?;
    let total: i64 = run!(&mut conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events"
    )
    .fetch_one(c)
    .await)?;
    let total = u64::try_from(total).unwrap_or(0);
    let mut chains: Vec<String> = run!(&mut conn, |c| {
        sqlx::query_scalar(
        "SELECT chain FROM audit_heads UNION SELECT DISTINCT chain FROM audit_events UNION SELECT DISTINCT chain FROM audit_checkpoints"
    )
    .fetch_all(c)
    .await
    })?;
    chains.sort();
    chains.dedup();
    let mut report = VerifyReport {
        chains: chains.len(),
        ..Default::default()
    };
    for chain in chains {
        if let Some(problem) =
            verify_chain(&mut conn, keys, &chain, &mut report, total, progress).await?
        {
            report.problems.push(problem);
        }
    }
    progress(report.events, total);
    Ok(report)
}

async fn verify_chain(
    conn: &mut crate::db::Snapshot,
    keys: &PlatformKeys,
    chain: &str,
    report: &mut VerifyReport,
    total: u64,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> StoreResult<Option<Problem>> {
    let problem = |seq: Option<i64>, id: Option<&str>, message: String| Problem {
        chain: chain.to_owned(),
        seq,
        event_id: id.map(str::to_owned),
        message,
    };
    let checkpoints: Vec<(i64, String, i64, String, String)> = run!(conn, |c| {
        sqlx::query_as(
        "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE chain = $1 ORDER BY seq"
    )
    .bind(chain)
    .fetch_all(c)
    .await
    })?;
    report.checkpoints += checkpoints.len() as u64;
    for (seq, hash, at, key_id, signature) in &checkpoints {
        let message = checkpoint_message(chain, *seq, hash, *at);
        let ok = key_id == &keys.audit_key_id
            && hex::decode(signature)
                .ok()
                .and_then(|b| Signature::from_slice(&b).ok())
                .is_some_and(|sig| keys.audit_public.verify(&message, &sig).is_ok());
        if !ok {
            return Ok(Some(problem(
                Some(*seq),
                None,
                format!(
                    "le point de contrôle n° {seq} porte une signature invalide (ou d'une autre clé)"
                ),
            )));
        }
    }
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut checkpoint_iter = checkpoints.iter().peekable();
    loop {
        let batch: Vec<EventRow> = run!(conn, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT 1000"
        )))
        .bind(chain)
        .bind(expected_seq)
        .fetch_all(c)
        .await
        })?;
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            report.events += 1;
            if row.seq != expected_seq {
                return Ok(Some(problem(
                    Some(expected_seq),
                    None,
                    format!(
                        "l'événement n° {expected_seq} manque (le suivant trouvé est le n° {}) : des événements ont été supprimés",
                        row.seq
                    ),
                )));
            }
            if row.prev_hash != prev_hash {
                return Ok(Some(problem(
                    Some(row.seq),
                    Some(&row.id),
                    format!(
                        "l'événement n° {} ne suit pas l'événement précédent (chaînage rompu : événement inséré, supprimé ou déplacé)",
                        row.seq
                    ),
                )));
            }
            let recomputed = event_hash(&row.fields());
            if recomputed != row.hash {
                return Ok(Some(problem(
                    Some(row.seq),
                    Some(&row.id),
                    format!(
                        "l'événement n° {} a été modifié (son empreinte ne correspond plus à son contenu)",
                        row.seq
                    ),
                )));
            }
            while let Some((cp_seq, cp_hash, ..)) = checkpoint_iter.peek() {
                if *cp_seq != row.seq {
                    break;
                }
                if *cp_hash != row.hash {
                    return Ok(Some(problem(
                        Some(row.seq),
                        Some(&row.id),
                        format!(
                            "l'événement n° {} ne correspond pas au point de contrôle signé",
                            row.seq
                        ),
                    )));
                }
                checkpoint_iter.next();
            }
            prev_hash = row.hash.clone();
            expected_seq += 1;
        }
        progress(report.events, total);
    }
    let last_seq = expected_seq - 1;
    if let Some((cp_seq, ..)) = checkpoint_iter.next() {
        return Ok(Some(problem(
            Some(last_seq + 1),
            None,
            format!(
                "le journal s'arrête à l'événement n° {last_seq} alors qu'un point de contrôle signé en atteste {cp_seq} : les derniers événements ont été supprimés"
            ),
        )));
    }
    let head: Option<(i64, String)> = run!(conn, |c| sqlx::query_as(
        "SELECT seq, hash FROM audit_heads WHERE chain = $1"
    )
    .bind(chain)
    .fetch_optional(c)
    .await)?;
    match head {
        Some((seq, hash)) if seq == last_seq && (seq == 0 || hash == prev_hash) => Ok(None),
        Some((seq, _)) if seq > last_seq => Ok(Some(problem(
            Some(last_seq + 1),
            None,
            format!(
                "le journal s'arrête à l'événement n° {last_seq} alors qu'il en comptait {seq} : les derniers événements ont été supprimés"
            ),
        ))),
        Some((seq, _)) => Ok(Some(problem(
            Some(seq.min(last_seq)),
            None,
            format!(
                "la tête de chaîne (n° {seq}) ne correspond pas au dernier événement (n° {last_seq})"
            ),
        ))),
        None => Ok(Some(problem(
            None,
            None,
            "la tête de chaîne a disparu".to_owned(),
        ))),
    }
}

/// Reads one event (for tests and the journal detail).
pub async fn get(h: &mut impl Handle, id: &str) -> StoreResult<Option<EventRow>> {
    let row: Option<EventRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// Number of events of one organisation (or of the whole journal).
pub async fn count(h: &mut impl Handle, org: Option<OrgId>) -> StoreResult<i64> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE (CAST($1 AS TEXT) IS NULL OR org_id = $1)"
    )
    .bind(org.map(|o| o.to_string()))
    .fetch_one(c)
    .await)?;
    Ok(n)
}

impl From<ed25519_dalek::SignatureError> for StoreError {
    fn from(e: ed25519_dalek::SignatureError) -> Self {
        StoreError::Corrupt(format!("signature : {e}"))
    }
}
