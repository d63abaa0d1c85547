//! Importing a newer official registry file (`bouquet registry import FILE`).
//!
//! [`prepare`] parses the file, refuses it rather than guesses (a malformed file, or one whose
//! populations are older than those of the registry in use, unless forced), compares it with
//! the registry in use ([`Registry::diff`]) and works out a [`Plan`]: what changed in the
//! territory ([`Summary`]), which members it concerns, which organisations of the platform
//! to bring up to date (names of renamed communes and EPCI, populations and their year, the
//! EPCI of moved communes), and which member communes merged into a commune nouvelle.
//!
//! [`apply`] stores the file (a blob of owner [`BLOB_OWNER`]) and then, in one transaction:
//! makes it the registry in use (setting [`SETTING`]), records the import in
//! `registry_imports`, updates the organisations (each change journaled on the
//! organisation's chain), raises one `registry_mergers` row per member commune merged into a
//! commune nouvelle (handled from `/admin/registre`, see [`crate::mergers`]) and queues an
//! e-mail to the operator's staff listing them. A file identical to the registry in use
//! changes nothing; a merger already raised for the same commune and commune nouvelle is not
//! raised again.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use bouquet_kernel::clock::to_micros;
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId, OrgKind, Siren};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::mail::{self, Mail};
use bouquet_store::{
    Handle, Platform, StoreError, StoreResult, Tx, exec, orgs, run, search, settings,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::current::{self, BLOB_OWNER, RegistryRef, SETTING};
use crate::members::{self, Status};
use crate::mergers::MergedCommune;
use crate::registry::{Commune, Registry, RegistryDiff, RegistryError};

/// At most this many communes of each kind of change are named in a summary.
pub const LISTED: usize = 20;

/// Why an import was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("fichier refusé : {0}")]
    Refused(#[from] RegistryError),
    #[error(
        "ce fichier donne les populations {file}, plus anciennes que celles du référentiel en usage ({current}) : relancez avec --force pour l'importer quand même"
    )]
    OlderPopulation { file: i32, current: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A commune nouvelle and the communes that merged into it, as people read them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedNames {
    /// "Piré-Chancé (35220)"
    pub into: String,
    /// "Chancé (35053)", "Piré-sur-Seiche (35220)"
    pub from: Vec<String>,
}

/// A member the new file concerns, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedMember {
    pub name: String,
    pub siren: String,
    /// Its member status, as a label.
    pub status: String,
    /// What the file says of it, in French ("fusionnée dans la commune nouvelle …").
    pub change: String,
    /// A merger to handle was raised for it.
    pub merger: bool,
}

/// What an import changes, as printed by the command and kept (JSON) with the import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub source: String,
    pub population_year: i32,
    pub previous_population_year: i32,
    pub previous_embedded: bool,
    pub communes: usize,
    pub epci: usize,
    pub added: usize,
    pub removed: usize,
    pub renamed: usize,
    /// Communes nouvelles.
    pub merged: usize,
    /// Communes that merged into them.
    pub merged_communes: usize,
    pub moved: usize,
    pub epci_added: usize,
    pub epci_removed: usize,
    pub epci_renamed: usize,
    pub population_changed: usize,
    /// The first [`LISTED`] of each, in INSEE order.
    pub added_names: Vec<String>,
    pub removed_names: Vec<String>,
    /// (before, after)
    pub renamed_names: Vec<(String, String)>,
    pub merged_names: Vec<MergedNames>,
    /// Every member concerned.
    pub members: Vec<AffectedMember>,
    pub organisations_updated: usize,
    /// The first [`LISTED`] updates, as sentences.
    pub updates: Vec<String>,
}

fn named(c: &Commune) -> String {
    format!("{} ({})", c.name, c.insee)
}

