//! Usage events: the documented list of what services report.
//!
//! Every module records usage through the platform API
//! (`organisation, service, kind, user?, time`); the store keeps monthly aggregates per
//! organisation, service and kind, which the usage statistics, the contributions and the
//! territorial projects read. The list lives here so that the whole vocabulary is in one place
//! (see also `docs/usage-events.md`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::service::Service;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum UsageKind {
    /// A person of the organisation signed in (platform, no service).
    #[serde(rename = "connexion")]
    Connexion,
    /// A dossier was sent into a circuit of the parapheur.
    #[serde(rename = "dossier.envoye")]
    DossierEnvoye,
    /// A document was signed (or sealed) electronically in the parapheur.
    #[serde(rename = "dossier.signe")]
    DossierSigne,
    /// An acte was created (form, API, batch, duplicate or rectificatif), before any
    /// transmission.
    #[serde(rename = "acte.cree")]
    ActeCree,
    /// An acte was accepted by the préfecture's platform (contrôle de légalité).
    #[serde(rename = "acte.transmis")]
    ActeTransmis,
    /// The préfecture acknowledged an acte (ARActe): it is executory.
    #[serde(rename = "acte.acquitte")]
    ActeAcquitte,
    /// An answer to the préfecture (courrier, pièces complémentaires, observations) was
    /// accepted by its platform.
    #[serde(rename = "acte.reponse")]
    ActeReponse,
}

impl UsageKind {
    pub const ALL: [UsageKind; 7] = [
        UsageKind::Connexion,
        UsageKind::DossierEnvoye,
        UsageKind::DossierSigne,
        UsageKind::ActeCree,
        UsageKind::ActeTransmis,
        UsageKind::ActeAcquitte,
        UsageKind::ActeReponse,
    ];

    pub fn code(self) -> &'static str {
        match self {
            UsageKind::Connexion => "connexion",
            UsageKind::DossierEnvoye => "dossier.envoye",
            UsageKind::DossierSigne => "dossier.signe",
            UsageKind::ActeCree => "acte.cree",
            UsageKind::ActeTransmis => "acte.transmis",
            UsageKind::ActeAcquitte => "acte.acquitte",
            UsageKind::ActeReponse => "acte.reponse",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UsageKind::Connexion => "Connexions",
            UsageKind::DossierEnvoye => "Dossiers envoyés à la signature",
            UsageKind::DossierSigne => "Signatures électroniques",
            UsageKind::ActeCree => "Actes créés",
            UsageKind::ActeTransmis => "Actes transmis à la préfecture",
            UsageKind::ActeAcquitte => "Actes acquittés par la préfecture",
            UsageKind::ActeReponse => "Réponses envoyées à la préfecture",
        }
    }

    /// The service the event belongs to; `None` for the platform itself.
    pub fn service(self) -> Option<Service> {
        match self {
            UsageKind::Connexion => None,
            UsageKind::DossierEnvoye | UsageKind::DossierSigne => Some(Service::Parapheur),
            UsageKind::ActeCree
            | UsageKind::ActeTransmis
            | UsageKind::ActeAcquitte
            | UsageKind::ActeReponse => Some(Service::Actes),
        }
    }
}

impl fmt::Display for UsageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Type d'usage inconnu : « {0} ».")]
pub struct UnknownUsageKind(pub String);

impl FromStr for UsageKind {
    type Err = UnknownUsageKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UsageKind::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| UnknownUsageKind(s.to_owned()))
    }
}

/// The code stored in the `service` column: the service's code, or `platform`.
pub fn service_code(service: Option<Service>) -> &'static str {
    service.map_or("platform", Service::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in UsageKind::ALL {
            assert_eq!(k.code().parse::<UsageKind>().unwrap(), k);
            assert!(!k.label().is_empty());
        }
        assert_eq!(service_code(None), "platform");
        assert_eq!(service_code(Some(Service::Actes)), "actes");
        assert!("clic".parse::<UsageKind>().is_err());
    }
}
