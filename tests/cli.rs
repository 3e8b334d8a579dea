//! The `licreg` binary, run as scripts run it.

use std::path::Path;
use std::process::{Command, Output};

fn licreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_licreg"))
        .args(args)
        .output()
        .expect("run licreg")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn demo_issues_three_licences_that_verify_and_audit_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = licreg(&["demo", "--out", path(&out)]);
    assert!(run.status.success(), "{}", text(&run));
    for kind in ["driver", "vehicle", "platform"] {
        for file in [
            "credential.cbor",
            "url.txt",
            "qr.svg",
            "qr.png",
            "receipt.tlog-proof",
        ] {
            assert!(out.join(kind).join(file).is_file(), "{kind}/{file} missing");
        }
        let verify = licreg(&[
            "verify",
            "--keys",
            path(&out),
            path(&out.join(kind).join("credential.cbor")),
        ]);
        assert!(verify.status.success(), "{}", text(&verify));
        assert!(text(&verify).contains("verdict: VALID"));
        let url = std::fs::read_to_string(out.join(kind).join("url.txt")).unwrap();
        let verify = licreg(&["verify", "--keys", path(&out), url.trim()]);
        assert!(verify.status.success(), "{}", text(&verify));
    }
    let audit = licreg(&["log", "--data", path(&out.join("data")), "audit"]);
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(text(&audit).contains("audit: CLEAN"));
    let checkpoint = licreg(&["log", "--data", path(&out.join("data")), "checkpoint"]);
    assert!(
        text(&checkpoint).starts_with("licreg.example/ledger\n3\n"),
        "{}",
        text(&checkpoint)
    );
    let prove = licreg(&["log", "--data", path(&out.join("data")), "prove", "1"]);
    assert!(
        text(&prove).starts_with("c2sp.org/tlog-proof@v1\nextra "),
        "{}",
        text(&prove)
    );
}

#[test]
fn tampered_or_expired_credentials_exit_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(licreg(&["demo", "--out", path(&out)]).status.success());
    let url = std::fs::read_to_string(out.join("driver/url.txt")).unwrap();
    let url = url.trim();
    // Change one digit of the payload.
    let last = url.chars().last().unwrap();
    let changed = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let verify = licreg(&["verify", "--keys", path(&out), &changed]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(text(&verify).contains("INVALID"));
    let later = licreg(&[
        "verify",
        "--keys",
        path(&out),
        "--at",
        "2099-01-01T00:00:00Z",
        url,
    ]);
    assert_eq!(later.status.code(), Some(1));
    assert!(text(&later).contains("expired"), "{}", text(&later));
}

#[test]
fn rotated_keys_still_verify_and_revoked_keys_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(licreg(&["demo", "--out", path(&out)]).status.success());
    let credential = out.join("vehicle/credential.cbor");
    assert!(licreg(&["keygen", "--keys", path(&out)]).status.success());
    let verify = licreg(&["verify", "--keys", path(&out), path(&credential)]);
    assert!(verify.status.success(), "retired key: {}", text(&verify));
    let trust: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("trust-list.json")).unwrap()).unwrap();
    let retired = trust["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["status"] == "retired")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(licreg(&["revoke-key", "--keys", path(&out), &retired])
        .status
        .success());
    let verify = licreg(&["verify", "--keys", path(&out), path(&credential)]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(text(&verify).contains("key_revoked"), "{}", text(&verify));
}

