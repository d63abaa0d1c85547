//! Conventions and charters signed through the parapheur: the member's élu signs, then the
//! operator's président, in one two-organisation circuit. The parapheur tells how it ended
//! through its outbox topic; a signed document is then recorded as the engagement's
//! signature, as if the operator had uploaded it, and a rejection frees the engagement to be
//! sent again.

use async_trait::async_trait;
use bouquet_kernel::{AppError, OrgKind, Service};
use bouquet_parapheur::flow::{self, InFile, Person, Submission, TOPIC_ENDED};
use bouquet_parapheur::model::{Actor, StepDef, StepKind, StepMode};
use bouquet_store::audit::{AuditActor, NewEvent};
use bouquet_store::blobs::owner_key;
use bouquet_store::jobs::JobRow;
use bouquet_store::orgs::{self, OrgFilter, OrgRow};
use bouquet_store::outbox::Envelope;
use bouquet_store::worker::{JobError, JobHandler};
use bouquet_store::{Platform, StoreError, StoreResult, audit};
use serde_json::json;

use crate::documents::Template;
use crate::engagements::{self, Signature, Status};

/// The job that receives the parapheur's "circuit ended" events.
pub const KIND: &str = "adhesions.circuit_ended";
const SOURCE: &str = "adhesions";

/// Who signs for a member: the maire of a commune, the président of anything else.
fn signatory_title(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Commune => "Maire",
        _ => "Président",
    }
}

/// Sends the prepared document of engagement `id` of `member` into the circuit; returns the
/// dossier's id.
pub async fn send(
    p: &Platform,
    member: &OrgRow,
    id: &str,
    sender: Person<'_>,
) -> StoreResult<String> {
    let org = member.id()?;
    let now = p.clock.now();
    let (engagement, operator, subscribed) = {
        let mut conn = p.db.read().await?;
        let engagement = engagements::get(&mut conn, org, id)
            .await?
            .ok_or(AppError::NotFound)?;
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
        let subscribed = orgs::active_services(&mut conn, member, now)
            .await?
            .contains(Service::Parapheur);
        (engagement, operator, subscribed)
    };
    if engagement.status() != Some(Status::ToSign) || engagement.parapheur_dossier.is_some() {
        return Err(AppError::Conflict(
            "Ce document n'attend pas de signature, ou il est déjà dans le parapheur.".into(),
        )
        .into());
    }
    if !subscribed {
        return Err(AppError::Conflict(format!(
            "{} n'a pas souscrit au parapheur : téléchargez le document, faites-le signer, puis enregistrez la signature.",
            member.name
        ))
        .into());
    }
    // Claimed first: two clicks send one dossier; a failed sending frees it again.
    let claimed =
        p.db.atomically(async |tx| engagements::claim_for_circuit(tx, now, org, id).await)
            .await?;
    if !claimed {
        return Err(AppError::Conflict(
            "Ce document vient d'être envoyé dans le parapheur.".into(),
        )
        .into());
    }
    let dossier = match submit_engagement(p, member, &engagement, &operator, sender).await {
        Ok(dossier) => dossier,
        Err(e) => {
            p.db.atomically(async |tx| engagements::set_circuit(tx, now, org, id, None).await)
                .await?;
            return Err(e);
        }
    };
    p.db.atomically(async |tx| {
        engagements::set_circuit(tx, now, org, id, Some(&dossier)).await?;
        audit::append(
            tx,
            now,
            NewEvent::new(
                Some(org),
                &AuditActor::user(sender.id, sender.name),
                "engagement.sent_to_circuit",
                "engagement",
                id,
            )
            .details(json!({ "reference": engagement.reference, "dossier": dossier })),
        )
        .await
    })
    .await?;
    Ok(dossier)
}

/// The dossier of the engagement's prepared PDF, in the two-organisation circuit.
async fn submit_engagement(
    p: &Platform,
    member: &OrgRow,
    engagement: &engagements::EngagementRow,
    operator: &OrgRow,
    sender: Person<'_>,
) -> StoreResult<String> {
    let org = member.id()?;
    let generated = engagement
        .generated_sha256
        .clone()
        .ok_or_else(|| StoreError::Corrupt("document préparé absent".into()))?;
    let pdf = p.blobs.read_all(&owner_key(Some(org)), &generated).await?;
    let title = engagement.template().map_or("Convention", Template::title);
    let step = |actor: &str, org_siren: Option<String>| StepDef {
        kind: StepKind::Signature,
        mode: StepMode::Any,
        reading_required: true,
        actors: vec![Actor::Title(actor.to_owned())],
        org_siren,
    };
    flow::submit(
        p,
        member,
        sender,
        Submission {
            title: format!("{title} {}", engagement.reference),
            doc_type: "convention".into(),
            subtype: Some(title.to_owned()),
            circuit_name: format!("{title} : {}, puis l'opérateur", member.name),
            steps: vec![
                step(signatory_title(member.kind()?), None),
                step("Président", Some(operator.siren.clone())),
            ],
            document: InFile {
                name: format!("{}.pdf", engagement.reference),
                bytes: pdf,
            },
            annexes: Vec::new(),
            source: Some((SOURCE.to_owned(), engagement.id.clone())),
        },
    )
    .await
}

/// Receives the end of a circuit: records the signed document, or frees the engagement.
pub struct CircuitEnded;

#[async_trait]
impl JobHandler for CircuitEnded {
    async fn run(&self, p: &Platform, job: &JobRow) -> Result<(), JobError> {
        let envelope: Envelope = serde_json::from_value(job.payload())
            .map_err(|e| JobError::Permanent(format!("enveloppe illisible : {e}")))?;
        if envelope.topic != TOPIC_ENDED || envelope.payload["source"].as_str() != Some(SOURCE) {
            return Ok(());
        }
        let (Some(org), Some(id)) = (
            envelope.org_id.as_deref().and_then(|o| o.parse().ok()),
            envelope.payload["source_ref"].as_str(),
        ) else {
            return Err(JobError::Permanent(
                "événement sans organisation ni référence".into(),
            ));
        };
        let now = p.clock.now();
        let system = AuditActor::system();
        let member = {
            let mut conn = p.db.read().await?;
            orgs::get(&mut conn, org).await?
        }
        .ok_or_else(|| JobError::Permanent("organisation inconnue".into()))?;
        let today = orgs::local_date(now, &member.tz())
            .parse()
            .map_err(|_| JobError::Permanent("date locale illisible".into()))?;
        match envelope.payload["status"].as_str() {
            Some("termine") => {
                let sha = envelope.payload["document_sha256"]
                    .as_str()
                    .ok_or_else(|| JobError::Permanent("document signé absent".into()))?
                    .to_owned();
                let size = p.blobs.read_all(&owner_key(Some(org)), &sha).await?.len() as i64;
                let signature = Signature {
                    signatory: "Signature électronique dans le parapheur (membre, puis président de l'opérateur)".into(),
                    signed_on: today,
                    sha256: sha,
                    size,
                };
                p.db.atomically(async |tx| {
                    match engagements::record_signature(
                        tx, now, today, org, id, &signature, &system,
                    )
                    .await
                    {
                        // Already recorded (the event came twice): nothing to do.
                        Err(StoreError::App(AppError::Conflict(_))) => Ok(()),
                        other => other.map(|_| ()),
                    }
                })
                .await?;
            }
            Some("rejete") => {
                p.db.atomically(async |tx| engagements::set_circuit(tx, now, org, id, None).await)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
