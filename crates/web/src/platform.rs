//! The platform's own module: what every other module stands on, shown to people.

use std::sync::Arc;

use async_trait::async_trait;
use axum::response::Response;
use axum::routing::{get, post};
use bouquet_kernel::OrgKind;
use bouquet_kernel::policy::{Action, PlatformAction, decide, decide_platform};
use bouquet_kernel::usage::UsageKind;
use bouquet_store::worker::Registry;
use bouquet_store::{Platform, StoreResult, jobs, mail, orgs, usage};
use bouquet_webkit::layout::see_other;
use bouquet_webkit::module::NavContext;
use bouquet_webkit::{AppState, DemoTerritory, Module, NavItem, OrgCtx, TodoItem, WebResult};
use jiff::SignedDuration;
use utoipa_axum::router::OpenApiRouter;

use crate::pages::{
    admin, auth, company_signup, dashboard, invitations, journal, legal, org_users, profile,
    referent,
};

pub struct PlatformModule;

/// `/o/{siren}` without the final slash: only for people who may see the organisation.
async fn org_root(ctx: OrgCtx) -> Response {
    see_other(&ctx.href("/"))
}

#[async_trait]
impl Module for PlatformModule {
    fn name(&self) -> &'static str {
        "platform"
    }

    fn migrations(&self) -> Option<&'static bouquet_store::migrate::MigrationSet> {
        Some(&bouquet_store::migrate::PLATFORM)
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .route("/", get(dashboard::home))
            .route("/connexion", get(auth::login_form).post(auth::login))
            .route("/deconnexion", post(auth::logout))
            .route(
                "/mot-de-passe-oublie",
                get(auth::forgot_form).post(auth::forgot),
            )
            .route(
                "/reinitialiser-mot-de-passe",
                get(auth::reset_form).post(auth::reset),
            )
            .route(
                "/invitation",
                get(invitations::accept_form).post(invitations::accept),
            )
            .route(
                "/inscription-entreprise",
                get(company_signup::form).post(company_signup::submit),
            )
            .route(
                "/inscription-entreprise/confirmer",
                get(company_signup::confirm_form).post(company_signup::confirm),
            )
            .route("/mentions-legales", get(legal::legal))
            .route("/accessibilite", get(legal::accessibility))
            .route("/changer-organisation", get(dashboard::switch))
            .route("/profil", get(profile::show))
            .route("/profil/mot-de-passe", post(profile::change_password))
            .route(
                "/profil/jetons",
                get(profile::tokens).post(profile::create_token),
            )
            .route(
                "/profil/jetons/{id}/revoquer",
                get(profile::revoke_confirm).post(profile::revoke),
            )
            .route("/o/{siren}", get(org_root))
            .route("/o/{siren}/", get(dashboard::dashboard))
            .route("/o/{siren}/journal", get(journal::org_journal))
            .route("/o/{siren}/utilisateurs", get(org_users::list))
            .route(
                "/o/{siren}/utilisateurs/inviter",
                get(invitations::new_form).post(invitations::create),
            )
            .route(
                "/o/{siren}/utilisateurs/invitations/{id}/renvoyer",
                post(invitations::resend),
            )
            .route(
                "/o/{siren}/utilisateurs/invitations/{id}/annuler",
                get(invitations::cancel_confirm).post(invitations::cancel),
            )
            .route("/o/{siren}/utilisateurs/{id}", get(org_users::detail))
            .route(
                "/o/{siren}/utilisateurs/{id}/roles",
                post(org_users::set_roles),
            )
            .route(
                "/o/{siren}/utilisateurs/{id}/retirer",
                get(org_users::remove_confirm).post(org_users::remove),
            )
            .route(
                "/o/{siren}/utilisateurs/{id}/desactiver",
                get(org_users::deactivate_confirm).post(org_users::deactivate),
            )
            .route(
                "/o/{siren}/utilisateurs/{id}/reactiver",
                get(org_users::reactivate_confirm).post(org_users::reactivate),
            )
            .route(
                "/o/{siren}/contacter-referent",
                get(referent::contact_form).post(referent::contact),
            )
            .route(
                "/o/{siren}/parametres",
                get(referent::settings_form).post(referent::settings),
            )
            .route("/admin", get(admin::index))
            .route("/admin/utilisateurs", get(admin::users))
            .route(
                "/admin/utilisateurs/nouveau",
                get(admin::new_user_form).post(admin::create_user),
            )
            .route("/admin/utilisateurs/{id}", get(admin::user))
            .route(
                "/admin/utilisateurs/{id}/etat",
                get(admin::active_confirm).post(admin::set_active),
            )
            .route(
                "/admin/utilisateurs/{id}/reinitialisation",
                post(admin::send_reset),
            )
            .route("/admin/organisations", get(admin::organisations))
            .route("/admin/taches", get(admin::jobs_page))
            .route("/admin/taches/{id}/relancer", post(admin::retry_job))
            .route("/admin/journal", get(journal::platform_journal))
            .route("/admin/journal/verifier", post(journal::verify))
            .route("/admin/courriels", get(admin::emails))
            .route("/admin/courriels/{id}", get(admin::email))
            .route("/admin/courriels/{id}/eml", get(admin::email_raw))
            .merge(crate::api::router())
    }

    fn register_jobs(&self, registry: &mut Registry) {
        registry.handle(mail::SEND, Arc::new(mail::SendMail));
        registry.handle(
            crate::links::SEND_LINK,
            Arc::new(crate::links::SendPasswordLink),
        );
        registry.handle(
            crate::account_links::SEND_INVITATION,
            Arc::new(crate::account_links::SendInvitation),
        );
        registry.handle(
            crate::account_links::SEND_SIGNUP,
            Arc::new(crate::account_links::SendSignupConfirmation),
        );
    }

    fn nav(&self, ctx: &NavContext<'_>) -> Vec<NavItem> {
        let mut items = Vec::new();
        match ctx.org {
            Some((siren, facts)) => {
                let can = |a: Action| decide(ctx.actor, a, facts).is_ok();
                items.push(NavItem {
                    label: "Tableau de bord".into(),
                    href: format!("/o/{siren}/"),
                    order: 0,
                });
                if can(Action::ReadUsers) {
                    items.push(NavItem {
                        label: "Utilisateurs".into(),
                        href: format!("/o/{siren}/utilisateurs"),
                        order: 80,
                    });
                }
                if can(Action::ReadJournal) {
                    items.push(NavItem {
                        label: "Journal".into(),
                        href: format!("/o/{siren}/journal"),
                        order: 90,
                    });
                }
                if can(Action::ManageSettings) {
                    items.push(NavItem {
                        label: "Paramètres".into(),
                        href: format!("/o/{siren}/parametres"),
                        order: 95,
                    });
                }
            }
            None => items.push(NavItem {
                label: "Tableau de bord".into(),
                href: "/".into(),
                order: 0,
            }),
        }
        if decide_platform(ctx.actor, PlatformAction::ReadAllMembers).is_ok() {
            items.push(NavItem {
                label: "Administration".into(),
                href: "/admin".into(),
                order: 100,
            });
        }
        items
    }

    async fn todos(&self, state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
        let mut out = Vec::new();
        if ctx.facts.kind == OrgKind::Operateur
            && decide_platform(&ctx.identity.actor, PlatformAction::ManageJobs).is_ok()
        {
            let mut conn = state.platform.db.read().await?;
            let dead = jobs::counts(&mut conn)
                .await?
                .into_iter()
                .find(|(s, _)| s == "dead")
                .map_or(0, |(_, n)| n);
            if dead > 0 {
                out.push(TodoItem {
                    label: format!("{dead} tâche(s) de fond en échec à examiner"),
                    href: "/admin/taches?statut=dead".into(),
                    detail: Some(
                        "Corrigez la cause (serveur de courriel, préfecture…) puis relancez-les."
                            .into(),
                    ),
                    urgent: true,
                });
            }
        }
        Ok(out)
    }

    /// Six months of sign-ins of the demo accounts in their own organisations, so that the
    /// référent's and the EPCI's tables are not empty on the first visit.
    async fn seed_demo(&self, platform: &Platform, territory: &DemoTerritory) -> StoreResult<()> {
        let now = platform.clock.now();
        // Retiers and Janzé have no account yet: their empty columns are the point (the usage
        // statistics will list the subscribed members that do not use the platform).
        let people = [
            (territory.communes[0], territory.secretary, 9),
            (territory.communes[0], territory.maire, 4),
            (territory.epci, territory.epci_agent, 14),
            (territory.operator, territory.admin, 20),
            (territory.company, territory.company_user, 2),
        ];
        let mut tx = platform.db.begin().await?;
        for (org, user, per_month) in people {
            let Some(row) = orgs::get(&mut tx, org).await? else {
                continue;
            };
            let tz = row.tz();
            for month in 1..=6i64 {
                for k in 0..per_month {
                    let at = now
                        .checked_sub(SignedDuration::from_hours(24 * (30 * month - 2 * k)))
                        .unwrap_or(now);
                    usage::record(&mut tx, at, org, &tz, UsageKind::Connexion, Some(user)).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
