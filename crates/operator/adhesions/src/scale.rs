//! `bouquet demo --scale`: the demo at a realistic size, to see how pages and the API behave
//! with a real operator's volume (`bench/members`).
//!
//! On top of the demo territory, at factor 1: 2,000 real member organisations taken from the
//! registry (the demo EPCI first, then the EPCI of Ille-et-Vilaine, of the rest of Brittany
//! and of the neighbouring départements, each with its communes), 10,000 agents spread over
//! them, and 35,000 companies (fictitious SIREN and SIRET with a valid key, never members),
//! each with one account. Every account has the demo password: all share one argon2 hash,
//! computed once by the caller (argon2 is slow on purpose; 45,000 hashes would take hours).
//! The data are deterministic: the same factor always gives the same names and statuses.
//!
//! **Journal.** The store's bulk functions are used (`orgs::create_many`,
//! `accounts::create_many`, `members::enroll_many`…), so every organisation, account,
//! membership, member status and subscription has its journal event, in the chain of its
//! organisation, exactly as if created one by one. A single summary event was considered
//! instead, but the journal has one chain per organisation that starts with its
//! `organisation.created` event, a member's timeline is read from its chain, and the
//! architecture invariant is that every state change records its own event: skipping them
//! would mean writing the rows behind the store's back. The bulk functions write the events in
//! a few multi-row statements, so they cost seconds, not minutes. One more event, on the
//! platform chain, sums the seeding up.
//!
//! Everything is written in **one transaction**: an interrupted run leaves nothing behind,
//! and the next one starts over. The setting [`SETTING`] marks a finished run; a second run
//! changes nothing.

use std::collections::{HashMap, HashSet};

use bouquet_kernel::identifiers::luhn_complete;
use bouquet_kernel::text::normalize;
use bouquet_kernel::{
    AppError, Email, Insee, OrgId, OrgKind, Role, RoleSet, Service, Siren, Siret,
};
use bouquet_store::accounts::{self, NewGrant, NewUser};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::bulk::{self, text};
use bouquet_store::orgs::{self, NewOrg, NewSubscription};
use bouquet_store::query::Arg;
use bouquet_store::{Platform, StoreError, StoreResult, Tx, settings};
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::json;

use crate::members::{self, Enrolment, Status, StatusChange};
use crate::registry::{Commune, Epci, Registry};

/// Set when a run finished (its value: the factor and what was created).
pub const SETTING: &str = "demo.scale_seeded";
/// The domain of every seeded address: reserved (RFC 2606), so no message can reach anyone.
pub const DOMAIN: &str = "exemple.test";
/// The demo EPCI, whose communes come first.
const DEMO_EPCI: &str = "243500634";
/// Départements whose EPCI are taken in this order (a Breton operator's neighbourhood), before
/// any other EPCI of the registry.
const DEPARTEMENTS: [&str; 14] = [
    "35", "22", "29", "56", "44", "53", "49", "50", "61", "72", "85", "14", "27", "76",
];
/// Rows given to one call of a bulk function (the progress bar moves between calls).
const CHUNK: usize = 2_500;

/// How much to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Targets {
    pub members: usize,
    pub agents: usize,
    pub companies: usize,
}

impl Targets {
    /// The realistic size times `factor` (1 = 2,000 members, 10,000 agents, 35,000
    /// companies; 0.1 = one tenth). Between 0.001 and 10.
    pub fn for_factor(factor: f64) -> Result<Targets, AppError> {
        if !(0.001..=10.0).contains(&factor) {
            return Err(AppError::invalid(
                "scale_factor",
                "Le facteur d'échelle doit être compris entre 0,001 et 10.",
            ));
        }
        let n = |base: f64| ((base * factor).round() as usize).max(1);
        Ok(Targets {
            members: n(2_000.0),
            agents: n(10_000.0),
            companies: n(35_000.0),
        })
    }

    /// Units of work, for a progress bar.
    pub fn total(&self) -> u64 {
        (self.members + self.agents + self.companies) as u64
    }
}

/// What a run created.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub organisations: usize,
    pub members: usize,
    pub subscriptions: usize,
    pub agents: usize,
    pub companies: usize,
    pub company_users: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Seeded(Summary),
    /// A previous run did it; its setting's value.
    AlreadyDone(String),
}

