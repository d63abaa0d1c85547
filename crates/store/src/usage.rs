//! Usage events and their monthly aggregates.
//!
//! [`record`] appends the event and increments the month's counter in the same statement
//! sequence (an upsert), so aggregates are always up to date and reading them never scans
//! events. The month is the organisation's local month. [`monthly`] is the one interface
//! the usage statistics, the contributions and the territorial projects read.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::usage::{UsageKind, service_code};
use bouquet_kernel::{OrgId, UserId};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::db::{Handle, Tx};
use crate::error::StoreResult;
use crate::{exec, run};

/// "2026-11", in the organisation's time zone.
pub fn month_of(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m")
        .to_string()
}

/// Records one usage event.
pub async fn record(
    h: &mut Tx,
    at: Timestamp,
    org: OrgId,
    tz: &TimeZone,
    kind: UsageKind,
    user: Option<UserId>,
) -> StoreResult<()> {
    let service = service_code(kind.service());
    let org = org.to_string();
    exec!(h, sqlx::query(
        "INSERT INTO usage_events (org_id, service, kind, user_id, at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(&org)
    .bind(service)
    .bind(kind.code())
    .bind(user.map(|u| u.to_string()))
    .bind(to_micros(at)))?;
    exec!(h, sqlx::query(
        "INSERT INTO usage_monthly (org_id, service, kind, month, count) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (org_id, service, kind, month) DO UPDATE SET count = usage_monthly.count + 1"
    )
    .bind(&org)
    .bind(service)
    .bind(kind.code())
    .bind(month_of(at, tz)))?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MonthlyCount {
    pub org_id: String,
    /// A service code, or `platform`.
    pub service: String,
    pub kind: String,
    /// `YYYY-MM`.
    pub month: String,
    pub count: i64,
}

/// Monthly counts of `orgs` between two months (inclusive, `YYYY-MM`).
pub async fn monthly(
    h: &mut impl Handle,
    orgs: &[OrgId],
    from_month: &str,
    to_month: &str,
) -> StoreResult<Vec<MonthlyCount>> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..orgs.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT org_id, service, kind, month, count FROM usage_monthly
         WHERE month >= $1 AND month <= $2 AND org_id IN ({})
         ORDER BY org_id, month, service, kind",
        placeholders.join(", ")
    );
    let rows: Vec<MonthlyCount> = run!(h, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(from_month)
            .bind(to_month);
        for o in orgs {
            q = q.bind(o.to_string());
        }
        q.fetch_all(c).await
    })?;
    Ok(rows)
}
