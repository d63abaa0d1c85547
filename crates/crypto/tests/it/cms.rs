//! CAdES, time-stamps, PKCS#12 and certificate checks, each against openssl or pyhanko.

use std::path::{Path, PathBuf};
use std::process::Command;

use bouquet_crypto::cms::{
    SignOptions, add_signature_timestamp, parse_pem_or_der, sign_detached_digest,
    sign_detached_digest_with_tsa, signature_value, to_pem, verify_detached_digest,
};
use bouquet_crypto::keys::{Credential, Purpose};
use bouquet_crypto::pki::{DemoPki, LeafOptions, LeafPurpose, PersonSubject, certificate_info};
use bouquet_crypto::report::{Check, SignatureFormat};
use bouquet_crypto::tsa::{BuiltInTsa, request_der, token_from_response, verify_token};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// The time all test certificates are made at; validators are told to check at this time.
fn now() -> Timestamp {
    "2026-06-01T10:00:00Z".parse().unwrap()
}

fn person(pki: &DemoPki) -> Credential {
    pki.issue_person(
        PersonSubject {
            given_name: "Anne".into(),
            surname: "Martin".into(),
            email: "anne.martin@saint-aubin.fr".into(),
            organisation: "Commune de Saint-Aubin".into(),
            title: "Maire".into(),
        },
        now(),
    )
    .unwrap()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("tool installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn openssl_cms_verify(sig: &Path, content: &Path, root: &Path) -> (bool, String) {
    openssl_cms_verify_at(sig, content, root, now())
}

fn openssl_cms_verify_at(sig: &Path, content: &Path, root: &Path, at: Timestamp) -> (bool, String) {
    run(Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER"])
        .args([
            "-in".as_ref(),
            sig.as_os_str(),
            "-content".as_ref(),
            content.as_os_str(),
            "-CAfile".as_ref(),
            root.as_os_str(),
            "-purpose".as_ref(),
            "any".as_ref(),
            "-attime".as_ref(),
            at.as_second().to_string().as_ref(),
            "-out".as_ref(),
            "/dev/null".as_ref(),
        ]))
}

fn pyhanko_detached(sig: &Path, content: &Path, root: &Path) -> (bool, String) {
    run(Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--executive-summary",
            "--no-revocation-check",
        ])
        .arg("--trust")
        .arg(root)
        .args([
            "--trust-replace",
            "--validation-time",
            "2026-06-01T10:00:00+00:00",
        ])
        .arg("--detached")
        .arg(sig)
        .arg(content))
}

/// Flips one byte in the middle of the signer's signature value.
fn flip_signature_byte(cms_der: &[u8]) -> Vec<u8> {
    let value = signature_value(cms_der).unwrap();
    let at = cms_der
        .windows(value.len())
        .position(|w| w == value.as_slice())
        .unwrap()
        + value.len() / 2;
    let mut tampered = cms_der.to_vec();
    tampered[at] ^= 0x01;
    tampered
}

