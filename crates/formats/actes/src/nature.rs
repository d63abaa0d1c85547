//! Nature of an acte (`CodeNatureActe`), with its abbreviation (`TypeAbrege`) and the default
//! typologie de pièce of its main document.

use serde::{Deserialize, Serialize};

/// The six natures of acte of @CTES (`actes:CodeNatureActe` 1..=6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Nature {
    /// 1 — Délibérations.
    DE,
    /// 2 — Actes réglementaires.
    AR,
    /// 3 — Actes individuels.
    AI,
    /// 4 — Contrats, conventions et avenants.
    CC,
    /// 5 — Documents budgétaires et financiers.
    BF,
    /// 6 — Autres.
    AU,
}

impl Nature {
    /// Every nature, in code order.
    pub const ALL: [Nature; 6] = [
        Nature::DE,
        Nature::AR,
        Nature::AI,
        Nature::CC,
        Nature::BF,
        Nature::AU,
    ];

    /// `CodeNatureActe`: 1 (DE) … 6 (AU).
    pub fn code(self) -> u8 {
        match self {
            Nature::DE => 1,
            Nature::AR => 2,
            Nature::AI => 3,
            Nature::CC => 4,
            Nature::BF => 5,
            Nature::AU => 6,
        }
    }

    /// The two-letter abbreviation (`TypeAbrege`), as in IDActe and file names.
    pub fn abbrev(self) -> &'static str {
        match self {
            Nature::DE => "DE",
            Nature::AR => "AR",
            Nature::AI => "AI",
            Nature::CC => "CC",
            Nature::BF => "BF",
            Nature::AU => "AU",
        }
    }

    /// French label, singular, sentence case ("Délibération").
    pub fn label(self) -> &'static str {
        match self {
            Nature::DE => "Délibération",
            Nature::AR => "Acte réglementaire",
            Nature::AI => "Acte individuel",
            Nature::CC => "Contrat, convention et avenant",
            Nature::BF => "Document budgétaire et financier",
            Nature::AU => "Autre",
        }
    }

    /// The default typologie de pièce of the main document (`99_DE`, `99_AR`, `99_AI`,
    /// `99_DC`, `99_BU`, `99_AU`), present in every classification seen.
    pub fn default_typology(self) -> &'static str {
        match self {
            Nature::DE => "99_DE",
            Nature::AR => "99_AR",
            Nature::AI => "99_AI",
            Nature::CC => "99_DC",
            Nature::BF => "99_BU",
            Nature::AU => "99_AU",
        }
    }

    /// From `CodeNatureActe` (1..=6).
    pub fn from_code(code: u32) -> Option<Nature> {
        Nature::ALL
            .into_iter()
            .find(|n| u32::from(n.code()) == code)
    }

    /// From the abbreviation (`DE`…), exact upper case.
    pub fn from_abbrev(abbrev: &str) -> Option<Nature> {
        Nature::ALL.into_iter().find(|n| n.abbrev() == abbrev)
    }
}

impl std::fmt::Display for Nature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.abbrev())
    }
}
