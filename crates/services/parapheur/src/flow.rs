//! The parapheur's operations, as pages, the API and other modules call them: send a
//! dossier, act on it, and what follows each action (e-mails to whoever acts next, the
//! bordereau at the end, the event other modules wait for).
//!
//! Other modules submit with [`submit`] (`source` = their name and their own reference) and
//! subscribe to the outbox topic [`TOPIC_ENDED`]: its payload says how the circuit ended and
//! which blob holds the signed document.

use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{AppError, OrgId, UserId};
use bouquet_store::blobs::owner_key;
use bouquet_store::db::{Handle, Tx};
use bouquet_store::mail::{self, Mail};
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::{Platform, StoreError, StoreResult, outbox, usage};
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::json;

use crate::dossiers::{
    self, Acting, Capacity, DossierRow, NewDossier, Outcome, ResolvedStep, StepRow, StoredFile,
};
use crate::model::{DocumentKind, Status, StepDef, StepKind};
use crate::signing::{self, StampText};

/// Published when a circuit ends, signed or rejected:
/// `{ "dossier", "source", "source_ref", "status": "termine"|"rejete", "document_sha256",
///    "document_name", "motif" }` (the bordereau is made just after, and on demand).
pub const TOPIC_ENDED: &str = "parapheur.dossier.ended";

/// At most 50 MB per document or annex, 200 MB per dossier (a PDF of deliberations with
/// scanned annexes stays well under).
pub const MAX_FILE: usize = 50 * 1024 * 1024;
pub const MAX_DOSSIER: usize = 200 * 1024 * 1024;

/// Who does something.
#[derive(Clone, Copy)]
pub struct Person<'a> {
    pub id: UserId,
    pub name: &'a str,
}

/// A file as received.
pub struct InFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A dossier to send.
pub struct Submission {
    pub title: String,
    pub doc_type: String,
    pub subtype: Option<String>,
    pub circuit_name: String,
    pub steps: Vec<StepDef>,
    pub document: InFile,
    pub annexes: Vec<InFile>,
    pub source: Option<(String, String)>,
}

/// An e-mail of the parapheur: `body` between the greeting and the notice that a machine sent
/// it.
pub fn letter(body: &str) -> String {
    format!("Bonjour,\n\n{body}\n\nCe message est envoyé automatiquement par le parapheur.")
}

fn app(e: AppError) -> StoreError {
    StoreError::App(e)
}

async fn store_file(p: &Platform, org: OrgId, file: InFile) -> StoreResult<StoredFile> {
    let size = file.bytes.len() as u64;
    let blob = p
        .blobs
        .put_bytes(&owner_key(Some(org)), Bytes::from(file.bytes))
        .await?;
    Ok(StoredFile {
        name: file.name,
        sha256: blob.sha256,
        size,
    })
}

/// Checks the main document: a PDF must be a readable, unencrypted PDF; a PES must be a
/// well-formed PES_Aller. The French reason otherwise.
pub fn check_document(name: &str, bytes: &[u8]) -> Result<DocumentKind, AppError> {
    let kind = DocumentKind::sniff(name, bytes).map_err(|m| AppError::invalid("document", m))?;
    match kind {
        DocumentKind::Pdf => {
            bouquet_crypto::pdf::PdfReader::open(&bytes)
                .map_err(|e| AppError::invalid("document", e.to_string()))?;
        }
        DocumentKind::Pes => {
            bouquet_crypto::xades::check_pes(bytes)
                .map_err(|e| AppError::invalid("document", e.to_string()))?;
        }
        DocumentKind::Other => {}
    }
    Ok(kind)
}

