//! One dossier: what is signed, the circuit and where it stands, the history, and the
//! actions open to the person (viser, signer, rejeter, annoter, reprendre).

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::AppError;
use bouquet_kernel::policy::Action;
use bouquet_store::blobs::owner_key;
use bouquet_store::orgs;
use bouquet_webkit::forms::{CsrfMultipart, Fields, FormPairs, UploadError};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, download, flash, render, views};

use super::inbox::confirm_identity;
use super::{USE, chrome, dossier_of, me, my_name, person, size, today};
use crate::dossiers::{self, Capacity, DossierRow, StepRow};
use crate::flow::{self, InFile};
use crate::model::{ActionKind, Actor, DocumentKind, Status, StepKind, doc_type_label, step_state};

pub struct StepLine {
    pub reading: bool,
    pub number: i64,
    pub kind: &'static str,
    pub who: String,
    pub org: Option<String>,
    pub mode: &'static str,
    pub state: &'static str,
    pub current: bool,
}

pub struct HistoryLine {
    pub at: String,
    pub what: &'static str,
    pub who: String,
    pub comment: Option<String>,
    pub certificate: Option<String>,
    pub private: bool,
}

pub struct FileLine {
    pub name: String,
    pub role: &'static str,
    pub size: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "parapheur_dossier.html")]
pub struct DossierPage {
    pub chrome: Chrome,
    pub d: DossierRow,
    pub status: &'static str,
    pub doc_type: String,
    pub kind_label: &'static str,
    pub steps: Vec<StepLine>,
    pub history: Vec<HistoryLine>,
    pub files: Vec<FileLine>,
    pub base: String,
    pub document_href: String,
    pub original_href: Option<String>,
    pub bordereau_href: Option<String>,
    pub current_size: String,
    /// What waits for me here, if anything.
    pub my_step: Option<&'static str>,
    pub my_kind: String,
    pub on_behalf: Option<String>,
    pub can_take_back: bool,
    /// The current step asks me to open the document first, and I have not yet.
    pub must_read: bool,
    /// An administrator may give the current step to someone else: its people.
    pub reassign_to: Vec<(String, String)>,
    /// What the signing form says happens.
    pub sign_hint: &'static str,
    /// People I may ask for an opinion (when it is my turn).
    pub opinion_from: Vec<(String, String)>,
    /// Someone asked me for an opinion: their name.
    pub opinion_asked_by: Option<String>,
    pub f: Fields,
    pub upload_action: String,
}

