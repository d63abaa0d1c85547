//! XAdES-EPES in PES flows: signed with Bouquet, verified by xmlsec1 (and signxml, xmllint
//! schemas), and the real Pastell-signed flow verified by Bouquet.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use bouquet_crypto::keys::Credential;
use bouquet_crypto::pki::{DemoPki, PersonSubject};
use bouquet_crypto::report::Check;
use bouquet_crypto::xades::{PesScope, PesSignOptions, sign_pes, verify_pes};
use jiff::Timestamp;

const PASTELL_SIGNED: &str = "pes/PES_DepenseAller_bordereau_signed_xades.xml";
const PESALR1: &str = "pes/PESALR1_unsigned.xml";
const HELIOS_LATIN1: &str = "pes/HELIOS_SIMU_ALR2_unsigned.xml";
/// PES V2 schemas and valid samples gathered for the team, outside the repository.
const PES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../standards/pes");

/// The tests' "now": certificates are made around it and xmlsec1 verifies at it.
const NOW: &str = "2026-03-15T10:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn signature_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../standards/signature")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(signature_dir().join(name)).unwrap()
}

struct Signer {
    root_der: Vec<u8>,
    credential: Credential,
}

fn signer() -> Signer {
    let now = now();
    let pki = DemoPki::generate(now).unwrap();
    let subject = PersonSubject {
        given_name: "Anne".into(),
        surname: "Martin".into(),
        email: "anne.martin@saint-aubin.example".into(),
        organisation: "Commune de Saint-Aubin".into(),
        title: "Maire".into(),
    };
    let credential = pki.issue_person(subject, now).unwrap();
    Signer {
        root_der: pki.root_certificate_der().to_vec(),
        credential,
    }
}

