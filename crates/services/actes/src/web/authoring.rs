//! The authoring pages under `/o/{siren}/actes` (the service gate refuses an organisation
//! that has not subscribed): the list and its search and CSV export, the acte form (new,
//! edit, batch), the acte's page and its actions, the settings and classification.
//!
//! - `/`, `/export.csv`: [`list`].
//! - `/nouveau`, `/lot`, `/{id}/modifier`: [`form`].
//! - `/{id}`, its pieces, `/{id}/supprimer`, `/{id}/dupliquer`, `/{id}/rectificatif`,
//!   `/{id}/signature`: [`page`].
//! - `/parametres`: [`settings_page`].
//!
//! What a form and the API both do with a submission ([`prepare`], [`store_pieces`]) is here.

pub mod form;
pub mod list;
pub mod page;
pub mod settings_page;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use bouquet_format_actes::Classification;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, FieldError, Service};
use bouquet_store::{Platform, StoreResult, orgs};
use bouquet_webkit::forms::UploadedFile;
use bouquet_webkit::layout::Chrome;
use bouquet_webkit::{AppState, OrgCtx, PageCtx, TodoItem, WebError, WebResult, views};
use jiff::civil::Date;
use utoipa_axum::router::OpenApiRouter;

use crate::actes::{
    self, ActeInput, ActeRow, Author, FileType, PieceChanges, PieceRow, RawActe, StoredPiece,
};
use crate::model::Status;
use crate::settings::{self, SettingsRow};

/// The right to write actes.
pub const USE: Action = Action::UseService(Service::Actes);
/// The right to read them (référents of the EPCI, the operator's staff).
pub const READ: Action = Action::ReadService(Service::Actes);

/// Routes under `/o/{siren}/actes`.
pub fn routes() -> OpenApiRouter<AppState> {
    let upload = || DefaultBodyLimit::max(actes::MAX_TOTAL + 1024 * 1024);
    OpenApiRouter::new()
        .route("/", get(list::list))
        .route("/export.csv", get(list::export))
        .route(
            "/nouveau",
            get(form::new_form).post(form::create).layer(upload()),
        )
        .route(
            "/lot",
            get(form::batch_form).post(form::batch).layer(upload()),
        )
        .route(
            "/parametres",
            get(settings_page::show).post(settings_page::save),
        )
        .route("/{id}", get(page::show))
        .route(
            "/{id}/modifier",
            get(form::edit_form).post(form::update).layer(upload()),
        )
        .route("/{id}/supprimer", get(page::delete_form).post(page::delete))
        .route("/{id}/dupliquer", post(page::duplicate))
        .route("/{id}/rectificatif", post(page::rectificatif))
        .route("/{id}/signature", post(page::signature))
        .route("/{id}/pieces/{piece}", get(page::piece))
        .route("/{id}/pieces/{piece}/original", get(page::original))
}

/// The dashboard's to-do lines of this part: signed actes waiting to be transmitted.
pub async fn todos(state: &AppState, ctx: &OrgCtx) -> WebResult<Vec<TodoItem>> {
    if !ctx.can(USE) {
        return Ok(Vec::new());
    }
    let mut conn = state.platform.db.read().await?;
    let ready: i64 = bouquet_store::run!(&mut conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM actes WHERE org_id = $1 AND status = 'pret'"
    )
    .bind(ctx.org_id.to_string())
    .fetch_one(c)
    .await)
    .map_err(bouquet_store::StoreError::from)?;
    if ready == 0 {
        return Ok(Vec::new());
    }
    Ok(vec![TodoItem {
        label: views::count(
            ready,
            "acte signé attend sa transmission à la préfecture",
            "actes signés attendent leur transmission à la préfecture",
            "",
        ),
        href: ctx.href("/actes?statut=pret"),
        detail: Some("Ouvrez l'acte et choisissez « Transmettre à la préfecture ».".into()),
        urgent: false,
    }])
}

