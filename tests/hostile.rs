//! The hostile-input table: every route of the route table, called with malformed JSON, wrong
//! types, oversized bodies and fields, deep nesting, invalid UTF-8, odd path parameters and
//! missing, invalid and wrong-role tokens. Never a 5xx; every error is the JSON error (the HTML
//! pages: an HTML page); and the ledger audits clean afterwards.

mod harness;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use harness::*;
use licreg::service::routes::{table, Access};
use tower::ServiceExt;

/// Odd values for each path parameter.
const ODD_PARAMS: &[&str] = &[
    "%FF%FE",
    "-1",
    "18446744073709551616",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "x072/x057/x594/x037/x927/936",
    "%E9%97%BD",
];

/// Bodies a client might send instead of what the route wants.
fn odd_bodies() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let long_field = format!(
        "{{\"kind\":\"driver\",\"record\":{{\"holder_name\":\"{}\"}},\"reason\":\"{}\",\"items\":[\"{}\"]}}",
        "名".repeat(20_000),
        "x".repeat(60_000),
        "y".repeat(60_000)
    );
    vec![
        ("malformed", b"{\"kind\": ".to_vec(), "application/json"),
        ("wrong types", br#"{"kind": 7, "record": [], "orders": "x", "items": {}, "alert_id": 1, "reason": false, "at": "yesterday"}"#.to_vec(), "application/json"),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'], "application/json"),
        ("deep nesting", deep.into_bytes(), "application/json"),
        ("oversized", vec![b' '; 3 << 20], "application/json"),
        ("long fields", long_field.into_bytes(), "application/json"),
        ("form junk", b"csrf=%ZZ&q=%FF".to_vec(), "application/x-www-form-urlencoded"),
        ("wrong content type", b"<xml/>".to_vec(), "text/xml"),
    ]
}

fn is_html_route(path: &str) -> bool {
    path == "/" || path == "/v" || path.starts_with("/officer")
}

async fn check(h: &Harness, what: &str, path: &str, request: Request<Body>) -> StatusCode {
    let response = h.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if status.is_success() || status.is_redirection() {
        // Not read: an accepted event stream never ends.
        return status;
    }
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
        .await
        .unwrap();
    assert!(
        !status.is_server_error(),
        "{what}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if status.is_client_error() {
        if is_html_route(path) && content_type.starts_with("text/html") {
            return status;
        }
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {status} as {content_type:?}"
        );
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{what}: {status} body is not JSON: {e}"));
        assert!(
            body["error"].is_string() && body["detail"].is_string(),
            "{what}: {body}"
        );
        assert!(
            bytes.len() < 4096,
            "{what}: a {}-byte error echoes its input",
            bytes.len()
        );
    }
    status
}

fn request(
    method: &Method,
    uri: &str,
    token: Option<&str>,
    body: Option<(&[u8], &str)>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method.clone()).uri(uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some((bytes, content_type)) => builder
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes.to_vec())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

