//! People: accounts, passwords, memberships and roles, référents, sessions, API tokens,
//! password resets and login throttling.
//!
//! **Architecture Invariant:** secrets are never stored in clear. Passwords are argon2id
//! hashes; session cookies, API tokens and reset links are random 256-bit values of which
//! only the SHA-256 is kept. A stolen database does not open a session.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_kernel::ids::new_id;
use bouquet_kernel::policy::{Actor, Membership};
use bouquet_kernel::{AppError, Email, OrgId, OrgKind, Role, RoleSet, UserId};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditActor, NewEvent};
use crate::db::{Handle, Tx};
use crate::error::{StoreError, StoreResult};
use crate::page::{Cursor, Page};
use crate::{exec, run, search};

// ---------------------------------------------------------------------------------------
// Passwords and secrets

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Checks a new password against the policy; the message is shown at the field.
pub fn check_password_policy(password: &str, email: Option<&str>) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(
            "Le mot de passe doit comporter au moins 12 caractères. Une phrase de plusieurs mots est facile à retenir.",
        );
    }
    if n > MAX_PASSWORD_CHARS {
        return Err("Le mot de passe ne peut pas dépasser 128 caractères.");
    }
    if let Some(email) = email {
        let local = email.split('@').next().unwrap_or_default();
        if !local.is_empty() && password.to_lowercase().contains(&local.to_lowercase()) {
            return Err("Le mot de passe ne doit pas contenir votre adresse électronique.");
        }
    }
    Ok(())
}

/// argon2id with the recommended parameters; slow on purpose. Run it off the async threads.
pub fn hash_password(password: &str) -> StoreResult<String> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("hachage du mot de passe : {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash of nothing, verified when the account does not exist so that the answer takes as
/// long as for a real account (no account enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("compte-inexistant-bouquet").unwrap_or_default())
}

/// A new random secret (URL-safe) and the SHA-256 that is stored.
pub fn new_secret(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let plain = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = secret_hash(&plain);
    (plain, hash)
}

pub fn secret_hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

// ---------------------------------------------------------------------------------------
// Users

#[derive(Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub password_changed_at: Option<i64>,
    pub last_login_at: Option<i64>,
}

/// Never prints the password hash.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("display_name", &self.display_name)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    pub fn id(&self) -> StoreResult<UserId> {
        self.id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("identifiant de compte {}", self.id)))
    }

    pub fn audit_actor(&self) -> AuditActor {
        AuditActor {
            user_id: self.id.parse().ok(),
            label: self.display_name.clone(),
        }
    }
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, active, created_at, updated_at, password_changed_at, last_login_at";

fn check_display_name(name: &str) -> StoreResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "display_name",
            "Indiquez le prénom et le nom (120 caractères au plus).",
        )
        .into());
    }
    Ok(name.to_owned())
}

/// Creates an account. `password_hash` may be `None` (the person sets it through a link).
pub async fn create_user(
    tx: &mut Tx,
    now: Timestamp,
    email: &Email,
    display_name: &str,
    password_hash: Option<&str>,
    chain: Option<OrgId>,
    actor: &AuditActor,
) -> StoreResult<UserId> {
    let name = check_display_name(display_name)?;
    let id = UserId(new_id());
    let now_us = to_micros(now);
    let inserted = exec!(tx, sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, active, created_at, updated_at, password_changed_at)
         VALUES ($1, $2, $3, $4, TRUE, $5, $5, $6)
         ON CONFLICT (email) DO NOTHING"
    )
    .bind(id.to_string())
    .bind(email.as_str())
    .bind(&name)
    .bind(password_hash)
    .bind(now_us)
    .bind(password_hash.map(|_| now_us)))?;
    // Not a caught unique violation: on PostgreSQL it would abort the caller's transaction.
    if inserted == 0 {
        return Err(AppError::invalid(
            "email",
            "Un compte existe déjà avec cette adresse électronique.",
        )
        .into());
    }
    search::index(
        tx,
        None,
        "user",
        &id.to_string(),
        &format!("{name} {email}"),
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(chain, actor, "user.created", "user", id)
            .details(json!({ "courriel": email.as_str(), "nom": name })),
    )
    .await?;
    Ok(id)
}

/// An account to create with [`create_many`].
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    pub email: Email,
    pub display_name: String,
    /// An argon2id hash (several accounts may share one: seeded demo accounts do).
    pub password_hash: Option<&'a str>,
    /// The chain of the journal that records the creation (the person's organisation).
    pub chain: Option<OrgId>,
}

