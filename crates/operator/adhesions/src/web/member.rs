//! One member, for the operator: identity, status and its history, college, conventions and
//! charters, subscriptions, users, the EPCI's communes, and the timeline; and the forms that
//! change them (operator staff).

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::policy::PlatformAction;
use bouquet_kernel::{AppError, OrgId, OrgKind, Service};
use bouquet_store::audit::{self, JournalFilter};
use bouquet_store::blobs::{human_size, owner_key};
use bouquet_store::orgs::{self, NewSubscription, OrgRow, SubscriptionRow};
use bouquet_store::{Platform, accounts};
use bouquet_webkit::download::{self, Disposition};
use bouquet_webkit::forms::{CsrfMultipart, Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::views::{self, EventView, event_view};
use bouquet_webkit::{CurrentUser, Identity, PageCtx, WebError, WebResult, flash, render};
use jiff::civil::Date;

use super::enroll::{mairie_connectee_text, read_change};
use super::territory::{CommuneLine, TerritorySummary, communes_table, service_headers, summary};
use super::{
    date_fr, members_chrome, operator_date, operator_today, org_by_siren, service_choices,
    status_choices,
};
use crate::documents::Template as DocTemplate;
use crate::engagements::{self, EngagementRow, NewEngagement, Signature, Standing};
use crate::members::{self, Status};

/// The largest signed document accepted.
pub const MAX_SIGNED_PDF: usize = 20 * 1024 * 1024;

pub struct SubscriptionLine {
    pub id: String,
    pub service: &'static str,
    pub start: String,
    pub end: String,
    pub max_users: String,
    pub active: bool,
    pub can_end: bool,
}

pub fn subscription_lines(
    subs: &[SubscriptionRow],
    today: &str,
    manage: bool,
) -> Vec<SubscriptionLine> {
    subs.iter()
        .map(|s| SubscriptionLine {
            id: s.id.clone(),
            service: s.service().map_or("?", Service::label),
            start: date_fr(&s.start_date),
            end: s.end_date.as_deref().map_or_else(|| "—".into(), date_fr),
            max_users: s
                .max_users
                .map_or_else(|| "sans limite".into(), |n| n.to_string()),
            active: s.active_on(today),
            can_end: manage && s.end_date.as_deref().is_none_or(|end| end >= today),
        })
        .collect()
}

pub struct EngagementLine {
    pub id: String,
    pub title: &'static str,
    pub reference: String,
    pub standing: &'static str,
    pub badge: &'static str,
    pub period: String,
    pub eu: Option<String>,
    pub signed: Option<String>,
    pub has_signed_pdf: bool,
    pub can_sign: bool,
    /// Can be sent into a circuit of the parapheur (not yet there).
    pub can_send: bool,
    /// In a circuit of the parapheur now.
    pub in_circuit: bool,
    pub can_terminate: bool,
}

pub fn engagement_lines(rows: &[EngagementRow], today: &str, manage: bool) -> Vec<EngagementLine> {
    rows.iter()
        .map(|e| {
            let standing = e.standing(today);
            EngagementLine {
                id: e.id.clone(),
                title: e.template().map_or("?", DocTemplate::title),
                reference: e.reference.clone(),
                standing: standing.label(),
                badge: standing.badge(),
                period: match &e.ends_on {
                    Some(end) => format!("du {} au {}", date_fr(&e.starts_on), date_fr(end)),
                    None => format!("à partir du {}", date_fr(&e.starts_on)),
                },
                eu: e.eu_start.as_ref().zip(e.eu_end.as_ref()).map(|(s, end)| {
                    format!(
                        "Financement européen (80 %) du {} au {}",
                        date_fr(s),
                        date_fr(end)
                    )
                }),
                signed: e.signed_on.as_ref().map(|d| {
                    format!(
                        "Signée le {} par {}",
                        date_fr(d),
                        e.signatory.clone().unwrap_or_default()
                    )
                }),
                has_signed_pdf: e.signed_sha256.is_some(),
                can_sign: manage && standing == Standing::ToSign && e.parapheur_dossier.is_none(),
                can_send: manage && standing == Standing::ToSign && e.parapheur_dossier.is_none(),
                in_circuit: standing == Standing::ToSign && e.parapheur_dossier.is_some(),
                can_terminate: manage
                    && !matches!(standing, Standing::Terminated | Standing::Expired),
            }
        })
        .collect()
}

pub struct HistoryLine {
    pub status: &'static str,
    pub date: String,
    pub reason: String,
    pub deliberation: String,
    pub who: String,
}

pub struct UserLine {
    pub name: String,
    pub email: String,
    pub roles: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "member.html")]
