//! The exchange for business software (`/api/v1/o/{siren}/actes/…`, in the OpenAPI):
//! transmit an acte, follow it (status and timeline), download the AR, the acte tamponné and
//! the bordereau d'acquittement, read the préfecture's messages and their documents, answer
//! them with PDF files, ask for the annulation and for the classification.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::AppError;
use bouquet_kernel::clock::from_micros;
use bouquet_webkit::api::rfc3339;
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{CsrfMultipart, Params};
use bouquet_webkit::{AppState, OrgCtx, WebError, WebResult};

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::exchange::{
    MessageLine, READ, Suivi, USE, acte_of, ar_message, bordereau_bytes, bytes_response, file_of,
    message_lines, message_of, reply_with, send_blob, suivi_of, tamponne_bytes,
};
use crate::exchange::data;
use crate::exchange::replies;
use crate::exchange::transmit;
use crate::web::exchange::who;

/// Routes under `/api/v1/o/{siren}/actes`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(transmit_acte))
        .routes(routes!(suivi))
        .routes(routes!(accuse_reception))
        .routes(routes!(tamponne))
        .routes(routes!(bordereau))
        .routes(routes!(acte_messages))
        .routes(routes!(message_xml))
        .routes(routes!(message_file))
        .routes(routes!(answer))
        .routes(routes!(annulation))
        .routes(routes!(classification_request))
        .routes(routes!(org_messages))
        .layer(DefaultBodyLimit::max(replies::MAX_FILE * 2 + 1024 * 1024))
}

/// A file of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageFile {
    /// 1, 2…: its number in `…/fichiers/{position}`.
    pub position: i64,
    pub name: String,
    pub size: i64,
    pub sha256: String,
}

/// A message exchanged with the préfecture.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrefectureMessage {
    pub id: String,
    /// `in` (from the préfecture) or `out`.
    pub direction: String,
    /// `1-2`, `4-1`…; `?` when the standard gives none or the message was not understood.
    pub code: String,
    /// The XML root element (`ARActe`, `LettreObservations`…); `?` when unreadable.
    pub root: String,
    /// What it is, in French.
    pub label: String,
    /// `recu`, `reponse_attendue`, `repondu`, `a_envoyer`, `envoye`, `erreur`.
    pub state: String,
    pub summary: String,
    /// The préfecture's own text (motif, description of the pièces, anomaly).
    pub detail: Option<String>,
    /// DateCourrierPref, DateReception… (`YYYY-MM-DD`).
    pub message_date: Option<String>,
    /// Outside the standard or not understood: stored and flagged, to be looked at.
    pub flagged: bool,
    /// The acte it is about.
    pub acte_id: Option<String>,
    /// The answers it accepts now (`2-2`, `3-3`, `3-4`, `4-3`, `4-4`).
    pub answers: Vec<String>,
    pub files: Vec<MessageFile>,
    /// RFC 3339
    pub created_at: String,
}

fn message_json(m: MessageLine) -> PrefectureMessage {
    PrefectureMessage {
        direction: if m.incoming { "in" } else { "out" }.to_owned(),
        label: m.kind_label,
        answers: m.replies.iter().map(|(c, _)| (*c).to_owned()).collect(),
        files: m
            .files
            .into_iter()
            .map(|f| MessageFile {
                position: f.position,
                name: f.name,
                size: f.bytes,
                sha256: f.sha256,
            })
            .collect(),
        created_at: rfc3339(m.at),
        message_date: m.message_date,
        id: m.id,
        code: m.code,
        root: m.root,
        state: m.state,
        summary: m.summary,
        detail: m.detail,
        flagged: m.flagged,
        acte_id: m.acte_id,
    }
}

/// One step of the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct Step {
    /// A stable code: `transmission_demandee`, `archive_preparee`, `transmis`, `message_recu`,
    /// `erreur`, `alerte`, `reponse`, `annulation_demandee`…
    pub kind: String,
    pub label: String,
    pub by: String,
    /// RFC 3339
    pub at: String,
    pub message_id: Option<String>,
}

/// Where an acte stands with the préfecture.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tracking {
    pub id: String,
    /// `brouillon`, `signature`, `pret`, `a_transmettre`, `transmis`, `acquitte`, `erreur`,
    /// `annulation_demandee`, `annule`.
    pub status: String,
    pub status_label: String,
    /// The IDActe, once transmitted.
    pub id_acte: Option<String>,
    /// Why it is `erreur`, in French.
    pub error: Option<String>,
    /// Local dates (`YYYY-MM-DD`): sent, received by the préfecture (executory), published.
    pub sent_date: Option<String>,
    pub received_date: Option<String>,
    pub published_date: Option<String>,
    /// Sent more than 48 hours ago without AR.
    pub ar_overdue: bool,
    pub timeline: Vec<Step>,
    pub messages: Vec<PrefectureMessage>,
}

