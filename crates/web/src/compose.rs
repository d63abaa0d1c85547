//! Composition: every module's routes, the middleware stack, the OpenAPI document.
//!
//! Requests go through, from the outside in: request id, tracing, security headers, metrics,
//! authentication, error rendering, CSRF, panic catching, then the handler.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, Service};
use bouquet_store::jobs;
use bouquet_webkit::error::error_pages;
use bouquet_webkit::{
    AppState, OrgCtx, VERSION, WebError, assets, csrf, identity, metrics, security,
};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, Tag};
use utoipa_axum::router::OpenApiRouter;

/// Requests larger than this are refused (413) unless a route says otherwise (uploads).
pub const BODY_LIMIT: usize = 1024 * 1024;

fn api_doc() -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Bouquet — API")
                .version(VERSION)
                .description(Some(
                    "API de la plateforme Bouquet pour les logiciels métier des collectivités. \
                     Authentification : `Authorization: Bearer <jeton>` (jeton obtenu par `POST /api/v1/auth/token` \
                     ou créé dans « Mon profil »). Les erreurs sont des documents RFC 9457 \
                     (`application/problem+json`) dont le champ `detail` est en français. Les données d'une \
                     organisation sont sous `/api/v1/o/{siren}/` : une organisation à laquelle vous n'avez pas \
                     accès répond 404.",
                ))
                .build(),
        )
        .build();
    let mut components = doc.components.take().unwrap_or_default();
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc.components = Some(components);
    doc.tags = Some(
        [
            ("authentification", "Obtenir un jeton."),
            ("compte", "Votre compte et vos jetons personnels."),
            (
                "organisations",
                "Une organisation, ses utilisateurs et leurs rôles.",
            ),
            ("journal", "Le journal d'audit chaîné d'une organisation."),
            ("usages", "Les statistiques d'usage mensuelles."),
            (
                "administration",
                "Administration de la plateforme (opérateur).",
            ),
            ("supervision", "État de santé du service."),
        ]
        .into_iter()
        .map(|(name, description)| {
            let mut tag = Tag::new(name);
            tag.description = Some(description.into());
            tag
        })
        .collect(),
    );
    doc
}

/// Refuses a service's routes to organisations that have not subscribed it (403, in
/// French), and to people with no relation to the organisation (404).
async fn service_gate(
    State((state, service)): State<(AppState, Service)>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let ctx = match OrgCtx::from_request_parts(&mut parts, &state).await {
        Ok(ctx) => ctx,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = ctx.require(Action::ReadService(service)) {
        return e.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `erreur` when a part fails.
    pub status: &'static str,
    pub database: String,
    pub storage: String,
    pub version: &'static str,
}

/// Liveness and readiness: the database answers and the storage writes.
#[utoipa::path(get, path = "/healthz", tag = "supervision",
    responses((status = 200, body = Health), (status = 503, description = "Une partie est en panne (nommée dans la réponse)", body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let p = &state.platform;
    let database = match p.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::error!(error = %e, "health: database");
            "indisponible".to_owned()
        }
    };
    let storage = match p.blobs.health().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            tracing::error!(error = %e, "health: storage");
            "indisponible".to_owned()
        }
    };
    let ok = database == "ok" && storage == "ok";
    let body = Health {
        status: if ok { "ok" } else { "erreur" },
        database,
        storage,
        version: VERSION,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn prometheus(State(state): State<AppState>) -> Response {
    let p = &state.platform;
    let (size, idle) = p.db.pool_stats();
    ::metrics::gauge!("bouquet_db_pool_connections").set(f64::from(size));
    ::metrics::gauge!("bouquet_db_pool_idle_connections").set(idle as f64);
    if let Ok(mut conn) = p.db.read().await
        && let Ok(counts) = jobs::counts(&mut conn).await
    {
        for status in ["pending", "running", "done", "dead"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            ::metrics::gauge!("bouquet_jobs", "status" => status).set(n as f64);
        }
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn fallback() -> WebError {
    WebError(AppError::NotFound)
}

/// Builds the whole application for `state` (whose modules are already known).
pub fn compose(state: AppState) -> Router {
    let mut app = OpenApiRouter::with_openapi(api_doc());
    for module in &state.modules {
        app = app.merge(module.routes());
        match module.service() {
            Some(service) => {
                let gate = from_fn_with_state((state.clone(), service), service_gate);
                app = app
                    .nest(
                        &format!("/o/{{siren}}/{}", service.slug()),
                        module.org_routes().layer(gate.clone()),
                    )
                    .nest(
                        &format!("/api/v1/o/{{siren}}/{}", service.slug()),
                        module.org_api().layer(gate),
                    );
            }
            None => app = app.merge(module.org_routes()).merge(module.org_api()),
        }
    }
    app = app.routes(utoipa_axum::routes!(healthz));
    let (router, openapi) = app.split_for_parts();
    let spec = Arc::new(openapi.to_json().unwrap_or_default());
    router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], spec.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(prometheus))
        .route("/assets/{name}", get(assets::serve))
        .fallback(fallback)
        .layer(CatchPanicLayer::new())
        .layer(from_fn_with_state(state.clone(), csrf::protect))
        .layer(from_fn_with_state(state.clone(), error_pages))
        .layer(from_fn_with_state(state.clone(), identity::authenticate))
        .layer(from_fn(metrics::track))
        .layer(from_fn(security::headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // The path only: query strings may carry secrets (reset links).
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
