//! The officer pages through the router: sign-in and sessions, CSRF, the queue's lights, the
//! report queue, lookup with history and actions, the dashboard.

mod harness;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use harness::*;
use serde_json::json;
use tower::ServiceExt;

struct Page {
    status: StatusCode,
    location: String,
    cookie: String,
    text: String,
}

/// A GET (no form) or POST (urlencoded form) with an optional session cookie.
async fn send(h: &Harness, uri: &str, cookie: Option<&str>, form: Option<&[(&str, &str)]>) -> Page {
    let mut request = Request::builder().uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = match form {
        Some(fields) => {
            let body: String = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            request
                .method(Method::POST)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
        }
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = h.router.clone().oneshot(request).await.unwrap();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (status, location, cookie) = (
        response.status(),
        header_text(header::LOCATION),
        header_text(header::SET_COOKIE),
    );
    let bytes = axum::body::to_bytes(response.into_body(), 4 << 20)
        .await
        .unwrap();
    Page {
        status,
        location,
        cookie,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF value the page's forms carry.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + 32].to_string()
}

/// Signs in and returns the cookie to send.
async fn sign_in(h: &Harness) -> String {
    sign_in_with(h, OFFICER).await
}

async fn sign_in_with(h: &Harness, token: &str) -> String {
    let page = send(h, "/officer/login", None, Some(&[("token", token)])).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    assert!(
        page.cookie.contains("HttpOnly") && page.cookie.contains("SameSite=Strict"),
        "{}",
        page.cookie
    );
    page.cookie.split(';').next().unwrap().to_string()
}

/// The light of the queue row for application `id`.
fn light_of(page: &str, id: &str) -> String {
    let row = page
        .find(&format!("data-id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id}: {page}"));
    let at = page[row..].find("data-light=\"").unwrap() + row + 12;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn officers_sign_in_and_see_the_queue_lights_turn_yellow_then_red() {
    let mut agencies = licreg::service::boot::start_demo_agencies().await.unwrap();
    agencies.insert("traffic_police".into(), "http://127.0.0.1:9".into());
    let h = harness_with(agencies).await;

    let page = send(&h, "/officer", None, None).await;
    assert_eq!(
        (page.status, page.location.as_str()),
        (StatusCode::SEE_OTHER, "/officer/login")
    );
    for wrong in ["nope", PORTAL] {
        let page = send(&h, "/officer/login", None, Some(&[("token", wrong)])).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(page.cookie.is_empty());
    }
    let cookie = sign_in(&h).await;
    let (_, waiting) = h.apply("driver", DRIVER).await;
    let id = waiting["id"].as_str().unwrap().to_string();

    let page = send(&h, "/officer", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(light_of(&page.text, &id), "green");
    // 50 of the agency's 60 minutes gone: within 20% of the limit.
    h.clock.advance(50 * 60);
    let page = send(&h, "/officer", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.location);
    assert_eq!(light_of(&page.text, &id), "yellow");
    h.clock.advance(24 * 3600);
    // A day later the morning's session has run out: sign in again.
    assert_eq!(
        send(&h, "/officer", Some(&cookie), None).await.status,
        StatusCode::SEE_OTHER
    );
    let cookie = sign_in(&h).await;
    let page = send(&h, "/officer", Some(&cookie), None).await;
    assert_eq!(light_of(&page.text, &id), "red");
    assert!(page.text.contains("<span data-count=\"red\">红灯 1</span>"));
    let detail = send(
        &h,
        &format!("/officer/applications/{id}"),
        Some(&cookie),
        None,
    )
    .await;
    assert!(
        detail.text.contains("traffic_police: failed"),
        "{}",
        detail.text
    );

    // An officer's session is not public traffic: no public rate limit on the pages.
    for _ in 0..(licreg::service::ratelimit::BURST as usize + 100) {
        let status = send(&h, "/officer/dashboard", Some(&cookie), None)
            .await
            .status;
        assert_eq!(status, StatusCode::OK);
    }
    // Signing out ends the session.
    let token = csrf(&page.text);
    let out = send(
        &h,
        "/officer/logout",
        Some(&cookie),
        Some(&[("csrf", &token)]),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let page = send(&h, "/officer", Some(&cookie), None).await;
    assert_eq!(page.location, "/officer/login");
}

#[tokio::test]
async fn officers_review_reports_look_up_history_and_act_through_forms() {
    let h = harness().await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let number = vehicle["licence_number"].as_str().unwrap().to_string();
    let cookie = sign_in_with(&h, NAMED_OFFICER).await;
    let (_, report) = h
        .call(
            Method::POST,
            "/v1/reports",
            None,
            Some(json!({"plate": "闽DD12345", "reason": "<script>alert(1)</script>"})),
        )
        .await;
    let report_id = report["report_id"].as_u64().unwrap();

    let page = send(&h, "/officer/reports", Some(&cookie), None).await;
    assert!(page.text.contains(&format!("data-report=\"{report_id}\"")));
    assert!(!page.text.contains("<script>alert"), "input is escaped");
    assert!(page.text.contains("&lt;script&gt;"));
    assert!(page.text.contains("私下议价"), "the catalogue is offered");
    let token = csrf(&page.text);
    let path = format!("/officer/reports/{report_id}");
    let review = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("outcome", "confirm".to_string()),
            ("behaviour", "overcharge".to_string()),
            ("note", "核实属实".to_string()),
            ("citizen_id", String::new()),
        ]
    };
    let forged = review(&"0".repeat(32));
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = send(&h, &path, Some(&cookie), Some(&forged)).await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "a form without the session's CSRF value"
    );
    let fields = review(&token);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = send(&h, &path, Some(&cookie), Some(&fields)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    let page = send(&h, &path, Some(&cookie), Some(&fields)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("already reviewed"), "{}", page.text);
    assert!(
        page.text
            .contains("data-subject=\"35020319900101123X\" data-active=\"true\""),
        "the credit list shows the new record: {}",
        page.text
    );

    // Lookup by plate, by holder id and by number shows the licence and its history. A citizen
    // id goes in the POST form, never the URL: the GET refuses it and shows nothing.
    let token = csrf(&send(&h, "/officer/lookup", Some(&cookie), None).await.text);
    let by_url = send(
        &h,
        "/officer/lookup?q=35020319900101123X",
        Some(&cookie),
        None,
    )
    .await;
    assert!(
        !by_url.text.contains(&format!("data-number=\"{number}\"")) && by_url.text.contains("form"),
        "{}",
        by_url.text
    );
    for q in ["闽DD12345", "35020319900101123X", number.as_str()] {
        let fields = [("csrf", token.as_str()), ("q", q)];
        let page = send(&h, "/officer/lookup", Some(&cookie), Some(&fields)).await;
        assert!(
            page.text.contains(&format!("data-number=\"{number}\"")),
            "{q}: {}",
            page.text
        );
        assert!(page.text.contains("data-event=\"issue\""), "{q}");
        assert!(
            page.text.contains("data-event=\"credit_record\""),
            "holder history: {q}"
        );
    }
    let token = csrf(&send(&h, "/officer/lookup", Some(&cookie), None).await.text);
    let suspend = format!("/officer/licences/{number}/suspend");
    let page = send(
        &h,
        &suspend,
        Some(&cookie),
        Some(&[("csrf", &token), ("reason", "")]),
    )
    .await;
    assert!(
        page.location.contains("error="),
        "a suspension needs a reason: {}",
        page.location
    );
    let page = send(
        &h,
        &suspend,
        Some(&cookie),
        Some(&[("csrf", &token), ("reason", "年检逾期")]),
    )
    .await;
    assert!(page.location.contains("done=suspend"), "{}", page.location);
    let last = h.state.ledger.size() - 1;
    let entry = h.state.ledger.entry(licreg::ledger::Seq(last)).unwrap();
    assert_eq!(
        (entry.event, entry.actor.as_str()),
        (licreg::ledger::EventType::Suspension, "officer:zhang_wei"),
        "the ledger names the officer who acted"
    );
    let page = send(
        &h,
        &format!("/officer/lookup?q={number}"),
        Some(&cookie),
        None,
    )
    .await;
    assert!(page.text.contains("data-status=\"suspended\""));
    assert!(page.text.contains("data-event=\"suspension\"") && page.text.contains("年检逾期"));
    let reinstate = format!("/officer/licences/{number}/reinstate");
    let page = send(
        &h,
        &reinstate,
        Some(&cookie),
        Some(&[("csrf", &token), ("reason", "")]),
    )
    .await;
    assert!(
        page.location.contains("done=reinstate"),
        "{}",
        page.location
    );
    let (_, status) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(status["status"], "valid");

    let page = send(&h, "/officer/dashboard", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<svg id=\"chart-months\""));
    assert!(
        page.text
            .contains("data-series=\"收件 received\" data-category=\"2026-11\" data-value=\"1\""),
        "{}",
        page.text
    );
}
