//! The parapheur's vocabulary: steps, actors, statuses, actions.

use serde::{Deserialize, Serialize};

/// What a step asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Read and approve; nothing is signed.
    Visa,
    /// An electronic signature with the person's certificate.
    Signature,
    /// The organisation's seal (cachet serveur), applied by an authorised person.
    Cachet,
    /// Printed, signed by hand, the scan uploaded (élus without a certificate).
    SignaturePapier,
}

impl StepKind {
    pub const ALL: [StepKind; 4] = [
        StepKind::Visa,
        StepKind::Signature,
        StepKind::Cachet,
        StepKind::SignaturePapier,
    ];

    pub fn code(self) -> &'static str {
        match self {
            StepKind::Visa => "visa",
            StepKind::Signature => "signature",
            StepKind::Cachet => "cachet",
            StepKind::SignaturePapier => "signature_papier",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            StepKind::Visa => "Visa",
            StepKind::Signature => "Signature électronique",
            StepKind::Cachet => "Cachet de l'organisation",
            StepKind::SignaturePapier => "Signature papier",
        }
    }

    /// The verb on the button.
    pub fn verb(self) -> &'static str {
        match self {
            StepKind::Visa => "Viser",
            StepKind::Signature => "Signer",
            StepKind::Cachet => "Apposer le cachet",
            StepKind::SignaturePapier => "Déposer la signature papier",
        }
    }

    pub fn signs(self) -> bool {
        matches!(self, StepKind::Signature | StepKind::Cachet)
    }
}

/// With several people at one step: all of them, or any one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepMode {
    All,
    Any,
}

impl StepMode {
    pub fn code(self) -> &'static str {
        match self {
            StepMode::All => "tous",
            StepMode::Any => "un_seul",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "tous" => Some(StepMode::All),
            "un_seul" => Some(StepMode::Any),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StepMode::All => "tous doivent agir",
            StepMode::Any => "une seule personne suffit",
        }
    }
}

/// Who acts: a named person, everyone holding a role, or whoever holds a title (« Maire »)
/// in the step's organisation — so that after an election the dossiers follow the new maire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Actor {
    Person(String),
    Role(String),
    Title(String),
}

impl Actor {
    /// A stable key, recorded with each action to know which entries of an "all" step acted.
    pub fn key(&self) -> String {
        match self {
            Actor::Person(id) => format!("person:{id}"),
            Actor::Role(code) => format!("role:{code}"),
            Actor::Title(t) => format!("title:{}", bouquet_kernel::text::normalize(t)),
        }
    }
}

/// One step of a circuit. `org` is a SIREN when the step belongs to another organisation than
/// the sender (a convention signed by the member, then by the operator's président).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDef {
    pub kind: StepKind,
    pub mode: StepMode,
    #[serde(default)]
    pub reading_required: bool,
    pub actors: Vec<Actor>,
    #[serde(default)]
    pub org_siren: Option<String>,
}

/// Where a dossier stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    EnCours,
    Termine,
    Rejete,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::EnCours => "en_cours",
            Status::Termine => "termine",
            Status::Rejete => "rejete",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [Status::EnCours, Status::Termine, Status::Rejete]
            .into_iter()
            .find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::EnCours => "En cours",
            Status::Termine => "Terminé",
            Status::Rejete => "Rejeté",
        }
    }
}

/// A step's state in a dossier.
pub mod step_state {
    pub const WAITING: &str = "attente";
    pub const ACTIVE: &str = "en_cours";
    pub const DONE: &str = "fait";
    pub const REJECTED: &str = "rejete";
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Depot,
    Visa,
    Signature,
    Cachet,
    SignaturePapier,
    Rejet,
    Annotation,
    Reprise,
    DemandeAvis,
    Avis,
    Fin,
    /// The document was opened by someone who acts at a step that asks for reading.
    Lecture,
    /// An administrator gave the current step to someone else.
    Reattribution,
}

