//! Certificates: what they say ([`certificate_info`]), the demo PKI ("AC Bouquet démo", built
//! with rcgen from a caller-given time) and certificate path checks ([`verify_chain`]).
//!
//! The path check covers names, signatures, validity dates and the CA flag of issuers. It
//! does **not** check revocation (no CRL, no OCSP): say so wherever its result is shown.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_EC_PUBLIC_KEY, RSA_ENCRYPTION,
    SECP_256_R_1, SECP_384_R_1, SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION,
    SHA_512_WITH_RSA_ENCRYPTION,
};
use der::Encode;
use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, SanType,
};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints as X509BasicConstraints, ExtendedKeyUsage};
use x509_cert::time::Time;

use crate::error::{CryptoError, Result};
use crate::keys::{Credential, SignatureAlgorithm, SigningKey, parse_certificate};
use crate::report::CertificateInfo;

/// Reads what Bouquet shows of a certificate (DER).
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo> {
    let cert = parse_certificate(der)?;
    let tbs = cert.tbs_certificate();
    let subject_common_name = tbs
        .subject()
        .common_name()
        .ok()
        .flatten()
        .map(String::from)
        .unwrap_or_else(|| name_to_string(tbs.subject()));
    Ok(CertificateInfo {
        subject_common_name,
        subject: name_to_string(tbs.subject()),
        issuer: name_to_string(tbs.issuer()),
        serial_hex: hex::encode_upper(tbs.serial_number().as_bytes()),
        not_before: to_timestamp(tbs.validity().not_before),
        not_after: to_timestamp(tbs.validity().not_after),
        sha256_hex: hex::encode(Sha256::digest(der)),
    })
}

