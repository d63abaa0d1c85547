//! The job queue, in the database.
//!
//! A job has a `kind` (the name of its handler), a JSON payload, a `run_at`, and a number of
//! attempts. Workers claim one job at a time: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
//! that workers of several processes never take the same job; on SQLite inside the single
//! writer's `BEGIN IMMEDIATE` transaction, which serialises claims. A claim is a lease
//! (`locked_until`): a job whose worker died is claimed again once the lease expires.
//!
//! A failed job is retried with exponential backoff until `max_attempts`, then becomes
//! `dead`: visible to operator administrators, who can retry it (UI and CLI).

use bouquet_kernel::OrgId;
use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_kernel::ids::new_id;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::audit::{self, AuditActor, NewEvent};
use crate::db::{Db, Handle, Tx};
use crate::error::StoreResult;
use crate::page::{Cursor, Page};
use crate::{exec, run, run_sql};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Dead,
    ];

    pub fn code(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Pending => "En attente",
            JobStatus::Running => "En cours",
            JobStatus::Done => "Terminée",
            JobStatus::Dead => "En échec",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub org: Option<OrgId>,
    pub run_at: Option<Timestamp>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            org: None,
            run_at: None,
            max_attempts: 8,
        }
    }

    pub fn for_org(mut self, org: OrgId) -> Self {
        self.org = Some(org);
        self
    }

    pub fn at(mut self, run_at: Timestamp) -> Self {
        self.run_at = Some(run_at);
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// Enqueues a job, inside the caller's transaction when given one: the job exists if and only
/// if the change that asked for it was committed.
pub async fn enqueue(h: &mut Tx, now: Timestamp, job: NewJob) -> StoreResult<String> {
    let id = new_id().to_string();
    let now_us = to_micros(now);
    exec!(h, sqlx::query(
        "INSERT INTO jobs (id, kind, payload, org_id, status, run_at, attempts, max_attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $7, $7)"
    )
    .bind(&id)
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(job.org.map(|o| o.to_string()))
    .bind(job.run_at.map_or(now_us, to_micros))
    .bind(job.max_attempts)
    .bind(now_us))?;
    Ok(id)
}

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub org_id: Option<String>,
    pub status: String,
    pub run_at: i64,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub locked_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl JobRow {
    pub fn status(&self) -> Option<JobStatus> {
        JobStatus::parse(&self.status)
    }

    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or(Value::Null)
    }

    pub fn run_at(&self) -> Timestamp {
        from_micros(self.run_at)
    }
}

const JOB_COLUMNS: &str = "id, kind, payload, org_id, status, run_at, attempts, max_attempts, last_error, locked_by, created_at, updated_at, finished_at";

