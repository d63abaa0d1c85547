//! The rules of the standard on single values: NumeroInterne, objet, département, SIREN,
//! IDActe, e-mail; and the transliteration to ISO-8859-1.
//!
//! Where the two public variants of `actesv1_1.xsd` differ, the code applies the stricter of
//! both (and of S²LOW, the strictest peer): a value accepted here is valid in either variant.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::{FormatError, Nature};

/// Longest NumeroInterne (both XSD variants).
pub const NUMERO_INTERNE_MAX: usize = 15;
/// Longest objet (S²LOW, Pastell; the XSD allows 500).
pub const OBJET_MAX: usize = 499;

/// The sender of a transmission, as in `IDCL` of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Collectivite {
    /// SIREN, 9 digits (`insee:SIREN`).
    pub siren: String,
    /// Département, 3 characters: `035`, `02A`, `974` (`actes:Departement`).
    pub departement: String,
    /// Arrondissement, one digit (`actes:Arrondissement`).
    pub arrondissement: u8,
    /// Code nature de la collectivité, 2 digits (`actes:Nature`; `31` in S²LOW's commune samples).
    pub nature: String,
}

impl Collectivite {
    /// Checks every field against the XSD patterns.
    pub fn check(&self) -> Result<(), FormatError> {
        check_siren(&self.siren)?;
        check_departement(&self.departement)?;
        check_arrondissement(self.arrondissement)?;
        check_nature_collectivite(&self.nature)
    }
}

/// NumeroInterne: 1 to 15 characters among `A-Z`, `0-9` and `_`, not starting nor ending with
/// `_` (S²LOW's rule, `^([A-Z0-9][A-Z0-9_]{0,13})?[A-Z0-9]$`: valid in both XSD variants).
pub fn check_numero_interne(numero: &str) -> Result<(), FormatError> {
    if numero.is_empty() {
        return Err(FormatError::rule("Le numéro de l'acte est obligatoire."));
    }
    if numero
        .chars()
        .any(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
    {
        return Err(FormatError::rule(
            "Le numéro de l'acte ne doit pas contenir de retour à la ligne.",
        ));
    }
    if numero.chars().any(|c| c.is_whitespace()) {
        return Err(FormatError::rule(
            "Le numéro de l'acte ne doit pas contenir d'espace : utilisez « _ » pour séparer.",
        ));
    }
    if numero.chars().any(|c| c.is_lowercase()) {
        return Err(FormatError::rule(
            "Le numéro de l'acte s'écrit en majuscules (par exemple DEL_2026_12).",
        ));
    }
    if let Some(c) = numero
        .chars()
        .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_'))
    {
        let why = if c.is_alphabetic() {
            "les lettres accentuées ne sont pas admises"
        } else {
            "ce caractère n'est pas admis"
        };
        return Err(FormatError::rule(format!(
            "Le numéro de l'acte ne peut contenir que des lettres majuscules sans accent, des chiffres et « _ » ; « {c} » : {why}."
        )));
    }
    let len = numero.chars().count();
    if len > NUMERO_INTERNE_MAX {
        return Err(FormatError::rule(format!(
            "Le numéro de l'acte compte {len} caractères : {NUMERO_INTERNE_MAX} au plus."
        )));
    }
    if numero.starts_with('_') || numero.ends_with('_') {
        return Err(FormatError::rule(
            "Le numéro de l'acte ne peut ni commencer ni finir par « _ ».",
        ));
    }
    Ok(())
}

/// Objet: 1 to 499 characters once transliterated to ISO-8859-1, no line break.
pub fn check_objet(objet: &str) -> Result<(), FormatError> {
    if objet.trim().is_empty() {
        return Err(FormatError::rule("L'objet de l'acte est obligatoire."));
    }
    if objet
        .chars()
        .any(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
    {
        return Err(FormatError::rule(
            "L'objet de l'acte doit tenir sur une seule ligne (pas de retour à la ligne).",
        ));
    }
    let len = transliterate(objet).chars().count();
    if len > OBJET_MAX {
        return Err(FormatError::rule(format!(
            "L'objet de l'acte compte {len} caractères : {OBJET_MAX} au plus."
        )));
    }
    Ok(())
}

/// Département: 3 characters, `[09][0-9][AB0-9]` (`035`, `02A`, `974`).
pub fn check_departement(dept: &str) -> Result<(), FormatError> {
    let b = dept.as_bytes();
    let ok = b.len() == 3
        && matches!(b[0], b'0' | b'9')
        && b[1].is_ascii_digit()
        && (b[2].is_ascii_digit() || matches!(b[2], b'A' | b'B'));
    if ok {
        Ok(())
    } else {
        Err(FormatError::rule(format!(
            "Département « {dept} » non conforme : 3 caractères, par exemple 035, 02A ou 974."
        )))
    }
}

/// Arrondissement: one digit.
pub fn check_arrondissement(arrondissement: u8) -> Result<(), FormatError> {
    if arrondissement <= 9 {
        Ok(())
    } else {
        Err(FormatError::rule(format!(
            "Arrondissement {arrondissement} non conforme : un seul chiffre."
        )))
    }
}

/// SIREN: 9 digits (the XSD checks no key; the kernel's `Siren` does).
pub fn check_siren(siren: &str) -> Result<(), FormatError> {
    if siren.len() == 9 && siren.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FormatError::rule(format!(
            "SIREN « {siren} » non conforme : 9 chiffres."
        )))
    }
}

