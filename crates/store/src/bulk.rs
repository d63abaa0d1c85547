//! Multi-row statements, for the bulk functions that seed or import many rows at once
//! ([`crate::orgs::create_many`], [`crate::accounts::create_many`],
//! [`crate::audit::append_many`], [`crate::search::index_many`]…).
//!
//! One `INSERT … VALUES (…), (…), …` per chunk of rows instead of one statement per row:
//! on SQLite each statement costs a parse and a step through the single writer, on
//! PostgreSQL a round trip. Values are always bound ([`Arg`]), never spliced into the text;
//! chunks keep the number of placeholders under both engines' limits (32,766 for SQLite,
//! 65,535 for PostgreSQL).
//!
//! On SQLite the placeholders are anonymous (`?`), not numbered (`$1`): sqlx finds the
//! argument of a named placeholder with `sqlite3_bind_parameter_name`, which walks the
//! statement's list of names, so binding 16,000 `$n` cost 16,000² string comparisons per
//! statement (`bouquet demo --scale` spent 85 % of its time there). Heads and tails given to
//! these functions therefore carry no placeholder of their own.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::db::{Conn, Engine, Handle, Tx};
use crate::error::StoreResult;
use crate::query::Arg;

/// At most this many placeholders in one statement.
pub const MAX_PARAMS: usize = 16_000;

/// How many rows of `columns` values fit in one statement.
pub fn rows_per_statement(columns: usize) -> usize {
    (MAX_PARAMS / columns.max(1)).max(1)
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(v) => q.bind(v.clone()),
                Arg::Int(v) => q.bind(*v),
                Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// The `n`-th placeholder (from 1): `$n` on PostgreSQL, an anonymous `?` on SQLite (see the
/// module documentation).
fn push_placeholder(sql: &mut String, engine: Engine, n: usize) {
    match engine {
        Engine::Sqlite => sql.push('?'),
        Engine::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

/// `VALUES ($1, $2), ($3, $4)` for `rows` rows of `columns` values, numbered from `$first`
/// (`VALUES (?, ?), (?, ?)` on SQLite).
fn values_clause(engine: Engine, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6 + 8);
    sql.push_str("VALUES ");
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            push_placeholder(&mut sql, engine, n);
            n += 1;
        }
        sql.push(')');
    }
    sql
}

/// `$1, $2, …` (`?, ?, …` on SQLite) for `count` values.
fn list_clause(engine: Engine, count: usize) -> String {
    let mut sql = String::with_capacity(count * 6);
    for n in 1..=count {
        if n > 1 {
            sql.push_str(", ");
        }
        push_placeholder(&mut sql, engine, n);
    }
    sql
}

fn check_widths(rows: &[Vec<Arg>]) -> usize {
    let columns = rows.first().map_or(0, Vec::len);
    debug_assert!(
        rows.iter().all(|r| r.len() == columns),
        "rows of unequal width"
    );
    columns
}

/// Runs `{head} VALUES (…), … {tail}` for every chunk of `rows` (each row one value per
/// column of `head`) and returns the number of rows affected, summed. `tail` is what follows
/// the values (`ON CONFLICT … DO NOTHING`), or empty.
pub async fn insert(tx: &mut Tx, head: &str, rows: &[Vec<Arg>], tail: &str) -> StoreResult<u64> {
    let columns = check_widths(rows);
    let mut affected = 0;
    for chunk in rows.chunks(rows_per_statement(columns)) {
        let values = values_clause(tx.engine(), chunk.len(), columns, 1);
        let sql = format!("{head} {values} {tail}");
        let sql = sqlx::AssertSqlSafe(sql);
        let args = chunk.iter().flatten();
        affected += match tx.conn() {
            Conn::Sqlite(c) => bind_args!(sqlx::query(sql), args)
                .execute(c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => bind_args!(sqlx::query(sql), args)
                .execute(c)
                .await?
                .rows_affected(),
        };
    }
    Ok(affected)
}

/// [`insert`] with a `RETURNING` clause in `tail`: the rows returned, all chunks together
/// (in no particular order: return a key with them).
pub async fn insert_returning<T>(
    tx: &mut Tx,
    head: &str,
    rows: &[Vec<Arg>],
    tail: &str,
) -> StoreResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let columns = check_widths(rows);
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(rows_per_statement(columns)) {
        let values = values_clause(tx.engine(), chunk.len(), columns, 1);
        let sql = format!("{head} {values} {tail}");
        let sql = sqlx::AssertSqlSafe(sql);
        let args = chunk.iter().flatten();
        let returned: Vec<T> = match tx.conn() {
            Conn::Sqlite(c) => {
                bind_args!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(c)
                    .await?
            }
            Conn::Postgres(c) => {
                bind_args!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(c)
                    .await?
            }
        };
        out.extend(returned);
    }
    Ok(out)
}

