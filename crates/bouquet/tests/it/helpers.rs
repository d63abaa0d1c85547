//! Test helpers: databases on both engines, a real server on a random port, sessions.

use std::path::PathBuf;
use std::sync::Arc;

use bouquet::app::{Application, open_platform};
use bouquet::config::Config;
use bouquet_kernel::ManualClock;
use bouquet_store::{Db, Engine, Platform, exec, worker};
use jiff::Timestamp;
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode, redirect};
use tokio_util::sync::CancellationToken;

/// The instant every test starts at.
pub fn start_time() -> Timestamp {
    "2026-11-23T09:00:00Z".parse().expect("instant")
}

/// Which engines the store suite runs on: SQLite always, PostgreSQL when
/// `BOUQUET_TEST_DATABASE_URL` points at a server where databases can be created.
pub fn engines() -> Vec<Engine> {
    let mut e = vec![Engine::Sqlite];
    if std::env::var("BOUQUET_TEST_DATABASE_URL").is_ok() {
        e.push(Engine::Postgres);
    }
    e
}

/// A fresh, empty database of `engine`; the directory holds the SQLite file and the blobs.
pub async fn fresh_database(engine: Engine, dir: &std::path::Path) -> String {
    match engine {
        Engine::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Engine::Postgres => {
            let admin =
                std::env::var("BOUQUET_TEST_DATABASE_URL").expect("BOUQUET_TEST_DATABASE_URL");
            let name = format!("bq_{}", uuid::Uuid::new_v4().simple());
            let db = Db::connect(&admin, &Default::default())
                .await
                .expect("admin connection");
            let mut c = db.read().await.expect("connection");
            exec!(
                &mut c,
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            )
            .expect("create database");
            drop(c);
            db.close().await;
            let mut url = url::Url::parse(&admin).expect("url");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

/// A configuration for tests: a temporary data directory, a manual clock, quiet.
pub fn config(dir: &std::path::Path, database_url: String, clock: Arc<ManualClock>) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(database_url),
        storage_url: None,
        listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: None,
        demo: true,
        smtp_url: None,
        mail_from: None,
        operator_name: None,
        workers: 0,
        trust_proxy: false,
        tsa_url: None,
        prefecture_url: None,
        prefecture_token: None,
        clock,
        max_connections: 5,
    }
}

/// A platform (migrated, empty) on one engine, for the store suite.
pub struct StoreCase {
    pub platform: Platform,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub url: String,
}

pub async fn store_case(engine: Engine) -> StoreCase {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(engine, dir.path()).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut cfg = config(dir.path(), url.clone(), clock.clone());
    cfg.demo = false;
    let (platform, _) = open_platform(&cfg, &bouquet::modules())
        .await
        .expect("platform");
    StoreCase {
        platform,
        clock,
        dir,
        url,
    }
}

/// Runs `body` once per engine, saying which engine failed.
#[macro_export]
macro_rules! on_every_engine {
    (|$case:ident| $body:block) => {{
        for engine in $crate::helpers::engines() {
            let $case = $crate::helpers::store_case(engine).await;
            let result =
                futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async { $body }))
                    .await;
            if let Err(panic) = result {
                eprintln!("échec sur le moteur {:?}", engine);
                std::panic::resume_unwind(panic);
            }
        }
    }};
}

/// A running server with the demo territory, on SQLite.
pub struct TestApp {
    pub base: String,
    pub platform: Platform,
    pub state: bouquet_webkit::AppState,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    /// The e-mails the jobs due at start-up sent (the daily reminders of the demo); the
    /// outbox is emptied after them, so that each test sees only the mails it caused.
    pub startup_mails: Vec<bouquet_store::mail::SentMail>,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Engine::Sqlite).await
}

pub async fn spawn_app_on(engine: Engine) -> TestApp {
    spawn_app_with(engine, bouquet::modules(), true).await
}

/// A server with the given modules, in demo mode or not.
pub async fn spawn_app_with(
    engine: Engine,
    modules: Vec<Arc<dyn bouquet_webkit::Module>>,
    demo: bool,
) -> TestApp {
    spawn_app_configured(engine, modules, demo, |_| {}).await
}

/// A server whose configuration `tweak` adjusts first (e.g. an external TSA).
pub async fn spawn_app_configured(
    engine: Engine,
    modules: Vec<Arc<dyn bouquet_webkit::Module>>,
    demo: bool,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(engine, dir.path()).await;
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut cfg = config(dir.path(), url, clock.clone());
    cfg.demo = true;
    tweak(&mut cfg);
    let app = Application::build(cfg.clone(), modules.clone())
        .await
        .expect("application");
    let app = if demo {
        app
    } else {
        // Seeded as in the demo, then restarted without demo mode.
        drop(app);
        cfg.demo = false;
        Application::build(cfg, modules).await.expect("application")
    };
    let base = format!("http://{}", app.addr());
    let platform = app.platform().clone();
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        let _ = app.run_until_stopped(token).await;
    });
    worker::drain(&platform, &state.registry, "test")
        .await
        .expect("start-up jobs");
    let outbox = dir.path().join("emails");
    let startup_mails = bouquet_store::mail::list_sent(&outbox).expect("mails");
    if outbox.exists() {
        std::fs::remove_dir_all(&outbox).expect("outbox");
    }
    TestApp {
        base,
        platform,
        state,
        clock,
        dir,
        startup_mails,
        shutdown,
    }
}

