//! The rows the exchange reads and writes: envelopes, messages and their files, return
//! archives; and the few columns of an acte, its pieces and its settings it needs.
//!
//! Every lookup of member data names the organisation.

use bouquet_kernel::OrgId;
use bouquet_kernel::clock::to_micros;
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreError, StoreResult, exec, run};
use jiff::Timestamp;

use crate::model::{MessageState, Status};

// ---------------------------------------------------------------------------------------
// The acte as the exchange sees it
// ---------------------------------------------------------------------------------------

/// The columns of an acte the exchange reads.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Acte {
    pub id: String,
    pub org_id: String,
    pub status: String,
    pub nature: String,
    pub numero: String,
    pub objet: String,
    pub matiere: String,
    pub decision_date: Option<String>,
    pub document_papier: bool,
    pub precedent_id: Option<String>,
    pub id_acte: Option<String>,
    pub classification_date: Option<String>,
    pub envelope_id: Option<String>,
    pub sent_at: Option<i64>,
    pub received_date: Option<String>,
    pub ar_at: Option<i64>,
    pub published_date: Option<String>,
    pub error: Option<String>,
    pub alert_sent: bool,
    pub created_by: String,
    pub version: i64,
}

impl Acte {
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }

    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation {}", self.org_id)))
    }

    /// "Délibération n° DEL_2026_12"
    pub fn title(&self) -> String {
        let nature = bouquet_format_actes::Nature::from_abbrev(&self.nature)
            .map_or("Acte", bouquet_format_actes::Nature::label);
        format!("{nature} n° {}", self.numero)
    }
}

const ACTE_COLUMNS: &str = "id, org_id, status, nature, numero, objet, matiere, decision_date, \
    document_papier, precedent_id, id_acte, classification_date, envelope_id, sent_at, \
    received_date, ar_at, published_date, error, alert_sent, created_by, version";

/// The acte `id` of `org`.
pub async fn acte(h: &mut impl Handle, org: OrgId, id: &str) -> StoreResult<Option<Acte>> {
    let sql = format!("SELECT {ACTE_COLUMNS} FROM actes WHERE id = $1 AND org_id = $2");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?)
}

/// The acte of `org` whose IDActe is `id_acte`.
pub async fn acte_by_id_acte(
    h: &mut impl Handle,
    org: OrgId,
    id_acte: &str,
) -> StoreResult<Option<Acte>> {
    let sql = format!(
        "SELECT {ACTE_COLUMNS} FROM actes WHERE org_id = $1 AND id_acte = $2 \
         ORDER BY updated_at DESC LIMIT 1"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .bind(id_acte)
    .fetch_optional(c)
    .await)?)
}

/// The acte of `org` whose NumeroInterne is `numero` (unique per organisation).
pub async fn acte_by_numero(
    h: &mut impl Handle,
    org: OrgId,
    numero: &str,
) -> StoreResult<Option<Acte>> {
    let sql = format!("SELECT {ACTE_COLUMNS} FROM actes WHERE org_id = $1 AND numero = $2");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .bind(numero)
    .fetch_optional(c)
    .await)?)
}

/// Actes `transmis` whose alert was not sent yet, sent before `before` (micros), oldest first.
pub async fn waiting_for_ar(h: &mut impl Handle, before: i64) -> StoreResult<Vec<Acte>> {
    let sql = format!(
        "SELECT {ACTE_COLUMNS} FROM actes WHERE status = 'transmis' AND alert_sent = FALSE \
         AND sent_at IS NOT NULL AND sent_at <= $1 ORDER BY sent_at, id LIMIT 500"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(before)
    .fetch_all(c)
    .await)?)
}

/// Changes the status of an acte, and what goes with it, if it still is in one of `from`.
/// Returns whether it changed.
pub struct StatusChange<'a> {
    pub to: Status,
    pub from: &'a [Status],
    pub error: Option<Option<&'a str>>,
    pub sent_at: Option<i64>,
    pub received_date: Option<&'a str>,
    pub ar_at: Option<i64>,
    pub envelope_id: Option<&'a str>,
    pub id_acte: Option<&'a str>,
    pub classification_date: Option<&'a str>,
}

impl<'a> StatusChange<'a> {
    pub fn new(to: Status, from: &'a [Status]) -> Self {
        Self {
            to,
            from,
            error: None,
            sent_at: None,
            received_date: None,
            ar_at: None,
            envelope_id: None,
            id_acte: None,
            classification_date: None,
        }
    }
}

