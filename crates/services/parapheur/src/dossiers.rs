//! Dossiers and their way through the circuit: who may act, what each action changes.
//!
//! **Invariants**
//! - A dossier is visible in an organisation when it belongs to it or when one of its steps
//!   is that organisation's (a two-organisation circuit); every lookup names the organisation.
//! - Every action bumps `version` with `WHERE version = <what the actor saw>`: of two people
//!   acting at once, one wins, the other is told the dossier changed, and nothing of his is
//!   kept.
//! - The document only changes through a signing action, in the same transaction that
//!   records it; a failed signature leaves the dossier as it was.

use std::collections::HashSet;

use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId, RoleSet, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreError, StoreResult, exec, run};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::model::{
    ActionKind, Actor, DocumentKind, Status, StepDef, StepKind, StepMode, step_state,
};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DossierRow {
    pub id: String,
    pub org_id: String,
    pub title: String,
    pub doc_type: String,
    pub subtype: Option<String>,
    pub status: String,
    pub circuit_name: String,
    pub current_step: i64,
    pub version: i64,
    pub document_kind: String,
    pub document_name: String,
    pub original_sha256: String,
    pub current_sha256: String,
    pub current_size: i64,
    pub bordereau_sha256: Option<String>,
    pub created_by: String,
    pub source: Option<String>,
    pub source_ref: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

const DOSSIER_COLUMNS: &str = "d.id, d.org_id, d.title, d.doc_type, d.subtype, d.status, d.circuit_name, d.current_step, d.version, d.document_kind, d.document_name, d.original_sha256, d.current_sha256, d.current_size, d.bordereau_sha256, d.created_by, d.source, d.source_ref, d.created_at, d.updated_at, d.finished_at";

impl DossierRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::EnCours)
    }

    pub fn kind(&self) -> DocumentKind {
        DocumentKind::parse(&self.document_kind).unwrap_or(DocumentKind::Other)
    }

    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation {}", self.org_id)))
    }

    pub fn updated(&self) -> Timestamp {
        from_micros(self.updated_at)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StepRow {
    pub dossier_id: String,
    pub position: i64,
    pub kind: String,
    pub mode: String,
    pub reading_required: bool,
    pub org_id: String,
    pub actors: String,
    pub state: String,
}

impl StepRow {
    pub fn kind(&self) -> StepKind {
        StepKind::parse(&self.kind).unwrap_or(StepKind::Visa)
    }

    pub fn mode(&self) -> StepMode {
        StepMode::parse(&self.mode).unwrap_or(StepMode::Any)
    }

    pub fn actors(&self) -> StoreResult<Vec<Actor>> {
        serde_json::from_str(&self.actors).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation {}", self.org_id)))
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ActionRow {
    pub id: String,
    pub position: i64,
    pub seq: i64,
    pub kind: String,
    pub actor_key: Option<String>,
    pub user_id: Option<String>,
    pub user_label: String,
    pub quality: Option<String>,
    pub on_behalf_id: Option<String>,
    pub on_behalf_label: Option<String>,
    pub comment: Option<String>,
    pub public: bool,
    pub certificate: Option<String>,
    pub before_sha256: Option<String>,
    pub before_size: Option<i64>,
    pub after_sha256: Option<String>,
    pub undone: bool,
    pub at: i64,
}

impl ActionRow {
    pub fn kind(&self) -> Option<ActionKind> {
        ActionKind::parse(&self.kind)
    }

    pub fn at(&self) -> Timestamp {
        from_micros(self.at)
    }

    pub fn certificate(&self) -> Option<Value> {
        self.certificate
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub role: String,
    pub name: String,
    pub sha256: String,
    pub size: i64,
}

/// A stored file: name, SHA-256, size.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub name: String,
    pub sha256: String,
    pub size: u64,
}

/// A step whose organisation is resolved.
#[derive(Clone, Debug)]
pub struct ResolvedStep {
    pub def: StepDef,
    pub org: OrgId,
}

/// What a dossier is made of when it is sent.
pub struct NewDossier<'a> {
    pub org: OrgId,
    pub title: &'a str,
    pub doc_type: &'a str,
    pub subtype: Option<&'a str>,
    pub circuit_name: &'a str,
    pub steps: Vec<ResolvedStep>,
    pub document_kind: DocumentKind,
    pub document: StoredFile,
    pub annexes: Vec<StoredFile>,
    pub sender: UserId,
    pub sender_label: &'a str,
    /// The module that submitted it and its own reference (told when the circuit ends).
    pub source: Option<(&'a str, &'a str)>,
}

pub fn check_title(title: &str) -> Result<(), AppError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(AppError::invalid(
            "titre",
            "Donnez un titre au dossier, par exemple « Délibération 2026-041 : tarifs de la cantine ».",
        ));
    }
    if title.chars().count() > 250 {
        return Err(AppError::invalid(
            "titre",
            "Le titre ne doit pas dépasser 250 caractères.",
        ));
    }
    if title.contains(['\n', '\r']) {
        return Err(AppError::invalid(
            "titre",
            "Le titre doit tenir sur une ligne.",
        ));
    }
    Ok(())
}

