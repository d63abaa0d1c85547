//! The platform's own keys.
//!
//! One Ed25519 key, kept in a PEM file (PKCS#8) under the data directory or given by the
//! configuration: it signs the audit checkpoints, and sub-keys derived from it (HMAC) protect
//! CSRF tokens and other short-lived values. Several nodes share the same file.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

pub struct PlatformKeys {
    pub audit: SigningKey,
    pub audit_public: VerifyingKey,
    /// First 16 hex digits of the SHA-256 of the public key.
    pub audit_key_id: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for PlatformKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformKeys")
            .field("audit_key_id", &self.audit_key_id)
            .field("secret", &"<masqué>")
            .finish()
    }
}

impl PlatformKeys {
    pub fn from_signing_key(audit: SigningKey) -> Self {
        let audit_public = audit.verifying_key();
        let audit_key_id = hex::encode(Sha256::digest(audit_public.as_bytes()))[..16].to_owned();
        let mut h = Sha256::new();
        h.update(b"bouquet-derived-secret-v1");
        h.update(audit.to_bytes());
        let secret: [u8; 32] = h.finalize().into();
        Self {
            audit,
            audit_public,
            audit_key_id,
            secret,
        }
    }

    /// A fresh random key (tests, first start).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self::from_signing_key(SigningKey::from_bytes(&bytes))
    }

    pub fn from_pem(pem: &str) -> StoreResult<Self> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| StoreError::Config(format!("clé de la plateforme illisible : {e}")))?;
        Ok(Self::from_signing_key(key))
    }

    pub fn to_pem(&self) -> StoreResult<String> {
        self.audit
            .to_pkcs8_pem(Default::default())
            .map(|z| z.to_string())
            .map_err(|e| StoreError::Config(format!("clé de la plateforme : {e}")))
    }

    /// Loads the key file, or creates it (readable by its owner only) on first start.
    pub fn load_or_create(path: &Path) -> StoreResult<Self> {
        if path.exists() {
            let pem = std::fs::read_to_string(path)?;
            return Self::from_pem(&pem);
        }
        let keys = Self::generate();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let pem = keys.to_pem()?;
        write_private(path, pem.as_bytes())?;
        Ok(keys)
    }

    /// HMAC-SHA256 of `data` under a purpose-specific sub-key.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        // HMAC zero-pads keys to the block size, so this fixed-size key is the 32-byte
        // secret itself, and construction cannot fail.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.secret);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&key.into());
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_a_restart_and_macs_depend_on_purpose() {
        let dir = std::env::temp_dir().join(format!("bq-keys-{}", uuid::Uuid::new_v4()));
        let path = dir.join("platform-key.pem");
        let a = PlatformKeys::load_or_create(&path).unwrap();
        let b = PlatformKeys::load_or_create(&path).unwrap();
        assert_eq!(a.audit_key_id, b.audit_key_id);
        assert_eq!(a.mac("csrf", b"x"), b.mac("csrf", b"x"));
        assert_ne!(a.mac("csrf", b"x"), a.mac("flash", b"x"));
        assert_ne!(
            a.mac("csrf", b"x"),
            PlatformKeys::generate().mac("csrf", b"x")
        );
        assert!(!format!("{a:?}").contains(&hex::encode(a.secret)));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
