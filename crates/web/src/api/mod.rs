//! The platform's JSON API (`/api/v1/…`), documented in the OpenAPI document.
//!
//! Authentication is by bearer token only; errors are RFC 9457 problem documents in French;
//! lists are cursor-paginated (`limit`, `cursor` → `next_cursor`); instants are RFC 3339 UTC.

pub mod account;
pub mod admin;
pub mod invitations;
pub mod org;

pub use bouquet_webkit::api::{Paged, rfc3339};
use utoipa_axum::router::OpenApiRouter;

use bouquet_webkit::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(account::router())
        .merge(org::router())
        .merge(invitations::router())
        .merge(admin::router())
}