/// Records a new dossier, its steps (the first one active) and the "déposé" line.
pub async fn create(tx: &mut Tx, now: Timestamp, d: &NewDossier<'_>) -> StoreResult<String> {
    check_title(d.title)?;
    if d.steps.is_empty() {
        return Err(AppError::invalid("circuit", "Ce circuit n'a aucune étape.").into());
    }
    let id = new_id().to_string();
    let us = to_micros(now);
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_dossiers (id, org_id, title, doc_type, subtype, status, circuit_name, current_step, version,
            document_kind, document_name, original_sha256, current_sha256, current_size, created_by, source, source_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'en_cours', $6, 0, 1, $7, $8, $9, $9, $10, $11, $12, $13, $14, $14)"
    )
    .bind(&id)
    .bind(d.org.to_string())
    .bind(d.title.trim())
    .bind(d.doc_type)
    .bind(d.subtype.map(str::trim).filter(|s| !s.is_empty()))
    .bind(d.circuit_name)
    .bind(d.document_kind.code())
    .bind(&d.document.name)
    .bind(&d.document.sha256)
    .bind(d.document.size as i64)
    .bind(d.sender.to_string())
    .bind(d.source.map(|s| s.0))
    .bind(d.source.map(|s| s.1))
    .bind(us))?;
    for (i, step) in d.steps.iter().enumerate() {
        let actors = serde_json::to_string(&step.def.actors)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        exec!(tx, sqlx::query(
            "INSERT INTO parapheur_steps (dossier_id, position, kind, mode, reading_required, org_id, actors, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(&id)
        .bind(i as i64)
        .bind(step.def.kind.code())
        .bind(step.def.mode.code())
        .bind(step.def.reading_required)
        .bind(step.org.to_string())
        .bind(&actors)
        .bind(if i == 0 { step_state::ACTIVE } else { step_state::WAITING }))?;
    }
    for annex in &d.annexes {
        add_file(tx, now, &id, "annexe", annex).await?;
    }
    record(
        tx,
        now,
        &id,
        NewAction {
            after: Some(d.document.sha256.clone()),
            ..NewAction::line(0, ActionKind::Depot, Some(d.sender), d.sender_label, None)
        },
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(d.org),
            &AuditActor::user(d.sender, d.sender_label),
            "parapheur.dossier.sent",
            "dossier",
            &id,
        )
        .details(json!({
            "titre": d.title.trim(),
            "circuit": d.circuit_name,
            "document_sha256": d.document.sha256,
        })),
    )
    .await?;
    Ok(id)
}

pub async fn add_file(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &str,
    role: &str,
    file: &StoredFile,
) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_files (id, dossier_id, role, name, sha256, size, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(new_id().to_string())
    .bind(dossier)
    .bind(role)
    .bind(&file.name)
    .bind(&file.sha256)
    .bind(file.size as i64)
    .bind(to_micros(now)))?;
    Ok(())
}

/// The dossier `id` as organisation `org` sees it: its own, or one where it acts at a step.
pub async fn get_visible(
    h: &mut impl Handle,
    org: OrgId,
    id: &str,
) -> StoreResult<Option<DossierRow>> {
    let sql = format!(
        "SELECT {DOSSIER_COLUMNS} FROM parapheur_dossiers d WHERE d.id = $1
           AND (d.org_id = $2 OR EXISTS (SELECT 1 FROM parapheur_steps s WHERE s.dossier_id = d.id AND s.org_id = $2))"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?)
}

pub async fn steps(h: &mut impl Handle, dossier: &str) -> StoreResult<Vec<StepRow>> {
    Ok(run!(h, |c| sqlx::query_as(
        "SELECT dossier_id, position, kind, mode, reading_required, org_id, actors, state
         FROM parapheur_steps WHERE dossier_id = $1 ORDER BY position"
    )
    .bind(dossier)
    .fetch_all(c)
    .await)?)
}

pub async fn actions(h: &mut impl Handle, dossier: &str) -> StoreResult<Vec<ActionRow>> {
    Ok(run!(h, |c| {
        sqlx::query_as(
        "SELECT id, position, seq, kind, actor_key, user_id, user_label, quality, on_behalf_id, on_behalf_label, comment,
                public, certificate, before_sha256, before_size, after_sha256, undone, at
         FROM parapheur_actions WHERE dossier_id = $1 ORDER BY seq"
    )
    .bind(dossier)
    .fetch_all(c)
    .await
    })?)
}

pub async fn files(h: &mut impl Handle, dossier: &str) -> StoreResult<Vec<FileRow>> {
    Ok(run!(h, |c| {
        sqlx::query_as(
        "SELECT id, role, name, sha256, size FROM parapheur_files WHERE dossier_id = $1 ORDER BY created_at, name"
    )
    .bind(dossier)
    .fetch_all(c)
    .await
    })?)
}

// ---------------------------------------------------------------------------------------
// Who may act
// ---------------------------------------------------------------------------------------

/// A person of an organisation with their roles and title (« Maire »).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Holder {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub roles: String,
    pub title: Option<String>,
}

