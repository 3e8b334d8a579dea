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
            Method::POST,
            "/v1/credit-records/search",
            Some(OFFICER),
            Some(serde_json::json!({ "subject": OWNER_ID })),
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
    let live = h.state.read_view().digest().unwrap();
    h.state.ledger.rebuild_view().unwrap();
    assert_eq!(h.state.read_view().digest().unwrap(), live);
    assert_eq!(
        h.state.read_view().credit_records(OWNER_ID).unwrap().len(),
        1
    );
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
    let (status, why) = h
        .call(Method::POST, &path, Some(OFFICER), Some(confirm(None)))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{why}");
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

/// Recounts the funnel and processing times straight from the ledger's entries, independently of
/// the view's tally: (kind, day) → [received, accepted, approved, refused, issued], and
/// kind → sorted processing seconds.
type Recount = (
    std::collections::BTreeMap<(String, String), [u64; 5]>,
    std::collections::BTreeMap<String, Vec<u64>>,
);

fn recount(ledger: &licreg::ledger::Ledger) -> Recount {
    use licreg::service::events::{ApplicationBody, DecisionBody};
    use std::collections::BTreeMap;
    let cst = time::UtcOffset::from_hms(8, 0, 0).unwrap();
    let day = |ms: u64| {
        let d = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
            .unwrap()
            .to_offset(cst)
            .date();
        format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    };
    let mut counts: BTreeMap<(String, String), [u64; 5]> = BTreeMap::new();
    let mut times: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut apps: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for seq in 0..ledger.size() {
        let entry = ledger.entry(licreg::ledger::Seq(seq)).unwrap();
        let at = entry.timestamp_ms;
        match entry.event {
            EventType::Application => {
                let body: ApplicationBody = licreg::cbor::from_slice(&entry.body).unwrap();
                let bucket = counts
                    .entry((body.kind.as_str().to_string(), day(at)))
                    .or_default();
                bucket[0] += 1;
                bucket[1] += u64::from(body.accepted);
                apps.insert(body.application_id, (body.kind.as_str().to_string(), at));
            }
            EventType::Decision => {
                let body: DecisionBody = licreg::cbor::from_slice(&entry.body).unwrap();
                let (kind, submitted) = apps[&body.application_id].clone();
                let slot = match body.outcome.as_str() {
                    "approved" => 2,
                    "refused" => 3,
                    _ => continue,
                };
                counts.entry((kind.clone(), day(at))).or_default()[slot] += 1;
                times.entry(kind).or_default().push((at - submitted) / 1000);
            }
            EventType::Issue | EventType::Renewal => {
                let body: licreg::issuance::IssueBody =
                    licreg::cbor::from_slice(&entry.body).unwrap();
                if body.application_id.is_some() {
                    counts.entry((body.kind, day(at))).or_default()[4] += 1;
                }
            }
            _ => {}
        }
    }
    for list in times.values_mut() {
        list.sort_unstable();
    }
    (counts, times)
}

