//! PAdES signing by incremental update, checked by pyHanko and poppler's pdfsig.
//!
//! The CMS comes from [`bouquet_crypto::cms`]; one test makes it with `openssl cms -sign
//! -cades` over the signed bytes rebuilt from the original and the prepared tail instead, an
//! independent check of the digest and of the byte range.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bouquet_crypto::CryptoError;
use bouquet_crypto::cms::{
    SignOptions, sign_detached_digest, sign_detached_digest_with_tsa, to_pem,
};
use bouquet_crypto::keys::Credential;
use bouquet_crypto::pades::{
    self, PreparedSignature, SignatureRequest, Stamp, StampPage, prepare, signatures,
};
use bouquet_crypto::pdf::{PdfReader, PdfSource, XrefKind};
use bouquet_crypto::pki::{DemoPki, PersonSubject};
use bouquet_crypto::report::Check;
use bouquet_crypto::tsa::BuiltInTsa;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

const FIXTURE: &str = "../../standards/signature/pades/PDF_avec_tags-signature_pades.pdf";

// ---------------------------------------------------------------------------------------------
// Scratch space, test PKI, CMS by OpenSSL, validators.

/// A temporary folder, removed when dropped.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bouquet-pades-{name}-"))
        .tempdir()
        .unwrap()
}

struct Pki {
    /// Holds the PEM files below for the whole test run.
    _dir: tempfile::TempDir,
    demo: DemoPki,
    signer: Credential,
    tsa: BuiltInTsa,
    root_pem: PathBuf,
    /// The signer's certificate and key, for OpenSSL.
    signer_pem: PathBuf,
    key_pem: PathBuf,
}

fn now() -> Timestamp {
    "2026-12-07T13:03:00Z".parse().unwrap()
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let temp = scratch("pki");
        let dir = temp.path();
        let demo = DemoPki::generate(now()).unwrap();
        let subject = PersonSubject {
            given_name: "Anne".into(),
            surname: "Martin".into(),
            email: "anne.martin@saint-aubin.example".into(),
            organisation: "Commune de Saint-Aubin".into(),
            title: "Maire".into(),
        };
        let signer = demo.issue_person(subject, now()).unwrap();
        let tsa = BuiltInTsa::new(demo.issue_tsa(now()).unwrap());
        let pki = Pki {
            root_pem: dir.join("root.pem"),
            signer_pem: dir.join("signer.pem"),
            key_pem: dir.join("key.pem"),
            demo,
            signer,
            tsa,
            _dir: temp,
        };
        std::fs::write(
            &pki.root_pem,
            to_pem(pki.demo.root_certificate_der(), "CERTIFICATE"),
        )
        .unwrap();
        std::fs::write(
            &pki.signer_pem,
            to_pem(&pki.signer.certificate, "CERTIFICATE"),
        )
        .unwrap();
        std::fs::write(
            &pki.key_pem,
            to_pem(pki.signer.key.pkcs8_der(), "PRIVATE KEY"),
        )
        .unwrap();
        pki
    })
}

fn anchors() -> Vec<Vec<u8>> {
    vec![pki().demo.root_certificate_der().to_vec()]
}

/// The bytes a prepared signature covers, rebuilt from the original and its tail.
fn signed_bytes(original: &[u8], prepared: &PreparedSignature) -> Vec<u8> {
    let whole = [original, prepared.placeholder_tail()].concat();
    let [_, a, b, c] = prepared.byte_range();
    assert_eq!(b + c, whole.len() as u64);
    [&whole[..a as usize], &whole[b as usize..]].concat()
}

/// A CAdES detached CMS over `content` made by OpenSSL with the test signer (it adds a
/// signingTime attribute, which PAdES does not want but validators accept).
fn openssl_cms(content: &[u8], dir: &Path) -> Vec<u8> {
    let pki = pki();
    let input = dir.join("signed-range.bin");
    let output = dir.join("cms.der");
    std::fs::write(&input, content).unwrap();
    let status = Command::new("openssl")
        .args([
            "cms",
            "-sign",
            "-binary",
            "-cades",
            "-nosmimecap",
            "-md",
            "sha256",
        ])
        .args(["-outform", "DER", "-in"])
        .arg(&input)
        .arg("-signer")
        .arg(&pki.signer_pem)
        .arg("-inkey")
        .arg(&pki.key_pem)
        .arg("-out")
        .arg(&output)
        .status()
        .unwrap();
    assert!(status.success(), "openssl cms -sign failed");
    std::fs::read(output).unwrap()
}

/// Signs `pdf` (prepare, CMS by the cms module, finish); checks the digest against the bytes.
fn sign_with(pdf: &[u8], request: &SignatureRequest, _dir: &Path) -> Vec<u8> {
    let prepared = prepare(&pdf, request).unwrap();
    let content = signed_bytes(pdf, &prepared);
    assert_eq!(prepared.digest, <[u8; 32]>::from(Sha256::digest(&content)));
    let cms =
        sign_detached_digest(&pki().signer, &prepared.digest, &SignOptions::default()).unwrap();
    let tail = prepared.finish(&cms).unwrap();
    [pdf, &tail[..]].concat()
}

