//! The préfecture connector: how Bouquet reaches @CTES.
//!
//! [`Prefecture`] is what the exchange needs (deposit an archive; list, fetch and acknowledge
//! the return archives of the mailbox); [`HttpPrefecture`] speaks the connector protocol that
//! `bouquet-sim-prefecture` speaks too:
//!
//! - `POST {base}/actes/depot`, multipart field `file` (the `.tar.gz`, named as the standard
//!   says): `200` accepted; `400` + French text refused at the door; `401` bad token;
//!   `5xx` or no answer: try again later.
//! - `GET {base}/actes/retours`: `[{"id", "nom", "taille"}]`, oldest first.
//! - `GET {base}/actes/retours/{id}`: the archive; `DELETE {base}/actes/retours/{id}`: `204`,
//!   called only once the archive is stored in the database.
//!
//! Every call has a timeout and a size limit on what it reads; the bearer token, when one
//! is configured, is sent on every call and never logged.

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bouquet_store::Platform;
use serde::Deserialize;

/// The largest return archive read from the mailbox.
pub const MAX_RETURN: u64 = 64 * 1024 * 1024;
/// The largest mailbox listing read.
const MAX_LISTING: u64 = 1024 * 1024;
/// The largest error text kept from an answer.
const MAX_TEXT: u64 = 16 * 1024;

/// Why a call to the préfecture did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// `400`: refused for good, with the préfecture's French text.
    #[error("{0}")]
    Refused(String),
    /// `401`/`403`: the token is not accepted (a configuration matter: retried, the
    /// administrator may fix it meanwhile).
    #[error("la préfecture refuse l'accès de Bouquet (jeton d'accès refusé, code {0})")]
    Unauthorized(u16),
    /// `404` on a return: it is not (or no longer) in the mailbox.
    #[error("ce retour n'est plus dans la boîte de la préfecture")]
    NotFound,
    /// Unreachable, timed out, `5xx`, or an answer that cannot be read: try again later.
    #[error("{0}")]
    Unavailable(String),
}

impl ConnectorError {
    /// Worth trying again later (everything but a refusal at the door).
    pub fn is_transient(&self) -> bool {
        !matches!(self, ConnectorError::Refused(_) | ConnectorError::NotFound)
    }
}

/// One archive of the mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReturnEntry {
    pub id: String,
    /// The archive's name (`….tar.gz`).
    #[serde(rename = "nom")]
    pub name: String,
    /// Its size in bytes, as announced.
    #[serde(rename = "taille", default)]
    pub size: u64,
}

/// The préfecture, as the exchange sees it.
#[async_trait]
pub trait Prefecture: Send + Sync {
    /// Deposits the archive `name`.
    async fn deposit(&self, name: &str, archive: Vec<u8>) -> Result<(), ConnectorError>;
    /// The return archives waiting, oldest first.
    async fn list_returns(&self) -> Result<Vec<ReturnEntry>, ConnectorError>;
    /// The bytes of a return archive (at most [`MAX_RETURN`]).
    async fn fetch_return(&self, id: &str) -> Result<Vec<u8>, ConnectorError>;
    /// Removes a return archive from the mailbox (after it is stored).
    async fn acknowledge_return(&self, id: &str) -> Result<(), ConnectorError>;
}

/// The connector protocol over HTTP.
pub struct HttpPrefecture {
    client: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

impl std::fmt::Debug for HttpPrefecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPrefecture")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// One client for the process (connection pool, TLS set-up).
fn shared_client() -> Option<reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(120))
                .user_agent(concat!("Bouquet/", env!("CARGO_PKG_VERSION"), " (actes)"))
                .build()
                .map_err(|e| tracing::error!(error = %e, "préfecture HTTP client"))
                .ok()
        })
        .clone()
}

/// The connector of the platform, or `None` when no préfecture is configured.
pub fn of(platform: &Platform) -> Option<HttpPrefecture> {
    let base = platform.settings.prefecture_url.clone()?;
    Some(HttpPrefecture {
        client: shared_client()?,
        base,
        token: platform.settings.prefecture_token.clone(),
    })
}

/// Whether a préfecture is configured.
pub fn configured(platform: &Platform) -> bool {
    platform.settings.prefecture_url.is_some()
}

impl HttpPrefecture {
    fn url(&self, path: &str) -> Result<url::Url, ConnectorError> {
        let base = self.base.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}{path}")).map_err(|e| {
            ConnectorError::Unavailable(format!("adresse de la préfecture invalide : {e}"))
        })
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Result<reqwest::Response, ConnectorError> {
        self.auth(r).send().await.map_err(|e| {
            ConnectorError::Unavailable(if e.is_timeout() {
                "la préfecture n'a pas répondu à temps".to_owned()
            } else {
                "la préfecture est injoignable".to_owned()
            })
        })
    }
}

