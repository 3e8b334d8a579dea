//! The log published as static tlog-tiles: to a directory (served by a plain static server) and
//! to an S3-compatible bucket (moto's server on loopback; `.ci/run` installs it), then read back
//! by `licreg mirror` and by an independent tiles client (`tests/interop/tiles_client.py`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use licreg::clock::SystemClock;
use licreg::keys::LogKey;
use licreg::ledger::{EventType, Ledger, NewEntry, Subject, SubjectKind};
use licreg::publish::{PublishError, Publisher, CHECKPOINT_CACHE_CONTROL, TILE_CACHE_CONTROL};

const ORIGIN: &str = "publish.example/log";

fn log_key() -> LogKey {
    LogKey {
        origin: ORIGIN.into(),
        key: SigningKey::from_bytes(&[11; 32]),
    }
}

/// Appends `count` entries, 50 per append (under the ledger's per-append limit).
fn append(ledger: &Ledger, from: u64, count: u64) {
    let all: Vec<u64> = (from..from + count).collect();
    for chunk in all.chunks(50) {
        let entries = chunk
            .iter()
            .map(|i| NewEntry {
                event: EventType::Application,
                actor: "test".into(),
                subjects: vec![Subject::new(SubjectKind::Application, format!("A{i}"))],
                body: vec![0xA0],
            })
            .collect();
        ledger.append_all(entries).unwrap();
    }
}

