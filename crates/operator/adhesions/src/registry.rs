//! The official registry of French communes and EPCI à fiscalité propre, from BANATIC.
//!
//! # Layout
//!
//! - [`Registry`]: the communes and EPCI of one BANATIC file, with lookups by INSEE code and
//!   SIREN, the communes of an EPCI, and a name search ([`Registry::search`]).
//! - [`Registry::embedded`]: the snapshot shipped in `standards/backoffice/banatic/`, parsed
//!   once, on first use.
//! - [`Registry::diff`], [`RegistryDiff`], [`Merger`]: what changed between two snapshots.
//! - [`RegistryError`]: why a file was refused, in French, with its line number.
//!
//! # The file
//!
//! The DGCL publishes in BANATIC the "périmètre des EPCI à fiscalité propre": one line per
//! member commune, repeating the EPCI's columns on each line. The official file is
//! Windows-1252, `;`-separated, CRLF, populations written with a space as thousands separator
//! ("8 807"), and the population columns carry their year (`ptot_2025`, `pmun_2025`).
//! [`Registry::parse`] accepts it gzipped or not, in Windows-1252 or UTF-8, finds the columns
//! by name (a newer file may reorder them or add some), and refuses rather than guesses: a
//! SIREN with a wrong key, a malformed INSEE code, a population that is not an integer, an
//! INSEE code or a commune SIREN seen twice, an EPCI whose columns differ from one line to the
//! next, an EPCI whose `nb_membres` is not its number of lines (which is also how a truncated
//! download shows). Lines whose fields are all empty are skipped: the official file ends with
//! one (`;;;;;;;;;;;;;`). Files over [`MAX_FILE_SIZE`] once decompressed are refused, and
//! decompression stops there, so a gzip bomb costs at most that much memory.
//!
//! The Métropole de Lyon (nature `MET69`) is a collectivité à statut particulier, not an EPCI,
//! but BANATIC lists it with them and so do we, as a [`OrgKind::Metropole`].
//!
//! # Search
//!
//! Names are normalised once ([`bouquet_kernel::text::normalize`]) and their words put in one
//! sorted table, so a query word is a binary search for its prefix range. Each range becomes a
//! bitset over the entries, the bitsets are intersected, and since the entries are stored in
//! ranking order (population descending) the matches come out ranked without sorting. A query
//! costs a few microseconds, a few tens for a single letter (release build).
//!
//! # Comparing two snapshots
//!
//! [`Registry::diff`] tells the operator what changed in the territory between an older file
//! and a newer one. A commune is identified by its INSEE code:
//!
//! - same INSEE code, same SIREN, another name: **renamed**;
//! - same INSEE code, same SIREN, another EPCI: **moved** (a commune can be both);
//! - same INSEE code, same SIREN, another population: counted in `population_changed`;
//! - a **commune nouvelle** is recognised when an INSEE code of the newer file either did not
//!   exist in the older one, or now carries another SIREN (a commune nouvelle gets a SIREN of
//!   its own, usually keeping the INSEE code of its chef-lieu). It is the `into` of a
//!   [`Merger`] whose `from` are the communes of the older file that disappeared (their INSEE
//!   code is gone) and were in the same EPCI as the commune nouvelle is now, plus the old
//!   holder of its INSEE code when the SIREN changed. When several communes nouvelles appear
//!   in one EPCI, a disappeared commune goes to the one whose name shares the most words with
//!   its own (Piré-sur-Seiche and Chancé → Piré-Chancé), and on a tie to the lowest INSEE
//!   code;
//! - a new INSEE code with nothing to absorb is **added**; a disappeared commune that no
//!   commune nouvelle absorbed is **removed**;
//! - EPCI are compared by SIREN: **epci_added**, **epci_removed**.
//!
//! This is a heuristic. The exact source of mergers is INSEE's "mouvements de communes" file
//! of the code officiel géographique; BANATIC only shows the result. A commune nouvelle formed
//! across two EPCI, or a merger where the absorbing commune keeps its SIREN, shows here as a
//! removal; a commune whose INSEE code changed (a change of département) as a merger or as a
//! removal and an addition; a commune rétablie as an addition. It is good enough to alert the operator, who confirms each change before
//! anything is done to the members.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::fmt;
use std::io::Read;
use std::sync::OnceLock;

use bouquet_kernel::text::{normalize, query_terms};
use bouquet_kernel::{Insee, OrgKind, Siren};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The BANATIC file shipped with Bouquet (gzip of the official file, untouched).
const EMBEDDED_FILE: &[u8] =
    include_bytes!("../../../../standards/backoffice/banatic/perimetre-epci-a-fp.csv.gz");

/// The largest file accepted, once decompressed: the official file is 3.6 MB, so this leaves
/// room for growth while bounding what an upload can make us allocate.
pub const MAX_FILE_SIZE: usize = 50 * 1024 * 1024;

/// At most this many words of a query are used; the longest EPCI names have 13 words.
const MAX_QUERY_TERMS: usize = 16;

/// A commune, member of one EPCI à fiscalité propre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commune {
    pub insee: String,
    pub siren: String,
    pub name: String,
    /// The commune's own département (`dep_com`), which may differ from its EPCI's.
    pub departement: String,
    pub epci_siren: String,
    pub population_totale: i64,
    pub population_municipale: i64,
}

/// An EPCI à fiscalité propre (or the Métropole de Lyon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epci {
    pub siren: String,
    pub name: String,
    /// [`OrgKind::Cc`], [`OrgKind::Ca`], [`OrgKind::Cu`] or [`OrgKind::Metropole`].
    pub kind: OrgKind,
    /// The département of its seat (`dept`).
    pub departement: String,
    pub population_totale: i64,
    pub population_municipale: i64,
    /// Number of member communes (`nb_membres`, checked against the lines of the file).
    pub communes: usize,
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    Commune(&'a Commune),
    Epci(&'a Epci),
}

impl<'a> Entry<'a> {
    pub fn name(self) -> &'a str {
        match self {
            Entry::Commune(c) => &c.name,
            Entry::Epci(e) => &e.name,
        }
    }

    pub fn siren(self) -> &'a str {
        match self {
            Entry::Commune(c) => &c.siren,
            Entry::Epci(e) => &e.siren,
        }
    }

    pub fn kind(self) -> OrgKind {
        match self {
            Entry::Commune(_) => OrgKind::Commune,
            Entry::Epci(e) => e.kind,
        }
    }

    pub fn population_totale(self) -> i64 {
        match self {
            Entry::Commune(c) => c.population_totale,
            Entry::Epci(e) => e.population_totale,
        }
    }

    /// Same object (not merely equal), so that a result found twice is listed once.
    fn same(self, other: Entry<'_>) -> bool {
        match (self, other) {
            (Entry::Commune(a), Entry::Commune(b)) => std::ptr::eq(a, b),
            (Entry::Epci(a), Entry::Epci(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

/// Why a BANATIC file was refused. Line numbers are 1-based lines of the file (the header is
/// line 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("fichier vide")]
    Empty,
    #[error("fichier trop volumineux : plus de {} Mo une fois décompressé", MAX_FILE_SIZE / (1024 * 1024))]
    TooLarge,
    #[error("archive gzip illisible ou tronquée")]
    Gzip,
    #[error("ce n'est pas un fichier BANATIC de périmètre des EPCI")]
    NotBanatic,
    #[error("colonne manquante : {0}")]
    MissingColumn(String),
    #[error("le fichier ne contient aucune commune")]
    NoCommunes,
    #[error("ligne {line} : ligne illisible")]
    Unreadable { line: u64 },
    #[error("ligne {line} : la colonne {column} est absente de cette ligne")]
    MissingField { line: u64, column: String },
    #[error("ligne {line} : SIREN invalide « {value} » (colonne {column})")]
    InvalidSiren {
        line: u64,
        column: String,
        value: String,
    },
    #[error("ligne {line} : code INSEE invalide « {value} »")]
    InvalidInsee { line: u64, value: String },
    #[error("ligne {line} : département invalide « {value} » (colonne {column})")]
    InvalidDepartement {
        line: u64,
        column: String,
        value: String,
    },
    #[error(
        "ligne {line} : le département « {departement} » ne correspond pas au code INSEE {insee}"
    )]
    DepartementMismatch {
        line: u64,
        departement: String,
        insee: String,
    },
    #[error("ligne {line} : nombre invalide « {value} » (colonne {column})")]
    InvalidNumber {
        line: u64,
        column: String,
        value: String,
    },
    #[error(
        "ligne {line} : nature juridique inconnue « {value} » (attendu CC, CA, CU, METRO ou MET69)"
    )]
    UnknownNature { line: u64, value: String },
    #[error("ligne {line} : nom vide (colonne {column})")]
    EmptyName { line: u64, column: String },
    #[error("ligne {line} : code INSEE en double « {insee} » (déjà ligne {first_line})")]
    DuplicateInsee {
        line: u64,
        insee: String,
        first_line: u64,
    },
    #[error("ligne {line} : SIREN de commune en double « {siren} » (déjà ligne {first_line})")]
    DuplicateSiren {
        line: u64,
        siren: String,
        first_line: u64,
    },
    #[error(
        "ligne {line} : l'EPCI {siren} n'a pas la même valeur dans la colonne {column} qu'à la ligne {first_line}"
    )]
    InconsistentEpci {
        line: u64,
        siren: String,
        column: &'static str,
        first_line: u64,
    },
    #[error(
        "ligne {line} : l'EPCI {siren} annonce {declared} communes (nb_membres) mais le fichier en compte {found}"
    )]
    MemberCount {
        line: u64,
        siren: String,
        declared: usize,
        found: usize,
    },
}

