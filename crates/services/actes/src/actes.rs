//! The acte and its pieces: what a secretary writes before transmission.
//!
//! - Checks ([`check_acte`], [`check_piece`], [`resolve_typologie`]): every rule of the
//!   standard on the fields (through `bouquet-format-actes`), the classification of the
//!   organisation (matière, typologie de pièce allowed for the nature), the files (a main
//!   document that is a readable PDF, annexes of an allowed type, size limits), each refusal a
//!   French sentence for the field it concerns.
//! - Storage ([`create`], [`update`], [`delete_draft`], [`duplicate`]): rows in `actes` and
//!   `actes_pieces` (files in the blob store), the full-text index (kind `"acte"`), the
//!   timeline, the journal and the usage event, in one transaction. Every change names the
//!   version it saw.
//! - Lists ([`list`], [`all`]): filters, full-text search, keyset pages by latest change.
//! - Readiness ([`missing_fields`], [`missing_for_transmission`]): what still prevents the
//!   transmission, in French.
//! - Signature ([`send_to_signature`], [`SignatureEnded`]): the optional parapheur circuit;
//!   the signed PDF replaces the main document (the original is kept).

use std::sync::Arc;

use async_trait::async_trait;
use bouquet_format_actes::{Classification, Nature};
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::usage::UsageKind;
use bouquet_kernel::{AppError, FieldError, OrgId, UserId};
use bouquet_parapheur::circuits;
use bouquet_parapheur::flow::{self, InFile, Person, Submission, TOPIC_ENDED};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::blobs::owner_key;
use bouquet_store::db::{Engine, Handle, Tx};
use bouquet_store::jobs::JobRow;
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::outbox::Envelope;
use bouquet_store::page::{Cursor, Page, int_text_key};
use bouquet_store::query::Query;
use bouquet_store::worker::{JobError, JobHandler, Registry};
use bouquet_store::{Platform, StoreError, StoreResult, exec, run, search, usage};
use bytes::Bytes;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use crate::events::{self, NewEvent as TimelineEvent};
use crate::model::Status;
use crate::settings::{self, SettingsRow};

/// The kind of the actes in the platform's full-text index.
pub const SEARCH_KIND: &str = "acte";
/// Largest file of an acte (main document or annex).
pub const MAX_FILE: usize = 50 * 1024 * 1024;
pub const MAX_FILE_LABEL: &str = "50 Mo";
/// Largest total of an acte's files (and of one upload form).
pub const MAX_TOTAL: usize = 150 * 1024 * 1024;
pub const MAX_TOTAL_LABEL: &str = "150 Mo";
/// At most this many annexes on one acte.
pub const MAX_ANNEXES: usize = 50;

fn app(e: AppError) -> StoreError {
    StoreError::App(e)
}

// ---------------------------------------------------------------------------------------
// Rows

/// An acte as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ActeRow {
    pub id: String,
    pub org_id: String,
    pub status: String,
    pub nature: String,
    /// NumeroInterne; empty on a draft that has none yet.
    pub numero: String,
    pub objet: String,
    /// Dotted matière codes ("7.1.2"); empty until chosen.
    pub matiere: String,
    pub decision_date: Option<String>,
    pub document_papier: bool,
    /// PrecedentIdentifiantActe: the IDActe this acte rectifies.
    pub precedent_id: Option<String>,
    pub id_acte: Option<String>,
    pub classification_date: Option<String>,
    pub parapheur_dossier: Option<String>,
    pub envelope_id: Option<String>,
    pub sent_at: Option<i64>,
    pub received_date: Option<String>,
    pub ar_at: Option<i64>,
    pub published_date: Option<String>,
    pub error: Option<String>,
    pub alert_sent: bool,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl ActeRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Brouillon)
    }

    pub fn nature(&self) -> Option<Nature> {
        Nature::from_abbrev(&self.nature)
    }

    /// "Délibération", or the stored code when unknown.
    pub fn nature_label(&self) -> &str {
        match self.nature() {
            Some(n) => n.label(),
            None => &self.nature,
        }
    }

    /// The matière as a path of codes (`[7, 1, 2]`).
    pub fn matiere_path(&self) -> Option<Vec<u32>> {
        parse_matiere(&self.matiere)
    }

    pub fn decision(&self) -> Option<Date> {
        self.decision_date.as_deref().and_then(|d| d.parse().ok())
    }

    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation de l'acte {}", self.id)))
    }

    /// The numéro, or a French placeholder for a draft that has none yet.
    pub fn numero_or_placeholder(&self) -> &str {
        if self.numero.is_empty() {
            "(sans numéro)"
        } else {
            &self.numero
        }
    }
}

const ACTE_COLUMNS: &str = "a.id, a.org_id, a.status, a.nature, a.numero, a.objet, a.matiere, \
    a.decision_date, a.document_papier, a.precedent_id, a.id_acte, a.classification_date, \
    a.parapheur_dossier, a.envelope_id, a.sent_at, a.received_date, a.ar_at, a.published_date, \
    a.error, a.alert_sent, a.created_by, a.created_at, a.updated_at, a.version";

/// A file of an acte as stored: position 1 is the main document, 2.. the annexes.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PieceRow {
    pub id: String,
    pub acte_id: String,
    pub position: i64,
    pub name: String,
    /// Code de typologie de pièce ("99_DE").
    pub typologie: String,
    pub content_type: String,
    pub sha256: String,
    pub size: i64,
    /// The main document, signed in the parapheur (the one transmitted).
    pub signed: bool,
    pub created_at: i64,
    /// The main document as deposited, before its signature.
    pub original_sha256: Option<String>,
    pub original_size: Option<i64>,
}

impl PieceRow {
    pub fn is_main(&self) -> bool {
        self.position == 1
    }

    /// The content type as a static string (for downloads); unknown types are sent as bytes.
    pub fn content_type_static(&self) -> &'static str {
        FILE_TYPES
            .iter()
            .find(|t| t.content_type == self.content_type)
            .map_or("application/octet-stream", |t| t.content_type)
    }

    /// The file's extension as ACTES names it (`pdf`, `png`…).
    pub fn extension(&self) -> &'static str {
        FILE_TYPES
            .iter()
            .find(|t| t.content_type == self.content_type)
            .map_or("bin", |t| t.extensions[0])
    }
}

const PIECE_COLUMNS: &str = "id, acte_id, position, name, typologie, content_type, sha256, size, \
    signed, created_at, original_sha256, original_size";

/// The acte `id` of organisation `org`, if it exists there.
pub async fn get(h: &mut impl Handle, org: OrgId, id: &str) -> StoreResult<Option<ActeRow>> {
    let sql = format!("SELECT {ACTE_COLUMNS} FROM actes a WHERE a.id = $1 AND a.org_id = $2");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?)
}

/// The acte of `org` whose IDActe is `id_acte`.
pub async fn get_by_id_acte(
    h: &mut impl Handle,
    org: OrgId,
    id_acte: &str,
) -> StoreResult<Option<ActeRow>> {
    let sql = format!("SELECT {ACTE_COLUMNS} FROM actes a WHERE a.id_acte = $1 AND a.org_id = $2");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(id_acte)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?)
}

/// The pieces of an acte, main document first. The caller has checked the acte belongs to
/// the organisation.
pub async fn pieces(h: &mut impl Handle, acte_id: &str) -> StoreResult<Vec<PieceRow>> {
    let sql =
        format!("SELECT {PIECE_COLUMNS} FROM actes_pieces WHERE acte_id = $1 ORDER BY position");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(acte_id)
    .fetch_all(c)
    .await)?)
}

