//! Configuration: one struct, from command-line flags and `BOUQUET_*` environment variables.
//! `bouquet serve --demo` needs none of it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bouquet_kernel::clock::{SharedClock, SystemClock};
use bouquet_store::db::redact_url;
use clap::{Args, ValueEnum};

/// Where Bouquet keeps its data; shared by every command.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Data directory: SQLite database, local files, keys, demo e-mails.
    #[arg(
        long,
        env = "BOUQUET_DATA_DIR",
        default_value = "./bouquet-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB` (default: SQLite in the data directory).
    #[arg(
        long,
        env = "BOUQUET_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Blob storage: `file:///PATH` or `s3://BUCKET/PREFIX?endpoint=…&region=…` (default: files in the data directory).
    #[arg(
        long,
        env = "BOUQUET_STORAGE_URL",
        global = true,
        hide_env_values = true
    )]
    pub storage_url: Option<String>,
    /// Log format.
    #[arg(
        long,
        env = "BOUQUET_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `bouquet serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Create the demo territory on first start, show the demo e-mails, start the simulators.
    #[arg(long, env = "BOUQUET_DEMO")]
    pub demo: bool,
    /// Address to listen on.
    #[arg(long, env = "BOUQUET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The address people use (links in e-mails; `https://` turns on secure cookies).
    #[arg(long, env = "BOUQUET_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Mail relay: `smtp://USER:PASSWORD@HOST:587?tls=required` (default: `.eml` files in the data directory).
    #[arg(long, env = "BOUQUET_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of the e-mails.
    #[arg(long, env = "BOUQUET_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The operator's name shown in the interface.
    #[arg(long, env = "BOUQUET_OPERATOR_NAME")]
    pub operator_name: Option<String>,
    /// Number of background job workers in this process.
    #[arg(long, env = "BOUQUET_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Take the client address from X-Forwarded-For (only behind your own reverse proxy).
    #[arg(long, env = "BOUQUET_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// Time-stamping authority of the signatures (RFC 3161 over HTTP, `http://…`); without
    /// it, the built-in demo authority time-stamps.
    #[arg(long, env = "BOUQUET_TSA_URL")]
    pub tsa_url: Option<url::Url>,
    /// The préfecture's @CTES connector for the contrôle de légalité (`http://…`); with
    /// `--demo` and without it, the built-in préfecture simulator answers.
    #[arg(long, env = "BOUQUET_PREFECTURE_URL")]
    pub prefecture_url: Option<url::Url>,
    /// Bearer token sent to the préfecture connector.
    #[arg(long, env = "BOUQUET_PREFECTURE_TOKEN", hide_env_values = true)]
    pub prefecture_token: Option<String>,
}

/// Everything the application needs; built from the arguments, or by tests.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub storage_url: Option<String>,
    pub listen: SocketAddr,
    pub public_url: Option<url::Url>,
    pub demo: bool,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub operator_name: Option<String>,
    pub workers: usize,
    pub trust_proxy: bool,
    pub tsa_url: Option<url::Url>,
    pub prefecture_url: Option<url::Url>,
    pub prefecture_token: Option<String>,
    pub clock: SharedClock,
    pub max_connections: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("storage_url", &self.storage_url)
            .field("listen", &self.listen)
            .field(
                "public_url",
                &self.public_url.as_ref().map(url::Url::as_str),
            )
            .field("demo", &self.demo)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("workers", &self.workers)
            .field(
                "prefecture_url",
                &self.prefecture_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn from_args(store: &StoreArgs, serve: Option<&ServeArgs>) -> Self {
        let mut config = Config {
            data_dir: store.data_dir.clone(),
            database_url: store.database_url.clone(),
            storage_url: store.storage_url.clone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            demo: false,
            smtp_url: None,
            mail_from: None,
            operator_name: None,
            workers: 2,
            trust_proxy: false,
            tsa_url: None,
            prefecture_url: None,
            prefecture_token: None,
            clock: Arc::new(SystemClock),
            max_connections: 10,
        };
        if let Some(s) = serve {
            config.listen = s.listen;
            config.public_url = s.public_url.clone();
            config.demo = s.demo;
            config.smtp_url = s.smtp_url.clone();
            config.mail_from = s.mail_from.clone();
            config.operator_name = s.operator_name.clone();
            config.workers = s.workers;
            config.trust_proxy = s.trust_proxy;
            config.tsa_url = s.tsa_url.clone();
            config.prefecture_url = s.prefecture_url.clone();
            // An empty variable is no token (not an empty bearer).
            config.prefecture_token = s.prefecture_token.clone().filter(|t| !t.is_empty());
        }
        config
    }

    pub fn operator_name(&self) -> String {
        self.operator_name.clone().unwrap_or_else(|| {
            if self.demo {
                "Syndicat mixte Bouquet (démo)".to_owned()
            } else {
                "Opérateur public de services numériques".to_owned()
            }
        })
    }
}
