//! The person's own profile: identity, organisations, password, personal API tokens.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::AppError;
use bouquet_kernel::clock::time_zone;
use bouquet_kernel::org::DEFAULT_TIME_ZONE;
use bouquet_store::accounts::{self, TokenKind};
use bouquet_webkit::forms::{Fields, Form};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{CurrentUser, PageCtx, WebError, WebResult, flash, render};
use jiff::SignedDuration;
use serde::Deserialize;

use bouquet_webkit::views;

pub struct OrgLine {
    pub siren: String,
    pub name: String,
    pub roles: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    name: String,
    email: String,
    orgs: Vec<OrgLine>,
    followed: Vec<OrgLine>,
    last_login: String,
    f: Fields,
}

fn profile_page(page: &PageCtx, identity: &bouquet_webkit::Identity, f: Fields) -> ProfilePage {
    let tz = time_zone(DEFAULT_TIME_ZONE);
    ProfilePage {
        chrome: page.chrome("Mon profil", None).with_errors(f.has_errors()),
        name: identity.user.display_name.clone(),
        email: identity.user.email.clone(),
        orgs: identity
            .memberships
            .iter()
            .map(|m| OrgLine {
                siren: m.siren.clone(),
                name: m.name.clone(),
                roles: views::roles(m.roles()),
                title: m.title.clone().unwrap_or_default(),
            })
            .collect(),
        followed: identity
            .followed
            .iter()
            .map(|m| OrgLine {
                siren: m.siren.clone(),
                name: m.name.clone(),
                roles: "Référent numérique (lecture)".into(),
                title: String::new(),
            })
            .collect(),
        last_login: views::at_opt(identity.user.last_login_at, &tz),
        f,
    }
}

pub async fn show(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    render(&profile_page(&page, &identity, Fields::new()))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

pub async fn change_password(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Form(form): Form<PasswordForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let stored = identity.user.password_hash.clone().unwrap_or_default();
    let current = form.current.clone();
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&current, &stored))
        .await
        .map_err(AppError::internal)?;
    let mut f = Fields::new();
    if !ok {
        f.error("current", "Le mot de passe actuel est incorrect.");
    }
    if let Err(m) = accounts::check_password_policy(&form.password, Some(&identity.user.email)) {
        f.error("password", m);
    } else if form.password != form.confirmation {
        f.error(
            "confirmation",
            "Les deux mots de passe ne sont pas identiques.",
        );
    } else if form.password == form.current {
        f.error(
            "password",
            "Le nouveau mot de passe doit être différent de l'actuel.",
        );
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &profile_page(&page, &identity, f),
        );
    }
    let password = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(AppError::internal)??;
    let mut tx = p.db.begin().await?;
    accounts::set_password(
        &mut tx,
        p.clock.now(),
        identity.user_id,
        &hash,
        identity.session_hash(),
        "user.password_changed",
        &identity.audit_actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other("/profil"),
        "mot-de-passe-modifie",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Personal API tokens

pub struct TokenLine {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenLine>,
    f: Fields,
    created: Option<(String, String)>,
}

async fn tokens_page(
    page: &PageCtx,
    identity: &bouquet_webkit::Identity,
    f: Fields,
    created: Option<(String, String)>,
) -> WebResult<TokensPage> {
    let tz = time_zone(DEFAULT_TIME_ZONE);
    let mut conn = page.state.platform.db.read().await?;
    let tokens = accounts::personal_tokens(&mut conn, identity.user_id).await?;
    Ok(TokensPage {
        chrome: page
            .chrome("Jetons d'accès à l'API", None)
            .with_errors(f.has_errors())
            .crumb("Mon profil", Some("/profil".into()))
            .crumb("Jetons d'accès à l'API", None),
        tokens: tokens
            .iter()
            .map(|t| TokenLine {
                id: t.id.clone(),
                name: t.name.clone(),
                prefix: t.prefix.clone(),
                created: views::at(t.created_at, &tz),
                expires: t
                    .expires_at
                    .map_or_else(|| "jamais".into(), |e| views::at(e, &tz)),
                last_used: views::at_opt(t.last_used_at, &tz),
            })
            .collect(),
        f,
        created,
    })
}

pub async fn tokens(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    render(&tokens_page(&page, &identity, Fields::new(), None).await?)
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    duree: String,
}

/// Lifetimes offered for personal tokens.
pub fn lifetime(choice: &str) -> Option<Option<SignedDuration>> {
    match choice {
        "30" => Some(Some(SignedDuration::from_hours(24 * 30))),
        "90" => Some(Some(SignedDuration::from_hours(24 * 90))),
        "365" => Some(Some(SignedDuration::from_hours(24 * 365))),
        "illimitee" => Some(None),
        _ => None,
    }
}

pub async fn create_token(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Form(form): Form<NewTokenForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let now = p.clock.now();
    let mut f = Fields::new().with("name", &form.name);
    let Some(ttl) = lifetime(&form.duree) else {
        f.error("duree", "Choisissez une durée de validité.");
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &tokens_page(&page, &identity, f, None).await?,
        );
    };
    let mut tx = p.db.begin().await?;
    let expires = ttl.and_then(|d| now.saturating_add(d).ok());
    match accounts::create_token(
        &mut tx,
        now,
        identity.user_id,
        TokenKind::Personal,
        &form.name,
        expires,
        &identity.audit_actor(),
    )
    .await
    {
        Ok((_, plain)) => {
            tx.commit().await?;
            render(
                &tokens_page(
                    &page,
                    &identity,
                    Fields::new(),
                    Some((form.name.trim().to_owned(), plain)),
                )
                .await?,
            )
        }
        Err(e) => {
            drop(tx);
            f.absorb(AppError::from(e)).map_err(WebError)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &tokens_page(&page, &identity, f, None).await?,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "token_revoke.html")]
struct RevokePage {
    chrome: Chrome,
    id: String,
    name: String,
}

async fn own_token(
    page: &PageCtx,
    identity: &bouquet_webkit::Identity,
    id: &str,
) -> WebResult<accounts::TokenRow> {
    let mut conn = page.state.platform.db.read().await?;
    accounts::personal_tokens(&mut conn, identity.user_id)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(WebError(AppError::NotFound))
}

pub async fn revoke_confirm(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let token = own_token(&page, &identity, &id).await?;
    render(&RevokePage {
        chrome: page
            .chrome("Révoquer un jeton", None)
            .crumb("Mon profil", Some("/profil".into()))
            .crumb("Jetons d'accès à l'API", Some("/profil/jetons".into()))
            .crumb("Révoquer", None),
        id: token.id,
        name: token.name,
    })
}

#[derive(Deserialize)]
pub struct Confirm {}

pub async fn revoke(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(id): Path<String>,
    Form(_): Form<Confirm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let mut tx = p.db.begin().await?;
    if !accounts::revoke_token(
        &mut tx,
        p.clock.now(),
        identity.user_id,
        &id,
        &identity.audit_actor(),
    )
    .await?
    {
        return Err(WebError(AppError::NotFound));
    }
    tx.commit().await?;
    Ok(flash::set(
        see_other("/profil/jetons"),
        "jeton-revoque",
        page.secure(),
    ))
}
