//! Authoring of actes over HTTP: the form (complete, draft, edit, delete), every bad input
//! of the issue (French error, nothing changed), duplicate, rectificatif, batch, search and
//! CSV, settings, the API, the parapheur round trip (the demo maire signs), and every route
//! refused to another organisation.

use reqwest::{Client, Method, StatusCode, multipart};
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, csrf_of, engines, spawn_app, spawn_app_on, text};
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const ARBRISSEL: &str = "213500051";
const EPCI: &str = "243500634";

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `html` shows `text`, whether its apostrophes were escaped or not.
fn has(html: &str, text: &str) -> bool {
    html.contains(text) || html.contains(&text.replace('\'', "&#39;"))
}

fn a_pdf(title: &str) -> Vec<u8> {
    bouquet_parapheur::demo::deliberation_pdf(
        "Arbrissel",
        title,
        jiff::civil::Date::constant(2026, 11, 20),
    )
    .unwrap()
}

/// A tiny real PNG (1×1, grey).
fn a_png() -> Vec<u8> {
    vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3A,
        0x7E, 0x9B, 0x55, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x68,
        0x00, 0x00, 0x00, 0x82, 0x00, 0x81, 0x4C, 0x17, 0xD7, 0xDF, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]
}

/// The fields of a complete délibération of Arbrissel.
fn fields(numero: &str, objet: &str) -> Vec<(&'static str, String)> {
    vec![
        ("nature", "DE".into()),
        ("numero", numero.into()),
        ("objet", objet.into()),
        ("matiere", "7.1".into()),
        ("date_decision", "2026-11-20".into()),
        ("typologie_document", String::new()),
        ("typologie_annexes", String::new()),
        ("enregistrer", "acte".into()),
    ]
}

/// Posts a multipart form the way the page does (CSRF token in the action's query string).
async fn post_multipart(
    app: &TestApp,
    client: &Client,
    form_page: &str,
    action: &str,
    text_fields: &[(&str, String)],
    files: Vec<(&str, &str, Vec<u8>)>,
) -> reqwest::Response {
    let (status, html) = text(client, app.url(form_page)).await;
    assert_eq!(status, StatusCode::OK, "{form_page}");
    let csrf = csrf_of(&html);
    let mut form = multipart::Form::new();
    for (k, v) in text_fields {
        form = form.text((*k).to_owned(), v.clone());
    }
    for (field, name, bytes) in files {
        form = form.part(
            field.to_owned(),
            multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let sep = if action.contains('?') { '&' } else { '?' };
    client
        .post(app.url(&format!("{action}{sep}_csrf={}", url_encode(&csrf))))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Creates an acte through the form of Arbrissel.
async fn create(
    app: &TestApp,
    client: &Client,
    text_fields: &[(&str, String)],
    files: Vec<(&str, &str, Vec<u8>)>,
) -> reqwest::Response {
    let path = format!("/o/{ARBRISSEL}/actes/nouveau");
    post_multipart(app, client, &path, &path, text_fields, files).await
}

/// The id of the acte of Arbrissel numbered `numero`.
async fn acte_id(app: &TestApp, numero: &str) -> String {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT a.id FROM actes a JOIN organisations o ON o.id = a.org_id WHERE o.siren = $1 AND a.numero = $2"
    )
    .bind(ARBRISSEL)
    .bind(numero)
    .fetch_one(c)
    .await)
    .unwrap()
}

async fn scalar_i64(app: &TestApp, sql: &'static str, arg: &str) -> i64 {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, i64>(sql)
        .bind(arg)
        .fetch_one(c)
        .await)
    .unwrap()
}

async fn scalar_text(app: &TestApp, sql: &'static str, arg: &str) -> Option<String> {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, Option<String>>(sql)
        .bind(arg)
        .fetch_one(c)
        .await)
    .unwrap()
}

async fn count_actes(app: &TestApp) -> i64 {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM actes"
    )
    .fetch_one(c)
    .await)
    .unwrap()
}

/// What a refused request must leave: the same database (SQLite: every table; PostgreSQL:
/// the actes and their pieces).
async fn snapshot(app: &TestApp, engine: bouquet_store::Engine) -> String {
    match engine {
        bouquet_store::Engine::Sqlite => app.fingerprint().await,
        bouquet_store::Engine::Postgres => {
            let mut conn = app.platform.db.read().await.unwrap();
            let n: (i64, i64, i64) = bouquet_store::run!(&mut conn, |c| sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM actes), (SELECT COUNT(*) FROM actes_pieces), (SELECT COUNT(*) FROM audit_events)"
            )
            .fetch_one(c)
            .await)
            .unwrap();
            format!("{n:?}")
        }
    }
}

