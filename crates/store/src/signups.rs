//! Companies that create their own account.
//!
//! The form records a request ([`create`]) holding the argon2id hash of the chosen password,
//! never the password. The job that e-mails the confirmation link makes its secret
//! ([`issue_link`]); only its SHA-256 is kept. Following the link ([`confirm`]) creates the
//! company, the account and its membership in one transaction, unless the company already
//! has a space on the platform: then nothing is created, for anyone can type a SIRET, and the
//! company's administrator invites colleagues instead.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{Email, OrgId, OrgKind, Role, RoleSet, Siret, UserId};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::accounts::{self, new_secret, secret_hash};
use crate::audit::{self, AuditActor, NewEvent};
use crate::db::{Handle, Tx};
use crate::error::{StoreError, StoreResult};
use crate::orgs::{self, NewOrg};
use crate::{exec, run};

/// How long a confirmation link is valid, from the moment it is sent.
pub const TTL: SignedDuration = SignedDuration::from_hours(48);

#[derive(Clone, sqlx::FromRow)]
pub struct SignupRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub siret: String,
    pub company_name: String,
    pub password_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub confirmed_at: Option<i64>,
}

/// Never prints the password hash.
impl std::fmt::Debug for SignupRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("siret", &self.siret)
            .field("company_name", &self.company_name)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, email, display_name, siret, company_name, password_hash, created_at, expires_at, confirmed_at";

/// Why a confirmation link does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    Used,
    Expired,
}

impl LinkProblem {
    pub fn message(self) -> &'static str {
        match self {
            LinkProblem::Unknown => {
                "Ce lien de confirmation n'est pas valide. Vérifiez qu'il a été copié en entier, ou recommencez l'inscription."
            }
            LinkProblem::Used => {
                "Ce lien de confirmation a déjà été utilisé : le compte existe. Connectez-vous avec votre adresse électronique et votre mot de passe."
            }
            LinkProblem::Expired => {
                "Ce lien de confirmation a expiré (il était valable 48 heures). Recommencez l'inscription : rien n'a été créé."
            }
        }
    }
}

/// What confirming a link did.
#[derive(Debug)]
pub enum Confirmed {
    /// The company, the account and its access were created.
    Registered {
        org: OrgId,
        siren: String,
        user: UserId,
    },
    /// The link does not work.
    Link(LinkProblem),
    /// The company already has a space: nothing was created.
    CompanyExists,
    /// An account with this address was created meanwhile: nothing was created.
    AccountExists,
}

/// A request to create.
#[derive(Clone, Debug)]
pub struct NewSignup<'a> {
    pub email: &'a Email,
    pub display_name: &'a str,
    pub siret: &'a Siret,
    pub company_name: &'a str,
    /// argon2id, from [`accounts::hash_password`].
    pub password_hash: &'a str,
}

/// Records a request; the caller enqueues the confirmation e-mail. Journaled on the
/// platform's chain.
pub async fn create(tx: &mut Tx, now: Timestamp, new: &NewSignup<'_>) -> StoreResult<String> {
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO company_signups (id, email, display_name, siret, company_name, password_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&id)
    .bind(new.email.as_str())
    .bind(new.display_name.trim())
    .bind(new.siret.as_str())
    .bind(new.company_name.trim())
    .bind(new.password_hash)
    .bind(to_micros(now))
    .bind(to_micros(now.saturating_add(TTL).unwrap_or(now))))?;
    requested(tx, now, new, &id, false).await?;
    Ok(id)
}

/// Journals a request (also when the address already has an account and only an e-mail
/// saying so is sent).
pub async fn requested(
    tx: &mut Tx,
    now: Timestamp,
    new: &NewSignup<'_>,
    object_id: &str,
    account_exists: bool,
) -> StoreResult<()> {
    audit::append(
        tx,
        now,
        NewEvent::new(
            None,
            &AuditActor {
                user_id: None,
                label: new.display_name.trim().to_owned(),
            },
            "company.signup_requested",
            "company_signup",
            object_id,
        )
        .details(json!({
            "courriel": new.email.as_str(),
            "siret": new.siret.as_str(),
            "entreprise": new.company_name.trim(),
            "compte_existant": account_exists,
        })),
    )
    .await?;
    Ok(())
}

/// Makes the confirmation link of request `id`: a new secret whose hash replaces any
/// previous one (a retried job makes a new link), valid [`TTL`] from now. `None` when the
/// request was confirmed or purged.
pub async fn issue_link(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
) -> StoreResult<Option<(String, SignupRow)>> {
    let (plain, hash) = new_secret("");
    let n = exec!(tx, sqlx::query(
        "UPDATE company_signups SET token_hash = $2, expires_at = $3 WHERE id = $1 AND confirmed_at IS NULL"
    )
    .bind(id)
    .bind(&hash)
    .bind(to_micros(now.saturating_add(TTL).unwrap_or(now))))?;
    if n == 0 {
        return Ok(None);
    }
    let row: SignupRow = run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM company_signups WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(c)
    .await)?;
    Ok(Some((plain, row)))
}