pub struct MemberPage {
    chrome: Chrome,
    org: OrgRow,
    kind_label: &'static str,
    population: String,
    parent: Option<(String, String)>,
    registry_siren: bool,
    status: Option<(&'static str, String)>,
    college: String,
    merged: bool,
    history: Vec<HistoryLine>,
    engagements: Vec<EngagementLine>,
    templates: Vec<(&'static str, &'static str, bool)>,
    mairie_connectee: Option<(bool, String)>,
    subscriptions: Vec<SubscriptionLine>,
    services: Vec<(&'static str, &'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    colleges: Vec<String>,
    users: Vec<UserLine>,
    users_total: String,
    communes: Vec<CommuneLine>,
    headers: Vec<&'static str>,
    territory: Option<TerritorySummary>,
    timeline: Vec<EventView>,
    can_manage: bool,
    base: String,
    f: Fields,
}

/// The default end of an engagement: 31 December of the fourth year after it starts (a
/// charter signed in 2025 runs to the end of 2029, like the operator's 2025-2029 texts).
pub fn default_end(start: Date) -> Date {
    Date::new(start.year() + 4, 12, 31).unwrap_or(start)
}

/// The two years of EU funding of « Mairie connectée » from `start`.
pub fn default_eu_end(start: Date) -> Date {
    start
        .checked_add(jiff::Span::new().years(2))
        .and_then(|d| d.yesterday())
        .unwrap_or(start)
}

fn default_fields(p: &Platform) -> Fields {
    let today = operator_date(p);
    Fields::new()
        .with("effective_date", &today.to_string())
        .with("start_date", &today.to_string())
        .with("starts_on", &today.to_string())
        .with("ends_on", &default_end(today).to_string())
        .with("eu_start", &today.to_string())
        .with("eu_end", &default_eu_end(today).to_string())
}

/// The member page for `org`, with the forms' values and errors in `f`.
pub async fn member_page(
    page: &PageCtx,
    identity: &Identity,
    org: OrgRow,
    f: Fields,
) -> WebResult<MemberPage> {
    let p = &page.state.platform;
    let today = operator_today(p);
    let org_id = org.id()?;
    let kind = org.kind()?;
    let can_manage = identity.can(PlatformAction::ManageMembers);
    let registry = crate::current::current(p).await?;
    let mut conn = p.db.read().await?;
    let state = members::get(&mut conn, org_id).await?;
    let history = members::history(&mut conn, org_id).await?;
    let engagements = engagements::list(&mut conn, org_id).await?;
    let subs = orgs::subscriptions(&mut conn, org_id).await?;
    let parent = match org.parent() {
        Some(pid) => orgs::get(&mut conn, pid).await?.map(|o| (o.siren, o.name)),
        None => None,
    };
    let users = accounts::org_users(&mut conn, org_id, None, None, 20).await?;
    let users_count = users.items.len() as i64 + i64::from(users.next.is_some());
    let events = audit::list(
        &mut conn,
        &JournalFilter {
            org: Some(org_id),
            ..JournalFilter::default()
        },
        None,
        30,
    )
    .await?;
    let colleges = members::colleges(&mut conn).await?;
    drop(conn);
    let tz = org.tz();
    let (communes, territory) = if kind.is_epci() {
        let lines = communes_table(p, &org, &today, |siren| {
            Some(format!("/admin/membres/{siren}"))
        })
        .await?;
        let s = summary(&lines);
        (lines, Some(s))
    } else {
        (Vec::new(), None)
    };
    let mairie_connectee = (kind == OrgKind::Commune).then(|| {
        let pop = org.population.unwrap_or(0);
        let eligible = DocTemplate::CharteMairieConnectee
            .eligible(kind, org.population)
            .is_ok();
        (eligible, mairie_connectee_text(eligible, pop))
    });
    let templates = DocTemplate::ALL
        .into_iter()
        .filter(|t| t.eligible(kind, org.population).is_ok())
        .map(|t| (t.code(), t.title(), t.code() == f.value("template")))
        .collect();
    Ok(MemberPage {
        chrome: members_chrome(page, &org.name, f.has_errors(), &[], &org.name),
        kind_label: kind.label(),
        population: org.population.map_or_else(
            || "non renseignée".into(),
            |n| {
                format!(
                    "{} habitants{}",
                    views::thousands(n),
                    org.population_year
                        .map(|y| format!(" (population totale en vigueur {y})"))
                        .unwrap_or_default()
                )
            },
        ),
        parent,
        registry_siren: registry.commune_by_siren(&org.siren).is_some()
            || registry.epci_by_siren(&org.siren).is_some(),
        status: state.as_ref().map(|s| {
            (
                s.status().map_or("", Status::label),
                date_fr(&s.status_since),
            )
        }),
        college: state
            .as_ref()
            .and_then(|s| s.college.clone())
            .unwrap_or_default(),
        merged: state
            .as_ref()
            .is_some_and(|s| s.status() == Some(Status::Fusionne)),
        history: history
            .iter()
            .map(|h| HistoryLine {
                status: h.status().map_or("", Status::label),
                date: date_fr(&h.effective_date),
                reason: h.reason.clone().unwrap_or_default(),
                deliberation: h.deliberation_ref.clone().unwrap_or_default(),
                who: h.actor_label.clone(),
            })
            .collect(),
        engagements: engagement_lines(&engagements, &today, can_manage),
        templates,
        mairie_connectee,
        subscriptions: subscription_lines(&subs, &today, can_manage),
        services: service_choices(f.value("service")),
        statuses: status_choices(f.value("status"), false),
        colleges,
        users: users
            .items
            .iter()
            .map(|u| UserLine {
                name: u.display_name.clone(),
                email: u.email.clone(),
                roles: views::roles(u.roles()),
                active: u.active,
            })
            .collect(),
        users_total: if users.next.is_some() {
            format!("Les {} premiers, par nom", users.items.len())
        } else {
            views::count(users_count, "personne", "personnes", "personne")
        },
        communes,
        headers: service_headers(),
        territory,
        timeline: events
            .items
            .iter()
            .map(|e| event_view(e, &tz, None))
            .collect(),
        can_manage,
        base: format!("/admin/membres/{}", org.siren),
        org,
        f,
    })
}

/// `/admin/membres/{siren}`
pub async fn show(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let org = org_by_siren(p, &siren).await?;
    if matches!(org.kind()?, OrgKind::Operateur | OrgKind::Entreprise) {
        return Err(WebError(AppError::NotFound));
    }
    let f = default_fields(p);
    render(&member_page(&page, &identity, org, f).await?)
}

/// Shows the member page again with the errors of a form (422).
async fn with_errors(
    page: &PageCtx,
    identity: &Identity,
    org: OrgRow,
    f: Fields,
) -> WebResult<Response> {
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &member_page(page, identity, org, f).await?,
    )
}

/// The member of a form's URL, for someone who may change members.
/// Sends a prepared convention or charter into the parapheur: the member's élu signs, then
/// the operator's président.
pub async fn send_to_circuit(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (org, _) = target(&page, &identity, &siren).await?;
    let sender = bouquet_parapheur::flow::Person {
        id: identity.user_id,
        name: &identity.user.display_name,
    };
    crate::circuit::send(&page.state.platform, &org, &id, sender).await?;
    Ok(done(&page, &siren, "engagements", "engagement-circuit"))
}

async fn target(page: &PageCtx, identity: &Identity, siren: &str) -> WebResult<(OrgRow, OrgId)> {
    identity.require(PlatformAction::ManageMembers)?;
    let org = org_by_siren(&page.state.platform, siren).await?;
    if matches!(org.kind()?, OrgKind::Operateur | OrgKind::Entreprise) {
        return Err(WebError(AppError::NotFound));
    }
    let id = org.id()?;
    Ok((org, id))
}

fn done(page: &PageCtx, siren: &str, anchor: &str, code: &str) -> Response {
    flash::set(
        see_other(&format!("/admin/membres/{siren}#{anchor}")),
        code,
        page.secure(),
    )
}

/// `POST /admin/membres/{siren}/statut`
pub async fn change_status(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let mut f = default_fields(p);
    if let (Some(change), false) = (read_change(&pairs, &mut f), f.has_errors()) {
        let result =
            p.db.atomically(async |tx| {
                members::change_status(
                    tx,
                    p.clock.now(),
                    operator_date(p),
                    org_id,
                    &change,
                    &identity.audit_actor(),
                )
                .await
            })
            .await;
        match result {
            Ok(true) => return Ok(done(&page, &siren, "adhesion", "statut-modifie")),
            Ok(false) => f.error(
                "status",
                "Cette organisation n'est pas membre : enregistrez d'abord son adhésion.",
            ),
            Err(e) => f
                .absorb_conflict(AppError::from(e), "status")
                .map_err(WebError)?,
        }
    }
    with_errors(&page, &identity, org, f).await
}

/// `POST /admin/membres/{siren}/college`
pub async fn set_college(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let mut f = default_fields(p).with("college", pairs.get("college"));
    let result =
        p.db.atomically(async |tx| {
            members::set_college(
                tx,
                p.clock.now(),
                org_id,
                pairs.get("college"),
                &identity.audit_actor(),
            )
            .await
        })
        .await;
    match result {
        Ok(true) => return Ok(done(&page, &siren, "adhesion", "college-modifie")),
        Ok(false) => f.error("college", "Cette organisation n'est pas membre."),
        Err(e) => f.absorb(AppError::from(e)).map_err(WebError)?,
    }
    with_errors(&page, &identity, org, f).await
}

/// `POST /admin/membres/{siren}/abonnements`: service, start_date, end_date, max_users.
pub async fn subscribe(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let mut f = default_fields(p);
    for name in ["service", "start_date", "end_date", "max_users"] {
        f.set(name, pairs.get(name));
    }
    let service = pairs.get("service").parse::<Service>().ok();
    if service.is_none() {
        f.error("service", "Choisissez un service.");
    }
    let max_users = match pairs.get("max_users").trim() {
        "" => None,
        text => match text.parse::<i32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                f.error(
                    "max_users",
                    "Saisissez un nombre entier d'au moins 1, ou laissez vide pour ne pas limiter.",
                );
                None
            }
        },
    };
    if let (Some(service), false) = (service, f.has_errors()) {
        let end = Some(pairs.get("end_date").trim()).filter(|s| !s.is_empty());
        let result =
            p.db.atomically(async |tx| {
                orgs::subscribe(
                    tx,
                    p.clock.now(),
                    org_id,
                    NewSubscription {
                        service,
                        start_date: pairs.get("start_date").trim(),
                        end_date: end,
                        max_users,
                    },
                    &identity.audit_actor(),
                )
                .await
            })
            .await;
        match result {
            Ok(_) => return Ok(done(&page, &siren, "abonnements", "abonnement-ajoute")),
            Err(e) => f
                .absorb_conflict(AppError::from(e), "service")
                .map_err(WebError)?,
        }
    }
    with_errors(&page, &identity, org, f).await
}