/// The pieces of many actes (one page of a list), by acte id.
pub async fn pieces_of(h: &mut impl Handle, acte_ids: &[String]) -> StoreResult<Vec<PieceRow>> {
    if acte_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::new(&format!(
        "SELECT {PIECE_COLUMNS} FROM actes_pieces WHERE acte_id IN ("
    ));
    let ps: Vec<String> = acte_ids.iter().map(|id| q.arg(id.as_str())).collect();
    q.push(&ps.join(", "));
    q.push(") ORDER BY acte_id, position");
    q.fetch_all(h).await
}

// ---------------------------------------------------------------------------------------
// Files

/// How a file type is recognised from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magic {
    Pdf,
    Jpeg,
    Png,
    /// OpenDocument and Office Open XML files are zip containers.
    Zip,
    /// Word 97-2003 and Excel 97-2003 (OLE compound files).
    Ole,
}

/// A file type an acte may carry.
#[derive(Debug)]
pub struct FileType {
    /// Accepted extensions, the first one used in ACTES file names.
    pub extensions: &'static [&'static str],
    pub content_type: &'static str,
    pub label: &'static str,
    magic: Magic,
}

/// The allow-list: PDF for every piece, images and office files for annexes.
pub static FILE_TYPES: [FileType; 10] = [
    FileType {
        extensions: &["pdf"],
        content_type: "application/pdf",
        label: "PDF",
        magic: Magic::Pdf,
    },
    FileType {
        extensions: &["jpg", "jpeg"],
        content_type: "image/jpeg",
        label: "image JPEG",
        magic: Magic::Jpeg,
    },
    FileType {
        extensions: &["png"],
        content_type: "image/png",
        label: "image PNG",
        magic: Magic::Png,
    },
    FileType {
        extensions: &["odt"],
        content_type: "application/vnd.oasis.opendocument.text",
        label: "texte OpenDocument",
        magic: Magic::Zip,
    },
    FileType {
        extensions: &["ods"],
        content_type: "application/vnd.oasis.opendocument.spreadsheet",
        label: "tableur OpenDocument",
        magic: Magic::Zip,
    },
    FileType {
        extensions: &["odp"],
        content_type: "application/vnd.oasis.opendocument.presentation",
        label: "présentation OpenDocument",
        magic: Magic::Zip,
    },
    FileType {
        extensions: &["docx"],
        content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        label: "document Word",
        magic: Magic::Zip,
    },
    FileType {
        extensions: &["xlsx"],
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        label: "classeur Excel",
        magic: Magic::Zip,
    },
    FileType {
        extensions: &["doc"],
        content_type: "application/msword",
        label: "document Word 97-2003",
        magic: Magic::Ole,
    },
    FileType {
        extensions: &["xls"],
        content_type: "application/vnd.ms-excel",
        label: "classeur Excel 97-2003",
        magic: Magic::Ole,
    },
];

/// "PDF, JPEG, PNG, OpenDocument (odt, ods, odp), Word et Excel (docx, xlsx, doc, xls)".
pub const ANNEX_FORMATS: &str =
    "PDF, images JPEG ou PNG, OpenDocument (odt, ods, odp), Word ou Excel (docx, xlsx, doc, xls)";

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn magic_matches(magic: Magic, bytes: &[u8]) -> bool {
    match magic {
        Magic::Pdf => bytes[..bytes.len().min(1024)]
            .windows(5)
            .any(|w| w == b"%PDF-"),
        Magic::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        Magic::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        Magic::Zip => bytes.starts_with(b"PK\x03\x04"),
        Magic::Ole => bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]),
    }
}

/// Checks a PDF: it starts with `%PDF-`, its cross-references and catalogue can be read, it
/// is not encrypted. The French reason otherwise, naming the file.
pub fn check_pdf(name: &str, bytes: &[u8]) -> Result<(), String> {
    if !magic_matches(Magic::Pdf, bytes) {
        return Err(format!(
            "« {name} » n'est pas un PDF (il ne commence pas par « %PDF- ») : enregistrez le document au format PDF, puis déposez-le à nouveau."
        ));
    }
    bouquet_crypto::pdf::PdfReader::open(&bytes)
        .map(|_| ())
        .map_err(|e| format!("« {name} » : {e}"))
}

/// Checks one file of an acte and says its type: the main document must be a readable PDF;
/// an annex one of [`FILE_TYPES`], its content matching its extension; no file over
/// [`MAX_FILE`], none empty.
pub fn check_piece(name: &str, bytes: &[u8], main: bool) -> Result<&'static FileType, String> {
    if bytes.is_empty() {
        return Err(format!("« {name} » est vide."));
    }
    if bytes.len() > MAX_FILE {
        return Err(format!(
            "« {name} » est trop volumineux ({}) : chaque fichier doit faire {MAX_FILE_LABEL} au plus. Réduisez-le (numérisation en 200 ppp, noir et blanc) ou découpez-le en plusieurs annexes.",
            bouquet_store::blobs::human_size(bytes.len() as u64)
        ));
    }
    if main {
        check_pdf(name, bytes)?;
        return Ok(&FILE_TYPES[0]);
    }
    let ext = extension(name);
    let Some(kind) = FILE_TYPES
        .iter()
        .find(|t| t.extensions.contains(&ext.as_str()))
    else {
        return Err(format!(
            "« {name} » : ce type de fichier n'est pas accepté en annexe. Formats acceptés : {ANNEX_FORMATS}."
        ));
    };
    if kind.magic == Magic::Pdf {
        check_pdf(name, bytes)?;
    } else if !magic_matches(kind.magic, bytes) {
        return Err(format!(
            "« {name} » porte l'extension .{ext} mais son contenu n'est pas un fichier {} : vérifiez le fichier et déposez-le à nouveau.",
            kind.label
        ));
    }
    Ok(kind)
}

/// Checks the total size of the files of one acte.
pub fn check_total(total: usize) -> Result<(), String> {
    if total > MAX_TOTAL {
        Err(format!(
            "L'ensemble des fichiers de l'acte pèse {} : {MAX_TOTAL_LABEL} au plus pour un acte et ses annexes.",
            bouquet_store::blobs::human_size(total as u64)
        ))
    } else {
        Ok(())
    }
}

/// The typologie de pièce for a piece: `code` if the classification allows it for the
/// nature, the nature's default when `code` is empty. Without a classification only the
/// default is known.
pub fn resolve_typologie(
    classification: Option<&Classification>,
    nature: Nature,
    code: &str,
) -> Result<String, String> {
    let code = code.trim();
    let default = classification.map_or(nature.default_typology(), |c| c.default_typology(nature));
    if code.is_empty() || code == default {
        return Ok(default.to_owned());
    }
    match classification {
        Some(c) if c.typology_allowed(nature, code) => Ok(code.to_owned()),
        Some(_) => Err(format!(
            "La typologie « {code} » n'est pas prévue pour la nature « {} » dans la classification de votre préfecture : choisissez-en une de la liste.",
            nature.label()
        )),
        None => Err(format!(
            "La typologie « {code} » ne peut pas être vérifiée : votre organisation n'a pas encore reçu la classification de sa préfecture. Laissez la typologie par défaut ({default})."
        )),
    }
}

