//! Organisations, their subscriptions to services, and the facts the policy needs.

use bouquet_kernel::clock::{time_zone, to_micros};
use bouquet_kernel::ids::new_id;
use bouquet_kernel::org::{DEFAULT_TIME_ZONE, time_zone_for_departement};
use bouquet_kernel::policy::OrgFacts;
use bouquet_kernel::{AppError, Email, Insee, OrgId, OrgKind, Service, ServiceSet, Siren, Siret};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use crate::audit::{self, AuditActor, NewEvent};
use crate::db::{Handle, Tx};
use crate::error::{StoreError, StoreResult};
use crate::page::{Cursor, Page};
use crate::{exec, run, search};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrgRow {
    pub id: String,
    pub siren: String,
    pub siret: Option<String>,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub insee: Option<String>,
    pub departement: Option<String>,
    /// Population totale (the registry's `ptot`).
    pub population: Option<i64>,
    pub population_year: Option<i32>,
    pub time_zone: String,
    pub contact_email: Option<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub population_municipale: Option<i64>,
    /// See [`sort_key`].
    pub sort_name: Option<String>,
}

impl OrgRow {
    pub fn id(&self) -> StoreResult<OrgId> {
        self.id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("identifiant d'organisation {}", self.id)))
    }

    pub fn kind(&self) -> StoreResult<OrgKind> {
        self.kind
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("type d'organisation {}", self.kind)))
    }

    pub fn parent(&self) -> Option<OrgId> {
        self.parent_id.as_deref().and_then(|p| p.parse().ok())
    }

    pub fn tz(&self) -> TimeZone {
        time_zone(&self.time_zone)
    }

    pub fn kind_label(&self) -> &'static str {
        self.kind().map_or("Organisation", OrgKind::label)
    }
}

const ORG_COLUMNS: &str = "id, siren, siret, name, kind, parent_id, insee, departement, population, population_year, time_zone, contact_email, active, created_at, updated_at, population_municipale, sort_name";

/// An organisation to create.
#[derive(Clone, Debug)]
pub struct NewOrg {
    pub siren: Siren,
    pub siret: Option<Siret>,
    pub name: String,
    pub kind: OrgKind,
    pub parent: Option<OrgId>,
    pub insee: Option<Insee>,
    pub departement: Option<String>,
    /// Population totale, and municipale (barèmes say which they use).
    pub population: Option<i64>,
    pub population_municipale: Option<i64>,
    pub population_year: Option<i32>,
    pub contact_email: Option<Email>,
}

impl NewOrg {
    pub fn new(siren: Siren, name: impl Into<String>, kind: OrgKind) -> Self {
        Self {
            siren,
            siret: None,
            name: name.into(),
            kind,
            parent: None,
            insee: None,
            departement: None,
            population: None,
            population_municipale: None,
            population_year: None,
            contact_email: None,
        }
    }
}

/// How organisation names sort, the same on both engines: "Étrelles" between "Essé" and
/// "Fougères".
pub fn sort_key(name: &str) -> String {
    bouquet_kernel::text::normalize(name)
}

/// The trimmed name (checked), the département (given, or the INSEE code's) and the time
/// zone of a new organisation: what [`create`] and [`create_many`] store.
fn checked(org: &NewOrg) -> StoreResult<(String, Option<String>, &'static str)> {
    let name = org.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(
            AppError::invalid("name", "Le nom est obligatoire (200 caractères au plus).").into(),
        );
    }
    let departement = org
        .departement
        .clone()
        .or_else(|| org.insee.as_ref().map(|i| i.departement().to_owned()));
    let tz = departement
        .as_deref()
        .map_or(DEFAULT_TIME_ZONE, time_zone_for_departement);
    Ok((name, departement, tz))
}

/// The text an organisation is found by: its name, SIREN and INSEE code.
fn search_text(name: &str, org: &NewOrg) -> String {
    format!(
        "{name} {} {}",
        org.siren,
        org.insee.as_ref().map_or("", Insee::as_str)
    )
}