fn request(name: &str) -> SignatureRequest {
    let mut request = SignatureRequest::new(name, now());
    request.reason = Some("Approbation de la délibération".into());
    request.location = Some("Saint-Aubin".into());
    request
}

fn stamp(page: StampPage) -> Stamp {
    Stamp {
        lines: vec![
            "Signé par Anne Martin".into(),
            "Maire".into(),
            "le 07/12/2026 à 14:03".into(),
            "en l’absence de Paul Durand".into(),
        ],
        page,
        rect: None,
    }
}

/// Runs pyHanko on `pdf`; returns whether it exited 0 and its output.
fn pyhanko(pdf: &Path) -> (bool, String) {
    let output = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--pretty-print",
            "--no-revocation-check",
        ])
        .arg("--trust")
        .arg(&pki().root_pem)
        .arg("--trust-replace")
        .arg(pdf)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs pdfsig (always exits 0: its text is what counts).
fn pdfsig(pdf: &Path) -> String {
    let output = Command::new("pdfsig").arg(pdf).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Asserts that both validators accept every signature of the file and that pdfsig finds
/// `count` signatures, the last one covering the whole document.
fn assert_valid(path: &Path, count: usize) {
    let (ok, text) = pyhanko(path);
    assert!(ok, "pyHanko refused {}:\n{text}", path.display());
    assert!(text.contains("judged VALID"), "{text}");
    let text = pdfsig(path);
    assert_eq!(
        text.matches("Signature is Valid.").count(),
        count,
        "pdfsig on {}:\n{text}",
        path.display()
    );
    assert!(text.contains("Total document signed"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// A tiny PDF writer for test documents.

#[derive(Default)]
struct TestPdf {
    pages: usize,
    /// Bytes of comment lines added to the first page's content.
    padding: usize,
    indirect_annots: bool,
    acroform: bool,
    /// Pages grouped by three under intermediate /Pages nodes.
    nested: bool,
    /// A certification signature with this DocMDP permission (only its dictionary).
    docmdp: Option<i64>,
    /// The MediaBox of the pages, default A4 at the origin.
    media_box: Option<[i32; 4]>,
}

impl TestPdf {
    fn pages(pages: usize) -> Self {
        TestPdf {
            pages,
            ..TestPdf::default()
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut objects: Vec<Vec<u8>> = Vec::new();
        // 1 catalog, 2 pages, 3 font, 4 acroform, 5 text field widget, 6 annots array,
        // 7 link annotation, then (page, content) pairs, then intermediate page nodes, then
        // the DocMDP signature dictionary.
        let first_page = 8;
        let page_ref = |i: usize| format!("{} 0 R", first_page + 2 * i);
        let first_node = first_page + 2 * self.pages;
        let groups: Vec<Vec<usize>> = (0..self.pages)
            .collect::<Vec<_>>()
            .chunks(3)
            .map(<[usize]>::to_vec)
            .collect();
        let node_count = if self.nested { groups.len() } else { 0 };
        let docmdp_num = first_node + node_count;
        let parent_of = |i: usize| {
            if self.nested { first_node + i / 3 } else { 2 }
        };
        let acroform = if self.acroform {
            " /AcroForm 4 0 R"
        } else {
            ""
        };
        let perms = match self.docmdp {
            Some(_) => format!(" /Perms << /DocMDP {docmdp_num} 0 R >>"),
            None => String::new(),
        };
        objects.push(format!("<< /Type /Catalog /Pages 2 0 R{acroform}{perms} >>").into_bytes());
        let root_kids: Vec<String> = if self.nested {
            (0..node_count)
                .map(|k| format!("{} 0 R", first_node + k))
                .collect()
        } else {
            (0..self.pages).map(page_ref).collect()
        };
        let [x0, y0, x1, y1] = self.media_box.unwrap_or([0, 0, 595, 842]);
        objects.push(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} /MediaBox [{x0} {y0} {x1} {y1}] >>",
                root_kids.join(" "),
                self.pages
            )
            .into_bytes(),
        );
        objects.push(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        );
        objects.push(b"<< /Fields [5 0 R] /DA (/Helv 0 Tf 0 g) >>".to_vec());
        objects.push(
            format!(
                "<< /Type /Annot /Subtype /Widget /FT /Tx /T (Nom) /V (Anne) /Rect [72 600 272 620] /P {first_page} 0 R /F 4 >>"
            )
            .into_bytes(),
        );
        let mut annots = vec!["7 0 R".to_string()];
        if self.acroform {
            annots.push("5 0 R".into());
        }
        objects.push(format!("[{}]", annots.join(" ")).into_bytes());
        objects.push(
            b"<< /Type /Annot /Subtype /Link /Rect [72 700 200 720] /Border [0 0 0] /A << /S /URI /URI (https://example.org/) >> >>"
                .to_vec(),
        );
        for i in 0..self.pages {
            let annots = if i == 0 && (self.indirect_annots || self.acroform) {
                if self.indirect_annots {
                    " /Annots 6 0 R".to_string()
                } else {
                    " /Annots [5 0 R]".to_string()
                }
            } else {
                String::new()
            };
            objects.push(
                format!(
                    "<< /Type /Page /Parent {} 0 R /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >>{annots} >>",
                    parent_of(i),
                    first_page + 2 * i + 1
                )
                .into_bytes(),
            );
            let mut content = format!(
                "BT /F1 24 Tf {} {} Td (Page {} de test) Tj ET\n",
                x0 + 72,
                y1 - 80,
                i + 1
            )
            .into_bytes();
            if i == 0 {
                let line = b"% padding padding padding padding padding padding padding padding\n";
                while content.len() < self.padding {
                    content.extend_from_slice(line);
                }
            }
            let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            stream.extend_from_slice(&content);
            stream.extend_from_slice(b"\nendstream");
            objects.push(stream);
        }
        if self.nested {
            for group in &groups {
                let kids: Vec<String> = group.iter().map(|&i| page_ref(i)).collect();
                objects.push(
                    format!(
                        "<< /Type /Pages /Parent 2 0 R /Kids [{}] /Count {} >>",
                        kids.join(" "),
                        group.len()
                    )
                    .into_bytes(),
                );
            }
        }
        if let Some(p) = self.docmdp {
            objects.push(
                format!(
                    "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /Type /TransformParams /P {p} /V /1.2 >> >>] >>"
                )
                .into_bytes(),
            );
        }
        write_classic(&objects)
    }
}

/// Writes objects numbered from 1 with a classic cross-reference table.
fn write_classic(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A hybrid-reference file (classic table + /XRefStm): the font (5) lives only in an object
/// stream that the table marks free; the content's /Length is an indirect object.
fn hybrid_pdf() -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = std::collections::BTreeMap::new();
    let object = |out: &mut Vec<u8>,
                  offsets: &mut std::collections::BTreeMap<usize, usize>,
                  num: usize,
                  body: &[u8]| {
        offsets.insert(num, out.len());
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(
        &mut out,
        &mut offsets,
        1,
        b"<< /Type /Catalog /Pages 2 0 R >>",
    );
    object(
        &mut out,
        &mut offsets,
        2,
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>",
    );
    object(
        &mut out,
        &mut offsets,
        3,
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    );
    let content = b"BT /F1 24 Tf 72 760 Td (Page hybride) Tj ET";
    let mut stream = b"<< /Length 6 0 R >>\nstream\n".to_vec();
    stream.extend_from_slice(content);
    stream.extend_from_slice(b"\nendstream");
    object(&mut out, &mut offsets, 4, &stream);
    object(
        &mut out,
        &mut offsets,
        6,
        content.len().to_string().as_bytes(),
    );
    let font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
    let header = b"5 0 ";
    let mut objstm = format!(
        "<< /Type /ObjStm /N 1 /First {} /Length {} >>\nstream\n",
        header.len(),
        header.len() + font.len()
    )
    .into_bytes();
    objstm.extend_from_slice(header);
    objstm.extend_from_slice(font);
    objstm.extend_from_slice(b"\nendstream");
    object(&mut out, &mut offsets, 7, &objstm);
    // The xref stream: object 5 in stream 7 at index 0; 7 and 8 in the file.
    let xref_stream_at = out.len();
    let mut rows = vec![2u8, 0, 7, 0];
    for offset in [offsets[&7], xref_stream_at] {
        rows.push(1);
        rows.extend_from_slice(&(offset as u16).to_be_bytes());
        rows.push(0);
    }
    let mut xs = format!(
        "<< /Type /XRef /Size 9 /W [1 2 1] /Index [5 1 7 2] /Length {} >>\nstream\n",
        rows.len()
    )
    .into_bytes();
    xs.extend_from_slice(&rows);
    xs.extend_from_slice(b"\nendstream");
    object(&mut out, &mut offsets, 8, &xs);
    let table = out.len();
    out.extend_from_slice(b"xref\n0 9\n0000000000 65535 f \n");
    for num in 1..=8 {
        match offsets.get(&num) {
            Some(offset) if num != 5 => {
                out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes())
            }
            _ => out.extend_from_slice(b"0000000000 00001 f \n"),
        }
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size 9 /Root 1 0 R /XRefStm {xref_stream_at} >>\nstartxref\n{table}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

/// A source that records how it is read.
struct CountingSource {
    bytes: Vec<u8>,
    total: std::cell::Cell<u64>,
    largest: std::cell::Cell<usize>,
}

impl PdfSource for CountingSource {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read_at(offset, buf)?;
        self.total.set(self.total.get() + n as u64);
        self.largest.set(self.largest.get().max(buf.len()));
        Ok(n)
    }
}

fn qpdf(args: &[&str], input: &Path, output: &Path) {
    let status = Command::new("qpdf")
        .args(args)
        .arg(input)
        .arg(output)
        .status()
        .unwrap();
    // qpdf exits 3 on warnings only.
    assert!(matches!(status.code(), Some(0 | 3)), "qpdf {args:?} failed");
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn an_invisible_signature_on_a_classic_xref_pdf_is_valid_for_pyhanko_and_pdfsig() {
    let dir = scratch("classic");
    let dir = dir.path();
    let original = TestPdf::pages(3).build();
    let signed = sign_with(&original, &request("Anne Martin"), dir);
    assert_eq!(
        &signed[..original.len()],
        &original[..],
        "incremental update only"
    );
    let path = write(dir, "signed.pdf", &signed);
    assert_valid(&path, 1);

    let found = signatures(&signed).unwrap();
    assert_eq!(found.len(), 1);
    let sig = &found[0];
    assert_eq!(sig.field_name, "Signature1");
    assert!(sig.covers_whole_file && sig.covers_revision && sig.byte_range_matches_contents);
    assert_eq!(
        sig.signing_time_m.as_deref(),
        Some("D:20261207140300+01'00'")
    );
    assert_eq!(
        sig.reason.as_deref(),
        Some("Approbation de la délibération")
    );
    assert_eq!(sig.name.as_deref(), Some("Anne Martin"));
    assert_eq!(sig.sub_filter.as_deref(), Some("ETSI.CAdES.detached"));
    assert_eq!(sig.cms_der[0], 0x30);
    let [_, a, b, _] = sig.byte_range;
    let content = [&signed[..a as usize], &signed[b as usize..]].concat();
    assert_eq!(
        sig.content_sha256,
        <[u8; 32]>::from(Sha256::digest(&content))
    );
}

#[test]
fn one_flipped_byte_in_the_signed_range_makes_both_validators_fail() {
    let dir = scratch("flipped");
    let dir = dir.path();
    let original = TestPdf::pages(2).build();
    let mut signed = sign_with(&original, &request("Anne Martin"), dir);
    // A byte of the first page's text ("Page 1 de test").
    let at = signed.windows(6).position(|w| w == b"Page 1").unwrap();
    signed[at + 5] = b'7';
    let path = write(dir, "tampered.pdf", &signed);
    let (ok, text) = pyhanko(&path);
    assert!(!ok, "pyHanko accepted a tampered file:\n{text}");
    let text = pdfsig(&path);
    assert!(!text.contains("Signature is Valid."), "{text}");
    assert!(text.contains("Digest Mismatch"), "{text}");
}

#[test]
fn a_second_signature_keeps_the_first_one_valid() {
    let dir = scratch("twice");
    let dir = dir.path();
    let original = TestPdf::pages(2).build();
    let once = sign_with(&original, &request("Anne Martin"), dir);
    let mut second = request("Paul Durand");
    second.stamp = Some(stamp(StampPage::Last));
    let twice = sign_with(&once, &second, dir);
    let path = write(dir, "twice.pdf", &twice);
    let (ok, text) = pyhanko(&path);
    assert!(ok, "{text}");
    assert_eq!(text.matches("judged VALID").count(), 2, "{text}");
    let text = pdfsig(&path);
    assert_eq!(text.matches("Signature is Valid.").count(), 2, "{text}");
    assert!(text.contains("Total document signed"), "{text}");

    let found = signatures(&twice).unwrap();
    let names: Vec<&str> = found.iter().map(|s| s.field_name.as_str()).collect();
    assert_eq!(names, ["Signature1", "Signature2"]);
    assert!(!found[0].covers_whole_file && found[0].covers_revision);
    assert!(found[1].covers_whole_file && found[1].covers_revision);
}

#[test]
fn the_iparapheur_fixture_can_be_signed_again() {
    let dir = scratch("iparapheur");
    let dir = dir.path();
    let original = std::fs::read(FIXTURE).unwrap();
    let signed = sign_with(&original, &request("Anne Martin"), dir);
    let path = write(dir, "resigned.pdf", &signed);
    let text = pdfsig(&path);
    assert_eq!(text.matches("Signature is Valid.").count(), 2, "{text}");
    let found = signatures(&signed).unwrap();
    let names: Vec<&str> = found.iter().map(|s| s.field_name.as_str()).collect();
    assert_eq!(names, ["Signature1", "Signature2"]);
    assert_eq!(found[0].byte_range, [0, 68248, 87194, 3642]);
    assert!(found[0].covers_revision && !found[0].covers_whole_file);

    // pyHanko checks that our update only added a signature (its signer expired in 2025:
    // validate at the claimed times).
    let trust = Path::new(FIXTURE)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("trust");
    let output = Command::new("pyhanko")
        .args([
            "sign",
            "validate",
            "--executive-summary",
            "--no-revocation-check",
        ])
        .args(["--validation-time", "claimed", "--trust-replace", "--trust"])
        .arg(trust.join("libriciel-test-ca-root.pem"))
        .arg("--trust")
        .arg(&pki().root_pem)
        .arg("--other-certs")
        .arg(trust.join("libriciel-test-ca-intermediate.pem"))
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(text.matches(":VALID").count(), 2, "{text}");
}

#[test]
fn xref_streams_and_object_streams_are_read_and_continued() {
    let dir = scratch("objstm");
    let dir = dir.path();
    let classic = write(dir, "classic.pdf", &TestPdf::pages(4).build());
    let compressed = dir.join("objstm.pdf");
    qpdf(&["--object-streams=generate"], &classic, &compressed);
    let original = std::fs::read(&compressed).unwrap();
    assert_eq!(
        PdfReader::open(&original).unwrap().newest_xref_kind(),
        XrefKind::Stream
    );
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Number(2)));
    let signed = sign_with(&original, &req, dir);
    assert_eq!(
        PdfReader::open(&signed).unwrap().newest_xref_kind(),
        XrefKind::Stream
    );
    let path = write(dir, "signed.pdf", &signed);
    assert_valid(&path, 1);
    // And a second signature over the xref-stream update.
    let twice = sign_with(&signed, &request("Paul Durand"), dir);
    let path = write(dir, "twice.pdf", &twice);
    assert_valid(&path, 2);
    let (_, text) = pyhanko(&path);
    assert_eq!(text.matches("judged VALID").count(), 2, "{text}");
}

#[test]
fn a_visible_stamp_shows_french_text() {
    let dir = scratch("stamp");
    let dir = dir.path();
    let original = TestPdf::pages(2).build();
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Last));
    let signed = sign_with(&original, &req, dir);
    let path = write(dir, "stamped.pdf", &signed);
    assert_valid(&path, 1);
    let output = Command::new("pdftotext")
        .args(["-f", "2", "-l", "2"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Signé par Anne Martin"), "{text}");
    assert!(text.contains("le 07/12/2026 à 14:03"), "{text}");
    assert!(text.contains("en l’absence de Paul Durand"), "{text}");
}

#[test]
fn indirect_annots_and_an_existing_acroform_are_kept() {
    let dir = scratch("annots");
    let dir = dir.path();
    for (name, pdf) in [
        (
            "indirect-annots",
            TestPdf {
                pages: 1,
                indirect_annots: true,
                ..TestPdf::default()
            },
        ),
        (
            "acroform",
            TestPdf {
                pages: 2,
                acroform: true,
                ..TestPdf::default()
            },
        ),
    ] {
        let original = pdf.build();
        let signed = sign_with(&original, &request("Anne Martin"), dir);
        let path = write(dir, &format!("{name}.pdf"), &signed);
        assert_valid(&path, 1);
        // The existing annotations and fields are still there.
        let reader = PdfReader::open(&signed).unwrap();
        let catalog = reader
            .resolve_dict(&bouquet_crypto::pdf::Object::Ref(
                reader.root_ref().unwrap(),
            ))
            .unwrap();
        let form = reader
            .resolve_dict(catalog.get("AcroForm").unwrap())
            .unwrap();
        let fields = form.get("Fields").unwrap().as_array().unwrap().len();
        assert_eq!(fields, if pdf.acroform { 2 } else { 1 }, "{name}");
        // The first page keeps its annotations and gets the widget.
        let pages = reader.resolve_dict(catalog.get("Pages").unwrap()).unwrap();
        let kids = pages.get("Kids").unwrap().as_array().unwrap().to_vec();
        let page = reader.resolve_dict(&kids[0]).unwrap();
        let annots = reader.resolve(page.get("Annots").unwrap()).unwrap();
        // Indirect: the link + the widget; AcroForm: the text field + the widget.
        assert_eq!(annots.as_array().unwrap().len(), 2, "{name}");
        let check = Command::new("qpdf")
            .arg("--check")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

#[test]
fn an_encrypted_pdf_is_refused_in_french() {
    let dir = scratch("encrypted");
    let dir = dir.path();
    let plain = write(dir, "plain.pdf", &TestPdf::pages(1).build());
    let encrypted = dir.join("encrypted.pdf");
    let status = Command::new("qpdf")
        .args(["--encrypt", "user", "owner", "256", "--"])
        .arg(&plain)
        .arg(&encrypted)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&encrypted).unwrap();
    let err = prepare(&bytes, &request("Anne Martin")).unwrap_err();
    assert!(matches!(err, CryptoError::BadInput(_)));
    assert!(err.to_string().starts_with("Ce PDF est chiffré"), "{err}");
}

#[test]
fn a_non_pdf_and_a_truncated_pdf_are_refused() {
    let err = prepare(&b"PK\x03\x04 not a pdf".to_vec(), &request("A")).unwrap_err();
    assert!(err.to_string().contains("n'est pas un PDF"), "{err}");

    let pdf = TestPdf::pages(2).build();
    for cut in [pdf.len() / 2, pdf.len() - 30, 20] {
        let err = prepare(&pdf[..cut].to_vec(), &request("A")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Ce fichier n'est pas un PDF lisible"),
            "cut at {cut}: {err}"
        );
    }
    // Garbage everywhere after the header never panics.
    let mut noisy = pdf.clone();
    for i in (200..noisy.len()).step_by(7) {
        noisy[i] = noisy[i].wrapping_mul(31).wrapping_add(7);
        let _ = prepare(&noisy, &request("A"));
    }
    assert!(prepare(&pdf, &request("A")).is_ok());
}

#[test]
fn a_cms_bigger_than_the_reserve_is_refused() {
    let original = TestPdf::pages(1).build();
    let mut req = request("Anne Martin");
    req.contents_reserve = 64;
    let prepared = prepare(&original, &req).unwrap();
    let err = prepared.finish(&[0x30; 65]).unwrap_err();
    assert!(err.to_string().contains("place réservée"), "{err}");
}

#[test]
fn an_existing_field_name_is_refused_and_names_are_numbered() {
    let original = std::fs::read(FIXTURE).unwrap();
    let mut req = request("Anne Martin");
    req.field_name = Some("Signature1".into());
    let err = prepare(&original, &req).unwrap_err();
    assert!(err.to_string().contains("« Signature1 »"), "{err}");
    req.field_name = None;
    assert_eq!(prepare(&original, &req).unwrap().field_name(), "Signature2");
}

#[test]
fn signing_a_file_streams_it_and_gives_the_same_bytes_as_from_memory() {
    let dir = scratch("file");
    let dir = dir.path();
    let original = TestPdf {
        pages: 20,
        padding: 24 << 20,
        ..TestPdf::default()
    }
    .build();
    let path = write(dir, "big.pdf", &original);
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(PdfSource::len(&file), original.len() as u64);
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Last));
    let from_file = prepare(&file, &req).unwrap();
    let from_memory = prepare(&original, &req).unwrap();
    assert_eq!(from_file.digest, from_memory.digest);
    assert_eq!(from_file.placeholder_tail(), from_memory.placeholder_tail());
    // The tail is small: only the new objects.
    assert!(from_file.placeholder_tail().len() < 64 * 1024);

    // The CMS from OpenSSL over the rebuilt bytes: an independent check of the digest.
    let cms = openssl_cms(&signed_bytes(&original, &from_file), dir);
    let tail = from_file.finish(&cms).unwrap();
    let signed_path = dir.join("big-signed.pdf");
    std::fs::copy(&path, &signed_path).unwrap();
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(&signed_path)
        .unwrap();
    std::io::Write::write_all(&mut out, &tail).unwrap();
    drop(out);
    let text = pdfsig(&signed_path);
    assert!(text.contains("Signature is Valid."), "{text}");
    let signed = std::fs::File::open(&signed_path).unwrap();
    let found = signatures(&signed).unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].covers_whole_file);
}

