//! The JSON API: tokens, problems in French, bad input, OpenAPI.

use bouquet_kernel::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{browser, problem, spawn_app};

#[tokio::test]
async fn a_token_opens_me_with_organisations_and_roles() {
    let app = spawn_app().await;
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "agent@epci.demo", "password": "bouquet-demo" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("bq_"));
    let expires: jiff::Timestamp = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        app.clock
            .now()
            .checked_add(jiff::SignedDuration::from_hours(12))
            .unwrap()
    );
    let me: Value = app.api(token).get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["email"], "agent@epci.demo");
    assert_eq!(me["display_name"], "Marc Guérin");
    let orgs = me["organisations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["siren"], "243500634");
    assert_eq!(orgs[0]["kind"], "cc");
    assert_eq!(
        orgs[0]["roles"],
        json!(["member_admin", "agent", "referent_numerique"])
    );
    // The three communes and the CCAS of Janzé: the référent follows all of the EPCI.
    let followed: Vec<&str> = me["followed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(followed.len(), 4, "{followed:?}");
    assert!(followed.contains(&"CCAS de Janzé (démo)"), "{followed:?}");
    // Tokens expire.
    app.clock.advance(jiff::SignedDuration::from_hours(13));
    let r = app.api(token).get("/api/v1/me").await;
    problem(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn authentication_failures_are_french_problems() {
    let app = spawn_app().await;
    let client = browser();
    let r = client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": "agent@epci.demo", "password": "non" }))
        .send()
        .await
        .unwrap();
    let p = problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        p["detail"],
        "Adresse électronique ou mot de passe incorrect."
    );
    assert_eq!(p["type"], "urn:bouquet:probleme:identifiants-invalides");

    let r = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"bouquet\"");
    let p = problem(r, StatusCode::UNAUTHORIZED).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );

    for forged in ["bq_forge", "n'importe quoi", &"bq_".repeat(50)] {
        let r = client
            .get(app.url("/api/v1/me"))
            .bearer_auth(forged)
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::UNAUTHORIZED).await;
    }
    // A session cookie does not open the API.
    let browser_session = app.login("agent@epci.demo").await;
    let r = browser_session
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn bad_bodies_get_precise_french_errors_and_change_nothing() {
    let app = spawn_app().await;
    let token = app.api_token("agent@commune.demo").await;
    let api = app.api(&token);
    let before = app.fingerprint().await;
    let post = |body: &'static str, content_type: &'static str| {
        api.client
            .post(api.url("/api/v1/me/tokens"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let p = problem(
        post("{\"name\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("pas un JSON valide"));
    let p = problem(
        post("{\"name\": \"x\", \"pirate\": true}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "pirate");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Champ inconnu")
    );
    let p = problem(
        post("{}", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "name");
    let p = problem(
        post("{\"name\": 42}", "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("chaîne de caractères")
    );
    let p = problem(
        post("name=x", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json")
    );
    let p = problem(
        post("{\"name\": \"   \"}", "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "name");
    let p = problem(
        post(
            "{\"name\": \"x\", \"expires_in_days\": 0}",
            "application/json",
        )
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "expires_in_days");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = api
        .client
        .post(api.url("/api/v1/me/tokens"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.fingerprint().await, before, "nothing changed");
}

#[tokio::test]
async fn sql_metacharacters_are_plain_text() {
    let app = spawn_app().await;
    let token = app.api_token("agent@commune.demo").await;
    let api = app.api(&token);
    let name = "Robert'); DROP TABLE users;-- \" % _ \\";
    let r = api
        .client
        .post(api.url("/api/v1/me/tokens"))
        .json(&json!({ "name": name, "expires_in_days": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], name);
    let list: Value = api.get("/api/v1/me/tokens").await.json().await.unwrap();
    assert_eq!(list[0]["name"], name);
    // Searches and filters with metacharacters find nothing and break nothing.
    // A query without any word is ignored; words match nothing here.
    for (q, expected) in [
        ("%", 2),
        ("_", 2),
        ("' OR '1'='1", 0),
        ("\"; --", 2),
        ("*", 2),
        ("a:* | b", 0),
        ("sophie", 1),
    ] {
        let r = api
            .client
            .get(api.url("/api/v1/o/213500051/users"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
        let page: Value = r.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), expected, "{q}");
    }
    let r = api
        .client
        .get(api.url("/api/v1/o/213500051/journal"))
        .query(&[("action", "%")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let users: Value = api
        .get("/api/v1/o/213500051/users")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        2,
        "the users table is intact"
    );
}

#[tokio::test]
async fn personal_tokens_are_created_used_and_revoked() {
    let app = spawn_app().await;
    let session = app.api_token("agent@commune.demo").await;
    let api = app.api(&session);
    let r = api
        .client
        .post(api.url("/api/v1/me/tokens"))
        .json(&json!({ "name": "Logiciel de délibérations" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let personal = created["token"].as_str().unwrap().to_owned();
    assert!(created["expires_at"].is_null());
    let me = app.api(&personal).get("/api/v1/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    // Someone else cannot revoke it: for them it does not exist.
    let other = app.api_token("maire@commune.demo").await;
    let id = created["id"].as_str().unwrap();
    let r = app
        .api(&other)
        .client
        .delete(app.url(&format!("/api/v1/me/tokens/{id}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND).await;
    let r = api
        .client
        .delete(api.url(&format!("/api/v1/me/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        app.api(&personal).get("/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let r = api
        .client
        .delete(api.url(&format!("/api/v1/me/tokens/{id}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn unknown_api_paths_and_methods_answer_problems() {
    let app = spawn_app().await;
    let token = app.api_token("agent@commune.demo").await;
    let api = app.api(&token);
    let p = problem(api.get("/api/v1/nulle-part").await, StatusCode::NOT_FOUND).await;
    assert_eq!(p["instance"], "/api/v1/nulle-part");
    assert!(p["request_id"].as_str().is_some());
    let r = api
        .client
        .request(Method::PATCH, api.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = api
        .client
        .get(api.url("/api/v1/o/213500051/users"))
        .query(&[("cursor", "%%%")])
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = api
        .client
        .get(api.url("/api/v1/o/213500051/usage"))
        .query(&[("from", "2026-13")])
        .send()
        .await
        .unwrap();
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["field"], "from");
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let app = spawn_app().await;
    let spec: Value = browser()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/token", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/me/tokens", "get"),
        ("/api/v1/me/tokens", "post"),
        ("/api/v1/me/tokens/{id}", "delete"),
        ("/api/v1/o/{siren}", "get"),
        ("/api/v1/o/{siren}/users", "get"),
        ("/api/v1/o/{siren}/users/{id}", "get"),
        ("/api/v1/o/{siren}/users/{id}", "delete"),
        ("/api/v1/o/{siren}/users/{id}/roles", "put"),
        ("/api/v1/o/{siren}/journal", "get"),
        ("/api/v1/o/{siren}/usage", "get"),
        ("/api/v1/admin/jobs", "get"),
        ("/api/v1/admin/jobs/{id}/retry", "post"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    // API routes are declared with their annotations (utoipa-axum `routes!`), so the router
    // and the document cannot drift; this pins the whole set so that a new route is noticed.
    let documented: Vec<&str> = paths
        .keys()
        .map(String::as_str)
        .filter(|p| p.starts_with("/api/"))
        .collect();
    assert_eq!(
        documented,
        vec![
            "/api/v1/admin/jobs",
            "/api/v1/admin/jobs/{id}/retry",
            "/api/v1/auth/token",
            "/api/v1/me",
            "/api/v1/me/tokens",
            "/api/v1/me/tokens/{id}",
            "/api/v1/o/{siren}",
            "/api/v1/o/{siren}/actes",
            "/api/v1/o/{siren}/actes/classification",
            "/api/v1/o/{siren}/actes/classification/demande",
            "/api/v1/o/{siren}/actes/messages",
            "/api/v1/o/{siren}/actes/{id}",
            "/api/v1/o/{siren}/actes/{id}/accuse-reception",
            "/api/v1/o/{siren}/actes/{id}/annulation",
            "/api/v1/o/{siren}/actes/{id}/bordereau",
            "/api/v1/o/{siren}/actes/{id}/messages",
            "/api/v1/o/{siren}/actes/{id}/messages/{message}",
            "/api/v1/o/{siren}/actes/{id}/messages/{message}/fichiers/{position}",
            "/api/v1/o/{siren}/actes/{id}/messages/{message}/reponse",
            "/api/v1/o/{siren}/actes/{id}/pieces/{piece}",
            "/api/v1/o/{siren}/actes/{id}/suivi",
            "/api/v1/o/{siren}/actes/{id}/tamponne",
            "/api/v1/o/{siren}/actes/{id}/transmission",
            "/api/v1/o/{siren}/invitations",
            "/api/v1/o/{siren}/invitations/{id}",
            "/api/v1/o/{siren}/invitations/{id}/resend",
            "/api/v1/o/{siren}/journal",
            "/api/v1/o/{siren}/parapheur/circuits",
            "/api/v1/o/{siren}/parapheur/dossiers",
            "/api/v1/o/{siren}/parapheur/dossiers/{id}",
            "/api/v1/o/{siren}/subscriptions",
            "/api/v1/o/{siren}/usage",
            "/api/v1/o/{siren}/users",
            "/api/v1/o/{siren}/users/{id}",
            "/api/v1/o/{siren}/users/{id}/roles",
            "/api/v1/organisations",
            "/api/v1/organisations/{siren}",
        ]
    );
    // Every operation says something in French and declares its errors.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path}: no summary"
            );
            assert!(
                op["responses"].as_object().unwrap().len() >= 2 || path == "/api/v1/me",
                "{method} {path}: no error responses"
            );
        }
    }
}
