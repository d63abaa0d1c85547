//! The ACTES settings of the organisation (its administrators change them; everyone who may
//! read the actes sees them) and the classification in use, as a readable tree.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_format_actes::Classification;
use bouquet_kernel::policy::Action;
use bouquet_parapheur::circuits;
use bouquet_store::audit::AuditActor;
use bouquet_webkit::forms::{Fields, FormPairs};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebResult, flash, render, views};

use super::{READ, chrome, date_fr, settings_of, today};
use crate::settings::{self, SettingsRow, check_input, normalize_departement};

/// A first-level matière and every matière under it.
pub struct TreeGroup {
    pub label: String,
    /// (code, label, depth from 2).
    pub rows: Vec<(String, String, usize)>,
}

/// A nature and its typologies de pièce.
pub struct NatureTypologies {
    pub label: String,
    pub typologies: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "actes_parametres.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub can_manage: bool,
    pub action: String,
    pub circuits: Vec<(String, String, bool)>,
    pub circuit_label: String,
    pub convention: String,
    pub configured: bool,
    pub classification_date: Option<String>,
    pub received: Option<String>,
    pub tree: Vec<TreeGroup>,
    pub natures: Vec<NatureTypologies>,
    pub missing: Vec<String>,
    pub back: String,
}

/// The tree of matières, one group per first level.
pub fn tree(c: &Classification) -> Vec<TreeGroup> {
    let mut groups: Vec<TreeGroup> = Vec::new();
    for (path, label) in c.flat() {
        if path.len() == 1 {
            groups.push(TreeGroup {
                label,
                rows: Vec::new(),
            });
        } else if let Some(g) = groups.last_mut() {
            let code = crate::actes::dotted(&path);
            let text = label
                .strip_prefix(&format!("{code} "))
                .unwrap_or(&label)
                .to_owned();
            g.rows.push((code, text, path.len()));
        }
    }
    groups
}

fn fields_of(s: Option<&SettingsRow>, ctx: &OrgCtx) -> Fields {
    match s {
        Some(s) => Fields::new()
            .with("prefecture", &s.prefecture)
            .with("departement", &s.departement)
            .with("arrondissement", &s.arrondissement)
            .with("nature_collectivite", &s.nature_collectivite)
            .with(
                "convention_date",
                s.convention_date.as_deref().unwrap_or_default(),
            )
            .with("circuit", s.circuit_id.as_deref().unwrap_or_default()),
        None => Fields::new().with(
            "departement",
            &ctx.org
                .departement
                .as_deref()
                .map(normalize_departement)
                .unwrap_or_default(),
        ),
    }
}

async fn page_for(page: &PageCtx, ctx: &OrgCtx, f: Fields) -> WebResult<SettingsPage> {
    let p = &page.state.platform;
    let s = settings_of(p, ctx).await?;
    let circuit_rows = {
        let mut conn = p.db.read().await?;
        circuits::list(&mut conn, ctx.org_id).await?
    };
    let selected = f.value("circuit").to_owned();
    let circuit_label = circuit_rows.iter().find(|c| c.id == selected).map_or_else(
        || "Aucun : les actes sont transmis sans passer par le parapheur".to_owned(),
        |c| c.name.clone(),
    );
    let classification = s.as_ref().and_then(SettingsRow::classification);
    let natures = classification
        .as_ref()
        .map(|c| {
            c.natures
                .iter()
                .map(|n| NatureTypologies {
                    label: format!("{} ({})", n.libelle, n.type_abrege),
                    typologies: n
                        .typologies
                        .iter()
                        .map(|t| (t.code.clone(), t.libelle.clone()))
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SettingsPage {
        chrome: chrome(page, ctx, "Paramètres des actes", f.has_errors(), &[]),
        can_manage: ctx.can(Action::ManageSettings),
        action: ctx.href("/actes/parametres"),
        circuits: circuit_rows
            .into_iter()
            .filter(|c| c.active || c.id == selected)
            .map(|c| {
                let is = c.id == selected;
                (c.id, c.name, is)
            })
            .collect(),
        circuit_label,
        convention: match f.value("convention_date") {
            "" => "Non renseignée".to_owned(),
            d => date_fr(d),
        },
        configured: s.as_ref().is_some_and(|s| !s.prefecture.is_empty()),
        classification_date: s
            .as_ref()
            .and_then(|s| s.classification_date.as_deref().map(date_fr)),
        received: s
            .as_ref()
            .and_then(|s| s.classification_received_at)
            .map(|at| views::at(at, &ctx.tz)),
        tree: classification.as_ref().map(tree).unwrap_or_default(),
        natures,
        missing: settings::missing(s.as_ref(), ctx.siren()),
        back: ctx.href("/actes"),
        f,
    })
}

pub async fn show(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(READ)?;
    let s = settings_of(&page.state.platform, &ctx).await?;
    let f = fields_of(s.as_ref(), &ctx);
    render(&page_for(&page, &ctx, f).await?)
}

/// `POST /parametres`: `prefecture`, `departement`, `arrondissement`, `nature_collectivite`,
/// `convention_date`, `circuit` (organisation administrators).
pub async fn save(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(READ)?;
    ctx.require(Action::ManageSettings)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    for name in [
        "prefecture",
        "departement",
        "arrondissement",
        "nature_collectivite",
        "convention_date",
        "circuit",
    ] {
        f.set(name, pairs.get(name));
    }
    let mut input = match check_input(
        pairs.get("prefecture"),
        pairs.get("departement"),
        pairs.get("arrondissement"),
        pairs.get("nature_collectivite"),
        pairs.get("convention_date"),
        today(p, &ctx),
    ) {
        Ok(i) => Some(i),
        Err(errors) => {
            f.errors.extend(errors);
            None
        }
    };
    let circuit = pairs.get("circuit").trim().to_owned();
    if !circuit.is_empty() {
        let found = {
            let mut conn = p.db.read().await?;
            circuits::get(&mut conn, ctx.org_id, &circuit).await?
        };
        match found {
            Some(c) if c.active => {
                if let Some(i) = input.as_mut() {
                    i.circuit_id = Some(c.id);
                }
            }
            _ => f.error(
                "circuit",
                "Ce circuit n'existe pas (ou plus) dans votre parapheur : choisissez-en un de la liste.",
            ),
        }
    }
    let Some(input) = input.filter(|_| !f.has_errors()) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page_for(&page, &ctx, f).await?,
        );
    };
    let now = p.clock.now();
    let actor = AuditActor::user(ctx.identity.user_id, &ctx.identity.user.display_name);
    p.db.atomically(async |tx| settings::save(tx, now, ctx.org_id, &input, &actor).await)
        .await?;
    Ok(flash::set(
        see_other(&ctx.href("/actes/parametres")),
        "actes-parametres",
        page.secure(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_keeps_every_matiere_under_its_first_level() {
        let c = Classification::demo();
        let groups = tree(&c);
        let nodes: usize = groups.iter().map(|g| g.rows.len() + 1).sum();
        assert_eq!(nodes, c.flat().len());
        let finances = groups.iter().find(|g| g.label.starts_with("7 ")).unwrap();
        assert!(
            finances
                .rows
                .iter()
                .any(|(code, _, depth)| code == "7.1" && *depth == 2)
        );
    }
}
