//! The logged entry: one event in the registry's history, as the exact bytes that are hashed.
//!
//! An entry is a CBOR array `[version, seq, timestamp_ms, event, actor, subjects, body, prev_hash]`,
//! `version` being [`ENTRY_FORMAT_VERSION`] and `event` the event's code. The
//! Merkle leaf is `SHA-256(0x00 ‖ entry bytes)`, and `prev_hash` is the previous entry's leaf hash,
//! so the entries also form a hash chain. `subjects` names the licences, holders and plates the
//! event concerns; the index trees are derived from it, which is what lets the audit check them.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::log::merkle::Hash;

/// The entry format this build writes and reads. A later format gets a new number and its own
/// decoder beside this one, so entries already logged keep decoding.
pub const ENTRY_FORMAT_VERSION: u8 = 1;

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
    ($($variant:ident => $name:literal = $code:literal),+ $(,)?) => {
        /// What happened. The codes are stable: they are part of the logged bytes. The names are
        /// what people and the JSON APIs see.
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

            /// The event's code in the logged entry.
            pub fn code(self) -> u8 {
                match self { $(EventType::$variant => $code),+ }
            }

            pub fn from_code(code: u8) -> Option<Self> {
                match code { $($code => Some(EventType::$variant),)+ _ => None }
            }
        }
    };
}

event_types! {
    Application => "application" = 1,
    AgencyAnswer => "agency_answer" = 2,
    Decision => "decision" = 3,
    Issue => "issue" = 4,
    Suspension => "suspension" = 5,
    Reinstatement => "reinstatement" = 6,
    Revocation => "revocation" = 7,
    Renewal => "renewal" = 8,
    Reissue => "reissue" = 9,
    Rebind => "rebind" = 10,
    Cancellation => "cancellation" = 11,
    Expiry => "expiry" = 12,
    Access => "access" = 13,
    Alert => "alert" = 14,
    Report => "report" = 15,
    CreditRecord => "credit_record" = 16,
    KeyChange => "key_change" = 17,
    ReportReview => "report_review" = 18,
    Import => "import" = 19,
    AlertRefused => "alert_refused" = 20,
    WalletActivation => "wallet_activation" = 21,
    WalletBinding => "wallet_binding" = 22,
    WalletUnbinding => "wallet_unbinding" = 23,
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
    #[error("unknown event code {0}")]
    UnknownEvent(u8),
    #[error("entry format version {found} is not one this build reads (it reads {ENTRY_FORMAT_VERSION})")]
    UnsupportedVersion { found: u64 },
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

/// An entry read where its bytes lie, for walks over the whole log (the audit) that check every
/// entry and keep none: the same checks as [`Entry::decode`], which is this plus copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub seq: Seq,
    pub timestamp_ms: u64,
    pub event: EventType,
    pub actor: &'a str,
    pub subjects: Vec<(SubjectKind, &'a str)>,
    pub body: &'a [u8],
    pub prev_hash: Hash,
}

#[derive(Serialize)]
struct EntryWire(
    u8,
    u64,
    u64,
    u8,
    String,
    Vec<(u8, String)>,
    ByteBuf,
    ByteBuf,
);

/// The entry array as read: strings and byte strings borrowed from the input.
#[derive(Deserialize)]
struct EntryWireRef<'a>(
    u8,
    u64,
    u64,
    u8,
    &'a str,
    Vec<(u8, &'a str)>,
    &'a serde_bytes::Bytes,
    &'a serde_bytes::Bytes,
);

impl NewEntry {
    /// Checks the limits an entry must meet before it is sequenced.
    pub fn check(&self) -> Result<(), EntryError> {
        check_texts(&self.actor, self.subjects.iter().map(|s| s.key.as_str()))?;
        if self.body.len() > MAX_ENTRY_BYTES - 1024 {
            return Err(EntryError::TooLarge {
                found: self.body.len(),
                limit: MAX_ENTRY_BYTES - 1024,
            });
        }
        Ok(())
    }
}

fn check_texts<'k>(
    actor: &str,
    subject_keys: impl ExactSizeIterator<Item = &'k str>,
) -> Result<(), EntryError> {
    if actor.is_empty() || actor.len() > MAX_KEY_BYTES {
        return Err(EntryError::Field {
            field: "actor",
            reason: "must be 1 to 128 bytes",
        });
    }
    let mut subject_keys = subject_keys;
    if subject_keys.len() > MAX_SUBJECTS {
        return Err(EntryError::Field {
            field: "subjects",
            reason: "too many subjects",
        });
    }
    if subject_keys.any(|key| key.is_empty() || key.len() > MAX_KEY_BYTES || key.contains('\0')) {
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
            ENTRY_FORMAT_VERSION,
            self.seq.0,
            self.timestamp_ms,
            self.event.code(),
            self.actor.clone(),
            self.subjects
                .iter()
                .map(|s| (s.kind.code(), s.key.clone()))
                .collect(),
            ByteBuf::from(self.body.clone()),
            ByteBuf::from(self.prev_hash.to_vec()),
        );
        // Serialising integers, strings and byte strings cannot fail.
        crate::cbor::to_vec(&wire).unwrap_or_default()
    }

    /// Parses entry bytes, refusing oversize input, trailing bytes and unknown events.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry = EntryRef::decode(bytes)?;
        Ok(Entry {
            seq: entry.seq,
            timestamp_ms: entry.timestamp_ms,
            event: entry.event,
            actor: entry.actor.to_owned(),
            subjects: entry
                .subjects
                .iter()
                .map(|(kind, key)| Subject::new(*kind, *key))
                .collect(),
            body: entry.body.to_vec(),
            prev_hash: entry.prev_hash,
        })
    }
}