fn tracking(s: Suivi) -> Tracking {
    Tracking {
        status: s.status.map(|x| x.code()).unwrap_or_default().to_owned(),
        status_label: s.status.map(|x| x.label()).unwrap_or_default().to_owned(),
        sent_date: s.sent.map(|d| d.to_string()),
        received_date: s.received.map(|d| d.to_string()),
        published_date: s.published.map(|d| d.to_string()),
        ar_overdue: s.overdue,
        timeline: s
            .timeline
            .into_iter()
            .map(|t| Step {
                at: from_micros(t.at).to_string(),
                kind: t.kind,
                label: t.label,
                by: t.who,
                message_id: t.message_id,
            })
            .collect(),
        messages: s.messages.into_iter().map(message_json).collect(),
        id: s.acte.id.clone(),
        id_acte: s.acte.id_acte.clone(),
        error: s.acte.error.clone().filter(|_| s.acte.status == "erreur"),
    }
}

fn api_base(ctx: &OrgCtx, id: &str) -> String {
    format!("/api/v1/o/{}/actes/{id}", ctx.org.siren)
}

async fn tracking_of(state: &AppState, ctx: &OrgCtx, id: &str) -> WebResult<Tracking> {
    let p = &state.platform;
    let acte = acte_of(p, ctx, id).await?;
    Ok(tracking(suivi_of(p, ctx, acte, &api_base(ctx, id)).await?))
}

/// Transmits an acte to the préfecture: checked, then queued (`a_transmettre`); the archive
/// is built, checked against the XSD and deposited in the background (follow it with
/// `GET …/suivi`). 503 when no préfecture is configured; 409 with the reasons when the acte
/// is not ready.
#[utoipa::path(post, path = "/{id}/transmission", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 202, body = Tracking), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem)))]
pub async fn transmit_acte(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<(StatusCode, Json<Tracking>)> {
    let (_, id) = path;
    ctx.require(USE)?;
    let p = &state.platform;
    acte_of(p, &ctx, &id).await?;
    transmit::request(p, ctx.org_id, &id, &who(&ctx)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(tracking_of(&state, &ctx, &id).await?),
    ))
}

/// Where the acte stands: status, dates, the timeline (every step, who, when) and the
/// messages exchanged with the préfecture.
#[utoipa::path(get, path = "/{id}/suivi", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, body = Tracking), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn suivi(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Json<Tracking>> {
    let (_, id) = path;
    ctx.require(READ)?;
    Ok(Json(tracking_of(&state, &ctx, &id).await?))
}

/// The ARActe of the acte, as the préfecture sent it (XML, ISO-8859-1). 404 before it arrives.
#[utoipa::path(get, path = "/{id}/accuse-reception", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, description = "ARActe (XML)", content_type = "application/xml"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn accuse_reception(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Response> {
    let (_, id) = path;
    ctx.require(READ)?;
    let p = &state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let m = ar_message(p, &ctx, &acte).await?;
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

/// The acte tamponné: the transmitted PDF with the dates known so far (envoyé, reçu,
/// publié) and the IDActe. 409 before the acte is sent.
#[utoipa::path(get, path = "/{id}/tamponne", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, description = "PDF", content_type = "application/pdf"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn tamponne(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Response> {
    let (_, id) = path;
    ctx.require(READ)?;
    let p = &state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let (pdf, name) = tamponne_bytes(p, &ctx, &acte).await?;
    Ok(bytes_response(pdf, "application/pdf", &name, false))
}

/// The bordereau d'acquittement (PDF). 409 before the AR arrives.
#[utoipa::path(get, path = "/{id}/bordereau", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, description = "PDF", content_type = "application/pdf"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn bordereau(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Response> {
    let (_, id) = path;
    ctx.require(READ)?;
    let p = &state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let (pdf, name) = bordereau_bytes(p, &ctx, &acte).await?;
    Ok(bytes_response(pdf, "application/pdf", &name, false))
}

/// The messages exchanged with the préfecture about the acte, oldest first.
#[utoipa::path(get, path = "/{id}/messages", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, body = Vec<PrefectureMessage>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn acte_messages(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Json<Vec<PrefectureMessage>>> {
    let (_, id) = path;
    ctx.require(READ)?;
    Ok(Json(tracking_of(&state, &ctx, &id).await?.messages))
}

