//! The authorisation policy: pure code, decided from facts the caller loads.
//!
//! A person relates to an organisation in one or more ways: as a member holding roles, as
//! the référent numérique who follows it, as an agent of its EPCI, or as the operator's
//! staff. Each [`Action`] lists which relations allow it.
//!
//! **Architecture Invariant:** a person with no visible relation to an organisation gets
//! [`Denial::NotVisible`], which the web layer answers with 404: the existence of another
//! member's data is never revealed. A person who may see the organisation but not do the
//! action gets [`Denial::Forbidden`] (403) with a French reason.

use crate::error::AppError;
use crate::ids::{OrgId, UserId};
use crate::org::OrgKind;
use crate::role::{Role, RoleSet};
use crate::service::{Service, ServiceSet};

/// One organisation a person belongs to, with the roles held there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub org_id: OrgId,
    pub org_kind: OrgKind,
    pub roles: RoleSet,
}

/// Who is acting: everything the policy needs to know about a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub memberships: Vec<Membership>,
    /// Communes (and CCAS) this person follows as référent numérique.
    pub followed: Vec<OrgId>,
}

impl Actor {
    pub fn roles_in(&self, org: OrgId) -> Option<RoleSet> {
        self.memberships
            .iter()
            .find(|m| m.org_id == org)
            .map(|m| m.roles)
    }

    /// Roles held in the operator's organisation(s).
    pub fn operator_roles(&self) -> RoleSet {
        self.memberships
            .iter()
            .filter(|m| m.org_kind == OrgKind::Operateur)
            .flat_map(|m| m.roles.iter())
            .filter(|r| r.is_operator_role())
            .collect()
    }

    pub fn is_operator_admin(&self) -> bool {
        self.operator_roles().contains(Role::OperatorAdmin)
    }

    /// Operator staff, administrators included.
    pub fn is_operator_staff(&self) -> bool {
        self.operator_roles()
            .contains_any(&[Role::OperatorAdmin, Role::OperatorStaff])
    }
}

/// What the policy needs to know about the organisation acted upon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgFacts {
    pub id: OrgId,
    pub kind: OrgKind,
    /// The EPCI of a commune or CCAS.
    pub parent: Option<OrgId>,
    /// Services subscribed today.
    pub services: ServiceSet,
}

/// Something done within one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// See the organisation's home page and identity.
    ViewOrganisation,
    /// See who works there.
    ReadUsers,
    /// Give and remove roles, remove people.
    ManageUsers,
    /// Read the organisation's audit journal.
    ReadJournal,
    /// Read the organisation's usage statistics.
    ReadUsage,
    /// Write to one's référent numérique.
    ContactReferent,
    /// Change the organisation's settings.
    ManageSettings,
    /// Work in a service (create, send, sign…).
    UseService(Service),
    /// Read a service's data without acting.
    ReadService(Service),
}

/// Something done on the platform as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformAction {
    /// Manage users and organisations of the platform.
    Administer,
    /// Read every member's pages.
    ReadAllMembers,
    /// Record memberships, conventions and subscriptions (the operator's staff's daily work).
    ManageMembers,
    /// See and retry background jobs.
    ManageJobs,
    /// Read every organisation's journal.
    ReadJournals,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No visible relation: answer as if the thing did not exist.
    NotVisible,
    /// Visible, but this person may not do this.
    Forbidden(&'static str),
    /// The organisation has not subscribed to this service.
    NotSubscribed(Service),
}

impl From<Denial> for AppError {
    fn from(d: Denial) -> Self {
        match d {
            Denial::NotVisible => AppError::NotFound,
            Denial::Forbidden(reason) => AppError::Forbidden(reason.to_owned()),
            Denial::NotSubscribed(s) => AppError::ServiceNotSubscribed(s),
        }
    }
}

pub type Decision = Result<(), Denial>;

/// How the actor relates to the organisation.
#[derive(Clone, Copy, Debug, Default)]
struct Relations {
    member: Option<RoleSet>,
    follows: bool,
    epci_of: bool,
    operator_staff: bool,
    operator_admin: bool,
}

