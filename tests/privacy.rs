//! What the public and platforms see of a licence that is not valid: its status and a reason
//! category, never the officer's or agency's words, actors, alert ids or personal data.

mod harness;

use axum::http::{Method, StatusCode};
use harness::*;
use serde_json::json;

/// An officer's reason as officers write them: a name, a citizen id and a phone number.
const OFFICER_TEXT: &str = "张伟 35020319900101123X 13800138000 酒驾";
const SECRETS: &[&str] = &[
    "张伟",
    "35020319900101123X",
    "13800138000",
    "酒驾",
    "officer",
    "PS-PRIV-1",
    "public_security",
];

fn assert_private(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret:?}: {text}");
    }
}

#[tokio::test]
async fn public_and_platform_answers_carry_the_category_and_no_free_text() {
    let h = harness().await;
    let mut stream = subscribe(&h).await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let vehicle = vehicle["licence_number"].as_str().unwrap().to_string();
    let (code, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{vehicle}/suspend"),
            Some(OFFICER),
            Some(json!({"reason": OFFICER_TEXT, "category": "qualification"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // Officers see the text; an unknown category is refused naming the field.
    assert_eq!(body["reason"], OFFICER_TEXT);
    let (code, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{vehicle}/revoke"),
            Some(OFFICER),
            Some(json!({"reason": "x", "category": "gossip"})),
        )
        .await;
    assert_eq!(
        (code, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("category"))
    );
    let alert = json!({"alert_id": "PS-PRIV-1", "type": "drink_driving",
                       "subject": {"citizen_id": "35020319900101123X"}, "detail": OFFICER_TEXT});
    let police = agency_token("public_security");
    let (code, _) = h
        .call(Method::POST, "/v1/alerts", Some(&police), Some(alert))
        .await;
    assert_eq!(code, StatusCode::CREATED);

    for (number, category) in [(&driver, "safety"), (&vehicle, "qualification")] {
        let (_, status) = h
            .call(
                Method::GET,
                &format!("/v1/licences/{number}/status"),
                None,
                None,
            )
            .await;
        assert_eq!(status["reason"]["category"], category, "{status}");
        assert!(status["reason"]["zh"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert_private("status", &status.to_string());
    }
    let (code, plate) = h
        .call(Method::GET, "/v1/plates/闽DD12345", None, None)
        .await;
    assert_eq!(code, StatusCode::OK, "{plate}");
    assert_eq!(
        (
            &plate["valid"],
            &plate["status"],
            &plate["reason"]["category"]
        ),
        (&json!(false), &json!("suspended"), &json!("qualification")),
        "the plate's latest certificate and its category: {plate}"
    );
    assert_private("plate lookup", &plate.to_string());
    let (_, feed) = h
        .call(Method::GET, "/v1/events", Some(PLATFORM), None)
        .await;
    assert!(
        feed["events"].as_array().is_some_and(|e| e.len() >= 4),
        "{feed}"
    );
    assert_private("feed", &feed.to_string());
    // The live stream platforms follow carries the same: categories, no text.
    let streamed = read_until(&mut stream, "\"safety\"").await;
    assert!(streamed.contains("qualification"), "{streamed}");
    assert_private("event stream", &streamed);
    let items = json!({"items": [driver.clone(), vehicle.clone()]});
    let (_, verified) = h
        .call(Method::POST, "/v1/verify", Some(PLATFORM), Some(items))
        .await;
    assert_eq!(verified["results"][0]["reason"], "safety", "{verified}");
    assert_private("verify", &verified.to_string());
    let order = json!({"orders": [{"order_id": "o1", "driver": driver, "vehicle": vehicle,
                                    "platform": "91350200MA2Y00001N", "at": "2026-11-23T04:30:00Z"}]});
    let (_, checked) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(order),
        )
        .await;
    assert_eq!(checked["results"][0]["compliant"], false, "{checked}");
    assert_private("compliance", &checked.to_string());
    let (_, index, _) = h.text("/", None).await;
    assert!(
        !index.contains("/v1/licences/D"),
        "the index lists no licences: {index}"
    );
    let (_, reasons) = h.call(Method::GET, "/v1/reasons", None, None).await;
    assert_eq!(reasons["reasons"]["safety"]["zh"], "安全原因");
}
