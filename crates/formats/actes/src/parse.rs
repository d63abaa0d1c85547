//! Tolerant, safe reading of @CTES messages: any namespace prefix (`actes:`, `ns1:`),
//! ISO-8859-1, windows-1252 or UTF-8, no DTD (refused), a size limit, a depth limit; unknown
//! elements are skipped, a known root missing a required part is an error, an unknown root
//! is [`Message::Unknown`].

use std::borrow::Cow;

use jiff::civil::Date;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

use crate::classification::{Matiere, NatureActe, TypePiece};
use crate::{
    Classification, Collectivite, CourrierPref, DonneesActe, EmetteurPref, EnveloppeCl,
    EnveloppePref, FormatError, Message, Nature, Referent,
};

/// Largest message read (a RetourClassification is about 100 kB).
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
const MAX_DEPTH: usize = 64;

/// An element of the small tree the parser builds: local names only.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn req_attr(&self, name: &str) -> Result<&str, FormatError> {
        self.attr(name)
            .ok_or_else(|| missing(&format!("l'attribut {name} de l'élément {}", self.name)))
    }
    fn req_child(&self, name: &str) -> Result<&Node, FormatError> {
        self.child(name)
            .ok_or_else(|| missing(&format!("l'élément {name} dans {}", self.name)))
    }
    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }
    fn req_text(&self, name: &str) -> Result<String, FormatError> {
        self.text_of(name)
            .ok_or_else(|| missing(&format!("l'élément {name} dans {}", self.name)))
    }
    /// All the text below, whitespace collapsed.
    fn all_text(&self, out: &mut String) {
        for word in self.text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        for c in &self.children {
            c.all_text(out);
        }
    }
}

fn missing(what: &str) -> FormatError {
    FormatError::xml(format!("il manque {what}"))
}

/// Reads any @CTES message; see the module documentation.
pub fn parse_message(xml: &[u8]) -> Result<Message, FormatError> {
    let root = parse_tree(xml)?;
    message_from(&root)
}

/// Decodes the bytes to text according to the BOM or the XML declaration.
pub(crate) fn decode(xml: &[u8]) -> Result<Cow<'_, str>, FormatError> {
    if xml.len() > MAX_MESSAGE_SIZE {
        return Err(FormatError::TooLarge {
            size: xml.len() as u64,
            max: MAX_MESSAGE_SIZE as u64,
        });
    }
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(xml) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&xml[bom..]);
        if had_errors {
            return Err(FormatError::xml(format!(
                "octets invalides pour l'encodage {}",
                encoding.name()
            )));
        }
        return Ok(text);
    }
    let label = declared_encoding(xml);
    let label = label.as_deref().map(str::to_ascii_lowercase);
    match label.as_deref() {
        None | Some("utf-8") | Some("utf8") => {
            std::str::from_utf8(xml).map(Cow::Borrowed).map_err(|e| {
                FormatError::xml(format!(
                    "le document n'est pas en UTF-8 valide (octet {})",
                    e.valid_up_to()
                ))
            })
        }
        // Byte = code point, as libxml2 reads it (encoding_rs maps this label to windows-1252).
        Some(
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100"
            | "cp819",
        ) => Ok(Cow::Owned(xml.iter().map(|&b| char::from(b)).collect())),
        Some(other) => {
            let encoding = encoding_rs::Encoding::for_label(other.as_bytes()).ok_or_else(|| {
                FormatError::xml(format!("encodage « {other} » non pris en charge"))
            })?;
            let (text, had_errors) = encoding.decode_without_bom_handling(xml);
            if had_errors {
                return Err(FormatError::xml(format!(
                    "octets invalides pour l'encodage {other}"
                )));
            }
            Ok(text)
        }
    }
}

/// The `encoding="…"` of the XML declaration, if any (read as ASCII).
fn declared_encoding(xml: &[u8]) -> Option<String> {
    let head = xml.get(..xml.len().min(256))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = &rest[1..];
    Some(rest[..rest.find(quote)?].trim().to_owned())
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.into_owned(),
    }
}

