//! The operator's member list: search, filters, cursor pagination, CSV and ODS exports.

use std::collections::HashMap;

use askama::Template;
use axum::response::Response;
use bouquet_kernel::policy::PlatformAction;
use bouquet_kernel::{OrgKind, Service, Siren};
use bouquet_store::page::Cursor;
use bouquet_store::{Handle, orgs};
use bouquet_webkit::export::{Cell, Table};
use bouquet_webkit::forms::{Fields, Params};
use bouquet_webkit::layout::{Chrome, render_status};
use bouquet_webkit::{CurrentUser, PageCtx, WebResult, render, views};
use serde::Deserialize;

use super::{date_fr, operator_today, service_choices, service_labels, status_choices};
use crate::members::{self, KindFilter, MemberFilter, MemberRow, Status};

/// The list's query string; every filter optional, kept in pagination and export links.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    /// SIREN of an EPCI.
    #[serde(default)]
    pub epci: String,
    #[serde(default)]
    pub departement: String,
    #[serde(default)]
    pub statut: String,
    #[serde(default)]
    pub service: String,
    /// `oui` or `non`.
    #[serde(default)]
    pub engagement: String,
    #[serde(default)]
    pub population_min: String,
    #[serde(default)]
    pub population_max: String,
    pub curseur: Option<String>,
}

/// Turns the query into a filter; what cannot be understood becomes a field error.
pub async fn filter_of(
    h: &mut impl Handle,
    q: &ListQuery,
    f: &mut Fields,
) -> WebResult<MemberFilter> {
    let mut filter = MemberFilter {
        query: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
        ..MemberFilter::default()
    };
    for (name, value) in [
        ("q", &q.q),
        ("type", &q.kind),
        ("epci", &q.epci),
        ("departement", &q.departement),
        ("statut", &q.statut),
        ("service", &q.service),
        ("engagement", &q.engagement),
        ("population_min", &q.population_min),
        ("population_max", &q.population_max),
    ] {
        f.set(name, value);
    }
    if !q.kind.is_empty() {
        match KindFilter::parse(&q.kind) {
            Some(k) => filter.kind = Some(k),
            None => f.error("type", "Ce type d'organisation n'existe pas."),
        }
    }
    if !q.epci.trim().is_empty() {
        match Siren::parse(&q.epci) {
            Ok(siren) => match orgs::get_by_siren(h, &siren).await? {
                Some(o) if o.kind().is_ok_and(OrgKind::is_epci) => filter.epci = Some(o.id()?),
                _ => f.error("epci", "Aucun EPCI de la plateforme n'a ce SIREN."),
            },
            Err(e) => f.error("epci", e.0),
        }
    }
    let dep = q.departement.trim();
    if !dep.is_empty() {
        if dep.len() <= 3 && dep.chars().all(|c| c.is_ascii_alphanumeric()) {
            filter.departement = Some(dep.to_uppercase());
        } else {
            f.error(
                "departement",
                "Saisissez un numéro de département (35, 2A, 974…).",
            );
        }
    }
    if !q.statut.is_empty() {
        match Status::from_code(&q.statut) {
            Some(s) => filter.status = Some(s),
            None => f.error("statut", "Ce statut n'existe pas."),
        }
    }
    if !q.service.is_empty() {
        match q.service.parse::<Service>() {
            Ok(s) => filter.service = Some(s),
            Err(e) => f.error("service", e.to_string()),
        }
    }
    match q.engagement.as_str() {
        "" => {}
        "oui" => filter.engaged = Some(true),
        "non" => filter.engaged = Some(false),
        _ => f.error("engagement", "Choisissez « signée » ou « non signée »."),
    }
    for (name, value, slot) in [
        (
            "population_min",
            &q.population_min,
            &mut filter.population_min,
        ),
        (
            "population_max",
            &q.population_max,
            &mut filter.population_max,
        ),
    ] {
        let v = value.trim().replace([' ', '\u{a0}', '\u{202f}'], "");
        if !v.is_empty() {
            match v.parse::<i64>() {
                Ok(n) if n >= 0 => *slot = Some(n),
                _ => f.error(
                    name,
                    "Saisissez un nombre d'habitants (chiffres seulement).",
                ),
            }
        }
    }
    if let (Some(min), Some(max)) = (filter.population_min, filter.population_max)
        && min > max
    {
        f.error(
            "population_max",
            "La population maximale doit être supérieure à la minimale.",
        );
    }
    Ok(filter)
}

pub struct MemberLine {
    pub name: String,
    pub siren: String,
    pub kind: &'static str,
    pub epci: String,
    pub departement: String,
    pub population: String,
    pub status: &'static str,
    pub since: String,
    pub engaged: bool,
    pub services: String,
}

