//! The bordereau d'acquittement: a tagged PDF (made with `bouquet-pdfdoc`) that sums up what
//! was transmitted to the contrôle de légalité and when the préfecture received it, made when
//! the ARActe arrives and kept beside the acte. It shows the collectivité, the acte (IDActe,
//! nature, matière, objet, numéro interne, date de décision), the dates of envoi and of
//! réception (from which the acte is executory), every file transmitted with its typologie
//! and SHA-256, the archive's name and the tiers de télétransmission.

use bouquet_pdfdoc::{Block, Document, PdfDocError, date_fr, typo};
use jiff::civil::{Date, DateTime};

/// Our name as tiers de télétransmission.
pub const TIERS_DE_TELETRANSMISSION: &str = "Bouquet";

/// Everything the bordereau shows; the service fills it from the acte and its ARActe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BordereauActe {
    /// The collectivité's name ("Commune de Saint-Aubin").
    pub collectivite: String,
    /// Its SIREN (9 digits).
    pub siren: String,
    /// The IDActe (e.g. `035-213500051-20261207-DEL_2026_12-DE`).
    pub id_acte: String,
    /// The nature's label ("Délibérations").
    pub nature: String,
    /// The matière with its code ("7.1.2 Libellé").
    pub matiere: String,
    pub objet: String,
    pub numero_interne: String,
    pub date_decision: Date,
    /// When the archive was sent, in the collectivité's local time.
    pub envoye_le: DateTime,
    /// The date de réception of the ARActe.
    pub recu_le: Date,
    /// The files of the transmission, the acte first, then its annexes.
    pub fichiers: Vec<FichierTransmis>,
    /// The name of the archive sent (`BQT-EACT--213500051--20261207-1.tar.gz`).
    pub archive: String,
    /// The tiers de télétransmission; [`TIERS_DE_TELETRANSMISSION`] for us.
    pub tiers: String,
}

/// A file of the transmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FichierTransmis {
    /// Its name in the archive (`99_DE-035-213500051-20261207-DEL_2026_12-DE-1-1_1.pdf`).
    pub nom: String,
    /// The typologie de pièce, code and label ("99_DE Délibération").
    pub typologie: String,
    /// SHA-256 of its bytes, hexadecimal.
    pub sha256: String,
}

