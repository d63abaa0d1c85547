//! Invitations: an administrator of an organisation invites a person by e-mail
//! (`/o/{siren}/utilisateurs/inviter`), resends or cancels it from the list of users; the
//! person accepts at `/invitation?jeton=…`, creating an account or with the one they have.
//!
//! The link carries a secret in its query string, like the reset link: query strings are not
//! logged, and the page only ever shows or journals the invitation, never the secret.

use askama::Template;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, Email, Role, RoleSet};
use bouquet_store::accounts::{self, UserRow};
use bouquet_store::audit::AuditActor;
use bouquet_store::invitations::{self, InvitationRow, LinkProblem, NewInvitation};
use bouquet_store::orgs;
use bouquet_webkit::forms::{Fields, Form, FormPairs, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{
    AppState, OrgCtx, PageCtx, WebError, WebResult, cookies, flash, render, views,
};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::org_users::{assignable, role_change_problems};
use super::{ClientIp, UserAgent};
use crate::account_links::queue_invitation;
use crate::login::open_session;

/// An invitation as the list of users shows it.
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: String,
    pub invited_by: String,
    pub expires: String,
    pub expired: bool,
    pub sent: bool,
}

pub fn view(i: &InvitationRow, tz: &TimeZone, now: jiff::Timestamp) -> InvitationView {
    InvitationView {
        id: i.id.clone(),
        email: i.email.clone(),
        name: i.display_name.clone(),
        roles: views::roles(i.roles()),
        invited_by: i.inviter_name.clone(),
        expires: views::at(i.expires_at, tz),
        expired: i.is_expired(now),
        sent: i.sent,
    }
}

// ---------------------------------------------------------------------------------------
// Inviting (administrators)

#[derive(Template)]
#[template(path = "invitation_new.html")]
struct NewPage {
    chrome: Chrome,
    org_name: String,
    base: String,
    f: Fields,
    roles: Vec<(&'static str, &'static str, bool)>,
    /// No seat left (subscription cap).
    problem: Option<String>,
    /// The open invitation for the address typed, to resend or cancel.
    pending: Option<InvitationView>,
}

fn new_page(
    page: &PageCtx,
    ctx: &OrgCtx,
    f: Fields,
    held: RoleSet,
    problem: Option<String>,
    pending: Option<InvitationView>,
) -> NewPage {
    NewPage {
        chrome: page
            .chrome("Inviter une personne", Some(ctx))
            .with_errors(f.has_errors() || problem.is_some())
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
            .crumb("Inviter une personne", None),
        org_name: ctx.org.name.clone(),
        base: ctx.href("/utilisateurs"),
        roles: assignable(ctx)
            .iter()
            .map(|r| (r.code(), r.label(), held.contains(*r)))
            .collect(),
        f,
        problem,
        pending,
    }
}

/// The role a new person gets by default: agent, or company user in a company.
fn default_roles(ctx: &OrgCtx) -> RoleSet {
    [Role::Agent, Role::CompanyUser]
        .into_iter()
        .filter(|r| assignable(ctx).contains(r))
        .take(1)
        .collect()
}

pub async fn new_form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let roles = default_roles(&ctx);
    render(&new_page(&page, &ctx, Fields::new(), roles, None, None))
}

