//! The shared HTTP toolkit: what every module's routes stand on.
//!
//! # Layout
//!
//! - [`module`]: the [`Module`] trait, the pattern every service and back-office module
//!   implements (routes, migrations, jobs, navigation, "À faire", demo seeding).
//! - [`state`]: [`AppState`], handed to every handler.
//! - [`identity`]: who is calling (session cookie for pages, bearer token for the API).
//! - [`org`]: [`OrgCtx`], the acting organisation taken from `/o/{siren}/…` and checked
//!   against the policy: another member's data answers 404.
//! - [`error`]: [`WebError`] and the one place where errors become HTTP (French pages, RFC
//!   9457 problem documents).
//! - [`csrf`], [`forms`]: CSRF protection on every form, form and JSON extractors with French
//!   errors.
//! - [`layout`]: the page chrome (header, navigation, organisation selector) and rendering.
//! - [`security`], [`metrics`], [`assets`]: headers, Prometheus metrics, embedded UI assets.
//! - [`cookies`], [`flash`]: small helpers.
//!
//! **API Boundary:** modules use this crate and `bouquet-store`; they never depend on the
//! `bouquet-web` crate, which composes them.

pub mod api;
pub mod assets;
pub mod cookies;
pub mod csrf;
pub mod download;
pub mod error;
pub mod export;
pub mod flash;
pub mod forms;
pub mod identity;
pub mod layout;
pub mod metrics;
pub mod module;
pub mod org;
pub mod security;
pub mod state;
pub mod views;

pub use error::{WebError, WebResult};
pub use identity::{ApiUser, CurrentUser, Identity, MaybeUser};
pub use layout::{Chrome, PageCtx, render};
pub use module::{AdminCard, DemoTerritory, Module, NavItem, TodoItem};
pub use org::OrgCtx;
pub use state::AppState;

/// The version of Bouquet, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// True for paths of the JSON API.
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}
