//! The simulator's web page: what it received, and the préfecture's actions.
//!
//! The forms carry no CSRF token. This is acceptable only because the simulator is a local
//! test tool, bound to 127.0.0.1 by default, holding no real data; changes still go through
//! POST so that following a link never changes anything. Do not expose it on a network.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;

use crate::process::{self, LetterKind, TEXT_MAX};
use crate::state::{ActeState, Inner, Received, SimState, paris};

pub(crate) fn routes(state: SimState) -> Router {
    Router::new()
        .route("/", get(show))
        .route("/indisponibilite", post(availability))
        .route("/classification", post(classification))
        .route("/hors-norme", post(out_of_norm))
        .route("/courrier", post(letter))
        .with_state(state)
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn at(t: Timestamp) -> String {
    t.to_zoned_datetime(paris())
        .strftime("%d/%m/%Y à %H:%M")
        .to_string()
}

fn date(d: jiff::civil::Date) -> String {
    d.strftime("%d/%m/%Y").to_string()
}

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1e1e1e;background:#f6f6f6}
.skip{position:absolute;left:-10000px;top:0;background:#000091;color:#fff;padding:.5rem 1rem}
.skip:focus{left:0}
header,main,footer{max-width:72rem;margin:0 auto;padding:1rem 1.5rem}
header{border-bottom:4px solid #000091;background:#fff}
h1{margin:.25rem 0;font-size:1.75rem}
h2{margin:2rem 0 .75rem;font-size:1.35rem;border-bottom:1px solid #ccc}
h3{margin:1.5rem 0 .5rem;font-size:1.1rem}
.tag{margin:0;font-size:.85rem;text-transform:uppercase;letter-spacing:.05em;color:#555}
a{color:#000091}
:focus-visible{outline:3px solid #0a76f6;outline-offset:2px}
.note{padding:.75rem 1rem;border-left:4px solid #18753c;background:#e8f5ec;margin:1rem 0}
.error{padding:.75rem 1rem;border-left:4px solid #ce0500;background:#fdecea;margin:1rem 0}
.card{background:#fff;border:1px solid #ddd;padding:1rem;margin:.75rem 0}
.actions{display:flex;flex-wrap:wrap;gap:1rem}
.actions form{flex:1 1 18rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.95rem}
.table-wrap{overflow-x:auto;max-width:100%}
.table-wrap table{min-width:44rem}
li,summary,h3,p{overflow-wrap:anywhere}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #ccc;padding:.4rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}
ul.exchanges{margin:0;padding-left:1.1rem}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=text],textarea{width:100%;padding:.4rem;border:1px solid #666;font:inherit}
textarea{min-height:4.5rem}
button{margin-top:.5rem;padding:.45rem 1rem;font:inherit;border:1px solid #000091;background:#000091;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#000091}
fieldset{border:1px solid #ccc;margin:.5rem 0;padding:.5rem 1rem 1rem;background:#fafafa}
legend{font-weight:600}
details{margin:.5rem 0 1rem;background:#fff;border:1px solid #ddd;padding:.5rem 1rem}
summary{cursor:pointer;font-weight:600}
.state-acquitte{color:#18753c;font-weight:600}
.state-anomalie{color:#ce0500;font-weight:600}
.state-annule{color:#555;font-weight:600}
.hint{font-size:.9rem;color:#555;margin:.25rem 0}
"#;

/// The message shown after an action (from a fixed list: nothing is echoed from the URL).
fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        "indisponible" => {
            "La préfecture est maintenant indisponible : les dépôts reçoivent une erreur 503."
        }
        "disponible" => "La préfecture est de nouveau disponible.",
        "classification" => {
            "Nouvelle classification publiée : les prochains accusés de réception portent sa date."
        }
        "hors-norme" => {
            "Message hors norme (AnomalieEnveloppe, Nature 999) déposé dans la boîte aux lettres."
        }
        "courrier" => "Courrier déposé dans la boîte aux lettres : Bouquet le relèvera.",
        _ => return None,
    })
}

fn render(inner: &Inner, message: Option<&str>, error: Option<&str>) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r##"<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulateur de préfecture (@CTES)</title>
<style>{CSS}</style>
</head>
<body>
<a class="skip" href="#contenu">Aller au contenu</a>
<header>
<p class="tag">Outil d'essai local — aucune valeur juridique</p>
<h1>Simulateur de préfecture (@CTES)</h1>
<p>Ce simulateur joue le rôle de la plate-forme du contrôle de légalité : il reçoit les actes transmis par Bouquet, répond par un accusé de réception ou une anomalie, et vous permet d'envoyer les courriers d'une préfecture.</p>
</header>
<main id="contenu" tabindex="-1">
"##
    );
    if let Some(m) = message {
        let _ = write!(h, r#"<p class="note" role="status">{}</p>"#, esc(m));
    }
    if let Some(e) = error {
        let _ = write!(h, r#"<p class="error" role="alert">{}</p>"#, esc(e));
    }
    settings(&mut h, inner);
    actes(&mut h, inner);
    mailbox(&mut h, inner);
    journal(&mut h, inner);
    h.push_str(
        r#"</main>
<footer><p class="hint">Les échanges suivent le protocole du connecteur préfecture de Bouquet : dépôt sur <code>/actes/depot</code>, retours sur <code>/actes/retours</code>.</p></footer>
</body>
</html>
"#,
    );
    h
}

fn settings(h: &mut String, inner: &Inner) {
    let (state, button, value) = if inner.unavailable {
        (
            "indisponible : les dépôts reçoivent une erreur 503",
            "Rendre la préfecture disponible",
            "off",
        )
    } else {
        ("disponible", "Rendre la préfecture indisponible", "on")
    };
    let _ = write!(
        h,
        r#"<section aria-labelledby="t-reglages">
<h2 id="t-reglages">Réglages</h2>
<div class="actions">
<form method="post" action="/indisponibilite" class="card">
<p>État de la plate-forme : <strong>{state}</strong>.</p>
<input type="hidden" name="etat" value="{value}">
<button type="submit" class="secondary">{button}</button>
</form>
<form method="post" action="/classification" class="card">
<p>Classification en vigueur : <strong>{classification}</strong>. Un acte transmis avec une autre date reçoit une anomalie.</p>
<button type="submit" class="secondary">Publier une nouvelle classification</button>
</form>
<form method="post" action="/hors-norme" class="card">
<p>Envoyer une anomalie d'enveloppe hors norme (Nature 999, absente du schéma), comme la vraie plate-forme.</p>
<label for="siren-hors-norme">SIREN de la collectivité</label>
<p class="hint" id="siren-hors-norme-aide">9 chiffres, par exemple 213500051.</p>
<input type="text" id="siren-hors-norme" name="siren" inputmode="numeric" pattern="[0-9]{{9}}" maxlength="9" required aria-describedby="siren-hors-norme-aide" autocomplete="off">
<button type="submit">Envoyer un message hors norme</button>
</form>
</div>
</section>
"#,
        classification = date(inner.classification_date),
    );
}

fn state_cell(r: &Received) -> String {
    let (class, text) = match &r.state {
        ActeState::Acquitte { date_reception } => (
            "state-acquitte",
            format!("Acquitté (reçu le {})", date(*date_reception)),
        ),
        ActeState::Anomalie { nature, detail } => {
            ("state-anomalie", format!("Anomalie {nature} : {detail}"))
        }
        ActeState::Annule { date_reception } => (
            "state-annule",
            format!("Annulé (annulation reçue le {})", date(*date_reception)),
        ),
    };
    let mut out = format!(r#"<span class="{class}">{}</span>"#, esc(&text));
    if r.awaiting_reply() {
        out.push_str("<br>Réponse de la collectivité attendue");
    }
    out
}

fn actes(h: &mut String, inner: &Inner) {
    h.push_str(
        r#"<section aria-labelledby="t-actes">
<h2 id="t-actes">Actes reçus</h2>
"#,
    );
    if inner.received.is_empty() {
        h.push_str("<p>Aucun acte reçu pour l'instant.</p>\n</section>\n");
        return;
    }
    let mut by_siren: BTreeMap<&str, Vec<(usize, &Received)>> = BTreeMap::new();
    for (i, r) in inner.received.iter().enumerate() {
        by_siren
            .entry(r.collectivite.siren.as_str())
            .or_default()
            .push((i, r));
    }
    for (siren, list) in by_siren {
        let c = &list[0].1.collectivite;
        let _ = write!(
            h,
            r#"<h3>Collectivité {siren} (département {}, arrondissement {})</h3>
<div class="table-wrap" role="region" aria-label="Actes reçus de la collectivité {siren}" tabindex="0">
<table>
<caption>Actes reçus de la collectivité {siren}, du plus ancien au plus récent</caption>
<thead><tr><th scope="col">Acte</th><th scope="col">Objet</th><th scope="col">Nature</th><th scope="col">Reçu le</th><th scope="col">État</th><th scope="col">Échanges</th></tr></thead>
<tbody>
"#,
            esc(&c.departement),
            c.arrondissement,
            siren = esc(siren),
        );
        for (_, r) in &list {
            let mut exchanges = String::from(r#"<ul class="exchanges">"#);
            for e in &r.exchanges {
                let who = if e.from_prefecture {
                    "préfecture"
                } else {
                    "collectivité"
                };
                let _ = write!(
                    exchanges,
                    "<li>{} · {} {} ({who}){}</li>",
                    at(e.at),
                    esc(&e.code),
                    esc(&e.label),
                    e.detail
                        .as_deref()
                        .map(|d| format!(" : {}", esc(d)))
                        .unwrap_or_default()
                );
            }
            exchanges.push_str("</ul>");
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{exchanges}</td></tr>",
                esc(&r.id_acte),
                esc(&r.acte.objet),
                esc(r.acte.nature.label()),
                at(r.received_at),
                state_cell(r),
            );
        }
        h.push_str("</tbody>\n</table>\n</div>\n");
        for (i, r) in list.iter().filter(|(_, r)| r.is_acquitted()) {
            letters(h, *i, r);
        }
    }
    h.push_str("</section>\n");
}

fn letters(h: &mut String, i: usize, r: &Received) {
    let id = esc(&r.id_acte);
    let _ = write!(
        h,
        r#"<details id="acte-{id}">
<summary>Écrire à la collectivité au sujet de l'acte {id}</summary>
<div class="actions">
"#
    );
    for (slug, kind, button) in [
        (
            "courrier-simple",
            LetterKind::CourrierSimple,
            "Envoyer le courrier simple",
        ),
        (
            "demande-pieces",
            LetterKind::DemandePieces,
            "Demander les pièces",
        ),
        (
            "lettre-observations",
            LetterKind::LettreObservations,
            "Envoyer la lettre d'observations",
        ),
        ("defere", LetterKind::Defere, "Déférer l'acte"),
    ] {
        let (t, s) = kind.code();
        let field = format!("{slug}-{i}");
        let _ = write!(
            h,
            r#"<form method="post" action="/courrier">
<fieldset>
<legend>{title} ({t}-{s})</legend>
<input type="hidden" name="id_acte" value="{id}">
<input type="hidden" name="type" value="{slug}">
<label for="{field}">{label}</label>
<textarea id="{field}" name="texte" required maxlength="{TEXT_MAX}"></textarea>
<button type="submit">{button}</button>
</fieldset>
</form>
"#,
            title = esc(kind.title()),
            label = esc(kind.field()),
        );
    }
    h.push_str("</div>\n</details>\n");
}

fn mailbox(h: &mut String, inner: &Inner) {
    h.push_str(
        r#"<section aria-labelledby="t-boite">
<h2 id="t-boite">Boîte aux lettres</h2>
<p class="hint">Les retours que Bouquet n'a pas encore relevés (il les supprime après les avoir enregistrés).</p>
"#,
    );
    if inner.mailbox.is_empty() {
        h.push_str("<p>La boîte aux lettres est vide.</p>\n</section>\n");
        return;
    }
    h.push_str(
        r#"<div class="table-wrap" role="region" aria-label="Retours en attente" tabindex="0">
<table>
<caption>Retours en attente, du plus ancien au plus récent</caption>
<thead><tr><th scope="col">Archive</th><th scope="col">Message</th><th scope="col">SIREN</th><th scope="col">Déposé le</th><th scope="col">Taille (octets)</th></tr></thead>
<tbody>
"#,
    );
    for m in &inner.mailbox {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.nom),
            esc(&m.message),
            esc(&m.siren),
            at(m.created_at),
            m.taille
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn journal(h: &mut String, inner: &Inner) {
    h.push_str(
        r#"<section aria-labelledby="t-journal">
<h2 id="t-journal">Journal</h2>
"#,
    );
    if inner.journal.is_empty() {
        h.push_str("<p>Rien pour l'instant.</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<p class=\"hint\">Les 100 derniers événements, du plus récent au plus ancien.</p>\n<ul>\n",
    );
    for j in inner.journal.iter().rev().take(100) {
        let who = if j.siren.is_empty() {
            String::new()
        } else {
            format!(" — {}", esc(&j.siren))
        };
        let _ = writeln!(h, "<li>{}{who} : {}</li>", at(j.at), esc(&j.text));
    }
    h.push_str("</ul>\n</section>\n");
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn show(State(state): State<SimState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let inner = state.lock().await;
    let message = q.get("fait").and_then(|c| flash(c));
    html(StatusCode::OK, render(&inner, message, None))
}

/// The page again with the error (status 400): nothing was changed.
async fn refused(state: &SimState, error: &str) -> Response {
    let inner = state.lock().await;
    html(StatusCode::BAD_REQUEST, render(&inner, None, Some(error)))
}

async fn done(state: &SimState, result: Result<&'static str, crate::Error>) -> Response {
    match result {
        Ok(code) => Redirect::to(&format!("/?fait={code}")).into_response(),
        Err(e) => refused(state, &e.to_string()).await,
    }
}

async fn availability(
    State(state): State<SimState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let on = form.get("etat").map(String::as_str) == Some("on");
    let result = process::set_unavailable(&state, on)
        .await
        .map(|()| if on { "indisponible" } else { "disponible" });
    done(&state, result).await
}

async fn classification(State(state): State<SimState>) -> Response {
    let result = process::bump_classification(&state)
        .await
        .map(|_| "classification");
    done(&state, result).await
}

async fn out_of_norm(
    State(state): State<SimState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let siren = form.get("siren").map(String::as_str).unwrap_or_default();
    let result = process::send_out_of_norm(&state, siren)
        .await
        .map(|_| "hors-norme");
    done(&state, result).await
}

async fn letter(
    State(state): State<SimState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let kind = match form.get("type").map(String::as_str) {
        Some("courrier-simple") => LetterKind::CourrierSimple,
        Some("demande-pieces") => LetterKind::DemandePieces,
        Some("lettre-observations") => LetterKind::LettreObservations,
        Some("defere") => LetterKind::Defere,
        _ => return refused(&state, "Type de courrier inconnu.").await,
    };
    let id_acte = form.get("id_acte").map(String::as_str).unwrap_or_default();
    let texte = form.get("texte").map(String::as_str).unwrap_or_default();
    let result = process::send_letter(&state, id_acte, kind, texte)
        .await
        .map(|_| "courrier");
    done(&state, result).await
}
