//! Reminders and the daily digest: the daily job [`KIND`] and the page where a person asks
//! for the digest.
//!
//! - **Reminders.** A dossier in progress whose current step has waited
//!   [`REMIND_AFTER_DAYS`] days or more is mailed again to the people who may act at that
//!   step today (its holders who have not acted yet, and whoever acts for them today). The
//!   step's start is the time of the dossier's last action that is not undone and moved it
//!   (annotations, opinions and readings aside: see [`STEP_MOVES`]). Days are local days of
//!   the step's organisation.
//! - **Digest.** Someone who opted in (per organisation) receives one e-mail a day listing
//!   every dossier waiting for them there, when there is at least one. The per-dossier
//!   e-mails are unchanged.
//!
//! **Idempotence.** Each e-mail is queued in the transaction that claims its day: the
//! reminder's row in `parapheur_reminders` or the digest's `last_sent_on`, written with a
//! compare-and-set. A job run twice, or by two nodes at once, sends nothing twice; a step is
//! reminded at most once a day and never more often than every [`REMIND_AFTER_DAYS`] days.

use std::collections::HashMap;

use askama::Template;
use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::clock::{from_micros, time_zone, to_micros};
use bouquet_kernel::{OrgId, UserId};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::jobs::JobRow;
use bouquet_store::mail::{self, Mail};
use bouquet_store::orgs::{self, OrgRow};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult, exec, run};
use bouquet_webkit::forms::{Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebResult, flash, render};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::dossiers::{self, DossierRow, Folder, ListFilter, StepRow};
use crate::model::StepKind;
use crate::web::{USE, chrome, me};

/// The job that sends reminders and digests, once a day.
pub const KIND: &str = "parapheur.reminders";

/// A step that has waited this many days is reminded, then again every as many days.
pub const REMIND_AFTER_DAYS: i32 = 3;

/// The flash code of the digest form (its message lives in `Module::flash`).
pub const FLASH_SAVED: &str = "parapheur-recapitulatif";

/// At most this many dossiers are looked at for one person's digest.
const DIGEST_LIMIT: i64 = 500;

// ---------------------------------------------------------------------------------------
// Local days
// ---------------------------------------------------------------------------------------

fn local_day(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned_datetime(tz.clone()).date()
}

/// Whole local days from `from` to `to` (negative when `to` is before).
fn days_between(from: Date, to: Date) -> i32 {
    from.until(to).map_or(0, |s| s.get_days())
}

/// Whether a step that started on `start`, last reminded on `last`, is reminded on `today`.
pub fn reminder_due(start: Date, last: Option<Date>, today: Date, every: i32) -> bool {
    let every = every.max(1);
    days_between(start, today) >= every
        && last.is_none_or(|last| days_between(last, today) >= every)
}

/// "23/11/2026"
fn date_fr(d: Date) -> String {
    d.strftime("%d/%m/%Y").to_string()
}

fn plural(n: i32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The organisations met during a run: their SIREN, name and time zone.
#[derive(Default)]
struct Orgs(HashMap<String, Option<OrgRow>>);

impl Orgs {
    async fn get(&mut self, h: &mut impl Handle, id: &str) -> StoreResult<Option<&OrgRow>> {
        if !self.0.contains_key(id) {
            let org: OrgId = id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("organisation {id}")))?;
            let row = orgs::get(h, org).await?;
            self.0.insert(id.to_owned(), row);
        }
        Ok(self.0.get(id).and_then(Option::as_ref))
    }
}

/// The actions that make a step start (see `ActionKind::code`): the dossier sent, a step
/// done (the next one starts; in an "all" step, the others wait anew), an action taken back,
/// a step given to someone else. Annotations, opinions and readings do not move the dossier:
/// they do not postpone a reminder.
const STEP_MOVES: [&str; 7] = [
    "depot",
    "visa",
    "signature",
    "cachet",
    "signature_papier",
    "reprise",
    "reattribution",
];

/// `a.kind IN ('depot', …)`, from [`STEP_MOVES`] (constants only).
fn moves_sql() -> String {
    let codes: Vec<String> = STEP_MOVES.iter().map(|c| format!("'{c}'")).collect();
    format!("a.kind IN ({})", codes.join(", "))
}

/// When the current step of `dossier` started: its last action that moved it and is not
/// undone.
async fn step_started(h: &mut impl Handle, dossier: &str) -> StoreResult<Option<i64>> {
    let sql = format!(
        "SELECT MAX(a.at) FROM parapheur_actions a
         WHERE a.dossier_id = $1 AND a.undone = FALSE AND {}",
        moves_sql()
    );
    Ok(run!(h, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(dossier)
    .fetch_one(c)
    .await)?)
}

