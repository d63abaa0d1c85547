//! Writing @CTES messages: ISO-8859-1, prologue `<?xml version="1.0" encoding="ISO-8859-1"?>`,
//! the `actes:`, `insee:` and `xsi:` namespaces declared on the root as in the real samples,
//! every attribute prefixed, text and attributes escaped, what Latin-1 cannot hold
//! transliterated ([`crate::transliterate`]). Values that the XSD constrains are checked first,
//! with a French error, so that a built message validates.

use jiff::civil::Date;

use crate::rules::{
    check_arrondissement, check_departement, check_email, check_numero_interne, check_objet,
    check_siren,
};
use crate::{
    Classification, CourrierPref, DonneesActe, EmetteurPref, EnveloppeCl, EnveloppePref,
    FormatError, IdActe, Message, Referent,
};

/// Namespace of `actesv1_1.xsd`.
pub const NS_ACTES: &str = "http://www.interieur.gouv.fr/ACTES#v1.1-20040216";
/// Namespace of `siret.xsd` (the `insee:SIREN` attribute).
pub const NS_INSEE: &str = "http://xml.insee.fr/schema";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Builds the XML of a message (ISO-8859-1 bytes). Fails, in French, on a value the XSD would
/// refuse (for an `Acte`, the strict NumeroInterne and objet rules), and on `Message::Unknown`.
pub fn build(message: &Message) -> Result<Vec<u8>, FormatError> {
    let mut w = Writer::new();
    let root = message.root().to_owned();
    match message {
        Message::Acte(acte) => {
            check_numero_interne(&acte.numero_interne)?;
            check_objet(&acte.objet)?;
            w.root(&root, &donnees_acte_attrs(acte));
            donnees_acte_body(&mut w, acte)?;
        }
        Message::EnveloppeCLMISILL(e) => {
            w.root(&root, &[]);
            enveloppe_cl_body(&mut w, e)?;
        }
        Message::ReponseCourrierSimple { courrier, document }
        | Message::RefusPieceComplementaire { courrier, document }
        | Message::RejetLettreObservations { courrier, document }
        | Message::ReponseLettreObservations { courrier, document }
        | Message::CourrierSimple { courrier, document } => {
            w.root(&root, &courrier_attrs(courrier)?);
            fichier(&mut w, "Document", document);
        }
        Message::ARDemandePieceComplementaire { courrier }
        | Message::ARLettreObservations { courrier } => {
            w.root(&root, &courrier_attrs(courrier)?);
        }
        Message::PieceComplementaire {
            courrier,
            documents,
        } => {
            if documents.is_empty() {
                return Err(FormatError::rule(
                    "Joignez au moins une pièce complémentaire.",
                ));
            }
            w.root(&root, &courrier_attrs(courrier)?);
            w.open("Documents", &[]);
            for d in documents {
                fichier(&mut w, "Document", d);
            }
            w.close("Documents");
        }
        Message::Annulation { id_acte } => {
            check_id(id_acte)?;
            w.root(&root, &[("actes:IDActe", id_acte.clone())]);
        }
        Message::DemandeClassification {
            date_classification,
        } => {
            w.root(&root, &[]);
            if let Some(d) = date_classification {
                w.text("DateClassification", &d.to_string());
            }
        }
        Message::EnveloppeMISILLCL(e) => {
            w.root(&root, &[]);
            enveloppe_pref_body(&mut w, e)?;
        }
        Message::ARActe {
            id_acte,
            date_reception,
            acte_recu,
            classification_date_en_cours,
        } => {
            check_id(id_acte)?;
            w.root(
                &root,
                &[
                    ("actes:IDActe", id_acte.clone()),
                    ("actes:DateReception", date_reception.to_string()),
                ],
            );
            w.open("ActeRecu", &donnees_acte_attrs(acte_recu));
            donnees_acte_body(&mut w, acte_recu)?;
            w.close("ActeRecu");
            w.text(
                "ClassificationDateVersionEnCours",
                &classification_date_en_cours.to_string(),
            );
        }
        Message::AnomalieActe {
            date,
            nature,
            detail,
            acte_recu,
            classification_date_en_cours,
        } => {
            if !(nature.len() == 3 && nature.bytes().all(|b| b.is_ascii_digit())) {
                return Err(FormatError::rule(format!(
                    "Nature d'anomalie « {nature} » non conforme : 3 chiffres."
                )));
            }
            w.root(&root, &[]);
            w.text("Date", &date.to_string());
            w.text("Nature", nature);
            if let Some(d) = detail {
                w.text("Detail", d);
            }
            w.open("ActeRecu", &donnees_acte_attrs(acte_recu));
            donnees_acte_body(&mut w, acte_recu)?;
            w.close("ActeRecu");
            w.text(
                "ClassificationDateVersionEnCours",
                &classification_date_en_cours.to_string(),
            );
        }
        Message::AnomalieEnveloppe {
            date,
            nature,
            detail,
            enveloppe_recue,
        } => {
            // Written as given, even outside the XSD's list (the real @CTES sends `999`).
            if nature.is_empty() || !nature.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FormatError::rule(format!(
                    "Nature d'anomalie « {nature} » non conforme : des chiffres."
                )));
            }
            w.root(&root, &[]);
            w.text("Date", &date.to_string());
            w.text("Nature", nature);
            if let Some(d) = detail {
                w.text("Detail", d);
            }
            w.open("EnveloppeRecue", &[]);
            enveloppe_cl_body(&mut w, enveloppe_recue)?;
            w.close("EnveloppeRecue");
        }
        Message::DemandePieceComplementaire {
            courrier,
            description_pieces,
            document,
        } => {
            w.root(&root, &courrier_attrs(courrier)?);
            w.text("DescriptionPieces", description_pieces);
            fichier(&mut w, "Document", document);
        }
        Message::ARPieceComplementaire {
            date_reception,
            courrier,
        }
        | Message::ARReponseRejetLettreObservations {
            date_reception,
            courrier,
        } => {
            w.root(
                &root,
                &[("actes:DateReception", date_reception.to_string())],
            );
            w.empty("InfosCourrierPref", &courrier_attrs(courrier)?);
        }
        Message::LettreObservations {
            courrier,
            motif,
            document,
        } => {
            w.root(&root, &courrier_attrs(courrier)?);
            w.text("Motif", motif);
            fichier(&mut w, "Document", document);
        }
        Message::DefereTA {
            id_acte,
            date_depot,
            nature_illegalite,
            pieces_jointes,
        } => {
            check_id(id_acte)?;
            w.root(&root, &[("actes:IDActe", id_acte.clone())]);
            w.text("DateDepot", &date_depot.to_string());
            w.text("NatureIllegalite", nature_illegalite);
            w.open("PiecesJointes", &[]);
            for p in pieces_jointes {
                fichier(&mut w, "PieceJointe", p);
            }
            w.close("PiecesJointes");
        }
        Message::ARAnnulation {
            id_acte,
            date_reception,
        } => {
            check_id(id_acte)?;
            w.root(
                &root,
                &[
                    ("actes:IDActe", id_acte.clone()),
                    ("actes:DateReception", date_reception.to_string()),
                ],
            );
        }
        Message::RetourClassification(c) => {
            w.root(&root, &[]);
            classification_body(&mut w, c)?;
        }
        Message::ReponseClassificationSansChangement {
            date_classification,
        } => {
            w.root(&root, &[]);
            w.text("DateClassification", &date_classification.to_string());
        }
        Message::Unknown { root, .. } => {
            return Err(FormatError::rule(format!(
                "Message « {root} » inconnu : il ne peut pas être écrit."
            )));
        }
    }
    Ok(w.finish(&root))
}

