//! The operator's administration API: background jobs.

use axum::Json;
use axum::extract::{Path, State};
use bouquet_kernel::AppError;
use bouquet_kernel::policy::{PlatformAction, decide_platform};
use bouquet_store::jobs::{self, JobRow, JobStatus};
use bouquet_store::page::{Cursor, clamp_limit};
use bouquet_webkit::error::Problem;
use bouquet_webkit::forms::Params;
use bouquet_webkit::{ApiUser, AppState, WebError, WebResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Paged, rfc3339};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// `pending`, `running`, `done` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
}

impl From<JobRow> for Job {
    fn from(j: JobRow) -> Self {
        Job {
            run_at: rfc3339(j.run_at),
            created_at: rfc3339(j.created_at),
            id: j.id,
            kind: j.kind,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `pending`, `running`, `done` or `dead`.
    status: Option<String>,
    kind: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Background jobs, newest first (operator administrators).
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "administration", security(("bearer" = [])),
    params(JobsQuery),
    responses((status = 200, body = Paged<Job>), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    ApiUser(identity): ApiUser,
    Params(q): Params<JobsQuery>,
) -> WebResult<Json<Paged<Job>>> {
    decide_platform(&identity.actor, PlatformAction::ManageJobs)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            WebError(AppError::invalid(
                "status",
                "État inconnu : pending, running, done ou dead.",
            ))
        })?),
    };
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let mut conn = state.platform.db.read().await?;
    let page = jobs::list(
        &mut conn,
        status,
        q.kind.as_deref(),
        cursor.as_ref(),
        clamp_limit(q.limit, 50),
    )
    .await?;
    Ok(Json(Paged {
        items: page.items.into_iter().map(Job::from).collect(),
        next_cursor: page.next,
    }))
}

/// Puts a dead job back in the queue.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "administration", security(("bearer" = [])),
    params(("id" = String, Path, description = "Identifiant de la tâche")),
    responses((status = 200, body = Job), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_job(
    State(state): State<AppState>,
    ApiUser(identity): ApiUser,
    Path(id): Path<String>,
) -> WebResult<Json<Job>> {
    decide_platform(&identity.actor, PlatformAction::ManageJobs)?;
    let p = &state.platform;
    let now = p.clock.now();
    let mut tx = p.db.begin().await?;
    if jobs::get(&mut tx, &id).await?.is_none() {
        return Err(WebError(AppError::NotFound));
    }
    if !jobs::retry(&mut tx, now, &id, &identity.audit_actor()).await? {
        return Err(WebError(AppError::Conflict(
            "Seule une tâche en échec peut être relancée.".into(),
        )));
    }
    let updated = jobs::get(&mut tx, &id)
        .await?
        .ok_or(WebError(AppError::NotFound))?;
    tx.commit().await?;
    p.wake_workers();
    Ok(Json(updated.into()))
}
