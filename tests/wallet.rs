//! The driver's wallet through the router: activation on issuance, binding a phone, dynamic
//! codes verified by `POST /v1/verify`, the portrait only for a fresh code, rebinding a lost
//! phone, and every refusal on the way. The phone is played by an Ed25519 key in the test; the
//! browser side is `tests/browser_wallet.rs`.

mod harness;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::SigningKey;
use harness::*;
use licreg::credential::Claims;
use licreg::presentation::Presentation;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A drawn stand-in for a face (no real person), made with a browser canvas.
const PORTRAIT: &[u8] = include_bytes!("../assets/demo-portrait.jpg");

async fn apply_driver_with_portrait(h: &Harness) -> Value {
    let mut record: Value = serde_json::from_str(DRIVER).unwrap();
    let object = record.as_object_mut().unwrap();
    object.remove("valid_from");
    object.remove("valid_until");
    object.insert("portrait_jpeg".into(), STANDARD.encode(PORTRAIT).into());
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/applications?wait=true",
            Some(PORTAL),
            Some(json!({"kind": "driver", "record": record})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "issued", "{body}");
    body
}

async fn bind(h: &Harness, code: &str, phone: &SigningKey) -> (StatusCode, Value) {
    h.call(
        Method::POST,
        "/v1/wallet/bind",
        None,
        Some(json!({"code": code, "device_key": URL_SAFE_NO_PAD.encode(phone.verifying_key().as_bytes())})),
    )
    .await
}

fn now(h: &Harness) -> i64 {
    licreg::clock::Clock::now_unix(&h.clock)
}

/// A dynamic code as the wallet draws it, as the URL a camera opens.
fn dynamic_url(credential: &[u8], phone: &SigningKey, at: i64) -> String {
    let payload = Presentation::sign(credential, phone, at).encode();
    format!(
        "https://licreg.test/v#{}",
        licreg::qr::encode_digits(&payload)
    )
}

