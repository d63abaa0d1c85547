//! The closed vocabulary of errors a person or a program can be shown.
//!
//! **Architecture Invariant:** every failure that reaches a user is one of these variants,
//! with a French title and detail. The mapping to HTTP lives in one place
//! (`bouquet_webkit::error`), and an unexpected failure becomes [`AppError::Internal`], whose
//! text is logged but never shown.

use serde::Serialize;

use crate::service::Service;

/// A problem with one field of a form or a JSON body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as sent (e.g. `email`, or `lignes[3].siren`).
    pub field: String,
    /// What is wrong and how to fix it, in French.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (not a field problem): unreadable JSON, missing form…
    #[error("{0}")]
    BadRequest(String),
    /// One or more fields are wrong.
    #[error("Certaines informations sont à corriger.")]
    Invalid(Vec<FieldError>),
    #[error("Vous devez vous identifier.")]
    Unauthenticated,
    #[error("Adresse électronique ou mot de passe incorrect.")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("Le service « {} » n'est pas ouvert pour votre organisation.", .0.label())]
    ServiceNotSubscribed(Service),
    #[error("Cette page n'existe pas ou vous n'y avez pas accès.")]
    NotFound,
    #[error(
        "Cette adresse n'accepte pas cette méthode : par exemple un envoi de formulaire là où seule la lecture est possible."
    )]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("Le fichier ou le contenu envoyé est trop volumineux (au plus {limit_label}).")]
    PayloadTooLarge { limit_label: String },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests {
        retry_after_secs: u64,
        message: String,
    },
    #[error("{0}")]
    Unavailable(String),
    /// Something went wrong on our side. The text is for the logs only.
    #[error(
        "Une erreur inattendue s'est produite. Réessayez ; si elle persiste, contactez le support."
    )]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    /// A stable code, used in problem types and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "requete-invalide",
            AppError::Invalid(_) => "donnees-invalides",
            AppError::Unauthenticated => "non-authentifie",
            AppError::InvalidCredentials => "identifiants-invalides",
            AppError::Forbidden(_) => "acces-refuse",
            AppError::ServiceNotSubscribed(_) => "service-non-souscrit",
            AppError::NotFound => "introuvable",
            AppError::MethodNotAllowed => "methode-non-autorisee",
            AppError::Conflict(_) => "conflit",
            AppError::PayloadTooLarge { .. } => "trop-volumineux",
            AppError::UnsupportedMediaType(_) => "type-de-contenu-non-pris-en-charge",
            AppError::TooManyRequests { .. } => "trop-de-requetes",
            AppError::Unavailable(_) => "indisponible",
            AppError::Internal(_) => "erreur-interne",
        }
    }

    /// A short French title for pages and problem documents.
    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "Requête invalide",
            AppError::Invalid(_) => "Informations à corriger",
            AppError::Unauthenticated => "Identification nécessaire",
            AppError::InvalidCredentials => "Identification refusée",
            AppError::Forbidden(_) => "Accès refusé",
            AppError::ServiceNotSubscribed(_) => "Service non ouvert",
            AppError::NotFound => "Page introuvable",
            AppError::MethodNotAllowed => "Méthode non autorisée",
            AppError::Conflict(_) => "Opération impossible",
            AppError::PayloadTooLarge { .. } => "Contenu trop volumineux",
            AppError::UnsupportedMediaType(_) => "Format non pris en charge",
            AppError::TooManyRequests { .. } => "Trop de tentatives",
            AppError::Unavailable(_) => "Service indisponible",
            AppError::Internal(_) => "Erreur inattendue",
        }
    }

    /// The French detail shown to the person. Never contains internal information.
    pub fn detail(&self) -> String {
        match self {
            AppError::ServiceNotSubscribed(s) => format!(
                "Votre organisation n'est pas abonnée au service « {} ». Pour l'ouvrir, contactez votre référent ou l'opérateur.",
                s.label()
            ),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_are_never_shown() {
        let e = AppError::internal("connection refused to 10.0.0.3:5432");
        assert!(!e.detail().contains("10.0.0.3"));
        assert!(e.detail().contains("erreur inattendue"));
    }

    #[test]
    fn every_variant_has_french_text_and_a_distinct_code() {
        let all = vec![
            AppError::BadRequest("Corps illisible.".into()),
            AppError::invalid("email", "Adresse invalide."),
            AppError::Unauthenticated,
            AppError::InvalidCredentials,
            AppError::Forbidden("Non.".into()),
            AppError::ServiceNotSubscribed(Service::Helios),
            AppError::NotFound,
            AppError::MethodNotAllowed,
            AppError::Conflict("Déjà fait.".into()),
            AppError::PayloadTooLarge {
                limit_label: "1 Mo".into(),
            },
            AppError::UnsupportedMediaType("JSON attendu.".into()),
            AppError::TooManyRequests {
                retry_after_secs: 60,
                message: "Patientez.".into(),
            },
            AppError::Unavailable("Base indisponible.".into()),
            AppError::internal("boom"),
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(AppError::code).collect();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            assert!(!e.title().is_empty() && !e.detail().is_empty(), "{e:?}");
        }
        assert!(
            AppError::ServiceNotSubscribed(Service::Helios)
                .detail()
                .contains("Flux comptables")
        );
    }
}
