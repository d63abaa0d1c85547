//! The store conformance suite: every test runs on SQLite, and on PostgreSQL when
//! `BOUQUET_TEST_DATABASE_URL` is set (`scripts/test` sets it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{AppError, Email, OrgId, OrgKind, Role, RoleSet, Service, Siren};
use bouquet_store::accounts::{self, ResetProblem, TokenKind};
use bouquet_store::audit::{self, AuditActor, JournalFilter, NewEvent};
use bouquet_store::blobs::{Blobs, owner_key};
use bouquet_store::jobs::{self, JobRow, JobStatus, NewJob};
use bouquet_store::migrate::{self, Migration, MigrationSet, MigrationSql};
use bouquet_store::orgs::{self, NewOrg, OrgFilter};
use bouquet_store::worker::{self, JobError, JobHandler, Registry};
use bouquet_store::{Platform, StoreError, exec, outbox, run, search, settings, usage};
use bytes::Bytes;
use jiff::SignedDuration;
use serde_json::json;

use crate::on_every_engine;

fn actor() -> AuditActor {
    AuditActor::system()
}

async fn new_org(p: &Platform, siren: &str, name: &str, kind: OrgKind) -> OrgId {
    let mut tx = p.db.begin().await.unwrap();
    let mut org = NewOrg::new(Siren::parse(siren).unwrap(), name, kind);
    org.departement = Some("35".into());
    let id = orgs::create(&mut tx, p.clock.now(), org, &actor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn sql(p: &Platform, statement: &str) {
    let mut tx = p.db.begin().await.unwrap();
    exec!(
        &mut tx,
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
    )
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn migrations_are_idempotent_and_refuse_edits() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let again = migrate::migrate(&p.db, &[&migrate::PLATFORM], 0)
            .await
            .unwrap();
        assert!(again.applied.is_empty());
        assert_eq!(again.already, migrate::PLATFORM.migrations.len());
        // A released migration edited afterwards stops the binary.
        let mut edited_list = migrate::PLATFORM.migrations.to_vec();
        edited_list[0].sql = MigrationSql::Both("SELECT 1");
        let edited = MigrationSet {
            owner: "platform",
            migrations: Box::leak(edited_list.into_boxed_slice()),
        };
        let err = migrate::migrate(&p.db, &[&edited], 0).await.unwrap_err();
        assert!(err.to_string().contains("modifiée"), "{err}");
        // A database migrated by a newer binary is refused too.
        static NONE: [Migration; 0] = [];
        let older = MigrationSet {
            owner: "platform",
            migrations: &NONE,
        };
        let err = migrate::migrate(&p.db, &[&older], 0).await.unwrap_err();
        assert!(err.to_string().contains("plus récente"), "{err}");
        // Another crate's migrations live beside the platform's, numbered from 1.
        static MODULE: [Migration; 1] = [Migration {
            version: 1,
            name: "t",
            sql: MigrationSql::Both("CREATE TABLE test_module_things (id TEXT PRIMARY KEY)"),
        }];
        let module = MigrationSet {
            owner: "test_module",
            migrations: &MODULE,
        };
        let applied = migrate::migrate(&p.db, &[&migrate::PLATFORM, &module], 0)
            .await
            .unwrap();
        assert_eq!(
            applied.applied,
            vec![("test_module".to_owned(), 1, "t".to_owned())]
        );
    });
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_journal_event() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let before = {
            let mut c = p.db.read().await.unwrap();
            audit::count(&mut c, None).await.unwrap()
        };
        {
            let mut tx = p.db.begin().await.unwrap();
            let org = NewOrg::new(
                Siren::parse("213500051").unwrap(),
                "Arbrissel",
                OrgKind::Commune,
            );
            orgs::create(&mut tx, p.clock.now(), org, &actor())
                .await
                .unwrap();
            tx.rollback().await.unwrap();
        }
        let mut c = p.db.read().await.unwrap();
        assert_eq!(audit::count(&mut c, None).await.unwrap(), before);
        assert!(
            orgs::get_by_siren(&mut c, &Siren::parse("213500051").unwrap())
                .await
                .unwrap()
                .is_none()
        );
    });
}

async fn journal_of_three(p: &Platform) -> (OrgId, OrgId) {
    let a = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
    let b = new_org(p, "213502396", "Retiers", OrgKind::Commune).await;
    for i in 0..5 {
        let mut tx = p.db.begin().await.unwrap();
        for org in [a, b] {
            audit::append(
                &mut tx,
                p.clock.now(),
                NewEvent::new(
                    Some(org),
                    &actor(),
                    "organisation.updated",
                    "organisation",
                    org,
                )
                .details(json!({ "n": i })),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    (a, b)
}

async fn verify(p: &Platform) -> audit::VerifyReport {
    audit::verify(&p.db, &p.keys, &|_, _| {}).await.unwrap()
}

#[tokio::test]
async fn the_journal_is_one_chain_per_organisation_and_verifies() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let (a, _) = journal_of_three(p).await;
        let report = verify(p).await;
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.chains, 2);
        assert_eq!(report.events, 12);
        let mut c = p.db.read().await.unwrap();
        let page = audit::list(
            &mut c,
            &JournalFilter {
                org: Some(a),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
        let mut seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
        seqs.sort();
        assert_eq!(
            seqs,
            vec![1, 2, 3, 4, 5, 6],
            "A's chain has its own numbering"
        );
    });
}

#[tokio::test]
async fn an_altered_event_is_detected_and_named() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let (a, _) = journal_of_three(p).await;
        sql(
            p,
            &format!(
                "UPDATE audit_events SET details = '{{\"n\":99}}' WHERE chain = '{a}' AND seq = 3"
            ),
        )
        .await;
        let report = verify(p).await;
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].seq, Some(3));
        assert!(
            report.problems[0].message.contains("modifié"),
            "{}",
            report.problems[0].message
        );
    });
}

