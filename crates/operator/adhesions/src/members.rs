//! Members: the organisations that joined the operator, their status with its dated history,
//! their college, and the lists the operator works from.
//!
//! An organisation is a member when it has a row in `adhesion_members`; the row holds its
//! current status and `adhesion_status_history` every status it had (append-only). Each
//! change is also a journal event of the member, which its timeline shows.
//!
//! Communes and EPCI are created from the registry only ([`ensure_from_registry`]): their
//! SIREN, INSEE code, EPCI, département and population are the official ones, never typed.

use std::fmt;

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::text::normalize;
use bouquet_kernel::{AppError, Insee, OrgId, OrgKind, Service, Siren};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::orgs::{self, NewOrg};
use bouquet_store::page::{Cursor, Page, text_text_key};
use bouquet_store::query::Query;
use bouquet_store::{Engine, Handle, StoreResult, Tx, exec, run, search};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::registry::Registry;

/// Where a member stands with the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Has asked to join; the membership is not yet decided.
    Candidat,
    Membre,
    /// Still a member, services suspended (unpaid contribution, for instance).
    Suspendu,
    /// Has left.
    Sorti,
    /// A commune that merged into a commune nouvelle: its membership continues there.
    /// Only a merger sets it, never a person.
    Fusionne,
}

impl Status {
    /// The statuses a person may choose (not [`Status::Fusionne`]).
    pub const ALL: [Status; 4] = [
        Status::Candidat,
        Status::Membre,
        Status::Suspendu,
        Status::Sorti,
    ];

    /// Stable code, for storage and the API.
    pub fn code(self) -> &'static str {
        match self {
            Status::Candidat => "candidat",
            Status::Membre => "membre",
            Status::Suspendu => "suspendu",
            Status::Sorti => "sorti",
            Status::Fusionne => "fusionne",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Candidat => "Candidat",
            Status::Membre => "Membre",
            Status::Suspendu => "Suspendu",
            Status::Sorti => "Sorti",
            Status::Fusionne => "Fusionné dans une commune nouvelle",
        }
    }

    /// The status stored under `code`.
    pub fn from_code(code: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .chain([Status::Fusionne])
            .find(|s| s.code() == code)
    }

    /// Members in the full sense: they use the services and count in the contributions.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Membre)
    }

    /// The code, the label, or the feminine or "adhérent" forms people write in a
    /// spreadsheet; case and accents ignored.
    pub fn parse(input: &str) -> Option<Status> {
        match normalize(input).as_str() {
            "candidat" | "candidate" => Some(Status::Candidat),
            "membre" | "adherent" | "adherente" => Some(Status::Membre),
            "suspendu" | "suspendue" => Some(Status::Suspendu),
            "sorti" | "sortie" => Some(Status::Sorti),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A member's current state.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MembershipState {
    pub org_id: String,
    pub status: String,
    pub status_since: String,
    pub college: Option<String>,
    pub merged_into: Option<String>,
    pub created_at: i64,
}

impl MembershipState {
    pub fn status(&self) -> Option<Status> {
        Status::from_code(&self.status)
    }
}

/// One line of the member list.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MemberRow {
    pub id: String,
    pub siren: String,
    pub name: String,
    pub kind: String,
    pub insee: Option<String>,
    pub departement: Option<String>,
    pub population: Option<i64>,
    pub population_year: Option<i32>,
    pub parent_siren: Option<String>,
    pub parent_name: Option<String>,
    pub status: String,
    pub status_since: String,
    pub college: Option<String>,
    pub sort_name: Option<String>,
    pub contact_email: Option<String>,
    /// Signed a convention or charter in force today.
    pub engaged: bool,
}

impl MemberRow {
    pub fn kind(&self) -> Option<OrgKind> {
        self.kind.parse().ok()
    }

    pub fn status(&self) -> Option<Status> {
        Status::from_code(&self.status)
    }
}

/// Kinds the list filters on; `Epci` stands for all four kinds of EPCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindFilter {
    Epci,
    One(OrgKind),
}

impl KindFilter {
    pub fn parse(code: &str) -> Option<Self> {
        if code == "epci" {
            return Some(KindFilter::Epci);
        }
        code.parse().ok().map(KindFilter::One)
    }

