//! PAdES baseline signatures (ETSI EN 319 142-1, `/SubFilter /ETSI.CAdES.detached`) added to a
//! PDF by incremental update, and their reading back.
//!
//! Signing has two phases so that the CMS can be made elsewhere (and time-stamped by an
//! asynchronous TSA client): [`prepare`] builds the appended bytes with a zeroed `/Contents`
//! and returns the SHA-256 of the signed byte ranges, computed by streaming the original file;
//! [`PreparedSignature::finish`] puts the CMS in and returns the bytes to append. The original
//! file is never rewritten, so earlier signatures stay valid.

pub(crate) mod stamp;

use std::collections::HashSet;

use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

use crate::error::{CryptoError, Result};
use crate::pdf::object::{
    Dict, ObjRef, Object, decode_text_string, text_string, write_dict, write_stream,
};
use crate::pdf::{PdfReader, PdfSource, XrefKind, read_range};
use crate::report::{Check, SignatureFormat, SignatureReport};

pub use stamp::to_win_ansi;

/// Bytes reserved for the CMS by default (written as twice as many hexadecimal digits).
pub const DEFAULT_CONTENTS_RESERVE: usize = 16_384;
/// Default size of a visible stamp, in points.
const STAMP_WIDTH: f64 = 200.0;
const STAMP_HEIGHT: f64 = 60.0;
const STAMP_MARGIN: f64 = 20.0;
/// Chunk size when hashing the original file.
const HASH_CHUNK: usize = 1 << 20;
/// Width of the `/ByteRange` array, padded with spaces, so its numbers can be written last.
const BYTE_RANGE_WIDTH: usize = 72;
/// Annotation flags of the widget: print (4) + locked (128).
const WIDGET_FLAGS: i64 = 132;
/// Largest CMS reserve accepted (a B-LT CMS with a long chain is well under 1 MB).
const MAX_CONTENTS_RESERVE: usize = 4 << 20;
/// Fields visited at most when reading an AcroForm.
const MAX_FIELDS: usize = 100_000;

/// What to sign and how.
#[derive(Debug, Clone)]
pub struct SignatureRequest {
    /// Name of the new signature field; `None` gives the first free `Signature<n>`.
    pub field_name: Option<String>,
    /// Written as `/Name` of the signature dictionary.
    pub signer_name: String,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Written as `/M` in Europe/Paris time (PAdES puts no signingTime in the CMS).
    pub signing_time: Timestamp,
    /// A visible stamp, or `None` for an invisible signature (on the first page).
    pub stamp: Option<Stamp>,
    /// Bytes reserved for the DER CMS.
    pub contents_reserve: usize,
}

impl SignatureRequest {
    /// An invisible signature with the default field name and reserve.
    pub fn new(signer_name: impl Into<String>, signing_time: Timestamp) -> Self {
        SignatureRequest {
            field_name: None,
            signer_name: signer_name.into(),
            reason: None,
            location: None,
            signing_time,
            stamp: None,
            contents_reserve: DEFAULT_CONTENTS_RESERVE,
        }
    }
}

/// A visible stamp.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// E.g. "Signé par Anne Martin", "Maire", "le 07/12/2026 à 14:03".
    pub lines: Vec<String>,
    pub page: StampPage,
    /// `[x0, y0, x1, y1]` in page space; `None` puts it at the bottom right of the page.
    pub rect: Option<[f32; 4]>,
}

/// The page of a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampPage {
    Last,
    /// 1-based.
    Number(u32),
}

/// A signature ready to receive its CMS; see the module documentation.
#[derive(Debug, Clone)]
pub struct PreparedSignature {
    /// SHA-256 of the bytes covered by the `/ByteRange`: what the CMS signs.
    pub digest: [u8; 32],
    field_name: String,
    original_len: u64,
    tail: Vec<u8>,
    byte_range: [u64; 4],
    /// Where the hexadecimal digits of `/Contents` start in `tail`, and how many there are.
    contents_at: usize,
    contents_hex_len: usize,
}

impl PreparedSignature {
    /// The `/ByteRange`: `[0, a, b, c]`, offsets in the signed file.
    pub fn byte_range(&self) -> [u64; 4] {
        self.byte_range
    }

    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The bytes to append, `/Contents` still zeroed (for tests and for debugging).
    pub fn placeholder_tail(&self) -> &[u8] {
        &self.tail
    }

    /// Length of the original file this signature was prepared for.
    pub fn original_len(&self) -> u64 {
        self.original_len
    }

