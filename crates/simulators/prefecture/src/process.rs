//! What the préfecture does with a deposit — the checks at the door, then, in the background,
//! the analysis that answers each message — and the messages it sends on its own (letters,
//! out-of-norm anomaly).
//!
//! The natures of anomaly are not published (the XSD only enumerates `001`…`005` and `100` for
//! `AnomalieEnveloppe`, and asks 3 digits for `AnomalieActe`); the simulator uses `002` for
//! the outdated classification (as in the real ODT-VERIF-01 sample), `999` for the
//! out-of-norm message (as in the real ODT-VERIF-17 sample), and for the rest the table of
//! [`nature`], its own choice.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use bouquet_format_actes::{
    Classification, Collectivite, CourrierPref, DonneesActe, EmetteurPref, EnveloppeCl,
    EnveloppePref, FileName, FormatError, IdActe, Limits, Message, Referent, TransactionBase,
    anomalie_name, compact_date, enveloppe_pref_name, parse_file_name, parse_message, xsd,
};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::letter::{self, Letter};
use crate::state::{ActeState, Exchange, Inner, Received, SimState};

/// Largest archive accepted at the door.
pub const MAX_ARCHIVE: usize = 64 * 1024 * 1024;

/// Natures of the anomalies the simulator sends.
pub mod nature {
    /// `AnomalieEnveloppe`: the envelope is not valid against the schema, or unreadable.
    pub const ENVELOPPE_NON_CONFORME: &str = "001";
    /// `AnomalieEnveloppe`: a file the envelope or a message announces is not in the archive.
    pub const FICHIER_ABSENT: &str = "002";
    /// `AnomalieEnveloppe`: a message is not valid, misnamed, or not expected from a collectivité.
    pub const MESSAGE_NON_CONFORME: &str = "003";
    /// `AnomalieEnveloppe`: a message refers to an acte the préfecture has not acquitted.
    pub const TRANSACTION_INCONNUE: &str = "004";
    /// `AnomalieEnveloppe`: the SIREN of the envelope is not the archive's.
    pub const SIREN: &str = "005";
    /// `AnomalieEnveloppe` outside the XSD, as the real @CTES sends it (ODT-VERIF-17).
    pub const HORS_NORME: &str = "999";
    /// `AnomalieActe`: the acte or its pièces are not as the standard says.
    pub const ACTE_NON_CONFORME: &str = "001";
    /// `AnomalieActe`: the classification date is not the current one (real ODT-VERIF-01).
    pub const CLASSIFICATION: &str = "002";
    /// `AnomalieActe`: an acte with this IDActe was already acquitted.
    pub const DOUBLON: &str = "003";
}

/// The text of the real ODT-VERIF-01 anomaly.
pub const DETAIL_CLASSIFICATION: &str =
    "ODT-VERIF-01 : Votre acte a été transmis avec une date de classification qui n'est pas à jour";
/// The text of the real ODT-VERIF-17 anomaly (Nature 999).
pub const DETAIL_HORS_NORME: &str = "ODT-VERIF-17 : La transaction que vous avez envoyé n'est pas reconnu dans l'application ACTES.";

/// The classification the simulator hands out (its date is the simulator's own).
pub fn classification() -> &'static Classification {
    static DEMO: OnceLock<Classification> = OnceLock::new();
    DEMO.get_or_init(Classification::demo)
}

/// A deposit waiting for its analysis (persisted, with its archive in `recus/{id}.tar.gz`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingDeposit {
    pub id: String,
    pub name: String,
    pub received_at: Timestamp,
}

/// An archive that passed the door.
pub(crate) struct Deposit {
    pub name: String,
    pub siren: String,
    pub envelope_name: String,
    pub files: Files,
    pub received_at: Timestamp,
}

/// Why a deposit is not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The préfecture is switched off: 503.
    Unavailable,
    /// Refused at the door: 400 with this French text.
    Door(String),
    /// The simulator could not keep it: 500.
    Internal(String),
}

/// The checks at the door: the archive's name, a flat and safe tar.gz, its envelope present.
pub(crate) fn door(name: &str, bytes: &[u8], received_at: Timestamp) -> Result<Deposit, String> {
    let expected = "{TRIGRAMME}-EACT--{SIREN}--{AAAAMMJJ}-{numéro}.tar.gz";
    let (siren, date, serial, appli) = match parse_file_name(name) {
        Ok(FileName::Archive {
            siren,
            date,
            serial,
            appli,
            ..
        }) => (siren, date, serial, appli),
        _ => {
            return Err(format!(
                "Nom d'archive non conforme : « {name} » (attendu : {expected})."
            ));
        }
    };
    if appli != bouquet_format_actes::APPLI {
        return Err(format!(
            "Nom d'archive non conforme : « {name} » (attendu : {expected})."
        ));
    }
    let files = bouquet_format_actes::unpack(bytes, Limits::default())
        .map_err(|e| format!("Archive « {name} » illisible : {e}."))?;
    let envelope_name = format!("{appli}--{siren}--{}-{serial}.xml", compact_date(date));
    if !files.iter().any(|(n, _)| *n == envelope_name) {
        return Err(format!(
            "L'archive « {name} » ne contient pas son enveloppe « {envelope_name} »."
        ));
    }
    Ok(Deposit {
        name: name.to_owned(),
        siren,
        envelope_name,
        files,
        received_at,
    })
}

