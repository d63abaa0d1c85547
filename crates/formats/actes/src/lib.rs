//! Everything about the @CTES (ACTES) format of the contrôle de légalité, in one place, for the
//! service `bouquet-actes` and the préfecture simulator. Pure: no I/O except reading the
//! embedded data (schemas, demo classification); no database.
//!
//! # API
//! Natures and rules ([`rules`]):
//! - [`Nature`] `DE AR AI CC BF AU`: `code()` 1..6, `abbrev()`, `label()` (French), `default_typology()` (`99_DE`…), `from_code(u32)`, `from_abbrev(&str)`, `ALL`.
//! - [`Collectivite`] `{ siren, departement: "035", arrondissement: u8, nature: "31" }` + `check()`.
//! - [`check_numero_interne`]`(&str)` — ≤ 15, `^([A-Z0-9][A-Z0-9_]{0,13})?[A-Z0-9]$`, French reason.
//! - [`check_objet`]`(&str)` — 1..=499 characters (after transliteration), no line break.
//! - [`check_departement`], [`check_siren`], [`check_arrondissement`], [`check_nature_collectivite`], [`check_email`] — the XSD's patterns.
//! - [`id_acte`]`(dept, siren, date, numero, nature) -> Result<String>` → `035-213500051-20261207-DEL_2026_12-DE`; [`IdActe`] (`new`, `parse`, `Display`); [`check_id_acte`] (both XSD variants).
//! - [`transliterate`]`(&str) -> String` (’→', œ→oe, €→EUR…), [`encode_latin1`]; [`compact_date`] `AAAAMMJJ`, [`parse_compact_date`].
//!
//! Naming ([`naming`]):
//! - [`TransactionBase`] `{ departement, siren, date: Option<Date>, numero, nature: Option<Nature>, code: (u8, u8) }`: `new(dept, siren, date, numero, nature, (1, 1))`, `classification(dept, siren)` (`…----7-1`), `message_name()` (`_0.xml`), `piece_name(Some("99_DE"), n, "pdf")`, `parse`, `Display`.
//! - [`enveloppe_name`]`(siren, date, serial)` `EACT--{SIREN}--{AAAAMMJJ}-{n}.xml`; [`archive_name`]`(TRIGRAMME, siren, date, serial)` `BQT-EACT--….tar.gz`; [`enveloppe_pref_name`]`(dept, arr, siren, date, serial)` `EACT--SPREF{dept}{arr}-…`; [`anomalie_name`]`(enveloppe)` `ANO_…`; [`TRIGRAMME`] = `"BQT"`.
//! - [`parse_file_name`]`(&str) -> Result<FileName>`; [`FileName`] `Message | Piece | Enveloppe | EnveloppePref | Archive | Anomalie`.
//!
//! Messages ([`message`], [`build()`], [`parse_message`]):
//! - [`Message`]: one variant per root element, typed fields; collectivité side `Acte(DonneesActe)`, `EnveloppeCLMISILL(EnveloppeCl)`, `ReponseCourrierSimple { courrier, document }`, `ARDemandePieceComplementaire { courrier }`, `RefusPieceComplementaire { courrier, document }`, `PieceComplementaire { courrier, documents }`, `ARLettreObservations { courrier }`, `RejetLettreObservations { courrier, document }`, `ReponseLettreObservations { courrier, document }`, `Annulation { id_acte }`, `DemandeClassification { date_classification }`; préfecture side `EnveloppeMISILLCL(EnveloppePref)`, `ARActe { id_acte, date_reception, acte_recu, classification_date_en_cours }`, `AnomalieActe { date, nature, detail, acte_recu, classification_date_en_cours }`, `AnomalieEnveloppe { date, nature, detail, enveloppe_recue }`, `CourrierSimple { courrier, document }`, `DemandePieceComplementaire { courrier, description_pieces, document }`, `ARPieceComplementaire { date_reception, courrier }`, `LettreObservations { courrier, motif, document }`, `ARReponseRejetLettreObservations { date_reception, courrier }`, `DefereTA { id_acte, date_depot, nature_illegalite, pieces_jointes }`, `ARAnnulation { id_acte, date_reception }`, `RetourClassification(Classification)`, `ReponseClassificationSansChangement { date_classification }`; and `Unknown { root, text }`.
//! - `Message::root()`, `code() -> Option<(u8, u8)>` (`(1, 2)` for ARActe), `id_acte() -> Option<&str>`, `documents() -> Vec<&str>`, `to_xml()`.
//! - [`DonneesActe`] `{ date, numero_interne, nature, matieres: Vec<u32>, objet, precedent_id_acte, classification_date, document, annexes, document_papier: Option<bool> }`; [`CourrierPref`] `{ id_acte, date_courrier_pref }`; [`EnveloppeCl`] `{ collectivite, referent, adresses_retour, formulaires }`; [`EnveloppePref`] `{ emetteur: EmetteurPref, referent, formulaires, destinataire_siren }`; [`EmetteurPref`] `Sgar | Prefecture | SousPrefecture`; [`Referent`] `{ nom, telephone, email }`.
//! - [`build()`]`(&Message) -> Result<Vec<u8>>`: ISO-8859-1 XML, checked values; [`parse_message`]`(&[u8]) -> Result<Message>`: tolerant, any prefix, ISO-8859-1/windows-1252/UTF-8, DOCTYPE refused, 16 MiB max.
//!
//! Classification ([`classification`]):
//! - [`Classification`] `{ date, natures: Vec<NatureActe>, matieres: Vec<Matiere> }`: `demo()` (2019-04-18), `parse(&[u8])`, `matiere(&[u32])`, `label(&[7, 1, 2])` → `"7.1.2 Libellé"`, `check_matieres(&[u32])`, `flat()`, `typologies(Nature) -> &[TypePiece]`, `typology_allowed`, `typology_label`, `default_typology(Nature)`, `to_json()`, `from_json()`.
//! - [`NatureActe`] `{ code, libelle, type_abrege, typologies }`, [`TypePiece`] `{ code, libelle }`, [`Matiere`] `{ code, libelle, sous_matieres }`; [`dotted`]`(&[u32])`, [`parse_path`]`("7.1.2")`.
//!
//! Archives ([`archive`]): [`pack`]`(&[(name, bytes)]) -> Result<Vec<u8>>` (flat tar, gzip -9), [`pack_at`] (with an mtime), [`unpack`]`(&[u8], Limits) -> Result<Vec<(String, Vec<u8>)>>`; [`Limits`] `{ max_files, max_total, max_ratio }` (`Default`: 200 files, 256 MiB, ratio 100).
//!
//! XSD ([`xsd`]): `xsd::validate(&[u8]) -> Result<(), Vec<String>>` (libxml2, *avec typologie*, schema parsed once, any thread), `xsd::init()`, `xsd::schema_files()`, `xsd::ACTES_XSD`.
//!
//! Errors: [`FormatError`] `Rule | Xml | Doctype | TooLarge | Name | Archive`, `Display` in French.

pub mod archive;
pub mod build;
pub mod classification;
mod error;
pub mod message;
pub mod naming;
mod nature;
pub mod parse;
pub mod rules;
pub mod xsd;

pub use archive::{Limits, pack, pack_at, unpack};
pub use build::{NS_ACTES, NS_INSEE, build, french_date};
pub use classification::{Classification, Matiere, NatureActe, TypePiece, dotted, parse_path};
pub use error::FormatError;
pub use message::{
    CourrierPref, DonneesActe, EmetteurPref, EnveloppeCl, EnveloppePref, Message, Referent,
};
pub use naming::{
    APPLI, FileName, TRIGRAMME, TransactionBase, anomalie_name, archive_name, enveloppe_name,
    enveloppe_pref_name, parse_file_name,
};
pub use nature::Nature;
pub use parse::{MAX_MESSAGE_SIZE, parse_message};
pub use rules::{
    Collectivite, IdActe, check_arrondissement, check_departement, check_email, check_id_acte,
    check_nature_collectivite, check_numero_interne, check_objet, check_siren, compact_date,
    encode_latin1, id_acte, parse_compact_date, transliterate,
};
