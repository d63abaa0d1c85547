//! Transmission of an acte (1-1): the request (`a_transmettre`, a job queued), and the job
//! that builds the Acte and its envelope, checks them, stores the archive and deposits it.

use async_trait::async_trait;
use bouquet_format_actes::{
    DonneesActe, IdActe, Message, Nature, TransactionBase, id_acte, parse_path,
};
use bouquet_kernel::{AppError, OrgId, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::blobs::owner_key;
use bouquet_store::db::Handle;
use bouquet_store::jobs::{self, JobRow, NewJob};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult};
use jiff::civil::Date;
use serde_json::json;

use super::connector;
use super::data::{self, Acte, StatusChange, envelope_state};
use super::outgoing::{self, Outgoing, Part, Refusal, SEND_ATTEMPTS};
use crate::events::{self, NewEvent as TimelineEvent};
use crate::model::Status;

/// The job that builds and deposits an acte: `{"acte_id", "org_id"}`.
pub const TRANSMIT: &str = "actes.transmission";

/// The statuses from which an acte may be transmitted.
pub const TRANSMITTABLE: [Status; 3] = [Status::Brouillon, Status::Pret, Status::Erreur];

/// The reason shown when the transmission could not even be prepared after every attempt.
const GIVEN_UP: &str = "La transmission n'a pas pu être préparée (erreur de la plate-forme, plusieurs fois). Rien n'a été envoyé : transmettez à nouveau ; si le problème persiste, prévenez l'administrateur.";

/// The person asking.
#[derive(Clone, Debug)]
pub struct Person<'a> {
    pub id: UserId,
    pub name: &'a str,
}

impl Person<'_> {
    pub fn actor(&self) -> AuditActor {
        AuditActor::user(self.id, self.name)
    }
}

/// The French error when no préfecture is configured.
pub fn not_configured() -> AppError {
    AppError::Unavailable(
        "Aucune préfecture n'est configurée sur cette plate-forme : la télétransmission n'est pas possible pour le moment. Prévenez l'administrateur de la plate-forme.".into(),
    )
}

/// Asks for the transmission of the acte `acte_id` of `org`: checks it is complete, marks it
/// `a_transmettre` and queues the job. No préfecture configured: a French error, nothing
/// queued.
pub async fn request(p: &Platform, org: OrgId, acte_id: &str, who: &Person<'_>) -> StoreResult<()> {
    if !connector::configured(p) {
        return Err(not_configured().into());
    }
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        let acte = data::acte(tx, org, acte_id)
            .await?
            .ok_or(StoreError::App(AppError::NotFound))?;
        let status = acte.status();
        if !status.is_some_and(|s| TRANSMITTABLE.contains(&s)) {
            return Err(AppError::Conflict(match status {
                Some(Status::Signature) => "L'acte attend encore sa signature dans le parapheur : il sera transmissible une fois signé.".to_owned(),
                Some(Status::ATransmettre) => "L'acte est déjà en cours de transmission.".to_owned(),
                Some(s) => format!("L'acte ne peut pas être transmis : il est « {} ».", s.label().to_lowercase()),
                None => "L'acte ne peut pas être transmis.".to_owned(),
            })
            .into());
        }
        // AUTHORING's rules: settings, fields, pieces, typologies, matière.
        let row = crate::actes::get(tx, org, acte_id)
            .await?
            .ok_or(StoreError::App(AppError::NotFound))?;
        let missing = crate::actes::missing_for_transmission(tx, &row).await?;
        if !missing.is_empty() {
            return Err(AppError::Conflict(format!(
                "L'acte n'est pas prêt à être transmis : {}",
                missing.join(" ")
            ))
            .into());
        }
        let mut change = StatusChange::new(Status::ATransmettre, &TRANSMITTABLE);
        change.error = Some(None);
        if !data::change_status(tx, now, acte_id, change).await? {
            return Err(AppError::Conflict("L'acte vient d'être modifié : rechargez la page.".into()).into());
        }
        events::record(
            tx,
            now,
            acte_id,
            TimelineEvent {
                kind: "transmission_demandee",
                label: format!("Transmission à la préfecture demandée par {}", who.name),
                user: Some(who.id),
                message_id: None,
            },
        )
        .await?;
        audit::append(
            tx,
            now,
            NewEvent::new(Some(org), &who.actor(), "actes.acte.transmission_requested", "acte", acte_id)
                .details(json!({ "numero": acte.numero })),
        )
        .await?;
        jobs::enqueue(
            tx,
            now,
            NewJob::new(TRANSMIT, json!({ "acte_id": acte_id, "org_id": org.to_string() }))
                .for_org(org)
                .max_attempts(SEND_ATTEMPTS),
        )
        .await?;
        Ok(())
    })
    .await?;
    p.wake_workers();
    Ok(())
}

