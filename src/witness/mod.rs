//! A C2SP tlog-witness: another agency's process that cosigns the registry's checkpoints only if
//! each is consistent with the last one it cosigned, so the registry cannot show different
//! histories to different parties without being caught.
//!
//! [`process`] is the pure core of `add-checkpoint` (parse, verify, check consistency, cosign);
//! `server` holds the state file and the HTTP edge.

pub mod server;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::log::checkpoint::Checkpoint;
use crate::log::cosignature::Cosigner;
use crate::log::merkle::{self, Hash};
use crate::log::note::{SignedNote, VerifierKey};

/// Most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest add-checkpoint body read.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What the witness remembers per log: the last cosigned size and root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    pub logs: BTreeMap<String, Cosigned>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cosigned {
    pub size: u64,
    pub root: String,
}

/// A refusal, with the HTTP status the spec assigns to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unknown log origin {0}")]
    UnknownLog(String),
    #[error("checkpoint is not signed by the log's key")]
    Forbidden,
    /// The old size does not match; carries the size the witness last cosigned.
    #[error("old size does not match the last cosigned size {0}")]
    Conflict(u64),
    #[error("checkpoint is not consistent: {0}")]
    Inconsistent(String),
}

impl WitnessError {
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::Forbidden => 403,
            WitnessError::UnknownLog(_) => 404,
            WitnessError::Conflict(_) => 409,
            WitnessError::Inconsistent(_) => 422,
        }
    }
}

/// A parsed add-checkpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub checkpoint_note: String,
}

impl AddCheckpoint {
    /// Parses `old <N>\n`, proof lines, an empty line, then the signed checkpoint.
    pub fn parse(body: &str) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(why.to_string());
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad("request too large"));
        }
        let (head, checkpoint_note) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("no old size line"))?;
        let canonical =
            old == "0" || (!old.starts_with('0') && old.bytes().all(|b| b.is_ascii_digit()));
        let old_size: u64 = old
            .parse()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| bad("bad old size"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("too many proof lines"));
            }
            let hash: Hash = STANDARD
                .decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("bad proof line"))?;
            proof.push(hash);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint_note: checkpoint_note.to_string(),
        })
    }

    pub fn encode(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            out.push_str(&STANDARD.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }
}

/// Checks a request against `state` and cosigns. On success returns the new state entry and the
/// cosignature line (with its newline); the caller must persist the state before answering.
pub fn process(
    state: &WitnessState,
    request: &AddCheckpoint,
    logs: &[VerifierKey],
    cosigner: &Cosigner,
    now: u64,
) -> Result<(String, Cosigned, String), WitnessError> {
    let note = SignedNote::parse(&request.checkpoint_note)
        .map_err(|e| WitnessError::BadRequest(e.to_string()))?;
    let checkpoint =
        Checkpoint::parse(note.text()).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
    let keys: Vec<VerifierKey> = logs
        .iter()
        .filter(|k| k.name() == checkpoint.origin)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Err(WitnessError::UnknownLog(checkpoint.origin));
    }
    note.verify(&keys).map_err(|_| WitnessError::Forbidden)?;
    if request.old_size > checkpoint.size {
        return Err(WitnessError::BadRequest(
            "old size is beyond the checkpoint".into(),
        ));
    }
    let last = state.logs.get(&checkpoint.origin);
    let last_size = last.map_or(0, |c| c.size);
    if request.old_size != last_size {
        return Err(WitnessError::Conflict(last_size));
    }
    check_consistency(request, &checkpoint, last)?;
    let line = cosigner
        .cosign(&checkpoint, now)
        .map_err(|e| WitnessError::BadRequest(e.to_string()))?
        .to_line();
    let record = Cosigned {
        size: checkpoint.size,
        root: STANDARD.encode(checkpoint.root),
    };
    Ok((checkpoint.origin, record, line))
}