/// RFC 4514 text of a name, readable for any string attribute (the library's rendering shows
/// less common attributes such as organizationIdentifier in hexadecimal).
pub(crate) fn name_to_string(name: &x509_cert::name::Name) -> String {
    use x509_cert::ext::pkix::name::DirectoryString;
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            let parts: Vec<String> = rdn
                .iter()
                .map(|atv| {
                    let label = match atv.oid.to_string().as_str() {
                        "2.5.4.3" => "CN".to_string(),
                        "2.5.4.6" => "C".to_string(),
                        "2.5.4.10" => "O".to_string(),
                        "2.5.4.11" => "OU".to_string(),
                        "2.5.4.7" => "L".to_string(),
                        "2.5.4.8" => "ST".to_string(),
                        _ => const_oid::db::DB
                            .by_oid(&atv.oid)
                            .map_or_else(|| atv.oid.to_string(), str::to_string),
                    };
                    let value = DirectoryString::try_from(&atv.value)
                        .map(String::from)
                        .or_else(|_| {
                            atv.value
                                .decode_as::<der::asn1::Ia5String>()
                                .map(|s| s.to_string())
                        })
                        .unwrap_or_else(|_| {
                            format!("#{}", hex::encode(atv.value.to_der().unwrap_or_default()))
                        });
                    format!("{label}={}", escape_rfc4514(&value))
                })
                .collect();
            parts.join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge =
            (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn to_timestamp(time: Time) -> Timestamp {
    let secs = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    Timestamp::from_second(secs).unwrap_or(Timestamp::MAX)
}

/// "14/02/2025", in Paris time.
pub fn french_date(at: Timestamp) -> String {
    match at.in_tz("Europe/Paris") {
        Ok(zoned) => zoned.strftime("%d/%m/%Y").to_string(),
        Err(_) => at.strftime("%d/%m/%Y").to_string(),
    }
}

/// Hash functions met in certificates, CMS and XML signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// From a digest algorithm OID.
    pub(crate) fn from_digest_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
        match *oid {
            ID_SHA_256 => Some(Hash::Sha256),
            ID_SHA_384 => Some(Hash::Sha384),
            ID_SHA_512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// From a combined signature algorithm OID (sha256WithRSAEncryption, ecdsa-with-SHA256…).
    pub(crate) fn from_signature_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        match *oid {
            SHA_256_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_256 => Some(Hash::Sha256),
            SHA_384_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_384 => Some(Hash::Sha384),
            SHA_512_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_512 => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// Verifies `signature` over `message` with the public key of the certificate `cert_der`:
/// RSA PKCS#1 v1.5 or ECDSA P-256/P-384 (DER-encoded signature), with the given hash. For
/// XML-DSig, convert an ECDSA signature from its raw r‖s form first.
pub fn verify_with_certificate(
    cert_der: &[u8],
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let cert = parse_certificate(cert_der)?;
    verify_with_spki(
        cert.tbs_certificate().subject_public_key_info(),
        hash,
        message,
        signature,
    )
}

/// See [`verify_with_certificate`].
pub(crate) fn verify_with_spki(
    spki: &SubjectPublicKeyInfoOwned,
    hash: Hash,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let algorithm: &'static dyn VerificationAlgorithm = match spki.algorithm.oid {
        RSA_ENCRYPTION => match hash {
            Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        },
        ID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match (curve, hash) {
                (Some(SECP_256_R_1), Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                (Some(SECP_256_R_1), Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                (Some(SECP_384_R_1), Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                (Some(SECP_384_R_1), Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                _ => return Err(unsupported_algorithm()),
            }
        }
        _ => return Err(unsupported_algorithm()),
    };
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .map_err(|_| CryptoError::Invalid("La signature cryptographique est invalide.".into()))
}

fn unsupported_algorithm() -> CryptoError {
    CryptoError::Invalid(
        "Algorithme de signature non pris en charge (seuls RSA et ECDSA P-256/P-384 avec SHA-2 \
         le sont)."
            .into(),
    )
}

/// Checks a certificate path from `leaf_der` to one of `anchors` at time `at`, using
/// `intermediates` as needed. Returns the path, leaf first, anchor last. Checked: issuer and
/// subject names, each signature, validity at `at`, the CA flag (basicConstraints) of every
/// issuer. **Not checked: revocation.**
pub fn verify_chain(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    anchors: &[Vec<u8>],
    at: Timestamp,
) -> Result<Vec<CertificateInfo>> {
    if anchors.is_empty() {
        return Err(CryptoError::Certificate(
            "Aucune autorité de confiance n'est configurée : la chaîne de certificats ne peut \
             pas être vérifiée."
                .into(),
        ));
    }
    let mut path = Vec::new();
    let mut current = leaf_der.to_vec();
    for _ in 0..8 {
        let info = certificate_info(&current)?;
        if at < info.not_before || at > info.not_after {
            return Err(CryptoError::Certificate(format!(
                "Le certificat « {} » n'était pas valide le {} (valide du {} au {}).",
                info.subject_common_name,
                french_date(at),
                french_date(info.not_before),
                french_date(info.not_after)
            )));
        }
        path.push(info);
        if anchors.contains(&current) {
            return Ok(path);
        }
        let cert = parse_certificate(&current)?;
        let issuer = anchors
            .iter()
            .chain(intermediates)
            .filter(|candidate| **candidate != current)
            .find(|candidate| issued_by(&cert, candidate))
            .ok_or_else(|| {
                CryptoError::Certificate(format!(
                    "Le certificat « {} » n'a pas été émis par une autorité de confiance \
                     (émetteur : {}).",
                    certificate_info(&current)
                        .map(|i| i.subject_common_name)
                        .unwrap_or_default(),
                    cert.tbs_certificate().issuer()
                ))
            })?;
        let issuer_cert = parse_certificate(issuer)?;
        let is_ca = matches!(
            issuer_cert
                .tbs_certificate()
                .get_extension::<X509BasicConstraints>(),
            Ok(Some((_, X509BasicConstraints { ca: true, .. })))
        );
        if !is_ca {
            return Err(CryptoError::Certificate(format!(
                "Le certificat « {} » n'est pas une autorité de certification.",
                issuer_cert.tbs_certificate().subject()
            )));
        }
        current = issuer.clone();
    }
    Err(CryptoError::Certificate(
        "La chaîne de certificats est trop longue.".into(),
    ))
}

/// Whether `issuer_der` has the issuer's name of `cert` and its key signed `cert`.
fn issued_by(cert: &Certificate, issuer_der: &[u8]) -> bool {
    let Ok(issuer) = parse_certificate(issuer_der) else {
        return false;
    };
    if issuer.tbs_certificate().subject() != cert.tbs_certificate().issuer() {
        return false;
    }
    let Some(hash) = Hash::from_signature_oid(&cert.signature_algorithm().oid) else {
        return false;
    };
    let Ok(tbs) = cert.tbs_certificate().to_der() else {
        return false;
    };
    let Some(signature) = cert.signature().as_bytes() else {
        return false;
    };
    verify_with_spki(
        issuer.tbs_certificate().subject_public_key_info(),
        hash,
        &tbs,
        signature,
    )
    .is_ok()
}

/// Who a person's certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSubject {
    pub given_name: String,
    pub surname: String,
    pub email: String,
    pub organisation: String,
    /// Function, e.g. "Maire" (X.520 title).
    pub title: String,
}

/// What a leaf certificate is for (tests and special cases: see [`DemoPki::issue_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafPurpose {
    PersonSignature,
    Seal,
    TimeStamping,
    /// TLS server only (extendedKeyUsage serverAuth): must be refused for signing.
    TlsServer,
}

/// Validity and purpose of a leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafOptions {
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub purpose: LeafPurpose,
}

const ROOT_NAME: &str = "AC Bouquet démo";
const DAY: i64 = 86_400;

/// The demo certification authority: one root that issues persons', seals' and TSA
/// certificates. For demonstrations and tests only: its certificates prove nothing outside
/// Bouquet.
pub struct DemoPki {
    root_der: Vec<u8>,
    root_key: SigningKey,
}

impl std::fmt::Debug for DemoPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DemoPki({ROOT_NAME})")
    }
}

impl DemoPki {
    /// A new root "AC Bouquet démo" (RSA 3072), valid from `now` - 1 day to `now` + 10 years.
    pub fn generate(now: Timestamp) -> Result<DemoPki> {
        let root_key = SigningKey::generate_rsa(3072)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&[
            (DnType::CountryName, "FR"),
            (DnType::OrganizationName, "Bouquet (démonstration)"),
            (DnType::CommonName, ROOT_NAME),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, shift(now, -DAY)?, shift(now, 3653 * DAY)?)?;
        params.serial_number = Some(random_serial()?);
        let key_pair = rcgen_key(&root_key)?;
        let cert = params
            .self_signed(&key_pair)
            .map_err(CryptoError::internal)?;
        Ok(DemoPki {
            root_der: cert.der().to_vec(),
            root_key,
        })
    }

    /// The root stored earlier: its certificate and PKCS#8 key (DER).
    pub fn from_parts(root_cert_der: &[u8], root_key_pkcs8: &[u8]) -> Result<DemoPki> {
        let root_key = SigningKey::from_pkcs8_der(root_key_pkcs8)?;
        crate::keys::check_key_matches(&root_key, root_cert_der)?;
        let pki = DemoPki {
            root_der: root_cert_der.to_vec(),
            root_key,
        };
        pki.issuer()?;
        Ok(pki)
    }

    pub fn root_certificate_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Never log it; seal it with [`crate::keys::seal_private_key`] before storing it.
    pub fn root_key_pkcs8(&self) -> &[u8] {
        self.root_key.pkcs8_der()
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>> {
        Issuer::from_ca_cert_der(&self.root_der.clone().into(), rcgen_key(&self.root_key)?)
            .map_err(|_| CryptoError::bad_input("Le certificat de l'autorité démo est illisible."))
    }

    /// A person's signing certificate, valid from `now` - 1 day to `now` + 3 years.
    pub fn issue_person(&self, subject: PersonSubject, now: Timestamp) -> Result<Credential> {
        let full_name = format!("{} {}", subject.given_name, subject.surname);
        let mut dn = distinguished_name(&[
            (DnType::CountryName, "FR"),
            (DnType::OrganizationName, &subject.organisation),
            (DnType::CommonName, &full_name),
        ]);
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 42]),
            utf8(&subject.given_name),
        );
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 4]),
            utf8(&subject.surname),
        );
        if !subject.title.is_empty() {
            dn.push(
                DnType::CustomDnType(vec![2, 5, 4, 12]),
                utf8(&subject.title),
            );
        }
        let options = default_options(now, LeafPurpose::PersonSignature)?;
        self.issue(dn, Some(&subject.email), &options)
    }

    /// An organisation's seal certificate (cachet serveur): O= and organizationIdentifier
    /// "NTRFR-<SIREN>".
    pub fn issue_seal(
        &self,
        organisation_name: &str,
        siren: &str,
        now: Timestamp,
    ) -> Result<Credential> {
        let mut dn = distinguished_name(&[
            (DnType::CountryName, "FR"),
            (DnType::OrganizationName, organisation_name),
            (DnType::CommonName, organisation_name),
        ]);
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 97]),
            utf8(&format!("NTRFR-{siren}")),
        );
        self.issue(dn, None, &default_options(now, LeafPurpose::Seal)?)
    }

    /// The built-in time-stamping authority's certificate (critical EKU timeStamping).
    pub fn issue_tsa(&self, now: Timestamp) -> Result<Credential> {
        self.issue_with(
            "Horodatage Bouquet démo",
            &default_options(now, LeafPurpose::TimeStamping)?,
        )
    }

    /// A certificate with any validity and purpose (tests: expired, not yet valid, TLS only).
    pub fn issue_with(&self, common_name: &str, options: &LeafOptions) -> Result<Credential> {
        let dn = distinguished_name(&[
            (DnType::CountryName, "FR"),
            (DnType::OrganizationName, "Bouquet (démonstration)"),
            (DnType::CommonName, common_name),
        ]);
        self.issue(dn, None, options)
    }

    fn issue(
        &self,
        dn: DistinguishedName,
        email: Option<&str>,
        options: &LeafOptions,
    ) -> Result<Credential> {
        let key = SigningKey::generate_rsa(2048)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        if let Some(email) = email {
            let email = email.to_string().try_into().map_err(|_| {
                CryptoError::bad_input(format!("Adresse électronique invalide : {email}"))
            })?;
            params.subject_alt_names = vec![SanType::Rfc822Name(email)];
        }
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        set_validity(&mut params, options.not_before, options.not_after)?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        match options.purpose {
            LeafPurpose::PersonSignature => {
                params.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::EmailProtection,
                    ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 12]),
                ];
            }
            LeafPurpose::Seal => {}
            LeafPurpose::TimeStamping => {
                // rcgen writes extendedKeyUsage non-critical; RFC 3161 wants it critical.
                let value = ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING])
                    .to_der()
                    .map_err(CryptoError::internal)?;
                let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], value);
                ext.set_criticality(true);
                params.custom_extensions = vec![ext];
            }
            LeafPurpose::TlsServer => {
                params.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
        }
        let cert = params
            .signed_by(&rcgen_key(&key)?, &self.issuer()?)
            .map_err(CryptoError::internal)?;
        Ok(Credential {
            key,
            certificate: cert.der().to_vec(),
            chain: vec![self.root_der.clone()],
        })
    }
}

