//! Links to choose a password, sent by e-mail: after "mot de passe oublié", by the operator's
//! support, and as the invitation of a new account.

use bouquet_store::accounts::{self, UserRow};
use bouquet_store::audit::AuditActor;
use bouquet_store::mail::{self, Mail};
use bouquet_store::{Platform, StoreResult, Tx};

pub enum Purpose<'a> {
    /// The person asked for it (valid one hour).
    Reset,
    /// Sent by someone else for the person (valid one hour).
    ResetBy(&'a str),
    /// A new account (valid seven days): who opened it, for which organisation.
    Invitation { by: &'a str, org_name: &'a str },
}

/// Creates the link, queues the e-mail in the caller's transaction, and returns the link.
pub async fn send_password_link(
    tx: &mut Tx,
    p: &Platform,
    user: &UserRow,
    purpose: Purpose<'_>,
    actor: &AuditActor,
) -> StoreResult<String> {
    let now = p.clock.now();
    let ttl = match purpose {
        Purpose::Invitation { .. } => accounts::INVITATION_TTL,
        Purpose::Reset | Purpose::ResetBy(_) => accounts::RESET_TTL,
    };
    let secret = accounts::create_reset(tx, now, user.id()?, ttl, actor).await?;
    let link = p
        .settings
        .link(&format!("/reinitialiser-mot-de-passe?jeton={secret}"));
    let operator = &p.settings.operator_name;
    let name = &user.display_name;
    let (subject, text) = match purpose {
        Purpose::Reset => (
            "Réinitialiser votre mot de passe Bouquet",
            format!(
                "Bonjour {name},\n\nVous avez demandé à réinitialiser votre mot de passe sur Bouquet ({operator}).\n\nPour choisir un nouveau mot de passe, ouvrez ce lien dans l'heure qui suit :\n{link}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe actuel reste valable.\n\n— {operator}"
            ),
        ),
        Purpose::ResetBy(by) => (
            "Réinitialiser votre mot de passe Bouquet",
            format!(
                "Bonjour {name},\n\n{by} vous envoie un lien pour choisir un nouveau mot de passe sur Bouquet ({operator}), valable une heure :\n{link}\n\n— {operator}"
            ),
        ),
        Purpose::Invitation { by, org_name } => (
            "Votre compte Bouquet",
            format!(
                "Bonjour {name},\n\n{by} vous a ouvert un compte sur Bouquet, la plateforme de services numériques de {operator}, pour {org_name}.\n\nPour choisir votre mot de passe, ouvrez ce lien dans les 7 jours :\n{link}\n\nVotre identifiant est votre adresse électronique : {}.\n\n— {operator}",
                user.email
            ),
        ),
    };
    mail::queue(
        tx,
        now,
        &Mail {
            to: user.email.clone(),
            subject: subject.into(),
            text,
        },
    )
    .await?;
    Ok(link)
}
