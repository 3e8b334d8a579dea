//! A WebDriver client for headless Chromium (Debian's chromium and chromium-driver), shared by
//! the page tests.

#![allow(dead_code)] // each test binary uses what it needs

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Driver {
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
    pub async fn start() -> Driver {
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

    pub async fn command(&self, path: &str, body: Value) -> Value {
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

    pub async fn open(&self, url: &str) {
        self.command("url", json!({"url": "about:blank"})).await;
        self.command("url", json!({"url": url})).await;
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.command("execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Waits for the page's verdict and returns (state, detail text, time to verdict).
    pub async fn verdict(&self) -> (String, String, Duration) {
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

impl Driver {
    /// Polls `script` until it returns something other than null or false.
    pub async fn wait_for(&self, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script).await;
            if !value.is_null() && value != json!(false) {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out: {script}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Driver {
    /// A WebDriver GET (screenshots, element lookups).
    pub async fn get(&self, path: &str) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let answer: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["value"].clone()
    }

    /// The page as PNG bytes.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.get("screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a screenshot"))
            .unwrap()
    }
}