/// Creates many accounts: exactly what [`create_user`] writes for each (the row, its entry in
/// the search index, its `user.created` event), in a few multi-row statements. All or
/// nothing: when an address is already taken (or listed twice) the error is the one
/// [`create_user`] gives, and the caller's transaction must be dropped. Returns the new ids,
/// in order.
pub async fn create_many(
    tx: &mut Tx,
    now: Timestamp,
    users: &[NewUser<'_>],
    actor: &AuditActor,
) -> StoreResult<Vec<UserId>> {
    use crate::bulk::{self, int, opt_int, opt_text, text};
    let now_us = to_micros(now);
    let mut ids = Vec::with_capacity(users.len());
    let mut rows = Vec::with_capacity(users.len());
    let mut docs = Vec::with_capacity(users.len());
    let mut events = Vec::with_capacity(users.len());
    for u in users {
        let name = check_display_name(&u.display_name)?;
        let id = UserId(new_id());
        rows.push(vec![
            text(id.to_string()),
            text(u.email.as_str()),
            text(name.as_str()),
            opt_text(u.password_hash),
            crate::query::Arg::Bool(true),
            int(now_us),
            int(now_us),
            opt_int(u.password_hash.map(|_| now_us)),
        ]);
        docs.push(search::Doc {
            org: None,
            kind: "user",
            object_id: id.to_string(),
            text: format!("{name} {}", u.email),
        });
        events.push(
            NewEvent::new(u.chain, actor, "user.created", "user", id)
                .details(json!({ "courriel": u.email.as_str(), "nom": name })),
        );
        ids.push(id);
    }
    let inserted = bulk::insert(
        tx,
        "INSERT INTO users (id, email, display_name, password_hash, active, created_at, updated_at, password_changed_at)",
        &rows,
        "ON CONFLICT (email) DO NOTHING",
    )
    .await?;
    if inserted != rows.len() as u64 {
        return Err(AppError::invalid(
            "email",
            "Un compte existe déjà avec cette adresse électronique.",
        )
        .into());
    }
    search::index_many(tx, &docs).await?;
    audit::append_many(tx, now, &events).await?;
    Ok(ids)
}

pub async fn get_user(h: &mut impl Handle, id: UserId) -> StoreResult<Option<UserRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

pub async fn find_by_email(h: &mut impl Handle, email: &Email) -> StoreResult<Option<UserRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email.as_str())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// Every account, by name, with search and pagination (operator administration).
pub async fn list_users(
    h: &mut impl Handle,
    query: Option<&str>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<UserRow>> {
    let engine = h.engine();
    let expr = query.and_then(|q| search::match_expression(engine, q));
    let (c_name, c_id) = crate::page::text_text_key(cursor)?;
    let search_clause = if expr.is_some() {
        format!("AND id IN ({})", search::id_subquery(engine, 4, 5))
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE (CAST($1 AS TEXT) IS NULL OR display_name > $1 OR (display_name = $1 AND id > $2))
         {search_clause}
         ORDER BY display_name, id LIMIT $3"
    );
    let rows: Vec<UserRow> = run!(h, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&c_name)
            .bind(&c_id)
            .bind(limit + 1);
        if let Some(e) = &expr {
            q = q.bind(e).bind("user");
        }
        q.fetch_all(c).await
    })?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new().push_text(&r.display_name).push_text(&r.id)
    }))
}

pub async fn count_users(h: &mut impl Handle) -> StoreResult<i64> {
    let n: i64 = run!(h, |c| sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(c)
        .await)?;
    Ok(n)
}

/// The organisation whose chain records events about the account itself (its first
/// membership), or the platform chain.
pub async fn home_org(h: &mut impl Handle, user: UserId) -> StoreResult<Option<OrgId>> {
    let org: Option<String> = run!(h, |c| sqlx::query_scalar(
        "SELECT org_id FROM memberships WHERE user_id = $1 ORDER BY created_at, org_id LIMIT 1"
    )
    .bind(user.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(org.and_then(|o| o.parse().ok()))
}

/// Sets a new password hash; other sessions and API session tokens of the account end.
pub async fn set_password(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    password_hash: &str,
    keep_session: Option<&str>,
    action: &'static str,
    actor: &AuditActor,
) -> StoreResult<()> {
    let now_us = to_micros(now);
    exec!(tx, sqlx::query(
        "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1"
    )
    .bind(user.to_string())
    .bind(password_hash)
    .bind(now_us))?;
    end_sessions(tx, now, user, keep_session).await?;
    let chain = home_org(tx, user).await?;
    audit::append(tx, now, NewEvent::new(chain, actor, action, "user", user)).await?;
    Ok(())
}

/// Ends every session of `user` (but `keep`, a session token hash) and revokes its API
/// session tokens; personal tokens stay (they are revoked explicitly).
pub async fn end_sessions(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    keep: Option<&str>,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR token_hash <> $2)")
            .bind(user.to_string())
            .bind(keep)
    )?;
    exec!(tx, sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL"
    )
    .bind(user.to_string())
    .bind(to_micros(now)))?;
    Ok(())
}

