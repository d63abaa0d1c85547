//! A préfecture simulator: a small @CTES (the Interior ministry's platform for the contrôle de
//! légalité) for the demo and the tests. It speaks Bouquet's préfecture connector protocol and
//! builds and reads every message with `bouquet-format-actes`, like the service does — but the
//! tests also check each message it emits with the real `xmllint`, so that neither side is the
//! only judge of the other.
//!
//! # The protocol (bearer token on every route when one is configured: 401 otherwise)
//! - `POST /actes/depot`, multipart field `file` (its file name is the archive's name): `200 OK`
//!   when accepted; `400` with a French text when refused at the door (name not
//!   `{TRI}-EACT--{SIREN}--{AAAAMMJJ}-{n}.tar.gz`, unreadable or unsafe archive — traversal,
//!   links, directories, bombs —, envelope missing); `503` while the préfecture is switched
//!   "indisponible". The analysis runs in the background after [`Config::delay`].
//! - `GET /actes/retours`: `[{"id","nom","taille"}]`, oldest first; `GET /actes/retours/{id}`:
//!   the `.tar.gz` (`application/gzip`); `DELETE /actes/retours/{id}`: `204`, unknown `404`.
//!
//! # What the analysis answers (one return archive per message)
//! - Envelope (`EnveloppeCLMISILL`) not XSD-valid, SIREN different from the archive's, a
//!   formulaire or document announced but absent, a message not XSD-valid or not expected from
//!   a collectivité, a message about an unknown acte → `AnomalieEnveloppe` in
//!   `ANO_EACT--….tar.gz` (natures: see [`process`]).
//! - `Acte` (1-1): name and pièces named per the standard, typologies allowed for the nature,
//!   matières of the classification, IDActe not already acquitted, `ClassificationDateVersion`
//!   equal to the simulator's → `ARActe` (1-2, `DateReception` = today in Europe/Paris), else
//!   `AnomalieActe` (1-3; `002` "ODT-VERIF-01 : … date de classification qui n'est pas à jour").
//! - `Annulation` (6-1) of an acquitted acte → `ARAnnulation` (6-2).
//! - `DemandeClassification` (7-1) → `RetourClassification` (7-2: the demo classification at
//!   the simulator's date) or `ReponseClassificationSansChangement` (7-3) when already current.
//! - Replies 2-2, 3-2, 3-3, 3-4, 4-2, 4-3, 4-4 are stored on the acte; 3-3 and 3-4 get an
//!   `ARPieceComplementaire` (3-5), 4-3 and 4-4 an `ARReponseRejetLettreObservations` (4-5).
//!   (Codes 3-5, 4-5 and 7-3: S²LOW's `TypeMessageMetier`.)
//!
//! Every return is a flat `.tar.gz`: `EACT--SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}-{n}.xml`
//! (`EnveloppeMISILLCL`) + the message (+ its PDF letter for 2-1, 3-1, 4-1, 5-1), or just
//! the `ANO_…xml`.
//!
//! # The page (`/`)
//! "Simulateur de préfecture (@CTES)": actes received by collectivité with their exchanges;
//! for each acquitted acte, forms to send a courrier simple (2-1), a demande de pièces
//! complémentaires (3-1), a lettre d'observations (4-1), a déféré (5-1), each with a PDF letter
//! made with `bouquet-pdfdoc`; switches: préfecture indisponible, new classification, an
//! out-of-norm `AnomalieEnveloppe` (Nature 999, like the real ODT-VERIF-17).
//!
//! # Rust API
//! [`spawn`]`(Config, addr) -> Simulator` ([`Simulator::url`], [`Simulator::stop`]); it
//! dereferences to its [`SimState`] (a clonable handle, [`Simulator::state`]) whose methods are
//! the page's actions — `send_courrier_simple`, `send_demande_pieces`,
//! `send_lettre_observations`, `send_defere`, `set_unavailable`, `bump_classification`,
//! `send_out_of_norm` — and the views `received`, `journal`, `mailbox`, `mailbox_len`,
//! `classification_date`, `idle` (waits for the analyses under way). Or [`SimState::open`] +
//! [`router`] to mount it elsewhere.
//!
//! # Layout
//! - `state`: the state, its persistence (`etat.json`, `retours/`, `recus/` in [`Config::dir`]).
//! - [`process`]: the door checks and the analysis of a deposit; the préfecture's own messages.
//! - `http`: the protocol routes; `page`: the web page and its forms.
//! - [`letter`]: the PDF letters.

mod http;
pub mod letter;
mod page;
pub mod process;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bouquet_kernel::clock::{SharedClock, SystemClock};
use jiff::civil::Date;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use state::{ActeState, Exchange, JournalEntry, MailboxEntry, Received, SimState};

