//! Importing members from a CSV file, with a preview.
//!
//! # Layout
//!
//! - [`preview`]: reads the bytes of a file and checks every line against the registry; it
//!   writes nothing. The caller shows the [`Preview`], then writes either every line (only
//!   when [`Preview::is_clean`]) or, on an explicit choice, [`Preview::valid`] ones.
//! - [`Preview`], [`LineReport`], [`ColumnError`]: what each line became, with French errors
//!   naming the column as written in the file, and warnings that do not block.
//! - [`ImportedMember`], [`Status`]: one member as it will be written.
//! - [`ImportError`]: why the whole file was refused (empty, not CSV, no `siren` column, too
//!   many lines, too large).
//!
//! # The file
//!
//! Files come from spreadsheets or from an older platform, so the reader is lenient about
//! form and strict about content:
//!
//! - **Encoding**: valid UTF-8 (with or without BOM) is UTF-8; anything else is Windows-1252,
//!   what Excel writes for "CSV (séparateur : point-virgule)". A Windows-1252 file with
//!   accents is practically never valid UTF-8, and every byte decodes in Windows-1252.
//! - **Separator**: `;` or `,`, whichever occurs more often (outside quotes) in the header
//!   line, `;` on a tie; a first line `sep=;` (which Excel writes and reads) decides instead.
//! - **Header**: names are compared once normalised ([`normalize`]: case, accents and
//!   punctuation ignored) against a few synonyms per column ("N° SIREN", "Raison sociale",
//!   "Collège", "Services souscrits", "E-mail"…). Unknown columns are listed in
//!   [`Preview::ignored_columns`]; two columns meaning the same thing refuse the file.
//! - **Lines**: blank lines and lines whose cells are all empty (spreadsheets leave them) are
//!   skipped; line numbers are lines of the file, header = 1, so they match the spreadsheet.
//!
//! # The rules
//!
//! The registry is the authority on communes and EPCI: a commune is never typed in, it is
//! taken from the registry by its SIREN, with its name, INSEE code, EPCI, département and
//! population. So a commune or an EPCI absent from the registry is an error, a different
//! name is only a warning (the registry's name is used), and a commune given with another
//! EPCI than its own is an error (the file is wrong, or the registry is out of date: either
//! way a person must look). A CCAS is not in the registry but belongs to a commune's EPCI,
//! which must then be given and be in the registry. Other public bodies (CIAS, syndicats,
//! départements, régions…) need a type and a name. The operator and companies are refused:
//! they are never members. A SIREN seen twice is an error on the second line, naming the
//! first. Every column of a line is checked even when an earlier one failed, so that one
//! round of corrections is enough.
//!
//! A status date after the import date is an error: the statuses are history, and a
//! membership that only starts later is a "candidat" today.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;

use bouquet_kernel::text::normalize;
use bouquet_kernel::{Email, Insee, OrgKind, Service, Siren};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::members::Status;
use crate::registry::{Commune, Epci, Registry};

/// The largest file accepted: a territory's members fit in a few hundred kilobytes.
pub const MAX_FILE_SIZE: usize = 5 * 1024 * 1024;

/// The most member lines accepted (the header and blank lines not counted): more than any
/// operator's members, few enough for a preview a person can read.
pub const MAX_LINES: usize = 5_000;

/// The longest `college` accepted, in characters.
pub const MAX_COLLEGE_CHARS: usize = 100;

/// The longest name accepted for an organisation absent from the registry, in characters
/// (the longest EPCI names in BANATIC are about 90).
pub const MAX_NAME_CHARS: usize = 200;

/// The encoding the file was read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    Windows1252,
}

impl Encoding {
    /// As people know it, for the preview page.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Windows1252 => "Windows-1252",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One member as it will be written. Communes and EPCI carry the registry's values (name,
/// INSEE code, EPCI, département, population), not the file's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMember {
    pub siren: Siren,
    pub name: String,
    pub kind: OrgKind,
    /// Communes, and CCAS whose file gave their commune's code.
    pub insee: Option<Insee>,
    /// The EPCI of a commune (from the registry) or of a CCAS (from the file, checked).
    pub epci: Option<Siren>,
    /// Communes and EPCI (registry); CCAS (their commune's, else their EPCI's).
    pub departement: Option<String>,
    /// (totale, municipale, year of the populations), for communes and EPCI.
    pub population: Option<(i64, i64, i32)>,
    pub status: Status,
    pub status_date: Date,
    pub college: Option<String>,
    /// Sorted, without duplicates.
    pub services: Vec<Service>,
    pub contact_email: Option<Email>,
}

/// An error on one cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnError {
    /// The column's header as written in the file ("Services souscrits"); its usual name
    /// ("type") when the file has no such column; empty when the whole line is at fault.
    pub column: String,
    /// French, lower-case start, no final period: shown after "colonne « … » : ".
    pub message: String,
}

/// What one line of the file became.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineReport {
    /// 1-based line of the file (the header is line 1).
    pub line: usize,
    /// Present exactly when `errors` is empty.
    pub member: Option<ImportedMember>,
    pub errors: Vec<ColumnError>,
    /// Things the operator should know but that do not stop the import (the registry's name
    /// replaces the file's, an ignored cell…).
    pub warnings: Vec<String>,
}

/// The result of reading a file: one report per member line, in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub encoding: Encoding,
    pub separator: char,
    /// Headers that match no known column, as written; their cells are not read.
    pub ignored_columns: Vec<String>,
    pub lines: Vec<LineReport>,
}

impl Preview {
    /// No line has an error (warnings allowed): the whole file can be imported.
    pub fn is_clean(&self) -> bool {
        self.lines.iter().all(|l| l.errors.is_empty())
    }

    /// The members of the lines without errors, in file order.
    pub fn valid(&self) -> impl Iterator<Item = &ImportedMember> {
        self.lines.iter().filter_map(|l| l.member.as_ref())
    }

    /// The number of lines with at least one error (not the number of errors).
    pub fn error_count(&self) -> usize {
        self.lines.iter().filter(|l| !l.errors.is_empty()).count()
    }
}

/// Why a whole file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("le fichier est vide")]
    Empty,
    #[error(
        "le fichier dépasse {} Mo : découpez-le en plusieurs fichiers",
        MAX_FILE_SIZE / (1024 * 1024)
    )]
    TooLarge,
    #[error(
        "ce n'est pas un fichier CSV : depuis le tableur, enregistrez le tableau au format « CSV (séparateur : point-virgule) » ou « CSV UTF-8 »"
    )]
    NotCsv,
    #[error("colonne « siren » introuvable ; colonnes trouvées : {}", quoted_list(.found))]
    MissingSiren {
        /// The non-empty headers of the first line, as written.
        found: Vec<String>,
    },
    #[error(
        "les colonnes « {first} » et « {second} » désignent toutes deux la colonne « {column} » : gardez-en une seule"
    )]
    DuplicateColumn {
        column: &'static str,
        first: String,
        second: String,
    },
    #[error("le fichier ne contient que l'en-tête : aucune ligne de membre")]
    NoMembers,
    #[error(
        "le fichier compte plus de 5 000 lignes de membres : découpez-le en plusieurs fichiers"
    )]
    TooManyLines,
}

