//! The eight services of the bouquet.
//!
//! **Architecture Invariant:** this enum is the only list of services. Subscriptions, usage
//! statistics, barèmes and route gating all use it, so that a service cannot exist in one
//! place and be missing in another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Transmission of acts to the contrôle de légalité (@CTES).
    Actes,
    /// "Flux comptables": PES flows to the public accountant (Helios).
    Helios,
    /// Signature circuits.
    Parapheur,
    /// Supplier invoices (facture électronique).
    Factures,
    /// "Archivage": the electronic archiving system.
    Archives,
    /// "Marchés publics": the profil d'acheteur.
    Marches,
    /// "Échanges sécurisés": secure exchange of large files.
    Transfert,
    /// "Information publique en ligne": legal publication and open data.
    Publication,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Service::Actes,
        Service::Helios,
        Service::Parapheur,
        Service::Factures,
        Service::Archives,
        Service::Marches,
        Service::Transfert,
        Service::Publication,
    ];

    /// Stable code stored in the database and used in the API.
    pub fn code(self) -> &'static str {
        match self {
            Service::Actes => "actes",
            Service::Helios => "helios",
            Service::Parapheur => "parapheur",
            Service::Factures => "factures",
            Service::Archives => "archives",
            Service::Marches => "marches",
            Service::Transfert => "transfert",
            Service::Publication => "publication",
        }
    }

    /// The name people know the service by.
    pub fn label(self) -> &'static str {
        match self {
            Service::Actes => "Actes",
            Service::Helios => "Flux comptables",
            Service::Parapheur => "Parapheur",
            Service::Factures => "Facture électronique",
            Service::Archives => "Archivage",
            Service::Marches => "Marchés publics",
            Service::Transfert => "Échanges sécurisés",
            Service::Publication => "Information publique en ligne",
        }
    }

    /// One sentence a secretary understands.
    pub fn description(self) -> &'static str {
        match self {
            Service::Actes => "Transmettre les délibérations et arrêtés à la préfecture.",
            Service::Helios => "Envoyer les mandats et titres au comptable public.",
            Service::Parapheur => "Faire viser et signer les documents par les élus.",
            Service::Factures => "Recevoir et traiter les factures des fournisseurs.",
            Service::Archives => "Conserver les documents électroniques et les retrouver.",
            Service::Marches => "Publier les consultations et recevoir les offres.",
            Service::Transfert => "Envoyer des fichiers volumineux en toute sécurité.",
            Service::Publication => "Publier les actes et les données ouvertes en ligne.",
        }
    }

    /// French path segment under `/o/{siren}/`.
    pub fn slug(self) -> &'static str {
        match self {
            Service::Actes => "actes",
            Service::Helios => "flux-comptables",
            Service::Parapheur => "parapheur",
            Service::Factures => "factures",
            Service::Archives => "archivage",
            Service::Marches => "marches-publics",
            Service::Transfert => "echanges-securises",
            Service::Publication => "publication",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Service inconnu : « {0} ».")]
pub struct UnknownService(pub String);

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|svc| svc.code() == s)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

/// A small set of services (a bit per service).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceSet(u8);

impl ServiceSet {
    pub fn empty() -> Self {
        Self(0)
    }

    fn bit(s: Service) -> u8 {
        1 << (s as u8)
    }

    pub fn insert(&mut self, s: Service) {
        self.0 |= Self::bit(s);
    }

    pub fn contains(self, s: Service) -> bool {
        self.0 & Self::bit(s) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Service> {
        Service::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Service> for ServiceSet {
    fn from_iter<T: IntoIterator<Item = Service>>(iter: T) -> Self {
        let mut set = Self::empty();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_slugs_and_labels_are_unique_and_round_trip() {
        let mut codes = std::collections::HashSet::new();
        let mut slugs = std::collections::HashSet::new();
        for s in Service::ALL {
            assert!(codes.insert(s.code()));
            assert!(slugs.insert(s.slug()));
            assert_eq!(s.code().parse::<Service>().unwrap(), s);
            assert!(!s.label().is_empty() && !s.description().is_empty());
        }
        assert_eq!(codes.len(), 8);
        assert!("fax".parse::<Service>().is_err());
    }

    #[test]
    fn service_sets() {
        let set: ServiceSet = [Service::Actes, Service::Publication].into_iter().collect();
        assert!(set.contains(Service::Actes));
        assert!(!set.contains(Service::Helios));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Service::Actes, Service::Publication]
        );
        assert!(ServiceSet::empty().is_empty());
    }
}