/// Claims the next due job for `worker`, holding it for `lease`.
pub async fn claim(
    db: &Db,
    now: Timestamp,
    worker: &str,
    lease: SignedDuration,
) -> StoreResult<Option<JobRow>> {
    let now_us = to_micros(now);
    let until = to_micros(now.saturating_add(lease).unwrap_or(now));
    let mut tx = db.begin().await?;
    // A job whose worker died holding it is taken again when its lease expires, unless it has
    // used all its attempts: a job that crashes its process must end dead, not loop forever.
    exec!(&mut tx, sqlx::query(
        "UPDATE jobs SET status = 'dead', finished_at = $1, updated_at = $1, locked_by = NULL, locked_until = NULL,
                last_error = 'Abandonnée : le travailleur s''est arrêté pendant la tâche et tous les essais sont épuisés.'
         WHERE status = 'running' AND locked_until < $1 AND attempts >= max_attempts"
    )
    .bind(now_us))?;
    let row: Option<JobRow> = run_sql!(&mut tx,
        sqlite: "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3
                 WHERE id = (SELECT id FROM jobs
                             WHERE (status = 'pending' AND run_at <= $3) OR (status = 'running' AND locked_until < $3 AND attempts < max_attempts)
                             ORDER BY run_at, id LIMIT 1)
                 RETURNING id, kind, payload, org_id, status, run_at, attempts, max_attempts, last_error, locked_by, created_at, updated_at, finished_at",
        postgres: "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3
                 WHERE id = (SELECT id FROM jobs
                             WHERE (status = 'pending' AND run_at <= $3) OR (status = 'running' AND locked_until < $3 AND attempts < max_attempts)
                             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING id, kind, payload, org_id, status, run_at, attempts, max_attempts, last_error, locked_by, created_at, updated_at, finished_at",
        |c, sql| sqlx::query_as(sql)
            .bind(worker)
            .bind(until)
            .bind(now_us)
            .fetch_optional(c)
            .await)?;
    tx.commit().await?;
    Ok(row)
}

/// Marks a claimed job done. Returns false if the lease was lost (another worker took it).
pub async fn complete(db: &Db, now: Timestamp, id: &str, worker: &str) -> StoreResult<bool> {
    let mut tx = db.begin().await?;
    let n = exec!(&mut tx, sqlx::query(
        "UPDATE jobs SET status = 'done', finished_at = $3, updated_at = $3, locked_by = NULL, locked_until = NULL, last_error = NULL
         WHERE id = $1 AND locked_by = $2 AND status = 'running'"
    )
    .bind(id)
    .bind(worker)
    .bind(to_micros(now)))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Backoff before attempt `n + 1`: 10 s, 20 s, 40 s… capped at one hour.
pub fn backoff(attempts: i32) -> SignedDuration {
    let exp = attempts.clamp(1, 16) - 1;
    let secs = (10i64 << exp).min(3600);
    SignedDuration::from_secs(secs)
}

/// Records a failure: back to `pending` later, or `dead` when out of attempts (or when the
/// failure is permanent).
pub async fn fail(
    db: &Db,
    now: Timestamp,
    job: &JobRow,
    worker: &str,
    error: &str,
    permanent: bool,
) -> StoreResult<JobStatus> {
    let status = if permanent || job.attempts >= job.max_attempts {
        JobStatus::Dead
    } else {
        JobStatus::Pending
    };
    let run_at = now.saturating_add(backoff(job.attempts)).unwrap_or(now);
    let mut tx = db.begin().await?;
    exec!(&mut tx, sqlx::query(
        "UPDATE jobs SET status = $3, last_error = $4, run_at = $5, updated_at = $6, locked_by = NULL, locked_until = NULL,
                finished_at = CASE WHEN $3 = 'dead' THEN $6 ELSE NULL END
         WHERE id = $1 AND locked_by = $2"
    )
    .bind(&job.id)
    .bind(worker)
    .bind(status.code())
    .bind(truncate(error, 2000))
    .bind(to_micros(run_at))
    .bind(to_micros(now)))?;
    tx.commit().await?;
    Ok(status)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Puts a dead job back in the queue, now, with a fresh set of attempts, and journals it.
/// Returns false when the job does not exist or is not dead.
pub async fn retry(h: &mut Tx, now: Timestamp, id: &str, actor: &AuditActor) -> StoreResult<bool> {
    let Some(job) = get(h, id).await? else {
        return Ok(false);
    };
    let n = exec!(h, sqlx::query(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $2, updated_at = $2, finished_at = NULL
         WHERE id = $1 AND status = 'dead'"
    )
    .bind(id)
    .bind(to_micros(now)))?;
    if n == 0 {
        return Ok(false);
    }
    let org = job.org_id.as_deref().and_then(|o| o.parse().ok());
    audit::append(
        h,
        now,
        NewEvent::new(org, actor, "job.retried", "job", id)
            .details(serde_json::json!({ "type": job.kind })),
    )
    .await?;
    Ok(true)
}

pub async fn get(h: &mut impl Handle, id: &str) -> StoreResult<Option<JobRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// Newest first, optionally one status and one kind.
pub async fn list(
    h: &mut impl Handle,
    status: Option<JobStatus>,
    kind: Option<&str>,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<JobRow>> {
    let (c_at, c_id) = crate::page::int_text_key(cursor)?;
    let rows: Vec<JobRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE (CAST($1 AS TEXT) IS NULL OR status = $1)
           AND (CAST($2 AS TEXT) IS NULL OR kind = $2)
           AND (CAST($3 AS BIGINT) IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )))
    .bind(status.map(JobStatus::code))
    .bind(kind)
    .bind(c_at)
    .bind(&c_id)
    .bind(limit + 1)
    .fetch_all(c)
    .await)?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new().push_int(r.created_at).push_text(&r.id)
    }))
}

/// Number of jobs in each status, for the dashboard and `/metrics`.
pub async fn counts(h: &mut impl Handle) -> StoreResult<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = run!(h, |c| sqlx::query_as(
        "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status"
    )
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// Enqueues a job of `kind` if its periodic schedule is due, and moves the schedule on by
/// `every`. Safe with several nodes: the schedule is advanced by a compare-and-set, so only
/// one node enqueues. Returns whether this call enqueued the job.
pub async fn schedule_due(
    tx: &mut Tx,
    now: Timestamp,
    kind: &str,
    every: SignedDuration,
) -> StoreResult<bool> {
    let key = format!("schedule:{kind}");
    let now_us = to_micros(now);
    let next = to_micros(now.saturating_add(every).unwrap_or(now)).to_string();
    let current: Option<String> = run!(tx, |c| sqlx::query_scalar(
        "SELECT value FROM settings WHERE key = $1"
    )
    .bind(&key)
    .fetch_optional(c)
    .await)?;
    let won = match current {
        None => exec!(tx, sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING"
        )
        .bind(&key)
        .bind(&next)
        .bind(now_us))? == 1,
        Some(value) if value.parse::<i64>().unwrap_or(0) <= now_us => exec!(tx, sqlx::query(
            "UPDATE settings SET value = $2, updated_at = $3 WHERE key = $1 AND value = $4"
        )
        .bind(&key)
        .bind(&next)
        .bind(now_us)
        .bind(&value))? == 1,
        Some(_) => false,
    };
    if won {
        enqueue(
            tx,
            now,
            NewJob::new(kind, serde_json::json!({})).max_attempts(3),
        )
        .await?;
    }
    Ok(won)
}

/// Deletes finished jobs older than `before` (the history is kept for a while, not forever).
pub async fn purge_done(h: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let n = exec!(
        h,
        sqlx::query("DELETE FROM jobs WHERE status = 'done' AND finished_at < $1")
            .bind(to_micros(before))
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), SignedDuration::from_secs(10));
        assert_eq!(backoff(2), SignedDuration::from_secs(20));
        assert_eq!(backoff(4), SignedDuration::from_secs(80));
        assert_eq!(backoff(30), SignedDuration::from_secs(3600));
        assert!(JobStatus::parse("dead").is_some() && JobStatus::parse("zombie").is_none());
    }
}
