//! Application → issued licence, end to end over loopback HTTP with simulated agencies.
//!
//! A bounded load: `LICREG_LOAD_SECONDS` (default 10) of `LICREG_LOAD_CONNECTIONS` (default 64)
//! concurrent portal clients, each submitting driver applications with `?wait=true` until the
//! time is up. Every application goes through formal review, three agency calls over HTTP, the
//! rules and issuance, with three durable ledger appends. The baseline, measured in the same run
//! at the same concurrency, is one bare agency-simulator call. Run with
//! `cargo bench --bench issue_load`.

use std::collections::BTreeMap;

use licreg::agency::sim::{self, Records};
use licreg::ids::CitizenId;
use licreg::service::boot;
use serde_json::{json, Value};

#[path = "support.rs"]
mod support;

use support::{env_u64, load, registry, report, TOKEN};

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
        // LICREG_BENCH_NODES registry nodes (default 1); more than one needs shared storage
        // (LICREG_BENCH_STORAGE=postgres://…). Clients go to the nodes in turn.
        let nodes = env_u64("LICREG_BENCH_NODES", 1).max(1);
        let mut addrs = Vec::new();
        for _ in 0..nodes {
            addrs.push(registry(dir.path(), agencies.clone()).await.1);
        }
        println!("{nodes} node(s): {addrs:?}");
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
        let urls: Vec<String> = addrs
            .iter()
            .map(|addr| format!("http://{addr}/v1/applications?wait=true"))
            .collect();
        let issued = load(connections, seconds, move |n| {
            let client = client.clone();
            let url = urls[(n % urls.len() as u64) as usize].clone();
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
