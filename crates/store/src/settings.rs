//! Small platform-wide values kept in the database (e.g. whether the demo was seeded).

use bouquet_kernel::clock::to_micros;
use jiff::Timestamp;

use crate::db::{Handle, Tx};
use crate::error::StoreResult;
use crate::{exec, run};

pub async fn get(h: &mut impl Handle, key: &str) -> StoreResult<Option<String>> {
    let v: Option<String> = run!(h, |c| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(c)
    .await)?;
    Ok(v)
}

pub async fn set(h: &mut Tx, now: Timestamp, key: &str, value: &str) -> StoreResult<()> {
    exec!(
        h,
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        )
        .bind(key)
        .bind(value)
        .bind(to_micros(now))
    )?;
    Ok(())
}
