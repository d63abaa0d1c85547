//! PDF objects: the model, a bounded parser and the serializer used for rewritten objects.

use std::fmt::Write as _;

/// Maximum nesting of arrays and dictionaries accepted by the parser.
const MAX_DEPTH: usize = 64;

/// A PDF object. Streams are represented by their dictionary and their raw (encoded) data.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    /// A name without its leading slash, `#xx` escapes decoded.
    Name(Vec<u8>),
    /// A string's bytes (literal or hexadecimal, escapes decoded).
    String(Vec<u8>),
    Array(Vec<Object>),
    Dict(Dict),
    Ref(ObjRef),
    Stream(Stream),
}

/// A reference to an indirect object: number and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub num: u32,
    pub generation: u16,
}

impl ObjRef {
    pub fn new(num: u32, generation: u16) -> Self {
        ObjRef { num, generation }
    }
}

/// A dictionary, keys in file order (rewritten objects keep their layout).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict(pub Vec<(Vec<u8>, Object)>);

impl Dict {
    pub fn new() -> Self {
        Dict(Vec::new())
    }

    pub fn get(&self, key: &str) -> Option<&Object> {
        self.0
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Sets `key`, replacing a present value in place or appending.
    pub fn set(&mut self, key: &str, value: Object) {
        match self.0.iter_mut().find(|(k, _)| k == key.as_bytes()) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.as_bytes().to_vec(), value)),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key.as_bytes());
    }

    /// `true` if `key` holds the name `name`.
    pub fn has_name(&self, key: &str, name: &str) -> bool {
        matches!(self.get(key), Some(Object::Name(n)) if n == name.as_bytes())
    }
}

/// A stream: its dictionary and its data exactly as stored in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub dict: Dict,
    pub data: Vec<u8>,
}

