//! The registry's HTTP service (axum): applications, agency answers, the licence lifecycle and
//! public status.
//!
//! [`app`] builds the router from an [`AppState`], so handler tests drive it with
//! `tower::ServiceExt::oneshot` and the binary serves the same router. Every route is listed once,
//! in the table of [`routes`], which yields the router, each route's roles and
//! `/v1/openapi.json`.

pub mod alerts;
pub mod applications;
pub mod auth;
pub mod boot;
pub mod compliance;
pub mod config;
pub mod demo;
pub mod edge;
pub mod error;
pub mod events;
pub mod extract;
pub mod feed;
pub mod follow;
pub mod head_deadline;
pub mod licences;
pub mod limits;
pub mod log_http;
pub mod metrics;
pub mod officer;
pub mod openapi;
pub mod page;
pub mod public_reason;
pub mod ratelimit;
pub mod registry;
pub mod reports;
pub mod routes;
pub mod server;
pub use crate::schemas;
pub mod portraits;
pub mod stats;
pub mod status;
pub mod verify;
pub mod wallet;
pub mod witnessing;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use routes::{Access, Route};

use crate::agency::AgencyClient;
use crate::clock::Clock;
use crate::keys::{CredentialSigner, TrustList};
use crate::ledger::{Entry, Ledger, LedgerError};
use crate::registry::commands::Observer;
use crate::registry::{Allocators, Registry, RegistryParts};
use crate::rules::Policy;

pub use auth::{Caller, Clients, Role, RoleKind};
pub use error::ApiError;
use registry::View;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body of the bulk endpoints (up to 1,000 orders or credentials).
pub const MAX_BULK_BODY_BYTES: usize = 1024 * 1024;

/// Everything a handler needs. Cloning is one reference count: every extractor and middleware
/// layer of every request takes a copy.
#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

