//! A company creates its own account (`/inscription-entreprise`), confirmed by e-mail.
//!
//! The form answers the same whether or not the address already has an account, so that it
//! cannot be used to find out who has one: that person gets an e-mail saying so instead of a
//! confirmation link. Confirming creates the company, the account and its access, unless the
//! company already has a space (anyone can type a SIRET): its administrator invites
//! colleagues instead.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bouquet_kernel::{AppError, Email, Siret};
use bouquet_store::accounts;
use bouquet_store::signups::{self, Confirmed, NewSignup, SignupRow};
use bouquet_webkit::forms::{Fields, Form, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{PageCtx, WebError, WebResult, cookies, flash, render};
use serde::Deserialize;

use super::{ClientIp, UserAgent};
use crate::account_links::{queue_account_exists, queue_signup};
use crate::login::open_session;

/// Requests allowed per address and window (the form hashes a password and sends e-mail).
const THROTTLE_MAX: i32 = 10;

#[derive(Template)]
#[template(path = "company_signup.html")]
struct SignupPage {
    chrome: Chrome,
    f: Fields,
    /// After a request: the address the e-mail went to.
    sent_to: Option<String>,
}

fn signup_page(page: &PageCtx, f: Fields, sent_to: Option<String>) -> SignupPage {
    SignupPage {
        chrome: page
            .chrome("Créer le compte de votre entreprise", None)
            .with_errors(f.has_errors()),
        f,
        sent_to,
    }
}

pub async fn form(page: PageCtx) -> WebResult<Response> {
    render(&signup_page(&page, Fields::new(), None))
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    siret: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
    #[serde(default)]
    conditions: String,
}

fn plain_text(value: &str, max: usize) -> bool {
    let v = value.trim();
    !v.is_empty() && v.chars().count() <= max && !v.chars().any(char::is_control)
}

pub async fn submit(
    page: PageCtx,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignupForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let mut f = Fields::new()
        .with("siret", &form.siret)
        .with("company_name", &form.company_name)
        .with("display_name", &form.display_name)
        .with("email", &form.email);
    let siret = match Siret::parse(&form.siret) {
        Ok(s) => Some(s),
        Err(e) => {
            f.error("siret", e.0);
            None
        }
    };
    if siret.as_ref().is_some_and(|s| s.siren().is_err()) {
        f.error(
            "siret",
            "Les 9 premiers chiffres de ce SIRET ne forment pas un SIREN valide. Vérifiez-les.",
        );
    }
    if !plain_text(&form.company_name, 200) {
        f.error(
            "company_name",
            "Indiquez la raison sociale de l'entreprise (200 caractères au plus).",
        );
    }
    if !plain_text(&form.display_name, 120) {
        f.error(
            "display_name",
            "Indiquez votre prénom et votre nom (120 caractères au plus).",
        );
    }
    let email = match Email::parse(&form.email) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.0);
            None
        }
    };
    if let Err(m) = accounts::check_password_policy(&form.password, Some(&form.email)) {
        f.error("password", m);
    } else if form.password != form.confirmation {
        f.error(
            "confirmation",
            "Les deux mots de passe ne sont pas identiques.",
        );
    }
    if form.conditions != "oui" {
        f.error(
            "conditions",
            "Pour créer le compte, acceptez les conditions d'utilisation de la plateforme.",
        );
    }
    let (Some(siret), Some(email), false) = (siret, email, f.has_errors()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &signup_page(&page, f, None),
        );
    };
    let now = p.clock.now();
    {
        // Every request counts, so that the form cannot flood a mailbox or the CPU.
        let mut tx = p.db.begin().await?;
        let wait =
            accounts::throttle_attempt(&mut tx, now, &format!("inscription:{ip}"), THROTTLE_MAX)
                .await?;
        tx.commit().await?;
        if let Some(secs) = wait {
            return Err(WebError(AppError::TooManyRequests {
                retry_after_secs: secs,
                message: format!(
                    "Trop de demandes d'inscription depuis votre connexion. Réessayez dans {} minute(s).",
                    secs.div_ceil(60)
                ),
            }));
        }
    }
    // Hashed whether or not the address has an account: the answer takes as long either way.
    let password = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(AppError::internal)??;
    let new = NewSignup {
        email: &email,
        display_name: &form.display_name,
        siret: &siret,
        company_name: &form.company_name,
        password_hash: &hash,
    };
    let mut tx = p.db.begin().await?;
    match accounts::find_by_email(&mut tx, &email).await? {
        Some(existing) => {
            signups::requested(&mut tx, now, &new, &existing.id, true).await?;
            queue_account_exists(&mut tx, p, email.as_str(), &existing.display_name).await?;
        }
        None => {
            let id = signups::create(&mut tx, now, &new).await?;
            queue_signup(&mut tx, p, &id).await?;
        }
    }
    tx.commit().await?;
    p.wake_workers();
    render(&signup_page(
        &page,
        Fields::new(),
        Some(email.as_str().to_owned()),
    ))
}