/// Accepts a deposit: door checks, then the analysis in the background.
pub(crate) async fn accept(state: &SimState, name: &str, bytes: Vec<u8>) -> Result<(), Refusal> {
    let now = state.now();
    if state.lock().await.unavailable {
        return Err(Refusal::Unavailable);
    }
    // Decompressing is CPU work: off the async threads, and outside the lock.
    let (bytes, checked) = {
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            let checked = door(&name, &bytes, now);
            (bytes, checked)
        })
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?
    };
    let mut inner = state.lock().await;
    let deposit = match checked {
        Ok(d) => d,
        Err(text) => {
            let siren = match parse_file_name(name) {
                Ok(FileName::Archive { siren, .. }) => siren,
                _ => String::new(),
            };
            inner.log(now, &siren, format!("Archive refusée à l'entrée : {text}"));
            state
                .save(&inner)
                .await
                .map_err(|e| Refusal::Internal(e.to_string()))?;
            return Err(Refusal::Door(text));
        }
    };
    let id = format!("{:08}", inner.next_number());
    if let Some(dir) = &state.0.dir {
        let path = dir.join("recus").join(format!("{id}.tar.gz"));
        crate::state::write_atomically(&path, &bytes)
            .await
            .map_err(|e| Refusal::Internal(e.to_string()))?;
    }
    inner.pending.push(PendingDeposit {
        id: id.clone(),
        name: name.to_owned(),
        received_at: now,
    });
    inner.log(
        now,
        &deposit.siren,
        format!("Archive « {name} » reçue : analyse en cours."),
    );
    state
        .save(&inner)
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?;
    drop(inner);
    let background = state.clone();
    state.spawn_background(async move {
        if !background.0.delay.is_zero() {
            tokio::time::sleep(background.0.delay).await;
        }
        analyse(&background, id, deposit).await;
    });
    Ok(())
}

/// After a restart: analyses the deposits accepted and not answered yet.
pub(crate) async fn resume(state: &SimState) {
    let (pending, dir) = {
        let inner = state.lock().await;
        (inner.pending.clone(), state.0.dir.clone())
    };
    let Some(dir) = dir else { return };
    for p in pending {
        let path = dir.join("recus").join(format!("{}.tar.gz", p.id));
        let deposit = match tokio::fs::read(&path).await {
            Ok(bytes) => door(&p.name, &bytes, p.received_at),
            Err(e) => Err(e.to_string()),
        };
        match deposit {
            Ok(deposit) => {
                let background = state.clone();
                state.spawn_background(async move {
                    analyse(&background, p.id, deposit).await;
                });
            }
            Err(e) => {
                tracing::error!(error = %e, archive = %p.name, "pending deposit lost");
                let mut inner = state.lock().await;
                inner.pending.retain(|q| q.id != p.id);
                let _ = state.save(&inner).await;
            }
        }
    }
}

/// An `AnomalieEnveloppe` to send.
struct EnvelopeProblem {
    nature: &'static str,
    detail: String,
}

/// What the checks without state found: the envelope and its messages, or why the envelope
/// is refused.
struct Checked {
    enveloppe: EnveloppeCl,
    /// Each message with its file name, in the envelope's order.
    messages: Vec<(String, Message)>,
    names: BTreeSet<String>,
}

/// The part of the analysis that needs no state (schema validation, parsing).
/// An envelope refused, with the envelope as read (if it could be).
struct Rejected {
    problem: EnvelopeProblem,
    recue: Option<EnveloppeCl>,
}

fn rejected(nature: &'static str, detail: String, recue: Option<EnveloppeCl>) -> Box<Rejected> {
    Box::new(Rejected {
        problem: EnvelopeProblem { nature, detail },
        recue,
    })
}

/// Files of an archive: name and bytes.
type Files = Vec<(String, Vec<u8>)>;

fn check(deposit: &Deposit) -> Result<Checked, Box<Rejected>> {
    let names: BTreeSet<String> = deposit.files.iter().map(|(n, _)| n.clone()).collect();
    let file = |n: &str| {
        deposit
            .files
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, b)| b.as_slice())
    };
    let archive = &deposit.name;
    let envelope_bytes = file(&deposit.envelope_name).unwrap_or_default();
    let parsed = match parse_message(envelope_bytes) {
        Ok(Message::EnveloppeCLMISILL(e)) => Some(e),
        _ => None,
    };
    if let Err(errors) = xsd::validate(envelope_bytes) {
        return Err(rejected(
            nature::ENVELOPPE_NON_CONFORME,
            format!(
                "{archive} -> l'enveloppe « {} » n'est pas conforme au schéma : {}",
                deposit.envelope_name,
                first(&errors)
            ),
            parsed,
        ));
    }
    let Some(enveloppe) = parsed else {
        return Err(rejected(
            nature::ENVELOPPE_NON_CONFORME,
            format!(
                "{archive} -> le fichier « {} » n'est pas une enveloppe EnveloppeCLMISILL",
                deposit.envelope_name
            ),
            None,
        ));
    };
    let refuse = |nature: &'static str, detail: String| {
        Err(rejected(
            nature,
            format!("{archive} -> {detail}"),
            Some(enveloppe.clone()),
        ))
    };
    if enveloppe.collectivite.siren != deposit.siren {
        return refuse(
            nature::SIREN,
            format!(
                "le SIREN de l'enveloppe ({}) n'est pas celui du nom de l'archive ({})",
                enveloppe.collectivite.siren, deposit.siren
            ),
        );
    }
    let mut messages = Vec::new();
    for name in &enveloppe.formulaires {
        let Some(bytes) = file(name) else {
            return refuse(
                nature::FICHIER_ABSENT,
                format!("le formulaire « {name} » annoncé par l'enveloppe est absent de l'archive"),
            );
        };
        if let Err(errors) = xsd::validate(bytes) {
            return refuse(
                nature::MESSAGE_NON_CONFORME,
                format!(
                    "le message « {name} » n'est pas conforme au schéma : {}",
                    first(&errors)
                ),
            );
        }
        let message = match parse_message(bytes) {
            Ok(m) => m,
            Err(e) => {
                return refuse(
                    nature::MESSAGE_NON_CONFORME,
                    format!("le message « {name} » est illisible : {e}"),
                );
            }
        };
        if !from_collectivite(&message) {
            return refuse(
                nature::MESSAGE_NON_CONFORME,
                format!(
                    "le message « {name} » ({}) n'est pas un message qu'une collectivité peut envoyer",
                    message.root()
                ),
            );
        }
        if !matches!(message, Message::Acte(_)) {
            if let Err(why) = check_message_name(name, &message, &enveloppe.collectivite) {
                return refuse(nature::MESSAGE_NON_CONFORME, why);
            }
            for doc in message.documents() {
                if !names.contains(doc) {
                    return refuse(
                        nature::FICHIER_ABSENT,
                        format!(
                            "le document « {doc} » du message « {name} » est absent de l'archive"
                        ),
                    );
                }
            }
        }
        messages.push((name.clone(), message));
    }
    Ok(Checked {
        enveloppe,
        messages,
        names,
    })
}

