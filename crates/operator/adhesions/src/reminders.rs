//! The daily job that reminds the ends of engagements and of EU funding (see
//! [`crate::engagements`]): one e-mail per deadline and window to the operator's staff and
//! the member's administrators, sent through the mail queue in the same transaction that
//! notes the reminder, so a reminder is neither lost nor sent twice.

use async_trait::async_trait;
use bouquet_kernel::clock::time_zone;
use bouquet_kernel::org::DEFAULT_TIME_ZONE;
use bouquet_kernel::{OrgId, Role};
use bouquet_store::jobs::JobRow;
use bouquet_store::mail::{self, Mail};
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Handle, Platform, StoreResult, accounts, orgs, run};
use jiff::civil::Date;

use crate::engagements::{self, Deadline, Due};
use crate::members::french_date;

pub const KIND: &str = "adhesions.reminders";

/// Addresses of the operator's staff (active accounts holding an operator role).
pub async fn operator_staff_emails(h: &mut impl Handle) -> StoreResult<Vec<String>> {
    let rows: Vec<String> = run!(h, |c| sqlx::query_scalar(
        "SELECT DISTINCT u.email FROM users u
         JOIN memberships m ON m.user_id = u.id
         JOIN organisations o ON o.id = m.org_id
         WHERE o.kind = 'operateur' AND u.active = TRUE
           AND (m.roles LIKE '%operator_admin%' OR m.roles LIKE '%operator_staff%')
         ORDER BY u.email"
    )
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// Addresses of a member's administrators.
async fn member_admin_emails(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<String>> {
    let people = accounts::org_users(h, org, None, None, 200).await?;
    Ok(people
        .items
        .into_iter()
        .filter(|u| u.active && u.roles().contains(Role::MemberAdmin))
        .map(|u| u.email)
        .collect())
}

fn message(p: &Platform, due: &Due) -> (String, String) {
    let operator = &p.settings.operator_name;
    let title = due
        .engagement
        .template()
        .map_or("Engagement", crate::documents::Template::title);
    let when = french_date(&due.date.to_string());
    let link = p
        .settings
        .link(&format!("/admin/membres/{}#engagements", due.org_siren));
    match due.deadline {
        Deadline::End => (
            format!("À renouveler : {} de {}", title, due.org_name),
            format!(
                "Bonjour,\n\nL'engagement « {title} » ({}) de {} prend fin le {when}, dans {} jours.\n\nPour que ses services continuent, préparez le nouvel engagement et faites-le signer avant cette date :\n{link}\n\n— {operator}",
                due.engagement.reference, due.org_name, due.days_left
            ),
        ),
        Deadline::EuFunding => (
            format!("Fin du financement européen : {}", due.org_name),
            format!(
                "Bonjour,\n\nLe financement européen de l'offre « Mairie connectée » de {} ({}) prend fin le {when}, dans {} jours. À partir de cette date, la commune prend en charge la part qui était financée à 80 % par l'Union européenne.\n\nFiche du membre :\n{link}\n\n— {operator}",
                due.org_name, due.engagement.reference, due.days_left
            ),
        ),
    }
}

/// Sends the reminders due on `today`; returns how many.
pub async fn send_due(p: &Platform, today: Date) -> StoreResult<usize> {
    let mut conn = p.db.read().await?;
    let due = engagements::due_reminders(&mut conn, today).await?;
    let staff = operator_staff_emails(&mut conn).await?;
    drop(conn);
    let mut sent = 0;
    for d in &due {
        let org: OrgId = d
            .engagement
            .org_id
            .parse()
            .map_err(|_| bouquet_store::StoreError::Corrupt("engagement org id".into()))?;
        let mut conn = p.db.read().await?;
        let mut to = member_admin_emails(&mut conn, org).await?;
        drop(conn);
        to.extend(staff.iter().cloned());
        to.sort();
        to.dedup();
        let (subject, text) = message(p, d);
        let now = p.clock.now();
        let mut tx = p.db.begin().await?;
        for address in &to {
            mail::queue(
                &mut tx,
                now,
                &Mail {
                    to: address.clone(),
                    subject: subject.clone(),
                    text: text.clone(),
                },
            )
            .await?;
        }
        engagements::mark_reminded(&mut tx, now, today, d).await?;
        tx.commit().await?;
        sent += 1;
    }
    if sent > 0 {
        p.wake_workers();
    }
    Ok(sent)
}

/// The job handler of [`KIND`].
pub struct Reminders;

#[async_trait]
impl JobHandler for Reminders {
    async fn run(&self, p: &Platform, _job: &JobRow) -> Result<(), JobError> {
        let today = orgs::local_date(p.clock.now(), &time_zone(DEFAULT_TIME_ZONE))
            .parse::<Date>()
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        send_due(p, today).await?;
        Ok(())
    }
}