#[test]
fn cades_is_accepted_by_openssl_and_pyhanko_and_a_changed_byte_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    let signer = person(&pki);
    let document = b"Deliberation n. 2026-042 du conseil municipal de Saint-Aubin.\n".repeat(50);
    let digest: [u8; 32] = Sha256::digest(&document).into();
    let cms = sign_detached_digest(
        &signer,
        &digest,
        &SignOptions {
            signing_time: Some(now()),
        },
    )
    .unwrap();

    let root = write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    let doc = write(dir.path(), "doc.txt", &document);
    let sig = write(dir.path(), "sig.p7s", &cms);
    let (ok, out) = openssl_cms_verify(&sig, &doc, &root);
    assert!(ok, "openssl refused our CAdES: {out}");
    let (ok, out) = pyhanko_detached(&sig, &doc, &root);
    assert!(
        ok && out.contains("VALID") && !out.contains("INVALID"),
        "pyhanko: {out}"
    );

    let mut changed = document.clone();
    changed[100] ^= 0x20;
    let changed_doc = write(dir.path(), "changed.txt", &changed);
    assert!(!openssl_cms_verify(&sig, &changed_doc, &root).0);
    let tampered = write(dir.path(), "tampered.p7s", flip_signature_byte(&cms));
    assert!(!openssl_cms_verify(&tampered, &doc, &root).0);
    assert!(!pyhanko_detached(&tampered, &doc, &root).0);

    // Our own verification says the same, in French.
    let anchors = vec![pki.root_certificate_der().to_vec()];
    let report =
        verify_detached_digest(&cms, &digest, &anchors, None, SignatureFormat::Cades).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.claimed_time, Some(now()));
    assert_eq!(report.signer.unwrap().subject_common_name, "Anne Martin");
    assert_eq!(report.chain.len(), 2);
    let changed_digest: [u8; 32] = Sha256::digest(&changed).into();
    let report = verify_detached_digest(
        &cms,
        &changed_digest,
        &anchors,
        None,
        SignatureFormat::Cades,
    )
    .unwrap();
    assert!(
        matches!(&report.integrity, Check::Failed(m) if m.contains("modifié")),
        "{report:?}"
    );
    let report = verify_detached_digest(
        &flip_signature_byte(&cms),
        &digest,
        &anchors,
        None,
        SignatureFormat::Cades,
    )
    .unwrap();
    assert!(!report.is_valid());
    // Another authority is not trusted.
    let other = DemoPki::generate(now()).unwrap();
    let report = verify_detached_digest(
        &cms,
        &digest,
        &[other.root_certificate_der().to_vec()],
        None,
        SignatureFormat::Cades,
    )
    .unwrap();
    assert!(
        report.integrity.is_ok() && !report.certificate.is_ok(),
        "{report:?}"
    );
    // PEM input is accepted too.
    let pem = to_pem(&cms, "PKCS7");
    assert!(
        verify_detached_digest(
            pem.as_bytes(),
            &digest,
            &anchors,
            None,
            SignatureFormat::Cades
        )
        .unwrap()
        .is_valid()
    );
}

#[test]
fn cades_b_t_with_the_built_in_tsa() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    let signer = person(&pki);
    let tsa = BuiltInTsa::new(pki.issue_tsa(now()).unwrap());
    let document = b"Arrete du maire".to_vec();
    let digest: [u8; 32] = Sha256::digest(&document).into();
    // PAdES-style: no signingTime; the time comes from the token.
    let cms =
        sign_detached_digest_with_tsa(&signer, &digest, &SignOptions::default(), &tsa, now(), 1001)
            .unwrap();

    let root = write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    let doc = write(dir.path(), "doc.txt", &document);
    let sig = write(dir.path(), "sig.p7s", &cms);
    let (ok, out) = openssl_cms_verify(&sig, &doc, &root);
    assert!(ok, "openssl: {out}");
    let (ok, out) = pyhanko_detached(&sig, &doc, &root);
    assert!(
        ok && out.contains("VALID") && !out.contains("INVALID"),
        "pyhanko: {out}"
    );

    let anchors = vec![pki.root_certificate_der().to_vec()];
    let report =
        verify_detached_digest(&cms, &digest, &anchors, None, SignatureFormat::Cades).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert!(report.timestamp_check.is_ok());
    assert_eq!(
        report.timestamp,
        Some((now(), "Horodatage Bouquet démo".to_string()))
    );
    assert_eq!(report.claimed_time, None);

    // A token over another signature does not count for this one (RSA PKCS#1 v1.5 is
    // deterministic: the other signature must differ in what it signs).
    let other = sign_detached_digest(&signer, &[7; 32], &SignOptions::default()).unwrap();
    let other_imprint: [u8; 32] = Sha256::digest(signature_value(&other).unwrap()).into();
    let response = tsa
        .respond(&request_der(&other_imprint, 5).unwrap(), now(), 5)
        .unwrap();
    let token = token_from_response(&response, &other_imprint, 5).unwrap();
    let wrong = add_signature_timestamp(
        &sign_detached_digest(&signer, &digest, &SignOptions::default()).unwrap(),
        &token,
    )
    .unwrap();
    let report =
        verify_detached_digest(&wrong, &digest, &anchors, None, SignatureFormat::Cades).unwrap();
    assert!(
        matches!(report.timestamp_check, Check::Failed(_)),
        "{report:?}"
    );
    assert!(!report.is_valid());
}

