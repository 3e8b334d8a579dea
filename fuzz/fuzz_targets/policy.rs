#![no_main]
use libfuzzer_sys::fuzz_target;

// City policies, alert table and credit catalogue included: refused with reasons, never a panic.
fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = licreg::rules::Policy::parse(text);
    }
});
