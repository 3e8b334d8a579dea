//! Status lookups and batch verification over loopback HTTP, each against a baseline in the
//! same run: `GET /v1/licences/{n}/status` against a bare axum handler answering the same JSON,
//! and `POST /v1/verify` with 1,000 credentials per request. `LICREG_LOAD_SECONDS` (default 10)
//! and `LICREG_LOAD_CONNECTIONS` (default 64). Run with `cargo bench --bench status_load`.

use std::collections::BTreeMap;

use licreg::agency::sim::{self, Records};
use licreg::service::boot;
use serde_json::{json, Value};

#[path = "support.rs"]
mod support;

use support::{env_u64, load, registry, report, PLATFORM_TOKEN, TOKEN};

/// The same JSON the registry answers for a licence, from a handler that looks nothing up.
fn bare_body() -> serde_json::Value {
    json!({"number": "1.2.156.3005.2.11100000000013338W902.11350200MB00000004.0000000004.001.K",
                "short_serial": "V0000000004001O", "kind": "vehicle", "status": "valid",
                "since": "2026-11-23T13:16:28Z", "reason": null, "valid_from": "2026-11-22T16:00:00Z",
                "valid_until": "2032-03-14T15:59:59Z", "platform": "91350200MA2Y00001N"})
}

async fn agencies() -> BTreeMap<String, String> {
    let mut urls = BTreeMap::new();
    for (name, text) in boot::DEMO_AGENCIES {
        let records = Records::parse(text, None).expect("records");
        let addr = sim::spawn_local(records).await.expect("simulator");
        urls.insert(name.to_string(), format!("http://{addr}"));
    }
    urls
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds = env_u64("LICREG_LOAD_SECONDS", 10);
    let connections = env_u64("LICREG_LOAD_CONNECTIONS", 64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let (state, addr) = registry(dir.path(), agencies().await).await;
        state.limiter.disable();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("client");
        let mut record: Value =
            serde_json::from_str(include_str!("../schemas/examples/vehicle.json")).expect("json");
        record
            .as_object_mut()
            .map(|o| (o.remove("valid_from"), o.remove("valid_until")));
        let issued: Value = http
            .post(format!("http://{addr}/v1/applications?wait=true"))
            .bearer_auth(TOKEN)
            .json(&json!({"kind": "vehicle", "record": record}))
            .send()
            .await
            .expect("apply")
            .json()
            .await
            .expect("json");
        let number = state
            .read_view()
            .licence(issued["licence_number"].as_str().expect("issued"))
            .expect("view")
            .expect("licence")
            .short_serial;

        let bare = support::bare_status_server(bare_body()).await;
        for (name, base) in [
            ("baseline: bare axum handler", bare),
            ("GET /v1/licences/{n}/status", format!("http://{addr}")),
        ] {
            let client = http.clone();
            let url = format!("{base}/v1/licences/{number}/status");
            let outcome = load(connections, seconds, move |_| {
                let client = client.clone();
                let url = url.clone();
                async move {
                    client
                        .get(url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success())
                }
            })
            .await;
            report(name, &outcome);
        }

        let credential = issued["credential"]
            .as_str()
            .expect("credential")
            .to_string();
        let items: Vec<String> = vec![credential; 1000];
        let body = json!({ "items": items });
        let client = http.clone();
        let url = format!("http://{addr}/v1/verify");
        let outcome = load(4, seconds, move |_| {
            let client = client.clone();
            let url = url.clone();
            let body = body.clone();
            async move {
                let response = client
                    .post(url)
                    .bearer_auth(PLATFORM_TOKEN)
                    .json(&body)
                    .send()
                    .await;
                match response {
                    Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["valid"] == 1000),
                    Err(_) => false,
                }
            }
        })
        .await;
        report("POST /v1/verify, 1,000 credentials per request", &outcome);
        println!(
            "= {:.0} credentials/s",
            outcome.done as f64 * 1000.0 / outcome.seconds
        );
    });
}