fn line(r: &MemberRow, services: &HashMap<String, Vec<String>>) -> MemberLine {
    MemberLine {
        name: r.name.clone(),
        siren: r.siren.clone(),
        kind: r.kind().map_or("", OrgKind::label),
        epci: r.parent_name.clone().unwrap_or_default(),
        departement: r.departement.clone().unwrap_or_default(),
        population: r.population.map_or_else(|| "—".into(), views::thousands),
        status: r.status().map_or("", Status::label),
        since: date_fr(&r.status_since),
        engaged: r.engaged,
        services: service_labels(
            services
                .get(&r.id)
                .map(|v| v.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    }
}

/// The services of each listed member today, by organisation id.
async fn services_by_org(
    h: &mut impl Handle,
    rows: &[MemberRow],
    today: &str,
) -> WebResult<HashMap<String, Vec<String>>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (org, service) in members::services_today(h, &ids, today).await? {
        map.entry(org).or_default().push(service);
    }
    Ok(map)
}

#[derive(Template)]
#[template(path = "admin_members.html")]
struct ListPage {
    chrome: Chrome,
    f: Fields,
    kinds: Vec<(&'static str, &'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    services: Vec<(&'static str, &'static str, bool)>,
    epcis: Vec<(String, String, bool)>,
    members: Vec<MemberLine>,
    total: String,
    filtered: bool,
    next: Option<String>,
    export_query: String,
    can_manage: bool,
}

/// Kinds of members, EPCI grouped first.
fn kind_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    std::iter::once(("epci", "Tous les EPCI", selected == "epci"))
        .chain(
            OrgKind::ALL
                .into_iter()
                .filter(|k| !matches!(k, OrgKind::Operateur | OrgKind::Entreprise))
                .map(|k| (k.code(), k.label(), k.code() == selected)),
        )
        .collect()
}

/// The query string without the cursor, for the export links.
fn without_cursor(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "curseur")
        .fold(
            url::form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish()
}

/// `/admin/membres`
pub async fn list(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<ListQuery>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let today = operator_today(p);
    let mut conn = p.db.read().await?;
    let mut f = Fields::new();
    let filter = filter_of(&mut conn, &q, &mut f).await?;
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let (rows, next, total) = if f.has_errors() {
        (Vec::new(), None, 0)
    } else {
        let result = members::list(&mut conn, &filter, &today, cursor.as_ref(), 50).await?;
        let total = members::count(&mut conn, &filter, &today).await?;
        (result.items, result.next, total)
    };
    let services = services_by_org(&mut conn, &rows, &today).await?;
    let epcis = members::epci_choices(&mut conn)
        .await?
        .into_iter()
        .map(|(siren, name)| {
            let selected = siren == q.epci.trim();
            (siren, name, selected)
        })
        .collect();
    let filtered = filter.query.is_some()
        || filter.kind.is_some()
        || filter.epci.is_some()
        || filter.departement.is_some()
        || filter.status.is_some()
        || filter.service.is_some()
        || filter.engaged.is_some()
        || filter.population_min.is_some()
        || filter.population_max.is_some();
    let view = ListPage {
        chrome: page.admin_chrome("Membres").with_errors(f.has_errors()),
        kinds: kind_choices(&q.kind),
        statuses: status_choices(&q.statut, true),
        services: service_choices(&q.service),
        epcis,
        members: rows.iter().map(|r| line(r, &services)).collect(),
        total: views::count(total, "membre", "membres", "aucun membre"),
        filtered,
        next: views::next_page(&page.path, &page.query, next.as_deref()),
        export_query: without_cursor(&page.query),
        can_manage: identity.can(PlatformAction::ManageMembers),
        f,
    };
    if view.f.has_errors() {
        render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &view)
    } else {
        render(&view)
    }
}

/// The export of the list as filtered.
async fn export_table(page: &PageCtx, q: &ListQuery) -> WebResult<Table> {
    let p = &page.state.platform;
    let today = operator_today(p);
    let mut conn = p.db.read().await?;
    let mut f = Fields::new();
    let filter = filter_of(&mut conn, q, &mut f).await?;
    if let Some(e) = f.errors.first() {
        return Err(bouquet_kernel::AppError::invalid(&e.field, e.message.clone()).into());
    }
    let rows = members::all(&mut conn, &filter, &today).await?;
    let services = services_by_org(&mut conn, &rows, &today).await?;
    let mut table = Table::new(
        &format!("membres-{today}"),
        &[
            "SIREN",
            "Nom",
            "Type",
            "Code INSEE",
            "Département",
            "SIREN de l'EPCI",
            "EPCI",
            "Population",
            "Année de la population",
            "Statut",
            "Depuis le",
            "Collège",
            "Convention ou charte signée",
            "Services",
            "Courriel de contact",
        ],
    );
    for r in &rows {
        let services = services.get(&r.id).cloned().unwrap_or_default();
        table.push(vec![
            Cell::from(r.siren.as_str()),
            Cell::from(r.name.as_str()),
            Cell::from(r.kind().map_or("", OrgKind::label)),
            Cell::from(r.insee.clone()),
            Cell::from(r.departement.clone()),
            Cell::from(r.parent_siren.clone()),
            Cell::from(r.parent_name.clone()),
            Cell::from(r.population),
            Cell::from(r.population_year.map(i64::from)),
            Cell::from(r.status().map_or("", Status::label)),
            Cell::from(date_fr(&r.status_since)),
            Cell::from(r.college.clone()),
            Cell::from(if r.engaged { "oui" } else { "non" }),
            Cell::from(if services.is_empty() {
                String::new()
            } else {
                service_labels(services.iter().map(String::as_str))
            }),
            Cell::from(r.contact_email.clone()),
        ]);
    }
    Ok(table)
}

/// `/admin/membres/export.csv`
pub async fn export_csv(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<ListQuery>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    export_table(&page, &q).await?.csv_response()
}

/// `/admin/membres/export.ods`
pub async fn export_ods(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<ListQuery>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    export_table(&page, &q).await?.ods_response()
}
