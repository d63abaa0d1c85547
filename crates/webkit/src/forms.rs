//! Extractors for what people and programs send, with French errors.
//!
//! - [`Form`]: an HTML form (`application/x-www-form-urlencoded`); CSRF was already checked.
//! - [`ApiJson`]: a JSON body. Content type checked (415), size limited (413), syntax errors
//!   located (400), and field errors — unknown fields included, with
//!   `#[serde(deny_unknown_fields)]` on the type — listed by path (422).
//! - [`Params`]: query parameters (400 with a French message).
//! - [`CsrfMultipart`]: an upload form; checks the `_csrf` field, which must come first.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bouquet_kernel::{AppError, FieldError};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::WebError;
use crate::state::AppState;

fn content_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn body_error(e: &BytesRejection, limit_label: &str) -> WebError {
    let text = e.to_string();
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit") {
        WebError(AppError::PayloadTooLarge {
            limit_label: limit_label.to_owned(),
        })
    } else {
        WebError(AppError::BadRequest(
            "Le corps de la requête n'a pas pu être lu entièrement.".into(),
        ))
    }
}

/// The serde message, translated; French messages of our own types pass through.
fn french(message: &str) -> (Option<String>, String) {
    let message = message.split(" at line ").next().unwrap_or(message);
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if message.starts_with("unknown field") {
        let name = quoted(message);
        let msg = format!(
            "Champ inconnu : « {} ». Vérifiez son orthographe dans la documentation de l'API.",
            name.clone().unwrap_or_default()
        );
        return (name, msg);
    }
    if message.starts_with("missing field") {
        return (quoted(message), "Ce champ est obligatoire.".into());
    }
    if message.starts_with("unknown variant") {
        return (
            None,
            format!(
                "Valeur inconnue : « {} ».",
                quoted(message).unwrap_or_default()
            ),
        );
    }
    if message.starts_with("invalid type") {
        let expected = message.split("expected ").nth(1).unwrap_or_default();
        let expected = match expected {
            e if e.contains("i64")
                || e.contains("i32")
                || e.contains("u64")
                || e.contains("u32")
                || e.contains("integer") =>
            {
                "un nombre entier"
            }
            e if e.contains("f64") || e.contains("float") => "un nombre",
            e if e.contains("string") || e.contains("str") => "une chaîne de caractères",
            e if e.contains("bool") => "true ou false",
            e if e.contains("sequence") => "une liste",
            e if e.contains("map") || e.contains("struct") => "un objet",
            _ => "une autre valeur",
        };
        return (
            None,
            format!("Type de valeur incorrect : attendu {expected}."),
        );
    }
    if message.starts_with("invalid length") {
        return (None, "Nombre d'éléments incorrect.".into());
    }
    if message.starts_with("invalid value") {
        return (None, "Valeur incorrecte.".into());
    }
    (None, message.to_owned())
}

fn field_path(path: &serde_path_to_error::Path, extra: Option<String>) -> String {
    let base = path.to_string();
    let base = if base == "." { String::new() } else { base };
    match extra {
        Some(name) if base.is_empty() => name,
        Some(name) if base == name || base.ends_with(&format!(".{name}")) => base,
        Some(name) => format!("{base}.{name}"),
        None if base.is_empty() => "corps".into(),
        None => base,
    }
}

/// A JSON body.
pub struct ApiJson<T>(pub T);

