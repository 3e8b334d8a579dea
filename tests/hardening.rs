//! The real binary under hostile clients: a slowloris header trickle is cut off at the
//! header-read timeout, event streams are capped per token, and SIGTERM stops the service
//! within its grace period even with a stream client connected.

#[path = "common/process.rs"]
mod process;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use licreg::service::auth::TokenHash;
use process::{free_port, wait_healthy, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");
const PLATFORM: &str = "hardening-platform-token";
const HEADER_READ_TIMEOUT_MS: u64 = 1_000;
const SHUTDOWN_GRACE_MS: u64 = 2_000;

fn start(dir: &Path) -> (Proc, u16) {
    start_with(
        dir,
        &format!(
            "header_read_timeout_ms = {HEADER_READ_TIMEOUT_MS}\nshutdown_grace_ms = {SHUTDOWN_GRACE_MS}\nmax_streams_per_token = 2\n"
        ),
    )
}

fn start_with(dir: &Path, limits: &str) -> (Proc, u16) {
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n\
         [[clients]]\nrole = \"platform:p1\"\ntoken_sha256 = \"{}\"\n\n\
         [limits]\n{limits}",
        TokenHash::of(PLATFORM).to_hex()
    );
    let path = dir.join("licreg.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config", path.to_str().unwrap(), "--data"])
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Proc(child), port)
}

/// Reads until the server closes the connection or `limit` passes; true if it closed.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
        // Keep trickling, as the attacker does.
        if stream.write_all(b"X-Trickle: 1\r\n").is_err() {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn slow_headers_streams_and_sigterm_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port) = start(dir.path());
    let base = format!("http://127.0.0.1:{port}");
    // No pooled connections: the server closes idle ones after the (short) header timeout.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    wait_healthy(&client, &base).await;

    // Slowloris: a header line every 100 ms never completes the header; the connection is
    // closed at the header-read timeout, not kept for as long as the client trickles.
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)),
        "a trickled header was still open after 10 s"
    );
    println!(
        "slowloris connection closed after {:?} (header_read_timeout_ms = {HEADER_READ_TIMEOUT_MS})",
        started.elapsed()
    );
    // A silent connection is closed too.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let waited = Instant::now();
    let read = silent.read(&mut buf);
    let closed = matches!(read, Ok(0))
        || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset);
    assert!(
        closed,
        "a silent connection stayed open: {read:?} after {:?}",
        waited.elapsed()
    );
    // A keep-alive connection left idle after a request is closed at the same timeout: hyper
    // starts the header-read timer as soon as it waits for the next request.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let waited = Instant::now();
    let mut answered = Vec::new();
    let closed = loop {
        match idle.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => answered.extend_from_slice(&buf[..n]),
            Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    assert!(
        answered.starts_with(b"HTTP/1.1 200") && closed,
        "an idle keep-alive connection stayed open after {:?}",
        waited.elapsed()
    );
    println!(
        "idle keep-alive connection closed after {:?}",
        waited.elapsed()
    );
    assert!(client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());

    // Two streams per token; the third is refused while they are open.
    let open = |client: reqwest::Client| {
        let url = format!("{base}/v1/events/stream");
        async move { client.get(url).bearer_auth(PLATFORM).send().await.unwrap() }
    };
    let first = open(client.clone()).await;
    let second = open(client.clone()).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open(client.clone()).await;
    assert_eq!(third.status().as_u16(), 409, "{:?}", third.text().await);

    // SIGTERM with two stream clients connected: the service stops within its grace period.
    let sent = Instant::now();
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Duration::from_millis(SHUTDOWN_GRACE_MS) + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < deadline,
            "still running {:?} after SIGTERM",
            sent.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exited with {status}");
    println!(
        "stopped {:?} after SIGTERM with two streams open",
        sent.elapsed()
    );
    // The stream clients see their streams end rather than hang.
    let rest = tokio::time::timeout(Duration::from_secs(5), first.text()).await;
    assert!(rest.is_ok(), "the stream did not end");
    drop(second);
}

/// Reads one response head (up to the blank line) or gives up after `limit`.
fn response_head(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn a_stalled_body_times_out_and_excess_connections_wait_for_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_with(
        dir.path(),
        "request_timeout_ms = 1000\nheader_read_timeout_ms = 20000\nmax_connections = 2\n",
    );
    // The runtime (and with it the health check's pooled connection) is gone before the slots
    // are counted.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(wait_healthy(
            &reqwest::Client::new(),
            &format!("http://127.0.0.1:{port}"),
        ));
    let addr = format!("127.0.0.1:{port}");

    // A body promised and never sent: answered 408 with the JSON error after the request timeout.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    stalled
        .write_all(
            b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pla",
        )
        .unwrap();
    let head = response_head(&mut stalled, Duration::from_secs(10)).expect("an answer");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("application/json"),
        "{head}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);

    // Two keep-alive connections, each served once, hold both slots; a third is not served
    // until one of them leaves.
    let hold = || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        response_head(&mut stream, Duration::from_secs(10)).expect("a held connection is served");
        stream
    };
    let hold_a = hold();
    let hold_b = hold();
    let mut third = TcpStream::connect(&addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        response_head(&mut third, Duration::from_millis(1_500)),
        None,
        "served beyond max_connections"
    );
    drop(hold_a);
    let head =
        response_head(&mut third, Duration::from_secs(10)).expect("served once a slot freed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(hold_b);
}