/// Progress: (what is being done, units done, units in all).
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Send + Sync);

/// Seeds the realistic size on top of the demo (see the module documentation). `hash` is the
/// argon2id hash every seeded account shares.
pub async fn seed(
    p: &Platform,
    registry: &Registry,
    targets: Targets,
    hash: &str,
    progress: Progress<'_>,
) -> StoreResult<Outcome> {
    {
        let mut conn = p.db.read().await?;
        if let Some(done) = settings::get(&mut conn, SETTING).await? {
            return Ok(Outcome::AlreadyDone(done));
        }
    }
    let now = p.clock.now();
    let today = crate::web::operator_date(p);
    let actor = AuditActor {
        user_id: None,
        label: "Bouquet (démonstration à l'échelle)".into(),
    };
    let mut rng = Rng(SEED);
    let mut tx = p.db.begin().await?;
    // Checked again inside the write transaction: two runs at once seed once.
    if let Some(done) = settings::get(&mut tx, SETTING).await? {
        return Ok(Outcome::AlreadyDone(done));
    }
    let total = targets.total();
    let mut done = 0u64;
    progress("Organisations du référentiel", done, total);

    // 1. Member organisations from the registry.
    let picked = pick(&mut tx, registry, targets.members).await?;
    let mut summary = Summary::default();
    let mut ids: HashMap<String, OrgId> = picked.existing.clone();
    let new_epcis: Vec<NewOrg> = picked
        .members
        .iter()
        .filter_map(|m| match m {
            Piece::Epci(e) if !ids.contains_key(&e.siren) => Some(epci_org(e, registry)),
            _ => None,
        })
        .collect::<StoreResult<_>>()?;
    for chunk in new_epcis.chunks(CHUNK) {
        let created = orgs::create_many(&mut tx, now, chunk, &actor).await?;
        for (org, id) in chunk.iter().zip(created) {
            ids.insert(org.siren.to_string(), id);
        }
        summary.organisations += chunk.len();
    }
    let new_communes: Vec<NewOrg> = picked
        .members
        .iter()
        .filter_map(|m| match m {
            Piece::Commune(c) if !ids.contains_key(&c.siren) => {
                Some(commune_org(c, registry, &ids))
            }
            _ => None,
        })
        .collect::<StoreResult<_>>()?;
    for chunk in new_communes.chunks(CHUNK) {
        let created = orgs::create_many(&mut tx, now, chunk, &actor).await?;
        for (org, id) in chunk.iter().zip(created) {
            ids.insert(org.siren.to_string(), id);
        }
        summary.organisations += chunk.len();
    }

    // 2. Their membership: status, history, subscriptions.
    progress("Adhésions et abonnements", done, total);
    let mut enrolments = Vec::with_capacity(picked.members.len());
    let mut member_orgs: Vec<(OrgId, &Piece<'_>)> = Vec::with_capacity(picked.members.len());
    for piece in &picked.members {
        let id = *ids
            .get(piece.siren())
            .ok_or_else(|| StoreError::Corrupt(format!("SIREN {} non créé", piece.siren())))?;
        let (history, deliberation_dep) = (history(&mut rng, today), piece.departement());
        let history = history
            .into_iter()
            .map(|(status, effective)| StatusChange {
                status,
                effective,
                reason: match status {
                    Status::Sorti => Some("Délibération de retrait".to_owned()),
                    Status::Suspendu => Some("Cotisation impayée".to_owned()),
                    _ => None,
                },
                deliberation_ref: matches!(status, Status::Membre | Status::Sorti).then(|| {
                    format!(
                        "{:0>3}-{}-{}-{}_{:02}-DE",
                        deliberation_dep,
                        piece.siren(),
                        effective.strftime("%Y%m%d"),
                        effective.year(),
                        1 + rng.below(40)
                    )
                }),
            })
            .collect();
        enrolments.push(Enrolment {
            org: id,
            history,
            college: None,
        });
        member_orgs.push((id, piece));
    }
    let mut subscription_dates: Vec<(OrgId, String, Option<String>, Vec<Service>)> = Vec::new();
    for e in &enrolments {
        let Some(first) = e.history.first() else {
            continue;
        };
        let last = e.history.last().unwrap_or(first);
        if first.status != Status::Membre {
            continue;
        }
        let end = (last.status == Status::Sorti).then(|| last.effective.to_string());
        let count = 1 + rng.below(4);
        let mut services: Vec<Service> = Vec::new();
        // Nearly every member transmits its acts; the rest varies.
        if rng.below(10) < 9 {
            services.push(Service::Actes);
        }
        while services.len() < count {
            let s = Service::ALL[rng.below(Service::ALL.len())];
            if !services.contains(&s) {
                services.push(s);
            }
        }
        subscription_dates.push((e.org, first.effective.to_string(), end, services));
    }
    for chunk in enrolments.chunks(CHUNK) {
        members::enroll_many(&mut tx, now, today, chunk, &actor).await?;
        summary.members += chunk.len();
        done += chunk.len() as u64;
        progress("Adhésions et abonnements", done, total);
    }
    let subs: Vec<(OrgId, NewSubscription<'_>)> = subscription_dates
        .iter()
        .flat_map(|(org, start, end, services)| {
            services.iter().map(move |s| {
                (
                    *org,
                    NewSubscription {
                        service: *s,
                        start_date: start.as_str(),
                        end_date: end.as_deref(),
                        max_users: None,
                    },
                )
            })
        })
        .collect();
    for chunk in subs.chunks(CHUNK) {
        orgs::subscribe_many(&mut tx, now, chunk, &actor).await?;
        summary.subscriptions += chunk.len();
    }

    // 3. Agents, spread by population.
    progress("Agents des membres", done, total);
    let weights: Vec<f64> = member_orgs
        .iter()
        .map(|(_, piece)| (piece.population().max(1) as f64).sqrt())
        .collect();
    let per_org = spread(targets.agents, &weights);
    let mut names = Names::default();
    let mut people: Vec<(NewUser<'_>, OrgId, RoleSet, &'static str)> =
        Vec::with_capacity(targets.agents);
    for ((org, piece), n) in member_orgs.iter().zip(per_org) {
        let epci = matches!(piece, Piece::Epci(_));
        for k in 0..n {
            let person = names.person(&mut rng)?;
            let (roles, title): (&[Role], &'static str) = job(epci, k, person.female, &mut rng);
            people.push((
                NewUser {
                    email: person.email,
                    display_name: person.display_name,
                    password_hash: Some(hash),
                    chain: Some(*org),
                },
                *org,
                roles.iter().copied().collect(),
                title,
            ));
        }
    }
    for chunk in people.chunks(CHUNK) {
        let users: Vec<NewUser<'_>> = chunk.iter().map(|(u, ..)| u.clone()).collect();
        let created = accounts::create_many(&mut tx, now, &users, &actor).await?;
        let grants: Vec<NewGrant<'_>> = chunk
            .iter()
            .zip(created)
            .map(|((_, org, roles, title), user)| NewGrant {
                user,
                org: *org,
                roles: *roles,
                title: Some(title),
            })
            .collect();
        accounts::grant_many(&mut tx, now, &grants, &actor).await?;
        summary.agents += chunk.len();
        done += chunk.len() as u64;
        progress("Agents des membres", done, total);
    }

    // 4. Companies, each with the account of its manager.
    progress("Entreprises", done, total);
    let departements: Vec<&str> = member_orgs.iter().map(|(_, p)| p.departement()).collect();
    let mut index = 0u32;
    let mut remaining = targets.companies;
    while remaining > 0 {
        let n = remaining.min(CHUNK);
        let mut companies = Vec::with_capacity(n);
        let mut managers = Vec::with_capacity(n);
        for _ in 0..n {
            index += 1;
            let (siren, siret) = company_ids(index)?;
            let person = names.person(&mut rng)?;
            let mut org = NewOrg::new(siren, company_name(&mut rng), OrgKind::Entreprise);
            org.siret = Some(siret);
            org.departement = departements
                .get(rng.below(departements.len().max(1)))
                .map(|d| (*d).to_owned())
                .or_else(|| Some("35".to_owned()));
            org.contact_email = Some(person.email.clone());
            companies.push(org);
            managers.push(person);
        }
        let created = orgs::create_many(&mut tx, now, &companies, &actor).await?;
        let users: Vec<NewUser<'_>> = managers
            .iter()
            .zip(&created)
            .map(|(person, org)| NewUser {
                email: person.email.clone(),
                display_name: person.display_name.clone(),
                password_hash: Some(hash),
                chain: Some(*org),
            })
            .collect();
        let user_ids = accounts::create_many(&mut tx, now, &users, &actor).await?;
        let roles: RoleSet = [Role::MemberAdmin, Role::CompanyUser].into_iter().collect();
        let grants: Vec<NewGrant<'_>> = managers
            .iter()
            .zip(created.iter().zip(user_ids))
            .map(|(person, (org, user))| NewGrant {
                user,
                org: *org,
                roles,
                title: Some(if person.female { "Gérante" } else { "Gérant" }),
            })
            .collect();
        accounts::grant_many(&mut tx, now, &grants, &actor).await?;
        summary.companies += n;
        summary.company_users += n;
        summary.organisations += n;
        remaining -= n;
        done += n as u64;
        progress("Entreprises", done, total);
    }

    // 5. The summary on the platform chain, and the mark of a finished run.
    let details = json!({
        "echelle": true,
        "organisations": summary.organisations,
        "membres": summary.members,
        "abonnements": summary.subscriptions,
        "agents": summary.agents,
        "entreprises": summary.companies,
        "domaine": DOMAIN,
    });
    audit::append(
        &mut tx,
        now,
        NewEvent::new(None, &actor, "demo.scaled", "scale", DEMO_EPCI).details(details),
    )
    .await?;
    let mark = serde_json::to_string(&summary).unwrap_or_default();
    settings::set(&mut tx, now, SETTING, &mark).await?;
    tx.commit().await?;
    progress("Terminé", total, total);
    Ok(Outcome::Seeded(summary))
}

/// The seed of the names and statuses: the same data on every run.
const SEED: u64 = 0x5eed_b0c0_2026_0001;

// ---------------------------------------------------------------------------------------
// Which organisations

/// An organisation of the registry to make a member.
#[derive(Clone, Copy, Debug)]
enum Piece<'a> {
    Epci(&'a Epci),
    Commune(&'a Commune),
}

impl Piece<'_> {
    fn siren(&self) -> &str {
        match self {
            Piece::Epci(e) => &e.siren,
            Piece::Commune(c) => &c.siren,
        }
    }

    fn departement(&self) -> &str {
        match self {
            Piece::Epci(e) => &e.departement,
            Piece::Commune(c) => &c.departement,
        }
    }

    fn population(&self) -> i64 {
        match self {
            Piece::Epci(e) => e.population_totale,
            Piece::Commune(c) => c.population_totale,
        }
    }
}

struct Picked<'a> {
    /// In order: each EPCI before its communes.
    members: Vec<Piece<'a>>,
    /// SIREN → id of the organisations already on the platform (members or not), among the
    /// candidates.
    existing: HashMap<String, OrgId>,
}

/// `count` organisations of the registry that are not members yet: the demo EPCI and its
/// communes, then the EPCI of [`DEPARTEMENTS`] in that order, then any other, each followed
/// by its communes (by name), until there are enough.
async fn pick<'a>(tx: &mut Tx, registry: &'a Registry, count: usize) -> StoreResult<Picked<'a>> {
    let rank = |e: &Epci| {
        if e.siren == DEMO_EPCI {
            0
        } else {
            DEPARTEMENTS
                .iter()
                .position(|d| *d == e.departement)
                .map_or(DEPARTEMENTS.len() + 1, |i| i + 1)
        }
    };
    let mut epcis: Vec<&Epci> = registry.epcis().iter().collect();
    epcis.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.siren.cmp(&b.siren)));
    // Enough candidates to reach the count even if some are members already.
    let mut candidates: Vec<Piece<'a>> = Vec::new();
    for e in epcis {
        if candidates.len() > count * 2 + 100 {
            break;
        }
        candidates.push(Piece::Epci(e));
        candidates.extend(
            registry
                .communes_of(&e.siren)
                .into_iter()
                .map(Piece::Commune),
        );
    }
    let sirens: Vec<Arg> = candidates.iter().map(|c| text(c.siren())).collect();
    let known: Vec<(String, String, Option<String>)> = bulk::fetch_in(
        tx,
        "SELECT o.siren, o.id, m.status FROM organisations o
         LEFT JOIN adhesion_members m ON m.org_id = o.id WHERE o.siren IN",
        &sirens,
        "",
    )
    .await?;
    let mut existing = HashMap::new();
    let mut already_members = HashSet::new();
    for (siren, id, status) in known {
        let id: OrgId = id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("identifiant d'organisation {id}")))?;
        if status.is_some() {
            already_members.insert(siren.clone());
        }
        existing.insert(siren, id);
    }
    let members = candidates
        .into_iter()
        .filter(|c| !already_members.contains(c.siren()))
        .take(count)
        .collect();
    Ok(Picked { members, existing })
}