fn licreg(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_licreg"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run licreg")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A static file server over `root`, as nginx or a CDN would be: it knows nothing of licreg.
async fn static_server(root: PathBuf) -> String {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    async fn file(
        State(root): State<PathBuf>,
        UrlPath(path): UrlPath<String>,
    ) -> impl IntoResponse {
        if path.split('/').any(|part| part == "..") {
            return Err(StatusCode::BAD_REQUEST);
        }
        std::fs::read(root.join(path)).map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::get(file))
        .with_state(root);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn mirror_verifies(from: &str, vkey: &Path, out: &Path) {
    let mirror = licreg(
        &[
            "mirror",
            "--from",
            from,
            "--data",
            out.to_str().unwrap(),
            "--log-key",
            vkey.to_str().unwrap(),
            "--once",
        ],
        &[],
    );
    assert!(mirror.status.success(), "{}", text(&mirror));
}

fn tiles_client_verifies(from: &str, vkey: &Path, size: u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/tiles_client.py");
    let run = Command::new("python3")
        .arg(script)
        .arg(from)
        .arg(vkey)
        .output()
        .expect("python3");
    let said = text(&run);
    assert!(run.status.success(), "{said}");
    assert!(said.contains(&format!("size {size}")), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_receives_tiles_once_and_serves_mirrors_and_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(
        &dir.path().join("ledger"),
        Some(log_key()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let vkey = dir.path().join("log.vkey");
    std::fs::write(&vkey, format!("{}\n", ledger.verifier_key())).unwrap();
    let public = dir.path().join("public");
    let private = dir.path().join("private");
    let target = public.to_str().unwrap().to_string();
    let bundles = private.to_str().unwrap().to_string();
    assert!(matches!(
        Publisher::open(&target, Some(&target), ledger.verifier_key().clone()),
        Err(PublishError::BadTarget(_))
    ));
    let publisher =
        Publisher::open(&target, Some(&bundles), ledger.verifier_key().clone()).unwrap();

    append(&ledger, 0, 300);
    let first = publisher.publish(&ledger).await.unwrap();
    assert_eq!((first.previous_size, first.size), (0, 300));
    // The tiles target: tile/0/000, tile/0/001.p/44, tile/1/000.p/1 and the checkpoint.
    assert_eq!(first.objects, 4);
    for path in [
        "tile/0/000",
        "tile/0/001.p/44",
        "tile/1/000.p/1",
        "checkpoint",
    ] {
        assert!(public.join(path).is_file(), "{path}");
    }
    assert!(
        !public.join("tile/entries").exists(),
        "no personal data in public"
    );
    for path in ["tile/entries/000", "tile/entries/001.p/44", "checkpoint"] {
        assert!(private.join(path).is_file(), "{path}");
    }
    let again = publisher.publish(&ledger).await.unwrap();
    assert_eq!(again.objects, 0, "nothing new, nothing written");

    append(&ledger, 300, 220);
    let second = publisher.publish(&ledger).await.unwrap();
    assert_eq!((second.previous_size, second.size), (300, 520));
    let public_base = static_server(public.clone()).await;
    let private_base = static_server(private.clone()).await;
    let mirror_dir = dir.path().join("mirror");
    let vkey2 = vkey.clone();
    tokio::task::spawn_blocking(move || {
        mirror_verifies(&private_base, &vkey2, &mirror_dir);
        tiles_client_verifies(&public_base, &vkey2, 520);
    })
    .await
    .unwrap();

    // A published tile is never rewritten with other bytes: a target that disagrees with the
    // log is refused, not overwritten.
    std::fs::remove_file(public.join("checkpoint")).unwrap();
    std::fs::write(public.join("tile/0/000"), vec![0u8; 256 * 32]).unwrap();
    let refused = publisher.publish(&ledger).await.unwrap_err();
    assert!(matches!(refused, PublishError::Conflict(ref path) if path == "tile/0/000"));
    // Nor is a target holding another log's checkpoint.
    std::fs::write(public.join("checkpoint"), "other.example/log\n1\nAAAA\n\n").unwrap();
    assert!(matches!(
        publisher.publish(&ledger).await,
        Err(PublishError::ForeignCheckpoint(_))
    ));
}

/// moto's S3 server on loopback, stopped on drop.
struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn moto() -> Moto {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m moto.server (pip install 'moto[server]'; .ci/run installs it)");
    let endpoint = format!("http://127.0.0.1:{port}");
    let server = Moto(child, endpoint.clone());
    let started = Instant::now();
    let http = reqwest::Client::new();
    while http.get(&endpoint).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto's S3 server did not start (pip install 'moto[server]')"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_bucket_gets_immutable_tiles_a_no_cache_checkpoint_and_private_bundles_apart() {
    let moto = moto().await;
    let http = reqwest::Client::new();
    for bucket in ["tiles", "private"] {
        let made = http
            .put(format!("{}/{bucket}", moto.1))
            .send()
            .await
            .unwrap();
        assert!(made.status().is_success(), "create bucket {bucket}");
    }
    // The tiles bucket is public, as a CDN origin is; the bundles bucket stays private.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
        "Action":"s3:GetObject","Resource":"arn:aws:s3:::tiles/*"}]}"#;
    let made = http
        .put(format!("{}/tiles?policy", moto.1))
        .header("content-type", "application/json")
        .body(policy)
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "public-read policy");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let vkey = dir.path().join("log.vkey");
    {
        let ledger = Ledger::open(&data, Some(log_key()), Arc::new(SystemClock)).unwrap();
        std::fs::write(&vkey, format!("{}\n", ledger.verifier_key())).unwrap();
        append(&ledger, 0, 600);
        ledger.flush().unwrap();
    }
    let env = [
        ("AWS_ENDPOINT", moto.1.clone()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let run = licreg(
        &[
            "publish",
            "--data",
            data.to_str().unwrap(),
            "--to",
            "s3://tiles/licreg",
            "--bundles-to",
            "s3://private/licreg",
        ],
        &env,
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("at size 600 (was 0)"), "{}", text(&run));

    let head = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.unwrap() }
    };
    let tile = head(format!("{}/tiles/licreg/tile/0/001", moto.1)).await;
    assert!(tile.status().is_success());
    assert_eq!(tile.headers()["cache-control"], TILE_CACHE_CONTROL);
    assert_eq!(tile.bytes().await.unwrap().len(), 256 * 32);
    let checkpoint = head(format!("{}/tiles/licreg/checkpoint", moto.1)).await;
    assert_eq!(
        checkpoint.headers()["cache-control"],
        CHECKPOINT_CACHE_CONTROL
    );
    let public_bundle = head(format!("{}/tiles/licreg/tile/entries/000", moto.1)).await;
    assert_eq!(
        public_bundle.status().as_u16(),
        404,
        "no personal data in the public bucket"
    );
    let private_bundle = head(format!("{}/private/licreg/tile/entries/000", moto.1)).await;
    assert_eq!(
        private_bundle.status().as_u16(),
        403,
        "bundles are not served to anonymous readers"
    );
    // With the bucket's credentials, the bundles and their checkpoint are there.
    let private = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&moto.1)
        .with_allow_http(true)
        .with_bucket_name("private")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .build()
        .unwrap();
    use object_store::ObjectStoreExt;
    for path in [
        "licreg/tile/entries/000",
        "licreg/tile/entries/002.p/88",
        "licreg/checkpoint",
    ] {
        let meta = private.head(&path.into()).await;
        assert!(meta.is_ok(), "{path}: {meta:?}");
    }

    // Running it again writes nothing; a mirror and the independent client read the bucket.
    let again = licreg(
        &[
            "publish",
            "--data",
            data.to_str().unwrap(),
            "--to",
            "s3://tiles/licreg",
        ],
        &env,
    );
    assert!(text(&again).contains("0 objects"), "{}", text(&again));
    let public_base = format!("{}/tiles/licreg", moto.1);
    let (vkey2, public2) = (vkey.clone(), public_base.clone());
    tokio::task::spawn_blocking(move || tiles_client_verifies(&public2, &vkey2, 600))
        .await
        .unwrap();
}

/// The running service publishes by itself (`[publish]`): what it logs appears on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_service_publishes_its_log_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public");
    let config = dir.path().join("licreg.toml");
    std::fs::write(
        &config,
        format!("[publish]\ntiles = \"{}\"\n", public.display()),
    )
    .unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    struct Serve(Child);
    impl Drop for Serve {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_licreg"))
            .args(["serve", "--demo", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let started = Instant::now();
    let size = loop {
        // The demo seeds its licences after start-up; wait until what is published matches
        // what the service serves, at a size past the seeding.
        let served = match http.get(format!("{base}/checkpoint")).send().await {
            Ok(answer) if answer.status().is_success() => answer.text().await.unwrap(),
            _ => String::new(),
        };
        let published = std::fs::read_to_string(public.join("checkpoint")).unwrap_or_default();
        let size = served.lines().nth(1).and_then(|s| s.parse::<u64>().ok());
        if let Some(size) = size.filter(|s| *s > 20 && served == published) {
            break size;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the service did not publish its checkpoint: served {served:?}, published {published:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(size < 256, "the demo logs fewer than a tile's worth");
    assert!(public.join(format!("tile/0/000.p/{size}")).is_file());
    assert!(
        !public.join("tile/entries").exists(),
        "no bundles without a bundles target"
    );
}
