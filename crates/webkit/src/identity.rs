//! Who is calling.
//!
//! Pages authenticate with a session cookie (server-side session in the database); the API
//! with `Authorization: Bearer` tokens only, so that no cookie can drive the API from another
//! site. The [`authenticate`] middleware resolves either into an [`Identity`] kept in the
//! request; extractors then require it.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use bouquet_kernel::policy::{Actor, PlatformAction, decide_platform};
use bouquet_kernel::{AppError, UserId};
use bouquet_store::accounts::{self, MembershipRow, SessionRow, TokenRow, UserRow};
use bouquet_store::audit::AuditActor;

use crate::error::WebError;
use crate::state::AppState;
use crate::{cookies, is_api_path};

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Via {
    Session(SessionRow),
    Token(TokenRow),
}

/// An authenticated person and what the policy needs to know about them.
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: UserId,
    pub user: UserRow,
    pub actor: Actor,
    pub memberships: Vec<MembershipRow>,
    /// Organisations followed as référent numérique.
    pub followed: Vec<MembershipRow>,
    pub via: Via,
}

impl Identity {
    /// Refuses (403) unless this person may do a platform-wide `action`.
    pub fn require(&self, action: PlatformAction) -> Result<(), WebError> {
        decide_platform(&self.actor, action).map_err(WebError::from)
    }

    pub fn can(&self, action: PlatformAction) -> bool {
        decide_platform(&self.actor, action).is_ok()
    }

    pub fn audit_actor(&self) -> AuditActor {
        AuditActor::user(self.user_id, self.user.display_name.clone())
    }

    /// The SIREN of the organisation to land in: the first membership, else the first
    /// followed organisation.
    pub fn home_siren(&self) -> Option<&str> {
        self.memberships
            .first()
            .or(self.followed.first())
            .map(|m| m.siren.as_str())
    }

    pub fn session_hash(&self) -> Option<&str> {
        match &self.via {
            Via::Session(s) => Some(&s.token_hash),
            Via::Token(_) => None,
        }
    }
}

/// A session cookie was sent but is no longer valid.
#[derive(Clone, Copy, Debug)]
pub struct ExpiredSession;

async fn load(state: &AppState, user: UserRow, via: Via) -> Result<Identity, WebError> {
    let user_id = user.id()?;
    let mut conn = state.platform.db.read().await?;
    let memberships = accounts::memberships(&mut conn, user_id).await?;
    let followed = accounts::followed(&mut conn, user_id).await?;
    let actor = accounts::actor_of(user_id, &memberships, &followed);
    Ok(Identity {
        user_id,
        user,
        actor,
        memberships,
        followed,
        via,
    })
}

fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn resolve(state: &AppState, req: &mut Request) -> Result<(), WebError> {
    let now = state.platform.clock.now();
    if is_api_path(req.uri().path()) {
        let Some(token) = bearer(req) else {
            return Ok(());
        };
        let mut conn = state.platform.db.read().await?;
        // An unknown token leaves the request anonymous; `ApiUser` answers 401.
        if let Some((token, user)) = accounts::token_user(&mut conn, now, &token).await? {
            drop(conn);
            if accounts::token_needs_mark(now, &token) {
                let mut tx = state.platform.db.begin().await?;
                accounts::mark_token_used(&mut tx, now, &token).await?;
                tx.commit().await?;
            }
            let identity = load(state, user, Via::Token(token)).await?;
            req.extensions_mut().insert(Arc::new(identity));
        }
    } else if let Some(cookie) = cookies::get(req.headers(), cookies::SESSION) {
        let mut conn = state.platform.db.read().await?;
        match accounts::session_user(&mut conn, now, &cookie).await? {
            Some((session, user)) => {
                drop(conn);
                if accounts::session_needs_touch(now, &session) {
                    let mut tx = state.platform.db.begin().await?;
                    accounts::touch_session(&mut tx, now, &session).await?;
                    tx.commit().await?;
                }
                let identity = load(state, user, Via::Session(session)).await?;
                req.extensions_mut().insert(Arc::new(identity));
            }
            None => {
                req.extensions_mut().insert(ExpiredSession);
            }
        }
    }
    Ok(())
}

/// Resolves the caller's identity, if any. Never refuses by itself: extractors do.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/assets/") || req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    match resolve(&state, &mut req).await {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let path = req.uri().path().to_owned();
            // This middleware runs outside the error renderer: render here, in French.
            if let AppError::Internal(detail) = &e.0 {
                tracing::error!(error = %detail, "authentication failed");
            }
            if is_api_path(&path) {
                crate::error::problem(&e.0, &path, None)
            } else {
                let input = crate::layout::ChromeInput {
                    identity: None,
                    csrf: String::new(),
                    flash: None,
                    path,
                };
                crate::error::html_page(&state, input, &e.0, None)
            }
        }
    }
}

/// A signed-in person (pages). Absent: the person is sent to the login page.
pub struct CurrentUser(pub Arc<Identity>);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, WebError> {
        parts
            .extensions
            .get::<Arc<Identity>>()
            .cloned()
            .map(CurrentUser)
            .ok_or(WebError(AppError::Unauthenticated))
    }
}

/// A caller of the API with a valid token. Absent: 401 with a French explanation.
pub struct ApiUser(pub Arc<Identity>);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, WebError> {
        if let Some(identity) = parts.extensions.get::<Arc<Identity>>() {
            return Ok(ApiUser(identity.clone()));
        }
        Err(WebError(AppError::Unauthenticated))
    }
}

/// The identity if there is one (public pages that adapt to a signed-in person).
pub struct MaybeUser(pub Option<Arc<Identity>>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(parts.extensions.get::<Arc<Identity>>().cloned()))
    }
}
