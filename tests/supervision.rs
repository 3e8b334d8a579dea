//! Supervision through the handlers: the report queue, credit records and the refusals they
//! cause, statistics against a recount from the ledger, and the officer pages.

mod harness;

use axum::http::{Method, StatusCode};
use harness::*;
use licreg::ledger::{EventType, SubjectKind};
use serde_json::json;

const OWNER_ID: &str = "35020319900101123X";

#[tokio::test]
async fn a_confirmed_report_becomes_a_credit_record_and_then_refuses_the_holder() {
    let h = harness().await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    assert_eq!(vehicle["status"], "issued", "{vehicle}");
    let report = json!({"plate": "闽DD12345", "reason": "私下议价加价", "contact": "13800000000"});
    let (status, body) = h
        .call(Method::POST, "/v1/reports", None, Some(report.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let report_id = body["report_id"].as_u64().unwrap();
    let (_, second) = h
        .call(Method::POST, "/v1/reports", None, Some(report))
        .await;
    let second_id = second["report_id"].as_u64().unwrap();

    // Only officers see the queue.
    let (status, _) = h.call(Method::GET, "/v1/reports", Some(PORTAL), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, queue) = h
        .call(Method::GET, "/v1/reports?status=open", Some(OFFICER), None)
        .await;
    let ids: Vec<u64> = queue["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [second_id, report_id], "newest first");

    // Confirming needs a behaviour from the catalogue.
    let review = |outcome: &str, behaviour: Option<&str>| json!({"outcome": outcome, "note": "核实属实", "behaviour": behaviour});
    let path = format!("/v1/reports/{report_id}/review");
    let (status, body) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(review("confirm", None)),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("behaviour"))
    );
    let (status, body) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(review("confirm", Some("flying"))),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_behaviour"))
    );
    let size = h.state.ledger.size();
    let (status, body) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(review("confirm", Some("overcharge"))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let record = &body["credit_record"];
    assert_eq!(record["subject_id"], OWNER_ID);
    assert_eq!(record["against"], "holder");
    assert_eq!(record["confirmed_on"], "2026-11-23");
    // national.toml: 3 years unless the behaviour says otherwise.
    assert_eq!(record["barred_until"], "2029-11-22");
    assert_eq!(
        h.state.ledger.size(),
        size + 2,
        "review and record together"
    );
    let (status, _) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(review("dismiss", None)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a report is reviewed once");

    // The other report is dismissed; it leaves no record.
    let (status, body) = h
        .call(
            Method::POST,
            &format!("/v1/reports/{second_id}/review"),
            Some(OFFICER),
            Some(review("dismiss", None)),
        )
        .await;
    assert_eq!(
        (status, &body["credit_record"]),
        (StatusCode::CREATED, &json!(null))
    );
    let (_, open) = h
        .call(Method::GET, "/v1/reports?status=open", Some(OFFICER), None)
        .await;
    assert_eq!(open["reports"], json!([]));

    // Every step is in the ledger, findable by the holder.
    let events: Vec<EventType> = h
        .state
        .ledger
        .history(SubjectKind::Holder, OWNER_ID)
        .unwrap()
        .into_iter()
        .map(|seq| h.state.ledger.entry(seq).unwrap().event)
        .collect();
    assert!(events.contains(&EventType::CreditRecord), "{events:?}");
    let (_, records) = h
        .call(
            Method::GET,
            &format!("/v1/credit-records?subject={OWNER_ID}"),
            Some(OFFICER),
            None,
        )
        .await;
    assert_eq!(records["barred_until"], "2029-11-22");
    assert_eq!(records["records"][0]["behaviour"], "overcharge");

    // Formal review now refuses the holder, with the reason.
    let (status, body) = h.apply("driver", DRIVER).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("credit_record_active") && problems.contains("2029-11-22"),
        "{problems}"
    );

    // After a restart the record still bars: it is rebuilt from the ledger.
    let view = licreg::service::registry::View::replay(&h.state.ledger).unwrap();
    assert_eq!(view.credit_records[OWNER_ID].len(), 1);
}

#[tokio::test]
async fn a_platform_behaviour_falls_on_the_vehicles_platform() {
    let h = harness().await;
    h.apply("vehicle", VEHICLE).await;
    let (_, body) = h
        .call(
            Method::POST,
            "/v1/reports",
            None,
            Some(json!({"plate": "闽DD12345", "reason": "平台派单给无证车辆"})),
        )
        .await;
    let id = body["report_id"].as_u64().unwrap();
    let (status, body) = h
        .call(
            Method::POST,
            &format!("/v1/reports/{id}/review"),
            Some(OFFICER),
            Some(json!({"outcome": "confirm", "note": "查实", "behaviour": "dispatch_non_compliant"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["credit_record"]["against"], "platform");
    assert_eq!(
        body["credit_record"]["subject_id"],
        licreg::service::boot::DEMO_PLATFORM
    );
    // A report on a plate nobody holds cannot be pinned on a holder without the officer's finding.
    let (_, body) = h
        .call(
            Method::POST,
            "/v1/reports",
            None,
            Some(json!({"plate": "闽D54321", "reason": "拒载"})),
        )
        .await;
    let id = body["report_id"].as_u64().unwrap();
    let path = format!("/v1/reports/{id}/review");
    let confirm = |citizen: Option<&str>| json!({"outcome": "confirm", "note": "查实", "behaviour": "refuse_passenger", "citizen_id": citizen});
    let (status, _) = h
        .call(Method::POST, &path, Some(OFFICER), Some(confirm(None)))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(confirm(Some("350203199001011234"))),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("citizen_id"))
    );
    let (status, body) = h
        .call(
            Method::POST,
            &path,
            Some(OFFICER),
            Some(confirm(Some(OWNER_ID))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // refuse_passenger bars for one year.
    assert_eq!(body["credit_record"]["barred_until"], "2027-11-22");
}