/// The job [`TRANSMIT`].
pub struct Transmission;

#[async_trait]
impl JobHandler for Transmission {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let payload = job.payload();
        let acte_id = payload["acte_id"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("acte manquant".into()))?
            .to_owned();
        let org: OrgId = payload["org_id"]
            .as_str()
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| JobError::Permanent("organisation manquante".into()))?;
        let last = job.attempts >= job.max_attempts;
        let result = transmit_now(p, org, &acte_id, last).await;
        if let (Err(e), true) = (&result, last) {
            // The queue gives up: the acte must not stay "en attente" for ever.
            tracing::error!(acte = %acte_id, error = ?e, "transmission given up");
            let acte = {
                let mut conn = p.db.read().await?;
                data::acte(&mut conn, org, &acte_id).await?
            };
            if let Some(acte) = acte {
                fail(p, org, &acte, GIVEN_UP).await?;
            }
        }
        result
    }
}

/// Builds (once) and deposits the archive of an acte waiting in `a_transmettre`.
pub async fn transmit_now(
    p: &Platform,
    org: OrgId,
    acte_id: &str,
    last_attempt: bool,
) -> Result<(), JobError> {
    let (acte, envelope) = {
        let mut conn = p.db.read().await?;
        let Some(acte) = data::acte(&mut conn, org, acte_id).await? else {
            return Ok(());
        };
        let envelope = match &acte.envelope_id {
            Some(e) => data::envelope(&mut conn, e).await?,
            None => None,
        };
        (acte, envelope)
    };
    if acte.status() != Some(Status::ATransmettre) {
        return Ok(());
    }
    // A retry deposits the same archive (same serial); a new transmission builds a new one.
    let envelope_id = match envelope {
        Some(e) if e.state == envelope_state::A_ENVOYER => e.id,
        _ => match build(p, org, &acte).await {
            Ok(id) => id,
            Err(Refusal::Invalid(reason)) => {
                fail(p, org, &acte, &reason).await?;
                return Ok(());
            }
            Err(Refusal::Store(e)) => return Err(e.into()),
        },
    };
    outgoing::deliver(p, &envelope_id, last_attempt).await?;
    Ok(())
}

/// The acte cannot be built: `erreur` with the reason, nothing sent.
async fn fail(p: &Platform, org: OrgId, acte: &Acte, reason: &str) -> StoreResult<()> {
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        let mut change = StatusChange::new(Status::Erreur, &[Status::ATransmettre]);
        change.error = Some(Some(reason));
        if data::change_status(tx, now, &acte.id, change).await? {
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "erreur",
                    label: format!("Transmission impossible, rien n'a été envoyé : {reason}"),
                    user: None,
                    message_id: None,
                },
            )
            .await?;
            audit::append(
                tx,
                now,
                NewEvent::new(Some(org), &outgoing::system(), "actes.acte.transmission_failed", "acte", &acte.id)
                    .details(json!({ "motif": reason })),
            )
            .await?;
            outgoing::tell_about_acte(
                tx,
                p,
                now,
                org,
                &acte.id,
                "Un acte n'a pas pu être transmis",
                &format!("L'acte « {{titre}} » n'a pas pu être transmis à la préfecture ; rien n'a été envoyé :\n\n{reason}\n\nCorrigez l'acte, puis transmettez-le à nouveau."),
            )
            .await?;
        }
        Ok(())
    })
    .await
}

fn date_of(s: Option<&str>, what: &str) -> Result<Date, Refusal> {
    s.and_then(|d| d.parse::<Date>().ok())
        .ok_or_else(|| Refusal::Invalid(format!("{what} manque ou n'est pas une date.")))
}

/// The extension of a file name (lower case), `pdf` by default.
fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "pdf".to_owned())
}