/// The typologies offered for a nature: code and "99_DE — Délibération".
pub fn typologies(
    classification: Option<&Classification>,
    nature: Nature,
) -> Vec<(String, String)> {
    match classification {
        Some(c) if !c.typologies(nature).is_empty() => c
            .typologies(nature)
            .iter()
            .map(|t| (t.code.clone(), format!("{} — {}", t.code, t.libelle)))
            .collect(),
        _ => vec![(
            nature.default_typology().to_owned(),
            format!("{} — {}", nature.default_typology(), nature.label()),
        )],
    }
}

/// The French label of a typologie de pièce ("99_DE — Délibération"), or the code.
pub fn typologie_label(
    classification: Option<&Classification>,
    nature: Option<Nature>,
    code: &str,
) -> String {
    match (classification, nature) {
        (Some(c), Some(n)) => c
            .typology_label(n, code)
            .map_or_else(|| code.to_owned(), |l| format!("{code} — {l}")),
        _ => code.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Fields

/// `7.1.2` → `[7, 1, 2]` (1 to 5 levels).
pub fn parse_matiere(code: &str) -> Option<Vec<u32>> {
    let path: Vec<u32> = code
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    (1..=5).contains(&path.len()).then_some(path)
}

/// `[7, 1, 2]` → `7.1.2`.
pub fn dotted(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// "7.1.2 Libellé" from the classification, or the bare code.
pub fn matiere_label(classification: Option<&Classification>, matiere: &str) -> String {
    match (classification, parse_matiere(matiere)) {
        (Some(c), Some(path)) => c.label(&path).unwrap_or_else(|| matiere.to_owned()),
        _ => matiere.to_owned(),
    }
}

/// The fields of an acte as typed (form or API), before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawActe {
    /// `DE`, `AR`, `AI`, `CC`, `BF`, `AU`.
    pub nature: String,
    pub numero: String,
    pub objet: String,
    /// Dotted codes, "7.1".
    pub matiere: String,
    /// `YYYY-MM-DD`.
    pub decision_date: String,
    pub document_papier: bool,
}

/// The fields of an acte, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActeInput {
    pub nature: Nature,
    pub numero: String,
    pub objet: String,
    pub matiere: String,
    pub decision_date: Option<Date>,
    pub document_papier: bool,
}

/// Checks the fields of an acte. Every value typed is checked; a missing one is an error only
/// when `complete` (a draft may be saved unfinished). `today` is in the organisation's time
/// zone. Field names: `nature`, `numero`, `objet`, `matiere`, `date_decision`.
pub fn check_acte(
    raw: &RawActe,
    classification: Option<&Classification>,
    today: Date,
    complete: bool,
) -> Result<ActeInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    let nature = Nature::from_abbrev(raw.nature.trim());
    if nature.is_none() {
        errors.push(FieldError::new(
            "nature",
            "Choisissez la nature de l'acte (délibération, arrêté, contrat…).",
        ));
    }
    let numero = raw.numero.trim().to_owned();
    if numero.is_empty() {
        if complete {
            errors.push(FieldError::new(
                "numero",
                "Indiquez le numéro de l'acte, par exemple DEL_2026_12.",
            ));
        }
    } else if let Err(e) = bouquet_format_actes::check_numero_interne(&numero) {
        errors.push(FieldError::new("numero", e.to_string()));
    }
    let objet = raw.objet.trim().to_owned();
    if objet.is_empty() {
        if complete {
            errors.push(FieldError::new(
                "objet",
                "Indiquez l'objet de l'acte : une phrase qui dit de quoi il s'agit.",
            ));
        }
    } else if let Err(e) = bouquet_format_actes::check_objet(&objet) {
        errors.push(FieldError::new("objet", e.to_string()));
    }
    let matiere = raw.matiere.trim().to_owned();
    if matiere.is_empty() {
        if complete {
            errors.push(FieldError::new(
                "matiere",
                "Choisissez la matière de l'acte dans la classification.",
            ));
        }
    } else {
        match (parse_matiere(&matiere), classification) {
            (None, _) => errors.push(FieldError::new(
                "matiere",
                format!("« {matiere} » n'est pas un code de matière : des nombres séparés par des points, par exemple 7.1."),
            )),
            (Some(path), Some(c)) => {
                if let Err(e) = c.check_matieres(&path) {
                    errors.push(FieldError::new("matiere", e.to_string()));
                }
            }
            (Some(path), None) => {
                if path.len() < 2 {
                    errors.push(FieldError::new(
                        "matiere",
                        "Choisissez une matière d'au moins deux niveaux (par exemple 7.1).",
                    ));
                }
            }
        }
    }
    let decision_date = match raw.decision_date.trim() {
        "" => {
            if complete {
                errors.push(FieldError::new(
                    "date_decision",
                    "Indiquez la date de la décision (séance du conseil, signature de l'arrêté).",
                ));
            }
            None
        }
        text => match text.parse::<Date>() {
            Ok(d) if d > today => {
                errors.push(FieldError::new(
                    "date_decision",
                    "La date de décision ne peut pas être dans le futur.",
                ));
                None
            }
            Ok(d) if d.year() < 1990 => {
                errors.push(FieldError::new(
                    "date_decision",
                    "Cette date de décision est trop ancienne : vérifiez l'année.",
                ));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(FieldError::new(
                    "date_decision",
                    "Date incorrecte : utilisez le calendrier ou le format AAAA-MM-JJ.",
                ));
                None
            }
        },
    };
    match (nature, errors.is_empty()) {
        (Some(nature), true) => Ok(ActeInput {
            nature,
            numero,
            objet,
            matiere,
            decision_date,
            document_papier: raw.document_papier,
        }),
        _ => Err(errors),
    }
}

// ---------------------------------------------------------------------------------------
// Storage

/// A file already written to the blob store, about to be referenced by a piece.
#[derive(Clone, Debug)]
pub struct StoredPiece {
    pub name: String,
    pub typologie: String,
    pub content_type: &'static str,
    pub sha256: String,
    pub size: i64,
}

/// Writes a checked file to the organisation's blobs.
pub async fn store_file(
    p: &Platform,
    org: OrgId,
    name: &str,
    bytes: Vec<u8>,
    kind: &'static FileType,
    typologie: String,
) -> StoreResult<StoredPiece> {
    let size = bytes.len() as i64;
    let blob = p
        .blobs
        .put_bytes(&owner_key(Some(org)), Bytes::from(bytes))
        .await?;
    Ok(StoredPiece {
        name: name.to_owned(),
        typologie,
        content_type: kind.content_type,
        sha256: blob.sha256,
        size,
    })
}

/// Who does something, as the timeline and the journal record it.
#[derive(Clone, Copy, Debug)]
pub struct Author<'a> {
    pub id: UserId,
    pub name: &'a str,
}

impl Author<'_> {
    fn audit(&self) -> AuditActor {
        AuditActor::user(self.id, self.name)
    }
}

/// How an acte came to be (the timeline says it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Form,
    Api,
    Batch,
    /// Duplicated from the acte with this numéro.
    Duplicate(String),
    /// Rectifies the acte with this IDActe.
    Rectificatif(String),
}

impl Origin {
    fn code(&self) -> &'static str {
        match self {
            Origin::Form => "formulaire",
            Origin::Api => "api",
            Origin::Batch => "lot",
            Origin::Duplicate(_) => "duplication",
            Origin::Rectificatif(_) => "rectificatif",
        }
    }

    fn timeline(&self) -> String {
        match self {
            Origin::Form => "Acte créé".into(),
            Origin::Api => "Acte créé par un logiciel métier (API)".into(),
            Origin::Batch => "Acte créé avec d'autres, en une fois (création par lot)".into(),
            Origin::Duplicate(numero) => format!("Acte créé en dupliquant l'acte {numero}"),
            Origin::Rectificatif(id) => {
                format!("Acte rectificatif créé : il remplacera l'acte {id}")
            }
        }
    }
}

