//! The one error type of the crate; every message is French, for the person who sees it.

/// Why a value, a message, a name or an archive was refused. `Display` is a French sentence
/// that can be shown as it is (field errors in a form, the reason of an `erreur` status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A value breaks a rule of the standard (NumeroInterne, objet, département, SIREN…).
    #[error("{0}")]
    Rule(String),
    /// The document is not well-formed XML, or a known message lacks a required part.
    #[error("XML illisible : {0}")]
    Xml(String),
    /// A `<!DOCTYPE …>` declaration: refused outright (external entities, entity bombs).
    #[error("document XML refusé : les déclarations DOCTYPE (DTD, entités) sont interdites")]
    Doctype,
    /// Input larger than the limit.
    #[error("fichier trop volumineux : {size} octets (maximum {max} octets)")]
    TooLarge { size: u64, max: u64 },
    /// A file name that does not follow the @CTES naming rules.
    #[error("nom de fichier non conforme : {0}")]
    Name(String),
    /// An archive refused (unreadable, traversal, link, directory, bomb…).
    #[error("archive refusée : {0}")]
    Archive(String),
}

impl FormatError {
    pub(crate) fn rule(message: impl Into<String>) -> Self {
        FormatError::Rule(message.into())
    }
    pub(crate) fn xml(message: impl Into<String>) -> Self {
        FormatError::Xml(message.into())
    }
    pub(crate) fn name(message: impl Into<String>) -> Self {
        FormatError::Name(message.into())
    }
    pub(crate) fn archive(message: impl Into<String>) -> Self {
        FormatError::Archive(message.into())
    }
}
