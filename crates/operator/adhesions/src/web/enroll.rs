//! Adding a member. A commune or an EPCI is picked in the official registry, never typed:
//! its identifiers, EPCI and population come from there. Other public bodies (CCAS, CIAS,
//! syndicats, départements, régions), which the registry does not list, are entered with
//! their SIREN (checked) and, for a CCAS, the commune it serves (picked by INSEE code).

use std::collections::HashMap;

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_kernel::policy::PlatformAction;
use bouquet_kernel::{AppError, Insee, OrgKind, Siren};
use bouquet_store::orgs::{self, NewOrg};
use bouquet_webkit::forms::{Fields, FormPairs, Params};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{CurrentUser, PageCtx, WebError, WebResult, flash, render, views};
use jiff::civil::Date;
use serde::Deserialize;

use super::{members_chrome, operator_date, status_choices};
use crate::current::{self, RegistryRef};
use crate::documents::{MAIRIE_CONNECTEE_MAX_POPULATION, Template as DocTemplate};
use crate::members::{self, Status, StatusChange, default_college};
use crate::registry::Entry;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub struct Candidate {
    pub name: String,
    pub siren: String,
    pub kind: &'static str,
    pub departement: String,
    pub population: String,
    pub epci: String,
    /// "Déjà membre (Membre)", "Sur la plateforme, pas membre", or empty.
    pub state: String,
    pub already_member: bool,
}

#[derive(Template)]
#[template(path = "member_search.html")]
struct SearchPage {
    chrome: Chrome,
    query: String,
    results: Vec<Candidate>,
    searched: bool,
    registry_label: String,
}

/// "BANATIC, populations 2025 (fichier intégré)"
pub fn registry_label(r: &RegistryRef) -> String {
    format!(
        "référentiel BANATIC, populations en vigueur {}{}",
        r.population_year,
        if r.is_embedded() {
            " (fichier fourni avec Bouquet)"
        } else {
            " (fichier importé)"
        }
    )
}

/// `/admin/membres/nouveau?q=…`: search the registry.
pub async fn search(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Params(q): Params<SearchQuery>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let registry = current::current(p).await?;
    let query = q.q.trim();
    let entries = if query.is_empty() {
        Vec::new()
    } else {
        registry.search(query, 20)
    };
    let sirens: Vec<&str> = entries.iter().map(|e| e.siren()).collect();
    let mut conn = p.db.read().await?;
    let states: HashMap<String, Option<String>> = members::states_by_siren(&mut conn, &sirens)
        .await?
        .into_iter()
        .collect();
    let results = entries
        .iter()
        .map(|e| {
            let (departement, epci) = match e {
                Entry::Commune(c) => (
                    c.departement.clone(),
                    registry
                        .epci_by_siren(&c.epci_siren)
                        .map(|x| x.name.clone())
                        .unwrap_or_default(),
                ),
                Entry::Epci(x) => (x.departement.clone(), String::new()),
            };
            let state = states.get(e.siren());
            let status = state.and_then(|s| s.as_deref()).and_then(Status::from_code);
            Candidate {
                name: e.name().to_owned(),
                siren: e.siren().to_owned(),
                kind: e.kind().label(),
                departement,
                population: views::thousands(e.population_totale()),
                epci,
                state: match (state, status) {
                    (Some(_), Some(s)) => format!("Déjà membre ({})", s.label().to_lowercase()),
                    (Some(_), None) => "Sur la plateforme, pas encore membre".into(),
                    (None, _) => String::new(),
                },
                already_member: status.is_some(),
            }
        })
        .collect();
    render(&SearchPage {
        chrome: page
            .admin_chrome("Ajouter un membre")
            .crumb("Membres", Some("/admin/membres".into())),
        query: query.to_owned(),
        results,
        searched: !query.is_empty(),
        registry_label: registry_label(&registry),
    })
}

/// What the registry says of the organisation being added.
pub struct Identity {
    pub name: String,
    pub siren: String,
    pub kind: OrgKind,
    pub kind_label: &'static str,
    pub insee: String,
    pub departement: String,
    pub population: String,
    pub population_municipale: String,
    pub population_year: i32,
    pub epci_name: String,
    pub epci_siren: String,
    /// Communes: eligibility to « Mairie connectée », in words.
    pub mairie_connectee: Option<(bool, String)>,
}