impl Summary {
    /// The summary of `diff` from `old` to `new` (members and updates are added by [`plan`]).
    pub fn of(
        source: &str,
        old: &Registry,
        old_embedded: bool,
        new: &Registry,
        diff: &RegistryDiff,
    ) -> Summary {
        Summary {
            source: source.to_owned(),
            population_year: new.population_year,
            previous_population_year: old.population_year,
            previous_embedded: old_embedded,
            communes: new.communes().len(),
            epci: new.epcis().len(),
            added: diff.added.len(),
            removed: diff.removed.len(),
            renamed: diff.renamed.len(),
            merged: diff.merged.len(),
            merged_communes: diff.merged.iter().map(|m| m.from.len()).sum(),
            moved: diff.moved.len(),
            epci_added: diff.epci_added.len(),
            epci_removed: diff.epci_removed.len(),
            epci_renamed: epci_renamed(old, new).len(),
            population_changed: diff.population_changed,
            added_names: diff.added.iter().take(LISTED).map(named).collect(),
            removed_names: diff.removed.iter().take(LISTED).map(named).collect(),
            renamed_names: diff
                .renamed
                .iter()
                .take(LISTED)
                .map(|(before, after)| (named(before), after.name.clone()))
                .collect(),
            merged_names: diff
                .merged
                .iter()
                .take(LISTED)
                .map(|m| MergedNames {
                    into: named(&m.into),
                    from: m.from.iter().map(named).collect(),
                })
                .collect(),
            members: Vec::new(),
            organisations_updated: 0,
            updates: Vec::new(),
        }
    }

    pub fn mergers_raised(&self) -> usize {
        self.members.iter().filter(|m| m.merger).count()
    }
}

/// EPCI present in both files under another name: (older, newer).
fn epci_renamed<'a>(old: &Registry, new: &'a Registry) -> Vec<(String, &'a str)> {
    new.epcis()
        .iter()
        .filter_map(|e| {
            old.epci_by_siren(&e.siren)
                .filter(|o| o.name != e.name)
                .map(|o| (o.name.clone(), e.siren.as_str()))
        })
        .collect()
}

fn more(out: &mut String, total: usize, listed: usize) {
    if total > listed {
        let _ = writeln!(out, "  … et {} autre(s).", total - listed);
    }
}

/// The summary as the command prints it.
pub fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fichier {} : populations {}, {} communes et {} EPCI.",
        s.source, s.population_year, s.communes, s.epci
    );
    let _ = writeln!(
        out,
        "Référentiel en usage jusqu'ici : {}, populations {}.",
        if s.previous_embedded {
            "fichier fourni avec Bouquet"
        } else {
            "fichier importé"
        },
        s.previous_population_year
    );
    out.push('\n');
    out.push_str("Changements :\n");
    for (label, n) in [
        ("communes nouvelles (fusions)", s.merged),
        (
            "communes fusionnées dans une commune nouvelle",
            s.merged_communes,
        ),
        ("communes ajoutées", s.added),
        ("communes disparues", s.removed),
        ("communes renommées", s.renamed),
        ("communes ayant changé d'EPCI", s.moved),
        ("EPCI ajoutés", s.epci_added),
        ("EPCI disparus", s.epci_removed),
        ("EPCI renommés", s.epci_renamed),
        ("populations modifiées", s.population_changed),
    ] {
        let _ = writeln!(out, "  {label} : {n}");
    }
    if !s.merged_names.is_empty() {
        out.push_str("\nFusions :\n");
        for m in &s.merged_names {
            let _ = writeln!(out, "  - {} ← {}", m.into, m.from.join(", "));
        }
        more(&mut out, s.merged, s.merged_names.len());
    }
    if !s.renamed_names.is_empty() {
        out.push_str("\nCommunes renommées :\n");
        for (before, after) in &s.renamed_names {
            let _ = writeln!(out, "  - {before} → {after}");
        }
        more(&mut out, s.renamed, s.renamed_names.len());
    }
    if !s.added_names.is_empty() {
        out.push_str("\nCommunes ajoutées :\n");
        for name in &s.added_names {
            let _ = writeln!(out, "  - {name}");
        }
        more(&mut out, s.added, s.added_names.len());
    }
    if !s.removed_names.is_empty() {
        out.push_str("\nCommunes disparues :\n");
        for name in &s.removed_names {
            let _ = writeln!(out, "  - {name}");
        }
        more(&mut out, s.removed, s.removed_names.len());
    }
    out.push('\n');
    if s.members.is_empty() {
        out.push_str("Membres concernés : aucun.\n");
    } else {
        let _ = writeln!(out, "Membres concernés : {}", s.members.len());
        for m in &s.members {
            let _ = writeln!(
                out,
                "  - {} (SIREN {}, {}) : {}",
                m.name, m.siren, m.status, m.change
            );
        }
        let raised = s.mergers_raised();
        if raised > 0 {
            let _ = writeln!(
                out,
                "  {raised} fusion(s) à traiter dans l'administration (Référentiel des communes) : l'adhésion, les utilisateurs et l'historique y sont déplacés vers la commune nouvelle."
            );
        }
    }
    if s.organisations_updated == 0 {
        out.push_str("Organisations de la plateforme à mettre à jour : aucune.\n");
    } else {
        let _ = writeln!(
            out,
            "Organisations de la plateforme à mettre à jour : {}",
            s.organisations_updated
        );
        for u in &s.updates {
            let _ = writeln!(out, "  - {u}");
        }
        more(&mut out, s.organisations_updated, s.updates.len());
    }
    out
}

