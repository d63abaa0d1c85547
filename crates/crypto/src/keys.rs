//! Signing keys and their certificates: generation, PKCS#12 import, purpose checks and
//! encryption of private keys at rest.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ANY_EXTENDED_KEY_USAGE, ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION, ID_KP_TIME_STAMPING,
};
use der::Decode;
use jiff::Timestamp;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::pki::{certificate_info, french_date};

/// The signature algorithms Bouquet produces. RGS certificates are RSA; ECDSA P-256 is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// sha256WithRSAEncryption, PKCS#1 v1.5 (1.2.840.113549.1.1.11).
    RsaPkcs1Sha256,
    /// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), DER-encoded (r, s).
    EcdsaP256Sha256,
}

enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A private key able to sign. Keeps its PKCS#8 form (wiped on drop) so that it can be sealed
/// for storage. Its `Debug` never shows the key.
pub struct SigningKey {
    key: Key,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.algorithm())
    }
}

impl SigningKey {
    /// Reads a PKCS#8 (DER) private key, RSA or ECDSA P-256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let pkcs8 = Zeroizing::new(der.to_vec());
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
            return Ok(SigningKey {
                key: Key::Rsa(rsa),
                pkcs8,
            });
        }
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(|k| SigningKey {
                key: Key::Ecdsa(k),
                pkcs8,
            })
            .map_err(|_| {
                CryptoError::bad_input(
                    "La clé privée n'est ni une clé RSA ni une clé ECDSA P-256 lisible.",
                )
            })
    }

    /// A new RSA key of 2048 or 3072 bits.
    pub fn generate_rsa(bits: usize) -> Result<Self> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(CryptoError::bad_input(format!(
                    "Taille de clé RSA non prise en charge : {bits} bits (choisissez 2048 ou 3072)."
                )));
            }
        };
        let pair = RsaKeyPair::generate(size).map_err(CryptoError::internal)?;
        let der = pair.as_der().map_err(CryptoError::internal)?;
        Self::from_pkcs8_der(der.as_ref())
    }

    /// A new ECDSA P-256 key.
    pub fn generate_ecdsa_p256() -> Result<Self> {
        let der =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(CryptoError::internal)?;
        Self::from_pkcs8_der(der.as_ref())
    }

    /// The PKCS#8 (DER) form, to seal with [`seal_private_key`]. Never log it.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            Key::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
            Key::Ecdsa(_) => SignatureAlgorithm::EcdsaP256Sha256,
        }
    }

    /// Signs `message` (hashed with SHA-256 by the algorithm itself).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut signature = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(CryptoError::internal)?;
                Ok(signature)
            }
            Key::Ecdsa(k) => Ok(k
                .sign(&rng, message)
                .map_err(CryptoError::internal)?
                .as_ref()
                .to_vec()),
        }
    }
}

/// What a certificate is about to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A person's signature (élu, agent).
    PersonSignature,
    /// An organisation's seal (cachet serveur).
    Seal,
    /// A time-stamping authority (RFC 3161).
    TimeStamping,
}

/// Microsoft "Document Signing" (1.3.6.1.4.1.311.10.3.12).
const MS_DOCUMENT_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.12");
/// id-kp-documentSigning (RFC 9336).
const ID_KP_DOCUMENT_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.36");
/// Adobe Authentic Documents Trust (1.2.840.113583.1.1.5).
const ADOBE_AUTHENTIC_DOCUMENTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113583.1.1.5");