#[tokio::test]
async fn deleted_inserted_and_reordered_events_are_detected() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let (a, b) = journal_of_three(p).await;
        // Deleted in the middle.
        sql(
            p,
            &format!("DELETE FROM audit_events WHERE chain = '{a}' AND seq = 2"),
        )
        .await;
        // Two events of B swapped (their contents exchange places).
        sql(
            p,
            &format!("UPDATE audit_events SET seq = -1 WHERE chain = '{b}' AND seq = 2"),
        )
        .await;
        sql(
            p,
            &format!("UPDATE audit_events SET seq = 2 WHERE chain = '{b}' AND seq = 3"),
        )
        .await;
        sql(
            p,
            &format!("UPDATE audit_events SET seq = 3 WHERE chain = '{b}' AND seq = -1"),
        )
        .await;
        let report = verify(p).await;
        let by_chain: HashMap<String, &audit::Problem> = report
            .problems
            .iter()
            .map(|x| (x.chain.clone(), x))
            .collect();
        assert_eq!(by_chain[&a.to_string()].seq, Some(2));
        assert!(by_chain[&a.to_string()].message.contains("manque"));
        assert_eq!(by_chain[&b.to_string()].seq, Some(2));
    });
}

#[tokio::test]
async fn an_inserted_event_is_detected() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let (a, _) = journal_of_three(p).await;
        // Make room after event 3 and slip a forged event in, with a plausible hash.
        for seq in (4..=6).rev() {
            sql(
                p,
                &format!(
                    "UPDATE audit_events SET seq = {} WHERE chain = '{a}' AND seq = {seq}",
                    seq + 1
                ),
            )
            .await;
        }
        sql(p, &format!(
            "INSERT INTO audit_events (id, chain, seq, prev_hash, hash, at, org_id, actor_id, actor_label, action, object_type, object_id, details)
             SELECT 'forged', chain, 4, hash, hash, at, org_id, actor_id, actor_label, action, object_type, object_id, details
             FROM audit_events WHERE chain = '{a}' AND seq = 3"
        ))
        .await;
        let report = verify(p).await;
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].seq, Some(4));
    });
}

#[tokio::test]
async fn cutting_the_last_events_is_detected_even_with_the_head_rewritten() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let (a, _) = journal_of_three(p).await;
        assert_eq!(
            audit::checkpoint_all(&p.db, p.clock.now(), &p.keys)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            audit::checkpoint_all(&p.db, p.clock.now(), &p.keys)
                .await
                .unwrap(),
            0,
            "nothing moved"
        );
        // Cut the last two events and make the head agree with the truncated chain.
        sql(
            p,
            &format!("DELETE FROM audit_events WHERE chain = '{a}' AND seq > 4"),
        )
        .await;
        sql(p, &format!(
            "UPDATE audit_heads SET seq = 4, hash = (SELECT hash FROM audit_events WHERE chain = '{a}' AND seq = 4) WHERE chain = '{a}'"
        ))
        .await;
        let report = verify(p).await;
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0].message.contains("point de contrôle"),
            "{}",
            report.problems[0].message
        );
        // Without the rewritten head, the head alone tells.
        sql(
            p,
            &format!("UPDATE audit_heads SET seq = 6 WHERE chain = '{a}'"),
        )
        .await;
        assert!(!verify(p).await.is_intact());
    });
}

#[tokio::test]
async fn a_forged_checkpoint_is_detected() {
    on_every_engine!(|case| {
        let p = &case.platform;
        journal_of_three(p).await;
        audit::checkpoint_all(&p.db, p.clock.now(), &p.keys)
            .await
            .unwrap();
        sql(
            p,
            // Another first byte, whatever it was (a signature may begin with 00).
            "UPDATE audit_checkpoints SET signature = CASE WHEN substr(signature, 1, 2) = '00' THEN 'ff' ELSE '00' END || substr(signature, 3)",
        )
        .await;
        let report = verify(p).await;
        assert_eq!(report.problems.len(), 2);
        assert!(
            report
                .problems
                .iter()
                .all(|x| x.message.contains("signature"))
        );
    });
}

#[derive(Default)]
struct Counter {
    runs: Mutex<HashMap<String, usize>>,
    fail_first: bool,
}

