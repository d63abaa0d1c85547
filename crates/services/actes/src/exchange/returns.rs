//! The préfecture's returns: fetched from the mailbox, stored, then processed.
//!
//! [`FETCH`] runs every minute. It lists the mailbox, downloads each archive, stores it (a
//! blob and an `actes_returns` row, `recu`) and only then deletes it remotely: nothing
//! acknowledged to the préfecture is ever lost. It then processes the stored returns, each
//! in its own transaction: the archive is unpacked with limits, each XML read with the
//! tolerant parser, the organisation and the acte found, every message stored
//! (`actes_messages`, direction `in`, with its documents), and the acte moved on (AR,
//! anomaly, letters, annulation, classification). A message that is unknown, outside the
//! XSD, malformed or about an unknown acte is stored, shown and **flagged**, never dropped; a
//! return no organisation can be found for is kept for the operator.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bouquet_format_actes::{
    FileName, FormatError, Limits, Message, parse_file_name, parse_message, unpack,
};
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{OrgId, Siren};
use bouquet_store::audit::{self, NewEvent};
use bouquet_store::blobs::owner_key;
use bouquet_store::db::{Handle, Tx};
use bouquet_store::jobs::{self, JobRow, NewJob};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult, orgs, outbox, usage};
use bytes::Bytes;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use super::connector::{self, ConnectorError, MAX_RETURN, Prefecture};
use super::data::{self, Acte, StatusChange, envelope_state};
use super::outgoing::{self, system};
use super::replies;
use crate::events::{self, NewEvent as TimelineEvent};
use crate::model::{MessageState, Status, TOPIC_ACQUITTE, dmy};

/// The periodic job: fetch the mailbox, then process what is stored.
pub const FETCH: &str = "actes.retours";

/// At most this many archives fetched, and processed, per run.
const PER_RUN: usize = 100;

/// The job [`FETCH`].
pub struct FetchReturns;

#[async_trait]
impl JobHandler for FetchReturns {
    async fn run(&self, p: &Platform, _job: &JobRow) -> Result<(), JobError> {
        fetch(p).await?;
        process_stored(p).await?;
        Ok(())
    }
}

/// Downloads and stores the waiting return archives, then deletes them from the mailbox.
/// Returns how many were stored. A préfecture that does not answer is tried again at the
/// next run.
pub async fn fetch(p: &Platform) -> Result<usize, JobError> {
    let Some(prefecture) = connector::of(p) else {
        return Ok(0);
    };
    let entries = match prefecture.list_returns().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "préfecture mailbox not read");
            return Ok(0);
        }
    };
    let mut stored = 0;
    for entry in entries.into_iter().take(PER_RUN) {
        let name = clean_name(&entry.name);
        let remote_id: String = entry.id.chars().take(200).collect();
        if entry.size > MAX_RETURN {
            tracing::warn!(id = %remote_id, size = entry.size, "return archive too large, left in the mailbox");
            continue;
        }
        // Always read: an id and a name seen before do not prove the same archive (a mailbox
        // that restarts its numbering gives an id again, with the same name on the same day).
        // Only the same bytes under that id and name are a return already stored (whose
        // deletion failed).
        let bytes = match prefecture.fetch_return(&entry.id).await {
            Ok(b) => b,
            Err(ConnectorError::NotFound) => continue,
            Err(e) => {
                tracing::warn!(id = %remote_id, error = %e, "return archive not fetched");
                continue;
            }
        };
        let blob = p
            .blobs
            .put_bytes(&owner_key(None), Bytes::from(bytes))
            .await?;
        let now = p.clock.now();
        let id = new_id().to_string();
        let other_id = format!(
            "{remote_id}#{}",
            blob.sha256.get(..16).unwrap_or(&blob.sha256)
        );
        let (inserted, kept) =
            p.db.atomically(async |tx| {
                if data::return_stored(tx, &[&remote_id, &other_id], &name, &blob.sha256).await? {
                    return Ok((false, true));
                }
                let inserted = data::insert_return(tx, now, &id, &remote_id, &name, &blob.sha256)
                    .await?
                    || data::insert_return(tx, now, &id, &other_id, &name, &blob.sha256).await?;
                Ok((inserted, inserted))
            })
            .await?;
        if inserted {
            stored += 1;
        }
        if !kept {
            tracing::error!(id = %remote_id, "return archive not stored, left in the mailbox");
            continue;
        }
        // Stored (now or at an earlier run): it may leave the mailbox.
        match prefecture.acknowledge_return(&entry.id).await {
            Ok(()) | Err(ConnectorError::NotFound) => {}
            Err(e) => tracing::warn!(id = %remote_id, error = %e, "return archive not deleted"),
        }
    }
    Ok(stored)
}

/// A name from the préfecture, made safe to keep and show.
fn clean_name(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    if cleaned.trim().is_empty() {
        "retour-sans-nom".to_owned()
    } else {
        cleaned
    }
}

