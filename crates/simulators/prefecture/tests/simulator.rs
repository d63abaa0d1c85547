//! The simulator over real HTTP on a random port: deposits built as Bouquet builds them, the
//! answers read back from the mailbox, and every message it emits checked by the real
//! `xmllint` against the project's copy of the *avec typologie* XSD (except the deliberate
//! out-of-norm message, which xmllint must refuse).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bouquet_format_actes::{
    Collectivite, CourrierPref, DonneesActe, EnveloppeCl, FileName, Limits, Message, Nature,
    Referent, TransactionBase, archive_name, enveloppe_name, pack, parse_file_name, parse_message,
    unpack,
};
use bouquet_kernel::clock::ManualClock;
use bouquet_pdfdoc::testing::{TempPdf, flat, run, stdout};
use bouquet_sim_prefecture::{ActeState, Config, Simulator, spawn};
use jiff::civil::{Date, date};

const SIREN: &str = "213500051";
const CLASSIFICATION: Date = date(2019, 4, 18);
/// The manual clock's "today" in Europe/Paris.
const TODAY: Date = date(2026, 11, 23);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-11-23T09:00:00Z".parse().unwrap()))
}

fn config(dir: Option<&Path>) -> Config {
    Config {
        dir: dir.map(Path::to_path_buf),
        clock: clock(),
        ..Config::default()
    }
}

async fn start(config: Config) -> Simulator {
    spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../standards/actes/xsd/ministere-v1.1-avec-typologie/actesv1_1.xsd")
}