pub async fn change_status(
    tx: &mut Tx,
    now: Timestamp,
    acte_id: &str,
    change: StatusChange<'_>,
) -> StoreResult<bool> {
    let from: Vec<String> = change
        .from
        .iter()
        .map(|s| format!("'{}'", s.code()))
        .collect();
    // The status codes are constants of the model, never input.
    let sql = format!(
        "UPDATE actes SET status = $1, updated_at = $2, version = version + 1, \
         error = CASE WHEN $3 THEN $4 ELSE error END, \
         sent_at = COALESCE($5, sent_at), received_date = COALESCE($6, received_date), \
         ar_at = COALESCE($7, ar_at), envelope_id = COALESCE($8, envelope_id), \
         id_acte = COALESCE($9, id_acte), classification_date = COALESCE($10, classification_date), \
         alert_sent = CASE WHEN $1 = 'transmis' AND status <> 'transmis' THEN FALSE ELSE alert_sent END \
         WHERE id = $11 AND status IN ({})",
        from.join(", ")
    );
    let n = exec!(
        tx,
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(change.to.code())
            .bind(to_micros(now))
            .bind(change.error.is_some())
            .bind(change.error.flatten())
            .bind(change.sent_at)
            .bind(change.received_date)
            .bind(change.ar_at)
            .bind(change.envelope_id)
            .bind(change.id_acte)
            .bind(change.classification_date)
            .bind(acte_id)
    )?;
    Ok(n == 1)
}

/// Notes that the 48-hour alert of an acte went out; false if another run did it first.
pub async fn claim_alert(tx: &mut Tx, acte_id: &str) -> StoreResult<bool> {
    let n = exec!(tx, sqlx::query(
        "UPDATE actes SET alert_sent = TRUE WHERE id = $1 AND alert_sent = FALSE AND status = 'transmis'"
    )
    .bind(acte_id))?;
    Ok(n == 1)
}

// ---------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------

pub mod envelope_state {
    /// The serial is taken, the archive is being made.
    pub const PREPARATION: &str = "preparation";
    pub const A_ENVOYER: &str = "a_envoyer";
    pub const ENVOYE: &str = "envoye";
    /// Refused at the door (400) or by an AnomalieEnveloppe.
    pub const REFUSE: &str = "refuse";
    /// Never accepted: the préfecture did not answer after every attempt, or the archive
    /// could not be made.
    pub const ERREUR: &str = "erreur";
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Envelope {
    pub id: String,
    pub org_id: String,
    pub day: String,
    pub serial: i64,
    pub name: String,
    pub archive_name: String,
    pub archive_sha256: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub created_at: i64,
}

impl Envelope {
    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation {}", self.org_id)))
    }
}

const ENVELOPE_COLUMNS: &str = "id, org_id, day, serial, name, archive_name, archive_sha256, \
    state, attempts, last_error, sent_at, created_at";

pub async fn envelope(h: &mut impl Handle, id: &str) -> StoreResult<Option<Envelope>> {
    let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM actes_envelopes WHERE id = $1");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id)
    .fetch_optional(c)
    .await)?)
}

/// The envelope of `org` named `name` (`EACT--….xml`) or whose archive is `name`.
pub async fn envelope_by_name(
    h: &mut impl Handle,
    org: OrgId,
    name: &str,
) -> StoreResult<Option<Envelope>> {
    let sql = format!(
        "SELECT {ENVELOPE_COLUMNS} FROM actes_envelopes WHERE org_id = $1 \
         AND (name = $2 OR archive_name = $2) ORDER BY created_at DESC LIMIT 1"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .bind(name)
    .fetch_optional(c)
    .await)?)
}

/// Takes the next daily serial of `org` for `day` (`YYYYMMDD`) and creates the envelope
/// row in [`envelope_state::PREPARATION`]. Two transactions taking the same number: the
/// unique index decides, the loser takes the next one (`ON CONFLICT DO NOTHING`, never a
/// caught violation).
pub async fn allocate_envelope(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    org: OrgId,
    day: &str,
    names: impl Fn(u32) -> (String, String),
) -> StoreResult<(u32, String, String)> {
    let mut serial: i64 = run!(tx, |c| {
        sqlx::query_scalar(
        "SELECT COALESCE(MAX(serial), 0) + 1 FROM actes_envelopes WHERE org_id = $1 AND day = $2"
    )
    .bind(org.to_string())
    .bind(day)
    .fetch_one(c)
    .await
    })?;
    for _ in 0..50 {
        let n = u32::try_from(serial)
            .map_err(|_| StoreError::Corrupt(format!("numéro d'enveloppe {serial}")))?;
        let (name, archive) = names(n);
        let inserted = exec!(tx, sqlx::query(
            "INSERT INTO actes_envelopes (id, org_id, day, serial, name, archive_name, archive_sha256, \
             state, attempts, created_at) VALUES ($1, $2, $3, $4, $5, $6, '', $7, 0, $8) \
             ON CONFLICT (org_id, day, serial) DO NOTHING"
        )
        .bind(id)
        .bind(org.to_string())
        .bind(day)
        .bind(serial)
        .bind(&name)
        .bind(&archive)
        .bind(envelope_state::PREPARATION)
        .bind(to_micros(now)))?;
        if inserted == 1 {
            return Ok((n, name, archive));
        }
        serial += 1;
    }
    Err(StoreError::Corrupt(
        "aucun numéro d'enveloppe libre aujourd'hui".into(),
    ))
}

