//! Bouquet's kernel: the vocabulary every other crate speaks.
//!
//! # Layout
//!
//! - [`ids`]: typed identifiers (UUIDv7 by default, random v4 where order must not leak).
//! - [`identifiers`]: official French identifiers (SIREN, SIRET, INSEE) and e-mail addresses,
//!   parsed once at the boundary ("parse, don't validate").
//! - [`service`]: the eight services of the bouquet, one enum used by subscriptions, usage,
//!   barèmes and route gating alike.
//! - [`org`]: organisation kinds and their time zones.
//! - [`role`] and [`policy`]: who may do what, as pure code with table-driven tests.
//! - [`clock`]: time is a parameter.
//! - [`error`]: the closed user-facing error vocabulary (mapped to HTTP in `webkit` only).
//! - [`audit`]: the hash of a journal event, so that the store and the verifier agree.
//! - [`usage`]: the documented list of usage events.
//! - [`text`]: normalisation for full-text search (same tokens on every engine).
//!
//! Nothing here performs I/O: no database, no network, no file.

pub mod audit;
pub mod clock;
pub mod error;
pub mod identifiers;
pub mod ids;
pub mod org;
pub mod policy;
pub mod role;
pub mod service;
pub mod text;
pub mod usage;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AppError, FieldError};
pub use identifiers::{Email, Insee, Siren, Siret};
pub use ids::{OrgId, UserId};
pub use org::OrgKind;
pub use role::{Role, RoleSet};
pub use service::{Service, ServiceSet};