#[async_trait]
impl JobHandler for Counter {
    async fn run(&self, _: &Platform, job: &JobRow) -> Result<(), JobError> {
        let n = {
            let mut runs = self.runs.lock().unwrap();
            let n = runs.entry(job.id.clone()).or_default();
            *n += 1;
            *n
        };
        tokio::task::yield_now().await;
        if job.payload().get("fatal").is_some() {
            return Err(JobError::Permanent("charge illisible".into()));
        }
        if self.fail_first && n == 1 {
            return Err(JobError::Retry("pair indisponible".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn jobs_retry_with_backoff_then_die_and_can_be_retried() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let counter = Arc::new(Counter {
            fail_first: true,
            ..Default::default()
        });
        let mut registry = Registry::new();
        registry.handle("test.flaky", counter.clone());
        registry.handle("test.fatal", counter.clone());
        let mut tx = p.db.begin().await.unwrap();
        let flaky = jobs::enqueue(&mut tx, p.clock.now(), NewJob::new("test.flaky", json!({})))
            .await
            .unwrap();
        let fatal = jobs::enqueue(
            &mut tx,
            p.clock.now(),
            NewJob::new("test.fatal", json!({"fatal": true})),
        )
        .await
        .unwrap();
        let unknown = jobs::enqueue(
            &mut tx,
            p.clock.now(),
            NewJob::new("test.nobody", json!({})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(worker::drain(p, &registry, "w").await.unwrap(), 3);
        let mut c = p.db.read().await.unwrap();
        let job = jobs::get(&mut c, &flaky).await.unwrap().unwrap();
        assert_eq!(job.status(), Some(JobStatus::Pending));
        assert_eq!(
            job.run_at(),
            p.clock
                .now()
                .checked_add(SignedDuration::from_secs(10))
                .unwrap(),
            "backoff"
        );
        assert_eq!(
            jobs::get(&mut c, &fatal).await.unwrap().unwrap().status(),
            Some(JobStatus::Dead)
        );
        let dead = jobs::get(&mut c, &unknown).await.unwrap().unwrap();
        assert_eq!(dead.status(), Some(JobStatus::Dead));
        assert!(dead.last_error.unwrap().contains("aucun gestionnaire"));
        drop(c);
        // Not due yet: nothing runs until the clock passes the backoff.
        assert_eq!(worker::drain(p, &registry, "w").await.unwrap(), 0);
        case.clock.advance(SignedDuration::from_secs(11));
        assert_eq!(worker::drain(p, &registry, "w").await.unwrap(), 1);
        let mut tx = p.db.begin().await.unwrap();
        assert_eq!(
            jobs::get(&mut tx, &flaky).await.unwrap().unwrap().status(),
            Some(JobStatus::Done)
        );
        assert!(
            !jobs::retry(&mut tx, p.clock.now(), &flaky, &actor())
                .await
                .unwrap(),
            "only dead jobs are retried"
        );
        assert!(
            jobs::retry(&mut tx, p.clock.now(), &fatal, &actor())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assert_eq!(worker::drain(p, &registry, "w").await.unwrap(), 1);
        // A job whose worker died is taken again once its lease has expired.
        let mut tx = p.db.begin().await.unwrap();
        let orphan = jobs::enqueue(&mut tx, p.clock.now(), NewJob::new("test.flaky", json!({})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let claimed = jobs::claim(&p.db, p.clock.now(), "mort", SignedDuration::from_mins(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, orphan);
        assert!(
            jobs::claim(&p.db, p.clock.now(), "autre", SignedDuration::from_mins(10))
                .await
                .unwrap()
                .is_none()
        );
        case.clock.advance(SignedDuration::from_mins(11));
        let again = jobs::claim(&p.db, p.clock.now(), "autre", SignedDuration::from_mins(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, orphan);
        assert!(
            !jobs::complete(&p.db, p.clock.now(), &orphan, "mort")
                .await
                .unwrap(),
            "the dead worker lost its lease"
        );
        assert!(
            jobs::complete(&p.db, p.clock.now(), &orphan, "autre")
                .await
                .unwrap()
        );
    });
}

#[tokio::test]
async fn each_job_runs_exactly_once_with_several_workers_in_two_processes() {
    on_every_engine!(|case| {
        let p = &case.platform;
        // A second "process": its own connection pool on the same database.
        let mut other_cfg =
            crate::helpers::config(case.dir.path(), case.url.clone(), case.clock.clone());
        other_cfg.demo = false;
        let (other, _) = bouquet::app::open_platform(&other_cfg, &bouquet::modules())
            .await
            .unwrap();
        let counter = Arc::new(Counter::default());
        let mut registry = Registry::new();
        registry.handle("test.count", counter.clone());
        let registry = Arc::new(registry);
        const N: usize = 120;
        let mut tx = p.db.begin().await.unwrap();
        for i in 0..N {
            jobs::enqueue(
                &mut tx,
                p.clock.now(),
                NewJob::new("test.count", json!({ "i": i })),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let mut tasks = Vec::new();
        for (pi, platform) in [p.clone(), other.clone()].into_iter().enumerate() {
            for w in 0..4 {
                let registry = registry.clone();
                let platform = platform.clone();
                tasks.push(tokio::spawn(async move {
                    worker::drain(&platform, &registry, &format!("p{pi}-w{w}"))
                        .await
                        .unwrap()
                }));
            }
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, N, "every job claimed once");
        let runs = counter.runs.lock().unwrap().clone();
        assert_eq!(runs.len(), N);
        assert!(runs.values().all(|n| *n == 1), "a job ran twice");
        let mut c = p.db.read().await.unwrap();
        let counts = jobs::counts(&mut c).await.unwrap();
        assert_eq!(counts, vec![("done".to_owned(), N as i64)]);
        other.db.close().await;
    });
}

struct Recorder(Arc<Mutex<Vec<outbox::Envelope>>>);

#[async_trait]
impl JobHandler for Recorder {
    async fn run(&self, _: &Platform, job: &JobRow) -> Result<(), JobError> {
        let envelope: outbox::Envelope =
            serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(e.to_string()))?;
        self.0.lock().unwrap().push(envelope);
        Ok(())
    }
}

#[tokio::test]
async fn outbox_events_reach_every_subscriber_once_and_only_when_committed() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let org = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let seen_a = Arc::new(Mutex::new(Vec::new()));
        let seen_b = Arc::new(Mutex::new(Vec::new()));
        let mut registry = Registry::new();
        registry.handle("archives.on_acquitted", Arc::new(Recorder(seen_a.clone())));
        registry.handle(
            "publication.on_acquitted",
            Arc::new(Recorder(seen_b.clone())),
        );
        registry.subscribe("acte.acquitted", "archives.on_acquitted");
        registry.subscribe("acte.acquitted", "publication.on_acquitted");
        // Rolled back: no event, no job.
        let mut tx = p.db.begin().await.unwrap();
        outbox::publish(
            &mut tx,
            p.clock.now(),
            Some(org),
            "acte.acquitted",
            json!({ "acte": "A1" }),
        )
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(worker::drain(p, &registry, "w").await.unwrap(), 0);
        let mut tx = p.db.begin().await.unwrap();
        let id = outbox::publish(
            &mut tx,
            p.clock.now(),
            Some(org),
            "acte.acquitted",
            json!({ "acte": "A2" }),
        )
        .await
        .unwrap();
        outbox::publish(&mut tx, p.clock.now(), Some(org), "sans.abonne", json!({}))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            worker::drain(p, &registry, "w").await.unwrap(),
            4,
            "2 dispatches + 2 deliveries"
        );
        for seen in [seen_a, seen_b] {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].event_id, id);
            assert_eq!(seen[0].payload, json!({ "acte": "A2" }));
            assert_eq!(seen[0].org_id.as_deref(), Some(org.to_string().as_str()));
        }
    });
}

#[tokio::test]
async fn search_is_accent_and_case_insensitive_prefix_matching_on_both_engines() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let org = new_org(p, "213501364", "Janzé", OrgKind::Commune).await;
        let mut tx = p.db.begin().await.unwrap();
        search::index(
            &mut tx,
            Some(org),
            "acte",
            "1",
            "Délibération : budget primitif de l'école élémentaire",
        )
        .await
        .unwrap();
        search::index(
            &mut tx,
            Some(org),
            "acte",
            "2",
            "Arrêté de circulation, rue de l'Église",
        )
        .await
        .unwrap();
        search::index(
            &mut tx,
            Some(org),
            "acte",
            "3",
            "Convention avec la Communauté de communes",
        )
        .await
        .unwrap();
        search::index(
            &mut tx,
            None,
            "acte",
            "4",
            "Délibération d'une autre organisation",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        let mut check = async |q: &str, want: &[&str]| {
            let mut got = search::search(&mut c, Some(org), "acte", q, 50)
                .await
                .unwrap();
            got.sort();
            assert_eq!(got, want, "« {q} »");
        };
        check("ECOLE", &["1"]).await;
        check("délib", &["1"]).await;
        check("deliberation budget", &["1"]).await;
        check("eglise circ", &["2"]).await;
        check("communaute", &["3"]).await;
        check("comm", &["3"]).await;
        check("budget église", &[]).await;
        check("ation", &[]).await;
        check("''; DROP TABLE users; --", &[]).await;
        check("*", &[]).await;
        let mut all = search::search(&mut c, None, "acte", "délibération", 50)
            .await
            .unwrap();
        all.sort();
        assert_eq!(all, vec!["1", "4"]);
        // Re-indexing replaces the text; removal forgets it.
        drop(c);
        let mut tx = p.db.begin().await.unwrap();
        search::index(&mut tx, Some(org), "acte", "1", "Compte administratif")
            .await
            .unwrap();
        search::remove(&mut tx, "acte", "2").await.unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert!(
            search::search(&mut c, Some(org), "acte", "ecole", 50)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            search::search(&mut c, Some(org), "acte", "administratif", 50)
                .await
                .unwrap(),
            vec!["1"]
        );
        assert!(
            search::search(&mut c, Some(org), "acte", "eglise", 50)
                .await
                .unwrap()
                .is_empty()
        );
    });
}

#[tokio::test]
async fn usage_is_aggregated_by_month_in_the_organisation_time_zone() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let org = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let paris = bouquet_kernel::clock::time_zone("Europe/Paris");
        // 31 October 23:30 UTC is already November in Paris.
        let late: jiff::Timestamp = "2026-10-31T23:30:00Z".parse().unwrap();
        let mut tx = p.db.begin().await.unwrap();
        for at in [
            late,
            "2026-10-15T10:00:00Z".parse().unwrap(),
            "2026-11-02T10:00:00Z".parse().unwrap(),
        ] {
            usage::record(&mut tx, at, org, &paris, UsageKind::Connexion, None)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        let months = usage::monthly(&mut c, &[org], "2026-01", "2026-12")
            .await
            .unwrap();
        let counts: Vec<(String, i64)> =
            months.iter().map(|m| (m.month.clone(), m.count)).collect();
        assert_eq!(counts, vec![("2026-10".into(), 1), ("2026-11".into(), 2)]);
        assert!(
            usage::monthly(&mut c, &[OrgId::new()], "2026-01", "2026-12")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            usage::month_of(
                late,
                &bouquet_kernel::clock::time_zone("America/Guadeloupe")
            ),
            "2026-10"
        );
    });
}

