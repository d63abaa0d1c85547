//! A small XML tree over `quick-xml` events, made for signing: the decoded text of the file,
//! the elements with their namespaces resolved, and where each tag sits, so that a signature can
//! be inserted at byte level in the original file.
//!
//! Only UTF-8 (or ASCII) and ISO-8859-1 files are read. ISO-8859-1 is decoded as true Latin-1
//! (byte = code point), as libxml2 does, not as windows-1252: one byte is one character, so a
//! character offset is a byte offset in the original file.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::{CryptoError, Result};

/// The XML namespace, bound to `xml` in every document.
pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Deeper documents are refused: the tree is walked recursively, and no PES flow nests that far.
const MAX_DEPTH: usize = 200;

/// How the original file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Latin1,
}

impl Encoding {
    /// Writes `text` in this encoding; characters Latin-1 cannot hold become character
    /// references, which is correct in element content and attribute values (the only places
    /// where Bouquet writes free text).
    pub(crate) fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Latin1 => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    match u8::try_from(u32::from(c)) {
                        Ok(byte) => out.push(byte),
                        Err(_) => {
                            out.extend_from_slice(format!("&#x{:X};", u32::from(c)).as_bytes())
                        }
                    }
                }
                out
            }
        }
    }
}

/// A name with its namespace resolved.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    /// Prefix as written, empty if none.
    pub prefix: String,
    pub local: String,
    /// Namespace URI, empty if none.
    pub ns: String,
}

impl Name {
    pub(crate) fn qualified(&self) -> String {
        if self.prefix.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.prefix, self.local)
        }
    }

    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Attribute {
    pub name: Name,
    /// The normalised value (references resolved, whitespace characters turned into spaces).
    pub value: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Child {
    Element(usize),
    /// Character data, references resolved and line ends normalised.
    Text(String),
    /// Processing instruction: target and data.
    Pi(String, String),
}

#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub name: Name,
    /// Namespace declarations made on this element: prefix (empty = default) and URI.
    pub ns_decls: Vec<(String, String)>,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Child>,
    pub parent: Option<usize>,
    /// Offset of `<` of the start tag in the decoded text.
    pub start: usize,
    /// Offset of `</` of the end tag in the decoded text; `None` for an empty-element tag.
    pub end_tag: Option<usize>,
}

impl Element {
    pub(crate) fn attribute(&self, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.ns.is_empty() && a.name.local == local)
            .map(|a| a.value.as_str())
    }

    /// The `Id` attribute (also spelled `ID` or `id` by some producers).
    pub(crate) fn id(&self) -> Option<&str> {
        ["Id", "ID", "id"].iter().find_map(|n| self.attribute(n))
    }
}

/// A parsed document.
#[derive(Debug)]
pub(crate) struct Document {
    pub encoding: Encoding,
    /// Length of a byte-order mark skipped at the start of the file.
    bom_len: usize,
    /// The decoded text.
    pub text: String,
    pub elements: Vec<Element>,
    pub root: usize,
}