/// Creates an organisation; its chain of the journal starts with this event.
pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: NewOrg,
    actor: &AuditActor,
) -> StoreResult<OrgId> {
    let (name, departement, tz) = checked(&org)?;
    let id = OrgId(new_id());
    let now_us = to_micros(now);
    let result = exec!(tx, sqlx::query(
        "INSERT INTO organisations (id, siren, siret, name, kind, parent_id, insee, departement, population, population_year, time_zone, contact_email, active, created_at, updated_at, population_municipale, sort_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE, $13, $13, $14, $15)
         ON CONFLICT (siren) DO NOTHING"
    )
    .bind(id.to_string())
    .bind(org.siren.as_str())
    .bind(org.siret.as_ref().map(Siret::as_str))
    .bind(&name)
    .bind(org.kind.code())
    .bind(org.parent.map(|p| p.to_string()))
    .bind(org.insee.as_ref().map(Insee::as_str))
    .bind(&departement)
    .bind(org.population)
    .bind(org.population_year)
    .bind(tz)
    .bind(org.contact_email.as_ref().map(Email::as_str))
    .bind(now_us)
    .bind(org.population_municipale)
    .bind(sort_key(&name)))?;
    // ON CONFLICT DO NOTHING rather than a caught unique violation: on PostgreSQL a failed
    // statement would abort the caller's whole transaction.
    if result == 0 {
        return Err(AppError::Conflict(format!(
            "Une organisation existe déjà avec le SIREN {}.",
            org.siren
        ))
        .into());
    }
    search::index(
        tx,
        None,
        "organisation",
        &id.to_string(),
        &search_text(&name, &org),
    )
    .await?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(id), actor, "organisation.created", "organisation", id).details(json!({
            "siren": org.siren.as_str(),
            "nom": name,
            "type": org.kind.code(),
        })),
    )
    .await?;
    Ok(id)
}

/// Creates many organisations: exactly what [`create`] writes for each (the same row, its
/// entry in the search index, and the `organisation.created` event that starts its chain of
/// the journal), in a few multi-row statements. All or nothing: when a SIREN is already
/// taken (or listed twice) the error is the one [`create`] gives, and the caller's
/// transaction must be dropped. A parent must exist before its children's call. Returns the
/// new ids, in order.
pub async fn create_many(
    tx: &mut Tx,
    now: Timestamp,
    orgs: &[NewOrg],
    actor: &AuditActor,
) -> StoreResult<Vec<OrgId>> {
    use crate::bulk::{self, int, opt_int, opt_text, text};
    let now_us = to_micros(now);
    let mut ids = Vec::with_capacity(orgs.len());
    let mut rows = Vec::with_capacity(orgs.len());
    let mut docs = Vec::with_capacity(orgs.len());
    let mut events = Vec::with_capacity(orgs.len());
    for org in orgs {
        let (name, departement, tz) = checked(org)?;
        let id = OrgId(new_id());
        rows.push(vec![
            text(id.to_string()),
            text(org.siren.as_str()),
            opt_text(org.siret.as_ref().map(Siret::as_str)),
            text(name.as_str()),
            text(org.kind.code()),
            opt_text(org.parent.map(|p| p.to_string())),
            opt_text(org.insee.as_ref().map(Insee::as_str)),
            opt_text(departement),
            opt_int(org.population),
            opt_int(org.population_year),
            text(tz),
            opt_text(org.contact_email.as_ref().map(Email::as_str)),
            crate::query::Arg::Bool(true),
            int(now_us),
            int(now_us),
            opt_int(org.population_municipale),
            text(sort_key(&name)),
        ]);
        docs.push(search::Doc {
            org: None,
            kind: "organisation",
            object_id: id.to_string(),
            text: search_text(&name, org),
        });
        events.push(
            NewEvent::new(Some(id), actor, "organisation.created", "organisation", id).details(
                json!({
                    "siren": org.siren.as_str(),
                    "nom": name,
                    "type": org.kind.code(),
                }),
            ),
        );
        ids.push(id);
    }
    let inserted = bulk::insert(
        tx,
        "INSERT INTO organisations (id, siren, siret, name, kind, parent_id, insee, departement, population, population_year, time_zone, contact_email, active, created_at, updated_at, population_municipale, sort_name)",
        &rows,
        "ON CONFLICT (siren) DO NOTHING",
    )
    .await?;
    if inserted != rows.len() as u64 {
        // Which one: a SIREN that existed before, or one listed twice.
        let sirens: Vec<crate::query::Arg> = orgs.iter().map(|o| text(o.siren.as_str())).collect();
        let ours: std::collections::HashSet<String> = ids.iter().map(|i| i.to_string()).collect();
        let taken: Vec<(String, String)> = bulk::fetch_in(
            tx,
            "SELECT siren, id FROM organisations WHERE siren IN",
            &sirens,
            "",
        )
        .await?;
        let siren = taken
            .iter()
            .find(|(_, id)| !ours.contains(id))
            .map(|(s, _)| s.clone())
            .or_else(|| {
                let mut seen = std::collections::HashSet::new();
                orgs.iter()
                    .find(|o| !seen.insert(o.siren.as_str()))
                    .map(|o| o.siren.to_string())
            })
            .unwrap_or_default();
        return Err(AppError::Conflict(format!(
            "Une organisation existe déjà avec le SIREN {siren}."
        ))
        .into());
    }
    search::index_many(tx, &docs).await?;
    audit::append_many(tx, now, &events).await?;
    Ok(ids)
}

