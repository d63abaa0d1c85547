//! The exchange of the actes service with a real préfecture simulator on a random port:
//! transmission, AR, acte tamponné and bordereau (read by pdftotext), every archive sent
//! unpacked and each XML checked by the real xmllint against the *avec typologie* XSD, the
//! préfecture's letters and the answers, annulation, classification, out-of-norm, malformed
//! and unknown returns, the préfecture down, the 48-hour alert, daily serials, tenancy.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bouquet_actes::exchange::{alerts, returns};
use bouquet_kernel::ManualClock;
use bouquet_kernel::clock::Clock;
use bouquet_sim_prefecture::Simulator;
use bouquet_store::Engine;
use jiff::SignedDuration;
use reqwest::{Client, Method, StatusCode, multipart};
use serde_json::Value;

use crate::helpers::{ApiClient, TestApp, body, engines, spawn_app_configured, start_time, text};
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const ARBRISSEL: &str = "213500051";
const AGENT: &str = "agent@commune.demo";

/// A simulator and an application that talks to it, sharing one manual clock.
struct Env {
    sim: Simulator,
    app: TestApp,
    clock: Arc<ManualClock>,
    agent: Client,
    api: ApiClient,
}

async fn simulator(clock: &Arc<ManualClock>, token: Option<&str>) -> Simulator {
    bouquet_sim_prefecture::spawn(
        bouquet_sim_prefecture::Config {
            dir: None,
            token: token.map(str::to_owned),
            delay: std::time::Duration::ZERO,
            clock: clock.clone(),
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn env_on(engine: Engine) -> Env {
    let clock = Arc::new(ManualClock::new(start_time()));
    // The préfecture asks for a token; Bouquet sends it.
    let sim = simulator(&clock, Some("jeton-prefecture")).await;
    let url = sim.url();
    let shared = clock.clone();
    let app = spawn_app_configured(engine, bouquet::modules(), true, move |cfg| {
        cfg.prefecture_url = Some(url);
        cfg.prefecture_token = Some("jeton-prefecture".into());
        cfg.clock = shared;
    })
    .await;
    let agent = app.login(AGENT).await;
    let token = app.api_token(AGENT).await;
    let api = app.api(&token);
    Env {
        sim,
        app,
        clock,
        agent,
        api,
    }
}

/// Signs in again after the clock jumped past the session and token lifetimes.
async fn refresh(e: &mut Env) {
    e.agent = e.app.login(AGENT).await;
    let token = e.app.api_token(AGENT).await;
    e.api = e.app.api(&token);
}

/// A real one-page PDF.
fn pdf(title: &str) -> Vec<u8> {
    bouquet_parapheur::demo::deliberation_pdf("Arbrissel", title, jiff::civil::date(2026, 11, 20))
        .unwrap()
}

/// Creates a complete délibération through the API; its id.
async fn create_acte(e: &Env, numero: &str) -> String {
    let form = multipart::Form::new()
        .text("nature", "DE")
        .text("numero", numero.to_owned())
        .text(
            "objet",
            format!("Délibération {numero} : tarifs de la cantine"),
        )
        .text("matiere", "7.5")
        .text("date_decision", "2026-11-20")
        .text("document_papier", "false")
        .text("document_typologie", "99_DE")
        .part(
            "document",
            multipart::Part::bytes(pdf(&format!("Délibération {numero}")))
                .file_name("deliberation.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let r = e
        .api
        .client
        .post(e.api.url(&format!("/api/v1/o/{ARBRISSEL}/actes")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let json: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "création : {json}");
    json["id"].as_str().unwrap().to_owned()
}

/// Transmits from the suivi page (as the acte's page does); the redirect.
async fn transmit(e: &Env, id: &str) -> reqwest::Response {
    e.app
        .post_form(
            &e.agent,
            &format!("/o/{ARBRISSEL}/actes/{id}/transmettre"),
            &[],
        )
        .await
}

/// Runs the queue, lets the préfecture answer, fetches and processes its returns, until
/// nothing moves.
async fn settle(e: &Env) {
    for _ in 0..8 {
        let ran = e.app.drain_jobs().await;
        e.sim.idle().await;
        let fetched = returns::fetch(&e.app.platform).await.unwrap();
        let processed = returns::process_stored(&e.app.platform).await.unwrap();
        if ran == 0 && fetched == 0 && processed == 0 {
            return;
        }
    }
    panic!("the exchange does not settle");
}

async fn tracking(e: &Env, id: &str) -> Value {
    let r = e
        .api
        .get(&format!("/api/v1/o/{ARBRISSEL}/actes/{id}/suivi"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn status(e: &Env, id: &str) -> String {
    tracking(e, id).await["status"].as_str().unwrap().to_owned()
}

async fn scalar_i64(app: &TestApp, sql: &str, bind: &str) -> i64 {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .bind(bind)
    .fetch_one(c)
    .await)
    .unwrap()
}

/// `pdftotext` of a PDF, whitespace collapsed.
fn pdf_text(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(out.status.success(), "pdftotext a échoué");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every archive Bouquet stored and sent: unpacked, each XML validated by xmllint against
/// the *avec typologie* XSD. Returns the archive names and the XML file names.
async fn check_every_archive_with_xmllint(app: &TestApp) -> (Vec<String>, Vec<String>) {
    let rows: Vec<(String, String, String)> = {
        let mut conn = app.platform.db.read().await.unwrap();
        bouquet_store::run!(&mut conn, |c| sqlx::query_as(
            "SELECT org_id, archive_name, archive_sha256 FROM actes_envelopes \
             WHERE state = 'envoye' ORDER BY created_at"
        )
        .fetch_all(c)
        .await)
        .unwrap()
    };
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../standards/actes/xsd/ministere-v1.1-avec-typologie/actesv1_1.xsd");
    assert!(xsd.exists(), "{}", xsd.display());
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    let mut xmls = Vec::new();
    for (org, archive_name, sha) in rows {
        let org: bouquet_kernel::OrgId = org.parse().unwrap();
        let bytes = app
            .platform
            .blobs
            .read_all(&bouquet_store::blobs::owner_key(Some(org)), &sha)
            .await
            .unwrap();
        let files =
            bouquet_format_actes::unpack(&bytes, bouquet_format_actes::Limits::default()).unwrap();
        for (name, content) in files {
            if name.ends_with(".xml") {
                let path = dir.path().join(&name);
                std::fs::write(&path, &content).unwrap();
                let out = Command::new("xmllint")
                    .arg("--noout")
                    .arg("--schema")
                    .arg(&xsd)
                    .arg(&path)
                    .output()
                    .expect("xmllint");
                assert!(
                    out.status.success(),
                    "{name} ({archive_name}) ne valide pas : {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                xmls.push(name);
            }
        }
        names.push(archive_name);
    }
    (names, xmls)
}

#[tokio::test]
async fn transmission_ar_tamponne_bordereau_and_daily_serials_on_every_engine() {
    for engine in engines() {
        let e = env_on(engine).await;
        let first = create_acte(&e, "DEL_2026_101").await;
        let second = create_acte(&e, "DEL_2026_102").await;
        let r = transmit(&e, &first).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(status(&e, &first).await, "a_transmettre");
        // The second through the API.
        let r = e
            .api
            .client
            .post(e.api.url(&format!(
                "/api/v1/o/{ARBRISSEL}/actes/{second}/transmission"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        settle(&e).await;

        let t = tracking(&e, &first).await;
        assert_eq!(t["status"], "acquitte", "{t}");
        let id_acte = t["id_acte"].as_str().unwrap().to_owned();
        assert_eq!(id_acte, "035-213500051-20261120-DEL_2026_101-DE");
        assert_eq!(t["sent_date"], "2026-11-23");
        assert_eq!(t["received_date"], "2026-11-23");
        assert!(t["published_date"].is_null());
        let kinds: Vec<&str> = t["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kind"].as_str().unwrap())
            .collect();
        for k in [
            "transmission_demandee",
            "archive_preparee",
            "transmis",
            "message_recu",
        ] {
            assert!(kinds.contains(&k), "{k} manque dans {kinds:?}");
        }
        assert!(
            t["timeline"][0]["by"].as_str().unwrap().contains("Sophie"),
            "qui : {}",
            t["timeline"][0]
        );
        assert_eq!(status(&e, &second).await, "acquitte");

        // Two transmissions the same day: serials 1 and 2 of the day.
        let (archives, xmls) = check_every_archive_with_xmllint(&e.app).await;
        let mut sorted = archives.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "BQT-EACT--213500051--20261123-1.tar.gz".to_owned(),
                "BQT-EACT--213500051--20261123-2.tar.gz".to_owned()
            ]
        );
        assert!(xmls.iter().any(|x| x == "EACT--213500051--20261123-1.xml"));
        assert!(
            xmls.iter()
                .any(|x| x == "035-213500051-20261120-DEL_2026_101-DE-1-1_0.xml")
        );
        // The simulator received both, acquitted.
        let received = e.sim.received().await;
        assert_eq!(received.len(), 2);
        assert!(received.iter().all(|r| r.is_acquitted()));

        // The acte tamponné carries the dates known, and no made-up publication date.
        let r = e
            .agent
            .get(e.app.url(&format!("/o/{ARBRISSEL}/actes/{first}/tamponne")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        let stamped = pdf_text(&r.bytes().await.unwrap());
        assert!(
            stamped.contains("Envoyé en préfecture le 23/11/2026"),
            "{stamped}"
        );
        assert!(
            stamped.contains("Reçu en préfecture le 23/11/2026"),
            "{stamped}"
        );
        assert!(stamped.contains("Publié le"), "{stamped}");
        assert!(!stamped.contains("Publié le 2"), "{stamped}");
        assert!(stamped.contains(&format!("ID : {id_acte}")), "{stamped}");
        // The bordereau d'acquittement, through the API.
        let r = e
            .api
            .get(&format!("/api/v1/o/{ARBRISSEL}/actes/{first}/bordereau"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let bordereau = pdf_text(&r.bytes().await.unwrap());
        assert!(bordereau.contains(&id_acte), "{bordereau}");
        assert!(
            bordereau.contains("BQT-EACT--213500051--20261123-1.tar.gz"),
            "{bordereau}"
        );
        // The ARActe as received.
        let r = e
            .api
            .get(&format!(
                "/api/v1/o/{ARBRISSEL}/actes/{first}/accuse-reception"
            ))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let ar = r.bytes().await.unwrap();
        assert!(String::from_utf8_lossy(&ar).contains("ARActe"));

        // The suivi page shows it all.
        let (s, html) = text(
            &e.agent,
            e.app.url(&format!("/o/{ARBRISSEL}/actes/{first}/suivi")),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        for expected in [
            "Acquitté",
            "Accusé de réception reçu : reçu en préfecture le 23/11/2026",
            "Transmission à la préfecture demandée par Sophie Lebrun",
            "Acte tamponné (PDF)",
            "Bordereau d'acquittement (PDF)",
        ] {
            assert!(html.contains(expected), "{expected} manque");
        }
        // Usage, journal and the outbox hook for publication and archiving.
        let org = scalar_org(&e.app).await;
        assert_eq!(
            scalar_i64(
                &e.app,
                "SELECT COUNT(*) FROM usage_events WHERE org_id = $1 AND kind = 'acte.transmis'",
                &org
            )
            .await,
            2
        );
        assert_eq!(
            scalar_i64(
                &e.app,
                "SELECT COUNT(*) FROM usage_events WHERE org_id = $1 AND kind = 'acte.acquitte'",
                &org
            )
            .await,
            2
        );
        assert_eq!(
            scalar_i64(
                &e.app,
                "SELECT COUNT(*) FROM events WHERE topic = $1",
                "actes.acte.acquitte"
            )
            .await,
            2
        );
        assert_eq!(
            scalar_i64(&e.app, "SELECT COUNT(*) FROM audit_events WHERE org_id = $1 AND action = 'actes.acte.acknowledged'", &org).await,
            2
        );
        // Transmitting an acquitted acte again is refused, in French.
        let r = transmit(&e, &first).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(body(r).await.contains("ne peut pas être transmis"));
    }
}

async fn scalar_org(app: &TestApp) -> String {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT id FROM organisations WHERE siren = $1"
    )
    .bind(ARBRISSEL)
    .fetch_one(c)
    .await)
    .unwrap()
}

/// Creates, transmits and settles an acte: acquitted; (id, IDActe).
async fn acquitted(e: &Env, numero: &str) -> (String, String) {
    let id = create_acte(e, numero).await;
    assert_eq!(transmit(e, &id).await.status(), StatusCode::SEE_OTHER);
    settle(e).await;
    let t = tracking(e, &id).await;
    assert_eq!(t["status"], "acquitte", "{t}");
    (id, t["id_acte"].as_str().unwrap().to_owned())
}

/// The messages of an acte (API), oldest first.
async fn messages(e: &Env, id: &str) -> Vec<Value> {
    tracking(e, id).await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn find<'a>(messages: &'a [Value], direction: &str, code: &str) -> Option<&'a Value> {
    messages
        .iter()
        .find(|m| m["direction"] == direction && m["code"] == code)
}

/// What the simulator holds of an acte: the codes of its exchanges, in order.
async fn sim_codes(e: &Env, id_acte: &str) -> Vec<String> {
    e.sim
        .received()
        .await
        .into_iter()
        .filter(|r| r.id_acte == id_acte)
        .flat_map(|r| r.exchanges.into_iter().map(|x| x.code))
        .collect()
}

/// Answers a letter from the suivi page (multipart, the CSRF token in the action).
async fn answer_from_page(
    e: &Env,
    id: &str,
    mid: &str,
    kind: &str,
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let token = e.app.csrf(&e.agent).await;
    let mut form = multipart::Form::new().text("reponse", kind.to_owned());
    for (name, bytes) in files {
        form = form.part(
            "documents",
            multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let escaped: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    e.agent
        .post(e.app.url(&format!(
            "/o/{ARBRISSEL}/actes/{id}/messages/{mid}/repondre?_csrf={escaped}"
        )))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_lettre_d_observations_gets_an_automatic_ar_then_an_answer_with_a_pdf() {
    for engine in engines() {
        let e = env_on(engine).await;
        let (id, id_acte) = acquitted(&e, "DEL_2026_110").await;
        e.sim
            .send_lettre_observations(&id_acte, "Le tarif dépasse le coût du service rendu.")
            .await
            .unwrap();
        settle(&e).await;
        let ms = messages(&e, &id).await;
        let letter = find(&ms, "in", "4-1").expect("lettre reçue");
        assert_eq!(letter["state"], "reponse_attendue");
        assert!(
            letter["detail"]
                .as_str()
                .unwrap()
                .contains("coût du service rendu")
        );
        assert_eq!(letter["answers"], serde_json::json!(["4-3", "4-4"]));
        let ar = find(&ms, "out", "4-2").expect("accusé de réception automatique");
        assert_eq!(ar["state"], "envoye");
        assert!(sim_codes(&e, &id_acte).await.contains(&"4-2".to_owned()));
        // The author is told.
        let mails = e.app.sent_mails();
        assert!(
            mails
                .iter()
                .any(|m| m.to == AGENT && m.subject.contains("Lettre d'observations")),
            "{:?}",
            mails
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>()
        );
        // Its PDF downloads, from the page and the API.
        let mid = letter["id"].as_str().unwrap().to_owned();
        let r = e
            .agent
            .get(e.app.url(&format!(
                "/o/{ARBRISSEL}/actes/{id}/messages/{mid}/fichiers/1"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
        let (_, html) = text(
            &e.agent,
            e.app.url(&format!("/o/{ARBRISSEL}/actes/{id}/suivi")),
        )
        .await;
        assert!(html.contains("Répondre aux observations"));
        // Bad input changes nothing: not a PDF, the wrong kind of answer.
        let r = answer_from_page(
            &e,
            &id,
            &mid,
            "4-4",
            vec![("reponse.pdf", b"pas un pdf".to_vec())],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("n'est pas un PDF"));
        let r = answer_from_page(&e, &id, &mid, "3-4", vec![("reponse.pdf", pdf("Réponse"))]).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            find(&messages(&e, &id).await, "in", "4-1").unwrap()["state"],
            "reponse_attendue"
        );
        // The answer.
        let r = answer_from_page(
            &e,
            &id,
            &mid,
            "4-4",
            vec![("reponse.pdf", pdf("Réponse aux observations"))],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            find(&messages(&e, &id).await, "in", "4-1").unwrap()["state"],
            "repondu"
        );
        // Answering twice is refused.
        let r = answer_from_page(&e, &id, &mid, "4-4", vec![("reponse.pdf", pdf("Encore"))]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        settle(&e).await;
        let ms = messages(&e, &id).await;
        let answer = find(&ms, "out", "4-4").expect("réponse");
        assert_eq!(answer["state"], "envoye");
        assert_eq!(answer["files"].as_array().unwrap().len(), 1);
        let codes = sim_codes(&e, &id_acte).await;
        assert!(codes.contains(&"4-4".to_owned()), "{codes:?}");
        // The préfecture acknowledged the answer (4-5).
        assert!(find(&ms, "in", "4-5").is_some(), "{ms:?}");
        check_every_archive_with_xmllint(&e.app).await;
    }
}

#[tokio::test]
async fn a_courrier_simple_and_a_defere_get_no_ar() {
    for engine in engines() {
        let e = env_on(engine).await;
        let (id, id_acte) = acquitted(&e, "DEL_2026_120").await;
        e.sim
            .send_courrier_simple(&id_acte, "Merci de nous adresser le rapport annexé.")
            .await
            .unwrap();
        e.sim
            .send_defere(&id_acte, "Incompétence de l'auteur de l'acte.")
            .await
            .unwrap();
        settle(&e).await;
        let ms = messages(&e, &id).await;
        assert_eq!(find(&ms, "in", "2-1").unwrap()["state"], "recu");
        let defere = find(&ms, "in", "5-1").unwrap();
        assert_eq!(defere["state"], "recu");
        assert!(defere["detail"].as_str().unwrap().contains("Incompétence"));
        assert!(!defere["files"].as_array().unwrap().is_empty());
        // Nothing went back: no 2-x nor 5-x from the collectivité.
        assert!(
            ms.iter()
                .filter(|m| m["direction"] == "out")
                .all(|m| m["code"] == "1-1"),
            "{ms:?}"
        );
        let codes = sim_codes(&e, &id_acte).await;
        assert_eq!(
            codes
                .iter()
                .filter(|c| c.starts_with("2-") || c.starts_with("5-"))
                .count(),
            2,
            "{codes:?}"
        );
        let mails = e.app.sent_mails();
        assert!(
            mails
                .iter()
                .any(|m| m.to == AGENT && m.subject.contains("Déféré"))
        );
        // The acte stays acquitted; the courrier simple may still be answered (2-2).
        assert_eq!(status(&e, &id).await, "acquitte");
        assert_eq!(
            find(&ms, "in", "2-1").unwrap()["answers"],
            serde_json::json!(["2-2"])
        );
    }
}

#[tokio::test]
async fn the_button_fetches_the_mailbox_now_and_comes_back_to_the_page() {
    let e = env_on(Engine::Sqlite).await;
    let (id, id_acte) = acquitted(&e, "DEL_2026_125").await;
    e.sim
        .send_courrier_simple(&id_acte, "Merci de nous adresser le rapport annexé.")
        .await
        .unwrap();
    e.sim.idle().await;
    assert!(find(&messages(&e, &id).await, "in", "2-1").is_none());
    let suivi = format!("/o/{ARBRISSEL}/actes/{id}/suivi");
    let r = e
        .app
        .post_form(
            &e.agent,
            &format!("/o/{ARBRISSEL}/actes/messages/relever"),
            &[("retour", &suivi)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], suivi.as_str());
    assert_eq!(
        find(&messages(&e, &id).await, "in", "2-1").unwrap()["state"],
        "recu"
    );
    assert_eq!(e.sim.mailbox_len().await, 0);
    // A return address outside the organisation's actes goes to the messages page.
    for evil in [
        "https://example.org/",
        "/o/243500634/actes/x",
        "//example.org/",
    ] {
        let r = e
            .app
            .post_form(
                &e.agent,
                &format!("/o/{ARBRISSEL}/actes/messages/relever"),
                &[("retour", evil)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            format!("/o/{ARBRISSEL}/actes/messages").as_str()
        );
    }
}

#[tokio::test]
async fn a_demande_de_pieces_is_acknowledged_then_answered_with_two_pieces() {
    for engine in engines() {
        let e = env_on(engine).await;
        let (id, id_acte) = acquitted(&e, "DEL_2026_130").await;
        e.sim
            .send_demande_pieces(
                &id_acte,
                "Le rapport de présentation et le plan de financement.",
            )
            .await
            .unwrap();
        settle(&e).await;
        let ms = messages(&e, &id).await;
        let demande = find(&ms, "in", "3-1").unwrap().clone();
        assert_eq!(demande["state"], "reponse_attendue");
        assert_eq!(find(&ms, "out", "3-2").unwrap()["state"], "envoye");
        let mid = demande["id"].as_str().unwrap();
        // Through the API: two PDFs.
        let form = multipart::Form::new()
            .text("reponse", "3-4")
            .part(
                "documents",
                multipart::Part::bytes(pdf("Rapport")).file_name("rapport.pdf"),
            )
            .part(
                "documents",
                multipart::Part::bytes(pdf("Plan")).file_name("plan.pdf"),
            );
        let r = e
            .api
            .client
            .post(e.api.url(&format!(
                "/api/v1/o/{ARBRISSEL}/actes/{id}/messages/{mid}/reponse"
            )))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status_code = r.status();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(status_code, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["code"], "3-4");
        assert_eq!(answer["state"], "a_envoyer");
        assert_eq!(answer["files"].as_array().unwrap().len(), 2);
        settle(&e).await;
        let ms = messages(&e, &id).await;
        assert_eq!(find(&ms, "out", "3-4").unwrap()["state"], "envoye");
        assert_eq!(find(&ms, "in", "3-1").unwrap()["state"], "repondu");
        assert!(find(&ms, "in", "3-5").is_some(), "AR des pièces : {ms:?}");
        let received = e.sim.received().await;
        let r = received.iter().find(|r| r.id_acte == id_acte).unwrap();
        let pieces = r.exchanges.iter().find(|x| x.code == "3-4").unwrap();
        assert_eq!(
            pieces.files.iter().filter(|f| f.ends_with(".pdf")).count(),
            2,
            "{pieces:?}"
        );
        check_every_archive_with_xmllint(&e.app).await;
    }
}

#[tokio::test]
async fn annulation_only_after_the_ar() {
    for engine in engines() {
        let e = env_on(engine).await;
        let id = create_acte(&e, "DEL_2026_140").await;
        transmit(&e, &id).await;
        e.app.drain_jobs().await;
        assert_eq!(status(&e, &id).await, "transmis");
        let r = e
            .app
            .post_form(
                &e.agent,
                &format!("/o/{ARBRISSEL}/actes/{id}/annuler"),
                &[("confirmation", "oui")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(body(r).await.contains("qu'après l'accusé de réception"));
        assert_eq!(status(&e, &id).await, "transmis");
        settle(&e).await;
        assert_eq!(status(&e, &id).await, "acquitte");
        // Without the confirmation: nothing.
        let r = e
            .app
            .post_form(&e.agent, &format!("/o/{ARBRISSEL}/actes/{id}/annuler"), &[])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("Cochez la case pour confirmer"));
        let r = e
            .app
            .post_form(
                &e.agent,
                &format!("/o/{ARBRISSEL}/actes/{id}/annuler"),
                &[("confirmation", "oui")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(status(&e, &id).await, "annulation_demandee");
        settle(&e).await;
        let t = tracking(&e, &id).await;
        assert_eq!(t["status"], "annule", "{t}");
        let ms = t["messages"].as_array().unwrap();
        assert_eq!(find(ms, "out", "6-1").unwrap()["state"], "envoye");
        assert!(find(ms, "in", "6-2").is_some());
        check_every_archive_with_xmllint(&e.app).await;
    }
}

#[tokio::test]
async fn an_old_classification_is_explained_in_plain_french_and_asked_again() {
    for engine in engines() {
        let e = env_on(engine).await;
        let newer = e.sim.bump_classification().await.unwrap();
        let id = create_acte(&e, "DEL_2026_150").await;
        transmit(&e, &id).await;
        settle(&e).await;
        let t = tracking(&e, &id).await;
        assert_eq!(t["status"], "erreur", "{t}");
        assert!(
            t["error"]
                .as_str()
                .unwrap()
                .contains("La classification utilisée n'est plus à jour"),
            "{t}"
        );
        let (_, html) = text(
            &e.agent,
            e.app.url(&format!("/o/{ARBRISSEL}/actes/{id}/suivi")),
        )
        .await;
        assert!(html.contains("La classification utilisée n'est plus à jour"));
        assert!(
            html.contains("ODT-VERIF-01"),
            "the préfecture's own text is shown too"
        );
        assert!(html.contains("Transmettre à nouveau à la préfecture"));
        // Bouquet asked for the classification on its own (7-1), and received it (7-2).
        let org_messages: Vec<Value> = e
            .api
            .get(&format!("/api/v1/o/{ARBRISSEL}/actes/messages"))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            find(&org_messages, "out", "7-1").is_some(),
            "{org_messages:?}"
        );
        assert!(
            find(&org_messages, "in", "7-2").is_some(),
            "{org_messages:?}"
        );
        let r = e
            .api
            .get(&format!("/api/v1/o/{ARBRISSEL}/actes/classification"))
            .await;
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["date"], newer.to_string());
        assert!(
            e.app
                .sent_mails()
                .iter()
                .any(|m| m.to == AGENT && m.subject.contains("Anomalie"))
        );
        // Transmitted again with the new classification: acquitted.
        assert_eq!(transmit(&e, &id).await.status(), StatusCode::SEE_OTHER);
        settle(&e).await;
        assert_eq!(status(&e, &id).await, "acquitte");
        // Asking on demand works too (from the messages page).
        let r = e
            .app
            .post_form(
                &e.agent,
                &format!("/o/{ARBRISSEL}/actes/classification/demande"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        settle(&e).await;
        let org_messages: Vec<Value> = e
            .api
            .get(&format!("/api/v1/o/{ARBRISSEL}/actes/messages"))
            .await
            .json()
            .await
            .unwrap();
        assert!(
            find(&org_messages, "in", "7-3").is_some(),
            "classification à jour : {org_messages:?}"
        );
        check_every_archive_with_xmllint(&e.app).await;
    }
}

#[tokio::test]
async fn an_out_of_norm_anomaly_is_stored_shown_and_flagged() {
    for engine in engines() {
        let e = env_on(engine).await;
        let (id, _) = acquitted(&e, "DEL_2026_160").await;
        e.sim.send_out_of_norm(ARBRISSEL).await.unwrap();
        settle(&e).await;
        let flagged: Vec<Value> = e
            .api
            .get(&format!(
                "/api/v1/o/{ARBRISSEL}/actes/messages?signales=true"
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        assert_eq!(flagged[0]["root"], "AnomalieEnveloppe");
        assert!(flagged[0]["detail"].as_str().unwrap().contains("999"));
        let (s, html) = text(
            &e.agent,
            e.app
                .url(&format!("/o/{ARBRISSEL}/actes/messages?signales=1")),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(html.contains("Signalé"));
        assert!(
            html.contains("hors norme") || html.contains("Nature 999"),
            "{html}"
        );
        // The acquitted acte is not undone by it.
        assert_eq!(status(&e, &id).await, "acquitte");
    }
}

#[tokio::test]
async fn the_prefecture_down_is_retried_with_the_same_archive_nothing_lost() {
    for engine in engines() {
        let mut e = env_on(engine).await;
        e.sim.set_unavailable(true).await.unwrap();
        let id = create_acte(&e, "DEL_2026_170").await;
        transmit(&e, &id).await;
        e.app.drain_jobs().await;
        assert_eq!(status(&e, &id).await, "a_transmettre");
        e.clock.advance(SignedDuration::from_secs(11));
        e.app.drain_jobs().await;
        let attempts = scalar_i64(
            &e.app,
            "SELECT MAX(attempts) FROM actes_envelopes WHERE org_id = $1",
            &scalar_org(&e.app).await,
        )
        .await;
        assert_eq!(attempts, 2);
        assert_eq!(status(&e, &id).await, "a_transmettre");
        e.sim.set_unavailable(false).await.unwrap();
        e.clock.advance(SignedDuration::from_secs(21));
        settle(&e).await;
        assert_eq!(status(&e, &id).await, "acquitte");
        let (archives, _) = check_every_archive_with_xmllint(&e.app).await;
        assert_eq!(
            archives,
            vec!["BQT-EACT--213500051--20261123-1.tar.gz".to_owned()]
        );
        let org = scalar_org(&e.app).await;
        assert_eq!(
            scalar_i64(
                &e.app,
                "SELECT COUNT(*) FROM actes_envelopes WHERE org_id = $1",
                &org
            )
            .await,
            1
        );

        // Down for hours: after the last attempt, `erreur` in plain French; sent again later
        // with a new serial (the failed one is never reused).
        e.sim.set_unavailable(true).await.unwrap();
        let other = create_acte(&e, "DEL_2026_171").await;
        transmit(&e, &other).await;
        for _ in 0..14 {
            e.app.drain_jobs().await;
            e.clock.advance(SignedDuration::from_secs(3601));
        }
        refresh(&mut e).await;
        let t = tracking(&e, &other).await;
        assert_eq!(t["status"], "erreur", "{t}");
        assert!(
            t["error"]
                .as_str()
                .unwrap()
                .contains("La préfecture ne répond pas"),
            "{t}"
        );
        assert!(
            e.sim
                .received()
                .await
                .iter()
                .all(|r| !r.id_acte.contains("DEL_2026_171"))
        );
        e.sim.set_unavailable(false).await.unwrap();
        assert_eq!(transmit(&e, &other).await.status(), StatusCode::SEE_OTHER);
        settle(&e).await;
        assert_eq!(status(&e, &other).await, "acquitte");
        let (archives, _) = check_every_archive_with_xmllint(&e.app).await;
        // The unanswered envelope (serial 2 of the 23rd) stays in error, never reused.
        let day = e
            .clock
            .now()
            .to_zoned_datetime(bouquet_kernel::clock::time_zone("Europe/Paris"))
            .strftime("%Y%m%d")
            .to_string();
        let serial = if day == "20261123" { 3 } else { 1 };
        assert_eq!(
            archives,
            vec![
                "BQT-EACT--213500051--20261123-1.tar.gz".to_owned(),
                format!("BQT-EACT--213500051--{day}-{serial}.tar.gz")
            ]
        );
        assert_eq!(
            scalar_i64(&e.app, "SELECT COUNT(*) FROM actes_envelopes WHERE org_id = $1 AND state = 'erreur' AND serial = 2", &org).await,
            1
        );
    }
}

#[tokio::test]
async fn an_unreachable_prefecture_keeps_the_acte_queued() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app_configured(Engine::Sqlite, bouquet::modules(), true, move |cfg| {
        cfg.prefecture_url = Some(format!("http://127.0.0.1:{port}/").parse().unwrap());
    })
    .await;
    let token = app.api_token(AGENT).await;
    let api = app.api(&token);
    let agent = app.login(AGENT).await;
    let e = Env {
        sim: simulator(&Arc::new(ManualClock::new(start_time())), None).await,
        clock: app.clock.clone(),
        app,
        agent,
        api,
    };
    let id = create_acte(&e, "DEL_2026_175").await;
    transmit(&e, &id).await;
    e.app.drain_jobs().await;
    assert_eq!(status(&e, &id).await, "a_transmettre");
    let org = scalar_org(&e.app).await;
    assert_eq!(
        scalar_i64(&e.app, "SELECT COUNT(*) FROM actes_envelopes WHERE org_id = $1 AND state = 'a_envoyer' AND last_error LIKE '%injoignable%'", &org).await,
        1
    );
    assert_eq!(
        scalar_i64(
            &e.app,
            "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND status = 'pending'",
            "actes.transmission"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn without_a_prefecture_transmission_is_refused_in_french_and_nothing_is_queued() {
    // Not in demo mode: no simulator is started, and none is configured.
    let app = spawn_app_configured(Engine::Sqlite, bouquet::modules(), false, |_| {}).await;
    let token = app.api_token(AGENT).await;
    let api = app.api(&token);
    let agent = app.login(AGENT).await;
    let e = Env {
        sim: simulator(&Arc::new(ManualClock::new(start_time())), None).await,
        clock: app.clock.clone(),
        app,
        agent,
        api,
    };
    let id = create_acte(&e, "DEL_2026_180").await;
    let before = e.app.fingerprint().await;
    let r = e
        .api
        .client
        .post(
            e.api
                .url(&format!("/api/v1/o/{ARBRISSEL}/actes/{id}/transmission")),
        )
        .send()
        .await
        .unwrap();
    let problem = crate::helpers::problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Aucune préfecture n'est configurée")
    );
    let r = transmit(&e, &id).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body(r).await.contains("Aucune préfecture n'est configurée"));
    assert_eq!(
        e.app.fingerprint().await,
        before,
        "nothing changed, nothing queued"
    );
    assert_eq!(status(&e, &id).await, "brouillon");
}

#[tokio::test]
async fn no_ar_after_48_hours_alerts_the_author_and_the_referent_once() {
    for engine in engines() {
        let mut e = env_on(engine).await;
        let id = create_acte(&e, "DEL_2026_190").await;
        transmit(&e, &id).await;
        e.app.drain_jobs().await;
        assert_eq!(status(&e, &id).await, "transmis");
        let p = &e.app.platform;
        e.clock.advance(SignedDuration::from_hours(47));
        assert_eq!(alerts::send(p, p.clock.now()).await.unwrap(), 0);
        e.clock.advance(SignedDuration::from_mins(61));
        assert_eq!(alerts::send(p, p.clock.now()).await.unwrap(), 1);
        assert_eq!(alerts::send(p, p.clock.now()).await.unwrap(), 0, "once");
        e.app.drain_jobs().await;
        let mails = e.app.sent_mails();
        let alerted: Vec<&str> = mails
            .iter()
            .filter(|m| m.subject.contains("Pas d'accusé de réception"))
            .map(|m| m.to.as_str())
            .collect();
        assert!(alerted.contains(&AGENT), "{alerted:?}");
        assert!(
            alerted.contains(&"agent@epci.demo"),
            "le référent : {alerted:?}"
        );
        assert_eq!(alerted.len(), 2);
        // On the dashboard and the suivi page.
        refresh(&mut e).await;
        let (_, home) = text(&e.agent, e.app.url(&format!("/o/{ARBRISSEL}/"))).await;
        assert!(
            home.contains("attend l'accusé de réception de la préfecture"),
            "{home}"
        );
        let (_, html) = text(
            &e.agent,
            e.app.url(&format!("/o/{ARBRISSEL}/actes/{id}/suivi")),
        )
        .await;
        assert!(html.contains("n'est pas arrivé 48 heures après l'envoi"));
        // The AR arrives: no more waiting.
        settle(&e).await;
        assert_eq!(status(&e, &id).await, "acquitte");
    }
}

/// A préfecture mailbox under the test's control (the simulator only emits well-formed
/// returns): `(id, name, bytes)`; an id in `broken` answers 500.
/// `(id, name, bytes)` of the archives in a mailbox.
type Archives = Vec<(String, String, Vec<u8>)>;

#[derive(Clone, Default)]
struct Mailbox {
    items: Arc<std::sync::Mutex<Archives>>,
    broken: Arc<std::sync::Mutex<Vec<String>>>,
    /// Deposits are refused at the door (400) with this text.
    refuse: Arc<std::sync::Mutex<Option<String>>>,
}

impl Mailbox {
    fn put(&self, id: &str, name: &str, bytes: Vec<u8>) {
        self.items
            .lock()
            .unwrap()
            .push((id.to_owned(), name.to_owned(), bytes));
    }

    fn ids(&self) -> Vec<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .map(|i| i.0.clone())
            .collect()
    }
}

async fn fake_prefecture(mailbox: Mailbox) -> url::Url {
    use axum::extract::{Path as AxPath, State};
    use axum::routing::{get, post};
    async fn list(State(m): State<Mailbox>) -> axum::Json<Value> {
        let items = m.items.lock().unwrap();
        axum::Json(Value::Array(
            items
                .iter()
                .map(
                    |(id, name, b)| serde_json::json!({ "id": id, "nom": name, "taille": b.len() }),
                )
                .collect(),
        ))
    }
    async fn fetch(
        State(m): State<Mailbox>,
        AxPath(id): AxPath<String>,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if m.broken.lock().unwrap().contains(&id) {
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "panne").into_response();
        }
        match m.items.lock().unwrap().iter().find(|i| i.0 == id) {
            Some((_, _, b)) => b.clone().into_response(),
            None => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    }
    async fn delete(
        State(m): State<Mailbox>,
        AxPath(id): AxPath<String>,
    ) -> axum::http::StatusCode {
        let mut items = m.items.lock().unwrap();
        let before = items.len();
        items.retain(|i| i.0 != id);
        if items.len() < before {
            axum::http::StatusCode::NO_CONTENT
        } else {
            axum::http::StatusCode::NOT_FOUND
        }
    }
    async fn depot(State(m): State<Mailbox>) -> axum::response::Response {
        use axum::response::IntoResponse;
        match m.refuse.lock().unwrap().clone() {
            Some(text) => (axum::http::StatusCode::BAD_REQUEST, text).into_response(),
            None => "OK".into_response(),
        }
    }
    let router = axum::Router::new()
        .route("/actes/depot", post(depot))
        .route("/actes/retours", get(list))
        .route("/actes/retours/{id}", get(fetch).delete(delete))
        .with_state(mailbox);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/").parse().unwrap()
}

/// A return archive: the préfecture's envelope for `siren` and `files`.
fn return_archive(siren: &str, files: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    use bouquet_format_actes::{EmetteurPref, EnveloppePref, Message};
    let envelope = Message::EnveloppeMISILLCL(EnveloppePref {
        emetteur: EmetteurPref::SousPrefecture {
            departement: "035".into(),
            arrondissement: 1,
        },
        referent: None,
        formulaires: files.iter().map(|f| f.0.clone()).collect(),
        destinataire_siren: siren.to_owned(),
    });
    let mut all = vec![(
        format!("EACT--SPREF0351-{siren}-20261123-7.xml"),
        bouquet_format_actes::build(&envelope).unwrap(),
    )];
    all.extend(files);
    bouquet_format_actes::pack(&all).unwrap()
}

#[tokio::test]
async fn malformed_unknown_and_orphan_returns_are_stored_and_flagged_never_dropped() {
    use bouquet_format_actes::{DonneesActe, Message, Nature};
    use jiff::civil::date;
    for engine in engines() {
        let mailbox = Mailbox::default();
        let url = fake_prefecture(mailbox.clone()).await;
        let app = spawn_app_configured(engine, bouquet::modules(), true, move |cfg| {
            cfg.prefecture_url = Some(url);
        })
        .await;
        let token = app.api_token(AGENT).await;
        let api = app.api(&token);
        let agent = app.login(AGENT).await;
        let e = Env {
            sim: simulator(&Arc::new(ManualClock::new(start_time())), None).await,
            clock: app.clock.clone(),
            app,
            agent,
            api,
        };
        let known = create_acte(&e, "DEL_2026_200").await;
        // An AR about an acte Bouquet does not know.
        let ar = Message::ARActe {
            id_acte: "035-213500051-20261120-INCONNU_1-DE".into(),
            date_reception: date(2026, 11, 23),
            acte_recu: DonneesActe {
                date: date(2026, 11, 20),
                numero_interne: "INCONNU_1".into(),
                nature: Nature::DE,
                matieres: vec![7, 5],
                objet: "Acte inconnu".into(),
                precedent_id_acte: None,
                classification_date: date(2019, 4, 18),
                document: "99_DE-035-213500051-20261120-INCONNU_1-DE-1-1_1.pdf".into(),
                annexes: Vec::new(),
                document_papier: Some(false),
            },
            classification_date_en_cours: date(2019, 4, 18),
        };
        mailbox.put(
            "r1",
            "EACT--SPREF0351-213500051-20261123-1.tar.gz",
            return_archive(
                ARBRISSEL,
                vec![(
                    "035-213500051-20261120-INCONNU_1-DE-1-2_1.xml".into(),
                    bouquet_format_actes::build(&ar).unwrap(),
                )],
            ),
        );
        // Malformed XML about a known acte (by its file name).
        let malformed = b"<?xml version=\"1.0\"?><actes:CourrierSimple xmlns:actes=\"http://www.interieur.gouv.fr/ACTES#v1.1-20040216\"><oups".to_vec();
        mailbox.put(
            "r2",
            "EACT--SPREF0351-213500051-20261123-2.tar.gz",
            return_archive(
                ARBRISSEL,
                vec![(
                    "035-213500051-20261120-DEL_2026_200-DE-2-1_1.xml".into(),
                    malformed.clone(),
                )],
            ),
        );
        // Not an archive at all.
        mailbox.put(
            "r3",
            "EACT--SPREF0351-213500051-20261123-3.tar.gz",
            b"ceci n'est pas une archive".to_vec(),
        );
        // A root element nobody knows.
        mailbox.put(
            "r4",
            "EACT--SPREF0351-213500051-20261123-4.tar.gz",
            return_archive(
                ARBRISSEL,
                vec![(
                    "035-213500051----9-9_1.xml".into(),
                    b"<Bonjour>tout le monde</Bonjour>".to_vec(),
                )],
            ),
        );
        // For an organisation Bouquet does not know.
        let sans_changement = Message::ReponseClassificationSansChangement {
            date_classification: date(2019, 4, 18),
        };
        mailbox.put(
            "r5",
            "EACT--SPREF0351-123456782-20261123-5.tar.gz",
            return_archive(
                "123456782",
                vec![(
                    "035-123456782----7-3_1.xml".into(),
                    bouquet_format_actes::build(&sans_changement).unwrap(),
                )],
            ),
        );
        // One that cannot be downloaded now: left in the mailbox, not acknowledged.
        mailbox.put(
            "r6",
            "EACT--SPREF0351-213500051-20261123-6.tar.gz",
            b"x".to_vec(),
        );
        mailbox.broken.lock().unwrap().push("r6".into());

        let p = &e.app.platform;
        assert_eq!(returns::fetch(p).await.unwrap(), 5);
        assert_eq!(
            mailbox.ids(),
            vec!["r6".to_owned()],
            "only what is stored leaves the mailbox"
        );
        assert_eq!(returns::fetch(p).await.unwrap(), 0, "nothing twice");
        assert_eq!(returns::process_stored(p).await.unwrap(), 5);
        assert_eq!(returns::process_stored(p).await.unwrap(), 0);

        let flagged: Vec<Value> = e
            .api
            .get(&format!(
                "/api/v1/o/{ARBRISSEL}/actes/messages?signales=true"
            ))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(flagged.len(), 4, "{flagged:#?}");
        let summaries: Vec<&str> = flagged
            .iter()
            .map(|m| m["summary"].as_str().unwrap())
            .collect();
        assert!(
            summaries
                .iter()
                .any(|s| s.contains("acte inconnu") && s.contains("INCONNU_1")),
            "{summaries:?}"
        );
        assert!(
            summaries.iter().any(|s| s.contains("illisible")),
            "{summaries:?}"
        );
        assert!(
            summaries
                .iter()
                .any(|s| s.contains("non reconnu") && s.contains("Bonjour")),
            "{summaries:?}"
        );
        // The malformed letter is on its acte's page, flagged, and its bytes are kept.
        let bad = flagged
            .iter()
            .find(|m| {
                m["summary"].as_str().unwrap().contains("illisible") && !m["acte_id"].is_null()
            })
            .expect("rattaché à l'acte");
        assert_eq!(bad["acte_id"].as_str().unwrap(), known);
        let (_, html) = text(
            &e.agent,
            e.app.url(&format!("/o/{ARBRISSEL}/actes/{known}/suivi")),
        )
        .await;
        assert!(html.contains("Signalé"));
        let r = e
            .agent
            .get(e.app.url(&format!(
                "/o/{ARBRISSEL}/actes/{known}/messages/{}/xml",
                bad["id"].as_str().unwrap()
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().to_vec(), malformed);
        assert_eq!(
            status(&e, &known).await,
            "brouillon",
            "nothing changed on the acte"
        );
        // The operator sees the one no organisation was found for.
        let admin = e.app.login("admin@operateur.demo").await;
        let (s, page) = text(&admin, e.app.url("/admin/actes/retours")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            page.contains("pour une organisation inconnue de Bouquet"),
            "{page}"
        );
        let (s, _) = text(&e.agent, e.app.url("/admin/actes/retours")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // Once the préfecture serves it again, the last one comes in too.
        mailbox.broken.lock().unwrap().clear();
        assert_eq!(returns::fetch(p).await.unwrap(), 1);
        assert!(mailbox.ids().is_empty());
        // Refused at the door (400): `erreur` with the préfecture's text; sent again later.
        *mailbox.refuse.lock().unwrap() =
            Some("Archive refusée : le nom de l'archive n'est pas conforme.".into());
        assert_eq!(transmit(&e, &known).await.status(), StatusCode::SEE_OTHER);
        e.app.drain_jobs().await;
        let t = tracking(&e, &known).await;
        assert_eq!(t["status"], "erreur", "{t}");
        assert!(
            t["error"]
                .as_str()
                .unwrap()
                .contains("La préfecture a refusé l'envoi : Archive refusée : le nom de l'archive n'est pas conforme."),
            "{t}"
        );
        *mailbox.refuse.lock().unwrap() = None;
        assert_eq!(transmit(&e, &known).await.status(), StatusCode::SEE_OTHER);
        e.app.drain_jobs().await;
        assert_eq!(status(&e, &known).await, "transmis");
    }
}

#[tokio::test]
async fn another_organisation_cannot_reach_the_exchange_of_an_acte() {
    let e = env_on(Engine::Sqlite).await;
    let (id, id_acte) = acquitted(&e, "DEL_2026_210").await;
    e.sim
        .send_lettre_observations(&id_acte, "Observation.")
        .await
        .unwrap();
    settle(&e).await;
    let ms = messages(&e, &id).await;
    let mid = find(&ms, "in", "4-1").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = format!("/o/{ARBRISSEL}/actes/{id}");
    let company = e.app.login("contact@entreprise.demo").await;
    let attempts = vec![
        Attempt::get(Verb::Read, format!("{a}/suivi")),
        Attempt::get(Verb::Read, format!("{a}/accuse-reception")),
        Attempt::get(Verb::Read, format!("{a}/tamponne")),
        Attempt::get(Verb::Read, format!("{a}/bordereau")),
        Attempt::get(Verb::Read, format!("{a}/messages/{mid}/xml")),
        Attempt::get(Verb::Read, format!("{a}/messages/{mid}/fichiers/1")),
        Attempt::get(Verb::List, format!("/o/{ARBRISSEL}/actes/messages")),
        Attempt::get(
            Verb::Read,
            format!("/o/{ARBRISSEL}/actes/messages/{mid}/xml"),
        ),
        Attempt::get(
            Verb::Read,
            format!("/o/{ARBRISSEL}/actes/messages/{mid}/fichiers/1"),
        ),
        Attempt::post(Verb::Change, format!("{a}/transmettre"), &[]),
        Attempt::post(
            Verb::Change,
            format!("/o/{ARBRISSEL}/actes/transmettre"),
            &[("acte", &id)],
        ),
        Attempt::post(
            Verb::Change,
            format!("{a}/messages/{mid}/repondre"),
            &[("reponse", "4-4")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{ARBRISSEL}/actes/classification/demande"),
            &[],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{ARBRISSEL}/actes/messages/relever"),
            &[],
        ),
        Attempt::post(
            Verb::Delete,
            format!("{a}/annuler"),
            &[("confirmation", "oui")],
        ),
    ];
    assert_refused(&e.app, Caller::Browser(&company), &attempts).await;
    // Through the EPCI's own URL with Arbrissel's ids: 404 as well.
    let epci_agent = e.app.login("agent@epci.demo").await;
    let own = format!("/o/243500634/actes/{id}");
    assert_refused(
        &e.app,
        Caller::Browser(&epci_agent),
        &[
            Attempt::get(Verb::Read, format!("{own}/suivi")),
            Attempt::get(Verb::Read, format!("{own}/tamponne")),
            Attempt::get(Verb::List, format!("/o/243500634/actes/messages/{mid}/xml")),
            Attempt::post(Verb::Change, format!("{own}/transmettre"), &[]),
            Attempt::post(
                Verb::Change,
                format!("{own}/messages/{mid}/repondre"),
                &[("reponse", "4-4")],
            ),
            Attempt::post(
                Verb::Delete,
                format!("{own}/annuler"),
                &[("confirmation", "oui")],
            ),
        ],
    )
    .await;
    let token = e.app.api_token("contact@entreprise.demo").await;
    let api = format!("/api/v1/o/{ARBRISSEL}/actes/{id}");
    assert_refused(
        &e.app,
        Caller::Token(&token),
        &[
            Attempt::api(Verb::Read, Method::GET, format!("{api}/suivi"), None),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("{api}/accuse-reception"),
                None,
            ),
            Attempt::api(Verb::Read, Method::GET, format!("{api}/tamponne"), None),
            Attempt::api(Verb::Read, Method::GET, format!("{api}/bordereau"), None),
            Attempt::api(Verb::List, Method::GET, format!("{api}/messages"), None),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("{api}/messages/{mid}"),
                None,
            ),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("{api}/messages/{mid}/fichiers/1"),
                None,
            ),
            Attempt::api(
                Verb::List,
                Method::GET,
                format!("/api/v1/o/{ARBRISSEL}/actes/messages"),
                None,
            ),
            Attempt::api(
                Verb::Change,
                Method::POST,
                format!("{api}/transmission"),
                None,
            ),
            Attempt::api(
                Verb::Change,
                Method::POST,
                format!("{api}/messages/{mid}/reponse"),
                None,
            ),
            Attempt::api(
                Verb::Change,
                Method::POST,
                format!("/api/v1/o/{ARBRISSEL}/actes/classification/demande"),
                None,
            ),
            Attempt::api(
                Verb::Delete,
                Method::POST,
                format!("{api}/annulation"),
                None,
            ),
        ],
    )
    .await;
    // The référent who follows Arbrissel reads its suivi but does not act.
    let (s, _) = text(&epci_agent, e.app.url(&format!("{a}/suivi"))).await;
    assert_eq!(s, StatusCode::OK);
    let before = e.app.fingerprint().await;
    let r = e
        .app
        .post_form(
            &epci_agent,
            &format!("{a}/annuler"),
            &[("confirmation", "oui")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(body(r).await.contains("lecture seule"));
    assert_eq!(e.app.fingerprint().await, before);
    // The routes are in the OpenAPI.
    let spec: Value = reqwest::get(e.app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/o/{siren}/actes/{id}/transmission",
        "/api/v1/o/{siren}/actes/{id}/suivi",
        "/api/v1/o/{siren}/actes/{id}/tamponne",
        "/api/v1/o/{siren}/actes/{id}/messages/{message}/reponse",
        "/api/v1/o/{siren}/actes/classification/demande",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} manque dans l'OpenAPI"
        );
    }
}

#[tokio::test]
async fn a_batch_is_checked_whole_before_anything_is_queued() {
    let e = env_on(Engine::Sqlite).await;
    let (done, _) = acquitted(&e, "DEL_2026_220").await;
    let a = create_acte(&e, "DEL_2026_221").await;
    let b = create_acte(&e, "DEL_2026_222").await;
    // One of them cannot go: none is queued, and the reason is said.
    let r = e
        .app
        .post_form(
            &e.agent,
            &format!("/o/{ARBRISSEL}/actes/transmettre"),
            &[("acte", &a), ("acte", &done)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(body(r).await.contains("Aucun acte n'a été transmis"));
    assert_eq!(status(&e, &a).await, "brouillon");
    let r = e
        .app
        .post_form(
            &e.agent,
            &format!("/o/{ARBRISSEL}/actes/transmettre"),
            &[("acte", &a), ("acte", &b)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    settle(&e).await;
    assert_eq!(status(&e, &a).await, "acquitte");
    assert_eq!(status(&e, &b).await, "acquitte");
    let (archives, _) = check_every_archive_with_xmllint(&e.app).await;
    assert_eq!(archives.len(), 3);
}
