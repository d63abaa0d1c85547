//! The messages of @CTES: one [`Message`] variant per root element of `actesv1_1.xsd`, with
//! typed fields. The same types are built ([`crate::build()`]) and parsed
//! ([`crate::parse_message`]), so that `parse_message(&build(&m)?)? == m`.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::{Classification, Collectivite, Nature};

/// `DonneesActe`: the acte (1-1 `Acte`, and `ActeRecu` inside an ARActe or AnomalieActe).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonneesActe {
    /// `@actes:Date`: date de la décision.
    pub date: Date,
    /// `@actes:NumeroInterne`.
    pub numero_interne: String,
    /// `@actes:CodeNatureActe`.
    pub nature: Nature,
    /// `CodeMatiere1..5/@CodeMatiere`: 2 to 5 levels of the classification (`[7, 1, 2]`).
    pub matieres: Vec<u32>,
    /// `Objet` (≤ 499 characters, one line).
    pub objet: String,
    /// `PrecedentIdentifiantActe/@IDActe`: the acte this one replaces (acte rectificatif).
    pub precedent_id_acte: Option<String>,
    /// `ClassificationDateVersion`: date of the classification used.
    pub classification_date: Date,
    /// `Document/NomFichier`: the main document (`99_DE-…_1.pdf`).
    pub document: String,
    /// `Annexes/Annexe/NomFichier` in order (`…_2.pdf`, `…_3.pdf`); `Annexes/@Nombre` is their count.
    pub annexes: Vec<String>,
    /// `DocumentPapier`: `Some(true)` = `O` (a paper copy follows), `Some(false)` = `N`,
    /// `None` = nil, empty or absent (`0` from STELA reads as `Some(false)`).
    pub document_papier: Option<bool>,
}

/// `DonneesCourrierPref`: the préfecture's letter a message answers or acknowledges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CourrierPref {
    /// `@actes:IDActe`.
    pub id_acte: String,
    /// `@actes:DateCourrierPref`: date of the préfecture's letter.
    pub date_courrier_pref: Date,
}

/// `Referent`: the contact person of an envelope (every part optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Referent {
    pub nom: Option<String>,
    pub telephone: Option<String>,
    pub email: Option<String>,
}

/// `DonneesEnveloppeCLMISILL`: the envelope of a transmission, collectivité → préfecture
/// (also `EnveloppeRecue` inside an AnomalieEnveloppe).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnveloppeCl {
    /// `Emetteur/IDCL`.
    pub collectivite: Collectivite,
    /// `Emetteur/Referent`.
    pub referent: Option<Referent>,
    /// `AdressesRetour/Email` (at least one).
    pub adresses_retour: Vec<String>,
    /// `FormulairesEnvoyes/Formulaire/NomFichier`: the message files of the archive.
    pub formulaires: Vec<String>,
}

/// The sender of a préfecture envelope (`EnveloppeMISILLCL/Emetteur`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EmetteurPref {
    /// `IDSGAR`.
    Sgar { departement: String },
    /// `IDPref`.
    Prefecture { departement: String },
    /// `IDSousPref`.
    SousPrefecture {
        departement: String,
        arrondissement: u8,
    },
}

/// `EnveloppeMISILLCL`: the envelope of a return, préfecture → collectivité.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnveloppePref {
    pub emetteur: EmetteurPref,
    pub referent: Option<Referent>,
    /// `FormulairesEnvoyes/Formulaire/NomFichier`.
    pub formulaires: Vec<String>,
    /// `Destinataire/@insee:SIREN`.
    pub destinataire_siren: String,
}

