//! Outgoing e-mail, sent by a job so that nothing is lost when the relay is down.
//!
//! [`queue`] enqueues a `mail.send` job in the caller's transaction. The handler sends it
//! through SMTP (`lettre`), or, in demo mode and when no relay is configured, writes it as an
//! `.eml` file under `DATA_DIR/emails/` with a small `.json` beside it that the demo's
//! "E-mails envoyés" page reads.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use jiff::Timestamp;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::db::Tx;
use crate::error::{StoreError, StoreResult};
use crate::jobs::{self, JobRow, NewJob};
use crate::platform::Platform;
use crate::worker::{JobError, JobHandler};

pub const SEND: &str = "mail.send";

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Mailer {
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…` (see lettre), or `None` for files.
    pub fn new(smtp_url: Option<&str>, data_dir: &Path) -> StoreResult<Self> {
        match smtp_url {
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| Mailer::Smtp(b.build()))
                .map_err(|e| StoreError::Config(format!("adresse du serveur SMTP invalide : {e}"))),
            None => Ok(Mailer::Files(data_dir.join("emails"))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "serveur SMTP".into(),
            Mailer::Files(dir) => format!("fichiers .eml dans {}", dir.display()),
        }
    }
}

/// An e-mail to send.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// Plain text: what every mail client shows.
    pub text: String,
}

/// Enqueues `mail` atomically with the caller's change.
pub async fn queue(h: &mut Tx, now: Timestamp, mail: &Mail) -> StoreResult<String> {
    let payload = serde_json::to_value(mail).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    jobs::enqueue(h, now, NewJob::new(SEND, payload).max_attempts(10)).await
}

/// The job handler of `mail.send`.
pub struct SendMail;

#[async_trait]
impl JobHandler for SendMail {
    async fn run(&self, platform: &Platform, job: &JobRow) -> Result<(), JobError> {
        let mail: Mail = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Permanent(format!("courriel illisible : {e}")))?;
        deliver(platform, &job.id, &mail).await
    }
}

/// Sends `mail` now through the platform's mailer (SMTP, or files). `id` names the file in
/// demo mode. Used by the jobs that send e-mail.
pub async fn deliver(platform: &Platform, id: &str, mail: &Mail) -> Result<(), JobError> {
    let from: Mailbox = platform
        .settings
        .mail_from
        .parse()
        .map_err(|e| JobError::Permanent(format!("adresse d'expédition invalide : {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| JobError::Permanent(format!("adresse du destinataire invalide : {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            text_to_html(&mail.text),
        ))
        .map_err(|e| JobError::Permanent(format!("courriel invalide : {e}")))?;
    match platform.mailer.as_ref() {
        Mailer::Smtp(transport) => transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| JobError::Retry(format!("envoi SMTP impossible : {e}"))),
        Mailer::Files(dir) => {
            write_files(dir, id, platform.clock.now(), mail, &message.formatted())
                .await
                .map_err(|e| JobError::Retry(format!("écriture du courriel impossible : {e}")))
        }
    }
}

async fn write_files(
    dir: &Path,
    id: &str,
    now: Timestamp,
    mail: &Mail,
    eml: &[u8],
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let stem = format!("{}-{id}", now.as_microsecond());
    tokio::fs::write(dir.join(format!("{stem}.eml")), eml).await?;
    let meta = json!({ "to": mail.to, "subject": mail.subject, "text": mail.text, "sent_at": now.to_string() });
    tokio::fs::write(dir.join(format!("{stem}.json")), meta.to_string()).await
}

/// The same text as minimal HTML (escaped, links clickable), for clients that prefer HTML.
fn text_to_html(text: &str) -> String {
    let mut html = String::from("<!DOCTYPE html><html lang=\"fr\"><body><p>");
    for line in text.lines() {
        if line.is_empty() {
            html.push_str("</p><p>");
            continue;
        }
        for (i, word) in line.split(' ').enumerate() {
            if i > 0 {
                html.push(' ');
            }
            let escaped = escape_html(word);
            if word.starts_with("http://") || word.starts_with("https://") {
                html.push_str(&format!("<a href=\"{escaped}\">{escaped}</a>"));
            } else {
                html.push_str(&escaped);
            }
        }
        html.push_str("<br>");
    }
    html.push_str("</p></body></html>");
    html
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A message written by the file mailer, as the demo page shows it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SentMail {
    #[serde(skip_deserializing)]
    pub id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub sent_at: String,
}

/// The messages written under `dir`, newest first.
pub fn list_sent(dir: &Path) -> std::io::Result<Vec<SentMail>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        if let Ok(mut mail) = serde_json::from_slice::<SentMail>(&std::fs::read(&path)?) {
            mail.id = stem;
            out.push(mail);
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

/// The raw `.eml` of a sent message; `id` must be one listed by [`list_sent`].
pub fn read_eml(dir: &Path, id: &str) -> std::io::Result<Vec<u8>> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "identifiant invalide",
        ));
    }
    std::fs::read(dir.join(format!("{id}.eml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_alternative_escapes_and_links() {
        let html = text_to_html("Bonjour <b>\n\nLien : https://exemple.fr/a?b=1&c=2");
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("<a href=\"https://exemple.fr/a?b=1&amp;c=2\">"));
    }

    #[test]
    fn eml_ids_cannot_escape_the_directory() {
        let dir = std::env::temp_dir();
        for bad in ["../secret", "a/b", "", "x.eml"] {
            assert!(read_eml(&dir, bad).is_err(), "{bad}");
        }
    }
}