#[test]
fn sign_bytes_hands_the_digest_to_the_signer() {
    let original = TestPdf::pages(1).build();
    let mut seen = None;
    let signed = pades::sign_bytes(&original, &request("Anne Martin"), |digest| {
        seen = Some(*digest);
        Ok(vec![0x30, 0x03, 1, 2, 3])
    })
    .unwrap();
    let found = signatures(&signed).unwrap();
    assert_eq!(found[0].cms_der, vec![0x30, 0x03, 1, 2, 3]);
    assert_eq!(Some(found[0].content_sha256), seen);
}

#[test]
fn verify_reports_each_signature_and_what_it_covers() {
    let dir = scratch("verify");
    let dir = dir.path();
    let original = TestPdf::pages(2).build();
    let once = sign_with(&original, &request("Anne Martin"), dir);
    let twice = sign_with(&once, &request("Paul Durand"), dir);
    let reports = pades::verify(&twice, &anchors(), Some(now())).unwrap();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.coverage, Check::Ok);
        assert_eq!(report.claimed_time, Some(now()));
        assert_eq!(
            report.signer.as_ref().unwrap().subject_common_name,
            "Anne Martin"
        );
    }
    assert_eq!(reports[0].name, "Signature1");
    assert!(
        reports[0]
            .remarks
            .iter()
            .any(|r| r.contains("(signatures suivantes)")),
        "{:?}",
        reports[0].remarks
    );
    assert!(
        !reports[1]
            .remarks
            .iter()
            .any(|r| r.contains("signatures suivantes"))
    );

    // Unsigned bytes appended after the last signature: not covered, said so.
    let mut extended = twice.clone();
    extended.extend_from_slice(b"\n% rien\n");
    let reports = pades::verify(&extended, &anchors(), Some(now())).unwrap();
    assert!(
        matches!(reports[1].coverage, Check::NotChecked(_)),
        "{reports:#?}"
    );
    assert!(
        reports[1]
            .remarks
            .iter()
            .any(|r| r.contains("modifications non signées")),
        "{reports:#?}"
    );

    // One byte changed in the first revision: both signatures fail their integrity check.
    let at = twice.windows(6).position(|w| w == b"Page 2").unwrap();
    let mut tampered = twice.clone();
    tampered[at + 5] = b'9';
    let reports = pades::verify(&tampered, &anchors(), Some(now())).unwrap();
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.integrity, Check::Failed(_))),
        "{reports:#?}"
    );

    // Without trust anchors the certificate is not checked, and the report says so.
    let reports = pades::verify(&once, &[], Some(now())).unwrap();
    assert!(matches!(reports[0].certificate, Check::NotChecked(_)));
    assert!(!reports[0].is_valid());
}

