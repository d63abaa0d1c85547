//! The `bouquet` binary itself: its commands, exit codes and messages.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bouquet_store::db::{Db, DbOptions};
use bouquet_store::exec;

/// Runs the built binary on `data_dir` (SQLite and local files, whatever the environment).
pub fn bouquet(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bouquet"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("BOUQUET_DATABASE_URL")
        .env_remove("BOUQUET_STORAGE_URL")
        .output()
        .expect("bouquet")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_migrate_and_demo_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let o = bouquet(dir.path(), &["version"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        format!("bouquet {}", env!("CARGO_PKG_VERSION"))
    );
    let o = bouquet(dir.path(), &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Migration appliquée : platform 1"));
    let o = bouquet(dir.path(), &["migrate"]);
    assert!(stdout(&o).contains("Base à jour"));
    let o = bouquet(dir.path(), &["demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Territoire de démonstration créé"));
    let o = bouquet(dir.path(), &["demo"]);
    assert!(stdout(&o).contains("existe déjà"));
    let o = bouquet(dir.path(), &["users", "list"]);
    let out = stdout(&o);
    for email in [
        "admin@operateur.demo",
        "agent@commune.demo",
        "maire@commune.demo",
        "agent@epci.demo",
        "contact@entreprise.demo",
        "president@operateur.demo",
    ] {
        assert!(out.contains(email), "{email}");
    }
    assert!(out.contains("6 compte(s)."));
    let o = bouquet(dir.path(), &["users", "list", "--search", "guerin"]);
    assert!(stdout(&o).contains("agent@epci.demo") && stdout(&o).contains("1 compte(s)."));
}

#[test]
fn users_are_created_and_reset_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    assert!(bouquet(dir.path(), &["demo"]).status.success());
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "paul@retiers.fr",
            "--name",
            "Paul Martin",
            "--org",
            "213502396",
            "--role",
            "agent",
            "--title",
            "Secrétaire",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Compte créé")
            && stdout(&o).contains("/reinitialiser-mot-de-passe?jeton=")
    );
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "paul@retiers.fr",
            "--name",
            "Paul",
            "--org",
            "213502396",
            "--role",
            "agent",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("Un compte existe déjà"),
        "{}",
        stderr(&o)
    );
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "x@retiers.fr",
            "--name",
            "X",
            "--org",
            "213502396",
            "--role",
            "operator_admin",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ne peut pas être donné"));
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "x@retiers.fr",
            "--name",
            "X",
            "--org",
            "213502397",
            "--role",
            "agent",
        ],
    );
    assert!(stderr(&o).contains("clé de contrôle"));
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "x@retiers.fr",
            "--name",
            "X",
            "--org",
            "213502396",
            "--role",
            "roi",
        ],
    );
    assert!(stderr(&o).contains("Rôle inconnu"));
    let o = bouquet(
        dir.path(),
        &["users", "reset-password", "--email", "maire@commune.demo"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("jeton="), "printed, to hand over");
    let o = bouquet(
        dir.path(),
        &[
            "users",
            "reset-password",
            "--email",
            "maire@commune.demo",
            "--send",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("jeton="), "e-mailed, not printed");
    let o = bouquet(
        dir.path(),
        &["users", "reset-password", "--email", "personne@nulle.part"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("aucun compte"));
    let o = bouquet(dir.path(), &["jobs", "list", "--status", "pending"]);
    assert!(
        stdout(&o).contains("mail.password_link"),
        "the e-mail waits for a worker: {}",
        stdout(&o)
    );
    let o = bouquet(dir.path(), &["jobs", "list", "--status", "zombie"]);
    assert!(stderr(&o).contains("état inconnu"));
}

#[tokio::test]
async fn audit_verify_exits_zero_when_intact_and_names_the_first_altered_event() {
    let dir = tempfile::tempdir().unwrap();
    assert!(bouquet(dir.path(), &["demo"]).status.success());
    let o = bouquet(dir.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Le journal est intact."));
    let db = Db::connect(
        &format!("sqlite://{}", dir.path().join("bouquet.db").display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    exec!(&mut tx, sqlx::query("UPDATE audit_events SET actor_label = 'Quelqu''un d''autre' WHERE action = 'user.created' AND object_type = 'user' AND seq = (SELECT MIN(seq) FROM audit_events e2 WHERE e2.chain = audit_events.chain AND e2.action = 'user.created')")).unwrap();
    tx.commit().await.unwrap();
    db.close().await;
    let o = bouquet(dir.path(), &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("ALTÉRATION") && out.contains("a été modifié") && out.contains("(événement "),
        "{out}"
    );
    let o = bouquet(dir.path(), &["jobs", "retry", "no-such-job"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn serve_demo_prints_the_accounts_answers_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bouquet"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("BOUQUET_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let mut url = None;
        while let Some(Ok(line)) = lines.next() {
            if let Some(u) = line.strip_prefix(&format!(
                "Bouquet {} est prêt : ",
                env!("CARGO_PKG_VERSION")
            )) {
                url = Some(u.to_owned());
            }
            let done = line.starts_with("Courriels envoyés");
            printed.push(line);
            if done {
                break;
            }
        }
        (child, url.expect("URL printed"), printed.join("\n"))
    };
    let (mut child, url, printed) = start();
    assert!(printed.contains("Territoire de démonstration créé"));
    assert!(printed.contains("agent@epci.demo") && printed.contains("bouquet-demo"));
    let health = get(&format!("{url}/healthz"));
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait(&mut child);
    assert!(status.success(), "clean exit on SIGTERM");
    // Restarting keeps the data and does not seed twice; the shutdown checkpointed the journal.
    let (mut child, url, printed) = start();
    assert!(!printed.contains("Territoire de démonstration créé"));
    assert!(get(&format!("{url}/connexion")).contains("Connexion"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait(&mut child).success());
    let o = bouquet(dir.path(), &["audit", "verify"]);
    assert!(o.status.success());
    assert!(
        !stdout(&o).contains(" 0 point(s) de contrôle"),
        "{}",
        stdout(&o)
    );
}

fn get(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("bouquet did not stop within 10 s");
}

/// The counts `demo --scale` changes, and the journal's length.
async fn scale_counts(db: &Db) -> Vec<i64> {
    use bouquet_store::query::Query;
    let mut conn = db.read().await.unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM organisations",
        "SELECT COUNT(*) FROM organisations WHERE kind = 'entreprise'",
        "SELECT COUNT(*) FROM adhesion_members",
        "SELECT COUNT(*) FROM adhesion_status_history",
        "SELECT COUNT(*) FROM subscriptions",
        "SELECT COUNT(*) FROM users WHERE email LIKE '%@exemple.test'",
        "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email LIKE '%@exemple.test'",
        "SELECT COUNT(*) FROM search_docs",
        "SELECT COUNT(*) FROM audit_events",
        "SELECT COUNT(*) FROM adhesion_members m JOIN organisations o ON o.id = m.org_id WHERE o.kind = 'entreprise'",
        "SELECT COUNT(DISTINCT password_hash) FROM users WHERE email LIKE '%@exemple.test'",
    ] {
        out.push(Query::new(sql).fetch_count(&mut conn).await.unwrap());
    }
    out
}

#[tokio::test]
async fn demo_scale_seeds_the_realistic_size_once_on_both_engines() {
    use bouquet_adhesions::members::{self, MemberFilter};
    use bouquet_store::query::Query;
    for engine in crate::helpers::engines() {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::helpers::fresh_database(engine, dir.path()).await;
        let run = |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--database-url", url.as_str()]);
            bouquet(dir.path(), &all)
        };
        let o = run(&["demo", "--scale-factor", "0.02"]);
        assert_eq!(o.status.code(), Some(2), "--scale-factor needs --scale");
        let o = run(&["demo", "--scale", "--scale-factor", "0"]);
        assert_eq!(o.status.code(), Some(2), "{engine:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("facteur d'échelle"), "{}", stderr(&o));
        let o = run(&["demo", "--scale", "--scale-factor", "0.02"]);
        assert!(o.status.success(), "{engine:?}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("Territoire de démonstration créé")
                && stdout(&o).contains("Échelle réaliste créée"),
            "{}",
            stdout(&o)
        );

        let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
        let before = scale_counts(&db).await;
        // 0.02 × (2,000 members, 10,000 agents, 35,000 companies), on top of the demo's 5
        // members and its company.
        assert_eq!(before[1], 1 + 700, "{engine:?}: companies");
        assert_eq!(before[2], 5 + 40, "{engine:?}: members");
        assert!(before[3] >= 5 + 40, "{engine:?}: status history");
        assert!(before[4] > 40, "{engine:?}: subscriptions");
        assert_eq!(before[5], 200 + 700, "{engine:?}: seeded accounts");
        assert_eq!(before[6], 200 + 700, "{engine:?}: one membership each");
        assert_eq!(before[9], 0, "{engine:?}: a company is never a member");
        assert_eq!(before[10], 1, "{engine:?}: one shared hash");

        // A seeded commune is found by its name, accents and case ignored.
        let mut conn = db.read().await.unwrap();
        let (siren, name): (String, String) = Query::new(
            "SELECT o.siren, o.name FROM organisations o JOIN adhesion_members m ON m.org_id = o.id
             WHERE o.kind = 'commune' AND o.siren NOT IN ('213500051', '213502396', '213501364')
             ORDER BY o.siren LIMIT 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .pop()
        .expect("a seeded member commune");
        for query in [name.clone(), bouquet_kernel::text::normalize(&name)] {
            let filter = MemberFilter {
                query: Some(query.clone()),
                ..Default::default()
            };
            let page = members::list(&mut conn, &filter, "2026-01-01", None, 50)
                .await
                .unwrap();
            assert!(
                page.items.iter().any(|r| r.siren == siren),
                "{engine:?}: « {query} » finds {name}"
            );
        }
        // A seeded agent of a member, to sign in with below.
        let (agent,): (String,) = Query::new(
            "SELECT u.email FROM users u JOIN memberships ms ON ms.user_id = u.id
             JOIN adhesion_members m ON m.org_id = ms.org_id
             WHERE u.email LIKE '%@exemple.test' ORDER BY u.email LIMIT 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .pop()
        .expect("a seeded agent");
        drop(conn);

        // Twice: nothing changes.
        let o = run(&["demo", "--scale", "--scale-factor", "0.02"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("existent déjà"), "{}", stdout(&o));
        assert_eq!(scale_counts(&db).await, before, "{engine:?}: second run");
        db.close().await;

        // The agent signs in with the demo password.
        let mut child = Command::new(env!("CARGO_BIN_EXE_bouquet"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("BOUQUET_DATABASE_URL")
            .env_remove("BOUQUET_STORAGE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let prefix = format!("Bouquet {} est prêt : ", env!("CARGO_PKG_VERSION"));
        let base = lines
            .find_map(|l| {
                l.ok()
                    .and_then(|l| l.strip_prefix(&prefix).map(str::to_owned))
            })
            .expect("URL printed");
        let client = crate::helpers::browser();
        let html = client
            .get(format!("{base}/connexion"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = crate::helpers::csrf_of(&html);
        let r = client
            .post(format!("{base}/connexion"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("email", agent.as_str()),
                ("password", "bouquet-demo"),
                ("suite", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::SEE_OTHER,
            "{engine:?}: {agent}"
        );
        // Signed in: home leads to the organisation's space, which opens.
        let home = client.get(format!("{base}/")).send().await.unwrap();
        let location = home
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(location.starts_with("/o/"), "{engine:?}: {location}");
        let space = client
            .get(format!("{base}{location}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            space.status(),
            reqwest::StatusCode::OK,
            "{engine:?}: {location}"
        );
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(wait(&mut child).success());

        // The journal is intact: seeding, sign-in and the shutdown's checkpoints.
        let o = run(&["audit", "verify"]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("Le journal est intact."));
    }
}