/// Refuses a circuit that cannot end: a step where nobody can act today, more than one
/// electronic signature on a PES flow (a bordereau is signed once), a paper signature on
/// anything but a PDF.
async fn check_circuit(
    p: &Platform,
    kind: DocumentKind,
    steps: &[ResolvedStep],
) -> StoreResult<()> {
    let signing = steps.iter().filter(|s| s.def.kind.signs()).count();
    if kind == DocumentKind::Pes && signing > 1 {
        return Err(app(AppError::invalid(
            "circuit",
            "Un flux PES ne peut recevoir qu'une signature électronique : choisissez un circuit avec une seule étape de signature ou de cachet.",
        )));
    }
    if kind != DocumentKind::Pdf
        && steps
            .iter()
            .any(|s| s.def.kind == StepKind::SignaturePapier)
    {
        return Err(app(AppError::invalid(
            "circuit",
            "La signature papier ne s'applique qu'à un document PDF : choisissez un autre circuit.",
        )));
    }
    let mut conn = p.db.read().await?;
    for (i, step) in steps.iter().enumerate() {
        let people = dossiers::people(&mut conn, step.org).await?;
        if !people
            .iter()
            .any(|h| step.def.actors.iter().any(|a| h.fits(a)))
        {
            return Err(app(AppError::invalid(
                "circuit",
                format!(
                    "Personne ne peut agir à l'étape {} du circuit (personne ne porte ce titre ou ce rôle) : corrigez le circuit ou les titres des personnes.",
                    i + 1
                ),
            )));
        }
    }
    Ok(())
}

/// Sends a dossier from `org` into a circuit; the people of the first step are told.
pub async fn submit(
    p: &Platform,
    org: &OrgRow,
    sender: Person<'_>,
    s: Submission,
) -> StoreResult<String> {
    dossiers::check_title(&s.title).map_err(app)?;
    let kind = check_document(&s.document.name, &s.document.bytes).map_err(app)?;
    let org_id = org.id()?;
    let mut steps = Vec::new();
    {
        let mut conn = p.db.read().await?;
        for def in &s.steps {
            let step_org = match &def.org_siren {
                None => org_id,
                Some(siren) => {
                    let siren = bouquet_kernel::Siren::parse(siren).map_err(|_| {
                        app(AppError::invalid(
                            "circuit",
                            "Un SIREN du circuit est incorrect.",
                        ))
                    })?;
                    orgs::get_by_siren(&mut conn, &siren)
                        .await?
                        .ok_or_else(|| {
                            app(AppError::invalid(
                                "circuit",
                                "Une organisation du circuit n'existe pas sur la plateforme.",
                            ))
                        })?
                        .id()?
                }
            };
            steps.push(ResolvedStep {
                def: def.clone(),
                org: step_org,
            });
        }
    }
    check_circuit(p, kind, &steps).await?;
    let document = store_file(p, org_id, s.document).await?;
    let mut annexes = Vec::new();
    for a in s.annexes {
        annexes.push(store_file(p, org_id, a).await?);
    }
    let now = p.clock.now();
    let id =
        p.db.atomically(async |tx| {
            let id = dossiers::create(
                tx,
                now,
                &NewDossier {
                    org: org_id,
                    title: &s.title,
                    doc_type: &s.doc_type,
                    subtype: s.subtype.as_deref(),
                    circuit_name: &s.circuit_name,
                    steps,
                    document_kind: kind,
                    document,
                    annexes,
                    sender: sender.id,
                    sender_label: sender.name,
                    source: s.source.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                },
            )
            .await?;
            let dossier = dossiers::get_visible(tx, org_id, &id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("dossier introuvable".into()))?;
            notify_step(tx, p, now, &dossier, 0).await?;
            usage::record(
                tx,
                now,
                org_id,
                &org.tz(),
                UsageKind::DossierEnvoye,
                Some(sender.id),
            )
            .await?;
            Ok(id)
        })
        .await?;
    p.wake_workers();
    Ok(id)
}

