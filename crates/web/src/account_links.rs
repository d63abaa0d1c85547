//! Links e-mailed to people who have no access yet: an invitation to join an organisation,
//! and the confirmation of a company's own registration.
//!
//! As for password links ([`crate::links`]), the request only enqueues a job naming the
//! invitation or the registration; the job makes the secret when it sends the message, so
//! that the secret is stored nowhere, not even in the job queue. A retried job makes a new
//! link (the unsent one stops working).

use async_trait::async_trait;
use bouquet_kernel::clock::{format_fr, from_micros};
use bouquet_store::jobs::{self, JobRow, NewJob};
use bouquet_store::mail::{self, Mail};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult, Tx, invitations, orgs, signups};
use bouquet_webkit::views;
use serde::{Deserialize, Serialize};

pub const SEND_INVITATION: &str = "mail.invitation";
pub const SEND_SIGNUP: &str = "mail.company_signup";

#[derive(Debug, Serialize, Deserialize)]
struct InvitationJob {
    invitation_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SignupJob {
    signup_id: String,
}

fn payload(value: impl Serialize) -> StoreResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Enqueues the e-mail of invitation `id` in the caller's transaction, and makes this job
/// the only one allowed to send its link (call `wake_workers` after commit).
pub async fn queue_invitation(tx: &mut Tx, p: &Platform, id: &str) -> StoreResult<()> {
    let job = jobs::enqueue(
        tx,
        p.clock.now(),
        NewJob::new(
            SEND_INVITATION,
            payload(InvitationJob {
                invitation_id: id.to_owned(),
            })?,
        )
        .max_attempts(10),
    )
    .await?;
    invitations::set_mail_job(tx, id, &job).await
}

/// Enqueues the confirmation e-mail of registration `id` (call `wake_workers` after commit).
pub async fn queue_signup(tx: &mut Tx, p: &Platform, id: &str) -> StoreResult<()> {
    jobs::enqueue(
        tx,
        p.clock.now(),
        NewJob::new(
            SEND_SIGNUP,
            payload(SignupJob {
                signup_id: id.to_owned(),
            })?,
        )
        .max_attempts(10),
    )
    .await?;
    Ok(())
}

/// Enqueues, instead of a confirmation, the e-mail telling that the address already has an
/// account: the form answers the same either way, so it does not reveal who has one.
pub async fn queue_account_exists(
    tx: &mut Tx,
    p: &Platform,
    email: &str,
    name: &str,
) -> StoreResult<()> {
    let operator = &p.settings.operator_name;
    let login = p.settings.link("/connexion");
    let forgot = p.settings.link("/mot-de-passe-oublie");
    mail::queue(
        tx,
        p.clock.now(),
        &Mail {
            to: email.to_owned(),
            subject: "Votre compte Bouquet existe déjà".into(),
            text: format!(
                "Bonjour {name},\n\nQuelqu'un — sans doute vous — a demandé à créer un compte entreprise sur Bouquet ({operator}) avec cette adresse. Un compte existe déjà pour elle : aucun nouveau compte n'a été créé.\n\nPour vous connecter :\n{login}\n\nSi vous avez oublié votre mot de passe, demandez un lien pour en choisir un nouveau :\n{forgot}\n\nPour rejoindre l'espace d'une entreprise déjà inscrite, demandez à son administrateur de vous inviter.\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n\n— {operator}"
            ),
        },
    )
    .await?;
    Ok(())
}

/// The job handler of [`SEND_INVITATION`].
pub struct SendInvitation;

#[async_trait]
impl JobHandler for SendInvitation {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let request: InvitationJob = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Permanent(format!("demande illisible : {e}")))?;
        let mut tx = p.db.begin().await?;
        let Some((secret, invitation)) =
            invitations::issue_link(&mut tx, p.clock.now(), &request.invitation_id, &job.id)
                .await?
        else {
            // Used, cancelled, or resent since (a newer job sends the link): nothing to send.
            return Ok(());
        };
        let org = match invitation.org() {
            Some(id) => orgs::get(&mut tx, id).await?,
            None => None,
        }
        .ok_or_else(|| JobError::Permanent("organisation introuvable".into()))?;
        // Committed before sending: the SQLite writer is not held during SMTP.
        tx.commit().await?;
        let link = p.settings.link(&format!("/invitation?jeton={secret}"));
        let operator = &p.settings.operator_name;
        let until = format_fr(from_micros(invitation.expires_at), &org.tz());
        let text = format!(
            "Bonjour {name},\n\n{by} vous invite à rejoindre {org} sur Bouquet, la plateforme de services numériques de {operator}, avec le{s} rôle{s} : {roles}.\n\nPour accepter l'invitation, ouvrez ce lien avant le {until} :\n{link}\n\nSi vous avez déjà un compte Bouquet avec cette adresse ({email}), connectez-vous avec lui pour accepter ; sinon, vous choisirez votre mot de passe en ouvrant le lien. Le lien ne sert qu'une fois.\n\nSi vous ne vous attendiez pas à cette invitation, ignorez ce message.\n\n— {operator}",
            name = invitation.display_name,
            by = invitation.inviter_name,
            org = org.name,
            roles = views::roles(invitation.roles()),
            s = if invitation.roles().iter().count() > 1 {
                "s"
            } else {
                ""
            },
            email = invitation.email,
        );
        mail::deliver(
            p,
            &job.id,
            &Mail {
                to: invitation.email.clone(),
                subject: format!("Invitation à rejoindre {} sur Bouquet", org.name),
                text,
            },
        )
        .await
    }
}

/// The job handler of [`SEND_SIGNUP`].
pub struct SendSignupConfirmation;

#[async_trait]
impl JobHandler for SendSignupConfirmation {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let request: SignupJob = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Permanent(format!("demande illisible : {e}")))?;
        let mut tx = p.db.begin().await?;
        let Some((secret, signup)) =
            signups::issue_link(&mut tx, p.clock.now(), &request.signup_id).await?
        else {
            // Confirmed or purged meanwhile: nothing to send.
            return Ok(());
        };
        tx.commit().await?;
        let link = p
            .settings
            .link(&format!("/inscription-entreprise/confirmer?jeton={secret}"));
        let operator = &p.settings.operator_name;
        let tz = bouquet_kernel::clock::time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE);
        let until = format_fr(from_micros(signup.expires_at), &tz);
        let text = format!(
            "Bonjour {name},\n\nVous avez demandé à créer l'espace de {company} (SIRET {siret}) sur Bouquet, la plateforme de services numériques de {operator}.\n\nPour confirmer votre adresse et créer le compte, ouvrez ce lien avant le {until} (48 heures) :\n{link}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne sera créé.\n\n— {operator}",
            name = signup.display_name,
            company = signup.company_name,
            siret = signup.siret,
        );
        mail::deliver(
            p,
            &job.id,
            &Mail {
                to: signup.email.clone(),
                subject: "Confirmez la création de votre compte entreprise Bouquet".into(),
                text,
            },
        )
        .await
    }
}
