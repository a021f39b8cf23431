//! Makes sure the toolchain cargo builds with has the `wasm32-wasip2` standard library.
//!
//! `rust-toolchain.toml` names the target, and rustup installs it on first use, but not
//! everywhere: a machine whose rustup already has the pinned toolchain without the target,
//! or that runs with `RUSTUP_AUTO_INSTALL=0`, would stop every guest build with
//! `can't find crate for std`. So the two places that build guests (this crate's build
//! script and the xtask behind `cargo demo`) ask for the target themselves, once, with
//! `rustup target add`, and otherwise stop with the one command to run.
//!
//! Shared by `tests/artifacts/build.rs` and `xtask` through `#[path]`: a build script
//! cannot depend on a workspace crate's library without making it a build dependency,
//! and this is one function.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Installs [`WASM_TARGET`] for the toolchain of `rustc` (run in `dir`, where
/// `rust-toolchain.toml` picks the toolchain) when it is missing: `Ok(None)` when it was
/// there, `Ok(Some(command))` with the command that installed it. `Err` says what failed
/// and the command that fixes it.
pub fn ensure_wasm_target(rustc: &Path, dir: &Path) -> Result<Option<String>, String> {
    let sysroot = sysroot(rustc, dir)?;
    if has_target(&sysroot) {
        return Ok(None);
    }
    // rustup names a toolchain's folder after the toolchain: `1.95.0-x86_64-unknown-linux-gnu`.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            sysroot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let fix = format!("rustup target add --toolchain {toolchain} {WASM_TARGET}");
    let added = Command::new("rustup")
        .args(["target", "add", "--toolchain", &toolchain, WASM_TARGET])
        .current_dir(dir)
        .status();
    match added {
        Ok(status) if status.success() && has_target(&sysroot) => Ok(Some(fix)),
        Ok(status) => Err(format!(
            "the {WASM_TARGET} target is not installed for {} and `{fix}` failed ({status}); \
             run it by hand, or install the target the way this toolchain was installed",
            sysroot.display()
        )),
        Err(err) => Err(format!(
            "the {WASM_TARGET} target is not installed for {} and rustup could not be run \
             ({err}); install the target for this toolchain (with rustup: `{fix}`)",
            sysroot.display()
        )),
    }
}

fn sysroot(rustc: &Path, dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("run `{} --print sysroot`: {e}", rustc.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} --print sysroot` failed: {}",
            rustc.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn has_target(sysroot: &Path) -> bool {
    sysroot
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .join("lib")
        .is_dir()
}
