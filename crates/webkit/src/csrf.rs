//! CSRF protection for every form.
//!
//! Each browser gets a random `bouquet_csrf` cookie; forms carry a token, the HMAC of that
//! cookie under the platform key. The [`protect`] middleware checks every non-API request
//! with an unsafe method **before any handler runs**, whatever the handler does with the
//! body:
//!
//! - `application/x-www-form-urlencoded`: the `_csrf` field of the body (read here, then
//!   handed on);
//! - `multipart/form-data` (uploads, which must not be buffered): the `_csrf` parameter of
//!   the form's action URL (`action="…?_csrf={{ chrome.csrf }}"`);
//! - anything else: refused (415).
//!
//! The API takes no cookie, so it needs no CSRF token.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bouquet_kernel::AppError;
use subtle::ConstantTimeEq;

use crate::error::WebError;
use crate::state::AppState;
use crate::{cookies, is_api_path};

/// The token forms of this request must carry.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// Largest form body checked here (uploads are multipart).
pub const FORM_LIMIT: usize = 1024 * 1024;

pub fn token_for(state: &AppState, cookie_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(state.platform.keys.mac("csrf", cookie_value.as_bytes()))
}

/// The token matching the CSRF cookie of a request ("" without one).
pub fn token_from_cookie_header(state: &AppState, cookie_header: Option<&HeaderValue>) -> String {
    let mut headers = axum::http::HeaderMap::new();
    if let Some(v) = cookie_header {
        headers.insert(header::COOKIE, v.clone());
    }
    cookies::get(&headers, cookies::CSRF)
        .map(|c| token_for(state, &c))
        .unwrap_or_default()
}

pub fn valid(state: &AppState, cookie_value: &str, submitted: &str) -> bool {
    let expected = token_for(state, cookie_value);
    expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

fn refused() -> Response {
    WebError(AppError::Forbidden(
        "Ce formulaire a expiré ou ne provient pas de Bouquet. Rechargez la page et recommencez."
            .into(),
    ))
    .into_response()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn protect(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if is_api_path(&path)
        || path.starts_with("/assets/")
        || path == "/healthz"
        || path == "/metrics"
    {
        return next.run(req).await;
    }
    let existing = cookies::get(req.headers(), cookies::CSRF).filter(|c| c.len() >= 32);
    let had_flash = cookies::get(req.headers(), cookies::FLASH).is_some();
    let cookie_value = existing
        .clone()
        .unwrap_or_else(|| bouquet_store::accounts::new_secret("").0);
    let token = token_for(&state, &cookie_value);
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(CsrfToken(token.clone()));
    let body = if is_safe(&parts.method) {
        body
    } else {
        let Some(cookie) = existing.as_deref() else {
            return refused();
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let bytes = match to_bytes(body, FORM_LIMIT).await {
                Ok(b) => b,
                Err(_) => {
                    return WebError(AppError::PayloadTooLarge {
                        limit_label: "1 Mo".into(),
                    })
                    .into_response();
                }
            };
            let submitted = url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !valid(&state, cookie, &submitted) {
                tracing::warn!(path = %path, "CSRF token refused");
                return refused();
            }
            Body::from(bytes)
        } else if content_type.starts_with("multipart/form-data") {
            let submitted = parts
                .uri
                .query()
                .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "_csrf"))
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !valid(&state, cookie, &submitted) {
                tracing::warn!(path = %path, "CSRF token refused (upload)");
                return refused();
            }
            body
        } else {
            return WebError(AppError::UnsupportedMediaType(
                "Les formulaires de Bouquet s'envoient encodés (application/x-www-form-urlencoded ou multipart/form-data).".into(),
            ))
            .into_response();
        }
    };
    let mut response = next.run(Request::from_parts(parts, body)).await;
    response.extensions_mut().insert(CsrfToken(token));
    let secure = state.platform.settings.secure_cookies();
    let is_page = response.status() == axum::http::StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    if had_flash
        && is_page
        && let Some(v) = crate::flash::consumed(secure)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    if existing.is_none()
        && let Some(v) = cookies::set(cookies::CSRF, &cookie_value, secure, None)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
