//! Helpers for tests that check a PDF with independent tools (`qpdf`, poppler's `pdfinfo`
//! and `pdftotext`): this crate's tests and those of the modules that render documents
//! (feature `test-support`, for dev-dependencies only).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs an independent checker; a missing tool fails the test, it does not skip it.
pub fn run(tool: &str, args: &[&str]) -> Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "`{tool}` could not be run ({e}): install it with `apt-get install -y poppler-utils qpdf`"
        ),
    }
}

/// A field of `pdfinfo`'s output ("Pages", "Tagged"…), trimmed.
pub fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in pdfinfo's output:\n{info}"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whitespace of any kind (line ends, no-break spaces) as one plain space, so that
/// phrases can be looked for whatever the line breaks.
pub fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The tags of the structure tree as an independent reader sees it (`pdfinfo -struct`:
/// "TH:", "H2 \"…\" (block)"), in order.
pub fn structure_tags(path: &str) -> Vec<String> {
    stdout(&run("pdfinfo", &["-struct", path]))
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|t| t.trim_end_matches(':').to_owned())
        .collect()
}

/// A PDF written to the temporary directory, removed when dropped.
pub struct TempPdf(PathBuf);

impl TempPdf {
    pub fn write(name: &str, bytes: &[u8]) -> TempPdf {
        let path =
            std::env::temp_dir().join(format!("bouquet-pdfdoc-{}-{name}.pdf", std::process::id()));
        if let Err(e) = std::fs::write(&path, bytes) {
            panic!("{}: {e}", path.display());
        }
        TempPdf(path)
    }

    pub fn path(&self) -> &str {
        match self.0.to_str() {
            Some(path) => path,
            None => panic!("temporary path not in UTF-8: {}", self.0.display()),
        }
    }
}

impl Drop for TempPdf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
