//! The text stamp added by incremental update ([`bouquet_crypto::pdf::stamp`]), checked by
//! qpdf (structure), poppler's pdftotext (the text and where it is on the displayed page),
//! and on signed files by pdfsig and pyHanko (the earlier signature still verifies).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bouquet_crypto::cms::{SignOptions, sign_detached_digest, to_pem};
use bouquet_crypto::keys::Credential;
use bouquet_crypto::pades::{self, SignatureRequest};
use bouquet_crypto::pdf::stamp::{
    Corner, PageChoice, STAMP_ANNOTATION_NAME, StampPosition, TextStamp, stamp_pdf, stamp_update,
};
use bouquet_crypto::pdf::{Object, PdfReader, XrefKind};
use bouquet_crypto::pki::{DemoPki, PersonSubject};
use bouquet_crypto::report::Check;
use jiff::Timestamp;

const FIXTURE: &str = "../../standards/signature/pades/PDF_avec_tags-signature_pades.pdf";

fn lines() -> Vec<String> {
    vec![
        "Envoyé en préfecture le 08/07/2022".into(),
        "Reçu en préfecture le 08/07/2022".into(),
        "Publié le".into(),
        "ID : 080-258004365-20220628-220628_CS_DEL8-DE".into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Scratch space, tools, the signer.

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("bouquet-stamp-{name}-"))
        .tempdir()
        .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `qpdf --check` must exit 0: no warning either.
fn assert_qpdf_check(path: &Path) {
    let output = Command::new("qpdf")
        .arg("--check")
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "qpdf --check {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The text of one page according to pdftotext.
fn page_text(path: &Path, page: u32) -> String {
    let page = page.to_string();
    let output = Command::new("pdftotext")
        .args(["-f", &page, "-l", &page])
        .arg(path)
        .arg("-")
        .output()
        .unwrap();
    assert!(output.status.success(), "pdftotext {}", path.display());
    String::from_utf8(output.stdout).unwrap()
}

/// A word as pdftotext -bbox places it on the displayed page (origin top left).
#[derive(Debug)]
struct Word {
    text: String,
    x_min: f64,
    y_min: f64,
    x_max: f64,
    y_max: f64,
}

/// The words of page 1 according to `pdftotext -bbox`, in the page as displayed (turned by
/// its `/Rotate`, origin at the top left of its crop box).
fn page_words(path: &Path) -> Vec<Word> {
    let output = Command::new("pdftotext")
        .args(["-bbox", "-cropbox", "-f", "1", "-l", "1"])
        .arg(path)
        .arg("-")
        .output()
        .unwrap();
    let html = String::from_utf8(output.stdout).unwrap();
    let attr = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
    };
    html.split("<word ")
        .skip(1)
        .map(|chunk| {
            let text_at = chunk.find('>').unwrap() + 1;
            let text = &chunk[text_at..chunk.find("</word>").unwrap()];
            Word {
                text: text.replace("&apos;", "'").replace("&amp;", "&"),
                x_min: attr(chunk, "xMin"),
                y_min: attr(chunk, "yMin"),
                x_max: attr(chunk, "xMax"),
                y_max: attr(chunk, "yMax"),
            }
        })
        .collect()
}

struct Pki {
    _dir: tempfile::TempDir,
    demo: DemoPki,
    signer: Credential,
    root_pem: PathBuf,
}

fn now() -> Timestamp {
    "2026-12-07T13:03:00Z".parse().unwrap()
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = scratch("pki");
        let demo = DemoPki::generate(now()).unwrap();
        let signer = demo
            .issue_person(
                PersonSubject {
                    given_name: "Anne".into(),
                    surname: "Martin".into(),
                    email: "anne.martin@saint-aubin.example".into(),
                    organisation: "Commune de Saint-Aubin".into(),
                    title: "Maire".into(),
                },
                now(),
            )
            .unwrap();
        let root_pem = dir.path().join("root.pem");
        std::fs::write(
            &root_pem,
            to_pem(demo.root_certificate_der(), "CERTIFICATE"),
        )
        .unwrap();
        Pki {
            _dir: dir,
            demo,
            signer,
            root_pem,
        }
    })
}

/// Signs `pdf` with Bouquet's PAdES (visible signature on the last page).
fn sign(pdf: &[u8]) -> Vec<u8> {
    let mut request = SignatureRequest::new("Anne Martin", now());
    request.reason = Some("Approbation de la délibération".into());
    request.stamp = Some(pades::Stamp {
        lines: vec!["Signé par Anne Martin".into(), "Maire".into()],
        page: pades::StampPage::Last,
        rect: None,
    });
    pades::sign_bytes(pdf, &request, |digest| {
        sign_detached_digest(&pki().signer, digest, &SignOptions::default())
    })
    .unwrap()
}

