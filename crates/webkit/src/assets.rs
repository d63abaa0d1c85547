//! The UI assets, built from `ui/` and embedded in the binary.
//!
//! Nothing is fetched from a CDN: the CSS, the script and the icon are compiled in. Their
//! URLs carry a fingerprint of their content, so browsers may cache them for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub struct Asset {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

pub static ASSETS: &[Asset] = &[
    Asset {
        name: "bouquet.css",
        bytes: include_bytes!("../../../ui/dist/bouquet.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "bouquet.js",
        bytes: include_bytes!("../../../ui/dist/bouquet.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "favicon.svg",
        bytes: include_bytes!("../../../ui/dist/favicon.svg"),
        content_type: "image/svg+xml",
    },
];

/// A short hash of every asset: changes whenever one does.
pub fn fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| {
        let mut h = Sha256::new();
        for a in ASSETS {
            h.update(a.name.as_bytes());
            h.update(a.bytes);
        }
        hex::encode(h.finalize())[..12].to_owned()
    })
}

/// `/assets/{name}?v={fingerprint}`
pub fn href(name: &str) -> String {
    format!("/assets/{name}?v={}", fingerprint())
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => {
            let mut response = asset.bytes.into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
