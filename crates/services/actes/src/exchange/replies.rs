//! What the collectivité sends after the transmission: its answers to the préfecture's
//! letters (2-2, 3-3, 3-4, 4-3, 4-4, with PDF documents), the automatic accusés de réception
//! (3-2, 4-2), the annulation of an acquitted acte (6-1), the classification request (7-1).
//! Each is built, checked against the XSD, packed in its own envelope (daily serial) and
//! deposited by the queue like a transmission.

use async_trait::async_trait;
use bouquet_format_actes::{CourrierPref, Message, TransactionBase};
use bouquet_kernel::{AppError, OrgId, UserId};
use bouquet_store::audit::{self, NewEvent};
use bouquet_store::jobs::{self, JobRow, NewJob};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult};
use jiff::civil::Date;
use serde_json::json;

use super::connector;
use super::data::{self, Acte, StatusChange, envelope_state};
use super::outgoing::{self, Outgoing, Part, Refusal, SEND_ATTEMPTS};
use super::transmit::{Person, id_of, not_configured};
use crate::events::{self, NewEvent as TimelineEvent};
use crate::model::{MessageState, Status};

/// The largest document joined to an answer.
pub const MAX_FILE: usize = 50 * 1024 * 1024;
/// The most documents joined to an answer (pièces complémentaires).
pub const MAX_FILES: usize = 20;

/// The answers a collectivité can make to a préfecture letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// 2-2: réponse à un courrier simple.
    ReponseCourrier,
    /// 3-3: refus de transmettre les pièces complémentaires.
    RefusPieces,
    /// 3-4: envoi des pièces complémentaires.
    EnvoiPieces,
    /// 4-3: rejet de la lettre d'observations.
    RejetObservations,
    /// 4-4: réponse à la lettre d'observations.
    ReponseObservations,
}

impl ReplyKind {
    pub const ALL: [ReplyKind; 5] = [
        ReplyKind::ReponseCourrier,
        ReplyKind::RefusPieces,
        ReplyKind::EnvoiPieces,
        ReplyKind::RejetObservations,
        ReplyKind::ReponseObservations,
    ];

    /// The form's and the API's value.
    pub fn code(self) -> &'static str {
        match self {
            ReplyKind::ReponseCourrier => "2-2",
            ReplyKind::RefusPieces => "3-3",
            ReplyKind::EnvoiPieces => "3-4",
            ReplyKind::RejetObservations => "4-3",
            ReplyKind::ReponseObservations => "4-4",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            ReplyKind::ReponseCourrier => "Répondre au courrier",
            ReplyKind::RefusPieces => "Refuser de transmettre les pièces",
            ReplyKind::EnvoiPieces => "Envoyer les pièces complémentaires",
            ReplyKind::RejetObservations => "Rejeter les observations",
            ReplyKind::ReponseObservations => "Répondre aux observations",
        }
    }

    /// The root element of the préfecture letter it answers.
    pub fn answers(self) -> &'static str {
        match self {
            ReplyKind::ReponseCourrier => "CourrierSimple",
            ReplyKind::RefusPieces | ReplyKind::EnvoiPieces => "DemandePieceComplementaire",
            ReplyKind::RejetObservations | ReplyKind::ReponseObservations => "LettreObservations",
        }
    }

    /// The answers to a letter whose root is `root`.
    pub fn for_root(root: &str) -> Vec<ReplyKind> {
        Self::ALL
            .into_iter()
            .filter(|k| k.answers() == root)
            .collect()
    }

    fn code_pair(self) -> (u8, u8) {
        match self {
            ReplyKind::ReponseCourrier => (2, 2),
            ReplyKind::RefusPieces => (3, 3),
            ReplyKind::EnvoiPieces => (3, 4),
            ReplyKind::RejetObservations => (4, 3),
            ReplyKind::ReponseObservations => (4, 4),
        }
    }

    fn summary(self) -> &'static str {
        match self {
            ReplyKind::ReponseCourrier => "Réponse au courrier simple",
            ReplyKind::RefusPieces => "Refus de transmettre les pièces complémentaires",
            ReplyKind::EnvoiPieces => "Envoi des pièces complémentaires",
            ReplyKind::RejetObservations => "Rejet de la lettre d'observations",
            ReplyKind::ReponseObservations => "Réponse à la lettre d'observations",
        }
    }
}

