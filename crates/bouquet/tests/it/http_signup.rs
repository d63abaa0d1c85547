//! Companies create their own account, confirmed by e-mail: on SQLite and PostgreSQL.

use bouquet_kernel::identifiers::luhn_complete;
use bouquet_store::Engine;
use reqwest::{Client, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, browser, engines, spawn_app_on};
use crate::http_invitations::{has, invite, link_token, org_count, page, snapshot};

const PASSWORD: &str = "des fées dans l'atelier";

/// A well-formed SIRET (Luhn) of a SIREN not on the platform, and that SIREN.
fn new_company() -> (String, String) {
    let siren = luhn_complete("41234567");
    (luhn_complete(&format!("{siren}0001")), siren)
}

async fn sign_up(
    app: &TestApp,
    client: &Client,
    siret: &str,
    email: &str,
    conditions: bool,
) -> reqwest::Response {
    let mut fields = vec![
        ("siret", siret),
        ("company_name", "Menuiserie Lebreton"),
        ("display_name", "Yann Lebreton"),
        ("email", email),
        ("password", PASSWORD),
        ("confirmation", PASSWORD),
    ];
    if conditions {
        fields.push(("conditions", "oui"));
    }
    app.post_form(client, "/inscription-entreprise", &fields)
        .await
}

