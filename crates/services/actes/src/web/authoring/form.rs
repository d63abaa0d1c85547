//! The acte form: a new acte, a draft being edited, several actes at once (batch).
//!
//! One multipart form carries the fields and the files (CSRF token in the action's query
//! string). The server's checks are the truth: each problem is shown at its field and in the
//! summary at the top, the form keeps what was typed (files must be chosen again: browsers
//! never refill a file input). Two buttons: "Enregistrer le brouillon" keeps an unfinished
//! acte, "Enregistrer l'acte" asks for every field.
//!
//! Batch: the fields that the actes of one sitting share (nature, matière, date de décision)
//! once, then one line per acte (numéro, objet, PDF); each filled line becomes a draft, and
//! nothing is created unless every line is right.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_format_actes::{Classification, Nature};
use bouquet_kernel::{AppError, FieldError};
use bouquet_webkit::forms::{CsrfMultipart, Fields, Params, Upload, UploadError, UploadedFile};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, flash, render};
use serde::Deserialize;

use super::{
    Submission, USE, acte_of, author, changes, chrome, field_errors, prepare, settings_of, size,
    store_pieces, today, url_escape,
};
use crate::actes::{self, ActeRow, Origin, PieceRow, RawActe};
use crate::settings::SettingsRow;

/// A group of the matière list: a first-level matière and what is under it.
pub struct MatiereGroup {
    pub label: String,
    pub options: Vec<(String, String, bool)>,
}

/// The matière choices: one `<optgroup>` per first-level matière; the options are every
/// matière of two levels or more, shown "7.1.2 Libellé".
pub fn matiere_groups(
    classification: Option<&Classification>,
    selected: &str,
) -> Vec<MatiereGroup> {
    let Some(c) = classification else {
        return Vec::new();
    };
    let mut groups: Vec<MatiereGroup> = Vec::new();
    for (path, label) in c.flat() {
        if path.len() == 1 {
            groups.push(MatiereGroup {
                label,
                options: Vec::new(),
            });
        } else if let Some(group) = groups.last_mut() {
            let code = actes::dotted(&path);
            let indent = "\u{a0}\u{a0}".repeat(path.len() - 2);
            group
                .options
                .push((code.clone(), format!("{indent}{label}"), code == selected));
        }
    }
    groups.retain(|g| !g.options.is_empty());
    groups
}

/// The natures, for a select.
pub fn nature_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    Nature::ALL
        .into_iter()
        .map(|n| (n.abbrev(), n.label(), n.abbrev() == selected))
        .collect()
}

/// The typologies of a nature, for a select; "" selects the default.
fn typologie_choices(
    classification: Option<&Classification>,
    nature: &str,
    selected: &str,
) -> Vec<(String, String, bool)> {
    let nature = Nature::from_abbrev(nature).unwrap_or(Nature::DE);
    let default = classification.map_or(nature.default_typology(), |c| c.default_typology(nature));
    let selected = if selected.is_empty() {
        default
    } else {
        selected
    };
    actes::typologies(classification, nature)
        .into_iter()
        .map(|(code, label)| {
            let is = code == selected;
            let label = if code == default {
                format!("{label} (par défaut)")
            } else {
                label
            };
            (code, label, is)
        })
        .collect()
}

/// A current annex on the edit form.
pub struct AnnexView {
    pub id: String,
    pub field: String,
    pub name: String,
    pub size: String,
    pub href: String,
    pub typologies: Vec<(String, String, bool)>,
    pub removed: bool,
}

/// The current main document on the edit form.
pub struct MainView {
    pub name: String,
    pub size: String,
    pub href: String,
    pub signed: bool,
}

#[derive(Template)]
#[template(path = "actes_form.html")]
pub struct FormPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub heading: String,
    pub action: String,
    pub editing: bool,
    pub version: i64,
    pub natures: Vec<(&'static str, &'static str, bool)>,
    pub matieres: Vec<MatiereGroup>,
    pub has_classification: bool,
    pub document_typologies: Vec<(String, String, bool)>,
    pub annex_typologies: Vec<(String, String, bool)>,
    pub main: Option<MainView>,
    pub annexes: Vec<AnnexView>,
    pub precedent: Option<String>,
    pub settings_href: String,
    pub back: String,
    pub max_file: &'static str,
    pub max_total: &'static str,
    pub formats: &'static str,
    pub papier: bool,
}

