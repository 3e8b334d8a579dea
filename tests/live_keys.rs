//! Key changes reach the running service: `licreg revoke-key` while it runs makes `/v1/keys`
//! say revoked, `/v1/verify` call the key's credentials invalid, and the service stop signing
//! with it; `licreg keygen` brings a new key into use, all within seconds and without a restart.

#[path = "common/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use process::{free_port, wait_healthy, Proc};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");

fn licreg(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `check` every 100 ms for up to 10 s.
async fn within_seconds<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{what} after {:?}", started.elapsed());
}

#[tokio::test]
async fn revoking_and_adding_keys_takes_effect_while_the_service_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
        ])
        .arg(&data)
        .env("RUST_LOG", "warn,licreg::service::boot=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let _server = Proc(child);
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let tokens: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let (officer, portal) = (&tokens["officer"], &tokens["portal"]);
    let keys = get(&client, format!("{base}/v1/keys"), officer).await;
    let kid = keys["keys"][0]["kid"].as_str().unwrap().to_string();
    let events = get(&client, format!("{base}/v1/events"), officer).await;
    let number = events["events"][0]["number"].as_str().unwrap().to_string();
    let record = get(&client, format!("{base}/v1/licences/{number}"), officer).await;
    let credential = record["credential"].as_str().unwrap().to_string();
    let verify = || {
        let client = client.clone();
        let (url, officer, credential) = (
            format!("{base}/v1/verify"),
            officer.clone(),
            credential.clone(),
        );
        async move {
            let answer: Value = client
                .post(url)
                .bearer_auth(officer)
                .json(&json!({"items": [credential]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["results"][0]["verdict"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    assert_eq!(verify().await, "valid");

    let keys_dir = data.join("keys");
    let revoked = licreg(&["revoke-key", "--keys", keys_dir.to_str().unwrap(), &kid]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    within_seconds("the trust list says revoked", || async {
        let keys = get(&client, format!("{base}/v1/keys"), officer).await;
        keys["keys"][0]["status"] == "revoked"
    })
    .await;
    within_seconds("its credentials verify as invalid", || async {
        verify().await == "invalid"
    })
    .await;
    // The signed trust list says the same, checked with the log key as a verifier would.
    let vkey_text = client
        .get(format!("{base}/v1/log-key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let vkey: licreg::log::note::VerifierKey = vkey_text.trim().parse().unwrap();
    let signed = client
        .get(format!("{base}/v1/keys/signed"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed.headers()["content-type"],
        licreg::signed_trust::CONTENT_TYPE
    );
    let signed = signed.bytes().await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let checked =
        licreg::signed_trust::verify(&signed, vkey.public_key(), vkey.name(), now, 300).unwrap();
    assert_eq!(
        checked.trust.keys()[0].status,
        licreg::keys::KeyStatus::Revoked
    );
    assert_eq!(
        checked.valid_until,
        checked.issued_at + licreg::signed_trust::TRUST_LIST_VALIDITY_SECONDS
    );
    let reissue = format!("{base}/v1/licences/{number}/reissue");
    let refused = client
        .post(&reissue)
        .bearer_auth(portal)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        503,
        "nothing is signed with a revoked key"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");

    let added = licreg(&["keygen", "--keys", keys_dir.to_str().unwrap()]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // SIGHUP reloads at once, without waiting for the poll.
    let hup = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(hup.success());
    within_seconds("SIGHUP is heard", || async {
        std::fs::read_to_string(dir.path().join("serve.log"))
            .unwrap()
            .contains("SIGHUP: reloading the keys")
    })
    .await;
    within_seconds("a new key signs", || async {
        client
            .post(&reissue)
            .bearer_auth(portal)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    })
    .await;
    let keys = get(&client, format!("{base}/v1/keys"), officer).await;
    let active: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "active")
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(active.len(), 1);
    assert_ne!(active[0], kid);
}

/// Key ids are base64url and may start with '-': `revoke-key` takes one as written.
#[test]
fn a_key_id_starting_with_a_dash_is_an_argument_not_an_option() {
    let root = tempfile::tempdir().unwrap();
    // About one key id in 64 starts with '-'; 1,000 tries miss with odds of 1e-7.
    let found = (0..1000).find_map(|i| {
        let dir = root.path().join(i.to_string());
        let report = licreg::keys::keygen(&dir, "test.example/log", 1_700_000_000).unwrap();
        let kid = report.new_kid.to_string();
        kid.starts_with('-').then_some((dir, kid))
    });
    let (dir, kid) = found.expect("a key id starting with '-'");
    let out = licreg(&["revoke-key", "--keys", dir.to_str().unwrap(), &kid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trust = licreg::keys::load_trust_list(&dir).unwrap();
    assert!(trust
        .resolve(
            &licreg::keys::KeyId::from_b64url(&kid).unwrap().as_bytes()[..],
            1_700_000_000
        )
        .is_err());
}
