//! Shapes every module's JSON API shares: pages of results and instants.

use bouquet_kernel::clock::from_micros;
use serde::Serialize;
use utoipa::ToSchema;

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// RFC 3339, UTC.
pub fn rfc3339(micros: i64) -> String {
    from_micros(micros).to_string()
}