/// The communes and EPCI of one BANATIC file, indexed.
pub struct Registry {
    /// Sorted by INSEE code.
    communes: Vec<Commune>,
    /// Sorted by SIREN.
    epcis: Vec<Epci>,
    /// Indexes into `communes`, sorted by SIREN.
    by_siren: Vec<u32>,
    /// Indexes into `communes`, sorted by EPCI then normalised name.
    by_epci: Vec<u32>,
    index: SearchIndex,
    /// The year of the populations (from the `ptot_YYYY` column).
    pub population_year: i32,
    /// SHA-256 of the bytes given to [`Registry::parse`] (compressed or not), in hexadecimal.
    pub sha256: String,
}

impl fmt::Debug for Registry {
    // The derived form would print 35,000 communes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("communes", &self.communes.len())
            .field("epcis", &self.epcis.len())
            .field("population_year", &self.population_year)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// What changed between two snapshots; see the module documentation for the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryDiff {
    pub added: Vec<Commune>,
    pub removed: Vec<Commune>,
    /// (older, newer)
    pub renamed: Vec<(Commune, Commune)>,
    pub merged: Vec<Merger>,
    /// Changed EPCI: (older, newer).
    pub moved: Vec<(Commune, Commune)>,
    pub epci_added: Vec<Epci>,
    pub epci_removed: Vec<Epci>,
    /// Communes (same INSEE code and SIREN) whose total or municipal population changed.
    pub population_changed: usize,
}

impl RegistryDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.renamed.is_empty()
            && self.merged.is_empty()
            && self.moved.is_empty()
            && self.epci_added.is_empty()
            && self.epci_removed.is_empty()
            && self.population_changed == 0
    }
}

/// Communes of the older file that disappeared into a commune nouvelle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merger {
    pub into: Commune,
    /// Sorted by INSEE code.
    pub from: Vec<Commune>,
}

