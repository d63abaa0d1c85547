//! Official identifiers, parsed once at the boundary.
//!
//! SIREN (9 digits) and SIRET (14 digits) carry a Luhn key. La Poste is the documented
//! exception: its establishments (SIREN 356 000 000) have SIRETs whose digit sum is a multiple
//! of 5 instead. The INSEE code of a commune (code officiel géographique) is five characters:
//! two digits of département (or `2A`/`2B` for Corsica, three digits overseas) then the commune.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused, in French, for the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdentifierError(pub &'static str);

fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Computes the Luhn check digit that completes `digits` (used by the demo to make
/// well-formed fictitious identifiers).
/// Every all-digit prefix has exactly one completing digit.
pub fn luhn_complete(digits: &str) -> String {
    (0..10u8)
        .map(|k| format!("{digits}{k}"))
        .find(|candidate| luhn_ok(candidate))
        .unwrap_or_default()
}

fn only_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A SIREN: the 9-digit identifier of a legal person in the Sirene register.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Siren(String);

impl Siren {
    /// Accepts spaces between groups ("243 500 634"), as people type them.
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let s: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() != 9 || !only_digits(&s) {
            return Err(IdentifierError(
                "Le SIREN doit comporter exactement 9 chiffres.",
            ));
        }
        if !luhn_ok(&s) {
            return Err(IdentifierError(
                "Ce SIREN n'est pas valide : sa clé de contrôle est fausse. Vérifiez les chiffres.",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Siren {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Siren {
    type Error = IdentifierError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Siren> for String {
    fn from(value: Siren) -> Self {
        value.0
    }
}

/// A SIRET: SIREN + 5-digit establishment number (NIC).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Siret(String);

const LA_POSTE_SIREN: &str = "356000000";

impl Siret {
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let s: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() != 14 || !only_digits(&s) {
            return Err(IdentifierError(
                "Le SIRET doit comporter exactement 14 chiffres.",
            ));
        }
        let valid = if s.starts_with(LA_POSTE_SIREN) {
            s.bytes()
                .map(|b| u32::from(b - b'0'))
                .sum::<u32>()
                .is_multiple_of(5)
        } else {
            luhn_ok(&s)
        };
        if !valid {
            return Err(IdentifierError(
                "Ce SIRET n'est pas valide : sa clé de contrôle est fausse. Vérifiez les chiffres.",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn siren(&self) -> Result<Siren, IdentifierError> {
        // La Poste's SIREN is valid on its own; other SIRETs embed a valid SIREN by construction
        // only when the establishment was registered correctly, so check it again.
        Siren::parse(&self.0[..9])
    }
}

impl fmt::Display for Siret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Siret {
    type Error = IdentifierError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Siret> for String {
    fn from(value: Siret) -> Self {
        value.0
    }
}

/// The INSEE code of a commune (code officiel géographique). Only the form is checked here;
/// the members module checks it against the registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Insee(String);

impl Insee {
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let s = input.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        let ok = b.len() == 5
            && (b[..2].iter().all(u8::is_ascii_digit) || &s[..2] == "2A" || &s[..2] == "2B")
            && b[2..].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(IdentifierError(
                "Le code INSEE doit comporter 5 caractères (par exemple 35005, ou 2A004 en Corse).",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The département the commune belongs to: 2 characters, or 3 digits overseas (97x, 98x).
    pub fn departement(&self) -> &str {
        if self.0.starts_with("97") || self.0.starts_with("98") {
            &self.0[..3]
        } else {
            &self.0[..2]
        }
    }
}

impl fmt::Display for Insee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Insee {
    type Error = IdentifierError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Insee> for String {
    fn from(value: Insee) -> Self {
        value.0
    }
}

/// An e-mail address, lower-cased. The check is deliberately simple (one `@`, a dot in the
/// domain, no spaces): the only real proof is a message that arrives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, IdentifierError> {
        let s = input.trim().to_lowercase();
        let err = IdentifierError(
            "Saisissez une adresse électronique valide, par exemple prenom.nom@mairie.fr.",
        );
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err);
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(err);
        };
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(err);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = IdentifierError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_sirens_from_the_registry_are_valid() {
        // CC Roche aux Fées Communauté and three of its communes (BANATIC).
        for s in [
            "243500634",
            "213500051",
            "213502396",
            "213501364",
            "243 500 634",
        ] {
            assert!(Siren::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn bad_sirens_are_refused_with_a_french_reason() {
        let check = |input: &str, expected: &str| {
            let err = Siren::parse(input).unwrap_err();
            assert!(err.0.contains(expected), "{input}: {}", err.0);
        };
        check("243500635", "clé de contrôle");
        check("24350063", "9 chiffres");
        check("24350063A", "9 chiffres");
        check("", "9 chiffres");
        check("2435006341", "9 chiffres");
    }

    #[test]
    fn siret_luhn_and_la_poste_exception() {
        let siret = luhn_complete("2435006340001");
        assert!(Siret::parse(&siret).is_ok());
        assert_eq!(
            Siret::parse(&siret).unwrap().siren().unwrap().as_str(),
            "243500634"
        );
        // La Poste: digit sum multiple of 5, Luhn not required.
        assert!(Siret::parse("35600000000001").is_ok());
        assert!(Siret::parse("35600000000002").is_err());
        assert!(Siret::parse("1234").is_err());
    }

    #[test]
    fn luhn_complete_makes_valid_identifiers() {
        for prefix in ["90000000", "12345678", "00000000"] {
            let s = luhn_complete(prefix);
            assert_eq!(s.len(), 9);
            assert!(Siren::parse(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn insee_codes() {
        assert_eq!(Insee::parse("35005").unwrap().departement(), "35");
        assert_eq!(Insee::parse("2a004").unwrap().as_str(), "2A004");
        assert_eq!(Insee::parse("97411").unwrap().departement(), "974");
        for bad in ["3500", "350055", "3A005", "ab123"] {
            assert!(Insee::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Agent@Commune.Demo ").unwrap().as_str(),
            "agent@commune.demo"
        );
        for bad in [
            "",
            "sans-arobase",
            "a@b",
            "a@@b.fr",
            "a b@c.fr",
            "@mairie.fr",
            "a@.fr",
            "a@mairie..fr",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
