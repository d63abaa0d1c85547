//! The actes service as the platform composes it. Authoring and exchange each contribute
//! their routes, jobs, to-dos and flash messages; this file only assembles them.

use async_trait::async_trait;
use bouquet_kernel::Service;
use bouquet_kernel::policy::Action;
use bouquet_store::migrate::{Migration, MigrationSet, MigrationSql};
use bouquet_store::{Platform, StoreResult};
use bouquet_webkit::module::NavContext;
use bouquet_webkit::{AppState, DemoTerritory, Module, NavItem, OrgCtx, TodoItem, WebResult};
use utoipa_axum::router::OpenApiRouter;

use crate::web::{api_authoring, api_exchange, authoring, exchange};

pub static MIGRATIONS: MigrationSet = MigrationSet {
    owner: "actes",
    migrations: &[
        Migration {
            version: 1,
            name: "actes",
            sql: MigrationSql::Both(include_str!("../migrations/0001_actes.sql")),
        },
        Migration {
            version: 2,
            name: "authoring",
            sql: MigrationSql::Both(include_str!("../migrations/0002_authoring.sql")),
        },
    ],
};

pub struct ActesModule;

#[async_trait]
impl Module for ActesModule {
    fn name(&self) -> &'static str {
        "actes"
    }

    fn service(&self) -> Option<Service> {
        Some(Service::Actes)
    }

    fn migrations(&self) -> Option<&'static MigrationSet> {
        Some(&MIGRATIONS)
    }

    fn org_routes(&self) -> OpenApiRouter<AppState> {
        authoring::routes().merge(exchange::routes())
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        exchange::admin_routes()
    }

    async fn admin_cards(
        &self,
        state: &AppState,
        identity: &bouquet_webkit::Identity,
    ) -> WebResult<Vec<bouquet_webkit::AdminCard>> {
        exchange::admin_cards(state, identity).await
    }

    fn org_api(&self) -> OpenApiRouter<AppState> {
        api_authoring::router().merge(api_exchange::router())
    }

    fn register_jobs(&self, registry: &mut bouquet_store::worker::Registry) {
        crate::actes::register_jobs(registry);
        crate::exchange::register_jobs(registry);
    }

    fn schedules(&self) -> Vec<bouquet_webkit::module::Schedule> {
        crate::exchange::schedules()
    }

    fn nav(&self, ctx: &NavContext<'_>) -> Vec<NavItem> {
        match ctx.org {
            Some((siren, facts))
                if bouquet_kernel::policy::decide(
                    ctx.actor,
                    Action::ReadService(Service::Actes),
                    facts,
                )
                .is_ok() =>
            {
                vec![NavItem {
                    label: "Actes".into(),
                    href: format!("/o/{siren}/actes"),
                    order: 10,
                }]
            }
            _ => Vec::new(),
        }
    }

    async fn todos(&self, state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
        let mut items = authoring::todos(state, ctx).await?;
        items.extend(exchange::todos(state, ctx).await?);
        Ok(items)
    }

    fn flash(&self, code: &str) -> Option<&'static str> {
        authoring::flash(code).or_else(|| exchange::flash(code))
    }

    async fn seed_demo(&self, platform: &Platform, territory: &DemoTerritory) -> StoreResult<()> {
        crate::demo::seed(platform, territory).await
    }
}
