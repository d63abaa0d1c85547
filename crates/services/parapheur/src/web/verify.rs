//! "Vérifier une signature": anyone working in the parapheur uploads a signed file (a PDF, a
//! PES flow, or any file with its `.p7s`) and reads a French report — signatures made by
//! Bouquet or elsewhere. Nothing is stored.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_crypto::report::{Check, SignatureReport};
use bouquet_crypto::{CryptoError, cms, pades, xades};
use bouquet_kernel::AppError;
use bouquet_webkit::forms::{CsrfMultipart, Fields, UploadError};
use bouquet_webkit::layout::{Chrome, render_status};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, render, views};
use sha2::Digest;

use super::{USE, chrome};
use crate::model::DocumentKind;
use crate::signing;

/// One check, as the report shows it.
pub struct CheckLine {
    pub label: &'static str,
    pub ok: Option<bool>,
    pub text: String,
}

/// One signature's report, ready to show.
pub struct ReportView {
    pub valid: bool,
    pub format: &'static str,
    pub name: String,
    pub signer: String,
    pub issuer: String,
    pub claimed: Option<String>,
    pub timestamp: Option<String>,
    pub checks: Vec<CheckLine>,
    pub remarks: Vec<String>,
}

#[derive(Template)]
#[template(path = "parapheur_verify.html")]
pub struct VerifyPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub action: String,
    pub file_name: Option<String>,
    pub reports: Vec<ReportView>,
}

fn check_line(label: &'static str, c: &Check) -> CheckLine {
    match c {
        Check::Ok => CheckLine {
            label,
            ok: Some(true),
            text: "Correct".into(),
        },
        Check::Failed(m) => CheckLine {
            label,
            ok: Some(false),
            text: m.clone(),
        },
        Check::NotChecked(m) => CheckLine {
            label,
            ok: None,
            text: format!("Non vérifié : {m}"),
        },
    }
}

fn view(r: &SignatureReport, ctx: &OrgCtx) -> ReportView {
    let at = |t: jiff::Timestamp| views::at(bouquet_kernel::clock::to_micros(t), &ctx.tz);
    ReportView {
        valid: r.is_valid(),
        format: r.format.label(),
        name: r.name.clone(),
        signer: r
            .signer
            .as_ref()
            .map_or_else(|| "inconnu".into(), |s| s.subject_common_name.clone()),
        issuer: r
            .signer
            .as_ref()
            .map_or_else(String::new, |s| s.issuer.clone()),
        claimed: r.claimed_time.map(at),
        timestamp: r
            .timestamp
            .as_ref()
            .map(|(t, tsa)| format!("{} ({tsa})", at(*t))),
        checks: vec![
            check_line("Intégrité du document", &r.integrity),
            check_line("Certificat du signataire", &r.certificate),
            check_line("Horodatage", &r.timestamp_check),
            check_line("Étendue de la signature", &r.coverage),
        ],
        remarks: r.remarks.clone(),
    }
}

fn page(
    page: &PageCtx,
    ctx: &OrgCtx,
    f: Fields,
    file_name: Option<String>,
    reports: Vec<ReportView>,
) -> VerifyPage {
    VerifyPage {
        chrome: chrome(page, ctx, "Vérifier une signature", f.has_errors(), &[]),
        action: ctx.href(&format!(
            "/parapheur/verifier?_csrf={}",
            super::inbox::url_escape(&page.csrf)
        )),
        f,
        file_name,
        reports,
    }
}

pub async fn form(p: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&page(&p, &ctx, Fields::new(), None, Vec::new()))
}

/// Checks the signatures of `document` (with `detached`, a `.p7s`, for any other file)
/// against `anchors` — pure computation.
pub fn verify_file(
    name: &str,
    document: &[u8],
    detached: Option<&[u8]>,
    anchors: &[Vec<u8>],
    now: jiff::Timestamp,
) -> Result<Vec<SignatureReport>, CryptoError> {
    if let Some(p7s) = detached {
        let digest: [u8; 32] = sha2::Sha256::digest(document).into();
        let der = cms::parse_pem_or_der(p7s)?;
        return Ok(vec![cms::verify_detached_digest(
            &der,
            &digest,
            anchors,
            Some(now),
            bouquet_crypto::report::SignatureFormat::Cades,
        )?]);
    }
    match DocumentKind::sniff(name, document).map_err(CryptoError::bad_input)? {
        DocumentKind::Pdf => pades::verify(&document, anchors, Some(now)),
        DocumentKind::Pes => xades::verify_pes(document, anchors, Some(now)),
        DocumentKind::Other => Err(CryptoError::bad_input(
            "Ce fichier n'est ni un PDF ni un flux PES : joignez aussi son fichier de signature (.p7s).",
        )),
    }
}

/// `document` (file), `signature` (optional `.p7s`).
pub async fn check(p: PageCtx, ctx: OrgCtx, form: CsrfMultipart) -> WebResult<Response> {
    ctx.require(USE)?;
    let platform = &p.state.platform;
    let mut f = Fields::new();
    let upload = match form
        .collect(crate::flow::MAX_FILE, crate::flow::MAX_FILE + 1024 * 1024)
        .await
    {
        Ok(u) => u,
        Err(UploadError::TooLarge(_)) => {
            f.error("document", "Le fichier dépasse 50 Mo.");
            return render_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                &page(&p, &ctx, f, None, Vec::new()),
            );
        }
        Err(UploadError::Malformed) => {
            return Err(WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )));
        }
    };
    let mut document = None;
    let mut detached = None;
    for file in upload.files {
        match file.field.as_str() {
            "document" => document = Some(file),
            "signature" => detached = Some(file.bytes),
            _ => {}
        }
    }
    let Some(document) = document else {
        f.error("document", "Choisissez le fichier signé à vérifier.");
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&p, &ctx, f, None, Vec::new()),
        );
    };
    let anchors = vec![
        signing::pki(platform)
            .await?
            .demo
            .root_certificate_der()
            .to_vec(),
    ];
    let now = platform.clock.now();
    let name = document.name.clone();
    let result = tokio::task::spawn_blocking(move || {
        verify_file(
            &document.name,
            &document.bytes,
            detached.as_deref(),
            &anchors,
            now,
        )
    })
    .await
    .map_err(|e| WebError(AppError::Internal(e.to_string())))?;
    match result {
        Ok(reports) if reports.is_empty() => {
            f.error(
                "document",
                "Ce fichier ne contient aucune signature électronique.",
            );
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&p, &ctx, f, Some(name), Vec::new()),
            )
        }
        Ok(reports) => {
            let views = reports.iter().map(|r| view(r, &ctx)).collect();
            render(&page(&p, &ctx, f, Some(name), views))
        }
        Err(e) => {
            f.error("document", e.to_string());
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&p, &ctx, f, Some(name), Vec::new()),
            )
        }
    }
}
