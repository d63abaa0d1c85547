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

/// The id of the first dossier whose title is `title`.
async fn dossier_id(app: &TestApp, title: &str) -> String {
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
    let r = act(
        &app,
        &maire,
        ARBRISSEL,
        &dossier,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = act(
        &app,
        &president,
        &operator,
        &dossier,
        "signer",
        &[("mot_de_passe", "bouquet-demo")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
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
