//! The audit journal: an organisation's own (its administrators), every organisation's
//! (the operator's staff), and the integrity check.

use askama::Template;
use axum::response::Response;
use bouquet_kernel::clock::time_zone;
use bouquet_kernel::policy::{Action, PlatformAction, decide_platform};
use bouquet_kernel::{Email, Siren};
use bouquet_store::audit::{self, JournalFilter};
use bouquet_store::page::Cursor;
use bouquet_store::{accounts, orgs};
use bouquet_webkit::forms::{Fields, Params};
use bouquet_webkit::layout::{Chrome, see_other};
use bouquet_webkit::{CurrentUser, OrgCtx, PageCtx, WebResult, flash, render};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

use bouquet_webkit::views;

pub use bouquet_webkit::views::{EventView, event_view};

/// The families of actions offered in the filter.
pub const ACTION_FILTERS: &[(&str, &str)] = &[
    ("session.", "Connexions et déconnexions"),
    ("user.", "Comptes"),
    ("membership.", "Accès aux organisations"),
    ("organisation.", "Organisations"),
    ("subscription.", "Abonnements"),
    ("referent.", "Référents"),
    ("member.", "Adhésions"),
    ("engagement.", "Conventions et chartes"),
    ("invitation.", "Invitations"),
    ("job.", "Tâches"),
];

#[derive(Deserialize, Default)]
pub struct JournalQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    du: String,
    #[serde(default)]
    au: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    personne: String,
    curseur: Option<String>,
}

#[derive(Template)]
#[template(path = "journal.html")]
struct JournalPage {
    chrome: Chrome,
    heading: String,
    action_path: String,
    f: Fields,
    show_org_filters: bool,
    actions: Vec<(&'static str, &'static str, bool)>,
    events: Vec<EventView>,
    next: Option<String>,
    verify_form: bool,
}

/// Parses the filter form into a store filter, collecting French errors.
fn filter_from(q: &JournalQuery, tz: &TimeZone, f: &mut Fields) -> JournalFilter {
    let mut filter = JournalFilter::default();
    if ACTION_FILTERS.iter().any(|(code, _)| *code == q.action) {
        filter.action_prefix = Some(q.action.clone());
    }
    let date = |s: &str, field: &str, f: &mut Fields| -> Option<Date> {
        if s.trim().is_empty() {
            return None;
        }
        match parse_date(s) {
            Some(d) => Some(d),
            None => {
                f.error(field, "Saisissez une date au format jj/mm/aaaa.");
                None
            }
        }
    };
    if let Some(d) = date(&q.du, "du", f) {
        filter.from = d.to_zoned_datetime(tz.clone()).ok().map(|z| z.timestamp());
    }
    if let Some(d) = date(&q.au, "au", f) {
        filter.to = d
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned_datetime(tz.clone()).ok())
            .map(|z| z.timestamp());
    }
    filter
}

/// `2026-11-23` (date inputs) or `23/11/2026` (typed by hand).
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    s.parse::<Date>()
        .ok()
        .or_else(|| Date::strptime("%d/%m/%Y", s).ok())
}

fn fields_of(q: &JournalQuery) -> Fields {
    Fields::new()
        .with("du", &q.du)
        .with("au", &q.au)
        .with("organisation", &q.organisation)
        .with("personne", &q.personne)
}

fn actions(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    ACTION_FILTERS
        .iter()
        .map(|(code, label)| (*code, *label, *code == selected))
        .collect()
}

