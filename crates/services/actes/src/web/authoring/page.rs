//! The acte's page: its fields and pieces, its status and what is missing to transmit it,
//! its history, and the actions its status allows (modifier, supprimer le brouillon,
//! dupliquer, envoyer en signature, créer un acte rectificatif, transmettre).

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::{AppError, Service};
use bouquet_parapheur::circuits;
use bouquet_parapheur::flow::Person;
use bouquet_store::blobs::owner_key;
use bouquet_store::orgs;
use bouquet_webkit::download::{self, Disposition};
use bouquet_webkit::forms::{Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, flash, render, views};

use super::{READ, USE, acte_of, author, chrome, date_fr, size};
use crate::actes::{self, ActeRow, PieceRow};
use crate::events;
use crate::model::Status;
use crate::settings::SettingsRow;

/// One piece in the table.
pub struct PieceLine {
    pub role: String,
    pub name: String,
    pub href: String,
    pub typologie: String,
    pub size: String,
    pub signed: bool,
    pub original_href: Option<String>,
}

/// One line of the history.
pub struct EventLine {
    pub at: String,
    pub who: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "actes_acte.html")]
pub struct ActePage {
    pub chrome: Chrome,
    pub f: Fields,
    pub a: ActeRow,
    pub title: String,
    pub nature: String,
    pub matiere: String,
    pub decision: String,
    pub status: &'static str,
    pub pieces: Vec<PieceLine>,
    pub missing: Vec<String>,
    pub timeline: Vec<EventLine>,
    pub base: String,
    pub suivi_href: String,
    pub dossier_href: Option<String>,
    pub precedent_href: Option<String>,
    pub can_edit: bool,
    pub can_delete: bool,
    pub can_duplicate: bool,
    pub can_sign: bool,
    pub circuits: Vec<(String, String, bool)>,
    pub circuits_href: String,
    pub can_transmit: bool,
    pub can_rectify: bool,
}

async fn page_for(page: &PageCtx, ctx: &OrgCtx, a: ActeRow, f: Fields) -> WebResult<ActePage> {
    let p = &page.state.platform;
    let (pieces, settings, timeline, circuit_rows, parapheur, precedent) = {
        let mut conn = p.db.read().await?;
        let pieces = actes::pieces(&mut conn, &a.id).await?;
        let settings = crate::settings::get(&mut conn, ctx.org_id).await?;
        let timeline = events::timeline(&mut conn, &a.id).await?;
        let circuit_rows = circuits::list(&mut conn, ctx.org_id).await?;
        let parapheur = orgs::active_services(&mut conn, &ctx.org, p.clock.now())
            .await?
            .contains(Service::Parapheur);
        let precedent = match &a.precedent_id {
            Some(id) => actes::get_by_id_acte(&mut conn, ctx.org_id, id).await?,
            None => None,
        };
        (
            pieces,
            settings,
            timeline,
            circuit_rows,
            parapheur,
            precedent,
        )
    };
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let c = classification.as_ref();
    let missing = actes::readiness(&a, &pieces, settings.as_ref(), ctx.siren());
    let status = a.status();
    let base = ctx.href(&format!("/actes/{}", a.id));
    let write = ctx.can(USE);
    let selected_circuit = match f.value("circuit") {
        "" => settings
            .as_ref()
            .and_then(|s| s.circuit_id.clone())
            .unwrap_or_default(),
        v => v.to_owned(),
    };
    let circuits: Vec<(String, String, bool)> = circuit_rows
        .into_iter()
        .filter(|c| c.active)
        .map(|c| {
            let selected = c.id == selected_circuit;
            (c.id, c.name, selected)
        })
        .collect();
    let complete = actes::missing_fields(&a, &pieces, c).is_empty();
    let mut annex = 0;
    let lines = pieces
        .iter()
        .map(|pc: &PieceRow| {
            let role = if pc.is_main() {
                "Document principal".to_owned()
            } else {
                annex += 1;
                format!("Annexe {annex}")
            };
            PieceLine {
                role,
                name: pc.name.clone(),
                href: format!("{base}/pieces/{}", pc.id),
                typologie: actes::typologie_label(c, a.nature(), &pc.typologie),
                size: size(pc.size),
                signed: pc.signed,
                original_href: pc
                    .original_sha256
                    .as_ref()
                    .map(|_| format!("{base}/pieces/{}/original", pc.id)),
            }
        })
        .collect();
    let title = format!("{} {}", a.nature_label(), a.numero_or_placeholder());
    Ok(ActePage {
        chrome: chrome(page, ctx, &title, f.has_errors(), &[]),
        f,
        nature: a.nature_label().to_owned(),
        matiere: if a.matiere.is_empty() {
            "Non choisie".to_owned()
        } else {
            actes::matiere_label(c, &a.matiere)
        },
        decision: a
            .decision_date
            .as_deref()
            .map_or_else(|| "Non renseignée".to_owned(), date_fr),
        status: status.label(),
        pieces: lines,
        timeline: timeline
            .into_iter()
            .map(|e| EventLine {
                at: views::at(e.at, &ctx.tz),
                who: e.user_name.unwrap_or_else(|| "Bouquet".to_owned()),
                label: e.label,
            })
            .collect(),
        suivi_href: format!("{base}/suivi"),
        dossier_href: a
            .parapheur_dossier
            .as_ref()
            .map(|d| ctx.href(&format!("/parapheur/dossiers/{d}"))),
        precedent_href: precedent.map(|pr| ctx.href(&format!("/actes/{}", pr.id))),
        can_edit: write && status.editable(),
        can_delete: write && status == Status::Brouillon && a.id_acte.is_none(),
        can_duplicate: write,
        can_sign: write && status == Status::Brouillon && parapheur && complete,
        circuits,
        circuits_href: ctx.href("/parapheur/circuits"),
        can_transmit: write
            && match status {
                Status::Brouillon => missing.is_empty(),
                Status::Pret | Status::Erreur => true,
                _ => false,
            },
        can_rectify: write && status == Status::Acquitte && a.id_acte.is_some(),
        missing,
        title,
        base,
        a,
    })
}

