#![no_main]
use libfuzzer_sys::fuzz_target;
use licreg::ids::{CitizenId, CreditCode, LicenceNumber, Plate, ShortSerial, Vin};

fuzz_target!(|data: &[u8]| {
    let _ = ShortSerial::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<CitizenId>();
        let _ = text.parse::<CreditCode>();
        let _ = text.parse::<Vin>();
        let _ = text.parse::<Plate>();
        let _ = text.parse::<LicenceNumber>();
    }
});
