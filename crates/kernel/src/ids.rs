//! Typed identifiers.
//!
//! Stored as TEXT (the canonical hyphenated UUID) on every engine. UUIDv7 is the default: it
//! sorts by creation time, which keeps B-tree inserts local. Where creation order must not
//! leak (anonymous answers), use [`random_id`] instead.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A new time-ordered identifier.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A new identifier that reveals nothing about when it was made.
pub fn random_id() -> Uuid {
    Uuid::new_v4()
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(new_id())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An organisation: a member, the operator, or a company.
    OrgId
);
id_type!(
    /// A person's account.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = OrgId::new();
        let back: OrgId = id.to_string().parse().unwrap();
        assert_eq!(id, back);
        assert!("pas-un-uuid".parse::<UserId>().is_err());
    }

    #[test]
    fn v7_ids_sort_by_creation_and_v4_do_not_carry_time() {
        let a = new_id();
        let b = new_id();
        assert!(a < b);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(random_id().get_version_num(), 4);
    }
}
