//! Certificates and the act of signing.
//!
//! - Each person's certificate (and each organisation's seal) is a row of
//!   `parapheur_credentials`; its private key is sealed with a key derived from the
//!   platform's key and the row's id ([`master_key`]), opened only for the time of one
//!   signature, never logged.
//! - The demo PKI ("AC Bouquet démo") and the built-in time-stamping authority live in
//!   `parapheur_pki`, created on first use and kept open in memory. Signatures are
//!   time-stamped by the authority the configuration names (`--tsa-url`, RFC 3161 over
//!   HTTP), else by that built-in one ([`Timestamper`]).
//! - [`sign_document`] makes the signature the document's kind needs: PAdES B-T inside a
//!   PDF (with a visible stamp), XAdES enveloped on each PES bordereau, CAdES detached for
//!   any other file. It is pure computation, run on a blocking thread by the caller.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bouquet_crypto::keys::{Credential, SigningKey, open_private_key, seal_private_key};
use bouquet_crypto::pki::{DemoPki, PersonSubject, certificate_info};
use bouquet_crypto::report::CertificateInfo;
use bouquet_crypto::tsa::BuiltInTsa;
use bouquet_crypto::{CryptoError, cms, pades, tsa, xades};
use bouquet_kernel::clock::{from_micros, to_micros};
use bouquet_kernel::ids::new_id;
use bouquet_kernel::{AppError, OrgId, UserId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{Platform, StoreError, StoreResult, exec, run};
use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::model::DocumentKind;

/// The key that seals private keys at rest: derived from the platform's own key (a file of
/// the configuration, shared by the nodes) — never stored in the database.
fn master_key(p: &Platform) -> [u8; 32] {
    p.keys.mac("parapheur.credentials.v1", b"")
}

fn crypto(e: CryptoError) -> StoreError {
    match e {
        CryptoError::Internal(m) => StoreError::Corrupt(m),
        other => AppError::BadRequest(other.to_string()).into(),
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CredentialRow {
    pub id: String,
    pub org_id: String,
    pub user_id: Option<String>,
    pub subject: String,
    pub issuer: String,
    pub not_after: i64,
    pub certificate: String,
    pub chain: String,
    pub sealed_key: String,
    pub created_at: i64,
}

impl CredentialRow {
    pub fn not_after(&self) -> Timestamp {
        from_micros(self.not_after)
    }

    fn der(&self) -> StoreResult<(Vec<u8>, Vec<Vec<u8>>)> {
        let cert = B64
            .decode(&self.certificate)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let chain: Vec<String> =
            serde_json::from_str(&self.chain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let chain = chain
            .iter()
            .map(|c| {
                B64.decode(c)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((cert, chain))
    }

    /// Opens the sealed key: the credential, ready to sign.
    pub fn open(&self, p: &Platform) -> StoreResult<Credential> {
        let (certificate, chain) = self.der()?;
        let sealed = B64
            .decode(&self.sealed_key)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let pkcs8 = open_private_key(&master_key(p), &self.id, &sealed).map_err(crypto)?;
        let key = SigningKey::from_pkcs8_der(&pkcs8).map_err(crypto)?;
        Ok(Credential {
            key,
            certificate,
            chain,
        })
    }
}

const CREDENTIAL_COLUMNS: &str =
    "id, org_id, user_id, subject, issuer, not_after, certificate, chain, sealed_key, created_at";

/// The current certificate of a person in an organisation, or of the organisation's seal
/// (`user = None`).
pub async fn credential(
    h: &mut impl Handle,
    org: OrgId,
    user: Option<UserId>,
) -> StoreResult<Option<CredentialRow>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM parapheur_credentials
         WHERE org_id = $1 AND revoked_at IS NULL AND ((CAST($2 AS TEXT) IS NULL AND user_id IS NULL) OR user_id = $2)
         ORDER BY created_at DESC LIMIT 1"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .bind(user.map(|u| u.to_string()))
    .fetch_optional(c)
    .await)?)
}

/// Every certificate of an organisation (people and seal), newest first.
pub async fn credentials(h: &mut impl Handle, org: OrgId) -> StoreResult<Vec<CredentialRow>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM parapheur_credentials
         WHERE org_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC"
    );
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .fetch_all(c)
    .await)?)
}