impl Relations {
    fn of(actor: &Actor, org: &OrgFacts) -> Self {
        Self {
            member: actor.roles_in(org.id),
            follows: actor.followed.contains(&org.id),
            epci_of: org
                .parent
                .is_some_and(|parent| actor.roles_in(parent).is_some()),
            operator_staff: actor.is_operator_staff(),
            operator_admin: actor.is_operator_admin(),
        }
    }

    /// Relations that let a person see the organisation at all. Being an agent of its EPCI
    /// is not one of them: it only opens the usage statistics.
    fn visible(self) -> bool {
        self.member.is_some() || self.follows || self.operator_staff
    }

    fn member_with(self, roles: &[Role]) -> bool {
        self.member.is_some_and(|r| r.contains_any(roles))
    }
}

const READ_ONLY: &str =
    "Vous consultez cette organisation en lecture seule : cette action est réservée à ses agents.";

/// Decides whether `actor` may do `action` in `org`.
pub fn decide(actor: &Actor, action: Action, org: &OrgFacts) -> Decision {
    let r = Relations::of(actor, org);
    let allowed = match action {
        Action::ViewOrganisation => r.visible(),
        Action::ReadUsers => r.member_with(&[Role::MemberAdmin]) || r.follows || r.operator_staff,
        Action::ManageUsers | Action::ManageSettings => {
            r.member_with(&[Role::MemberAdmin]) || r.operator_admin
        }
        Action::ReadJournal => r.member_with(&[Role::MemberAdmin]) || r.operator_staff,
        Action::ReadUsage => r.member.is_some() || r.follows || r.epci_of || r.operator_staff,
        Action::ContactReferent => r.member.is_some() && org.kind.is_public(),
        Action::UseService(s) | Action::ReadService(s) if !org.services.contains(s) => {
            return if r.visible() {
                Err(Denial::NotSubscribed(s))
            } else {
                Err(Denial::NotVisible)
            };
        }
        Action::UseService(_) => {
            r.member_with(&[Role::Agent, Role::MemberAdmin, Role::EluSignataire])
        }
        Action::ReadService(_) => r.member.is_some() || r.follows || r.operator_staff,
    };
    if allowed {
        Ok(())
    } else if r.visible() {
        Err(Denial::Forbidden(match action {
            Action::ReadUsers => {
                "La liste des utilisateurs est réservée aux administrateurs de l'organisation."
            }
            Action::ManageUsers => {
                "Seul un administrateur de l'organisation peut gérer ses utilisateurs."
            }
            Action::ManageSettings => {
                "Seul un administrateur de l'organisation peut modifier ses paramètres."
            }
            Action::ReadJournal => "Le journal est réservé aux administrateurs de l'organisation.",
            Action::ContactReferent => {
                "Seuls les agents et élus d'une collectivité peuvent écrire à son référent."
            }
            _ => READ_ONLY,
        }))
    } else {
        Err(Denial::NotVisible)
    }
}

/// Whether `actor`, who may manage the users of `org`, may also change these roles: giving or
/// taking an operator role (administrator or staff of the platform) takes a platform
/// administrator, whatever one's roles in the organisation; and a role must exist in the
/// kind of organisation.
pub fn may_change_roles(
    actor: &Actor,
    org: &OrgFacts,
    before: RoleSet,
    after: RoleSet,
) -> Decision {
    if after
        .iter()
        .any(|r| !Role::assignable_in(org.kind).contains(&r))
    {
        return Err(Denial::Forbidden(
            "Ce rôle ne peut pas être donné dans ce type d'organisation.",
        ));
    }
    let changed_operator_role = Role::ALL
        .into_iter()
        .filter(|r| r.is_operator_role())
        .any(|r| before.contains(r) != after.contains(r));
    if changed_operator_role && !actor.is_operator_admin() {
        return Err(Denial::Forbidden(
            "Seul un administrateur de la plateforme peut donner ou retirer un rôle de l'opérateur.",
        ));
    }
    Ok(())
}