fn first(errors: &[String]) -> String {
    errors
        .first()
        .cloned()
        .unwrap_or_else(|| "erreur inconnue".into())
}

fn from_collectivite(m: &Message) -> bool {
    matches!(
        m,
        Message::Acte(_)
            | Message::ReponseCourrierSimple { .. }
            | Message::ARDemandePieceComplementaire { .. }
            | Message::RefusPieceComplementaire { .. }
            | Message::PieceComplementaire { .. }
            | Message::ARLettreObservations { .. }
            | Message::RejetLettreObservations { .. }
            | Message::ReponseLettreObservations { .. }
            | Message::Annulation { .. }
            | Message::DemandeClassification { .. }
    )
}

/// A message other than an acte is named `{base of the acte, with its code}_{n}.xml`, a
/// classification request `{dept}-{SIREN}----7-1_{n}.xml`.
fn check_message_name(name: &str, m: &Message, c: &Collectivite) -> Result<(), String> {
    let bad = |why: &str| format!("le message « {name} » est mal nommé : {why}");
    let Ok(FileName::Message { base, .. }) = parse_file_name(name) else {
        return Err(bad("il ne suit pas le nommage @CTES"));
    };
    if Some(base.code) != m.code() {
        let (t, s) = m.code().unwrap_or_default();
        return Err(bad(&format!(
            "le code {t}-{s} est attendu pour {}",
            m.root()
        )));
    }
    if base.siren != c.siren || base.departement != c.departement {
        return Err(bad(
            "le département ou le SIREN n'est pas celui de l'enveloppe",
        ));
    }
    if let Some(id) = m.id_acte() {
        let (Some(date), Some(nat)) = (base.date, base.nature) else {
            return Err(bad("l'identifiant de l'acte manque"));
        };
        let named = format!(
            "{}-{}-{}-{}-{}",
            base.departement,
            base.siren,
            compact_date(date),
            base.numero,
            nat.abbrev()
        );
        if named != id {
            return Err(bad(&format!("il ne désigne pas l'acte {id}")));
        }
    }
    Ok(())
}

/// A return archive to deliver.
struct Outgoing {
    /// Archive name.
    nom: String,
    siren: String,
    message_root: String,
    files: Files,
    /// The journal line.
    log: String,
}

/// The analysis of a deposit: decides, answers, updates the state.
async fn analyse(state: &SimState, pending_id: String, deposit: Deposit) {
    let checked = {
        // Schema validation is CPU work: off the async threads.
        let result = tokio::task::spawn_blocking(move || {
            let checked = check(&deposit);
            (deposit, checked)
        })
        .await;
        match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "analysis of a deposit failed");
                return;
            }
        }
    };
    let (deposit, checked) = checked;
    let mut inner = state.lock().await;
    let when = When {
        now: state.now(),
        today: state.today(),
    };
    let today = when.today;
    let outgoing = match checked {
        Ok(checked) => decide(&mut inner, &deposit, checked, when),
        Err(rejected) => vec![anomalie_enveloppe(
            &deposit.siren,
            &deposit.envelope_name,
            rejected.recue,
            rejected.problem.nature,
            rejected.problem.detail,
            today,
        )],
    };
    for out in outgoing {
        let bytes = match bouquet_format_actes::pack(&out.files) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, archive = %out.nom, "return archive not packed");
                continue;
            }
        };
        if let Err(e) = state
            .deliver(&mut inner, out.nom, &out.siren, &out.message_root, bytes)
            .await
        {
            tracing::error!(error = %e, "return archive not delivered");
            continue;
        }
        let now = state.now();
        inner.log(now, &out.siren, out.log);
    }
    inner.pending.retain(|p| p.id != pending_id);
    if let Err(e) = state.save(&inner).await {
        tracing::error!(error = %e, "state not saved");
    }
    drop(inner);
    if let Some(dir) = &state.0.dir {
        let _ =
            tokio::fs::remove_file(dir.join("recus").join(format!("{pending_id}.tar.gz"))).await;
    }
}

/// Builds a message and checks it against the schema: the simulator must not be wrong.
fn build_checked(m: &Message) -> Result<Vec<u8>, Error> {
    let xml = bouquet_format_actes::build(m)?;
    if let Err(errors) = xsd::validate(&xml) {
        return Err(Error::Format(FormatError::Rule(format!(
            "le message {} produit n'est pas conforme au schéma : {}",
            m.root(),
            first(&errors)
        ))));
    }
    Ok(xml)
}

