#![no_main]
use libfuzzer_sys::fuzz_target;
use licreg::rules::{AgencyFacts, AgencyName};

// What an agency answers is input: every agency's facts parser must refuse bad JSON cleanly.
fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for name in [
        "public_security",
        "traffic_police",
        "exam_centre",
        "vehicle_registration",
        "market_regulator",
        "provincial_transport",
    ] {
        if let Some(agency) = AgencyName::parse(name) {
            let _ = AgencyFacts::parse(agency, &json);
        }
    }
});