/// Runs `{head} ({list}) {tail}` for every chunk of `values`, where `{list}` is the chunk's
/// placeholders (`$1, $2, …`), and returns the rows selected (or returned), all chunks
/// together. For `SELECT … WHERE id IN (…)` and `DELETE … WHERE id IN (…) RETURNING …`.
pub async fn fetch_in<T>(
    h: &mut impl Handle,
    head: &str,
    values: &[Arg],
    tail: &str,
) -> StoreResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let mut out = Vec::new();
    for chunk in values.chunks(MAX_PARAMS) {
        let sql = format!("{head} ({}) {tail}", list_clause(h.engine(), chunk.len()));
        let sql = sqlx::AssertSqlSafe(sql);
        let returned: Vec<T> = match h.conn() {
            Conn::Sqlite(c) => {
                bind_args!(sqlx::query_as::<_, T>(sql), chunk)
                    .fetch_all(c)
                    .await?
            }
            Conn::Postgres(c) => {
                bind_args!(sqlx::query_as::<_, T>(sql), chunk)
                    .fetch_all(c)
                    .await?
            }
        };
        out.extend(returned);
    }
    Ok(out)
}

/// Runs `{head} ({list}) {tail}` for every chunk of `values` (see [`fetch_in`]) and returns
/// the number of rows affected, summed: `DELETE FROM t WHERE id IN (…)`.
pub async fn execute_in(tx: &mut Tx, head: &str, values: &[Arg], tail: &str) -> StoreResult<u64> {
    let mut affected = 0;
    for chunk in values.chunks(MAX_PARAMS) {
        let sql = format!("{head} ({}) {tail}", list_clause(tx.engine(), chunk.len()));
        let sql = sqlx::AssertSqlSafe(sql);
        affected += match tx.conn() {
            Conn::Sqlite(c) => bind_args!(sqlx::query(sql), chunk)
                .execute(c)
                .await?
                .rows_affected(),
            Conn::Postgres(c) => bind_args!(sqlx::query(sql), chunk)
                .execute(c)
                .await?
                .rows_affected(),
        };
    }
    Ok(affected)
}

/// A text value, for rows built by hand.
pub fn text(v: impl Into<String>) -> Arg {
    Arg::Text(Some(v.into()))
}

/// An optional text value.
pub fn opt_text(v: Option<impl Into<String>>) -> Arg {
    Arg::Text(v.map(Into::into))
}

/// An integer value.
pub fn int(v: impl Into<i64>) -> Arg {
    Arg::Int(Some(v.into()))
}

/// An optional integer value.
pub fn opt_int(v: Option<impl Into<i64>>) -> Arg {
    Arg::Int(v.map(Into::into))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_row_by_row() {
        let pg = Engine::Postgres;
        assert_eq!(
            values_clause(pg, 2, 3, 1),
            "VALUES ($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_clause(pg, 1, 1, 1), "VALUES ($1)");
        assert_eq!(
            values_clause(Engine::Sqlite, 2, 2, 1),
            "VALUES (?, ?), (?, ?)"
        );
        assert_eq!(list_clause(pg, 3), "$1, $2, $3");
        assert_eq!(list_clause(Engine::Sqlite, 2), "?, ?");
        assert!(rows_per_statement(13) * 13 <= MAX_PARAMS);
        assert_eq!(rows_per_statement(0), MAX_PARAMS);
    }
}
