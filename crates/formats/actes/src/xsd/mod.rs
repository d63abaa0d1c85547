//! Validation against the embedded *avec typologie* `actesv1_1.xsd` with libxml2, the engine
//! of `xmllint --schema`: the same verdicts, the same details (prefixed in French).
//!
//! The schema is parsed once per process (its imports `siret.xsd` and `insee-commun.xsd` are
//! written with it to a private temporary folder, parsed, and the folder removed) and then
//! shared read-only by every thread; each call has its own parser and validation context.
//! Documents are parsed with `XML_PARSE_NONET` and without entity substitution nor DTD
//! loading, and a DOCTYPE is refused before libxml2 sees the bytes.
#![allow(unsafe_code)]

mod ffi;

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

/// `actesv1_1.xsd`, *avec typologie* variant (ISO-8859-1).
pub const ACTES_XSD: &[u8] = include_bytes!(
    "../../../../../standards/actes/xsd/ministere-v1.1-avec-typologie/actesv1_1.xsd"
);
/// `siret.xsd`, imported by `actesv1_1.xsd`.
pub const SIRET_XSD: &[u8] =
    include_bytes!("../../../../../standards/actes/xsd/ministere-v1.1-avec-typologie/siret.xsd");
/// `insee-commun.xsd`, included by `siret.xsd`.
pub const INSEE_COMMUN_XSD: &[u8] = include_bytes!(
    "../../../../../standards/actes/xsd/ministere-v1.1-avec-typologie/insee-commun.xsd"
);

/// The three schema files with their names, to write them side by side (for `xmllint`).
pub fn schema_files() -> [(&'static str, &'static [u8]); 3] {
    [
        ("actesv1_1.xsd", ACTES_XSD),
        ("siret.xsd", SIRET_XSD),
        ("insee-commun.xsd", INSEE_COMMUN_XSD),
    ]
}

/// Largest document validated.
pub const MAX_DOCUMENT_SIZE: usize = crate::parse::MAX_MESSAGE_SIZE;
const MAX_ERRORS: usize = 50;

struct Schema(*mut c_void);
// SAFETY: libxml2 never modifies a parsed xmlSchema during validation; it is documented to be
// shareable by validation contexts in several threads. It is never freed (process lifetime).
unsafe impl Send for Schema {}
unsafe impl Sync for Schema {}

static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();

#[derive(Default)]
struct Sink {
    errors: Vec<String>,
}

