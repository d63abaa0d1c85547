//! The operator's administration: accounts, organisations, jobs, journal, e-mails (demo).

use askama::Template;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bouquet_kernel::clock::time_zone;
use bouquet_kernel::org::DEFAULT_TIME_ZONE;
use bouquet_kernel::policy::PlatformAction;
use bouquet_kernel::{AppError, Email, OrgKind, Role, RoleSet, Siren, UserId};
use bouquet_store::accounts;
use bouquet_store::audit;
use bouquet_store::jobs::{self, JobStatus};
use bouquet_store::mail;
use bouquet_store::orgs::{self, OrgFilter};
use bouquet_store::page::Cursor;
use bouquet_webkit::forms::{Fields, Form, FormPairs, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{CurrentUser, Identity, PageCtx, WebError, WebResult, flash, render};
use serde::Deserialize;

use crate::links::{Purpose, queue_password_link};
use bouquet_webkit::views;

fn require(identity: &Identity, action: PlatformAction) -> WebResult<()> {
    identity.require(action)
}

fn admin_chrome(page: &PageCtx, title: &str) -> Chrome {
    page.admin_chrome(title)
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexPage {
    chrome: Chrome,
    orgs: String,
    users: String,
    dead: i64,
    pending: i64,
    events: String,
    demo: bool,
    is_admin: bool,
    cards: Vec<bouquet_webkit::AdminCard>,
}

pub async fn index(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    require(&identity, PlatformAction::ReadAllMembers)?;
    let mut cards = Vec::new();
    for module in &page.state.modules {
        cards.extend(module.admin_cards(&page.state, &identity).await?);
    }
    cards.sort_by_key(|c| c.order);
    let mut conn = page.state.platform.db.read().await?;
    let counts = jobs::counts(&mut conn).await?;
    let count_of = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    render(&IndexPage {
        chrome: admin_chrome(&page, "Administration"),
        orgs: views::count(
            orgs::count(&mut conn).await?,
            "organisation",
            "organisations",
            "aucune organisation",
        ),
        users: views::count(
            accounts::count_users(&mut conn).await?,
            "compte",
            "comptes",
            "aucun compte",
        ),
        dead: count_of("dead"),
        pending: count_of("pending"),
        events: views::count(
            audit::count(&mut conn, None).await?,
            "événement",
            "événements",
            "aucun événement",
        ),
        demo: page.state.platform.settings.demo,
        is_admin: identity.actor.is_operator_admin(),
        cards,
    })
}

// ---------------------------------------------------------------------------------------
// Accounts

pub struct UserLine {
    pub id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub last_login: String,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    type_: String,
    curseur: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    query: String,
    users: Vec<UserLine>,
    next: Option<String>,
    is_admin: bool,
}

pub async fn users(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<SearchQuery>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::ReadAllMembers)?;
    let tz = time_zone(DEFAULT_TIME_ZONE);
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = page.state.platform.db.read().await?;
    let query = Some(q.q.as_str()).filter(|s| !s.trim().is_empty());
    let result = accounts::list_users(&mut conn, query, cursor.as_ref(), 50).await?;
    render(&UsersPage {
        chrome: admin_chrome(&page, "Comptes"),
        query: q.q.clone(),
        users: result
            .items
            .iter()
            .map(|u| UserLine {
                id: u.id.clone(),
                name: u.display_name.clone(),
                email: u.email.clone(),
                active: u.active,
                last_login: views::at_opt(u.last_login_at, &tz),
            })
            .collect(),
        next: views::next_page(&page.path, &page.query, result.next.as_deref()),
        is_admin: identity.actor.is_operator_admin(),
    })
}

#[derive(Template)]
#[template(path = "admin/user_new.html")]
struct NewUserPage {
    chrome: Chrome,
    f: Fields,
    roles: Vec<(&'static str, &'static str, bool)>,
}

fn new_user_page(page: &PageCtx, f: Fields, held: RoleSet) -> NewUserPage {
    NewUserPage {
        chrome: admin_chrome(page, "Nouveau compte").with_errors(f.has_errors()),
        f,
        roles: Role::ALL
            .into_iter()
            .map(|r| (r.code(), r.label(), held.contains(r)))
            .collect(),
    }
}

pub async fn new_user_form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
) -> WebResult<Response> {
    require(&identity, PlatformAction::Administer)?;
    render(&new_user_page(
        &page,
        Fields::new(),
        RoleSet::empty().with(Role::Agent),
    ))
}