pub async fn get(h: &mut impl Handle, id: OrgId) -> StoreResult<Option<OrgRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

pub async fn get_by_siren(h: &mut impl Handle, siren: &Siren) -> StoreResult<Option<OrgRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM organisations WHERE siren = $1"
    )))
    .bind(siren.as_str())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// The communes (and CCAS) of an EPCI.
pub async fn children(h: &mut impl Handle, parent: OrgId) -> StoreResult<Vec<OrgRow>> {
    let rows = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORG_COLUMNS} FROM organisations WHERE parent_id = $1 ORDER BY sort_name, id"
    )))
    .bind(parent.to_string())
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

#[derive(Clone, Debug, Default)]
pub struct OrgFilter {
    pub query: Option<String>,
    pub kind: Option<OrgKind>,
}

/// Organisations by name, with search and cursor pagination.
pub async fn list(
    h: &mut impl Handle,
    filter: &OrgFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> StoreResult<Page<OrgRow>> {
    let engine = h.engine();
    let expr = filter
        .query
        .as_deref()
        .and_then(|q| search::match_expression(engine, q));
    let (c_name, c_id) = crate::page::text_text_key(cursor)?;
    let search_clause = if expr.is_some() {
        format!("AND id IN ({})", search::id_subquery(engine, 5, 6))
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {ORG_COLUMNS} FROM organisations
         WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1)
           AND (CAST($2 AS TEXT) IS NULL OR sort_name > $2 OR (sort_name = $2 AND id > $3))
           {search_clause}
         ORDER BY sort_name, id LIMIT $4"
    );
    let rows: Vec<OrgRow> = run!(h, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(filter.kind.map(OrgKind::code))
            .bind(&c_name)
            .bind(&c_id)
            .bind(limit + 1);
        if let Some(e) = &expr {
            q = q.bind(e).bind("organisation");
        }
        q.fetch_all(c).await
    })?;
    Ok(Page::from_rows(rows, limit, |r| {
        Cursor::new()
            .push_text(r.sort_name.as_deref().unwrap_or_default())
            .push_text(&r.id)
    }))
}

pub async fn count(h: &mut impl Handle) -> StoreResult<i64> {
    let n: i64 = run!(h, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM organisations"
    )
    .fetch_one(c)
    .await)?;
    Ok(n)
}

/// Changes the settings a member administrator controls.
pub async fn update_settings(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    contact_email: Option<&Email>,
    actor: &AuditActor,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("UPDATE organisations SET contact_email = $2, updated_at = $3 WHERE id = $1")
            .bind(org.to_string())
            .bind(contact_email.map(Email::as_str))
            .bind(to_micros(now))
    )?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "organisation.updated",
            "organisation",
            org,
        )
        .details(json!({ "courriel_de_contact": contact_email.map(Email::as_str) })),
    )
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub org_id: String,
    pub service: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub max_users: Option<i32>,
    pub created_at: i64,
}

impl SubscriptionRow {
    pub fn service(&self) -> Option<Service> {
        self.service.parse().ok()
    }

    /// Active on `today` (`YYYY-MM-DD` in the organisation's time zone).
    pub fn active_on(&self, today: &str) -> bool {
        self.start_date.as_str() <= today && self.end_date.as_deref().is_none_or(|end| end >= today)
    }
}

/// A subscription to create.
#[derive(Clone, Debug)]
pub struct NewSubscription<'a> {
    pub service: Service,
    /// `YYYY-MM-DD`, in the organisation's time zone.
    pub start_date: &'a str,
    pub end_date: Option<&'a str>,
    /// At most this many people may use the service (none: no cap).
    pub max_users: Option<i32>,
}