/// Deactivates or reactivates an account. A deactivated account has no session and no
/// usable token.
pub async fn set_active(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    active: bool,
    actor: &AuditActor,
) -> StoreResult<bool> {
    // Only a real change is made and journaled: submitting the same form twice is harmless.
    let n = exec!(
        tx,
        sqlx::query("UPDATE users SET active = $2, updated_at = $3 WHERE id = $1 AND active <> $2")
            .bind(user.to_string())
            .bind(active)
            .bind(to_micros(now))
    )?;
    if n == 0 {
        return Ok(false);
    }
    if !active {
        end_sessions(tx, now, user, None).await?;
        exec!(
            tx,
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL"
            )
            .bind(user.to_string())
            .bind(to_micros(now))
        )?;
    }
    let chain = home_org(tx, user).await?;
    let action = if active {
        "user.reactivated"
    } else {
        "user.deactivated"
    };
    audit::append(tx, now, NewEvent::new(chain, actor, action, "user", user)).await?;
    Ok(true)
}

pub async fn record_login(h: &mut Tx, now: Timestamp, user: UserId) -> StoreResult<()> {
    exec!(
        h,
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(user.to_string())
            .bind(to_micros(now))
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Memberships and référents

/// Gives `user` access to `org` with `roles`.
pub async fn grant(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    org: OrgId,
    roles: RoleSet,
    title: Option<&str>,
    actor: &AuditActor,
) -> StoreResult<()> {
    if roles.is_empty() {
        return Err(AppError::invalid("roles", "Choisissez au moins un rôle.").into());
    }
    let inserted = exec!(tx, sqlx::query(
        "INSERT INTO memberships (user_id, org_id, roles, title, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, org_id) DO NOTHING"
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .bind(roles.to_stored())
    .bind(title.map(str::trim).filter(|t| !t.is_empty()))
    .bind(to_micros(now)))?;
    if inserted == 0 {
        return Err(
            AppError::Conflict("Cette personne a déjà accès à cette organisation.".into()).into(),
        );
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "membership.granted", "user", user)
            .details(json!({ "roles": roles.to_stored(), "fonction": title })),
    )
    .await?;
    Ok(())
}

/// A membership to give with [`grant_many`].
#[derive(Clone, Debug)]
pub struct NewGrant<'a> {
    pub user: UserId,
    pub org: OrgId,
    pub roles: RoleSet,
    /// Function in the organisation ("Secrétaire de mairie").
    pub title: Option<&'a str>,
}

/// Gives many memberships: exactly what [`grant`] writes for each (the row and its
/// `membership.granted` event), in a few multi-row statements. All or nothing: the same
/// errors as [`grant`] (drop the caller's transaction then).
pub async fn grant_many(
    tx: &mut Tx,
    now: Timestamp,
    grants: &[NewGrant<'_>],
    actor: &AuditActor,
) -> StoreResult<()> {
    use crate::bulk::{self, int, opt_text, text};
    let now_us = to_micros(now);
    let mut rows = Vec::with_capacity(grants.len());
    let mut events = Vec::with_capacity(grants.len());
    for g in grants {
        if g.roles.is_empty() {
            return Err(AppError::invalid("roles", "Choisissez au moins un rôle.").into());
        }
        rows.push(vec![
            text(g.user.to_string()),
            text(g.org.to_string()),
            text(g.roles.to_stored()),
            opt_text(g.title.map(str::trim).filter(|t| !t.is_empty())),
            int(now_us),
        ]);
        events.push(
            NewEvent::new(Some(g.org), actor, "membership.granted", "user", g.user)
                .details(json!({ "roles": g.roles.to_stored(), "fonction": g.title })),
        );
    }
    let inserted = bulk::insert(
        tx,
        "INSERT INTO memberships (user_id, org_id, roles, title, created_at)",
        &rows,
        "ON CONFLICT (user_id, org_id) DO NOTHING",
    )
    .await?;
    if inserted != rows.len() as u64 {
        return Err(
            AppError::Conflict("Cette personne a déjà accès à cette organisation.".into()).into(),
        );
    }
    audit::append_many(tx, now, &events).await?;
    Ok(())
}

/// Replaces the roles of `user` in `org`. Returns false when there is no such membership.
pub async fn set_roles(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    org: OrgId,
    roles: RoleSet,
    actor: &AuditActor,
) -> StoreResult<bool> {
    if roles.is_empty() {
        return Err(AppError::invalid(
            "roles",
            "Choisissez au moins un rôle, ou retirez l'accès à l'organisation.",
        )
        .into());
    }
    let n = exec!(
        tx,
        sqlx::query("UPDATE memberships SET roles = $3 WHERE user_id = $1 AND org_id = $2")
            .bind(user.to_string())
            .bind(org.to_string())
            .bind(roles.to_stored())
    )?;
    if n == 0 {
        return Ok(false);
    }
    if !roles.contains(Role::ReferentNumerique) {
        // No longer référent: the communes he followed for this EPCI are closed to him.
        forget_referent(tx, user, org).await?;
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "membership.roles_changed", "user", user)
            .details(json!({ "roles": roles.to_stored() })),
    )
    .await?;
    Ok(true)
}

/// Removes `user` from `org`. Returns false when there is no such membership.
pub async fn revoke(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    org: OrgId,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND org_id = $2")
            .bind(user.to_string())
            .bind(org.to_string())
    )?;
    if n == 0 {
        return Ok(false);
    }
    forget_referent(tx, user, org).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "membership.revoked", "user", user),
    )
    .await?;
    Ok(true)
}

