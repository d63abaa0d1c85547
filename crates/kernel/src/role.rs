//! Roles a person holds in an organisation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::org::OrgKind;

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
pub enum Role {
    /// Administers the whole platform (held in the operator's organisation).
    OperatorAdmin,
    /// The operator's staff: reads every member, runs the back office.
    OperatorStaff,
    /// Administers one member: its users and settings.
    MemberAdmin,
    /// Works in the services of the organisation.
    Agent,
    /// An élu who signs (maire, adjoint, président).
    EluSignataire,
    /// Référent numérique of an EPCI: follows some of its communes.
    ReferentNumerique,
    /// A person working for a company.
    CompanyUser,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::OperatorAdmin,
        Role::OperatorStaff,
        Role::MemberAdmin,
        Role::Agent,
        Role::EluSignataire,
        Role::ReferentNumerique,
        Role::CompanyUser,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::OperatorAdmin => "operator_admin",
            Role::OperatorStaff => "operator_staff",
            Role::MemberAdmin => "member_admin",
            Role::Agent => "agent",
            Role::EluSignataire => "elu_signataire",
            Role::ReferentNumerique => "referent_numerique",
            Role::CompanyUser => "company_user",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::OperatorAdmin => "Administrateur de la plateforme",
            Role::OperatorStaff => "Équipe de l'opérateur",
            Role::MemberAdmin => "Administrateur de l'organisation",
            Role::Agent => "Agent",
            Role::EluSignataire => "Élu signataire",
            Role::ReferentNumerique => "Référent numérique",
            Role::CompanyUser => "Utilisateur de l'entreprise",
        }
    }

    /// The roles that can be held in an organisation of `kind`.
    pub fn assignable_in(kind: OrgKind) -> &'static [Role] {
        match kind {
            OrgKind::Entreprise => &[Role::MemberAdmin, Role::CompanyUser],
            OrgKind::Operateur => &[
                Role::OperatorAdmin,
                Role::OperatorStaff,
                Role::MemberAdmin,
                Role::Agent,
                Role::EluSignataire,
            ],
            k if k.is_epci() => &[
                Role::MemberAdmin,
                Role::Agent,
                Role::EluSignataire,
                Role::ReferentNumerique,
            ],
            _ => &[Role::MemberAdmin, Role::Agent, Role::EluSignataire],
        }
    }

    /// Roles that only make sense in the operator's own organisation.
    pub fn is_operator_role(self) -> bool {
        matches!(self, Role::OperatorAdmin | Role::OperatorStaff)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Rôle inconnu : « {0} ».")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The roles one person holds in one organisation. Stored as a comma-separated list of codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RoleSet(u16);

impl RoleSet {
    pub fn empty() -> Self {
        Self(0)
    }

    fn bit(r: Role) -> u16 {
        1 << (r as u16)
    }

    pub fn with(mut self, r: Role) -> Self {
        self.insert(r);
        self
    }

    pub fn insert(&mut self, r: Role) {
        self.0 |= Self::bit(r);
    }

    pub fn remove(&mut self, r: Role) {
        self.0 &= !Self::bit(r);
    }

    pub fn contains(self, r: Role) -> bool {
        self.0 & Self::bit(r) != 0
    }

    pub fn contains_any(self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.contains(*r))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// Parses the stored form; unknown codes are an error so that a typo in the database is
    /// noticed rather than silently dropping a right.
    pub fn parse(stored: &str) -> Result<Self, UnknownRole> {
        stored
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse::<Role>)
            .collect()
    }

    pub fn to_stored(self) -> String {
        self.iter().map(Role::code).collect::<Vec<_>>().join(",")
    }
}

impl FromIterator<Role> for RoleSet {
    fn from_iter<T: IntoIterator<Item = Role>>(iter: T) -> Self {
        let mut set = Self::empty();
        for r in iter {
            set.insert(r);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_fit_their_organisation() {
        assert!(Role::assignable_in(OrgKind::Commune).contains(&Role::Agent));
        assert!(!Role::assignable_in(OrgKind::Commune).contains(&Role::OperatorAdmin));
        assert!(!Role::assignable_in(OrgKind::Commune).contains(&Role::ReferentNumerique));
        assert!(Role::assignable_in(OrgKind::Cc).contains(&Role::ReferentNumerique));
        assert!(Role::assignable_in(OrgKind::Operateur).contains(&Role::OperatorAdmin));
        assert!(!Role::assignable_in(OrgKind::Entreprise).contains(&Role::Agent));
    }

    #[test]
    fn role_sets_round_trip_through_storage() {
        let set = RoleSet::empty().with(Role::Agent).with(Role::MemberAdmin);
        assert_eq!(set.to_stored(), "member_admin,agent");
        assert_eq!(RoleSet::parse(&set.to_stored()).unwrap(), set);
        assert_eq!(RoleSet::parse("").unwrap(), RoleSet::empty());
        assert!(RoleSet::parse("agent,roi").is_err());
        let mut s = set;
        s.remove(Role::Agent);
        assert!(!s.contains(Role::Agent) && s.contains(Role::MemberAdmin));
    }
}