#[derive(Template)]
#[template(path = "subscription_end.html")]
struct EndPage {
    chrome: Chrome,
    org_name: String,
    service: &'static str,
    action: String,
    back: String,
    f: Fields,
}

async fn subscription_of(p: &Platform, org: OrgId, id: &str) -> WebResult<SubscriptionRow> {
    let mut conn = p.db.read().await?;
    orgs::subscriptions(&mut conn, org)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(WebError(AppError::NotFound))
}

fn end_page(page: &PageCtx, org: &OrgRow, sub: &SubscriptionRow, f: Fields) -> EndPage {
    let base = format!("/admin/membres/{}", org.siren);
    EndPage {
        chrome: members_chrome(
            page,
            "Mettre fin à un abonnement",
            f.has_errors(),
            &[(&org.name, base.clone())],
            "Mettre fin à un abonnement",
        ),
        org_name: org.name.clone(),
        service: sub.service().map_or("?", Service::label),
        action: format!("{base}/abonnements/{}/fin", sub.id),
        back: format!("{base}#abonnements"),
        f,
    }
}

/// `/admin/membres/{siren}/abonnements/{id}/fin`: confirmation, with the last day.
pub async fn end_form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let sub = subscription_of(p, org_id, &id).await?;
    let f = Fields::new().with("end_date", &operator_today(p));
    render(&end_page(&page, &org, &sub, f))
}