/// Who may act at `step` of `dossier` today (`YYYY-MM-DD`): its holders who have not acted
/// yet and the people acting for them; (user id, e-mail), each once.
async fn waiting_people(
    h: &mut impl Handle,
    dossier: &DossierRow,
    step: &StepRow,
    today: &str,
) -> StoreResult<Vec<(String, String)>> {
    let actions = dossiers::actions(h, &dossier.id).await?;
    let acted = dossiers::acted_keys(&actions, step.position, step.kind());
    let mut candidates: Vec<(String, String)> = dossiers::holders(h, step)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p.email))
        .collect();
    let ids: Vec<String> = candidates.iter().map(|c| c.0.clone()).collect();
    for (delegate, email) in
        crate::delegations::delegates_today(h, step.org()?, &ids, today).await?
    {
        if !candidates.iter().any(|c| c.0 == delegate) {
            candidates.push((delegate, email));
        }
    }
    let mut out = Vec::new();
    for (id, email) in candidates {
        let Ok(user) = id.parse::<UserId>() else {
            continue;
        };
        if dossiers::capacity(h, step, user, today, &dossier.doc_type, &acted)
            .await?
            .is_some()
        {
            out.push((id, email));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Reminders
// ---------------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct Candidate {
    id: String,
    org_id: String,
    step_org: String,
    position: i64,
    since: Option<i64>,
    last_sent_on: Option<String>,
}

/// A reminder to send: the claim it makes and its e-mails.
struct Reminder {
    dossier: String,
    version: i64,
    position: i64,
    last: Option<String>,
    today: String,
    mails: Vec<Mail>,
}

fn what_is_awaited(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Visa => "votre visa",
        StepKind::Signature | StepKind::SignaturePapier => "votre signature",
        StepKind::Cachet => "le cachet de l'organisation",
    }
}

/// Sends the reminders due at `now`; returns how many steps were reminded.
pub async fn send_reminders(p: &Platform, now: Timestamp) -> StoreResult<usize> {
    // A step whose start is less than N - 1 days old (less two hours for a change of
    // summer time) cannot be N local days old: not even looked at.
    let hours = i64::from(REMIND_AFTER_DAYS.max(1) - 1) * 24 - 2;
    let cutoff = now
        .saturating_sub(SignedDuration::from_hours(hours))
        .unwrap_or(now);
    let mut conn = p.db.read().await?;
    let sql = format!(
        "SELECT x.id, x.org_id, x.step_org, x.position, x.since, r.last_sent_on
         FROM (SELECT d.id, d.org_id, s.org_id AS step_org, s.position,
                      (SELECT MAX(a.at) FROM parapheur_actions a
                        WHERE a.dossier_id = d.id AND a.undone = FALSE AND {}) AS since
               FROM parapheur_dossiers d
               JOIN parapheur_steps s ON s.dossier_id = d.id AND s.position = d.current_step
               WHERE d.status = 'en_cours') x
         LEFT JOIN parapheur_reminders r ON r.dossier_id = x.id AND r.position = x.position
         WHERE x.since <= $1
         ORDER BY x.since, x.id",
        moves_sql()
    );
    let candidates: Vec<Candidate> = run!(&mut conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(to_micros(cutoff))
    .fetch_all(c)
    .await)?;
    let mut orgs = Orgs::default();
    let mut due = Vec::new();
    for c in candidates {
        let Some(since) = c.since else { continue };
        let Some(step_org) = orgs.get(&mut conn, &c.step_org).await?.cloned() else {
            continue;
        };
        let tz = step_org.tz();
        let today = local_day(now, &tz);
        let start = local_day(from_micros(since), &tz);
        let last = c
            .last_sent_on
            .as_deref()
            .and_then(|d| d.parse::<Date>().ok());
        if !reminder_due(start, last, today, REMIND_AFTER_DAYS) {
            continue;
        }
        let org: OrgId = c
            .org_id
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("organisation {}", c.org_id)))?;
        let Some(dossier) = dossiers::get_visible(&mut conn, org, &c.id).await? else {
            continue;
        };
        let Some(step) = dossiers::steps(&mut conn, &c.id)
            .await?
            .into_iter()
            .find(|s| s.position == c.position)
        else {
            continue;
        };
        let today_text = today.to_string();
        let people = waiting_people(&mut conn, &dossier, &step, &today_text).await?;
        if people.is_empty() {
            continue;
        }
        let days = days_between(start, today);
        let url = p.settings.link(&format!(
            "/o/{}/parapheur/dossiers/{}",
            step_org.siren, dossier.id
        ));
        let digest = p
            .settings
            .link(&format!("/o/{}/parapheur/recapitulatif", step_org.siren));
        let awaited = what_is_awaited(step.kind());
        let waited = plural(days, "jour", "jours");
        let mails = people
            .into_iter()
            .map(|(_, email)| Mail {
                to: email,
                subject: format!("Rappel : « {} » attend {awaited} depuis {waited}", dossier.title),
                text: crate::flow::letter(&format!(
                    "Le dossier « {} » attend {awaited} depuis {waited} (depuis le {}).\n\nOuvrez-le : {url}\n\nVous le trouvez aussi dans « Parapheur › Dossiers à traiter ».\n\nVous pouvez recevoir chaque jour un seul courriel qui liste les dossiers qui vous attendent : {digest}",
                    dossier.title,
                    date_fr(start),
                )),
            })
            .collect();
        due.push(Reminder {
            dossier: dossier.id,
            version: dossier.version,
            position: c.position,
            last: c.last_sent_on,
            today: today_text,
            mails,
        });
    }
    drop(conn);
    let mut sent = 0;
    for r in &due {
        let claimed =
            p.db.atomically(async |tx| {
                if !claim_reminder(tx, r).await? {
                    return Ok(false);
                }
                for m in &r.mails {
                    mail::queue(tx, now, m).await?;
                }
                Ok(true)
            })
            .await?;
        if claimed {
            sent += 1;
        }
    }
    if sent > 0 {
        p.wake_workers();
    }
    Ok(sent)
}

