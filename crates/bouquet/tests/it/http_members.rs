//! The members module over HTTP: the operator adds a commune from the registry, records its
//! charter and subscriptions; lists, filters, exports; the member's and the EPCI's pages;
//! référents; the API; reminders; and every route refused to those it is not for.

use std::io::Read;

use jiff::SignedDuration;
use reqwest::{Method, StatusCode, multipart};
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, csrf_of, engines, problem, spawn_app, spawn_app_on, text};
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const ESSE: &str = "213501083"; // Essé, 1 048 inhabitants, CC Roche aux Fées Communauté
const EPCI: &str = "243500634";
const ARBRISSEL: &str = "213500051";
const JANZE: &str = "213501364";
const IMPORT_UTF8: &[u8] =
    include_bytes!("../../../operator/adhesions/tests-data/import/membres-utf8.csv");
const IMPORT_1252: &[u8] =
    include_bytes!("../../../operator/adhesions/tests-data/import/membres-windows1252.csv");
const IMPORT_ERRORS: &[u8] =
    include_bytes!("../../../operator/adhesions/tests-data/import/membres-erreurs.csv");

fn today(app: &TestApp) -> String {
    bouquet_store::orgs::local_date(
        app.platform.clock.now(),
        &bouquet_kernel::clock::time_zone("Europe/Paris"),
    )
}