impl Registry {
    /// The snapshot shipped with Bouquet, parsed on first call (a quarter of a second in a
    /// release build on a modest server, over a second in a debug build) and kept for the life
    /// of the process.
    pub fn embedded() -> Result<&'static Registry, RegistryError> {
        static EMBEDDED: OnceLock<Result<Registry, RegistryError>> = OnceLock::new();
        EMBEDDED
            .get_or_init(|| Registry::parse(EMBEDDED_FILE))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses a BANATIC perimeter file: gzipped or not, Windows-1252 or UTF-8.
    pub fn parse(bytes: &[u8]) -> Result<Registry, RegistryError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let raw = decompress(bytes)?;
        let text = decode(&raw);
        if text.trim().is_empty() {
            return Err(RegistryError::Empty);
        }
        // A text file has no NUL; checking it first answers "not BANATIC" for binary junk
        // without running it through the CSV reader.
        if text.contains('\0') {
            return Err(RegistryError::NotBanatic);
        }
        let parsed = read_rows(&text)?;
        Ok(Registry::build(parsed, sha256))
    }

    /// All communes, sorted by INSEE code.
    pub fn communes(&self) -> &[Commune] {
        &self.communes
    }

    /// All EPCI, sorted by SIREN.
    pub fn epcis(&self) -> &[Epci] {
        &self.epcis
    }

    /// The INSEE code as printed, with `2A`/`2B` in capitals for Corsica.
    pub fn commune_by_insee(&self, insee: &str) -> Option<&Commune> {
        self.communes
            .binary_search_by(|c| c.insee.as_str().cmp(insee))
            .ok()
            .and_then(|i| self.communes.get(i))
    }

    pub fn commune_by_siren(&self, siren: &str) -> Option<&Commune> {
        self.by_siren
            .binary_search_by(|&i| self.commune(i).siren.as_str().cmp(siren))
            .ok()
            .and_then(|k| self.by_siren.get(k))
            .map(|&i| self.commune(i))
    }

    pub fn epci_by_siren(&self, siren: &str) -> Option<&Epci> {
        self.epcis
            .binary_search_by(|e| e.siren.as_str().cmp(siren))
            .ok()
            .and_then(|i| self.epcis.get(i))
    }

    /// The member communes of an EPCI, sorted by name (accents ignored, so Éancé sits among
    /// the E); empty for an unknown SIREN.
    pub fn communes_of(&self, epci_siren: &str) -> Vec<&Commune> {
        let start = self
            .by_epci
            .partition_point(|&i| self.commune(i).epci_siren.as_str() < epci_siren);
        self.by_epci[start..]
            .iter()
            .map(|&i| self.commune(i))
            .take_while(|c| c.epci_siren == epci_siren)
            .collect()
    }

    /// Communes and EPCI whose name contains every word of the query as the beginning of one
    /// of its words ("st aub" does not find Saint-Aubin, "saint aub" does), accents and case
    /// ignored; an exact INSEE code or SIREN finds its commune or EPCI. Ranking: code matches,
    /// then exact names, then by population, largest first. At most `limit` results.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Entry<'_>> {
        let mut out: Vec<Entry<'_>> = Vec::new();
        if limit == 0 {
            return out;
        }
        let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(insee) = Insee::parse(&compact)
            && let Some(c) = self.commune_by_insee(insee.as_str())
        {
            out.push(Entry::Commune(c));
        }
        if compact.len() == 9 && compact.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(c) = self.commune_by_siren(&compact) {
                out.push(Entry::Commune(c));
            }
            if let Some(e) = self.epci_by_siren(&compact) {
                out.push(Entry::Epci(e));
            }
        }
        let terms = query_terms(query, MAX_QUERY_TERMS);
        for id in self.index.matching(&terms, limit) {
            let entry = self.entry(id);
            if !out.iter().any(|e| e.same(entry)) {
                out.push(entry);
            }
        }
        out.truncate(limit);
        out
    }

    /// What changed from `self` (the older file) to `newer`; see the module documentation.
    pub fn diff(&self, newer: &Registry) -> RegistryDiff {
        let mut diff = RegistryDiff::default();
        // Communes nouvelles: (newer commune, old holder of its INSEE code if any).
        let mut nouvelles: Vec<(&Commune, Option<&Commune>)> = Vec::new();
        for new in &newer.communes {
            match self.commune_by_insee(&new.insee) {
                Some(old) if old.siren == new.siren => {
                    if old.name != new.name {
                        diff.renamed.push((old.clone(), new.clone()));
                    }
                    if old.epci_siren != new.epci_siren {
                        diff.moved.push((old.clone(), new.clone()));
                    }
                    if old.population_totale != new.population_totale
                        || old.population_municipale != new.population_municipale
                    {
                        diff.population_changed += 1;
                    }
                }
                holder => nouvelles.push((new, holder)),
            }
        }

        let disappeared: Vec<&Commune> = self
            .communes
            .iter()
            .filter(|c| newer.commune_by_insee(&c.insee).is_none())
            .collect();
        // For each disappeared commune, the commune nouvelle that absorbs it, if any.
        let mut absorbed_by: Vec<Option<usize>> = vec![None; disappeared.len()];
        for (d, old) in disappeared.iter().enumerate() {
            let old_words = word_set(&old.name);
            let mut best: Option<(usize, usize)> = None; // (shared words, index in nouvelles)
            for (n, (new, _)) in nouvelles.iter().enumerate() {
                if new.epci_siren != old.epci_siren {
                    continue;
                }
                let shared = word_set(&new.name)
                    .iter()
                    .filter(|w| old_words.contains(w))
                    .count();
                // Strictly more shared words wins; `nouvelles` is in INSEE order, so on a tie
                // the first one seen (lowest code) stays.
                if best.is_none_or(|(s, _)| shared > s) {
                    best = Some((shared, n));
                }
            }
            absorbed_by[d] = best.map(|(_, n)| n);
        }

        for (n, (new, holder)) in nouvelles.iter().enumerate() {
            let mut from: Vec<Commune> = holder.iter().map(|&c| c.clone()).collect();
            from.extend(
                disappeared
                    .iter()
                    .zip(&absorbed_by)
                    .filter(|(_, by)| **by == Some(n))
                    .map(|(c, _)| (*c).clone()),
            );
            if from.is_empty() {
                diff.added.push((*new).clone());
            } else {
                from.sort_by(|a, b| a.insee.cmp(&b.insee));
                diff.merged.push(Merger {
                    into: (*new).clone(),
                    from,
                });
            }
        }
        diff.removed = disappeared
            .iter()
            .zip(&absorbed_by)
            .filter(|(_, by)| by.is_none())
            .map(|(c, _)| (*c).clone())
            .collect();

        diff.epci_added = newer
            .epcis
            .iter()
            .filter(|e| self.epci_by_siren(&e.siren).is_none())
            .cloned()
            .collect();
        diff.epci_removed = self
            .epcis
            .iter()
            .filter(|e| newer.epci_by_siren(&e.siren).is_none())
            .cloned()
            .collect();
        diff
    }

    fn commune(&self, i: u32) -> &Commune {
        // Indexes are built from `communes` itself, so they are in range.
        &self.communes[i as usize]
    }

    fn entry(&self, id: u32) -> Entry<'_> {
        match self.index.slots[id as usize] {
            Slot::Commune(i) => Entry::Commune(&self.communes[i as usize]),
            Slot::Epci(i) => Entry::Epci(&self.epcis[i as usize]),
        }
    }

    fn build(parsed: Parsed, sha256: String) -> Registry {
        let Parsed {
            mut communes,
            mut epcis,
            population_year,
        } = parsed;
        communes.sort_by(|a, b| a.insee.cmp(&b.insee));
        epcis.sort_by(|a, b| a.siren.cmp(&b.siren));
        // The file holds far fewer than u32::MAX lines (MAX_FILE_SIZE bounds it), so the
        // `as u32` below never truncate.
        let mut commune_names: Vec<String> = communes.iter().map(|c| normalize(&c.name)).collect();
        let mut epci_names: Vec<String> = epcis.iter().map(|e| normalize(&e.name)).collect();

        let mut by_siren: Vec<u32> = (0..communes.len() as u32).collect();
        by_siren.sort_by(|&a, &b| communes[a as usize].siren.cmp(&communes[b as usize].siren));
        let mut by_epci: Vec<u32> = (0..communes.len() as u32).collect();
        by_epci.sort_by(|&a, &b| {
            let (ca, cb) = (&communes[a as usize], &communes[b as usize]);
            ca.epci_siren
                .cmp(&cb.epci_siren)
                .then_with(|| commune_names[a as usize].cmp(&commune_names[b as usize]))
                .then_with(|| ca.name.cmp(&cb.name))
                .then_with(|| ca.insee.cmp(&cb.insee))
        });

        let mut ranked: Vec<(Slot, i64, &str, &str)> =
            Vec::with_capacity(communes.len() + epcis.len());
        ranked.extend(communes.iter().enumerate().map(|(i, c)| {
            (
                Slot::Commune(i as u32),
                c.population_totale,
                commune_names[i].as_str(),
                c.siren.as_str(),
            )
        }));
        ranked.extend(epcis.iter().enumerate().map(|(i, e)| {
            (
                Slot::Epci(i as u32),
                e.population_totale,
                epci_names[i].as_str(),
                e.siren.as_str(),
            )
        }));
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.2.cmp(b.2))
                .then_with(|| a.3.cmp(b.3))
        });
        let slots: Vec<Slot> = ranked.iter().map(|r| r.0).collect();
        drop(ranked);
        // Each name is taken once (every entry has one slot), so moving beats cloning.
        let names: Vec<String> = slots
            .iter()
            .map(|s| match *s {
                Slot::Commune(i) => std::mem::take(&mut commune_names[i as usize]),
                Slot::Epci(i) => std::mem::take(&mut epci_names[i as usize]),
            })
            .collect();

        Registry {
            communes,
            epcis,
            by_siren,
            by_epci,
            index: SearchIndex::new(slots, names),
            population_year,
            sha256,
        }
    }
}

/// The distinct normalised words of a name.
fn word_set(name: &str) -> Vec<String> {
    let mut words: Vec<String> = normalize(name).split(' ').map(str::to_owned).collect();
    words.sort();
    words.dedup();
    words
}

// ----- search index -----

#[derive(Clone, Copy, Debug)]
enum Slot {
    Commune(u32),
    Epci(u32),
}

/// One word of one entry's normalised name: `names[entry][start..end]`.
#[derive(Clone, Copy)]
struct WordRef {
    entry: u32,
    start: u32,
    end: u32,
}

struct SearchIndex {
    /// Entries in ranking order; an entry id is a position here.
    slots: Vec<Slot>,
    /// Normalised name of each entry.
    names: Vec<String>,
    /// Every word of every name, sorted by text.
    words: Vec<WordRef>,
}

impl SearchIndex {
    fn new(slots: Vec<Slot>, names: Vec<String>) -> SearchIndex {
        let mut words = Vec::with_capacity(names.len() * 3);
        for (entry, name) in names.iter().enumerate() {
            let mut start = 0usize;
            for word in name.split(' ') {
                let end = start + word.len();
                if !word.is_empty() {
                    words.push(WordRef {
                        entry: entry as u32,
                        start: start as u32,
                        end: end as u32,
                    });
                }
                start = end + 1;
            }
        }
        let mut index = SearchIndex {
            slots,
            names,
            words: Vec::new(),
        };
        words.sort_unstable_by(|a, b| {
            index
                .word(*a)
                .cmp(index.word(*b))
                .then_with(|| a.entry.cmp(&b.entry))
        });
        index.words = words;
        index
    }

    fn word(&self, w: WordRef) -> &str {
        self.names[w.entry as usize]
            .get(w.start as usize..w.end as usize)
            .unwrap_or_default()
    }

    /// The words starting with `prefix`: they are contiguous in the sorted table.
    fn prefix_range(&self, prefix: &str) -> &[WordRef] {
        let start = self.words.partition_point(|&w| self.word(w) < prefix);
        let rest = &self.words[start..];
        let len = rest.partition_point(|&w| self.word(w).starts_with(prefix));
        &rest[..len]
    }

