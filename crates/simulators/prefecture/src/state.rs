//! The simulator's state: what it received, its mailbox of return archives, its switches.
//! In memory behind one lock; with a directory, every change is written to `etat.json`
//! (atomically: temporary file, then rename) and each return archive to `retours/{id}.tar.gz`,
//! so that a restart keeps the mailbox and the actes already acquitted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bouquet_format_actes::{Collectivite, DonneesActe, EnveloppeCl};
use bouquet_kernel::clock::SharedClock;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, MutexGuard, Notify};

use crate::Error;

/// Journal entries kept (the oldest are forgotten beyond).
const JOURNAL_MAX: usize = 500;

/// Where an acte received stands at the préfecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "etat", rename_all = "snake_case")]
pub enum ActeState {
    /// `ARActe` sent; the date of reception makes the acte executory.
    Acquitte { date_reception: Date },
    /// `AnomalieActe` sent.
    Anomalie { nature: String, detail: String },
    /// `ARAnnulation` sent after a 6-1.
    Annule { date_reception: Date },
}

impl ActeState {
    pub fn label(&self) -> &'static str {
        match self {
            ActeState::Acquitte { .. } => "acquitté",
            ActeState::Anomalie { .. } => "anomalie",
            ActeState::Annule { .. } => "annulé",
        }
    }
}

/// One message of the exchange about an acte, either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub at: Timestamp,
    /// `{type}-{sous-type}` ("4-1"), or the root element when the standard gives no code.
    pub code: String,
    /// French label ("Lettre d'observations").
    pub label: String,
    /// Sent by the préfecture (`true`) or received from the collectivité.
    pub from_prefecture: bool,
    /// The `DateCourrierPref` of the préfecture's letter this message is or answers.
    pub date_courrier_pref: Option<Date>,
    /// Motif, description of the pièces, nature de l'illégalité, comment.
    pub detail: Option<String>,
    /// Files of the message (documents joined).
    pub files: Vec<String>,
}

/// An acte (1-1) received, with everything exchanged about it since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub id_acte: String,
    pub collectivite: Collectivite,
    pub acte: DonneesActe,
    /// The archive it came in.
    pub archive: String,
    pub received_at: Timestamp,
    pub state: ActeState,
    pub exchanges: Vec<Exchange>,
}

impl Received {
    /// Whether the préfecture waits for an answer: a 3-1 or 4-1 that no message of the
    /// collectivité about the same letter followed yet.
    pub fn awaiting_reply(&self) -> bool {
        self.exchanges.iter().enumerate().any(|(i, e)| {
            e.from_prefecture
                && (e.code == "3-1" || e.code == "4-1")
                && !self.exchanges[i + 1..].iter().any(|r| {
                    !r.from_prefecture
                        && r.date_courrier_pref == e.date_courrier_pref
                        && r.code.get(..2) == e.code.get(..2)
                        && r.code != "3-2"
                        && r.code != "4-2"
                })
        })
    }

    pub fn is_acquitted(&self) -> bool {
        matches!(self.state, ActeState::Acquitte { .. })
    }
}

/// A line of the journal: an archive received (or refused at the door), a message sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub at: Timestamp,
    pub siren: String,
    /// What happened, in French.
    pub text: String,
}

/// A return archive waiting in the mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxEntry {
    pub id: String,
    /// The archive's file name (`EACT--SPREF0351-…tar.gz`, `ANO_EACT--…tar.gz`).
    pub nom: String,
    pub taille: u64,
    pub siren: String,
    pub created_at: Timestamp,
    /// The message it carries (`ARActe`, `AnomalieEnveloppe`…).
    pub message: String,
}

/// Everything that is persisted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Inner {
    /// Deposits are answered 503 while on.
    pub unavailable: bool,
    /// The version of the classification in force; actes must carry it.
    pub classification_date: Date,
    /// Last number given (mailbox ids, message file numbers).
    pub counter: u64,
    /// Daily serials of the préfecture's envelopes, by `SPREF{dept}{arr}-{SIREN}-{AAAAMMJJ}`.
    pub serials: BTreeMap<String, u32>,
    pub received: Vec<Received>,
    /// Newest last.
    pub journal: Vec<JournalEntry>,
    /// Oldest first.
    pub mailbox: Vec<MailboxEntry>,
    /// The last envelope received from each SIREN, with its file name (for the out-of-norm
    /// message, which quotes it).
    #[serde(default)]
    pub last_envelopes: BTreeMap<String, (String, EnveloppeCl)>,
    /// Deposits accepted and not analysed yet (archives in `recus/{id}.tar.gz`).
    #[serde(default)]
    pub pending: Vec<crate::process::PendingDeposit>,
    /// Archive bytes of the mailbox, by id (files in `retours/` when persisted).
    #[serde(skip)]
    pub archives: HashMap<String, Vec<u8>>,
}

impl Inner {
    pub fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// The next daily serial of an envelope of the préfecture.
    pub fn next_serial(&mut self, key: String) -> u32 {
        let n = self.serials.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    pub fn log(&mut self, at: Timestamp, siren: &str, text: impl Into<String>) {
        self.journal.push(JournalEntry {
            at,
            siren: siren.to_owned(),
            text: text.into(),
        });
        if self.journal.len() > JOURNAL_MAX {
            let extra = self.journal.len() - JOURNAL_MAX;
            self.journal.drain(..extra);
        }
    }

    /// The acte acquitted (or annulled) under this IDActe.
    pub fn acquitted_mut(&mut self, id_acte: &str) -> Option<&mut Received> {
        self.received.iter_mut().rev().find(|r| {
            r.id_acte == id_acte
                && matches!(
                    r.state,
                    ActeState::Acquitte { .. } | ActeState::Annule { .. }
                )
        })
    }

    pub fn acquitted(&self, id_acte: &str) -> Option<&Received> {
        self.received.iter().rev().find(|r| {
            r.id_acte == id_acte
                && matches!(
                    r.state,
                    ActeState::Acquitte { .. } | ActeState::Annule { .. }
                )
        })
    }
}

/// The state shared by the HTTP handlers, the background analysis and the [`crate::Simulator`].
#[derive(Clone)]
pub struct SimState(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub inner: Mutex<Inner>,
    pub dir: Option<PathBuf>,
    pub token: Option<String>,
    pub delay: Duration,
    pub clock: SharedClock,
    /// Background analyses not finished yet.
    pub pending: AtomicUsize,
    pub idle: Notify,
}

/// The time zone of the préfecture's dates (DateReception…).
pub fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").unwrap_or(TimeZone::UTC)
}