/// An organisation of the platform brought up to date from the new file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgUpdate {
    pub org: OrgId,
    pub siren: String,
    pub insee: Option<String>,
    pub name: String,
    pub new_name: Option<String>,
    pub new_kind: Option<OrgKind>,
    /// (before, after)
    pub population: Option<(Option<i64>, i64)>,
    pub population_municipale: Option<(Option<i64>, i64)>,
    pub population_year: Option<(Option<i32>, i32)>,
    /// (SIREN of the EPCI before, SIREN of the EPCI after)
    pub epci: Option<(Option<String>, String)>,
}

impl OrgUpdate {
    /// "Janzé : population 8 702 → 8 807"
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(new) = &self.new_name {
            parts.push(format!("nom « {} » → « {new} »", self.name));
        }
        if let Some(kind) = self.new_kind {
            parts.push(format!("type → {}", kind.label()));
        }
        let n = |v: Option<i64>| v.map_or_else(|| "non renseignée".to_owned(), |v| v.to_string());
        if let Some((before, after)) = self.population {
            parts.push(format!("population {} → {after}", n(before)));
        }
        if let Some((before, after)) = self.population_municipale {
            parts.push(format!("population municipale {} → {after}", n(before)));
        }
        if let Some((before, after)) = self.population_year {
            parts.push(format!(
                "année des populations {} → {after}",
                before.map_or_else(|| "non renseignée".to_owned(), |y| y.to_string())
            ));
        }
        if let Some((before, after)) = &self.epci {
            parts.push(format!(
                "EPCI {} → {after}",
                before.as_deref().unwrap_or("aucun")
            ));
        }
        format!("{} : {}", self.name, parts.join(" ; "))
    }
}

/// A member commune that merged into a commune nouvelle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlaggedMerger {
    pub org: OrgId,
    pub org_siren: String,
    pub org_name: String,
    pub into: Commune,
    pub from: Vec<Commune>,
}

/// What an import would do.
#[derive(Debug)]
pub struct Plan {
    /// The new file, parsed.
    pub registry: Registry,
    pub previous_sha256: String,
    /// The file is the registry in use already: nothing to do.
    pub unchanged: bool,
    pub diff: RegistryDiff,
    pub summary: Summary,
    pub updates: Vec<OrgUpdate>,
    pub mergers: Vec<FlaggedMerger>,
}

/// An organisation of the platform the registry knows of (communes and EPCI).
#[derive(Clone, Debug, sqlx::FromRow)]
struct PlatformOrg {
    id: String,
    siren: String,
    name: String,
    kind: String,
    insee: Option<String>,
    population: Option<i64>,
    population_municipale: Option<i64>,
    population_year: Option<i32>,
    parent_siren: Option<String>,
    status: Option<String>,
}

async fn platform_orgs(h: &mut impl Handle) -> StoreResult<Vec<PlatformOrg>> {
    let rows = run!(h, |c| sqlx::query_as(
        "SELECT o.id, o.siren, o.name, o.kind, o.insee, o.population, o.population_municipale,
                o.population_year, p.siren AS parent_siren, m.status
         FROM organisations o
         LEFT JOIN organisations p ON p.id = o.parent_id
         LEFT JOIN adhesion_members m ON m.org_id = o.id
         WHERE o.kind IN ('commune', 'cc', 'ca', 'cu', 'metropole')
         ORDER BY o.sort_name, o.id"
    )
    .fetch_all(c)
    .await)?;
    Ok(rows)
}

/// Steps of [`prepare`], for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Parsing,
    LoadingCurrent,
    Comparing,
    Planning,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Parsing => "Analyse du fichier…",
            Step::LoadingCurrent => "Chargement du référentiel en usage…",
            Step::Comparing => "Comparaison avec le référentiel en usage…",
            Step::Planning => "Recherche des membres concernés…",
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> ImportError {
    ImportError::Store(StoreError::Io(std::io::Error::other(e)))
}

