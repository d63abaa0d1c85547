//! The tenancy helper every route uses: a person of organisation B cannot read, list,
//! change or delete organisation A's objects, and trying changes nothing.
//!
//! Use: build the requests that would reach A's objects (through A's URL, and through B's
//! URL with A's identifiers), then call [`assert_refused`] with B's browser or B's token.
//! Each request must answer 404 — the existence of A's data is not revealed — and the
//! database must be exactly as before.

use reqwest::{Client, Method, StatusCode};

use crate::helpers::{TestApp, csrf_of};

/// How the outsider reaches the application.
pub enum Caller<'a> {
    /// A signed-in browser (forms carry its CSRF token).
    Browser(&'a Client),
    /// A bearer token.
    Token(&'a str),
}

/// What the outsider tries.
#[derive(Clone, Debug)]
pub enum Verb {
    Read,
    List,
    Change,
    Delete,
}

#[derive(Clone, Debug)]
pub struct Attempt {
    pub verb: Verb,
    pub method: Method,
    pub path: String,
    /// Form fields (pages) or a JSON body (API).
    pub form: Vec<(String, String)>,
    pub json: Option<serde_json::Value>,
}

impl Attempt {
    pub fn get(verb: Verb, path: impl Into<String>) -> Self {
        Self {
            verb,
            method: Method::GET,
            path: path.into(),
            form: Vec::new(),
            json: None,
        }
    }

    pub fn post(verb: Verb, path: impl Into<String>, form: &[(&str, &str)]) -> Self {
        Self {
            verb,
            method: Method::POST,
            path: path.into(),
            form: form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            json: None,
        }
    }

    pub fn api(
        verb: Verb,
        method: Method,
        path: impl Into<String>,
        json: Option<serde_json::Value>,
    ) -> Self {
        Self {
            verb,
            method,
            path: path.into(),
            form: Vec::new(),
            json,
        }
    }
}

/// Sends every attempt as `caller`; each must answer 404 and change nothing.
pub async fn assert_refused(app: &TestApp, caller: Caller<'_>, attempts: &[Attempt]) {
    let verbs: Vec<_> = attempts.iter().map(|a| format!("{:?}", a.verb)).collect();
    for needed in ["Read", "List", "Change", "Delete"] {
        assert!(
            verbs.iter().any(|v| v == needed),
            "the attempts must cover {needed}"
        );
    }
    for attempt in attempts {
        let before = app.fingerprint().await;
        let url = app.url(&attempt.path);
        let response = match &caller {
            Caller::Browser(client) => {
                let mut request = client.request(attempt.method.clone(), &url);
                if attempt.method == Method::POST {
                    let token = {
                        let html = client
                            .get(app.url("/mentions-legales"))
                            .send()
                            .await
                            .unwrap()
                            .text()
                            .await
                            .unwrap();
                        csrf_of(&html)
                    };
                    let mut form = vec![("_csrf".to_owned(), token)];
                    form.extend(attempt.form.iter().cloned());
                    request = request.form(&form);
                }
                request.send().await.unwrap()
            }
            Caller::Token(token) => {
                let mut request = reqwest::Client::new()
                    .request(attempt.method.clone(), &url)
                    .bearer_auth(token);
                if let Some(body) = &attempt.json {
                    request = request.json(body);
                }
                request.send().await.unwrap()
            }
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{:?} {} {} should answer 404, got {status}: {}",
            attempt.verb,
            attempt.method,
            attempt.path,
            body.chars().take(300).collect::<String>()
        );
        assert!(
            body.contains("n'existe pas ou vous n'y avez pas accès")
                || body.contains("n&#39;existe pas ou vous n&#39;y avez pas accès"),
            "404 without the French explanation on {}",
            attempt.path
        );
        assert_eq!(
            app.fingerprint().await,
            before,
            "{} {} changed the database",
            attempt.method,
            attempt.path
        );
    }
}