/// A signing key with its certificate (DER) and the rest of its chain (DER, issuer first,
/// root last if known).
#[derive(Debug)]
pub struct Credential {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

impl Credential {
    /// Reads a PKCS#12 file (`.p12`, `.pfx`) holding one private key and its certificate.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Credential> {
        let store = p12_keystore::KeyStore::from_pkcs12(bytes, password).map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => {
                CryptoError::bad_input("Le mot de passe du fichier PKCS#12 est incorrect.")
            }
            _ => CryptoError::bad_input(
                "Le fichier n'est pas un PKCS#12 lisible (.p12 ou .pfx). Exportez de nouveau \
                 votre certificat avec sa clé privée.",
            ),
        })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            CryptoError::bad_input(
                "Le fichier PKCS#12 ne contient pas de clé privée accompagnée de son certificat. \
                 Exportez le certificat avec sa clé privée.",
            )
        })?;
        let mut certs = chain.chain().iter().map(|c| c.as_der().to_vec());
        let certificate = certs.next().ok_or_else(|| {
            CryptoError::bad_input("Le fichier PKCS#12 ne contient pas de certificat.")
        })?;
        let key = SigningKey::from_pkcs8_der(chain.key())?;
        let credential = Credential {
            key,
            certificate,
            chain: certs.collect(),
        };
        credential.check_key_matches()?;
        Ok(credential)
    }

    /// Refuses a key that does not belong to the certificate (sign and verify a probe).
    fn check_key_matches(&self) -> Result<()> {
        let probe = b"bouquet: key and certificate match";
        let signature = self.key.sign(probe)?;
        let cert = parse_certificate(&self.certificate)?;
        crate::pki::verify_with_spki(
            cert.tbs_certificate().subject_public_key_info(),
            crate::pki::Hash::Sha256,
            probe,
            &signature,
        )
        .map_err(|_| {
            CryptoError::bad_input(
                "La clé privée ne correspond pas au certificat fourni avec elle.",
            )
        })
    }

    /// Refuses a certificate that is expired or not yet valid at `now`, or not meant for
    /// `purpose` (keyUsage, extendedKeyUsage).
    pub fn check_for_signing(&self, now: Timestamp, purpose: Purpose) -> Result<()> {
        check_certificate_for(&self.certificate, now, purpose)
    }
}

/// Refuses a key that does not belong to the certificate (signs and verifies a probe).
pub(crate) fn check_key_matches(key: &SigningKey, certificate_der: &[u8]) -> Result<()> {
    let probe = b"bouquet: key and certificate match";
    let signature = key.sign(probe)?;
    crate::pki::verify_with_certificate(
        certificate_der,
        crate::pki::Hash::Sha256,
        probe,
        &signature,
    )
    .map_err(|_| {
        CryptoError::bad_input("La clé privée ne correspond pas au certificat fourni avec elle.")
    })
}

pub(crate) fn parse_certificate(der: &[u8]) -> Result<Certificate> {
    Certificate::from_der(der)
        .map_err(|_| CryptoError::bad_input("Le certificat n'est pas un certificat X.509 lisible."))
}

/// See [`Credential::check_for_signing`]; also used on a TSA certificate found in a token.
pub(crate) fn check_certificate_for(der: &[u8], now: Timestamp, purpose: Purpose) -> Result<()> {
    let info = certificate_info(der)?;
    let cert = parse_certificate(der)?;
    let who = &info.subject_common_name;
    if now < info.not_before {
        return Err(CryptoError::Certificate(format!(
            "Le certificat de {who} n'est valable qu'à partir du {}. Réessayez à partir de \
             cette date ou utilisez un autre certificat.",
            french_date(info.not_before)
        )));
    }
    if now > info.not_after {
        return Err(CryptoError::Certificate(format!(
            "Le certificat de {who} a expiré le {}. Demandez-en un nouveau à votre autorité \
             de certification.",
            french_date(info.not_after)
        )));
    }
    let tbs = cert.tbs_certificate();
    let wrong = |usage: &str| {
        CryptoError::Certificate(format!(
            "Le certificat de {who} n'est pas prévu pour {usage}. Utilisez un certificat prévu \
             pour cet usage."
        ))
    };
    let usage = match purpose {
        Purpose::PersonSignature => "signer des documents",
        Purpose::Seal => "apposer un cachet",
        Purpose::TimeStamping => "horodater",
    };
    if let Ok(Some((_, KeyUsage(bits)))) = tbs.get_extension::<KeyUsage>()
        && !bits.contains(KeyUsages::DigitalSignature)
        && !bits.contains(KeyUsages::NonRepudiation)
    {
        return Err(wrong(usage));
    }
    let eku = tbs
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|_| CryptoError::bad_input("Extension extendedKeyUsage illisible."))?;
    match purpose {
        Purpose::TimeStamping => match eku {
            Some((true, ExtendedKeyUsage(oids))) if oids.contains(&ID_KP_TIME_STAMPING) => Ok(()),
            _ => Err(CryptoError::Certificate(format!(
                "Le certificat de {who} n'est pas un certificat d'horodatage (usage étendu \
                 timeStamping critique requis)."
            ))),
        },
        Purpose::PersonSignature | Purpose::Seal => match eku {
            None => Ok(()),
            Some((_, ExtendedKeyUsage(oids))) => {
                let mut accepted = vec![
                    ANY_EXTENDED_KEY_USAGE,
                    ID_KP_EMAIL_PROTECTION,
                    MS_DOCUMENT_SIGNING,
                    ID_KP_DOCUMENT_SIGNING,
                    ADOBE_AUTHENTIC_DOCUMENTS,
                ];
                if purpose == Purpose::Seal {
                    accepted.push(ID_KP_CLIENT_AUTH);
                }
                if oids.iter().any(|o| accepted.contains(o)) {
                    Ok(())
                } else {
                    Err(wrong(usage))
                }
            }
        },
    }
}

