//! File names of the standard (§1.5 of the research): transaction base, message, pièces,
//! envelopes, archive, anomaly; built and parsed back.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::rules::{check_departement, check_siren, compact_date, parse_compact_date};
use crate::{FormatError, Nature};

/// Our TdT trigramme, prefix of the archives we send.
pub const TRIGRAMME: &str = "BQT";
/// The application prefix of envelopes (`EACT`; S²LOW's test fixtures use `TACT`).
pub const APPLI: &str = "EACT";

/// `{dept}-{SIREN}-{AAAAMMJJ}-{numero}-{NAT}-{type}-{sous-type}`: the base of every file of a
/// transaction. The date, numero and nature are empty in a classification request
/// (`044-214400152----7-1`) and in some returns (`044-214400152----1-3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransactionBase {
    pub departement: String,
    pub siren: String,
    /// Date de la décision (S²LOW's choice, not the day of sending).
    pub date: Option<Date>,
    pub numero: String,
    pub nature: Option<Nature>,
    /// `{type}-{sous-type}`: `(1, 1)` for an acte.
    pub code: (u8, u8),
}

impl TransactionBase {
    /// The base of an acte's transaction or of a later message about it.
    pub fn new(
        departement: &str,
        siren: &str,
        date: Date,
        numero: &str,
        nature: Nature,
        code: (u8, u8),
    ) -> TransactionBase {
        TransactionBase {
            departement: departement.to_owned(),
            siren: siren.to_owned(),
            date: Some(date),
            numero: numero.to_owned(),
            nature: Some(nature),
            code,
        }
    }

    /// The base of a request for the classification: `{dept}-{SIREN}----7-1`.
    pub fn classification(departement: &str, siren: &str) -> TransactionBase {
        TransactionBase {
            departement: departement.to_owned(),
            siren: siren.to_owned(),
            date: None,
            numero: String::new(),
            nature: None,
            code: (7, 1),
        }
    }

    /// `{base}_0.xml`: the message.
    pub fn message_name(&self) -> String {
        format!("{self}_0.xml")
    }

    /// `{typePJ}-{base}_{n}.{ext}`: n = 1 for the main document, 2.. for annexes (the
    /// typologie prefix is left out when `None`, as before 2017).
    pub fn piece_name(&self, type_pj: Option<&str>, n: u32, extension: &str) -> String {
        let ext = extension.trim_start_matches('.').to_ascii_lowercase();
        match type_pj {
            Some(t) => format!("{t}-{self}_{n}.{ext}"),
            None => format!("{self}_{n}.{ext}"),
        }
    }

    /// Reads a base (without `_n.ext`).
    pub fn parse(s: &str) -> Result<TransactionBase, FormatError> {
        let bad = || {
            FormatError::name(format!(
                "« {s} » : base de transaction attendue ({{dept}}-{{SIREN}}-{{AAAAMMJJ}}-{{numéro}}-{{nature}}-{{type}}-{{sous-type}})"
            ))
        };
        let mut head = s.splitn(4, '-');
        let (Some(dept), Some(siren), Some(date), Some(rest)) =
            (head.next(), head.next(), head.next(), head.next())
        else {
            return Err(bad());
        };
        check_departement(dept).map_err(|_| bad())?;
        check_siren(siren).map_err(|_| bad())?;
        let date = if date.is_empty() {
            None
        } else {
            Some(parse_compact_date(date).ok_or_else(bad)?)
        };
        let mut tail = rest.rsplitn(4, '-');
        let (Some(sous_type), Some(kind), Some(nature), Some(numero)) =
            (tail.next(), tail.next(), tail.next(), tail.next())
        else {
            return Err(bad());
        };
        let code = (
            kind.parse::<u8>().map_err(|_| bad())?,
            sous_type.parse::<u8>().map_err(|_| bad())?,
        );
        let nature = if nature.is_empty() {
            None
        } else {
            Some(Nature::from_abbrev(nature).ok_or_else(bad)?)
        };
        if (date.is_none()) != numero.is_empty() || (date.is_none()) != nature.is_none() {
            return Err(bad());
        }
        Ok(TransactionBase {
            departement: dept.to_owned(),
            siren: siren.to_owned(),
            date,
            numero: numero.to_owned(),
            nature,
            code,
        })
    }
}