pub async fn create(
    page: PageCtx,
    ctx: OrgCtx,
    FormPairs(pairs): FormPairs,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    let mut roles = RoleSet::empty();
    for (k, v) in &pairs {
        match k.as_str() {
            "roles" => match v.parse::<Role>() {
                Ok(r) => roles.insert(r),
                Err(_) => f.error("roles", "Ce rôle n'existe pas."),
            },
            "email" | "display_name" | "title" => f.set(k, v),
            _ => {}
        }
    }
    if f.value("display_name").trim().is_empty() {
        f.error(
            "display_name",
            "Indiquez le prénom et le nom de la personne.",
        );
    }
    let email = match Email::parse(f.value("email")) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.0);
            None
        }
    };
    if roles.is_empty() {
        f.error("roles", "Choisissez au moins un rôle.");
    } else {
        for problem in role_change_problems(&ctx, ctx.identity.user_id, RoleSet::empty(), roles)? {
            f.error("roles", problem);
        }
    }
    let unprocessable = |f: Fields, problem: Option<String>, pending: Option<InvitationView>| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_page(&page, &ctx, f, roles, problem, pending),
        )
    };
    let Some(email) = email.filter(|_| !f.has_errors()) else {
        return unprocessable(f, None, None);
    };
    let now = p.clock.now();
    let new = NewInvitation {
        email: &email,
        display_name: f.value("display_name"),
        roles,
        title: Some(f.value("title")),
    };
    let mut tx = p.db.begin().await?;
    let id = match invitations::create(
        &mut tx,
        now,
        ctx.org_id,
        &new,
        ctx.identity.user_id,
        &ctx.identity.audit_actor(),
    )
    .await
    {
        Ok(id) => id,
        Err(e) => {
            drop(tx);
            return match AppError::from(e) {
                AppError::Conflict(problem) => unprocessable(f, Some(problem), None),
                other => {
                    f.absorb(other).map_err(WebError)?;
                    let mut conn = p.db.read().await?;
                    let pending = invitations::open_for(&mut conn, ctx.org_id, &email)
                        .await?
                        .map(|i| view(&i, &ctx.tz, now));
                    unprocessable(f, None, pending)
                }
            };
        }
    };
    queue_invitation(&mut tx, p, &id).await?;
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other(&ctx.href("/utilisateurs")),
        "invitation-envoyee",
        page.secure(),
    ))
}

/// An open invitation of the acting organisation, by the id in the URL; anything else is a
/// 404.
async fn open_invitation(state: &AppState, ctx: &OrgCtx, id: &str) -> WebResult<InvitationRow> {
    let mut conn = state.platform.db.read().await?;
    invitations::get(&mut conn, ctx.org_id, id)
        .await?
        .filter(InvitationRow::is_open)
        .ok_or(WebError(AppError::NotFound))
}

#[derive(Deserialize)]
pub struct Confirm {}

pub async fn resend(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    open_invitation(&page.state, &ctx, &id).await?;
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    if !invitations::resend(
        &mut tx,
        p.clock.now(),
        ctx.org_id,
        &id,
        &ctx.identity.audit_actor(),
    )
    .await?
    {
        return Err(WebError(AppError::NotFound));
    }
    queue_invitation(&mut tx, p, &id).await?;
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other(&ctx.href("/utilisateurs")),
        "invitation-renvoyee",
        page.secure(),
    ))
}

#[derive(Template)]
#[template(path = "invitation_cancel.html")]
struct CancelPage {
    chrome: Chrome,
    invitation: InvitationView,
    org_name: String,
    base: String,
}

pub async fn cancel_confirm(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    let row = open_invitation(&page.state, &ctx, &id).await?;
    render(&CancelPage {
        chrome: page
            .chrome("Annuler l'invitation", Some(&ctx))
            .crumb("Tableau de bord", Some(ctx.href("/")))
            .crumb("Utilisateurs", Some(ctx.href("/utilisateurs")))
            .crumb("Annuler l'invitation", None),
        invitation: view(&row, &ctx.tz, page.state.platform.clock.now()),
        org_name: ctx.org.name.clone(),
        base: ctx.href("/utilisateurs"),
    })
}