#[tokio::test]
async fn organisations_subscriptions_and_lists() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let epci = new_org(p, "243500634", "CC Roche aux Fées Communauté", OrgKind::Cc).await;
        let mut tx = p.db.begin().await.unwrap();
        for (siren, name) in [
            ("213500051", "Arbrissel"),
            ("213502396", "Retiers"),
            ("213501364", "Janzé"),
        ] {
            let mut o = NewOrg::new(Siren::parse(siren).unwrap(), name, OrgKind::Commune);
            o.parent = Some(epci);
            o.insee = Some(bouquet_kernel::Insee::parse("35005").unwrap());
            orgs::create(&mut tx, p.clock.now(), o, &actor())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let mut tx = p.db.begin().await.unwrap();
        let dup = orgs::create(
            &mut tx,
            p.clock.now(),
            NewOrg::new(Siren::parse("213500051").unwrap(), "Bis", OrgKind::Commune),
            &actor(),
        )
        .await;
        assert!(matches!(dup, Err(StoreError::App(AppError::Conflict(_)))));
        drop(tx);
        let mut c = p.db.read().await.unwrap();
        let arbrissel = orgs::get_by_siren(&mut c, &Siren::parse("213500051").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(arbrissel.time_zone, "Europe/Paris");
        assert_eq!(arbrissel.departement.as_deref(), Some("35"));
        assert_eq!(orgs::children(&mut c, epci).await.unwrap().len(), 3);
        // Pages of two, by name, then search.
        let first = orgs::list(&mut c, &OrgFilter::default(), None, 2)
            .await
            .unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            vec!["Arbrissel", "CC Roche aux Fées Communauté"]
        );
        let cursor = bouquet_store::page::Cursor::decode(first.next.as_deref().unwrap()).unwrap();
        let second = orgs::list(&mut c, &OrgFilter::default(), Some(&cursor), 2)
            .await
            .unwrap();
        assert_eq!(
            second
                .items
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            vec!["Janzé", "Retiers"]
        );
        assert!(second.next.is_none());
        let found = orgs::list(
            &mut c,
            &OrgFilter {
                query: Some("janze".into()),
                kind: None,
            },
            None,
            10,
        )
        .await
        .unwrap();
        assert_eq!(found.items.len(), 1);
        let epcis = orgs::list(
            &mut c,
            &OrgFilter {
                query: Some("fees".into()),
                kind: Some(OrgKind::Cc),
            },
            None,
            10,
        )
        .await
        .unwrap();
        assert_eq!(epcis.items.len(), 1);
        drop(c);
        // Subscriptions are active from their start to their end, in local dates.
        let a = arbrissel.id().unwrap();
        let now = p.clock.now();
        let mut tx = p.db.begin().await.unwrap();
        let sub = |service, start, end: Option<&'static str>| orgs::NewSubscription {
            service,
            start_date: start,
            end_date: end,
            max_users: None,
        };
        orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Actes, "2025-01-01", None),
            &actor(),
        )
        .await
        .unwrap();
        let helios = orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Helios, "2025-01-01", None),
            &actor(),
        )
        .await
        .unwrap();
        orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Marches, "2026-12-01", None),
            &actor(),
        )
        .await
        .unwrap();
        let bad = orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Factures, "2026-12-01", Some("2026-01-01")),
            &actor(),
        )
        .await;
        assert!(matches!(bad, Err(StoreError::App(AppError::Invalid(_)))));
        // Overlapping the same service is refused, and the transaction goes on (no error
        // left pending on PostgreSQL).
        let twice = orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Actes, "2026-06-01", None),
            &actor(),
        )
        .await;
        assert!(matches!(twice, Err(StoreError::App(AppError::Conflict(_)))));
        let capped = orgs::NewSubscription {
            max_users: Some(0),
            ..sub(Service::Archives, "2026-01-01", None)
        };
        assert!(
            orgs::subscribe(&mut tx, now, a, capped, &actor())
                .await
                .is_err()
        );
        // Ended yesterday (22 November): no longer active today.
        assert!(
            orgs::end_subscription(&mut tx, now, a, &helios, "2026-11-22", &actor())
                .await
                .unwrap()
        );
        assert!(
            !orgs::end_subscription(&mut tx, now, OrgId::new(), &helios, "2026-11-22", &actor())
                .await
                .unwrap(),
            "another organisation's subscription"
        );
        assert!(
            orgs::end_subscription(&mut tx, now, a, &helios, "2024-01-01", &actor())
                .await
                .is_err(),
            "before its start"
        );
        // After its end, the same service can be subscribed again.
        orgs::subscribe(
            &mut tx,
            now,
            a,
            sub(Service::Helios, "2027-01-01", None),
            &actor(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        let services = orgs::active_services(&mut c, &arbrissel, p.clock.now())
            .await
            .unwrap();
        assert_eq!(services.iter().collect::<Vec<_>>(), vec![Service::Actes]);
    });
}