/// Parses `bytes`, compares them with the registry in use and works out what an import
/// would do. Changes nothing.
pub async fn prepare(
    p: &Platform,
    bytes: Bytes,
    source: &str,
    force: bool,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<Plan, ImportError> {
    progress(Step::Parsing);
    let new = tokio::task::spawn_blocking(move || Registry::parse(&bytes))
        .await
        .map_err(join_error)??;
    progress(Step::LoadingCurrent);
    let current = current::current(p).await?;
    if new.sha256 == current.sha256 {
        let summary = Summary {
            source: source.to_owned(),
            population_year: new.population_year,
            previous_population_year: current.population_year,
            previous_embedded: current.is_embedded(),
            communes: new.communes().len(),
            epci: new.epcis().len(),
            ..Summary::default()
        };
        return Ok(Plan {
            registry: new,
            previous_sha256: current.sha256.clone(),
            unchanged: true,
            diff: RegistryDiff::default(),
            summary,
            updates: Vec::new(),
            mergers: Vec::new(),
        });
    }
    if new.population_year < current.population_year && !force {
        return Err(ImportError::OlderPopulation {
            file: new.population_year,
            current: current.population_year,
        });
    }
    progress(Step::Comparing);
    let (new, diff, current) = {
        let current = current.clone();
        tokio::task::spawn_blocking(move || {
            let diff = current.diff(&new);
            (new, diff, current)
        })
        .await
        .map_err(join_error)?
    };
    progress(Step::Planning);
    let mut conn = p.db.read().await?;
    let orgs = platform_orgs(&mut conn).await?;
    drop(conn);
    Ok(plan(source, &current, new, diff, &orgs))
}

fn plan(
    source: &str,
    current: &RegistryRef,
    new: Registry,
    diff: RegistryDiff,
    orgs: &[PlatformOrg],
) -> Plan {
    let mut summary = Summary::of(source, current, current.is_embedded(), &new, &diff);

    // What the diff says of each SIREN, for the members.
    let epci_name = |r: &Registry, siren: &str| {
        r.epci_by_siren(siren)
            .map_or_else(|| siren.to_owned(), |e| e.name.clone())
    };
    let mut changes: HashMap<&str, Vec<String>> = HashMap::new();
    let mut merged_into: HashMap<&str, &crate::registry::Merger> = HashMap::new();
    for m in &diff.merged {
        for c in &m.from {
            merged_into.insert(c.siren.as_str(), m);
        }
    }
    for c in &diff.removed {
        changes.entry(c.siren.as_str()).or_default().push(
            "ne figure plus dans le référentiel (commune supprimée, ou fusionnée hors de son EPCI : vérifiez)"
                .into(),
        );
    }
    for (before, after) in &diff.renamed {
        changes
            .entry(before.siren.as_str())
            .or_default()
            .push(format!("renommée « {} » → « {} »", before.name, after.name));
    }
    for (before, after) in &diff.moved {
        changes
            .entry(before.siren.as_str())
            .or_default()
            .push(format!(
                "change d'EPCI : {} → {}",
                epci_name(current, &before.epci_siren),
                epci_name(&new, &after.epci_siren)
            ));
    }
    for e in &diff.epci_removed {
        changes
            .entry(e.siren.as_str())
            .or_default()
            .push("EPCI absent du nouveau fichier (dissous ou fusionné)".into());
    }
    let renamed_epci = epci_renamed(current, &new);
    for (before, siren) in &renamed_epci {
        changes.entry(siren).or_default().push(format!(
            "EPCI renommé « {before} » → « {} »",
            epci_name(&new, siren)
        ));
    }

    let mut mergers = Vec::new();
    let mut members_affected = Vec::new();
    for o in orgs {
        let Some(status) = o.status.as_deref().and_then(Status::from_code) else {
            continue;
        };
        if status == Status::Fusionne {
            continue;
        }
        let mut said: Vec<String> = Vec::new();
        let mut merger = false;
        if let Some(m) = merged_into.get(o.siren.as_str())
            && o.kind == OrgKind::Commune.code()
            && let Ok(org) = o.id.parse::<OrgId>()
        {
            said.push(format!(
                "fusionnée dans la commune nouvelle {} (INSEE {}, SIREN {})",
                m.into.name, m.into.insee, m.into.siren
            ));
            mergers.push(FlaggedMerger {
                org,
                org_siren: o.siren.clone(),
                org_name: o.name.clone(),
                into: m.into.clone(),
                from: m.from.clone(),
            });
            merger = true;
        }
        if let Some(c) = changes.get(o.siren.as_str()) {
            said.extend(c.iter().cloned());
        }
        if !said.is_empty() {
            members_affected.push(AffectedMember {
                name: o.name.clone(),
                siren: o.siren.clone(),
                status: status.label().to_owned(),
                change: said.join(" ; "),
                merger,
            });
        }
    }

    // A commune whose new EPCI is not on the platform yet gets it, created from the file.
    let updates: Vec<OrgUpdate> = orgs.iter().filter_map(|o| update_of(o, &new)).collect();

    summary.members = members_affected;
    summary.organisations_updated = updates.len();
    summary.updates = updates
        .iter()
        .take(LISTED)
        .map(OrgUpdate::describe)
        .collect();
    Plan {
        previous_sha256: current.sha256.clone(),
        registry: new,
        unchanged: false,
        diff,
        summary,
        updates,
        mergers,
    }
}

/// What `new` changes to `o`, if anything.
fn update_of(o: &PlatformOrg, new: &Registry) -> Option<OrgUpdate> {
    let org: OrgId = o.id.parse().ok()?;
    let kind: OrgKind = o.kind.parse().ok()?;
    let (name, new_kind, ptot, pmun, epci) = if kind == OrgKind::Commune {
        let c = new.commune_by_siren(&o.siren)?;
        (
            &c.name,
            None,
            c.population_totale,
            c.population_municipale,
            (o.parent_siren.as_deref() != Some(c.epci_siren.as_str()))
                .then(|| (o.parent_siren.clone(), c.epci_siren.clone())),
        )
    } else {
        let e = new.epci_by_siren(&o.siren)?;
        (
            &e.name,
            (e.kind != kind).then_some(e.kind),
            e.population_totale,
            e.population_municipale,
            None,
        )
    };
    let year = new.population_year;
    let u = OrgUpdate {
        org,
        siren: o.siren.clone(),
        insee: o.insee.clone(),
        name: o.name.clone(),
        new_name: (o.name != *name).then(|| name.clone()),
        new_kind,
        population: (o.population != Some(ptot)).then_some((o.population, ptot)),
        population_municipale: (o.population_municipale != Some(pmun))
            .then_some((o.population_municipale, pmun)),
        population_year: (o.population_year != Some(year)).then_some((o.population_year, year)),
        epci,
    };
    let changed = u.new_name.is_some()
        || u.new_kind.is_some()
        || u.population.is_some()
        || u.population_municipale.is_some()
        || u.population_year.is_some()
        || u.epci.is_some();
    changed.then_some(u)
}

/// What [`apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub import_id: String,
    /// Mergers raised now (not those raised by an earlier import).
    pub mergers_raised: usize,
    pub organisations_updated: usize,
    pub mails: usize,
}