fn check_consistency(
    request: &AddCheckpoint,
    checkpoint: &Checkpoint,
    last: Option<&Cosigned>,
) -> Result<(), WitnessError> {
    let inconsistent = |why: String| WitnessError::Inconsistent(why);
    if checkpoint.size == 0 && checkpoint.root != merkle::empty_root() {
        return Err(inconsistent(
            "an empty tree must have the empty root".into(),
        ));
    }
    let Some(last) = last.filter(|_| request.old_size > 0) else {
        return if request.proof.is_empty() {
            Ok(())
        } else {
            Err(inconsistent("no proof is needed from size zero".into()))
        };
    };
    let old_root: Hash = STANDARD
        .decode(&last.root)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| inconsistent("stored root is corrupt".into()))?;
    if request.old_size == checkpoint.size {
        return if old_root == checkpoint.root && request.proof.is_empty() {
            Ok(())
        } else {
            Err(inconsistent("same size, different root".into()))
        };
    }
    merkle::verify_consistency(
        request.old_size,
        checkpoint.size,
        &request.proof,
        &old_root,
        &checkpoint.root,
    )
    .map_err(|e| inconsistent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{CompactRange, MemoryStore};
    use crate::log::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    struct Log {
        signer: NoteSigner,
        leaves: Vec<Hash>,
    }

    impl Log {
        fn new() -> Self {
            Log {
                signer: NoteSigner::new("log.example/ledger", SigningKey::from_bytes(&[1; 32]))
                    .unwrap(),
                leaves: Vec::new(),
            }
        }

        fn grow(&mut self, n: usize) -> String {
            for _ in 0..n {
                let i = self.leaves.len() as u64;
                self.leaves.push(merkle::leaf_hash(&i.to_be_bytes()));
            }
            let mut range = CompactRange::new();
            for leaf in &self.leaves {
                range.append(*leaf).unwrap();
            }
            Checkpoint::new("log.example/ledger", self.leaves.len() as u64, range.root())
                .unwrap()
                .sign(&self.signer)
                .unwrap()
        }

        fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
            if old == 0 || old == new {
                return Vec::new();
            }
            let store = MemoryStore::from_leaves(self.leaves.iter().copied()).unwrap();
            merkle::consistency_proof(&store, old, new).unwrap()
        }
    }

    fn witness() -> Cosigner {
        Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32])).unwrap()
    }

    #[test]
    fn cosigns_consistent_checkpoints_and_refuses_the_rest() {
        let mut log = Log::new();
        let logs = [log.signer.verifier_key()];
        let mut state = WitnessState::default();
        let note = log.grow(5);
        let request = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint_note: note.clone(),
        };
        let request = AddCheckpoint::parse(&request.encode()).unwrap();
        let (origin, record, line) = process(&state, &request, &logs, &witness(), 1_000).unwrap();
        assert!(line.starts_with("— witness.example/w1 "));
        state.logs.insert(origin, record);
        // The cosignature verifies as a tlog-cosignature over the checkpoint.
        let cosigned = SignedNote::parse(&format!("{note}{line}")).unwrap();
        let verifier =
            crate::log::cosignature::CosignatureVerifier::new(witness().verifier_key()).unwrap();
        assert_eq!(
            crate::log::cosignature::verify_cosignatures(&cosigned, &[verifier])
                .unwrap()
                .len(),
            1
        );

        let note = log.grow(7);
        let stale = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint_note: note.clone(),
        };
        assert_eq!(
            process(&state, &stale, &logs, &witness(), 1_001).unwrap_err(),
            WitnessError::Conflict(5)
        );
        let bad_proof = AddCheckpoint {
            old_size: 5,
            proof: vec![[0; 32]],
            checkpoint_note: note.clone(),
        };
        assert_eq!(
            process(&state, &bad_proof, &logs, &witness(), 1_001)
                .unwrap_err()
                .status(),
            422
        );
        let good = AddCheckpoint {
            old_size: 5,
            proof: log.proof(5, 12),
            checkpoint_note: note,
        };
        let (_, record, _) = process(&state, &good, &logs, &witness(), 1_002).unwrap();
        assert_eq!(record.size, 12);
    }

    #[test]
    fn unknown_logs_and_bad_signatures_are_refused() {
        let mut log = Log::new();
        let note = log.grow(3);
        let request = AddCheckpoint {
            old_size: 0,
            proof: Vec::new(),
            checkpoint_note: note.clone(),
        };
        let other = NoteSigner::new("other.example/log", SigningKey::from_bytes(&[3; 32])).unwrap();
        let err = process(
            &WitnessState::default(),
            &request,
            &[other.verifier_key()],
            &witness(),
            1,
        )
        .unwrap_err();
        assert_eq!(err.status(), 404);
        let impostor =
            NoteSigner::new("log.example/ledger", SigningKey::from_bytes(&[4; 32])).unwrap();
        let err = process(
            &WitnessState::default(),
            &request,
            &[impostor.verifier_key()],
            &witness(),
            1,
        )
        .unwrap_err();
        assert_eq!(err.status(), 403);
        for bad in ["", "old 01\n\nx", "old 1\nnot-base64\n\nx", "new 1\n\nx"] {
            assert_eq!(
                AddCheckpoint::parse(bad).unwrap_err().status(),
                400,
                "{bad:?}"
            );
        }
    }
}
