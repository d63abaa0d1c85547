//! The parapheur's pages, under `/o/{siren}/parapheur` (the service gate refuses an
//! organisation that has not subscribed), and its API.
//!
//! - [`inbox`]: "Dossiers à traiter", "Mes dossiers envoyés", every dossier; batch signing.
//! - [`dossier`]: one dossier, its documents, its circuit and history, and the actions.
//! - [`send`]: sending a new dossier into a circuit.
//! - [`settings`]: circuits, absences (delegations) and certificates.
//! - [`verify`]: the French report on any signed file.
//! - [`api`]: `/api/v1/o/{siren}/parapheur/…` and the built-in time-stamping authority.

pub mod api;
pub mod dossier;
pub mod inbox;
pub mod send;
pub mod settings;
pub mod verify;

use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, Service, UserId};
use bouquet_store::Platform;
use bouquet_store::orgs;
use bouquet_webkit::layout::Chrome;
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult};

use crate::dossiers::{self, DossierRow};

/// The right to work in the parapheur.
pub const USE: Action = Action::UseService(Service::Parapheur);

/// The chrome of a parapheur page: "Tableau de bord › Parapheur › …".
pub fn chrome(
    page: &PageCtx,
    ctx: &OrgCtx,
    title: &str,
    has_errors: bool,
    trail: &[(&str, String)],
) -> Chrome {
    let chrome = page
        .chrome(title, Some(ctx))
        .with_errors(has_errors)
        .crumb("Tableau de bord", Some(ctx.href("/")))
        .crumb("Parapheur", Some(ctx.href("/parapheur")));
    trail
        .iter()
        .fold(chrome, |c, (label, href)| {
            c.crumb(*label, Some(href.clone()))
        })
        .crumb(title, None)
}

/// The signed-in person's id.
pub fn me(ctx: &OrgCtx) -> UserId {
    ctx.identity.user_id
}

/// The signed-in person, as the parapheur's operations take them.
pub fn person(ctx: &OrgCtx) -> crate::flow::Person<'_> {
    crate::flow::Person {
        id: me(ctx),
        name: my_name(ctx),
    }
}

/// The signed-in person's name, as actions record it.
pub fn my_name(ctx: &OrgCtx) -> &str {
    &ctx.identity.user.display_name
}

/// Today in the organisation's time zone, `YYYY-MM-DD`.
pub fn today(p: &Platform, ctx: &OrgCtx) -> String {
    orgs::local_date(p.clock.now(), &ctx.tz)
}

/// The dossier `id` as this organisation sees it, or 404.
pub async fn dossier_of(p: &Platform, ctx: &OrgCtx, id: &str) -> WebResult<DossierRow> {
    let mut conn = p.db.read().await?;
    dossiers::get_visible(&mut conn, ctx.org_id, id)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

/// "1,2 Mo"
pub fn size(bytes: i64) -> String {
    bouquet_store::blobs::human_size(bytes.max(0) as u64)
}