// ---------------------------------------------------------------------------------------
// Confirmation

#[derive(Template)]
#[template(path = "company_signup_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    token: String,
    /// The request, when the link works.
    signup: Option<SignupView>,
    /// Why nothing can be (or was) created.
    problem: Option<String>,
}

struct SignupView {
    company_name: String,
    siret: String,
    display_name: String,
    email: String,
}

fn signup_view(s: &SignupRow) -> SignupView {
    SignupView {
        company_name: s.company_name.clone(),
        siret: s.siret.clone(),
        display_name: s.display_name.clone(),
        email: s.email.clone(),
    }
}

const COMPANY_EXISTS: &str =
    "Votre entreprise a déjà un espace : demandez à son administrateur de vous inviter.";
const ACCOUNT_EXISTS: &str = "Un compte existe déjà avec cette adresse électronique : connectez-vous avec lui, ou demandez un nouveau mot de passe avec « Mot de passe oublié ».";

fn confirm_page(
    page: &PageCtx,
    token: &str,
    signup: Option<SignupView>,
    problem: Option<String>,
) -> ConfirmPage {
    ConfirmPage {
        chrome: page
            .chrome("Confirmer l'inscription", None)
            .with_errors(problem.is_some()),
        token: token.to_owned(),
        signup,
        problem,
    }
}

#[derive(Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    jeton: String,
}

/// Shows what the link will create, with one button: mail scanners that open links must not
/// create the account (and its session) before the person does.
pub async fn confirm_form(page: PageCtx, Params(q): Params<TokenParam>) -> WebResult<Response> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    match signups::check(&mut conn, p.clock.now(), &q.jeton).await? {
        Ok(signup) => render(&confirm_page(
            &page,
            &q.jeton,
            Some(signup_view(&signup)),
            None,
        )),
        Err(problem) => render_status(
            StatusCode::GONE,
            &confirm_page(&page, &q.jeton, None, Some(problem.message().into())),
        ),
    }
}

pub async fn confirm(
    page: PageCtx,
    ClientIp(ip): ClientIp,
    UserAgent(ua): UserAgent,
    Form(form): Form<TokenParam>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    let outcome = signups::confirm(&mut tx, now, &form.jeton).await?;
    let refused = |status: StatusCode, problem: &str| {
        render_status(
            status,
            &confirm_page(&page, &form.jeton, None, Some(problem.to_owned())),
        )
    };
    let (siren, user) = match outcome {
        Confirmed::Registered { siren, user, .. } => (siren, user),
        // Nothing is kept: the transaction is rolled back.
        Confirmed::Link(problem) => {
            drop(tx);
            return refused(StatusCode::GONE, problem.message());
        }
        Confirmed::CompanyExists => {
            drop(tx);
            return refused(StatusCode::CONFLICT, COMPANY_EXISTS);
        }
        Confirmed::AccountExists => {
            drop(tx);
            return refused(StatusCode::CONFLICT, ACCOUNT_EXISTS);
        }
    };
    let user = accounts::get_user(&mut tx, user)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    let cookie = open_session(&mut tx, now, &user, &ip, ua.as_deref()).await?;
    tx.commit().await?;
    let mut response = flash::set(
        see_other(&format!("/o/{siren}/")),
        "entreprise-inscrite",
        page.secure(),
    );
    if let Some(v) = cookies::set(cookies::SESSION, &cookie, page.secure(), None) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}