fn who_label(actors: &[Actor], people: &[dossiers::Holder]) -> String {
    actors
        .iter()
        .map(|a| match a {
            Actor::Person(id) => people.iter().find(|p| &p.user_id == id).map_or_else(
                || "personne qui n'est plus dans l'organisation".to_owned(),
                |p| p.display_name.clone(),
            ),
            Actor::Role(code) => format!(
                "rôle « {} »",
                code.parse::<bouquet_kernel::Role>()
                    .map_or(code.as_str(), |r| r.label())
            ),
            Actor::Title(t) => format!("{t} (qui que ce soit)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn state_label(state: &str) -> &'static str {
    match state {
        step_state::ACTIVE => "En cours",
        step_state::DONE => "Fait",
        step_state::REJECTED => "Rejeté",
        _ => "À venir",
    }
}

pub async fn page_for(
    page: &PageCtx,
    ctx: &OrgCtx,
    d: DossierRow,
    f: Fields,
) -> WebResult<DossierPage> {
    let p = &page.state.platform;
    let user = me(ctx);
    let day = today(p, ctx);
    let mut conn = p.db.read().await?;
    let steps = dossiers::steps(&mut conn, &d.id).await?;
    let actions = dossiers::actions(&mut conn, &d.id).await?;
    let files = dossiers::files(&mut conn, &d.id).await?;
    let turn: Option<(StepRow, Capacity)> = flow::my_turn(&mut conn, &d, user, &day).await?;
    let mut step_lines = Vec::new();
    for s in &steps {
        let people = dossiers::people(&mut conn, s.org()?).await?;
        let org = if s.org_id != d.org_id {
            orgs::get(&mut conn, s.org()?).await?.map(|o| o.name)
        } else {
            None
        };
        step_lines.push(StepLine {
            reading: s.reading_required,
            number: s.position + 1,
            kind: s.kind().label(),
            who: who_label(&s.actors()?, &people),
            org,
            mode: s.mode().label(),
            state: state_label(&s.state),
            current: s.state == step_state::ACTIVE,
        });
    }
    drop(conn);
    let me_str = user.to_string();
    let history = actions
        .iter()
        .filter(|a| a.public || a.user_id.as_deref() == Some(me_str.as_str()))
        .map(|a| HistoryLine {
            at: views::at(a.at, &ctx.tz),
            what: a.kind().map_or("Action", ActionKind::label),
            who: match (&a.quality, &a.on_behalf_label) {
                (Some(q), Some(absent)) => {
                    format!("{} ({q}), en l'absence de {absent}", a.user_label)
                }
                (Some(q), None) => format!("{} ({q})", a.user_label),
                (None, Some(absent)) => format!("{}, en l'absence de {absent}", a.user_label),
                (None, None) => a.user_label.clone(),
            },
            comment: a.comment.clone().map(|c| {
                if a.undone {
                    format!("{c} (reprise ensuite)")
                } else {
                    c
                }
            }),
            certificate: a.certificate().map(|c| {
                format!(
                    "{} — certificat de {}, émis par {}",
                    c["format"].as_str().unwrap_or_default(),
                    c["titulaire"].as_str().unwrap_or("—"),
                    c["emetteur"].as_str().unwrap_or("—")
                )
            }),
            private: !a.public,
        })
        .collect();
    let base = ctx.href(&format!("/parapheur/dossiers/{}", d.id));
    let file_lines = files
        .iter()
        .map(|f| FileLine {
            name: f.name.clone(),
            role: match f.role.as_str() {
                "signature" => "Signature détachée (.p7s)",
                _ => "Annexe",
            },
            size: size(f.size),
            href: format!("{base}/fichiers/{}", f.id),
        })
        .collect();
    let can_take_back = dossiers::undoable(&d, &actions, user).is_some();
    let must_read = turn.as_ref().is_some_and(|(s, _)| {
        s.reading_required && !dossiers::has_read(&actions, s.position, user)
    });
    let opinion_asked_by = (d.status() == Status::EnCours)
        .then(|| dossiers::open_opinion(&actions, user).map(|(_, name)| name))
        .flatten();
    let opinion_from = if turn.is_some() {
        let mut conn = p.db.read().await?;
        dossiers::people(&mut conn, ctx.org_id)
            .await?
            .into_iter()
            .filter(|h| h.user_id != me_str)
            .map(|h| (h.user_id, h.display_name))
            .collect()
    } else {
        Vec::new()
    };
    let current = steps
        .iter()
        .find(|s| s.position == d.current_step && s.state == step_state::ACTIVE);
    let reassign_to = match current {
        Some(s)
            if d.status() == Status::EnCours
                && s.org_id == ctx.org.id
                && ctx.can(Action::ManageSettings) =>
        {
            let mut conn = p.db.read().await?;
            dossiers::people(&mut conn, ctx.org_id)
                .await?
                .into_iter()
                .map(|h| (h.user_id, h.display_name))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(DossierPage {
        chrome: chrome(page, ctx, &d.title, f.has_errors(), &[]),
        status: d.status().label(),
        doc_type: doc_type_label(&d.doc_type).to_owned(),
        kind_label: d.kind().format_label(),
        steps: step_lines,
        history,
        files: file_lines,
        document_href: format!("{base}/document"),
        original_href: (d.original_sha256 != d.current_sha256).then(|| format!("{base}/original")),
        bordereau_href: d
            .bordereau_sha256
            .as_ref()
            .map(|_| format!("{base}/bordereau")),
        current_size: size(d.current_size),
        my_step: turn.as_ref().map(|(s, _)| s.kind().verb()),
        my_kind: turn
            .as_ref()
            .map(|(s, _)| s.kind().code().to_owned())
            .unwrap_or_default(),
        on_behalf: turn
            .as_ref()
            .and_then(|(_, c)| c.on_behalf.as_ref().map(|o| o.1.clone())),
        can_take_back,
        must_read,
        reassign_to,
        opinion_from,
        opinion_asked_by,
        sign_hint: match (turn.as_ref().map(|(s, _)| s.kind()), d.kind()) {
            (Some(StepKind::Cachet), _) => {
                "Le cachet est apposé avec le certificat de l'organisation, et la date est garantie par un horodatage."
            }
            (_, DocumentKind::Pes) => {
                "Chaque bordereau du flux est signé avec votre certificat, comme Hélios le demande."
            }
            _ => {
                "Votre signature est apposée avec votre certificat, et la date est garantie par un horodatage."
            }
        },
        upload_action: format!(
            "{base}/signature-papier?_csrf={}",
            super::inbox::url_escape(&page.csrf)
        ),
        base,
        f,
        d,
    })
}

pub async fn show(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let d = dossier_of(&page.state.platform, &ctx, &id).await?;
    render(&page_for(&page, &ctx, d, Fields::new()).await?)
}

/// Shows the form again with the error at its field, the dossier unchanged.
async fn again(
    page: &PageCtx,
    ctx: &OrgCtx,
    id: &str,
    field: &str,
    e: WebError,
) -> WebResult<Response> {
    let message = match &e.0 {
        AppError::Invalid(errors) => errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
        AppError::Conflict(m) | AppError::Forbidden(m) | AppError::BadRequest(m) => m.clone(),
        _ => return Err(e),
    };
    let status = match &e.0 {
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let d = dossier_of(&page.state.platform, ctx, id).await?;
    let mut f = Fields::new();
    f.error(field, message);
    render_status(status, &page_for(page, ctx, d, f).await?)
}

fn done(page: &PageCtx, ctx: &OrgCtx, id: &str, code: &str) -> Response {
    flash::set(
        see_other(&ctx.href(&format!("/parapheur/dossiers/{id}"))),
        code,
        page.secure(),
    )
}

/// Back to the dossier with the notice `code` when `r` worked; the page again, with the error
/// at `field` and the dossier unchanged, when it did not.
async fn answer(
    page: &PageCtx,
    ctx: &OrgCtx,
    id: &str,
    field: &str,
    code: &str,
    r: bouquet_store::StoreResult<()>,
) -> WebResult<Response> {
    match r {
        Ok(()) => Ok(done(page, ctx, id, code)),
        Err(e) => again(page, ctx, id, field, e.into()).await,
    }
}

fn version(pairs: &FormPairs) -> i64 {
    pairs.get("version").parse().unwrap_or(-1)
}

/// `version`, `commentaire`: a visa.
pub async fn visa(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let who = person(&ctx);
    let comment = pairs.get("commentaire");
    answer(
        &page,
        &ctx,
        &id,
        "action",
        "parapheur-vise",
        flow::visa(p, &d, version(&pairs), who, &today(p, &ctx), Some(comment))
            .await
            .map(|_| ()),
    )
    .await
}

/// `version`, `mot_de_passe`: signs (or seals) after the person confirmed who they are.
pub async fn sign(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    if let Err(message) = confirm_identity(p, &ctx, pairs.get("mot_de_passe")).await? {
        return again(
            &page,
            &ctx,
            &id,
            "mot_de_passe",
            WebError(AppError::invalid("mot_de_passe", message)),
        )
        .await;
    }
    let who = person(&ctx);
    answer(
        &page,
        &ctx,
        &id,
        "action",
        "parapheur-signe",
        flow::sign(p, &d, version(&pairs), who, &today(p, &ctx))
            .await
            .map(|_| ()),
    )
    .await
}

/// `version`, `scan` (PDF): the paper signature's scan.
pub async fn paper(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    form: CsrfMultipart,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let upload = match form
        .collect(flow::MAX_FILE, flow::MAX_FILE + 64 * 1024)
        .await
    {
        Ok(u) => u,
        Err(UploadError::TooLarge(_)) => {
            return again(
                &page,
                &ctx,
                &id,
                "scan",
                WebError(AppError::invalid(
                    "scan",
                    "Le fichier dépasse 50 Mo : numérisez le document en résolution plus faible.",
                )),
            )
            .await;
        }
        Err(UploadError::Malformed) => {
            return Err(WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )));
        }
    };
    let Some(scan) = upload.files.into_iter().find(|f| f.field == "scan") else {
        return again(
            &page,
            &ctx,
            &id,
            "scan",
            WebError(AppError::invalid(
                "scan",
                "Choisissez le document signé numérisé (PDF).",
            )),
        )
        .await;
    };
    let who = person(&ctx);
    let seen = upload.fields.get("version").parse().unwrap_or(-1);
    answer(
        &page,
        &ctx,
        &id,
        "scan",
        "parapheur-signe",
        flow::paper(
            p,
            &d,
            seen,
            who,
            &today(p, &ctx),
            InFile {
                name: scan.name,
                bytes: scan.bytes,
            },
        )
        .await
        .map(|_| ()),
    )
    .await
}

/// `version`, `motif`.
pub async fn reject(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let who = person(&ctx);
    answer(
        &page,
        &ctx,
        &id,
        "motif",
        "parapheur-rejete",
        flow::reject(
            p,
            &d,
            version(&pairs),
            who,
            &today(p, &ctx),
            pairs.get("motif"),
        )
        .await
        .map(|_| ()),
    )
    .await
}

/// `annotation`, `visibilite=publique|privee`.
pub async fn annotate(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let now = p.clock.now();
    let public = pairs.get("visibilite") != "privee";
    let r =
        p.db.atomically(async |tx| {
            dossiers::annotate(
                tx,
                now,
                &d,
                me(&ctx),
                my_name(&ctx),
                pairs.get("annotation"),
                public,
            )
            .await
        })
        .await;
    answer(
        &page,
        &ctx,
        &id,
        "annotation",
        "parapheur-annote",
        r.map(|_| ()),
    )
    .await
}

/// `version`: takes back my last visa or signature, if nobody acted since.
pub async fn take_back(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let now = p.clock.now();
    let r =
        p.db.atomically(async |tx| {
            dossiers::take_back(tx, now, &d, version(&pairs), me(&ctx), my_name(&ctx)).await
        })
        .await;
    answer(
        &page,
        &ctx,
        &id,
        "action",
        "parapheur-repris",
        r.map(|_| ()),
    )
    .await
}

/// `avis_de` (a person of the organisation), `question`: asks for an opinion.
pub async fn ask_opinion(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let to = {
        let mut conn = p.db.read().await?;
        dossiers::people(&mut conn, ctx.org_id)
            .await?
            .into_iter()
            .find(|h| h.user_id == pairs.get("avis_de"))
    };
    let Some(to) = to else {
        return again(
            &page,
            &ctx,
            &id,
            "avis_de",
            WebError(AppError::invalid(
                "avis_de",
                "Choisissez la personne dont vous voulez l'avis.",
            )),
        )
        .await;
    };
    let who = person(&ctx);
    answer(
        &page,
        &ctx,
        &id,
        "avis_de",
        "parapheur-avis-demande",
        flow::ask_opinion(p, &d, who, &today(p, &ctx), &to, pairs.get("question"))
            .await
            .map(|_| ()),
    )
    .await
}

/// `avis`: gives the opinion I was asked for.
pub async fn give_opinion(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let who = person(&ctx);
    answer(
        &page,
        &ctx,
        &id,
        "avis",
        "parapheur-avis-donne",
        flow::give_opinion(p, &d, who, pairs.get("avis"))
            .await
            .map(|_| ()),
    )
    .await
}

/// `version`, `personne`: an administrator gives the current step to one person.
pub async fn reassign(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(Action::ManageSettings)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let to = {
        let mut conn = p.db.read().await?;
        dossiers::people(&mut conn, ctx.org_id)
            .await?
            .into_iter()
            .find(|h| h.user_id == pairs.get("personne"))
    };
    let Some(to) = to else {
        return again(
            &page,
            &ctx,
            &id,
            "personne",
            WebError(AppError::invalid(
                "personne",
                "Choisissez une personne de votre organisation.",
            )),
        )
        .await;
    };
    let steps = {
        let mut conn = p.db.read().await?;
        dossiers::steps(&mut conn, &d.id).await?
    };
    if !steps
        .iter()
        .any(|s| s.position == d.current_step && s.org_id == ctx.org.id)
    {
        return Err(WebError(AppError::Forbidden(
            "L'étape en cours appartient à une autre organisation.".into(),
        )));
    }
    let who = person(&ctx);
    answer(
        &page,
        &ctx,
        &id,
        "personne",
        "parapheur-reattribue",
        flow::reassign(p, &d, version(&pairs), &to, who)
            .await
            .map(|_| ()),
    )
    .await
}

fn media_type(d: &DossierRow) -> &'static str {
    match d.kind() {
        DocumentKind::Pdf => "application/pdf",
        DocumentKind::Pes => "application/xml",
        DocumentKind::Other => "application/octet-stream",
    }
}

/// A PDF opens in the browser (the élu reads what he signs); anything else downloads.
fn disposition(d: &DossierRow) -> download::Disposition {
    if d.kind() == DocumentKind::Pdf {
        download::Disposition::Inline
    } else {
        download::Disposition::Attachment
    }
}

/// The current version of the main document (signed, once signed).
pub async fn document(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let who = person(&ctx);
    flow::opened(p, &d, who, &today(p, &ctx)).await?;
    let name = if d.status() == Status::Termine && d.kind() == DocumentKind::Pdf {
        signed_name(&d.document_name)
    } else {
        d.document_name.clone()
    };
    download::blob(
        &p.blobs,
        &owner_key(Some(d.org()?)),
        &d.current_sha256,
        media_type(&d),
        &name,
        disposition(&d),
    )
    .await
}

/// "deliberation.pdf" → "deliberation-signe.pdf"
fn signed_name(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-signe.{ext}"),
        None => format!("{name}-signe"),
    }
}

pub async fn original(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    download::blob(
        &p.blobs,
        &owner_key(Some(d.org()?)),
        &d.original_sha256,
        media_type(&d),
        &d.document_name,
        disposition(&d),
    )
    .await
}

pub async fn bordereau(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    // Made when the circuit ended; made now if that failed then.
    let sha = match (&d.bordereau_sha256, d.status()) {
        (Some(sha), _) => sha.clone(),
        (None, Status::Termine | Status::Rejete) => {
            crate::bordereau::make(p, &d.id, d.org()?).await?
        }
        (None, Status::EnCours) => return Err(WebError(AppError::NotFound)),
    };
    download::blob(
        &p.blobs,
        &owner_key(Some(d.org()?)),
        &sha,
        "application/pdf",
        "bordereau-de-signature.pdf",
        download::Disposition::Attachment,
    )
    .await
}

pub async fn file(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, file)): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let d = dossier_of(p, &ctx, &id).await?;
    let mut conn = p.db.read().await?;
    let f = dossiers::files(&mut conn, &d.id)
        .await?
        .into_iter()
        .find(|f| f.id == file)
        .ok_or(WebError(AppError::NotFound))?;
    drop(conn);
    let media = if f.role == "signature" {
        "application/pkcs7-signature"
    } else {
        "application/octet-stream"
    };
    download::blob(
        &p.blobs,
        &owner_key(Some(d.org()?)),
        &f.sha256,
        media,
        &f.name,
        download::Disposition::Attachment,
    )
    .await
}

pub fn is_step(kind: &str, k: StepKind) -> bool {
    kind == k.code()
}
