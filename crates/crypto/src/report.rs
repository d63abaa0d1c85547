//! The French verification report shared by PAdES, XAdES, CAdES and time-stamps.
//!
//! Each check says ok, failed (with the reason) or not checked (with why); the report never
//! says "valid" unless integrity, the signer's certificate chain and its validity at the
//! signing time all hold.

use jiff::Timestamp;

/// What Bouquet read from one certificate, for display and for the bordereau.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Common name of the subject (e.g. "Anne Martin").
    pub subject_common_name: String,
    /// The whole subject, RFC 4514 text (e.g. "CN=Anne Martin,O=Commune de Saint-Aubin").
    pub subject: String,
    pub issuer: String,
    /// Serial number in upper-case hexadecimal.
    pub serial_hex: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// SHA-256 of the DER certificate, lower-case hexadecimal.
    pub sha256_hex: String,
}

/// One check of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// Failed, with the reason in French.
    Failed(String),
    /// Not checked, with why in French (e.g. "aucune autorité de confiance fournie").
    NotChecked(String),
}

impl Check {
    pub fn is_ok(&self) -> bool {
        matches!(self, Check::Ok)
    }
}

/// Which format a signature is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    Pades,
    Xades,
    Cades,
    TimeStamp,
}

impl SignatureFormat {
    pub fn label(self) -> &'static str {
        match self {
            SignatureFormat::Pades => "PAdES (signature dans le PDF)",
            SignatureFormat::Xades => "XAdES (signature dans le fichier XML)",
            SignatureFormat::Cades => "CAdES (fichier de signature .p7s)",
            SignatureFormat::TimeStamp => "jeton d'horodatage RFC 3161",
        }
    }
}

/// The verification of one signature.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    pub format: SignatureFormat,
    /// Field name (PAdES), signature Id (XAdES), or empty.
    pub name: String,
    pub signer: Option<CertificateInfo>,
    /// The certificate path found, signer first.
    pub chain: Vec<CertificateInfo>,
    /// Time claimed by the signer (`/M`, signingTime or XAdES SigningTime).
    pub claimed_time: Option<Timestamp>,
    /// Time proven by a time-stamp token, with the authority's name.
    pub timestamp: Option<(Timestamp, String)>,
    /// The signed data has not changed since the signature.
    pub integrity: Check,
    /// The signer's certificate chains to a trusted authority and was valid at the signing
    /// time (the time-stamp if any, else the claimed time).
    pub certificate: Check,
    /// The time-stamp token, if any, is valid and covers this signature.
    pub timestamp_check: Check,
    /// PAdES: the signature covers the whole document, or what was added after it.
    pub coverage: Check,
    /// Anything else worth saying, in French (e.g. "le certificat a expiré le 14/02/2025").
    pub remarks: Vec<String>,
}

impl SignatureReport {
    pub fn new(format: SignatureFormat, name: impl Into<String>) -> Self {
        SignatureReport {
            format,
            name: name.into(),
            signer: None,
            chain: Vec::new(),
            claimed_time: None,
            timestamp: None,
            integrity: Check::NotChecked("pas encore vérifiée".into()),
            certificate: Check::NotChecked("pas encore vérifié".into()),
            timestamp_check: Check::NotChecked("aucun horodatage".into()),
            coverage: Check::NotChecked("sans objet".into()),
            remarks: Vec::new(),
        }
    }

    /// Valid means: integrity holds, the certificate check holds, and no present time-stamp or
    /// coverage check failed.
    pub fn is_valid(&self) -> bool {
        self.integrity.is_ok()
            && self.certificate.is_ok()
            && !matches!(self.timestamp_check, Check::Failed(_))
            && !matches!(self.coverage, Check::Failed(_))
    }
}
