//! A lazy PDF reader over random access: the tail (`startxref`), the cross-reference chain
//! (classic tables, xref streams, hybrid files), the trailer and single objects by number,
//! objects in object streams included. Nothing else is read: signing a 200 MB file touches a
//! few kilobytes of it (plus the hash of the whole, done by [`crate::pades`] in chunks).
//!
//! Hostile input never panics: offsets are checked against the length, windows and decoded
//! streams are bounded, recursion is bounded, and loops in `/Prev` chains are detected.
//!
//! [`stamp`] adds a text stamp (a `/Stamp` annotation) by incremental update.

pub mod object;
pub mod stamp;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::rc::Rc;

pub use object::{Dict, ObjRef, Object, Stream};
use object::{ParseError, Parser};

use crate::error::{CryptoError, Result};

/// Random access to the bytes of a PDF file.
pub trait PdfSource {
    fn len(&self) -> u64;
    /// Reads at most `buf.len()` bytes at `offset`; fewer only at the end of the source.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PdfSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(<[u8]>::len(self));
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl<T: PdfSource + ?Sized> PdfSource for &T {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

impl PdfSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
}

impl PdfSource for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match FileExt::read_at(self, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// Reads `len` bytes at `offset` (fewer at the end of the source).
pub fn read_range(source: &dyn PdfSource, offset: u64, len: usize) -> Result<Vec<u8>> {
    let available = source.len().saturating_sub(offset);
    let len = len.min(usize::try_from(available).unwrap_or(usize::MAX));
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = source
            .read_at(offset + done as u64, &mut buf[done..])
            .map_err(|e| CryptoError::bad_input(format!("Lecture du PDF impossible : {e}.")))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    Ok(buf)
}

/// First window read to parse an object; doubled while the object does not fit.
const FIRST_WINDOW: usize = 4096;
/// Largest window (and so largest dictionary, e.g. a `/Contents` hex string) accepted.
const MAX_WINDOW: usize = 16 << 20;
/// Largest decoded stream (xref streams, object streams) accepted.
const MAX_DECODED: u64 = 256 << 20;
/// Longest row of a PNG predictor (xref streams have rows of a few bytes).
const MAX_PREDICTOR_ROW: usize = 1 << 20;
/// Largest stream read from the file (object streams, xref streams).
const MAX_STREAM: u64 = 64 << 20;
/// Longest `/Prev` chain followed.
const MAX_SECTIONS: usize = 10_000;
/// Most objects in one object stream, and highest object number.
const MAX_OBJECTS: u64 = 10_000_000;

pub(crate) fn unreadable(why: impl std::fmt::Display) -> CryptoError {
    CryptoError::bad_input(format!("Ce fichier n'est pas un PDF lisible : {why}."))
}

pub const ENCRYPTED: &str = "Ce PDF est chiffré (protégé par un mot de passe) : il ne peut pas être signé. Enregistrez-le sans protection puis déposez-le à nouveau.";

/// Where an object lives, according to the cross-reference chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XrefEntry {
    Free,
    InFile { offset: u64, generation: u16 },
    InStream { stream: u32, index: u32 },
}

/// The kind of the newest cross-reference section: an update must use the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefKind {
    Table,
    Stream,
}

/// A decoded object stream: the offsets of its objects and their bytes.
struct ObjectStream {
    entries: Vec<(u32, usize)>,
    data: Vec<u8>,
}

/// A PDF opened for reading; see the module documentation.
pub struct PdfReader<'a> {
    source: &'a dyn PdfSource,
    len: u64,
    xref: HashMap<u32, XrefEntry>,
    trailer: Dict,
    startxref: u64,
    newest_kind: XrefKind,
    /// Offsets of every section of the chain, newest first.
    sections: Vec<u64>,
    object_streams: RefCell<HashMap<u32, Rc<ObjectStream>>>,
}

impl std::fmt::Debug for PdfReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfReader")
            .field("len", &self.len)
            .field("objects", &self.xref.len())
            .field("startxref", &self.startxref)
            .finish()
    }
}

