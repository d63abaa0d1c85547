//! RFC 3161 time-stamps: requests, the built-in demo authority's responses, and token checks.
//! No network here: the caller sends the request to an external TSA if it uses one.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::ID_SHA_256;
use der::asn1::{BitString, GeneralizedTime, OctetString, Uint};
use der::{Any, Decode, Encode, Sequence};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;

use crate::cms::{Signer, build_signed_data, hash_with, parse_signed_data};
use crate::error::{CryptoError, Result};
use crate::keys::{Credential, Purpose, check_certificate_for};
use crate::pki::{certificate_info, verify_chain};
use crate::report::Check;

/// id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The demo authority's policy, under IANA's example enterprise number 32473 (RFC 5612): it
/// is no registered policy and proves nothing outside Bouquet.
pub const DEMO_POLICY_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1");

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<Uint>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<Uint>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<Uint>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<Uint>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Uint,
    /// GeneralizedTime, kept raw: TSAs often add fractions of a second, which `der` refuses.
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Uint>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

fn internal(e: der::Error) -> CryptoError {
    CryptoError::internal(e)
}

fn sha256_imprint(imprint: &[u8; 32]) -> Result<MessageImprint> {
    Ok(MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA_256,
            parameters: None,
        },
        hashed_message: OctetString::new(imprint.to_vec()).map_err(internal)?,
    })
}

fn uint(value: u64) -> Result<Uint> {
    Uint::new(&value.to_be_bytes()).map_err(internal)
}

