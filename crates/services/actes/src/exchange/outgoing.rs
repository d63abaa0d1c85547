//! Everything Bouquet sends to the préfecture goes the same way: the messages are built with
//! `bouquet-format-actes` and checked against the XSD, the envelope gets the organisation's
//! next **daily serial**, the flat tar.gz is packed and stored, the envelope and message rows
//! are written (`a_envoyer`), and only then is the archive deposited. A préfecture that does
//! not answer is tried again by the job queue with the same archive (never a second serial);
//! after the last attempt the messages end `erreur` and the acte can be sent again.

use bouquet_format_actes::{
    Collectivite, EnveloppeCl, Message, Referent, check_email, naming, xsd,
};
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{OrgId, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::blobs::owner_key;
use bouquet_store::db::{Handle, Tx};
use bouquet_store::jobs::{self, NewJob};
use bouquet_store::mail::{self, Mail};
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::worker::JobError;
use bouquet_store::{Platform, StoreError, StoreResult, usage};
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::json;

use super::connector::{self, ConnectorError, Prefecture};
use super::data::{self, Envelope, StatusChange, envelope_state};
use crate::events::{self, NewEvent as TimelineEvent};
use crate::model::{MessageState, Status};

/// The job that deposits a prepared envelope: `{"envelope_id"}`.
pub const SEND: &str = "actes.envoi";

/// Attempts at depositing an archive: with the queue's backoff (10 s, 20 s… capped at an
/// hour), about three hours and a half before giving up.
pub const SEND_ATTEMPTS: i32 = 12;

/// The French reason shown when the préfecture never answered.
pub const NO_ANSWER: &str = "La préfecture ne répond pas : l'envoi a été tenté plusieurs fois pendant quelques heures, sans succès. Rien n'a été perdu : vous pouvez transmettre à nouveau.";

/// Why something could not be prepared.
#[derive(Debug)]
pub enum Refusal {
    /// The message breaks a rule of the standard or the XSD: shown as is, in French.
    Invalid(String),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

impl From<Refusal> for JobError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(m) => JobError::Permanent(m),
            Refusal::Store(e) => JobError::Retry(e.to_string()),
        }
    }
}

/// The sender as the envelope names it.
#[derive(Clone, Debug)]
pub struct Sender {
    pub org: OrgId,
    pub org_row: OrgRow,
    pub collectivite: Collectivite,
    pub departement: String,
    pub referent: Option<Referent>,
    pub retour: String,
    pub classification_date: Option<String>,
}

/// Who sends: the organisation's settings, the person (for the envelope's referent) and an
/// address @CTES accepts for its answers.
pub async fn sender(
    h: &mut impl Handle,
    p: &Platform,
    org: OrgId,
    person: Option<UserId>,
) -> Result<Sender, Refusal> {
    let org_row = orgs::get(h, org)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("organisation {org}")))?;
    let Some(settings) = crate::settings::get(h, org).await? else {
        return Err(Refusal::Invalid(
            "Les paramètres ACTES de l'organisation (préfecture, arrondissement) ne sont pas renseignés : complétez-les dans « Actes › Paramètres ».".into(),
        ));
    };
    let collectivite = settings
        .collectivite(&org_row.siren)
        .map_err(|e| Refusal::Invalid(format!("Paramètres ACTES : {e}")))?;
    let user = match person {
        Some(u) => bouquet_store::accounts::get_user(h, u).await?,
        None => None,
    };
    // The answers of @CTES go to an address it accepts: the person's, the organisation's,
    // the platform's, or any active member's.
    let mut candidates: Vec<String> = Vec::new();
    if let Some(u) = &user {
        candidates.push(u.email.clone());
    }
    if let Some(c) = &org_row.contact_email {
        candidates.push(c.clone());
    }
    if let Some(addr) = address_of(&p.settings.mail_from) {
        candidates.push(addr);
    }
    for u in bouquet_store::accounts::org_users(h, org, None, None, 50)
        .await?
        .items
    {
        if u.active {
            candidates.push(u.email);
        }
    }
    let Some(retour) = candidates.into_iter().find(|e| check_email(e).is_ok()) else {
        return Err(Refusal::Invalid(
            "Aucune adresse électronique de l'organisation n'est acceptée par @CTES (par exemple une adresse en .localhost) : renseignez une adresse de contact de l'organisation.".into(),
        ));
    };
    let referent = user.map(|u| Referent {
        nom: Some(bouquet_format_actes::transliterate(&u.display_name)),
        telephone: None,
        email: check_email(&u.email).is_ok().then_some(u.email),
    });
    Ok(Sender {
        org,
        org_row,
        departement: settings.departement,
        collectivite,
        referent,
        retour,
        classification_date: settings.classification_date,
    })
}