/// The archive is stored: the envelope is ready to be sent.
pub async fn envelope_ready(tx: &mut Tx, id: &str, archive_sha256: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("UPDATE actes_envelopes SET archive_sha256 = $2, state = $3 WHERE id = $1")
            .bind(id)
            .bind(archive_sha256)
            .bind(envelope_state::A_ENVOYER)
    )?;
    Ok(())
}

/// Moves an envelope from `from` to `to`; returns whether it was in `from`.
pub async fn envelope_move(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    from: &str,
    to: &str,
    error: Option<&str>,
) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE actes_envelopes SET state = $3, last_error = COALESCE($4, last_error), \
         sent_at = CASE WHEN $3 = 'envoye' THEN $5 ELSE sent_at END WHERE id = $1 AND state = $2"
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(error)
        .bind(to_micros(now))
    )?;
    Ok(n == 1)
}

/// One more attempt at sending, and why it failed.
pub async fn envelope_attempt(tx: &mut Tx, id: &str, error: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "UPDATE actes_envelopes SET attempts = attempts + 1, last_error = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(error)
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Message {
    pub id: String,
    pub org_id: Option<String>,
    pub acte_id: Option<String>,
    pub direction: String,
    pub code: String,
    pub root: String,
    pub state: String,
    pub file_name: String,
    pub xml_sha256: String,
    pub archive_sha256: Option<String>,
    pub summary: String,
    pub detail: Option<String>,
    pub message_date: Option<String>,
    pub reply_to: Option<String>,
    pub envelope_id: Option<String>,
    pub flagged: bool,
    pub created_at: i64,
}

impl Message {
    pub fn state(&self) -> Option<MessageState> {
        MessageState::parse(&self.state)
    }

    pub fn incoming(&self) -> bool {
        self.direction == "in"
    }

    /// The blob owner of its files: its organisation, or the platform when none was found.
    pub fn owner(&self) -> String {
        bouquet_store::blobs::owner_key(self.org_id.as_deref().and_then(|o| o.parse().ok()))
    }
}

const MESSAGE_COLUMNS: &str = "id, org_id, acte_id, direction, code, root, state, file_name, \
    xml_sha256, archive_sha256, summary, detail, message_date, reply_to, envelope_id, flagged, \
    created_at";

/// A message to record.
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub org: Option<OrgId>,
    pub acte_id: Option<&'a str>,
    pub incoming: bool,
    pub code: &'a str,
    pub root: &'a str,
    pub state: MessageState,
    pub file_name: &'a str,
    pub xml_sha256: &'a str,
    pub archive_sha256: Option<&'a str>,
    pub summary: &'a str,
    pub detail: Option<&'a str>,
    pub message_date: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub envelope_id: Option<&'a str>,
    pub flagged: bool,
}

pub async fn insert_message(tx: &mut Tx, now: Timestamp, m: &NewMessage<'_>) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "INSERT INTO actes_messages (id, org_id, acte_id, direction, code, root, state, file_name, \
         xml_sha256, archive_sha256, summary, detail, message_date, reply_to, envelope_id, flagged, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )
    .bind(m.id)
    .bind(m.org.map(|o| o.to_string()))
    .bind(m.acte_id)
    .bind(if m.incoming { "in" } else { "out" })
    .bind(m.code)
    .bind(m.root)
    .bind(m.state.code())
    .bind(m.file_name)
    .bind(m.xml_sha256)
    .bind(m.archive_sha256)
    .bind(m.summary)
    .bind(m.detail)
    .bind(m.message_date)
    .bind(m.reply_to)
    .bind(m.envelope_id)
    .bind(m.flagged)
    .bind(to_micros(now)))?;
    Ok(())
}

