//! Issuing a licence: number it, sign its credential, log it, and hand back a receipt.
//!
//! This is the one place where a parsed record becomes a licence, shared by the CLI and the
//! service. The issue entry in the ledger carries the full record and the credential bytes, so
//! the tlog-proof receipt for that entry alone proves that exactly this credential was logged.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use time::{Date, PrimitiveDateTime, Time};

use crate::clock::UnixSeconds;
use crate::credential::{self, Claims};
use crate::ids::{IdError, LicenceNumber};
use crate::keys::CredentialSigner;
use crate::ledger::{Appended, EventType, Ledger, LedgerError, NewEntry, Subject, SubjectKind};
use crate::log::proof::TlogProof;
use crate::model::{mask_name, LicenceRecord};
use crate::qr;

/// Version of a licence number when first issued; reissues count up.
pub const FIRST_VERSION: u8 = 1;

/// Why issuance failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("licence number: {0}")]
    Number(#[from] IdError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("cannot encode the issue record: {0}")]
    Encode(String),
}

/// What the ledger stores for an issued licence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueBody {
    pub number: String,
    pub kind: String,
    pub kid: String,
    pub record: serde_json::Value,
    pub credential: ByteBuf,
    /// The application that led to this licence, when it came through the service.
    #[serde(default)]
    pub application_id: Option<String>,
    /// The licence number this one replaces (renewal, reissue).
    #[serde(default)]
    pub supersedes: Option<String>,
    /// Position in the kind's status list, when the registry keeps one.
    #[serde(default)]
    pub status_index: Option<u64>,
}

/// An issued licence and everything that goes to its holder.
#[derive(Debug, Clone)]
pub struct Issued {
    pub number: LicenceNumber,
    pub credential: Vec<u8>,
    pub url: String,
    pub appended: Appended,
    pub receipt: TlogProof,
}

/// Unix time of 00:00:00 on `day` in China Standard Time.
pub fn start_of_day(day: Date) -> UnixSeconds {
    // Licence validity days are calendar days in China Standard Time.
    PrimitiveDateTime::new(day, Time::MIDNIGHT)
        .assume_offset(crate::clock::CHINA_STANDARD_TIME)
        .unix_timestamp()
}

/// Unix time of the last second of `day` in China Standard Time.
pub fn end_of_day(day: Date) -> UnixSeconds {
    start_of_day(day) + 86_399
}

/// The credential claims for a record.
pub fn claims_for(record: &LicenceRecord, number: &LicenceNumber, now: UnixSeconds) -> Claims {
    let validity = record.validity();
    let (holder_masked, plate, make, colour) = match record {
        LicenceRecord::Driver(d) => (Some(mask_name(&d.holder_name)), None, None, None),
        LicenceRecord::Vehicle(v) => (
            None,
            Some(v.plate.as_str().to_string()),
            Some(v.make.clone()),
            Some(v.colour.clone()),
        ),
        LicenceRecord::Platform(p) => (Some(p.company_name.clone()), None, None, None),
    };
    Claims {
        issuer: record.area_code().as_str().to_string(),
        issued_at: now,
        not_before: start_of_day(validity.valid_from),
        expires: end_of_day(validity.valid_until),
        serial: number.short_serial(),
        kind: record.kind(),
        holder_masked,
        plate,
        make,
        colour,
        status_index: None,
        device_key: None,
    }
}

/// A licence as a ledger subject: its short serial, whichever form it is given in.
///
/// Serials are allocated once per registry, so the short serial (15 bytes) names exactly one
/// number, and every entry and index key about a licence carries it instead of the 72-character
/// full number. Text that is neither form is kept as given (the writer refuses such an entry).
pub fn licence_subject(number: &str) -> Subject {
    let key = match number.parse::<LicenceNumber>() {
        Ok(full) => full.short_serial().to_string(),
        Err(_) => number.to_string(),
    };
    Subject::new(SubjectKind::Licence, key)
}

/// The ledger subjects of a licence: its short serial, its holder and, for vehicles, its plate.
pub fn subjects_for(record: &LicenceRecord, number: &LicenceNumber) -> Vec<Subject> {
    let mut subjects = vec![
        Subject::new(SubjectKind::Licence, number.short_serial().to_string()),
        Subject::new(SubjectKind::Holder, record.holder_id()),
    ];
    if let Some(plate) = record.plate() {
        subjects.push(Subject::new(SubjectKind::Plate, plate.as_str()));
    }
    subjects
}

/// A licence numbered and signed, with the ledger entry that will record it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub number: LicenceNumber,
    pub credential: Vec<u8>,
    pub entry: NewEntry,
}

/// How a licence comes to be issued.
#[derive(Debug, Clone, Default)]
pub struct IssueContext {
    pub application_id: Option<String>,
    pub supersedes: Option<String>,
    /// Renewal and reissue keep the serial and raise the version.
    pub version: Option<u8>,
    pub serial: Option<u64>,
    pub event: Option<EventType>,
    /// Position in the kind's status list (see `service::status`).
    pub status_index: Option<u64>,
}