fn quoted_list(items: &[String]) -> String {
    if items.is_empty() {
        return "aucune".to_owned();
    }
    items
        .iter()
        .map(|i| format!("« {i} »"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a CSV file of members and checks every line; see the module documentation.
/// `today` is the import date: the default status date, and the latest one accepted.
pub fn preview(bytes: &[u8], registry: &Registry, today: Date) -> Result<Preview, ImportError> {
    if bytes.len() > MAX_FILE_SIZE {
        return Err(ImportError::TooLarge);
    }
    let (text, encoding) = decode(bytes);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    // Text has no control characters but tabs and line ends; a workbook (.xlsx is a zip),
    // a PDF or a UTF-16 file does, and the CSV reader would make nonsense of it.
    if text
        .chars()
        .any(|c| c.is_ascii_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err(ImportError::NotCsv);
    }
    let (separator, skip) = separator(&text);
    let body = &text[skip..];
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());

    let vocabulary = Vocabulary::new();
    let mut lines = LineCounter::new(text.as_bytes(), skip);
    let mut record = csv::StringRecord::new();
    let mut columns: Option<Columns> = None;
    let mut ignored_columns = Vec::new();
    let mut reports: Vec<LineReport> = Vec::new();
    let mut seen: HashMap<Siren, usize> = HashMap::new();
    loop {
        let offset_before = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // The text is valid UTF-8 and the reader is flexible, so this is not expected;
            // if it happens, the file is not one we can read.
            Err(_) => return Err(ImportError::NotCsv),
        }
        let line = lines.line_at(record.position().map_or(offset_before, csv::Position::byte));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let Some(cols) = columns.as_ref() else {
            let (found, ignored) = Columns::find(&record)?;
            columns = Some(found);
            ignored_columns = ignored;
            continue;
        };
        if reports.len() == MAX_LINES {
            return Err(ImportError::TooManyLines);
        }
        let check = LineCheck {
            cols,
            record: &record,
            registry,
            vocabulary: &vocabulary,
            separator: char::from(separator),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        reports.push(check.run(line, today, &mut seen));
    }
    if columns.is_none() {
        return Err(ImportError::Empty);
    }
    if reports.is_empty() {
        return Err(ImportError::NoMembers);
    }
    Ok(Preview {
        encoding,
        separator: char::from(separator),
        ignored_columns,
        lines: reports,
    })
}

// ----- reading the file -----

fn decode(bytes: &[u8]) -> (Cow<'_, str>, Encoding) {
    let raw = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(raw) {
        Ok(text) => (Cow::Borrowed(text), Encoding::Utf8),
        Err(_) => (
            encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw).0,
            Encoding::Windows1252,
        ),
    }
}

/// The separator, and how many bytes to skip before the header (a `sep=` line).
fn separator(text: &str) -> (u8, usize) {
    let first = text.split('\n').next().unwrap_or_default();
    // A file that is only `sep=;` has no line end to skip.
    let after_first = (first.len() + 1).min(text.len());
    match first.trim().to_ascii_lowercase().as_str() {
        "sep=;" => return (b';', after_first),
        "sep=," => return (b',', after_first),
        _ => {}
    }
    let header = text
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let (mut semicolons, mut commas, mut quoted) = (0usize, 0usize, false);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    let sep = if commas > semicolons { b',' } else { b';' };
    (sep, 0)
}

/// File line numbers from byte offsets. The CSV reader's own line count lags by one on CRLF
/// files (it counts the `\n` of a line when it reads the next record), so lines are counted
/// here from the offset where each record starts.
struct LineCounter<'t> {
    text: &'t [u8],
    /// Where the reader's input starts in `text` (after a `sep=` line).
    base: usize,
    offset: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t [u8], base: usize) -> Self {
        LineCounter {
            text,
            base,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose reading began at `byte` of the reader's input: the
    /// reader starts a record on the line ends (and the empty lines) before it, so they are
    /// skipped first. Offsets only grow, so the file is counted once.
    fn line_at(&mut self, byte: u64) -> usize {
        let len = self.text.len();
        let mut start = usize::try_from(byte)
            .map_or(len, |b| b.saturating_add(self.base))
            .clamp(self.offset, len);
        while start < len && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        self.line += self.text[self.offset..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = start;
        self.line
    }
}

/// The columns the importer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Siren,
    Nom,
    Type,
    Insee,
    Epci,
    Statut,
    Date,
    College,
    Services,
    Courriel,
}

const FIELDS: [Field; 10] = [
    Field::Siren,
    Field::Nom,
    Field::Type,
    Field::Insee,
    Field::Epci,
    Field::Statut,
    Field::Date,
    Field::College,
    Field::Services,
    Field::Courriel,
];

impl Field {
    /// The name used in the documentation of the format, and in errors when the file has
    /// no such column.
    fn name(self) -> &'static str {
        match self {
            Field::Siren => "siren",
            Field::Nom => "nom",
            Field::Type => "type",
            Field::Insee => "insee",
            Field::Epci => "epci",
            Field::Statut => "statut",
            Field::Date => "date",
            Field::College => "college",
            Field::Services => "services",
            Field::Courriel => "courriel",
        }
    }

    /// Accepted headers, already normalised (the name first).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Field::Siren => &[
                "siren",
                "n siren",
                "no siren",
                "numero siren",
                "code siren",
                "siren de l organisme",
                "siren organisme",
                "siren de la collectivite",
                "siren collectivite",
                "siren du membre",
                "siren membre",
            ],
            Field::Nom => &[
                "nom",
                "raison sociale",
                "denomination",
                "nom de l organisme",
                "nom organisme",
                "organisme",
                "nom de la collectivite",
                "collectivite",
                "nom du membre",
                "membre",
                "libelle",
            ],
            Field::Type => &[
                "type",
                "type d organisme",
                "type organisme",
                "type de collectivite",
                "type de structure",
                "nature",
                "nature juridique",
                "categorie",
            ],
            Field::Insee => &[
                "insee",
                "code insee",
                "n insee",
                "code commune",
                "code officiel geographique",
                "cog",
            ],
            Field::Epci => &[
                "epci",
                "siren epci",
                "siren de l epci",
                "epci de rattachement",
                "siren epci de rattachement",
                "siren de l epci de rattachement",
                "intercommunalite",
            ],
            Field::Statut => &[
                "statut",
                "statut d adhesion",
                "statut adhesion",
                "etat",
                "situation",
            ],
            Field::Date => &[
                "date",
                "date du statut",
                "date de statut",
                "date statut",
                "date d adhesion",
                "date adhesion",
                "date d effet",
                "depuis",
            ],
            Field::College => &["college", "college electoral"],
            Field::Services => &[
                "services",
                "service",
                "services souscrits",
                "services actifs",
                "abonnements",
                "prestations",
            ],
            Field::Courriel => &[
                "courriel",
                "courriel de contact",
                "adresse courriel",
                "email",
                "e mail",
                "adresse e mail",
                "mail",
                "adresse mail",
                "mel",
                "adresse electronique",
                "contact",
            ],
        }
    }

    fn of_header(header: &str) -> Option<Field> {
        let key = normalize(header);
        FIELDS
            .into_iter()
            .find(|f| f.synonyms().contains(&key.as_str()))
    }
}

/// Where each known column is, and its header as written.
struct Columns {
    at: [Option<usize>; FIELDS.len()],
    headers: [String; FIELDS.len()],
    width: usize,
}

impl Columns {
    /// The columns of a header line, and the headers that match none.
    fn find(header: &csv::StringRecord) -> Result<(Columns, Vec<String>), ImportError> {
        let mut at = [None; FIELDS.len()];
        let mut headers: [String; FIELDS.len()] = Default::default();
        let mut ignored = Vec::new();
        for (i, raw) in header.iter().enumerate() {
            let written = raw.trim().trim_start_matches('\u{feff}').trim();
            if written.is_empty() {
                continue;
            }
            let Some(field) = Field::of_header(written) else {
                ignored.push(written.to_owned());
                continue;
            };
            let slot = field as usize;
            if at[slot].is_some() {
                return Err(ImportError::DuplicateColumn {
                    column: field.name(),
                    first: headers[slot].clone(),
                    second: written.to_owned(),
                });
            }
            at[slot] = Some(i);
            headers[slot] = written.to_owned();
        }
        if at[Field::Siren as usize].is_none() {
            let found = header
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect();
            return Err(ImportError::MissingSiren { found });
        }
        Ok((
            Columns {
                at,
                headers,
                width: header.len(),
            },
            ignored,
        ))
    }

    fn value<'r>(&self, record: &'r csv::StringRecord, field: Field) -> &'r str {
        self.at[field as usize]
            .and_then(|i| record.get(i))
            .map_or("", str::trim)
    }

    /// The column as the person knows it: its header in the file, else its usual name.
    fn column(&self, field: Field) -> String {
        if self.at[field as usize].is_some() {
            self.headers[field as usize].clone()
        } else {
            field.name().to_owned()
        }
    }
}

// ----- vocabulary of the cells -----

/// The `type` column: a kind, or "EPCI" without saying which (the registry knows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Declared {
    Kind(OrgKind),
    AnyEpci,
}

