//! Bench of the @CTES format (run by `bench/actes/run.sh`, release build): builds N
//! transmissions (Acte XML + envelope, varied content: six natures, accents and typographic
//! characters, 0–4 annexes with their typologies, matières of the 2019 classification), writes
//! them to a temporary folder, validates every file with `xsd::validate` (libxml2, schema
//! parsed once), then runs `xmllint --noout --schema actesv1_1.xsd f1 … fN` (one process, the
//! schema parsed once) on the same files, in the same run. Prints the times and ratios.
//!
//! Usage: actes_bench [N] (default 1000)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use bouquet_format_actes::{
    Classification, Collectivite, DonneesActe, EnveloppeCl, Message, Nature, Referent,
    TransactionBase, build, enveloppe_name, pack, xsd,
};
use jiff::civil::{Date, date};

/// xorshift64*: deterministic variety without a dependency.
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
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const COMMUNES: [(&str, &str, &str); 6] = [
    ("213500051", "035", "Saint-Aubin-d’Aubigné"),
    ("213502388", "035", "Rennes"),
    ("212000046", "02A", "Ajaccio"),
    ("219740115", "974", "Saint-Denis"),
    ("210600730", "006", "Èze"),
    ("214400152", "044", "Le Cellier"),
];

const OBJETS: [&str; 12] = [
    "Approbation du compte administratif {y} du budget principal",
    "Tarifs de la restauration scolaire pour l’année {y}–{z}",
    "Subvention à l’association « Les Amis de {c} » pour {y}",
    "Recrutement d'un agent contractuel au service technique (remplacement)",
    "Convention de mise à disposition de la salle polyvalente avec le comité des fêtes",
    "Décision modificative n° {n} — budget annexe de l'eau et de l'assainissement",
    "Dénomination de la voie « Rue de l’Église » et numérotage des habitations",
    "Acquisition de la parcelle cadastrée section AB n° {n} au prix de {n}0 000 €",
    "Arrêté portant réglementation de la circulation pendant les travaux de voirie",
    "Indemnités de fonction du maire, des adjoints et des conseillers délégués",
    "Vœu relatif au maintien du bureau de poste et des services publics de proximité",
    "Marché de travaux : rénovation énergétique de l'école élémentaire – lot n° {n}",
];

fn objet(rng: &mut Rng, year: i16, commune: &str) -> String {
    let mut s = rng
        .pick(&OBJETS)
        .replace("{y}", &year.to_string())
        .replace("{z}", &(year + 1).to_string())
        .replace("{c}", commune)
        .replace("{n}", &(1 + rng.below(40)).to_string());
    // Some long ones, as real objets are (within the 499 characters).
    if rng.below(4) == 0 {
        s.push_str(" ; vu le code général des collectivités territoriales, notamment ses articles L. 2121-29 et L. 2122-22, vu l'avis favorable de la commission des finances réunie le 3 décembre, après en avoir délibéré, le conseil municipal adopte la proposition à l'unanimité des membres présents et représentés");
    }
    s
}

struct Transmission {
    acte_name: String,
    acte: Message,
    enveloppe_name: String,
    enveloppe: Message,
    pieces: Vec<String>,
}

