//! Absences: someone acts "en l'absence de" a holder between two dates, for every dossier or
//! for one type. Dates are the organisation's local days, both included.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreResult, exec, run};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DelegationRow {
    pub id: String,
    pub from_user: String,
    pub from_name: String,
    pub to_user: String,
    pub to_name: String,
    pub starts_on: String,
    pub ends_on: String,
    pub doc_type: Option<String>,
}

/// Delegations of `org` not revoked and not over before `today`.
pub async fn list(h: &mut impl Handle, org: OrgId, today: &str) -> StoreResult<Vec<DelegationRow>> {
    Ok(run!(h, |c| {
        sqlx::query_as(
        "SELECT d.id, d.from_user, f.display_name AS from_name, d.to_user, t.display_name AS to_name,
                d.starts_on, d.ends_on, d.doc_type
         FROM parapheur_delegations d
         JOIN users f ON f.id = d.from_user JOIN users t ON t.id = d.to_user
         WHERE d.org_id = $1 AND d.revoked_at IS NULL AND d.ends_on >= $2
         ORDER BY d.starts_on, d.id"
    )
    .bind(org.to_string())
    .bind(today)
    .fetch_all(c)
    .await
    })?)
}

/// Who acts today for any of `holders` (user id, e-mail).
pub async fn delegates_today(
    h: &mut impl Handle,
    org: OrgId,
    holders: &[String],
    today: &str,
) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for holder in holders {
        let rows: Vec<(String, String)> = run!(h, |c| sqlx::query_as(
            "SELECT u.id, u.email FROM parapheur_delegations d JOIN users u ON u.id = d.to_user
             JOIN memberships m ON m.user_id = d.to_user AND m.org_id = d.org_id
             WHERE d.org_id = $1 AND d.from_user = $2 AND d.revoked_at IS NULL AND u.active
               AND d.starts_on <= $3 AND d.ends_on >= $3"
        )
        .bind(org.to_string())
        .bind(holder)
        .bind(today)
        .fetch_all(c)
        .await)?;
        out.extend(rows);
    }
    Ok(out)
}

pub struct NewDelegation<'a> {
    pub from: UserId,
    pub to: UserId,
    pub starts_on: Date,
    pub ends_on: Date,
    pub doc_type: Option<&'a str>,
}

pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    d: &NewDelegation<'_>,
    actor: &AuditActor,
) -> StoreResult<String> {
    if d.from == d.to {
        return Err(AppError::invalid(
            "suppleant",
            "Choisissez une autre personne que la personne absente.",
        )
        .into());
    }
    if d.ends_on < d.starts_on {
        return Err(AppError::invalid(
            "fin",
            "La date de fin doit être le même jour ou après la date de début.",
        )
        .into());
    }
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_delegations (id, org_id, from_user, to_user, starts_on, ends_on, doc_type, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(d.from.to_string())
    .bind(d.to.to_string())
    .bind(d.starts_on.to_string())
    .bind(d.ends_on.to_string())
    .bind(d.doc_type)
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "parapheur.delegation.created",
            "delegation",
            &id,
        )
        .details(json!({
            "absent": d.from.to_string(),
            "suppleant": d.to.to_string(),
            "du": d.starts_on.to_string(),
            "au": d.ends_on.to_string(),
            "type": d.doc_type,
        })),
    )
    .await?;
    Ok(id)
}

pub async fn revoke(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    actor: &AuditActor,
) -> StoreResult<()> {
    let n = exec!(tx, sqlx::query(
        "UPDATE parapheur_delegations SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL"
    )
    .bind(to_micros(now))
    .bind(org.to_string())
    .bind(id))?;
    if n == 0 {
        return Err(AppError::NotFound.into());
    }
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "parapheur.delegation.revoked",
            "delegation",
            id,
        ),
    )
    .await?;
    Ok(())
}
