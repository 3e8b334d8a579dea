#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = licreg::log::note::SignedNote::parse_bytes(data) {
        let _ = licreg::log::checkpoint::Checkpoint::parse(note.text());
        let _ = note.encode();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<licreg::log::note::VerifierKey>();
    }
});
