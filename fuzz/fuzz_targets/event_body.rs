#![no_main]
//! Every event body decoder: the first byte picks the event type, the rest is the body. A body
//! that decodes must encode to an entry that decodes to the same event type.
use libfuzzer_sys::fuzz_target;
use licreg::ledger::EventType;
use licreg::registry::Event;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let event_type = EventType::ALL[usize::from(pick) % EventType::ALL.len()];
    if let Ok(event) = Event::decode(event_type, body) {
        assert_eq!(event.event_type(), event_type);
        let entry = event.entry("fuzz", Vec::new()).expect("a decoded body encodes");
        assert!(Event::decode(entry.event, &entry.body).is_ok());
    }
});
