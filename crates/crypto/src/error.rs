//! One error type; every message is French and may be shown to the user as is.

/// What went wrong, in words a secretary can read. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The input is not what it should be (malformed PDF or XML, encrypted PDF, wrong file
    /// type, wrong PKCS#12 password…). The message says what and, when known, where.
    #[error("{0}")]
    BadInput(String),
    /// The certificate cannot be used: expired, not yet valid, wrong purpose, unknown issuer.
    #[error("{0}")]
    Certificate(String),
    /// A signature or time-stamp does not verify.
    #[error("{0}")]
    Invalid(String),
    /// A bug or an unexpected state of a library; logged, shown as a generic message.
    #[error("erreur interne de signature : {0}")]
    Internal(String),
}

impl CryptoError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        CryptoError::BadInput(message.into())
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        CryptoError::Internal(message.to_string())
    }
}

pub type Result<T> = std::result::Result<T, CryptoError>;
