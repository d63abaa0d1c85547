//! The parapheur's reminders and daily digest: the demo délibération that waits for the
//! maire is reminded after three days, once a day at most, then every three days; a
//! rejected or finished dossier never; the digest the maire asks for through its page lists
//! what waits for him, and nobody gets an empty one; the page is refused to other
//! organisations.

use bouquet_kernel::UserId;
use bouquet_parapheur::flow::{self, InFile, Person, Submission};
use bouquet_parapheur::model::{Actor, StepDef, StepKind, StepMode};
use bouquet_parapheur::reminders;
use bouquet_store::jobs::{self, NewJob};
use bouquet_store::mail::SentMail;
use bouquet_store::orgs;
use jiff::SignedDuration;
use reqwest::{Client, StatusCode};

use crate::helpers::{TestApp, body, csrf_of, engines, spawn_app, spawn_app_on, text};
use crate::http_parapheur::dossier_id;
use crate::tenancy::{Attempt, Caller, Verb, assert_refused};

const ARBRISSEL: &str = "213500051";
const DEMO_TITLE: &str = "Délibération 2026-041 : tarifs de la restauration scolaire";
const MAIRE: &str = "maire@commune.demo";

fn digest_path() -> String {
    format!("/o/{ARBRISSEL}/parapheur/recapitulatif")
}

