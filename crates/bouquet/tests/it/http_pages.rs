//! Pages: dashboards per role, organisation switching, users, administration, e-mails,
//! référent, settings, service gating, health, headers, metrics, errors.

use std::sync::Arc;

use async_trait::async_trait;
use axum::routing::get;
use bouquet_kernel::Service;
use bouquet_kernel::policy::Action;
use bouquet_store::Engine;
use bouquet_store::jobs::{self, NewJob};
use bouquet_webkit::{AppState, Module, OrgCtx, WebError};
use reqwest::StatusCode;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

use crate::helpers::{browser, problem, spawn_app, spawn_app_with};

async fn page(client: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn every_demo_account_lands_on_its_dashboard() {
    let app = spawn_app().await;
    for (email, landing, expect) in [
        (
            "admin@operateur.demo",
            "/o/999999998/",
            vec![
                "La plateforme",
                "organisations",
                "tâches en échec",
                "Administration",
            ],
        ),
        (
            "agent@commune.demo",
            "/o/213500051/",
            vec![
                "Arbrissel",
                "Vos services",
                "Information publique en ligne",
                "Ouverture prochaine sur la plateforme",
                "Gérer les utilisateurs",
            ],
        ),
        (
            "maire@commune.demo",
            "/o/213500051/",
            vec![
                "1 dossier attend votre visa ou votre signature",
                "Contacter mon référent",
            ],
        ),
        (
            "agent@epci.demo",
            "/o/243500634/",
            vec![
                "Les communes que vous suivez",
                "Les communes de l'intercommunalité",
                "Retiers",
                "4\u{202f}641",
            ],
        ),
        (
            "contact@entreprise.demo",
            "/o/999999972/",
            vec!["Votre espace entreprise", "Atelier Numérique des Fées"],
        ),
    ] {
        let client = app.login(email).await;
        let r = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], landing, "{email}");
        let (status, html) = page(&client, app.url(landing)).await;
        assert_eq!(status, StatusCode::OK, "{email}");
        for text in expect {
            assert!(html.contains(text), "{email}: « {text} » absent");
        }
    }
}