/// The XML of a message, as received or sent.
#[utoipa::path(get, path = "/{id}/messages/{message}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path), ("message" = String, Path)),
    responses((status = 200, description = "XML", content_type = "application/xml"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn message_xml(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String, String)>,
) -> WebResult<Response> {
    let (_, id, mid) = path;
    ctx.require(READ)?;
    let p = &state.platform;
    acte_of(p, &ctx, &id).await?;
    let m = message_of(p, ctx.org_id, Some(&id), &mid).await?;
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

/// A document of a message (a letter's PDF, a pièce of an answer).
#[utoipa::path(get, path = "/{id}/messages/{message}/fichiers/{position}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path),
        ("message" = String, Path), ("position" = i64, Path, description = "1, 2… as listed in `files`")),
    responses((status = 200, description = "The file"), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn message_file(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String, String, i64)>,
) -> WebResult<Response> {
    let (_, id, mid, pos) = path;
    ctx.require(READ)?;
    let p = &state.platform;
    acte_of(p, &ctx, &id).await?;
    let m = message_of(p, ctx.org_id, Some(&id), &mid).await?;
    file_of(p, &m, pos).await
}

/// Answers a préfecture letter (multipart form): `reponse` = `2-2` (courrier simple), `3-3`
/// (refus des pièces), `3-4` (envoi des pièces: one or more `documents`), `4-3` (rejet des
/// observations) or `4-4` (réponse aux observations); `documents`: PDF files (one, except
/// for `3-4`). Built, checked against the XSD and queued; returns the answer.
#[utoipa::path(post, path = "/{id}/messages/{message}/reponse", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path), ("message" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "reponse, documents"),
    responses((status = 202, body = PrefectureMessage), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn answer(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String, String)>,
    form: Result<CsrfMultipart, WebError>,
) -> WebResult<(StatusCode, Json<PrefectureMessage>)> {
    let (_, id, mid) = path;
    ctx.require(USE)?;
    let p = &state.platform;
    acte_of(p, &ctx, &id).await?;
    message_of(p, ctx.org_id, Some(&id), &mid).await?;
    let form = form?;
    let answer_id = reply_with(p, &ctx, &id, &mid, form).await?;
    let m = message_of(p, ctx.org_id, Some(&id), &answer_id).await?;
    let line = message_lines(p, vec![m], &api_base(&ctx, &id), "", &ctx.tz, true)
        .await?
        .into_iter()
        .next()
        .ok_or(WebError(AppError::NotFound))?;
    Ok((StatusCode::ACCEPTED, Json(message_json(line))))
}

/// Withdraws an acquitted acte (6-1): `annulation_demandee` until the préfecture's
/// ARAnnulation (6-2). 409 before the AR.
#[utoipa::path(post, path = "/{id}/annulation", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 202, body = Tracking), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 503, body = Problem)))]
pub async fn annulation(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<(StatusCode, Json<Tracking>)> {
    let (_, id) = path;
    ctx.require(USE)?;
    let p = &state.platform;
    acte_of(p, &ctx, &id).await?;
    replies::annul(p, ctx.org_id, &id, &who(&ctx)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(tracking_of(&state, &ctx, &id).await?),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassificationRequest {
    /// The request's message (7-1), in `GET …/messages`.
    pub message_id: String,
}

/// Asks the préfecture for the organisation's classification (7-1); it arrives in the
/// settings (`GET …/classification`).
#[utoipa::path(post, path = "/classification/demande", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation")),
    responses((status = 202, body = ClassificationRequest), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn classification_request(
    State(state): State<AppState>,
    ctx: OrgCtx,
) -> WebResult<(StatusCode, Json<ClassificationRequest>)> {
    ctx.require(USE)?;
    let message_id =
        replies::request_classification(&state.platform, ctx.org_id, Some(&who(&ctx))).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClassificationRequest { message_id }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// `true`: only the flagged messages (not understood, outside the standard, about an
    /// unknown acte).
    signales: Option<bool>,
}

/// Every message of the organisation with the préfecture, newest first (at most 300).
#[utoipa::path(get, path = "/messages", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), MessagesQuery),
    responses((status = 200, body = Vec<PrefectureMessage>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn org_messages(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<MessagesQuery>,
) -> WebResult<Json<Vec<PrefectureMessage>>> {
    ctx.require(READ)?;
    let p = &state.platform;
    let rows = {
        let mut conn = p.db.read().await?;
        data::messages_of_org(
            &mut conn,
            Some(ctx.org_id),
            q.signales.unwrap_or(false),
            300,
        )
        .await?
    };
    let base = format!("/api/v1/o/{}/actes/messages", ctx.org.siren);
    let lines = message_lines(p, rows, &base, "", &ctx.tz, false).await?;
    Ok(Json(lines.into_iter().map(message_json).collect()))
}
