//! The registry of communes, for the operator's staff: which official file is in use, the
//! imports and what they changed, and the member communes an import showed merged into a
//! commune nouvelle (`/admin/registre`); one merger, what moving it will do, and the two ways
//! out: moving the membership, people and history to the commune nouvelle (after a
//! confirmation step), or dismissing the alert (`/admin/registre/fusions/{id}`).
//!
//! Every route takes [`PlatformAction::ManageMembers`]: the others get the refusal of the
//! other operator pages (403), before anything is looked up.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::clock::time_zone;
use bouquet_kernel::org::DEFAULT_TIME_ZONE;
use bouquet_kernel::policy::PlatformAction;
use bouquet_kernel::{AppError, Service};
use bouquet_store::Platform;
use bouquet_store::orgs;
use bouquet_webkit::forms::{Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{CurrentUser, PageCtx, WebError, WebResult, flash, render, views};
use jiff::civil::Date;

use super::{date_fr, operator_date};
use crate::current;
use crate::members::Status;
use crate::mergers::{self, Fate, MergerRow, MergerStatus, Preview};
use crate::registry_import::{self, ImportRow, Summary};

/// How many imports and mergers the page lists.
const LISTED: i64 = 50;

/// One import, as the page shows it.
pub struct ImportLine {
    pub at: String,
    pub source: String,
    pub population_year: i64,
    pub communes: String,
    pub epci: String,
    pub actor: String,
    pub sha256: String,
    /// "1 commune nouvelle (2 communes fusionnées)", … (only what changed).
    pub changes: Vec<String>,
    /// Communes named, by kind of change: (heading, names).
    pub lists: Vec<(&'static str, Vec<String>)>,
    /// Members concerned: "Chancé (SIREN …, Membre) : fusionnée dans …".
    pub members: Vec<String>,
}

/// The counts of a summary, in words; empty when nothing changed.
pub fn changes_of(s: &Summary) -> Vec<String> {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    if s.merged > 0 {
        out.push(format!(
            "{} ({})",
            views::count(n(s.merged), "commune nouvelle", "communes nouvelles", ""),
            views::count(
                n(s.merged_communes),
                "commune fusionnée",
                "communes fusionnées",
                "aucune commune fusionnée"
            )
        ));
    }
    for (v, one, many) in [
        (s.added, "commune ajoutée", "communes ajoutées"),
        (s.removed, "commune disparue", "communes disparues"),
        (s.renamed, "commune renommée", "communes renommées"),
        (
            s.moved,
            "commune a changé d'EPCI",
            "communes ont changé d'EPCI",
        ),
        (s.epci_added, "EPCI ajouté", "EPCI ajoutés"),
        (s.epci_removed, "EPCI disparu", "EPCI disparus"),
        (s.epci_renamed, "EPCI renommé", "EPCI renommés"),
        (
            s.population_changed,
            "population modifiée",
            "populations modifiées",
        ),
        (
            s.organisations_updated,
            "organisation de la plateforme mise à jour",
            "organisations de la plateforme mises à jour",
        ),
    ] {
        if v > 0 {
            out.push(views::count(n(v), one, many, ""));
        }
    }
    out
}

fn import_line(r: &ImportRow, tz: &jiff::tz::TimeZone) -> ImportLine {
    let s = r.summary();
    let more = |names: Vec<String>, total: usize| {
        let mut names = names;
        if total > names.len() {
            names.push(format!(
                "… et {} autre(s)",
                views::thousands(i64::try_from(total - names.len()).unwrap_or(i64::MAX))
            ));
        }
        names
    };
    let mut lists = Vec::new();
    if !s.merged_names.is_empty() {
        lists.push((
            "Communes nouvelles",
            more(
                s.merged_names
                    .iter()
                    .map(|m| format!("{} ← {}", m.into, m.from.join(", ")))
                    .collect(),
                s.merged,
            ),
        ));
    }
    if !s.renamed_names.is_empty() {
        lists.push((
            "Communes renommées",
            more(
                s.renamed_names
                    .iter()
                    .map(|(before, after)| format!("{before} → {after}"))
                    .collect(),
                s.renamed,
            ),
        ));
    }
    if !s.added_names.is_empty() {
        lists.push(("Communes ajoutées", more(s.added_names.clone(), s.added)));
    }
    if !s.removed_names.is_empty() {
        lists.push((
            "Communes disparues",
            more(s.removed_names.clone(), s.removed),
        ));
    }
    ImportLine {
        at: views::at(r.imported_at, tz),
        source: r.source_name.clone(),
        population_year: r.population_year,
        communes: views::thousands(r.communes),
        epci: views::thousands(r.epci),
        actor: r.actor_label.clone(),
        sha256: r.sha256.clone(),
        changes: changes_of(&s),
        lists,
        members: s
            .members
            .iter()
            .map(|m| {
                format!(
                    "{} (SIREN {}, {}) : {}",
                    m.name, m.siren, m.status, m.change
                )
            })
            .collect(),
    }
}

/// One merger, as the lists show it.
pub struct MergerLine {
    pub id: String,
    pub org_name: String,
    pub org_siren: String,
    pub into: String,
    pub merged_with: String,
    pub status: &'static str,
    pub badge: &'static str,
    pub detected: String,
    pub handled: String,
}

fn merger_line(r: &MergerRow, tz: &jiff::tz::TimeZone) -> MergerLine {
    let status = r.status().unwrap_or(MergerStatus::ToHandle);
    MergerLine {
        id: r.id.clone(),
        org_name: r.org_name.clone(),
        org_siren: r.org_siren.clone(),
        into: format!("{} (INSEE {})", r.into_name, r.into_insee),
        merged_with: r
            .merged_with()
            .iter()
            .map(|c| format!("{} ({})", c.name, c.insee))
            .collect::<Vec<_>>()
            .join(", "),
        status: status.label(),
        badge: status.badge(),
        detected: views::at(r.created_at, tz),
        handled: match status {
            MergerStatus::ToHandle => String::new(),
            _ => format!(
                "{}{}",
                r.handled_by.clone().unwrap_or_default(),
                r.handled_at
                    .map(|t| format!(", le {}", views::at(t, tz)))
                    .unwrap_or_default()
            ),
        },
    }
}

#[derive(Template)]
#[template(path = "admin_registry.html")]
struct RegistryPage {
    chrome: Chrome,
    source: String,
    imported: Option<String>,
    population_year: i32,
    communes: String,
    epci: String,
    sha256: String,
    to_handle: Vec<MergerLine>,
    handled: Vec<MergerLine>,
    imports: Vec<ImportLine>,
}

fn operator_tz() -> jiff::tz::TimeZone {
    time_zone(DEFAULT_TIME_ZONE)
}

/// `/admin/registre`
pub async fn show(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let registry = current::current(p).await?;
    let mut conn = p.db.read().await?;
    let imports = registry_import::imports(&mut conn, LISTED).await?;
    let mergers = mergers::list(&mut conn, LISTED).await?;
    drop(conn);
    let tz = operator_tz();
    let in_use = (!registry.is_embedded())
        .then(|| imports.iter().find(|i| i.sha256 == registry.sha256))
        .flatten();
    let (to_handle, handled): (Vec<&MergerRow>, Vec<&MergerRow>) = mergers
        .iter()
        .partition(|m| m.status() == Some(MergerStatus::ToHandle));
    render(&RegistryPage {
        chrome: page.admin_chrome("Référentiel des communes"),
        source: match (registry.is_embedded(), in_use) {
            (true, _) => "Fichier officiel BANATIC fourni avec Bouquet".into(),
            (false, Some(i)) => format!("Fichier importé « {} »", i.source_name),
            (false, None) => "Fichier importé".into(),
        },
        imported: in_use.map(|i| format!("{} ({})", views::at(i.imported_at, &tz), i.actor_label)),
        population_year: registry.population_year,
        communes: views::thousands(registry.communes().len() as i64),
        epci: views::thousands(registry.epcis().len() as i64),
        sha256: registry.sha256.clone(),
        to_handle: to_handle.iter().map(|m| merger_line(m, &tz)).collect(),
        handled: handled.iter().map(|m| merger_line(m, &tz)).collect(),
        imports: imports.iter().map(|i| import_line(i, &tz)).collect(),
    })
}

/// The merger of a URL; an unknown id is 404.
async fn merger_of(p: &Platform, id: &str) -> WebResult<MergerRow> {
    let mut conn = p.db.read().await?;
    mergers::get(&mut conn, id)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

pub struct PersonLine {
    pub name: String,
    pub email: String,
    pub roles: String,
    pub after: String,
    pub already: bool,
    pub active: bool,
}

pub struct SubscriptionFate {
    pub service: &'static str,
    pub period: String,
    pub fate: String,
}

/// What moving will do, in words.
pub struct PreviewView {
    pub status: String,
    pub new_org: Option<(String, String)>,
    pub new_status: Option<String>,
    pub history: String,
    pub people: Vec<PersonLine>,
    pub subscriptions: Vec<SubscriptionFate>,
    pub referents: Vec<String>,
    pub engagements: String,
}

fn preview_view(pv: &Preview) -> PreviewView {
    PreviewView {
        status: pv
            .state
            .as_ref()
            .map(|s| {
                format!(
                    "{} depuis le {}",
                    s.status().map_or("?", Status::label),
                    date_fr(&s.status_since)
                )
            })
            .unwrap_or_else(|| "pas membre".into()),
        new_org: pv.new_org.as_ref().map(|o| (o.siren.clone(), o.name.clone())),
        new_status: pv.new_state.as_ref().map(|s| {
            format!(
                "{} depuis le {}",
                s.status().map_or("?", Status::label),
                date_fr(&s.status_since)
            )
        }),
        history: views::count(
            pv.history,
            "statut de l'historique",
            "statuts de l'historique",
            "aucun statut dans l'historique",
        ),
        people: pv
            .people
            .iter()
            .map(|u| PersonLine {
                name: u.name.clone(),
                email: u.email.clone(),
                roles: views::roles(u.roles()),
                after: views::roles(u.after()),
                already: u.already.is_some(),
                active: u.active,
            })
            .collect(),
        subscriptions: pv
            .subscriptions
            .iter()
            .map(|(s, fate)| SubscriptionFate {
                service: s.service().map_or("?", Service::label),
                period: match &s.end_date {
                    Some(end) => format!("du {} au {}", date_fr(&s.start_date), date_fr(end)),
                    None => format!("depuis le {}", date_fr(&s.start_date)),
                },
                fate: match fate {
                    Fate::Move => "Déplacé vers la commune nouvelle".into(),
                    Fate::End { last_day } => format!(
                        "La commune nouvelle a déjà ce service : prend fin le {} et reste à l'ancienne commune",
                        date_fr(last_day)
                    ),
                    Fate::Stay => "Terminé avant la fusion : reste à l'ancienne commune".into(),
                },
            })
            .collect(),
        referents: pv
            .referents
            .iter()
            .map(|r| format!("{} ({})", r.name, r.epci_name))
            .collect(),
        engagements: views::count(
            pv.engagements,
            "convention ou charte reste",
            "conventions ou chartes restent",
            "aucune convention ni charte",
        ),
    }
}

#[derive(Template)]
#[template(path = "registry_merger.html")]
struct MergerPage {
    chrome: Chrome,
    merger: MergerLine,
    org_siren: String,
    into_siren: String,
    to_handle: bool,
    handled: bool,
    effective: String,
    new_org_siren: Option<String>,
    reason: String,
    preview: Option<PreviewView>,
    base: String,
    f: Fields,
}

async fn merger_page(page: &PageCtx, row: MergerRow, f: Fields) -> WebResult<MergerPage> {
    let p = &page.state.platform;
    let tz = operator_tz();
    let status = row.status().unwrap_or(MergerStatus::ToHandle);
    let to_handle = status == MergerStatus::ToHandle;
    let preview = if to_handle {
        let mut conn = p.db.read().await?;
        let pv = mergers::preview(&mut conn, row.org()?, &row.into_siren, operator_date(p)).await?;
        Some(preview_view(&pv))
    } else {
        None
    };
    let new_org_siren = match &row.new_org_id {
        Some(id) => {
            let id = id.parse().map_err(|_| WebError(AppError::NotFound))?;
            let mut conn = p.db.read().await?;
            orgs::get(&mut conn, id).await?.map(|o| o.siren)
        }
        None => None,
    };
    let title = format!("Fusion de {} dans {}", row.org_name, row.into_name);
    Ok(MergerPage {
        chrome: page
            .chrome(&title, None)
            .with_errors(f.has_errors())
            .crumb("Administration", Some("/admin".into()))
            .crumb("Référentiel des communes", Some("/admin/registre".into()))
            .crumb(title.clone(), None),
        merger: merger_line(&row, &tz),
        org_siren: row.org_siren.clone(),
        into_siren: row.into_siren.clone(),
        to_handle,
        handled: status == MergerStatus::Handled,
        effective: row
            .effective_date
            .as_deref()
            .map(date_fr)
            .unwrap_or_default(),
        new_org_siren,
        reason: row.reason.clone().unwrap_or_default(),
        preview,
        base: format!("/admin/registre/fusions/{}", row.id),
        f,
    })
}

/// `/admin/registre/fusions/{id}`
pub async fn merger(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let row = merger_of(&page.state.platform, &id).await?;
    render(&merger_page(&page, row, Fields::new()).await?)
}

/// `POST /admin/registre/fusions/{id}/ignorer`: reason.
pub async fn ignore(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let row = merger_of(p, &id).await?;
    let mut f = Fields::new().with("reason", pairs.get("reason"));
    let result =
        p.db.atomically(async |tx| {
            mergers::ignore(
                tx,
                p.clock.now(),
                &id,
                pairs.get("reason"),
                &identity.audit_actor(),
            )
            .await
        })
        .await;
    match result {
        Ok(()) => {
            return Ok(flash::set(
                see_other("/admin/registre"),
                "fusion-ignoree",
                page.secure(),
            ));
        }
        Err(e) => f
            .absorb_conflict(AppError::from(e), "reason")
            .map_err(WebError)?,
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &merger_page(&page, row, f).await?,
    )
}

#[derive(Template)]
#[template(path = "registry_transfer.html")]
struct TransferPage {
    chrome: Chrome,
    merger: MergerLine,
    preview: PreviewView,
    action: String,
    back: String,
    f: Fields,
}

async fn transfer_page(
    page: &PageCtx,
    row: &MergerRow,
    effective: Date,
    f: Fields,
) -> WebResult<TransferPage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let pv = mergers::preview(&mut conn, row.org()?, &row.into_siren, effective).await?;
    drop(conn);
    let base = format!("/admin/registre/fusions/{}", row.id);
    let title = "Transférer vers la commune nouvelle";
    Ok(TransferPage {
        chrome: page
            .chrome(title, None)
            .with_errors(f.has_errors())
            .crumb("Administration", Some("/admin".into()))
            .crumb("Référentiel des communes", Some("/admin/registre".into()))
            .crumb(
                format!("Fusion de {} dans {}", row.org_name, row.into_name),
                Some(base.clone()),
            )
            .crumb(title, None),
        merger: merger_line(row, &operator_tz()),
        preview: preview_view(&pv),
        action: format!("{base}/transfert"),
        back: base,
        f,
    })
}

/// `/admin/registre/fusions/{id}/transfert`: the confirmation step, with the date of the
/// merger. A merger already handled goes back to its page.
pub async fn transfer_form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let row = merger_of(p, &id).await?;
    if row.status() != Some(MergerStatus::ToHandle) {
        return Ok(see_other(&format!("/admin/registre/fusions/{id}")));
    }
    let today = operator_date(p);
    let f = Fields::new().with("effective_date", &today.to_string());
    render(&transfer_page(&page, &row, today, f).await?)
}

/// `POST /admin/registre/fusions/{id}/transfert`: effective_date. Moves everything in one
/// transaction, then shows the commune nouvelle's member page.
pub async fn transfer(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let row = merger_of(p, &id).await?;
    let today = operator_date(p);
    let mut f = Fields::new().with("effective_date", pairs.get("effective_date"));
    let effective = match pairs.get("effective_date").trim().parse::<Date>() {
        Ok(d) => Some(d),
        Err(_) => {
            f.error(
                "effective_date",
                "Saisissez la date à laquelle la fusion a pris effet.",
            );
            None
        }
    };
    if let Some(effective) = effective {
        let registry = current::current(p).await?;
        let result =
            p.db.atomically(async |tx| {
                mergers::confirm(
                    tx,
                    p.clock.now(),
                    today,
                    &registry,
                    &id,
                    effective,
                    &identity.audit_actor(),
                )
                .await
            })
            .await;
        match result {
            Ok(done) => {
                return Ok(flash::set(
                    see_other(&format!("/admin/membres/{}", done.new_siren)),
                    "fusion-enregistree",
                    page.secure(),
                ));
            }
            Err(e) => f
                .absorb_conflict(AppError::from(e), "effective_date")
                .map_err(WebError)?,
        }
    }
    let shown = effective.unwrap_or(today);
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &transfer_page(&page, &row, shown, f).await?,
    )
}
