//! Sending a document into a circuit: title, type, circuit, main document and annexes.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::AppError;
use bouquet_webkit::forms::{CsrfMultipart, Fields, UploadError};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, flash, render};

use super::{USE, chrome, person};
use crate::circuits;
use crate::flow::{self, InFile, Submission};
use crate::model::DOC_TYPES;

#[derive(Template)]
#[template(path = "parapheur_send.html")]
pub struct SendPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub action: String,
    pub types: Vec<(&'static str, &'static str, bool)>,
    pub circuits: Vec<(String, String, bool)>,
    pub circuits_href: String,
    pub back: String,
}

async fn page_for(page: &PageCtx, ctx: &OrgCtx, f: Fields) -> WebResult<SendPage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let list = circuits::list(&mut conn, ctx.org_id).await?;
    Ok(SendPage {
        chrome: chrome(
            page,
            ctx,
            "Envoyer un document à la signature",
            f.has_errors(),
            &[],
        ),
        action: ctx.href(&format!(
            "/parapheur/nouveau?_csrf={}",
            super::inbox::url_escape(&page.csrf)
        )),
        types: DOC_TYPES
            .iter()
            .map(|(c, l)| (*c, *l, f.value("type") == *c))
            .collect(),
        circuits: list
            .into_iter()
            .filter(|c| c.active)
            .map(|c| {
                let selected = f.value("circuit") == c.id;
                (c.id, c.name, selected)
            })
            .collect(),
        circuits_href: ctx.href("/parapheur/circuits"),
        back: ctx.href("/parapheur"),
        f,
    })
}

pub async fn form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&page_for(&page, &ctx, Fields::new()).await?)
}

/// `titre`, `type`, `sous_type`, `circuit`, `document` (file), `annexes` (files).
pub async fn send(page: PageCtx, ctx: OrgCtx, form: CsrfMultipart) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let upload = match form.collect(flow::MAX_FILE, flow::MAX_DOSSIER).await {
        Ok(u) => u,
        Err(UploadError::TooLarge(field)) => {
            let mut f = Fields::new();
            f.error(
                if field == "annexes" { "annexes" } else { "document" },
                "Un fichier dépasse 50 Mo, ou l'ensemble dépasse 200 Mo : réduisez la taille des pièces numérisées.",
            );
            return render_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                &page_for(&page, &ctx, f).await?,
            );
        }
        Err(UploadError::Malformed) => {
            return Err(WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )));
        }
    };
    let mut f = Fields::new();
    for name in ["titre", "type", "sous_type", "circuit"] {
        f.set(name, upload.fields.get(name));
    }
    if !DOC_TYPES.iter().any(|(c, _)| *c == f.value("type")) {
        f.error("type", "Choisissez le type de document.");
    }
    let circuit = {
        let mut conn = p.db.read().await?;
        circuits::get(&mut conn, ctx.org_id, f.value("circuit")).await?
    };
    let circuit = match circuit {
        Some(c) if c.active => Some(c),
        _ => {
            f.error("circuit", "Choisissez le circuit de visa et de signature.");
            None
        }
    };
    let mut document = None;
    let mut annexes = Vec::new();
    for file in upload.files {
        match file.field.as_str() {
            "document" => {
                document = Some(InFile {
                    name: file.name,
                    bytes: file.bytes,
                })
            }
            "annexes" => annexes.push(InFile {
                name: file.name,
                bytes: file.bytes,
            }),
            _ => {}
        }
    }
    if document.is_none() {
        f.error("document", "Choisissez le document à faire signer.");
    }
    if let Err(e) = crate::dossiers::check_title(f.value("titre")) {
        f.absorb(e)?;
    }
    if let Some(doc) = &document
        && let Err(e) = flow::check_document(&doc.name, &doc.bytes)
    {
        f.absorb(e)?;
    }
    let (Some(circuit), Some(document), false) = (circuit, document, f.has_errors()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page_for(&page, &ctx, f).await?,
        );
    };
    let submission = Submission {
        title: f.value("titre").to_owned(),
        doc_type: f.value("type").to_owned(),
        subtype: Some(f.value("sous_type").to_owned()),
        circuit_name: circuit.name.clone(),
        steps: circuit.steps()?,
        document,
        annexes,
        source: None,
    };
    let who = person(&ctx);
    match flow::submit(p, &ctx.org, who, submission).await {
        Ok(id) => Ok(flash::set(
            see_other(&ctx.href(&format!("/parapheur/dossiers/{id}"))),
            "parapheur-envoye",
            page.secure(),
        )),
        Err(e) => {
            let mut f = f;
            f.absorb(WebError::from(e).0)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page_for(&page, &ctx, f).await?,
            )
        }
    }
}
