//! The members module's pages and API.
//!
//! - [`members`]: the operator's member list, its filters and exports.
//! - [`member`]: one member's page for the operator (identity, status, college,
//!   subscriptions, conventions, users, timeline) and the forms that change it.
//! - [`enroll`]: adding a member, picked from the registry; [`import`]: many, from a CSV
//!   file, with a preview.
//! - [`territory`]: what members and their EPCI see of themselves (`/o/{siren}/adhesion`,
//!   `/o/{siren}/communes`) and the EPCI's référents.
//! - [`registry`]: the registry of communes in use, its imports, and the mergers to handle.
//! - [`api`]: `/api/v1/organisations` and subscriptions.

pub mod api;
pub mod enroll;
pub mod import;
pub mod member;
pub mod members;
pub mod registry;
pub mod territory;

use bouquet_kernel::clock::time_zone;
use bouquet_kernel::org::DEFAULT_TIME_ZONE;
use bouquet_kernel::{AppError, Service, Siren};
use bouquet_store::Platform;
use bouquet_store::orgs::{self, OrgRow};
use bouquet_webkit::layout::Chrome;
use bouquet_webkit::{PageCtx, WebError, WebResult};
use jiff::civil::Date;

use crate::members::Status;

/// The chrome of an operator page under "Administration › Membres": `trail` are the crumbs
/// in between (label, link), `last` the page's own crumb.
pub fn members_chrome(
    page: &PageCtx,
    title: &str,
    has_errors: bool,
    trail: &[(&str, String)],
    last: &str,
) -> Chrome {
    let chrome = page
        .chrome(title, None)
        .with_errors(has_errors)
        .crumb("Administration", Some("/admin".into()))
        .crumb("Membres", Some("/admin/membres".into()));
    trail
        .iter()
        .fold(chrome, |c, (label, href)| {
            c.crumb(*label, Some(href.clone()))
        })
        .crumb(last, None)
}

/// Today in the operator's time zone (`YYYY-MM-DD`): member lists, statuses and conventions
/// are the operator's business, dated where it sits.
pub fn operator_today(p: &Platform) -> String {
    orgs::local_date(p.clock.now(), &time_zone(DEFAULT_TIME_ZONE))
}

pub fn operator_date(p: &Platform) -> Date {
    operator_today(p)
        .parse()
        .unwrap_or_else(|_| Date::constant(2000, 1, 1))
}

/// The organisation of a `/admin/membres/{siren}` URL; an unknown or malformed SIREN is 404.
pub async fn org_by_siren(p: &Platform, siren: &str) -> WebResult<OrgRow> {
    let siren = Siren::parse(siren).map_err(|_| WebError(AppError::NotFound))?;
    let mut conn = p.db.read().await?;
    orgs::get_by_siren(&mut conn, &siren)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

/// `(code, label, selected)` of every status, for a `<select>`.
pub fn status_choices(
    selected: &str,
    with_merged: bool,
) -> Vec<(&'static str, &'static str, bool)> {
    Status::ALL
        .into_iter()
        .chain(with_merged.then_some(Status::Fusionne))
        .map(|s| (s.code(), s.label(), s.code() == selected))
        .collect()
}

/// `(code, label, selected)` of every service.
pub fn service_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    Service::ALL
        .into_iter()
        .map(|s| (s.code(), s.label(), s.code() == selected))
        .collect()
}

/// "01/03/2026" from "2026-03-01" (or the text unchanged when it is not a date).
pub fn date_fr(iso: &str) -> String {
    crate::members::french_date(iso)
}

/// Service labels, comma-separated, from codes.
pub fn service_labels<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    let labels: Vec<&str> = codes
        .into_iter()
        .filter_map(|c| c.parse::<Service>().ok())
        .map(Service::label)
        .collect();
    if labels.is_empty() {
        "aucun".into()
    } else {
        labels.join(", ")
    }
}
