//! The home page of an organisation, per role: what to do, the services, and what each role
//! follows (a référent's communes, an EPCI's communes, the operator's platform).

use std::collections::HashMap;

use askama::Template;
use axum::response::Response;
use bouquet_kernel::policy::Action;
use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{AppError, OrgId, OrgKind, Role, Service, Siren};
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::{accounts, audit, jobs, usage};
use bouquet_webkit::forms::Params;
use bouquet_webkit::layout::{Chrome, see_other};
use bouquet_webkit::{CurrentUser, OrgCtx, PageCtx, TodoItem, WebError, WebResult, render};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use bouquet_webkit::views;

/// `/`: the signed-in person lands in their organisation; others sign in.
pub async fn home(page: PageCtx) -> Response {
    match &page.identity {
        Some(identity) => match identity.home_siren() {
            Some(siren) => see_other(&format!("/o/{siren}/")),
            None => see_other("/profil"),
        },
        None => see_other("/connexion"),
    }
}

#[derive(Deserialize)]
pub struct SwitchQuery {
    #[serde(default)]
    o: String,
}

/// The organisation selector (a GET form, works without JavaScript).
pub async fn switch(
    CurrentUser(_): CurrentUser,
    Params(q): Params<SwitchQuery>,
) -> WebResult<Response> {
    let siren = Siren::parse(&q.o).map_err(|_| WebError(AppError::NotFound))?;
    Ok(see_other(&format!("/o/{siren}/")))
}

pub struct ServiceTile {
    pub label: &'static str,
    pub description: &'static str,
    /// The service's pages, when this build serves them.
    pub href: Option<String>,
}

pub struct UsageRow {
    pub name: String,
    pub siren: String,
    pub kind: &'static str,
    pub population: String,
    pub services: String,
    pub this_month: i64,
    pub last_month: i64,
    /// Link to the organisation's page, when the viewer may open it.
    pub href: Option<String>,
}

pub struct Stat {
    pub value: String,
    pub label: &'static str,
    pub href: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    org_name: String,
    kind_label: &'static str,
    todos: Vec<TodoItem>,
    services: Vec<ServiceTile>,
    followed: Vec<UsageRow>,
    communes: Vec<UsageRow>,
    stats: Vec<Stat>,
    is_company: bool,
    can_manage: bool,
    can_journal: bool,
    can_contact: bool,
    month_label: String,
    siren: String,
}

/// (this month, last month) as `YYYY-MM` in `tz`.
pub fn months(now: Timestamp, tz: &TimeZone) -> (String, String) {
    let date = now.to_zoned_datetime(tz.clone()).date();
    let first = date.first_of_month();
    let prev = first.yesterday().unwrap_or(first);
    (
        first.strftime("%Y-%m").to_string(),
        prev.strftime("%Y-%m").to_string(),
    )
}

fn month_label(now: Timestamp, tz: &TimeZone) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let date = now.to_zoned_datetime(tz.clone()).date();
    let m = usize::try_from(date.month()).unwrap_or(1).clamp(1, 12);
    format!("{} {}", MONTHS[m - 1], date.year())
}

async fn usage_rows(
    page: &PageCtx,
    rows: &[OrgRow],
    now: Timestamp,
    tz: &TimeZone,
    linkable: impl Fn(&OrgRow) -> bool,
) -> WebResult<Vec<UsageRow>> {
    let p = &page.state.platform;
    let (this, last) = months(now, tz);
    let ids: Vec<OrgId> = rows.iter().filter_map(|r| r.id().ok()).collect();
    let mut conn = p.db.read().await?;
    let counts = usage::monthly(&mut conn, &ids, &last, &this).await?;
    let mut by_org: HashMap<(String, String), i64> = HashMap::new();
    for c in counts
        .iter()
        .filter(|c| c.kind == UsageKind::Connexion.code())
    {
        *by_org
            .entry((c.org_id.clone(), c.month.clone()))
            .or_default() += c.count;
    }
    let mut out = Vec::new();
    for r in rows {
        let services = orgs::active_services(&mut conn, r, now).await?;
        let labels: Vec<&str> = services.iter().map(|s| s.label()).collect();
        out.push(UsageRow {
            name: r.name.clone(),
            siren: r.siren.clone(),
            kind: r.kind_label(),
            population: r.population.map_or_else(|| "—".into(), views::thousands),
            services: if labels.is_empty() {
                "aucun".into()
            } else {
                labels.join(", ")
            },
            this_month: by_org
                .get(&(r.id.clone(), this.clone()))
                .copied()
                .unwrap_or(0),
            last_month: by_org
                .get(&(r.id.clone(), last.clone()))
                .copied()
                .unwrap_or(0),
            href: linkable(r).then(|| format!("/o/{}/", r.siren)),
        });
    }
    Ok(out)
}