fn duplicate_numero(numero: &str) -> AppError {
    AppError::invalid(
        "numero",
        format!(
            "Le numéro {numero} est déjà utilisé par un autre acte de votre organisation : chaque acte a son propre numéro."
        ),
    )
}

/// The word that ties an acte's entry in the full-text index to its organisation: "org" and
/// the organisation's id in hexadecimal. A search of the list adds it to the person's words,
/// so that the engine intersects with the organisation's actes itself, and the cost of a search
/// follows the organisation's actes rather than every acte of the platform (the
/// organisation's id is never typed by anyone, so it never matches a person's words).
pub fn org_term(org: OrgId) -> String {
    format!("org{}", org.0.simple())
}

/// What the full-text index holds for an acte: its numéro, its objet and [`org_term`].
pub fn search_text(org: OrgId, numero: &str, objet: &str) -> String {
    format!("{numero} {objet} {}", org_term(org))
}

async fn index(tx: &mut Tx, org: OrgId, id: &str, numero: &str, objet: &str) -> StoreResult<()> {
    search::index(
        tx,
        Some(org),
        SEARCH_KIND,
        id,
        &search_text(org, numero, objet),
    )
    .await
}

async fn insert_piece(
    tx: &mut Tx,
    now: Timestamp,
    acte_id: &str,
    position: i64,
    piece: &StoredPiece,
) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "INSERT INTO actes_pieces (id, acte_id, position, name, typologie, content_type, sha256, \
         size, signed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9)"
    )
    .bind(new_id().to_string())
    .bind(acte_id)
    .bind(position)
    .bind(&piece.name)
    .bind(&piece.typologie)
    .bind(piece.content_type)
    .bind(&piece.sha256)
    .bind(piece.size)
    .bind(to_micros(now)))?;
    Ok(())
}

/// A new acte (always a draft: `brouillon`), its pieces, its search entry, its timeline, its
/// journal and usage events. A numéro already used in the organisation is refused.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: &OrgRow,
    input: &ActeInput,
    precedent_id: Option<&str>,
    main: Option<&StoredPiece>,
    annexes: &[StoredPiece],
    author: Author<'_>,
    origin: &Origin,
) -> StoreResult<String> {
    let org_id = org.id()?;
    let id = new_id().to_string();
    let n =
        exec!(tx, sqlx::query(
        "INSERT INTO actes (id, org_id, status, nature, numero, objet, matiere, decision_date, \
         document_papier, precedent_id, alert_sent, created_by, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $12, $12, 1) \
         ON CONFLICT DO NOTHING"
    )
    .bind(&id)
    .bind(org_id.to_string())
    .bind(Status::Brouillon.code())
    .bind(input.nature.abbrev())
    .bind(&input.numero)
    .bind(&input.objet)
    .bind(&input.matiere)
    .bind(input.decision_date.map(|d| d.to_string()))
    .bind(input.document_papier)
    .bind(precedent_id)
    .bind(author.id.to_string())
    .bind(to_micros(now)))?;
    if n == 0 {
        return Err(app(duplicate_numero(&input.numero)));
    }
    if let Some(main) = main {
        insert_piece(tx, now, &id, 1, main).await?;
    }
    for (i, a) in annexes.iter().enumerate() {
        insert_piece(tx, now, &id, i as i64 + 2, a).await?;
    }
    index(tx, org_id, &id, &input.numero, &input.objet).await?;
    events::record(
        tx,
        now,
        &id,
        TimelineEvent {
            kind: "cree",
            label: origin.timeline(),
            user: Some(author.id),
            message_id: None,
        },
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org_id),
            &author.audit(),
            "actes.acte.created",
            "acte",
            &id,
        )
        .details(json!({
            "numero": input.numero,
            "nature": input.nature.abbrev(),
            "objet": input.objet,
            "origine": origin.code(),
            "pieces": usize::from(main.is_some()) + annexes.len(),
        })),
    )
    .await?;
    usage::record(
        tx,
        now,
        org_id,
        &org.tz(),
        UsageKind::ActeCree,
        Some(author.id),
    )
    .await?;
    Ok(id)
}

/// What an update does to the pieces.
#[derive(Clone, Debug, Default)]
pub struct PieceChanges {
    /// A new main document (replaces the current one).
    pub main: Option<StoredPiece>,
    /// New annexes, after the kept ones.
    pub add: Vec<StoredPiece>,
    /// Annexes removed (piece ids).
    pub remove: Vec<String>,
    /// New typologies of kept pieces (piece id, code).
    pub typologies: Vec<(String, String)>,
}

/// Changes a draft (or an acte en erreur): its fields and pieces. `seen_version` is the
/// version the person edited; if the acte changed meanwhile, nothing is written.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    acte: &ActeRow,
    seen_version: i64,
    input: &ActeInput,
    changes: &PieceChanges,
    author: Author<'_>,
) -> StoreResult<()> {
    if !acte.status().editable() {
        return Err(app(AppError::Conflict(format!(
            "Cet acte ne peut plus être modifié : il est « {} ».",
            acte.status().label().to_lowercase()
        ))));
    }
    if !input.numero.is_empty() && input.numero != acte.numero {
        let taken: Option<String> = run!(tx, |c| sqlx::query_scalar(
            "SELECT id FROM actes WHERE org_id = $1 AND numero = $2 AND id <> $3"
        )
        .bind(org.to_string())
        .bind(&input.numero)
        .bind(&acte.id)
        .fetch_optional(c)
        .await)?;
        if taken.is_some() {
            return Err(app(duplicate_numero(&input.numero)));
        }
    }
    let n = exec!(tx, sqlx::query(
        "UPDATE actes SET nature = $1, numero = $2, objet = $3, matiere = $4, decision_date = $5, \
         document_papier = $6, updated_at = $7, version = version + 1 \
         WHERE id = $8 AND org_id = $9 AND version = $10"
    )
    .bind(input.nature.abbrev())
    .bind(&input.numero)
    .bind(&input.objet)
    .bind(&input.matiere)
    .bind(input.decision_date.map(|d| d.to_string()))
    .bind(input.document_papier)
    .bind(to_micros(now))
    .bind(&acte.id)
    .bind(org.to_string())
    .bind(seen_version))?;
    if n == 0 {
        return Err(app(AppError::Conflict(
            "Cet acte a été modifié entre-temps (par vous dans un autre onglet, ou par un collègue) : rechargez la page, vos changements n'ont pas été enregistrés.".into(),
        )));
    }
    let current = pieces(tx, &acte.id).await?;
    for (piece, code) in &changes.typologies {
        exec!(
            tx,
            sqlx::query("UPDATE actes_pieces SET typologie = $1 WHERE id = $2 AND acte_id = $3")
                .bind(code)
                .bind(piece)
                .bind(&acte.id)
        )?;
    }
    if let Some(main) = &changes.main {
        exec!(
            tx,
            sqlx::query("DELETE FROM actes_pieces WHERE acte_id = $1 AND position = 1")
                .bind(&acte.id)
        )?;
        insert_piece(tx, now, &acte.id, 1, main).await?;
    }
    if !changes.remove.is_empty() || !changes.add.is_empty() {
        // Annexes are renumbered 2, 3… in order: the ACTES file names follow their positions.
        let kept: Vec<&PieceRow> = current
            .iter()
            .filter(|p| !p.is_main() && !changes.remove.contains(&p.id))
            .collect();
        exec!(
            tx,
            sqlx::query("DELETE FROM actes_pieces WHERE acte_id = $1 AND position > 1")
                .bind(&acte.id)
        )?;
        let mut position = 2;
        for p in kept {
            let typologie = changes
                .typologies
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or(p.typologie.as_str(), |(_, t)| t.as_str());
            exec!(tx, sqlx::query(
                "INSERT INTO actes_pieces (id, acte_id, position, name, typologie, content_type, \
                 sha256, size, signed, created_at, original_sha256, original_size) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            )
            .bind(&p.id)
            .bind(&acte.id)
            .bind(position)
            .bind(&p.name)
            .bind(typologie)
            .bind(&p.content_type)
            .bind(&p.sha256)
            .bind(p.size)
            .bind(p.signed)
            .bind(p.created_at)
            .bind(&p.original_sha256)
            .bind(p.original_size))?;
            position += 1;
        }
        for a in &changes.add {
            insert_piece(tx, now, &acte.id, position, a).await?;
            position += 1;
        }
    }
    index(tx, org, &acte.id, &input.numero, &input.objet).await?;
    let mut what = Vec::new();
    if input.numero != acte.numero {
        what.push("numéro");
    }
    if input.objet != acte.objet {
        what.push("objet");
    }
    if input.nature.abbrev() != acte.nature {
        what.push("nature");
    }
    if input.matiere != acte.matiere {
        what.push("matière");
    }
    if input.decision_date.map(|d| d.to_string()) != acte.decision_date {
        what.push("date de décision");
    }
    if input.document_papier != acte.document_papier {
        what.push("envoi papier");
    }
    if changes.main.is_some() {
        what.push("document principal");
    }
    if !changes.add.is_empty() || !changes.remove.is_empty() {
        what.push("annexes");
    }
    if !changes.typologies.is_empty() {
        what.push("typologies des pièces");
    }
    let label = if what.is_empty() {
        "Acte enregistré sans changement".to_owned()
    } else {
        format!("Acte modifié : {}", what.join(", "))
    };
    events::record(
        tx,
        now,
        &acte.id,
        TimelineEvent {
            kind: "modifie",
            label,
            user: Some(author.id),
            message_id: None,
        },
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            &author.audit(),
            "actes.acte.updated",
            "acte",
            &acte.id,
        )
        .details(json!({
            "numero": input.numero,
            "changements": what,
        })),
    )
    .await?;
    Ok(())
}

