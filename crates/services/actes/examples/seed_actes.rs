//! Fills a migrated Bouquet database with many actes, for `bench/actes/list.sh`.
//!
//! ```text
//! cargo run --release -p bouquet-actes --example seed_actes -- \
//!     --database-url sqlite:///tmp/x/bouquet.db --count 1000000 [--target 213500051] [--share 0.01]
//! ```
//!
//! The actes are spread over the member organisations already in the database (run
//! `bouquet demo --scale` first): `--share` of them go to the `--target` organisation (the one
//! the bench reads), the rest round-robin to the others. Objets are drawn from a few dozen
//! realistic sentences (one in 40 mentions the "cantine"), decision dates and changes span ten
//! years, most actes are acquitted. Every acte is indexed for full-text search exactly as the
//! service does it (kind "acte", numéro and objet). Pieces and timelines are not written: the
//! list and the search do not read them. Deterministic: the same arguments give the same rows.

use std::time::Instant;

use bouquet_store::bulk::{self, int, opt_text, text};
use bouquet_store::db::DbOptions;
use bouquet_store::query::Arg;
use bouquet_store::search::{self, Doc};
use bouquet_store::{Db, run};

const OBJETS: [&str; 40] = [
    "Tarifs de la cantine scolaire pour l'année {y}",
    "Subvention à l'association {a}",
    "Travaux de voirie rue {r}",
    "Budget primitif {y}",
    "Décision modificative n° {n} du budget principal",
    "Compte administratif {y}",
    "Création d'un poste d'adjoint technique",
    "Modification du tableau des effectifs",
    "Convention avec le syndicat départemental d'énergie",
    "Vente d'une parcelle communale lieu-dit {r}",
    "Acquisition d'un terrain pour l'extension du cimetière",
    "Règlement intérieur de la salle polyvalente",
    "Tarifs de location de la salle des fêtes {y}",
    "Adhésion au groupement de commandes pour la fourniture d'électricité",
    "Désignation des délégués au syndicat des eaux",
    "Indemnités de fonction des élus",
    "Arrêté de circulation temporaire rue {r}",
    "Arrêté de voirie : permission de stationnement",
    "Nomination d'un agent stagiaire",
    "Avancement de grade d'un adjoint administratif",
    "Révision du plan local d'urbanisme",
    "Droit de préemption urbain sur la parcelle {n}",
    "Contrat d'entretien de l'éclairage public",
    "Marché de travaux de rénovation de l'école",
    "Avenant n° {n} au marché de restauration scolaire",
    "Fonds de concours de la communauté de communes",
    "Participation aux frais de scolarité des communes voisines",
    "Taxe d'aménagement : taux et exonérations",
    "Taux des taxes foncières {y}",
    "Emprunt auprès de la Banque des territoires",
    "Garantie d'emprunt pour le bailleur social",
    "Rapport annuel sur le prix et la qualité du service d'assainissement",
    "Dénomination de la rue {r}",
    "Numérotage des habitations du lotissement {r}",
    "Convention de mise à disposition du personnel",
    "Recrutement d'agents contractuels pour l'été",
    "Motion de soutien aux agriculteurs",
    "Don d'un particulier à la commune",
    "Admission en non-valeur de créances irrécouvrables",
    "Régie de recettes de la bibliothèque",
];
const ASSOCIATIONS: [&str; 8] = [
    "des parents d'élèves",
    "du comité des fêtes",
    "de football",
    "des anciens combattants",
    "de la bibliothèque",
    "de gymnastique",
    "du club des aînés",
    "de théâtre",
];
const RUES: [&str; 8] = [
    "de l'Église",
    "du Stade",
    "des Écoles",
    "de la Mairie",
    "du Moulin",
    "des Lavandières",
    "de la Forge",
    "du Presbytère",
];
const MATIERES: [&str; 12] = [
    "7.1", "7.1.2", "7.5", "4.1", "4.2", "3.1", "3.2", "1.1", "2.1", "5.3", "6.1", "8.1",
];
const NATURES: [&str; 6] = ["DE", "DE", "DE", "AR", "AI", "CC"];

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn objet(rng: &mut Rng, year: i64) -> String {
    OBJETS[rng.below(OBJETS.len())]
        .replace("{y}", &year.to_string())
        .replace("{a}", ASSOCIATIONS[rng.below(ASSOCIATIONS.len())])
        .replace("{r}", RUES[rng.below(RUES.len())])
        .replace("{n}", &(1 + rng.below(12)).to_string())
}

