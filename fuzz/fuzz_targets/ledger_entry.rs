#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = licreg::ledger::Entry::decode(data) {
        assert_eq!(licreg::ledger::Entry::decode(&entry.encode()), Ok(entry));
    }
});