/// Deletes a draft that never left Bouquet: its pieces, timeline and search entry go with it
/// (the journal keeps the deletion).
pub async fn delete_draft(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    acte: &ActeRow,
    seen_version: i64,
    author: Author<'_>,
) -> StoreResult<()> {
    if acte.status() != Status::Brouillon || acte.id_acte.is_some() {
        return Err(app(AppError::Conflict(
            "Seul un brouillon qui n'a jamais été transmis peut être supprimé.".into(),
        )));
    }
    let still: Option<i64> = run!(tx, |c| sqlx::query_scalar(
        "SELECT version FROM actes WHERE id = $1 AND org_id = $2 AND status = 'brouillon'"
    )
    .bind(&acte.id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?;
    if still != Some(seen_version) {
        return Err(app(AppError::Conflict(
            "Ce brouillon a été modifié entre-temps : rechargez sa page avant de le supprimer."
                .into(),
        )));
    }
    for sql in [
        "DELETE FROM actes_pieces WHERE acte_id = $1",
        "DELETE FROM actes_events WHERE acte_id = $1",
        "DELETE FROM actes WHERE id = $1",
    ] {
        exec!(tx, sqlx::query(sql).bind(&acte.id))?;
    }
    search::remove(tx, SEARCH_KIND, &acte.id).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            &author.audit(),
            "actes.acte.deleted",
            "acte",
            &acte.id,
        )
        .details(json!({
            "numero": acte.numero,
            "objet": acte.objet,
        })),
    )
    .await?;
    Ok(())
}

/// A new draft with the fields of `source` but no numéro and no files: a duplicate, or an
/// acte rectificatif (which names the IDActe of the acquitted acte it replaces).
pub async fn duplicate(
    tx: &mut Tx,
    now: Timestamp,
    org: &OrgRow,
    source: &ActeRow,
    rectificatif: bool,
    author: Author<'_>,
) -> StoreResult<String> {
    let nature = source
        .nature()
        .ok_or_else(|| StoreError::Corrupt(format!("nature de l'acte {}", source.id)))?;
    let (precedent, origin) = if rectificatif {
        match (&source.id_acte, source.status()) {
            (Some(id), Status::Acquitte) => (Some(id.clone()), Origin::Rectificatif(id.clone())),
            _ => {
                return Err(app(AppError::Conflict(
                    "Un acte rectificatif ne peut remplacer qu'un acte acquitté par la préfecture."
                        .into(),
                )));
            }
        }
    } else {
        (
            None,
            Origin::Duplicate(source.numero_or_placeholder().to_owned()),
        )
    };
    let input = ActeInput {
        nature,
        numero: String::new(),
        objet: source.objet.clone(),
        matiere: source.matiere.clone(),
        decision_date: source.decision(),
        document_papier: source.document_papier,
    };
    create(
        tx,
        now,
        org,
        &input,
        precedent.as_deref(),
        None,
        &[],
        author,
        &origin,
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Lists

/// What a list shows; every filter optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Beginning of the numéro (upper case).
    pub numero: Option<String>,
    /// Words of the objet or the numéro (full text, accents and case ignored).
    pub text: Option<String>,
    pub nature: Option<Nature>,
    /// A matière and everything under it ("7" finds 7.1 and 7.1.2).
    pub matiere: Option<String>,
    /// Decision date range, `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    pub status: Option<Status>,
}

impl ListFilter {
    pub fn is_empty(&self) -> bool {
        *self == ListFilter::default()
    }
}

/// `a_b%` → `a\_b\%`: a value used in LIKE as a literal.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn filtered(engine: Engine, org: OrgId, f: &ListFilter) -> Query {
    let mut q = Query::new(&format!(
        "SELECT {ACTE_COLUMNS} FROM actes a WHERE a.org_id = "
    ));
    let o = q.arg(org.to_string());
    q.push(&o);
    if let Some(expr) = f
        .text
        .as_deref()
        .and_then(|t| search::match_expression(engine, t))
    {
        // The organisation's word is matched exactly (not as a prefix, as the person's words
        // are), so that the engine can skip through its list instead of reading it whole. It
        // is [a-z0-9] only: nothing in it can break out of the quotes.
        let expr = match engine {
            Engine::Sqlite => format!("\"{}\" AND {expr}", org_term(org)),
            Engine::Postgres => format!("'{}' & {expr}", org_term(org)),
        };
        let m = q.arg(expr);
        let k = q.arg(SEARCH_KIND);
        q.push(&format!(
            " AND a.id IN ({})",
            search::id_subquery_at(engine, &m, &k)
        ));
    }
    if let Some(numero) = &f.numero {
        let n = q.arg(format!("{}%", like_literal(numero)));
        q.push(&format!(" AND a.numero LIKE {n} ESCAPE '\\'"));
    }
    if let Some(nature) = f.nature {
        let n = q.arg(nature.abbrev());
        q.push(&format!(" AND a.nature = {n}"));
    }
    if let Some(m) = &f.matiere {
        let exact = q.arg(m.as_str());
        let under = q.arg(format!("{}.%", like_literal(m)));
        q.push(&format!(
            " AND (a.matiere = {exact} OR a.matiere LIKE {under} ESCAPE '\\')"
        ));
    }
    if let Some(from) = &f.from {
        let d = q.arg(from.as_str());
        q.push(&format!(" AND a.decision_date >= {d}"));
    }
    if let Some(to) = &f.to {
        let d = q.arg(to.as_str());
        q.push(&format!(" AND a.decision_date <= {d}"));
    }
    if let Some(status) = f.status {
        let s = q.arg(status.code());
        q.push(&format!(" AND a.status = {s}"));
    }
    q
}

