//! The crypto crate's one integration-test binary: every signature Bouquet makes is checked
//! by an independent validator (openssl, pyhanko, pdfsig, xmlsec1), and one changed byte must
//! make each of them fail. Fixtures made elsewhere live in `standards/signature/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cms;
mod pades;
mod stamp;
mod xades;