#[tokio::test]
async fn accounts_sessions_tokens_and_resets() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let org = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let email = Email::parse("sophie.lebrun@arbrissel.fr").unwrap();
        let now = p.clock.now();
        let mut tx = p.db.begin().await.unwrap();
        let user = accounts::create_user(
            &mut tx,
            now,
            &email,
            "Sophie Lebrun",
            Some("$argon2id$x"),
            Some(org),
            &actor(),
        )
        .await
        .unwrap();
        let dup =
            accounts::create_user(&mut tx, now, &email, "Autre", None, Some(org), &actor()).await;
        assert!(
            matches!(dup, Err(StoreError::App(AppError::Invalid(ref f))) if f[0].field == "email")
        );
        accounts::grant(
            &mut tx,
            now,
            user,
            org,
            RoleSet::empty().with(Role::Agent),
            Some("Secrétaire"),
            &actor(),
        )
        .await
        .unwrap();
        let twice = accounts::grant(
            &mut tx,
            now,
            user,
            org,
            RoleSet::empty().with(Role::Agent),
            None,
            &actor(),
        )
        .await;
        assert!(matches!(twice, Err(StoreError::App(AppError::Conflict(_)))));
        tx.commit().await.unwrap();

        let mut tx = p.db.begin().await.unwrap();
        let cookie = accounts::create_session(&mut tx, now, user, Some("127.0.0.1"), Some("test"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert!(
            accounts::session_user(&mut c, now, &cookie)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            accounts::session_user(&mut c, now, "forgé")
                .await
                .unwrap()
                .is_none()
        );
        let actor_loaded = accounts::load_actor(&mut c, user).await.unwrap();
        assert_eq!(
            actor_loaded.roles_in(org),
            Some(RoleSet::empty().with(Role::Agent))
        );
        drop(c);
        // Idle sessions expire.
        case.clock
            .advance(accounts::SESSION_IDLE + SignedDuration::from_secs(1));
        let mut c = p.db.read().await.unwrap();
        assert!(
            accounts::session_user(&mut c, p.clock.now(), &cookie)
                .await
                .unwrap()
                .is_none()
        );
        drop(c);

        // Tokens: usable until revoked, and only their owner may revoke them.
        let now = p.clock.now();
        let mut tx = p.db.begin().await.unwrap();
        let (id, token) = accounts::create_token(
            &mut tx,
            now,
            user,
            TokenKind::Personal,
            "Logiciel",
            None,
            &actor(),
        )
        .await
        .unwrap();
        let stranger = accounts::create_user(
            &mut tx,
            now,
            &Email::parse("x@y.fr").unwrap(),
            "X",
            None,
            None,
            &actor(),
        )
        .await
        .unwrap();
        assert!(
            !accounts::revoke_token(&mut tx, now, stranger, &id, &actor())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert!(
            accounts::token_user(&mut c, now, &token)
                .await
                .unwrap()
                .is_some()
        );
        drop(c);
        let mut tx = p.db.begin().await.unwrap();
        assert!(
            accounts::revoke_token(&mut tx, now, user, &id, &actor())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert!(
            accounts::token_user(&mut c, now, &token)
                .await
                .unwrap()
                .is_none()
        );
        drop(c);

        // Reset links: single use, expire, and a newer one replaces an older one.
        let mut tx = p.db.begin().await.unwrap();
        let old = accounts::create_reset(
            &mut tx,
            now,
            user,
            accounts::RESET_TTL,
            accounts::LinkReason::Reset,
            &actor(),
        )
        .await
        .unwrap();
        let link = accounts::create_reset(
            &mut tx,
            now,
            user,
            accounts::RESET_TTL,
            accounts::LinkReason::Reset,
            &actor(),
        )
        .await
        .unwrap();
        assert_eq!(
            accounts::check_reset(&mut tx, now, &old).await.unwrap(),
            Err(ResetProblem::Used)
        );
        assert_eq!(
            accounts::check_reset(&mut tx, now, &link).await.unwrap(),
            Ok(user)
        );
        assert!(accounts::consume_reset(&mut tx, now, &link).await.unwrap());
        assert!(!accounts::consume_reset(&mut tx, now, &link).await.unwrap());
        assert_eq!(
            accounts::check_reset(&mut tx, now, "inconnu")
                .await
                .unwrap(),
            Err(ResetProblem::Unknown)
        );
        let late = accounts::create_reset(
            &mut tx,
            now,
            user,
            accounts::RESET_TTL,
            accounts::LinkReason::Reset,
            &actor(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        case.clock.advance(SignedDuration::from_mins(61));
        let mut c = p.db.read().await.unwrap();
        assert_eq!(
            accounts::check_reset(&mut c, p.clock.now(), &late)
                .await
                .unwrap(),
            Err(ResetProblem::Expired)
        );
    });
}

#[tokio::test]
async fn login_throttling_counts_attempts_atomically_and_forgets_after_the_window() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let key = "compte:sophie@arbrissel.fr";
        let max = accounts::THROTTLE_ACCOUNT_MAX;
        for _ in 0..max {
            let mut tx = p.db.begin().await.unwrap();
            assert!(
                accounts::throttle_attempt(&mut tx, p.clock.now(), key, max)
                    .await
                    .unwrap()
                    .is_none()
            );
            tx.commit().await.unwrap();
        }
        let mut tx = p.db.begin().await.unwrap();
        let wait = accounts::throttle_attempt(&mut tx, p.clock.now(), key, max)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(wait, Some(15 * 60));
        // A success takes its attempt back.
        let mut tx = p.db.begin().await.unwrap();
        accounts::throttle_forgive(&mut tx, key).await.unwrap();
        tx.commit().await.unwrap();
        // After the window, a new one starts from one attempt.
        case.clock.advance(accounts::THROTTLE_WINDOW);
        let mut tx = p.db.begin().await.unwrap();
        assert!(
            accounts::throttle_attempt(&mut tx, p.clock.now(), key, max)
                .await
                .unwrap()
                .is_none()
        );
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        let attempts: i32 = run!(&mut c, |x| sqlx::query_scalar(
            "SELECT failures FROM login_throttle WHERE key = $1"
        )
        .bind(key)
        .fetch_one(x)
        .await)
        .unwrap();
        assert_eq!(attempts, 1);
    });
}