#[tokio::test]
async fn no_route_answers_5xx_or_plain_text_to_hostile_input() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let bodies = odd_bodies();
    let police = agency_token("public_security");
    let mut calls = 0;
    for route in table() {
        let method =
            Method::from_bytes(route.method.as_str().to_ascii_uppercase().as_bytes()).unwrap();
        let tokens: Vec<Option<&str>> = match route.access {
            Access::Roles(_) => vec![
                None,
                Some("not-a-token"),
                Some(PORTAL),
                Some(OFFICER),
                Some(PLATFORM),
                Some(&police),
            ],
            _ => vec![None, Some("not-a-token")],
        };
        let mut uris: Vec<String> = ODD_PARAMS
            .iter()
            .map(|odd| {
                route
                    .openapi_path()
                    .replace("{id}", odd)
                    .replace("{number}", odd)
                    .replace("{plate}", odd)
                    .replace("{kind}", odd)
                    .replace("{action}", odd)
                    .replace("{path}", odd)
            })
            .collect();
        let real = route
            .openapi_path()
            .replace("{id}", "1")
            .replace("{number}", &number)
            .replace("{plate}", "%E9%97%BDDD12345")
            .replace("{kind}", "driver")
            .replace("{action}", "suspend")
            .replace("{path}", "0/000");
        uris.push(format!("{real}?wait=maybe&overdue=maybe&after=18446744073709551615&limit=-1&subject=&q=%FF&action=x"));
        uris.push(real.clone());
        for token in &tokens {
            for uri in &uris {
                let what = format!("{} {uri} token {token:?}", route.method.as_str());
                check(&h, &what, route.path, request(&method, uri, *token, None)).await;
                calls += 1;
            }
            if method == Method::POST {
                for (name, bytes, content_type) in &bodies {
                    let what = format!("POST {real} {name} token {token:?}");
                    let req = request(&method, &real, *token, Some((bytes, content_type)));
                    check(&h, &what, route.path, req).await;
                    calls += 1;
                }
            }
        }
        // The wrong method on every route.
        let wrong = if method == Method::GET {
            Method::DELETE
        } else {
            Method::PUT
        };
        check(
            &h,
            &format!("{wrong} {real}"),
            route.path,
            request(&wrong, &real, Some(OFFICER), None),
        )
        .await;
    }
    for path in [
        "/no/such/route",
        "/v1/licences",
        "/tile/0/x072/x057/x594/x037/x927/936",
    ] {
        check(&h, path, path, request(&Method::GET, path, None, None)).await;
    }
    println!("{calls} hostile calls, none answered 5xx");
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, h.state.ledger.size());
}

#[tokio::test]
async fn known_findings_answer_clear_errors() {
    let h = harness().await;
    // A wrong method: 405 with Allow and the JSON error.
    let response = h
        .router
        .clone()
        .oneshot(request(&Method::DELETE, "/v1/alerts", Some(OFFICER), None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key(header::ALLOW));
    // A tile path that is not a tile (it used to answer 500): a JSON 404.
    let (status, body) = h
        .call(
            Method::GET,
            "/tile/0/x072/x057/x594/x037/x927/936",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].is_string(), "{body}");
    // Undecodable path and query parameters name their field.
    let (status, body) = h
        .call(Method::GET, "/v1/licences/%FF%FE/status", None, None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("utf8")),
        "{body}"
    );
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/reports/-1/review",
            Some(OFFICER),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id")),
        "{body}"
    );
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/credit-records/search",
            Some(OFFICER),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("subject")),
        "{body}"
    );
    // Roles before parsing: a platform is refused before its missing subject is noticed.
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/credit-records/search",
            Some(PLATFORM),
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A 10,000-character id is not echoed back whole.
    let long = "D".repeat(10_000);
    let (status, body) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{long}/status"),
            None,
            None,
        )
        .await;
    assert!(
        status.is_client_error() && body.to_string().len() < 1024,
        "{status} {}",
        body.to_string().len()
    );
    // The feed's `after` near u64::MAX does not wrap into "more".
    let (status, body) = h
        .call(
            Method::GET,
            "/v1/events?after=18446744073709551615",
            Some(PLATFORM),
            None,
        )
        .await;
    assert_eq!(
        (status, body["more"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{body}"
    );
    // A malformed order time is refused (422) and never counted against the platform.
    let order = serde_json::json!({"orders": [{"order_id": "o1", "driver": "D1", "vehicle": "V1",
                                               "platform": "91350200MA2Y00001N", "at": "yesterday"}]});
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(order),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("orders[0].at")),
        "{body}"
    );
    assert!(
        h.state.compliance.lock().unwrap().is_empty(),
        "a refused check was counted"
    );
    // A 60 KB holder name is refused with its field, and nothing half-written.
    let mut record: serde_json::Value = serde_json::from_str(DRIVER).unwrap();
    record["holder_name"] = serde_json::Value::String("名".repeat(20_000));
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/applications",
            Some(PORTAL),
            Some(serde_json::json!({"kind": "driver", "record": record})),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body.to_string().len() < 4096, "the error echoes the input");
}

