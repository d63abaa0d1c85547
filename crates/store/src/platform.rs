//! The bundle every module and job handler receives.

use std::path::PathBuf;
use std::sync::Arc;

use bouquet_kernel::clock::SharedClock;
use tokio::sync::Notify;

use crate::blobs::Blobs;
use crate::db::Db;
use crate::db::redact_url;
use crate::keys::PlatformKeys;
use crate::mail::Mailer;

/// Settings of the running platform that modules may need.
#[derive(Clone)]
pub struct PlatformSettings {
    /// The address people use to reach Bouquet (links in e-mails, secure cookies).
    pub public_url: url::Url,
    /// Demo mode: demo data, e-mails shown in the interface.
    pub demo: bool,
    pub data_dir: PathBuf,
    /// "Syndicat mixte Bouquet (démo) <ne-pas-repondre@…>"
    pub mail_from: String,
    /// The operator's name, shown in the interface.
    pub operator_name: String,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_proxy: bool,
    /// The time-stamping authority of signatures (RFC 3161 over HTTP); `None`: the built-in
    /// demo authority.
    pub tsa_url: Option<url::Url>,
    /// The préfecture's @CTES connector (`POST {base}/actes/depot`, mailbox under
    /// `{base}/actes/retours`); `None`: the contrôle de légalité is not configured.
    pub prefecture_url: Option<url::Url>,
    /// Bearer token sent to the préfecture connector, if it asks for one.
    pub prefecture_token: Option<String>,
}

impl std::fmt::Debug for PlatformSettings {
    // By hand: the préfecture token is a secret and must not reach the logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformSettings")
            .field("public_url", &self.public_url.as_str())
            .field("demo", &self.demo)
            .field("data_dir", &self.data_dir)
            .field("mail_from", &self.mail_from)
            .field("operator_name", &self.operator_name)
            .field("trust_proxy", &self.trust_proxy)
            .field(
                "tsa_url",
                &self.tsa_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field(
                "prefecture_url",
                &self.prefecture_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field(
                "prefecture_token",
                &self.prefecture_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl PlatformSettings {
    /// An absolute link to `path` (which starts with `/`).
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub blobs: Blobs,
    pub clock: SharedClock,
    pub keys: Arc<PlatformKeys>,
    pub mailer: Arc<Mailer>,
    /// Wakes idle job workers of this process when a job is enqueued.
    pub job_signal: Arc<Notify>,
    pub settings: Arc<PlatformSettings>,
}

impl Platform {
    /// Call after committing a transaction that enqueued jobs.
    pub fn wake_workers(&self) {
        self.job_signal.notify_waiters();
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("engine", &self.db.engine())
            .field("blobs", &self.blobs.describe())
            .field("settings", &self.settings)
            .finish()
    }
}
