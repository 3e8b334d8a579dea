//! Decisions in log order, under real concurrency: commands racing on one licence are decided
//! against the state at their sequence number, the live view and a rebuild from the ledger agree,
//! a licence number is never issued twice, and a failed flush stops the ledger instead of
//! guessing.

mod harness;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use harness::storage::{on_postgres, TEST_POSTGRES_ENV};
use harness::*;
use licreg::registry::LicenceStatus;
use licreg::service::boot;
use serde_json::{json, Value};

/// How often each race is run; each run is a fresh registry.
const ROUNDS: usize = 6;

/// A request: method, path, bearer token, JSON body.
type Call = (Method, String, Option<&'static str>, Option<Value>);

/// Sends every request at once (each task waits on one barrier, then calls the router) and
/// returns the answers in the order given.
async fn race(h: &Arc<Harness>, calls: Vec<Call>) -> Vec<(StatusCode, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(method, path, token, body)| {
            let (h, barrier) = (h.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                h.call(method, &path, token, body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn status_of(h: &Harness, number: &str) -> LicenceStatus {
    h.state.read_view().licence(number).unwrap().unwrap().status
}

/// Rebuilds the view from the ledger and checks it is byte for byte the live one.
fn assert_rebuild_matches(h: &Harness) {
    let live = h.state.read_view().digest().unwrap();
    h.state.ledger.rebuild_view().unwrap();
    assert_eq!(
        h.state.read_view().digest().unwrap(),
        live,
        "rebuild differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_racing_a_police_alert_stays_revoked_live_and_after_a_rebuild() {
    for round in 0..ROUNDS {
        let h = Arc::new(harness().await);
        let (_, driver) = h.apply("driver", DRIVER).await;
        let number = driver["licence_number"].as_str().unwrap().to_string();
        let alert = json!({"alert_id": format!("PS-{round}"), "type": "drink_driving",
                           "subject": {"citizen_id": "35020319900101123X"}});
        let answers = race(
            &h,
            vec![
                (
                    Method::POST,
                    format!("/v1/licences/{number}/revoke"),
                    Some(OFFICER),
                    Some(json!({"reason": "fraud"})),
                ),
                (Method::POST, "/v1/alerts".into(), Some(AGENCY), Some(alert)),
            ],
        )
        .await;
        let (revoked, alerted) = (&answers[0], &answers[1]);
        assert_eq!(revoked.0, StatusCode::OK, "{}", revoked.1);
        assert_eq!(alerted.0, StatusCode::CREATED, "{}", alerted.1);
        assert_eq!(status_of(&h, &number).await, LicenceStatus::Revoked);
        assert_rebuild_matches(&h);
        assert_eq!(status_of(&h, &number).await, LicenceStatus::Revoked);
        let (code, body) = h
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/reinstate"),
                Some(OFFICER),
                Some(json!({})),
            )
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("revoked"),
            "{body}"
        );
        let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
        assert!(report.is_clean(), "{:?}", report.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_renewals_at_once_issue_one_licence() {
    for _ in 0..ROUNDS {
        let h = Arc::new(harness().await);
        let (_, platform) = h.apply("platform", PLATFORM_EXAMPLE).await;
        let number = platform["licence_number"].as_str().unwrap().to_string();
        let expires = h
            .state
            .read_view()
            .licence(&number)
            .unwrap()
            .unwrap()
            .expires;
        h.clock.set(expires - 30 * 86_400);
        let renew: Call = (
            Method::POST,
            format!("/v1/licences/{number}/renew"),
            Some(PORTAL),
            Some(json!({})),
        );
        let answers = race(&h, vec![renew.clone(), renew.clone(), renew]).await;
        let issued: Vec<&Value> = answers
            .iter()
            .filter(|(code, body)| *code == StatusCode::CREATED && body["status"] == "issued")
            .map(|(_, body)| body)
            .collect();
        assert_eq!(issued.len(), 1, "{answers:?}");
        for (code, body) in answers.iter().filter(|(c, _)| *c != StatusCode::CREATED) {
            assert_eq!(*code, StatusCode::CONFLICT, "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains(&number),
                "the refusal names the licence: {body}"
            );
        }
        let new_number = issued[0]["licence_number"].as_str().unwrap();
        assert_eq!(status_of(&h, &number).await, LicenceStatus::Superseded);
        assert_eq!(status_of(&h, new_number).await, LicenceStatus::Valid);
        // Exactly one renewal entry, so exactly one new credential on the status list.
        let renewals = (0..h.state.ledger.size())
            .filter(|seq| {
                h.state
                    .ledger
                    .entry(licreg::ledger::Seq(*seq))
                    .unwrap()
                    .event
                    == licreg::ledger::EventType::Renewal
            })
            .count();
        assert_eq!(renewals, 1);
        assert_rebuild_matches(&h);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reissues_supersede_once_each() {
    let h = Arc::new(harness().await);
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let reissue: Call = (
        Method::POST,
        format!("/v1/licences/{number}/reissue"),
        Some(PORTAL),
        Some(json!({})),
    );
    let mut created = 0;
    for (code, body) in race(&h, vec![reissue; 4]).await {
        match code {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    assert_rebuild_matches(&h);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reissues_stop_with_a_clear_refusal_at_the_last_version() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let mut number = driver["licence_number"].as_str().unwrap().to_string();
    let mut seen = std::collections::BTreeSet::from([number.clone()]);
    let mut refusal = None;
    for _ in 0..256 {
        let (code, body) = h
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/reissue"),
                Some(PORTAL),
                Some(json!({})),
            )
            .await;
        if code != StatusCode::CREATED {
            refusal = Some((code, body));
            break;
        }
        let next = body["number"].as_str().unwrap().to_string();
        assert_ne!(next, number);
        assert!(seen.insert(next.clone()), "{next} issued twice");
        number = next;
    }
    let (code, body) = refusal.expect("the version limit refuses a reissue");
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "version_limit", "{body}");
    assert_eq!(
        seen.len(),
        usize::from(licreg::registry::MAX_LICENCE_VERSION)
    );
    assert_eq!(status_of(&h, &number).await, LicenceStatus::Valid);
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_stops_the_ledger_and_reuses_no_sequence_number() {
    let h = harness().await;
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    let acknowledged = h.state.ledger.size();
    h.state.ledger.inject_flush_failure();
    let (code, _) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/suspend"),
            Some(OFFICER),
            Some(json!({"reason": "check"})),
        )
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    let (code, body) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "ledger_stopped");
    // Nothing more is appended, not even what would otherwise succeed.
    let (code, _) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/revoke"),
            Some(OFFICER),
            Some(json!({"reason": "fraud"})),
        )
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(matches!(
        h.state
            .ledger
            .append(licreg::ledger::NewEntry {
                event: licreg::ledger::EventType::Report,
                actor: "test".into(),
                subjects: vec![],
                body: vec![0xA0],
            })
            .unwrap_err(),
        licreg::ledger::LedgerError::Poisoned
    ));
    // Restarted, the ledger audits clean, holds the acknowledged entries, and numbers on.
    let storage = h.storage.clone();
    let Harness {
        router,
        state,
        _dir,
        ..
    } = h;
    drop(router);
    drop(state);
    let key = licreg::keys::LogKey {
        origin: "test.example/ledger".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    };
    let ledger = licreg::registry::open_registry(
        &storage,
        Some(key),
        Arc::new(licreg::clock::FixedClock::at(NOW)),
    )
    .unwrap();
    let size = ledger.size();
    assert!(size >= acknowledged, "{size} < {acknowledged}");
    let report = licreg::ledger::audit(&ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let view = licreg::registry::View::new(&ledger).unwrap();
    let before = view.digest().unwrap();
    ledger.rebuild_view().unwrap();
    assert_eq!(view.digest().unwrap(), before);
}

/// A vehicle record: the example with another plate and VIN.
fn vehicle_with(plate: &str, vin: &str) -> String {
    let mut record: Value = serde_json::from_str(VEHICLE).unwrap();
    record["plate"] = plate.into();
    record["vin"] = vin.into();
    record.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_valid_certificate_per_plate_and_vin_but_many_cars_per_owner() {
    // Vehicle registration knows both of the owner's cars.
    let text = include_str!("../schemas/examples/agencies/vehicle_registration.json");
    let mut records: Value = serde_json::from_str(text).unwrap();
    let first = records["records"]["闽DD12345"].clone();
    records["records"]["闽DD54321"] = first;
    let records = licreg::agency::sim::Records::parse(&records.to_string(), None).unwrap();
    let addr = licreg::agency::sim::spawn_local(records).await.unwrap();
    let agencies = [("vehicle_registration".to_string(), format!("http://{addr}"))];
    let h = harness_with(agencies.into_iter().collect()).await;
    let (code, first) = h.apply("vehicle", VEHICLE).await;
    assert_eq!(code, StatusCode::CREATED, "{first}");
    let plate = first["licence_number"].as_str().unwrap().to_string();
    // The same plate with another VIN (and the example's owner): refused, with the reason.
    let other_vin = licreg::sample::vin(77);
    let (code, body) = h
        .apply("vehicle", &vehicle_with("闽DD12345", &other_vin))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("already_licensed"), "{body}");
    // The same VIN on another plate: refused too.
    let (code, body) = h
        .apply("vehicle", &vehicle_with("闽DD54321", "LGXC16DF0N1000001"))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The owner's second car, another plate and VIN: issued.
    let (code, body) = h
        .apply("vehicle", &vehicle_with("闽DD54321", &other_vin))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "issued", "{body}");
    assert_ne!(body["licence_number"].as_str().unwrap(), plate);
    let holder = h
        .state
        .read_view()
        .licences_of_holder("35020319900101123X")
        .unwrap();
    assert_eq!(holder.iter().filter(|l| l.kind == "vehicle").count(), 2);
}

/// How many entries of `event` the ledger holds about application `id`.
fn application_events(h: &Harness, id: &str, event: licreg::ledger::EventType) -> usize {
    h.state
        .ledger
        .history(licreg::ledger::SubjectKind::Application, id)
        .unwrap()
        .into_iter()
        .filter(|seq| h.state.ledger.entry(*seq).unwrap().event == event)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_answers_arriving_together_decide_and_issue_once() {
    let facts = json!({"licence_class": "C1", "first_licensed": "2015-06-01", "drink_driving": false,
                       "full_deductions_last_3_cycles": 0, "licence_valid": true});
    for _ in 0..ROUNDS {
        let mut agencies = boot::start_demo_agencies().await.unwrap();
        // Nothing listens on port 9 of loopback: the traffic police answer later, by push.
        agencies.insert("traffic_police".into(), "http://127.0.0.1:9".into());
        let h = Arc::new(harness_with(agencies).await);
        let (_, body) = h.apply("driver", DRIVER).await;
        assert_eq!(body["status"], "checking", "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let push: Call = (
            Method::POST,
            "/v1/agency-answers".into(),
            Some(AGENCY),
            Some(json!({"application_id": id, "facts": facts})),
        );
        for (code, body) in race(&h, vec![push.clone(), push]).await {
            // The second may find the application already decided: a 409 naming that.
            assert!(
                code == StatusCode::OK || code == StatusCode::CONFLICT,
                "{code} {body}"
            );
        }
        let decisions = application_events(&h, &id, licreg::ledger::EventType::Decision);
        let issues = application_events(&h, &id, licreg::ledger::EventType::Issue);
        assert_eq!((decisions, issues), (1, 1), "one decision, one licence");
        let app = h.state.read_view().application(&id).unwrap().unwrap();
        assert_eq!(app.status, licreg::registry::ApplicationStatus::Issued);
        assert_rebuild_matches(&h);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_officers_reviewing_one_report_at_once_review_it_once() {
    for _ in 0..ROUNDS {
        let h = Arc::new(harness().await);
        let _vehicle = h.apply("vehicle", VEHICLE).await;
        let (_, report) = h
            .call(
                Method::POST,
                "/v1/reports",
                None,
                Some(json!({"plate": "闽DD12345", "reason": "绕路"})),
            )
            .await;
        let path = format!("/v1/reports/{}/review", report["report_id"]);
        let review = |outcome: &str| -> Call {
            let body = json!({"outcome": outcome, "note": "核查", "behaviour": "overcharge"});
            (Method::POST, path.clone(), Some(OFFICER), Some(body))
        };
        let mut codes = Vec::new();
        for (code, body) in race(&h, vec![review("confirm"), review("dismiss")]).await {
            if code == StatusCode::CONFLICT {
                assert_eq!(body["error"], "already_reviewed", "{body}");
            }
            codes.push(code);
        }
        codes.sort();
        assert_eq!(codes, vec![StatusCode::CREATED, StatusCode::CONFLICT]);
        assert_rebuild_matches(&h);
    }
}

/// An import entry whose file digest is not a SHA-256 is refused by the writer before it is
/// numbered, whatever the rest of it says.
#[test]
fn an_import_with_a_malformed_file_digest_is_refused_unnumbered() {
    use licreg::issuance::IssueBody;
    use licreg::registry::bodies::ImportBody;
    use licreg::registry::{Event, RegistryProjection};

    let dir = tempfile::tempdir().unwrap();
    let key = licreg::keys::LogKey {
        origin: "test.example/ledger".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&[6; 32]),
    };
    let storage = licreg::ledger::Storage::parse(&dir.path().to_string_lossy()).unwrap();
    let ledger = licreg::ledger::Ledger::open_storage(
        &storage,
        Some(key),
        Arc::new(licreg::clock::FixedClock::at(0)),
        Arc::new(RegistryProjection),
    )
    .unwrap();
    for digest_bytes in [0usize, 31, 33, 64] {
        let body = ImportBody {
            legacy_number: "OLD-1".into(),
            file_sha256: serde_bytes::ByteBuf::from(vec![0xAB; digest_bytes]),
            issue: IssueBody {
                number: "1.2.156.3005.2.11100000000013338W901.11350200MB00000004.0000000001.001.W"
                    .into(),
                kind: "driver".into(),
                kid: "k".into(),
                record: json!({}),
                credential: serde_bytes::ByteBuf::new(),
                application_id: None,
                supersedes: None,
                status_index: None,
            },
        };
        let entry = Event::Import(body)
            .entry("import:test", Vec::new())
            .unwrap();
        let err = ledger.append(entry).err().unwrap();
        assert!(err.to_string().contains("file_sha256"), "{err}");
    }
    assert_eq!(ledger.size(), 0, "nothing was numbered");
}

/// Two registry nodes on one database: a node that has read a licence decides later commands on
/// it against what the other node changed since, not against the row it read (each commit
/// lists the keys it changed, and a writer forgets those before it decides).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_decides_against_what_another_node_changed_since_it_read() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a ledger only on PostgreSQL ({TEST_POSTGRES_ENV})");
        return;
    }
    for _ in 0..ROUNDS {
        let first = Arc::new(harness().await);
        let (_, driver) = first.apply("driver", DRIVER).await;
        let number = driver["licence_number"].as_str().unwrap().to_string();
        let (_, other) = first.apply("vehicle", VEHICLE).await;
        let vehicle = other["licence_number"].as_str().unwrap().to_string();
        // The first node has both licences' rows cached as valid.
        assert_eq!(status_of(&first, &number).await, LicenceStatus::Valid);
        assert_eq!(status_of(&first, &vehicle).await, LicenceStatus::Valid);

        let second = Arc::new(first.second_node());
        let (code, body) = second
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/revoke"),
                Some(OFFICER),
                Some(json!({"reason": "fraud"})),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");

        // Through the first node: suspending the revoked licence is refused, in log order.
        let (code, body) = first
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/suspend"),
                Some(OFFICER),
                Some(json!({"reason": "complaint"})),
            )
            .await;
        assert_eq!(code, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("revoked"),
            "{body}"
        );
        // A licence the other node did not touch is still decided on as valid.
        let (code, body) = first
            .call(
                Method::POST,
                &format!("/v1/licences/{vehicle}/suspend"),
                Some(OFFICER),
                Some(json!({"reason": "inspection overdue"})),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        first.state.ledger.refresh().unwrap();
        assert_eq!(status_of(&first, &number).await, LicenceStatus::Revoked);
        assert_eq!(status_of(&first, &vehicle).await, LicenceStatus::Suspended);
        second.state.ledger.refresh().unwrap();
        for node in [&first, &second] {
            let report = licreg::ledger::audit(&node.state.ledger, |_| {}).unwrap();
            assert!(report.is_clean(), "{:?}", report.problems);
        }
    }
}