/// The envelope of the préfecture around a message (and its documents).
fn return_archive(
    inner: &mut Inner,
    c: &Collectivite,
    today: Date,
    message_name: String,
    message: &Message,
    documents: Files,
) -> Result<(String, Files), Error> {
    let xml = build_checked(message)?;
    let serial = inner.next_serial(format!(
        "SPREF{}{}-{}-{}",
        c.departement,
        c.arrondissement,
        c.siren,
        compact_date(today)
    ));
    let envelope_name =
        enveloppe_pref_name(&c.departement, c.arrondissement, &c.siren, today, serial);
    let envelope = Message::EnveloppeMISILLCL(EnveloppePref {
        emetteur: EmetteurPref::SousPrefecture {
            departement: c.departement.clone(),
            arrondissement: c.arrondissement,
        },
        referent: Some(Referent {
            nom: Some("Simulateur de préfecture".into()),
            telephone: None,
            email: None,
        }),
        formulaires: vec![message_name.clone()],
        destinataire_siren: c.siren.clone(),
    });
    let envelope_xml = build_checked(&envelope)?;
    let nom = format!("{}.tar.gz", envelope_name.trim_end_matches(".xml"));
    let mut files = vec![(envelope_name, envelope_xml), (message_name, xml)];
    files.extend(documents);
    Ok((nom, files))
}

/// An `AnomalieEnveloppe` archive (`ANO_{envelope}.xml` alone). `recue` is the envelope as
/// read; when it is missing or cannot be written back, one is made from the SIREN.
fn anomalie_enveloppe(
    siren: &str,
    envelope_name: &str,
    recue: Option<EnveloppeCl>,
    nature: &str,
    detail: String,
    today: Date,
) -> Outgoing {
    let message = |e: EnveloppeCl| Message::AnomalieEnveloppe {
        date: today,
        nature: nature.to_owned(),
        detail: Some(detail.clone()),
        enveloppe_recue: e,
    };
    let fallback = EnveloppeCl {
        collectivite: Collectivite {
            siren: siren.to_owned(),
            departement: "000".into(),
            arrondissement: 0,
            nature: "00".into(),
        },
        referent: None,
        adresses_retour: vec!["inconnu@example.fr".into()],
        formulaires: vec![envelope_name.to_owned()],
    };
    let xml = recue
        .and_then(|e| bouquet_format_actes::build(&message(e)).ok())
        .or_else(|| bouquet_format_actes::build(&message(fallback)).ok())
        .unwrap_or_default();
    let name = anomalie_name(envelope_name);
    Outgoing {
        nom: format!("{}.tar.gz", name.trim_end_matches(".xml")),
        siren: siren.to_owned(),
        message_root: "AnomalieEnveloppe".into(),
        files: vec![(name, xml)],
        log: format!("Anomalie d'enveloppe {nature} envoyée : {detail}"),
    }
}

/// The moment of an analysis or an action.
#[derive(Clone, Copy)]
struct When {
    now: Timestamp,
    today: Date,
}

/// Answers each message of a valid envelope.
fn decide(inner: &mut Inner, deposit: &Deposit, checked: Checked, when: When) -> Vec<Outgoing> {
    let c = checked.enveloppe.collectivite.clone();
    inner.last_envelopes.insert(
        c.siren.clone(),
        (deposit.envelope_name.clone(), checked.enveloppe.clone()),
    );
    let mut out = Vec::new();
    for (name, message) in checked.messages {
        let result = match &message {
            Message::Acte(acte) => {
                answer_acte(inner, deposit, &checked.names, &c, &name, acte, when)
            }
            Message::Annulation { id_acte } => answer_annulation(inner, &c, id_acte, when),
            Message::DemandeClassification {
                date_classification,
            } => answer_classification(inner, &c, *date_classification, when),
            other => answer_reply(inner, &c, &name, other, when),
        };
        let refused = |nature: &'static str, detail: String| {
            (nature, format!("{} -> {detail}", deposit.name))
        };
        let (nature, detail) = match result {
            Ok(Answer::Return(o)) => {
                out.push(o);
                continue;
            }
            Ok(Answer::None) => continue,
            Ok(Answer::Refused { nature, detail }) => refused(nature, detail),
            Err(e) => {
                tracing::error!(error = %e, message = %name, "answer not built");
                refused(
                    nature::MESSAGE_NON_CONFORME,
                    format!("le message « {name} » n'a pas pu être traité : {e}"),
                )
            }
        };
        out.push(anomalie_enveloppe(
            &c.siren,
            &deposit.envelope_name,
            Some(checked.enveloppe.clone()),
            nature,
            detail,
            when.today,
        ));
    }
    out
}

enum Answer {
    Return(Outgoing),
    /// Stored, nothing to send back.
    None,
    /// Answered by an `AnomalieEnveloppe`.
    Refused {
        nature: &'static str,
        detail: String,
    },
}

