//! Keyset (cursor) pagination.
//!
//! A list query asks for `limit + 1` rows ordered by a unique key; if the extra row comes
//! back there is a next page, whose cursor encodes the sort key of the last row shown. The
//! cursor is opaque to clients (URL-safe base64 of a small JSON array) and a tampered one is
//! refused with a French error, never interpreted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bouquet_kernel::AppError;
use serde_json::Value;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cursor(Vec<Value>);

impl Cursor {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn push_int(mut self, v: i64) -> Self {
        self.0.push(Value::from(v));
        self
    }

    pub fn push_text(mut self, v: &str) -> Self {
        self.0.push(Value::from(v));
        self
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(Value::Array(self.0.clone()).to_string())
    }

    pub fn decode(s: &str) -> Result<Self, AppError> {
        let bad = || {
            AppError::invalid(
                "curseur",
                "Ce lien de pagination n'est pas valide. Revenez à la première page.",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) if items.len() <= 8 => Ok(Self(items)),
            _ => Err(bad()),
        }
    }

    pub fn int(&self, i: usize) -> StoreResult<i64> {
        self.0.get(i).and_then(Value::as_i64).ok_or_else(|| {
            StoreError::App(AppError::invalid(
                "curseur",
                "Ce lien de pagination n'est pas valide.",
            ))
        })
    }

    pub fn text(&self, i: usize) -> StoreResult<&str> {
        self.0.get(i).and_then(Value::as_str).ok_or_else(|| {
            StoreError::App(AppError::invalid(
                "curseur",
                "Ce lien de pagination n'est pas valide.",
            ))
        })
    }
}

/// The (number, text) key a cursor carries, or nothing on the first page.
pub fn int_text_key(cursor: Option<&Cursor>) -> StoreResult<(Option<i64>, Option<String>)> {
    match cursor {
        Some(c) => Ok((Some(c.int(0)?), Some(c.text(1)?.to_owned()))),
        None => Ok((None, None)),
    }
}

/// The (text, text) key a cursor carries, or nothing on the first page.
pub fn text_text_key(cursor: Option<&Cursor>) -> StoreResult<(Option<String>, Option<String>)> {
    match cursor {
        Some(c) => Ok((Some(c.text(0)?.to_owned()), Some(c.text(1)?.to_owned()))),
        None => Ok((None, None)),
    }
}

/// One page of results and the cursor of the next one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| key(last).encode())
        } else {
            None
        };
        Self { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// Page sizes offered to people; the API accepts 1 to 200.
pub fn clamp_limit(requested: Option<i64>, default: i64) -> i64 {
    requested.unwrap_or(default).clamp(1, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor::new().push_int(42).push_text("abc");
        let back = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(back.int(0).unwrap(), 42);
        assert_eq!(back.text(1).unwrap(), "abc");
        assert!(back.int(1).is_err());
        assert!(Cursor::decode("%%%").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("{\"a\":1}")).is_err());
    }

    #[test]
    fn pages_know_whether_there_is_more() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| Cursor::new().push_int(*x));
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(
            Cursor::decode(p.next.as_deref().unwrap())
                .unwrap()
                .int(0)
                .unwrap(),
            2
        );
        let last = Page::from_rows(vec![1, 2], 2, |x| Cursor::new().push_int(*x));
        assert!(last.next.is_none());
        assert_eq!(clamp_limit(Some(10_000), 50), 200);
        assert_eq!(clamp_limit(None, 50), 50);
    }
}