/// The current step of a dossier in progress, and how `user` may act there, if at all.
pub async fn my_turn(
    h: &mut impl Handle,
    dossier: &DossierRow,
    user: UserId,
    today: &str,
) -> StoreResult<Option<(StepRow, Capacity)>> {
    if dossier.status() != Status::EnCours {
        return Ok(None);
    }
    let steps = dossiers::steps(h, &dossier.id).await?;
    let Some(step) = steps
        .into_iter()
        .find(|s| s.position == dossier.current_step)
    else {
        return Ok(None);
    };
    let actions = dossiers::actions(h, &dossier.id).await?;
    let acted = dossiers::acted_keys(&actions, step.position, step.kind());
    let capacity = dossiers::capacity(h, &step, user, today, &dossier.doc_type, &acted).await?;
    Ok(capacity.map(|c| (step, c)))
}

fn not_your_turn() -> StoreError {
    app(AppError::Forbidden(
        "Ce n'est pas à vous d'agir sur ce dossier à cette étape : il attend quelqu'un d'autre, ou il a déjà avancé.".into(),
    ))
}

async fn turn(
    p: &Platform,
    dossier: &DossierRow,
    user: UserId,
    today: &str,
    expected: &[StepKind],
    act: bool,
) -> StoreResult<(StepRow, Capacity)> {
    let mut conn = p.db.read().await?;
    let (step, capacity) = my_turn(&mut conn, dossier, user, today)
        .await?
        .ok_or_else(not_your_turn)?;
    if !expected.contains(&step.kind()) {
        return Err(app(AppError::Conflict(format!(
            "Cette étape demande : {}.",
            step.kind().label().to_lowercase()
        ))));
    }
    if act && step.reading_required {
        let actions = dossiers::actions(&mut conn, &dossier.id).await?;
        if !dossiers::has_read(&actions, step.position, user) {
            return Err(app(AppError::Conflict(
                "Cette étape demande de lire le document avant d'agir : ouvrez-le (lien « Relire le document »), puis recommencez.".into(),
            )));
        }
    }
    Ok((step, capacity))
}

/// A visa (no signature).
pub async fn visa(
    p: &Platform,
    dossier: &DossierRow,
    seen_version: i64,
    who: Person<'_>,
    today: &str,
    comment: Option<&str>,
) -> StoreResult<Outcome> {
    let (_, capacity) = turn(p, dossier, who.id, today, &[StepKind::Visa], true).await?;
    let acting = Acting {
        user: who.id,
        label: who.name,
        capacity,
    };
    let now = p.clock.now();
    let outcome =
        p.db.atomically(async |tx| {
            let outcome =
                dossiers::complete_step(tx, now, dossier, seen_version, &acting, comment, None)
                    .await?;
            after(tx, p, now, dossier, &outcome).await?;
            Ok(outcome)
        })
        .await?;
    finish(p, dossier, &outcome).await?;
    Ok(outcome)
}

