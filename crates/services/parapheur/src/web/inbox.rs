//! The lists: "Dossiers à traiter" (what waits for me, including as a substitute), "Mes
//! dossiers envoyés", every dossier of the organisation; and batch signing from the first.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_store::accounts;
use bouquet_webkit::forms::{Fields, FormPairs, Params};
use bouquet_webkit::layout::{Chrome, render_status};
use bouquet_webkit::{OrgCtx, PageCtx, WebResult, render, views};
use serde::Deserialize;

use super::{USE, chrome, me, person, today};
use crate::dossiers::{self, DossierRow, Folder, ListFilter};
use crate::flow;
use crate::model::{Status, StepKind, doc_type_label};

const PAGE: i64 = 50;

/// One line of a list.
pub struct Line {
    pub id: String,
    pub href: String,
    pub title: String,
    pub doc_type: String,
    pub status: &'static str,
    pub updated: String,
    /// What waits for me ("Signer", "Viser"…), in "à traiter".
    pub todo: Option<&'static str>,
    /// On behalf of an absent holder.
    pub on_behalf: Option<String>,
    /// Can be signed in a batch.
    pub batch: bool,
}

#[derive(Template)]
#[template(path = "parapheur_inbox.html")]
pub struct InboxPage {
    pub chrome: Chrome,
    pub folder: &'static str,
    pub tabs: Vec<(&'static str, String, bool)>,
    pub lines: Vec<Line>,
    pub q: String,
    pub status: String,
    pub statuses: Vec<(&'static str, &'static str, bool)>,
    pub next: Option<String>,
    pub base: String,
    pub new_href: String,
    pub settings_href: String,
    pub f: Fields,
    pub batchable: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    pub dossiers: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub statut: Option<String>,
    #[serde(default)]
    pub page: Option<i64>,
}

fn folder_of(code: Option<&str>) -> (Folder, &'static str) {
    match code {
        Some("envoyes") => (Folder::Sent, "envoyes"),
        Some("tous") => (Folder::All, "tous"),
        _ => (Folder::ToDo, "a-traiter"),
    }
}

async fn page_for(
    page: &PageCtx,
    ctx: &OrgCtx,
    query: &ListQuery,
    f: Fields,
) -> WebResult<InboxPage> {
    let p = &page.state.platform;
    let (folder, code) = folder_of(query.dossiers.as_deref());
    let status = query.statut.as_deref().and_then(Status::parse);
    let offset = query.page.unwrap_or(0).clamp(0, 10_000) * PAGE;
    let user = me(ctx);
    let day = today(p, ctx);
    let mut conn = p.db.read().await?;
    let rows: Vec<DossierRow> = dossiers::list(
        &mut conn,
        ctx.org_id,
        user,
        &ListFilter {
            folder,
            query: query.q.as_deref(),
            status,
            limit: PAGE + 1,
            offset,
        },
    )
    .await?;
    let more = rows.len() as i64 > PAGE;
    let mut lines = Vec::new();
    for d in rows.into_iter().take(PAGE as usize) {
        let turn = flow::my_turn(&mut conn, &d, user, &day).await?;
        let opinion = folder == Folder::ToDo
            && turn.is_none()
            && dossiers::open_opinion(&dossiers::actions(&mut conn, &d.id).await?, user).is_some();
        if folder == Folder::ToDo && turn.is_none() && !opinion {
            continue;
        }
        let kind = turn.as_ref().map(|(s, _)| s.kind());
        lines.push(Line {
            href: ctx.href(&format!("/parapheur/dossiers/{}", d.id)),
            title: d.title.clone(),
            doc_type: doc_type_label(&d.doc_type).to_owned(),
            status: d.status().label(),
            updated: views::at(d.updated_at, &ctx.tz),
            todo: kind
                .map(StepKind::verb)
                .or(opinion.then_some("Donner un avis")),
            on_behalf: turn
                .as_ref()
                .and_then(|(_, c)| c.on_behalf.as_ref().map(|o| o.1.clone())),
            batch: matches!(kind, Some(StepKind::Signature | StepKind::Visa)),
            id: d.id,
        });
    }
    let base = ctx.href("/parapheur");
    let qs = |folder: &str| format!("{base}?dossiers={folder}");
    let next = more.then(|| {
        format!(
            "{}&q={}&statut={}&page={}",
            qs(code),
            urlencoding(query.q.as_deref().unwrap_or_default()),
            query.statut.as_deref().unwrap_or_default(),
            query.page.unwrap_or(0) + 1
        )
    });
    let title = match folder {
        Folder::ToDo => "Dossiers à traiter",
        Folder::Sent => "Mes dossiers envoyés",
        Folder::All => "Tous les dossiers",
    };
    let batchable = lines.iter().any(|l| l.batch);
    Ok(InboxPage {
        chrome: chrome(page, ctx, title, f.has_errors(), &[]),
        folder: code,
        tabs: vec![
            ("Dossiers à traiter", qs("a-traiter"), code == "a-traiter"),
            ("Mes dossiers envoyés", qs("envoyes"), code == "envoyes"),
            ("Tous les dossiers", qs("tous"), code == "tous"),
        ],
        lines,
        q: query.q.clone().unwrap_or_default(),
        status: query.statut.clone().unwrap_or_default(),
        statuses: [Status::EnCours, Status::Termine, Status::Rejete]
            .into_iter()
            .map(|s| {
                (
                    s.code(),
                    s.label(),
                    query.statut.as_deref() == Some(s.code()),
                )
            })
            .collect(),
        next,
        new_href: ctx.href("/parapheur/nouveau"),
        settings_href: ctx.href("/parapheur/circuits"),
        base,
        f,
        batchable,
    })
}

fn urlencoding(s: &str) -> String {
    url_escape(s)
}

/// Percent-encodes a query value.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn list(
    page: PageCtx,
    ctx: OrgCtx,
    Params(query): Params<ListQuery>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&page_for(&page, &ctx, &query, Fields::new()).await?)
}