/// Makes the planned file the registry in use, in one transaction (see the module
/// documentation). `bytes` are the file's bytes, as given to [`prepare`].
pub async fn apply(
    p: &Platform,
    plan: &Plan,
    bytes: Bytes,
    actor: &AuditActor,
) -> StoreResult<Option<Applied>> {
    if plan.unchanged {
        return Ok(None);
    }
    let stored = p.blobs.put_bytes(BLOB_OWNER, bytes).await?;
    if stored.sha256 != plan.registry.sha256 {
        return Err(StoreError::Corrupt(
            "le fichier stocké ne correspond pas au fichier analysé".into(),
        ));
    }
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    // Another import may have happened since `prepare` compared with the registry in use.
    let in_use = settings::get(&mut tx, SETTING).await?;
    let expected_in_use = (!plan.summary.previous_embedded).then(|| plan.previous_sha256.clone());
    if in_use != expected_in_use {
        return Err(AppError::Conflict(
            "Le référentiel en usage a changé pendant l'import : relancez la commande.".into(),
        )
        .into());
    }
    settings::set(&mut tx, now, SETTING, &plan.registry.sha256).await?;
    let import_id = new_id().to_string();
    let summary_json =
        serde_json::to_string(&plan.summary).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    exec!(&mut tx, sqlx::query(
        "INSERT INTO registry_imports (id, imported_at, sha256, previous_sha256, source_name, population_year, communes, epci, summary, actor_label)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(&import_id)
    .bind(to_micros(now))
    .bind(&plan.registry.sha256)
    .bind(&plan.previous_sha256)
    .bind(&plan.summary.source)
    .bind(i64::from(plan.registry.population_year))
    .bind(plan.registry.communes().len() as i64)
    .bind(plan.registry.epcis().len() as i64)
    .bind(&summary_json)
    .bind(&actor.label))?;

    for u in &plan.updates {
        update_org(&mut tx, now, &plan.registry, u, actor).await?;
    }

    let mut raised = Vec::new();
    for m in &plan.mergers {
        if raise_merger(&mut tx, now, &import_id, m, actor).await? {
            raised.push(m);
        }
    }
    let mut mails = 0;
    if !raised.is_empty() {
        let staff = crate::reminders::operator_staff_emails(&mut tx).await?;
        let (subject, text) = merger_mail(p, &raised);
        for to in staff {
            mail::queue(
                &mut tx,
                now,
                &Mail {
                    to,
                    subject: subject.clone(),
                    text: text.clone(),
                },
            )
            .await?;
            mails += 1;
        }
    }
    audit::append(
        &mut tx,
        now,
        NewEvent::new(None, actor, "registry.imported", "registry", &import_id).details(json!({
            "fichier": plan.summary.source,
            "sha256": plan.registry.sha256,
            "populations": plan.registry.population_year,
            "communes": plan.registry.communes().len(),
            "epci": plan.registry.epcis().len(),
            "fusions_a_traiter": raised.len(),
            "organisations_mises_a_jour": plan.updates.len(),
        })),
    )
    .await?;
    tx.commit().await?;
    if mails > 0 {
        p.wake_workers();
    }
    Ok(Some(Applied {
        import_id,
        mergers_raised: raised.len(),
        organisations_updated: plan.updates.len(),
        mails,
    }))
}

async fn update_org(
    tx: &mut Tx,
    now: jiff::Timestamp,
    registry: &Registry,
    u: &OrgUpdate,
    actor: &AuditActor,
) -> StoreResult<()> {
    let parent = match &u.epci {
        Some((_, epci)) => {
            let siren = Siren::parse(epci).map_err(|_| {
                StoreError::Corrupt(format!(
                    "SIREN d'EPCI invalide dans le référentiel : {epci}"
                ))
            })?;
            Some(members::ensure_from_registry(tx, now, registry, &siren, actor).await?)
        }
        None => None,
    };
    exec!(
        tx,
        sqlx::query(
            "UPDATE organisations SET
            name = COALESCE($2, name),
            sort_name = COALESCE($3, sort_name),
            kind = COALESCE($4, kind),
            population = COALESCE($5, population),
            population_municipale = COALESCE($6, population_municipale),
            population_year = COALESCE($7, population_year),
            parent_id = COALESCE($8, parent_id),
            updated_at = $9
         WHERE id = $1"
        )
        .bind(u.org.to_string())
        .bind(u.new_name.as_deref())
        .bind(u.new_name.as_deref().map(orgs::sort_key))
        .bind(u.new_kind.map(OrgKind::code))
        .bind(u.population.map(|p| p.1))
        .bind(u.population_municipale.map(|p| p.1))
        .bind(u.population_year.map(|p| p.1))
        .bind(parent.map(|p| p.to_string()))
        .bind(to_micros(now))
    )?;
    if let Some(name) = &u.new_name {
        // As `orgs::create` indexes it.
        search::index(
            tx,
            None,
            "organisation",
            &u.org.to_string(),
            &format!("{name} {} {}", u.siren, u.insee.as_deref().unwrap_or("")),
        )
        .await?;
    }
    let pair = |p: Option<(Option<i64>, i64)>| p.map(|(a, b)| json!({ "avant": a, "apres": b }));
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(u.org),
            actor,
            "organisation.registry_synced",
            "organisation",
            u.org,
        )
        .details(json!({
            "nom": u.new_name.as_ref().map(|n| json!({ "avant": u.name, "apres": n })),
            "type": u.new_kind.map(OrgKind::code),
            "population": pair(u.population),
            "population_municipale": pair(u.population_municipale),
            "annee_des_populations": u.population_year.map(|(a, b)| json!({ "avant": a, "apres": b })),
            "epci": u.epci.as_ref().map(|(a, b)| json!({ "avant": a, "apres": b })),
        })),
    )
    .await?;
    Ok(())
}

