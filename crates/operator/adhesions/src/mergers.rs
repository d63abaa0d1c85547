//! Member communes that merged into a commune nouvelle.
//!
//! An import of the official registry ([`crate::registry_import`]) raises one row of
//! `registry_mergers` per member commune that the file shows merged (status `a_traiter`).
//! The operator checks it on `/admin/registre/fusions/{id}` ([`preview`] says exactly what
//! will move) and either confirms it ([`confirm`]) or dismisses a false alarm ([`ignore`]).
//!
//! Confirming moves everything in one transaction, journaled as one `member.merged` event on
//! the commune nouvelle's chain (its object is the merged commune):
//!
//! - the commune nouvelle's organisation is created from the registry in use if needed, and
//!   becomes a member with the old commune's status and college, from the date of the
//!   merger (unless it is one already);
//! - the old commune's status history moves to the commune nouvelle; the old commune becomes
//!   [`Status::Fusionne`], `merged_into` the commune nouvelle;
//! - its people move with their roles (someone already in the commune nouvelle keeps one
//!   access, with the roles of both);
//! - its subscriptions move, except those that overlap one of the commune nouvelle's (same
//!   service): these end the day before the merger and stay with the old commune;
//! - the référents who followed it follow the commune nouvelle.
//!
//! Conventions and charters stay with the old commune: they were signed by it.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId, OrgKind, RoleSet, Siren};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::orgs::{self, OrgRow, SubscriptionRow};
use bouquet_store::{Handle, StoreError, StoreResult, Tx, exec, run};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::members::{self, MembershipState, Status, StatusChange, french_date};
use crate::registry::Registry;

/// Where an alert stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergerStatus {
    ToHandle,
    Handled,
    Ignored,
}

impl MergerStatus {
    pub fn code(self) -> &'static str {
        match self {
            MergerStatus::ToHandle => "a_traiter",
            MergerStatus::Handled => "traitee",
            MergerStatus::Ignored => "ignoree",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MergerStatus::ToHandle => "À traiter",
            MergerStatus::Handled => "Fusion enregistrée",
            MergerStatus::Ignored => "Ignorée",
        }
    }

    pub fn badge(self) -> &'static str {
        match self {
            MergerStatus::ToHandle => "warning",
            MergerStatus::Handled => "success",
            MergerStatus::Ignored => "neutral",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            MergerStatus::ToHandle,
            MergerStatus::Handled,
            MergerStatus::Ignored,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// A commune the registry shows merged into the commune nouvelle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedCommune {
    pub insee: String,
    pub siren: String,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MergerRow {
    pub id: String,
    pub import_id: String,
    pub org_id: String,
    pub org_siren: String,
    pub org_name: String,
    pub into_insee: String,
    pub into_siren: String,
    pub into_name: String,
    pub merged_with: String,
    pub status: String,
    pub new_org_id: Option<String>,
    pub effective_date: Option<String>,
    pub reason: Option<String>,
    pub handled_by: Option<String>,
    pub created_at: i64,
    pub handled_at: Option<i64>,
}

impl MergerRow {
    pub fn status(&self) -> Option<MergerStatus> {
        MergerStatus::from_code(&self.status)
    }

    pub fn org(&self) -> StoreResult<OrgId> {
        self.org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("identifiant d'organisation {}", self.org_id)))
    }

    /// Every commune merged into the commune nouvelle, this one included.
    pub fn merged_with(&self) -> Vec<MergedCommune> {
        serde_json::from_str(&self.merged_with).unwrap_or_default()
    }
}

const SELECT: &str = "SELECT r.id, r.import_id, r.org_id, o.siren AS org_siren, o.name AS org_name,
        r.into_insee, r.into_siren, r.into_name, r.merged_with, r.status, r.new_org_id,
        r.effective_date, r.reason, r.handled_by, r.created_at, r.handled_at
     FROM registry_mergers r JOIN organisations o ON o.id = r.org_id";

pub async fn get(h: &mut impl Handle, id: &str) -> StoreResult<Option<MergerRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// Alerts to handle first (oldest first), then the others (latest handled first).
pub async fn list(h: &mut impl Handle, limit: i64) -> StoreResult<Vec<MergerRow>> {
    let rows = run!(h, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} ORDER BY CASE WHEN r.status = 'a_traiter' THEN 0 ELSE 1 END,
                  CASE WHEN r.status = 'a_traiter' THEN r.created_at ELSE -COALESCE(r.handled_at, 0) END,
                  r.id
         LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

pub async fn count_to_handle(h: &mut impl Handle) -> StoreResult<i64> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM registry_mergers WHERE status = 'a_traiter'"
    )
    .fetch_one(c)
    .await)?;
    Ok(n)
}

