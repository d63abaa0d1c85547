//! Invitations to join an organisation, for its administrators' programs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, Email, FieldError, Role, RoleSet};
use bouquet_store::invitations::{self, InvitationRow, NewInvitation as StoreInvitation};
use bouquet_store::page::{Cursor, clamp_limit};
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{ApiJson, Params};
use bouquet_webkit::{AppState, OrgCtx, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Paged, rfc3339};
use crate::account_links::queue_invitation;
use crate::pages::org_users::role_change_problems;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(cancel))
        .routes(routes!(resend))
}

const SIREN: &str = "SIREN de l'organisation (9 chiffres)";
const ID: &str = "Identifiant de l'invitation";

/// `/o/{siren}/invitations/{id}`
#[derive(Debug, Deserialize)]
pub struct InvitationPath {
    #[allow(dead_code)]
    siren: String,
    id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub title: Option<String>,
    /// Name of the administrator who invited.
    pub invited_by: String,
    pub created_at: String,
    /// Until when the link works (seven days after it was sent).
    pub expires_at: String,
    /// The link has expired: resend the invitation, or cancel it.
    pub expired: bool,
    /// The e-mail with the link has been sent (false while its job waits).
    pub sent: bool,
}

fn invitation(i: InvitationRow, now: jiff::Timestamp) -> Invitation {
    Invitation {
        roles: i.roles().iter().collect(),
        expired: i.is_expired(now),
        id: i.id,
        email: i.email,
        display_name: i.display_name,
        title: i.title,
        invited_by: i.inviter_name,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
        sent: i.sent,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 200 (50 by default).
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The open invitations of the organisation (not accepted, not cancelled; expired ones
/// included, flagged), newest first.
#[utoipa::path(get, path = "/api/v1/o/{siren}/invitations", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ListQuery),
    responses((status = 200, body = Paged<Invitation>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<ListQuery>,
) -> WebResult<Json<Paged<Invitation>>> {
    ctx.require(Action::ManageUsers)?;
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = state.platform.db.read().await?;
    let page = invitations::open(
        &mut conn,
        ctx.org_id,
        cursor.as_ref(),
        clamp_limit(q.limit, 50),
    )
    .await?;
    let now = state.platform.clock.now();
    Ok(Json(Paged {
        items: page.items.into_iter().map(|i| invitation(i, now)).collect(),
        next_cursor: page.next,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    pub display_name: String,
    /// At least one, among the roles of this kind of organisation.
    pub roles: Vec<Role>,
    pub title: Option<String>,
}

/// Invites a person: an e-mail with a link valid seven days, once, is sent to the address.
/// Refused when the person already has access, when an invitation for the address is open,
/// or (409) when a subscription's cap of users is reached.
#[utoipa::path(post, path = "/api/v1/o/{siren}/invitations", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN)),
    request_body = NewInvitation,
    responses((status = 201, body = Invitation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: OrgCtx,
    ApiJson(req): ApiJson<NewInvitation>,
) -> WebResult<(StatusCode, Json<Invitation>)> {
    ctx.require(Action::ManageUsers)?;
    let mut errors = Vec::new();
    let email = match Email::parse(&req.email) {
        Ok(e) => Some(e),
        Err(e) => {
            errors.push(FieldError::new("email", e.0));
            None
        }
    };
    if req.display_name.trim().is_empty() {
        errors.push(FieldError::new(
            "display_name",
            "Indiquez le prénom et le nom de la personne.",
        ));
    }
    let roles: RoleSet = req.roles.iter().copied().collect();
    if roles.is_empty() {
        errors.push(FieldError::new("roles", "Choisissez au moins un rôle."));
    } else {
        for problem in role_change_problems(&ctx, ctx.identity.user_id, RoleSet::empty(), roles)? {
            errors.push(FieldError::new("roles", problem));
        }
    }
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Err(WebError(AppError::Invalid(errors)));
    };
    let p = &state.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    let id = invitations::create(
        &mut tx,
        now,
        ctx.org_id,
        &StoreInvitation {
            email: &email,
            display_name: &req.display_name,
            roles,
            title: req.title.as_deref(),
        },
        ctx.identity.user_id,
        &ctx.identity.audit_actor(),
    )
    .await?;
    queue_invitation(&mut tx, p, &id).await?;
    let row = invitations::get(&mut tx, ctx.org_id, &id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    tx.commit().await?;
    p.wake_workers();
    Ok((StatusCode::CREATED, Json(invitation(row, now))))
}

/// Cancels an open invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/o/{siren}/invitations/{id}", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ("id" = String, Path, description = ID)),
    responses((status = 204, description = "Invitation annulée"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(InvitationPath { id, .. }): Path<InvitationPath>,
) -> WebResult<StatusCode> {
    ctx.require(Action::ManageUsers)?;
    let p = &state.platform;
    let mut tx = p.db.begin().await?;
    if !invitations::cancel(
        &mut tx,
        p.clock.now(),
        ctx.org_id,
        &id,
        &ctx.identity.audit_actor(),
    )
    .await?
    {
        return Err(WebError(AppError::NotFound));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends an open invitation again with a new link, valid seven days; the previous link stops
/// working.
#[utoipa::path(post, path = "/api/v1/o/{siren}/invitations/{id}/resend", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ("id" = String, Path, description = ID)),
    responses((status = 200, body = Invitation), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resend(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(InvitationPath { id, .. }): Path<InvitationPath>,
) -> WebResult<Json<Invitation>> {
    ctx.require(Action::ManageUsers)?;
    let p = &state.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    if !invitations::resend(&mut tx, now, ctx.org_id, &id, &ctx.identity.audit_actor()).await? {
        return Err(WebError(AppError::NotFound));
    }
    queue_invitation(&mut tx, p, &id).await?;
    let row = invitations::get(&mut tx, ctx.org_id, &id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    tx.commit().await?;
    p.wake_workers();
    Ok(Json(invitation(row, now)))
}
