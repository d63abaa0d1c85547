//! Engagements: the conventions and charters members sign with the operator.
//!
//! The operator prepares an engagement: Bouquet fills the template for the member's kind
//! ([`crate::documents`]) and keeps the PDF. The member signs it (on paper or with its own
//! tool, for now: the parapheur module will route it later) and the operator uploads the
//! signed PDF with the signatory and the date: the engagement is then **signed** and in force
//! from its start date to its end date (a charter runs for the operator's mandate period, a
//! « Mairie connectée » charter also carries the two years of EU funding). Before the end,
//! the daily reminder job writes to the operator's staff and the member's administrators;
//! the same for the end of EU funding.
//!
//! Statuses: `a_signer` (prepared, waiting), `signe`, `resilie` (ended early, or replaced).
//! "Expired" is not stored: it is a signed engagement whose end date has passed.

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::{Handle, StoreResult, Tx, exec, run};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use bouquet_kernel::OrgKind;
use bouquet_store::blobs::owner_key;
use bouquet_store::orgs::{self, OrgFilter, OrgRow};
use bouquet_store::{Platform, StoreError};

use crate::documents::{self, EngagementData, Party, Template};

/// Days before an end date when the first reminder goes out, and the second.
pub const FIRST_REMINDER_DAYS: i32 = 90;
pub const LAST_REMINDER_DAYS: i32 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    ToSign,
    Signed,
    Terminated,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::ToSign => "a_signer",
            Status::Signed => "signe",
            Status::Terminated => "resilie",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Status::ToSign, Status::Signed, Status::Terminated]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EngagementRow {
    pub id: String,
    pub org_id: String,
    pub template: String,
    pub reference: String,
    pub status: String,
    pub generated_sha256: Option<String>,
    pub signed_sha256: Option<String>,
    pub signed_size: Option<i64>,
    pub signatory: Option<String>,
    pub signed_on: Option<String>,
    pub starts_on: String,
    pub ends_on: Option<String>,
    pub eu_start: Option<String>,
    pub eu_end: Option<String>,
    pub reminded_on: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The parapheur's dossier while the document is in a circuit of signature.
    pub parapheur_dossier: Option<String>,
}

/// How an engagement stands on a given day, for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    ToSign,
    /// Signed, starts later.
    Upcoming,
    InForce,
    Expired,
    Terminated,
}

impl Standing {
    pub fn label(self) -> &'static str {
        match self {
            Standing::ToSign => "À signer",
            Standing::Upcoming => "Signée, pas encore en vigueur",
            Standing::InForce => "En vigueur",
            Standing::Expired => "Échue",
            Standing::Terminated => "Résiliée",
        }
    }

    /// The badge modifier (the label is always shown too).
    pub fn badge(self) -> &'static str {
        match self {
            Standing::ToSign => "warning",
            Standing::Upcoming => "info",
            Standing::InForce => "success",
            Standing::Expired => "danger",
            Standing::Terminated => "neutral",
        }
    }
}

impl EngagementRow {
    pub fn template(&self) -> Option<Template> {
        Template::parse(&self.template)
    }

    pub fn status(&self) -> Option<Status> {
        Status::from_code(&self.status)
    }

    pub fn standing(&self, today: &str) -> Standing {
        match self.status() {
            Some(Status::Signed) => {
                if self.ends_on.as_deref().is_some_and(|end| end < today) {
                    Standing::Expired
                } else if self.starts_on.as_str() > today {
                    Standing::Upcoming
                } else {
                    Standing::InForce
                }
            }
            Some(Status::Terminated) => Standing::Terminated,
            _ => Standing::ToSign,
        }
    }
}

const COLUMNS: &str = "id, org_id, template, reference, status, generated_sha256, signed_sha256, signed_size, signatory, signed_on, starts_on, ends_on, eu_start, eu_end, reminded_on, created_at, updated_at, parapheur_dossier";

/// An engagement to prepare.
#[derive(Clone, Debug)]
pub struct NewEngagement {
    pub template: Template,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    /// « Mairie connectée »: the two years financed by the EU.
    pub eu_funding: Option<(Date, Date)>,
}

