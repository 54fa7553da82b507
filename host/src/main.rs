//! The `maas` command: parses the command line, runs it, and reports a failure as one
//! `error:` line (plus a `hint:` line when there is one) with exit code 1 or 2; under
//! `--json`, as one JSON object on stderr instead.

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
        Err(e) => {
            // The line did not parse, so `--json` is looked for among the raw words.
            let json = std::env::args_os()
                .take_while(|a| a != "--")
                .any(|a| a == "--json");
            return fail(&CliError::from_clap(&e), json);
        }
    };
    let json = parsed.globals.json;
    // Not locked for the whole run: `maas mcp` writes stdout from another thread.
    let mut out = std::io::stdout();
    match cli::run(parsed, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, json),
    }
}

fn fail(error: &CliError, json: bool) -> ExitCode {
    if json {
        eprintln!(
            "{}",
            maas_host::render::json_text(&error.report_json(), false)
        );
    } else {
        eprintln!("{}", error.report());
    }
    ExitCode::from(error.exit_code())
}