#[tokio::test]
async fn statistics_agree_with_a_recount_from_the_ledger() {
    let mut agencies = licreg::service::boot::start_demo_agencies().await.unwrap();
    // The traffic police never answer a call, so driver applications wait.
    agencies.insert("traffic_police".into(), "http://127.0.0.1:9".into());
    let h = harness_with(agencies).await;
    assert_eq!(h.apply("vehicle", VEHICLE).await.1["status"], "issued");
    assert_eq!(
        h.apply("platform", PLATFORM_EXAMPLE).await.1["status"],
        "issued"
    );
    let (_, waiting) = h.apply("driver", DRIVER).await;
    assert_eq!(waiting["status"], "checking", "{waiting}");
    let waiting_id = waiting["id"].as_str().unwrap().to_string();
    let mut bad: serde_json::Value = serde_json::from_str(DRIVER).unwrap();
    bad["citizen_id"] = json!("350203199001011234");
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/applications",
            Some(PORTAL),
            Some(json!({"kind": "driver", "record": bad})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Next day (and over a month boundary is not needed: months are sums of days).
    h.clock.advance(26 * 3600);
    let facts = json!({"licence_class": "C1", "first_licensed": "2015-06-01", "drink_driving": false,
                       "full_deductions_last_3_cycles": 0, "licence_valid": true});
    let (code, body) = h
        .call(
            Method::POST,
            "/v1/agency-answers",
            Some(AGENCY),
            Some(json!({"application_id": waiting_id, "facts": facts})),
        )
        .await;
    assert_eq!((code, &body["status"]), (StatusCode::OK, &json!("issued")));
    let (_, late) = h.apply("driver", REFUSED).await;
    assert_eq!(late["status"], "checking");
    h.clock.advance(3 * 24 * 3600);

    let (status, stats) = h.call(Method::GET, "/v1/stats", Some(OFFICER), None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let (counts, times) = recount(&h.state.ledger);
    let served: std::collections::BTreeMap<(String, String), [u64; 5]> = stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let n = |k: &str| b[k].as_u64().unwrap();
            (
                (
                    b["kind"].as_str().unwrap().into(),
                    b["period"].as_str().unwrap().into(),
                ),
                [
                    n("received"),
                    n("accepted"),
                    n("approved"),
                    n("refused"),
                    n("issued"),
                ],
            )
        })
        .collect();
    assert_eq!(served, counts);
    assert_eq!(
        counts[&("driver".into(), "2026-11-23".into())],
        [2, 1, 0, 0, 0]
    );
    assert_eq!(
        counts[&("driver".into(), "2026-11-24".into())],
        [1, 1, 1, 0, 1]
    );
    let month = stats["months"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "driver" && b["period"] == "2026-11")
        .unwrap();
    assert_eq!(
        (month["received"].as_u64(), month["issued"].as_u64()),
        (Some(3), Some(1))
    );
    for (kind, list) in &times {
        let rank = |p: usize| list[(list.len() * p).div_ceil(100).max(1) - 1];
        assert_eq!(stats["processing"][kind]["p50_seconds"], rank(50), "{kind}");
        assert_eq!(stats["processing"][kind]["p90_seconds"], rank(90), "{kind}");
    }
    assert_eq!(stats["processing"]["driver"]["p50_seconds"], 26 * 3600);
    assert_eq!(stats["overdue"]["driver"]["red"], 1, "{}", stats["overdue"]);
    // The open set the queue and the overdue count read is rebuilt the same from the ledger.
    let open = h.state.read_view().open_applications().unwrap();
    assert_eq!(open.len(), 1);
    let live = h.state.read_view().digest().unwrap();
    h.state.ledger.rebuild_view().unwrap();
    assert_eq!(h.state.read_view().digest().unwrap(), live);
    assert_eq!(h.state.read_view().open_applications().unwrap(), open);
    assert_eq!(
        h.state.read_view().recently_finished(50).unwrap().len(),
        4,
        "three issued, one not accepted"
    );
    assert_eq!(stats["licences"]["driver"]["valid"], 1);
    assert_eq!(stats["licences"]["vehicle"]["valid"], 1);

    // The same run, as Prometheus sees it.
    let (status, _, _) = h.text("/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, metrics, content_type) = h.text("/metrics", Some(OFFICER)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    let size = h.state.ledger.size();
    assert!(
        metrics.contains(&format!("licreg_ledger_entries {size}")),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("licreg_ledger_appends_total {size}")));
    assert!(metrics.contains(
        "licreg_http_requests_total{route=\"/v1/applications\",method=\"POST\",status=\"422\"} 1"
    ));
    assert!(
        metrics
            .contains("licreg_agency_calls_total{agency=\"traffic_police\",outcome=\"failed\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "licreg_agency_calls_total{agency=\"vehicle_registration\",outcome=\"answered\"} 1"
    ));
    assert!(metrics.contains("route=\"/v1/stats\",le=\"+Inf\"} 1"));
}
