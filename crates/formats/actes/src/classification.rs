//! The classification of a préfecture (`RetourClassification`, 7-2): natures of acte with
//! their typologies de pièce, and the tree of matières (up to 5 levels).

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::{FormatError, Nature};

/// Matières at 2019-04-18 (derived from a real `RetourClassification`, see standards/actes/SOURCES.md).
const DEMO_MATIERES: &str =
    include_str!("../../../../standards/actes/derived/matieres_2019-04-18.csv");
/// Typologies de pièce at 2019-04-18 (same source).
const DEMO_TYPOLOGIES: &str =
    include_str!("../../../../standards/actes/derived/typologie_pieces_2019-04-18.csv");

/// A classification as the préfecture sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// `DateClassification`: the version; every acte carries it as `ClassificationDateVersion`.
    pub date: Date,
    /// `NaturesActes/NatureActe`.
    pub natures: Vec<NatureActe>,
    /// `Matieres/Matiere1`, each with its sub-matières.
    pub matieres: Vec<Matiere>,
}

/// `NatureActe`: a nature and the typologies de pièce allowed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatureActe {
    /// `@CodeNatureActe` (1..=6 in practice; kept as written).
    pub code: u32,
    pub libelle: String,
    /// `@TypeAbrege` (`DE`…).
    pub type_abrege: String,
    /// `TypePJNatureActe`, in the préfecture's order.
    pub typologies: Vec<TypePiece>,
}

/// `TypePJNatureActe`: a typologie de pièce (`99_DE` « Délibération »).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TypePiece {
    /// `@CodeTypePJ`, the prefix of the file name.
    pub code: String,
    pub libelle: String,
}

/// `Matiere1..5`: a node of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matiere {
    pub code: u32,
    pub libelle: String,
    /// The next level (empty on a leaf).
    pub sous_matieres: Vec<Matiere>,
}

impl NatureActe {
    /// The [`Nature`] this entry is about, if its code is one of the six.
    pub fn nature(&self) -> Option<Nature> {
        Nature::from_code(self.code).or_else(|| Nature::from_abbrev(&self.type_abrege))
    }
}

impl Classification {
    /// The classification of 2019-04-18 (9 matières on 3 levels, 115 typologies), embedded:
    /// for the demo and the simulator.
    pub fn demo() -> Classification {
        let date = Date::new(2019, 4, 18).unwrap_or(Date::ZERO);
        let mut natures: Vec<NatureActe> = Vec::new();
        let mut reader = csv::Reader::from_reader(DEMO_TYPOLOGIES.as_bytes());
        for record in reader.records().flatten() {
            let (Some(code), Some(abbrev), Some(libelle), Some(pj), Some(pj_libelle)) = (
                record.get(0),
                record.get(1),
                record.get(2),
                record.get(3),
                record.get(4),
            ) else {
                continue;
            };
            let Ok(code) = code.parse::<u32>() else {
                continue;
            };
            let piece = TypePiece {
                code: pj.trim().to_owned(),
                libelle: pj_libelle.trim().to_owned(),
            };
            match natures.iter_mut().find(|n| n.code == code) {
                Some(n) => n.typologies.push(piece),
                None => natures.push(NatureActe {
                    code,
                    libelle: libelle.trim().to_owned(),
                    type_abrege: abbrev.trim().to_owned(),
                    typologies: vec![piece],
                }),
            }
        }
        natures.sort_by_key(|n| n.code);
        let mut matieres: Vec<Matiere> = Vec::new();
        let mut reader = csv::Reader::from_reader(DEMO_MATIERES.as_bytes());
        for record in reader.records().flatten() {
            let (Some(code), Some(libelle)) = (record.get(0), record.get(2)) else {
                continue;
            };
            let Some(path) = parse_path(code) else {
                continue;
            };
            insert(&mut matieres, &path, libelle.trim());
        }
        sort_tree(&mut matieres);
        Classification {
            date,
            natures,
            matieres,
        }
    }

    /// The node at `path` (`[7, 1, 2]`).
    pub fn matiere(&self, path: &[u32]) -> Option<&Matiere> {
        let (first, rest) = path.split_first()?;
        let mut node = self.matieres.iter().find(|m| m.code == *first)?;
        for code in rest {
            node = node.sous_matieres.iter().find(|m| m.code == *code)?;
        }
        Some(node)
    }

    /// "7.1.2 Libellé" (the label of the deepest level), as Pastell shows it.
    pub fn label(&self, path: &[u32]) -> Option<String> {
        let node = self.matiere(path)?;
        Some(format!("{} {}", dotted(path), node.libelle))
    }

