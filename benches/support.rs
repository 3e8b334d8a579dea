//! Shared by the loopback load benchmarks: an in-process registry and a bounded load generator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use licreg::agency::AgencyClient;
use licreg::clock::SystemClock;
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::rules::Policy;
use licreg::service::auth::TokenHash;
use licreg::service::{self, boot, AppState, Clients, Role, StateParts};

pub const TOKEN: &str = "load-portal";
pub const PLATFORM_TOKEN: &str = "load-platform";

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn registry(
    dir: &std::path::Path,
    agencies: BTreeMap<String, String>,
) -> (AppState, SocketAddr) {
    let log_key = LogKey {
        origin: "load.example/ledger".into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    // sled in `dir`, or the database LICREG_BENCH_STORAGE names (several nodes may share it).
    let storage = match std::env::var("LICREG_BENCH_STORAGE") {
        Ok(url) => licreg::ledger::Storage::parse(&url).expect("LICREG_BENCH_STORAGE"),
        Err(_) => licreg::ledger::Storage::sled(dir),
    };
    let ledger = licreg::registry::open_registry(&storage, Some(log_key), Arc::new(SystemClock))
        .expect("ledger");
    let key = SigningKey::from_bytes(&[8; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key: key.clone(),
    };
    let trust = TrustList::with_active(&signer);
    let mut clients = Clients::default();
    clients.add(Role::Portal, TokenHash::of(TOKEN));
    clients.add(Role::Platform("load".into()), TokenHash::of(PLATFORM_TOKEN));
    let state = AppState::new(StateParts {
        ledger,
        clients,
        signer,
        trust,
        policy: Policy::parse(boot::NATIONAL_POLICY).expect("policy"),
        agencies,
        agency_client: AgencyClient::new(Duration::from_secs(5), 1),
        clock: Arc::new(SystemClock),
        public_base_url: "https://licreg.test".into(),
        public_requests_per_second: None,
        limits: Default::default(),
        keys_dir: None,
        portraits_dir: None,
    })
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = service::app(state.clone());
    // A node on shared storage follows what the others append, as `licreg serve` does.
    tokio::spawn(service::follow::follow(state.clone()));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    (state, addr)
}

pub struct Outcome {
    pub done: u64,
    pub seconds: f64,
    pub latencies_us: Vec<u64>,
}

/// Runs `connections` workers for `seconds`, each calling `request` in a loop.
pub async fn load<F, Fut>(connections: u64, seconds: u64, request: F) -> Outcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let next = Arc::clone(&next);
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    assert!(request(n).await, "request {n} failed");
                    latencies.push(t.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    for worker in workers {
        latencies_us.extend(worker.await.expect("worker"));
    }
    latencies_us.sort_unstable();
    Outcome {
        done: latencies_us.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
        latencies_us,
    }
}

pub fn report(name: &str, outcome: &Outcome) {
    let pick = |q: f64| {
        let i = ((outcome.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        outcome.latencies_us.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "{name}: {} in {:.1}s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
        outcome.done,
        outcome.seconds,
        outcome.done as f64 / outcome.seconds,
        pick(0.50),
        pick(0.99)
    );
}

/// The status-lookup baseline: a bare axum handler on loopback answering `body` for any
/// `GET /v1/licences/{number}/status`, with no lookup. Returns its base URL.
pub async fn bare_status_server(body: serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, bare_status_app(body))
            .await
            .expect("serve")
    });
    format!("http://{addr}")
}

/// The bare handler's router: the status route answering `body`, with no lookup.
pub fn bare_status_app(body: serde_json::Value) -> axum::Router {
    axum::Router::new().route(
        "/v1/licences/{number}/status",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    )
}