impl<'a> NewSubscription<'a> {
    pub fn from(service: Service, start_date: &'a str) -> Self {
        Self {
            service,
            start_date,
            end_date: None,
            max_users: None,
        }
    }
}

/// Subscribes `org` to a service for a period; refused when it overlaps a subscription to
/// the same service.
pub async fn subscribe(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    sub: NewSubscription<'_>,
    actor: &AuditActor,
) -> StoreResult<String> {
    let valid_date = |d: &str| d.parse::<jiff::civil::Date>().is_ok();
    if !valid_date(sub.start_date) {
        return Err(AppError::invalid("start_date", "Saisissez une date de début valide.").into());
    }
    if sub.end_date.is_some_and(|end| !valid_date(end)) {
        return Err(AppError::invalid("end_date", "Saisissez une date de fin valide.").into());
    }
    if sub.end_date.is_some_and(|end| end < sub.start_date) {
        return Err(
            AppError::invalid("end_date", "La date de fin doit suivre la date de début.").into(),
        );
    }
    if sub.max_users.is_some_and(|n| n < 1) {
        return Err(AppError::invalid(
            "max_users",
            "Le nombre maximal d'utilisateurs doit être d'au moins 1.",
        )
        .into());
    }
    let overlapping: i64 = run!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions
         WHERE org_id = $1 AND service = $2
           AND (CAST($4 AS TEXT) IS NULL OR start_date <= $4)
           AND (end_date IS NULL OR end_date >= $3)"
    )
    .bind(org.to_string())
    .bind(sub.service.code())
    .bind(sub.start_date)
    .bind(sub.end_date)
    .fetch_one(c)
    .await)?;
    if overlapping > 0 {
        return Err(AppError::Conflict(format!(
            "Un abonnement au service « {} » couvre déjà cette période : mettez-y fin d'abord.",
            sub.service.label()
        ))
        .into());
    }
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO subscriptions (id, org_id, service, start_date, end_date, max_users, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(sub.service.code())
    .bind(sub.start_date)
    .bind(sub.end_date)
    .bind(sub.max_users)
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "subscription.created",
            "subscription",
            &id,
        )
        .details(json!({
            "service": sub.service.code(),
            "debut": sub.start_date,
            "fin": sub.end_date,
            "utilisateurs_max": sub.max_users,
        })),
    )
    .await?;
    Ok(id)
}