#[tokio::test]
async fn an_agent_creates_an_acte_finds_it_and_exports_the_list() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let agent = app.login("agent@commune.demo").await;

        // The list shows the demo's actes and the way to create one.
        let (status, html) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes"))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("DEL_2026_042")
                && html.contains("Créer un acte")
                && html.contains(&format!("action=\"/o/{ARBRISSEL}/actes/transmettre\""))
                && html.contains("name=\"acte\""),
            "{engine:?}"
        );

        // The form works without script: labels, counters, matières grouped.
        let (_, form) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/nouveau"))).await;
        assert!(form.contains("data-compteur=\"15\"") && form.contains("aria-describedby"));
        assert!(
            form.contains("<optgroup label=\"7 Finances locales\">"),
            "{form}"
        );
        assert!(form.contains("99_DE"));

        let r = create(
            &app,
            &agent,
            &fields(
                "DEL_2026_100",
                "Tarifs de la cantine scolaire au 1er janvier 2027",
            ),
            vec![
                (
                    "document",
                    "deliberation-100.pdf",
                    a_pdf("Délibération 100"),
                ),
                ("annexes", "plan.png", a_png()),
            ],
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{engine:?}: {}",
            body(r).await
        );
        let id = acte_id(&app, "DEL_2026_100").await;
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, format!("/o/{ARBRISSEL}/actes/{id}"));
        let (status, page) = text(&agent, app.url(&location)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(has(&page, "Rien ne manque"), "{engine:?}: {page}");
        assert!(page.contains("Brouillon") && page.contains("deliberation-100.pdf"));
        assert!(page.contains("99_DE — Délibération") && page.contains("Annexe 1"));
        assert!(page.contains("Transmettre à la préfecture"));
        assert!(page.contains(&format!("/o/{ARBRISSEL}/actes/{id}/suivi")));
        assert!(has(&page, "Acte créé"), "the timeline says it");
        // The pieces download, as stored.
        let pdf = agent
            .get(app.url(&format!(
                "{location}/pieces/{}",
                piece_id(&app, &id, 1).await
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(pdf.status(), StatusCode::OK);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));

        // Found by words of the objet (accents, case and prefixes ignored), the numéro, the
        // nature, the matière, the dates, the status.
        let list = |q: &str| {
            let agent = agent.clone();
            let url = app.url(&format!("/o/{ARBRISSEL}/actes?{q}"));
            async move { text(&agent, url).await.1 }
        };
        assert!(list("q=CANTINE+scol").await.contains("DEL_2026_100"));
        assert!(!list("q=cantine").await.contains("DEL_2026_042"));
        assert!(has(&list("q=piscine").await, "Aucun acte ne correspond"));
        assert!(list("numero=del_2026_1").await.contains("DEL_2026_100"));
        assert!(!list("numero=DEL_2026_1").await.contains("DEL_2026_042"));
        assert!(list("nature=DE&matiere=7").await.contains("DEL_2026_100"));
        assert!(!list("matiere=3").await.contains("DEL_2026_100"));
        assert!(
            list("du=2026-11-20&au=2026-11-20")
                .await
                .contains("DEL_2026_100")
        );
        assert!(!list("du=2026-11-21").await.contains("DEL_2026_100"));
        assert!(list("statut=brouillon").await.contains("DEL_2026_100"));
        assert!(!list("statut=acquitte").await.contains("DEL_2026_100"));
        let bad = agent
            .get(app.url(&format!("/o/{ARBRISSEL}/actes?nature=XX&du=hier")))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bad = body(bad).await;
        assert!(has(&bad, "Cette nature d'acte n'existe pas") && has(&bad, "Date incorrecte"));

        // The CSV of the filtered list: BOM, semicolons, French headers.
        let csv = agent
            .get(app.url(&format!("/o/{ARBRISSEL}/actes/export.csv?q=cantine")))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        let bytes = csv.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("Numéro;Nature;Objet;Matière"), "{csv}");
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(
            lines[1].starts_with("DEL_2026_100;Délibération;Tarifs"),
            "{csv}"
        );
        assert!(lines[1].contains("7.1 Decisions budgetaires"), "{csv}");

        // Usage event and journal.
        let org = org_id(&app, ARBRISSEL).await;
        assert_eq!(
            scalar_i64(
                &app,
                "SELECT COUNT(*) FROM usage_events WHERE kind = 'acte.cree' AND org_id = $1",
                &org
            )
            .await,
            3,
            "two demo actes and this one"
        );
        assert!(
            scalar_i64(
                &app,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'actes.acte.created' AND object_id = $1",
                &id
            )
            .await
                == 1
        );
        assert!(
            scalar_i64(
                &app,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'actes.exported' AND org_id = $1",
                &org
            )
            .await
                == 1
        );
    }
}

async fn org_id(app: &TestApp, siren: &str) -> String {
    scalar_text(app, "SELECT id FROM organisations WHERE siren = $1", siren)
        .await
        .unwrap()
}

async fn piece_id(app: &TestApp, acte: &str, position: i64) -> String {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT id FROM actes_pieces WHERE acte_id = $1 AND position = $2"
    )
    .bind(acte)
    .bind(position)
    .fetch_one(c)
    .await)
    .unwrap()
}

