//! Importing members from a CSV file: upload, preview, confirmation.
//!
//! The uploaded file is kept as a blob (owner [`BLOB_OWNER`]) and named by its hash in the
//! confirmation form: the confirmation reads the file again and checks it again (the
//! platform may have changed in between), so nothing the browser sends back is trusted.
//! Nothing is written while any line is wrong, unless the operator explicitly chose to
//! import the valid lines only.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::AppError;
use bouquet_kernel::policy::PlatformAction;
use bouquet_store::Platform;
use bouquet_webkit::forms::{CsrfMultipart, Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{CurrentUser, PageCtx, WebError, WebResult, flash, render};

use super::{date_fr, members_chrome, operator_date};
use crate::current;
use crate::import::{self, MAX_FILE_SIZE, Preview};
use crate::import_apply;

/// Blob owner of uploaded member files.
pub const BLOB_OWNER: &str = "imports";

/// At most this many valid lines are shown in the preview (every wrong line is shown).
const SHOWN_VALID: usize = 200;

#[derive(Template)]
#[template(path = "member_import.html")]
struct UploadPage {
    chrome: Chrome,
    f: Fields,
    action: String,
    max_size: String,
}

fn upload_page(page: &PageCtx, f: Fields) -> UploadPage {
    UploadPage {
        chrome: members_chrome(
            page,
            "Importer des membres",
            f.has_errors(),
            &[],
            "Importer des membres",
        ),
        f,
        action: format!(
            "/admin/membres/import?_csrf={}",
            url::form_urlencoded::byte_serialize(page.csrf.as_bytes()).collect::<String>()
        ),
        max_size: bouquet_store::blobs::human_size(MAX_FILE_SIZE as u64),
    }
}

/// One line of the preview table.
pub struct LineView {
    pub line: usize,
    pub siren: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub services: String,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "member_import_preview.html")]
struct PreviewPage {
    chrome: Chrome,
    file_name: String,
    sha256: String,
    encoding: &'static str,
    separator: String,
    ignored_columns: String,
    total: usize,
    valid: usize,
    wrong: usize,
    /// Every wrong line, then the first valid ones.
    wrong_lines: Vec<LineView>,
    valid_lines: Vec<LineView>,
    more_valid: usize,
    f: Fields,
}

fn line_view(l: &import::LineReport) -> LineView {
    let (siren, name, kind, status, services) = match &l.member {
        Some(m) => (
            m.siren.as_str().to_owned(),
            m.name.clone(),
            m.kind.label().to_owned(),
            format!(
                "{} depuis le {}",
                m.status.label(),
                date_fr(&m.status_date.to_string())
            ),
            m.services
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => Default::default(),
    };
    LineView {
        line: l.line,
        siren,
        name,
        kind,
        status,
        services,
        errors: l
            .errors
            .iter()
            .map(|e| {
                if e.column.is_empty() {
                    e.message.clone()
                } else {
                    format!("colonne « {} » : {}", e.column, e.message)
                }
            })
            .collect(),
        warnings: l.warnings.clone(),
    }
}

fn preview_page(
    page: &PageCtx,
    file_name: &str,
    sha256: &str,
    preview: &Preview,
    f: Fields,
) -> PreviewPage {
    let wrong_lines: Vec<LineView> = preview
        .lines
        .iter()
        .filter(|l| !l.errors.is_empty())
        .map(line_view)
        .collect();
    let valid = preview.lines.len() - wrong_lines.len();
    let valid_lines: Vec<LineView> = preview
        .lines
        .iter()
        .filter(|l| l.errors.is_empty())
        .take(SHOWN_VALID)
        .map(line_view)
        .collect();
    PreviewPage {
        chrome: members_chrome(
            page,
            "Vérifier l'import",
            f.has_errors(),
            &[("Importer des membres", "/admin/membres/import".into())],
            "Vérifier l'import",
        ),
        file_name: file_name.to_owned(),
        sha256: sha256.to_owned(),
        encoding: preview.encoding.label(),
        separator: match preview.separator {
            ';' => "point-virgule".to_owned(),
            ',' => "virgule".to_owned(),
            other => format!("« {other} »"),
        },
        ignored_columns: preview
            .ignored_columns
            .iter()
            .map(|c| format!("« {c} »"))
            .collect::<Vec<_>>()
            .join(", "),
        total: preview.lines.len(),
        valid,
        wrong: wrong_lines.len(),
        more_valid: valid.saturating_sub(valid_lines.len()),
        wrong_lines,
        valid_lines,
        f,
    }
}

/// Reads and checks a file: the registry's checks, then the platform's.
async fn check(p: &Platform, bytes: &[u8]) -> WebResult<Result<Preview, String>> {
    let registry = current::current(p).await?;
    let mut preview = match import::preview(bytes, &registry, operator_date(p)) {
        Ok(preview) => preview,
        Err(e) => return Ok(Err(upper_first(&e.to_string()))),
    };
    let mut conn = p.db.read().await?;
    import_apply::check_platform(&mut conn, &mut preview).await?;
    Ok(Ok(preview))
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| {
        let mut out: String = c.to_uppercase().collect();
        out.push_str(chars.as_str());
        out.push('.');
        out
    })
}