/// The simulator's settings.
#[derive(Clone)]
pub struct Config {
    /// Where to keep the state and the archives (`None`: in memory only).
    pub dir: Option<PathBuf>,
    /// Bearer token required on the protocol's routes (`None`: open).
    pub token: Option<String>,
    /// Time between a deposit and its answer in the mailbox.
    pub delay: Duration,
    /// Today's date (in Europe/Paris) comes from here.
    pub clock: SharedClock,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: None,
            token: None,
            delay: Duration::ZERO,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("dir", &self.dir)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

/// Errors of the simulator, in French.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input refused (a form, an argument).
    #[error("{0}")]
    Invalid(String),
    #[error("Aucun acte acquitté ne porte l'identifiant « {0} ».")]
    UnknownActe(String),
    #[error("Erreur de fichier : {0}")]
    Io(String),
    #[error("Message @CTES impossible à produire : {0}")]
    Format(#[from] bouquet_format_actes::FormatError),
    #[error("Lettre PDF impossible à produire : {0}")]
    Pdf(String),
    #[error("Impossible d'écouter sur {addr} : {message}")]
    Bind { addr: SocketAddr, message: String },
}

/// The router of the simulator (protocol and page) over a state.
pub fn router(state: SimState) -> axum::Router {
    http::routes(state.clone()).merge(page::routes(state))
}

/// A running simulator; stops when dropped (or with [`Simulator::stop`]).
pub struct Simulator {
    state: SimState,
    addr: SocketAddr,
    url: url::Url,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

/// Opens the state, binds `addr` (port 0 picks a free one) and serves in the background.
/// Deposits accepted before a stop and not answered yet are analysed again.
pub async fn spawn(config: Config, addr: SocketAddr) -> Result<Simulator, Error> {
    let state = SimState::open(&config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Bind {
            addr,
            message: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| Error::Bind {
        addr,
        message: e.to_string(),
    })?;
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(|e| Error::Bind {
        addr,
        message: e.to_string(),
    })?;
    let shutdown = CancellationToken::new();
    let app = router(state.clone());
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "préfecture simulator stopped");
        }
    });
    process::resume(&state).await;
    Ok(Simulator {
        state,
        addr,
        url,
        shutdown,
        server: Some(server),
    })
}

impl Simulator {
    /// The base URL of the protocol and the page (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> url::Url {
        self.url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state: a cheap handle (clone it) with the page's actions, usable after the
    /// `Simulator` itself was moved away.
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.state.idle().await;
    }
}

impl std::ops::Deref for Simulator {
    type Target = SimState;

    /// The page's actions and the views of the state ([`SimState`]'s methods).
    fn deref(&self) -> &SimState {
        &self.state
    }
}

/// The page's actions and what the simulator received, for the tests of the service (also
/// reachable from a [`Simulator`], which dereferences to its state).
impl SimState {
    /// Sends a courrier simple (2-1) about an acquitted acte; returns the mailbox id.
    pub async fn send_courrier_simple(&self, id_acte: &str, texte: &str) -> Result<String, Error> {
        process::send_letter(self, id_acte, process::LetterKind::CourrierSimple, texte).await
    }

    /// Sends a demande de pièces complémentaires (3-1) describing the pièces.
    pub async fn send_demande_pieces(
        &self,
        id_acte: &str,
        description: &str,
    ) -> Result<String, Error> {
        process::send_letter(
            self,
            id_acte,
            process::LetterKind::DemandePieces,
            description,
        )
        .await
    }

    /// Sends a lettre d'observations (4-1) with its motif.
    pub async fn send_lettre_observations(
        &self,
        id_acte: &str,
        motif: &str,
    ) -> Result<String, Error> {
        process::send_letter(
            self,
            id_acte,
            process::LetterKind::LettreObservations,
            motif,
        )
        .await
    }

    /// Sends a déféré au tribunal administratif (5-1) with the nature de l'illégalité.
    pub async fn send_defere(
        &self,
        id_acte: &str,
        nature_illegalite: &str,
    ) -> Result<String, Error> {
        process::send_letter(
            self,
            id_acte,
            process::LetterKind::Defere,
            nature_illegalite,
        )
        .await
    }

    /// While on, deposits are answered `503`.
    pub async fn set_unavailable(&self, unavailable: bool) -> Result<(), Error> {
        process::set_unavailable(self, unavailable).await
    }

    /// Publishes a new classification; returns its date (later ARs carry it).
    pub async fn bump_classification(&self) -> Result<Date, Error> {
        process::bump_classification(self).await
    }

    /// The classification date in force.
    pub async fn classification_date(&self) -> Date {
        self.lock().await.classification_date
    }

    /// Puts in the mailbox an `AnomalieEnveloppe` of Nature 999 (outside the XSD, like the
    /// real ODT-VERIF-17) for a SIREN; returns the mailbox id.
    pub async fn send_out_of_norm(&self, siren: &str) -> Result<String, Error> {
        process::send_out_of_norm(self, siren).await
    }

    /// The actes received, oldest first, with their exchanges.
    pub async fn received(&self) -> Vec<Received> {
        self.lock().await.received.clone()
    }

    /// The journal (archives received, refused, messages sent), oldest first.
    pub async fn journal(&self) -> Vec<JournalEntry> {
        self.lock().await.journal.clone()
    }

    /// Return archives waiting in the mailbox.
    pub async fn mailbox_len(&self) -> usize {
        self.lock().await.mailbox.len()
    }

    /// The mailbox, oldest first.
    pub async fn mailbox(&self) -> Vec<MailboxEntry> {
        self.lock().await.mailbox.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
