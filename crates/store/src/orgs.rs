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
    pub population: Option<i64>,
    pub population_year: Option<i32>,
    pub time_zone: String,
    pub contact_email: Option<String>,
    pub active: bool,
    pub created_at: i64,
    pub updated_at: i64,
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

const ORG_COLUMNS: &str = "id, siren, siret, name, kind, parent_id, insee, departement, population, population_year, time_zone, contact_email, active, created_at, updated_at";

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
    pub population: Option<i64>,
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
            population_year: None,
            contact_email: None,
        }
    }
}

/// Creates an organisation; its chain of the journal starts with this event.
pub async fn create(
    tx: &mut Tx,
    now: Timestamp,
    org: NewOrg,
    actor: &AuditActor,
) -> StoreResult<OrgId> {
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
    let id = OrgId(new_id());
    let now_us = to_micros(now);
    let result = exec!(tx, sqlx::query(
        "INSERT INTO organisations (id, siren, siret, name, kind, parent_id, insee, departement, population, population_year, time_zone, contact_email, active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE, $13, $13)
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
    .bind(now_us))?;
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
        &format!(
            "{name} {} {}",
            org.siren,
            org.insee.as_ref().map_or("", Insee::as_str)
        ),
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
        "SELECT {ORG_COLUMNS} FROM organisations WHERE parent_id = $1 ORDER BY name, id"
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
           AND (CAST($2 AS TEXT) IS NULL OR name > $2 OR (name = $2 AND id > $3))
           {search_clause}
         ORDER BY name, id LIMIT $4"
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
        Cursor::new().push_text(&r.name).push_text(&r.id)
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

/// Subscribes `org` to `service` from `start_date` (`YYYY-MM-DD`), optionally until `end_date`.
pub async fn subscribe(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    service: Service,
    start_date: &str,
    end_date: Option<&str>,
    actor: &AuditActor,
) -> StoreResult<String> {
    if end_date.is_some_and(|end| end < start_date) {
        return Err(
            AppError::invalid("end_date", "La date de fin doit suivre la date de début.").into(),
        );
    }
    let id = new_id().to_string();
    exec!(tx, sqlx::query(
        "INSERT INTO subscriptions (id, org_id, service, start_date, end_date, max_users, created_at)
         VALUES ($1, $2, $3, $4, $5, NULL, $6)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(service.code())
    .bind(start_date)
    .bind(end_date)
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
            "service": service.code(),
            "debut": start_date,
            "fin": end_date,
        })),
    )
    .await?;
    Ok(id)
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