    /// Puts the DER CMS into `/Contents`; returns the bytes to append to the original file.
    pub fn finish(self, cms_der: &[u8]) -> Result<Vec<u8>> {
        let hex = hex::encode_upper(cms_der);
        if hex.len() > self.contents_hex_len {
            return Err(CryptoError::internal(format!(
                "la signature CMS ({} octets) dépasse la place réservée dans le PDF ({} octets)",
                cms_der.len(),
                self.contents_hex_len / 2
            )));
        }
        let mut tail = self.tail;
        tail[self.contents_at..self.contents_at + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(tail)
    }
}

/// Signs `pdf` in one go: `sign` receives the digest and returns the DER CMS.
pub fn sign_bytes(
    pdf: &[u8],
    request: &SignatureRequest,
    sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let prepared = prepare(&pdf, request)?;
    let cms = sign(&prepared.digest)?;
    let tail = prepared.finish(&cms)?;
    let mut out = Vec::with_capacity(pdf.len() + tail.len());
    out.extend_from_slice(pdf);
    out.extend_from_slice(&tail);
    Ok(out)
}

/// Builds the incremental update adding a signature field, and the digest to sign.
pub fn prepare(source: &dyn PdfSource, request: &SignatureRequest) -> Result<PreparedSignature> {
    if request.contents_reserve == 0 || request.contents_reserve > MAX_CONTENTS_RESERVE {
        return Err(CryptoError::internal(format!(
            "place réservée pour la signature invalide ({} octets)",
            request.contents_reserve
        )));
    }
    let reader = PdfReader::open(source)?;
    let root_ref = reader.root_ref()?;
    let mut catalog = reader.resolve_dict(&Object::Ref(root_ref))?;
    refuse_if_certified_without_changes(&reader, &catalog)?;
    let pages_ref = catalog
        .get("Pages")
        .and_then(Object::as_ref)
        .ok_or_else(|| crate::pdf::unreadable("l'arbre des pages est introuvable"))?;
    let wanted = match &request.stamp {
        Some(stamp) => stamp.page,
        None => StampPage::Number(1),
    };
    let page = find_page(&reader, pages_ref, wanted)?;

    let (form_ref, mut form) = match catalog.get("AcroForm") {
        Some(Object::Ref(r)) => (Some(*r), reader.resolve_dict(&Object::Ref(*r))?),
        Some(other) => (None, reader.resolve_dict(other).unwrap_or_default()),
        None => (None, Dict::new()),
    };
    let mut fields: Vec<Object> = match form.get("Fields") {
        Some(f) => reader
            .resolve(f)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let names = field_names(&reader, &fields)?;
    let field_name = match &request.field_name {
        Some(name) if names.contains(name) => {
            return Err(CryptoError::bad_input(format!(
                "Ce PDF a déjà un champ nommé « {name} » : choisissez un autre nom de signature."
            )));
        }
        Some(name) => name.clone(),
        None => (1..)
            .map(|n| format!("Signature{n}"))
            .find(|n| !names.contains(n))
            .unwrap_or_default(),
    };

    let mut next = reader.next_object_number();
    let mut allocate = || {
        let r = ObjRef::new(next, 0);
        next += 1;
        r
    };
    let sig_ref = allocate();
    let widget_ref = allocate();
    let visible = request.stamp.as_ref().map(|s| (s, allocate(), allocate()));

    let original_len = reader.len();
    let mut update = Update::new(original_len, ends_with_eol(source, original_len)?);

    // 1. The signature dictionary, /Contents zeroed, /ByteRange to be filled.
    let (byte_range_at, contents_at, contents_hex_len) =
        update.signature_dictionary(sig_ref, request);

    // 2. The field and its widget (one object), and its appearance when visible.
    let mut widget = Dict::new();
    widget.set("Type", name("Annot"));
    widget.set("Subtype", name("Widget"));
    widget.set("FT", name("Sig"));
    widget.set("T", Object::String(text_string(&field_name)));
    widget.set("V", Object::Ref(sig_ref));
    widget.set("F", Object::Int(WIDGET_FLAGS));
    widget.set("P", Object::Ref(page.reference));
    let rect = match &visible {
        Some((stamp, _, _)) => stamp_rect(stamp, &page),
        None => [0.0; 4],
    };
    widget.set(
        "Rect",
        Object::Array(rect.iter().map(|&v| Object::Real(v)).collect()),
    );
    if let Some((stamp, ap_ref, font_ref)) = &visible {
        let (ap_dict, content) = stamp::appearance(
            &stamp.lines,
            rect[2] - rect[0],
            rect[3] - rect[1],
            *font_ref,
        );
        let mut ap = Dict::new();
        ap.set("N", Object::Ref(*ap_ref));
        widget.set("AP", Object::Dict(ap));
        update.stream(*ap_ref, &ap_dict, &content);
        update.dict(*font_ref, &stamp::font_dict());
    }
    update.dict(widget_ref, &widget);

    // 3. The page with the widget in its /Annots (an indirect array is copied in directly).
    let mut page_dict = page.dict.clone();
    let mut annots = match page_dict.get("Annots") {
        Some(a) => reader
            .resolve(a)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    annots.push(Object::Ref(widget_ref));
    page_dict.set("Annots", Object::Array(annots));
    update.dict(page.reference, &page_dict);

    // 4. The AcroForm (in the catalog, or its own object).
    fields.push(Object::Ref(widget_ref));
    form.set("Fields", Object::Array(fields));
    form.set("SigFlags", Object::Int(3));
    match form_ref {
        Some(r) => update.dict(r, &form),
        None => {
            catalog.set("AcroForm", Object::Dict(form));
            update.dict(root_ref, &catalog);
        }
    }

    // 5. The cross-reference section and the trailer.
    let xref_ref = match reader.newest_xref_kind() {
        XrefKind::Stream => Some(allocate()),
        XrefKind::Table => None,
    };
    let id_seed = [
        field_name.as_bytes(),
        &original_len.to_be_bytes(),
        &request.signing_time.as_nanosecond().to_be_bytes(),
    ]
    .concat();
    let trailer = update_trailer(reader.trailer(), next, reader.startxref(), &id_seed);
    update.finish_xref(trailer, xref_ref);

    // 6. The byte range, then the digest over the original file and the tail.
    let total = original_len + update.out.len() as u64;
    let a = original_len + contents_at as u64 - 1;
    let b = a + contents_hex_len as u64 + 2;
    let byte_range = [0, a, b, total - b];
    let text = format!("[0 {} {} {}]", byte_range[1], byte_range[2], byte_range[3]);
    let slot = &mut update.out[byte_range_at..byte_range_at + BYTE_RANGE_WIDTH];
    slot.fill(b' ');
    slot[..text.len()].copy_from_slice(text.as_bytes());

    let digest = hash_ranges(
        &Appended {
            source,
            tail: &update.out,
        },
        &byte_range,
    )?;
    Ok(PreparedSignature {
        digest,
        field_name,
        original_len,
        tail: update.out,
        byte_range,
        contents_at,
        contents_hex_len,
    })
}

/// A certification signature with `/P 1` (DocMDP: no change allowed) forbids any later
/// signature; `/P 2` and `/P 3` allow them.
fn refuse_if_certified_without_changes(reader: &PdfReader<'_>, catalog: &Dict) -> Result<()> {
    let Some(perms) = catalog.get("Perms") else {
        return Ok(());
    };
    let Some(docmdp) = reader.resolve_dict(perms)?.get("DocMDP").cloned() else {
        return Ok(());
    };
    let signature = reader.resolve_dict(&docmdp)?;
    let references = match signature.get("Reference") {
        Some(r) => reader
            .resolve(r)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    for reference in references {
        let reference = reader.resolve_dict(&reference)?;
        if !reference.has_name("TransformMethod", "DocMDP") {
            continue;
        }
        let permission = match reference.get("TransformParams") {
            Some(p) => reader
                .resolve_dict(p)?
                .get("P")
                .and_then(Object::as_int)
                .unwrap_or(2),
            None => 2,
        };
        if permission == 1 {
            return Err(CryptoError::bad_input(
                "Ce PDF est certifié par son auteur sans aucune modification permise : il ne peut \
                 pas recevoir d'autre signature.",
            ));
        }
    }
    Ok(())
}

fn name(n: &str) -> Object {
    Object::Name(n.as_bytes().to_vec())
}

pub(crate) fn ends_with_eol(source: &dyn PdfSource, len: u64) -> Result<bool> {
    let last = read_range(source, len.saturating_sub(1), 1)?;
    Ok(matches!(last.first(), Some(b'\n' | b'\r')))
}

/// The bytes appended to the file, with the offsets of the objects written.
pub(crate) struct Update {
    base: u64,
    pub(crate) out: Vec<u8>,
    offsets: Vec<(ObjRef, u64)>,
}

impl Update {
    pub(crate) fn new(base: u64, after_eol: bool) -> Self {
        let mut out = Vec::new();
        if !after_eol {
            out.push(b'\n');
        }
        Update {
            base,
            out,
            offsets: Vec::new(),
        }
    }

    fn begin(&mut self, r: ObjRef) {
        self.offsets.push((r, self.base + self.out.len() as u64));
        self.out
            .extend_from_slice(format!("{} {} obj\n", r.num, r.generation).as_bytes());
    }

    fn end(&mut self) {
        self.out.extend_from_slice(b"\nendobj\n");
    }

    pub(crate) fn dict(&mut self, r: ObjRef, dict: &Dict) {
        self.begin(r);
        write_dict(&mut self.out, dict);
        self.end();
    }

    pub(crate) fn stream(&mut self, r: ObjRef, dict: &Dict, data: &[u8]) {
        self.begin(r);
        write_stream(&mut self.out, dict, data);
        self.end();
    }

    /// Writes the signature dictionary; returns where the `/ByteRange` slot and the
    /// `/Contents` digits are in `out`, and how many digits.
    fn signature_dictionary(
        &mut self,
        r: ObjRef,
        request: &SignatureRequest,
    ) -> (usize, usize, usize) {
        let mut dict = Dict::new();
        dict.set("Type", name("Sig"));
        dict.set("Filter", name("Adobe.PPKLite"));
        dict.set("SubFilter", name("ETSI.CAdES.detached"));
        dict.set(
            "M",
            Object::String(pdf_date(request.signing_time).into_bytes()),
        );
        dict.set("Name", Object::String(text_string(&request.signer_name)));
        if let Some(reason) = &request.reason {
            dict.set("Reason", Object::String(text_string(reason)));
        }
        if let Some(location) = &request.location {
            dict.set("Location", Object::String(text_string(location)));
        }
        self.begin(r);
        write_dict(&mut self.out, &dict);
        // Reopen the dictionary to add /ByteRange and /Contents at known places.
        self.out.truncate(self.out.len() - 2);
        self.out.extend_from_slice(b"/ByteRange ");
        let byte_range_at = self.out.len();
        self.out.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
        self.out.extend_from_slice(b"/Contents <");
        let contents_at = self.out.len();
        let hex_len = request.contents_reserve.max(1) * 2;
        self.out.extend(std::iter::repeat_n(b'0', hex_len));
        self.out.extend_from_slice(b">>>");
        self.end();
        (byte_range_at, contents_at, hex_len)
    }

    /// Appends the cross-reference section (a table, or a stream numbered `xref_ref`), the
    /// trailer and `startxref`.
    pub(crate) fn finish_xref(&mut self, mut trailer: Dict, xref_ref: Option<ObjRef>) {
        let start = self.base + self.out.len() as u64;
        match xref_ref {
            None => {
                self.out.extend_from_slice(b"xref\n");
                for run in runs(&self.offsets) {
                    let first = run[0].0.num;
                    self.out
                        .extend_from_slice(format!("{first} {}\n", run.len()).as_bytes());
                    for (r, offset) in run {
                        self.out.extend_from_slice(
                            format!("{offset:010} {:05} n \n", r.generation).as_bytes(),
                        );
                    }
                }
                self.out.extend_from_slice(b"trailer\n");
                write_dict(&mut self.out, &trailer);
                self.out.push(b'\n');
            }
            Some(xref_ref) => {
                self.offsets.push((xref_ref, start));
                let max = self.offsets.iter().map(|(_, o)| *o).max().unwrap_or(0);
                let width = (1..=8).find(|w| max < 1u64 << (8 * w)).unwrap_or(8);
                let mut index = Vec::new();
                let mut data = Vec::new();
                for run in runs(&self.offsets) {
                    index.push(Object::Int(i64::from(run[0].0.num)));
                    index.push(Object::Int(run.len() as i64));
                    for (r, offset) in run {
                        data.push(1);
                        data.extend_from_slice(&offset.to_be_bytes()[8 - width..]);
                        data.extend_from_slice(&r.generation.to_be_bytes());
                    }
                }
                trailer.set("Type", name("XRef"));
                trailer.set("Index", Object::Array(index));
                trailer.set(
                    "W",
                    Object::Array(vec![
                        Object::Int(1),
                        Object::Int(width as i64),
                        Object::Int(2),
                    ]),
                );
                self.begin(xref_ref);
                write_stream(&mut self.out, &trailer, &data);
                self.end();
            }
        }
        self.out
            .extend_from_slice(format!("startxref\n{start}\n%%EOF\n").as_bytes());
    }
}

/// Groups objects sorted by number into runs of consecutive numbers.
fn runs(offsets: &[(ObjRef, u64)]) -> Vec<Vec<(ObjRef, u64)>> {
    let mut sorted = offsets.to_vec();
    sorted.sort_by_key(|(r, _)| r.num);
    let mut runs: Vec<Vec<(ObjRef, u64)>> = Vec::new();
    for entry in sorted {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|(r, _)| r.num + 1 == entry.0.num) => {
                run.push(entry)
            }
            _ => runs.push(vec![entry]),
        }
    }
    runs
}

/// The trailer of the update: the old one's /Root, /Info, /ID, with /Size and /Prev.
pub(crate) fn update_trailer(old: &Dict, size: u32, prev: u64, id_seed: &[u8]) -> Dict {
    let mut trailer = Dict::new();
    trailer.set("Size", Object::Int(i64::from(size)));
    for key in ["Root", "Info"] {
        if let Some(value) = old.get(key) {
            trailer.set(key, value.clone());
        }
    }
    let fresh = Sha256::digest(id_seed)[..16].to_vec();
    let first = old
        .get("ID")
        .and_then(Object::as_array)
        .and_then(|ids| ids.first())
        .and_then(Object::as_string)
        .map(<[u8]>::to_vec)
        .unwrap_or_else(|| fresh.clone());
    trailer.set(
        "ID",
        Object::Array(vec![Object::String(first), Object::String(fresh)]),
    );
    trailer.set("Prev", Object::Int(prev as i64));
    trailer
}

/// `D:YYYYMMDDHHmmSS+01'00'` in Europe/Paris time.
pub fn pdf_date(at: Timestamp) -> String {
    let zoned = at
        .in_tz("Europe/Paris")
        .unwrap_or_else(|_| at.to_zoned_datetime(jiff::tz::TimeZone::UTC));
    let offset = zoned.offset().seconds();
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.unsigned_abs();
    format!(
        "D:{}{sign}{:02}'{:02}'",
        zoned.strftime("%Y%m%d%H%M%S"),
        offset / 3600,
        offset % 3600 / 60
    )
}

/// A page found in the page tree, with its inherited boxes.
pub(crate) struct Page {
    pub(crate) reference: ObjRef,
    pub(crate) dict: Dict,
    /// CropBox if any, else MediaBox, normalised `[x0, y0, x1, y1]`.
    pub(crate) visible_box: [f64; 4],
}

/// Walks the page tree down to the wanted page, reading only the nodes on the way.
pub(crate) fn find_page(reader: &PdfReader<'_>, root: ObjRef, wanted: StampPage) -> Result<Page> {
    let root_dict = reader.resolve_dict(&Object::Ref(root))?;
    let total = root_dict
        .get("Count")
        .and_then(Object::as_int)
        .unwrap_or(0)
        .max(0) as u64;
    if total == 0 {
        return Err(crate::pdf::unreadable("le document n'a aucune page"));
    }
    let mut index = match wanted {
        StampPage::Last => total - 1,
        StampPage::Number(n) if n >= 1 && u64::from(n) <= total => u64::from(n) - 1,
        StampPage::Number(n) => {
            return Err(CryptoError::bad_input(format!(
                "La page {n} n'existe pas : le document compte {total} page(s)."
            )));
        }
    };
    let mut node = (root, root_dict);
    let mut media_box = None;
    let mut crop_box = None;
    let mut seen = HashSet::new();
    for _ in 0..64 {
        let (reference, dict) = node;
        if !seen.insert(reference) {
            break;
        }
        media_box = dict
            .get("MediaBox")
            .and_then(|b| read_box(reader, b))
            .or(media_box);
        crop_box = dict
            .get("CropBox")
            .and_then(|b| read_box(reader, b))
            .or(crop_box);
        let Some(kids) = dict.get("Kids") else {
            let visible_box = crop_box.or(media_box).unwrap_or([0.0, 0.0, 595.0, 842.0]);
            return Ok(Page {
                reference,
                dict,
                visible_box,
            });
        };
        let kids = reader
            .resolve(kids)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default();
        let count = |d: &Dict| {
            if d.get("Kids").is_some() {
                d.get("Count").and_then(Object::as_int).unwrap_or(0).max(0) as u64
            } else {
                1
            }
        };
        let node_count: u64 = count(&dict);
        // Walk from the nearer end: the last page is found without reading every sibling.
        let from_end = index >= node_count / 2;
        let mut rest = if from_end {
            node_count.saturating_sub(index + 1)
        } else {
            index
        };
        let mut next = None;
        let ordered: Box<dyn Iterator<Item = &Object>> = if from_end {
            Box::new(kids.iter().rev())
        } else {
            Box::new(kids.iter())
        };
        for kid in ordered {
            let Some(kid_ref) = kid.as_ref() else {
                continue;
            };
            let kid_dict = reader.resolve_dict(kid)?;
            let n = count(&kid_dict);
            if rest < n {
                index = if from_end { n - 1 - rest } else { rest };
                next = Some((kid_ref, kid_dict));
                break;
            }
            rest -= n;
        }
        node = next.ok_or_else(|| crate::pdf::unreadable("l'arbre des pages est incohérent"))?;
    }
    Err(crate::pdf::unreadable("l'arbre des pages est incohérent"))
}

fn read_box(reader: &PdfReader<'_>, object: &Object) -> Option<[f64; 4]> {
    let resolved = reader.resolve(object).ok()?;
    let values: Vec<f64> = resolved
        .as_array()?
        .iter()
        .filter_map(Object::as_number)
        .collect();
    let [a, b, c, d] = values[..] else {
        return None;
    };
    Some([a.min(c), b.min(d), a.max(c), b.max(d)])
}

/// The stamp's rectangle: the requested one, or the bottom right of the visible box.
fn stamp_rect(stamp: &Stamp, page: &Page) -> [f64; 4] {
    if let Some([a, b, c, d]) = stamp.rect {
        let [a, b, c, d] = [a, b, c, d].map(f64::from);
        return [a.min(c), b.min(d), a.max(c), b.max(d)];
    }
    let [x0, y0, x1, y1] = page.visible_box;
    let width = STAMP_WIDTH.min((x1 - x0) * 0.9);
    let height = STAMP_HEIGHT.min((y1 - y0) * 0.9);
    let margin_x = STAMP_MARGIN.min((x1 - x0 - width) / 2.0);
    let margin_y = STAMP_MARGIN.min((y1 - y0 - height) / 2.0);
    [
        x1 - margin_x - width,
        y0 + margin_y,
        x1 - margin_x,
        y0 + margin_y + height,
    ]
}

/// The names (`/T`) of the top-level fields.
fn field_names(reader: &PdfReader<'_>, fields: &[Object]) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for field in fields.iter().take(MAX_FIELDS) {
        let Ok(dict) = reader.resolve_dict(field) else {
            continue;
        };
        if let Some(t) = dict.get("T").and_then(Object::as_string) {
            names.insert(decode_text_string(t));
        }
    }
    Ok(names)
}

/// The original file followed by the update: what the signed file will be.
struct Appended<'a> {
    source: &'a dyn PdfSource,
    tail: &'a [u8],
}

