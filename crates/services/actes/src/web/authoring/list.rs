//! The organisation's actes: filters (numéro, words of the objet, nature, matière, decision
//! dates, status), keyset pages by latest change, and the CSV export of the filtered list.

use askama::Template;
use axum::response::Response;
use bouquet_format_actes::{Classification, Nature};
use bouquet_store::audit::{self, NewEvent};
use bouquet_store::page::Cursor;
use bouquet_webkit::export::{Cell, Table};
use bouquet_webkit::forms::{Fields, Params};
use bouquet_webkit::layout::{Chrome, render_status};
use bouquet_webkit::{OrgCtx, PageCtx, WebResult, render, views};
use serde::Deserialize;
use serde_json::json;

use super::form::{MatiereGroup, matiere_groups, nature_choices};
use super::{READ, USE, chrome, date_fr, settings_of, status_choices};
use crate::actes::{self, ActeRow, ListFilter};
use crate::model::Status;
use crate::settings::SettingsRow;

/// Lines per page.
pub const PAGE: i64 = 50;
/// Most lines in one export.
pub const EXPORT_MAX: i64 = 100_000;

/// The list's query string, kept in pagination and export links.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Words of the objet (or the numéro).
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub numero: String,
    #[serde(default)]
    pub nature: String,
    #[serde(default)]
    pub matiere: String,
    /// Decision date from, to (`YYYY-MM-DD`).
    #[serde(default)]
    pub du: String,
    #[serde(default)]
    pub au: String,
    #[serde(default)]
    pub statut: String,
    pub curseur: Option<String>,
}

impl ListQuery {
    /// The query string of the filters (no cursor), for links.
    pub fn filters_query(&self) -> String {
        let pairs = [
            ("q", &self.q),
            ("numero", &self.numero),
            ("nature", &self.nature),
            ("matiere", &self.matiere),
            ("du", &self.du),
            ("au", &self.au),
            ("statut", &self.statut),
        ];
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.trim().is_empty()))
            .finish()
    }
}

/// Turns the query into a filter; what cannot be understood becomes a field error (and the
/// list is not shown).
pub fn filter_of(q: &ListQuery, f: &mut Fields) -> ListFilter {
    for (name, value) in [
        ("q", &q.q),
        ("numero", &q.numero),
        ("nature", &q.nature),
        ("matiere", &q.matiere),
        ("du", &q.du),
        ("au", &q.au),
        ("statut", &q.statut),
    ] {
        f.set(name, value);
    }
    let mut filter = ListFilter {
        text: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
        ..ListFilter::default()
    };
    let numero = q.numero.trim().to_uppercase();
    if !numero.is_empty() {
        if numero.chars().count() <= 15 {
            filter.numero = Some(numero);
        } else {
            f.error("numero", "Un numéro d'acte compte 15 caractères au plus.");
        }
    }
    if !q.nature.is_empty() {
        match Nature::from_abbrev(&q.nature) {
            Some(n) => filter.nature = Some(n),
            None => f.error("nature", "Cette nature d'acte n'existe pas."),
        }
    }
    let matiere = q.matiere.trim();
    if !matiere.is_empty() {
        match actes::parse_matiere(matiere) {
            Some(path) => filter.matiere = Some(actes::dotted(&path)),
            None => f.error(
                "matiere",
                "Code de matière incorrect : des nombres séparés par des points, par exemple 7.1.",
            ),
        }
    }
    for (name, value, slot) in [
        ("du", &q.du, &mut filter.from),
        ("au", &q.au, &mut filter.to),
    ] {
        let v = value.trim();
        if !v.is_empty() {
            match v.parse::<jiff::civil::Date>() {
                Ok(d) => *slot = Some(d.to_string()),
                Err(_) => f.error(
                    name,
                    "Date incorrecte : utilisez le calendrier (AAAA-MM-JJ).",
                ),
            }
        }
    }
    if let (Some(from), Some(to)) = (&filter.from, &filter.to)
        && from > to
    {
        f.error("au", "La date de fin doit suivre la date de début.");
    }
    if !q.statut.is_empty() {
        match Status::parse(&q.statut) {
            Some(s) => filter.status = Some(s),
            None => f.error("statut", "Ce statut n'existe pas."),
        }
    }
    filter
}

/// One line of the list.
pub struct Line {
    pub id: String,
    /// May be chosen for a transmission (brouillon, prêt, en erreur; the exchange checks
    /// each one before queuing any).
    pub selectable: bool,
    pub href: String,
    pub numero: String,
    pub objet: String,
    pub nature: String,
    pub matiere: String,
    pub decision: String,
    pub status: &'static str,
    pub updated: String,
}

fn line(ctx: &OrgCtx, a: &ActeRow, c: Option<&Classification>) -> Line {
    Line {
        id: a.id.clone(),
        selectable: matches!(
            a.status(),
            Status::Brouillon | Status::Pret | Status::Erreur
        ),
        href: ctx.href(&format!("/actes/{}", a.id)),
        numero: a.numero_or_placeholder().to_owned(),
        objet: if a.objet.is_empty() {
            "(objet à compléter)".to_owned()
        } else {
            a.objet.clone()
        },
        nature: a.nature_label().to_owned(),
        matiere: actes::matiere_label(c, &a.matiere),
        decision: a.decision_date.as_deref().map(date_fr).unwrap_or_default(),
        status: a.status().label(),
        updated: views::at(a.updated_at, &ctx.tz),
    }
}

