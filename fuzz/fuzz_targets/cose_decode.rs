#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sign1) = licreg::cose::decode(data) {
        let _ = sign1.algorithm();
        let _ = sign1.to_be_signed();
    }
});