    /// Entry ids matching every term, exact names first, then in ranking order; at most
    /// `limit` of them.
    fn matching(&self, terms: &[String], limit: usize) -> Vec<u32> {
        let mut ranges: Vec<&[WordRef]> = terms.iter().map(|t| self.prefix_range(t)).collect();
        ranges.sort_by_key(|r| r.len());
        let Some((rarest, others)) = ranges.split_first() else {
            return Vec::new();
        };
        if rarest.is_empty() {
            return Vec::new();
        }
        // One bit per entry: a name holding a prefix twice counts once, intersecting the
        // terms is an AND, and walking the bits in order yields ids in ranking order.
        let blocks = self.slots.len().div_ceil(64);
        let mut seen = vec![0u64; blocks];
        for w in *rarest {
            seen[w.entry as usize / 64] |= 1 << (w.entry % 64);
        }
        let mut term = vec![0u64; blocks];
        for range in others {
            term.fill(0);
            for w in *range {
                term[w.entry as usize / 64] |= 1 << (w.entry % 64);
            }
            for (s, t) in seen.iter_mut().zip(&term) {
                *s &= t;
            }
        }
        let exact_name = terms.join(" ");
        let mut exact = Vec::new();
        let mut ranked = Vec::new();
        for (block, &bits) in seen.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let id = block as u32 * 64 + bits.trailing_zeros();
                bits &= bits - 1;
                if self.names[id as usize] == exact_name {
                    exact.push(id);
                } else if ranked.len() < limit {
                    ranked.push(id);
                }
            }
        }
        exact.extend(ranked);
        exact.truncate(limit);
        exact
    }
}

// ----- reading the file -----

fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, RegistryError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        if bytes.len() > MAX_FILE_SIZE {
            return Err(RegistryError::TooLarge);
        }
        return Ok(Cow::Borrowed(bytes));
    }
    // Read one byte past the limit: reaching it proves the file is too large without
    // inflating the rest (a gzip bomb stops here).
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| RegistryError::Gzip)?;
    if out.len() > MAX_FILE_SIZE {
        return Err(RegistryError::TooLarge);
    }
    Ok(Cow::Owned(out))
}

/// Valid UTF-8 is taken as UTF-8 (a Windows-1252 file with accents is practically never valid
/// UTF-8); anything else is Windows-1252, the encoding of the official file, in which every
/// byte decodes.
fn decode(raw: &[u8]) -> Cow<'_, str> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(raw).0,
    }
}

struct Parsed {
    communes: Vec<Commune>,
    epcis: Vec<Epci>,
    population_year: i32,
}

/// Column positions, found by name in the header.
struct Columns {
    dept: usize,
    siren: usize,
    raison_sociale: usize,
    nature_juridique: usize,
    nb_membres: usize,
    total_pop_tot: usize,
    total_pop_mun: usize,
    dep_com: usize,
    insee: usize,
    siren_membre: usize,
    nom_membre: usize,
    ptot: usize,
    pmun: usize,
    ptot_name: String,
    pmun_name: String,
    year: i32,
}

const NAMED_COLUMNS: [&str; 11] = [
    "dept",
    "siren",
    "raison_sociale",
    "nature_juridique",
    "nb_membres",
    "total_pop_tot",
    "total_pop_mun",
    "dep_com",
    "insee",
    "siren_membre",
    "nom_membre",
];

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Columns, RegistryError> {
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let position = |name: &str| names.iter().position(|h| h == name);
        let found: Vec<Option<usize>> = NAMED_COLUMNS.iter().map(|n| position(n)).collect();
        // Missing most of the columns means another kind of file altogether; missing one or
        // two means a changed format, worth naming.
        if found.iter().filter(|f| f.is_some()).count() < NAMED_COLUMNS.len() / 2 {
            return Err(RegistryError::NotBanatic);
        }
        let mut at = [0usize; NAMED_COLUMNS.len()];
        for ((slot, f), name) in at.iter_mut().zip(&found).zip(NAMED_COLUMNS) {
            *slot = f.ok_or_else(|| RegistryError::MissingColumn(name.to_owned()))?;
        }
        // The population columns carry their year; a file with several years gets the
        // latest one that has both columns.
        let year = names
            .iter()
            .filter_map(|h| h.strip_prefix("ptot_"))
            .filter_map(|y| y.parse::<i32>().ok().filter(|_| y.len() == 4))
            .filter(|y| position(&format!("pmun_{y}")).is_some())
            .max();
        let Some(year) = year else {
            // Name the missing half when the other one is there.
            let missing = names
                .iter()
                .find_map(|h| h.strip_prefix("ptot_"))
                .map_or_else(|| "ptot_AAAA".to_owned(), |y| format!("pmun_{y}"));
            return Err(RegistryError::MissingColumn(missing));
        };
        let ptot_name = format!("ptot_{year}");
        let pmun_name = format!("pmun_{year}");
        // Both exist: `year` was chosen among the headers that have them.
        let ptot = position(&ptot_name).unwrap_or_default();
        let pmun = position(&pmun_name).unwrap_or_default();
        let [
            dept,
            siren,
            raison_sociale,
            nature_juridique,
            nb_membres,
            total_pop_tot,
            total_pop_mun,
            dep_com,
            insee,
            siren_membre,
            nom_membre,
        ] = at;
        Ok(Columns {
            dept,
            siren,
            raison_sociale,
            nature_juridique,
            nb_membres,
            total_pop_tot,
            total_pop_mun,
            dep_com,
            insee,
            siren_membre,
            nom_membre,
            ptot,
            pmun,
            ptot_name,
            pmun_name,
            year,
        })
    }
}

/// One line of the file, with its number for error messages.
struct Row<'r> {
    record: &'r csv::StringRecord,
    line: u64,
}

impl<'r> Row<'r> {
    fn get(&self, at: usize, column: &str) -> Result<&'r str, RegistryError> {
        self.record
            .get(at)
            .map(str::trim)
            .ok_or_else(|| RegistryError::MissingField {
                line: self.line,
                column: column.to_owned(),
            })
    }

    fn siren(&self, at: usize, column: &str) -> Result<String, RegistryError> {
        let value = self.get(at, column)?;
        Siren::parse(value)
            .map(String::from)
            .map_err(|_| RegistryError::InvalidSiren {
                line: self.line,
                column: column.to_owned(),
                value: value.to_owned(),
            })
    }

    fn number(&self, at: usize, column: &str) -> Result<i64, RegistryError> {
        let value = self.get(at, column)?;
        // Thousands are separated by a space in the official file; other exports use a
        // no-break space or a narrow no-break space.
        let mut n: i64 = 0;
        let mut digits = 0;
        for c in value.chars() {
            if let Some(d) = c.to_digit(10) {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(i64::from(d)))
                    .ok_or_else(|| self.invalid_number(column, value))?;
                digits += 1;
            } else if !matches!(c, ' ' | '\u{a0}' | '\u{202f}') {
                return Err(self.invalid_number(column, value));
            }
        }
        if digits == 0 {
            return Err(self.invalid_number(column, value));
        }
        Ok(n)
    }

    fn invalid_number(&self, column: &str, value: &str) -> RegistryError {
        RegistryError::InvalidNumber {
            line: self.line,
            column: column.to_owned(),
            value: value.to_owned(),
        }
    }

    fn departement(&self, at: usize, column: &str) -> Result<String, RegistryError> {
        let value = self.get(at, column)?;
        let upper = value.to_ascii_uppercase();
        let b = upper.as_bytes();
        let ok = match b.len() {
            2 => b.iter().all(u8::is_ascii_digit) || upper == "2A" || upper == "2B",
            3 => {
                b.iter().all(u8::is_ascii_digit)
                    && (upper.starts_with("97") || upper.starts_with("98"))
            }
            _ => false,
        };
        if ok {
            Ok(upper)
        } else {
            Err(RegistryError::InvalidDepartement {
                line: self.line,
                column: column.to_owned(),
                value: value.to_owned(),
            })
        }
    }

    fn name(&self, at: usize, column: &str) -> Result<String, RegistryError> {
        let value = self.get(at, column)?;
        if value.is_empty() {
            return Err(RegistryError::EmptyName {
                line: self.line,
                column: column.to_owned(),
            });
        }
        Ok(value.to_owned())
    }
}