impl std::fmt::Display for TransactionBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let date = self.date.map(compact_date).unwrap_or_default();
        let nature = self.nature.map(Nature::abbrev).unwrap_or_default();
        write!(
            f,
            "{}-{}-{date}-{}-{nature}-{}-{}",
            self.departement, self.siren, self.numero, self.code.0, self.code.1
        )
    }
}

/// `EACT--{SIREN}--{AAAAMMJJ}-{serial}.xml`: the envelope collectivité → préfecture (serial:
/// daily counter from 1).
pub fn enveloppe_name(siren: &str, date: Date, serial: u32) -> String {
    format!("{APPLI}--{siren}--{}-{serial}.xml", compact_date(date))
}

/// `{TRIGRAMME}-EACT--{SIREN}--{AAAAMMJJ}-{serial}.tar.gz`: the archive sent.
pub fn archive_name(trigramme: &str, siren: &str, date: Date, serial: u32) -> String {
    format!(
        "{trigramme}-{APPLI}--{siren}--{}-{serial}.tar.gz",
        compact_date(date)
    )
}

/// `EACT--SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}-{serial}.xml`: the envelope préfecture → collectivité.
pub fn enveloppe_pref_name(
    departement: &str,
    arrondissement: u8,
    siren: &str,
    date: Date,
    serial: u32,
) -> String {
    format!(
        "{APPLI}--SPREF{departement}{arrondissement}-{siren}-{}-{serial}.xml",
        compact_date(date)
    )
}

/// `ANO_` + the name of the envelope refused.
pub fn anomalie_name(enveloppe: &str) -> String {
    format!("ANO_{enveloppe}")
}

/// A file name of the standard, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileName {
    /// `{base}_{n}.xml` where the first part is not a typologie: a message (n = 0 when we send;
    /// any number in the préfecture's returns).
    Message { base: TransactionBase, n: u32 },
    /// `[{typePJ}-]{base}_{n}.{ext}`: a pièce (n = 1 main document, 2.. annexes).
    Piece {
        type_pj: Option<String>,
        base: TransactionBase,
        n: u32,
        extension: String,
    },
    /// `{APPLI}--{SIREN}--{AAAAMMJJ}-{serial}.xml`.
    Enveloppe {
        appli: String,
        siren: String,
        date: Date,
        serial: u32,
    },
    /// `{APPLI}--SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}-{serial}.xml`.
    EnveloppePref {
        appli: String,
        departement: String,
        arrondissement: u8,
        siren: String,
        date: Date,
        serial: u32,
    },
    /// `{TRIGRAMME}-{APPLI}--{SIREN}--{AAAAMMJJ}-{serial}.tar.gz`.
    Archive {
        trigramme: String,
        appli: String,
        siren: String,
        date: Date,
        serial: u32,
    },
    /// `ANO_{envelope name}`.
    Anomalie(Box<FileName>),
}

