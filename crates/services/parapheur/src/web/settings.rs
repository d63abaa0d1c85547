//! The parapheur's settings: circuits (administrators), absences and certificates.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use bouquet_crypto::keys::Credential;
use bouquet_kernel::policy::Action;
use bouquet_kernel::{AppError, UserId};
use bouquet_webkit::forms::{CsrfMultipart, Fields, FormPairs, UploadError};
use bouquet_webkit::layout::{Chrome, render_status, see_other};
use bouquet_webkit::{OrgCtx, PageCtx, WebError, WebResult, flash, render, views};
use jiff::civil::Date;

use super::{USE, chrome, me, today};
use crate::circuits;
use crate::delegations::{self, NewDelegation};
use crate::dossiers;
use crate::model::{Actor, DOC_TYPES, StepDef, StepKind, StepMode, doc_type_label};
use crate::signing;

/// How many step rows the circuit form offers.
const STEP_ROWS: usize = 5;

pub struct CircuitLine {
    pub id: String,
    pub name: String,
    pub steps: String,
    pub active: bool,
}

pub struct StepRowForm {
    pub n: usize,
    pub kind: String,
    pub mode: String,
    pub people: Vec<(String, String, bool)>,
    pub title: String,
    pub other_org: String,
    pub reading: bool,
}

#[derive(Template)]
#[template(path = "parapheur_circuits.html")]
pub struct CircuitsPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub circuits: Vec<CircuitLine>,
    pub can_manage: bool,
    pub rows: Vec<StepRowForm>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub base: String,
    pub absences_href: String,
    pub certificates_href: String,
}