/// Parses the document into a tree of local names. Refuses a DOCTYPE and undefined entities.
pub(crate) fn parse_tree(xml: &[u8]) -> Result<Node, FormatError> {
    let text = decode(xml)?;
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let at = |reader: &quick_xml::Reader<&[u8]>| line_of(&text, reader.buffer_position() as usize);
    loop {
        let event = reader.read_event().map_err(|e| {
            FormatError::xml(format!(
                "ligne {} : {e}",
                line_of(&text, reader.error_position() as usize)
            ))
        })?;
        match event {
            Event::DocType(_) => return Err(FormatError::Doctype),
            Event::Start(e) => {
                let node = open(&e, &reader, &text, stack.len(), root.is_some())?;
                stack.push(node);
            }
            Event::Empty(e) => {
                let node = open(&e, &reader, &text, stack.len(), root.is_some())?;
                stack.push(node);
                close(&mut stack, &mut root);
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                let content = t
                    .xml10_content()
                    .map_err(|e| FormatError::xml(e.to_string()))?;
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(FormatError::xml(format!(
                            "ligne {} : texte hors de l'élément racine",
                            at(&reader)
                        )));
                    }
                }
            }
            Event::CData(t) => {
                let content = t
                    .xml10_content()
                    .map_err(|e| FormatError::xml(e.to_string()))?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&content);
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        let name = r.decode().map_err(|e| FormatError::xml(e.to_string()))?;
                        match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(FormatError::xml(format!(
                                    "ligne {} : entité « &{other}; » non définie (seules les entités prédéfinies sont admises)",
                                    at(&reader)
                                )));
                            }
                        }
                    }
                    Err(e) => return Err(FormatError::xml(format!("ligne {} : {e}", at(&reader)))),
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push(c);
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(FormatError::xml(
            "document incomplet : des éléments ne sont pas fermés",
        ));
    }
    root.ok_or_else(|| FormatError::xml("aucun élément racine"))
}

fn open(
    e: &quick_xml::events::BytesStart<'_>,
    reader: &quick_xml::Reader<&[u8]>,
    text: &str,
    depth: usize,
    after_root: bool,
) -> Result<Node, FormatError> {
    let at = || line_of(text, reader.buffer_position() as usize);
    if after_root {
        return Err(FormatError::xml(format!(
            "ligne {} : contenu après l'élément racine",
            at()
        )));
    }
    if depth >= MAX_DEPTH {
        return Err(FormatError::xml("éléments imbriqués trop profondément"));
    }
    let mut node = Node {
        name: local(e.name().as_ref()),
        ..Node::default()
    };
    for attr in e.attributes().with_checks(true) {
        let attr = attr.map_err(|err| {
            FormatError::xml(format!("ligne {} : attribut illisible ({err})", at()))
        })?;
        let key = attr.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let value = attr
            .decoded_and_normalized_value(XmlVersion::Implicit1_0, reader.decoder())
            .map_err(|err| {
                FormatError::xml(format!("ligne {} : attribut illisible ({err})", at()))
            })?;
        node.attrs.push((local(key), value.into_owned()));
    }
    Ok(node)
}

fn close(stack: &mut Vec<Node>, root: &mut Option<Node>) {
    if let Some(node) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => *root = Some(node),
        }
    }
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()
        .get(..pos.min(text.len()))
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

fn date(s: &str, what: &str) -> Result<Date, FormatError> {
    s.trim()
        .parse::<Date>()
        .map_err(|_| FormatError::xml(format!("date « {s} » illisible ({what})")))
}

fn date_attr(node: &Node, name: &str) -> Result<Date, FormatError> {
    date(node.req_attr(name)?, name)
}

fn date_text(node: &Node, name: &str) -> Result<Date, FormatError> {
    date(&node.req_text(name)?, name)
}

fn file_name(node: &Node) -> Result<String, FormatError> {
    node.req_text("NomFichier")
}

fn courrier(node: &Node) -> Result<CourrierPref, FormatError> {
    Ok(CourrierPref {
        id_acte: node.req_attr("IDActe")?.trim().to_owned(),
        date_courrier_pref: date_attr(node, "DateCourrierPref")?,
    })
}