#[tokio::test]
async fn settings_round_trip() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let mut tx = p.db.begin().await.unwrap();
        settings::set(&mut tx, p.clock.now(), "k", "v1")
            .await
            .unwrap();
        settings::set(&mut tx, p.clock.now(), "k", "v2")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert_eq!(
            settings::get(&mut c, "k").await.unwrap().as_deref(),
            Some("v2")
        );
        assert_eq!(settings::get(&mut c, "absent").await.unwrap(), None);
    });
}

#[tokio::test]
async fn blobs_stream_to_local_files_dedupe_and_detect_damage() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::local(&dir.path().join("blobs")).unwrap();
    let org = owner_key(Some(OrgId::new()));
    // 40 MiB in 1 MiB chunks: streamed through multipart parts, hashed on the way.
    let chunk = Bytes::from(vec![7u8; 1024 * 1024]);
    let stream = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(chunk.clone())));
    let stored = blobs
        .put_stream(&org, stream, 100 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(stored.size, 40 * 1024 * 1024);
    let expected = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for _ in 0..40 {
            h.update(&chunk);
        }
        hex::encode(h.finalize())
    };
    assert_eq!(stored.sha256, expected);
    // Same content again: same blob, one file.
    let again = blobs
        .put_bytes(&org, Bytes::from(vec![7u8; 40 * 1024 * 1024]))
        .await
        .unwrap();
    assert_eq!(again, stored);
    let path = blobs.local_path(&org, &stored.sha256).unwrap();
    assert!(path.starts_with(dir.path()));
    assert!(path.to_string_lossy().contains("/org/"));
    assert!(
        !std::fs::read_dir(dir.path().join("blobs/staging"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false),
        "staging emptied"
    );
    // Read back intact.
    assert_eq!(
        blobs.read_all(&org, &stored.sha256).await.unwrap().len(),
        40 * 1024 * 1024
    );
    // One byte changed on disk: the read ends in an error instead of serving it.
    let mut data = std::fs::read(&path).unwrap();
    data[12345] ^= 1;
    std::fs::write(&path, data).unwrap();
    let err = blobs.read_all(&org, &stored.sha256).await.unwrap_err();
    assert!(err.to_string().contains("altéré"), "{err}");
    // Other owners and malformed names find nothing.
    assert!(
        !blobs
            .exists(&owner_key(None), &stored.sha256)
            .await
            .unwrap()
    );
    assert!(blobs.open(&org, "../../../etc/passwd").await.is_err());
    // Over the limit: refused, nothing kept.
    let too_big = futures::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1024]))),
    );
    assert!(matches!(
        blobs.put_stream(&org, too_big, 2048).await,
        Err(StoreError::App(AppError::PayloadTooLarge { .. }))
    ));
    blobs.health().await.unwrap();
}

/// The same blob contract on an S3-compatible server, when `scripts/test` started one
/// (`BOUQUET_TEST_S3_URL`, e.g. s3s-fs); multipart upload, dedupe, verified read, isolation.
#[tokio::test]
async fn blobs_on_s3_when_a_server_is_given() {
    let Ok(url) = std::env::var("BOUQUET_TEST_S3_URL") else {
        return;
    };
    let blobs = Blobs::from_url(&url).unwrap();
    assert!(blobs.describe().starts_with("S3"));
    blobs.health().await.unwrap();
    let org = owner_key(Some(OrgId::new()));
    // 20 MiB: several multipart parts of 8 MiB.
    let chunk = Bytes::from(vec![42u8; 1024 * 1024]);
    let stream = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(chunk.clone())));
    let stored = blobs
        .put_stream(&org, stream, 64 * 1024 * 1024)
        .await
        .unwrap();
    assert_eq!(stored.size, 20 * 1024 * 1024);
    let again = blobs
        .put_bytes(&org, Bytes::from(vec![42u8; 20 * 1024 * 1024]))
        .await
        .unwrap();
    assert_eq!(again, stored);
    assert_eq!(
        blobs.read_all(&org, &stored.sha256).await.unwrap().len(),
        20 * 1024 * 1024
    );
    assert!(blobs.exists(&org, &stored.sha256).await.unwrap());
    assert!(
        !blobs
            .exists(&owner_key(None), &stored.sha256)
            .await
            .unwrap()
    );
    let too_big = futures::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1024]))),
    );
    assert!(matches!(
        blobs.put_stream(&org, too_big, 2048).await,
        Err(StoreError::App(AppError::PayloadTooLarge { .. }))
    ));
    assert!(Blobs::from_url("s3://?region=x").is_err());
    assert!(Blobs::from_url("s3://b?inconnu=1").is_err());
}

