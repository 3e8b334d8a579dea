//! The registry's HTTP service (axum): applications, agency answers, the licence lifecycle and
//! public status.
//!
//! [`app`] builds the router from an [`AppState`], so handler tests drive it with
//! `tower::ServiceExt::oneshot` and the binary serves the same router. Every route is listed once
//! in [`ROUTES`], from which `/v1/openapi.json` is generated; a test keeps the two in step.

pub mod alerts;
pub mod applications;
pub mod auth;
pub mod boot;
pub mod compliance;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod feed;
pub mod licences;
pub mod log_http;
pub mod metrics;
pub mod officer;
pub mod openapi;
pub mod page;
pub mod ratelimit;
pub mod registry;
pub mod reports;
pub use crate::schemas;
pub mod stats;
pub mod status;
pub mod verify;
pub mod witnessing;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;

use crate::agency::AgencyClient;
use crate::clock::Clock;
use crate::keys::{CredentialSigner, TrustList};
use crate::ledger::{Appended, Entry, Ledger, LedgerError, NewEntry};
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

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Ledger,
    /// The persisted view, read straight from the ledger's store.
    pub view: View,
    /// Serials, application ids and status-list positions, seeded from the view.
    pub ids: Arc<Allocators>,
    /// Every change to the registry goes through its commands.
    pub registry: Registry,
    pub clients: Arc<Clients>,
    pub signer: Arc<CredentialSigner>,
    pub trust: Arc<TrustList>,
    pub policy: Arc<Policy>,
    pub agencies: Arc<BTreeMap<String, String>>,
    pub agency_client: AgencyClient,
    pub clock: Arc<dyn Clock>,
    pub public_base_url: Arc<str>,
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// A stricter limit for passenger reports.
    pub report_limiter: Arc<ratelimit::RateLimiter>,
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
}

impl AppState {
    /// Builds the state over a ledger opened with the registry's view
    /// ([`crate::registry::open_ledger`]).
    pub fn new(parts: StateParts) -> Result<Self, LedgerError> {
        let view = View::new(&parts.ledger).map_err(|e| LedgerError::Storage(e.to_string()))?;
        let ids = Allocators::load(&view).map_err(|e| LedgerError::Storage(e.to_string()))?;
        let ids = Arc::new(ids);
        let signer = Arc::new(parts.signer);
        let policy = Arc::new(parts.policy);
        let feed = tokio::sync::broadcast::channel(feed::STREAM_BUFFER).0;
        let status_cache: Arc<std::sync::Mutex<status::Cache>> = Arc::default();
        let metrics: Arc<metrics::Metrics> = Arc::default();
        let registry = Registry::new(RegistryParts {
            ledger: parts.ledger.clone(),
            view: view.clone(),
            ids: ids.clone(),
            signer: signer.clone(),
            clock: parts.clock.clone(),
            policy: policy.clone(),
            observer: observer(feed.clone(), status_cache.clone(), metrics.clone()),
        });
        Ok(AppState {
            ledger: parts.ledger,
            view,
            ids,
            registry,
            clients: Arc::new(parts.clients),
            signer,
            trust: Arc::new(parts.trust),
            policy,
            agencies: Arc::new(parts.agencies),
            agency_client: parts.agency_client,
            clock: parts.clock,
            public_base_url: Arc::from(parts.public_base_url.as_str()),
            limiter: Arc::new(ratelimit::RateLimiter::default()),
            report_limiter: Arc::new(ratelimit::RateLimiter::new(
                page::REPORT_BURST,
                page::REPORTS_PER_MINUTE / 60.0,
            )),
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
        })
    }

    /// The persisted view.
    pub fn read_view(&self) -> &View {
        &self.view
    }

    /// A fresh status-list index for a new credential of `kind`.
    pub fn next_status_index(&self, kind: crate::ids::LicenceKind) -> u64 {
        self.ids.next_status_index(kind)
    }

