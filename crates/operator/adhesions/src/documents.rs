//! Engagement documents: the PDF that a member signs with the operator (a convention or a
//! charter), filled from a template chosen by the kind of signatory.
//!
//! The PDF is tagged and declared PDF/UA-1 and PDF/A-2a: krilla checks what it can of both
//! standards while writing and refuses to produce a non-conforming file, which [`render`]
//! reports as [`DocumentError::Pdf`]. The semantic part (headings tagged as headings, the
//! signatures as a table, footers as artifacts, reading order) is ours, below.
//!
//! Text is laid out here, not by krilla: each character is mapped to a glyph of the embedded
//! DejaVu Sans through the font's character map, and lines are measured with its advance
//! widths (no kerning, no ligatures: the width measured is exactly the width drawn).
//!
//! # Layout
//!
//! - [`Template`]: the four templates, their codes and titles, the default one for a kind of
//!   organisation and who may sign which ([`Template::eligible`]).
//! - [`EngagementData`], [`Party`]: what a document is filled with; [`render`] makes the PDF
//!   and fails with a [`DocumentError`] (French messages).
//! - `content`: the French text of each template, as blocks (title, headings, paragraphs,
//!   lists, the signature table).
//! - French typography: `typo` (no-break spaces before « : ; ! ? % » and inside guillemets),
//!   `date_fr` ("1er janvier 2026"), `thousands` ("8 807").
//! - `Face`, `break_lines`: the embedded fonts and the greedy line breaker.
//! - `layout`: blocks → rows → A4 pages (2 cm margins), keeping a heading with what follows
//!   and the signature table in one piece.
//! - `write_pdf`: draws the pages with krilla (footer "Page 1 sur 2" and the reference as
//!   artifacts), then attaches the tag tree, the outline and the metadata.

use std::collections::BTreeMap;
use std::num::NonZeroU16;

use bouquet_kernel::OrgKind;
use jiff::civil::Date;
use krilla::color::luma;
use krilla::configure::{Accessibility, Archival, ConfigurationBuilder};
use krilla::destination::XyzDestination;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata};
use krilla::outline::{Outline, OutlineNode};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Identifier, ListNumbering, Node, SpanTag, TableHeaderScope,
    Tag, TagGroup, TagTree,
};
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Document, SerializeSettings};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::TableProvider;
use skrifa::{FontRef, MetadataProvider};

// ---------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------

/// The template of an engagement, by kind of signatory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Template {
    /// For EPCI, départements and régions, which adhere to the operator.
    ConventionMembre,
    /// For communes, CCAS and CIAS, whose access is covered by their EPCI.
    CharteUtilisation,
    /// For communes under 2,000 inhabitants: the offer financed at 80 % by the EU.
    CharteMairieConnectee,
    /// For other public bodies (syndicats…).
    ConventionAutre,
}

/// The population under which a commune may join « Mairie connectée » (strictly less).
pub const MAIRIE_CONNECTEE_MAX_POPULATION: i64 = 2_000;

impl Template {
    pub const ALL: [Template; 4] = [
        Template::ConventionMembre,
        Template::CharteUtilisation,
        Template::CharteMairieConnectee,
        Template::ConventionAutre,
    ];

    /// A stable code, for the database and URLs.
    pub fn code(self) -> &'static str {
        match self {
            Template::ConventionMembre => "convention_membre",
            Template::CharteUtilisation => "charte_utilisation",
            Template::CharteMairieConnectee => "charte_mairie_connectee",
            Template::ConventionAutre => "convention_autre",
        }
    }

    /// The title, with plain spaces (the PDF applies French spacing, see `typo`).
    pub fn title(self) -> &'static str {
        match self {
            Template::ConventionMembre => "Convention d'adhésion au bouquet de services numériques",
            Template::CharteUtilisation => "Charte d'utilisation des services numériques",
            Template::CharteMairieConnectee => {
                "Charte de fonctionnement de l'offre de services numériques essentiels « Mairie connectée »"
            }
            Template::ConventionAutre => "Convention d'accès aux services numériques",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Template::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The template an organisation of this kind signs by default; `None` for the operator
    /// and for companies, which sign none. A commune under 2,000 inhabitants gets the charte
    /// d'utilisation too: « Mairie connectée » is an offer it chooses.
    pub fn for_kind(kind: OrgKind) -> Option<Template> {
        match kind {
            OrgKind::Region
            | OrgKind::Departement
            | OrgKind::Cc
            | OrgKind::Ca
            | OrgKind::Cu
            | OrgKind::Metropole => Some(Template::ConventionMembre),
            OrgKind::Commune | OrgKind::Ccas | OrgKind::Cias => Some(Template::CharteUtilisation),
            OrgKind::Syndicat | OrgKind::AutrePublic => Some(Template::ConventionAutre),
            OrgKind::Operateur | OrgKind::Entreprise => None,
        }
    }

    /// Whether an organisation of `kind` (with its population totale, when known) may sign
    /// this template; the French reason when not.
    pub fn eligible(self, kind: OrgKind, population: Option<i64>) -> Result<(), &'static str> {
        if matches!(kind, OrgKind::Operateur | OrgKind::Entreprise) {
            return Err("L'opérateur et les entreprises ne signent pas d'engagement.");
        }
        match self {
            Template::ConventionMembre => {
                if kind.is_epci() || matches!(kind, OrgKind::Departement | OrgKind::Region) {
                    Ok(())
                } else {
                    Err(
                        "La convention d'adhésion est réservée aux EPCI à fiscalité propre, aux départements et aux régions.",
                    )
                }
            }
            Template::CharteUtilisation => {
                if matches!(kind, OrgKind::Commune | OrgKind::Ccas | OrgKind::Cias) {
                    Ok(())
                } else {
                    Err("La charte d'utilisation est réservée aux communes, aux CCAS et aux CIAS.")
                }
            }
            Template::CharteMairieConnectee => match (kind, population) {
                (OrgKind::Commune, Some(p)) if p < MAIRIE_CONNECTEE_MAX_POPULATION => Ok(()),
                (OrgKind::Commune, Some(_)) => Err(
                    "L'offre « Mairie connectée » est réservée aux communes de moins de 2 000 habitants.",
                ),
                (OrgKind::Commune, None) => Err(
                    "La population de la commune n'est pas connue : l'offre « Mairie connectée » est réservée aux communes de moins de 2 000 habitants.",
                ),
                _ => Err("L'offre « Mairie connectée » est réservée aux communes."),
            },
            Template::ConventionAutre => {
                if matches!(kind, OrgKind::Syndicat | OrgKind::AutrePublic) {
                    Ok(())
                } else {
                    Err(
                        "La convention d'accès est réservée aux syndicats et aux autres organismes publics.",
                    )
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Data and errors
// ---------------------------------------------------------------------------------------

/// One party to the engagement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub siren: String,
    /// The kind as French readers know it ("Commune", "Communauté de communes"…).
    pub kind_label: String,
    /// One line ("1 place de l'Église, 35240 Arbrissel").
    pub address: Option<String>,
}

/// Everything a document is filled with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngagementData {
    pub template: Template,
    pub operator: Party,
    pub member: Party,
    /// The EPCI of a commune, CCAS or CIAS, named in the charters.
    pub epci: Option<Party>,
    /// Population totale and the year it is in force.
    pub population: Option<(i64, i32)>,
    /// French labels of the services subscribed ("Actes", "Parapheur"…).
    pub services: Vec<String>,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    /// « Mairie connectée »: first and last day of the period financed at 80 % by the EU.
    pub eu_funding: Option<(Date, Date)>,
    /// Printed under the title and in the footer of every page ("CH-2026-0042").
    pub reference: String,
    /// The date of "Fait le …", also the PDF's creation date.
    pub made_on: Date,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("Le document ne peut pas être établi : {0}")]
    Invalid(&'static str),
    #[error(
        "Le caractère « {0} » (U+{code:04X}) ne peut pas être imprimé avec la police du document.",
        code = u32::from(*.0)
    )]
    MissingGlyph(char),
    #[error("La police intégrée au programme est illisible.")]
    Font,
    #[error("Le PDF n'a pas pu être produit : {0}")]
    Pdf(String),
}

