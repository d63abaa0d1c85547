//! Signing in and out, throttling, CSRF, password reset: through the real HTTP server.

use bouquet_store::audit::{self, JournalFilter};
use bouquet_store::run;
use jiff::SignedDuration;
use reqwest::StatusCode;

use crate::helpers::{browser, csrf_of, spawn_app};

async fn journal_actions(app: &crate::helpers::TestApp) -> Vec<String> {
    let mut c = app.platform.db.read().await.unwrap();
    audit::list(&mut c, &JournalFilter::default(), None, 200)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn login_sets_a_safe_session_cookie_and_logout_ends_it() {
    let app = spawn_app().await;
    let client = browser();
    let page = client.get(app.url("/connexion")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(csrf_cookie.iter().any(|c| c.starts_with("bouquet_csrf=")
        && c.contains("HttpOnly")
        && c.contains("SameSite=Lax")));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"fr\">")
            && html.contains("Aller au contenu")
            && html.contains("Connexion")
    );

    let r = app
        .post_form(
            &client,
            "/connexion",
            &[
                ("email", "Agent@Commune.demo "),
                ("password", "bouquet-demo"),
                ("suite", "/profil"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/profil",
        "back to where the person was going"
    );
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("bouquet_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure"),
        "{cookie}"
    );
    let profile = client
        .get(app.url("/profil"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(profile.contains("Sophie Lebrun") && profile.contains("Arbrissel"));
    assert!(
        journal_actions(&app)
            .await
            .contains(&"session.login".to_owned())
    );

    // The stored session is a hash, not the cookie.
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("bouquet_session=")
        .to_owned();
    let mut c = app.platform.db.read().await.unwrap();
    let stored: Vec<String> = run!(&mut c, |x| sqlx::query_scalar(
        "SELECT token_hash FROM sessions"
    )
    .fetch_all(x)
    .await)
    .unwrap();
    assert!(!stored.iter().any(|h| h == &value));
    drop(c);

    let r = app.post_form(&client, "/deconnexion", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = client.get(app.url("/profil")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(
        after.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/connexion?suite=")
    );
    // The old cookie, replayed by someone who copied it, is dead too.
    let thief = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = thief
        .get(app.url("/profil"))
        .header("cookie", format!("bouquet_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_password_gets_a_french_message_and_only_a_journal_entry() {
    let app = spawn_app().await;
    let client = browser();
    let before = app.fingerprint().await;
    let r = app
        .post_form(
            &client,
            "/connexion",
            &[
                ("email", "agent@commune.demo"),
                ("password", "mauvais-mot-de-passe"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Adresse électronique ou mot de passe incorrect"));
    assert!(html.contains("<title>Erreur : Connexion"));
    // Unknown accounts get the very same answer.
    let r = app
        .post_form(
            &client,
            "/connexion",
            &[
                ("email", "personne@nulle.part"),
                ("password", "mauvais-mot-de-passe"),
            ],
        )
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Adresse électronique ou mot de passe incorrect")
    );
    // Empty fields are named.
    let r = app
        .post_form(&client, "/connexion", &[("email", ""), ("password", "")])
        .await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Saisissez votre adresse électronique")
            && html.contains("Saisissez votre mot de passe")
    );
    assert!(html.contains("aria-invalid=\"true\""));
    assert_ne!(app.fingerprint().await, before, "failures are journaled");
    let actions = journal_actions(&app).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "session.login_failed")
            .count(),
        2
    );
    assert!(!actions.contains(&"session.login".to_owned()));
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_with_a_french_message() {
    let app = spawn_app().await;
    let client = browser();
    for _ in 0..5 {
        let r = app
            .post_form(
                &client,
                "/connexion",
                &[
                    ("email", "maire@commune.demo"),
                    ("password", "pas-le-bon-mot"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Even the right password is refused while the account is protected.
    let r = app
        .post_form(
            &client,
            "/connexion",
            &[
                ("email", "maire@commune.demo"),
                ("password", "bouquet-demo"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Trop de tentatives de connexion") && html.contains("15 minutes"),
        "{html}"
    );
    // Another account from the same address is not blocked (the per-address limit is higher).
    let r = app
        .post_form(
            &client,
            "/connexion",
            &[
                ("email", "agent@commune.demo"),
                ("password", "bouquet-demo"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // After the window, the maire can sign in again.
    app.clock.advance(SignedDuration::from_mins(16));
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
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let client = app.login("agent@commune.demo").await;
    let before = app.fingerprint().await;
    let cases: Vec<Option<&str>> = vec![None, Some(""), Some("forgé")];
    for token in cases {
        let mut form = vec![("sujet", "Test"), ("message", "Bonjour")];
        if let Some(t) = token {
            form.push(("_csrf", t));
        }
        let r = client
            .post(app.url("/o/213500051/contacter-referent"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Ce formulaire a expiré ou ne provient pas de Bouquet")
        );
    }
    // A page from another site cannot post either: it has no cookie, hence no token.
    let attacker = browser();
    let r = attacker
        .post(app.url("/deconnexion"))
        .form(&[("_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // JSON posted to a page is refused.
    let token = app.csrf(&client).await;
    let r = client
        .post(app.url("/o/213500051/contacter-referent"))
        .header("content-type", "application/json")
        .body(format!("{{\"_csrf\":\"{token}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("application/x-www-form-urlencoded")
    );
    // A body over the form limit is refused before anything is read further.
    let big = "x".repeat(2 * 1024 * 1024);
    let r = client
        .post(app.url("/o/213500051/contacter-referent"))
        .form(&[("_csrf", token.as_str()), ("message", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("trop volumineux"));
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn password_reset_by_e_mail_link_single_use_and_expiring() {
    let app = spawn_app().await;
    let client = browser();
    let r = app
        .post_form(
            &client,
            "/mot-de-passe-oublie",
            &[("email", "maire@commune.demo")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Si un compte existe pour cette adresse"));
    // An unknown address gets the same answer, and no e-mail.
    let r = app
        .post_form(
            &client,
            "/mot-de-passe-oublie",
            &[("email", "inconnu@nulle.part")],
        )
        .await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Si un compte existe pour cette adresse")
    );
    // A malformed one is named at the field.
    let r = app
        .post_form(
            &client,
            "/mot-de-passe-oublie",
            &[("email", "pas-une-adresse")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Saisissez une adresse électronique valide")
    );

    assert_eq!(app.drain_jobs().await, 1, "one e-mail job");
    let mails = app.sent_mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "maire@commune.demo");
    let link = mails[0]
        .text
        .split_whitespace()
        .find(|w| w.contains("/reinitialiser-mot-de-passe?jeton="))
        .unwrap()
        .to_owned();
    let path = &link[link.find("/reinitialiser").unwrap()..];
    let token = path.split("jeton=").nth(1).unwrap();
    assert!(
        std::fs::read_dir(app.data_dir().join("emails"))
            .unwrap()
            .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "eml"))
    );

    let form = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("Nouveau mot de passe"));
    // Too short, then mismatched, then good.
    let r = app
        .post_form(
            &client,
            "/reinitialiser-mot-de-passe",
            &[
                ("jeton", token),
                ("password", "court"),
                ("confirmation", "court"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("au moins 12 caractères"));
    let r = app
        .post_form(
            &client,
            "/reinitialiser-mot-de-passe",
            &[
                ("jeton", token),
                ("password", "une phrase de passe"),
                ("confirmation", "une autre phrase"),
            ],
        )
        .await;
    assert!(r.text().await.unwrap().contains("ne sont pas identiques"));
    let r = app
        .post_form(
            &client,
            "/reinitialiser-mot-de-passe",
            &[
                ("jeton", token),
                ("password", "une phrase de passe"),
                ("confirmation", "une phrase de passe"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            &browser(),
            "/connexion",
            &[
                ("email", "maire@commune.demo"),
                ("password", "une phrase de passe"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the new password works");
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
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old one no longer does"
    );
    // The link works once.
    let again = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.text().await.unwrap().contains("déjà servi"));
    // A new link expires after an hour.
    app.post_form(
        &client,
        "/mot-de-passe-oublie",
        &[("email", "maire@commune.demo")],
    )
    .await;
    app.drain_jobs().await;
    let newest = &app.sent_mails()[0];
    let link = newest
        .text
        .split_whitespace()
        .find(|w| w.contains("jeton="))
        .unwrap()
        .to_owned();
    app.clock.advance(SignedDuration::from_mins(61));
    let late = client
        .get(app.url(&link[link.find("/reinitialiser").unwrap()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::GONE);
    assert!(late.text().await.unwrap().contains("a expiré"));
    let forged = client
        .get(app.url("/reinitialiser-mot-de-passe?jeton=forge"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::GONE);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("lien de réinitialisation n&#39;est pas valide")
    );
}

#[tokio::test]
async fn changing_ones_password_closes_the_other_sessions() {
    let app = spawn_app().await;
    let here = app.login("agent@epci.demo").await;
    let elsewhere = app.login("agent@epci.demo").await;
    let r = app
        .post_form(
            &here,
            "/profil/mot-de-passe",
            &[
                ("current", "mauvais"),
                ("password", "nouvelle phrase de passe"),
                ("confirmation", "nouvelle phrase de passe"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Le mot de passe actuel est incorrect")
    );
    let r = app
        .post_form(
            &here,
            "/profil/mot-de-passe",
            &[
                ("current", "bouquet-demo"),
                ("password", "nouvelle phrase de passe"),
                ("confirmation", "nouvelle phrase de passe"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = here.get(app.url("/profil")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "this session stays");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Vos autres sessions ont été fermées")
    );
    let other = elsewhere.get(app.url("/profil")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::SEE_OTHER, "the other one ended");
    let html = here
        .get(app.url("/profil"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("Vos autres sessions ont été fermées"),
        "a notice is shown once"
    );
    assert!(!csrf_of(&html).is_empty());
}

/// Every POST route refuses a multipart body without the CSRF token in its action URL,
/// whatever the handler would do with the body; nothing changes.
#[tokio::test]
async fn multipart_posts_without_the_token_are_refused_before_any_handler() {
    let app = spawn_app().await;
    let sophie = app.login("agent@commune.demo").await;
    let admin = app.login("admin@operateur.demo").await;
    let token = app.api_token("agent@commune.demo").await;
    let users: serde_json::Value = app
        .api(&token)
        .get("/api/v1/o/213500051/users")
        .await
        .json()
        .await
        .unwrap();
    let maire = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "maire@commune.demo")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.fingerprint().await;
    let routes: Vec<(&reqwest::Client, String)> = vec![
        (&sophie, "/deconnexion".into()),
        (&sophie, format!("/o/213500051/utilisateurs/{maire}/roles")),
        (
            &sophie,
            format!("/o/213500051/utilisateurs/{maire}/retirer"),
        ),
        (&sophie, "/o/213500051/contacter-referent".into()),
        (&sophie, "/o/213500051/parametres".into()),
        (&sophie, "/profil/mot-de-passe".into()),
        (&sophie, "/profil/jetons".into()),
        (&admin, "/admin/utilisateurs/nouveau".into()),
        (&admin, "/admin/journal/verifier".into()),
        (&admin, format!("/admin/utilisateurs/{maire}/etat")),
        (
            &admin,
            format!("/admin/utilisateurs/{maire}/reinitialisation"),
        ),
    ];
    for (client, path) in routes {
        let body_token = app.csrf(client).await;
        // The token in the body does not count for an upload; a forged one in the URL neither.
        for url in [app.url(&path), app.url(&format!("{path}?_csrf=forge"))] {
            let form = reqwest::multipart::Form::new()
                .text("_csrf", body_token.clone())
                .text("roles", "member_admin")
                .text("email", "pirate@exemple.fr")
                .text("display_name", "Pirate")
                .text("siren", "999999998")
                .text("etat", "desactive")
                .text("sujet", "x")
                .text("message", "y");
            let r = client.post(url).multipart(form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        }
    }
    assert_eq!(app.fingerprint().await, before);
    // With the token in the URL, the upload passes the CSRF check and reaches the handler,
    // which here wants an ordinary form.
    let t = app.csrf(&sophie).await;
    let r = sophie
        .post(app.url(&format!("/o/213500051/contacter-referent?_csrf={t}")))
        .multipart(reqwest::multipart::Form::new().text("sujet", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Attempts sent all at once are counted before the password check: no more than the limit
/// get through.
#[tokio::test]
async fn parallel_login_attempts_cannot_slip_under_the_limit() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = app.url("/api/v1/auth/token");
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({ "email": "maire@commune.demo", "password": "pas-le-bon-mot" }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut checked = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert!(checked <= 5, "{checked} passwords checked");
    assert_eq!(checked + refused, 20);
}