/// Largest JSON body accepted by default.
pub const JSON_LIMIT_LABEL: &str = "1 Mo";

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let ct = content_type(&req);
        let is_json = ct.starts_with("application/json")
            || (ct.starts_with("application/")
                && ct.split(';').next().is_some_and(|m| m.ends_with("+json")));
        if !is_json {
            return Err(WebError(AppError::UnsupportedMediaType(
                "Envoyez du JSON, avec l'en-tête « Content-Type: application/json ».".into(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e, JSON_LIMIT_LABEL))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON with French errors (used by [`ApiJson`], public for tests and CLI input).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WebError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => match de.end() {
            Ok(()) => Ok(value),
            Err(e) => Err(WebError(AppError::BadRequest(format!(
                "Le corps de la requête n'est pas un JSON valide : contenu en trop après la fin (ligne {}, colonne {}).",
                e.line(),
                e.column()
            )))),
        },
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(WebError(AppError::BadRequest(format!(
                    "Le corps de la requête n'est pas un JSON valide (ligne {}, colonne {}).",
                    inner.line(),
                    inner.column()
                ))));
            }
            let (extra, message) = french(&inner.to_string());
            Err(WebError(AppError::Invalid(vec![FieldError::new(
                field_path(err.path(), extra),
                message,
            )])))
        }
    }
}

/// An HTML form body.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        if !content_type(&req).starts_with("application/x-www-form-urlencoded") {
            return Err(WebError(AppError::UnsupportedMediaType(
                "Ce formulaire doit être envoyé depuis la page de Bouquet.".into(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e, "1 Mo"))?;
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(&bytes));
        serde_path_to_error::deserialize(de)
            .map(Form)
            .map_err(|e| {
                WebError(AppError::BadRequest(format!(
                    "Le formulaire est incomplet ou mal formé (champ « {} »). Rechargez la page et recommencez.",
                    e.path()
                )))
            })
    }
}

/// Query parameters.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let (_, message) = french(&e.inner().to_string());
                WebError(AppError::BadRequest(format!(
                    "Paramètre d'adresse incorrect (« {} ») : {message}",
                    e.path()
                )))
            })
    }
}

/// An upload form (`multipart/form-data`); its CSRF token was checked by the middleware, in
/// the query string of the form's action.
pub struct CsrfMultipart(#[allow(clippy::disallowed_types)] pub axum::extract::Multipart);

impl FromRequest<AppState> for CsrfMultipart {
    type Rejection = WebError;

    #[allow(clippy::disallowed_types)]
    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(CsrfMultipart)
            .map_err(|_| {
                WebError(AppError::BadRequest(
                    "Le formulaire d'envoi est mal formé.".into(),
                ))
            })
    }
}

/// A form whose fields may repeat (checkboxes): the pairs in order.
#[derive(Default)]
pub struct FormPairs(pub Vec<(String, String)>);

impl FormPairs {
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.all(name).next().unwrap_or("")
    }
}

