//! The actes service's vocabulary: statuses of an acte, states of a préfecture message, kinds
//! of timeline events. The @CTES format itself (natures, messages, naming) is in
//! `bouquet-format-actes`.

use serde::{Deserialize, Serialize};

/// Where an acte stands.
///
/// ```text
/// brouillon ──► signature ──► pret ──► a_transmettre ──► transmis ──► acquitte ──► annulation_demandee ──► annule
///     │  (optional parapheur;              ▲       │            │
///     │   a rejection → brouillon)          │       └──► erreur ◄┘  (refused at the door, AnomalieActe,
///     └──────────── transmettre ───────────┘                        AnomalieEnveloppe); corrected → a_transmettre
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being written; nothing is sent.
    Brouillon,
    /// Waiting for its circuit in the parapheur; the signed PDF will be the one transmitted.
    Signature,
    /// Signed (or complete), waiting for someone to transmit it.
    Pret,
    /// Queued: the job builds the archive and sends it (and retries while the préfecture
    /// does not answer).
    ATransmettre,
    /// Accepted by the préfecture's platform; waiting for the accusé de réception.
    Transmis,
    /// ARActe received: the acte is executory from its date de réception.
    Acquitte,
    /// Refused (at the door, AnomalieActe or AnomalieEnveloppe): the reason is shown.
    Erreur,
    /// Annulation (6-1) sent, waiting for the ARAnnulation (6-2).
    AnnulationDemandee,
    /// The préfecture acknowledged the annulation.
    Annule,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Brouillon,
        Status::Signature,
        Status::Pret,
        Status::ATransmettre,
        Status::Transmis,
        Status::Acquitte,
        Status::Erreur,
        Status::AnnulationDemandee,
        Status::Annule,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Brouillon => "brouillon",
            Status::Signature => "signature",
            Status::Pret => "pret",
            Status::ATransmettre => "a_transmettre",
            Status::Transmis => "transmis",
            Status::Acquitte => "acquitte",
            Status::Erreur => "erreur",
            Status::AnnulationDemandee => "annulation_demandee",
            Status::Annule => "annule",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The French label shown in lists and on the acte's page.
    pub fn label(self) -> &'static str {
        match self {
            Status::Brouillon => "Brouillon",
            Status::Signature => "En attente de signature",
            Status::Pret => "Signé, prêt à transmettre",
            Status::ATransmettre => "En attente de transmission",
            Status::Transmis => "Transmis",
            Status::Acquitte => "Acquitté",
            Status::Erreur => "En erreur",
            Status::AnnulationDemandee => "Annulation demandée",
            Status::Annule => "Annulé",
        }
    }

    /// The fields of the acte can still be changed.
    pub fn editable(self) -> bool {
        matches!(self, Status::Brouillon | Status::Erreur)
    }
}

/// The state of a message exchanged with the préfecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Incoming, read and stored; nothing is expected from the collectivité (AR, 2-1, 5-1…).
    Recu,
    /// Incoming, the préfecture waits for an answer (3-1, 4-1).
    ReponseAttendue,
    /// Incoming, answered (the answer is the message whose `reply_to` names it).
    Repondu,
    /// Outgoing, waiting for its envelope to be sent.
    AEnvoyer,
    /// Outgoing, accepted by the préfecture's platform.
    Envoye,
    /// Outgoing, refused; or incoming and not understood (flagged).
    Erreur,
}

impl MessageState {
    pub const ALL: [MessageState; 6] = [
        MessageState::Recu,
        MessageState::ReponseAttendue,
        MessageState::Repondu,
        MessageState::AEnvoyer,
        MessageState::Envoye,
        MessageState::Erreur,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MessageState::Recu => "recu",
            MessageState::ReponseAttendue => "reponse_attendue",
            MessageState::Repondu => "repondu",
            MessageState::AEnvoyer => "a_envoyer",
            MessageState::Envoye => "envoye",
            MessageState::Erreur => "erreur",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            MessageState::Recu => "Reçu",
            MessageState::ReponseAttendue => "Réponse attendue",
            MessageState::Repondu => "Répondu",
            MessageState::AEnvoyer => "En attente d'envoi",
            MessageState::Envoye => "Envoyé",
            MessageState::Erreur => "En erreur",
        }
    }
}

/// A civil date as the préfecture and the stamps write it: "08/07/2022".
pub fn dmy(d: jiff::civil::Date) -> String {
    d.strftime("%d/%m/%Y").to_string()
}

/// Outbox topic published when the préfecture acknowledged an acte (ARActe). Payload:
/// `{"acte_id", "org_id", "id_acte", "received_date"}`. Publication and archiving subscribe.
pub const TOPIC_ACQUITTE: &str = "actes.acte.acquitte";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
        }
        for s in MessageState::ALL {
            assert_eq!(MessageState::parse(s.code()), Some(s));
        }
        assert_eq!(Status::parse("inconnu"), None);
        assert!(Status::Brouillon.editable());
        assert!(!Status::Transmis.editable());
    }
}
