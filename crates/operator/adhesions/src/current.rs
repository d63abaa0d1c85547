//! Which registry the platform uses: the snapshot embedded in the binary, or the newer
//! official file the operator imported (`bouquet registry import FILE`).
//!
//! An import stores the file as a blob (owner [`BLOB_OWNER`]) and its hash in the setting
//! [`SETTING`]; every node then loads that file, once per process and hash. A binary that
//! embeds a newer snapshot than the imported one keeps using the imported one until the
//! operator imports again: the operator chose that file, the binary does not overrule it.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use bouquet_store::{Platform, StoreError, StoreResult, settings};

use crate::registry::{Registry, RegistryError};

/// The setting holding the SHA-256 of the imported file.
pub const SETTING: &str = "adhesions.registry_sha256";
/// Where imported files are kept.
pub const BLOB_OWNER: &str = "registry";

/// A registry in use: embedded (static) or imported (shared).
#[derive(Clone, Debug)]
pub enum RegistryRef {
    Embedded(&'static Registry),
    Imported(Arc<Registry>),
}

impl Deref for RegistryRef {
    type Target = Registry;
    fn deref(&self) -> &Registry {
        match self {
            RegistryRef::Embedded(r) => r,
            RegistryRef::Imported(r) => r,
        }
    }
}

impl RegistryRef {
    pub fn is_embedded(&self) -> bool {
        matches!(self, RegistryRef::Embedded(_))
    }
}

fn unreadable(e: &RegistryError) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "le référentiel des communes est illisible : {e}"
    )))
}

/// The embedded snapshot.
pub fn embedded() -> StoreResult<RegistryRef> {
    Registry::embedded()
        .map(RegistryRef::Embedded)
        .map_err(|e| unreadable(&e))
}

static LOADED: Mutex<Option<Arc<Registry>>> = Mutex::new(None);

/// The registry in use.
pub async fn current(p: &Platform) -> StoreResult<RegistryRef> {
    let sha = {
        let mut conn = p.db.read().await?;
        settings::get(&mut conn, SETTING).await?
    };
    let Some(sha) = sha else {
        return tokio::task::spawn_blocking(embedded)
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
    };
    if let Some(r) = LOADED
        .lock()
        .map_err(|_| StoreError::Io(std::io::Error::other("registry cache poisoned")))?
        .as_ref()
        .filter(|r| r.sha256 == sha)
    {
        return Ok(RegistryRef::Imported(r.clone()));
    }
    let bytes = p.blobs.read_all(BLOB_OWNER, &sha).await?;
    let parsed = tokio::task::spawn_blocking(move || Registry::parse(&bytes))
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
        .map_err(|e| unreadable(&e))?;
    let parsed = Arc::new(parsed);
    if let Ok(mut slot) = LOADED.lock() {
        *slot = Some(parsed.clone());
    }
    Ok(RegistryRef::Imported(parsed))
}
