//! The one error type every handler returns, rendered as `{"error", "detail", "field"}` JSON.
//!
//! Internal failures are logged with their cause and answered with a generic 500 body, so storage
//! paths, key errors and the like never reach a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::model::FieldError;

/// An error answer of the HTTP API.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed; names the field where it can.
    BadRequest {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    /// 401: no or unknown bearer token.
    Unauthenticated,
    /// 403: the caller's role may not use this endpoint.
    Forbidden(&'static str),
    /// 403: the capability presented (a wallet's dynamic code) does not open this resource.
    NotAllowed(String),
    /// 403: the agency's mandate does not cover the request (logged as a refused attempt).
    OutsideMandate(crate::rules::MandateRefusal),
    /// 404: no such resource.
    NotFound(String),
    /// 409: the request conflicts with the resource's state.
    Conflict(String),
    /// The registry refused the command in log order: 409, or 404 when the subject is gone.
    Refused(crate::registry::Refusal),
    /// 413: body over the size limit.
    TooLarge(usize),
    /// 422: the body is well-formed but the data is invalid; every problem listed.
    Invalid(Vec<FieldError>),
    /// 429: too many requests from this client.
    RateLimited,
    /// 503: the registry cannot do this now (no active signing key); nothing was logged.
    Unavailable(String),
    /// 500: logged here, never detailed to the client.
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<&'a [FieldError]>,
}

impl ApiError {
    pub fn bad(code: &'static str, detail: impl Into<String>, field: Option<&str>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
            field: field.map(str::to_string),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }
}

impl From<crate::registry::Refusal> for ApiError {
    fn from(refusal: crate::registry::Refusal) -> Self {
        ApiError::Refused(refusal)
    }
}

impl From<crate::registry::CommandError> for ApiError {
    fn from(e: crate::registry::CommandError) -> Self {
        use crate::registry::CommandError as E;
        match e {
            E::Invalid {
                field,
                rule,
                message,
            } => ApiError::bad(rule, message, Some(field)),
            E::Refused(refusal) => ApiError::Refused(refusal),
            E::OutsideMandate(refusal) => ApiError::OutsideMandate(refusal),
            E::Unavailable(why) => ApiError::Unavailable(why),
            E::Storage(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<crate::registry::ViewError> for ApiError {
    fn from(e: crate::registry::ViewError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadRequest {
                code,
                detail,
                field,
            } => (
                StatusCode::BAD_REQUEST,
                Body {
                    error: code,
                    detail: detail.clone(),
                    field: field.clone(),
                    problems: None,
                },
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                simple("unauthenticated", "a valid bearer token is required"),
            ),
            ApiError::Forbidden(roles) => (
                StatusCode::FORBIDDEN,
                simple("forbidden", format!("this endpoint accepts: {roles}")),
            ),
            ApiError::NotAllowed(why) => (StatusCode::FORBIDDEN, simple("not_allowed", why)),
            ApiError::OutsideMandate(refusal) => (
                StatusCode::FORBIDDEN,
                Body {
                    error: "outside_mandate",
                    detail: refusal.message.clone(),
                    field: Some(
                        match refusal.rule {
                            crate::rules::MandateRule::WrongSubject => "subject",
                            _ => "type",
                        }
                        .to_string(),
                    ),
                    problems: None,
                },
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, simple("not_found", what.clone())),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, simple("conflict", why.clone())),
            ApiError::Refused(refusal) => {
                let status = match refusal.code() {
                    "not_found" => StatusCode::NOT_FOUND,
                    "invalid" => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::CONFLICT,
                };
                (status, simple(refusal.code(), refusal.to_string()))
            }
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                simple(
                    "too_large",
                    format!("the body is over the {limit}-byte limit"),
                ),
            ),
            ApiError::Invalid(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Body {
                    error: "invalid",
                    detail: format!("{} problem(s) with the data", problems.len()),
                    field: problems.first().map(|p| p.field.clone()),
                    problems: Some(problems),
                },
            ),
            ApiError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                simple("rate_limited", "too many requests; slow down"),
            ),
            ApiError::Unavailable(why) => {
                tracing::warn!(%why, "refused: unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    simple("unavailable", why.clone()),
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    simple("internal", "the registry could not complete the request"),
                )
            }
        };
        let body = Body {
            detail: cut(&body.detail, MAX_DETAIL_CHARS),
            field: body.field.map(|f| cut(&f, super::extract::MAX_ECHO_CHARS)),
            ..body
        };
        (status, Json(body)).into_response()
    }
}

/// Longest `detail` an error carries, in characters: input echoed in it is cut here.
pub const MAX_DETAIL_CHARS: usize = 256;

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

fn simple(error: &'static str, detail: impl Into<String>) -> Body<'static> {
    Body {
        error,
        detail: detail.into(),
        field: None,
        problems: None,
    }
}

/// Turns axum's JSON rejections into our error shape, naming the field where serde says it.
pub fn json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as R;
    match rejection {
        R::JsonDataError(e) => {
            let detail = e.body_text();
            let field = detail
                .split("at line")
                .next()
                .and_then(|s| s.rsplit_once(": ").map(|(path, _)| path.trim().to_string()))
                .filter(|p| !p.is_empty() && !p.contains(' '))
                .or_else(|| missing_field(&detail));
            ApiError::BadRequest {
                code: "wrong_type",
                detail,
                field,
            }
        }
        R::JsonSyntaxError(e) => ApiError::bad("malformed_json", e.body_text(), None),
        R::MissingJsonContentType(_) => {
            ApiError::bad("content_type", "send the body as application/json", None)
        }
        R::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(super::MAX_BODY_BYTES)
        }
        other => ApiError::bad("bad_body", other.body_text(), None),
    }
}