impl Holder {
    pub fn fits(&self, actor: &Actor) -> bool {
        match actor {
            Actor::Person(id) => &self.user_id == id,
            Actor::Role(code) => RoleSet::parse(&self.roles)
                .unwrap_or_default()
                .iter()
                .any(|r| r.code() == code),
            Actor::Title(t) => self.title.as_deref().is_some_and(|own| {
                bouquet_kernel::text::normalize(own) == bouquet_kernel::text::normalize(t)
            }),
        }
    }

    pub fn id(&self) -> StoreResult<UserId> {
        self.user_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("utilisateur {}", self.user_id)))
    }
}

/// The active people of `org`.
pub async fn people(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<Holder>> {
    Ok(run!(h, |c| sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.display_name, m.roles, m.title
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND u.active ORDER BY u.display_name"
    )
    .bind(org.to_string())
    .fetch_all(c)
    .await)?)
}

/// Who holds the places of `step` today (not counting delegations).
pub async fn holders(h: &mut impl Handle, step: &StepRow) -> StoreResult<Vec<Holder>> {
    let actors = step.actors()?;
    Ok(people(h, step.org()?)
        .await?
        .into_iter()
        .filter(|p| actors.iter().any(|a| p.fits(a)))
        .collect())
}

/// In what capacity a person acts at a step.
#[derive(Clone, Debug)]
pub struct Capacity {
    pub actor_key: String,
    pub quality: Option<String>,
    /// Acting "en l'absence de" this person (id, name).
    pub on_behalf: Option<(String, String)>,
}

/// Whether `user` may act at `step` on `today` (`YYYY-MM-DD` in the step's organisation),
/// either himself or for an absent holder; `acted` are the actor keys already satisfied at
/// this step (an "all" step asks each of them once).
pub async fn capacity(
    h: &mut impl Handle,
    step: &StepRow,
    user: UserId,
    today: &str,
    doc_type: &str,
    acted: &HashSet<String>,
) -> StoreResult<Option<Capacity>> {
    let actors = step.actors()?;
    let people = people(h, step.org()?).await?;
    let me = user.to_string();
    let open = |a: &&Actor| step.mode() == StepMode::Any || !acted.contains(&a.key());
    if let Some(holder) = people.iter().find(|p| p.user_id == me)
        && let Some(actor) = actors.iter().filter(open).find(|a| holder.fits(a))
    {
        {
            return Ok(Some(Capacity {
                actor_key: actor.key(),
                quality: holder.title.clone(),
                on_behalf: None,
            }));
        }
    }
    // Delegations to me, in force today, from someone who holds a place here; only for a
    // person who belongs to the step's organisation.
    if !people.iter().any(|p| p.user_id == me) {
        return Ok(None);
    }
    let from: Vec<(String,)> = run!(h, |c| sqlx::query_as(
        "SELECT from_user FROM parapheur_delegations
         WHERE org_id = $1 AND to_user = $2 AND revoked_at IS NULL
           AND starts_on <= $3 AND ends_on >= $3 AND (doc_type IS NULL OR doc_type = $4)"
    )
    .bind(&step.org_id)
    .bind(&me)
    .bind(today)
    .bind(doc_type)
    .fetch_all(c)
    .await)?;
    for (absent,) in from {
        if let Some(holder) = people.iter().find(|p| p.user_id == absent)
            && let Some(actor) = actors.iter().filter(open).find(|a| holder.fits(a))
        {
            {
                let my_title = people
                    .iter()
                    .find(|p| p.user_id == me)
                    .and_then(|p| p.title.clone());
                return Ok(Some(Capacity {
                    actor_key: actor.key(),
                    quality: my_title,
                    on_behalf: Some((holder.user_id.clone(), holder.display_name.clone())),
                }));
            }
        }
    }
    Ok(None)
}