/// Notes the reminder of `r` for its day, unless the dossier moved since it was read or
/// another run got there first. Returns whether this call claimed it.
async fn claim_reminder(tx: &mut Tx, r: &Reminder) -> StoreResult<bool> {
    let unchanged: Option<i64> = run!(tx, |c| sqlx::query_scalar(
        "SELECT version FROM parapheur_dossiers
         WHERE id = $1 AND status = 'en_cours' AND current_step = $2 AND version = $3"
    )
    .bind(&r.dossier)
    .bind(r.position)
    .bind(r.version)
    .fetch_optional(c)
    .await)?;
    if unchanged.is_none() {
        return Ok(false);
    }
    let n = match &r.last {
        None => exec!(tx, sqlx::query(
            "INSERT INTO parapheur_reminders (dossier_id, position, last_sent_on) VALUES ($1, $2, $3)
             ON CONFLICT (dossier_id, position) DO NOTHING"
        )
        .bind(&r.dossier)
        .bind(r.position)
        .bind(&r.today))?,
        Some(last) => exec!(tx, sqlx::query(
            "UPDATE parapheur_reminders SET last_sent_on = $1
             WHERE dossier_id = $2 AND position = $3 AND last_sent_on = $4"
        )
        .bind(&r.today)
        .bind(&r.dossier)
        .bind(r.position)
        .bind(last))?,
    };
    Ok(n == 1)
}

// ---------------------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct Subscriber {
    user_id: String,
    org_id: String,
    last_sent_on: Option<String>,
    email: String,
    siren: String,
    org_name: String,
    time_zone: String,
}

/// One line of a digest.
struct DigestLine {
    title: String,
    todo: String,
    since: Option<Date>,
    url: String,
}

fn digest_mail(p: &Platform, s: &Subscriber, lines: &[DigestLine]) -> Mail {
    let n = i32::try_from(lines.len()).unwrap_or(i32::MAX);
    let waiting = if n == 1 {
        "1 dossier vous attend".to_owned()
    } else {
        format!("{n} dossiers vous attendent")
    };
    let mut text = format!(
        "Bonjour,\n\n{} dans le parapheur ({}) :\n",
        waiting, s.org_name
    );
    for l in lines {
        text.push_str(&format!("\n- « {} »\n  À faire : {}", l.title, l.todo));
        if let Some(since) = l.since {
            text.push_str(&format!(" (en attente depuis le {})", date_fr(since)));
        }
        text.push_str(&format!("\n  {}\n", l.url));
    }
    text.push_str(&format!(
        "\nVous recevez ce récapitulatif parce que vous l'avez demandé. Pour ne plus le recevoir : {}\n\nCe message est envoyé automatiquement par le parapheur.",
        p.settings
            .link(&format!("/o/{}/parapheur/recapitulatif", s.siren))
    ));
    Mail {
        to: s.email.clone(),
        subject: format!("Récapitulatif du parapheur : {waiting}"),
        text,
    }
}

