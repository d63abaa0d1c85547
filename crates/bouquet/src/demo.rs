//! The demo territory: a real EPCI of Ille-et-Vilaine and three of its real communes (from
//! the official BANATIC rows), a fictitious operator, a CCAS and a company with fictitious
//! but well-formed identifiers, and five demo accounts. Created on the first start of
//! `serve --demo` (or by `bouquet demo`), never twice; each module then adds its activity.

use std::sync::Arc;

use anyhow::Context;
use bouquet_kernel::identifiers::luhn_complete;
use bouquet_kernel::{Email, Insee, OrgId, OrgKind, Role, RoleSet, Service, Siren, Siret, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::orgs::{self, NewOrg};
use bouquet_store::{Platform, accounts, settings};
use bouquet_webkit::{DemoTerritory, Module};
use serde_json::json;

pub const PASSWORD: &str = "bouquet-demo";
const SEEDED: &str = "demo.seeded";

/// The demo accounts, for the start-up message and the README.
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("admin@operateur.demo", "administratrice de l'opérateur"),
    ("agent@commune.demo", "secrétaire de mairie d'Arbrissel"),
    ("maire@commune.demo", "maire d'Arbrissel, élu signataire"),
    (
        "agent@epci.demo",
        "agent et référent numérique de CC Roche aux Fées Communauté",
    ),
    ("contact@entreprise.demo", "gérante d'une entreprise"),
    (
        "president@operateur.demo",
        "président de l'opérateur, signe les conventions (parapheur)",
    ),
];

fn siren(digits: &str) -> anyhow::Result<Siren> {
    Ok(Siren::parse(digits)?)
}

fn fictitious_siren(prefix8: &str) -> anyhow::Result<Siren> {
    siren(&luhn_complete(prefix8))
}

struct Commune {
    name: &'static str,
    insee: &'static str,
    siren: &'static str,
    population: i64,
}

/// Three communes of CC Roche aux Fées Communauté, as in the BANATIC perimeter file
/// (`perimetre-epci-a-fp.csv`, population totale 2025).
const COMMUNES: [Commune; 3] = [
    Commune {
        name: "Arbrissel",
        insee: "35005",
        siren: "213500051",
        population: 276,
    },
    Commune {
        name: "Retiers",
        insee: "35239",
        siren: "213502396",
        population: 4641,
    },
    Commune {
        name: "Janzé",
        insee: "35136",
        siren: "213501364",
        population: 8807,
    },
];

/// Creates the territory unless it exists; returns it when it was created now.
pub async fn seed_if_new(
    platform: &Platform,
    modules: &[Arc<dyn Module>],
) -> anyhow::Result<Option<DemoTerritory>> {
    {
        let mut conn = platform.db.read().await?;
        if settings::get(&mut conn, SEEDED).await?.is_some() {
            return Ok(None);
        }
    }
    let hash = accounts::hash_password(PASSWORD)?;
    let territory = create(platform, &hash)
        .await
        .context("création du territoire de démonstration")?;
    for m in modules {
        m.seed_demo(platform, &territory)
            .await
            .with_context(|| format!("données de démonstration du module « {} »", m.name()))?;
    }
    Ok(Some(territory))
}