#[test]
fn a_time_stamped_signature_b_t_is_valid() {
    let dir = scratch("b-t");
    let dir = dir.path();
    let original = TestPdf::pages(1).build();
    let prepared = prepare(&original, &request("Anne Martin")).unwrap();
    let cms = sign_detached_digest_with_tsa(
        &pki().signer,
        &prepared.digest,
        &SignOptions::default(),
        &pki().tsa,
        now(),
        42,
    )
    .unwrap();
    let signed = [&original[..], &prepared.finish(&cms).unwrap()].concat();
    let path = write(dir, "b-t.pdf", &signed);
    assert_valid(&path, 1);
    let (_, text) = pyhanko(&path);
    assert!(
        text.contains("time stamp token") || text.contains("timestamp"),
        "{text}"
    );
    let reports = pades::verify(&signed, &anchors(), Some(now())).unwrap();
    assert_eq!(reports[0].timestamp_check, Check::Ok, "{:#?}", reports[0]);
    assert!(reports[0].is_valid());
}

#[test]
fn the_iparapheur_signature_is_read_and_its_integrity_verified() {
    let original = std::fs::read(FIXTURE).unwrap();
    let trust = Path::new(FIXTURE)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("trust");
    let root = bouquet_crypto::cms::parse_pem_or_der(
        &std::fs::read(trust.join("libriciel-test-ca-root.pem")).unwrap(),
    )
    .unwrap();
    let reports = pades::verify(&original, &[root], Some(now())).unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.name, "Signature1");
    assert_eq!(report.integrity, Check::Ok, "{report:#?}");
    assert_eq!(report.coverage, Check::Ok);
    assert_eq!(
        report.claimed_time,
        Some("2022-02-15T08:56:24Z".parse().unwrap())
    );
    assert!(
        report
            .signer
            .as_ref()
            .unwrap()
            .subject_common_name
            .contains("Christian Noir"),
        "{report:#?}"
    );
}

