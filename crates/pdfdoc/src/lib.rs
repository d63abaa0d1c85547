//! Bouquet's PDF engine: a document is a list of [`Block`]s (title, headings, paragraphs,
//! lists, tables, key–value pairs, signature blocks) that [`render`] lays out on A4 pages
//! and writes as a tagged PDF, declared PDF/UA-1 and PDF/A-2a.
//!
//! krilla checks what it can of both standards while writing and refuses to produce a
//! non-conforming file, which [`render`] reports as [`PdfDocError::Pdf`]. The semantic part
//! (headings tagged as headings, tables as tables, running header and footer as artifacts,
//! reading order) is ours, below.
//!
//! Text is laid out here, not by krilla: each character is mapped to a glyph of the embedded
//! DejaVu Sans through the font's character map, and lines are measured with its advance
//! widths (no kerning, no ligatures: the width measured is exactly the width drawn).
//! Texts in blocks are drawn as given: pass them through [`typo`] first for French spacing.
//!
//! # Layout
//!
//! - [`Document`] (metadata, running header and footer) and [`Block`]: the input;
//!   [`render`] makes the PDF and fails with a [`PdfDocError`] (French messages).
//! - French typography: [`typo`] (no-break spaces before « : ; ! ? % » and inside
//!   guillemets), [`date_fr`] ("1er janvier 2026"), [`thousands`] ("8 807").
//! - `Face`, `break_lines`: the embedded fonts and the greedy line breaker.
//! - `layout`: blocks → rows → A4 pages (2 cm margins), keeping a heading with what follows,
//!   a table row and the signature block in one piece, and repeating a table's header row
//!   at the top of each page the table runs onto.
//! - `write_pdf`: draws the pages with krilla (running header, footer "Page 1 sur 2" as
//!   artifacts), then attaches the tag tree, the outline and the metadata.

use std::collections::BTreeMap;
use std::num::NonZeroU16;

use jiff::civil::Date;
use krilla::SerializeSettings;
use krilla::color::luma;
use krilla::configure::{Accessibility, Archival, ConfigurationBuilder};
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata};
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Identifier, ListNumbering, Node, SpanTag, TableHeaderScope,
    Tag, TagGroup, TagTree,
};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;
use skrifa::{FontRef, MetadataProvider};

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

// ---------------------------------------------------------------------------------------
// Input and errors
// ---------------------------------------------------------------------------------------

/// What a document says about itself: its metadata, and the running header and footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The title in the metadata (what a reader's window shows); the visible title is a
    /// [`Block::Title`].
    pub title: String,
    /// The description in the metadata.
    pub subject: Option<String>,
    /// The author in the metadata (the organisation that issues the document).
    pub author: String,
    /// The language of the text (BCP 47), for the tag tree and the metadata.
    pub lang: String,
    /// The creation date in the metadata: the only date, so that the same input gives the
    /// same bytes.
    pub date: Date,
    /// The PDF's document identifier: the versions of one document should share it. When
    /// `None`, krilla derives it from the content.
    pub id: Option<String>,
    /// Drawn at the top left of every page, as an artifact.
    pub header: Option<String>,
    /// Drawn at the bottom left of every page, as an artifact, beside "Page n sur N".
    pub footer: Option<String>,
}

impl Document {
    /// A document in French ("fr-FR"), without identifier, running header or footer.
    pub fn new(title: impl Into<String>, author: impl Into<String>, date: Date) -> Document {
        Document {
            title: title.into(),
            subject: None,
            author: author.into(),
            lang: "fr-FR".to_owned(),
            date,
            id: None,
            header: None,
            footer: None,
        }
    }
}

/// A block of the document, in reading order. Texts are drawn as given (see [`typo`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// The document title (H1).
    Title(String),
    /// A section heading (H2).
    Heading(String),
    /// A paragraph; `keep_with_next` keeps it on the page of the block that follows.
    Para { text: String, keep_with_next: bool },
    /// A paragraph in smaller type (a reference under the title, a note).
    Small(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table: one header row, then rows of as many cells, whose text wraps in its column.
    /// `widths` are the columns' shares of the line (any positive numbers, scaled to the
    /// width), equal columns when empty. A row is never split; when the table runs onto
    /// another page, its header row is drawn again at the top (tagged as an artifact).
    Table {
        caption: Option<String>,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        widths: Vec<f32>,
    },
    /// Pairs of a label and a value ("Signataire", "Anne Martin"), in two columns: tagged
    /// as a table whose first column holds row headers.
    KeyValues(Vec<(String, String)>),
    /// A signature block: one column per signatory, with its header ("Pour la commune") and
    /// name, and the fields to fill in by hand (name, capacity, date, signature). Never
    /// split across pages. `summary` describes the table to assistive technologies.
    Signatures {
        columns: Vec<(String, String)>,
        summary: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PdfDocError {
    #[error("Le document ne peut pas être mis en page : {0}")]
    Invalid(String),
    #[error(
        "Le caractère « {0} » (U+{code:04X}) ne peut pas être imprimé avec la police du document.",
        code = u32::from(*.0)
    )]
    MissingGlyph(char),
    #[error("La police intégrée au programme est illisible.")]
    Font,
    #[error("Le PDF n'a pas pu être produit : {0}")]
    Pdf(String),
}

// ---------------------------------------------------------------------------------------
// French typography
// ---------------------------------------------------------------------------------------

const NBSP: char = '\u{a0}';
/// Espace fine insécable.
const NNBSP: char = '\u{202f}';

/// French spacing: the plain space before « : » and » and after « becomes a no-break space,
/// the one before « ; ! ? % » and between groups of digits ("2 000") a narrow no-break
/// space, so that a line never starts with them. Texts are written with plain spaces and
/// go through this.
pub fn typo(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c != ' ' {
            out.push(c);
            continue;
        }
        let next = chars.get(i + 1).copied();
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        // "2 000": a digit, then a group of exactly three digits.
        let digit = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
        let thousands_group =
            prev.is_some_and(|p| p.is_ascii_digit()) && (i + 1..i + 4).all(digit) && !digit(i + 4);
        out.push(match (prev, next) {
            (_, Some(':' | '»')) | (Some('«'), _) => NBSP,
            (_, Some(';' | '!' | '?' | '%')) => NNBSP,
            _ if thousands_group => NNBSP,
            _ => ' ',
        });
    }
    out
}

/// "23 novembre 2026", "1er janvier 2026", held together by no-break spaces.
pub fn date_fr(d: Date) -> String {
    let month = match d.month() {
        1 => "janvier",
        2 => "février",
        3 => "mars",
        4 => "avril",
        5 => "mai",
        6 => "juin",
        7 => "juillet",
        8 => "août",
        9 => "septembre",
        10 => "octobre",
        11 => "novembre",
        _ => "décembre",
    };
    let day = if d.day() == 1 {
        "1er".to_owned()
    } else {
        d.day().to_string()
    };
    format!("{day}{NBSP}{month}{NBSP}{}", d.year())
}