pub async fn show(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let a = acte_of(&page.state.platform, &ctx, &id).await?;
    render(&page_for(&page, &ctx, a, Fields::new()).await?)
}

/// Shows the page again with a refusal at `field`.
async fn again(
    page: &PageCtx,
    ctx: &OrgCtx,
    a: ActeRow,
    field: &str,
    e: WebError,
    mut f: Fields,
) -> WebResult<Response> {
    let status = match &e.0 {
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return Err(e),
    };
    match e.0 {
        AppError::Invalid(errors) => f.errors.extend(errors),
        AppError::Conflict(m) => f.error(field, m),
        _ => {}
    }
    render_status(status, &page_for(page, ctx, a, f).await?)
}

/// Downloads a piece (the signed main document once signed).
pub async fn piece(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, piece)): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let (pc, _) = piece_of(&page, &ctx, &id, &piece).await?;
    let name = if pc.signed {
        signed_name(&pc.name)
    } else {
        pc.name.clone()
    };
    download::blob(
        &p.blobs,
        &owner_key(Some(ctx.org_id)),
        &pc.sha256,
        pc.content_type_static(),
        &name,
        disposition(&pc),
    )
    .await
}

/// Downloads the main document as deposited, before its signature.
pub async fn original(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, piece)): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let (pc, _) = piece_of(&page, &ctx, &id, &piece).await?;
    let sha = pc
        .original_sha256
        .clone()
        .ok_or(WebError(AppError::NotFound))?;
    download::blob(
        &p.blobs,
        &owner_key(Some(ctx.org_id)),
        &sha,
        pc.content_type_static(),
        &pc.name,
        disposition(&pc),
    )
    .await
}

fn disposition(pc: &PieceRow) -> Disposition {
    if pc.content_type == "application/pdf" || pc.content_type.starts_with("image/") {
        Disposition::Inline
    } else {
        Disposition::Attachment
    }
}

/// "deliberation.pdf" → "deliberation-signe.pdf"
fn signed_name(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-signe.{ext}"),
        None => format!("{name}-signe"),
    }
}

