//! Invitations by a member administrator, and deactivation of an account used only in one
//! organisation: on SQLite and PostgreSQL; tenancy (404 for outsiders, 403 for people of the
//! organisation who are not its administrators) on SQLite, where the database fingerprint
//! proves nothing changed.

use bouquet_kernel::{Email, Role, RoleSet, Service, UserId};
use bouquet_store::audit::AuditActor;
use bouquet_store::{Engine, accounts, orgs};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, browser, csrf_of, engines, problem, spawn_app, spawn_app_on};
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

/// Arbrissel: Sophie Lebrun (agent@, administrator) and the maire.
pub const A: &str = "213500051";
/// The demo company: Julie Fournier (contact@entreprise.demo), its administrator.
pub const COMPANY: &str = "999999972";

/// Whether a page contains `text`, its apostrophes escaped or not.
pub fn has(html: &str, text: &str) -> bool {
    html.contains(text) || html.contains(&text.replace('\'', "&#39;"))
}

pub async fn page(client: &Client, url: String) -> (StatusCode, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The secret of the newest link e-mailed to `to` whose path starts with `path`.
pub fn link_token(app: &TestApp, to: &str, path: &str) -> String {
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == to && m.text.contains(path))
        .unwrap_or_else(|| panic!("no e-mail to {to} with {path}"));
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains(path))
        .unwrap()
        .to_owned();
    link.split("jeton=").nth(1).unwrap().to_owned()
}

/// Counts of every table these features write, on either engine (sessions and throttling
/// excluded), to prove that a refused request changed nothing.
pub async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut conn = app.platform.db.read().await.unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM users WHERE active = TRUE",
        "SELECT COUNT(*) FROM memberships",
        "SELECT COUNT(*) FROM organisations",
        "SELECT COUNT(*) FROM invitations",
        "SELECT COUNT(*) FROM invitations WHERE used_at IS NOT NULL",
        "SELECT COUNT(*) FROM invitations WHERE cancelled_at IS NOT NULL",
        "SELECT COUNT(*) FROM company_signups",
        "SELECT COUNT(*) FROM company_signups WHERE confirmed_at IS NOT NULL",
        "SELECT COUNT(*) FROM audit_events",
    ] {
        let n: i64 =
            bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(c)
                .await)
            .unwrap();
        out.push(n);
    }
    out
}

