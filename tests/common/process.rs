//! Child processes of the end-to-end tests: killed when the test ends, on free loopback ports.

use std::process::Child;
use std::time::{Duration, Instant};

/// A child process that is killed if the test ends early.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits up to 30 s for `base` to answer `/healthz` with success.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not become healthy");
}

/// Every directory under `root` (itself included) that is not 0700, and every file that group or
/// others may read, as "path mode" lines; `public` names files meant to be world-readable
/// (a log's public key, its origin).
#[allow(dead_code)] // not every test binary that includes this module checks files
pub fn private_violations(root: &std::path::Path, public: &[&str]) -> Vec<String> {
    use licreg::private_fs::mode_of;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mode = mode_of(&dir).unwrap();
        if mode != 0o700 {
            out.push(format!("{} {mode:o}", dir.display()));
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if !public.contains(&name.as_str()) {
                let mode = mode_of(&path).unwrap();
                if mode & 0o077 != 0 {
                    out.push(format!("{} {mode:o}", path.display()));
                }
            }
        }
    }
    out
}