/// The piece `piece` of the acte `id` of this organisation, or 404.
pub async fn piece_of(
    page: &PageCtx,
    ctx: &OrgCtx,
    id: &str,
    piece: &str,
) -> WebResult<(PieceRow, ActeRow)> {
    let p = &page.state.platform;
    let a = acte_of(p, ctx, id).await?;
    let pieces = {
        let mut conn = p.db.read().await?;
        actes::pieces(&mut conn, &a.id).await?
    };
    let pc = pieces
        .into_iter()
        .find(|pc| pc.id == piece)
        .ok_or(WebError(AppError::NotFound))?;
    Ok((pc, a))
}

#[derive(Template)]
#[template(path = "actes_supprimer.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub a: ActeRow,
    pub base: String,
}

/// The confirmation before deleting a draft.
pub async fn delete_form(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let a = acte_of(&page.state.platform, &ctx, &id).await?;
    if a.status() != Status::Brouillon {
        return Err(WebError(AppError::Conflict(
            "Seul un brouillon peut être supprimé.".into(),
        )));
    }
    let base = ctx.href(&format!("/actes/{}", a.id));
    render(&DeletePage {
        chrome: chrome(
            &page,
            &ctx,
            "Supprimer le brouillon",
            false,
            &[(a.numero_or_placeholder(), base.clone())],
        ),
        base,
        a,
    })
}

/// `POST /{id}/supprimer` (`version`): deletes the draft.
pub async fn delete(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    let seen: i64 = pairs.get("version").parse().unwrap_or(-1);
    let now = p.clock.now();
    let who = author(&ctx);
    match p
        .db
        .atomically(async |tx| actes::delete_draft(tx, now, ctx.org_id, &a, seen, who).await)
        .await
    {
        Ok(()) => Ok(flash::set(
            see_other(&ctx.href("/actes")),
            "actes-supprime",
            page.secure(),
        )),
        Err(e) => {
            again(
                &page,
                &ctx,
                a,
                "supprimer",
                WebError::from(e),
                Fields::new(),
            )
            .await
        }
    }
}

/// `POST /{id}/dupliquer`: a new draft with the same fields (no numéro, no files).
pub async fn duplicate(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    copy(page, ctx, id, false).await
}

/// `POST /{id}/rectificatif`: a new draft that will replace this acquitted acte.
pub async fn rectificatif(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    copy(page, ctx, id, true).await
}

async fn copy(page: PageCtx, ctx: OrgCtx, id: String, rectificatif: bool) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    let now = p.clock.now();
    let who = author(&ctx);
    match p
        .db
        .atomically(async |tx| actes::duplicate(tx, now, &ctx.org, &a, rectificatif, who).await)
        .await
    {
        Ok(new) => Ok(flash::set(
            see_other(&ctx.href(&format!("/actes/{new}/modifier"))),
            if rectificatif {
                "actes-rectificatif"
            } else {
                "actes-duplique"
            },
            page.secure(),
        )),
        Err(e) => again(&page, &ctx, a, "copie", WebError::from(e), Fields::new()).await,
    }
}

/// `POST /{id}/signature` (`circuit`, `version`): sends the complete draft into the circuit.
pub async fn signature(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let a = acte_of(p, &ctx, &id).await?;
    let seen: i64 = pairs.get("version").parse().unwrap_or(-1);
    let circuit = pairs.get("circuit").to_owned();
    let f = Fields::new().with("circuit", &circuit);
    if circuit.is_empty() {
        let mut f = f;
        f.error("circuit", "Choisissez le circuit de signature.");
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page_for(&page, &ctx, a, f).await?,
        );
    }
    let who = Person {
        id: ctx.identity.user_id,
        name: &ctx.identity.user.display_name,
    };
    match actes::send_to_signature(p, &ctx.org, &a.id, seen, &circuit, who).await {
        Ok(_) => Ok(flash::set(
            see_other(&ctx.href(&format!("/actes/{}", a.id))),
            "actes-signature",
            page.secure(),
        )),
        Err(e) => {
            let a = acte_of(p, &ctx, &id).await?;
            again(&page, &ctx, a, "circuit", WebError::from(e), f).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_files_say_so() {
        assert_eq!(signed_name("deliberation.pdf"), "deliberation-signe.pdf");
        assert_eq!(signed_name("acte"), "acte-signe");
    }
}
