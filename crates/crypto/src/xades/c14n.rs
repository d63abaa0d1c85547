//! XML canonicalisation 1.0 without comments, exclusive (W3C exc-c14n, what Bouquet signs with)
//! and inclusive (C14N 1.0, met in older third-party signatures), over a [`Document`] subtree.
//!
//! The document subset is always "one element and its descendants, minus at most one element"
//! (the enveloped signature), which is all XML-DSig same-document references need here.

use std::collections::{BTreeMap, BTreeSet};

use super::document::{Child, Document, Element, XML_NS};

pub(crate) const EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const INCLUSIVE: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";

/// Which canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    /// Exclusive, with the `InclusiveNamespaces PrefixList` prefixes (`#default` = default).
    Exclusive(Vec<String>),
    Inclusive,
}

impl Method {
    /// The method named by an XML-DSig algorithm URI, without comments only.
    pub(crate) fn from_uri(uri: &str) -> Option<Method> {
        match uri {
            EXCLUSIVE => Some(Method::Exclusive(Vec::new())),
            INCLUSIVE => Some(Method::Inclusive),
            _ => None,
        }
    }
}

/// Canonical form of the element `apex` and its descendants, `excluded` (and its descendants)
/// left out.
pub(crate) fn canonicalize(
    doc: &Document,
    apex: usize,
    excluded: Option<usize>,
    method: &Method,
) -> String {
    let mut out = String::new();
    let in_scope = match doc.element(apex).parent {
        Some(parent) => doc.namespaces_in_scope(parent),
        None => BTreeMap::new(),
    };
    let inherited_xml_attributes = match method {
        Method::Inclusive => inherited_xml_attributes(doc, apex),
        Method::Exclusive(_) => Vec::new(),
    };
    let writer = Writer {
        doc,
        excluded,
        method,
    };
    writer.element(
        apex,
        &in_scope,
        &BTreeMap::new(),
        &inherited_xml_attributes,
        &mut out,
    );
    out
}

/// Inclusive C14N of a subset: the apex inherits the `xml:*` attributes of its ancestors.
fn inherited_xml_attributes(doc: &Document, apex: usize) -> Vec<(String, String)> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    let mut current = doc.element(apex).parent;
    while let Some(e) = current {
        for a in &doc.element(e).attributes {
            if a.name.ns == XML_NS {
                found.entry(a.name.local.clone()).or_insert(a.value.clone());
            }
        }
        current = doc.element(e).parent;
    }
    let own = &doc.element(apex).attributes;
    found
        .into_iter()
        .filter(|(local, _)| {
            !own.iter()
                .any(|a| a.name.ns == XML_NS && a.name.local == *local)
        })
        .collect()
}

struct Writer<'a> {
    doc: &'a Document,
    excluded: Option<usize>,
    method: &'a Method,
}