/// The first problem of an acte, as an `AnomalieActe` (nature, detail).
fn acte_problem(
    inner: &Inner,
    names: &BTreeSet<String>,
    c: &Collectivite,
    name: &str,
    acte: &DonneesActe,
) -> Option<(&'static str, String)> {
    let id = match IdActe::new(
        &c.departement,
        &c.siren,
        acte.date,
        &acte.numero_interne,
        acte.nature,
    ) {
        Ok(id) => id.to_string(),
        Err(e) => return Some((nature::ACTE_NON_CONFORME, e.to_string())),
    };
    let base = TransactionBase::new(
        &c.departement,
        &c.siren,
        acte.date,
        &acte.numero_interne,
        acte.nature,
        (1, 1),
    );
    let expected = base.message_name();
    if name != expected {
        return Some((
            nature::ACTE_NON_CONFORME,
            format!("Le message « {name} » devrait s'appeler « {expected} »."),
        ));
    }
    let pieces = std::iter::once(&acte.document).chain(acte.annexes.iter());
    for (i, piece) in pieces.enumerate() {
        let n = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        let what = if n == 1 {
            "Le document principal".to_owned()
        } else {
            format!("L'annexe n° {}", n - 1)
        };
        match parse_file_name(piece) {
            Ok(FileName::Piece {
                type_pj,
                base: b,
                n: m,
                ..
            }) if b == base && m == n => match type_pj {
                None => {
                    return Some((
                        nature::ACTE_NON_CONFORME,
                        format!("{what} « {piece} » n'a pas de typologie de pièce."),
                    ));
                }
                Some(t) if !classification().typology_allowed(acte.nature, &t) => {
                    return Some((
                        nature::ACTE_NON_CONFORME,
                        format!(
                            "{what} « {piece} » a une typologie ({t}) qui n'est pas admise pour la nature {}.",
                            acte.nature.abbrev()
                        ),
                    ));
                }
                Some(_) => {}
            },
            _ => {
                return Some((
                    nature::ACTE_NON_CONFORME,
                    format!(
                        "{what} « {piece} » est mal nommé (attendu : {{typologie}}-{base}_{n}.{{extension}})."
                    ),
                ));
            }
        }
        if !names.contains(piece.as_str()) {
            return Some((
                nature::ACTE_NON_CONFORME,
                format!("{what} « {piece} » est absent de l'archive."),
            ));
        }
    }
    if let Err(e) = classification().check_matieres(&acte.matieres) {
        return Some((nature::ACTE_NON_CONFORME, e.to_string()));
    }
    if let Some(earlier) = inner.acquitted(&id) {
        let when = match earlier.state {
            ActeState::Acquitte { date_reception } | ActeState::Annule { date_reception } => {
                format!(" le {}", bouquet_format_actes::french_date(date_reception))
            }
            ActeState::Anomalie { .. } => String::new(),
        };
        return Some((
            nature::DOUBLON,
            format!("L'acte {id} a déjà été transmis et acquitté{when}."),
        ));
    }
    if acte.classification_date != inner.classification_date {
        return Some((nature::CLASSIFICATION, DETAIL_CLASSIFICATION.into()));
    }
    None
}

/// The base of the files about an acte, with a message code.
fn acte_base(r: &Received, code: (u8, u8)) -> TransactionBase {
    TransactionBase::new(
        &r.collectivite.departement,
        &r.collectivite.siren,
        r.acte.date,
        &r.acte.numero_interne,
        r.acte.nature,
        code,
    )
}

fn code_text(code: (u8, u8)) -> String {
    format!("{}-{}", code.0, code.1)
}

fn answer_acte(
    inner: &mut Inner,
    deposit: &Deposit,
    names: &BTreeSet<String>,
    c: &Collectivite,
    name: &str,
    acte: &DonneesActe,
    when: When,
) -> Result<Answer, Error> {
    let id_acte = format!(
        "{}-{}-{}-{}-{}",
        c.departement,
        c.siren,
        compact_date(acte.date),
        acte.numero_interne,
        acte.nature.abbrev()
    );
    let problem = acte_problem(inner, names, c, name, acte);
    let current = inner.classification_date;
    let today = when.today;
    let (message, code, label, log, state) = match problem {
        None => (
            Message::ARActe {
                id_acte: id_acte.clone(),
                date_reception: today,
                acte_recu: acte.clone(),
                classification_date_en_cours: current,
            },
            (1, 2),
            "Accusé de réception (ARActe)",
            format!("Acte {id_acte} acquitté (ARActe)."),
            ActeState::Acquitte {
                date_reception: today,
            },
        ),
        Some((nature, detail)) => (
            Message::AnomalieActe {
                date: today,
                nature: nature.to_owned(),
                detail: Some(detail.clone()),
                acte_recu: acte.clone(),
                classification_date_en_cours: current,
            },
            (1, 3),
            "Anomalie de l'acte (AnomalieActe)",
            format!("Acte {id_acte} : anomalie {nature} envoyée ({detail})"),
            ActeState::Anomalie {
                nature: nature.to_owned(),
                detail,
            },
        ),
    };
    let n = inner.next_number();
    let message_name = if bouquet_format_actes::check_numero_interne(&acte.numero_interne).is_ok() {
        let base = TransactionBase::new(
            &c.departement,
            &c.siren,
            acte.date,
            &acte.numero_interne,
            acte.nature,
            code,
        );
        format!("{base}_{n}.xml")
    } else {
        // As in the real anomaly of STELA's sample: an empty base.
        format!(
            "{}-{}----{}-{}_{n}.xml",
            c.departement, c.siren, code.0, code.1
        )
    };
    let (nom, files) = return_archive(inner, c, today, message_name.clone(), &message, Vec::new())?;
    let detail = match &state {
        ActeState::Anomalie { detail, .. } => Some(detail.clone()),
        _ => None,
    };
    inner.received.push(Received {
        id_acte,
        collectivite: c.clone(),
        acte: acte.clone(),
        archive: deposit.name.clone(),
        received_at: deposit.received_at,
        state,
        exchanges: vec![Exchange {
            at: when.now,
            code: code_text(code),
            label: label.into(),
            from_prefecture: true,
            date_courrier_pref: None,
            detail,
            files: vec![message_name],
        }],
    });
    Ok(Answer::Return(Outgoing {
        nom,
        siren: c.siren.clone(),
        message_root: message.root().to_owned(),
        files,
        log,
    }))
}