/// One @CTES message. Collectivité → préfecture: `Acte` (1-1), `EnveloppeCLMISILL`,
/// `ReponseCourrierSimple` (2-2), `ARDemandePieceComplementaire` (3-2),
/// `RefusPieceComplementaire` (3-3), `PieceComplementaire` (3-4), `ARLettreObservations` (4-2),
/// `RejetLettreObservations` (4-3), `ReponseLettreObservations` (4-4), `Annulation` (6-1),
/// `DemandeClassification` (7-1). Préfecture → collectivité: the others. `Unknown`: any other
/// well-formed root, kept with its text (never dropped).
#[allow(clippy::large_enum_variant)] // parsed once per message; boxing would only burden matching
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// 1-1.
    Acte(DonneesActe),
    /// Envelope collectivité → préfecture (`EACT--{SIREN}--{AAAAMMJJ}-{n}.xml`).
    EnveloppeCLMISILL(EnveloppeCl),
    /// 2-2: the collectivité answers a courrier simple.
    ReponseCourrierSimple {
        courrier: CourrierPref,
        document: String,
    },
    /// 3-2: the collectivité acknowledges a demande de pièces complémentaires.
    ARDemandePieceComplementaire { courrier: CourrierPref },
    /// 3-3: the collectivité refuses to send the pièces.
    RefusPieceComplementaire {
        courrier: CourrierPref,
        document: String,
    },
    /// 3-4: the collectivité sends the pièces.
    PieceComplementaire {
        courrier: CourrierPref,
        documents: Vec<String>,
    },
    /// 4-2: the collectivité acknowledges a lettre d'observations.
    ARLettreObservations { courrier: CourrierPref },
    /// 4-3: the collectivité rejects the observations.
    RejetLettreObservations {
        courrier: CourrierPref,
        document: String,
    },
    /// 4-4: the collectivité answers the observations.
    ReponseLettreObservations {
        courrier: CourrierPref,
        document: String,
    },
    /// 6-1: the collectivité withdraws an acte (only after its AR).
    Annulation { id_acte: String },
    /// 7-1: request for the classification; `date_classification` = the version held.
    DemandeClassification { date_classification: Option<Date> },

    /// Envelope préfecture → collectivité (`EACT--SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}-{n}.xml`).
    EnveloppeMISILLCL(EnveloppePref),
    /// 1-2: accusé de réception; `date_reception` makes the acte executory.
    ARActe {
        id_acte: String,
        date_reception: Date,
        acte_recu: DonneesActe,
        classification_date_en_cours: Date,
    },
    /// 1-3: the acte is refused. `nature` is kept as written (`002`; `2` in an invalid sample).
    AnomalieActe {
        date: Date,
        nature: String,
        detail: Option<String>,
        acte_recu: DonneesActe,
        classification_date_en_cours: Date,
    },
    /// The envelope is refused. `nature` as written: `001`…`005`, `100`, and `999` outside the XSD.
    AnomalieEnveloppe {
        date: Date,
        nature: String,
        detail: Option<String>,
        enveloppe_recue: EnveloppeCl,
    },
    /// 2-1: courrier simple (no AR expected).
    CourrierSimple {
        courrier: CourrierPref,
        document: String,
    },
    /// 3-1: demande de pièces complémentaires.
    DemandePieceComplementaire {
        courrier: CourrierPref,
        description_pieces: String,
        document: String,
    },
    /// AR of the collectivité's 3-3 / 3-4.
    ARPieceComplementaire {
        date_reception: Date,
        courrier: CourrierPref,
    },
    /// 4-1: lettre d'observations.
    LettreObservations {
        courrier: CourrierPref,
        motif: String,
        document: String,
    },
    /// AR of the collectivité's 4-3 / 4-4.
    ARReponseRejetLettreObservations {
        date_reception: Date,
        courrier: CourrierPref,
    },
    /// 5-1: déféré au tribunal administratif (no AR expected).
    DefereTA {
        id_acte: String,
        date_depot: Date,
        nature_illegalite: String,
        pieces_jointes: Vec<String>,
    },
    /// 6-2: the annulation is acknowledged.
    ARAnnulation {
        id_acte: String,
        date_reception: Date,
    },
    /// 7-2: the classification (natures with their typologies, matières).
    RetourClassification(Classification),
    /// Answer to a 7-1 when the version held is current.
    ReponseClassificationSansChangement { date_classification: Date },

    /// Any other well-formed document: its root's local name and its text (whitespace collapsed).
    Unknown { root: String, text: String },
}

impl Message {
    /// Local name of the root element (`ARActe`…; the stored name for `Unknown`).
    pub fn root(&self) -> &str {
        match self {
            Message::Acte(_) => "Acte",
            Message::EnveloppeCLMISILL(_) => "EnveloppeCLMISILL",
            Message::ReponseCourrierSimple { .. } => "ReponseCourrierSimple",
            Message::ARDemandePieceComplementaire { .. } => "ARDemandePieceComplementaire",
            Message::RefusPieceComplementaire { .. } => "RefusPieceComplementaire",
            Message::PieceComplementaire { .. } => "PieceComplementaire",
            Message::ARLettreObservations { .. } => "ARLettreObservations",
            Message::RejetLettreObservations { .. } => "RejetLettreObservations",
            Message::ReponseLettreObservations { .. } => "ReponseLettreObservations",
            Message::Annulation { .. } => "Annulation",
            Message::DemandeClassification { .. } => "DemandeClassification",
            Message::EnveloppeMISILLCL(_) => "EnveloppeMISILLCL",
            Message::ARActe { .. } => "ARActe",
            Message::AnomalieActe { .. } => "AnomalieActe",
            Message::AnomalieEnveloppe { .. } => "AnomalieEnveloppe",
            Message::CourrierSimple { .. } => "CourrierSimple",
            Message::DemandePieceComplementaire { .. } => "DemandePieceComplementaire",
            Message::ARPieceComplementaire { .. } => "ARPieceComplementaire",
            Message::LettreObservations { .. } => "LettreObservations",
            Message::ARReponseRejetLettreObservations { .. } => "ARReponseRejetLettreObservations",
            Message::DefereTA { .. } => "DefereTA",
            Message::ARAnnulation { .. } => "ARAnnulation",
            Message::RetourClassification(_) => "RetourClassification",
            Message::ReponseClassificationSansChangement { .. } => {
                "ReponseClassificationSansChangement"
            }
            Message::Unknown { root, .. } => root,
        }
    }