/// A document joined to an answer, as received.
pub struct InFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::App(AppError::invalid(field, message))
}

fn refusal(field: &str, r: Refusal) -> StoreError {
    match r {
        Refusal::Invalid(m) => invalid(field, m),
        Refusal::Store(e) => e,
    }
}

/// Checks a PDF: a readable, unencrypted PDF, not too large.
pub fn check_pdf(file: &InFile) -> Result<(), String> {
    if file.bytes.len() > MAX_FILE {
        return Err(format!("« {} » dépasse 50 Mo.", file.name));
    }
    // The same rule as the pieces of an acte.
    crate::actes::check_pdf(&file.name, &file.bytes)
}

/// The base of the later messages of an acte: its IDActe's parts with `code`.
fn base_of(acte: &Acte, code: (u8, u8)) -> Result<TransactionBase, Refusal> {
    let id = id_of(acte)?;
    let date = id.date;
    Ok(TransactionBase::new(
        &id.departement,
        &id.siren,
        date,
        &id.numero,
        id.nature,
        code,
    ))
}

/// The préfecture letter `message_id` of the acte, and the acte; 404 otherwise.
async fn letter_of(
    p: &Platform,
    org: OrgId,
    acte_id: &str,
    message_id: &str,
) -> StoreResult<(Acte, data::Message)> {
    let mut conn = p.db.read().await?;
    let acte = data::acte(&mut conn, org, acte_id)
        .await?
        .ok_or(StoreError::App(AppError::NotFound))?;
    let m = data::message(&mut conn, Some(org), message_id)
        .await?
        .filter(|m| m.acte_id.as_deref() == Some(acte_id) && m.incoming())
        .ok_or(StoreError::App(AppError::NotFound))?;
    Ok((acte, m))
}

/// The CourrierPref of a letter: the acte's IDActe and the letter's date.
fn courrier_of(acte: &Acte, letter: &data::Message) -> Result<CourrierPref, Refusal> {
    let id_acte = id_of(acte)?.to_string();
    let date_courrier_pref = letter
        .message_date
        .as_deref()
        .and_then(|d| d.parse::<Date>().ok())
        .ok_or_else(|| Refusal::Invalid("Ce message de la préfecture n'a pas de date de courrier : il ne peut pas recevoir de réponse.".into()))?;
    Ok(CourrierPref {
        id_acte,
        date_courrier_pref,
    })
}