#[test]
fn time_stamp_responses_are_accepted_by_openssl_ts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    let tsa_credential = pki.issue_tsa(now()).unwrap();
    let tsa_pem = to_pem(&tsa_credential.certificate, "CERTIFICATE");
    let tsa = BuiltInTsa::new(tsa_credential);
    let data = b"signature value to time-stamp".to_vec();
    let imprint: [u8; 32] = Sha256::digest(&data).into();
    let response = tsa
        .respond(&request_der(&imprint, 77).unwrap(), now(), 12)
        .unwrap();

    let root = write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    let tsa_cert = write(dir.path(), "tsa.pem", tsa_pem);
    let resp = write(dir.path(), "resp.der", &response);
    let data_path = write(dir.path(), "data.bin", &data);
    let verify = |data: &Path, query: Option<&Path>| {
        let mut cmd = Command::new("openssl");
        cmd.args(["ts", "-verify", "-in"]).arg(&resp);
        match query {
            Some(q) => cmd.arg("-queryfile").arg(q),
            None => cmd.arg("-data").arg(data),
        };
        cmd.arg("-CAfile")
            .arg(&root)
            .arg("-untrusted")
            .arg(&tsa_cert)
            .args(["-attime", &now().as_second().to_string()]);
        run(&mut cmd)
    };
    let (ok, out) = verify(&data_path, None);
    assert!(ok && out.contains("Verification: OK"), "openssl ts: {out}");
    let mut changed = data.clone();
    changed[0] ^= 1;
    let changed_path = write(dir.path(), "changed.bin", &changed);
    assert!(!verify(&changed_path, None).0);
    // A changed byte in the token's signature value (the last bytes of the response).
    let mut tampered = response.clone();
    let at = tampered.len() - 20;
    tampered[at] ^= 1;
    std::fs::write(&resp, &tampered).unwrap();
    assert!(!verify(&data_path, None).0);

    // A request made by openssl is answered, and openssl checks the answer against it.
    let query = dir.path().join("req.tsq");
    let (ok, out) = run(Command::new("openssl")
        .args(["ts", "-query", "-sha256", "-cert", "-data"])
        .arg(&data_path)
        .arg("-out")
        .arg(&query));
    assert!(ok, "{out}");
    let response = tsa
        .respond(&std::fs::read(&query).unwrap(), now(), 13)
        .unwrap();
    std::fs::write(&resp, &response).unwrap();
    let (ok, out) = verify(&data_path, Some(&query));
    assert!(ok, "openssl ts -queryfile: {out}");

    // Our own checks: the token, its imprint, its authority.
    let token = bouquet_crypto::tsa::token_from_response(
        &tsa.respond(&request_der(&imprint, 78).unwrap(), now(), 14)
            .unwrap(),
        &imprint,
        78,
    )
    .unwrap();
    let anchors = vec![pki.root_certificate_der().to_vec()];
    let info = verify_token(&token, &imprint, &anchors).unwrap();
    assert_eq!(info.time, now());
    assert_eq!(info.serial, "0E");
    let err = verify_token(&token, &[0u8; 32], &anchors).unwrap_err();
    assert!(err.to_string().contains("empreinte différente"), "{err}");
    let other = DemoPki::generate(now()).unwrap();
    assert!(verify_token(&token, &imprint, &[other.root_certificate_der().to_vec()]).is_err());

    // A malformed request gets a rejection response, not a panic.
    let rejected = tsa.respond(b"\x30\x03\x02\x01\x01", now(), 15).unwrap();
    let err = token_from_response(&rejected, &imprint, 1).unwrap_err();
    assert!(err.to_string().contains("a refusé la demande"), "{err}");
}