fn options() -> PesSignOptions {
    PesSignOptions {
        city: Some("Saint-Aubin-lès-Élancourt".into()),
        postal_code: Some("78990".into()),
        claimed_role: Some("Ordonnateur".into()),
        ..PesSignOptions::new(now())
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Runs `xmlsec1 --verify` with the Id attributes PES signatures point at; true on success.
fn xmlsec1_verifies(signed: &[u8], trusted_root: Option<&[u8]>, id_element: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, signed).unwrap();
    let mut command = Command::new("xmlsec1");
    let at = now().strftime("%Y-%m-%d %H:%M:%S").to_string();
    command.args([
        "--verify",
        "--verification-gmt-time",
        &at,
        "--id-attr:Id",
        id_element,
        "--id-attr:Id",
        "http://uri.etsi.org/01903/v1.2.2#:SignedProperties",
    ]);
    match trusted_root {
        Some(root) => {
            let root_file = dir.path().join("root.pem");
            std::fs::write(&root_file, pem(root)).unwrap();
            command.arg("--trusted-pem").arg(&root_file);
        }
        None => {
            command.arg("--insecure");
        }
    }
    let output = command.arg(&file).output().unwrap();
    eprintln!("xmlsec1: {}", String::from_utf8_lossy(&output.stderr));
    output.status.success()
}

/// Offsets of each `<ds:Signature` … `</ds:Signature>` in `signed`.
fn signature_spans(signed: &[u8]) -> Vec<(usize, usize)> {
    let (open, close) = (b"<ds:Signature ".as_slice(), b"</ds:Signature>".as_slice());
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(start) = find(&signed[from..], open).map(|i| i + from) {
        let end = find(&signed[start..], close).unwrap() + start + close.len();
        spans.push((start, end));
        from = end;
    }
    spans
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The signed file without its signatures, each of which must sit before a closing tag.
fn without_signatures(signed: &[u8]) -> Vec<u8> {
    let mut rest = Vec::new();
    let mut copied = 0;
    for (start, end) in signature_spans(signed) {
        assert!(
            signed[end..].starts_with(b"</"),
            "signature not before a closing tag"
        );
        rest.extend_from_slice(&signed[copied..start]);
        copied = end;
    }
    rest.extend_from_slice(&signed[copied..]);
    rest
}

/// The signed file minus the inserted signatures is the original file.
fn assert_only_signatures_added(original: &[u8], signed: &[u8]) {
    assert!(without_signatures(signed) == original);
}

fn flip_in(signed: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = find(signed, from).unwrap();
    let mut changed = signed.to_vec();
    changed[at..at + from.len()].copy_from_slice(to);
    changed
}

#[test]
fn signs_utf8_pes_each_bordereau_and_xmlsec1_accepts_it() {
    let signer = signer();
    let original = fixture(PESALR1);
    let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
    assert_eq!(signature_spans(&signed).len(), 1);
    assert_only_signatures_added(&original, &signed);
    let text = String::from_utf8(signed.clone()).unwrap();
    assert!(text.contains("</ds:Signature></Bordereau>"));
    assert!(text.contains("URI=\"#ID2020020200727D013536\""));
    assert!(text.contains("<xad:Identifier>urn:oid:1.2.250.1.131.1.5.18.21.1.7</xad:Identifier>"));
    assert!(text.contains("<xad:ClaimedRole>Ordonnateur</xad:ClaimedRole>"));
    assert!(xmlsec1_verifies(
        &signed,
        Some(&signer.root_der),
        "Bordereau"
    ));

    let reports = verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.name, "ID2020020200727D013536_SIG_1");
    assert_eq!(report.integrity, Check::Ok);
    assert_eq!(report.coverage, Check::Ok);
    assert_eq!(report.certificate, Check::Ok, "{report:?}");
    assert!(report.is_valid());
    assert_eq!(
        report.signer.as_ref().unwrap().subject_common_name,
        "Anne Martin"
    );
    assert_eq!(report.chain.len(), 2);
    assert!(report.claimed_time.is_some());
}

/// A Latin-1 flow with accents: the output stays ISO-8859-1, byte for byte outside the
/// signature, and the signature's own accents (city) are written in Latin-1 too.
#[test]
fn signs_latin1_pes_and_keeps_its_encoding() {
    let signer = signer();
    let mut original = fixture(HELIOS_LATIN1);
    original = flip_in_any_length(
        &original,
        b"<LibelleColBud V=\"COMMUNE\"/>",
        b"<LibelleColBud V=\"COMMUNE DE SAINT-\xc9TIENNE-L\xc8S-ORGUES &amp; \xe0 c\xf4t\xe9\"/>",
    );
    assert!(
        std::str::from_utf8(&original).is_err(),
        "the fixture must be real Latin-1"
    );
    let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
    assert!(signed.starts_with(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"));
    assert_only_signatures_added(&original, &signed);
    assert!(
        find(
            &signed,
            b"<xad:City>Saint-Aubin-l\xe8s-\xc9lancourt</xad:City>"
        )
        .is_some()
    );
    assert!(xmlsec1_verifies(
        &signed,
        Some(&signer.root_der),
        "Bordereau"
    ));
    let reports = verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap();
    assert!(reports[0].is_valid(), "{:?}", reports[0]);
}

fn flip_in_any_length(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find(data, from).unwrap();
    [&data[..at], to, &data[at + from.len()..]].concat()
}

/// Two bordereaux (the second without Id): two signatures. xmlsec1 checks the first signature
/// of a file only, so each is checked in a copy without the other one (removing a signature
/// from another bordereau changes nothing this one covers).
#[test]
fn each_bordereau_gets_its_own_signature() {
    let signer = signer();
    let single = fixture(PESALR1);
    let start = find(&single, b"<Bordereau Id=").unwrap();
    let end = find(&single, b"</Bordereau>").unwrap() + b"</Bordereau>".len();
    let second = flip_in_any_length(
        &single[start..end],
        b"<Bordereau Id=\"ID2020020200727D013536\">",
        b"<Bordereau>",
    );
    let original = [&single[..end], b"\n    ", &second, &single[end..]].concat();
    let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
    let unsigned = flip_in_any_length(
        &without_signatures(&signed),
        b"<Bordereau Id=\"BORD3536\">",
        b"<Bordereau>",
    );
    assert!(unsigned == original);
    let spans = signature_spans(&signed);
    assert_eq!(spans.len(), 2);
    for keep in 0..2 {
        let (start, end) = spans[1 - keep];
        let alone = [&signed[..start], &signed[end..]].concat();
        assert!(xmlsec1_verifies(
            &alone,
            Some(&signer.root_der),
            "Bordereau"
        ));
    }
    let reports = verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.is_valid()), "{reports:?}");
    assert_ne!(reports[0].name, reports[1].name);
}

/// Windows line ends: the file keeps them, and the digests (over LF-normalised text) match
/// xmlsec1's.
#[test]
fn crlf_files_are_signed_as_they_are() {
    let signer = signer();
    let original: Vec<u8> = String::from_utf8(fixture(PESALR1))
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
    assert_only_signatures_added(&original, &signed);
    assert!(xmlsec1_verifies(
        &signed,
        Some(&signer.root_der),
        "Bordereau"
    ));
    let report = &verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap()[0];
    assert!(report.is_valid(), "{report:?}");
}

#[test]
fn a_changed_character_in_a_bordereau_fails_xmlsec1_and_verify_pes() {
    let signer = signer();
    let signed = sign_pes(&fixture(PESALR1), &signer.credential, &options()).unwrap();
    let changed = flip_in(&signed, b"<IdBord V=\"3536\"/>", b"<IdBord V=\"3537\"/>");
    assert!(!xmlsec1_verifies(
        &changed,
        Some(&signer.root_der),
        "Bordereau"
    ));
    let report = &verify_pes(&changed, std::slice::from_ref(&signer.root_der), None).unwrap()[0];
    match &report.integrity {
        Check::Failed(reason) => assert!(reason.contains("modifié"), "{reason}"),
        other => panic!("integrity {other:?}"),
    }
    assert!(!report.is_valid());
}

#[test]
fn a_changed_signed_property_fails_both() {
    let signer = signer();
    let signed = sign_pes(&fixture(PESALR1), &signer.credential, &options()).unwrap();
    let changed = flip_in(&signed, b"Ordonnateur", b"Ordonnatrix");
    assert!(!xmlsec1_verifies(
        &changed,
        Some(&signer.root_der),
        "Bordereau"
    ));
    let report = &verify_pes(&changed, std::slice::from_ref(&signer.root_der), None).unwrap()[0];
    assert!(matches!(report.integrity, Check::Failed(_)));
}

#[test]
fn an_untrusted_root_fails_xmlsec1_and_the_certificate_check() {
    let signer = signer();
    let other = self::signer();
    let signed = sign_pes(&fixture(PESALR1), &signer.credential, &options()).unwrap();
    assert!(!xmlsec1_verifies(
        &signed,
        Some(&other.root_der),
        "Bordereau"
    ));
    let report = &verify_pes(&signed, std::slice::from_ref(&other.root_der), None).unwrap()[0];
    assert_eq!(report.integrity, Check::Ok);
    assert!(matches!(report.certificate, Check::Failed(_)), "{report:?}");
}

#[test]
fn whole_flow_signature_is_the_last_child_of_pes_aller() {
    let signer = signer();
    let original = fixture(PESALR1);
    let options = PesSignOptions {
        scope: PesScope::WholeFlow,
        ..options()
    };
    let signed = sign_pes(&original, &signer.credential, &options).unwrap();
    assert_only_signatures_added(&original, &signed);
    let text = String::from_utf8(signed.clone()).unwrap();
    assert!(text.contains("</ds:Signature></n:PES_Aller>"));
    assert!(text.contains("URI=\"#PESALR1_22610001400134_ID2020020200727D013536\""));
    assert!(xmlsec1_verifies(
        &signed,
        Some(&signer.root_der),
        "PES_Aller"
    ));
    let reports = verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap();
    assert!(reports[0].is_valid(), "{:?}", reports[0]);
}

/// Bordereaux signed first (ordonnateur), then the whole flow: all three signatures hold,
/// since the enveloped transform removes only the signature being checked.
#[test]
fn a_whole_flow_signature_over_signed_bordereaux() {
    let signer = signer();
    let once = sign_pes(&fixture(HELIOS_LATIN1), &signer.credential, &options()).unwrap();
    let whole = PesSignOptions {
        scope: PesScope::WholeFlow,
        ..options()
    };
    let twice = sign_pes(&once, &signer.credential, &whole).unwrap();
    let reports = verify_pes(&twice, std::slice::from_ref(&signer.root_der), None).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.is_valid()), "{reports:?}");
    let error = sign_pes(&twice, &signer.credential, &whole).unwrap_err();
    assert!(error.to_string().contains("déjà signé"), "{error}");
}

