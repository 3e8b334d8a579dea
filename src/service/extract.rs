//! Path and query extractors whose rejections are the API's JSON error, naming the parameter.
//!
//! axum's own `Path` and `Query` answer a rejection as plain text; a client of a JSON API
//! should get `{"error", "detail", "field"}` for a percent-encoded byte that is not UTF-8, a
//! number that does not parse, or a missing query parameter, like for every other mistake.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{cut, ApiError};

/// Longest parameter name or value echoed back in an error, in characters.
pub const MAX_ECHO_CHARS: usize = 64;

/// `Path<T>` with JSON rejections.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                // A lone parameter's error does not name it; the raw parameters do.
                let only_key = match RawPathParams::from_request_parts(parts, state).await {
                    Ok(raw) if raw.iter().count() == 1 => {
                        raw.iter().next().map(|(k, _)| k.to_string())
                    }
                    _ => None,
                };
                Err(path_error(rejection, only_key))
            }
        }
    }
}

/// `Query<T>` with JSON rejections.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection, only_key: Option<String>) -> ApiError {
    use axum::extract::path::ErrorKind as K;
    let PathRejection::FailedToDeserializePathParams(e) = rejection else {
        return ApiError::bad("path", "the path does not decode", None);
    };
    match e.into_kind() {
        K::InvalidUtf8InPathParam { key } => ApiError::bad(
            "utf8",
            "a path parameter is not valid UTF-8 after percent-decoding",
            Some(&cut(&key, MAX_ECHO_CHARS)),
        ),
        K::ParseErrorAtKey {
            key, expected_type, ..
        } => {
            let key = cut(&key, MAX_ECHO_CHARS);
            ApiError::bad(
                "path",
                format!("{key} must be {}", short_type(expected_type)),
                Some(&key),
            )
        }
        K::ParseError { expected_type, .. } | K::ParseErrorAtIndex { expected_type, .. } => {
            let key = only_key.map(|k| cut(&k, MAX_ECHO_CHARS));
            let name = key.as_deref().unwrap_or("a path parameter");
            ApiError::bad(
                "path",
                format!("{name} must be {}", short_type(expected_type)),
                key.as_deref(),
            )
        }
        _ => ApiError::bad("path", "the path does not decode", None),
    }
}

/// `u64` for `core::primitive::u64`, and so on.
fn short_type(name: &str) -> &str {
    match name.rsplit("::").next() {
        Some("u64" | "u32" | "usize") => "a whole number",
        Some("bool") => "true or false",
        Some(other) => other,
        None => name,
    }
}

fn query_error(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    // serde names a missing field as "missing field `subject`"; other errors carry no key.
    let field = text
        .split("missing field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(|f| cut(f, MAX_ECHO_CHARS));
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text)
        .to_string();
    ApiError::bad("query", cut(&detail, MAX_ECHO_CHARS * 2), field.as_deref())
}
