//! The parapheur of the demo territory.
//!
//! - Arbrissel has two circuits: its délibérations (visa of the secretary, then the maire's
//!   signature) and its conventions with the operator (the maire, then the operator's
//!   président: a two-organisation circuit); the operator has one for its comité syndical.
//! - The maire, the operator's président (a demo account added here) and both organisations'
//!   seals get certificates from "AC Bouquet démo".
//! - One délibération waits for the maire's signature, already visaed by the secretary.

use bouquet_kernel::{Email, OrgId, Role, RoleSet, UserId};
use bouquet_store::audit::AuditActor;
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::{Platform, StoreError, StoreResult, accounts};
use bouquet_webkit::DemoTerritory;

use crate::circuits;
use crate::dossiers;
use crate::flow::{self, InFile, Person, Submission};
use crate::model::{Actor, StepDef, StepKind, StepMode};
use crate::signing;

/// The operator's président, who signs conventions and the comité syndical's délibérations.
pub const PRESIDENT_EMAIL: &str = "president@operateur.demo";
const PRESIDENT_NAME: &str = "Yves Le Goff";

fn step(kind: StepKind, actors: Vec<Actor>, org_siren: Option<String>) -> StepDef {
    StepDef {
        kind,
        mode: StepMode::Any,
        reading_required: false,
        actors,
        org_siren,
    }
}

async fn org(p: &Platform, id: OrgId) -> StoreResult<OrgRow> {
    let mut conn = p.db.read().await?;
    orgs::get(&mut conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt("organisation de démonstration absente".into()))
}

/// A small délibération as a tagged PDF.
pub fn deliberation_pdf(
    commune: &str,
    title: &str,
    date: jiff::civil::Date,
) -> StoreResult<Vec<u8>> {
    use bouquet_pdfdoc::{Block, Document};
    let mut doc = Document::new(title, format!("Commune d'{commune}"), date);
    doc.subject = Some("Délibération du conseil municipal".into());
    bouquet_pdfdoc::render(
        &doc,
        &[
            Block::Title(format!("Commune d'{commune}")),
            Block::Heading(title.to_owned()),
            Block::Para {
                text: bouquet_pdfdoc::typo("Le conseil municipal, régulièrement convoqué, s'est réuni en séance publique sous la présidence du maire."),
                keep_with_next: false,
            },
            Block::Para {
                text: bouquet_pdfdoc::typo("Après en avoir délibéré, le conseil municipal fixe les tarifs de la restauration scolaire à compter du 1er janvier : 3,10 € par repas pour les enfants, 5,20 € pour les adultes."),
                keep_with_next: false,
            },
            Block::Para {
                text: "Adopté à l'unanimité des membres présents.".into(),
                keep_with_next: false,
            },
        ],
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn seed(p: &Platform, t: &DemoTerritory) -> StoreResult<()> {
    let now = p.clock.now();
    let system = AuditActor {
        user_id: None,
        label: "Bouquet (démonstration)".into(),
    };
    let arbrissel = org(p, t.communes[0]).await?;
    let operator = org(p, t.operator).await?;
    let hash = {
        let mut conn = p.db.read().await?;
        accounts::get_user(&mut conn, t.admin)
            .await?
            .and_then(|u| u.password_hash)
    };
    let president: UserId =
        p.db.atomically(async |tx| {
            let email =
                Email::parse(PRESIDENT_EMAIL).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let id = accounts::create_user(
                tx,
                now,
                &email,
                PRESIDENT_NAME,
                hash.as_deref(),
                Some(t.operator),
                &system,
            )
            .await?;
            accounts::grant(
                tx,
                now,
                id,
                t.operator,
                [Role::EluSignataire].into_iter().collect::<RoleSet>(),
                Some("Président"),
                &system,
            )
            .await?;
            circuits::create(
                tx,
                now,
                t.communes[0],
                "Délibérations : visa de la secrétaire, puis signature du maire",
                &[
                    step(
                        StepKind::Visa,
                        vec![Actor::Person(t.secretary.to_string())],
                        None,
                    ),
                    step(
                        StepKind::Signature,
                        vec![Actor::Title("Maire".into())],
                        None,
                    ),
                ],
                &system,
            )
            .await?;
            circuits::create(
                tx,
                now,
                t.communes[0],
                "Conventions avec l'opérateur : le maire, puis le président du syndicat",
                &[
                    step(
                        StepKind::Signature,
                        vec![Actor::Title("Maire".into())],
                        None,
                    ),
                    step(
                        StepKind::Signature,
                        vec![Actor::Title("Président".into())],
                        Some(operator.siren.clone()),
                    ),
                ],
                &system,
            )
            .await?;
            circuits::create(
                tx,
                now,
                t.operator,
                "Délibérations du comité syndical : signature du président",
                &[step(
                    StepKind::Signature,
                    vec![Actor::Title("Président".into())],
                    None,
                )],
                &system,
            )
            .await?;
            Ok(id)
        })
        .await?;
    let maire_title = Some("Maire");
    signing::issue_demo(
        p,
        t.communes[0],
        &arbrissel.name,
        &arbrissel.siren,
        Some((
            t.maire,
            "Jean-Yves Rocher",
            "maire@commune.demo",
            maire_title,
        )),
        &system,
    )
    .await?;
    signing::issue_demo(
        p,
        t.operator,
        &operator.name,
        &operator.siren,
        Some((
            president,
            PRESIDENT_NAME,
            PRESIDENT_EMAIL,
            Some("Président"),
        )),
        &system,
    )
    .await?;
    signing::issue_demo(
        p,
        t.communes[0],
        &arbrissel.name,
        &arbrissel.siren,
        None,
        &system,
    )
    .await?;
    signing::issue_demo(
        p,
        t.operator,
        &operator.name,
        &operator.siren,
        None,
        &system,
    )
    .await?;

    // A délibération that waits for the maire.
    let title = "Délibération 2026-041 : tarifs de la restauration scolaire";
    let date = orgs::local_date(now, &arbrissel.tz())
        .parse()
        .unwrap_or(jiff::civil::Date::constant(2026, 1, 1));
    let pdf = deliberation_pdf(&arbrissel.name, title, date)?;
    let circuit = {
        let mut conn = p.db.read().await?;
        circuits::list(&mut conn, t.communes[0])
            .await?
            .into_iter()
            .find(|c| c.name.starts_with("Délibérations"))
    }
    .ok_or_else(|| StoreError::Corrupt("circuit de démonstration absent".into()))?;
    let secretary = Person {
        id: t.secretary,
        name: "Sophie Lebrun",
    };
    let id = flow::submit(
        p,
        &arbrissel,
        secretary,
        Submission {
            title: title.into(),
            doc_type: "deliberation".into(),
            subtype: None,
            circuit_name: circuit.name.clone(),
            steps: circuit.steps()?,
            document: InFile {
                name: "deliberation-2026-041.pdf".into(),
                bytes: pdf,
            },
            annexes: Vec::new(),
            source: None,
        },
    )
    .await?;
    let dossier = {
        let mut conn = p.db.read().await?;
        dossiers::get_visible(&mut conn, t.communes[0], &id).await?
    }
    .ok_or_else(|| StoreError::Corrupt("dossier de démonstration absent".into()))?;
    let today = orgs::local_date(now, &arbrissel.tz());
    flow::visa(
        p,
        &dossier,
        dossier.version,
        secretary,
        &today,
        Some("Vu, conforme au projet adopté en séance."),
    )
    .await?;
    Ok(())
}