impl ActionKind {
    pub const ALL: [ActionKind; 13] = [
        ActionKind::Depot,
        ActionKind::Visa,
        ActionKind::Signature,
        ActionKind::Cachet,
        ActionKind::SignaturePapier,
        ActionKind::Rejet,
        ActionKind::Annotation,
        ActionKind::Reprise,
        ActionKind::DemandeAvis,
        ActionKind::Avis,
        ActionKind::Fin,
        ActionKind::Lecture,
        ActionKind::Reattribution,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ActionKind::Depot => "depot",
            ActionKind::Visa => "visa",
            ActionKind::Signature => "signature",
            ActionKind::Cachet => "cachet",
            ActionKind::SignaturePapier => "signature_papier",
            ActionKind::Rejet => "rejet",
            ActionKind::Annotation => "annotation",
            ActionKind::Reprise => "reprise",
            ActionKind::DemandeAvis => "demande_avis",
            ActionKind::Avis => "avis",
            ActionKind::Fin => "fin",
            ActionKind::Lecture => "lecture",
            ActionKind::Reattribution => "reattribution",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            ActionKind::Depot => "Dossier déposé",
            ActionKind::Visa => "Visa",
            ActionKind::Signature => "Signature électronique",
            ActionKind::Cachet => "Cachet de l'organisation",
            ActionKind::SignaturePapier => "Signature papier déposée",
            ActionKind::Rejet => "Rejet",
            ActionKind::Annotation => "Annotation",
            ActionKind::Reprise => "Action reprise (annulée)",
            ActionKind::DemandeAvis => "Avis demandé",
            ActionKind::Avis => "Avis donné",
            ActionKind::Fin => "Circuit terminé",
            ActionKind::Lecture => "Document lu",
            ActionKind::Reattribution => "Étape réattribuée",
        }
    }

    pub fn of_step(kind: StepKind) -> Self {
        match kind {
            StepKind::Visa => ActionKind::Visa,
            StepKind::Signature => ActionKind::Signature,
            StepKind::Cachet => ActionKind::Cachet,
            StepKind::SignaturePapier => ActionKind::SignaturePapier,
        }
    }
}

/// The main document's kind decides the signature format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// PAdES, inside the PDF.
    Pdf,
    /// XAdES enveloped on each bordereau (Hélios).
    Pes,
    /// CAdES detached (`.p7s` beside the file).
    Other,
}

impl DocumentKind {
    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::Pdf => "pdf",
            DocumentKind::Pes => "pes",
            DocumentKind::Other => "fichier",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [DocumentKind::Pdf, DocumentKind::Pes, DocumentKind::Other]
            .into_iter()
            .find(|k| k.code() == code)
    }

    pub fn format_label(self) -> &'static str {
        match self {
            DocumentKind::Pdf => "Signature dans le PDF (PAdES)",
            DocumentKind::Pes => "Flux comptable signé pour Hélios (XAdES)",
            DocumentKind::Other => "Fichier de signature joint, .p7s (CAdES)",
        }
    }

    /// Decides from the content, never from the name alone: a file called `.pdf` that is not
    /// a PDF is refused by the caller.
    pub fn sniff(name: &str, bytes: &[u8]) -> Result<Self, &'static str> {
        let lower = name.to_lowercase();
        let head = &bytes[..bytes.len().min(1024)];
        let is_pdf = head.starts_with(b"%PDF-");
        if lower.ends_with(".pdf") && !is_pdf {
            return Err(
                "Ce fichier porte l'extension .pdf mais ce n'est pas un PDF : vérifiez le document et déposez-le à nouveau.",
            );
        }
        if is_pdf {
            return Ok(DocumentKind::Pdf);
        }
        let text = String::from_utf8_lossy(head);
        if lower.ends_with(".xml") && text.contains("PES_Aller") {
            return Ok(DocumentKind::Pes);
        }
        Ok(DocumentKind::Other)
    }
}

/// Document types the sender chooses (the sub-type is free text).
pub const DOC_TYPES: [(&str, &str); 6] = [
    ("deliberation", "Délibération"),
    ("arrete", "Arrêté"),
    ("convention", "Convention ou contrat"),
    ("flux_comptable", "Flux comptable (PES)"),
    ("courrier", "Courrier"),
    ("autre", "Autre document"),
];

pub fn doc_type_label(code: &str) -> &str {
    DOC_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, l)| l)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_named_pdf_must_be_a_pdf() {
        assert!(DocumentKind::sniff("deliberation.pdf", b"<html>").is_err());
        assert_eq!(
            DocumentKind::sniff("x.PDF", b"%PDF-1.7\n").unwrap(),
            DocumentKind::Pdf
        );
        assert_eq!(
            DocumentKind::sniff("flux.xml", b"<?xml version=\"1.0\"?><PES_Aller>").unwrap(),
            DocumentKind::Pes
        );
        assert_eq!(
            DocumentKind::sniff("note.odt", b"PK\x03\x04").unwrap(),
            DocumentKind::Other
        );
    }

    #[test]
    fn steps_round_trip_through_json() {
        let step = StepDef {
            kind: StepKind::Signature,
            mode: StepMode::Any,
            reading_required: true,
            actors: vec![Actor::Title("Maire".into()), Actor::Person("u1".into())],
            org_siren: None,
        };
        let json = serde_json::to_string(&step).unwrap();
        assert_eq!(serde_json::from_str::<StepDef>(&json).unwrap(), step);
        assert_eq!(Actor::Title("Maire".into()).key(), "title:maire");
    }
}
