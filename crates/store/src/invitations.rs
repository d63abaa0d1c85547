//! Invitations to join an organisation, sent by one of its administrators.
//!
//! An invitation names an address, a name, roles and a function. Its link is valid seven
//! days and once. Only the SHA-256 of the link's secret is kept, and the secret is made by
//! the job that sends the e-mail ([`issue_link`]): it is in no table and no job payload. A
//! resend enqueues a new job and clears the hash (the old link dies at once); the row names
//! the one job allowed to make the link (`mail_job_id`), so an older job still retrying
//! sends nothing. Accepting ([`accept`]) marks the invitation used and gives the access in
//! the caller's transaction; the `UPDATE … WHERE used_at IS NULL` decides between two
//! concurrent acceptances.
//!
//! **Seats.** When an active subscription of the organisation caps its users
//! (`subscriptions.max_users`), active members with access plus pending invitations may not
//! go beyond the smallest cap: an invitation holds its seat until it is used, cancelled or
//! expired.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, Email, OrgId, RoleSet, UserId};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::accounts::{self, new_secret, secret_hash};
use crate::audit::{self, AuditActor, NewEvent};
use crate::db::{Handle, Tx};
use crate::error::StoreResult;
use crate::page::{Cursor, Page};
use crate::{exec, orgs, run};

/// How long a link is valid, from the moment it is sent.
pub const TTL: SignedDuration = SignedDuration::from_hours(24 * 7);

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub display_name: String,
    pub roles: String,
    pub title: Option<String>,
    pub invited_by: String,
    /// The display name of the administrator who invited.
    pub inviter_name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// Whether the job has made and sent the link yet.
    pub sent: bool,
}

impl InvitationRow {
    pub fn roles(&self) -> RoleSet {
        RoleSet::parse(&self.roles).unwrap_or_default()
    }

    pub fn org(&self) -> Option<OrgId> {
        self.org_id.parse().ok()
    }

    /// Neither used nor cancelled (it may have expired).
    pub fn is_open(&self) -> bool {
        self.used_at.is_none() && self.cancelled_at.is_none()
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at <= to_micros(now)
    }
}

const COLUMNS: &str = "i.id, i.org_id, i.email, i.display_name, i.roles, i.title, i.invited_by, u.display_name AS inviter_name, i.created_at, i.expires_at, i.used_at, i.cancelled_at, i.token_hash IS NOT NULL AS sent";

fn select(filter: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM invitations i JOIN users u ON u.id = i.invited_by WHERE {filter}"
    )
}

/// Why a link does not open an invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    Used,
    Cancelled,
    Expired,
}

impl LinkProblem {
    /// What happened, and what to do, in French.
    pub fn message(self) -> &'static str {
        match self {
            LinkProblem::Unknown => {
                "Ce lien d'invitation n'est pas valide : il a peut-être été remplacé par un lien plus récent, ou mal copié. Vérifiez qu'il a été copié en entier, ou demandez à l'administrateur de votre organisation de vous renvoyer l'invitation."
            }
            LinkProblem::Used => {
                "Ce lien d'invitation a déjà été utilisé. Si c'est vous qui l'avez accepté, connectez-vous ; sinon, demandez à l'administrateur de votre organisation de vous renvoyer l'invitation."
            }
            LinkProblem::Cancelled => {
                "Cette invitation a été annulée par l'administrateur de l'organisation. Rapprochez-vous de lui si vous pensez que c'est une erreur."
            }
            LinkProblem::Expired => {
                "Ce lien d'invitation a expiré (il était valable 7 jours). Demandez à l'administrateur de votre organisation de vous renvoyer l'invitation."
            }
        }
    }
}

/// An invitation to create.
#[derive(Clone, Debug)]
pub struct NewInvitation<'a> {
    pub email: &'a Email,
    pub display_name: &'a str,
    pub roles: RoleSet,
    pub title: Option<&'a str>,
}

/// The open invitations of `org` (pending, and expired ones not cancelled, which can be
/// resent), newest first, with pagination.
pub async fn open(
    h: &mut impl Handle,
    org: OrgId,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<InvitationRow>> {
    let (c_at, c_id) = crate::page::int_text_key(cursor)?;
    let sql = select(
        "i.org_id = $1 AND i.used_at IS NULL AND i.cancelled_at IS NULL
           AND (CAST($2 AS BIGINT) IS NULL OR i.created_at < $2 OR (i.created_at = $2 AND i.id < $3))
         ORDER BY i.created_at DESC, i.id DESC LIMIT $4",
    );
    let rows: Vec<InvitationRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(org.to_string())
        .bind(c_at)
        .bind(&c_id)
        .bind(limit + 1)
        .fetch_all(c)
        .await)?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new().push_int(r.created_at).push_text(&r.id)
    }))
}

/// One invitation of `org`, whatever its state; `None` if `org` has no such invitation.
pub async fn get(h: &mut impl Handle, org: OrgId, id: &str) -> StoreResult<Option<InvitationRow>> {
    let sql = select("i.id = $1 AND i.org_id = $2");
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(org.to_string())
        .fetch_optional(c)
        .await)?;
    Ok(row)
}