    fn kinds(self) -> Vec<OrgKind> {
        match self {
            KindFilter::Epci => OrgKind::ALL.into_iter().filter(|k| k.is_epci()).collect(),
            KindFilter::One(k) => vec![k],
        }
    }
}

/// What the operator filters the member list on; everything optional.
#[derive(Clone, Debug, Default)]
pub struct MemberFilter {
    /// Words of the name, the SIREN or the INSEE code.
    pub query: Option<String>,
    pub kind: Option<KindFilter>,
    /// Members in this EPCI, and the EPCI itself.
    pub epci: Option<OrgId>,
    pub departement: Option<String>,
    pub status: Option<Status>,
    /// Subscribed to this service today.
    pub service: Option<Service>,
    /// Signed (or not) a convention or charter in force today.
    pub engaged: Option<bool>,
    pub population_min: Option<i64>,
    pub population_max: Option<i64>,
    /// Only these organisations (what a person who is not the operator's may see).
    pub only: Option<Vec<OrgId>>,
}

const MEMBER_SELECT: &str =
    "SELECT o.id, o.siren, o.name, o.kind, o.insee, o.departement, o.population, o.population_year,
        p.siren AS parent_siren, p.name AS parent_name,
        m.status, m.status_since, m.college, o.sort_name, o.contact_email";

/// A signed convention or charter in force on the date bound at `t`.
fn engaged_clause(t: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM engagements e WHERE e.org_id = o.id AND e.status = 'signe'
                 AND e.starts_on <= {t} AND (e.ends_on IS NULL OR e.ends_on >= {t}))"
    )
}

/// The member list for `filter` as of `today`: its rows, or their number.
fn filtered(engine: Engine, filter: &MemberFilter, today: &str, count: bool) -> Query {
    let mut q = if count {
        Query::new("SELECT COUNT(*)")
    } else {
        let mut q = Query::new(MEMBER_SELECT);
        let t = q.arg(today);
        q.push(&format!(", {} AS engaged", engaged_clause(&t)));
        q
    };
    // Counting walks the members, not every organisation: without CROSS JOIN, SQLite's
    // planner scans `organisations` (35,000 companies included at `demo --scale`) and looks
    // each one up among the members, ten times slower. The page of rows keeps the plain
    // JOIN, which reads organisations in name order and stops at the page's end.
    let join = if count && engine == Engine::Sqlite {
        "CROSS JOIN"
    } else {
        "JOIN"
    };
    q.push(&format!(
        " FROM adhesion_members m
         {join} organisations o ON o.id = m.org_id
         LEFT JOIN organisations p ON p.id = o.parent_id
         WHERE TRUE"
    ));
    if let Some(expr) = filter
        .query
        .as_deref()
        .and_then(|text| search::match_expression(engine, text))
    {
        let m = q.arg(expr);
        let k = q.arg("organisation");
        q.push(&format!(
            " AND o.id IN ({})",
            search::id_subquery_at(engine, &m, &k)
        ));
    }
    if let Some(kind) = filter.kind {
        let codes: Vec<String> = kind.kinds().iter().map(|k| q.arg(k.code())).collect();
        q.push(&format!(" AND o.kind IN ({})", codes.join(", ")));
    }
    if let Some(epci) = filter.epci {
        let e = q.arg(epci.to_string());
        q.push(&format!(" AND (o.parent_id = {e} OR o.id = {e})"));
    }
    if let Some(dep) = &filter.departement {
        let d = q.arg(dep.as_str());
        q.push(&format!(" AND o.departement = {d}"));
    }
    if let Some(status) = filter.status {
        let s = q.arg(status.code());
        q.push(&format!(" AND m.status = {s}"));
    }
    if let Some(service) = filter.service {
        let s = q.arg(service.code());
        let t = q.arg(today);
        q.push(&format!(
            " AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.org_id = o.id AND s.service = {s}
                          AND s.start_date <= {t} AND (s.end_date IS NULL OR s.end_date >= {t}))"
        ));
    }
    if let Some(engaged) = filter.engaged {
        let t = q.arg(today);
        q.push(&format!(
            " AND {}{}",
            if engaged { "" } else { "NOT " },
            engaged_clause(&t)
        ));
    }
    if let Some(min) = filter.population_min {
        let p = q.arg(min);
        q.push(&format!(" AND o.population >= {p}"));
    }
    if let Some(max) = filter.population_max {
        let p = q.arg(max);
        q.push(&format!(" AND o.population <= {p}"));
    }
    if let Some(only) = &filter.only {
        if only.is_empty() {
            q.push(" AND FALSE");
        } else {
            let ps: Vec<String> = only.iter().map(|id| q.arg(id.to_string())).collect();
            q.push(&format!(" AND o.id IN ({})", ps.join(", ")));
        }
    }
    q
}

