//! The acting organisation.
//!
//! Every URL of member data names its organisation: `/o/{siren}/…` for pages,
//! `/api/v1/o/{siren}/…` for the API. [`OrgCtx`] reads the SIREN from the path, loads the
//! organisation and today's facts (kind, EPCI, subscriptions), and refuses with **404** when
//! the caller has no relation to it — whether it exists or not. Handlers then ask for the
//! precise right with [`OrgCtx::require`].
//!
//! **Architecture Invariant:** every query of member data takes the `OrgCtx`'s `org_id`; an
//! object id from the URL is always looked up *within* that organisation, so another
//! organisation's object answers 404 as if it did not exist.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use bouquet_kernel::policy::{self, Action, OrgFacts};
use bouquet_kernel::{AppError, OrgId, Siren};
use bouquet_store::orgs::{self, OrgRow};
use jiff::tz::TimeZone;

use crate::error::WebError;
use crate::identity::Identity;
use crate::state::AppState;

#[derive(Clone, Debug)]
pub struct OrgCtx {
    pub org: OrgRow,
    pub org_id: OrgId,
    pub facts: OrgFacts,
    pub identity: Arc<Identity>,
    pub tz: TimeZone,
}

impl OrgCtx {
    /// Refuses (403 or 404) unless the caller may do `action` here.
    pub fn require(&self, action: Action) -> Result<(), WebError> {
        policy::decide(&self.identity.actor, action, &self.facts).map_err(WebError::from)
    }

    pub fn can(&self, action: Action) -> bool {
        policy::decide(&self.identity.actor, action, &self.facts).is_ok()
    }

    pub fn siren(&self) -> &str {
        &self.org.siren
    }

    /// `/o/{siren}{rest}`
    pub fn href(&self, rest: &str) -> String {
        format!("/o/{}{rest}", self.org.siren)
    }

    /// Loads the context for `siren` as seen by `identity`.
    pub async fn load(
        state: &AppState,
        identity: Arc<Identity>,
        siren: &str,
    ) -> Result<Self, WebError> {
        let siren = Siren::parse(siren).map_err(|_| WebError(AppError::NotFound))?;
        let mut conn = state.platform.db.read().await?;
        let org = orgs::get_by_siren(&mut conn, &siren)
            .await?
            .ok_or(WebError(AppError::NotFound))?;
        let facts = orgs::facts(&mut conn, &org, state.platform.clock.now()).await?;
        if !policy::related(&identity.actor, &facts) {
            return Err(WebError(AppError::NotFound));
        }
        Ok(Self {
            org_id: facts.id,
            tz: org.tz(),
            org,
            facts,
            identity,
        })
    }
}

impl FromRequestParts<AppState> for OrgCtx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if let Some(ctx) = parts.extensions.get::<Arc<OrgCtx>>() {
            return Ok(ctx.as_ref().clone());
        }
        let identity = parts
            .extensions
            .get::<Arc<Identity>>()
            .cloned()
            .ok_or(WebError(AppError::Unauthenticated))?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| WebError(AppError::NotFound))?;
        let siren = params
            .iter()
            .find(|(k, _)| *k == "siren")
            .map(|(_, v)| v.to_owned())
            .ok_or(WebError(AppError::NotFound))?;
        let ctx = OrgCtx::load(state, identity, &siren).await?;
        parts.extensions.insert(Arc::new(ctx.clone()));
        Ok(ctx)
    }
}
