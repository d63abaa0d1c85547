//! Content-addressed blob storage through `object_store`.
//!
//! Local files by default (with `fsync` of the file and its directories before a write
//! returns), S3-compatible storage for scale-out, memory in unit tests. A blob's key is
//! `{owner}/{first two hex digits}/{sha256}`, where the owner is the organisation (or
//! `platform`): one organisation's files never share a prefix with another's.
//!
//! Writes stream: the content is hashed while it is uploaded to a staging key in chunks, then
//! moved to its final key, so a 2 GB upload uses a few chunks of memory, not 2 GB. Reads
//! stream too, and are hashed on the way out: a blob altered on disk ends in an error
//! instead of being served as if it were intact.

use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bouquet_kernel::{AppError, OrgId};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

/// Parts are uploaded in chunks of this size (S3 needs at least 5 MiB per part).
const CHUNK: usize = 8 * 1024 * 1024;
/// At most this many parts in flight: bounds memory to about `CHUNK × (MAX_PARTS + 1)`.
const MAX_PARTS: usize = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Local(PathBuf),
    S3(String),
    Memory,
}

#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    backend: Backend,
}

/// A stored blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    pub sha256: String,
    pub size: u64,
}

/// Whose blob it is: an organisation, or the platform itself.
pub fn owner_key(org: Option<OrgId>) -> String {
    org.map_or_else(|| "platform".to_owned(), |o| format!("org/{o}"))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Blobs {
    /// Files under `root` (created if missing), fsync'd on write.
    pub fn local(root: &FsPath) -> StoreResult<Self> {
        std::fs::create_dir_all(root)?;
        let store = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            backend: Backend::Local(root.to_path_buf()),
        })
    }

    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            backend: Backend::Memory,
        }
    }

    /// `file:///path`, `memory:`, or `s3://bucket[/prefix]?endpoint=…&region=…&allow_http=true`
    /// (credentials from the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`).
    pub fn from_url(url: &str) -> StoreResult<Self> {
        if url == "memory:" {
            return Ok(Self::memory());
        }
        if let Some(path) = url.strip_prefix("file://") {
            return Self::local(FsPath::new(path));
        }
        if url.starts_with("s3://") {
            let parsed = url::Url::parse(url)
                .map_err(|e| StoreError::Config(format!("adresse de stockage invalide : {e}")))?;
            let bucket = parsed.host_str().unwrap_or_default().to_owned();
            if bucket.is_empty() {
                return Err(StoreError::Config(
                    "adresse de stockage S3 sans nom de compartiment (s3://COMPARTIMENT/…)".into(),
                ));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
            for (k, v) in parsed.query_pairs() {
                builder = match k.as_ref() {
                    "endpoint" => builder.with_endpoint(v.to_string()),
                    "region" => builder.with_region(v.to_string()),
                    "allow_http" => builder.with_allow_http(v == "true"),
                    "virtual_hosted" => builder.with_virtual_hosted_style_request(v == "true"),
                    other => {
                        return Err(StoreError::Config(format!(
                            "paramètre de stockage inconnu : « {other} »"
                        )));
                    }
                };
            }
            let store = builder.build()?;
            let prefix = parsed.path().trim_matches('/').to_owned();
            let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                Arc::new(store)
            } else {
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            };
            let mut shown = parsed.clone();
            shown.set_query(None);
            return Ok(Self {
                store,
                backend: Backend::S3(shown.to_string()),
            });
        }
        Err(StoreError::Config(format!(
            "adresse de stockage non reconnue : « {url} » (attendu : file://CHEMIN, s3://COMPARTIMENT ou memory:)"
        )))
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(p) => format!("fichiers locaux ({})", p.display()),
            Backend::S3(u) => format!("S3 ({u})"),
            Backend::Memory => "mémoire".to_owned(),
        }
    }

    fn key(owner: &str, sha256: &str) -> Path {
        Path::from(format!("{owner}/{}/{sha256}", &sha256[..2]))
    }

    /// Stores a stream, refusing more than `max_size` bytes. Returns once the blob is durable.
    pub async fn put_stream<S, E>(
        &self,
        owner: &str,
        mut stream: S,
        max_size: u64,
    ) -> StoreResult<BlobRef>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let staging = Path::from(format!("staging/{}", uuid::Uuid::new_v4()));
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(StoreError::Io(std::io::Error::other(format!(
                        "lecture interrompue : {e}"
                    ))));
                }
            };
            size += chunk.len() as u64;
            if size > max_size {
                let _ = writer.abort().await;
                return Err(StoreError::App(AppError::PayloadTooLarge {
                    limit_label: human_size(max_size),
                }));
            }
            hasher.update(&chunk);
            writer.wait_for_capacity(MAX_PARTS).await?;
            writer.put(chunk);
        }
        writer.finish().await?;
        let sha256 = hex::encode(hasher.finalize());
        let target = Self::key(owner, &sha256);
        match self.store.head(&target).await {
            Ok(_) => {
                // Same content already stored: keep the existing copy.
                self.store.delete(&staging).await?;
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.store.rename(&staging, &target).await?;
            }
            Err(e) => {
                let _ = self.store.delete(&staging).await;
                return Err(e.into());
            }
        }
        Ok(BlobRef { sha256, size })
    }

    pub async fn put_bytes(&self, owner: &str, bytes: Bytes) -> StoreResult<BlobRef> {
        let size = bytes.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let target = Self::key(owner, &sha256);
        if self.store.head(&target).await.is_err() {
            self.store.put(&target, PutPayload::from(bytes)).await?;
        }
        Ok(BlobRef { sha256, size })
    }

    /// Streams a blob back, checking its hash as it goes.
    pub async fn open(&self, owner: &str, sha256: &str) -> StoreResult<VerifiedStream> {
        if !is_sha256_hex(sha256) {
            return Err(StoreError::App(AppError::NotFound));
        }
        let result = match self.store.get(&Self::key(owner, sha256)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::App(AppError::NotFound));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(VerifiedStream {
            inner: result.into_stream(),
            hasher: Some(Sha256::new()),
            expected: sha256.to_owned(),
        })
    }

    /// Reads a whole (small) blob, verified.
    pub async fn read_all(&self, owner: &str, sha256: &str) -> StoreResult<Vec<u8>> {
        let mut stream = self.open(owner, sha256).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(StoreError::Io)?);
        }
        Ok(out)
    }

    pub async fn exists(&self, owner: &str, sha256: &str) -> StoreResult<bool> {
        if !is_sha256_hex(sha256) {
            return Ok(false);
        }
        match self.store.head(&Self::key(owner, sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// For `/healthz`: write, read back and delete a small object.
    pub async fn health(&self) -> StoreResult<()> {
        let probe = Path::from(format!("health/{}", uuid::Uuid::new_v4()));
        self.store
            .put(&probe, PutPayload::from_static(b"bouquet"))
            .await?;
        let back = self.store.get(&probe).await?.bytes().await?;
        self.store.delete(&probe).await?;
        if back.as_ref() == b"bouquet" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(
                "le stockage a rendu un autre contenu".into(),
            ))
        }
    }

    /// The file behind a blob, for tests that damage it on purpose (local backend only).
    pub fn local_path(&self, owner: &str, sha256: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(root) => Some(root.join(Self::key(owner, sha256).as_ref())),
            _ => None,
        }
    }
}