impl<'a> EntryRef<'a> {
    /// Parses entry bytes without copying them: the one entry decoder.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge {
                found: bytes.len(),
                limit: MAX_ENTRY_BYTES,
            });
        }
        let wire: EntryWireRef<'a> =
            crate::cbor::from_slice_borrowed(bytes).map_err(|e| wire_error(bytes, e))?;
        if wire.0 != ENTRY_FORMAT_VERSION {
            return Err(EntryError::UnsupportedVersion {
                found: u64::from(wire.0),
            });
        }
        let event = EventType::from_code(wire.3).ok_or(EntryError::UnknownEvent(wire.3))?;
        let subjects = wire
            .5
            .into_iter()
            .map(|(code, key)| {
                SubjectKind::from_code(code)
                    .map(|kind| (kind, key))
                    .ok_or(EntryError::Field {
                        field: "subjects",
                        reason: "unknown subject kind",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_texts(wire.4, subjects.iter().map(|(_, key)| *key))?;
        let prev_hash: Hash = wire.7.as_ref().try_into().map_err(|_| EntryError::Field {
            field: "prev_hash",
            reason: "must be 32 bytes",
        })?;
        Ok(EntryRef {
            seq: Seq(wire.1),
            timestamp_ms: wire.2,
            event,
            actor: wire.4,
            subjects,
            body: wire.6.as_ref(),
            prev_hash,
        })
    }
}

/// Serialises an event body the way every entry body is serialised: packed CBOR, where a struct
/// is a map keyed by each field's position (0, 1, …) rather than its name. Enums are their text
/// (`crate::text_enum`), never a variant index. Field order is therefore part of the format: new fields go last, and anything else
/// is a new [`ENTRY_FORMAT_VERSION`]. Bodies are decoded by `registry::Event::decode` only.
pub fn encode_body<T: Serialize>(body: &T) -> Result<Vec<u8>, String> {
    crate::cbor::to_vec_packed(body).map_err(|e| e.to_string())
}

/// Names what is wrong with bytes that are not a current-format entry: another format version
/// (read from the array's first item, whatever its shape) or plain bad CBOR.
fn wire_error(bytes: &[u8], error: crate::cbor::CborError) -> EntryError {
    // The size limit was checked before, so this second parse stays bounded.
    if let Ok(crate::cbor::Value::Array(items)) = crate::cbor::from_slice(bytes) {
        if let Some(crate::cbor::Value::Integer(found)) = items.first() {
            if *found != i128::from(ENTRY_FORMAT_VERSION) {
                return EntryError::UnsupportedVersion {
                    found: u64::try_from(*found).unwrap_or(u64::MAX),
                };
            }
        }
    }
    EntryError::Cbor(error.to_string())
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
    fn the_borrowed_read_sees_what_the_owned_one_does() {
        let entry = sample();
        let bytes = entry.encode();
        let borrowed = EntryRef::decode(&bytes).unwrap();
        assert_eq!(borrowed.seq, entry.seq);
        assert_eq!(borrowed.timestamp_ms, entry.timestamp_ms);
        assert_eq!(borrowed.event, entry.event);
        assert_eq!(borrowed.actor, entry.actor);
        let subjects: Vec<(SubjectKind, &str)> = entry
            .subjects
            .iter()
            .map(|s| (s.kind, s.key.as_str()))
            .collect();
        assert_eq!(borrowed.subjects, subjects);
        assert_eq!(borrowed.body, &entry.body[..]);
        assert_eq!(borrowed.prev_hash, entry.prev_hash);
        // It points into the input rather than copying it.
        let range = bytes.as_ptr_range();
        assert!(range.contains(&borrowed.body.as_ptr()));
    }

    #[test]
    fn event_names_and_codes_round_trip_and_codes_are_distinct() {
        let mut codes = std::collections::BTreeSet::new();
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(*event));
            assert_eq!(EventType::from_code(event.code()), Some(*event));
            assert!(codes.insert(event.code()), "{event} shares its code");
        }
    }

    #[test]
    fn the_wire_form_starts_with_the_format_version_and_the_event_code() {
        let bytes = sample().encode();
        // An array of eight, version 1, then seq 42 (0x18 0x2a), then the timestamp.
        assert_eq!(&bytes[..4], &[0x88, ENTRY_FORMAT_VERSION, 0x18, 0x2a]);
        let issue_code = EventType::Issue.code();
        assert_eq!(
            bytes[13], issue_code,
            "event code after the 9-byte timestamp"
        );
    }

    #[test]
    fn trailing_bytes_unknown_events_and_other_versions_are_refused() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(matches!(Entry::decode(&bytes), Err(EntryError::Cbor(_))));
        let mut entry = sample().encode();
        entry[13] = 0x00;
        assert_eq!(Entry::decode(&entry), Err(EntryError::UnknownEvent(0)));
        let mut future = sample().encode();
        future[1] = 2;
        assert_eq!(
            Entry::decode(&future),
            Err(EntryError::UnsupportedVersion { found: 2 })
        );
        // A later format may change the shape too: still named by its version.
        let other_shape = crate::cbor::to_vec(&(7u8, "anything")).unwrap();
        assert_eq!(
            Entry::decode(&other_shape),
            Err(EntryError::UnsupportedVersion { found: 7 })
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Entry::decode(&bytes);
        }
    }
}
