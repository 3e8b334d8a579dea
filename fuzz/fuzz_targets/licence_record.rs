#![no_main]
use libfuzzer_sys::fuzz_target;
use licreg::ids::LicenceKind;

fuzz_target!(|data: &[u8]| {
    for kind in [LicenceKind::Driver, LicenceKind::Vehicle, LicenceKind::Platform] {
        let _ = licreg::model::LicenceRecord::parse_json(kind, data);
    }
});