impl Object {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Object::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Integer or real, as a float.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Object::Int(i) => Some(*i as f64),
            Object::Real(r) => Some(*r),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Object::Dict(d) => Some(d),
            Object::Stream(s) => Some(&s.dict),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Object]> {
        match self {
            Object::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_ref(&self) -> Option<ObjRef> {
        match self {
            Object::Ref(r) => Some(*r),
            _ => None,
        }
    }

    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Object::Name(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<&[u8]> {
        match self {
            Object::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Why parsing stopped: the buffer ended too early (read more and retry) or the bytes are not
/// valid PDF syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    Eof,
    Syntax(String),
}

pub type ParseResult<T> = std::result::Result<T, ParseError>;

fn syntax<T>(what: impl Into<String>) -> ParseResult<T> {
    Err(ParseError::Syntax(what.into()))
}

pub fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

pub fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

/// A cursor over a byte window of the file, parsing objects.
pub struct Parser<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

/// A token that is not an object: a bare keyword such as `obj`, `R`, `stream`, `trailer`.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Object(Object),
    Keyword(&'a [u8]),
    ArrayEnd,
    DictEnd,
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Parser { buf, pos }
    }

    fn peek(&self) -> ParseResult<u8> {
        self.buf.get(self.pos).copied().ok_or(ParseError::Eof)
    }

    /// Skips whitespace and comments.
    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.buf.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads the next bare keyword, failing if the next token is something else.
    pub fn keyword(&mut self) -> ParseResult<&'a [u8]> {
        match self.token(0)? {
            Token::Keyword(k) => Ok(k),
            _ => syntax("mot-clé attendu"),
        }
    }

    /// Consumes `word` if it comes next; leaves the cursor unchanged otherwise.
    pub fn eat_keyword(&mut self, word: &[u8]) -> ParseResult<bool> {
        let save = self.pos;
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            // The word may continue after the window.
            self.pos = save;
            return Err(ParseError::Eof);
        }
        if &self.buf[start..self.pos] == word {
            Ok(true)
        } else {
            self.pos = save;
            Ok(false)
        }
    }

    /// Reads an unsigned integer token (used by xref tables and object headers).
    pub fn unsigned(&mut self) -> ParseResult<u64> {
        match self.token(0)? {
            Token::Object(Object::Int(i)) if i >= 0 => Ok(i as u64),
            _ => syntax("nombre entier attendu"),
        }
    }

    /// Parses one object (references `n g R` included).
    pub fn object(&mut self) -> ParseResult<Object> {
        self.object_at_depth(0)
    }

    fn object_at_depth(&mut self, depth: usize) -> ParseResult<Object> {
        match self.token(depth)? {
            Token::Object(Object::Int(n)) => self.maybe_reference(n),
            Token::Object(o) => Ok(o),
            Token::Keyword(k) => syntax(format!(
                "objet attendu, « {} » trouvé",
                String::from_utf8_lossy(&k[..k.len().min(20)])
            )),
            Token::ArrayEnd | Token::DictEnd => {
                syntax("fin de tableau ou de dictionnaire inattendue")
            }
        }
    }

    /// After an integer: `n g R` is a reference, anything else leaves the integer alone.
    fn maybe_reference(&mut self, n: i64) -> ParseResult<Object> {
        let save = self.pos;
        let result = (|| {
            let generation = match self.token(0)? {
                Token::Object(Object::Int(g)) => g,
                _ => return Ok(None),
            };
            match self.token(0)? {
                Token::Keyword(b"R") => Ok(Some(generation)),
                _ => Ok(None),
            }
        })();
        match result {
            Ok(Some(generation)) => {
                let num = u32::try_from(n)
                    .map_err(|_| ParseError::Syntax("numéro d'objet invalide".into()))?;
                let generation = u16::try_from(generation)
                    .map_err(|_| ParseError::Syntax("génération invalide".into()))?;
                Ok(Object::Ref(ObjRef::new(num, generation)))
            }
            Ok(None) | Err(ParseError::Syntax(_)) => {
                self.pos = save;
                Ok(Object::Int(n))
            }
            Err(ParseError::Eof) => {
                // An integer at the very end of the window may be the start of a reference.
                Err(ParseError::Eof)
            }
        }
    }

    fn token(&mut self, depth: usize) -> ParseResult<Token<'a>> {
        if depth > MAX_DEPTH {
            return syntax("imbrication trop profonde");
        }
        self.skip_ws();
        let b = self.peek()?;
        match b {
            b'/' => {
                self.pos += 1;
                Ok(Token::Object(Object::Name(self.name_body()?)))
            }
            b'(' => {
                self.pos += 1;
                Ok(Token::Object(Object::String(self.literal_string()?)))
            }
            b'<' => {
                if self.buf.get(self.pos + 1) == Some(&b'<') {
                    self.pos += 2;
                    Ok(Token::Object(Object::Dict(self.dict_body(depth + 1)?)))
                } else if self.pos + 1 >= self.buf.len() {
                    Err(ParseError::Eof)
                } else {
                    self.pos += 1;
                    Ok(Token::Object(Object::String(self.hex_string()?)))
                }
            }
            b'>' => {
                if self.buf.get(self.pos + 1) == Some(&b'>') {
                    self.pos += 2;
                    Ok(Token::DictEnd)
                } else {
                    syntax("« > » isolé")
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    match self.token(depth + 1)? {
                        Token::ArrayEnd => break,
                        Token::Object(Object::Int(n)) => items.push(self.maybe_reference(n)?),
                        Token::Object(o) => items.push(o),
                        Token::Keyword(_) | Token::DictEnd => {
                            return syntax("élément de tableau invalide");
                        }
                    }
                }
                Ok(Token::Object(Object::Array(items)))
            }
            b']' => {
                self.pos += 1;
                Ok(Token::ArrayEnd)
            }
            b'{' | b'}' | b')' => syntax("caractère inattendu"),
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number().map(Token::Object),
            _ => {
                let start = self.pos;
                while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
                    self.pos += 1;
                }
                if self.pos == self.buf.len() {
                    return Err(ParseError::Eof);
                }
                let word = &self.buf[start..self.pos];
                Ok(match word {
                    b"true" => Token::Object(Object::Bool(true)),
                    b"false" => Token::Object(Object::Bool(false)),
                    b"null" => Token::Object(Object::Null),
                    _ => Token::Keyword(word),
                })
            }
        }
    }

    fn number(&mut self) -> ParseResult<Object> {
        let start = self.pos;
        while self.pos < self.buf.len() && is_regular(self.buf[self.pos]) {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            return Err(ParseError::Eof);
        }
        let text = std::str::from_utf8(&self.buf[start..self.pos])
            .map_err(|_| ParseError::Syntax("nombre invalide".into()))?;
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Object::Int(i));
        }
        match text.parse::<f64>() {
            Ok(r) if r.is_finite() => Ok(Object::Real(r)),
            _ => {
                // Tolerate "--5" or "5-" the way readers do: take the numeric prefix, or zero.
                let cleaned: String = text
                    .chars()
                    .enumerate()
                    .filter(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-'))
                    .map(|(_, c)| c)
                    .collect();
                Ok(Object::Real(cleaned.parse::<f64>().unwrap_or(0.0)))
            }
        }
    }

    fn name_body(&mut self) -> ParseResult<Vec<u8>> {
        let mut name = Vec::new();
        loop {
            let b = self.peek()?;
            if !is_regular(b) {
                return Ok(name);
            }
            self.pos += 1;
            if b == b'#' {
                let hi = self.peek().map(hex_value)?;
                let lo = self.buf.get(self.pos + 1).copied().map(hex_value);
                match (hi, lo) {
                    (Some(h), Some(Some(l))) => {
                        name.push(h << 4 | l);
                        self.pos += 2;
                    }
                    (_, None) => return Err(ParseError::Eof),
                    _ => name.push(b'#'),
                }
            } else {
                name.push(b);
            }
            if name.len() > 4096 {
                return syntax("nom trop long");
            }
        }
    }

    fn literal_string(&mut self) -> ParseResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut level = 1usize;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'(' => {
                    level += 1;
                    out.push(b);
                }
                b')' => {
                    level -= 1;
                    if level == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek()? == b'\n' {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek()? {
                                    d @ b'0'..=b'7' => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((value & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> ParseResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            if b == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Ok(out);
            }
            if is_whitespace(b) {
                continue;
            }
            let v = hex_value(b)
                .ok_or_else(|| ParseError::Syntax("chaîne hexadécimale invalide".into()))?;
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
    }

    fn dict_body(&mut self, depth: usize) -> ParseResult<Dict> {
        let mut dict = Dict::new();
        loop {
            let key = match self.token(depth)? {
                Token::DictEnd => return Ok(dict),
                Token::Object(Object::Name(n)) => n,
                _ => return syntax("clé de dictionnaire attendue"),
            };
            let value = self.object_at_depth(depth)?;
            // A null value is the same as an absent key; the first occurrence wins.
            if value != Object::Null && !dict.0.iter().any(|(k, _)| *k == key) {
                dict.0.push((key, value));
            }
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Serializes an object (streams excepted: see [`write_stream`]).
pub fn write_object(out: &mut Vec<u8>, object: &Object) {
    match object {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        // Shortest text that reads back as the same value: rewritten objects (pages, boxes)
        // must compare equal to the originals for validators that diff revisions.
        Object::Real(r) if r.is_finite() => out.extend_from_slice(format!("{r}").as_bytes()),
        Object::Real(_) => out.push(b'0'),
        Object::Name(n) => write_name(out, n),
        Object::String(s) => write_string(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item);
            }
            out.push(b']');
        }
        Object::Dict(d) => write_dict(out, d),
        Object::Ref(r) => out.extend_from_slice(format!("{} {} R", r.num, r.generation).as_bytes()),
        Object::Stream(s) => write_stream(out, &s.dict, &s.data),
    }
}

pub fn write_dict(out: &mut Vec<u8>, dict: &Dict) {
    out.extend_from_slice(b"<<");
    for (key, value) in &dict.0 {
        write_name(out, key);
        out.push(b' ');
        write_object(out, value);
    }
    out.extend_from_slice(b">>");
}

/// Writes `dict` with `/Length` set to the data's length, then the data.
pub fn write_stream(out: &mut Vec<u8>, dict: &Dict, data: &[u8]) {
    let mut dict = dict.clone();
    dict.set("Length", Object::Int(data.len() as i64));
    write_dict(out, &dict);
    out.extend_from_slice(b"\nstream\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
}

pub fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        if b > b' ' && b < 0x7f && !is_delimiter(b) && b != b'#' {
            out.push(b);
        } else {
            let _ = write!(StrAppender(out), "#{b:02X}");
        }
    }
}

/// Writes a literal string, escaping what must be escaped.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &b in s {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.push(b')');
}

/// A text string for the document's metadata (/T, /Name, /Reason…): PDFDocEncoding when plain
/// ASCII, else UTF-16BE with its byte-order mark.
pub fn text_string(text: &str) -> Vec<u8> {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.as_bytes().to_vec()
    } else {
        let mut out = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_be_bytes());
        }
        out
    }
}