/// A browser: keeps cookies, does not follow redirects.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `_csrf` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    html.find(marker)
        .map(|i| {
            let rest = &html[i + marker.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .unwrap_or_default()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser signed in as `email` (demo password).
    pub async fn login(&self, email: &str) -> Client {
        let client = browser();
        let r = self
            .post_form(
                &client,
                "/connexion",
                &[
                    ("email", email),
                    ("password", "bouquet-demo"),
                    ("suite", "/"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "connexion de {email}");
        client
    }

    /// The browser's CSRF token, read from a page with a form (the logout button when
    /// signed in, the login form otherwise).
    pub async fn csrf(&self, client: &Client) -> String {
        for path in ["/mentions-legales", "/connexion"] {
            let html = client
                .get(self.url(path))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text");
            let token = csrf_of(&html);
            if !token.is_empty() {
                return token;
            }
        }
        panic!("pas de jeton CSRF");
    }

    /// Submits a form the way a browser does: GET a page for the token, then POST.
    pub async fn post_form(
        &self,
        client: &Client,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let token = self.csrf(client).await;
        let mut form: Vec<(&str, &str)> = vec![("_csrf", &token)];
        form.extend_from_slice(fields);
        client
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .expect("post")
    }

    /// A bearer token for `email` through the API.
    pub async fn api_token(&self, email: &str) -> String {
        let r = browser()
            .post(self.url("/api/v1/auth/token"))
            .json(&serde_json::json!({ "email": email, "password": "bouquet-demo" }))
            .send()
            .await
            .expect("token");
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub fn api(&self, token: &str) -> ApiClient {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        ApiClient {
            client: Client::builder()
                .default_headers(headers)
                .redirect(redirect::Policy::none())
                .build()
                .expect("client"),
            base: self.base.clone(),
        }
    }

    /// Runs every due job now (the test servers run no workers).
    pub async fn drain_jobs(&self) -> usize {
        worker::drain(&self.platform, &self.state.registry, "test")
            .await
            .expect("jobs")
    }

    /// The e-mails written so far (demo mode), newest first.
    pub fn sent_mails(&self) -> Vec<bouquet_store::mail::SentMail> {
        bouquet_store::mail::list_sent(&self.dir.path().join("emails")).expect("mails")
    }

    /// A digest of every table that a request may not change (sessions, throttling and the
    /// last use of tokens excluded), to prove that a refused request changed nothing.
    pub async fn fingerprint(&self) -> String {
        fingerprint(&self.platform.db).await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// See [`TestApp::fingerprint`]. SQLite only (the HTTP tests run on SQLite).
pub async fn fingerprint(db: &Db) -> String {
    use sha2::{Digest, Sha256};
    let mut c = db.read().await.expect("conn");
    let bouquet_store::Conn::Sqlite(conn) = bouquet_store::Handle::conn(&mut c) else {
        panic!("fingerprint: SQLite only");
    };
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'search_fts%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables");
    let mut h = Sha256::new();
    for t in tables {
        if ["sessions", "login_throttle"].contains(&t.as_str()) {
            continue;
        }
        let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{t}') ORDER BY cid"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("columns");
        let cols: Vec<String> = cols
            .into_iter()
            .filter(|c| !(t == "api_tokens" && c == "last_used_at"))
            .map(|c| format!("quote({c})"))
            .collect();
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {t} ORDER BY 1",
            cols.join(" || '|' || ")
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("rows");
        h.update(t.as_bytes());
        for r in rows {
            h.update(r.as_bytes());
            h.update(b"\n");
        }
    }
    hex::encode(h.finalize())
}

/// An API client with a bearer token.
pub struct ApiClient {
    pub client: Client,
    pub base: String,
}

impl ApiClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("get")
    }
}

/// Reads a response as a problem document and checks it is one.
pub async fn problem(r: Response, status: StatusCode) -> serde_json::Value {
    assert_eq!(r.status(), status, "statut");
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: serde_json::Value = r.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "detail vide");
    body
}

/// A page: its status and its HTML with the entities the templates write put back into
/// characters (so that tests can look for French text as written).
pub async fn text(client: &Client, url: String) -> (reqwest::StatusCode, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status(), body(r).await)
}

/// See [`text`].
pub async fn body(r: reqwest::Response) -> String {
    r.text()
        .await
        .unwrap()
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