/// What becomes of a subscription of the old commune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Moves to the commune nouvelle.
    Move,
    /// Overlaps one of the commune nouvelle's: ends on `last_day` and stays.
    End { last_day: String },
    /// Overlaps one of the commune nouvelle's but ended before the merger: stays as it is.
    Stay,
}

fn overlap(a: (&str, Option<&str>), b: (&str, Option<&str>)) -> bool {
    let before = |start: &str, end: Option<&str>| end.is_none_or(|e| start <= e);
    before(a.0, b.1) && before(b.0, a.1)
}

/// The fate of each of `old` (the old commune's subscriptions) next to `new` (the commune
/// nouvelle's), for a merger on `effective`. Subscriptions that move count for the next ones.
pub fn fates(old: &[SubscriptionRow], new: &[SubscriptionRow], effective: Date) -> Vec<Fate> {
    let day_before = effective.yesterday().unwrap_or(effective).to_string();
    let mut taken: Vec<(String, String, Option<String>)> = new
        .iter()
        .map(|s| (s.service.clone(), s.start_date.clone(), s.end_date.clone()))
        .collect();
    old.iter()
        .map(|s| {
            let clash = taken.iter().any(|(service, start, end)| {
                *service == s.service
                    && overlap(
                        (start, end.as_deref()),
                        (&s.start_date, s.end_date.as_deref()),
                    )
            });
            if !clash {
                taken.push((s.service.clone(), s.start_date.clone(), s.end_date.clone()));
                Fate::Move
            } else if s
                .end_date
                .as_deref()
                .is_some_and(|e| e <= day_before.as_str())
            {
                Fate::Stay
            } else {
                Fate::End {
                    last_day: day_before.clone().max(s.start_date.clone()),
                }
            }
        })
        .collect()
}

/// A person of the old commune.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PersonRow {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub roles: String,
    pub title: Option<String>,
    /// Their roles in the commune nouvelle, if they have access to it already.
    pub already: Option<String>,
}

impl PersonRow {
    pub fn roles(&self) -> RoleSet {
        RoleSet::parse(&self.roles).unwrap_or_default()
    }

    pub fn already(&self) -> Option<RoleSet> {
        self.already
            .as_deref()
            .map(|r| RoleSet::parse(r).unwrap_or_default())
    }

    /// The roles they will hold in the commune nouvelle.
    pub fn after(&self) -> RoleSet {
        let mut roles = self.roles();
        for r in self.already().unwrap_or_default().iter() {
            roles.insert(r);
        }
        roles
    }
}

/// A référent who follows the old commune.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReferentRow {
    pub user_id: String,
    pub name: String,
    pub epci_id: String,
    pub epci_name: String,
}

/// Exactly what confirming would move.
#[derive(Clone, Debug)]
pub struct Preview {
    pub state: Option<MembershipState>,
    pub history: i64,
    pub people: Vec<PersonRow>,
    pub subscriptions: Vec<(SubscriptionRow, Fate)>,
    pub referents: Vec<ReferentRow>,
    /// Conventions and charters, which stay with the old commune.
    pub engagements: i64,
    /// The commune nouvelle, if it is on the platform already, and its membership.
    pub new_org: Option<OrgRow>,
    pub new_state: Option<MembershipState>,
}

