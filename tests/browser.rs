//! The passenger page in headless Chromium, driven over WebDriver (chromedriver): what a phone
//! shows for a genuine credential, a changed one, a revoked one, and when status is unreachable.
//! `.ci/run` installs Debian's chromium and chromium-driver.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use licreg::agency::AgencyClient;
use licreg::clock::SystemClock;
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::ledger::Ledger;
use licreg::rules::Policy;
use licreg::service::auth::TokenHash;
use licreg::service::{self, boot, AppState, Clients, Role, StateParts};
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: apt-get install chromium chromium-driver (.ci/run does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn command(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let answer: Value = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("url", json!({"url": "about:blank"})).await;
        self.command("url", json!({"url": url})).await;
    }

    async fn eval(&self, script: &str) -> Value {
        self.command("execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Waits for the page's verdict and returns (state, detail text, time to verdict).
    async fn verdict(&self) -> (String, String, Duration) {
        let started = Instant::now();
        loop {
            let state = self
                .eval("return document.getElementById('verdict').dataset.state")
                .await;
            if let Some(state) = state.as_str().filter(|s| *s != "checking") {
                let detail = self.eval("return document.body.innerText").await;
                return (
                    state.to_string(),
                    detail.as_str().unwrap_or_default().to_string(),
                    started.elapsed(),
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no verdict: {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn registry() -> (AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log_key = LogKey {
        origin: "browser.example/ledger".into(),
        key: SigningKey::from_bytes(&[7; 32]),
    };
    let ledger = Ledger::open(dir.path(), Some(log_key), Arc::new(SystemClock)).unwrap();
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
        agencies: boot::start_demo_agencies().await.unwrap(),
        agency_client: AgencyClient::new(Duration::from_secs(2), 1),
        clock: Arc::new(SystemClock),
        public_base_url: base.clone(),
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
    let (_state, base, _dir) = registry().await;
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
        .json(&json!({"reason": "酒后驾驶 drink driving"}))
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
    results.insert("changed", took);

    browser
        .open(driver["verification_url"].as_str().unwrap())
        .await;
    let (state, text, took) = browser.verdict().await;
    assert_eq!(state, "red", "{text}");
    assert!(
        text.contains("drink driving"),
        "the reason is shown: {text}"
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