pub async fn insert_message_file(
    tx: &mut Tx,
    message_id: &str,
    position: i64,
    name: &str,
    sha256: &str,
    size: i64,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO actes_message_files (message_id, position, name, sha256, size) \
         VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(message_id)
        .bind(position)
        .bind(name)
        .bind(sha256)
        .bind(size)
    )?;
    Ok(())
}

/// Moves a message from one of `from` to `to`; returns whether it moved.
pub async fn message_move(
    tx: &mut Tx,
    id: &str,
    from: &[MessageState],
    to: MessageState,
) -> StoreResult<bool> {
    let from: Vec<String> = from.iter().map(|s| format!("'{}'", s.code())).collect();
    let sql = format!(
        "UPDATE actes_messages SET state = $2 WHERE id = $1 AND state IN ({})",
        from.join(", ")
    );
    let n = exec!(
        tx,
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(to.code())
    )?;
    Ok(n == 1)
}

/// A message of `org` (or, for the operator, `None`: a message no organisation was found for).
pub async fn message(
    h: &mut impl Handle,
    org: Option<OrgId>,
    id: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE id = $1 AND \
         ((CAST($2 AS TEXT) IS NULL AND org_id IS NULL) OR org_id = $2)"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id)
    .bind(org.map(|o| o.to_string()))
    .fetch_optional(c)
    .await)?)
}

/// The messages of an acte, oldest first.
pub async fn messages_of_acte(h: &mut impl Handle, acte_id: &str) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE acte_id = $1 ORDER BY created_at, id"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(acte_id)
    .fetch_all(c)
    .await)?)
}

/// The messages carried by an envelope.
pub async fn messages_of_envelope(
    h: &mut impl Handle,
    envelope_id: &str,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE envelope_id = $1 AND direction = 'out' \
         ORDER BY created_at, id"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(envelope_id)
    .fetch_all(c)
    .await)?)
}

/// The messages of an organisation (`None`: those no organisation was found for), newest
/// first; `flagged_only` keeps the flagged ones.
pub async fn messages_of_org(
    h: &mut impl Handle,
    org: Option<OrgId>,
    flagged_only: bool,
    limit: i64,
) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE \
         ((CAST($1 AS TEXT) IS NULL AND org_id IS NULL) OR org_id = $1) \
         AND ($2 = FALSE OR flagged = TRUE) ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.map(|o| o.to_string()))
    .bind(flagged_only)
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// The incoming messages of `org` waiting for an answer, oldest first.
pub async fn awaiting_answer(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE org_id = $1 AND direction = 'in' \
         AND state = 'reponse_attendue' ORDER BY created_at, id LIMIT 200"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .fetch_all(c)
    .await)?)
}

/// The answers (or automatic ARs) already made to `message_id`.
pub async fn replies_to(h: &mut impl Handle, message_id: &str) -> StoreResult<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM actes_messages WHERE reply_to = $1 ORDER BY created_at, id"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(message_id)
    .fetch_all(c)
    .await)?)
}

/// The files of a message, in order.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageFile {
    pub message_id: String,
    pub position: i64,
    pub name: String,
    pub sha256: String,
    pub size: i64,
}

pub async fn message_files(h: &mut impl Handle, message_id: &str) -> StoreResult<Vec<MessageFile>> {
    Ok(run!(h, |c| sqlx::query_as(
        "SELECT message_id, position, name, sha256, size FROM actes_message_files \
         WHERE message_id = $1 ORDER BY position"
    )
    .bind(message_id)
    .fetch_all(c)
    .await)?)
}

/// Whether a classification request of `org` is pending: an outgoing 7-1 newer than any
/// classification (or "sans changement") received since, and not refused.
pub async fn classification_pending(h: &mut impl Handle, org: OrgId) -> StoreResult<bool> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM actes_messages o WHERE o.org_id = $1 AND o.direction = 'out' \
         AND o.code = '7-1' AND o.state IN ('a_envoyer', 'envoye') \
         AND NOT EXISTS (SELECT 1 FROM actes_messages i WHERE i.org_id = $1 AND i.direction = 'in' \
           AND i.root IN ('RetourClassification', 'ReponseClassificationSansChangement') \
           AND i.created_at >= o.created_at)"
    )
    .bind(org.to_string())
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------
// Return archives
// ---------------------------------------------------------------------------------------