/// One page of the organisation's actes, latest change first.
pub async fn list(
    h: &mut impl Handle,
    org: OrgId,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<ActeRow>> {
    let mut q = filtered(h.engine(), org, filter);
    let (at, id) = int_text_key(cursor)?;
    if let (Some(at), Some(id)) = (at, id) {
        let a = q.arg(at);
        let i = q.arg(id);
        q.push(&format!(
            " AND (a.updated_at < {a} OR (a.updated_at = {a} AND a.id < {i}))"
        ));
    }
    let l = q.arg(limit + 1);
    q.push(&format!(" ORDER BY a.updated_at DESC, a.id DESC LIMIT {l}"));
    let rows = q.fetch_all(h).await?;
    Ok(Page::from_rows(rows, limit, |r: &ActeRow| {
        Cursor::new().push_int(r.updated_at).push_text(&r.id)
    }))
}

/// Every acte matching `filter`, latest change first, at most `max` (exports).
pub async fn all(
    h: &mut impl Handle,
    org: OrgId,
    filter: &ListFilter,
    max: i64,
) -> StoreResult<Vec<ActeRow>> {
    let mut q = filtered(h.engine(), org, filter);
    let l = q.arg(max);
    q.push(&format!(" ORDER BY a.updated_at DESC, a.id DESC LIMIT {l}"));
    q.fetch_all(h).await
}

// ---------------------------------------------------------------------------------------
// Readiness

/// What the acte itself still lacks before it can be signed or transmitted, in French
/// (empty when complete). The organisation's settings are judged by
/// [`settings::missing`].
pub fn missing_fields(
    acte: &ActeRow,
    pieces: &[PieceRow],
    classification: Option<&Classification>,
) -> Vec<String> {
    let mut out = Vec::new();
    let nature = acte.nature();
    if nature.is_none() {
        out.push("La nature de l'acte n'est pas choisie.".to_owned());
    }
    if acte.numero.is_empty() {
        out.push("Le numéro de l'acte n'est pas renseigné.".to_owned());
    } else if let Err(e) = bouquet_format_actes::check_numero_interne(&acte.numero) {
        out.push(e.to_string());
    }
    if acte.objet.trim().is_empty() {
        out.push("L'objet de l'acte n'est pas renseigné.".to_owned());
    } else if let Err(e) = bouquet_format_actes::check_objet(&acte.objet) {
        out.push(e.to_string());
    }
    match (acte.matiere_path(), classification) {
        (None, _) if acte.matiere.is_empty() => {
            out.push("La matière de l'acte n'est pas choisie.".to_owned());
        }
        (None, _) => out.push(format!(
            "« {} » n'est pas un code de matière.",
            acte.matiere
        )),
        (Some(path), Some(c)) => {
            if let Err(e) = c.check_matieres(&path) {
                out.push(e.to_string());
            }
        }
        (Some(_), None) => {}
    }
    if acte.decision_date.is_none() {
        out.push("La date de la décision n'est pas renseignée.".to_owned());
    }
    match pieces.iter().find(|p| p.is_main()) {
        None => out.push("Le document principal (l'acte en PDF) n'est pas joint.".to_owned()),
        Some(p) if p.content_type != "application/pdf" => {
            out.push("Le document principal doit être un PDF.".to_owned());
        }
        Some(_) => {}
    }
    if let (Some(n), Some(c)) = (nature, classification) {
        for p in pieces {
            if !c.typology_allowed(n, &p.typologie) {
                out.push(format!(
                    "La typologie « {} » de la pièce « {} » n'est pas prévue pour la nature « {} » : choisissez-en une autre en modifiant l'acte.",
                    p.typologie,
                    p.name,
                    n.label()
                ));
            }
        }
    }
    if let Some(precedent) = &acte.precedent_id
        && let Err(e) = bouquet_format_actes::check_id_acte(precedent)
    {
        out.push(format!("L'acte remplacé est mal identifié : {e}"));
    }
    out
}

/// Everything that prevents transmitting `acte` today, in French: the organisation's
/// settings (préfecture, convention, classification) and the acte's own fields and pieces
/// (matière in the classification, typologies allowed for the nature…). Empty when it can be
/// transmitted. The exchange calls it before transmitting; the acte's page lists it.
pub async fn missing_for_transmission(
    h: &mut impl Handle,
    acte: &ActeRow,
) -> StoreResult<Vec<String>> {
    let org = acte.org()?;
    let org_row = orgs::get(h, org)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("organisation de l'acte {}", acte.id)))?;
    let settings = settings::get(h, org).await?;
    let pieces = pieces(h, &acte.id).await?;
    Ok(readiness(acte, &pieces, settings.as_ref(), &org_row.siren))
}

/// [`missing_for_transmission`] from rows already loaded.
pub fn readiness(
    acte: &ActeRow,
    pieces: &[PieceRow],
    settings: Option<&SettingsRow>,
    siren: &str,
) -> Vec<String> {
    let classification = settings.and_then(SettingsRow::classification);
    let mut out = settings::missing(settings, siren);
    out.extend(missing_fields(acte, pieces, classification.as_ref()));
    out
}

// ---------------------------------------------------------------------------------------
// Signature in the parapheur

/// The `source` the parapheur's dossiers of actes carry.
pub const SOURCE: &str = "actes";
/// The job that receives the parapheur's "circuit ended" events.
pub const KIND_SIGNATURE_ENDED: &str = "actes.signature_ended";

/// Registers the subscriber of the parapheur's outbox topic.
pub fn register_jobs(registry: &mut Registry) {
    registry.handle(KIND_SIGNATURE_ENDED, Arc::new(SignatureEnded));
    registry.subscribe(TOPIC_ENDED, KIND_SIGNATURE_ENDED);
}

fn parapheur_doc_type(nature: Nature) -> &'static str {
    match nature {
        Nature::DE => "deliberation",
        Nature::AR | Nature::AI => "arrete",
        Nature::CC => "convention",
        Nature::BF | Nature::AU => "autre",
    }
}

/// "Délibération DEL_2026_12 : tarifs de la cantine", cut to the parapheur's 250 characters.
fn dossier_title(acte: &ActeRow) -> String {
    let title = format!("{} {} : {}", acte.nature_label(), acte.numero, acte.objet);
    if title.chars().count() <= 250 {
        title
    } else {
        let mut t: String = title.chars().take(249).collect();
        t.push('…');
        t
    }
}