/// `GET /admin/membres/import`
pub async fn form(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    render(&upload_page(&page, Fields::new()))
}

/// `POST /admin/membres/import` (multipart, `fichier`): the preview.
pub async fn upload(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    form: Result<CsrfMultipart, WebError>,
) -> WebResult<Response> {
    // Rights first: a refused person learns nothing from the shape of their request.
    identity.require(PlatformAction::ManageMembers)?;
    let CsrfMultipart(mut form) = form?;
    let p = &page.state.platform;
    let bad_form = || {
        WebError(AppError::BadRequest(
            "Le formulaire d'envoi est mal formé.".into(),
        ))
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut too_large = false;
    'fields: while let Some(mut field) = form.next_field().await.map_err(|_| bad_form())? {
        if field.name() != Some("fichier") {
            continue;
        }
        let name = field
            .file_name()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "membres.csv".to_owned());
        let mut buf = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) if buf.len() + chunk.len() <= MAX_FILE_SIZE => {
                    buf.extend_from_slice(&chunk);
                }
                // Over the size, or over the request's limit: stop reading.
                Ok(Some(_)) => {
                    too_large = true;
                    break 'fields;
                }
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_large = true;
                    break 'fields;
                }
                Ok(None) => break,
                Err(_) => return Err(bad_form()),
            }
        }
        file = Some((name, buf));
    }
    let mut f = Fields::new();
    let (name, bytes) = match file {
        _ if too_large => {
            f.error(
                "fichier",
                format!(
                    "Le fichier dépasse {} : découpez-le en plusieurs fichiers.",
                    bouquet_store::blobs::human_size(MAX_FILE_SIZE as u64)
                ),
            );
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &upload_page(&page, f));
        }
        Some((name, bytes)) if !bytes.is_empty() => (name, bytes),
        _ => {
            f.error("fichier", "Choisissez le fichier CSV des membres.");
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &upload_page(&page, f));
        }
    };
    let preview = match check(p, &bytes).await? {
        Ok(preview) => preview,
        Err(message) => {
            f.error("fichier", message);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &upload_page(&page, f));
        }
    };
    let blob = p
        .blobs
        .put_bytes(BLOB_OWNER, bytes::Bytes::from(bytes))
        .await?;
    let mut f = Fields::new();
    f.set("nom", &name);
    render(&preview_page(&page, &name, &blob.sha256, &preview, f))
}

/// `POST /admin/membres/import/confirmer`: `fichier` (hash of the uploaded file), `nom`,
/// and `lignes_valides=oui` to import the valid lines of a file that has wrong ones.
pub async fn confirm(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    pairs: FormPairs,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let sha256 = pairs.get("fichier");
    let name: String = pairs.get("nom").chars().take(200).collect();
    let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    let expired = || {
        let mut f = Fields::new();
        f.error(
            "fichier",
            "Le fichier à importer n'a pas été retrouvé : envoyez-le de nouveau.",
        );
        f
    };
    if !well_formed || !p.blobs.exists(BLOB_OWNER, sha256).await? {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &upload_page(&page, expired()),
        );
    }
    let bytes = p.blobs.read_all(BLOB_OWNER, sha256).await?;
    let preview = match check(p, &bytes).await? {
        Ok(preview) => preview,
        Err(message) => {
            let mut f = Fields::new();
            f.error("fichier", message);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &upload_page(&page, f));
        }
    };
    let only_valid = pairs.get("lignes_valides") == "oui";
    let mut f = Fields::new();
    f.set("nom", &name);
    if !preview.is_clean() && !only_valid {
        f.error(
            "lignes_valides",
            "Des lignes comportent des erreurs : corrigez le fichier et envoyez-le de nouveau, ou cochez « Importer seulement les lignes sans erreur ».",
        );
    } else if preview.valid().next().is_none() {
        f.error(
            "lignes_valides",
            "Aucune ligne n'est sans erreur : rien ne peut être importé.",
        );
    }
    if f.has_errors() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &preview_page(&page, &name, sha256, &preview, f),
        );
    }
    let registry = current::current(p).await?;
    let valid: Vec<_> = preview.valid().collect();
    let result =
        p.db.atomically(async |tx| {
            import_apply::apply(
                tx,
                p.clock.now(),
                operator_date(p),
                &registry,
                &valid,
                &name,
                &identity.audit_actor(),
            )
            .await
        })
        .await;
    match result {
        Ok(_) => Ok(flash::set(
            see_other("/admin/membres"),
            "membres-importes",
            page.secure(),
        )),
        Err(e) => {
            f.absorb_conflict(AppError::from(e), "lignes_valides")
                .map_err(WebError)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &preview_page(&page, &name, sha256, &preview, f),
            )
        }
    }
}
