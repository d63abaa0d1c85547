//! The parapheur as the platform composes it.

use async_trait::async_trait;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use bouquet_kernel::Service;
use bouquet_kernel::policy::Action;
use bouquet_store::migrate::MigrationSet;
use bouquet_store::{Platform, StoreResult};
use bouquet_webkit::module::NavContext;
use bouquet_webkit::{
    AppState, DemoTerritory, Module, NavItem, OrgCtx, TodoItem, WebResult, views,
};
use utoipa_axum::router::OpenApiRouter;

use crate::flow;
use crate::web::{api, dossier, inbox, send, settings, verify};

pub static MIGRATIONS: MigrationSet = MigrationSet {
    owner: "parapheur",
    migrations: &[
        bouquet_store::migrate::Migration {
            version: 1,
            name: "parapheur",
            sql: bouquet_store::migrate::MigrationSql::Both(include_str!(
                "../migrations/0001_parapheur.sql"
            )),
        },
        bouquet_store::migrate::Migration {
            version: 2,
            name: "reminders",
            sql: bouquet_store::migrate::MigrationSql::Both(include_str!(
                "../migrations/0002_reminders.sql"
            )),
        },
    ],
};

pub struct ParapheurModule;

#[async_trait]
impl Module for ParapheurModule {
    fn name(&self) -> &'static str {
        "parapheur"
    }

    fn service(&self) -> Option<Service> {
        Some(Service::Parapheur)
    }

    fn migrations(&self) -> Option<&'static MigrationSet> {
        Some(&MIGRATIONS)
    }

    fn org_routes(&self) -> OpenApiRouter<AppState> {
        let upload = DefaultBodyLimit::max(flow::MAX_DOSSIER + 1024 * 1024);
        OpenApiRouter::new()
            .route("/", get(inbox::list))
            .route("/lot", post(inbox::batch))
            .route("/nouveau", get(send::form).post(send::send).layer(upload))
            .route("/dossiers/{id}", get(dossier::show))
            .route("/dossiers/{id}/viser", post(dossier::visa))
            .route("/dossiers/{id}/signer", post(dossier::sign))
            .route(
                "/dossiers/{id}/signature-papier",
                post(dossier::paper).layer(DefaultBodyLimit::max(flow::MAX_FILE + 1024 * 1024)),
            )
            .route("/dossiers/{id}/rejeter", post(dossier::reject))
            .route("/dossiers/{id}/annoter", post(dossier::annotate))
            .route("/dossiers/{id}/reprendre", post(dossier::take_back))
            .route("/dossiers/{id}/reattribuer", post(dossier::reassign))
            .route("/dossiers/{id}/avis-demande", post(dossier::ask_opinion))
            .route("/dossiers/{id}/avis", post(dossier::give_opinion))
            .route("/dossiers/{id}/document", get(dossier::document))
            .route("/dossiers/{id}/original", get(dossier::original))
            .route("/dossiers/{id}/bordereau", get(dossier::bordereau))
            .route("/dossiers/{id}/fichiers/{file}", get(dossier::file))
            .route(
                "/circuits",
                get(settings::circuits_list).post(settings::circuits_create),
            )
            .route("/circuits/{id}", post(settings::circuits_toggle))
            .route(
                "/absences",
                get(settings::absences).post(settings::absences_create),
            )
            .route("/absences/{id}/fin", post(settings::absences_revoke))
            .route(
                "/certificats",
                get(settings::certificates).post(settings::certificates_import),
            )
            .route("/certificats/demo", post(settings::certificates_demo))
            .route(
                "/recapitulatif",
                get(crate::reminders::digest_form).post(crate::reminders::digest_save),
            )
            .route(
                "/verifier",
                get(verify::form)
                    .post(verify::check)
                    .layer(DefaultBodyLimit::max(flow::MAX_FILE + 2 * 1024 * 1024)),
            )
    }

    fn register_jobs(&self, registry: &mut bouquet_store::worker::Registry) {
        registry.handle(
            crate::reminders::KIND,
            std::sync::Arc::new(crate::reminders::Reminders),
        );
    }

    fn schedules(&self) -> Vec<bouquet_webkit::module::Schedule> {
        vec![bouquet_webkit::module::Schedule {
            kind: crate::reminders::KIND,
            every: jiff::SignedDuration::from_hours(24),
        }]
    }

    fn org_api(&self) -> OpenApiRouter<AppState> {
        api::router().layer(DefaultBodyLimit::max(flow::MAX_DOSSIER + 1024 * 1024))
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .route("/api/v1/horodatage", post(api::timestamp))
            .route("/ac-bouquet-demo.pem", get(api::root_certificate))
    }

    fn nav(&self, ctx: &NavContext<'_>) -> Vec<NavItem> {
        match ctx.org {
            Some((siren, facts))
                if bouquet_kernel::policy::decide(
                    ctx.actor,
                    Action::UseService(Service::Parapheur),
                    facts,
                )
                .is_ok() =>
            {
                vec![NavItem {
                    label: "Parapheur".into(),
                    href: format!("/o/{siren}/parapheur"),
                    order: 20,
                }]
            }
            _ => Vec::new(),
        }
    }

    async fn todos(&self, state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
        if !ctx.can(Action::UseService(Service::Parapheur)) {
            return Ok(Vec::new());
        }
        let p = &state.platform;
        let today = crate::web::today(p, ctx);
        let mut conn = p.db.read().await?;
        let candidates = crate::dossiers::list(
            &mut conn,
            ctx.org_id,
            ctx.identity.user_id,
            &crate::dossiers::ListFilter {
                folder: crate::dossiers::Folder::ToDo,
                query: None,
                status: None,
                limit: 200,
                offset: 0,
            },
        )
        .await?;
        let mut n = 0;
        for d in &candidates {
            if flow::my_turn(&mut conn, d, ctx.identity.user_id, &today)
                .await?
                .is_some()
            {
                n += 1;
            }
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        Ok(vec![TodoItem {
            label: views::count(
                n,
                "dossier attend votre visa ou votre signature",
                "dossiers attendent votre visa ou votre signature",
                "",
            ),
            href: ctx.href("/parapheur"),
            detail: Some("Ouvrez le parapheur : les dossiers à traiter sont en tête.".into()),
            urgent: false,
        }])
    }

    fn flash(&self, code: &str) -> Option<&'static str> {
        Some(match code {
            "parapheur-envoye" => {
                "Le dossier est envoyé : la première personne du circuit a reçu un courriel."
            }
            "parapheur-vise" => "Votre visa est enregistré.",
            "parapheur-signe" => "Le document est signé.",
            "parapheur-rejete" => {
                "Le dossier est rejeté : la personne qui l'a déposé est prévenue."
            }
            "parapheur-annote" => "L'annotation est enregistrée.",
            "parapheur-recapitulatif" => {
                "Votre choix pour le récapitulatif quotidien est enregistré."
            }
            "parapheur-avis-demande" => "L'avis est demandé : la personne a reçu un courriel.",
            "parapheur-avis-donne" => {
                "Votre avis est enregistré : la personne qui l'a demandé est prévenue."
            }
            "parapheur-reattribue" => {
                "L'étape est réattribuée : la personne choisie a reçu un courriel."
            }
            "parapheur-repris" => "Votre action est reprise : le dossier vous attend à nouveau.",
            "parapheur-circuit-cree" => {
                "Le circuit est créé : il est proposé à l'envoi d'un document."
            }
            "parapheur-circuit-modifie" => "Le circuit est modifié.",
            "parapheur-absence" => {
                "L'absence est enregistrée : le suppléant verra les dossiers dans ses dossiers à traiter."
            }
            "parapheur-absence-fin" => "L'absence est terminée.",
            "parapheur-certificat" => "Le certificat est installé.",
            _ => return None,
        })
    }

    async fn seed_demo(&self, platform: &Platform, territory: &DemoTerritory) -> StoreResult<()> {
        crate::demo::seed(platform, territory).await
    }
}