// ---------------------------------------------------------------------------------------
// French typography
// ---------------------------------------------------------------------------------------

const NBSP: char = '\u{a0}';
/// Espace fine insécable.
const NNBSP: char = '\u{202f}';

/// French spacing: the plain space before « : » and » and after « becomes a no-break space,
/// the one before « ; ! ? % » and between groups of digits ("2 000") a narrow no-break
/// space, so that a line never starts with them. Template texts are written with plain
/// spaces and go through this.
fn typo(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c != ' ' {
            out.push(c);
            continue;
        }
        let next = chars.get(i + 1).copied();
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        // "2 000": a digit, then a group of exactly three digits.
        let digit = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
        let thousands_group =
            prev.is_some_and(|p| p.is_ascii_digit()) && (i + 1..i + 4).all(digit) && !digit(i + 4);
        out.push(match (prev, next) {
            (_, Some(':' | '»')) | (Some('«'), _) => NBSP,
            (_, Some(';' | '!' | '?' | '%')) => NNBSP,
            _ if thousands_group => NNBSP,
            _ => ' ',
        });
    }
    out
}

/// "23 novembre 2026", "1er janvier 2026", held together by no-break spaces.
fn date_fr(d: Date) -> String {
    let month = match d.month() {
        1 => "janvier",
        2 => "février",
        3 => "mars",
        4 => "avril",
        5 => "mai",
        6 => "juin",
        7 => "juillet",
        8 => "août",
        9 => "septembre",
        10 => "octobre",
        11 => "novembre",
        _ => "décembre",
    };
    let day = if d.day() == 1 {
        "1er".to_owned()
    } else {
        d.day().to_string()
    };
    format!("{day}{NBSP}{month}{NBSP}{}", d.year())
}

/// "8 807", with a narrow no-break space.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NNBSP);
        }
        out.push(c);
    }
    out
}

/// "Commune" → "commune", to use a kind label inside a sentence.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------

/// A block of the document, in reading order. Texts are final (after `typo`).
#[derive(Clone, Debug, PartialEq)]
enum Block {
    /// The document title (H1).
    Title(String),
    /// An article heading (H2).
    Heading(String),
    /// A paragraph; `keep_with_next` keeps it on the page of the block that follows.
    Para { text: String, keep_with_next: bool },
    /// A paragraph in smaller type (the reference under the title).
    Small(String),
    /// A bulleted list.
    List(Vec<String>),
    /// The signature table: the header of the member's column ("Pour le membre"), the two
    /// parties' names.
    Signatures {
        member_header: String,
        member: String,
        operator: String,
    },
}

/// How the text names the member: "le membre", or "la commune" in « Mairie connectée ».
struct Who {
    le: &'static str,
    le_cap: &'static str,
    du: &'static str,
    au: &'static str,
}

const MEMBRE: Who = Who {
    le: "le membre",
    le_cap: "Le membre",
    du: "du membre",
    au: "au membre",
};
const COMMUNE: Who = Who {
    le: "la commune",
    le_cap: "La commune",
    du: "de la commune",
    au: "à la commune",
};

/// Builds the blocks, numbering the articles.
struct Builder {
    blocks: Vec<Block>,
    article: u32,
}

impl Builder {
    fn article(&mut self, title: &str) {
        self.article += 1;
        self.blocks.push(Block::Heading(typo(&format!(
            "Article {} – {title}",
            self.article
        ))));
    }

    fn para(&mut self, text: &str) {
        self.blocks.push(Block::Para {
            text: typo(text),
            keep_with_next: false,
        });
    }

    /// A paragraph that introduces a list: kept with its first items.
    fn intro(&mut self, text: &str) {
        self.blocks.push(Block::Para {
            text: typo(text),
            keep_with_next: true,
        });
    }

    fn list(&mut self, items: &[String]) {
        self.blocks
            .push(Block::List(items.iter().map(|i| typo(i)).collect()));
    }
}

fn party_line(p: &Party) -> String {
    let mut line = format!(
        "{}, {}, SIREN {}",
        p.name.trim(),
        lower_first(p.kind_label.trim()),
        p.siren.trim()
    );
    if let Some(address) = p
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        line.push_str(", ");
        line.push_str(address);
    }
    line
}

/// "CC Roche aux Fées Communauté (SIREN 243500634)", or a generic wording when unknown.
fn epci_name(data: &EngagementData) -> String {
    match &data.epci {
        Some(e) => format!("{} (SIREN {})", e.name.trim(), e.siren.trim()),
        None => "l'établissement public de coopération intercommunale dont il relève".to_owned(),
    }
}

