//! Migrating existing licences: one `import` entry per licence, which both records the
//! migration (who imported it, the old number, the file's SHA-256) and issues the licence anew,
//! with a GB/T 36904 number, a signed credential and a status-list position, exactly as an
//! `issue` entry would. The writer refuses a legacy number imported before, so an import that
//! is run again, or resumed after a crash, never issues a licence twice.

use serde_bytes::ByteBuf;

use super::bodies::{ImportBody, IssueBody};
use super::event::Event;
use crate::clock::UnixSeconds;
use crate::credential;
use crate::ids::LicenceNumber;
use crate::issuance::{self, FIRST_VERSION};
use crate::keys::CredentialSigner;
use crate::ledger::NewEntry;
use crate::model::LicenceRecord;

/// Longest legacy certificate number accepted, in bytes.
pub const MAX_LEGACY_NUMBER_BYTES: usize = 64;

/// Why a licence could not be prepared for import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("licence number: {0}")]
    Number(#[from] crate::ids::IdError),
    #[error("cannot encode the import entry: {0}")]
    Encode(String),
}

/// Where one imported licence sits: its serial and status-list position, allocated by the
/// caller from [`super::Allocators`].
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub serial: u64,
    pub status_index: u64,
}

/// A licence ready to append, with its credential for the new card.
#[derive(Debug, Clone)]
pub struct PreparedImport {
    pub number: LicenceNumber,
    pub credential: Vec<u8>,
    pub entry: NewEntry,
}

/// Numbers and signs an existing licence and builds its `import` entry.
pub fn prepare(
    signer: &CredentialSigner,
    record: &LicenceRecord,
    legacy_number: &str,
    file_sha256: &[u8; 32],
    slot: Slot,
    actor: &str,
    now: UnixSeconds,
) -> Result<PreparedImport, ImportError> {
    let issuer = &record.issuing_authority().credit_code;
    let number = LicenceNumber::new(record.kind(), issuer, slot.serial, FIRST_VERSION)?;
    let mut claims = issuance::claims_for(record, &number, now);
    claims.status_index = Some(slot.status_index);
    let signed = credential::issue(signer, &claims);
    let body = ImportBody {
        legacy_number: legacy_number.to_string(),
        file_sha256: ByteBuf::from(file_sha256.to_vec()),
        issue: IssueBody {
            number: number.as_str().to_string(),
            kind: record.kind().as_str().to_string(),
            kid: signer.kid.to_string(),
            record: record.to_json(),
            credential: ByteBuf::from(signed.clone()),
            application_id: None,
            supersedes: None,
            status_index: Some(slot.status_index),
        },
    };
    let entry = Event::Import(body)
        .entry(actor, issuance::subjects_for(record, &number))
        .map_err(|e| ImportError::Encode(e.to_string()))?;
    Ok(PreparedImport {
        number,
        credential: signed,
        entry,
    })
}