#[tokio::test]
async fn verifying_while_people_keep_working_finds_nothing_wrong() {
    on_every_engine!(|case| {
        let p = case.platform.clone();
        let a = new_org(&p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let p = p.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut tx = p.db.begin().await.unwrap();
                    audit::append(
                        &mut tx,
                        p.clock.now(),
                        NewEvent::new(Some(a), &actor(), "session.login", "session", n),
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                    n += 1;
                    tokio::task::yield_now().await;
                }
                n
            })
        };
        for _ in 0..15 {
            let report = verify(&p).await;
            assert!(report.is_intact(), "{:?}", report.problems);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.await.unwrap() > 0);
        assert!(verify(&p).await.is_intact());
    });
}

#[tokio::test]
async fn the_journal_filter_compares_action_codes_exactly() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let a = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let mut tx = p.db.begin().await.unwrap();
        for action in [
            "membership.roles_changed",
            "membership.revoked",
            "session.login",
        ] {
            audit::append(
                &mut tx,
                p.clock.now(),
                NewEvent::new(Some(a), &actor(), action, "user", "x"),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        let count = async |c: &mut bouquet_store::Pooled, prefix: &str| {
            let f = JournalFilter {
                org: Some(a),
                action_prefix: Some(prefix.into()),
                ..Default::default()
            };
            audit::list(c, &f, None, 50).await.unwrap().items.len()
        };
        assert_eq!(count(&mut c, "membership.roles_changed").await, 1);
        assert_eq!(count(&mut c, "membership.").await, 2);
        assert_eq!(
            count(&mut c, "membership_").await,
            0,
            "`_` is not a wildcard"
        );
        assert_eq!(count(&mut c, "%").await, 0, "`%` is not a wildcard");
        assert_eq!(
            count(&mut c, "SESSION.").await,
            0,
            "case matters on both engines"
        );
        assert_eq!(
            count(&mut c, "").await,
            4,
            "the empty prefix keeps everything (organisation created + 3)"
        );
    });
}

struct Panics;