/// Whether `actor` has any relation at all to `org` (member, référent, its EPCI, operator
/// staff). Without one, everything about the organisation answers 404.
pub fn related(actor: &Actor, org: &OrgFacts) -> bool {
    let r = Relations::of(actor, org);
    r.visible() || r.epci_of
}

/// Decides whether `actor` may do a platform-wide `action`.
pub fn decide_platform(actor: &Actor, action: PlatformAction) -> Decision {
    let allowed = match action {
        PlatformAction::Administer | PlatformAction::ManageJobs => actor.is_operator_admin(),
        PlatformAction::ReadAllMembers
        | PlatformAction::ReadJournals
        | PlatformAction::ManageMembers => actor.is_operator_staff(),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Forbidden(
            "Cette page est réservée à l'équipe de l'opérateur.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct World {
        operator: OrgFacts,
        epci: OrgFacts,
        commune_a: OrgFacts,
        commune_b: OrgFacts,
        other_epci: OrgFacts,
        commune_c: OrgFacts,
        company: OrgFacts,
    }

    fn org(kind: OrgKind, parent: Option<OrgId>, services: &[Service]) -> OrgFacts {
        OrgFacts {
            id: OrgId::new(),
            kind,
            parent,
            services: services.iter().copied().collect(),
        }
    }

    fn world() -> World {
        let epci = org(OrgKind::Cc, None, &Service::ALL);
        let other_epci = org(OrgKind::Ca, None, &Service::ALL);
        World {
            operator: org(OrgKind::Operateur, None, &[Service::Actes]),
            commune_a: org(
                OrgKind::Commune,
                Some(epci.id),
                &[Service::Actes, Service::Parapheur],
            ),
            commune_b: org(OrgKind::Commune, Some(epci.id), &[Service::Actes]),
            commune_c: org(OrgKind::Commune, Some(other_epci.id), &Service::ALL),
            company: org(OrgKind::Entreprise, None, &[]),
            epci,
            other_epci,
        }
    }

    fn actor(memberships: &[(&OrgFacts, &[Role])], followed: &[&OrgFacts]) -> Actor {
        Actor {
            user_id: UserId::new(),
            memberships: memberships
                .iter()
                .map(|(o, roles)| Membership {
                    org_id: o.id,
                    org_kind: o.kind,
                    roles: roles.iter().copied().collect(),
                })
                .collect(),
            followed: followed.iter().map(|o| o.id).collect(),
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Want {
        Allow,
        Hidden,
        Forbidden,
        NotSubscribed,
    }

    fn outcome(d: Decision) -> Want {
        match d {
            Ok(()) => Want::Allow,
            Err(Denial::NotVisible) => Want::Hidden,
            Err(Denial::Forbidden(msg)) => {
                assert!(!msg.is_empty());
                Want::Forbidden
            }
            Err(Denial::NotSubscribed(_)) => Want::NotSubscribed,
        }
    }

    #[test]
    fn organisation_actions_table() {
        use Action::*;
        use Want::*;
        let w = world();
        let admin = actor(&[(&w.operator, &[Role::OperatorAdmin])], &[]);
        let staff = actor(&[(&w.operator, &[Role::OperatorStaff])], &[]);
        let secretary = actor(&[(&w.commune_a, &[Role::Agent, Role::MemberAdmin])], &[]);
        let maire = actor(&[(&w.commune_a, &[Role::EluSignataire])], &[]);
        let referent = actor(
            &[(&w.epci, &[Role::Agent, Role::ReferentNumerique])],
            &[&w.commune_a, &w.commune_b],
        );
        let epci_agent = actor(&[(&w.epci, &[Role::Agent])], &[]);
        let other_secretary = actor(&[(&w.commune_c, &[Role::Agent])], &[]);
        let other_epci_agent = actor(&[(&w.other_epci, &[Role::Agent])], &[]);
        let company = actor(&[(&w.company, &[Role::CompanyUser])], &[]);

        #[rustfmt::skip]
        let table: Vec<(&str, &Actor, Action, &OrgFacts, Want)> = vec![
            // A member sees and runs its own organisation, nobody else's.
            ("secretary views A", &secretary, ViewOrganisation, &w.commune_a, Allow),
            ("secretary views B", &secretary, ViewOrganisation, &w.commune_b, Hidden),
            ("secretary manages A's users", &secretary, ManageUsers, &w.commune_a, Allow),
            ("secretary reads A's journal", &secretary, ReadJournal, &w.commune_a, Allow),
            ("secretary uses actes in A", &secretary, UseService(Service::Actes), &w.commune_a, Allow),
            ("secretary uses helios in A", &secretary, UseService(Service::Helios), &w.commune_a, NotSubscribed),
            ("secretary uses actes in C", &secretary, UseService(Service::Actes), &w.commune_c, Hidden),
            ("secretary contacts her référent", &secretary, ContactReferent, &w.commune_a, Allow),
            // The maire signs, he does not administer.
            ("maire manages users", &maire, ManageUsers, &w.commune_a, Forbidden),
            ("maire reads journal", &maire, ReadJournal, &w.commune_a, Forbidden),
            ("maire uses parapheur", &maire, UseService(Service::Parapheur), &w.commune_a, Allow),
            ("maire reads usage", &maire, ReadUsage, &w.commune_a, Allow),
            // The référent reads the communes he follows, read only.
            ("referent views A", &referent, ViewOrganisation, &w.commune_a, Allow),
            ("referent reads A's users", &referent, ReadUsers, &w.commune_a, Allow),
            ("referent reads A's usage", &referent, ReadUsage, &w.commune_a, Allow),
            ("referent reads A's actes", &referent, ReadService(Service::Actes), &w.commune_a, Allow),
            ("referent cannot act in A", &referent, UseService(Service::Actes), &w.commune_a, Forbidden),
            ("referent cannot manage A", &referent, ManageUsers, &w.commune_a, Forbidden),
            ("referent cannot read A's journal", &referent, ReadJournal, &w.commune_a, Forbidden),
            ("referent does not follow C", &referent, ViewOrganisation, &w.commune_c, Hidden),
            // An EPCI reads its communes' usage, and nothing else of theirs.
            ("epci agent reads A's usage", &epci_agent, ReadUsage, &w.commune_a, Allow),
            ("epci agent does not see A", &epci_agent, ViewOrganisation, &w.commune_a, Hidden),
            ("epci agent does not read A's users", &epci_agent, ReadUsers, &w.commune_a, Hidden),
            ("other epci reads nothing of A", &other_epci_agent, ReadUsage, &w.commune_a, Hidden),
            ("other commune's agent", &other_secretary, ReadUsage, &w.commune_a, Hidden),
            // The operator's staff read every member; only its administrators change them.
            ("staff views A", &staff, ViewOrganisation, &w.commune_a, Allow),
            ("staff reads A's journal", &staff, ReadJournal, &w.commune_a, Allow),
            ("staff reads A's users", &staff, ReadUsers, &w.commune_a, Allow),
            ("staff cannot manage A's users", &staff, ManageUsers, &w.commune_a, Forbidden),
            ("staff cannot act in A", &staff, UseService(Service::Actes), &w.commune_a, Forbidden),
            ("admin manages A's users", &admin, ManageUsers, &w.commune_a, Allow),
            ("admin cannot act in A's services", &admin, UseService(Service::Actes), &w.commune_a, Forbidden),
            ("admin acts for the operator", &admin, ReadJournal, &w.operator, Allow),
            // Companies see only themselves, and have no référent.
            ("company views A", &company, ViewOrganisation, &w.commune_a, Hidden),
            ("company views itself", &company, ViewOrganisation, &w.company, Allow),
            ("company has no référent", &company, ContactReferent, &w.company, Forbidden),
        ];
        for (name, who, action, target, want) in table {
            assert_eq!(outcome(decide(who, action, target)), want, "{name}");
        }
    }

    #[test]
    fn platform_actions_table() {
        use PlatformAction::*;
        use Want::*;
        let w = world();
        let admin = actor(&[(&w.operator, &[Role::OperatorAdmin])], &[]);
        let staff = actor(&[(&w.operator, &[Role::OperatorStaff])], &[]);
        let secretary = actor(&[(&w.commune_a, &[Role::Agent, Role::MemberAdmin])], &[]);
        // Operator roles count only in the operator's organisation.
        let impostor = actor(&[(&w.commune_a, &[Role::OperatorAdmin])], &[]);
        #[rustfmt::skip]
        let table: Vec<(&str, &Actor, PlatformAction, Want)> = vec![
            ("admin administers", &admin, Administer, Allow),
            ("admin manages jobs", &admin, ManageJobs, Allow),
            ("staff reads members", &staff, ReadAllMembers, Allow),
            ("staff reads journals", &staff, ReadJournals, Allow),
            ("staff manages members", &staff, ManageMembers, Allow),
            ("secretary manages no member", &secretary, ManageMembers, Forbidden),
            ("staff does not administer", &staff, Administer, Forbidden),
            ("staff does not manage jobs", &staff, ManageJobs, Forbidden),
            ("secretary reads no other member", &secretary, ReadAllMembers, Forbidden),
            ("operator role outside the operator", &impostor, Administer, Forbidden),
        ];
        for (name, who, action, want) in table {
            assert_eq!(outcome(decide_platform(who, action)), want, "{name}");
        }
    }

    #[test]
    fn operator_roles_are_given_by_platform_administrators_only() {
        let w = world();
        let admin = actor(&[(&w.operator, &[Role::OperatorAdmin])], &[]);
        // Administrator of the operator's organisation, and staff: may manage its users,
        // not make anyone (himself included) a platform administrator.
        let member_admin = actor(
            &[(&w.operator, &[Role::MemberAdmin, Role::OperatorStaff])],
            &[],
        );
        let secretary = actor(&[(&w.commune_a, &[Role::Agent, Role::MemberAdmin])], &[]);
        let none = RoleSet::empty();
        let staff = RoleSet::empty().with(Role::OperatorStaff);
        let full = staff.with(Role::OperatorAdmin);
        let agent = RoleSet::empty().with(Role::Agent);
        assert!(may_change_roles(&admin, &w.operator, staff, full).is_ok());
        assert!(may_change_roles(&member_admin, &w.operator, staff, full).is_err());
        assert!(
            may_change_roles(&member_admin, &w.operator, staff, none.with(Role::Agent)).is_err(),
            "removing counts too"
        );
        assert!(
            may_change_roles(
                &member_admin,
                &w.operator,
                agent,
                agent.with(Role::EluSignataire)
            )
            .is_ok()
        );
        assert!(
            may_change_roles(
                &secretary,
                &w.commune_a,
                agent,
                agent.with(Role::MemberAdmin)
            )
            .is_ok()
        );
        assert!(
            may_change_roles(
                &secretary,
                &w.commune_a,
                agent,
                agent.with(Role::OperatorAdmin)
            )
            .is_err()
        );
        assert!(
            may_change_roles(&admin, &w.commune_a, agent, agent.with(Role::OperatorAdmin)).is_err(),
            "not a commune's role"
        );
    }

    #[test]
    fn relations() {
        let w = world();
        let epci_agent = actor(&[(&w.epci, &[Role::Agent])], &[]);
        let company = actor(&[(&w.company, &[Role::CompanyUser])], &[]);
        assert!(related(&epci_agent, &w.commune_a));
        assert!(!related(&epci_agent, &w.commune_c));
        assert!(!related(&company, &w.commune_a));
        assert!(related(&company, &w.company));
    }

    #[test]
    fn denials_map_to_the_error_vocabulary() {
        assert!(matches!(
            AppError::from(Denial::NotVisible),
            AppError::NotFound
        ));
        assert!(matches!(
            AppError::from(Denial::NotSubscribed(Service::Actes)),
            AppError::ServiceNotSubscribed(Service::Actes)
        ));
        assert!(matches!(
            AppError::from(Denial::Forbidden("x")),
            AppError::Forbidden(_)
        ));
    }
}