/// The actor keys already satisfied at `position`.
pub fn acted_keys(actions: &[ActionRow], position: i64, kind: StepKind) -> HashSet<String> {
    let done = ActionKind::of_step(kind).code();
    actions
        .iter()
        .filter(|a| a.position == position && !a.undone && a.kind == done)
        .filter_map(|a| a.actor_key.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------

pub struct NewAction {
    pub position: i64,
    pub kind: ActionKind,
    pub actor_key: Option<String>,
    pub user: Option<UserId>,
    pub user_label: String,
    pub quality: Option<String>,
    pub on_behalf: Option<(String, String)>,
    pub comment: Option<String>,
    pub public: bool,
    pub certificate: Option<Value>,
    pub before: Option<String>,
    /// The size of the document before this action, when it changed it.
    pub before_size: Option<i64>,
    pub after: Option<String>,
}

impl NewAction {
    /// A line of history by `user` that neither acts for a step nor changes the document
    /// (other fields are set with `NewAction { field, ..NewAction::line(…) }`).
    pub fn line(
        position: i64,
        kind: ActionKind,
        user: Option<UserId>,
        label: &str,
        comment: Option<String>,
    ) -> Self {
        NewAction {
            position,
            kind,
            actor_key: None,
            user,
            user_label: label.to_owned(),
            quality: None,
            on_behalf: None,
            comment,
            public: true,
            certificate: None,
            before: None,
            before_size: None,
            after: None,
        }
    }
}

async fn record(tx: &mut Tx, now: Timestamp, dossier: &str, a: NewAction) -> StoreResult<String> {
    let id = new_id().to_string();
    let seq: i64 = run!(tx, |c| sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM parapheur_actions WHERE dossier_id = $1"
    )
    .bind(dossier)
    .fetch_one(c)
    .await)?;
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_actions (id, dossier_id, position, seq, kind, actor_key, user_id, user_label, quality,
            on_behalf_id, on_behalf_label, comment, public, certificate, before_sha256, before_size, after_sha256, undone, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, FALSE, $18)"
    )
    .bind(&id)
    .bind(dossier)
    .bind(a.position)
    .bind(seq)
    .bind(a.kind.code())
    .bind(a.actor_key)
    .bind(a.user.map(|u| u.to_string()))
    .bind(a.user_label)
    .bind(a.quality)
    .bind(a.on_behalf.as_ref().map(|o| o.0.clone()))
    .bind(a.on_behalf.as_ref().map(|o| o.1.clone()))
    .bind(a.comment)
    .bind(a.public)
    .bind(a.certificate.map(|c| c.to_string()))
    .bind(a.before)
    .bind(a.before_size)
    .bind(a.after)
    .bind(to_micros(now)))?;
    Ok(id)
}

/// Claims the dossier for one action: it must still be in progress at the version the actor
/// saw. Two people acting at once: the second gets this French error, nothing changed.
async fn claim(tx: &mut Tx, now: Timestamp, dossier: &DossierRow, seen: i64) -> StoreResult<()> {
    // What was checked is `dossier`: the version the browser saw must be that one.
    let seen = if seen == dossier.version { seen } else { -1 };
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE parapheur_dossiers SET version = version + 1, updated_at = $1
         WHERE id = $2 AND version = $3 AND status = 'en_cours'"
        )
        .bind(to_micros(now))
        .bind(&dossier.id)
        .bind(seen)
    )?;
    if n == 0 {
        return Err(AppError::Conflict(
            "Ce dossier vient d'être traité par quelqu'un d'autre : rien n'a été enregistré. Rechargez la page pour voir où il en est.".into(),
        )
        .into());
    }
    Ok(())
}

/// The outcome of an action, for the caller's notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The same step waits for others ("all" mode).
    StepContinues,
    /// The next step (its position) is now active.
    NextStep(i64),
    /// The circuit is over: every step done.
    Finished,
    Rejected,
}

/// Who acts and how, as checked by the caller just before.
pub struct Acting<'a> {
    pub user: UserId,
    pub label: &'a str,
    pub capacity: Capacity,
}