fn content(data: &EngagementData) -> Vec<Block> {
    let template = data.template;
    let who = if template == Template::CharteMairieConnectee {
        &COMMUNE
    } else {
        &MEMBRE
    };
    let mut b = Builder {
        blocks: Vec::new(),
        article: 0,
    };
    b.blocks.push(Block::Title(typo(template.title())));
    b.blocks.push(Block::Small(typo(&format!(
        "Référence : {}",
        data.reference.trim()
    ))));

    // The parties.
    b.para("Entre les soussignés :");
    b.para(&format!(
        "{}, ci-après « l'opérateur », d'une part,",
        party_line(&data.operator)
    ));
    b.para("et");
    let mut member = party_line(&data.member);
    if let Some((population, year)) = data.population {
        member.push_str(&format!(
            ", population totale {} habitants ({year})",
            thousands(population)
        ));
    }
    if data.epci.is_some() && template != Template::ConventionMembre {
        member.push_str(&format!(", membre de {}", epci_name(data)));
    }
    b.para(&format!("{member}, ci-après « {} », d'autre part,", who.le));
    b.para("il est convenu ce qui suit.");

    // Article 1: objet.
    b.article("Objet");
    match template {
        Template::ConventionMembre => {
            b.para("La présente convention fixe les conditions dans lesquelles le membre adhère au bouquet de services numériques mutualisés que l'opérateur met à la disposition des collectivités et établissements publics de son territoire, ainsi que les engagements réciproques des parties.");
            b.para("Lorsque le membre est un établissement public de coopération intercommunale à fiscalité propre, son adhésion ouvre l'accès au bouquet à ses communes membres et à leurs centres communaux d'action sociale, qui signent chacun la charte d'utilisation des services numériques.");
        }
        Template::CharteUtilisation => {
            b.para(&format!("La présente charte fixe les conditions dans lesquelles le membre utilise les services numériques du bouquet que l'opérateur met à la disposition des collectivités et établissements publics de son territoire, au titre de l'adhésion de {}.", epci_name(data)));
        }
        Template::CharteMairieConnectee => {
            let epci = match &data.epci {
                Some(_) => format!(", en lien avec {}", epci_name(data)),
                None => String::new(),
            };
            b.para(&format!("La présente charte fixe les conditions dans lesquelles la commune bénéficie de l'offre de services numériques essentiels « Mairie connectée », que l'opérateur propose aux communes de moins de 2 000 habitants de son territoire{epci}. L'offre réunit les services numériques dont une mairie a besoin au quotidien et l'accompagnement nécessaire à leur prise en main."));
        }
        Template::ConventionAutre => {
            b.para("La présente convention fixe les conditions dans lesquelles le membre, organisme public qui n'adhère pas au syndicat mixte, accède aux services numériques du bouquet, ainsi que les engagements réciproques des parties.");
        }
    }

    // Article 2: the operator's commitments.
    b.article("Engagements de l'opérateur");
    b.intro("L'opérateur s'engage à :");
    let mut operator_items = vec![
        format!(
            "mettre à la disposition {} les services mentionnés à l'article 4, hébergés en France, et en assurer l'exploitation, la sécurité, la sauvegarde et l'évolution ;",
            who.du
        ),
        "assurer l'assistance des utilisateurs les jours ouvrés et la formation des référents ;"
            .to_owned(),
        format!(
            "informer {} avec un préavis raisonnable de toute évolution substantielle d'un service et de toute interruption programmée ;",
            who.le
        ),
    ];
    if template == Template::CharteMairieConnectee {
        operator_items.push("assurer la mise en service de l'offre et une formation sur place des agents et des élus ;".to_owned());
        operator_items.push("justifier auprès de l'autorité de gestion des fonds européens les dépenses de l'opération ;".to_owned());
    }
    operator_items.push(format!(
        "rendre compte chaque année {} de l'usage des services et de la qualité du service rendu.",
        who.au
    ));
    b.list(&operator_items);

    // Article 3: the member's commitments.
    b.article(if template == Template::CharteMairieConnectee {
        "Engagements de la commune"
    } else {
        "Engagements du membre"
    });
    b.intro(&format!("{} s'engage à :", who.le_cap));
    let mut member_items = vec![
        "désigner au moins un référent, interlocuteur de l'opérateur pour l'ensemble des services ;".to_owned(),
        "tenir à jour la liste de ses utilisateurs et retirer sans délai l'accès des personnes qui quittent leurs fonctions ;".to_owned(),
        "utiliser les services conformément à leur destination et aux conditions générales d'utilisation de la plateforme ;".to_owned(),
    ];
    if template == Template::CharteMairieConnectee {
        member_items.push("utiliser effectivement les services pendant toute la période de financement et participer aux formations ;".to_owned());
        member_items.push("répondre aux enquêtes de suivi et conserver les pièces justificatives que demande le contrôle du financement européen ;".to_owned());
        member_items.push("faire mention du soutien de l'Union européenne dans sa communication relative à l'offre ;".to_owned());
    }
    member_items.push("signaler sans délai à l'opérateur tout incident de sécurité ou tout usage anormal dont il a connaissance.".to_owned());
    b.list(&member_items);

    // Article 4: the services.
    b.article("Services concernés");
    let services: Vec<String> = data
        .services
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if services.is_empty() {
        b.para(&format!(
            "À la date de signature, aucun service n'est encore ouvert {}.",
            who.au
        ));
    } else {
        b.intro(&format!(
            "À la date de signature, {} accède aux services suivants :",
            who.le
        ));
        b.list(&services);
    }
    b.para(&format!("{} demande l'ouverture ou la fermeture d'un service depuis la plateforme, où la liste à jour des services ouverts est consultable à tout moment ; cette liste évolue sans avenant au présent document.", who.le_cap));

    // Durée et résiliation, then financement (in the other order for Mairie connectée,
    // where the funded period frames the duration).
    let doc = if matches!(
        template,
        Template::ConventionMembre | Template::ConventionAutre
    ) {
        "convention"
    } else {
        "charte"
    };
    let end = match data.ends_on {
        Some(end) => format!(" et prend fin le {}", date_fr(end)),
        None => " pour une durée indéterminée".to_owned(),
    };
    let restitution = format!(
        "À la fin de la {doc}, l'opérateur restitue {} ses données, à sa demande, dans un format ouvert et lisible par machine, puis les supprime dans un délai de trois mois, sous réserve des obligations légales de conservation et d'archivage.",
        who.au
    );
    if let (Template::CharteMairieConnectee, Some((from, to))) = (template, data.eu_funding) {
        let epci = match &data.epci {
            Some(_) => epci_name(data),
            None => "son établissement public de coopération intercommunale".to_owned(),
        };
        b.article("Financement");
        b.para(&format!("L'offre est financée à 80 % par l'Union européenne, au titre du Fonds européen de développement régional (FEDER) dans le cadre de REACT-EU, pour la période du {} au {}. Les 20 % restants sont à la charge de la commune ; leur montant est fixé par délibération du comité syndical et appelé chaque année par l'opérateur.", date_fr(from), date_fr(to)));
        b.para(&format!("Au terme de la période de financement, la commune conserve l'accès aux services dans les conditions de la charte d'utilisation des services numériques : cet accès est alors couvert par la contribution annuelle de {epci}, et la commune ne verse rien au titre du bouquet lui-même."));
        b.article("Durée et résiliation");
        b.para(&format!("La présente charte prend effet le {}{end}. La période de financement européen s'étend du {} au {}. La commune qui quitte l'offre avant le terme de cette période en informe l'opérateur par courrier, avec un préavis d'un mois ; la part communale de l'année en cours reste due.", date_fr(data.starts_on), date_fr(from), date_fr(to)));
        b.para(&restitution);
    } else {
        b.article("Durée et résiliation");
        let termination = if template == Template::CharteUtilisation {
            "Elle prend fin de plein droit si l'adhésion dont elle procède cesse. Le membre peut y mettre fin à tout moment par courrier adressé à l'opérateur, avec un préavis d'un mois."
        } else {
            "Chaque partie peut la résilier par lettre recommandée avec accusé de réception : la résiliation prend effet le 31 décembre de l'année en cours si elle est notifiée avant le 30 septembre, le 31 décembre de l'année suivante sinon."
        };
        let article = if doc == "convention" {
            "La présente convention"
        } else {
            "La présente charte"
        };
        b.para(&format!(
            "{article} prend effet le {}{end}. {termination}",
            date_fr(data.starts_on)
        ));
        b.para(&restitution);
        b.article("Financement");
        match template {
            Template::ConventionMembre => {
                b.para("En contrepartie de l'accès au bouquet, le membre verse à l'opérateur une contribution annuelle dont le montant est fixé chaque année par délibération du comité syndical, selon le barème en vigueur.");
                b.para("Lorsque le membre est un établissement public de coopération intercommunale à fiscalité propre, cette contribution couvre l'accès de ses communes membres et de leurs centres communaux d'action sociale aux services du bouquet : ceux-ci ne versent aucune contribution au titre du bouquet lui-même.");
            }
            Template::CharteUtilisation => {
                b.para(&format!("L'accès du membre aux services du bouquet est couvert par la contribution annuelle que verse à l'opérateur {}. Le membre ne verse aucune contribution au titre du bouquet lui-même.", epci_name(data)));
            }
            _ => {
                b.para("L'accès aux services donne lieu au versement par le membre d'une contribution annuelle, fixée par délibération du comité syndical selon le barème applicable aux organismes qui n'adhèrent pas au syndicat mixte et selon les services ouverts. Elle est appelée chaque année par l'opérateur, au prorata de la durée d'accès la première année.");
            }
        }
        b.para("Les prestations complémentaires (formation sur site, reprise de données, développements particuliers) font l'objet d'un devis distinct, accepté au préalable.");
    }

    // Données personnelles.
    b.article("Protection des données personnelles");
    b.intro(&format!("Pour les traitements de données à caractère personnel mis en œuvre au moyen des services, {} est responsable de traitement et l'opérateur agit en qualité de sous-traitant au sens de l'article 28 du règlement (UE) 2016/679 du 27 avril 2016 (RGPD). À ce titre, l'opérateur :", who.le));
    b.list(&[
        format!("ne traite les données que sur instruction documentée {} et pour les seules finalités des services ;", who.du),
        "garantit la confidentialité des données et veille à ce que les personnes autorisées à les traiter s'y soient engagées ;".to_owned(),
        "met en œuvre les mesures techniques et organisationnelles propres à assurer leur sécurité, et héberge les données dans l'Union européenne ;".to_owned(),
        format!("notifie {} toute violation de données dans les 48 heures après en avoir pris connaissance ;", who.au),
        format!("aide {} à répondre aux demandes d'exercice des droits des personnes concernées et, le cas échéant, à réaliser les analyses d'impact ;", who.le),
        format!("ne recourt à un autre sous-traitant qu'avec l'autorisation écrite préalable {} et tient à sa disposition la liste de ses sous-traitants.", who.du),
    ]);

    // Litiges.
    b.article("Litiges");
    b.para(&format!("Les parties recherchent une solution amiable à tout différend relatif à la présente {doc}. À défaut, le différend est porté devant le tribunal administratif territorialement compétent."));

    b.blocks.push(Block::Para {
        text: typo(&format!("Fait le {}.", date_fr(data.made_on))),
        keep_with_next: true,
    });
    b.blocks.push(Block::Signatures {
        member_header: format!("Pour {}", who.le),
        member: typo(data.member.name.trim()),
        operator: typo(data.operator.name.trim()),
    });
    b.blocks
}