impl std::ops::Deref for AppState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct StateInner {
    pub ledger: Ledger,
    /// The persisted view, read straight from the ledger's store.
    pub view: View,
    /// Every change to the registry goes through its commands.
    pub registry: Registry,
    pub clients: Arc<Clients>,
    /// The credential signer and trust list, reloaded while the service runs.
    pub keys: Arc<crate::live_keys::LiveKeys>,
    pub policy: Arc<Policy>,
    pub agencies: Arc<BTreeMap<String, String>>,
    pub agency_client: AgencyClient,
    pub clock: Arc<dyn Clock>,
    pub public_base_url: Arc<str>,
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// A stricter limit for passenger reports.
    pub report_limiter: Arc<ratelimit::RateLimiter>,
    /// Wallet binding attempts per client address (activation codes are guessed here, if at all).
    pub bind_limiter: Arc<ratelimit::RateLimiter>,
    /// Portrait fetches per client address.
    pub portrait_limiter: Arc<ratelimit::RateLimiter>,
    /// Holders' portraits, beside the ledger; none when the registry runs without a data dir.
    pub portraits: Option<Arc<portraits::PortraitStore>>,
    /// Status changes, pushed to `/v1/events/stream` subscribers as they are logged.
    pub feed: tokio::sync::broadcast::Sender<feed::FeedEvent>,
    /// Signed status lists, rebuilt after any status change or when older than their ttl.
    pub status_cache: Arc<std::sync::Mutex<status::Cache>>,
    /// The latest checkpoint with its witnesses' cosignatures.
    pub cosigned: witnessing::SharedCosigned,
    /// Double-compliance counts per platform since the service started.
    pub compliance: Arc<std::sync::Mutex<BTreeMap<String, compliance::Rate>>>,
    /// Counters served at `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Signed-in officers of the HTML pages.
    pub sessions: Arc<officer::Sessions>,
    /// Officer sign-in attempts per client address.
    pub login_limiter: Arc<ratelimit::RateLimiter>,
    /// Connection, timeout and stream limits.
    pub limits: limits::Limits,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub proxies: limits::TrustedProxies,
    /// Open event streams per caller, capped at `limits.max_streams_per_token`.
    pub streams: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
    /// Flips to true at shutdown: event streams end so the service can stop.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

/// What it takes to build the state.
pub struct StateParts {
    pub ledger: Ledger,
    pub clients: Clients,
    pub signer: CredentialSigner,
    pub trust: TrustList,
    pub policy: Policy,
    pub agencies: BTreeMap<String, String>,
    pub agency_client: AgencyClient,
    pub clock: Arc<dyn Clock>,
    pub public_base_url: String,
    /// Public lookups per second per client address (bursts of twice that); `None` for the
    /// default, `Some(0.0)` for no limit (loopback load tests of the handlers themselves).
    pub public_requests_per_second: Option<f64>,
    /// Connection, timeout, stream and proxy limits.
    pub limits: limits::Limits,
    /// Where the keys live, when they are reloaded while the service runs (`None`: the
    /// `signer` and `trust` above, fixed).
    pub keys_dir: Option<std::path::PathBuf>,
    /// Where holders' portraits are kept (0700); `None`: applications with a portrait are
    /// refused as unavailable.
    pub portraits_dir: Option<std::path::PathBuf>,
}

impl AppState {
    /// Builds the state over a ledger opened with the registry's view
    /// ([`crate::registry::open_ledger`]).
    pub fn new(parts: StateParts) -> Result<Self, LedgerError> {
        let view = View::new(&parts.ledger).map_err(|e| LedgerError::Storage(e.to_string()))?;
        let ids = Allocators::load(&view).map_err(|e| LedgerError::Storage(e.to_string()))?;
        let ids = Arc::new(ids);
        let keys = Arc::new(match &parts.keys_dir {
            Some(dir) => crate::live_keys::LiveKeys::load(dir.clone())
                .map_err(|e| LedgerError::Storage(e.to_string()))?,
            None => crate::live_keys::LiveKeys::fixed(parts.signer, parts.trust),
        });
        let portraits = match &parts.portraits_dir {
            Some(dir) => Some(Arc::new(
                portraits::PortraitStore::open(dir)
                    .map_err(|e| LedgerError::Storage(format!("portraits: {e}")))?,
            )),
            None => None,
        };
        let policy = Arc::new(parts.policy);
        let feed = tokio::sync::broadcast::channel(feed::STREAM_BUFFER).0;
        let status_cache: Arc<std::sync::Mutex<status::Cache>> = Arc::default();
        let metrics = Arc::new(metrics::Metrics::for_routes(
            routes::table().iter().map(|route| route.path),
        ));
        let registry = Registry::new(RegistryParts {
            ledger: parts.ledger.clone(),
            view: view.clone(),
            ids: ids.clone(),
            keys: keys.clone(),
            clock: parts.clock.clone(),
            policy: policy.clone(),
            observer: observer(
                feed.clone(),
                status_cache.clone(),
                metrics.clone(),
                // Entries of a shared ledger reach the observer twice (appended here, then
                // followed): announce each once.
                parts
                    .ledger
                    .is_shared()
                    .then(|| Arc::new(std::sync::Mutex::new(follow::RecentSeqs::default()))),
            ),
        });
        Ok(AppState(Arc::new(StateInner {
            ledger: parts.ledger,
            view,
            registry,
            clients: Arc::new(parts.clients),
            keys,
            policy,
            agencies: Arc::new(parts.agencies),
            agency_client: parts.agency_client,
            clock: parts.clock,
            public_base_url: Arc::from(parts.public_base_url.as_str()),
            limiter: Arc::new(match parts.public_requests_per_second {
                None => ratelimit::RateLimiter::default(),
                Some(rate) => ratelimit::RateLimiter::configured(rate),
            }),
            report_limiter: Arc::new(ratelimit::RateLimiter::new(
                page::REPORT_BURST,
                page::REPORTS_PER_MINUTE / 60.0,
            )),
            bind_limiter: Arc::new(ratelimit::RateLimiter::new(
                wallet::BIND_BURST,
                wallet::BINDS_PER_MINUTE / 60.0,
            )),
            portrait_limiter: Arc::new(ratelimit::RateLimiter::new(
                portraits::PORTRAIT_BURST,
                portraits::PORTRAITS_PER_MINUTE / 60.0,
            )),
            portraits,
            feed,
            compliance: Arc::default(),
            metrics,
            sessions: Arc::default(),
            login_limiter: Arc::new(ratelimit::RateLimiter::new(
                officer::LOGIN_BURST,
                officer::LOGINS_PER_MINUTE / 60.0,
            )),
            cosigned: Arc::default(),
            status_cache,
            proxies: parts.limits.proxies(),
            limits: parts.limits,
            streams: Arc::default(),
            shutdown: tokio::sync::watch::Sender::new(false),
        })))
    }

