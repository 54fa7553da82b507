//! The `maas` command: parses the command line, runs it, and reports a failure as one
//! `error:` line (plus a `hint:` line when there is one) with exit code 1 or 2.

use clap::Parser;
use maas_host::cli::{self, Cli, CliError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let parsed = match Cli::try_parse() {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap prints them as they are meant to be read.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => return fail(&CliError::from_clap(&e)),
    };
    // Not locked for the whole run: `maas mcp` writes stdout from another thread.
    let mut out = std::io::stdout();
    match cli::run(parsed, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &CliError) -> ExitCode {
    eprintln!("{}", error.report());
    ExitCode::from(error.exit_code())
}
