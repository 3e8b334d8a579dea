//! Writes `drivers.jsonl` and `vehicles.jsonl` for `licreg import`: N licences in the national
//! mix (70% drivers, 30% vehicles), valid identifiers, each line with its legacy number.
//!
//! `cargo run --release --example gen_import -- OUT_DIR N`

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(count)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen_import OUT_DIR N");
        std::process::exit(2);
    };
    std::fs::create_dir_all(out)?;
    let mut drivers = BufWriter::new(std::fs::File::create(format!("{out}/drivers.jsonl"))?);
    let mut vehicles = BufWriter::new(std::fs::File::create(format!("{out}/vehicles.jsonl"))?);
    for n in 0..count {
        if licreg::sample::is_driver(n) {
            let line = licreg::sample::import_line(licreg::sample::driver(n), &format!("D-{n}"));
            writeln!(drivers, "{line}")?;
        } else {
            let line = licreg::sample::import_line(licreg::sample::vehicle(n), &format!("V-{n}"));
            writeln!(vehicles, "{line}")?;
        }
    }
    drivers.flush()?;
    vehicles.flush()?;
    Ok(())
}
