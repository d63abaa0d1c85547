//! Tokens and the caller's own account.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bouquet_kernel::{AppError, OrgKind, Role};
use bouquet_store::accounts::{self, TokenKind};
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::ApiJson;
use bouquet_webkit::{ApiUser, AppState, WebError, WebResult};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::rfc3339;
use crate::login::{Channel, Checked, check_credentials, wait_message};
use crate::pages::ClientIp;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue_token))
        .routes(routes!(me))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

/// Never prints the password.
impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// Exchanges an e-mail address and a password for a token valid 12 hours.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "authentification",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Jeton délivré", body = TokenResponse),
        (status = 401, description = "Identifiants incorrects", body = Problem),
        (status = 415, description = "Le corps n'est pas du JSON", body = Problem),
        (status = 422, description = "Champ manquant ou inconnu", body = Problem),
        (status = 429, description = "Trop de tentatives", body = Problem),
    ))]
pub async fn issue_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<TokenRequest>,
) -> WebResult<Json<TokenResponse>> {
    let p = &state.platform;
    let user = match check_credentials(p, &req.email, &req.password, &ip, Channel::Api).await? {
        Checked::Accepted(user) => user,
        Checked::Refused => return Err(WebError(AppError::InvalidCredentials)),
        Checked::Throttled(secs) => {
            return Err(WebError(AppError::TooManyRequests {
                retry_after_secs: secs,
                message: wait_message(secs),
            }));
        }
    };
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    let expires = now
        .saturating_add(accounts::SESSION_TOKEN_TTL)
        .unwrap_or(now);
    let (_, token) = accounts::create_token(
        &mut tx,
        now,
        user.id()?,
        TokenKind::Session,
        "API",
        Some(expires),
        &user.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(TokenResponse {
        token,
        expires_at: expires.to_string(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgMembership {
    pub siren: String,
    pub name: String,
    pub kind: OrgKind,
    pub roles: Vec<Role>,
    /// The person's function there ("Secrétaire de mairie").
    pub title: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowedOrg {
    pub siren: String,
    pub name: String,
    pub kind: OrgKind,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Organisations the person belongs to, with roles.
    pub organisations: Vec<OrgMembership>,
    /// Communes followed as référent numérique (read only).
    pub followed: Vec<FollowedOrg>,
}

/// The caller and its organisations with roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "compte", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(ApiUser(identity): ApiUser) -> WebResult<Json<Me>> {
    Ok(Json(Me {
        id: identity.user.id.clone(),
        email: identity.user.email.clone(),
        display_name: identity.user.display_name.clone(),
        organisations: identity
            .memberships
            .iter()
            .filter_map(|m| {
                Some(OrgMembership {
                    siren: m.siren.clone(),
                    name: m.name.clone(),
                    kind: m.kind.parse().ok()?,
                    roles: m.roles().iter().collect(),
                    title: m.title.clone(),
                })
            })
            .collect(),
        followed: identity
            .followed
            .iter()
            .filter_map(|m| {
                Some(FollowedOrg {
                    siren: m.siren.clone(),
                    name: m.name.clone(),
                    kind: m.kind.parse().ok()?,
                })
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// The first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// The caller's personal tokens (not revoked).
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "compte", security(("bearer" = [])),
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = Problem)))]
pub async fn list_tokens(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(identity): ApiUser,
) -> WebResult<Json<Vec<TokenInfo>>> {
    let mut conn = state.platform.db.read().await?;
    let tokens = accounts::personal_tokens(&mut conn, identity.user_id).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                created_at: rfc3339(t.created_at),
                expires_at: t.expires_at.map(rfc3339),
                last_used_at: t.last_used_at.map(rfc3339),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What will use it ("Logiciel de gestion des délibérations").
    pub name: String,
    /// Days of validity (1 to 3650); absent or null for no limit.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    /// Shown once: store it now.
    pub token: String,
    pub expires_at: Option<String>,
}

/// Creates a personal token.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "compte", security(("bearer" = [])),
    request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(identity): ApiUser,
    ApiJson(req): ApiJson<NewToken>,
) -> WebResult<Response> {
    let p = &state.platform;
    let now = p.clock.now();
    let expires = match req.expires_in_days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => now
            .saturating_add(SignedDuration::from_hours(24 * i64::from(d)))
            .ok(),
        Some(_) => {
            return Err(WebError(AppError::invalid(
                "expires_in_days",
                "La durée doit être comprise entre 1 et 3 650 jours.",
            )));
        }
    };
    let mut tx = p.db.begin().await?;
    let (id, token) = accounts::create_token(
        &mut tx,
        now,
        identity.user_id,
        TokenKind::Personal,
        &req.name,
        expires,
        &identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            name: req.name.trim().to_owned(),
            token,
            expires_at: expires.map(|e| e.to_string()),
        }),
    )
        .into_response())
}

/// Revokes one of the caller's personal tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "compte", security(("bearer" = [])),
    params(("id" = String, Path, description = "Identifiant du jeton")),
    responses((status = 204, description = "Jeton révoqué"), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    ApiUser(identity): ApiUser,
    Path(id): Path<String>,
) -> WebResult<StatusCode> {
    let p = &state.platform;
    let mut tx = p.db.begin().await?;
    if !accounts::revoke_token(
        &mut tx,
        p.clock.now(),
        identity.user_id,
        &id,
        &identity.audit_actor(),
    )
    .await?
    {
        return Err(WebError(AppError::NotFound));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