/// Answers the préfecture letter `message_id` about the acte `acte_id` with `files` (PDF).
/// Checked, built, packed and queued; the letter is `repondu` at once (back to
/// `reponse_attendue` if the préfecture refuses the answer). Returns the answer's id.
pub async fn answer(
    p: &Platform,
    org: OrgId,
    acte_id: &str,
    message_id: &str,
    kind: ReplyKind,
    files: Vec<InFile>,
    who: &Person<'_>,
) -> StoreResult<String> {
    if !connector::configured(p) {
        return Err(not_configured().into());
    }
    let (acte, letter) = letter_of(p, org, acte_id, message_id).await?;
    if kind.answers() != letter.root {
        return Err(invalid(
            "reponse",
            format!(
                "« {} » ne répond pas à ce message de la préfecture.",
                kind.label()
            ),
        ));
    }
    let open = match letter.state() {
        Some(MessageState::ReponseAttendue) => true,
        // A courrier simple expects nothing, but may be answered once.
        Some(MessageState::Recu) => letter.root == "CourrierSimple",
        _ => false,
    };
    if !open {
        return Err(StoreError::App(AppError::Conflict(
            "Ce message de la préfecture a déjà reçu une réponse.".into(),
        )));
    }
    if files.is_empty() {
        return Err(invalid("documents", "Joignez votre réponse en PDF."));
    }
    if files.len() > MAX_FILES {
        return Err(invalid(
            "documents",
            format!("Joignez au plus {MAX_FILES} documents."),
        ));
    }
    if kind != ReplyKind::EnvoiPieces && files.len() > 1 {
        return Err(invalid(
            "documents",
            "Cette réponse comporte un seul document PDF : réunissez vos pages en un seul fichier.",
        ));
    }
    for f in &files {
        check_pdf(f).map_err(|m| invalid("documents", m))?;
    }
    let courrier = courrier_of(&acte, &letter).map_err(|r| refusal("reponse", r))?;
    let base = base_of(&acte, kind.code_pair()).map_err(|r| refusal("reponse", r))?;
    let parts: Vec<Part> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| Part {
            name: base.piece_name(None, u32::try_from(i + 1).unwrap_or(u32::MAX), "pdf"),
            bytes: f.bytes,
        })
        .collect();
    let names: Vec<String> = parts.iter().map(|p| p.name.clone()).collect();
    let first = names.first().cloned().unwrap_or_default();
    let message = match kind {
        ReplyKind::ReponseCourrier => Message::ReponseCourrierSimple {
            courrier,
            document: first,
        },
        ReplyKind::RefusPieces => Message::RefusPieceComplementaire {
            courrier,
            document: first,
        },
        ReplyKind::EnvoiPieces => Message::PieceComplementaire {
            courrier,
            documents: names,
        },
        ReplyKind::RejetObservations => Message::RejetLettreObservations {
            courrier,
            document: first,
        },
        ReplyKind::ReponseObservations => Message::ReponseLettreObservations {
            courrier,
            document: first,
        },
    };
    let out = Outgoing {
        acte_id: Some(acte.id.clone()),
        message,
        file_name: base.message_name(),
        parts,
        summary: kind.summary().to_owned(),
        reply_to: Some(letter.id.clone()),
    };
    let sender = {
        let mut conn = p.db.read().await?;
        outgoing::sender(&mut conn, p, org, Some(who.id))
            .await
            .map_err(|r| refusal("reponse", r))?
    };
    let packed = outgoing::prepare(p, &sender, vec![out])
        .await
        .map_err(|r| refusal("reponse", r))?;
    let now = p.clock.now();
    let answer_id = packed
        .messages
        .first()
        .map(|m| m.id.clone())
        .unwrap_or_default();
    let result =
        p.db.atomically(async |tx| {
            if !data::message_move(
                tx,
                &letter.id,
                &[MessageState::ReponseAttendue, MessageState::Recu],
                MessageState::Repondu,
            )
            .await?
            {
                return Err(StoreError::App(AppError::Conflict(
                    "Ce message de la préfecture vient de recevoir une réponse.".into(),
                )));
            }
            outgoing::record(tx, now, &packed, true).await?;
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "reponse",
                    label: format!(
                        "{} préparée par {}, en cours d'envoi",
                        kind.summary(),
                        who.name
                    ),
                    user: Some(who.id),
                    message_id: Some(&answer_id),
                },
            )
            .await?;
            audit::append(
                tx,
                now,
                NewEvent::new(
                    Some(org),
                    &who.actor(),
                    "actes.message.answered",
                    "acte",
                    &acte.id,
                )
                .details(json!({ "code": kind.code(), "enveloppe": packed.envelope_name })),
            )
            .await?;
            Ok(())
        })
        .await;
    settle(p, &packed.envelope_id, result).await?;
    Ok(answer_id)
}

/// After recording a prepared envelope: workers woken, or the envelope given up.
async fn settle(p: &Platform, envelope_id: &str, result: StoreResult<()>) -> StoreResult<()> {
    match result {
        Ok(()) => {
            p.wake_workers();
            Ok(())
        }
        Err(e) => {
            let now = p.clock.now();
            let _ =
                p.db.atomically(async |tx| {
                    data::envelope_move(
                        tx,
                        now,
                        envelope_id,
                        envelope_state::PREPARATION,
                        envelope_state::ERREUR,
                        Some("abandonnée"),
                    )
                    .await
                })
                .await;
            Err(e)
        }
    }
}