pub async fn user_id(app: &TestApp, email: &str) -> UserId {
    let mut conn = app.platform.db.read().await.unwrap();
    accounts::find_by_email(&mut conn, &Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id()
        .unwrap()
}

pub async fn org_count(app: &TestApp, email: &str) -> usize {
    let id = user_id(app, email).await;
    let mut conn = app.platform.db.read().await.unwrap();
    accounts::memberships(&mut conn, id).await.unwrap().len()
}

pub async fn invite(
    app: &TestApp,
    admin: &Client,
    siren: &str,
    name: &str,
    email: &str,
    roles: &[&str],
) -> reqwest::Response {
    let mut fields = vec![("display_name", name), ("email", email), ("title", "")];
    fields.extend(roles.iter().map(|r| ("roles", *r)));
    app.post_form(admin, &format!("/o/{siren}/utilisateurs/inviter"), &fields)
        .await
}

/// The id of the open invitation to `email`, through the API as `admin` (an e-mail).
pub async fn invitation_id(app: &TestApp, admin: &str, siren: &str, email: &str) -> String {
    let token = app.api_token(admin).await;
    let body: Value = app
        .api(&token)
        .get(&format!("/api/v1/o/{siren}/invitations"))
        .await
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["email"] == email)
        .unwrap_or_else(|| panic!("no open invitation to {email}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn accept_new_account(
    app: &TestApp,
    client: &Client,
    token: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    app.post_form(
        client,
        "/invitation",
        &[
            ("jeton", token),
            ("display_name", name),
            ("password", password),
            ("confirmation", password),
        ],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Both engines

async fn new_person_scenario(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let sophie = app.login("agent@commune.demo").await;
    let (status, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs/inviter"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Inviter une personne") && html.contains("value=\"agent\" checked"));
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs"))).await;
    assert!(html.contains(&format!("/o/{A}/utilisateurs/inviter")));

    // Field errors, shown again with 422.
    let before = snapshot(&app).await;
    let r = invite(&app, &sophie, A, "Paul Martin", "paul.martin@", &["agent"]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Saisissez une adresse électronique valide"));
    assert!(html.contains("<title>Erreur : "));
    let r = invite(
        &app,
        &sophie,
        A,
        "Paul Martin",
        "paul.martin@exemple.fr",
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Choisissez au moins un rôle.")
    );
    let r = invite(
        &app,
        &sophie,
        A,
        "Paul Martin",
        "paul.martin@exemple.fr",
        &["referent_numerique"],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no référent in a commune"
    );
    let r = invite(
        &app,
        &sophie,
        A,
        "Jean-Yves Rocher",
        "MAIRE@commune.demo",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Cette personne a déjà accès à cette organisation")
    );
    assert_eq!(
        snapshot(&app).await,
        before,
        "refused invitations change nothing"
    );

    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/inviter"),
            &[
                ("display_name", "Paul Martin"),
                ("email", "Paul.Martin@exemple.fr"),
                ("title", "Adjoint administratif"),
                ("roles", "agent"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/o/{A}/utilisateurs"));
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs"))).await;
    assert!(
        html.contains("L&#39;invitation a été envoyée")
            || html.contains("L'invitation a été envoyée")
    );
    assert!(html.contains("Invitations en attente") && html.contains("paul.martin@exemple.fr"));
    assert!(html.contains("Envoi en cours"), "the job has not run yet");
    // The same address again: refused, with the pending invitation to resend or cancel.
    let r = invite(
        &app,
        &sophie,
        A,
        "Paul Martin",
        "paul.martin@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Une invitation est déjà en attente pour cette adresse"));
    assert!(html.contains("Renvoyer l&#39;invitation") || html.contains("Renvoyer l'invitation"));
    assert!(html.contains("/annuler\""));

    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "paul.martin@exemple.fr")
        .unwrap();
    assert!(mail.subject.contains("Arbrissel"));
    assert!(
        mail.text
            .contains("Sophie Lebrun vous invite à rejoindre Arbrissel")
    );
    assert!(
        mail.text.contains("avant le 30/11/2026 à 10:00"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("rôle : Agent"));
    let token = link_token(&app, "paul.martin@exemple.fr", "/invitation?jeton=");
    // Only the hash of the secret is stored, and the job queue never held it.
    {
        let mut conn = app.platform.db.read().await.unwrap();
        let (plain, hashed, in_jobs): (i64, i64, i64) =
            bouquet_store::run!(&mut conn, |c| sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM invitations WHERE token_hash = $1),
                    (SELECT COUNT(*) FROM invitations WHERE token_hash = $2),
                    (SELECT COUNT(*) FROM jobs WHERE payload LIKE $3)"
            )
            .bind(&token)
            .bind(accounts::secret_hash(&token))
            .bind(format!("%{token}%"))
            .fetch_one(c)
            .await)
            .unwrap();
        assert_eq!((plain, hashed, in_jobs), (0, 1, 0));
    }

    // Paul opens the link: who invites him, where, with which roles.
    let paul = browser();
    let (status, html) = page(&paul, app.url(&format!("/invitation?jeton={token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Rejoindre Arbrissel") && html.contains("Sophie Lebrun"));
    assert!(html.contains("Agent") && html.contains("value=\"Paul Martin\""));
    let r = accept_new_account(&app, &paul, &token, "Paul Martin", "court").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("au moins 12 caractères"));
    let r = app
        .post_form(
            &paul,
            "/invitation",
            &[
                ("jeton", &token),
                ("display_name", "Paul Martin"),
                ("password", "le printemps à Arbrissel"),
                ("confirmation", "le printemps à Janzé"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("ne sont pas identiques"));
    let r = accept_new_account(
        &app,
        &paul,
        &token,
        "Paul Martin",
        "le printemps à Arbrissel",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/o/{A}/"));
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("bouquet_session="))
    );
    // Signed in: his organisation's dashboard, and a welcome.
    let (status, html) = page(&paul, app.url(&format!("/o/{A}/"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Arbrissel</h1>") && html.contains("Bienvenue"));
    // He has the invited roles and function, and signs in with his password.
    let paul_id = user_id(&app, "paul.martin@exemple.fr").await;
    {
        let mut conn = app.platform.db.read().await.unwrap();
        let org = orgs::get_by_siren(&mut conn, &bouquet_kernel::Siren::parse(A).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id()
            .unwrap();
        let me = accounts::org_user(&mut conn, org, paul_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(me.roles(), RoleSet::empty().with(Role::Agent));
        assert_eq!(me.title.as_deref(), Some("Adjoint administratif"));
    }
    let r = app
        .post_form(
            &browser(),
            "/connexion",
            &[
                ("email", "paul.martin@exemple.fr"),
                ("password", "le printemps à Arbrissel"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The link works once: a second use says so and changes nothing.
    let before = snapshot(&app).await;
    let (status, html) = page(&browser(), app.url(&format!("/invitation?jeton={token}"))).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        html.contains("Ce lien d&#39;invitation a déjà été utilisé")
            || html.contains("Ce lien d'invitation a déjà été utilisé")
    );
    assert!(html.contains("renvoyer"));
    let r = accept_new_account(
        &app,
        &browser(),
        &token,
        "Paul Bis",
        "une autre phrase de passe",
    )
    .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(snapshot(&app).await, before);
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs"))).await;
    assert!(!html.contains("Envoi en cours") && html.contains("Aucune invitation en attente"));

    // Journaled with French labels.
    let token = app.api_token("agent@commune.demo").await;
    let journal: Value = app
        .api(&token)
        .get(&format!("/api/v1/o/{A}/journal?action=invitation."))
        .await
        .json()
        .await
        .unwrap();
    let labels: Vec<&str> = journal["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action_label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["Invitation acceptée", "Invitation envoyée"]);
}

#[tokio::test]
async fn an_administrator_invites_a_new_person_who_creates_an_account() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        new_person_scenario(engine).await;
    }
}

async fn existing_account_scenario(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let sophie = app.login("agent@commune.demo").await;
    let r = invite(
        &app,
        &sophie,
        A,
        "Julie Fournier",
        "contact@entreprise.demo",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let token = link_token(&app, "contact@entreprise.demo", "/invitation?jeton=");
    let before = snapshot(&app).await;

    // Not signed in: sign in first, and come back to the link.
    let anonymous = browser();
    let (status, html) = page(&anonymous, app.url(&format!("/invitation?jeton={token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Un compte Bouquet existe déjà pour contact@entreprise.demo"));
    assert!(html.contains("/connexion?suite=%2Finvitation%3Fjeton%3D"));
    assert!(
        !html.contains("name=\"password\""),
        "no new account for an address that has one"
    );
    let r = app
        .post_form(&anonymous, "/invitation", &[("jeton", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = accept_new_account(
        &app,
        &anonymous,
        &token,
        "Pirate",
        "une phrase de passe longue",
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app).await, before);
    // Signed in as someone else: said so, nothing done.
    let maire = app.login("maire@commune.demo").await;
    let before = snapshot(&app).await;
    let (_, html) = page(&maire, app.url(&format!("/invitation?jeton={token}"))).await;
    assert!(
        html.contains("Vous êtes connecté avec un autre compte")
            && html.contains("Jean-Yves Rocher")
    );
    let r = app
        .post_form(&maire, "/invitation", &[("jeton", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(snapshot(&app).await, before);

    // Signed in as the invited account: one button, and a second organisation.
    let julie = browser();
    let r = app
        .post_form(
            &julie,
            "/connexion",
            &[
                ("email", "contact@entreprise.demo"),
                ("password", "bouquet-demo"),
                ("suite", &format!("/invitation?jeton={token}")),
            ],
        )
        .await;
    assert_eq!(
        r.headers()["location"],
        format!("/invitation?jeton={token}")
    );
    let (_, html) = page(&julie, app.url(&format!("/invitation?jeton={token}"))).await;
    assert!(html.contains("Accepter l&#39;invitation") || html.contains("Accepter l'invitation"));
    assert_eq!(org_count(&app, "contact@entreprise.demo").await, 1);
    let r = app
        .post_form(&julie, "/invitation", &[("jeton", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/o/{A}/"));
    assert_eq!(org_count(&app, "contact@entreprise.demo").await, 2);
    let (status, _) = page(&julie, app.url(&format!("/o/{A}/"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = page(&julie, app.url(&format!("/o/{COMPANY}/"))).await;
    assert_eq!(status, StatusCode::OK, "still in her company");
    // Twice: refused, still two organisations.
    let before = snapshot(&app).await;
    let r = app
        .post_form(&julie, "/invitation", &[("jeton", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(snapshot(&app).await, before);
    assert_eq!(org_count(&app, "contact@entreprise.demo").await, 2);

    // Her account is used elsewhere: Arbrissel's administrator cannot deactivate it.
    let julie_id = user_id(&app, "contact@entreprise.demo").await;
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs/{julie_id}"))).await;
    assert!(html.contains("sert aussi dans une autre organisation"));
    assert!(!html.contains(&format!("{julie_id}/desactiver")));
    let (status, html) = page(
        &sophie,
        app.url(&format!("/o/{A}/utilisateurs/{julie_id}/desactiver")),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("Retirez plutôt son accès à Arbrissel"));
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{julie_id}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(snapshot(&app).await, before);
    let (status, _) = page(&julie, app.url(&format!("/o/{A}/"))).await;
    assert_eq!(status, StatusCode::OK, "still active");
}

#[tokio::test]
async fn a_person_with_an_account_accepts_and_belongs_to_two_organisations() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        existing_account_scenario(engine).await;
    }
}

async fn expired_cancelled_resent_scenario(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let sophie = app.login("agent@commune.demo").await;
    invite(
        &app,
        &sophie,
        A,
        "Anne Durand",
        "anne.durand@exemple.fr",
        &["agent", "elu_signataire"],
    )
    .await;
    app.drain_jobs().await;
    let first = link_token(&app, "anne.durand@exemple.fr", "/invitation?jeton=");
    let id = invitation_id(&app, "agent@commune.demo", A, "anne.durand@exemple.fr").await;

    // Seven days later the link has expired: said so, nothing changes.
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 7));
    let before = snapshot(&app).await;
    let (status, html) = page(&browser(), app.url(&format!("/invitation?jeton={first}"))).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("a expiré"));
    assert!(html.contains("renvoyer l&#39;invitation") || html.contains("renvoyer l'invitation"));
    let r = accept_new_account(
        &app,
        &browser(),
        &first,
        "Anne Durand",
        "une phrase de passe longue",
    )
    .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(snapshot(&app).await, before);

    // The administrator sees it expired and resends it: a new link, the old one dead.
    let sophie = app.login("agent@commune.demo").await;
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs"))).await;
    assert!(html.contains("Expirée"));
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/invitations/{id}/renvoyer"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let second = link_token(&app, "anne.durand@exemple.fr", "/invitation?jeton=");
    assert_ne!(first, second);
    let (status, html) = page(&browser(), app.url(&format!("/invitation?jeton={first}"))).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("n&#39;est pas valide") || html.contains("n'est pas valide"));
    let (status, _) = page(&browser(), app.url(&format!("/invitation?jeton={second}"))).await;
    assert_eq!(status, StatusCode::OK);

    // Resent twice before the job runs: one e-mail, with the link of the last send.
    let mails = app.sent_mails().len();
    for _ in 0..2 {
        let r = app
            .post_form(
                &sophie,
                &format!("/o/{A}/utilisateurs/invitations/{id}/renvoyer"),
                &[],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(app.drain_jobs().await, 2);
    assert_eq!(
        app.sent_mails().len(),
        mails + 1,
        "the older job sends nothing"
    );
    let third = link_token(&app, "anne.durand@exemple.fr", "/invitation?jeton=");
    let (status, _) = page(&browser(), app.url(&format!("/invitation?jeton={third}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = page(&browser(), app.url(&format!("/invitation?jeton={second}"))).await;
    assert_eq!(status, StatusCode::GONE);

    // Cancelled, after a confirmation page: the link says so and nothing changes.
    let (status, html) = page(
        &sophie,
        app.url(&format!("/o/{A}/utilisateurs/invitations/{id}/annuler")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Annuler l&#39;invitation de Anne Durand")
            || html.contains("Annuler l'invitation de Anne Durand")
    );
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/invitations/{id}/annuler"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let before = snapshot(&app).await;
    let (status, html) = page(&browser(), app.url(&format!("/invitation?jeton={third}"))).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("a été annulée"));
    let r = accept_new_account(
        &app,
        &browser(),
        &third,
        "Anne Durand",
        "une phrase de passe longue",
    )
    .await;
    assert_eq!(r.status(), StatusCode::GONE);
    // A cancelled invitation can be neither resent nor cancelled again.
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/invitations/{id}/renvoyer"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/invitations/{id}/annuler"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(snapshot(&app).await, before);
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs"))).await;
    assert!(!html.contains("anne.durand@exemple.fr"));
    // And the address can be invited again.
    let r = invite(
        &app,
        &sophie,
        A,
        "Anne Durand",
        "anne.durand@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn expired_resent_and_cancelled_links() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        expired_cancelled_resent_scenario(engine).await;
    }
}

async fn cap_scenario(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let p = &app.platform;
    // Arbrissel (2 active members) subscribes to archiving for 3 users at most.
    {
        let mut tx = p.db.begin().await.unwrap();
        let org = orgs::get_by_siren(&mut tx, &bouquet_kernel::Siren::parse(A).unwrap())
            .await
            .unwrap()
            .unwrap();
        let mut sub = orgs::NewSubscription::from(Service::Archives, "2026-01-01");
        sub.max_users = Some(3);
        orgs::subscribe(
            &mut tx,
            p.clock.now(),
            org.id().unwrap(),
            sub,
            &AuditActor::system(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let sophie = app.login("agent@commune.demo").await;
    let r = invite(
        &app,
        &sophie,
        A,
        "Anne Durand",
        "anne.durand@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the third seat");
    let before = snapshot(&app).await;
    let r = invite(
        &app,
        &sophie,
        A,
        "Bruno Petit",
        "bruno.petit@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("L&#39;abonnement au service « Archivage » est limité à 3 utilisateurs : retirez un accès ou demandez à l&#39;opérateur d&#39;augmenter la limite.")
            || html.contains("L'abonnement au service « Archivage » est limité à 3 utilisateurs : retirez un accès ou demandez à l'opérateur d'augmenter la limite."),
        "{html}"
    );
    assert_eq!(snapshot(&app).await, before);
    let token = app.api_token("agent@commune.demo").await;
    let before = snapshot(&app).await;
    let r = app
        .api(&token)
        .client
        .post(app.url(&format!("/api/v1/o/{A}/invitations")))
        .json(&json!({ "email": "bruno.petit@exemple.fr", "display_name": "Bruno Petit", "roles": ["agent"] }))
        .send()
        .await
        .unwrap();
    let body = problem(r, StatusCode::CONFLICT).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("limité à 3 utilisateurs")
    );
    assert_eq!(snapshot(&app).await, before);
    // Cancelling the pending invitation frees its seat.
    let id = invitation_id(&app, "agent@commune.demo", A, "anne.durand@exemple.fr").await;
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/invitations/{id}/annuler"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = invite(
        &app,
        &sophie,
        A,
        "Bruno Petit",
        "bruno.petit@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A deactivated account holds no seat.
    let r = invite(
        &app,
        &sophie,
        A,
        "Chloé Morel",
        "chloe.morel@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let maire = user_id(&app, "maire@commune.demo").await;
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{maire}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = invite(
        &app,
        &sophie,
        A,
        "Chloé Morel",
        "chloe.morel@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_subscriptions_cap_of_users_limits_invitations() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        cap_scenario(engine).await;
    }
}

async fn deactivation_scenario(engine: Engine) {
    let app = spawn_app_on(engine).await;
    let sophie = app.login("agent@commune.demo").await;
    let maire = user_id(&app, "maire@commune.demo").await;
    let sophie_id = user_id(&app, "agent@commune.demo").await;
    let maire_session = app.login("maire@commune.demo").await;
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs/{maire}"))).await;
    assert!(html.contains("Désactiver le compte de Jean-Yves Rocher"));
    let (status, html) = page(
        &sophie,
        app.url(&format!("/o/{A}/utilisateurs/{maire}/desactiver")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Désactiver le compte de Jean-Yves Rocher ?"));
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{maire}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // His session ended, he cannot sign in, the page offers to reactivate.
    let r = maire_session
        .get(app.url(&format!("/o/{A}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            &browser(),
            "/connexion",
            &[
                ("email", "maire@commune.demo"),
                ("password", "bouquet-demo"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, html) = page(&sophie, app.url(&format!("/o/{A}/utilisateurs/{maire}"))).await;
    assert!(
        html.contains("Le compte a été désactivé")
            && html.contains("Réactiver le compte de Jean-Yves Rocher")
    );
    // Submitted twice: nothing more changes.
    let before = snapshot(&app).await;
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{maire}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(snapshot(&app).await, before);
    let (status, _) = page(
        &sophie,
        app.url(&format!("/o/{A}/utilisateurs/{maire}/reactiver")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{maire}/reactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.login("maire@commune.demo").await;
    // Not oneself.
    let before = snapshot(&app).await;
    let r = app
        .post_form(
            &sophie,
            &format!("/o/{A}/utilisateurs/{sophie_id}/desactiver"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(snapshot(&app).await, before);
    // Journaled in the organisation's chain.
    let token = app.api_token("agent@commune.demo").await;
    let journal: Value = app
        .api(&token)
        .get(&format!("/api/v1/o/{A}/journal?action=user."))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = journal["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[..2], ["user.reactivated", "user.deactivated"]);
}

#[tokio::test]
async fn an_administrator_deactivates_an_account_used_only_in_the_organisation() {
    for engine in engines() {
        eprintln!("moteur {engine:?}");
        deactivation_scenario(engine).await;
    }
}

#[tokio::test]
async fn the_api_lists_creates_resends_and_cancels_invitations() {
    let app = spawn_app().await;
    let token = app.api_token("agent@commune.demo").await;
    let api = app.api(&token);
    let post = |body: Value| {
        api.client
            .post(app.url(&format!("/api/v1/o/{A}/invitations")))
            .json(&body)
            .send()
    };
    let r = post(json!({ "email": "pas une adresse", "display_name": "X", "roles": ["agent"] }))
        .await
        .unwrap();
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "email", "{body}");
    let r = post(json!({ "email": "x@exemple.fr", "display_name": "X", "roles": [] }))
        .await
        .unwrap();
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "roles");
    let r =
        post(json!({ "email": "x@exemple.fr", "display_name": "X", "roles": ["operator_admin"] }))
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = post(
        json!({ "email": "x@exemple.fr", "display_name": "X", "roles": ["agent"], "admin": true }),
    )
    .await
    .unwrap();
    problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = post(json!({ "email": "Xavier@Exemple.fr", "display_name": "Xavier Roux", "roles": ["agent", "member_admin"], "title": "Comptable" }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["email"], "xavier@exemple.fr");
    assert_eq!(created["roles"], json!(["member_admin", "agent"]));
    assert_eq!(created["invited_by"], "Sophie Lebrun");
    assert_eq!(created["expires_at"], "2026-11-30T09:00:00Z");
    assert_eq!(created["sent"], false);
    let id = created["id"].as_str().unwrap();
    let r = post(
        json!({ "email": "xavier@exemple.fr", "display_name": "Xavier Roux", "roles": ["agent"] }),
    )
    .await
    .unwrap();
    let body = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("déjà en attente")
    );
    app.drain_jobs().await;
    let list: Value = api
        .get(&format!("/api/v1/o/{A}/invitations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["sent"], true);
    let first = link_token(&app, "xavier@exemple.fr", "/invitation?jeton=");
    let r = api
        .client
        .post(app.url(&format!("/api/v1/o/{A}/invitations/{id}/resend")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.drain_jobs().await;
    assert_ne!(
        link_token(&app, "xavier@exemple.fr", "/invitation?jeton="),
        first
    );
    let r = api
        .client
        .delete(app.url(&format!("/api/v1/o/{A}/invitations/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = api
        .client
        .delete(app.url(&format!("/api/v1/o/{A}/invitations/{id}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND).await;
    let list: Value = api
        .get(&format!("/api/v1/o/{A}/invitations"))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    // Documented.
    let doc: Value = browser()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    assert!(paths["/api/v1/o/{siren}/invitations"]["get"].is_object());
    assert!(paths["/api/v1/o/{siren}/invitations"]["post"].is_object());
    assert!(paths["/api/v1/o/{siren}/invitations/{id}"]["delete"].is_object());
    assert!(paths["/api/v1/o/{siren}/invitations/{id}/resend"]["post"].is_object());
}

// ---------------------------------------------------------------------------------------
// Tenancy (SQLite: the fingerprint covers every table)

/// An open invitation of Arbrissel, and the maire's id.
async fn fixtures(app: &TestApp) -> (String, String) {
    let sophie = app.login("agent@commune.demo").await;
    let r = invite(
        app,
        &sophie,
        A,
        "Anne Durand",
        "anne.durand@exemple.fr",
        &["agent"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = invitation_id(app, "agent@commune.demo", A, "anne.durand@exemple.fr").await;
    (id, user_id(app, "maire@commune.demo").await.to_string())
}

fn page_attempts(org: &str, id: &str, person: &str) -> Vec<Attempt> {
    let invite_form: &[(&str, &str)] = &[
        ("display_name", "Intrus"),
        ("email", "intrus@exemple.fr"),
        ("roles", "member_admin"),
    ];
    vec![
        Attempt::get(Verb::Read, format!("/o/{org}/utilisateurs/inviter")),
        Attempt::get(
            Verb::Read,
            format!("/o/{org}/utilisateurs/{person}/desactiver"),
        ),
        Attempt::get(
            Verb::Read,
            format!("/o/{org}/utilisateurs/{person}/reactiver"),
        ),
        Attempt::get(Verb::List, format!("/o/{org}/utilisateurs")),
        Attempt::post(
            Verb::Change,
            format!("/o/{org}/utilisateurs/inviter"),
            invite_form,
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{org}/utilisateurs/invitations/{id}/renvoyer"),
            &[],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{org}/utilisateurs/{person}/desactiver"),
            &[],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{org}/utilisateurs/{person}/reactiver"),
            &[],
        ),
        Attempt::get(
            Verb::Delete,
            format!("/o/{org}/utilisateurs/invitations/{id}/annuler"),
        ),
        Attempt::post(
            Verb::Delete,
            format!("/o/{org}/utilisateurs/invitations/{id}/annuler"),
            &[],
        ),
    ]
}

fn api_attempts(org: &str, id: &str) -> Vec<Attempt> {
    vec![
        Attempt::api(
            Verb::Read,
            Method::GET,
            format!("/api/v1/o/{org}/invitations?limit=1"),
            None,
        ),
        Attempt::api(
            Verb::List,
            Method::GET,
            format!("/api/v1/o/{org}/invitations"),
            None,
        ),
        Attempt::api(
            Verb::Change,
            Method::POST,
            format!("/api/v1/o/{org}/invitations"),
            Some(
                json!({ "email": "intrus@exemple.fr", "display_name": "Intrus", "roles": ["member_admin"] }),
            ),
        ),
        Attempt::api(
            Verb::Change,
            Method::POST,
            format!("/api/v1/o/{org}/invitations/{id}/resend"),
            None,
        ),
        Attempt::api(
            Verb::Delete,
            Method::DELETE,
            format!("/api/v1/o/{org}/invitations/{id}"),
            None,
        ),
    ]
}

#[tokio::test]
async fn an_administrator_of_another_organisation_gets_404_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, maire) = fixtures(&app).await;
    // Julie administers the company: Arbrissel's URLs, and her own with Arbrissel's ids.
    let outsider = app.login("contact@entreprise.demo").await;
    let mut attempts = page_attempts(A, &id, &maire);
    attempts.extend(
        page_attempts(COMPANY, &id, &maire)
            .into_iter()
            .filter(|a| a.path.contains(&id) || a.path.contains(&maire)),
    );
    assert_refused(&app, Caller::Browser(&outsider), &attempts).await;
    let token = app.api_token("contact@entreprise.demo").await;
    let mut attempts = api_attempts(A, &id);
    attempts.extend(
        api_attempts(COMPANY, &id)
            .into_iter()
            .filter(|a| a.path.contains(&id)),
    );
    // The lists of her own organisation are hers: only Arbrissel's are tried.
    assert_refused(&app, Caller::Token(&token), &attempts).await;
}

/// Every attempt answers 403 in French and changes nothing.
async fn assert_forbidden(
    app: &TestApp,
    client: &Client,
    token: &str,
    pages: &[Attempt],
    api: &[Attempt],
) {
    for attempt in pages.iter().chain(api) {
        let before = app.fingerprint().await;
        let is_api = attempt.path.starts_with("/api/");
        let mut request = if is_api {
            Client::new()
                .request(attempt.method.clone(), app.url(&attempt.path))
                .bearer_auth(token)
        } else {
            client.request(attempt.method.clone(), app.url(&attempt.path))
        };
        if let Some(body) = &attempt.json {
            request = request.json(body);
        } else if attempt.method == Method::POST && !is_api {
            let (_, html) = page(client, app.url("/mentions-legales")).await;
            let mut form = vec![("_csrf".to_owned(), csrf_of(&html))];
            form.extend(attempt.form.iter().cloned());
            request = request.form(&form);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{} {}: {}",
            attempt.method,
            attempt.path,
            body.chars().take(300).collect::<String>()
        );
        assert!(
            body.contains("Seul un administrateur de l")
                || body.contains("Seul un administrateur de l&#39;"),
            "{} {} without the French reason",
            attempt.method,
            attempt.path
        );
        assert_eq!(
            app.fingerprint().await,
            before,
            "{} {} changed the database",
            attempt.method,
            attempt.path
        );
    }
}

#[tokio::test]
async fn the_referent_and_members_who_are_not_administrators_get_403() {
    let app = spawn_app().await;
    let (id, maire) = fixtures(&app).await;
    let sophie = user_id(&app, "agent@commune.demo").await.to_string();
    // An agent of Arbrissel without the administrator role.
    {
        let p = &app.platform;
        let mut tx = p.db.begin().await.unwrap();
        let org = orgs::get_by_siren(&mut tx, &bouquet_kernel::Siren::parse(A).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id()
            .unwrap();
        let hash = accounts::hash_password("bouquet-demo").unwrap();
        let agent = accounts::create_user(
            &mut tx,
            p.clock.now(),
            &Email::parse("agent2@commune.demo").unwrap(),
            "Luc Agent",
            Some(&hash),
            Some(org),
            &AuditActor::system(),
        )
        .await
        .unwrap();
        accounts::grant(
            &mut tx,
            p.clock.now(),
            agent,
            org,
            RoleSet::empty().with(Role::Agent),
            None,
            &AuditActor::system(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // The référent follows Arbrissel (read-only); the maire and the agent belong to it.
    for email in [
        "agent@epci.demo",
        "maire@commune.demo",
        "agent2@commune.demo",
    ] {
        let client = app.login(email).await;
        let token = app.api_token(email).await;
        let pages: Vec<Attempt> = page_attempts(A, &id, &sophie)
            .into_iter()
            .chain(page_attempts(A, &id, &maire))
            // The list of users itself is readable by the référent (read-only).
            .filter(|a| !a.path.ends_with("/utilisateurs"))
            .collect();
        assert_forbidden(&app, &client, &token, &pages, &api_attempts(A, &id)).await;
    }
}