/// "8 807", with a narrow no-break space.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NNBSP);
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Fonts and line breaking
// ---------------------------------------------------------------------------------------

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// One embedded font: krilla's handle to draw with, skrifa's tables to measure with.
struct Face {
    font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Result<Face, PdfDocError> {
        let font = Font::new(data.into(), 0).ok_or(PdfDocError::Font)?;
        let font_ref = FontRef::new(data).map_err(|_| PdfDocError::Font)?;
        let units_per_em = f32::from(
            font_ref
                .head()
                .map_err(|_| PdfDocError::Font)?
                .units_per_em(),
        );
        Ok(Face {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    /// The glyph of `c` and its advance in ems.
    fn glyph(&self, c: char) -> Option<(GlyphId, f32)> {
        let id = self.charmap.map(c)?;
        let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
        Some((GlyphId::new(id.to_u32()), advance))
    }

    /// The width of `text` at `size` points. A character without a glyph counts as the
    /// width of "M": `glyphs` refuses it later with a proper error.
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| {
                self.glyph(c)
                    .or_else(|| self.glyph('M'))
                    .map_or(0.0, |(_, advance)| advance)
            })
            .sum::<f32>()
            * size
    }

    /// One glyph per character (no shaping: Latin text needs none), each pointing back to
    /// its character so that the PDF's text can be extracted and read aloud.
    fn glyphs(&self, text: &str) -> Result<Vec<KrillaGlyph>, PdfDocError> {
        text.char_indices()
            .map(|(at, c)| {
                let (id, advance) = self.glyph(c).ok_or(PdfDocError::MissingGlyph(c))?;
                Ok(KrillaGlyph::new(
                    id,
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    at..at + c.len_utf8(),
                    None,
                ))
            })
            .collect()
    }
}

struct Faces {
    regular: Face,
    bold: Face,
}

impl Faces {
    fn load() -> Result<Faces, PdfDocError> {
        Ok(Faces {
            regular: Face::load(REGULAR)?,
            bold: Face::load(BOLD)?,
        })
    }

