//! The parapheur over HTTP: circuits, visas, signatures checked by independent validators
//! (pyhanko, pdfsig, openssl), rejection, delegation, a two-organisation circuit, bad input,
//! the API, the time-stamping authority, and every route refused to other organisations.

use std::path::Path;
use std::process::Command;

use reqwest::{Client, Method, StatusCode, multipart};

use crate::helpers::{TestApp, body, csrf_of, engines, spawn_app, spawn_app_on, text};
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const ARBRISSEL: &str = "213500051";
const DEMO_TITLE: &str = "Délibération 2026-041 : tarifs de la restauration scolaire";

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The operator's SIREN in the demo.
async fn operator_siren(app: &TestApp) -> String {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT siren FROM organisations WHERE kind = 'operateur'"
    )
    .fetch_one(c)
    .await)
    .unwrap()
}

/// The id of the latest dossier whose title is `title`.
pub(crate) async fn dossier_id(app: &TestApp, title: &str) -> String {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT id FROM parapheur_dossiers WHERE title = $1 ORDER BY created_at DESC LIMIT 1"
    )
    .bind(title)
    .fetch_one(c)
    .await)
    .unwrap()
}

/// The hidden `version` of a dossier page.
fn version_of(html: &str) -> String {
    let marker = "name=\"version\" value=\"";
    match html.find(marker) {
        Some(start) => html[start + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .to_owned(),
        // No action form: the page offers nothing to this person; post an old version.
        None => "0".to_owned(),
    }
}

/// `html` shows `text`, whether its apostrophes were escaped or not.
fn has(html: &str, text: &str) -> bool {
    html.contains(text) || html.contains(&text.replace('\'', "&#39;"))
}

fn dossier_path(siren: &str, id: &str) -> String {
    format!("/o/{siren}/parapheur/dossiers/{id}")
}

/// Posts an action form of a dossier page (with its CSRF token and version).
async fn act(
    app: &TestApp,
    client: &Client,
    siren: &str,
    id: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = text(client, app.url(&dossier_path(siren, id))).await;
    let version = version_of(&html);
    let csrf = csrf_of(&html);
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf), ("version", &version)];
    form.extend_from_slice(extra);
    client
        .post(app.url(&format!("{}/{action}", dossier_path(siren, id))))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

