//! The alert when the préfecture does not acknowledge an acte: an acte `transmis` without AR
//! two days after it was sent (48 hours counted in the member's time zone, so that a change
//! of summer time does not move the deadline) is mailed once to its author and the
//! organisation's référents (`alert_sent`), and shows on the dashboard.

use async_trait::async_trait;
use bouquet_kernel::OrgId;
use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_store::audit::{self, NewEvent};
use bouquet_store::jobs::JobRow;
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreResult, orgs};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::json;

use super::data::{self, Acte};
use super::outgoing::{self, system};
use crate::events::{self, NewEvent as TimelineEvent};

/// The periodic job of the alerts.
pub const ALERTS: &str = "actes.alertes";

/// Days without AR before the alert.
pub const ALERT_AFTER_DAYS: i64 = 2;

pub struct Alerts;

#[async_trait]
impl JobHandler for Alerts {
    async fn run(&self, p: &Platform, _job: &JobRow) -> Result<(), JobError> {
        send(p, p.clock.now()).await?;
        Ok(())
    }
}

/// When the alert of an acte sent at `sent_at` is due: the same local time two days later.
pub fn due_at(sent_at: Timestamp, tz: &jiff::tz::TimeZone) -> Timestamp {
    sent_at
        .to_zoned_datetime(tz.clone())
        .checked_add(ALERT_AFTER_DAYS.days())
        .map_or_else(
            |_| {
                sent_at
                    .saturating_add(SignedDuration::from_hours(24 * ALERT_AFTER_DAYS))
                    .unwrap_or(sent_at)
            },
            |z| z.timestamp(),
        )
}

/// Whether an acte waits for its AR past the deadline.
pub fn overdue(acte: &Acte, tz: &jiff::tz::TimeZone, now: Timestamp) -> bool {
    acte.status == "transmis"
        && acte
            .sent_at
            .is_some_and(|s| now >= due_at(from_micros(s), tz))
}

/// Sends the alerts due at `now`; returns how many went out.
pub async fn send(p: &Platform, now: Timestamp) -> StoreResult<usize> {
    // Two local days are at least 47 hours (a change of summer time): nothing younger is due.
    let cutoff = now
        .saturating_sub(SignedDuration::from_hours(24 * ALERT_AFTER_DAYS - 1))
        .unwrap_or(now);
    let candidates = {
        let mut conn = p.db.read().await?;
        data::waiting_for_ar(&mut conn, to_micros(cutoff)).await?
    };
    let mut sent = 0;
    for acte in candidates {
        let org: OrgId = acte.org()?;
        let tz = {
            let mut conn = p.db.read().await?;
            orgs::get(&mut conn, org).await?.map(|o| o.tz())
        };
        let Some(tz) = tz else { continue };
        if !overdue(&acte, &tz, now) {
            continue;
        }
        let sent_at = acte.sent_at.map(from_micros).unwrap_or(now);
        let when = bouquet_kernel::clock::format_fr(sent_at, &tz);
        let claimed = p
            .db
            .atomically(async |tx| {
                if !data::claim_alert(tx, &acte.id).await? {
                    return Ok(false);
                }
                events::record(
                    tx,
                    now,
                    &acte.id,
                    TimelineEvent {
                        kind: "alerte",
                        label: "Pas d'accusé de réception de la préfecture 48 heures après l'envoi : l'auteur et le référent sont prévenus".into(),
                        user: None,
                        message_id: None,
                    },
                )
                .await?;
                audit::append(
                    tx,
                    now,
                    NewEvent::new(Some(org), &system(), "actes.acte.no_ar_alert", "acte", &acte.id)
                        .details(json!({ "envoye": when })),
                )
                .await?;
                outgoing::tell_about_acte(
                    tx,
                    p,
                    now,
                    org,
                    &acte.id,
                    "Pas d'accusé de réception de la préfecture",
                    &format!("L'acte « {{titre}} » a été transmis à la préfecture le {when} et son accusé de réception n'est pas arrivé 48 heures plus tard. L'acte n'est pas exécutoire tant que la préfecture ne l'a pas reçu : vérifiez sa page de suivi ; si rien n'arrive, contactez la préfecture."),
                )
                .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_local_days_across_a_change_of_time() {
        let paris = bouquet_kernel::clock::time_zone("Europe/Paris");
        // Friday 24 October 2025, 10:00 in Paris; summer time ends on Sunday 26.
        let sent: Timestamp = "2025-10-24T08:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let due = due_at(sent, &paris);
        assert_eq!(due.to_string(), "2025-10-26T09:00:00Z");
        assert_eq!(due.duration_since(sent), SignedDuration::from_hours(49));
        // A plain week: exactly 48 hours.
        let sent: Timestamp = "2026-11-23T09:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(
            due_at(sent, &paris).duration_since(sent),
            SignedDuration::from_hours(48)
        );
    }
}