    fn get(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Greedy line breaking: each line takes as many words as fit in `max_width`, words being
/// separated by plain spaces (U+0020) only, so that no-break spaces hold; `\n` forces a
/// break. A word wider than a line is cut between characters. `width` measures a piece of
/// text; widths add up (the layout draws without kerning), so a line's width is the sum of
/// its words and spaces.
fn break_lines(text: &str, max_width: f32, width: &dyn Fn(&str) -> f32) -> Vec<String> {
    let space = width(" ");
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_width = 0.0;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let word_width = width(word);
            if !line.is_empty() {
                if line_width + space + word_width <= max_width {
                    line.push(' ');
                    line.push_str(word);
                    line_width += space + word_width;
                    continue;
                }
                lines.push(std::mem::take(&mut line));
            }
            if word_width <= max_width {
                line.push_str(word);
                line_width = word_width;
            } else {
                // Cut the word; each piece takes at least one character, so this ends.
                line_width = 0.0;
                let mut buf = [0; 4];
                for c in word.chars() {
                    let w = width(c.encode_utf8(&mut buf));
                    if !line.is_empty() && line_width + w > max_width {
                        lines.push(std::mem::take(&mut line));
                        line_width = 0.0;
                    }
                    line.push(c);
                    line_width += w;
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------

/// A4 in points, and 2 cm margins.
const PAGE_WIDTH: f32 = 595.276;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.693;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const BODY_BOTTOM: f32 = PAGE_HEIGHT - MARGIN;
/// Baselines of the running header and footer, 1.2 cm from the top and bottom edges.
const HEADER_BASELINE: f32 = 34.0;
const FOOTER_BASELINE: f32 = PAGE_HEIGHT - 34.0;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Style {
    bold: bool,
    size: f32,
    leading: f32,
}

const TITLE: Style = Style {
    bold: true,
    size: 16.0,
    leading: 20.0,
};
const HEADING: Style = Style {
    bold: true,
    size: 10.5,
    leading: 14.0,
};
const BODY: Style = Style {
    bold: false,
    size: 9.5,
    leading: 12.8,
};
const BODY_BOLD: Style = Style { bold: true, ..BODY };
const SMALL: Style = Style {
    bold: false,
    size: 8.5,
    leading: 11.5,
};
const SMALL_BOLD: Style = Style {
    bold: true,
    ..SMALL
};
const RUNNING: Style = Style {
    bold: false,
    size: 8.0,
    leading: 8.0,
};

/// Where a line belongs in the tag tree: its block, and the part of the block (list item
/// label or body, table cell).
type Slot = (usize, usize);

/// A run of text on one baseline, relative to the top-left of its row. Without a slot, it
/// is an artifact (a table header repeated on a new page).
#[derive(Clone, Debug)]
struct Piece {
    dx: f32,
    baseline: f32,
    style: Style,
    text: String,
    slot: Option<Slot>,
}

/// A decorative line (table borders, signature lines), relative to its row.
#[derive(Clone, Copy, Debug)]
struct Rule {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

fn rule(x1: f32, y1: f32, x2: f32, y2: f32) -> Rule {
    Rule { x1, y1, x2, y2 }
}

/// The unit of pagination: a page break may fall between rows, never inside one.
#[derive(Clone, Debug, Default)]
struct Row {
    height: f32,
    pieces: Vec<Piece>,
    rules: Vec<Rule>,
}

impl Row {
    fn line(style: Style, dx: f32, text: String, slot: Slot) -> Row {
        Row {
            height: style.leading,
            pieces: vec![Piece {
                dx,
                baseline: baseline(style),
                style,
                text,
                slot: Some(slot),
            }],
            rules: Vec::new(),
        }
    }

    /// The same row drawn again as an artifact.
    fn as_artifact(&self) -> Row {
        let mut row = self.clone();
        for p in &mut row.pieces {
            p.slot = None;
        }
        row
    }
}

/// The baseline of a line in its leading: the leading's extra space is shared above and
/// below, the ascent of DejaVu Sans being about 0.93 em and its descent 0.24 em.
fn baseline(style: Style) -> f32 {
    (style.leading - 1.17 * style.size) / 2.0 + 0.93 * style.size
}

/// A block made into rows, with the space around it.
struct Prepared {
    rows: Vec<Row>,
    space_before: f32,
    space_after: f32,
    keep_with_next: bool,
    /// How many rows must fit on a page for the block to start on it.
    first: usize,
    /// A row drawn again at the top of each new page after the row at this index.
    repeat: Option<(usize, Row)>,
}

impl Prepared {
    fn new(rows: Vec<Row>, space_before: f32, space_after: f32, keep_with_next: bool) -> Self {
        Prepared {
            rows,
            space_before,
            space_after,
            keep_with_next,
            first: 2,
            repeat: None,
        }
    }
}

/// Checks what the layout cannot draw sensibly, in French.
fn check(blocks: &[Block]) -> Result<(), PdfDocError> {
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        match block {
            Block::Table {
                header,
                rows,
                widths,
                ..
            } => {
                if header.is_empty() {
                    return Err(PdfDocError::Invalid(format!(
                        "le tableau du bloc {n} n'a pas de ligne d'en-tête."
                    )));
                }
                if !widths.is_empty()
                    && (widths.len() != header.len()
                        || widths.iter().any(|w| !w.is_finite() || *w <= 0.0))
                {
                    return Err(PdfDocError::Invalid(format!(
                        "les largeurs des colonnes du tableau du bloc {n} ne correspondent pas à ses {} colonnes.",
                        header.len()
                    )));
                }
                if let Some(r) = rows.iter().position(|r| r.len() != header.len()) {
                    return Err(PdfDocError::Invalid(format!(
                        "la ligne {} du tableau du bloc {n} n'a pas {} cellules.",
                        r + 1,
                        header.len()
                    )));
                }
            }
            Block::Signatures { columns, .. } if columns.is_empty() => {
                return Err(PdfDocError::Invalid(format!(
                    "le bloc de signatures {n} n'a aucun signataire."
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn prepare(faces: &Faces, index: usize, block: &Block) -> Prepared {
    let simple = |style: Style, text: &str| -> Vec<Row> {
        lines(faces, style, CONTENT_WIDTH, text)
            .into_iter()
            .map(|l| Row::line(style, 0.0, l, (index, 0)))
            .collect()
    };
    match block {
        Block::Title(text) => Prepared::new(simple(TITLE, text), 0.0, 4.0, true),
        Block::Small(text) => Prepared::new(simple(SMALL, text), 0.0, 12.0, false),
        Block::Heading(text) => Prepared::new(simple(HEADING, text), 8.0, 2.0, true),
        Block::Para {
            text,
            keep_with_next,
        } => Prepared::new(simple(BODY, text), 0.0, 4.5, *keep_with_next),
        Block::List(items) => {
            const INDENT: f32 = 14.0;
            let mut rows = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let body = lines(faces, BODY, CONTENT_WIDTH - INDENT, item);
                for (j, line) in body.into_iter().enumerate() {
                    let mut row = Row::line(BODY, INDENT, line, (index, 2 * i + 1));
                    if j == 0 {
                        row.pieces.insert(
                            0,
                            Piece {
                                dx: 3.0,
                                baseline: baseline(BODY),
                                style: BODY,
                                text: "•".to_owned(),
                                slot: Some((index, 2 * i)),
                            },
                        );
                    }
                    rows.push(row);
                }
            }
            Prepared::new(rows, 0.0, 4.5, false)
        }
        Block::Table {
            caption,
            header,
            rows,
            widths,
        } => table(faces, index, caption.as_deref(), header, rows, widths),
        Block::KeyValues(pairs) => key_values(faces, index, pairs),
        Block::Signatures { columns, .. } => Prepared::new(
            vec![signature_table(faces, index, columns)],
            4.0,
            0.0,
            false,
        ),
    }
}

fn lines(faces: &Faces, style: Style, width: f32, text: &str) -> Vec<String> {
    let face = faces.get(style.bold);
    break_lines(text, width, &|t| face.width(t, style.size))
}

/// A table row: each cell's text wrapped in its column, borders all round.
fn table_row(
    faces: &Faces,
    style: Style,
    columns: &[(f32, f32)],
    cells: &[String],
    slot: impl Fn(usize) -> Slot,
) -> Row {
    const PAD_X: f32 = 4.0;
    const PAD_Y: f32 = 3.0;
    let mut row = Row::default();
    let mut count: usize = 1;
    for (c, (&(x, width), text)) in columns.iter().zip(cells).enumerate() {
        let cell = lines(faces, style, width - 2.0 * PAD_X, text);
        count = count.max(cell.len());
        for (j, line) in cell.into_iter().enumerate() {
            row.pieces.push(Piece {
                dx: x + PAD_X,
                baseline: PAD_Y + j as f32 * style.leading + baseline(style),
                style,
                text: line,
                slot: Some(slot(c)),
            });
        }
    }
    let h = 2.0 * PAD_Y + count as f32 * style.leading;
    row.height = h;
    row.rules.push(rule(0.0, 0.0, CONTENT_WIDTH, 0.0));
    row.rules.push(rule(0.0, h, CONTENT_WIDTH, h));
    row.rules.push(rule(0.0, 0.0, 0.0, h));
    for &(x, width) in columns {
        row.rules.push(rule(x + width, 0.0, x + width, h));
    }
    row
}

/// Slots of a table: 0 for the caption, then the cells row after row, header first.
fn table(
    faces: &Faces,
    index: usize,
    caption: Option<&str>,
    header: &[String],
    rows: &[Vec<String>],
    widths: &[f32],
) -> Prepared {
    let n = header.len();
    let shares: Vec<f32> = if widths.len() == n {
        widths.to_vec()
    } else {
        vec![1.0; n]
    };
    let total: f32 = shares.iter().sum();
    let mut columns = Vec::with_capacity(n);
    let mut x = 0.0;
    for share in shares {
        let width = CONTENT_WIDTH * share / total;
        columns.push((x, width));
        x += width;
    }
    let mut out = Vec::new();
    if let Some(caption) = caption {
        for line in lines(faces, BODY_BOLD, CONTENT_WIDTH, caption) {
            out.push(Row::line(BODY_BOLD, 0.0, line, (index, 0)));
        }
        if let Some(last) = out.last_mut() {
            last.height += 3.0;
        }
    }
    let header_at = out.len();
    let head = table_row(faces, SMALL_BOLD, &columns, header, |c| (index, 1 + c));
    let repeat = head.as_artifact();
    out.push(head);
    for (r, cells) in rows.iter().enumerate() {
        out.push(table_row(faces, SMALL, &columns, cells, |c| {
            (index, 1 + (r + 1) * n + c)
        }));
    }
    Prepared {
        rows: out,
        space_before: 4.0,
        space_after: 8.0,
        keep_with_next: false,
        // The caption, the header and the first row together.
        first: header_at + 2,
        repeat: Some((header_at, repeat)),
    }
}

/// Slots: 2 i for the label of pair i, 2 i + 1 for its value.
fn key_values(faces: &Faces, index: usize, pairs: &[(String, String)]) -> Prepared {
    const GAP: f32 = 10.0;
    let bold = faces.get(true);
    let widest = pairs
        .iter()
        .map(|(k, _)| bold.width(k, BODY.size))
        .fold(0.0, f32::max);
    let key_width = widest.min(0.4 * CONTENT_WIDTH);
    let value_x = key_width + GAP;
    let rows = pairs
        .iter()
        .enumerate()
        .map(|(i, (key, value))| {
            let mut row = Row::default();
            let keys = lines(faces, BODY_BOLD, key_width, key);
            let values = lines(faces, BODY, CONTENT_WIDTH - value_x, value);
            row.height = keys.len().max(values.len()).max(1) as f32 * BODY.leading + 2.0;
            for (dx, style, texts, slot) in [
                (0.0, BODY_BOLD, keys, 2 * i),
                (value_x, BODY, values, 2 * i + 1),
            ] {
                for (j, text) in texts.into_iter().enumerate() {
                    row.pieces.push(Piece {
                        dx,
                        baseline: j as f32 * BODY.leading + baseline(BODY),
                        style,
                        text,
                        slot: Some((index, slot)),
                    });
                }
            }
            row
        })
        .collect();
    Prepared::new(rows, 2.0, 6.0, false)
}

/// One column per signatory (header, name), each with the fields to fill in by hand. One
/// row: it is never split across pages. Slots: c for the header of column c, n + c for its
/// body.
fn signature_table(faces: &Faces, index: usize, columns: &[(String, String)]) -> Row {
    const PAD: f32 = 6.0;
    const HEADER: f32 = 20.0;
    const FIELD: f32 = 20.0;
    const SIGNATURE_SPACE: f32 = 52.0;
    let n = columns.len();
    let column = CONTENT_WIDTH / n.max(1) as f32;
    let inner = column - 2.0 * PAD;
    let mut row = Row::default();
    let mut body_height: f32 = 0.0;
    for (c, (header, name)) in columns.iter().enumerate() {
        let x = c as f32 * column + PAD;
        row.pieces.push(Piece {
            dx: x,
            baseline: (HEADER - BODY.size) / 2.0 + 0.8 * BODY.size,
            style: BODY_BOLD,
            text: header.clone(),
            slot: Some((index, c)),
        });
        let body_slot = Some((index, n + c));
        let mut y = HEADER + PAD;
        for line in lines(faces, BODY_BOLD, inner, name) {
            row.pieces.push(Piece {
                dx: x,
                baseline: y + baseline(BODY),
                style: BODY_BOLD,
                text: line,
                slot: body_slot,
            });
            y += BODY.leading;
        }
        for label in ["Nom :", "Qualité :", "Date :", "Signature :"] {
            y += FIELD - BODY.leading;
            let text = typo(label);
            let base = y + baseline(BODY);
            let label_width = faces.get(false).width(&text, BODY.size);
            if label != "Signature :" {
                row.rules.push(rule(
                    x + label_width + 4.0,
                    base + 2.0,
                    x + inner,
                    base + 2.0,
                ));
            }
            row.pieces.push(Piece {
                dx: x,
                baseline: base,
                style: BODY,
                text,
                slot: body_slot,
            });
            y += BODY.leading;
        }
        body_height = body_height.max(y + SIGNATURE_SPACE);
    }
    row.height = body_height;
    // Borders: the frame, the line under the headers, the lines between the columns.
    let (w, h) = (CONTENT_WIDTH, body_height);
    row.rules.extend([
        rule(0.0, 0.0, w, 0.0),
        rule(0.0, h, w, h),
        rule(0.0, 0.0, 0.0, h),
        rule(w, 0.0, w, h),
        rule(0.0, HEADER, w, HEADER),
    ]);
    for c in 1..n {
        let x = c as f32 * column;
        row.rules.push(rule(x, 0.0, x, h));
    }
    row
}

/// A line placed on a page, in page coordinates (origin top-left, y down).
#[derive(Clone, Debug)]
struct Placed {
    x: f32,
    baseline: f32,
    style: Style,
    text: String,
    slot: Option<Slot>,
}

#[derive(Debug, Default)]
struct PageContent {
    lines: Vec<Placed>,
    rules: Vec<Rule>,
}

impl PageContent {
    fn place(&mut self, row: &Row, y: f32) {
        for p in &row.pieces {
            self.lines.push(Placed {
                x: MARGIN + p.dx,
                baseline: y + p.baseline,
                style: p.style,
                text: p.text.clone(),
                slot: p.slot,
            });
        }
        for r in &row.rules {
            self.rules.push(Rule {
                x1: MARGIN + r.x1,
                y1: y + r.y1,
                x2: MARGIN + r.x2,
                y2: y + r.y2,
            });
        }
    }
}

struct Laid {
    pages: Vec<PageContent>,
    /// For the outline: block index, page index and top of its first line.
    anchors: Vec<(usize, usize, f32)>,
}

fn layout(faces: &Faces, blocks: &[Block]) -> Laid {
    let prepared: Vec<Prepared> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| prepare(faces, i, b))
        .collect();
    let mut pages = vec![PageContent::default()];
    let mut y = MARGIN;
    let mut anchors = Vec::new();
    for (i, block) in prepared.iter().enumerate() {
        let at_top = |y: f32| y <= MARGIN;
        if !at_top(y) {
            y += block.space_before;
        }
        // What must fit before starting the block: its first rows (no orphan line), or
        // the whole block and the start of the next one when it is kept with it.
        let mut needed: f32 = block.rows.iter().take(block.first).map(|r| r.height).sum();
        if block.keep_with_next {
            needed = block.rows.iter().map(|r| r.height).sum::<f32>() + block.space_after;
            if let Some(next) = prepared.get(i + 1) {
                needed += next.space_before
                    + next
                        .rows
                        .iter()
                        .take(next.first)
                        .map(|r| r.height)
                        .sum::<f32>();
            }
        }
        if y + needed > BODY_BOTTOM && !at_top(y) {
            pages.push(PageContent::default());
            y = MARGIN;
        }
        if matches!(blocks.get(i), Some(Block::Title(_) | Block::Heading(_))) {
            anchors.push((i, pages.len() - 1, y));
        }
        let n = block.rows.len();
        for (k, row) in block.rows.iter().enumerate() {
            // No widow: when only the last line of a long block would go over, the last
            // two go together.
            let widow = n >= 4
                && k == n - 2
                && block.rows.get(n - 1).is_some_and(|last| {
                    y + row.height <= BODY_BOTTOM && y + row.height + last.height > BODY_BOTTOM
                });
            if (widow || y + row.height > BODY_BOTTOM) && !at_top(y) {
                let mut page = PageContent::default();
                y = MARGIN;
                if let Some((_, header)) = block.repeat.as_ref().filter(|(at, _)| k > *at) {
                    page.place(header, y);
                    y += header.height;
                }
                pages.push(page);
            }
            let Some(page) = pages.last_mut() else {
                break;
            };
            page.place(row, y);
            y += row.height;
        }
        y += block.space_after;
    }
    Laid { pages, anchors }
}

// ---------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------

/// Renders the blocks as a tagged PDF (PDF/UA-1, PDF/A-2a) on A4 pages, numbered "Page n
/// sur N". The same input gives the same bytes: nothing depends on the clock or on chance.
pub fn render(doc: &Document, blocks: &[Block]) -> Result<Vec<u8>, PdfDocError> {
    if doc.title.trim().is_empty() {
        return Err(PdfDocError::Invalid(
            "le titre du document est vide.".to_owned(),
        ));
    }
    check(blocks)?;
    let faces = Faces::load()?;
    let laid = layout(&faces, blocks);
    write_pdf(doc, &faces, blocks, &laid)
}

fn write_pdf(
    doc: &Document,
    faces: &Faces,
    blocks: &[Block],
    laid: &Laid,
) -> Result<Vec<u8>, PdfDocError> {
    let configuration = ConfigurationBuilder::new()
        .with_accessibility_validator(Accessibility::UA1)
        .with_archival_validator(Archival::A2_A)
        .finish()
        .map_err(|e| PdfDocError::Pdf(format!("configuration refusée ({e:?})")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: true,
        ..SerializeSettings::default()
    };
    let mut document = krilla::Document::new_with(settings);
    let page_settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or(PdfDocError::Pdf("format de page invalide".to_owned()))?;
    let page_count = laid.pages.len();
    let mut marks: BTreeMap<Slot, Vec<Identifier>> = BTreeMap::new();

    for (index, content) in laid.pages.iter().enumerate() {
        let mut page = document.start_page_with(page_settings.clone());
        let mut surface = page.surface();

        if !content.rules.is_empty() {
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
                ArtifactType::Layout,
            )));
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke {
                paint: luma::Color::new(90).into(),
                width: 0.6,
                ..Stroke::default()
            }));
            for r in &content.rules {
                let mut path = PathBuilder::new();
                path.move_to(r.x1, r.y1);
                path.line_to(r.x2, r.y2);
                if let Some(path) = path.finish() {
                    surface.draw_path(&path);
                }
            }
            surface.set_stroke(None);
            surface.end_tagged();
        }

        surface.set_fill(Some(Fill::default()));
        for line in &content.lines {
            let tag = match line.slot {
                Some(_) => ContentTag::Span(SpanTag::empty()),
                None => ContentTag::Artifact(Artifact::with_kind(ArtifactType::PaginationOther)),
            };
            let id = surface.start_tagged(tag);
            let drawn = draw(
                &mut surface,
                faces,
                line.style,
                line.x,
                line.baseline,
                &line.text,
            );
            surface.end_tagged();
            drawn?;
            if let Some(slot) = line.slot {
                marks.entry(slot).or_default().push(id);
            }
        }

        // The running header and footer: artifacts, left out of the structure (a screen
        // reader does not read them on every page).
        surface.set_fill(Some(Fill {
            paint: luma::Color::new(70).into(),
            ..Fill::default()
        }));
        if let Some(header) = &doc.header {
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
                ArtifactType::Header,
            )));
            let drawn = draw(
                &mut surface,
                faces,
                RUNNING,
                MARGIN,
                HEADER_BASELINE,
                header,
            );
            surface.end_tagged();
            drawn?;
        }
        surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
            ArtifactType::Footer,
        )));
        let number = format!("Page {} sur {page_count}", index + 1);
        let number_x = PAGE_WIDTH - MARGIN - faces.regular.width(&number, RUNNING.size);
        let drawn = match &doc.footer {
            Some(footer) => draw(
                &mut surface,
                faces,
                RUNNING,
                MARGIN,
                FOOTER_BASELINE,
                footer,
            ),
            None => Ok(()),
        }
        .and_then(|()| {
            draw(
                &mut surface,
                faces,
                RUNNING,
                number_x,
                FOOTER_BASELINE,
                &number,
            )
        });
        surface.end_tagged();
        drawn?;
        surface.finish();
        page.finish();
    }