/// "CM" (convention membre), "CU", "MC", "CA".
fn prefix(t: Template) -> &'static str {
    match t {
        Template::ConventionMembre => "CM",
        Template::CharteUtilisation => "CU",
        Template::CharteMairieConnectee => "MC",
        Template::ConventionAutre => "CA",
    }
}

/// The next reference for `template` in `year`: "MC-2026-0007".
pub async fn next_reference(tx: &mut Tx, template: Template, year: i16) -> StoreResult<String> {
    let start = format!("{}-{year}-", prefix(template));
    let n: i64 = run!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM engagements WHERE reference LIKE $1"
    )
    .bind(format!("{start}%"))
    .fetch_one(c)
    .await)?;
    Ok(format!("{start}{:04}", n + 1))
}

pub fn check_dates(e: &NewEngagement) -> Result<(), AppError> {
    if e.ends_on.is_some_and(|end| end < e.starts_on) {
        return Err(AppError::invalid(
            "ends_on",
            "La date de fin doit suivre la date de début.",
        ));
    }
    match (e.template, e.eu_funding) {
        (Template::CharteMairieConnectee, None) => {
            return Err(AppError::invalid(
                "eu_start",
                "Indiquez les dates de début et de fin du financement européen.",
            ));
        }
        (Template::CharteMairieConnectee, Some((start, end))) if end <= start => {
            return Err(AppError::invalid(
                "eu_end",
                "La fin du financement européen doit suivre son début.",
            ));
        }
        (_, Some(_)) if e.template != Template::CharteMairieConnectee => {
            return Err(AppError::invalid(
                "eu_start",
                "Seule la charte « Mairie connectée » a un financement européen.",
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Records a prepared engagement whose PDF (already stored) has hash `pdf_sha256`.
pub async fn prepare(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    reference: &str,
    e: &NewEngagement,
    pdf_sha256: &str,
    actor: &AuditActor,
) -> StoreResult<String> {
    check_dates(e)?;
    let id = new_id().to_string();
    let now_us = to_micros(now);
    exec!(tx, sqlx::query(
        "INSERT INTO engagements (id, org_id, template, reference, status, generated_sha256, starts_on, ends_on, eu_start, eu_end, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'a_signer', $5, $6, $7, $8, $9, $10, $10)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(e.template.code())
    .bind(reference)
    .bind(pdf_sha256)
    .bind(e.starts_on.to_string())
    .bind(e.ends_on.map(|d| d.to_string()))
    .bind(e.eu_funding.map(|(s, _)| s.to_string()))
    .bind(e.eu_funding.map(|(_, end)| end.to_string()))
    .bind(now_us))?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "engagement.prepared", "engagement", &id).details(json!({
            "modele": e.template.code(),
            "reference": reference,
            "debut": e.starts_on.to_string(),
            "fin": e.ends_on.map(|d| d.to_string()),
        })),
    )
    .await?;
    Ok(id)
}

fn party(o: &OrgRow) -> Party {
    Party {
        name: o.name.clone(),
        siren: o.siren.clone(),
        kind_label: match o.kind() {
            Ok(OrgKind::Operateur) => "Syndicat mixte".to_owned(),
            _ => o.kind_label().to_owned(),
        },
        address: None,
    }
}

/// Fills the template for `org`, stores the PDF and records the engagement, in one
/// transaction; `today` is the date printed ("Fait le …"). Returns the engagement's id.
pub async fn prepare_document(
    p: &Platform,
    org: &OrgRow,
    e: &NewEngagement,
    today: Date,
    actor: &AuditActor,
) -> StoreResult<String> {
    check_dates(e)?;
    let kind = org.kind()?;
    e.template
        .eligible(kind, org.population)
        .map_err(|reason| AppError::invalid("template", reason))?;
    let org_id = org.id()?;
    let mut conn = p.db.read().await?;
    let operator = orgs::list(
        &mut conn,
        &OrgFilter {
            query: None,
            kind: Some(OrgKind::Operateur),
        },
        None,
        1,
    )
    .await?
    .items
    .into_iter()
    .next()
    .ok_or_else(|| StoreError::Config("l'organisation de l'opérateur n'existe pas".into()))?;
    let epci = match org.parent() {
        Some(pid) => orgs::get(&mut conn, pid).await?.map(|o| party(&o)),
        None => None,
    };
    let services: Vec<String> = orgs::active_services(&mut conn, org, p.clock.now())
        .await?
        .iter()
        .map(|s| s.label().to_owned())
        .collect();
    drop(conn);
    let mut tx = p.db.begin().await?;
    let reference = next_reference(&mut tx, e.template, today.year()).await?;
    let data = EngagementData {
        template: e.template,
        operator: party(&operator),
        member: party(org),
        epci,
        population: org.population.zip(org.population_year),
        services,
        starts_on: e.starts_on,
        ends_on: e.ends_on,
        eu_funding: e.eu_funding,
        reference: reference.clone(),
        made_on: today,
    };
    let pdf = tokio::task::spawn_blocking(move || documents::render(&data))
        .await
        .map_err(|err| StoreError::Io(std::io::Error::other(err)))?
        .map_err(|err| AppError::invalid("template", err.to_string()))?;
    let blob = p
        .blobs
        .put_bytes(&owner_key(Some(org_id)), bytes::Bytes::from(pdf))
        .await?;
    let id = prepare(
        &mut tx,
        p.clock.now(),
        org_id,
        &reference,
        e,
        &blob.sha256,
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn list(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<EngagementRow>> {
    let rows = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM engagements WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
    )))
    .bind(org.to_string())
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// One engagement of `org` (another organisation's is `None`).
pub async fn get(h: &mut impl Handle, org: OrgId, id: &str) -> StoreResult<Option<EngagementRow>> {
    let row = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM engagements WHERE id = $1 AND org_id = $2"
    )))
    .bind(id)
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// The signature the operator records from the signed document.
#[derive(Clone, Debug)]
pub struct Signature {
    pub signatory: String,
    pub signed_on: Date,
    pub sha256: String,
    pub size: i64,
}

/// Records the signed document. Returns false when `org` has no such engagement.
pub async fn record_signature(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    org: OrgId,
    id: &str,
    s: &Signature,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let Some(row) = get(tx, org, id).await? else {
        return Ok(false);
    };
    if row.status() != Some(Status::ToSign) {
        return Err(AppError::Conflict(
            "Cet engagement n'attend plus de signature : préparez-en un nouveau si besoin.".into(),
        )
        .into());
    }
    let signatory = s.signatory.trim();
    if signatory.is_empty() || signatory.chars().count() > 200 {
        return Err(AppError::invalid(
            "signatory",
            "Indiquez le nom et la qualité du signataire (200 caractères au plus).",
        )
        .into());
    }
    if s.signed_on > today {
        return Err(AppError::invalid(
            "signed_on",
            "La date de signature ne peut pas être dans le futur.",
        )
        .into());
    }
    // Guarded by the status: two uploads at once record one signature.
    let n = exec!(tx, sqlx::query(
        "UPDATE engagements SET status = 'signe', signed_sha256 = $3, signed_size = $4, signatory = $5, signed_on = $6, updated_at = $7
         WHERE id = $1 AND org_id = $2 AND status = 'a_signer'"
    )
    .bind(id)
    .bind(org.to_string())
    .bind(&s.sha256)
    .bind(s.size)
    .bind(signatory)
    .bind(s.signed_on.to_string())
    .bind(to_micros(now)))?;
    if n == 0 {
        return Err(AppError::Conflict("Cet engagement vient d'être signé.".into()).into());
    }
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "engagement.signed", "engagement", id).details(json!({
            "reference": row.reference,
            "signataire": signatory,
            "date_signature": s.signed_on.to_string(),
            "sha256": s.sha256,
        })),
    )
    .await?;
    Ok(true)
}

/// An engagement prepared and signed, for [`record_signed_many`].
#[derive(Clone, Debug)]
pub struct SignedEngagement {
    pub org: OrgId,
    pub engagement: NewEngagement,
    /// The prepared PDF, already stored.
    pub pdf_sha256: String,
    pub signature: Signature,
}

/// Records many engagements already signed: exactly what [`prepare`] (with the next
/// reference of its template for `today`'s year, as [`prepare_document`] numbers them) then
/// [`record_signature`] write for each (the row, signed, and the `engagement.prepared` and
/// `engagement.signed` events), with the same checks, in a few multi-row statements. It
/// renders and stores no document: the caller gives hashes of documents already stored.
/// All or nothing (on an error, drop the caller's transaction). Returns the new ids, in order.
pub async fn record_signed_many(
    tx: &mut Tx,
    now: Timestamp,
    today: Date,
    items: &[SignedEngagement],
    actor: &AuditActor,
) -> StoreResult<Vec<String>> {
    use std::collections::HashMap;

    use bouquet_store::bulk::{self, int, opt_text, text};
    let now_us = to_micros(now);
    let mut next: HashMap<&'static str, i64> = HashMap::new();
    let mut ids = Vec::with_capacity(items.len());
    let mut rows = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len() * 2);
    for item in items {
        let e = &item.engagement;
        check_dates(e)?;
        let s = &item.signature;
        let signatory = s.signatory.trim();
        if signatory.is_empty() || signatory.chars().count() > 200 {
            return Err(AppError::invalid(
                "signatory",
                "Indiquez le nom et la qualité du signataire (200 caractères au plus).",
            )
            .into());
        }
        if s.signed_on > today {
            return Err(AppError::invalid(
                "signed_on",
                "La date de signature ne peut pas être dans le futur.",
            )
            .into());
        }
        let p = prefix(e.template);
        let n = match next.get(p) {
            Some(n) => *n,
            None => {
                let reference = next_reference(tx, e.template, today.year()).await?;
                reference
                    .rsplit('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1)
            }
        };
        next.insert(p, n + 1);
        let reference = format!("{p}-{}-{n:04}", today.year());
        let id = new_id().to_string();
        rows.push(vec![
            text(id.as_str()),
            text(item.org.to_string()),
            text(e.template.code()),
            text(reference.as_str()),
            text(Status::Signed.code()),
            text(item.pdf_sha256.as_str()),
            text(s.sha256.as_str()),
            int(s.size),
            text(signatory),
            text(s.signed_on.to_string()),
            text(e.starts_on.to_string()),
            opt_text(e.ends_on.map(|d| d.to_string())),
            opt_text(e.eu_funding.map(|(start, _)| start.to_string())),
            opt_text(e.eu_funding.map(|(_, end)| end.to_string())),
            int(now_us),
            int(now_us),
        ]);
        events.push(
            NewEvent::new(
                Some(item.org),
                actor,
                "engagement.prepared",
                "engagement",
                &id,
            )
            .details(json!({
                "modele": e.template.code(),
                "reference": reference,
                "debut": e.starts_on.to_string(),
                "fin": e.ends_on.map(|d| d.to_string()),
            })),
        );
        events.push(
            NewEvent::new(
                Some(item.org),
                actor,
                "engagement.signed",
                "engagement",
                &id,
            )
            .details(json!({
                "reference": reference,
                "signataire": signatory,
                "date_signature": s.signed_on.to_string(),
                "sha256": s.sha256,
            })),
        );
        ids.push(id);
    }
    bulk::insert(
        tx,
        "INSERT INTO engagements (id, org_id, template, reference, status, generated_sha256, signed_sha256, signed_size, signatory, signed_on, starts_on, ends_on, eu_start, eu_end, created_at, updated_at)",
        &rows,
        "",
    )
    .await?;
    audit::append_many(tx, now, &events).await?;
    Ok(ids)
}

/// Ends an engagement before its term (or abandons one never signed).
pub async fn terminate(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    on: Date,
    reason: &str,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let Some(row) = get(tx, org, id).await? else {
        return Ok(false);
    };
    if row.status() == Some(Status::Terminated) {
        return Err(AppError::Conflict("Cet engagement est déjà résilié.".into()).into());
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "Indiquez le motif de la résiliation (500 caractères au plus).",
        )
        .into());
    }
    let signed = row.status() == Some(Status::Signed);
    if signed && on.to_string() < row.starts_on {
        return Err(AppError::invalid(
            "ends_on",
            "La résiliation ne peut pas précéder le début de l'engagement.",
        )
        .into());
    }
    exec!(tx, sqlx::query(
        "UPDATE engagements SET status = 'resilie', ends_on = $3, updated_at = $4 WHERE id = $1 AND org_id = $2"
    )
    .bind(id)
    .bind(org.to_string())
    .bind(if signed { Some(on.to_string()) } else { row.ends_on.clone() })
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(Some(org), actor, "engagement.terminated", "engagement", id).details(json!({
            "reference": row.reference,
            "fin": on.to_string(),
            "motif": reason,
        })),
    )
    .await?;
    Ok(true)
}

