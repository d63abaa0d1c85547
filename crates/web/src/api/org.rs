//! An organisation's data: identity, users, journal, usage.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bouquet_kernel::audit::action_label;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, OrgKind, Role, RoleSet, Service};
use bouquet_store::accounts::{self, OrgUserRow};
use bouquet_store::audit::{self, JournalFilter};
use bouquet_store::page::{Cursor, clamp_limit};
use bouquet_store::{orgs, usage};
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{ApiJson, Params};
use bouquet_webkit::{AppState, OrgCtx, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Paged, rfc3339};
use crate::pages::org_users::{member, role_change_problems};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(organisation))
        .routes(routes!(users))
        .routes(routes!(user, remove_user))
        .routes(routes!(set_roles))
        .routes(routes!(journal))
        .routes(routes!(usage_months))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub service: Service,
    /// `YYYY-MM-DD`
    pub start_date: String,
    pub end_date: Option<String>,
    /// Active today, in the organisation's time zone.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgInfo {
    pub siren: String,
    pub name: String,
    pub kind: OrgKind,
    pub kind_label: String,
    /// SIREN of the EPCI, for a commune or a CCAS.
    pub epci_siren: Option<String>,
    pub insee: Option<String>,
    pub departement: Option<String>,
    pub population: Option<i64>,
    pub population_year: Option<i32>,
    /// IANA name: legal dates are computed in it.
    pub time_zone: String,
    pub subscriptions: Vec<Subscription>,
    /// The caller's roles here (empty when reading as référent or operator).
    pub my_roles: Vec<Role>,
}

const SIREN: &str = "SIREN de l'organisation (9 chiffres)";

/// `/o/{siren}/…/{id}`
#[derive(Debug, Deserialize)]
pub struct OrgItem {
    #[allow(dead_code)]
    siren: String,
    id: String,
}

