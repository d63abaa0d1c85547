//! CMS SignedData: CAdES detached (`.p7s`), the CMS inside a PAdES signature, and the tokens
//! of the built-in time-stamping authority.
//!
//! Signatures are built by hand from the `cms` crate's types (its builder reads the system
//! clock). Signed attributes: contentType, messageDigest, signingCertificateV2 (ESS, RFC 5035,
//! SHA-256 of the signer's certificate) and, for CAdES, signingTime. B-T is done in two phases
//! so that the caller talks to the TSA: [`signature_value`] then [`add_signature_timestamp`].

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ID_EC_PUBLIC_KEY, ID_SHA_256, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use jiff::Timestamp;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use crate::error::{CryptoError, Result};
use crate::keys::{Credential, SignatureAlgorithm, parse_certificate};
use crate::pki::{Hash, certificate_info, french_date, verify_chain, verify_with_spki};
use crate::report::{Check, SignatureFormat, SignatureReport};
use crate::tsa::BuiltInTsa;

pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// ESS `SigningCertificateV2` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// ESS `ESSCertIDv2`; an absent hash algorithm means SHA-256 (the DEFAULT).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<Any>,
}

/// What to put in the signed attributes besides the mandatory ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignOptions {
    /// The signingTime attribute: `Some` for CAdES, `None` for PAdES (its time is `/M`).
    pub signing_time: Option<Timestamp>,
}

fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

fn attribute(
    oid: ObjectIdentifier,
    value: &(impl der::EncodeValue + der::Tagged),
) -> Result<Attribute> {
    let value = Any::encode_from(value).map_err(CryptoError::internal)?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(CryptoError::internal)?,
    })
}

fn internal(e: der::Error) -> CryptoError {
    CryptoError::internal(e)
}

/// Signs the SHA-256 `content_sha256` of a document: DER ContentInfo(SignedData), detached
/// (eContentType id-data, no eContent), with the signer's certificate and chain.
pub fn sign_detached_digest(
    credential: &Credential,
    content_sha256: &[u8; 32],
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    build_signed_data(
        credential,
        ID_DATA,
        None,
        content_sha256,
        opts.signing_time,
        true,
    )
}

/// A SignedData with one signer over `econtent_type` whose SHA-256 is `digest`; `econtent`
/// is embedded when given (time-stamp tokens), otherwise the signature is detached.
pub(crate) fn build_signed_data(
    credential: &Credential,
    econtent_type: ObjectIdentifier,
    econtent: Option<&[u8]>,
    digest: &[u8; 32],
    signing_time: Option<Timestamp>,
    include_certificates: bool,
) -> Result<Vec<u8>> {
    let cert = parse_certificate(&credential.certificate)?;
    let tbs = cert.tbs_certificate();
    let mut attrs = vec![
        attribute(ID_CONTENT_TYPE, &econtent_type)?,
        attribute(
            ID_MESSAGE_DIGEST,
            &OctetString::new(digest.to_vec()).map_err(internal)?,
        )?,
        attribute(
            ID_AA_SIGNING_CERTIFICATE_V2,
            &SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    hash_algorithm: None,
                    cert_hash: OctetString::new(Sha256::digest(&credential.certificate).to_vec())
                        .map_err(internal)?,
                    issuer_serial: None,
                }],
                policies: None,
            },
        )?,
    ];
    if let Some(at) = signing_time {
        let duration =
            std::time::Duration::from_secs(u64::try_from(at.as_second()).map_err(|_| {
                CryptoError::bad_input("La date de signature est antérieure à 1970.")
            })?);
        // UTCTime up to 2049, GeneralizedTime after (RFC 5652 § 11.3).
        let time = match der::asn1::UtcTime::from_unix_duration(duration) {
            Ok(utc) => Time::from(utc),
            Err(_) => Time::from(
                der::asn1::GeneralizedTime::from_unix_duration(duration).map_err(internal)?,
            ),
        };
        attrs.push(attribute(ID_SIGNING_TIME, &time)?);
    }
    let signed_attrs = SetOfVec::try_from(attrs).map_err(internal)?;
    let signature = credential
        .key
        .sign(&signed_attrs.to_der().map_err(internal)?)?;
    let signature_algorithm = match credential.key.algorithm() {
        SignatureAlgorithm::RsaPkcs1Sha256 => SHA_256_WITH_RSA_ENCRYPTION,
        SignatureAlgorithm::EcdsaP256Sha256 => ECDSA_WITH_SHA_256,
    };
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: algorithm(ID_SHA_256),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: algorithm(signature_algorithm),
        signature: OctetString::new(signature).map_err(internal)?,
        unsigned_attrs: None,
    };
    let certificates = if include_certificates {
        let mut set = SetOfVec::new();
        for der in std::iter::once(&credential.certificate).chain(&credential.chain) {
            set.insert(cms::cert::CertificateChoices::Certificate(
                parse_certificate(der)?,
            ))
            .map_err(internal)?;
        }
        Some(CertificateSet(set))
    } else {
        None
    };
    let econtent = econtent
        .map(|bytes| {
            OctetString::new(bytes.to_vec())
                .and_then(|o| Any::encode_from(&o))
                .map_err(internal)
        })
        .transpose()?;
    let signed_data = SignedData {
        version: if econtent_type == ID_DATA {
            CmsVersion::V1
        } else {
            CmsVersion::V3
        },
        digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA_256)]).map_err(internal)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type,
            econtent,
        },
        certificates,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(internal)?),
    };
    encode_content_info(&signed_data)
}