/// Records a merger to handle; false when one was already raised for this commune and
/// commune nouvelle (by an earlier import).
async fn raise_merger(
    tx: &mut Tx,
    now: jiff::Timestamp,
    import_id: &str,
    m: &FlaggedMerger,
    actor: &AuditActor,
) -> StoreResult<bool> {
    let id = new_id().to_string();
    let merged_with: Vec<MergedCommune> = m
        .from
        .iter()
        .map(|c| MergedCommune {
            insee: c.insee.clone(),
            siren: c.siren.clone(),
            name: c.name.clone(),
        })
        .collect();
    let merged_with =
        serde_json::to_string(&merged_with).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let inserted = exec!(tx, sqlx::query(
        "INSERT INTO registry_mergers (id, import_id, org_id, into_insee, into_siren, into_name, merged_with, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'a_traiter', $8)
         ON CONFLICT (org_id, into_siren) DO NOTHING"
    )
    .bind(&id)
    .bind(import_id)
    .bind(m.org.to_string())
    .bind(&m.into.insee)
    .bind(&m.into.siren)
    .bind(&m.into.name)
    .bind(&merged_with)
    .bind(to_micros(now)))?;
    if inserted == 0 {
        return Ok(false);
    }
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(m.org),
            actor,
            "registry.merger_detected",
            "registry_merger",
            &id,
        )
        .details(json!({
            "commune_nouvelle": m.into.name,
            "insee": m.into.insee,
            "siren": m.into.siren,
        })),
    )
    .await?;
    Ok(true)
}