/// Withdraws an acquitted acte (6-1): `annulation_demandee` until the ARAnnulation (6-2).
pub async fn annul(p: &Platform, org: OrgId, acte_id: &str, who: &Person<'_>) -> StoreResult<()> {
    if !connector::configured(p) {
        return Err(not_configured().into());
    }
    let acte = {
        let mut conn = p.db.read().await?;
        data::acte(&mut conn, org, acte_id)
            .await?
            .ok_or(StoreError::App(AppError::NotFound))?
    };
    match acte.status() {
        Some(Status::Acquitte) => {}
        Some(Status::AnnulationDemandee) => {
            return Err(StoreError::App(AppError::Conflict(
                "L'annulation de cet acte est déjà demandée.".into(),
            )));
        }
        Some(Status::Annule) => {
            return Err(StoreError::App(AppError::Conflict(
                "Cet acte est déjà annulé.".into(),
            )));
        }
        _ => {
            return Err(StoreError::App(AppError::Conflict(
                "L'annulation n'est possible qu'après l'accusé de réception de la préfecture."
                    .into(),
            )));
        }
    }
    let id = id_of(&acte)
        .map_err(|r| refusal("annulation", r))?
        .to_string();
    let base = base_of(&acte, (6, 1)).map_err(|r| refusal("annulation", r))?;
    let out = Outgoing {
        acte_id: Some(acte.id.clone()),
        message: Message::Annulation { id_acte: id },
        file_name: base.message_name(),
        parts: Vec::new(),
        summary: "Demande d'annulation de l'acte".into(),
        reply_to: None,
    };
    let sender = {
        let mut conn = p.db.read().await?;
        outgoing::sender(&mut conn, p, org, Some(who.id))
            .await
            .map_err(|r| refusal("annulation", r))?
    };
    let packed = outgoing::prepare(p, &sender, vec![out])
        .await
        .map_err(|r| refusal("annulation", r))?;
    let now = p.clock.now();
    let result =
        p.db.atomically(async |tx| {
            if !data::change_status(
                tx,
                now,
                &acte.id,
                StatusChange::new(Status::AnnulationDemandee, &[Status::Acquitte]),
            )
            .await?
            {
                return Err(StoreError::App(AppError::Conflict(
                    "L'acte vient de changer : rechargez la page.".into(),
                )));
            }
            outgoing::record(tx, now, &packed, true).await?;
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "annulation_demandee",
                    label: format!("Annulation demandée par {}", who.name),
                    user: Some(who.id),
                    message_id: packed.messages.first().map(|m| m.id.as_str()),
                },
            )
            .await?;
            audit::append(
                tx,
                now,
                NewEvent::new(
                    Some(org),
                    &who.actor(),
                    "actes.acte.cancellation_requested",
                    "acte",
                    &acte.id,
                )
                .details(json!({ "enveloppe": packed.envelope_name })),
            )
            .await?;
            Ok(())
        })
        .await;
    settle(p, &packed.envelope_id, result).await
}

/// Asks the préfecture for the organisation's classification (7-1), on demand. The settings
/// page may call it. Returns the request's message id.
pub async fn request_classification(
    p: &Platform,
    org: OrgId,
    who: Option<&Person<'_>>,
) -> StoreResult<String> {
    if !connector::configured(p) {
        return Err(not_configured().into());
    }
    let packed = prepare_classification(p, org, who.map(|w| w.id))
        .await
        .map_err(|r| refusal("classification", r))?;
    let now = p.clock.now();
    let id = packed
        .messages
        .first()
        .map(|m| m.id.clone())
        .unwrap_or_default();
    let actor = who.map_or_else(outgoing::system, Person::actor);
    let result =
        p.db.atomically(async |tx| {
            outgoing::record(tx, now, &packed, true).await?;
            audit::append(
                tx,
                now,
                NewEvent::new(
                    Some(org),
                    &actor,
                    "actes.classification.requested",
                    "actes_message",
                    &id,
                )
                .details(json!({ "enveloppe": packed.envelope_name })),
            )
            .await?;
            Ok(())
        })
        .await;
    settle(p, &packed.envelope_id, result).await?;
    Ok(id)
}