fn describe(steps: &[StepDef], people: &[dossiers::Holder]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let who: Vec<String> = s
                .actors
                .iter()
                .map(|a| match a {
                    Actor::Person(id) => people
                        .iter()
                        .find(|p| &p.user_id == id)
                        .map_or_else(|| "?".to_owned(), |p| p.display_name.clone()),
                    Actor::Role(r) => r.clone(),
                    Actor::Title(t) => t.clone(),
                })
                .collect();
            format!(
                "{}. {} : {}{}",
                i + 1,
                s.kind.label(),
                who.join(", "),
                s.org_siren
                    .as_ref()
                    .map_or(String::new(), |o| format!(" (SIREN {o})"))
            )
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

async fn circuits_page(
    page: &PageCtx,
    ctx: &OrgCtx,
    f: Fields,
    pairs: Option<&FormPairs>,
) -> WebResult<CircuitsPage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let people = dossiers::people(&mut conn, ctx.org_id).await?;
    let list = circuits::list(&mut conn, ctx.org_id).await?;
    let mut circuits_out = Vec::new();
    for c in list {
        circuits_out.push(CircuitLine {
            steps: describe(&c.steps()?, &people),
            id: c.id,
            name: c.name,
            active: c.active,
        });
    }
    let get = |name: String| pairs.map(|p| p.get(&name).to_owned()).unwrap_or_default();
    let rows = (1..=STEP_ROWS)
        .map(|n| {
            let chosen: Vec<String> = pairs
                .map(|p| {
                    p.all(&format!("etape{n}_personnes"))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            StepRowForm {
                n,
                kind: get(format!("etape{n}_type")),
                mode: get(format!("etape{n}_mode")),
                people: people
                    .iter()
                    .map(|p| {
                        let label = match &p.title {
                            Some(t) => format!("{} ({t})", p.display_name),
                            None => p.display_name.clone(),
                        };
                        (p.user_id.clone(), label, chosen.contains(&p.user_id))
                    })
                    .collect(),
                title: get(format!("etape{n}_titre")),
                reading: get(format!("etape{n}_lecture")) == "oui",
                other_org: get(format!("etape{n}_organisation")),
            }
        })
        .collect();
    Ok(CircuitsPage {
        chrome: chrome(
            page,
            ctx,
            "Circuits de visa et de signature",
            f.has_errors(),
            &[],
        ),
        can_manage: ctx.can(Action::ManageSettings),
        circuits: circuits_out,
        rows,
        kinds: StepKind::ALL
            .iter()
            .map(|k| (k.code(), k.label()))
            .collect(),
        base: ctx.href("/parapheur/circuits"),
        absences_href: ctx.href("/parapheur/absences"),
        certificates_href: ctx.href("/parapheur/certificats"),
        f,
    })
}

pub async fn circuits_list(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&circuits_page(&page, &ctx, Fields::new(), None).await?)
}

/// Reads the step rows of the circuit form.
fn steps_from(pairs: &FormPairs, people: &[dossiers::Holder]) -> Result<Vec<StepDef>, AppError> {
    let mut steps = Vec::new();
    for n in 1..=STEP_ROWS {
        let kind = pairs.get(&format!("etape{n}_type"));
        if kind.is_empty() {
            continue;
        }
        let kind = StepKind::parse(kind).ok_or_else(|| {
            AppError::invalid("etapes", format!("Le type de l'étape {n} est inconnu."))
        })?;
        let mode = StepMode::parse(pairs.get(&format!("etape{n}_mode"))).unwrap_or(StepMode::Any);
        let mut actors = Vec::new();
        for id in pairs.all(&format!("etape{n}_personnes")) {
            if !people.iter().any(|p| p.user_id == id) {
                return Err(AppError::invalid(
                    "etapes",
                    format!("Une personne de l'étape {n} n'appartient pas à votre organisation."),
                ));
            }
            actors.push(Actor::Person(id.to_owned()));
        }
        let title = pairs.get(&format!("etape{n}_titre")).trim();
        if !title.is_empty() {
            actors.push(Actor::Title(title.to_owned()));
        }
        let org = pairs.get(&format!("etape{n}_organisation")).trim();
        let org_siren = if org.is_empty() {
            None
        } else {
            let siren = bouquet_kernel::Siren::parse(org).map_err(|_| {
                AppError::invalid(
                    "etapes",
                    format!("Le SIREN de l'étape {n} est incorrect (9 chiffres)."),
                )
            })?;
            if !actors.iter().all(|a| matches!(a, Actor::Title(_))) {
                return Err(AppError::invalid(
                    "etapes",
                    format!(
                        "À l'étape {n}, confiée à une autre organisation, désignez la personne par son titre (par exemple « Président »)."
                    ),
                ));
            }
            Some(siren.to_string())
        };
        steps.push(StepDef {
            kind,
            mode,
            reading_required: pairs.get(&format!("etape{n}_lecture")) == "oui",
            actors,
            org_siren,
        });
    }
    Ok(steps)
}

pub async fn circuits_create(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(Action::ManageSettings)?;
    let p = &page.state.platform;
    let people = {
        let mut conn = p.db.read().await?;
        dossiers::people(&mut conn, ctx.org_id).await?
    };
    let mut f = Fields::new().with("nom", pairs.get("nom"));
    let now = p.clock.now();
    let result = match steps_from(&pairs, &people) {
        Ok(steps) => {
            p.db.atomically(async |tx| {
                circuits::create(
                    tx,
                    now,
                    ctx.org_id,
                    pairs.get("nom"),
                    &steps,
                    &ctx.identity.audit_actor(),
                )
                .await
            })
            .await
            .map_err(|e| WebError::from(e).0)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(flash::set(
            see_other(&ctx.href("/parapheur/circuits")),
            "parapheur-circuit-cree",
            page.secure(),
        )),
        Err(e) => {
            f.absorb(e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &circuits_page(&page, &ctx, f, Some(&pairs)).await?,
            )
        }
    }
}

/// `actif=oui|non`
pub async fn circuits_toggle(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(Action::ManageSettings)?;
    let p = &page.state.platform;
    let now = p.clock.now();
    let active = pairs.get("actif") == "oui";
    p.db.atomically(async |tx| {
        circuits::set_active(
            tx,
            now,
            ctx.org_id,
            &id,
            active,
            &ctx.identity.audit_actor(),
        )
        .await
    })
    .await?;
    Ok(flash::set(
        see_other(&ctx.href("/parapheur/circuits")),
        "parapheur-circuit-modifie",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Absences
// ---------------------------------------------------------------------------------------

pub struct DelegationLine {
    pub id: String,
    pub from: String,
    pub to: String,
    pub period: String,
    pub scope: String,
}

#[derive(Template)]
#[template(path = "parapheur_absences.html")]
pub struct AbsencesPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub lines: Vec<DelegationLine>,
    pub absent_choices: Vec<(String, String, bool)>,
    pub substitute_choices: Vec<(String, String, bool)>,
    pub types: Vec<(&'static str, &'static str, bool)>,
    pub base: String,
}

fn date_fr(iso: &str) -> String {
    iso.parse::<Date>()
        .map_or_else(|_| iso.to_owned(), |d| d.strftime("%d/%m/%Y").to_string())
}

async fn absences_page(page: &PageCtx, ctx: &OrgCtx, f: Fields) -> WebResult<AbsencesPage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let people = dossiers::people(&mut conn, ctx.org_id).await?;
    let rows = delegations::list(&mut conn, ctx.org_id, &today(p, ctx)).await?;
    let manage = ctx.can(Action::ManageSettings);
    let me_id = me(ctx).to_string();
    let choice = |p: &dossiers::Holder, field: &str| {
        (
            p.user_id.clone(),
            p.display_name.clone(),
            f.value(field) == p.user_id,
        )
    };
    Ok(AbsencesPage {
        chrome: chrome(
            page,
            ctx,
            "Absences et suppléances",
            f.has_errors(),
            &[("Circuits", ctx.href("/parapheur/circuits"))],
        ),
        lines: rows
            .into_iter()
            .filter(|r| manage || r.from_user == me_id || r.to_user == me_id)
            .map(|r| DelegationLine {
                id: r.id,
                from: r.from_name,
                to: r.to_name,
                period: format!("du {} au {}", date_fr(&r.starts_on), date_fr(&r.ends_on)),
                scope: r.doc_type.as_deref().map_or_else(
                    || "Tous les dossiers".to_owned(),
                    |t| doc_type_label(t).to_owned(),
                ),
            })
            .collect(),
        absent_choices: people
            .iter()
            .filter(|p| manage || p.user_id == me_id)
            .map(|p| choice(p, "absent"))
            .collect(),
        substitute_choices: people.iter().map(|p| choice(p, "suppleant")).collect(),
        types: DOC_TYPES
            .iter()
            .map(|(c, l)| (*c, *l, f.value("type") == *c))
            .collect(),
        base: ctx.href("/parapheur/absences"),
        f,
    })
}

pub async fn absences(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    let f = Fields::new().with("absent", &me(&ctx).to_string());
    render(&absences_page(&page, &ctx, f).await?)
}

/// `absent`, `suppleant`, `debut`, `fin`, `type` (empty: every dossier).
pub async fn absences_create(page: PageCtx, ctx: OrgCtx, pairs: FormPairs) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let mut f = Fields::new();
    for name in ["absent", "suppleant", "debut", "fin", "type"] {
        f.set(name, pairs.get(name));
    }
    let people = {
        let mut conn = p.db.read().await?;
        dossiers::people(&mut conn, ctx.org_id).await?
    };
    let member = |id: &str| -> Option<UserId> {
        people
            .iter()
            .find(|p| p.user_id == id)
            .and_then(|p| p.id().ok())
    };
    let absent = member(f.value("absent"));
    let substitute = member(f.value("suppleant"));
    if absent.is_none() {
        f.error("absent", "Choisissez la personne absente.");
    }
    if absent.is_some_and(|a| a != me(&ctx)) && !ctx.can(Action::ManageSettings) {
        f.error(
            "absent",
            "Vous ne pouvez déclarer que votre propre absence.",
        );
    }
    if substitute.is_none() {
        f.error("suppleant", "Choisissez la personne qui agira à sa place.");
    }
    let start = f.value("debut").parse::<Date>().ok();
    let end = f.value("fin").parse::<Date>().ok();
    if start.is_none() {
        f.error(
            "debut",
            "Saisissez la date de début, par exemple 07/12/2026.",
        );
    }
    if end.is_none() {
        f.error("fin", "Saisissez la date de fin, par exemple 21/12/2026.");
    }
    let doc_type = Some(f.value("type").to_owned()).filter(|t| !t.is_empty());
    if doc_type
        .as_deref()
        .is_some_and(|t| !DOC_TYPES.iter().any(|(c, _)| *c == t))
    {
        f.error("type", "Ce type de document est inconnu.");
    }
    if let (Some(from), Some(to), Some(starts_on), Some(ends_on), false) =
        (absent, substitute, start, end, f.has_errors())
    {
        let now = p.clock.now();
        let d = NewDelegation {
            from,
            to,
            starts_on,
            ends_on,
            doc_type: doc_type.as_deref(),
        };
        match p
            .db
            .atomically(async |tx| {
                delegations::create(tx, now, ctx.org_id, &d, &ctx.identity.audit_actor()).await
            })
            .await
        {
            Ok(_) => {
                return Ok(flash::set(
                    see_other(&ctx.href("/parapheur/absences")),
                    "parapheur-absence",
                    page.secure(),
                ));
            }
            Err(e) => f.absorb(WebError::from(e).0)?,
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &absences_page(&page, &ctx, f).await?,
    )
}

pub async fn absences_revoke(
    page: PageCtx,
    ctx: OrgCtx,
    Path((_, id)): Path<(String, String)>,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let manage = ctx.can(Action::ManageSettings);
    let me_id = me(&ctx).to_string();
    let mine = {
        let mut conn = p.db.read().await?;
        delegations::list(&mut conn, ctx.org_id, "0000-00-00")
            .await?
            .into_iter()
            .any(|r| r.id == id && (manage || r.from_user == me_id))
    };
    if !mine {
        return Err(WebError(AppError::NotFound));
    }
    let now = p.clock.now();
    p.db.atomically(async |tx| {
        delegations::revoke(tx, now, ctx.org_id, &id, &ctx.identity.audit_actor()).await
    })
    .await?;
    Ok(flash::set(
        see_other(&ctx.href("/parapheur/absences")),
        "parapheur-absence-fin",
        page.secure(),
    ))
}

// ---------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------

pub struct CertificateLine {
    pub owner: String,
    pub subject: String,
    pub issuer: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "parapheur_certificates.html")]
pub struct CertificatesPage {
    pub chrome: Chrome,
    pub f: Fields,
    pub lines: Vec<CertificateLine>,
    pub action: String,
    pub demo_action: String,
    pub demo: bool,
    pub can_seal: bool,
}

async fn certificates_page(page: &PageCtx, ctx: &OrgCtx, f: Fields) -> WebResult<CertificatesPage> {
    let p = &page.state.platform;
    let mut conn = p.db.read().await?;
    let people = dossiers::people(&mut conn, ctx.org_id).await?;
    let manage = ctx.can(Action::ManageSettings);
    let me_id = me(ctx).to_string();
    let rows = signing::credentials(&mut conn, ctx.org_id).await?;
    Ok(CertificatesPage {
        chrome: chrome(
            page,
            ctx,
            "Certificats de signature",
            f.has_errors(),
            &[("Circuits", ctx.href("/parapheur/circuits"))],
        ),
        lines: rows
            .into_iter()
            .filter(|r| {
                manage || r.user_id.as_deref() == Some(me_id.as_str()) || r.user_id.is_none()
            })
            .map(|r| CertificateLine {
                owner: match &r.user_id {
                    None => "Cachet de l'organisation".to_owned(),
                    Some(u) => people
                        .iter()
                        .find(|p| &p.user_id == u)
                        .map_or_else(|| "—".to_owned(), |p| p.display_name.clone()),
                },
                until: views::at(r.not_after, &ctx.tz),
                subject: r.subject,
                issuer: r.issuer,
            })
            .collect(),
        action: ctx.href(&format!(
            "/parapheur/certificats?_csrf={}",
            super::inbox::url_escape(&page.csrf)
        )),
        demo_action: ctx.href("/parapheur/certificats/demo"),
        demo: p.settings.demo,
        can_seal: manage,
        f,
    })
}

pub async fn certificates(page: PageCtx, ctx: OrgCtx) -> WebResult<Response> {
    ctx.require(USE)?;
    render(&certificates_page(&page, &ctx, Fields::new()).await?)
}

/// `fichier` (.p12/.pfx), `mot_de_passe`, `titulaire=moi|cachet`.
pub async fn certificates_import(
    page: PageCtx,
    ctx: OrgCtx,
    form: CsrfMultipart,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    let upload = match form.collect(64 * 1024, 128 * 1024).await {
        Ok(u) => u,
        Err(UploadError::TooLarge(_)) => {
            let mut f = Fields::new();
            f.error("fichier", "Ce fichier est trop gros pour un certificat (64 Ko au plus) : choisissez le fichier .p12 ou .pfx.");
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &certificates_page(&page, &ctx, f).await?,
            );
        }
        Err(UploadError::Malformed) => {
            return Err(WebError(AppError::BadRequest(
                "Le formulaire d'envoi est mal formé.".into(),
            )));
        }
    };
    let mut f = Fields::new().with("titulaire", upload.fields.get("titulaire"));
    let seal = upload.fields.get("titulaire") == "cachet";
    if seal && !ctx.can(Action::ManageSettings) {
        return Err(WebError(AppError::Forbidden(
            "Seul un administrateur de l'organisation peut installer son cachet.".into(),
        )));
    }
    let file = upload.files.into_iter().find(|f| f.field == "fichier");
    let password = upload.fields.get("mot_de_passe");
    let credential = match &file {
        None => {
            f.error(
                "fichier",
                "Choisissez le fichier du certificat (.p12 ou .pfx).",
            );
            None
        }
        Some(file) => match Credential::from_pkcs12(&file.bytes, password) {
            Ok(c) => Some(c),
            Err(e) => {
                let field = if matches!(e, bouquet_crypto::CryptoError::BadInput(ref m) if m.contains("mot de passe"))
                {
                    "mot_de_passe"
                } else {
                    "fichier"
                };
                f.error(field, e.to_string());
                None
            }
        },
    };
    if let Some(credential) = credential {
        let now = p.clock.now();
        let user = (!seal).then(|| me(&ctx));
        match p
            .db
            .atomically(async |tx| {
                signing::store_credential(
                    tx,
                    p,
                    now,
                    ctx.org_id,
                    user,
                    &credential,
                    &ctx.identity.audit_actor(),
                )
                .await
            })
            .await
        {
            Ok(_) => {
                return Ok(flash::set(
                    see_other(&ctx.href("/parapheur/certificats")),
                    "parapheur-certificat",
                    page.secure(),
                ));
            }
            Err(e) => match WebError::from(e).0 {
                AppError::BadRequest(m) => f.error("fichier", m),
                other => f.absorb(other)?,
            },
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &certificates_page(&page, &ctx, f).await?,
    )
}

/// Demo only: a certificate from "AC Bouquet démo" for me (or the organisation's seal).
pub async fn certificates_demo(
    page: PageCtx,
    ctx: OrgCtx,
    pairs: FormPairs,
) -> WebResult<Response> {
    ctx.require(USE)?;
    let p = &page.state.platform;
    if !p.settings.demo {
        return Err(WebError(AppError::NotFound));
    }
    let seal = pairs.get("titulaire") == "cachet";
    if seal && !ctx.can(Action::ManageSettings) {
        return Err(WebError(AppError::Forbidden(
            "Seul un administrateur de l'organisation peut installer son cachet.".into(),
        )));
    }
    let title = ctx
        .identity
        .memberships
        .iter()
        .find(|m| m.org_id == ctx.org.id)
        .and_then(|m| m.title.clone());
    let person = (!seal).then(|| {
        (
            me(&ctx),
            ctx.identity.user.display_name.as_str(),
            ctx.identity.user.email.as_str(),
            title.as_deref(),
        )
    });
    signing::issue_demo(
        p,
        ctx.org_id,
        &ctx.org.name,
        &ctx.org.siren,
        person,
        &ctx.identity.audit_actor(),
    )
    .await?;
    Ok(flash::set(
        see_other(&ctx.href("/parapheur/certificats")),
        "parapheur-certificat",
        page.secure(),
    ))
}
