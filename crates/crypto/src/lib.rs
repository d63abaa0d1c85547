//! Electronic signatures for Bouquet, without I/O.
//!
//! - [`keys`]: signing keys and their certificates ([`keys::Credential`]), PKCS#12 import,
//!   encryption of private keys at rest.
//! - [`pki`]: the demo PKI ("AC Bouquet démo"), certificate inspection and path checks.
//! - [`cms`]: CMS SignedData, i.e. CAdES detached (`.p7s`) and the CMS inside a PAdES signature.
//! - [`tsa`]: RFC 3161 time-stamp requests, responses and the built-in demo authority.
//! - [`pdf`] and [`pades`]: reading a PDF lazily and signing it by incremental update.
//! - [`xades`]: enveloped XAdES-EPES on the `Bordereau` of a PES flow (Hélios).
//! - [`report`]: the French verification report shared by all three formats.
//!
//! Anything that talks to the network (an external TSA) is behind a trait implemented by the
//! caller; this crate only computes.

pub mod cms;
pub mod error;
pub mod keys;
pub mod pades;
pub mod pdf;
pub mod pki;
pub mod report;
pub mod tsa;
pub mod xades;

pub use error::CryptoError;
