//! What supervision costs as the registry grows: replaying the ledger into the view at start-up,
//! and answering `/v1/stats` (funnel, overdue, licences by status) and the officers' queue.
//!
//! Fills a ledger with `LICREG_SUPERVISION_LICENCES` (default 100,000) issued driver licences,
//! each with its application and decision, one entry group per licence as the service writes
//! them. Baselines in the same run: a bare `serde_cbor` decode of every entry body (the least any
//! replay must do) and a bare walk of the licence map. Run with `cargo bench --bench supervision`.

use std::time::Instant;

use licreg::issuance::{self, IssueContext};
use licreg::ledger::{EventType, NewEntry, Seq};
use licreg::model::LicenceRecord;
use licreg::service;
use licreg::service::events::{self, ApplicationBody, DecisionBody};
use serde_json::json;

#[path = "support.rs"]
mod support;

/// A valid GB 11643 citizen ID for sequence number `n`.
fn citizen_id(n: u64) -> String {
    let k = n / 1000;
    let base = format!(
        "35020319{:02}{:02}{:02}{:03}",
        60 + (k / 336) % 40,
        1 + k % 12,
        1 + (k / 12) % 28,
        n % 1000
    );
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = base
        .bytes()
        .zip(weights)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{base}{check}")
}

fn entries_for(n: u64, state: &service::AppState, now: i64) -> Vec<NewEntry> {
    let id = format!("B{n:014}");
    let mut record: serde_json::Value =
        serde_json::from_str(include_str!("../schemas/examples/driver.json")).expect("example");
    record["citizen_id"] = json!(citizen_id(n));
    let parsed = LicenceRecord::parse(licreg::ids::LicenceKind::Driver, &record).expect("record");
    let app = ApplicationBody {
        application_id: id.clone(),
        kind: licreg::ids::LicenceKind::Driver,
        record: record.clone(),
        accepted: true,
        problems: Vec::new(),
        renewal_of: None,
    };
    let decision = DecisionBody {
        application_id: id.clone(),
        outcome: licreg::registry::bodies::DecisionOutcome::Approved,
        reasons: Vec::new(),
        policy: "national@2026.1".into(),
    };
    let context = IssueContext {
        application_id: Some(id.clone()),
        supersedes: None,
        version: None,
        serial: None,
        event: None,
        status_index: Some(n),
    };
    let issued = issuance::prepare(
        n + 1,
        &state.keys.signer().expect("signer"),
        &parsed,
        "rules",
        now,
        &context,
    )
    .expect("issue");
    let subject = vec![events::application_subject(&id)];
    vec![
        events::entry(EventType::Application, "portal", subject.clone(), &app).expect("entry"),
        events::entry(EventType::Decision, "rules", subject, &decision).expect("entry"),
        issued.entry,
    ]
}

fn main() {
    let licences = support::env_u64("LICREG_SUPERVISION_LICENCES", 100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = runtime.block_on(support::registry(dir.path(), Default::default()));
    let now = 1_795_406_400;
    let filled = Instant::now();
    // Three entries per licence, within the ledger's 64-entry append limit.
    for chunk in (0..licences).collect::<Vec<_>>().chunks(21) {
        let entries: Vec<NewEntry> = chunk
            .iter()
            .flat_map(|n| entries_for(*n, &state, now))
            .collect();
        state.ledger.append_all(entries).expect("append");
    }
    let size = state.ledger.size();
    println!(
        "filled {size} entries ({licences} licences) in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut bytes = 0usize;
    for seq in 0..size {
        let entry = state.ledger.entry(Seq(seq)).expect("entry");
        let value: licreg::cbor::Value = licreg::cbor::from_slice(&entry.body).expect("cbor");
        bytes += std::mem::size_of_val(&value);
    }
    let baseline = started.elapsed().as_secs_f64();
    let started = Instant::now();
    state.ledger.rebuild_view().expect("rebuild");
    let replay = started.elapsed().as_secs_f64();
    let counts = state.read_view().licence_counts().expect("counts");
    assert_eq!(
        counts["vehicle"]["valid"] + counts.get("driver").map_or(0, |c| c["valid"]),
        licences
    );
    println!(
        "read + decode every body (baseline): {:.2} s = {:.0} entries/s ({bytes} value bytes)",
        baseline,
        size as f64 / baseline
    );
    println!(
        "rebuild of the persisted view: {:.2} s = {:.0} entries/s ({:.2}x the baseline's time)",
        replay,
        size as f64 / replay,
        replay / baseline
    );

    // The running state, as an officer's dashboard asks it.
    for _ in 0..3 {
        let started = Instant::now();
        let bare: usize = state
            .read_view()
            .expired_by(now, usize::MAX)
            .expect("expiring")
            .len();
        let baseline_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let stats = service::stats::compute(&state).expect("stats");
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        let issued: u64 = stats.days.iter().map(|b| b.counts.issued).sum();
        assert_eq!(issued, licences);
        println!(
            "stats::compute over {licences} licences: {took_ms:.1} ms; baseline scan of the expiry index: {baseline_ms:.1} ms ({bare} past their end)"
        );
    }
}