/// Decodes a text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding read as
/// Latin-1, which is exact for the characters that matter here).
pub fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

/// A number for generated content (coordinates, font sizes): at most 4 decimals.
pub fn format_real(r: f64) -> String {
    if !r.is_finite() {
        return "0".into();
    }
    let rounded = (r * 10_000.0).round() / 10_000.0;
    if rounded == rounded.trunc() && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded}")
    }
}

struct StrAppender<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for StrAppender<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Object {
        // Something after the object, as in a file: lets a number end without guessing.
        let padded = format!("{text} null ");
        Parser::new(padded.as_bytes(), 0).object().unwrap()
    }

    #[test]
    fn parses_the_basic_objects() {
        assert_eq!(parse("42 "), Object::Int(42));
        assert_eq!(parse("-3.5 "), Object::Real(-3.5));
        assert_eq!(parse("/A#20B "), Object::Name(b"A B".to_vec()));
        assert_eq!(
            parse("(a\\(b\\)\\101\\n) "),
            Object::String(b"a(b)A\n".to_vec())
        );
        assert_eq!(parse("<48 65 6c6> "), Object::String(b"Hel`".to_vec()));
        assert_eq!(parse("12 0 R "), Object::Ref(ObjRef::new(12, 0)));
        assert_eq!(
            parse("[1 2 0 R true null] "),
            Object::Array(vec![
                Object::Int(1),
                Object::Ref(ObjRef::new(2, 0)),
                Object::Bool(true),
                Object::Null
            ])
        );
        let dict = parse("<< /Type /Page /Kids [3 0 R] % comment\n /N 1 >> ");
        let dict = dict.as_dict().unwrap();
        assert!(dict.has_name("Type", "Page"));
        assert_eq!(dict.get("N"), Some(&Object::Int(1)));
    }

    #[test]
    fn reports_a_truncated_window_as_eof_and_garbage_as_syntax() {
        assert_eq!(Parser::new(b"<< /A (abc", 0).object(), Err(ParseError::Eof));
        assert_eq!(Parser::new(b"[1 2 ", 0).object(), Err(ParseError::Eof));
        assert!(matches!(
            Parser::new(b"<< 1 2 >> ", 0).object(),
            Err(ParseError::Syntax(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            Parser::new(deep.as_bytes(), 0).object(),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn round_trips_through_the_writer() {
        let source = "<</Type /Annot /T (a\\)b) /Rect [0 1.5 -2 3] /N /A#20B /P 4 0 R /B true>>";
        let object = parse(&format!("{source} "));
        let mut out = Vec::new();
        write_object(&mut out, &object);
        assert_eq!(
            parse(&format!("{} ", String::from_utf8(out).unwrap())),
            object
        );
    }

    #[test]
    fn text_strings_use_utf16_for_accents() {
        assert_eq!(text_string("Signature1"), b"Signature1");
        let t = text_string("Signé");
        assert_eq!(&t[..2], &[0xfe, 0xff]);
        assert_eq!(decode_text_string(&t), "Signé");
    }
}