/// An electronic signature or the organisation's seal, at the current step: the document is
/// signed (PAdES, XAdES or CAdES by its kind), stored, and the step recorded — or nothing.
pub async fn sign(
    p: &Platform,
    dossier: &DossierRow,
    seen_version: i64,
    who: Person<'_>,
    today: &str,
) -> StoreResult<Outcome> {
    let (step, capacity) = turn(
        p,
        dossier,
        who.id,
        today,
        &[StepKind::Signature, StepKind::Cachet],
        true,
    )
    .await?;
    let step_org = step.org()?;
    let credential_row = {
        let mut conn = p.db.read().await?;
        let owner = (step.kind() == StepKind::Signature).then_some(who.id);
        signing::credential(&mut conn, step_org, owner).await?
    }
    .ok_or_else(|| {
        app(AppError::Conflict(if step.kind() == StepKind::Cachet {
            "L'organisation n'a pas encore de certificat de cachet : son administrateur peut l'ajouter dans « Parapheur › Certificats ».".into()
        } else {
            "Vous n'avez pas encore de certificat de signature : ajoutez-le dans « Parapheur › Certificats » (fichier .p12 ou .pfx), ou choisissez la signature papier.".into()
        }))
    })?;
    if credential_row.not_after() <= p.clock.now() {
        return Err(app(AppError::Conflict(format!(
            "Le certificat de signature a expiré le {} : ajoutez-en un nouveau dans « Parapheur › Certificats ». Le dossier n'a pas changé.",
            bouquet_webkit::views::at(
                credential_row.not_after,
                &bouquet_kernel::clock::time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE)
            )
        ))));
    }
    let credential = credential_row.open(p)?;
    let timestamper = match &p.settings.tsa_url {
        Some(url) => signing::Timestamper::Http(url.clone()),
        None => signing::Timestamper::BuiltIn {
            pki: signing::pki(p).await?,
            now: p.clock.now(),
        },
    };
    let org = dossier.org()?;
    let document = p
        .blobs
        .read_all(&owner_key(Some(org)), &dossier.current_sha256)
        .await?;
    let now = p.clock.now();
    let tz = {
        let mut conn = p.db.read().await?;
        orgs::get(&mut conn, step_org)
            .await?
            .map(|o| o.tz())
            .unwrap_or_else(|| {
                bouquet_kernel::clock::time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE)
            })
    };
    let stamp = StampText {
        signer: who.name.to_owned(),
        quality: capacity.quality.clone(),
        when: bouquet_webkit::views::at(bouquet_kernel::clock::to_micros(now), &tz),
        on_behalf: capacity.on_behalf.as_ref().map(|o| o.1.clone()),
    };
    let kind = dossier.kind();
    let signed = tokio::task::spawn_blocking(move || {
        signing::sign_document(kind, &document, &credential, &stamp, now, &timestamper)
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))?
    .map_err(|e| match e {
        bouquet_crypto::CryptoError::Internal(m) => StoreError::Corrupt(m),
        other => app(AppError::Conflict(format!(
            "La signature n'a pas pu être faite : {other} Le dossier n'a pas changé."
        ))),
    })?;
    let format = kind.format_label();
    let certificate = signed.certificate_json(format);
    let new_doc = store_file(
        p,
        org,
        InFile {
            name: dossier.document_name.clone(),
            bytes: signed.document,
        },
    )
    .await?;
    let detached = match signed.detached {
        Some(p7s) => Some(
            store_file(
                p,
                org,
                InFile {
                    name: format!("{}.p7s", dossier.document_name),
                    bytes: p7s,
                },
            )
            .await?,
        ),
        None => None,
    };
    let acting = Acting {
        user: who.id,
        label: who.name,
        capacity,
    };
    let outcome =
        p.db.atomically(async |tx| {
            let outcome = dossiers::complete_step(
                tx,
                now,
                dossier,
                seen_version,
                &acting,
                None,
                Some((&new_doc, certificate)),
            )
            .await?;
            if let Some(p7s) = &detached {
                dossiers::add_file(tx, now, &dossier.id, "signature", p7s).await?;
            }
            usage::record(
                tx,
                now,
                step_org,
                &tz,
                UsageKind::DossierSigne,
                Some(who.id),
            )
            .await?;
            after(tx, p, now, dossier, &outcome).await?;
            Ok(outcome)
        })
        .await?;
    finish(p, dossier, &outcome).await?;
    Ok(outcome)
}

