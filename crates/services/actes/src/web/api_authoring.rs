//! The authoring API for business software (`/api/v1/o/{siren}/actes…`, in the OpenAPI):
//! create an acte with its files (multipart), read one, list and search, change a draft, read
//! the organisation's classification, download a piece. The same checks as the pages.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::{AppError, FieldError};
use bouquet_store::blobs::owner_key;
use bouquet_store::page::Cursor;
use bouquet_webkit::api::{Paged, rfc3339};
use bouquet_webkit::download::{self, Disposition};
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::{ApiJson, CsrfMultipart, Fields, Params, UploadError};
use bouquet_webkit::{AppState, OrgCtx, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authoring::list::{ListQuery, filter_of};
use super::authoring::{
    READ, Submission, USE, acte_of, author, changes, prepare, settings_of, store_pieces, today,
};
use crate::actes::{self, ActeRow, Origin, PieceRow, RawActe};
use crate::settings::SettingsRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(classification))
        .routes(routes!(one, patch, delete))
        .routes(routes!(piece))
}

/// A file of an acte.
#[derive(Debug, Serialize, ToSchema)]
pub struct Piece {
    pub id: String,
    /// 1 = the main document, 2… the annexes, in transmission order.
    pub position: i64,
    pub name: String,
    /// Code de typologie de pièce (`99_DE`…).
    pub typologie: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// The main document was signed in the parapheur (this is the signed file).
    pub signed: bool,
    /// The main document as deposited, before its signature.
    pub original_sha256: Option<String>,
}

/// An acte.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acte {
    pub id: String,
    /// `DE`, `AR`, `AI`, `CC`, `BF` or `AU`.
    pub nature: String,
    pub nature_label: String,
    /// NumeroInterne ("" on a draft without one yet).
    pub numero: String,
    pub objet: String,
    /// Dotted matière codes ("7.1.2").
    pub matiere: String,
    /// "7.1.2 Libellé" in the organisation's classification.
    pub matiere_label: String,
    /// `YYYY-MM-DD`.
    pub date_decision: Option<String>,
    pub document_papier: bool,
    /// `brouillon`, `signature`, `pret`, `a_transmettre`, `transmis`, `acquitte`, `erreur`,
    /// `annulation_demandee`, `annule`.
    pub status: String,
    pub status_label: String,
    /// IDActe, once transmitted.
    pub id_acte: Option<String>,
    /// PrecedentIdentifiantActe: the IDActe this acte rectifies.
    pub precedent_id_acte: Option<String>,
    pub parapheur_dossier: Option<String>,
    /// ARActe/@DateReception: executory from this date.
    pub received_date: Option<String>,
    pub error: Option<String>,
    /// Give it back when changing the acte.
    pub version: i64,
    /// RFC 3339
    pub created_at: String,
    pub updated_at: String,
    /// In the detail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pieces: Option<Vec<Piece>>,
    /// What still prevents the transmission, in French (detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_for_transmission: Option<Vec<String>>,
}

fn acte_json(
    a: ActeRow,
    c: Option<&bouquet_format_actes::Classification>,
    pieces: Option<Vec<PieceRow>>,
    missing: Option<Vec<String>>,
) -> Acte {
    Acte {
        nature_label: a.nature_label().to_owned(),
        matiere_label: actes::matiere_label(c, &a.matiere),
        status_label: a.status().label().to_owned(),
        status: a.status().code().to_owned(),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
        pieces: pieces.map(|ps| {
            ps.into_iter()
                .map(|p| Piece {
                    id: p.id,
                    position: p.position,
                    name: p.name,
                    typologie: p.typologie,
                    content_type: p.content_type,
                    size: p.size,
                    sha256: p.sha256,
                    signed: p.signed,
                    original_sha256: p.original_sha256,
                })
                .collect()
        }),
        missing_for_transmission: missing,
        id: a.id,
        nature: a.nature,
        numero: a.numero,
        objet: a.objet,
        matiere: a.matiere,
        date_decision: a.decision_date,
        document_papier: a.document_papier,
        id_acte: a.id_acte,
        precedent_id_acte: a.precedent_id,
        parapheur_dossier: a.parapheur_dossier,
        received_date: a.received_date,
        error: a.error,
        version: a.version,
    }
}

