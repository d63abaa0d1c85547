//! The people of an organisation: list, roles, removal, deactivation of an account used only
//! here (its administrators), read-only for its référent and the operator's staff.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::policy::{Action, may_change_roles};
use bouquet_kernel::{AppError, Role, RoleSet, UserId};
use bouquet_store::accounts::{self, OrgUserRow};
use bouquet_store::page::Cursor;
use bouquet_webkit::forms::{Fields, Form, FormPairs, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{AppState, OrgCtx, PageCtx, WebError, WebResult, flash, render};
use jiff::tz::TimeZone;
use serde::Deserialize;

use bouquet_webkit::views;

use super::invitations::{self as invitations_page, InvitationView};
use bouquet_store::invitations;

pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub title: String,
    pub active: bool,
    pub last_login: String,
}

fn view(u: &OrgUserRow, tz: &TimeZone) -> UserView {
    UserView {
        id: u.id.clone(),
        name: u.display_name.clone(),
        email: u.email.clone(),
        roles: views::roles(u.roles()),
        title: u.title.clone().unwrap_or_default(),
        active: u.active,
        last_login: views::at_opt(u.last_login_at, tz),
    }
}

/// Roles that can be given in this organisation.
pub fn assignable(ctx: &OrgCtx) -> &'static [Role] {
    Role::assignable_in(ctx.facts.kind)
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    curseur: Option<String>,
}

#[derive(Template)]
#[template(path = "org_users.html")]
struct ListPage {
    chrome: Chrome,
    org_name: String,
    base: String,
    query: String,
    users: Vec<UserView>,
    next: Option<String>,
    /// Administrators invite people and see the open invitations.
    can_manage: bool,
    invitations: Vec<InvitationView>,
}

