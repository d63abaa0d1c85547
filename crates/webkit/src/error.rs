//! Errors become HTTP here, and only here.
//!
//! Handlers return [`WebResult`]; a [`WebError`] carries one variant of the closed vocabulary
//! ([`AppError`]). Its response is only a status and a marker: the [`error_pages`] middleware
//! renders it, for the API as an RFC 9457 `application/problem+json` document with a French
//! `detail`, for pages as a French page in the layout. The same middleware renders the errors
//! no handler produced (unknown path, wrong method, body too large), so that nothing answers
//! in English or in plain text.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bouquet_kernel::policy::Denial;
use bouquet_kernel::{AppError, FieldError};
use bouquet_store::StoreError;
use serde::Serialize;

use crate::identity::Identity;
use crate::layout::{Chrome, ChromeInput};
use crate::state::AppState;

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct WebError(pub AppError);

pub type WebResult<T> = Result<T, WebError>;

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        WebError(e)
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError(e.into())
    }
}

impl From<Denial> for WebError {
    fn from(d: Denial) -> Self {
        WebError(d.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError(AppError::internal(format!("gabarit : {e}")))
    }
}

/// The marker the middleware looks for.
#[derive(Clone, Debug)]
pub(crate) struct ErrorMarker(pub Arc<AppError>);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "internal error");
        }
        let mut response = status_of(&self.0).into_response();
        response
            .extensions_mut()
            .insert(ErrorMarker(Arc::new(self.0)));
        response
    }
}

/// **The** mapping from the error vocabulary to HTTP statuses.
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Unauthenticated | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) | AppError::ServiceNotSubscribed(_) => StatusCode::FORBIDDEN,
        AppError::NotFound => StatusCode::NOT_FOUND,
        AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error a bare status stands for, when no handler said more.