/// Creates an account in an organisation and e-mails an invitation to choose its password.
pub async fn create_user(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    FormPairs(pairs): FormPairs,
) -> WebResult<Response> {
    require(&identity, PlatformAction::Administer)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    let mut roles = RoleSet::empty();
    for (k, v) in &pairs {
        match k.as_str() {
            "roles" => match v.parse::<Role>() {
                Ok(r) => roles.insert(r),
                Err(_) => f.error("roles", "Rôle inconnu."),
            },
            "email" | "display_name" | "siren" | "title" => f.set(k, v),
            _ => {}
        }
    }
    let email = match Email::parse(f.value("email")) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.0);
            None
        }
    };
    if f.value("display_name").trim().is_empty() {
        f.error("display_name", "Indiquez le prénom et le nom.");
    }
    let mut conn = p.db.read().await?;
    let org = match Siren::parse(f.value("siren")) {
        Ok(siren) => match orgs::get_by_siren(&mut conn, &siren).await? {
            Some(o) => Some(o),
            None => {
                f.error(
                    "siren",
                    "Aucune organisation de la plateforme n'a ce SIREN.",
                );
                None
            }
        },
        Err(e) => {
            f.error("siren", e.0);
            None
        }
    };
    drop(conn);
    if roles.is_empty() {
        f.error("roles", "Choisissez au moins un rôle.");
    }
    if let Some(o) = &org {
        let allowed = Role::assignable_in(o.kind()?);
        if let Some(bad) = roles.iter().find(|r| !allowed.contains(r)) {
            f.error(
                "roles",
                format!(
                    "Le rôle « {} » ne peut pas être donné dans cette organisation ({}).",
                    bad.label(),
                    o.kind_label()
                ),
            );
        }
    }
    let (Some(email), Some(org), false) = (email, org, f.has_errors()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_user_page(&page, f, roles),
        );
    };
    let now = p.clock.now();
    let org_id = org.id()?;
    let actor = identity.audit_actor();
    let mut tx = p.db.begin().await?;
    let created = accounts::create_user(
        &mut tx,
        now,
        &email,
        f.value("display_name"),
        None,
        Some(org_id),
        &actor,
    )
    .await;
    let user_id = match created {
        Ok(id) => id,
        Err(e) => {
            drop(tx);
            f.absorb(AppError::from(e)).map_err(WebError)?;
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &new_user_page(&page, f, roles),
            );
        }
    };
    let title = f.value("title").to_owned();
    accounts::grant(&mut tx, now, user_id, org_id, roles, Some(&title), &actor).await?;
    let purpose = Purpose::Invitation {
        by: identity.user.display_name.clone(),
        org_name: org.name.clone(),
    };
    queue_password_link(&mut tx, p, user_id, purpose, &actor).await?;
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other(&format!("/admin/utilisateurs/{user_id}")),
        "compte-cree",
        page.secure(),
    ))
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    chrome: Chrome,
    id: String,
    name: String,
    email: String,
    active: bool,
    created: String,
    last_login: String,
    memberships: Vec<(String, String, String)>,
    followed: Vec<(String, String)>,
    is_admin: bool,
    is_self: bool,
}

async fn load_user(page: &PageCtx, id: &str) -> WebResult<(UserId, accounts::UserRow)> {
    let user_id: UserId = id.parse().map_err(|_| WebError(AppError::NotFound))?;
    let mut conn = page.state.platform.db.read().await?;
    let user = accounts::get_user(&mut conn, user_id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    Ok((user_id, user))
}

pub async fn user(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::ReadAllMembers)?;
    let (user_id, user) = load_user(&page, &id).await?;
    let tz = time_zone(DEFAULT_TIME_ZONE);
    let mut conn = page.state.platform.db.read().await?;
    let memberships = accounts::memberships(&mut conn, user_id).await?;
    let followed = accounts::followed(&mut conn, user_id).await?;
    render(&UserPage {
        chrome: page
            .chrome(&user.display_name, None)
            .crumb("Administration", Some("/admin".into()))
            .crumb("Comptes", Some("/admin/utilisateurs".into()))
            .crumb(user.display_name.clone(), None),
        id: user.id.clone(),
        name: user.display_name.clone(),
        email: user.email.clone(),
        active: user.active,
        created: views::at(user.created_at, &tz),
        last_login: views::at_opt(user.last_login_at, &tz),
        memberships: memberships
            .iter()
            .map(|m| (m.siren.clone(), m.name.clone(), views::roles(m.roles())))
            .collect(),
        followed: followed
            .iter()
            .map(|m| (m.siren.clone(), m.name.clone()))
            .collect(),
        is_admin: identity.actor.is_operator_admin(),
        is_self: user_id == identity.user_id,
    })
}