fn default_options(now: Timestamp, purpose: LeafPurpose) -> Result<LeafOptions> {
    Ok(LeafOptions {
        not_before: shift(now, -DAY)?,
        not_after: shift(now, 1096 * DAY)?,
        purpose,
    })
}

fn shift(at: Timestamp, seconds: i64) -> Result<Timestamp> {
    at.checked_add(jiff::SignedDuration::from_secs(seconds))
        .map_err(CryptoError::internal)
}

fn utf8(value: &str) -> DnValue {
    DnValue::Utf8String(value.to_string())
}

fn distinguished_name(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        let printable = match ty {
            DnType::CountryName => (*value).to_string().try_into().ok(),
            _ => None,
        };
        dn.push(
            ty.clone(),
            printable.map_or_else(|| utf8(value), DnValue::PrintableString),
        );
    }
    dn
}

fn set_validity(
    params: &mut CertificateParams,
    not_before: Timestamp,
    not_after: Timestamp,
) -> Result<()> {
    let convert = |t: Timestamp| {
        time::OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(CryptoError::internal)
    };
    params.not_before = convert(not_before)?;
    params.not_after = convert(not_after)?;
    Ok(())
}

fn random_serial() -> Result<rcgen::SerialNumber> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(CryptoError::internal)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x10; // positive, no leading zero
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// The same key, as rcgen wants it for signing certificates.
fn rcgen_key(key: &SigningKey) -> Result<KeyPair> {
    let algorithm = match key.algorithm() {
        SignatureAlgorithm::RsaPkcs1Sha256 => &PKCS_RSA_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256 => &PKCS_ECDSA_P256_SHA256,
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().to_vec().into(), algorithm)
        .map_err(CryptoError::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::keys::Purpose;

    fn now() -> Timestamp {
        "2026-06-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn demo_pki_issues_checked_certificates() {
        let pki = DemoPki::generate(now()).unwrap();
        let root = certificate_info(pki.root_certificate_der()).unwrap();
        assert_eq!(root.subject_common_name, ROOT_NAME);
        let person = pki
            .issue_person(
                PersonSubject {
                    given_name: "Anne".into(),
                    surname: "Martin".into(),
                    email: "anne.martin@saint-aubin.fr".into(),
                    organisation: "Commune de Saint-Aubin".into(),
                    title: "Maire".into(),
                },
                now(),
            )
            .unwrap();
        let info = certificate_info(&person.certificate).unwrap();
        assert_eq!(info.subject_common_name, "Anne Martin");
        assert!(
            info.subject.contains("Commune de Saint-Aubin"),
            "{}",
            info.subject
        );
        person
            .check_for_signing(now(), Purpose::PersonSignature)
            .unwrap();
        let anchors = vec![pki.root_certificate_der().to_vec()];
        let chain = verify_chain(&person.certificate, &[], &anchors, now()).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].subject_common_name, ROOT_NAME);

        // Stored and reloaded, the root still issues certificates that chain.
        let again = DemoPki::from_parts(pki.root_certificate_der(), pki.root_key_pkcs8()).unwrap();
        let stranger = DemoPki::generate(now()).unwrap();
        assert!(
            DemoPki::from_parts(pki.root_certificate_der(), stranger.root_key_pkcs8()).is_err()
        );
        let seal = again
            .issue_seal("Commune de Saint-Aubin", "213100000", now())
            .unwrap();
        seal.check_for_signing(now(), Purpose::Seal).unwrap();
        let subject = certificate_info(&seal.certificate).unwrap().subject;
        assert!(subject.contains("NTRFR-213100000"), "{subject}");
        verify_chain(&seal.certificate, &[], &anchors, now()).unwrap();
        let tsa = again.issue_tsa(now()).unwrap();
        tsa.check_for_signing(now(), Purpose::TimeStamping).unwrap();
        // A person's certificate is not a TSA's.
        assert!(
            person
                .check_for_signing(now(), Purpose::TimeStamping)
                .is_err()
        );

        // Outside its validity, or against another root, the path fails.
        let later = shift(now(), 4 * 365 * DAY).unwrap();
        let err = verify_chain(&person.certificate, &[], &anchors, later).unwrap_err();
        assert!(err.to_string().contains("n'était pas valide"), "{err}");
        let other = DemoPki::generate(now()).unwrap();
        let err = verify_chain(
            &person.certificate,
            &[],
            &[other.root_certificate_der().to_vec()],
            now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("autorité de confiance"), "{err}");
        // Unrelated extra certificates are ignored.
        let fake = verify_chain(
            &seal.certificate,
            std::slice::from_ref(&person.certificate),
            &anchors,
            now(),
        );
        assert!(fake.is_ok());
    }

    #[test]
    fn french_dates() {
        let t: Timestamp = "2025-02-14T22:30:00Z".parse().unwrap();
        assert_eq!(french_date(t), "14/02/2025");
        let t: Timestamp = "2025-02-14T23:30:00Z".parse().unwrap();
        assert_eq!(french_date(t), "15/02/2025");
    }
}
