//! The platform's pages.

pub mod admin;
pub mod auth;
pub mod company_signup;
pub mod dashboard;
pub mod invitations;
pub mod journal;
pub mod legal;
pub mod org_users;
pub mod profile;
pub mod referent;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use bouquet_webkit::AppState;

use bouquet_webkit::views;

/// The caller's IP address (see [`views::client_ip`]).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(views::client_ip(
            &parts.headers,
            views::peer(parts),
            state.platform.settings.trust_proxy,
        )))
    }
}

/// The caller's browser, for the sessions list.
pub struct UserAgent(pub Option<String>);

impl FromRequestParts<AppState> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}