/// The form as it should be drawn: for a new acte (`acte` = None) or an edit.
async fn form_page(
    page: &PageCtx,
    ctx: &OrgCtx,
    acte: Option<(&ActeRow, &[PieceRow])>,
    f: Fields,
    removed: &[String],
) -> WebResult<FormPage> {
    let p = &page.state.platform;
    let settings = settings_of(p, ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let c = classification.as_ref();
    let nature = match f.value("nature") {
        "" => "DE".to_owned(),
        n => n.to_owned(),
    };
    let (heading, action, trail) = match acte {
        Some((a, _)) => (
            format!("Modifier l'acte {}", a.numero_or_placeholder()),
            format!("/actes/{}/modifier", a.id),
            vec![(
                a.numero_or_placeholder().to_owned(),
                ctx.href(&format!("/actes/{}", a.id)),
            )],
        ),
        None => (
            "Créer un acte".to_owned(),
            "/actes/nouveau".to_owned(),
            Vec::new(),
        ),
    };
    let trail: Vec<(&str, String)> = trail.iter().map(|(l, h)| (l.as_str(), h.clone())).collect();
    let pieces: &[PieceRow] = acte.map_or(&[], |(_, p)| p);
    let main = pieces.iter().find(|p| p.is_main()).map(|m| MainView {
        name: m.name.clone(),
        size: size(m.size),
        href: ctx.href(&format!("/actes/{}/pieces/{}", m.acte_id, m.id)),
        signed: m.signed,
    });
    let annexes = pieces
        .iter()
        .filter(|p| !p.is_main())
        .map(|a| {
            let field = format!("typologie_{}", a.id);
            let chosen = match f.value(&field) {
                "" => a.typologie.clone(),
                v => v.to_owned(),
            };
            AnnexView {
                typologies: typologie_choices(c, &nature, &chosen),
                id: a.id.clone(),
                field,
                name: a.name.clone(),
                size: size(a.size),
                href: ctx.href(&format!("/actes/{}/pieces/{}", a.acte_id, a.id)),
                removed: removed.contains(&a.id),
            }
        })
        .collect();
    let main_typologie = match f.value("typologie_document") {
        "" => pieces
            .iter()
            .find(|p| p.is_main())
            .map(|p| p.typologie.clone())
            .unwrap_or_default(),
        v => v.to_owned(),
    };
    Ok(FormPage {
        chrome: chrome(page, ctx, &heading, f.has_errors(), &trail),
        action: ctx.href(&format!("{action}?_csrf={}", url_escape(&page.csrf))),
        editing: acte.is_some(),
        version: acte.map_or(0, |(a, _)| a.version),
        natures: nature_choices(&nature),
        matieres: matiere_groups(c, f.value("matiere")),
        has_classification: c.is_some(),
        document_typologies: typologie_choices(c, &nature, &main_typologie),
        annex_typologies: typologie_choices(c, &nature, f.value("typologie_annexes")),
        main,
        annexes,
        precedent: acte.and_then(|(a, _)| a.precedent_id.clone()),
        settings_href: ctx.href("/actes/parametres"),
        back: match acte {
            Some((a, _)) => ctx.href(&format!("/actes/{}", a.id)),
            None => ctx.href("/actes"),
        },
        max_file: actes::MAX_FILE_LABEL,
        max_total: actes::MAX_TOTAL_LABEL,
        formats: actes::ANNEX_FORMATS,
        papier: f.value("document_papier") == "oui",
        heading,
        f,
    })
}

/// The values of an acte, as the form shows them.
fn fields_of(acte: &ActeRow) -> Fields {
    Fields::new()
        .with("nature", &acte.nature)
        .with("numero", &acte.numero)
        .with("objet", &acte.objet)
        .with("matiere", &acte.matiere)
        .with(
            "date_decision",
            acte.decision_date.as_deref().unwrap_or_default(),
        )
        .with(
            "document_papier",
            if acte.document_papier { "oui" } else { "" },
        )
}

const TEXT_FIELDS: [&str; 8] = [
    "nature",
    "numero",
    "objet",
    "matiere",
    "date_decision",
    "document_papier",
    "typologie_document",
    "typologie_annexes",
];

/// Reads the upload of the acte form into a submission, and the values to show again.
fn submission_of(upload: Upload, current: &[PieceRow]) -> (Submission, Fields, Vec<String>) {
    let fields = &upload.fields;
    let mut f = Fields::new();
    for name in TEXT_FIELDS {
        f.set(name, fields.get(name));
    }
    let remove: Vec<String> = fields.all("retirer").map(str::to_owned).collect();
    let existing: Vec<(String, String)> = current
        .iter()
        .filter(|p| !p.is_main())
        .map(|p| {
            let name = format!("typologie_{}", p.id);
            let v = fields.get(&name).to_owned();
            f.set(&name, &v);
            (p.id.clone(), v)
        })
        .collect();
    let complete = fields.get("enregistrer") != "brouillon";
    let raw = RawActe {
        nature: fields.get("nature").to_owned(),
        numero: fields.get("numero").to_owned(),
        objet: fields.get("objet").to_owned(),
        matiere: fields.get("matiere").to_owned(),
        decision_date: fields.get("date_decision").to_owned(),
        document_papier: fields.get("document_papier") == "oui",
    };
    let document_typologie = fields.get("typologie_document").to_owned();
    let annex_typologie = fields.get("typologie_annexes").to_owned();
    let mut document = None;
    let mut annexes = Vec::new();
    for file in upload.files {
        match file.field.as_str() {
            "document" => document = Some(file),
            "annexes" => annexes.push((file, annex_typologie.clone())),
            _ => {}
        }
    }
    (
        Submission {
            raw,
            complete,
            document,
            document_typologie,
            annexes,
            existing,
            remove: remove.clone(),
        },
        f,
        remove,
    )
}

/// Reads an upload; a form over the limits gets its French error at `field`.
async fn read_upload(form: CsrfMultipart) -> Result<Upload, (StatusCode, FieldError)> {
    // Each file may be as large as the whole (the per-file limit is checked afterwards, to
    // name the file that is too large); the whole is capped while streaming.
    match form.collect(actes::MAX_TOTAL, actes::MAX_TOTAL).await {
        Ok(u) => Ok(u),
        Err(UploadError::TooLarge(field)) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            FieldError::new(
                if field.starts_with("document") {
                    field
                } else {
                    "annexes".to_owned()
                },
                format!(
                    "L'ensemble des fichiers envoyés dépasse {} : un acte et ses annexes pèsent {} au plus, chaque fichier {} au plus. Réduisez les pièces numérisées, puis choisissez-les à nouveau.",
                    actes::MAX_TOTAL_LABEL,
                    actes::MAX_TOTAL_LABEL,
                    actes::MAX_FILE_LABEL
                ),
            ),
        )),
        Err(UploadError::Malformed) => Err((
            StatusCode::BAD_REQUEST,
            FieldError::new(
                "acte",
                "Le formulaire d'envoi est mal formé : rechargez la page et recommencez.",
            ),
        )),
    }
}