/// A time-stamp request (DER) for a SHA-256 imprint, asking for the TSA's certificate.
pub fn request_der(message_imprint_sha256: &[u8; 32], nonce: u64) -> Result<Vec<u8>> {
    TimeStampReq {
        version: 1,
        message_imprint: sha256_imprint(message_imprint_sha256)?,
        req_policy: None,
        nonce: Some(uint(nonce)?),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(internal)
}

/// The built-in (demo) time-stamping authority: signs TSTInfo with its credential, whose
/// certificate must carry the critical extendedKeyUsage timeStamping.
#[derive(Debug)]
pub struct BuiltInTsa {
    pub credential: Credential,
    pub policy_oid: ObjectIdentifier,
}

impl BuiltInTsa {
    /// With the demo policy [`DEMO_POLICY_OID`].
    pub fn new(credential: Credential) -> BuiltInTsa {
        BuiltInTsa {
            credential,
            policy_oid: DEMO_POLICY_OID,
        }
    }

    /// Answers a request: a granted TimeStampResp (DER) with a token at `now`, or a
    /// rejection response when the request is malformed or not SHA-256. Errors only on an
    /// internal failure (e.g. the TSA certificate is expired at `now`).
    pub fn respond(&self, request_der: &[u8], now: Timestamp, serial: u64) -> Result<Vec<u8>> {
        // failInfo bits (RFC 3161): badAlg 0, badDataFormat 5, unacceptedPolicy 15.
        let Ok(request) = TimeStampReq::from_der(request_der) else {
            return rejection("requête d'horodatage illisible", 2, &[0x04]);
        };
        if request.message_imprint.hash_algorithm.oid != ID_SHA_256
            || request.message_imprint.hashed_message.as_bytes().len() != 32
        {
            return rejection("seul SHA-256 est accepté", 7, &[0x80]);
        }
        if request.req_policy.is_some_and(|p| p != self.policy_oid) {
            return rejection("politique d'horodatage non proposée", 0, &[0x00, 0x01]);
        }
        check_certificate_for(&self.credential.certificate, now, Purpose::TimeStamping)?;
        let seconds = u64::try_from(now.as_second()).map_err(CryptoError::internal)?;
        let tst_info = TstInfo {
            version: 1,
            policy: self.policy_oid,
            message_imprint: request.message_imprint,
            serial_number: uint(serial)?,
            gen_time: Any::encode_from(
                &GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
                    .map_err(internal)?,
            )
            .map_err(internal)?,
            accuracy: Some(Accuracy {
                seconds: Some(uint(1)?),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: request.nonce,
            tsa: None,
            extensions: None,
        }
        .to_der()
        .map_err(internal)?;
        let digest: [u8; 32] = Sha256::digest(&tst_info).into();
        let token = build_signed_data(
            &self.credential,
            ID_CT_TST_INFO,
            Some(&tst_info),
            &digest,
            None,
            request.cert_req,
        )?;
        TimeStampResp {
            status: PkiStatusInfo {
                status: 0,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(Any::from_der(&token).map_err(internal)?),
        }
        .to_der()
        .map_err(internal)
    }
}

fn rejection(reason: &str, unused_bits: u8, bits: &[u8]) -> Result<Vec<u8>> {
    TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![reason.to_string()]),
            fail_info: Some(BitString::new(unused_bits, bits.to_vec()).map_err(internal)?),
        },
        time_stamp_token: None,
    }
    .to_der()
    .map_err(internal)
}

fn read_tst_info(token_der: &[u8]) -> Result<(cms::signed_data::SignedData, Vec<u8>, TstInfo)> {
    let unreadable = || CryptoError::Invalid("Le jeton d'horodatage est illisible.".into());
    let signed_data = parse_signed_data(token_der).map_err(|_| unreadable())?;
    let content = &signed_data.encap_content_info;
    if content.econtent_type != ID_CT_TST_INFO {
        return Err(unreadable());
    }
    let bytes = content
        .econtent
        .as_ref()
        .and_then(|any| any.decode_as::<OctetString>().ok())
        .ok_or_else(unreadable)?
        .into_bytes()
        .to_vec();
    let info = TstInfo::from_der(&bytes).map_err(|_| unreadable())?;
    Ok((signed_data, bytes, info))
}

fn check_imprint(info: &TstInfo, expected: &[u8; 32]) -> Result<()> {
    let imprint = &info.message_imprint;
    if imprint.hash_algorithm.oid != ID_SHA_256 || imprint.hashed_message.as_bytes() != expected {
        return Err(CryptoError::Invalid(
            "Le jeton d'horodatage ne porte pas sur ces données (empreinte différente).".into(),
        ));
    }
    Ok(())
}

/// Checks a TSA's response to our request (status, imprint, nonce) and returns its token
/// (DER ContentInfo), to embed with [`crate::cms::add_signature_timestamp`].
pub fn token_from_response(
    resp_der: &[u8],
    expected_imprint: &[u8; 32],
    expected_nonce: u64,
) -> Result<Vec<u8>> {
    let response = TimeStampResp::from_der(resp_der).map_err(|_| {
        CryptoError::Invalid("La réponse de l'autorité d'horodatage est illisible.".into())
    })?;
    if response.status.status > 1 {
        let reason = response
            .status
            .status_string
            .map(|s| s.join(" ; "))
            .unwrap_or_else(|| format!("statut {}", response.status.status));
        return Err(CryptoError::Invalid(format!(
            "L'autorité d'horodatage a refusé la demande : {reason}. Réessayez plus tard ou \
             contactez l'administrateur."
        )));
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| {
            CryptoError::Invalid(
                "La réponse de l'autorité d'horodatage ne contient pas de jeton.".into(),
            )
        })?
        .to_der()
        .map_err(internal)?;
    let (_, _, info) = read_tst_info(&token)?;
    check_imprint(&info, expected_imprint)?;
    if info.nonce != Some(uint(expected_nonce)?) {
        return Err(CryptoError::Invalid(
            "La réponse de l'autorité d'horodatage ne correspond pas à la demande (nonce \
             différent)."
                .into(),
        ));
    }
    Ok(token)
}

/// Reads "YYYYMMDDHHMMSS[.fraction]Z" (the fraction is dropped).
fn gen_time(value: &Any) -> Result<Timestamp> {
    let unreadable = || CryptoError::Invalid("La date du jeton d'horodatage est illisible.".into());
    let text = std::str::from_utf8(value.value()).map_err(|_| unreadable())?;
    if der::Tagged::tag(value) != der::Tag::GeneralizedTime
        || !text.ends_with('Z')
        || text.len() < 15
    {
        return Err(unreadable());
    }
    let civil =
        jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", text.get(..14).ok_or_else(unreadable)?)
            .map_err(|_| unreadable())?;
    civil
        .in_tz("UTC")
        .map(|z| z.timestamp())
        .map_err(|_| unreadable())
}

/// What a verified time-stamp token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampInfo {
    pub time: Timestamp,
    /// Common name of the TSA's certificate.
    pub authority: String,
    /// Serial number of the token, upper-case hexadecimal.
    pub serial: String,
}