/// What confirming the merger of `old` into the commune nouvelle `into_siren` on
/// `effective` would move.
pub async fn preview(
    h: &mut impl Handle,
    old: OrgId,
    into_siren: &str,
    effective: Date,
) -> StoreResult<Preview> {
    let new_org = match Siren::parse(into_siren) {
        Ok(siren) => orgs::get_by_siren(h, &siren).await?,
        Err(_) => None,
    };
    let new_id = new_org.as_ref().map(|o| o.id.clone()).unwrap_or_default();
    let state = members::get(h, old).await?;
    let new_state = match &new_org {
        Some(o) => members::get(h, o.id()?).await?,
        None => None,
    };
    let history: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM adhesion_status_history WHERE org_id = $1"
    )
    .bind(old.to_string())
    .fetch_one(c)
    .await)?;
    let engagements: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM engagements WHERE org_id = $1"
    )
    .bind(old.to_string())
    .fetch_one(c)
    .await)?;
    let people: Vec<PersonRow> = run!(h, |c| sqlx::query_as(
        "SELECT u.id AS user_id, u.display_name AS name, u.email, u.active, m.roles, m.title,
                n.roles AS already
         FROM memberships m JOIN users u ON u.id = m.user_id
         LEFT JOIN memberships n ON n.user_id = m.user_id AND n.org_id = $2
         WHERE m.org_id = $1
         ORDER BY u.display_name, u.id"
    )
    .bind(old.to_string())
    .bind(&new_id)
    .fetch_all(c)
    .await)?;
    let referents: Vec<ReferentRow> = run!(h, |c| sqlx::query_as(
        "SELECT f.user_id, u.display_name AS name, f.epci_id, e.name AS epci_name
         FROM referent_follows f
         JOIN users u ON u.id = f.user_id
         JOIN organisations e ON e.id = f.epci_id
         WHERE f.org_id = $1
         ORDER BY u.display_name, f.user_id"
    )
    .bind(old.to_string())
    .fetch_all(c)
    .await)?;
    let old_subs = orgs::subscriptions(h, old).await?;
    let new_subs = match &new_org {
        Some(o) => orgs::subscriptions(h, o.id()?).await?,
        None => Vec::new(),
    };
    let fates = fates(&old_subs, &new_subs, effective);
    Ok(Preview {
        state,
        history,
        people,
        subscriptions: old_subs.into_iter().zip(fates).collect(),
        referents,
        engagements,
        new_org,
        new_state,
    })
}

fn check_effective(
    effective: Date,
    today: Date,
    state: &MembershipState,
    org_name: &str,
) -> Result<(), AppError> {
    if effective > today {
        return Err(AppError::invalid(
            "effective_date",
            "La date de la fusion ne peut pas être dans le futur : confirmez-la le jour où elle prend effet.",
        ));
    }
    if effective.year() < 1990 {
        return Err(AppError::invalid(
            "effective_date",
            "Saisissez une date de fusion valide.",
        ));
    }
    if effective.to_string() < state.status_since {
        return Err(AppError::invalid(
            "effective_date",
            format!(
                "La date de la fusion ne peut pas précéder celle du statut actuel de {org_name} ({}).",
                french_date(&state.status_since)
            ),
        ));
    }
    Ok(())
}

/// What [`confirm`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub new_org: OrgId,
    pub new_siren: String,
    pub people: usize,
    pub moved_subscriptions: usize,
    pub ended_subscriptions: usize,
    pub history: i64,
    pub referents: usize,
}

fn already_handled(row: &MergerRow) -> AppError {
    AppError::Conflict(match row.status() {
        Some(MergerStatus::Ignored) => {
            "Cette alerte a été ignorée : rien n'a été déplacé.".to_owned()
        }
        _ => format!(
            "La fusion de {} dans {} a déjà été enregistrée.",
            row.org_name, row.into_name
        ),
    })
}

