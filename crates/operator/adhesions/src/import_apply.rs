//! Writing the members of a checked CSV file ([`crate::import`]).
//!
//! [`check_platform`] adds to a [`Preview`] what only the platform knows: a SIREN already a
//! member, or one the platform holds as a company or as the operator, is an error on its line;
//! services given to an organisation that is not "membre" are a warning (only members
//! subscribe). [`apply`] then writes the members of the lines without errors, in the
//! caller's transaction: all or nothing.

use std::collections::HashMap;

use bouquet_kernel::OrgKind;
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::orgs::{self, NewOrg, NewSubscription};
use bouquet_store::query::Query;
use bouquet_store::{Handle, StoreResult, Tx};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use crate::import::{ColumnError, ImportedMember, Preview};
use crate::members::{self, Status, StatusChange};
use crate::registry::Registry;

/// The reason written in the status history of imported members.
pub const REASON: &str = "Import d'un fichier de membres";

/// Marks the lines the platform refuses (see the module documentation).
pub async fn check_platform(h: &mut impl Handle, preview: &mut Preview) -> StoreResult<()> {
    let sirens: Vec<String> = preview
        .valid()
        .map(|m| m.siren.as_str().to_owned())
        .collect();
    let refs: Vec<&str> = sirens.iter().map(String::as_str).collect();
    // SIREN → (kind, member status) of the organisations the platform already holds.
    let mut known: HashMap<String, (Option<OrgKind>, Option<String>)> = HashMap::new();
    for chunk in refs.chunks(1000) {
        let mut q = Query::new(
            "SELECT o.siren, o.kind, m.status FROM organisations o
             LEFT JOIN adhesion_members m ON m.org_id = o.id WHERE o.siren IN (",
        );
        let ps: Vec<String> = chunk.iter().map(|s| q.arg(*s)).collect();
        q.push(&ps.join(", "));
        q.push(")");
        let rows: Vec<(String, String, Option<String>)> = q.fetch_all(h).await?;
        known.extend(
            rows.into_iter()
                .map(|(siren, kind, status)| (siren, (kind.parse().ok(), status))),
        );
    }
    for line in &mut preview.lines {
        let Some(m) = &line.member else { continue };
        let refusal = match known.get(m.siren.as_str()) {
            Some((Some(OrgKind::Entreprise | OrgKind::Operateur), _)) => Some(
                "ce SIREN est celui d'une entreprise ou de l'opérateur sur la plateforme : ils ne sont jamais membres"
                    .to_owned(),
            ),
            Some((_, Some(status))) => Some(format!(
                "{} est déjà membre (statut « {} ») : modifiez son statut depuis sa fiche",
                m.name,
                Status::from_code(status).map_or(status.as_str(), |s| s.label())
            )),
            _ => None,
        };
        if let Some(message) = refusal {
            line.errors.push(ColumnError {
                column: "siren".into(),
                message,
            });
            line.member = None;
            continue;
        }
        if m.status != Status::Membre && !m.services.is_empty() {
            line.warnings.push(format!(
                "services non souscrits : seul un membre souscrit des services, et le statut est « {} »",
                m.status.label()
            ));
        }
    }
    Ok(())
}

/// Writes `members` (the valid lines of a checked preview): each organisation (taken from the
/// registry for communes and EPCI, created for the other bodies), its membership from its
/// status date, its college, and, for members, its services from the same date. One
/// `member.imported` event sums the import up; every member gets its own events too.
/// Returns how many members were written.
pub async fn apply(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    registry: &Registry,
    imported: &[&ImportedMember],
    file_name: &str,
    actor: &AuditActor,
) -> StoreResult<usize> {
    for m in imported {
        let org = match orgs::get_by_siren(tx, &m.siren).await? {
            Some(row) => row.id()?,
            None if registry.commune_by_siren(m.siren.as_str()).is_some()
                || registry.epci_by_siren(m.siren.as_str()).is_some() =>
            {
                members::ensure_from_registry(tx, now, registry, &m.siren, actor).await?
            }
            None => {
                let mut new = NewOrg::new(m.siren.clone(), m.name.clone(), m.kind);
                if let Some(epci) = &m.epci {
                    new.parent =
                        Some(members::ensure_from_registry(tx, now, registry, epci, actor).await?);
                }
                new.insee = m.insee.clone();
                new.departement = m.departement.clone();
                new.contact_email = m.contact_email.clone();
                orgs::create(tx, now, new, actor).await?
            }
        };
        let change = StatusChange {
            status: m.status,
            effective: m.status_date,
            reason: Some(REASON.to_owned()),
            deliberation_ref: None,
        };
        members::enroll(tx, now, today, org, &change, m.college.as_deref(), actor).await?;
        if m.status == Status::Membre {
            let start = m.status_date.to_string();
            for service in &m.services {
                orgs::subscribe(tx, now, org, NewSubscription::from(*service, &start), actor)
                    .await?;
            }
        }
    }
    audit::append(
        tx,
        now,
        NewEvent::new(None, actor, "member.imported", "import", file_name).details(json!({
            "fichier": file_name,
            "membres": imported.len(),
            "siren": imported.iter().map(|m| m.siren.as_str()).collect::<Vec<_>>(),
        })),
    )
    .await?;
    Ok(imported.len())
}