    /// The persisted view.
    pub fn read_view(&self) -> &View {
        &self.view
    }
}

/// What the service does once an append is durable: status changes go to the live stream, and
/// the signed status lists are rebuilt on their next request.
fn observer(
    feed: tokio::sync::broadcast::Sender<feed::FeedEvent>,
    status_cache: Arc<std::sync::Mutex<status::Cache>>,
    metrics: Arc<metrics::Metrics>,
    recent: Option<Arc<std::sync::Mutex<follow::RecentSeqs>>>,
) -> Observer {
    Arc::new(move |all: &[Entry]| {
        let fresh: Vec<Entry>;
        let entries = match &recent {
            Some(recent) => {
                let mut recent = recent.lock().unwrap_or_else(|p| p.into_inner());
                fresh = all
                    .iter()
                    .filter(|e| recent.first_time(e.seq.0))
                    .cloned()
                    .collect();
                fresh.as_slice()
            }
            None => all,
        };
        metrics.appends.fetch_add(
            u64::try_from(entries.len()).unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        let changes: Vec<_> = entries.iter().flat_map(feed::changes).collect();
        if !changes.is_empty() {
            let mut cache = status_cache.lock().unwrap_or_else(|p| p.into_inner());
            *cache = Default::default();
        }
        for change in changes {
            // No subscribers is not an error.
            let _ = feed.send(change);
        }
    })
}

/// `GET /healthz`: 200 while the ledger accepts appends; 503 once a flush failed after a
/// commit, until the service is restarted and the ledger audited.
async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.ledger.healthy() {
        "ok".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": "ledger_stopped",
                "detail": "a flush failed after a commit; restart the service and run `licreg log audit`",
            })),
        )
            .into_response()
    }
}

/// The router with every route, limit and header.
pub fn app(state: AppState) -> Router {
    routes::router(&state)
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(edge::EdgeLayer::new(state.clone()))
        .with_state(state)
}

