//! Pages and API of the actes service.
//!
//! - [`authoring`]: list, search, CSV, the acte form (new, edit, duplicate, rectificatif,
//!   batch), the acte's page, settings and classification; [`api_authoring`]: the same for
//!   business software.
//! - [`exchange`]: transmission, the suivi page (timeline, préfecture messages, answers,
//!   annulation, AR, tamponné, bordereau); [`api_exchange`]: the same for business software.

pub mod api_authoring;
pub mod api_exchange;
pub mod authoring;
pub mod exchange;