    /// Checks a matière chosen for an acte: 2 to 5 levels (`CodeMatiere1` and `2` are
    /// required), present in this classification.
    pub fn check_matieres(&self, path: &[u32]) -> Result<(), FormatError> {
        if path.len() < 2 || path.len() > 5 {
            return Err(FormatError::rule(
                "Choisissez une matière d'au moins deux niveaux (par exemple 7.1) et de cinq au plus.",
            ));
        }
        if self.matiere(path).is_none() {
            return Err(FormatError::rule(format!(
                "La matière {} n'existe pas dans la classification du {}.",
                dotted(path),
                crate::build::french_date(self.date)
            )));
        }
        Ok(())
    }

    /// Every node, depth first, with its path and its label "7.1.2 Libellé".
    pub fn flat(&self) -> Vec<(Vec<u32>, String)> {
        fn walk(nodes: &[Matiere], prefix: &mut Vec<u32>, out: &mut Vec<(Vec<u32>, String)>) {
            for m in nodes {
                prefix.push(m.code);
                out.push((prefix.clone(), format!("{} {}", dotted(prefix), m.libelle)));
                walk(&m.sous_matieres, prefix, out);
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(&self.matieres, &mut Vec::new(), &mut out);
        out
    }

    /// The typologies de pièce allowed for a nature (empty if the classification lacks it).
    pub fn typologies(&self, nature: Nature) -> &[TypePiece] {
        self.natures
            .iter()
            .find(|n| n.nature() == Some(nature))
            .map(|n| n.typologies.as_slice())
            .unwrap_or(&[])
    }

    /// Whether `code` is a typologie de pièce allowed for the nature.
    pub fn typology_allowed(&self, nature: Nature, code: &str) -> bool {
        self.typologies(nature).iter().any(|t| t.code == code)
    }

    /// The label of a typologie de pièce for a nature.
    pub fn typology_label(&self, nature: Nature, code: &str) -> Option<&str> {
        self.typologies(nature)
            .iter()
            .find(|t| t.code == code)
            .map(|t| t.libelle.as_str())
    }

    /// The default typologie of the main document: `99_DE`… ([`Nature::default_typology`]) when
    /// allowed, else the first `99_*` of the nature that is not `99_SE`, else the first one.
    pub fn default_typology(&self, nature: Nature) -> &str {
        let list = self.typologies(nature);
        if list.is_empty() || self.typology_allowed(nature, nature.default_typology()) {
            return nature.default_typology();
        }
        list.iter()
            .find(|t| t.code.starts_with("99_") && t.code != "99_SE")
            .or_else(|| list.first())
            .map(|t| t.code.as_str())
            .unwrap_or(nature.default_typology())
    }

    /// JSON for storage (serde).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads what [`Classification::to_json`] wrote.
    pub fn from_json(json: &str) -> Result<Classification, FormatError> {
        serde_json::from_str(json)
            .map_err(|e| FormatError::rule(format!("Classification enregistrée illisible : {e}")))
    }

    /// Parses a `RetourClassification` XML (see [`crate::parse_message`]).
    pub fn parse(xml: &[u8]) -> Result<Classification, FormatError> {
        match crate::parse_message(xml)? {
            crate::Message::RetourClassification(c) => Ok(c),
            other => Err(FormatError::xml(format!(
                "une classification (RetourClassification) était attendue, et non « {} »",
                other.root()
            ))),
        }
    }
}

/// `[7, 1, 2]` → `7.1.2`.
pub fn dotted(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// `7.1.2` → `[7, 1, 2]` (1 to 5 numbers).
pub fn parse_path(code: &str) -> Option<Vec<u32>> {
    let path: Vec<u32> = code
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().ok())
        .collect::<Option<_>>()?;
    (1..=5).contains(&path.len()).then_some(path)
}

fn insert(nodes: &mut Vec<Matiere>, path: &[u32], libelle: &str) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let index = match nodes.iter().position(|m| m.code == *first) {
        Some(i) => i,
        None => {
            nodes.push(Matiere {
                code: *first,
                libelle: String::new(),
                sous_matieres: Vec::new(),
            });
            nodes.len() - 1
        }
    };
    if rest.is_empty() {
        nodes[index].libelle = libelle.to_owned();
    } else {
        insert(&mut nodes[index].sous_matieres, rest, libelle);
    }
}

fn sort_tree(nodes: &mut [Matiere]) {
    nodes.sort_by_key(|m| m.code);
    for m in nodes {
        sort_tree(&mut m.sous_matieres);
    }
}