/// Records the action of the current step (visa, signature, cachet, signature papier) and
/// moves the dossier on. `document` is the new version of the main document when the action
/// changed it (a signature), with its certificate description.
pub async fn complete_step(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    seen_version: i64,
    acting: &Acting<'_>,
    comment: Option<&str>,
    document: Option<(&StoredFile, Value)>,
) -> StoreResult<Outcome> {
    claim(tx, now, dossier, seen_version).await?;
    let steps = steps(tx, &dossier.id).await?;
    let step = steps
        .iter()
        .find(|s| s.position == dossier.current_step)
        .ok_or_else(|| StoreError::Corrupt("étape courante absente".into()))?;
    let actions = actions(tx, &dossier.id).await?;
    let acted = acted_keys(&actions, step.position, step.kind());
    if step.mode() == StepMode::All && acted.contains(&acting.capacity.actor_key) {
        return Err(AppError::Conflict("Vous avez déjà agi à cette étape.".into()).into());
    }
    let (certificate, after) = match document {
        Some((file, cert)) => {
            exec!(tx, sqlx::query(
                "UPDATE parapheur_dossiers SET current_sha256 = $1, current_size = $2 WHERE id = $3"
            )
            .bind(&file.sha256)
            .bind(file.size as i64)
            .bind(&dossier.id))?;
            (Some(cert), Some(file.sha256.clone()))
        }
        None => (None, None),
    };
    record(
        tx,
        now,
        &dossier.id,
        NewAction {
            position: step.position,
            kind: ActionKind::of_step(step.kind()),
            actor_key: Some(acting.capacity.actor_key.clone()),
            user: Some(acting.user),
            user_label: acting.label.to_owned(),
            quality: acting.capacity.quality.clone(),
            on_behalf: acting.capacity.on_behalf.clone(),
            comment: comment
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            public: true,
            certificate,
            before: after.as_ref().map(|_| dossier.current_sha256.clone()),
            before_size: after.as_ref().map(|_| dossier.current_size),
            after,
        },
    )
    .await?;
    let mut acted = acted;
    acted.insert(acting.capacity.actor_key.clone());
    let step_done = match step.mode() {
        StepMode::Any => true,
        StepMode::All => step.actors()?.iter().all(|a| acted.contains(&a.key())),
    };
    let outcome = if !step_done {
        Outcome::StepContinues
    } else {
        set_step_state(tx, &dossier.id, step.position, step_state::DONE).await?;
        let next = step.position + 1;
        if steps.iter().any(|s| s.position == next) {
            set_step_state(tx, &dossier.id, next, step_state::ACTIVE).await?;
            exec!(
                tx,
                sqlx::query("UPDATE parapheur_dossiers SET current_step = $1 WHERE id = $2")
                    .bind(next)
                    .bind(&dossier.id)
            )?;
            Outcome::NextStep(next)
        } else {
            exec!(tx, sqlx::query(
                "UPDATE parapheur_dossiers SET status = 'termine', finished_at = $1 WHERE id = $2"
            )
            .bind(to_micros(now))
            .bind(&dossier.id))?;
            record(
                tx,
                now,
                &dossier.id,
                NewAction::line(step.position, ActionKind::Fin, None, "Bouquet", None),
            )
            .await?;
            Outcome::Finished
        }
    };
    let label = match step.kind() {
        StepKind::Visa => "parapheur.dossier.visa",
        StepKind::Signature => "parapheur.dossier.signed",
        StepKind::Cachet => "parapheur.dossier.sealed",
        StepKind::SignaturePapier => "parapheur.dossier.paper_signed",
    };
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(dossier.org()?),
            &AuditActor::user(acting.user, acting.label),
            label,
            "dossier",
            &dossier.id,
        )
        .details(json!({
            "etape": step.position + 1,
            "en_l_absence_de": acting.capacity.on_behalf.as_ref().map(|o| o.1.clone()),
            "termine": outcome == Outcome::Finished,
        })),
    )
    .await?;
    Ok(outcome)
}

async fn set_step_state(tx: &mut Tx, dossier: &str, position: i64, state: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "UPDATE parapheur_steps SET state = $1 WHERE dossier_id = $2 AND position = $3"
        )
        .bind(state)
        .bind(dossier)
        .bind(position)
    )?;
    Ok(())
}