#[test]
fn pkcs12_files_made_by_openssl_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    let original = person(&pki);
    let key = write(
        dir.path(),
        "key.pem",
        to_pem(original.key.pkcs8_der(), "PRIVATE KEY"),
    );
    let cert = write(
        dir.path(),
        "cert.pem",
        to_pem(&original.certificate, "CERTIFICATE"),
    );
    let root = write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    let export = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let (ok, text) = run(Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:Secret-2026"])
            .args(extra)
            .arg("-inkey")
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-certfile")
            .arg(&root)
            .arg("-out")
            .arg(&out));
        assert!(ok, "openssl pkcs12 {extra:?}: {text}");
        std::fs::read(out).unwrap()
    };
    let digest: [u8; 32] = Sha256::digest(b"document").into();
    let anchors = vec![pki.root_certificate_der().to_vec()];
    for (name, extra) in [("default.p12", &[][..]), ("legacy.p12", &["-legacy"][..])] {
        let p12 = export(name, extra);
        let imported =
            Credential::from_pkcs12(&p12, "Secret-2026").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imported.certificate, original.certificate, "{name}");
        assert_eq!(
            imported.chain,
            vec![pki.root_certificate_der().to_vec()],
            "{name}"
        );
        imported
            .check_for_signing(now(), Purpose::PersonSignature)
            .unwrap();
        let cms = sign_detached_digest(&imported, &digest, &SignOptions::default()).unwrap();
        let report =
            verify_detached_digest(&cms, &digest, &anchors, Some(now()), SignatureFormat::Cades)
                .unwrap();
        assert!(report.is_valid(), "{name}: {report:?}");

        let err = Credential::from_pkcs12(&p12, "wrong").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Le mot de passe du fichier PKCS#12 est incorrect.",
            "{name}"
        );
    }
    // A file without the private key, and a file that is no PKCS#12 at all.
    let out = dir.path().join("nokey.p12");
    let (ok, text) = run(Command::new("openssl")
        .args(["pkcs12", "-export", "-nokeys", "-passout", "pass:x", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&out));
    assert!(ok, "{text}");
    let err = Credential::from_pkcs12(&std::fs::read(&out).unwrap(), "x").unwrap_err();
    assert!(err.to_string().contains("pas de clé privée"), "{err}");
    let err = Credential::from_pkcs12(b"not a pkcs12 file", "x").unwrap_err();
    assert!(err.to_string().contains("PKCS#12"), "{err}");
}

#[test]
fn expired_not_yet_valid_and_wrong_purpose_certificates_are_refused() {
    let pki = DemoPki::generate(now()).unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let issue = |purpose, from: i32, to: i32| {
        pki.issue_with(
            "Paul Durand",
            &LeafOptions {
                not_before: now().checked_add(day * from).unwrap(),
                not_after: now().checked_add(day * to).unwrap(),
                purpose,
            },
        )
        .unwrap()
    };
    let expired = issue(LeafPurpose::PersonSignature, -400, -30);
    let err = expired
        .check_for_signing(now(), Purpose::PersonSignature)
        .unwrap_err();
    let until = certificate_info(&expired.certificate).unwrap().not_after;
    assert!(
        err.to_string().starts_with(&format!(
            "Le certificat de Paul Durand a expiré le {}.",
            until.in_tz("Europe/Paris").unwrap().strftime("%d/%m/%Y")
        )),
        "{err}"
    );
    let later = issue(LeafPurpose::PersonSignature, 10, 400);
    let err = later
        .check_for_signing(now(), Purpose::PersonSignature)
        .unwrap_err();
    assert!(
        err.to_string().contains("n'est valable qu'à partir du"),
        "{err}"
    );
    let tls = issue(LeafPurpose::TlsServer, -1, 400);
    let err = tls
        .check_for_signing(now(), Purpose::PersonSignature)
        .unwrap_err();
    assert!(
        err.to_string().contains("n'est pas prévu pour signer"),
        "{err}"
    );
    assert!(tls.check_for_signing(now(), Purpose::Seal).is_err());
    assert!(tls.check_for_signing(now(), Purpose::TimeStamping).is_err());
    // A person's certificate is not a TSA's, a seal is fine as a seal.
    let good = issue(LeafPurpose::PersonSignature, -1, 400);
    good.check_for_signing(now(), Purpose::PersonSignature)
        .unwrap();
    assert!(
        good.check_for_signing(now(), Purpose::TimeStamping)
            .is_err()
    );
    let seal = pki
        .issue_seal("Commune de Saint-Aubin", "213100000", now())
        .unwrap();
    seal.check_for_signing(now(), Purpose::Seal).unwrap();
    // The built-in TSA refuses to work with an expired certificate.
    let tsa = BuiltInTsa::new(issue(LeafPurpose::TimeStamping, -400, -1));
    assert!(
        tsa.respond(&request_der(&[1; 32], 1).unwrap(), now(), 1)
            .is_err()
    );
}