fn encode_content_info(signed_data: &SignedData) -> Result<Vec<u8>> {
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(signed_data).map_err(internal)?,
    }
    .to_der()
    .map_err(internal)
}

/// Reads a ContentInfo(SignedData), DER or PEM.
pub(crate) fn parse_signed_data(input: &[u8]) -> Result<SignedData> {
    let der = parse_pem_or_der(input)?;
    let unreadable =
        || CryptoError::bad_input("Le fichier n'est pas une signature CMS (PKCS#7) lisible.");
    let info = ContentInfo::from_der(&der).map_err(|_| unreadable())?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(unreadable());
    }
    info.content
        .decode_as::<SignedData>()
        .map_err(|_| unreadable())
}

fn only_signer(signed_data: &SignedData) -> Result<&SignerInfo> {
    match signed_data.signer_infos.0.as_slice() {
        [signer] => Ok(signer),
        [] => Err(CryptoError::bad_input(
            "La signature CMS ne contient aucun signataire.",
        )),
        _ => Err(CryptoError::bad_input(
            "La signature CMS contient plusieurs signataires : cas non pris en charge.",
        )),
    }
}

/// The signature value of the (only) signer: what a signature time-stamp covers (its SHA-256
/// is the imprint to send to the TSA).
pub fn signature_value(cms_der: &[u8]) -> Result<Vec<u8>> {
    let signed_data = parse_signed_data(cms_der)?;
    Ok(only_signer(&signed_data)?.signature.as_bytes().to_vec())
}

/// Adds an RFC 3161 token (DER ContentInfo) as the unsigned attribute
/// signature-time-stamp of the (only) signer: CAdES/PAdES B-T.
pub fn add_signature_timestamp(cms_der: &[u8], token_der: &[u8]) -> Result<Vec<u8>> {
    let mut signed_data = parse_signed_data(cms_der)?;
    only_signer(&signed_data)?;
    let token = Any::from_der(token_der)
        .map_err(|_| CryptoError::bad_input("Le jeton d'horodatage est illisible."))?;
    let mut signers = signed_data.signer_infos.0.into_vec();
    for signer in &mut signers {
        let mut attrs = signer
            .unsigned_attrs
            .take()
            .map(SetOfVec::into_vec)
            .unwrap_or_default();
        attrs.push(attribute(ID_AA_SIGNATURE_TIME_STAMP_TOKEN, &token)?);
        signer.unsigned_attrs = Some(SetOfVec::try_from(attrs).map_err(internal)?);
    }
    signed_data.signer_infos = SignerInfos(SetOfVec::try_from(signers).map_err(internal)?);
    encode_content_info(&signed_data)
}

/// CAdES B-T in one call with the built-in TSA (tests and demonstrations).
pub fn sign_detached_digest_with_tsa(
    credential: &Credential,
    content_sha256: &[u8; 32],
    opts: &SignOptions,
    tsa: &BuiltInTsa,
    now: Timestamp,
    serial: u64,
) -> Result<Vec<u8>> {
    let cms_der = sign_detached_digest(credential, content_sha256, opts)?;
    let imprint: [u8; 32] = Sha256::digest(signature_value(&cms_der)?).into();
    let request = crate::tsa::request_der(&imprint, serial)?;
    let response = tsa.respond(&request, now, serial)?;
    let token = crate::tsa::token_from_response(&response, &imprint, serial)?;
    add_signature_timestamp(&cms_der, &token)
}

/// The one signer of a SignedData, with the certificates that came with it.
pub(crate) struct Signer {
    pub info: SignerInfo,
    /// The signer's certificate (DER), if found among `certificates`.
    pub certificate: Option<Vec<u8>>,
    /// All certificates of the SignedData (DER).
    pub certificates: Vec<Vec<u8>>,
}