    document.set_tag_tree(tag_tree(doc, blocks, &mut marks));
    document.set_outline(outline(blocks, laid));
    let date = doc.date;
    let mut metadata = Metadata::new()
        .title(doc.title.clone())
        .language(doc.lang.clone())
        .authors(vec![doc.author.clone()])
        .creator("Bouquet".to_owned())
        .creation_date(
            DateTime::new(u16::try_from(date.year()).unwrap_or(0))
                .month(u8::try_from(date.month()).unwrap_or(1))
                .day(u8::try_from(date.day()).unwrap_or(1)),
        );
    if let Some(subject) = &doc.subject {
        metadata = metadata.description(subject.clone());
    }
    if let Some(id) = &doc.id {
        metadata = metadata.document_id(id.clone());
    }
    document.set_metadata(metadata);
    document.finish().map_err(|e| {
        PdfDocError::Pdf(match e {
            krilla::error::KrillaError::Validation(errors) => format!(
                "non conforme à PDF/UA-1 ou PDF/A-2a ({} erreurs : {:?})",
                errors.len(),
                errors.iter().map(|(e, _)| e).collect::<Vec<_>>()
            ),
            other => other.to_string(),
        })
    })
}

fn draw(
    surface: &mut Surface<'_>,
    faces: &Faces,
    style: Style,
    x: f32,
    baseline: f32,
    text: &str,
) -> Result<(), PdfDocError> {
    let face = faces.get(style.bold);
    let glyphs = face.glyphs(text)?;
    surface.draw_glyphs(
        Point::from_xy(x, baseline),
        &glyphs,
        face.font.clone(),
        text,
        style.size,
        false,
    );
    Ok(())
}

fn heading(level: u16, text: &str) -> TagGroup {
    let level = NonZeroU16::new(level).unwrap_or(NonZeroU16::MIN);
    TagGroup::new(Tag::Hn(level, Some(text.to_owned())))
}

/// A group holding the marked lines of one slot.
fn group(tag: impl Into<krilla::tagging::TagKind>, marks: &mut Marks, slot: Slot) -> TagGroup {
    let mut group = TagGroup::new(tag);
    leaves(&mut group, marks, slot);
    group
}

type Marks = BTreeMap<Slot, Vec<Identifier>>;

fn leaves(group: &mut TagGroup, marks: &mut Marks, slot: Slot) {
    for id in marks.remove(&slot).unwrap_or_default() {
        group.push(Node::Leaf(id));
    }
}

/// A row of cells, each a group of one slot.
fn table_row_tag(cells: impl IntoIterator<Item = TagGroup>) -> TagGroup {
    TagGroup::with_children(Tag::TR, cells.into_iter().map(Node::from).collect())
}

/// The logical structure: Document > H1, P, H2, L > LI > Lbl + LBody, Table > Caption,
/// THead/TBody > TR > TH/TD. Each marked line is attached exactly once.
fn tag_tree(doc: &Document, blocks: &[Block], marks: &mut Marks) -> TagTree {
    let mut tree = TagTree::new().with_lang(Some(doc.lang.clone()));
    for (i, block) in blocks.iter().enumerate() {
        let group = match block {
            Block::Title(text) => {
                let mut g = heading(1, text);
                leaves(&mut g, marks, (i, 0));
                g
            }
            Block::Heading(text) => {
                let mut g = heading(2, text);
                leaves(&mut g, marks, (i, 0));
                g
            }
            Block::Para { .. } | Block::Small(_) => group(Tag::P, marks, (i, 0)),
            Block::List(items) => {
                let mut list = TagGroup::new(Tag::L(ListNumbering::Disc));
                for j in 0..items.len() {
                    let label = group(Tag::Lbl, marks, (i, 2 * j));
                    let body = group(Tag::LBody, marks, (i, 2 * j + 1));
                    list.push(TagGroup::with_children(
                        Tag::LI,
                        vec![label.into(), body.into()],
                    ));
                }
                list
            }
            Block::Table {
                caption,
                header,
                rows,
                ..
            } => {
                let n = header.len();
                let head = table_row_tag(
                    (0..n).map(|c| group(Tag::TH(TableHeaderScope::Column), marks, (i, 1 + c))),
                );
                let body: Vec<Node> = (1..=rows.len())
                    .map(|r| {
                        table_row_tag((0..n).map(|c| group(Tag::TD, marks, (i, 1 + r * n + c))))
                            .into()
                    })
                    .collect();
                let mut children: Vec<Node> = Vec::new();
                if caption.is_some() {
                    children.push(group(Tag::Caption, marks, (i, 0)).into());
                }
                children.push(TagGroup::with_children(Tag::THead, vec![head.into()]).into());
                children.push(TagGroup::with_children(Tag::TBody, body).into());
                TagGroup::with_children(Tag::Table, children)
            }
            Block::KeyValues(pairs) => {
                let body: Vec<Node> = (0..pairs.len())
                    .map(|j| {
                        table_row_tag([
                            group(Tag::TH(TableHeaderScope::Row), marks, (i, 2 * j)),
                            group(Tag::TD, marks, (i, 2 * j + 1)),
                        ])
                        .into()
                    })
                    .collect();
                TagGroup::with_children(
                    Tag::Table,
                    vec![TagGroup::with_children(Tag::TBody, body).into()],
                )
            }
            Block::Signatures { columns, summary } => {
                let n = columns.len();
                let head_row = table_row_tag(
                    (0..n).map(|c| group(Tag::TH(TableHeaderScope::Column), marks, (i, c))),
                );
                let body_row = table_row_tag((0..n).map(|c| group(Tag::TD, marks, (i, n + c))));
                TagGroup::with_children(
                    Tag::Table.with_summary(summary.clone()),
                    vec![
                        TagGroup::with_children(Tag::THead, vec![head_row.into()]).into(),
                        TagGroup::with_children(Tag::TBody, vec![body_row.into()]).into(),
                    ],
                )
            }
        };
        tree.push(group);
    }
    tree
}

/// Bookmarks: the title, and under it one entry per heading.
fn outline(blocks: &[Block], laid: &Laid) -> Outline {
    let mut outline = Outline::new();
    let mut root: Option<OutlineNode> = None;
    for &(i, page, y) in &laid.anchors {
        let destination = XyzDestination::new(page, Point::from_xy(MARGIN, y));
        match blocks.get(i) {
            Some(Block::Title(text)) => {
                root = Some(OutlineNode::new(text.clone(), destination).with_open(true));
            }
            Some(Block::Heading(text)) => {
                let node = OutlineNode::new(text.clone(), destination);
                match root.as_mut() {
                    Some(r) => r.push_child(node),
                    None => outline.push_child(node),
                }
            }
            _ => {}
        }
    }
    if let Some(root) = root {
        outline.push_child(root);
    }
    outline
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use jiff::civil::date;

    use super::testing::{TempPdf, field, flat, run, stdout, structure_tags};
    use super::*;

    const PEOPLE: [&str; 4] = [
        "Élodie Lefèvre",
        "Anne Martin",
        "François Œuvray",
        "Gaëlle Kerbraç",
    ];
    const HEADER: [&str; 6] = [
        "N°",
        "Date",
        "Personne",
        "Action",
        "Certificat",
        "Empreinte",
    ];

    fn history(rows: usize) -> Block {
        Block::Table {
            caption: Some(typo("Historique des visas et signatures")),
            header: HEADER.iter().map(|h| (*h).to_owned()).collect(),
            rows: (1..=rows)
                .map(|r| {
                    vec![
                        r.to_string(),
                        format!("{:02}/03/2026", 1 + r % 28),
                        PEOPLE[r % 4].to_owned(),
                        if r % 2 == 0 { "Signature" } else { "Visa" }.to_owned(),
                        typo(&format!(
                            "CN={}, O=Commune d'Arbrissel, numéro de série {r:04X}",
                            PEOPLE[r % 4]
                        )),
                        format!("{:064x}", r * 7919),
                    ]
                })
                .collect(),
            widths: vec![0.5, 1.2, 1.6, 1.0, 2.2, 2.0],
        }
    }

    /// A bordereau de signature with every kind of block, its table over several pages.
    fn sample(rows: usize) -> (Document, Vec<Block>) {
        let mut doc = Document::new(
            "Bordereau de signature",
            "Syndicat mixte Bouquet (démo)",
            date(2026, 3, 30),
        );
        doc.subject = Some("Bordereau de signature – délibération 2026-042".to_owned());
        doc.id = Some("PAR-2026-0042".to_owned());
        doc.header = Some("Parapheur – Commune d'Arbrissel".to_owned());
        doc.footer = Some(typo("Référence PAR-2026-0042"));
        let blocks = vec![
            Block::Title("Bordereau de signature".to_owned()),
            Block::Small(typo("Référence : PAR-2026-0042")),
            Block::Heading("Document".to_owned()),
            Block::KeyValues(vec![
                (
                    "Objet".to_owned(),
                    typo("Délibération n° 2026-042 : tarifs de la cantine scolaire"),
                ),
                ("Déposé par".to_owned(), "Élodie Lefèvre".to_owned()),
                ("Empreinte SHA-256".to_owned(), format!("{:064x}", 42)),
            ]),
            Block::Heading("Circuit".to_owned()),
            Block::Para {
                text: typo("Le circuit comprend les étapes suivantes :"),
                keep_with_next: true,
            },
            Block::List(vec![
                "visa du secrétariat général ;".to_owned(),
                "signature du maire.".to_owned(),
            ]),
            Block::Heading("Historique".to_owned()),
            history(rows),
            Block::Para {
                text: typo(&format!("Fait le {}.", date_fr(date(2026, 3, 30)))),
                keep_with_next: true,
            },
            Block::Signatures {
                columns: vec![
                    ("Pour la commune".to_owned(), "Arbrissel".to_owned()),
                    ("Pour l'opérateur".to_owned(), "Bouquet".to_owned()),
                    ("Pour le comptable".to_owned(), "SGC de Janzé".to_owned()),
                ],
                summary: Some("Signatures".to_owned()),
            },
        ];
        (doc, blocks)
    }

    #[test]
    fn every_block_renders_a_valid_tagged_pdf() {
        let (doc, blocks) = sample(60);
        let pdf = render(&doc, &blocks).unwrap();
        let file = TempPdf::write("sample", &pdf);
        let path = file.path();

        let check = run("qpdf", &["--check", path]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "qpdf --check: {}{}",
            stdout(&check),
            String::from_utf8_lossy(&check.stderr)
        );

        let info = stdout(&run("pdfinfo", &[path]));
        assert_eq!(field(&info, "Tagged"), "yes");
        assert_eq!(field(&info, "Title"), "Bordereau de signature");
        assert_eq!(field(&info, "Page size"), "595.276 x 841.89 pts (A4)");
        let pages: usize = field(&info, "Pages").parse().unwrap();
        assert!((3..=8).contains(&pages), "{pages} pages");

        let tags = structure_tags(path);
        for tag in [
            "Document", "H1", "H2", "P", "L", "LI", "Lbl", "LBody", "Table", "Caption", "THead",
            "TBody", "TR", "TH", "TD",
        ] {
            assert!(tags.iter().any(|t| t == tag), "no {tag} in {tags:?}");
        }
        let count = |tag: &str| tags.iter().filter(|t| *t == tag).count();
        assert_eq!(count("H1"), 1);
        assert_eq!(count("H2"), 3);
        // Headers tagged once, not once per page: 6 columns, 3 labels, 3 signatories.
        assert_eq!(count("TH"), 6 + 3 + 3);
        assert_eq!(count("TD"), 60 * 6 + 3 + 3);
        assert_eq!(count("TR"), 1 + 60 + 3 + 2);

        let all = flat(&stdout(&run("pdftotext", &["-enc", "UTF-8", path, "-"])));
        for expected in [
            "Bordereau de signature",
            "Délibération n° 2026-042 : tarifs de la cantine scolaire",
            "Déposé par",
            "Historique des visas et signatures",
            "visa du secrétariat général ;",
            "Fait le 30 mars 2026.",
            "Pour le comptable",
            "SGC de Janzé",
            "Qualité :",
            "Parapheur – Commune d'Arbrissel",
        ] {
            assert!(all.contains(expected), "« {expected} » missing in:\n{all}");
        }
        for n in 1..=pages {
            assert!(all.contains(&format!("Page {n} sur {pages}")));
        }
        assert_eq!(all.matches("Référence PAR-2026-0042").count(), pages);

        // Page by page, as laid out: the header row again on page 2, with its cells.
        let page = |n: usize| {
            let n = n.to_string();
            let args = ["-layout", "-enc", "UTF-8", "-f", &n, "-l", &n, path, "-"];
            stdout(&run("pdftotext", &args))
        };
        let first = page(1);
        let second = page(2);
        for text in [&first, &second] {
            let header = text
                .lines()
                .find(|l| l.contains("Personne"))
                .unwrap_or_else(|| panic!("no header row in:\n{text}"));
            for h in HEADER {
                assert!(header.contains(h), "{h} not in {header:?}");
            }
        }
        for person in PEOPLE {
            assert!(second.contains(person), "{person} missing in:\n{second}");
        }
        assert!(second.contains("Signature") && second.contains("Visa"));
        assert!(second.contains("/03/2026"));
        // Every row somewhere, in order: its number at the start of a line.
        let numbers: Vec<usize> = (1..=pages)
            .flat_map(|n| {
                page(n)
                    .lines()
                    .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
                    .filter(|n| (1..=60).contains(n))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]) && numbers.len() >= 60,
            "{numbers:?}"
        );
        let last = page(pages);
        assert!(last.contains("Pour le comptable"));
    }

