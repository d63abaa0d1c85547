//! What members see of their own membership, and what an EPCI sees of its communes.
//!
//! - `/o/{siren}/adhesion`: the member's status, conventions and charters (to download) and
//!   subscriptions, for its people, its référent and the operator's staff (read only).
//! - `/o/{siren}/communes`: an EPCI's communes from the registry, which of them are members,
//!   signed their charter, and use each service.
//! - `/o/{siren}/referents`: an EPCI's administrators choose which communes each référent
//!   numérique follows: all of them (present and future) or a list.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, OrgKind, Role, Service, UserId};
use bouquet_store::Platform;
use bouquet_store::accounts;
use bouquet_store::orgs::{self, OrgRow};
use bouquet_webkit::forms::{Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, flash, render, views};

use super::date_fr;
use super::member::{EngagementLine, SubscriptionLine, engagement_lines, subscription_lines};
use crate::current;
use crate::engagements;
use crate::members::{self, Status};

/// One commune (or CCAS) of an EPCI, as its table shows it.
pub struct CommuneLine {
    pub name: String,
    pub siren: String,
    pub kind: &'static str,
    pub population: String,
    /// "Membre", "Candidat"…, or "Non membre".
    pub status: String,
    pub member: bool,
    pub engaged: bool,
    /// One entry per service of [`Service::ALL`].
    pub services: Vec<bool>,
    /// The commune's page, when the viewer may open it.
    pub href: Option<String>,
}

/// The communes of `epci` (from the registry, plus the platform's other organisations
/// attached to it: CCAS, communes the registry no longer lists).
pub async fn communes_table(
    p: &Platform,
    epci: &OrgRow,
    today: &str,
    link: impl Fn(&str) -> Option<String>,
) -> WebResult<Vec<CommuneLine>> {
    let registry = current::current(p).await?;
    let communes = registry.communes_of(&epci.siren);
    let sirens: Vec<&str> = communes.iter().map(|c| c.siren.as_str()).collect();
    let mut conn = p.db.read().await?;
    let known = members::territory(&mut conn, epci.id()?, &sirens, today).await?;
    let ids: Vec<String> = known.iter().map(|k| k.id.clone()).collect();
    let mut services: HashMap<String, HashSet<String>> = HashMap::new();
    for (org, service) in members::services_today(&mut conn, &ids, today).await? {
        services.entry(org).or_default().insert(service);
    }
    let by_siren: HashMap<&str, &members::TerritoryRow> =
        known.iter().map(|k| (k.siren.as_str(), k)).collect();
    let line = |name: &str, siren: &str, kind: &'static str, population: Option<i64>| {
        let row = by_siren.get(siren);
        let status = row
            .and_then(|r| r.status.as_deref())
            .and_then(Status::from_code);
        let subscribed = row.and_then(|r| services.get(&r.id));
        CommuneLine {
            name: name.to_owned(),
            siren: siren.to_owned(),
            kind,
            population: population.map_or_else(|| "—".into(), views::thousands),
            status: status.map_or_else(|| "Non membre".to_owned(), |s| s.label().to_owned()),
            member: status.is_some(),
            engaged: row.is_some_and(|r| r.engaged),
            services: Service::ALL
                .iter()
                .map(|s| subscribed.is_some_and(|set| set.contains(s.code())))
                .collect(),
            href: row.and(link(siren)),
        }
    };
    let mut out: Vec<CommuneLine> = communes
        .iter()
        .map(|c| {
            line(
                &c.name,
                &c.siren,
                OrgKind::Commune.label(),
                Some(c.population_totale),
            )
        })
        .collect();
    for k in &known {
        if !sirens.contains(&k.siren.as_str()) && k.id != epci.id {
            let kind = k.kind.parse::<OrgKind>().map_or("", OrgKind::label);
            out.push(line(&k.name, &k.siren, kind, k.population));
        }
    }
    out.sort_by_key(|l| bouquet_kernel::text::normalize(&l.name));
    Ok(out)
}

/// Service labels in [`Service::ALL`] order, for the table's columns.
pub fn service_headers() -> Vec<&'static str> {
    Service::ALL.iter().map(|s| s.label()).collect()
}

/// Figures above the table: "12 communes sur 20 sont membres…".
pub struct TerritorySummary {
    pub communes: usize,
    pub members: usize,
    pub engaged: usize,
}

