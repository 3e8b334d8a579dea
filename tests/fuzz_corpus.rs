//! Replays the committed seed corpus of every fuzz target (`fuzz/seeds/<target>/`) through the
//! same code the fuzzers run (`fuzz/bodies.rs`), so every `cargo test` re-checks what fuzzing
//! found, without a nightly toolchain.

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::path::Path;

#[test]
fn every_target_has_seeds_and_accepts_them_all() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut total = 0;
    for (name, run) in bodies::TARGETS {
        let dir = seeds.join(name);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "{name} has no seeds");
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
        }
        total += files.len();
    }
    println!(
        "{total} seeds replayed across {} targets",
        bodies::TARGETS.len()
    );
}