/// Processes the stored returns, oldest first. A return whose processing fails is kept with
/// its error and a flagged message: it never blocks the others.
pub async fn process_stored(p: &Platform) -> Result<usize, JobError> {
    let pending = {
        let mut conn = p.db.read().await?;
        data::returns_to_process(&mut conn, PER_RUN as i64).await?
    };
    let mut n = 0;
    for r in pending {
        let mut outcome = process_one(p, &r).await;
        // A conflict between transactions (on PostgreSQL, another one writing the same acte's
        // timeline at that moment; a deadlock; SQLite busy) passes when tried again.
        for _ in 0..2 {
            match &outcome {
                Err(StoreError::Db(sqlx::Error::Database(_))) => {
                    outcome = process_one(p, &r).await;
                }
                _ => break,
            }
        }
        match outcome {
            Ok(()) => n += 1,
            Err(e) if try_later(&e) => {
                // The platform itself failed (database or file storage unreachable): the
                // return stays `recu`, the next run processes it.
                tracing::warn!(retour = %r.id, error = %e, "return not processed, tried again at the next run");
            }
            Err(e) => {
                tracing::error!(retour = %r.id, error = %e, "return not processed");
                let why = format!("Le traitement de ce retour a échoué : {e}");
                let org = org_from_names(p, &[r.name.as_str()]).await.ok().flatten();
                let now = p.clock.now();
                let blob = r.archive_sha256.clone();
                p.db.atomically(async |tx| {
                    if data::return_done(tx, now, &r.id, org, Some(&why)).await? {
                        flag_raw(tx, now, org, &r, &blob, &r.name, &why).await?;
                    }
                    Ok(())
                })
                .await?;
            }
        }
    }
    if n > 0 {
        p.wake_workers();
    }
    Ok(n)
}

/// An error of the platform rather than of the return: processing it later will succeed.
fn try_later(e: &StoreError) -> bool {
    match e {
        StoreError::Io(_) | StoreError::Blob(_) => true,
        StoreError::Db(db) => matches!(
            db,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed
        ),
        _ => false,
    }
}

/// A whole return that cannot be read: one flagged message holding the archive itself.
async fn flag_raw(
    tx: &mut Tx,
    now: Timestamp,
    org: Option<OrgId>,
    r: &data::Return,
    sha256: &str,
    file_name: &str,
    why: &str,
) -> StoreResult<()> {
    let id = new_id().to_string();
    data::insert_message(
        tx,
        now,
        &data::NewMessage {
            id: &id,
            org,
            acte_id: None,
            incoming: true,
            code: "?",
            root: "?",
            state: MessageState::Erreur,
            file_name,
            xml_sha256: sha256,
            archive_sha256: Some(&r.archive_sha256),
            summary: "Retour de la préfecture illisible, conservé pour examen",
            detail: Some(why),
            message_date: None,
            reply_to: None,
            envelope_id: None,
            flagged: true,
        },
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            org,
            &system(),
            "actes.message.flagged",
            "actes_message",
            &id,
        )
        .details(json!({ "retour": r.name, "motif": why })),
    )
    .await?;
    Ok(())
}

/// The organisation named by a SIREN, if it exists.
async fn org_by_siren(h: &mut impl Handle, siren: &str) -> StoreResult<Option<OrgId>> {
    let Ok(siren) = Siren::parse(siren) else {
        return Ok(None);
    };
    Ok(orgs::get_by_siren(h, &siren)
        .await?
        .and_then(|o| o.id.parse().ok()))
}

/// The SIREN a file name of the standard carries.
fn siren_of_name(name: &str) -> Option<String> {
    match parse_file_name(name).ok()? {
        FileName::Message { base, .. } | FileName::Piece { base, .. } => Some(base.siren),
        FileName::Enveloppe { siren, .. }
        | FileName::EnveloppePref { siren, .. }
        | FileName::Archive { siren, .. } => Some(siren),
        FileName::Anomalie(inner) => match *inner {
            FileName::Enveloppe { siren, .. }
            | FileName::EnveloppePref { siren, .. }
            | FileName::Archive { siren, .. } => Some(siren),
            FileName::Message { base, .. } | FileName::Piece { base, .. } => Some(base.siren),
            FileName::Anomalie(_) => None,
        },
    }
}

/// `EACT--SPREF….tar.gz` or `ANO_EACT--….tar.gz` → the same with `.xml`, so that a return
/// archive's name parses like the envelope it is named after.
fn as_xml_name(name: &str) -> String {
    match name.strip_suffix(".tar.gz") {
        Some(stem) => format!("{stem}.xml"),
        None => name.to_owned(),
    }
}

async fn org_from_names(p: &Platform, names: &[&str]) -> StoreResult<Option<OrgId>> {
    let mut conn = p.db.read().await?;
    for name in names {
        for candidate in [name.to_string(), as_xml_name(name)] {
            if let Some(siren) = siren_of_name(&candidate)
                && let Some(org) = org_by_siren(&mut conn, &siren).await?
            {
                return Ok(Some(org));
            }
        }
    }
    Ok(None)
}