/// Sends the digests due at `now`; returns how many.
pub async fn send_digests(p: &Platform, now: Timestamp) -> StoreResult<usize> {
    let mut conn = p.db.read().await?;
    let subscribers: Vec<Subscriber> = run!(&mut conn, |c| {
        sqlx::query_as(
        "SELECT g.user_id, g.org_id, g.last_sent_on, u.email, o.siren, o.name AS org_name, o.time_zone
         FROM parapheur_digest g
         JOIN users u ON u.id = g.user_id
         JOIN organisations o ON o.id = g.org_id
         WHERE g.enabled = TRUE AND u.active = TRUE
         ORDER BY g.org_id, g.user_id"
    )
    .fetch_all(c)
    .await
    })?;
    let mut due = Vec::new();
    for s in subscribers {
        let tz = time_zone(&s.time_zone);
        let today = local_day(now, &tz).to_string();
        if s.last_sent_on.as_deref() == Some(today.as_str()) {
            continue;
        }
        let (Ok(org), Ok(user)) = (s.org_id.parse::<OrgId>(), s.user_id.parse::<UserId>()) else {
            continue;
        };
        let candidates = dossiers::list(
            &mut conn,
            org,
            user,
            &ListFilter {
                folder: Folder::ToDo,
                query: None,
                status: None,
                limit: DIGEST_LIMIT,
                offset: 0,
            },
        )
        .await?;
        let mut lines = Vec::new();
        for d in &candidates {
            let Some((step, capacity)) = crate::flow::my_turn(&mut conn, d, user, &today).await?
            else {
                continue;
            };
            let mut todo = step.kind().verb().to_lowercase();
            if let Some((_, absent)) = &capacity.on_behalf {
                todo.push_str(&format!(" en l'absence de {absent}"));
            }
            let since = step_started(&mut conn, &d.id)
                .await?
                .map(|at| local_day(from_micros(at), &tz));
            lines.push(DigestLine {
                title: d.title.clone(),
                todo,
                since,
                url: p
                    .settings
                    .link(&format!("/o/{}/parapheur/dossiers/{}", s.siren, d.id)),
            });
        }
        if lines.is_empty() {
            continue;
        }
        let mail = digest_mail(p, &s, &lines);
        due.push((s, today, mail));
    }
    drop(conn);
    let mut sent = 0;
    for (s, today, m) in &due {
        let claimed =
            p.db.atomically(async |tx| {
                let n = exec!(
                    tx,
                    sqlx::query(
                        "UPDATE parapheur_digest SET last_sent_on = $1
                     WHERE user_id = $2 AND org_id = $3 AND enabled = TRUE
                       AND (last_sent_on IS NULL OR last_sent_on <> $1)"
                    )
                    .bind(today)
                    .bind(&s.user_id)
                    .bind(&s.org_id)
                )?;
                if n == 1 {
                    mail::queue(tx, now, m).await?;
                }
                Ok(n == 1)
            })
            .await?;
        if claimed {
            sent += 1;
        }
    }
    if sent > 0 {
        p.wake_workers();
    }
    Ok(sent)
}