/// Rejects the dossier at its current step; the motive is mandatory.
pub async fn reject(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    seen_version: i64,
    acting: &Acting<'_>,
    motive: &str,
) -> StoreResult<()> {
    let motive = motive.trim();
    if motive.is_empty() {
        return Err(AppError::invalid(
            "motif",
            "Indiquez le motif du rejet : il est envoyé à la personne qui a déposé le dossier.",
        )
        .into());
    }
    if motive.chars().count() > 2000 {
        return Err(
            AppError::invalid("motif", "Le motif ne doit pas dépasser 2 000 caractères.").into(),
        );
    }
    claim(tx, now, dossier, seen_version).await?;
    set_step_state(tx, &dossier.id, dossier.current_step, step_state::REJECTED).await?;
    exec!(
        tx,
        sqlx::query(
            "UPDATE parapheur_dossiers SET status = 'rejete', finished_at = $1 WHERE id = $2"
        )
        .bind(to_micros(now))
        .bind(&dossier.id)
    )?;
    record(
        tx,
        now,
        &dossier.id,
        NewAction {
            position: dossier.current_step,
            kind: ActionKind::Rejet,
            actor_key: Some(acting.capacity.actor_key.clone()),
            user: Some(acting.user),
            user_label: acting.label.to_owned(),
            quality: acting.capacity.quality.clone(),
            on_behalf: acting.capacity.on_behalf.clone(),
            comment: Some(motive.to_owned()),
            public: true,
            certificate: None,
            before: None,
            before_size: None,
            after: None,
        },
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(dossier.org()?),
            &AuditActor::user(acting.user, acting.label),
            "parapheur.dossier.rejected",
            "dossier",
            &dossier.id,
        )
        .details(json!({ "etape": dossier.current_step + 1, "motif": motive })),
    )
    .await?;
    Ok(())
}

/// An annotation: public (everyone who sees the dossier) or private (its author only).
/// It does not move the dossier, so it does not claim a version.
pub async fn annotate(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    user: UserId,
    label: &str,
    text: &str,
    public: bool,
) -> StoreResult<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid("annotation", "Écrivez l'annotation.").into());
    }
    if text.chars().count() > 2000 {
        return Err(AppError::invalid(
            "annotation",
            "L'annotation ne doit pas dépasser 2 000 caractères.",
        )
        .into());
    }
    record(
        tx,
        now,
        &dossier.id,
        NewAction {
            public,
            ..NewAction::line(
                dossier.current_step,
                ActionKind::Annotation,
                Some(user),
                label,
                Some(text.to_owned()),
            )
        },
    )
    .await?;
    Ok(())
}

/// The action `user` may take back: his last visa or signature, when nobody has acted since.
pub fn undoable<'a>(
    dossier: &DossierRow,
    actions: &'a [ActionRow],
    user: UserId,
) -> Option<&'a ActionRow> {
    let me = user.to_string();
    // Once the circuit has ended, the sender and other modules have been told: no way back.
    if dossier.status() != Status::EnCours {
        return None;
    }
    // The last step action, skipping the automatic "fin" line.
    let step_action = actions.iter().rev().find(|a| {
        !a.undone
            && matches!(
                a.kind(),
                Some(
                    ActionKind::Visa
                        | ActionKind::Signature
                        | ActionKind::Cachet
                        | ActionKind::SignaturePapier
                )
            )
    })?;
    let later_step_work = actions.iter().any(|a| {
        a.seq > step_action.seq
            && !a.undone
            && a.kind() != Some(ActionKind::Fin)
            && a.kind() != Some(ActionKind::Annotation)
    });
    (step_action.user_id.as_deref() == Some(me.as_str()) && !later_step_work).then_some(step_action)
}