#[async_trait]
impl JobHandler for Panics {
    async fn run(&self, _: &Platform, _: &JobRow) -> Result<(), JobError> {
        panic!("bug in a handler");
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_and_a_crashed_one_ends_dead() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let mut registry = Registry::new();
        registry.handle("test.panics", Arc::new(Panics));
        registry.handle("test.ok", Arc::new(Counter::default()));
        let mut tx = p.db.begin().await.unwrap();
        let bad = jobs::enqueue(
            &mut tx,
            p.clock.now(),
            NewJob::new("test.panics", json!({})),
        )
        .await
        .unwrap();
        jobs::enqueue(&mut tx, p.clock.now(), NewJob::new("test.ok", json!({})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            worker::drain(p, &registry, "w").await.unwrap(),
            2,
            "the worker survives the panic"
        );
        let mut c = p.db.read().await.unwrap();
        let job = jobs::get(&mut c, &bad).await.unwrap().unwrap();
        assert_eq!(job.status(), Some(JobStatus::Dead));
        assert!(job.last_error.unwrap().contains("erreur interne"));
        drop(c);
        // A job whose process died while holding it, with no attempt left, ends dead.
        let mut tx = p.db.begin().await.unwrap();
        let crashed = jobs::enqueue(
            &mut tx,
            p.clock.now(),
            NewJob::new("test.ok", json!({})).max_attempts(1),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let claimed = jobs::claim(&p.db, p.clock.now(), "mort", SignedDuration::from_mins(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, crashed);
        case.clock.advance(SignedDuration::from_mins(11));
        assert!(
            jobs::claim(&p.db, p.clock.now(), "autre", SignedDuration::from_mins(10))
                .await
                .unwrap()
                .is_none()
        );
        let mut c = p.db.read().await.unwrap();
        let job = jobs::get(&mut c, &crashed).await.unwrap().unwrap();
        assert_eq!(job.status(), Some(JobStatus::Dead));
        assert!(job.last_error.unwrap().contains("essais sont épuisés"));
    });
}

/// The account functions the pages use, on both engines (the HTTP tests run on SQLite).
#[tokio::test]
async fn people_and_roles_story() {
    on_every_engine!(|case| {
        let p = &case.platform;
        let now = p.clock.now();
        let epci = new_org(p, "243500634", "CC Roche aux Fées Communauté", OrgKind::Cc).await;
        let commune = new_org(p, "213500051", "Arbrissel", OrgKind::Commune).await;
        let mut tx = p.db.begin().await.unwrap();
        let mut users = Vec::new();
        for (email, name) in [
            ("a@x.fr", "Anne Arbre"),
            ("b@x.fr", "Bruno Buis"),
            ("c@x.fr", "Céline Chêne"),
            ("d@x.fr", "Denis Dattier"),
        ] {
            let u = accounts::create_user(
                &mut tx,
                now,
                &Email::parse(email).unwrap(),
                name,
                Some("h"),
                Some(commune),
                &actor(),
            )
            .await
            .unwrap();
            accounts::grant(
                &mut tx,
                now,
                u,
                commune,
                RoleSet::empty().with(Role::Agent),
                Some("Agent"),
                &actor(),
            )
            .await
            .unwrap();
            users.push(u);
        }
        let referent = accounts::create_user(
            &mut tx,
            now,
            &Email::parse("r@epci.fr").unwrap(),
            "Rémi Référent",
            None,
            Some(epci),
            &actor(),
        )
        .await
        .unwrap();
        accounts::grant(
            &mut tx,
            now,
            referent,
            epci,
            RoleSet::empty().with(Role::ReferentNumerique),
            None,
            &actor(),
        )
        .await
        .unwrap();
        accounts::follow(&mut tx, now, referent, epci, commune, &actor())
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut c = p.db.read().await.unwrap();
        // Lists: pages of two with a cursor, and search (accents ignored).
        let first = accounts::org_users(&mut c, commune, None, None, 2)
            .await
            .unwrap();
        assert_eq!(
            first
                .items
                .iter()
                .map(|u| u.display_name.as_str())
                .collect::<Vec<_>>(),
            vec!["Anne Arbre", "Bruno Buis"]
        );
        let cursor = bouquet_store::page::Cursor::decode(first.next.as_deref().unwrap()).unwrap();
        let second = accounts::org_users(&mut c, commune, None, Some(&cursor), 2)
            .await
            .unwrap();
        assert_eq!(second.items.len(), 2);
        assert!(second.next.is_none());
        let found = accounts::org_users(&mut c, commune, Some("celine"), None, 10)
            .await
            .unwrap();
        assert_eq!(found.items.len(), 1);
        let all = accounts::list_users(&mut c, Some("chene"), None, 10)
            .await
            .unwrap();
        assert_eq!(all.items.len(), 1);
        let paged = accounts::list_users(&mut c, None, None, 3).await.unwrap();
        assert_eq!(paged.items.len(), 3);
        assert!(paged.next.is_some());
        assert_eq!(
            accounts::referents_of(&mut c, commune).await.unwrap().len(),
            1
        );
        drop(c);

        // Roles, removal, password, deactivation.
        let mut tx = p.db.begin().await.unwrap();
        assert!(
            accounts::set_roles(
                &mut tx,
                now,
                users[0],
                commune,
                RoleSet::empty().with(Role::MemberAdmin),
                &actor()
            )
            .await
            .unwrap()
        );
        assert!(
            !accounts::set_roles(
                &mut tx,
                now,
                referent,
                commune,
                RoleSet::empty().with(Role::Agent),
                &actor()
            )
            .await
            .unwrap(),
            "not a member of the commune"
        );
        assert!(
            accounts::revoke(&mut tx, now, users[1], commune, &actor())
                .await
                .unwrap()
        );
        assert!(
            !accounts::revoke(&mut tx, now, users[1], commune, &actor())
                .await
                .unwrap()
        );
        let s1 = accounts::create_session(&mut tx, now, users[2], None, None)
            .await
            .unwrap();
        let s2 = accounts::create_session(&mut tx, now, users[2], None, None)
            .await
            .unwrap();
        accounts::set_password(
            &mut tx,
            now,
            users[2],
            "nouveau",
            Some(&accounts::secret_hash(&s1)),
            "user.password_changed",
            &actor(),
        )
        .await
        .unwrap();
        assert!(
            accounts::set_active(&mut tx, now, users[3], false, &actor())
                .await
                .unwrap()
        );
        assert!(
            !accounts::set_active(&mut tx, now, users[3], false, &actor())
                .await
                .unwrap(),
            "no change, no event"
        );
        // The référent loses his role: he no longer follows the commune.
        assert!(
            accounts::set_roles(
                &mut tx,
                now,
                referent,
                epci,
                RoleSet::empty().with(Role::Agent),
                &actor()
            )
            .await
            .unwrap()
        );
        orgs::update_settings(
            &mut tx,
            now,
            commune,
            Some(&Email::parse("mairie@x.fr").unwrap()),
            &actor(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut c = p.db.read().await.unwrap();
        assert!(
            accounts::session_user(&mut c, now, &s1)
                .await
                .unwrap()
                .is_some(),
            "the current session stays"
        );
        assert!(
            accounts::session_user(&mut c, now, &s2)
                .await
                .unwrap()
                .is_none(),
            "the others end"
        );
        assert_eq!(
            accounts::org_users(&mut c, commune, None, None, 10)
                .await
                .unwrap()
                .items
                .len(),
            3
        );
        assert!(
            accounts::followed(&mut c, referent)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            accounts::referents_of(&mut c, commune)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            orgs::get(&mut c, commune)
                .await
                .unwrap()
                .unwrap()
                .contact_email
                .as_deref(),
            Some("mairie@x.fr")
        );
        let events = audit::list(
            &mut c,
            &JournalFilter {
                org: Some(commune),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
        let deactivations = events
            .items
            .iter()
            .filter(|e| e.action == "user.deactivated")
            .count();
        assert_eq!(deactivations, 1);
        let filtered = audit::list(
            &mut c,
            &JournalFilter {
                org: Some(commune),
                actor: None,
                action_prefix: Some("membership.".into()),
                from: Some(now),
                to: Some(now.checked_add(SignedDuration::from_secs(1)).unwrap()),
                platform_only: false,
            },
            None,
            100,
        )
        .await
        .unwrap();
        assert!(
            filtered
                .items
                .iter()
                .all(|e| e.action.starts_with("membership."))
        );
        assert!(!filtered.items.is_empty());
        drop(c);
        // Job lists and failures.
        let mut tx = p.db.begin().await.unwrap();
        for i in 0..3 {
            jobs::enqueue(
                &mut tx,
                now,
                NewJob::new("test.nobody", json!({ "i": i })).max_attempts(1),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(worker::drain(p, &Registry::new(), "w").await.unwrap(), 3);
        let mut c = p.db.read().await.unwrap();
        let dead = jobs::list(&mut c, Some(JobStatus::Dead), None, None, 2)
            .await
            .unwrap();
        assert_eq!(dead.items.len(), 2);
        let cursor = bouquet_store::page::Cursor::decode(dead.next.as_deref().unwrap()).unwrap();
        assert_eq!(
            jobs::list(
                &mut c,
                Some(JobStatus::Dead),
                Some("test.nobody"),
                Some(&cursor),
                2
            )
            .await
            .unwrap()
            .items
            .len(),
            1
        );
    });
}
