//! The members module as the platform composes it: routes, navigation, jobs, notices,
//! administration cards, "À faire" items and demo data.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use bouquet_kernel::OrgKind;
use bouquet_kernel::policy::{Action, PlatformAction, decide, decide_platform};
use bouquet_store::migrate::MigrationSet;
use bouquet_store::worker::Registry as Jobs;
use bouquet_store::{Platform, StoreResult};
use bouquet_webkit::module::{NavContext, Schedule};
use bouquet_webkit::{
    AdminCard, AppState, DemoTerritory, Identity, Module, NavItem, OrgCtx, TodoItem, WebResult,
    views,
};
use jiff::SignedDuration;
use utoipa_axum::router::OpenApiRouter;

use crate::web::{api, enroll, import, member, members, territory};
use crate::{circuit, demo, reminders};

pub static MIGRATIONS: MigrationSet = MigrationSet {
    owner: "adhesions",
    migrations: &[
        bouquet_store::migrate::Migration {
            version: 1,
            name: "adhesions",
            sql: bouquet_store::migrate::MigrationSql::Both(include_str!(
                "../migrations/0001_adhesions.sql"
            )),
        },
        bouquet_store::migrate::Migration {
            version: 2,
            name: "engagement_circuit",
            sql: bouquet_store::migrate::MigrationSql::Both(include_str!(
                "../migrations/0002_engagement_circuit.sql"
            )),
        },
    ],
};

pub struct AdhesionsModule;