fn from_status(status: StatusCode) -> AppError {
    match status.as_u16() {
        400 => AppError::BadRequest("La requête est mal formée.".into()),
        401 => AppError::Unauthenticated,
        403 => AppError::Forbidden("Vous n'avez pas accès à cette page.".into()),
        404 => AppError::NotFound,
        405 => AppError::MethodNotAllowed,
        408 => AppError::Unavailable("La requête a pris trop de temps. Réessayez.".into()),
        409 => AppError::Conflict("Cette opération est en conflit avec l'état actuel.".into()),
        413 => AppError::PayloadTooLarge {
            limit_label: "la taille autorisée".into(),
        },
        415 => AppError::UnsupportedMediaType("Ce format n'est pas pris en charge ici.".into()),
        422 => AppError::Invalid(Vec::new()),
        429 => AppError::TooManyRequests {
            retry_after_secs: 60,
            message: "Trop de requêtes. Patientez une minute avant de réessayer.".into(),
        },
        503 => AppError::Unavailable(
            "Le service est momentanément indisponible. Réessayez dans quelques minutes.".into(),
        ),
        _ => AppError::Internal(format!("statut {status}")),
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:bouquet:probleme:…`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short French title.
    pub title: String,
    pub status: u16,
    /// What went wrong and what to do, in French.
    pub detail: String,
    /// The path of the request.
    pub instance: String,
    /// The fields to correct (422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// To quote when contacting support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

pub fn problem(e: &AppError, instance: &str, request_id: Option<String>) -> Response {
    let status = status_of(e);
    let body = Problem {
        kind: format!("urn:bouquet:probleme:{}", e.code()),
        title: e.title().to_owned(),
        status: status.as_u16(),
        detail: match e {
            AppError::Unauthenticated => "Authentification requise : envoyez un jeton valide dans l'en-tête « Authorization: Bearer … ». Le jeton est absent, invalide, révoqué ou expiré ; obtenez-en un avec POST /api/v1/auth/token ou dans votre profil.".to_owned(),
            other => other.detail(),
        },
        instance: instance.to_owned(),
        errors: match e {
            AppError::Invalid(fields) => fields.clone(),
            _ => Vec::new(),
        },
        request_id,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Body::from(json));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    decorate(e, &mut response, true);
    response
}

fn decorate(e: &AppError, response: &mut Response, api: bool) {
    match e {
        AppError::TooManyRequests {
            retry_after_secs, ..
        } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        AppError::Unauthenticated if api => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bouquet\""),
            );
        }
        _ => {}
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    detail: String,
    request_id: Option<&'a str>,
    fields: &'a [FieldError],
}

/// Renders an error as a French page in the layout.
pub fn html_page(
    state: &AppState,
    input: ChromeInput,
    e: &AppError,
    request_id: Option<&str>,
) -> Response {
    let status = status_of(e);
    if matches!(e, AppError::Unauthenticated) {
        let next = url::form_urlencoded::byte_serialize(input.path.as_bytes()).collect::<String>();
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/connexion?suite={next}")) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        return response;
    }
    let chrome = Chrome::build(state, input, e.title(), None);
    let page = ErrorPage {
        chrome,
        status: status.as_u16(),
        detail: e.detail(),
        request_id,
        fields: match e {
            AppError::Invalid(fields) => fields,
            _ => &[],
        },
    };
    let mut response = match page.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "error page could not be rendered");
            (status, e.detail()).into_response()
        }
    };
    decorate(e, &mut response, false);
    response
}

/// Renders errors: handler errors (marked) and bare statuses alike.
pub async fn error_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let api = crate::is_api_path(&path);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let identity = req.extensions().get::<Arc<Identity>>().cloned();
    let expired = req
        .extensions()
        .get::<crate::identity::ExpiredSession>()
        .is_some();
    let cookie_header = req.headers().get(header::COOKIE).cloned();
    let response = next.run(req).await;
    let error = match response.extensions().get::<ErrorMarker>() {
        Some(marker) => marker.0.clone(),
        None if response.status().is_client_error() || response.status().is_server_error() => {
            let rendered_on_purpose =
                response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|ct| {
                        let ct = ct.as_bytes();
                        ct.starts_with(b"application/problem+json")
                            || ct.starts_with(b"application/json")
                            || ct.starts_with(b"text/html")
                    });
            if rendered_on_purpose {
                // A form shown again with its errors, the health check naming the failing
                // part: the handler said what it meant.
                return response;
            }
            Arc::new(from_status(response.status()))
        }
        None => return response,
    };
    if let AppError::Internal(detail) = error.as_ref() {
        tracing::error!(error = %detail, path = %path, "request failed");
    }
    let csrf = response
        .extensions()
        .get::<crate::csrf::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_else(|| crate::csrf::token_from_cookie_header(&state, cookie_header.as_ref()));
    let set_cookies: Vec<HeaderValue> = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let mut rendered = if api {
        problem(&error, &path, request_id)
    } else {
        let input = ChromeInput {
            identity,
            csrf,
            flash: None,
            path,
        };
        html_page(&state, input, &error, request_id.as_deref())
    };
    for c in set_cookies {
        rendered.headers_mut().append(header::SET_COOKIE, c);
    }
    if expired && !api && matches!(error.as_ref(), AppError::Unauthenticated) {
        // Say why the person is asked to sign in again, and drop the dead cookie.
        let secure = state.platform.settings.secure_cookies();
        rendered = crate::flash::set(rendered, "session-expiree", secure);
        if let Some(v) = crate::cookies::clear(crate::cookies::SESSION, secure) {
            rendered.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_one_status() {
        assert_eq!(status_of(&AppError::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status_of(&AppError::ServiceNotSubscribed(
                bouquet_kernel::Service::Actes
            )),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(&AppError::Invalid(vec![])),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        for code in [
            400u16, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 503, 500,
        ] {
            let status = StatusCode::from_u16(code).unwrap();
            let e = from_status(status);
            assert!(!e.detail().is_empty());
            if code != 408 {
                assert_eq!(status_of(&e), status, "{code}");
            }
        }
    }

    #[test]
    fn problems_are_french_and_typed() {
        let r = problem(
            &AppError::invalid("email", "Adresse invalide."),
            "/api/v1/x",
            Some("abc".into()),
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