async fn prepare_classification(
    p: &Platform,
    org: OrgId,
    who: Option<UserId>,
) -> Result<outgoing::Packed, Refusal> {
    let sender = {
        let mut conn = p.db.read().await?;
        outgoing::sender(&mut conn, p, org, who).await?
    };
    let base = TransactionBase::classification(&sender.departement, &sender.org_row.siren);
    let held = sender
        .classification_date
        .as_deref()
        .and_then(|d| d.parse::<Date>().ok());
    let out = Outgoing {
        acte_id: None,
        message: Message::DemandeClassification {
            date_classification: held,
        },
        file_name: base.message_name(),
        parts: Vec::new(),
        summary: "Demande de la classification".into(),
        reply_to: None,
    };
    outgoing::prepare(p, &sender, vec![out]).await
}

/// The job that asks for the classification on its own (an ARActe or an AnomalieActe showed
/// a newer one): `{"org_id"}`. Does nothing while a request is pending.
pub const AUTO_CLASSIFICATION: &str = "actes.classification";

pub struct AutoClassification;

#[async_trait]
impl JobHandler for AutoClassification {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let org: OrgId = job.payload()["org_id"]
            .as_str()
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| JobError::Permanent("organisation manquante".into()))?;
        let last = job.attempts >= job.max_attempts;
        let pending = {
            let mut conn = p.db.read().await?;
            pending_out(&mut conn, org, None, "7-1").await?
        };
        let envelope_id = match pending {
            Some(m) if m.state == MessageState::AEnvoyer.code() => m.envelope_id,
            Some(_) => return Ok(()),
            None => {
                let packed = match prepare_classification(p, org, None).await {
                    Ok(packed) => packed,
                    Err(Refusal::Invalid(why)) => {
                        tracing::warn!(org = %org, reason = %why, "automatic classification request not possible");
                        return Ok(());
                    }
                    Err(Refusal::Store(e)) => return Err(e.into()),
                };
                let now = p.clock.now();
                let id = packed
                    .messages
                    .first()
                    .map(|m| m.id.clone())
                    .unwrap_or_default();
                let result =
                    p.db.atomically(async |tx| {
                        outgoing::record(tx, now, &packed, false).await?;
                        audit::append(
                            tx,
                            now,
                            NewEvent::new(
                                Some(org),
                                &outgoing::system(),
                                "actes.classification.requested",
                                "actes_message",
                                &id,
                            )
                            .details(
                                json!({ "automatique": true, "enveloppe": packed.envelope_name }),
                            ),
                        )
                        .await?;
                        Ok(())
                    })
                    .await;
                settle(p, &packed.envelope_id, result).await?;
                Some(packed.envelope_id)
            }
        };
        if let Some(e) = envelope_id {
            outgoing::deliver(p, &e, last).await?;
        }
        Ok(())
    }
}

/// The last outgoing message `code` (of `reply_to` when given; for 7-1, one still pending:
/// not answered by a classification received since) that is not in error.
async fn pending_out(
    h: &mut impl bouquet_store::Handle,
    org: OrgId,
    reply_to: Option<&str>,
    code: &str,
) -> StoreResult<Option<data::Message>> {
    let candidates = match reply_to {
        Some(r) => data::replies_to(h, r).await?,
        None => {
            if !data::classification_pending(h, org).await? {
                return Ok(None);
            }
            data::messages_of_org(h, Some(org), false, 50).await?
        }
    };
    Ok(candidates
        .into_iter()
        .filter(|m| !m.incoming() && m.code == code && m.state != MessageState::Erreur.code())
        .max_by_key(|m| m.created_at))
}

/// Queues the automatic classification request of `org`.
pub async fn queue_classification(
    tx: &mut bouquet_store::Tx,
    now: jiff::Timestamp,
    org: OrgId,
) -> StoreResult<()> {
    if data::classification_pending(tx, org).await? {
        return Ok(());
    }
    jobs::enqueue(
        tx,
        now,
        NewJob::new(AUTO_CLASSIFICATION, json!({ "org_id": org.to_string() }))
            .for_org(org)
            .max_attempts(SEND_ATTEMPTS),
    )
    .await?;
    Ok(())
}

/// The job that sends the automatic accusé de réception (3-2, 4-2) of a demande de pièces or
/// a lettre d'observations: `{"message_id", "org_id"}`.
pub const AUTO_AR: &str = "actes.accuse";

pub struct AutoAr;