fn siren(s: &str) -> StoreResult<Siren> {
    Siren::parse(s).map_err(|e| StoreError::Corrupt(format!("SIREN {s} : {e}")))
}

/// The organisation of an EPCI, as `members::ensure_from_registry` makes it.
fn epci_org(e: &Epci, registry: &Registry) -> StoreResult<NewOrg> {
    let mut new = NewOrg::new(siren(&e.siren)?, e.name.clone(), e.kind);
    new.departement = Some(e.departement.clone());
    new.population = Some(e.population_totale);
    new.population_municipale = Some(e.population_municipale);
    new.population_year = Some(registry.population_year);
    Ok(new)
}

/// The organisation of a commune, as `members::ensure_from_registry` makes it; its EPCI is
/// in `ids`.
fn commune_org(
    c: &Commune,
    registry: &Registry,
    ids: &HashMap<String, OrgId>,
) -> StoreResult<NewOrg> {
    let mut new = NewOrg::new(siren(&c.siren)?, c.name.clone(), OrgKind::Commune);
    new.parent = ids.get(&c.epci_siren).copied();
    new.insee = Some(
        Insee::parse(&c.insee)
            .map_err(|e| StoreError::Corrupt(format!("INSEE {} : {e}", c.insee)))?,
    );
    new.departement = Some(c.departement.clone());
    new.population = Some(c.population_totale);
    new.population_municipale = Some(c.population_municipale);
    new.population_year = Some(registry.population_year);
    Ok(new)
}