/// One page of members, by name.
pub async fn list(
    h: &mut impl Handle,
    filter: &MemberFilter,
    today: &str,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<MemberRow>> {
    let mut q = filtered(h.engine(), filter, today, false);
    let (c_name, c_id) = text_text_key(cursor)?;
    if let (Some(name), Some(id)) = (c_name, c_id) {
        let n = q.arg(name);
        let i = q.arg(id);
        q.push(&format!(
            " AND (o.sort_name > {n} OR (o.sort_name = {n} AND o.id > {i}))"
        ));
    }
    let l = q.arg(limit + 1);
    q.push(&format!(" ORDER BY o.sort_name, o.id LIMIT {l}"));
    let rows = q.fetch_all(h).await?;
    Ok(Page::from_rows(rows, limit, |r: &MemberRow| {
        Cursor::new()
            .push_text(r.sort_name.as_deref().unwrap_or_default())
            .push_text(&r.id)
    }))
}

/// Every member matching `filter`, by name (exports; a few thousand rows at most).
pub async fn all(
    h: &mut impl Handle,
    filter: &MemberFilter,
    today: &str,
) -> StoreResult<Vec<MemberRow>> {
    let mut q = filtered(h.engine(), filter, today, false);
    q.push(" ORDER BY o.sort_name, o.id");
    q.fetch_all(h).await
}

/// How many members match `filter`.
pub async fn count(h: &mut impl Handle, filter: &MemberFilter, today: &str) -> StoreResult<i64> {
    filtered(h.engine(), filter, today, true)
        .fetch_count(h)
        .await
}

/// The services each of `orgs` has subscribed today: `(org_id, service code)`.
pub async fn services_today(
    h: &mut impl Handle,
    orgs: &[String],
    today: &str,
) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    // Bounded lists keep the number of placeholders well under both engines' limits.
    for chunk in orgs.chunks(500) {
        let mut q = Query::new("SELECT org_id, service FROM subscriptions WHERE org_id IN (");
        let ids: Vec<String> = chunk.iter().map(|id| q.arg(id.as_str())).collect();
        q.push(&ids.join(", "));
        let t = q.arg(today);
        q.push(&format!(
            ") AND start_date <= {t} AND (end_date IS NULL OR end_date >= {t}) ORDER BY org_id, service"
        ));
        let rows: Vec<(String, String)> = q.fetch_all(h).await?;
        out.extend(rows);
    }
    Ok(out)
}

/// For each of `sirens` already on the platform: its SIREN and its member status, if any.
pub async fn states_by_siren(
    h: &mut impl Handle,
    sirens: &[&str],
) -> StoreResult<Vec<(String, Option<String>)>> {
    if sirens.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::new(
        "SELECT o.siren, m.status FROM organisations o
         LEFT JOIN adhesion_members m ON m.org_id = o.id WHERE o.siren IN (",
    );
    let ps: Vec<String> = sirens.iter().map(|s| q.arg(*s)).collect();
    q.push(&ps.join(", "));
    q.push(")");
    q.fetch_all(h).await
}

/// What the platform knows of an organisation listed in a territory table.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TerritoryRow {
    pub id: String,
    pub siren: String,
    pub name: String,
    pub kind: String,
    pub population: Option<i64>,
    pub status: Option<String>,
    pub engaged: bool,
}

