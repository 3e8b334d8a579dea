#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = licreg::credential::Claims::decode(data);
    let trust = licreg::keys::TrustList::default();
    let _ = licreg::credential::verify(data, &trust, 1_800_000_000, 300);
});