fn arg(name: &str, args: &[String]) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = arg("--database-url", &args).ok_or("--database-url manquant")?;
    let count: usize = arg("--count", &args).ok_or("--count manquant")?.parse()?;
    let target = arg("--target", &args).unwrap_or_else(|| "213500051".into());
    let share: f64 = arg("--share", &args)
        .unwrap_or_else(|| "0.01".into())
        .parse()?;
    let db = Db::connect(&url, &DbOptions::default()).await?;
    let (target_id, others, user) = {
        let mut conn = db.read().await?;
        let target_id: String = run!(&mut conn, |c| sqlx::query_scalar(
            "SELECT id FROM organisations WHERE siren = $1"
        )
        .bind(&target)
        .fetch_one(c)
        .await)?;
        let others: Vec<String> = run!(&mut conn, |c| {
            sqlx::query_scalar(
            "SELECT id FROM organisations WHERE kind <> 'entreprise' AND siren <> $1 ORDER BY id"
        )
        .bind(&target)
        .fetch_all(c)
        .await
        })?;
        let user: String = run!(&mut conn, |c| sqlx::query_scalar(
            "SELECT id FROM users ORDER BY created_at LIMIT 1"
        )
        .fetch_one(c)
        .await)?;
        (target_id, others, user)
    };
    if others.is_empty() {
        return Err("aucune autre organisation : lancez d'abord `bouquet demo --scale`".into());
    }
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Ten years of changes, ending on 2026-11-01 (microseconds).
    let end: i64 = 1_793_491_200_000_000;
    let span: i64 = 10 * 365 * 86_400 * 1_000_000;
    let every = (1.0 / share.clamp(0.000_001, 1.0)).round() as usize;
    let chunk = 20_000;
    let mut done = 0;
    while done < count {
        let n = chunk.min(count - done);
        let mut rows: Vec<Vec<Arg>> = Vec::with_capacity(n);
        let mut docs = Vec::with_capacity(n);
        for i in done..done + n {
            let org = if i % every == 0 {
                target_id.clone()
            } else {
                others[i % others.len()].clone()
            };
            let at = end - span + (span / count as i64) * i as i64;
            let year = 2016 + (i as i64 * 10 / count as i64);
            let day = 1 + rng.below(28);
            let month = 1 + rng.below(12);
            let decision = format!("{year}-{month:02}-{day:02}");
            let nature = NATURES[rng.below(NATURES.len())];
            let numero = format!("B{i:08}");
            let objet = objet(&mut rng, year);
            let id = bouquet_kernel::ids::new_id().to_string();
            let org_id: bouquet_kernel::OrgId = org.parse()?;
            docs.push(Doc {
                org: Some(org_id),
                kind: bouquet_actes::actes::SEARCH_KIND,
                object_id: id.clone(),
                text: bouquet_actes::actes::search_text(org_id, &numero, &objet),
            });
            let recent = i + 200 > count;
            rows.push(vec![
                text(id),
                text(org),
                text(if recent { "brouillon" } else { "acquitte" }),
                text(nature),
                text(numero),
                text(objet),
                text(MATIERES[rng.below(MATIERES.len())]),
                text(decision),
                Arg::Bool(false),
                Arg::Bool(false),
                text(user.as_str()),
                int(at),
                int(at),
                int(1),
                opt_text(None::<String>),
            ]);
        }
        let mut tx = db.begin().await?;
        bulk::insert(
            &mut tx,
            "INSERT INTO actes (id, org_id, status, nature, numero, objet, matiere, decision_date, \
             document_papier, alert_sent, created_by, created_at, updated_at, version, precedent_id)",
            &rows,
            "",
        )
        .await?;
        search::index_many(&mut tx, &docs).await?;
        tx.commit().await?;
        done += n;
        eprintln!("{done} actes ({:.1} s)", started.elapsed().as_secs_f64());
    }
    // PostgreSQL's autovacuum would analyse the new rows soon; do it now. SQLite is left as
    // Bouquet leaves it (no ANALYZE anywhere), so that the plans are those of production.
    if !url.starts_with("sqlite") {
        let mut tx = db.begin().await?;
        bouquet_store::exec!(&mut tx, sqlx::query("ANALYZE"))?;
        tx.commit().await?;
    }
    println!(
        "{count} actes créés en {:.1} s ({} organisations, {:.1} % pour {target})",
        started.elapsed().as_secs_f64(),
        others.len() + 1,
        100.0 * share
    );
    db.close().await;
    Ok(())
}