pub async fn end(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let sub = subscription_of(p, org_id, &id).await?;
    let mut f = Fields::new().with("end_date", pairs.get("end_date"));
    let result =
        p.db.atomically(async |tx| {
            orgs::end_subscription(
                tx,
                p.clock.now(),
                org_id,
                &id,
                pairs.get("end_date").trim(),
                &identity.audit_actor(),
            )
            .await
        })
        .await;
    match result {
        Ok(_) => return Ok(done(&page, &siren, "abonnements", "abonnement-termine")),
        Err(e) => f.absorb(AppError::from(e)).map_err(WebError)?,
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &end_page(&page, &org, &sub, f),
    )
}

// ---------------------------------------------------------------------------------------
// Engagements

/// `POST /admin/membres/{siren}/engagements`: template, starts_on, ends_on, eu_start, eu_end.
pub async fn prepare(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, _) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let kind = org.kind()?;
    let mut f = default_fields(p);
    for name in ["template", "starts_on", "ends_on", "eu_start", "eu_end"] {
        f.set(name, pairs.get(name));
    }
    let template = DocTemplate::parse(pairs.get("template"));
    match template {
        None => f.error("template", "Choisissez le document à préparer."),
        Some(t) => {
            if let Err(reason) = t.eligible(kind, org.population) {
                f.error("template", reason);
            }
        }
    }
    let date = |name: &str, f: &mut Fields, required: bool| -> Option<Date> {
        let text = pairs.get(name).trim();
        if text.is_empty() && !required {
            return None;
        }
        let parsed = text.parse::<Date>().ok();
        if parsed.is_none() {
            f.error(name, "Saisissez une date valide.");
        }
        parsed
    };
    let starts_on = date("starts_on", &mut f, true);
    let ends_on = date("ends_on", &mut f, false);
    let mairie = template == Some(DocTemplate::CharteMairieConnectee);
    let eu = if mairie {
        date("eu_start", &mut f, true).zip(date("eu_end", &mut f, true))
    } else {
        None
    };
    let (Some(template), Some(starts_on), false) = (template, starts_on, f.has_errors()) else {
        return with_errors(&page, &identity, org, f).await;
    };
    let new = NewEngagement {
        template,
        starts_on,
        ends_on,
        eu_funding: eu,
    };
    if let Err(e) = engagements::check_dates(&new) {
        f.absorb(e).map_err(WebError)?;
        return with_errors(&page, &identity, org, f).await;
    }
    match engagements::prepare_document(p, &org, &new, operator_date(p), &identity.audit_actor())
        .await
    {
        Ok(_) => Ok(done(&page, &siren, "engagements", "engagement-prepare")),
        Err(e) => {
            f.absorb(AppError::from(e)).map_err(WebError)?;
            with_errors(&page, &identity, org, f).await
        }
    }
}