/// "Nom <a@b.fr>" → "a@b.fr"; "a@b.fr" → itself.
fn address_of(mailbox: &str) -> Option<String> {
    let inner = match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => &mailbox[a + 1..b],
        _ => mailbox,
    };
    let inner = inner.trim();
    inner.contains('@').then(|| inner.to_owned())
}

/// A file carried with a message.
#[derive(Clone, Debug)]
pub struct Part {
    /// Its name in the archive, as the standard says.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A message to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub acte_id: Option<String>,
    pub message: Message,
    /// `{base}_0.xml`.
    pub file_name: String,
    /// The files the message names, in order.
    pub parts: Vec<Part>,
    /// One French line for lists and the timeline.
    pub summary: String,
    /// The incoming message it answers.
    pub reply_to: Option<String>,
}

impl Outgoing {
    /// `"2-2"`… from the message.
    pub fn code(&self) -> String {
        self.message
            .code()
            .map_or_else(|| "?".to_owned(), |(a, b)| format!("{a}-{b}"))
    }
}

/// What [`prepare`] made: the envelope (its serial taken, its archive stored) and its
/// messages, to be recorded by [`record`] in the caller's transaction.
#[derive(Debug)]
pub struct Packed {
    pub envelope_id: String,
    pub envelope_name: String,
    pub archive_name: String,
    pub archive_sha256: String,
    pub serial: u32,
    pub messages: Vec<PackedMessage>,
    org: OrgId,
}

#[derive(Debug)]
pub struct PackedMessage {
    pub id: String,
    pub acte_id: Option<String>,
    pub code: String,
    pub root: String,
    pub file_name: String,
    pub xml_sha256: String,
    pub summary: String,
    pub reply_to: Option<String>,
    /// (name, sha256, size)
    pub parts: Vec<(String, String, i64)>,
}

/// Builds and checks one message: the French reason when the format or the XSD refuses it.
pub fn build_checked(message: &Message) -> Result<Vec<u8>, String> {
    let xml = message.to_xml().map_err(|e| e.to_string())?;
    xsd::validate(&xml).map_err(|errors| {
        format!(
            "Le message « {} » n'est pas conforme au schéma @CTES : {}",
            message.root(),
            errors.join(" ; ")
        )
    })?;
    Ok(xml)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Refusal::Store(StoreError::Corrupt(e.to_string())))
}

/// Builds every message and the envelope, checks each against the XSD, takes the serial of
/// the day, packs and stores the archive (and each XML and file, for the pages). Nothing is
/// recorded as sent yet: [`record`] does it in the caller's transaction.
pub async fn prepare(
    p: &Platform,
    sender: &Sender,
    messages: Vec<Outgoing>,
) -> Result<Packed, Refusal> {
    let now = p.clock.now();
    let org = sender.org;
    // 1. Build and check (before any serial is taken: a refused message costs nothing).
    let envelope = Message::EnveloppeCLMISILL(EnveloppeCl {
        collectivite: sender.collectivite.clone(),
        referent: sender.referent.clone(),
        adresses_retour: vec![sender.retour.clone()],
        formulaires: messages.iter().map(|m| m.file_name.clone()).collect(),
    });
    let to_build: Vec<Message> = std::iter::once(envelope)
        .chain(messages.iter().map(|m| m.message.clone()))
        .collect();
    let built = blocking(move || {
        to_build
            .iter()
            .map(build_checked)
            .collect::<Result<Vec<Vec<u8>>, String>>()
    })
    .await?
    .map_err(Refusal::Invalid)?;
    let (envelope_xml, message_xml) = built
        .split_first()
        .ok_or_else(|| Refusal::Invalid("Aucun message à envoyer.".into()))?;

    // 2. The serial of the day, in the organisation's time zone.
    let today = now.to_zoned_datetime(sender.org_row.tz()).date();
    let day = bouquet_format_actes::rules::compact_date(today);
    let envelope_id = new_id().to_string();
    let siren = sender.org_row.siren.clone();
    let (serial, envelope_name, archive_name) = {
        let siren = siren.clone();
        p.db.atomically(async |tx| {
            data::allocate_envelope(tx, now, &envelope_id, org, &day, |n| {
                (
                    naming::enveloppe_name(&siren, today, n),
                    naming::archive_name(naming::TRIGRAMME, &siren, today, n),
                )
            })
            .await
        })
        .await?
    };

    // 3. Pack and store. A failure here leaves the envelope `erreur` (its serial unused).
    let result = pack_and_store(
        p,
        org,
        &envelope_name,
        envelope_xml.clone(),
        message_xml.to_vec(),
        messages,
    )
    .await;
    match result {
        Ok((archive_sha256, packed_messages)) => Ok(Packed {
            envelope_id,
            envelope_name,
            archive_name,
            archive_sha256,
            serial,
            messages: packed_messages,
            org,
        }),
        Err(e) => {
            let why = match &e {
                Refusal::Invalid(m) => m.clone(),
                Refusal::Store(s) => s.to_string(),
            };
            let _ =
                p.db.atomically(async |tx| {
                    data::envelope_move(
                        tx,
                        now,
                        &envelope_id,
                        envelope_state::PREPARATION,
                        envelope_state::ERREUR,
                        Some(&why),
                    )
                    .await
                })
                .await;
            Err(e)
        }
    }
}