pub async fn new_form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&form_page(&page, &ctx, None, Fields::new().with("nature", "DE"), &[]).await?)
}

/// `POST /nouveau`: creates the acte (a draft) and shows its page.
pub async fn create(page: PageCtx, ctx: OrgCtx, form: CsrfMultipart) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let upload = match read_upload(form).await {
        Ok(u) => u,
        Err((status, error)) => {
            let mut f = Fields::new().with("nature", "DE");
            f.errors.push(error);
            return render_status(status, &form_page(&page, &ctx, None, f, &[]).await?);
        }
    };
    let (submission, mut f, _) = submission_of(upload, &[]);
    let settings = settings_of(p, &ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let mut prepared = match prepare(submission, None, classification.as_ref(), today(p, &ctx)) {
        Ok(prep) => prep,
        Err(errors) => {
            f.errors.extend(errors);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&page, &ctx, None, f, &[]).await?,
            );
        }
    };
    let (main, annexes) = store_pieces(p, ctx.org_id, &mut prepared).await?;
    let now = p.clock.now();
    let who = author(&ctx);
    let created =
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
                &Origin::Form,
            )
            .await
        })
        .await;
    match created {
        Ok(id) => Ok(flash::set(
            see_other(&ctx.href(&format!("/actes/{id}"))),
            "actes-cree",
            page.secure(),
        )),
        Err(e) => {
            f.errors.extend(field_errors(WebError::from(e))?);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&page, &ctx, None, f, &[]).await?,
            )
        }
    }
}

