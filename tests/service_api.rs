//! Handler tests: the router driven through `tower::ServiceExt::oneshot`, with agency simulators
//! on loopback ports and a clock the tests move.

mod harness;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ed25519_dalek::SigningKey;
use harness::*;
use licreg::service::{self, boot};
use serde_json::{json, Value};
use tower::ServiceExt;

#[tokio::test]
async fn applications_are_checked_decided_and_issued() {
    let h = harness().await;
    for (kind, example) in [
        ("driver", DRIVER),
        ("vehicle", VEHICLE),
        ("platform", PLATFORM_EXAMPLE),
    ] {
        let (status, body) = h.apply(kind, example).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
        assert_eq!(body["status"], "issued", "{kind}: {body}");
        let url = body["verification_url"].as_str().unwrap();
        let verified = licreg::credential::verify_text(url, &h.state.keys.trust(), NOW, 0).unwrap();
        assert_eq!(verified.claims.kind.as_str(), kind);
        let steps: Vec<&str> = body["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["event"].as_str().unwrap())
            .collect();
        assert_eq!(steps.first(), Some(&"application"));
        assert!(steps.ends_with(&["decision", "issue"]), "{steps:?}");
        let id = body["id"].as_str().unwrap();
        let (status, shown) = h
            .call(
                Method::GET,
                &format!("/v1/applications/{id}"),
                Some(OFFICER),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(shown["licence_number"], body["licence_number"]);
    }
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_refusal_gives_every_reason_at_once() {
    let h = harness().await;
    let (status, body) = h.apply("driver", REFUSED).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "refused");
    let rules: Vec<&str> = body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    for wanted in [
        "driver.min_driving_years",
        "driver.record.drink_driving",
        "driver.record.dangerous_driving",
        "driver.regional_exam",
    ] {
        assert!(rules.contains(&wanted), "{wanted} missing from {rules:?}");
    }
}

#[tokio::test]
async fn formal_review_lists_every_problem_and_is_logged() {
    let h = harness().await;
    let mut record: Value = serde_json::from_str(DRIVER).unwrap();
    record["citizen_id"] = json!("350203199001011234");
    record["licence_class"] = json!("Z9");
    record.as_object_mut().unwrap().remove("holder_name");
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/applications",
            Some(PORTAL),
            Some(json!({"kind": "driver", "record": record})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "not_accepted");
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for wanted in ["citizen_id", "licence_class", "holder_name"] {
        assert!(fields.contains(&wanted), "{wanted} missing from {fields:?}");
    }
    let id = body["application_id"].as_str().unwrap();
    let (_, shown) = h
        .call(
            Method::GET,
            &format!("/v1/applications/{id}"),
            Some(PORTAL),
            None,
        )
        .await;
    assert_eq!(shown["status"], "not_accepted");
    // A second licence of the same kind for the same holder is refused in formal review.
    assert_eq!(h.apply("driver", DRIVER).await.1["status"], "issued");
    let (status, body) = h.apply("driver", DRIVER).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["problems"].to_string().contains("already"), "{body}");
    // Naming a licence as renewed does not get around that rule.
    let mut record: Value = serde_json::from_str(DRIVER).unwrap();
    record.as_object_mut().unwrap().remove("valid_from");
    record.as_object_mut().unwrap().remove("valid_until");
    let forged = json!({"kind": "driver", "record": record, "renewal_of": "D0000000000001X"});
    let (status, body) = h
        .call(Method::POST, "/v1/applications", Some(PORTAL), Some(forged))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["problems"].to_string().contains("renewal_of"),
        "{body}"
    );
}

