//! The exchange's pages, under `/o/{siren}/actes`: transmission (one acte or a batch), the
//! suivi page of an acte (status, timeline, the préfecture's messages and the answers,
//! annulation, downloads of the AR, the acte tamponné and the bordereau), the list of the
//! organisation's messages with the préfecture (flagged ones first to look at), the
//! classification request; and, for the operator, the returns no organisation was found for
//! (`/admin/actes/retours`).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bouquet_format_actes::{Nature, parse_path};
use bouquet_kernel::clock::from_micros;
use bouquet_kernel::policy::{Action, PlatformAction};
use bouquet_kernel::{AppError, OrgId, Service};
use bouquet_store::Platform;
use bouquet_store::blobs::owner_key;
use bouquet_webkit::forms::{CsrfMultipart, Fields, FormPairs, UploadError};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{
    AppState, CurrentUser, OrgCtx, PageCtx, TodoItem, WebError, WebResult, download, flash, render,
    views,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use utoipa_axum::router::OpenApiRouter;

use crate::exchange::data::{self, Acte};
use crate::exchange::replies::{self, InFile, ReplyKind};
use crate::exchange::transmit::{self, Person, TRANSMITTABLE};
use crate::exchange::{alerts, connector};
use crate::model::{MessageState, Status, dmy};

/// Working in the service.
pub const USE: Action = Action::UseService(Service::Actes);
/// Reading it (a référent reads).
pub const READ: Action = Action::ReadService(Service::Actes);

pub const FLASH_TRANSMIS: &str = "actes-transmission-demandee";
pub const FLASH_LOT: &str = "actes-lot-transmis";
pub const FLASH_REPONSE: &str = "actes-reponse-envoyee";
pub const FLASH_ANNULATION: &str = "actes-annulation-demandee";
pub const FLASH_CLASSIFICATION: &str = "actes-classification-demandee";
pub const FLASH_RELEVE: &str = "actes-messages-releves";
pub const FLASH_RELEVE_ECHEC: &str = "actes-messages-releve-echec";

/// Routes under `/o/{siren}/actes`.
pub fn routes() -> OpenApiRouter<AppState> {
    let upload = DefaultBodyLimit::max(replies::MAX_FILE * 2 + 1024 * 1024);
    OpenApiRouter::new()
        .route("/transmettre", post(transmit_batch))
        .route("/messages", get(messages_page))
        .route("/messages/relever", post(fetch_now))
        .route("/messages/{mid}/xml", get(org_message_xml))
        .route("/messages/{mid}/fichiers/{pos}", get(org_message_file))
        .route("/classification/demande", post(classification_request))
        .route("/{id}/transmettre", post(transmit_one))
        .route("/{id}/suivi", get(suivi))
        .route("/{id}/annuler", post(annul))
        .route("/{id}/messages/{mid}/repondre", post(reply).layer(upload))
        .route("/{id}/messages/{mid}/xml", get(message_xml))
        .route("/{id}/messages/{mid}/fichiers/{pos}", get(message_file))
        .route("/{id}/accuse-reception", get(ar_xml))
        .route("/{id}/tamponne", get(tamponne))
        .route("/{id}/bordereau", get(bordereau))
}

/// The operator's page of returns no organisation was found for (full paths).
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .route("/admin/actes/retours", get(operator_page))
        .route("/admin/actes/retours/{mid}/xml", get(operator_message_xml))
        .route(
            "/admin/actes/retours/{mid}/fichiers/{pos}",
            get(operator_message_file),
        )
}

/// The dashboard's to-do lines of this part: actes waiting for their AR, préfecture messages
/// waiting for an answer.
pub async fn todos(state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
    if !ctx.can(USE) {
        return Ok(Vec::new());
    }
    let mut conn = state.platform.db.read().await?;
    let (waiting, late, answers) = data::waiting_counts(&mut conn, ctx.org_id).await?;
    let mut items = Vec::new();
    if answers > 0 {
        items.push(TodoItem {
            label: views::count(
                answers,
                "message de la préfecture attend votre réponse",
                "messages de la préfecture attendent votre réponse",
                "",
            ),
            href: ctx.href("/actes/messages"),
            detail: Some(
                "Demande de pièces complémentaires ou lettre d'observations : répondez depuis la page de suivi de l'acte.".into(),
            ),
            urgent: true,
        });
    }
    if waiting > 0 {
        items.push(TodoItem {
            label: views::count(
                waiting,
                "acte transmis attend l'accusé de réception de la préfecture",
                "actes transmis attendent l'accusé de réception de la préfecture",
                "",
            ),
            href: ctx.href("/actes?statut=transmis"),
            detail: Some(if late > 0 {
                format!(
                    "{} depuis plus de 48 heures : vérifiez leur suivi, et contactez la préfecture si rien n'arrive.",
                    views::count(late, "attend", "attendent", "")
                )
            } else {
                "Un acte est exécutoire dès sa réception par la préfecture.".into()
            }),
            urgent: late > 0,
        });
    }
    Ok(items)
}

