//! The application: what `bouquet serve` runs, and what the integration tests start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bouquet_kernel::clock::to_micros;
use bouquet_store::blobs::Blobs;
use bouquet_store::db::{Db, DbOptions};
use bouquet_store::keys::PlatformKeys;
use bouquet_store::mail::Mailer;
use bouquet_store::migrate::{self, MigrationReport, MigrationSet};
use bouquet_store::platform::PlatformSettings;
use bouquet_store::worker::{self, Registry, WorkerOptions};
use bouquet_store::{Platform, accounts, audit, jobs};
use bouquet_webkit::module::Schedule;
use bouquet_webkit::{AppState, Module};
use jiff::SignedDuration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The database URL: the one configured, or SQLite in the data directory.
fn database_url(config: &Config) -> (String, bool) {
    match &config.database_url {
        Some(url) => (url.clone(), url.contains("mode=rwc")),
        None => (
            format!("sqlite://{}", config.data_dir.join("bouquet.db").display()),
            true,
        ),
    }
}

/// Opens the database, the storage, the keys and the mailer, and applies the migrations of
/// every module.
pub async fn open_platform(
    config: &Config,
    modules: &[Arc<dyn Module>],
) -> anyhow::Result<(Platform, MigrationReport)> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "impossible de créer le répertoire de données {}",
            config.data_dir.display()
        )
    })?;
    let (url, create) = database_url(config);
    let db = Db::connect(
        &url,
        &DbOptions {
            max_connections: config.max_connections,
            create_sqlite: create,
        },
    )
    .await
    .context("ouverture de la base de données")?;
    let sets: Vec<&MigrationSet> = modules.iter().filter_map(|m| m.migrations()).collect();
    let report = migrate::migrate(&db, &sets, to_micros(config.clock.now()))
        .await
        .context("migrations")?;
    let blobs = match &config.storage_url {
        Some(url) => Blobs::from_url(url),
        None => Blobs::local(&config.data_dir.join("blobs")),
    }
    .context("ouverture du stockage des fichiers")?;
    let keys = PlatformKeys::load_or_create(&config.data_dir.join("platform-key.pem"))
        .context("clé de la plateforme")?;
    let mailer = Mailer::new(config.smtp_url.as_deref(), &config.data_dir)?;
    let public_url = match &config.public_url {
        Some(u) => u.clone(),
        None => {
            url::Url::parse(&format!("http://{}", config.listen)).context("adresse publique")?
        }
    };
    let settings = PlatformSettings {
        public_url,
        demo: config.demo,
        data_dir: config.data_dir.clone(),
        // The display name is quoted: "(démo)" would otherwise read as an RFC 5322 comment.
        mail_from: config.mail_from.clone().unwrap_or_else(|| {
            format!(
                "\"{}\" <ne-pas-repondre@bouquet.localhost>",
                config.operator_name().replace(['"', '\\'], "")
            )
        }),
        operator_name: config.operator_name(),
        trust_proxy: config.trust_proxy,
        tsa_url: config.tsa_url.clone(),
        prefecture_url: config.prefecture_url.clone(),
        prefecture_token: config.prefecture_token.clone(),
    };
    let platform = Platform {
        db,
        blobs,
        clock: config.clock.clone(),
        keys: Arc::new(keys),
        mailer: Arc::new(mailer),
        job_signal: Arc::new(Notify::new()),
        settings: Arc::new(settings),
    };
    Ok((platform, report))
}

/// Job handlers and subscriptions of every module.
pub fn registry(modules: &[Arc<dyn Module>]) -> Registry {
    let mut registry = Registry::new();
    for m in modules {
        m.register_jobs(&mut registry);
    }
    registry
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    state: AppState,
    workers: usize,
    /// Set when this start created the demo territory.
    pub seeded_demo: bool,
    /// The préfecture simulator started for the demo (when no préfecture is configured).
    prefecture: Option<bouquet_sim_prefecture::Simulator>,
}