/// The organisations of `sirens` on the platform, and those whose parent is `epci`: their
/// member status and whether a convention or charter is in force on `today`.
pub async fn territory(
    h: &mut impl Handle,
    epci: OrgId,
    sirens: &[&str],
    today: &str,
) -> StoreResult<Vec<TerritoryRow>> {
    let mut out: Vec<TerritoryRow> = Vec::new();
    let mut chunks: Vec<&[&str]> = sirens.chunks(500).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut q = Query::new("SELECT o.id, o.siren, o.name, o.kind, o.population, m.status");
        let t = q.arg(today);
        q.push(&format!(
            ", {} AS engaged FROM organisations o
             LEFT JOIN adhesion_members m ON m.org_id = o.id WHERE ",
            engaged_clause(&t)
        ));
        let mut conditions = Vec::new();
        if !chunk.is_empty() {
            let ps: Vec<String> = chunk.iter().map(|s| q.arg(*s)).collect();
            conditions.push(format!("o.siren IN ({})", ps.join(", ")));
        }
        if i == 0 {
            let e = q.arg(epci.to_string());
            conditions.push(format!("o.parent_id = {e}"));
        }
        q.push(&conditions.join(" OR "));
        let rows: Vec<TerritoryRow> = q.fetch_all(h).await?;
        for r in rows {
            if !out.iter().any(|o| o.id == r.id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// EPCI that are members or have member communes, as `(siren, name)` by name.
pub async fn epci_choices(h: &mut impl Handle) -> StoreResult<Vec<(String, String)>> {
    let rows = run!(h, |c| sqlx::query_as(
        "SELECT e.siren, e.name FROM organisations e
         WHERE e.kind IN ('cc', 'ca', 'cu', 'metropole')
           AND (EXISTS (SELECT 1 FROM adhesion_members m WHERE m.org_id = e.id)
                OR EXISTS (SELECT 1 FROM organisations o JOIN adhesion_members m ON m.org_id = o.id
                           WHERE o.parent_id = e.id))
         ORDER BY e.sort_name, e.id"
    )
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

pub async fn get(h: &mut impl Handle, org: OrgId) -> StoreResult<Option<MembershipState>> {
    let row = run!(h, |c| sqlx::query_as(
        "SELECT org_id, status, status_since, college, merged_into, created_at
         FROM adhesion_members WHERE org_id = $1"
    )
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// One status a member had.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: String,
    pub status: String,
    pub effective_date: String,
    pub reason: Option<String>,
    pub deliberation_ref: Option<String>,
    pub actor_label: String,
    pub created_at: i64,
}

impl HistoryRow {
    pub fn status(&self) -> Option<Status> {
        Status::from_code(&self.status)
    }
}

/// Every status `org` had, most recent first.
pub async fn history(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<HistoryRow>> {
    let rows = run!(h, |c| sqlx::query_as(
        "SELECT id, status, effective_date, reason, deliberation_ref, actor_label, created_at
         FROM adhesion_status_history WHERE org_id = $1
         ORDER BY effective_date DESC, created_at DESC"
    )
    .bind(org.to_string())
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// A change of status, as the operator records it.
#[derive(Clone, Debug)]
pub struct StatusChange {
    pub status: Status,
    /// The date the status takes effect (a deliberation's date, usually).
    pub effective: Date,
    pub reason: Option<String>,
    /// The deliberation that decided it (its ACTES identifier, for instance).
    pub deliberation_ref: Option<String>,
}

fn check_change(change: &StatusChange, today: Date) -> Result<(), AppError> {
    if change.effective > today {
        return Err(AppError::invalid(
            "effective_date",
            "La date d'effet ne peut pas être dans le futur : enregistrez le changement le jour où il prend effet.",
        ));
    }
    if change.effective.year() < 1990 {
        return Err(AppError::invalid(
            "effective_date",
            "Saisissez une date d'effet valide.",
        ));
    }
    for (field, value, max) in [
        ("reason", &change.reason, 500),
        ("deliberation_ref", &change.deliberation_ref, 100),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(AppError::invalid(
                field,
                format!("{max} caractères au plus."),
            ));
        }
    }
    Ok(())
}

async fn append_history(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    change: &StatusChange,
    actor: &AuditActor,
) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "INSERT INTO adhesion_status_history (id, org_id, status, effective_date, reason, deliberation_ref, actor_label, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(new_id().to_string())
    .bind(org.to_string())
    .bind(change.status.code())
    .bind(change.effective.to_string())
    .bind(&change.reason)
    .bind(&change.deliberation_ref)
    .bind(&actor.label)
    .bind(to_micros(now)))?;
    Ok(())
}

/// Makes `org` a member with a first status. Refused for the operator and companies, and
/// for an organisation that already is one.
pub async fn enroll(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    org: OrgId,
    change: &StatusChange,
    college: Option<&str>,
    actor: &AuditActor,
) -> StoreResult<()> {
    check_change(change, today)?;
    let row = orgs::get(tx, org).await?.ok_or(AppError::NotFound)?;
    let kind = row.kind()?;
    if matches!(kind, OrgKind::Operateur | OrgKind::Entreprise) {
        return Err(AppError::invalid(
            "siren",
            "Une entreprise ou l'opérateur lui-même ne peut pas être membre.",
        )
        .into());
    }
    if change.status == Status::Fusionne {
        return Err(AppError::invalid("status", "Choisissez un statut d'adhésion.").into());
    }
    let college = college
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| default_college(kind).to_owned());
    let inserted = exec!(tx, sqlx::query(
        "INSERT INTO adhesion_members (org_id, status, status_since, college, merged_into, created_at, updated_at)
         VALUES ($1, $2, $3, $4, NULL, $5, $5)
         ON CONFLICT (org_id) DO NOTHING"
    )
    .bind(org.to_string())
    .bind(change.status.code())
    .bind(change.effective.to_string())
    .bind(&college)
    .bind(to_micros(now)))?;
    if inserted == 0 {
        return Err(AppError::Conflict(format!(
            "{} est déjà membre : modifiez son statut depuis sa page.",
            row.name
        ))
        .into());
    }
    append_history(tx, now, org, change, actor).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "member.enrolled", "organisation", org).details(json!({
            "statut": change.status.code(),
            "date_effet": change.effective.to_string(),
            "college": college,
            "deliberation": change.deliberation_ref,
        })),
    )
    .await?;
    Ok(())
}

/// Records a new status for a member. Returns false when `org` is not a member.
pub async fn change_status(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    org: OrgId,
    change: &StatusChange,
    actor: &AuditActor,
) -> StoreResult<bool> {
    check_change(change, today)?;
    let Some(current) = get(tx, org).await? else {
        return Ok(false);
    };
    if current.status() == Some(Status::Fusionne) {
        return Err(AppError::Conflict(
            "Ce membre a fusionné dans une commune nouvelle : son adhésion continue dans la commune nouvelle.".into(),
        )
        .into());
    }
    if change.status == Status::Fusionne {
        return Err(AppError::invalid(
            "status",
            "Une fusion s'enregistre depuis l'alerte du référentiel, pour déplacer aussi les utilisateurs et l'historique.",
        )
        .into());
    }
    if current.status() == Some(change.status) {
        return Err(AppError::invalid(
            "status",
            format!("Le membre est déjà « {} ».", change.status.label()),
        )
        .into());
    }
    if change.effective.to_string() < current.status_since {
        return Err(AppError::invalid(
            "effective_date",
            format!(
                "La date d'effet ne peut pas précéder celle du statut actuel ({}).",
                french_date(&current.status_since)
            ),
        )
        .into());
    }
    exec!(tx, sqlx::query(
        "UPDATE adhesion_members SET status = $2, status_since = $3, updated_at = $4 WHERE org_id = $1"
    )
    .bind(org.to_string())
    .bind(change.status.code())
    .bind(change.effective.to_string())
    .bind(to_micros(now)))?;
    append_history(tx, now, org, change, actor).await?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "member.status_changed",
            "organisation",
            org,
        )
        .details(json!({
            "avant": current.status,
            "statut": change.status.code(),
            "date_effet": change.effective.to_string(),
            "motif": change.reason,
            "deliberation": change.deliberation_ref,
        })),
    )
    .await?;
    Ok(true)
}

/// Puts a member in another college.
pub async fn set_college(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    college: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let college = college.trim();
    if college.is_empty() || college.chars().count() > 100 {
        return Err(AppError::invalid(
            "college",
            "Le collège est obligatoire (100 caractères au plus).",
        )
        .into());
    }
    let Some(current) = get(tx, org).await? else {
        return Ok(false);
    };
    if current.college.as_deref() == Some(college) {
        return Ok(true);
    }
    exec!(
        tx,
        sqlx::query("UPDATE adhesion_members SET college = $2, updated_at = $3 WHERE org_id = $1")
            .bind(org.to_string())
            .bind(college)
            .bind(to_micros(now))
    )?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "member.college_changed",
            "organisation",
            org,
        )
        .details(json!({ "avant": current.college, "college": college })),
    )
    .await?;
    Ok(true)
}

