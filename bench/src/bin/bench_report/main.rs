//! Turns the runs of the benchmark harness (bench/run.sh) into markdown tables and a plot.
//!
//! ```text
//! bench_report --csv bench/results/echo.csv --csv bench/results/http.csv \
//!     --markdown target/bench/tables.md --svg bench/results/echo.svg --caption "2026-11-25, 2 cores"
//! ```
//! Each CSV holds one row per run (see [`runs`] for the columns). Runs of the same test,
//! server and message size are repetitions: the tables give their medians, the spread
//! (min–max) of the rate, and the ratio of each server's median rate to that of `mio` (the
//! native ceiling) and of `uvloop`. The plot shows the echo test: msgs/s per server for each
//! message size, and the server's user CPU time per message.

mod markdown;
mod plot;
mod runs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, ensure};
use clap::Parser;

/// Markdown tables and a plot from the benchmark harness's runs.
#[derive(Parser)]
#[command(name = "bench_report")]
struct Args {
    /// A CSV of runs (repeatable); a missing file is skipped with a note.
    #[arg(long = "csv", value_name = "PATH", required = true)]
    csvs: Vec<PathBuf>,
    /// Write the tables here (markdown).
    #[arg(long, value_name = "PATH")]
    markdown: PathBuf,
    /// Draw the echo plot here (SVG).
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// A line under the plot's title: the date and the machine.
    #[arg(long, default_value = "")]
    caption: String,
}

fn main() -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench_report: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let mut all = Vec::new();
    for path in &args.csvs {
        if !path.exists() {
            eprintln!("bench_report: {} does not exist; skipped", path.display());
            continue;
        }
        all.extend(runs::read_csv(path)?);
    }
    ensure!(!all.is_empty(), "no runs in {:?}", args.csvs);
    let summaries = runs::summarize(&all);
    let tables = markdown::tables(&summaries);
    std::fs::write(&args.markdown, tables)
        .with_context(|| format!("write {}", args.markdown.display()))?;
    if let Some(svg) = &args.svg {
        let echo: Vec<_> = summaries.iter().filter(|s| s.test == "echo").collect();
        if echo.is_empty() {
            eprintln!("bench_report: no echo runs; no plot");
        } else {
            plot::draw(svg, &echo, &args.caption)
                .with_context(|| format!("draw {}", svg.display()))?;
        }
    }
    Ok(())
}