impl Application {
    /// Opens everything and binds the listener (port 0 picks a free port).
    pub async fn build(mut config: Config, modules: Vec<Arc<dyn Module>>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("impossible d'écouter sur {}", config.listen))?;
        let addr = listener.local_addr()?;
        if config.public_url.is_none() {
            // Links in e-mails need the real port (0 picks one).
            config.public_url =
                Some(url::Url::parse(&format!("http://{addr}")).context("adresse publique")?);
        }
        let prefecture = start_prefecture_simulator(&mut config).await?;
        let (platform, _) = open_platform(&config, &modules).await?;
        let seeded_demo = if config.demo {
            crate::demo::seed_if_new(&platform, &modules)
                .await?
                .is_some()
        } else {
            false
        };
        // The periodic jobs due now are enqueued before the first request, not at the
        // ticker's whim: what a start owes is known when `build` returns.
        let schedules: Vec<_> = modules.iter().flat_map(|m| m.schedules()).collect();
        enqueue_due(&platform, &schedules).await?;
        let registry = Arc::new(registry(&modules));
        let state = AppState::new(
            platform,
            modules,
            registry,
            bouquet_webkit::metrics::recorder(),
        );
        let router = bouquet_web::compose(state.clone());
        Ok(Self {
            listener,
            addr,
            router,
            state,
            workers: config.workers,
            seeded_demo,
            prefecture,
        })
    }

    /// The préfecture simulator that `serve --demo` started, if it did: its page is at
    /// [`url`](bouquet_sim_prefecture::Simulator::url), its actions on its
    /// [`state`](bouquet_sim_prefecture::Simulator::state).
    pub fn prefecture_simulator(&self) -> Option<&bouquet_sim_prefecture::Simulator> {
        self.prefecture.as_ref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn platform(&self) -> &Platform {
        &self.state.platform
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then finishes the jobs in hand and checkpoints
    /// the journal.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let platform = self.state.platform.clone();
        let workers = worker::spawn(
            platform.clone(),
            self.state.registry.clone(),
            WorkerOptions {
                workers: self.workers,
                ..WorkerOptions::default()
            },
            shutdown.clone(),
        );
        let schedules: Vec<_> = self
            .state
            .modules
            .iter()
            .flat_map(|m| m.schedules())
            .collect();
        let ticker = tokio::spawn(periodic(platform.clone(), schedules, shutdown.clone()));
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let result = serve.await;
        shutdown.cancel();
        for w in workers {
            let _ = w.await;
        }
        let _ = ticker.await;
        match audit::checkpoint_all(&platform.db, platform.clock.now(), &platform.keys).await {
            Ok(n) => tracing::info!(chains = n, "journal checkpointed at shutdown"),
            Err(e) => tracing::error!(error = %e, "journal checkpoint at shutdown failed"),
        }
        platform.db.close().await;
        if let Some(simulator) = self.prefecture {
            simulator.stop().await;
        }
        result.context("serveur HTTP")
    }
}

/// In demo mode without a configured préfecture: starts the simulator in this process, on a
/// free local port, its files under `{data dir}/simulateur-prefecture`, with the platform's
/// clock, and points the configuration at it.
async fn start_prefecture_simulator(
    config: &mut Config,
) -> anyhow::Result<Option<bouquet_sim_prefecture::Simulator>> {
    if !config.demo || config.prefecture_url.is_some() {
        return Ok(None);
    }
    let simulator = bouquet_sim_prefecture::spawn(
        bouquet_sim_prefecture::Config {
            dir: Some(config.data_dir.join("simulateur-prefecture")),
            token: None,
            delay: Duration::ZERO,
            clock: config.clock.clone(),
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .context("démarrage du simulateur de préfecture")?;
    config.prefecture_url = Some(simulator.url());
    config.prefecture_token = None;
    Ok(Some(simulator))
}

/// Enqueues every periodic job that is due (see [`jobs::schedule_due`]).
pub async fn enqueue_due(
    platform: &Platform,
    schedules: &[Schedule],
) -> Result<usize, bouquet_store::StoreError> {
    let mut n = 0;
    for s in schedules {
        let mut tx = platform.db.begin().await?;
        if jobs::schedule_due(&mut tx, platform.clock.now(), s.kind, s.every).await? {
            n += 1;
        }
        tx.commit().await?;
    }
    if n > 0 {
        platform.wake_workers();
    }
    Ok(n)
}

/// Checkpoints the journal every five minutes; purges expired sessions and old finished jobs
/// every hour; every minute, enqueues the modules' periodic jobs that are due.
async fn periodic(platform: Platform, schedules: Vec<Schedule>, shutdown: CancellationToken) {
    let mut checkpoints = tokio::time::interval(Duration::from_secs(300));
    let mut purge = tokio::time::interval(Duration::from_secs(3600));
    let mut minutes = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = minutes.tick() => {
                if let Err(e) = enqueue_due(&platform, &schedules).await {
                    tracing::error!(error = %e, "periodic jobs could not be scheduled");
                }
            }
            _ = checkpoints.tick() => {
                if let Err(e) = audit::checkpoint_all(&platform.db, platform.clock.now(), &platform.keys).await {
                    tracing::error!(error = %e, "journal checkpoint failed");
                }
            }
            _ = purge.tick() => {
                let now = platform.clock.now();
                let result = async {
                    let mut tx = platform.db.begin().await?;
                    accounts::purge_expired(&mut tx, now).await?;
                    bouquet_store::signups::purge_expired(&mut tx, now).await?;
                    jobs::purge_done(&mut tx, now.checked_sub(SignedDuration::from_hours(24 * 30)).unwrap_or(now)).await?;
                    tx.commit().await
                }
                .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "purge failed");
                }
            }
        }
    }
}