/// The acte `id` if it can still be edited; a French refusal otherwise.
async fn editable(page: &PageCtx, ctx: &OrgCtx, id: &str) -> WebResult<(ActeRow, Vec<PieceRow>)> {
    let p = &page.state.platform;
    let acte = acte_of(p, ctx, id).await?;
    if !acte.status().editable() {
        return Err(WebError(AppError::Conflict(format!(
            "Cet acte ne peut plus être modifié : il est « {} ». Pour le corriger après son accusé de réception, créez un acte rectificatif.",
            acte.status().label().to_lowercase()
        ))));
    }
    let pieces = {
        let mut conn = p.db.read().await?;
        actes::pieces(&mut conn, &acte.id).await?
    };
    Ok((acte, pieces))
}

pub async fn edit_form(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let (acte, pieces) = editable(&page, &ctx, &id).await?;
    let f = fields_of(&acte);
    render(&form_page(&page, &ctx, Some((&acte, &pieces)), f, &[]).await?)
}

/// `POST /{id}/modifier`: saves the draft (named version), or shows the errors.
pub async fn update(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    form: CsrfMultipart,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let (acte, pieces) = editable(&page, &ctx, &id).await?;
    let upload = match read_upload(form).await {
        Ok(u) => u,
        Err((status, error)) => {
            let mut f = fields_of(&acte);
            f.errors.push(error);
            return render_status(
                status,
                &form_page(&page, &ctx, Some((&acte, &pieces)), f, &[]).await?,
            );
        }
    };
    let seen: i64 = upload.fields.get("version").parse().unwrap_or(-1);
    let (submission, mut f, removed) = submission_of(upload, &pieces);
    let settings = settings_of(p, &ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let mut prepared = match prepare(
        submission,
        Some((&acte, &pieces)),
        classification.as_ref(),
        today(p, &ctx),
    ) {
        Ok(prep) => prep,
        Err(errors) => {
            f.errors.extend(errors);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&page, &ctx, Some((&acte, &pieces)), f, &removed).await?,
            );
        }
    };
    let (main, annexes) = store_pieces(p, ctx.org_id, &mut prepared).await?;
    let piece_changes = changes(&prepared, main, annexes);
    let now = p.clock.now();
    let who = author(&ctx);
    let saved =
        p.db.atomically(async |tx| {
            actes::update(
                tx,
                now,
                ctx.org_id,
                &acte,
                seen,
                &prepared.input,
                &piece_changes,
                who,
            )
            .await
        })
        .await;
    match saved {
        Ok(()) => Ok(flash::set(
            see_other(&ctx.href(&format!("/actes/{}", acte.id))),
            "actes-modifie",
            page.secure(),
        )),
        Err(e) => {
            f.errors.extend(field_errors(WebError::from(e))?);
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&page, &ctx, Some((&acte, &pieces)), f, &removed).await?,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// Batch

/// Lines of the batch form by default, and at most.
const BATCH_LINES: usize = 5;
const BATCH_MAX: usize = 20;

pub struct BatchLine {
    pub n: usize,
    pub numero: String,
    pub objet: String,
    pub document: String,
}

#[derive(Template)]
#[template(path = "actes_lot.html")]
pub struct BatchPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub action: String,
    pub natures: Vec<(&'static str, &'static str, bool)>,
    pub matieres: Vec<MatiereGroup>,
    pub has_classification: bool,
    pub lines: Vec<BatchLine>,
    pub more_href: Option<String>,
    pub back: String,
    pub max_file: &'static str,
    pub max_total: &'static str,
    pub papier: bool,
}