/// A paper signature: the scan of the signed document replaces the document.
pub async fn paper(
    p: &Platform,
    dossier: &DossierRow,
    seen_version: i64,
    who: Person<'_>,
    today: &str,
    scan: InFile,
) -> StoreResult<Outcome> {
    let (_, capacity) = turn(
        p,
        dossier,
        who.id,
        today,
        &[StepKind::SignaturePapier],
        true,
    )
    .await?;
    if bouquet_crypto::pdf::PdfReader::open(&scan.bytes.as_slice()).is_err() {
        return Err(app(AppError::invalid(
            "scan",
            "Déposez le document signé numérisé au format PDF.",
        )));
    }
    let org = dossier.org()?;
    let file = store_file(p, org, scan).await?;
    let acting = Acting {
        user: who.id,
        label: who.name,
        capacity,
    };
    let now = p.clock.now();
    let outcome =
        p.db.atomically(async |tx| {
            let outcome = dossiers::complete_step(
                tx,
                now,
                dossier,
                seen_version,
                &acting,
                None,
                Some((&file, json!({ "format": "Signature manuscrite numérisée" }))),
            )
            .await?;
            after(tx, p, now, dossier, &outcome).await?;
            Ok(outcome)
        })
        .await?;
    finish(p, dossier, &outcome).await?;
    Ok(outcome)
}

/// The document was opened: if its reader acts at the current step and that step asks for
/// reading, it is recorded.
pub async fn opened(
    p: &Platform,
    dossier: &DossierRow,
    who: Person<'_>,
    today: &str,
) -> StoreResult<()> {
    let turn = {
        let mut conn = p.db.read().await?;
        my_turn(&mut conn, dossier, who.id, today).await?
    };
    if let Some((step, _)) = turn
        && step.reading_required
    {
        let now = p.clock.now();
        p.db.atomically(async |tx| {
            dossiers::record_reading(tx, now, dossier, who.id, who.name).await
        })
        .await?;
    }
    Ok(())
}

/// Asks a person of the organisation for an opinion (second avis), who is told by e-mail.
pub async fn ask_opinion(
    p: &Platform,
    dossier: &DossierRow,
    who: Person<'_>,
    today: &str,
    to: &dossiers::Holder,
    message: &str,
) -> StoreResult<()> {
    turn(p, dossier, who.id, today, &StepKind::ALL, false).await?;
    let now = p.clock.now();
    p.db
        .atomically(async |tx| {
            dossiers::ask_opinion(tx, now, dossier, who.id, who.name, to, message).await?;
            let url = link(p, tx, dossier, &to.user_id).await?;
            let mail = Mail {
                to: to.email.clone(),
                subject: format!("Avis demandé : {}", dossier.title),
                text: letter(&format!(
                    "{} vous demande votre avis sur le dossier « {} ».\n\n{}\n\nDonnez-le sur la page du dossier : {url}",
                    who.name,
                    dossier.title,
                    message.trim()
                )),
            };
            mail::queue(tx, now, &mail).await?;
            Ok(())
        })
        .await?;
    p.wake_workers();
    Ok(())
}

/// Gives the opinion asked of `who`; the person who asked is told.
pub async fn give_opinion(
    p: &Platform,
    dossier: &DossierRow,
    who: Person<'_>,
    opinion: &str,
) -> StoreResult<()> {
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        let asker = dossiers::give_opinion(tx, now, dossier, who.id, who.name, opinion).await?;
        let url = link(p, tx, dossier, &asker).await?;
        if let Some(email) = email_of(tx, &asker).await? {
            let mail = Mail {
                to: email,
                subject: format!("Avis donné : {}", dossier.title),
                text: letter(&format!(
                    "{} a donné son avis sur le dossier « {} » :\n\n{}\n\n{url}",
                    who.name,
                    dossier.title,
                    opinion.trim()
                )),
            };
            mail::queue(tx, now, &mail).await?;
        }
        Ok(())
    })
    .await?;
    p.wake_workers();
    Ok(())
}

/// Gives the current step to `to` (a person of the step's organisation), who is told.
pub async fn reassign(
    p: &Platform,
    dossier: &DossierRow,
    seen_version: i64,
    to: &dossiers::Holder,
    admin: Person<'_>,
) -> StoreResult<()> {
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        dossiers::reassign(tx, now, dossier, seen_version, to, admin.id, admin.name).await?;
        notify_step(tx, p, now, dossier, dossier.current_step).await
    })
    .await?;
    p.wake_workers();
    Ok(())
}