/// pyhanko and pdfsig both judge every signature of `pdf` valid, against the demo root; one
/// byte changed inside the signed range makes both fail.
async fn assert_pdf_signatures_valid(app: &TestApp, pdf: &[u8], expected: usize) {
    let root = reqwest::get(app.url("/ac-bouquet-demo.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(root.contains("BEGIN CERTIFICATE"));
    let dir = tempfile::tempdir().unwrap();
    let root_path = write(dir.path(), "root.pem", root.as_bytes());
    let pdf_path = write(dir.path(), "signe.pdf", pdf);
    let out = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--pretty-print",
            "--no-revocation-check",
            "--trust",
            &root_path,
            "--trust-replace",
            &pdf_path,
        ])
        .output()
        .expect("pyhanko (pip install pyhanko pyhanko-cli)");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyhanko: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("pdfsig")
        .arg(&pdf_path)
        .output()
        .expect("pdfsig (poppler-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("Signature is Valid.").count(),
        expected,
        "pdfsig: {text}"
    );
    assert!(text.contains("Total document signed"), "pdfsig: {text}");
    // One byte changed inside the first signed range: both validators must object.
    let mut bad = pdf.to_vec();
    let i = bad.len() / 10;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad_path = write(dir.path(), "altere.pdf", &bad);
    let out = Command::new("pdfsig").arg(&bad_path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Signature is Valid.")
            || text.matches("Signature is Valid.").count() < expected,
        "pdfsig accepted an altered file: {text}"
    );
    let out = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--trust",
            &root_path,
            "--trust-replace",
            &bad_path,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "pyhanko accepted an altered file");
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "doc.pdf", pdf);
    let out = Command::new("pdftotext")
        .args([&path, "-"])
        .output()
        .expect("pdftotext");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_maire_signs_the_demo_deliberation_from_his_inbox() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let maire = app.login("maire@commune.demo").await;
        let (status, html) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(DEMO_TITLE),
            "{engine:?}: the inbox lists the délibération"
        );
        let id = dossier_id(&app, DEMO_TITLE).await;
        let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
        assert!(page.contains("À vous d'agir : signer"));
        assert!(page.contains("Vu, conforme au projet adopté en séance."));

        // A wrong password: nothing signed.
        let r = act(
            &app,
            &maire,
            ARBRISSEL,
            &id,
            "signer",
            &[("mot_de_passe", "pas le bon")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(has(&body(r).await, "Le mot de passe n'est pas le bon"));
        let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
        assert!(
            has(&page, "À vous d'agir : signer"),
            "still waiting after a wrong password"
        );

        let r = act(
            &app,
            &maire,
            ARBRISSEL,
            &id,
            "signer",
            &[("mot_de_passe", "bouquet-demo")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
        assert!(page.contains("Terminé"), "{engine:?}");
        let pdf = maire
            .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_pdf_signatures_valid(&app, &pdf, 1).await;
        let stamp = pdftotext(&pdf);
        assert!(
            stamp.contains("Signé par Jean-Yves Rocher") && stamp.contains("Maire"),
            "{stamp}"
        );

        // The bordereau: readable, with the visa and the signature.
        let bordereau = maire
            .get(app.url(&format!("{}/bordereau", dossier_path(ARBRISSEL, &id))))
            .send()
            .await
            .unwrap();
        assert_eq!(bordereau.status(), StatusCode::OK);
        let words = pdftotext(&bordereau.bytes().await.unwrap());
        assert!(words.contains("Bordereau de signature"), "{words}");
        assert!(
            words.contains("Sophie Lebrun") && words.contains("Jean-Yves Rocher"),
            "{words}"
        );
        assert!(words.contains("Bouquet démo"), "{words}");

        // The sender was told.
        app.drain_jobs().await;
        let mails = app.sent_mails();
        assert!(mails.iter().any(|m| m.to.contains("agent@commune.demo") && m.subject.contains("Dossier signé")), "{mails:?}");
    }
}

/// Sends `pdf` into the circuit whose name starts with `circuit` as `client`.
async fn send(
    app: &TestApp,
    client: &Client,
    siren: &str,
    circuit: &str,
    title: &str,
    name: &str,
    pdf: Vec<u8>,
) -> reqwest::Response {
    let (_, html) = text(client, app.url(&format!("/o/{siren}/parapheur/nouveau"))).await;
    let option = html
        .split("<option value=\"")
        .find(|o| {
            o.split('>')
                .nth(1)
                .is_some_and(|label| label.starts_with(circuit))
        })
        .and_then(|o| o.split('"').next())
        .expect("circuit in the form")
        .to_owned();
    let csrf = csrf_of(&html);
    let form = multipart::Form::new()
        .text("titre", title.to_owned())
        .text("type", "deliberation")
        .text("circuit", option)
        .part(
            "document",
            multipart::Part::bytes(pdf).file_name(name.to_owned()),
        );
    client
        .post(app.url(&format!(
            "/o/{siren}/parapheur/nouveau?_csrf={}",
            url_encode(&csrf)
        )))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn a_pdf(title: &str) -> Vec<u8> {
    bouquet_parapheur::demo::deliberation_pdf(
        "Arbrissel",
        title,
        jiff::civil::Date::constant(2026, 12, 7),
    )
    .unwrap()
}

#[tokio::test]
async fn a_deliberation_goes_through_visa_then_signature_and_a_rejection_is_told() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;

    // Bad input first: a file named .pdf that is not one, an encrypted PDF.
    let before = app.fingerprint().await;
    let r = send(
        &app,
        &agent,
        ARBRISSEL,
        "Délibérations",
        "Délibération 2026-050",
        "d.pdf",
        b"<html>pas un pdf</html>".to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("ce n'est pas un PDF"));
    let dir = tempfile::tempdir().unwrap();
    let clear = write(dir.path(), "clair.pdf", &a_pdf("Délibération 2026-050"));
    let locked = dir.path().join("chiffre.pdf");
    let status = Command::new("qpdf")
        .args(["--encrypt", "u", "o", "256", "--", &clear])
        .arg(&locked)
        .status()
        .expect("qpdf");
    assert!(status.success());
    let r = send(
        &app,
        &agent,
        ARBRISSEL,
        "Délibérations",
        "Délibération 2026-050",
        "chiffre.pdf",
        std::fs::read(&locked).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("chiffré"));
    assert_eq!(
        app.fingerprint().await,
        before,
        "refused uploads change nothing"
    );

    // Sent; the secretary visas (she is the visa step), the maire is told.
    let r = send(
        &app,
        &agent,
        ARBRISSEL,
        "Délibérations",
        "Délibération 2026-050",
        "deliberation-2026-050.pdf",
        a_pdf("Délibération 2026-050"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = dossier_id(&app, "Délibération 2026-050").await;
    // The maire cannot act before the visa.
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "rejeter",
        &[("motif", "trop tôt")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = act(
        &app,
        &agent,
        ARBRISSEL,
        &id,
        "viser",
        &[("commentaire", "")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert!(
        app.sent_mails()
            .iter()
            .any(|m| m.to.contains("maire@commune.demo") && m.subject.starts_with("À signer"))
    );

    // A rejection needs a motive; then the secretary is told with it.
    let before = app.fingerprint().await;
    let r = act(&app, &maire, ARBRISSEL, &id, "rejeter", &[("motif", "  ")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("Indiquez le motif du rejet"));
    assert_eq!(app.fingerprint().await, before);
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "rejeter",
        &[("motif", "Le montant de l'article 2 est faux.")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert!(
        app.sent_mails()
            .iter()
            .any(|m| m.to.contains("agent@commune.demo")
                && m.subject.starts_with("Dossier rejeté")
                && m.text.contains("article 2"))
    );
    let (_, page) = text(&agent, app.url(&dossier_path(ARBRISSEL, &id))).await;
    assert!(page.contains("Rejeté") && has(&page, "Le montant de l'article 2 est faux."));
}

#[tokio::test]
async fn a_substitute_signs_in_the_absence_of_the_maire() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    // The secretary gets a demo certificate; the maire declares his absence.
    let r = app
        .post_form(
            &agent,
            &format!("/o/{ARBRISSEL}/parapheur/certificats/demo"),
            &[("titulaire", "moi")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(
        &maire,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/absences")),
    )
    .await;
    let secretary = html
        .split("<option value=\"")
        .find(|o| o.contains(">Sophie Lebrun<"))
        .and_then(|o| o.split('"').next())
        .unwrap()
        .to_owned();
    let today = bouquet_store::orgs::local_date(
        app.platform.clock.now(),
        &bouquet_kernel::clock::time_zone("Europe/Paris"),
    );
    let absent = {
        let marker = "id=\"absent\"";
        let part = &html[html.find(marker).unwrap()..];
        part.split("<option value=\"")
            .nth(2)
            .and_then(|o| o.split('"').next())
            .unwrap()
            .to_owned()
    };
    let r = app
        .post_form(
            &maire,
            &format!("/o/{ARBRISSEL}/parapheur/absences"),
            &[
                ("absent", &absent),
                ("suppleant", &secretary),
                ("debut", &today),
                ("fin", &today),
                ("type", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let id = dossier_id(&app, DEMO_TITLE).await;
    let (_, inbox) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(
        inbox.contains(DEMO_TITLE) && has(&inbox, "en l'absence de Jean-Yves Rocher"),
        "{inbox}"
    );
    let r = act(
        &app,
        &agent,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pdf = agent
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_pdf_signatures_valid(&app, &pdf, 1).await;
    let words = pdftotext(&pdf);
    assert!(
        words.contains("Signé par Sophie Lebrun")
            && words.contains("en l'absence de Jean-Yves Rocher"),
        "{words}"
    );
}

#[tokio::test]
async fn a_convention_is_signed_by_the_commune_then_by_the_operator() {
    let app = spawn_app().await;
    let operator = operator_siren(&app).await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    let president = app.login("president@operateur.demo").await;
    let r = send(
        &app,
        &agent,
        ARBRISSEL,
        "Conventions",
        "Convention de services 2027",
        "convention.pdf",
        a_pdf("Convention de services 2027"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = dossier_id(&app, "Convention de services 2027").await;
    // Not yet the président's turn: not in his inbox.
    let (_, inbox) = text(&president, app.url(&format!("/o/{operator}/parapheur"))).await;
    assert!(!inbox.contains("Convention de services 2027"));
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert!(
        app.sent_mails()
            .iter()
            .any(|m| m.to.contains("president@operateur.demo"))
    );
    let (_, inbox) = text(&president, app.url(&format!("/o/{operator}/parapheur"))).await;
    assert!(inbox.contains("Convention de services 2027"), "{inbox}");
    let r = act(
        &app,
        &president,
        &operator,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pdf = president
        .get(app.url(&format!("{}/document", dossier_path(&operator, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_pdf_signatures_valid(&app, &pdf, 2).await;
}

#[tokio::test]
async fn two_signatures_of_the_same_step_at_once_sign_once() {
    let app = spawn_app().await;
    let maire = app.login("maire@commune.demo").await;
    let id = dossier_id(&app, DEMO_TITLE).await;
    let (_, html) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
    let version = version_of(&html);
    let csrf = csrf_of(&html);
    let url = app.url(&format!("{}/signer", dossier_path(ARBRISSEL, &id)));
    let form = [
        ("_csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("mot_de_passe", "bouquet-demo"),
    ];
    let (a, b) = tokio::join!(
        maire.post(&url).form(&form).send(),
        maire.post(&url).form(&form).send()
    );
    let mut statuses = [a.unwrap().status(), b.unwrap().status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let mut conn = app.platform.db.read().await.unwrap();
    let signatures: i64 = bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM parapheur_actions WHERE dossier_id = $1 AND kind = 'signature'"
    )
    .bind(&id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(signatures, 1);
}

#[tokio::test]
async fn the_time_stamping_authority_answers_openssl() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "data.txt", b"Bouquet");
    let query = dir.path().join("q.tsq");
    assert!(
        Command::new("openssl")
            .args(["ts", "-query", "-data", &data, "-sha256", "-cert", "-out"])
            .arg(&query)
            .status()
            .unwrap()
            .success()
    );
    let reply = Client::new()
        .post(app.url("/api/v1/horodatage"))
        .header("content-type", "application/timestamp-query")
        .body(std::fs::read(&query).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let reply_path = write(dir.path(), "r.tsr", &reply.bytes().await.unwrap());
    let root = reqwest::get(app.url("/ac-bouquet-demo.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let root_path = write(dir.path(), "root.pem", root.as_bytes());
    let ok = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-data",
            &data,
            "-in",
            &reply_path,
            "-CAfile",
            &root_path,
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = write(dir.path(), "other.txt", b"Bouquex");
    let bad = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-data",
            &other,
            "-in",
            &reply_path,
            "-CAfile",
            &root_path,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    // Not a time-stamp query: refused.
    let r = Client::new()
        .post(app.url("/api/v1/horodatage"))
        .body("bonjour")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn the_api_sends_and_reads_dossiers() {
    let app = spawn_app().await;
    let token = app.api_token("agent@commune.demo").await;
    let api = app.api(&token);
    let r = api
        .get(&format!("/api/v1/o/{ARBRISSEL}/parapheur/circuits"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let circuits: serde_json::Value = r.json().await.unwrap();
    let circuit = circuits
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with("Délibérations"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = multipart::Form::new()
        .text("title", "Délibération 2026-060")
        .text("doc_type", "deliberation")
        .text("circuit", circuit)
        .part(
            "document",
            multipart::Part::bytes(a_pdf("Délibération 2026-060")).file_name("d.pdf"),
        );
    let r = Client::new()
        .post(app.url(&format!("/api/v1/o/{ARBRISSEL}/parapheur/dossiers")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["status"], "en_cours");
    let r = api
        .get(&format!(
            "/api/v1/o/{ARBRISSEL}/parapheur/dossiers/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    let one: serde_json::Value = r.json().await.unwrap();
    assert_eq!(one["actions"][0]["kind"], "depot");
    let spec: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["paths"]
            .get("/api/v1/o/{siren}/parapheur/dossiers")
            .is_some()
    );
}

#[tokio::test]
async fn another_organisation_cannot_reach_a_dossier() {
    let app = spawn_app().await;
    let id = dossier_id(&app, DEMO_TITLE).await;
    let epci_agent = app.login("agent@epci.demo").await;
    let company = app.login("contact@entreprise.demo").await;
    let d = dossier_path(ARBRISSEL, &id);
    let attempts = vec![
        Attempt::get(Verb::Read, d.clone()),
        Attempt::get(Verb::Read, format!("{d}/document")),
        Attempt::get(Verb::Read, format!("{d}/original")),
        Attempt::get(Verb::Read, format!("{d}/bordereau")),
        Attempt::get(Verb::List, format!("/o/{ARBRISSEL}/parapheur")),
        Attempt::get(Verb::List, format!("/o/{ARBRISSEL}/parapheur/circuits")),
        Attempt::get(Verb::List, format!("/o/{ARBRISSEL}/parapheur/absences")),
        Attempt::get(Verb::List, format!("/o/{ARBRISSEL}/parapheur/certificats")),
        Attempt::post(Verb::Change, format!("{d}/viser"), &[("version", "2")]),
        Attempt::post(
            Verb::Change,
            format!("{d}/signer"),
            &[("version", "2"), ("mot_de_passe", "bouquet-demo")],
        ),
        Attempt::post(Verb::Change, format!("{d}/annoter"), &[("annotation", "x")]),
        Attempt::post(
            Verb::Delete,
            format!("{d}/rejeter"),
            &[("version", "2"), ("motif", "x")],
        ),
        Attempt::post(Verb::Delete, format!("{d}/reprendre"), &[("version", "2")]),
        Attempt::post(
            Verb::Change,
            format!("{d}/reattribuer"),
            &[("version", "2"), ("personne", "x")],
        ),
        Attempt::post(
            Verb::Change,
            format!("{d}/avis-demande"),
            &[("avis_de", "x")],
        ),
        Attempt::post(Verb::Change, format!("{d}/avis"), &[("avis", "x")]),
        Attempt::get(Verb::Read, format!("/o/{ARBRISSEL}/parapheur/verifier")),
        Attempt::post(
            Verb::Change,
            format!("/o/{ARBRISSEL}/parapheur/circuits"),
            &[
                ("nom", "x"),
                ("etape1_type", "visa"),
                ("etape1_titre", "Maire"),
            ],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{ARBRISSEL}/parapheur/lot"),
            &[("dossier", &id), ("mot_de_passe", "bouquet-demo")],
        ),
    ];
    assert_refused(&app, Caller::Browser(&company), &attempts).await;
    // Through the EPCI's own URL with Arbrissel's dossier id: 404 as well.
    let own = format!("/o/243500634/parapheur/dossiers/{id}");
    assert_refused(
        &app,
        Caller::Browser(&epci_agent),
        &[
            Attempt::get(Verb::Read, own.clone()),
            Attempt::get(Verb::List, format!("{own}/document")),
            Attempt::post(Verb::Change, format!("{own}/viser"), &[("version", "2")]),
            Attempt::post(
                Verb::Delete,
                format!("{own}/rejeter"),
                &[("version", "2"), ("motif", "x")],
            ),
        ],
    )
    .await;
    let token = app.api_token("contact@entreprise.demo").await;
    assert_refused(
        &app,
        Caller::Token(&token),
        &[
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("/api/v1/o/{ARBRISSEL}/parapheur/dossiers/{id}"),
                None,
            ),
            Attempt::api(
                Verb::List,
                Method::GET,
                format!("/api/v1/o/{ARBRISSEL}/parapheur/dossiers"),
                None,
            ),
            Attempt::api(
                Verb::Change,
                Method::POST,
                format!("/api/v1/o/{ARBRISSEL}/parapheur/dossiers"),
                None,
            ),
            Attempt::api(
                Verb::Delete,
                Method::GET,
                format!("/api/v1/o/{ARBRISSEL}/parapheur/circuits"),
                None,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_charter_of_the_members_module_is_signed_through_the_parapheur() {
    let app = spawn_app().await;
    let operator = operator_siren(&app).await;
    let admin = app.login("admin@operateur.demo").await;
    let maire = app.login("maire@commune.demo").await;
    let president = app.login("president@operateur.demo").await;
    let today = bouquet_store::orgs::local_date(
        app.platform.clock.now(),
        &bouquet_kernel::clock::time_zone("Europe/Paris"),
    );
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/{ARBRISSEL}/engagements"),
            &[("template", "charte_utilisation"), ("starts_on", &today)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let engagement: String = {
        let mut conn = app.platform.db.read().await.unwrap();
        bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
            "SELECT id FROM engagements WHERE template = 'charte_utilisation' AND status = 'a_signer' ORDER BY created_at DESC LIMIT 1"
        )
        .fetch_one(c)
        .await)
        .unwrap()
    };
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/parapheur"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&admin, app.url(&format!("/admin/membres/{ARBRISSEL}"))).await;
    assert!(page.contains("En cours de signature dans le parapheur"));
    // Sent twice: refused, nothing more.
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/parapheur"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let dossier: String = {
        let mut conn = app.platform.db.read().await.unwrap();
        bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
            "SELECT id FROM parapheur_dossiers WHERE source_ref = $1"
        )
        .bind(&engagement)
        .fetch_one(c)
        .await)
        .unwrap()
    };
    // Each step asks for reading: signing before opening the document is refused.
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &dossier,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(has(&body(r).await, "demande de lire le document"));
    for (client, siren) in [(&maire, ARBRISSEL), (&president, operator.as_str())] {
        let doc = client
            .get(app.url(&format!("{}/document", dossier_path(siren, &dossier))))
            .send()
            .await
            .unwrap();
        assert_eq!(doc.status(), StatusCode::OK);
        let r = act(
            &app,
            client,
            siren,
            &dossier,
            "signer",
            &[("mot_de_passe", "bouquet-demo")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    app.drain_jobs().await;
    let (_, page) = text(&admin, app.url(&format!("/admin/membres/{ARBRISSEL}"))).await;
    assert!(
        page.contains("Signée le") && page.contains("Signature électronique dans le parapheur"),
        "the charter is recorded as signed"
    );
    let marker = format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/signe.pdf");
    assert!(page.contains(&marker));
    let pdf = admin
        .get(app.url(&marker))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_pdf_signatures_valid(&app, &pdf, 2).await;
}

/// Creates a one-step circuit of Arbrissel, done by its maire, through the settings form.
async fn one_step_circuit(app: &TestApp, admin: &Client, name: &str, kind: &str) {
    let r = app
        .post_form(
            admin,
            &format!("/o/{ARBRISSEL}/parapheur/circuits"),
            &[
                ("nom", name),
                ("etape1_type", kind),
                ("etape1_titre", "Maire"),
                ("etape1_mode", "un_seul"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "circuit « {name} »");
}

/// Sends `bytes` as `name` into the circuit `circuit`, as `client`; returns the dossier's id.
async fn send_file(
    app: &TestApp,
    client: &Client,
    circuit: &str,
    title: &str,
    name: &str,
    doc_type: &str,
    bytes: Vec<u8>,
) -> String {
    let (_, html) = text(
        client,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/nouveau")),
    )
    .await;
    let option = html
        .split("<option value=\"")
        .find(|o| {
            o.split('>')
                .nth(1)
                .is_some_and(|label| label.starts_with(circuit))
        })
        .and_then(|o| o.split('"').next())
        .expect("circuit in the form")
        .to_owned();
    let form = multipart::Form::new()
        .text("titre", title.to_owned())
        .text("type", doc_type.to_owned())
        .text("circuit", option)
        .part(
            "document",
            multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    let r = client
        .post(app.url(&format!(
            "/o/{ARBRISSEL}/parapheur/nouveau?_csrf={}",
            url_encode(&csrf_of(&html))
        )))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body(r).await);
    dossier_id(app, title).await
}

#[tokio::test]
async fn a_pes_flow_is_signed_in_xades_and_any_other_file_in_cades() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    one_step_circuit(&app, &agent, "Signature du maire", "signature").await;
    let root = reqwest::get(app.url("/ac-bouquet-demo.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root_path = write(dir.path(), "root.pem", root.as_bytes());

    // A PES flow (ISO-8859-1): XAdES on each bordereau, checked by xmlsec1.
    let pes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../standards/signature/pes/HELIOS_SIMU_ALR2_unsigned.xml"
    ))
    .unwrap();
    let id = send_file(
        &app,
        &agent,
        "Signature du maire",
        "Mandats de décembre",
        "PES_ALR2.xml",
        "flux_comptable",
        pes.clone(),
    )
    .await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signed = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(signed.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\""));
    let signed_path = write(dir.path(), "pes-signe.xml", &signed);
    let xmlsec = |path: &str| {
        Command::new("xmlsec1")
            .args([
                "--verify",
                "--id-attr:Id",
                "Bordereau",
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.2.2#:SignedProperties",
                "--trusted-pem",
                &root_path,
                path,
            ])
            .output()
            .expect("xmlsec1")
    };
    let out = xmlsec(&signed_path);
    assert!(
        out.status.success(),
        "xmlsec1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One digit of the bordereau's number changed.
    let mut tampered = signed.to_vec();
    let i = tampered
        .windows(10)
        .position(|w| w == b"<IdBord V=")
        .expect("IdBord")
        + 11;
    tampered[i] = if tampered[i] == b'1' { b'2' } else { b'1' };
    let out = xmlsec(&write(dir.path(), "pes-altere.xml", &tampered));
    assert!(!out.status.success(), "xmlsec1 accepted an altered flow");

    // Any other file: the document is unchanged, a .p7s is joined, openssl verifies it.
    let note = b"Compte rendu de la commission des finances du 2 decembre.\n".to_vec();
    let id = send_file(
        &app,
        &agent,
        "Signature du maire",
        "Compte rendu",
        "compte-rendu.txt",
        "courrier",
        note.clone(),
    )
    .await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
    let marker = format!("{}/fichiers/", dossier_path(ARBRISSEL, &id));
    let at = page.find(&marker).expect("the .p7s is listed") + marker.len();
    let file_id: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let p7s = maire
        .get(app.url(&format!("{marker}{file_id}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let p7s_path = write(dir.path(), "sig.p7s", &p7s);
    let content_path = write(dir.path(), "compte-rendu.txt", &note);
    let verify = |content: &str| {
        Command::new("openssl")
            .args([
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &p7s_path,
                "-content",
                content,
                "-CAfile",
                &root_path,
                "-purpose",
                "any",
                "-out",
                "/dev/null",
            ])
            .output()
            .unwrap()
    };
    assert!(verify(&content_path).status.success());
    let other = write(
        dir.path(),
        "autre.txt",
        b"Compte rendu de la commission des finances du 3 decembre.\n",
    );
    assert!(!verify(&other).status.success());
}

#[tokio::test]
async fn seal_paper_signature_take_back_and_batch() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    one_step_circuit(&app, &agent, "Cachet de la mairie", "cachet").await;
    one_step_circuit(
        &app,
        &agent,
        "Signature papier du maire",
        "signature_papier",
    )
    .await;

    // The seal: the certificate is the organisation's.
    let id = send_file(
        &app,
        &agent,
        "Cachet de la mairie",
        "Attestation de dépôt",
        "attestation.pdf",
        "courrier",
        a_pdf("Attestation de dépôt"),
    )
    .await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pdf = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_pdf_signatures_valid(&app, &pdf, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("pdfsig")
        .arg(write(dir.path(), "cachet.pdf", &pdf))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Signer Certificate Common Name: Arbrissel")
    );

    // A paper signature: the scan replaces the document; a non-PDF scan is refused.
    let id = send_file(
        &app,
        &agent,
        "Signature papier du maire",
        "Arrêté de voirie",
        "arrete.pdf",
        "arrete",
        a_pdf("Arrêté de voirie"),
    )
    .await;
    let scan = a_pdf("Arrêté de voirie, signé à la main");
    let (_, html) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
    let upload = |bytes: Vec<u8>| {
        multipart::Form::new()
            .text("version", version_of(&html))
            .part("scan", multipart::Part::bytes(bytes).file_name("scan.pdf"))
    };
    let url = app.url(&format!(
        "{}/signature-papier?_csrf={}",
        dossier_path(ARBRISSEL, &id),
        url_encode(&csrf_of(&html))
    ));
    let r = maire
        .post(&url)
        .multipart(upload(b"pas un pdf".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = maire
        .post(&url)
        .multipart(upload(scan.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let got = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), scan.as_slice());

    // Take back: the secretary visas, then takes her visa back before the maire acts.
    let id = send_file(
        &app,
        &agent,
        "Délibérations",
        "Délibération 2026-070",
        "d.pdf",
        "deliberation",
        a_pdf("Délibération 2026-070"),
    )
    .await;
    let r = act(
        &app,
        &agent,
        ARBRISSEL,
        &id,
        "viser",
        &[("commentaire", "ok")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, inbox) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(inbox.contains("Délibération 2026-070"));
    let r = act(&app, &agent, ARBRISSEL, &id, "reprendre", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, inbox) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(
        !inbox.contains("Délibération 2026-070"),
        "back at the visa step"
    );
    let (_, page) = text(&agent, app.url(&dossier_path(ARBRISSEL, &id))).await;
    assert!(has(&page, "À vous d'agir : viser") && page.contains("Action reprise"));
    let r = act(
        &app,
        &agent,
        ARBRISSEL,
        &id,
        "viser",
        &[("commentaire", "")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Batch: the maire signs the two délibérations waiting for him with one action.
    let demo = dossier_id(&app, DEMO_TITLE).await;
    let (_, inbox) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    let r = maire
        .post(app.url(&format!("/o/{ARBRISSEL}/parapheur/lot")))
        .form(&[
            ("_csrf", csrf_of(&inbox).as_str()),
            ("dossier", demo.as_str()),
            ("dossier", id.as_str()),
            ("mot_de_passe", "bouquet-demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let results = body(r).await;
    assert_eq!(results.matches("badge--success").count(), 2, "{results}");
    let (_, inbox) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(inbox.contains("Aucun dossier ne vous attend."));
}

#[tokio::test]
async fn a_pkcs12_certificate_is_imported_and_a_wrong_password_is_refused() {
    let app = spawn_app().await;
    let maire = app.login("maire@commune.demo").await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cle.pem");
    let cert = dir.path().join("cert.pem");
    let p12 = dir.path().join("maire.p12");
    assert!(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "365",
                "-subj",
                "/CN=Jean-Yves Rocher/O=Arbrissel",
                "-keyout"
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:secret-p12", "-inkey"])
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-out")
            .arg(&p12)
            .output()
            .unwrap()
            .status
            .success()
    );
    let bytes = std::fs::read(&p12).unwrap();
    let (_, html) = text(
        &maire,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/certificats")),
    )
    .await;
    let url = app.url(&format!(
        "/o/{ARBRISSEL}/parapheur/certificats?_csrf={}",
        url_encode(&csrf_of(&html))
    ));
    let form = |password: &str| {
        multipart::Form::new()
            .text("titulaire", "moi")
            .text("mot_de_passe", password.to_owned())
            .part(
                "fichier",
                multipart::Part::bytes(bytes.clone()).file_name("maire.p12"),
            )
    };
    let r = maire
        .post(&url)
        .multipart(form("mauvais"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body(r)
            .await
            .contains("Le mot de passe du fichier PKCS#12 est incorrect.")
    );
    // The certificate starts today (the machine's date), later than the application's clock:
    // refused as not yet valid, then accepted once that day has come.
    let r = maire
        .post(&url)
        .multipart(form("secret-p12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(has(&body(r).await, "n'est valable qu'à partir du"));
    // openssl dated the certificate with the machine's clock: the application's clock goes there.
    #[allow(clippy::disallowed_methods)]
    let machine_now = jiff::Timestamp::now();
    app.clock
        .set(machine_now + jiff::SignedDuration::from_hours(1));
    // Two weeks later the session has expired: sign in again.
    let maire = app.login("maire@commune.demo").await;
    let (_, html) = text(
        &maire,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/certificats")),
    )
    .await;
    let url = app.url(&format!(
        "/o/{ARBRISSEL}/parapheur/certificats?_csrf={}",
        url_encode(&csrf_of(&html))
    ));
    let r = maire
        .post(&url)
        .multipart(form("secret-p12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(
        &maire,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/certificats")),
    )
    .await;
    assert!(
        page.contains("CN=Jean-Yves Rocher"),
        "{}",
        page.split("<tbody>").nth(1).unwrap_or_default()
    );
    // The key is stored sealed: the PEM key's body is nowhere in the database.
    let pem = std::fs::read_to_string(&key).unwrap();
    let line = pem.lines().nth(3).unwrap();
    let mut conn = app.platform.db.read().await.unwrap();
    let sealed: Vec<String> = bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
        "SELECT sealed_key FROM parapheur_credentials"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    assert!(!sealed.is_empty() && sealed.iter().all(|s| !s.contains(line)));
}

#[tokio::test]
async fn a_signed_file_is_verified_and_an_administrator_reassigns_a_step() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    let id = dossier_id(&app, DEMO_TITLE).await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pdf = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // The verification page reads the signature back; an altered copy is not valid.
    let (_, html) = text(
        &agent,
        app.url(&format!("/o/{ARBRISSEL}/parapheur/verifier")),
    )
    .await;
    let url = app.url(&format!(
        "/o/{ARBRISSEL}/parapheur/verifier?_csrf={}",
        url_encode(&csrf_of(&html))
    ));
    let check = |bytes: Vec<u8>, name: &str| {
        let form = multipart::Form::new().part(
            "document",
            multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        agent.post(&url).multipart(form).send()
    };
    let r = check(pdf.to_vec(), "signe.pdf").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report = body(r).await;
    assert!(
        report.contains("Signature valide") && report.contains("Jean-Yves Rocher"),
        "{report}"
    );
    assert!(report.contains("Date prouvée par horodatage"));
    let mut bad = pdf.to_vec();
    let i = bad.len() / 10;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let report = body(check(bad, "altere.pdf").await.unwrap()).await;
    assert!(report.contains("Signature non valide"), "{report}");
    let r = check(a_pdf("Sans signature"), "vierge.pdf").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("aucune signature"));

    // Reassignment: a new dossier waits for the maire; the administrator gives it to herself.
    let other = send_file(
        &app,
        &agent,
        "Délibérations",
        "Délibération 2026-080",
        "d.pdf",
        "deliberation",
        a_pdf("Délibération 2026-080"),
    )
    .await;
    let r = act(
        &app,
        &agent,
        ARBRISSEL,
        &other,
        "viser",
        &[("commentaire", "")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&agent, app.url(&dossier_path(ARBRISSEL, &other))).await;
    assert!(page.contains("Réattribuer l"));
    let sophie = page
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains(">Sophie Lebrun<"))
        .and_then(|o| o.split('"').next())
        .unwrap()
        .to_owned();
    let r = app
        .post_form(
            &agent,
            &format!("{}/reattribuer", dossier_path(ARBRISSEL, &other)),
            &[("version", &version_of(&page)), ("personne", &sophie)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{sophie} {}",
        body(r)
            .await
            .split("<ul>")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    );
    let (_, inbox) = text(&maire, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(!inbox.contains("Délibération 2026-080"));
    let (_, inbox) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(inbox.contains("Délibération 2026-080"));
    // The maire is no more expected there; he cannot reassign (not an administrator).
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &other,
        "rejeter",
        &[("motif", "non")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .post_form(
            &maire,
            &format!("{}/reattribuer", dossier_path(ARBRISSEL, &other)),
            &[("version", "3"), ("personne", &sophie)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_maire_asks_the_secretary_for_an_opinion() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    let id = dossier_id(&app, DEMO_TITLE).await;
    let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
    let sophie = page
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.contains(">Sophie Lebrun<"))
        .and_then(|o| o.split('"').next())
        .unwrap()
        .to_owned();
    let r = app
        .post_form(
            &maire,
            &format!("{}/avis-demande", dossier_path(ARBRISSEL, &id)),
            &[
                ("avis_de", &sophie),
                ("question", "Le tarif adulte vous paraît-il juste ?"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert!(
        app.sent_mails()
            .iter()
            .any(|m| m.to.contains("agent@commune.demo") && m.subject.starts_with("Avis demandé"))
    );
    let (_, inbox) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/parapheur"))).await;
    assert!(
        inbox.contains(DEMO_TITLE) && inbox.contains("Donner un avis"),
        "{inbox}"
    );
    // An empty opinion is refused; a real one is recorded and the maire is told.
    let r = app
        .post_form(
            &agent,
            &format!("{}/avis", dossier_path(ARBRISSEL, &id)),
            &[("avis", " ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post_form(
            &agent,
            &format!("{}/avis", dossier_path(ARBRISSEL, &id)),
            &[("avis", "Oui, comme l'an dernier plus 2 %.")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    assert!(
        app.sent_mails()
            .iter()
            .any(|m| m.to.contains("maire@commune.demo") && m.subject.starts_with("Avis donné"))
    );
    let (_, page) = text(&maire, app.url(&dossier_path(ARBRISSEL, &id))).await;
    assert!(page.contains("Avis donné") && has(&page, "Oui, comme l'an dernier plus 2 %."));
    // Asked once, answered once.
    let r = app
        .post_form(
            &agent,
            &format!("{}/avis", dossier_path(ARBRISSEL, &id)),
            &[("avis", "Encore")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The dossier still waits for the maire's signature.
    assert!(has(&page, "À vous d'agir : signer"));
}

#[tokio::test]
async fn an_external_time_stamping_authority_over_http() {
    // Another Bouquet serves as the external authority (its built-in TSA over HTTP).
    let authority = spawn_app().await;
    let tsa_url: url::Url = authority.url("/api/v1/horodatage").parse().unwrap();
    let app = crate::helpers::spawn_app_configured(
        bouquet_store::Engine::Sqlite,
        bouquet::modules(),
        true,
        |cfg| cfg.tsa_url = Some(tsa_url),
    )
    .await;
    let maire = app.login("maire@commune.demo").await;
    let id = dossier_id(&app, DEMO_TITLE).await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pdf = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The signer chains to this platform's root, the time-stamp to the authority's.
    let dir = tempfile::tempdir().unwrap();
    let own = reqwest::get(app.url("/ac-bouquet-demo.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let theirs = reqwest::get(authority.url("/ac-bouquet-demo.pem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(own, theirs);
    let own = write(dir.path(), "own.pem", own.as_bytes());
    let theirs = write(dir.path(), "theirs.pem", theirs.as_bytes());
    let path = write(dir.path(), "signe.pdf", &pdf);
    let out = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--pretty-print",
            "--no-revocation-check",
            "--trust",
            &own,
            "--trust",
            &theirs,
            "--trust-replace",
            &path,
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    // The time-stamp is the authority's: it checks with its root, not with this platform's.
    let der =
        |pem: &str| bouquet_crypto::cms::parse_pem_or_der(&std::fs::read(pem).unwrap()).unwrap();
    let now = app.platform.clock.now();
    let both = bouquet_crypto::pades::verify(&pdf.as_ref(), &[der(&own), der(&theirs)], Some(now))
        .unwrap();
    assert!(
        both[0].is_valid() && both[0].timestamp_check.is_ok(),
        "{both:?}"
    );
    let own_only = bouquet_crypto::pades::verify(&pdf.as_ref(), &[der(&own)], Some(now)).unwrap();
    assert!(!own_only[0].timestamp_check.is_ok(), "{own_only:?}");

    // The authority unreachable: a French error, nothing signed.
    let down = crate::helpers::spawn_app_configured(
        bouquet_store::Engine::Sqlite,
        bouquet::modules(),
        true,
        |cfg| cfg.tsa_url = Some("http://127.0.0.1:9/horodatage".parse().unwrap()),
    )
    .await;
    let maire = down.login("maire@commune.demo").await;
    let id = dossier_id(&down, DEMO_TITLE).await;
    let r = act(
        &down,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let page = body(r).await;
    assert!(
        has(&page, "ne répond pas correctement") && has(&page, "Le dossier n'a pas changé"),
        "{page}"
    );
    let (_, page) = text(&maire, down.url(&dossier_path(ARBRISSEL, &id))).await;
    assert!(has(&page, "À vous d'agir : signer"));
}

#[tokio::test]
async fn a_signature_taken_back_restores_the_document_its_size_and_removes_its_p7s() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let maire = app.login("maire@commune.demo").await;
    // A two-step circuit so that taking back is still possible after the maire signs.
    let r = app
        .post_form(
            &agent,
            &format!("/o/{ARBRISSEL}/parapheur/circuits"),
            &[
                ("nom", "Maire puis visa"),
                ("etape1_type", "signature"),
                ("etape1_titre", "Maire"),
                ("etape2_type", "visa"),
                ("etape2_titre", "Secrétaire de mairie"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let state = |id: String| {
        let app = &app;
        async move {
            let mut conn = app.platform.db.read().await.unwrap();
            let row: (String, i64, i64) = bouquet_store::run!(&mut conn, |c| sqlx::query_as(
                "SELECT current_sha256, current_size, (SELECT COUNT(*) FROM parapheur_files f WHERE f.dossier_id = d.id AND f.role = 'signature') FROM parapheur_dossiers d WHERE id = $1"
            )
            .bind(&id)
            .fetch_one(c)
            .await)
            .unwrap();
            row
        }
    };
    // CAdES: the .p7s goes with the signature taken back.
    let note = b"Note de service.\n".to_vec();
    let id = send_file(
        &app,
        &agent,
        "Maire puis visa",
        "Note de service",
        "note.txt",
        "courrier",
        note.clone(),
    )
    .await;
    let before = state(id.clone()).await;
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(id.clone()).await.2, 1);
    let r = act(&app, &maire, ARBRISSEL, &id, "reprendre", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(id.clone()).await, before);
    // PAdES: the PDF and its size come back.
    let pdf = a_pdf("Arrêté 2026-12");
    let id = send_file(
        &app,
        &agent,
        "Maire puis visa",
        "Arrêté 2026-12",
        "arrete.pdf",
        "arrete",
        pdf.clone(),
    )
    .await;
    let before = state(id.clone()).await;
    assert_eq!(before.1, pdf.len() as i64);
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &id,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_ne!(state(id.clone()).await.1, before.1);
    let r = act(&app, &maire, ARBRISSEL, &id, "reprendre", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(id.clone()).await, before);
    let got = maire
        .get(app.url(&format!("{}/document", dossier_path(ARBRISSEL, &id))))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), pdf.as_slice());
}