#[derive(Template)]
#[template(path = "admin/user_active.html")]
struct ActivePage {
    chrome: Chrome,
    id: String,
    name: String,
    activate: bool,
}

pub async fn active_confirm(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::Administer)?;
    let (_, user) = load_user(&page, &id).await?;
    let title = if user.active {
        "Désactiver le compte"
    } else {
        "Réactiver le compte"
    };
    render(&ActivePage {
        chrome: page
            .chrome(title, None)
            .crumb("Administration", Some("/admin".into()))
            .crumb("Comptes", Some("/admin/utilisateurs".into()))
            .crumb(
                user.display_name.clone(),
                Some(format!("/admin/utilisateurs/{id}")),
            )
            .crumb(title, None),
        id: user.id.clone(),
        name: user.display_name.clone(),
        activate: !user.active,
    })
}

#[derive(Deserialize)]
pub struct Confirm {}

#[derive(Deserialize)]
pub struct StateForm {
    /// `actif` or `desactive`: the state wanted, not a toggle (a resubmitted form must not
    /// flip the account back).
    #[serde(default)]
    etat: String,
}

pub async fn set_active(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<StateForm>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::Administer)?;
    let active = match form.etat.as_str() {
        "actif" => true,
        "desactive" => false,
        _ => {
            return Err(WebError(AppError::BadRequest(
                "Le formulaire ne dit pas s'il faut activer ou désactiver le compte.".into(),
            )));
        }
    };
    let (user_id, _) = load_user(&page, &id).await?;
    if user_id == identity.user_id {
        return Err(WebError(AppError::Conflict(
            "Vous ne pouvez pas désactiver votre propre compte.".into(),
        )));
    }
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    let changed = accounts::set_active(
        &mut tx,
        p.clock.now(),
        user_id,
        active,
        &identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    let code = match (changed, active) {
        (false, _) => "compte-deja-dans-cet-etat",
        (true, true) => "compte-reactive",
        (true, false) => "compte-desactive",
    };
    Ok(flash::set(
        see_other(&format!("/admin/utilisateurs/{id}")),
        code,
        page.secure(),
    ))
}

/// Sends the person a link to choose a new password (support).
pub async fn send_reset(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::Administer)?;
    let (user_id, user) = load_user(&page, &id).await?;
    if !user.active {
        return Err(WebError(AppError::Conflict(
            "Ce compte est désactivé : réactivez-le d'abord.".into(),
        )));
    }
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    let purpose = Purpose::ResetBy {
        by: identity.user.display_name.clone(),
    };
    queue_password_link(&mut tx, p, user_id, purpose, &identity.audit_actor()).await?;
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other(&format!("/admin/utilisateurs/{id}")),
        "lien-envoye",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Organisations

pub struct OrgLine {
    pub siren: String,
    pub name: String,
    pub kind: &'static str,
    pub departement: String,
    pub population: String,
}

#[derive(Template)]
#[template(path = "admin/orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    query: String,
    kinds: Vec<(&'static str, &'static str, bool)>,
    orgs: Vec<OrgLine>,
    next: Option<String>,
}

pub async fn organisations(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<SearchQuery>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::ReadAllMembers)?;
    let kind: Option<OrgKind> = q.type_.parse().ok();
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = page.state.platform.db.read().await?;
    let filter = OrgFilter {
        query: Some(q.q.clone()).filter(|s| !s.trim().is_empty()),
        kind,
    };
    let result = orgs::list(&mut conn, &filter, cursor.as_ref(), 50).await?;
    render(&OrgsPage {
        chrome: admin_chrome(&page, "Organisations"),
        query: q.q.clone(),
        kinds: OrgKind::ALL
            .into_iter()
            .map(|k| (k.code(), k.label(), Some(k) == kind))
            .collect(),
        orgs: result
            .items
            .iter()
            .map(|o| OrgLine {
                siren: o.siren.clone(),
                name: o.name.clone(),
                kind: o.kind_label(),
                departement: o.departement.clone().unwrap_or_default(),
                population: o.population.map_or_else(|| "—".into(), views::thousands),
            })
            .collect(),
        next: views::next_page(&page.path, &page.query, result.next.as_deref()),
    })
}

// ---------------------------------------------------------------------------------------
// Jobs

pub struct JobLine {
    pub id: String,
    pub kind: String,
    pub status: &'static str,
    pub status_code: &'static str,
    pub attempts: String,
    pub run_at: String,
    pub error: String,
    pub dead: bool,
}

#[derive(Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    statut: String,
    curseur: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    statuses: Vec<(&'static str, &'static str, bool)>,
    jobs: Vec<JobLine>,
    next: Option<String>,
}