unsafe extern "C" fn on_error(user: *mut c_void, error: *mut ffi::XmlError) {
    if user.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `user` is the `Sink` of the current call (set just before, reset just after, on
    // this thread); `error` is valid for the duration of the callback.
    let (sink, error) = unsafe { (&mut *(user as *mut Sink), &*error) };
    if error.level < ffi::XML_ERR_ERROR || sink.errors.len() >= MAX_ERRORS {
        return;
    }
    let message = if error.message.is_null() {
        String::from("erreur sans détail")
    } else {
        // SAFETY: libxml2 gives a NUL-terminated string.
        unsafe { CStr::from_ptr(error.message) }
            .to_string_lossy()
            .trim_end()
            .to_owned()
    };
    let what = match error.domain {
        ffi::XML_FROM_SCHEMASV => "non conforme au schéma @CTES",
        ffi::XML_FROM_PARSER => "XML mal formé",
        _ => "erreur",
    };
    sink.errors.push(if error.line > 0 {
        format!("ligne {} : {what} : {message}", error.line)
    } else {
        format!("{what} : {message}")
    });
}

fn load() -> Result<Schema, String> {
    // SAFETY: idempotent global initialisation, called before any other libxml2 function.
    unsafe { ffi::xmlInitParser() };
    let dir =
        private_dir().map_err(|e| format!("schéma @CTES : dossier temporaire impossible ({e})"))?;
    let result = (|| {
        for (name, bytes) in schema_files() {
            std::fs::write(dir.join(name), bytes)
                .map_err(|e| format!("schéma @CTES : écriture impossible ({e})"))?;
        }
        let path = dir.join("actesv1_1.xsd");
        let path = CString::new(path.to_string_lossy().into_owned())
            .map_err(|_| "schéma @CTES : chemin invalide".to_owned())?;
        let mut sink = Sink::default();
        // SAFETY: pointers valid for the calls; the parser context is freed once.
        let schema = unsafe {
            let ctxt = ffi::xmlSchemaNewParserCtxt(path.as_ptr());
            if ctxt.is_null() {
                return Err("schéma @CTES : contexte libxml2 impossible".to_owned());
            }
            ffi::xmlSchemaSetParserStructuredErrors(
                ctxt,
                Some(on_error),
                &mut sink as *mut Sink as *mut c_void,
            );
            let schema = ffi::xmlSchemaParse(ctxt);
            ffi::xmlSchemaFreeParserCtxt(ctxt);
            schema
        };
        if schema.is_null() {
            return Err(format!(
                "schéma @CTES illisible : {}",
                sink.errors.join(" ; ")
            ));
        }
        Ok(Schema(schema))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn private_dir() -> std::io::Result<std::path::PathBuf> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "bouquet-actes-xsd-{}-{attempt}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("aucun nom libre"))
}

fn schema() -> Result<&'static Schema, Vec<String>> {
    SCHEMA
        .get_or_init(load)
        .as_ref()
        .map_err(|e| vec![e.clone()])
}

/// Parses the embedded schema now (otherwise done by the first [`validate`]); returns its
/// error, if any, in French.
pub fn init() -> Result<(), String> {
    schema().map(|_| ()).map_err(|e| e.join(" ; "))
}

/// Validates a document against the *avec typologie* schema. `Err` holds one French-prefixed
/// line per problem, with libxml2's own detail (as `xmllint` prints it).
pub fn validate(xml: &[u8]) -> Result<(), Vec<String>> {
    if xml.len() > MAX_DOCUMENT_SIZE {
        return Err(vec![
            crate::FormatError::TooLarge {
                size: xml.len() as u64,
                max: MAX_DOCUMENT_SIZE as u64,
            }
            .to_string(),
        ]);
    }
    if xml.starts_with(&[0xFE, 0xFF])
        || xml.starts_with(&[0xFF, 0xFE])
        || xml.iter().take(4).any(|&b| b == 0)
    {
        return Err(vec![
            "encodage non pris en charge (UTF-16/UTF-32) : ISO-8859-1 ou UTF-8 attendu".to_owned(),
        ]);
    }
    if xml.windows(9).any(|w| w == b"<!DOCTYPE") {
        return Err(vec![crate::FormatError::Doctype.to_string()]);
    }
    let schema = schema()?;
    let len =
        c_int::try_from(xml.len()).map_err(|_| vec!["document trop volumineux".to_owned()])?;
    let mut sink = Sink::default();
    let user = &mut sink as *mut Sink as *mut c_void;
    // SAFETY: the structured error handler is thread-local in libxml2; it points to `sink` only
    // during this block and is reset before `sink` goes away. `xml` outlives the parse; each
    // object created here is freed once, here.
    let verdict = unsafe {
        ffi::xmlSetStructuredErrorFunc(user, Some(on_error));
        let options = ffi::XML_PARSE_NONET | ffi::XML_PARSE_COMPACT | ffi::XML_PARSE_BIG_LINES;
        let doc = ffi::xmlReadMemory(
            xml.as_ptr() as *const c_char,
            len,
            std::ptr::null(),
            std::ptr::null(),
            options,
        );
        let verdict = if doc.is_null() {
            Some(-1)
        } else if !ffi::xmlGetIntSubset(doc).is_null() {
            ffi::xmlFreeDoc(doc);
            None
        } else {
            let vctxt = ffi::xmlSchemaNewValidCtxt(schema.0);
            let rc = if vctxt.is_null() {
                -2
            } else {
                ffi::xmlSchemaSetValidStructuredErrors(vctxt, Some(on_error), user);
                let rc = ffi::xmlSchemaValidateDoc(vctxt, doc);
                ffi::xmlSchemaFreeValidCtxt(vctxt);
                rc
            };
            ffi::xmlFreeDoc(doc);
            Some(rc)
        };
        ffi::xmlSetStructuredErrorFunc(std::ptr::null_mut(), None);
        verdict
    };
    match verdict {
        None => Err(vec![crate::FormatError::Doctype.to_string()]),
        Some(0) => Ok(()),
        Some(rc) => {
            if sink.errors.is_empty() {
                sink.errors.push(match rc {
                    -1 => "XML mal formé : document illisible".to_owned(),
                    -2 => "validation impossible : contexte libxml2 non créé".to_owned(),
                    _ => format!("non conforme au schéma @CTES (code libxml2 {rc})"),
                });
            }
            Err(sink.errors)
        }
    }
}
