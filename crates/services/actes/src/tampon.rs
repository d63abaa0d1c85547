//! The acte tamponné: the transmitted PDF with the box of the contrôle de légalité on its first
//! page, as the préfecture's stamp used to be on paper:
//!
//! ```text
//! Envoyé en préfecture le 08/07/2022
//! Reçu en préfecture le 08/07/2022
//! Publié le
//! ID : 080-258004365-20220628-220628_CS_DEL8-DE
//! ```
//!
//! The dates become known one after the other (envoi, then the ARActe's date de réception,
//! later the publication). A date not known yet leaves its label alone ("Publié le"), never a
//! made-up date; the ID line appears once the IDActe is known. Call [`acte_tamponne`] on the
//! **original** PDF each time with every date known so far: the stamp is added by
//! incremental update ([`bouquet_crypto::pdf::stamp`]), so the PAdES signatures of the
//! original stay verifiable. Stamping an already stamped file works too (its stamp is
//! replaced).

use bouquet_crypto::CryptoError;
use bouquet_crypto::pdf::stamp::{TextStamp, stamp_pdf};
use jiff::civil::Date;

/// What the stamp shows; `None` is "not known yet".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampDates {
    /// Date the acte was sent to the préfecture.
    pub envoye: Option<Date>,
    /// Date de réception by the préfecture (the ARActe's), from which the acte is executory.
    pub recu: Option<Date>,
    /// Date of publication (or of the notification, for an individual decision).
    pub publie: Option<Date>,
    /// The IDActe given by the transmission (e.g. `035-213500051-20261207-DEL_2026_12-DE`).
    pub id_acte: Option<String>,
}

impl StampDates {
    /// The lines of the stamp, top to bottom.
    pub fn lines(&self) -> Vec<String> {
        let line = |label: &str, date: Option<Date>| match date {
            Some(d) => format!("{label} {}", crate::model::dmy(d)),
            None => label.to_owned(),
        };
        let mut lines = vec![
            line("Envoyé en préfecture le", self.envoye),
            line("Reçu en préfecture le", self.recu),
            line("Publié le", self.publie),
        ];
        if let Some(id) = self.id_acte.as_deref().map(str::trim)
            && !id.is_empty()
        {
            lines.push(format!("ID : {id}"));
        }
        lines
    }
}

/// The acte tamponné: `original_pdf` with the stamp at the top right of its first page.
/// A file that is not a readable PDF (or is encrypted) gets a French error.
pub fn acte_tamponne(original_pdf: &[u8], d: &StampDates) -> Result<Vec<u8>, CryptoError> {
    stamp_pdf(original_pdf, &TextStamp::new(d.lines()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use bouquet_pdfdoc::{Block, Document};

    use super::*;

    /// A real PDF, as the service receives them: tagged, made by the platform's PDF engine.
    fn deliberation() -> Vec<u8> {
        let doc = Document::new(
            "Délibération 2026-12",
            "Commune de Saint-Aubin",
            Date::constant(2026, 12, 7),
        );
        bouquet_pdfdoc::render(
            &doc,
            &[
                Block::Title("Extrait du registre des délibérations".into()),
                Block::Para {
                    text: "Le conseil municipal, après en avoir délibéré, approuve le budget."
                        .into(),
                    keep_with_next: false,
                },
            ],
        )
        .unwrap()
    }

    /// The text of the first page according to poppler's pdftotext, line by line, trimmed.
    fn first_page_lines(pdf: &[u8], name: &str) -> Vec<String> {
        let path: PathBuf = std::env::temp_dir().join(format!(
            "bouquet-actes-tampon-{}-{name}.pdf",
            std::process::id()
        ));
        std::fs::write(&path, pdf).unwrap();
        let output = Command::new("pdftotext")
            .args(["-f", "1", "-l", "1", "-layout"])
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils) installed");
        std::fs::remove_file(&path).unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn every_known_date_is_shown_and_an_unknown_one_leaves_its_label_alone() {
        let original = deliberation();
        let dates = StampDates {
            envoye: Some(Date::constant(2022, 7, 8)),
            recu: Some(Date::constant(2022, 7, 8)),
            publie: None,
            id_acte: Some("080-258004365-20220628-220628_CS_DEL8-DE".into()),
        };
        let stamped = acte_tamponne(&original, &dates).unwrap();
        assert_eq!(&stamped[..original.len()], &original[..]);
        let lines = first_page_lines(&stamped, "recu");
        for expected in [
            "Envoyé en préfecture le 08/07/2022",
            "Reçu en préfecture le 08/07/2022",
            "Publié le",
            "ID : 080-258004365-20220628-220628_CS_DEL8-DE",
        ] {
            assert!(
                lines.iter().any(|l| l.ends_with(expected)),
                "« {expected} » missing from {lines:#?}"
            );
        }
        // Nothing follows "Publié le": no made-up date.
        let published = lines.iter().find(|l| l.contains("Publié le")).unwrap();
        assert!(published.ends_with("Publié le"), "{published}");
        assert!(lines.iter().any(|l| l.contains("Extrait du registre")));
    }

    #[test]
    fn before_the_acknowledgement_only_the_sending_date_and_no_id() {
        let dates = StampDates {
            envoye: Some(Date::constant(2026, 12, 7)),
            ..StampDates::default()
        };
        assert_eq!(
            dates.lines(),
            [
                "Envoyé en préfecture le 07/12/2026",
                "Reçu en préfecture le",
                "Publié le"
            ]
        );
        let stamped = acte_tamponne(&deliberation(), &dates).unwrap();
        let lines = first_page_lines(&stamped, "envoye");
        assert!(
            lines
                .iter()
                .any(|l| l.ends_with("Envoyé en préfecture le 07/12/2026"))
        );
        assert!(lines.iter().any(|l| l.ends_with("Reçu en préfecture le")));
        assert!(!lines.iter().any(|l| l.contains("ID :")), "{lines:#?}");
    }

    #[test]
    fn the_publication_date_added_later_replaces_the_stamp() {
        let original = deliberation();
        let mut dates = StampDates {
            envoye: Some(Date::constant(2026, 12, 7)),
            recu: Some(Date::constant(2026, 12, 8)),
            publie: None,
            id_acte: Some("035-213500051-20261207-DEL_2026_12-DE".into()),
        };
        let received = acte_tamponne(&original, &dates).unwrap();
        dates.publie = Some(Date::constant(2026, 12, 10));
        // From the original, as the service does, and from the stamped file: same text.
        for (name, base) in [("original", &original), ("stamped", &received)] {
            let published = acte_tamponne(base, &dates).unwrap();
            let lines = first_page_lines(&published, name);
            assert!(
                lines.iter().any(|l| l.ends_with("Publié le 10/12/2026")),
                "{lines:#?}"
            );
            assert_eq!(
                lines.iter().filter(|l| l.contains("Publié le")).count(),
                1,
                "{lines:#?}"
            );
            assert_eq!(
                lines.iter().filter(|l| l.contains("ID :")).count(),
                1,
                "{lines:#?}"
            );
        }
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_refused_in_french() {
        let err = acte_tamponne(b"<html>pas un PDF</html>", &StampDates::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ce fichier n'est pas un PDF (il ne commence pas par « %PDF- »)."
        );
    }
}