pub async fn dashboard(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ViewOrganisation)?;
    let state = &page.state;
    let p = &state.platform;
    let now = p.clock.now();
    let identity = &ctx.identity;
    let kind = ctx.org.kind()?;

    let mut todos = Vec::new();
    for module in &state.modules {
        todos.extend(module.todos(state, &ctx).await?);
    }
    todos.sort_by_key(|t| !t.urgent);

    // Every service the organisation subscribed, and only those: linked when this build
    // serves it, announced otherwise.
    let services: Vec<ServiceTile> = Service::ALL
        .into_iter()
        .filter(|s| ctx.can(Action::ReadService(*s)))
        .map(|s| ServiceTile {
            label: s.label(),
            description: s.description(),
            href: state
                .modules
                .iter()
                .any(|m| m.service() == Some(s))
                .then(|| ctx.href(&format!("/{}", s.slug()))),
        })
        .collect();

    let my_roles = identity.actor.roles_in(ctx.org_id).unwrap_or_default();
    let followed = if my_roles.contains(Role::ReferentNumerique) && !identity.followed.is_empty() {
        let mut conn = p.db.read().await?;
        let mut rows = Vec::new();
        for f in &identity.followed {
            if let Ok(id) = f.org_id.parse()
                && let Some(r) = orgs::get(&mut conn, id).await?
            {
                rows.push(r);
            }
        }
        drop(conn);
        usage_rows(&page, &rows, now, &ctx.tz, |_| true).await?
    } else {
        Vec::new()
    };

    let communes = if kind.is_epci() && ctx.can(Action::ReadUsage) {
        let rows = {
            let mut conn = p.db.read().await?;
            orgs::children(&mut conn, ctx.org_id).await?
        };
        let visible: Vec<String> = identity.followed.iter().map(|f| f.siren.clone()).collect();
        let staff = identity.actor.is_operator_staff();
        usage_rows(&page, &rows, now, &ctx.tz, |r| {
            staff || visible.contains(&r.siren)
        })
        .await?
    } else {
        Vec::new()
    };

    let stats = if kind == OrgKind::Operateur && identity.actor.is_operator_staff() {
        let mut conn = p.db.read().await?;
        let dead = jobs::counts(&mut conn)
            .await?
            .into_iter()
            .find(|(s, _)| s == "dead")
            .map_or(0, |(_, n)| n);
        vec![
            Stat {
                value: views::thousands(orgs::count(&mut conn).await?),
                label: "organisations",
                href: Some("/admin/organisations"),
            },
            Stat {
                value: views::thousands(accounts::count_users(&mut conn).await?),
                label: "comptes",
                href: Some("/admin/utilisateurs"),
            },
            Stat {
                value: views::thousands(dead),
                label: "tâches en échec",
                href: Some("/admin/taches?statut=dead"),
            },
            Stat {
                value: views::thousands(audit::count(&mut conn, None).await?),
                label: "événements au journal",
                href: Some("/admin/journal"),
            },
        ]
    } else {
        Vec::new()
    };

    render(&DashboardPage {
        chrome: page.chrome(&ctx.org.name, Some(&ctx)),
        org_name: ctx.org.name.clone(),
        kind_label: ctx.org.kind_label(),
        todos,
        services,
        followed,
        communes,
        stats,
        is_company: kind == OrgKind::Entreprise,
        can_manage: ctx.can(Action::ManageUsers),
        can_journal: ctx.can(Action::ReadJournal),
        can_contact: ctx.can(Action::ContactReferent),
        month_label: month_label(now, &ctx.tz),
        siren: ctx.org.siren.clone(),
    })
}
