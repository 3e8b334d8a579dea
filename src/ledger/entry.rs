//! The logged entry: one event in the registry's history, as the exact bytes that are hashed.
//!
//! An entry is a CBOR array `[seq, timestamp_ms, event, actor, subjects, body, prev_hash]`. The
//! Merkle leaf is `SHA-256(0x00 ‖ entry bytes)`, and `prev_hash` is the previous entry's leaf hash,
//! so the entries also form a hash chain. `subjects` names the licences, holders and plates the
//! event concerns; the index trees are derived from it, which is what lets the audit check them.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::log::merkle::Hash;

/// Largest encoded entry accepted for append or decode.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024 - 1;
// (One byte under 64 KiB so every entry fits the u16 length prefix of a tlog-tiles bundle.)
/// Most subjects one entry may name.
pub const MAX_SUBJECTS: usize = 16;
/// Longest subject key or actor name, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// The zero-based position of an entry in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! event_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// What happened. The wire names are stable: they are part of the logged bytes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name),+ }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name { $($name => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    Application => "application",
    AgencyAnswer => "agency_answer",
    Decision => "decision",
    Issue => "issue",
    Suspension => "suspension",
    Reinstatement => "reinstatement",
    Revocation => "revocation",
    Renewal => "renewal",
    Reissue => "reissue",
    Rebind => "rebind",
    Cancellation => "cancellation",
    Expiry => "expiry",
    Access => "access",
    Alert => "alert",
    Report => "report",
    CreditRecord => "credit_record",
    KeyChange => "key_change",
    ReportReview => "report_review",
    Import => "import",
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which index an entry's subject goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKind {
    Licence,
    Holder,
    Plate,
    Application,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 4] = [
        SubjectKind::Licence,
        SubjectKind::Holder,
        SubjectKind::Plate,
        SubjectKind::Application,
    ];

    pub fn code(self) -> u8 {
        match self {
            SubjectKind::Licence => 1,
            SubjectKind::Holder => 2,
            SubjectKind::Plate => 3,
            SubjectKind::Application => 4,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Name of the sled tree holding this index.
    pub fn tree_name(self) -> &'static str {
        match self {
            SubjectKind::Licence => "idx_licence",
            SubjectKind::Holder => "idx_holder",
            SubjectKind::Plate => "idx_plate",
            SubjectKind::Application => "idx_application",
        }
    }
}

/// A licence number, holder id, plate or application id an entry concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject {
    pub kind: SubjectKind,
    pub key: String,
}

impl Subject {
    pub fn new(kind: SubjectKind, key: impl Into<String>) -> Self {
        Subject {
            kind,
            key: key.into(),
        }
    }
}

/// Why bytes are not a valid entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is {found} bytes, over the {limit}-byte limit")]
    TooLarge { found: usize, limit: usize },
    #[error("entry is not well-formed CBOR: {0}")]
    Cbor(String),
    #[error("unknown event type {0:?}")]
    UnknownEvent(String),
    #[error("entry field {field} is invalid: {reason}")]
    Field {
        field: &'static str,
        reason: &'static str,
    },
}

/// An event to append; the ledger assigns the sequence number, time and chain link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub event: EventType,
    pub actor: String,
    pub subjects: Vec<Subject>,
    /// CBOR-encoded event details.
    pub body: Vec<u8>,
}

/// A logged entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: Seq,
    pub timestamp_ms: u64,
    pub event: EventType,
    pub actor: String,
    pub subjects: Vec<Subject>,
    pub body: Vec<u8>,
    pub prev_hash: Hash,
}

#[derive(Serialize, Deserialize)]
struct EntryWire(
    u64,
    u64,
    String,
    String,
    Vec<(u8, String)>,
    ByteBuf,
    ByteBuf,
);

impl NewEntry {
    /// Checks the limits an entry must meet before it is sequenced.
    pub fn check(&self) -> Result<(), EntryError> {
        check_texts(&self.actor, &self.subjects)?;
        if self.body.len() > MAX_ENTRY_BYTES - 1024 {
            return Err(EntryError::TooLarge {
                found: self.body.len(),
                limit: MAX_ENTRY_BYTES - 1024,
            });
        }
        Ok(())
    }
}

fn check_texts(actor: &str, subjects: &[Subject]) -> Result<(), EntryError> {
    if actor.is_empty() || actor.len() > MAX_KEY_BYTES {
        return Err(EntryError::Field {
            field: "actor",
            reason: "must be 1 to 128 bytes",
        });
    }
    if subjects.len() > MAX_SUBJECTS {
        return Err(EntryError::Field {
            field: "subjects",
            reason: "too many subjects",
        });
    }
    if subjects
        .iter()
        .any(|s| s.key.is_empty() || s.key.len() > MAX_KEY_BYTES || s.key.contains('\0'))
    {
        return Err(EntryError::Field {
            field: "subjects",
            reason: "keys must be 1 to 128 bytes without NUL",
        });
    }
    Ok(())
}

impl Entry {
    /// The exact bytes that are logged and hashed.
    pub fn encode(&self) -> Vec<u8> {
        let wire = EntryWire(
            self.seq.0,
            self.timestamp_ms,
            self.event.as_str().to_string(),
            self.actor.clone(),
            self.subjects
                .iter()
                .map(|s| (s.kind.code(), s.key.clone()))
                .collect(),
            ByteBuf::from(self.body.clone()),
            ByteBuf::from(self.prev_hash.to_vec()),
        );
        // Serialising integers, strings and byte strings cannot fail.
        serde_cbor::to_vec(&wire).unwrap_or_default()
    }

    /// Parses entry bytes, refusing oversize input, trailing bytes and unknown events.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                found: bytes.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        let wire: EntryWire =
            serde_cbor::from_slice(bytes).map_err(|e| EntryError::Cbor(e.to_string()))?;
        let event = EventType::parse(&wire.2).ok_or(EntryError::UnknownEvent(wire.2.clone()))?;
        let subjects = wire
            .4
            .into_iter()
            .map(|(code, key)| {
                SubjectKind::from_code(code)
                    .map(|kind| Subject { kind, key })
                    .ok_or(EntryError::Field {
                        field: "subjects",
                        reason: "unknown subject kind",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_texts(&wire.3, &subjects)?;
        let prev_hash: Hash = wire
            .6
            .into_vec()
            .try_into()
            .map_err(|_| EntryError::Field {
                field: "prev_hash",
                reason: "must be 32 bytes",
            })?;
        Ok(Entry {
            seq: Seq(wire.0),
            timestamp_ms: wire.1,
            event,
            actor: wire.3,
            subjects,
            body: wire.5.into_vec(),
            prev_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Entry {
        Entry {
            seq: Seq(42),
            timestamp_ms: 1_700_000_000_123,
            event: EventType::Issue,
            actor: "officer".into(),
            subjects: vec![
                Subject::new(SubjectKind::Licence, "L1"),
                Subject::new(SubjectKind::Plate, "闽D12345"),
            ],
            body: vec![0xA0],
            prev_hash: [9; 32],
        }
    }

    #[test]
    fn entry_round_trips() {
        let entry = sample();
        assert_eq!(Entry::decode(&entry.encode()).unwrap(), entry);
    }

    #[test]
    fn event_names_round_trip() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(*event));
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_events_are_refused() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(Entry::decode(&bytes).is_err());
        let mut entry = sample().encode();
        let at = entry.windows(5).position(|w| w == b"issue").unwrap();
        entry[at] = b'j';
        assert_eq!(
            Entry::decode(&entry),
            Err(EntryError::UnknownEvent("jssue".into()))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Entry::decode(&bytes);
        }
    }
}
