//! One migrator for the migrations every crate owns.
//!
//! Each crate declares a [`MigrationSet`] (its owner name and its ordered migrations, embedded
//! with `include_str!`). The migrator applies the sets in the order given (the platform's
//! first), each migration in its own transaction under a lock, and records it in
//! `schema_migrations (owner, version, checksum)`.
//!
//! Why not `sqlx::migrate!`: its single `_sqlx_migrations` table numbers migrations globally,
//! which makes crates collide, and it wants one directory per engine. Here a migration is
//! one SQL text for both engines unless the DDL really differs.
//!
//! **Architecture Invariant:** a migration is never edited once released. The checksum of
//! every applied migration is checked at start-up, and a changed one stops the binary.

use sha2::{Digest, Sha256};

use crate::db::{Db, Engine, Handle};
use crate::error::{StoreError, StoreResult};
use crate::{exec, run};

/// The SQL of one migration.
#[derive(Clone, Copy, Debug)]
pub enum MigrationSql {
    /// One text for both engines.
    Both(&'static str),
    /// Dialects differ (full-text search, identity columns).
    PerEngine {
        sqlite: &'static str,
        postgres: &'static str,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: MigrationSql,
}

impl Migration {
    fn text(&self, engine: Engine) -> &'static str {
        match (self.sql, engine) {
            (MigrationSql::Both(s), _) => s,
            (MigrationSql::PerEngine { sqlite, .. }, Engine::Sqlite) => sqlite,
            (MigrationSql::PerEngine { postgres, .. }, Engine::Postgres) => postgres,
        }
    }

    fn checksum(&self, engine: Engine) -> String {
        hex::encode(Sha256::digest(self.text(engine).as_bytes()))
    }
}

/// The migrations of one crate.
#[derive(Clone, Copy, Debug)]
pub struct MigrationSet {
    pub owner: &'static str,
    pub migrations: &'static [Migration],
}

/// What [`migrate`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<(String, i64, String)>,
    pub already: usize,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    owner TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (owner, version)
)";

/// Applies every pending migration of `sets`, in order.
pub async fn migrate(
    db: &Db,
    sets: &[&MigrationSet],
    now_micros: i64,
) -> StoreResult<MigrationReport> {
    let engine = db.engine();
    {
        let mut tx = db.begin().await?;
        lock(&mut tx).await?;
        exec!(&mut tx, sqlx::raw_sql(CREATE_TABLE))?;
        tx.commit().await?;
    }
    let mut report = MigrationReport::default();
    for set in sets {
        check_sorted(set)?;
        let mut tx = db.begin().await?;
        lock(&mut tx).await?;
        let newest: Option<i64> = run!(&mut tx, |c| sqlx::query_scalar(
            "SELECT MAX(version) FROM schema_migrations WHERE owner = $1"
        )
        .bind(set.owner)
        .fetch_one(c)
        .await)?;
        tx.commit().await?;
        let known = set.migrations.last().map_or(0, |m| m.version);
        if newest.unwrap_or(0) > known {
            return Err(StoreError::Config(format!(
                "la base contient la migration {} de « {} », inconnue de ce binaire : elle a été migrée par une version plus récente de Bouquet",
                newest.unwrap_or(0),
                set.owner
            )));
        }
        for m in set.migrations {
            let mut tx = db.begin().await?;
            lock(&mut tx).await?;
            let applied: Option<String> = run!(&mut tx, |c| sqlx::query_scalar(
                "SELECT checksum FROM schema_migrations WHERE owner = $1 AND version = $2"
            )
            .bind(set.owner)
            .bind(m.version)
            .fetch_optional(c)
            .await)?;
            let checksum = m.checksum(engine);
            match applied {
                Some(existing) if existing == checksum => {
                    report.already += 1;
                    tx.commit().await?;
                }
                Some(_) => {
                    return Err(StoreError::Config(format!(
                        "la migration {} « {} » de « {} » a été modifiée après avoir été appliquée ; une migration publiée ne se modifie pas",
                        m.version, m.name, set.owner
                    )));
                }
                None => {
                    let sql = m.text(engine);
                    exec!(&mut tx, sqlx::raw_sql(sql)).map_err(|e| {
                        StoreError::Config(format!(
                            "échec de la migration {} « {} » de « {} » : {e}",
                            m.version, m.name, set.owner
                        ))
                    })?;
                    exec!(&mut tx, sqlx::query(
                        "INSERT INTO schema_migrations (owner, version, name, checksum, applied_at) VALUES ($1, $2, $3, $4, $5)"
                    )
                    .bind(set.owner)
                    .bind(m.version)
                    .bind(m.name)
                    .bind(&checksum)
                    .bind(now_micros))?;
                    tx.commit().await?;
                    tracing::info!(
                        owner = set.owner,
                        version = m.version,
                        name = m.name,
                        "migration applied"
                    );
                    report
                        .applied
                        .push((set.owner.to_owned(), m.version, m.name.to_owned()));
                }
            }
        }
    }
    Ok(report)
}

fn check_sorted(set: &MigrationSet) -> StoreResult<()> {
    let sorted = set
        .migrations
        .windows(2)
        .all(|w| w[0].version < w[1].version);
    if sorted {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "les migrations de « {} » ne sont pas dans l'ordre croissant",
            set.owner
        )))
    }
}

/// Serialises migrators of several nodes. SQLite's `BEGIN IMMEDIATE` already holds the write
/// lock; PostgreSQL takes a transaction-scoped advisory lock.
async fn lock(tx: &mut crate::db::Tx) -> StoreResult<()> {
    if let crate::db::Conn::Postgres(c) = tx.conn() {
        sqlx::query("SELECT pg_advisory_xact_lock(724210001)")
            .execute(c)
            .await?;
    }
    Ok(())
}

/// The platform's own migrations (owner `platform`).
pub static PLATFORM: MigrationSet = MigrationSet {
    owner: "platform",
    migrations: &[
        Migration {
            version: 1,
            name: "platform",
            sql: MigrationSql::Both(include_str!("../migrations/0001_platform.sql")),
        },
        Migration {
            version: 2,
            name: "search",
            sql: MigrationSql::PerEngine {
                sqlite: include_str!("../migrations/0002_search.sqlite.sql"),
                postgres: include_str!("../migrations/0002_search.postgres.sql"),
            },
        },
        Migration {
            version: 3,
            name: "members",
            sql: MigrationSql::Both(include_str!("../migrations/0003_members.sql")),
        },
    ],
};
