#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = licreg::log::proof::TlogProof::parse_bytes(data) {
        let _ = proof.encode();
    }
});
