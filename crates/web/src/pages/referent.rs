//! "Contacter mon référent", and the organisation's settings.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{Email, OrgKind, Role};
use bouquet_store::audit::{self, NewEvent};
use bouquet_store::mail::{self, Mail};
use bouquet_store::{accounts, orgs};
use bouquet_webkit::forms::{Fields, Form};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebResult, flash, render};
use serde::Deserialize;
use serde_json::json;

/// Who receives a message to "mon référent": the référents who follow the organisation;
/// failing that, the administrators of its EPCI; failing that, the operator's administrators.
async fn recipients(page: &PageCtx, ctx: &OrgCtx) -> WebResult<(String, Vec<(String, String)>)> {
    let mut conn = page.state.platform.db.read().await?;
    let referents = accounts::referents_of(&mut conn, ctx.org_id).await?;
    if !referents.is_empty() {
        let names = referents
            .iter()
            .map(|u| u.display_name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        return Ok((
            names,
            referents
                .into_iter()
                .map(|u| (u.email, u.display_name))
                .collect(),
        ));
    }
    let mut admins = Vec::new();
    if let Some(parent) = ctx.org.parent() {
        let page_of = accounts::org_users(&mut conn, parent, None, None, 200).await?;
        admins.extend(page_of.items.into_iter().filter(|u| {
            u.active
                && (u.roles().contains(Role::ReferentNumerique)
                    || u.roles().contains(Role::MemberAdmin))
        }));
    }
    if admins.is_empty() {
        let operators = orgs::list(
            &mut conn,
            &orgs::OrgFilter {
                query: None,
                kind: Some(OrgKind::Operateur),
            },
            None,
            10,
        )
        .await?;
        for o in operators.items {
            let users = accounts::org_users(&mut conn, o.id()?, None, None, 200).await?;
            admins.extend(
                users
                    .items
                    .into_iter()
                    .filter(|u| u.active && u.roles().contains(Role::OperatorAdmin)),
            );
        }
    }
    let names = if admins.is_empty() {
        "l'équipe de l'opérateur".to_owned()
    } else {
        admins
            .iter()
            .map(|u| u.display_name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok((
        names,
        admins
            .into_iter()
            .map(|u| (u.email, u.display_name))
            .collect(),
    ))
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    f: Fields,
    recipients: String,
    org_name: String,
    action: String,
    cancel: String,
}

pub async fn contact_form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ContactReferent)?;
    let (names, _) = recipients(&page, &ctx).await?;
    render(&ContactPage {
        chrome: page
            .chrome("Contacter mon référent", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Contacter mon référent", None),
        f: Fields::new(),
        recipients: names,
        org_name: ctx.org.name.clone(),
        action: ctx.href("/contacter-referent"),
        cancel: ctx.href("/"),
    })
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    sujet: String,
    #[serde(default)]
    message: String,
}

pub async fn contact(
    page: PageCtx,
    ctx: OrgCtx,
    Form(form): Form<ContactForm>,
) -> WebResult<Response> {
    ctx.require(Action::ContactReferent)?;
    let (names, to) = recipients(&page, &ctx).await?;
    let mut f = Fields::new()
        .with("sujet", &form.sujet)
        .with("message", &form.message);
    let subject = form.sujet.trim();
    let message = form.message.trim();
    if subject.is_empty() || subject.chars().count() > 150 || subject.chars().any(char::is_control)
    {
        f.error(
            "sujet",
            "Indiquez le sujet de votre message (150 caractères au plus).",
        );
    }
    if message.is_empty() || message.chars().count() > 5000 {
        f.error(
            "message",
            "Écrivez votre message (5 000 caractères au plus).",
        );
    }
    if to.is_empty() {
        f.error("message", "Aucun référent ni administrateur n'est joignable pour votre organisation : appelez l'opérateur.");
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ContactPage {
                chrome: page
                    .chrome("Contacter mon référent", Some(&ctx))
                    .with_errors(true)
                    .crumb("Tableau de bord", Some(ctx.href("/")))
                    .crumb("Contacter mon référent", None),
                f,
                recipients: names,
                org_name: ctx.org.name.clone(),
                action: ctx.href("/contacter-referent"),
                cancel: ctx.href("/"),
            },
        );
    }
    let p = &page.state.platform;
    let now = p.clock.now();
    let sender = &ctx.identity.user;
    let mut tx = p.db.begin().await?;
    for (email, name) in &to {
        mail::queue(
            &mut tx,
            now,
            &Mail {
                to: email.clone(),
                subject: format!("[{}] {}", ctx.org.name, subject),
                text: format!(
                    "Bonjour {name},\n\n{} ({}), de {}, vous écrit depuis Bouquet :\n\n{message}\n\nPour lui répondre, écrivez à {}.\n",
                    sender.display_name, sender.email, ctx.org.name, sender.email
                ),
            },
        )
        .await?;
    }
    audit::append(
        &mut tx,
        now,
        NewEvent::new(
            Some(ctx.org_id),
            &ctx.identity.audit_actor(),
            "referent.contacted",
            "organisation",
            ctx.org_id,
        )
        .details(json!({ "sujet": subject, "destinataires": to.len() })),
    )
    .await?;
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other(&ctx.href("/")),
        "message-envoye",
        page.secure(),
    ))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    f: Fields,
    org_name: String,
    siren: String,
    kind: &'static str,
    time_zone: String,
    action: String,
}

fn settings_page(page: &PageCtx, ctx: &OrgCtx, f: Fields) -> SettingsPage {
    SettingsPage {
        chrome: page
            .chrome("Paramètres de l'organisation", Some(ctx))
            .with_errors(f.has_errors())
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Paramètres", None),
        f,
        org_name: ctx.org.name.clone(),
        siren: ctx.org.siren.clone(),
        kind: ctx.org.kind_label(),
        time_zone: ctx.org.time_zone.clone(),
        action: ctx.href("/parametres"),
    }
}

pub async fn settings_form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ManageSettings)?;
    let f = Fields::new().with(
        "contact_email",
        ctx.org.contact_email.as_deref().unwrap_or_default(),
    );
    render(&settings_page(&page, &ctx, f))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    contact_email: String,
}

pub async fn settings(
    page: PageCtx,
    ctx: OrgCtx,
    Form(form): Form<SettingsForm>,
) -> WebResult<Response> {
    ctx.require(Action::ManageSettings)?;
    let mut f = Fields::new().with("contact_email", &form.contact_email);
    let email = if form.contact_email.trim().is_empty() {
        None
    } else {
        match Email::parse(&form.contact_email) {
            Ok(e) => Some(e),
            Err(e) => {
                f.error("contact_email", e.0);
                None
            }
        }
    };
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &settings_page(&page, &ctx, f),
        );
    }
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    orgs::update_settings(
        &mut tx,
        p.clock.now(),
        ctx.org_id,
        email.as_ref(),
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other(&ctx.href("/parametres")),
        "parametres-enregistres",
        page.secure(),
    ))
}
