//! The members of the demo territory: the EPCI and its communes at different stages, so
//! that every part of the member pages has something to show on the first visit.
//!
//! - CC Roche aux Fées Communauté: member since 2019, its convention ends in 45 days (the
//!   renewal reminder and the "À faire" item show);
//! - Arbrissel (276 inhabitants): member, « Mairie connectée » charter signed, EU funding;
//! - Janzé: member, its charte d'utilisation prepared and waiting for signature;
//! - Retiers: candidate; the CCAS of Janzé: member.

use bouquet_kernel::OrgId;
use bouquet_store::audit::AuditActor;
use bouquet_store::{Platform, StoreResult, orgs};
use bouquet_webkit::DemoTerritory;
use jiff::civil::Date;
use jiff::{Span, ToSpan};

use crate::documents::Template;
use crate::engagements::{self, NewEngagement, Signature};
use crate::members::{self, Status, StatusChange};

fn change(status: Status, effective: Date, deliberation: Option<&str>) -> StatusChange {
    StatusChange {
        status,
        effective,
        reason: None,
        deliberation_ref: deliberation.map(str::to_owned),
    }
}

fn date(y: i16, m: i8, d: i8) -> Date {
    Date::new(y, m, d).unwrap_or(Date::constant(2025, 1, 1))
}

fn shift(d: Date, span: Span) -> Date {
    d.checked_add(span).unwrap_or(d)
}

pub async fn seed(p: &Platform, t: &DemoTerritory) -> StoreResult<()> {
    let now = p.clock.now();
    let today = crate::web::operator_date(p);
    let actor = AuditActor {
        user_id: None,
        label: "Bouquet (démonstration)".into(),
    };
    let joins: [(OrgId, Status, Date, Option<&str>); 5] = [
        (
            t.epci,
            Status::Membre,
            date(2019, 1, 1),
            Some("035-243500634-20181213-2018_112-DE"),
        ),
        (
            t.communes[0],
            Status::Membre,
            date(2025, 3, 1),
            Some("035-213500051-20250224-2025_04-DE"),
        ),
        (
            t.communes[1],
            Status::Candidat,
            shift(today, (-20).days()),
            None,
        ),
        (t.communes[2], Status::Membre, date(2021, 6, 1), None),
        (t.ccas, Status::Membre, date(2022, 1, 1), None),
    ];
    let mut tx = p.db.begin().await?;
    for (org, status, since, deliberation) in joins {
        members::enroll(
            &mut tx,
            now,
            today,
            org,
            &change(status, since, deliberation),
            None,
            &actor,
        )
        .await?;
    }
    tx.commit().await?;

    let mut conn = p.db.read().await?;
    let epci = orgs::get(&mut conn, t.epci).await?;
    let arbrissel = orgs::get(&mut conn, t.communes[0]).await?;
    let janze = orgs::get(&mut conn, t.communes[2]).await?;
    drop(conn);
    let sign = |signatory: &str, on: Date, sha: &str| Signature {
        signatory: signatory.to_owned(),
        signed_on: on,
        sha256: sha.to_owned(),
        size: 0,
    };
    // The demo "signed" documents are the prepared ones: nobody signs in a demo.
    let record = async |org: &bouquet_store::orgs::OrgRow,
                        new: NewEngagement,
                        signatory: Option<(&str, Date)>|
           -> StoreResult<()> {
        let id = engagements::prepare_document(p, org, &new, today, &actor).await?;
        if let Some((who, on)) = signatory {
            let mut conn = p.db.read().await?;
            let row = engagements::get(&mut conn, org.id()?, &id).await?;
            drop(conn);
            if let Some(row) = row {
                let sha = row.generated_sha256.unwrap_or_default();
                let mut tx = p.db.begin().await?;
                engagements::record_signature(
                    &mut tx,
                    now,
                    today,
                    org.id()?,
                    &id,
                    &sign(who, on, &sha),
                    &actor,
                )
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    };
    if let Some(epci) = epci {
        let start = shift(today, (-6).years());
        record(
            &epci,
            NewEngagement {
                template: Template::ConventionMembre,
                starts_on: start,
                ends_on: Some(shift(today, 45.days())),
                eu_funding: None,
            },
            Some(("Le président de la communauté de communes", start)),
        )
        .await?;
    }
    if let Some(arbrissel) = arbrissel {
        let start = date(2025, 4, 1);
        record(
            &arbrissel,
            NewEngagement {
                template: Template::CharteMairieConnectee,
                starts_on: start,
                ends_on: Some(date(2029, 12, 31)),
                eu_funding: Some((start, date(2027, 3, 31))),
            },
            Some(("Jean-Yves Rocher, maire", date(2025, 3, 14))),
        )
        .await?;
    }
    if let Some(janze) = janze {
        record(
            &janze,
            NewEngagement {
                template: Template::CharteUtilisation,
                starts_on: date(today.year() + 1, 1, 1),
                ends_on: Some(date(today.year() + 5, 12, 31)),
                eu_funding: None,
            },
            None,
        )
        .await?;
    }
    Ok(())
}
