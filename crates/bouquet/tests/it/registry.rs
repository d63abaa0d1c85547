//! The registry of communes: `bouquet registry import|show`, what an import says changed
//! (with the fixtures of `crates/operator/adhesions/tests-data/registry/`), the mergers it
//! raises and their pages (`/admin/registre`), and every new route refused to those it is not
//! for.

use bouquet_adhesions::registry::Registry;
use bouquet_adhesions::registry_import::{self, Summary};
use bouquet_kernel::{Email, OrgId, Role, RoleSet, Siren};
use bouquet_store::audit::AuditActor;
use bouquet_store::db::{Db, DbOptions};
use bouquet_store::{Platform, accounts, orgs, run};
use bytes::Bytes;
use reqwest::StatusCode;

use crate::cli::{bouquet, stderr, stdout};
use crate::helpers::{TestApp, body, csrf_of, engines, fingerprint, spawn_app, spawn_app_on, text};

/// Ille-et-Vilaine, byte for byte from the embedded file.
const ACTUEL: &[u8] =
    include_bytes!("../../../operator/adhesions/tests-data/registry/banatic-35-actuel.csv");
/// The older snapshot derived from it (see the README beside it).
const ANCIEN: &[u8] =
    include_bytes!("../../../operator/adhesions/tests-data/registry/banatic-35-ancien.csv");
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../operator/adhesions/tests-data/registry"
);

/// Chancé in the old file (made-up SIREN), merged into Piré-Chancé in the current one.
const CHANCE: &str = "999350531";
const PIRE_CHANCE: &str = "200085884";
const OPERATOR: &str = "999999998";

fn actor() -> AuditActor {
    AuditActor {
        user_id: None,
        label: "Test".into(),
    }
}

/// Imports `bytes` as the operator would; returns the summary and the mergers raised.
async fn import(p: &Platform, bytes: &'static [u8], source: &str) -> (Summary, usize) {
    let plan = registry_import::prepare(p, Bytes::from_static(bytes), source, false, &|_| {})
        .await
        .expect("prepare");
    let applied = registry_import::apply(p, &plan, Bytes::from_static(bytes), &actor())
        .await
        .expect("apply");
    (plan.summary, applied.map_or(0, |a| a.mergers_raised))
}