#[tokio::test]
async fn every_bad_input_gets_a_french_error_and_changes_nothing() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let agent = app.login("agent@commune.demo").await;
        let pdf = a_pdf("Délibération 101");
        let with = |changes: &[(&'static str, &str)]| {
            let mut f = fields("DEL_2026_101", "Objet correct");
            for (k, v) in changes {
                f.retain(|(name, _)| name != k);
                f.push((k, (*v).to_owned()));
            }
            f
        };
        let long = "x".repeat(500);
        // (what, form fields, files (field, name, bytes), expected French message)
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, String)>,
            Vec<(&'a str, &'a str, Vec<u8>)>,
            &'a str,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "a PDF that is not a PDF",
                with(&[]),
                vec![(
                    "document",
                    "deliberation.pdf",
                    b"<html>pas un pdf</html>".to_vec(),
                )],
                "n'est pas un PDF",
            ),
            (
                "an annex type not allowed for the nature (typologie)",
                with(&[("nature", "AI"), ("typologie_annexes", "99_BU")]),
                vec![
                    ("document", "arrete.pdf", pdf.clone()),
                    ("annexes", "annexe.pdf", pdf.clone()),
                ],
                "n'est pas prévue pour la nature « Acte individuel »",
            ),
            (
                "an annex file type not allowed",
                with(&[]),
                vec![
                    ("document", "d.pdf", pdf.clone()),
                    ("annexes", "outil.exe", b"MZ\x90\x00\x03".to_vec()),
                ],
                "ce type de fichier n'est pas accepté en annexe",
            ),
            (
                "an annex whose content does not match its extension",
                with(&[]),
                vec![
                    ("document", "d.pdf", pdf.clone()),
                    ("annexes", "photo.png", b"GIF89a pas un png".to_vec()),
                ],
                "son contenu n'est pas un fichier image PNG",
            ),
            (
                "a numéro with accents",
                with(&[("numero", "DÉL_2026")]),
                vec![("document", "d.pdf", pdf.clone())],
                "les lettres accentuées ne sont pas admises",
            ),
            (
                "a numéro in lower case",
                with(&[("numero", "del_2026_101")]),
                vec![("document", "d.pdf", pdf.clone())],
                "s'écrit en majuscules",
            ),
            (
                "a numéro with _ at the end",
                with(&[("numero", "DEL_2026_")]),
                vec![("document", "d.pdf", pdf.clone())],
                "ni commencer ni finir par « _ »",
            ),
            (
                "a numéro too long",
                with(&[("numero", "DEL_2026_1234567")]),
                vec![("document", "d.pdf", pdf.clone())],
                "15 au plus",
            ),
            (
                "a duplicate numéro",
                with(&[("numero", "DEL_2026_042")]),
                vec![("document", "d.pdf", pdf.clone())],
                "Le numéro DEL_2026_042 est déjà utilisé par un autre acte de votre organisation",
            ),
            (
                "an objet too long",
                with(&[("objet", &long)]),
                vec![("document", "d.pdf", pdf.clone())],
                "L'objet de l'acte compte 500 caractères : 499 au plus",
            ),
            (
                "an unknown matière",
                with(&[("matiere", "9.99")]),
                vec![("document", "d.pdf", pdf.clone())],
                "La matière 9.99 n'existe pas dans la classification",
            ),
            (
                "a decision in the future",
                with(&[("date_decision", "2027-01-01")]),
                vec![("document", "d.pdf", pdf.clone())],
                "ne peut pas être dans le futur",
            ),
            (
                "no main document for a complete acte",
                with(&[]),
                vec![],
                "Joignez l'acte lui-même, en PDF",
            ),
            (
                "a file over the limit",
                with(&[]),
                vec![
                    ("document", "d.pdf", pdf.clone()),
                    ("annexes", "plan-cadastral.pdf", {
                        let mut big = pdf.clone();
                        big.resize(50 * 1024 * 1024 + 1, b' ');
                        big
                    }),
                ],
                "« plan-cadastral.pdf » est trop volumineux (50,0 Mo) : chaque fichier doit faire 50 Mo au plus",
            ),
        ];
        for (what, text_fields, files, message) in cases {
            let before = snapshot(&app, engine).await;
            let r = create(&app, &agent, &text_fields, files).await;
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{engine:?}: {what}"
            );
            let page = body(r).await;
            assert!(has(&page, message), "{engine:?}: {what}: {message}\n{page}");
            assert!(
                page.contains("error-summary"),
                "{what}: the summary lists the errors"
            );
            assert_eq!(
                snapshot(&app, engine).await,
                before,
                "{engine:?}: {what} changed the database"
            );
        }
        // Over the total: the upload is cut short, the form says why (413).
        let before = snapshot(&app, engine).await;
        let mut huge = pdf.clone();
        huge.resize(151 * 1024 * 1024, b' ');
        let r = create(&app, &agent, &with(&[]), vec![("document", "d.pdf", huge)]).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{engine:?}");
        assert!(has(
            &body(r).await,
            "L'ensemble des fichiers envoyés dépasse 150 Mo"
        ));
        assert_eq!(snapshot(&app, engine).await, before);
    }
}