    #[test]
    fn a_table_header_is_repeated_as_an_artifact() {
        let faces = Faces::load().unwrap();
        let (_, blocks) = sample(60);
        let laid = layout(&faces, &blocks);
        assert!(laid.pages.len() >= 3);
        let header: Vec<&str> = HEADER.to_vec();
        for page in laid.pages.iter().skip(1).take(laid.pages.len() - 2) {
            let top: Vec<&str> = page
                .lines
                .iter()
                .take_while(|l| l.slot.is_none())
                .map(|l| l.text.as_str())
                .collect();
            assert_eq!(top, header);
        }
        // On the first page, the header is tagged.
        assert!(
            laid.pages[0]
                .lines
                .iter()
                .filter(|l| l.text == "Personne")
                .all(|l| l.slot.is_some())
        );
        // A page break falls between rows: each row's cells lie on one page.
        let mut seen = BTreeMap::new();
        for (p, page) in laid.pages.iter().enumerate() {
            for line in &page.lines {
                if let Some((8, part @ 1..)) = line.slot {
                    let row = (part - 1) / HEADER.len();
                    assert_eq!(*seen.entry(row).or_insert(p), p, "row {row}");
                }
            }
        }
        assert_eq!(seen.len(), 61);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let (doc, blocks) = sample(40);
        let first = render(&doc, &blocks).unwrap();
        assert_eq!(first, render(&doc, &blocks).unwrap());
        let mut other = blocks.clone();
        if let Some(Block::Table { rows, .. }) = other.get_mut(8) {
            rows[39][2] = "Anne Martin".to_owned();
        }
        assert_ne!(first, render(&doc, &other).unwrap());
        let doc2 = Document {
            date: date(2026, 3, 31),
            ..doc
        };
        assert_ne!(first, render(&doc2, &blocks).unwrap());
    }

