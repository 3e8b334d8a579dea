//! The licensing officers' pages: sign-in, the application queue with deadline lights, the report
//! queue, licence lookup with the full ledger history, lifecycle actions and the dashboard.
//!
//! Officers sign in once with their token. The token is checked like any bearer token, then
//! exchanged for a random session id kept only as a SHA-256 hash, sent back in an `HttpOnly`,
//! `SameSite=Strict` cookie scoped to `/officer`, and dropped after [`SESSION_TTL_MS`]. Every form
//! also carries a per-session CSRF value compared in constant time, so a page on another site
//! cannot act in an officer's name even where `SameSite` is not honoured.

mod dashboard;
pub(crate) mod html;
mod lookup;
mod pages;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::auth::{generate_token, Role};
use super::ratelimit::ClientAddr;
use super::routes::Route;
use super::AppState;

pub use html::escape;

/// How long a sign-in lasts, in milliseconds (one working day).
pub const SESSION_TTL_MS: u64 = 8 * 3_600_000;
/// Most live sessions; sign-in is refused beyond this rather than growing without bound.
pub const MAX_SESSIONS: usize = 10_000;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "licreg_session";
/// Sign-in attempts a client address may make at once, and per minute after that.
pub const LOGIN_BURST: f64 = 10.0;
pub const LOGINS_PER_MINUTE: f64 = 10.0;

struct Session {
    role: Role,
    expires_ms: u64,
}