impl<'a> PdfReader<'a> {
    /// Opens a PDF: header, tail, cross-reference chain and trailer. Refuses encrypted files.
    pub fn open(source: &'a dyn PdfSource) -> Result<Self> {
        let len = source.len();
        let head = read_range(source, 0, 1024)?;
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(CryptoError::bad_input(
                "Ce fichier n'est pas un PDF (il ne commence pas par « %PDF- »).",
            ));
        }
        let startxref = find_startxref(source, len)?;
        let mut reader = PdfReader {
            source,
            len,
            xref: HashMap::new(),
            trailer: Dict::new(),
            startxref,
            newest_kind: XrefKind::Table,
            sections: Vec::new(),
            object_streams: RefCell::new(HashMap::new()),
        };
        reader.read_xref_chain()?;
        if reader.trailer.get("Encrypt").is_some() {
            return Err(CryptoError::bad_input(ENCRYPTED));
        }
        if reader
            .trailer
            .get("Root")
            .and_then(Object::as_ref)
            .is_none()
        {
            return Err(unreadable("le catalogue (/Root) est introuvable"));
        }
        Ok(reader)
    }

    pub fn source(&self) -> &'a dyn PdfSource {
        self.source
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The newest trailer (for an xref stream, its dictionary).
    pub fn trailer(&self) -> &Dict {
        &self.trailer
    }

    pub fn startxref(&self) -> u64 {
        self.startxref
    }

    pub fn newest_xref_kind(&self) -> XrefKind {
        self.newest_kind
    }

    /// Offsets of the cross-reference sections of the chain, newest first.
    pub fn sections(&self) -> &[u64] {
        &self.sections
    }

    /// One more than the highest object number in use (the next free number).
    pub fn next_object_number(&self) -> u32 {
        let from_trailer = self
            .trailer
            .get("Size")
            .and_then(Object::as_int)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let highest = self.xref.keys().max().map_or(0, |n| n + 1);
        from_trailer.max(highest).max(1)
    }

    /// The catalog's reference.
    pub fn root_ref(&self) -> Result<ObjRef> {
        self.trailer
            .get("Root")
            .and_then(Object::as_ref)
            .ok_or_else(|| unreadable("le catalogue (/Root) est introuvable"))
    }

    /// Follows references until a direct object (bounded).
    pub fn resolve(&self, object: &Object) -> Result<Object> {
        let mut current = object.clone();
        for _ in 0..32 {
            match current {
                Object::Ref(r) => current = self.get(r)?,
                other => return Ok(other),
            }
        }
        Err(unreadable("chaîne de références trop longue"))
    }

    /// The dictionary `object` is or refers to.
    pub fn resolve_dict(&self, object: &Object) -> Result<Dict> {
        match self.resolve(object)? {
            Object::Dict(d) => Ok(d),
            Object::Stream(s) => Ok(s.dict),
            _ => Err(unreadable("dictionnaire attendu")),
        }
    }

    /// Reads the object `r`. A free or missing object is `null`, as the standard says.
    pub fn get(&self, r: ObjRef) -> Result<Object> {
        match self.xref.get(&r.num) {
            None | Some(XrefEntry::Free) => Ok(Object::Null),
            Some(&XrefEntry::InFile { offset, .. }) => self.object_at(offset, Some(r.num), 0),
            Some(&XrefEntry::InStream { stream, index }) => {
                self.object_in_stream(stream, index, r.num)
            }
        }
    }

    /// Reads an indirect object (`n g obj … endobj`) at `offset`.
    fn object_at(&self, offset: u64, expected: Option<u32>, depth: usize) -> Result<Object> {
        if offset >= self.len {
            return Err(unreadable(
                "un objet est annoncé au-delà de la fin du fichier",
            ));
        }
        if depth > 4 {
            return Err(unreadable("longueurs de flux imbriquées"));
        }
        let (dict_or_object, data_start) = self.with_window(offset, |p| {
            let num = p.unsigned()?;
            let _generation = p.unsigned()?;
            if !p.eat_keyword(b"obj")? {
                return Err(ParseError::Syntax("« obj » attendu".into()));
            }
            if let Some(expected) = expected
                && num != u64::from(expected)
            {
                return Err(ParseError::Syntax(format!(
                    "l'objet {expected} n'est pas à la position annoncée"
                )));
            }
            let object = p.object()?;
            if matches!(object, Object::Dict(_)) && p.eat_keyword(b"stream")? {
                // The keyword is followed by CRLF or LF (a lone CR is tolerated).
                let buf_pos = p.pos;
                return Ok((object, Some(buf_pos)));
            }
            Ok((object, None))
        })?;
        let Some(relative) = data_start else {
            return Ok(dict_or_object);
        };
        let Object::Dict(dict) = dict_or_object else {
            return Err(unreadable("flux sans dictionnaire"));
        };
        let mut start = offset + relative as u64;
        let eol = read_range(self.source, start, 2)?;
        if eol.starts_with(b"\r\n") {
            start += 2;
        } else if eol.starts_with(b"\n") || eol.starts_with(b"\r") {
            start += 1;
        }
        let length = match dict.get("Length") {
            Some(Object::Int(n)) => *n,
            Some(Object::Ref(r)) => match self.xref.get(&r.num) {
                Some(&XrefEntry::InFile { offset, .. }) => self
                    .object_at(offset, Some(r.num), depth + 1)?
                    .as_int()
                    .unwrap_or(-1),
                Some(&XrefEntry::InStream { stream, index }) => self
                    .object_in_stream(stream, index, r.num)?
                    .as_int()
                    .unwrap_or(-1),
                _ => -1,
            },
            _ => -1,
        };
        let length = u64::try_from(length)
            .ok()
            .filter(|&l| l <= MAX_STREAM && start + l <= self.len)
            .ok_or_else(|| unreadable("la longueur d'un flux est invalide"))?;
        let data = read_range(self.source, start, length as usize)?;
        Ok(Object::Stream(Stream { dict, data }))
    }

    /// Runs `parse` on a window of the file starting at `offset`, growing the window while the
    /// parser runs out of bytes.
    fn with_window<T>(
        &self,
        offset: u64,
        parse: impl Fn(&mut Parser<'_>) -> std::result::Result<T, ParseError>,
    ) -> Result<T> {
        let mut size = FIRST_WINDOW;
        loop {
            let mut window = read_range(self.source, offset, size)?;
            let at_end = offset + window.len() as u64 >= self.len;
            if at_end {
                // Lets the last token of the file end.
                window.push(b'\n');
            }
            match parse(&mut Parser::new(&window, 0)) {
                Ok(t) => return Ok(t),
                Err(ParseError::Eof) if !at_end && size < MAX_WINDOW => size *= 4,
                Err(ParseError::Eof) => return Err(unreadable("un objet est tronqué")),
                Err(ParseError::Syntax(why)) => {
                    return Err(unreadable(format!("{why} (à l'octet {offset})")));
                }
            }
        }
    }

    fn object_in_stream(&self, stream: u32, index: u32, num: u32) -> Result<Object> {
        let objstm = self.object_stream(stream)?;
        let &(found, offset) = objstm
            .entries
            .get(index as usize)
            .ok_or_else(|| unreadable("objet absent de son flux d'objets"))?;
        if found != num {
            return Err(unreadable("flux d'objets incohérent"));
        }
        let data = objstm
            .data
            .get(offset..)
            .ok_or_else(|| unreadable("flux d'objets incohérent"))?;
        Parser::new(data, 0).object().map_err(|e| match e {
            ParseError::Eof => unreadable("objet tronqué dans un flux d'objets"),
            ParseError::Syntax(why) => unreadable(why),
        })
    }

    fn object_stream(&self, num: u32) -> Result<Rc<ObjectStream>> {
        if let Some(found) = self.object_streams.borrow().get(&num) {
            return Ok(found.clone());
        }
        let offset = match self.xref.get(&num) {
            Some(&XrefEntry::InFile { offset, .. }) => offset,
            _ => return Err(unreadable("flux d'objets introuvable")),
        };
        let Object::Stream(stream) = self.object_at(offset, Some(num), 0)? else {
            return Err(unreadable("flux d'objets attendu"));
        };
        let mut data = decode_stream(&stream)?;
        data.push(b' ');
        let n = stream.dict.get("N").and_then(Object::as_int).unwrap_or(-1);
        let first = stream
            .dict
            .get("First")
            .and_then(Object::as_int)
            .unwrap_or(-1);
        let (Ok(n), Ok(first)) = (u64::try_from(n), usize::try_from(first)) else {
            return Err(unreadable("flux d'objets sans /N ou /First"));
        };
        if n > MAX_OBJECTS || first > data.len() {
            return Err(unreadable("flux d'objets incohérent"));
        }
        let mut header_data = data[..first].to_vec();
        header_data.push(b' ');
        let mut parser = Parser::new(&header_data, 0);
        let mut header = Vec::new();
        for _ in 0..n {
            let (Ok(obj), Ok(off)) = (parser.unsigned(), parser.unsigned()) else {
                return Err(unreadable("en-tête de flux d'objets invalide"));
            };
            let obj = u32::try_from(obj).map_err(|_| unreadable("numéro d'objet invalide"))?;
            let off = usize::try_from(off)
                .ok()
                .and_then(|o| o.checked_add(first))
                .filter(|&o| o < data.len())
                .ok_or_else(|| unreadable("en-tête de flux d'objets invalide"))?;
            header.push((obj, off));
        }
        let decoded = Rc::new(ObjectStream {
            entries: header,
            data,
        });
        let mut cache = self.object_streams.borrow_mut();
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(num, decoded.clone());
        Ok(decoded)
    }

    fn read_xref_chain(&mut self) -> Result<()> {
        let mut next = Some(self.startxref);
        let mut seen = HashSet::new();
        let mut first = true;
        while let Some(offset) = next {
            if !seen.insert(offset) || seen.len() > MAX_SECTIONS {
                return Err(unreadable("la chaîne des tables de références boucle"));
            }
            self.sections.push(offset);
            let (kind, trailer, free) = self.read_section(offset)?;
            if first {
                self.newest_kind = kind;
                self.trailer = trailer.clone();
                first = false;
            }
            // Hybrid files: the table's entries come first, then its /XRefStm, then /Prev; the
            // table marks the objects of the stream free, so its free entries come last.
            if kind == XrefKind::Table
                && let Some(stm) = trailer.get("XRefStm").and_then(Object::as_int)
            {
                let stm = u64::try_from(stm).map_err(|_| unreadable("/XRefStm invalide"))?;
                if !seen.insert(stm) {
                    return Err(unreadable("la chaîne des tables de références boucle"));
                }
                self.read_section(stm)?;
            }
            for num in free {
                self.xref.entry(num).or_insert(XrefEntry::Free);
            }
            next = match trailer.get("Prev").map(|p| p.as_number()) {
                None => None,
                Some(Some(p)) if p >= 0.0 => Some(p as u64),
                Some(_) => return Err(unreadable("/Prev invalide")),
            };
        }
        Ok(())
    }

    /// Reads one cross-reference section (table or stream) and records the entries not
    /// already known (newer sections are read first), except the free entries of a table,
    /// returned to be recorded after its /XRefStm.
    fn read_section(&mut self, offset: u64) -> Result<(XrefKind, Dict, Vec<u32>)> {
        if offset >= self.len {
            return Err(unreadable(
                "la table des références (startxref) est hors du fichier",
            ));
        }
        let head = read_range(self.source, offset, 4)?;
        if head == b"xref" {
            self.read_table(offset)
                .map(|(trailer, free)| (XrefKind::Table, trailer, free))
        } else {
            let object = self.object_at(offset, None, 0).map_err(|_| {
                unreadable("la table des références est introuvable à la position annoncée")
            })?;
            match object {
                Object::Stream(s) if s.dict.has_name("Type", "XRef") => {
                    self.read_xref_stream(&s)?;
                    Ok((XrefKind::Stream, s.dict, Vec::new()))
                }
                _ => Err(unreadable(
                    "la table des références est introuvable à la position annoncée",
                )),
            }
        }
    }

    fn read_table(&mut self, offset: u64) -> Result<(Dict, Vec<u32>)> {
        let (entries, trailer) = self.with_window(offset + 4, |p| {
            let mut entries = Vec::new();
            loop {
                if p.eat_keyword(b"trailer")? {
                    let trailer = match p.object()? {
                        Object::Dict(d) => d,
                        _ => return Err(ParseError::Syntax("dictionnaire trailer attendu".into())),
                    };
                    return Ok((entries, trailer));
                }
                let start = p.unsigned()?;
                let count = p.unsigned()?;
                if start.saturating_add(count) > MAX_OBJECTS {
                    return Err(ParseError::Syntax(
                        "table des références trop grande".into(),
                    ));
                }
                for i in 0..count {
                    let off = p.unsigned()?;
                    let generation = p.unsigned()?;
                    let kind = p.keyword()?;
                    entries.push((start + i, off, generation, kind == b"n"));
                }
            }
        })?;
        let mut free = Vec::new();
        for (num, off, generation, used) in entries {
            let num = num as u32;
            if used && num != 0 {
                self.xref.entry(num).or_insert(XrefEntry::InFile {
                    offset: off,
                    generation: u16::try_from(generation).unwrap_or(u16::MAX),
                });
            } else {
                free.push(num);
            }
        }
        Ok((trailer, free))
    }

    fn read_xref_stream(&mut self, stream: &Stream) -> Result<()> {
        let data = decode_stream(stream)?;
        let widths: Vec<usize> = stream
            .dict
            .get("W")
            .and_then(Object::as_array)
            .map(|w| {
                w.iter()
                    .map(|x| {
                        x.as_int()
                            .and_then(|i| usize::try_from(i).ok())
                            .unwrap_or(99)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if widths.len() != 3 || widths.iter().any(|&w| w > 8) {
            return Err(unreadable("/W invalide dans un flux de références"));
        }
        let size = stream
            .dict
            .get("Size")
            .and_then(Object::as_int)
            .unwrap_or(0);
        let index: Vec<u64> = match stream.dict.get("Index").and_then(Object::as_array) {
            Some(a) => a
                .iter()
                .map(|x| {
                    x.as_int()
                        .and_then(|i| u64::try_from(i).ok())
                        .unwrap_or(u64::MAX)
                })
                .collect(),
            None => vec![0, u64::try_from(size).unwrap_or(0)],
        };
        let row = widths.iter().sum::<usize>();
        if row == 0 || !index.len().is_multiple_of(2) {
            return Err(unreadable("/Index invalide dans un flux de références"));
        }
        let mut rows = data.chunks_exact(row);
        for pair in index.chunks_exact(2) {
            let (start, count) = (pair[0], pair[1]);
            if start.saturating_add(count) > MAX_OBJECTS {
                return Err(unreadable("/Index invalide dans un flux de références"));
            }
            for num in start..start + count {
                let Some(r) = rows.next() else {
                    return Err(unreadable("flux de références tronqué"));
                };
                let field = |i: usize| -> u64 {
                    let from: usize = widths[..i].iter().sum();
                    r[from..from + widths[i]]
                        .iter()
                        .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
                };
                let kind = if widths[0] == 0 { 1 } else { field(0) };
                let entry = match kind {
                    1 => XrefEntry::InFile {
                        offset: field(1),
                        generation: u16::try_from(field(2)).unwrap_or(u16::MAX),
                    },
                    2 => XrefEntry::InStream {
                        stream: u32::try_from(field(1)).unwrap_or(u32::MAX),
                        index: u32::try_from(field(2)).unwrap_or(u32::MAX),
                    },
                    _ => XrefEntry::Free,
                };
                self.xref.entry(num as u32).or_insert(entry);
            }
        }
        Ok(())
    }
}

/// Finds the offset given by the last `startxref` of the file.
fn find_startxref(source: &dyn PdfSource, len: u64) -> Result<u64> {
    let tail_start = len.saturating_sub(2048);
    let tail = read_range(source, tail_start, 2048)?;
    let at = tail
        .windows(9)
        .rposition(|w| w == b"startxref")
        .ok_or_else(|| {
            unreadable("la fin du fichier est absente ou tronquée (pas de « startxref »)")
        })?;
    let digits: String = tail[at + 9..]
        .iter()
        .skip_while(|b| object::is_whitespace(**b))
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| char::from(b))
        .collect();
    let offset: u64 = digits
        .parse()
        .map_err(|_| unreadable("la position de la table des références est illisible"))?;
    if offset >= len {
        return Err(unreadable(
            "la table des références (startxref) est hors du fichier",
        ));
    }
    Ok(offset)
}

/// Decodes a stream's data: no filter or FlateDecode, with PNG predictors.
pub fn decode_stream(stream: &Stream) -> Result<Vec<u8>> {
    let filters: Vec<Vec<u8>> = match stream.dict.get("Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.clone()],
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|f| f.as_name().map(<[u8]>::to_vec))
            .collect(),
        Some(_) => return Err(unreadable("/Filter invalide")),
    };
    let params = match stream.dict.get("DecodeParms") {
        Some(Object::Dict(d)) => Some(d.clone()),
        Some(Object::Array(a)) => a.first().and_then(Object::as_dict).cloned(),
        _ => None,
    };
    match filters.as_slice() {
        [] => Ok(stream.data.clone()),
        [f] if f == b"FlateDecode" || f == b"Fl" => {
            let inflated = inflate(&stream.data)?;
            match params {
                Some(p) => unpredict(inflated, &p),
                None => Ok(inflated),
            }
        }
        _ => Err(unreadable("filtre de flux non pris en charge")),
    }
}

fn inflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::ZlibDecoder::new(data).take(MAX_DECODED + 1);
    match decoder.read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > MAX_DECODED => Err(unreadable("flux décompressé trop grand")),
        Ok(_) => Ok(out),
        // Truncated deflate data: keep what was decoded, as readers do.
        Err(_) if !out.is_empty() => Ok(out),
        Err(_) => Err(unreadable("flux compressé invalide")),
    }
}

