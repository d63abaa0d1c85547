//! Enveloped XAdES-EPES signatures of PES flows (Hélios, DGFiP), as the Libriciel Pastell
//! fixture `standards/signature/pes/PES_DepenseAller_bordereau_signed_xades.xml` shows them:
//! one `ds:Signature` as the last child of each `Bordereau` ("signature unitaire des
//! bordereaux"), or of `PES_Aller` for a whole-flow signature.
//!
//! - [`sign_pes`] inserts the signatures as text just before the closing tags, in the file's own
//!   encoding (UTF-8 or ISO-8859-1): every other byte of the file is kept.
//! - [`verify_pes`] checks each `ds:Signature` of a flow and reports in French.
//!
//! Canonicalisation (exclusive XML C14N 1.0, and inclusive C14N 1.0 for third-party signatures)
//! is ours, over `quick-xml` events: see [`c14n`]. Files with a DOCTYPE are refused (XXE).

mod c14n;
mod cert;
mod document;
mod sign;
mod verify;

pub use sign::sign_pes;
pub use verify::verify_pes;

use jiff::Timestamp;

use crate::error::{CryptoError, Result};
use document::Document;

/// Which element of the flow each signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PesScope {
    /// One signature in each `Bordereau` of `PES_DepenseAller` / `PES_RecetteAller`
    /// (what the DGFiP expects from an ordonnateur).
    #[default]
    EachBordereau,
    /// One signature of the whole `PES_Aller`, as its last child.
    WholeFlow,
}

/// What the signer declares in the signed properties.
#[derive(Debug, Clone)]
pub struct PesSignOptions {
    /// XAdES SigningTime (claimed, not proven).
    pub signing_time: Timestamp,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    /// Country name of the SignatureProductionPlace ("France" by default).
    pub country: Option<String>,
    /// Claimed role, e.g. "Ordonnateur".
    pub claimed_role: Option<String>,
    pub scope: PesScope,
}

impl PesSignOptions {
    /// Signing at `signing_time` in France, each bordereau, no city nor role.
    pub fn new(signing_time: Timestamp) -> Self {
        PesSignOptions {
            signing_time,
            city: None,
            postal_code: None,
            country: Some("France".into()),
            claimed_role: None,
            scope: PesScope::EachBordereau,
        }
    }
}

/// XML-DSig namespace.
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XAdES 1.2.2, as in the Pastell fixture accepted by Hélios.
const XAD: &str = "http://uri.etsi.org/01903/v1.2.2#";
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903/v1.2.2#SignedProperties";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Namespace of `PES_Aller`.
const PES_ALLER_NS: &str = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller";

/// The Hélios signature policy, exactly as in the Pastell fixture.
const POLICY_OID: &str = "urn:oid:1.2.250.1.131.1.5.18.21.1.7";
const POLICY_DESCRIPTION: &str = "Politique de signature Helios de la DGFiP";
const POLICY_HASH_SHA256: &str = "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E=";
const POLICY_URI: &str = "https://www.collectivites-locales.gouv.fr/files/files/finances_locales/dematerialisation/ps_helios_dgfip.pdf";

/// Digest algorithms, by XML-DSig URI.
fn digest_algorithm(uri: &str) -> Option<&'static aws_lc_rs::digest::Algorithm> {
    use aws_lc_rs::digest;
    match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        "http://www.w3.org/2001/04/xmlenc#sha256" => Some(&digest::SHA256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(&digest::SHA384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(&digest::SHA512),
        _ => None,
    }
}

const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

fn sha256_base64(data: &[u8]) -> String {
    base64_encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes base64 with the line breaks XML-DSig files carry.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Checks that `xml` is a well-formed PES Aller flow without DOCTYPE, before it is accepted
/// for signature; the French reason otherwise.
pub fn check_pes(xml: &[u8]) -> Result<()> {
    parse_pes_aller(xml).map(|_| ())
}

/// Parses a PES Aller flow, or says in French why it is not one.
fn parse_pes_aller(xml: &[u8]) -> Result<Document> {
    let doc = Document::parse(xml)?;
    let root = &doc.element(doc.root).name;
    if root.local != "PES_Aller" || !(root.ns == PES_ALLER_NS || root.ns.is_empty()) {
        return Err(CryptoError::bad_input(
            "Ce fichier n'est pas un flux PES Aller.",
        ));
    }
    Ok(doc)
}

/// The `Bordereau` elements of `PES_DepenseAller` and `PES_RecetteAller`, in document order.
fn bordereaux(doc: &Document) -> Vec<usize> {
    doc.child_elements(doc.root)
        .filter(|&e| {
            let local = doc.element(e).name.local.as_str();
            local == "PES_DepenseAller" || local == "PES_RecetteAller"
        })
        .flat_map(|e| doc.child_elements(e).collect::<Vec<_>>())
        .filter(|&e| doc.element(e).name.local == "Bordereau")
        .collect()
}

/// Escapes text for element content and double-quoted attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