/// The open invitation of `org` for `email`, if any.
pub async fn open_for(
    h: &mut impl Handle,
    org: OrgId,
    email: &Email,
) -> StoreResult<Option<InvitationRow>> {
    let sql = select(
        "i.org_id = $1 AND i.email = $2 AND i.used_at IS NULL AND i.cancelled_at IS NULL ORDER BY i.created_at DESC LIMIT 1",
    );
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(org.to_string())
        .bind(email.as_str())
        .fetch_optional(c)
        .await)?;
    Ok(row)
}

/// Who holds a seat in `org` now: active accounts with access, and pending invitations.
pub async fn seats_taken(h: &mut impl Handle, org: OrgId, now: Timestamp) -> StoreResult<i64> {
    let members: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND u.active = TRUE"
    )
    .bind(org.to_string())
    .fetch_one(c)
    .await)?;
    let pending: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations
         WHERE org_id = $1 AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > $2"
    )
    .bind(org.to_string())
    .bind(to_micros(now))
    .fetch_one(c)
    .await)?;
    Ok(members + pending)
}

/// The French refusal when `org` has no seat left for one more person, or `None`.
pub async fn seat_problem(
    h: &mut impl Handle,
    org: OrgId,
    now: Timestamp,
) -> StoreResult<Option<String>> {
    let Some(row) = orgs::get(h, org).await? else {
        return Ok(None);
    };
    let today = orgs::local_date(now, &row.tz());
    let smallest = orgs::subscriptions(h, org)
        .await?
        .into_iter()
        .filter(|s| s.active_on(&today))
        .filter_map(|s| Some((s.max_users?, s.service()?)))
        .min_by_key(|(cap, _)| *cap);
    let Some((cap, service)) = smallest else {
        return Ok(None);
    };
    if seats_taken(h, org, now).await? < i64::from(cap) {
        return Ok(None);
    }
    Ok(Some(format!(
        "L'abonnement au service « {} » est limité à {cap} utilisateur{} : retirez un accès ou demandez à l'opérateur d'augmenter la limite.",
        service.label(),
        if cap > 1 { "s" } else { "" }
    )))
}

/// Creates an invitation (its e-mail is enqueued by the caller, who then calls
/// [`set_mail_job`]). Refused, with a French field error, when the person already has
/// access, when an invitation for the address is already open here, or without roles; and
/// with a conflict when no seat is left.
pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    new: &NewInvitation<'_>,
    invited_by: UserId,
    actor: &AuditActor,
) -> StoreResult<String> {
    let name = new.display_name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "display_name",
            "Indiquez le prénom et le nom (120 caractères au plus).",
        )
        .into());
    }
    if new.roles.is_empty() {
        return Err(AppError::invalid("roles", "Choisissez au moins un rôle.").into());
    }
    let title = new.title.map(str::trim).filter(|t| !t.is_empty());
    if title.is_some_and(|t| t.chars().count() > 120 || t.chars().any(char::is_control)) {
        return Err(
            AppError::invalid("title", "La fonction ne peut pas dépasser 120 caractères.").into(),
        );
    }
    // Takes the organisation's row lock on PostgreSQL (SQLite has one writer anyway), so that
    // two invitations sent at the same moment cannot both take the last seat.
    exec!(
        tx,
        sqlx::query("UPDATE organisations SET updated_at = updated_at WHERE id = $1")
            .bind(org.to_string())
    )?;
    if let Some(user) = accounts::find_by_email(tx, new.email).await?
        && accounts::org_user(tx, org, user.id()?).await?.is_some()
    {
        return Err(AppError::invalid(
            "email",
            "Cette personne a déjà accès à cette organisation : modifiez plutôt ses rôles depuis la liste des utilisateurs.",
        )
        .into());
    }
    if open_for(tx, org, new.email).await?.is_some() {
        return Err(AppError::invalid(
            "email",
            "Une invitation est déjà en attente pour cette adresse : renvoyez-la ou annulez-la.",
        )
        .into());
    }
    if let Some(problem) = seat_problem(tx, org, now).await? {
        return Err(AppError::Conflict(problem).into());
    }
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO invitations (id, org_id, email, display_name, roles, title, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(new.email.as_str())
    .bind(name)
    .bind(new.roles.to_stored())
    .bind(title)
    .bind(invited_by.to_string())
    .bind(to_micros(now))
    .bind(to_micros(now.saturating_add(TTL).unwrap_or(now))))?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "invitation.created", "invitation", &id).details(json!({
            "courriel": new.email.as_str(),
            "nom": name,
            "roles": new.roles.to_stored(),
            "fonction": title,
        })),
    )
    .await?;
    Ok(id)
}

/// Names the job that will make and send the link of invitation `id`.
pub async fn set_mail_job(tx: &mut Tx, id: &str, job_id: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("UPDATE invitations SET mail_job_id = $2 WHERE id = $1")
            .bind(id)
            .bind(job_id)
    )?;
    Ok(())
}