/// One organisation a person belongs to, as shown in the organisation selector.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MembershipRow {
    pub org_id: String,
    pub siren: String,
    pub name: String,
    pub kind: String,
    pub roles: String,
    pub title: Option<String>,
}

impl MembershipRow {
    pub fn roles(&self) -> RoleSet {
        RoleSet::parse(&self.roles).unwrap_or_default()
    }
}

pub async fn memberships(h: &mut impl Handle, user: UserId) -> StoreResult<Vec<MembershipRow>> {
    let rows = run!(h, |c| sqlx::query_as(
        "SELECT o.id AS org_id, o.siren, o.name, o.kind, m.roles, m.title
         FROM memberships m JOIN organisations o ON o.id = m.org_id
         WHERE m.user_id = $1 ORDER BY m.created_at, o.name"
    )
    .bind(user.to_string())
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// A person of an organisation, as its user list shows them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrgUserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub active: bool,
    pub last_login_at: Option<i64>,
    pub roles: String,
    pub title: Option<String>,
    pub created_at: i64,
}

impl OrgUserRow {
    pub fn roles(&self) -> RoleSet {
        RoleSet::parse(&self.roles).unwrap_or_default()
    }

    pub fn last_login(&self) -> Option<Timestamp> {
        self.last_login_at.map(from_micros)
    }
}

/// The people of `org`, by name, with search and pagination.
pub async fn org_users(
    h: &mut impl Handle,
    org: OrgId,
    query: Option<&str>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<OrgUserRow>> {
    let engine = h.engine();
    let expr = query.and_then(|q| search::match_expression(engine, q));
    let (c_name, c_id) = crate::page::text_text_key(cursor)?;
    let search_clause = if expr.is_some() {
        format!("AND u.id IN ({})", search::id_subquery(engine, 5, 6))
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT u.id, u.email, u.display_name, u.active, u.last_login_at, m.roles, m.title, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR u.display_name > $2 OR (u.display_name = $2 AND u.id > $3))
           {search_clause}
         ORDER BY u.display_name, u.id LIMIT $4"
    );
    let rows: Vec<OrgUserRow> = run!(h, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.to_string())
            .bind(&c_name)
            .bind(&c_id)
            .bind(limit + 1);
        if let Some(e) = &expr {
            q = q.bind(e).bind("user");
        }
        q.fetch_all(c).await
    })?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new().push_text(&r.display_name).push_text(&r.id)
    }))
}

/// One person of `org`; `None` if they do not belong to it (whatever else they are).
pub async fn org_user(
    h: &mut impl Handle,
    org: OrgId,
    user: UserId,
) -> StoreResult<Option<OrgUserRow>> {
    let row = run!(h, |c| {
        sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.active, u.last_login_at, m.roles, m.title, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.user_id = $2"
    )
    .bind(org.to_string())
    .bind(user.to_string())
    .fetch_optional(c)
    .await
    })?;
    Ok(row)
}

/// Records that `user`, référent of `epci`, follows `org`.
pub async fn follow(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    epci: OrgId,
    org: OrgId,
    actor: &AuditActor,
) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "INSERT INTO referent_follows (user_id, epci_id, org_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, org_id) DO UPDATE SET epci_id = excluded.epci_id"
    )
    .bind(user.to_string())
    .bind(epci.to_string())
    .bind(org.to_string())
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(epci), actor, "referent.follow", "organisation", org)
            .details(json!({ "referent": user.to_string() })),
    )
    .await?;
    Ok(())
}

async fn forget_referent(tx: &mut Tx, user: UserId, epci: OrgId) -> StoreResult<()> {
    for table in ["referent_follows", "referent_scopes"] {
        exec!(
            tx,
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE user_id = $1 AND epci_id = $2"
            )))
            .bind(user.to_string())
            .bind(epci.to_string())
        )?;
    }
    Ok(())
}