// ---------------------------------------------------------------------------------------
// Fonts and line breaking
// ---------------------------------------------------------------------------------------

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// One embedded font: krilla's handle to draw with, skrifa's tables to measure with.
struct Face {
    font: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Result<Face, DocumentError> {
        let font = Font::new(data.into(), 0).ok_or(DocumentError::Font)?;
        let font_ref = FontRef::new(data).map_err(|_| DocumentError::Font)?;
        let units_per_em = f32::from(
            font_ref
                .head()
                .map_err(|_| DocumentError::Font)?
                .units_per_em(),
        );
        Ok(Face {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
        })
    }

    /// The glyph of `c` and its advance in ems.
    fn glyph(&self, c: char) -> Option<(GlyphId, f32)> {
        let id = self.charmap.map(c)?;
        let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
        Some((GlyphId::new(id.to_u32()), advance))
    }

    /// The width of `text` at `size` points. A character without a glyph counts as the
    /// width of "M": `glyphs` refuses it later with a proper error.
    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| {
                self.glyph(c)
                    .or_else(|| self.glyph('M'))
                    .map_or(0.0, |(_, advance)| advance)
            })
            .sum::<f32>()
            * size
    }

    /// One glyph per character (no shaping: Latin text needs none), each pointing back to
    /// its character so that the PDF's text can be extracted and read aloud.
    fn glyphs(&self, text: &str) -> Result<Vec<KrillaGlyph>, DocumentError> {
        text.char_indices()
            .map(|(at, c)| {
                let (id, advance) = self.glyph(c).ok_or(DocumentError::MissingGlyph(c))?;
                Ok(KrillaGlyph::new(
                    id,
                    advance,
                    0.0,
                    0.0,
                    0.0,
                    at..at + c.len_utf8(),
                    None,
                ))
            })
            .collect()
    }
}

struct Faces {
    regular: Face,
    bold: Face,
}

impl Faces {
    fn load() -> Result<Faces, DocumentError> {
        Ok(Faces {
            regular: Face::load(REGULAR)?,
            bold: Face::load(BOLD)?,
        })
    }