/// Sends the invitation again: the current link stops working, a new one (valid seven days)
/// will be made by the job the caller enqueues. An expired invitation needs a free seat.
/// Returns false when `org` has no such open invitation.
pub async fn resend(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let Some(row) = get(tx, org, id).await? else {
        return Ok(false);
    };
    if !row.is_open() {
        return Ok(false);
    }
    if row.is_expired(now)
        && let Some(problem) = seat_problem(tx, org, now).await?
    {
        return Err(AppError::Conflict(problem).into());
    }
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE invitations SET token_hash = NULL, expires_at = $3
         WHERE id = $1 AND org_id = $2 AND used_at IS NULL AND cancelled_at IS NULL"
        )
        .bind(id)
        .bind(org.to_string())
        .bind(to_micros(now.saturating_add(TTL).unwrap_or(now)))
    )?;
    if n == 0 {
        return Ok(false);
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "invitation.resent", "invitation", id)
            .details(json!({ "courriel": row.email })),
    )
    .await?;
    Ok(true)
}

/// Cancels an open invitation of `org`: its link stops working. Returns false when there is
/// no such open invitation.
pub async fn cancel(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let Some(row) = get(tx, org, id).await? else {
        return Ok(false);
    };
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE invitations SET cancelled_at = $3
         WHERE id = $1 AND org_id = $2 AND used_at IS NULL AND cancelled_at IS NULL"
        )
        .bind(id)
        .bind(org.to_string())
        .bind(to_micros(now))
    )?;
    if n == 0 {
        return Ok(false);
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "invitation.cancelled", "invitation", id)
            .details(json!({ "courriel": row.email })),
    )
    .await?;
    Ok(true)
}

/// Makes the link of invitation `id` for the job `job_id` (the one named by the last send):
/// a new secret whose hash replaces the previous one, valid [`TTL`] from now. `None` when
/// there is nothing to send (used, cancelled, or another job's turn).
pub async fn issue_link(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    job_id: &str,
) -> StoreResult<Option<(String, InvitationRow)>> {
    let (plain, hash) = new_secret("");
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE invitations SET token_hash = $3, expires_at = $4
         WHERE id = $1 AND mail_job_id = $2 AND used_at IS NULL AND cancelled_at IS NULL"
        )
        .bind(id)
        .bind(job_id)
        .bind(&hash)
        .bind(to_micros(now.saturating_add(TTL).unwrap_or(now)))
    )?;
    if n == 0 {
        return Ok(None);
    }
    let sql = select("i.id = $1");
    let row: InvitationRow = run!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .fetch_one(c)
        .await)?;
    Ok(Some((plain, row)))
}

/// The invitation a link opens, if it is still valid now.
pub async fn check(
    h: &mut impl Handle,
    now: Timestamp,
    plain: &str,
) -> StoreResult<Result<InvitationRow, LinkProblem>> {
    if plain.is_empty() || plain.len() > 100 {
        return Ok(Err(LinkProblem::Unknown));
    }
    let sql = select("i.token_hash = $1");
    let row: Option<InvitationRow> =
        run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(secret_hash(plain))
            .fetch_optional(c)
            .await)?;
    Ok(match row {
        None => Err(LinkProblem::Unknown),
        Some(r) if r.used_at.is_some() => Err(LinkProblem::Used),
        Some(r) if r.cancelled_at.is_some() => Err(LinkProblem::Cancelled),
        Some(r) if r.is_expired(now) => Err(LinkProblem::Expired),
        Some(r) => Ok(r),
    })
}

/// Accepts the invitation of link `plain` for `user` (whose address must be the invited
/// one): marks it used and gives the access with the invited roles and function, in the
/// caller's transaction. When the link was used meanwhile (two tabs, two clicks), nothing is
/// changed and the problem is returned.
pub async fn accept(
    tx: &mut Tx,
    now: Timestamp,
    plain: &str,
    user: UserId,
    actor: &AuditActor,
) -> StoreResult<Result<InvitationRow, LinkProblem>> {
    let row = match check(tx, now, plain).await? {
        Ok(row) => row,
        Err(problem) => return Ok(Err(problem)),
    };
    let Some(org) = row.org() else {
        return Ok(Err(LinkProblem::Unknown));
    };
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE invitations SET used_at = $3, user_id = $2
         WHERE token_hash = $1 AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > $3"
        )
        .bind(secret_hash(plain))
        .bind(user.to_string())
        .bind(to_micros(now))
    )?;
    if n == 0 {
        return Ok(Err(LinkProblem::Used));
    }
    accounts::grant(tx, now, user, org, row.roles(), row.title.as_deref(), actor).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "invitation.accepted",
            "invitation",
            &row.id,
        )
        .details(json!({ "courriel": row.email, "roles": row.roles, "compte": user.to_string() })),
    )
    .await?;
    Ok(Ok(row))
}