/// Organisations a référent follows, as selector rows (with no roles of their own): those
/// named for him, and every commune of his EPCI when he follows them all — only while he
/// still holds the role in that EPCI.
pub async fn followed(h: &mut impl Handle, user: UserId) -> StoreResult<Vec<MembershipRow>> {
    // Runs on every request: it starts from the person's référent memberships (a handful)
    // and reaches organisations by their keys, never scanning the organisations.
    let rows = run!(h, |c| {
        sqlx::query_as(
        "SELECT o.id AS org_id, o.siren, o.name, o.kind, '' AS roles, CAST(NULL AS TEXT) AS title
         FROM memberships m
         JOIN referent_follows f ON f.user_id = m.user_id AND f.epci_id = m.org_id
         JOIN organisations o ON o.id = f.org_id
         WHERE m.user_id = $1 AND m.roles LIKE '%referent_numerique%'
         UNION
         SELECT o.id AS org_id, o.siren, o.name, o.kind, '' AS roles, CAST(NULL AS TEXT) AS title
         FROM memberships m
         JOIN referent_scopes s ON s.user_id = m.user_id AND s.epci_id = m.org_id AND s.all_communes = TRUE
         JOIN organisations o ON o.parent_id = m.org_id
         WHERE m.user_id = $1 AND m.roles LIKE '%referent_numerique%'
         ORDER BY name"
    )
    .bind(user.to_string())
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

/// The référents who follow `org` (active accounts still holding the role).
pub async fn referents_of(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<UserRow>> {
    let columns = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = run!(h, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT {columns} FROM users u
         JOIN memberships m ON m.user_id = u.id AND m.roles LIKE '%referent_numerique%'
         JOIN organisations o ON o.id = $1
         WHERE u.active = TRUE
           AND (EXISTS (SELECT 1 FROM referent_follows f WHERE f.user_id = u.id AND f.org_id = o.id AND f.epci_id = m.org_id)
                OR (o.parent_id = m.org_id
                    AND EXISTS (SELECT 1 FROM referent_scopes s WHERE s.user_id = u.id AND s.epci_id = m.org_id AND s.all_communes = TRUE)))
         ORDER BY u.display_name"
    )))
    .bind(org.to_string())
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

/// Which communes of `epci` a référent follows: all of them (present and future), or a list.
pub async fn set_referent_scope(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    epci: OrgId,
    all: bool,
    communes: &[OrgId],
    actor: &AuditActor,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("DELETE FROM referent_follows WHERE user_id = $1 AND epci_id = $2")
            .bind(user.to_string())
            .bind(epci.to_string())
    )?;
    exec!(tx, sqlx::query(
        "INSERT INTO referent_scopes (user_id, epci_id, all_communes, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, epci_id) DO UPDATE SET all_communes = excluded.all_communes"
    )
    .bind(user.to_string())
    .bind(epci.to_string())
    .bind(all)
    .bind(to_micros(now)))?;
    if !all {
        for org in communes {
            exec!(tx, sqlx::query(
                "INSERT INTO referent_follows (user_id, epci_id, org_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, org_id) DO UPDATE SET epci_id = excluded.epci_id"
            )
            .bind(user.to_string())
            .bind(epci.to_string())
            .bind(org.to_string())
            .bind(to_micros(now)))?;
        }
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(epci), actor, "referent.scope_changed", "user", user).details(json!({
            "toutes_les_communes": all,
            "communes": if all { 0 } else { communes.len() },
        })),
    )
    .await?;
    Ok(())
}

/// Whether a référent of `epci` follows all its communes.
pub async fn follows_all(h: &mut impl Handle, user: UserId, epci: OrgId) -> StoreResult<bool> {
    let all: Option<bool> = run!(h, |c| sqlx::query_scalar(
        "SELECT all_communes FROM referent_scopes WHERE user_id = $1 AND epci_id = $2"
    )
    .bind(user.to_string())
    .bind(epci.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(all.unwrap_or(false))
}

/// Everything the policy needs to know about `user`.
pub async fn load_actor(h: &mut impl Handle, user: UserId) -> StoreResult<Actor> {
    let memberships = memberships(h, user).await?;
    let followed = followed(h, user).await?;
    Ok(actor_of(user, &memberships, &followed))
}

/// The policy's view of a person, from rows already read (see [`memberships`], [`followed`]).
pub fn actor_of(user: UserId, memberships: &[MembershipRow], followed: &[MembershipRow]) -> Actor {
    Actor {
        user_id: user,
        memberships: memberships
            .iter()
            .filter_map(|m| {
                Some(Membership {
                    org_id: m.org_id.parse().ok()?,
                    org_kind: m.kind.parse::<OrgKind>().ok()?,
                    roles: m.roles(),
                })
            })
            .collect(),
        followed: followed
            .iter()
            .filter_map(|f| f.org_id.parse().ok())
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Sessions

pub const SESSION_IDLE: SignedDuration = SignedDuration::from_hours(8);
pub const SESSION_MAX: SignedDuration = SignedDuration::from_hours(24 * 7);

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// Opens a session; returns the cookie value (shown once, stored hashed).
pub async fn create_session(
    h: &mut Tx,
    now: Timestamp,
    user: UserId,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> StoreResult<String> {
    let (plain, hash) = new_secret("");
    let now_us = to_micros(now);
    exec!(h, sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $3, $4, $5, $6)"
    )
    .bind(&hash)
    .bind(user.to_string())
    .bind(now_us)
    .bind(to_micros(now.saturating_add(SESSION_IDLE).unwrap_or(now)))
    .bind(ip)
    .bind(user_agent.map(|ua| ua.chars().take(300).collect::<String>())))?;
    Ok(plain)
}

/// The session and its (active) user, if the cookie is valid now.
pub async fn session_user(
    h: &mut impl Handle,
    now: Timestamp,
    cookie: &str,
) -> StoreResult<Option<(SessionRow, UserRow)>> {
    let hash = secret_hash(cookie);
    let session: Option<SessionRow> = run!(h, |c| sqlx::query_as(
        "SELECT token_hash, user_id, created_at, last_seen_at, expires_at FROM sessions
         WHERE token_hash = $1 AND expires_at > $2"
    )
    .bind(&hash)
    .bind(to_micros(now))
    .fetch_optional(c)
    .await)?;
    let Some(session) = session else {
        return Ok(None);
    };
    if now
        > from_micros(session.created_at)
            .saturating_add(SESSION_MAX)
            .unwrap_or(now)
    {
        return Ok(None);
    }
    let Ok(user_id) = session.user_id.parse() else {
        return Ok(None);
    };
    match get_user(h, user_id).await? {
        Some(user) if user.active => Ok(Some((session, user))),
        _ => Ok(None),
    }
}

/// Whether the session's sliding expiry is due to be written: at most every five minutes,
/// so that reading pages does not take the single SQLite writer.
pub fn session_needs_touch(now: Timestamp, session: &SessionRow) -> bool {
    to_micros(now) - session.last_seen_at >= 5 * 60 * 1_000_000
}

/// Slides the session's expiry (call when [`session_needs_touch`]).
pub async fn touch_session(h: &mut Tx, now: Timestamp, session: &SessionRow) -> StoreResult<()> {
    exec!(
        h,
        sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE token_hash = $1")
            .bind(&session.token_hash)
            .bind(to_micros(now))
            .bind(to_micros(now.saturating_add(SESSION_IDLE).unwrap_or(now)))
    )?;
    Ok(())
}

/// Ends one session, given the hash kept in the database.
pub async fn delete_session_hash(h: &mut Tx, token_hash: &str) -> StoreResult<()> {
    exec!(
        h,
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash)
    )?;
    Ok(())
}

/// Deletes expired sessions, tokens and reset links.
pub async fn purge_expired(h: &mut Tx, now: Timestamp) -> StoreResult<u64> {
    let now_us = to_micros(now);
    let a = exec!(
        h,
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now_us)
    )?;
    let b = exec!(
        h,
        sqlx::query("DELETE FROM password_resets WHERE expires_at < $1").bind(now_us)
    )?;
    Ok(a + b)
}

// ---------------------------------------------------------------------------------------
// API tokens

pub const TOKEN_PREFIX: &str = "bq_";
/// Tokens from `POST /api/v1/auth/token` live this long.
pub const SESSION_TOKEN_TTL: SignedDuration = SignedDuration::from_hours(12);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Issued by `POST /api/v1/auth/token` for a short while.
    Session,
    /// Created by the person in their profile, until revoked or expired.
    Personal,
}

impl TokenKind {
    fn code(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Personal => "personal",
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str =
    "id, user_id, kind, name, prefix, created_at, expires_at, last_used_at, revoked_at";

/// Creates an API token; returns its id and its value (shown once).
pub async fn create_token(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    kind: TokenKind,
    name: &str,
    expires_at: Option<Timestamp>,
    actor: &AuditActor,
) -> StoreResult<(String, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "Donnez un nom au jeton (80 caractères au plus), par exemple le logiciel qui l'utilisera.").into());
    }
    let (plain, hash) = new_secret(TOKEN_PREFIX);
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO api_tokens (id, user_id, kind, name, token_hash, prefix, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&id)
    .bind(user.to_string())
    .bind(kind.code())
    .bind(name)
    .bind(&hash)
    .bind(plain.chars().take(TOKEN_PREFIX.len() + 6).collect::<String>())
    .bind(to_micros(now))
    .bind(expires_at.map(to_micros)))?;
    let chain = home_org(tx, user).await?;
    let action = match kind {
        TokenKind::Session => "session.token_issued",
        TokenKind::Personal => "user.token_created",
    };
    audit::append(
        tx,
        now,
        NewEvent::new(chain, actor, action, "api_token", &id).details(json!({ "nom": name })),
    )
    .await?;
    Ok((id, plain))
}

