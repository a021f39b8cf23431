//! Project tasks behind cargo aliases (see `.cargo/config.toml`), so that a fresh clone
//! needs nothing but rustup:
//!
//! - `cargo demo`: builds the demo workload for wasm32-wasip2 and runs it under the host;
//! - `cargo example NAME [HOST-FLAGS... --] [ARGS...]`: the same for any example in
//!   `examples/`, with `sandloop run` flags (the policy) before a `--`;
//! - `cargo xtask build-examples`: builds every example for wasm32-wasip2;
//! - `cargo xtask dev-cert DIR`: writes a development CA and a certificate for localhost
//!   (for the TLS examples).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, anyhow, bail};

mod dev_cert;
#[path = "../../tests/artifacts/wasm_target.rs"]
mod wasm_target;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => run_example("demo", &args[1..]),
        Some("example") => match args.get(1) {
            Some(name) => run_example(name, &args[2..]),
            None => bail!("usage: cargo example NAME [ARGS...]"),
        },
        Some("build-examples") => {
            build_examples(None)?;
            Ok(ExitCode::SUCCESS)
        }
        Some("dev-cert") => {
            let dir = args.get(1).map_or("target/dev-cert", String::as_str);
            dev_cert::write(Path::new(dir))
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("write development certificates to {dir}"))?;
            println!("{dir}: ca.pem, cert.pem and key.pem (localhost, 127.0.0.1, ::1)");
            Ok(ExitCode::SUCCESS)
        }
        _ => bail!(
            "usage: cargo xtask (demo | example NAME [ARGS...] | build-examples | dev-cert [DIR])"
        ),
    }
}

/// The workspace root (this crate lives in `<root>/xtask`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Builds the examples (one, or all) for wasm32-wasip2 in release.
fn build_examples(name: Option<&str>) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if let Some(installed) =
        wasm_target::ensure_wasm_target(Path::new(&rustc), &root()).map_err(|e| anyhow!(e))?
    {
        eprintln!("installed the guest target: {installed}");
    }
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "-p",
        "sandloop-examples",
    ]);
    if let Some(name) = name {
        cmd.args(["--bin", name]);
    }
    let status = cmd.status().context("run cargo build for the examples")?;
    if !status.success() {
        bail!("building the examples for wasm32-wasip2 failed");
    }
    Ok(())
}

/// Builds example `name` and the host, then runs the example under the host.
///
/// With a `--` among `args`, what comes before it are flags of `sandloop run` (the policy:
/// `--allow-listen`, `--allow-connect`, ...) and what comes after are the example's own
/// arguments; without one, every argument is the example's.
fn run_example(name: &str, args: &[String]) -> Result<ExitCode> {
    let (host_flags, args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..0], args),
    };
    build_examples(Some(name))?;
    let wasm = root().join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "sandloop-host",
        "--bin",
        "sandloop",
        "--",
        "run",
    ]);
    cmd.args(host_flags).arg(&wasm).arg("--").args(args);
    let status = cmd.status().context("run the sandloop host")?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