/// Rejects the dossier: the sender and everyone who already acted are told, with the motive.
pub async fn reject(
    p: &Platform,
    dossier: &DossierRow,
    seen_version: i64,
    who: Person<'_>,
    today: &str,
    motive: &str,
) -> StoreResult<()> {
    let (_, capacity) = turn(p, dossier, who.id, today, &StepKind::ALL, false).await?;
    let acting = Acting {
        user: who.id,
        label: who.name,
        capacity,
    };
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        dossiers::reject(tx, now, dossier, seen_version, &acting, motive).await?;
        let actions = dossiers::actions(tx, &dossier.id).await?;
        let mut told = std::collections::HashSet::new();
        for a in &actions {
            let Some(uid) = a.user_id.as_deref() else {
                continue;
            };
            if uid == who.id.to_string() || !told.insert(uid.to_owned()) {
                continue;
            }
            if let Some(email) = email_of(tx, uid).await? {
                let url = link(p, tx, dossier, uid).await?;
                mail::queue(
                    tx,
                    now,
                    &Mail {
                        to: email,
                        subject: format!("Dossier rejeté : {}", dossier.title),
                        text: letter(&format!(
                            "{} a rejeté le dossier « {} ».\n\nMotif : {}\n\nLe dossier : {}",
                            who.name,
                            dossier.title,
                            motive.trim(),
                            url
                        )),
                    },
                )
                .await?;
            }
        }
        publish_end(tx, now, dossier, Status::Rejete, Some(motive.trim())).await?;
        Ok(())
    })
    .await?;
    p.wake_workers();
    Ok(())
}

async fn email_of(h: &mut impl Handle, user: &str) -> StoreResult<Option<String>> {
    let Ok(id) = user.parse::<UserId>() else {
        return Ok(None);
    };
    Ok(bouquet_store::accounts::get_user(h, id)
        .await?
        .filter(|u| u.active)
        .map(|u| u.email))
}

/// The dossier's address for `user`: under the dossier's organisation when the person
/// belongs to it, else under the organisation of a step the person belongs to (a
/// two-organisation circuit): the page must open for whoever gets the e-mail.
async fn link(
    p: &Platform,
    h: &mut impl Handle,
    dossier: &DossierRow,
    user: &str,
) -> StoreResult<String> {
    let siren: Option<String> = bouquet_store::run!(h, |c| {
        sqlx::query_scalar(
        "SELECT o.siren FROM organisations o JOIN memberships m ON m.org_id = o.id AND m.user_id = $2
         WHERE o.id = $1 OR o.id IN (SELECT s.org_id FROM parapheur_steps s WHERE s.dossier_id = $3)
         ORDER BY CASE WHEN o.id = $1 THEN 0 ELSE 1 END LIMIT 1"
    )
    .bind(&dossier.org_id)
    .bind(user)
    .bind(&dossier.id)
    .fetch_optional(c)
    .await
    })?;
    let siren = match siren {
        Some(s) => s,
        None => orgs::get(h, dossier.org()?)
            .await?
            .map(|o| o.siren)
            .unwrap_or_default(),
    };
    Ok(p.settings
        .link(&format!("/o/{siren}/parapheur/dossiers/{}", dossier.id)))
}