#[test]
fn pkcs12_with_an_ecdsa_key_made_by_openssl_signs_cades() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    write(
        dir.path(),
        "rootkey.pem",
        to_pem(pki.root_key_pkcs8(), "PRIVATE KEY"),
    );
    write(
        dir.path(),
        "ext.cnf",
        "keyUsage = critical, digitalSignature, nonRepudiation\n\
         extendedKeyUsage = emailProtection\n",
    );
    let openssl = |args: &[&str]| {
        let (ok, out) = run(Command::new("openssl").current_dir(dir.path()).args(args));
        assert!(ok, "openssl {args:?}: {out}");
    };
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec.pem",
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        "ec.pem",
        "-subj",
        "/C=FR/CN=Lucie Bernard",
        "-out",
        "ec.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "ec.csr",
        "-CA",
        "root.pem",
        "-CAkey",
        "rootkey.pem",
        "-set_serial",
        "4242",
        "-days",
        "365",
        "-extfile",
        "ext.cnf",
        "-out",
        "ec-cert.pem",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "ec.pem",
        "-in",
        "ec-cert.pem",
        "-certfile",
        "root.pem",
        "-passout",
        "pass:pw",
        "-out",
        "ec.p12",
    ]);
    let credential =
        Credential::from_pkcs12(&std::fs::read(dir.path().join("ec.p12")).unwrap(), "pw").unwrap();
    assert_eq!(
        credential.key.algorithm(),
        bouquet_crypto::keys::SignatureAlgorithm::EcdsaP256Sha256
    );
    // openssl dated the certificate with the system clock: sign just after that.
    let signed_at = certificate_info(&credential.certificate)
        .unwrap()
        .not_before
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let document = b"Convention".to_vec();
    let digest: [u8; 32] = Sha256::digest(&document).into();
    let options = SignOptions {
        signing_time: Some(signed_at),
    };
    let cms = sign_detached_digest(&credential, &digest, &options).unwrap();
    let sig = write(dir.path(), "ec.p7s", &cms);
    let doc = write(dir.path(), "doc.txt", &document);
    let (ok, out) = openssl_cms_verify_at(&sig, &doc, &dir.path().join("root.pem"), signed_at);
    assert!(ok, "openssl: {out}");
    let anchors = vec![pki.root_certificate_der().to_vec()];
    let report =
        verify_detached_digest(&cms, &digest, &anchors, None, SignatureFormat::Cades).unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.signer.unwrap().subject_common_name, "Lucie Bernard");
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../standards/signature")
            .join(path),
    )
    .unwrap()
}