pub async fn cancel(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    ctx.require(Action::ManageUsers)?;
    open_invitation(&page.state, &ctx, &id).await?;
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    if !invitations::cancel(
        &mut tx,
        p.clock.now(),
        ctx.org_id,
        &id,
        &ctx.identity.audit_actor(),
    )
    .await?
    {
        return Err(WebError(AppError::NotFound));
    }
    tx.commit().await?;
    Ok(flash::set(
        see_other(&ctx.href("/utilisateurs")),
        "invitation-annulee",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Accepting (the invited person, signed in or not)

/// What the invited person can do on the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No account for the address: choose a password.
    NewAccount,
    /// An account exists and nobody is signed in: sign in with it first.
    SignIn,
    /// Signed in with the invited account: one button.
    Accept,
    /// Signed in with another account.
    WrongAccount { name: String, email: String },
    /// Signed in with the invited account, which already has access.
    AlreadyMember,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct AcceptPage {
    chrome: Chrome,
    f: Fields,
    token: String,
    problem: Option<&'static str>,
    org_name: String,
    siren: String,
    email: String,
    roles: String,
    invited_by: String,
    expires: String,
    mode: Mode,
    /// `/connexion?suite=…` back to this page.
    login_href: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    jeton: String,
}

struct Loaded {
    invitation: InvitationRow,
    org: orgs::OrgRow,
    account: Option<UserRow>,
}

/// The invitation of a link, its organisation and the account of its address.
async fn load(page: &PageCtx, token: &str) -> WebResult<Result<Loaded, LinkProblem>> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let invitation = match invitations::check(&mut conn, p.clock.now(), token).await? {
        Ok(i) => i,
        Err(problem) => return Ok(Err(problem)),
    };
    let Some(org) = (match invitation.org() {
        Some(id) => orgs::get(&mut conn, id).await?,
        None => None,
    }) else {
        return Ok(Err(LinkProblem::Unknown));
    };
    let account = match Email::parse(&invitation.email) {
        Ok(e) => accounts::find_by_email(&mut conn, &e).await?,
        Err(_) => None,
    };
    Ok(Ok(Loaded {
        invitation,
        org,
        account,
    }))
}

async fn mode_of(page: &PageCtx, loaded: &Loaded) -> WebResult<Mode> {
    let signed_in = page.identity.as_ref();
    Ok(match (&loaded.account, signed_in) {
        (_, Some(me)) if me.user.email != loaded.invitation.email => Mode::WrongAccount {
            name: me.user.display_name.clone(),
            email: me.user.email.clone(),
        },
        (None, _) => Mode::NewAccount,
        (Some(_), None) => Mode::SignIn,
        (Some(account), Some(_)) => {
            let mut conn = page.state.platform.db.read().await?;
            if accounts::org_user(&mut conn, loaded.org.id()?, account.id()?)
                .await?
                .is_some()
            {
                Mode::AlreadyMember
            } else {
                Mode::Accept
            }
        }
    })
}

fn accept_page(
    page: &PageCtx,
    token: &str,
    loaded: Result<&Loaded, LinkProblem>,
    mode: Mode,
    f: Fields,
) -> AcceptPage {
    let now = page.state.platform.clock.now();
    let problem = loaded.err().map(LinkProblem::message);
    let (org_name, siren, email, roles, invited_by, expires) = match loaded {
        Ok(l) => {
            let v = view(&l.invitation, &l.org.tz(), now);
            (
                l.org.name.clone(),
                l.org.siren.clone(),
                v.email,
                v.roles,
                v.invited_by,
                v.expires,
            )
        }
        Err(_) => Default::default(),
    };
    let suite = format!("/invitation?jeton={token}");
    AcceptPage {
        chrome: page
            .chrome("Invitation", None)
            .with_errors(problem.is_some() || f.has_errors()),
        f,
        token: token.to_owned(),
        problem,
        org_name,
        siren,
        email,
        roles,
        invited_by,
        expires,
        mode,
        login_href: format!(
            "/connexion?suite={}",
            url::form_urlencoded::byte_serialize(suite.as_bytes()).collect::<String>()
        ),
    }
}

pub async fn accept_form(page: PageCtx, Params(q): Params<TokenQuery>) -> WebResult<Response> {
    match load(&page, &q.jeton).await? {
        Err(problem) => render_status(
            StatusCode::GONE,
            &accept_page(
                &page,
                &q.jeton,
                Err(problem),
                Mode::NewAccount,
                Fields::new(),
            ),
        ),
        Ok(loaded) => {
            let mode = mode_of(&page, &loaded).await?;
            let f = Fields::new().with("display_name", &loaded.invitation.display_name);
            render(&accept_page(&page, &q.jeton, Ok(&loaded), mode, f))
        }
    }
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    jeton: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

/// The throttling key prefix: attempts are counted per address, as for signing in.
const THROTTLE_KEY: &str = "invitation";

pub async fn accept(
    page: PageCtx,
    ClientIp(ip): ClientIp,
    UserAgent(ua): UserAgent,
    Form(form): Form<AcceptForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let now = p.clock.now();
    let throttle_key = format!("{THROTTLE_KEY}:{ip}");
    {
        let mut tx = p.db.begin().await?;
        let wait =
            accounts::throttle_attempt(&mut tx, now, &throttle_key, accounts::THROTTLE_IP_MAX)
                .await?;
        tx.commit().await?;
        if let Some(secs) = wait {
            return Err(WebError(AppError::TooManyRequests {
                retry_after_secs: secs,
                message: format!(
                    "Trop de tentatives depuis votre connexion. Réessayez dans {} minute(s).",
                    secs.div_ceil(60)
                ),
            }));
        }
    }
    let loaded = match load(&page, &form.jeton).await? {
        Ok(l) => l,
        Err(problem) => {
            return render_status(
                StatusCode::GONE,
                &accept_page(
                    &page,
                    &form.jeton,
                    Err(problem),
                    Mode::NewAccount,
                    Fields::new(),
                ),
            );
        }
    };
    let mode = mode_of(&page, &loaded).await?;
    let siren = loaded.org.siren.clone();
    let gone = |problem: LinkProblem| {
        render_status(
            StatusCode::GONE,
            &accept_page(
                &page,
                &form.jeton,
                Err(problem),
                Mode::NewAccount,
                Fields::new(),
            ),
        )
    };
    let cookie = match mode {
        Mode::NewAccount => {
            let mut f = Fields::new().with("display_name", &form.display_name);
            if form.display_name.trim().is_empty() {
                f.error("display_name", "Indiquez votre prénom et votre nom.");
            }
            if let Err(m) =
                accounts::check_password_policy(&form.password, Some(&loaded.invitation.email))
            {
                f.error("password", m);
            } else if form.password != form.confirmation {
                f.error(
                    "confirmation",
                    "Les deux mots de passe ne sont pas identiques.",
                );
            }
            if f.has_errors() {
                return render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &accept_page(&page, &form.jeton, Ok(&loaded), mode, f),
                );
            }
            let password = form.password.clone();
            let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
                .await
                .map_err(AppError::internal)??;
            let email = Email::parse(&loaded.invitation.email)
                .map_err(|_| WebError(AppError::internal("adresse d'invitation illisible")))?;
            let org_id = loaded.org.id()?;
            let mut tx = p.db.begin().await?;
            let applicant = AuditActor {
                user_id: None,
                label: form.display_name.trim().to_owned(),
            };
            let user_id = match accounts::create_user(
                &mut tx,
                now,
                &email,
                &form.display_name,
                Some(&hash),
                Some(org_id),
                &applicant,
            )
            .await
            {
                Ok(id) => id,
                Err(e) => {
                    drop(tx);
                    let mut f = f;
                    f.absorb(AppError::from(e)).map_err(WebError)?;
                    // Created meanwhile (another tab): the person signs in instead.
                    let mode = if f.error_for("email").is_some() {
                        f = Fields::new();
                        Mode::SignIn
                    } else {
                        Mode::NewAccount
                    };
                    return render_status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &accept_page(&page, &form.jeton, Ok(&loaded), mode, f),
                    );
                }
            };
            let user = accounts::get_user(&mut tx, user_id)
                .await?
                .ok_or(WebError(AppError::NotFound))?;
            if let Err(problem) =
                invitations::accept(&mut tx, now, &form.jeton, user_id, &user.audit_actor()).await?
            {
                drop(tx);
                return gone(problem);
            }
            let cookie = open_session(&mut tx, now, &user, &ip, ua.as_deref()).await?;
            accounts::throttle_forgive(&mut tx, &throttle_key).await?;
            tx.commit().await?;
            Some(cookie)
        }
        Mode::Accept => {
            let Some(me) = page.identity.as_ref() else {
                return Err(WebError(AppError::Unauthenticated));
            };
            let mut tx = p.db.begin().await?;
            if let Err(problem) =
                invitations::accept(&mut tx, now, &form.jeton, me.user_id, &me.audit_actor())
                    .await?
            {
                drop(tx);
                return gone(problem);
            }
            accounts::throttle_forgive(&mut tx, &throttle_key).await?;
            tx.commit().await?;
            None
        }
        Mode::SignIn | Mode::WrongAccount { .. } | Mode::AlreadyMember => {
            // Nothing to do from here: the page says what to do (sign in, sign out, go).
            return render_status(
                StatusCode::FORBIDDEN,
                &accept_page(&page, &form.jeton, Ok(&loaded), mode, Fields::new()),
            );
        }
    };
    let mut response = flash::set(
        see_other(&format!("/o/{siren}/")),
        "invitation-acceptee",
        page.secure(),
    );
    if let Some(cookie) = cookie
        && let Some(v) = cookies::set(cookies::SESSION, &cookie, page.secure(), None)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
