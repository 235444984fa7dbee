//! What an actor or service can answer instead of a result.

use crate::store::StoreError;
use domain::error::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum EntityError {
    /// A business rule refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No entity has that id.
    #[error("not found")]
    NotFound,
    /// The store failed; the command may or may not have been committed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// The actor could not be reached after retries (the system is shutting down).
    #[error("actor unavailable")]
    Unavailable,
}
