//! Links to choose a password, sent by e-mail: after "mot de passe oublié", by the operator,
//! and as the invitation of a new account.
//!
//! The request only enqueues a `mail.password_link` job naming the account and the purpose.
//! The job creates the secret when it sends the message, so that the secret is never stored
//! anywhere — not even in the job queue: only its hash is kept, as for sessions and tokens.
//! A retried job makes a new link (which cancels the unsent one).

use async_trait::async_trait;
use bouquet_kernel::UserId;
use bouquet_store::accounts::{self, LinkReason};
use bouquet_store::audit::AuditActor;
use bouquet_store::jobs::{self, JobRow, NewJob};
use bouquet_store::mail::{self, Mail};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult, Tx};
use serde::{Deserialize, Serialize};

pub const SEND_LINK: &str = "mail.password_link";

/// Why the link is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Purpose {
    /// The person asked for it (valid one hour).
    Reset,
    /// Someone else asked for the person (valid one hour).
    ResetBy { by: String },
    /// A new account (valid seven days): who opened it, for which organisation.
    Invitation { by: String, org_name: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkJob {
    user_id: UserId,
    purpose: Purpose,
    actor_id: Option<UserId>,
    actor_label: String,
}

/// Enqueues the e-mail in the caller's transaction (call `wake_workers` after commit).
pub async fn queue_password_link(
    tx: &mut Tx,
    p: &Platform,
    user: UserId,
    purpose: Purpose,
    actor: &AuditActor,
) -> StoreResult<()> {
    let payload = serde_json::to_value(LinkJob {
        user_id: user,
        purpose,
        actor_id: actor.user_id,
        actor_label: actor.label.clone(),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    jobs::enqueue(
        tx,
        p.clock.now(),
        NewJob::new(SEND_LINK, payload).max_attempts(10),
    )
    .await?;
    Ok(())
}

/// The text of the e-mail.
pub fn compose(
    p: &Platform,
    name: &str,
    email: &str,
    link: &str,
    purpose: &Purpose,
) -> (String, String) {
    let operator = &p.settings.operator_name;
    match purpose {
        Purpose::Reset => (
            "Réinitialiser votre mot de passe Bouquet".into(),
            format!(
                "Bonjour {name},\n\nVous avez demandé à réinitialiser votre mot de passe sur Bouquet ({operator}).\n\nPour choisir un nouveau mot de passe, ouvrez ce lien dans l'heure qui suit :\n{link}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe actuel reste valable.\n\n— {operator}"
            ),
        ),
        Purpose::ResetBy { by } => (
            "Réinitialiser votre mot de passe Bouquet".into(),
            format!(
                "Bonjour {name},\n\n{by} vous envoie un lien pour choisir un nouveau mot de passe sur Bouquet ({operator}), valable une heure :\n{link}\n\n— {operator}"
            ),
        ),
        Purpose::Invitation { by, org_name } => (
            "Votre compte Bouquet".into(),
            format!(
                "Bonjour {name},\n\n{by} vous a ouvert un compte sur Bouquet, la plateforme de services numériques de {operator}, pour {org_name}.\n\nPour choisir votre mot de passe, ouvrez ce lien dans les 7 jours :\n{link}\n\nVotre identifiant est votre adresse électronique : {email}.\n\n— {operator}"
            ),
        ),
    }
}

/// Creates a link now (CLI, where it is printed instead of mailed) and returns it.
pub async fn create_link(
    tx: &mut Tx,
    p: &Platform,
    user: UserId,
    purpose: &Purpose,
    actor: &AuditActor,
) -> StoreResult<String> {
    let (ttl, reason) = match purpose {
        Purpose::Invitation { .. } => (accounts::INVITATION_TTL, LinkReason::Invitation),
        Purpose::Reset | Purpose::ResetBy { .. } => (accounts::RESET_TTL, LinkReason::Reset),
    };
    let secret = accounts::create_reset(tx, p.clock.now(), user, ttl, reason, actor).await?;
    Ok(p.settings
        .link(&format!("/reinitialiser-mot-de-passe?jeton={secret}")))
}

/// The job handler of [`SEND_LINK`].
pub struct SendPasswordLink;

#[async_trait]
impl JobHandler for SendPasswordLink {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let request: LinkJob = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Permanent(format!("demande illisible : {e}")))?;
        let actor = AuditActor {
            user_id: request.actor_id,
            label: request.actor_label.clone(),
        };
        let mut tx = p.db.begin().await?;
        let Some(user) = accounts::get_user(&mut tx, request.user_id).await? else {
            return Err(JobError::Permanent("compte introuvable".into()));
        };
        if !user.active {
            // Deactivated meanwhile: nothing to send.
            return Ok(());
        }
        let link = create_link(&mut tx, p, request.user_id, &request.purpose, &actor).await?;
        // Committed before sending: the SQLite writer is not held during SMTP.
        tx.commit().await?;
        let (subject, text) = compose(p, &user.display_name, &user.email, &link, &request.purpose);
        mail::deliver(
            p,
            &job.id,
            &Mail {
                to: user.email.clone(),
                subject,
                text,
            },
        )
        .await
    }
}
