//! Demo data of the actes service.
//!
//! - Settings for Arbrissel, the EPCI (CC Roche aux Fées Communauté) and the operator (a
//!   member too: it transmits its comité syndical's délibérations), with the classification
//!   of 2019-04-18 (`Classification::demo()`), a convention date and, where the parapheur has
//!   one, the délibérations circuit as the default circuit. The codes nature de la
//!   collectivité are fictitious (the official table is not published).
//! - Arbrissel: one draft to finish (no PDF yet) and one complete délibération, ready to be
//!   sent for signature or transmitted; the operator: one délibération of its comité
//!   syndical, ready; the EPCI: one draft.
//!
//! Run once, with the demo territory; a second run finds the settings and does nothing.

use bouquet_format_actes::{Classification, Nature};
use bouquet_kernel::OrgId;
use bouquet_parapheur::circuits;
use bouquet_store::audit::AuditActor;
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::{Platform, StoreError, StoreResult};
use bouquet_webkit::DemoTerritory;
use jiff::civil::Date;

use crate::actes::{self, ActeInput, Author, Origin};
use crate::settings::{self, SettingsInput};

async fn org(p: &Platform, id: OrgId) -> StoreResult<OrgRow> {
    let mut conn = p.db.read().await?;
    orgs::get(&mut conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("organisation de démonstration absente".into()))
}

/// One demo acte: its fields, and the title of its PDF when it has one.
struct DemoActe {
    numero: &'static str,
    objet: &'static str,
    matiere: &'static str,
    days_ago: i64,
    pdf: bool,
}

async fn seed_org(
    p: &Platform,
    t: &DemoTerritory,
    id: OrgId,
    prefecture: &str,
    nature_collectivite: &str,
    actes_list: &[DemoActe],
) -> StoreResult<()> {
    let row = org(p, id).await?;
    let now = p.clock.now();
    let system = AuditActor {
        user_id: None,
        label: "Bouquet (démonstration)".into(),
    };
    let (existing, circuit) = {
        let mut conn = p.db.read().await?;
        (
            settings::get(&mut conn, id).await?,
            circuits::list(&mut conn, id)
                .await?
                .into_iter()
                .find(|c| c.active && c.name.starts_with("Délibérations")),
        )
    };
    if existing.is_some() {
        return Ok(());
    }
    let today: Date = orgs::local_date(now, &row.tz())
        .parse()
        .unwrap_or(Date::constant(2026, 1, 1));
    let input = SettingsInput {
        prefecture: prefecture.to_owned(),
        departement: "035".into(),
        arrondissement: "1".into(),
        nature_collectivite: nature_collectivite.to_owned(),
        convention_date: Some(Date::constant(2025, 1, 15)),
        circuit_id: circuit.map(|c| c.id),
    };
    let mut files = Vec::new();
    for a in actes_list {
        let date = today
            .checked_sub(jiff::Span::new().days(a.days_ago))
            .unwrap_or(today);
        let file = if a.pdf {
            let title = format!("Délibération {} : {}", a.numero, a.objet);
            let bytes = bouquet_parapheur::demo::deliberation_pdf(&row.name, &title, date)?;
            let kind = actes::check_piece("deliberation.pdf", &bytes, true)
                .map_err(StoreError::Corrupt)?;
            Some(
                actes::store_file(
                    p,
                    id,
                    &format!("{}.pdf", a.numero.to_lowercase()),
                    bytes,
                    kind,
                    Nature::DE.default_typology().to_owned(),
                )
                .await?,
            )
        } else {
            None
        };
        files.push((date, file));
    }
    let secretary = if id == t.communes[0] {
        Author {
            id: t.secretary,
            name: "Sophie Lebrun",
        }
    } else if id == t.epci {
        Author {
            id: t.epci_agent,
            name: "Marc Guérin",
        }
    } else {
        Author {
            id: t.admin,
            name: "Hélène Kerbrat",
        }
    };
    p.db.atomically(async |tx| {
        settings::save(tx, now, id, &input, &system).await?;
        settings::store_classification(tx, id, Classification::demo(), now).await?;
        for (a, (date, file)) in actes_list.iter().zip(&files) {
            let input = ActeInput {
                nature: Nature::DE,
                numero: a.numero.to_owned(),
                objet: a.objet.to_owned(),
                matiere: a.matiere.to_owned(),
                decision_date: Some(*date),
                document_papier: false,
            };
            actes::create(
                tx,
                now,
                &row,
                &input,
                None,
                file.as_ref(),
                &[],
                secretary,
                &Origin::Form,
            )
            .await?;
        }
        Ok(())
    })
    .await
}

pub async fn seed(p: &Platform, t: &DemoTerritory) -> StoreResult<()> {
    seed_org(
        p,
        t,
        t.communes[0],
        "Sous-préfecture de Fougères-Vitré",
        "31",
        &[
            DemoActe {
                numero: "DEL_2026_042",
                objet: "Subvention à l'association des parents d'élèves de l'école publique",
                matiere: "7.5",
                days_ago: 6,
                pdf: true,
            },
            DemoActe {
                numero: "DEL_2026_043",
                objet: "Convention de mise à disposition de la salle communale",
                matiere: "3.3",
                days_ago: 6,
                pdf: false,
            },
        ],
    )
    .await?;
    seed_org(
        p,
        t,
        t.epci,
        "Sous-préfecture de Fougères-Vitré",
        "32",
        &[DemoActe {
            numero: "CC_2026_118",
            objet: "Programme local de l'habitat : bilan à mi-parcours",
            matiere: "8.5",
            days_ago: 12,
            pdf: false,
        }],
    )
    .await?;
    seed_org(
        p,
        t,
        t.operator,
        "Préfecture d'Ille-et-Vilaine",
        "33",
        &[DemoActe {
            numero: "CS_2026_07",
            objet: "Contributions des membres pour 2027",
            matiere: "7.6",
            days_ago: 3,
            pdf: true,
        }],
    )
    .await
}