#[tokio::test]
async fn drafts_are_saved_unfinished_edited_and_deleted() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    // Unfinished: only the nature and the objet.
    let r = create(
        &app,
        &agent,
        &[
            ("nature", "AR".into()),
            ("numero", String::new()),
            ("objet", "Règlement du cimetière".into()),
            ("matiere", String::new()),
            ("date_decision", String::new()),
            ("enregistrer", "brouillon".into()),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body(r).await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    let (_, page) = text(&agent, app.url(&location)).await;
    for missing in [
        "Le numéro de l'acte n'est pas renseigné.",
        "La matière de l'acte n'est pas choisie.",
        "La date de la décision n'est pas renseignée.",
        "Le document principal (l'acte en PDF) n'est pas joint.",
    ] {
        assert!(has(&page, missing), "{missing}\n{page}");
    }
    assert!(
        !page.contains("Transmettre à la préfecture"),
        "incomplete: no transmission"
    );
    assert!(
        !page.contains("Envoyer en signature"),
        "incomplete: no signature"
    );

    // Edited with the version it was read at.
    let edit = format!("/o/{ARBRISSEL}/actes/{id}/modifier");
    let (status, form) = text(&agent, app.url(&edit)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Règlement du cimetière"));
    let version = form
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let mut f = fields("ARR_2026_7", "Règlement du cimetière communal");
    f.retain(|(k, _)| *k != "nature");
    f.push(("nature", "AR".into()));
    f.push(("matiere", "6.1".into()));
    f.retain(|(k, v)| *k != "matiere" || v == "6.1");
    f.push(("version", version.clone()));
    let r = post_multipart(
        &app,
        &agent,
        &edit,
        &edit,
        &f,
        vec![("document", "reglement.pdf", a_pdf("Règlement"))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body(r).await);
    let (_, page) = text(&agent, app.url(&location)).await;
    assert!(
        page.contains("ARR_2026_7") && has(&page, "Rien ne manque"),
        "{page}"
    );
    assert!(
        has(
            &page,
            "Acte modifié : numéro, objet, matière, date de décision, document principal"
        ),
        "{page}"
    );
    // The same form again (an old version): refused, nothing changed.
    let before = app.fingerprint().await;
    let r = post_multipart(&app, &agent, &edit, &edit, &f, vec![]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(has(&body(r).await, "Cet acte a été modifié entre-temps"));
    assert_eq!(app.fingerprint().await, before);

    // Deleted after a confirmation.
    let (status, confirm) = text(&agent, app.url(&format!("{location}/supprimer"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(has(&confirm, "Supprimer définitivement le brouillon"));
    let version = confirm
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = app
        .post_form(
            &agent,
            &format!("{location}/supprimer"),
            &[("version", &version)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = text(&agent, app.url(&location)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        scalar_i64(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'actes.acte.deleted' AND object_id = $1",
            &id
        )
        .await,
        1
    );
    assert_eq!(
        scalar_i64(
            &app,
            "SELECT COUNT(*) FROM actes_pieces WHERE acte_id = $1",
            &id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn an_acte_is_duplicated_and_an_acquitted_one_rectified() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let agent = app.login("agent@commune.demo").await;
        let source = acte_id(&app, "DEL_2026_042").await;
        let r = app
            .post_form(
                &agent,
                &format!("/o/{ARBRISSEL}/actes/{source}/dupliquer"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let edit = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(edit.ends_with("/modifier"));
        let copy = edit.split('/').nth(4).unwrap().to_owned();
        assert_ne!(copy, source);
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{copy}"))).await;
        assert!(
            has(&page, "Subvention à l'association des parents d'élèves"),
            "{engine:?}"
        );
        assert!(has(&page, "Acte créé en dupliquant l'acte DEL_2026_042"));
        assert!(has(&page, "Le numéro de l'acte n'est pas renseigné."));
        assert_eq!(
            scalar_i64(
                &app,
                "SELECT COUNT(*) FROM actes_pieces WHERE acte_id = $1",
                &copy
            )
            .await,
            0,
            "no files"
        );
        // Two copies without numéro may coexist.
        let r = app
            .post_form(
                &agent,
                &format!("/o/{ARBRISSEL}/actes/{source}/dupliquer"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");

        // A rectificatif replaces an acquitted acte only.
        let before = snapshot(&app, engine).await;
        let r = app
            .post_form(
                &agent,
                &format!("/o/{ARBRISSEL}/actes/{source}/rectificatif"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(has(&body(r).await, "ne peut remplacer qu'un acte acquitté"));
        assert_eq!(snapshot(&app, engine).await, before);
        // As the exchange leaves an acte that the préfecture acknowledged.
        let id_acte = "035-213500051-20261117-DEL_2026_042-DE";
        {
            let mut tx = app.platform.db.begin().await.unwrap();
            bouquet_store::exec!(&mut tx, sqlx::query(
                "UPDATE actes SET status = 'acquitte', id_acte = $1, received_date = '2026-11-18' WHERE id = $2"
            )
            .bind(id_acte)
            .bind(&source))
            .unwrap();
            tx.commit().await.unwrap();
        }
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{source}"))).await;
        assert!(page.contains("Créer un acte rectificatif") && !page.contains(">Modifier<"));
        let r = app
            .post_form(
                &agent,
                &format!("/o/{ARBRISSEL}/actes/{source}/rectificatif"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let edit = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, form) = text(&agent, app.url(&edit)).await;
        assert!(
            has(
                &form,
                &format!("Cet acte rectificatif remplacera l'acte <strong>{id_acte}</strong>")
            ),
            "{form}"
        );
        let rect = edit.split('/').nth(4).unwrap().to_owned();
        assert_eq!(
            scalar_text(&app, "SELECT precedent_id FROM actes WHERE id = $1", &rect)
                .await
                .as_deref(),
            Some(id_acte)
        );
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{rect}"))).await;
        assert!(
            page.contains(&format!("/o/{ARBRISSEL}/actes/{source}\">{id_acte}")),
            "{page}"
        );
        // An acquitted acte cannot be edited any more.
        let (status, _) = text(
            &agent,
            app.url(&format!("/o/{ARBRISSEL}/actes/{source}/modifier")),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }
}

#[tokio::test]
async fn several_actes_are_created_at_once_or_none() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let page = format!("/o/{ARBRISSEL}/actes/lot");
    let (status, html) = text(&agent, app.url(&page)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Acte 5") && html.contains("numero_5"));
    let shared = |rows: &[(&str, &str)]| {
        let mut f: Vec<(&str, String)> = vec![
            ("nature", "DE".into()),
            ("matiere", "5.2".into()),
            ("date_decision", "2026-11-18".into()),
        ];
        for (i, (numero, objet)) in rows.iter().enumerate() {
            let n = i + 1;
            f.push((leak(format!("numero_{n}")), (*numero).to_owned()));
            f.push((leak(format!("objet_{n}")), (*objet).to_owned()));
        }
        f
    };
    // One bad line: nothing is created, the line says why.
    let before = app.fingerprint().await;
    let r = post_multipart(
        &app,
        &agent,
        &page,
        &page,
        &shared(&[
            ("CM_2026_01", "Procès-verbal"),
            ("cm_2026_02", "Budget"),
            ("CM_2026_01", "Doublon"),
        ]),
        vec![("document_1", "pv.pdf", a_pdf("PV"))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    assert!(
        has(&html, "Acte 2 : Le numéro de l'acte s'écrit en majuscules"),
        "{html}"
    );
    assert!(
        has(
            &html,
            "Acte 3 : le numéro CM_2026_01 est déjà celui de l'acte 1 de ce lot"
        ),
        "{html}"
    );
    assert_eq!(app.fingerprint().await, before);

    let n_before = count_actes(&app).await;
    let r = post_multipart(
        &app,
        &agent,
        &page,
        &page,
        &shared(&[
            ("CM_2026_01", "Procès-verbal de la séance"),
            ("", ""),
            ("CM_2026_03", "Tarifs de la salle"),
        ]),
        vec![
            ("document_1", "pv.pdf", a_pdf("PV")),
            ("document_3", "tarifs.pdf", a_pdf("Tarifs")),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body(r).await);
    assert_eq!(
        count_actes(&app).await,
        n_before + 2,
        "the empty line is ignored"
    );
    for numero in ["CM_2026_01", "CM_2026_03"] {
        let id = acte_id(&app, numero).await;
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{id}"))).await;
        assert!(has(&page, "Rien ne manque"), "{numero}: {page}");
        assert!(page.contains("5.2 Fonctionnement des assemblees") && page.contains("18/11/2026"));
        assert!(has(&page, "création par lot"));
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test]
async fn settings_are_changed_by_administrators_and_read_by_the_others() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await; // agent and administrator
    let path = format!("/o/{ARBRISSEL}/actes/parametres");
    let (status, page) = text(&agent, app.url(&path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sous-préfecture de Fougères-Vitré") && page.contains("18/04/2019"));
    assert!(page.contains("7 Finances locales") && page.contains("99_DE"));
    let before = app.fingerprint().await;
    let r = app
        .post_form(
            &agent,
            &path,
            &[
                ("prefecture", ""),
                ("departement", "3X"),
                ("arrondissement", "12"),
                ("nature_collectivite", "a1"),
                ("convention_date", "2099-01-01"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    for m in [
        "Indiquez la préfecture",
        "Département « 03X » non conforme",
        "un seul chiffre",
        "2 chiffres",
        "dans le futur",
    ] {
        assert!(has(&html, m), "{m}");
    }
    assert_eq!(app.fingerprint().await, before);
    let r = app
        .post_form(
            &agent,
            &path,
            &[
                ("prefecture", "Préfecture d'Ille-et-Vilaine"),
                ("departement", "35"),
                ("arrondissement", "3"),
                ("nature_collectivite", "31"),
                ("convention_date", "2024-06-01"),
                ("circuit", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&agent, app.url(&path)).await;
    assert!(has(&page, "Préfecture d'Ille-et-Vilaine") && page.contains("value=\"035\""));

    // The maire reads, cannot change; the référent of the EPCI reads.
    for email in ["maire@commune.demo", "agent@epci.demo"] {
        let client = app.login(email).await;
        let (status, page) = text(&client, app.url(&path)).await;
        assert_eq!(status, StatusCode::OK, "{email}");
        assert!(
            has(
                &page,
                "Seul un administrateur de l'organisation peut modifier"
            ),
            "{email}"
        );
        let before = app.fingerprint().await;
        let r = app
            .post_form(
                &client,
                &path,
                &[
                    ("prefecture", "Pirate"),
                    ("departement", "035"),
                    ("arrondissement", "1"),
                    ("nature_collectivite", "31"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email}");
        assert_eq!(app.fingerprint().await, before);
    }
    // The référent reads the actes but cannot write.
    let referent = app.login("agent@epci.demo").await;
    let (status, html) = text(&referent, app.url(&format!("/o/{ARBRISSEL}/actes"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Créer un acte") && !html.contains("name=\"acte\""));
    let (status, _) = text(&referent, app.url(&format!("/o/{ARBRISSEL}/actes/nouveau"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn missing_settings_are_listed_on_the_acte_page() {
    let app = spawn_app().await;
    let agent = app.login("agent@commune.demo").await;
    let id = acte_id(&app, "DEL_2026_042").await;
    {
        let mut tx = app.platform.db.begin().await.unwrap();
        bouquet_store::exec!(&mut tx, sqlx::query(
            "UPDATE actes_settings SET convention_date = NULL, classification = NULL WHERE org_id = (SELECT id FROM organisations WHERE siren = $1)"
        )
        .bind(ARBRISSEL))
        .unwrap();
        tx.commit().await.unwrap();
    }
    let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{id}"))).await;
    assert!(
        has(
            &page,
            "La date de la convention signée avec la préfecture n'est pas renseignée"
        ),
        "{page}"
    );
    assert!(
        has(&page, "La classification de votre préfecture"),
        "{page}"
    );
    assert!(!page.contains("Transmettre à la préfecture"));
    // The function the exchange calls says the same.
    let acte = {
        let mut conn = app.platform.db.read().await.unwrap();
        let org = org_id(&app, ARBRISSEL).await.parse().unwrap();
        bouquet_actes::actes::get(&mut conn, org, &id)
            .await
            .unwrap()
            .unwrap()
    };
    let mut conn = app.platform.db.read().await.unwrap();
    let missing = bouquet_actes::actes::missing_for_transmission(&mut conn, &acte)
        .await
        .unwrap();
    assert_eq!(missing.len(), 2, "{missing:?}");
}

#[tokio::test]
async fn the_api_creates_reads_lists_changes_and_gives_the_classification() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let token = app.api_token("agent@commune.demo").await;
        let api = app.api(&token);
        let base = format!("/api/v1/o/{ARBRISSEL}/actes");
        let form = multipart::Form::new()
            .text("nature", "AI")
            .text("numero", "ARR_2026_55")
            .text("objet", "Nomination d'un agent de police municipale")
            .text("matiere", "4.1")
            .text("date_decision", "2026-11-19")
            .text("annexes_typologies", "")
            .part(
                "document",
                multipart::Part::bytes(a_pdf("Arrêté 55")).file_name("arrete.pdf"),
            )
            .part(
                "annexes",
                multipart::Part::bytes(a_png()).file_name("piece.png"),
            );
        let r = api
            .client
            .post(api.url(&base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{engine:?}");
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["status"], "brouillon");
        assert_eq!(created["nature_label"], "Acte individuel");
        assert_eq!(created["pieces"].as_array().unwrap().len(), 2);
        assert_eq!(created["pieces"][0]["typologie"], "99_AI");
        assert_eq!(created["missing_for_transmission"], json!([]));
        let id = created["id"].as_str().unwrap().to_owned();

        let one: Value = api.get(&format!("{base}/{id}")).await.json().await.unwrap();
        assert_eq!(one["numero"], "ARR_2026_55");
        let listed: Value = api
            .get(&format!("{base}?q=police&limit=10"))
            .await
            .json()
            .await
            .unwrap();
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{listed}");
        assert_eq!(items[0]["id"], id.as_str());
        let page1: Value = api
            .get(&format!("{base}?limit=1"))
            .await
            .json()
            .await
            .unwrap();
        let cursor = page1["next_cursor"].as_str().unwrap();
        let page2: Value = api
            .get(&format!("{base}?limit=1&cursor={cursor}"))
            .await
            .json()
            .await
            .unwrap();
        assert_ne!(page1["items"][0]["id"], page2["items"][0]["id"]);

        // Changed with the version read; a stale version is refused.
        let r = api
            .client
            .patch(api.url(&format!("{base}/{id}")))
            .json(&json!({ "version": one["version"], "objet": "Nomination d'un gardien de police municipale" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{engine:?}");
        let changed: Value = r.json().await.unwrap();
        assert_eq!(
            changed["objet"],
            "Nomination d'un gardien de police municipale"
        );
        // Indexed again with its new words.
        let found: Value = api
            .get(&format!("{base}?q=gardien"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(found["items"][0]["id"], id.as_str(), "{found}");
        let r = api
            .client
            .patch(api.url(&format!("{base}/{id}")))
            .json(&json!({ "version": one["version"], "objet": "Autre" }))
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::problem(r, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("modifié entre-temps")
        );
        let r = api
            .client
            .patch(api.url(&format!("{base}/{id}")))
            .json(&json!({ "version": changed["version"], "numero": "arr 55" }))
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "numero");

        // Bad input through the API: a French problem, field by field, nothing created.
        let before = count_actes(&app).await;
        let form = multipart::Form::new()
            .text("nature", "DE")
            .text("numero", "DEL_2026_042")
            .text("objet", "x")
            .text("matiere", "9.99")
            .text("date_decision", "2026-11-19")
            .part(
                "document",
                multipart::Part::bytes(b"pas un pdf".to_vec()).file_name("d.pdf"),
            );
        let r = api
            .client
            .post(api.url(&base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["matiere", "document"], "{problem}");
        let form = multipart::Form::new()
            .text("nature", "DE")
            .text("numero", "DEL_2026_042")
            .text("objet", "Doublon")
            .text("matiere", "7.1")
            .text("date_decision", "2026-11-19")
            .part(
                "document",
                multipart::Part::bytes(a_pdf("x")).file_name("d.pdf"),
            );
        let r = api
            .client
            .post(api.url(&base))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let problem = crate::helpers::problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("déjà utilisé")
        );
        assert_eq!(count_actes(&app).await, before);

        let c: Value = api
            .get(&format!("{base}/classification"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(c["date"], "2019-04-18");
        assert!(
            c["matieres"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["code"] == "7.1.2" && m["niveau"] == 3)
        );
        let de = c["natures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type_abrege"] == "DE")
            .unwrap()
            .clone();
        assert_eq!(de["typologie_par_defaut"], "99_DE");

        let piece = created["pieces"][1]["id"].as_str().unwrap();
        let r = api.get(&format!("{base}/{id}/pieces/{piece}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), a_png().as_slice());

        // Documented in the OpenAPI.
        let spec: Value = reqwest::get(app.url("/api/v1/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let paths = spec["paths"].as_object().unwrap();
        for p in [
            "/api/v1/o/{siren}/actes/{id}",
            "/api/v1/o/{siren}/actes/classification",
            "/api/v1/o/{siren}/actes/{id}/pieces/{piece}",
        ] {
            assert!(
                paths.contains_key(p),
                "{p} in {:?}",
                paths.keys().collect::<Vec<_>>()
            );
        }
        assert!(
            paths
                .keys()
                .any(|p| p.trim_end_matches('/') == "/api/v1/o/{siren}/actes")
        );
    }
}

/// Posts an action form of a parapheur dossier page (CSRF token and version from the page).
async fn act(
    app: &TestApp,
    client: &Client,
    id: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let path = format!("/o/{ARBRISSEL}/parapheur/dossiers/{id}");
    let (_, html) = text(client, app.url(&path)).await;
    let version = html
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("0")
        .to_owned();
    let csrf = csrf_of(&html);
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf), ("version", &version)];
    form.extend_from_slice(extra);
    client
        .post(app.url(&format!("{path}/{action}")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Sends the acte into the circuit proposed on its page (the settings' default).
async fn send_to_signature(
    app: &TestApp,
    client: &Client,
    id: &str,
) -> (reqwest::Response, String, String) {
    let page = format!("/o/{ARBRISSEL}/actes/{id}");
    let (_, html) = text(client, app.url(&page)).await;
    assert!(html.contains("Envoyer en signature"), "{html}");
    let circuit = html
        .split("<option value=\"")
        .find(|o| o.contains("\" selected>"))
        .and_then(|o| o.split('"').next())
        .expect("a circuit is proposed")
        .to_owned();
    let version = html
        .split("name=\"version\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = app
        .post_form(
            client,
            &format!("{page}/signature"),
            &[("circuit", &circuit), ("version", &version)],
        )
        .await;
    (r, circuit, version)
}

#[tokio::test]
async fn an_acte_goes_through_the_parapheur_and_comes_back_signed_or_rejected() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let agent = app.login("agent@commune.demo").await;
        let maire = app.login("maire@commune.demo").await;
        let id = acte_id(&app, "DEL_2026_042").await;
        let original = scalar_text(
            &app,
            "SELECT sha256 FROM actes_pieces WHERE acte_id = $1 AND position = 1",
            &id,
        )
        .await
        .unwrap();
        let (r, circuit, version) = send_to_signature(&app, &agent, &id).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{engine:?}: {}",
            body(r).await
        );
        // A double click (the same version again) sends nothing more.
        let r = app
            .post_form(
                &agent,
                &format!("/o/{ARBRISSEL}/actes/{id}/signature"),
                &[("circuit", &circuit), ("version", &version)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{engine:?}");
        assert_eq!(
            scalar_i64(
                &app,
                "SELECT COUNT(*) FROM parapheur_dossiers WHERE source_ref = $1",
                &id
            )
            .await,
            1
        );
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{id}"))).await;
        assert!(
            page.contains("En attente de signature")
                && page.contains("Voir le dossier dans le parapheur")
        );
        assert!(has(
            &page,
            "Envoyé en signature dans le parapheur (circuit « Délibérations"
        ));
        assert!(
            !page.contains("Transmettre à la préfecture"),
            "not while it waits"
        );
        let dossier = scalar_text(
            &app,
            "SELECT parapheur_dossier FROM actes WHERE id = $1",
            &id,
        )
        .await
        .unwrap();

        // The secretary visas, the maire signs.
        let r = act(&app, &agent, &dossier, "viser", &[("commentaire", "")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let r = act(
            &app,
            &maire,
            &dossier,
            "signer",
            &[("mot_de_passe", "bouquet-demo")],
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{engine:?}: {}",
            body(r).await
        );
        app.drain_jobs().await;
        assert_eq!(
            scalar_text(&app, "SELECT status FROM actes WHERE id = $1", &id)
                .await
                .as_deref(),
            Some("pret")
        );
        let (signed, kept): (Option<String>, Option<String>) = (
            scalar_text(
                &app,
                "SELECT sha256 FROM actes_pieces WHERE acte_id = $1 AND position = 1",
                &id,
            )
            .await,
            scalar_text(
                &app,
                "SELECT original_sha256 FROM actes_pieces WHERE acte_id = $1 AND position = 1",
                &id,
            )
            .await,
        );
        assert_ne!(
            signed.as_deref(),
            Some(original.as_str()),
            "the signed PDF replaces it"
        );
        assert_eq!(
            kept.as_deref(),
            Some(original.as_str()),
            "the original is kept"
        );
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{id}"))).await;
        assert!(
            page.contains("Signé, prêt à transmettre") && has(&page, "Signé dans le parapheur")
        );
        assert!(
            page.contains("Version déposée, avant signature")
                && page.contains("Transmettre à la préfecture")
        );
        let main = piece_id(&app, &id, 1).await;
        let r = agent
            .get(app.url(&format!("/o/{ARBRISSEL}/actes/{id}/pieces/{main}")))
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("-signe.pdf")
        );
        let signed_pdf = r.bytes().await.unwrap();
        assert!(
            signed_pdf.windows(8).any(|w| w == b"/ByteRan"),
            "a PAdES signature"
        );
        let r = agent
            .get(app.url(&format!("/o/{ARBRISSEL}/actes/{id}/pieces/{main}/original")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            !r.bytes()
                .await
                .unwrap()
                .windows(8)
                .any(|w| w == b"/ByteRan")
        );
        // The event coming twice changes nothing.
        let before = snapshot(&app, engine).await;
        {
            let org: bouquet_kernel::OrgId = org_id(&app, ARBRISSEL).await.parse().unwrap();
            let now = app.platform.clock.now();
            let applied = app
                .platform
                .db
                .atomically(async |tx| {
                    bouquet_actes::actes::apply_signature(
                        tx,
                        now,
                        org,
                        &id,
                        &dossier,
                        &bouquet_actes::actes::SignatureOutcome::Rejected { motive: None },
                    )
                    .await
                })
                .await
                .unwrap();
            assert!(!applied);
        }
        assert_eq!(snapshot(&app, engine).await, before);

        // Rejected: a draft again, with the motive on its timeline.
        let r = create(
            &app,
            &agent,
            &fields("DEL_2026_120", "Vente d'un terrain communal"),
            vec![("document", "vente.pdf", a_pdf("Vente"))],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let other = acte_id(&app, "DEL_2026_120").await;
        let (r, _, _) = send_to_signature(&app, &agent, &other).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let dossier = scalar_text(
            &app,
            "SELECT parapheur_dossier FROM actes WHERE id = $1",
            &other,
        )
        .await
        .unwrap();
        let r = act(&app, &agent, &dossier, "viser", &[("commentaire", "")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = act(
            &app,
            &maire,
            &dossier,
            "rejeter",
            &[("motif", "Le prix de vente manque")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        app.drain_jobs().await;
        assert_eq!(
            scalar_text(&app, "SELECT status FROM actes WHERE id = $1", &other)
                .await
                .as_deref(),
            Some("brouillon")
        );
        let (_, page) = text(&agent, app.url(&format!("/o/{ARBRISSEL}/actes/{other}"))).await;
        assert!(
            has(
                &page,
                "Signature refusée dans le parapheur : « Le prix de vente manque »"
            ),
            "{page}"
        );
        assert!(
            page.contains("Envoyer en signature"),
            "it can be sent again"
        );
    }
}

#[tokio::test]
async fn the_acte_pages_of_another_organisation_answer_404_and_change_nothing() {
    let app = spawn_app().await;
    let a = acte_id(&app, "DEL_2026_042").await;
    let piece = piece_id(&app, &a, 1).await;
    let outsider = app.login("contact@entreprise.demo").await;
    let epci_agent = app.login("agent@epci.demo").await;
    let mut attempts = Vec::new();
    {
        let org = ARBRISSEL;
        attempts.extend([
            Attempt::get(Verb::List, format!("/o/{org}/actes")),
            Attempt::get(Verb::List, format!("/o/{org}/actes/export.csv")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/{a}")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/{a}/pieces/{piece}")),
            Attempt::get(
                Verb::Read,
                format!("/o/{org}/actes/{a}/pieces/{piece}/original"),
            ),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/{a}/modifier")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/{a}/supprimer")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/nouveau")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/lot")),
            Attempt::get(Verb::Read, format!("/o/{org}/actes/parametres")),
            Attempt::post(Verb::Change, format!("/o/{org}/actes/{a}/dupliquer"), &[]),
            Attempt::post(
                Verb::Change,
                format!("/o/{org}/actes/{a}/rectificatif"),
                &[],
            ),
            Attempt::post(
                Verb::Change,
                format!("/o/{org}/actes/{a}/signature"),
                &[("circuit", "x"), ("version", "1")],
            ),
            Attempt::post(
                Verb::Change,
                format!("/o/{org}/actes/parametres"),
                &[("prefecture", "Pirate")],
            ),
            Attempt::post(
                Verb::Delete,
                format!("/o/{org}/actes/{a}/supprimer"),
                &[("version", "1")],
            ),
        ]);
    }
    assert_refused(&app, Caller::Browser(&outsider), &attempts).await;
    // Multipart forms (new, edit, batch) as the outsider.
    for path in [
        format!("/o/{ARBRISSEL}/actes/nouveau"),
        format!("/o/{ARBRISSEL}/actes/lot"),
        format!("/o/{ARBRISSEL}/actes/{a}/modifier"),
    ] {
        let before = app.fingerprint().await;
        let (_, html) = text(&outsider, app.url("/mentions-legales")).await;
        let csrf = csrf_of(&html);
        let form = multipart::Form::new()
            .text("nature", "DE")
            .text("numero", "PIRATE_1")
            .text("objet", "Pirate")
            .part(
                "document",
                multipart::Part::bytes(a_pdf("x")).file_name("p.pdf"),
            );
        let r = outsider
            .post(app.url(&format!("{path}?_csrf={}", url_encode(&csrf))))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(app.fingerprint().await, before, "{path}");
    }
    // Through its own organisation's URL, the EPCI's agent cannot reach Arbrissel's acte.
    let own = format!("/o/{EPCI}/actes/{a}");
    assert_refused(
        &app,
        Caller::Browser(&epci_agent),
        &[
            Attempt::get(Verb::Read, own.clone()),
            Attempt::get(Verb::Read, format!("{own}/modifier")),
            Attempt::get(Verb::List, format!("{own}/pieces/{piece}")),
            Attempt::post(Verb::Change, format!("{own}/dupliquer"), &[]),
            Attempt::post(
                Verb::Change,
                format!("{own}/signature"),
                &[("circuit", "x"), ("version", "1")],
            ),
            Attempt::post(
                Verb::Delete,
                format!("{own}/supprimer"),
                &[("version", "1")],
            ),
        ],
    )
    .await;
    // Its own list and search do not show Arbrissel's actes.
    let (status, html) = text(
        &epci_agent,
        app.url(&format!("/o/{EPCI}/actes?q=association")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("DEL_2026_042") && !has(&html, "parents d'élèves"));
    let (_, html) = text(&epci_agent, app.url(&format!("/o/{EPCI}/actes"))).await;
    assert!(html.contains("CC_2026_118") && !html.contains("DEL_2026_042"));
}

#[tokio::test]
async fn the_acte_api_of_another_organisation_answers_404_and_changes_nothing() {
    let app = spawn_app().await;
    let a = acte_id(&app, "DEL_2026_042").await;
    let piece = piece_id(&app, &a, 1).await;
    let outsider = app.api_token("contact@entreprise.demo").await;
    let mut attempts = Vec::new();
    {
        let org = ARBRISSEL;
        attempts.extend([
            Attempt::api(
                Verb::List,
                Method::GET,
                format!("/api/v1/o/{org}/actes"),
                None,
            ),
            Attempt::api(
                Verb::List,
                Method::GET,
                format!("/api/v1/o/{org}/actes?q=association"),
                None,
            ),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("/api/v1/o/{org}/actes/{a}"),
                None,
            ),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("/api/v1/o/{org}/actes/{a}/pieces/{piece}"),
                None,
            ),
            Attempt::api(
                Verb::Read,
                Method::GET,
                format!("/api/v1/o/{org}/actes/classification"),
                None,
            ),
            Attempt::api(
                Verb::Change,
                Method::PATCH,
                format!("/api/v1/o/{org}/actes/{a}"),
                Some(json!({ "version": 1, "objet": "Pirate" })),
            ),
            Attempt::api(
                Verb::Delete,
                Method::DELETE,
                format!("/api/v1/o/{org}/actes/{a}?version=1"),
                None,
            ),
        ]);
    }
    assert_refused(&app, Caller::Token(&outsider), &attempts).await;
    // Creating in another organisation (multipart).
    let before = app.fingerprint().await;
    let form = multipart::Form::new()
        .text("nature", "DE")
        .text("numero", "PIRATE_2")
        .text("objet", "Pirate")
        .text("matiere", "7.1")
        .text("date_decision", "2026-11-19")
        .part(
            "document",
            multipart::Part::bytes(a_pdf("x")).file_name("p.pdf"),
        );
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/o/{ARBRISSEL}/actes")))
        .bearer_auth(&outsider)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.fingerprint().await, before);
    // The EPCI's agent, through the EPCI's URL, with Arbrissel's acte: 404.
    let epci = app.api_token("agent@epci.demo").await;
    let before = app.fingerprint().await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/o/{EPCI}/actes/{a}")),
        (
            Method::GET,
            format!("/api/v1/o/{EPCI}/actes/{a}/pieces/{piece}"),
        ),
        (Method::PATCH, format!("/api/v1/o/{EPCI}/actes/{a}")),
        (
            Method::DELETE,
            format!("/api/v1/o/{EPCI}/actes/{a}?version=1"),
        ),
    ] {
        let r = reqwest::Client::new()
            .request(method.clone(), app.url(&path))
            .bearer_auth(&epci)
            .json(&json!({ "version": 1, "objet": "Pirate" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(app.fingerprint().await, before);
}