pub fn summary(lines: &[CommuneLine]) -> TerritorySummary {
    TerritorySummary {
        communes: lines.len(),
        members: lines.iter().filter(|l| l.member).count(),
        engaged: lines.iter().filter(|l| l.engaged).count(),
    }
}

// ---------------------------------------------------------------------------------------
// /o/{siren}/adhesion

#[derive(Template)]
#[template(path = "org_membership.html")]
struct MembershipPage {
    chrome: Chrome,
    org_name: String,
    status: Option<(String, String)>,
    college: String,
    engagements: Vec<EngagementLine>,
    subscriptions: Vec<SubscriptionLine>,
    base: String,
}

pub async fn membership(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ViewOrganisation)?;
    let p = &page.state.platform;
    let today = orgs::local_date(p.clock.now(), &ctx.tz);
    let mut conn = p.db.read().await?;
    let state = members::get(&mut conn, ctx.org_id).await?;
    let engagements = engagements::list(&mut conn, ctx.org_id).await?;
    let subs = orgs::subscriptions(&mut conn, ctx.org_id).await?;
    render(&MembershipPage {
        chrome: page
            .chrome("Adhésion", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Adhésion", None),
        org_name: ctx.org.name.clone(),
        status: state.as_ref().map(|s| {
            (
                s.status().map_or("", Status::label).to_owned(),
                date_fr(&s.status_since),
            )
        }),
        college: state.and_then(|s| s.college).unwrap_or_default(),
        engagements: engagement_lines(&engagements, &today, false),
        subscriptions: subscription_lines(&subs, &today, false),
        base: ctx.href("/adhesion"),
    })
}

/// `/o/{siren}/adhesion/engagements/{id}/{document}.pdf`
pub async fn engagement_pdf(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, document)): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(Action::ViewOrganisation)?;
    super::member::send_engagement_pdf(
        &page.state.platform,
        ctx.org_id,
        &ctx.org.name,
        &id,
        &document,
    )
    .await
}

// ---------------------------------------------------------------------------------------
// /o/{siren}/communes

#[derive(Template)]
#[template(path = "org_communes.html")]
struct CommunesPage {
    chrome: Chrome,
    org_name: String,
    communes: Vec<CommuneLine>,
    headers: Vec<&'static str>,
    summary: TerritorySummary,
}

pub async fn communes(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ReadUsage)?;
    if !ctx.facts.kind.is_epci() {
        return Err(WebError(AppError::NotFound));
    }
    let p = &page.state.platform;
    let today = orgs::local_date(p.clock.now(), &ctx.tz);
    // A référent opens the communes he follows; the operator's staff, all of them.
    let visible: HashSet<String> = ctx
        .identity
        .followed
        .iter()
        .map(|m| m.siren.clone())
        .collect();
    let staff = ctx.identity.actor.is_operator_staff();
    let lines = communes_table(p, &ctx.org, &today, |siren| {
        (staff || visible.contains(siren)).then(|| format!("/o/{siren}/adhesion"))
    })
    .await?;
    render(&CommunesPage {
        chrome: page
            .chrome("Communes", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Communes", None),
        org_name: ctx.org.name.clone(),
        summary: summary(&lines),
        communes: lines,
        headers: service_headers(),
    })
}

// ---------------------------------------------------------------------------------------
// /o/{siren}/referents

pub struct ReferentLine {
    pub id: String,
    pub name: String,
    pub email: String,
    pub all: bool,
    pub follows: Vec<String>,
}

#[derive(Template)]
#[template(path = "org_referents.html")]
struct ReferentsPage {
    chrome: Chrome,
    org_name: String,
    referents: Vec<ReferentLine>,
    can_manage: bool,
    base: String,
    users_href: String,
}

async fn referent_lines(p: &Platform, ctx: &OrgCtx) -> WebResult<Vec<ReferentLine>> {
    let mut conn = p.db.read().await?;
    let people = accounts::org_users(&mut conn, ctx.org_id, None, None, 200).await?;
    let mut out = Vec::new();
    for u in people
        .items
        .iter()
        .filter(|u| u.active && u.roles().contains(Role::ReferentNumerique))
    {
        let user: UserId = u.id.parse().map_err(|_| WebError(AppError::NotFound))?;
        let all = accounts::follows_all(&mut conn, user, ctx.org_id).await?;
        let follows = accounts::followed(&mut conn, user)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        out.push(ReferentLine {
            id: u.id.clone(),
            name: u.display_name.clone(),
            email: u.email.clone(),
            all,
            follows,
        });
    }
    Ok(out)
}

