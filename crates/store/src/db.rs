//! The database handle: SQLite by default, PostgreSQL at scale.
//!
//! There is no generic soup of trait bounds: a [`Conn`] is either a SQLite or a PostgreSQL
//! connection, and [`run!`](crate::run) expands one body of sqlx code for each, so the same
//! SQL text (with `$1` placeholders, which SQLite accepts) serves both engines. Rows are read
//! into `#[derive(sqlx::FromRow)]` structs, which decode on either engine.
//!
//! SQLite runs in WAL mode with `synchronous=FULL` (an acknowledged write survives a power
//! cut), a busy timeout, foreign keys, and **one writer**: writes go through a pool of one
//! connection and start with `BEGIN IMMEDIATE`, so they never fail half-way on a lock
//! upgrade. Reads use a separate pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn label(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// Options that matter when opening a database.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// Maximum connections (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// Create the SQLite file if it does not exist. Only the default location under the data
    /// directory is created implicitly; an explicit URL that points nowhere is an error, so
    /// that a typo cannot silently start an empty platform.
    pub create_sqlite: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            create_sqlite: false,
        }
    }
}

impl Db {
    /// Opens `url`: `sqlite://PATH` or `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str, options: &DbOptions) -> StoreResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?.application_name("bouquet");
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let base = SqliteConnectOptions::from_str(url)?
                .create_if_missing(options.create_sqlite)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory");
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.clone())
                .await
                .map_err(|e| sqlite_open_error(url, e))?;
            let read = SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.create_if_missing(false))
                .await?;
            Ok(Db::Sqlite { write, read })
        } else {
            Err(StoreError::Config(format!(
                "adresse de base de données non reconnue : « {} » (attendu : sqlite://CHEMIN ou postgres://…)",
                redact_url(url)
            )))
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite { .. } => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite this waits for the single writer.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Runs `op` in one write transaction: committed when it returns `Ok`, rolled back when
    /// it returns an error, which is passed on (a form then shows it). One place for the
    /// commit-or-roll-back every form handler needs.
    pub async fn atomically<T>(
        &self,
        op: impl AsyncFnOnce(&mut Tx) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut tx = self.begin().await?;
        match op(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// A connection for reading (outside any transaction).
    pub async fn read(&self) -> StoreResult<Pooled> {
        Ok(match self {
            Db::Sqlite { read, .. } => Pooled::Sqlite(read.acquire().await?),
            Db::Postgres(pool) => Pooled::Postgres(pool.acquire().await?),
        })
    }

    /// A read-only transaction: every query through it sees the database as it was at its
    /// first read (SQLite WAL snapshot; PostgreSQL REPEATABLE READ). For long reads that must
    /// be consistent, like verifying the journal while people keep working.
    pub async fn snapshot(&self) -> StoreResult<Snapshot> {
        Ok(match self {
            Db::Sqlite { read, .. } => Snapshot(Tx::Sqlite(read.begin_with("BEGIN").await?)),
            Db::Postgres(pool) => Snapshot(Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            )),
        })
    }

    /// Cheap liveness check for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut c = self.read().await?;
        let one: i64 = crate::run!(&mut c, |x| sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(x)
            .await)?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt("SELECT 1 did not answer 1".into()))
        }
    }

    /// (open connections, idle connections), for `/metrics`.
    pub fn pool_stats(&self) -> (u32, usize) {
        match self {
            Db::Sqlite { write, read } => (
                write.size() + read.size(),
                write.num_idle() + read.num_idle(),
            ),
            Db::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

fn sqlite_open_error(url: &str, e: sqlx::Error) -> StoreError {
    StoreError::Config(format!(
        "impossible d'ouvrir la base SQLite « {} » : {e}",
        redact_url(url)
    ))
}

/// Hides the password of a database URL before it is printed.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// A consistent read-only view (see [`Db::snapshot`]). It is not a [`Tx`], so no store
/// function that writes accepts it.
pub struct Snapshot(Tx);

impl Handle for Snapshot {
    fn conn(&mut self) -> Conn<'_> {
        self.0.conn()
    }
}

/// A pooled connection, for reads outside a transaction.
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// A borrowed connection of either engine.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Anything a query can run on: a transaction or a pooled connection.
pub trait Handle: Send {
    fn conn(&mut self) -> Conn<'_>;

    fn engine(&mut self) -> Engine {
        match self.conn() {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }
}

impl Handle for Tx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(&mut *t),
            Tx::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }
}

impl Handle for Pooled {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Sqlite(c) => Conn::Sqlite(&mut *c),
            Pooled::Postgres(c) => Conn::Postgres(&mut *c),
        }
    }
}

/// Runs one body of sqlx code on whichever engine `$h` (a `&mut impl Handle`) uses. The body
/// sees `$c` as `&mut SqliteConnection` or `&mut PgConnection`; write it once, it is compiled
/// for both.
#[macro_export]
macro_rules! run {
    ($h:expr, |$c:ident| $body:expr) => {
        match $crate::db::Handle::conn($h) {
            $crate::db::Conn::Sqlite($c) => $body,
            $crate::db::Conn::Postgres($c) => $body,
        }
    };
}

/// Executes a statement on either engine and returns the number of rows affected:
/// `exec!(tx, sqlx::query("UPDATE …").bind(x))?`.
#[macro_export]
macro_rules! exec {
    ($h:expr, $q:expr) => {
        $crate::run!($h, |__c| ($q).execute(__c).await.map(|r| r.rows_affected()))
    };
}

/// Runs different SQL texts per engine where the dialects really differ (e.g. `SKIP LOCKED`,
/// full-text search), with the same binds.
#[macro_export]
macro_rules! run_sql {
    ($h:expr, sqlite: $sqlite:expr, postgres: $pg:expr, |$c:ident, $sql:ident| $body:expr) => {
        match $crate::db::Handle::conn($h) {
            $crate::db::Conn::Sqlite($c) => {
                let $sql = $sqlite;
                $body
            }
            $crate::db::Conn::Postgres($c) => {
                let $sql = $pg;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://bouquet:secret@db:5432/bouquet"),
            "postgres://bouquet:***@db:5432/bouquet"
        );
        assert_eq!(redact_url("sqlite://data/b.db"), "sqlite://data/b.db");
    }
}