/// One XML file of a return, read.
struct Read {
    name: String,
    parsed: Result<Message, FormatError>,
}

/// Processes one stored return in one transaction.
async fn process_one(p: &Platform, r: &data::Return) -> StoreResult<()> {
    let archive = p
        .blobs
        .read_all(&owner_key(None), &r.archive_sha256)
        .await?;
    let now = p.clock.now();
    let files = match tokio::task::spawn_blocking(move || unpack(&archive, Limits::default()))
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
    {
        Ok(files) => files,
        Err(e) => {
            let org = org_from_names(p, &[r.name.as_str()]).await?;
            let why = format!("Archive illisible : {e}");
            let sha = r.archive_sha256.clone();
            return p
                .db
                .atomically(async |tx| {
                    if data::return_done(tx, now, &r.id, org, Some(&why)).await? {
                        flag_raw(tx, now, org, r, &sha, &r.name, &why).await?;
                    }
                    Ok(())
                })
                .await;
        }
    };
    // Read every XML file; keep the others as documents.
    let mut reads: Vec<Read> = Vec::new();
    let mut documents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, bytes) in files {
        if name.to_ascii_lowercase().ends_with(".xml") {
            let parsed = parse_message(&bytes);
            documents.insert(name.clone(), bytes);
            reads.push(Read { name, parsed });
        } else {
            documents.insert(name, bytes);
        }
    }
    // The organisation: the envelope's destinataire, else any SIREN the return carries.
    let org = {
        let mut conn = p.db.read().await?;
        let mut org = None;
        for read in &reads {
            let siren = match &read.parsed {
                Ok(Message::EnveloppeMISILLCL(e)) => Some(e.destinataire_siren.clone()),
                Ok(Message::AnomalieEnveloppe {
                    enveloppe_recue, ..
                }) => Some(enveloppe_recue.collectivite.siren.clone()),
                _ => None,
            };
            if let Some(s) = siren
                && let Some(o) = org_by_siren(&mut conn, &s).await?
            {
                org = Some(o);
                break;
            }
        }
        drop(conn);
        match org {
            Some(o) => Some(o),
            None => {
                let mut names: Vec<&str> = reads.iter().map(|r| r.name.as_str()).collect();
                names.push(r.name.as_str());
                org_from_names(p, &names).await?
            }
        }
    };
    // Store every file the messages name (and the messages themselves) in the
    // organisation's storage (the platform's when no organisation is known).
    let owner = owner_key(org);
    let mut stored: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for (name, bytes) in &documents {
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let blob = p
            .blobs
            .put_bytes(&owner, Bytes::from(bytes.clone()))
            .await?;
        stored.insert(name.clone(), (blob.sha256, size));
    }
    let messages: Vec<&Read> = reads
        .iter()
        .filter(|r| !matches!(r.parsed, Ok(Message::EnveloppeMISILLCL(_))))
        .collect();
    let ctx = Ctx {
        p,
        now,
        org,
        ret: r,
        stored: &stored,
    };
    p.db.atomically(async |tx| {
        if !data::return_done(tx, now, &r.id, org, None).await? {
            return Ok(());
        }
        if messages.is_empty() {
            let why = "Le retour ne contient aucun message.";
            flag_raw(tx, now, org, r, &r.archive_sha256, &r.name, why).await?;
        }
        for read in messages {
            handle(tx, &ctx, read).await?;
        }
        Ok(())
    })
    .await
}

/// What every message of a return shares.
struct Ctx<'a> {
    p: &'a Platform,
    now: Timestamp,
    org: Option<OrgId>,
    ret: &'a data::Return,
    /// File name → (sha256, size), stored under the organisation.
    stored: &'a BTreeMap<String, (String, i64)>,
}

/// The préfecture's anomaly codes, in plain French; the raw text is kept beside.
pub fn explain(detail: &str) -> String {
    // The Detail often starts with the archive's name: "SLO-EACT--….tar.gz -> PREF-VERIF-02 : …".
    let text = detail.rsplit(" -> ").next().unwrap_or(detail).trim();
    if text.contains("ODT-VERIF-01") {
        return "La classification utilisée n'est plus à jour : Bouquet l'a redemandée à la préfecture. Transmettez l'acte à nouveau dès qu'elle est arrivée (les paramètres Actes montrent sa date).".into();
    }
    if text.contains("PREF-VERIF-02") {
        return "L'organisation (son SIREN) n'est pas encore enregistrée dans l'application ACTES de la préfecture : transmettez à nouveau plus tard ; si le problème persiste, contactez la préfecture.".into();
    }
    if text.contains("ODT-VERIF-17") {
        return "La préfecture ne reconnaît pas cet envoi : il n'a pas été traité. Transmettez à nouveau ; si le problème persiste, contactez votre référent.".into();
    }
    if text.is_empty() {
        return "La préfecture signale une anomalie, sans en donner le détail.".into();
    }
    format!("La préfecture signale une anomalie : {text}")
}