fn merger_mail(p: &Platform, raised: &[&FlaggedMerger]) -> (String, String) {
    let subject = if raised.len() == 1 {
        format!(
            "Référentiel des communes : {} a fusionné dans une commune nouvelle",
            raised[0].org_name
        )
    } else {
        format!(
            "Référentiel des communes : {} communes membres ont fusionné",
            raised.len()
        )
    };
    let mut lines = String::new();
    let mut seen = HashSet::new();
    for m in raised {
        if seen.insert(&m.org_siren) {
            let _ = writeln!(
                lines,
                "- {} (SIREN {}) → {} (INSEE {}, SIREN {})",
                m.org_name, m.org_siren, m.into.name, m.into.insee, m.into.siren
            );
        }
    }
    let text = format!(
        "Bonjour,\n\nLe référentiel officiel des communes qui vient d'être importé montre que des communes membres ont fusionné dans une commune nouvelle :\n\n{lines}\nPour chacune, vérifiez la fusion puis confirmez-la : son adhésion, ses utilisateurs, ses abonnements et son historique sont déplacés vers la commune nouvelle en une seule opération, inscrite au journal.\n{}\n\n— {}",
        p.settings.link("/admin/registre"),
        p.settings.operator_name
    );
    (subject, text)
}

/// One import, as the registry page lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ImportRow {
    pub id: String,
    pub imported_at: i64,
    pub sha256: String,
    pub source_name: String,
    pub population_year: i64,
    pub communes: i64,
    pub epci: i64,
    pub summary: String,
    pub actor_label: String,
}

impl ImportRow {
    pub fn summary(&self) -> Summary {
        serde_json::from_str(&self.summary).unwrap_or_default()
    }
}

