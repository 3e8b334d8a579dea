//! The witness's edge: its key, its state file, and `POST /add-checkpoint`.
//!
//! Checking the old size and persisting the new state happen under one lock, and the state file
//! is replaced atomically (write, fsync, rename) before the cosignature is returned, as the
//! tlog-witness specification requires.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use tokio::sync::Mutex;

use super::{process, AddCheckpoint, WitnessError, WitnessState, MAX_REQUEST_BYTES};
use crate::keys::write_public_file;
use crate::log::cosignature::Cosigner;
use crate::log::note::VerifierKey;

pub const WITNESS_KEY_FILE: &str = "witness.key.pem";
pub const WITNESS_VKEY_FILE: &str = "witness.vkey";
pub const STATE_FILE: &str = "witness-state.json";
/// Largest state file read.
pub const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WitnessSetupError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("witness key: {0}")]
    Key(String),
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessSetupError + '_ {
    move |e| WitnessSetupError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Loads the witness key from `dir`, creating it (0600) and its `witness.vkey` on first start.
pub fn load_or_create_cosigner(dir: &Path, name: &str) -> Result<Cosigner, WitnessSetupError> {
    crate::private_fs::create_private_dir(dir).map_err(file_err(dir))?;
    let path = dir.join(WITNESS_KEY_FILE);
    let key = if path.exists() {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(file_err(&path))?);
        SigningKey::from_pkcs8_pem(&text).map_err(|e| WitnessSetupError::Key(e.to_string()))?
    } else {
        let key = SigningKey::generate(&mut OsRng);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| WitnessSetupError::Key(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(file_err(&path))?;
        std::io::Write::write_all(&mut file, pem.as_bytes()).map_err(file_err(&path))?;
        file.sync_all().map_err(file_err(&path))?;
        key
    };
    let cosigner = Cosigner::new(name, key).map_err(|e| WitnessSetupError::Key(e.to_string()))?;
    let vkey_path = dir.join(WITNESS_VKEY_FILE);
    write_public_file(
        &vkey_path,
        format!("{}\n", cosigner.verifier_key()).as_bytes(),
    )
    .map_err(|e| WitnessSetupError::Key(e.to_string()))?;
    Ok(cosigner)
}

fn load_state(path: &Path) -> Result<WitnessState, WitnessSetupError> {
    if !path.exists() {
        return Ok(WitnessState::default());
    }
    let size = std::fs::metadata(path).map_err(file_err(path))?.len();
    if size > MAX_STATE_BYTES {
        return Err(WitnessSetupError::Key(
            "state file over its size limit".into(),
        ));
    }
    let text = std::fs::read(path).map_err(file_err(path))?;
    serde_json::from_slice(&text).map_err(|e| WitnessSetupError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The running witness.
pub struct Witness {
    cosigner: Cosigner,
    logs: Vec<VerifierKey>,
    state_path: PathBuf,
    state: Mutex<WitnessState>,
}

impl Witness {
    pub fn open(
        dir: &Path,
        name: &str,
        logs: Vec<VerifierKey>,
    ) -> Result<Arc<Self>, WitnessSetupError> {
        let cosigner = load_or_create_cosigner(dir, name)?;
        let state_path = dir.join(STATE_FILE);
        let state = load_state(&state_path)?;
        Ok(Arc::new(Witness {
            cosigner,
            logs,
            state_path,
            state: Mutex::new(state),
        }))
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.cosigner.verifier_key()
    }

    /// Handles one add-checkpoint body; returns the HTTP status and body.
    pub async fn add_checkpoint(&self, body: &str, now: u64) -> (StatusCode, String, &'static str) {
        let request = match AddCheckpoint::parse(body) {
            Ok(request) => request,
            Err(e) => return refusal(&e),
        };
        let mut state = self.state.lock().await;
        let (origin, record, line) =
            match process(&state, &request, &self.logs, &self.cosigner, now) {
                Ok(done) => done,
                Err(e) => return refusal(&e),
            };
        let mut next = state.clone();
        next.logs.insert(origin, record);
        let json = match serde_json::to_vec_pretty(&next) {
            Ok(json) => json,
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string(),
                    "text/plain",
                )
            }
        };
        if let Err(e) = write_public_file(&self.state_path, &json) {
            tracing::error!(error = %e, "witness state not persisted");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "state not persisted\n".into(),
                "text/plain",
            );
        }
        *state = next;
        (StatusCode::OK, line, "text/plain; charset=utf-8")
    }
}

fn refusal(error: &WitnessError) -> (StatusCode, String, &'static str) {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match error {
        WitnessError::Conflict(size) => (status, format!("{size}\n"), "text/x.tlog.size"),
        other => (status, format!("{other}\n"), "text/plain; charset=utf-8"),
    }
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not UTF-8\n").into_response();
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (status, body, content_type) = witness
        .add_checkpoint(text, u64::try_from(now).unwrap_or(0))
        .await;
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(witness)
}