impl PdfSource for Appended<'_> {
    fn len(&self) -> u64 {
        self.source.len() + self.tail.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let base = self.source.len();
        if offset < base {
            let n = buf
                .len()
                .min(usize::try_from(base - offset).unwrap_or(usize::MAX));
            self.source.read_at(offset, &mut buf[..n])
        } else {
            self.tail.read_at(offset - base, buf)
        }
    }
}

/// SHA-256 of the two ranges of a `/ByteRange`, read in chunks.
fn hash_ranges(source: &dyn PdfSource, byte_range: &[u64; 4]) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    for (start, len) in [
        (byte_range[0], byte_range[1]),
        (byte_range[2], byte_range[3]),
    ] {
        let end = start
            .checked_add(len)
            .filter(|&e| e <= source.len())
            .ok_or_else(|| {
                CryptoError::bad_input("La /ByteRange d'une signature dépasse la fin du fichier.")
            })?;
        let mut at = start;
        while at < end {
            let want = buf
                .len()
                .min(usize::try_from(end - at).unwrap_or(usize::MAX));
            let n = source
                .read_at(at, &mut buf[..want])
                .map_err(|e| CryptoError::bad_input(format!("Lecture du PDF impossible : {e}.")))?;
            if n == 0 {
                return Err(CryptoError::bad_input("Le PDF est plus court que prévu."));
            }
            hasher.update(&buf[..n]);
            at += n as u64;
        }
    }
    Ok(hasher.finalize().into())
}