/// The Nature codes of AnomalieEnveloppe the XSD knows; anything else is flagged.
fn nature_in_xsd(nature: &str) -> bool {
    matches!(
        nature.trim().trim_start_matches('0'),
        "1" | "2" | "3" | "4" | "5" | "100"
    )
}

/// One message to store.
struct In<'a> {
    acte: Option<&'a Acte>,
    code: &'a str,
    root: &'a str,
    state: MessageState,
    summary: String,
    detail: Option<String>,
    date: Option<Date>,
    files: Vec<&'a str>,
    flagged: bool,
}

async fn store(tx: &mut Tx, ctx: &Ctx<'_>, read: &Read, mut m: In<'_>) -> StoreResult<String> {
    let id = new_id().to_string();
    // A document the message names but the archive lacks: the message is kept, and flagged
    // so that nobody answers a letter they could not read.
    let absent: Vec<&str> = m
        .files
        .iter()
        .copied()
        .filter(|f| !ctx.stored.contains_key(*f))
        .collect();
    if !absent.is_empty() {
        m.flagged = true;
        let note = format!(
            "Document annoncé mais absent du retour de la préfecture : {}",
            absent.join(", ")
        );
        m.detail = Some(match m.detail.take() {
            Some(d) => format!("{note}\n{d}"),
            None => note,
        });
    }
    let xml_sha = ctx
        .stored
        .get(&read.name)
        .map(|(s, _)| s.clone())
        .unwrap_or_default();
    let date = m.date.map(|d| d.to_string());
    data::insert_message(
        tx,
        ctx.now,
        &data::NewMessage {
            id: &id,
            org: ctx.org,
            acte_id: m.acte.map(|a| a.id.as_str()),
            incoming: true,
            code: m.code,
            root: m.root,
            state: m.state,
            file_name: &read.name,
            xml_sha256: &xml_sha,
            archive_sha256: Some(&ctx.ret.archive_sha256),
            summary: &m.summary,
            detail: m.detail.as_deref(),
            message_date: date.as_deref(),
            reply_to: None,
            envelope_id: None,
            flagged: m.flagged,
        },
    )
    .await?;
    let mut position = 0;
    for name in m.files {
        if let Some((sha, size)) = ctx.stored.get(name) {
            position += 1;
            data::insert_message_file(tx, &id, position, name, sha, *size).await?;
        }
    }
    let action = if m.flagged {
        "actes.message.flagged"
    } else {
        "actes.message.received"
    };
    let (object_type, object_id) = match m.acte {
        Some(a) => ("acte", a.id.clone()),
        None => ("actes_message", id.clone()),
    };
    audit::append(
        tx,
        ctx.now,
        NewEvent::new(ctx.org, &system(), action, object_type, object_id).details(json!({
            "message": id,
            "type": m.root,
            "fichier": read.name,
            "retour": ctx.ret.name,
        })),
    )
    .await?;
    if let Some(acte) = m.acte {
        events::record(
            tx,
            ctx.now,
            &acte.id,
            TimelineEvent {
                kind: if m.flagged {
                    "message_signale"
                } else {
                    "message_recu"
                },
                label: m.summary.clone(),
                user: None,
                message_id: Some(&id),
            },
        )
        .await?;
    }
    Ok(id)
}

/// Stores a message that could not be understood or placed: flagged.
async fn flag(
    tx: &mut Tx,
    ctx: &Ctx<'_>,
    read: &Read,
    acte: Option<&Acte>,
    root: &str,
    summary: String,
    detail: Option<String>,
) -> StoreResult<()> {
    let files: Vec<&str> = match &read.parsed {
        Ok(m) => m.documents(),
        Err(_) => Vec::new(),
    };
    store(
        tx,
        ctx,
        read,
        In {
            acte,
            code: "?",
            root,
            state: MessageState::Erreur,
            summary,
            detail,
            date: None,
            files,
            flagged: true,
        },
    )
    .await?;
    if let (Some(org), Some(acte)) = (ctx.org, acte) {
        outgoing::tell_about_acte(
            tx,
            ctx.p,
            ctx.now,
            org,
            &acte.id,
            "Message de la préfecture à examiner",
            "Un message de la préfecture sur l'acte « {titre} » n'a pas pu être compris : il est conservé et signalé sur la page de suivi de l'acte.",
        )
        .await?;
    }
    Ok(())
}

/// The acte a message names by its IDActe.
async fn acte_named(tx: &mut Tx, org: OrgId, id_acte: &str) -> StoreResult<Option<Acte>> {
    data::acte_by_id_acte(tx, org, id_acte).await
}