async fn count(p: &Platform, sql: &'static str) -> i64 {
    let mut c = p.db.read().await.unwrap();
    run!(&mut c, |c| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(c)
        .await)
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// The fixtures and the summary

#[test]
fn the_current_fixture_is_the_embedded_file_for_one_departement() {
    let embedded = Registry::embedded().unwrap();
    let actuel = Registry::parse(ACTUEL).unwrap();
    let of_35 = |siren: &str| {
        embedded
            .epci_by_siren(siren)
            .is_some_and(|e| e.departement == "35")
    };
    let expected: Vec<_> = embedded
        .communes()
        .iter()
        .filter(|c| of_35(&c.epci_siren))
        .collect();
    assert_eq!(actuel.communes().iter().collect::<Vec<_>>(), expected);
    let epcis: Vec<_> = embedded
        .epcis()
        .iter()
        .filter(|e| e.departement == "35")
        .collect();
    assert_eq!(actuel.epcis().iter().collect::<Vec<_>>(), epcis);
    assert_eq!((actuel.communes().len(), actuel.epcis().len()), (353, 18));
    assert_eq!(actuel.population_year, 2025);
}

#[test]
fn the_old_fixture_differs_by_one_addition_one_merger_and_one_renaming() {
    let diff = Registry::parse(ANCIEN)
        .unwrap()
        .diff(&Registry::parse(ACTUEL).unwrap());
    let names = |v: &[bouquet_adhesions::registry::Commune]| {
        v.iter()
            .map(|c| format!("{} {}", c.insee, c.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&diff.added), ["35203 La Nouaye"]);
    assert_eq!(diff.merged.len(), 1);
    assert_eq!(diff.merged[0].into.siren, PIRE_CHANCE);
    assert_eq!(
        names(&diff.merged[0].from),
        ["35053 Chancé", "35220 Piré-sur-Seiche"]
    );
    assert_eq!(diff.renamed.len(), 1);
    assert_eq!(
        (
            diff.renamed[0].0.name.as_str(),
            diff.renamed[0].1.name.as_str()
        ),
        ("Le Theil", "Le Theil-de-Bretagne")
    );
    assert!(diff.removed.is_empty() && diff.moved.is_empty());
    assert!(diff.epci_added.is_empty() && diff.epci_removed.is_empty());
    assert_eq!(diff.population_changed, 0);
}

#[tokio::test]
async fn importing_the_old_file_then_the_current_one_says_what_changed() {
    crate::on_every_engine!(|case| {
        let p = &case.platform;
        import(p, ANCIEN, "banatic-35-ancien.csv").await;
        let (s, raised) = import(p, ACTUEL, "banatic-35-actuel.csv").await;
        assert_eq!(
            (s.added, s.merged, s.merged_communes, s.renamed),
            (1, 1, 2, 1)
        );
        assert_eq!(
            (
                s.removed,
                s.moved,
                s.epci_added,
                s.epci_removed,
                s.epci_renamed
            ),
            (0, 0, 0, 0, 0)
        );
        assert_eq!(s.population_changed, 0);
        assert_eq!((s.communes, s.epci, s.population_year), (353, 18, 2025));
        assert!(!s.previous_embedded);
        // No member on this platform: nothing to handle.
        assert_eq!(raised, 0);
        let text = registry_import::summary_text(&s);
        for expected in [
            "  communes nouvelles (fusions) : 1\n",
            "  communes fusionnées dans une commune nouvelle : 2\n",
            "  communes ajoutées : 1\n",
            "  communes renommées : 1\n",
            "  communes disparues : 0\n",
            "Fusions :\n  - Piré-Chancé (35220) ← Chancé (35053), Piré-sur-Seiche (35220)\n",
            "Communes renommées :\n  - Le Theil (35333) → Le Theil-de-Bretagne\n",
            "Communes ajoutées :\n  - La Nouaye (35203)\n",
        ] {
            assert!(text.contains(expected), "« {expected} » missing:\n{text}");
        }
        // The same file again: nothing to do, nothing recorded.
        let imports = count(p, "SELECT COUNT(*) FROM registry_imports").await;
        let events = count(p, "SELECT COUNT(*) FROM audit_events").await;
        let plan = registry_import::prepare(p, Bytes::from_static(ACTUEL), "x.csv", false, &|_| {})
            .await
            .unwrap();
        assert!(plan.unchanged);
        let applied = registry_import::apply(p, &plan, Bytes::from_static(ACTUEL), &actor())
            .await
            .unwrap();
        assert_eq!(applied, None);
        assert_eq!(
            count(p, "SELECT COUNT(*) FROM registry_imports").await,
            imports
        );
        assert_eq!(count(p, "SELECT COUNT(*) FROM audit_events").await, events);
        assert_eq!(imports, 2);
        let current = bouquet_adhesions::current::current(p).await.unwrap();
        assert!(!current.is_embedded());
        assert_eq!(current.communes().len(), 353);
    });
}

// ---------------------------------------------------------------------------------------
// The command line

/// The database and the stored files of a data directory, as a digest.
async fn state_of(dir: &std::path::Path) -> String {
    let db = Db::connect(
        &format!("sqlite://{}", dir.join("bouquet.db").display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    let digest = fingerprint(&db).await;
    db.close().await;
    let mut files: Vec<String> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("bouquet.db") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    format!("{digest} {files:?}")
}

#[tokio::test]
async fn the_command_line_refuses_bad_files_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(bouquet(dir.path(), &["migrate"]).status.success());
    let before = state_of(dir.path()).await;
    let inputs = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = inputs.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    // Malformed: Arbrissel's SIREN with a wrong key.
    let text = replaced(ANCIEN, b";213500051;", b";213500052;");
    let line = 1 + ANCIEN[..ANCIEN
        .windows(11)
        .position(|w| w == b";213500051;")
        .unwrap()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let malformed = write("malformé.csv", &text);
    // Wrong encoding: the file in UTF-16.
    let utf16: Vec<u8> = String::from_utf8_lossy(ACTUEL)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let utf16 = write("utf16.csv", &utf16);
    // Garbage: pseudo-random bytes.
    let mut state: u32 = 7;
    let random: Vec<u8> = (0..5_000)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect();
    let garbage = write("n'importe quoi.bin", &random);
    // Older populations than the registry in use (2025).
    let older = write(
        "ancien-2024.csv",
        &replaced(ANCIEN, b"ptot_2025;pmun_2025", b"ptot_2024;pmun_2024"),
    );
    let missing = inputs.path().join("absent.csv").display().to_string();
    for (file, reason) in [
        (
            &malformed,
            "SIREN invalide « 213500052 » (colonne siren_membre)",
        ),
        (
            &utf16,
            "fichier refusé : ce n'est pas un fichier BANATIC de périmètre des EPCI",
        ),
        (
            &garbage,
            "fichier refusé : ce n'est pas un fichier BANATIC de périmètre des EPCI",
        ),
        (
            &older,
            "plus anciennes que celles du référentiel en usage (2025) : relancez avec --force",
        ),
        (&missing, "absent.csv : fichier introuvable"),
    ] {
        for dry_run in [false, true] {
            let mut args = vec!["registry", "import", file.as_str()];
            if dry_run {
                args.push("--dry-run");
            }
            let o = bouquet(dir.path(), &args);
            assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.starts_with("Erreur : "), "{err}");
            assert!(err.contains(reason), "{file}: {err}");
            assert!(err.contains("Rien n'a été modifié."), "{err}");
            assert_eq!(state_of(dir.path()).await, before, "{file}");
        }
    }
    // The malformed file names its line.
    let o = bouquet(dir.path(), &["registry", "import", &malformed]);
    assert!(
        stderr(&o).contains(&format!("fichier refusé : ligne {line} : SIREN invalide")),
        "{}",
        stderr(&o)
    );
    // --force takes the older file.
    let o = bouquet(dir.path(), &["registry", "import", &older, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Référentiel importé"));
    assert_ne!(state_of(dir.path()).await, before);
}

/// `bytes` with the first `from` replaced by `to` (the fixtures are Windows-1252; the
/// patterns are ASCII, so a byte replacement is exact).
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern");
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[tokio::test]
async fn the_command_line_imports_shows_and_simulates() {
    let dir = tempfile::tempdir().unwrap();
    let ancien = format!("{FIXTURES}/banatic-35-ancien.csv");
    let actuel = format!("{FIXTURES}/banatic-35-actuel.csv");
    assert!(bouquet(dir.path(), &["migrate"]).status.success());

    let o = bouquet(dir.path(), &["registry", "show"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Référentiel en usage : fichier officiel BANATIC fourni avec Bouquet"));
    assert!(out.contains("Populations : 2025") && out.contains("34871 communes, 1255 EPCI"));
    assert!(out.contains("Aucun import"));

    // --dry-run prints the summary and changes nothing.
    let before = state_of(dir.path()).await;
    let o = bouquet(dir.path(), &["registry", "import", &ancien, "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("Fichier banatic-35-ancien.csv : populations 2025, 353 communes et 18 EPCI.")
    );
    assert!(stdout(&o).contains("Simulation (--dry-run) : rien n'a été modifié."));
    assert_eq!(state_of(dir.path()).await, before);

    let o = bouquet(dir.path(), &["registry", "import", &ancien]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Référentiel importé"));

    let o = bouquet(dir.path(), &["registry", "import", &actuel, "--dry-run"]);
    let simulated = stdout(&o);
    let o = bouquet(dir.path(), &["registry", "import", &actuel]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "Référentiel en usage jusqu'ici : fichier importé, populations 2025.",
        "  communes ajoutées : 1\n",
        "  communes nouvelles (fusions) : 1\n",
        "  communes renommées : 1\n",
        "  communes disparues : 0\n",
        "Fusions :\n  - Piré-Chancé (35220) ← Chancé (35053), Piré-sur-Seiche (35220)\n",
        "Communes renommées :\n  - Le Theil (35333) → Le Theil-de-Bretagne\n",
        "Communes ajoutées :\n  - La Nouaye (35203)\n",
        "Membres concernés : aucun.",
        "Référentiel importé",
    ] {
        assert!(out.contains(expected), "« {expected} » missing:\n{out}");
    }
    // The simulation said the same.
    assert!(simulated.starts_with(out.split("Référentiel importé").next().unwrap()));

    // The same file again: nothing changes.
    let before = state_of(dir.path()).await;
    let o = bouquet(dir.path(), &["registry", "import", &actuel]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("déjà le référentiel en usage"),
        "{}",
        stdout(&o)
    );
    assert_eq!(state_of(dir.path()).await, before);

    let o = bouquet(dir.path(), &["registry", "show"]);
    let out = stdout(&o);
    assert!(
        out.contains("Référentiel en usage : fichier importé « banatic-35-actuel.csv »"),
        "{out}"
    );
    assert!(out.contains("353 communes, 18 EPCI"), "{out}");
    assert!(out.contains("Fusions de communes membres à traiter : 0"));
    assert!(out.contains("Derniers imports (le plus récent d'abord) :"));
    assert!(out.contains("« banatic-35-actuel.csv », populations 2025, 353 communes, 18 EPCI, par Ligne de commande — 1 commune nouvelle (2 communes fusionnées) ; 1 commune ajoutée ; 1 commune renommée"), "{out}");
    assert!(out.contains("« banatic-35-ancien.csv »"));
}

// ---------------------------------------------------------------------------------------
// Mergers over HTTP

fn today(app: &TestApp) -> String {
    orgs::local_date(
        app.platform.clock.now(),
        &bouquet_kernel::clock::time_zone("Europe/Paris"),
    )
}

async fn org_id(p: &Platform, siren: &str) -> Option<OrgId> {
    let mut c = p.db.read().await.unwrap();
    orgs::get_by_siren(&mut c, &Siren::parse(siren).unwrap())
        .await
        .unwrap()
        .map(|o| o.id().unwrap())
}

/// The platform on the old file; Chancé a member with one person and a subscription; then
/// the current file, which shows Chancé merged into Piré-Chancé. Returns the merger's id.
async fn chance_merged(app: &TestApp, admin: &reqwest::Client) -> String {
    let p = &app.platform;
    import(p, ANCIEN, "banatic-35-ancien.csv").await;
    let r = app
        .post_form(
            admin,
            &format!("/admin/membres/nouveau/{CHANCE}"),
            &[
                ("status", "membre"),
                ("effective_date", "2026-01-15"),
                ("college", "Communes"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .post_form(
            admin,
            &format!("/admin/membres/{CHANCE}/abonnements"),
            &[("service", "actes"), ("start_date", "2026-02-01")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let chance = org_id(p, CHANCE).await.unwrap();
    let mut tx = p.db.begin().await.unwrap();
    let now = p.clock.now();
    let hash = accounts::hash_password("bouquet-demo").unwrap();
    let user = accounts::create_user(
        &mut tx,
        now,
        &Email::parse("mairie@chance.test").unwrap(),
        "Claire Mairie-Chancé",
        Some(&hash),
        Some(chance),
        &actor(),
    )
    .await
    .unwrap();
    let mut roles = RoleSet::empty();
    roles.insert(Role::Agent);
    roles.insert(Role::MemberAdmin);
    accounts::grant(
        &mut tx,
        now,
        user,
        chance,
        roles,
        Some("Secrétaire de mairie"),
        &actor(),
    )
    .await
    .unwrap();
    // An invitation still open: it must follow the commune into the commune nouvelle.
    bouquet_store::invitations::create(
        &mut tx,
        now,
        chance,
        &bouquet_store::invitations::NewInvitation {
            email: &Email::parse("adjoint@chance.test").unwrap(),
            display_name: "Paul Adjoint",
            roles: RoleSet::from_iter([Role::Agent]),
            title: None,
        },
        user,
        &actor(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let (summary, raised) = import(p, ACTUEL, "banatic-35-actuel.csv").await;
    assert_eq!(raised, 1);
    assert_eq!(summary.members.len(), 1);
    assert!(summary.members[0].change.contains("Piré-Chancé"));
    let (status, html) = text(admin, app.url("/admin/registre")).await;
    assert_eq!(status, StatusCode::OK);
    let marker = "/admin/registre/fusions/";
    let at = html.find(marker).expect("a merger to handle") + marker.len();
    html[at..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn the_operator_moves_a_merged_member_to_the_commune_nouvelle() {
    for engine in engines() {
        let app = spawn_app_on(engine).await;
        let admin = app.login("admin@operateur.demo").await;

        // Before any import: the registry in use and a clear empty state.
        let (status, html) = text(&admin, app.url("/admin/registre")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Fichier officiel BANATIC fourni avec Bouquet"));
        assert!(html.contains("Aucune fusion à traiter."));
        assert!(html.contains("Aucun fichier importé."));

        let id = chance_merged(&app, &admin).await;
        let p = &app.platform;
        let (_, html) = text(&admin, app.url("/admin/registre")).await;
        assert!(
            html.contains("Fichier importé « banatic-35-actuel.csv »"),
            "{engine:?}"
        );
        assert!(html.contains("Chancé") && html.contains("Piré-Chancé (INSEE 35220)"));
        assert!(html.contains("1 commune nouvelle (2 communes fusionnées)"));
        assert!(html.contains("Le Theil (35333) → Le Theil-de-Bretagne"));
        assert!(!html.contains("Aucune fusion à traiter."));
        // The operator is told: the dashboard's "À faire", the administration card, a mail.
        let (_, dashboard) = text(&admin, app.url(&format!("/o/{OPERATOR}/"))).await;
        assert!(dashboard.contains("1 commune membre a fusionné dans une commune nouvelle"));
        assert!(dashboard.contains("/admin/registre"));
        let (_, cards) = text(&admin, app.url("/admin")).await;
        assert!(cards.contains("1 fusion de commune membre à traiter"));
        app.drain_jobs().await;
        assert!(
            app.sent_mails()
                .iter()
                .any(|m| m.subject.contains("Chancé a fusionné"))
        );

        // What moving will do.
        let (status, html) = text(&admin, app.url(&format!("/admin/registre/fusions/{id}"))).await;
        assert_eq!(status, StatusCode::OK);
        for expected in [
            "Ce que fera le transfert",
            "Claire Mairie-Chancé",
            "elle sera créée à partir du référentiel",
            "Déplacé vers la commune nouvelle",
            "Transférer vers la commune nouvelle",
            "Ignorer cette alerte",
        ] {
            assert!(html.contains(expected), "{expected}");
        }
        // The confirmation step.
        let (status, html) = text(
            &admin,
            app.url(&format!("/admin/registre/fusions/{id}/transfert")),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Confirmer le transfert") && html.contains("name=\"_csrf\""));

        let mergers_before = count(
            p,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'member.merged'",
        )
        .await;
        assert_eq!(mergers_before, 0);
        // Without the CSRF token: refused, nothing moved.
        let r = admin
            .post(app.url(&format!("/admin/registre/fusions/{id}/transfert")))
            .form(&[("effective_date", today(&app).as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // A date in the future: refused at the field.
        let r = app
            .post_form(
                &admin,
                &format!("/admin/registre/fusions/{id}/transfert"),
                &[("effective_date", "2099-01-01")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("ne peut pas être dans le futur"));
        assert!(org_id(p, PIRE_CHANCE).await.is_none());
        assert_eq!(
            count(
                p,
                "SELECT COUNT(*) FROM registry_mergers WHERE status = 'a_traiter'"
            )
            .await,
            1
        );

        let history = count(p, "SELECT COUNT(*) FROM adhesion_status_history").await;
        let r = app
            .post_form(
                &admin,
                &format!("/admin/registre/fusions/{id}/transfert"),
                &[("effective_date", &today(&app))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{engine:?}");
        assert_eq!(
            r.headers()["location"],
            format!("/admin/membres/{PIRE_CHANCE}")
        );

        // Membership, people and history are the commune nouvelle's.
        let chance = org_id(p, CHANCE).await.unwrap();
        let pire = org_id(p, PIRE_CHANCE)
            .await
            .expect("created from the registry");
        let mut c = p.db.read().await.unwrap();
        let new_state = bouquet_adhesions::members::get(&mut c, pire)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new_state.status, "membre");
        assert_eq!(new_state.college.as_deref(), Some("Communes"));
        let old_state = bouquet_adhesions::members::get(&mut c, chance)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(old_state.status, "fusionne");
        assert_eq!(old_state.merged_into, Some(pire.to_string()));
        let old_history = bouquet_adhesions::members::history(&mut c, chance)
            .await
            .unwrap();
        assert_eq!(old_history.len(), 1);
        assert_eq!(old_history[0].status, "fusionne");
        let new_history = bouquet_adhesions::members::history(&mut c, pire)
            .await
            .unwrap();
        // Chancé's enrolment, then the commune nouvelle's own.
        assert_eq!(new_history.len(), 2);
        assert!(new_history.iter().any(|h| h.effective_date == "2026-01-15"));
        let users = accounts::org_users(&mut c, pire, None, None, 20)
            .await
            .unwrap();
        assert_eq!(users.items.len(), 1);
        assert_eq!(users.items[0].email, "mairie@chance.test");
        let left = accounts::org_users(&mut c, chance, None, None, 20)
            .await
            .unwrap();
        assert!(left.items.is_empty());
        let subs = orgs::subscriptions(&mut c, pire).await.unwrap();
        assert_eq!(subs.len(), 1);
        drop(c);
        assert_eq!(
            count(p, "SELECT COUNT(*) FROM invitations WHERE email = 'adjoint@chance.test' AND org_id IN (SELECT id FROM organisations WHERE siren = '200085884')").await,
            1,
            "the open invitation follows"
        );
        // Two history lines more: the commune nouvelle's enrolment and Chancé's "Fusionné".
        assert_eq!(
            count(p, "SELECT COUNT(*) FROM adhesion_status_history").await,
            history + 2
        );
        // One journal entry for the move.
        assert_eq!(
            count(
                p,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'member.merged'"
            )
            .await,
            1
        );

        // What the pages show.
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{PIRE_CHANCE}"))).await;
        assert!(html.contains("La fusion a été enregistrée"));
        assert!(html.contains("Claire Mairie-Chancé"));
        let (_, html) = text(&admin, app.url(&format!("/admin/membres/{CHANCE}"))).await;
        assert!(html.contains("Fusionné dans une commune nouvelle"));
        let (_, html) = text(&admin, app.url("/admin/registre")).await;
        assert!(html.contains("Aucune fusion à traiter."));
        assert!(html.contains("Fusion enregistrée"));
        let (_, html) = text(&admin, app.url(&format!("/admin/registre/fusions/{id}"))).await;
        assert!(html.contains("Fusion enregistrée") && !html.contains("Ignorer cette alerte"));
        let (_, dashboard) = text(&admin, app.url(&format!("/o/{OPERATOR}/"))).await;
        assert!(!dashboard.contains("a fusionné dans une commune nouvelle"));

        // Once only.
        let r = app
            .post_form(
                &admin,
                &format!("/admin/registre/fusions/{id}/transfert"),
                &[("effective_date", &today(&app))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body(r).await.contains("a déjà été enregistrée"));
        assert_eq!(
            count(
                p,
                "SELECT COUNT(*) FROM audit_events WHERE action = 'member.merged'"
            )
            .await,
            1
        );

        // The secretary now works in the commune nouvelle.
        let secretary = app.login("mairie@chance.test").await;
        let (status, _) = text(&secretary, app.url(&format!("/o/{PIRE_CHANCE}/"))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = text(&secretary, app.url(&format!("/o/{CHANCE}/"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Importing the same file again raises nothing again.
        let (_, raised) = import(p, ACTUEL, "banatic-35-actuel.csv").await;
        assert_eq!(raised, 0);
        assert_eq!(count(p, "SELECT COUNT(*) FROM registry_mergers").await, 1);
    }
}

#[tokio::test]
async fn a_false_alarm_is_ignored_with_its_reason() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let id = chance_merged(&app, &admin).await;
    let before = app.fingerprint().await;
    let r = app
        .post_form(
            &admin,
            &format!("/admin/registre/fusions/{id}/ignorer"),
            &[("reason", "  ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body(r)
            .await
            .contains("Dites pourquoi cette alerte est ignorée")
    );
    assert_eq!(app.fingerprint().await, before);

    let r = app
        .post_form(
            &admin,
            &format!("/admin/registre/fusions/{id}/ignorer"),
            &[("reason", "Vérifié en préfecture : pas de fusion.")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin/registre");
    let p = &app.platform;
    assert_eq!(
        count(
            p,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'registry.merger_ignored'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            p,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'member.merged'"
        )
        .await,
        0
    );
    let (_, html) = text(&admin, app.url("/admin/registre")).await;
    assert!(html.contains("L'alerte de fusion a été ignorée"));
    assert!(html.contains("Aucune fusion à traiter.") && html.contains("Ignorée"));
    let (_, html) = text(&admin, app.url(&format!("/admin/registre/fusions/{id}"))).await;
    assert!(html.contains("Vérifié en préfecture : pas de fusion."));
    // Chancé is still a member, the commune nouvelle was not created.
    let (_, html) = text(&admin, app.url(&format!("/admin/membres/{CHANCE}"))).await;
    assert!(html.contains("Membre, depuis le"));
    assert!(org_id(p, PIRE_CHANCE).await.is_none());
    // Handled: moving is refused now.
    let r = app
        .post_form(
            &admin,
            &format!("/admin/registre/fusions/{id}/transfert"),
            &[("effective_date", &today(&app))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("Cette alerte a été ignorée"));
}

#[tokio::test]
async fn registry_pages_are_refused_to_members_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    let id = chance_merged(&app, &admin).await;
    let today = today(&app);
    // A member administrator (Arbrissel), an agent of another organisation (the EPCI's
    // référent), a company user.
    for email in [
        "agent@commune.demo",
        "agent@epci.demo",
        "contact@entreprise.demo",
    ] {
        let client = app.login(email).await;
        let before = app.fingerprint().await;
        for path in [
            "/admin/registre".to_owned(),
            format!("/admin/registre/fusions/{id}"),
            format!("/admin/registre/fusions/{id}/transfert"),
            // An unknown merger: the same refusal, nothing revealed.
            "/admin/registre/fusions/inconnue".into(),
        ] {
            let (status, html) = text(&client, app.url(&path)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{email} {path}");
            assert!(
                html.contains("réservée à l'équipe de l'opérateur"),
                "{email} {path}"
            );
        }
        let token = csrf_of(&text(&client, app.url("/mentions-legales")).await.1);
        for (path, form) in [
            (
                format!("/admin/registre/fusions/{id}/transfert"),
                vec![("effective_date", today.as_str())],
            ),
            (
                format!("/admin/registre/fusions/{id}/ignorer"),
                vec![("reason", "Je n'ai rien à faire ici")],
            ),
            (
                "/admin/registre/fusions/inconnue/ignorer".into(),
                vec![("reason", "x")],
            ),
        ] {
            let mut fields = vec![("_csrf", token.as_str())];
            fields.extend(form);
            let r = client
                .post(app.url(&path))
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} {path}");
            assert!(body(r).await.contains("réservée à l'équipe de l'opérateur"));
        }
        // Not on their dashboard either.
        let (_, html) = text(&client, app.url("/admin")).await;
        assert!(!html.contains("Référentiel des communes"), "{email}");
        assert_eq!(app.fingerprint().await, before, "{email}");
    }
    // The merger is still waiting for the operator.
    assert_eq!(
        count(
            &app.platform,
            "SELECT COUNT(*) FROM registry_mergers WHERE status = 'a_traiter'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_unknown_merger_is_not_found_for_the_operator() {
    let app = spawn_app().await;
    let admin = app.login("admin@operateur.demo").await;
    for path in [
        "/admin/registre/fusions/inconnue",
        "/admin/registre/fusions/inconnue/transfert",
    ] {
        let (status, html) = text(&admin, app.url(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("n'existe pas"), "{path}");
    }
}