fn transmissions(n: usize) -> Vec<Transmission> {
    let classification = Classification::demo();
    let matieres: Vec<Vec<u32>> = classification
        .flat()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.len() >= 2)
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut serials: std::collections::HashMap<(String, Date), u32> = Default::default();
    (0..n)
        .map(|i| {
            let (siren, dept, commune) = *rng.pick(&COMMUNES);
            let nature = *rng.pick(&Nature::ALL);
            let year = 2026;
            let day = date(year, 1 + rng.below(12) as i8, 1 + rng.below(28) as i8);
            let prefix = match nature {
                Nature::DE => "DEL",
                Nature::AR | Nature::AI => "ARR",
                Nature::CC => "CONV",
                Nature::BF => "BUD",
                Nature::AU => "DIV",
            };
            let numero = format!("{prefix}_{year}_{:03}", i % 1000);
            let base = TransactionBase::new(dept, siren, day, &numero, nature, (1, 1));
            let typologies = classification.typologies(nature);
            let main = base.piece_name(Some(classification.default_typology(nature)), 1, "pdf");
            let annexes: Vec<String> = (0..rng.below(5))
                .map(|k| base.piece_name(Some(&rng.pick(typologies).code), k as u32 + 2, "pdf"))
                .collect();
            let acte = Message::Acte(DonneesActe {
                date: day,
                numero_interne: numero.clone(),
                nature,
                matieres: rng.pick(&matieres).clone(),
                objet: objet(&mut rng, year, commune),
                precedent_id_acte: None,
                classification_date: classification.date,
                document: main.clone(),
                annexes: annexes.clone(),
                document_papier: Some(rng.below(10) == 0),
            });
            let sent = day.tomorrow().unwrap_or(day);
            let serial = serials.entry((siren.to_owned(), sent)).or_insert(0);
            *serial += 1;
            let acte_name = base.message_name();
            let enveloppe = Message::EnveloppeCLMISILL(EnveloppeCl {
                collectivite: Collectivite {
                    siren: siren.to_owned(),
                    departement: dept.to_owned(),
                    arrondissement: 1 + rng.below(4) as u8,
                    nature: "31".to_owned(),
                },
                referent: Some(Referent {
                    nom: Some(format!("Secrétariat de mairie de {commune}")),
                    telephone: Some(format!(
                        "02 99 {:02} {:02} {:02}",
                        rng.below(100),
                        rng.below(100),
                        rng.below(100)
                    )),
                    email: Some(format!("mairie.{siren}@communes-exemple.fr")),
                }),
                adresses_retour: vec!["actes@bouquet-exemple.fr".to_owned()],
                formulaires: vec![acte_name.clone()],
            });
            Transmission {
                acte_name,
                acte,
                enveloppe_name: enveloppe_name(siren, sent, *serial),
                enveloppe,
                pieces: std::iter::once(main).chain(annexes).collect(),
            }
        })
        .collect()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let list = transmissions(n);

    // 1. Building: the two XML of each transmission (checks, transliteration, ISO-8859-1).
    let start = Instant::now();
    let mut built: Vec<(String, Vec<u8>)> = Vec::with_capacity(2 * n);
    for t in &list {
        built.push((t.acte_name.clone(), build(&t.acte).expect("acte")));
        built.push((
            t.enveloppe_name.clone(),
            build(&t.enveloppe).expect("enveloppe"),
        ));
    }
    let build_time = start.elapsed();
    let bytes: usize = built.iter().map(|(_, b)| b.len()).sum();

    // The archives too (flat tar, gzip -9), with a 30 kB placeholder for each PDF.
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n".repeat(700);
    let start = Instant::now();
    let mut archive_bytes = 0usize;
    for (t, pair) in list.iter().zip(built.chunks(2)) {
        let mut files: Vec<(&str, &[u8])> =
            vec![(&pair[1].0, &pair[1].1), (&pair[0].0, &pair[0].1)];
        for p in &t.pieces {
            files.push((p, &pdf));
        }
        archive_bytes += pack(&files).expect("pack").len();
    }
    let pack_time = start.elapsed();

    // 2. The same files on disk.
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut paths: Vec<PathBuf> = Vec::with_capacity(built.len());
    for (name, bytes) in &built {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        paths.push(path);
    }
    for (name, bytes) in xsd::schema_files() {
        std::fs::write(dir.path().join(name), bytes).expect("schema");
    }

    // 3. Ours: schema parsed once, then each file read from disk and validated.
    let start = Instant::now();
    xsd::init().expect("schema");
    let init_time = start.elapsed();
    let mut invalid = 0;
    for p in &paths {
        let bytes = std::fs::read(p).expect("read");
        if xsd::validate(&bytes).is_err() {
            invalid += 1;
        }
    }
    let ours = start.elapsed();

    // Ours, on 2 threads (the schema shared read-only).
    let start = Instant::now();
    let halves: Vec<&[PathBuf]> = paths.chunks(paths.len().div_ceil(2)).collect();
    let invalid_par: usize = std::thread::scope(|s| {
        let handles: Vec<_> = halves
            .iter()
            .map(|half| {
                s.spawn(move || {
                    half.iter()
                        .filter(|p| xsd::validate(&std::fs::read(p).expect("read")).is_err())
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    let ours_par = start.elapsed();

    // 4. xmllint, one invocation on the same files.
    let start = Instant::now();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(dir.path().join("actesv1_1.xsd"))
        .args(&paths)
        .output()
        .expect("xmllint");
    let lint = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lint_valid = stderr.lines().filter(|l| l.ends_with(" validates")).count();

    println!(
        "RESULT transmissions={n} files={} xml_bytes={bytes} build_ms={:.1} pack_ms={:.1} archive_bytes={archive_bytes} schema_ms={:.2} ours_ms={:.1} ours_2threads_ms={:.1} xmllint_ms={:.1} invalid_ours={invalid} invalid_ours_2threads={invalid_par} xmllint_valid={lint_valid} xmllint_exit={}",
        paths.len(),
        ms(build_time),
        ms(pack_time),
        ms(init_time),
        ms(ours),
        ms(ours_par),
        ms(lint),
        out.status.code().unwrap_or(-1),
    );
}