fn identity_of(registry: &RegistryRef, siren: &str) -> Option<Identity> {
    if let Some(c) = registry.commune_by_siren(siren) {
        let epci = registry.epci_by_siren(&c.epci_siren);
        let eligible = DocTemplate::CharteMairieConnectee
            .eligible(OrgKind::Commune, Some(c.population_totale))
            .is_ok();
        return Some(Identity {
            name: c.name.clone(),
            siren: c.siren.clone(),
            kind: OrgKind::Commune,
            kind_label: OrgKind::Commune.label(),
            insee: c.insee.clone(),
            departement: c.departement.clone(),
            population: views::thousands(c.population_totale),
            population_municipale: views::thousands(c.population_municipale),
            population_year: registry.population_year,
            epci_name: epci.map(|e| e.name.clone()).unwrap_or_default(),
            epci_siren: c.epci_siren.clone(),
            mairie_connectee: Some((
                eligible,
                mairie_connectee_text(eligible, c.population_totale),
            )),
        });
    }
    registry.epci_by_siren(siren).map(|e| Identity {
        name: e.name.clone(),
        siren: e.siren.clone(),
        kind: e.kind,
        kind_label: e.kind.label(),
        insee: String::new(),
        departement: e.departement.clone(),
        population: views::thousands(e.population_totale),
        population_municipale: views::thousands(e.population_municipale),
        population_year: registry.population_year,
        epci_name: String::new(),
        epci_siren: String::new(),
        mairie_connectee: None,
    })
}

/// The sentence that tells the operator whether a commune may join « Mairie connectée ».
pub fn mairie_connectee_text(eligible: bool, population: i64) -> String {
    if eligible {
        format!(
            "Éligible à l'offre « Mairie connectée » : {} habitants, moins de {}. Le fonds européen finance 80 % du coût pendant deux ans.",
            views::thousands(population),
            views::thousands(MAIRIE_CONNECTEE_MAX_POPULATION)
        )
    } else {
        format!(
            "Non éligible à l'offre « Mairie connectée » : {} habitants, la limite est de moins de {}.",
            views::thousands(population),
            views::thousands(MAIRIE_CONNECTEE_MAX_POPULATION)
        )
    }
}

#[derive(Template)]
#[template(path = "member_enroll.html")]
struct EnrollPage {
    chrome: Chrome,
    who: Identity,
    f: Fields,
    statuses: Vec<(&'static str, &'static str, bool)>,
    colleges: Vec<String>,
    /// The organisation is already a member: link to its page instead of the form.
    already: Option<String>,
    action: String,
}

fn enroll_chrome(page: &PageCtx, name: &str, has_errors: bool) -> Chrome {
    members_chrome(
        page,
        &format!("Ajouter {name}"),
        has_errors,
        &[("Ajouter un membre", "/admin/membres/nouveau".into())],
        name,
    )
}

fn default_fields(kind: OrgKind, today: Date) -> Fields {
    Fields::new()
        .with("status", Status::Membre.code())
        .with("effective_date", &today.to_string())
        .with("college", default_college(kind))
}

async fn already_member(page: &PageCtx, siren: &str) -> WebResult<Option<String>> {
    let mut conn = page.state.platform.db.read().await?;
    let states = members::states_by_siren(&mut conn, &[siren]).await?;
    Ok(states
        .into_iter()
        .find(|(_, status)| status.is_some())
        .map(|(siren, _)| format!("/admin/membres/{siren}")))
}

async fn enroll_page(page: &PageCtx, who: Identity, f: Fields) -> WebResult<EnrollPage> {
    let mut conn = page.state.platform.db.read().await?;
    let colleges = members::colleges(&mut conn).await?;
    drop(conn);
    Ok(EnrollPage {
        chrome: enroll_chrome(page, &who.name, f.has_errors()),
        statuses: status_choices(f.value("status"), false),
        already: already_member(page, &who.siren).await?,
        action: format!("/admin/membres/nouveau/{}", who.siren),
        colleges,
        who,
        f,
    })
}