pub async fn list(page: PageCtx, ctx: OrgCtx, Params(q): Params<ListQuery>) -> WebResult<Response> {
    ctx.require(Action::ReadUsers)?;
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = page.state.platform.db.read().await?;
    let query = Some(q.q.as_str()).filter(|s| !s.trim().is_empty());
    let result = accounts::org_users(&mut conn, ctx.org_id, query, cursor.as_ref(), 50).await?;
    let can_manage = ctx.can(Action::ManageUsers);
    let now = page.state.platform.clock.now();
    let invitations = if can_manage {
        invitations::open(&mut conn, ctx.org_id, None, 200)
            .await?
            .items
            .iter()
            .map(|i| invitations_page::view(i, &ctx.tz, now))
            .collect()
    } else {
        Vec::new()
    };
    render(&ListPage {
        chrome: page
            .chrome("Utilisateurs", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Utilisateurs", None),
        org_name: ctx.org.name.clone(),
        base: ctx.href("/utilisateurs"),
        query: q.q.clone(),
        users: result.items.iter().map(|u| view(u, &ctx.tz)).collect(),
        next: views::next_page(&page.path, &page.query, result.next.as_deref()),
        can_manage,
        invitations,
    })
}

/// A person of the acting organisation, by the id in the URL; anyone else is a 404.
pub async fn member(state: &AppState, ctx: &OrgCtx, id: &str) -> WebResult<(UserId, OrgUserRow)> {
    let user_id: UserId = id.parse().map_err(|_| WebError(AppError::NotFound))?;
    let mut conn = state.platform.db.read().await?;
    let row = accounts::org_user(&mut conn, ctx.org_id, user_id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    Ok((user_id, row))
}

#[derive(Template)]
#[template(path = "org_user.html")]
struct DetailPage {
    chrome: Chrome,
    user: UserView,
    base: String,
    f: Fields,
    roles: Vec<(&'static str, &'static str, bool)>,
    can_manage: bool,
    is_self: bool,
    /// How many other organisations the person belongs to (an account used elsewhere is not
    /// deactivated from here).
    other_orgs: usize,
}

fn role_choices(ctx: &OrgCtx, held: RoleSet) -> Vec<(&'static str, &'static str, bool)> {
    assignable(ctx)
        .iter()
        .map(|r| (r.code(), r.label(), held.contains(*r)))
        .collect()
}

pub async fn detail(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(Action::ReadUsers)?;
    let (user_id, row) = member(&page.state, &ctx, &id).await?;
    let other_orgs = other_orgs(&page.state, &ctx, user_id).await?;
    render(&DetailPage {
        chrome: page
            .chrome(&row.display_name, Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
            .crumb(row.display_name.clone(), None),
        roles: role_choices(&ctx, row.roles()),
        user: view(&row, &ctx.tz),
        base: ctx.href(&format!("/utilisateurs/{id}")),
        f: Fields::new(),
        can_manage: ctx.can(Action::ManageUsers),
        is_self: user_id == ctx.identity.user_id,
        other_orgs,
    })
}

/// The number of organisations other than the acting one where `user` has access.
async fn other_orgs(state: &AppState, ctx: &OrgCtx, user: UserId) -> WebResult<usize> {
    let mut conn = state.platform.db.read().await?;
    Ok(accounts::memberships(&mut conn, user)
        .await?
        .iter()
        .filter(|m| m.org_id != ctx.org_id.to_string())
        .count())
}

/// `roles=agent&roles=member_admin` (checkboxes): parsed by hand, serde_urlencoded does not
/// collect repeated keys.
/// What is wrong with giving `after` to a person who holds `before` (empty when nothing);
/// a change the caller may not make at all is a 403.
pub fn role_change_problems(
    ctx: &OrgCtx,
    user_id: UserId,
    before: RoleSet,
    after: RoleSet,
) -> WebResult<Vec<&'static str>> {
    let mut problems = Vec::new();
    if after
        .iter()
        .any(|r| !Role::assignable_in(ctx.facts.kind).contains(&r))
    {
        problems.push("Ce rôle ne peut pas être donné dans ce type d'organisation.");
        return Ok(problems);
    }
    may_change_roles(&ctx.identity.actor, &ctx.facts, before, after)?;
    if user_id == ctx.identity.user_id
        && before.contains(Role::MemberAdmin)
        && !after.contains(Role::MemberAdmin)
    {
        problems.push("Vous ne pouvez pas retirer votre propre rôle d'administrateur : demandez-le à un autre administrateur.");
    }
    if after.is_empty() {
        problems.push("Choisissez au moins un rôle, ou retirez l'accès à l'organisation.");
    }
    Ok(problems)
}

/// `roles=agent&roles=member_admin` (checkboxes).
pub async fn set_roles(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    FormPairs(pairs): FormPairs,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, row) = member(&page.state, &ctx, &id).await?;
    let mut roles = RoleSet::empty();
    for (k, v) in &pairs {
        if k == "roles" {
            roles.insert(
                v.parse::<Role>()
                    .map_err(|_| WebError(AppError::invalid("roles", "Ce rôle n'existe pas.")))?,
            );
        }
    }
    let mut f = Fields::new();
    for problem in role_change_problems(&ctx, user_id, row.roles(), roles)? {
        f.error("roles", problem);
    }
    if f.has_errors() {
        let other_orgs = other_orgs(&page.state, &ctx, user_id).await?;
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &DetailPage {
                chrome: page
                    .chrome(&row.display_name, Some(&ctx))
                    .with_errors(true)
                    .crumb("Tableau de bord", Some(ctx.href("/")))
                    .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
                    .crumb(row.display_name.clone(), None),
                roles: role_choices(&ctx, roles),
                user: view(&row, &ctx.tz),
                base: ctx.href(&format!("/utilisateurs/{id}")),
                f,
                can_manage: true,
                is_self: user_id == ctx.identity.user_id,
                other_orgs,
            },
        );
    }
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    accounts::set_roles(
        &mut tx,
        p.clock.now(),
        user_id,
        ctx.org_id,
        roles,
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other(&ctx.href(&format!("/utilisateurs/{id}"))),
        "roles-modifies",
        page.secure(),
    ))
}

#[derive(Template)]
#[template(path = "org_user_remove.html")]
struct RemovePage {
    chrome: Chrome,
    user: UserView,
    org_name: String,
    base: String,
}

