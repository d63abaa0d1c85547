//! Mentions légales and the déclaration d'accessibilité.

use askama::Template;
use axum::response::Response;
use bouquet_webkit::layout::Chrome;
use bouquet_webkit::{PageCtx, WebResult, render};

#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage {
    chrome: Chrome,
    operator: String,
    url: String,
}

pub async fn legal(page: PageCtx) -> WebResult<Response> {
    render(&LegalPage {
        chrome: page.chrome("Mentions légales", None),
        operator: page.state.platform.settings.operator_name.clone(),
        url: page.state.platform.settings.public_url.to_string(),
    })
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct AccessibilityPage {
    chrome: Chrome,
    operator: String,
    url: String,
}

pub async fn accessibility(page: PageCtx) -> WebResult<Response> {
    render(&AccessibilityPage {
        chrome: page.chrome("Déclaration d'accessibilité", None),
        operator: page.state.platform.settings.operator_name.clone(),
        url: page.state.platform.settings.public_url.to_string(),
    })
}