/// "18 avril 2019" ("1er" for the first day).
pub fn french_date(date: Date) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let month = MONTHS
        .get(usize::try_from(date.month() - 1).unwrap_or(0))
        .copied()
        .unwrap_or("");
    let day = if date.day() == 1 {
        "1er".to_owned()
    } else {
        date.day().to_string()
    };
    format!("{day} {month} {}", date.year())
}

fn check_id(id: &str) -> Result<(), FormatError> {
    IdActe::parse(id).map(|_| ())
}

fn courrier_attrs(c: &CourrierPref) -> Result<Vec<(&'static str, String)>, FormatError> {
    check_id(&c.id_acte)?;
    Ok(vec![
        ("actes:IDActe", c.id_acte.clone()),
        ("actes:DateCourrierPref", c.date_courrier_pref.to_string()),
    ])
}

fn donnees_acte_attrs(a: &DonneesActe) -> Vec<(&'static str, String)> {
    vec![
        ("actes:Date", a.date.to_string()),
        ("actes:NumeroInterne", a.numero_interne.clone()),
        ("actes:CodeNatureActe", a.nature.code().to_string()),
    ]
}

fn donnees_acte_body(w: &mut Writer, a: &DonneesActe) -> Result<(), FormatError> {
    if a.numero_interne.is_empty() || crate::transliterate(&a.numero_interne).chars().count() > 15 {
        return Err(FormatError::rule(
            "Le numéro de l'acte doit compter de 1 à 15 caractères.",
        ));
    }
    if crate::transliterate(&a.objet).chars().count() > 500 {
        return Err(FormatError::rule(
            "L'objet de l'acte dépasse 500 caractères.",
        ));
    }
    if a.matieres.len() < 2 || a.matieres.len() > 5 {
        return Err(FormatError::rule(
            "La matière de l'acte doit avoir de 2 à 5 niveaux (par exemple 7.1).",
        ));
    }
    for (i, code) in a.matieres.iter().enumerate() {
        w.empty(
            &format!("CodeMatiere{}", i + 1),
            &[("actes:CodeMatiere", code.to_string())],
        );
    }
    w.text("Objet", &a.objet);
    if let Some(p) = &a.precedent_id_acte {
        check_id(p)?;
        w.empty("PrecedentIdentifiantActe", &[("actes:IDActe", p.clone())]);
    }
    w.text(
        "ClassificationDateVersion",
        &a.classification_date.to_string(),
    );
    fichier(w, "Document", &a.document);
    w.open("Annexes", &[("actes:Nombre", a.annexes.len().to_string())]);
    for annexe in &a.annexes {
        fichier(w, "Annexe", annexe);
    }
    w.close("Annexes");
    match a.document_papier {
        Some(true) => w.text("DocumentPapier", "O"),
        Some(false) => w.text("DocumentPapier", "N"),
        None => w.empty("DocumentPapier", &[("xsi:nil", "true".to_owned())]),
    }
    Ok(())
}