/// The latest imports, newest first.
pub async fn imports(h: &mut impl Handle, limit: i64) -> StoreResult<Vec<ImportRow>> {
    let rows = run!(h, |c| {
        sqlx::query_as(
        "SELECT id, imported_at, sha256, source_name, population_year, communes, epci, summary, actor_label
         FROM registry_imports ORDER BY imported_at DESC, id DESC LIMIT $1"
    )
    .bind(limit)
    .fetch_all(c)
    .await
    })?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCIEN: &[u8] = include_bytes!("../tests-data/banatic-ancien.csv");
    const EXTRAIT: &[u8] = include_bytes!("../tests-data/banatic-actuel-extrait.csv");

    fn parse(bytes: &[u8]) -> Registry {
        Registry::parse(bytes).expect("the file parses")
    }

    fn org(
        id: OrgId,
        siren: &str,
        name: &str,
        kind: OrgKind,
        status: Option<Status>,
    ) -> PlatformOrg {
        PlatformOrg {
            id: id.to_string(),
            siren: siren.into(),
            name: name.into(),
            kind: kind.code().into(),
            insee: None,
            population: None,
            population_municipale: None,
            population_year: None,
            parent_siren: None,
            status: status.map(|s| s.code().into()),
        }
    }

    #[test]
    fn the_summary_names_what_changed_and_the_members_concerned() {
        let old = parse(ANCIEN);
        let new = parse(EXTRAIT);
        let diff = old.diff(&new);
        let old = RegistryRef::Imported(std::sync::Arc::new(old));
        let chance = OrgId::new();
        let janze = OrgId::new();
        let mut janze_row = org(
            janze,
            "213501364",
            "Janzé",
            OrgKind::Commune,
            Some(Status::Membre),
        );
        janze_row.parent_siren = Some("243500634".into());
        janze_row.population = Some(8702);
        janze_row.population_municipale = Some(8515);
        janze_row.population_year = Some(2025);
        let orgs = [
            org(
                chance,
                "999350531",
                "Chancé",
                OrgKind::Commune,
                Some(Status::Membre),
            ),
            org(
                OrgId::new(),
                "213503337",
                "Le Theil",
                OrgKind::Commune,
                Some(Status::Candidat),
            ),
            // Not a member: updated, not listed among the members.
            org(OrgId::new(), "213500028", "Amanlis", OrgKind::Commune, None),
            janze_row,
        ];
        let plan = plan("banatic-actuel-extrait.csv", &old, new, diff, &orgs);
        let text = summary_text(&plan.summary);
        for expected in [
            "Fichier banatic-actuel-extrait.csv : populations 2025, 21 communes et 2 EPCI.",
            "Référentiel en usage jusqu'ici : fichier importé, populations 2025.",
            "  communes nouvelles (fusions) : 1\n",
            "  communes fusionnées dans une commune nouvelle : 2\n",
            "  communes disparues : 1\n",
            "  communes renommées : 1\n",
            "  communes ayant changé d'EPCI : 1\n",
            "  populations modifiées : 1\n",
            "  EPCI disparus : 0\n",
            "Fusions :\n  - Piré-Chancé (35220) ← Chancé (35053), Piré-sur-Seiche (35220)\n",
            "Communes renommées :\n  - Le Theil (35333) → Le Theil-de-Bretagne\n",
            "Communes disparues :\n  - Le Bois-des-Fées (35990)\n",
            "Membres concernés : 2\n",
            "  - Chancé (SIREN 999350531, Membre) : fusionnée dans la commune nouvelle Piré-Chancé (INSEE 35220, SIREN 200085884)\n",
            "  - Le Theil (SIREN 213503337, Candidat) : renommée « Le Theil » → « Le Theil-de-Bretagne »\n",
            "  1 fusion(s) à traiter",
            "Janzé : population 8702 → 8807 ; population municipale 8515 → 8618",
        ] {
            assert!(
                text.contains(expected),
                "« {expected} » missing from:\n{text}"
            );
        }
        assert!(!text.contains("Amanlis (SIREN"), "{text}");
        assert!(text.contains("Amanlis : "), "{text}");
        assert!(!text.contains("Communes ajoutées"), "{text}");
        assert_eq!(plan.mergers.len(), 1);
        assert_eq!(plan.mergers[0].org, chance);
        assert_eq!(plan.mergers[0].into.siren, "200085884");
        // Janzé keeps its EPCI; Amanlis (no EPCI on the platform) gets Roche aux Fées.
        let janze_update = plan.updates.iter().find(|u| u.org == janze).unwrap();
        assert_eq!(janze_update.epci, None);
        assert_eq!(janze_update.population, Some((Some(8702), 8807)));
        // The JSON kept with the import reads back the same.
        let json = serde_json::to_string(&plan.summary).unwrap();
        assert_eq!(
            serde_json::from_str::<Summary>(&json).unwrap(),
            plan.summary
        );
    }

    #[test]
    fn long_lists_are_cut_and_no_member_is_said_so() {
        let mut s = Summary {
            source: "f.csv".into(),
            removed: LISTED + 5,
            ..Summary::default()
        };
        s.removed_names = (0..LISTED).map(|i| format!("Commune {i}")).collect();
        let text = summary_text(&s);
        assert!(
            text.contains("  - Commune 19\n  … et 5 autre(s).\n"),
            "{text}"
        );
        assert!(text.contains("Membres concernés : aucun."), "{text}");
        assert!(text.contains("Organisations de la plateforme à mettre à jour : aucune."));
        assert!(text.contains("fichier importé, populations 0"));
    }
}
