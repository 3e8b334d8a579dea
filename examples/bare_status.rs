//! The baseline for the status-lookup benchmark: a bare axum handler answering the same JSON as
//! `GET /v1/licences/{n}/status`, with no lookup. `cargo run --release --example bare_status ADDR`,
//! then `wrk -t2 -c64 -d10s --latency http://ADDR/v1/licences/X/status` against both.

use axum::routing::get;
use serde_json::json;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18182".into());
    let app = axum::Router::new().route(
        "/v1/licences/{number}/status",
        get(|| async {
            axum::Json(json!({"number": "1.2.156.3005.2.11100000000013338W901.11350200MB00000004.0000000002.001.W",
                "short_serial": "D0000000002001K", "kind": "driver", "status": "valid",
                "since": "2026-11-23T13:16:28Z", "reason": null, "valid_from": "2026-11-22T16:00:00Z",
                "valid_until": "2032-10-31T15:59:59Z", "platform": null, "device": null}))
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare status handler on http://{addr}");
    axum::serve(listener, app).await
}