fn nature(row: &Row<'_>, at: usize) -> Result<OrgKind, RegistryError> {
    let value = row.get(at, "nature_juridique")?;
    match value.to_ascii_uppercase().as_str() {
        "CC" => Ok(OrgKind::Cc),
        "CA" => Ok(OrgKind::Ca),
        "CU" => Ok(OrgKind::Cu),
        "METRO" | "MET69" => Ok(OrgKind::Metropole),
        _ => Err(RegistryError::UnknownNature {
            line: row.line,
            value: value.to_owned(),
        }),
    }
}

/// File line numbers from byte offsets. The CSV reader's own line count lags by one on CRLF
/// files (it counts the `\n` of a line when it reads the next record), so lines are counted
/// here from the offset where each record starts.
struct LineCounter<'t> {
    text: &'t [u8],
    offset: usize,
    line: u64,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t [u8]) -> Self {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record whose reading began at `byte`: the reader starts a record on
    /// the line ends (and the empty lines) before it, so they are skipped first. Offsets only
    /// grow, so the whole file is counted once.
    fn line_at(&mut self, byte: u64) -> u64 {
        let len = self.text.len();
        let mut start = usize::try_from(byte).unwrap_or(len).clamp(self.offset, len);
        while start < len && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        let newlines = self.text[self.offset..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines as u64;
        self.offset = start;
        self.line
    }
}

/// An EPCI as first read, with what is needed to check its later lines.
struct EpciSeen {
    epci: Epci,
    first_line: u64,
    lines: usize,
    /// The EPCI columns of its first line as written, in the order of [`EPCI_COLUMNS`]: a
    /// later line that repeats them exactly (all do, in the official file) needs no parsing.
    raw: [String; 6],
}

const EPCI_COLUMNS: [&str; 6] = [
    "raison_sociale",
    "nature_juridique",
    "dept",
    "nb_membres",
    "total_pop_tot",
    "total_pop_mun",
];

fn epci_raw<'r>(row: &Row<'r>, col: &Columns) -> Result<[&'r str; 6], RegistryError> {
    let at = [
        col.raison_sociale,
        col.nature_juridique,
        col.dept,
        col.nb_membres,
        col.total_pop_tot,
        col.total_pop_mun,
    ];
    let mut raw = [""; 6];
    for ((value, at), column) in raw.iter_mut().zip(at).zip(EPCI_COLUMNS) {
        *value = row.get(at, column)?;
    }
    Ok(raw)
}

fn read_epci(row: &Row<'_>, col: &Columns, siren: String) -> Result<Epci, RegistryError> {
    Ok(Epci {
        siren,
        name: row.name(col.raison_sociale, "raison_sociale")?,
        kind: nature(row, col.nature_juridique)?,
        departement: row.departement(col.dept, "dept")?,
        population_totale: row.number(col.total_pop_tot, "total_pop_tot")?,
        population_municipale: row.number(col.total_pop_mun, "total_pop_mun")?,
        communes: usize::try_from(row.number(col.nb_membres, "nb_membres")?).unwrap_or(usize::MAX),
    })
}

/// Reads the EPCI columns of a line: a new EPCI is parsed and remembered, a known one is
/// checked against its first line. Returns the EPCI's SIREN.
fn check_epci(
    row: &Row<'_>,
    col: &Columns,
    epcis: &mut HashMap<String, EpciSeen>,
) -> Result<String, RegistryError> {
    let siren_raw = row.get(col.siren, "siren")?;
    // Most lines repeat the SIREN of a known EPCI as is; parse only the others.
    let siren = if epcis.contains_key(siren_raw) {
        siren_raw.to_owned()
    } else {
        row.siren(col.siren, "siren")?
    };
    let raw = epci_raw(row, col)?;
    let Some(seen) = epcis.get_mut(&siren) else {
        let epci = read_epci(row, col, siren.clone())?;
        epcis.insert(
            siren.clone(),
            EpciSeen {
                epci,
                first_line: row.line,
                lines: 1,
                raw: raw.map(str::to_owned),
            },
        );
        return Ok(siren);
    };
    if raw != seen.raw.each_ref().map(String::as_str) {
        // Written differently ("27573" for "27 573") is not different: compare the values.
        let epci = read_epci(row, col, siren.clone())?;
        let first = &seen.epci;
        let differs = [
            first.name != epci.name,
            first.kind != epci.kind,
            first.departement != epci.departement,
            first.communes != epci.communes,
            first.population_totale != epci.population_totale,
            first.population_municipale != epci.population_municipale,
        ]
        .into_iter()
        .zip(EPCI_COLUMNS)
        .find_map(|(differs, column)| differs.then_some(column));
        if let Some(column) = differs {
            return Err(RegistryError::InconsistentEpci {
                line: row.line,
                siren,
                column,
                first_line: seen.first_line,
            });
        }
    }
    seen.lines += 1;
    Ok(siren)
}