/// Reads any file name of the standard.
pub fn parse_file_name(name: &str) -> Result<FileName, FormatError> {
    let bad = || FormatError::name(format!("« {name} » ne suit pas le nommage @CTES"));
    if name.contains('/') || name.contains('\\') {
        return Err(bad());
    }
    if let Some(rest) = name.strip_prefix("ANO_") {
        return Ok(FileName::Anomalie(Box::new(parse_file_name(rest)?)));
    }
    if let Some(stem) = name.strip_suffix(".tar.gz") {
        let (trigramme, rest) = stem.split_once('-').ok_or_else(bad)?;
        if trigramme.is_empty() || !trigramme.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let (appli, siren, date, serial) = enveloppe_parts(rest).ok_or_else(bad)?;
        return Ok(FileName::Archive {
            trigramme: trigramme.to_owned(),
            appli,
            siren,
            date,
            serial,
        });
    }
    let (stem, extension) = name.rsplit_once('.').ok_or_else(bad)?;
    if extension.is_empty() || !extension.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    if extension == "xml" {
        if let Some((appli, siren, date, serial)) = enveloppe_parts(stem) {
            return Ok(FileName::Enveloppe {
                appli,
                siren,
                date,
                serial,
            });
        }
        if let Some(f) = enveloppe_pref_parts(stem) {
            return Ok(f);
        }
    }
    let (front, n) = stem.rsplit_once('_').ok_or_else(bad)?;
    let n: u32 = n.parse().map_err(|_| bad())?;
    // A typologie prefix is `XX_YY-` (`99_DE-`, `CO_DE-`); a base starts with a département.
    let (type_pj, base) = match front.split_once('-') {
        Some((t, b))
            if t.len() == 5
                && t.as_bytes()[2] == b'_'
                && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') =>
        {
            (Some(t.to_owned()), b)
        }
        _ => (None, front),
    };
    let base = TransactionBase::parse(base).map_err(|_| bad())?;
    if extension == "xml" && type_pj.is_none() && (n == 0 || base.code.1 != 1 || base.code.0 != 1) {
        return Ok(FileName::Message { base, n });
    }
    Ok(FileName::Piece {
        type_pj,
        base,
        n,
        extension: extension.to_owned(),
    })
}

/// `{APPLI}--{SIREN}--{AAAAMMJJ}-{serial}`.
fn enveloppe_parts(stem: &str) -> Option<(String, String, Date, u32)> {
    let (appli, rest) = stem.split_once("--")?;
    let (siren, rest) = rest.split_once("--")?;
    let (date, serial) = rest.split_once('-')?;
    if appli.is_empty()
        || !appli.bytes().all(|b| b.is_ascii_uppercase())
        || check_siren(siren).is_err()
    {
        return None;
    }
    Some((
        appli.to_owned(),
        siren.to_owned(),
        parse_compact_date(date)?,
        serial.parse().ok()?,
    ))
}

/// `{APPLI}--SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}-{serial}`.
fn enveloppe_pref_parts(stem: &str) -> Option<FileName> {
    let (appli, rest) = stem.split_once("--SPREF")?;
    let mut parts = rest.split('-');
    let (Some(who), Some(siren), Some(date), Some(serial), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if who.len() != 4
        || appli.is_empty()
        || !appli.bytes().all(|b| b.is_ascii_uppercase())
        || check_siren(siren).is_err()
    {
        return None;
    }
    let departement = who.get(..3)?;
    check_departement(departement).ok()?;
    let arrondissement = who.get(3..)?.parse::<u8>().ok()?;
    Some(FileName::EnveloppePref {
        appli: appli.to_owned(),
        departement: departement.to_owned(),
        arrondissement,
        siren: siren.to_owned(),
        date: parse_compact_date(date)?,
        serial: serial.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_with_odd_numeros_round_trip() {
        for numero in ["A", "ACTE_Y__1", "2026_DE_0001", "X-Y"] {
            let b = TransactionBase::new(
                "02A",
                "212000046",
                Date::constant(2026, 2, 28),
                numero,
                Nature::BF,
                (3, 4),
            );
            assert_eq!(
                TransactionBase::parse(&b.to_string()),
                Ok(b.clone()),
                "{numero}"
            );
        }
        for bad in [
            "035-213500051-20261207-X-DE-1",
            "035-213500051-20261207-X-XX-1-1",
            "035-213500051--X-DE-1-1",
            "35-213500051-20261207-X-DE-1-1",
        ] {
            assert!(TransactionBase::parse(bad).is_err(), "{bad}");
        }
    }
}