#[test]
fn a_hybrid_reference_file_is_read_through_its_xref_stream() {
    let dir = scratch("hybrid");
    let dir = dir.path();
    let original = hybrid_pdf();
    let reader = PdfReader::open(&original).unwrap();
    assert_eq!(reader.newest_xref_kind(), XrefKind::Table);
    let font = reader.get(bouquet_crypto::pdf::ObjRef::new(5, 0)).unwrap();
    assert!(font.as_dict().unwrap().has_name("BaseFont", "Helvetica"));
    let content = reader.get(bouquet_crypto::pdf::ObjRef::new(4, 0)).unwrap();
    assert!(
        matches!(content, bouquet_crypto::pdf::Object::Stream(ref s) if s.data.ends_with(b"ET"))
    );
    let path = write(dir, "hybrid.pdf", &original);
    let check = Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Last));
    let signed = sign_with(&original, &req, dir);
    let path = write(dir, "signed.pdf", &signed);
    // pyHanko refuses hybrid files unless told to be lenient ("Settings do not permit
    // validation of signatures in hybrid-reference files").
    let output = Command::new("pyhanko")
        .args(["sign", "validate", "--no-strict-syntax", "--pretty-print"])
        .arg("--no-revocation-check")
        .arg("--trust")
        .arg(&pki().root_pem)
        .arg("--trust-replace")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("judged VALID"),
        "{text}"
    );
    let text = pdfsig(&path);
    assert!(
        text.contains("Signature is Valid.") && text.contains("Total document signed"),
        "{text}"
    );
}