/// The token and its (active) user, if `plain` is valid now.
pub async fn token_user(
    h: &mut impl Handle,
    now: Timestamp,
    plain: &str,
) -> StoreResult<Option<(TokenRow, UserRow)>> {
    if !plain.starts_with(TOKEN_PREFIX) || plain.len() > 100 {
        return Ok(None);
    }
    let token: Option<TokenRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
    )))
    .bind(secret_hash(plain))
    .bind(to_micros(now))
    .fetch_optional(c)
    .await)?;
    let Some(token) = token else {
        return Ok(None);
    };
    let Ok(user_id) = token.user_id.parse() else {
        return Ok(None);
    };
    match get_user(h, user_id).await? {
        Some(user) if user.active => Ok(Some((token, user))),
        _ => Ok(None),
    }
}

/// Whether the last use of a token is due to be written (at most once a minute).
pub fn token_needs_mark(now: Timestamp, token: &TokenRow) -> bool {
    token
        .last_used_at
        .is_none_or(|t| to_micros(now) - t >= 60 * 1_000_000)
}

/// Notes the use of a token (call when [`token_needs_mark`]).
pub async fn mark_token_used(h: &mut Tx, now: Timestamp, token: &TokenRow) -> StoreResult<()> {
    let now_us = to_micros(now);
    exec!(
        h,
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(&token.id)
            .bind(now_us)
    )?;
    Ok(())
}