/// The request a link confirms, if it is still valid now.
pub async fn check(
    h: &mut impl Handle,
    now: Timestamp,
    plain: &str,
) -> StoreResult<Result<SignupRow, LinkProblem>> {
    if plain.is_empty() || plain.len() > 100 {
        return Ok(Err(LinkProblem::Unknown));
    }
    let row: Option<SignupRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM company_signups WHERE token_hash = $1"
    )))
    .bind(secret_hash(plain))
    .fetch_optional(c)
    .await)?;
    Ok(match row {
        None => Err(LinkProblem::Unknown),
        Some(r) if r.confirmed_at.is_some() => Err(LinkProblem::Used),
        Some(r) if r.expires_at <= to_micros(now) => Err(LinkProblem::Expired),
        Some(r) => Ok(r),
    })
}

/// Confirms the request of link `plain`: creates the company (SIREN = the first nine digits
/// of the SIRET), the account with the chosen password, its access as company user and
/// administrator, and marks the request confirmed (forgetting the password hash, now the
/// account's) — all in the caller's transaction. When
/// it returns anything but [`Confirmed::Registered`], the caller must roll back (drop the
/// transaction): nothing is to be kept.
pub async fn confirm(tx: &mut Tx, now: Timestamp, plain: &str) -> StoreResult<Confirmed> {
    let row = match check(tx, now, plain).await? {
        Ok(row) => row,
        Err(problem) => return Ok(Confirmed::Link(problem)),
    };
    let n = exec!(tx, sqlx::query(
        "UPDATE company_signups SET confirmed_at = $2, password_hash = '' WHERE token_hash = $1 AND confirmed_at IS NULL AND expires_at > $2"
    )
    .bind(secret_hash(plain))
    .bind(to_micros(now)))?;
    if n == 0 {
        return Ok(Confirmed::Link(LinkProblem::Used));
    }
    let corrupt = |what: &str| StoreError::Corrupt(format!("{what} de l'inscription {}", row.id));
    let siret = Siret::parse(&row.siret).map_err(|_| corrupt("SIRET"))?;
    let siren = siret.siren().map_err(|_| corrupt("SIREN"))?;
    let email = Email::parse(&row.email).map_err(|_| corrupt("adresse"))?;
    if orgs::get_by_siren(tx, &siren).await?.is_some() {
        return Ok(Confirmed::CompanyExists);
    }
    if accounts::find_by_email(tx, &email).await?.is_some() {
        return Ok(Confirmed::AccountExists);
    }
    let applicant = AuditActor {
        user_id: None,
        label: row.display_name.clone(),
    };
    let mut org = NewOrg::new(siren.clone(), row.company_name.clone(), OrgKind::Entreprise);
    org.siret = Some(siret.clone());
    org.contact_email = Some(email.clone());
    let org_id = orgs::create(tx, now, org, &applicant).await?;
    let user = accounts::create_user(
        tx,
        now,
        &email,
        &row.display_name,
        Some(&row.password_hash),
        Some(org_id),
        &applicant,
    )
    .await?;
    let actor = AuditActor::user(user, row.display_name.clone());
    let roles = RoleSet::empty()
        .with(Role::CompanyUser)
        .with(Role::MemberAdmin);
    accounts::grant(tx, now, user, org_id, roles, None, &actor).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org_id),
            &actor,
            "company.registered",
            "organisation",
            org_id,
        )
        .details(json!({
            "siret": siret.as_str(),
            "entreprise": row.company_name,
            "courriel": email.as_str(),
            "inscription": row.id,
        })),
    )
    .await?;
    Ok(Confirmed::Registered {
        org: org_id,
        siren: siren.as_str().to_owned(),
        user,
    })
}

/// Deletes the requests never confirmed, with the password hash they hold, a week after
/// their link expired (until then the link still says "expired" rather than "unknown").
pub async fn purge_expired(tx: &mut Tx, now: Timestamp) -> StoreResult<u64> {
    let before = now
        .checked_sub(SignedDuration::from_hours(24 * 7))
        .unwrap_or(now);
    let n = exec!(
        tx,
        sqlx::query("DELETE FROM company_signups WHERE confirmed_at IS NULL AND expires_at < $1")
            .bind(to_micros(before))
    )?;
    Ok(n)
}