fn answer_annulation(
    inner: &mut Inner,
    c: &Collectivite,
    id_acte: &str,
    when: When,
) -> Result<Answer, Error> {
    let Some(received) = inner
        .acquitted(id_acte)
        .filter(|r| r.collectivite.siren == c.siren)
        .cloned()
    else {
        return Ok(Answer::Refused {
            nature: nature::TRANSACTION_INCONNUE,
            detail: format!("annulation d'un acte inconnu ou non acquitté : {id_acte}"),
        });
    };
    // A second request for the same acte gets the same answer.
    let date_reception = match received.state {
        ActeState::Annule { date_reception } => date_reception,
        _ => when.today,
    };
    let message = Message::ARAnnulation {
        id_acte: id_acte.to_owned(),
        date_reception,
    };
    let n = inner.next_number();
    let message_name = format!("{}_{n}.xml", acte_base(&received, (6, 2)));
    let (nom, files) = return_archive(
        inner,
        &received.collectivite,
        when.today,
        message_name.clone(),
        &message,
        Vec::new(),
    )?;
    if let Some(r) = inner.acquitted_mut(id_acte) {
        r.state = ActeState::Annule { date_reception };
        r.exchanges.push(Exchange {
            at: when.now,
            code: "6-1".into(),
            label: "Annulation".into(),
            from_prefecture: false,
            date_courrier_pref: None,
            detail: None,
            files: Vec::new(),
        });
        r.exchanges.push(Exchange {
            at: when.now,
            code: "6-2".into(),
            label: "Accusé de réception de l'annulation (ARAnnulation)".into(),
            from_prefecture: true,
            date_courrier_pref: None,
            detail: None,
            files: vec![message_name],
        });
    }
    Ok(Answer::Return(Outgoing {
        nom,
        siren: c.siren.clone(),
        message_root: message.root().to_owned(),
        files,
        log: format!("Annulation de l'acte {id_acte} acquittée (ARAnnulation)."),
    }))
}

fn answer_classification(
    inner: &mut Inner,
    c: &Collectivite,
    held: Option<Date>,
    when: When,
) -> Result<Answer, Error> {
    let current = inner.classification_date;
    let n = inner.next_number();
    let (message, code, log) = if held == Some(current) {
        (
            Message::ReponseClassificationSansChangement {
                date_classification: current,
            },
            (7, 3),
            format!("Classification demandée : déjà à jour ({current})."),
        )
    } else {
        let mut classification = classification().clone();
        classification.date = current;
        (
            Message::RetourClassification(classification),
            (7, 2),
            format!("Classification du {current} envoyée (RetourClassification)."),
        )
    };
    let message_name = format!(
        "{}-{}----{}-{}_{n}.xml",
        c.departement, c.siren, code.0, code.1
    );
    let (nom, files) = return_archive(inner, c, when.today, message_name, &message, Vec::new())?;
    Ok(Answer::Return(Outgoing {
        nom,
        siren: c.siren.clone(),
        message_root: message.root().to_owned(),
        files,
        log,
    }))
}

/// French label of a reply of the collectivité.
fn reply_label(m: &Message) -> &'static str {
    match m {
        Message::ReponseCourrierSimple { .. } => "Réponse au courrier simple",
        Message::ARDemandePieceComplementaire { .. } => {
            "Accusé de réception de la demande de pièces"
        }
        Message::RefusPieceComplementaire { .. } => "Refus d'envoyer les pièces complémentaires",
        Message::PieceComplementaire { .. } => "Pièces complémentaires",
        Message::ARLettreObservations { .. } => "Accusé de réception de la lettre d'observations",
        Message::RejetLettreObservations { .. } => "Rejet de la lettre d'observations",
        Message::ReponseLettreObservations { .. } => "Réponse à la lettre d'observations",
        _ => "Message",
    }
}