/// What the operator's staff have to do about engagements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToDo {
    /// Prepared, not yet signed.
    pub to_sign: i64,
    /// Signed, ending within [`FIRST_REMINDER_DAYS`].
    pub ending: i64,
}

pub async fn to_do(h: &mut impl Handle, today: Date) -> StoreResult<ToDo> {
    let horizon = today
        .checked_add(jiff::Span::new().days(i64::from(FIRST_REMINDER_DAYS)))
        .unwrap_or(today)
        .to_string();
    let (to_sign, ending): (i64, i64) = run!(h, |c| {
        sqlx::query_as(
        "SELECT
           (SELECT COUNT(*) FROM engagements WHERE status = 'a_signer'),
           (SELECT COUNT(*) FROM engagements WHERE status = 'signe' AND ends_on >= $1 AND ends_on <= $2)"
    )
    .bind(today.to_string())
    .bind(horizon)
    .fetch_one(c)
    .await
    })?;
    Ok(ToDo { to_sign, ending })
}

/// What a reminder is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// The engagement ends: renew it.
    End,
    /// The EU funding of « Mairie connectée » ends: the commune pays its share from then on.
    EuFunding,
}

/// A reminder to send: which engagement, which deadline, in how many days.
#[derive(Clone, Debug)]
pub struct Due {
    pub engagement: EngagementRow,
    pub org_name: String,
    pub org_siren: String,
    pub deadline: Deadline,
    pub date: Date,
    pub days_left: i32,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    e: EngagementRow,
    org_name: String,
    org_siren: String,
}