#[tokio::test]
async fn lifecycle_transitions_change_the_status_verifiers_see() {
    let h = harness().await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let number = vehicle["licence_number"].as_str().unwrap().to_string();
    let status_of = |body: &Value| body["status"].as_str().unwrap().to_string();
    let path = |action: &str| format!("/v1/licences/{number}/{action}");
    let (code, _) = h
        .call(
            Method::POST,
            &path("suspend"),
            Some(OFFICER),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "suspension needs a reason");
    let (code, body) = h
        .call(
            Method::POST,
            &path("suspend"),
            Some(OFFICER),
            Some(json!({"reason": "inspection overdue"})),
        )
        .await;
    assert_eq!(
        (code, status_of(&body)),
        (StatusCode::OK, "suspended".into())
    );
    let (_, status) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(status["status"], "suspended");
    assert_eq!(
        status["reason"],
        json!({"category": "administrative", "zh": "行政管理措施", "en": "administrative measure"})
    );
    let (code, _) = h
        .call(
            Method::POST,
            &path("suspend"),
            Some(OFFICER),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (_, body) = h
        .call(
            Method::POST,
            &path("reinstate"),
            Some(OFFICER),
            Some(json!({})),
        )
        .await;
    assert_eq!(status_of(&body), "valid");
    let (_, body) = h
        .call(
            Method::POST,
            &path("rebind"),
            Some(PORTAL),
            Some(json!({"platform_credit_code": "91350100M000100Y43"})),
        )
        .await;
    assert_eq!(body["platform"], "91350100M000100Y43");
    let (code, reissued) = h
        .call(
            Method::POST,
            &path("reissue"),
            Some(PORTAL),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{reissued}");
    let new_number = reissued["number"].as_str().unwrap().to_string();
    assert!(new_number.contains(".002."), "version raised: {new_number}");
    let (_, old) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(old["status"], "superseded");
    let (_, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{new_number}/revoke"),
            Some(OFFICER),
            Some(json!({"reason": "fraud"})),
        )
        .await;
    assert_eq!(status_of(&body), "revoked");
    let (code, _) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{new_number}/reinstate"),
            Some(OFFICER),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
}

#[tokio::test]
async fn renewal_opens_90_days_before_expiry_and_runs_the_checks_again() {
    let h = harness().await;
    let (_, platform) = h.apply("platform", PLATFORM_EXAMPLE).await;
    let number = platform["licence_number"].as_str().unwrap().to_string();
    let (code, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/renew"),
            Some(PORTAL),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    let expires = h
        .state
        .read_view()
        .licence(&number)
        .unwrap()
        .unwrap()
        .expires;
    h.clock.set(expires - 30 * 86_400);
    let (code, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/renew"),
            Some(PORTAL),
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "issued", "{body}");
    assert_eq!(body["renewal_of"], Value::from(number.clone()));
    let (_, old) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(old["status"], "superseded");
    h.clock.set(expires + 86_400 * 3650);
    let swept = h.state.registry.expire_due().await.unwrap();
    assert_eq!(swept, 1, "the renewed licence expires ten years on");
}

#[tokio::test]
async fn a_silent_agency_leaves_a_visible_wait_until_it_pushes_its_answer() {
    let mut agencies = boot::start_demo_agencies().await.unwrap();
    // Nothing listens on port 9 of loopback here: the traffic police never answer the call.
    agencies.insert("traffic_police".into(), "http://127.0.0.1:9".into());
    let h = harness_with(agencies).await;
    let (_, body) = h.apply("driver", DRIVER).await;
    assert_eq!(body["status"], "checking", "{body}");
    assert_eq!(body["waiting_for"], json!(["traffic_police"]));
    let id = body["id"].as_str().unwrap().to_string();
    let (_, listed) = h
        .call(
            Method::GET,
            "/v1/applications?overdue=true",
            Some(OFFICER),
            None,
        )
        .await;
    assert_eq!(listed["applications"].as_array().unwrap().len(), 0);
    h.clock.advance(60 * 60 * 24 * 3);
    let (_, listed) = h
        .call(
            Method::GET,
            "/v1/applications?overdue=true",
            Some(OFFICER),
            None,
        )
        .await;
    assert_eq!(listed["applications"][0]["light"], "red", "{listed}");
    let facts = json!({"licence_class": "C1", "first_licensed": "2015-06-01", "drink_driving": false,
                       "full_deductions_last_3_cycles": 0, "licence_valid": true});
    let (code, body) = h
        .call(
            Method::POST,
            "/v1/agency-answers",
            Some(AGENCY),
            Some(json!({"application_id": id, "facts": facts})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "issued", "{body}");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_with_a_json_body_never_a_500() {
    let h = harness().await;
    let (_, issued) = h.apply("driver", DRIVER).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    let big = format!(
        "{{\"kind\": \"driver\", \"record\": {{\"x\": \"{}\"}}}}",
        "a".repeat(service::MAX_BODY_BYTES)
    );
    type Case<'a> = (Method, String, Option<&'a str>, Option<String>, StatusCode);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/v1/applications".into(),
            Some(PORTAL),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some(PORTAL),
            Some(big),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some(PORTAL),
            Some(r#"{"kind": 5, "record": {}}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some(PORTAL),
            Some(r#"{"kind": "boat", "record": {}}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some(PORTAL),
            Some(r#"{"kind": "driver", "record": []}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            None,
            Some("{}".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some("wrong"),
            Some("{}".into()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::POST,
            "/v1/applications".into(),
            Some(OFFICER),
            Some("{}".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/applications".into(),
            Some(PORTAL),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/applications/nope".into(),
            Some(OFFICER),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/v1/applications/nope".into(),
            Some(PLATFORM),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/v1/agency-answers".into(),
            Some(AGENCY),
            Some(r#"{"application_id": "nope", "facts": {}}"#.into()),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/agency-answers".into(),
            Some(PORTAL),
            Some("{}".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/v1/agency-answers".into(),
            Some(AGENCY),
            Some(r#"{"application_id": 1}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/v1/licences/nope/status".into(),
            None,
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/licences/nope/suspend".into(),
            Some(OFFICER),
            Some(r#"{"reason": "x"}"#.into()),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/suspend"),
            Some(PORTAL),
            Some(r#"{"reason": "x"}"#.into()),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/fly"),
            Some(OFFICER),
            Some("{}".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/suspend"),
            Some(OFFICER),
            Some(r#"{"reason": 7}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/suspend"),
            Some(OFFICER),
            Some(r#"{"reason": "x", "extra": 1}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/rebind"),
            Some(PORTAL),
            Some(r#"{"platform_credit_code": "91350100M000100Y43"}"#.into()),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            format!("/v1/licences/{number}/suspend"),
            Some(OFFICER),
            Some(format!("{{\"reason\": \"{}\"}}", "x".repeat(600))),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, uri, token, body, expected) in cases {
        let (status, value) = h.raw(method.clone(), &uri, token, body.as_deref()).await;
        assert_eq!(status, expected, "{method} {uri}: {value}");
        assert!(
            value["error"].is_string() && value["detail"].is_string(),
            "{method} {uri}: {value}"
        );
    }
}

#[tokio::test]
async fn openapi_lists_exactly_the_served_routes() {
    let h = harness().await;
    let (status, doc) = h.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let mut listed = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            listed += 1;
            let uri = path.replace("{id}", "A1").replace("{number}", "X1");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = h.router.clone().oneshot(request).await.unwrap();
            let served = response.status() != StatusCode::METHOD_NOT_ALLOWED
                && !(response.status() == StatusCode::NOT_FOUND
                    && axum::body::to_bytes(response.into_body(), 1 << 16)
                        .await
                        .unwrap()
                        .is_empty());
            assert!(served, "{method} {path} is in the document but not served");
        }
    }
    assert_eq!(listed, service::routes::table().len());
    let (status, _) = h.call(Method::GET, "/v1/unlisted", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn state_is_rebuilt_from_the_ledger_after_a_restart() {
    let h = harness().await;
    let (_, issued) = h.apply("vehicle", VEHICLE).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    h.call(
        Method::POST,
        &format!("/v1/licences/{number}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "check"})),
    )
    .await;
    let live = h.state.read_view().digest().unwrap();
    h.state.ledger.rebuild_view().unwrap();
    assert_eq!(h.state.read_view().digest().unwrap(), live);
    let licence = h.state.read_view().licence(&number).unwrap().unwrap();
    assert_eq!(
        licence.status,
        licreg::service::registry::LicenceStatus::Suspended
    );
    let application = licence.application_id.unwrap();
    assert!(h
        .state
        .read_view()
        .application(&application)
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn public_endpoints_are_rate_limited_per_client_address() {
    let h = harness().await;
    let mut limited = 0;
    for _ in 0..(service::ratelimit::BURST as usize + 50) {
        let (status, body) = h.call(Method::GET, "/v1/keys", None, None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 40, "only {limited} requests were limited");
    // Authenticated clients are not held to the public limit.
    let (status, _) = h
        .call(Method::GET, "/v1/applications", Some(OFFICER), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_log_is_served_as_tlog_tiles() {
    let h = harness().await;
    h.apply("driver", DRIVER).await;
    let response = h
        .router
        .clone()
        .oneshot(Request::get("/checkpoint").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let note = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let note = String::from_utf8(note.to_vec()).unwrap();
    let (checkpoint, _) = licreg::log::checkpoint::Checkpoint::open_signed(
        &note,
        h.state.ledger.verifier_key(),
        "test.example/ledger",
    )
    .unwrap();
    let size = checkpoint.size;
    let tile = h
        .router
        .clone()
        .oneshot(
            Request::get(format!("/tile/0/000.p/{size}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(tile.status(), StatusCode::OK);
    assert!(tile.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let bytes = axum::body::to_bytes(tile.into_body(), 1 << 20)
        .await
        .unwrap();
    let leaves = bytes.chunks(32).map(|c| <[u8; 32]>::try_from(c).unwrap());
    let store = licreg::log::merkle::MemoryStore::from_leaves(leaves).unwrap();
    assert_eq!(store.root(), checkpoint.root);
    let (status, _) = h.call(Method::GET, "/tile/0/000", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no full tile yet");
    let (status, body) = h.call(Method::GET, "/tile/0/1", None, None).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("path"))
    );
}

#[tokio::test]
async fn agencies_reuse_the_full_record_with_a_receipt_and_each_access_is_logged() {
    let h = harness().await;
    let (_, issued) = h.apply("vehicle", VEHICLE).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    let (status, _) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}"),
            Some(PLATFORM),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}"),
            Some(AGENCY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["record"]["vin"], "LGXC16DF0N1000001");
    let receipt = licreg::log::proof::TlogProof::parse(body["receipt"].as_str().unwrap()).unwrap();
    let vkey = h.state.ledger.verifier_key();
    receipt
        .verify_with_extra(vkey, "test.example/ledger", &[], 0)
        .unwrap();
    let history = h
        .state
        .ledger
        .history(
            licreg::ledger::SubjectKind::Licence,
            &licreg::issuance::licence_subject(&number).key,
        )
        .unwrap();
    let last = h.state.ledger.entry(*history.last().unwrap()).unwrap();
    assert_eq!(last.event, licreg::ledger::EventType::Access);
    assert_eq!(last.actor, "agency:traffic_police");
}

#[tokio::test]
async fn the_feed_pages_status_changes_from_the_ledger() {
    let h = harness().await;
    let (_, issued) = h.apply("driver", DRIVER).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    h.call(
        Method::POST,
        &format!("/v1/licences/{number}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "alert"})),
    )
    .await;
    let (status, _) = h.call(Method::GET, "/v1/events", Some(PORTAL), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = h
        .call(Method::GET, "/v1/events", Some(PLATFORM), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let changes: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["issued", "suspended"]);
    assert_eq!(page["more"], false);
    let first = page["events"][0]["seq"].as_u64().unwrap();
    let (_, rest) = h
        .call(
            Method::GET,
            &format!("/v1/events?after={first}"),
            Some(PLATFORM),
            None,
        )
        .await;
    assert_eq!(rest["events"][0]["change"], "suspended");
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    let (status, _) = h
        .call(Method::GET, "/v1/events?after=x", Some(PLATFORM), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_stream_subscriber_sees_a_suspension_as_it_is_logged() {
    let h = harness().await;
    let (_, issued) = h.apply("driver", DRIVER).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    let mut frames = subscribe(&h).await;
    let started = std::time::Instant::now();
    h.call(
        Method::POST,
        &format!("/v1/licences/{number}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "police alert"})),
    )
    .await;
    let seen = read_until(&mut frames, "event: suspended").await;
    assert!(seen.contains(&number), "{seen}");
    println!(
        "suspension reached the stream subscriber in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn orders_are_checked_for_double_compliance_at_their_time() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let short_vehicle = h
        .state
        .read_view()
        .licence(vehicle["licence_number"].as_str().unwrap())
        .unwrap()
        .unwrap()
        .short_serial;
    let at = |t: i64| licreg::clock::rfc3339(t);
    h.clock.advance(120);
    h.call(
        Method::POST,
        &format!("/v1/licences/{driver}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "alert"})),
    )
    .await;
    let order = |id: &str, t: i64, platform: &str| json!({"order_id": id, "driver": driver, "vehicle": short_vehicle, "platform": platform, "at": at(t)});
    let body = json!({"orders": [order("o1", NOW + 60, boot::DEMO_PLATFORM), order("o2", NOW + 180, boot::DEMO_PLATFORM)]});
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["results"][0]["compliant"], true, "{answer}");
    assert_eq!(answer["results"][1]["compliant"], false, "{answer}");
    assert!(
        answer["results"][1]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{answer}"
    );
    assert_eq!(answer["rates"][boot::DEMO_PLATFORM]["rate"], 0.5);
    let other = json!({"orders": [order("o3", NOW + 60, "91350100M000100Y43")]});
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(other.clone()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a platform checks only its own orders"
    );
    let (_, answer) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(OFFICER),
            Some(other),
        )
        .await;
    assert!(
        answer["results"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("bound to platform"),
        "{answer}"
    );
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(PORTAL),
            Some(json!({"orders": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| order(&i.to_string(), NOW, boot::DEMO_PLATFORM))
        .collect();
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(json!({"orders": too_many})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("orders"))
    );
}

#[tokio::test]
async fn status_lists_carry_each_credentials_status_for_offline_checks() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let url = driver["verification_url"].as_str().unwrap();
    let verified = licreg::credential::verify_text(url, &h.state.keys.trust(), NOW, 0).unwrap();
    let index = verified
        .claims
        .status_index
        .expect("service credentials carry an index");
    let fetch = || async {
        let response = h
            .router
            .clone()
            .oneshot(
                Request::get("/v1/status-lists/driver")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
            .await
            .unwrap();
        licreg::status_list::verify(&bytes, &h.state.keys.trust(), NOW).unwrap()
    };
    assert_eq!(
        fetch().await.list.get(index).unwrap(),
        licreg::status_list::ListStatus::Valid
    );
    assert!(fetch().await.list.entries() >= licreg::status_list::MIN_ENTRIES);
    h.call(
        Method::POST,
        &format!("/v1/licences/{number}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "x"})),
    )
    .await;
    assert_eq!(
        fetch().await.list.get(index).unwrap(),
        licreg::status_list::ListStatus::Suspended
    );
    let (status, _) = h
        .call(Method::GET, "/v1/status-lists/boats", None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_mirror_follows_the_tiles_across_full_bundles() {
    let h = harness().await;
    let grow = |from: u64, to: u64| {
        let ledger = h.state.ledger.clone();
        async move {
            for chunk in (from..to).collect::<Vec<_>>().chunks(60) {
                let entries = chunk
                    .iter()
                    .map(|i| licreg::ledger::NewEntry {
                        // Passenger reports: entries the registry accepts in any state.
                        event: licreg::ledger::EventType::Report,
                        actor: "test".into(),
                        subjects: vec![licreg::ledger::Subject::new(
                            licreg::ledger::SubjectKind::Plate,
                            format!("L{i}"),
                        )],
                        body: licreg::cbor::to_vec(&licreg::registry::bodies::Report {
                            plate: "闽D12345".into(),
                            reason: format!("report {i}"),
                            contact: None,
                        })
                        .unwrap(),
                    })
                    .collect();
                ledger.append_all_async(entries).await.unwrap();
            }
        }
    };
    grow(0, 300).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = h.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let key = licreg::mirror::pin_key(dir.path(), Some(h.state.ledger.verifier_key())).unwrap();
    // Entries carry personal data: hash tiles are public, entry bundles need an agency token.
    let anonymous = licreg::mirror::sync(&reqwest::Client::new(), &base, dir.path(), &key).await;
    assert!(
        anonymous
            .as_ref()
            .is_err_and(|e| e.to_string().contains("401")),
        "{anonymous:?}"
    );
    let (status, _) = h
        .call(Method::GET, "/tile/entries/000", Some(PLATFORM), None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "platforms do not read entries"
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {AGENCY}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let first = licreg::mirror::sync(&http, &base, dir.path(), &key)
        .await
        .unwrap();
    assert_eq!((first.previous_size, first.size), (0, 300));
    assert!(
        dir.path().join("tile/entries/000").is_file(),
        "the full bundle is kept"
    );
    grow(300, 600).await;
    let second = licreg::mirror::sync(&http, &base, dir.path(), &key)
        .await
        .unwrap();
    assert_eq!((second.previous_size, second.size), (300, 600));
    assert!(dir.path().join("tile/entries/001").is_file());
    // A mirror pinned to another log key refuses this log.
    let other = licreg::log::note::NoteSigner::new(
        "test.example/ledger",
        SigningKey::from_bytes(&[99; 32]),
    )
    .unwrap();
    let err = licreg::mirror::sync(&http, &base, dir.path(), &other.verifier_key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, licreg::mirror::MirrorError::Checkpoint(_)),
        "{err}"
    );
}

#[tokio::test]
async fn passengers_look_up_plates_and_send_rate_limited_reports() {
    let h = harness().await;
    h.apply("vehicle", VEHICLE).await;
    let (status, body) = h
        .call(Method::GET, "/v1/plates/%E9%97%BDDD12345", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["platform"], boot::DEMO_PLATFORM);
    let (_, body) = h
        .call(Method::GET, "/v1/plates/%E9%97%BDD54321", None, None)
        .await;
    assert_eq!(body["valid"], false);
    let (status, body) = h.call(Method::GET, "/v1/plates/ABC", None, None).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("plate"))
    );
    let report = json!({"plate": "闽DD12345", "reason": "unlicensed", "contact": "13800000000"});
    let (status, body) = h
        .call(Method::POST, "/v1/reports", None, Some(report.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let seq = body["report_id"].as_u64().unwrap();
    assert_eq!(
        h.state
            .ledger
            .entry(licreg::ledger::Seq(seq))
            .unwrap()
            .event,
        licreg::ledger::EventType::Report
    );
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/reports",
            None,
            Some(json!({"plate": "闽DD12345", "reason": ""})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let mut limited = false;
    for _ in 0..10 {
        let (status, _) = h
            .call(Method::POST, "/v1/reports", None, Some(report.clone()))
            .await;
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "reports are rate-limited per client address");
    let (status, page) = h.raw(Method::GET, "/v", None, None).await;
    assert_eq!(
        (status, page),
        (StatusCode::OK, Value::Null),
        "the page is HTML, not JSON"
    );
}

#[tokio::test]
async fn platforms_verify_credentials_and_numbers_in_batches() {
    let h = harness().await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let driver_number = driver["licence_number"].as_str().unwrap().to_string();
    h.call(
        Method::POST,
        &format!("/v1/licences/{driver_number}/suspend"),
        Some(OFFICER),
        Some(json!({"reason": "alert"})),
    )
    .await;
    let good = vehicle["credential"].as_str().unwrap().to_string();
    let mut raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &good).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let tampered = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &raw);
    let short = h
        .state
        .read_view()
        .licence(vehicle["licence_number"].as_str().unwrap())
        .unwrap()
        .unwrap()
        .short_serial;
    let items = json!({"items": [good, driver["verification_url"], tampered, short, "garbage"]});
    let (status, answer) = h
        .call(Method::POST, "/v1/verify", Some(PLATFORM), Some(items))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let verdicts: Vec<(&str, &str)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["verdict"].as_str().unwrap(),
                r["signature"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("valid", "valid"),
            ("invalid", "valid"),
            ("invalid", "invalid"),
            ("valid", "not_applicable"),
            ("invalid", "invalid")
        ]
    );
    assert_eq!(answer["results"][1]["status"], "suspended");
    assert_eq!(answer["valid"], 2);
    let (_, metrics, _) = h.text("/metrics", Some(OFFICER)).await;
    assert!(
        metrics.contains("licreg_signature_verifications_total{result=\"valid\"} 2")
            && metrics.contains("licreg_signature_verifications_total{result=\"invalid\"} 1"),
        "{metrics}"
    );
    let (status, _) = h
        .call(
            Method::POST,
            "/v1/verify",
            Some(PORTAL),
            Some(json!({"items": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let many: Vec<String> = (0..1001).map(|_| "x".to_string()).collect();
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/verify",
            Some(PLATFORM),
            Some(json!({"items": many})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("items"))
    );
}

#[tokio::test]
async fn an_agency_alert_suspends_at_once_and_platforms_see_it_on_the_stream() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let mut frames = subscribe(&h).await;
    let started = std::time::Instant::now();
    let alert = json!({"alert_id": "PS-2026-0001", "type": "drink_driving",
                       "subject": {"citizen_id": "35020319900101123X"}, "detail": "新增酒驾记录"});
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/alerts",
            Some(AGENCY),
            Some(alert.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["action"], "suspend");
    assert_eq!(body["affected"], json!([number.clone()]));
    let seen = read_until(&mut frames, "event: suspended").await;
    assert!(
        seen.contains(&number) && seen.contains("\"category\":\"safety\""),
        "{seen}"
    );
    assert!(
        !seen.contains("PS-2026-0001"),
        "platforms never see the alert id: {seen}"
    );
    println!(
        "alert reached the stream subscriber in {:?}",
        started.elapsed()
    );
    let (_, status) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(status["status"], "suspended");
    // The same alert again changes nothing.
    let size = h.state.ledger.size();
    let (status, body) = h
        .call(Method::POST, "/v1/alerts", Some(AGENCY), Some(alert))
        .await;
    assert_eq!(
        (status, body["duplicate"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(h.state.ledger.size(), size);
    // A type outside the agency's mandate is refused; a bad subject is refused with its field.
    let outside = json!({"alert_id": "PS-2026-0002", "type": "address_changed", "subject": {"citizen_id": "35020319900101123X"}});
    let (status, body) = h
        .call(Method::POST, "/v1/alerts", Some(AGENCY), Some(outside))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("outside_mandate"))
    );
    let bad = json!({"alert_id": "PS-3", "type": "drink_driving", "subject": {"citizen_id": "350203199001011234"}});
    let (status, body) = h
        .call(Method::POST, "/v1/alerts", Some(AGENCY), Some(bad))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("subject.citizen_id"))
    );
    let (status, _) = h
        .call(Method::POST, "/v1/alerts", Some(OFFICER), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The authority table: every route of the one route table, called by each kind of client.
/// A route for roles answers 401 without a token, 403 to every other role (before its query or
/// body is read), and lets its own roles through; the officer pages never serve without a session.
#[tokio::test]
async fn every_route_admits_exactly_the_roles_the_table_names() {
    use licreg::service::routes::{table, Access};
    use licreg::service::RoleKind;
    let h = harness().await;
    let tokens = [
        (RoleKind::Portal, PORTAL),
        (RoleKind::Officer, OFFICER),
        (RoleKind::Platform, PLATFORM),
        (RoleKind::Agency, AGENCY),
    ];
    let routes = table();
    assert!(routes.len() > 40, "{} routes", routes.len());
    for route in routes {
        let uri = route
            .openapi_path()
            .replace("{id}", "1")
            .replace("{number}", "X1")
            .replace("{plate}", "X1")
            .replace("{kind}", "driver")
            .replace("{action}", "suspend")
            .replace("{path}", "0/000");
        let method =
            Method::from_bytes(route.method.as_str().to_ascii_uppercase().as_bytes()).unwrap();
        let send = |token: Option<&str>| {
            let mut request = Request::builder().method(method.clone()).uri(&uri);
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            h.router
                .clone()
                .oneshot(request.body(Body::empty()).unwrap())
        };
        let what = format!("{} {}", route.method.as_str(), route.path);
        match route.access {
            Access::Roles(allowed) => {
                let status = send(None).await.unwrap().status();
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} without a token");
                for (kind, token) in tokens {
                    let status = send(Some(token)).await.unwrap().status();
                    if allowed.contains(&kind) {
                        assert!(
                            status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                            "{what} refused its own role {kind:?}: {status}"
                        );
                    } else {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what} as {kind:?}");
                    }
                }
            }
            Access::Session => {
                let status = send(Some(OFFICER)).await.unwrap().status();
                assert!(
                    !status.is_success(),
                    "{what} served without a session: {status}"
                );
            }
            Access::Presentation => {
                // Without a wallet code, or with a bearer token instead, nothing is shown
                // (tests/wallet.rs shows a fresh code opening it).
                for token in [None, Some(OFFICER)] {
                    let status = send(token).await.unwrap().status();
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what} with {token:?}");
                }
            }
            Access::Public => {
                let status = send(None).await.unwrap().status();
                // Only the sign-in itself answers 401, to a wrong (here: missing) token.
                let signing_in = route.path == "/officer/login";
                assert!(
                    status != StatusCode::FORBIDDEN
                        && (status != StatusCode::UNAUTHORIZED || signing_in),
                    "{what} is public but answered {status}"
                );
            }
        }
    }
}

/// A full compliance check (1,000 orders) on licences with a long history: each order's status
/// at its time is one index lookup, so the answer stays right and the cost stays flat however many
/// accesses and status changes the licence has. The time is printed, not asserted.
#[tokio::test]
async fn a_full_compliance_check_on_a_long_history_answers_every_order() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let driver = driver["licence_number"].as_str().unwrap().to_string();
    let vehicle = vehicle["licence_number"].as_str().unwrap().to_string();
    let police = agency_token("public_security");
    for _ in 0..300 {
        let (status, _) = h
            .call(
                Method::GET,
                &format!("/v1/licences/{driver}"),
                Some(&police),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Twenty suspensions, each lifted a minute later.
    let mut suspended_at = Vec::new();
    for _ in 0..20 {
        h.clock.advance(60);
        suspended_at.push(licreg::clock::Clock::now_unix(&h.clock));
        for (action, body) in [
            (
                "suspend",
                json!({"reason": "check", "category": "administrative"}),
            ),
            ("reinstate", json!({"reason": "checked"})),
        ] {
            let (status, body) = h
                .call(
                    Method::POST,
                    &format!("/v1/licences/{driver}/{action}"),
                    Some(OFFICER),
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if action == "suspend" {
                h.clock.advance(60);
            }
        }
    }
    // Orders alternate between a time inside a suspension and one outside.
    let orders: Vec<serde_json::Value> = (0..licreg::service::compliance::MAX_ORDERS_PER_CHECK)
        .map(|i| {
            let base = suspended_at[i % suspended_at.len()];
            let at = if i % 2 == 0 { base + 30 } else { base - 30 };
            json!({"order_id": format!("o{i}"), "driver": driver, "vehicle": vehicle,
                   "platform": boot::DEMO_PLATFORM, "at": licreg::clock::rfc3339(at)})
        })
        .collect();
    let started = std::time::Instant::now();
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/compliance/check",
            Some(XM_PLATFORM),
            Some(json!({ "orders": orders })),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), orders.len());
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["compliant"], i % 2 == 1, "order {i}: {result}");
    }
    println!(
        "1,000-order compliance check on a licence with {} ledger entries: {took:?}",
        h.state.ledger.size()
    );
}