    /// Appends entries through the registry (decided again in log order by the writer).
    pub async fn record(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, ApiError> {
        Ok(self.registry.append(entries).await?)
    }
}

/// What the service does once an append is durable: status changes go to the live stream, and
/// the signed status lists are rebuilt on their next request.
fn observer(
    feed: tokio::sync::broadcast::Sender<feed::FeedEvent>,
    status_cache: Arc<std::sync::Mutex<status::Cache>>,
    metrics: Arc<metrics::Metrics>,
) -> Observer {
    Arc::new(move |entries: &[Entry]| {
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
    Router::new()
        .route("/", get(licences::index))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics::get))
        .route("/v", get(page::verify_page))
        .route("/v1/plates/{plate}", get(page::plate))
        .route("/v1/reports", post(page::report).get(reports::list))
        .route("/v1/reports/{id}/review", post(reports::review))
        .route("/v1/credit-records", get(reports::records))
        .route("/v1/stats", get(stats::get))
        .merge(officer::routes())
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/keys", get(licences::trust_list))
        .route("/checkpoint", get(log_http::checkpoint))
        .route("/v1/log-key", get(log_http::log_key))
        .route("/tile/{*path}", get(log_http::tile))
        .route(
            "/v1/applications",
            post(applications::submit).get(applications::list),
        )
        .route("/v1/applications/{id}", get(applications::show))
        .route("/v1/agency-answers", post(applications::agency_answer))
        .route("/v1/alerts", post(alerts::alert).get(alerts::list))
        .route(
            "/v1/verify",
            post(verify::verify).layer(DefaultBodyLimit::max(MAX_BULK_BODY_BYTES)),
        )
        .route(
            "/v1/compliance/check",
            post(compliance::check).layer(DefaultBodyLimit::max(MAX_BULK_BODY_BYTES)),
        )
        .route("/v1/status-lists/{kind}", get(status::list))
        .route("/v1/events", get(feed::page))
        .route("/v1/events/stream", get(feed::stream))
        .route("/v1/licences/{number}", get(licences::full_record))
        .route("/v1/licences/{number}/status", get(licences::status))
        .route("/v1/licences/{number}/{action}", post(licences::action))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit_public,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every route: method, path, roles, summary. `/v1/openapi.json` is generated from this.
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("get", "/", "public", "What this is, with links"),
    ("get", "/healthz", "public", "Liveness"),
    (
        "get",
        "/metrics",
        "officer",
        "Prometheus text: requests, latencies, ledger size, appends, agency calls, signatures",
    ),
    (
        "get",
        "/v",
        "public",
        "Passenger verification page; the credential is in the URL fragment",
    ),
    (
        "get",
        "/v1/plates/{plate}",
        "public",
        "Whether a valid vehicle transport certificate is held for a plate",
    ),
    (
        "post",
        "/v1/reports",
        "public",
        "A passenger report (plate, reason, optional contact), rate-limited",
    ),
    (
        "get",
        "/v1/reports",
        "officer",
        "The report queue, newest first; ?status=open|confirmed|dismissed",
    ),
    (
        "post",
        "/v1/reports/{id}/review",
        "officer",
        "Confirm a report into a credit record (behaviour from the catalogue), or dismiss it",
    ),
    (
        "get",
        "/v1/credit-records",
        "officer",
        "Credit records against ?subject= (citizen id or credit code) and how long they bar",
    ),
    (
        "get",
        "/v1/stats",
        "officer",
        "Funnel per kind per day and month, processing p50/p90, overdue, licences by status, double compliance",
    ),
    (
        "get",
        "/officer",
        "officer session",
        "Officer pages (HTML): application queue with deadline lights",
    ),
    (
        "get",
        "/officer/login",
        "public",
        "Officer sign-in form; POST the token to start a session",
    ),
    (
        "get",
        "/officer/reports",
        "officer session",
        "Report queue with confirm and dismiss forms",
    ),
    (
        "get",
        "/officer/lookup",
        "officer session",
        "Licences by number, ID or plate with the full ledger history and actions",
    ),
    (
        "get",
        "/officer/dashboard",
        "officer session",
        "Statistics as server-drawn SVG charts",
    ),
    ("get", "/v1/openapi.json", "public", "This OpenAPI document"),
    ("get", "/v1/keys", "public", "Trust list of credential keys"),
    (
        "get",
        "/checkpoint",
        "public",
        "The log's latest signed checkpoint (C2SP tlog-checkpoint)",
    ),
    (
        "get",
        "/tile/{path}",
        "public",
        "Merkle tiles and entry bundles (C2SP tlog-tiles)",
    ),
    (
        "post",
        "/v1/applications",
        "portal",
        "Submit an application (formal review, then agency checks)",
    ),
    (
        "get",
        "/v1/applications",
        "officer",
        "List applications; ?overdue=true for yellow and red items",
    ),
    (
        "get",
        "/v1/applications/{id}",
        "portal, officer",
        "An application with every step and reason",
    ),
    (
        "post",
        "/v1/alerts",
        "agency",
        "An agency's alert; the policy suspends, revokes or notifies; idempotent by alert_id",
    ),
    (
        "get",
        "/v1/log-key",
        "public",
        "The log's public key (C2SP signed-note verifier key)",
    ),
    (
        "get",
        "/v1/licences/{number}",
        "agency, officer",
        "Full record, credential and tlog-proof receipt; every access is logged",
    ),
    (
        "post",
        "/v1/verify",
        "platform, agency, officer",
        "Up to 1,000 credentials or licence numbers; signatures batch-verified",
    ),
    (
        "post",
        "/v1/compliance/check",
        "platform, officer",
        "Double compliance of up to 1,000 orders at their time, with rates per platform",
    ),
    (
        "get",
        "/v1/status-lists/{kind}",
        "public",
        "Signed bitstring status list of a kind (driver, vehicle, platform)",
    ),
    (
        "get",
        "/v1/events",
        "platform, agency, officer",
        "Status changes read from the ledger; ?after=N pages",
    ),
    (
        "get",
        "/v1/events/stream",
        "platform, agency, officer",
        "Status changes as server-sent events, pushed as they are logged",
    ),
    (
        "post",
        "/officer/login",
        "public",
        "Officer sign-in (form: token); sets the session cookie",
    ),
    (
        "post",
        "/officer/logout",
        "officer session",
        "Sign out (form: csrf)",
    ),
    (
        "get",
        "/officer/applications/{id}",
        "officer session",
        "One application with every step and reason",
    ),
    (
        "post",
        "/officer/reports/{id}",
        "officer session",
        "Confirm or dismiss a report (form: csrf, outcome, behaviour, note, citizen_id)",
    ),
    (
        "post",
        "/officer/licences/{number}/{action}",
        "officer session",
        "Suspend, reinstate or revoke (form: csrf, reason)",
    ),
    (
        "get",
        "/v1/alerts",
        "officer",
        "Agency alerts, newest first; ?action=notice for those left to officers",
    ),
    (
        "post",
        "/v1/agency-answers",
        "agency",
        "An agency's late answer to a check",
    ),
    (
        "get",
        "/v1/licences/{number}/status",
        "public",
        "Status of a licence: valid, suspended, revoked, expired or superseded",
    ),
    (
        "post",
        "/v1/licences/{number}/renew",
        "portal",
        "Renew (from 90 days before expiry); the checks run again",
    ),
    (
        "post",
        "/v1/licences/{number}/reissue",
        "portal",
        "Reissue a lost or damaged licence; the old credential is superseded",
    ),
    (
        "post",
        "/v1/licences/{number}/rebind",
        "portal",
        "Bind a vehicle to another platform",
    ),
    (
        "post",
        "/v1/licences/{number}/cancel",
        "portal",
        "Cancel at the holder's request",
    ),
    (
        "post",
        "/v1/licences/{number}/suspend",
        "officer",
        "Suspend",
    ),
    (
        "post",
        "/v1/licences/{number}/reinstate",
        "officer",
        "Reinstate a suspended licence",
    ),
    (
        "post",
        "/v1/licences/{number}/revoke",
        "officer",
        "Revoke, with a reason",
    ),
];