impl SimState {
    /// Opens the state: from `dir/etat.json` and `dir/retours/` when they exist, else new,
    /// with the classification of [`bouquet_format_actes::Classification::demo`].
    pub async fn open(config: &crate::Config) -> Result<SimState, Error> {
        let inner = match &config.dir {
            Some(dir) => load(dir).await?,
            None => None,
        }
        .unwrap_or_else(|| Inner {
            unavailable: false,
            classification_date: bouquet_format_actes::Classification::demo().date,
            counter: 0,
            serials: BTreeMap::new(),
            received: Vec::new(),
            journal: Vec::new(),
            mailbox: Vec::new(),
            last_envelopes: BTreeMap::new(),
            pending: Vec::new(),
            archives: HashMap::new(),
        });
        let state = SimState(Arc::new(Shared {
            inner: Mutex::new(inner),
            dir: config.dir.clone(),
            token: config.token.clone().filter(|t| !t.is_empty()),
            delay: config.delay,
            clock: config.clock.clone(),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        }));
        state.save(&*state.0.inner.lock().await).await?;
        Ok(state)
    }

    pub fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    /// Today in Europe/Paris: the préfecture's dates.
    pub fn today(&self) -> Date {
        self.now().to_zoned_datetime(paris()).date()
    }

    pub(crate) async fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.inner.lock().await
    }

    /// Writes the state (under the caller's lock, so that writes follow changes in order).
    pub(crate) async fn save(&self, inner: &Inner) -> Result<(), Error> {
        let Some(dir) = &self.0.dir else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(inner)
            .map_err(|e| Error::Io(format!("état illisible : {e}")))?;
        write_atomically(&dir.join("etat.json"), &json).await
    }

    /// Puts a return archive in the mailbox (file first, then the state that lists it).
    pub(crate) async fn deliver(
        &self,
        inner: &mut Inner,
        nom: String,
        siren: &str,
        message: &str,
        bytes: Vec<u8>,
    ) -> Result<String, Error> {
        let id = format!("{:08}", inner.next_number());
        if let Some(dir) = &self.0.dir {
            write_atomically(&dir.join("retours").join(format!("{id}.tar.gz")), &bytes).await?;
        }
        inner.mailbox.push(MailboxEntry {
            id: id.clone(),
            nom,
            taille: bytes.len() as u64,
            siren: siren.to_owned(),
            created_at: self.now(),
            message: message.to_owned(),
        });
        inner.archives.insert(id.clone(), bytes);
        Ok(id)
    }

    /// Removes a return archive; `false` if the id is unknown.
    pub(crate) async fn remove(&self, id: &str) -> Result<bool, Error> {
        let mut inner = self.lock().await;
        let Some(pos) = inner.mailbox.iter().position(|m| m.id == id) else {
            return Ok(false);
        };
        inner.mailbox.remove(pos);
        inner.archives.remove(id);
        self.save(&inner).await?;
        if let Some(dir) = &self.0.dir {
            let path = dir.join("retours").join(format!("{id}.tar.gz"));
            if let Err(e) = tokio::fs::remove_file(&path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, path = %path.display(), "return archive not removed");
            }
        }
        Ok(true)
    }

    /// Runs `work` in the background, counted by [`SimState::idle`].
    pub(crate) fn spawn_background<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.pending.fetch_add(1, Ordering::SeqCst);
        let state = self.clone();
        tokio::spawn(async move {
            struct Done(SimState);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.0.pending.fetch_sub(1, Ordering::SeqCst);
                    self.0.0.idle.notify_waiters();
                }
            }
            let _done = Done(state);
            work.await;
        });
    }

    /// Waits until every analysis started so far has put its answer in the mailbox.
    pub async fn idle(&self) {
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

pub(crate) async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io(format!("{} : {e}", path.display()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, path).await.map_err(io)
}

async fn load(dir: &Path) -> Result<Option<Inner>, Error> {
    tokio::fs::create_dir_all(dir.join("recus"))
        .await
        .map_err(|e| Error::Io(format!("{} : {e}", dir.display())))?;
    let path = dir.join("etat.json");
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(format!("{} : {e}", path.display()))),
    };
    let mut inner: Inner = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Io(format!(
            "{} illisible ({e}) : déplacez-le pour repartir d'un état vide",
            path.display()
        ))
    })?;
    let mut kept = Vec::with_capacity(inner.mailbox.len());
    for entry in std::mem::take(&mut inner.mailbox) {
        let file = dir.join("retours").join(format!("{}.tar.gz", entry.id));
        match tokio::fs::read(&file).await {
            Ok(bytes) => {
                inner.archives.insert(entry.id.clone(), bytes);
                kept.push(entry);
            }
            Err(e) => {
                tracing::warn!(error = %e, file = %file.display(), "return archive missing: dropped from the mailbox");
            }
        }
    }
    inner.mailbox = kept;
    Ok(Some(inner))
}