#[test]
fn the_page_tree_is_walked_to_the_wanted_page_only() {
    let dir = scratch("tree");
    let dir = dir.path();
    let original = TestPdf {
        pages: 8,
        nested: true,
        ..TestPdf::default()
    }
    .build();
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Number(5)));
    let signed = sign_with(&original, &req, dir);
    let path = write(dir, "page5.pdf", &signed);
    assert_valid(&path, 1);
    let page_text = |page: u32| {
        let output = Command::new("pdftotext")
            .args(["-f", &page.to_string(), "-l", &page.to_string()])
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(page_text(5).contains("Signé par Anne Martin"));
    assert!(!page_text(4).contains("Signé par"));
    assert!(!page_text(8).contains("Signé par"));

    req.stamp = Some(stamp(StampPage::Number(9)));
    let err = prepare(&original, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "La page 9 n'existe pas : le document compte 8 page(s)."
    );
}

#[test]
fn the_default_stamp_sits_inside_a_shifted_media_box() {
    let dir = scratch("shifted");
    let dir = dir.path();
    let original = TestPdf {
        pages: 1,
        media_box: Some([1000, 2000, 1300, 2400]),
        ..TestPdf::default()
    }
    .build();
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Last));
    let signed = sign_with(&original, &req, dir);
    let reader = PdfReader::open(&signed).unwrap();
    let catalog = reader
        .resolve_dict(&bouquet_crypto::pdf::Object::Ref(
            reader.root_ref().unwrap(),
        ))
        .unwrap();
    let form = reader
        .resolve_dict(catalog.get("AcroForm").unwrap())
        .unwrap();
    let widget = reader
        .resolve_dict(&form.get("Fields").unwrap().as_array().unwrap()[0])
        .unwrap();
    let rect: Vec<f64> = widget
        .get("Rect")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_number().unwrap())
        .collect();
    assert!(rect[0] >= 1000.0 && rect[2] <= 1300.0, "{rect:?}");
    assert!(rect[1] >= 2000.0 && rect[3] <= 2400.0, "{rect:?}");
    assert!(
        rect[2] > 1250.0 && rect[1] < 2050.0,
        "bottom right: {rect:?}"
    );
    let path = write(dir, "shifted.pdf", &signed);
    assert_valid(&path, 1);
    let output = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Signé par Anne Martin"));
}

