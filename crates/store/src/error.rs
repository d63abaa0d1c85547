//! Errors of the store, and how they become the user-facing vocabulary.

use bouquet_kernel::AppError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("base de données : {0}")]
    Db(#[from] sqlx::Error),
    #[error("stockage des fichiers : {0}")]
    Blob(#[from] object_store::Error),
    #[error("entrée-sortie : {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
    /// A user-facing failure decided by the store (duplicate, not found, too large…).
    #[error("{0}")]
    App(AppError),
    #[error("donnée endommagée : {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<AppError> for StoreError {
    fn from(e: AppError) -> Self {
        StoreError::App(e)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::App(app) => app,
            other => AppError::Internal(other.to_string()),
        }
    }
}