async fn create(platform: &Platform, hash: &str) -> anyhow::Result<DemoTerritory> {
    let now = platform.clock.now();
    let system = AuditActor {
        user_id: None,
        label: "Bouquet (démonstration)".into(),
    };
    let mut tx = platform.db.begin().await?;
    // Checked again inside the write transaction: two processes starting at once seed once.
    if settings::get(&mut tx, SEEDED).await?.is_some() {
        anyhow::bail!("le territoire de démonstration existe déjà");
    }

    let mut operator = NewOrg::new(
        fictitious_siren("99999999")?,
        "Syndicat mixte Bouquet (démo)",
        OrgKind::Operateur,
    );
    operator.departement = Some("35".into());
    operator.contact_email = Some(Email::parse("contact@operateur.demo")?);
    let operator = orgs::create(&mut tx, now, operator, &system).await?;

    let mut epci = NewOrg::new(
        siren("243500634")?,
        "CC Roche aux Fées Communauté",
        OrgKind::Cc,
    );
    epci.departement = Some("35".into());
    epci.population = Some(27_573);
    epci.population_year = Some(2025);
    let epci = orgs::create(&mut tx, now, epci, &system).await?;

    let mut communes = Vec::new();
    for c in &COMMUNES {
        let mut org = NewOrg::new(siren(c.siren)?, c.name, OrgKind::Commune);
        org.parent = Some(epci);
        org.insee = Some(Insee::parse(c.insee)?);
        org.population = Some(c.population);
        org.population_year = Some(2025);
        communes.push(orgs::create(&mut tx, now, org, &system).await?);
    }

    let mut ccas = NewOrg::new(
        fictitious_siren("99999998")?,
        "CCAS de Janzé (démo)",
        OrgKind::Ccas,
    );
    ccas.parent = Some(epci);
    ccas.departement = Some("35".into());
    let ccas = orgs::create(&mut tx, now, ccas, &system).await?;

    let company_siren = fictitious_siren("99999997")?;
    let mut company = NewOrg::new(
        company_siren.clone(),
        "Atelier Numérique des Fées (démo)",
        OrgKind::Entreprise,
    );
    company.siret = Some(Siret::parse(&luhn_complete(&format!(
        "{company_siren}0001"
    )))?);
    company.departement = Some("35".into());
    let company = orgs::create(&mut tx, now, company, &system).await?;

    let start = "2025-01-01";
    let subscriptions: [(OrgId, &[Service]); 6] = [
        (
            operator,
            &[
                Service::Actes,
                Service::Parapheur,
                Service::Marches,
                Service::Publication,
            ],
        ),
        (epci, &Service::ALL),
        (
            communes[0],
            &[
                Service::Actes,
                Service::Helios,
                Service::Parapheur,
                Service::Publication,
            ],
        ),
        (
            communes[1],
            &[
                Service::Actes,
                Service::Helios,
                Service::Parapheur,
                Service::Marches,
                Service::Factures,
                Service::Archives,
            ],
        ),
        (communes[2], &Service::ALL),
        (ccas, &[Service::Helios, Service::Factures]),
    ];
    for (org, services) in subscriptions {
        for s in services {
            orgs::subscribe(
                &mut tx,
                now,
                org,
                orgs::NewSubscription::from(*s, start),
                &system,
            )
            .await?;
        }
    }

    let person = |email: &'static str, name: &'static str| (email, name);
    let mut user = async |(email, name): (&str, &str),
                          org: OrgId,
                          roles: &[Role],
                          title: &str|
           -> anyhow::Result<UserId> {
        let email = Email::parse(email)?;
        let id = accounts::create_user(&mut tx, now, &email, name, Some(hash), Some(org), &system)
            .await?;
        accounts::grant(
            &mut tx,
            now,
            id,
            org,
            roles.iter().copied().collect::<RoleSet>(),
            Some(title),
            &system,
        )
        .await?;
        Ok(id)
    };
    let admin = user(
        person("admin@operateur.demo", "Hélène Kerbrat"),
        operator,
        &[Role::OperatorAdmin, Role::MemberAdmin],
        "Responsable des services numériques",
    )
    .await?;
    let secretary = user(
        person("agent@commune.demo", "Sophie Lebrun"),
        communes[0],
        &[Role::Agent, Role::MemberAdmin],
        "Secrétaire de mairie",
    )
    .await?;
    let maire = user(
        person("maire@commune.demo", "Jean-Yves Rocher"),
        communes[0],
        &[Role::EluSignataire],
        "Maire",
    )
    .await?;
    let epci_agent = user(
        person("agent@epci.demo", "Marc Guérin"),
        epci,
        &[Role::Agent, Role::MemberAdmin, Role::ReferentNumerique],
        "Chargé de mission numérique",
    )
    .await?;
    let company_user = user(
        person("contact@entreprise.demo", "Julie Fournier"),
        company,
        &[Role::MemberAdmin, Role::CompanyUser],
        "Gérante",
    )
    .await?;
    // Marc follows every commune of the EPCI, present and future.
    accounts::set_referent_scope(&mut tx, now, epci_agent, epci, true, &[], &system).await?;
    audit::append(
        &mut tx,
        now,
        NewEvent::new(None, &system, "demo.seeded", "territory", epci).details(json!({
            "epci": "243500634",
            "communes": COMMUNES.iter().map(|c| c.name).collect::<Vec<_>>(),
        })),
    )
    .await?;
    settings::set(&mut tx, now, SEEDED, &now.to_string()).await?;
    tx.commit().await?;
    Ok(DemoTerritory {
        operator,
        epci,
        communes,
        ccas,
        company,
        admin,
        secretary,
        maire,
        epci_agent,
        company_user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo communes are the real ones: same SIREN, INSEE code, name and population
    /// totale 2025 as in the official BANATIC rows shipped in `standards/`.
    #[test]
    fn demo_communes_match_the_banatic_rows() {
        let bytes = include_bytes!("../../../standards/backoffice/banatic/roche-aux-fees.csv");
        // Windows-1252; these rows use no byte in 0x80–0x9F, where it differs from Latin-1.
        assert!(!bytes.iter().any(|b| (0x80..0xa0).contains(b)));
        let text: String = bytes.iter().map(|&b| b as char).collect();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.trim_end_matches('\r').split(';').collect())
            .collect();
        assert_eq!(
            rows.len(),
            16,
            "16 communes in CC Roche aux Fées Communauté"
        );
        for row in &rows {
            assert_eq!(row[1], "243500634");
            assert_eq!(row[2], "CC Roche aux Fées Communauté");
        }
        assert_eq!(
            rows[0][6].replace(' ', ""),
            "27573",
            "population totale of the EPCI"
        );
        for c in &COMMUNES {
            let row = rows
                .iter()
                .find(|r| r[10] == c.siren)
                .unwrap_or_else(|| panic!("{} absent", c.name));
            assert_eq!(row[9], c.insee, "{}", c.name);
            assert_eq!(row[11], c.name);
            assert_eq!(
                row[12].replace(' ', "").parse::<i64>().unwrap(),
                c.population,
                "{}",
                c.name
            );
            assert!(Siren::parse(c.siren).is_ok());
        }
    }

    #[test]
    fn fictitious_identifiers_are_well_formed() {
        for prefix in ["99999999", "99999998", "99999997"] {
            assert!(fictitious_siren(prefix).is_ok());
        }
        let company = fictitious_siren("99999997").unwrap();
        assert!(Siret::parse(&luhn_complete(&format!("{company}0001"))).is_ok());
    }
}