fn days_between(from: Date, to: Date) -> i32 {
    // Between civil dates the span is in days only (the default largest unit); `total`
    // would need a reference date, days being calendar units.
    to.since(from).map_or(i32::MAX, |span| span.get_days())
}

/// Whether a deadline on `date` calls for a reminder on `today`, given the last reminder.
fn reminder_due(today: Date, date: Date, reminded_on: Option<Date>) -> bool {
    let left = days_between(today, date);
    if !(0..=FIRST_REMINDER_DAYS).contains(&left) {
        return false;
    }
    match reminded_on {
        None => true,
        // Reminded before the last window: remind once more inside it.
        Some(last) => left <= LAST_REMINDER_DAYS && days_between(last, date) > LAST_REMINDER_DAYS,
    }
}

/// Signed engagements with a deadline in the reminder windows that has not been reminded
/// in its current window.
pub async fn due_reminders(h: &mut impl Handle, today: Date) -> StoreResult<Vec<Due>> {
    let horizon = today
        .checked_add(jiff::Span::new().days(i64::from(FIRST_REMINDER_DAYS)))
        .unwrap_or(today)
        .to_string();
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<DueRow> = run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns}, o.name AS org_name, o.siren AS org_siren
         FROM engagements e JOIN organisations o ON o.id = e.org_id
         WHERE e.status = 'signe'
           AND ((e.ends_on IS NOT NULL AND e.ends_on >= $1 AND e.ends_on <= $2)
                OR (e.eu_end IS NOT NULL AND e.eu_end >= $1 AND e.eu_end <= $2))
         ORDER BY e.id"
    )))
    .bind(today.to_string())
    .bind(&horizon)
    .fetch_all(c)
    .await)?;
    let mut out = Vec::new();
    for r in rows {
        let reminded =
            r.e.reminded_on
                .as_deref()
                .and_then(|d| d.parse::<Date>().ok());
        // The EU funding ends first (two years, inside a longer charter): it is reminded
        // first; the end of the engagement once the funding is over.
        let deadlines = [
            (Deadline::EuFunding, r.e.eu_end.clone()),
            (Deadline::End, r.e.ends_on.clone()),
        ];
        let next = deadlines.into_iter().find_map(|(d, date)| {
            let date = date?.parse::<Date>().ok()?;
            (date >= today).then_some((d, date))
        });
        if let Some((deadline, date)) = next
            && reminder_due(today, date, reminded)
        {
            out.push(Due {
                days_left: days_between(today, date),
                org_name: r.org_name,
                org_siren: r.org_siren,
                engagement: r.e,
                deadline,
                date,
            });
        }
    }
    Ok(out)
}