/// A member's statuses in date order: mostly members for years, some candidates of the last
/// months, some suspended or gone.
fn history(rng: &mut Rng, today: Date) -> Vec<(Status, Date)> {
    let days_ago = |rng: &mut Rng, min: usize, max: usize| {
        let n = (min + rng.below(max - min + 1)) as i64;
        today.checked_sub(n.days()).unwrap_or(today)
    };
    let joined = days_ago(rng, 60, 15 * 365);
    match rng.below(100) {
        0..=79 => vec![(Status::Membre, joined)],
        80..=87 => vec![(Status::Candidat, days_ago(rng, 0, 180))],
        88..=92 => {
            let since = days_ago(rng, 0, 50);
            vec![(Status::Membre, joined), (Status::Suspendu, since)]
        }
        _ => {
            let left = days_ago(rng, 0, 50);
            vec![(Status::Membre, joined), (Status::Sorti, left)]
        }
    }
}

/// `total` spread over organisations of `weights`: one each first (the largest ones when
/// there are fewer than organisations), the rest in proportion (largest remainders).
fn spread(total: usize, weights: &[f64]) -> Vec<usize> {
    let n = weights.len();
    let mut out = vec![0usize; n];
    if n == 0 {
        return out;
    }
    let mut by_weight: Vec<usize> = (0..n).collect();
    by_weight.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    if total < n {
        for &i in by_weight.iter().take(total) {
            out[i] = 1;
        }
        return out;
    }
    out.iter_mut().for_each(|o| *o = 1);
    let rest = total - n;
    let sum: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut given = 0;
    let mut remainders: Vec<(f64, usize)> = Vec::with_capacity(n);
    for (i, w) in weights.iter().enumerate() {
        let share = rest as f64 * w / sum;
        let whole = share.floor() as usize;
        out[i] += whole;
        given += whole;
        remainders.push((share - whole as f64, i));
    }
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(rest.saturating_sub(given)) {
        out[i] += 1;
    }
    out
}

