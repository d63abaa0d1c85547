//! The letters the préfecture joins to its messages (courrier simple, demande de pièces
//! complémentaires, lettre d'observations, déféré): a one-page tagged PDF made with
//! `bouquet-pdfdoc`, from the data alone (same data, same bytes).

use bouquet_pdfdoc::{Block, Document, date_fr, typo};
use jiff::civil::Date;

/// What a letter says.
#[derive(Clone, Debug)]
pub struct Letter {
    /// "Courrier simple", "Lettre d'observations"…
    pub kind: String,
    /// Département of the collectivité ("035").
    pub departement: String,
    pub arrondissement: String,
    pub siren: String,
    pub id_acte: String,
    pub objet: String,
    /// The date of the letter.
    pub date: Date,
    /// The body: one paragraph each.
    pub paragraphs: Vec<String>,
}

/// The PDF of a letter.
pub fn render(letter: &Letter) -> Result<Vec<u8>, bouquet_pdfdoc::PdfDocError> {
    let emitter = format!(
        "Préfecture (simulateur) – département {}, arrondissement {}",
        letter.departement, letter.arrondissement
    );
    let mut blocks = vec![
        Block::Small(typo(&emitter)),
        Block::Title(typo(&letter.kind)),
        Block::KeyValues(vec![
            ("Date".into(), date_fr(letter.date)),
            ("Collectivité (SIREN)".into(), letter.siren.clone()),
            ("Acte".into(), letter.id_acte.clone()),
            ("Objet de l'acte".into(), typo(&letter.objet)),
        ]),
        Block::Heading("Contrôle de légalité".into()),
    ];
    for p in &letter.paragraphs {
        blocks.push(Block::Para {
            text: typo(p),
            keep_with_next: false,
        });
    }
    blocks.push(Block::Small(
        "Document produit par le simulateur de préfecture de Bouquet, pour les essais : il n'a aucune valeur juridique."
            .into(),
    ));
    let mut doc = Document::new(
        format!("{} – {}", letter.kind, letter.id_acte),
        emitter.clone(),
        letter.date,
    );
    doc.subject = Some(format!(
        "{} relatif à l'acte {}",
        letter.kind, letter.id_acte
    ));
    doc.footer = Some(format!("{} · {}", letter.kind, letter.id_acte));
    bouquet_pdfdoc::render(&doc, &blocks)
}
