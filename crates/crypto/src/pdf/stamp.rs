//! A text stamp added to an existing PDF by incremental update: a white box with a thin border
//! and a few lines of Helvetica (standard 14 font, WinAnsiEncoding, so French accents work
//! without embedding a font), e.g. the *acte tamponné* of the contrôle de légalité:
//!
//! ```text
//! Envoyé en préfecture le 08/07/2022
//! Reçu en préfecture le 08/07/2022
//! Publié le
//! ID : 080-258004365-20220628-220628_CS_DEL8-DE
//! ```
//!
//! The stamp is a `/Stamp` annotation with its own appearance (a Form XObject), appended to the
//! page's `/Annots`. Nothing of the original file is rewritten: earlier PAdES signatures still
//! cover their revision, and a validator sees a later revision that only adds an annotation.
//!
//! The box is placed in the page *as it is displayed*: a corner of the visible box (CropBox,
//! else MediaBox, wherever its origin is) after the page's `/Rotate`, and the text reads
//! upright whatever the rotation (the appearance's `/Matrix` turns it against the page).
//!
//! Stamping a file already stamped by this module replaces the earlier stamp of that page (the
//! annotation keeps its object number, its content and appearance change) instead of piling
//! up boxes; stamping the original file again with every line known so far works as well.

use std::collections::HashSet;

use sha2::{Digest as _, Sha256};

use crate::error::{CryptoError, Result};
use crate::pades::stamp::{font_dict, helvetica_width, to_win_ansi};
use crate::pades::{Page, StampPage, Update, ends_with_eol, find_page, update_trailer};
use crate::pdf::object::{Dict, ObjRef, Object, decode_text_string, format_real, text_string};
use crate::pdf::{PdfReader, PdfSource, XrefKind};

/// The annotation name (`/NM`) marking the stamps made here, so a later stamp replaces them.
pub const STAMP_ANNOTATION_NAME: &str = "bouquet-tampon";
/// The error for an encrypted file (the reader's says "signé").
pub const ENCRYPTED: &str = "Ce PDF est chiffré (protégé par un mot de passe) : le tampon ne peut pas y être apposé. Enregistrez-le sans protection puis déposez-le à nouveau.";
/// Font size of the text when the page leaves room for it, in points.
const FONT_SIZE: f64 = 9.0;
/// Smallest font size used when the page is too narrow for the longest line.
const MIN_FONT_SIZE: f64 = 3.0;
/// Line height relative to the font size.
const LEADING: f64 = 1.3;
/// Inner margin of the box relative to the font size.
const PADDING: f64 = 0.6;
/// Default distance from the page edges, in points.
const DEFAULT_MARGIN: f64 = 20.0;
/// Most lines, and longest line, accepted.
const MAX_LINES: usize = 40;
const MAX_LINE_CHARS: usize = 500;
/// Annotation flags: print (4), locked (128), locked contents (512).
const ANNOTATION_FLAGS: i64 = 4 | 128 | 512;
/// Most annotations of a page looked at when searching for an earlier stamp.
const MAX_ANNOTATIONS: usize = 10_000;

/// What to stamp and where.
#[derive(Debug, Clone, PartialEq)]
pub struct TextStamp {
    /// The lines, top to bottom; Latin text (what WinAnsiEncoding cannot show becomes `?`).
    pub lines: Vec<String>,
    pub page: PageChoice,
    pub position: StampPosition,
}

impl TextStamp {
    /// The lines at the top right of the first page, 20 points from its edges.
    pub fn new(lines: Vec<String>) -> Self {
        TextStamp {
            lines,
            page: PageChoice::default(),
            position: StampPosition::default(),
        }
    }
}

/// The page that receives the stamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PageChoice {
    #[default]
    First,
    Last,
    /// 1-based.
    Number(u32),
}

/// A corner of the page as displayed (after `/Rotate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Corner {
    TopLeft,
    #[default]
    TopRight,
    BottomLeft,
    BottomRight,
}

/// Where the box goes: a corner of the displayed page and its distance from the two edges
/// of that corner, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StampPosition {
    pub corner: Corner,
    /// Distance from the left or right edge.
    pub horizontal: f64,
    /// Distance from the top or bottom edge.
    pub vertical: f64,
}

