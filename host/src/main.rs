//! `sandloop`: run and precompile sandloop workloads from the command line.
//!
//! Exit codes: the guest's own exit code when it exits; 101 when it traps (as a Rust
//! program that panics does); 2 when the host cannot run it (missing file, not a
//! component, bad flags).

mod cli;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = cli::Cli::parse();
    init_logging();
    let code = match cli::execute(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            cli::HOST_ERROR_EXIT_CODE
        }
    };
    std::process::exit(code);
}

/// Host logs go to stderr, filtered by `SANDLOOP_LOG` (tracing's `EnvFilter` syntax,
/// e.g. `debug` or `sandloop_host=trace`); warnings only by default.
fn init_logging() {
    let filter = match EnvFilter::try_from_env("SANDLOOP_LOG") {
        Ok(filter) => filter,
        Err(err) => {
            if std::env::var_os("SANDLOOP_LOG").is_some() {
                eprintln!("warning: ignoring SANDLOOP_LOG ({err}); logging warnings only");
            }
            EnvFilter::new("warn")
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
