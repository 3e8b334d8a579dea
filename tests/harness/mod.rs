//! What the handler tests share: a router over a fresh ledger, driven through
//! `tower::ServiceExt::oneshot`, with agency simulators on loopback ports and a clock the tests
//! move.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use ed25519_dalek::SigningKey;
use licreg::agency::AgencyClient;
use licreg::clock::FixedClock;
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::ledger::Storage;

pub mod storage;
use licreg::rules::Policy;
use licreg::service::auth::TokenHash;
use licreg::service::{self, boot, AppState, Clients, Role, StateParts};
use serde_json::{json, Value};
pub use storage::test_storage;
use tower::ServiceExt;

/// 2026-11-23T04:00:00Z, a weekday noon in Xiamen.
pub const NOW: i64 = 1_795_406_400;
pub const PORTAL: &str = "portal-token";
pub const OFFICER: &str = "officer-token";
pub const PLATFORM: &str = "platform-token";
pub const AGENCY: &str = "agency-token";
pub const XM_PLATFORM: &str = "xiamen-platform-token";
/// The token of the agency named `agency` (every agency of the policy has one).
pub fn agency_token(agency: &str) -> String {
    format!("{agency}-agency-token")
}

/// An officer with their own token, so the ledger names them.
pub const NAMED_OFFICER: &str = "zhang-wei-token";

pub struct Harness {
    pub router: Router,
    pub state: AppState,
    pub clock: FixedClock,
    /// Where the ledger is: reopen it here to restart.
    pub storage: Storage,
    pub _dir: tempfile::TempDir,
}

pub async fn harness_with(agencies: BTreeMap<String, String>) -> Harness {
    harness_with_limits(agencies, Default::default()).await
}

/// A harness whose service runs under `limits` (connection, timeout and proxy settings).
pub async fn harness_with_limits(
    agencies: BTreeMap<String, String>,
    limits: licreg::service::limits::Limits,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = FixedClock::at(NOW);
    let storage = test_storage(dir.path());
    node(storage, dir, clock, agencies, limits)
}

/// A registry node on `storage`, with its portraits in `dir`.
fn node(
    storage: Storage,
    dir: tempfile::TempDir,
    clock: FixedClock,
    agencies: BTreeMap<String, String>,
    limits: licreg::service::limits::Limits,
) -> Harness {
    let log_key = LogKey {
        origin: "test.example/ledger".into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    let ledger =
        licreg::registry::open_registry(&storage, Some(log_key), Arc::new(clock.clone())).unwrap();
    let key = SigningKey::from_bytes(&[8; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key: key.clone(),
    };
    let trust = TrustList::with_active(&signer);
    let mut clients = Clients::default();
    clients.add(Role::Portal, TokenHash::of(PORTAL));
    clients.add(Role::Officer, TokenHash::of(OFFICER));
    clients.add(
        Role::NamedOfficer("zhang_wei".into()),
        TokenHash::of(NAMED_OFFICER),
    );
    clients.add(Role::Platform("p1".into()), TokenHash::of(PLATFORM));
    clients.add(Role::Agency("traffic_police".into()), TokenHash::of(AGENCY));
    for agency in licreg::rules::AgencyName::ALL {
        let token = agency_token(agency.as_str());
        clients.add(Role::Agency(agency.as_str().into()), TokenHash::of(&token));
    }
    clients.add(
        Role::Platform(boot::DEMO_PLATFORM.into()),
        TokenHash::of(XM_PLATFORM),
    );
    let state = AppState::new(StateParts {
        ledger,
        clients,
        signer,
        trust,
        policy: Policy::parse(boot::NATIONAL_POLICY).unwrap(),
        agencies,
        agency_client: AgencyClient::new(Duration::from_millis(500), 1),
        clock: Arc::new(clock.clone()),
        public_base_url: "https://licreg.test".into(),
        public_requests_per_second: None,
        limits,
        keys_dir: None,
        portraits_dir: Some(dir.path().join("portraits")),
    })
    .unwrap();
    Harness {
        router: service::app(state.clone()),
        state,
        clock,
        storage,
        _dir: dir,
    }
}

pub async fn harness() -> Harness {
    harness_with(boot::start_demo_agencies().await.unwrap()).await
}

impl Harness {
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string());
        self.raw(method, uri, token, body.as_deref()).await
    }

    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// A GET whose answer is text (pages, metrics), with its content type.
    pub async fn text(&self, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
            .await
            .unwrap();
        (
            status,
            String::from_utf8(bytes.to_vec()).unwrap(),
            content_type,
        )
    }

    /// A second registry node on the same storage (PostgreSQL: several nodes share one
    /// database), with the same keys, clients, clock and agencies.
    pub fn second_node(&self) -> Harness {
        node(
            self.storage.clone(),
            tempfile::tempdir().unwrap(),
            self.clock.clone(),
            (*self.state.agencies).clone(),
            Default::default(),
        )
    }

    pub async fn apply(&self, kind: &str, example: &str) -> (StatusCode, Value) {
        let mut record: Value = serde_json::from_str(example).unwrap();
        record.as_object_mut().unwrap().remove("valid_from");
        record.as_object_mut().unwrap().remove("valid_until");
        self.call(
            Method::POST,
            "/v1/applications?wait=true",
            Some(PORTAL),
            Some(json!({"kind": kind, "record": record})),
        )
        .await
    }
}

/// Subscribes to the status stream as a platform.
pub async fn subscribe(h: &Harness) -> axum::body::BodyDataStream {
    let request = Request::get("/v1/events/stream")
        .header("authorization", format!("Bearer {PLATFORM}"))
        .body(Body::empty())
        .unwrap();
    let response = h.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().into_data_stream()
}

/// Reads stream frames until `needle` appears; the bound is generous because these machines are
/// noisy (tests print the observed delay instead of asserting on it).
pub async fn read_until(frames: &mut axum::body::BodyDataStream, needle: &str) -> String {
    use futures::StreamExt;
    let mut seen = String::new();
    while !seen.contains(needle) {
        let frame = tokio::time::timeout(Duration::from_secs(5), frames.next())
            .await
            .expect("a frame")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&frame));
    }
    seen
}

pub const DRIVER: &str = include_str!("../../schemas/examples/driver.json");
pub const VEHICLE: &str = include_str!("../../schemas/examples/vehicle.json");
pub const PLATFORM_EXAMPLE: &str = include_str!("../../schemas/examples/platform.json");
pub const REFUSED: &str = include_str!("../../schemas/examples/driver-refused.json");