/// A signature found in a PDF.
#[derive(Debug, Clone)]
pub struct PdfSignature {
    pub field_name: String,
    pub byte_range: [u64; 4],
    /// The DER CMS (`/Contents` without its zero padding).
    pub cms_der: Vec<u8>,
    /// SHA-256 of the bytes the `/ByteRange` covers.
    pub content_sha256: [u8; 32],
    /// The signature covers the whole file (it is the last change).
    pub covers_whole_file: bool,
    /// The signature covers a whole revision (the file up to one of its `%%EOF`), so only
    /// incremental updates follow it.
    pub covers_revision: bool,
    /// The hole of the `/ByteRange` is exactly the `/Contents` string.
    pub byte_range_matches_contents: bool,
    pub sub_filter: Option<String>,
    /// `/M` as written (e.g. `D:20261207140300+01'00'`).
    pub signing_time_m: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// `/Name`.
    pub name: Option<String>,
}

/// Reads every signed signature field of the document, oldest first (in field order).
pub fn signatures(source: &dyn PdfSource) -> Result<Vec<PdfSignature>> {
    let reader = PdfReader::open(source)?;
    let catalog = reader.resolve_dict(&Object::Ref(reader.root_ref()?))?;
    let Some(form) = catalog.get("AcroForm") else {
        return Ok(Vec::new());
    };
    let form = reader.resolve_dict(form)?;
    let fields = match form.get("Fields") {
        Some(f) => reader
            .resolve(f)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut found = Vec::new();
    let mut stack: Vec<(Object, String, usize)> = fields
        .into_iter()
        .rev()
        .map(|f| (f, String::new(), 0))
        .collect();
    let mut visited = 0;
    while let Some((field, parent_name, depth)) = stack.pop() {
        visited += 1;
        if visited > MAX_FIELDS || depth > 32 {
            break;
        }
        let Ok(dict) = reader.resolve_dict(&field) else {
            continue;
        };
        let own = dict
            .get("T")
            .and_then(Object::as_string)
            .map(decode_text_string);
        let full_name = match (parent_name.is_empty(), own) {
            (_, None) => parent_name.clone(),
            (true, Some(n)) => n,
            (false, Some(n)) => format!("{parent_name}.{n}"),
        };
        if let Some(Object::Array(kids)) =
            dict.get("Kids").map(|k| reader.resolve(k)).transpose()?
        {
            for kid in kids.into_iter().rev() {
                stack.push((kid, full_name.clone(), depth + 1));
            }
        }
        if !dict.has_name("FT", "Sig") {
            continue;
        }
        let Some(value) = dict.get("V") else { continue };
        let sig = reader.resolve_dict(value)?;
        found.push(read_signature(&reader, full_name, &sig)?);
    }
    found.sort_by_key(|s| s.byte_range[2] + s.byte_range[3]);
    Ok(found)
}

fn read_signature(reader: &PdfReader<'_>, field_name: String, sig: &Dict) -> Result<PdfSignature> {
    let bad = || {
        CryptoError::bad_input(format!(
            "La signature « {field_name} » est illisible (/ByteRange ou /Contents invalide)."
        ))
    };
    let numbers: Vec<u64> = sig
        .get("ByteRange")
        .and_then(Object::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_int().and_then(|i| u64::try_from(i).ok()))
                .collect()
        })
        .unwrap_or_default();
    let [r0, r1, r2, r3] = numbers[..] else {
        return Err(bad());
    };
    let byte_range = [r0, r1, r2, r3];
    let contents = sig
        .get("Contents")
        .and_then(Object::as_string)
        .ok_or_else(bad)?;
    let cms_der = contents[..der_length(contents).unwrap_or(contents.len())].to_vec();
    let content_sha256 = hash_ranges(reader.source(), &byte_range)?;
    let end = r2.checked_add(r3).ok_or_else(bad)?;
    let gap_ok = r0 == 0 && r1 < r2 && {
        let first = read_range(reader.source(), r1, 1)?;
        let last = read_range(reader.source(), r2 - 1, 1)?;
        first == b"<" && last == b">" && r2 - r1 == 2 * contents.len() as u64 + 2
    };
    let text = |key: &str| {
        sig.get(key)
            .and_then(Object::as_string)
            .map(decode_text_string)
    };
    Ok(PdfSignature {
        field_name,
        byte_range,
        cms_der,
        content_sha256,
        covers_whole_file: r0 == 0 && end == reader.len(),
        covers_revision: r0 == 0 && ends_a_revision(reader, end)?,
        byte_range_matches_contents: gap_ok,
        sub_filter: sig
            .get("SubFilter")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned()),
        signing_time_m: text("M"),
        reason: text("Reason"),
        location: text("Location"),
        name: text("Name"),
    })
}