/// Whether `user` asked for the digest in `org`.
pub async fn digest_enabled(h: &mut impl Handle, org: OrgId, user: UserId) -> StoreResult<bool> {
    let enabled: Option<bool> = run!(h, |c| sqlx::query_scalar(
        "SELECT enabled FROM parapheur_digest WHERE user_id = $1 AND org_id = $2"
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?;
    Ok(enabled.unwrap_or(false))
}

/// Records whether `user` wants the digest in `org`.
pub async fn set_digest(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    user: UserId,
    enabled: bool,
) -> StoreResult<()> {
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO parapheur_digest (user_id, org_id, enabled, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, org_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
        )
        .bind(user.to_string())
        .bind(org.to_string())
        .bind(enabled)
        .bind(to_micros(now))
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------------------

/// Reminders, then digests, at `now`; returns how many of each were sent.
pub async fn run_daily(p: &Platform, now: Timestamp) -> StoreResult<(usize, usize)> {
    let reminders = send_reminders(p, now).await?;
    let digests = send_digests(p, now).await?;
    Ok((reminders, digests))
}

/// The job handler of [`KIND`].
pub struct Reminders;

#[async_trait]
impl JobHandler for Reminders {
    async fn run(&self, p: &Platform, _job: &JobRow) -> Result<(), JobError> {
        let (reminders, digests) = run_daily(p, p.clock.now()).await?;
        tracing::info!(reminders, digests, "parapheur: rappels et récapitulatifs");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The page `/o/{siren}/parapheur/recapitulatif`
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "parapheur_digest.html")]
pub struct DigestPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub enabled: bool,
    pub org_name: String,
    pub remind_after: i32,
    pub base: String,
    pub inbox_href: String,
}

fn digest_page(page: &PageCtx, ctx: &OrgCtx, f: Fields, enabled: bool) -> DigestPage {
    DigestPage {
        chrome: chrome(page, ctx, "Récapitulatif quotidien", f.has_errors(), &[]),
        f,
        enabled,
        org_name: ctx.org.name.clone(),
        remind_after: REMIND_AFTER_DAYS,
        base: ctx.href("/parapheur/recapitulatif"),
        inbox_href: ctx.href("/parapheur"),
    }
}

/// The form: one checkbox, ticked when the person already receives the digest here.
pub async fn digest_form(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    let enabled = {
        let mut conn = page.state.platform.db.read().await?;
        digest_enabled(&mut conn, ctx.org_id, me(&ctx)).await?
    };
    render(&digest_page(&page, &ctx, Fields::new(), enabled))
}

/// `recapitulatif`: `oui` to receive the digest, absent to stop it.
pub async fn digest_save(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(USE)?;
    let enabled = match pairs.get("recapitulatif") {
        "oui" => true,
        "" => false,
        _ => {
            let mut f = Fields::new();
            f.error(
                "recapitulatif",
                "Cochez la case pour recevoir le récapitulatif, ou décochez-la pour ne plus le recevoir.",
            );
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &digest_page(&page, &ctx, f, false),
            );
        }
    };
    let p = &page.state.platform;
    let now = p.clock.now();
    let (org, user) = (ctx.org_id, me(&ctx));
    p.db.atomically(async |tx| set_digest(tx, now, org, user, enabled).await)
        .await?;
    Ok(flash::set(
        see_other(&ctx.href("/parapheur/recapitulatif")),
        FLASH_SAVED,
        page.secure(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn a_step_is_reminded_after_n_days_then_every_n_days() {
        let start = d("2026-11-23");
        assert!(!reminder_due(start, None, d("2026-11-23"), 3));
        assert!(!reminder_due(start, None, d("2026-11-25"), 3));
        assert!(reminder_due(start, None, d("2026-11-26"), 3));
        // Reminded on the 26th: not again that day, nor before the 29th.
        let last = Some(d("2026-11-26"));
        assert!(!reminder_due(start, last, d("2026-11-26"), 3));
        assert!(!reminder_due(start, last, d("2026-11-28"), 3));
        assert!(reminder_due(start, last, d("2026-11-29"), 3));
        // N below one is one: still at most once a day.
        assert!(!reminder_due(
            start,
            Some(d("2026-11-24")),
            d("2026-11-24"),
            0
        ));
    }

    #[test]
    fn the_moves_are_action_codes() {
        use crate::model::ActionKind;
        for code in STEP_MOVES {
            // `reattribution` is the reassignment of a step, added alongside.
            assert!(
                code == "reattribution" || ActionKind::parse(code).is_some(),
                "{code}"
            );
        }
        assert!(!STEP_MOVES.contains(&ActionKind::Annotation.code()));
        assert!(!STEP_MOVES.contains(&ActionKind::DemandeAvis.code()));
        assert!(!STEP_MOVES.contains(&ActionKind::Avis.code()));
        assert_eq!(
            moves_sql(),
            "a.kind IN ('depot', 'visa', 'signature', 'cachet', 'signature_papier', 'reprise', 'reattribution')"
        );
    }

    #[test]
    fn local_days_follow_the_time_zone() {
        let tz = time_zone("Europe/Paris");
        let late: Timestamp = "2026-11-23T23:30:00Z".parse().unwrap();
        assert_eq!(local_day(late, &tz), d("2026-11-24"));
        assert_eq!(days_between(d("2026-11-24"), d("2026-11-27")), 3);
        assert_eq!(plural(1, "jour", "jours"), "1 jour");
        assert_eq!(plural(3, "jour", "jours"), "3 jours");
    }
}