async fn pack_and_store(
    p: &Platform,
    org: OrgId,
    envelope_name: &str,
    envelope_xml: Vec<u8>,
    message_xml: Vec<Vec<u8>>,
    messages: Vec<Outgoing>,
) -> Result<(String, Vec<PackedMessage>), Refusal> {
    let mut files: Vec<(String, Vec<u8>)> = vec![(envelope_name.to_owned(), envelope_xml)];
    for (m, xml) in messages.iter().zip(&message_xml) {
        files.push((m.file_name.clone(), xml.clone()));
        for part in &m.parts {
            files.push((part.name.clone(), part.bytes.clone()));
        }
    }
    let archive = blocking(move || bouquet_format_actes::archive::pack(&files))
        .await?
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    let owner = owner_key(Some(org));
    let archive_ref = p.blobs.put_bytes(&owner, Bytes::from(archive)).await?;
    let mut out = Vec::new();
    for (m, xml) in messages.into_iter().zip(message_xml) {
        let code = m.code();
        let root = m.message.root().to_owned();
        let xml_ref = p.blobs.put_bytes(&owner, Bytes::from(xml)).await?;
        let mut parts = Vec::new();
        for part in m.parts {
            let size = i64::try_from(part.bytes.len()).unwrap_or(i64::MAX);
            let r = p.blobs.put_bytes(&owner, Bytes::from(part.bytes)).await?;
            parts.push((part.name, r.sha256, size));
        }
        out.push(PackedMessage {
            id: new_id().to_string(),
            acte_id: m.acte_id,
            code,
            root,
            file_name: m.file_name,
            xml_sha256: xml_ref.sha256,
            summary: m.summary,
            reply_to: m.reply_to,
            parts,
        });
    }
    Ok((archive_ref.sha256, out))
}

/// Records a packed envelope and its messages (`a_envoyer`), in the caller's transaction;
/// `enqueue`: also queue the job that deposits it.
pub async fn record(
    tx: &mut Tx,
    now: Timestamp,
    packed: &Packed,
    enqueue: bool,
) -> StoreResult<()> {
    data::envelope_ready(tx, &packed.envelope_id, &packed.archive_sha256).await?;
    for m in &packed.messages {
        data::insert_message(
            tx,
            now,
            &data::NewMessage {
                id: &m.id,
                org: Some(packed.org),
                acte_id: m.acte_id.as_deref(),
                incoming: false,
                code: &m.code,
                root: &m.root,
                state: MessageState::AEnvoyer,
                file_name: &m.file_name,
                xml_sha256: &m.xml_sha256,
                archive_sha256: Some(&packed.archive_sha256),
                summary: &m.summary,
                detail: None,
                message_date: None,
                reply_to: m.reply_to.as_deref(),
                envelope_id: Some(&packed.envelope_id),
                flagged: false,
            },
        )
        .await?;
        for (i, (name, sha, size)) in m.parts.iter().enumerate() {
            data::insert_message_file(tx, &m.id, i as i64 + 1, name, sha, *size).await?;
        }
    }
    if enqueue {
        jobs::enqueue(
            tx,
            now,
            NewJob::new(SEND, json!({ "envelope_id": packed.envelope_id }))
                .for_org(packed.org)
                .max_attempts(SEND_ATTEMPTS),
        )
        .await?;
    }
    Ok(())
}