    fn get(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Greedy line breaking: each line takes as many words as fit in `max_width`, words being
/// separated by plain spaces (U+0020) only, so that no-break spaces hold; `\n` forces a
/// break. A word wider than a line is cut between characters. `width` measures a piece of
/// text; widths add up (the layout draws without kerning), so a line's width is the sum of
/// its words and spaces.
fn break_lines(text: &str, max_width: f32, width: &dyn Fn(&str) -> f32) -> Vec<String> {
    let space = width(" ");
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_width = 0.0;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let word_width = width(word);
            if !line.is_empty() {
                if line_width + space + word_width <= max_width {
                    line.push(' ');
                    line.push_str(word);
                    line_width += space + word_width;
                    continue;
                }
                lines.push(std::mem::take(&mut line));
            }
            if word_width <= max_width {
                line.push_str(word);
                line_width = word_width;
            } else {
                // Cut the word; each piece takes at least one character, so this ends.
                line_width = 0.0;
                let mut buf = [0; 4];
                for c in word.chars() {
                    let w = width(c.encode_utf8(&mut buf));
                    if !line.is_empty() && line_width + w > max_width {
                        lines.push(std::mem::take(&mut line));
                        line_width = 0.0;
                    }
                    line.push(c);
                    line_width += w;
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------

/// A4 in points, and 2 cm margins.
const PAGE_WIDTH: f32 = 595.276;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.693;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const BODY_BOTTOM: f32 = PAGE_HEIGHT - MARGIN;
/// Baseline of the footer, 1.2 cm above the bottom edge.
const FOOTER_BASELINE: f32 = PAGE_HEIGHT - 34.0;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Style {
    bold: bool,
    size: f32,
    leading: f32,
}

const TITLE: Style = Style {
    bold: true,
    size: 16.0,
    leading: 20.0,
};
const HEADING: Style = Style {
    bold: true,
    size: 10.5,
    leading: 14.0,
};
const BODY: Style = Style {
    bold: false,
    size: 9.5,
    leading: 12.8,
};
const BODY_BOLD: Style = Style { bold: true, ..BODY };
const SMALL: Style = Style {
    bold: false,
    size: 8.5,
    leading: 11.5,
};
const FOOTER_SIZE: f32 = 8.0;

/// Where a line belongs in the tag tree: its block, and the part of the block (list item
/// label or body, table cell).
type Slot = (usize, usize);

/// A run of text on one baseline, relative to the top-left of its row.
#[derive(Clone, Debug)]
struct Piece {
    dx: f32,
    baseline: f32,
    style: Style,
    text: String,
    slot: Slot,
}

/// A decorative line (table borders, signature lines), relative to its row.
#[derive(Clone, Copy, Debug)]
struct Rule {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

fn rule(x1: f32, y1: f32, x2: f32, y2: f32) -> Rule {
    Rule { x1, y1, x2, y2 }
}

/// The unit of pagination: a page break may fall between rows, never inside one.
#[derive(Clone, Debug, Default)]
struct Row {
    height: f32,
    pieces: Vec<Piece>,
    rules: Vec<Rule>,
}

impl Row {
    fn line(style: Style, dx: f32, text: String, slot: Slot) -> Row {
        Row {
            height: style.leading,
            pieces: vec![Piece {
                dx,
                baseline: baseline(style),
                style,
                text,
                slot,
            }],
            rules: Vec::new(),
        }
    }
}

/// The baseline of a line in its leading: the leading's extra space is shared above and
/// below, the ascent of DejaVu Sans being about 0.93 em and its descent 0.24 em.
fn baseline(style: Style) -> f32 {
    (style.leading - 1.17 * style.size) / 2.0 + 0.93 * style.size
}

/// A block made into rows, with the space around it.
struct Prepared {
    rows: Vec<Row>,
    space_before: f32,
    space_after: f32,
    keep_with_next: bool,
}

fn prepare(faces: &Faces, index: usize, block: &Block) -> Prepared {
    let lines = |style: Style, width: f32, text: &str| {
        let face = faces.get(style.bold);
        break_lines(text, width, &|t| face.width(t, style.size))
    };
    let simple = |style: Style, text: &str| -> Vec<Row> {
        lines(style, CONTENT_WIDTH, text)
            .into_iter()
            .map(|l| Row::line(style, 0.0, l, (index, 0)))
            .collect()
    };
    match block {
        Block::Title(text) => Prepared {
            rows: simple(TITLE, text),
            space_before: 0.0,
            space_after: 4.0,
            keep_with_next: true,
        },
        Block::Small(text) => Prepared {
            rows: simple(SMALL, text),
            space_before: 0.0,
            space_after: 12.0,
            keep_with_next: false,
        },
        Block::Heading(text) => Prepared {
            rows: simple(HEADING, text),
            space_before: 8.0,
            space_after: 2.0,
            keep_with_next: true,
        },
        Block::Para {
            text,
            keep_with_next,
        } => Prepared {
            rows: simple(BODY, text),
            space_before: 0.0,
            space_after: 4.5,
            keep_with_next: *keep_with_next,
        },
        Block::List(items) => {
            const INDENT: f32 = 14.0;
            let mut rows = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let body = lines(BODY, CONTENT_WIDTH - INDENT, item);
                for (j, line) in body.into_iter().enumerate() {
                    let mut row = Row::line(BODY, INDENT, line, (index, 2 * i + 1));
                    if j == 0 {
                        row.pieces.insert(
                            0,
                            Piece {
                                dx: 3.0,
                                baseline: baseline(BODY),
                                style: BODY,
                                text: "•".to_owned(),
                                slot: (index, 2 * i),
                            },
                        );
                    }
                    rows.push(row);
                }
            }
            Prepared {
                rows,
                space_before: 0.0,
                space_after: 4.5,
                keep_with_next: false,
            }
        }
        Block::Signatures {
            member_header,
            member,
            operator,
        } => Prepared {
            rows: vec![signature_table(
                faces,
                index,
                [(member_header, member), ("Pour l'opérateur", operator)],
            )],
            space_before: 4.0,
            space_after: 0.0,
            keep_with_next: false,
        },
    }
}

/// Two columns, "Pour le membre" and "Pour l'opérateur" (header, party's name), each with
/// the fields to fill in by hand. One row: it is never split across pages.
fn signature_table(faces: &Faces, index: usize, columns: [(&str, &str); 2]) -> Row {
    const PAD: f32 = 6.0;
    const HEADER: f32 = 20.0;
    const FIELD: f32 = 20.0;
    const SIGNATURE_SPACE: f32 = 52.0;
    let column = CONTENT_WIDTH / 2.0;
    let inner = column - 2.0 * PAD;
    let mut row = Row::default();
    let mut body_height: f32 = 0.0;
    for (c, (header, name)) in columns.iter().enumerate() {
        let x = c as f32 * column + PAD;
        row.pieces.push(Piece {
            dx: x,
            baseline: (HEADER - BODY.size) / 2.0 + 0.8 * BODY.size,
            style: BODY_BOLD,
            text: (*header).to_owned(),
            slot: (index, c),
        });
        let body_slot = (index, 2 + c);
        let mut y = HEADER + PAD;
        let face = faces.get(true);
        for line in break_lines(name, inner, &|t| face.width(t, BODY.size)) {
            row.pieces.push(Piece {
                dx: x,
                baseline: y + baseline(BODY),
                style: BODY_BOLD,
                text: line,
                slot: body_slot,
            });
            y += BODY.leading;
        }
        for label in ["Nom :", "Qualité :", "Date :", "Signature :"] {
            y += FIELD - BODY.leading;
            let text = typo(label);
            let base = y + baseline(BODY);
            let label_width = faces.get(false).width(&text, BODY.size);
            if label != "Signature :" {
                row.rules.push(rule(
                    x + label_width + 4.0,
                    base + 2.0,
                    x + inner,
                    base + 2.0,
                ));
            }
            row.pieces.push(Piece {
                dx: x,
                baseline: base,
                style: BODY,
                text,
                slot: body_slot,
            });
            y += BODY.leading;
        }
        body_height = body_height.max(y + SIGNATURE_SPACE);
    }
    row.height = body_height;
    // Borders: the frame, the line under the headers, the line between the columns.
    let (w, h) = (CONTENT_WIDTH, body_height);
    row.rules.extend([
        rule(0.0, 0.0, w, 0.0),
        rule(0.0, h, w, h),
        rule(0.0, 0.0, 0.0, h),
        rule(w, 0.0, w, h),
        rule(column, 0.0, column, h),
        rule(0.0, HEADER, w, HEADER),
    ]);
    row
}

/// A line placed on a page, in page coordinates (origin top-left, y down).
#[derive(Clone, Debug)]
struct Placed {
    x: f32,
    baseline: f32,
    style: Style,
    text: String,
    slot: Slot,
}

#[derive(Debug, Default)]
struct PageContent {
    lines: Vec<Placed>,
    rules: Vec<Rule>,
}

struct Laid {
    pages: Vec<PageContent>,
    /// For the outline: block index, page index and top of its first line.
    anchors: Vec<(usize, usize, f32)>,
}

fn layout(faces: &Faces, blocks: &[Block]) -> Laid {
    let prepared: Vec<Prepared> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| prepare(faces, i, b))
        .collect();
    let mut pages = vec![PageContent::default()];
    let mut y = MARGIN;
    let mut anchors = Vec::new();
    for (i, block) in prepared.iter().enumerate() {
        let at_top = |y: f32| y <= MARGIN;
        if !at_top(y) {
            y += block.space_before;
        }
        // What must fit before starting the block: its first two rows (no orphan line), or
        // the whole block and the start of the next one when it is kept with it.
        let mut needed: f32 = block.rows.iter().take(2).map(|r| r.height).sum();
        if block.keep_with_next {
            needed = block.rows.iter().map(|r| r.height).sum::<f32>() + block.space_after;
            if let Some(next) = prepared.get(i + 1) {
                needed +=
                    next.space_before + next.rows.iter().take(2).map(|r| r.height).sum::<f32>();
            }
        }
        if y + needed > BODY_BOTTOM && !at_top(y) {
            pages.push(PageContent::default());
            y = MARGIN;
        }
        if matches!(blocks.get(i), Some(Block::Title(_) | Block::Heading(_))) {
            anchors.push((i, pages.len() - 1, y));
        }
        let n = block.rows.len();
        for (k, row) in block.rows.iter().enumerate() {
            // No widow: when only the last line of a long block would go over, the last
            // two go together.
            let widow = n >= 4
                && k == n - 2
                && block.rows.get(n - 1).is_some_and(|last| {
                    y + row.height <= BODY_BOTTOM && y + row.height + last.height > BODY_BOTTOM
                });
            if (widow || y + row.height > BODY_BOTTOM) && !at_top(y) {
                pages.push(PageContent::default());
                y = MARGIN;
            }
            let Some(page) = pages.last_mut() else {
                break;
            };
            for p in &row.pieces {
                page.lines.push(Placed {
                    x: MARGIN + p.dx,
                    baseline: y + p.baseline,
                    style: p.style,
                    text: p.text.clone(),
                    slot: p.slot,
                });
            }
            for r in &row.rules {
                page.rules.push(Rule {
                    x1: MARGIN + r.x1,
                    y1: y + r.y1,
                    x2: MARGIN + r.x2,
                    y2: y + r.y2,
                });
            }
            y += row.height;
        }
        y += block.space_after;
    }
    Laid { pages, anchors }
}

// ---------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------

/// Renders the engagement as a tagged PDF (PDF/UA-1, PDF/A-2a), A4, one to three pages.
/// The same data gives the same bytes: nothing depends on the clock or on chance.
pub fn render(data: &EngagementData) -> Result<Vec<u8>, DocumentError> {
    check(data)?;
    let faces = Faces::load()?;
    let blocks = content(data);
    let laid = layout(&faces, &blocks);
    write_pdf(data, &faces, &blocks, &laid)
}

fn check(data: &EngagementData) -> Result<(), DocumentError> {
    if data.reference.trim().is_empty() {
        return Err(DocumentError::Invalid("la référence du document est vide."));
    }
    if data.member.name.trim().is_empty() || data.operator.name.trim().is_empty() {
        return Err(DocumentError::Invalid("le nom d'une des parties est vide."));
    }
    if data.ends_on.is_some_and(|end| end < data.starts_on) {
        return Err(DocumentError::Invalid(
            "la date de fin précède la date de prise d'effet.",
        ));
    }
    if data.template == Template::CharteMairieConnectee {
        match data.eu_funding {
            None => {
                return Err(DocumentError::Invalid(
                    "la charte « Mairie connectée » doit indiquer la période du financement européen.",
                ));
            }
            Some((from, to)) if to < from => {
                return Err(DocumentError::Invalid(
                    "la période du financement européen finit avant de commencer.",
                ));
            }
            Some(_) => {}
        }
        if data
            .population
            .is_some_and(|(p, _)| p >= MAIRIE_CONNECTEE_MAX_POPULATION)
        {
            return Err(DocumentError::Invalid(
                "l'offre « Mairie connectée » est réservée aux communes de moins de 2 000 habitants.",
            ));
        }
    }
    Ok(())
}

fn write_pdf(
    data: &EngagementData,
    faces: &Faces,
    blocks: &[Block],
    laid: &Laid,
) -> Result<Vec<u8>, DocumentError> {
    let configuration = ConfigurationBuilder::new()
        .with_accessibility_validator(Accessibility::UA1)
        .with_archival_validator(Archival::A2_A)
        .finish()
        .map_err(|e| DocumentError::Pdf(format!("configuration refusée ({e:?})")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: true,
        ..SerializeSettings::default()
    };
    let mut document = Document::new_with(settings);
    let page_settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or(DocumentError::Pdf("format de page invalide".to_owned()))?;
    let page_count = laid.pages.len();
    let reference = typo(&format!("Référence {}", data.reference.trim()));
    let mut marks: BTreeMap<Slot, Vec<Identifier>> = BTreeMap::new();

    for (index, content) in laid.pages.iter().enumerate() {
        let mut page = document.start_page_with(page_settings.clone());
        let mut surface = page.surface();

        if !content.rules.is_empty() {
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
                ArtifactType::Layout,
            )));
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke {
                paint: luma::Color::new(90).into(),
                width: 0.6,
                ..Stroke::default()
            }));
            for r in &content.rules {
                let mut path = PathBuilder::new();
                path.move_to(r.x1, r.y1);
                path.line_to(r.x2, r.y2);
                if let Some(path) = path.finish() {
                    surface.draw_path(&path);
                }
            }
            surface.set_stroke(None);
            surface.end_tagged();
        }

        surface.set_fill(Some(Fill::default()));
        for line in &content.lines {
            let id = surface.start_tagged(ContentTag::Span(SpanTag::empty()));
            let drawn = draw(
                &mut surface,
                faces,
                line.style,
                line.x,
                line.baseline,
                &line.text,
            );
            surface.end_tagged();
            drawn?;
            marks.entry(line.slot).or_default().push(id);
        }

        // The footer: an artifact, left out of the structure (a screen reader does not
        // read it on every page).
        surface.set_fill(Some(Fill {
            paint: luma::Color::new(70).into(),
            ..Fill::default()
        }));
        surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(
            ArtifactType::Footer,
        )));
        let footer = Style {
            bold: false,
            size: FOOTER_SIZE,
            leading: FOOTER_SIZE,
        };
        let number = format!("Page {} sur {page_count}", index + 1);
        let number_x = PAGE_WIDTH - MARGIN - faces.regular.width(&number, FOOTER_SIZE);
        let drawn = draw(
            &mut surface,
            faces,
            footer,
            MARGIN,
            FOOTER_BASELINE,
            &reference,
        )
        .and_then(|()| {
            draw(
                &mut surface,
                faces,
                footer,
                number_x,
                FOOTER_BASELINE,
                &number,
            )
        });
        surface.end_tagged();
        drawn?;
        surface.finish();
        page.finish();
    }

    let title = typo(data.template.title());
    document.set_tag_tree(tag_tree(blocks, &mut marks));
    document.set_outline(outline(blocks, laid));
    let made = data.made_on;
    document.set_metadata(
        Metadata::new()
            .title(title.clone())
            .description(format!("{title} – {}", data.member.name.trim()))
            .language("fr".to_owned())
            .authors(vec![data.operator.name.trim().to_owned()])
            .creator("Bouquet".to_owned())
            .creation_date(
                DateTime::new(u16::try_from(made.year()).unwrap_or(0))
                    .month(u8::try_from(made.month()).unwrap_or(1))
                    .day(u8::try_from(made.day()).unwrap_or(1)),
            )
            // Versions of one engagement share the PDF's document id.
            .document_id(data.reference.trim().to_owned()),
    );
    document.finish().map_err(|e| {
        DocumentError::Pdf(match e {
            krilla::error::KrillaError::Validation(errors) => format!(
                "non conforme à PDF/UA-1 ou PDF/A-2a ({} erreurs : {:?})",
                errors.len(),
                errors.iter().map(|(e, _)| e).collect::<Vec<_>>()
            ),
            other => other.to_string(),
        })
    })
}