pub async fn org_journal(
    page: PageCtx,
    ctx: OrgCtx,
    Params(q): Params<JournalQuery>,
) -> WebResult<Response> {
    ctx.require(Action::ReadJournal)?;
    let mut f = fields_of(&q);
    let mut filter = filter_from(&q, &ctx.tz, &mut f);
    filter.org = Some(ctx.org_id);
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = page.state.platform.db.read().await?;
    let result = audit::list(&mut conn, &filter, cursor.as_ref(), 50).await?;
    let events = result
        .items
        .iter()
        .map(|e| event_view(e, &ctx.tz, None))
        .collect();
    render(&JournalPage {
        chrome: page
            .chrome("Journal", Some(&ctx))
            .with_errors(f.has_errors())
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Journal", None),
        heading: format!("Journal de {}", ctx.org.name),
        action_path: ctx.href("/journal"),
        show_org_filters: false,
        actions: actions(&q.action),
        next: views::next_page(&page.path, &page.query, result.next.as_deref()),
        events,
        f,
        verify_form: false,
    })
}

pub async fn platform_journal(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<JournalQuery>,
) -> WebResult<Response> {
    decide_platform(&identity.actor, PlatformAction::ReadJournals)?;
    let tz = time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE);
    let mut f = fields_of(&q);
    let mut filter = filter_from(&q, &tz, &mut f);
    let mut conn = page.state.platform.db.read().await?;
    if !q.organisation.trim().is_empty() {
        match Siren::parse(&q.organisation) {
            Ok(siren) => match orgs::get_by_siren(&mut conn, &siren).await? {
                Some(o) => filter.org = Some(o.id()?),
                None => f.error("organisation", "Aucune organisation n'a ce SIREN."),
            },
            Err(e) => f.error("organisation", e.0),
        }
    }
    if !q.personne.trim().is_empty() {
        match Email::parse(&q.personne) {
            Ok(email) => match accounts::find_by_email(&mut conn, &email).await? {
                Some(u) => filter.actor = Some(u.id()?),
                None => f.error("personne", "Aucun compte n'a cette adresse."),
            },
            Err(e) => f.error("personne", e.0),
        }
    }
    let (events, next) = if f.has_errors() {
        (Vec::new(), None)
    } else {
        let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
        let result = audit::list(&mut conn, &filter, cursor.as_ref(), 50).await?;
        let mut events = Vec::new();
        for e in &result.items {
            let org_name = match e.org_id.as_deref().and_then(|o| o.parse().ok()) {
                Some(id) => orgs::get(&mut conn, id).await?.map(|o| o.name),
                None => Some("Plateforme".to_owned()),
            };
            events.push(event_view(e, &tz, org_name));
        }
        (
            events,
            views::next_page(&page.path, &page.query, result.next.as_deref()),
        )
    };
    render(&JournalPage {
        chrome: page
            .chrome("Journal de la plateforme", None)
            .with_errors(f.has_errors())
            .crumb("Administration", Some("/admin".into()))
            .crumb("Journal", None),
        heading: "Journal de la plateforme".into(),
        action_path: "/admin/journal".into(),
        show_org_filters: true,
        actions: actions(&q.action),
        events,
        next,
        f,
        verify_form: identity.actor.is_operator_admin(),
    })
}

#[derive(Template)]
#[template(path = "journal_verify.html")]
struct VerifyPage {
    chrome: Chrome,
    chains: usize,
    events: u64,
    checkpoints: u64,
    problems: Vec<audit::Problem>,
}

/// Runs `audit verify` from the interface.
pub async fn verify(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    decide_platform(&identity.actor, PlatformAction::Administer)?;
    let p = &page.state.platform;
    let report = audit::verify(&p.db, &p.keys, &|_, _| {}).await?;
    if report.is_intact() {
        return Ok(flash::set(
            see_other("/admin/journal"),
            "journal-intact",
            page.secure(),
        ));
    }
    render(&VerifyPage {
        chrome: page
            .chrome("Intégrité du journal", None)
            .with_errors(true)
            .crumb("Administration", Some("/admin".into()))
            .crumb("Journal", Some("/admin/journal".into()))
            .crumb("Vérification", None),
        chains: report.chains,
        events: report.events,
        checkpoints: report.checkpoints,
        problems: report.problems,
    })
}