/// Moves the old commune's membership, people, subscriptions, history and référents to the
/// commune nouvelle, as of `effective` (see the module documentation). `registry` is the
/// registry in use, from which the commune nouvelle is created if needed.
pub async fn confirm(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    registry: &Registry,
    id: &str,
    effective: Date,
    actor: &AuditActor,
) -> StoreResult<Confirmed> {
    let row = get(tx, id).await?.ok_or(AppError::NotFound)?;
    // Claimed first: of two confirmations at once, the second finds it handled.
    let claimed = exec!(tx, sqlx::query(
        "UPDATE registry_mergers SET status = 'traitee', effective_date = $2, handled_by = $3, handled_at = $4
         WHERE id = $1 AND status = 'a_traiter'"
    )
    .bind(id)
    .bind(effective.to_string())
    .bind(&actor.label)
    .bind(to_micros(now)))?;
    if claimed == 0 {
        return Err(already_handled(&row).into());
    }
    let old = row.org()?;
    let state = members::get(tx, old).await?.ok_or_else(|| {
        AppError::Conflict(format!(
            "{} n'est pas membre : il n'y a pas d'adhésion à déplacer.",
            row.org_name
        ))
    })?;
    let status = state
        .status()
        .ok_or_else(|| StoreError::Corrupt(format!("statut {}", state.status)))?;
    if status == Status::Fusionne {
        return Err(AppError::Conflict(format!(
            "{} a déjà fusionné dans une commune nouvelle.",
            row.org_name
        ))
        .into());
    }
    check_effective(effective, today, &state, &row.org_name)?;
    let commune = registry.commune_by_siren(&row.into_siren).ok_or_else(|| {
        AppError::Conflict(format!(
            "La commune nouvelle {} (SIREN {}) ne figure pas dans le référentiel en usage : importez d'abord le fichier qui la contient.",
            row.into_name, row.into_siren
        ))
    })?;
    let siren = Siren::parse(&commune.siren)
        .map_err(|_| StoreError::Corrupt(format!("SIREN {}", commune.siren)))?;
    let new = members::ensure_from_registry(tx, now, registry, &siren, actor).await?;
    let new_row = orgs::get(tx, new).await?.ok_or(AppError::NotFound)?;
    if new == old || new_row.kind()? != OrgKind::Commune {
        return Err(AppError::Conflict(format!(
            "{} n'est pas une commune nouvelle distincte de {} : rien n'a été déplacé.",
            new_row.name, row.org_name
        ))
        .into());
    }
    let plan = preview(tx, old, &row.into_siren, effective).await?;
    let (old_s, new_s) = (old.to_string(), new.to_string());

    // Status history, then the commune nouvelle's membership.
    exec!(
        tx,
        sqlx::query("UPDATE adhesion_status_history SET org_id = $2 WHERE org_id = $1")
            .bind(&old_s)
            .bind(&new_s)
    )?;
    if plan.new_state.is_none() {
        members::enroll(
            tx,
            now,
            today,
            new,
            &StatusChange {
                status,
                effective,
                reason: Some(format!(
                    "Commune nouvelle issue de la fusion de {}",
                    row.org_name
                )),
                deliberation_ref: None,
            },
            state.college.as_deref(),
            actor,
        )
        .await?;
    }
    // The old commune: merged.
    exec!(tx, sqlx::query(
        "UPDATE adhesion_members SET status = $2, status_since = $3, merged_into = $4, updated_at = $5 WHERE org_id = $1"
    )
    .bind(&old_s)
    .bind(Status::Fusionne.code())
    .bind(effective.to_string())
    .bind(&new_s)
    .bind(to_micros(now)))?;
    exec!(tx, sqlx::query(
        "INSERT INTO adhesion_status_history (id, org_id, status, effective_date, reason, deliberation_ref, actor_label, created_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)"
    )
    .bind(new_id().to_string())
    .bind(&old_s)
    .bind(Status::Fusionne.code())
    .bind(effective.to_string())
    .bind(format!(
        "Fusion dans la commune nouvelle {} (INSEE {})",
        commune.name, commune.insee
    ))
    .bind(&actor.label)
    .bind(to_micros(now)))?;

    // People.
    let mut people = Vec::new();
    for person in &plan.people {
        if person.already.is_some() {
            exec!(
                tx,
                sqlx::query("UPDATE memberships SET roles = $3 WHERE user_id = $1 AND org_id = $2")
                    .bind(&person.user_id)
                    .bind(&new_s)
                    .bind(person.after().to_stored())
            )?;
            exec!(
                tx,
                sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND org_id = $2")
                    .bind(&person.user_id)
                    .bind(&old_s)
            )?;
        } else {
            exec!(
                tx,
                sqlx::query(
                    "UPDATE memberships SET org_id = $3 WHERE user_id = $1 AND org_id = $2"
                )
                .bind(&person.user_id)
                .bind(&old_s)
                .bind(&new_s)
            )?;
        }
        people.push(format!("{} ({})", person.name, person.after().to_stored()));
    }

    // Subscriptions.
    let (mut moved, mut ended) = (Vec::new(), Vec::new());
    for (sub, fate) in &plan.subscriptions {
        let service = sub.service.as_str();
        match fate {
            Fate::Move => {
                exec!(
                    tx,
                    sqlx::query("UPDATE subscriptions SET org_id = $2 WHERE id = $1")
                        .bind(&sub.id)
                        .bind(&new_s)
                )?;
                moved.push(service.to_owned());
            }
            Fate::End { last_day } => {
                exec!(
                    tx,
                    sqlx::query("UPDATE subscriptions SET end_date = $2 WHERE id = $1")
                        .bind(&sub.id)
                        .bind(last_day)
                )?;
                ended.push(format!("{service} (fin le {last_day})"));
            }
            Fate::Stay => {}
        }
    }

    // Référents.
    for r in &plan.referents {
        exec!(tx, sqlx::query(
            "INSERT INTO referent_follows (user_id, epci_id, org_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, org_id) DO NOTHING"
        )
        .bind(&r.user_id)
        .bind(&r.epci_id)
        .bind(&new_s)
        .bind(to_micros(now)))?;
    }
    exec!(
        tx,
        sqlx::query("DELETE FROM referent_follows WHERE org_id = $1").bind(&old_s)
    )?;
    // Invitations still open follow: whoever accepts one later joins the commune nouvelle.
    exec!(
        tx,
        sqlx::query(
            "UPDATE invitations SET org_id = $2
             WHERE org_id = $1 AND used_at IS NULL AND cancelled_at IS NULL"
        )
        .bind(&old_s)
        .bind(&new_s)
    )?;

    exec!(
        tx,
        sqlx::query("UPDATE registry_mergers SET new_org_id = $2 WHERE id = $1")
            .bind(id)
            .bind(&new_s)
    )?;

    // One event for the one step, on the commune nouvelle's chain (where the membership,
    // people and history now are), naming the merged commune as its object.
    audit::append(
        tx,
        now,
        NewEvent::new(Some(new), actor, "member.merged", "organisation", old).details(json!({
            "commune_fusionnee": row.org_name,
            "siren_commune_fusionnee": row.org_siren,
            "commune_nouvelle": commune.name,
            "siren_commune_nouvelle": commune.siren,
            "insee_commune_nouvelle": commune.insee,
            "date_effet": effective.to_string(),
            "statut": status.code(),
            "historique_deplace": plan.history,
            "personnes": people.join(", "),
            "abonnements_deplaces": moved.join(", "),
            "abonnements_termines": ended.join(", "),
            "referents": plan.referents.len(),
        })),
    )
    .await?;
    Ok(Confirmed {
        new_org: new,
        new_siren: commune.siren.clone(),
        people: plan.people.len(),
        moved_subscriptions: moved.len(),
        ended_subscriptions: ended.len(),
        history: plan.history,
        referents: plan.referents.len(),
    })
}