/// The field serde names in "missing field `name`", so a missing field is reported like any other.
fn missing_field(detail: &str) -> Option<String> {
    let (_, rest) = detail.split_once("missing field `")?;
    let (name, _) = rest.split_once('`')?;
    Some(cut(name, 64))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::BadRequest { code, detail, .. } => write!(f, "{code}: {detail}"),
            ApiError::Unauthenticated => f.write_str("unauthenticated"),
            ApiError::Forbidden(roles) => write!(f, "forbidden (accepts {roles})"),
            ApiError::NotAllowed(why) => write!(f, "not allowed: {why}"),
            ApiError::OutsideMandate(refusal) => {
                write!(f, "outside the mandate: {}", refusal.message)
            }
            ApiError::Unavailable(why) => write!(f, "unavailable: {why}"),
            ApiError::NotFound(what) => write!(f, "not found: {what}"),
            ApiError::Conflict(why) => write!(f, "conflict: {why}"),
            ApiError::Refused(refusal) => write!(f, "refused: {refusal}"),
            ApiError::TooLarge(limit) => write!(f, "body over {limit} bytes"),
            ApiError::Invalid(problems) => write!(f, "{} invalid field(s)", problems.len()),
            ApiError::RateLimited => f.write_str("rate limited"),
            ApiError::Internal(cause) => write!(f, "internal: {cause}"),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// What a person may be shown on a page: the detail of a client error, never an internal
    /// cause (which is logged instead).
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "the registry could not complete the request".into()
            }
            ApiError::Invalid(problems) => problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

/// Largest error body the contract layer reads back to rewrite, in bytes.
const MAX_REWRITTEN_BODY_BYTES: usize = 4096;

/// The machine code of an error status the handlers did not render themselves.
fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "content_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Whether `path` is one of the HTML pages, whose errors are HTML pages too.
pub(crate) fn is_html_route(path: &str) -> bool {
    path == "/" || path == "/v" || path == "/officer" || path.starts_with("/officer/")
}

/// Every 4xx and 5xx leaves as the documented JSON error (or, for the HTML pages, an HTML
/// page), whoever produced it: axum's own 405 (its `Allow` header kept), a rejection of an
/// extractor, a timeout. Server errors never show their cause. `html`: the request was for a
/// page ([`is_html_route`]). Applied to every response by [`super::edge`].
pub async fn conform(response: Response, html: bool) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let rendered =
        content_type.starts_with("application/json") || content_type.starts_with("text/html");
    if rendered {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRITTEN_BODY_BYTES).await {
        Ok(bytes) if !status.is_server_error() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        text => cut(text, MAX_DETAIL_CHARS),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let new = if html {
        let page = format!(
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{code} {reason}</title>\
             <body><h1>{code} {reason}</h1><p>{detail}</p><p><a href=\"/\">licreg</a></p></body></html>",
            code = status.as_u16(),
            reason = status.canonical_reason().unwrap_or("error"),
            detail = crate::service::officer::escape(&detail),
        );
        axum::response::Html(page).into_response()
    } else {
        Json(simple(status_code_name(status), detail)).into_response()
    };
    let (new_parts, new_body) = new.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}
