//! Bouquet's web application.
//!
//! # Layout
//!
//! - [`compose`]: builds the router from every module: service routes under
//!   `/o/{siren}/{slug}` gated by subscription, the middleware stack, the OpenAPI document.
//! - [`platform`]: the platform's own module (sign-in, dashboard, profile, organisation users
//!   and journal, operator administration, legal pages, its API, its jobs).
//! - [`pages`] and [`api`]: the handlers of that module; formatting helpers are in `bouquet_webkit::views`.
//! - [`login`]: the credential check shared by the sign-in page and the API;
//!   [`links`]: the e-mailed links to choose a password; [`account_links`]: the e-mailed
//!   invitations and company sign-up confirmations.

pub mod account_links;
pub mod api;
pub mod compose;
pub mod links;
pub mod login;
pub mod pages;
pub mod platform;

pub use compose::compose;
pub use platform::PlatformModule;