/// Undoes PNG predictors (10–15); other predictors are refused.
fn unpredict(data: Vec<u8>, params: &Dict) -> Result<Vec<u8>> {
    let predictor = params
        .get("Predictor")
        .and_then(Object::as_int)
        .unwrap_or(1);
    if predictor == 1 {
        return Ok(data);
    }
    if !(10..=15).contains(&predictor) {
        return Err(unreadable("prédicteur de flux non pris en charge"));
    }
    let int = |key: &str, default: i64| {
        params
            .get(key)
            .and_then(Object::as_int)
            .unwrap_or(default)
            .clamp(1, 4096) as usize
    };
    let colors = int("Colors", 1);
    let bits = int("BitsPerComponent", 8);
    let columns = int("Columns", 1);
    let bpp = (colors * bits).div_ceil(8).max(1);
    let row_len = (colors * bits * columns).div_ceil(8);
    if row_len == 0 || row_len > MAX_PREDICTOR_ROW {
        return Err(unreadable("paramètres de prédicteur invalides"));
    }
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let (&kind, raw) = chunk.split_first().unwrap_or((&0, &[]));
        let mut row = raw.to_vec();
        row.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp { row[i - bpp] } else { 0 };
            let up = previous[i];
            let up_left = if i >= bpp { previous[i - bpp] } else { 0 };
            row[i] = row[i].wrapping_add(match kind {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                _ => return Err(unreadable("prédicteur PNG invalide")),
            });
        }
        out.extend_from_slice(&row);
        previous = row;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_pdf() {
        let err = PdfReader::open(&&b"hello world"[..]).unwrap_err();
        assert!(err.to_string().contains("n'est pas un PDF"), "{err}");
        let err = PdfReader::open(&&b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"[..]).unwrap_err();
        assert!(err.to_string().contains("startxref"), "{err}");
        let err = PdfReader::open(&&b"%PDF-1.7\nstartxref\n999999\n%%EOF\n"[..]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Ce fichier n'est pas un PDF lisible"),
            "{err}"
        );
    }

    #[test]
    fn undoes_the_png_up_predictor() {
        let mut params = Dict::new();
        params.set("Predictor", Object::Int(12));
        params.set("Columns", Object::Int(2));
        let data = vec![2, 1, 2, 2, 1, 1];
        assert_eq!(unpredict(data, &params).unwrap(), vec![1, 2, 2, 3]);
    }
}
