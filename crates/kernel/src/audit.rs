//! The audit journal's event hash.
//!
//! Each event carries the SHA-256 of the previous event of its chain (one chain per
//! organisation, plus one for the platform). The hash covers every stored field through an
//! unambiguous, length-prefixed encoding, so that changing any field, or moving an event,
//! breaks the chain. The store appends and the verifier recomputes with this one function.

use sha2::{Digest, Sha256};

/// The chain of events not tied to an organisation (unknown-account logins, platform jobs).
pub const PLATFORM_CHAIN: &str = "platform";

/// The hash of the (absent) event before the first one of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFields<'a> {
    pub chain: &'a str,
    pub seq: i64,
    pub prev_hash: &'a str,
    pub at_micros: i64,
    pub org_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub actor_label: &'a str,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub details: &'a str,
}

fn put(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_be_bytes());
    h.update(field);
}

fn put_opt(h: &mut Sha256, field: Option<&str>) {
    match field {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put(h, s.as_bytes());
        }
    }
}

/// Hex SHA-256 of an event.
pub fn event_hash(e: &EventFields<'_>) -> String {
    let mut h = Sha256::new();
    h.update(b"bouquet-audit-v1");
    put(&mut h, e.chain.as_bytes());
    h.update(e.seq.to_be_bytes());
    put(&mut h, e.prev_hash.as_bytes());
    h.update(e.at_micros.to_be_bytes());
    put_opt(&mut h, e.org_id);
    put_opt(&mut h, e.actor_id);
    put(&mut h, e.actor_label.as_bytes());
    put(&mut h, e.action.as_bytes());
    put(&mut h, e.object_type.as_bytes());
    put(&mut h, e.object_id.as_bytes());
    put(&mut h, e.details.as_bytes());
    hex::encode(h.finalize())
}