/// Live officer sessions, by the SHA-256 of the session id.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session; `None` when the table is full of live sessions.
    fn start(&self, role: Role, now_ms: u64) -> Option<String> {
        let mut live = self.lock();
        if live.len() >= MAX_SESSIONS {
            live.retain(|_, s| s.expires_ms > now_ms);
            if live.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = generate_token();
        live.insert(
            Sha256::digest(id.as_bytes()).into(),
            Session {
                role,
                expires_ms: now_ms + SESSION_TTL_MS,
            },
        );
        Some(id)
    }

    fn find(&self, id: &str, now_ms: u64) -> Option<Role> {
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        let mut live = self.lock();
        match live.get(&key) {
            Some(session) if session.expires_ms > now_ms => Some(session.role.clone()),
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }

    fn end(&self, id: &str) {
        let key: [u8; 32] = Sha256::digest(id.as_bytes()).into();
        self.lock().remove(&key);
    }
}

/// The CSRF value of a session: derived from the session id, so nothing more is stored.
fn csrf_of(session_id: &str) -> String {
    let digest = Sha256::digest(format!("licreg-csrf:{session_id}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A signed-in officer, from the session cookie.
pub struct Officer {
    /// The officer's role, which the ledger records as the actor of what they do.
    pub role: Role,
    pub csrf: String,
    session_id: String,
}

impl Officer {
    /// Whether a submitted form carries this session's CSRF value.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// The answer to a form without the right CSRF value.
    pub fn csrf_refused(&self) -> Response {
        (
                StatusCode::FORBIDDEN,
                Html(html::page(
                    "请求无效",
                    "",
                    Some(&self.csrf),
                    "<p class=\"flash error\">表单已过期，请返回重试。The form expired; go back and try again.</p>",
                )),
            )
                .into_response()
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty() && v.len() <= super::auth::MAX_TOKEN_BYTES)
}

/// Whether the request carries a live officer session (so it is not a public request).
pub fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    session_cookie(headers).is_some_and(|id| state.sessions.find(&id, now_ms).is_some())
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
        let session_id = session_cookie(&parts.headers);
        let role = session_id
            .as_deref()
            .and_then(|id| state.sessions.find(id, now_ms));
        match (session_id, role) {
            (Some(session_id), Some(role)) => Ok(Officer {
                role,
                csrf: csrf_of(&session_id),
                session_id,
            }),
            _ => Err(Redirect::to("/officer/login").into_response()),
        }
    }
}

/// The officer pages' routes.
pub fn routes() -> Vec<Route> {
    use crate::service::routes::Access::{Public, Session};
    use crate::service::routes::Method::{Get, Post};
    vec![
        Route::new(
            Get,
            "/officer",
            Session,
            "Officer pages (HTML): application queue with deadline lights",
            get(pages::queue),
        ),
        Route::new(
            Get,
            "/officer/login",
            Public,
            "Officer sign-in form; POST the token to start a session",
            get(login_page),
        ),
        Route::new(
            Post,
            "/officer/login",
            Public,
            "Officer sign-in (form: token); sets the session cookie",
            post(login),
        ),
        Route::new(
            Post,
            "/officer/logout",
            Session,
            "Sign out (form: csrf)",
            post(logout),
        ),
        Route::new(
            Get,
            "/officer/applications/{id}",
            Session,
            "One application with every step and reason",
            get(pages::application),
        ),
        Route::new(
            Get,
            "/officer/reports",
            Session,
            "Report queue with confirm and dismiss forms",
            get(pages::reports),
        ),
        Route::new(
            Post,
            "/officer/reports/{id}",
            Session,
            "Confirm or dismiss a report (form: csrf, outcome, behaviour, note, citizen_id)",
            post(pages::review),
        ),
        Route::new(
            Get,
            "/officer/lookup",
            Session,
            "Licences by number, credit code or plate with the full ledger history and actions",
            get(lookup::lookup),
        ),
        Route::new(
            Post,
            "/officer/lookup",
            Session,
            "The same lookup with the query in the form (csrf, q): how a citizen ID is searched",
            post(lookup::lookup_form),
        ),
        Route::new(
            Post,
            "/officer/licences/{number}/{action}",
            Session,
            "Suspend, reinstate or revoke (form: csrf, reason)",
            post(lookup::action),
        ),
        Route::new(
            Get,
            "/officer/dashboard",
            Session,
            "Statistics as server-drawn SVG charts",
            get(dashboard::page),
        ),
    ]
}

fn login_form(message: Option<&str>) -> String {
    let flash = message
        .map(|m| format!("<p class=\"flash error\">{}</p>", escape(m)))
        .unwrap_or_default();
    html::page(
        "登录",
        "",
        None,
        &format!(
            "<h1>许可审批人员登录 Officer sign-in</h1>{flash}\
             <form method=\"post\" action=\"/officer/login\" id=\"login\">\
             <label>令牌 Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required size=\"50\"></label> \
             <button>登录 Sign in</button></form>\
             <p class=\"muted\">令牌由系统管理员发放；演示环境见 demo-tokens.json。Tokens come from the administrator; the demo writes them to demo-tokens.json.</p>"
        ),
    )
}

async fn login_page() -> Html<String> {
    Html(login_form(None))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !state.login_limiter.allow(client) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Html(login_form(Some(
                "尝试过于频繁，请稍后再试。Too many attempts; wait a minute.",
            ))),
        )
            .into_response();
    }
    let token = form
        .ok()
        .map(|Form(f)| f.token.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= super::auth::MAX_TOKEN_BYTES);
    let role = token
        .as_deref()
        .and_then(|t| state.clients.authenticate(t))
        .filter(Role::is_officer);
    let Some(role) = role else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form(Some(
                "令牌无效或不是审批人员令牌。The token is not an officer token.",
            ))),
        )
            .into_response();
    };
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    let Some(session) = state.sessions.start(role, now_ms) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(login_form(Some(
                "会话已满，请稍后再试。Too many sessions; try later.",
            ))),
        )
            .into_response();
    };
    let secure = if state.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/officer; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL_MS / 1000
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/officer")).into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    officer: Officer,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let presented = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !officer.csrf_ok(&presented) {
        return officer.csrf_refused();
    }
    state.sessions.end(&officer.session_id);
    let cookie = format!("{SESSION_COOKIE}=; Path=/officer; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/officer/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let id = sessions.start(Role::Officer, 1_000).unwrap();
        assert_eq!(sessions.find(&id, 2_000), Some(Role::Officer));
        assert_eq!(sessions.find(&id, 1_000 + SESSION_TTL_MS), None);
        let id = sessions.start(Role::Officer, 1_000).unwrap();
        sessions.end(&id);
        assert_eq!(sessions.find(&id, 2_000), None);
        assert_eq!(sessions.find("lr_forged", 2_000), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; licreg_session=lr_abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("lr_abc"));
        assert_ne!(csrf_of("lr_abc"), csrf_of("lr_abd"));
    }
}