impl Signer {
    pub(crate) fn of(signed_data: &SignedData) -> Result<Signer> {
        let info = only_signer(signed_data)?.clone();
        let mut certificates = Vec::new();
        let mut certificate = None;
        for choice in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
            let cms::cert::CertificateChoices::Certificate(cert) = choice else {
                continue;
            };
            let der = cert.to_der().map_err(internal)?;
            if certificate.is_none() && identifies(&info.sid, cert) {
                certificate = Some(der.clone());
            }
            certificates.push(der);
        }
        Ok(Signer {
            info,
            certificate,
            certificates,
        })
    }

    fn signed_attr(&self, oid: ObjectIdentifier) -> Option<&Any> {
        self.info
            .signed_attrs
            .as_ref()?
            .iter()
            .find(|a| a.oid == oid)?
            .values
            .get(0)
    }

    /// The digest algorithm of the signer (the content digest must be made with it).
    pub(crate) fn digest_hash(&self) -> Option<Hash> {
        Hash::from_digest_oid(&self.info.digest_alg.oid)
    }

    /// The signingTime attribute.
    pub(crate) fn signing_time(&self) -> Option<Timestamp> {
        let time = self
            .signed_attr(ID_SIGNING_TIME)?
            .decode_as::<Time>()
            .ok()?;
        Some(crate::pki::to_timestamp(time))
    }

    /// The signature-time-stamp unsigned attribute (DER token).
    pub(crate) fn timestamp_token(&self) -> Option<Vec<u8>> {
        let attr = self
            .info
            .unsigned_attrs
            .as_ref()?
            .iter()
            .find(|a| a.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)?;
        attr.values.get(0)?.to_der().ok()
    }

    /// Integrity: messageDigest equals `content_digest` (made with [`Self::digest_hash`]),
    /// the signature over the signed attributes verifies with the signer's certificate, and
    /// signingCertificateV2, if present, designates that certificate.
    pub(crate) fn check_integrity(&self, content_digest: &[u8]) -> Check {
        let Some(signed_attrs) = &self.info.signed_attrs else {
            return Check::Failed(
                "Signature sans attributs signés : format non pris en charge.".into(),
            );
        };
        let digest = self
            .signed_attr(ID_MESSAGE_DIGEST)
            .and_then(|v| v.decode_as::<OctetString>().ok());
        match digest {
            None => return Check::Failed("L'empreinte signée (messageDigest) est absente.".into()),
            Some(d) if d.as_bytes() != content_digest => {
                return Check::Failed(
                    "Le document a été modifié depuis la signature : son empreinte ne \
                     correspond plus à celle qui a été signée."
                        .into(),
                );
            }
            Some(_) => {}
        }
        let Some(cert_der) = &self.certificate else {
            return Check::Failed(
                "Le certificat du signataire n'est pas joint à la signature.".into(),
            );
        };
        let Ok(cert) = parse_certificate(cert_der) else {
            return Check::Failed("Le certificat du signataire est illisible.".into());
        };
        let sig_oid = self.info.signature_algorithm.oid;
        let hash = match sig_oid {
            RSA_ENCRYPTION | ID_EC_PUBLIC_KEY => self.digest_hash(),
            _ => Hash::from_signature_oid(&sig_oid),
        };
        let Some(hash) = hash else {
            return Check::Failed(format!(
                "Algorithme de signature non pris en charge ({sig_oid})."
            ));
        };
        let Ok(message) = signed_attrs.to_der() else {
            return Check::Failed("Attributs signés illisibles.".into());
        };
        if verify_with_spki(
            cert.tbs_certificate().subject_public_key_info(),
            hash,
            &message,
            self.info.signature.as_bytes(),
        )
        .is_err()
        {
            return Check::Failed(
                "La valeur de signature ne correspond pas aux données signées : la signature a \
                 été altérée ou faite avec une autre clé."
                    .into(),
            );
        }
        if let Some(value) = self.signed_attr(ID_AA_SIGNING_CERTIFICATE_V2) {
            let Ok(signing_cert) = value.decode_as::<SigningCertificateV2>() else {
                return Check::Failed("Attribut signingCertificateV2 illisible.".into());
            };
            if let Some(first) = signing_cert.certs.first() {
                let expected = match first.hash_algorithm.as_ref().map(|a| a.oid) {
                    None | Some(ID_SHA_256) => Some(Sha256::digest(cert_der).to_vec()),
                    Some(other) => Hash::from_digest_oid(&other).map(|h| hash_with(h, cert_der)),
                };
                if expected.is_some_and(|e| e != first.cert_hash.as_bytes()) {
                    return Check::Failed(
                        "Le certificat désigné dans la signature (signingCertificateV2) n'est \
                         pas celui qui y est joint."
                            .into(),
                    );
                }
            }
        }
        Check::Ok
    }
}