#[async_trait]
impl JobHandler for AutoAr {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let payload = job.payload();
        let message_id = payload["message_id"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("message manquant".into()))?
            .to_owned();
        let org: OrgId = payload["org_id"]
            .as_str()
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| JobError::Permanent("organisation manquante".into()))?;
        let last = job.attempts >= job.max_attempts;
        let (letter, acte) = {
            let mut conn = p.db.read().await?;
            let Some(letter) = data::message(&mut conn, Some(org), &message_id).await? else {
                return Ok(());
            };
            let Some(acte_id) = letter.acte_id.clone() else {
                return Ok(());
            };
            let Some(acte) = data::acte(&mut conn, org, &acte_id).await? else {
                return Ok(());
            };
            (letter, acte)
        };
        let (code, pair) = match letter.root.as_str() {
            "DemandePieceComplementaire" => ("3-2", (3, 2)),
            "LettreObservations" => ("4-2", (4, 2)),
            _ => return Ok(()),
        };
        let existing = {
            let mut conn = p.db.read().await?;
            pending_out(&mut conn, org, Some(&letter.id), code).await?
        };
        let envelope_id = match existing {
            Some(m) if m.state == MessageState::AEnvoyer.code() => m.envelope_id,
            Some(_) => return Ok(()),
            None => {
                let built = async {
                    let courrier = courrier_of(&acte, &letter)?;
                    let base = base_of(&acte, pair)?;
                    let message = match pair {
                        (3, 2) => Message::ARDemandePieceComplementaire { courrier },
                        _ => Message::ARLettreObservations { courrier },
                    };
                    let sender = {
                        let mut conn = p.db.read().await?;
                        outgoing::sender(&mut conn, p, org, acte.created_by.parse().ok()).await?
                    };
                    outgoing::prepare(
                        p,
                        &sender,
                        vec![Outgoing {
                            acte_id: Some(acte.id.clone()),
                            message,
                            file_name: base.message_name(),
                            parts: Vec::new(),
                            summary: "Accusé de réception automatique".into(),
                            reply_to: Some(letter.id.clone()),
                        }],
                    )
                    .await
                }
                .await;
                let packed = match built {
                    Ok(packed) => packed,
                    Err(Refusal::Invalid(why)) => {
                        // Not sent, and said so: on the timeline and to the people of the acte.
                        tracing::warn!(message = %letter.id, reason = %why, "automatic AR not possible");
                        let now = p.clock.now();
                        p.db.atomically(async |tx| {
                            events::record(
                                tx,
                                now,
                                &acte.id,
                                TimelineEvent {
                                    kind: "message_erreur",
                                    label: format!(
                                        "Accusé de réception automatique non envoyé à la préfecture : {why}"
                                    ),
                                    user: None,
                                    message_id: Some(&letter.id),
                                },
                            )
                            .await?;
                            outgoing::tell_about_acte(
                                tx,
                                p,
                                now,
                                org,
                                &acte.id,
                                "Accusé de réception non envoyé à la préfecture",
                                &format!(
                                    "Bouquet n'a pas pu accuser réception du courrier de la préfecture sur l'acte « {{titre}} » :\n\n{why}\n\nLe courrier est sur la page de suivi de l'acte ; vous pouvez toujours y répondre."
                                ),
                            )
                            .await
                        })
                        .await?;
                        return Ok(());
                    }
                    Err(Refusal::Store(e)) => return Err(e.into()),
                };
                let now = p.clock.now();
                let result =
                    p.db.atomically(async |tx| outgoing::record(tx, now, &packed, false).await)
                        .await;
                settle(p, &packed.envelope_id, result).await?;
                Some(packed.envelope_id)
            }
        };
        if let Some(e) = envelope_id {
            outgoing::deliver(p, &e, last).await?;
        }
        Ok(())
    }
}

/// The job that deposits a prepared envelope ([`outgoing::SEND`]).
pub struct Send;

#[async_trait]
impl JobHandler for Send {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let id = job.payload()["envelope_id"]
            .as_str()
            .ok_or_else(|| JobError::Permanent("enveloppe manquante".into()))?
            .to_owned();
        outgoing::deliver(p, &id, job.attempts >= job.max_attempts).await?;
        Ok(())
    }
}