/// Numbers and signs a licence and builds its issue entry, without touching the ledger.
pub fn prepare(
    serial: u64,
    signer: &CredentialSigner,
    record: &LicenceRecord,
    actor: &str,
    now: UnixSeconds,
    context: &IssueContext,
) -> Result<Prepared, IssueError> {
    let issuer = &record.issuing_authority().credit_code;
    let version = context.version.unwrap_or(FIRST_VERSION);
    let number = LicenceNumber::new(
        record.kind(),
        issuer,
        context.serial.unwrap_or(serial),
        version,
    )?;
    let mut claims = claims_for(record, &number, now);
    claims.status_index = context.status_index;
    let credential = credential::issue(signer, &claims);
    let body = IssueBody {
        number: number.as_str().to_string(),
        kind: record.kind().as_str().to_string(),
        kid: signer.kid.to_string(),
        record: record.to_json(),
        credential: ByteBuf::from(credential.clone()),
        application_id: context.application_id.clone(),
        supersedes: context.supersedes.clone(),
        status_index: context.status_index,
    };
    let mut subjects = subjects_for(record, &number);
    if let Some(id) = &context.application_id {
        subjects.push(Subject::new(SubjectKind::Application, id.as_str()));
    }
    if let Some(old) = &context.supersedes {
        subjects.push(licence_subject(old.as_str()));
    }
    let entry = NewEntry {
        event: context.event.unwrap_or(EventType::Issue),
        actor: actor.to_string(),
        subjects,
        body: crate::ledger::encode_body(&body).map_err(IssueError::Encode)?,
    };
    Ok(Prepared {
        number,
        credential,
        entry,
    })
}

/// Numbers (with `serial`, from [`crate::registry::Allocators`]), signs and logs a licence;
/// returns once the issue entry is on disk.
pub fn issue(
    ledger: &Ledger,
    serial: u64,
    signer: &CredentialSigner,
    record: &LicenceRecord,
    actor: &str,
    public_base_url: &str,
    now: UnixSeconds,
) -> Result<Issued, IssueError> {
    let prepared = prepare(serial, signer, record, actor, now, &IssueContext::default())?;
    let appended = ledger.append(prepared.entry)?;
    let receipt = ledger.receipt(appended.seq)?;
    Ok(Issued {
        url: qr::verification_url(public_base_url, &prepared.credential),
        number: prepared.number,
        credential: prepared.credential,
        appended,
        receipt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ids::LicenceKind;
    use crate::keys::{KeyId, LogKey, TrustList};
    use crate::log::merkle;
    use ed25519_dalek::SigningKey;
    use std::sync::Arc;

    fn example(kind: LicenceKind) -> LicenceRecord {
        let path = format!(
            "{}/schemas/examples/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            kind.as_str()
        );
        LicenceRecord::parse_json(kind, &std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn issued_licences_verify_and_their_receipts_carry_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        let log_key = LogKey {
            origin: "issue.example/log".into(),
            key: SigningKey::from_bytes(&[1; 32]),
        };
        let vkey_ledger =
            crate::registry::open_ledger(dir.path(), Some(log_key), Arc::new(FixedClock::at(0)));
        let ledger = vkey_ledger.unwrap();
        let key = SigningKey::from_bytes(&[2; 32]);
        let signer = CredentialSigner {
            kid: KeyId::of(&key.verifying_key()),
            key: key.clone(),
        };
        let trust = TrustList::with_active(&signer);
        let now = start_of_day(Date::from_calendar_date(2027, time::Month::May, 1).unwrap());
        for (serial, kind) in [
            LicenceKind::Driver,
            LicenceKind::Vehicle,
            LicenceKind::Platform,
        ]
        .into_iter()
        .enumerate()
        {
            let issued = issue(
                &ledger,
                serial as u64 + 1,
                &signer,
                &example(kind),
                "cli",
                "https://l.example",
                now,
            )
            .unwrap();
            let verified = credential::verify_text(&issued.url, &trust, now, 0).unwrap();
            assert_eq!(verified.claims.kind, kind);
            assert_eq!(verified.claims.serial, issued.number.short_serial());
            let entry = issued.receipt.extra.clone().unwrap();
            let body: IssueBody =
                crate::cbor::from_slice(&crate::ledger::Entry::decode(&entry).unwrap().body)
                    .unwrap();
            assert_eq!(body.credential.as_slice(), issued.credential.as_slice());
            assert_eq!(merkle::leaf_hash(&entry), issued.appended.leaf_hash);
        }
        let history = ledger.history(SubjectKind::Plate, "闽DD12345").unwrap();
        assert_eq!(history.len(), 1);
    }

    #[test]
    fn validity_days_are_china_standard_time() {
        let day = Date::from_calendar_date(2026, time::Month::November, 1).unwrap();
        // 2026-11-01T00:00:00+08:00 is 2026-10-31T16:00:00Z.
        assert_eq!(start_of_day(day), 1_793_462_400);
        assert_eq!(end_of_day(day) - start_of_day(day), 86_399);
    }
}