pub async fn referents(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ReadUsers)?;
    if !ctx.facts.kind.is_epci() {
        return Err(WebError(AppError::NotFound));
    }
    let p = &page.state.platform;
    render(&ReferentsPage {
        chrome: page
            .chrome("Référents numériques", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Référents numériques", None),
        org_name: ctx.org.name.clone(),
        referents: referent_lines(p, &ctx).await?,
        can_manage: ctx.can(Action::ManageUsers),
        base: ctx.href("/referents"),
        users_href: ctx.href("/utilisateurs"),
    })
}

pub struct ScopeChoice {
    pub siren: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "org_referent_scope.html")]
struct ScopePage {
    chrome: Chrome,
    referent: ReferentLine,
    communes: Vec<ScopeChoice>,
    f: Fields,
    base: String,
    back: String,
}

/// The référent of the URL: a person of this EPCI holding the role, else 404.
async fn referent_of(p: &Platform, ctx: &OrgCtx, id: &str) -> WebResult<ReferentLine> {
    referent_lines(p, ctx)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(WebError(AppError::NotFound))
}

async fn scope_page(
    page: &PageCtx,
    ctx: &OrgCtx,
    referent: ReferentLine,
    f: Fields,
    chosen: Option<&HashSet<String>>,
) -> WebResult<ScopePage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let children = orgs::children(&mut conn, ctx.org_id).await?;
    Ok(ScopePage {
        chrome: page
            .chrome(
                &format!("Communes suivies par {}", referent.name),
                Some(ctx),
            )
            .with_errors(f.has_errors())
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Référents numériques", Some(ctx.href("/referents")))
            .crumb(referent.name.clone(), None),
        communes: children
            .iter()
            .map(|c| ScopeChoice {
                checked: match chosen {
                    Some(set) => set.contains(&c.siren),
                    None => referent.follows.contains(&c.name),
                },
                siren: c.siren.clone(),
                name: c.name.clone(),
            })
            .collect(),
        base: ctx.href(&format!("/referents/{}", referent.id)),
        back: ctx.href("/referents"),
        referent,
        f,
    })
}

pub async fn scope_form(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let referent = referent_of(&page.state.platform, &ctx, &id).await?;
    let f = Fields::new().with("perimetre", if referent.all { "toutes" } else { "liste" });
    render(&scope_page(&page, &ctx, referent, f, None).await?)
}

/// `perimetre=toutes|liste`, `communes=SIREN` (repeated).
pub async fn scope(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let p = &page.state.platform;
    let referent = referent_of(p, &ctx, &id).await?;
    let user: UserId = id.parse().map_err(|_| WebError(AppError::NotFound))?;
    let mut f = Fields::new().with("perimetre", pairs.get("perimetre"));
    let all = match pairs.get("perimetre") {
        "toutes" => true,
        "liste" => false,
        _ => {
            f.error(
                "perimetre",
                "Choisissez : toutes les communes, ou une liste.",
            );
            false
        }
    };
    let chosen: HashSet<String> = pairs.all("communes").map(str::to_owned).collect();
    let mut conn = p.db.read().await?;
    let children = orgs::children(&mut conn, ctx.org_id).await?;
    drop(conn);
    // Only communes of this EPCI: a SIREN from elsewhere is refused, never followed.
    let mut ids = Vec::new();
    for siren in &chosen {
        match children.iter().find(|c| &c.siren == siren) {
            Some(c) => ids.push(c.id()?),
            None => {
                f.error(
                    "communes",
                    "Une des communes choisies n'appartient pas à l'intercommunalité.",
                );
                break;
            }
        }
    }
    if !all && ids.is_empty() && !f.has_errors() {
        f.error(
            "communes",
            "Cochez au moins une commune, ou choisissez « toutes les communes ».",
        );
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &scope_page(&page, &ctx, referent, f, Some(&chosen)).await?,
        );
    }
    let mut tx = p.db.begin().await?;
    accounts::set_referent_scope(
        &mut tx,
        p.clock.now(),
        user,
        ctx.org_id,
        all,
        &ids,
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other(&ctx.href("/referents")),
        "perimetre-enregistre",
        page.secure(),
    ))
}