/// The sub-filters whose `/Contents` is a detached CMS over the byte range.
const CMS_SUB_FILTERS: [&str; 2] = ["ETSI.CAdES.detached", "adbe.pkcs7.detached"];

/// Verifies every signature of the document: integrity and certificate by
/// [`crate::cms::verify_detached_digest`] (against the DER trust `anchors`, at the time-stamp's
/// time, else at `at`), and what the signature covers. Oldest signature first.
pub fn verify(
    source: &dyn PdfSource,
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
) -> Result<Vec<SignatureReport>> {
    let found = signatures(source)?;
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, sig)| verify_one(sig, &found[i + 1..], anchors, at))
        .collect())
}

fn verify_one(
    sig: &PdfSignature,
    later: &[PdfSignature],
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
) -> SignatureReport {
    let sub_filter = sig.sub_filter.as_deref().unwrap_or("");
    let mut report = if !CMS_SUB_FILTERS.contains(&sub_filter) {
        let mut report = SignatureReport::new(SignatureFormat::Pades, "");
        report.integrity = Check::NotChecked(format!(
            "Format de signature PDF non pris en charge (/SubFilter {sub_filter})."
        ));
        report
    } else {
        match crate::cms::verify_detached_digest(
            &sig.cms_der,
            &sig.content_sha256,
            anchors,
            at,
            SignatureFormat::Pades,
        ) {
            Ok(report) => report,
            Err(e) => {
                let mut report = SignatureReport::new(SignatureFormat::Pades, "");
                report.integrity = Check::Failed(format!("Signature illisible : {e}"));
                report
            }
        }
    };
    report.name = sig.field_name.clone();
    if report.claimed_time.is_none() {
        report.claimed_time = sig.signing_time_m.as_deref().and_then(parse_pdf_date);
        if let (None, Some(claimed)) = (&report.timestamp, report.claimed_time) {
            report.remarks.insert(
                0,
                format!(
                    "La date de signature ({}) est celle déclarée dans le PDF (/M) ; aucun \
                     horodatage ne la prouve.",
                    crate::pki::french_date(claimed)
                ),
            );
        }
    }
    if !sig.byte_range_matches_contents && report.integrity.is_ok() {
        report.integrity = Check::Failed(
            "La plage signée (/ByteRange) ne correspond pas à l'emplacement de la signature : \
             une partie du document n'est pas couverte."
                .into(),
        );
    }
    report.coverage = coverage(sig, later, &mut report.remarks);
    report
}