/// What a deposit came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The envelope was not waiting (already sent, refused, or unknown).
    Nothing,
    Accepted,
    Refused,
}

/// The actor the journal names for what the exchange does on its own.
pub fn system() -> AuditActor {
    AuditActor {
        user_id: None,
        label: "Bouquet (télétransmission)".into(),
    }
}

/// Deposits the envelope `id` if it waits. `last_attempt`: a préfecture that does not answer
/// now ends it in `erreur` instead of asking for another try.
pub async fn deliver(p: &Platform, id: &str, last_attempt: bool) -> Result<Delivery, JobError> {
    let envelope = {
        let mut conn = p.db.read().await?;
        data::envelope(&mut conn, id).await?
    };
    let Some(envelope) = envelope else {
        return Ok(Delivery::Nothing);
    };
    if envelope.state != envelope_state::A_ENVOYER {
        return Ok(Delivery::Nothing);
    }
    let outcome = match connector::of(p) {
        None => Err(ConnectorError::Unavailable(
            "aucune préfecture n'est configurée".into(),
        )),
        Some(prefecture) => {
            let archive = p
                .blobs
                .read_all(&owner_key(Some(envelope.org()?)), &envelope.archive_sha256)
                .await?;
            prefecture.deposit(&envelope.archive_name, archive).await
        }
    };
    match outcome {
        Ok(()) => {
            accepted(p, &envelope).await?;
            Ok(Delivery::Accepted)
        }
        Err(ConnectorError::Refused(text)) => {
            let reason = format!("La préfecture a refusé l'envoi : {text}");
            refused(p, &envelope, &reason, envelope_state::REFUSE).await?;
            Ok(Delivery::Refused)
        }
        Err(e) if last_attempt => {
            tracing::warn!(envelope = %envelope.id, error = %e, "préfecture: last attempt failed");
            refused(p, &envelope, NO_ANSWER, envelope_state::ERREUR).await?;
            Ok(Delivery::Refused)
        }
        Err(e) => {
            let message = e.to_string();
            p.db.atomically(async |tx| data::envelope_attempt(tx, &envelope.id, &message).await)
                .await?;
            Err(JobError::Retry(message))
        }
    }
}

/// The organisation's time zone (Europe/Paris when it is unknown).
pub(crate) async fn org_tz(h: &mut impl Handle, org: OrgId) -> StoreResult<jiff::tz::TimeZone> {
    Ok(orgs::get(h, org).await?.map_or_else(
        || bouquet_kernel::clock::time_zone("Europe/Paris"),
        |o| o.tz(),
    ))
}