/// The real `xmllint --noout --schema` on the bytes: (valid, what it printed).
fn xmllint(xml: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("message.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .arg(&file)
        .output()
        .expect("xmllint is installed (libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every XML file of a return archive passes xmllint.
fn assert_all_valid(files: &[(String, Vec<u8>)]) {
    let mut seen = 0;
    for (name, bytes) in files {
        if name.ends_with(".xml") {
            let (ok, out) = xmllint(bytes);
            assert!(
                ok,
                "xmllint refuses {name}: {out}\n{}",
                String::from_utf8_lossy(bytes)
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no XML in {files:?}");
}

fn collectivite() -> Collectivite {
    Collectivite {
        siren: SIREN.into(),
        departement: "035".into(),
        arrondissement: 1,
        nature: "31".into(),
    }
}

fn base(numero: &str, code: (u8, u8)) -> TransactionBase {
    TransactionBase::new("035", SIREN, date(2026, 11, 20), numero, Nature::DE, code)
}

fn id_acte(numero: &str) -> String {
    format!("035-{SIREN}-20261120-{numero}-DE")
}

fn acte(numero: &str, classification: Date) -> DonneesActe {
    DonneesActe {
        date: date(2026, 11, 20),
        numero_interne: numero.into(),
        nature: Nature::DE,
        matieres: vec![1, 1],
        objet: "Marché de travaux de l'école – attribution".into(),
        precedent_id_acte: None,
        classification_date: classification,
        document: base(numero, (1, 1)).piece_name(Some("99_DE"), 1, "pdf"),
        annexes: vec![base(numero, (1, 1)).piece_name(Some("31_DP"), 2, "pdf")],
        document_papier: Some(false),
    }
}

fn envelope(formulaires: Vec<String>) -> Message {
    Message::EnveloppeCLMISILL(EnveloppeCl {
        collectivite: collectivite(),
        referent: Some(Referent {
            nom: Some("Secrétariat de mairie".into()),
            telephone: None,
            email: Some("mairie@retiers.example.fr".into()),
        }),
        adresses_retour: vec!["actes@bouquet.example.fr".into()],
        formulaires,
    })
}

const PDF: &[u8] = b"%PDF-1.4\n% document de test\n%%EOF\n";

/// An archive as Bouquet builds it: (name, bytes), with the message and its documents.
fn archive(
    serial: u32,
    message_name: String,
    message: &Message,
    docs: &[String],
) -> (String, Vec<u8>) {
    let env_name = enveloppe_name(SIREN, TODAY, serial);
    let mut files = vec![
        (
            env_name,
            envelope(vec![message_name.clone()]).to_xml().unwrap(),
        ),
        (message_name, message.to_xml().unwrap()),
    ];
    for d in docs {
        files.push((d.clone(), PDF.to_vec()));
    }
    (
        archive_name("BQT", SIREN, TODAY, serial),
        pack(&files).unwrap(),
    )
}

fn acte_archive(serial: u32, acte: &DonneesActe) -> (String, Vec<u8>) {
    let name = base(&acte.numero_interne, (1, 1)).message_name();
    let mut docs = vec![acte.document.clone()];
    docs.extend(acte.annexes.iter().cloned());
    archive(serial, name, &Message::Acte(acte.clone()), &docs)
}

async fn deposit(
    sim: &Simulator,
    (name, bytes): (String, Vec<u8>),
    token: Option<&str>,
) -> (u16, String) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.clone())
        .mime_str("application/gzip")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", name)
        .part("file", part);
    let mut request = reqwest::Client::new()
        .post(sim.url().join("actes/depot").unwrap())
        .multipart(form);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[derive(serde::Deserialize, Debug)]
struct Listed {
    id: String,
    nom: String,
    taille: u64,
}

async fn list(sim: &Simulator) -> Vec<Listed> {
    let response = reqwest::get(sim.url().join("actes/retours").unwrap())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

async fn fetch(sim: &Simulator, id: &str) -> Vec<u8> {
    let response = reqwest::get(sim.url().join(&format!("actes/retours/{id}")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/gzip"
    );
    response.bytes().await.unwrap().to_vec()
}

async fn delete(sim: &Simulator, id: &str) -> u16 {
    reqwest::Client::new()
        .delete(sim.url().join(&format!("actes/retours/{id}")).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Takes the oldest return out of the mailbox (read, then deleted as the service does):
/// its name and files.
async fn take(sim: &Simulator) -> (String, Vec<(String, Vec<u8>)>) {
    sim.idle().await;
    let listed = list(sim).await;
    let first = listed.first().expect("a return in the mailbox");
    let bytes = fetch(sim, &first.id).await;
    assert_eq!(bytes.len() as u64, first.taille);
    assert_eq!(delete(sim, &first.id).await, 204);
    (
        first.nom.clone(),
        unpack(&bytes, Limits::default()).unwrap(),
    )
}

/// The one message of a return (the file its envelope lists), parsed; checks the envelope.
fn message_of(files: &[(String, Vec<u8>)]) -> (String, Message) {
    let (env_name, env) = files
        .iter()
        .find(|(n, _)| matches!(parse_file_name(n), Ok(FileName::EnveloppePref { .. })))
        .expect("a préfecture envelope");
    let Message::EnveloppeMISILLCL(e) = parse_message(env).unwrap() else {
        panic!("{env_name} is not an EnveloppeMISILLCL");
    };
    assert_eq!(e.destinataire_siren, SIREN);
    assert_eq!(e.formulaires.len(), 1);
    let name = &e.formulaires[0];
    let (_, bytes) = files.iter().find(|(n, _)| n == name).expect("the message");
    (name.clone(), parse_message(bytes).unwrap())
}

#[tokio::test]
async fn an_acte_gets_its_ar_in_the_mailbox_which_is_emptied_after_reading() {
    let sim = start(config(None)).await;
    let acte = acte("DEL_2026_12", CLASSIFICATION);
    let (status, body) = deposit(&sim, acte_archive(1, &acte), None).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 1);
    let listed = list(&sim).await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]
            .nom
            .starts_with("EACT--SPREF0351-213500051-20261123-")
            && listed[0].nom.ends_with(".tar.gz"),
        "{}",
        listed[0].nom
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    let Message::ARActe {
        id_acte: id,
        date_reception,
        acte_recu,
        classification_date_en_cours,
    } = message
    else {
        panic!("ARActe expected, got {message:?}");
    };
    assert_eq!(id, id_acte("DEL_2026_12"));
    assert_eq!(date_reception, TODAY);
    assert_eq!(classification_date_en_cours, CLASSIFICATION);
    assert_eq!(acte_recu.numero_interne, "DEL_2026_12");
    assert_eq!(acte_recu.objet, acte.objet.replace('–', "-"));
    match parse_file_name(&name).unwrap() {
        FileName::Message { base, .. } => assert_eq!(base.code, (1, 2)),
        other => panic!("{other:?}"),
    }
    // Deleted after reading: gone, and a second delete or read is a 404.
    assert!(list(&sim).await.is_empty());
    assert_eq!(sim.mailbox_len().await, 0);
    assert_eq!(delete(&sim, "00000001").await, 404);
    let missing = reqwest::get(sim.url().join("actes/retours/00000001").unwrap())
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let received = sim.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].state,
        ActeState::Acquitte {
            date_reception: TODAY
        }
    );
}

#[tokio::test]
async fn an_old_classification_date_gets_an_anomalie_acte() {
    let sim = start(config(None)).await;
    let acte = acte("DEL_2026_13", date(2017, 4, 19));
    assert_eq!(deposit(&sim, acte_archive(1, &acte), None).await.0, 200);
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    let Message::AnomalieActe {
        nature,
        detail,
        acte_recu,
        classification_date_en_cours,
        date: sent_on,
    } = message
    else {
        panic!("AnomalieActe expected, got {message:?}");
    };
    assert_eq!(nature, "002");
    let detail = detail.unwrap();
    assert!(detail.starts_with("ODT-VERIF-01"), "{detail}");
    assert!(detail.contains("date de classification qui n'est pas à jour"));
    assert_eq!(acte_recu.classification_date, date(2017, 4, 19));
    assert_eq!(classification_date_en_cours, CLASSIFICATION);
    assert_eq!(sent_on, TODAY);
    assert!(name.contains("-1-3_"), "{name}");
    assert!(matches!(
        sim.received().await[0].state,
        ActeState::Anomalie { .. }
    ));
}

#[tokio::test]
async fn a_duplicate_and_a_misnamed_acte_get_anomalies() {
    let sim = start(config(None)).await;
    let first = acte("DEL_2026_14", CLASSIFICATION);
    assert_eq!(deposit(&sim, acte_archive(1, &first), None).await.0, 200);
    assert!(matches!(
        message_of(&take(&sim).await.1).1,
        Message::ARActe { .. }
    ));
    // The same IDActe again.
    assert_eq!(deposit(&sim, acte_archive(2, &first), None).await.0, 200);
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::AnomalieActe { nature, detail, .. } = message_of(&files).1 else {
        panic!("AnomalieActe expected");
    };
    assert_eq!(nature, "003");
    assert!(detail.unwrap().contains("déjà été transmis"));
    // A typologie not allowed for a délibération.
    let mut bad = acte_for_typology("DEL_2026_15", "99_BU");
    bad.annexes.clear();
    assert_eq!(deposit(&sim, acte_archive(3, &bad), None).await.0, 200);
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::AnomalieActe { nature, detail, .. } = message_of(&files).1 else {
        panic!("AnomalieActe expected");
    };
    assert_eq!(nature, "001");
    assert!(detail.unwrap().contains("typologie (99_BU)"));
    // A document announced but absent from the archive.
    let partial = acte("DEL_2026_16", CLASSIFICATION);
    let name = base("DEL_2026_16", (1, 1)).message_name();
    let only_main = archive(
        4,
        name,
        &Message::Acte(partial.clone()),
        std::slice::from_ref(&partial.document),
    );
    assert_eq!(deposit(&sim, only_main, None).await.0, 200);
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::AnomalieActe { detail, .. } = message_of(&files).1 else {
        panic!("AnomalieActe expected");
    };
    assert!(detail.unwrap().contains("absent de l'archive"));
    // The message named with the day of sending (STELA's habit), not the date of decision.
    let misnamed = acte("DEL_2026_17", CLASSIFICATION);
    let name =
        TransactionBase::new("035", SIREN, TODAY, "DEL_2026_17", Nature::DE, (1, 1)).message_name();
    let docs = vec![misnamed.document.clone(), misnamed.annexes[0].clone()];
    let archive = archive(5, name, &Message::Acte(misnamed), &docs);
    assert_eq!(deposit(&sim, archive, None).await.0, 200);
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::AnomalieActe { nature, detail, .. } = message_of(&files).1 else {
        panic!("AnomalieActe expected");
    };
    assert_eq!(nature, "001");
    assert!(detail.unwrap().contains("devrait s'appeler"));
    assert_eq!(sim.received().await.len(), 5);
}

fn acte_for_typology(numero: &str, typology: &str) -> DonneesActe {
    let mut a = acte(numero, CLASSIFICATION);
    a.document = base(numero, (1, 1)).piece_name(Some(typology), 1, "pdf");
    a
}

/// A tar.gz written by hand, so that it can hold what `pack` refuses to write.
fn raw_tar_gz(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, data) in entries {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..107].copy_from_slice(b"0000644");
        header[108..115].copy_from_slice(b"0000000");
        header[116..123].copy_from_slice(b"0000000");
        header[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
        header[136..147].copy_from_slice(b"00000000000");
        header[148..156].copy_from_slice(b"        ");
        header[156] = *kind;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        tar.extend_from_slice(&header);
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn bad_archives_are_refused_at_the_door_with_400_and_a_french_text() {
    let sim = start(config(None)).await;
    let good = acte_archive(1, &acte("DEL_2026_20", CLASSIFICATION));
    // Not an archive at all.
    let (status, text) = deposit(&sim, (good.0.clone(), b"pas une archive".to_vec()), None).await;
    assert_eq!(status, 400);
    assert!(text.contains("illisible"), "{text}");
    // A name that is not the standard's.
    let (status, text) = deposit(&sim, ("acte.tar.gz".into(), good.1.clone()), None).await;
    assert_eq!(status, 400);
    assert!(text.contains("Nom d'archive non conforme"), "{text}");
    // Path traversal, absolute path, directory, symbolic link.
    let env = enveloppe_name(SIREN, TODAY, 1);
    let envelope_xml = envelope(vec!["x.xml".into()]).to_xml().unwrap();
    for (evil, kind) in [
        ("../../etc/evil.xml", b'0'),
        ("/tmp/evil.xml", b'0'),
        ("sous-dossier/", b'5'),
        ("lien.xml", b'2'),
    ] {
        let bytes = raw_tar_gz(&[(env.as_str(), b'0', &envelope_xml), (evil, kind, b"<x/>")]);
        let (status, text) = deposit(&sim, (good.0.clone(), bytes), None).await;
        assert_eq!(status, 400, "{evil}: {text}");
        assert!(
            text.contains("Archive") && text.contains("illisible"),
            "{evil}: {text}"
        );
    }
    // No envelope.
    let bytes = raw_tar_gz(&[("autre.xml", b'0', b"<x/>")]);
    let (status, text) = deposit(&sim, (good.0.clone(), bytes), None).await;
    assert_eq!(status, 400);
    assert!(text.contains("ne contient pas son enveloppe"), "{text}");
    // No file field.
    let response = reqwest::Client::new()
        .post(sim.url().join("actes/depot").unwrap())
        .multipart(reqwest::multipart::Form::new().text("name", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().await.unwrap().contains("champ « file »"));
    // Nothing was analysed nor answered; the journal says why.
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 0);
    assert!(sim.received().await.is_empty());
    let journal = sim.journal().await;
    assert_eq!(
        journal
            .iter()
            .filter(|j| j.text.starts_with("Archive refusée à l'entrée"))
            .count(),
        7
    );
    // The good one still goes through.
    assert_eq!(deposit(&sim, good, None).await.0, 200);
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 1);
}

#[tokio::test]
async fn an_invalid_envelope_gets_an_anomalie_enveloppe() {
    let sim = start(config(None)).await;
    let acte = acte("DEL_2026_21", CLASSIFICATION);
    let name = base("DEL_2026_21", (1, 1)).message_name();
    let env_name = enveloppe_name(SIREN, TODAY, 1);
    // A département of two digits: not valid against the schema.
    let valid =
        String::from_utf8_lossy(&envelope(vec![name.clone()]).to_xml().unwrap()).into_owned();
    assert!(valid.contains("actes:Departement=\"035\""), "{valid}");
    let envelope_xml = valid
        .replace("actes:Departement=\"035\"", "actes:Departement=\"35\"")
        .into_bytes();
    let files = vec![
        (env_name.clone(), envelope_xml),
        (name, Message::Acte(acte.clone()).to_xml().unwrap()),
        (acte.document.clone(), PDF.to_vec()),
        (acte.annexes[0].clone(), PDF.to_vec()),
    ];
    let archive_name = archive_name("BQT", SIREN, TODAY, 1);
    assert_eq!(
        deposit(&sim, (archive_name.clone(), pack(&files).unwrap()), None)
            .await
            .0,
        200
    );
    let (nom, files) = take(&sim).await;
    assert_eq!(
        nom,
        format!("ANO_{}.tar.gz", env_name.trim_end_matches(".xml"))
    );
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, format!("ANO_{env_name}"));
    assert_all_valid(&files);
    let Message::AnomalieEnveloppe {
        nature,
        detail,
        enveloppe_recue,
        ..
    } = parse_message(&files[0].1).unwrap()
    else {
        panic!("AnomalieEnveloppe expected");
    };
    assert_eq!(nature, "001");
    let detail = detail.unwrap();
    assert!(
        detail.starts_with(&format!("{archive_name} -> ")),
        "{detail}"
    );
    assert!(detail.contains("n'est pas conforme au schéma"), "{detail}");
    assert_eq!(enveloppe_recue.collectivite.siren, SIREN);
    assert!(sim.received().await.is_empty());
}

#[tokio::test]
async fn the_unavailable_switch_answers_503_then_deposits_go_through_again() {
    let sim = start(config(None)).await;
    sim.set_unavailable(true).await.unwrap();
    let (status, text) = deposit(
        &sim,
        acte_archive(1, &acte("DEL_2026_30", CLASSIFICATION)),
        None,
    )
    .await;
    assert_eq!(status, 503);
    assert!(text.contains("indisponible"), "{text}");
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 0);
    sim.set_unavailable(false).await.unwrap();
    let (status, _) = deposit(
        &sim,
        acte_archive(1, &acte("DEL_2026_30", CLASSIFICATION)),
        None,
    )
    .await;
    assert_eq!(status, 200);
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 1);
}

#[tokio::test]
async fn the_token_is_required_on_every_route_of_the_protocol() {
    let sim = start(Config {
        token: Some("secret-de-test".into()),
        ..config(None)
    })
    .await;
    let archive = acte_archive(1, &acte("DEL_2026_31", CLASSIFICATION));
    assert_eq!(deposit(&sim, archive.clone(), None).await.0, 401);
    assert_eq!(deposit(&sim, archive.clone(), Some("mauvais")).await.0, 401);
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "actes/retours"),
        (reqwest::Method::GET, "actes/retours/00000001"),
        (reqwest::Method::DELETE, "actes/retours/00000001"),
    ] {
        let response = client
            .request(method.clone(), sim.url().join(path).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 0);
    assert_eq!(deposit(&sim, archive, Some("secret-de-test")).await.0, 200);
    sim.idle().await;
    let listed: Vec<Listed> = client
        .get(sim.url().join("actes/retours").unwrap())
        .bearer_auth("secret-de-test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // The page is not part of the protocol (local tool): it answers without the token.
    let page = reqwest::get(sim.url()).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
}

#[tokio::test]
async fn the_mailbox_and_the_actes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(config(Some(dir.path()))).await;
    let acte = acte("DEL_2026_40", CLASSIFICATION);
    assert_eq!(deposit(&sim, acte_archive(1, &acte), None).await.0, 200);
    sim.idle().await;
    let before = list(&sim).await;
    assert_eq!(before.len(), 1);
    let bytes = fetch(&sim, &before[0].id).await;
    let date = sim.bump_classification().await.unwrap();
    sim.stop().await;

    let sim = start(config(Some(dir.path()))).await;
    let after = list(&sim).await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        (&after[0].id, &after[0].nom),
        (&before[0].id, &before[0].nom)
    );
    assert_eq!(fetch(&sim, &after[0].id).await, bytes);
    assert_eq!(sim.classification_date().await, date);
    assert!(sim.received().await[0].is_acquitted());
    // It still knows the acte: a second transmission is a duplicate.
    let mut again = acte.clone();
    again.classification_date = date;
    assert_eq!(deposit(&sim, acte_archive(2, &again), None).await.0, 200);
    sim.idle().await;
    assert_eq!(delete(&sim, &after[0].id).await, 204);
    let (_, files) = take(&sim).await;
    let Message::AnomalieActe { nature, .. } = message_of(&files).1 else {
        panic!("AnomalieActe expected");
    };
    assert_eq!(nature, "003");
    sim.stop().await;
    // Deleted returns stay deleted.
    let sim = start(config(Some(dir.path()))).await;
    assert_eq!(sim.mailbox_len().await, 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("retours"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_deposit_accepted_before_a_stop_is_answered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start(Config {
        // Long enough never to elapse during the test: the stop comes first.
        delay: std::time::Duration::from_secs(3600),
        ..config(Some(dir.path()))
    })
    .await;
    let acte = acte("DEL_2026_41", CLASSIFICATION);
    assert_eq!(deposit(&sim, acte_archive(1, &acte), None).await.0, 200);
    assert_eq!(sim.mailbox_len().await, 0);
    drop(sim);
    let sim = start(config(Some(dir.path()))).await;
    let (_, files) = take(&sim).await;
    assert!(matches!(message_of(&files).1, Message::ARActe { .. }));
    assert_eq!(
        std::fs::read_dir(dir.path().join("recus")).unwrap().count(),
        0
    );
}

/// Deposits a message about an acte (named with the acte's base and the message's code).
async fn deposit_message(
    sim: &Simulator,
    serial: u32,
    numero: &str,
    message: &Message,
    docs: &[String],
) -> u16 {
    let name = base(numero, message.code().unwrap()).message_name();
    deposit(sim, archive(serial, name, message, docs), None)
        .await
        .0
}

async fn acquitted(sim: &Simulator, numero: &str) {
    let acte = acte(numero, CLASSIFICATION);
    assert_eq!(deposit(sim, acte_archive(1, &acte), None).await.0, 200);
    assert!(matches!(
        message_of(&take(sim).await.1).1,
        Message::ARActe { .. }
    ));
}

#[tokio::test]
async fn an_annulation_of_an_acquitted_acte_gets_its_ar() {
    let sim = start(config(None)).await;
    acquitted(&sim, "DEL_2026_50").await;
    let annulation = Message::Annulation {
        id_acte: id_acte("DEL_2026_50"),
    };
    assert_eq!(
        deposit_message(&sim, 2, "DEL_2026_50", &annulation, &[]).await,
        200
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    assert_eq!(
        message,
        Message::ARAnnulation {
            id_acte: id_acte("DEL_2026_50"),
            date_reception: TODAY
        }
    );
    assert!(name.contains("-DE-6-2_"), "{name}");
    assert_eq!(
        sim.received().await[0].state,
        ActeState::Annule {
            date_reception: TODAY
        }
    );
    // An annulation of an acte never acquitted: an envelope anomaly.
    let unknown = Message::Annulation {
        id_acte: id_acte("DEL_2026_59"),
    };
    assert_eq!(
        deposit_message(&sim, 3, "DEL_2026_59", &unknown, &[]).await,
        200
    );
    let (nom, files) = take(&sim).await;
    assert!(nom.starts_with("ANO_"));
    assert_all_valid(&files);
    let Message::AnomalieEnveloppe { nature, detail, .. } = parse_message(&files[0].1).unwrap()
    else {
        panic!("AnomalieEnveloppe expected");
    };
    assert_eq!(nature, "004");
    assert!(detail.unwrap().contains("DEL_2026_59"));
}

#[tokio::test]
async fn a_classification_request_gets_the_classification_or_no_change() {
    let sim = start(config(None)).await;
    let request = |held: Option<Date>| Message::DemandeClassification {
        date_classification: held,
    };
    let name = TransactionBase::classification("035", SIREN).message_name();
    assert_eq!(name, format!("035-{SIREN}----7-1_0.xml"));
    let new_date = sim.bump_classification().await.unwrap();
    assert_eq!(new_date, TODAY);
    assert_eq!(
        deposit(
            &sim,
            archive(1, name.clone(), &request(Some(CLASSIFICATION)), &[]),
            None
        )
        .await
        .0,
        200
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (reply_name, message) = message_of(&files);
    assert!(
        reply_name.starts_with(&format!("035-{SIREN}----7-2_")),
        "{reply_name}"
    );
    let Message::RetourClassification(c) = message else {
        panic!("RetourClassification expected, got {message:?}");
    };
    assert_eq!(c.date, new_date);
    assert!(c.label(&[1, 1]).is_some());
    assert!(c.typology_allowed(Nature::DE, "99_DE"));
    // Already current.
    assert_eq!(
        deposit(&sim, archive(2, name, &request(Some(new_date)), &[]), None)
            .await
            .0,
        200
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (reply_name, message) = message_of(&files);
    assert!(
        reply_name.starts_with(&format!("035-{SIREN}----7-3_")),
        "{reply_name}"
    );
    assert_eq!(
        message,
        Message::ReponseClassificationSansChangement {
            date_classification: new_date
        }
    );
    // Actes now carry the new date: the AR says so; the old one is an anomaly.
    assert_eq!(
        deposit(&sim, acte_archive(3, &acte("DEL_2026_60", new_date)), None)
            .await
            .0,
        200
    );
    let Message::ARActe {
        classification_date_en_cours,
        ..
    } = message_of(&take(&sim).await.1).1
    else {
        panic!("ARActe expected");
    };
    assert_eq!(classification_date_en_cours, new_date);
    assert_eq!(
        deposit(
            &sim,
            acte_archive(4, &acte("DEL_2026_61", CLASSIFICATION)),
            None
        )
        .await
        .0,
        200
    );
    assert!(matches!(
        message_of(&take(&sim).await.1).1,
        Message::AnomalieActe { .. }
    ));
}

/// The PDF letter: qpdf finds no damage and pdftotext reads the text.
fn assert_letter(pdf: &[u8], words: &str) {
    let file = TempPdf::write("lettre-prefecture", pdf);
    let check = run("qpdf", &["--check", file.path()]);
    assert!(check.status.success(), "{}", stdout(&check));
    let text = flat(&stdout(&run("pdftotext", &[file.path(), "-"])));
    assert!(text.contains(words), "{words:?} not in {text}");
}

#[tokio::test]
async fn letters_of_the_prefecture_and_the_replies_of_the_collectivite() {
    let sim = start(config(None)).await;
    acquitted(&sim, "DEL_2026_70").await;
    let id = id_acte("DEL_2026_70");

    // 4-1 lettre d'observations, with its PDF.
    sim.send_lettre_observations(&id, "Le quorum n'est pas atteint.")
        .await
        .unwrap();
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    assert!(name.contains("-DE-4-1_"), "{name}");
    let Message::LettreObservations {
        courrier,
        motif,
        document,
    } = message
    else {
        panic!("LettreObservations expected");
    };
    assert_eq!(courrier.id_acte, id);
    assert_eq!(courrier.date_courrier_pref, TODAY);
    assert_eq!(motif, "Le quorum n'est pas atteint.");
    let (_, pdf) = files.iter().find(|(n, _)| *n == document).unwrap();
    assert_letter(pdf, "Le quorum n'est pas atteint.");
    assert!(sim.received().await[0].awaiting_reply());

    // The collectivité answers (4-4): stored, and an ARReponseRejetLettreObservations (4-5).
    let courrier = CourrierPref {
        id_acte: id.clone(),
        date_courrier_pref: TODAY,
    };
    let answer_doc = base("DEL_2026_70", (4, 4)).piece_name(None, 1, "pdf");
    let reply = Message::ReponseLettreObservations {
        courrier: courrier.clone(),
        document: answer_doc.clone(),
    };
    assert_eq!(
        deposit_message(&sim, 2, "DEL_2026_70", &reply, &[answer_doc]).await,
        200
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    assert!(name.contains("-DE-4-5_"), "{name}");
    assert_eq!(
        message,
        Message::ARReponseRejetLettreObservations {
            date_reception: TODAY,
            courrier: courrier.clone()
        }
    );
    let received = sim.received().await;
    assert!(!received[0].awaiting_reply());
    assert!(
        received[0]
            .exchanges
            .iter()
            .any(|e| e.code == "4-4" && !e.from_prefecture)
    );

    // 3-1 then 3-4: an ARPieceComplementaire (3-5).
    sim.send_demande_pieces(&id, "Le plan de financement.")
        .await
        .unwrap();
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::DemandePieceComplementaire {
        description_pieces,
        document,
        ..
    } = message_of(&files).1
    else {
        panic!("DemandePieceComplementaire expected");
    };
    assert_eq!(description_pieces, "Le plan de financement.");
    assert_letter(
        &files.iter().find(|(n, _)| *n == document).unwrap().1,
        "Le plan de financement.",
    );
    let piece = base("DEL_2026_70", (3, 4)).piece_name(None, 1, "pdf");
    let pieces = Message::PieceComplementaire {
        courrier: courrier.clone(),
        documents: vec![piece.clone()],
    };
    assert_eq!(
        deposit_message(&sim, 3, "DEL_2026_70", &pieces, &[piece]).await,
        200
    );
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let (name, message) = message_of(&files);
    assert!(name.contains("-DE-3-5_"), "{name}");
    assert!(matches!(message, Message::ARPieceComplementaire { .. }));

    // 2-1 courrier simple, answered by a 2-2 (stored, no AR).
    sim.send_courrier_simple(&id, "Merci de préciser la date d'affichage.")
        .await
        .unwrap();
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    assert!(matches!(
        message_of(&files).1,
        Message::CourrierSimple { .. }
    ));
    let doc = base("DEL_2026_70", (2, 2)).piece_name(None, 1, "pdf");
    let answer = Message::ReponseCourrierSimple {
        courrier: courrier.clone(),
        document: doc.clone(),
    };
    assert_eq!(
        deposit_message(&sim, 4, "DEL_2026_70", &answer, &[doc]).await,
        200
    );
    sim.idle().await;
    assert_eq!(sim.mailbox_len().await, 0);
    assert!(
        sim.received().await[0]
            .exchanges
            .iter()
            .any(|e| e.code == "2-2")
    );

    // A reply whose document is missing from the archive: an envelope anomaly.
    let missing = base("DEL_2026_70", (4, 3)).piece_name(None, 1, "pdf");
    let reject = Message::RejetLettreObservations {
        courrier,
        document: missing,
    };
    assert_eq!(
        deposit_message(&sim, 5, "DEL_2026_70", &reject, &[]).await,
        200
    );
    let (nom, files) = take(&sim).await;
    assert!(nom.starts_with("ANO_"));
    assert_all_valid(&files);

    // 5-1 déféré.
    sim.send_defere(&id, "Incompétence de l'auteur de l'acte.")
        .await
        .unwrap();
    let (_, files) = take(&sim).await;
    assert_all_valid(&files);
    let Message::DefereTA {
        nature_illegalite,
        date_depot,
        ..
    } = message_of(&files).1
    else {
        panic!("DefereTA expected");
    };
    assert_eq!(nature_illegalite, "Incompétence de l'auteur de l'acte.");
    assert_eq!(date_depot, TODAY);

    // Letters only about acquitted actes, and never with an empty text.
    let unknown = sim
        .send_courrier_simple("035-213500051-20261120-NOPE-DE", "x")
        .await;
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("Aucun acte acquitté")
    );
    let empty = sim.send_lettre_observations(&id, "   ").await;
    assert!(empty.unwrap_err().to_string().contains("obligatoire"));
    assert_eq!(sim.mailbox_len().await, 0);
}

#[tokio::test]
async fn the_out_of_norm_message_parses_but_fails_the_schema() {
    let sim = start(config(None)).await;
    acquitted(&sim, "DEL_2026_80").await;
    sim.send_out_of_norm(SIREN).await.unwrap();
    let (nom, files) = take(&sim).await;
    assert_eq!(nom, format!("ANO_EACT--{SIREN}--20261123-1.tar.gz"));
    assert_eq!(files.len(), 1);
    let (ok, out) = xmllint(&files[0].1);
    assert!(!ok, "xmllint must refuse Nature 999");
    assert!(out.contains("Nature"), "{out}");
    let Message::AnomalieEnveloppe {
        nature,
        detail,
        enveloppe_recue,
        ..
    } = parse_message(&files[0].1).unwrap()
    else {
        panic!("AnomalieEnveloppe expected");
    };
    assert_eq!(nature, "999");
    assert!(detail.unwrap().starts_with("ODT-VERIF-17"));
    assert_eq!(enveloppe_recue.collectivite, collectivite());
    // For a SIREN never heard of, too; a bad SIREN is refused.
    sim.send_out_of_norm("200000172").await.unwrap();
    let (_, files) = take(&sim).await;
    assert!(!xmllint(&files[0].1).0);
    assert!(sim.send_out_of_norm("12").await.is_err());
    assert_eq!(sim.mailbox_len().await, 0);
}

#[tokio::test]
async fn the_page_shows_the_actes_and_its_forms_act() {
    let sim = start(config(None)).await;
    acquitted(&sim, "DEL_2026_90").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = reqwest::get(sim.url()).await.unwrap().text().await.unwrap();
    assert!(page.contains("<title>Simulateur de préfecture (@CTES)</title>"));
    assert!(page.contains(r##"<a class="skip" href="#contenu">"##));
    assert!(page.contains("<main id=\"contenu\""));
    assert!(page.contains(&id_acte("DEL_2026_90")));
    assert!(page.contains("Marché de travaux de l&#39;école"));
    assert!(page.contains("Acquitté"));
    for field in [
        "courrier-simple-0",
        "demande-pieces-0",
        "lettre-observations-0",
        "defere-0",
    ] {
        assert!(
            page.contains(&format!("<label for=\"{field}\">")),
            "{field}"
        );
        assert!(page.contains(&format!("id=\"{field}\"")), "{field}");
    }

    // A lettre d'observations from the form.
    let sent = client
        .post(sim.url().join("courrier").unwrap())
        .form(&[
            ("id_acte", id_acte("DEL_2026_90").as_str()),
            ("type", "lettre-observations"),
            ("texte", "Motif <b>précis</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 303);
    assert_eq!(sent.headers()["location"], "/?fait=courrier");
    assert_eq!(sim.mailbox_len().await, 1);
    let page = reqwest::get(sim.url().join("/?fait=courrier").unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("role=\"status\""));
    assert!(page.contains("Motif &lt;b&gt;précis&lt;/b&gt;"), "escaped");
    assert!(page.contains("Réponse de la collectivité attendue"));

    // An empty text: 400, the page with the error, nothing sent.
    let refused = client
        .post(sim.url().join("courrier").unwrap())
        .form(&[
            ("id_acte", id_acte("DEL_2026_90").as_str()),
            ("type", "defere"),
            ("texte", " "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let text = refused.text().await.unwrap();
    assert!(text.contains("role=\"alert\""));
    assert!(text.contains("Nature de l&#39;illégalité : ce champ est obligatoire."));
    assert_eq!(sim.mailbox_len().await, 1);

    // The switches.
    let off = client
        .post(sim.url().join("indisponibilite").unwrap())
        .form(&[("etat", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(off.status().as_u16(), 303);
    let (status, _) = deposit(
        &sim,
        acte_archive(2, &acte("DEL_2026_91", CLASSIFICATION)),
        None,
    )
    .await;
    assert_eq!(status, 503);
    client
        .post(sim.url().join("indisponibilite").unwrap())
        .form(&[("etat", "off")])
        .send()
        .await
        .unwrap();
    let before = sim.classification_date().await;
    let bumped = client
        .post(sim.url().join("classification").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bumped.status().as_u16(), 303);
    assert!(sim.classification_date().await > before);
    let ano = client
        .post(sim.url().join("hors-norme").unwrap())
        .form(&[("siren", SIREN)])
        .send()
        .await
        .unwrap();
    assert_eq!(ano.status().as_u16(), 303);
    assert_eq!(sim.mailbox_len().await, 2);
    let bad = client
        .post(sim.url().join("hors-norme").unwrap())
        .form(&[("siren", "abc")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(sim.mailbox_len().await, 2);
    // Changes only by POST.
    let get = client
        .get(sim.url().join("classification").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
}

#[tokio::test]
async fn concurrent_deposits_each_get_their_own_answer() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(start(config(Some(dir.path()))).await);
    let mut tasks = Vec::new();
    for i in 1..=8u32 {
        let sim = sim.clone();
        tasks.push(tokio::spawn(async move {
            let acte = acte(&format!("DEL_2026_C{i}"), CLASSIFICATION);
            deposit(&sim, acte_archive(i, &acte), None).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    sim.idle().await;
    let listed = list(&sim).await;
    assert_eq!(listed.len(), 8);
    let mut names: Vec<&str> = listed.iter().map(|l| l.nom.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 8, "each return has its own envelope serial");
    let received = sim.received().await;
    assert_eq!(received.len(), 8);
    assert!(received.iter().all(|r| r.is_acquitted()));
    let mut ids: Vec<String> = received.iter().map(|r| r.id_acte.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);
}