/// The colleges in use, for the form's suggestions.
pub async fn colleges(h: &mut impl Handle) -> StoreResult<Vec<String>> {
    let rows: Vec<String> = run!(h, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT college FROM adhesion_members WHERE college IS NOT NULL ORDER BY college"
    )
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

/// The college a new member joins unless the operator says otherwise.
pub fn default_college(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Region | OrgKind::Departement => "Région et départements",
        k if k.is_epci() => "Intercommunalités",
        OrgKind::Commune | OrgKind::Ccas => "Communes",
        _ => "Autres membres",
    }
}

/// "2026-03-01" → "01/03/2026".
pub fn french_date(iso: &str) -> String {
    iso.parse::<Date>()
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| iso.to_owned())
}

/// The organisation of a commune or an EPCI of the registry: the existing one, or a new one
/// made from the registry's data (a commune's EPCI first, so that its parent exists).
pub async fn ensure_from_registry(
    tx: &mut Tx,
    now: Timestamp,
    registry: &Registry,
    siren: &Siren,
    actor: &AuditActor,
) -> StoreResult<OrgId> {
    if let Some(row) = orgs::get_by_siren(tx, siren).await? {
        return row.id();
    }
    if let Some(commune) = registry.commune_by_siren(siren.as_str()) {
        let epci_siren = Siren::parse(&commune.epci_siren).map_err(|_| {
            AppError::invalid(
                "siren",
                "Le référentiel donne à cette commune un EPCI invalide.",
            )
        })?;
        let epci = Box::pin(ensure_from_registry(tx, now, registry, &epci_siren, actor)).await?;
        let insee = Insee::parse(&commune.insee)
            .map_err(|_| AppError::invalid("siren", "Code INSEE invalide dans le référentiel."))?;
        let mut new = NewOrg::new(siren.clone(), commune.name.clone(), OrgKind::Commune);
        new.parent = Some(epci);
        new.insee = Some(insee);
        new.departement = Some(commune.departement.clone());
        new.population = Some(commune.population_totale);
        new.population_municipale = Some(commune.population_municipale);
        new.population_year = Some(registry.population_year);
        return orgs::create(tx, now, new, actor).await;
    }
    if let Some(epci) = registry.epci_by_siren(siren.as_str()) {
        let mut new = NewOrg::new(siren.clone(), epci.name.clone(), epci.kind);
        new.departement = Some(epci.departement.clone());
        new.population = Some(epci.population_totale);
        new.population_municipale = Some(epci.population_municipale);
        new.population_year = Some(registry.population_year);
        return orgs::create(tx, now, new, actor).await;
    }
    Err(AppError::invalid(
        "siren",
        "Ce SIREN n'est ni celui d'une commune ni celui d'un EPCI du référentiel officiel.",
    )
    .into())
}