/// The roles and function of the `k`-th agent of a commune or an EPCI.
fn job(epci: bool, k: usize, female: bool, rng: &mut Rng) -> (&'static [Role], &'static str) {
    let g = |f: &'static str, m: &'static str| if female { f } else { m };
    match (epci, k) {
        (false, 0) => (&[Role::Agent, Role::MemberAdmin], "Secrétaire de mairie"),
        (false, 1) => (&[Role::EluSignataire], "Maire"),
        (true, 0) => (
            &[Role::Agent, Role::MemberAdmin],
            g(
                "Directrice générale des services",
                "Directeur général des services",
            ),
        ),
        (true, 1) => (&[Role::EluSignataire], g("Présidente", "Président")),
        (true, 2) => (
            &[Role::Agent, Role::ReferentNumerique],
            g(
                "Chargée de mission numérique",
                "Chargé de mission numérique",
            ),
        ),
        _ => {
            const AGENT_JOBS: [(&str, &str); 8] = [
                ("Agente d'accueil", "Agent d'accueil"),
                ("Officière d'état civil", "Officier d'état civil"),
                ("Comptable", "Comptable"),
                (
                    "Responsable des ressources humaines",
                    "Responsable des ressources humaines",
                ),
                ("Chargée de l'urbanisme", "Chargé de l'urbanisme"),
                (
                    "Gestionnaire des marchés publics",
                    "Gestionnaire des marchés publics",
                ),
                ("Assistante administrative", "Assistant administratif"),
                ("Responsable des finances", "Responsable des finances"),
            ];
            if rng.below(8) == 0 {
                return (
                    &[Role::EluSignataire],
                    g("Adjointe au maire", "Adjoint au maire"),
                );
            }
            let (f, m) = AGENT_JOBS[rng.below(AGENT_JOBS.len())];
            (&[Role::Agent], g(f, m))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fictitious people and companies

const FEMALE: [&str; 40] = [
    "Anne",
    "Audrey",
    "Camille",
    "Catherine",
    "Cécile",
    "Chloé",
    "Christine",
    "Claire",
    "Élodie",
    "Émilie",
    "Emma",
    "Françoise",
    "Gaëlle",
    "Hélène",
    "Isabelle",
    "Jeanne",
    "Julie",
    "Laëtitia",
    "Laure",
    "Léa",
    "Louise",
    "Lucie",
    "Maëlle",
    "Manon",
    "Marie",
    "Martine",
    "Mathilde",
    "Morgane",
    "Nathalie",
    "Nolwenn",
    "Pauline",
    "Sandrine",
    "Solène",
    "Sophie",
    "Stéphanie",
    "Sylvie",
    "Valérie",
    "Véronique",
    "Yvonne",
    "Zoé",
];
const MALE: [&str; 40] = [
    "Alain",
    "Antoine",
    "Arnaud",
    "Benoît",
    "Bernard",
    "Christophe",
    "Corentin",
    "Damien",
    "David",
    "Erwan",
    "Étienne",
    "François",
    "Frédéric",
    "Gaël",
    "Guillaume",
    "Hervé",
    "Hugo",
    "Jacques",
    "Jean",
    "Jérôme",
    "Julien",
    "Kévin",
    "Loïc",
    "Louis",
    "Luc",
    "Mathieu",
    "Maxime",
    "Michel",
    "Nicolas",
    "Olivier",
    "Patrick",
    "Philippe",
    "Pierre",
    "Raphaël",
    "Ronan",
    "Sébastien",
    "Thierry",
    "Thomas",
    "Yann",
    "Yannick",
];
const SURNAMES: [&str; 80] = [
    "Le Goff",
    "Le Gall",
    "Le Roux",
    "Le Bihan",
    "Le Corre",
    "Le Floch",
    "Le Guen",
    "Le Moal",
    "Guillou",
    "Tanguy",
    "Morvan",
    "Kerbrat",
    "Le Bris",
    "Riou",
    "Jégou",
    "Hamon",
    "Cadiou",
    "Quéré",
    "Prigent",
    "Le Meur",
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefebvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Rocher",
];
const TRADES: [&str; 24] = [
    "Menuiserie",
    "Boulangerie",
    "Plomberie",
    "Électricité",
    "Garage",
    "Maçonnerie",
    "Couverture",
    "Transports",
    "Paysages",
    "Imprimerie",
    "Cabinet",
    "Bureau d'études",
    "Charpente",
    "Peinture",
    "Informatique",
    "Traiteur",
    "Nettoyage",
    "Serrurerie",
    "Terrassement",
    "Conseil",
    "Architecture",
    "Ambulances",
    "Fromagerie",
    "Ébénisterie",
];
const FORMS: [&str; 6] = ["", "", " SARL", " SAS", " et fils", " EURL"];

struct Person {
    email: Email,
    display_name: String,
    female: bool,
}

/// Fictitious people with addresses unique within the run.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
}

impl Names {
    fn person(&mut self, rng: &mut Rng) -> StoreResult<Person> {
        let female = rng.below(2) == 0;
        let first = if female {
            FEMALE[rng.below(FEMALE.len())]
        } else {
            MALE[rng.below(MALE.len())]
        };
        let last = SURNAMES[rng.below(SURNAMES.len())];
        let slug = |s: &str| normalize(s).replace(' ', "-");
        let base = format!("{}.{}", slug(first), slug(last));
        let mut local = base.clone();
        let mut n = 1;
        while !self.taken.insert(local.clone()) {
            n += 1;
            local = format!("{base}{n}");
        }
        let email = Email::parse(&format!("{local}@{DOMAIN}"))
            .map_err(|e| StoreError::Corrupt(format!("adresse {local} : {e}")))?;
        Ok(Person {
            email,
            display_name: format!("{first} {last}"),
            female,
        })
    }
}

fn company_name(rng: &mut Rng) -> String {
    let trade = TRADES[rng.below(TRADES.len())];
    let surname = SURNAMES[rng.below(SURNAMES.len())];
    let form = FORMS[rng.below(FORMS.len())];
    format!("{trade} {surname}{form}")
}

/// The fictitious SIREN (prefix 98, key by Luhn) and head-office SIRET of the `n`-th company.
fn company_ids(n: u32) -> StoreResult<(Siren, Siret)> {
    let siren = siren(&luhn_complete(&format!("98{n:06}")))?;
    let siret = luhn_complete(&format!("{siren}0001"));
    let siret =
        Siret::parse(&siret).map_err(|e| StoreError::Corrupt(format!("SIRET {siret} : {e}")))?;
    Ok((siren, siret))
}

/// splitmix64: deterministic, good enough to pick names.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_scale_and_refuse_nonsense() {
        let full = Targets::for_factor(1.0).unwrap();
        assert_eq!(
            (full.members, full.agents, full.companies),
            (2_000, 10_000, 35_000)
        );
        let tenth = Targets::for_factor(0.1).unwrap();
        assert_eq!(
            (tenth.members, tenth.agents, tenth.companies),
            (200, 1_000, 3_500)
        );
        assert!(Targets::for_factor(0.0).is_err());
        assert!(Targets::for_factor(f64::NAN).is_err());
        assert!(Targets::for_factor(11.0).is_err());
    }

    #[test]
    fn spread_gives_each_one_and_the_rest_by_weight() {
        let out = spread(10, &[1.0, 3.0, 1.0]);
        assert_eq!(out.iter().sum::<usize>(), 10);
        assert!(out.iter().all(|&n| n >= 1));
        assert!(out[1] > out[0]);
        let few = spread(2, &[1.0, 5.0, 3.0]);
        assert_eq!(few, vec![0, 1, 1]);
        assert!(spread(5, &[]).is_empty());
    }

    #[test]
    fn company_identifiers_are_well_formed_and_distinct() {
        let (a, a_siret) = company_ids(1).unwrap();
        let (b, _) = company_ids(2).unwrap();
        assert_ne!(a, b);
        assert!(a_siret.as_str().starts_with(a.as_str()));
        assert!(a.as_str().starts_with("98"));
    }

    #[test]
    fn people_have_unique_reserved_addresses() {
        let mut rng = Rng(1);
        let mut names = Names::default();
        let mut seen = HashSet::new();
        for _ in 0..5_000 {
            let p = names.person(&mut rng).unwrap();
            assert!(
                p.email.as_str().ends_with("@exemple.test"),
                "{}",
                p.email.as_str()
            );
            assert!(p.email.as_str().is_ascii());
            assert!(seen.insert(p.email.as_str().to_owned()));
        }
    }

    #[test]
    fn histories_are_in_date_order_and_never_in_the_future() {
        let today = Date::constant(2026, 11, 23);
        let mut rng = Rng(7);
        for _ in 0..1_000 {
            let h = history(&mut rng, today);
            assert!(!h.is_empty());
            assert!(h.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 != w[1].0));
            assert!(h.iter().all(|(_, d)| *d <= today));
        }
    }
}