/// Verifies a token (DER ContentInfo): it covers `expected_imprint` (SHA-256), its signature
/// holds, it is signed by a time-stamping certificate (critical EKU timeStamping) that chains
/// to one of `anchors` at the token's time. Revocation is not checked.
pub fn verify_token(
    token_der: &[u8],
    expected_imprint: &[u8; 32],
    anchors: &[Vec<u8>],
) -> Result<TimeStampInfo> {
    let (signed_data, content, info) = read_tst_info(token_der)?;
    check_imprint(&info, expected_imprint)?;
    let signer = Signer::of(&signed_data)?;
    let hash = signer.digest_hash().ok_or_else(|| {
        CryptoError::Invalid(
            "Algorithme d'empreinte du jeton d'horodatage non pris en charge.".into(),
        )
    })?;
    if let Check::Failed(reason) = signer.check_integrity(&hash_with(hash, &content)) {
        return Err(CryptoError::Invalid(format!(
            "Le jeton d'horodatage est invalide : {reason}"
        )));
    }
    let time = gen_time(&info.gen_time)?;
    let cert = signer.certificate.as_deref().ok_or_else(|| {
        CryptoError::Invalid("Le certificat de l'autorité d'horodatage n'est pas joint.".into())
    })?;
    check_certificate_for(cert, time, Purpose::TimeStamping)?;
    verify_chain(cert, &signer.certificates, anchors, time)?;
    Ok(TimeStampInfo {
        time,
        authority: certificate_info(cert)?.subject_common_name,
        serial: hex::encode_upper(info.serial_number.as_bytes()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::pki::DemoPki;

    #[test]
    fn request_response_token() {
        let now: Timestamp = "2026-06-01T10:00:00Z".parse().unwrap();
        let pki = DemoPki::generate(now).unwrap();
        let tsa = BuiltInTsa::new(pki.issue_tsa(now).unwrap());
        let imprint = [9u8; 32];
        let request = request_der(&imprint, 42).unwrap();
        let response = tsa.respond(&request, now, 7).unwrap();
        let token = token_from_response(&response, &imprint, 42).unwrap();
        let anchors = vec![pki.root_certificate_der().to_vec()];
        let info = verify_token(&token, &imprint, &anchors).unwrap();
        assert_eq!(info.time, now);
        assert_eq!(info.authority, "Horodatage Bouquet démo");
        assert_eq!(info.serial, "07");
        assert!(token_from_response(&response, &imprint, 43).is_err());
        assert!(verify_token(&token, &[8u8; 32], &anchors).is_err());

        // Another policy is refused.
        let mut other_policy = TimeStampReq::from_der(&request).unwrap();
        other_policy.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4"));
        let response = tsa
            .respond(&other_policy.to_der().unwrap(), now, 9)
            .unwrap();
        assert!(token_from_response(&response, &imprint, 42).is_err());

        // A bad request gets a rejection, which token_from_response reports in French.
        let rejected = tsa.respond(b"not a request", now, 8).unwrap();
        let err = token_from_response(&rejected, &imprint, 42).unwrap_err();
        assert!(err.to_string().contains("a refusé la demande"), "{err}");
    }
}
