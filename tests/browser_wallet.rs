//! The driver's wallet and the passenger page in headless Chromium against the real binary:
//! activate the wallet with the portal's code, read its dynamic QR code back with zbarimg, scan
//! it on the passenger page (green, with the portrait), move the page's clock past 90 s (amber),
//! rebind (the old phone's fresh code goes red), show the wallet offline from its service worker,
//! and render the in-car card in Chromium for zbarimg. `.ci/run` installs chromium,
//! chromium-driver and zbar-tools.

#[path = "common/process.rs"]
mod process;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use process::{free_port, wait_healthy, Proc};
use serde_json::{json, Value};
use webdriver::Driver;

const BIN: &str = env!("CARGO_BIN_EXE_licreg");

/// Reads the QR code in a PNG with ZBar, as a phone's camera would.
fn zbar(png: &Path) -> String {
    let out = Command::new("zbarimg")
        // Only QR symbols: a page screenshot can hold digit runs zbar would read as a linear
        // barcode (a CI run once decoded a second "998162" under the wallet code).
        .args([
            "--quiet",
            "--raw",
            "-Sdisable",
            "-Sqrcode.enable",
            png.to_str().unwrap(),
        ])
        .output()
        .expect("zbarimg (apt-get install zbar-tools)");
    assert!(
        out.status.success(),
        "zbarimg found no code in {}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn verify_again(browser: &Driver) -> String {
    let state = browser
        .command(
            "execute/async",
            json!({"script": "const done = arguments[arguments.length - 1]; \
                   licregVerify().then(() => done(document.getElementById('verdict').dataset.state));",
                   "args": []}),
        )
        .await;
    state.as_str().unwrap_or_default().to_string()
}

async fn body_text(browser: &Driver) -> String {
    browser
        .eval("return document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_code_is_green_fresh_amber_stale_and_red_after_a_rebind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Proc(
        Command::new(BIN)
            .args([
                "serve",
                "--demo",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data",
            ])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    wait_healthy(&http, &base).await;
    let tokens: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let portal = &tokens["portal"];

    // The demo's driver applied with a portrait; the portal asks for a wallet activation code.
    let officer = &tokens["officer"];
    let events: Value = http
        .get(format!("{base}/v1/events"))
        .bearer_auth(officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "driver" && e["change"] == "issued")
        .and_then(|e| e["number"].as_str())
        .unwrap_or_else(|| panic!("no valid demo driver: {events}"))
        .to_string();
    let issued: Value = http
        .get(format!("{base}/v1/licences/{number}"))
        .bearer_auth(officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let activation: Value = http
        .post(format!("{base}/v1/licences/{number}/wallet/activation"))
        .bearer_auth(portal)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let activation_url = activation["wallet_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no activation: {activation}"))
        .to_string();

    // The holder opens the activation link (the code fills in) and activates.
    let browser = Driver::start().await;
    browser
        .command("window/rect", json!({"width": 600, "height": 1400}))
        .await;
    browser.open(&activation_url).await;
    browser
        .wait_for("return document.getElementById('code').value || null")
        .await;
    browser
        .eval("document.getElementById('activateButton').click(); return 1")
        .await;
    let url = browser
        .wait_for("return document.getElementById('qr').dataset.url || null")
        .await;
    let url = url.as_str().unwrap().to_string();
    let version = browser
        .eval("return Number(document.getElementById('qr').dataset.version)")
        .await;
    assert!(
        version.as_u64().is_some_and(|v| v <= 12),
        "the wallet drew version {version}"
    );
    let wallet_text = body_text(&browser).await;
    assert!(wallet_text.contains("网约车驾驶员电子证"), "{wallet_text}");
    // What the wallet drew is what a camera reads.
    let png = dir.path().join("wallet.png");
    std::fs::write(&png, browser.screenshot_png().await).unwrap();
    let scanned = zbar(&png);
    assert_eq!(scanned, url, "zbarimg reads the wallet's code");
    println!(
        "wallet code: QR version {version}, {} characters",
        url.len()
    );

    // The passenger scans it: green, bound to the phone, with the holder's portrait.
    browser.open(&scanned).await;
    let (state, text, took) = browser.verdict().await;
    assert_eq!(state, "green", "{text}");
    assert!(text.contains("已绑定司机手机"), "{text}");
    let width = browser
        .wait_for(
            "const i = document.getElementById('portrait'); \
             return (!i.hidden && i.complete && i.naturalWidth > 0) ? i.naturalWidth : null",
        )
        .await;
    assert_eq!(width, 96, "the portrait is shown after a fresh code");
    println!("dynamic code verified in {took:?}");

    // The same code 95 s later (a screenshot): amber, ask the driver to refresh, no portrait.
    browser
        .eval("window.licregClockOffsetMs = 95000; return 1")
        .await;
    assert_eq!(verify_again(&browser).await, "amber");
    let text = body_text(&browser).await;
    assert!(text.contains("二维码已过期，请司机刷新"), "{text}");
    let hidden = browser
        .eval("return document.getElementById('portrait').hidden")
        .await;
    assert_eq!(hidden, true, "no portrait for a stale code");
    browser
        .eval("document.getElementById('lang').click(); return 1")
        .await;
    let text = body_text(&browser).await;
    assert!(
        text.contains("Code expired: ask the driver to refresh"),
        "{text}"
    );
    browser
        .eval("document.getElementById('lang').click(); return 1")
        .await;

    // The phone is lost: the portal rebinds. The old phone's newest code is red.
    let rebound = http
        .post(format!("{base}/v1/licences/{number}/wallet/rebind"))
        .bearer_auth(portal)
        .json(&json!({"reason": "手机丢失"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 201);
    browser.open(&format!("{base}/wallet")).await;
    browser
        .wait_for("return document.getElementById('qr').dataset.url || null")
        .await;
    let fresh_old = browser
        .command(
            "execute/async",
            json!({"script": "const done = arguments[arguments.length - 1]; licregWallet.drawCode().then(done);",
                   "args": []}),
        )
        .await;
    browser.open(fresh_old.as_str().unwrap()).await;
    let (state, text, _) = browser.verdict().await;
    assert_eq!(state, "red", "{text}");
    assert!(text.contains("此手机的绑定已撤销"), "{text}");

    // The printed code (static) still verifies, and says it is not bound to a phone.
    browser
        .open(issued["verification_url"].as_str().unwrap())
        .await;
    let (state, text, _) = browser.verdict().await;
    assert_eq!(state, "green", "{text}");
    assert!(text.contains("未绑定手机"), "{text}");

    // Offline after the first visit: with the registry stopped, the wallet still shows a code.
    browser.open(&format!("{base}/wallet")).await;
    browser
        .wait_for("return navigator.serviceWorker.controller ? 1 : null")
        .await;
    drop(server);
    browser.open(&format!("{base}/wallet")).await;
    let offline = browser
        .wait_for("return document.getElementById('qr').dataset.url || null")
        .await;
    assert!(
        offline.as_str().unwrap().contains("#"),
        "the wallet drew a code offline: {offline}"
    );

    // The in-car card, rendered by Chromium: its code reads back as the licence's URL.
    let svg = dir.path().join("card.svg");
    let card = Command::new(BIN)
        .args([
            "card",
            "--base-url",
            &base,
            "--data",
            data.join("ledger").to_str().unwrap(),
            "--out",
        ])
        .arg(&svg)
        .arg(&number)
        .output()
        .unwrap();
    assert!(
        card.status.success(),
        "{}",
        String::from_utf8_lossy(&card.stderr)
    );
    browser
        .command("window/rect", json!({"width": 1000, "height": 1400}))
        .await;
    browser.open(&format!("file://{}", svg.display())).await;
    let png = dir.path().join("card-chromium.png");
    std::fs::write(&png, browser.screenshot_png().await).unwrap();
    assert_eq!(
        zbar(&png),
        issued["verification_url"].as_str().unwrap(),
        "the card as Chromium draws it scans to the licence"
    );
}