fn draw(
    surface: &mut Surface<'_>,
    faces: &Faces,
    style: Style,
    x: f32,
    baseline: f32,
    text: &str,
) -> Result<(), DocumentError> {
    let face = faces.get(style.bold);
    let glyphs = face.glyphs(text)?;
    surface.draw_glyphs(
        Point::from_xy(x, baseline),
        &glyphs,
        face.font.clone(),
        text,
        style.size,
        false,
    );
    Ok(())
}

fn heading(level: u16, text: &str) -> TagGroup {
    let level = NonZeroU16::new(level).unwrap_or(NonZeroU16::MIN);
    TagGroup::new(Tag::Hn(level, Some(text.to_owned())))
}

fn leaves(group: &mut TagGroup, marks: &mut BTreeMap<Slot, Vec<Identifier>>, slot: Slot) {
    for id in marks.remove(&slot).unwrap_or_default() {
        group.push(Node::Leaf(id));
    }
}

/// The logical structure: Document > H1, P, H2, L > LI > Lbl + LBody, Table > THead/TBody
/// > TR > TH/TD. Each marked line is attached exactly once.
fn tag_tree(blocks: &[Block], marks: &mut BTreeMap<Slot, Vec<Identifier>>) -> TagTree {
    let mut tree = TagTree::new().with_lang(Some("fr".to_owned()));
    for (i, block) in blocks.iter().enumerate() {
        let group = match block {
            Block::Title(text) => {
                let mut g = heading(1, text);
                leaves(&mut g, marks, (i, 0));
                g
            }
            Block::Heading(text) => {
                let mut g = heading(2, text);
                leaves(&mut g, marks, (i, 0));
                g
            }
            Block::Para { .. } | Block::Small(_) => {
                let mut g = TagGroup::new(Tag::P);
                leaves(&mut g, marks, (i, 0));
                g
            }
            Block::List(items) => {
                let mut list = TagGroup::new(Tag::L(ListNumbering::Disc));
                for j in 0..items.len() {
                    let mut label = TagGroup::new(Tag::Lbl);
                    leaves(&mut label, marks, (i, 2 * j));
                    let mut body = TagGroup::new(Tag::LBody);
                    leaves(&mut body, marks, (i, 2 * j + 1));
                    list.push(TagGroup::with_children(
                        Tag::LI,
                        vec![label.into(), body.into()],
                    ));
                }
                list
            }
            Block::Signatures { .. } => {
                let mut head_row = TagGroup::new(Tag::TR);
                let mut body_row = TagGroup::new(Tag::TR);
                for c in 0..2 {
                    let mut th = TagGroup::new(Tag::TH(TableHeaderScope::Column));
                    leaves(&mut th, marks, (i, c));
                    head_row.push(th);
                    let mut td = TagGroup::new(Tag::TD);
                    leaves(&mut td, marks, (i, 2 + c));
                    body_row.push(td);
                }
                TagGroup::with_children(
                    Tag::Table
                        .with_summary(Some("Signatures du membre et de l'opérateur".to_owned())),
                    vec![
                        TagGroup::with_children(Tag::THead, vec![head_row.into()]).into(),
                        TagGroup::with_children(Tag::TBody, vec![body_row.into()]).into(),
                    ],
                )
            }
        };
        tree.push(group);
    }
    tree
}

