//! Signing in and out, and resetting a forgotten password. No htmx here: security flows are
//! plain forms.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bouquet_kernel::{AppError, Email};
use bouquet_store::accounts::{self, ResetProblem};
use bouquet_store::audit::{self, NewEvent};
use bouquet_webkit::forms::{Fields, Form, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{PageCtx, WebError, WebResult, cookies, flash, render};
use serde::Deserialize;

use super::{ClientIp, UserAgent};
use crate::links::{Purpose, queue_password_link};
use crate::login::{Channel, Checked, check_credentials, open_session, wait_message};
use bouquet_webkit::views::safe_next;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    f: Fields,
    suite: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    suite: Option<String>,
}

pub async fn login_form(page: PageCtx, Params(q): Params<NextQuery>) -> WebResult<Response> {
    if page.identity.is_some() {
        return Ok(see_other(&safe_next(q.suite.as_deref())));
    }
    render(&LoginPage {
        chrome: page.chrome("Connexion", None),
        f: Fields::new(),
        suite: safe_next(q.suite.as_deref()),
        problem: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    suite: String,
}

const WRONG: &str = "Adresse électronique ou mot de passe incorrect. Vérifiez-les, ou utilisez « Mot de passe oublié ».";

pub async fn login(
    page: PageCtx,
    ClientIp(ip): ClientIp,
    UserAgent(ua): UserAgent,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let suite = safe_next(Some(&form.suite));
    let mut f = Fields::new().with("email", &form.email);
    if form.email.trim().is_empty() {
        f.error("email", "Saisissez votre adresse électronique.");
    }
    if form.password.is_empty() {
        f.error("password", "Saisissez votre mot de passe.");
    }
    let show = |f: Fields, problem: Option<String>, status: StatusCode| -> WebResult<Response> {
        let has_errors = f.has_errors() || problem.is_some();
        render_status(
            status,
            &LoginPage {
                chrome: page.chrome("Connexion", None).with_errors(has_errors),
                f,
                suite: suite.clone(),
                problem,
            },
        )
    };
    if f.has_errors() {
        return show(f, None, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let user = match check_credentials(p, &form.email, &form.password, &ip, Channel::Page).await? {
        Checked::Accepted(user) => user,
        Checked::Refused => return show(f, Some(WRONG.into()), StatusCode::UNPROCESSABLE_ENTITY),
        Checked::Throttled(secs) => {
            let mut response = show(f, Some(wait_message(secs)), StatusCode::TOO_MANY_REQUESTS)?;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(response);
        }
    };
    let mut tx = p.db.begin().await?;
    let cookie = open_session(&mut tx, p.clock.now(), &user, &ip, ua.as_deref()).await?;
    tx.commit().await?;
    let mut response = see_other(&suite);
    if let Some(v) = cookies::set(cookies::SESSION, &cookie, page.secure(), None) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

pub async fn logout(page: PageCtx) -> WebResult<Response> {
    let p = &page.state.platform;
    if let Some(identity) = &page.identity
        && let Some(hash) = identity.session_hash()
    {
        let now = p.clock.now();
        let mut tx = p.db.begin().await?;
        accounts::delete_session_hash(&mut tx, hash).await?;
        let home = accounts::home_org(&mut tx, identity.user_id).await?;
        audit::append(
            &mut tx,
            now,
            NewEvent::new(
                home,
                &identity.audit_actor(),
                "session.logout",
                "session",
                "",
            ),
        )
        .await?;
        tx.commit().await?;
    }
    let mut response = flash::set(see_other("/connexion"), "deconnexion", page.secure());
    if let Some(v) = cookies::clear(cookies::SESSION, page.secure()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// Forgotten password

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    f: Fields,
    sent: bool,
}

pub async fn forgot_form(page: PageCtx) -> WebResult<Response> {
    render(&ForgotPage {
        chrome: page.chrome("Mot de passe oublié", None),
        f: Fields::new(),
        sent: false,
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn forgot(
    page: PageCtx,
    ClientIp(ip): ClientIp,
    Form(form): Form<ForgotForm>,
) -> WebResult<Response> {
    let p = &page.state.platform;
    let mut f = Fields::new().with("email", &form.email);
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => {
            f.error("email", e.0);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ForgotPage {
                    chrome: page.chrome("Mot de passe oublié", None).with_errors(true),
                    f,
                    sent: false,
                },
            );
        }
    };
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    // Every request counts, so that the form cannot be used to flood someone's mailbox.
    if let Some(secs) = accounts::throttle_attempt(
        &mut tx,
        now,
        &format!("reinit:{ip}"),
        accounts::THROTTLE_IP_MAX,
    )
    .await?
    {
        tx.commit().await?;
        return Err(WebError(AppError::TooManyRequests {
            retry_after_secs: secs,
            message: format!(
                "Trop de demandes de réinitialisation depuis votre connexion. Réessayez dans {} minute(s).",
                secs.div_ceil(60)
            ),
        }));
    }
    if let Some(user) = accounts::find_by_email(&mut tx, &email).await?
        && user.active
    {
        queue_password_link(&mut tx, p, user.id()?, Purpose::Reset, &user.audit_actor()).await?;
    }
    tx.commit().await?;
    p.wake_workers();
    render(&ForgotPage {
        chrome: page.chrome("Mot de passe oublié", None),
        f: Fields::new(),
        sent: true,
    })
}

// ---------------------------------------------------------------------------------------
// Reset with the link

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: Chrome,
    f: Fields,
    token: String,
    problem: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    jeton: String,
}

pub async fn reset_form(page: PageCtx, Params(q): Params<ResetQuery>) -> WebResult<Response> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let problem = accounts::check_reset(&mut conn, p.clock.now(), &q.jeton)
        .await?
        .err();
    render_status(
        if problem.is_some() {
            StatusCode::GONE
        } else {
            StatusCode::OK
        },
        &ResetPage {
            chrome: page
                .chrome("Choisir un nouveau mot de passe", None)
                .with_errors(problem.is_some()),
            f: Fields::new(),
            token: q.jeton,
            problem: problem.map(ResetProblem::message),
        },
    )
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    jeton: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

pub async fn reset(page: PageCtx, Form(form): Form<ResetForm>) -> WebResult<Response> {
    let p = &page.state.platform;
    let now = p.clock.now();
    let user_id = {
        let mut conn = p.db.read().await?;
        accounts::check_reset(&mut conn, now, &form.jeton).await?
    };
    let show = |f: Fields, problem: Option<&'static str>| {
        render_status(
            if problem.is_some() {
                StatusCode::GONE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            &ResetPage {
                chrome: page
                    .chrome("Choisir un nouveau mot de passe", None)
                    .with_errors(true),
                f,
                token: form.jeton.clone(),
                problem,
            },
        )
    };
    let user_id = match user_id {
        Ok(u) => u,
        Err(problem) => return show(Fields::new(), Some(problem.message())),
    };
    let user = {
        let mut conn = p.db.read().await?;
        accounts::get_user(&mut conn, user_id)
            .await?
            .ok_or(WebError(AppError::NotFound))?
    };
    let mut f = Fields::new();
    if let Err(m) = accounts::check_password_policy(&form.password, Some(&user.email)) {
        f.error("password", m);
    } else if form.password != form.confirmation {
        f.error(
            "confirmation",
            "Les deux mots de passe ne sont pas identiques.",
        );
    }
    if f.has_errors() {
        return show(f, None);
    }
    let password = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(AppError::internal)??;
    let mut tx = p.db.begin().await?;
    if !accounts::consume_reset(&mut tx, now, &form.jeton).await? {
        drop(tx);
        return show(Fields::new(), Some(ResetProblem::Used.message()));
    }
    accounts::set_password(
        &mut tx,
        now,
        user_id,
        &hash,
        None,
        "user.password_reset",
        &user.audit_actor(),
    )
    .await?;
    accounts::throttle_clear(&mut tx, &format!("compte:{}", user.email)).await?;
    tx.commit().await?;
    Ok(flash::set(
        see_other("/connexion"),
        "mot-de-passe-reinitialise",
        page.secure(),
    ))
}