impl Default for StampPosition {
    fn default() -> Self {
        StampPosition {
            corner: Corner::TopRight,
            horizontal: DEFAULT_MARGIN,
            vertical: DEFAULT_MARGIN,
        }
    }
}

/// Stamps `pdf`: returns the original bytes followed by the update.
pub fn stamp_pdf(pdf: &[u8], stamp: &TextStamp) -> Result<Vec<u8>> {
    let tail = stamp_update(&pdf, stamp)?;
    let mut out = Vec::with_capacity(pdf.len() + tail.len());
    out.extend_from_slice(pdf);
    out.extend_from_slice(&tail);
    Ok(out)
}

/// The bytes to append to `source` to stamp it (reads only the objects it needs, so a large
/// file can stay on disk).
pub fn stamp_update(source: &dyn PdfSource, stamp: &TextStamp) -> Result<Vec<u8>> {
    let lines = clean_lines(&stamp.lines)?;
    let reader = PdfReader::open(source).map_err(|e| match e {
        CryptoError::BadInput(m) if m == crate::pdf::ENCRYPTED => CryptoError::bad_input(ENCRYPTED),
        other => other,
    })?;
    let root_ref = reader.root_ref()?;
    let catalog = reader.resolve_dict(&Object::Ref(root_ref))?;
    let pages_ref = catalog
        .get("Pages")
        .and_then(Object::as_ref)
        .ok_or_else(|| crate::pdf::unreadable("l'arbre des pages est introuvable"))?;
    let wanted = match stamp.page {
        PageChoice::First => StampPage::Number(1),
        PageChoice::Last => StampPage::Last,
        PageChoice::Number(n) => StampPage::Number(n),
    };
    let mut page = find_page(&reader, pages_ref, wanted)?;
    if page.visible_box.iter().any(|v| !v.is_finite()) {
        page.visible_box = [0.0, 0.0, 595.0, 842.0];
    }
    let rotation = page_rotation(&reader, &page)?;

    // The layout, in the displayed page's space, then in the page's own space.
    let encoded: Vec<Vec<u8>> = lines.iter().map(|l| to_win_ansi(l)).collect();
    let layout = Layout::new(&encoded, &page.visible_box, rotation, &stamp.position);
    let rect = layout.rect_in_page(&page.visible_box, rotation);

    // The page's annotations, and an earlier stamp of ours to replace.
    let annots: Vec<Object> = match page.dict.get("Annots") {
        Some(a) => reader
            .resolve(a)?
            .as_array()
            .map(<[Object]>::to_vec)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let earlier = find_earlier_stamp(&reader, &annots)?;

    let mut next = reader.next_object_number();
    let mut allocate = || {
        let r = ObjRef::new(next, 0);
        next += 1;
        r
    };
    let annot_ref = earlier.unwrap_or_else(&mut allocate);
    let appearance_ref = allocate();
    let font_ref = allocate();

    let original_len = reader.len();
    let mut update = Update::new(original_len, ends_with_eol(source, original_len)?);

    let (ap_dict, content) = layout.appearance(&encoded, rotation, font_ref);
    update.stream(appearance_ref, &ap_dict, &content);
    update.dict(font_ref, &font_dict());
    update.dict(
        annot_ref,
        &annotation(&lines, rect, page.reference, appearance_ref),
    );

    if earlier.is_none() {
        let mut annots = annots;
        annots.push(Object::Ref(annot_ref));
        // As for a signature widget, an indirect /Annots array is copied into the page.
        let mut page_dict = page.dict.clone();
        page_dict.set("Annots", Object::Array(annots));
        update.dict(page.reference, &page_dict);
    }

    let xref_ref = match reader.newest_xref_kind() {
        XrefKind::Stream => Some(allocate()),
        XrefKind::Table => None,
    };
    let id_seed = [
        b"bouquet-tampon".as_slice(),
        &original_len.to_be_bytes(),
        &Sha256::digest(&content),
    ]
    .concat();
    let trailer = update_trailer(reader.trailer(), next, reader.startxref(), &id_seed);
    update.finish_xref(trailer, xref_ref);
    Ok(update.out)
}

/// Checks the lines and turns control characters (line breaks, tabs) into spaces.
fn clean_lines(lines: &[String]) -> Result<Vec<String>> {
    if lines.is_empty() || lines.iter().all(|l| l.trim().is_empty()) {
        return Err(CryptoError::bad_input("Le tampon à apposer est vide."));
    }
    if lines.len() > MAX_LINES {
        return Err(CryptoError::bad_input(format!(
            "Le tampon compte trop de lignes ({} ; {MAX_LINES} au plus).",
            lines.len()
        )));
    }
    lines
        .iter()
        .map(|line| {
            if line.chars().count() > MAX_LINE_CHARS {
                return Err(CryptoError::bad_input(format!(
                    "Une ligne du tampon est trop longue ({MAX_LINE_CHARS} caractères au plus)."
                )));
            }
            Ok(line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .trim_end()
                .to_string())
        })
        .collect()
}

/// The page's `/Rotate` (inherited from the page tree when absent), as 0, 90, 180 or 270.
fn page_rotation(reader: &PdfReader<'_>, page: &Page) -> Result<u16> {
    let mut dict = page.dict.clone();
    let mut seen = HashSet::from([page.reference]);
    for _ in 0..64 {
        if let Some(rotate) = dict.get("Rotate") {
            let degrees = reader.resolve(rotate)?.as_int().unwrap_or(0);
            // Only multiples of 90 are valid; anything else is read as 0, as viewers do.
            return Ok(match degrees.rem_euclid(360) {
                90 => 90,
                180 => 180,
                270 => 270,
                _ => 0,
            });
        }
        let Some(parent) = dict.get("Parent").and_then(Object::as_ref) else {
            break;
        };
        if !seen.insert(parent) {
            break;
        }
        dict = reader.resolve_dict(&Object::Ref(parent))?;
    }
    Ok(0)
}

/// The reference of an annotation of ours among the page's, if any.
fn find_earlier_stamp(reader: &PdfReader<'_>, annots: &[Object]) -> Result<Option<ObjRef>> {
    for annot in annots.iter().take(MAX_ANNOTATIONS) {
        let Some(r) = annot.as_ref() else { continue };
        let Ok(dict) = reader.resolve_dict(annot) else {
            continue;
        };
        let ours = dict.has_name("Subtype", "Stamp")
            && dict
                .get("NM")
                .and_then(Object::as_string)
                .is_some_and(|n| decode_text_string(n) == STAMP_ANNOTATION_NAME);
        if ours {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// The annotation dictionary.
fn annotation(lines: &[String], rect: [f64; 4], page: ObjRef, appearance: ObjRef) -> Dict {
    let mut annot = Dict::new();
    annot.set("Type", name("Annot"));
    annot.set("Subtype", name("Stamp"));
    annot.set(
        "Rect",
        Object::Array(rect.iter().map(|&v| Object::Real(round2(v))).collect()),
    );
    annot.set("Contents", Object::String(text_string(&lines.join("\n"))));
    annot.set(
        "NM",
        Object::String(STAMP_ANNOTATION_NAME.as_bytes().to_vec()),
    );
    annot.set("F", Object::Int(ANNOTATION_FLAGS));
    annot.set("P", Object::Ref(page));
    let mut ap = Dict::new();
    ap.set("N", Object::Ref(appearance));
    annot.set("AP", Object::Dict(ap));
    annot
}

fn name(n: &str) -> Object {
    Object::Name(n.as_bytes().to_vec())
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Width of WinAnsi text in Helvetica, in 1/1000 of the font size.
fn text_width(line: &[u8]) -> f64 {
    line.iter().map(|&b| f64::from(helvetica_width(b))).sum()
}

/// The box in the displayed page: its size, font size and lower-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    font_size: f64,
    width: f64,
    height: f64,
    /// Lower-left corner in the displayed page, from its lower-left corner.
    u: f64,
    v: f64,
}

impl Layout {
    fn new(lines: &[Vec<u8>], visible: &[f64; 4], rotation: u16, position: &StampPosition) -> Self {
        let (box_w, box_h) = (visible[2] - visible[0], visible[3] - visible[1]);
        let (page_w, page_h) = if rotation % 180 == 90 {
            (box_h, box_w)
        } else {
            (box_w, box_h)
        };
        // At most a quarter of the page; `min`/`max` (not `clamp`) so that a degenerate box
        // cannot panic.
        let margin = |m: f64, room: f64| {
            if m.is_finite() && room.is_finite() {
                m.max(0.0).min((room / 4.0).max(0.0))
            } else {
                0.0
            }
        };
        let margin_x = margin(position.horizontal, page_w);
        let margin_y = margin(position.vertical, page_h);
        let widest = lines.iter().map(|l| text_width(l)).fold(0.0, f64::max);
        let count = lines.len().max(1) as f64;
        // Width and height of the box for a font size of 1.
        let unit_w = widest / 1000.0 + 2.0 * PADDING;
        let unit_h = 2.0 * PADDING + 1.0 + (count - 1.0) * LEADING + 0.25;
        let room_w = (page_w - 2.0 * margin_x).max(1.0);
        let room_h = (page_h - 2.0 * margin_y).max(1.0);
        let font_size = FONT_SIZE
            .min(room_w / unit_w)
            .min(room_h / unit_h)
            .max(MIN_FONT_SIZE);
        let width = unit_w * font_size;
        let height = unit_h * font_size;
        let u = match position.corner {
            Corner::TopLeft | Corner::BottomLeft => margin_x,
            Corner::TopRight | Corner::BottomRight => page_w - margin_x - width,
        };
        let v = match position.corner {
            Corner::BottomLeft | Corner::BottomRight => margin_y,
            Corner::TopLeft | Corner::TopRight => page_h - margin_y - height,
        };
        Layout {
            font_size,
            width,
            height,
            u: u.max(0.0),
            v: v.max(0.0),
        }
    }

    /// The box in the page's own space (`/Rect`), for the visible box and rotation.
    fn rect_in_page(&self, visible: &[f64; 4], rotation: u16) -> [f64; 4] {
        let [x0, y0, x1, y1] = *visible;
        let to_page = |u: f64, v: f64| match rotation {
            90 => (x1 - v, y0 + u),
            180 => (x1 - u, y1 - v),
            270 => (x0 + v, y1 - u),
            _ => (x0 + u, y0 + v),
        };
        let (ax, ay) = to_page(self.u, self.v);
        let (bx, by) = to_page(self.u + self.width, self.v + self.height);
        [ax.min(bx), ay.min(by), ax.max(bx), ay.max(by)]
    }

    /// The appearance stream (dictionary without `/Length`, and content): drawn upright in a
    /// `width`×`height` box, turned by `/Matrix` against the page's rotation.
    fn appearance(&self, lines: &[Vec<u8>], rotation: u16, font: ObjRef) -> (Dict, Vec<u8>) {
        let mut fonts = Dict::new();
        fonts.set("F1", Object::Ref(font));
        let mut resources = Dict::new();
        resources.set("Font", Object::Dict(fonts));
        let mut dict = Dict::new();
        dict.set("Type", name("XObject"));
        dict.set("Subtype", name("Form"));
        dict.set(
            "BBox",
            Object::Array(vec![
                Object::Int(0),
                Object::Int(0),
                Object::Real(round2(self.width)),
                Object::Real(round2(self.height)),
            ]),
        );
        // Turns the upright drawing counter-clockwise by the page's clockwise rotation.
        let (cos, sin) = match rotation {
            90 => (0, 1),
            180 => (-1, 0),
            270 => (0, -1),
            _ => (1, 0),
        };
        dict.set(
            "Matrix",
            Object::Array(
                [cos, sin, -sin, cos, 0, 0]
                    .into_iter()
                    .map(Object::Int)
                    .collect(),
            ),
        );
        dict.set("Resources", Object::Dict(resources));

        let n = format_real;
        let (w, h) = (round2(self.width), round2(self.height));
        let size = self.font_size;
        let mut content = Vec::new();
        // White background, then a thin dark border inside the box.
        content.extend_from_slice(format!("q 1 g 0 0 {} {} re f Q\n", n(w), n(h)).as_bytes());
        content.extend_from_slice(
            format!(
                "q 0.6 w 0.15 0.15 0.15 RG 0.3 0.3 {} {} re S Q\n",
                n(w - 0.6),
                n(h - 0.6)
            )
            .as_bytes(),
        );
        content.extend_from_slice(
            format!(
                "BT /F1 {} Tf {} TL 0 g {} {} Td\n",
                n(size),
                n(size * LEADING),
                n(PADDING * size),
                n(h - PADDING * size - size)
            )
            .as_bytes(),
        );
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                content.extend_from_slice(b"T* ");
            }
            crate::pdf::object::write_string(&mut content, line);
            content.extend_from_slice(b" Tj\n");
        }
        content.extend_from_slice(b"ET\n");
        (dict, content)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const A4: [f64; 4] = [0.0, 0.0, 595.0, 842.0];

    fn layout(lines: &[&str], visible: &[f64; 4], rotation: u16) -> Layout {
        let encoded: Vec<Vec<u8>> = lines.iter().map(|l| to_win_ansi(l)).collect();
        Layout::new(&encoded, visible, rotation, &StampPosition::default())
    }

    #[test]
    fn the_box_sits_at_the_top_right_of_the_page() {
        let l = layout(&["Envoyé en préfecture le 08/07/2022"], &A4, 0);
        assert_eq!(l.font_size, FONT_SIZE);
        assert!((l.u + l.width - (595.0 - DEFAULT_MARGIN)).abs() < 1e-9);
        assert!((l.v + l.height - (842.0 - DEFAULT_MARGIN)).abs() < 1e-9);
        let rect = l.rect_in_page(&A4, 0);
        assert!((rect[2] - 575.0).abs() < 1e-9 && (rect[3] - 822.0).abs() < 1e-9);
    }

    #[test]
    fn the_rect_follows_the_rotation_and_the_shifted_box() {
        let shifted = [100.0, 200.0, 695.0, 1042.0];
        let lines = ["ID : 080-258004365-20220628-220628_CS_DEL8-DE"];
        // Displayed top right, for each rotation, in the page's own space.
        let l = layout(&lines, &shifted, 90);
        let r = l.rect_in_page(&shifted, 90);
        // Rotated 90° clockwise: the displayed top is the page's left, the right its top.
        assert!((r[0] - (100.0 + DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
        assert!((r[3] - (1042.0 - DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
        assert!((r[2] - r[0] - l.height).abs() < 1e-9, "{r:?}");
        let l = layout(&lines, &shifted, 180);
        let r = l.rect_in_page(&shifted, 180);
        assert!((r[0] - (100.0 + DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
        assert!((r[1] - (200.0 + DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
        let l = layout(&lines, &shifted, 270);
        let r = l.rect_in_page(&shifted, 270);
        assert!((r[2] - (695.0 - DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
        assert!((r[1] - (200.0 + DEFAULT_MARGIN)).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn the_font_shrinks_on_a_narrow_page_and_the_box_stays_inside() {
        let narrow = [0.0, 0.0, 150.0, 300.0];
        let l = layout(
            &["ID : 080-258004365-20220628-220628_CS_DEL8-DE"],
            &narrow,
            0,
        );
        assert!(l.font_size < FONT_SIZE);
        let r = l.rect_in_page(&narrow, 0);
        assert!(r[0] >= 0.0 && r[2] <= 150.0 + 1e-9, "{r:?}");
    }

    #[test]
    fn a_degenerate_page_box_does_not_panic() {
        for visible in [[0.0; 4], [0.0, 0.0, 1e308, 1e308], [5.0, 5.0, 5.0, 900.0]] {
            for rotation in [0, 90, 180, 270] {
                let l = layout(&["Reçu en préfecture le"], &visible, rotation);
                let r = l.rect_in_page(&visible, rotation);
                assert!(l.font_size >= MIN_FONT_SIZE, "{l:?}");
                assert!(r[0] <= r[2] && r[1] <= r[3], "{r:?}");
            }
        }
    }

    #[test]
    fn empty_or_oversized_stamps_are_refused_and_line_breaks_become_spaces() {
        assert!(clean_lines(&[]).is_err());
        assert!(clean_lines(&[" ".into()]).is_err());
        assert!(clean_lines(&vec!["a".into(); MAX_LINES + 1]).is_err());
        assert!(clean_lines(&["x".repeat(MAX_LINE_CHARS + 1)]).is_err());
        assert_eq!(
            clean_lines(&["Publié\nle ".into()]).unwrap(),
            vec!["Publié le".to_string()]
        );
    }
}
