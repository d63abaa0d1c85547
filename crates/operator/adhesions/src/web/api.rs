//! The members API: `/api/v1/organisations` (members, with filters and a cursor; one by
//! SIREN) and `/api/v1/o/{siren}/subscriptions`.
//!
//! The operator's staff see every member; anyone else sees only the organisations they
//! belong to or follow as référent (another organisation is a 404, as everywhere).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bouquet_kernel::policy::{self, Action, PlatformAction};
use bouquet_kernel::{AppError, OrgId, OrgKind, Service, Siren};
use bouquet_store::orgs::{self, NewSubscription, SubscriptionRow};
use bouquet_store::page::{Cursor, clamp_limit};
use bouquet_webkit::api::Paged;
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{ApiJson, Fields, Params};
use bouquet_webkit::{ApiUser, AppState, OrgCtx, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::members::{ListQuery, filter_of};
use super::operator_today;
use crate::engagements;
use crate::members::{self, MemberRow, Status};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(subscriptions, subscribe))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub siren: String,
    pub name: String,
    pub kind: OrgKind,
    pub insee: Option<String>,
    pub departement: Option<String>,
    /// Population totale, and the year it is in force.
    pub population: Option<i64>,
    pub population_year: Option<i32>,
    pub epci_siren: Option<String>,
    pub epci_name: Option<String>,
    /// `candidat`, `membre`, `suspendu`, `sorti` or `fusionne`.
    pub status: String,
    /// `YYYY-MM-DD`
    pub status_since: String,
    pub college: Option<String>,
    /// A convention or charter is signed and in force today.
    pub engaged: bool,
    /// Services subscribed today.
    pub services: Vec<Service>,
}