#[test]
fn iparapheur_cades_fixture_is_verified() {
    let cms = fixture("cades/PDF_avec_tags.pdf.signature_cades.p7s");
    assert!(cms.starts_with(b"-----BEGIN PKCS7-----"));
    let pdf = fixture("pades/PDF_avec_tags.pdf");
    let digest: [u8; 32] = Sha256::digest(&pdf).into();
    let anchors: Vec<Vec<u8>> = [
        "trust/libriciel-test-ca-root.pem",
        "trust/libriciel-test-ca-intermediate.pem",
    ]
    .iter()
    .map(|p| parse_pem_or_der(&fixture(p)).unwrap())
    .collect();
    // Judged today, without a time-stamp: the signer's certificate has expired, so the
    // signature is not valid (the signer's own date is not proof), though intact.
    let at: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let report =
        verify_detached_digest(&cms, &digest, &anchors, Some(at), SignatureFormat::Cades).unwrap();
    assert!(report.integrity.is_ok());
    assert!(!report.is_valid(), "{report:#?}");
    assert!(
        matches!(&report.certificate, Check::Failed(m) if m.contains("14/02/2025")),
        "{:?}",
        report.certificate
    );
    assert!(
        report
            .remarks
            .iter()
            .any(|r| r.contains("a expiré le 14/02/2025")),
        "{:?}",
        report.remarks
    );
    // Judged at the date the signer claims (asked for by giving no time, as pyHanko's
    // `--validation-time claimed`): valid.
    let report =
        verify_detached_digest(&cms, &digest, &anchors, None, SignatureFormat::Cades).unwrap();
    assert!(report.is_valid(), "{report:#?}");
    let signer = report.signer.clone().unwrap();
    assert!(
        signer.subject_common_name.contains("Christian Noir"),
        "{signer:?}"
    );
    let claimed = report.claimed_time.unwrap();
    assert!(claimed.to_string().starts_with("2022-02-15"), "{claimed}");
    assert!(report.chain.len() >= 2);

    // The same signature over another document is refused.
    let mut other = pdf.clone();
    other[500] ^= 1;
    let other_digest: [u8; 32] = Sha256::digest(&other).into();
    let report = verify_detached_digest(
        &cms,
        &other_digest,
        &anchors,
        Some(at),
        SignatureFormat::Cades,
    )
    .unwrap();
    assert!(matches!(report.integrity, Check::Failed(_)));
    // Without trust anchors the chain is not checked, and the report is not valid.
    let report =
        verify_detached_digest(&cms, &digest, &[], Some(at), SignatureFormat::Cades).unwrap();
    assert!(report.integrity.is_ok());
    assert!(matches!(report.certificate, Check::NotChecked(_)));
    assert!(!report.is_valid());
}

#[test]
fn tokens_made_by_openssl_ts_are_verified() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DemoPki::generate(now()).unwrap();
    let tsa = pki.issue_tsa(now()).unwrap();
    write(
        dir.path(),
        "tsa.pem",
        to_pem(&tsa.certificate, "CERTIFICATE"),
    );
    write(
        dir.path(),
        "tsakey.pem",
        to_pem(tsa.key.pkcs8_der(), "PRIVATE KEY"),
    );
    write(
        dir.path(),
        "root.pem",
        to_pem(pki.root_certificate_der(), "CERTIFICATE"),
    );
    write(dir.path(), "serial", "2A\n");
    // Fractions of a second in genTime, a TSA name, ordering: what real TSAs send.
    let config = write(
        dir.path(),
        "tsa.cnf",
        "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
         certs = ./root.pem\nsigner_key = ./tsakey.pem\nsigner_digest = sha256\n\
         default_policy = 1.2.3.4.1\ndigests = sha256\n\
         accuracy = secs:1, millisecs:500, microsecs:100\nclock_precision_digits = 3\n\
         ordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
    );
    let imprint: [u8; 32] = Sha256::digest(b"a signature value").into();
    write(dir.path(), "req.tsq", request_der(&imprint, 99).unwrap());
    let (ok, out) = run(Command::new("openssl")
        .current_dir(dir.path())
        .args(["ts", "-reply", "-config"])
        .arg(&config)
        .args(["-queryfile", "req.tsq", "-out", "resp.der"]));
    assert!(ok, "openssl ts -reply: {out}");
    let response = std::fs::read(dir.path().join("resp.der")).unwrap();
    let token = token_from_response(&response, &imprint, 99).unwrap();
    let anchors = vec![pki.root_certificate_der().to_vec()];
    let info = verify_token(&token, &imprint, &anchors).unwrap();
    assert_eq!(info.authority, "Horodatage Bouquet démo");
    assert_eq!(info.serial, "2B"); // openssl increments the serial file first
    assert!(token_from_response(&response, &imprint, 98).is_err());
    assert!(verify_token(&token, &[3; 32], &anchors).is_err());
}
