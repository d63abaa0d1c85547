//! Files sent back to people: a stored blob streamed with its type and name.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bouquet_store::blobs::Blobs;

use crate::error::WebResult;

/// How the browser should treat the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Shown in the browser when it can (a PDF opens in a tab).
    Inline,
    Attachment,
}

/// A header value naming the file: ASCII fallback plus the UTF-8 name (RFC 6266).
fn content_disposition(d: Disposition, file_name: &str) -> Option<HeaderValue> {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url::form_urlencoded::byte_serialize(file_name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let kind = match d {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .ok()
}

/// Streams the blob `sha256` of `owner`; its hash is checked as it goes (a tampered file
/// ends the download with an error rather than delivering altered bytes silently).
pub async fn blob(
    blobs: &Blobs,
    owner: &str,
    sha256: &str,
    content_type: &'static str,
    file_name: &str,
    disposition: Disposition,
) -> WebResult<Response> {
    let stream = blobs.open(owner, sha256).await?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = content_disposition(disposition, file_name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_survive_accents_and_quotes() {
        let v = content_disposition(Disposition::Attachment, "Charte \"Essé\".pdf").unwrap();
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"Charte__Ess__.pdf\"; filename*=UTF-8''Charte%20%22Ess%C3%A9%22.pdf"
        );
    }
}