fn member(r: MemberRow, services: Vec<Service>) -> Member {
    Member {
        kind: r.kind().unwrap_or(OrgKind::AutrePublic),
        siren: r.siren,
        name: r.name,
        insee: r.insee,
        departement: r.departement,
        population: r.population,
        population_year: r.population_year,
        epci_siren: r.parent_siren,
        epci_name: r.parent_name,
        status: r.status,
        status_since: r.status_since,
        college: r.college,
        engaged: r.engaged,
        services,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Words of the name, the SIREN or the INSEE code.
    q: Option<String>,
    /// A kind (`commune`, `cc`…) or `epci` for the four kinds of EPCI.
    kind: Option<String>,
    /// SIREN of an EPCI: its member communes and itself.
    epci: Option<String>,
    departement: Option<String>,
    /// `candidat`, `membre`, `suspendu`, `sorti`, `fusionne`.
    status: Option<String>,
    /// A service code (`actes`, `helios`…): subscribed today.
    service: Option<String>,
    /// `true`: a convention or charter in force; `false`: none.
    engaged: Option<bool>,
    population_min: Option<i64>,
    population_max: Option<i64>,
    /// 1 to 200 (50 by default).
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Members, by name: every member for the operator's staff, one's own organisations for
/// anyone else.
#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", security(("bearer" = [])),
    params(MembersQuery),
    responses((status = 200, body = Paged<Member>), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(identity): ApiUser,
    Params(q): Params<MembersQuery>,
) -> WebResult<Json<Paged<Member>>> {
    let p = &state.platform;
    let today = operator_today(p);
    let list_query = ListQuery {
        q: q.q.unwrap_or_default(),
        kind: q.kind.unwrap_or_default(),
        epci: q.epci.unwrap_or_default(),
        departement: q.departement.unwrap_or_default(),
        statut: q.status.unwrap_or_default(),
        service: q.service.unwrap_or_default(),
        engagement: match q.engaged {
            Some(true) => "oui".into(),
            Some(false) => "non".into(),
            None => String::new(),
        },
        population_min: q.population_min.map(|n| n.to_string()).unwrap_or_default(),
        population_max: q.population_max.map(|n| n.to_string()).unwrap_or_default(),
        curseur: None,
    };
    let mut conn = p.db.read().await?;
    let mut f = Fields::new();
    let mut filter = filter_of(&mut conn, &list_query, &mut f).await?;
    if f.has_errors() {
        return Err(WebError(AppError::Invalid(f.errors)));
    }
    if !identity.can(PlatformAction::ReadAllMembers) {
        let mut only: Vec<OrgId> = identity
            .actor
            .memberships
            .iter()
            .map(|m| m.org_id)
            .collect();
        only.extend(identity.actor.followed.iter().copied());
        filter.only = Some(only);
    }
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let page = members::list(
        &mut conn,
        &filter,
        &today,
        cursor.as_ref(),
        clamp_limit(q.limit, 50),
    )
    .await?;
    let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
    let subscribed = members::services_today(&mut conn, &ids, &today).await?;
    Ok(Json(Paged {
        next_cursor: page.next,
        items: page
            .items
            .into_iter()
            .map(|r| {
                let services = subscribed
                    .iter()
                    .filter(|(org, _)| *org == r.id)
                    .filter_map(|(_, s)| s.parse().ok())
                    .collect();
                member(r, services)
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Engagement {
    pub reference: String,
    /// `convention_membre`, `charte_utilisation`, `charte_mairie_connectee`, `convention_autre`.
    pub template: String,
    /// `a_signer`, `signe`, `resilie`.
    pub status: String,
    pub starts_on: String,
    pub ends_on: Option<String>,
    pub signed_on: Option<String>,
    pub eu_funding_end: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub member: Member,
    pub engagements: Vec<Engagement>,
}

/// One member by SIREN, with its conventions and charters.
#[utoipa::path(get, path = "/api/v1/organisations/{siren}", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN du membre (9 chiffres)")),
    responses((status = 200, body = MemberDetail), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn one(
    State(state): State<AppState>,
    ApiUser(identity): ApiUser,
    Path(siren): Path<String>,
) -> WebResult<Json<MemberDetail>> {
    let p = &state.platform;
    let siren = Siren::parse(&siren).map_err(|_| WebError(AppError::NotFound))?;
    let today = operator_today(p);
    let mut conn = p.db.read().await?;
    let org = orgs::get_by_siren(&mut conn, &siren)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    let facts = orgs::facts(&mut conn, &org, p.clock.now()).await?;
    if policy::decide(&identity.actor, Action::ViewOrganisation, &facts).is_err() {
        return Err(WebError(AppError::NotFound));
    }
    let filter = members::MemberFilter {
        only: Some(vec![facts.id]),
        ..members::MemberFilter::default()
    };
    let row = members::all(&mut conn, &filter, &today)
        .await?
        .into_iter()
        .next()
        .ok_or(WebError(AppError::NotFound))?;
    let engagements = engagements::list(&mut conn, facts.id).await?;
    Ok(Json(MemberDetail {
        member: member(row, facts.services.iter().collect()),
        engagements: engagements
            .into_iter()
            .map(|e| Engagement {
                reference: e.reference,
                template: e.template,
                status: e.status,
                starts_on: e.starts_on,
                ends_on: e.ends_on,
                signed_on: e.signed_on,
                eu_funding_end: e.eu_end,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub service: Service,
    /// `YYYY-MM-DD`
    pub start_date: String,
    pub end_date: Option<String>,
    pub max_users: Option<i32>,
    /// In force today, in the organisation's time zone.
    pub active: bool,
}

fn subscription(s: &SubscriptionRow, today: &str) -> Option<Subscription> {
    Some(Subscription {
        id: s.id.clone(),
        service: s.service()?,
        start_date: s.start_date.clone(),
        end_date: s.end_date.clone(),
        max_users: s.max_users,
        active: s.active_on(today),
    })
}

/// The organisation's subscriptions to the services of the bouquet, past and present.
#[utoipa::path(get, path = "/api/v1/o/{siren}/subscriptions", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN de l'organisation (9 chiffres)")),
    responses((status = 200, body = Vec<Subscription>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn subscriptions(
    State(state): State<AppState>,
    ctx: OrgCtx,
) -> WebResult<Json<Vec<Subscription>>> {
    ctx.require(Action::ViewOrganisation)?;
    let p = &state.platform;
    let today = orgs::local_date(p.clock.now(), &ctx.tz);
    let mut conn = p.db.read().await?;
    let subs = orgs::subscriptions(&mut conn, ctx.org_id).await?;
    Ok(Json(
        subs.iter()
            .filter_map(|s| subscription(s, &today))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriptionBody {
    pub service: Service,
    /// `YYYY-MM-DD`
    pub start_date: String,
    pub end_date: Option<String>,
    /// At most this many people (none: no cap).
    pub max_users: Option<i32>,
}

/// Subscribes a member to a service (the operator's staff).
#[utoipa::path(post, path = "/api/v1/o/{siren}/subscriptions", tag = "organisations", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN de l'organisation (9 chiffres)")),
    request_body = NewSubscriptionBody,
    responses((status = 201, body = Subscription), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "Un abonnement couvre déjà cette période", body = Problem), (status = 422, body = Problem)))]
pub async fn subscribe(
    State(state): State<AppState>,
    ctx: OrgCtx,
    ApiJson(body): ApiJson<NewSubscriptionBody>,
) -> WebResult<(StatusCode, Json<Subscription>)> {
    ctx.require(Action::ViewOrganisation)?;
    ctx.identity.require(PlatformAction::ManageMembers)?;
    let p = &state.platform;
    let mut conn = p.db.read().await?;
    let state_row = members::get(&mut conn, ctx.org_id).await?;
    drop(conn);
    let is_member = state_row.is_some_and(|s| s.status().is_some_and(|st| st != Status::Fusionne));
    if !is_member {
        return Err(WebError(AppError::Conflict(
            "Cette organisation n'est pas membre : enregistrez d'abord son adhésion.".into(),
        )));
    }
    let mut tx = p.db.begin().await?;
    let id = orgs::subscribe(
        &mut tx,
        p.clock.now(),
        ctx.org_id,
        NewSubscription {
            service: body.service,
            start_date: &body.start_date,
            end_date: body.end_date.as_deref(),
            max_users: body.max_users,
        },
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    let today = orgs::local_date(p.clock.now(), &ctx.tz);
    let mut conn = p.db.read().await?;
    let created = orgs::subscriptions(&mut conn, ctx.org_id)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .and_then(|s| subscription(&s, &today))
        .ok_or(WebError(AppError::NotFound))?;
    Ok((StatusCode::CREATED, Json(created)))
}
