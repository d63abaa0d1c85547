//! The shape of a module.
//!
//! A service (`actes`, `helios`…) or a back-office module (`adhesions`…) is a crate that
//! implements [`Module`]. The web crate composes every module: it runs their migrations,
//! mounts their routes (service routes under `/o/{siren}/{slug}/` and
//! `/api/v1/o/{siren}/{slug}/`, refused with 403 when the organisation has not subscribed),
//! registers their jobs and event subscriptions, and asks them for navigation entries, "À
//! faire" items and demo data. The platform's own pages are a module too.

use async_trait::async_trait;
use bouquet_kernel::policy::{Actor, OrgFacts};
use bouquet_kernel::{OrgId, Service, UserId};
use bouquet_store::migrate::MigrationSet;
use bouquet_store::worker::Registry;
use bouquet_store::{Platform, StoreResult};
use utoipa_axum::router::OpenApiRouter;

use crate::error::WebResult;
use crate::identity::Identity;
use crate::org::OrgCtx;
use crate::state::AppState;

/// An entry of the main navigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavItem {
    pub label: String,
    pub href: String,
    /// Orders entries across modules (lower first).
    pub order: i32,
}

/// Something waiting for the person on their dashboard ("À faire").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TodoItem {
    /// What to do, as a short sentence ("3 dossiers à signer").
    pub label: String,
    pub href: String,
    /// Why it matters or what happens next (optional).
    pub detail: Option<String>,
    /// Shown first: something is late or failing.
    pub urgent: bool,
}

/// A card of the operator's administration home page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminCard {
    pub title: String,
    pub href: String,
    /// One sentence: what is there, with a figure when useful.
    pub body: String,
    /// Orders cards across modules (lower first; the platform's own start at 100).
    pub order: i32,
}

/// A job a module wants run periodically (reminders, alerts, purges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The job kind (its handler is registered in `register_jobs`).
    pub kind: &'static str,
    pub every: jiff::SignedDuration,
}

/// What a module may look at to build navigation.
pub struct NavContext<'a> {
    pub actor: &'a Actor,
    /// The acting organisation, when the page belongs to one.
    pub org: Option<(&'a str, &'a OrgFacts)>,
}

/// The demo territory, created by the platform, that modules fill with their own activity.
#[derive(Clone, Debug)]
pub struct DemoTerritory {
    pub operator: OrgId,
    pub epci: OrgId,
    /// Arbrissel, Retiers, Janzé.
    pub communes: Vec<OrgId>,
    pub ccas: OrgId,
    pub company: OrgId,
    pub admin: UserId,
    pub secretary: UserId,
    pub maire: UserId,
    pub epci_agent: UserId,
    pub company_user: UserId,
}

#[async_trait]
pub trait Module: Send + Sync + 'static {
    /// Short code (`platform`, `actes`…), also the owner of its migrations.
    fn name(&self) -> &'static str;

    /// The service this module implements, if it is one of the eight.
    fn service(&self) -> Option<Service> {
        None
    }

    fn migrations(&self) -> Option<&'static MigrationSet> {
        None
    }

    /// Pages of an organisation's service, mounted under `/o/{siren}/{slug}`.
    fn org_routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// API of an organisation's service, mounted under `/api/v1/o/{siren}/{slug}`.
    fn org_api(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// Any other routes (full paths).
    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
    }

    /// Job handlers and event subscriptions.
    fn register_jobs(&self, _registry: &mut Registry) {}

    /// Jobs to run periodically; the application enqueues each when due (once across nodes).
    fn schedules(&self) -> Vec<Schedule> {
        Vec::new()
    }

    /// Navigation entries for this person (and organisation).
    fn nav(&self, _ctx: &NavContext<'_>) -> Vec<NavItem> {
        Vec::new()
    }

    /// What this person has to do in this organisation.
    async fn todos(&self, _state: &AppState, _ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
        Ok(Vec::new())
    }

    /// Cards of the administration home page for this person (operator staff).
    async fn admin_cards(
        &self,
        _state: &AppState,
        _identity: &Identity,
    ) -> WebResult<Vec<AdminCard>> {
        Ok(Vec::new())
    }

    /// The one-time notice shown after a redirect with this code (see [`crate::flash`]).
    fn flash(&self, _code: &str) -> Option<&'static str> {
        None
    }

    /// Adds this module's activity to the demo territory (first start of `serve --demo`).
    async fn seed_demo(&self, _platform: &Platform, _territory: &DemoTerritory) -> StoreResult<()> {
        Ok(())
    }
}
