//! The few libxml2 functions the validation needs (libxml2 ≥ 2.9, the library xmllint uses).
//! Declared by hand: no bindgen, hence no libclang at build time.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

/// `xmlError` (stable layout from libxml2 2.9 to 2.14).
#[repr(C)]
pub struct XmlError {
    pub domain: c_int,
    pub code: c_int,
    pub message: *mut c_char,
    pub level: c_int,
    pub file: *mut c_char,
    pub line: c_int,
    pub str1: *mut c_char,
    pub str2: *mut c_char,
    pub str3: *mut c_char,
    pub int1: c_int,
    pub int2: c_int,
    pub ctxt: *mut c_void,
    pub node: *mut c_void,
}

/// `xmlStructuredErrorFunc`.
pub type StructuredErrorFn = unsafe extern "C" fn(user: *mut c_void, error: *mut XmlError);

/// `XML_PARSE_NONET`: no network access, ever.
pub const XML_PARSE_NONET: c_int = 1 << 11;
/// `XML_PARSE_COMPACT`: compact small text nodes (xmllint's default).
pub const XML_PARSE_COMPACT: c_int = 1 << 16;
/// `XML_PARSE_BIG_LINES`: line numbers beyond 65535 (xmllint's default).
pub const XML_PARSE_BIG_LINES: c_int = 1 << 22;
/// `XML_FROM_PARSER`.
pub const XML_FROM_PARSER: c_int = 1;
/// `XML_FROM_SCHEMASV`.
pub const XML_FROM_SCHEMASV: c_int = 17;
/// `XML_ERR_ERROR`.
pub const XML_ERR_ERROR: c_int = 2;

#[link(name = "xml2")]
unsafe extern "C" {
    pub fn xmlInitParser();
    pub fn xmlSchemaNewParserCtxt(url: *const c_char) -> *mut c_void;
    pub fn xmlSchemaSetParserStructuredErrors(
        ctxt: *mut c_void,
        serror: Option<StructuredErrorFn>,
        ctx: *mut c_void,
    );
    pub fn xmlSchemaParse(ctxt: *mut c_void) -> *mut c_void;
    pub fn xmlSchemaFreeParserCtxt(ctxt: *mut c_void);
    pub fn xmlSchemaNewValidCtxt(schema: *mut c_void) -> *mut c_void;
    pub fn xmlSchemaSetValidStructuredErrors(
        ctxt: *mut c_void,
        serror: Option<StructuredErrorFn>,
        ctx: *mut c_void,
    );
    pub fn xmlSchemaValidateDoc(ctxt: *mut c_void, doc: *mut c_void) -> c_int;
    pub fn xmlSchemaFreeValidCtxt(ctxt: *mut c_void);
    pub fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut c_void;
    pub fn xmlGetIntSubset(doc: *const c_void) -> *mut c_void;
    pub fn xmlFreeDoc(doc: *mut c_void);
    pub fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<StructuredErrorFn>);
}
