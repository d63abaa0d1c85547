//! Organisation kinds and their time zones.

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
pub enum OrgKind {
    Region,
    Departement,
    /// Communauté de communes.
    Cc,
    /// Communauté d'agglomération.
    Ca,
    /// Communauté urbaine.
    Cu,
    Metropole,
    Commune,
    Ccas,
    Cias,
    Syndicat,
    AutrePublic,
    /// The operator that runs Bouquet (a syndicat mixte).
    Operateur,
    /// A company: uses the marchés and factures services, never a member.
    Entreprise,
}

impl OrgKind {
    pub const ALL: [OrgKind; 13] = [
        OrgKind::Region,
        OrgKind::Departement,
        OrgKind::Cc,
        OrgKind::Ca,
        OrgKind::Cu,
        OrgKind::Metropole,
        OrgKind::Commune,
        OrgKind::Ccas,
        OrgKind::Cias,
        OrgKind::Syndicat,
        OrgKind::AutrePublic,
        OrgKind::Operateur,
        OrgKind::Entreprise,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OrgKind::Region => "region",
            OrgKind::Departement => "departement",
            OrgKind::Cc => "cc",
            OrgKind::Ca => "ca",
            OrgKind::Cu => "cu",
            OrgKind::Metropole => "metropole",
            OrgKind::Commune => "commune",
            OrgKind::Ccas => "ccas",
            OrgKind::Cias => "cias",
            OrgKind::Syndicat => "syndicat",
            OrgKind::AutrePublic => "autre_public",
            OrgKind::Operateur => "operateur",
            OrgKind::Entreprise => "entreprise",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrgKind::Region => "Région",
            OrgKind::Departement => "Département",
            OrgKind::Cc => "Communauté de communes",
            OrgKind::Ca => "Communauté d'agglomération",
            OrgKind::Cu => "Communauté urbaine",
            OrgKind::Metropole => "Métropole",
            OrgKind::Commune => "Commune",
            OrgKind::Ccas => "Centre communal d'action sociale (CCAS)",
            OrgKind::Cias => "Centre intercommunal d'action sociale (CIAS)",
            OrgKind::Syndicat => "Syndicat",
            OrgKind::AutrePublic => "Autre organisme public",
            OrgKind::Operateur => "Opérateur",
            OrgKind::Entreprise => "Entreprise",
        }
    }

    /// An EPCI à fiscalité propre: the level that pays the flat contribution for its communes.
    pub fn is_epci(self) -> bool {
        matches!(
            self,
            OrgKind::Cc | OrgKind::Ca | OrgKind::Cu | OrgKind::Metropole
        )
    }

    /// Kinds that belong to an EPCI (commune, and the CCAS of a commune).
    pub fn has_parent_epci(self) -> bool {
        matches!(self, OrgKind::Commune | OrgKind::Ccas)
    }

    /// Public bodies that can be members of the operator (companies never are).
    pub fn is_public(self) -> bool {
        !matches!(self, OrgKind::Entreprise)
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Type d'organisation inconnu : « {0} ».")]
pub struct UnknownOrgKind(pub String);

impl FromStr for OrgKind {
    type Err = UnknownOrgKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgKind::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| UnknownOrgKind(s.to_owned()))
    }
}

/// Mainland France and Corsica.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Paris";

/// The IANA time zone in which an organisation's legal dates and deadlines are computed,
/// from its département code (as in the INSEE code: `35`, `2A`, `974`…).
pub fn time_zone_for_departement(departement: &str) -> &'static str {
    match departement {
        "971" => "America/Guadeloupe",
        "972" => "America/Martinique",
        "973" => "America/Cayenne",
        "974" => "Indian/Reunion",
        "975" => "America/Miquelon",
        "976" => "Indian/Mayotte",
        "977" => "America/St_Barthelemy",
        "978" => "America/Marigot",
        "986" => "Pacific/Wallis",
        "987" => "Pacific/Tahiti",
        "988" => "Pacific/Noumea",
        _ => DEFAULT_TIME_ZONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in OrgKind::ALL {
            assert_eq!(k.code().parse::<OrgKind>().unwrap(), k);
        }
        assert!("mairie".parse::<OrgKind>().is_err());
        assert!(OrgKind::Cc.is_epci() && OrgKind::Metropole.is_epci());
        assert!(!OrgKind::Commune.is_epci() && !OrgKind::Syndicat.is_epci());
        assert!(!OrgKind::Entreprise.is_public());
    }

    #[test]
    fn every_time_zone_is_known_to_the_tz_database() {
        for dep in [
            "35", "2A", "971", "972", "973", "974", "975", "976", "977", "978", "986", "987", "988",
        ] {
            let tz = time_zone_for_departement(dep);
            assert!(jiff::tz::TimeZone::get(tz).is_ok(), "{tz}");
        }
        assert_eq!(time_zone_for_departement("974"), "Indian/Reunion");
        assert_eq!(time_zone_for_departement("35"), "Europe/Paris");
    }
}
