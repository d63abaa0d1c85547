//! Signing keys and their certificates.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};

use crate::error::{CryptoError, Result};

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

/// A private key able to sign. Its `Debug` never shows the key.
pub struct SigningKey {
    key: Key,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.algorithm())
    }
}

impl SigningKey {
    /// Reads a PKCS#8 (DER) private key, RSA or ECDSA P-256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
            return Ok(SigningKey { key: Key::Rsa(rsa) });
        }
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
            .map(|k| SigningKey { key: Key::Ecdsa(k) })
            .map_err(|_| {
                CryptoError::bad_input(
                    "La clé privée n'est ni une clé RSA ni une clé ECDSA P-256 lisible.",
                )
            })
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

/// A signing key with its certificate (DER) and the rest of its chain (DER, issuer first,
/// root last if known).
#[derive(Debug)]
pub struct Credential {
    pub key: SigningKey,
    pub certificate: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}