/// Sends the prepared (`modele`) or signed (`signe`) PDF of an engagement of `org`.
pub async fn send_engagement_pdf(
    p: &Platform,
    org: OrgId,
    org_name: &str,
    id: &str,
    document: &str,
) -> WebResult<Response> {
    let mut conn = p.db.read().await?;
    let e = engagements::get(&mut conn, org, id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    drop(conn);
    let (sha, suffix) = match document {
        "modele.pdf" => (e.generated_sha256.as_deref(), ""),
        "signe.pdf" => (e.signed_sha256.as_deref(), " (signé)"),
        _ => (None, ""),
    };
    let sha = sha.ok_or(WebError(AppError::NotFound))?;
    download::blob(
        &p.blobs,
        &owner_key(Some(org)),
        sha,
        "application/pdf",
        &format!("{} {org_name}{suffix}.pdf", e.reference),
        Disposition::Inline,
    )
    .await
}

/// `/admin/membres/{siren}/engagements/{id}/{document}` (`modele.pdf` or `signe.pdf`).
pub async fn engagement_pdf(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id, document)): Path<(String, String, String)>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let org = org_by_siren(p, &siren).await?;
    send_engagement_pdf(p, org.id()?, &org.name, &id, &document).await
}

#[derive(Template)]
#[template(path = "engagement_sign.html")]
struct SignPage {
    chrome: Chrome,
    org_name: String,
    title: &'static str,
    reference: String,
    action: String,
    back: String,
    max_size: String,
    f: Fields,
}