#[test]
fn a_bordereau_without_id_gets_one() {
    let signer = signer();
    let original = flip_in_any_length(
        &fixture(HELIOS_LATIN1),
        b"<Bordereau Id=\"BORD822933\">",
        b"<Bordereau>",
    );
    let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
    assert!(find(&signed, b"<Bordereau Id=\"BORD1234567\">").is_some());
    assert!(xmlsec1_verifies(
        &signed,
        Some(&signer.root_der),
        "Bordereau"
    ));
    assert!(
        verify_pes(&signed, std::slice::from_ref(&signer.root_der), None).unwrap()[0].is_valid()
    );
}

#[test]
fn ecdsa_signatures_verify_with_xmlsec1() {
    let pki = DemoPki::generate(now()).unwrap();
    let credential = ecdsa_credential(&pki);
    let signed = sign_pes(&fixture(PESALR1), &credential, &options()).unwrap();
    assert!(String::from_utf8_lossy(&signed).contains("xmldsig-more#ecdsa-sha256"));
    let root = pki.root_certificate_der();
    assert!(xmlsec1_verifies(&signed, Some(root), "Bordereau"));
    let report = &verify_pes(&signed, &[root.to_vec()], None).unwrap()[0];
    assert!(report.is_valid(), "{report:?}");
    let changed = flip_in(&signed, b"<IdBord V=\"3536\"/>", b"<IdBord V=\"3537\"/>");
    assert!(!xmlsec1_verifies(&changed, Some(root), "Bordereau"));
}