    #[test]
    fn a_short_document_without_extras() {
        let doc = Document::new("Avis", "Bouquet", date(2026, 1, 1));
        assert_eq!(doc.lang, "fr-FR");
        // Empty blocks are allowed: nothing drawn, nothing tagged but their container.
        let blocks = [
            Block::Para {
                text: "Un paragraphe.".to_owned(),
                keep_with_next: false,
            },
            Block::List(vec![]),
            Block::KeyValues(vec![]),
            Block::Table {
                caption: None,
                header: vec!["Colonne".to_owned()],
                rows: vec![],
                widths: vec![],
            },
        ];
        let pdf = render(&doc, &blocks).unwrap();
        let file = TempPdf::write("short", &pdf);
        let info = stdout(&run("pdfinfo", &[file.path()]));
        assert_eq!(field(&info, "Pages"), "1");
        assert_eq!(field(&info, "Tagged"), "yes");
        let text = stdout(&run("pdftotext", &["-enc", "UTF-8", file.path(), "-"]));
        assert!(text.contains("Un paragraphe.") && text.contains("Page 1 sur 1"));
    }

    fn refused(doc: &Document, blocks: &[Block]) -> PdfDocError {
        match render(doc, blocks) {
            Ok(_) => panic!("rendered: {blocks:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_input_is_refused_in_french() {
        let doc = Document::new("Avis", "Bouquet", date(2026, 1, 1));
        let table = |header: &[&str], rows: Vec<Vec<&str>>, widths: Vec<f32>| Block::Table {
            caption: None,
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: rows
                .into_iter()
                .map(|r| r.into_iter().map(str::to_owned).collect())
                .collect(),
            widths,
        };
        let err = refused(
            &doc,
            &[table(&["a", "b"], vec![vec!["1", "2"], vec!["3"]], vec![])],
        );
        assert!(
            err.to_string().contains("la ligne 2 du tableau du bloc 1"),
            "{err}"
        );
        let err = refused(&doc, &[table(&["a", "b"], vec![], vec![1.0])]);
        assert!(err.to_string().contains("largeurs des colonnes"), "{err}");
        let err = refused(&doc, &[table(&["a"], vec![], vec![0.0])]);
        assert!(err.to_string().contains("largeurs des colonnes"), "{err}");
        let err = refused(&doc, &[table(&[], vec![], vec![])]);
        assert!(err.to_string().contains("ligne d'en-tête"), "{err}");
        let err = refused(
            &doc,
            &[Block::Signatures {
                columns: vec![],
                summary: None,
            }],
        );
        assert!(err.to_string().contains("aucun signataire"), "{err}");
        let untitled = Document::new(" ", "Bouquet", date(2026, 1, 1));
        let err = refused(&untitled, &[]);
        assert!(err.to_string().contains("titre"), "{err}");

        // DejaVu Sans has no Chinese: refused with the character named, not a blank box.
        let (doc, mut blocks) = sample(3);
        if let Some(Block::Table { rows, .. }) = blocks.get_mut(8) {
            rows[1][2] = "Anne \u{4E2D}".to_owned();
        }
        let err = refused(&doc, &blocks);
        assert!(
            matches!(err, PdfDocError::MissingGlyph('\u{4E2D}')),
            "{err}"
        );
        assert!(err.to_string().contains("U+4E2D"), "{err}");
    }

    /// One unit per character: easy widths to reason about.
    fn unit(s: &str) -> f32 {
        s.chars().count() as f32
    }

    #[test]
    fn lines_break_between_words() {
        let lines = break_lines("le membre adhère au bouquet", 10.0, &unit);
        assert_eq!(lines, ["le membre", "adhère au", "bouquet"]);
        assert!(lines.iter().all(|l| unit(l) <= 10.0));
        // Several spaces count as one; a forced break is kept; nothing empty.
        assert_eq!(break_lines("  a   b \n c ", 10.0, &unit), ["a b", "c"]);
        assert!(break_lines("", 10.0, &unit).is_empty());
    }

    #[test]
    fn a_word_longer_than_a_line_is_cut() {
        let lines = break_lines("la anticonstitutionnellement fin", 10.0, &unit);
        assert_eq!(lines, ["la", "anticonsti", "tutionnell", "ement fin"]);
        // Even narrower than one character: one character per line, never an endless loop.
        assert_eq!(break_lines("abc", 0.5, &unit), ["a", "b", "c"]);
    }

    #[test]
    fn no_break_spaces_hold() {
        let text = typo("Article 1 : objet « Mairie connectée » à 80 % ; oui ?");
        assert_eq!(
            text,
            "Article 1\u{a0}: objet «\u{a0}Mairie connectée\u{a0}» à 80\u{202f}% ; oui\u{202f}?"
                .replace(" ;", "\u{202f};")
        );
        // From the width of the longest unbreakable word ("connectée »") up.
        for width in 11..=40 {
            for line in break_lines(&text, width as f32, &unit) {
                // No line starts with the punctuation that a no-break space holds back.
                assert!(
                    !line.starts_with([':', ';', '?', '%', '»']),
                    "{width}: {line:?}"
                );
                assert!(!line.ends_with('«'), "{width}: {line:?}");
            }
        }
        // "1er janvier 2026" is never split.
        let date = date_fr(date(2026, 1, 1));
        assert_eq!(date, "1er\u{a0}janvier\u{a0}2026");
        assert_eq!(
            break_lines(&format!("du {date} au"), 17.0, &unit),
            ["du", "1er\u{a0}janvier\u{a0}2026", "au"]
        );
    }

    #[test]
    fn accents_are_measured_with_the_font() {
        let faces = Faces::load().unwrap();
        let face = &faces.regular;
        // Accented letters have their own glyphs and widths, as wide as their base letter.
        for (plain, accented) in [("e", "é"), ("E", "É"), ("a", "à"), ("c", "ç"), ("o", "ô")] {
            let (p, a) = (face.width(plain, 10.0), face.width(accented, 10.0));
            assert!(
                a > 0.0 && (p - a).abs() < 0.01,
                "{plain} {p} / {accented} {a}"
            );
        }
        assert!(face.width("œ", 10.0) > face.width("o", 10.0));
        assert!(faces.bold.width("Arbrissel", 10.0) > face.width("Arbrissel", 10.0));
        // Widths add up: the breaker's assumption.
        let (a, b) = ("Collectivités", "d'Ille-et-Vilaine");
        let joined = face.width(&format!("{a} {b}"), 10.0);
        let sum = face.width(a, 10.0) + face.width(" ", 10.0) + face.width(b, 10.0);
        assert!((joined - sum).abs() < 0.001);
        // Every line fits the width it was broken for.
        let text = typo(
            "Les données à caractère personnel sont hébergées dans l'Union européenne ; l'opérateur agit en qualité de sous-traitant.",
        );
        let lines = break_lines(&text, 150.0, &|t| face.width(t, 10.0));
        assert!(lines.len() > 2);
        assert_eq!(lines.join(" "), text);
        for line in &lines {
            assert!(face.width(line, 10.0) <= 150.0, "{line}");
        }
        // Every glyph found, each pointing back to its bytes.
        let glyphs = face.glyphs("Fées").unwrap();
        assert_eq!(glyphs.len(), 4);
        assert_eq!(glyphs[1].text_range, 1..3);
        assert_eq!(glyphs[2].text_range, 3..4);
    }

    #[test]
    fn french_formats() {
        assert_eq!(date_fr(date(2026, 11, 23)), "23\u{a0}novembre\u{a0}2026");
        assert_eq!(date_fr(date(2027, 12, 31)), "31\u{a0}décembre\u{a0}2027");
        assert_eq!(date_fr(date(2026, 8, 1)), "1er\u{a0}août\u{a0}2026");
        assert_eq!(thousands(276), "276");
        assert_eq!(thousands(8_807), "8\u{202f}807");
        assert_eq!(thousands(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(thousands(-1_500), "-1\u{202f}500");
        assert_eq!(
            typo("https://exemple.fr : ok"),
            "https://exemple.fr\u{a0}: ok"
        );
        assert_eq!(
            typo("moins de 2 000 habitants"),
            "moins de 2\u{202f}000 habitants"
        );
        // Not a thousands group: a postcode after a number, a year after a day.
        assert_eq!(typo("BP 12 35000 Rennes"), "BP 12 35000 Rennes");
        assert_eq!(typo("le 27 avril 2016"), "le 27 avril 2016");
    }
}