/// Whether the signature covers the document, or a revision followed by updates only.
fn coverage(sig: &PdfSignature, later: &[PdfSignature], remarks: &mut Vec<String>) -> Check {
    if sig.covers_whole_file {
        return Check::Ok;
    }
    if !sig.covers_revision {
        return Check::Failed(
            "La signature ne couvre pas une version complète du document.".into(),
        );
    }
    if later.iter().any(|l| l.covers_whole_file) {
        remarks.push(
            "Des modifications ont été ajoutées après cette signature (signatures suivantes)."
                .into(),
        );
        Check::Ok
    } else {
        remarks
            .push("Des modifications non signées ont été ajoutées après cette signature.".into());
        Check::NotChecked(
            "des modifications non signées ont été ajoutées après cette signature ; leur \
             contenu n'a pas été analysé"
                .into(),
        )
    }
}

/// Reads a PDF date (`D:YYYYMMDDHHmmSS+hh'mm'`, trailing parts optional).
pub fn parse_pdf_date(text: &str) -> Option<Timestamp> {
    let text = text.strip_prefix("D:").unwrap_or(text);
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, len: usize, default: i64| -> Option<i64> {
        match digits.get(from..from + len) {
            Some(p) => p.parse().ok(),
            None => Some(default),
        }
    };
    // `Date::new` and `Time::new` refuse month 13 and the like (the helpers would panic).
    let date = jiff::civil::Date::new(
        i16::try_from(part(0, 4, 0)?).ok()?,
        i8::try_from(part(4, 2, 1)?).ok()?,
        i8::try_from(part(6, 2, 1)?).ok()?,
    )
    .ok()?;
    let time = jiff::civil::Time::new(
        i8::try_from(part(8, 2, 0)?).ok()?,
        i8::try_from(part(10, 2, 0)?).ok()?,
        i8::try_from(part(12, 2, 0)?).ok()?,
        0,
    )
    .ok()?;
    let rest = &text[digits.len()..];
    let offset_seconds = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let nums: Vec<i32> = rest[1..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect();
            let seconds =
                nums.first().copied().unwrap_or(0) * 3600 + nums.get(1).copied().unwrap_or(0) * 60;
            if sign == '-' { -seconds } else { seconds }
        }
        _ => 0,
    };
    let offset = jiff::tz::Offset::from_seconds(offset_seconds).ok()?;
    let datetime = jiff::civil::DateTime::from_parts(date, time);
    offset.to_timestamp(datetime).ok()
}