/// Flash messages of this part (codes start with "actes-").
pub fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        FLASH_TRANSMIS => {
            "La transmission est demandée : l'acte part à la préfecture dans quelques instants."
        }
        FLASH_LOT => "La transmission des actes choisis est demandée.",
        FLASH_REPONSE => "Votre réponse est prête et part à la préfecture dans quelques instants.",
        FLASH_ANNULATION => {
            "L'annulation est demandée : l'acte sera annulé quand la préfecture l'aura confirmée."
        }
        FLASH_CLASSIFICATION => {
            "La classification est demandée à la préfecture : elle arrivera dans les paramètres."
        }
        FLASH_RELEVE => "Les messages de la préfecture sont relevés.",
        FLASH_RELEVE_ECHEC => {
            "La préfecture ne répond pas pour le moment : Bouquet relèvera ses messages dès qu'elle répondra."
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

/// The person acting, as the exchange records it.
pub fn who(ctx: &OrgCtx) -> Person<'_> {
    Person {
        id: ctx.identity.user_id,
        name: &ctx.identity.user.display_name,
    }
}

/// The acte `id` of the organisation, or 404.
pub async fn acte_of(p: &Platform, ctx: &OrgCtx, id: &str) -> WebResult<Acte> {
    let mut conn = p.db.read().await?;
    data::acte(&mut conn, ctx.org_id, id)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

/// A message of the acte `id` (or of the organisation when `acte` is `None`), or 404.
pub async fn message_of(
    p: &Platform,
    org: OrgId,
    acte: Option<&str>,
    mid: &str,
) -> WebResult<data::Message> {
    let mut conn = p.db.read().await?;
    data::message(&mut conn, Some(org), mid)
        .await?
        .filter(|m| acte.is_none_or(|a| m.acte_id.as_deref() == Some(a)))
        .ok_or(WebError(AppError::NotFound))
}

/// Accepted by the préfecture's platform (and not refused since): the acte has a stamp.
fn with_prefecture(status: Option<Status>) -> bool {
    matches!(
        status,
        Some(Status::Transmis | Status::Acquitte | Status::AnnulationDemandee | Status::Annule)
    )
}

fn parse_date(s: Option<&str>) -> Option<Date> {
    s.and_then(|d| d.parse::<Date>().ok())
}

/// The local date an instant falls on.
fn local_date(micros: i64, tz: &TimeZone) -> Date {
    from_micros(micros).to_zoned_datetime(tz.clone()).date()
}

/// A file made here (PDF, XML) sent to the browser.
pub fn bytes_response(
    bytes: Vec<u8>,
    content_type: &'static str,
    name: &str,
    inline: bool,
) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    if let Ok(v) = HeaderValue::from_str(&format!("{kind}; filename=\"{ascii}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn media_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".pdf") {
        "application/pdf"
    } else if lower.ends_with(".xml") {
        "application/xml"
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".gz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    }
}

/// Streams a stored file of a message.
pub async fn send_blob(p: &Platform, owner: &str, sha: &str, name: &str) -> WebResult<Response> {
    let media = media_type(name);
    download::blob(
        &p.blobs,
        owner,
        sha,
        media,
        name,
        if media == "application/pdf" {
            download::Disposition::Inline
        } else {
            download::Disposition::Attachment
        },
    )
    .await
}

/// Makes an error of an action a form error when it is one the person can act on.
fn absorb(e: WebError, field: &str) -> Result<(StatusCode, Fields), WebError> {
    let mut f = Fields::new();
    let status = match &e.0 {
        AppError::Invalid(errors) => {
            for err in errors {
                f.error(field, err.message.clone());
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::Conflict(m) | AppError::BadRequest(m) => {
            f.error(field, m.clone());
            StatusCode::CONFLICT
        }
        AppError::Unavailable(m) => {
            f.error(field, m.clone());
            StatusCode::SERVICE_UNAVAILABLE
        }
        AppError::Forbidden(m) => {
            f.error(field, m.clone());
            StatusCode::FORBIDDEN
        }
        _ => return Err(e),
    };
    Ok((status, f))
}

// ---------------------------------------------------------------------------------------
// The suivi of an acte (shared with the API)
// ---------------------------------------------------------------------------------------

/// One line of the timeline.
#[derive(Clone, Debug)]
pub struct TimelineLine {
    pub kind: String,
    pub at: i64,
    pub at_label: String,
    pub label: String,
    pub who: String,
    pub message_id: Option<String>,
}

/// A file of a message.
#[derive(Clone, Debug)]
pub struct FileLine {
    pub position: i64,
    pub name: String,
    pub size: String,
    pub bytes: i64,
    pub href: String,
    pub sha256: String,
}

/// A message with the préfecture, as shown.
#[derive(Clone, Debug)]
pub struct MessageLine {
    pub id: String,
    pub incoming: bool,
    pub direction: &'static str,
    pub code: String,
    pub root: String,
    pub kind_label: String,
    pub state: String,
    pub state_label: &'static str,
    pub summary: String,
    pub detail: Option<String>,
    pub date: Option<String>,
    /// The message's own date, `YYYY-MM-DD`.
    pub message_date: Option<String>,
    pub at: i64,
    pub at_label: String,
    pub flagged: bool,
    pub xml_href: String,
    pub files: Vec<FileLine>,
    /// The answers open to this message (code, label).
    pub replies: Vec<(&'static str, &'static str)>,
    pub reply_action: String,
    pub acte_id: Option<String>,
    pub acte_href: Option<String>,
}

/// What a root element is, in plain French.
pub fn kind_label(root: &str, incoming: bool) -> String {
    match root {
        "Acte" => "Transmission de l'acte",
        "ARActe" => "Accusé de réception",
        "AnomalieActe" => "Anomalie sur l'acte",
        "AnomalieEnveloppe" => "Anomalie sur l'enveloppe",
        "CourrierSimple" => "Courrier simple",
        "ReponseCourrierSimple" => "Réponse au courrier simple",
        "DemandePieceComplementaire" => "Demande de pièces complémentaires",
        "ARDemandePieceComplementaire" => "Accusé de réception de la demande de pièces",
        "RefusPieceComplementaire" => "Refus de transmettre les pièces",
        "PieceComplementaire" => "Pièces complémentaires",
        "ARPieceComplementaire" => "Accusé de réception des pièces",
        "LettreObservations" => "Lettre d'observations",
        "ARLettreObservations" => "Accusé de réception de la lettre d'observations",
        "RejetLettreObservations" => "Rejet des observations",
        "ReponseLettreObservations" => "Réponse aux observations",
        "ARReponseRejetLettreObservations" => "Accusé de réception de la réponse",
        "DefereTA" => "Déféré au tribunal administratif",
        "Annulation" => "Demande d'annulation",
        "ARAnnulation" => "Accusé de réception de l'annulation",
        "DemandeClassification" => "Demande de classification",
        "RetourClassification" => "Classification",
        "ReponseClassificationSansChangement" => "Classification à jour",
        "?" => "Message illisible",
        _ if incoming => "Message non reconnu",
        _ => "Message",
    }
    .to_owned()
}

fn state_label(m: &data::Message) -> &'static str {
    match m.state() {
        Some(MessageState::Erreur) if m.incoming() => "À examiner",
        Some(s) => s.label(),
        None => "Inconnu",
    }
}

/// The message lines of a list; `base` is where its downloads live (`…/actes/{id}` or
/// `…/actes`), `acte_base` the organisation's actes (for links to an acte).
pub async fn message_lines(
    p: &Platform,
    messages: Vec<data::Message>,
    base: &str,
    acte_base: &str,
    tz: &TimeZone,
    per_acte: bool,
) -> WebResult<Vec<MessageLine>> {
    let mut conn = p.db.read().await?;
    let mut out = Vec::new();
    for m in messages {
        let files = data::message_files(&mut conn, &m.id).await?;
        let incoming = m.incoming();
        let msg_base = if per_acte {
            format!("{base}/messages/{}", m.id)
        } else {
            format!("{base}/{}", m.id)
        };
        let open_reply = match m.state() {
            Some(MessageState::ReponseAttendue) => true,
            Some(MessageState::Recu) => m.root == "CourrierSimple",
            _ => false,
        };
        let replies = if incoming && open_reply {
            ReplyKind::for_root(&m.root)
                .into_iter()
                .map(|k| (k.code(), k.label()))
                .collect()
        } else {
            Vec::new()
        };
        out.push(MessageLine {
            direction: if incoming {
                "De la préfecture"
            } else {
                "À la préfecture"
            },
            kind_label: kind_label(&m.root, incoming),
            state_label: state_label(&m),
            date: parse_date(m.message_date.as_deref()).map(dmy),
            message_date: m.message_date.clone(),
            at_label: views::at(m.created_at, tz),
            xml_href: format!("{msg_base}/xml"),
            files: files
                .into_iter()
                .map(|f| FileLine {
                    href: format!("{msg_base}/fichiers/{}", f.position),
                    size: bouquet_store::blobs::human_size(f.size.max(0) as u64),
                    bytes: f.size,
                    position: f.position,
                    name: f.name,
                    sha256: f.sha256,
                })
                .collect(),
            replies,
            reply_action: format!("{msg_base}/repondre"),
            acte_href: m.acte_id.as_ref().map(|a| format!("{acte_base}/{a}/suivi")),
            acte_id: m.acte_id.clone(),
            id: m.id,
            incoming,
            code: m.code,
            root: m.root,
            state: m.state,
            summary: m.summary,
            detail: m.detail,
            at: m.created_at,
            flagged: m.flagged,
        });
    }
    Ok(out)
}

/// Everything the suivi page and the API show of an acte.
pub struct Suivi {
    pub acte: Acte,
    pub status: Option<Status>,
    pub sent: Option<Date>,
    pub received: Option<Date>,
    pub published: Option<Date>,
    pub timeline: Vec<TimelineLine>,
    pub messages: Vec<MessageLine>,
    pub has_ar: bool,
    pub overdue: bool,
}

pub async fn suivi_of(p: &Platform, ctx: &OrgCtx, acte: Acte, base: &str) -> WebResult<Suivi> {
    let (events, messages) = {
        let mut conn = p.db.read().await?;
        (
            crate::events::timeline(&mut conn, &acte.id).await?,
            data::messages_of_acte(&mut conn, &acte.id).await?,
        )
    };
    let has_ar = messages.iter().any(|m| m.incoming() && m.root == "ARActe");
    let acte_base = ctx.href("/actes");
    let messages = message_lines(p, messages, base, &acte_base, &ctx.tz, true).await?;
    let timeline = events
        .into_iter()
        .map(|e| TimelineLine {
            at_label: views::at(e.at, &ctx.tz),
            at: e.at,
            who: match (&e.user_name, &e.user_id) {
                (Some(n), _) => n.clone(),
                (None, Some(_)) => "Personne qui n'est plus sur la plate-forme".into(),
                (None, None) => "Bouquet".into(),
            },
            kind: e.kind,
            label: e.label,
            message_id: e.message_id,
        })
        .collect();
    Ok(Suivi {
        status: acte.status(),
        sent: acte.sent_at.map(|s| local_date(s, &ctx.tz)),
        received: parse_date(acte.received_date.as_deref()),
        published: parse_date(acte.published_date.as_deref()),
        overdue: alerts::overdue(&acte, &ctx.tz, p.clock.now()),
        timeline,
        messages,
        has_ar,
        acte,
    })
}

#[derive(Template)]
#[template(path = "actes_suivi.html")]
pub struct SuiviPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub title: String,
    pub acte_href: String,
    pub suivi_href: String,
    pub base: String,
    pub base_actes: String,
    pub status_label: &'static str,
    pub status_code: &'static str,
    pub id_acte: Option<String>,
    pub error: Option<String>,
    pub sent: Option<String>,
    pub received: Option<String>,
    pub published: Option<String>,
    pub overdue: bool,
    pub can_act: bool,
    pub can_transmit: bool,
    pub can_annul: bool,
    pub configured: bool,
    pub ar_href: Option<String>,
    pub tamponne_href: Option<String>,
    pub bordereau_href: Option<String>,
    pub timeline: Vec<TimelineLine>,
    pub messages: Vec<MessageLine>,
    pub csrf_query: String,
}

async fn suivi_page(page: &PageCtx, ctx: &OrgCtx, id: &str, f: Fields) -> WebResult<SuiviPage> {
    let p = &page.state.platform;
    let acte = acte_of(p, ctx, id).await?;
    let base = ctx.href(&format!("/actes/{}", acte.id));
    let s = suivi_of(p, ctx, acte, &base).await?;
    let title = s.acte.title();
    let status = s.status;
    let sent_or_later = with_prefecture(status);
    let chrome = page
        .chrome(&format!("Suivi : {title}"), Some(ctx))
        .with_errors(f.has_errors())
        .crumb("Tableau de bord", Some(ctx.href("/")))
        .crumb("Actes", Some(ctx.href("/actes")))
        .crumb(title.clone(), Some(base.clone()))
        .crumb("Suivi", None);
    Ok(SuiviPage {
        chrome,
        title,
        acte_href: base.clone(),
        suivi_href: format!("{base}/suivi"),
        base_actes: ctx.href("/actes"),
        status_label: status.map_or("Inconnu", Status::label),
        status_code: status.map_or("", Status::code),
        id_acte: s.acte.id_acte.clone(),
        error: s
            .acte
            .error
            .clone()
            .filter(|_| status == Some(Status::Erreur)),
        sent: s.sent.map(dmy),
        received: s.received.map(dmy),
        published: s.published.map(dmy),
        overdue: s.overdue,
        can_act: ctx.can(USE),
        can_transmit: status.is_some_and(|st| TRANSMITTABLE.contains(&st)),
        can_annul: status == Some(Status::Acquitte),
        configured: connector::configured(p),
        ar_href: s.has_ar.then(|| format!("{base}/accuse-reception")),
        tamponne_href: (sent_or_later && s.acte.sent_at.is_some())
            .then(|| format!("{base}/tamponne")),
        bordereau_href: (s.received.is_some() && s.acte.id_acte.is_some())
            .then(|| format!("{base}/bordereau")),
        timeline: s.timeline,
        messages: s.messages,
        csrf_query: format!("_csrf={}", url_escape(&page.csrf)),
        base,
        f,
    })
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn suivi(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    render(&suivi_page(&page, &ctx, &id, Fields::new()).await?)
}

/// Back to the suivi page with a notice, or the page again with the error at `field`.
async fn answer(
    page: &PageCtx,
    ctx: &OrgCtx,
    id: &str,
    field: &str,
    code: &str,
    r: WebResult<()>,
) -> WebResult<Response> {
    match r {
        Ok(()) => Ok(flash::set(
            see_other(&ctx.href(&format!("/actes/{id}/suivi"))),
            code,
            page.secure(),
        )),
        Err(e) => {
            let (status, f) = absorb(e, field)?;
            render_status(status, &suivi_page(page, ctx, id, f).await?)
        }
    }
}

/// Transmits one acte (the acte's page and the suivi page post here).
pub async fn transmit_one(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    acte_of(p, &ctx, &id).await?;
    let r = transmit::request(p, ctx.org_id, &id, &who(&ctx))
        .await
        .map_err(WebError::from);
    answer(&page, &ctx, &id, "transmission", FLASH_TRANSMIS, r).await
}

/// Fetches the préfecture's mailbox now, without waiting for the next minute (the job does
/// the same every minute), then comes back to the page the button was on (`retour`, a path
/// of this organisation's actes, anything else goes to the messages page).
pub async fn fetch_now(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let base = ctx.href("/actes");
    let back = pairs
        .all("retour")
        .next()
        .filter(|r| r.starts_with(&format!("{base}/")) && !r.contains("..") && !r.contains("//"))
        .map(str::to_owned)
        .unwrap_or_else(|| ctx.href("/actes/messages"));
    // The mailbox is the platform's, shared by every organisation: one reading every few
    // seconds at most, whoever asks (the job reads it every minute anyway).
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let due = {
        let mut last = LAST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(2));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    };
    if !due {
        return Ok(flash::set(see_other(&back), FLASH_RELEVE, page.secure()));
    }
    let code = match crate::exchange::returns::fetch(p).await {
        Ok(_) => {
            if let Err(e) = crate::exchange::returns::process_stored(p).await {
                tracing::warn!(error = ?e, "traitement des retours de la préfecture");
            }
            FLASH_RELEVE
        }
        Err(e) => {
            tracing::warn!(error = ?e, "relève des retours de la préfecture");
            FLASH_RELEVE_ECHEC
        }
    };
    Ok(flash::set(see_other(&back), code, page.secure()))
}

/// Transmits several actes chosen in the list (`acte`, repeated). Every acte is checked
/// first: if one cannot go, none is queued and the reasons are listed.
pub async fn transmit_batch(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let ids: Vec<String> = pairs
        .all("acte")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .take(200)
        .collect();
    if ids.is_empty() {
        return Err(WebError(AppError::invalid(
            "acte",
            "Cochez les actes à transmettre.",
        )));
    }
    if !connector::configured(p) {
        return Err(WebError(transmit::not_configured()));
    }
    // Check them all before queuing any.
    let mut problems = Vec::new();
    {
        let mut conn = p.db.read().await?;
        for id in &ids {
            match data::acte(&mut conn, ctx.org_id, id).await? {
                None => return Err(WebError(AppError::NotFound)),
                Some(a) if !a.status().is_some_and(|s| TRANSMITTABLE.contains(&s)) => {
                    problems.push(format!(
                        "{} : il est « {} ».",
                        a.title(),
                        a.status().map_or("?", Status::label).to_lowercase()
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if !problems.is_empty() {
        return Err(WebError(AppError::Conflict(format!(
            "Aucun acte n'a été transmis. {}",
            problems.join(" ")
        ))));
    }
    let person = who(&ctx);
    let mut failed = Vec::new();
    for id in &ids {
        if let Err(e) = transmit::request(p, ctx.org_id, id, &person).await {
            failed.push(AppError::from(e).detail());
        }
    }
    if !failed.is_empty() {
        return Err(WebError(AppError::Conflict(format!(
            "{} acte(s) sur {} n'ont pas pu être transmis : {}",
            failed.len(),
            ids.len(),
            failed.join(" ")
        ))));
    }
    Ok(flash::set(
        see_other(&ctx.href("/actes")),
        FLASH_LOT,
        page.secure(),
    ))
}

/// `confirmation=oui`: withdraws an acquitted acte.
pub async fn annul(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    acte_of(p, &ctx, &id).await?;
    let r = if pairs.get("confirmation") != "oui" {
        Err(WebError(AppError::invalid(
            "confirmation",
            "Cochez la case pour confirmer l'annulation.",
        )))
    } else {
        replies::annul(p, ctx.org_id, &id, &who(&ctx))
            .await
            .map_err(WebError::from)
    };
    answer(&page, &ctx, &id, "confirmation", FLASH_ANNULATION, r).await
}

/// The answer to a préfecture letter (multipart: `reponse` = 2-2, 3-3, 3-4, 4-3 or 4-4;
/// `documents`: PDF files).
pub async fn reply(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, mid)): Path<(String, String, String)>,
    // Read after the acte and the message are found: another organisation gets a 404
    // whatever it sends.
    form: Result<CsrfMultipart, WebError>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    acte_of(p, &ctx, &id).await?;
    message_of(p, ctx.org_id, Some(&id), &mid).await?;
    let form = form?;
    let r = reply_with(p, &ctx, &id, &mid, form).await.map(|_| ());
    answer(&page, &ctx, &id, "reponse", FLASH_REPONSE, r).await
}

/// Reads an answer's form and sends it; the answer's message id.
pub async fn reply_with(
    p: &Platform,
    ctx: &OrgCtx,
    id: &str,
    mid: &str,
    form: CsrfMultipart,
) -> WebResult<String> {
    let upload = form
        .collect(replies::MAX_FILE, replies::MAX_FILE * 2)
        .await
        .map_err(|e| match e {
            UploadError::TooLarge(_) => WebError(AppError::invalid(
                "documents",
                "Les documents dépassent 50 Mo (100 Mo en tout) : réduisez-les avant de les joindre.",
            )),
            UploadError::Malformed => WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )),
        })?;
    let Some(kind) = ReplyKind::parse(upload.fields.get("reponse")) else {
        return Err(WebError(AppError::invalid(
            "reponse",
            "Choisissez la réponse à faire : 2-2, 3-3, 3-4, 4-3 ou 4-4.",
        )));
    };
    let files: Vec<InFile> = upload
        .files
        .into_iter()
        .filter(|f| f.field == "documents" || f.field == "document")
        .map(|f| InFile {
            name: f.name,
            bytes: f.bytes,
        })
        .collect();
    Ok(replies::answer(p, ctx.org_id, id, mid, kind, files, &who(ctx)).await?)
}

/// Asks the préfecture for the classification (from the settings or the messages page).
pub async fn classification_request(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    match replies::request_classification(p, ctx.org_id, Some(&who(&ctx))).await {
        Ok(_) => Ok(flash::set(
            see_other(&ctx.href("/actes/messages")),
            FLASH_CLASSIFICATION,
            page.secure(),
        )),
        Err(e) => {
            let (status, f) = absorb(e.into(), "classification")?;
            render_status(status, &messages_view(&page, &ctx, false, f).await?)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Downloads
// ---------------------------------------------------------------------------------------

pub async fn message_xml(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, mid)): Path<(String, String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let m = message_of(p, ctx.org_id, Some(&id), &mid).await?;
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

pub async fn message_file(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id, mid, pos)): Path<(String, String, String, i64)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let m = message_of(p, ctx.org_id, Some(&id), &mid).await?;
    file_of(p, &m, pos).await
}

pub async fn org_message_xml(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, mid)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let m = message_of(p, ctx.org_id, None, &mid).await?;
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

pub async fn org_message_file(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, mid, pos)): Path<(String, String, i64)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let m = message_of(p, ctx.org_id, None, &mid).await?;
    file_of(p, &m, pos).await
}

pub async fn file_of(p: &Platform, m: &data::Message, pos: i64) -> WebResult<Response> {
    let f = {
        let mut conn = p.db.read().await?;
        data::message_files(&mut conn, &m.id)
            .await?
            .into_iter()
            .find(|f| f.position == pos)
            .ok_or(WebError(AppError::NotFound))?
    };
    send_blob(p, &m.owner(), &f.sha256, &f.name).await
}

/// The ARActe of the acte (its XML, as received).
pub async fn ar_message(p: &Platform, ctx: &OrgCtx, acte: &Acte) -> WebResult<data::Message> {
    let mut conn = p.db.read().await?;
    data::messages_of_acte(&mut conn, &acte.id)
        .await?
        .into_iter()
        .rfind(|m| {
            m.incoming() && m.root == "ARActe" && m.org_id.as_deref() == Some(ctx.org.id.as_str())
        })
        .ok_or(WebError(AppError::NotFound))
}

pub async fn ar_xml(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let m = ar_message(p, &ctx, &acte).await?;
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

/// The acte tamponné: the transmitted PDF with the dates known so far (never a made-up one).
pub async fn tamponne_bytes(
    p: &Platform,
    ctx: &OrgCtx,
    acte: &Acte,
) -> WebResult<(Vec<u8>, String)> {
    let (Some(sent_at), true) = (acte.sent_at, with_prefecture(acte.status())) else {
        return Err(WebError(AppError::Conflict(
            "L'acte n'a pas été reçu par la préfecture (pas encore transmis, ou en erreur) : il n'a pas de tampon.".into(),
        )));
    };
    let main = {
        let mut conn = p.db.read().await?;
        crate::actes::pieces(&mut conn, &acte.id)
            .await?
            .into_iter()
            .find(|piece| piece.position == 1)
            .ok_or(WebError(AppError::NotFound))?
    };
    let original = p
        .blobs
        .read_all(&owner_key(Some(ctx.org_id)), &main.sha256)
        .await?;
    let dates = crate::tampon::StampDates {
        envoye: Some(local_date(sent_at, &ctx.tz)),
        recu: parse_date(acte.received_date.as_deref()),
        publie: parse_date(acte.published_date.as_deref()),
        id_acte: acte.id_acte.clone(),
    };
    let pdf = tokio::task::spawn_blocking(move || crate::tampon::acte_tamponne(&original, &dates))
        .await
        .map_err(|e| WebError(AppError::internal(e)))?
        .map_err(|e| {
            WebError(AppError::Conflict(format!(
                "Le tampon n'a pas pu être apposé : {e}"
            )))
        })?;
    Ok((pdf, format!("{}-tamponne.pdf", acte.numero)))
}

pub async fn tamponne(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let (pdf, name) = tamponne_bytes(p, &ctx, &acte).await?;
    Ok(bytes_response(pdf, "application/pdf", &name, true))
}

/// The bordereau d'acquittement (once the AR arrived).
pub async fn bordereau_bytes(
    p: &Platform,
    ctx: &OrgCtx,
    acte: &Acte,
) -> WebResult<(Vec<u8>, String)> {
    let (Some(id_acte), Some(received), Some(sent_at)) = (
        acte.id_acte.clone(),
        parse_date(acte.received_date.as_deref()),
        acte.sent_at,
    ) else {
        return Err(WebError(AppError::Conflict(
            "Le bordereau d'acquittement est disponible quand la préfecture a accusé réception de l'acte.".into(),
        )));
    };
    let (messages, classification, envelope) = {
        let mut conn = p.db.read().await?;
        let messages = data::messages_of_acte(&mut conn, &acte.id).await?;
        let classification = crate::settings::get(&mut conn, ctx.org_id)
            .await?
            .and_then(|s| s.classification());
        let envelope = match &acte.envelope_id {
            Some(e) => data::envelope(&mut conn, e).await?,
            None => None,
        };
        (messages, classification, envelope)
    };
    // The date the préfecture acknowledged is the one in the IDActe; never a made-up one.
    let Some(date_decision) = bouquet_format_actes::IdActe::parse(&id_acte)
        .ok()
        .map(|i| i.date)
        .or_else(|| parse_date(acte.decision_date.as_deref()))
    else {
        return Err(WebError(AppError::Conflict(
            "La date de la décision de l'acte est illisible : le bordereau ne peut pas être établi.".into(),
        )));
    };
    let nature = Nature::from_abbrev(&acte.nature);
    let matiere = parse_path(&acte.matiere)
        .and_then(|path| classification.as_ref().and_then(|c| c.label(&path)))
        .unwrap_or_else(|| acte.matiere.clone());
    // The files of the transmission that the AR acknowledged: those of its envelope's Acte.
    let sent = messages
        .iter()
        .rfind(|m| !m.incoming() && m.code == "1-1" && m.envelope_id == acte.envelope_id);
    let mut fichiers = Vec::new();
    if let Some(m) = sent {
        let mut conn = p.db.read().await?;
        for f in data::message_files(&mut conn, &m.id).await? {
            let code = f
                .name
                .split_once('-')
                .map(|(c, _)| c.to_owned())
                .unwrap_or_default();
            let label = match (&classification, nature) {
                (Some(c), Some(n)) => c.typology_label(n, &code).map(str::to_owned),
                _ => None,
            };
            fichiers.push(crate::bordereau::FichierTransmis {
                typologie: match label {
                    Some(l) => format!("{code} {l}"),
                    None => code,
                },
                nom: f.name,
                sha256: f.sha256,
            });
        }
    }
    let b = crate::bordereau::BordereauActe {
        collectivite: ctx.org.name.clone(),
        siren: ctx.org.siren.clone(),
        id_acte,
        nature: nature.map_or_else(|| acte.nature.clone(), |n| n.label().to_owned()),
        matiere,
        objet: acte.objet.clone(),
        numero_interne: acte.numero.clone(),
        date_decision,
        envoye_le: from_micros(sent_at)
            .to_zoned_datetime(ctx.tz.clone())
            .datetime(),
        recu_le: received,
        fichiers,
        archive: envelope.map(|e| e.archive_name).unwrap_or_default(),
        tiers: crate::bordereau::TIERS_DE_TELETRANSMISSION.to_owned(),
    };
    let pdf = tokio::task::spawn_blocking(move || crate::bordereau::render(&b))
        .await
        .map_err(|e| WebError(AppError::internal(e)))?
        .map_err(|e| WebError(AppError::internal(e)))?;
    Ok((pdf, format!("{}-bordereau-acquittement.pdf", acte.numero)))
}

pub async fn bordereau(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let acte = acte_of(p, &ctx, &id).await?;
    let (pdf, name) = bordereau_bytes(p, &ctx, &acte).await?;
    Ok(bytes_response(pdf, "application/pdf", &name, false))
}

// ---------------------------------------------------------------------------------------
// The organisation's messages
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "actes_x_messages.html")]
pub struct MessagesPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub messages: Vec<MessageLine>,
    pub flagged_only: bool,
    pub flagged_count: usize,
    pub all_href: String,
    pub flagged_href: String,
    pub classification_action: String,
    pub fetch_action: String,
    pub can_act: bool,
    pub configured: bool,
}

async fn messages_view(
    page: &PageCtx,
    ctx: &OrgCtx,
    flagged_only: bool,
    f: Fields,
) -> WebResult<MessagesPage> {
    let p = &page.state.platform;
    let rows = {
        let mut conn = p.db.read().await?;
        data::messages_of_org(&mut conn, Some(ctx.org_id), flagged_only, 300).await?
    };
    let flagged_count = rows.iter().filter(|m| m.flagged).count();
    let base = ctx.href("/actes/messages");
    let messages = message_lines(p, rows, &base, &ctx.href("/actes"), &ctx.tz, false).await?;
    let chrome = page
        .chrome("Échanges avec la préfecture", Some(ctx))
        .with_errors(f.has_errors())
        .crumb("Tableau de bord", Some(ctx.href("/")))
        .crumb("Actes", Some(ctx.href("/actes")))
        .crumb("Échanges avec la préfecture", None);
    Ok(MessagesPage {
        chrome,
        f,
        messages,
        flagged_only,
        flagged_count,
        all_href: base.clone(),
        flagged_href: format!("{base}?signales=1"),
        classification_action: ctx.href("/actes/classification/demande"),
        fetch_action: ctx.href("/actes/messages/relever"),
        can_act: ctx.can(USE),
        configured: connector::configured(p),
    })
}

#[derive(serde::Deserialize)]
pub struct MessagesQuery {
    signales: Option<String>,
}

pub async fn messages_page(
    page: PageCtx,
    ctx: OrgCtx,
    bouquet_webkit::forms::Params(q): bouquet_webkit::forms::Params<MessagesQuery>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let flagged = q
        .signales
        .as_deref()
        .is_some_and(|s| s == "1" || s == "oui");
    render(&messages_view(&page, &ctx, flagged, Fields::new()).await?)
}

// ---------------------------------------------------------------------------------------
// The operator: returns no organisation was found for
// ---------------------------------------------------------------------------------------

pub struct FailedReturn {
    pub name: String,
    pub at: String,
    pub error: String,
    pub org_known: bool,
}

#[derive(Template)]
#[template(path = "actes_x_operateur.html")]
pub struct OperatorPage {
    pub chrome: Chrome,
    pub messages: Vec<MessageLine>,
    pub failed: Vec<FailedReturn>,
}

fn operator_tz() -> TimeZone {
    bouquet_kernel::clock::time_zone("Europe/Paris")
}

pub async fn operator_page(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let tz = operator_tz();
    let (rows, failed) = {
        let mut conn = p.db.read().await?;
        (
            data::messages_of_org(&mut conn, None, false, 300).await?,
            data::failed_returns(&mut conn, 100).await?,
        )
    };
    let messages = message_lines(p, rows, "/admin/actes/retours", "", &tz, false).await?;
    render(&OperatorPage {
        chrome: page.admin_chrome("Retours de la préfecture à examiner"),
        messages,
        failed: failed
            .into_iter()
            .map(|r| FailedReturn {
                at: views::at(r.received_at, &tz),
                error: r.error.unwrap_or_default(),
                org_known: r.org_id.is_some(),
                name: r.name,
            })
            .collect(),
    })
}

pub async fn operator_message_xml(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(mid): Path<String>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let m = {
        let mut conn = p.db.read().await?;
        data::message(&mut conn, None, &mid)
            .await?
            .ok_or(WebError(AppError::NotFound))?
    };
    send_blob(p, &m.owner(), &m.xml_sha256, &m.file_name).await
}

pub async fn operator_message_file(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path((mid, pos)): Path<(String, i64)>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ReadAllMembers)?;
    let p = &page.state.platform;
    let m = {
        let mut conn = p.db.read().await?;
        data::message(&mut conn, None, &mid)
            .await?
            .ok_or(WebError(AppError::NotFound))?
    };
    file_of(p, &m, pos).await
}

/// The operator's card when returns wait to be looked at.
pub async fn admin_cards(
    state: &AppState,
    identity: &bouquet_webkit::Identity,
) -> WebResult<Vec<bouquet_webkit::AdminCard>> {
    if !identity.can(PlatformAction::ReadAllMembers) {
        return Ok(Vec::new());
    }
    let n = {
        let mut conn = state.platform.db.read().await?;
        data::operator_counts(&mut conn).await?
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![bouquet_webkit::AdminCard {
        title: "Retours de la préfecture".into(),
        href: "/admin/actes/retours".into(),
        body: format!(
            "{} : aucune organisation n'a pu leur être rattachée.",
            views::count(n, "message à examiner", "messages à examiner", "")
        ),
        order: 40,
    }])
}