impl Document {
    /// Refuses DOCTYPEs, decodes and parses `bytes`; every error is French and says where.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Document> {
        refuse_doctype(bytes)?;
        let (encoding, bom_len) = detect_encoding(bytes)?;
        let text = decode(&bytes[bom_len..], encoding)?;
        let (elements, root) = Parser::new(&text).run()?;
        Ok(Document {
            encoding,
            bom_len,
            text,
            elements,
            root,
        })
    }

    pub(crate) fn element(&self, id: usize) -> &Element {
        &self.elements[id]
    }

    /// Byte offset in the original file of an offset in the decoded text.
    pub(crate) fn original_offset(&self, decoded: usize) -> usize {
        self.bom_len
            + match self.encoding {
                Encoding::Utf8 => decoded,
                Encoding::Latin1 => self.text[..decoded].chars().count(),
            }
    }

    /// Child elements of `id`.
    pub(crate) fn child_elements(&self, id: usize) -> impl Iterator<Item = usize> + '_ {
        self.elements[id].children.iter().filter_map(|c| match c {
            Child::Element(e) => Some(*e),
            _ => None,
        })
    }

    /// First child element of `id` named `{ns}local`.
    pub(crate) fn child(&self, id: usize, ns: &str, local: &str) -> Option<usize> {
        self.child_elements(id)
            .find(|&c| self.elements[c].name.is(ns, local))
    }

    /// All elements below `id` (itself excluded), in document order.
    pub(crate) fn all_descendants(&self, id: usize) -> Vec<usize> {
        let mut found = Vec::new();
        let mut stack: Vec<usize> = self.child_elements(id).collect();
        stack.reverse();
        while let Some(e) = stack.pop() {
            found.push(e);
            let before = stack.len();
            stack.extend(self.child_elements(e));
            stack[before..].reverse();
        }
        found
    }

    /// All elements below `id` (itself excluded), in document order, named `{ns}local`.
    pub(crate) fn descendants(&self, id: usize, ns: &str, local: &str) -> Vec<usize> {
        let mut found = self.all_descendants(id);
        found.retain(|&e| self.elements[e].name.is(ns, local));
        found
    }

    /// The text content of `id` (its text children, concatenated).
    pub(crate) fn text_of(&self, id: usize) -> String {
        self.elements[id]
            .children
            .iter()
            .filter_map(|c| match c {
                Child::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Elements whose `Id` is `value`.
    pub(crate) fn elements_with_id(&self, value: &str) -> Vec<usize> {
        (0..self.elements.len())
            .filter(|&e| self.elements[e].id() == Some(value))
            .collect()
    }

    /// Namespace declarations in scope at `id` (its own included), prefix → URI.
    pub(crate) fn namespaces_in_scope(
        &self,
        id: usize,
    ) -> std::collections::BTreeMap<String, String> {
        let mut path = vec![id];
        while let Some(parent) = self.elements[path[path.len() - 1]].parent {
            path.push(parent);
        }
        let mut scope = std::collections::BTreeMap::new();
        for &e in path.iter().rev() {
            for (prefix, uri) in &self.elements[e].ns_decls {
                scope.insert(prefix.clone(), uri.clone());
            }
        }
        scope
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn malformed_at(text: &str, offset: usize, what: &str) -> CryptoError {
    let (line, column) = line_column(text, offset);
    CryptoError::bad_input(format!(
        "Le fichier XML est mal formé (ligne {line}, colonne {column}) : {what}."
    ))
}

/// A DOCTYPE can declare external entities (XXE) or entity bombs: refused before anything else.
fn refuse_doctype(bytes: &[u8]) -> Result<()> {
    let needle = b"<!doctype";
    let found = bytes
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle));
    if found {
        return Err(CryptoError::bad_input(
            "Le fichier contient une déclaration DOCTYPE, refusée pour des raisons de sécurité.",
        ));
    }
    Ok(())
}

/// Reads the byte-order mark and the `encoding` of the XML declaration.
fn detect_encoding(bytes: &[u8]) -> Result<(Encoding, usize)> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Ok((Encoding::Utf8, 3));
    }
    if bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0, b'<'])
        || bytes.starts_with(&[b'<', 0])
    {
        return Err(unsupported_encoding("UTF-16"));
    }
    let Some(label) = declared_encoding(bytes) else {
        return Ok((Encoding::Utf8, 0));
    };
    match label.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => Ok((Encoding::Utf8, 0)),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
            Ok((Encoding::Latin1, 0))
        }
        _ => Err(unsupported_encoding(&label)),
    }
}

fn unsupported_encoding(label: &str) -> CryptoError {
    CryptoError::bad_input(format!(
        "L'encodage « {label} » du fichier n'est pas pris en charge (UTF-8 ou ISO-8859-1 attendu)."
    ))
}

/// The `encoding` pseudo-attribute of the XML declaration, if any.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let end = bytes.windows(2).position(|w| w == b"?>")?;
    let decl = String::from_utf8_lossy(&bytes[..end]);
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

fn decode(bytes: &[u8], encoding: Encoding) -> Result<String> {
    match encoding {
        Encoding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        Encoding::Utf8 => std::str::from_utf8(bytes).map(str::to_string).map_err(|e| {
            let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            let (line, column) = line_column(&valid, valid.len());
            CryptoError::bad_input(format!(
                "Le fichier n'est pas un texte UTF-8 valide (ligne {line}, colonne {column}) ; \
                     indiquez son encodage dans la déclaration XML (par exemple ISO-8859-1)."
            ))
        }),
    }
}