/// Enqueues the daily job now and runs it with the e-mails it queues.
async fn run_daily_job(app: &TestApp) {
    let now = app.platform.clock.now();
    app.platform
        .db
        .atomically(async |tx| {
            jobs::enqueue(tx, now, NewJob::new(reminders::KIND, serde_json::json!({}))).await
        })
        .await
        .unwrap();
    app.drain_jobs().await;
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// The reminders written so far about the dossier titled `title`.
fn reminders_about(app: &TestApp, title: &str) -> Vec<SentMail> {
    app.sent_mails()
        .into_iter()
        .filter(|m| m.subject.starts_with("Rappel : ") && m.subject.contains(title))
        .collect()
}

fn digests_to(app: &TestApp, email: &str) -> Vec<SentMail> {
    app.sent_mails()
        .into_iter()
        .filter(|m| m.to.contains(email) && m.subject.starts_with("Récapitulatif du parapheur"))
        .collect()
}

async fn user_id(app: &TestApp, email: &str) -> UserId {
    let mut conn = app.platform.db.read().await.unwrap();
    bouquet_store::run!(&mut conn, |c| sqlx::query_scalar::<_, String>(
        "SELECT id FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_one(c)
    .await)
    .unwrap()
    .parse()
    .unwrap()
}

/// Sends, as the secretary, a dossier whose single step is the maire's visa.
async fn send_for_the_maires_visa(app: &TestApp, title: &str) -> String {
    let org = {
        let mut conn = app.platform.db.read().await.unwrap();
        orgs::get_by_siren(&mut conn, &bouquet_kernel::Siren::parse(ARBRISSEL).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    let secretary = user_id(app, "agent@commune.demo").await;
    let maire = user_id(app, MAIRE).await;
    let pdf = bouquet_parapheur::demo::deliberation_pdf(
        "Arbrissel",
        title,
        jiff::civil::Date::constant(2026, 11, 23),
    )
    .unwrap();
    flow::submit(
        &app.platform,
        &org,
        Person {
            id: secretary,
            name: "Sophie Lebrun",
        },
        Submission {
            title: title.into(),
            doc_type: "deliberation".into(),
            subtype: None,
            circuit_name: "Visa du maire".into(),
            steps: vec![StepDef {
                kind: StepKind::Visa,
                mode: StepMode::Any,
                reading_required: false,
                actors: vec![Actor::Person(maire.to_string())],
                org_siren: None,
            }],
            document: InFile {
                name: "deliberation.pdf".into(),
                bytes: pdf,
            },
            annexes: Vec::new(),
            source: None,
        },
    )
    .await
    .unwrap()
}

/// Posts an action form of a dossier page, with its CSRF token and version.
async fn act(
    app: &TestApp,
    client: &Client,
    id: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let path = format!("/o/{ARBRISSEL}/parapheur/dossiers/{id}");
    let (_, html) = text(client, app.url(&path)).await;
    let marker = "name=\"version\" value=\"";
    let version = html
        .find(marker)
        .and_then(|i| html[i + marker.len()..].split('"').next())
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

#[tokio::test]
async fn the_waiting_deliberation_is_reminded_after_three_days_then_every_three_days() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        // The day it arrived and the next: nothing.
        run_daily_job(&app).await;
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        // An annotation of the maire does not move the dossier: it does not postpone.
        let maire = app.login(MAIRE).await;
        let id = dossier_id(&app, DEMO_TITLE).await;
        let r = act(
            &app,
            &maire,
            &id,
            "annoter",
            &[("annotation", "À voir lundi."), ("visibilite", "privee")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        assert!(
            reminders_about(&app, DEMO_TITLE).is_empty(),
            "{engine:?}: no reminder before three days"
        );

        // Three days: the maire is reminded, with the link to the dossier.
        app.clock.advance(days(2));
        run_daily_job(&app).await;
        let sent = reminders_about(&app, DEMO_TITLE);
        assert_eq!(sent.len(), 1, "{engine:?}: {sent:?}");
        assert!(sent[0].to.contains(MAIRE), "{engine:?}: {sent:?}");
        assert_eq!(
            sent[0].subject,
            format!("Rappel : « {DEMO_TITLE} » attend votre signature depuis 3 jours")
        );
        assert!(
            sent[0]
                .text
                .contains(&format!("/o/{ARBRISSEL}/parapheur/dossiers/{id}")),
            "{}",
            sent[0].text
        );

        // Not twice the same day, not the next two days.
        run_daily_job(&app).await;
        assert_eq!(reminders_about(&app, DEMO_TITLE).len(), 1, "{engine:?}");
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        assert_eq!(reminders_about(&app, DEMO_TITLE).len(), 1, "{engine:?}");

        // Three more days: again.
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        let sent = reminders_about(&app, DEMO_TITLE);
        assert_eq!(sent.len(), 2, "{engine:?}: {sent:?}");
        assert!(
            sent.iter().any(|m| m.subject.ends_with("depuis 6 jours")),
            "{sent:?}"
        );
    }
}

#[tokio::test]
async fn a_rejected_or_finished_dossier_is_never_reminded() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let maire = app.login(MAIRE).await;
        let finished = "Délibération 2026-061 : visée";
        let waiting = "Délibération 2026-062 : en attente";
        let finished_id = send_for_the_maires_visa(&app, finished).await;
        send_for_the_maires_visa(&app, waiting).await;

        // The maire rejects the demo délibération and visas the first new one.
        let demo = dossier_id(&app, DEMO_TITLE).await;
        let r = act(
            &app,
            &maire,
            &demo,
            "rejeter",
            &[("motif", "Tarifs à revoir.")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        let r = act(&app, &maire, &finished_id, "viser", &[("commentaire", "")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");

        for _ in 0..7 {
            app.clock.advance(days(1));
            run_daily_job(&app).await;
        }
        assert!(
            reminders_about(&app, DEMO_TITLE).is_empty(),
            "{engine:?}: rejected"
        );
        assert!(
            reminders_about(&app, finished).is_empty(),
            "{engine:?}: finished"
        );
        // The one still waiting was reminded on day 3 and day 6: the job did run.
        let sent = reminders_about(&app, waiting);
        assert_eq!(sent.len(), 2, "{engine:?}: {sent:?}");
        assert!(sent[0].subject.contains("attend votre visa"), "{sent:?}");
    }
}

#[tokio::test]
async fn the_maire_asks_for_the_daily_digest_and_nobody_gets_an_empty_one() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let maire = app.login(MAIRE).await;
        let agent = app.login("agent@commune.demo").await;

        let (status, html) = text(&maire, app.url(&digest_path())).await;
        assert_eq!(status, StatusCode::OK, "{engine:?}");
        assert!(html.contains("Récapitulatif quotidien"));
        assert!(!html.contains("value=\"oui\" checked"), "not asked for yet");

        // A value the form never sends: refused, nothing recorded.
        let r = app
            .post_form(&maire, &digest_path(), &[("recapitulatif", "peut-être")])
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("Cochez la case"));

        // The maire and the secretary opt in; only the maire has something waiting.
        for client in [&maire, &agent] {
            let r = app
                .post_form(client, &digest_path(), &[("recapitulatif", "oui")])
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
            assert_eq!(
                r.headers().get("location").unwrap().to_str().unwrap(),
                digest_path()
            );
        }
        let (_, html) = text(&maire, app.url(&digest_path())).await;
        assert!(
            html.contains("value=\"oui\" checked"),
            "{engine:?}: the choice is shown"
        );

        run_daily_job(&app).await;
        let sent = digests_to(&app, MAIRE);
        assert_eq!(sent.len(), 1, "{engine:?}: {sent:?}");
        let id = dossier_id(&app, DEMO_TITLE).await;
        assert_eq!(
            sent[0].subject,
            "Récapitulatif du parapheur : 1 dossier vous attend"
        );
        let mail = &sent[0].text;
        assert!(mail.contains(&format!("« {DEMO_TITLE} »")), "{mail}");
        assert!(mail.contains("À faire : signer"), "{mail}");
        assert!(
            mail.contains(&format!("/o/{ARBRISSEL}/parapheur/dossiers/{id}")),
            "{mail}"
        );
        assert!(
            digests_to(&app, "agent@commune.demo").is_empty(),
            "{engine:?}: nothing waits for the secretary"
        );

        // Once a day: not again today, again tomorrow.
        run_daily_job(&app).await;
        assert_eq!(digests_to(&app, MAIRE).len(), 1, "{engine:?}");
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        assert_eq!(digests_to(&app, MAIRE).len(), 2, "{engine:?}");

        // Unticked (signed in again: yesterday's session has expired): no more.
        let maire = app.login(MAIRE).await;
        let r = app.post_form(&maire, &digest_path(), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers().get("location").unwrap().to_str().unwrap(),
            digest_path()
        );
        let (status, html) = text(&maire, app.url(&digest_path())).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains("value=\"oui\" checked"));
        app.clock.advance(days(1));
        run_daily_job(&app).await;
        let sent = digests_to(&app, MAIRE);
        assert_eq!(sent.len(), 2, "{engine:?}: {sent:?}");
    }
}

#[tokio::test]
async fn another_organisation_cannot_reach_the_digest_page() {
    let app = spawn_app().await;
    let company = app.login("contact@entreprise.demo").await;
    let path = digest_path();
    assert_refused(
        &app,
        Caller::Browser(&company),
        &[
            Attempt::get(Verb::Read, path.clone()),
            Attempt::get(Verb::List, path.clone()),
            Attempt::post(Verb::Change, path.clone(), &[("recapitulatif", "oui")]),
            Attempt::post(Verb::Delete, path.clone(), &[]),
        ],
    )
    .await;
}
