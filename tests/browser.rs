//! The passenger page in headless Chromium, driven over WebDriver (chromedriver): what a phone
//! shows for a genuine credential, a changed one, a revoked one, and when status is unreachable.
//! `.ci/run` installs Debian's chromium and chromium-driver.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ed25519_dalek::SigningKey;
use licreg::agency::AgencyClient;
use licreg::clock::{Clock, SystemClock};
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::rules::Policy;
use licreg::service::auth::TokenHash;
use licreg::service::{self, boot, AppState, Clients, Role, StateParts};
use licreg::signed_trust;
use serde_json::{json, Value};

#[path = "common/webdriver.rs"]
mod webdriver;
use webdriver::Driver;

const ORIGIN: &str = "browser.example/ledger";

async fn registry() -> (AppState, String, tempfile::TempDir) {
    let agencies = boot::start_demo_agencies().await.unwrap();
    registry_with(Arc::new(SystemClock), agencies).await
}

async fn registry_with(
    clock: Arc<dyn licreg::clock::Clock>,
    agencies: BTreeMap<String, String>,
) -> (AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log_key = LogKey {
        origin: ORIGIN.into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    let ledger = licreg::registry::open_ledger(dir.path(), Some(log_key), clock.clone()).unwrap();
    let key = SigningKey::from_bytes(&[8; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key,
    };
    let trust = TrustList::with_active(&signer);
    let mut clients = Clients::default();
    clients.add(Role::Portal, TokenHash::of("portal"));
    clients.add(Role::Officer, TokenHash::of("officer"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(StateParts {
        ledger,
        clients,
        signer,
        trust,
        policy: Policy::parse(boot::NATIONAL_POLICY).unwrap(),
        agencies,
        agency_client: AgencyClient::new(Duration::from_secs(2), 1),
        clock,
        public_base_url: base.clone(),
        public_requests_per_second: None,
        limits: Default::default(),
        keys_dir: None,
        portraits_dir: Some(dir.path().join("portraits")),
    })
    .unwrap();
    let app = service::app(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    (state, base, dir)
}

async fn issue(http: &reqwest::Client, base: &str, kind: &str, example: &str) -> Value {
    let mut record: Value = serde_json::from_str(example).unwrap();
    record.as_object_mut().unwrap().remove("valid_from");
    record.as_object_mut().unwrap().remove("valid_until");
    http.post(format!("{base}/v1/applications?wait=true"))
        .bearer_auth("portal")
        .json(&json!({"kind": kind, "record": record}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passenger_page_shows_the_right_verdict() {
    let (registry_state, base, _dir) = registry().await;
    let http = reqwest::Client::new();
    let vehicle = issue(
        &http,
        &base,
        "vehicle",
        include_str!("../schemas/examples/vehicle.json"),
    )
    .await;
    let driver = issue(
        &http,
        &base,
        "driver",
        include_str!("../schemas/examples/driver.json"),
    )
    .await;
    let driver_number = driver["licence_number"].as_str().unwrap();
    let revoked = http
        .post(format!("{base}/v1/licences/{driver_number}/revoke"))
        .bearer_auth("officer")
        .json(
            &json!({"reason": "酒后驾驶 drink driving, 35020319900101123X", "category": "safety"}),
        )
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let browser = Driver::start().await;
    let mut results = BTreeMap::new();

    let genuine = vehicle["verification_url"].as_str().unwrap().to_string();
    browser.open(&genuine).await;
    let (state, text, took) = browser.verdict().await;
    assert_eq!(state, "green", "{text}");
    assert!(
        text.contains("闽DD12345") && text.contains("比亚迪") && text.contains("有效"),
        "{text}"
    );
    assert!(
        text.contains("厦门市交通运输局"),
        "the issuing authority by name: {text}"
    );
    results.insert("genuine", took);
    browser
        .eval("document.getElementById('lang').click(); return 1")
        .await;
    let english = browser
        .eval("return document.getElementById('verdict').textContent")
        .await;
    assert_eq!(english, "VALID");

    let (head, payload) = genuine.split_once('#').unwrap();
    let mut digits: Vec<char> = payload.chars().collect();
    let at = digits.len() - 40;
    digits[at] = if digits[at] == '1' { '2' } else { '1' };
    let changed = format!("{head}#{}", digits.into_iter().collect::<String>());
    browser.open(&changed).await;
    let (state, text, took) = browser.verdict().await;
    assert_eq!(state, "red", "one changed character: {text}");
    assert!(
        !text.contains("闽DD12345") && !text.contains("比亚迪"),
        "a forged credential's fields are not presented as facts: {text}"
    );
    results.insert("changed", took);

    browser
        .open(driver["verification_url"].as_str().unwrap())
        .await;
    let (state, text, took) = browser.verdict().await;
    assert_eq!(state, "red", "{text}");
    // The public sees the reason's category, never the officer's words.
    assert!(
        text.contains("安全原因") || text.contains("safety"),
        "the reason category is shown: {text}"
    );
    assert!(
        !text.contains("drink driving") && !text.contains("35020319900101123X"),
        "the officer's free text stays private: {text}"
    );
    results.insert("revoked", took);

    // Status unreachable: the signature still checks, and the page says status is unknown.
    browser.open(&genuine).await;
    browser.verdict().await;
    let state = browser
        .command(
            "execute/async",
            json!({"script": "const done = arguments[arguments.length - 1]; \
                   licregVerify('http://127.0.0.1:9').then(() => done(document.getElementById('verdict').dataset.state));",
                   "args": []}),
        )
        .await;
    assert_eq!(state, "amber");

    // Offline, the page relies on the signed trust list it cached, only while it verifies
    // with the log key and has not expired; an expired or forged copy says nothing.
    let offline = "const done = arguments[arguments.length - 1]; \
        if (arguments[0]) localStorage.setItem('licreg.trust', arguments[0]); \
        const real = window.fetch; \
        window.fetch = (u, o) => String(u).includes('/v1/keys') ? Promise.reject(new Error('offline')) : real(u, o); \
        licregVerify().then(() => done(document.getElementById('verdict').dataset.state));";
    browser.open(&genuine).await;
    browser.verdict().await;
    let state = browser
        .command("execute/async", json!({"script": offline, "args": [null]}))
        .await;
    assert_eq!(state, "green", "the cached signed list verifies offline");
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemClock.now_unix();
    let log_key = SigningKey::from_bytes(&[7; 32]);
    let trust = registry_state.keys.trust();
    let expired = signed_trust::sign(&log_key, ORIGIN, &trust, now - 25 * 3600);
    let forged = signed_trust::sign(&SigningKey::from_bytes(&[9; 32]), ORIGIN, &trust, now);
    for (what, list) in [("expired", expired), ("forged", forged)] {
        browser.open(&genuine).await;
        browser.verdict().await;
        let state = browser
            .command(
                "execute/async",
                json!({"script": offline, "args": [b64(list)]}),
            )
            .await;
        assert_eq!(
            state, "amber",
            "an {what} cached trust list is refused offline"
        );
    }
    // A key verifies only credentials issued inside its window, as on the server: the same
    // key, listed (and signed by the log key) as valid only from tomorrow, does not make today's
    // credential genuine.
    let later: Vec<licreg::keys::TrustedKey> = trust
        .keys()
        .iter()
        .map(|k| licreg::keys::TrustedKey {
            not_before: now + 86_400,
            ..k.clone()
        })
        .collect();
    let later = signed_trust::sign(&log_key, ORIGIN, &TrustList::from_keys(later), now);
    browser.open(&genuine).await;
    browser.verdict().await;
    let state = browser
        .command(
            "execute/async",
            json!({"script": offline, "args": [b64(later)]}),
        )
        .await;
    assert_eq!(state, "red", "a credential issued before its key's window");
    let page = http
        .get(format!("{base}/v"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    println!(
        "page weight: {} bytes; time to verdict: {results:?}",
        page.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_see_the_queue_lights_and_the_dashboard() {
    // 2026-11-23T04:00:00Z; the test moves this clock to age applications.
    let clock = licreg::clock::FixedClock::at(1_795_406_400);
    let mut agencies = boot::start_demo_agencies().await.unwrap();
    // Two agencies never answer, so driver and platform applications wait for them.
    for silent in ["traffic_police", "provincial_transport"] {
        agencies.insert(silent.into(), "http://127.0.0.1:9".into());
    }
    let (_state, base, _dir) = registry_with(Arc::new(clock.clone()), agencies).await;
    let http = reqwest::Client::new();
    let examples =
        |name: &str| std::fs::read_to_string(format!("schemas/examples/{name}.json")).unwrap();
    assert_eq!(
        issue(&http, &base, "vehicle", &examples("vehicle")).await["status"],
        "issued"
    );
    let late = issue(&http, &base, "driver", &examples("driver")).await;
    clock.advance(24 * 3600 + 10 * 60);
    let nearly = issue(&http, &base, "driver", &examples("driver-refused")).await;
    clock.advance(50 * 60);
    let fresh = issue(&http, &base, "platform", &examples("platform")).await;

    let browser = Driver::start().await;
    browser.open(&format!("{base}/officer")).await;
    browser
        .wait_for("return location.pathname === '/officer/login'")
        .await;
    browser
        .eval("document.querySelector('input[name=token]').value = 'officer'; document.getElementById('login').submit(); return 1")
        .await;
    browser
        .wait_for("return location.pathname === '/officer' && document.getElementById('open')")
        .await;
    let colour = |id: &str| {
        format!(
            "const row = document.querySelector('tr[data-id=\"{id}\"] .light'); \
             return row && [row.dataset.light, getComputedStyle(row.querySelector('i')).backgroundColor];"
        )
    };
    let expected = [
        (&late, "red", "rgb(220, 38, 38)"),
        (&nearly, "yellow", "rgb(245, 166, 35)"),
        (&fresh, "green", "rgb(0, 168, 84)"),
    ];
    for (application, light, rgb) in expected {
        let id = application["id"].as_str().unwrap();
        let seen = browser.wait_for(&colour(id)).await;
        assert_eq!(seen, json!([light, rgb]), "application {id}");
    }
    // Red first: the late application heads the queue.
    let first = browser
        .eval("return document.querySelector('#open tr[data-id]').dataset.id")
        .await;
    assert_eq!(first, late["id"]);

    browser.open(&format!("{base}/officer/dashboard")).await;
    let bars = browser
        .wait_for(
            "const bars = [...document.querySelectorAll('#chart-months rect.bar')]; \
             return bars.length && bars.map(b => [b.dataset.series, +b.dataset.value, Math.round(b.getBBox().height)]);",
        )
        .await;
    let bars: Vec<(String, u64, u64)> = serde_json::from_value(bars).unwrap();
    let received = bars.iter().find(|b| b.0.starts_with("收件")).unwrap();
    let issued = bars.iter().find(|b| b.0.starts_with("发证")).unwrap();
    assert_eq!((received.1, issued.1), (4, 1), "{bars:?}");
    // Drawn to scale: the tallest bar fills the plot, one issued of four received is a quarter.
    assert_eq!(received.2, 192, "{bars:?}");
    assert_eq!(issued.2, 48, "{bars:?}");
    let red = browser
        .eval("return document.querySelector('#overdue tr[data-kind=driver]').innerText")
        .await;
    assert!(red.as_str().unwrap().contains('1'), "{red}");
    let width = browser
        .eval("return document.getElementById('chart-months').getBoundingClientRect().width")
        .await;
    assert!(
        width.as_f64().unwrap() > 300.0,
        "the chart is drawn: {width}"
    );
}
