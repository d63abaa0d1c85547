//! Every organisation route, tried by a person of another organisation: 404, nothing changed.

use bouquet_kernel::{Email, Role, RoleSet, Siren};
use bouquet_store::audit::AuditActor;
use bouquet_store::{accounts, orgs};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const A: &str = "213500051"; // Arbrissel
const B: &str = "999999972"; // the demo company

async fn ids(app: &crate::helpers::TestApp) -> (String, String) {
    let token = app.api_token("agent@commune.demo").await;
    let users: Value = app
        .api(&token)
        .get(&format!("/api/v1/o/{A}/users"))
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
    let created: Value = app
        .api(&token)
        .client
        .post(app.url("/api/v1/me/tokens"))
        .json(&json!({ "name": "Logiciel de la mairie" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (maire, created["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn pages_of_another_organisation_answer_404_and_change_nothing() {
    let app = spawn_app().await;
    let (maire, token_of_a) = ids(&app).await;
    let outsider = app.login("contact@entreprise.demo").await;
    let attempts = vec![
        Attempt::get(Verb::Read, format!("/o/{A}/")),
        Attempt::get(Verb::Read, format!("/o/{A}")),
        Attempt::get(Verb::Read, format!("/o/{A}/utilisateurs/{maire}")),
        Attempt::get(Verb::Read, format!("/o/{A}/parametres")),
        Attempt::get(Verb::Read, format!("/o/{A}/contacter-referent")),
        Attempt::get(Verb::Read, format!("/o/{B}/utilisateurs/{maire}")),
        Attempt::get(Verb::Read, format!("/profil/jetons/{token_of_a}/revoquer")),
        Attempt::get(Verb::List, format!("/o/{A}/utilisateurs")),
        Attempt::get(Verb::List, format!("/o/{A}/journal")),
        Attempt::post(
            Verb::Change,
            format!("/o/{A}/utilisateurs/{maire}/roles"),
            &[("roles", "agent")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{B}/utilisateurs/{maire}/roles"),
            &[("roles", "member_admin")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{A}/parametres"),
            &[("contact_email", "pirate@exemple.fr")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{A}/contacter-referent"),
            &[("sujet", "x"), ("message", "y")],
        ),
        Attempt::get(Verb::Delete, format!("/o/{A}/utilisateurs/{maire}/retirer")),
        Attempt::post(
            Verb::Delete,
            format!("/o/{A}/utilisateurs/{maire}/retirer"),
            &[],
        ),
        Attempt::post(
            Verb::Delete,
            format!("/o/{B}/utilisateurs/{maire}/retirer"),
            &[],
        ),
        Attempt::post(
            Verb::Delete,
            format!("/profil/jetons/{token_of_a}/revoquer"),
            &[],
        ),
    ];
    assert_refused(&app, Caller::Browser(&outsider), &attempts).await;
}

#[tokio::test]
async fn api_of_another_organisation_answers_404_and_changes_nothing() {
    let app = spawn_app().await;
    let (maire, token_of_a) = ids(&app).await;
    let outsider = app.api_token("contact@entreprise.demo").await;
    let attempts = vec![
        Attempt::api(Verb::Read, Method::GET, format!("/api/v1/o/{A}"), None),
        Attempt::api(
            Verb::Read,
            Method::GET,
            format!("/api/v1/o/{A}/users/{maire}"),
            None,
        ),
        Attempt::api(
            Verb::Read,
            Method::GET,
            format!("/api/v1/o/{A}/usage"),
            None,
        ),
        Attempt::api(
            Verb::Read,
            Method::GET,
            format!("/api/v1/o/{B}/users/{maire}"),
            None,
        ),
        Attempt::api(
            Verb::List,
            Method::GET,
            format!("/api/v1/o/{A}/users"),
            None,
        ),
        Attempt::api(
            Verb::List,
            Method::GET,
            format!("/api/v1/o/{A}/journal"),
            None,
        ),
        Attempt::api(
            Verb::Change,
            Method::PUT,
            format!("/api/v1/o/{A}/users/{maire}/roles"),
            Some(json!({ "roles": ["agent"] })),
        ),
        Attempt::api(
            Verb::Change,
            Method::PUT,
            format!("/api/v1/o/{B}/users/{maire}/roles"),
            Some(json!({ "roles": ["member_admin"] })),
        ),
        Attempt::api(
            Verb::Delete,
            Method::DELETE,
            format!("/api/v1/o/{A}/users/{maire}"),
            None,
        ),
        Attempt::api(
            Verb::Delete,
            Method::DELETE,
            format!("/api/v1/o/{B}/users/{maire}"),
            None,
        ),
        Attempt::api(
            Verb::Delete,
            Method::DELETE,
            format!("/api/v1/me/tokens/{token_of_a}"),
            None,
        ),
        Attempt::api(Verb::Read, Method::GET, "/api/v1/o/123456782", None),
        Attempt::api(
            Verb::Read,
            Method::GET,
            "/api/v1/o/pas-un-siren/users",
            None,
        ),
    ];
    assert_refused(&app, Caller::Token(&outsider), &attempts).await;
}

#[tokio::test]
async fn an_epci_reads_its_communes_usage_and_nothing_else_of_theirs() {
    let app = spawn_app().await;
    let p = &app.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await.unwrap();
    let epci = orgs::get_by_siren(&mut tx, &Siren::parse("243500634").unwrap())
        .await
        .unwrap()
        .unwrap();
    let hash = accounts::hash_password("bouquet-demo").unwrap();
    let user = accounts::create_user(
        &mut tx,
        now,
        &Email::parse("comptable@epci.demo").unwrap(),
        "Anne Comptable",
        Some(&hash),
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    accounts::grant(
        &mut tx,
        now,
        user,
        epci.id().unwrap(),
        RoleSet::empty().with(Role::Agent),
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let token = app.api_token("comptable@epci.demo").await;
    let api = app.api(&token);
    let usage = api.get(&format!("/api/v1/o/{A}/usage")).await;
    assert_eq!(usage.status(), StatusCode::OK);
    let months: Value = usage.json().await.unwrap();
    assert!(
        !months.as_array().unwrap().is_empty(),
        "the demo has sign-ins"
    );
    assert_eq!(
        api.get(&format!("/api/v1/o/{A}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&format!("/api/v1/o/{A}/users")).await.status(),
        StatusCode::NOT_FOUND
    );
    // A commune of another EPCI: nothing.
    assert_eq!(
        api.get("/api/v1/o/999999972/usage").await.status(),
        StatusCode::NOT_FOUND
    );
    // In the browser, the EPCI's dashboard lists its communes without links to them.
    let browser = app.login("comptable@epci.demo").await;
    let html = browser
        .get(app.url("/o/243500634/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<th scope=\"row\">Arbrissel</th>"),
        "no link for a commune this person may not open"
    );
    let r = browser
        .get(app.url(&format!("/o/{A}/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn within_an_organisation_roles_decide_with_403_in_french() {
    let app = spawn_app().await;
    let (maire, _) = ids(&app).await;
    let maire_token = app.api_token("maire@commune.demo").await;
    let api = app.api(&maire_token);
    let r = api.get(&format!("/api/v1/o/{A}/journal")).await;
    let p = crate::helpers::problem(r, StatusCode::FORBIDDEN).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("réservé aux administrateurs")
    );
    let r = api
        .client
        .put(app.url(&format!("/api/v1/o/{A}/users/{maire}/roles")))
        .json(&json!({ "roles": ["member_admin"] }))
        .send()
        .await
        .unwrap();
    crate::helpers::problem(r, StatusCode::FORBIDDEN).await;
    // The référent reads users but cannot change them.
    let referent = app.api_token("agent@epci.demo").await;
    let r = app
        .api(&referent)
        .get(&format!("/api/v1/o/{A}/users"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .api(&referent)
        .client
        .delete(app.url(&format!("/api/v1/o/{A}/users/{maire}")))
        .send()
        .await
        .unwrap();
    crate::helpers::problem(r, StatusCode::FORBIDDEN).await;
}

/// A member administrator of the operator's own organisation manages its people, but only a
/// platform administrator gives (or takes) an operator role, himself included.
#[tokio::test]
async fn operator_roles_cannot_be_self_granted() {
    let app = spawn_app().await;
    let p = &app.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await.unwrap();
    let operator = orgs::get_by_siren(&mut tx, &Siren::parse("999999998").unwrap())
        .await
        .unwrap()
        .unwrap();
    let hash = accounts::hash_password("bouquet-demo").unwrap();
    let user = accounts::create_user(
        &mut tx,
        now,
        &Email::parse("equipe@operateur.demo").unwrap(),
        "Paul Équipe",
        Some(&hash),
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    let roles = RoleSet::empty()
        .with(Role::MemberAdmin)
        .with(Role::OperatorStaff);
    accounts::grant(
        &mut tx,
        now,
        user,
        operator.id().unwrap(),
        roles,
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let token = app.api_token("equipe@operateur.demo").await;
    let api = app.api(&token);
    assert_eq!(
        api.get("/api/v1/admin/jobs").await.status(),
        StatusCode::FORBIDDEN
    );
    let browser = app.login("equipe@operateur.demo").await;
    let before = app.fingerprint().await;
    let r = api
        .client
        .put(app.url(&format!("/api/v1/o/999999998/users/{user}/roles")))
        .json(&json!({ "roles": ["member_admin", "operator_staff", "operator_admin"] }))
        .send()
        .await
        .unwrap();
    let problem = crate::helpers::problem(r, StatusCode::FORBIDDEN).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("administrateur de la plateforme")
    );
    // Nor through the page.
    let r = app
        .post_form(
            &browser,
            &format!("/o/999999998/utilisateurs/{user}/roles"),
            &[("roles", "member_admin"), ("roles", "operator_admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(
        api.get("/api/v1/admin/jobs").await.status(),
        StatusCode::FORBIDDEN
    );
    // He still manages ordinary roles of his organisation.
    let r = api
        .client
        .put(app.url(&format!("/api/v1/o/999999998/users/{user}/roles")))
        .json(&json!({ "roles": ["member_admin", "operator_staff", "agent"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A référent who loses the role loses the communes he followed.
#[tokio::test]
async fn a_demoted_referent_no_longer_reads_the_communes() {
    let app = spawn_app().await;
    let token = app.api_token("agent@epci.demo").await;
    let api = app.api(&token);
    assert_eq!(
        api.get(&format!("/api/v1/o/{A}/users")).await.status(),
        StatusCode::OK
    );
    let me: Value = api.get("/api/v1/me").await.json().await.unwrap();
    let id = me["id"].as_str().unwrap();
    let r = api
        .client
        .put(app.url(&format!("/api/v1/o/243500634/users/{id}/roles")))
        .json(&json!({ "roles": ["agent", "member_admin"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        api.get(&format!("/api/v1/o/{A}/users")).await.status(),
        StatusCode::NOT_FOUND
    );
    let me: Value = api.get("/api/v1/me").await.json().await.unwrap();
    assert!(me["followed"].as_array().unwrap().is_empty());
}

/// The pages of a commune are closed to an agent of its EPCI who is not its référent.
#[tokio::test]
async fn pages_of_a_commune_are_closed_to_its_epcis_other_agents() {
    let app = spawn_app().await;
    let (maire, token_of_a) = ids(&app).await;
    let p = &app.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await.unwrap();
    let epci = orgs::get_by_siren(&mut tx, &Siren::parse("243500634").unwrap())
        .await
        .unwrap()
        .unwrap();
    let hash = accounts::hash_password("bouquet-demo").unwrap();
    let user = accounts::create_user(
        &mut tx,
        now,
        &Email::parse("finances@epci.demo").unwrap(),
        "Lise Finances",
        Some(&hash),
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    let roles = RoleSet::empty().with(Role::Agent).with(Role::MemberAdmin);
    accounts::grant(
        &mut tx,
        now,
        user,
        epci.id().unwrap(),
        roles,
        None,
        &AuditActor::system(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let outsider = app.login("finances@epci.demo").await;
    let attempts = vec![
        Attempt::get(Verb::Read, format!("/o/{A}/")),
        Attempt::get(Verb::Read, format!("/o/{A}/utilisateurs/{maire}")),
        Attempt::get(Verb::Read, format!("/o/{A}/parametres")),
        Attempt::get(Verb::Read, format!("/profil/jetons/{token_of_a}/revoquer")),
        Attempt::get(Verb::List, format!("/o/{A}/utilisateurs")),
        Attempt::get(Verb::List, format!("/o/{A}/journal")),
        Attempt::post(
            Verb::Change,
            format!("/o/{A}/utilisateurs/{maire}/roles"),
            &[("roles", "agent")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/243500634/utilisateurs/{maire}/roles"),
            &[("roles", "agent")],
        ),
        Attempt::post(
            Verb::Change,
            format!("/o/{A}/parametres"),
            &[("contact_email", "x@y.fr")],
        ),
        Attempt::post(
            Verb::Delete,
            format!("/o/{A}/utilisateurs/{maire}/retirer"),
            &[],
        ),
        Attempt::post(
            Verb::Delete,
            format!("/o/243500634/utilisateurs/{maire}/retirer"),
            &[],
        ),
    ];
    assert_refused(&app, Caller::Browser(&outsider), &attempts).await;
}
