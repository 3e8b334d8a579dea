//! Work in flight survives a crash: an application whose agency never answered before the
//! service was SIGKILLed has its checks started again at the next start, and each agency's
//! answer is logged once.

#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use licreg::service::auth::TokenHash;
use process::{free_port, wait_healthy, Proc};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");
const PORTAL: &str = "resume-portal-token";

fn agency_sim(agency: &str) -> (Proc, String) {
    let port = free_port();
    let records = format!(
        "{}/schemas/examples/agencies/{agency}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let child = Command::new(BIN)
        .args(["agency-sim", "--records", &records, "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Proc(child), format!("http://127.0.0.1:{port}"))
}

fn config(dir: &Path, port: u16, public_security: &str, others: &[(&str, String)]) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:{port}\"\nagency_timeout_ms = 60000\nagency_retries = 0\n\n\
         [[clients]]\nrole = \"portal\"\ntoken_sha256 = \"{}\"\n\n[agencies]\npublic_security = \"{public_security}\"\n",
        TokenHash::of(PORTAL).to_hex()
    );
    for (name, url) in others {
        text.push_str(&format!("{name} = \"{url}\"\n"));
    }
    let path = dir.join("licreg.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn serve(config: &str, data: &Path) -> Proc {
    let child = Command::new(BIN)
        .args(["serve", "--config", config, "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

async fn application(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/v1/applications/{id}"))
        .bearer_auth(PORTAL)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_application_whose_agency_never_answered_resumes_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let (_traffic, traffic_url) = agency_sim("traffic_police");
    let (_exam, exam_url) = agency_sim("exam_centre");
    wait_healthy(&client, &traffic_url).await;
    wait_healthy(&client, &exam_url).await;
    let others = [("traffic_police", traffic_url), ("exam_centre", exam_url)];
    // Public security accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let first = config(dir.path(), port, &silent_url, &others);
    let mut server = serve(&first, &data);
    wait_healthy(&client, &base).await;

    let mut record: Value =
        serde_json::from_str(include_str!("../schemas/examples/driver.json")).unwrap();
    record.as_object_mut().unwrap().remove("valid_from");
    record.as_object_mut().unwrap().remove("valid_until");
    let submitted: Value = client
        .post(format!("{base}/v1/applications"))
        .bearer_auth(PORTAL)
        .json(&json!({"kind": "driver", "record": record}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = submitted["id"].as_str().unwrap().to_string();
    assert_eq!(submitted["status"], "checking", "{submitted}");
    // Let the calls go out; public security hangs.
    let (_held, _) = silent.accept().unwrap();
    server.0.kill().unwrap();
    server.0.wait().unwrap();

    // Restart with public security answering: the checks resume and the licence is issued.
    let (_police, police_url) = agency_sim("public_security");
    wait_healthy(&client, &police_url).await;
    let second = config(dir.path(), port, &police_url, &others);
    let _server = serve(&second, &data);
    wait_healthy(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let app = loop {
        let app = application(&client, &base, &id).await;
        if app["status"] != "checking" || Instant::now() > deadline {
            break app;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(app["status"], "issued", "{app}");
    let answers: Vec<&str> = app["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["event"] == "agency_answer")
        .filter_map(|s| s["detail"].as_str())
        .collect();
    assert_eq!(answers.len(), 3, "each agency answered once: {answers:?}");
    for agency in ["public_security", "traffic_police", "exam_centre"] {
        assert_eq!(
            answers.iter().filter(|d| d.starts_with(agency)).count(),
            1,
            "{agency}: {answers:?}"
        );
    }
}