/// Stores `credential` for a person (or the seal), its key sealed. Checks it can sign now.
pub async fn store_credential(
    tx: &mut Tx,
    p: &Platform,
    now: Timestamp,
    org: OrgId,
    user: Option<UserId>,
    credential: &Credential,
    actor: &AuditActor,
) -> StoreResult<String> {
    let purpose = if user.is_some() {
        bouquet_crypto::keys::Purpose::PersonSignature
    } else {
        bouquet_crypto::keys::Purpose::Seal
    };
    credential.check_for_signing(now, purpose).map_err(crypto)?;
    let info = certificate_info(&credential.certificate).map_err(crypto)?;
    let id = new_id().to_string();
    let sealed =
        seal_private_key(&master_key(p), &id, credential.key.pkcs8_der()).map_err(crypto)?;
    let chain: Vec<String> = credential.chain.iter().map(|c| B64.encode(c)).collect();
    exec!(tx, sqlx::query(
        "UPDATE parapheur_credentials SET revoked_at = $1
         WHERE org_id = $2 AND revoked_at IS NULL AND ((CAST($3 AS TEXT) IS NULL AND user_id IS NULL) OR user_id = $3)"
    )
    .bind(to_micros(now))
    .bind(org.to_string())
    .bind(user.map(|u| u.to_string())))?;
    exec!(tx, sqlx::query(
        "INSERT INTO parapheur_credentials (id, org_id, user_id, subject, issuer, not_after, certificate, chain, sealed_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(&id)
    .bind(org.to_string())
    .bind(user.map(|u| u.to_string()))
    .bind(&info.subject)
    .bind(&info.issuer)
    .bind(to_micros(info.not_after))
    .bind(B64.encode(&credential.certificate))
    .bind(serde_json::to_string(&chain).map_err(|e| StoreError::Corrupt(e.to_string()))?)
    .bind(B64.encode(sealed))
    .bind(to_micros(now)))?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "parapheur.certificate.added",
            "certificat",
            &id,
        )
        .details(json!({
            "titulaire": info.subject,
            "emetteur": info.issuer,
            "expire": info.not_after.to_string(),
            "cachet": user.is_none(),
        })),
    )
    .await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------
// Demo PKI and time-stamping authority
// ---------------------------------------------------------------------------------------

/// The platform's PKI: the demo root and the time-stamping authority.
pub struct Pki {
    pub demo: DemoPki,
    pub tsa: BuiltInTsa,
}

#[derive(sqlx::FromRow)]
struct PkiRow {
    root_certificate: String,
    sealed_root_key: String,
    tsa_certificate: String,
    sealed_tsa_key: String,
}

const PKI_ID: &str = "demo";

/// The PKI of each platform (by its key), opened once per process: opening it decrypts and
/// parses two RSA keys, which would cost more than the time-stamp itself.
static OPENED: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Arc<Pki>>>> =
    std::sync::LazyLock::new(Default::default);

/// The PKI, created on first use, then kept open in memory.
pub async fn pki(p: &Platform) -> StoreResult<Arc<Pki>> {
    let key = p.keys.audit_key_id.clone();
    if let Some(pki) = OPENED.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(pki);
    }
    let pki = Arc::new(load_pki(p).await?);
    if let Ok(mut m) = OPENED.lock() {
        m.insert(key, pki.clone());
    }
    Ok(pki)
}