/// Flash messages of this part (codes start with "actes-").
pub fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        "actes-cree" => {
            "L'acte est enregistré. Ce qui manque encore pour le transmettre est indiqué ci-dessous."
        }
        "actes-modifie" => "Les modifications de l'acte sont enregistrées.",
        "actes-supprime" => "Le brouillon est supprimé.",
        "actes-duplique" => {
            "Une copie de l'acte est créée : donnez-lui un numéro et joignez son document."
        }
        "actes-rectificatif" => {
            "L'acte rectificatif est créé : donnez-lui un numéro et joignez le document corrigé."
        }
        "actes-lot" => "Les actes sont créés : ils apparaissent en tête de la liste.",
        "actes-signature" => {
            "L'acte est envoyé en signature : la première personne du circuit a reçu un courriel."
        }
        "actes-parametres" => "Les paramètres des actes sont enregistrés.",
        _ => return None,
    })
}

/// The chrome of an actes page: "Tableau de bord › Actes › …".
pub fn chrome(
    page: &PageCtx,
    ctx: &OrgCtx,
    title: &str,
    has_errors: bool,
    trail: &[(&str, String)],
) -> Chrome {
    let chrome = page
        .chrome(title, Some(ctx))
        .with_errors(has_errors)
        .crumb("Tableau de bord", Some(ctx.href("/")))
        .crumb("Actes", Some(ctx.href("/actes")));
    trail
        .iter()
        .fold(chrome, |c, (label, href)| {
            c.crumb(*label, Some(href.clone()))
        })
        .crumb(title, None)
}

/// The signed-in person, as the timeline and the journal record them.
pub fn author(ctx: &OrgCtx) -> Author<'_> {
    Author {
        id: ctx.identity.user_id,
        name: &ctx.identity.user.display_name,
    }
}

/// Today in the organisation's time zone.
pub fn today(p: &Platform, ctx: &OrgCtx) -> Date {
    orgs::local_date(p.clock.now(), &ctx.tz)
        .parse()
        .unwrap_or(Date::constant(2000, 1, 1))
}

/// The acte `id` of this organisation, or 404.
pub async fn acte_of(p: &Platform, ctx: &OrgCtx, id: &str) -> WebResult<ActeRow> {
    let mut conn = p.db.read().await?;
    actes::get(&mut conn, ctx.org_id, id)
        .await?
        .ok_or(WebError(AppError::NotFound))
}

/// The organisation's settings, if any.
pub async fn settings_of(p: &Platform, ctx: &OrgCtx) -> WebResult<Option<SettingsRow>> {
    let mut conn = p.db.read().await?;
    Ok(settings::get(&mut conn, ctx.org_id).await?)
}

/// "2026-11-20" → "20/11/2026".
pub fn date_fr(iso: &str) -> String {
    iso.parse::<Date>()
        .map_or_else(|_| iso.to_owned(), crate::model::dmy)
}

/// "1,2 Mo"
pub fn size(bytes: i64) -> String {
    bouquet_store::blobs::human_size(bytes.max(0) as u64)
}

/// Percent-encodes a query value.
pub fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The status label with the code, for filters.
pub fn status_choices(selected: &str) -> Vec<(&'static str, &'static str, bool)> {
    Status::ALL
        .into_iter()
        .map(|s| (s.code(), s.label(), s.code() == selected))
        .collect()
}

// ---------------------------------------------------------------------------------------
// What a form and the API do with a submission.

/// An acte as submitted (a page's form or the API), before any check.
#[derive(Default)]
pub struct Submission {
    pub raw: RawActe,
    /// Every required field must be there ("Enregistrer l'acte"), or a draft may be
    /// unfinished ("Enregistrer le brouillon").
    pub complete: bool,
    /// A new main document.
    pub document: Option<UploadedFile>,
    /// Its typologie ("" = the nature's default). On an edit without a new document, the
    /// typologie of the current one.
    pub document_typologie: String,
    /// New annexes, each with its typologie ("" = default).
    pub annexes: Vec<(UploadedFile, String)>,
    /// Typologies of the current annexes (piece id, code).
    pub existing: Vec<(String, String)>,
    /// Current annexes to remove (piece ids).
    pub remove: Vec<String>,
}