fn document(node: &Node) -> Result<String, FormatError> {
    file_name(node.req_child("Document")?)
}

pub(crate) fn donnees_acte(node: &Node) -> Result<DonneesActe, FormatError> {
    let code = node.req_attr("CodeNatureActe")?.trim();
    let nature = code
        .parse::<u32>()
        .ok()
        .and_then(Nature::from_code)
        .ok_or_else(|| FormatError::xml(format!("code nature d'acte « {code} » inconnu")))?;
    let mut matieres = Vec::new();
    for level in 1..=5 {
        if let Some(m) = node.child(&format!("CodeMatiere{level}")) {
            let v = m.req_attr("CodeMatiere")?.trim();
            matieres.push(
                v.parse::<u32>()
                    .map_err(|_| FormatError::xml(format!("code matière « {v} » illisible")))?,
            );
        }
    }
    let annexes = match node.child("Annexes") {
        Some(a) => a
            .children("Annexe")
            .map(file_name)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let document_papier = node
        .child("DocumentPapier")
        .and_then(|d| match d.text.trim() {
            "O" | "o" | "1" | "true" => Some(true),
            "N" | "n" | "0" | "false" => Some(false),
            _ => None,
        });
    Ok(DonneesActe {
        date: date_attr(node, "Date")?,
        numero_interne: node.req_attr("NumeroInterne")?.to_owned(),
        nature,
        matieres,
        objet: node
            .child("Objet")
            .map(|o| o.text.clone())
            .ok_or_else(|| missing("l'objet de l'acte"))?,
        precedent_id_acte: match node.child("PrecedentIdentifiantActe") {
            Some(p) => Some(p.req_attr("IDActe")?.trim().to_owned()),
            None => None,
        },
        classification_date: date_text(node, "ClassificationDateVersion")?,
        document: document(node)?,
        annexes,
        document_papier,
    })
}

fn referent(node: &Node) -> Option<Referent> {
    node.child("Referent").map(|r| Referent {
        nom: r.text_of("Nom"),
        telephone: r.text_of("Telephone"),
        email: r.text_of("Email"),
    })
}

fn formulaires(node: &Node) -> Result<Vec<String>, FormatError> {
    node.req_child("FormulairesEnvoyes")?
        .children("Formulaire")
        .map(file_name)
        .collect()
}

fn arrondissement(node: &Node) -> Result<u8, FormatError> {
    let v = node.req_attr("Arrondissement")?.trim();
    v.parse::<u8>()
        .map_err(|_| FormatError::xml(format!("arrondissement « {v} » illisible")))
}

pub(crate) fn enveloppe_cl(node: &Node) -> Result<EnveloppeCl, FormatError> {
    let emetteur = node.req_child("Emetteur")?;
    let idcl = emetteur.req_child("IDCL")?;
    Ok(EnveloppeCl {
        collectivite: Collectivite {
            siren: idcl.req_attr("SIREN")?.trim().to_owned(),
            departement: idcl.req_attr("Departement")?.trim().to_owned(),
            arrondissement: arrondissement(idcl)?,
            nature: idcl.req_attr("Nature")?.trim().to_owned(),
        },
        referent: referent(emetteur),
        adresses_retour: node
            .child("AdressesRetour")
            .map(|a| {
                a.children("Email")
                    .map(|e| e.text.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        formulaires: formulaires(node)?,
    })
}

fn enveloppe_pref(node: &Node) -> Result<EnveloppePref, FormatError> {
    let emetteur = node.req_child("Emetteur")?;
    let dept = |n: &Node| n.req_attr("Departement").map(|d| d.trim().to_owned());
    let who = if let Some(n) = emetteur.child("IDSousPref") {
        EmetteurPref::SousPrefecture {
            departement: dept(n)?,
            arrondissement: arrondissement(n)?,
        }
    } else if let Some(n) = emetteur.child("IDPref") {
        EmetteurPref::Prefecture {
            departement: dept(n)?,
        }
    } else if let Some(n) = emetteur.child("IDSGAR") {
        EmetteurPref::Sgar {
            departement: dept(n)?,
        }
    } else {
        return Err(missing(
            "l'identifiant de la préfecture émettrice (IDPref, IDSousPref ou IDSGAR)",
        ));
    };
    Ok(EnveloppePref {
        emetteur: who,
        referent: referent(emetteur),
        formulaires: formulaires(node)?,
        destinataire_siren: node
            .req_child("Destinataire")?
            .req_attr("SIREN")?
            .trim()
            .to_owned(),
    })
}

fn matiere(node: &Node, level: usize) -> Result<Matiere, FormatError> {
    let code = node.req_attr("CodeMatiere")?.trim();
    let sous_matieres = if level < 5 {
        node.children(&format!("Matiere{}", level + 1))
            .map(|c| matiere(c, level + 1))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    Ok(Matiere {
        code: code
            .parse()
            .map_err(|_| FormatError::xml(format!("code matière « {code} » illisible")))?,
        libelle: node.attr("Libelle").unwrap_or_default().trim().to_owned(),
        sous_matieres,
    })
}

pub(crate) fn classification(node: &Node) -> Result<Classification, FormatError> {
    let natures = node
        .req_child("NaturesActes")?
        .children("NatureActe")
        .map(|n| {
            let code = n.attr("CodeNatureActe").unwrap_or_default().trim();
            let type_abrege = n.attr("TypeAbrege").unwrap_or_default().trim().to_owned();
            let code = match code.parse::<u32>() {
                Ok(c) => c,
                Err(_) => Nature::from_abbrev(&type_abrege)
                    .map(|n| u32::from(n.code()))
                    .ok_or_else(|| {
                        FormatError::xml(format!("code nature d'acte « {code} » illisible"))
                    })?,
            };
            Ok(NatureActe {
                code,
                libelle: n.attr("Libelle").unwrap_or_default().trim().to_owned(),
                type_abrege,
                typologies: n
                    .children("TypePJNatureActe")
                    .map(|t| {
                        Ok(TypePiece {
                            code: t.req_attr("CodeTypePJ")?.trim().to_owned(),
                            libelle: t.attr("Libelle").unwrap_or_default().trim().to_owned(),
                        })
                    })
                    .collect::<Result<Vec<_>, FormatError>>()?,
            })
        })
        .collect::<Result<Vec<_>, FormatError>>()?;
    let matieres = node
        .req_child("Matieres")?
        .children("Matiere1")
        .map(|m| matiere(m, 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Classification {
        date: date_text(node, "DateClassification")?,
        natures,
        matieres,
    })
}

fn message_from(root: &Node) -> Result<Message, FormatError> {
    let n = root;
    Ok(match n.name.as_str() {
        "Acte" => Message::Acte(donnees_acte(n)?),
        "EnveloppeCLMISILL" => Message::EnveloppeCLMISILL(enveloppe_cl(n)?),
        "ReponseCourrierSimple" => Message::ReponseCourrierSimple {
            courrier: courrier(n)?,
            document: document(n)?,
        },
        "ARDemandePieceComplementaire" => Message::ARDemandePieceComplementaire {
            courrier: courrier(n)?,
        },
        "RefusPieceComplementaire" => Message::RefusPieceComplementaire {
            courrier: courrier(n)?,
            document: document(n)?,
        },
        "PieceComplementaire" => Message::PieceComplementaire {
            courrier: courrier(n)?,
            documents: n
                .req_child("Documents")?
                .children("Document")
                .map(file_name)
                .collect::<Result<_, _>>()?,
        },
        "ARLettreObservations" => Message::ARLettreObservations {
            courrier: courrier(n)?,
        },
        "RejetLettreObservations" => Message::RejetLettreObservations {
            courrier: courrier(n)?,
            document: document(n)?,
        },
        "ReponseLettreObservations" => Message::ReponseLettreObservations {
            courrier: courrier(n)?,
            document: document(n)?,
        },
        "Annulation" => Message::Annulation {
            id_acte: n.req_attr("IDActe")?.trim().to_owned(),
        },
        "DemandeClassification" => Message::DemandeClassification {
            date_classification: match n.text_of("DateClassification") {
                Some(d) => Some(date(&d, "DateClassification")?),
                None => None,
            },
        },
        "EnveloppeMISILLCL" => Message::EnveloppeMISILLCL(enveloppe_pref(n)?),
        "ARActe" => Message::ARActe {
            id_acte: n.req_attr("IDActe")?.trim().to_owned(),
            date_reception: date_attr(n, "DateReception")?,
            acte_recu: donnees_acte(n.req_child("ActeRecu")?)?,
            classification_date_en_cours: date_text(n, "ClassificationDateVersionEnCours")?,
        },
        "AnomalieActe" => Message::AnomalieActe {
            date: date_text(n, "Date")?,
            nature: n.req_text("Nature")?,
            detail: n.text_of("Detail"),
            acte_recu: donnees_acte(n.req_child("ActeRecu")?)?,
            classification_date_en_cours: date_text(n, "ClassificationDateVersionEnCours")?,
        },
        "AnomalieEnveloppe" => Message::AnomalieEnveloppe {
            date: date_text(n, "Date")?,
            nature: n.req_text("Nature")?,
            detail: n.text_of("Detail"),
            enveloppe_recue: enveloppe_cl(n.req_child("EnveloppeRecue")?)?,
        },
        "CourrierSimple" => Message::CourrierSimple {
            courrier: courrier(n)?,
            document: document(n)?,
        },
        "DemandePieceComplementaire" => Message::DemandePieceComplementaire {
            courrier: courrier(n)?,
            description_pieces: n.req_text("DescriptionPieces")?,
            document: document(n)?,
        },
        "ARPieceComplementaire" => Message::ARPieceComplementaire {
            date_reception: date_attr(n, "DateReception")?,
            courrier: courrier(n.req_child("InfosCourrierPref")?)?,
        },
        "LettreObservations" => Message::LettreObservations {
            courrier: courrier(n)?,
            motif: n.req_text("Motif")?,
            document: document(n)?,
        },
        "ARReponseRejetLettreObservations" => Message::ARReponseRejetLettreObservations {
            date_reception: date_attr(n, "DateReception")?,
            courrier: courrier(n.req_child("InfosCourrierPref")?)?,
        },
        "DefereTA" => Message::DefereTA {
            id_acte: n.req_attr("IDActe")?.trim().to_owned(),
            date_depot: date_text(n, "DateDepot")?,
            nature_illegalite: n.req_text("NatureIllegalite")?,
            pieces_jointes: match n.child("PiecesJointes") {
                Some(p) => p
                    .children("PieceJointe")
                    .map(file_name)
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
        },
        "ARAnnulation" => Message::ARAnnulation {
            id_acte: n.req_attr("IDActe")?.trim().to_owned(),
            date_reception: date_attr(n, "DateReception")?,
        },
        "RetourClassification" => Message::RetourClassification(classification(n)?),
        "ReponseClassificationSansChangement" => Message::ReponseClassificationSansChangement {
            date_classification: date_text(n, "DateClassification")?,
        },
        other => {
            let mut text = String::new();
            n.all_text(&mut text);
            Message::Unknown {
                root: other.to_owned(),
                text,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_encodings() {
        assert_eq!(
            declared_encoding(b"<?xml version='1.0' encoding='ISO-8859-1' ?><a/>").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(
            declared_encoding(b"<?xml version=\"1.0\" encoding = \"utf-8\"?><a/>").as_deref(),
            Some("utf-8")
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?><a/>"), None);
        assert_eq!(declared_encoding(b"<a/>"), None);
        assert_eq!(
            decode(b"\xef\xbb\xbf<a>\xc3\xa9</a>").as_deref(),
            Ok("<a>é</a>"),
            "UTF-8 BOM"
        );
        assert_eq!(
            decode(b"\xff\xfe<\0a\0/\0>\0").as_deref(),
            Ok("<a/>"),
            "UTF-16 BOM"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let xml = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(
            parse_message(xml.as_bytes())
                .expect_err("too deep")
                .to_string()
                .contains("profondément")
        );
        let xml = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse_message(xml.as_bytes()).is_ok());
    }
}