pub(crate) fn hash_with(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha384 => Sha384::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// Whether `cert` is the one `sid` designates (issuer and serial, or subject key identifier).
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == *tbs.issuer() && isn.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, own))) if own == *ski
        ),
    }
}

/// Verifies a detached CMS/CAdES signature (DER or PEM) over a document whose SHA-256 is
/// `content_sha256`, against the trust `anchors` (DER certificates). The certificate path is
/// checked at the time-stamp's time if any, else at the claimed signing time, else at `at`.
/// Revocation is not checked. Errors only when the input is not a readable signature; every
/// other problem is in the report.
pub fn verify_detached_digest(
    cms_der: &[u8],
    content_sha256: &[u8; 32],
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
    format: SignatureFormat,
) -> Result<SignatureReport> {
    let signed_data = parse_signed_data(cms_der)?;
    let signer = Signer::of(&signed_data)?;
    let mut report = SignatureReport::new(format, "");
    report.signer = signer
        .certificate
        .as_deref()
        .and_then(|c| certificate_info(c).ok());
    report.claimed_time = signer.signing_time();
    report.integrity = if signer.digest_hash() == Some(Hash::Sha256) {
        signer.check_integrity(content_sha256)
    } else {
        Check::NotChecked(
            "L'empreinte du document n'a pas été calculée avec SHA-256 : vérification non \
             prise en charge."
                .into(),
        )
    };

    if let Some(token) = signer.timestamp_token() {
        let imprint: [u8; 32] = Sha256::digest(signer.info.signature.as_bytes()).into();
        report.timestamp_check = if anchors.is_empty() {
            Check::NotChecked("aucune autorité de confiance fournie".into())
        } else {
            match crate::tsa::verify_token(&token, &imprint, anchors) {
                Ok(info) => {
                    report.timestamp = Some((info.time, info.authority));
                    Check::Ok
                }
                Err(e) => Check::Failed(e.to_string()),
            }
        };
    }

    // The certificate is judged at a time nobody could choose: the verified time-stamp, else
    // the verification time the caller gives; the signer's own claimed time only when the
    // caller asks for it by giving no time (as pyHanko's `--validation-time claimed`).
    let reference_time = report
        .timestamp
        .as_ref()
        .map(|(t, _)| *t)
        .or(at)
        .or(report.claimed_time);
    report.certificate = match (&signer.certificate, reference_time) {
        (None, _) => Check::Failed("Le certificat du signataire n'est pas joint.".into()),
        _ if anchors.is_empty() => Check::NotChecked("aucune autorité de confiance fournie".into()),
        (Some(_), None) => Check::NotChecked("aucune date de référence fournie".into()),
        (Some(cert), Some(time)) => {
            let others: Vec<Vec<u8>> = signer
                .certificates
                .iter()
                .filter(|c| *c != cert)
                .cloned()
                .collect();
            match verify_chain(cert, &others, anchors, time) {
                Ok(chain) => {
                    report.chain = chain;
                    Check::Ok
                }
                Err(e) => Check::Failed(e.to_string()),
            }
        }
    };
    if let (None, Some(claimed)) = (&report.timestamp, report.claimed_time) {
        report.remarks.push(format!(
            "La date de signature ({}) est celle déclarée par le signataire ; aucun \
             horodatage ne la prouve.",
            french_date(claimed)
        ));
    }
    if let (Some(at), Some(signer_info)) = (at, &report.signer)
        && at > signer_info.not_after
    {
        report.remarks.push(format!(
            "Le certificat du signataire a expiré le {}{}.",
            french_date(signer_info.not_after),
            if report.certificate.is_ok() {
                " ; il était valide à la date de signature"
            } else {
                ""
            }
        ));
    }
    report
        .remarks
        .push("La révocation des certificats n'a pas été vérifiée.".into());
    Ok(report)
}

/// Accepts a PEM (`-----BEGIN PKCS7-----`, `CMS`, `CERTIFICATE`…) or DER input; returns DER.
pub fn parse_pem_or_der(input: &[u8]) -> Result<Vec<u8>> {
    let text = match std::str::from_utf8(input) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN ") => text,
        _ => return Ok(input.to_vec()),
    };
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END "))
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| CryptoError::bad_input("Le fichier PEM est illisible (base64 invalide)."))
}

/// PEM armour for downloads, e.g. `to_pem(&cms, "PKCS7")` or `to_pem(&cert, "CERTIFICATE")`.
pub fn to_pem(der: &[u8], label: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let pem = to_pem(&der, "PKCS7");
        assert!(pem.starts_with("-----BEGIN PKCS7-----\n"));
        assert_eq!(parse_pem_or_der(pem.as_bytes()).unwrap(), der);
        assert_eq!(parse_pem_or_der(&der).unwrap(), der);
    }
}