/// The préfecture accepted the archive: each message says what follows.
async fn accepted(p: &Platform, envelope: &Envelope) -> StoreResult<()> {
    let now = p.clock.now();
    let org = envelope.org()?;
    p.db.atomically(async |tx| {
        if !data::envelope_move(
            tx,
            now,
            &envelope.id,
            envelope_state::A_ENVOYER,
            envelope_state::ENVOYE,
            None,
        )
        .await?
        {
            return Ok(());
        }
        let tz = org_tz(tx, org).await?;
        let actor = system();
        for m in data::messages_of_envelope(tx, &envelope.id).await? {
            data::message_move(tx, &m.id, &[MessageState::AEnvoyer], MessageState::Envoye)
                .await?;
            let Some(acte_id) = m.acte_id.as_deref() else {
                audit::append(
                    tx,
                    now,
                    NewEvent::new(Some(org), &actor, "actes.message.sent", "actes_message", &m.id)
                        .details(json!({ "code": m.code, "enveloppe": envelope.name })),
                )
                .await?;
                continue;
            };
            match m.code.as_str() {
                "1-1" => {
                    let mut change = StatusChange::new(Status::Transmis, &[Status::ATransmettre]);
                    change.sent_at = Some(to_micros(now));
                    change.error = Some(None);
                    if data::change_status(tx, now, acte_id, change).await? {
                        events::record(
                            tx,
                            now,
                            acte_id,
                            TimelineEvent {
                                kind: "transmis",
                                label: format!(
                                    "Transmis à la préfecture (enveloppe {}), en attente de l'accusé de réception",
                                    envelope.name
                                ),
                                user: None,
                                message_id: Some(&m.id),
                            },
                        )
                        .await?;
                        let requester = super::transmit::requested_by(tx, acte_id).await?;
                        usage::record(tx, now, org, &tz, UsageKind::ActeTransmis, requester)
                            .await?;
                        audit::append(
                            tx,
                            now,
                            NewEvent::new(Some(org), &actor, "actes.acte.transmitted", "acte", acte_id)
                                .details(json!({ "enveloppe": envelope.name, "archive": envelope.archive_name })),
                        )
                        .await?;
                    }
                }
                code => {
                    let label = match code {
                        "6-1" => "Demande d'annulation transmise à la préfecture".to_owned(),
                        "3-2" | "4-2" => {
                            "Accusé de réception envoyé automatiquement à la préfecture".to_owned()
                        }
                        _ => format!("Transmis à la préfecture : {}", m.summary),
                    };
                    events::record(
                        tx,
                        now,
                        acte_id,
                        TimelineEvent {
                            kind: "message_envoye",
                            label,
                            user: None,
                            message_id: Some(&m.id),
                        },
                    )
                    .await?;
                    if matches!(code, "2-2" | "3-3" | "3-4" | "4-3" | "4-4") {
                        usage::record(tx, now, org, &tz, UsageKind::ActeReponse, None).await?;
                    }
                    audit::append(
                        tx,
                        now,
                        NewEvent::new(Some(org), &actor, "actes.message.sent", "acte", acte_id)
                            .details(json!({ "code": code, "enveloppe": envelope.name })),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    })
    .await
}

/// The envelope was refused (at the door, or never answered): its messages end `erreur`,
/// each acte or answer goes back to where it can be done again.
pub async fn refused(
    p: &Platform,
    envelope: &Envelope,
    reason: &str,
    state: &str,
) -> StoreResult<()> {
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        if !data::envelope_move(
            tx,
            now,
            &envelope.id,
            envelope_state::A_ENVOYER,
            state,
            Some(reason),
        )
        .await?
        {
            return Ok(());
        }
        undo_envelope(tx, p, now, envelope, reason).await
    })
    .await
}

/// Puts back what an envelope that will never be processed carried: the actes in `erreur`
/// (with `reason`), the answers to be made again, the annulation undone. Also used when an
/// AnomalieEnveloppe refuses an envelope that was accepted at the door.
pub async fn undo_envelope(
    tx: &mut Tx,
    p: &Platform,
    now: Timestamp,
    envelope: &Envelope,
    reason: &str,
) -> StoreResult<()> {
    let org = envelope.org()?;
    let actor = system();
    for m in data::messages_of_envelope(tx, &envelope.id).await? {
        data::message_move(
            tx,
            &m.id,
            &[MessageState::AEnvoyer, MessageState::Envoye],
            MessageState::Erreur,
        )
        .await?;
        if let Some(answered) = &m.reply_to
            && !matches!(m.code.as_str(), "3-2" | "4-2")
        {
            data::message_move(
                tx,
                answered,
                &[MessageState::Repondu],
                MessageState::ReponseAttendue,
            )
            .await?;
        }
        let Some(acte_id) = m.acte_id.as_deref() else {
            audit::append(
                tx,
                now,
                NewEvent::new(
                    Some(org),
                    &actor,
                    "actes.message.refused",
                    "actes_message",
                    &m.id,
                )
                .details(json!({ "code": m.code, "motif": reason })),
            )
            .await?;
            continue;
        };
        match m.code.as_str() {
            "1-1" => {
                let mut change =
                    StatusChange::new(Status::Erreur, &[Status::ATransmettre, Status::Transmis]);
                change.error = Some(Some(reason));
                if data::change_status(tx, now, acte_id, change).await? {
                    events::record(
                        tx,
                        now,
                        acte_id,
                        TimelineEvent {
                            kind: "erreur",
                            label: format!("Transmission en erreur : {reason}"),
                            user: None,
                            message_id: Some(&m.id),
                        },
                    )
                    .await?;
                    audit::append(
                        tx,
                        now,
                        NewEvent::new(
                            Some(org),
                            &actor,
                            "actes.acte.transmission_failed",
                            "acte",
                            acte_id,
                        )
                        .details(json!({ "motif": reason, "enveloppe": envelope.name })),
                    )
                    .await?;
                    tell_about_acte(
                        tx,
                        p,
                        now,
                        org,
                        acte_id,
                        "La transmission d'un acte a échoué",
                        &format!("La transmission de l'acte « {{titre}} » a échoué :\n\n{reason}\n\nCorrigez l'acte si besoin, puis transmettez-le à nouveau."),
                    )
                    .await?;
                }
            }
            code => {
                if code == "6-1" {
                    data::change_status(
                        tx,
                        now,
                        acte_id,
                        StatusChange::new(Status::Acquitte, &[Status::AnnulationDemandee]),
                    )
                    .await?;
                }
                events::record(
                    tx,
                    now,
                    acte_id,
                    TimelineEvent {
                        kind: "message_erreur",
                        label: format!("Envoi refusé ({}) : {reason}", m.summary),
                        user: None,
                        message_id: Some(&m.id),
                    },
                )
                .await?;
                audit::append(
                    tx,
                    now,
                    NewEvent::new(Some(org), &actor, "actes.message.refused", "acte", acte_id)
                        .details(json!({ "code": code, "motif": reason })),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// An e-mail of the actes service: `body` between the greeting and the notice that a
/// machine sent it.
pub fn letter(body: &str) -> String {
    format!(
        "Bonjour,\n\n{body}\n\nCe message est envoyé automatiquement par le service Actes de Bouquet."
    )
}

/// E-mails the author of an acte and the référents of its organisation, in the caller's
/// transaction. `{titre}` in `subject`/`body` becomes the acte's title; the suivi page's
/// address is added.
pub async fn tell_about_acte(
    tx: &mut Tx,
    p: &Platform,
    now: Timestamp,
    org: OrgId,
    acte_id: &str,
    subject: &str,
    body: &str,
) -> StoreResult<()> {
    let Some(acte) = data::acte(tx, org, acte_id).await? else {
        return Ok(());
    };
    let Some(org_row) = orgs::get(tx, org).await? else {
        return Ok(());
    };
    let title = acte.title();
    let url = p
        .settings
        .link(&format!("/o/{}/actes/{}/suivi", org_row.siren, acte.id));
    let body = body.replace("{titre}", &title);
    for to in data::people_to_tell(tx, org, &acte.created_by).await? {
        mail::queue(
            tx,
            now,
            &Mail {
                to,
                subject: format!("{subject} : {title} ({})", org_row.name),
                text: letter(&format!("{body}\n\nSuivez l'acte : {url}")),
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bouquet_format_actes::{DonneesActe, Nature};
    use jiff::civil::date;

    fn acte(numero: &str) -> Message {
        Message::Acte(DonneesActe {
            date: date(2026, 11, 20),
            numero_interne: numero.into(),
            nature: Nature::DE,
            matieres: vec![7, 5],
            objet: "Tarifs de la cantine".into(),
            precedent_id_acte: None,
            classification_date: date(2019, 4, 18),
            document: "99_DE-035-213500051-20261120-DEL_1-DE-1-1_1.pdf".into(),
            annexes: Vec::new(),
            document_papier: Some(false),
        })
    }

    #[test]
    fn every_message_is_checked_against_the_xsd_before_anything_is_sent() {
        assert!(build_checked(&acte("DEL_1")).is_ok());
        assert!(
            build_checked(&Message::DemandeClassification {
                date_classification: Some(date(2019, 4, 18))
            })
            .is_ok()
        );
        // Refused with a French reason, before any serial is taken.
        let why = build_checked(&acte("del 1")).unwrap_err();
        assert!(why.contains("numéro"), "{why}");
        // An IDActe the XSD refuses.
        let why = build_checked(&Message::Annulation {
            id_acte: "pas-un-identifiant".into(),
        })
        .unwrap_err();
        assert!(!why.is_empty());
    }

    #[test]
    fn the_platform_address_is_read_from_the_mailbox() {
        assert_eq!(
            address_of("\"Bouquet (démo)\" <ne-pas-repondre@bouquet.localhost>").as_deref(),
            Some("ne-pas-repondre@bouquet.localhost")
        );
        assert_eq!(address_of("a@b.fr").as_deref(), Some("a@b.fr"));
        assert_eq!(address_of("personne"), None);
    }
}
