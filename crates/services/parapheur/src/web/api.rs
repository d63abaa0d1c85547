//! The parapheur's API for business software (`/api/v1/o/{siren}/parapheur/…`, in the
//! OpenAPI), and the built-in time-stamping authority (`POST /api/v1/horodatage`, RFC 3161 over
//! HTTP: `application/timestamp-query` in, `application/timestamp-reply` out).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bouquet_kernel::AppError;
use bouquet_webkit::api::rfc3339;
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{CsrfMultipart, Params, UploadError};
use bouquet_webkit::{AppState, OrgCtx, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{USE, dossier_of, me, person};
use crate::circuits;
use crate::dossiers::{self, DossierRow, Folder, ListFilter};
use crate::flow::{self, InFile, Submission};
use crate::model::{ActionKind, DOC_TYPES, Status};
use crate::signing;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one))
        .routes(routes!(circuit_list))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Action {
    /// `depot`, `visa`, `signature`, `cachet`, `signature_papier`, `rejet`, `annotation`,
    /// `reprise`, `fin`.
    pub kind: String,
    pub label: String,
    pub by: String,
    pub quality: Option<String>,
    /// The absent holder this person acted for.
    pub on_behalf_of: Option<String>,
    pub comment: Option<String>,
    /// RFC 3339
    pub at: String,
    /// SHA-256 of the document after this action, when it changed it.
    pub document_sha256: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dossier {
    pub id: String,
    pub title: String,
    pub doc_type: String,
    pub subtype: Option<String>,
    /// `en_cours`, `termine` or `rejete`.
    pub status: String,
    pub circuit: String,
    /// 1-based number of the step it waits at (while in progress).
    pub current_step: i64,
    pub document_name: String,
    pub document_sha256: String,
    pub original_sha256: String,
    pub bordereau_available: bool,
    /// RFC 3339
    pub created_at: String,
    pub updated_at: String,
    /// Only in the detail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

fn dossier(d: DossierRow, actions: Vec<Action>) -> Dossier {
    Dossier {
        status: d.status().code().to_owned(),
        current_step: d.current_step + 1,
        bordereau_available: d.bordereau_sha256.is_some(),
        created_at: rfc3339(d.created_at),
        updated_at: rfc3339(d.updated_at),
        id: d.id,
        title: d.title,
        doc_type: d.doc_type,
        subtype: d.subtype,
        circuit: d.circuit_name,
        document_name: d.document_name,
        document_sha256: d.current_sha256,
        original_sha256: d.original_sha256,
        actions,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DossiersQuery {
    /// `a_traiter` (waiting for me), `envoyes` (sent by me) or `tous` (default).
    folder: Option<String>,
    /// Words of the title.
    q: Option<String>,
    /// `en_cours`, `termine` or `rejete`.
    status: Option<String>,
    /// 1 to 200 (50 by default).
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Dossiers of the organisation (or where it acts at a step), newest first.
#[utoipa::path(get, path = "/dossiers", tag = "parapheur", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), DossiersQuery),
    responses((status = 200, body = Vec<Dossier>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<DossiersQuery>,
) -> WebResult<Json<Vec<Dossier>>> {
    ctx.require(USE)?;
    let p = &state.platform;
    let folder = match q.folder.as_deref() {
        Some("a_traiter") => Folder::ToDo,
        Some("envoyes") => Folder::Sent,
        None | Some("tous") => Folder::All,
        Some(_) => {
            return Err(WebError(AppError::invalid(
                "folder",
                "Valeurs possibles : a_traiter, envoyes, tous.",
            )));
        }
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            WebError(AppError::invalid(
                "status",
                "Valeurs possibles : en_cours, termine, rejete.",
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mut conn = p.db.read().await?;
    let rows = dossiers::list(
        &mut conn,
        ctx.org_id,
        me(&ctx),
        &ListFilter {
            folder,
            query: q.q.as_deref(),
            status,
            limit,
            offset: q.offset.unwrap_or(0).max(0),
        },
    )
    .await?;
    let mut out = Vec::new();
    let today = super::today(p, &ctx);
    for d in rows {
        if folder == Folder::ToDo
            && flow::my_turn(&mut conn, &d, me(&ctx), &today)
                .await?
                .is_none()
        {
            continue;
        }
        out.push(dossier(d, Vec::new()));
    }
    Ok(Json(out))
}

/// One dossier with its public history.
#[utoipa::path(get, path = "/dossiers/{id}", tag = "parapheur", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, body = Dossier), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn one(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Json<Dossier>> {
    ctx.require(USE)?;
    let id = path.1;
    let p = &state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let mut conn = p.db.read().await?;
    let actions = dossiers::actions(&mut conn, &d.id)
        .await?
        .into_iter()
        .filter(|a| a.public && !a.undone)
        .map(|a| Action {
            label: a.kind().map_or("Action", ActionKind::label).to_owned(),
            at: rfc3339(a.at),
            kind: a.kind,
            by: a.user_label,
            quality: a.quality,
            on_behalf_of: a.on_behalf_label,
            comment: a.comment,
            document_sha256: a.after_sha256,
        })
        .collect();
    Ok(Json(dossier(d, actions)))
}

/// Sends a dossier (multipart form): `title`, `doc_type` (`deliberation`, `arrete`,
/// `convention`, `flux_comptable`, `courrier`, `autre`), `subtype`, `circuit` (an id from
/// `GET …/circuits`), `document` (file) and `annexes` (files).
#[utoipa::path(post, path = "/dossiers", tag = "parapheur", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation")),
    request_body(content_type = "multipart/form-data", description = "title, doc_type, subtype, circuit, document, annexes"),
    responses((status = 201, body = Dossier), (status = 401, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: OrgCtx,
    form: CsrfMultipart,
) -> WebResult<(StatusCode, Json<Dossier>)> {
    ctx.require(USE)?;
    let p = &state.platform;
    let upload = form
        .collect(flow::MAX_FILE, flow::MAX_DOSSIER)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge(_) => WebError(AppError::PayloadTooLarge {
                limit_label: "50 Mo par fichier, 200 Mo en tout".into(),
            }),
            UploadError::Malformed => WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )),
        })?;
    let fields = &upload.fields;
    if !DOC_TYPES.iter().any(|(c, _)| *c == fields.get("doc_type")) {
        return Err(WebError(AppError::invalid(
            "doc_type",
            "Valeurs possibles : deliberation, arrete, convention, flux_comptable, courrier, autre.",
        )));
    }
    let circuit = {
        let mut conn = p.db.read().await?;
        circuits::get(&mut conn, ctx.org_id, fields.get("circuit")).await?
    }
    .filter(|c| c.active)
    .ok_or_else(|| {
        WebError(AppError::invalid(
            "circuit",
            "Ce circuit n'existe pas dans cette organisation.",
        ))
    })?;
    let mut document = None;
    let mut annexes = Vec::new();
    for f in upload.files {
        match f.field.as_str() {
            "document" => {
                document = Some(InFile {
                    name: f.name,
                    bytes: f.bytes,
                })
            }
            "annexes" => annexes.push(InFile {
                name: f.name,
                bytes: f.bytes,
            }),
            _ => {}
        }
    }
    let document = document.ok_or_else(|| {
        WebError(AppError::invalid(
            "document",
            "Joignez le document à signer.",
        ))
    })?;
    let id = flow::submit(
        p,
        &ctx.org,
        person(&ctx),
        Submission {
            title: fields.get("title").to_owned(),
            doc_type: fields.get("doc_type").to_owned(),
            subtype: Some(fields.get("subtype").to_owned()),
            circuit_name: circuit.name.clone(),
            steps: circuit.steps()?,
            document,
            annexes,
            source: None,
        },
    )
    .await?;
    let d = dossier_of(p, &ctx, &id).await?;
    Ok((StatusCode::CREATED, Json(dossier(d, Vec::new()))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Circuit {
    pub id: String,
    pub name: String,
    pub steps: usize,
}

/// The circuits offered for sending.
#[utoipa::path(get, path = "/circuits", tag = "parapheur", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation")),
    responses((status = 200, body = Vec<Circuit>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn circuit_list(
    State(state): State<AppState>,
    ctx: OrgCtx,
) -> WebResult<Json<Vec<Circuit>>> {
    ctx.require(USE)?;
    let mut conn = state.platform.db.read().await?;
    let mut out = Vec::new();
    for c in circuits::list(&mut conn, ctx.org_id).await? {
        if c.active {
            out.push(Circuit {
                steps: c.steps()?.len(),
                id: c.id,
                name: c.name,
            });
        }
    }
    Ok(Json(out))
}

/// The built-in time-stamping authority (RFC 3161 over HTTP).
pub async fn timestamp(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = &state.platform;
    // The built-in authority signs with the demo PKI: a production platform names a real one.
    if !p.settings.demo {
        return WebError(AppError::NotFound).into_response();
    }
    let is_query = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/timestamp-query"));
    if !is_query || body.len() > 16 * 1024 {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Envoyez une requête d'horodatage RFC 3161 (application/timestamp-query).",
        )
            .into_response();
    }
    let result = async {
        let pki = signing::pki(p).await?;
        let serial = signing::tsa_serial();
        let now = p.clock.now();
        let body = body.to_vec();
        tokio::task::spawn_blocking(move || pki.tsa.respond(&body, now, serial))
            .await
            .map_err(|e| bouquet_store::StoreError::Corrupt(e.to_string()))?
            .map_err(|e| bouquet_store::StoreError::Corrupt(e.to_string()))
    }
    .await;
    match result {
        Ok(reply) => {
            let mut response = reply.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/timestamp-reply"),
            );
            response
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

/// The certificate of "AC Bouquet démo" (PEM), to check the demo's signatures elsewhere.
pub async fn root_certificate(State(state): State<AppState>) -> Response {
    match signing::pki(&state.platform).await {
        Ok(pki) => {
            let pem = bouquet_crypto::cms::to_pem(pki.demo.root_certificate_der(), "CERTIFICATE");
            let mut response = pem.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            );
            response
        }
        Err(e) => WebError::from(e).into_response(),
    }
}
