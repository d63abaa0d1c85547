//! The platform's JSON API (`/api/v1/…`), documented in the OpenAPI document.
//!
//! Authentication is by bearer token only; errors are RFC 9457 problem documents in French;
//! lists are cursor-paginated (`limit`, `cursor` → `next_cursor`); instants are RFC 3339 UTC.

pub mod account;
pub mod admin;
pub mod org;

use bouquet_kernel::clock::from_micros;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use bouquet_webkit::AppState;

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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(account::router())
        .merge(org::router())
        .merge(admin::router())
}
