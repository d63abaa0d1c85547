//! Queries whose text depends on the filters a person chose.
//!
//! A list page with a dozen optional filters is written once as a [`Query`]: the caller
//! appends SQL fragments and each value through [`Query::arg`], which returns its `$n`
//! placeholder, so values are always bound, never spliced into the text. The same text runs on
//! both engines.
//!
//! ```text
//! let mut q = Query::new("SELECT id, name FROM organisations WHERE TRUE");
//! if let Some(kind) = filter.kind {
//!     let p = q.arg(kind.code());
//!     q.push(&format!(" AND kind = {p}"));
//! }
//! let rows: Vec<Row> = q.fetch_all(&mut conn).await?;
//! ```

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::db::{Conn, Handle};
use crate::error::StoreResult;

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Query {
    sql: String,
    args: Vec<Arg>,
}

macro_rules! bind_all {
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

impl Query {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text (never a value: values go through [`Query::arg`]).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds a value and returns its placeholder (`$3`).
    pub fn arg(&mut self, value: impl Into<Arg>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub async fn fetch_all<T>(&self, h: &mut impl Handle) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = sqlx::AssertSqlSafe(self.sql.as_str());
        let rows = match h.conn() {
            Conn::Sqlite(c) => {
                bind_all!(sqlx::query_as::<_, T>(sql), &self.args)
                    .fetch_all(c)
                    .await?
            }
            Conn::Postgres(c) => {
                bind_all!(sqlx::query_as::<_, T>(sql), &self.args)
                    .fetch_all(c)
                    .await?
            }
        };
        Ok(rows)
    }

    /// The single number the query selects (a `COUNT(*)`).
    pub async fn fetch_count(&self, h: &mut impl Handle) -> StoreResult<i64> {
        let sql = sqlx::AssertSqlSafe(self.sql.as_str());
        let n = match h.conn() {
            Conn::Sqlite(c) => {
                bind_all!(sqlx::query_scalar::<_, i64>(sql), &self.args)
                    .fetch_one(c)
                    .await?
            }
            Conn::Postgres(c) => {
                bind_all!(sqlx::query_scalar::<_, i64>(sql), &self.args)
                    .fetch_one(c)
                    .await?
            }
        };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_values() {
        let mut q = Query::new("SELECT 1 WHERE TRUE");
        let a = q.arg("x");
        q.push(&format!(" AND a = {a}"));
        let b = q.arg(3i64);
        q.push(&format!(" AND b = {b}"));
        assert_eq!(q.sql(), "SELECT 1 WHERE TRUE AND a = $1 AND b = $2");
        assert_eq!(q.args, vec![Arg::from("x"), Arg::Int(Some(3))]);
    }
}