async fn detail(state: &AppState, ctx: &OrgCtx, a: ActeRow) -> WebResult<Acte> {
    let p = &state.platform;
    let (pieces, settings) = {
        let mut conn = p.db.read().await?;
        (
            actes::pieces(&mut conn, &a.id).await?,
            crate::settings::get(&mut conn, ctx.org_id).await?,
        )
    };
    let missing = actes::readiness(&a, &pieces, settings.as_ref(), ctx.siren());
    let c = settings.as_ref().and_then(SettingsRow::classification);
    Ok(acte_json(a, c.as_ref(), Some(pieces), Some(missing)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActesQuery {
    /// Words of the objet or the numéro (full text; accents and case ignored).
    q: Option<String>,
    /// Beginning of the numéro.
    numero: Option<String>,
    /// `DE`, `AR`, `AI`, `CC`, `BF` or `AU`.
    nature: Option<String>,
    /// A matière and everything under it ("7.1").
    matiere: Option<String>,
    /// Decision date from (`YYYY-MM-DD`, inclusive).
    du: Option<String>,
    /// Decision date to (`YYYY-MM-DD`, inclusive).
    au: Option<String>,
    /// A status code (see `Acte.status`).
    statut: Option<String>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 200 (50 by default).
    limit: Option<i64>,
}

/// The organisation's actes, latest change first, filtered and searched.
#[utoipa::path(get, path = "/", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ActesQuery),
    responses((status = 200, body = Paged<Acte>), (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Params(q): Params<ActesQuery>,
) -> WebResult<Json<Paged<Acte>>> {
    ctx.require(READ)?;
    let p = &state.platform;
    let query = ListQuery {
        q: q.q.unwrap_or_default(),
        numero: q.numero.unwrap_or_default(),
        nature: q.nature.unwrap_or_default(),
        matiere: q.matiere.unwrap_or_default(),
        du: q.du.unwrap_or_default(),
        au: q.au.unwrap_or_default(),
        statut: q.statut.unwrap_or_default(),
        curseur: None,
    };
    let mut f = Fields::new();
    let filter = filter_of(&query, &mut f);
    if f.has_errors() {
        return Err(WebError(AppError::Invalid(f.errors)));
    }
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let settings = settings_of(p, &ctx).await?;
    let c = settings.as_ref().and_then(SettingsRow::classification);
    let page = {
        let mut conn = p.db.read().await?;
        actes::list(&mut conn, ctx.org_id, &filter, cursor.as_ref(), limit).await?
    };
    Ok(Json(Paged {
        items: page
            .items
            .into_iter()
            .map(|a| acte_json(a, c.as_ref(), None, None))
            .collect(),
        next_cursor: page.next,
    }))
}

/// One acte, with its pieces and what still prevents its transmission.
#[utoipa::path(get, path = "/{id}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    responses((status = 200, body = Acte), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn one(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
) -> WebResult<Json<Acte>> {
    ctx.require(READ)?;
    let id = path.1;
    let a = acte_of(&state.platform, &ctx, &id).await?;
    Ok(Json(detail(&state, &ctx, a).await?))
}

fn too_large() -> WebError {
    WebError(AppError::PayloadTooLarge {
        limit_label: format!(
            "{} par fichier, {} pour un acte et ses annexes",
            actes::MAX_FILE_LABEL,
            actes::MAX_TOTAL_LABEL
        ),
    })
}

/// Creates an acte (multipart form): `nature` (`DE`…), `numero`, `objet`, `matiere`
/// ("7.1"), `date_decision` (`YYYY-MM-DD`), `document_papier` (`true`/`false`),
/// `document` (the PDF), `document_typologie`, `annexes` (files) and `annexes_typologies`
/// (one per annex, in order; empty = the nature's default), `brouillon` (`true` to keep an
/// unfinished draft; otherwise every field and the PDF are required). The acte is a draft
/// (`brouillon`) until it is sent for signature or transmitted.
#[utoipa::path(post, path = "/", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation")),
    request_body(content_type = "multipart/form-data", description = "nature, numero, objet, matiere, date_decision, document_papier, brouillon, document, document_typologie, annexes, annexes_typologies"),
    responses((status = 201, body = Acte), (status = 401, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    ctx: OrgCtx,
    form: CsrfMultipart,
) -> WebResult<(StatusCode, Json<Acte>)> {
    ctx.require(USE)?;
    let p = &state.platform;
    let upload = form
        .collect(actes::MAX_TOTAL, actes::MAX_TOTAL)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge(_) => too_large(),
            UploadError::Malformed => WebError(AppError::BadRequest(
                "Le formulaire d'envoi (multipart) est mal formé.".into(),
            )),
        })?;
    let fields = &upload.fields;
    let truthy = |v: &str| matches!(v.trim(), "true" | "1" | "oui" | "O");
    let typologies: Vec<String> = fields
        .all("annexes_typologies")
        .map(str::to_owned)
        .collect();
    let mut sub = Submission {
        raw: RawActe {
            nature: fields.get("nature").to_owned(),
            numero: fields.get("numero").to_owned(),
            objet: fields.get("objet").to_owned(),
            matiere: fields.get("matiere").to_owned(),
            decision_date: fields.get("date_decision").to_owned(),
            document_papier: truthy(fields.get("document_papier")),
        },
        complete: !truthy(fields.get("brouillon")),
        document_typologie: fields.get("document_typologie").to_owned(),
        ..Submission::default()
    };
    let mut annex = 0;
    for file in upload.files {
        match file.field.as_str() {
            "document" => sub.document = Some(file),
            "annexes" => {
                let t = typologies.get(annex).cloned().unwrap_or_default();
                annex += 1;
                sub.annexes.push((file, t));
            }
            _ => {}
        }
    }
    let settings = settings_of(p, &ctx).await?;
    let c = settings.as_ref().and_then(SettingsRow::classification);
    let mut prepared = prepare(sub, None, c.as_ref(), today(p, &ctx))
        .map_err(|e| WebError(AppError::Invalid(e)))?;
    let (main, annexes) = store_pieces(p, ctx.org_id, &mut prepared).await?;
    let now = p.clock.now();
    let who = author(&ctx);
    let id =
        p.db.atomically(async |tx| {
            actes::create(
                tx,
                now,
                &ctx.org,
                &prepared.input,
                None,
                main.as_ref(),
                &annexes,
                who,
                &Origin::Api,
            )
            .await
        })
        .await?;
    let a = acte_of(p, &ctx, &id).await?;
    Ok((StatusCode::CREATED, Json(detail(&state, &ctx, a).await?)))
}

/// The fields of a draft to change; those absent are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActePatch {
    /// The `version` read with the acte: if it changed meanwhile, nothing is written (409).
    pub version: i64,
    pub nature: Option<String>,
    pub numero: Option<String>,
    pub objet: Option<String>,
    pub matiere: Option<String>,
    /// `YYYY-MM-DD`, or "" to clear it.
    pub date_decision: Option<String>,
    pub document_papier: Option<bool>,
    /// New typologies of existing pieces: piece id → code.
    #[serde(default)]
    pub typologies: std::collections::BTreeMap<String, String>,
    /// Check that every field is filled (as "Enregistrer l'acte"); `false` by default.
    #[serde(default)]
    pub complete: bool,
}

/// Changes the fields of a draft (or of an acte en erreur). Files are added with the pages
/// for now.
#[utoipa::path(patch, path = "/{id}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path)),
    request_body = ActePatch,
    responses((status = 200, body = Acte), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn patch(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
    ApiJson(body): ApiJson<ActePatch>,
) -> WebResult<Json<Acte>> {
    ctx.require(USE)?;
    let id = path.1;
    let p = &state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    if !a.status().editable() {
        return Err(WebError(AppError::Conflict(format!(
            "Cet acte ne peut plus être modifié : il est « {} ».",
            a.status().label().to_lowercase()
        ))));
    }
    let pieces = {
        let mut conn = p.db.read().await?;
        actes::pieces(&mut conn, &a.id).await?
    };
    for piece in body.typologies.keys() {
        if !pieces.iter().any(|pc| pc.id == *piece) {
            return Err(WebError(AppError::Invalid(vec![FieldError::new(
                format!("typologies.{piece}"),
                "Cette pièce n'appartient pas à l'acte.",
            )])));
        }
    }
    let main_typologie = pieces
        .iter()
        .find(|pc| pc.is_main())
        .map(|pc| {
            body.typologies
                .get(&pc.id)
                .cloned()
                .unwrap_or_else(|| pc.typologie.clone())
        })
        .unwrap_or_default();
    let sub = Submission {
        raw: RawActe {
            nature: body.nature.unwrap_or_else(|| a.nature.clone()),
            numero: body.numero.unwrap_or_else(|| a.numero.clone()),
            objet: body.objet.unwrap_or_else(|| a.objet.clone()),
            matiere: body.matiere.unwrap_or_else(|| a.matiere.clone()),
            decision_date: body
                .date_decision
                .unwrap_or_else(|| a.decision_date.clone().unwrap_or_default()),
            document_papier: body.document_papier.unwrap_or(a.document_papier),
        },
        complete: body.complete,
        document_typologie: main_typologie,
        existing: pieces
            .iter()
            .filter(|pc| !pc.is_main())
            .map(|pc| {
                (
                    pc.id.clone(),
                    body.typologies
                        .get(&pc.id)
                        .cloned()
                        .unwrap_or_else(|| pc.typologie.clone()),
                )
            })
            .collect(),
        ..Submission::default()
    };
    let settings = settings_of(p, &ctx).await?;
    let c = settings.as_ref().and_then(SettingsRow::classification);
    let prepared = prepare(sub, Some((&a, &pieces)), c.as_ref(), today(p, &ctx))
        .map_err(|e| WebError(AppError::Invalid(e)))?;
    let piece_changes = changes(&prepared, None, Vec::new());
    let now = p.clock.now();
    let who = author(&ctx);
    p.db.atomically(async |tx| {
        actes::update(
            tx,
            now,
            ctx.org_id,
            &a,
            body.version,
            &prepared.input,
            &piece_changes,
            who,
        )
        .await
    })
    .await?;
    let a = acte_of(p, &ctx, &id).await?;
    Ok(Json(detail(&state, &ctx, a).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// The `version` read with the acte.
    version: i64,
}

/// Deletes a draft that was never transmitted (its pieces and history go with it; the
/// journal keeps the deletion).
#[utoipa::path(delete, path = "/{id}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path), DeleteQuery),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String)>,
    Params(q): Params<DeleteQuery>,
) -> WebResult<StatusCode> {
    ctx.require(USE)?;
    let id = path.1;
    let p = &state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    let now = p.clock.now();
    let who = author(&ctx);
    p.db.atomically(async |tx| actes::delete_draft(tx, now, ctx.org_id, &a, q.version, who).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Downloads a piece of an acte (the signed main document once signed).
#[utoipa::path(get, path = "/{id}/pieces/{piece}", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation"), ("id" = String, Path), ("piece" = String, Path)),
    responses((status = 200, description = "The file"), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn piece(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let (_, id, piece) = path;
    let p = &state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    let pieces = {
        let mut conn = p.db.read().await?;
        actes::pieces(&mut conn, &a.id).await?
    };
    let pc = pieces
        .into_iter()
        .find(|pc| pc.id == piece)
        .ok_or(WebError(AppError::NotFound))?;
    download::blob(
        &p.blobs,
        &owner_key(Some(ctx.org_id)),
        &pc.sha256,
        pc.content_type_static(),
        &pc.name,
        Disposition::Attachment,
    )
    .await
}

/// A typologie de pièce.
#[derive(Debug, Serialize, ToSchema)]
pub struct Typologie {
    pub code: String,
    pub libelle: String,
}

/// A nature of acte and its typologies.
#[derive(Debug, Serialize, ToSchema)]
pub struct NatureJson {
    /// `CodeNatureActe` (1 to 6).
    pub code: u32,
    /// `DE`…
    pub type_abrege: String,
    pub libelle: String,
    /// The default typologie of the main document.
    pub typologie_par_defaut: String,
    pub typologies: Vec<Typologie>,
}

/// A matière, flattened: "7.1.2" under "7.1".
#[derive(Debug, Serialize, ToSchema)]
pub struct MatiereJson {
    pub code: String,
    pub libelle: String,
    /// 1 to 5.
    pub niveau: usize,
}

/// The classification the organisation received from its préfecture.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassificationJson {
    /// `DateClassification` (`YYYY-MM-DD`): written in every acte transmitted.
    pub date: String,
    /// RFC 3339
    pub received_at: Option<String>,
    pub natures: Vec<NatureJson>,
    /// Depth first.
    pub matieres: Vec<MatiereJson>,
}

/// The classification of the organisation (matières, natures and their typologies de pièce).
/// 404 when none was received yet.
#[utoipa::path(get, path = "/classification", tag = "actes", security(("bearer" = [])),
    params(("siren" = String, Path, description = "SIREN of the organisation")),
    responses((status = 200, body = ClassificationJson), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn classification(
    State(state): State<AppState>,
    ctx: OrgCtx,
) -> WebResult<Json<ClassificationJson>> {
    ctx.require(READ)?;
    let settings = settings_of(&state.platform, &ctx).await?;
    let (Some(s), Some(c)) = (
        settings.as_ref(),
        settings.as_ref().and_then(SettingsRow::classification),
    ) else {
        return Err(WebError(AppError::NotFound));
    };
    Ok(Json(ClassificationJson {
        date: c.date.to_string(),
        received_at: s.classification_received_at.map(rfc3339),
        natures: c
            .natures
            .iter()
            .map(|n| NatureJson {
                code: n.code,
                type_abrege: n.type_abrege.clone(),
                libelle: n.libelle.clone(),
                typologie_par_defaut: n
                    .nature()
                    .map(|nat| c.default_typology(nat).to_owned())
                    .unwrap_or_default(),
                typologies: n
                    .typologies
                    .iter()
                    .map(|t| Typologie {
                        code: t.code.clone(),
                        libelle: t.libelle.clone(),
                    })
                    .collect(),
            })
            .collect(),
        matieres: c
            .flat()
            .into_iter()
            .map(|(path, label)| {
                let code = actes::dotted(&path);
                MatiereJson {
                    libelle: label
                        .strip_prefix(&format!("{code} "))
                        .unwrap_or(&label)
                        .to_owned(),
                    niveau: path.len(),
                    code,
                }
            })
            .collect(),
    }))
}
