//! Unauthenticated clients cannot grow the service's memory or escape the public rate limit.

mod harness;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use harness::*;
use tower::ServiceExt;

async fn status_of(h: &Harness, request: Request<Body>) -> StatusCode {
    h.router.clone().oneshot(request).await.unwrap().status()
}

fn plate_lookup(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/v1/plates/%E9%97%BDDD12345");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.body(Body::empty()).unwrap()
}

/// 600 lookups at once: without a token, with a made-up one, and with a real one.
#[tokio::test]
async fn only_a_valid_token_lifts_the_public_rate_limit() {
    let real = format!("Bearer {PLATFORM}");
    for (name, header, limited) in [
        ("no token", None, true),
        ("any header", Some("x"), true),
        ("unknown token", Some("Bearer guess"), true),
        ("valid token", Some(real.as_str()), false),
    ] {
        let h = harness().await;
        let mut refused = 0;
        for _ in 0..600 {
            if status_of(&h, plate_lookup(header)).await == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
        assert_eq!(refused > 0, limited, "{name}: {refused} of 600 refused");
    }
}

/// A client naming its own address in `X-Forwarded-For` is limited under its real one.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_client_is_ignored() {
    let h = harness().await;
    let mut refused = 0;
    for i in 0..600 {
        let request = Request::get("/v1/plates/%E9%97%BDDD12345")
            .header("x-forwarded-for", format!("198.51.100.{}", i % 250))
            .body(Body::empty())
            .unwrap();
        if status_of(&h, request).await == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "spoofed addresses escaped the limit");
}

/// Behind a configured proxy, each client named in `X-Forwarded-For` has a budget of its own: the
/// same 600 lookups spread over 250 forwarded addresses are all answered.
#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let limits = licreg::service::limits::Limits {
        // In-process requests come from 127.0.0.1, which stands for the proxy here.
        trusted_proxies: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    let h = harness_with_limits(
        licreg::service::boot::start_demo_agencies().await.unwrap(),
        limits,
    )
    .await;
    let mut refused = 0;
    for i in 0..600 {
        let request = Request::get("/v1/plates/%E9%97%BDDD12345")
            .header("x-forwarded-for", format!("198.51.100.{}", i % 250))
            .body(Body::empty())
            .unwrap();
        if status_of(&h, request).await == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 0, "forwarded clients shared one budget");
    // One forwarded client alone still meets the limit.
    let mut refused = 0;
    for _ in 0..600 {
        let request = Request::get("/v1/plates/%E9%97%BDDD12345")
            .header("x-forwarded-for", "203.0.113.9")
            .body(Body::empty())
            .unwrap();
        if status_of(&h, request).await == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "a forwarded client escaped the limit");
}

/// 500 requests with junk methods, and 500 refused ones, add no metric series.
#[tokio::test]
async fn junk_methods_and_refused_requests_do_not_grow_the_metrics() {
    let h = harness().await;
    let (_, before, _) = h.text("/metrics", Some(OFFICER)).await;
    for i in 0..500 {
        let method = Method::from_bytes(format!("JUNK{i:0>200}").as_bytes()).unwrap();
        let request = Request::builder()
            .method(method)
            .uri(format!("/v1/plates/x{i}"))
            .body(Body::empty())
            .unwrap();
        let status = status_of(&h, request).await;
        assert!(status.is_client_error(), "{status}");
    }
    for _ in 0..500 {
        status_of(&h, plate_lookup(None)).await;
    }
    let (_, after, _) = h.text("/metrics", Some(OFFICER)).await;
    assert!(!after.contains("JUNK"), "a junk method became a label");
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("licreg_http_requests_total{"))
            .count()
    };
    assert!(
        series(&after) <= series(&before) + 8,
        "{} → {} series",
        series(&before),
        series(&after)
    );
    assert!(
        after.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        after.len()
    );
}

/// What the edge layer adds to every answer, whoever produced it: `nosniff`, the JSON error
/// body (a 429 from the limit, a 404 of no route, axum's own 405 with its `Allow` header), and
/// one count under the route's template, the status it left with (unknown paths as unmatched).
#[tokio::test]
async fn every_answer_is_conformed_and_counted_under_its_template() {
    let h = harness().await;
    let mut limited = None;
    for _ in 0..600 {
        let response = h.router.clone().oneshot(plate_lookup(None)).await.unwrap();
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
        }
    }
    let limited = limited.expect("the limit answered 429");
    assert!(limited.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body = axum::body::to_bytes(limited.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "rate_limited");

    let not_allowed = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/stats")
        .header("authorization", format!("Bearer {OFFICER}"))
        .body(Body::empty())
        .unwrap();
    let response = h.router.clone().oneshot(not_allowed).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "method_not_allowed");

    let (status, _, _) = h.text("/no/such/route", Some(OFFICER)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, metrics, _) = h.text("/metrics", Some(OFFICER)).await;
    let count = |series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let lookups: u64 = metrics
        .lines()
        .filter_map(|l| {
            l.strip_prefix("licreg_http_requests_total{route=\"/v1/plates/{plate}\",method=\"GET\"")
        })
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(lookups, 600, "{metrics}");
    let refused = count(
        "licreg_http_requests_total{route=\"/v1/plates/{plate}\",method=\"GET\",status=\"429\"}",
    );
    assert!(refused > 0, "{metrics}");
    assert_eq!(
        count("licreg_http_requests_total{route=\"/v1/stats\",method=\"DELETE\",status=\"405\"}"),
        1,
        "{metrics}"
    );
    assert_eq!(
        count("licreg_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"),
        1,
        "{metrics}"
    );
    assert_eq!(
        count("licreg_http_request_duration_seconds_count{route=\"/v1/plates/{plate}\"}"),
        600
    );
}