fn fichier(w: &mut Writer, element: &str, name: &str) {
    w.open(element, &[]);
    w.text("NomFichier", name);
    w.close(element);
}

fn referent(w: &mut Writer, r: &Referent) -> Result<(), FormatError> {
    w.open("Referent", &[]);
    if let Some(nom) = &r.nom {
        w.text("Nom", nom);
    }
    if let Some(t) = &r.telephone {
        w.text("Telephone", t);
    }
    if let Some(e) = &r.email {
        check_email(e)?;
        w.text("Email", e);
    }
    w.close("Referent");
    Ok(())
}

fn formulaires(w: &mut Writer, names: &[String]) -> Result<(), FormatError> {
    if names.is_empty() {
        return Err(FormatError::rule(
            "L'enveloppe doit citer au moins un message (FormulairesEnvoyes).",
        ));
    }
    w.open("FormulairesEnvoyes", &[]);
    for n in names {
        fichier(w, "Formulaire", n);
    }
    w.close("FormulairesEnvoyes");
    Ok(())
}

fn enveloppe_cl_body(w: &mut Writer, e: &EnveloppeCl) -> Result<(), FormatError> {
    let c = &e.collectivite;
    c.check()?;
    w.open("Emetteur", &[]);
    w.empty(
        "IDCL",
        &[
            ("insee:SIREN", c.siren.clone()),
            ("actes:Departement", c.departement.clone()),
            ("actes:Arrondissement", c.arrondissement.to_string()),
            ("actes:Nature", c.nature.clone()),
        ],
    );
    if let Some(r) = &e.referent {
        referent(w, r)?;
    }
    w.close("Emetteur");
    if e.adresses_retour.is_empty() {
        return Err(FormatError::rule(
            "L'enveloppe doit donner au moins une adresse de retour.",
        ));
    }
    w.open("AdressesRetour", &[]);
    for a in &e.adresses_retour {
        check_email(a)?;
        w.text("Email", a);
    }
    w.close("AdressesRetour");
    formulaires(w, &e.formulaires)
}

fn enveloppe_pref_body(w: &mut Writer, e: &EnveloppePref) -> Result<(), FormatError> {
    w.open("Emetteur", &[]);
    match &e.emetteur {
        EmetteurPref::Sgar { departement } => {
            check_departement(departement)?;
            w.empty("IDSGAR", &[("actes:Departement", departement.clone())]);
        }
        EmetteurPref::Prefecture { departement } => {
            check_departement(departement)?;
            w.empty("IDPref", &[("actes:Departement", departement.clone())]);
        }
        EmetteurPref::SousPrefecture {
            departement,
            arrondissement,
        } => {
            check_departement(departement)?;
            check_arrondissement(*arrondissement)?;
            w.empty(
                "IDSousPref",
                &[
                    ("actes:Departement", departement.clone()),
                    ("actes:Arrondissement", arrondissement.to_string()),
                ],
            );
        }
    }
    if let Some(r) = &e.referent {
        referent(w, r)?;
    }
    w.close("Emetteur");
    formulaires(w, &e.formulaires)?;
    check_siren(&e.destinataire_siren)?;
    w.empty(
        "Destinataire",
        &[("insee:SIREN", e.destinataire_siren.clone())],
    );
    Ok(())
}