/// An ECDSA P-256 leaf signed by rcgen with the demo root's key (rcgen's default validity).
fn ecdsa_credential(pki: &DemoPki) -> Credential {
    use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
    let root_key = KeyPair::try_from(pki.root_key_pkcs8()).unwrap();
    let issuer =
        Issuer::from_ca_cert_der(&pki.root_certificate_der().to_vec().into(), root_key).unwrap();
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Paul Durand");
    let certificate = params.signed_by(&leaf_key, &issuer).unwrap();
    Credential {
        key: bouquet_crypto::keys::SigningKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap(),
        certificate: certificate.der().to_vec(),
        chain: vec![pki.root_certificate_der().to_vec()],
    }
}

#[test]
fn the_pastell_signed_flow_verifies_and_one_changed_byte_is_detected() {
    let signed = fixture(PASTELL_SIGNED);
    let reports = verify_pes(&signed, &[], None).unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.name, "BORD822933_SIG_1");
    assert_eq!(report.integrity, Check::Ok, "{report:?}");
    assert_eq!(report.coverage, Check::Ok);
    assert_eq!(
        report.claimed_time,
        Some("2018-07-04T15:19:45Z".parse().unwrap())
    );
    assert_eq!(
        report.signer.as_ref().unwrap().subject_common_name,
        "Hameury_Lukas"
    );
    // Its CA is not provided: the chain cannot be checked.
    assert!(
        matches!(report.certificate, Check::NotChecked(_)),
        "{report:?}"
    );
    assert!(!report.is_valid());
    // With an unrelated trusted root, the chain fails in French.
    let other = signer();
    let report = &verify_pes(&signed, &[other.root_der], None).unwrap()[0];
    match &report.certificate {
        Check::Failed(reason) => assert!(reason.contains("autorité"), "{reason}"),
        other => panic!("certificate {other:?}"),
    }
    // One byte of the bordereau changed.
    let changed = flip_in(
        &signed,
        b"<CodeGuic V=\"00866\"/>",
        b"<CodeGuic V=\"00867\"/>",
    );
    let report = &verify_pes(&changed, &[], None).unwrap()[0];
    assert!(matches!(report.integrity, Check::Failed(_)));
    // xmlsec1 agrees on both.
    assert!(xmlsec1_verifies(&signed, None, "Bordereau"));
    assert!(!xmlsec1_verifies(&changed, None, "Bordereau"));
}