impl FromRequest<AppState> for FormPairs {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        if !content_type(&req).starts_with("application/x-www-form-urlencoded") {
            return Err(WebError(AppError::UnsupportedMediaType(
                "Ce formulaire doit être envoyé depuis la page de Bouquet.".into(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e, "1 Mo"))?;
        Ok(FormPairs(
            url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        age: Option<i64>,
    }

    fn err(body: &str) -> AppError {
        parse_json::<Login>(body.as_bytes()).unwrap_err().0
    }

    #[test]
    fn json_errors_are_french_and_located() {
        assert!(parse_json::<Login>(br#"{"email":"a@b.fr"}"#).is_ok());
        match err(r#"{"email": "#) {
            AppError::BadRequest(m) => assert!(m.contains("JSON valide") && m.contains("ligne 1")),
            other => panic!("{other:?}"),
        }
        match err(r#"{"email":"a","pirate":1}"#) {
            AppError::Invalid(f) => {
                assert_eq!(f[0].field, "pirate");
                assert!(f[0].message.contains("Champ inconnu"));
            }
            other => panic!("{other:?}"),
        }
        match err(r#"{}"#) {
            AppError::Invalid(f) => assert_eq!(
                (f[0].field.as_str(), f[0].message.as_str()),
                ("email", "Ce champ est obligatoire.")
            ),
            other => panic!("{other:?}"),
        }
        match err(r#"{"email":"a","age":"vieux"}"#) {
            AppError::Invalid(f) => {
                assert_eq!(f[0].field, "age");
                assert!(f[0].message.contains("nombre entier"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(r#"{"email":"a"} {}"#),
            AppError::BadRequest(_)
        ));
    }
}

/// The values and errors of a form being shown again.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    values: Vec<(String, String)>,
    pub errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.values.retain(|(k, _)| k != name);
        self.values.push((name.to_owned(), value.to_owned()));
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn error_for(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.as_str())
    }

    /// "Il y a 2 erreurs à corriger"
    pub fn summary_title(&self) -> String {
        match self.errors.len() {
            1 => "Il y a 1 erreur à corriger".into(),
            n => format!("Il y a {n} erreurs à corriger"),
        }
    }

    /// The ids that describe a field (its hint and its error).
    pub fn describedby(&self, name: &str, has_hint: bool) -> String {
        let mut ids = Vec::new();
        if has_hint {
            ids.push(format!("{name}-aide"));
        }
        if self.error_for(name).is_some() {
            ids.push(format!("{name}-erreur"));
        }
        ids.join(" ")
    }

    /// Adopts the errors of an [`AppError::Invalid`], and a conflict ("already…") as an error
    /// of `field`; other errors are returned.
    pub fn absorb_conflict(&mut self, e: AppError, field: &str) -> Result<(), AppError> {
        match e {
            AppError::Conflict(message) => {
                self.error(field, message);
                Ok(())
            }
            other => self.absorb(other),
        }
    }

    /// Adopts the errors of an [`AppError::Invalid`] (others are returned).
    pub fn absorb(&mut self, e: AppError) -> Result<(), AppError> {
        match e {
            AppError::Invalid(fields) => {
                self.errors.extend(fields);
                Ok(())
            }
            other => Err(other),
        }
    }
}

/// A file of an upload form.
pub struct UploadedFile {
    /// The form field it came in.
    pub field: String,
    /// The name the browser gave, without any folder (`..\..\x.pdf` → `x.pdf`), at most
    /// 200 characters; "document" when empty.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What an upload form sent: its text fields (in order, repeatable) and its files.
#[derive(Default)]
pub struct Upload {
    pub fields: FormPairs,
    pub files: Vec<UploadedFile>,
}

/// Why an upload was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// A file of this field went over the limit (nothing else was kept).
    TooLarge(String),
    Malformed,
}

/// Keeps the last path component of a browser-given file name, printable, bounded.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        "document".to_owned()
    } else {
        cleaned
    }
}

impl CsrfMultipart {
    /// Reads every part: text fields, and files of at most `max_file` bytes each and
    /// `max_total` in all. Empty file inputs are skipped.
    pub async fn collect(self, max_file: usize, max_total: usize) -> Result<Upload, UploadError> {
        let mut form = self.0;
        let mut upload = Upload::default();
        let mut total = 0usize;
        while let Some(mut field) = form
            .next_field()
            .await
            .map_err(|_| UploadError::Malformed)?
        {
            let name = field.name().unwrap_or_default().to_owned();
            match field.file_name().map(clean_file_name) {
                Some(file_name) => {
                    let mut bytes = Vec::new();
                    while let Some(chunk) =
                        field.chunk().await.map_err(|_| UploadError::Malformed)?
                    {
                        total += chunk.len();
                        if bytes.len() + chunk.len() > max_file || total > max_total {
                            return Err(UploadError::TooLarge(name));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    if !bytes.is_empty() {
                        upload.files.push(UploadedFile {
                            field: name,
                            name: file_name,
                            bytes,
                        });
                    }
                }
                None => {
                    let text = field.text().await.map_err(|_| UploadError::Malformed)?;
                    total += text.len();
                    if total > max_total {
                        return Err(UploadError::TooLarge(name));
                    }
                    upload.fields.0.push((name, text));
                }
            }
        }
        Ok(upload)
    }
}