async fn load_pki(p: &Platform) -> StoreResult<Pki> {
    let row: Option<PkiRow> = {
        let mut conn = p.db.read().await?;
        run!(&mut conn, |c| {
            sqlx::query_as(
            "SELECT root_certificate, sealed_root_key, tsa_certificate, sealed_tsa_key FROM parapheur_pki WHERE id = $1"
        )
        .bind(PKI_ID)
        .fetch_optional(c)
        .await
        })?
    };
    let row = match row {
        Some(row) => row,
        None => create_pki(p).await?,
    };
    let key = master_key(p);
    let d = |s: &str| {
        B64.decode(s)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let root_key = open_private_key(&key, "pki.root", &d(&row.sealed_root_key)?).map_err(crypto)?;
    let demo = DemoPki::from_parts(&d(&row.root_certificate)?, &root_key).map_err(crypto)?;
    let tsa_key = open_private_key(&key, "pki.tsa", &d(&row.sealed_tsa_key)?).map_err(crypto)?;
    let tsa = BuiltInTsa::new(Credential {
        key: SigningKey::from_pkcs8_der(&tsa_key).map_err(crypto)?,
        certificate: d(&row.tsa_certificate)?,
        chain: vec![demo.root_certificate_der().to_vec()],
    });
    Ok(Pki { demo, tsa })
}

async fn create_pki(p: &Platform) -> StoreResult<PkiRow> {
    let now = p.clock.now();
    let demo = tokio::task::spawn_blocking(move || DemoPki::generate(now))
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .map_err(crypto)?;
    let tsa = demo.issue_tsa(now).map_err(crypto)?;
    let key = master_key(p);
    let row = PkiRow {
        root_certificate: B64.encode(demo.root_certificate_der()),
        sealed_root_key: B64
            .encode(seal_private_key(&key, "pki.root", demo.root_key_pkcs8()).map_err(crypto)?),
        tsa_certificate: B64.encode(&tsa.certificate),
        sealed_tsa_key: B64
            .encode(seal_private_key(&key, "pki.tsa", tsa.key.pkcs8_der()).map_err(crypto)?),
    };
    let mut tx = p.db.begin().await?;
    // Two nodes may race on first use: the first row wins, the other is read back.
    exec!(&mut tx, sqlx::query(
        "INSERT INTO parapheur_pki (id, root_certificate, sealed_root_key, tsa_certificate, sealed_tsa_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING"
    )
    .bind(PKI_ID)
    .bind(&row.root_certificate)
    .bind(&row.sealed_root_key)
    .bind(&row.tsa_certificate)
    .bind(&row.sealed_tsa_key)
    .bind(to_micros(now)))?;
    tx.commit().await?;
    let mut conn = p.db.read().await?;
    Ok(run!(&mut conn, |c| {
        sqlx::query_as(
        "SELECT root_certificate, sealed_root_key, tsa_certificate, sealed_tsa_key FROM parapheur_pki WHERE id = $1"
    )
    .bind(PKI_ID)
    .fetch_one(c)
    .await
    })?)
}

/// A serial number for a time-stamp token: random (64 bits), so that several nodes need no
/// shared counter and no write per token (RFC 3161 asks only that it be unique).
pub fn tsa_serial() -> u64 {
    rand::random::<u64>() >> 1 | 1
}

/// Gives a demo certificate, from "AC Bouquet démo", to a person (or the organisation's seal).
pub async fn issue_demo(
    p: &Platform,
    org: OrgId,
    org_name: &str,
    org_siren: &str,
    person: Option<(UserId, &str, &str, Option<&str>)>,
    actor: &AuditActor,
) -> StoreResult<String> {
    let pki = pki(p).await?;
    let now = p.clock.now();
    let credential = match person {
        Some((_, name, email, title)) => {
            let (given, surname) = name.split_once(' ').unwrap_or(("", name));
            pki.demo.issue_person(
                PersonSubject {
                    given_name: given.to_owned(),
                    surname: surname.to_owned(),
                    email: email.to_owned(),
                    organisation: org_name.to_owned(),
                    title: title.unwrap_or("Agent").to_owned(),
                },
                now,
            )
        }
        None => pki.demo.issue_seal(org_name, org_siren, now),
    }
    .map_err(crypto)?;
    let mut tx = p.db.begin().await?;
    let id = store_credential(
        &mut tx,
        p,
        now,
        org,
        person.map(|x| x.0),
        &credential,
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------

/// What the stamp of a PAdES signature says.
pub struct StampText {
    pub signer: String,
    pub quality: Option<String>,
    /// "07/12/2026 à 14:03" in the organisation's time zone.
    pub when: String,
    pub on_behalf: Option<String>,
}

impl StampText {
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!("Signé par {}", self.signer)];
        if let Some(q) = &self.quality {
            lines.push(q.clone());
        }
        lines.push(format!("le {}", self.when));
        if let Some(absent) = &self.on_behalf {
            lines.push(format!("en l'absence de {absent}"));
        }
        lines
    }
}

/// What a signature produced.
pub struct Signed {
    /// The new main document (the PDF or PES with its signature; unchanged for CAdES).
    pub document: Vec<u8>,
    /// The `.p7s` beside a file signed in CAdES.
    pub detached: Option<Vec<u8>>,
    pub certificate: CertificateInfo,
}

impl Signed {
    /// The certificate as the bordereau shows it.
    pub fn certificate_json(&self, format: &str) -> Value {
        let c = &self.certificate;
        json!({
            "titulaire": c.subject_common_name,
            "sujet": c.subject,
            "emetteur": c.issuer,
            "numero": c.serial_hex,
            "valide_jusqu_au": c.not_after.to_string(),
            "empreinte_sha256": c.sha256_hex,
            "format": format,
        })
    }
}

/// Who time-stamps the signatures.
pub enum Timestamper {
    /// The built-in demo authority, in process.
    BuiltIn { pki: Arc<Pki>, now: Timestamp },
    /// An authority over HTTP (RFC 3161: `application/timestamp-query`).
    Http(url::Url),
}

impl Timestamper {
    /// The time-stamp token of `imprint` (SHA-256), checked against the request.
    pub fn token(&self, imprint: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
        let nonce = tsa_serial();
        let request = tsa::request_der(imprint, nonce)?;
        let response = match self {
            Timestamper::BuiltIn { pki, now } => pki.tsa.respond(&request, *now, tsa_serial())?,
            Timestamper::Http(url) => http_post(url, &request)?,
        };
        tsa::token_from_response(&response, imprint, nonce)
    }
}

/// POST `body` to an `http://` time-stamping authority, on a blocking thread (the caller's).
fn http_post(url: &url::Url, body: &[u8]) -> Result<Vec<u8>, CryptoError> {
    use std::io::{Read, Write};
    let unreachable = |why: &str| {
        CryptoError::Invalid(format!(
            "L'autorité d'horodatage ({}) ne répond pas correctement ({why}) : la signature n'a pas été faite, réessayez dans quelques minutes.",
            url.host_str().unwrap_or("?")
        ))
    };
    if url.scheme() != "http" {
        return Err(unreachable(
            "seules les adresses http:// sont prises en charge",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("adresse sans hôte"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|_| unreachable("hôte inconnu"))?
        .next()
        .ok_or_else(|| unreachable("hôte inconnu"))?;
    let timeout = std::time::Duration::from_secs(10);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|_| unreachable("connexion impossible"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|_| unreachable("envoi impossible"))?;
    let mut reply = Vec::new();
    stream
        .take(1024 * 1024)
        .read_to_end(&mut reply)
        .map_err(|_| unreachable("réponse interrompue"))?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| unreachable("réponse illisible"))?;
    let head = String::from_utf8_lossy(&reply[..split]).to_lowercase();
    if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.0 200") {
        return Err(unreachable(head.lines().next().unwrap_or_default()));
    }
    if head.contains("transfer-encoding: chunked") {
        return Err(unreachable(
            "réponse découpée (chunked) non prise en charge",
        ));
    }
    Ok(reply[split + 4..].to_vec())
}

/// Signs `document` with `credential`, time-stamped by `timestamper` (B-T; XAdES for PES is
/// B-B) — computation and, for an HTTP authority, one blocking request: run it off the async
/// threads.
pub fn sign_document(
    kind: DocumentKind,
    document: &[u8],
    credential: &Credential,
    stamp: &StampText,
    now: Timestamp,
    timestamper: &Timestamper,
) -> Result<Signed, CryptoError> {
    let certificate = certificate_info(&credential.certificate)?;
    let timestamped = |digest: &[u8; 32], signing_time: Option<Timestamp>| {
        let signed =
            cms::sign_detached_digest(credential, digest, &cms::SignOptions { signing_time })?;
        let imprint: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(cms::signature_value(&signed)?).into()
        };
        cms::add_signature_timestamp(&signed, &timestamper.token(&imprint)?)
    };
    let (document, detached) = match kind {
        DocumentKind::Pdf => {
            let request = pades::SignatureRequest {
                field_name: None,
                signer_name: stamp.signer.clone(),
                reason: Some(match &stamp.on_behalf {
                    Some(absent) => format!("Signé en l'absence de {absent}"),
                    None => "Signature du document".to_owned(),
                }),
                location: None,
                signing_time: now,
                stamp: Some(pades::Stamp {
                    lines: stamp.lines(),
                    page: pades::StampPage::Last,
                    rect: None,
                }),
                contents_reserve: 32 * 1024,
            };
            let signed = pades::sign_bytes(document, &request, |digest| timestamped(digest, None))?;
            (signed, None)
        }
        DocumentKind::Pes => {
            let options = xades::PesSignOptions {
                signing_time: now,
                city: None,
                postal_code: None,
                country: None,
                claimed_role: stamp.quality.clone(),
                scope: xades::PesScope::EachBordereau,
            };
            (xades::sign_pes(document, credential, &options)?, None)
        }
        DocumentKind::Other => {
            let digest: [u8; 32] = {
                use sha2::Digest;
                sha2::Sha256::digest(document).into()
            };
            let p7s = timestamped(&digest, Some(now))?;
            (document.to_vec(), Some(p7s))
        }
    };
    Ok(Signed {
        document,
        detached,
        certificate,
    })
}