fn read_rows(text: &str) -> Result<Parsed, RegistryError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut header_read = false;
    let mut columns: Option<Columns> = None;

    let mut communes: Vec<Commune> = Vec::new();
    let mut epcis: HashMap<String, EpciSeen> = HashMap::new();
    let mut insee_lines: HashMap<String, u64> = HashMap::new();
    let mut siren_lines: HashMap<String, u64> = HashMap::new();

    let mut lines = LineCounter::new(text.as_bytes());
    loop {
        let offset_before = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                // Before any record is read, an unreadable start means this is not our file.
                if !header_read {
                    return Err(RegistryError::NotBanatic);
                }
                return Err(RegistryError::Unreadable {
                    line: lines.line_at(offset_before),
                });
            }
        }
        let line = lines.line_at(record.position().map_or(offset_before, csv::Position::byte));
        if !header_read {
            header_read = true;
            columns = Some(Columns::find(&record)?);
            continue;
        }
        let Some(col) = columns.as_ref() else {
            return Err(RegistryError::NotBanatic);
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let row = Row {
            record: &record,
            line,
        };

        let epci_siren = check_epci(&row, col, &mut epcis)?;

        let insee_raw = row.get(col.insee, "insee")?;
        let insee = Insee::parse(insee_raw).map_err(|_| RegistryError::InvalidInsee {
            line,
            value: insee_raw.to_owned(),
        })?;
        let departement = row.departement(col.dep_com, "dep_com")?;
        if departement != insee.departement() {
            return Err(RegistryError::DepartementMismatch {
                line,
                departement,
                insee: insee.to_string(),
            });
        }
        let commune = Commune {
            insee: insee.to_string(),
            siren: row.siren(col.siren_membre, "siren_membre")?,
            name: row.name(col.nom_membre, "nom_membre")?,
            departement,
            epci_siren,
            population_totale: row.number(col.ptot, &col.ptot_name)?,
            population_municipale: row.number(col.pmun, &col.pmun_name)?,
        };

        match insee_lines.entry(commune.insee.clone()) {
            MapEntry::Occupied(first) => {
                return Err(RegistryError::DuplicateInsee {
                    line,
                    insee: commune.insee,
                    first_line: *first.get(),
                });
            }
            MapEntry::Vacant(v) => {
                v.insert(line);
            }
        }
        match siren_lines.entry(commune.siren.clone()) {
            MapEntry::Occupied(first) => {
                return Err(RegistryError::DuplicateSiren {
                    line,
                    siren: commune.siren,
                    first_line: *first.get(),
                });
            }
            MapEntry::Vacant(v) => {
                v.insert(line);
            }
        }
        communes.push(commune);
    }

    let Some(columns) = columns else {
        return Err(RegistryError::Empty);
    };
    if communes.is_empty() {
        return Err(RegistryError::NoCommunes);
    }
    let mut seen: Vec<EpciSeen> = epcis.into_values().collect();
    seen.sort_by_key(|s| s.first_line);
    if let Some(bad) = seen.iter().find(|s| s.lines != s.epci.communes) {
        return Err(RegistryError::MemberCount {
            line: bad.first_line,
            siren: bad.epci.siren.clone(),
            declared: bad.epci.communes,
            found: bad.lines,
        });
    }
    Ok(Parsed {
        communes,
        epcis: seen.into_iter().map(|s| s.epci).collect(),
        population_year: columns.year,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bouquet_kernel::identifiers::luhn_complete;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// An older snapshot derived from the current file (see `tests-data/README.md`).
    const ANCIEN: &[u8] = include_bytes!("../tests-data/banatic-ancien.csv");
    /// The lines of EPCI 243500634 and 243500659 of the current file, byte for byte.
    const EXTRAIT: &[u8] = include_bytes!("../tests-data/banatic-actuel-extrait.csv");
    const ROCHE_AUX_FEES: &str = "243500634";
    const CHATEAUGIRON: &str = "243500659";

    fn registry() -> &'static Registry {
        Registry::embedded().expect("the embedded file parses")
    }

    fn parse(bytes: &[u8]) -> Registry {
        Registry::parse(bytes).expect("the file parses")
    }

    fn refusal(bytes: &[u8]) -> String {
        Registry::parse(bytes)
            .expect_err("the file is refused")
            .to_string()
    }

    fn cp1252(text: &str) -> Vec<u8> {
        encoding_rs::WINDOWS_1252.encode(text).0.into_owned()
    }

    fn extract_text() -> String {
        encoding_rs::WINDOWS_1252.decode(EXTRAIT).0.into_owned()
    }

    /// The extract with line `n` (1-based) passed through `change`, back in Windows-1252.
    fn extract_with_line(n: usize, change: impl Fn(&str) -> String) -> Vec<u8> {
        let text: String = extract_text()
            .split_inclusive("\r\n")
            .enumerate()
            .map(|(i, l)| if i + 1 == n { change(l) } else { l.to_owned() })
            .collect();
        cp1252(&text)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    /// The lines of the embedded file, raw (Windows-1252), without their CRLF.
    fn embedded_lines() -> Vec<Vec<u8>> {
        let raw = decompress(EMBEDDED_FILE).unwrap();
        raw.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .collect()
    }

    fn names<'a>(communes: impl IntoIterator<Item = &'a Commune>) -> Vec<&'a str> {
        communes.into_iter().map(|c| c.name.as_str()).collect()
    }

    fn insees<'a>(communes: impl IntoIterator<Item = &'a Commune>) -> Vec<&'a str> {
        communes.into_iter().map(|c| c.insee.as_str()).collect()
    }

    // ----- the embedded file -----

    #[test]
    fn the_embedded_file_parses_completely() {
        let r = registry();
        // The official file has 34,872 lines after its header, the last one made of empty
        // fields only (";;;;;;;;;;;;;"): 34,871 communes in 1,255 EPCI (1,254 EPCI à
        // fiscalité propre and the Métropole de Lyon).
        assert_eq!(r.communes().len(), 34_871);
        assert_eq!(r.epcis().len(), 1_255);
        assert_eq!(r.population_year, 2025);
        assert_eq!(r.sha256, hex::encode(Sha256::digest(EMBEDDED_FILE)));

        let arbrissel = r.commune_by_insee("35005").unwrap();
        assert_eq!(
            arbrissel,
            &Commune {
                insee: "35005".into(),
                siren: "213500051".into(),
                name: "Arbrissel".into(),
                departement: "35".into(),
                epci_siren: ROCHE_AUX_FEES.into(),
                population_totale: 276,
                population_municipale: 270,
            }
        );
        assert_eq!(r.commune_by_siren("213500051"), Some(arbrissel));

        let epci = r.epci_by_siren(ROCHE_AUX_FEES).unwrap();
        assert_eq!(
            epci,
            &Epci {
                siren: ROCHE_AUX_FEES.into(),
                name: "CC Roche aux Fées Communauté".into(),
                kind: OrgKind::Cc,
                departement: "35".into(),
                population_totale: 27_573,
                population_municipale: 27_025,
                communes: 16,
            }
        );
        assert_eq!(
            names(r.communes_of(ROCHE_AUX_FEES)),
            [
                "Amanlis",
                "Arbrissel",
                "Boistrudan",
                "Brie",
                "Chelun",
                "Coësmes",
                "Eancé",
                "Essé",
                "Forges-la-Forêt",
                "Janzé",
                "Le Theil-de-Bretagne",
                "Marcillé-Robert",
                "Martigné-Ferchaud",
                "Retiers",
                "Sainte-Colombe",
                "Thourie",
            ]
        );
        assert!(r.communes_of("000000000").is_empty());
        assert!(r.commune_by_insee("35999").is_none());
        assert!(r.epci_by_siren("213500051").is_none());
    }

    #[test]
    fn every_epci_has_as_many_communes_as_lines() {
        let r = registry();
        // Counted from the raw lines, independently of the parser. The SIREN is the second
        // column, before any quoted name, so a plain split finds it.
        let mut lines: HashMap<String, usize> = HashMap::new();
        for line in &embedded_lines()[1..] {
            let siren = line.split(|&b| b == b';').nth(1).unwrap_or_default();
            if !siren.is_empty() {
                *lines
                    .entry(String::from_utf8(siren.to_vec()).unwrap())
                    .or_default() += 1;
            }
        }
        assert_eq!(lines.len(), r.epcis().len());
        for e in r.epcis() {
            let members = r.communes_of(&e.siren);
            assert_eq!(e.communes, lines[&e.siren], "{}", e.name);
            assert_eq!(members.len(), e.communes, "{}", e.name);
            // The published totals are the sums of the communes (true of the 2025 file).
            let total: i64 = members.iter().map(|c| c.population_totale).sum();
            let municipal: i64 = members.iter().map(|c| c.population_municipale).sum();
            assert_eq!(
                (total, municipal),
                (e.population_totale, e.population_municipale)
            );
        }
        let sum: usize = r.epcis().iter().map(|e| e.communes).sum();
        assert_eq!(sum, r.communes().len());
    }

    #[test]
    fn natures_corsica_and_overseas() {
        let r = registry();
        let count = |k: OrgKind| r.epcis().iter().filter(|e| e.kind == k).count();
        assert_eq!(
            [OrgKind::Cc, OrgKind::Ca, OrgKind::Cu, OrgKind::Metropole].map(count),
            [989, 230, 14, 22]
        );
        // MET69 and METRO are both métropoles.
        assert_eq!(
            r.epci_by_siren("200046977").unwrap().kind,
            OrgKind::Metropole
        );
        assert_eq!(
            r.epci_by_siren("243500139").unwrap().kind,
            OrgKind::Metropole
        );
        let ajaccio = r.commune_by_insee("2A004").unwrap();
        assert_eq!(
            (ajaccio.name.as_str(), ajaccio.departement.as_str()),
            ("Ajaccio", "2A")
        );
        let mamoudzou = r.commune_by_insee("97611").unwrap();
        assert_eq!(mamoudzou.departement, "976");
        let paris = r.commune_by_insee("75056").unwrap();
        assert_eq!(paris.population_totale, 2_129_257);
    }

    #[test]
    fn the_extract_is_exactly_the_lines_of_the_embedded_file() {
        let lines = embedded_lines();
        let mut expected = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let siren = line.split(|&b| b == b';').nth(1).unwrap_or_default();
            if i == 0 || siren == ROCHE_AUX_FEES.as_bytes() || siren == CHATEAUGIRON.as_bytes() {
                expected.extend_from_slice(line);
                expected.extend_from_slice(b"\r\n");
            }
        }
        assert_eq!(expected, EXTRAIT);
    }

    // ----- search -----

    fn first(query: &str) -> Entry<'static> {
        *registry()
            .search(query, 10)
            .first()
            .unwrap_or_else(|| panic!("nothing found for {query:?}"))
    }

    fn commune(insee: &str) -> Entry<'static> {
        Entry::Commune(registry().commune_by_insee(insee).unwrap())
    }

    fn epci(siren: &str) -> Entry<'static> {
        Entry::Epci(registry().epci_by_siren(siren).unwrap())
    }

    #[test]
    fn search_by_name() {
        let r = registry();
        assert_eq!(first("janze"), commune("35136"));
        assert_eq!(first("  JANZÉ "), commune("35136"));
        assert!(r.search("arbr", 10).contains(&commune("35005")));
        assert_eq!(first("roche aux fees"), epci(ROCHE_AUX_FEES));
        assert_eq!(first("Roche-aux-Fées"), epci(ROCHE_AUX_FEES));
        assert_eq!(first("éancé"), commune("35103"));
        // Every word is required, each as the beginning of a word of the name.
        assert!(r.search("janze retiers", 10).is_empty());
        assert!(r.search("brissel", 10).is_empty());
        for e in r.search("saint aub", 50) {
            let name = normalize(e.name());
            let words: Vec<&str> = name.split(' ').collect();
            assert!(words.iter().any(|w| w.starts_with("saint")), "{name}");
            assert!(words.iter().any(|w| w.starts_with("aub")), "{name}");
        }
    }

    #[test]
    fn search_by_code() {
        assert_eq!(first("213500051"), commune("35005"));
        assert_eq!(first("213 500 051"), commune("35005"));
        assert_eq!(first("35005"), commune("35005"));
        assert_eq!(first("2a004"), commune("2A004"));
        assert_eq!(first("243500634"), epci(ROCHE_AUX_FEES));
        assert!(registry().search("213500052", 10).is_empty());
    }

    #[test]
    fn search_ranking_and_limits() {
        let r = registry();
        // The exact name comes before a more populous EPCI that contains it.
        assert_eq!(r.search("rennes", 2), [commune("35238"), epci("243500139")]);
        assert_eq!(first("paris"), commune("75056"));
        assert_eq!(
            r.search("chateaugiron", 2),
            [commune("35069"), epci(CHATEAUGIRON)]
        );
        // Otherwise by population, communes and EPCI together.
        let found = r.search("saint", 50);
        assert_eq!(found.len(), 50);
        assert!(
            found
                .windows(2)
                .all(|w| w[0].population_totale() >= w[1].population_totale())
        );
        assert_eq!(r.search("s", 20).len(), 20);
        assert_eq!(r.search("saint", 0).len(), 0);
        assert_eq!(r.search("35005", 0).len(), 0);
        assert!(r.search("!!! -- ’ ?", 10).is_empty());
        assert!(r.search("", 10).is_empty());
        assert!(r.search("zzzzzz", 10).is_empty());
    }

    // ----- comparing snapshots -----

    #[test]
    fn diff_of_the_fixture() {
        let old = parse(ANCIEN);
        let new = parse(EXTRAIT);
        let diff = old.diff(&new);

        assert_eq!(insees(&diff.removed), ["35990"]);
        assert_eq!(names(&diff.removed), ["Le Bois-des-Fées"]);

        assert_eq!(diff.merged.len(), 1);
        let merger = &diff.merged[0];
        assert_eq!(
            (
                merger.into.insee.as_str(),
                merger.into.siren.as_str(),
                merger.into.name.as_str()
            ),
            ("35220", "200085884", "Piré-Chancé")
        );
        assert_eq!(insees(&merger.from), ["35053", "35220"]);
        assert_eq!(names(&merger.from), ["Chancé", "Piré-sur-Seiche"]);
        assert_eq!(
            merger
                .from
                .iter()
                .map(|c| c.siren.as_str())
                .collect::<Vec<_>>(),
            ["999350531", "999350226"]
        );

        assert_eq!(diff.renamed.len(), 1);
        let (before, after) = &diff.renamed[0];
        assert_eq!(
            (
                before.insee.as_str(),
                before.name.as_str(),
                after.name.as_str()
            ),
            ("35333", "Le Theil", "Le Theil-de-Bretagne")
        );

        assert_eq!(diff.moved.len(), 1);
        let (before, after) = &diff.moved[0];
        assert_eq!(
            (
                before.name.as_str(),
                before.epci_siren.as_str(),
                after.epci_siren.as_str()
            ),
            ("Amanlis", CHATEAUGIRON, ROCHE_AUX_FEES)
        );

        // Janzé only.
        assert_eq!(diff.population_changed, 1);
        // The old file's EPCI columns were recomputed from its lines, like a real file's.
        for r in [&old, &new] {
            for e in r.epcis() {
                let members = r.communes_of(&e.siren);
                assert_eq!(members.len(), e.communes);
                let total: i64 = members.iter().map(|c| c.population_totale).sum();
                let municipal: i64 = members.iter().map(|c| c.population_municipale).sum();
                assert_eq!(
                    (total, municipal),
                    (e.population_totale, e.population_municipale)
                );
            }
        }
        assert!(diff.added.is_empty());
        assert!(diff.epci_added.is_empty());
        assert!(diff.epci_removed.is_empty());
    }

    #[test]
    fn a_registry_compared_with_itself_has_no_difference() {
        assert!(registry().diff(registry()).is_empty());
        let old = parse(ANCIEN);
        assert!(old.diff(&old).is_empty());
        assert_eq!(old.diff(&old), RegistryDiff::default());
    }

    #[test]
    fn epci_added_and_removed() {
        let full = parse(EXTRAIT);
        let roche_only: String = extract_text()
            .split_inclusive("\r\n")
            .filter(|l| !l.contains(CHATEAUGIRON))
            .collect();
        let roche_only = parse(&cp1252(&roche_only));

        let diff = full.diff(&roche_only);
        assert_eq!(
            diff.epci_removed
                .iter()
                .map(|e| e.siren.as_str())
                .collect::<Vec<_>>(),
            [CHATEAUGIRON]
        );
        assert_eq!(
            insees(&diff.removed),
            ["35069", "35099", "35207", "35220", "35327"]
        );
        assert!(diff.merged.is_empty() && diff.added.is_empty() && diff.epci_added.is_empty());

        let diff = roche_only.diff(&full);
        assert_eq!(
            diff.epci_added
                .iter()
                .map(|e| e.siren.as_str())
                .collect::<Vec<_>>(),
            [CHATEAUGIRON]
        );
        assert_eq!(
            insees(&diff.added),
            ["35069", "35099", "35207", "35220", "35327"]
        );
        assert!(diff.merged.is_empty() && diff.removed.is_empty() && diff.epci_removed.is_empty());
    }

    /// A small BANATIC file (UTF-8) from (EPCI SIREN, INSEE code, SIREN number, name), with
    /// consistent EPCI columns. Commune SIRENs are fictitious: `99900000 + n` and a Luhn key.
    fn banatic(rows: &[(&str, &str, u32, &str)]) -> Vec<u8> {
        let mut text = String::from(
            "dept;siren;raison_sociale;nature_juridique;mode_financ;nb_membres;total_pop_tot;\
             total_pop_mun;dep_com;insee;siren_membre;nom_membre;ptot_2025;pmun_2025\r\n",
        );
        for (epci, insee, n, name) in rows {
            let members = rows.iter().filter(|r| r.0 == *epci).count();
            let siren = luhn_complete(&(99_900_000 + n).to_string());
            text.push_str(&format!(
                "35;{epci};CC {epci};CC;FPU;{members};{p};{p};35;{insee};{siren};{name};100;100\r\n",
                p = members * 100
            ));
        }
        text.into_bytes()
    }

    #[test]
    fn several_communes_nouvelles_in_one_epci() {
        let (x, y, z) = (ROCHE_AUX_FEES, CHATEAUGIRON, "200070662");
        let old = parse(&banatic(&[
            (x, "35001", 1, "Alpha"),
            (x, "35002", 2, "Beta"),
            (x, "35003", 3, "Gamma-sur-Mer"),
            (x, "35004", 4, "Delta"),
            (x, "35007", 7, "Epsilon"),
            (y, "35010", 10, "Zeta"),
            (y, "35011", 11, "Eta"),
        ]));
        let new = parse(&banatic(&[
            // Alpha's code, a new SIREN: a commune nouvelle.
            (x, "35001", 21, "Alpha-Beta"),
            // A new code: a commune nouvelle.
            (x, "35006", 26, "Gamma-Delta"),
            // Eta disappeared from y, where no commune nouvelle appeared: removed. Theta is
            // new in z, where nothing disappeared: added.
            (y, "35010", 10, "Zeta"),
            (z, "35012", 12, "Theta"),
        ]));
        let diff = old.diff(&new);
        let merged: Vec<(&str, Vec<&str>)> = diff
            .merged
            .iter()
            .map(|m| (m.into.insee.as_str(), insees(&m.from)))
            .collect();
        // Beta shares a word with Alpha-Beta, Gamma-sur-Mer and Delta with Gamma-Delta;
        // Epsilon shares none and goes to the lowest code.
        assert_eq!(
            merged,
            [
                ("35001", vec!["35001", "35002", "35007"]),
                ("35006", vec!["35003", "35004"]),
            ]
        );
        assert_eq!(insees(&diff.removed), ["35011"]);
        assert_eq!(insees(&diff.added), ["35012"]);
        assert!(diff.renamed.is_empty() && diff.moved.is_empty());
    }

    // ----- formats and refusals -----

    #[test]
    fn utf8_gzip_and_windows_1252_parse_the_same() {
        let reference = parse(EXTRAIT);
        assert_eq!(reference.communes().len(), 21);
        assert_eq!(reference.epcis().len(), 2);
        let utf8 = parse(extract_text().as_bytes());
        let with_bom = parse(&[b"\xEF\xBB\xBF".as_slice(), extract_text().as_bytes()].concat());
        let gzipped = gzip(EXTRAIT);
        let gz = parse(&gzipped);
        for other in [&utf8, &with_bom, &gz] {
            assert_eq!(other.communes(), reference.communes());
            assert_eq!(other.epcis(), reference.epcis());
            assert_eq!(other.population_year, 2025);
        }
        assert_eq!(reference.commune_by_insee("35136").unwrap().name, "Janzé");
        assert_eq!(gz.sha256, hex::encode(Sha256::digest(&gzipped)));
        assert_ne!(gz.sha256, reference.sha256);
    }

    #[test]
    fn columns_are_found_by_name() {
        let reference = parse(EXTRAIT);
        // Reversed column order, one extra column, LF line ends, a trailing empty line.
        let reordered: String = extract_text()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut fields: Vec<&str> = l.split(';').collect();
                fields.reverse();
                fields.push(if i == 0 { "commentaire" } else { "rien" });
                fields.join(";") + "\n"
            })
            .chain([";;;;;;;;;;;;;;\n".to_owned()])
            .collect();
        let other = parse(reordered.as_bytes());
        assert_eq!(other.communes(), reference.communes());
        assert_eq!(other.epcis(), reference.epcis());
    }

    #[test]
    fn missing_columns_are_named() {
        let renamed = |from: &str, to: &str| extract_with_line(1, |l| l.replace(from, to));
        assert_eq!(
            refusal(&renamed(";insee;", ";code;")),
            "colonne manquante : insee"
        );
        assert_eq!(
            refusal(&renamed(";nom_membre;", ";nom;")),
            "colonne manquante : nom_membre"
        );
        assert_eq!(
            refusal(&renamed(";ptot_2025;", ";ptot;")),
            "colonne manquante : ptot_AAAA"
        );
        assert_eq!(
            refusal(&renamed(";pmun_2025", ";pmun")),
            "colonne manquante : pmun_2025"
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        // Line 5 is Amanlis, line 16 Arbrissel, line 17 the first of Châteaugiron.
        let cases: [(usize, &str, &str, &str); 9] = [
            (
                5,
                "213500028",
                "123",
                "ligne 5 : SIREN invalide « 123 » (colonne siren_membre)",
            ),
            (
                5,
                "213500028",
                "213500029",
                "ligne 5 : SIREN invalide « 213500029 » (colonne siren_membre)",
            ),
            (
                5,
                "35;243500634",
                "35;243500635",
                "ligne 5 : SIREN invalide « 243500635 » (colonne siren)",
            ),
            (
                16,
                ";35005;",
                ";35136;",
                "ligne 16 : code INSEE en double « 35136 » (déjà ligne 2)",
            ),
            (
                16,
                ";35005;",
                ";3500;",
                "ligne 16 : code INSEE invalide « 3500 »",
            ),
            (
                16,
                ";35;35005;",
                ";44;35005;",
                "ligne 16 : le département « 44 » ne correspond pas au code INSEE 35005",
            ),
            (
                2,
                "8 807",
                "8 8O7",
                "ligne 2 : nombre invalide « 8 8O7 » (colonne ptot_2025)",
            ),
            (
                17,
                ";CC;FPU;",
                ";SIVU;FPU;",
                "ligne 17 : nature juridique inconnue « SIVU » (attendu CC, CA, CU, METRO ou MET69)",
            ),
            (
                3,
                "Roche aux Fées",
                "Roche-aux-Fées",
                "ligne 3 : l'EPCI 243500634 n'a pas la même valeur dans la colonne raison_sociale qu'à la ligne 2",
            ),
        ];
        for (line, from, to, message) in cases {
            let bytes = extract_with_line(line, |l| {
                assert!(l.contains(from), "{l}");
                l.replacen(from, to, 1)
            });
            assert_eq!(refusal(&bytes), message);
        }
        // A duplicated commune SIREN under another INSEE code.
        let bytes = extract_with_line(16, |l| l.replace("213500051", "213501364"));
        assert_eq!(
            refusal(&bytes),
            "ligne 16 : SIREN de commune en double « 213501364 » (déjà ligne 2)"
        );
        // A missing line: the EPCI announces more communes than the file holds.
        let bytes = extract_with_line(16, |_| String::new());
        assert_eq!(
            refusal(&bytes),
            "ligne 2 : l'EPCI 243500634 annonce 16 communes (nb_membres) mais le fichier en compte 15"
        );
        // Line numbers are file lines with LF line ends too.
        let lf = extract_text()
            .replace("213500028", "123")
            .replace("\r\n", "\n");
        assert_eq!(
            refusal(lf.as_bytes()),
            "ligne 5 : SIREN invalide « 123 » (colonne siren_membre)"
        );
        // A short line.
        let bytes = extract_with_line(4, |l| l.rsplit_once(';').unwrap().0.to_owned() + "\r\n");
        assert_eq!(
            refusal(&bytes),
            "ligne 4 : la colonne pmun_2025 est absente de cette ligne"
        );
    }

    #[test]
    fn what_is_not_a_banatic_file_is_refused() {
        assert_eq!(refusal(b""), "fichier vide");
        assert_eq!(refusal(b" \r\n\r\n"), "fichier vide");
        assert_eq!(refusal(&gzip(b"")), "fichier vide");
        let header_only = extract_with_line(2, |_| String::new());
        let header_only: Vec<u8> = header_only
            .split_inclusive(|&b| b == b'\n')
            .take(1)
            .flatten()
            .copied()
            .collect();
        assert_eq!(
            refusal(&header_only),
            "le fichier ne contient aucune commune"
        );
        assert_eq!(
            refusal(b"nom;prenom\r\nDupont;Jean\r\n"),
            "ce n'est pas un fichier BANATIC de périmètre des EPCI"
        );
        // Pseudo-random bytes (a fixed linear congruential sequence).
        let mut state: u32 = 12345;
        let random: Vec<u8> = (0..10_000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        assert_eq!(
            refusal(&random),
            "ce n'est pas un fichier BANATIC de périmètre des EPCI"
        );
        let mut truncated = gzip(EXTRAIT);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(refusal(&truncated), "archive gzip illisible ou tronquée");
    }

    #[test]
    fn large_files_and_gzip_bombs_are_refused() {
        let too_large = "fichier trop volumineux : plus de 50 Mo une fois décompressé";
        assert_eq!(refusal(&vec![b' '; MAX_FILE_SIZE + 1]), too_large);
        // 100 MB of zeros compress to about 100 kB.
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..100 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1024 * 1024);
        assert_eq!(refusal(&bomb), too_large);
    }
}