pub async fn jobs_page(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<JobsQuery>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::ManageJobs)?;
    let tz = time_zone(DEFAULT_TIME_ZONE);
    let status = JobStatus::parse(&q.statut);
    let cursor = q.curseur.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = page.state.platform.db.read().await?;
    let result = jobs::list(&mut conn, status, None, cursor.as_ref(), 50).await?;
    render(&JobsPage {
        chrome: admin_chrome(&page, "Tâches de fond"),
        statuses: JobStatus::ALL
            .into_iter()
            .map(|s| (s.code(), s.label(), Some(s) == status))
            .collect(),
        jobs: result
            .items
            .iter()
            .map(|j| {
                let s = j.status().unwrap_or(JobStatus::Pending);
                JobLine {
                    id: j.id.clone(),
                    kind: j.kind.clone(),
                    status: s.label(),
                    status_code: s.code(),
                    attempts: format!("{} / {}", j.attempts, j.max_attempts),
                    run_at: views::at(j.run_at, &tz),
                    error: j.last_error.clone().unwrap_or_default(),
                    dead: s == JobStatus::Dead,
                }
            })
            .collect(),
        next: views::next_page(&page.path, &page.query, result.next.as_deref()),
    })
}

pub async fn retry_job(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    require(&identity, PlatformAction::ManageJobs)?;
    let p = &page.state.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    if jobs::get(&mut tx, &id).await?.is_none() {
        return Err(WebError(AppError::NotFound));
    }
    if !jobs::retry(&mut tx, now, &id, &identity.audit_actor()).await? {
        return Err(WebError(AppError::Conflict(
            "Seule une tâche en échec peut être relancée.".into(),
        )));
    }
    tx.commit().await?;
    p.wake_workers();
    Ok(flash::set(
        see_other("/admin/taches?statut=dead"),
        "tache-relancee",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// E-mails (demo only: in production this page would expose password reset links)

#[derive(Template)]
#[template(path = "admin/emails.html")]
struct EmailsPage {
    chrome: Chrome,
    mails: Vec<mail::SentMail>,
}

/// The mails written so far, their dates shown in French (Europe/Paris).
fn sent_mails(dir: &std::path::Path) -> WebResult<Vec<mail::SentMail>> {
    let tz = time_zone(DEFAULT_TIME_ZONE);
    let mut mails = mail::list_sent(dir).map_err(AppError::internal)?;
    for m in &mut mails {
        if let Ok(t) = m.sent_at.parse::<jiff::Timestamp>() {
            m.sent_at = bouquet_kernel::clock::format_fr(t, &tz);
        }
    }
    Ok(mails)
}

fn emails_dir(page: &PageCtx) -> WebResult<std::path::PathBuf> {
    if !page.state.platform.settings.demo {
        return Err(WebError(AppError::NotFound));
    }
    Ok(page.state.platform.settings.data_dir.join("emails"))
}

pub async fn emails(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    let dir = emails_dir(&page)?;
    require(&identity, PlatformAction::Administer)?;
    let mails = sent_mails(&dir)?;
    render(&EmailsPage {
        chrome: admin_chrome(&page, "E-mails envoyés"),
        mails,
    })
}

#[derive(Template)]
#[template(path = "admin/email.html")]
struct EmailPage {
    chrome: Chrome,
    mail: mail::SentMail,
    parts: Vec<(bool, String)>,
}

/// The text split into plain parts and links, so that links are clickable and the rest is
/// escaped.
fn linkify(text: &str) -> Vec<(bool, String)> {
    let mut parts: Vec<(bool, String)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            parts.push((false, "\n".into()));
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                parts.push((false, " ".into()));
            }
            let is_link = word.starts_with("http://") || word.starts_with("https://");
            parts.push((is_link, word.to_owned()));
        }
    }
    parts
}

pub async fn email(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let dir = emails_dir(&page)?;
    require(&identity, PlatformAction::Administer)?;
    let mail = sent_mails(&dir)?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(WebError(AppError::NotFound))?;
    render(&EmailPage {
        chrome: page
            .chrome(&mail.subject, None)
            .crumb("Administration", Some("/admin".into()))
            .crumb("E-mails envoyés", Some("/admin/courriels".into()))
            .crumb(mail.subject.clone(), None),
        parts: linkify(&mail.text),
        mail,
    })
}

pub async fn email_raw(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let dir = emails_dir(&page)?;
    require(&identity, PlatformAction::Administer)?;
    let raw = mail::read_eml(&dir, &id).map_err(|_| WebError(AppError::NotFound))?;
    let mut response = raw.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.eml\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
