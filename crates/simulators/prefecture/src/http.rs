//! The routes of the préfecture connector protocol: deposit and mailbox.

use axum::Router;
use axum::body::Body;
// The deposit is a machine-to-machine route authenticated by a bearer token, not a form of a
// signed-in person: there is no cookie, hence no CSRF token to check.
#[allow(clippy::disallowed_types)]
use axum::extract::Multipart;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::process::{self, MAX_ARCHIVE, Refusal};
use crate::state::SimState;

pub(crate) fn routes(state: SimState) -> Router {
    Router::new()
        .route(
            "/actes/depot",
            post(depot).layer(DefaultBodyLimit::max(MAX_ARCHIVE + 64 * 1024)),
        )
        .route("/actes/retours", get(list))
        .route("/actes/retours/{id}", get(fetch).delete(remove))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

/// The bearer token, when one is configured.
async fn auth(State(state): State<SimState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.0.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "Jeton d'accès absent ou invalide (en-tête Authorization: Bearer …).",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

#[allow(clippy::disallowed_types)] // see the import of `Multipart`
async fn depot(State(state): State<SimState>, mut multipart: Multipart) -> Response {
    let mut archive: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                if field.name() != Some("file") {
                    continue;
                }
                let name = field.file_name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) => archive = Some((name, bytes.to_vec())),
                    Err(e) => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            format!("Envoi illisible ou trop volumineux : {e}."),
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("Envoi illisible ou trop volumineux : {e}."),
                );
            }
        }
    }
    let Some((name, bytes)) = archive else {
        return text(
            StatusCode::BAD_REQUEST,
            "L'archive manque : envoyez-la dans le champ « file » d'un formulaire multipart/form-data.",
        );
    };
    if name.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "Le nom de l'archive manque (nom de fichier du champ « file »).",
        );
    }
    match process::accept(&state, &name, bytes).await {
        Ok(()) => text(StatusCode::OK, "OK"),
        Err(Refusal::Unavailable) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "La plate-forme @CTES est momentanément indisponible : réessayez plus tard.",
        ),
        Err(Refusal::Door(reason)) => text(StatusCode::BAD_REQUEST, reason),
        Err(Refusal::Internal(e)) => {
            tracing::error!(error = %e, "deposit not kept");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Le dépôt n'a pas pu être enregistré : réessayez plus tard.",
            )
        }
    }
}

#[derive(Serialize)]
struct Listed {
    id: String,
    nom: String,
    taille: u64,
}

async fn list(State(state): State<SimState>) -> Response {
    let inner = state.lock().await;
    let listed: Vec<Listed> = inner
        .mailbox
        .iter()
        .map(|m| Listed {
            id: m.id.clone(),
            nom: m.nom.clone(),
            taille: m.taille,
        })
        .collect();
    axum::Json(listed).into_response()
}

async fn fetch(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let inner = state.lock().await;
    let (Some(entry), Some(bytes)) = (
        inner.mailbox.iter().find(|m| m.id == id),
        inner.archives.get(&id),
    ) else {
        return text(
            StatusCode::NOT_FOUND,
            "Aucun retour ne porte cet identifiant.",
        );
    };
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", entry.nom))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from(bytes.clone()),
    )
        .into_response()
}

async fn remove(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    match state.remove(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => text(
            StatusCode::NOT_FOUND,
            "Aucun retour ne porte cet identifiant.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "return archive not removed");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Le retour n'a pas pu être supprimé : réessayez plus tard.",
            )
        }
    }
}