/// XML 1.0 end-of-line handling: CR LF and lone CR become LF.
pub(crate) fn normalize_line_ends(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// Resolves `&name;` (without `&` and `;`): the five predefined entities and character
/// references. There is no DTD, so any other entity is undefined.
fn resolve_reference(name: &str) -> Option<char> {
    let code = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse::<u32>().ok()?,
            }
        }
    };
    char::from_u32(code).filter(|&c| is_xml_char(c))
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Attribute-value normalisation for CDATA attributes (there is no DTD): line ends, then each
/// literal whitespace character becomes a space, then references are resolved.
fn attribute_value(raw: &str) -> std::result::Result<String, String> {
    let normalized = normalize_line_ends(raw);
    let mut out = String::with_capacity(normalized.len());
    let mut rest = normalized.as_str();
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or(' ');
        match c {
            '<' => return Err("caractère « < » dans la valeur d'un attribut".into()),
            '&' => {
                let end = rest[i..]
                    .find(';')
                    .ok_or_else(|| "référence « & » non terminée par « ; »".to_string())?;
                let name = &rest[i + 1..i + end];
                let resolved = resolve_reference(name)
                    .ok_or_else(|| format!("entité « &{name}; » inconnue"))?;
                out.push(resolved);
                rest = &rest[i + end + 1..];
                continue;
            }
            _ => out.push(' '),
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds the element arena from `quick-xml` events and checks what `quick-xml` leaves to us:
/// one root element, no text outside it, bound prefixes, known entities.
struct Parser<'a> {
    text: &'a str,
    elements: Vec<Element>,
    open: Vec<usize>,
    root: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            elements: Vec::new(),
            open: Vec::new(),
            root: None,
        }
    }

    fn run(mut self) -> Result<(Vec<Element>, usize)> {
        let mut reader = Reader::from_str(self.text);
        reader.config_mut().check_end_names = true;
        loop {
            let position = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = reader.read_event().map_err(|e| {
                let at = usize::try_from(reader.error_position()).unwrap_or(position);
                malformed_at(self.text, at, &describe_error(&e))
            })?;
            match event {
                Event::Start(tag) => self.open_element(&tag, position, false)?,
                Event::Empty(tag) => self.open_element(&tag, position, true)?,
                Event::End(_) => self.close_element(position),
                Event::Text(text) => {
                    let raw = text
                        .decode()
                        .map_err(|e| malformed_at(self.text, position, &e.to_string()))?;
                    self.add_text(&normalize_line_ends(&raw), position)?;
                }
                Event::CData(data) => {
                    let raw = data
                        .decode()
                        .map_err(|e| malformed_at(self.text, position, &e.to_string()))?;
                    self.add_text(&normalize_line_ends(&raw), position)?;
                }
                Event::GeneralRef(reference) => {
                    let name = reference
                        .decode()
                        .map_err(|e| malformed_at(self.text, position, &e.to_string()))?;
                    let resolved = resolve_reference(&name).ok_or_else(|| {
                        malformed_at(
                            self.text,
                            position,
                            &format!("entité « &{name}; » inconnue"),
                        )
                    })?;
                    self.add_text(&resolved.to_string(), position)?;
                }
                Event::PI(pi) => {
                    if let Some(&parent) = self.open.last() {
                        let target = String::from_utf8_lossy(pi.target()).into_owned();
                        let content = String::from_utf8_lossy(pi.content())
                            .trim_start()
                            .to_string();
                        self.elements[parent]
                            .children
                            .push(Child::Pi(target, normalize_line_ends(&content)));
                    }
                }
                Event::DocType(_) => {
                    return Err(CryptoError::bad_input(
                        "Le fichier contient une déclaration DOCTYPE, refusée pour des raisons de sécurité.",
                    ));
                }
                Event::Comment(_) | Event::Decl(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(&unclosed) = self.open.last() {
            let what = format!(
                "l'élément « {} » n'est pas fermé",
                self.elements[unclosed].name.qualified()
            );
            return Err(malformed_at(self.text, self.text.len(), &what));
        }
        let root = self.root.ok_or_else(|| {
            CryptoError::bad_input("Le fichier XML est mal formé : il ne contient aucun élément.")
        })?;
        Ok((self.elements, root))
    }

    fn open_element(&mut self, tag: &BytesStart<'_>, position: usize, empty: bool) -> Result<()> {
        let parent = self.open.last().copied();
        if parent.is_none() && self.root.is_some() {
            return Err(malformed_at(
                self.text,
                position,
                "plusieurs éléments racine",
            ));
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(malformed_at(
                self.text,
                position,
                "imbrication trop profonde",
            ));
        }
        let qname = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
        let mut ns_decls = Vec::new();
        let mut raw_attributes = Vec::new();
        for attribute in tag.attributes() {
            let attribute =
                attribute.map_err(|e| malformed_at(self.text, position, &e.to_string()))?;
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            let raw = String::from_utf8_lossy(&attribute.value).into_owned();
            let value =
                attribute_value(&raw).map_err(|what| malformed_at(self.text, position, &what))?;
            if key == "xmlns" {
                ns_decls.push((String::new(), value));
            } else if let Some(prefix) = key.strip_prefix("xmlns:") {
                ns_decls.push((prefix.to_string(), value));
            } else {
                raw_attributes.push((key, value));
            }
        }
        let id = self.elements.len();
        self.elements.push(Element {
            name: Name {
                prefix: String::new(),
                local: String::new(),
                ns: String::new(),
            },
            ns_decls,
            attributes: Vec::new(),
            children: Vec::new(),
            parent,
            start: position,
            end_tag: None,
        });
        // Resolve names once the element's own declarations are in scope.
        self.open.push(id);
        let name = self.resolve(&qname, true, position)?;
        let attributes = raw_attributes
            .into_iter()
            .map(|(key, value)| {
                Ok(Attribute {
                    name: self.resolve(&key, false, position)?,
                    value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.elements[id].name = name;
        self.elements[id].attributes = attributes;
        match parent {
            Some(p) => self.elements[p].children.push(Child::Element(id)),
            None => self.root = Some(id),
        }
        if empty {
            self.open.pop();
        }
        Ok(())
    }

    fn close_element(&mut self, position: usize) {
        if let Some(id) = self.open.pop() {
            self.elements[id].end_tag = Some(position);
        }
    }

    fn add_text(&mut self, text: &str, position: usize) -> Result<()> {
        let Some(&parent) = self.open.last() else {
            if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                return Ok(());
            }
            return Err(malformed_at(
                self.text,
                position,
                "du texte en dehors de l'élément racine",
            ));
        };
        match self.elements[parent].children.last_mut() {
            Some(Child::Text(previous)) => previous.push_str(text),
            _ => self.elements[parent]
                .children
                .push(Child::Text(text.to_string())),
        }
        Ok(())
    }

    /// Splits `qname` and finds its namespace among the open elements' declarations.
    /// Unprefixed attributes have no namespace; unprefixed elements take the default one.
    fn resolve(&self, qname: &str, is_element: bool, position: usize) -> Result<Name> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (p.to_string(), l.to_string()),
            None => (String::new(), qname.to_string()),
        };
        let ns = if prefix == "xml" {
            XML_NS.to_string()
        } else if prefix.is_empty() && !is_element {
            String::new()
        } else {
            let declared = self.open.iter().rev().find_map(|&e| {
                self.elements[e]
                    .ns_decls
                    .iter()
                    .find(|(p, _)| *p == prefix)
                    .map(|(_, uri)| uri.clone())
            });
            match declared {
                Some(uri) => uri,
                None if prefix.is_empty() => String::new(),
                None => {
                    let what =
                        format!("le préfixe d'espace de noms « {prefix} » n'est pas déclaré");
                    return Err(malformed_at(self.text, position, &what));
                }
            }
        };
        Ok(Name { prefix, local, ns })
    }
}

/// `quick-xml` errors in French, as far as their kind is known.
fn describe_error(error: &quick_xml::Error) -> String {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match error {
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("la balise fermante « {found} » ne correspond pas à « {expected} »")
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("la balise fermante « {name} » n'a pas de balise ouvrante")
        }
        quick_xml::Error::Syntax(SyntaxError::UnclosedTag) => "balise non terminée".into(),
        quick_xml::Error::Syntax(SyntaxError::UnclosedComment) => "commentaire non terminé".into(),
        quick_xml::Error::Syntax(SyntaxError::UnclosedCData) => "section CDATA non terminée".into(),
        other => format!("erreur de syntaxe ({other})"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn latin1_offsets_are_byte_offsets() {
        let bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a>\xe9t\xe9<b/></a>";
        let doc = Document::parse(bytes).unwrap();
        assert_eq!(doc.encoding, Encoding::Latin1);
        let root = doc.element(doc.root);
        assert_eq!(doc.text_of(doc.root), "été");
        let end = doc.original_offset(root.end_tag.unwrap());
        assert_eq!(&bytes[end..end + 4], b"</a>");
    }

    #[test]
    fn attribute_values_are_normalised() {
        assert_eq!(attribute_value("a\tb\r\nc&#xA;&amp;").unwrap(), "a b c\n&");
        assert!(attribute_value("a<b").is_err());
        assert!(attribute_value("&foo;").is_err());
    }

    #[test]
    fn errors_say_where() {
        let error = Document::parse(b"<a>\n  <b></c>\n</a>")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ligne 2"), "{error}");
        let error = Document::parse(b"<a><p:b/></a>").unwrap_err().to_string();
        assert!(error.contains("préfixe"), "{error}");
        let error = Document::parse(b"<a/><b/>").unwrap_err().to_string();
        assert!(error.contains("racine"), "{error}");
        let error = Document::parse(b"<a>").unwrap_err().to_string();
        assert!(error.contains("pas fermé"), "{error}");
    }

    #[test]
    fn unsupported_encodings_are_refused() {
        let error = Document::parse(b"<?xml version='1.0' encoding='Shift_JIS'?><a/>").unwrap_err();
        assert!(error.to_string().contains("Shift_JIS"));
    }
}