/// Takes back `user`'s last action (see [`undoable`]): the document goes back to the version
/// before it, the step is active again.
pub async fn take_back(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    seen_version: i64,
    user: UserId,
    label: &str,
) -> StoreResult<()> {
    let all = actions(tx, &dossier.id).await?;
    let action = undoable(dossier, &all, user)
        .ok_or_else(|| {
            AppError::Conflict(
                "Cette action ne peut plus être reprise : la personne suivante a déjà agi.".into(),
            )
        })?
        .clone();
    let n = exec!(tx, sqlx::query(
        "UPDATE parapheur_dossiers SET version = version + 1, updated_at = $1, status = 'en_cours', finished_at = NULL, current_step = $2
         WHERE id = $3 AND version = $4"
    )
    .bind(to_micros(now))
    .bind(action.position)
    .bind(&dossier.id)
    .bind(seen_version))?;
    if n == 0 {
        return Err(AppError::Conflict(
            "Ce dossier vient d'être traité par quelqu'un d'autre : rien n'a été enregistré. Rechargez la page.".into(),
        )
        .into());
    }
    if let Some(before) = &action.before_sha256 {
        let size = action.before_size.unwrap_or(dossier.current_size);
        exec!(
            tx,
            sqlx::query(
                "UPDATE parapheur_dossiers SET current_sha256 = $1, current_size = $2 WHERE id = $3"
            )
            .bind(before)
            .bind(size)
            .bind(&dossier.id)
        )?;
    }
    // A CAdES signature taken back: its `.p7s`, joined by the same transaction, goes too.
    exec!(tx, sqlx::query(
        "DELETE FROM parapheur_files WHERE dossier_id = $1 AND role = 'signature' AND created_at = $2"
    )
    .bind(&dossier.id)
    .bind(action.at))?;
    exec!(tx, sqlx::query(
        "UPDATE parapheur_actions SET undone = TRUE WHERE dossier_id = $1 AND (id = $2 OR (kind = 'fin' AND seq > $3))"
    )
    .bind(&dossier.id)
    .bind(&action.id)
    .bind(action.seq))?;
    exec!(tx, sqlx::query(
        "UPDATE parapheur_steps SET state = CASE WHEN position = $1 THEN 'en_cours' WHEN position > $1 THEN 'attente' ELSE state END
         WHERE dossier_id = $2"
    )
    .bind(action.position)
    .bind(&dossier.id))?;
    record(
        tx,
        now,
        &dossier.id,
        NewAction::line(
            action.position,
            ActionKind::Reprise,
            Some(user),
            label,
            Some(format!(
                "{} du {} reprise",
                ActionKind::parse(&action.kind).map_or("Action", ActionKind::label),
                bouquet_webkit::views::at(
                    action.at,
                    &bouquet_kernel::clock::time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE)
                )
            )),
        ),
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(dossier.org()?),
            &AuditActor::user(user, label),
            "parapheur.dossier.taken_back",
            "dossier",
            &dossier.id,
        )
        .details(json!({ "action": action.kind, "etape": action.position + 1 })),
    )
    .await?;
    Ok(())
}