async fn api_token_with(app: &TestApp, email: &str, password: &str) -> String {
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// The notice shown after a request, without the address it names.
fn notice(html: &str, email: &str) -> String {
    let start = html
        .find("<strong>Demande enregistrée.</strong>")
        .expect("notice");
    let end = start + html[start..].find("</p>").unwrap();
    html[start..end].replace(email, "…")
}

async fn happy_path(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let (siret, siren) = new_company();
    let (status, html) = page(&browser(), app.url("/connexion")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/inscription-entreprise\""));
    assert!(html.contains("Vous êtes une entreprise ? Créez votre compte"));
    let visitor = browser();
    let (status, html) = page(&visitor, app.url("/inscription-entreprise")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"siret\"") && html.contains("name=\"conditions\""));

    // Field errors.
    let before = snapshot(&app).await;
    let mut wrong_key = siret.clone();
    let last = wrong_key.pop().unwrap().to_digit(10).unwrap();
    wrong_key.push(char::from_digit((last + 1) % 10, 10).unwrap());
    let r = sign_up(&app, &visitor, &wrong_key, "yann@menuiserie.fr", true).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(has(&html, "Ce SIRET n'est pas valide"));
    assert!(html.contains("<title>Erreur : "));
    let r = sign_up(&app, &visitor, "1234567890123", "yann@menuiserie.fr", true).await;
    assert!(r.text().await.unwrap().contains("exactement 14 chiffres"));
    let r = sign_up(&app, &visitor, &siret, "yann@", true).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("adresse électronique valide")
    );
    let r = sign_up(&app, &visitor, &siret, "yann@menuiserie.fr", false).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("acceptez les conditions d")
    );
    assert_eq!(snapshot(&app).await, before);

    // The request: the same answer as for an existing address (below).
    let r = sign_up(&app, &visitor, &siret, "Yann@Menuiserie.fr", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Un courriel de confirmation vous a été envoyé à yann@menuiserie.fr"));
    assert!(html.contains("48 heures"));
    let new_notice = notice(&html, "yann@menuiserie.fr");
    // The password is kept hashed (argon2id) only.
    {
        let mut conn = app.platform.db.read().await.unwrap();
        let hash: String = bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
            "SELECT password_hash FROM company_signups WHERE email = 'yann@menuiserie.fr'"
        )
        .fetch_one(c)
        .await)
        .unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains(PASSWORD));
    }
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "yann@menuiserie.fr")
        .unwrap();
    assert!(mail.text.contains("Menuiserie Lebreton") && mail.text.contains(&siret));
    assert!(mail.text.contains("48 heures"));
    let token = link_token(
        &app,
        "yann@menuiserie.fr",
        "/inscription-entreprise/confirmer?jeton=",
    );

    // Following the link shows what will be created; the button creates it and signs in.
    let (status, html) = page(
        &visitor,
        app.url(&format!("/inscription-entreprise/confirmer?jeton={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Menuiserie Lebreton") && has(&html, "Créer l'espace de mon entreprise"));
    let r = app
        .post_form(
            &visitor,
            "/inscription-entreprise/confirmer",
            &[("jeton", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/o/{siren}/"));
    let (status, html) = page(&visitor, app.url(&format!("/o/{siren}/"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Menuiserie Lebreton") && has(&html, "L'espace de votre entreprise est créé")
    );
    // A company, with its SIRET, and the person as its administrator.
    let token_api = api_token_with(&app, "yann@menuiserie.fr", PASSWORD).await;
    let org: Value = app
        .api(&token_api)
        .get(&format!("/api/v1/o/{siren}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["kind"], "entreprise");
    assert_eq!(
        org["my_roles"],
        serde_json::json!(["member_admin", "company_user"])
    );
    {
        let mut conn = app.platform.db.read().await.unwrap();
        let row = bouquet_store::orgs::get_by_siren(
            &mut conn,
            &bouquet_kernel::Siren::parse(&siren).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.siret.as_deref(), Some(siret.as_str()));
        assert_eq!(row.name, "Menuiserie Lebreton");
    }
    let journal: Value = app
        .api(&token_api)
        .get(&format!("/api/v1/o/{siren}/journal?action=company."))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(journal["items"][0]["action_label"], "Entreprise inscrite");

    // The link works once.
    let before = snapshot(&app).await;
    let (status, html) = page(
        &browser(),
        app.url(&format!("/inscription-entreprise/confirmer?jeton={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("déjà été utilisé"));
    let other = browser();
    page(&other, app.url("/inscription-entreprise")).await;
    let r = app
        .post_form(
            &other,
            "/inscription-entreprise/confirmer",
            &[("jeton", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(snapshot(&app).await, before);

    // The company's administrator invites a colleague: several people per company.
    let r = invite(
        &app,
        &visitor,
        &siren,
        "Morgane Lebreton",
        "morgane@menuiserie.fr",
        &["company_user"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let invitation = link_token(&app, "morgane@menuiserie.fr", "/invitation?jeton=");
    let morgane = browser();
    page(
        &morgane,
        app.url(&format!("/invitation?jeton={invitation}")),
    )
    .await;
    let r = app
        .post_form(
            &morgane,
            "/invitation",
            &[
                ("jeton", &invitation),
                ("display_name", "Morgane Lebreton"),
                ("password", "la scie et le rabot"),
                ("confirmation", "la scie et le rabot"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(org_count(&app, "morgane@menuiserie.fr").await, 1);
    let users: Value = app
        .api(&token_api)
        .get(&format!("/api/v1/o/{siren}/users"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 2);

    // An address that has an account: the same answer, and an e-mail saying so instead.
    let before = snapshot(&app).await;
    let other_siret = luhn_complete(&format!("{}0001", luhn_complete("51234567")));
    let r = sign_up(&app, &browser(), &other_siret, "agent@commune.demo", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(notice(&html, "agent@commune.demo"), new_notice);
    let after = snapshot(&app).await;
    // Only its journal event: no request recorded, no account, no company.
    assert_eq!(after[..9], before[..9]);
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "agent@commune.demo")
        .unwrap();
    assert_eq!(mail.subject, "Votre compte Bouquet existe déjà");
    assert!(mail.text.contains("/mot-de-passe-oublie") && !mail.text.contains("jeton="));
}

#[tokio::test]
async fn a_company_creates_its_account_through_the_confirmation_e_mail() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        happy_path(engine).await;
    }
}

async fn refusals(engine: Engine) {
    let app = spawn_app_on(engine).await;
    // Another establishment of the demo company: its SIREN already has a space.
    let siret = luhn_complete("9999999720002");
    let visitor = browser();
    let r = sign_up(&app, &visitor, &siret, "pirate@exemple.fr", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.drain_jobs().await;
    let token = link_token(
        &app,
        "pirate@exemple.fr",
        "/inscription-entreprise/confirmer?jeton=",
    );
    let before = snapshot(&app).await;
    let r = app
        .post_form(
            &visitor,
            "/inscription-entreprise/confirmer",
            &[("jeton", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains(
        "Votre entreprise a déjà un espace : demandez à son administrateur de vous inviter."
    ));
    assert!(r_has_no_session(&app, &visitor).await);
    assert_eq!(snapshot(&app).await, before, "nothing created");

    // An expired link: said so, nothing created.
    let (siret, _) = new_company();
    let r = sign_up(&app, &visitor, &siret, "yann@menuiserie.fr", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.drain_jobs().await;
    let token = link_token(
        &app,
        "yann@menuiserie.fr",
        "/inscription-entreprise/confirmer?jeton=",
    );
    app.clock.advance(jiff::SignedDuration::from_hours(48));
    let before = snapshot(&app).await;
    let (status, html) = page(
        &visitor,
        app.url(&format!("/inscription-entreprise/confirmer?jeton={token}")),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("a expiré"));
    let r = app
        .post_form(
            &visitor,
            "/inscription-entreprise/confirmer",
            &[("jeton", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(snapshot(&app).await, before);
    let (status, _) = page(
        &browser(),
        app.url("/inscription-entreprise/confirmer?jeton=inconnu"),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
}

/// Whether the browser is still anonymous (no session was opened).
async fn r_has_no_session(app: &TestApp, client: &Client) -> bool {
    let r = client.get(app.url("/profil")).send().await.unwrap();
    r.status() == StatusCode::SEE_OTHER
}

#[tokio::test]
async fn a_company_that_has_a_space_or_an_expired_link_creates_nothing() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        refusals(engine).await;
    }
}
