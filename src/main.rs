//! The `licreg` command: keys, issuance, verification, the ledger, and the demo.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("licreg: error: {error:#}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