/// Asks `to` for an opinion (avis) on the dossier; it does not stop the circuit.
pub async fn ask_opinion(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    from: UserId,
    from_label: &str,
    to: &Holder,
    message: &str,
) -> StoreResult<()> {
    let message = message.trim();
    if message.chars().count() > 2000 {
        return Err(AppError::invalid(
            "question",
            "La question ne doit pas dépasser 2 000 caractères.",
        )
        .into());
    }
    if to.user_id == from.to_string() {
        return Err(
            AppError::invalid("avis_de", "Choisissez une autre personne que vous-même.").into(),
        );
    }
    record(
        tx,
        now,
        &dossier.id,
        NewAction {
            position: dossier.current_step,
            kind: ActionKind::DemandeAvis,
            actor_key: Some(format!("avis:{}", to.user_id)),
            user: Some(from),
            user_label: from_label.to_owned(),
            quality: None,
            on_behalf: None,
            comment: Some(if message.is_empty() {
                format!("Avis demandé à {}", to.display_name)
            } else {
                format!("Avis demandé à {} : {message}", to.display_name)
            }),
            public: true,
            certificate: None,
            before: None,
            before_size: None,
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// Who asked `user` for an opinion that he has not given yet: the asker's id and name.
pub fn open_opinion(actions: &[ActionRow], user: UserId) -> Option<(String, String)> {
    let key = format!("avis:{user}");
    let me = user.to_string();
    let asked = actions.iter().rev().find(|a| {
        a.kind == ActionKind::DemandeAvis.code() && a.actor_key.as_deref() == Some(key.as_str())
    })?;
    let answered = actions.iter().any(|a| {
        a.seq > asked.seq
            && a.kind == ActionKind::Avis.code()
            && a.user_id.as_deref() == Some(me.as_str())
    });
    (!answered).then(|| {
        (
            asked.user_id.clone().unwrap_or_default(),
            asked.user_label.clone(),
        )
    })
}

/// Gives the opinion asked of `user`; returns the asker's id.
pub async fn give_opinion(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    user: UserId,
    label: &str,
    opinion: &str,
) -> StoreResult<String> {
    let opinion = opinion.trim();
    if opinion.is_empty() {
        return Err(AppError::invalid("avis", "Écrivez votre avis.").into());
    }
    if opinion.chars().count() > 2000 {
        return Err(
            AppError::invalid("avis", "L'avis ne doit pas dépasser 2 000 caractères.").into(),
        );
    }
    let all = actions(tx, &dossier.id).await?;
    let (asker, _) = open_opinion(&all, user).ok_or_else(|| {
        AppError::Conflict("Aucun avis ne vous est demandé sur ce dossier.".into())
    })?;
    record(
        tx,
        now,
        &dossier.id,
        NewAction::line(
            dossier.current_step,
            ActionKind::Avis,
            Some(user),
            label,
            Some(opinion.to_owned()),
        ),
    )
    .await?;
    Ok(asker)
}

/// Records that `user` opened the document while acting at the current step (once per step).
pub async fn record_reading(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    user: UserId,
    label: &str,
) -> StoreResult<()> {
    let actions = actions(tx, &dossier.id).await?;
    if has_read(&actions, dossier.current_step, user) {
        return Ok(());
    }
    record(
        tx,
        now,
        &dossier.id,
        NewAction::line(
            dossier.current_step,
            ActionKind::Lecture,
            Some(user),
            label,
            None,
        ),
    )
    .await?;
    Ok(())
}

/// Whether `user` opened the document at step `position`.
pub fn has_read(actions: &[ActionRow], position: i64, user: UserId) -> bool {
    let me = user.to_string();
    actions.iter().any(|a| {
        a.position == position
            && a.kind == ActionKind::Lecture.code()
            && a.user_id.as_deref() == Some(me.as_str())
    })
}

/// Gives the current step to one person (an administrator's decision: the holder left, is ill
/// and named no substitute…). The circuit of the dossier changes, the organisation's circuit
/// does not.
pub async fn reassign(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    seen_version: i64,
    to: &Holder,
    admin: UserId,
    admin_label: &str,
) -> StoreResult<()> {
    claim(tx, now, dossier, seen_version).await?;
    let actors = serde_json::to_string(&vec![Actor::Person(to.user_id.clone())])
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    exec!(tx, sqlx::query(
        "UPDATE parapheur_steps SET actors = $1, mode = 'un_seul' WHERE dossier_id = $2 AND position = $3"
    )
    .bind(&actors)
    .bind(&dossier.id)
    .bind(dossier.current_step))?;
    record(
        tx,
        now,
        &dossier.id,
        NewAction::line(
            dossier.current_step,
            ActionKind::Reattribution,
            Some(admin),
            admin_label,
            Some(format!("Étape confiée à {}", to.display_name)),
        ),
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(dossier.org()?),
            &AuditActor::user(admin, admin_label),
            "parapheur.dossier.reassigned",
            "dossier",
            &dossier.id,
        )
        .details(json!({ "etape": dossier.current_step + 1, "a": to.display_name })),
    )
    .await?;
    Ok(())
}

/// Sets the bordereau once it is made (after the last step).
pub async fn set_bordereau(tx: &mut Tx, dossier: &str, sha256: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("UPDATE parapheur_dossiers SET bordereau_sha256 = $1 WHERE id = $2")
            .bind(sha256)
            .bind(dossier)
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    /// Active steps of this organisation (filtered to the person afterwards).
    ToDo,
    /// Sent by this person from this organisation.
    Sent,
    /// Everything of this organisation or where it acts.
    All,
}

/// What a list shows: which folder, a title search, a status, a window.
pub struct ListFilter<'a> {
    pub folder: Folder,
    pub query: Option<&'a str>,
    pub status: Option<Status>,
    pub limit: i64,
    pub offset: i64,
}

/// Dossiers of a list, newest first, with a title search and a status filter.
pub async fn list(
    h: &mut impl Handle,
    org: OrgId,
    user: UserId,
    filter: &ListFilter<'_>,
) -> StoreResult<Vec<DossierRow>> {
    let ListFilter {
        folder,
        query,
        status,
        limit,
        offset,
    } = *filter;
    let scope = match folder {
        Folder::ToDo => {
            "d.status = 'en_cours' AND EXISTS (SELECT 1 FROM parapheur_steps s WHERE s.dossier_id = d.id AND s.position = d.current_step AND s.org_id = $1)"
        }
        Folder::Sent => "d.org_id = $1 AND d.created_by = $2",
        Folder::All => {
            "(d.org_id = $1 OR EXISTS (SELECT 1 FROM parapheur_steps s WHERE s.dossier_id = d.id AND s.org_id = $1))"
        }
    };
    let sql = format!(
        "SELECT {DOSSIER_COLUMNS} FROM parapheur_dossiers d
         WHERE {scope}
           AND (CAST($3 AS TEXT) IS NULL OR LOWER(d.title) LIKE $3)
           AND (CAST($4 AS TEXT) IS NULL OR d.status = $4)
         ORDER BY d.updated_at DESC, d.id LIMIT $5 OFFSET $6"
    );
    let pattern = query
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .bind(user.to_string())
    .bind(&pattern)
    .bind(status.map(Status::code))
    .bind(limit)
    .bind(offset)
    .fetch_all(c)
    .await)?)
}