fn matiere(w: &mut Writer, m: &crate::Matiere, level: usize) {
    let name = format!("Matiere{level}");
    let attrs = [
        ("actes:CodeMatiere", m.code.to_string()),
        ("actes:Libelle", m.libelle.clone()),
    ];
    if m.sous_matieres.is_empty() || level == 5 {
        w.empty(&name, &attrs);
    } else {
        w.open(&name, &attrs);
        for s in &m.sous_matieres {
            matiere(w, s, level + 1);
        }
        w.close(&name);
    }
}

fn classification_body(w: &mut Writer, c: &Classification) -> Result<(), FormatError> {
    w.text("DateClassification", &c.date.to_string());
    if c.natures.is_empty() || c.natures.iter().any(|n| n.typologies.is_empty()) {
        return Err(FormatError::rule(
            "Chaque nature d'acte de la classification doit avoir au moins une typologie de pièce.",
        ));
    }
    if c.matieres.is_empty() || c.matieres.iter().any(|m| m.sous_matieres.is_empty()) {
        return Err(FormatError::rule(
            "Chaque matière de premier niveau doit avoir au moins une sous-matière.",
        ));
    }
    w.open("NaturesActes", &[]);
    for n in &c.natures {
        if n.type_abrege.chars().count() != 2 {
            return Err(FormatError::rule(format!(
                "Abréviation de nature « {} » non conforme : 2 lettres.",
                n.type_abrege
            )));
        }
        w.open(
            "NatureActe",
            &[
                ("actes:CodeNatureActe", n.code.to_string()),
                ("actes:Libelle", n.libelle.clone()),
                ("actes:TypeAbrege", n.type_abrege.clone()),
            ],
        );
        for t in &n.typologies {
            w.empty(
                "TypePJNatureActe",
                &[
                    ("actes:CodeTypePJ", t.code.clone()),
                    ("actes:Libelle", t.libelle.clone()),
                ],
            );
        }
        w.close("NatureActe");
    }
    w.close("NaturesActes");
    w.open("Matieres", &[]);
    for m in &c.matieres {
        matiere(w, m, 1);
    }
    w.close("Matieres");
    Ok(())
}

/// A small indenting writer into a `String` of characters ≤ U+00FF, encoded at the end.
struct Writer {
    out: String,
    depth: usize,
    /// Length of `out` right after each open start tag, to write `<x/>` when nothing follows.
    opened: Vec<usize>,
}

impl Writer {
    fn new() -> Writer {
        let mut out = String::with_capacity(2048);
        out.push_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n");
        Writer {
            out,
            depth: 0,
            opened: Vec::new(),
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.indent();
        self.out.push_str("<actes:");
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v, true);
            self.out.push('"');
        }
    }

    fn root(&mut self, name: &str, attrs: &[(&str, String)]) {
        let mut all: Vec<(&str, String)> = vec![
            ("xmlns:actes", NS_ACTES.to_owned()),
            ("xmlns:insee", NS_INSEE.to_owned()),
            ("xmlns:xsi", NS_XSI.to_owned()),
            ("xsi:schemaLocation", format!("{NS_ACTES} actesv1_1.xsd")),
        ];
        all.extend(attrs.iter().cloned());
        self.open(name, &all);
    }

    fn open(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
        self.opened.push(self.out.len());
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn text(&mut self, name: &str, text: &str) {
        self.start_tag(name, &[]);
        self.out.push('>');
        escape_into(&mut self.out, text, false);
        self.out.push_str("</actes:");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        if self.opened.pop() == Some(self.out.len()) {
            // Nothing inside: `<actes:X …/>` (an empty content type admits no whitespace).
            self.out.truncate(self.out.len() - 2);
            self.out.push_str("/>\n");
            return;
        }
        self.indent();
        self.out.push_str("</actes:");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn finish(mut self, root: &str) -> Vec<u8> {
        self.close(root);
        // Every character is ≤ U+00FF (escape_into transliterates): one byte each.
        self.out
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    }
}

/// Escapes `&`, `<`, `>` (and `"`, tab, line breaks in attributes), after transliteration.
fn escape_into(out: &mut String, value: &str, attribute: bool) {
    for c in crate::transliterate(value).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}
