//! Text normalisation for full-text search.
//!
//! Search must behave the same on SQLite (FTS5) and PostgreSQL (tsvector): accent- and
//! case-insensitive prefix match, no stemming. Both engines are given text that is already
//! reduced to lower-case ASCII words separated by single spaces, so their tokenisers have
//! nothing left to decide.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// "Janzé — Conseil Municipal n°12" → "janze conseil municipal n 12"
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        let mapped: &str = match c {
            'œ' | 'Œ' => "oe",
            'æ' | 'Æ' => "ae",
            'ß' => "ss",
            _ => "",
        };
        if !mapped.is_empty() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push_str(mapped);
            continue;
        }
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// The words of a search query, normalised, at most `max` of them (longer queries are
/// truncated rather than refused).
pub fn query_terms(query: &str, max: usize) -> Vec<String> {
    normalize(query)
        .split(' ')
        .filter(|t| !t.is_empty())
        .take(max)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let table = [
            ("Janzé", "janze"),
            ("ÉCOLE Élémentaire", "ecole elementaire"),
            ("Cœur de ville", "coeur de ville"),
            ("n°12/2026", "n 12 2026"),
            ("  l'Hôtel-de-Ville  ", "l hotel de ville"),
            ("agent@commune.demo", "agent commune demo"),
            ("Straße", "strasse"),
            ("", ""),
            ("'; DROP TABLE users; --", "drop table users"),
            ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ];
        for (input, want) in table {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn query_terms_are_limited() {
        assert_eq!(
            query_terms("Conseil  municipal", 5),
            vec!["conseil", "municipal"]
        );
        assert_eq!(query_terms("a b c d", 2), vec!["a", "b"]);
        assert!(query_terms("*** ---", 5).is_empty());
    }
}