/// The officer pages behind a live session: every page route with odd path parameters, and every
/// form route with junk forms, a valid CSRF value beside oversized and malformed fields, and the
/// other odd bodies. Never a 5xx; errors are HTML pages.
#[tokio::test]
async fn signed_in_officer_pages_answer_hostile_forms_with_pages() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let login = request(
        &Method::POST,
        "/officer/login",
        None,
        Some((
            format!("token={OFFICER}").as_bytes(),
            "application/x-www-form-urlencoded",
        )),
    );
    let response = h.router.clone().oneshot(login).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with_cookie = |mut request: Request<Body>| {
        request
            .headers_mut()
            .insert(header::COOKIE, cookie.parse().unwrap());
        request
    };
    let page = h
        .router
        .clone()
        .oneshot(with_cookie(request(
            &Method::GET,
            "/officer/lookup",
            None,
            None,
        )))
        .await
        .unwrap();
    let page = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .unwrap();
    let page = String::from_utf8_lossy(&page);
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = page[at..at + 32].to_string();
    let mut forms: Vec<(String, Vec<u8>, &str)> = odd_bodies()
        .into_iter()
        .map(|(name, bytes, content_type)| (name.to_string(), bytes, content_type))
        .collect();
    for junk in [
        format!("csrf={csrf}&reason={}", "x".repeat(60_000)),
        format!("csrf={csrf}&q=%FF%FE&reason=%00&category=%E9&action=x&note=&result=maybe"),
        format!("csrf={csrf}&csrf={csrf}&q={}", "%E9%97%BD".repeat(5_000)),
        format!("csrf={csrf}&q=35020319900101123X&reason=&category=safety&result=confirm&behaviour=nonsense"),
    ] {
        forms.push((
            format!("valid csrf, {}", &junk[..junk.len().min(60)]),
            junk.into_bytes(),
            "application/x-www-form-urlencoded",
        ));
    }
    let (mut calls, mut reached) = (0, 0);
    let mut routes: Vec<_> = table()
        .into_iter()
        .filter(|r| r.access == Access::Session)
        .collect();
    // Signing out (a valid CSRF value ends the session) goes last.
    routes.sort_by_key(|r| r.path == "/officer/logout");
    for route in routes {
        let method =
            Method::from_bytes(route.method.as_str().to_ascii_uppercase().as_bytes()).unwrap();
        let mut uris: Vec<String> = ODD_PARAMS
            .iter()
            .map(|odd| {
                route
                    .openapi_path()
                    .replace("{id}", odd)
                    .replace("{number}", odd)
                    .replace("{action}", odd)
            })
            .collect();
        let real = route
            .openapi_path()
            .replace("{id}", "1")
            .replace("{number}", &number)
            .replace("{action}", "suspend");
        uris.push(format!("{real}?q=%FF&status=maybe&overdue=maybe"));
        for uri in &uris {
            let what = format!("{} {uri} signed in", route.method.as_str());
            let status = check(
                &h,
                &what,
                route.path,
                with_cookie(request(&method, uri, None, None)),
            )
            .await;
            calls += 1;
            reached += usize::from(status != StatusCode::SEE_OTHER);
        }
        if method == Method::POST {
            for (name, bytes, content_type) in &forms {
                let what = format!("POST {real} {name} signed in");
                let req = with_cookie(request(&method, &real, None, Some((bytes, content_type))));
                let status = check(&h, &what, route.path, req).await;
                calls += 1;
                reached += usize::from(status != StatusCode::SEE_OTHER);
            }
        }
    }
    // Redirects (to sign-in, or after a form) are fine, but most calls must reach a page.
    assert!(
        reached * 2 > calls,
        "{reached} of {calls} calls reached a page"
    );
    assert!(calls > 50, "only {calls} calls reached the officer pages");
    println!("{calls} hostile calls to signed-in officer pages ({reached} reached a page), none answered 5xx");
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
