//! Bytes per entry by event type, by sled tree (before compression), and on disk, for a
//! ledger directory (read-only): `cargo run --release --example ledger_stats -- DATA/ledger`.

use std::collections::BTreeMap;
use std::sync::Arc;

fn du(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: ledger_stats LEDGER_DIR")?;
    let ledger = licreg::ledger::Ledger::open(
        std::path::Path::new(&dir),
        None,
        Arc::new(licreg::clock::SystemClock),
    )?;
    let mut by_event: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let size = ledger.size();
    for seq in 0..size {
        let bytes = ledger.entry_bytes(licreg::ledger::Seq(seq))?;
        let entry = licreg::ledger::Entry::decode(&bytes)?;
        let slot = by_event.entry(entry.event.as_str()).or_default();
        slot.0 += 1;
        slot.1 += bytes.len() as u64;
    }
    println!("| event | entries | encoded bytes per entry |");
    println!("|---|---|---|");
    let mut total = 0;
    for (event, (count, bytes)) in &by_event {
        total += bytes;
        println!("| {event} | {count} | {} |", bytes / count.max(&1));
    }
    drop(ledger);
    trees(&dir, size)?;
    let disk = du(std::path::Path::new(&dir));
    println!(
        "\n{size} entries: {} encoded bytes per entry on average; {disk} bytes on disk = {} per entry",
        total / size.max(1),
        disk / size.max(1)
    );
    Ok(())
}

/// Keys and key + value bytes per tree, per log entry: where the bytes besides the entries go.
fn trees(dir: &str, entries: u64) -> Result<(), Box<dyn std::error::Error>> {
    let db = sled::Config::new().path(dir).use_compression(true).open()?;
    println!("\n| tree | rows per entry | key + value bytes per entry |");
    println!("|---|---|---|");
    let (mut all_rows, mut all_bytes) = (0u64, 0u64);
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        for row in tree.iter() {
            let (key, value) = row?;
            rows += 1;
            bytes += (key.len() + value.len()) as u64;
        }
        if rows == 0 {
            continue;
        }
        all_rows += rows;
        all_bytes += bytes;
        let per = entries.max(1) as f64;
        println!(
            "| {} | {:.2} | {:.0} |",
            String::from_utf8_lossy(&name),
            rows as f64 / per,
            bytes as f64 / per
        );
    }
    println!(
        "| all | {:.2} | {:.0} |",
        all_rows as f64 / entries.max(1) as f64,
        all_bytes as f64 / entries.max(1) as f64
    );
    Ok(())
}
