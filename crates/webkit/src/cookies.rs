//! Reading and writing the few cookies Bouquet uses.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

pub const SESSION: &str = "bouquet_session";
pub const CSRF: &str = "bouquet_csrf";
pub const FLASH: &str = "bouquet_flash";

/// The value of cookie `name` in a `Cookie` header.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse_encoded(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure behind HTTPS.
pub fn set(
    name: &str,
    value: &str,
    secure: bool,
    max_age_secs: Option<i64>,
) -> Option<HeaderValue> {
    let mut c = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    if let Some(secs) = max_age_secs {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    HeaderValue::from_str(&c.build().encoded().to_string()).ok()
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn clear(name: &str, secure: bool) -> Option<HeaderValue> {
    set(name, "", secure, Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_and_set_safely() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bouquet_session=xyz; b=2"),
        );
        assert_eq!(get(&h, SESSION).as_deref(), Some("xyz"));
        assert_eq!(get(&h, "absent"), None);
        let v = set(SESSION, "abc", true, None).unwrap();
        let s = v.to_str().unwrap();
        assert!(
            s.contains("HttpOnly")
                && s.contains("SameSite=Lax")
                && s.contains("Secure")
                && s.contains("Path=/")
        );
        assert!(
            !set(SESSION, "abc", false, None)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Secure")
        );
        assert!(
            clear(FLASH, false)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}
