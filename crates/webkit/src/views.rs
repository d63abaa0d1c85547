//! Formatting for pages: dates in the organisation's time zone, labels, links.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use bouquet_kernel::audit::action_label;
use bouquet_kernel::clock::{format_fr, from_micros};
use bouquet_kernel::{Role, RoleSet};
use bouquet_store::audit::EventRow;
use jiff::tz::TimeZone;
use serde_json::Value;

/// A journal event, for people.
pub struct EventView {
    pub at: String,
    pub who: String,
    pub action: String,
    pub object: String,
    pub details: Vec<(String, String)>,
    pub org: Option<String>,
}

pub fn event_view(e: &EventRow, tz: &TimeZone, org_name: Option<String>) -> EventView {
    EventView {
        at: at(e.at, tz),
        who: e.actor_label.clone(),
        action: action_label(&e.action).map_or_else(|| e.action.clone(), str::to_owned),
        object: format!("{} {}", e.object_type, e.object_id)
            .trim()
            .to_owned(),
        details: details(&e.details),
        org: org_name,
    }
}

/// "23/11/2026 à 14:05" in `tz`.
pub fn at(micros: i64, tz: &TimeZone) -> String {
    format_fr(from_micros(micros), tz)
}

pub fn at_opt(micros: Option<i64>, tz: &TimeZone) -> String {
    micros.map_or_else(|| "jamais".to_owned(), |m| at(m, tz))
}

/// "Agent, Administrateur de l'organisation"
pub fn roles(set: RoleSet) -> String {
    let labels: Vec<&str> = set.iter().map(Role::label).collect();
    if labels.is_empty() {
        "Aucun rôle".into()
    } else {
        labels.join(", ")
    }
}

/// A journal event's details as "clé : valeur" lines, with codes put into words (role codes
/// become their French names).
pub fn details(json: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) if k == "roles" => RoleSet::parse(&s).map_or(s, roles),
                    Value::String(s) => s,
                    Value::Null => "—".into(),
                    other => other.to_string(),
                };
                (k.replace('_', " "), v)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Where to go after signing in: only a path of this site. Browsers drop tabs and line
/// breaks from URLs and read `\` as `/`, so a path with any control character, space or
/// backslash is refused (it could turn into `//other.site`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The caller's address: the socket peer, or the first address of `X-Forwarded-For` when
/// Bouquet runs behind a proxy it trusts.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> String {
    if trust_proxy
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
    {
        return forwarded.trim().to_owned();
    }
    peer.map_or_else(|| "inconnue".to_owned(), |p| p.ip().to_string())
}

pub fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// A link to the next page: the current query with `curseur` replaced.
pub fn next_page(path: &str, query: &str, cursor: Option<&str>) -> Option<String> {
    let cursor = cursor?;
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "curseur")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.push(("curseur".into(), cursor.to_owned()));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    Some(format!("{path}?{q}"))
}

/// A French count: "1 organisation", "3 organisations", "aucune organisation".
pub fn count(n: i64, one: &str, many: &str, none: &str) -> String {
    match n {
        0 => none.to_owned(),
        1 => format!("1 {one}"),
        n => format!("{} {many}", thousands(n)),
    }
}

/// "12 345" (narrow no-break space, as French typography wants).
pub fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/o/213500051/")), "/o/213500051/");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/a\\b",
            "/ /evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn numbers_and_counts_in_french() {
        assert_eq!(thousands(35000), "35\u{202f}000");
        assert_eq!(thousands(276), "276");
        assert_eq!(count(0, "tâche", "tâches", "aucune tâche"), "aucune tâche");
        assert_eq!(count(2, "tâche", "tâches", "aucune tâche"), "2 tâches");
    }

    #[test]
    fn next_page_keeps_filters() {
        let href = next_page("/admin/taches", "statut=dead&curseur=old", Some("new")).unwrap();
        assert_eq!(href, "/admin/taches?statut=dead&curseur=new");
        assert!(next_page("/x", "", None).is_none());
    }

    #[test]
    fn details_are_readable() {
        let d = details(r#"{"courriel":"a@b.fr","roles":"agent,member_admin","fin":null}"#);
        assert!(d.contains(&("courriel".into(), "a@b.fr".into())));
        assert!(d.contains(&(
            "roles".into(),
            "Administrateur de l'organisation, Agent".into()
        )));
        assert!(d.contains(&("fin".into(), "—".into())));
        assert!(details("pas du json").is_empty());
    }
}