/// Builds the Acte message and its pièces, prepares the envelope and records it; returns the
/// envelope's id.
async fn build(p: &Platform, org: OrgId, acte: &Acte) -> Result<String, Refusal> {
    let now = p.clock.now();
    let (sender, pieces) = {
        let mut conn = p.db.read().await?;
        let requester = requested_by(&mut conn, &acte.id).await?;
        let sender = outgoing::sender(&mut conn, p, org, requester).await?;
        let pieces = crate::actes::pieces(&mut conn, &acte.id).await?;
        (sender, pieces)
    };
    let nature = Nature::from_abbrev(&acte.nature).ok_or_else(|| {
        Refusal::Invalid(format!("Nature d'acte inconnue : « {} ».", acte.nature))
    })?;
    let decision = date_of(acte.decision_date.as_deref(), "La date de la décision")?;
    let classification_date = date_of(
        sender.classification_date.as_deref(),
        "La date de la classification de la préfecture",
    )?;
    let matieres = parse_path(&acte.matiere).ok_or_else(|| {
        Refusal::Invalid(format!(
            "La matière « {} » n'est pas un code de la classification.",
            acte.matiere
        ))
    })?;
    let siren = sender.org_row.siren.clone();
    let id = id_acte(&sender.departement, &siren, decision, &acte.numero, nature)
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    bouquet_format_actes::check_id_acte(&id).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let base = TransactionBase::new(
        &sender.departement,
        &siren,
        decision,
        &acte.numero,
        nature,
        (1, 1),
    );
    if !pieces.iter().any(|p| p.position == 1) {
        return Err(Refusal::Invalid(
            "Le document principal de l'acte manque.".into(),
        ));
    }
    let owner = owner_key(Some(org));
    let mut parts = Vec::new();
    let mut names = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let ext = match piece.extension() {
            "bin" => extension(&piece.name),
            e => e.to_owned(),
        };
        let name = base.piece_name(Some(&piece.typologie), n, &ext);
        let bytes = p.blobs.read_all(&owner, &piece.sha256).await?;
        names.push(name.clone());
        parts.push(Part { name, bytes });
    }
    let donnees = DonneesActe {
        date: decision,
        numero_interne: acte.numero.clone(),
        nature,
        matieres,
        objet: acte.objet.clone(),
        precedent_id_acte: acte.precedent_id.clone().filter(|s| !s.is_empty()),
        classification_date,
        document: names[0].clone(),
        annexes: names[1..].to_vec(),
        document_papier: Some(acte.document_papier),
    };
    let message = Outgoing {
        acte_id: Some(acte.id.clone()),
        message: Message::Acte(donnees),
        file_name: base.message_name(),
        parts,
        summary: format!("Transmission de l'acte {id}"),
        reply_to: None,
    };
    let packed = outgoing::prepare(p, &sender, vec![message]).await?;
    let classification = classification_date.to_string();
    let recorded =
        p.db.atomically(async |tx| {
            let mut change = StatusChange::new(Status::ATransmettre, &[Status::ATransmettre]);
            change.envelope_id = Some(&packed.envelope_id);
            change.id_acte = Some(&id);
            change.classification_date = Some(&classification);
            if !data::change_status(tx, now, &acte.id, change).await? {
                return Err(StoreError::App(AppError::Conflict(
                    "L'acte a changé pendant la préparation de son envoi.".into(),
                )));
            }
            outgoing::record(tx, now, &packed, false).await?;
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "archive_preparee",
                    label: format!(
                        "Archive préparée et vérifiée (schéma @CTES) : {}",
                        packed.archive_name
                    ),
                    user: None,
                    message_id: packed.messages.first().map(|m| m.id.as_str()),
                },
            )
            .await?;
            Ok(())
        })
        .await;
    match recorded {
        Ok(()) => Ok(packed.envelope_id),
        Err(e) => {
            let _ =
                p.db.atomically(async |tx| {
                    data::envelope_move(
                        tx,
                        now,
                        &packed.envelope_id,
                        envelope_state::PREPARATION,
                        envelope_state::ERREUR,
                        Some("abandonnée"),
                    )
                    .await
                })
                .await;
            Err(e.into())
        }
    }
}

/// The person who asked for the last transmission of an acte.
pub async fn requested_by(h: &mut impl Handle, acte_id: &str) -> StoreResult<Option<UserId>> {
    let user: Option<Option<String>> = bouquet_store::run!(h, |c| {
        sqlx::query_scalar(
        "SELECT user_id FROM actes_events WHERE acte_id = $1 AND kind = 'transmission_demandee' \
         ORDER BY seq DESC LIMIT 1"
    )
    .bind(acte_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(user.flatten().and_then(|u| u.parse().ok()))
}

/// The IDActe of a transmitted acte, read back.
pub fn id_of(acte: &Acte) -> Result<IdActe, Refusal> {
    let id = acte.id_acte.as_deref().ok_or_else(|| {
        Refusal::Invalid(
            "L'acte n'a pas encore été transmis : il n'a pas d'identifiant @CTES.".into(),
        )
    })?;
    IdActe::parse(id).map_err(|e| Refusal::Invalid(e.to_string()))
}