#[test]
fn a_pdf_certified_without_changes_is_refused_and_one_allowing_forms_is_signed() {
    let locked = TestPdf {
        pages: 1,
        docmdp: Some(1),
        ..TestPdf::default()
    }
    .build();
    let err = prepare(&locked, &request("Anne Martin")).unwrap_err();
    assert!(err.to_string().starts_with("Ce PDF est certifié"), "{err}");

    // A real certification by pyHanko (DocMDP: form filling and signatures allowed).
    let dir = scratch("certified");
    let dir = dir.path();
    let plain = write(dir, "plain.pdf", &TestPdf::pages(1).build());
    let certified = dir.join("certified.pdf");
    let status = Command::new("pyhanko")
        .args([
            "sign",
            "addsig",
            "--field",
            "Certification",
            "--certify",
            "pemder",
        ])
        .arg("--key")
        .arg(&pki().key_pem)
        .arg("--cert")
        .arg(&pki().signer_pem)
        .arg("--no-pass")
        .arg(&plain)
        .arg(&certified)
        .status()
        .unwrap();
    assert!(status.success());
    let original = std::fs::read(&certified).unwrap();
    let signed = sign_with(&original, &request("Anne Martin"), dir);
    let path = write(dir, "certified-signed.pdf", &signed);
    let (ok, text) = pyhanko(&path);
    assert!(ok, "{text}");
    assert_eq!(text.matches("judged VALID").count(), 2, "{text}");
    let names: Vec<String> = signatures(&signed)
        .unwrap()
        .into_iter()
        .map(|s| s.field_name)
        .collect();
    assert_eq!(names, ["Certification", "Signature1"]);
}

#[test]
fn prepare_reads_a_few_kilobytes_besides_the_hash_in_bounded_chunks() {
    let bytes = TestPdf {
        pages: 50,
        padding: 8 << 20,
        ..TestPdf::default()
    }
    .build();
    let len = bytes.len() as u64;
    let source = CountingSource {
        bytes,
        total: std::cell::Cell::new(0),
        largest: std::cell::Cell::new(0),
    };
    let mut req = request("Anne Martin");
    req.stamp = Some(stamp(StampPage::Last));
    let prepared = prepare(&source, &req).unwrap();
    // The hash reads the original once; everything else is small.
    let besides_hash = source.total.get() - len;
    assert!(
        besides_hash < 256 * 1024,
        "{besides_hash} bytes read besides the hash"
    );
    assert!(
        source.largest.get() <= 1 << 20,
        "largest read {}",
        source.largest.get()
    );
    assert_eq!(prepared.original_len(), len);
}