/// Any path the table does not serve: a JSON 404 like every other error.
async fn no_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// The service's routes outside the officer pages (see [`routes`]).
fn route_table() -> Vec<Route> {
    use routes::Access::{Public, Roles};
    use routes::Method::{Get, Post};
    use RoleKind::{Agency, Officer, Platform, Portal};
    const OFFICER: Access = Roles(&[Officer]);
    const PORTAL: Access = Roles(&[Portal]);
    let bulk = DefaultBodyLimit::max(MAX_BULK_BODY_BYTES);
    vec![
        Route::new(Get, "/", Public, "What this is, with links", get(licences::index)),
        Route::new(Get, "/v1/authorities", Public,
            "The licensing authorities' names by area code (a credential's iss)",
            get(licences::authorities)),
        Route::new(Get, "/v1/reasons", Public,
            "The public reason categories a status answer may carry, in Chinese and English",
            get(licences::reasons)),
        Route::new(Get, "/healthz", Public, "Liveness", get(health)),
        Route::new(Get, "/metrics", OFFICER,
            "Prometheus text: requests, latencies, ledger size, appends, agency calls, signatures",
            get(metrics::get)),
        Route::new(Get, "/v", Public,
            "Passenger verification page; the credential is in the URL fragment",
            get(page::verify_page)),
        Route::new(Get, "/V", Public,
            "The passenger verification page again, for wallet codes whose URL head is upper case (QR alphanumeric mode)",
            get(page::verify_page)),
        Route::new(Get, "/wallet", Public,
            "The driver's wallet: binds a licence to this phone and shows its dynamic QR code",
            get(wallet::page)),
        Route::new(Get, "/wallet/manifest.webmanifest", Public, "The wallet's web app manifest",
            get(wallet::manifest)),
        Route::new(Get, "/wallet/sw.js", Public, "The wallet's service worker (offline use)",
            get(wallet::worker)),
        Route::new(Get, "/wallet/icon.svg", Public, "The wallet's icon", get(wallet::icon)),
        Route::new(Post, "/v1/wallet/bind", Public,
            "Bind a phone's Ed25519 key with an activation code; answers the holder-bound credential (rate-limited)",
            post(wallet::bind)),
        Route::new(Get, "/v1/portraits/{number}", routes::Access::Presentation,
            "The holder's portrait, only with a fresh wallet code in the Licreg-Presentation header (rate-limited, each fetch logged)",
            get(portraits::portrait)),
        Route::new(Get, "/v1/plates/{plate}", Public,
            "Whether a valid vehicle transport certificate is held for a plate", get(page::plate)),
        Route::new(Post, "/v1/reports", Public,
            "A passenger report (plate, reason, optional contact), rate-limited", post(page::report)),
        Route::new(Get, "/v1/reports", OFFICER,
            "The report queue, newest first; ?status=open|confirmed|dismissed", get(reports::list)),
        Route::new(Post, "/v1/reports/{id}/review", OFFICER,
            "Confirm a report into a credit record (behaviour from the catalogue), or dismiss it",
            post(reports::review)),
        Route::new(Post, "/v1/credit-records/search", OFFICER,
            "Credit records against {\"subject\"} (citizen id or credit code, in the body, not the URL) and how long they bar",
            post(reports::records)),
        Route::new(Get, "/v1/stats", OFFICER,
            "Funnel per kind per day and month, processing p50/p90, overdue, licences by status, double compliance",
            get(stats::get)),
        Route::new(Get, "/v1/openapi.json", Public, "This OpenAPI document", get(openapi::document)),
        Route::new(Get, "/v1/keys", Public, "Trust list of credential keys", get(licences::trust_list)),
        Route::new(Get, "/v1/keys/signed", Public,
            "Trust list signed by the log key (COSE_Sign1, expires after 24 h)", get(licences::signed_trust_list)),
        Route::new(Get, "/checkpoint", Public,
            "The log's latest signed checkpoint (C2SP tlog-checkpoint)", get(log_http::checkpoint)),
        Route::new(Get, "/v1/log-key", Public,
            "The log's public key (C2SP signed-note verifier key)", get(log_http::log_key)),
        Route::new(Get, "/tile/{*path}", Public,
            "Merkle tiles (C2SP tlog-tiles); entry bundles only for agencies and officers",
            get(log_http::tile)),
        Route::new(Post, "/v1/applications", PORTAL,
            "Submit an application (formal review, then agency checks)",
            post(applications::submit)),
        Route::new(Get, "/v1/applications", OFFICER,
            "List applications; ?overdue=true for yellow and red items", get(applications::list)),
        Route::new(Get, "/v1/applications/{id}", Roles(&[Portal, Officer]),
            "An application with every step and reason", get(applications::show)),
        Route::new(Post, "/v1/agency-answers", Roles(&[Agency]),
            "An agency's late answer to a check", post(applications::agency_answer)),
        Route::new(Post, "/v1/alerts", Roles(&[Agency]),
            "An agency's alert within its mandate; the policy suspends, revokes or notifies; idempotent by (agency, alert_id)",
            post(alerts::alert)),
        Route::new(Get, "/v1/alerts", OFFICER,
            "Agency alerts, newest first; ?action=notice for those left to officers",
            get(alerts::list)),
        Route::new(Get, "/v1/alerts/refused", OFFICER,
            "Alerts refused as outside their agency's mandate, newest first",
            get(alerts::refused)),
        Route::new(Post, "/v1/verify", Roles(&[Platform, Agency, Officer]),
            "Up to 1,000 credentials or licence numbers; signatures batch-verified",
            post(verify::verify).layer(bulk)),
        Route::new(Post, "/v1/compliance/check", Roles(&[Platform, Officer]),
            "Double compliance of up to 1,000 orders at their time, with rates per platform",
            post(compliance::check).layer(bulk)),
        Route::new(Get, "/v1/status-lists/{kind}", Public,
            "Signed bitstring status list of a kind (driver, vehicle, platform)", get(status::list)),
        Route::new(Get, "/v1/events", Roles(feed::FEED_ROLES),
            "Status changes read from the ledger; ?after=N pages", get(feed::page)),
        Route::new(Get, "/v1/events/stream", Roles(feed::FEED_ROLES),
            "Status changes as server-sent events, pushed as they are logged", get(feed::stream)),
        Route::new(Get, "/v1/licences/{number}", Roles(&[Agency, Officer]),
            "Full record, credential and tlog-proof receipt; every access is logged",
            get(licences::full_record)),
        Route::new(Get, "/v1/licences/{number}/card.svg", Roles(&[Portal, Officer]),
            "The printable A6 in-car card (SVG): public facts and the static QR code",
            get(licences::card)),
        Route::new(Get, "/v1/licences/{number}/status", Public,
            "Status of a licence: valid, suspended, revoked, expired or superseded",
            get(licences::status)),
        Route::new(Post, "/v1/licences/{number}/renew", PORTAL,
            "Renew (from 90 days before expiry); the checks run again", post(licences::renew)),
        Route::new(Post, "/v1/licences/{number}/reissue", PORTAL,
            "Reissue a lost or damaged licence; the old credential is superseded",
            post(licences::reissue)),
        Route::new(Post, "/v1/licences/{number}/wallet/activation", Roles(&[Portal, Officer]),
            "A one-time activation code (and its QR) for the holder's wallet; driver licences only",
            post(wallet::activation)),
        Route::new(Post, "/v1/licences/{number}/wallet/rebind", Roles(&[Portal, Officer]),
            "A lost phone: revoke the wallet binding and make a new activation code",
            post(wallet::rebind)),
        Route::new(Post, "/v1/licences/{number}/rebind", PORTAL,
            "Bind a vehicle to another platform", licences::status_route("rebind")),
        Route::new(Post, "/v1/licences/{number}/cancel", PORTAL,
            "Cancel at the holder's request", licences::status_route("cancel")),
        Route::new(Post, "/v1/licences/{number}/suspend", OFFICER, "Suspend, with a reason",
            licences::status_route("suspend")),
        Route::new(Post, "/v1/licences/{number}/reinstate", OFFICER,
            "Reinstate a suspended licence", licences::status_route("reinstate")),
        Route::new(Post, "/v1/licences/{number}/revoke", OFFICER, "Revoke, with a reason",
            licences::status_route("revoke")),
    ]
}