pub async fn remove_confirm(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let (_, row) = member(&page.state, &ctx, &id).await?;
    render(&RemovePage {
        chrome: page
            .chrome("Retirer l'accès", Some(&ctx))
            .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
            .crumb(
                row.display_name.clone(),
                Some(ctx.href(&format!("/utilisateurs/{id}"))),
            )
            .crumb("Retirer l'accès", None),
        user: view(&row, &ctx.tz),
        org_name: ctx.org.name.clone(),
        base: ctx.href(&format!("/utilisateurs/{id}")),
    })
}

#[derive(Deserialize)]
pub struct Confirm {}

pub async fn remove(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, _) = member(&page.state, &ctx, &id).await?;
    if user_id == ctx.identity.user_id {
        return Err(WebError(AppError::Conflict(
            "Vous ne pouvez pas retirer votre propre accès : demandez-le à un autre administrateur.".into(),
        )));
    }
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    accounts::revoke(
        &mut tx,
        p.clock.now(),
        user_id,
        ctx.org_id,
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other(&ctx.href("/utilisateurs")),
        "acces-retire",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Deactivating an account used only here

#[derive(Template)]
#[template(path = "org_user_active.html")]
struct ActivePage {
    chrome: Chrome,
    user: UserView,
    org_name: String,
    base: String,
    activate: bool,
}

/// Refuses (409 or 403, with the reason) unless the caller may deactivate or reactivate the
/// account of `user_id`: not their own, used in no other organisation (there, removing the
/// access is what applies), and an operator's account only by a platform administrator.
async fn may_set_active(
    state: &AppState,
    ctx: &OrgCtx,
    user_id: UserId,
    row: &OrgUserRow,
) -> WebResult<()> {
    if user_id == ctx.identity.user_id {
        return Err(WebError(AppError::Conflict(
            "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre administrateur.".into(),
        )));
    }
    let others = other_orgs(state, ctx, user_id).await?;
    if others > 0 {
        return Err(WebError(AppError::Conflict(format!(
            "Le compte de {} sert aussi dans {} : vous ne pouvez pas le désactiver. Retirez plutôt son accès à {}.",
            row.display_name,
            if others == 1 {
                "une autre organisation".to_owned()
            } else {
                format!("{others} autres organisations")
            },
            ctx.org.name
        ))));
    }
    if row.roles().iter().any(Role::is_operator_role) && !ctx.identity.actor.is_operator_admin() {
        return Err(WebError(AppError::Forbidden(
            "Seul un administrateur de la plateforme peut désactiver le compte d'un membre de l'équipe de l'opérateur.".into(),
        )));
    }
    Ok(())
}

async fn active_confirm(
    page: PageCtx,
    ctx: OrgCtx,
    id: String,
    activate: bool,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, row) = member(&page.state, &ctx, &id).await?;
    may_set_active(&page.state, &ctx, user_id, &row).await?;
    let title = if activate {
        "Réactiver le compte"
    } else {
        "Désactiver le compte"
    };
    render(&ActivePage {
        chrome: page
            .chrome(title, Some(&ctx))
            .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
            .crumb(
                row.display_name.clone(),
                Some(ctx.href(&format!("/utilisateurs/{id}"))),
            )
            .crumb(title, None),
        user: view(&row, &ctx.tz),
        org_name: ctx.org.name.clone(),
        base: ctx.href(&format!("/utilisateurs/{id}")),
        activate,
    })
}

async fn set_active(page: PageCtx, ctx: OrgCtx, id: String, active: bool) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let (user_id, row) = member(&page.state, &ctx, &id).await?;
    may_set_active(&page.state, &ctx, user_id, &row).await?;
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    let changed = accounts::set_active(
        &mut tx,
        p.clock.now(),
        user_id,
        active,
        &ctx.identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    let code = match (changed, active) {
        (false, _) => "compte-deja-dans-cet-etat",
        (true, true) => "compte-reactive",
        (true, false) => "compte-desactive",
    };
    Ok(flash::set(
        see_other(&ctx.href(&format!("/utilisateurs/{id}"))),
        code,
        page.secure(),
    ))
}

pub async fn deactivate_confirm(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    active_confirm(page, ctx, id, false).await
}

pub async fn deactivate(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    set_active(page, ctx, id, false).await
}

pub async fn reactivate_confirm(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    active_confirm(page, ctx, id, true).await
}

pub async fn reactivate(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    set_active(page, ctx, id, true).await
}