/// `/admin/membres/nouveau/{siren}`: the registry's data and the membership form.
pub async fn form(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let registry = current::current(p).await?;
    let who = identity_of(&registry, &siren).ok_or(WebError(AppError::NotFound))?;
    let f = default_fields(who.kind, operator_date(p));
    render(&enroll_page(&page, who, f).await?)
}

/// Reads the membership fields shared by every way of adding a member.
pub fn read_change(pairs: &FormPairs, f: &mut Fields) -> Option<StatusChange> {
    for name in [
        "status",
        "effective_date",
        "college",
        "deliberation_ref",
        "reason",
    ] {
        f.set(name, pairs.get(name));
    }
    let status = Status::from_code(pairs.get("status")).filter(|s| *s != Status::Fusionne);
    if status.is_none() {
        f.error("status", "Choisissez un statut.");
    }
    let effective = pairs.get("effective_date").parse::<Date>().ok();
    if effective.is_none() {
        f.error(
            "effective_date",
            "Saisissez la date d'effet au format jj/mm/aaaa.",
        );
    }
    let text = |name: &str| Some(pairs.get(name).trim().to_owned()).filter(|s| !s.is_empty());
    Some(StatusChange {
        status: status?,
        effective: effective?,
        reason: text("reason"),
        deliberation_ref: text("deliberation_ref"),
    })
}

/// `POST /admin/membres/nouveau/{siren}`
pub async fn enroll(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    Path(siren): Path<String>,
    pairs: FormPairs,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let registry = current::current(p).await?;
    let who = identity_of(&registry, &siren).ok_or(WebError(AppError::NotFound))?;
    let siren = Siren::parse(&who.siren).map_err(|_| WebError(AppError::NotFound))?;
    let mut f = Fields::new();
    let change = read_change(&pairs, &mut f);
    if let (Some(change), false) = (change, f.has_errors()) {
        let actor = identity.audit_actor();
        let result =
            p.db.atomically(async |tx| {
                let org =
                    members::ensure_from_registry(tx, p.clock.now(), &registry, &siren, &actor)
                        .await?;
                members::enroll(
                    tx,
                    p.clock.now(),
                    operator_date(p),
                    org,
                    &change,
                    Some(pairs.get("college")),
                    &actor,
                )
                .await
            })
            .await;
        match result {
            Ok(()) => return Ok(enrolled(&page, &siren)),
            Err(e) => f
                .absorb_conflict(AppError::from(e), "status")
                .map_err(WebError)?,
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &enroll_page(&page, who, f).await?,
    )
}

/// Where an enrolment leads: the new member's page, with its notice.
fn enrolled(page: &PageCtx, siren: &Siren) -> Response {
    flash::set(
        see_other(&format!("/admin/membres/{siren}")),
        "membre-ajoute",
        page.secure(),
    )
}

// ---------------------------------------------------------------------------------------
// Bodies the registry does not list

#[derive(Template)]
#[template(path = "member_enroll_other.html")]
struct OtherPage {
    chrome: Chrome,
    f: Fields,
    kinds: Vec<(&'static str, &'static str, bool)>,
    statuses: Vec<(&'static str, &'static str, bool)>,
    colleges: Vec<String>,
}

const OTHER_KINDS: [OrgKind; 6] = [
    OrgKind::Ccas,
    OrgKind::Cias,
    OrgKind::Syndicat,
    OrgKind::Departement,
    OrgKind::Region,
    OrgKind::AutrePublic,
];

async fn other_page(page: &PageCtx, f: Fields) -> WebResult<OtherPage> {
    let mut conn = page.state.platform.db.read().await?;
    let colleges = members::colleges(&mut conn).await?;
    Ok(OtherPage {
        chrome: members_chrome(
            page,
            "Ajouter un autre organisme",
            f.has_errors(),
            &[("Ajouter un membre", "/admin/membres/nouveau".into())],
            "Autre organisme",
        ),
        kinds: OTHER_KINDS
            .into_iter()
            .map(|k| (k.code(), k.label(), k.code() == f.value("kind")))
            .collect(),
        statuses: status_choices(f.value("status"), false),
        colleges,
        f,
    })
}

/// `/admin/membres/nouveau/autre`
pub async fn other_form(page: PageCtx, CurrentUser(identity): CurrentUser) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let f = default_fields(OrgKind::Ccas, operator_date(p)).with("college", "");
    render(&other_page(&page, f).await?)
}