impl Writer<'_> {
    /// `in_scope`: namespaces declared on the ancestors; `rendered`: namespaces the output
    /// ancestors already carry.
    fn element(
        &self,
        id: usize,
        in_scope: &BTreeMap<String, String>,
        rendered: &BTreeMap<String, String>,
        extra_xml_attributes: &[(String, String)],
        out: &mut String,
    ) {
        let element = self.doc.element(id);
        let mut in_scope = in_scope.clone();
        for (prefix, uri) in &element.ns_decls {
            in_scope.insert(prefix.clone(), uri.clone());
        }
        let mut rendered = rendered.clone();
        let qname = element.name.qualified();
        out.push('<');
        out.push_str(&qname);
        for prefix in self.candidate_prefixes(element, &in_scope) {
            let uri = in_scope.get(&prefix).map_or("", String::as_str);
            let already = rendered.get(&prefix).map_or("", String::as_str);
            let needed = if prefix.is_empty() {
                uri != already
            } else {
                rendered.get(&prefix).map(String::as_str) != Some(uri)
            };
            if !needed {
                continue;
            }
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(&prefix);
                out.push_str("=\"");
            }
            escape_attribute(uri, out);
            out.push('"');
            rendered.insert(prefix, uri.to_string());
        }
        let mut attributes: Vec<(&str, &str, String, &str)> = element
            .attributes
            .iter()
            .map(|a| {
                (
                    a.name.ns.as_str(),
                    a.name.local.as_str(),
                    a.name.qualified(),
                    a.value.as_str(),
                )
            })
            .collect();
        for (local, value) in extra_xml_attributes {
            attributes.push((XML_NS, local, format!("xml:{local}"), value));
        }
        attributes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, name, value) in attributes {
            out.push(' ');
            out.push_str(&name);
            out.push_str("=\"");
            escape_attribute(value, out);
            out.push('"');
        }
        out.push('>');
        for child in &element.children {
            match child {
                Child::Element(c) if Some(*c) == self.excluded => {}
                Child::Element(c) => self.element(*c, &in_scope, &rendered, &[], out),
                Child::Text(text) => escape_text(text, out),
                Child::Pi(target, data) => {
                    out.push_str("<?");
                    out.push_str(target);
                    if !data.is_empty() {
                        out.push(' ');
                        out.push_str(data);
                    }
                    out.push_str("?>");
                }
            }
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }

    /// The namespace prefixes that may be rendered on `element`, sorted (default first):
    /// exclusive = visibly utilised ones plus the PrefixList; inclusive = all in scope.
    fn candidate_prefixes(
        &self,
        element: &Element,
        in_scope: &BTreeMap<String, String>,
    ) -> BTreeSet<String> {
        let mut prefixes = BTreeSet::new();
        match self.method {
            Method::Inclusive => prefixes.extend(in_scope.keys().cloned()),
            Method::Exclusive(inclusive_prefixes) => {
                prefixes.insert(element.name.prefix.clone());
                for a in &element.attributes {
                    if !a.name.prefix.is_empty() {
                        prefixes.insert(a.name.prefix.clone());
                    }
                }
                for p in inclusive_prefixes {
                    let p = if p == "#default" { "" } else { p.as_str() };
                    if in_scope.contains_key(p) {
                        prefixes.insert(p.to_string());
                    }
                }
            }
        }
        prefixes.remove("xml");
        prefixes
    }
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `xmllint --exc-c14n` (or `--c14n`) makes of `xml`, as bytes.
    fn xmllint(xml: &[u8], flag: &str) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("bouquet-c14n-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{:x}.xml", sha256_prefix(xml)));
        std::fs::write(&file, xml).unwrap();
        let output = Command::new("xmllint")
            .arg(flag)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn sha256_prefix(data: &[u8]) -> u64 {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        u64::from_be_bytes(digest.as_ref()[..8].try_into().unwrap())
    }

    fn ours(xml: &[u8], method: &Method) -> String {
        let doc = Document::parse(xml).unwrap();
        canonicalize(&doc, doc.root, None, method)
    }

    /// Documents without comments or nodes outside the root: there xmllint's whole-document
    /// canonical form equals the root element's.
    const CASES: &[&[u8]] = &[
        b"<a><b/></a>",
        b"<?xml version=\"1.0\"?>\r\n<a  z=\"1\" b='2'   a=\"3\"><b>x</b></a>",
        b"<r xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\"><p:x q:a=\"1\" b=\"2\"><y/></p:x><z xmlns=\"\"/></r>",
        b"<r xmlns:p=\"urn:p\"><p:a><p:b xmlns:p=\"urn:p2\"><c xmlns=\"urn:c\"><d/></c></p:b></p:a></r>",
        b"<a t=\"&lt;&amp;&gt;&quot;&#9;&#10;&#13;x\ty\">&lt;&amp;&gt;&quot;&apos;&#13;\r\n\r<![CDATA[<&>]]>&#x20AC;</a>",
        b"<a xmlns:b=\"urn:b\" xmlns:a=\"urn:a\" b:z=\"1\" a:z=\"2\" z=\"3\" a:y=\"4\"/>",
        b"<a>\n  text  <b>  spaced </b>\n\t<?pi data?>\n</a>",
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a v=\"\xe9\xe8\">\xc0 \xe7a \xa0</a>",
        b"<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" xml:lang=\"fr\"><ds:SignedInfo xml:space=\"preserve\"/></ds:Signature>",
    ];

    #[test]
    fn exclusive_matches_xmllint() {
        for case in CASES {
            let expected = xmllint(case, "--exc-c14n");
            let got = ours(case, &Method::Exclusive(Vec::new()));
            assert_eq!(
                got,
                String::from_utf8(expected).unwrap(),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn inclusive_matches_xmllint() {
        for case in CASES {
            let expected = xmllint(case, "--c14n");
            let got = ours(case, &Method::Inclusive);
            assert_eq!(
                got,
                String::from_utf8(expected).unwrap(),
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    /// A subtree whose namespaces are declared on its ancestors, compared with xmllint run on
    /// the subtree cut out with the declarations it uses.
    #[test]
    fn subtree_takes_only_utilised_namespaces_from_ancestors() {
        let xml = b"<n:R xmlns:n=\"urn:n\" xmlns:ds=\"urn:ds\" xmlns=\"urn:d\" xmlns:u=\"urn:u\" xml:lang=\"fr\"><B Id=\"b1\"><ds:S/>\n <C u:a=\"1\">t</C></B></n:R>";
        let doc = Document::parse(xml).unwrap();
        let b = doc.elements_with_id("b1")[0];
        let signature = doc.child(b, "urn:ds", "S").unwrap();
        let exclusive = canonicalize(&doc, b, Some(signature), &Method::Exclusive(Vec::new()));
        assert_eq!(
            exclusive,
            "<B xmlns=\"urn:d\" Id=\"b1\">\n <C xmlns:u=\"urn:u\" u:a=\"1\">t</C></B>"
        );
        let with_prefix_list = canonicalize(&doc, b, None, &Method::Exclusive(vec!["n".into()]));
        assert!(with_prefix_list.starts_with(
            "<B xmlns=\"urn:d\" xmlns:n=\"urn:n\" Id=\"b1\"><ds:S xmlns:ds=\"urn:ds\"></ds:S>"
        ));
        let inclusive = canonicalize(&doc, b, Some(signature), &Method::Inclusive);
        assert_eq!(
            inclusive,
            "<B xmlns=\"urn:d\" xmlns:ds=\"urn:ds\" xmlns:n=\"urn:n\" xmlns:u=\"urn:u\" Id=\"b1\" xml:lang=\"fr\">\n <C u:a=\"1\">t</C></B>"
        );
    }

    #[test]
    fn comments_are_dropped() {
        let got = ours(
            b"<a><!-- c --><b/><!--d--></a>",
            &Method::Exclusive(Vec::new()),
        );
        assert_eq!(got, "<a><b></b></a>");
    }
}
