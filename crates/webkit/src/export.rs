//! Tables people download: CSV for any tool, ODS for spreadsheets.
//!
//! A [`Table`] is a header and rows of cells; [`Table::csv`] writes what Excel and
//! LibreOffice open without asking (UTF-8 with BOM, `;`, CRLF), [`Table::ods`] an
//! OpenDocument spreadsheet (numbers stay numbers). Both neutralise cells that a spreadsheet
//! would run as a formula (`=`, `+`, `-`, `@` first): a member's name typed as
//! `=HYPERLINK(…)` must come out as text (CSV injection).

use std::io::{Cursor, Write};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bouquet_kernel::AppError;

use crate::error::WebError;

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Empty,
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        if v.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(v)
        }
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::from(v.to_owned())
    }
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        v.map_or(Cell::Empty, Cell::from)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Cell::Empty, Cell::Int)
    }
}

/// Text a spreadsheet will not evaluate.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(t) => inert(t),
            Cell::Int(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The sheet's name (ODS) and the file's base name.
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(name: &str, header: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// UTF-8 with BOM, `;`-separated, CRLF.
    pub fn csv(&self) -> Result<Vec<u8>, AppError> {
        let mut out = b"\xEF\xBB\xBF".to_vec();
        {
            let mut w = csv::WriterBuilder::new()
                .delimiter(b';')
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut out);
            let fail = |e: csv::Error| AppError::Internal(format!("export CSV : {e}"));
            w.write_record(self.header.iter().map(|h| inert(h)))
                .map_err(fail)?;
            for row in &self.rows {
                w.write_record(row.iter().map(Cell::text)).map_err(fail)?;
            }
            w.flush()
                .map_err(|e| AppError::Internal(format!("export CSV : {e}")))?;
        }
        Ok(out)
    }

    /// An OpenDocument spreadsheet (one sheet, header row in bold, frozen by nothing).
    pub fn ods(&self) -> Result<Vec<u8>, AppError> {
        let fail = |e: zip::result::ZipError| AppError::Internal(format!("export ODS : {e}"));
        let io = |e: std::io::Error| AppError::Internal(format!("export ODS : {e}"));
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        // The mimetype comes first and uncompressed: that is how tools recognise the format.
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("mimetype", stored).map_err(fail)?;
        zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .map_err(io)?;
        zip.start_file("META-INF/manifest.xml", deflated)
            .map_err(fail)?;
        zip.write_all(MANIFEST.as_bytes()).map_err(io)?;
        zip.start_file("content.xml", deflated).map_err(fail)?;
        zip.write_all(self.content_xml().as_bytes()).map_err(io)?;
        let cursor = zip.finish().map_err(fail)?;
        Ok(cursor.into_inner())
    }

    fn content_xml(&self) -> String {
        let mut x = String::with_capacity(200 + self.rows.len() * 200);
        x.push_str(CONTENT_HEAD);
        x.push_str(&format!(
            "<table:table table:name=\"{}\">",
            escape(&self.name)
        ));
        x.push_str(&format!(
            "<table:table-column table:number-columns-repeated=\"{}\"/>",
            self.header.len().max(1)
        ));
        x.push_str("<table:table-row>");
        for h in &self.header {
            x.push_str(&format!(
                "<table:table-cell table:style-name=\"entete\" office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>",
                escape(h)
            ));
        }
        x.push_str("</table:table-row>");
        for row in &self.rows {
            x.push_str("<table:table-row>");
            for cell in row {
                match cell {
                    Cell::Text(t) => x.push_str(&format!(
                        "<table:table-cell office:value-type=\"string\"><text:p>{}</text:p></table:table-cell>",
                        escape(t)
                    )),
                    Cell::Int(n) => x.push_str(&format!(
                        "<table:table-cell office:value-type=\"float\" office:value=\"{n}\"><text:p>{n}</text:p></table:table-cell>"
                    )),
                    Cell::Empty => x.push_str("<table:table-cell/>"),
                }
            }
            x.push_str("</table:table-row>");
        }
        x.push_str("</table:table></office:spreadsheet></office:body></office:document-content>");
        x
    }

    fn response(&self, bytes: Vec<u8>, content_type: &'static str, ext: &str) -> Response {
        let mut response = bytes.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let file = format!("{}.{ext}", self.name);
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// The CSV as a download named after the table.
    pub fn csv_response(&self) -> Result<Response, WebError> {
        Ok(self.response(self.csv()?, "text/csv; charset=utf-8", "csv"))
    }

    /// The ODS as a download named after the table.
    pub fn ods_response(&self) -> Result<Response, WebError> {
        Ok(self.response(
            self.ods()?,
            "application/vnd.oasis.opendocument.spreadsheet",
            "ods",
        ))
    }
}

/// XML text and attribute escaping; characters XML 1.0 forbids are dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

const MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:version="1.2" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
"#;

const CONTENT_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2"><office:automatic-styles><style:style style:name="entete" style:family="table-cell"><style:text-properties fo:font-weight="bold"/></style:style></office:automatic-styles><office:body><office:spreadsheet>"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new("membres", &["Nom", "Population"]);
        t.push(vec![Cell::from("Janzé"), Cell::from(8807)]);
        t.push(vec![Cell::from("=HYPERLINK(\"x\")"), Cell::Empty]);
        t.push(vec![Cell::from("A & <B>"), Cell::from(-3)]);
        t
    }

    #[test]
    fn csv_opens_in_excel_and_runs_no_formula() {
        let bytes = sample().csv().unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "Nom;Population");
        assert_eq!(lines[1], "Janzé;8807");
        assert_eq!(lines[2], "\"'=HYPERLINK(\"\"x\"\")\";");
        assert_eq!(lines[3], "A & <B>;-3", "numbers are not text");
    }

    #[test]
    fn ods_is_a_zip_with_the_mimetype_first_and_escaped_cells() {
        let bytes = sample().ods().unwrap();
        // The first local file header names `mimetype`, stored, followed by its content.
        assert_eq!(&bytes[0..4], b"PK\x03\x04");
        assert_eq!(&bytes[30..38], b"mimetype");
        assert!(bytes[38..].starts_with(b"application/vnd.oasis.opendocument.spreadsheet"));
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut content = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("content.xml").unwrap(), &mut content)
            .unwrap();
        assert!(content.contains("<text:p>A &amp; &lt;B&gt;</text:p>"));
        assert!(content.contains("office:value-type=\"float\" office:value=\"8807\""));
        assert!(
            content.contains("<text:p>=HYPERLINK(&quot;x&quot;)</text:p>"),
            "ODS strings are never formulas"
        );
    }
}