#[derive(Deserialize, Default)]
pub struct BatchQuery {
    #[serde(default)]
    pub lignes: Option<usize>,
}

async fn batch_page(page: &PageCtx, ctx: &OrgCtx, f: Fields, count: usize) -> WebResult<BatchPage> {
    let p = &page.state.platform;
    let settings = settings_of(p, ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let count = count.clamp(1, BATCH_MAX);
    let nature = match f.value("nature") {
        "" => "DE",
        n => n,
    };
    Ok(BatchPage {
        chrome: chrome(page, ctx, "Créer plusieurs actes", f.has_errors(), &[]),
        action: ctx.href(&format!(
            "/actes/lot?_csrf={}&lignes={count}",
            url_escape(&page.csrf)
        )),
        natures: nature_choices(nature),
        matieres: matiere_groups(classification.as_ref(), f.value("matiere")),
        has_classification: classification.is_some(),
        lines: (1..=count)
            .map(|n| BatchLine {
                n,
                numero: format!("numero_{n}"),
                objet: format!("objet_{n}"),
                document: format!("document_{n}"),
            })
            .collect(),
        more_href: (count < BATCH_MAX)
            .then(|| ctx.href(&format!("/actes/lot?lignes={}", (count + 5).min(BATCH_MAX)))),
        back: ctx.href("/actes"),
        max_file: actes::MAX_FILE_LABEL,
        max_total: actes::MAX_TOTAL_LABEL,
        papier: f.value("document_papier") == "oui",
        f,
    })
}

pub async fn batch_form(
    page: PageCtx,
    ctx: OrgCtx,
    Params(q): Params<BatchQuery>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let f = Fields::new().with("nature", "DE");
    render(&batch_page(&page, &ctx, f, q.lignes.unwrap_or(BATCH_LINES)).await?)
}

/// `POST /lot`: every filled line becomes a draft with the shared fields, or nothing is
/// created and each line shows its errors.
pub async fn batch(
    page: PageCtx,
    ctx: OrgCtx,
    Params(q): Params<BatchQuery>,
    form: CsrfMultipart,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let count = q.lignes.unwrap_or(BATCH_LINES).clamp(1, BATCH_MAX);
    let upload = match read_upload(form).await {
        Ok(u) => u,
        Err((status, mut error)) => {
            error.field = "document_1".into();
            let mut f = Fields::new().with("nature", "DE");
            f.errors.push(error);
            return render_status(status, &batch_page(&page, &ctx, f, count).await?);
        }
    };
    let mut f = Fields::new();
    for name in ["nature", "matiere", "date_decision", "document_papier"] {
        f.set(name, upload.fields.get(name));
    }
    for n in 1..=count {
        for name in [format!("numero_{n}"), format!("objet_{n}")] {
            f.set(&name, upload.fields.get(&name));
        }
    }
    let settings = settings_of(p, &ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let day = today(p, &ctx);
    let mut files: Vec<Option<UploadedFile>> = (0..=count).map(|_| None).collect();
    for file in upload.files {
        if let Some(n) = file
            .field
            .strip_prefix("document_")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=count).contains(n))
        {
            files[n] = Some(file);
        }
    }
    let mut prepared = Vec::new();
    let mut numeros: Vec<(usize, String)> = Vec::new();
    for n in 1..=count {
        let numero = upload.fields.get(&format!("numero_{n}")).trim().to_owned();
        let objet = upload.fields.get(&format!("objet_{n}")).to_owned();
        let document = files.get_mut(n).and_then(Option::take);
        if numero.is_empty() && objet.trim().is_empty() && document.is_none() {
            continue;
        }
        let sub = Submission {
            raw: RawActe {
                nature: upload.fields.get("nature").to_owned(),
                numero: numero.clone(),
                objet,
                matiere: upload.fields.get("matiere").to_owned(),
                decision_date: upload.fields.get("date_decision").to_owned(),
                document_papier: upload.fields.get("document_papier") == "oui",
            },
            complete: false,
            document,
            ..Submission::default()
        };
        match prepare(sub, None, classification.as_ref(), day) {
            Ok(prep) => prepared.push((n, prep)),
            Err(errors) => {
                for e in errors {
                    let field = match e.field.as_str() {
                        "numero" | "objet" | "document" => format!("{}_{n}", e.field),
                        _ => e.field.clone(),
                    };
                    let message = if field.ends_with(&format!("_{n}")) {
                        format!("Acte {n} : {}", e.message)
                    } else {
                        e.message.clone()
                    };
                    if f.error_for(&field).is_none() {
                        f.error(&field, message);
                    }
                }
            }
        }
        if !numero.is_empty() {
            if let Some((first, _)) = numeros.iter().find(|(_, x)| *x == numero) {
                f.error(
                    &format!("numero_{n}"),
                    format!(
                        "Acte {n} : le numéro {numero} est déjà celui de l'acte {first} de ce lot."
                    ),
                );
            }
            numeros.push((n, numero));
        }
    }
    if prepared.is_empty() && !f.has_errors() {
        f.error(
            "numero_1",
            "Remplissez au moins une ligne : le numéro, l'objet ou le PDF d'un acte.",
        );
    }
    if !f.has_errors() {
        // Numéros already used in the organisation, named line by line.
        let mut conn = p.db.read().await?;
        for (n, numero) in &numeros {
            let taken: Option<String> = bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
                "SELECT id FROM actes WHERE org_id = $1 AND numero = $2"
            )
            .bind(ctx.org_id.to_string())
            .bind(numero)
            .fetch_optional(c)
            .await)
            .map_err(bouquet_store::StoreError::from)?;
            if taken.is_some() {
                f.error(
                    &format!("numero_{n}"),
                    format!("Acte {n} : le numéro {numero} est déjà utilisé par un autre acte de votre organisation."),
                );
            }
        }
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &batch_page(&page, &ctx, f, count).await?,
        );
    }
    let mut stored = Vec::new();
    for (n, mut prep) in prepared {
        let (main, annexes) = store_pieces(p, ctx.org_id, &mut prep).await?;
        stored.push((n, prep, main, annexes));
    }
    let now = p.clock.now();
    let who = author(&ctx);
    let created =
        p.db.atomically(async |tx| {
            for (_, prep, main, annexes) in &stored {
                actes::create(
                    tx,
                    now,
                    &ctx.org,
                    &prep.input,
                    None,
                    main.as_ref(),
                    annexes,
                    who,
                    &Origin::Batch,
                )
                .await?;
            }
            Ok(())
        })
        .await;
    match created {
        Ok(()) => Ok(flash::set(
            see_other(&ctx.href("/actes")),
            "actes-lot",
            page.secure(),
        )),
        Err(e) => {
            for error in field_errors(WebError::from(e))? {
                f.error(&error.field, error.message);
            }
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &batch_page(&page, &ctx, f, count).await?,
            )
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matieres_are_grouped_under_their_first_level() {
        let c = Classification::demo();
        let groups = matiere_groups(Some(&c), "7.1");
        assert!(groups.len() >= 9, "{}", groups.len());
        let finances = groups.iter().find(|g| g.label.starts_with("7 ")).unwrap();
        assert!(
            finances
                .options
                .iter()
                .any(|(code, label, selected)| code == "7.1"
                    && label.starts_with("7.1 ")
                    && *selected)
        );
        assert!(
            groups
                .iter()
                .all(|g| g.options.iter().all(|(c, _, _)| c.contains('.')))
        );
        assert!(matiere_groups(None, "").is_empty());
    }

    #[test]
    fn the_default_typologie_is_marked() {
        let c = Classification::demo();
        let choices = typologie_choices(Some(&c), "DE", "");
        let default: Vec<_> = choices.iter().filter(|(_, _, s)| *s).collect();
        assert_eq!(default.len(), 1);
        assert_eq!(default[0].0, "99_DE");
        assert!(default[0].1.ends_with("(par défaut)"));
    }
}