/// Normalised words of the `type` and `services` cells, built once per file.
struct Vocabulary {
    kinds: Vec<(String, Declared)>,
    services: Vec<(String, Service)>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let kinds: &[(&str, Declared)] = &[
            ("commune", Declared::Kind(OrgKind::Commune)),
            ("mairie", Declared::Kind(OrgKind::Commune)),
            ("ccas", Declared::Kind(OrgKind::Ccas)),
            (
                "centre communal d action sociale",
                Declared::Kind(OrgKind::Ccas),
            ),
            ("cias", Declared::Kind(OrgKind::Cias)),
            (
                "centre intercommunal d action sociale",
                Declared::Kind(OrgKind::Cias),
            ),
            ("cc", Declared::Kind(OrgKind::Cc)),
            ("communaute de communes", Declared::Kind(OrgKind::Cc)),
            ("ca", Declared::Kind(OrgKind::Ca)),
            ("communaute d agglomeration", Declared::Kind(OrgKind::Ca)),
            ("agglomeration", Declared::Kind(OrgKind::Ca)),
            ("cu", Declared::Kind(OrgKind::Cu)),
            ("communaute urbaine", Declared::Kind(OrgKind::Cu)),
            ("metropole", Declared::Kind(OrgKind::Metropole)),
            ("epci", Declared::AnyEpci),
            ("epci a fiscalite propre", Declared::AnyEpci),
            ("syndicat", Declared::Kind(OrgKind::Syndicat)),
            ("syndicat mixte", Declared::Kind(OrgKind::Syndicat)),
            ("syndicat intercommunal", Declared::Kind(OrgKind::Syndicat)),
            ("sivu", Declared::Kind(OrgKind::Syndicat)),
            ("sivom", Declared::Kind(OrgKind::Syndicat)),
            ("departement", Declared::Kind(OrgKind::Departement)),
            (
                "conseil departemental",
                Declared::Kind(OrgKind::Departement),
            ),
            ("region", Declared::Kind(OrgKind::Region)),
            ("conseil regional", Declared::Kind(OrgKind::Region)),
            ("autre", Declared::Kind(OrgKind::AutrePublic)),
            ("autre public", Declared::Kind(OrgKind::AutrePublic)),
            (
                "autre organisme public",
                Declared::Kind(OrgKind::AutrePublic),
            ),
            ("etablissement public", Declared::Kind(OrgKind::AutrePublic)),
            // Recognised so as to refuse them with a reason rather than "unknown type".
            ("operateur", Declared::Kind(OrgKind::Operateur)),
            ("entreprise", Declared::Kind(OrgKind::Entreprise)),
            ("societe", Declared::Kind(OrgKind::Entreprise)),
        ];
        let extra: &[(&str, Service)] = &[
            ("teletransmission des actes", Service::Actes),
            ("controle de legalite", Service::Actes),
            ("flux comptable", Service::Helios),
            ("pes", Service::Helios),
            ("parapheur electronique", Service::Parapheur),
            ("i parapheur", Service::Parapheur),
            ("facture", Service::Factures),
            ("factures electroniques", Service::Factures),
            ("archivage electronique", Service::Archives),
            ("marche public", Service::Marches),
            ("profil d acheteur", Service::Marches),
            ("echange securise", Service::Transfert),
            ("transfert de fichiers", Service::Transfert),
            ("publication", Service::Publication),
            ("donnees ouvertes", Service::Publication),
        ];
        let mut services: Vec<(String, Service)> = Vec::new();
        for s in Service::ALL {
            for name in [s.code(), s.slug(), s.label()] {
                services.push((service_key(name), s));
            }
        }
        services.extend(extra.iter().map(|(n, s)| (service_key(n), *s)));
        let mut kinds: Vec<(String, Declared)> =
            kinds.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
        // The kernel's codes and labels too ("autre_public", "Centre communal d'action
        // sociale (CCAS)"), so that a file exported by Bouquet reads back.
        for k in OrgKind::ALL {
            for name in [k.code(), k.label()] {
                kinds.push((normalize(name), Declared::Kind(k)));
            }
        }
        Vocabulary { kinds, services }
    }

    fn kind(&self, cell: &str) -> Option<Declared> {
        let key = normalize(cell);
        self.kinds.iter().find(|(n, _)| *n == key).map(|(_, k)| *k)
    }

    fn service(&self, item: &str) -> Option<Service> {
        let key = service_key(item);
        let key = key.strip_prefix("service ").unwrap_or(&key);
        self.services
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, s)| *s)
    }
}