/// Runs `pyhanko sign validate` with the demo root (and `extra` arguments).
fn pyhanko(pdf: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new("pyhanko")
        .args(["sign", "validate", "--no-revocation-check"])
        .args(extra)
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

fn pdfsig(pdf: &Path) -> String {
    let output = Command::new("pdfsig").arg(pdf).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The stamp annotations of ours on page `index` (0-based), read back with the crate's reader.
fn our_stamps(pdf: &[u8], index: usize) -> Vec<bouquet_crypto::pdf::Dict> {
    let reader = PdfReader::open(&pdf).unwrap();
    let catalog = reader
        .resolve_dict(&Object::Ref(reader.root_ref().unwrap()))
        .unwrap();
    let pages = reader.resolve_dict(catalog.get("Pages").unwrap()).unwrap();
    let kids = reader.resolve(pages.get("Kids").unwrap()).unwrap();
    let page = reader
        .resolve_dict(&kids.as_array().unwrap()[index])
        .unwrap();
    let Some(annots) = page.get("Annots") else {
        return Vec::new();
    };
    reader
        .resolve(annots)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| reader.resolve_dict(a).unwrap())
        .filter(|a| {
            a.get("NM").and_then(Object::as_string) == Some(STAMP_ANNOTATION_NAME.as_bytes())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A tiny PDF writer for test documents.

#[derive(Default)]
struct TestPdf {
    pages: usize,
    /// `/Rotate` of the first page (on the page itself).
    rotate: Option<i64>,
    /// `/Rotate` on the page tree's root, inherited by every page.
    inherited_rotate: Option<i64>,
    media_box: Option<[i32; 4]>,
    crop_box: Option<[i32; 4]>,
    /// The first page's `/Annots` (a link) as an indirect array.
    indirect_annots: bool,
}

impl TestPdf {
    fn pages(pages: usize) -> Self {
        TestPdf {
            pages,
            ..TestPdf::default()
        }
    }

    fn build(&self) -> Vec<u8> {
        // 1 catalog, 2 pages, 3 font, 4 link annotation, 5 annots array, then (page, content).
        let first_page = 6;
        let [x0, y0, x1, y1] = self.media_box.unwrap_or([0, 0, 595, 842]);
        let mut objects: Vec<Vec<u8>> = vec![b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()];
        let kids: Vec<String> = (0..self.pages)
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        let rotate = self
            .inherited_rotate
            .map(|r| format!(" /Rotate {r}"))
            .unwrap_or_default();
        objects.push(
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} /MediaBox [{x0} {y0} {x1} {y1}]{rotate} >>",
                kids.join(" "),
                self.pages
            )
            .into_bytes(),
        );
        objects.push(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        );
        objects.push(
            format!(
                "<< /Type /Annot /Subtype /Link /Rect [{} {} {} {}] /Border [0 0 0] /A << /S /URI /URI (https://example.org/) >> >>",
                x0 + 72, y0 + 100, x0 + 200, y0 + 120
            )
            .into_bytes(),
        );
        objects.push(b"[4 0 R]".to_vec());
        for i in 0..self.pages {
            let mut extra = String::new();
            if i == 0 {
                if let Some(r) = self.rotate {
                    extra.push_str(&format!(" /Rotate {r}"));
                }
                if let Some([a, b, c, d]) = self.crop_box {
                    extra.push_str(&format!(" /CropBox [{a} {b} {c} {d}]"));
                }
                extra.push_str(if self.indirect_annots {
                    " /Annots 5 0 R"
                } else {
                    " /Annots [4 0 R]"
                });
            }
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >>{extra} >>",
                    first_page + 2 * i + 1
                )
                .into_bytes(),
            );
            let content = format!(
                "BT /F1 24 Tf {} {} Td (Page {} de test) Tj ET\n",
                x0 + 72,
                y0 + 300,
                i + 1
            );
            objects.push(
                format!(
                    "<< /Length {} >>\nstream\n{content}\nendstream",
                    content.len()
                )
                .into_bytes(),
            );
        }
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
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn only_the_first_page_is_stamped_and_every_line_is_read_back() {
    let dir = scratch("first");
    let dir = dir.path();
    let original = TestPdf::pages(3).build();
    let stamped = stamp_pdf(&original, &TextStamp::new(lines())).unwrap();
    assert_eq!(
        &stamped[..original.len()],
        &original[..],
        "incremental update only"
    );
    let path = write(dir, "stamped.pdf", &stamped);
    assert_qpdf_check(&path);
    let first = page_text(&path, 1);
    for line in lines() {
        assert!(first.contains(&line), "« {line} » missing from:\n{first}");
    }
    assert!(first.contains("Page 1 de test"), "{first}");
    for page in [2, 3] {
        let text = page_text(&path, page);
        assert!(!text.contains("préfecture"), "page {page}:\n{text}");
    }
    // The link already on the page is kept beside the stamp.
    let reader = PdfReader::open(&stamped).unwrap();
    let stamps = our_stamps(&stamped, 0);
    assert_eq!(stamps.len(), 1);
    let stamp = &stamps[0];
    assert!(stamp.has_name("Subtype", "Stamp"));
    assert_eq!(stamp.get("F").and_then(Object::as_int), Some(4 | 128 | 512));
    let appearance = reader
        .resolve(
            stamp
                .get("AP")
                .unwrap()
                .as_dict()
                .unwrap()
                .get("N")
                .unwrap(),
        )
        .unwrap();
    assert!(matches!(appearance, Object::Stream(_)));
    let catalog = reader
        .resolve_dict(&Object::Ref(reader.root_ref().unwrap()))
        .unwrap();
    let pages = reader.resolve_dict(catalog.get("Pages").unwrap()).unwrap();
    let page = reader
        .resolve_dict(&pages.get("Kids").unwrap().as_array().unwrap()[0])
        .unwrap();
    assert_eq!(page.get("Annots").unwrap().as_array().unwrap().len(), 2);
}

#[test]
fn the_stamp_reads_upright_at_the_top_right_of_a_rotated_or_shifted_page() {
    let dir = scratch("rotate");
    let dir = dir.path();
    // Each case with the size of its page as displayed (visible box, turned by /Rotate).
    let cases = [
        ("plain", TestPdf::pages(1), (595.0, 842.0)),
        (
            "rotate-90",
            TestPdf {
                rotate: Some(90),
                ..TestPdf::pages(2)
            },
            (842.0, 595.0),
        ),
        (
            "rotate-180-shifted",
            TestPdf {
                rotate: Some(180),
                media_box: Some([1000, 2000, 1595, 2842]),
                ..TestPdf::pages(1)
            },
            (595.0, 842.0),
        ),
        (
            "rotate-270-inherited-cropped",
            TestPdf {
                inherited_rotate: Some(-90),
                media_box: Some([0, 0, 842, 595]),
                crop_box: Some([100, 50, 742, 545]),
                ..TestPdf::pages(2)
            },
            (495.0, 642.0),
        ),
        (
            "rotate-90-landscape",
            TestPdf {
                rotate: Some(450),
                media_box: Some([0, 0, 842, 595]),
                ..TestPdf::pages(1)
            },
            (595.0, 842.0),
        ),
    ];
    for (name, pdf, (width, height)) in cases {
        let stamped = stamp_pdf(&pdf.build(), &TextStamp::new(lines())).unwrap();
        let path = write(dir, &format!("{name}.pdf"), &stamped);
        assert_qpdf_check(&path);
        let text = page_text(&path, 1);
        for line in lines() {
            assert!(
                text.contains(&line),
                "{name}: « {line} » missing from:\n{text}"
            );
        }
        let words = page_words(&path);
        let ours: Vec<&Word> = words
            .iter()
            .filter(|w| {
                [
                    "préfecture",
                    "Publié",
                    "080-258004365-20220628-220628_CS_DEL8-DE",
                ]
                .contains(&w.text.as_str())
            })
            .collect();
        assert_eq!(ours.len(), 4, "{name}: {words:?}");
        for word in ours {
            // Upright: wider than tall (a turned word would be a tall, narrow box).
            assert!(
                word.x_max - word.x_min > word.y_max - word.y_min,
                "{name}: {word:?}"
            );
            // At the top right of the page as displayed, inside it.
            assert!(
                word.x_min > width / 2.0 && word.x_max <= width - 20.0,
                "{name}: {word:?} in {width}×{height}"
            );
            assert!(
                word.y_min >= 20.0 && word.y_max < 100.0,
                "{name}: {word:?} in {width}×{height}"
            );
        }
    }
}

#[test]
fn other_corners_and_pages_can_be_chosen() {
    let dir = scratch("corners");
    let dir = dir.path();
    let original = TestPdf::pages(3).build();
    let mut stamp = TextStamp::new(vec!["Copie conforme".into()]);
    stamp.page = PageChoice::Last;
    stamp.position = StampPosition {
        corner: Corner::BottomLeft,
        horizontal: 30.0,
        vertical: 40.0,
    };
    let stamped = stamp_pdf(&original, &stamp).unwrap();
    let path = write(dir, "last.pdf", &stamped);
    assert_qpdf_check(&path);
    assert!(page_text(&path, 3).contains("Copie conforme"));
    assert!(!page_text(&path, 1).contains("Copie conforme"));
    let rect: Vec<f64> = our_stamps(&stamped, 2)[0]
        .get("Rect")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_number().unwrap())
        .collect();
    assert_eq!((rect[0], rect[1]), (30.0, 40.0));

    stamp.page = PageChoice::Number(2);
    let stamped = stamp_pdf(&original, &stamp).unwrap();
    let path = write(dir, "second.pdf", &stamped);
    assert!(page_text(&path, 2).contains("Copie conforme"));

    stamp.page = PageChoice::Number(4);
    let err = stamp_pdf(&original, &stamp).unwrap_err();
    assert_eq!(
        err.to_string(),
        "La page 4 n'existe pas : le document compte 3 page(s)."
    );
}

#[test]
fn stamping_again_replaces_the_earlier_stamp() {
    let dir = scratch("again");
    let dir = dir.path();
    for indirect_annots in [false, true] {
        let original = TestPdf {
            indirect_annots,
            ..TestPdf::pages(2)
        }
        .build();
        // The dates become known one after the other.
        let sent = stamp_pdf(
            &original,
            &TextStamp::new(vec![
                "Envoyé en préfecture le 08/07/2022".into(),
                "Reçu en préfecture le".into(),
            ]),
        )
        .unwrap();
        let received = stamp_pdf(&sent, &TextStamp::new(lines())).unwrap();
        assert_eq!(
            &received[..sent.len()],
            &sent[..],
            "incremental update only"
        );
        let mut all = lines();
        all[2] = "Publié le 12/07/2022".into();
        let published = stamp_pdf(&received, &TextStamp::new(all.clone())).unwrap();
        let path = write(dir, &format!("published-{indirect_annots}.pdf"), &published);
        assert_qpdf_check(&path);
        let text = page_text(&path, 1);
        for line in &all {
            assert_eq!(
                text.matches(line.as_str()).count(),
                1,
                "« {line} » in:\n{text}"
            );
        }
        assert_eq!(text.matches("Reçu en préfecture").count(), 1, "{text}");
        assert_eq!(our_stamps(&published, 0).len(), 1);
        // Three revisions after the original: each stamp is its own update.
        assert_eq!(PdfReader::open(&published).unwrap().sections().len(), 4);

        // The other way: the original stamped again with every line known so far.
        let direct = stamp_pdf(&original, &TextStamp::new(all.clone())).unwrap();
        let path = write(dir, &format!("direct-{indirect_annots}.pdf"), &direct);
        assert_qpdf_check(&path);
        let direct_text = page_text(&path, 1);
        for line in &all {
            assert!(direct_text.contains(line.as_str()), "{direct_text}");
        }
        assert_eq!(our_stamps(&direct, 0).len(), 1);
    }
}

#[test]
fn xref_stream_files_get_an_xref_stream_update() {
    let dir = scratch("objstm");
    let dir = dir.path();
    let classic = write(dir, "classic.pdf", &TestPdf::pages(2).build());
    let compressed = dir.join("objstm.pdf");
    let status = Command::new("qpdf")
        .arg("--object-streams=generate")
        .arg(&classic)
        .arg(&compressed)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let original = std::fs::read(&compressed).unwrap();
    assert_eq!(
        PdfReader::open(&original).unwrap().newest_xref_kind(),
        XrefKind::Stream
    );
    let stamped = stamp_pdf(&original, &TextStamp::new(lines())).unwrap();
    assert_eq!(
        PdfReader::open(&stamped).unwrap().newest_xref_kind(),
        XrefKind::Stream
    );
    let path = write(dir, "stamped.pdf", &stamped);
    assert_qpdf_check(&path);
    assert!(page_text(&path, 1).contains("Reçu en préfecture le 08/07/2022"));
    // The update alone, for a file read from disk.
    let file = std::fs::File::open(&compressed).unwrap();
    let tail = stamp_update(&file, &TextStamp::new(lines())).unwrap();
    assert_eq!(tail, stamped[original.len()..]);
}

#[test]
fn a_signed_pdf_keeps_its_signature_valid_after_the_stamps() {
    let dir = scratch("signed");
    let dir = dir.path();
    let signed = sign(&TestPdf::pages(2).build());
    let mut first_lines = lines();
    first_lines.truncate(2);
    let once = stamp_pdf(&signed, &TextStamp::new(first_lines)).unwrap();
    let twice = stamp_pdf(&once, &TextStamp::new(lines())).unwrap();
    for (name, pdf) in [("once", &once), ("twice", &twice)] {
        let path = write(dir, &format!("{name}.pdf"), pdf);
        assert_qpdf_check(&path);
        assert!(page_text(&path, 1).contains("Reçu en préfecture le 08/07/2022"));
        assert!(page_text(&path, 2).contains("Signé par Anne Martin"));

        // poppler: the signature verifies and covers the signed revision.
        let text = pdfsig(&path);
        assert!(text.contains("Signature is Valid."), "{name}:\n{text}");
        assert!(
            text.contains("Not total document signed"),
            "{name}:\n{text}"
        );

        // pyHanko: the signed bytes, the CMS and the certificate chain are all valid.
        let (ok, text) = pyhanko(&path, &["--pretty-print", "--no-diff-analysis"]);
        assert!(ok, "{name}:\n{text}");
        assert!(text.contains("judged VALID"), "{name}:\n{text}");
        // With its analysis of the later revisions, pyHanko 0.38 still finds the signature
        // intact and trusted; its policy only admits signatures, form filling and DSS after
        // a signature, so it names the added annotation instead of passing it.
        let (_, text) = pyhanko(&path, &["--pretty-print"]);
        assert!(
            text.contains("The signature is cryptographically sound."),
            "{name}:\n{text}"
        );
        assert!(
            text.contains("The signer's certificate is trusted."),
            "{name}:\n{text}"
        );
        assert!(
            text.contains("Some modifications may be illegitimate"),
            "{name}:\n{text}"
        );

        // Bouquet's own verification: integrity and certificate good, later changes noted.
        let reports = pades::verify(
            &pdf.as_slice(),
            &[pki().demo.root_certificate_der().to_vec()],
            None,
        )
        .unwrap();
        assert_eq!(reports.len(), 1);
        assert!(reports[0].integrity.is_ok(), "{:?}", reports[0]);
        assert!(
            matches!(reports[0].coverage, Check::NotChecked(_)),
            "{:?}",
            reports[0]
        );
    }
}

#[test]
fn the_iparapheur_fixture_is_stamped_and_its_signature_still_verifies() {
    let dir = scratch("iparapheur");
    let dir = dir.path();
    let original = std::fs::read(FIXTURE).unwrap();
    let stamped = stamp_pdf(&original, &TextStamp::new(lines())).unwrap();
    let path = write(dir, "stamped.pdf", &stamped);
    assert_qpdf_check(&path);
    let text = page_text(&path, 1);
    for line in lines() {
        assert!(text.contains(&line), "« {line} » missing from:\n{text}");
    }
    let text = pdfsig(&path);
    assert!(text.contains("Signature is Valid."), "{text}");
    assert!(text.contains("Not total document signed"), "{text}");
    let found = pades::signatures(&stamped).unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].covers_revision && !found[0].covers_whole_file);

    // pyHanko, at the time claimed by the signer (its certificate expired in 2025).
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
            "--pretty-print",
            "--no-revocation-check",
            "--no-diff-analysis",
        ])
        .args(["--validation-time", "claimed", "--trust-replace", "--trust"])
        .arg(trust.join("libriciel-test-ca-root.pem"))
        .arg("--other-certs")
        .arg(trust.join("libriciel-test-ca-intermediate.pem"))
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("judged VALID"), "{text}");
}

#[test]
fn what_cannot_be_stamped_is_refused_in_french() {
    let dir = scratch("refused");
    let dir = dir.path();
    let stamp = TextStamp::new(lines());
    let err = stamp_pdf(b"PK\x03\x04 not a pdf at all", &stamp).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Ce fichier n'est pas un PDF (il ne commence pas par « %PDF- »)."
    );
    let original = TestPdf::pages(1).build();
    let err = stamp_pdf(&original[..original.len() / 2], &stamp).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Ce fichier n'est pas un PDF lisible"),
        "{err}"
    );
    let err = stamp_pdf(&original, &TextStamp::new(Vec::new())).unwrap_err();
    assert_eq!(err.to_string(), "Le tampon à apposer est vide.");

    let plain = write(dir, "plain.pdf", &original);
    let locked = dir.join("locked.pdf");
    let status = Command::new("qpdf")
        .args(["--encrypt", "secret", "secret", "256", "--"])
        .arg(&plain)
        .arg(&locked)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let err = stamp_pdf(&std::fs::read(&locked).unwrap(), &stamp).unwrap_err();
    assert!(err.to_string().starts_with("Ce PDF est chiffré"), "{err}");
}