async fn verify(h: &Harness, item: &str) -> Value {
    let (status, body) = h
        .call(
            Method::POST,
            "/v1/verify",
            Some(PLATFORM),
            Some(json!({ "items": [item] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"][0].clone()
}

async fn portrait(h: &Harness, serial: &str, presentation: Option<&[u8]>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::get(format!("/v1/portraits/{serial}"));
    if let Some(bytes) = presentation {
        request = request.header("licreg-presentation", URL_SAFE_NO_PAD.encode(bytes));
    }
    let response = h
        .router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

fn device_of(credential: &[u8]) -> Option<String> {
    let sign1 = licreg::cose::decode(credential).unwrap();
    Claims::decode(&sign1.payload)
        .unwrap()
        .device_key
        .map(|k| k.thumbprint())
}

#[tokio::test]
async fn a_driver_binds_a_phone_shows_live_codes_and_rebinds_a_lost_one() {
    let h = harness().await;
    let issued = apply_driver_with_portrait(&h).await;
    let number = issued["licence_number"].as_str().unwrap().to_string();
    let code = issued["wallet_activation"]["code"]
        .as_str()
        .expect("the portal gets an activation code with a driver licence")
        .to_string();
    assert!(issued["wallet_activation"]["wallet_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/wallet#activate={code}")));
    assert!(issued["wallet_activation"]["qr_svg"]
        .as_str()
        .unwrap()
        .starts_with("<?xml"));

    // The answers, the decision, the licence and the activation code are one append: consecutive
    // entries, with no group commit (no checkpoint) ending between them.
    use licreg::ledger::{EventType, Seq};
    let entries: Vec<_> = (0..h.state.ledger.size())
        .map(|seq| h.state.ledger.entry(Seq(seq)).unwrap())
        .collect();
    let issued_at = entries
        .iter()
        .rposition(|e| e.event == EventType::Issue)
        .expect("an issue entry");
    let events: Vec<EventType> = entries[issued_at - 4..=issued_at + 1]
        .iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            EventType::AgencyAnswer,
            EventType::AgencyAnswer,
            EventType::AgencyAnswer,
            EventType::Decision,
            EventType::Issue,
            EventType::WalletActivation
        ]
    );
    let inside = (issued_at - 3) as u64..=(issued_at + 1) as u64;
    let split: Vec<u64> = h
        .state
        .ledger
        .checkpoints()
        .map(|c| c.unwrap().0)
        .filter(|size| inside.contains(size))
        .collect();
    assert!(split.is_empty(), "appends ended at sizes {split:?}");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event == EventType::WalletActivation)
            .count(),
        1
    );

    // The image is beside the ledger, not in it: no entry holds its bytes, the record its hash.
    for seq in 0..h.state.ledger.size() {
        let entry = h.state.ledger.entry(licreg::ledger::Seq(seq)).unwrap();
        assert!(
            !entry.body.windows(64).any(|w| w == &PORTRAIT[200..264]),
            "entry {seq} holds the portrait"
        );
    }
    let (_, application) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{number}"),
            Some(OFFICER),
            None,
        )
        .await;
    assert_eq!(
        application["record"]["portrait_sha256"]
            .as_str()
            .map(str::len),
        Some(64),
        "{application}"
    );

    // The phone binds with the code; the credential carries its key.
    let phone = SigningKey::from_bytes(&[51; 32]);
    let (status, bound) = bind(&h, &code.to_lowercase(), &phone).await;
    assert_eq!(status, StatusCode::CREATED, "{bound}");
    let credential = URL_SAFE_NO_PAD
        .decode(bound["credential"].as_str().unwrap())
        .unwrap();
    let thumbprint = device_of(&credential).expect("a holder-bound credential");
    assert_eq!(bound["device"], thumbprint.as_str());
    let serial = bound["short_serial"].as_str().unwrap().to_string();
    let (_, status) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{serial}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(status["device"], thumbprint.as_str(), "{status}");
    // A code binds once.
    let (status, again) = bind(&h, &code, &SigningKey::from_bytes(&[52; 32])).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::CONFLICT, Some("activation_used")),
        "{again}"
    );

    // A fresh dynamic code verifies as bound; the same code 91 s later (a screenshot) does not.
    let fresh = dynamic_url(&credential, &phone, now(&h));
    let answer = verify(&h, &fresh).await;
    assert_eq!(
        (answer["verdict"].as_str(), answer["device"].as_str()),
        (Some("valid"), Some("bound")),
        "{answer}"
    );
    let payload = Presentation::sign(&credential, &phone, now(&h)).encode();
    let (status, image) = portrait(&h, &serial, Some(&payload)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(image, PORTRAIT, "the stored image comes back unchanged");
    let (_, stats) = h.call(Method::GET, "/v1/stats", Some(OFFICER), None).await;
    assert_eq!(stats["portrait_fetches"], 1, "each fetch is counted");
    // Nobody else sees it: no code, a static credential, another licence's path.
    assert_eq!(portrait(&h, &serial, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        portrait(&h, &serial, Some(&credential)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        portrait(&h, "D0000000099001X", Some(&payload)).await.0,
        StatusCode::FORBIDDEN
    );
    let step_start = licreg::presentation::time_step(now(&h)) * 30;
    h.clock
        .advance(step_start + licreg::presentation::MAX_PRESENTATION_AGE_SECONDS + 1 - now(&h));
    let stale = verify(&h, &fresh).await;
    assert_eq!(stale["verdict"], "invalid", "{stale}");
    assert!(
        stale["reason"].as_str().unwrap().contains("refresh"),
        "{stale}"
    );
    assert_eq!(
        portrait(&h, &serial, Some(&payload)).await.0,
        StatusCode::FORBIDDEN,
        "a stale code does not open the portrait"
    );

    // The phone is lost: the portal rebinds. The old phone still signs, but not for a binding.
    let (status, rebound) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/wallet/rebind"),
            Some(PORTAL),
            Some(json!({"reason": "持证人手机丢失"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rebound}");
    let (_, status) = h
        .call(
            Method::GET,
            &format!("/v1/licences/{serial}/status"),
            None,
            None,
        )
        .await;
    assert_eq!(status["device"], Value::Null, "{status}");
    let old_phone = verify(&h, &dynamic_url(&credential, &phone, now(&h))).await;
    assert_eq!(old_phone["verdict"], "invalid", "{old_phone}");
    let old_payload = Presentation::sign(&credential, &phone, now(&h)).encode();
    assert_eq!(
        portrait(&h, &serial, Some(&old_payload)).await.0,
        StatusCode::FORBIDDEN
    );
    let new_phone = SigningKey::from_bytes(&[53; 32]);
    let (status, bound) = bind(&h, rebound["code"].as_str().unwrap(), &new_phone).await;
    assert_eq!(status, StatusCode::CREATED, "{bound}");
    let new_credential = URL_SAFE_NO_PAD
        .decode(bound["credential"].as_str().unwrap())
        .unwrap();
    let answer = verify(&h, &dynamic_url(&new_credential, &new_phone, now(&h))).await;
    assert_eq!(answer["device"], "bound", "{answer}");
    // The old phone's key with the new credential is refused too.
    let mixed = verify(&h, &dynamic_url(&new_credential, &phone, now(&h))).await;
    assert_eq!(mixed["verdict"], "invalid", "{mixed}");

    // Replay gives exactly the live view, and the ledger audits clean.
    let live = h.state.read_view().digest().unwrap();
    h.state.ledger.rebuild_view().unwrap();
    assert_eq!(h.state.read_view().digest().unwrap(), live);
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[tokio::test]
async fn wallet_refusals_name_their_reason() {
    let h = harness().await;
    let (_, vehicle) = h.apply("vehicle", VEHICLE).await;
    let vehicle = vehicle["licence_number"].as_str().unwrap();
    let (status, body) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{vehicle}/wallet/activation"),
            Some(PORTAL),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("no_wallet")),
        "{body}"
    );
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap();
    // Only the portal and officers hand out codes.
    for token in [None, Some(PLATFORM)] {
        let (status, _) = h
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/wallet/activation"),
                token,
                None,
            )
            .await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN);
    }
    let (status, activation) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/wallet/activation"),
            Some(OFFICER),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{activation}");
    let phone = SigningKey::from_bytes(&[61; 32]);
    // The code expires.
    h.clock
        .advance(licreg::registry::wallet::ACTIVATION_TTL_SECONDS + 1);
    let (status, answer) = bind(&h, activation["code"].as_str().unwrap(), &phone).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("activation_expired")),
        "{answer}"
    );
    let (_, activation) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/wallet/activation"),
            Some(PORTAL),
            None,
        )
        .await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"code": "ABCD-EFGH-JKMN", "device_key": URL_SAFE_NO_PAD.encode(phone.verifying_key().as_bytes())}),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            json!({"code": activation["code"], "device_key": "not base64!"}),
            StatusCode::BAD_REQUEST,
            "device_key",
        ),
        (
            json!({"code": activation["code"], "device_key": URL_SAFE_NO_PAD.encode([1; 16])}),
            StatusCode::BAD_REQUEST,
            "device_key",
        ),
        (
            json!({"code": activation["code"]}),
            StatusCode::BAD_REQUEST,
            "device_key",
        ),
    ];
    for (body, want, field) in cases {
        let (status, answer) = h
            .call(Method::POST, "/v1/wallet/bind", None, Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body} → {answer}");
        if !field.is_empty() {
            assert_eq!(answer["field"], field, "{answer}");
        }
    }
    // Five attempts a minute per address: guessing a 60-bit code is hopeless.
    let (status, _) = bind(&h, activation["code"].as_str().unwrap(), &phone).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Rebinding a licence with no phone still makes a code; a portrait without a JPEG is refused.
    let (status, _) = h
        .call(
            Method::POST,
            &format!("/v1/licences/{number}/wallet/rebind"),
            Some(OFFICER),
            Some(json!({"reason": "换手机"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut record: Value = serde_json::from_str(DRIVER).unwrap();
    record["portrait_jpeg"] = STANDARD.encode(b"GIF89a not a jpeg").into();
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/applications",
            Some(PORTAL),
            Some(json!({"kind": "driver", "record": record})),
        )
        .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("portrait_jpeg")),
        "{answer}"
    );
    record["portrait_jpeg"] = STANDARD.encode(vec![0xFF; 41 * 1024]).into();
    let (status, answer) = h
        .call(
            Method::POST,
            "/v1/applications",
            Some(PORTAL),
            Some(json!({"kind": "driver", "record": record})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
}

/// Two phones racing to bind with one code, at once (a barrier), twice over: the writer decides
/// in log order, so exactly one binds and the other is told the code was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_racing_for_one_code_bind_once() {
    let h = std::sync::Arc::new(harness().await);
    let (_, driver) = h.apply("driver", DRIVER).await;
    let number = driver["licence_number"].as_str().unwrap().to_string();
    for round in 0..2u8 {
        let (_, activation) = h
            .call(
                Method::POST,
                &format!("/v1/licences/{number}/wallet/activation"),
                Some(PORTAL),
                None,
            )
            .await;
        let code = activation["code"].as_str().unwrap().to_string();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|phone| {
                let (h, barrier, code) = (h.clone(), barrier.clone(), code.clone());
                tokio::spawn(async move {
                    let key = SigningKey::from_bytes(&[80 + round * 2 + phone; 32]);
                    barrier.wait().await;
                    bind(&h, &code, &key).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            if status != StatusCode::CREATED {
                assert_eq!(body["error"], "activation_used", "{body}");
            }
            statuses.push(status);
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}"
        );
    }
    let report = licreg::ledger::audit(&h.state.ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
