//! The body of every fuzz target, shared by the libFuzzer targets in `fuzz_targets/` and by
//! `tests/fuzz_corpus.rs`, which replays the committed seed corpus through the same code in
//! every `cargo test`. Each function must accept any input without panicking (an `expect` here
//! states a round-trip property: its failure is a finding).

use licreg::ids::LicenceKind;
use licreg::ids::{CitizenId, CreditCode, LicenceNumber, Plate, ShortSerial, Vin};
use licreg::ledger::EventType;
use licreg::registry::Event;
use licreg::rules::{AgencyFacts, AgencyName};

/// A target's body: any bytes in, never a panic.
pub type Body = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/` file and corpus directory.
pub const TARGETS: &[(&str, Body)] = &[
    ("agency_facts", agency_facts),
    ("cose_decode", cose_decode),
    ("credential_verify", credential_verify),
    ("event_body", event_body),
    ("identifiers", identifiers),
    ("ledger_entry", ledger_entry),
    ("licence_record", licence_record),
    ("policy", policy),
    ("qr_input", qr_input),
    ("signed_note", signed_note),
    ("tlog_proof", tlog_proof),
    ("trust_list", trust_list),
    ("status_list", status_list),
    ("tile_path", tile_path),
    ("witness_request", witness_request),
    ("bundle_split", bundle_split),
    ("presentation", presentation),
];

/// What an agency answers is input: every agency's facts parser must refuse bad JSON cleanly.
pub fn agency_facts(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for agency in AgencyName::ALL {
        let _ = AgencyFacts::parse(agency, &json);
    }
}

pub fn cose_decode(data: &[u8]) {
    if let Ok(sign1) = licreg::cose::decode(data) {
        let _ = sign1.algorithm();
        let _ = sign1.to_be_signed();
    }
}

pub fn credential_verify(data: &[u8]) {
    let _ = licreg::credential::Claims::decode(data);
    let trust = licreg::keys::TrustList::default();
    let _ = licreg::credential::verify(data, &trust, 1_800_000_000, 300);
}

/// Every event body decoder: the first byte picks the event type, the rest is the body. A body
/// that decodes must encode to an entry that decodes to the same event type.
pub fn event_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let event_type = EventType::ALL[usize::from(pick) % EventType::ALL.len()];
    if let Ok(event) = Event::decode(event_type, body) {
        assert_eq!(event.event_type(), event_type);
        let entry = event
            .entry("fuzz", Vec::new())
            .expect("a decoded body encodes");
        assert!(Event::decode(entry.event, &entry.body).is_ok());
    }
}

pub fn identifiers(data: &[u8]) {
    let _ = ShortSerial::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<CitizenId>();
        let _ = text.parse::<CreditCode>();
        let _ = text.parse::<Vin>();
        let _ = text.parse::<Plate>();
        let _ = text.parse::<LicenceNumber>();
    }
}

pub fn ledger_entry(data: &[u8]) {
    if let Ok(entry) = licreg::ledger::Entry::decode(data) {
        assert_eq!(licreg::ledger::Entry::decode(&entry.encode()), Ok(entry));
    }
}

pub fn licence_record(data: &[u8]) {
    for kind in [
        LicenceKind::Driver,
        LicenceKind::Vehicle,
        LicenceKind::Platform,
    ] {
        let _ = licreg::model::LicenceRecord::parse_json(kind, data);
    }
}

/// City policies, alert table and credit catalogue included: refused with reasons, never a panic.
pub fn policy(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::rules::Policy::parse(text);
    }
}

pub fn qr_input(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::qr::decode_input(text);
    }
}

pub fn signed_note(data: &[u8]) {
    if let Ok(note) = licreg::log::note::SignedNote::parse_bytes(data) {
        let _ = licreg::log::checkpoint::Checkpoint::parse(note.text());
        let _ = note.encode();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<licreg::log::note::VerifierKey>();
    }
}

pub fn tlog_proof(data: &[u8]) {
    if let Ok(proof) = licreg::log::proof::TlogProof::parse_bytes(data) {
        let _ = proof.encode();
    }
}

pub fn trust_list(data: &[u8]) {
    let _ = licreg::keys::TrustList::parse(data);
}

pub fn status_list(data: &[u8]) {
    // The gzip+base64 bitstring a verifier downloads, and the signed list around it.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(list) = licreg::status_list::StatusList::decode(text) {
            let _ = licreg::status_list::StatusList::decode(&list.encode()).expect("re-decodes");
        }
    }
    let trust = licreg::keys::TrustList::default();
    let _ = licreg::status_list::verify(data, &trust, 1_800_000_000);
}

pub fn tile_path(data: &[u8]) {
    // A tile path from a URL: `<L>/<N>[.p/<W>]`, `entries/<N>[.p/<W>]`.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::log::tiles::TilePath::parse(text);
    }
}

pub fn witness_request(data: &[u8]) {
    // A C2SP tlog-witness add-checkpoint request body.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::witness::AddCheckpoint::parse(text);
    }
}

pub fn bundle_split(data: &[u8]) {
    // An entry bundle fetched by a mirror: length-prefixed entries, each then decoded.
    if let Some(entries) = licreg::log::tiles::split_bundle(data) {
        for entry in entries {
            let _ = licreg::ledger::Entry::decode(entry);
        }
    }
}

/// A scanned wallet code (what a passenger page, `POST /v1/verify` and the portrait route read)
/// and a typed activation code. A presentation that decodes has one encoding: its own bytes.
pub fn presentation(data: &[u8]) {
    use licreg::presentation::{decode, Scanned};
    if let Ok(Scanned::Dynamic(shown)) = decode(data) {
        assert_eq!(
            shown.encode(),
            data,
            "a decoded presentation re-encodes to itself"
        );
        let trust = licreg::keys::TrustList::default();
        let _ = licreg::presentation::verify(&shown, &trust, 1_800_000_000, 300);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::presentation::decode_text(text);
        let _ = licreg::registry::wallet::ActivationCode::parse(text);
    }
}