/// `true` if the file up to `end` is a whole revision: it ends with `%%EOF` (and an optional
/// end of line), and a cross-reference section of the chain starts before it.
fn ends_a_revision(reader: &PdfReader<'_>, end: u64) -> Result<bool> {
    if end > reader.len() {
        return Ok(false);
    }
    let before = read_range(
        reader.source(),
        end.saturating_sub(8),
        (end.min(8)) as usize,
    )?;
    let trimmed = before
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(&before[..0], |p| &before[..=p]);
    Ok(trimmed.ends_with(b"%%EOF") && reader.sections().iter().any(|&s| s < end))
}

/// Length of the DER element at the start of `bytes` (the CMS inside a zero-padded string).
fn der_length(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (2 + n, len)
    };
    let total = header.checked_add(len)?;
    (total <= bytes.len()).then_some(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_in_paris_time() {
        let winter: Timestamp = "2026-12-07T13:03:09Z".parse().unwrap();
        assert_eq!(pdf_date(winter), "D:20261207140309+01'00'");
        let summer: Timestamp = "2026-07-14T10:00:00Z".parse().unwrap();
        assert_eq!(pdf_date(summer), "D:20260714120000+02'00'");
    }

    #[test]
    fn pdf_dates_are_read_back() {
        let t: Timestamp = "2026-12-07T13:03:09Z".parse().unwrap();
        assert_eq!(parse_pdf_date(&pdf_date(t)), Some(t));
        assert_eq!(
            parse_pdf_date("D:20220215095624+01'00'"),
            Some("2022-02-15T08:56:24Z".parse().unwrap())
        );
        assert_eq!(
            parse_pdf_date("D:2022"),
            Some("2022-01-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(parse_pdf_date("D:20221345"), None);
        assert_eq!(parse_pdf_date("hier"), None);
    }

    #[test]
    fn der_length_reads_short_and_long_forms() {
        assert_eq!(der_length(&[0x30, 0x03, 1, 2, 3, 0, 0]), Some(5));
        assert_eq!(der_length(&[0x30, 0x82, 0x00, 0x02, 9, 9, 0]), Some(6));
        assert_eq!(der_length(&[0x30, 0x82, 0xff, 0xff]), None);
    }

    #[test]
    fn runs_group_consecutive_numbers() {
        let r = |n| (ObjRef::new(n, 0), u64::from(n));
        let grouped = runs(&[r(7), r(3), r(4), r(9), r(8)]);
        let nums: Vec<Vec<u32>> = grouped
            .iter()
            .map(|run| run.iter().map(|(r, _)| r.num).collect())
            .collect();
        assert_eq!(nums, vec![vec![3, 4], vec![7, 8, 9]]);
    }
}
