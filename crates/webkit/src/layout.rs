//! The page chrome and rendering.
//!
//! Every page template has a `chrome: Chrome` field and extends `base.html`, which draws the
//! skip link, the header (organisation selector, account, logout), the navigation, the
//! notice of the previous action, the main landmark and the footer. Pages get their chrome
//! from [`PageCtx::chrome`].

use std::sync::Arc;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::csrf::CsrfToken;
use crate::error::WebError;
use crate::identity::Identity;
use crate::module::NavContext;
use crate::org::OrgCtx;
use crate::state::AppState;
use crate::{assets, cookies, flash};

#[derive(Clone, Debug)]
pub struct NavLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

#[derive(Clone, Debug)]
pub struct OrgChoice {
    pub siren: String,
    pub name: String,
    pub selected: bool,
}

#[derive(Clone, Debug)]
pub struct CurrentOrg {
    pub siren: String,
    pub name: String,
    pub kind_label: String,
}

#[derive(Clone, Debug)]
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

/// What `base.html` draws around a page.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub title: String,
    pub has_errors: bool,
    pub user_name: Option<String>,
    pub orgs: Vec<OrgChoice>,
    pub current: Option<CurrentOrg>,
    pub nav: Vec<NavLink>,
    pub breadcrumbs: Vec<Crumb>,
    pub csrf: String,
    pub flash: Option<&'static str>,
    pub demo: bool,
    pub operator_name: String,
    pub css: String,
    pub js: String,
    pub favicon: String,
    pub version: &'static str,
}

impl Chrome {
    /// The `<title>`: "Erreur : " first when the page shows errors (RGAA 11.10).
    pub fn document_title(&self) -> String {
        let prefix = if self.has_errors { "Erreur : " } else { "" };
        format!("{prefix}{} — Bouquet", self.title)
    }

    pub fn with_errors(mut self, has_errors: bool) -> Self {
        self.has_errors = has_errors;
        self
    }

    pub fn crumb(mut self, label: impl Into<String>, href: Option<String>) -> Self {
        self.breadcrumbs.push(Crumb {
            label: label.into(),
            href,
        });
        self
    }

    pub(crate) fn build(
        state: &AppState,
        input: ChromeInput,
        title: &str,
        org: Option<&OrgCtx>,
    ) -> Self {
        let settings = &state.platform.settings;
        let mut orgs: Vec<OrgChoice> = Vec::new();
        let mut nav_items = Vec::new();
        if let Some(identity) = &input.identity {
            for m in identity.memberships.iter().chain(identity.followed.iter()) {
                if !orgs.iter().any(|o| o.siren == m.siren) {
                    orgs.push(OrgChoice {
                        siren: m.siren.clone(),
                        name: m.name.clone(),
                        selected: org.is_some_and(|o| o.org.siren == m.siren),
                    });
                }
            }
            if let Some(o) = org
                && !orgs.iter().any(|c| c.siren == o.org.siren)
            {
                orgs.push(OrgChoice {
                    siren: o.org.siren.clone(),
                    name: o.org.name.clone(),
                    selected: true,
                });
            }
            let ctx = NavContext {
                actor: &identity.actor,
                org: org.map(|o| (o.org.siren.as_str(), &o.facts)),
            };
            for module in &state.modules {
                nav_items.extend(module.nav(&ctx));
            }
        }
        nav_items.sort_by_key(|n| n.order);
        let best = nav_items
            .iter()
            .filter(|n| nav_matches(&n.href, &input.path))
            .map(|n| n.href.len())
            .max();
        let nav = nav_items
            .into_iter()
            .map(|n| NavLink {
                current: nav_matches(&n.href, &input.path) && Some(n.href.len()) == best,
                label: n.label,
                href: n.href,
            })
            .collect();
        Chrome {
            title: title.to_owned(),
            has_errors: false,
            user_name: input.identity.as_ref().map(|i| i.user.display_name.clone()),
            orgs,
            current: org.map(|o| CurrentOrg {
                siren: o.org.siren.clone(),
                name: o.org.name.clone(),
                kind_label: o.org.kind_label().to_owned(),
            }),
            nav,
            breadcrumbs: Vec::new(),
            csrf: input.csrf,
            flash: input.flash,
            demo: settings.demo,
            operator_name: settings.operator_name.clone(),
            css: assets::href("bouquet.css"),
            js: assets::href("bouquet.js"),
            favicon: assets::href("favicon.svg"),
            version: crate::VERSION,
        }
    }
}

/// A navigation entry is current for its own page and the pages under it; the most
/// specific entry wins.
fn nav_matches(href: &str, path: &str) -> bool {
    let base = href.trim_end_matches('/');
    path == href || path == base || path.starts_with(&format!("{base}/"))
}

/// What a chrome is made from.
pub struct ChromeInput {
    pub identity: Option<Arc<Identity>>,
    pub csrf: String,
    pub flash: Option<&'static str>,
    pub path: String,
}

/// Everything a page handler needs to draw its chrome.
pub struct PageCtx {
    pub state: AppState,
    pub identity: Option<Arc<Identity>>,
    pub csrf: String,
    pub flash: Option<&'static str>,
    pub path: String,
    /// `?a=b` of the request, for pagination links.
    pub query: String,
}

impl PageCtx {
    pub fn chrome(&self, title: &str, org: Option<&OrgCtx>) -> Chrome {
        Chrome::build(
            &self.state,
            ChromeInput {
                identity: self.identity.clone(),
                csrf: self.csrf.clone(),
                flash: self.flash,
                path: self.path.clone(),
            },
            title,
            org,
        )
    }

    /// The chrome of an operator's administration page, under "Administration".
    pub fn admin_chrome(&self, title: &str) -> Chrome {
        let chrome = self
            .chrome(title, None)
            .crumb("Administration", Some("/admin".into()));
        if title == "Administration" {
            chrome
        } else {
            chrome.crumb(title, None)
        }
    }

    pub fn secure(&self) -> bool {
        self.state.platform.settings.secure_cookies()
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PageCtx {
            state: state.clone(),
            identity: parts.extensions.get::<Arc<Identity>>().cloned(),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            flash: cookies::get(&parts.headers, cookies::FLASH).and_then(|c| {
                flash::message(&c).or_else(|| state.modules.iter().find_map(|m| m.flash(&c)))
            }),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
        })
    }
}

/// Renders a page (200).
pub fn render<T: Template>(page: &T) -> Result<Response, WebError> {
    render_status(StatusCode::OK, page)
}

/// Renders a page with a status (e.g. 422 for a form shown again with its errors).
pub fn render_status<T: Template>(status: StatusCode, page: &T) -> Result<Response, WebError> {
    let html = page.render()?;
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A 303 redirect after a form.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}