/// The hash in four groups of 16 digits, so that it breaks between groups in a narrow cell.
fn grouped(hash: &str) -> String {
    let chars: Vec<char> = hash.trim().chars().collect();
    chars
        .chunks(16)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// "8 juillet 2022 à 14 h 03".
fn date_time_fr(at: DateTime) -> String {
    format!(
        "{} à {}\u{a0}h\u{a0}{:02}",
        date_fr(at.date()),
        at.hour(),
        at.minute()
    )
}

/// The PDF, from the data alone (same data, same bytes).
pub fn render(b: &BordereauActe) -> Result<Vec<u8>, PdfDocError> {
    let recu = date_fr(b.recu_le);
    let mut blocks = vec![
        Block::Title("Accusé de réception de la préfecture".into()),
        Block::Small(typo(
            "Bordereau d'acquittement de la transmission d'un acte au contrôle de légalité",
        )),
        Block::KeyValues(vec![
            (
                "Collectivité".into(),
                format!("{} (SIREN\u{a0}{})", b.collectivite, b.siren),
            ),
            ("Identifiant de l'acte (IDActe)".into(), b.id_acte.clone()),
            ("Nature".into(), b.nature.clone()),
            ("Matière".into(), b.matiere.clone()),
            ("Objet".into(), typo(&b.objet)),
            ("Numéro interne".into(), b.numero_interne.clone()),
            ("Date de la décision".into(), date_fr(b.date_decision)),
            ("Envoyé en préfecture le".into(), date_time_fr(b.envoye_le)),
            ("Reçu en préfecture le".into(), recu.clone()),
            (
                "Caractère exécutoire".into(),
                typo(&format!(
                    "L'acte est exécutoire à compter du {recu}, date de sa réception par la \
                     préfecture, dès lors qu'il a été publié ou notifié."
                )),
            ),
        ]),
        Block::Heading("Fichiers transmis".into()),
    ];
    let rows: Vec<Vec<String>> = b
        .fichiers
        .iter()
        .map(|f| vec![f.nom.clone(), f.typologie.clone(), grouped(&f.sha256)])
        .collect();
    blocks.push(Block::Table {
        caption: Some("Fichiers de la transmission, l'acte d'abord, puis ses annexes".into()),
        header: vec![
            "Fichier".into(),
            "Typologie".into(),
            "Empreinte SHA-256".into(),
        ],
        rows,
        widths: vec![0.38, 0.22, 0.40],
    });
    blocks.push(Block::KeyValues(vec![
        ("Archive transmise".into(), b.archive.clone()),
        ("Tiers de télétransmission".into(), b.tiers.clone()),
    ]));
    blocks.push(Block::Small(typo(&format!(
        "Empreintes SHA-256 en hexadécimal, par groupes de 16 chiffres. Bordereau établi par \
         {} à partir de l'accusé de réception (ARActe) de la préfecture.",
        b.tiers
    ))));
    let mut doc = Document::new(
        format!("Accusé de réception – {}", b.id_acte),
        b.collectivite.clone(),
        b.recu_le,
    );
    doc.subject = Some(format!(
        "Bordereau d'acquittement de la transmission de l'acte {} au contrôle de légalité",
        b.id_acte
    ));
    doc.footer = Some(format!("Accusé de réception · {}", b.id_acte));
    bouquet_pdfdoc::render(&doc, &blocks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::process::Command;

    use super::*;

    fn bordereau() -> BordereauActe {
        BordereauActe {
            collectivite: "Commune de Saint-Aubin".into(),
            siren: "213500051".into(),
            id_acte: "035-213500051-20261207-DEL_2026_12-DE".into(),
            nature: "Délibérations".into(),
            matiere: "7.1.2 Décisions budgétaires".into(),
            objet: "Budget primitif 2027 : adoption".into(),
            numero_interne: "DEL_2026_12".into(),
            date_decision: Date::constant(2026, 12, 7),
            envoye_le: DateTime::constant(2026, 12, 8, 14, 3, 0, 0),
            recu_le: Date::constant(2026, 12, 8),
            fichiers: vec![
                FichierTransmis {
                    nom: "99_DE-035-213500051-20261207-DEL_2026_12-DE-1-1_1.pdf".into(),
                    typologie: "99_DE Délibération".into(),
                    sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                        .into(),
                },
                FichierTransmis {
                    nom: "22_DP-035-213500051-20261207-DEL_2026_12-DE-1-1_2.pdf".into(),
                    typologie: "22_DP Document budgétaire".into(),
                    sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
                        .into(),
                },
            ],
            archive: "BQT-EACT--213500051--20261208-1.tar.gz".into(),
            tiers: TIERS_DE_TELETRANSMISSION.into(),
        }
    }

    /// The text according to poppler's pdftotext, all whitespace as single spaces.
    fn text_of(pdf: &[u8]) -> String {
        let path = std::env::temp_dir().join(format!(
            "bouquet-actes-bordereau-{}.pdf",
            std::process::id()
        ));
        std::fs::write(&path, pdf).unwrap();
        let output = Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) installed");
        std::fs::remove_file(&path).unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_key_values_are_read_back_by_pdftotext() {
        let pdf = render(&bordereau()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = text_of(&pdf);
        for expected in [
            "Accusé de réception de la préfecture",
            "Commune de Saint-Aubin (SIREN 213500051)",
            "035-213500051-20261207-DEL_2026_12-DE",
            "Délibérations",
            "7.1.2 Décisions budgétaires",
            "Budget primitif 2027 : adoption",
            "DEL_2026_12",
            "7 décembre 2026",
            "8 décembre 2026 à 14 h 03",
            "exécutoire à compter du 8 décembre 2026, date de sa réception par la préfecture",
            "99_DE Délibération",
            "22_DP Document budgétaire",
            "9f86d081884c7d65 9a2feaa0c55ad015 a3bf4f1b2b0b822c d15d6c15b0f00a08",
            "BQT-EACT--213500051--20261208-1.tar.gz",
            "Tiers de télétransmission Bouquet",
        ] {
            assert!(
                text.contains(expected),
                "« {expected} » missing from:\n{text}"
            );
        }
        // The file names may be cut at the end of their cell; their pieces are all there.
        let joined = text.replace(' ', "");
        assert!(
            joined.contains("99_DE-035-213500051-20261207-DEL_2026_12-DE-1-1_1.pdf"),
            "{text}"
        );
        // Same data, same bytes.
        assert_eq!(render(&bordereau()).unwrap(), pdf);
    }
}