/// Sends a complete draft into a circuit of the parapheur: the acte waits there
/// (`signature`) until the circuit ends. Claimed first, so that two clicks send one dossier;
/// a failed sending gives the draft back. Returns the dossier's id.
pub async fn send_to_signature(
    p: &Platform,
    org: &OrgRow,
    acte_id: &str,
    seen_version: i64,
    circuit_id: &str,
    who: Person<'_>,
) -> StoreResult<String> {
    let org_id = org.id()?;
    let now = p.clock.now();
    let (acte, pieces, settings, circuit, subscribed) = {
        let mut conn = p.db.read().await?;
        let acte = get(&mut conn, org_id, acte_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let pieces = pieces(&mut conn, &acte.id).await?;
        let settings = settings::get(&mut conn, org_id).await?;
        let circuit = circuits::get(&mut conn, org_id, circuit_id).await?;
        let subscribed = orgs::active_services(&mut conn, org, now)
            .await?
            .contains(bouquet_kernel::Service::Parapheur);
        (acte, pieces, settings, circuit, subscribed)
    };
    if !subscribed {
        return Err(app(AppError::Conflict(
            "Votre organisation n'a pas souscrit au parapheur : transmettez l'acte directement, ou demandez l'ouverture du parapheur à votre référent.".into(),
        )));
    }
    if acte.status() != Status::Brouillon {
        return Err(app(AppError::Conflict(format!(
            "Seul un brouillon peut être envoyé en signature ; cet acte est « {} ».",
            acte.status().label().to_lowercase()
        ))));
    }
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let missing = missing_fields(&acte, &pieces, classification.as_ref());
    if !missing.is_empty() {
        return Err(app(AppError::Conflict(format!(
            "L'acte n'est pas complet : {}",
            missing.join(" ")
        ))));
    }
    let circuit = circuit.filter(|c| c.active).ok_or_else(|| {
        app(AppError::invalid(
            "circuit",
            "Choisissez un circuit de signature de votre organisation.",
        ))
    })?;
    let steps = circuit.steps()?;
    let main = pieces
        .iter()
        .find(|p| p.is_main())
        .ok_or_else(|| StoreError::Corrupt("document principal absent".into()))?;
    let owner = owner_key(Some(org_id));
    let document = InFile {
        name: main.name.clone(),
        bytes: p.blobs.read_all(&owner, &main.sha256).await?,
    };
    let mut annexes = Vec::new();
    for a in pieces.iter().filter(|p| !p.is_main()) {
        annexes.push(InFile {
            name: a.name.clone(),
            bytes: p.blobs.read_all(&owner, &a.sha256).await?,
        });
    }
    let claimed =
        p.db.atomically(async |tx| {
            Ok(exec!(
                tx,
                sqlx::query(
                    "UPDATE actes SET status = 'signature', updated_at = $1, version = version + 1 \
                 WHERE id = $2 AND org_id = $3 AND status = 'brouillon' AND version = $4"
                )
                .bind(to_micros(now))
                .bind(&acte.id)
                .bind(org_id.to_string())
                .bind(seen_version)
            )?)
        })
        .await?;
    if claimed == 0 {
        return Err(app(AppError::Conflict(
            "Cet acte vient d'être modifié ou envoyé en signature : rechargez sa page.".into(),
        )));
    }
    let nature = acte.nature().unwrap_or(Nature::AU);
    let submitted = flow::submit(
        p,
        org,
        who,
        Submission {
            title: dossier_title(&acte),
            doc_type: parapheur_doc_type(nature).to_owned(),
            subtype: Some(nature.label().to_owned()),
            circuit_name: circuit.name.clone(),
            steps,
            document,
            annexes,
            source: Some((SOURCE.to_owned(), acte.id.clone())),
        },
    )
    .await;
    let dossier = match submitted {
        Ok(d) => d,
        Err(e) => {
            p.db.atomically(async |tx| {
                exec!(tx, sqlx::query(
                    "UPDATE actes SET status = 'brouillon', updated_at = $1, version = version + 1 \
                     WHERE id = $2 AND status = 'signature' AND parapheur_dossier IS NULL"
                )
                .bind(to_micros(now))
                .bind(&acte.id))?;
                Ok(())
            })
            .await?;
            return Err(e);
        }
    };
    let author = Author {
        id: who.id,
        name: who.name,
    };
    p.db.atomically(async |tx| {
        exec!(
            tx,
            sqlx::query(
                "UPDATE actes SET parapheur_dossier = $1, version = version + 1 WHERE id = $2"
            )
            .bind(&dossier)
            .bind(&acte.id)
        )?;
        events::record(
            tx,
            now,
            &acte.id,
            TimelineEvent {
                kind: "envoye_signature",
                label: format!(
                    "Envoyé en signature dans le parapheur (circuit « {} »)",
                    circuit.name
                ),
                user: Some(who.id),
                message_id: None,
            },
        )
        .await?;
        audit::append(
            tx,
            now,
            NewEvent::new(
                Some(org_id),
                &author.audit(),
                "actes.acte.sent_to_signature",
                "acte",
                &acte.id,
            )
            .details(json!({ "numero": acte.numero, "dossier": dossier, "circuit": circuit.name })),
        )
        .await
    })
    .await?;
    Ok(dossier)
}

/// How a circuit ended, as the parapheur tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureOutcome {
    /// Signed: the blob of the signed document.
    Signed {
        sha256: String,
        size: i64,
    },
    Rejected {
        motive: Option<String>,
    },
}

/// Applies the end of a circuit to the acte waiting for it: signed, the signed PDF replaces
/// the main document (the original is kept) and the acte is `pret`; rejected, it is a draft
/// again, with the motive on its timeline. An event that does not match (already applied,
/// another dossier) changes nothing.
pub async fn apply_signature(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    acte_id: &str,
    dossier: &str,
    outcome: &SignatureOutcome,
) -> StoreResult<bool> {
    let Some(acte) = get(tx, org, acte_id).await? else {
        return Ok(false);
    };
    if acte.status() != Status::Signature || acte.parapheur_dossier.as_deref() != Some(dossier) {
        return Ok(false);
    }
    let parapheur = AuditActor {
        user_id: None,
        label: "Parapheur".into(),
    };
    match outcome {
        SignatureOutcome::Signed { sha256, size } => {
            exec!(tx, sqlx::query(
                "UPDATE actes_pieces SET original_sha256 = COALESCE(original_sha256, sha256), \
                 original_size = COALESCE(original_size, size), sha256 = $1, size = $2, signed = TRUE \
                 WHERE acte_id = $3 AND position = 1"
            )
            .bind(sha256)
            .bind(size)
            .bind(&acte.id))?;
            exec!(tx, sqlx::query(
                "UPDATE actes SET status = 'pret', updated_at = $1, version = version + 1 WHERE id = $2"
            )
            .bind(to_micros(now))
            .bind(&acte.id))?;
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "signe",
                    label: "Signé dans le parapheur : le PDF signé remplace le document déposé (conservé), l'acte est prêt à transmettre".into(),
                    user: None,
                    message_id: None,
                },
            )
            .await?;
            audit::append(
                tx,
                now,
                NewEvent::new(Some(org), &parapheur, "actes.acte.signed", "acte", &acte.id)
                    .details(
                        json!({ "numero": acte.numero, "dossier": dossier, "sha256": sha256 }),
                    ),
            )
            .await?;
        }
        SignatureOutcome::Rejected { motive } => {
            exec!(tx, sqlx::query(
                "UPDATE actes SET status = 'brouillon', parapheur_dossier = NULL, updated_at = $1, \
                 version = version + 1 WHERE id = $2"
            )
            .bind(to_micros(now))
            .bind(&acte.id))?;
            let label = match motive.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
                Some(m) => format!(
                    "Signature refusée dans le parapheur : « {m} ». L'acte redevient un brouillon."
                ),
                None => {
                    "Signature refusée dans le parapheur. L'acte redevient un brouillon.".into()
                }
            };
            events::record(
                tx,
                now,
                &acte.id,
                TimelineEvent {
                    kind: "rejete",
                    label,
                    user: None,
                    message_id: None,
                },
            )
            .await?;
            audit::append(
                tx,
                now,
                NewEvent::new(
                    Some(org),
                    &parapheur,
                    "actes.acte.signature_rejected",
                    "acte",
                    &acte.id,
                )
                .details(json!({ "numero": acte.numero, "dossier": dossier, "motif": motive })),
            )
            .await?;
        }
    }
    Ok(true)
}

