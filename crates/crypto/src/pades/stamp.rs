//! The visible stamp ("tampon de signature"): a Form XObject with a thin border and a few lines
//! of Helvetica (standard 14 font, WinAnsiEncoding), sized to fit its rectangle.

use crate::pdf::object::{Dict, ObjRef, Object, format_real, write_string};

/// Inner margin of the stamp, in points.
const PADDING: f64 = 4.0;
/// Largest font size used; the text shrinks below it to fit.
const MAX_FONT_SIZE: f64 = 11.0;
const MIN_FONT_SIZE: f64 = 3.0;
/// Line height relative to the font size.
const LEADING: f64 = 1.2;

/// The font dictionary the appearance refers to as `/F1`.
pub(crate) fn font_dict() -> Dict {
    let mut font = Dict::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Subtype", Object::Name(b"Type1".to_vec()));
    font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
    font.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
    font
}

/// The appearance stream (dictionary without /Length, and content) of a `width`×`height` stamp.
pub(crate) fn appearance(
    lines: &[String],
    width: f64,
    height: f64,
    font: ObjRef,
) -> (Dict, Vec<u8>) {
    let mut fonts = Dict::new();
    fonts.set("F1", Object::Ref(font));
    let mut resources = Dict::new();
    resources.set("Font", Object::Dict(fonts));
    let mut dict = Dict::new();
    dict.set("Type", Object::Name(b"XObject".to_vec()));
    dict.set("Subtype", Object::Name(b"Form".to_vec()));
    dict.set(
        "BBox",
        Object::Array(vec![
            Object::Int(0),
            Object::Int(0),
            Object::Real(width),
            Object::Real(height),
        ]),
    );
    dict.set("Resources", Object::Dict(resources));

    let encoded: Vec<Vec<u8>> = lines.iter().map(|l| to_win_ansi(l)).collect();
    let size = font_size(&encoded, width, height);
    let n = |v: f64| format_real(v);
    let mut content = Vec::new();
    content.extend_from_slice(
        format!(
            "q 0.5 w 0.2 0.2 0.4 RG 0.25 0.25 {} {} re S Q\n",
            n(width - 0.5),
            n(height - 0.5)
        )
        .as_bytes(),
    );
    content.extend_from_slice(
        format!(
            "BT /F1 {} Tf {} TL 0.1 0.1 0.3 rg {} {} Td\n",
            n(size),
            n(size * LEADING),
            n(PADDING),
            n(height - PADDING - size)
        )
        .as_bytes(),
    );
    for (i, line) in encoded.iter().enumerate() {
        if i > 0 {
            content.extend_from_slice(b"T* ");
        }
        write_string(&mut content, line);
        content.extend_from_slice(b" Tj\n");
    }
    content.extend_from_slice(b"ET\n");
    (dict, content)
}

/// The largest size (up to [`MAX_FONT_SIZE`]) at which every line fits the box.
fn font_size(lines: &[Vec<u8>], width: f64, height: f64) -> f64 {
    let widest = lines
        .iter()
        .map(|l| {
            l.iter()
                .map(|&b| f64::from(helvetica_width(b)))
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let by_width = if widest > 0.0 {
        (width - 2.0 * PADDING) * 1000.0 / widest
    } else {
        MAX_FONT_SIZE
    };
    let count = lines.len().max(1) as f64;
    let by_height = (height - 2.0 * PADDING) / (count * LEADING);
    by_width.min(by_height).clamp(MIN_FONT_SIZE, MAX_FONT_SIZE)
}

/// Encodes text in WinAnsiEncoding (Windows-1252); what it cannot encode becomes `?`.
pub fn to_win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_byte).collect()
}

fn win_ansi_byte(c: char) -> u8 {
    let code = u32::from(c);
    match code {
        0x20..=0x7e | 0xa0..=0xff => code as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            '\u{202f}' | '\u{2009}' | '\t' => b' ',
            _ => b'?',
        },
    }
}

/// Helvetica advance widths (1/1000 em) for ASCII; accented letters take their base letter's.
const ASCII_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // ' '..'/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
    556, // '0'..'?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
    778, // '@'..'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, // 'P'..'_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
    556, // '`'..'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
];

pub(crate) fn helvetica_width(b: u8) -> u16 {
    let base = match b {
        0x20..=0x7e => b,
        0xc0..=0xc5 => b'A',
        0xc6 | 0x8c => return 1000,
        0xc7 => b'C',
        0xc8..=0xcb => b'E',
        0xcc..=0xcf => b'I',
        0xd1 => b'N',
        0xd2..=0xd6 | 0xd8 => b'O',
        0xd9..=0xdc => b'U',
        0xdd | 0x9f => b'Y',
        0xe0..=0xe5 => b'a',
        0xe6 | 0x9c => return 944,
        0xe7 => b'c',
        0xe8..=0xeb => b'e',
        0xec..=0xef => b'i',
        0xf1 => b'n',
        0xf2..=0xf6 | 0xf8 => b'o',
        0xf9..=0xfc => b'u',
        0xfd | 0xff => b'y',
        0x92 | 0x91 => return 222,
        0x96 => return 556,
        0x97 | 0x85 | 0x99 => return 1000,
        _ => return 556,
    };
    ASCII_WIDTHS[usize::from(base - 0x20)]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn encodes_french_text_in_win_ansi() {
        assert_eq!(
            to_win_ansi("Signé à Noël"),
            b"Sign\xe9 \xe0 No\xebl".to_vec()
        );
        assert_eq!(
            to_win_ansi("l’absence — œuvre €"),
            b"l\x92absence \x97 \x9cuvre \x80".to_vec()
        );
        assert_eq!(to_win_ansi("日本"), b"??".to_vec());
    }

    #[test]
    fn the_font_shrinks_to_fit_the_longest_line() {
        let short = font_size(&[to_win_ansi("Anne")], 200.0, 60.0);
        let long = font_size(&[to_win_ansi(&"Anne Martin ".repeat(5))], 200.0, 60.0);
        assert_eq!(short, MAX_FONT_SIZE);
        assert!(long < short);
        let widest = to_win_ansi(&"Anne Martin ".repeat(5))
            .iter()
            .map(|&b| f64::from(helvetica_width(b)))
            .sum::<f64>();
        assert!(widest * long / 1000.0 <= 200.0 - 2.0 * PADDING + 1e-6);
    }
}