/// Tells the people of step `position` (and those who act for them today) that the dossier
/// waits for them.
async fn notify_step(
    tx: &mut Tx,
    p: &Platform,
    now: Timestamp,
    dossier: &DossierRow,
    position: i64,
) -> StoreResult<()> {
    let steps = dossiers::steps(tx, &dossier.id).await?;
    let Some(step) = steps.iter().find(|s| s.position == position) else {
        return Ok(());
    };
    let step_org = orgs::get(tx, step.org()?).await?;
    let Some(step_org) = step_org else {
        return Ok(());
    };
    let today = orgs::local_date(now, &step_org.tz());
    let mut to: Vec<(String, String)> = dossiers::holders(tx, step)
        .await?
        .into_iter()
        .map(|h| (h.user_id, h.email))
        .collect();
    let ids: Vec<String> = to.iter().map(|t| t.0.clone()).collect();
    for (delegate, email) in
        crate::delegations::delegates_today(tx, step.org()?, &ids, &today).await?
    {
        if !to.iter().any(|t| t.0 == delegate) {
            to.push((delegate, email));
        }
    }
    let url = p.settings.link(&format!(
        "/o/{}/parapheur/dossiers/{}",
        step_org.siren, dossier.id
    ));
    let verb = match step.kind() {
        StepKind::Visa => "À viser",
        StepKind::Signature | StepKind::SignaturePapier => "À signer",
        StepKind::Cachet => "Cachet à apposer",
    };
    for (_, email) in to {
        mail::queue(
            tx,
            now,
            &Mail {
                to: email,
                subject: format!("{verb} : {}", dossier.title),
                text: letter(&format!(
                    "Le dossier « {} » attend votre action ({}).\n\nOuvrez-le : {url}\n\nVous le trouvez aussi dans « Parapheur › Dossiers à traiter ».",
                    dossier.title,
                    step.kind().label().to_lowercase(),
                )),
            },
        )
        .await?;
    }
    Ok(())
}

/// What follows an action, in its transaction: the next people are told, or the end is
/// published.
async fn after(
    tx: &mut Tx,
    p: &Platform,
    now: Timestamp,
    dossier: &DossierRow,
    outcome: &Outcome,
) -> StoreResult<()> {
    match outcome {
        Outcome::NextStep(next) => notify_step(tx, p, now, dossier, *next).await,
        Outcome::Finished => {
            let sender = email_of(tx, &dossier.created_by).await?;
            let url = link(p, tx, dossier, &dossier.created_by).await?;
            if let Some(email) = sender {
                mail::queue(
                    tx,
                    now,
                    &Mail {
                        to: email,
                        subject: format!("Dossier signé : {}", dossier.title),
                        text: letter(&format!(
                            "Le circuit du dossier « {} » est terminé : le document signé et le bordereau de signature sont disponibles.\n\n{}",
                            dossier.title,
                            url
                        )),
                    },
                )
                .await?;
            }
            publish_end(tx, now, dossier, Status::Termine, None).await
        }
        Outcome::StepContinues | Outcome::Rejected => Ok(()),
    }
}

async fn publish_end(
    tx: &mut Tx,
    now: Timestamp,
    dossier: &DossierRow,
    status: Status,
    motive: Option<&str>,
) -> StoreResult<()> {
    let current: Option<String> = bouquet_store::run!(tx, |c| sqlx::query_scalar(
        "SELECT current_sha256 FROM parapheur_dossiers WHERE id = $1"
    )
    .bind(&dossier.id)
    .fetch_optional(c)
    .await)?;
    outbox::publish(
        tx,
        now,
        Some(dossier.org()?),
        TOPIC_ENDED,
        json!({
            "dossier": dossier.id,
            "source": dossier.source,
            "source_ref": dossier.source_ref,
            "status": status.code(),
            "document_sha256": current,
            "document_name": dossier.document_name,
            "motif": motive,
        }),
    )
    .await?;
    Ok(())
}

/// After the transaction: the bordereau of a finished dossier.
/// The action is committed: a bordereau that fails now is made again when it is first asked
/// for (see `web::dossier::bordereau`), so this never fails the action.
async fn finish(p: &Platform, dossier: &DossierRow, outcome: &Outcome) -> StoreResult<()> {
    if *outcome == Outcome::Finished
        && let Err(e) = crate::bordereau::make(p, &dossier.id, dossier.org()?).await
    {
        tracing::warn!(dossier = %dossier.id, error = %e, "bordereau not made yet");
    }
    p.wake_workers();
    Ok(())
}
