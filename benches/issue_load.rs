//! Application → issued licence, end to end over loopback HTTP with simulated agencies.
//!
//! A bounded load: `LICREG_LOAD_SECONDS` (default 10) of `LICREG_LOAD_CONNECTIONS` (default 64)
//! concurrent portal clients, each submitting driver applications with `?wait=true` until the
//! time is up. Every application goes through formal review, three agency calls over HTTP, the
//! rules and issuance, with three durable ledger appends. The baseline, measured in the same run
//! at the same concurrency, is one bare agency-simulator call. Run with
//! `cargo bench --bench issue_load`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use licreg::agency::sim::{self, Records};
use licreg::agency::AgencyClient;
use licreg::clock::SystemClock;
use licreg::ids::CitizenId;
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::ledger::Ledger;
use licreg::rules::Policy;
use licreg::service::auth::TokenHash;
use licreg::service::{self, boot, AppState, Clients, Role, StateParts};
use serde_json::{json, Value};

const TOKEN: &str = "load-portal";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Simulators that answer for any subject with the demo's passing facts.
async fn agencies() -> BTreeMap<String, String> {
    let mut urls = BTreeMap::new();
    for (name, text) in boot::DEMO_AGENCIES {
        let mut records = Records::parse(text, None).expect("records");
        // Everyone gets the facts of the demo's approved driver.
        records.default = records
            .records
            .get("35020319900101123X")
            .cloned()
            .or(records.default);
        let addr = sim::spawn_local(records).await.expect("simulator");
        urls.insert(name.to_string(), format!("http://{addr}"));
    }
    urls
}

async fn registry(dir: &std::path::Path, agencies: BTreeMap<String, String>) -> SocketAddr {
    let log_key = LogKey {
        origin: "load.example/ledger".into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    let ledger = Ledger::open(dir, Some(log_key), Arc::new(SystemClock)).expect("ledger");
    let key = SigningKey::from_bytes(&[8; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key: key.clone(),
    };
    let trust = TrustList::with_active(&signer);
    let mut clients = Clients::default();
    clients.add(Role::Portal, TokenHash::of(TOKEN));
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
    })
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = service::app(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    addr
}

fn driver(n: u64) -> Value {
    let birth = time::Date::from_calendar_date(1980, time::Month::January, 1).expect("date")
        + time::Duration::days((n / 1000) as i64);
    let id = CitizenId::from_parts("350203", birth, (n % 1000) as u16).expect("id");
    let mut record: Value =
        serde_json::from_str(include_str!("../schemas/examples/driver.json")).expect("json");
    record["citizen_id"] = json!(id.as_str());
    record.as_object_mut().map(|o| {
        o.remove("valid_from");
        o.remove("valid_until")
    });
    json!({"kind": "driver", "record": record})
}

struct Outcome {
    done: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
}

/// Runs `connections` workers for `seconds`, each calling `request` in a loop.
async fn load<F, Fut>(connections: u64, seconds: u64, request: F) -> Outcome
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

fn report(name: &str, outcome: &Outcome) {
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; this load has no sub-benchmarks.
    }
    let seconds = env_u64("LICREG_LOAD_SECONDS", 10);
    let connections = env_u64("LICREG_LOAD_CONNECTIONS", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let agencies = agencies().await;
        let sim_url = agencies["traffic_police"].clone();
        let addr = registry(dir.path(), agencies).await;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client");

        let client = http.clone();
        let baseline = load(connections, seconds, move |n| {
            let client = client.clone();
            let url = format!("{sim_url}/v1/checks");
            async move {
                let body = json!({"application_id": n.to_string(), "kind": "driver",
                                  "subject": {"citizen_id": "35020319900101123X"}});
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        report("baseline: one agency-simulator call", &baseline);

        let client = http.clone();
        let url = format!("http://{addr}/v1/applications?wait=true");
        let issued = load(connections, seconds, move |n| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let response = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&driver(n))
                    .send()
                    .await;
                let Ok(response) = response else {
                    return false;
                };
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let ok = status == 201 && body["status"] == "issued";
                if !ok {
                    eprintln!("application {n} answered {status}: {body}");
                }
                ok
            }
        })
        .await;
        report("application -> issued licence", &issued);
    });
}