/// Notes that the reminder of `today` went out.
pub async fn mark_reminded(tx: &mut Tx, now: Timestamp, today: Date, due: &Due) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query("UPDATE engagements SET reminded_on = $2 WHERE id = $1")
            .bind(&due.engagement.id)
            .bind(today.to_string())
    )?;
    let org: OrgId = due
        .engagement
        .org_id
        .parse()
        .map_err(|_| bouquet_store::StoreError::Corrupt("engagement org id".into()))?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            &AuditActor::system(),
            "engagement.reminded",
            "engagement",
            &due.engagement.id,
        )
        .details(json!({
            "reference": due.engagement.reference,
            "echeance": due.date.to_string(),
            "objet": match due.deadline {
                Deadline::End => "fin de l'engagement",
                Deadline::EuFunding => "fin du financement européen",
            },
        })),
    )
    .await?;
    Ok(())
}

/// Marks the engagement as being sent into the parapheur, unless it already is (or no
/// longer waits for a signature): false then.
pub async fn claim_for_circuit(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
) -> StoreResult<bool> {
    let n = exec!(
        tx,
        sqlx::query(
            "UPDATE engagements SET parapheur_dossier = 'envoi', updated_at = $1
         WHERE id = $2 AND org_id = $3 AND status = 'a_signer' AND parapheur_dossier IS NULL"
        )
        .bind(to_micros(now))
        .bind(id)
        .bind(org.to_string())
    )?;
    Ok(n == 1)
}