/// Subscribes many organisations to services: what [`subscribe`] writes for each (the row
/// and its `subscription.created` event), with the same checks, including overlaps with
/// existing subscriptions and between those given; in a few multi-row statements. All or
/// nothing (on an error, drop the caller's transaction). Returns the new ids, in order.
pub async fn subscribe_many(
    tx: &mut Tx,
    now: Timestamp,
    subs: &[(OrgId, NewSubscription<'_>)],
    actor: &AuditActor,
) -> StoreResult<Vec<String>> {
    use std::collections::{HashMap, HashSet};

    use crate::bulk::{self, int, opt_int, opt_text, text};
    let valid_date = |d: &str| d.parse::<jiff::civil::Date>().is_ok();
    for (_, sub) in subs {
        if !valid_date(sub.start_date) {
            return Err(
                AppError::invalid("start_date", "Saisissez une date de début valide.").into(),
            );
        }
        if sub.end_date.is_some_and(|end| !valid_date(end)) {
            return Err(AppError::invalid("end_date", "Saisissez une date de fin valide.").into());
        }
        if sub.end_date.is_some_and(|end| end < sub.start_date) {
            return Err(AppError::invalid(
                "end_date",
                "La date de fin doit suivre la date de début.",
            )
            .into());
        }
        if sub.max_users.is_some_and(|n| n < 1) {
            return Err(AppError::invalid(
                "max_users",
                "Le nombre maximal d'utilisateurs doit être d'au moins 1.",
            )
            .into());
        }
    }
    // Periods already held, then each new one against them and those before it.
    let orgs: Vec<crate::query::Arg> = subs
        .iter()
        .map(|(o, _)| o.to_string())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(text)
        .collect();
    let existing: Vec<(String, String, String, Option<String>)> = bulk::fetch_in(
        tx,
        "SELECT org_id, service, start_date, end_date FROM subscriptions WHERE org_id IN",
        &orgs,
        "",
    )
    .await?;
    // (organisation, service) → its periods (start, end).
    type Periods = Vec<(String, Option<String>)>;
    let mut held: HashMap<(String, String), Periods> = HashMap::new();
    for (org, service, start, end) in existing {
        held.entry((org, service)).or_default().push((start, end));
    }
    let now_us = to_micros(now);
    let mut ids = Vec::with_capacity(subs.len());
    let mut rows = Vec::with_capacity(subs.len());
    let mut events = Vec::with_capacity(subs.len());
    for (org, sub) in subs {
        let key = (org.to_string(), sub.service.code().to_owned());
        let periods = held.entry(key).or_default();
        // The condition of `subscribe`'s query, in Rust.
        let overlaps = periods.iter().any(|(start, end)| {
            sub.end_date.is_none_or(|e| start.as_str() <= e)
                && end.as_deref().is_none_or(|e| e >= sub.start_date)
        });
        if overlaps {
            return Err(AppError::Conflict(format!(
                "Un abonnement au service « {} » couvre déjà cette période : mettez-y fin d'abord.",
                sub.service.label()
            ))
            .into());
        }
        periods.push((sub.start_date.to_owned(), sub.end_date.map(str::to_owned)));
        let id = new_id().to_string();
        rows.push(vec![
            text(id.as_str()),
            text(org.to_string()),
            text(sub.service.code()),
            text(sub.start_date),
            opt_text(sub.end_date),
            opt_int(sub.max_users),
            int(now_us),
        ]);
        events.push(
            NewEvent::new(
                Some(*org),
                actor,
                "subscription.created",
                "subscription",
                &id,
            )
            .details(json!({
                "service": sub.service.code(),
                "debut": sub.start_date,
                "fin": sub.end_date,
                "utilisateurs_max": sub.max_users,
            })),
        );
        ids.push(id);
    }
    bulk::insert(
        tx,
        "INSERT INTO subscriptions (id, org_id, service, start_date, end_date, max_users, created_at)",
        &rows,
        "",
    )
    .await?;
    audit::append_many(tx, now, &events).await?;
    Ok(ids)
}

/// Ends a subscription of `org` on `end_date` (`YYYY-MM-DD`, the last day of service).
/// Returns false when `org` has no such subscription.
pub async fn end_subscription(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    end_date: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let row: Option<SubscriptionRow> = run!(tx, |c| {
        sqlx::query_as(
        "SELECT id, org_id, service, start_date, end_date, max_users, created_at FROM subscriptions
         WHERE id = $1 AND org_id = $2"
    )
    .bind(id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await
    })?;
    let Some(row) = row else {
        return Ok(false);
    };
    if end_date.parse::<jiff::civil::Date>().is_err() || end_date < row.start_date.as_str() {
        return Err(AppError::invalid(
            "end_date",
            "La date de fin doit être une date valide, au plus tôt le jour du début de l'abonnement.",
        )
        .into());
    }
    exec!(
        tx,
        sqlx::query("UPDATE subscriptions SET end_date = $2 WHERE id = $1")
            .bind(id)
            .bind(end_date)
    )?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "subscription.ended", "subscription", id)
            .details(json!({ "service": row.service, "fin": end_date })),
    )
    .await?;
    Ok(true)
}

pub async fn subscriptions(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<SubscriptionRow>> {
    let rows = run!(h, |c| {
        sqlx::query_as(
        "SELECT id, org_id, service, start_date, end_date, max_users, created_at FROM subscriptions
         WHERE org_id = $1 ORDER BY service, start_date"
    )
    .bind(org.to_string())
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

/// `YYYY-MM-DD` of `now` in `tz`: the date legal rules use.
pub fn local_date(now: Timestamp, tz: &TimeZone) -> String {
    now.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d")
        .to_string()
}

/// The services `org` has today, in its own time zone.
pub async fn active_services(
    h: &mut impl Handle,
    org: &OrgRow,
    now: Timestamp,
) -> StoreResult<ServiceSet> {
    let today = local_date(now, &org.tz());
    let subs = subscriptions(h, org.id()?).await?;
    Ok(subs
        .iter()
        .filter(|s| s.active_on(&today))
        .filter_map(SubscriptionRow::service)
        .collect())
}

/// What the authorisation policy needs to know about `org`, today.
pub async fn facts(h: &mut impl Handle, org: &OrgRow, now: Timestamp) -> StoreResult<OrgFacts> {
    Ok(OrgFacts {
        id: org.id()?,
        kind: org.kind()?,
        parent: org.parent(),
        services: active_services(h, org, now).await?,
    })
}