/// A blob's bytes, hashed as they are read; ends with an error if the hash differs.
pub struct VerifiedStream {
    inner: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    hasher: Option<Sha256>,
    expected: String,
}

impl Stream for VerifiedStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
            Poll::Ready(None) => match this.hasher.take().map(|h| hex::encode(h.finalize())) {
                Some(actual) if actual != this.expected => {
                    tracing::error!(sha256 = %this.expected, "blob altered: content does not match its hash");
                    Poll::Ready(Some(Err(std::io::Error::other(
                        "le fichier stocké a été altéré : son empreinte ne correspond plus",
                    ))))
                }
                _ => Poll::Ready(None),
            },
        }
    }
}

/// "1 Mo", "2 Go": sizes as people read them (powers of 1024, French units).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["octets", "Ko", "Mo", "Go", "To"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{} {}", value as u64, UNITS[unit])
    } else {
        format!("{:.1} {}", value, UNITS[unit]).replace('.', ",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_french() {
        assert_eq!(human_size(512), "512 octets");
        assert_eq!(human_size(1024 * 1024), "1 Mo");
        assert_eq!(human_size(1536 * 1024), "1,5 Mo");
        assert_eq!(human_size(2 * 1024 * 1024 * 1024), "2 Go");
    }

    #[tokio::test]
    async fn memory_round_trip_and_dedup() {
        let blobs = Blobs::memory();
        let owner = owner_key(None);
        let a = blobs
            .put_bytes(&owner, Bytes::from_static(b"bonjour"))
            .await
            .unwrap();
        let b = blobs
            .put_stream(
                &owner,
                futures::stream::iter(vec![
                    Ok::<_, std::io::Error>(Bytes::from_static(b"bon")),
                    Ok(Bytes::from_static(b"jour")),
                ]),
                100,
            )
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.read_all(&owner, &a.sha256).await.unwrap(), b"bonjour");
        assert!(blobs.exists(&owner, &a.sha256).await.unwrap());
        assert!(
            !blobs
                .exists(&owner_key(Some(OrgId::new())), &a.sha256)
                .await
                .unwrap()
        );
        assert!(matches!(
            blobs.open(&owner, "../../etc/passwd").await,
            Err(StoreError::App(AppError::NotFound))
        ));
        let too_big = blobs
            .put_stream(
                &owner,
                futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 101]))]),
                100,
            )
            .await;
        assert!(matches!(
            too_big,
            Err(StoreError::App(AppError::PayloadTooLarge { .. }))
        ));
    }
}
