//! Job workers: claim, run the handler, record the outcome.
//!
//! Handlers are registered by kind in a [`Registry`], built once at start-up from every
//! module (job handlers and event subscriptions). Workers run inside `bouquet serve`; several
//! workers, and several processes, share the queue safely (see [`crate::jobs`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use async_trait::async_trait;
use futures::FutureExt;
use jiff::SignedDuration;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::StoreError;
use crate::jobs::{self, JobRow, JobStatus, NewJob};
use crate::outbox::{self, Envelope};
use crate::platform::Platform;

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobError {
    /// Try again later (network down, peer busy…).
    Retry(String),
    /// Retrying cannot help (malformed payload…): dead at once.
    Permanent(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, platform: &Platform, job: &JobRow) -> Result<(), JobError>;
}

/// Handlers by kind, and subscribers by topic.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    subscribers: HashMap<String, Vec<String>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of jobs of `kind`.
    pub fn handle(&mut self, kind: &str, handler: Arc<dyn JobHandler>) {
        self.handlers.insert(kind.to_owned(), handler);
    }

    /// Subscribes the handler of `kind` to events of `topic`: it will receive an [`Envelope`].
    pub fn subscribe(&mut self, topic: &str, kind: &str) {
        self.subscribers
            .entry(topic.to_owned())
            .or_default()
            .push(kind.to_owned());
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers.get(kind).cloned()
    }

    /// Runs one claimed job to its outcome. Public for tests that drive the queue by hand.
    pub async fn execute(
        &self,
        platform: &Platform,
        job: &JobRow,
        worker: &str,
    ) -> Result<JobStatus, StoreError> {
        let outcome = if job.kind == outbox::DISPATCH {
            self.dispatch(platform, job).await
        } else {
            match self.handler(&job.kind) {
                // A panicking handler fails its job for good instead of killing the worker.
                Some(h) => AssertUnwindSafe(h.run(platform, job))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(JobError::Permanent(
                            "la tâche s'est interrompue sur une erreur interne (voir les journaux du serveur)".into(),
                        ))
                    }),
                None => Err(JobError::Permanent(format!(
                    "aucun gestionnaire pour les tâches « {} »",
                    job.kind
                ))),
            }
        };
        let now = platform.clock.now();
        match outcome {
            Ok(()) => {
                if !jobs::complete(&platform.db, now, &job.id, worker).await? {
                    tracing::warn!(job = %job.id, "job lease lost before completion");
                }
                metrics::counter!("bouquet_jobs_total", "kind" => job.kind.clone(), "outcome" => "done").increment(1);
                Ok(JobStatus::Done)
            }
            Err(e) => {
                let (message, permanent) = match e {
                    JobError::Retry(m) => (m, false),
                    JobError::Permanent(m) => (m, true),
                };
                let status =
                    jobs::fail(&platform.db, now, job, worker, &message, permanent).await?;
                tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, status = status.code(), error = %message, "job failed");
                metrics::counter!("bouquet_jobs_total", "kind" => job.kind.clone(), "outcome" => status.code()).increment(1);
                Ok(status)
            }
        }
    }

    async fn dispatch(&self, platform: &Platform, job: &JobRow) -> Result<(), JobError> {
        let event_id = job
            .payload()
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| JobError::Permanent("événement sans identifiant".into()))?;
        let mut tx = platform.db.begin().await?;
        let Some(envelope) = outbox::load(&mut tx, &event_id).await? else {
            return Err(JobError::Permanent(format!(
                "événement {event_id} introuvable"
            )));
        };
        let now = platform.clock.now();
        for kind in self.subscribers.get(&envelope.topic).into_iter().flatten() {
            let mut next = NewJob::new(kind.clone(), envelope_json(&envelope));
            next.org = job.org_id.as_deref().and_then(|o| o.parse().ok());
            jobs::enqueue(&mut tx, now, next).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn envelope_json(e: &Envelope) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// Worker settings.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub workers: usize,
    /// How long a worker may hold a job before another may take it.
    pub lease: SignedDuration,
    /// How often idle workers look for due jobs (they are also woken on enqueue).
    pub poll: Duration,
    /// A name unique to this process, so that leases name their holder.
    pub node: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            lease: SignedDuration::from_mins(10),
            poll: Duration::from_secs(1),
            node: format!("node-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// Starts the workers; they stop when `shutdown` is cancelled (after finishing their job).
pub fn spawn(
    platform: Platform,
    registry: Arc<Registry>,
    options: WorkerOptions,
    shutdown: CancellationToken,
) -> Vec<JoinHandle<()>> {
    (0..options.workers)
        .map(|i| {
            let platform = platform.clone();
            let registry = registry.clone();
            let shutdown = shutdown.clone();
            let name = format!("{}-w{i}", options.node);
            let options = options.clone();
            tokio::spawn(async move {
                run_worker(platform, registry, name, options, shutdown).await;
            })
        })
        .collect()
}

async fn run_worker(
    platform: Platform,
    registry: Arc<Registry>,
    name: String,
    options: WorkerOptions,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let now = platform.clock.now();
        match jobs::claim(&platform.db, now, &name, options.lease).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
                if let Err(e) = registry
                    .execute(&platform, &job, &name)
                    .instrument(span)
                    .await
                {
                    tracing::error!(error = %e, "could not record job outcome");
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = platform.job_signal.notified() => {}
                    _ = tokio::time::sleep(options.poll) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not claim a job");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
}

/// Runs due jobs until none is left (tests and `bouquet jobs run`), returning how many ran.
pub async fn drain(
    platform: &Platform,
    registry: &Registry,
    worker: &str,
) -> Result<usize, StoreError> {
    let mut n = 0;
    while let Some(job) = jobs::claim(
        &platform.db,
        platform.clock.now(),
        worker,
        SignedDuration::from_mins(10),
    )
    .await?
    {
        registry.execute(platform, &job, worker).await?;
        n += 1;
    }
    Ok(n)
}