fn answer_reply(
    inner: &mut Inner,
    c: &Collectivite,
    name: &str,
    m: &Message,
    when: When,
) -> Result<Answer, Error> {
    let courrier = match m {
        Message::ReponseCourrierSimple { courrier, .. }
        | Message::ARDemandePieceComplementaire { courrier }
        | Message::RefusPieceComplementaire { courrier, .. }
        | Message::PieceComplementaire { courrier, .. }
        | Message::ARLettreObservations { courrier }
        | Message::RejetLettreObservations { courrier, .. }
        | Message::ReponseLettreObservations { courrier, .. } => courrier.clone(),
        other => {
            return Ok(Answer::Refused {
                nature: nature::MESSAGE_NON_CONFORME,
                detail: format!("message « {} » non attendu", other.root()),
            });
        }
    };
    let Some(received) = inner
        .acquitted(&courrier.id_acte)
        .filter(|r| r.collectivite.siren == c.siren)
        .cloned()
    else {
        return Ok(Answer::Refused {
            nature: nature::TRANSACTION_INCONNUE,
            detail: format!(
                "le message « {name} » concerne un acte inconnu ou non acquitté : {}",
                courrier.id_acte
            ),
        });
    };
    let code = m.code().unwrap_or_default();
    let mut files = vec![name.to_owned()];
    files.extend(m.documents().into_iter().map(str::to_owned));
    let reply = Exchange {
        at: when.now,
        code: code_text(code),
        label: reply_label(m).into(),
        from_prefecture: false,
        date_courrier_pref: Some(courrier.date_courrier_pref),
        detail: None,
        files,
    };
    let ar = match m {
        Message::RefusPieceComplementaire { .. } | Message::PieceComplementaire { .. } => Some((
            Message::ARPieceComplementaire {
                date_reception: when.today,
                courrier: courrier.clone(),
            },
            (3, 5),
            "Accusé de réception des pièces complémentaires",
        )),
        Message::RejetLettreObservations { .. } | Message::ReponseLettreObservations { .. } => {
            Some((
                Message::ARReponseRejetLettreObservations {
                    date_reception: when.today,
                    courrier: courrier.clone(),
                },
                (4, 5),
                "Accusé de réception de la réponse à la lettre d'observations",
            ))
        }
        _ => None,
    };
    let log = format!(
        "Reçu de la collectivité pour l'acte {} : {} ({}).",
        courrier.id_acte,
        reply_label(m).to_lowercase(),
        code_text(code)
    );
    let Some((ar, ar_code, ar_label)) = ar else {
        if let Some(r) = inner.acquitted_mut(&courrier.id_acte) {
            r.exchanges.push(reply);
        }
        inner.log(when.now, &c.siren, log);
        return Ok(Answer::None);
    };
    let n = inner.next_number();
    let message_name = format!("{}_{n}.xml", acte_base(&received, ar_code));
    let (nom, archive_files) = return_archive(
        inner,
        &received.collectivite,
        when.today,
        message_name.clone(),
        &ar,
        Vec::new(),
    )?;
    if let Some(r) = inner.acquitted_mut(&courrier.id_acte) {
        r.exchanges.push(reply);
        r.exchanges.push(Exchange {
            at: when.now,
            code: code_text(ar_code),
            label: ar_label.into(),
            from_prefecture: true,
            date_courrier_pref: Some(courrier.date_courrier_pref),
            detail: None,
            files: vec![message_name],
        });
    }
    inner.log(when.now, &c.siren, log);
    Ok(Answer::Return(Outgoing {
        nom,
        siren: c.siren.clone(),
        message_root: ar.root().to_owned(),
        files: archive_files,
        log: format!("{ar_label} envoyé pour l'acte {}.", courrier.id_acte),
    }))
}

// ---------------------------------------------------------------------------------------
// The préfecture's own actions
// ---------------------------------------------------------------------------------------

/// The letters the préfecture sends about an acquitted acte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LetterKind {
    /// 2-1 `CourrierSimple` (no answer expected).
    CourrierSimple,
    /// 3-1 `DemandePieceComplementaire`.
    DemandePieces,
    /// 4-1 `LettreObservations`.
    LettreObservations,
    /// 5-1 `DefereTA` (no answer expected).
    Defere,
}

/// Longest text of a letter's field.
pub const TEXT_MAX: usize = 2000;

impl LetterKind {
    pub fn code(self) -> (u8, u8) {
        match self {
            LetterKind::CourrierSimple => (2, 1),
            LetterKind::DemandePieces => (3, 1),
            LetterKind::LettreObservations => (4, 1),
            LetterKind::Defere => (5, 1),
        }
    }

    /// Title of the letter ("Lettre d'observations").
    pub fn title(self) -> &'static str {
        match self {
            LetterKind::CourrierSimple => "Courrier simple",
            LetterKind::DemandePieces => "Demande de pièces complémentaires",
            LetterKind::LettreObservations => "Lettre d'observations",
            LetterKind::Defere => "Déféré au tribunal administratif",
        }
    }

    /// "Lettre d'observations envoyée".
    pub fn sent(self) -> &'static str {
        match self {
            LetterKind::CourrierSimple => "Courrier simple envoyé",
            LetterKind::DemandePieces => "Demande de pièces complémentaires envoyée",
            LetterKind::LettreObservations => "Lettre d'observations envoyée",
            LetterKind::Defere => "Déféré au tribunal administratif notifié",
        }
    }

    /// What the text is ("Motif").
    pub fn field(self) -> &'static str {
        match self {
            LetterKind::CourrierSimple => "Texte du courrier",
            LetterKind::DemandePieces => "Description des pièces demandées",
            LetterKind::LettreObservations => "Motif",
            LetterKind::Defere => "Nature de l'illégalité",
        }
    }

    fn paragraphs(self, text: &str) -> Vec<String> {
        let mut p = match self {
            LetterKind::CourrierSimple => vec![],
            LetterKind::DemandePieces => vec![
                "Pour exercer le contrôle de légalité de l'acte cité en référence, je vous prie de me transmettre les pièces suivantes :".to_owned(),
            ],
            LetterKind::LettreObservations => vec![
                "L'examen de l'acte cité en référence appelle de ma part les observations suivantes :".to_owned(),
            ],
            LetterKind::Defere => vec![
                "J'ai l'honneur de vous informer que je défère l'acte cité en référence au tribunal administratif, pour le motif suivant :".to_owned(),
            ],
        };
        p.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
        match self {
            LetterKind::DemandePieces | LetterKind::LettreObservations => p.push(
                "Je vous remercie de me répondre par l'intermédiaire de votre dispositif de télétransmission.".to_owned(),
            ),
            LetterKind::CourrierSimple | LetterKind::Defere => {}
        }
        p
    }
}

