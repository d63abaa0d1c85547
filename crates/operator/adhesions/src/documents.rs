//! Engagement documents: the PDF that a member signs with the operator (a convention or a
//! charter), filled from a template chosen by the kind of signatory.
//!
//! The text is ours; the PDF engine is `bouquet_pdfdoc` (tagged PDF/UA-1 and PDF/A-2a, A4,
//! DejaVu fonts embedded, "Page 1 sur 2" in the footer), whose errors [`render`] reports as
//! [`DocumentError::Pdf`].
//!
//! # Layout
//!
//! - [`Template`]: the four templates, their codes and titles, the default one for a kind of
//!   organisation and who may sign which ([`Template::eligible`]).
//! - [`EngagementData`], [`Party`]: what a document is filled with; [`render`] makes the PDF
//!   and fails with a [`DocumentError`] (French messages).
//! - `content`: the French text of each template, as the engine's blocks (title, headings,
//!   paragraphs, lists, the signature table), through its French typography (`typo`,
//!   `date_fr`, `thousands`).

use bouquet_kernel::OrgKind;
use bouquet_pdfdoc::{Block, PdfDocError, date_fr, thousands, typo};
use jiff::civil::Date;

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
    /// Laying out or writing the PDF failed (a character outside the font…).
    #[error(transparent)]
    Pdf(#[from] PdfDocError),
}

// ---------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------

/// "Commune" → "commune", to use a kind label inside a sentence.
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
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
        columns: vec![
            (format!("Pour {}", who.le), typo(data.member.name.trim())),
            (
                "Pour l'opérateur".to_owned(),
                typo(data.operator.name.trim()),
            ),
        ],
        summary: Some("Signatures du membre et de l'opérateur".to_owned()),
    });
    b.blocks
}

// ---------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------

/// Renders the engagement as a tagged PDF (PDF/UA-1, PDF/A-2a), A4, one to three pages.
/// The same data gives the same bytes: nothing depends on the clock or on chance.
pub fn render(data: &EngagementData) -> Result<Vec<u8>, DocumentError> {
    check(data)?;
    let title = typo(data.template.title());
    let reference = data.reference.trim();
    let doc = bouquet_pdfdoc::Document {
        subject: Some(format!("{title} – {}", data.member.name.trim())),
        // Versions of one engagement share the PDF's document id.
        id: Some(reference.to_owned()),
        footer: Some(typo(&format!("Référence {reference}"))),
        ..bouquet_pdfdoc::Document::new(title, data.operator.name.trim(), data.made_on)
    };
    Ok(bouquet_pdfdoc::render(&doc, &content(data))?)
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

#[cfg(test)]
mod tests {
    use bouquet_pdfdoc::testing::{TempPdf, field, flat, run, stdout, structure_tags};
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

            // The structure as an independent reader sees it.
            let tags = structure_tags(path);
            for tag in [
                "Document", "H1", "H2", "P", "L", "LI", "Lbl", "LBody", "Table", "THead", "TBody",
                "TR", "TH", "TD",
            ] {
                assert!(
                    tags.iter().any(|t| t == tag),
                    "{template:?}: no {tag} in {tags:?}"
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
            matches!(
                err,
                DocumentError::Pdf(PdfDocError::MissingGlyph('\u{4E2D}'))
            ),
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

    #[test]
    fn kind_labels_inside_a_sentence() {
        assert_eq!(
            lower_first("Communauté de communes"),
            "communauté de communes"
        );
        assert_eq!(lower_first("É"), "é");
        assert_eq!(lower_first(""), "");
    }
}