/// An acte guessed from a file name (`{dept}-{SIREN}-{date}-{numero}-…`), for a message that
/// cannot be read.
async fn acte_from_name(tx: &mut Tx, org: OrgId, name: &str) -> StoreResult<Option<Acte>> {
    match parse_file_name(name) {
        Ok(FileName::Message { base, .. } | FileName::Piece { base, .. })
            if !base.numero.is_empty() =>
        {
            data::acte_by_numero(tx, org, &base.numero).await
        }
        _ => Ok(None),
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(4000).collect()
}

/// Handles one message of a return.
async fn handle(tx: &mut Tx, ctx: &Ctx<'_>, read: &Read) -> StoreResult<()> {
    let message = match &read.parsed {
        Ok(m) => m,
        Err(e) => {
            let acte = match ctx.org {
                Some(org) => acte_from_name(tx, org, &read.name).await?,
                None => None,
            };
            return flag(
                tx,
                ctx,
                read,
                acte.as_ref(),
                "?",
                format!("Message de la préfecture illisible ({})", read.name),
                Some(e.to_string()),
            )
            .await;
        }
    };
    if let Message::Unknown { root, text } = message {
        let acte = match ctx.org {
            Some(org) => acte_from_name(tx, org, &read.name).await?,
            None => None,
        };
        return flag(
            tx,
            ctx,
            read,
            acte.as_ref(),
            root,
            format!("Message de la préfecture non reconnu : « {root} »"),
            Some(excerpt(text)),
        )
        .await;
    }
    let Some(org) = ctx.org else {
        return flag(
            tx,
            ctx,
            read,
            None,
            message.root(),
            format!(
                "{} pour une organisation inconnue de Bouquet",
                root_label(message.root())
            ),
            None,
        )
        .await;
    };
    match message {
        Message::ARActe {
            id_acte,
            date_reception,
            classification_date_en_cours,
            ..
        } => {
            ar_acte(
                tx,
                ctx,
                read,
                message,
                org,
                id_acte,
                *date_reception,
                *classification_date_en_cours,
            )
            .await
        }
        Message::AnomalieActe {
            nature,
            detail,
            acte_recu,
            classification_date_en_cours,
            date,
        } => {
            let acte = data::acte_by_numero(tx, org, &acte_recu.numero_interne).await?;
            let Some(acte) = acte else {
                return unknown_acte(tx, ctx, read, message, &acte_recu.numero_interne).await;
            };
            let raw = detail.clone().unwrap_or_default();
            let plain = explain(&raw);
            store(
                tx,
                ctx,
                read,
                In {
                    acte: Some(&acte),
                    code: "1-3",
                    root: message.root(),
                    state: MessageState::Recu,
                    summary: format!("Anomalie signalée par la préfecture : {plain}"),
                    detail: Some(format!("Nature {nature} — {raw}")),
                    date: Some(*date),
                    files: Vec::new(),
                    flagged: false,
                },
            )
            .await?;
            let mut change =
                StatusChange::new(Status::Erreur, &[Status::Transmis, Status::ATransmettre]);
            change.error = Some(Some(&plain));
            data::change_status(tx, ctx.now, &acte.id, change).await?;
            audit::append(
                tx,
                ctx.now,
                NewEvent::new(Some(org), &system(), "actes.acte.anomaly", "acte", &acte.id)
                    .details(json!({ "nature": nature, "detail": raw })),
            )
            .await?;
            outgoing::tell_about_acte(
                tx,
                ctx.p,
                ctx.now,
                org,
                &acte.id,
                "Anomalie signalée par la préfecture",
                &format!("La préfecture a refusé l'acte « {{titre}} » :\n\n{plain}\n\nTexte de la préfecture : {raw}"),
            )
            .await?;
            if raw.contains("ODT-VERIF-01")
                || newer_classification(tx, org, *classification_date_en_cours).await?
            {
                replies::queue_classification(tx, ctx.now, org).await?;
            }
            Ok(())
        }
        Message::AnomalieEnveloppe { nature, detail, .. } => {
            anomalie_enveloppe(tx, ctx, read, org, nature, detail.as_deref().unwrap_or("")).await
        }
        Message::CourrierSimple { courrier, document } => {
            letter(
                tx,
                ctx,
                read,
                org,
                &courrier.id_acte,
                courrier.date_courrier_pref,
                "2-1",
                MessageState::Recu,
                "Courrier simple de la préfecture".into(),
                None,
                vec![document.as_str()],
            )
            .await
        }
        Message::DemandePieceComplementaire {
            courrier,
            description_pieces,
            document,
        } => {
            letter(
                tx,
                ctx,
                read,
                org,
                &courrier.id_acte,
                courrier.date_courrier_pref,
                "3-1",
                MessageState::ReponseAttendue,
                "Demande de pièces complémentaires de la préfecture : réponse attendue".into(),
                Some(description_pieces.clone()),
                vec![document.as_str()],
            )
            .await
        }
        Message::LettreObservations {
            courrier,
            motif,
            document,
        } => {
            letter(
                tx,
                ctx,
                read,
                org,
                &courrier.id_acte,
                courrier.date_courrier_pref,
                "4-1",
                MessageState::ReponseAttendue,
                "Lettre d'observations de la préfecture : réponse attendue".into(),
                Some(motif.clone()),
                vec![document.as_str()],
            )
            .await
        }
        Message::DefereTA {
            id_acte,
            date_depot,
            nature_illegalite,
            pieces_jointes,
        } => {
            letter(
                tx,
                ctx,
                read,
                org,
                id_acte,
                *date_depot,
                "5-1",
                MessageState::Recu,
                format!(
                    "Déféré au tribunal administratif, déposé le {}",
                    dmy(*date_depot)
                ),
                Some(nature_illegalite.clone()),
                pieces_jointes.iter().map(String::as_str).collect(),
            )
            .await
        }
        Message::ARPieceComplementaire {
            date_reception,
            courrier,
        } => {
            letter(
                tx,
                ctx,
                read,
                org,
                &courrier.id_acte,
                *date_reception,
                "3-5",
                MessageState::Recu,
                format!(
                    "La préfecture a reçu les pièces complémentaires (ou le refus) le {}",
                    dmy(*date_reception)
                ),
                None,
                Vec::new(),
            )
            .await
        }
        Message::ARReponseRejetLettreObservations {
            date_reception,
            courrier,
        } => {
            letter(
                tx,
                ctx,
                read,
                org,
                &courrier.id_acte,
                *date_reception,
                "4-5",
                MessageState::Recu,
                format!(
                    "La préfecture a reçu votre réponse à la lettre d'observations le {}",
                    dmy(*date_reception)
                ),
                None,
                Vec::new(),
            )
            .await
        }
        Message::ARAnnulation {
            id_acte,
            date_reception,
        } => {
            let Some(acte) = acte_named(tx, org, id_acte).await? else {
                return unknown_acte(tx, ctx, read, message, id_acte).await;
            };
            store(
                tx,
                ctx,
                read,
                In {
                    acte: Some(&acte),
                    code: "6-2",
                    root: message.root(),
                    state: MessageState::Recu,
                    summary: format!(
                        "Annulation confirmée par la préfecture (reçue le {})",
                        dmy(*date_reception)
                    ),
                    detail: None,
                    date: Some(*date_reception),
                    files: Vec::new(),
                    flagged: false,
                },
            )
            .await?;
            if data::change_status(
                tx,
                ctx.now,
                &acte.id,
                StatusChange::new(
                    Status::Annule,
                    &[Status::AnnulationDemandee, Status::Acquitte],
                ),
            )
            .await?
            {
                audit::append(
                    tx,
                    ctx.now,
                    NewEvent::new(
                        Some(org),
                        &system(),
                        "actes.acte.cancelled",
                        "acte",
                        &acte.id,
                    )
                    .details(json!({ "date_reception": date_reception.to_string() })),
                )
                .await?;
            }
            Ok(())
        }
        Message::RetourClassification(c) => {
            if c.matieres.is_empty() {
                return flag(
                    tx,
                    ctx,
                    read,
                    None,
                    message.root(),
                    "Classification reçue sans aucune matière : elle n'est pas enregistrée".into(),
                    None,
                )
                .await;
            }
            store(
                tx,
                ctx,
                read,
                In {
                    acte: None,
                    code: "7-2",
                    root: message.root(),
                    state: MessageState::Recu,
                    summary: format!(
                        "Classification reçue de la préfecture (version du {})",
                        dmy(c.date)
                    ),
                    detail: None,
                    date: Some(c.date),
                    files: Vec::new(),
                    flagged: false,
                },
            )
            .await?;
            crate::settings::store_classification(tx, org, c, ctx.now).await
        }
        Message::ReponseClassificationSansChangement {
            date_classification,
        } => store(
            tx,
            ctx,
            read,
            In {
                acte: None,
                code: "7-3",
                root: message.root(),
                state: MessageState::Recu,
                summary: format!(
                    "La préfecture confirme que la classification est à jour (version du {})",
                    dmy(*date_classification)
                ),
                detail: None,
                date: Some(*date_classification),
                files: Vec::new(),
                flagged: false,
            },
        )
        .await
        .map(|_| ()),
        // Messages a collectivité sends, or a second envelope: not expected from the
        // préfecture.
        other => {
            let acte = match other.id_acte() {
                Some(id) => acte_named(tx, org, id).await?,
                None => None,
            };
            flag(
                tx,
                ctx,
                read,
                acte.as_ref(),
                other.root(),
                format!("Message inattendu de la préfecture : « {} »", other.root()),
                None,
            )
            .await
        }
    }
}

/// Plain French for a root element, in flagged summaries.
fn root_label(root: &str) -> String {
    match root {
        "ARActe" => "Accusé de réception".into(),
        "AnomalieActe" => "Anomalie d'acte".into(),
        "AnomalieEnveloppe" => "Anomalie d'enveloppe".into(),
        "CourrierSimple" => "Courrier simple".into(),
        "DemandePieceComplementaire" => "Demande de pièces complémentaires".into(),
        "LettreObservations" => "Lettre d'observations".into(),
        "DefereTA" => "Déféré au tribunal administratif".into(),
        "ARAnnulation" => "Accusé de réception d'annulation".into(),
        "RetourClassification" => "Classification".into(),
        other => format!("Message « {other} »"),
    }
}

async fn unknown_acte(
    tx: &mut Tx,
    ctx: &Ctx<'_>,
    read: &Read,
    message: &Message,
    named: &str,
) -> StoreResult<()> {
    flag(
        tx,
        ctx,
        read,
        None,
        message.root(),
        format!(
            "{} concernant un acte inconnu de Bouquet : « {named} »",
            root_label(message.root())
        ),
        None,
    )
    .await
}

/// Whether `en_cours` is newer than the classification the organisation holds.
async fn newer_classification(tx: &mut Tx, org: OrgId, en_cours: Date) -> StoreResult<bool> {
    let held = crate::settings::get(tx, org)
        .await?
        .and_then(|s| s.classification_date)
        .and_then(|d| d.parse::<Date>().ok());
    Ok(held.is_none_or(|h| h < en_cours))
}

/// The ARActe: the acte is `acquitte` (executory from the date de réception).
#[allow(clippy::too_many_arguments)]
async fn ar_acte(
    tx: &mut Tx,
    ctx: &Ctx<'_>,
    read: &Read,
    message: &Message,
    org: OrgId,
    id_acte: &str,
    date_reception: Date,
    en_cours: Date,
) -> StoreResult<()> {
    let Some(acte) = acte_named(tx, org, id_acte).await? else {
        return unknown_acte(tx, ctx, read, message, id_acte).await;
    };
    store(
        tx,
        ctx,
        read,
        In {
            acte: Some(&acte),
            code: "1-2",
            root: "ARActe",
            state: MessageState::Recu,
            summary: format!(
                "Accusé de réception reçu : reçu en préfecture le {}, l'acte est exécutoire",
                dmy(date_reception)
            ),
            detail: None,
            date: Some(date_reception),
            files: Vec::new(),
            flagged: false,
        },
    )
    .await?;
    let received = date_reception.to_string();
    let mut change = StatusChange::new(
        Status::Acquitte,
        &[Status::Transmis, Status::ATransmettre, Status::Erreur],
    );
    change.received_date = Some(&received);
    change.ar_at = Some(to_micros(ctx.now));
    change.error = Some(None);
    if data::change_status(tx, ctx.now, &acte.id, change).await? {
        let tz = super::outgoing::org_tz(tx, org).await?;
        usage::record(tx, ctx.now, org, &tz, UsageKind::ActeAcquitte, None).await?;
        outbox::publish(
            tx,
            ctx.now,
            Some(org),
            TOPIC_ACQUITTE,
            json!({
                "acte_id": acte.id,
                "org_id": org.to_string(),
                "id_acte": id_acte,
                "received_date": received,
            }),
        )
        .await?;
        audit::append(
            tx,
            ctx.now,
            NewEvent::new(
                Some(org),
                &system(),
                "actes.acte.acknowledged",
                "acte",
                &acte.id,
            )
            .details(json!({ "id_acte": id_acte, "date_reception": received })),
        )
        .await?;
    }
    if newer_classification(tx, org, en_cours).await? {
        replies::queue_classification(tx, ctx.now, org).await?;
    }
    Ok(())
}

/// A letter of the préfecture about an acte (2-1, 3-1, 4-1, 5-1) or its AR of an answer.
#[allow(clippy::too_many_arguments)]
async fn letter(
    tx: &mut Tx,
    ctx: &Ctx<'_>,
    read: &Read,
    org: OrgId,
    id_acte: &str,
    date: Date,
    code: &str,
    state: MessageState,
    summary: String,
    detail: Option<String>,
    files: Vec<&str>,
) -> StoreResult<()> {
    let message = read
        .parsed
        .as_ref()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(acte) = acte_named(tx, org, id_acte).await? else {
        return unknown_acte(tx, ctx, read, message, id_acte).await;
    };
    let id = store(
        tx,
        ctx,
        read,
        In {
            acte: Some(&acte),
            code,
            root: message.root(),
            state,
            summary: format!("{summary} (courrier du {})", dmy(date)),
            detail: detail.map(|d| excerpt(&d)),
            date: Some(date),
            files,
            flagged: false,
        },
    )
    .await?;
    if matches!(code, "3-1" | "4-1") {
        // An accusé de réception goes back on its own (never for 2-1 and 5-1).
        jobs::enqueue(
            tx,
            ctx.now,
            NewJob::new(
                replies::AUTO_AR,
                json!({ "message_id": id, "org_id": org.to_string() }),
            )
            .for_org(org)
            .max_attempts(outgoing::SEND_ATTEMPTS),
        )
        .await?;
    }
    let (subject, body) = match code {
        "2-1" => (
            "Courrier de la préfecture",
            "La préfecture a envoyé un courrier simple sur l'acte « {titre} ». Aucune réponse n'est attendue ; vous pouvez y répondre depuis la page de suivi.",
        ),
        "3-1" => (
            "Pièces complémentaires demandées par la préfecture",
            "La préfecture demande des pièces complémentaires sur l'acte « {titre} ». Bouquet lui a accusé réception. Envoyez les pièces (ou refusez) depuis la page de suivi de l'acte.",
        ),
        "4-1" => (
            "Lettre d'observations de la préfecture",
            "La préfecture a envoyé une lettre d'observations sur l'acte « {titre} ». Bouquet lui a accusé réception. Répondez (ou rejetez les observations) depuis la page de suivi de l'acte.",
        ),
        "5-1" => (
            "Déféré au tribunal administratif",
            "La préfecture a déféré l'acte « {titre} » au tribunal administratif. Le déféré et ses pièces sont sur la page de suivi de l'acte.",
        ),
        _ => return Ok(()),
    };
    outgoing::tell_about_acte(tx, ctx.p, ctx.now, org, &acte.id, subject, body).await
}

/// An AnomalieEnveloppe: the envelope (named by the `ANO_` file or the Detail) is refused,
/// what it carried goes back to where it can be sent again.
async fn anomalie_enveloppe(
    tx: &mut Tx,
    ctx: &Ctx<'_>,
    read: &Read,
    org: OrgId,
    nature: &str,
    raw: &str,
) -> StoreResult<()> {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(name) = read.name.strip_prefix("ANO_") {
        candidates.push(name.to_owned());
    }
    if let Some((archive, _)) = raw.split_once(" -> ") {
        candidates.push(archive.trim().to_owned());
    }
    let mut envelope = None;
    for c in &candidates {
        if let Some(e) = data::envelope_by_name(tx, org, c).await? {
            envelope = Some(e);
            break;
        }
    }
    let out_of_norm = !nature_in_xsd(nature);
    let plain = explain(raw);
    let acte = match &envelope {
        Some(e) => {
            let carried = data::messages_of_envelope(tx, &e.id).await?;
            match carried.iter().find_map(|m| m.acte_id.clone()) {
                Some(a) => data::acte(tx, org, &a).await?,
                None => None,
            }
        }
        None => None,
    };
    let summary = match (&envelope, out_of_norm) {
        (None, _) => format!("Anomalie d'enveloppe pour un envoi inconnu de Bouquet : {plain}"),
        (Some(e), false) => format!("Anomalie sur l'enveloppe {} : {plain}", e.name),
        (Some(e), true) => format!(
            "Anomalie hors norme (nature {nature}) sur l'enveloppe {} : {plain}",
            e.name
        ),
    };
    store(
        tx,
        ctx,
        read,
        In {
            acte: acte.as_ref(),
            code: "?",
            root: "AnomalieEnveloppe",
            state: if envelope.is_some() && !out_of_norm {
                MessageState::Recu
            } else {
                MessageState::Erreur
            },
            summary,
            detail: Some(format!("Nature {nature} — {raw}")),
            date: None,
            files: Vec::new(),
            flagged: envelope.is_none() || out_of_norm,
        },
    )
    .await?;
    if let Some(e) = envelope {
        let moved = data::envelope_move(
            tx,
            ctx.now,
            &e.id,
            envelope_state::ENVOYE,
            envelope_state::REFUSE,
            Some(raw),
        )
        .await?
            || data::envelope_move(
                tx,
                ctx.now,
                &e.id,
                envelope_state::A_ENVOYER,
                envelope_state::REFUSE,
                Some(raw),
            )
            .await?;
        if moved {
            outgoing::undo_envelope(tx, ctx.p, ctx.now, &e, &plain).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefecture_codes_read_in_plain_french() {
        // Real texts (standards/actes/samples).
        let odt = explain(
            "ODT-VERIF-01 : Votre acte a été transmis avec une date de classification qui n'est pas à jour",
        );
        assert!(
            odt.starts_with("La classification utilisée n'est plus à jour"),
            "{odt}"
        );
        let siren = explain(
            "SLO-EACT--210703385--20170612-2.tar.gz -> PREF-VERIF-02 : Votre numéro de SIREN n'est pas encore enregistré dans l'application ACTES.",
        );
        assert!(siren.contains("n'est pas encore enregistrée"), "{siren}");
        assert_eq!(
            explain("Ca ne fonctionne pas"),
            "La préfecture signale une anomalie : Ca ne fonctionne pas"
        );
        assert!(nature_in_xsd("005") && nature_in_xsd("5") && nature_in_xsd("100"));
        assert!(!nature_in_xsd("999"));
    }

    #[test]
    fn a_return_names_its_organisation() {
        assert_eq!(
            siren_of_name(&as_xml_name("EACT--SPREF0441-214400152-20181012-9.tar.gz")).as_deref(),
            Some("214400152")
        );
        assert_eq!(
            siren_of_name(&as_xml_name("ANO_EACT--210703385--20170612-2.tar.gz")).as_deref(),
            Some("210703385")
        );
        assert_eq!(
            siren_of_name("044-214400152----1-3_1.xml").as_deref(),
            Some("214400152")
        );
        assert_eq!(siren_of_name("n'importe quoi"), None);
        assert_eq!(clean_name("a\u{0}b\nc"), "abc");
    }
}