/// One organisation, its subscriptions and the caller's roles there.
#[utoipa::path(get, path = "/api/v1/o/{siren}", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN)),
    responses((status = 200, body = OrgInfo), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn organisation(State(state): State<AppState>, ctx: OrgCtx) -> WebResult<Json<OrgInfo>> {
    ctx.require(Action::ViewOrganisation)?;
    let mut conn = state.platform.db.read().await?;
    let subs = orgs::subscriptions(&mut conn, ctx.org_id).await?;
    let today = orgs::local_date(state.platform.clock.now(), &ctx.tz);
    let epci_siren = match ctx.org.parent() {
        Some(p) => orgs::get(&mut conn, p).await?.map(|o| o.siren),
        None => None,
    };
    Ok(Json(OrgInfo {
        siren: ctx.org.siren.clone(),
        name: ctx.org.name.clone(),
        kind: ctx.facts.kind,
        kind_label: ctx.org.kind_label().to_owned(),
        epci_siren,
        insee: ctx.org.insee.clone(),
        departement: ctx.org.departement.clone(),
        population: ctx.org.population,
        population_year: ctx.org.population_year,
        time_zone: ctx.org.time_zone.clone(),
        subscriptions: subs
            .iter()
            .filter_map(|s| {
                Some(Subscription {
                    service: s.service()?,
                    start_date: s.start_date.clone(),
                    end_date: s.end_date.clone(),
                    active: s.active_on(&today),
                })
            })
            .collect(),
        my_roles: ctx
            .identity
            .actor
            .roles_in(ctx.org_id)
            .unwrap_or_default()
            .iter()
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub active: bool,
    pub roles: Vec<Role>,
    pub title: Option<String>,
    pub last_login_at: Option<String>,
}

impl From<OrgUserRow> for OrgUser {
    fn from(u: OrgUserRow) -> Self {
        OrgUser {
            roles: u.roles().iter().collect(),
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            active: u.active,
            title: u.title,
            last_login_at: u.last_login_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Words of the name or the address (prefix match, accents ignored).
    q: Option<String>,
    /// 1 to 200 (50 by default).
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The people of the organisation.
#[utoipa::path(get, path = "/api/v1/o/{siren}/users", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), UsersQuery),
    responses((status = 200, body = Paged<OrgUser>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn users(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<UsersQuery>,
) -> WebResult<Json<Paged<OrgUser>>> {
    ctx.require(Action::ReadUsers)?;
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = state.platform.db.read().await?;
    let page = accounts::org_users(
        &mut conn,
        ctx.org_id,
        q.q.as_deref(),
        cursor.as_ref(),
        clamp_limit(q.limit, 50),
    )
    .await?;
    Ok(Json(Paged {
        items: page.items.into_iter().map(OrgUser::from).collect(),
        next_cursor: page.next,
    }))
}

/// One person of the organisation.
#[utoipa::path(get, path = "/api/v1/o/{siren}/users/{id}", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ("id" = String, Path, description = "Identifiant du compte")),
    responses((status = 200, body = OrgUser), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn user(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(OrgItem { id, .. }): Path<OrgItem>,
) -> WebResult<Json<OrgUser>> {
    ctx.require(Action::ReadUsers)?;
    let (_, row) = member(&state, &ctx, &id).await?;
    Ok(Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesUpdate {
    /// The complete set of roles (replaces the current one).
    pub roles: Vec<Role>,
}

/// Replaces the roles of a person in the organisation.
#[utoipa::path(put, path = "/api/v1/o/{siren}/users/{id}/roles", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ("id" = String, Path, description = "Identifiant du compte")),
    request_body = RolesUpdate,
    responses((status = 200, body = OrgUser), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_roles(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(OrgItem { id, .. }): Path<OrgItem>,
    ApiJson(req): ApiJson<RolesUpdate>,
) -> WebResult<Json<OrgUser>> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, row) = member(&state, &ctx, &id).await?;
    let roles: RoleSet = req.roles.iter().copied().collect();
    let problems = role_change_problems(&ctx, user_id, row.roles(), roles)?;
    if !problems.is_empty() {
        return Err(WebError(AppError::Invalid(
            problems
                .into_iter()
                .map(|m| bouquet_kernel::FieldError::new("roles", m))
                .collect(),
        )));
    }
    let p = &state.platform;
    let mut tx = p.db.begin().await?;
    accounts::set_roles(
        &mut tx,
        p.clock.now(),
        user_id,
        ctx.org_id,
        roles,
        &ctx.identity.audit_actor(),
    )
    .await?;
    let updated = accounts::org_user(&mut tx, ctx.org_id, user_id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    tx.commit().await?;
    Ok(Json(updated.into()))
}

/// Removes a person from the organisation (the account stays).
#[utoipa::path(delete, path = "/api/v1/o/{siren}/users/{id}", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), ("id" = String, Path, description = "Identifiant du compte")),
    responses((status = 204, description = "Accès retiré"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_user(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(OrgItem { id, .. }): Path<OrgItem>,
) -> WebResult<StatusCode> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, _) = member(&state, &ctx, &id).await?;
    if user_id == ctx.identity.user_id {
        return Err(WebError(AppError::Conflict(
            "Vous ne pouvez pas retirer votre propre accès.".into(),
        )));
    }
    let p = &state.platform;
    let mut tx = p.db.begin().await?;
    accounts::revoke(
        &mut tx,
        p.clock.now(),
        user_id,
        ctx.org_id,
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JournalEvent {
    pub id: String,
    /// Position in the organisation's chain (1, 2, 3…).
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub action_label: Option<String>,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
    /// SHA-256 of the previous event of the chain.
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    /// Prefix of the action code (`session.`, `user.created`…).
    action: Option<String>,
    /// RFC 3339 instant (inclusive).
    from: Option<String>,
    /// RFC 3339 instant (exclusive).
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn instant(field: &str, value: Option<&str>) -> WebResult<Option<jiff::Timestamp>> {
    value
        .map(|v| {
            v.parse::<jiff::Timestamp>().map_err(|_| {
                WebError(AppError::invalid(
                    field,
                    "Date attendue au format RFC 3339, par exemple 2026-11-23T00:00:00Z.",
                ))
            })
        })
        .transpose()
}

/// The organisation's journal, newest first.
#[utoipa::path(get, path = "/api/v1/o/{siren}/journal", tag = "journal", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), JournalQuery),
    responses((status = 200, body = Paged<JournalEvent>), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn journal(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<JournalQuery>,
) -> WebResult<Json<Paged<JournalEvent>>> {
    ctx.require(Action::ReadJournal)?;
    let filter = JournalFilter {
        org: Some(ctx.org_id),
        action_prefix: q.action.clone(),
        from: instant("from", q.from.as_deref())?,
        to: instant("to", q.to.as_deref())?,
        ..Default::default()
    };
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = state.platform.db.read().await?;
    let page = audit::list(
        &mut conn,
        &filter,
        cursor.as_ref(),
        clamp_limit(q.limit, 50),
    )
    .await?;
    Ok(Json(Paged {
        items: page
            .items
            .into_iter()
            .map(|e| JournalEvent {
                action_label: action_label(&e.action).map(str::to_owned),
                details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                id: e.id,
                seq: e.seq,
                at: rfc3339(e.at),
                actor: e.actor_label,
                action: e.action,
                object_type: e.object_type,
                object_id: e.object_id,
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
        next_cursor: page.next,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageMonth {
    /// A service code, or `platform`.
    pub service: String,
    /// See docs/usage-events.md.
    pub kind: String,
    /// `YYYY-MM`, in the organisation's time zone.
    pub month: String,
    pub count: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First month, `YYYY-MM` (default: twelve months ago).
    from: Option<String>,
    /// Last month, `YYYY-MM` (default: this month).
    to: Option<String>,
}

fn month(field: &str, value: &str) -> WebResult<String> {
    let ok = value.len() == 7
        && value.as_bytes()[4] == b'-'
        && value[..4].bytes().all(|b| b.is_ascii_digit())
        && value[5..]
            .parse::<u8>()
            .is_ok_and(|m| (1..=12).contains(&m));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(WebError(AppError::invalid(
            field,
            "Mois attendu au format AAAA-MM, par exemple 2026-11.",
        )))
    }
}

/// Monthly usage aggregates of the organisation.
#[utoipa::path(get, path = "/api/v1/o/{siren}/usage", tag = "usages", security(("bearer" = [])),
    params(("siren" = String, Path, description = SIREN), UsageQuery),
    responses((status = 200, body = Vec<UsageMonth>), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn usage_months(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<UsageQuery>,
) -> WebResult<Json<Vec<UsageMonth>>> {
    ctx.require(Action::ReadUsage)?;
    let now = state.platform.clock.now();
    let today = now.to_zoned_datetime(ctx.tz.clone()).date();
    let default_from = today
        .checked_sub(jiff::Span::new().months(11))
        .unwrap_or(today)
        .strftime("%Y-%m")
        .to_string();
    let from = month("from", q.from.as_deref().unwrap_or(&default_from))?;
    let to = month(
        "to",
        q.to.as_deref()
            .unwrap_or(&today.strftime("%Y-%m").to_string()),
    )?;
    let mut conn = state.platform.db.read().await?;
    let rows = usage::monthly(&mut conn, &[ctx.org_id], &from, &to).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| UsageMonth {
                service: r.service,
                kind: r.kind,
                month: r.month,
                count: r.count,
            })
            .collect(),
    ))
}