const SEALED_VERSION: u8 = 1;

/// Encrypts a PKCS#8 private key for storage: AES-256-GCM with a random nonce; the
/// credential's id is authenticated, so a sealed key cannot be moved to another row.
/// Layout: version (1 byte) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
pub fn seal_private_key(
    master_key: &[u8; 32],
    credential_id: &str,
    pkcs8: &[u8],
) -> Result<Vec<u8>> {
    let key = RandomizedNonceKey::new(&AES_256_GCM, master_key).map_err(CryptoError::internal)?;
    let mut buffer = pkcs8.to_vec();
    let nonce = key
        .seal_in_place_append_tag(Aad::from(credential_id.as_bytes()), &mut buffer)
        .map_err(CryptoError::internal)?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + buffer.len());
    sealed.push(SEALED_VERSION);
    sealed.extend_from_slice(nonce.as_ref());
    sealed.extend_from_slice(&buffer);
    Ok(sealed)
}

/// Decrypts what [`seal_private_key`] made, for the same `credential_id`.
pub fn open_private_key(
    master_key: &[u8; 32],
    credential_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let unreadable = || {
        CryptoError::Certificate(
            "La clé privée enregistrée ne peut pas être déchiffrée (clé maîtresse différente ou \
             données altérées). Vérifiez la clé maîtresse du serveur ou importez de nouveau le \
             certificat."
                .into(),
        )
    };
    let (&version, rest) = sealed.split_first().ok_or_else(unreadable)?;
    if version != SEALED_VERSION || rest.len() < NONCE_LEN + 16 {
        return Err(unreadable());
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
    let key = RandomizedNonceKey::new(&AES_256_GCM, master_key).map_err(CryptoError::internal)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(credential_id.as_bytes()), &mut buffer)
        .map_err(|_| unreadable())?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trip_and_failures() {
        let key = SigningKey::generate_ecdsa_p256().unwrap();
        let master = [7u8; 32];
        let sealed = seal_private_key(&master, "cred-1", key.pkcs8_der()).unwrap();
        assert_eq!(sealed[0], SEALED_VERSION);
        let opened = open_private_key(&master, "cred-1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), key.pkcs8_der());
        SigningKey::from_pkcs8_der(&opened).unwrap();

        let wrong_master = open_private_key(&[8u8; 32], "cred-1", &sealed).unwrap_err();
        assert!(wrong_master.to_string().contains("clé maîtresse"));
        let swapped = open_private_key(&master, "cred-2", &sealed).unwrap_err();
        assert!(swapped.to_string().contains("déchiffrée"));
        assert!(open_private_key(&master, "cred-1", &sealed[..10]).is_err());
        assert!(open_private_key(&master, "cred-1", &[]).is_err());
        // Two seals of the same key differ (random nonce).
        assert_ne!(
            sealed,
            seal_private_key(&master, "cred-1", key.pkcs8_der()).unwrap()
        );
    }

    #[test]
    fn rsa_generation_and_debug_hides_the_key() {
        let key = SigningKey::generate_rsa(2048).unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::RsaPkcs1Sha256);
        assert_eq!(format!("{key:?}"), "SigningKey(RsaPkcs1Sha256)");
        assert_eq!(key.sign(b"x").unwrap().len(), 256);
        assert!(SigningKey::generate_rsa(1024).is_err());
    }
}
