//! Agency mandates, through the HTTP API: which agency may raise which alert against which
//! subject, what it may cause, and what happens to the licences it concerns.

mod harness;

use axum::http::{Method, StatusCode};
use harness::*;
use serde_json::{json, Value};

const CITIZEN: &str = "35020319900101123X";
const PLATE: &str = "闽DD12345";
const PLATFORM_CODE: &str = "91350200MA2Y00001N";

fn subject(kind: &str) -> Value {
    match kind {
        "citizen_id" => json!({ "citizen_id": CITIZEN }),
        "plate" => json!({ "plate": PLATE }),
        _ => json!({ "credit_code": PLATFORM_CODE }),
    }
}

async fn alert(
    h: &Harness,
    agency: &str,
    id: &str,
    kind: &str,
    subject: Value,
) -> (StatusCode, Value) {
    let token = agency_token(agency);
    let body = json!({"alert_id": id, "type": kind, "subject": subject});
    h.call(Method::POST, "/v1/alerts", Some(&token), Some(body))
        .await
}

/// agency × alert type × subject kind → 201 with the action, or 403 with the rule broken.
#[tokio::test]
async fn the_mandate_table_decides_every_agency_alert_type_and_subject() {
    let h = harness().await;
    let table: &[(&str, &str, &str, Result<&str, &str>)] = &[
        ("public_security", "drug_use", "citizen_id", Ok("revoke")),
        (
            "public_security",
            "drink_driving",
            "citizen_id",
            Ok("suspend"),
        ),
        (
            "public_security",
            "violent_crime",
            "citizen_id",
            Ok("revoke"),
        ),
        (
            "traffic_police",
            "drink_driving",
            "citizen_id",
            Ok("suspend"),
        ),
        (
            "traffic_police",
            "licence_revoked",
            "citizen_id",
            Ok("revoke"),
        ),
        // Only public security may revoke for drug use; traffic police raise a notice.
        ("traffic_police", "drug_use", "citizen_id", Ok("notice")),
        (
            "exam_centre",
            "exam_result_annulled",
            "citizen_id",
            Ok("revoke"),
        ),
        (
            "vehicle_registration",
            "vehicle_scrapped",
            "plate",
            Ok("revoke"),
        ),
        (
            "vehicle_registration",
            "inspection_expired",
            "plate",
            Ok("suspend"),
        ),
        (
            "market_regulator",
            "business_licence_revoked",
            "credit_code",
            Ok("revoke"),
        ),
        (
            "provincial_transport",
            "capability_certificate_revoked",
            "credit_code",
            Ok("revoke"),
        ),
        // Outside the mandate: the findings of the review, and their neighbours.
        (
            "market_regulator",
            "drink_driving",
            "citizen_id",
            Err("type"),
        ),
        ("exam_centre", "licence_revoked", "credit_code", Err("type")),
        ("exam_centre", "drug_use", "citizen_id", Err("type")),
        (
            "vehicle_registration",
            "drink_driving",
            "citizen_id",
            Err("type"),
        ),
        ("public_security", "vehicle_scrapped", "plate", Err("type")),
        ("public_security", "no_such_type", "citizen_id", Err("type")),
        // A mandated type against the wrong kind of subject.
        ("public_security", "drug_use", "plate", Err("subject")),
        (
            "traffic_police",
            "drink_driving",
            "credit_code",
            Err("subject"),
        ),
        (
            "vehicle_registration",
            "vehicle_scrapped",
            "citizen_id",
            Err("subject"),
        ),
        (
            "market_regulator",
            "business_licence_revoked",
            "citizen_id",
            Err("subject"),
        ),
    ];
    for (i, (agency, kind, subject_kind, expected)) in table.iter().enumerate() {
        let before = h.state.ledger.size();
        let (status, body) =
            alert(&h, agency, &format!("T-{i}"), kind, subject(subject_kind)).await;
        let case = format!("{agency} {kind} {subject_kind}: {status} {body}");
        match expected {
            Ok(action) => {
                assert_eq!(status, StatusCode::CREATED, "{case}");
                assert_eq!(body["action"], *action, "{case}");
            }
            Err(field) => {
                assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                assert_eq!(body["error"], "outside_mandate", "{case}");
                assert_eq!(body["field"], *field, "{case}");
                // Refused, and logged as a refused attempt: one entry, no status change.
                assert_eq!(h.state.ledger.size(), before + 1, "{case}");
            }
        }
    }
    let (status, refused) = h
        .call(Method::GET, "/v1/alerts/refused", Some(OFFICER), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = refused["refused"].as_array().cloned().unwrap_or_default();
    let outside = table.iter().filter(|row| row.3.is_err()).count();
    assert_eq!(refused.len(), outside);
    assert!(refused.iter().any(|r| r["agency"] == "market_regulator"
        && r["alert_type"] == "drink_driving"
        && r["rule"] == "type_not_mandated"));
    let (status, _) = h
        .call(Method::GET, "/v1/alerts/refused", Some(AGENCY), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
}

async fn status_of(h: &Harness, number: &str) -> String {
    let (_, body) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    body["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_alert_outside_the_mandate_changes_nothing() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let (status, _) = alert(
        &h,
        "market_regulator",
        "MR-1",
        "drink_driving",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = alert(
        &h,
        "exam_centre",
        "EC-1",
        "licence_revoked",
        subject("credit_code"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&h, &driver).await, "valid");
    let (_, alerts) = h.call(Method::GET, "/v1/alerts", Some(OFFICER), None).await;
    assert_eq!(alerts["alerts"], json!([]));
}

/// A drink-driving record concerns the driver certificate, not the car the driver owns.
#[tokio::test]
async fn an_alert_acts_only_on_the_licences_its_type_concerns() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let vehicle = vehicle["licence_number"].as_str().unwrap().to_string();
    let (status, body) = alert(
        &h,
        "traffic_police",
        "TP-1",
        "drink_driving",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["affected"], json!([driver.clone()]));
    assert_eq!(status_of(&h, &driver).await, "suspended");
    assert_eq!(status_of(&h, &vehicle).await, "valid");
    // A notice (traffic police on drug use) leaves the licence as it is.
    let (_, body) = alert(
        &h,
        "traffic_police",
        "TP-2",
        "drug_use",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(
        (body["action"].as_str(), body["affected"].clone()),
        (Some("notice"), json!([]))
    );
    assert_eq!(status_of(&h, &driver).await, "suspended");
    let (_, body) = alert(
        &h,
        "vehicle_registration",
        "VR-1",
        "vehicle_scrapped",
        subject("plate"),
    )
    .await;
    assert_eq!(body["affected"], json!([vehicle.clone()]));
    assert_eq!(status_of(&h, &vehicle).await, "revoked");
}

/// Alert ids are each agency's own: the same id from two agencies is two alerts; a repeat from
/// one agency is idempotent with the same content and a conflict with other content.
#[tokio::test]
async fn alert_ids_are_scoped_by_agency() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let (status, body) = alert(
        &h,
        "traffic_police",
        "2026-0001",
        "drug_use",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(
        (status, body["action"].as_str()),
        (StatusCode::CREATED, Some("notice"))
    );
    let (status, body) = alert(
        &h,
        "public_security",
        "2026-0001",
        "drug_use",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["duplicate"].as_bool(), body["action"].as_str()),
        (Some(false), Some("revoke"))
    );
    assert_eq!(status_of(&h, &driver).await, "revoked");
    let size = h.state.ledger.size();
    let (status, body) = alert(
        &h,
        "public_security",
        "2026-0001",
        "drug_use",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(
        (status, body["duplicate"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(body["affected"], json!([driver]));
    let (status, body) = alert(
        &h,
        "public_security",
        "2026-0001",
        "violent_crime",
        subject("citizen_id"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("alert_conflict"))
    );
    assert_eq!(h.state.ledger.size(), size);
    licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
}