/// Normalised, and each word without its final `s`, so that singular and plural match
/// ("Marché public", "marchés publics").
fn service_key(name: &str) -> String {
    normalize(name)
        .split(' ')
        .map(|w| {
            if w.len() > 1 {
                w.strip_suffix('s').unwrap_or(w)
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "une commune", "un CCAS"… for "pas celui d'un CCAS".
fn with_article(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Region => "une région",
        OrgKind::Departement => "un département",
        OrgKind::Cc => "une communauté de communes",
        OrgKind::Ca => "une communauté d'agglomération",
        OrgKind::Cu => "une communauté urbaine",
        OrgKind::Metropole => "une métropole",
        OrgKind::Commune => "une commune",
        OrgKind::Ccas => "un CCAS",
        OrgKind::Cias => "un CIAS",
        OrgKind::Syndicat => "un syndicat",
        OrgKind::AutrePublic => "un autre organisme public",
        OrgKind::Operateur => "l'opérateur",
        OrgKind::Entreprise => "une entreprise",
    }
}

/// Kinds the registry holds: never created from the file.
fn registry_kind(declared: Declared) -> bool {
    match declared {
        Declared::Kind(k) => k == OrgKind::Commune || k.is_epci(),
        Declared::AnyEpci => true,
    }
}

fn declared_with_article(declared: Declared) -> &'static str {
    match declared {
        Declared::Kind(k) => with_article(k),
        Declared::AnyEpci => "un EPCI",
    }
}

fn french_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

/// `JJ/MM/AAAA` (also with one-digit day or month, or `-` / `.` between), or `AAAA-MM-JJ`;
/// a time after a space (spreadsheets add ` 00:00:00`) is ignored.
fn parse_date(cell: &str) -> Option<Date> {
    let date = match cell.split_once(' ') {
        Some((date, time)) if time.contains(':') => date,
        _ => cell,
    };
    let parts: Vec<&str> = date.split(['/', '-', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let number = |s: &str, max_len: usize| -> Option<i16> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = if a.len() == 4 {
        (number(a, 4)?, number(b, 2)?, number(c, 2)?)
    } else if c.len() == 4 {
        (number(c, 4)?, number(b, 2)?, number(a, 2)?)
    } else {
        return None;
    };
    if year < 1900 {
        return None;
    }
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

// ----- checking one line -----

/// What the registry knows of a SIREN.
#[derive(Clone, Copy)]
enum Found<'r> {
    Commune(&'r Commune),
    Epci(&'r Epci),
    Nothing,
}

struct LineCheck<'a> {
    cols: &'a Columns,
    record: &'a csv::StringRecord,
    registry: &'a Registry,
    vocabulary: &'a Vocabulary,
    separator: char,
    errors: Vec<ColumnError>,
    warnings: Vec<String>,
}

impl<'a> LineCheck<'a> {
    fn value(&self, field: Field) -> &str {
        self.cols.value(self.record, field)
    }

    fn error(&mut self, field: Field, message: String) {
        self.errors.push(ColumnError {
            column: self.cols.column(field),
            message,
        });
    }

    fn run(mut self, line: usize, today: Date, seen: &mut HashMap<Siren, usize>) -> LineReport {
        self.check_width();
        let siren = self.siren();
        if let Some(siren) = &siren {
            match seen.entry(siren.clone()) {
                MapEntry::Occupied(first) => {
                    let first = *first.get();
                    self.error(
                        Field::Siren,
                        format!("SIREN {siren} en double : il figure déjà à la ligne {first}"),
                    );
                }
                MapEntry::Vacant(v) => {
                    v.insert(line);
                }
            }
        }
        let found = match &siren {
            Some(s) => match (
                self.registry.commune_by_siren(s.as_str()),
                self.registry.epci_by_siren(s.as_str()),
            ) {
                (Some(c), _) => Found::Commune(c),
                (None, Some(e)) => Found::Epci(e),
                (None, None) => Found::Nothing,
            },
            None => Found::Nothing,
        };
        let (kind, declared) = self.kind(siren.is_some(), found);
        let name = self.name(siren.is_some(), found, declared);
        let (insee, ccas_commune) = self.insee(kind, found);
        let epci = self.epci(kind, found, ccas_commune);
        let status = self.status();
        let status_date = self.status_date(today);
        let college = self.college();
        let services = self.services();
        let contact_email = self.contact_email();

        let (departement, population) = match found {
            Found::Commune(c) => (
                Some(c.departement.clone()),
                Some((
                    c.population_totale,
                    c.population_municipale,
                    self.registry.population_year,
                )),
            ),
            Found::Epci(e) => (
                Some(e.departement.clone()),
                Some((
                    e.population_totale,
                    e.population_municipale,
                    self.registry.population_year,
                )),
            ),
            Found::Nothing => {
                let departement = match (kind, ccas_commune, &epci) {
                    (Some(OrgKind::Ccas), Some(c), _) => Some(c.departement.clone()),
                    (Some(OrgKind::Ccas), None, Some(e)) => self
                        .registry
                        .epci_by_siren(e.as_str())
                        .map(|e| e.departement.clone()),
                    _ => None,
                };
                (departement, None)
            }
        };

        let member = match (siren, kind, name, status, status_date) {
            (Some(siren), Some(kind), Some(name), Some(status), Some(status_date))
                if self.errors.is_empty() =>
            {
                Some(ImportedMember {
                    siren,
                    name,
                    kind,
                    insee,
                    epci,
                    departement,
                    population,
                    status,
                    status_date,
                    college,
                    services,
                    contact_email,
                })
            }
            _ => {
                // Every check that leaves a piece missing reports why, so this is only a
                // safety net for the invariant "a member exactly when no error".
                if self.errors.is_empty() {
                    self.errors.push(ColumnError {
                        column: String::new(),
                        message: "ligne incomplète".to_owned(),
                    });
                }
                None
            }
        };
        LineReport {
            line,
            member,
            errors: self.errors,
            warnings: self.warnings,
        }
    }

    /// More cells than headers, when the extra ones are not empty, means a value holding the
    /// separator without quotes: every cell after it is shifted, so say so first.
    fn check_width(&mut self) {
        let extra = self
            .record
            .iter()
            .skip(self.cols.width)
            .any(|f| !f.trim().is_empty());
        if extra {
            self.errors.push(ColumnError {
                column: String::new(),
                message: format!(
                    "la ligne compte {} valeurs pour {} colonnes dans l'en-tête : une valeur contient-elle le séparateur « {} » sans guillemets ?",
                    self.record.len(),
                    self.cols.width,
                    self.separator
                ),
            });
        }
    }

    fn siren(&mut self) -> Option<Siren> {
        let raw = self.value(Field::Siren).to_owned();
        if raw.is_empty() {
            self.error(Field::Siren, "SIREN manquant".to_owned());
            return None;
        }
        match Siren::parse(&raw) {
            Ok(s) => Some(s),
            Err(_) => {
                let message = siren_problem(&raw, "SIREN");
                self.error(Field::Siren, message);
                None
            }
        }
    }

    /// The kind of the member, and what the `type` cell said (when it said something known).
    fn kind(&mut self, siren_ok: bool, found: Found<'a>) -> (Option<OrgKind>, Option<Declared>) {
        let cell = self.value(Field::Type).to_owned();
        let declared = self.declared(&cell);
        (
            self.resolve_kind(siren_ok, found, &cell, declared),
            declared,
        )
    }

    /// Reads the `type` cell: `None` when empty, or refused (with its error).
    fn declared(&mut self, cell: &str) -> Option<Declared> {
        if cell.is_empty() {
            return None;
        }
        match self.vocabulary.kind(cell) {
            Some(Declared::Kind(OrgKind::Operateur)) => {
                self.error(
                    Field::Type,
                    "l'opérateur ne peut pas être importé comme membre".to_owned(),
                );
                None
            }
            Some(Declared::Kind(OrgKind::Entreprise)) => {
                self.error(
                    Field::Type,
                    "une entreprise ne peut pas être membre : les entreprises utilisent les marchés publics et la facture électronique sans adhérer".to_owned(),
                );
                None
            }
            Some(d) => Some(d),
            None => {
                self.error(
                    Field::Type,
                    format!(
                        "type inconnu « {cell} » : attendu commune, CCAS, CIAS, CC (communauté de communes), CA, CU, métropole, syndicat, département, région ou autre"
                    ),
                );
                None
            }
        }
    }

    fn resolve_kind(
        &mut self,
        siren_ok: bool,
        found: Found<'a>,
        cell: &str,
        declared: Option<Declared>,
    ) -> Option<OrgKind> {
        // A refused or unknown type has its error already.
        if declared.is_none() && !cell.is_empty() {
            return None;
        }
        match (found, declared) {
            (Found::Commune(_), None | Some(Declared::Kind(OrgKind::Commune))) => {
                Some(OrgKind::Commune)
            }
            (Found::Commune(c), Some(d)) => {
                self.error(
                    Field::Type,
                    format!(
                        "le registre officiel indique que ce SIREN est celui de la commune {}, pas celui d'{}",
                        c.name,
                        declared_with_article(d)
                    ),
                );
                None
            }
            (Found::Epci(e), None | Some(Declared::AnyEpci)) => Some(e.kind),
            (Found::Epci(e), Some(Declared::Kind(k))) if k == e.kind => Some(k),
            (Found::Epci(e), Some(Declared::Kind(k))) if k.is_epci() => {
                // The nature of an EPCI changes (a CC becomes a CA): the registry is newer
                // than the spreadsheet.
                self.warnings.push(format!(
                    "le type du registre sera utilisé : {}",
                    e.kind.label()
                ));
                Some(e.kind)
            }
            (Found::Epci(e), Some(d)) => {
                self.error(
                    Field::Type,
                    format!(
                        "le registre officiel indique que ce SIREN est celui de l'EPCI {}, pas celui d'{}",
                        e.name,
                        declared_with_article(d)
                    ),
                );
                None
            }
            // Without a valid SIREN the registry could not be asked; the SIREN's error is
            // reported, and the type is kept for the checks that depend on it.
            (Found::Nothing, Some(Declared::Kind(k))) if !siren_ok => Some(k),
            (Found::Nothing, _) if !siren_ok => None,
            (Found::Nothing, Some(Declared::Kind(OrgKind::Commune))) => {
                self.error(
                    Field::Siren,
                    "cette commune n'est pas dans le registre officiel : vérifiez le SIREN (les communes sont reprises du registre, pas saisies)".to_owned(),
                );
                None
            }
            (Found::Nothing, Some(Declared::AnyEpci)) => {
                self.error(
                    Field::Siren,
                    "cet EPCI n'est pas dans le registre officiel : vérifiez le SIREN".to_owned(),
                );
                None
            }
            (Found::Nothing, Some(Declared::Kind(k))) if k.is_epci() => {
                self.error(
                    Field::Siren,
                    "cet EPCI n'est pas dans le registre officiel : vérifiez le SIREN".to_owned(),
                );
                None
            }
            (Found::Nothing, Some(Declared::Kind(k))) => Some(k),
            (Found::Nothing, None) => {
                self.error(
                    Field::Type,
                    "type manquant : ce SIREN n'est ni une commune ni un EPCI du registre officiel, indiquez le type (CCAS, syndicat, département…)".to_owned(),
                );
                None
            }
        }
    }

    fn name(
        &mut self,
        siren_ok: bool,
        found: Found<'a>,
        declared: Option<Declared>,
    ) -> Option<String> {
        let cell = self.value(Field::Nom).to_owned();
        let official = match found {
            Found::Commune(c) => Some(&c.name),
            Found::Epci(e) => Some(&e.name),
            Found::Nothing => None,
        };
        if let Some(official) = official {
            // Case, accents and punctuation are not a different name.
            if !cell.is_empty() && normalize(&cell) != normalize(official) {
                self.warnings
                    .push(format!("le nom du registre sera utilisé : « {official} »"));
            }
            return Some(official.clone());
        }
        let chars = cell.chars().count();
        if cell.is_empty() {
            // Without a valid SIREN the registry might have given the name, and a commune or
            // EPCI absent from the registry is refused whatever its name: do not ask.
            if siren_ok && !declared.is_some_and(registry_kind) {
                self.error(
                    Field::Nom,
                    "nom manquant : il est obligatoire pour un organisme absent du registre officiel".to_owned(),
                );
            }
            None
        } else if chars > MAX_NAME_CHARS {
            self.error(
                Field::Nom,
                format!("nom trop long : {chars} caractères, {MAX_NAME_CHARS} au plus"),
            );
            None
        } else {
            Some(cell)
        }
    }

    /// The INSEE code to keep, and for a CCAS the commune it names.
    fn insee(
        &mut self,
        kind: Option<OrgKind>,
        found: Found<'a>,
    ) -> (Option<Insee>, Option<&'a Commune>) {
        let cell = self.value(Field::Insee).to_owned();
        let given = if cell.is_empty() {
            None
        } else {
            match Insee::parse(&cell) {
                Ok(i) => Some(i),
                Err(_) => {
                    self.error(
                        Field::Insee,
                        format!(
                            "code INSEE invalide « {cell} » : 5 caractères attendus, par exemple 35136 (2A004 en Corse)"
                        ),
                    );
                    return (None, None);
                }
            }
        };
        if let Found::Commune(c) = found {
            if let Some(i) = &given
                && i.as_str() != c.insee
            {
                self.error(
                    Field::Insee,
                    format!(
                        "le code INSEE de la commune {} est {} dans le registre officiel, pas « {i} »",
                        c.name, c.insee
                    ),
                );
            }
            // The registry's codes were checked when it was read.
            return (Insee::parse(&c.insee).ok(), None);
        }
        let Some(given) = given else {
            return (None, None);
        };
        match kind {
            Some(OrgKind::Ccas) => match self.registry.commune_by_insee(given.as_str()) {
                Some(c) => (Some(given), Some(c)),
                None => {
                    self.error(
                        Field::Insee,
                        format!("aucune commune du registre officiel n'a le code INSEE {given}"),
                    );
                    (None, None)
                }
            },
            // Unknown kind, or a commune or EPCI that the registry did not find: their own
            // error is reported; nothing to say about the code.
            None => (None, None),
            Some(k)
                if matches!(found, Found::Nothing) && (k == OrgKind::Commune || k.is_epci()) =>
            {
                (None, None)
            }
            Some(_) => {
                self.warnings.push(
                    "code INSEE ignoré : il ne s'applique qu'aux communes et aux CCAS".to_owned(),
                );
                (None, None)
            }
        }
    }

    /// A SIREN of EPCI as written, with its name when the registry knows it.
    fn epci_label(&self, siren: &str) -> String {
        match self.registry.epci_by_siren(siren) {
            Some(e) => format!("{} ({siren})", e.name),
            None => siren.to_owned(),
        }
    }

    fn epci(
        &mut self,
        kind: Option<OrgKind>,
        found: Found<'a>,
        ccas_commune: Option<&'a Commune>,
    ) -> Option<Siren> {
        let cell = self.value(Field::Epci).to_owned();
        // `Err(())`: the cell is not a SIREN (already reported).
        let given: Result<Option<Siren>, ()> = if cell.is_empty() {
            Ok(None)
        } else {
            match Siren::parse(&cell) {
                Ok(s) => Ok(Some(s)),
                Err(_) => {
                    let message = siren_problem(&cell, "SIREN d'EPCI");
                    self.error(Field::Epci, message);
                    Err(())
                }
            }
        };
        match found {
            Found::Commune(c) => {
                if let Ok(Some(e)) = &given
                    && e.as_str() != c.epci_siren
                {
                    let message = format!(
                        "la commune {} n'appartient pas à l'EPCI {} : le registre officiel la rattache à {}",
                        c.name,
                        self.epci_label(e.as_str()),
                        self.epci_label(&c.epci_siren)
                    );
                    self.error(Field::Epci, message);
                }
                // The registry's SIRENs were checked when it was read.
                return Siren::parse(&c.epci_siren).ok();
            }
            Found::Epci(own) => {
                if let Ok(Some(e)) = &given
                    && e.as_str() != own.siren
                {
                    self.warnings.push(
                        "EPCI ignoré : un EPCI à fiscalité propre n'est rattaché à aucun autre"
                            .to_owned(),
                    );
                }
                return None;
            }
            Found::Nothing => {}
        }
        let given = given.ok()?;
        match kind {
            Some(OrgKind::Ccas) => {
                let Some(e) = given else {
                    self.error(
                        Field::Epci,
                        "EPCI manquant : indiquez pour un CCAS le SIREN de l'EPCI de sa commune"
                            .to_owned(),
                    );
                    return None;
                };
                if self.registry.epci_by_siren(e.as_str()).is_none() {
                    let message = match self.registry.commune_by_siren(e.as_str()) {
                        Some(c) => format!(
                            "{e} est le SIREN de la commune {}, pas d'un EPCI : indiquez celui de son EPCI, {}",
                            c.name,
                            self.epci_label(&c.epci_siren)
                        ),
                        None => format!("l'EPCI {e} n'est pas dans le registre officiel"),
                    };
                    self.error(Field::Epci, message);
                    return None;
                }
                if let Some(c) = ccas_commune
                    && c.epci_siren != e.as_str()
                {
                    let message = format!(
                        "la commune {} n'appartient pas à l'EPCI {} : le registre officiel la rattache à {}",
                        c.name,
                        self.epci_label(e.as_str()),
                        self.epci_label(&c.epci_siren)
                    );
                    self.error(Field::Epci, message);
                    return None;
                }
                Some(e)
            }
            // Only when the SIREN was refused: its error is reported.
            Some(k) if k == OrgKind::Commune || k.is_epci() => None,
            Some(_) if given.is_some() => {
                self.warnings.push(
                    "EPCI ignoré : seuls les communes et les CCAS sont rattachés à un EPCI"
                        .to_owned(),
                );
                None
            }
            _ => None,
        }
    }

    fn status(&mut self) -> Option<Status> {
        let cell = self.value(Field::Statut).to_owned();
        if cell.is_empty() {
            return Some(Status::Membre);
        }
        let status = Status::parse(&cell);
        if status.is_none() {
            self.error(
                Field::Statut,
                format!("statut inconnu « {cell} » : attendu candidat, membre, suspendu ou sorti"),
            );
        }
        status
    }

    fn status_date(&mut self, today: Date) -> Option<Date> {
        let cell = self.value(Field::Date).to_owned();
        if cell.is_empty() {
            return Some(today);
        }
        let Some(date) = parse_date(&cell) else {
            // A date cell the spreadsheet exported as its serial number ("45321").
            let message = if cell.len() == 5 && cell.bytes().all(|b| b.is_ascii_digit()) {
                format!(
                    "date invalide « {cell} » : le tableur l'a exportée comme un nombre, mettez la colonne au format date JJ/MM/AAAA"
                )
            } else {
                format!("date invalide « {cell} » : attendu JJ/MM/AAAA ou AAAA-MM-JJ")
            };
            self.error(Field::Date, message);
            return None;
        };
        if date > today {
            self.error(
                Field::Date,
                format!(
                    "la date {} est postérieure à la date de l'import ({})",
                    french_date(date),
                    french_date(today)
                ),
            );
            return None;
        }
        Some(date)
    }

    fn college(&mut self) -> Option<String> {
        let cell = self.value(Field::College).to_owned();
        let chars = cell.chars().count();
        if chars > MAX_COLLEGE_CHARS {
            self.error(
                Field::College,
                format!("collège trop long : {chars} caractères, {MAX_COLLEGE_CHARS} au plus"),
            );
            return None;
        }
        (!cell.is_empty()).then_some(cell)
    }

    fn services(&mut self) -> Vec<Service> {
        let cell = self.value(Field::Services).to_owned();
        if matches!(normalize(&cell).as_str(), "" | "aucun" | "neant") {
            return Vec::new();
        }
        let mut services = Vec::new();
        let mut unknown = Vec::new();
        for item in cell.split([',', '|', ';', '\n']) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match self.vocabulary.service(item) {
                Some(s) => services.push(s),
                None => unknown.push(item.to_owned()),
            }
        }
        if !unknown.is_empty() {
            let known = Service::ALL
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(", ");
            let (what, list) = if unknown.len() == 1 {
                ("service inconnu", quoted_list(&unknown))
            } else {
                ("services inconnus", quoted_list(&unknown))
            };
            self.error(
                Field::Services,
                format!(
                    "{what} {list} : services possibles : {known} (séparés par « , » ou « | »)"
                ),
            );
        }
        services.sort();
        services.dedup();
        services
    }

    fn contact_email(&mut self) -> Option<Email> {
        let cell = self.value(Field::Courriel).to_owned();
        if cell.is_empty() {
            return None;
        }
        match Email::parse(&cell) {
            Ok(e) => Some(e),
            Err(_) => {
                self.error(
                    Field::Courriel,
                    format!(
                        "adresse électronique invalide « {cell} » : attendu par exemple prenom.nom@mairie.fr"
                    ),
                );
                None
            }
        }
    }
}

/// Why a SIREN cell is not a SIREN, for the column `what` ("SIREN", "SIREN de l'EPCI").
fn siren_problem(raw: &str, what: &str) -> String {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.to_ascii_uppercase().contains("E+") {
        format!(
            "{what} « {raw} » converti en nombre par le tableur : mettez la colonne au format texte et exportez à nouveau"
        )
    } else if compact.len() == 9 && compact.bytes().all(|b| b.is_ascii_digit()) {
        format!("{what} invalide « {raw} » : la clé de contrôle est fausse, vérifiez les chiffres")
    } else {
        format!("{what} invalide « {raw} » : 9 chiffres attendus")
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    /// A clean file: UTF-8 with BOM, `,` (Excel's "CSV UTF-8"); see `tests-data/import/README.md`.
    const UTF8: &[u8] = include_bytes!("../tests-data/import/membres-utf8.csv");
    /// The same content in Windows-1252 with `;`.
    const CP1252: &[u8] = include_bytes!("../tests-data/import/membres-windows1252.csv");
    /// One error of each kind, one per line.
    const ERREURS: &[u8] = include_bytes!("../tests-data/import/membres-erreurs.csv");

    const TODAY: Date = date(2026, 1, 15);
    const ROCHE_AUX_FEES: &str = "243500634";
    const CHATEAUGIRON: &str = "243500659";

    fn registry() -> &'static Registry {
        Registry::embedded().expect("the embedded registry parses")
    }

    fn read(bytes: &[u8]) -> Preview {
        preview(bytes, registry(), TODAY).expect("the file is read")
    }

    fn run(text: &str) -> Preview {
        read(text.as_bytes())
    }

    fn refusal(bytes: &[u8]) -> ImportError {
        preview(bytes, registry(), TODAY).expect_err("the file is refused")
    }

    fn siren(s: &str) -> Siren {
        Siren::parse(s).unwrap()
    }

    /// The one error of the only line of `text`.
    fn single_error(text: &str) -> ColumnError {
        let p = run(text);
        assert_eq!(p.lines.len(), 1, "{p:#?}");
        let report = &p.lines[0];
        assert!(report.member.is_none());
        assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
        report.errors[0].clone()
    }

    /// The member of the only line of `text`, which must have no error.
    fn single_member(text: &str) -> (ImportedMember, Vec<String>) {
        let p = run(text);
        assert_eq!(p.lines.len(), 1, "{p:#?}");
        let report = p.lines[0].clone();
        assert!(report.errors.is_empty(), "{:#?}", report.errors);
        (report.member.unwrap(), report.warnings)
    }

    #[test]
    fn the_windows_1252_fixture_really_is_windows_1252() {
        assert!(String::from_utf8(CP1252.to_vec()).is_err());
        // é, and the typographic apostrophe, which only Windows-1252 puts at 0x92 (it is a
        // control character in ISO-8859-1).
        assert!(CP1252.contains(&0xE9));
        assert!(CP1252.contains(&0x92));
        assert!(UTF8.starts_with(b"\xEF\xBB\xBF"));
        assert!(std::str::from_utf8(UTF8).is_ok());
    }

    #[test]
    fn both_encodings_give_the_same_members() {
        let utf8 = read(UTF8);
        let cp1252 = read(CP1252);
        assert_eq!((utf8.encoding, utf8.separator), (Encoding::Utf8, ','));
        assert_eq!(
            (cp1252.encoding, cp1252.separator),
            (Encoding::Windows1252, ';')
        );
        assert_eq!(utf8.lines, cp1252.lines);
        assert!(utf8.is_clean() && cp1252.is_clean());
        assert_eq!(utf8.error_count(), 0);
        assert!(utf8.ignored_columns.is_empty());
        let lines: Vec<usize> = utf8.lines.iter().map(|l| l.line).collect();
        assert_eq!(lines, (2..=9).collect::<Vec<_>>());

        let members: Vec<&ImportedMember> = utf8.valid().collect();
        assert_eq!(members.len(), 8);
        let year = registry().population_year;

        let janze = members[0];
        assert_eq!(
            janze,
            &ImportedMember {
                siren: siren("213501364"),
                name: "Janzé".to_owned(),
                kind: OrgKind::Commune,
                insee: Some(Insee::parse("35136").unwrap()),
                epci: Some(siren(ROCHE_AUX_FEES)),
                departement: Some("35".to_owned()),
                population: Some((8807, 8618, year)),
                status: Status::Membre,
                status_date: date(2019, 3, 15),
                college: Some("Communes".to_owned()),
                services: vec![Service::Actes, Service::Helios, Service::Parapheur],
                contact_email: Some(Email::parse("mairie@janze.demo").unwrap()),
            }
        );

        // Retiers: no type, INSEE or EPCI in the file, the registry gives them.
        let retiers = members[1];
        assert_eq!(retiers.kind, OrgKind::Commune);
        assert_eq!(retiers.insee.as_ref().unwrap().as_str(), "35239");
        assert_eq!(retiers.epci, Some(siren(ROCHE_AUX_FEES)));
        assert_eq!(retiers.status, Status::Candidat);
        assert_eq!(retiers.status_date, date(2025, 11, 5));
        assert!(retiers.services.is_empty() && retiers.college.is_none());

        let chateaugiron = members[2];
        assert_eq!(chateaugiron.epci, Some(siren(CHATEAUGIRON)));
        assert_eq!(
            chateaugiron.services,
            vec![Service::Archives, Service::Marches]
        );

        let cc = members[3];
        assert_eq!(cc.kind, OrgKind::Cc);
        assert_eq!(cc.name, "CC Roche aux Fées Communauté");
        assert_eq!(cc.epci, None);
        assert_eq!(cc.insee, None);
        assert_eq!(cc.population, Some((27573, 27025, year)));
        assert_eq!(
            cc.services,
            vec![Service::Actes, Service::Helios, Service::Factures]
        );

        let ccas = members[4];
        assert_eq!(ccas.kind, OrgKind::Ccas);
        assert_eq!(ccas.name, "CCAS de Janzé");
        assert_eq!(ccas.insee.as_ref().unwrap().as_str(), "35136");
        assert_eq!(ccas.epci, Some(siren(ROCHE_AUX_FEES)));
        assert_eq!(ccas.departement.as_deref(), Some("35"));
        assert_eq!(ccas.population, None);
        assert_eq!(ccas.services, vec![Service::Transfert]);
        assert_eq!(ccas.college.as_deref(), Some("Établissements publics"));

        // The file says "Mairie de Noyal-sur-Vilaine": the registry's name wins, with a
        // warning, and the line stays valid.
        let noyal = &utf8.lines[5];
        let member = noyal.member.as_ref().unwrap();
        assert_eq!(member.name, "Noyal-sur-Vilaine");
        assert_eq!(member.status, Status::Suspendu);
        assert_eq!(
            noyal.warnings,
            vec!["le nom du registre sera utilisé : « Noyal-sur-Vilaine »"]
        );

        assert_eq!(members[6].status, Status::Sorti);
        assert_eq!(members[6].status_date, date(2023, 12, 31));

        // No date: the import date. The apostrophe decoded from 0x92 proves Windows-1252.
        let syndicat = members[7];
        assert_eq!(syndicat.kind, OrgKind::Syndicat);
        assert_eq!(syndicat.name, "Syndicat d\u{2019}eau potable de la Seiche");
        assert_eq!(syndicat.status_date, TODAY);
        assert_eq!(syndicat.services, vec![Service::Publication]);
        assert_eq!((syndicat.epci.as_ref(), syndicat.population), (None, None));

        let warned: Vec<usize> = utf8
            .lines
            .iter()
            .filter(|l| !l.warnings.is_empty())
            .map(|l| l.line)
            .collect();
        assert_eq!(warned, vec![7]);
    }

    #[test]
    fn the_error_file_reports_each_error_at_its_line_and_column() {
        let p = read(ERREURS);
        assert_eq!((p.encoding, p.separator), (Encoding::Utf8, ';'));
        let expected: [(usize, &str, &str); 11] = [
            (3, "siren", "la clé de contrôle est fausse"),
            (
                4,
                "siren",
                "cette commune n'est pas dans le registre officiel",
            ),
            (
                5,
                "epci",
                "la commune Retiers n'appartient pas à l'EPCI CC Pays de Châteaugiron Communauté (243500659) : le registre officiel la rattache à CC Roche aux Fées Communauté (243500634)",
            ),
            (
                6,
                "siren",
                "SIREN 213501364 en double : il figure déjà à la ligne 2",
            ),
            (7, "type", "type inconnu « association »"),
            (8, "services", "service inconnu « fax »"),
            (9, "date", "date invalide « 31/02/2024 »"),
            (10, "statut", "statut inconnu « partenaire »"),
            (
                11,
                "courriel",
                "adresse électronique invalide « mairie.esse.demo »",
            ),
            (12, "siren", "SIREN manquant"),
            (13, "", ""),
        ];
        assert_eq!(p.lines.len(), 12);
        for (n, column, message) in expected {
            let report = p.lines.iter().find(|l| l.line == n).unwrap();
            if column.is_empty() {
                continue;
            }
            assert!(report.member.is_none(), "line {n}");
            assert_eq!(report.errors.len(), 1, "line {n}: {:#?}", report.errors);
            assert_eq!(report.errors[0].column, column, "line {n}");
            assert!(
                report.errors[0].message.contains(message),
                "line {n}: {}",
                report.errors[0].message
            );
        }
        assert!(!p.is_clean());
        assert_eq!(p.error_count(), 10);
        let valid: Vec<&str> = p.valid().map(|m| m.name.as_str()).collect();
        assert_eq!(valid, vec!["Janzé", "Arbrissel"]);
        let valid_lines: Vec<usize> = p
            .lines
            .iter()
            .filter(|l| l.member.is_some())
            .map(|l| l.line)
            .collect();
        assert_eq!(valid_lines, vec![2, 13]);
    }

    #[test]
    fn whole_file_refusals() {
        assert_eq!(refusal(b""), ImportError::Empty);
        assert_eq!(refusal(b"\xEF\xBB\xBF \r\n\r\n"), ImportError::Empty);
        assert_eq!(refusal(b";;;\r\n;;\r\n"), ImportError::Empty);
        assert_eq!(refusal(b"sep=;"), ImportError::Empty);
        assert_eq!(refusal(b"siren;nom\r\n;;\r\n"), ImportError::NoMembers);

        // A workbook saved as is (.xlsx is a zip), and a UTF-16 text export.
        assert_eq!(
            refusal(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"),
            ImportError::NotCsv
        );
        assert_eq!(
            refusal(b"\xFF\xFEs\x00i\x00r\x00e\x00n\x00"),
            ImportError::NotCsv
        );
        assert!(ImportError::NotCsv.to_string().contains("CSV"));

        let missing = refusal("Nom;Type de structure;\r\nJanzé;commune;\r\n".as_bytes());
        assert_eq!(
            missing,
            ImportError::MissingSiren {
                found: vec!["Nom".to_owned(), "Type de structure".to_owned()]
            }
        );
        assert_eq!(
            missing.to_string(),
            "colonne « siren » introuvable ; colonnes trouvées : « Nom », « Type de structure »"
        );

        assert_eq!(
            refusal("siren;Nom;Raison sociale\r\n".as_bytes()),
            ImportError::DuplicateColumn {
                column: "nom",
                first: "Nom".to_owned(),
                second: "Raison sociale".to_owned(),
            }
        );

        let mut big = b"siren;nom\r\n".to_vec();
        big.resize(MAX_FILE_SIZE + 1, b' ');
        assert_eq!(refusal(&big), ImportError::TooLarge);
        assert!(ImportError::TooLarge.to_string().contains("5 Mo"));
    }

    #[test]
    fn at_most_5000_member_lines() {
        // Blank lines do not count; the header does not either.
        let mut text = String::from("siren\r\n\r\n");
        for _ in 0..MAX_LINES {
            text.push_str("213501364\r\n;\r\n");
        }
        let p = run(&text);
        assert_eq!(p.lines.len(), MAX_LINES);
        // Header on line 1, a blank line, then a member and an empty line each time.
        assert_eq!(p.lines.last().unwrap().line, 1 + 2 * MAX_LINES);
        assert_eq!(p.valid().count(), 1, "the others are duplicates");
        text.push_str("213502396\r\n");
        assert_eq!(refusal(text.as_bytes()), ImportError::TooManyLines);
        assert!(ImportError::TooManyLines.to_string().contains("5 000"));
    }

    #[test]
    fn headers_match_by_synonym_ignoring_case_and_accents() {
        let text = "N° SIREN;Raison sociale;Nature juridique;Code INSEE;SIREN de l'EPCI;État;Date d'adhésion;Collège électoral;Services souscrits;E-mail;Observations\r\n\
                    999351364;CCAS de Janzé;Centre communal d'action sociale;35136;243 500 634;Adhérent;1/6/2021;Établissements;Échanges sécurisés | Archivage;CCAS@Janze.demo;à relancer\r\n\
                    999351364;CCAS de Janzé;CCAS;;;membre;;;fax;;\r\n";
        let p = run(text);
        assert_eq!(p.ignored_columns, vec!["Observations"]);
        let m = p.lines[0].member.as_ref().unwrap();
        assert_eq!(m.kind, OrgKind::Ccas);
        assert_eq!(m.epci, Some(siren(ROCHE_AUX_FEES)));
        assert_eq!(m.status, Status::Membre);
        assert_eq!(m.status_date, date(2021, 6, 1));
        assert_eq!(m.college.as_deref(), Some("Établissements"));
        assert_eq!(m.services, vec![Service::Archives, Service::Transfert]);
        assert_eq!(
            m.contact_email.as_ref().unwrap().as_str(),
            "ccas@janze.demo"
        );
        // Errors name the columns as the file writes them.
        let columns: Vec<&str> = p.lines[1]
            .errors
            .iter()
            .map(|e| e.column.as_str())
            .collect();
        assert_eq!(
            columns,
            vec!["N° SIREN", "SIREN de l'EPCI", "Services souscrits"]
        );

        let (m, _) =
            single_member("SIREN,NOM,COLLÈGE,SERVICES\n213502396,RETIERS,Communes,ACTES\n");
        assert_eq!(
            (m.name.as_str(), m.college.as_deref(), m.services),
            ("Retiers", Some("Communes"), vec![Service::Actes])
        );
        // An error about a column the file does not have names it by its usual name.
        let e = single_error("siren;nom\n999351364;CCAS de Janzé\n");
        assert_eq!(e.column, "type");
    }

    #[test]
    fn every_synonym_is_normalised_and_means_one_column() {
        let mut seen = std::collections::HashSet::new();
        for f in FIELDS {
            assert_eq!(f.synonyms()[0], f.name());
            for s in f.synonyms() {
                assert_eq!(normalize(s), *s, "{s}");
                assert!(seen.insert(*s), "{s} twice");
                assert_eq!(Field::of_header(s), Some(f));
            }
        }
        let v = Vocabulary::new();
        for (name, _) in &v.kinds {
            assert_eq!(normalize(name), *name);
        }
        for k in OrgKind::ALL {
            assert_eq!(v.kind(k.code()), Some(Declared::Kind(k)), "{k}");
            assert_eq!(v.kind(k.label()), Some(Declared::Kind(k)), "{k}");
        }
    }

    #[test]
    fn separators_and_line_numbers() {
        // `;` wins a tie; a `,` file; the `sep=` line of Excel.
        assert_eq!(run("siren\n213501364\n").separator, ';');
        assert_eq!(run("siren,nom\n213501364,Janzé\n").separator, ',');
        // Without `sep=,` this header would be a tie, so `;`.
        let p = run("sep=,\r\nsiren,nom;x\r\n213501364,Janzé;x\r\n");
        assert_eq!(p.separator, ',');
        assert_eq!(p.lines[0].line, 3);
        assert_eq!(p.ignored_columns, vec!["nom;x"]);
        // A quoted value over two lines; blank lines; a line of empty cells.
        let p =
            run("siren;nom\r\n\r\n213501364;\"Janzé\r\nbis\"\r\n;\r\n\r\n213502396;Retiers\r\n");
        let lines: Vec<usize> = p.lines.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![3, 7]);
        // UTF-8 without BOM, with accents.
        assert_eq!(run("siren;nom\n213501364;Janzé\n").encoding, Encoding::Utf8);
    }

    #[test]
    fn a_value_holding_the_separator_shifts_the_line() {
        let p = run(
            "siren,nom,statut\n213501364,Janzé, commune de,membre\n213502396,Retiers,membre,,\n",
        );
        let first = &p.lines[0];
        assert_eq!(first.errors[0].column, "");
        assert!(
            first.errors[0]
                .message
                .contains("la ligne compte 4 valeurs pour 3 colonnes"),
            "{:?}",
            first.errors
        );
        // Trailing empty cells are what spreadsheets write: no error.
        assert!(p.lines[1].errors.is_empty());
    }

    #[test]
    fn communes_and_epci_come_from_the_registry() {
        // A commune with its own INSEE code and EPCI, and the wrong ones.
        let (m, w) = single_member("siren;insee;epci\n213501364;35136;243500634\n");
        assert_eq!((m.kind, w.len()), (OrgKind::Commune, 0));
        let e = single_error("siren;insee\n213501364;35239\n");
        assert_eq!(e.column, "insee");
        assert_eq!(
            e.message,
            "le code INSEE de la commune Janzé est 35136 dans le registre officiel, pas « 35239 »"
        );
        let e = single_error("siren;insee\n213501364;3513\n");
        assert!(
            e.message.starts_with("code INSEE invalide « 3513 »"),
            "{e:?}"
        );
        let e = single_error("siren;epci\n213501364;213502396\n");
        assert!(
            e.message
                .starts_with("la commune Janzé n'appartient pas à l'EPCI 213502396 :"),
            "{e:?}"
        );
        let e = single_error("siren;epci\n213501364;243500635\n");
        assert_eq!(e.column, "epci");
        assert!(e.message.contains("SIREN d'EPCI invalide"), "{e:?}");

        // A commune's SIREN given another type, and the other way round.
        let e = single_error("siren;type\n213501364;CCAS\n");
        assert_eq!(
            (e.column.as_str(), e.message.as_str()),
            (
                "type",
                "le registre officiel indique que ce SIREN est celui de la commune Janzé, pas celui d'un CCAS"
            )
        );
        let e = single_error("siren;type\n243500634;commune\n");
        assert!(
            e.message
                .contains("celui de l'EPCI CC Roche aux Fées Communauté, pas celui d'une commune"),
            "{e:?}"
        );

        // EPCI: "EPCI" is enough; another EPCI nature gives way to the registry's.
        assert_eq!(
            single_member("siren;type\n243500634;EPCI\n").0.kind,
            OrgKind::Cc
        );
        let (m, w) =
            single_member("siren;type;nom\n243500634;Communauté d'agglomération;Roche aux Fées\n");
        assert_eq!(m.kind, OrgKind::Cc);
        assert_eq!(
            w,
            vec![
                "le type du registre sera utilisé : Communauté de communes",
                "le nom du registre sera utilisé : « CC Roche aux Fées Communauté »",
            ]
        );
        // Case, accents and punctuation are not another name.
        assert!(single_member("siren;nom\n213501364;JANZE\n").1.is_empty());
        let e = single_error("siren;type;nom\n999359995;CC;CC imaginaire\n");
        assert_eq!(
            (e.column.as_str(), e.message.as_str()),
            (
                "siren",
                "cet EPCI n'est pas dans le registre officiel : vérifiez le SIREN"
            )
        );
        // A refused commune SIREN is the one error: no word about its other cells.
        for text in [
            "siren;nom;type;insee;epci\n213501365;Janzé;commune;35136;243500634\n",
            "siren;nom;type;insee;epci\n999359995;;commune;35136;243500634\n",
            "siren;nom;type;insee;epci\n999359995;;EPCI;35136;243500634\n",
        ] {
            let p = run(text);
            assert_eq!(
                p.lines[0].errors.len(),
                1,
                "{text}: {:?}",
                p.lines[0].errors
            );
            assert_eq!(p.lines[0].errors[0].column, "siren");
            assert!(
                p.lines[0].warnings.is_empty(),
                "{text}: {:?}",
                p.lines[0].warnings
            );
        }
        // An EPCI's INSEE code and EPCI are ignored, with a warning when they say something.
        let (m, w) = single_member("siren;insee;epci\n243500634;35136;243500659\n");
        assert_eq!((m.insee, m.epci), (None, None));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            single_member("siren;epci\n243500634;243500634\n")
                .1
                .is_empty()
        );
    }

    #[test]
    fn ccas_need_the_epci_of_their_commune() {
        let e = single_error("siren;nom;type\n999351364;CCAS de Janzé;CCAS\n");
        assert_eq!(e.column, "epci");
        assert!(e.message.starts_with("EPCI manquant"), "{e:?}");
        let e = single_error("siren;nom;type;epci\n999351364;CCAS de Janzé;CCAS;999350028\n");
        assert_eq!(
            e.message,
            "l'EPCI 999350028 n'est pas dans le registre officiel"
        );
        let e = single_error("siren;nom;type;epci\n999351364;CCAS de Janzé;CCAS;213501364\n");
        assert!(
            e.message
                .starts_with("213501364 est le SIREN de la commune Janzé, pas d'un EPCI"),
            "{e:?}"
        );
        let e = single_error(
            "siren;nom;type;insee;epci\n999351364;CCAS de Janzé;CCAS;35136;243500659\n",
        );
        assert!(
            e.message.starts_with("la commune Janzé n'appartient pas à l'EPCI CC Pays de Châteaugiron Communauté (243500659)"),
            "{e:?}"
        );
        let e = single_error(
            "siren;nom;type;insee;epci\n999351364;CCAS de Janzé;CCAS;35999;243500634\n",
        );
        assert_eq!(
            e.message,
            "aucune commune du registre officiel n'a le code INSEE 35999"
        );
        // Without an INSEE code, the département is the EPCI's.
        let (m, _) = single_member("siren;nom;type;epci\n999351364;CCAS de Janzé;CCAS;243500634\n");
        assert_eq!((m.insee, m.departement.as_deref()), (None, Some("35")));
    }

    #[test]
    fn bodies_outside_the_registry_need_a_type_and_a_name() {
        let e = single_error("siren;nom\n999350010;Syndicat\n");
        assert_eq!(e.column, "type");
        assert!(e.message.starts_with("type manquant"), "{e:?}");
        let e = single_error("siren;type\n999350010;syndicat\n");
        assert_eq!(e.column, "nom");
        assert!(e.message.starts_with("nom manquant"), "{e:?}");
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        let e = single_error(&format!("siren;type;nom\n999350010;syndicat;{long}\n"));
        assert_eq!(e.message, "nom trop long : 201 caractères, 200 au plus");
        for (kind, want) in [
            ("Département", OrgKind::Departement),
            ("région", OrgKind::Region),
            ("CIAS", OrgKind::Cias),
            ("SIVOM", OrgKind::Syndicat),
            ("autre", OrgKind::AutrePublic),
        ] {
            let (m, w) = single_member(&format!(
                "siren;type;nom;epci\n999350010;{kind};Organisme;243500634\n"
            ));
            assert_eq!(m.kind, want);
            assert_eq!(m.epci, None);
            assert_eq!(
                w,
                vec!["EPCI ignoré : seuls les communes et les CCAS sont rattachés à un EPCI"]
            );
        }
    }

    #[test]
    fn the_operator_and_companies_are_never_members() {
        let e = single_error("siren;nom;type\n999350010;Mégalis;opérateur\n");
        assert_eq!(
            e.message,
            "l'opérateur ne peut pas être importé comme membre"
        );
        for kind in ["entreprise", "Société"] {
            let e = single_error(&format!("siren;nom;type\n999350010;BTP Ouest;{kind}\n"));
            assert!(
                e.message
                    .starts_with("une entreprise ne peut pas être membre"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn spreadsheet_damage_is_explained() {
        let e = single_error("siren\n\"2,13501E+08\"\n");
        assert!(
            e.message.contains("converti en nombre par le tableur"),
            "{e:?}"
        );
        let e = single_error("siren\n21350136\n");
        assert_eq!(
            e.message,
            "SIREN invalide « 21350136 » : 9 chiffres attendus"
        );
        let e = single_error("siren;date\n213501364;45321\n");
        assert!(e.message.contains("exportée comme un nombre"), "{e:?}");
        // SIREN with spaces (also no-break spaces), a date with a time.
        let (m, _) = single_member("siren;date\n213\u{a0}501\u{a0}364;15/03/2019 00:00:00\n");
        assert_eq!(m.status_date, date(2019, 3, 15));
    }

    #[test]
    fn dates() {
        for (cell, want) in [
            ("15/03/2019", Some(date(2019, 3, 15))),
            ("1/3/2019", Some(date(2019, 3, 1))),
            ("15-03-2019", Some(date(2019, 3, 15))),
            ("15.03.2019", Some(date(2019, 3, 15))),
            ("2019-03-15", Some(date(2019, 3, 15))),
            ("29/02/2024", Some(date(2024, 2, 29))),
            ("29/02/2023", None),
            ("31/02/2024", None),
            ("15/13/2019", None),
            ("15/03/19", None),
            ("2019/15/03", None),
            ("01/01/0024", None),
            ("hier", None),
            ("15/03/2019/1", None),
            ("+1/03/2019", None),
        ] {
            assert_eq!(parse_date(cell), want, "{cell}");
        }
        let e = single_error("siren;date\n213501364;16/01/2026\n");
        assert_eq!(
            e.message,
            "la date 16/01/2026 est postérieure à la date de l'import (15/01/2026)"
        );
        assert!(
            single_member("siren;date\n213501364;15/01/2026\n")
                .1
                .is_empty()
        );
    }

    #[test]
    fn statuses() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
            assert_eq!(Status::parse(s.label()), Some(s));
            assert_eq!(s.to_string(), s.code());
        }
        assert_eq!(Status::parse(" SORTIE "), Some(Status::Sorti));
        assert_eq!(Status::parse("Adhérente"), Some(Status::Membre));
        assert_eq!(Status::parse(""), None);
        assert_eq!(Status::parse("ancien"), None);
        assert_eq!(single_member("siren\n213501364\n").0.status, Status::Membre);
    }

    #[test]
    fn services_are_matched_leniently() {
        let v = Vocabulary::new();
        for (item, want) in [
            ("actes", Service::Actes),
            ("ACTE", Service::Actes),
            ("Service Actes", Service::Actes),
            ("flux comptables", Service::Helios),
            ("Flux-Comptables", Service::Helios),
            ("hélios", Service::Helios),
            ("i-parapheur", Service::Parapheur),
            ("Facture électronique", Service::Factures),
            ("factures", Service::Factures),
            ("archives", Service::Archives),
            ("Archivage", Service::Archives),
            ("Marché public", Service::Marches),
            ("marches", Service::Marches),
            ("échanges sécurisés", Service::Transfert),
            ("transfert", Service::Transfert),
            ("Information publique en ligne", Service::Publication),
            ("publication", Service::Publication),
        ] {
            assert_eq!(v.service(item), Some(want), "{item}");
        }
        for s in Service::ALL {
            assert_eq!(v.service(s.code()), Some(s));
            assert_eq!(v.service(s.label()), Some(s));
        }
        assert_eq!(v.service("fax"), None);

        let (m, _) =
            single_member("siren;services\n213501364;\"parapheur, actes|actes;\nHelios,\"\n");
        assert_eq!(
            m.services,
            vec![Service::Actes, Service::Helios, Service::Parapheur]
        );
        for none in ["aucun", "Néant", ""] {
            assert!(
                single_member(&format!("siren;services\n213501364;{none}\n"))
                    .0
                    .services
                    .is_empty()
            );
        }
        let e = single_error("siren;services\n213501364;actes, fax, télex\n");
        assert!(
            e.message.starts_with("services inconnus « fax », « télex » : services possibles : Actes, Flux comptables,"),
            "{e:?}"
        );
    }

    #[test]
    fn college_and_email() {
        let long = "é".repeat(MAX_COLLEGE_CHARS);
        let (m, _) = single_member(&format!("siren;college\n213501364;{long}\n"));
        assert_eq!(m.college.as_deref(), Some(long.as_str()));
        let e = single_error(&format!("siren;college\n213501364;{long}e\n"));
        assert_eq!(e.message, "collège trop long : 101 caractères, 100 au plus");
        let e = single_error("siren;courriel\n213501364;mairie@janze\n");
        assert_eq!(e.column, "courriel");
    }

    #[test]
    fn several_errors_of_one_line_are_all_reported() {
        let p = run("siren;type;statut;date;services;courriel\n213501365;truc;ancien;hier;fax;x\n");
        let columns: Vec<&str> = p.lines[0]
            .errors
            .iter()
            .map(|e| e.column.as_str())
            .collect();
        assert_eq!(
            columns,
            vec!["siren", "type", "statut", "date", "services", "courriel"]
        );
        assert_eq!(p.error_count(), 1);
    }
}