/// `POST /admin/membres/nouveau/autre`
pub async fn other_enroll(
    page: PageCtx,
    CurrentUser(identity): CurrentUser,
    pairs: FormPairs,
) -> WebResult<Response> {
    identity.require(PlatformAction::ManageMembers)?;
    let p = &page.state.platform;
    let registry = current::current(p).await?;
    let mut f = Fields::new();
    for name in ["siren", "name", "kind", "commune_insee", "departement"] {
        f.set(name, pairs.get(name));
    }
    let change = read_change(&pairs, &mut f);
    let siren = match Siren::parse(pairs.get("siren")) {
        Ok(s) => {
            if registry.commune_by_siren(s.as_str()).is_some()
                || registry.epci_by_siren(s.as_str()).is_some()
            {
                f.error(
                    "siren",
                    "Ce SIREN est celui d'une commune ou d'un EPCI : ajoutez-le depuis la recherche dans le référentiel.",
                );
            }
            Some(s)
        }
        Err(e) => {
            f.error("siren", e.0);
            None
        }
    };
    let name = pairs.get("name").trim().to_owned();
    if name.is_empty() {
        f.error("name", "Indiquez le nom de l'organisme.");
    }
    let kind = pairs
        .get("kind")
        .parse::<OrgKind>()
        .ok()
        .filter(|k| OTHER_KINDS.contains(k));
    if kind.is_none() {
        f.error("kind", "Choisissez le type d'organisme.");
    }
    // A CCAS belongs to its commune's EPCI: the commune is picked by its INSEE code.
    let mut commune = None;
    let insee_text = pairs.get("commune_insee").trim();
    if kind == Some(OrgKind::Ccas) || !insee_text.is_empty() {
        match Insee::parse(insee_text) {
            Ok(insee) => match registry.commune_by_insee(insee.as_str()) {
                Some(c) => commune = Some(c.clone()),
                None => f.error(
                    "commune_insee",
                    "Aucune commune du référentiel n'a ce code INSEE.",
                ),
            },
            Err(e) => f.error(
                "commune_insee",
                if insee_text.is_empty() {
                    "Indiquez le code INSEE de la commune du CCAS.".to_owned()
                } else {
                    e.0.to_string()
                },
            ),
        }
    }
    let departement = pairs.get("departement").trim().to_uppercase();
    let well_formed =
        departement.len() <= 3 && departement.chars().all(|c| c.is_ascii_alphanumeric());
    if !departement.is_empty() && !well_formed {
        f.error(
            "departement",
            "Saisissez un numéro de département (35, 2A, 974…).",
        );
    }
    if let (Some(change), Some(siren), Some(kind), false) = (change, siren, kind, f.has_errors()) {
        let actor = identity.audit_actor();
        let now = p.clock.now();
        let result =
            p.db.atomically(async |tx| {
                let mut new = NewOrg::new(siren.clone(), name, kind);
                if let Some(c) = &commune {
                    let epci = Siren::parse(&c.epci_siren).map_err(|_| {
                        AppError::invalid(
                            "commune_insee",
                            "Le référentiel donne à cette commune un EPCI invalide.",
                        )
                    })?;
                    new.parent = Some(
                        members::ensure_from_registry(tx, now, &registry, &epci, &actor).await?,
                    );
                    new.departement = Some(c.departement.clone());
                }
                if !departement.is_empty() {
                    new.departement = Some(departement.clone());
                }
                let org = orgs::create(tx, now, new, &actor).await?;
                members::enroll(
                    tx,
                    now,
                    operator_date(p),
                    org,
                    &change,
                    Some(pairs.get("college")),
                    &actor,
                )
                .await
            })
            .await;
        match result {
            Ok(()) => return Ok(enrolled(&page, &siren)),
            Err(e) => f
                .absorb_conflict(AppError::from(e), "siren")
                .map_err(WebError)?,
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &other_page(&page, f).await?,
    )
}