fn sign_page(page: &PageCtx, org: &OrgRow, e: &EngagementRow, f: Fields) -> SignPage {
    let base = format!("/admin/membres/{}", org.siren);
    SignPage {
        chrome: members_chrome(
            page,
            "Enregistrer la signature",
            f.has_errors(),
            &[(&org.name, base.clone())],
            "Enregistrer la signature",
        ),
        org_name: org.name.clone(),
        title: e.template().map_or("?", DocTemplate::title),
        reference: e.reference.clone(),
        action: format!(
            "{base}/engagements/{}/signature?_csrf={}",
            e.id,
            url::form_urlencoded::byte_serialize(page.csrf.as_bytes()).collect::<String>()
        ),
        back: format!("{base}#engagements"),
        max_size: human_size(MAX_SIGNED_PDF as u64),
        f,
    }
}

async fn engagement_of(p: &Platform, org: OrgId, id: &str) -> WebResult<EngagementRow> {
    let mut conn = p.db.read().await?;
    engagements::get(&mut conn, org, id)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

/// `/admin/membres/{siren}/engagements/{id}/signature`: the upload form.
pub async fn sign_form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let e = engagement_of(p, org_id, &id).await?;
    let f = Fields::new().with("signed_on", &operator_today(p));
    render(&sign_page(&page, &org, &e, f))
}

/// Whether `bytes` look like a complete PDF file.
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    bytes.starts_with(b"%PDF-") && tail.windows(5).any(|w| w == b"%%EOF")
}

