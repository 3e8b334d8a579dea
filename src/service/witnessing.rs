//! Sending each new checkpoint to the configured witnesses (C2SP tlog-witness `add-checkpoint`)
//! and publishing it with their cosignatures, so receipts can prove that other agencies saw the
//! same history.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::RwLock;

use super::AppState;
use crate::log::checkpoint::Checkpoint;
use crate::log::note::SignedNote;
use crate::witness::AddCheckpoint;

/// How often the registry looks for a checkpoint the witnesses have not seen.
pub const WITNESS_INTERVAL_MS: u64 = 500;

/// A witness the registry asks to cosign.
#[derive(Debug, Clone)]
pub struct WitnessTarget {
    pub url: String,
    /// The size this witness last cosigned, as far as the registry knows.
    pub size: u64,
}

/// The latest checkpoint with every cosignature collected for it.
#[derive(Debug, Clone, Default)]
pub struct Cosigned {
    pub size: u64,
    pub note: Option<String>,
}

pub type SharedCosigned = Arc<RwLock<Cosigned>>;

/// Sends one checkpoint to one witness; returns its cosignature lines.
async fn submit(
    state: &AppState,
    http: &reqwest::Client,
    target: &mut WitnessTarget,
    note: &str,
    size: u64,
) -> Result<String, String> {
    for _ in 0..2 {
        let proof = if target.size == 0 || target.size == size {
            Vec::new()
        } else {
            let ledger = state.ledger.clone();
            let old = target.size;
            tokio::task::spawn_blocking(move || ledger.consistency_proof(old, size))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        let body = AddCheckpoint {
            old_size: target.size,
            proof,
            checkpoint_note: note.to_string(),
        }
        .encode();
        let url = format!("{}/add-checkpoint", target.url.trim_end_matches('/'));
        let response = http
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| e.to_string())?;
        match status {
            200 => {
                target.size = size;
                return Ok(text);
            }
            // The witness knows a different size: learn it and try once more.
            409 => {
                target.size = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad 409 body {text:?}"))?
            }
            other => return Err(format!("witness answered {other}: {}", text.trim())),
        }
    }
    Err("witness kept reporting a different size".into())
}

/// Runs forever: whenever the checkpoint grows, gathers cosignatures and publishes them.
pub async fn run(state: AppState, mut targets: Vec<WitnessTarget>, published: SharedCosigned) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let mut tick = tokio::time::interval(Duration::from_millis(WITNESS_INTERVAL_MS));
    loop {
        tick.tick().await;
        let Some(note) = state.ledger.checkpoint() else {
            continue;
        };
        let size = state.ledger.size();
        if published.read().await.size >= size {
            continue;
        }
        let mut lines = String::new();
        for target in &mut targets {
            match submit(&state, &http, target, &note, size).await {
                Ok(cosignatures) => lines.push_str(&cosignatures),
                Err(error) => tracing::warn!(witness = %target.url, %error, "no cosignature"),
            }
        }
        if lines.is_empty() {
            continue;
        }
        let combined = format!("{note}{lines}");
        if SignedNote::parse(&combined).is_ok() {
            *published.write().await = Cosigned {
                size,
                note: Some(combined),
            };
        }
    }
}

/// The checkpoint to publish: the cosigned one when it is the latest, else the log's own.
pub async fn current(state: &AppState) -> Option<String> {
    let latest = state.ledger.checkpoint()?;
    let cosigned = state.cosigned.read().await;
    match (
        &cosigned.note,
        Checkpoint::parse(SignedNote::parse(&latest).ok()?.text()).ok(),
    ) {
        (Some(note), Some(head)) if cosigned.size == head.size => Some(note.clone()),
        _ => Some(latest),
    }
}