#[test]
fn signxml_verifies_what_we_sign() {
    let signer = signer();
    let signed = sign_pes(&fixture(HELIOS_LATIN1), &signer.credential, &options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signed.xml");
    std::fs::write(&file, &signed).unwrap();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, pem(&signer.credential.certificate)).unwrap();
    let script = r#"
import sys
from signxml import XMLVerifier, SignatureConfiguration
data = open(sys.argv[1], 'rb').read()
cert = open(sys.argv[2]).read()
results = XMLVerifier().verify(data, x509_cert=cert, id_attribute="Id",
    expect_config=SignatureConfiguration(expect_references=2))
print(len(results))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .arg(&cert_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2");
}

/// The `ds:Signature` alone, as a document (declaring `ds` if the flow's root did).
fn extract_signature(signed: &[u8]) -> Vec<u8> {
    let (start, end) = signature_spans(signed)[0];
    let mut signature = signed[start..end].to_vec();
    if !signature.starts_with(b"<ds:Signature xmlns:ds=") {
        signature = flip_in_any_length(
            &signature,
            b"<ds:Signature ",
            b"<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ",
        );
    }
    [
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n".as_slice(),
        &signature,
    ]
    .concat()
}

fn xmllint_validates(schema: &Path, document: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.xml");
    std::fs::write(&file, document).unwrap();
    let output = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema)
        .arg(&file)
        .output()
        .unwrap();
    eprintln!("xmllint: {}", String::from_utf8_lossy(&output.stderr));
    output.status.success()
}

/// French PES signers (Pastell, Berger-Levrault) write the XAdES 1.1.1 structure: `CertDigest`
/// and `SigPolicyHash` hold `xad:DigestMethod`/`xad:DigestValue`, where 1.2.2 and later have
/// `ds:` ones. Pastell does so under the 1.2.2 namespace, and so does Bouquet, to be read as
/// Hélios reads Pastell's. So the signature is checked against the XAdES 1.1.1 schema (the one
/// the PES schema imports, with its string-typed serial number) with the namespace renamed, and
/// the Pastell signature passes the same check.
#[test]
fn the_signature_matches_the_xades_and_xmldsig_schemas() {
    let signer = signer();
    let signed = sign_pes(&fixture(HELIOS_LATIN1), &signer.credential, &options()).unwrap();
    let schema = signature_dir().join("xsd/pes-v1.1.1/xades/XAdES-core-schema.xsd");
    let as_1_1_1 = |document: &[u8]| {
        String::from_utf8_lossy(&extract_signature(document)).replace(
            "http://uri.etsi.org/01903/v1.2.2#",
            "http://uri.etsi.org/01903/v1.1.1#",
        )
    };
    for document in [signed.as_slice(), &fixture(PASTELL_SIGNED)] {
        assert!(xmllint_validates(&schema, as_1_1_1(document).as_bytes()));
    }
    // A missing mandatory element is caught by the same check.
    let broken = as_1_1_1(&signed)
        .replace("<xad:SigningTime>", "<xad:Nope>")
        .replace("</xad:SigningTime>", "</xad:Nope>");
    assert!(!xmllint_validates(&schema, broken.as_bytes()));
}

/// With the PES V2 schemas (v5.17) and valid PES samples of `standards/pes`: once signed,
/// each still validates (the PES schema checks `ds:Signature` strictly and its XAdES 1.2.2
/// content laxly).
#[test]
fn signed_valid_pes_samples_still_match_the_pes_schema() {
    let shared = Path::new(PES_DIR);
    let pes_schema = shared.join("xsd/schemas_pes_v5.17/PES_V2/Rev0/PES_Aller.xsd");
    assert!(pes_schema.exists(), "PES V2 schemas missing from {PES_DIR}");
    let signer = signer();
    for sample in [
        "pastell_HELIOS_SIMU_ALR2_LibelleColBud_avec_accent.xml",
        "pastell_HELIOS_SIMU_ALR2_1496987735_826268894.xml",
        "pastell_PES_ex.xml",
    ] {
        let original = std::fs::read(shared.join("samples/aller/valid").join(sample)).unwrap();
        assert!(xmllint_validates(&pes_schema, &original), "{sample}");
        let signed = sign_pes(&original, &signer.credential, &options()).unwrap();
        assert!(xmllint_validates(&pes_schema, &signed), "{sample}");
        assert!(
            xmlsec1_verifies(&signed, Some(&signer.root_der), "Bordereau"),
            "{sample}"
        );
        let whole = PesSignOptions {
            scope: PesScope::WholeFlow,
            ..options()
        };
        let signed = sign_pes(&original, &signer.credential, &whole).unwrap();
        assert!(xmllint_validates(&pes_schema, &signed), "{sample}");
    }
}