/// Reads at most `max` bytes of the body; more is an error.
async fn read_limited(mut r: reqwest::Response, max: u64) -> Result<Vec<u8>, ConnectorError> {
    if r.content_length().is_some_and(|n| n > max) {
        return Err(ConnectorError::Unavailable(format!(
            "la réponse de la préfecture dépasse {max} octets"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|_| {
        ConnectorError::Unavailable("la réponse de la préfecture est interrompue".into())
    })? {
        if out.len() as u64 + chunk.len() as u64 > max {
            return Err(ConnectorError::Unavailable(format!(
                "la réponse de la préfecture dépasse {max} octets"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The text of an answer, bounded, without control characters.
async fn text_of(r: reqwest::Response) -> String {
    let bytes = read_limited(r, MAX_TEXT).await.unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// What any status other than success means.
async fn failure(r: reqwest::Response) -> ConnectorError {
    let status = r.status().as_u16();
    match status {
        400 | 413 | 415 | 422 => {
            let text = text_of(r).await;
            ConnectorError::Refused(if text.is_empty() {
                format!("la préfecture a refusé l'envoi (code {status})")
            } else {
                text
            })
        }
        401 | 403 => ConnectorError::Unauthorized(status),
        404 => ConnectorError::NotFound,
        _ => ConnectorError::Unavailable(format!(
            "la préfecture ne répond pas correctement (code {status})"
        )),
    }
}

#[async_trait]
impl Prefecture for HttpPrefecture {
    async fn deposit(&self, name: &str, archive: Vec<u8>) -> Result<(), ConnectorError> {
        let part = reqwest::multipart::Part::bytes(archive)
            .file_name(name.to_owned())
            .mime_str("application/gzip")
            .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let r = self
            .send(self.client.post(self.url("/actes/depot")?).multipart(form))
            .await?;
        match r.status().as_u16() {
            // Accepted: the body is `OK` (processing is asynchronous).
            200..=299 => Ok(()),
            // The deposit endpoint itself missing is a configuration matter, not a refusal.
            404 => Err(ConnectorError::Unavailable(
                "la préfecture ne répond pas à l'adresse configurée (code 404)".into(),
            )),
            _ => Err(failure(r).await),
        }
    }

    async fn list_returns(&self) -> Result<Vec<ReturnEntry>, ConnectorError> {
        let r = self
            .send(
                self.client
                    .get(self.url("/actes/retours")?)
                    .timeout(Duration::from_secs(30)),
            )
            .await?;
        if !r.status().is_success() {
            return Err(match failure(r).await {
                ConnectorError::NotFound | ConnectorError::Refused(_) => {
                    ConnectorError::Unavailable(
                        "la boîte des retours de la préfecture ne répond pas correctement".into(),
                    )
                }
                other => other,
            });
        }
        let bytes = read_limited(r, MAX_LISTING).await?;
        serde_json::from_slice(&bytes).map_err(|_| {
            ConnectorError::Unavailable(
                "la liste des retours de la préfecture est illisible".into(),
            )
        })
    }

    async fn fetch_return(&self, id: &str) -> Result<Vec<u8>, ConnectorError> {
        let r = self
            .send(
                self.client
                    .get(self.url(&format!("/actes/retours/{}", path_segment(id)))?),
            )
            .await?;
        if !r.status().is_success() {
            return Err(failure(r).await);
        }
        read_limited(r, MAX_RETURN).await
    }

    async fn acknowledge_return(&self, id: &str) -> Result<(), ConnectorError> {
        let r = self
            .send(
                self.client
                    .delete(self.url(&format!("/actes/retours/{}", path_segment(id)))?)
                    .timeout(Duration::from_secs(30)),
            )
            .await?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(failure(r).await)
        }
    }
}

/// An id from the mailbox, made safe as one path segment.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_segment_and_errors_say_what_to_do() {
        assert_eq!(path_segment("../x y"), "..%2Fx%20y");
        assert!(ConnectorError::Unavailable("x".into()).is_transient());
        assert!(ConnectorError::Unauthorized(401).is_transient());
        assert!(!ConnectorError::Refused("non".into()).is_transient());
        let e: Vec<ReturnEntry> =
            serde_json::from_str(r#"[{"id":"1","nom":"a.tar.gz","taille":12}]"#)
                .unwrap_or_default();
        assert_eq!(e[0].name, "a.tar.gz");
        assert_eq!(e[0].size, 12);
    }
}