/// Receives the end of a circuit from the parapheur's outbox.
pub struct SignatureEnded;

#[async_trait]
impl JobHandler for SignatureEnded {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let envelope: Envelope = serde_json::from_value(job.payload())
            .map_err(|e| JobError::Permanent(format!("enveloppe illisible : {e}")))?;
        if envelope.topic != TOPIC_ENDED || envelope.payload["source"].as_str() != Some(SOURCE) {
            return Ok(());
        }
        let (Some(org), Some(acte_id), Some(dossier)) = (
            envelope
                .org_id
                .as_deref()
                .and_then(|o| o.parse::<OrgId>().ok()),
            envelope.payload["source_ref"].as_str(),
            envelope.payload["dossier"].as_str(),
        ) else {
            return Err(JobError::Permanent(
                "événement sans organisation, acte ni dossier".into(),
            ));
        };
        let outcome = match envelope.payload["status"].as_str() {
            Some("termine") => {
                let sha = envelope.payload["document_sha256"]
                    .as_str()
                    .ok_or_else(|| JobError::Permanent("document signé absent".into()))?
                    .to_owned();
                let size = p.blobs.read_all(&owner_key(Some(org)), &sha).await?.len() as i64;
                SignatureOutcome::Signed { sha256: sha, size }
            }
            Some("rejete") => SignatureOutcome::Rejected {
                motive: envelope.payload["motif"].as_str().map(str::to_owned),
            },
            _ => return Ok(()),
        };
        let now = p.clock.now();
        p.db.atomically(async |tx| apply_signature(tx, now, org, acte_id, dossier, &outcome).await)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::constant(2026, 11, 23)
    }

    fn raw() -> RawActe {
        RawActe {
            nature: "DE".into(),
            numero: "DEL_2026_12".into(),
            objet: "Tarifs de la cantine".into(),
            matiere: "7.1".into(),
            decision_date: "2026-11-20".into(),
            document_papier: false,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_complete_acte_passes_and_each_bad_field_is_named() {
        let c = Classification::demo();
        let ok = check_acte(&raw(), Some(&c), today(), true).unwrap();
        assert_eq!(ok.nature, Nature::DE);
        assert_eq!(ok.decision_date, Some(Date::constant(2026, 11, 20)));

        let mut bad = raw();
        bad.numero = "dél_2026".into();
        bad.objet = "x".repeat(500);
        bad.matiere = "9.99".into();
        bad.decision_date = "2026-12-01".into();
        let errors = check_acte(&bad, Some(&c), today(), true).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["numero", "objet", "matiere", "date_decision"]
        );
        assert!(
            errors[0].message.contains("majuscules"),
            "{}",
            errors[0].message
        );
        assert!(errors[1].message.contains("499"), "{}", errors[1].message);
        assert!(errors[3].message.contains("futur"));

        for numero in ["_DEL", "DEL_", "DEL 12", "DÉL12", "ABCDEFGHIJKLMNOP"] {
            let mut r = raw();
            r.numero = numero.into();
            assert!(
                check_acte(&r, Some(&c), today(), false).is_err(),
                "{numero}"
            );
        }
        let mut multiline = raw();
        multiline.objet = "Ligne 1\nLigne 2".into();
        assert_eq!(
            fields(&check_acte(&multiline, Some(&c), today(), false).unwrap_err()),
            ["objet"]
        );
    }

    #[test]
    fn a_draft_may_be_incomplete_but_not_wrong() {
        let draft = RawActe {
            nature: "AI".into(),
            ..RawActe::default()
        };
        let ok = check_acte(&draft, None, today(), false).unwrap();
        assert!(ok.numero.is_empty() && ok.decision_date.is_none());
        let errors = check_acte(&draft, None, today(), true).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["numero", "objet", "matiere", "date_decision"]
        );
        let no_nature = RawActe::default();
        assert_eq!(
            fields(&check_acte(&no_nature, None, today(), false).unwrap_err()),
            ["nature"]
        );
    }

    #[test]
    fn typologies_follow_the_nature() {
        let c = Classification::demo();
        assert_eq!(
            resolve_typologie(Some(&c), Nature::DE, "").unwrap(),
            "99_DE"
        );
        assert_eq!(
            resolve_typologie(Some(&c), Nature::BF, "").unwrap(),
            "99_BU"
        );
        // 99_AI belongs to the actes individuels, not to the budget.
        let err = resolve_typologie(Some(&c), Nature::BF, "99_AI").unwrap_err();
        assert!(err.contains("n'est pas prévue"), "{err}");
        assert!(resolve_typologie(None, Nature::DE, "99_DE").is_ok());
        assert!(resolve_typologie(None, Nature::DE, "21_EP").is_err());
        assert!(!typologies(Some(&c), Nature::AI).is_empty());
    }

    #[test]
    fn files_are_judged_by_their_content() {
        let err = check_piece("d.pdf", b"<html>pas un pdf</html>", true).unwrap_err();
        assert!(
            err.contains("n'est pas un PDF") && err.contains("d.pdf"),
            "{err}"
        );
        let err = check_piece("outil.exe", b"MZ\x90\x00", false).unwrap_err();
        assert!(err.contains("n'est pas accepté"), "{err}");
        let err = check_piece("photo.png", b"GIF89a....", false).unwrap_err();
        assert!(err.contains("image PNG"), "{err}");
        let png = check_piece("plan.PNG", b"\x89PNG\r\n\x1a\n....", false).unwrap();
        assert_eq!(png.content_type, "image/png");
        let odt = check_piece("note.odt", b"PK\x03\x04....", false).unwrap();
        assert_eq!(odt.extensions[0], "odt");
        assert!(check_piece("vide.pdf", b"", false).is_err());
        assert!(check_total(MAX_TOTAL + 1).unwrap_err().contains("150 Mo"));
    }

    #[test]
    fn the_organisation_word_survives_normalisation_whole() {
        let org = OrgId::new();
        let term = org_term(org);
        assert_eq!(bouquet_kernel::text::normalize(&term), term);
        let text = bouquet_kernel::text::normalize(&search_text(org, "DEL_2026_12", "Cantine"));
        assert!(text.ends_with(&term) && text.starts_with("del 2026 12 cantine"));
    }

    #[test]
    fn matieres_and_like_patterns() {
        assert_eq!(parse_matiere("7.1.2"), Some(vec![7, 1, 2]));
        assert_eq!(parse_matiere("7..2"), None);
        assert_eq!(parse_matiere("1.2.3.4.5.6"), None);
        assert_eq!(dotted(&[7, 1]), "7.1");
        assert_eq!(like_literal("DEL_1%"), "DEL\\_1\\%");
        let c = Classification::demo();
        assert!(matiere_label(Some(&c), "7.1").starts_with("7.1 "));
    }
}