/// Code nature de la collectivité (`IDCL/@actes:Nature`): 2 digits.
pub fn check_nature_collectivite(nature: &str) -> Result<(), FormatError> {
    if nature.len() == 2 && nature.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FormatError::rule(format!(
            "Code nature de la collectivité « {nature} » non conforme : 2 chiffres."
        )))
    }
}

/// E-mail address as the XSD's `Email` type accepts it (no `+`, a 2–6 letter top-level domain).
pub fn check_email(email: &str) -> Result<(), FormatError> {
    let bad = || {
        FormatError::rule(format!(
            "Adresse électronique « {email} » non admise par @CTES."
        ))
    };
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if !local.split('.').all(|p| word(p, b"_-")) {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return Err(bad());
    };
    if rest.is_empty() || !rest.iter().all(|p| word(p, b"-")) {
        return Err(bad());
    }
    if !(2..=6).contains(&tld.len()) || !tld.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    Ok(())
}

/// The identifier of an acte: `{dept}-{SIREN}-{AAAAMMJJ}-{NumeroInterne}-{NAT}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdActe {
    pub departement: String,
    pub siren: String,
    /// Date de la décision.
    pub date: Date,
    pub numero: String,
    pub nature: Nature,
}

impl IdActe {
    /// Builds it from its parts, each checked (NumeroInterne with the strict rule).
    pub fn new(
        departement: &str,
        siren: &str,
        date: Date,
        numero: &str,
        nature: Nature,
    ) -> Result<IdActe, FormatError> {
        check_departement(departement)?;
        check_siren(siren)?;
        check_numero_interne(numero)?;
        Ok(IdActe {
            departement: departement.to_owned(),
            siren: siren.to_owned(),
            date,
            numero: numero.to_owned(),
            nature,
        })
    }

    /// Reads an IDActe as the préfecture writes it. Tolerant on the numero (the
    /// *avec typologie* XSD's `[a-zA-Z0-9_]{1,15}`), strict on the rest.
    pub fn parse(s: &str) -> Result<IdActe, FormatError> {
        let bad = |why: &str| FormatError::rule(format!("IDActe « {s} » non conforme : {why}."));
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() != 5 {
            return Err(bad("5 parties séparées par « - » attendues"));
        }
        check_departement(parts[0]).map_err(|_| bad("département"))?;
        check_siren(parts[1]).map_err(|_| bad("SIREN"))?;
        let date = parse_compact_date(parts[2]).ok_or_else(|| bad("date AAAAMMJJ"))?;
        let numero = parts[3];
        if numero.is_empty()
            || numero.len() > NUMERO_INTERNE_MAX
            || !numero
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad("numéro interne"));
        }
        let nature = Nature::from_abbrev(parts[4]).ok_or_else(|| bad("nature"))?;
        Ok(IdActe {
            departement: parts[0].to_owned(),
            siren: parts[1].to_owned(),
            date,
            numero: numero.to_owned(),
            nature,
        })
    }
}

impl std::fmt::Display for IdActe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{}-{}-{}-{}",
            self.departement,
            self.siren,
            compact_date(self.date),
            self.numero,
            self.nature.abbrev()
        )
    }
}

/// `035-213500051-20261207-DEL_2026_12-DE`: the IDActe, every part checked; the result matches
/// the IDActe patterns of both XSD variants (≤ 41 characters).
pub fn id_acte(
    departement: &str,
    siren: &str,
    date: Date,
    numero: &str,
    nature: Nature,
) -> Result<String, FormatError> {
    Ok(IdActe::new(departement, siren, date, numero, nature)?.to_string())
}

/// Checks an IDActe against both XSD variants (what [`IdActe::parse`] accepts, plus the
/// *sans typologie* rule on the numero: no `_` at its ends, and ≤ 41 characters).
pub fn check_id_acte(s: &str) -> Result<(), FormatError> {
    let id = IdActe::parse(s)?;
    let n = id.numero.as_bytes();
    if n.first() == Some(&b'_') || n.last() == Some(&b'_') || s.len() > 41 {
        return Err(FormatError::rule(format!(
            "IDActe « {s} » non conforme : numéro interne."
        )));
    }
    Ok(())
}

