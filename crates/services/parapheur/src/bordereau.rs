//! The bordereau de signature: a tagged PDF of the dossier's history — each visa and
//! signature with person, quality, date, certificate and document hashes — made when the
//! circuit ends and kept beside the signed document.

use bouquet_kernel::OrgId;
use bouquet_kernel::clock::time_zone;
use bouquet_pdfdoc::{Block, Document};
use bouquet_store::blobs::owner_key;
use bouquet_store::orgs;
use bouquet_store::{Platform, StoreError, StoreResult};
use bytes::Bytes;

use crate::dossiers::{self, ActionRow, DossierRow, StepRow};
use crate::model::{ActionKind, doc_type_label};

/// Everything the bordereau shows.
pub struct BordereauData {
    pub dossier: DossierRow,
    pub org_name: String,
    pub steps: Vec<StepRow>,
    pub actions: Vec<ActionRow>,
    pub time_zone: String,
}

fn hash_short(h: &str) -> String {
    // Full hashes in the table would not fit; the complete ones are listed below it.
    h.get(..16)
        .map_or_else(|| h.to_owned(), |s| format!("{s}…"))
}

/// The PDF, from the data alone (same data, same bytes).
pub fn render(d: &BordereauData) -> Result<Vec<u8>, bouquet_pdfdoc::PdfDocError> {
    let tz = time_zone(&d.time_zone);
    let at = |us: i64| bouquet_webkit::views::at(us, &tz);
    let dossier = &d.dossier;
    let mut blocks = vec![
        Block::Title("Bordereau de signature".into()),
        Block::KeyValues(vec![
            ("Dossier".into(), dossier.title.clone()),
            ("Organisation".into(), d.org_name.clone()),
            ("Type".into(), doc_type_label(&dossier.doc_type).to_owned()),
            ("Circuit".into(), dossier.circuit_name.clone()),
            ("Document".into(), dossier.document_name.clone()),
            ("Déposé le".into(), at(dossier.created_at)),
            (
                "Terminé le".into(),
                dossier.finished_at.map_or_else(|| "—".into(), at),
            ),
            ("Identifiant".into(), dossier.id.clone()),
        ]),
        Block::Heading("Historique".into()),
    ];
    let rows: Vec<Vec<String>> = d
        .actions
        .iter()
        .filter(|a| a.public && !a.undone)
        .map(|a| {
            let who = match (&a.quality, &a.on_behalf_label) {
                (Some(q), Some(absent)) => {
                    format!("{} ({q}), en l'absence de {absent}", a.user_label)
                }
                (Some(q), None) => format!("{} ({q})", a.user_label),
                (None, Some(absent)) => format!("{}, en l'absence de {absent}", a.user_label),
                (None, None) => a.user_label.clone(),
            };
            let mut detail = a.comment.clone().unwrap_or_default();
            if let Some(cert) = a.certificate() {
                let part = format!(
                    "{} ; certificat de {} émis par {}, n° {}",
                    cert["format"].as_str().unwrap_or_default(),
                    cert["titulaire"].as_str().unwrap_or("—"),
                    cert["emetteur"].as_str().unwrap_or("—"),
                    cert["numero"].as_str().unwrap_or("—"),
                );
                detail = if detail.is_empty() {
                    part
                } else {
                    format!("{detail} ; {part}")
                };
            }
            if let Some(after) = &a.after_sha256 {
                detail = format!(
                    "{detail}{}document SHA-256 {}",
                    if detail.is_empty() { "" } else { " ; " },
                    hash_short(after)
                );
            }
            vec![
                at(a.at),
                a.kind()
                    .map_or_else(|| a.kind.clone(), |k| k.label().to_owned()),
                who,
                detail,
            ]
        })
        .collect();
    blocks.push(Block::Table {
        caption: Some("Actions sur le dossier, dans l'ordre".into()),
        header: vec![
            "Date".into(),
            "Action".into(),
            "Par".into(),
            "Détail".into(),
        ],
        rows,
        widths: vec![0.17, 0.17, 0.26, 0.40],
    });
    blocks.push(Block::Heading("Empreintes des versions du document".into()));
    let mut hashes = vec![(
        "Document déposé".to_owned(),
        dossier.original_sha256.clone(),
    )];
    for a in d.actions.iter().filter(|a| !a.undone) {
        if let (Some(after), Some(kind)) = (&a.after_sha256, a.kind())
            && kind != ActionKind::Depot
        {
            {
                hashes.push((
                    format!("Après : {} ({})", kind.label().to_lowercase(), a.user_label),
                    after.clone(),
                ));
            }
        }
    }
    blocks.push(Block::KeyValues(hashes));
    blocks.push(Block::Small(format!(
        "Empreintes SHA-256. Étapes du circuit : {}. Bordereau établi par le parapheur de la plateforme.",
        d.steps.len()
    )));
    let made = bouquet_store::orgs::local_date(
        bouquet_kernel::clock::from_micros(dossier.finished_at.unwrap_or(dossier.updated_at)),
        &tz,
    )
    .parse()
    .unwrap_or(jiff::civil::Date::constant(2000, 1, 1));
    let mut doc = Document::new(
        format!("Bordereau de signature – {}", dossier.title),
        d.org_name.clone(),
        made,
    );
    doc.subject = Some("Historique des visas et signatures du dossier".into());
    doc.footer = Some(format!("Bordereau de signature · dossier {}", dossier.id));
    bouquet_pdfdoc::render(&doc, &blocks)
}

/// Makes and stores the bordereau of a finished dossier.
pub async fn make(p: &Platform, dossier_id: &str, org: OrgId) -> StoreResult<String> {
    let mut conn = p.db.read().await?;
    let dossier = dossiers::get_visible(&mut conn, org, dossier_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("dossier introuvable".into()))?;
    let org_row = orgs::get(&mut conn, org)
        .await?
        .ok_or_else(|| StoreError::Corrupt("organisation introuvable".into()))?;
    let data = BordereauData {
        steps: dossiers::steps(&mut conn, dossier_id).await?,
        actions: dossiers::actions(&mut conn, dossier_id).await?,
        org_name: org_row.name.clone(),
        time_zone: org_row.time_zone.clone(),
        dossier,
    };
    drop(conn);
    let pdf = tokio::task::spawn_blocking(move || render(&data))
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let blob = p
        .blobs
        .put_bytes(&owner_key(Some(org)), Bytes::from(pdf))
        .await?;
    p.db.atomically(async |tx| dossiers::set_bordereau(tx, dossier_id, &blob.sha256).await)
        .await?;
    Ok(blob.sha256)
}
