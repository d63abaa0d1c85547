//! The members module (adhésions).
//!
//! # Layout
//!
//! - [`registry`]: the official registry of communes and EPCI (BANATIC), embedded as a
//!   compressed snapshot, parsed, searched, and compared with a newer file.

pub mod registry;