/// Dismisses an alert (a false alarm of the registry's heuristic), with the reason.
pub async fn ignore(
    tx: &mut Tx,
    now: Timestamp,
    id: &str,
    reason: &str,
    actor: &AuditActor,
) -> StoreResult<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "Dites pourquoi cette alerte est ignorée (500 caractères au plus).",
        )
        .into());
    }
    let row = get(tx, id).await?.ok_or(AppError::NotFound)?;
    let n = exec!(tx, sqlx::query(
        "UPDATE registry_mergers SET status = 'ignoree', reason = $2, handled_by = $3, handled_at = $4
         WHERE id = $1 AND status = 'a_traiter'"
    )
    .bind(id)
    .bind(reason)
    .bind(&actor.label)
    .bind(to_micros(now)))?;
    if n == 0 {
        return Err(already_handled(&row).into());
    }
    let old = row.org()?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(old),
            actor,
            "registry.merger_ignored",
            "registry_merger",
            id,
        )
        .details(json!({
            "commune_nouvelle": row.into_name,
            "siren": row.into_siren,
            "motif": reason,
        })),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(service: &str, start: &str, end: Option<&str>) -> SubscriptionRow {
        SubscriptionRow {
            id: format!("{service}-{start}"),
            org_id: String::new(),
            service: service.into(),
            start_date: start.into(),
            end_date: end.map(str::to_owned),
            max_users: None,
            created_at: 0,
        }
    }

    #[test]
    fn subscriptions_that_overlap_the_commune_nouvelle_end_the_day_before() {
        let on = Date::constant(2026, 1, 1);
        let new = [
            sub("actes", "2025-06-01", None),
            sub("helios", "2020-01-01", Some("2024-12-31")),
        ];
        let old = [
            // Overlaps the commune nouvelle's Actes: ends on 31 December.
            sub("actes", "2025-10-01", None),
            // Overlaps too, but ended before the merger: stays as it is.
            sub("actes", "2025-01-01", Some("2025-09-30")),
            // Helios of the commune nouvelle ended before this one started: moves.
            sub("helios", "2025-01-01", None),
            // A second Helios overlapping the one that just moved: ends.
            sub("helios", "2025-06-01", Some("2026-06-30")),
            // Nothing in the commune nouvelle: moves.
            sub("parapheur", "2025-01-01", None),
            // Starts after the merger and overlaps: ends on its first day.
            sub("actes", "2026-02-01", None),
        ];
        assert_eq!(
            fates(&old, &new, on),
            [
                Fate::End {
                    last_day: "2025-12-31".into()
                },
                Fate::Stay,
                Fate::Move,
                Fate::End {
                    last_day: "2025-12-31".into()
                },
                Fate::Move,
                Fate::End {
                    last_day: "2026-02-01".into()
                },
            ]
        );
        assert_eq!(fates(&old[..1], &[], on), [Fate::Move]);
    }
}