#[async_trait]
impl Module for AdhesionsModule {
    fn name(&self) -> &'static str {
        "adhesions"
    }

    fn migrations(&self) -> Option<&'static MigrationSet> {
        Some(&MIGRATIONS)
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .route("/admin/membres", get(members::list))
            .route("/admin/membres/export.csv", get(members::export_csv))
            .route("/admin/membres/export.ods", get(members::export_ods))
            .route("/admin/membres/nouveau", get(enroll::search))
            .route(
                "/admin/membres/import",
                get(import::form)
                    .post(import::upload)
                    .layer(DefaultBodyLimit::max(
                        crate::import::MAX_FILE_SIZE + 64 * 1024,
                    )),
            )
            .route("/admin/membres/import/confirmer", post(import::confirm))
            .route(
                "/admin/membres/nouveau/autre",
                get(enroll::other_form).post(enroll::other_enroll),
            )
            .route(
                "/admin/membres/nouveau/{siren}",
                get(enroll::form).post(enroll::enroll),
            )
            .route("/admin/membres/{siren}", get(member::show))
            .route("/admin/membres/{siren}/statut", post(member::change_status))
            .route("/admin/membres/{siren}/college", post(member::set_college))
            .route(
                "/admin/membres/{siren}/abonnements",
                post(member::subscribe),
            )
            .route(
                "/admin/membres/{siren}/abonnements/{id}/fin",
                get(member::end_form).post(member::end),
            )
            .route("/admin/membres/{siren}/engagements", post(member::prepare))
            .route(
                "/admin/membres/{siren}/engagements/{id}/parapheur",
                post(member::send_to_circuit),
            )
            .route(
                "/admin/membres/{siren}/engagements/{id}/signature",
                get(member::sign_form)
                    .post(member::sign)
                    .layer(DefaultBodyLimit::max(member::MAX_SIGNED_PDF + 64 * 1024)),
            )
            .route(
                "/admin/membres/{siren}/engagements/{id}/resiliation",
                get(member::terminate_form).post(member::terminate),
            )
            .route(
                "/admin/membres/{siren}/engagements/{id}/{document}",
                get(member::engagement_pdf),
            )
            .route("/o/{siren}/adhesion", get(territory::membership))
            .route(
                "/o/{siren}/adhesion/engagements/{id}/{document}",
                get(territory::engagement_pdf),
            )
            .route("/o/{siren}/communes", get(territory::communes))
            .route("/o/{siren}/referents", get(territory::referents))
            .route(
                "/o/{siren}/referents/{id}",
                get(territory::scope_form).post(territory::scope),
            )
            .route("/admin/registre", get(crate::web::registry::show))
            .route(
                "/admin/registre/fusions/{id}",
                get(crate::web::registry::merger),
            )
            .route(
                "/admin/registre/fusions/{id}/transfert",
                get(crate::web::registry::transfer_form).post(crate::web::registry::transfer),
            )
            .route(
                "/admin/registre/fusions/{id}/ignorer",
                post(crate::web::registry::ignore),
            )
            .merge(api::router())
    }

    fn register_jobs(&self, registry: &mut Jobs) {
        registry.handle(reminders::KIND, Arc::new(reminders::Reminders));
        registry.handle(circuit::KIND, Arc::new(circuit::CircuitEnded));
        registry.subscribe(bouquet_parapheur::flow::TOPIC_ENDED, circuit::KIND);
    }

    fn schedules(&self) -> Vec<Schedule> {
        vec![Schedule {
            kind: reminders::KIND,
            every: SignedDuration::from_hours(24),
        }]
    }

    fn nav(&self, ctx: &NavContext<'_>) -> Vec<NavItem> {
        let mut items = Vec::new();
        if let Some((siren, facts)) = ctx.org {
            let can = |a: Action| decide(ctx.actor, a, facts).is_ok();
            if facts.kind.is_epci() && can(Action::ReadUsage) {
                items.push(NavItem {
                    label: "Communes".into(),
                    href: format!("/o/{siren}/communes"),
                    order: 60,
                });
            }
            if !matches!(facts.kind, OrgKind::Operateur | OrgKind::Entreprise)
                && can(Action::ViewOrganisation)
            {
                items.push(NavItem {
                    label: "Adhésion".into(),
                    href: format!("/o/{siren}/adhesion"),
                    order: 70,
                });
            }
            if facts.kind.is_epci() && can(Action::ManageUsers) {
                items.push(NavItem {
                    label: "Référents".into(),
                    href: format!("/o/{siren}/referents"),
                    order: 85,
                });
            }
        }
        if decide_platform(ctx.actor, PlatformAction::ReadAllMembers).is_ok() {
            items.push(NavItem {
                label: "Membres".into(),
                href: "/admin/membres".into(),
                order: 99,
            });
        }
        items
    }

    async fn admin_cards(
        &self,
        state: &AppState,
        _identity: &Identity,
    ) -> WebResult<Vec<AdminCard>> {
        let p = &state.platform;
        let today = crate::web::operator_today(p);
        let mut conn = p.db.read().await?;
        let all =
            crate::members::count(&mut conn, &crate::members::MemberFilter::default(), &today)
                .await?;
        let mergers = crate::mergers::count_to_handle(&mut conn).await?;
        Ok(vec![
            AdminCard {
                title: "Membres".into(),
                href: "/admin/membres".into(),
                body: format!(
                    "{} : adhésions, conventions et chartes, services souscrits, exports.",
                    views::count(all, "membre", "membres", "aucun membre")
                ),
                order: 10,
            },
            AdminCard {
                title: "Référentiel des communes".into(),
                href: "/admin/registre".into(),
                body: if mergers > 0 {
                    format!(
                        "{} : transférez leur adhésion vers la commune nouvelle.",
                        views::count(
                            mergers,
                            "fusion de commune membre à traiter",
                            "fusions de communes membres à traiter",
                            ""
                        )
                    )
                } else {
                    "Communes et EPCI officiels (BANATIC) en usage, imports et fusions de communes membres.".into()
                },
                order: 11,
            },
        ])
    }

    async fn todos(&self, state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
        if ctx.facts.kind != OrgKind::Operateur || !ctx.identity.can(PlatformAction::ManageMembers)
        {
            return Ok(Vec::new());
        }
        let p = &state.platform;
        let mut conn = p.db.read().await?;
        let counts = crate::engagements::to_do(&mut conn, crate::web::operator_date(p)).await?;
        let mut out = Vec::new();
        if counts.to_sign > 0 {
            out.push(TodoItem {
                label: views::count(
                    counts.to_sign,
                    "convention ou charte attend sa signature",
                    "conventions ou chartes attendent leur signature",
                    "",
                ),
                href: "/admin/membres?engagement=non".into(),
                detail: Some("Enregistrez le document signé dès son retour.".into()),
                urgent: false,
            });
        }
        if counts.ending > 0 {
            out.push(TodoItem {
                label: views::count(
                    counts.ending,
                    "engagement prend fin dans les 90 jours",
                    "engagements prennent fin dans les 90 jours",
                    "",
                ),
                href: "/admin/membres".into(),
                detail: Some(
                    "Préparez leur renouvellement : un rappel a été envoyé aux membres.".into(),
                ),
                urgent: true,
            });
        }
        let mergers = crate::mergers::count_to_handle(&mut conn).await?;
        if mergers > 0 {
            out.push(TodoItem {
                label: views::count(
                    mergers,
                    "commune membre a fusionné dans une commune nouvelle",
                    "communes membres ont fusionné dans une commune nouvelle",
                    "",
                ),
                href: "/admin/registre".into(),
                detail: Some(
                    "Vérifiez chaque fusion, puis transférez l'adhésion, les utilisateurs et l'historique vers la commune nouvelle.".into(),
                ),
                urgent: false,
            });
        }
        Ok(out)
    }

    fn flash(&self, code: &str) -> Option<&'static str> {
        Some(match code {
            "membre-ajoute" => "Le membre a été ajouté.",
            "membres-importes" => "L'import est terminé : les membres du fichier ont été ajoutés.",
            "statut-modifie" => "Le statut a été enregistré.",
            "college-modifie" => "Le collège a été enregistré.",
            "abonnement-ajoute" => {
                "L'abonnement a été enregistré : ses agents voient le service dès sa date de début."
            }
            "abonnement-termine" => "La fin de l'abonnement a été enregistrée.",
            "engagement-prepare" => {
                "Le document a été préparé : téléchargez-le et envoyez-le à la signature."
            }
            "signature-enregistree" => "La signature a été enregistrée.",
            "engagement-circuit" => {
                "Le document est envoyé dans le parapheur : le membre le signe, puis le président ; la signature s'enregistre d'elle-même à la fin."
            }
            "engagement-resilie" => "La résiliation a été enregistrée.",
            "perimetre-enregistre" => "Les communes suivies ont été enregistrées.",
            "fusion-enregistree" => {
                "La fusion a été enregistrée : l'adhésion, les utilisateurs et l'historique sont maintenant ceux de la commune nouvelle."
            }
            "fusion-ignoree" => "L'alerte de fusion a été ignorée : rien n'a été déplacé.",
            _ => return None,
        })
    }

    async fn seed_demo(&self, platform: &Platform, territory: &DemoTerritory) -> StoreResult<()> {
        demo::seed(platform, territory).await
    }
}