#[tokio::test]
async fn the_maire_sees_no_administration() {
    let app = spawn_app().await;
    let maire = app.login("maire@commune.demo").await;
    let (_, html) = page(&maire, app.url("/o/213500051/")).await;
    assert!(!html.contains("href=\"/admin\"") && !html.contains("/o/213500051/journal"));
    for path in [
        "/admin",
        "/admin/utilisateurs",
        "/admin/taches",
        "/o/213500051/journal",
        "/o/213500051/utilisateurs",
        "/o/213500051/parametres",
    ] {
        let (status, html) = page(&maire, app.url(path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("Accès refusé"), "{path}");
    }
}

#[tokio::test]
async fn a_referent_switches_to_a_commune_he_follows_and_reads_only() {
    let app = spawn_app().await;
    let client = app.login("agent@epci.demo").await;
    let (_, html) = page(&client, app.url("/o/243500634/")).await;
    assert!(html.contains("id=\"org-switch-select\"") && html.contains("value=\"213500051\""));
    let r = client
        .get(app.url("/changer-organisation?o=213500051"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/o/213500051/");
    let (status, html) = page(&client, app.url("/o/213500051/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Arbrissel</h1>"));
    let (status, html) = page(&client, app.url("/o/213500051/utilisateurs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sophie Lebrun") && !html.contains("Modifier les rôles"));
    let (status, _) = page(&client, app.url("/o/213500051/journal")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bad SIREN in the selector is a plain 404.
    let r = client
        .get(app.url("/changer-organisation?o=123"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_member_administrator_manages_roles_and_access_with_confirmation() {
    let app = spawn_app().await;
    let admin = app.login("agent@commune.demo").await;
    let maire_id = {
        let token = app.api_token("agent@commune.demo").await;
        let users: Value = app
            .api(&token)
            .get("/api/v1/o/213500051/users")
            .await
            .json()
            .await
            .unwrap();
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "maire@commune.demo")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let base = format!("/o/213500051/utilisateurs/{maire_id}");
    // Roles that do not exist in a commune are refused.
    let r = app
        .post_form(
            &admin,
            &format!("{base}/roles"),
            &[("roles", "operator_admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.post_form(&admin, &format!("{base}/roles"), &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Choisissez au moins un rôle")
    );
    let r = app
        .post_form(
            &admin,
            &format!("{base}/roles"),
            &[("roles", "elu_signataire"), ("roles", "agent")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&admin, app.url(&base)).await;
    assert!(html.contains("Agent, Élu signataire") && html.contains("Les rôles ont été modifiés"));
    // Removing access goes through a confirmation page.
    let (status, html) = page(&admin, app.url(&format!("{base}/retirer"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Oui, retirer l'accès") && html.contains("Non, annuler"));
    let r = app.post_form(&admin, &format!("{base}/retirer"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = page(&admin, app.url(&base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let maire = app.login("maire@commune.demo").await;
    let (status, _) = page(&maire, app.url("/o/213500051/")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the maire no longer has access"
    );
    // The administrator cannot remove herself, nor drop her own administrator role.
    let (_, me_page) = page(&admin, app.url("/profil")).await;
    assert!(me_page.contains("Sophie Lebrun"));
    let token = app.api_token("agent@commune.demo").await;
    let me: Value = app
        .api(&token)
        .get("/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let my_id = me["id"].as_str().unwrap();
    let r = app
        .post_form(
            &admin,
            &format!("/o/213500051/utilisateurs/{my_id}/retirer"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .post_form(
            &admin,
            &format!("/o/213500051/utilisateurs/{my_id}/roles"),
            &[("roles", "agent")],
        )
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("votre propre rôle d&#39;administrateur")
    );
    // All of it is in the organisation's journal.
    let journal: Value = app
        .api(&token)
        .get("/api/v1/o/213500051/journal")
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
    assert!(
        actions.contains(&"membership.roles_changed") && actions.contains(&"membership.revoked")
    );
}

#[tokio::test]
async fn the_operator_creates_an_account_that_is_invited_by_e_mail() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let r = app
        .post_form(
            &admin,
            "/admin/utilisateurs/nouveau",
            &[
                ("display_name", "Paul Martin"),
                ("email", "paul.martin@janze.fr"),
                ("siren", "213501364"),
                ("roles", "referent_numerique"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "no référent role in a commune"
    );
    let html = r.text().await.unwrap();
    assert!(html.contains("ne peut pas être donné dans cette organisation"));
    let r = app
        .post_form(
            &admin,
            "/admin/utilisateurs/nouveau",
            &[
                ("display_name", "Paul Martin"),
                ("email", "agent@commune.demo"),
                ("siren", "213501364"),
                ("roles", "agent"),
            ],
        )
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Un compte existe déjà avec cette adresse")
    );
    let r = app
        .post_form(
            &admin,
            "/admin/utilisateurs/nouveau",
            &[
                ("display_name", "Paul Martin"),
                ("email", "paul.martin@janze.fr"),
                ("siren", "999999999"),
                ("roles", "agent"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("clé de contrôle"));
    let r = app
        .post_form(
            &admin,
            "/admin/utilisateurs/nouveau",
            &[
                ("display_name", "Paul Martin"),
                ("email", "paul.martin@janze.fr"),
                ("siren", "213501364"),
                ("roles", "agent"),
                ("title", "Secrétaire général"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "paul.martin@janze.fr")
        .unwrap();
    assert!(mail.text.contains("Janzé") && mail.text.contains("7 jours"));
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("jeton="))
        .unwrap()
        .to_owned();
    let path = &link[link.find("/reinitialiser").unwrap()..];
    let token = path.split("jeton=").nth(1).unwrap();
    let paul = browser();
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 6));
    let r = app
        .post_form(
            &paul,
            "/reinitialiser-mot-de-passe",
            &[
                ("jeton", token),
                ("password", "le printemps à Janzé"),
                ("confirmation", "le printemps à Janzé"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "an invitation lasts a week"
    );
    let r = app
        .post_form(
            &paul,
            "/connexion",
            &[
                ("email", "paul.martin@janze.fr"),
                ("password", "le printemps à Janzé"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&paul, app.url("/o/213501364/")).await;
    assert!(html.contains("<h1>Janzé</h1>"));
    // The operator deactivates the account: the session dies at once.
    let (status, _) = page(&admin, app.url("/admin")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "six idle days ended the operator's session"
    );
    let admin = app.login("admin@operateur.demo").await;
    let (_, list) = page(&admin, app.url("/admin/utilisateurs?q=martin")).await;
    let id_start = list.find("/admin/utilisateurs/0").unwrap() + "/admin/utilisateurs/".len();
    let id = &list[id_start..id_start + 36];
    let (status, html) = page(&admin, app.url(&format!("/admin/utilisateurs/{id}/etat"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Désactiver le compte de Paul Martin"));
    let r = app
        .post_form(&admin, &format!("/admin/utilisateurs/{id}/etat"), &[])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the wanted state must be said"
    );
    let r = app
        .post_form(
            &admin,
            &format!("/admin/utilisateurs/{id}/etat"),
            &[("etat", "desactive")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = paul.get(app.url("/o/213501364/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The same form sent twice (a double click, the back button) changes nothing more.
    let r = app
        .post_form(
            &admin,
            &format!("/admin/utilisateurs/{id}/etat"),
            &[("etat", "desactive")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&admin, app.url(&format!("/admin/utilisateurs/{id}"))).await;
    assert!(html.contains("déjà dans cet état") && html.contains("Désactivé"));
    let r = app
        .post_form(
            &browser(),
            "/connexion",
            &[
                ("email", "paul.martin@janze.fr"),
                ("password", "le printemps à Janzé"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a deactivated account cannot sign in"
    );
    // The operator sends a reset link from the account's page once it is active again.
    let r = app
        .post_form(
            &admin,
            &format!("/admin/utilisateurs/{id}/etat"),
            &[("etat", "actif")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            &admin,
            &format!("/admin/utilisateurs/{id}/reinitialisation"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "paul.martin@janze.fr" && m.subject.contains("Réinitialiser"))
        .unwrap();
    assert!(mail.text.contains("Hélène Kerbrat vous envoie un lien"));
}

#[tokio::test]
async fn failed_jobs_are_shown_and_retried_by_the_operator() {
    let app = spawn_app().await;
    let p = &app.platform;
    let mut tx = p.db.begin().await.unwrap();
    let id = jobs::enqueue(
        &mut tx,
        p.clock.now(),
        NewJob::new("module.absent", json!({})).max_attempts(1),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.drain_jobs().await;
    let admin = app.login("admin@operateur.demo").await;
    let (_, dashboard) = page(&admin, app.url("/o/999999998/")).await;
    assert!(dashboard.contains("Urgent :") && dashboard.contains("tâche(s) de fond en échec"));
    let (_, html) = page(&admin, app.url("/admin/taches?statut=dead")).await;
    assert!(html.contains("module.absent") && html.contains("aucun gestionnaire"));
    let r = app
        .post_form(&admin, &format!("/admin/taches/{id}/relancer"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(&admin, &format!("/admin/taches/{id}/relancer"), &[])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "only dead jobs are retried"
    );
    // The API does the same for operator administrators only.
    app.drain_jobs().await;
    let token = app.api_token("admin@operateur.demo").await;
    let dead: Value = app
        .api(&token)
        .get("/api/v1/admin/jobs?status=dead")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead["items"][0]["id"], id.as_str());
    let r = app
        .api(&token)
        .client
        .post(app.url(&format!("/api/v1/admin/jobs/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let other = app.api_token("agent@epci.demo").await;
    problem(
        app.api(&other).get("/api/v1/admin/jobs").await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn demo_e_mails_are_shown_to_operator_administrators_only_in_demo_mode() {
    let app = spawn_app().await;
    let visitor = browser();
    app.post_form(
        &visitor,
        "/mot-de-passe-oublie",
        &[("email", "agent@commune.demo")],
    )
    .await;
    app.drain_jobs().await;
    let admin = app.login("admin@operateur.demo").await;
    let (status, html) = page(&admin, app.url("/admin/courriels")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Réinitialiser votre mot de passe Bouquet")
            && html.contains("agent@commune.demo")
    );
    let id = app.sent_mails()[0].id.clone();
    let (_, mail) = page(&admin, app.url(&format!("/admin/courriels/{id}"))).await;
    assert!(
        mail.contains("<a href=\"http://127.0.0.1:"),
        "the link is clickable"
    );
    let r = admin
        .get(app.url(&format!("/admin/courriels/{id}/eml")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "message/rfc822");
    assert!(r.text().await.unwrap().contains("Subject:"));
    let (status, _) = page(&admin, app.url("/admin/courriels/..%2F..%2Fplatform-key")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let secretary = app.login("agent@commune.demo").await;
    let (status, _) = page(&secretary, app.url("/admin/courriels")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Outside demo mode the page does not exist at all: it would expose reset links.
    let prod = spawn_app_with(Engine::Sqlite, bouquet::modules(), false).await;
    let admin = prod.login("admin@operateur.demo").await;
    let (status, _) = page(&admin, prod.url("/admin/courriels")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, login) = page(&browser(), prod.url("/connexion")).await;
    assert!(!login.contains("Comptes de démonstration"));
}

#[tokio::test]
async fn contacting_ones_referent_sends_an_e_mail_and_is_journaled() {
    let app = spawn_app().await;
    let client = app.login("agent@commune.demo").await;
    let (_, form) = page(&client, app.url("/o/213500051/contacter-referent")).await;
    assert!(form.contains("Marc Guérin"));
    let r = app
        .post_form(
            &client,
            "/o/213500051/contacter-referent",
            &[("sujet", ""), ("message", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Il y a 2 erreurs à corriger") && html.contains("href=\"#sujet\""));
    let r = app
        .post_form(
            &client,
            "/o/213500051/contacter-referent",
            &[
                ("sujet", "Formation actes"),
                ("message", "Bonjour, pouvez-vous m'aider ?"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "agent@epci.demo")
        .unwrap();
    assert_eq!(mail.subject, "[Arbrissel] Formation actes");
    assert!(mail.text.contains("Sophie Lebrun") && mail.text.contains("pouvez-vous m'aider"));
    let company = app.login("contact@entreprise.demo").await;
    let (status, _) = page(&company, app.url("/o/999999972/contacter-referent")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn member_settings_are_validated_and_journaled() {
    let app = spawn_app().await;
    let client = app.login("agent@commune.demo").await;
    let r = app
        .post_form(
            &client,
            "/o/213500051/parametres",
            &[("contact_email", "pas une adresse")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post_form(
            &client,
            "/o/213500051/parametres",
            &[("contact_email", "Mairie@Arbrissel.fr")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&client, app.url("/o/213500051/parametres")).await;
    assert!(html.contains("value=\"mairie@arbrissel.fr\"") && html.contains("Europe/Paris"));
}

/// A stand-in service module: mounted under `/o/{siren}/actes/` like a real one.
/// A service not built yet (the flux comptables), to test the subscription gate alone.
struct StandInHelios;

#[async_trait]
impl Module for StandInHelios {
    fn name(&self) -> &'static str {
        "stand_in_helios"
    }

    fn service(&self) -> Option<Service> {
        Some(Service::Helios)
    }

    fn org_routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new().route(
            "/",
            get(|ctx: OrgCtx| async move {
                ctx.require(Action::UseService(Service::Helios))?;
                Ok::<_, WebError>(format!("Flux comptables de {}", ctx.org.name))
            }),
        )
    }
}

#[tokio::test]
async fn a_service_not_subscribed_answers_403_in_french() {
    let mut modules = bouquet::modules();
    modules.push(Arc::new(StandInHelios));
    let app = spawn_app_with(Engine::Sqlite, modules, true).await;
    let secretary = app.login("agent@commune.demo").await;
    let (status, body) = page(&secretary, app.url("/o/213500051/flux-comptables")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "Flux comptables de Arbrissel");
    // The dashboard now offers the service.
    let (_, html) = page(&secretary, app.url("/o/213500051/")).await;
    assert!(html.contains("href=\"/o/213500051/flux-comptables\""));
    // The operator has not subscribed to the flux comptables; its staff see it is closed.
    let admin = app.login("admin@operateur.demo").await;
    let (status, html) = page(&admin, app.url("/o/999999998/flux-comptables")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("n&#39;est pas abonnée au service « Flux comptables »"),
        "{html}"
    );
    // Read-only relations may look, not act.
    let referent = app.login("agent@epci.demo").await;
    let (status, _) = page(&referent, app.url("/o/213500051/flux-comptables")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Unrelated people do not learn anything.
    let company = app.login("contact@entreprise.demo").await;
    let (status, _) = page(&company, app.url("/o/213500051/flux-comptables")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_headers_metrics_and_error_pages() {
    let app = spawn_app().await;
    let client = browser();
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "status": "ok", "database": "ok", "storage": "ok", "version": bouquet_webkit::VERSION })
    );

    let r = client.get(app.url("/connexion")).send().await.unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h.contains_key("x-request-id"));
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("style=\"") && !html.contains("<style") && !html.contains("onclick"),
        "nothing inline"
    );
    assert!(
        !html.contains("http://cdn") && !html.contains("https://"),
        "nothing from another site"
    );

    let css = client
        .get(app.url("/assets/bouquet.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let (status, html) = page(&client, app.url("/nulle-part")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page introuvable") && html.contains("Retour à l'accueil"));
    let r = client.delete(app.url("/connexion")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsafe methods go through the CSRF check first"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Format non pris en charge")
    );

    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("bouquet_http_requests_total") && metrics.contains("route=\"/connexion\"")
    );
    assert!(
        metrics.contains("bouquet_db_pool_connections")
            && metrics.contains("bouquet_jobs{status=\"dead\"}")
    );

    // The database gone: the health check names it.
    app.platform.db.close().await;
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["database"], "indisponible");
    assert_eq!(body["storage"], "ok");
}

#[tokio::test]
async fn legal_pages_and_profile_tokens() {
    let app = spawn_app().await;
    let client = browser();
    let (status, html) = page(&client, app.url("/accessibilite")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("RGAA") && html.contains("Défenseur des droits"));
    let (status, html) = page(&client, app.url("/mentions-legales")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("bouquet_session") && html.contains("Syndicat mixte Bouquet (démo)"));

    let user = app.login("agent@commune.demo").await;
    let r = app
        .post_form(
            &user,
            "/profil/jetons",
            &[("name", "Mon logiciel"), ("duree", "90")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Copiez-le maintenant"));
    let start = html.find("<code>bq_").unwrap() + "<code>".len();
    let token = &html[start..start + html[start..].find('<').unwrap()];
    assert_eq!(
        app.api(token).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let (_, list) = page(&user, app.url("/profil/jetons")).await;
    assert!(!list.contains(token), "shown once only");
    let id_start = list.find("/profil/jetons/").unwrap() + "/profil/jetons/".len();
    let id = &list[id_start..id_start + 36];
    let (status, confirm) = page(&user, app.url(&format!("/profil/jetons/{id}/revoquer"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Oui, révoquer le jeton"));
    let r = app
        .post_form(&user, &format!("/profil/jetons/{id}/revoquer"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.api(token).get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app
        .post_form(
            &user,
            "/profil/jetons",
            &[("name", "x"), ("duree", "toujours")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// SQL and markup metacharacters in every text field of the platform's forms are plain text:
/// stored as typed (and shown escaped), or refused with a French message.
#[tokio::test]
async fn metacharacters_in_every_form_field_are_plain_text() {
    let app = spawn_app().await;
    let nasty = "O'Brien\"; DROP TABLE users; -- <script>alert(1)</script> % _ \\";
    // Login: an unknown address, nothing else happens.
    let r = app
        .post_form(
            &browser(),
            "/connexion",
            &[("email", nasty), ("password", nasty)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("<script>alert(1)"),
        "escaped when shown again"
    );
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    // Forgotten password: refused at the field.
    let r = app
        .post_form(&browser(), "/mot-de-passe-oublie", &[("email", nasty)])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Contact: stored in the e-mail as typed.
    let sophie = app.login("agent@commune.demo").await;
    let r = app
        .post_form(
            &sophie,
            "/o/213500051/contacter-referent",
            &[("sujet", nasty), ("message", nasty)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.drain_jobs().await;
    let mail = app
        .sent_mails()
        .into_iter()
        .find(|m| m.to == "agent@epci.demo")
        .unwrap();
    assert_eq!(mail.subject, format!("[Arbrissel] {nasty}"));
    // Settings: not an e-mail address.
    let r = app
        .post_form(
            &sophie,
            "/o/213500051/parametres",
            &[("contact_email", nasty)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Token name: stored as typed, shown escaped.
    let r = app
        .post_form(
            &sophie,
            "/profil/jetons",
            &[("name", "Logiciel <b>« O'Brien »</b> %_"), ("duree", "30")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, list) = page(&sophie, app.url("/profil/jetons")).await;
    assert!(
        list.contains("Logiciel &#60;b&#62;« O&#39;Brien »&#60;/b&#62; %_"),
        "{}",
        &list[list.find("<tbody>").unwrap_or(0)..]
    );
    assert!(!list.contains("<b>«"));
    // A new account whose name is full of metacharacters; the users table is intact after.
    let admin = app.login("admin@operateur.demo").await;
    let r = app
        .post_form(
            &admin,
            "/admin/utilisateurs/nouveau",
            &[
                ("display_name", nasty),
                ("email", "obrien@retiers.fr"),
                ("siren", "213502396"),
                ("roles", "agent"),
                ("title", nasty),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, users) = page(&admin, app.url("/admin/utilisateurs?q=obrien")).await;
    assert!(users.contains("O&#39;Brien&#34;; DROP TABLE users;"));
    let (_, all) = page(&admin, app.url("/admin/utilisateurs")).await;
    assert_eq!(
        all.matches("<th scope=\"row\">").count(),
        7,
        "six demo accounts and the new one"
    );
    // Searches with metacharacters.
    for q in [nasty, "%", "' OR 1=1 --", "\"*\""] {
        let r = admin
            .get(app.url("/admin/organisations"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        let r = admin
            .get(app.url("/admin/journal"))
            .query(&[("personne", q), ("organisation", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
    }
}