/// Checks the text of a letter's field: 1 to 2,000 characters, no control character.
pub fn check_text(kind: LetterKind, text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Invalid(format!(
            "{} : ce champ est obligatoire.",
            kind.field()
        )));
    }
    if text.chars().count() > TEXT_MAX {
        return Err(Error::Invalid(format!(
            "{} : {TEXT_MAX} caractères au plus.",
            kind.field()
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Error::Invalid(format!(
            "{} : caractère de contrôle non admis.",
            kind.field()
        )));
    }
    Ok(text.replace("\r\n", "\n"))
}

/// Sends a letter (with its PDF) about an acquitted acte; returns the mailbox id.
pub(crate) async fn send_letter(
    state: &SimState,
    id_acte: &str,
    kind: LetterKind,
    text: &str,
) -> Result<String, Error> {
    let text = check_text(kind, text)?;
    let received = {
        let inner = state.lock().await;
        inner
            .acquitted(id_acte)
            .filter(|r| r.is_acquitted())
            .cloned()
            .ok_or_else(|| Error::UnknownActe(id_acte.to_owned()))?
    };
    let when = When {
        now: state.now(),
        today: state.today(),
    };
    let c = &received.collectivite;
    let letter = Letter {
        kind: kind.title().to_owned(),
        departement: c.departement.clone(),
        arrondissement: c.arrondissement.to_string(),
        siren: c.siren.clone(),
        id_acte: id_acte.to_owned(),
        objet: received.acte.objet.clone(),
        date: when.today,
        paragraphs: kind.paragraphs(&text),
    };
    let pdf = tokio::task::spawn_blocking(move || letter::render(&letter))
        .await
        .map_err(|e| Error::Pdf(e.to_string()))?
        .map_err(|e| Error::Pdf(e.to_string()))?;
    let mut inner = state.lock().await;
    if !inner.acquitted(id_acte).is_some_and(Received::is_acquitted) {
        return Err(Error::UnknownActe(id_acte.to_owned()));
    }
    let code = kind.code();
    let base = acte_base(&received, code);
    let n = inner.next_number();
    let message_name = format!("{base}_{n}.xml");
    let p = inner.next_number();
    let pdf_name = format!("{base}_{p}.pdf");
    let courrier = CourrierPref {
        id_acte: id_acte.to_owned(),
        date_courrier_pref: when.today,
    };
    let message = match kind {
        LetterKind::CourrierSimple => Message::CourrierSimple {
            courrier,
            document: pdf_name.clone(),
        },
        LetterKind::DemandePieces => Message::DemandePieceComplementaire {
            courrier,
            description_pieces: text.clone(),
            document: pdf_name.clone(),
        },
        LetterKind::LettreObservations => Message::LettreObservations {
            courrier,
            motif: text.clone(),
            document: pdf_name.clone(),
        },
        LetterKind::Defere => Message::DefereTA {
            id_acte: id_acte.to_owned(),
            date_depot: when.today,
            nature_illegalite: text.clone(),
            pieces_jointes: vec![pdf_name.clone()],
        },
    };
    let (nom, files) = return_archive(
        &mut inner,
        c,
        when.today,
        message_name.clone(),
        &message,
        vec![(pdf_name.clone(), pdf)],
    )?;
    let bytes = bouquet_format_actes::pack(&files)?;
    let id = state
        .deliver(&mut inner, nom, &c.siren, message.root(), bytes)
        .await?;
    if let Some(r) = inner.acquitted_mut(id_acte) {
        r.exchanges.push(Exchange {
            at: when.now,
            code: code_text(code),
            label: kind.title().into(),
            from_prefecture: true,
            date_courrier_pref: Some(when.today),
            detail: (kind != LetterKind::CourrierSimple).then(|| text.clone()),
            files: vec![message_name, pdf_name],
        });
    }
    inner.log(
        when.now,
        &c.siren,
        format!("{} pour l'acte {id_acte}.", kind.sent()),
    );
    state.save(&inner).await?;
    Ok(id)
}

pub(crate) async fn set_unavailable(state: &SimState, unavailable: bool) -> Result<(), Error> {
    let mut inner = state.lock().await;
    inner.unavailable = unavailable;
    let now = state.now();
    inner.log(
        now,
        "",
        if unavailable {
            "Préfecture rendue indisponible : les dépôts sont refusés (503)."
        } else {
            "Préfecture de nouveau disponible."
        },
    );
    state.save(&inner).await
}

/// A new classification: dated today, or the day after the current one if that is later.
pub(crate) async fn bump_classification(state: &SimState) -> Result<Date, Error> {
    let today = state.today();
    let mut inner = state.lock().await;
    let next = inner
        .classification_date
        .tomorrow()
        .unwrap_or(inner.classification_date)
        .max(today);
    inner.classification_date = next;
    let now = state.now();
    inner.log(
        now,
        "",
        format!("Nouvelle classification publiée, datée du {next}."),
    );
    state.save(&inner).await?;
    Ok(next)
}

/// An `AnomalieEnveloppe` of Nature 999 for a SIREN, about its last envelope (or one made up
/// when none was received).
pub(crate) async fn send_out_of_norm(state: &SimState, siren: &str) -> Result<String, Error> {
    let siren = siren.trim();
    bouquet_format_actes::check_siren(siren).map_err(|e| Error::Invalid(e.to_string()))?;
    let today = state.today();
    let mut inner = state.lock().await;
    let (envelope_name, recue) = match inner.last_envelopes.get(siren) {
        Some((name, e)) => (name.clone(), Some(e.clone())),
        None => (bouquet_format_actes::enveloppe_name(siren, today, 1), None),
    };
    let out = anomalie_enveloppe(
        siren,
        &envelope_name,
        recue,
        nature::HORS_NORME,
        DETAIL_HORS_NORME.to_owned(),
        today,
    );
    let bytes = bouquet_format_actes::pack(&out.files)?;
    let id = state
        .deliver(&mut inner, out.nom, siren, &out.message_root, bytes)
        .await?;
    let now = state.now();
    inner.log(now, siren, "Message hors norme (Nature 999) envoyé.");
    state.save(&inner).await?;
    Ok(id)
}