/// Signed flows of other French producers from `standards/pes` (XAdES 1.1.1 namespace):
/// Berger-Levrault (rsa-sha256) and Pastell 2017 (rsa-sha1) verify, a Stela test flow with an
/// altered bordereau (rsa-sha1) fails, another with an expired DGFiP certificate keeps its
/// integrity. xmlsec1 says the same of each.
#[test]
fn third_party_signed_flows_verify_as_xmlsec1_says() {
    let samples = Path::new(PES_DIR).join("samples/aller");
    assert!(samples.exists(), "{} missing", samples.display());
    for (sample, intact) in [
        ("valid/stela_PESALR2_25060187900027_190328_001.xml", true),
        (
            "schema-invalide/pastell_PESALR2_49101169800000_171227_2045.xml",
            true,
        ),
        ("signature-invalide/stela_test-perime-04-04-2016.xml", true),
        ("signature-invalide/stela_test-alteree.xml", false),
    ] {
        let signed = std::fs::read(samples.join(sample)).unwrap();
        let reports = verify_pes(&signed, &[], None).unwrap();
        assert_eq!(reports.len(), 1, "{sample}");
        let report = &reports[0];
        assert_eq!(report.integrity.is_ok(), intact, "{sample}: {report:?}");
        assert_eq!(report.coverage, Check::Ok, "{sample}");
        assert!(report.claimed_time.is_some(), "{sample}");
        assert!(report.signer.is_some(), "{sample}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("signed.xml");
        std::fs::write(&file, &signed).unwrap();
        let xmlsec1 = Command::new("xmlsec1")
            .args([
                "--verify",
                "--insecure",
                "--id-attr:Id",
                "Bordereau",
                "--id-attr:Id",
            ])
            .arg("http://uri.etsi.org/01903/v1.1.1#:SignedProperties")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(xmlsec1.status.success(), intact, "{sample}");
    }
    let expired =
        std::fs::read(samples.join("signature-invalide/stela_test-perime-04-04-2016.xml")).unwrap();
    let report = &verify_pes(&expired, &[], Some(now())).unwrap()[0];
    assert!(
        matches!(&report.certificate, Check::Failed(reason) if reason.contains("pas valide")),
        "{report:?}"
    );
}

#[test]
fn refuses_a_doctype_before_parsing() {
    let signer = signer();
    let xxe = b"<?xml version=\"1.0\"?>\n<!DOCTYPE n:PES_Aller [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<n:PES_Aller xmlns:n=\"http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller\"><PES_DepenseAller><Bordereau Id=\"B\">&xxe;</Bordereau></PES_DepenseAller></n:PES_Aller>";
    let expected =
        "Le fichier contient une déclaration DOCTYPE, refusée pour des raisons de sécurité.";
    let error = sign_pes(xxe, &signer.credential, &options()).unwrap_err();
    assert_eq!(error.to_string(), expected);
    let error = verify_pes(xxe, &[], None).unwrap_err();
    assert_eq!(error.to_string(), expected);
}

#[test]
fn refuses_a_file_that_is_not_well_formed_and_says_where() {
    let signer = signer();
    let original = fixture(PESALR1);
    let broken = flip_in(&original, b"</BlocBordereau>", b"</BlocBordereaX>");
    let error = sign_pes(&broken, &signer.credential, &options())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("Le fichier XML est mal formé (ligne 40,"),
        "{error}"
    );
    let error = sign_pes(b"<n:PES_Aller", &signer.credential, &options()).unwrap_err();
    assert!(error.to_string().contains("mal formé"), "{error}");
}

#[test]
fn refuses_what_is_not_a_pes_aller_or_has_no_bordereau() {
    let signer = signer();
    let not_pes = b"<?xml version=\"1.0\"?><Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>";
    let error = sign_pes(not_pes, &signer.credential, &options()).unwrap_err();
    assert_eq!(error.to_string(), "Ce fichier n'est pas un flux PES Aller.");
    let no_bordereau = b"<n:PES_Aller xmlns:n=\"http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller\"><PES_PJ/></n:PES_Aller>";
    let error = sign_pes(no_bordereau, &signer.credential, &options()).unwrap_err();
    assert!(error.to_string().contains("aucun bordereau"), "{error}");
}

#[test]
fn refuses_to_sign_a_bordereau_twice() {
    let signer = signer();
    let error = sign_pes(&fixture(PASTELL_SIGNED), &signer.credential, &options()).unwrap_err();
    assert!(error.to_string().contains("déjà signé"), "{error}");
}