/// Adds Essé as a member, as the operator's administrator would.
async fn enroll_esse(app: &TestApp, admin: &reqwest::Client) {
    let date = today(app);
    let r = app
        .post_form(
            admin,
            &format!("/admin/membres/nouveau/{ESSE}"),
            &[
                ("status", "membre"),
                ("effective_date", &date),
                ("college", "Communes"),
                ("deliberation_ref", "035-213501083-20261120-2026_31-DE"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/admin/membres/{ESSE}"));
}

#[tokio::test]
async fn the_operator_adds_a_commune_from_the_registry_and_records_its_charter() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let admin = app.login("admin@operateur.demo").await;

        // Found in the registry by name, accents and case ignored.
        let (status, html) = text(&admin, app.url("/admin/membres/nouveau?q=esse")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(&format!("/admin/membres/nouveau/{ESSE}")),
            "{engine:?}"
        );
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/nouveau/{ESSE}"))).await;
        assert!(html.contains("35108") && html.contains("CC Roche aux Fées Communauté"));
        assert!(html.contains("Éligible à l'offre « Mairie connectée »"));

        enroll_esse(&app, &admin).await;
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{ESSE}"))).await;
        assert!(html.contains("Membre, depuis le"));
        assert!(html.contains("035-213501083-20261120-2026_31-DE"));
        assert!(html.contains("Éligible à l'offre « Mairie connectée »"));

        // A second time: refused at the field, nothing added.
        let r = app
            .post_form(
                &admin,
                &format!("/admin/membres/nouveau/{ESSE}"),
                &[("status", "membre"), ("effective_date", &today(&app))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("est déjà membre"));

        // The charter « Mairie connectée », filled for Essé.
        let start = today(&app);
        let r = app
            .post_form(
                &admin,
                &format!("/admin/membres/{ESSE}/engagements"),
                &[
                    ("template", "charte_mairie_connectee"),
                    ("starts_on", &start),
                    ("ends_on", "2030-12-31"),
                    ("eu_start", &start),
                    ("eu_end", "2028-11-22"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{ESSE}"))).await;
        assert!(html.contains("À signer"));
        let marker = format!("/admin/membres/{ESSE}/engagements/");
        let at = html.find(&marker).unwrap() + marker.len();
        let id: String = html[at..].chars().take_while(|c| *c != '/').collect();
        let pdf = admin
            .get(app.url(&format!("{marker}{id}/modele.pdf")))
            .send()
            .await
            .unwrap();
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let pdf = pdf.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"));

        // The signed document: a file that is not a PDF is refused at the field.
        let sign_url = |csrf: &str| {
            app.url(&format!(
                "{marker}{id}/signature?_csrf={}",
                url_encode(csrf)
            ))
        };
        let csrf = app.csrf(&admin).await;
        let bad = multipart::Form::new()
            .part(
                "document",
                multipart::Part::bytes(b"pas un pdf".to_vec()).file_name("charte.pdf"),
            )
            .text("signatory", "Pierre Dupont, maire")
            .text("signed_on", today(&app));
        let r = admin
            .post(sign_url(&csrf))
            .multipart(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("n'est pas un PDF complet"));
        let good = multipart::Form::new()
            .part(
                "document",
                multipart::Part::bytes(pdf.to_vec()).file_name("charte signée.pdf"),
            )
            .text("signatory", "Pierre Dupont, maire")
            .text("signed_on", today(&app));
        let r = admin
            .post(sign_url(&csrf))
            .multipart(good)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{ESSE}"))).await;
        assert!(html.contains("En vigueur") && html.contains("Pierre Dupont, maire"));
        // Signed once only.
        let again = multipart::Form::new()
            .part(
                "document",
                multipart::Part::bytes(pdf.to_vec()).file_name("x.pdf"),
            )
            .text("signatory", "Quelqu'un")
            .text("signed_on", today(&app));
        let r = admin
            .post(sign_url(&csrf))
            .multipart(again)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Two services.
        for service in ["actes", "parapheur"] {
            let r = app
                .post_form(
                    &admin,
                    &format!("/admin/membres/{ESSE}/abonnements"),
                    &[("service", service), ("start_date", &today(&app))],
                )
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
        // Overlapping the same service: refused.
        let r = app
            .post_form(
                &admin,
                &format!("/admin/membres/{ESSE}/abonnements"),
                &[("service", "actes"), ("start_date", &today(&app))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("couvre déjà cette période"));

        // The list, filtered: a commune, charter signed, subscribed to the parapheur.
        let (_, html) = text(
            &admin,
            app.url(
                "/admin/membres?type=commune&engagement=oui&service=parapheur&population_max=2000",
            ),
        )
        .await;
        assert!(html.contains("Essé") && html.contains("Arbrissel"));
        assert!(
            !html.contains(">Janzé<"),
            "Janzé has more than 2 000 inhabitants"
        );
        // And in the timeline, the whole story.
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{ESSE}"))).await;
        for label in [
            "Adhésion enregistrée",
            "Convention ou charte préparée",
            "Signature de la convention ou charte enregistrée",
            "Abonnement à un service",
        ] {
            assert!(html.contains(label), "{label} ({engine:?})");
        }
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_input_is_refused_at_the_field_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    // Not a commune nor an EPCI of the registry, or not a SIREN at all: no such page.
    for siren in ["123456789", "213501084", "abc"] {
        let (status, _) = text(&admin, app.url(&format!("/admin/membres/nouveau/{siren}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{siren}");
    }
    let before = app.fingerprint().await;
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/nouveau/{ESSE}"),
            &[("status", "fusionne"), ("effective_date", "2099-01-01")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    assert!(html.contains("Choisissez un statut"));
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/nouveau/{ESSE}"),
            &[("status", "membre"), ("effective_date", "2099-01-01")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("ne peut pas être dans le futur"));
    // Another body: an invalid SIREN, a CCAS without its commune, a commune's SIREN.
    let r = app
        .post_form(
            &admin,
            "/admin/membres/nouveau/autre",
            &[
                ("kind", "ccas"),
                ("siren", "123456789"),
                ("name", "CCAS d'Essé"),
                ("status", "membre"),
                ("effective_date", &today(&app)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    assert!(html.contains("Erreur : "));
    assert!(html.contains("Indiquez le code INSEE de la commune du CCAS"));
    let r = app
        .post_form(
            &admin,
            "/admin/membres/nouveau/autre",
            &[
                ("kind", "syndicat"),
                ("siren", ESSE),
                ("name", "Syndicat"),
                ("status", "membre"),
                ("effective_date", &today(&app)),
            ],
        )
        .await;
    assert!(body(r).await.contains("ajoutez-le depuis la recherche"));
    // Filters that make no sense: errors, no list.
    let (status, html) = text(
        &admin,
        app.url("/admin/membres?population_min=beaucoup&statut=x"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Saisissez un nombre d'habitants") && html.contains("Ce statut n'existe pas")
    );
    // A status change that goes back in time.
    let r = app
        .post_form(
            &admin,
            &format!("/admin/membres/{ARBRISSEL}/statut"),
            &[("status", "suspendu"), ("effective_date", "2020-01-01")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("ne peut pas précéder"));
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_ccas_joins_with_its_communes_epci() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let siren = bouquet_kernel::identifiers::luhn_complete("99999996");
    let r = app
        .post_form(
            &admin,
            "/admin/membres/nouveau/autre",
            &[
                ("kind", "ccas"),
                ("siren", &siren),
                ("name", "CCAS d'Essé"),
                ("commune_insee", "35108"),
                ("status", "candidat"),
                ("effective_date", &today(&app)),
                ("college", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(&admin, app.url(&format!("/admin/membres/{siren}"))).await;
    assert!(html.contains("CC Roche aux Fées Communauté"));
    assert!(html.contains("Candidat, depuis le"));
}

#[tokio::test]
async fn exports_are_what_spreadsheets_open() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let r = admin
        .get(app.url("/admin/membres/export.csv?type=commune"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".csv")
    );
    let body = r.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("SIREN;Nom;Type;Code INSEE")
    );
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "Arbrissel, Janzé, Retiers: {rows:?}");
    assert!(rows[0].starts_with("213500051;Arbrissel;Commune;35005;"));
    assert!(
        rows.iter()
            .any(|r| r.contains("Janzé") && r.contains(";8807;"))
    );

    let r = admin
        .get(app.url("/admin/membres/export.ods"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oasis.opendocument.spreadsheet"
    );
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut content = String::new();
    zip.by_name("content.xml")
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert!(content.contains("CC Roche aux Fées Communauté"));
    assert!(content.contains("office:value=\"8807\""));
}

#[tokio::test]
async fn the_epci_page_shows_every_commune_and_what_it_uses() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let (_, html) = text(&admin, app.url(&format!("/admin/membres/{EPCI}"))).await;
    // Its 16 communes from the registry, members or not.
    for name in ["Arbrissel", "Essé", "Janzé", "Retiers", "Martigné-Ferchaud"] {
        assert!(html.contains(name), "{name}");
    }
    assert!(html.contains("Non membre") && html.contains("Candidat"));
    // The EPCI's own people see the same table at /o/{epci}/communes.
    let referent = app.login("agent@epci.demo").await;
    let (status, html) = text(&referent, app.url(&format!("/o/{EPCI}/communes"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Martigné-Ferchaud") && html.contains(&format!("/o/{ARBRISSEL}/adhesion"))
    );
    // The référent opens Arbrissel's membership page, read only.
    let (status, html) = text(&referent, app.url(&format!("/o/{ARBRISSEL}/adhesion"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Charte de fonctionnement"));
    assert!(!html.contains("Enregistrer la signature"));
    // A commune's page of communes does not exist.
    let secretary = app.login("agent@commune.demo").await;
    let (status, _) = text(&secretary, app.url(&format!("/o/{ARBRISSEL}/communes"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_epci_chooses_which_communes_its_referent_follows() {
    let app = spawn_app().await;
    let epci_admin = app.login("agent@epci.demo").await;
    let (status, html) = text(&epci_admin, app.url(&format!("/o/{EPCI}/referents"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Toutes les communes"));
    let marker = format!("/o/{EPCI}/referents/");
    let at = html.find(&marker).unwrap() + marker.len();
    let id: String = html[at..].chars().take_while(|c| *c != '"').collect();
    // A commune of another EPCI is refused; nothing changes.
    let before = app.fingerprint().await;
    let r = app
        .post_form(
            &epci_admin,
            &format!("/o/{EPCI}/referents/{id}"),
            &[("perimetre", "liste"), ("communes", "200040426")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body(r)
            .await
            .contains("n'appartient pas à l'intercommunalité")
    );
    assert_eq!(app.fingerprint().await, before);
    // Only Janzé: Arbrissel closes to him.
    let r = app
        .post_form(
            &epci_admin,
            &format!("/o/{EPCI}/referents/{id}"),
            &[("perimetre", "liste"), ("communes", JANZE)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let referent = app.login("agent@epci.demo").await;
    let (status, _) = text(&referent, app.url(&format!("/o/{JANZE}/adhesion"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = text(&referent, app.url(&format!("/o/{ARBRISSEL}/adhesion"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_api_lists_members_with_filters_and_a_cursor() {
    let app = spawn_app().await;
    let staff = app.api(&app.api_token("admin@operateur.demo").await);
    let r = staff
        .get("/api/v1/organisations?kind=commune&limit=2")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Arbrissel", "Janzé"]);
    assert_eq!(page["items"][0]["status"], "membre");
    assert_eq!(page["items"][0]["epci_siren"], EPCI);
    assert!(page["items"][0]["engaged"].as_bool().unwrap());
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = staff
        .get(&format!(
            "/api/v1/organisations?kind=commune&limit=2&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["name"], "Retiers");
    assert_eq!(next["items"][0]["status"], "candidat");
    assert!(next.get("next_cursor").is_none());
    let bad = staff.get("/api/v1/organisations?status=parti").await;
    let body = problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body.to_string().contains("Ce statut n'existe pas"));

    let one: Value = staff
        .get(&format!("/api/v1/organisations/{ARBRISSEL}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["engagements"][0]["template"], "charte_mairie_connectee");
    assert!(
        one["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "actes")
    );

    // A secretary sees only her own commune.
    let secretary = app.api(&app.api_token("agent@commune.demo").await);
    let mine: Value = secretary
        .get("/api/v1/organisations")
        .await
        .json()
        .await
        .unwrap();
    let sirens: Vec<&str> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["siren"].as_str().unwrap())
        .collect();
    assert_eq!(sirens, [ARBRISSEL]);
    let subs: Value = secretary
        .get(&format!("/api/v1/o/{ARBRISSEL}/subscriptions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(subs.as_array().unwrap().len(), 4);
    // Only the operator's staff subscribe members.
    let r = secretary
        .client
        .post(secretary.url(&format!("/api/v1/o/{ARBRISSEL}/subscriptions")))
        .json(&json!({ "service": "factures", "start_date": "2026-12-01" }))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::FORBIDDEN).await;
    let r = staff
        .client
        .post(staff.url(&format!("/api/v1/o/{ARBRISSEL}/subscriptions")))
        .json(&json!({ "service": "factures", "start_date": "2026-12-01", "max_users": 3 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["max_users"], 3);
}

#[tokio::test]
async fn operator_pages_are_refused_to_members_and_change_nothing() {
    let app = spawn_app().await;
    let engagement = {
        let mut conn = app.platform.db.read().await.unwrap();
        let org = bouquet_store::orgs::get_by_siren(
            &mut conn,
            &bouquet_kernel::Siren::parse(ARBRISSEL).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        bouquet_adhesions::engagements::list(&mut conn, org.id().unwrap())
            .await
            .unwrap()[0]
            .id
            .clone()
    };
    for email in [
        "agent@commune.demo",
        "agent@epci.demo",
        "contact@entreprise.demo",
    ] {
        let client = app.login(email).await;
        let before = app.fingerprint().await;
        let gets = [
            "/admin/membres".to_owned(),
            "/admin/membres/export.csv".into(),
            "/admin/membres/export.ods".into(),
            "/admin/membres/nouveau?q=esse".into(),
            format!("/admin/membres/nouveau/{ESSE}"),
            "/admin/membres/nouveau/autre".into(),
            "/admin/membres/import".into(),
            format!("/admin/membres/{ARBRISSEL}"),
            format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/modele.pdf"),
            format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/signature"),
            format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/resiliation"),
        ];
        for path in &gets {
            let (status, html) = text(&client, app.url(path)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{email} {path}");
            assert!(
                html.contains("réservée à l'équipe de l'opérateur"),
                "{path}"
            );
        }
        let token = csrf_of(&text(&client, app.url("/mentions-legales")).await.1);
        let zeros = "0".repeat(64);
        for (path, form) in [
            (
                format!("/admin/membres/nouveau/{ESSE}"),
                vec![("status", "membre"), ("effective_date", "2026-01-01")],
            ),
            (
                format!("/admin/membres/{ARBRISSEL}/statut"),
                vec![("status", "sorti"), ("effective_date", "2026-11-01")],
            ),
            (
                "/admin/membres/import/confirmer".to_owned(),
                vec![("fichier", zeros.as_str()), ("lignes_valides", "oui")],
            ),
            (
                format!("/admin/membres/{ARBRISSEL}/college"),
                vec![("college", "Pirates")],
            ),
            (
                format!("/admin/membres/{ARBRISSEL}/abonnements"),
                vec![("service", "factures"), ("start_date", "2026-12-01")],
            ),
            (
                format!("/admin/membres/{ARBRISSEL}/engagements"),
                vec![
                    ("template", "charte_utilisation"),
                    ("starts_on", "2026-12-01"),
                ],
            ),
            (
                format!("/admin/membres/{ARBRISSEL}/engagements/{engagement}/resiliation"),
                vec![("ends_on", "2026-12-01"), ("reason", "x")],
            ),
        ] {
            let mut body = vec![("_csrf", token.as_str())];
            body.extend(form);
            let r = client
                .post(app.url(&path))
                .form(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} {path}");
        }
        let upload = multipart::Form::new().part(
            "fichier",
            multipart::Part::bytes(IMPORT_UTF8.to_vec()).file_name("membres.csv"),
        );
        let r = client
            .post(app.url(&format!("/admin/membres/import?_csrf={token}")))
            .multipart(upload)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} import");
        assert_eq!(app.fingerprint().await, before, "{email}");
    }
}

#[tokio::test]
async fn member_pages_of_another_organisation_answer_404() {
    let app = spawn_app().await;
    let engagement = {
        let mut conn = app.platform.db.read().await.unwrap();
        let org = bouquet_store::orgs::get_by_siren(
            &mut conn,
            &bouquet_kernel::Siren::parse(ARBRISSEL).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        bouquet_adhesions::engagements::list(&mut conn, org.id().unwrap())
            .await
            .unwrap()[0]
            .id
            .clone()
    };
    let referent_id = {
        let token = app.api_token("agent@epci.demo").await;
        let me: Value = app
            .api(&token)
            .get("/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        me["id"].as_str().unwrap().to_owned()
    };
    const COMPANY: &str = "999999972";
    let attempts = vec![
        Attempt::get(Verb::Read, format!("/o/{ARBRISSEL}/adhesion")),
        Attempt::get(
            Verb::Read,
            format!("/o/{ARBRISSEL}/adhesion/engagements/{engagement}/modele.pdf"),
        ),
        // Through the company's own URL with Arbrissel's engagement: not found either.
        Attempt::get(
            Verb::Read,
            format!("/o/{COMPANY}/adhesion/engagements/{engagement}/signe.pdf"),
        ),
        Attempt::get(Verb::List, format!("/o/{EPCI}/communes")),
        Attempt::get(Verb::List, format!("/o/{EPCI}/referents")),
        Attempt::get(Verb::Read, format!("/o/{EPCI}/referents/{referent_id}")),
        Attempt::post(
            Verb::Change,
            format!("/o/{EPCI}/referents/{referent_id}"),
            &[("perimetre", "toutes")],
        ),
        Attempt::post(
            Verb::Delete,
            format!("/o/{EPCI}/referents/{referent_id}"),
            &[("perimetre", "liste")],
        ),
    ];
    let outsider = app.login("contact@entreprise.demo").await;
    assert_refused(&app, Caller::Browser(&outsider), &attempts).await;

    let token = app.api_token("contact@entreprise.demo").await;
    let api = vec![
        Attempt::api(
            Verb::Read,
            Method::GET,
            format!("/api/v1/organisations/{ARBRISSEL}"),
            None,
        ),
        Attempt::api(
            Verb::List,
            Method::GET,
            format!("/api/v1/o/{ARBRISSEL}/subscriptions"),
            None,
        ),
        Attempt::api(
            Verb::Change,
            Method::POST,
            format!("/api/v1/o/{ARBRISSEL}/subscriptions"),
            Some(json!({ "service": "factures", "start_date": "2026-12-01" })),
        ),
        Attempt::api(
            Verb::Delete,
            Method::POST,
            format!("/api/v1/o/{EPCI}/subscriptions"),
            Some(
                json!({ "service": "actes", "start_date": "2020-01-01", "end_date": "2020-01-02" }),
            ),
        ),
    ];
    assert_refused(&app, Caller::Token(&token), &api).await;
    // The company lists no member at all.
    let list: Value = app
        .api(&token)
        .get("/api/v1/organisations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_end_of_a_convention_is_reminded_once_per_window() {
    let app = spawn_app().await;
    // The demo EPCI's convention ends in 45 days: inside the first window already, so the
    // daily job, enqueued at start, reminded it at once. (The other start-up mails are the
    // demo parapheur's: its délibération waits for the maire.)
    let new: Vec<_> = app
        .startup_mails
        .iter()
        .filter(|m| !m.text.contains("/parapheur/"))
        .collect();
    assert!(
        !new.is_empty() && new.iter().all(|m| m.subject.starts_with("À renouveler")),
        "{new:?}"
    );
    let to: Vec<&str> = new.iter().map(|m| m.to.as_str()).collect();
    assert!(
        to.contains(&"admin@operateur.demo") && to.contains(&"agent@epci.demo"),
        "{to:?}"
    );
    assert!(app.sent_mails().is_empty());
    // The same day again, or the next: nothing more.
    let p = &app.platform;
    let today: jiff::civil::Date = today(&app).parse().unwrap();
    assert_eq!(
        bouquet_adhesions::reminders::send_due(p, today)
            .await
            .unwrap(),
        0
    );
    let tomorrow = today.tomorrow().unwrap();
    assert_eq!(
        bouquet_adhesions::reminders::send_due(p, tomorrow)
            .await
            .unwrap(),
        0
    );
    // In the last 30 days: once more.
    app.clock.advance(SignedDuration::from_hours(24 * 20));
    let later = today.checked_add(jiff::Span::new().days(20)).unwrap();
    assert_eq!(
        bouquet_adhesions::reminders::send_due(p, later)
            .await
            .unwrap(),
        1
    );
    // It is on the operator's dashboard too.
    let admin = app.login("admin@operateur.demo").await;
    let (_, html) = text(&admin, app.url("/o/999999998/")).await;
    assert!(html.contains("engagement prend fin dans les 90 jours"));
    assert!(
        html.contains("attend sa signature"),
        "Janzé's charter waits"
    );
}

/// Uploads `bytes` as the members file; returns the status and the page.
async fn upload(app: &TestApp, client: &reqwest::Client, bytes: &[u8]) -> (StatusCode, String) {
    let csrf = app.csrf(client).await;
    let form = multipart::Form::new().part(
        "fichier",
        multipart::Part::bytes(bytes.to_vec()).file_name("membres.csv"),
    );
    let r = client
        .post(app.url(&format!("/admin/membres/import?_csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), body(r).await)
}

/// The value of the hidden field `name` of a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    html[at..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn members_are_imported_from_a_csv_file_after_a_preview() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let sqlite = matches!(engine, bouquet_store::Engine::Sqlite);
        let admin = app.login("admin@operateur.demo").await;
        let (status, html) = text(&admin, app.url("/admin/membres/import")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Colonnes reconnues"));

        // Whole-file refusals, named at the field; nothing written.
        let before = if sqlite {
            app.fingerprint().await
        } else {
            String::new()
        };
        for (bytes, message) in [
            (&b""[..], "Choisissez le fichier CSV des membres."),
            (
                &b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"[..],
                "ce n'est pas un fichier CSV",
            ),
            (
                &b"nom;type\nJanz\xe9;commune\n"[..],
                "colonne « siren » introuvable",
            ),
        ] {
            let (status, html) = upload(&app, &admin, bytes).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
            assert!(
                html.to_lowercase().contains(&message.to_lowercase()),
                "{message}: {html}"
            );
        }
        // Over 5 MB: refused before it is read whole.
        let big = format!("siren\n{}", "213501083\n".repeat(600_000));
        let (status, html) = upload(&app, &admin, big.as_bytes()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("découpez-le"), "{html}");

        // A file with an error on most lines: each named, at its line and column.
        let (status, html) = upload(&app, &admin, IMPORT_ERRORS).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("comportent des erreurs"));
        for expected in [
            "colonne « siren » : ",
            "colonne « epci » : ",
            "colonne « services » : ",
            "colonne « date » : ",
            "colonne « statut » : ",
            "colonne « courriel » : ",
        ] {
            assert!(html.contains(expected), "{expected}");
        }
        // Janzé and Arbrissel, the two valid lines, are members of the demo already.
        assert!(html.contains("Janzé est déjà membre"), "{html}");
        assert!(
            html.contains("Aucune ligne") || !html.contains("Importer les"),
            "nothing to import"
        );

        // The clean file, in Windows-1252: three of its members are members already.
        let (status, html) = upload(&app, &admin, IMPORT_1252).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("lu en Windows-1252, séparateur point-virgule"),
            "{html}"
        );
        assert!(html.contains("3 lignes comportent des erreurs"), "{html}");
        assert!(
            html.contains("Retiers est déjà membre (statut « Candidat »)"),
            "{html}"
        );
        assert!(
            html.contains("services non souscrits"),
            "Noyal is suspended: {html}"
        );
        assert!(
            html.contains("Syndicat d’eau potable de la Seiche"),
            "{html}"
        );
        let sha = hidden(&html, "fichier");
        if sqlite {
            assert_eq!(app.fingerprint().await, before, "a preview writes nothing");
        }
        // Without the explicit choice, nothing is imported.
        let r = app
            .post_form(
                &admin,
                "/admin/membres/import/confirmer",
                &[("fichier", sha.as_str()), ("nom", "membres.csv")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("corrigez le fichier"));
        // A file that was never sent.
        let r = app
            .post_form(
                &admin,
                "/admin/membres/import/confirmer",
                &[("fichier", &"ab".repeat(32)), ("lignes_valides", "oui")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("n'a pas été retrouvé"));
        if sqlite {
            assert_eq!(app.fingerprint().await, before, "refusals write nothing");
        }
        // The explicit choice imports the five valid lines.
        let r = app
            .post_form(
                &admin,
                "/admin/membres/import/confirmer",
                &[
                    ("fichier", sha.as_str()),
                    ("nom", "membres.csv"),
                    ("lignes_valides", "oui"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let (_, list) = text(&admin, app.url("/admin/membres?q=ch%C3%A2teaugiron")).await;
        assert!(list.contains("Châteaugiron"), "{list}");
        // From the registry: Châteaugiron's EPCI, created with it; its services from its date.
        let (_, page) = text(&admin, app.url("/admin/membres/200064483")).await;
        assert!(page.contains("Pays de Châteaugiron"), "{page}");
        assert!(
            page.contains("Archivage") && page.contains("Marchés publics"),
            "{page}"
        );
        assert!(page.contains("01/01/2017"));
        // Noyal is suspended, with no service; Amanlis has left.
        let (_, page) = text(&admin, app.url("/admin/membres/213502073")).await;
        assert!(page.contains("Noyal-sur-Vilaine") && page.contains("Suspendu"));
        let (_, page) = text(&admin, app.url("/admin/membres/213500028")).await;
        assert!(page.contains("Sorti"));
        // The CCAS hangs from its commune's EPCI.
        let (_, communes) = text(&admin, app.url(&format!("/o/{EPCI}/communes"))).await;
        assert!(communes.contains("CCAS de Janzé") || communes.contains("Janzé"));
        // One journal entry sums the import up.
        let (_, journal) = text(&admin, app.url("/admin/journal")).await;
        assert!(
            journal.contains("Membres importés d'un fichier"),
            "{engine:?}"
        );
        // The same file again: every line is a member now, nothing to import.
        let r = app
            .post_form(
                &admin,
                "/admin/membres/import/confirmer",
                &[("fichier", sha.as_str()), ("lignes_valides", "oui")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("Aucune ligne n'est sans erreur"));
    }
}