/// `POST …/signature` (multipart): `document` (the signed PDF), `signatory`, `signed_on`.
pub async fn sign(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
    CsrfMultipart(mut form): CsrfMultipart,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let e = engagement_of(p, org_id, &id).await?;
    let mut f = Fields::new();
    let mut pdf: Option<Vec<u8>> = None;
    let mut too_large = false;
    let bad_form = || {
        WebError(AppError::BadRequest(
            "Le formulaire d'envoi est mal formé.".into(),
        ))
    };
    while let Some(mut field) = form.next_field().await.map_err(|_| bad_form())? {
        match field.name().unwrap_or_default() {
            "document" => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|_| bad_form())? {
                    if buf.len() + chunk.len() > MAX_SIGNED_PDF {
                        too_large = true;
                        break;
                    }
                    buf.extend_from_slice(&chunk);
                }
                if !buf.is_empty() {
                    pdf = Some(buf);
                }
            }
            name @ ("signatory" | "signed_on") => {
                let name = name.to_owned();
                let text = field.text().await.map_err(|_| bad_form())?;
                f.set(&name, &text);
            }
            _ => {}
        }
    }
    if too_large {
        f.error(
            "document",
            format!("Le fichier dépasse {} : envoyez le PDF signé seul, sans annexes numérisées en haute définition.", human_size(MAX_SIGNED_PDF as u64)),
        );
    } else if pdf.is_none() {
        f.error("document", "Choisissez le PDF signé.");
    } else if !pdf.as_deref().is_some_and(looks_like_pdf) {
        f.error("document", "Ce fichier n'est pas un PDF complet : enregistrez le document signé au format PDF et recommencez.");
    }
    let signed_on = f.value("signed_on").trim().parse::<Date>().ok();
    if signed_on.is_none() {
        f.error("signed_on", "Saisissez la date de signature.");
    }
    if f.value("signatory").trim().is_empty() {
        f.error(
            "signatory",
            "Indiquez le nom et la qualité du signataire (par exemple « Marie Martin, maire »).",
        );
    }
    let (Some(pdf), Some(signed_on), false) = (pdf, signed_on, f.has_errors()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &sign_page(&page, &org, &e, f),
        );
    };
    let size = pdf.len() as i64;
    let blob = p
        .blobs
        .put_bytes(&owner_key(Some(org_id)), bytes::Bytes::from(pdf))
        .await?;
    let signature = Signature {
        signatory: f.value("signatory").to_owned(),
        signed_on,
        sha256: blob.sha256,
        size,
    };
    let result =
        p.db.atomically(async |tx| {
            engagements::record_signature(
                tx,
                p.clock.now(),
                operator_date(p),
                org_id,
                &id,
                &signature,
                &identity.audit_actor(),
            )
            .await
        })
        .await;
    match result {
        Ok(true) => Ok(done(&page, &siren, "engagements", "signature-enregistree")),
        Ok(false) => Err(WebError(AppError::NotFound)),
        Err(err) => {
            f.absorb_conflict(AppError::from(err), "document")
                .map_err(WebError)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &sign_page(&page, &org, &e, f),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "engagement_terminate.html")]
struct TerminatePage {
    chrome: Chrome,
    org_name: String,
    title: &'static str,
    reference: String,
    action: String,
    back: String,
    f: Fields,
}

fn terminate_page(page: &PageCtx, org: &OrgRow, e: &EngagementRow, f: Fields) -> TerminatePage {
    let base = format!("/admin/membres/{}", org.siren);
    TerminatePage {
        chrome: members_chrome(
            page,
            "Résilier un engagement",
            f.has_errors(),
            &[(&org.name, base.clone())],
            "Résilier",
        ),
        org_name: org.name.clone(),
        title: e.template().map_or("?", DocTemplate::title),
        reference: e.reference.clone(),
        action: format!("{base}/engagements/{}/resiliation", e.id),
        back: format!("{base}#engagements"),
        f,
    }
}

pub async fn terminate_form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let e = engagement_of(p, org_id, &id).await?;
    let f = Fields::new().with("ends_on", &operator_today(p));
    render(&terminate_page(&page, &org, &e, f))
}

pub async fn terminate(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((siren, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    let (org, org_id) = target(&page, &identity, &siren).await?;
    let p = &page.state.platform;
    let e = engagement_of(p, org_id, &id).await?;
    let mut f = Fields::new()
        .with("ends_on", pairs.get("ends_on"))
        .with("reason", pairs.get("reason"));
    match pairs.get("ends_on").trim().parse::<Date>() {
        Ok(on) => {
            let result =
                p.db.atomically(async |tx| {
                    engagements::terminate(
                        tx,
                        p.clock.now(),
                        org_id,
                        &id,
                        on,
                        pairs.get("reason"),
                        &identity.audit_actor(),
                    )
                    .await
                })
                .await;
            match result {
                Ok(_) => return Ok(done(&page, &siren, "engagements", "engagement-resilie")),
                Err(err) => f
                    .absorb_conflict(AppError::from(err), "reason")
                    .map_err(WebError)?,
            }
        }
        Err(_) => f.error("ends_on", "Saisissez la date de fin."),
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &terminate_page(&page, &org, &e, f),
    )
}