/// `AAAAMMJJ` (never the week-based year: STELA's `YYYY` bug).
pub fn compact_date(date: Date) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

/// Reads `AAAAMMJJ`.
pub fn parse_compact_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i16 = s[0..4].parse().ok()?;
    let m: i8 = s[4..6].parse().ok()?;
    let d: i8 = s[6..8].parse().ok()?;
    Date::new(y, m, d).ok()
}

/// The text as ISO-8859-1 can hold it: typographic quotes, dashes, `œ`, `€`, ligatures… are
/// transliterated (’→', œ→oe, €→EUR), other letters lose their accent (ő→o), control
/// characters are dropped, anything else becomes `?`. The result has only characters ≤ U+00FF
/// that XML 1.0 allows.
pub fn transliterate(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = c as u32;
        match code {
            0x09 | 0x0A | 0x0D => out.push(c),
            0x00..=0x1F | 0x7F..=0x9F => {}
            0x20..=0x7E | 0xA0..=0xFF => out.push(c),
            _ => match c {
                '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => {
                    out.push('\'')
                }
                '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
                '\u{2039}' => out.push('<'),
                '\u{203A}' => out.push('>'),
                '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
                | '\u{2212}' => out.push('-'),
                '\u{2026}' => out.push_str("..."),
                '\u{2022}' | '\u{2023}' | '\u{2043}' => out.push('-'),
                '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => out.push(' '),
                '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => {}
                '\u{2028}' | '\u{2029}' => out.push('\n'),
                'œ' => out.push_str("oe"),
                'Œ' => out.push_str("OE"),
                '€' => out.push_str("EUR"),
                '™' => out.push_str("TM"),
                '‰' => out.push_str("pour mille"),
                'ﬀ' => out.push_str("ff"),
                'ﬁ' => out.push_str("fi"),
                'ﬂ' => out.push_str("fl"),
                'ﬃ' => out.push_str("ffi"),
                'ﬄ' => out.push_str("ffl"),
                'Ÿ' => out.push('Y'),
                _ => {
                    // Decompose and keep the base letters that Latin-1 holds (ő → o, ş → s).
                    let base: String = std::iter::once(c)
                        .nfkd()
                        .filter(|d| {
                            (*d as u32) >= 0x20 && (*d as u32) <= 0xFF && (*d as u32) != 0x7F
                        })
                        .collect();
                    if base.is_empty() {
                        out.push('?')
                    } else {
                        out.push_str(&base)
                    }
                }
            },
        }
    }
    out
}

/// Encodes to ISO-8859-1 bytes, transliterating first (see [`transliterate`]).
pub fn encode_latin1(text: &str) -> Vec<u8> {
    transliterate(text)
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_as_the_schema_takes_them() {
        for ok in [
            "a@b.fr",
            "jean.dupont@mairie-exemple.fr",
            "x_y-z@sous.domaine.museum",
        ] {
            assert_eq!(check_email(ok), Ok(()), "{ok}");
        }
        for bad in [
            "a+b@c.fr",
            "a@b",
            "@b.fr",
            "a@.fr",
            "a@b.f",
            "a@b.fr7",
            "a..b@c.fr",
            "a@b.abcdefg",
            "é@b.fr",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn departements_and_collectivites() {
        for ok in ["001", "035", "02A", "02B", "974", "976"] {
            assert_eq!(check_departement(ok), Ok(()), "{ok}");
        }
        for bad in ["35", "0350", "135", "02C", "9A4", "|35"] {
            assert!(check_departement(bad).is_err(), "{bad}");
        }
        let c = Collectivite {
            siren: "213500051".into(),
            departement: "035".into(),
            arrondissement: 1,
            nature: "31".into(),
        };
        assert_eq!(c.check(), Ok(()));
        assert!(
            Collectivite {
                arrondissement: 10,
                ..c.clone()
            }
            .check()
            .is_err()
        );
        assert!(
            Collectivite {
                nature: "3".into(),
                ..c.clone()
            }
            .check()
            .is_err()
        );
        assert!(
            Collectivite {
                siren: "21350005A".into(),
                ..c
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn transliteration_keeps_latin1_and_xml_characters() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = transliterate(&all);
        assert!(out.chars().all(|c| {
            let c = u32::from(c);
            matches!(c, 0x09 | 0x0A | 0x0D | 0x20..=0x7E | 0xA0..=0xFF)
        }));
        assert_eq!(
            transliterate("àéîõü ÀÉÎÕÜ ç Ç ÿ « » ° §"),
            "àéîõü ÀÉÎÕÜ ç Ç ÿ « » ° §"
        );
    }
}