/// The result of a batch, one line per dossier.
#[derive(Template)]
#[template(path = "parapheur_batch.html")]
pub struct BatchPage {
    pub chrome: Chrome,
    pub results: Vec<(String, String, bool, String)>,
    pub back: String,
}

/// `dossier=ID` (repeated), `mot_de_passe`: visas and signatures of the selection, each
/// dossier on its own (one failing does not stop the others), after the person confirmed
/// who they are.
pub async fn batch(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let ids: Vec<String> = pairs.all("dossier").map(str::to_owned).collect();
    let mut f = Fields::new();
    if ids.is_empty() {
        f.error("dossier", "Cochez au moins un dossier à viser ou signer.");
    }
    if let Err(message) = confirm_identity(p, &ctx, pairs.get("mot_de_passe")).await? {
        f.error("mot_de_passe", message);
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page_for(&page, &ctx, &ListQuery::default(), f).await?,
        );
    }
    let who = person(&ctx);
    let day = today(p, &ctx);
    let mut results = Vec::new();
    for id in ids.iter().take(100) {
        let outcome = match super::dossier_of(p, &ctx, id).await {
            Ok(d) => {
                let title = d.title.clone();
                let kind = {
                    let mut conn = p.db.read().await?;
                    flow::my_turn(&mut conn, &d, who.id, &day)
                        .await?
                        .map(|(s, _)| s.kind())
                };
                let r = match kind {
                    Some(StepKind::Visa) => flow::visa(p, &d, d.version, who, &day, None)
                        .await
                        .map(|_| "Visé"),
                    Some(StepKind::Signature) => flow::sign(p, &d, d.version, who, &day)
                        .await
                        .map(|_| "Signé"),
                    _ => Ok(
                        "Rien à faire : ce dossier ne vous attend pas pour un visa ou une signature",
                    ),
                };
                match r {
                    Ok(done) => (title, done.to_owned(), kind.is_some()),
                    Err(e) => (title, french(bouquet_webkit::WebError::from(e).0), false),
                }
            }
            Err(_) => (
                "Dossier introuvable".to_owned(),
                "Ce dossier n'existe pas ou vous n'y avez pas accès.".to_owned(),
                false,
            ),
        };
        results.push((
            outcome.0,
            outcome.1,
            outcome.2,
            ctx.href(&format!("/parapheur/dossiers/{id}")),
        ));
    }
    render(&BatchPage {
        chrome: chrome(&page, &ctx, "Résultat de la signature par lot", false, &[]),
        results,
        back: ctx.href("/parapheur"),
    })
}

/// The French reason of a refusal, as one sentence.
fn french(e: bouquet_kernel::AppError) -> String {
    match e {
        bouquet_kernel::AppError::Invalid(errors) => errors
            .into_iter()
            .next()
            .map_or_else(String::new, |f| f.message),
        other => other.to_string(),
    }
}

/// At most this many wrong passwords before signing, per person, in the throttle window.
const SIGN_ATTEMPTS: i32 = 5;

/// The person confirms who they are before signing: their password again. Wrong passwords are
/// counted (five per quarter of an hour, then a wait); the hash is checked off the async
/// threads. `Ok(Err(message))` is a refusal to show at the field.
pub async fn confirm_identity(
    p: &bouquet_store::Platform,
    ctx: &OrgCtx,
    password: &str,
) -> WebResult<Result<(), String>> {
    let Some(hash) = ctx.identity.user.password_hash.clone() else {
        return Ok(Err(
            "Votre compte n'a pas encore de mot de passe : choisissez-en un dans « Mon profil », puis signez."
                .into(),
        ));
    };
    let key = format!("signature:{}", ctx.identity.user_id);
    let now = p.clock.now();
    let wait = {
        let mut conn = p.db.read().await?;
        accounts::throttled(&mut conn, now, &key, SIGN_ATTEMPTS).await?
    };
    if let Some(secs) = wait {
        return Ok(Err(format!(
            "Trop de mots de passe erronés : pour votre sécurité, réessayez dans {} minute(s).",
            secs.div_ceil(60)
        )));
    }
    let password = password.to_owned();
    let ok = !password.is_empty()
        && tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    if ok {
        return Ok(Ok(()));
    }
    p.db.atomically(async |tx| accounts::throttle_attempt(tx, now, &key, SIGN_ATTEMPTS).await)
        .await?;
    Ok(Err(
        "Le mot de passe n'est pas le bon : confirmez votre identité pour signer.".into(),
    ))
}