/// The personal tokens of `user` that are not revoked.
pub async fn personal_tokens(h: &mut impl Handle, user: UserId) -> StoreResult<Vec<TokenRow>> {
    let rows = run!(h, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens
         WHERE user_id = $1 AND kind = 'personal' AND revoked_at IS NULL ORDER BY created_at DESC, id"
    )))
    .bind(user.to_string())
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

/// Revokes a personal token of `user`. Returns false if `user` has no such token (another
/// person's token is, for them, a token that does not exist).
pub async fn revoke_token(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    id: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let n = exec!(tx, sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND kind = 'personal' AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(user.to_string())
    .bind(to_micros(now)))?;
    if n == 0 {
        return Ok(false);
    }
    let chain = home_org(tx, user).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(chain, actor, "user.token_revoked", "api_token", id),
    )
    .await?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// Password reset links

pub const RESET_TTL: SignedDuration = SignedDuration::from_hours(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetProblem {
    Unknown,
    Expired,
    Used,
}

impl ResetProblem {
    pub fn message(self) -> &'static str {
        match self {
            ResetProblem::Unknown => {
                "Ce lien de réinitialisation n'est pas valide. Vérifiez qu'il a été copié en entier, ou demandez-en un nouveau."
            }
            ResetProblem::Expired => {
                "Ce lien a expiré. Demandez-en un nouveau avec « Mot de passe oublié »."
            }
            ResetProblem::Used => {
                "Ce lien de réinitialisation a déjà servi. Demandez-en un nouveau si nécessaire."
            }
        }
    }
}

/// An invitation to choose one's password (new accounts) lasts a week.
pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Why a link to choose a password is created (journaled as such).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkReason {
    /// The person asked ("mot de passe oublié"), or someone did for them.
    Reset,
    /// A new account.
    Invitation,
}

/// Creates a reset link secret for `user`, valid for `ttl`; earlier unused links stop working.
/// The secret is returned once and only its hash is kept.
pub async fn create_reset(
    tx: &mut Tx,
    now: Timestamp,
    user: UserId,
    ttl: SignedDuration,
    reason: LinkReason,
    actor: &AuditActor,
) -> StoreResult<String> {
    let (plain, hash) = new_secret("");
    let now_us = to_micros(now);
    exec!(
        tx,
        sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL"
        )
        .bind(user.to_string())
        .bind(now_us)
    )?;
    exec!(tx, sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(&hash)
    .bind(user.to_string())
    .bind(now_us)
    .bind(to_micros(now.saturating_add(ttl).unwrap_or(now))))?;
    let chain = home_org(tx, user).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            chain,
            actor,
            match reason {
                LinkReason::Reset => "user.password_reset_requested",
                LinkReason::Invitation => "user.invited",
            },
            "user",
            user,
        ),
    )
    .await?;
    Ok(plain)
}

