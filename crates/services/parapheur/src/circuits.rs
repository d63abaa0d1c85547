//! Circuits: an organisation's ordered steps, copied into each dossier when it is sent.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreError, StoreResult, exec, run};
use jiff::Timestamp;
use serde_json::json;

use crate::model::{Actor, StepDef};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CircuitRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub steps: String,
    pub active: bool,
}

impl CircuitRow {
    pub fn steps(&self) -> StoreResult<Vec<StepDef>> {
        serde_json::from_str(&self.steps).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// The organisation's circuits, active first, by name.
pub async fn list(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<CircuitRow>> {
    Ok(run!(h, |c| sqlx::query_as(
        "SELECT id, org_id, name, steps, active FROM parapheur_circuits
         WHERE org_id = $1 ORDER BY active DESC, name, id"
    )
    .bind(org.to_string())
    .fetch_all(c)
    .await)?)
}

/// One circuit of `org` (another organisation's answers `None`).
pub async fn get(h: &mut impl Handle, org: OrgId, id: &str) -> StoreResult<Option<CircuitRow>> {
    Ok(run!(h, |c| {
        sqlx::query_as(
        "SELECT id, org_id, name, steps, active FROM parapheur_circuits WHERE org_id = $1 AND id = $2"
    )
    .bind(org.to_string())
    .bind(id)
    .fetch_optional(c)
    .await
    })?)
}

/// Checks a circuit's definition: a name, at least one step, someone at each step.
pub fn check(name: &str, steps: &[StepDef]) -> Result<(), AppError> {
    if name.trim().is_empty() {
        return Err(AppError::invalid("nom", "Donnez un nom au circuit."));
    }
    if name.chars().count() > 120 {
        return Err(AppError::invalid(
            "nom",
            "Le nom du circuit ne doit pas dépasser 120 caractères.",
        ));
    }
    if steps.is_empty() {
        return Err(AppError::invalid(
            "etapes",
            "Ajoutez au moins une étape au circuit.",
        ));
    }
    if steps.len() > 20 {
        return Err(AppError::invalid(
            "etapes",
            "Un circuit compte au plus 20 étapes.",
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        if step.actors.is_empty() {
            return Err(AppError::invalid(
                "etapes",
                format!("Indiquez qui agit à l'étape {}.", i + 1),
            ));
        }
        if step.actors.iter().any(|a| match a {
            Actor::Person(v) | Actor::Role(v) | Actor::Title(v) => v.trim().is_empty(),
        }) {
            return Err(AppError::invalid(
                "etapes",
                format!("Une personne de l'étape {} n'est pas renseignée.", i + 1),
            ));
        }
    }
    Ok(())
}

pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    name: &str,
    steps: &[StepDef],
    actor: &AuditActor,
) -> StoreResult<String> {
    check(name, steps)?;
    let id = new_id().to_string();
    let json = serde_json::to_string(steps).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_circuits (id, org_id, name, steps, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, TRUE, $5, $5)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(name.trim())
    .bind(&json)
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "parapheur.circuit.created",
            "circuit",
            &id,
        )
        .details(json!({ "nom": name.trim(), "etapes": steps.len() })),
    )
    .await?;
    Ok(id)
}

/// Stops offering a circuit; dossiers already sent keep their copy.
pub async fn set_active(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    active: bool,
    actor: &AuditActor,
) -> StoreResult<()> {
    let n = exec!(tx, sqlx::query(
        "UPDATE parapheur_circuits SET active = $1, updated_at = $2 WHERE org_id = $3 AND id = $4"
    )
    .bind(active)
    .bind(to_micros(now))
    .bind(org.to_string())
    .bind(id))?;
    if n == 0 {
        return Err(AppError::NotFound.into());
    }
    let label = if active {
        "parapheur.circuit.enabled"
    } else {
        "parapheur.circuit.disabled"
    };
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, label, "circuit", id),
    )
    .await?;
    Ok(())
}