/// Links (or unlinks, with `None`) the engagement to the parapheur's dossier that carries it.
pub async fn set_circuit(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    id: &str,
    dossier: Option<&str>,
) -> StoreResult<()> {
    exec!(tx, sqlx::query(
        "UPDATE engagements SET parapheur_dossier = $1, updated_at = $2 WHERE id = $3 AND org_id = $4"
    )
    .bind(dossier)
    .bind(to_micros(now))
    .bind(id)
    .bind(org.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn reminders_come_at_ninety_and_thirty_days() {
        let end = d("2027-01-01");
        assert_eq!(days_between(d("2026-11-23"), d("2027-01-07")), 45);
        assert_eq!(days_between(d("2027-01-08"), d("2027-01-07")), -1);
        // Too early, then the first window, then nothing until the last window.
        assert!(!reminder_due(d("2026-09-01"), end, None));
        assert!(reminder_due(d("2026-10-03"), end, None));
        assert!(!reminder_due(d("2026-10-20"), end, Some(d("2026-10-03"))));
        assert!(reminder_due(d("2026-12-05"), end, Some(d("2026-10-03"))));
        assert!(!reminder_due(d("2026-12-10"), end, Some(d("2026-12-05"))));
        // Past the deadline: nothing more.
        assert!(!reminder_due(d("2027-01-02"), end, None));
        // First seen inside the last window (an engagement signed late): one reminder.
        assert!(reminder_due(d("2026-12-20"), end, None));
        assert!(!reminder_due(d("2026-12-21"), end, Some(d("2026-12-20"))));
    }

    #[test]
    fn standing_follows_the_dates() {
        let mut e = EngagementRow {
            id: "1".into(),
            org_id: "o".into(),
            template: "charte_utilisation".into(),
            reference: "CU-2026-0001".into(),
            status: "a_signer".into(),
            generated_sha256: None,
            signed_sha256: None,
            signed_size: None,
            signatory: None,
            signed_on: None,
            starts_on: "2026-01-01".into(),
            ends_on: Some("2029-12-31".into()),
            eu_start: None,
            eu_end: None,
            reminded_on: None,
            created_at: 0,
            updated_at: 0,
            parapheur_dossier: None,
        };
        assert_eq!(e.standing("2026-06-01"), Standing::ToSign);
        e.status = "signe".into();
        assert_eq!(e.standing("2025-06-01"), Standing::Upcoming);
        assert_eq!(e.standing("2026-06-01"), Standing::InForce);
        assert_eq!(e.standing("2029-12-31"), Standing::InForce);
        assert_eq!(e.standing("2030-01-01"), Standing::Expired);
        e.status = "resilie".into();
        assert_eq!(e.standing("2026-06-01"), Standing::Terminated);
    }
}