/// Which account a reset link opens, if it is still valid.
pub async fn check_reset(
    h: &mut impl Handle,
    now: Timestamp,
    plain: &str,
) -> StoreResult<Result<UserId, ResetProblem>> {
    let row: Option<(String, i64, Option<i64>)> = run!(h, |c| sqlx::query_as(
        "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = $1"
    )
    .bind(secret_hash(plain))
    .fetch_optional(c)
    .await)?;
    Ok(match row {
        None => Err(ResetProblem::Unknown),
        Some((_, _, Some(_))) => Err(ResetProblem::Used),
        Some((_, expires, None)) if expires <= to_micros(now) => Err(ResetProblem::Expired),
        Some((user, _, None)) => user.parse().map_err(|_| ResetProblem::Unknown),
    })
}

/// Marks a reset link used; false if it was used meanwhile (two tabs).
pub async fn consume_reset(tx: &mut Tx, now: Timestamp, plain: &str) -> StoreResult<bool> {
    let n = exec!(tx, sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
    )
    .bind(secret_hash(plain))
    .bind(to_micros(now)))?;
    Ok(n == 1)
}

// ---------------------------------------------------------------------------------------
// Login throttling

/// Failures allowed per window before a key is blocked.
pub const THROTTLE_ACCOUNT_MAX: i32 = 5;
pub const THROTTLE_IP_MAX: i32 = 30;
pub const THROTTLE_WINDOW: SignedDuration = SignedDuration::from_mins(15);

/// Counts one attempt for `key` and says whether it may go on: `Some(seconds to wait)` when
/// `max` attempts were already counted in the current window. The count is taken and read in
/// one statement, *before* the password is checked, so that attempts sent in parallel cannot
/// all slip under the limit. A successful sign-in then calls [`throttle_forgive`].
/// Seconds to wait when `key` has failed more than `max` times in the current window (read
/// only: nothing is counted).
pub async fn throttled(
    h: &mut impl Handle,
    now: Timestamp,
    key: &str,
    max: i32,
) -> StoreResult<Option<u64>> {
    let now_us = to_micros(now);
    let window_us = i64::try_from(THROTTLE_WINDOW.as_micros()).unwrap_or(i64::MAX);
    let row: Option<(i64, i32)> = run!(h, |c| {
        sqlx::query_as("SELECT window_start, failures FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.and_then(|(start, failures)| {
        let end = start.saturating_add(window_us);
        (failures > max && end > now_us)
            .then(|| u64::try_from((end - now_us + 999_999) / 1_000_000).unwrap_or(u64::MAX))
    }))
}

pub async fn throttle_attempt(
    tx: &mut Tx,
    now: Timestamp,
    key: &str,
    max: i32,
) -> StoreResult<Option<u64>> {
    let now_us = to_micros(now);
    let window_us = i64::try_from(THROTTLE_WINDOW.as_micros()).unwrap_or(i64::MAX);
    let (start, attempts): (i64, i32) = run!(tx, |c| {
        sqlx::query_as(
        "INSERT INTO login_throttle (key, window_start, failures) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN login_throttle.window_start + $3 <= $2 THEN 1 ELSE login_throttle.failures + 1 END,
           window_start = CASE WHEN login_throttle.window_start + $3 <= $2 THEN $2 ELSE login_throttle.window_start END
         RETURNING window_start, failures"
    )
    .bind(key)
    .bind(now_us)
    .bind(window_us)
    .fetch_one(c)
    .await
    })?;
    if attempts > max {
        let end = start.saturating_add(window_us);
        Ok(Some(
            u64::try_from((end - now_us + 999_999) / 1_000_000)
                .unwrap_or(1)
                .max(1),
        ))
    } else {
        Ok(None)
    }
}

/// Takes back the attempt counted for `key` (the sign-in succeeded).
pub async fn throttle_forgive(tx: &mut Tx, key: &str) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0"
        )
        .bind(key)
    )?;
    Ok(())
}

pub async fn throttle_clear(h: &mut Tx, key: &str) -> StoreResult<()> {
    exec!(
        h,
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert!(check_password_policy("bouquet-demo", None).is_ok());
        assert!(check_password_policy("court", None).is_err());
        assert!(check_password_policy(&"x".repeat(129), None).is_err());
        assert!(
            check_password_policy("sophie.lebrun-2026", Some("sophie.lebrun@arbrissel.fr"))
                .is_err()
        );
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("une phrase de passe").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("une phrase de passe", &h));
        assert!(!verify_password("une phrase de passf", &h));
        assert!(!verify_password("x", "pas un hachage"));
    }

    #[test]
    fn secrets_are_random_and_only_their_hash_is_kept() {
        let (a, ha) = new_secret(TOKEN_PREFIX);
        let (b, _) = new_secret(TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("bq_") && a.len() > 40);
        assert_eq!(secret_hash(&a), ha);
        assert!(!ha.contains(&a[3..]));
    }
}