pub mod return_state {
    pub const RECU: &str = "recu";
    pub const TRAITE: &str = "traite";
    pub const ERREUR: &str = "erreur";
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Return {
    pub id: String,
    pub remote_id: String,
    pub name: String,
    pub archive_sha256: String,
    pub state: String,
    pub error: Option<String>,
    pub org_id: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

const RETURN_COLUMNS: &str =
    "id, remote_id, name, archive_sha256, state, error, org_id, received_at, processed_at";

/// Whether this archive (`sha256`) is already stored under one of `remote_ids` and `name`.
pub async fn return_stored(
    h: &mut impl Handle,
    remote_ids: &[&str; 2],
    name: &str,
    sha256: &str,
) -> StoreResult<bool> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM actes_returns WHERE remote_id IN ($1, $2) AND name = $3 \
         AND archive_sha256 = $4"
    )
    .bind(remote_ids[0])
    .bind(remote_ids[1])
    .bind(name)
    .bind(sha256)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

/// Stores a fetched return (state `recu`); false when it was already there.
pub async fn insert_return(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    remote_id: &str,
    name: &str,
    archive_sha256: &str,
) -> StoreResult<bool> {
    let n =
        exec!(tx, sqlx::query(
        "INSERT INTO actes_returns (id, remote_id, name, archive_sha256, state, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (remote_id, name) DO NOTHING"
    )
    .bind(id)
    .bind(remote_id)
    .bind(name)
    .bind(archive_sha256)
    .bind(return_state::RECU)
    .bind(to_micros(now)))?;
    Ok(n == 1)
}

/// Returns stored and not yet processed, oldest first.
pub async fn returns_to_process(h: &mut impl Handle, limit: i64) -> StoreResult<Vec<Return>> {
    let sql = format!(
        "SELECT {RETURN_COLUMNS} FROM actes_returns WHERE state = 'recu' \
         ORDER BY received_at, id LIMIT $1"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// A processed return: `traite`, or `erreur` with its reason; claims it (false when another
/// run processed it first).
pub async fn return_done(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    org: Option<OrgId>,
    error: Option<&str>,
) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE actes_returns SET state = $2, error = $3, org_id = $4, processed_at = $5 \
         WHERE id = $1 AND state = 'recu'"
        )
        .bind(id)
        .bind(if error.is_some() {
            return_state::ERREUR
        } else {
            return_state::TRAITE
        })
        .bind(error)
        .bind(org.map(|o| o.to_string()))
        .bind(to_micros(now))
    )?;
    Ok(n == 1)
}

/// The e-mail addresses to tell about an acte: its author (if active) and the référents of
/// its organisation.
pub async fn people_to_tell(
    h: &mut impl Handle,
    org: OrgId,
    author: &str,
) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    if let Ok(user) = author.parse()
        && let Some(u) = bouquet_store::accounts::get_user(h, user).await?
        && u.active
    {
        out.push(u.email);
    }
    for r in bouquet_store::accounts::referents_of(h, org).await? {
        if r.active && !out.contains(&r.email) {
            out.push(r.email);
        }
    }
    Ok(out)
}

/// Return archives that could not be processed, newest first (for the operator).
pub async fn failed_returns(h: &mut impl Handle, limit: i64) -> StoreResult<Vec<Return>> {
    let sql = format!(
        "SELECT {RETURN_COLUMNS} FROM actes_returns WHERE state = 'erreur' \
         ORDER BY received_at DESC, id DESC LIMIT $1"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(limit)
    .fetch_all(c)
    .await)?)
}

/// Counts for the dashboard: actes `transmis` (waiting for their AR), of which overdue
/// (alert sent); incoming messages waiting for an answer.
pub async fn waiting_counts(h: &mut impl Handle, org: OrgId) -> StoreResult<(i64, i64, i64)> {
    let (waiting, late): (i64, i64) = run!(h, |c| sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN alert_sent THEN 1 ELSE 0 END), 0) \
         FROM actes WHERE org_id = $1 AND status = 'transmis'"
    )
    .bind(org.to_string())
    .fetch_one(c)
    .await)?;
    let answers: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM actes_messages WHERE org_id = $1 AND direction = 'in' \
         AND state = 'reponse_attendue'"
    )
    .bind(org.to_string())
    .fetch_one(c)
    .await)?;
    Ok((waiting, late, answers))
}

/// Messages no organisation was found for (each failed return has one): what the operator
/// has to look at.
pub async fn operator_counts(h: &mut impl Handle) -> StoreResult<i64> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM actes_messages WHERE org_id IS NULL"
    )
    .fetch_one(c)
    .await)?;
    Ok(n)
}