/// A checked file, not yet stored.
pub struct CheckedFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub kind: &'static FileType,
    pub typologie: String,
}

/// A submission once every check passed.
pub struct Prepared {
    pub input: ActeInput,
    pub document: Option<CheckedFile>,
    pub annexes: Vec<CheckedFile>,
    /// New typologies of current pieces.
    pub typologies: Vec<(String, String)>,
    pub remove: Vec<String>,
}

/// Checks a submission against the rules of the standard, the organisation's classification
/// and the current acte (`current`, on an edit). Every problem is a [`FieldError`] of the
/// field concerned; nothing is written.
pub fn prepare(
    sub: Submission,
    current: Option<(&ActeRow, &[PieceRow])>,
    classification: Option<&Classification>,
    today: Date,
) -> Result<Prepared, Vec<FieldError>> {
    let mut errors = Vec::new();
    let input = match actes::check_acte(&sub.raw, classification, today, sub.complete) {
        Ok(i) => Some(i),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let nature = input
        .as_ref()
        .map(|i| i.nature)
        .or_else(|| bouquet_format_actes::Nature::from_abbrev(sub.raw.nature.trim()));
    let current_pieces: &[PieceRow] = current.map_or(&[], |(_, p)| p);
    let mut typologies = Vec::new();
    let mut total: usize = 0;
    // The main document.
    let mut document = None;
    match sub.document {
        Some(file) => match actes::check_piece(&file.name, &file.bytes, true) {
            Ok(kind) => {
                total += file.bytes.len();
                let typologie = match nature {
                    Some(n) => {
                        match actes::resolve_typologie(classification, n, &sub.document_typologie) {
                            Ok(t) => t,
                            Err(m) => {
                                errors.push(FieldError::new("typologie_document", m));
                                String::new()
                            }
                        }
                    }
                    None => String::new(),
                };
                document = Some(CheckedFile {
                    name: file.name,
                    bytes: file.bytes,
                    kind,
                    typologie,
                });
            }
            Err(m) => errors.push(FieldError::new("document", m)),
        },
        None => match current_pieces.iter().find(|p| p.is_main()) {
            Some(main) => {
                total += main.size.max(0) as usize;
                if let Some(n) = nature {
                    match actes::resolve_typologie(classification, n, &sub.document_typologie) {
                        Ok(t) if t != main.typologie => typologies.push((main.id.clone(), t)),
                        Ok(_) => {}
                        Err(m) => errors.push(FieldError::new("typologie_document", m)),
                    }
                }
            }
            None if sub.complete => errors.push(FieldError::new(
                "document",
                "Joignez l'acte lui-même, en PDF (le document principal).",
            )),
            None => {}
        },
    }
    // The current annexes: removed, or kept with their typologie (checked for the nature,
    // which may have changed).
    let mut kept = 0;
    for piece in current_pieces.iter().filter(|p| !p.is_main()) {
        if sub.remove.contains(&piece.id) {
            continue;
        }
        kept += 1;
        total += piece.size.max(0) as usize;
        let wanted = sub
            .existing
            .iter()
            .find(|(id, _)| *id == piece.id)
            .map_or(piece.typologie.as_str(), |(_, t)| t.as_str());
        if let Some(n) = nature {
            match actes::resolve_typologie(classification, n, wanted) {
                Ok(t) if t != piece.typologie => typologies.push((piece.id.clone(), t)),
                Ok(_) => {}
                Err(m) => errors.push(FieldError::new(
                    format!("typologie_{}", piece.id),
                    format!("« {} » : {m}", piece.name),
                )),
            }
        }
    }
    // New annexes.
    let mut annexes = Vec::new();
    for (file, code) in sub.annexes {
        match actes::check_piece(&file.name, &file.bytes, false) {
            Ok(kind) => {
                total += file.bytes.len();
                let typologie = match nature {
                    Some(n) => match actes::resolve_typologie(classification, n, &code) {
                        Ok(t) => t,
                        Err(m) => {
                            errors.push(FieldError::new(
                                "typologie_annexes",
                                format!("« {} » : {m}", file.name),
                            ));
                            String::new()
                        }
                    },
                    None => String::new(),
                };
                annexes.push(CheckedFile {
                    name: file.name,
                    bytes: file.bytes,
                    kind,
                    typologie,
                });
            }
            Err(m) => errors.push(FieldError::new("annexes", m)),
        }
    }
    if kept + annexes.len() > actes::MAX_ANNEXES {
        errors.push(FieldError::new(
            "annexes",
            format!(
                "Un acte compte {} annexes au plus : regroupez des pièces dans un même PDF.",
                actes::MAX_ANNEXES
            ),
        ));
    }
    if let Err(m) = actes::check_total(total) {
        errors.push(FieldError::new("annexes", m));
    }
    match (input, errors.is_empty()) {
        (Some(input), true) => Ok(Prepared {
            input,
            document,
            annexes,
            typologies,
            remove: sub.remove,
        }),
        _ => Err(errors),
    }
}

/// Writes the files of a prepared submission to the organisation's blobs (before the
/// transaction that references them; a blob nobody references is harmless).
pub async fn store_pieces(
    p: &Platform,
    org: bouquet_kernel::OrgId,
    prepared: &mut Prepared,
) -> StoreResult<(Option<StoredPiece>, Vec<StoredPiece>)> {
    let main = match prepared.document.take() {
        Some(f) => Some(actes::store_file(p, org, &f.name, f.bytes, f.kind, f.typologie).await?),
        None => None,
    };
    let mut annexes = Vec::new();
    for f in prepared.annexes.drain(..) {
        annexes.push(actes::store_file(p, org, &f.name, f.bytes, f.kind, f.typologie).await?);
    }
    Ok((main, annexes))
}

/// The piece changes of an edit.
pub fn changes(
    prepared: &Prepared,
    main: Option<StoredPiece>,
    add: Vec<StoredPiece>,
) -> PieceChanges {
    PieceChanges {
        main,
        add,
        remove: prepared.remove.clone(),
        typologies: prepared.typologies.clone(),
    }
}

/// An error of the store as field errors, when it is one (a numéro already used…).
pub fn field_errors(e: WebError) -> Result<Vec<FieldError>, WebError> {
    match e.0 {
        AppError::Invalid(fields) => Ok(fields),
        AppError::Conflict(m) => Ok(vec![FieldError::new("acte", m)]),
        other => Err(WebError(other)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_the_french_way() {
        assert_eq!(date_fr("2026-11-20"), "20/11/2026");
        assert_eq!(date_fr("n'importe"), "n'importe");
        assert_eq!(url_escape("a b&c"), "a+b%26c");
        assert!(flash("actes-cree").is_some() && flash("autre").is_none());
    }

    #[test]
    fn a_submission_is_refused_field_by_field() {
        let c = Classification::demo();
        let today = Date::constant(2026, 11, 23);
        let sub = Submission {
            raw: RawActe {
                nature: "BF".into(),
                numero: "BUDGET_2026".into(),
                objet: "Budget primitif".into(),
                matiere: "7.1".into(),
                decision_date: "2026-11-20".into(),
                document_papier: false,
            },
            complete: true,
            document: Some(UploadedFile {
                field: "document".into(),
                name: "budget.pdf".into(),
                bytes: b"pas un pdf".to_vec(),
            }),
            document_typologie: String::new(),
            annexes: vec![(
                UploadedFile {
                    field: "annexes".into(),
                    name: "annexe.odt".into(),
                    bytes: b"PK\x03\x04...".to_vec(),
                },
                "99_AI".into(),
            )],
            existing: Vec::new(),
            remove: Vec::new(),
        };
        let errors = prepare(sub, None, Some(&c), today).err().unwrap();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["document", "typologie_annexes"]);
        assert!(errors[1].message.contains("annexe.odt"));
    }
}