/// Bookmarks: the title, and under it one entry per article.
fn outline(blocks: &[Block], laid: &Laid) -> Outline {
    let mut outline = Outline::new();
    let mut root: Option<OutlineNode> = None;
    for &(i, page, y) in &laid.anchors {
        let destination = XyzDestination::new(page, Point::from_xy(MARGIN, y));
        match blocks.get(i) {
            Some(Block::Title(text)) => {
                root = Some(OutlineNode::new(text.clone(), destination).with_open(true));
            }
            Some(Block::Heading(text)) => {
                let node = OutlineNode::new(text.clone(), destination);
                match root.as_mut() {
                    Some(r) => r.push_child(node),
                    None => outline.push_child(node),
                }
            }
            _ => {}
        }
    }
    if let Some(root) = root {
        outline.push_child(root);
    }
    outline
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::{Command, Output};

    use jiff::civil::date;

    use super::*;

    fn party(name: &str, siren: &str, kind: OrgKind) -> Party {
        Party {
            name: name.to_owned(),
            siren: siren.to_owned(),
            kind_label: kind.label().to_owned(),
            address: None,
        }
    }

    fn sample(template: Template) -> EngagementData {
        let mairie = template == Template::CharteMairieConnectee;
        EngagementData {
            template,
            operator: Party {
                address: Some("1 rue de la Mutualisation, 35000 Rennes".to_owned()),
                ..party(
                    "Syndicat mixte Bouquet (démo)",
                    "999999998",
                    OrgKind::Operateur,
                )
            },
            member: Party {
                address: Some("1 place de l'Église, 35240 Arbrissel".to_owned()),
                ..party("Arbrissel", "213500051", OrgKind::Commune)
            },
            epci: Some(party(
                "CC Roche aux Fées Communauté",
                "243500634",
                OrgKind::Cc,
            )),
            population: Some((276, 2025)),
            services: vec![
                "Actes".to_owned(),
                "Parapheur".to_owned(),
                "Archivage électronique".to_owned(),
            ],
            starts_on: date(2026, 1, 1),
            ends_on: mairie.then(|| date(2027, 12, 31)),
            eu_funding: mairie.then(|| (date(2026, 1, 1), date(2027, 12, 31))),
            reference: "CH-2026-0042".to_owned(),
            made_on: date(2026, 11, 23),
        }
    }

    /// Runs an independent checker; a missing tool fails the test, it does not skip it.
    fn run(tool: &str, args: &[&str]) -> Output {
        match Command::new(tool).args(args).output() {
            Ok(out) => out,
            Err(e) => panic!(
                "`{tool}` could not be run ({e}): install it with `apt-get install -y poppler-utils qpdf`"
            ),
        }
    }

    /// A field of `pdfinfo`'s output ("Pages", "Tagged"…), trimmed.
    fn field<'a>(info: &'a str, name: &str) -> &'a str {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in pdfinfo's output:\n{info}"))
    }

    fn stdout(out: &Output) -> String {
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whitespace of any kind (line ends, no-break spaces) as one plain space, so that
    /// phrases can be looked for whatever the line breaks.
    fn flat(s: &str) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    struct TempPdf(PathBuf);

    impl TempPdf {
        fn write(name: &str, bytes: &[u8]) -> TempPdf {
            let path = std::env::temp_dir().join(format!(
                "bouquet-documents-{}-{name}.pdf",
                std::process::id()
            ));
            std::fs::write(&path, bytes).unwrap();
            TempPdf(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempPdf {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn every_template_renders_a_valid_tagged_pdf() {
        for template in Template::ALL {
            let data = sample(template);
            let pdf = render(&data).unwrap();
            let file = TempPdf::write(template.code(), &pdf);
            let path = file.path();

            let check = run("qpdf", &["--check", path]);
            assert_eq!(
                check.status.code(),
                Some(0),
                "{template:?}: qpdf --check: {}{}",
                stdout(&check),
                String::from_utf8_lossy(&check.stderr)
            );

            let info = run("pdfinfo", &[path]);
            assert!(info.status.success(), "{template:?}: pdfinfo failed");
            let info = stdout(&info);
            assert_eq!(field(&info, "Tagged"), "yes", "{template:?}");
            let pages: usize = field(&info, "Pages").parse().unwrap();
            assert!((1..=3).contains(&pages), "{template:?}: {pages} pages");
            assert_eq!(
                flat(field(&info, "Title")),
                flat(template.title()),
                "{template:?}"
            );
            assert_eq!(field(&info, "Page size"), "595.276 x 841.89 pts (A4)");

            // The structure as an independent reader sees it ("TH:", "H2 \"…\" (block)").
            let structure = stdout(&run("pdfinfo", &["-struct", path]));
            let tags: Vec<&str> = structure
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(|t| t.trim_end_matches(':'))
                .collect();
            for tag in [
                "Document", "H1", "H2", "P", "L", "LI", "Lbl", "LBody", "Table", "THead", "TBody",
                "TR", "TH", "TD",
            ] {
                assert!(
                    tags.contains(&tag),
                    "{template:?}: no {tag} in:\n{structure}"
                );
            }
            assert_eq!(
                tags.iter().filter(|t| **t == "H1").count(),
                1,
                "{template:?}"
            );
            assert_eq!(
                tags.iter().filter(|t| **t == "TH").count(),
                2,
                "{template:?}"
            );

            let text = run("pdftotext", &["-enc", "UTF-8", path, "-"]);
            assert!(text.status.success(), "{template:?}: pdftotext failed");
            let text = flat(&stdout(&text));
            for expected in [
                "Arbrissel",
                "213500051",
                template.title(),
                "Syndicat mixte Bouquet (démo)",
                "Actes",
                "Parapheur",
                "Archivage électronique",
                "Fait le 23 novembre 2026.",
                if template == Template::CharteMairieConnectee {
                    "Pour la commune"
                } else {
                    "Pour le membre"
                },
                "Pour l'opérateur",
                "données personnelles",
                "sous-traitant",
            ] {
                assert!(
                    text.contains(&flat(expected)),
                    "{template:?}: « {expected} » missing in:\n{text}"
                );
            }
            // The reference: under the title and in the footer of every page.
            assert_eq!(
                text.matches("CH-2026-0042").count(),
                pages + 1,
                "{template:?}"
            );
            for n in 1..=pages {
                assert!(
                    text.contains(&format!("Page {n} sur {pages}")),
                    "{template:?}"
                );
            }
            if template == Template::CharteMairieConnectee {
                for expected in [
                    "80 %",
                    "20 %",
                    "1er janvier 2026",
                    "31 décembre 2027",
                    "REACT-EU",
                ] {
                    assert!(
                        text.contains(expected),
                        "« {expected} » missing in:\n{text}"
                    );
                }
            } else {
                assert!(!text.contains("80 %"), "{template:?}");
            }
            if template == Template::CharteUtilisation {
                assert!(text.contains("CC Roche aux Fées Communauté (SIREN 243500634)"));
                assert!(text.contains("ne verse aucune contribution au titre du bouquet"));
            }
        }
    }

    #[test]
    fn the_same_data_gives_the_same_bytes() {
        for template in Template::ALL {
            let data = sample(template);
            let first = render(&data).unwrap();
            assert_eq!(first, render(&data).unwrap(), "{template:?}");
            let other = EngagementData {
                reference: "CH-2026-0043".to_owned(),
                ..data.clone()
            };
            assert_ne!(first, render(&other).unwrap(), "{template:?}");
            let other = EngagementData {
                services: vec!["Actes".to_owned()],
                ..data
            };
            assert_ne!(first, render(&other).unwrap(), "{template:?}");
        }
    }

    #[test]
    fn long_and_odd_data_still_fit() {
        // A long name, many services, a character outside the font.
        let mut data = sample(Template::ConventionMembre);
        data.member = party(
            "Communauté d'agglomération Saint-Brieuc Armor Agglomération et Pays de Lamballe réunis en une seule intercommunalité très étendue",
            "200069409",
            OrgKind::Ca,
        );
        data.services = (1..=12).map(|i| format!("Service numéro {i}")).collect();
        let pdf = render(&data).unwrap();
        let file = TempPdf::write("long", &pdf);
        let info = stdout(&run("pdfinfo", &[file.path()]));
        let pages: usize = field(&info, "Pages").parse().unwrap();
        assert!((2..=3).contains(&pages), "{pages} pages");

        // DejaVu Sans has no Chinese: refused with the character named, not a blank box.
        data.member.name = "Arbrissel \u{4E2D}".to_owned();
        let Err(err) = render(&data) else {
            panic!("a character outside the font was accepted");
        };
        assert!(
            matches!(err, DocumentError::MissingGlyph('\u{4E2D}')),
            "{err}"
        );
        assert!(err.to_string().contains("U+4E2D"), "{err}");
    }

    fn refused(data: &EngagementData) -> String {
        match render(data) {
            Ok(_) => panic!("rendered: {data:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn invalid_data_is_refused_in_french() {
        let mut data = sample(Template::CharteMairieConnectee);
        data.eu_funding = None;
        let err = refused(&data);
        assert!(err.contains("financement européen"), "{err}");
        let mut data = sample(Template::CharteMairieConnectee);
        data.population = Some((8_807, 2025));
        assert!(refused(&data).contains("moins de 2 000 habitants"));
        let mut data = sample(Template::ConventionAutre);
        data.ends_on = Some(date(2025, 12, 31));
        assert!(refused(&data).contains("date de fin"));
        data.ends_on = None;
        data.reference = " ".to_owned();
        assert!(refused(&data).contains("référence"));
    }

    #[test]
    fn templates_by_kind_and_eligibility() {
        for t in Template::ALL {
            assert_eq!(Template::parse(t.code()), Some(t));
        }
        assert_eq!(Template::parse("charte"), None);
        assert_eq!(
            Template::for_kind(OrgKind::Cc),
            Some(Template::ConventionMembre)
        );
        assert_eq!(
            Template::for_kind(OrgKind::Region),
            Some(Template::ConventionMembre)
        );
        assert_eq!(
            Template::for_kind(OrgKind::Commune),
            Some(Template::CharteUtilisation)
        );
        assert_eq!(
            Template::for_kind(OrgKind::Cias),
            Some(Template::CharteUtilisation)
        );
        assert_eq!(
            Template::for_kind(OrgKind::Syndicat),
            Some(Template::ConventionAutre)
        );
        assert_eq!(Template::for_kind(OrgKind::Operateur), None);
        assert_eq!(Template::for_kind(OrgKind::Entreprise), None);
        // Every kind may sign its default template.
        for kind in OrgKind::ALL {
            if let Some(t) = Template::for_kind(kind) {
                assert_eq!(t.eligible(kind, Some(100_000)), Ok(()), "{kind:?}");
            }
        }

        let mc = Template::CharteMairieConnectee;
        // Arbrissel, 276 inhabitants: eligible.
        assert_eq!(mc.eligible(OrgKind::Commune, Some(276)), Ok(()));
        assert_eq!(mc.eligible(OrgKind::Commune, Some(1_999)), Ok(()));
        // Janzé, 8,807 inhabitants: not, and told why.
        let janze = mc.eligible(OrgKind::Commune, Some(8_807)).unwrap_err();
        assert!(janze.contains("moins de 2 000 habitants"), "{janze}");
        assert!(mc.eligible(OrgKind::Commune, Some(2_000)).is_err());
        assert!(
            mc.eligible(OrgKind::Commune, None)
                .unwrap_err()
                .contains("population")
        );
        // A CCAS is not a commune.
        let ccas = mc.eligible(OrgKind::Ccas, Some(276)).unwrap_err();
        assert!(ccas.contains("réservée aux communes"), "{ccas}");
        assert!(
            Template::ConventionMembre
                .eligible(OrgKind::Commune, None)
                .is_err()
        );
        assert!(
            Template::CharteUtilisation
                .eligible(OrgKind::Cc, None)
                .is_err()
        );
        assert!(
            Template::ConventionAutre
                .eligible(OrgKind::Commune, None)
                .is_err()
        );
        assert!(
            Template::ConventionAutre
                .eligible(OrgKind::Entreprise, None)
                .is_err()
        );
    }

    /// One unit per character: easy widths to reason about.
    fn unit(s: &str) -> f32 {
        s.chars().count() as f32
    }

    #[test]
    fn lines_break_between_words() {
        let lines = break_lines("le membre adhère au bouquet", 10.0, &unit);
        assert_eq!(lines, ["le membre", "adhère au", "bouquet"]);
        assert!(lines.iter().all(|l| unit(l) <= 10.0));
        // Several spaces count as one; a forced break is kept; nothing empty.
        assert_eq!(break_lines("  a   b \n c ", 10.0, &unit), ["a b", "c"]);
        assert!(break_lines("", 10.0, &unit).is_empty());
    }

    #[test]
    fn a_word_longer_than_a_line_is_cut() {
        let lines = break_lines("la anticonstitutionnellement fin", 10.0, &unit);
        assert_eq!(lines, ["la", "anticonsti", "tutionnell", "ement fin"]);
        // Even narrower than one character: one character per line, never an endless loop.
        assert_eq!(break_lines("abc", 0.5, &unit), ["a", "b", "c"]);
    }

    #[test]
    fn no_break_spaces_hold() {
        let text = typo("Article 1 : objet « Mairie connectée » à 80 % ; oui ?");
        assert_eq!(
            text,
            "Article 1\u{a0}: objet «\u{a0}Mairie connectée\u{a0}» à 80\u{202f}% ; oui\u{202f}?"
                .replace(" ;", "\u{202f};")
        );
        // From the width of the longest unbreakable word ("connectée »") up.
        for width in 11..=40 {
            for line in break_lines(&text, width as f32, &unit) {
                // No line starts with the punctuation that a no-break space holds back.
                assert!(
                    !line.starts_with([':', ';', '?', '%', '»']),
                    "{width}: {line:?}"
                );
                assert!(!line.ends_with('«'), "{width}: {line:?}");
            }
        }
        // "1er janvier 2026" is never split.
        let date = date_fr(date(2026, 1, 1));
        assert_eq!(date, "1er\u{a0}janvier\u{a0}2026");
        assert_eq!(
            break_lines(&format!("du {date} au"), 17.0, &unit),
            ["du", "1er\u{a0}janvier\u{a0}2026", "au"]
        );
    }

    #[test]
    fn accents_are_measured_with_the_font() {
        let faces = Faces::load().unwrap();
        let face = &faces.regular;
        // Accented letters have their own glyphs and widths, as wide as their base letter.
        for (plain, accented) in [("e", "é"), ("E", "É"), ("a", "à"), ("c", "ç"), ("o", "ô")] {
            let (p, a) = (face.width(plain, 10.0), face.width(accented, 10.0));
            assert!(
                a > 0.0 && (p - a).abs() < 0.01,
                "{plain} {p} / {accented} {a}"
            );
        }
        assert!(face.width("œ", 10.0) > face.width("o", 10.0));
        assert!(faces.bold.width("Arbrissel", 10.0) > face.width("Arbrissel", 10.0));
        // Widths add up: the breaker's assumption.
        let (a, b) = ("Collectivités", "d'Ille-et-Vilaine");
        let joined = face.width(&format!("{a} {b}"), 10.0);
        let sum = face.width(a, 10.0) + face.width(" ", 10.0) + face.width(b, 10.0);
        assert!((joined - sum).abs() < 0.001);
        // Every line fits the width it was broken for.
        let text = typo(
            "Les données à caractère personnel sont hébergées dans l'Union européenne ; l'opérateur agit en qualité de sous-traitant.",
        );
        let lines = break_lines(&text, 150.0, &|t| face.width(t, 10.0));
        assert!(lines.len() > 2);
        assert_eq!(lines.join(" "), text);
        for line in &lines {
            assert!(face.width(line, 10.0) <= 150.0, "{line}");
        }
        // Every glyph found, each pointing back to its bytes.
        let glyphs = face.glyphs("Fées").unwrap();
        assert_eq!(glyphs.len(), 4);
        assert_eq!(glyphs[1].text_range, 1..3);
        assert_eq!(glyphs[2].text_range, 3..4);
    }

    #[test]
    fn french_formats() {
        assert_eq!(date_fr(date(2026, 11, 23)), "23\u{a0}novembre\u{a0}2026");
        assert_eq!(date_fr(date(2027, 12, 31)), "31\u{a0}décembre\u{a0}2027");
        assert_eq!(date_fr(date(2026, 8, 1)), "1er\u{a0}août\u{a0}2026");
        assert_eq!(thousands(276), "276");
        assert_eq!(thousands(8_807), "8\u{202f}807");
        assert_eq!(thousands(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(
            lower_first("Communauté de communes"),
            "communauté de communes"
        );
        assert_eq!(
            typo("https://exemple.fr : ok"),
            "https://exemple.fr\u{a0}: ok"
        );
        assert_eq!(
            typo("moins de 2 000 habitants"),
            "moins de 2\u{202f}000 habitants"
        );
        // Not a thousands group: a postcode after a number, a year after a day.
        assert_eq!(typo("BP 12 35000 Rennes"), "BP 12 35000 Rennes");
        assert_eq!(typo("le 27 avril 2016"), "le 27 avril 2016");
    }
}