/// A member to record with [`enroll_many`]: its statuses in date order (the first is the
/// enrolment, each next one a change of status) and its college (the kind's default if none).
#[derive(Clone, Debug)]
pub struct Enrolment {
    pub org: OrgId,
    pub history: Vec<StatusChange>,
    pub college: Option<String>,
}

/// Records many members: exactly what [`enroll`] then [`change_status`] for each later status
/// write (the member's row with its last status, every status in its history, the
/// `member.enrolled` and `member.status_changed` events), with the same checks, in a few
/// multi-row statements. All or nothing (on an error, drop the caller's transaction).
pub async fn enroll_many(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    members: &[Enrolment],
    actor: &AuditActor,
) -> StoreResult<()> {
    use std::collections::HashMap;

    use bouquet_store::bulk::{self, int, opt_text, text};
    use bouquet_store::query::Arg;
    let ids: Vec<Arg> = members.iter().map(|m| text(m.org.to_string())).collect();
    let kinds: Vec<(String, String, String)> = bulk::fetch_in(
        tx,
        "SELECT id, kind, name FROM organisations WHERE id IN",
        &ids,
        "",
    )
    .await?;
    let kinds: HashMap<String, (String, String)> = kinds
        .into_iter()
        .map(|(id, kind, name)| (id, (kind, name)))
        .collect();
    let already: Vec<(String,)> = bulk::fetch_in(
        tx,
        "SELECT org_id FROM adhesion_members WHERE org_id IN",
        &ids,
        "",
    )
    .await?;
    if let Some((id,)) = already.first() {
        let name = kinds.get(id).map_or("", |(_, n)| n.as_str());
        return Err(AppError::Conflict(format!(
            "{name} est déjà membre : modifiez son statut depuis sa page."
        ))
        .into());
    }
    let now_us = to_micros(now);
    let mut rows = Vec::with_capacity(members.len());
    let mut history = Vec::new();
    let mut events = Vec::new();
    for m in members {
        let org = m.org.to_string();
        let (kind, _) = kinds.get(&org).ok_or(AppError::NotFound)?;
        let kind: OrgKind = kind
            .parse()
            .map_err(|_| AppError::invalid("siren", "Type d'organisation inconnu."))?;
        if matches!(kind, OrgKind::Operateur | OrgKind::Entreprise) {
            return Err(AppError::invalid(
                "siren",
                "Une entreprise ou l'opérateur lui-même ne peut pas être membre.",
            )
            .into());
        }
        let Some((first, later)) = m.history.split_first() else {
            return Err(AppError::invalid("status", "Choisissez un statut d'adhésion.").into());
        };
        let mut previous: Option<&StatusChange> = None;
        for change in std::iter::once(first).chain(later) {
            check_change(change, today)?;
            if change.status == Status::Fusionne {
                return Err(AppError::invalid("status", "Choisissez un statut d'adhésion.").into());
            }
            if let Some(p) = previous {
                if p.status == change.status {
                    return Err(AppError::invalid(
                        "status",
                        format!("Le membre est déjà « {} ».", change.status.label()),
                    )
                    .into());
                }
                if change.effective < p.effective {
                    return Err(AppError::invalid(
                        "effective_date",
                        format!(
                            "La date d'effet ne peut pas précéder celle du statut actuel ({}).",
                            french_date(&p.effective.to_string())
                        ),
                    )
                    .into());
                }
            }
            history.push(vec![
                text(new_id().to_string()),
                text(org.as_str()),
                text(change.status.code()),
                text(change.effective.to_string()),
                opt_text(change.reason.clone()),
                opt_text(change.deliberation_ref.clone()),
                text(actor.label.as_str()),
                int(now_us),
            ]);
            previous = Some(change);
        }
        let college = m
            .college
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| default_college(kind).to_owned());
        let last = previous.unwrap_or(first);
        rows.push(vec![
            text(org.as_str()),
            text(last.status.code()),
            text(last.effective.to_string()),
            text(college.as_str()),
            int(now_us),
            int(now_us),
        ]);
        events.push(
            NewEvent::new(Some(m.org), actor, "member.enrolled", "organisation", m.org).details(
                json!({
                    "statut": first.status.code(),
                    "date_effet": first.effective.to_string(),
                    "college": college,
                    "deliberation": first.deliberation_ref,
                }),
            ),
        );
        let mut before = first;
        for change in later {
            events.push(
                NewEvent::new(
                    Some(m.org),
                    actor,
                    "member.status_changed",
                    "organisation",
                    m.org,
                )
                .details(json!({
                    "avant": before.status.code(),
                    "statut": change.status.code(),
                    "date_effet": change.effective.to_string(),
                    "motif": change.reason,
                    "deliberation": change.deliberation_ref,
                })),
            );
            before = change;
        }
    }
    let inserted = bulk::insert(
        tx,
        "INSERT INTO adhesion_members (org_id, status, status_since, college, created_at, updated_at)",
        &rows,
        "ON CONFLICT (org_id) DO NOTHING",
    )
    .await?;
    if inserted != rows.len() as u64 {
        return Err(AppError::Conflict(
            "Une de ces organisations est déjà membre (ou est donnée deux fois).".into(),
        )
        .into());
    }
    bulk::insert(
        tx,
        "INSERT INTO adhesion_status_history (id, org_id, status, effective_date, reason, deliberation_ref, actor_label, created_at)",
        &history,
        "",
    )
    .await?;
    audit::append_many(tx, now, &events).await?;
    Ok(())
}