    /// The `{type}-{sous-type}` code of the message in file names (`(1, 2)` for an ARActe);
    /// `None` for envelopes, AnomalieEnveloppe, Unknown and the three messages whose code no
    /// public source gives (ARPieceComplementaire, ARReponseRejetLettreObservations,
    /// ReponseClassificationSansChangement).
    pub fn code(&self) -> Option<(u8, u8)> {
        Some(match self {
            Message::Acte(_) => (1, 1),
            Message::ARActe { .. } => (1, 2),
            Message::AnomalieActe { .. } => (1, 3),
            Message::CourrierSimple { .. } => (2, 1),
            Message::ReponseCourrierSimple { .. } => (2, 2),
            Message::DemandePieceComplementaire { .. } => (3, 1),
            Message::ARDemandePieceComplementaire { .. } => (3, 2),
            Message::RefusPieceComplementaire { .. } => (3, 3),
            Message::PieceComplementaire { .. } => (3, 4),
            Message::LettreObservations { .. } => (4, 1),
            Message::ARLettreObservations { .. } => (4, 2),
            Message::RejetLettreObservations { .. } => (4, 3),
            Message::ReponseLettreObservations { .. } => (4, 4),
            Message::DefereTA { .. } => (5, 1),
            Message::Annulation { .. } => (6, 1),
            Message::ARAnnulation { .. } => (6, 2),
            Message::DemandeClassification { .. } => (7, 1),
            Message::RetourClassification(_) => (7, 2),
            _ => return None,
        })
    }

    /// The IDActe the message names, if any (an Acte, an AnomalieActe and the envelopes carry
    /// none: compute it from the acte's fields with [`crate::id_acte`]).
    pub fn id_acte(&self) -> Option<&str> {
        match self {
            Message::ReponseCourrierSimple { courrier, .. }
            | Message::ARDemandePieceComplementaire { courrier }
            | Message::RefusPieceComplementaire { courrier, .. }
            | Message::PieceComplementaire { courrier, .. }
            | Message::ARLettreObservations { courrier }
            | Message::RejetLettreObservations { courrier, .. }
            | Message::ReponseLettreObservations { courrier, .. }
            | Message::CourrierSimple { courrier, .. }
            | Message::DemandePieceComplementaire { courrier, .. }
            | Message::ARPieceComplementaire { courrier, .. }
            | Message::LettreObservations { courrier, .. }
            | Message::ARReponseRejetLettreObservations { courrier, .. } => Some(&courrier.id_acte),
            Message::Annulation { id_acte }
            | Message::ARActe { id_acte, .. }
            | Message::DefereTA { id_acte, .. }
            | Message::ARAnnulation { id_acte, .. } => Some(id_acte),
            _ => None,
        }
    }

    /// The file names of the documents the message refers to (documents, annexes, pièces
    /// jointes, formulaires of an envelope), in order.
    pub fn documents(&self) -> Vec<&str> {
        match self {
            Message::Acte(a) => std::iter::once(a.document.as_str())
                .chain(a.annexes.iter().map(String::as_str))
                .collect(),
            Message::EnveloppeCLMISILL(e) => e.formulaires.iter().map(String::as_str).collect(),
            Message::EnveloppeMISILLCL(e) => e.formulaires.iter().map(String::as_str).collect(),
            Message::ReponseCourrierSimple { document, .. }
            | Message::RefusPieceComplementaire { document, .. }
            | Message::RejetLettreObservations { document, .. }
            | Message::ReponseLettreObservations { document, .. }
            | Message::CourrierSimple { document, .. }
            | Message::DemandePieceComplementaire { document, .. }
            | Message::LettreObservations { document, .. } => vec![document.as_str()],
            Message::PieceComplementaire { documents, .. } => {
                documents.iter().map(String::as_str).collect()
            }
            Message::DefereTA { pieces_jointes, .. } => {
                pieces_jointes.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Serialises to the @CTES XML (ISO-8859-1); see [`crate::build()`].
    pub fn to_xml(&self) -> Result<Vec<u8>, crate::FormatError> {
        crate::build(self)
    }
}
