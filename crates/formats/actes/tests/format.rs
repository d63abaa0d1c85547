//! The @CTES format against the real world: the real `xmllint` on every message we build, the
//! real samples of S²LOW, STELA and Pastell, the real STELA archive, the system `tar`, and
//! crafted attacks (traversal, links, bombs, XXE).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use bouquet_format_actes::{
    Classification, Collectivite, CourrierPref, DonneesActe, EmetteurPref, EnveloppeCl,
    EnveloppePref, FileName, FormatError, Limits, Message, Nature, Referent, TransactionBase,
    anomalie_name, archive_name, build, check_id_acte, check_numero_interne, check_objet,
    enveloppe_name, enveloppe_pref_name, id_acte, pack, parse_file_name, parse_message,
    transliterate, unpack, xsd,
};
use jiff::civil::{Date, date};

fn standards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../standards/actes")
}

fn xsd_avec() -> PathBuf {
    standards().join("xsd/ministere-v1.1-avec-typologie/actesv1_1.xsd")
}

fn xsd_sans() -> PathBuf {
    standards().join("xsd/ministere-v1.1-sans-typologie/actesv1_1.xsd")
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(standards().join("samples").join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs the real `xmllint --noout --schema` on the bytes; (valid, what it printed).
fn xmllint(schema: &Path, xml: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("message.xml");
    std::fs::write(&file, xml).expect("write");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint is installed (libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_valid(what: &str, xml: &[u8]) {
    let (ok, out) = xmllint(&xsd_avec(), xml);
    assert!(
        ok,
        "xmllint refuses {what}: {out}\n{}",
        String::from_utf8_lossy(xml)
    );
    assert_eq!(xsd::validate(xml), Ok(()), "our validation refuses {what}");
}

const ID: &str = "035-213500051-20261207-DEL_2026_12-DE";

fn courrier() -> CourrierPref {
    CourrierPref {
        id_acte: ID.to_owned(),
        date_courrier_pref: date(2026, 12, 20),
    }
}

fn acte() -> DonneesActe {
    let base = TransactionBase::new(
        "035",
        "213500051",
        date(2026, 12, 7),
        "DEL_2026_12",
        Nature::DE,
        (1, 1),
    );
    DonneesActe {
        date: date(2026, 12, 7),
        numero_interne: "DEL_2026_12".to_owned(),
        nature: Nature::DE,
        matieres: vec![7, 1, 2],
        objet:
            "Budget primitif 2027 : vote des taux & tarifs <communaux> « école » \"cantine\" l'été"
                .to_owned(),
        precedent_id_acte: Some("035-213500051-20261130-DEL_2026_11-DE".to_owned()),
        classification_date: date(2019, 4, 18),
        document: base.piece_name(Some("99_DE"), 1, "pdf"),
        annexes: vec![
            base.piece_name(Some("99_SE"), 2, "p7s"),
            base.piece_name(Some("99_DE"), 3, "pdf"),
        ],
        document_papier: Some(false),
    }
}

fn collectivite() -> Collectivite {
    Collectivite {
        siren: "213500051".to_owned(),
        departement: "035".to_owned(),
        arrondissement: 1,
        nature: "31".to_owned(),
    }
}

fn enveloppe_cl() -> EnveloppeCl {
    EnveloppeCl {
        collectivite: collectivite(),
        referent: Some(Referent {
            nom: Some("Agnès Le Gall".to_owned()),
            telephone: Some("02 99 00 00 00".to_owned()),
            email: Some("secretariat@mairie-exemple.fr".to_owned()),
        }),
        adresses_retour: vec![
            "actes@bouquet-exemple.fr".to_owned(),
            "secours.actes@bouquet-exemple.fr".to_owned(),
        ],
        formulaires: vec!["035-213500051-20261207-DEL_2026_12-DE-1-1_0.xml".to_owned()],
    }
}

/// One message of each of the 24 kinds, with Latin-1 text only (so that they read back equal).
fn every_message() -> Vec<Message> {
    let c = courrier();
    let doc = |code: &str| format!("035-213500051-20261207-DEL_2026_12-DE-{code}_1.pdf");
    vec![
        Message::Acte(acte()),
        Message::Acte(DonneesActe {
            matieres: vec![1, 1, 1, 1, 1],
            precedent_id_acte: None,
            annexes: Vec::new(),
            document_papier: Some(true),
            ..acte()
        }),
        Message::Acte(DonneesActe { matieres: vec![5, 2], document_papier: None, ..acte() }),
        Message::EnveloppeCLMISILL(enveloppe_cl()),
        Message::EnveloppeCLMISILL(EnveloppeCl { referent: None, ..enveloppe_cl() }),
        Message::ReponseCourrierSimple { courrier: c.clone(), document: doc("2-2") },
        Message::ARDemandePieceComplementaire { courrier: c.clone() },
        Message::RefusPieceComplementaire { courrier: c.clone(), document: doc("3-3") },
        Message::PieceComplementaire { courrier: c.clone(), documents: vec![doc("3-4"), doc("3-4").replace("_1.", "_2.")] },
        Message::ARLettreObservations { courrier: c.clone() },
        Message::RejetLettreObservations { courrier: c.clone(), document: doc("4-3") },
        Message::ReponseLettreObservations { courrier: c.clone(), document: doc("4-4") },
        Message::Annulation { id_acte: ID.to_owned() },
        Message::DemandeClassification { date_classification: Some(date(2019, 4, 18)) },
        Message::DemandeClassification { date_classification: None },
        Message::EnveloppeMISILLCL(EnveloppePref {
            emetteur: EmetteurPref::SousPrefecture { departement: "035".to_owned(), arrondissement: 1 },
            referent: Some(Referent { nom: Some("Préfecture d'Ille-et-Vilaine".to_owned()), telephone: None, email: None }),
            formulaires: vec!["035-213500051-20261207-DEL_2026_12-DE-1-2_1.xml".to_owned()],
            destinataire_siren: "213500051".to_owned(),
        }),
        Message::EnveloppeMISILLCL(EnveloppePref {
            emetteur: EmetteurPref::Prefecture { departement: "02A".to_owned() },
            referent: None,
            formulaires: vec!["02A-212000046----7-2_3.xml".to_owned()],
            destinataire_siren: "212000046".to_owned(),
        }),
        Message::EnveloppeMISILLCL(EnveloppePref {
            emetteur: EmetteurPref::Sgar { departement: "974".to_owned() },
            referent: None,
            formulaires: vec!["x_1.xml".to_owned()],
            destinataire_siren: "219740115".to_owned(),
        }),
        Message::ARActe {
            id_acte: ID.to_owned(),
            date_reception: date(2026, 12, 8),
            acte_recu: acte(),
            classification_date_en_cours: date(2019, 4, 18),
        },
        Message::AnomalieActe {
            date: date(2026, 12, 8),
            nature: "002".to_owned(),
            detail: Some("ODT-VERIF-01 : Votre acte a été transmis avec une date de classification qui n'est pas à jour".to_owned()),
            acte_recu: acte(),
            classification_date_en_cours: date(2026, 12, 1),
        },
        Message::AnomalieEnveloppe {
            date: date(2026, 12, 8),
            nature: "5".to_owned(),
            detail: Some("BQT-EACT--213500051--20261207-1.tar.gz -> PREF-VERIF-02 : Votre numéro de SIREN n'est pas encore enregistré".to_owned()),
            enveloppe_recue: enveloppe_cl(),
        },
        Message::CourrierSimple { courrier: c.clone(), document: doc("2-1") },
        Message::DemandePieceComplementaire {
            courrier: c.clone(),
            description_pieces: "Le plan de financement et l'avis du comité technique.".to_owned(),
            document: doc("3-1"),
        },
        Message::ARPieceComplementaire { date_reception: date(2026, 12, 22), courrier: c.clone() },
        Message::LettreObservations {
            courrier: c.clone(),
            motif: "Incompétence de l'organe délibérant".to_owned(),
            document: doc("4-1"),
        },
        Message::ARReponseRejetLettreObservations { date_reception: date(2026, 12, 23), courrier: c.clone() },
        Message::DefereTA {
            id_acte: ID.to_owned(),
            date_depot: date(2027, 1, 15),
            nature_illegalite: "Vice de procédure".to_owned(),
            pieces_jointes: vec![doc("5-1"), doc("5-1").replace("_1.", "_2.")],
        },
        Message::DefereTA {
            id_acte: ID.to_owned(),
            date_depot: date(2027, 1, 15),
            nature_illegalite: "Autre".to_owned(),
            pieces_jointes: Vec::new(),
        },
        Message::ARAnnulation { id_acte: ID.to_owned(), date_reception: date(2027, 1, 2) },
        Message::RetourClassification(Classification::demo()),
        Message::ReponseClassificationSansChangement { date_classification: date(2019, 4, 18) },
    ]
}

#[test]
fn every_built_message_validates_with_xmllint_and_reads_back_equal() {
    let messages = every_message();
    let mut roots: Vec<&str> = messages.iter().map(Message::root).collect();
    roots.sort_unstable();
    roots.dedup();
    assert_eq!(roots.len(), 24, "one message of each kind: {roots:?}");
    for m in &messages {
        let xml = build(m).unwrap_or_else(|e| panic!("{}: {e}", m.root()));
        assert!(
            xml.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<actes:"),
            "{}: prologue and prefix",
            m.root()
        );
        assert_valid(m.root(), &xml);
        assert_eq!(
            &parse_message(&xml).expect("reads back"),
            m,
            "{} reads back equal",
            m.root()
        );
        assert_eq!(m.to_xml().as_deref(), Ok(xml.as_slice()));
        let json = serde_json::to_string(m).expect("JSON");
        assert_eq!(
            &serde_json::from_str::<Message>(&json).expect("from JSON"),
            m,
            "{json}"
        );
    }
}

#[test]
fn built_xml_is_latin1_escaped_and_transliterated() {
    let m = Message::Acte(DonneesActe {
        objet: "L’œuvre coûte 5 € — « ça » & <b>“gras”</b>…".to_owned(),
        ..acte()
    });
    let xml = build(&m).expect("built");
    assert_valid("acte with typographic characters", &xml);
    let text: String = xml.iter().map(|&b| char::from(b)).collect();
    assert!(
        text.contains("<actes:Objet>L'oeuvre co\u{fb}te 5 EUR - \u{ab} \u{e7}a \u{bb} &amp; &lt;b&gt;\"gras\"&lt;/b&gt;...</actes:Objet>"),
        "{text}"
    );
    // Every attribute is prefixed; the namespaces are declared on the root as in the samples.
    assert!(text.contains(
        "<actes:Acte xmlns:actes=\"http://www.interieur.gouv.fr/ACTES#v1.1-20040216\" xmlns:insee=\"http://xml.insee.fr/schema\""
    ));
    assert!(text.contains(
        "actes:Date=\"2026-12-07\" actes:NumeroInterne=\"DEL_2026_12\" actes:CodeNatureActe=\"1\""
    ));
    assert!(text.contains("<actes:Annexes actes:Nombre=\"2\">"));
    assert!(text.contains("<actes:DocumentPapier>N</actes:DocumentPapier>"));
    let Message::Acte(back) = parse_message(&xml).expect("reads back") else {
        panic!("an Acte")
    };
    assert_eq!(
        back.objet,
        transliterate("L’œuvre coûte 5 € — « ça » & <b>“gras”</b>…")
    );

    // Quotes and line breaks in attributes survive; the envelope's SIREN is `insee:`.
    let e = build(&Message::EnveloppeCLMISILL(enveloppe_cl())).expect("built");
    let text: String = e.iter().map(|&b| char::from(b)).collect();
    assert!(text.contains("<actes:IDCL insee:SIREN=\"213500051\" actes:Departement=\"035\" actes:Arrondissement=\"1\" actes:Nature=\"31\"/>"));
    assert!(text.contains("<actes:Nom>Agn\u{e8}s Le Gall</actes:Nom>"));
    let c = Classification {
        natures: vec![bouquet_format_actes::NatureActe {
            code: 1,
            libelle: "Délibérations \"spéciales\"\tet\nautres".to_owned(),
            type_abrege: "DE".to_owned(),
            typologies: vec![bouquet_format_actes::TypePiece {
                code: "99_DE".to_owned(),
                libelle: "Délibération".to_owned(),
            }],
        }],
        ..Classification::demo()
    };
    let xml = build(&Message::RetourClassification(c.clone())).expect("built");
    assert_valid("classification with quotes and tabs in attributes", &xml);
    assert_eq!(
        Classification::parse(&xml).expect("reads back").natures[0].libelle,
        "Délibérations \"spéciales\"\tet\nautres",
        "character references survive attribute normalisation"
    );
}

#[test]
fn deliberately_broken_messages_fail_xmllint_and_ours() {
    let good = build(&Message::Acte(acte())).expect("built");
    let text: String = good.iter().map(|&b| char::from(b)).collect();
    let broken: Vec<(&str, String)> = vec![
        (
            "no DocumentPapier",
            text.replace("  <actes:DocumentPapier>N</actes:DocumentPapier>\n", ""),
        ),
        (
            "nature not a number",
            text.replace("actes:CodeNatureActe=\"1\"", "actes:CodeNatureActe=\"DE\""),
        ),
        (
            "numero of 16 characters",
            text.replace(
                "actes:NumeroInterne=\"DEL_2026_12\"",
                "actes:NumeroInterne=\"DEL_2026_12_ABCD\"",
            ),
        ),
        (
            "unprefixed attribute",
            text.replace("actes:Date=\"2026-12-07\"", "Date=\"2026-12-07\""),
        ),
        ("bad date", text.replace("2019-04-18", "2019-04-31")),
        (
            "objet of 501 characters",
            text.replace("Budget primitif", &"x".repeat(480)),
        ),
        (
            "matière 2 missing",
            text.replace("  <actes:CodeMatiere2 actes:CodeMatiere=\"1\"/>\n", ""),
        ),
        (
            "not well-formed",
            text.replace("</actes:Objet>", "</actes:Objt>"),
        ),
    ];
    for (what, xml) in broken {
        let bytes: Vec<u8> = xml.chars().map(|c| c as u32 as u8).collect();
        assert_ne!(bytes, good, "{what}: the mutation applies");
        let (ok, out) = xmllint(&xsd_avec(), &bytes);
        assert!(!ok, "xmllint accepts {what}");
        let ours = xsd::validate(&bytes).expect_err(what);
        assert!(
            !ours.is_empty() && ours.iter().all(|l| l.starts_with("ligne ")),
            "{what}: {ours:?}"
        );
        // The same engine: the same detail as xmllint, prefixed in French.
        let first = ours[0].split(" : ").skip(2).collect::<Vec<_>>().join(" : ");
        assert!(
            out.contains(&first),
            "{what}: xmllint says {out}, we say {ours:?}"
        );
    }
}

#[test]
fn building_refuses_values_the_schema_would_refuse() {
    let cases: Vec<(Message, &str)> = vec![
        (
            Message::Acte(DonneesActe {
                numero_interne: "del_1".to_owned(),
                ..acte()
            }),
            "majuscules",
        ),
        (
            Message::Acte(DonneesActe {
                objet: "a\nb".to_owned(),
                ..acte()
            }),
            "une seule ligne",
        ),
        (
            Message::Acte(DonneesActe {
                matieres: vec![7],
                ..acte()
            }),
            "2 à 5 niveaux",
        ),
        (
            Message::Annulation {
                id_acte: "35-213500051-20261207-X-DE".to_owned(),
            },
            "IDActe",
        ),
        (
            Message::EnveloppeCLMISILL(EnveloppeCl {
                adresses_retour: vec!["a+b@exemple.fr".to_owned()],
                ..enveloppe_cl()
            }),
            "a+b@exemple.fr",
        ),
        (
            Message::EnveloppeCLMISILL(EnveloppeCl {
                collectivite: Collectivite {
                    departement: "35".to_owned(),
                    ..collectivite()
                },
                ..enveloppe_cl()
            }),
            "Département",
        ),
        (
            Message::Unknown {
                root: "Truc".to_owned(),
                text: String::new(),
            },
            "inconnu",
        ),
    ];
    for (m, expected) in cases {
        let e = build(&m).expect_err(expected).to_string();
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn our_validation_agrees_with_xmllint_on_every_sample() {
    let mut files = Vec::new();
    for dir in [
        "pastell",
        "s2low",
        "stela",
        "stela/SIC-EACT--210600730--20180115-1",
    ] {
        for entry in std::fs::read_dir(standards().join("samples").join(dir)).expect("samples") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "xml") {
                files.push(path);
            }
        }
    }
    assert_eq!(files.len(), 24);
    let mut invalid = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("read");
        let (lint, out) = xmllint(&xsd_avec(), &bytes);
        let ours = xsd::validate(&bytes);
        assert_eq!(
            ours.is_ok(),
            lint,
            "{}: xmllint {out} / ours {ours:?}",
            path.display()
        );
        if !lint {
            invalid.push(
                path.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    invalid.sort();
    // As standards/actes/SOURCES.md records.
    assert_eq!(
        invalid,
        [
            "034-000000000-20170701-20170721D-AI-1-3_0.xml",
            "045-214502494-20170717-D201717-DE-1-1_0.xml",
            "ANO_EACT--214400152--20180925-1.xml",
            "fakeTdt_ar-actes.xml",
            "fakeTdt_classification.xml",
        ]
    );
}

#[test]
fn our_validation_is_usable_from_many_threads() {
    let good = build(&Message::Acte(acte())).expect("built");
    let bad = build(&Message::Annulation {
        id_acte: ID.to_owned(),
    })
    .expect("built")
    .iter()
    .map(|&b| if b == b'D' { b'd' } else { b })
    .collect::<Vec<u8>>();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..50).all(|_| xsd::validate(&good).is_ok() && xsd::validate(&bad).is_err())
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().expect("thread"));
        }
    });
}

#[test]
fn the_stricter_rules_satisfy_the_sans_typologie_variant_too() {
    // Our NumeroInterne and IDActe pass both XSD variants' patterns: checked on an Annulation
    // (same in both) and on an Acte without DocumentPapier (which only the other variant takes).
    for numero in [
        "A",
        "DEL_2026_12",
        "2026_DE_0001",
        "123456789012345",
        "A_B_C",
        "0",
    ] {
        check_numero_interne(numero).expect(numero);
        let id = id_acte("02A", "212000046", date(2026, 1, 31), numero, Nature::AI).expect(numero);
        check_id_acte(&id).expect(&id);
        let xml = build(&Message::Annulation {
            id_acte: id.clone(),
        })
        .expect("built");
        for schema in [xsd_avec(), xsd_sans()] {
            let (ok, out) = xmllint(&schema, &xml);
            assert!(ok, "{id} with {}: {out}", schema.display());
        }
        let acte = build(&Message::Acte(DonneesActe {
            numero_interne: numero.to_owned(),
            ..acte()
        }))
        .expect("built");
        let text: String = acte.iter().map(|&b| char::from(b)).collect();
        let without: Vec<u8> = text
            .replace("  <actes:DocumentPapier>N</actes:DocumentPapier>\n", "")
            .chars()
            .map(|c| c as u32 as u8)
            .collect();
        let (ok, out) = xmllint(&xsd_sans(), &without);
        assert!(ok, "{numero} sans typologie: {out}");
    }
    // What the *avec typologie* XSD accepts but the other refuses (`_` at an end): refused by
    // our rules and by check_id_acte.
    for numero in ["_A", "A_", "A__"] {
        assert!(check_numero_interne(numero).is_err(), "{numero}");
        let id = format!("035-213500051-20261207-{numero}-DE");
        let xml = build(&Message::Annulation {
            id_acte: id.clone(),
        })
        .expect("built");
        assert!(
            xmllint(&xsd_avec(), &xml).0,
            "{numero}: the avec typologie XSD takes it"
        );
        assert!(
            !xmllint(&xsd_sans(), &xml).0,
            "{numero}: the sans typologie XSD refuses it"
        );
        assert!(check_id_acte(&id).is_err(), "{id}");
    }
    // Lower case: both XSDs take it, S²LOW's rule (ours) does not.
    assert!(check_numero_interne("del_1").is_err());
}

#[test]
fn numero_interne_objet_and_id_acte_rules() {
    let err = |r: Result<(), FormatError>| r.expect_err("refused").to_string();
    assert!(err(check_numero_interne("ÉTÉ_2026")).contains("sans accent"));
    assert!(err(check_numero_interne("DÉL1")).contains("accentuées"));
    assert!(err(check_numero_interne("del_2026")).contains("majuscules"));
    assert!(err(check_numero_interne("_DEL1")).contains("« _ »"));
    assert!(err(check_numero_interne("DEL1_")).contains("« _ »"));
    assert!(err(check_numero_interne("ABCDEFGHIJKLMNOP")).contains("16 caractères"));
    assert!(err(check_numero_interne("DEL\n1")).contains("retour à la ligne"));
    assert!(err(check_numero_interne("DEL 1")).contains("espace"));
    assert!(err(check_numero_interne("DEL-1")).contains("« - »"));
    assert!(err(check_numero_interne("")).contains("obligatoire"));
    check_numero_interne("ABCDEFGHIJKLMNO").expect("15 characters");
    check_numero_interne("DEL_2026_12").expect("usual");
    check_numero_interne("7").expect("one digit");

    assert!(err(check_objet("")).contains("obligatoire"));
    assert!(err(check_objet("   ")).contains("obligatoire"));
    assert!(err(check_objet("Ligne 1\nLigne 2")).contains("une seule ligne"));
    assert!(err(check_objet("Ligne 1\r\nLigne 2")).contains("une seule ligne"));
    check_objet(&"é".repeat(499)).expect("499 characters, accented");
    assert!(err(check_objet(&"é".repeat(500))).contains("500 caractères"));
    // œ takes two characters once in ISO-8859-1.
    assert!(err(check_objet(&format!("{}œ", "a".repeat(498)))).contains("500 caractères"));

    assert_eq!(
        id_acte(
            "035",
            "213500051",
            date(2026, 12, 7),
            "DEL_2026_12",
            Nature::DE
        )
        .as_deref(),
        Ok("035-213500051-20261207-DEL_2026_12-DE")
    );
    assert!(id_acte("35", "213500051", date(2026, 12, 7), "X", Nature::DE).is_err());
    assert!(id_acte("035", "21350005", date(2026, 12, 7), "X", Nature::DE).is_err());
    assert!(id_acte("035", "213500051", date(2026, 12, 7), "x", Nature::DE).is_err());
    let id =
        bouquet_format_actes::IdActe::parse("02A-212000046-20260131-ABC_1-BF").expect("parsed");
    assert_eq!(
        (
            id.departement.as_str(),
            id.date,
            id.numero.as_str(),
            id.nature
        ),
        ("02A", date(2026, 1, 31), "ABC_1", Nature::BF)
    );
    assert_eq!(id.to_string(), "02A-212000046-20260131-ABC_1-BF");
    assert!(
        bouquet_format_actes::IdActe::parse("035-213500051-20261307-X-DE").is_err(),
        "month 13"
    );
    assert!(
        bouquet_format_actes::IdActe::parse("035-213500051-20261207-X-ZZ").is_err(),
        "unknown nature"
    );
    assert_eq!(
        id_acte(
            "035",
            "213500051",
            date(2026, 12, 7),
            "ABCDEFGHIJKLMNO",
            Nature::CC
        )
        .map(|s| s.len()),
        Ok(41)
    );
}

#[test]
fn natures() {
    assert_eq!(Nature::ALL.map(Nature::code), [1, 2, 3, 4, 5, 6]);
    for n in Nature::ALL {
        assert_eq!(Nature::from_code(u32::from(n.code())), Some(n));
        assert_eq!(Nature::from_abbrev(n.abbrev()), Some(n));
        assert!(!n.label().is_empty());
    }
    assert_eq!(Nature::DE.label(), "Délibération");
    assert_eq!(Nature::CC.default_typology(), "99_DC");
    assert_eq!(Nature::from_code(7), None);
    assert_eq!(Nature::from_abbrev("de"), None);
}

#[test]
fn naming_round_trips() {
    let d = date(2026, 12, 7);
    let base = TransactionBase::new("035", "213500051", d, "DEL_2026_12", Nature::DE, (1, 1));
    assert_eq!(
        base.to_string(),
        "035-213500051-20261207-DEL_2026_12-DE-1-1"
    );
    assert_eq!(
        base.message_name(),
        "035-213500051-20261207-DEL_2026_12-DE-1-1_0.xml"
    );
    assert_eq!(
        base.piece_name(Some("99_DE"), 1, "PDF"),
        "99_DE-035-213500051-20261207-DEL_2026_12-DE-1-1_1.pdf"
    );
    assert_eq!(
        base.piece_name(None, 2, ".pdf"),
        "035-213500051-20261207-DEL_2026_12-DE-1-1_2.pdf"
    );
    assert_eq!(TransactionBase::parse(&base.to_string()), Ok(base.clone()));
    assert_eq!(
        parse_file_name(&base.message_name()),
        Ok(FileName::Message {
            base: base.clone(),
            n: 0
        })
    );
    assert_eq!(
        parse_file_name(&base.piece_name(Some("99_SE"), 3, "p7s")),
        Ok(FileName::Piece {
            type_pj: Some("99_SE".to_owned()),
            base: base.clone(),
            n: 3,
            extension: "p7s".to_owned()
        })
    );
    let classification = TransactionBase::classification("044", "214400152");
    assert_eq!(classification.message_name(), "044-214400152----7-1_0.xml");
    assert_eq!(
        TransactionBase::parse("044-214400152----7-1"),
        Ok(classification)
    );

    let env = enveloppe_name("213500051", d, 3);
    assert_eq!(env, "EACT--213500051--20261207-3.xml");
    assert_eq!(
        parse_file_name(&env),
        Ok(FileName::Enveloppe {
            appli: "EACT".to_owned(),
            siren: "213500051".to_owned(),
            date: d,
            serial: 3
        })
    );
    let arc = archive_name(bouquet_format_actes::TRIGRAMME, "213500051", d, 3);
    assert_eq!(arc, "BQT-EACT--213500051--20261207-3.tar.gz");
    assert_eq!(
        parse_file_name(&arc),
        Ok(FileName::Archive {
            trigramme: "BQT".to_owned(),
            appli: "EACT".to_owned(),
            siren: "213500051".to_owned(),
            date: d,
            serial: 3
        })
    );
    let pref = enveloppe_pref_name("035", 1, "213500051", d, 12);
    assert_eq!(pref, "EACT--SPREF0351-213500051-20261207-12.xml");
    assert!(matches!(
        parse_file_name(&pref),
        Ok(FileName::EnveloppePref {
            arrondissement: 1,
            serial: 12,
            ..
        })
    ));
    assert_eq!(anomalie_name(&env), "ANO_EACT--213500051--20261207-3.xml");
    assert!(
        matches!(parse_file_name(&anomalie_name(&env)), Ok(FileName::Anomalie(b)) if *b == parse_file_name(&env).expect("env"))
    );

    // Real names of the samples.
    for (name, ok) in [
        ("SIC-EACT--210600730--20180115-1.tar.gz", true),
        ("SLO-EACT--210703385--20170612-2.tar.gz", true),
        ("EACT--SPREF0441-214400152-20181012-9.xml", true),
        ("TACT--SPREF0011-000000000-20170725-1.xml", true),
        ("ANO_EACT--214400152--20180925-1.xml", true),
        ("044-214400152----1-3_1.xml", true),
        ("006-210600235-20180522-684-AI-1-2_5279.xml", true),
        ("044-214400152-20181106-TEST_DGCL_4-DE-6-2_10.xml", true),
        ("99_DE-006-210600235-20180522-684-AI-1-1_1.pdf", true),
        ("CO_DE-006-210600730-20180115-007-AR-1-1_1.jpg", true),
        ("01_01-044-214400152-20181012-123456-DE-1-1_2.xml", true),
        (
            "32_DP-034-491011698-20171207-CL20171227_06-DE-1-1_1.pdf",
            true,
        ),
        ("034-491011698-20181101-ACTE_Y__1-BF-1-1_0.xml", true),
        ("99_BU-034-491011698-20181101-ACTE_Y__1-BF-1-1_1.pdf", true),
        ("99_AU-034-491011698-20181101-ACTE_Y__1-BF-1-1_2.pdf", true),
        ("../EACT--213500051--20261207-3.xml", false),
        ("rapport.pdf", false),
        ("035-213500051-20261207-DEL-DE-1-1.pdf", false),
    ] {
        assert_eq!(
            parse_file_name(name).is_ok(),
            ok,
            "{name}: {:?}",
            parse_file_name(name)
        );
    }
    match parse_file_name("006-210600235-20180522-684-AI-1-2_5279.xml") {
        Ok(FileName::Message { base, n: 5279 }) => {
            assert_eq!(
                (base.numero.as_str(), base.nature, base.code),
                ("684", Some(Nature::AI), (1, 2))
            )
        }
        other => panic!("{other:?}"),
    }
    match parse_file_name("01_01-044-214400152-20181012-123456-DE-1-1_2.xml") {
        Ok(FileName::Piece { type_pj, n: 2, .. }) => assert_eq!(type_pj.as_deref(), Some("01_01")),
        other => panic!("{other:?}"),
    }
}

fn acte_of(m: Message) -> DonneesActe {
    match m {
        Message::Acte(a) => a,
        other => panic!("an Acte, not {other:?}"),
    }
}

#[test]
fn every_real_sample_parses_to_the_right_message() {
    // Pastell: S²LOW's Acte, the préfecture's ARActe, classifications.
    let a = acte_of(
        parse_message(&sample(
            "pastell/034-491011698-20171207-CL20171227_06-DE-1-1_0.xml",
        ))
        .expect("parsed"),
    );
    assert_eq!(
        (a.date, a.numero_interne.as_str(), a.nature),
        (date(2017, 12, 7), "CL20171227_06", Nature::DE)
    );
    assert_eq!(a.matieres, [3, 2]);
    assert_eq!(a.objet, "Fichier signé parapheur");
    assert_eq!(a.classification_date, date(2017, 11, 13));
    assert_eq!(
        a.document,
        "32_DP-034-491011698-20171207-CL20171227_06-DE-1-1_1.pdf"
    );
    assert_eq!(
        (a.annexes.len(), a.document_papier, a.precedent_id_acte),
        (0, Some(false), None)
    );

    match parse_message(&sample(
        "pastell/034-491011698-20171207-CL20171227_06-DE-1-2.xml",
    ))
    .expect("parsed")
    {
        Message::ARActe {
            id_acte,
            date_reception,
            acte_recu,
            classification_date_en_cours,
        } => {
            assert_eq!(id_acte, "034-491011698-20171207-CL20171227_06-DE");
            assert_eq!(date_reception, date(2017, 12, 27));
            assert_eq!(
                acte_recu.objet, "Fichier signé parapheur",
                "character reference &#xE9;"
            );
            assert_eq!(classification_date_en_cours, date(2017, 11, 13));
        }
        other => panic!("{other:?}"),
    }
    // Pastell's fake AR (invalid: an Acte inside, repeated parts) is still read, tolerantly.
    match parse_message(&sample("pastell/fakeTdt_ar-actes.xml")).expect("parsed") {
        Message::ARActe {
            id_acte,
            acte_recu,
            classification_date_en_cours,
            ..
        } => {
            assert_eq!(id_acte, "069-123456789-20130601-20130623C-AI");
            assert_eq!(
                (acte_recu.nature, acte_recu.document_papier),
                (Nature::AI, None)
            );
            assert_eq!(classification_date_en_cours, date(2008, 12, 31));
        }
        other => panic!("{other:?}"),
    }

    // S²LOW fixtures.
    match parse_message(&sample("s2low/001-000000000-20170130-TEST42-DE-3-4_0.xml"))
        .expect("parsed")
    {
        Message::PieceComplementaire {
            courrier,
            documents,
        } => {
            assert_eq!(courrier.id_acte, "032-213201601-20170616-ARP201706407-AI");
            assert_eq!(courrier.date_courrier_pref, date(2017, 6, 17));
            assert_eq!(
                documents,
                [
                    "001-000000000-20170130-TEST42-DE-3-4_1.pdf",
                    "001-000000000-20170130-TEST42-DE-3-4_2.pdf"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample(
        "s2low/034-000000000-20170701-20170721D-AI-1-3_0.xml",
    ))
    .expect("parsed")
    {
        Message::AnomalieActe {
            date: d,
            nature,
            detail,
            acte_recu,
            classification_date_en_cours,
        } => {
            assert_eq!(
                (d, nature.as_str(), detail.as_deref()),
                (date(2017, 7, 1), "2", Some("Ca ne fonctionne pas"))
            );
            assert_eq!(
                (acte_recu.numero_interne.as_str(), acte_recu.nature),
                ("20170721D", Nature::AI)
            );
            assert_eq!(classification_date_en_cours, date(2008, 12, 31));
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample(
        "s2low/034-000000000-20170701-20170725A-AI-2-1_0.xml",
    ))
    .expect("parsed")
    {
        Message::CourrierSimple { courrier, document } => {
            assert_eq!(courrier.id_acte, "034-000000000-20170701-20170725A-AI");
            assert_eq!(courrier.date_courrier_pref, date(2017, 7, 25));
            assert_eq!(document, "034-000000000-20170701-20170725A-AI-2-1_1.pdf");
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample(
        "s2low/034-000000000-20170701-20170725A-AI-5-1_0.xml",
    ))
    .expect("parsed")
    {
        Message::DefereTA {
            id_acte,
            date_depot,
            nature_illegalite,
            pieces_jointes,
        } => {
            assert_eq!(
                (id_acte.as_str(), date_depot),
                ("034-000000000-20170701-20170725A-AI", date(2017, 7, 1))
            );
            assert_eq!(nature_illegalite, "NATURE_TEST");
            assert_eq!(
                pieces_jointes,
                ["034-000000000-20170701-20170725A-AI-5-1_1.pdf"]
            );
        }
        other => panic!("{other:?}"),
    }
    let a = acte_of(
        parse_message(&sample("s2low/045-214502494-20170717-D201717-DE-1-1_0.xml"))
            .expect("parsed"),
    );
    assert_eq!(
        (a.numero_interne.as_str(), a.nature, a.document_papier),
        ("D201717", Nature::CC, None)
    );
    match parse_message(&sample("s2low/ANO_EACT--210703385--20170612-2.xml")).expect("parsed") {
        Message::AnomalieEnveloppe {
            date: d,
            nature,
            detail,
            enveloppe_recue,
        } => {
            assert_eq!((d, nature.as_str()), (date(2017, 6, 12), "5"));
            let detail = detail.expect("detail");
            assert!(detail.starts_with("SLO-EACT--210703385--20170612-2.tar.gz -> PREF-VERIF-02 : Votre numéro de SIREN"), "{detail}");
            assert_eq!(enveloppe_recue.collectivite.siren, "210703385");
            assert_eq!(enveloppe_recue.collectivite.departement, "007");
            assert_eq!(enveloppe_recue.collectivite.arrondissement, 2);
            assert_eq!(
                enveloppe_recue.formulaires,
                ["007-210703385-20170519-2017_048-DE-1-1_0.xml"]
            );
            assert_eq!(
                enveloppe_recue.referent.and_then(|r| r.nom).as_deref(),
                Some("Robert Petitpoid")
            );
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample("s2low/EACT--214502494--20170717-6.xml")).expect("parsed") {
        Message::EnveloppeCLMISILL(e) => {
            assert_eq!(
                e.collectivite,
                Collectivite {
                    siren: "214502494".to_owned(),
                    departement: "045".to_owned(),
                    arrondissement: 1,
                    nature: "31".to_owned()
                }
            );
            assert_eq!(e.adresses_retour, ["totoo@toto.org"]);
            assert_eq!(e.referent.expect("referent").telephone.as_deref(), Some(""));
            assert_eq!(
                e.formulaires,
                ["045-214502494-20170717-D201717-DE-1-1_0.xml"]
            );
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample("s2low/TACT--SPREF0011-000000000-20170725-1.xml")).expect("parsed")
    {
        Message::EnveloppeMISILLCL(e) => {
            assert_eq!(
                e.emetteur,
                EmetteurPref::SousPrefecture {
                    departement: "001".to_owned(),
                    arrondissement: 1
                }
            );
            assert_eq!(
                (e.destinataire_siren.as_str(), e.referent),
                ("000000000", None)
            );
            assert_eq!(
                e.formulaires,
                ["034-000000000-20170701-20170725A-AI-2-1_0.xml"]
            );
        }
        other => panic!("{other:?}"),
    }

    // STELA: real messages of the préfectures 06 and 44.
    match parse_message(&sample("stela/006-210600235-20180522-684-AI-1-2_5279.xml"))
        .expect("parsed")
    {
        Message::ARActe {
            id_acte,
            date_reception,
            acte_recu,
            classification_date_en_cours,
        } => {
            assert_eq!(
                (id_acte.as_str(), date_reception),
                ("006-210600235-20180522-684-AI", date(2018, 5, 28))
            );
            assert_eq!(acte_recu.objet, "Contrat à durée déterminée - Jean Dupont");
            assert_eq!(
                acte_recu.document,
                "99_DE-006-210600235-20180522-684-AI-1-1_1.pdf"
            );
            assert_eq!(acte_recu.document_papier, Some(false), "STELA writes 0");
            assert_eq!(classification_date_en_cours, date(2017, 4, 19));
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample("stela/044-214400152----1-3_1.xml")).expect("parsed") {
        Message::AnomalieActe {
            nature,
            detail,
            acte_recu,
            classification_date_en_cours,
            ..
        } => {
            assert_eq!(nature, "002");
            assert!(detail.expect("detail").starts_with(
                "ODT-VERIF-01 : Votre acte a été transmis avec une date de classification"
            ));
            assert_eq!(
                acte_recu.matieres,
                [1, 1, 1, 1],
                "CodeMatiere4 skipped in the sample"
            );
            assert_eq!(
                acte_recu.annexes,
                ["01_01-044-214400152-20181012-123456-DE-1-1_2.xml"]
            );
            assert_eq!(acte_recu.document_papier, None);
            assert_eq!(classification_date_en_cours, date(2018, 10, 10));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_message(&sample(
            "stela/044-214400152-20181106-TEST_DGCL_4-DE-6-2_10.xml"
        ))
        .expect("parsed"),
        Message::ARAnnulation {
            id_acte: "044-214400152-20181106-TEST_DGCL_4-DE".to_owned(),
            date_reception: date(2018, 11, 28)
        }
    );
    match parse_message(&sample("stela/ANO_EACT--214400152--20180925-1.xml"))
        .expect("Nature 999 parses")
    {
        Message::AnomalieEnveloppe {
            nature,
            detail,
            enveloppe_recue,
            ..
        } => {
            assert_eq!(nature, "999");
            assert!(detail.expect("detail").starts_with("ODT-VERIF-17"));
            assert_eq!(
                enveloppe_recue.formulaires,
                ["044-214400152-20180905-4365-DE-4365-DE_0.xml"]
            );
        }
        other => panic!("{other:?}"),
    }
    match parse_message(&sample("stela/EACT--SPREF0441-214400152-20181012-9.xml")).expect("parsed")
    {
        Message::EnveloppeMISILLCL(e) => {
            assert_eq!(
                e.emetteur,
                EmetteurPref::SousPrefecture {
                    departement: "044".to_owned(),
                    arrondissement: 1
                }
            );
            assert_eq!(
                e.referent.and_then(|r| r.email).as_deref(),
                Some("steladevsictiam@gmail.com")
            );
            assert_eq!(e.formulaires, ["044-214400152----1-3_1.xml"]);
            assert_eq!(e.destinataire_siren, "214400152");
        }
        other => panic!("{other:?}"),
    }
    // UTF-8 with the `ns1:`/`ns2:` prefixes of STELA's JAXB.
    let a = acte_of(
        parse_message(&sample(
            "stela/SIC-EACT--210600730--20180115-1/006-210600730-20180115-007-AR-1-1_0.xml",
        ))
        .expect("parsed"),
    );
    assert_eq!(
        (a.numero_interne.as_str(), a.nature, a.objet.as_str()),
        ("007", Nature::AR, "wolo")
    );
    assert_eq!(
        (a.document.as_str(), a.document_papier),
        ("CO_DE-006-210600730-20180115-007-AR-1-1_1.jpg", None)
    );
    match parse_message(&sample(
        "stela/SIC-EACT--210600730--20180115-1/EACT--210600730--20180115-1.xml",
    ))
    .expect("parsed")
    {
        Message::EnveloppeCLMISILL(e) => {
            assert_eq!(
                (
                    e.collectivite.siren.as_str(),
                    e.collectivite.nature.as_str()
                ),
                ("210600730", "02")
            );
            assert_eq!(e.formulaires, ["006-210600730-20180115-007-AR-1-1_0.xml"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_classification_sample_parses() {
    for (path, day, natures, typologies, level1, deepest) in [
        (
            "pastell/999-1234----7-2_1.xml",
            date(2019, 4, 18),
            6,
            115,
            9,
            3,
        ),
        (
            "pastell/999-1234----7-2_7.xml",
            date(2018, 11, 28),
            6,
            115,
            9,
            3,
        ),
        (
            "pastell/classification-exemple.xml",
            date(2019, 3, 1),
            6,
            115,
            9,
            4,
        ),
        (
            "pastell/actes-generique_classification.xml",
            date(2017, 11, 13),
            6,
            61,
            9,
            2,
        ),
        (
            "pastell/fakeTdt_classification.xml",
            date(2004, 4, 1),
            6,
            0,
            9,
            2,
        ),
        (
            "stela/exemple_codes_matieres.xml",
            date(2017, 12, 8),
            6,
            118,
            9,
            3,
        ),
    ] {
        let c = Classification::parse(&sample(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(c.date, day, "{path}");
        assert_eq!(c.natures.len(), natures, "{path}");
        assert_eq!(
            c.natures.iter().map(|n| n.typologies.len()).sum::<usize>(),
            typologies,
            "{path}"
        );
        assert_eq!(c.matieres.len(), level1, "{path}");
        let depth = c.flat().iter().map(|(p, _)| p.len()).max().unwrap_or(0);
        assert_eq!(depth, deepest, "{path}");
        assert_eq!(
            c.matiere(&[1]).map(|m| m.libelle.to_lowercase()).as_deref(),
            Some("commande publique"),
            "{path}"
        );
        assert_eq!(
            Classification::from_json(&c.to_json()).as_ref(),
            Ok(&c),
            "{path}: JSON round trip"
        );
    }
    assert!(
        Classification::parse(&sample("stela/044-214400152----1-3_1.xml"))
            .expect_err("not one")
            .to_string()
            .contains("AnomalieActe")
    );
}

#[test]
fn demo_classification() {
    let demo = Classification::demo();
    assert_eq!(demo.date, date(2019, 4, 18));
    assert_eq!(
        demo.label(&[7, 1, 2]).as_deref(),
        Some(
            "7.1.2 Délibérations afférentes aux actes budgétaires (budget primitif,budget supplémentaire,compte administratif)"
        )
    );
    assert_eq!(demo.label(&[7, 10]).as_deref(), Some("7.10 Divers"));
    assert_eq!(demo.label(&[7, 1, 99]), None);
    assert_eq!(demo.flat().len(), 291);
    assert_eq!(demo.typologies(Nature::DE).len(), 18);
    assert_eq!(demo.typologies(Nature::AR).len(), 9);
    assert_eq!(demo.typologies(Nature::AI).len(), 36);
    assert_eq!(demo.typologies(Nature::CC).len(), 47);
    assert_eq!(
        demo.typologies(Nature::BF)
            .iter()
            .map(|t| t.code.as_str())
            .collect::<Vec<_>>(),
        ["99_BU", "99_SE", "70_DE"]
    );
    assert_eq!(demo.typologies(Nature::AU).len(), 2);
    for n in Nature::ALL {
        assert_eq!(demo.default_typology(n), n.default_typology());
        assert!(demo.typology_allowed(n, "99_SE"), "{n}: signature file");
    }
    assert!(!demo.typology_allowed(Nature::BF, "99_DE"));
    assert_eq!(
        demo.typology_label(Nature::DE, "99_DE"),
        Some("Délibération")
    );
    demo.check_matieres(&[7, 1, 2]).expect("exists");
    demo.check_matieres(&[7, 1]).expect("two levels");
    assert!(
        demo.check_matieres(&[7])
            .expect_err("one level")
            .to_string()
            .contains("deux niveaux")
    );
    assert!(
        demo.check_matieres(&[7, 1, 77])
            .expect_err("unknown")
            .to_string()
            .contains("7.1.77 n'existe pas dans la classification du 18 avril 2019")
    );

    // The embedded CSVs are the real RetourClassification of that day, nothing lost.
    let mut real = Classification::parse(&sample("pastell/999-1234----7-2_1.xml")).expect("parsed");
    real.natures.sort_by_key(|n| n.code);
    fn sort(m: &mut [bouquet_format_actes::Matiere]) {
        m.sort_by_key(|m| m.code);
        for x in m {
            sort(&mut x.sous_matieres);
        }
    }
    sort(&mut real.matieres);
    let mut demo_natures = demo.natures.clone();
    for (d, r) in demo_natures.iter_mut().zip(real.natures.iter_mut()) {
        d.typologies.sort_by(|a, b| a.code.cmp(&b.code));
        r.typologies.sort_by(|a, b| a.code.cmp(&b.code));
    }
    assert_eq!(demo_natures, real.natures);
    let (demo_flat, real_flat) = (demo.flat(), real.flat());
    for (d, r) in demo_flat.iter().zip(&real_flat) {
        assert_eq!(d, r);
    }
    assert_eq!(demo_flat.len(), real_flat.len());
}

#[test]
fn unknown_roots_are_kept_and_malformed_xml_is_refused_in_french() {
    let m = parse_message(b"<?xml version=\"1.0\"?><x:Nouveau xmlns:x=\"urn:x\" x:a=\"1\"><x:B>Un  message\n inattendu</x:B><x:C>ici</x:C></x:Nouveau>")
        .expect("well-formed");
    assert_eq!(
        m,
        Message::Unknown {
            root: "Nouveau".to_owned(),
            text: "Un message inattendu ici".to_owned()
        }
    );
    assert_eq!((m.code(), m.id_acte()), (None, None));

    for (xml, expected) in [
        (&b"<a><b></a>"[..], "XML illisible"),
        (b"<a>", "incomplet"),
        (b"", "aucun élément racine"),
        (b"<a/><b/>", "après l'élément racine"),
        (b"<a>&nbsp;</a>", "non définie"),
        (
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\xe9</a>",
            "UTF-8",
        ),
        (
            b"<?xml version=\"1.0\" encoding=\"KOI9-ZZ\"?><a/>",
            "non pris en charge",
        ),
        (
            b"<actes:ARAnnulation xmlns:actes=\"urn:a\" actes:IDActe=\"x\"/>",
            "DateReception",
        ),
    ] {
        let e = parse_message(xml).expect_err(expected).to_string();
        assert!(e.contains(expected), "{e}");
    }
    // ISO-8859-1 is read byte for byte; windows-1252 through its table.
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Z>\xe9t\xe9 \x80</Z>";
    assert_eq!(
        parse_message(latin1).expect("latin1"),
        Message::Unknown {
            root: "Z".to_owned(),
            text: "été \u{80}".to_owned()
        }
    );
    let cp1252 = b"<?xml version='1.0' encoding='windows-1252'?><Z>\x80</Z>";
    assert_eq!(
        parse_message(cp1252).expect("cp1252"),
        Message::Unknown {
            root: "Z".to_owned(),
            text: "€".to_owned()
        }
    );
    let too_big = vec![b' '; bouquet_format_actes::MAX_MESSAGE_SIZE + 1];
    assert!(matches!(
        parse_message(&too_big),
        Err(FormatError::TooLarge { .. })
    ));
}

#[test]
fn xxe_and_entity_bombs_are_refused() {
    let xxe = br#"<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE actes:Annulation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<actes:Annulation xmlns:actes="http://www.interieur.gouv.fr/ACTES#v1.1-20040216" actes:IDActe="035-213500051-20261207-A-DE">&xxe;</actes:Annulation>"#;
    let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"#;
    for doc in [&xxe[..], &bomb[..]] {
        let e = parse_message(doc).expect_err("refused");
        assert_eq!(e, FormatError::Doctype);
        assert!(e.to_string().contains("DOCTYPE") && e.to_string().contains("interdites"));
        let v = xsd::validate(doc).expect_err("refused");
        assert!(v[0].contains("DOCTYPE"), "{v:?}");
    }
    // An entity without DOCTYPE is undefined: refused too, never looked up.
    let e = parse_message(b"<actes:Annulation xmlns:actes=\"urn:a\">&xxe;</actes:Annulation>")
        .expect_err("refused");
    assert!(e.to_string().contains("&xxe;"), "{e}");
}

#[test]
fn the_real_stela_archive_unpacks() {
    let files = unpack(
        &sample("stela/SIC-EACT--210600730--20180115-1.tar.gz"),
        Limits::default(),
    )
    .expect("unpacked");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "EACT--210600730--20180115-1.xml",
            "006-210600730-20180115-007-AR-1-1_0.xml",
            "CO_DE-006-210600730-20180115-007-AR-1-1_1.jpg"
        ]
    );
    assert_eq!(files[2].1.len(), 37602);
    assert!(files[2].1.starts_with(&[0xFF, 0xD8]), "a JPEG");
    assert_eq!(
        files[0].1,
        sample("stela/SIC-EACT--210600730--20180115-1/EACT--210600730--20180115-1.xml")
    );
    assert!(matches!(parse_message(&files[1].1), Ok(Message::Acte(_))));
    for (name, _) in &files {
        parse_file_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn packed_archives_are_flat_tar_gz_that_tar_reads_and_we_read_back() {
    let acte = build(&Message::Acte(acte())).expect("built");
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".repeat(300);
    let files = vec![
        (
            "EACT--213500051--20261207-1.xml".to_owned(),
            build(&Message::EnveloppeCLMISILL(enveloppe_cl())).expect("built"),
        ),
        (
            "035-213500051-20261207-DEL_2026_12-DE-1-1_0.xml".to_owned(),
            acte,
        ),
        (
            "99_DE-035-213500051-20261207-DEL_2026_12-DE-1-1_1.pdf".to_owned(),
            pdf,
        ),
        ("empty.txt".to_owned(), Vec::new()),
        ("exactly-512.bin".to_owned(), vec![7u8; 512]),
    ];
    let archive = pack(&files).expect("packed");
    assert_eq!(&archive[..3], &[0x1f, 0x8b, 8], "gzip, deflate");
    assert_eq!(
        unpack(&archive, Limits::default()).expect("unpacked"),
        files
    );

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("BQT-EACT--213500051--20261207-1.tar.gz");
    std::fs::write(&path, &archive).expect("write");
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(&path)
        .output()
        .expect("tar is installed");
    assert!(
        listing.status.success(),
        "{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        names,
        files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    assert!(
        listing.lines().all(|l| l.starts_with("-rw-r--r--")),
        "{listing}"
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(&path)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("tar");
    assert!(x.success());
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(out.join(name)).expect("extracted"), bytes);
    }

    // And an archive made by GNU tar (ustar, pax and gnu formats) reads back.
    for format in ["ustar", "pax", "gnu"] {
        let made = dir.path().join(format!("{format}.tar.gz"));
        let status = Command::new("tar")
            .arg(format!("--format={format}"))
            .arg("-czf")
            .arg(&made)
            .arg("-C")
            .arg(&out)
            .args(files.iter().map(|(n, _)| n.as_str()))
            .status()
            .expect("tar");
        assert!(status.success());
        let back = unpack(&std::fs::read(&made).expect("read"), Limits::default()).expect(format);
        assert_eq!(back, files, "{format}");
    }

    assert!(
        pack(&[("a/b.xml", b"x")])
            .expect_err("not flat")
            .to_string()
            .contains("à plat")
    );
    assert!(
        pack(&[("a.xml", b"x"), ("a.xml", b"y")])
            .expect_err("twice")
            .to_string()
            .contains("double")
    );
}

/// A raw tar entry, as an attacker would write it.
fn raw_entry(name: &str, kind: u8, content: &[u8], link: &str) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(tar).expect("gzip");
    e.finish().expect("gzip")
}

#[test]
fn archive_attacks_are_refused() {
    let ok = raw_entry("EACT--213500051--20261207-1.xml", b'0', b"<a/>", "");
    let end = vec![0u8; 1024];
    for (entry, expected) in [
        (raw_entry("../x", b'0', b"evil", ""), "remontant"),
        (raw_entry("a/../../x", b'0', b"evil", ""), "remontant"),
        (raw_entry("/etc/cron.d/x", b'0', b"evil", ""), "absolu"),
        (raw_entry("dossier/", b'5', b"", ""), "dossier"),
        (raw_entry("dossier/x.xml", b'0', b"x", ""), "à plat"),
        (raw_entry("lien", b'2', b"", "/etc/passwd"), "lien"),
        (
            raw_entry("dur", b'1', b"", "EACT--213500051--20261207-1.xml"),
            "lien",
        ),
        (raw_entry("fifo", b'6', b"", ""), "spécial"),
        (
            raw_entry("EACT--213500051--20261207-1.xml", b'0', b"<b/>", ""),
            "double",
        ),
    ] {
        let tar = [ok.clone(), entry, end.clone()].concat();
        let e = unpack(&gzip(&tar), Limits::default())
            .expect_err(expected)
            .to_string();
        assert!(
            e.starts_with("archive refusée : ") && e.contains(expected),
            "{expected}: {e}"
        );
    }
    // Too many files.
    let many: Vec<(String, Vec<u8>)> = (0..201)
        .map(|i| (format!("f{i}.xml"), b"<a/>".to_vec()))
        .collect();
    let e = unpack(&pack(&many).expect("packed"), Limits::default())
        .expect_err("201 files")
        .to_string();
    assert!(e.contains("trop de fichiers (plus de 200)"), "{e}");
    assert_eq!(
        unpack(&pack(&many[..200]).expect("packed"), Limits::default())
            .expect("200 files")
            .len(),
        200
    );
    // Not an archive, truncated, a bad checksum.
    assert!(
        unpack(b"%PDF-1.7", Limits::default())
            .expect_err("pdf")
            .to_string()
            .contains("gzip")
    );
    let packed = pack(&[("a.xml", vec![b'a'; 5000])]).expect("packed");
    assert!(unpack(&packed[..packed.len() / 2], Limits::default()).is_err());
    let mut bad = ok.clone();
    bad[148] = b'7';
    assert!(
        unpack(&gzip(&[bad, end.clone()].concat()), Limits::default())
            .expect_err("checksum")
            .to_string()
            .contains("somme de contrôle")
    );
    assert!(
        unpack(&gzip(&end), Limits::default())
            .expect_err("empty")
            .to_string()
            .contains("vide")
    );
}

/// A gzip of a tar holding one file of 1 GiB of zeros, made without compressing 1 GiB: the
/// deflate blocks of 1 MiB of zeros after a full flush are repeated 1024 times.
fn gzip_bomb() -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    let deflate = |data: &[u8], flush: FlushCompress| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        c.compress_vec(data, &mut out, flush).expect("deflate");
        out
    };
    const MIB: usize = 1024 * 1024;
    let header = raw_entry("zeros.bin", b'0', b"", "");
    let mut header = header[..512].to_vec();
    header[124..136].copy_from_slice(format!("{:011o}\0", 1024 * MIB).as_bytes());
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let zeros = vec![0u8; MIB];
    let block = deflate(&zeros, FlushCompress::Full);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(deflate(&header, FlushCompress::Full));
    let mut crc = Crc::new();
    crc.update(&header);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(&zeros);
    for _ in 0..1024 {
        out.extend_from_slice(&block);
        crc.combine(&chunk_crc);
    }
    out.extend(deflate(&[0u8; 1024], FlushCompress::Finish));
    crc.update(&[0u8; 1024]);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

#[test]
fn a_gzip_bomb_is_refused() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    // It is a real gzip stream: its first 8 MiB decompress.
    let mut head = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(flate2::read::GzDecoder::new(&bomb[..]), 8 << 20),
        &mut head,
    )
    .expect("valid gzip");
    assert_eq!(head.len(), 8 << 20);
    assert!(head[512..].iter().all(|&b| b == 0));
    let e = unpack(&bomb, Limits::default())
        .expect_err("bomb")
        .to_string();
    assert!(e.contains("trop volumineux") || e.contains("bombe"), "{e}");
    // With a permissive ratio, the size limit stops it; with a permissive size, the ratio does.
    let e = unpack(
        &bomb,
        Limits {
            max_ratio: u64::MAX / 2,
            ..Limits::default()
        },
    )
    .expect_err("size")
    .to_string();
    assert!(e.contains("trop volumineux (plus de 256 Mo)"), "{e}");
    let e = unpack(
        &bomb,
        Limits {
            max_total: u64::MAX / 2,
            ..Limits::default()
        },
    )
    .expect_err("ratio")
    .to_string();
    assert!(e.contains("bombe de décompression"), "{e}");
}

#[test]
fn transliteration() {
    assert_eq!(
        transliterate("L’été de l’œuvre coûte 12 € – « Ça » … ﬁn"),
        "L'été de l'oeuvre coûte 12 EUR - « Ça » ... fin"
    );
    assert_eq!(
        transliterate("Œdipe ‘x’ “y” Ÿ ő ş ž ™"),
        "OEdipe 'x' \"y\" Y o s z TM"
    );
    assert_eq!(
        transliterate("a\u{0}b\u{7}c\td\u{85}e\u{200b}f"),
        "abc\tdef"
    );
    assert_eq!(transliterate("日本"), "??");
    assert!(transliterate("Ω→✓").chars().all(|c| (c as u32) <= 0xFF));
    assert_eq!(
        bouquet_format_actes::encode_latin1("déjà €"),
        b"d\xe9j\xe0 EUR"
    );
}

#[test]
fn dates_never_use_week_years() {
    // 2018-12-31 is in ISO week 1 of 2019: the compact date must still say 2018.
    assert_eq!(
        bouquet_format_actes::compact_date(date(2018, 12, 31)),
        "20181231"
    );
    assert_eq!(
        bouquet_format_actes::parse_compact_date("20181231"),
        Some(date(2018, 12, 31))
    );
    assert_eq!(bouquet_format_actes::parse_compact_date("20180231"), None);
    assert_eq!(
        bouquet_format_actes::french_date(date(2026, 1, 1)),
        "1er janvier 2026"
    );
    assert_eq!(
        Date::new(2026, 8, 15)
            .ok()
            .map(bouquet_format_actes::french_date)
            .as_deref(),
        Some("15 août 2026")
    );
}