#[derive(Template)]
#[template(path = "actes_list.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub base: String,
    pub lines: Vec<Line>,
    pub filtered: bool,
    pub natures: Vec<(&'static str, &'static str, bool)>,
    pub matieres: Vec<MatiereGroup>,
    pub statuses: Vec<(&'static str, &'static str, bool)>,
    pub next: Option<String>,
    pub export_href: String,
    pub can_write: bool,
    /// Some line may be chosen for a transmission (and the person may transmit).
    pub selectable: bool,
}

pub async fn list(page: PageCtx, ctx: OrgCtx, Params(q): Params<ListQuery>) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    let filter = filter_of(&q, &mut f);
    let settings = settings_of(p, &ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let cursor = match q.curseur.as_deref() {
        Some(c) => match Cursor::decode(c) {
            Ok(c) => Some(c),
            Err(e) => {
                f.absorb(e)?;
                None
            }
        },
        None => None,
    };
    let (lines, next) = if f.has_errors() {
        (Vec::new(), None)
    } else {
        let mut conn = p.db.read().await?;
        let rows = actes::list(&mut conn, ctx.org_id, &filter, cursor.as_ref(), PAGE).await?;
        let next = views::next_page(&ctx.href("/actes"), &page.query, rows.next.as_deref());
        (
            rows.items
                .iter()
                .map(|a| line(&ctx, a, classification.as_ref()))
                .collect(),
            next,
        )
    };
    let filters = q.filters_query();
    let view = ListPage {
        chrome: chrome(&page, &ctx, "Actes", f.has_errors(), &[]),
        base: ctx.href("/actes"),
        lines,
        filtered: !filter.is_empty(),
        natures: nature_choices(&q.nature),
        matieres: matiere_groups(classification.as_ref(), q.matiere.trim()),
        statuses: status_choices(&q.statut),
        next,
        export_href: if filters.is_empty() {
            ctx.href("/actes/export.csv")
        } else {
            ctx.href(&format!("/actes/export.csv?{filters}"))
        },
        can_write: ctx.can(USE),
        f,
        selectable: false,
    };
    let view = ListPage {
        selectable: view.can_write && view.lines.iter().any(|l| l.selectable),
        ..view
    };
    if view.f.has_errors() {
        render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &view)
    } else {
        render(&view)
    }
}

/// The filtered list as CSV (UTF-8 with BOM, `;`), at most [`EXPORT_MAX`] lines.
pub async fn export(
    page: PageCtx,
    ctx: OrgCtx,
    Params(q): Params<ListQuery>,
) -> WebResult<Response> {
    ctx.require(READ)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    let filter = filter_of(&q, &mut f);
    if f.has_errors() {
        return Err(bouquet_webkit::WebError(bouquet_kernel::AppError::Invalid(
            f.errors,
        )));
    }
    let settings = settings_of(p, &ctx).await?;
    let classification = settings.as_ref().and_then(SettingsRow::classification);
    let rows = {
        let mut conn = p.db.read().await?;
        actes::all(&mut conn, ctx.org_id, &filter, EXPORT_MAX).await?
    };
    let mut table = Table::new(
        &format!("actes-{}", ctx.siren()),
        &[
            "Numéro",
            "Nature",
            "Objet",
            "Matière",
            "Date de décision",
            "Statut",
            "Identifiant de l'acte (IDActe)",
            "Acte remplacé",
            "Date de réception en préfecture",
            "Créé le",
            "Modifié le",
        ],
    );
    for a in &rows {
        table.push(vec![
            Cell::from(a.numero.as_str()),
            Cell::from(a.nature_label()),
            Cell::from(a.objet.as_str()),
            Cell::from(actes::matiere_label(classification.as_ref(), &a.matiere)),
            Cell::from(a.decision_date.as_deref().map(date_fr)),
            Cell::from(a.status().label()),
            Cell::from(a.id_acte.clone()),
            Cell::from(a.precedent_id.clone()),
            Cell::from(a.received_date.as_deref().map(date_fr)),
            Cell::from(views::at(a.created_at, &ctx.tz)),
            Cell::from(views::at(a.updated_at, &ctx.tz)),
        ]);
    }
    let now = p.clock.now();
    let who = super::author(&ctx);
    let count = rows.len();
    let filters = q.filters_query();
    p.db.atomically(async |tx| {
        audit::append(
            tx,
            now,
            NewEvent::new(
                Some(ctx.org_id),
                &bouquet_store::audit::AuditActor::user(who.id, who.name),
                "actes.exported",
                "actes",
                ctx.org_id,
            )
            .details(json!({ "lignes": count, "filtres": filters })),
        )
        .await
    })
    .await?;
    table.csv_response()
}