/// The bytes a checkpoint signs: the chain, its length and its last hash.
pub fn checkpoint_message(chain: &str, seq: i64, hash: &str, at_micros: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"bouquet-audit-checkpoint-v1\n");
    m.extend_from_slice(chain.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(seq.to_string().as_bytes());
    m.push(b'\n');
    m.extend_from_slice(hash.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(at_micros.to_string().as_bytes());
    m
}

/// French label of a journal action, for the journal pages. Modules add theirs here, so that
/// the whole vocabulary of the journal is in one list.
pub fn action_label(action: &str) -> Option<&'static str> {
    Some(match action {
        "session.login" => "Connexion",
        "session.login_failed" => "Échec de connexion",
        "session.logout" => "Déconnexion",
        "session.token_issued" => "Jeton d'accès à l'API délivré",
        "user.created" => "Compte créé",
        "user.updated" => "Compte modifié",
        "user.deactivated" => "Compte désactivé",
        "user.reactivated" => "Compte réactivé",
        "user.password_changed" => "Mot de passe modifié",
        "user.password_reset_requested" => "Réinitialisation du mot de passe demandée",
        "user.password_reset" => "Mot de passe réinitialisé",
        "user.invited" => "Invitation à choisir son mot de passe envoyée",
        "user.token_created" => "Jeton personnel créé",
        "user.token_revoked" => "Jeton personnel révoqué",
        "membership.granted" => "Accès à l'organisation donné",
        "membership.roles_changed" => "Rôles modifiés",
        "membership.revoked" => "Accès à l'organisation retiré",
        "invitation.created" => "Invitation envoyée",
        "invitation.resent" => "Invitation renvoyée",
        "invitation.cancelled" => "Invitation annulée",
        "invitation.accepted" => "Invitation acceptée",
        "company.signup_requested" => "Demande d'inscription d'une entreprise",
        "company.registered" => "Entreprise inscrite",
        "organisation.created" => "Organisation créée",
        "organisation.updated" => "Organisation modifiée",
        "subscription.created" => "Abonnement à un service",
        "subscription.ended" => "Fin d'abonnement à un service",
        "referent.follow" => "Suivi d'une commune par un référent",
        "referent.scope_changed" => "Communes suivies par un référent modifiées",
        "referent.contacted" => "Message au référent",
        "member.enrolled" => "Adhésion enregistrée",
        "member.imported" => "Membres importés d'un fichier",
        "member.status_changed" => "Statut d'adhésion modifié",
        "member.college_changed" => "Collège modifié",
        "member.merged" => "Fusion dans une commune nouvelle",
        "engagement.prepared" => "Convention ou charte préparée",
        "engagement.signed" => "Signature de la convention ou charte enregistrée",
        "engagement.sent_to_circuit" => "Convention ou charte envoyée dans le parapheur",
        "engagement.terminated" => "Convention ou charte résiliée",
        "engagement.reminded" => "Rappel d'échéance envoyé",
        "registry.imported" => "Référentiel des communes importé",
        "registry.merger_detected" => {
            "Fusion dans une commune nouvelle signalée par le référentiel"
        }
        "registry.merger_ignored" => "Alerte de fusion ignorée",
        "organisation.registry_synced" => {
            "Organisation mise à jour d'après le référentiel officiel"
        }
        "parapheur.circuit.created" => "Circuit de signature créé",
        "parapheur.circuit.enabled" => "Circuit de signature proposé à nouveau",
        "parapheur.circuit.disabled" => "Circuit de signature retiré",
        "parapheur.dossier.sent" => "Dossier envoyé dans un circuit de signature",
        "parapheur.dossier.visa" => "Dossier visé",
        "parapheur.dossier.signed" => "Dossier signé électroniquement",
        "parapheur.dossier.sealed" => "Cachet de l'organisation apposé",
        "parapheur.dossier.paper_signed" => "Signature papier déposée",
        "parapheur.dossier.rejected" => "Dossier rejeté",
        "parapheur.dossier.taken_back" => "Action reprise sur un dossier",
        "parapheur.dossier.reassigned" => "Étape d'un dossier réattribuée",
        "parapheur.delegation.created" => "Absence déclarée (suppléance)",
        "parapheur.delegation.revoked" => "Fin d'absence",
        "parapheur.certificate.added" => "Certificat de signature installé",
        "actes.acte.created" => "Acte créé",
        "actes.acte.updated" => "Acte modifié",
        "actes.acte.deleted" => "Brouillon d'acte supprimé",
        "actes.acte.sent_to_signature" => "Acte envoyé en signature dans le parapheur",
        "actes.acte.signed" => "Acte signé dans le parapheur",
        "actes.acte.signature_rejected" => "Signature d'un acte refusée dans le parapheur",
        "actes.exported" => "Liste des actes exportée",
        "actes.settings.updated" => "Paramètres des actes modifiés",
        "actes.classification.stored" => "Classification de la préfecture enregistrée",
        "actes.acte.transmission_requested" => "Transmission d'un acte à la préfecture demandée",
        "actes.acte.transmitted" => "Acte transmis à la préfecture",
        "actes.acte.transmission_failed" => "Transmission d'un acte refusée ou impossible",
        "actes.acte.acknowledged" => "Accusé de réception de la préfecture reçu",
        "actes.acte.anomaly" => "Anomalie signalée par la préfecture",
        "actes.acte.cancellation_requested" => "Annulation d'un acte demandée à la préfecture",
        "actes.acte.cancelled" => "Annulation d'un acte confirmée par la préfecture",
        "actes.acte.no_ar_alert" => "Alerte : acte transmis sans accusé de réception",
        "actes.message.received" => "Message de la préfecture reçu",
        "actes.message.flagged" => "Message de la préfecture non reconnu, conservé pour examen",
        "actes.message.answered" => "Réponse à la préfecture préparée",
        "actes.message.sent" => "Message accepté par la préfecture",
        "actes.message.refused" => "Message refusé par la préfecture",
        "actes.classification.requested" => "Classification demandée à la préfecture",
        "job.retried" => "Tâche relancée",
        "demo.seeded" => "Territoire de démonstration créé",
        "demo.scaled" => "Échelle réaliste de démonstration créée",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventFields<'static> {
        EventFields {
            chain: "0190e3a4-0000-7000-8000-000000000001",
            seq: 1,
            prev_hash: GENESIS_HASH,
            at_micros: 1_795_000_000_000_000,
            org_id: Some("0190e3a4-0000-7000-8000-000000000001"),
            actor_id: None,
            actor_label: "Sophie Lebrun",
            action: "user.created",
            object_type: "user",
            object_id: "x",
            details: "{}",
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = event_hash(&sample());
        assert_eq!(base.len(), 64);
        assert_eq!(base, event_hash(&sample()), "deterministic");
        let variants: Vec<EventFields<'static>> = vec![
            EventFields {
                chain: "autre",
                ..sample()
            },
            EventFields { seq: 2, ..sample() },
            EventFields {
                prev_hash: "ff",
                ..sample()
            },
            EventFields {
                at_micros: 1,
                ..sample()
            },
            EventFields {
                org_id: None,
                ..sample()
            },
            EventFields {
                actor_id: Some(""),
                ..sample()
            },
            EventFields {
                actor_label: "Sophie Lebrum",
                ..sample()
            },
            EventFields {
                action: "user.updated",
                ..sample()
            },
            EventFields {
                object_type: "users",
                ..sample()
            },
            EventFields {
                object_id: "y",
                ..sample()
            },
            EventFields {
                details: "{ }",
                ..sample()
            },
        ];
        for v in variants {
            assert_ne!(event_hash(&v), base, "{v:?}");
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // Moving a character from one field to the next must change the hash.
        let a = EventFields {
            object_type: "ab",
            object_id: "c",
            ..sample()
        };
        let b = EventFields {
            object_type: "a",
            object_id: "bc",
            ..sample()
        };
        assert_ne!(event_hash(&a), event_hash(&b));
    }

    #[test]
    fn known_actions_have_labels() {
        assert_eq!(action_label("session.login"), Some("Connexion"));
        assert_eq!(action_label("inconnue"), None);
    }
}
