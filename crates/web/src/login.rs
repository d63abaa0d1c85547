//! Checking an e-mail address and a password, the same way for the sign-in page and for
//! `POST /api/v1/auth/token`: throttled per address and per account, as long for an unknown
//! account as for a known one, every failure journaled.

use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{AppError, Email};
use bouquet_store::accounts::{self, UserRow};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::{Platform, Tx, orgs, usage};
use bouquet_webkit::WebResult;
use jiff::Timestamp;
use serde_json::json;

/// Where the attempt comes from (recorded in the journal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Page,
    Api,
}

#[derive(Debug)]
pub enum Checked {
    Accepted(UserRow),
    /// Wrong address or password, or a deactivated account: one answer for all.
    Refused,
    /// Too many failures: wait this many seconds.
    Throttled(u64),
}

pub fn throttle_keys(ip: &str, email: &str) -> (String, String) {
    (
        format!("ip:{ip}"),
        format!("compte:{}", email.trim().to_lowercase()),
    )
}

/// "Trop de tentatives…", with the wait in minutes.
pub fn wait_message(secs: u64) -> String {
    let minutes = secs.div_ceil(60);
    format!(
        "Trop de tentatives de connexion. Pour protéger le compte, réessayez dans {minutes} minute{}, ou réinitialisez votre mot de passe.",
        if minutes > 1 { "s" } else { "" }
    )
}

pub async fn check_credentials(
    p: &Platform,
    email: &str,
    password: &str,
    ip: &str,
    channel: Channel,
) -> WebResult<Checked> {
    let now = p.clock.now();
    let (ip_key, account_key) = throttle_keys(ip, email);
    // The attempt is counted before the (slow) password check: parallel attempts cannot all
    // pass under the limit.
    let mut tx = p.db.begin().await?;
    let wait_ip =
        accounts::throttle_attempt(&mut tx, now, &ip_key, accounts::THROTTLE_IP_MAX).await?;
    let wait_account =
        accounts::throttle_attempt(&mut tx, now, &account_key, accounts::THROTTLE_ACCOUNT_MAX)
            .await?;
    tx.commit().await?;
    if let Some(secs) = wait_ip.max(wait_account) {
        return Ok(Checked::Throttled(secs));
    }
    let user = {
        let mut conn = p.db.read().await?;
        match Email::parse(email) {
            Ok(e) => accounts::find_by_email(&mut conn, &e).await?,
            Err(_) => None,
        }
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let candidate = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some(hash) => accounts::verify_password(&candidate, &hash),
        None => {
            // Same cost as a real check, so that timing does not tell which accounts exist.
            let _ = accounts::verify_password(&candidate, accounts::dummy_hash());
            false
        }
    })
    .await
    .map_err(AppError::internal)?;
    let mut tx = p.db.begin().await?;
    match user {
        Some(u) if verified && u.active => {
            accounts::throttle_clear(&mut tx, &account_key).await?;
            accounts::throttle_forgive(&mut tx, &ip_key).await?;
            tx.commit().await?;
            Ok(Checked::Accepted(u))
        }
        other => {
            let (chain, actor) = match &other {
                Some(u) => (accounts::home_org(&mut tx, u.id()?).await?, u.audit_actor()),
                None => (
                    None,
                    AuditActor {
                        user_id: None,
                        label: "Inconnu".into(),
                    },
                ),
            };
            let reason = match &other {
                None => "compte inconnu",
                Some(u) if !u.active => "compte désactivé",
                Some(_) => "mot de passe incorrect",
            };
            audit::append(
                &mut tx,
                now,
                NewEvent::new(chain, &actor, "session.login_failed", "session", ip).details(json!({
                    "courriel": email.trim().to_lowercase(),
                    "motif": reason,
                    "par": match channel { Channel::Page => "page de connexion", Channel::Api => "API" },
                })),
            )
            .await?;
            tx.commit().await?;
            Ok(Checked::Refused)
        }
    }
}

/// Opens a session for `user` in the caller's transaction, as signing in does: notes the
/// sign-in, journals it, and counts a connexion in the usage of the person's first
/// organisation. Returns the cookie value (shown once, stored hashed).
pub async fn open_session(
    tx: &mut Tx,
    now: Timestamp,
    user: &UserRow,
    ip: &str,
    user_agent: Option<&str>,
) -> WebResult<String> {
    let user_id = user.id()?;
    let cookie = accounts::create_session(tx, now, user_id, Some(ip), user_agent).await?;
    accounts::record_login(tx, now, user_id).await?;
    let home = accounts::home_org(tx, user_id).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(home, &user.audit_actor(), "session.login", "session", ip),
    )
    .await?;
    if let Some(org_id) = home
        && let Some(org) = orgs::get(tx, org_id).await?
    {
        usage::record(
            tx,
            now,
            org_id,
            &org.tz(),
            UsageKind::Connexion,
            Some(user_id),
        )
        .await?;
    }
    Ok(cookie)
}