#[test]
fn bad_input_gets_a_message_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    assert!(licreg(&["keygen", "--keys", path(&keys)]).status.success());
    let input = dir.path().join("bad.json");
    std::fs::write(
        &input,
        r#"{"holder_name": "王小明", "citizen_id": "350203199001011234"}"#,
    )
    .unwrap();
    let run = licreg(&[
        "issue",
        "--keys",
        path(&keys),
        "--data",
        path(&dir.path().join("data")),
        "--kind",
        "driver",
        "--input",
        path(&input),
        "--out",
        path(&dir.path().join("out")),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let message = text(&run);
    assert!(
        message.contains("citizen_id") && message.contains("check_character"),
        "{message}"
    );
    assert!(
        message.contains("licence_class") && message.contains("required"),
        "{message}"
    );
    let run = licreg(&["verify", "--keys", path(&keys), "not a credential"]);
    assert_ne!(run.status.code(), Some(0));
    let run = licreg(&["log", "--data", path(&dir.path().join("nowhere")), "audit"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run).contains("no ledger"), "{}", text(&run));
}

#[test]
fn receipts_verify_offline_against_the_log_key_and_required_witnesses() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(licreg(&["demo", "--out", path(&out)]).status.success());
    let receipt = out.join("driver/receipt.tlog-proof");
    let vkey = out.join("log.vkey");
    let run = licreg(&[
        "verify",
        "--receipt",
        path(&receipt),
        "--log-key",
        path(&vkey),
        "--keys",
        path(&out),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("verdict: VALID") && text(&run).contains("driver licence"),
        "{}",
        text(&run)
    );
    // A witness that never cosigned this checkpoint makes the receipt insufficient.
    let witness = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
    let witness_vkey =
        licreg::log::note::VerifierKey::cosignature_v1("witness.example", witness).unwrap();
    let witness_file = dir.path().join("witness.vkey");
    std::fs::write(&witness_file, format!("{witness_vkey}\n")).unwrap();
    let run = licreg(&[
        "verify",
        "--receipt",
        path(&receipt),
        "--log-key",
        path(&vkey),
        "--witness-key",
        path(&witness_file),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    // One changed proof character breaks the inclusion proof.
    let original = std::fs::read_to_string(&receipt).unwrap();
    let index_line = original
        .lines()
        .position(|l| l.starts_with("index "))
        .unwrap();
    let mut lines: Vec<String> = original.split('\n').map(str::to_string).collect();
    let hash_line = &mut lines[index_line + 1];
    if !hash_line.is_empty() {
        let first = if hash_line.starts_with('A') { "B" } else { "A" };
        hash_line.replace_range(0..1, first);
        let tampered = dir.path().join("tampered.tlog-proof");
        std::fs::write(&tampered, lines.join("\n")).unwrap();
        let run = licreg(&[
            "verify",
            "--receipt",
            path(&tampered),
            "--log-key",
            path(&vkey),
        ]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    }
    let run = licreg(&["verify", "--receipt", path(&receipt)]);
    assert_eq!(run.status.code(), Some(2), "--receipt needs --log-key");
}

/// Everything `licreg demo` writes that holds personal data or secrets is private, even under
/// a umask of 000: directories 0700, files 0600; public files (trust list, log key) 0644.
#[cfg(unix)]
#[test]
fn demo_output_is_private_whatever_the_umask() {
    use licreg::private_fs::mode_of;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let script = format!(
        "umask 000; exec '{}' demo --out '{}'",
        env!("CARGO_BIN_EXE_licreg"),
        path(&out)
    );
    let run = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(mode_of(&out).unwrap(), 0o700, "the output dir");
    let mut checked = 0;
    let mut stack = vec![out.join("data"), out.join("driver"), out.join("vehicle")];
    while let Some(dir) = stack.pop() {
        assert_eq!(mode_of(&dir).unwrap(), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                stack.push(entry);
            } else {
                assert_eq!(mode_of(&entry).unwrap(), 0o600, "{}", entry.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} files checked");
    for file in std::fs::read_dir(&out).unwrap() {
        let file = file.unwrap().path();
        if file.is_file() {
            let mode = mode_of(&file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".pem") {
                assert_eq!(mode, 0o600, "{name}");
            } else {
                assert_eq!(mode & 0o022, 0, "{name} is writable by others: {mode:o}");
            }
        }
    }
}

/// `--status-list` checks the list is the credential's kind and this registry's: index 0 of the
/// vehicle list says nothing about index 0 of the driver list.
#[test]
fn a_status_list_of_another_kind_or_registry_is_refused() {
    use licreg::status_list::{self, StatusList};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(licreg(&["demo", "--out", path(&out)]).status.success());
    let signer = licreg::keys::load_credential_signer(&out).unwrap();
    let origin = licreg::keys::load_log_origin(&out).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let list = StatusList::with_capacity_for(Some(1000));
    let write = |name: &str, kind: &str, issuer: &str| {
        let url = format!("https://registry.example/v1/status-lists/{kind}");
        let bytes = status_list::sign(&signer, &list, &url, issuer, now, 300);
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        file
    };
    let credential = out.join("driver/credential.cbor");
    let check = |list: &std::path::Path| {
        licreg(&[
            "verify",
            "--keys",
            path(&out),
            "--status-list",
            path(list),
            path(&credential),
        ])
    };
    // The right list passes both checks and is read (the demo's offline credentials carry no
    // status index, which is the next thing checked).
    let right = check(&write("driver.list", "driver", &origin));
    assert!(
        text(&right).contains("no status-list index"),
        "{}",
        text(&right)
    );
    let other_kind = check(&write("vehicle.list", "vehicle", &origin));
    assert!(!other_kind.status.success(), "{}", text(&other_kind));
    assert!(
        text(&other_kind).contains("not the driver list"),
        "{}",
        text(&other_kind)
    );
    let other_registry = check(&write("foreign.list", "driver", "other.example/log"));
    assert!(
        !other_registry.status.success(),
        "{}",
        text(&other_registry)
    );
    assert!(
        text(&other_registry).contains("published by"),
        "{}",
        text(&other_registry)
    );
}

/// A verifier away from the registry uses the trust list the registry published signed: it is
/// believed only with the log's key, for the log's origin, and until it expires.
#[test]
fn a_signed_trust_list_verifies_with_the_log_key_until_it_expires() {
    use licreg::signed_trust;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    assert!(licreg(&["demo", "--out", path(&out)]).status.success());
    let log_key = licreg::keys::load_log_key(&out).unwrap();
    let trust = licreg::keys::load_trust_list(&out).unwrap();
    let vkey = out.join("log.vkey");
    let issued = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh_at = licreg::clock::rfc3339(issued + 60);
    let stale_at = licreg::clock::rfc3339(issued + signed_trust::TRUST_LIST_VALIDITY_SECONDS + 60);
    let write = |name: &str, bytes: Vec<u8>| {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        file
    };
    let good = write(
        "good.cose",
        signed_trust::sign(&log_key.key, &log_key.origin, &trust, issued),
    );
    let credential = out.join("vehicle/credential.cbor");
    let check = |list: &Path, at: &str| {
        licreg(&[
            "verify",
            "--trust-list",
            path(list),
            "--log-key",
            path(&vkey),
            "--at",
            at,
            path(&credential),
        ])
    };
    let fresh = check(&good, &fresh_at);
    assert!(fresh.status.success(), "{}", text(&fresh));
    assert!(text(&fresh).contains("verdict: VALID"), "{}", text(&fresh));

    let stale = check(&good, &stale_at);
    assert!(!stale.status.success(), "{}", text(&stale));
    assert!(text(&stale).contains("expired"), "{}", text(&stale));

    let foreign_key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let forged = write(
        "forged.cose",
        signed_trust::sign(&foreign_key, &log_key.origin, &trust, issued),
    );
    let run = check(&forged, &fresh_at);
    assert!(!run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("not signed by this log"),
        "{}",
        text(&run)
    );

    let other_origin = write(
        "other.cose",
        signed_trust::sign(&log_key.key, "other.example/log", &trust, issued),
    );
    let run = check(&other_origin, &fresh_at);
    assert!(!run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("issued by"), "{}", text(&run));

    let unsigned = write("plain.json", trust.to_json().into_bytes());
    let run = check(&unsigned, &fresh_at);
    assert!(!run.status.success(), "{}", text(&run));

    let without_key = licreg(&["verify", "--trust-list", path(&good), path(&credential)]);
    assert!(!without_key.status.success());
    assert!(
        text(&without_key).contains("--log-key"),
        "{}",
        text(&without_key)
    );
}

/// A wallet's dynamic code checked offline with an explicit clock: valid while fresh, refused as
/// stale once 90 s have passed, refused when another phone signed it.
#[test]
fn dynamic_codes_verify_offline_with_an_explicit_clock() {
    use ed25519_dalek::SigningKey;
    use licreg::credential::{Claims, DeviceKey};
    use licreg::presentation::Presentation;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let run = licreg(&["demo", "--out", path(&out)]);
    assert!(run.status.success(), "{}", text(&run));
    let signer = licreg::keys::load_credential_signer(&out).unwrap();
    let static_credential = std::fs::read(out.join("driver/credential.cbor")).unwrap();
    let mut claims =
        Claims::decode(&licreg::cose::decode(&static_credential).unwrap().payload).unwrap();
    let phone = SigningKey::from_bytes(&[71; 32]);
    claims.device_key = Some(DeviceKey::from_bytes(phone.verifying_key().as_bytes()).unwrap());
    claims.status_index = None;
    let bound = licreg::credential::issue(&signer, &claims);
    let at = claims.issued_at + 3_600;
    let url = licreg::qr::dynamic_url(
        "https://wyc.jtysj.xm.gov.cn",
        &Presentation::sign(&bound, &phone, at).encode(),
    );
    let clock = |seconds: i64| licreg::clock::rfc3339(at - at % 30 + seconds);
    let fresh = licreg(&["verify", "--keys", path(&out), "--at", &clock(20), &url]);
    assert!(fresh.status.success(), "{}", text(&fresh));
    assert!(text(&fresh).contains("device: bound"), "{}", text(&fresh));
    let stale = licreg(&["verify", "--keys", path(&out), "--at", &clock(91), &url]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(text(&stale).contains("INVALID (stale)"), "{}", text(&stale));
    let thief = SigningKey::from_bytes(&[72; 32]);
    let forged = licreg::qr::dynamic_url(
        "https://wyc.jtysj.xm.gov.cn",
        &Presentation::sign(&bound, &thief, at).encode(),
    );
    let refused = licreg(&["verify", "--keys", path(&out), "--at", &clock(20), &forged]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("bad_device_signature"),
        "{}",
        text(&refused)
    );
    // The static driver code still verifies, and says what it does not prove.
    let plain = licreg(&[
        "verify",
        "--keys",
        path(&out),
        path(&out.join("driver/credential.cbor")),
    ]);
    assert!(
        text(&plain).contains("device: not bound"),
        "{}",
        text(&plain)
    );
}
