//! Builds every guest program the tests run (tests/programs and examples/) for wasm32-wasip2,
//! once per host build, the way wasmtime's own test-programs-artifacts does: a nested cargo
//! with its own target directory (no lock contention with the outer build), in release so the
//! guest code the tests and benchmarks run is the code users ship.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "wasm_target.rs"]
mod wasm_target;

const PACKAGES: &[&str] = &["test-programs", "sandloop-examples"];

/// The programs also built portable (the `sandloop` crate without `host-reactor`: standard
/// WASI 0.2 only), as (package, binary): run by the tests on WASI hosts nobody here wrote.
const PORTABLE: &[(&str, &str)] = &[
    ("test-programs", "portable_net"),
    ("sandloop-examples", "echo_server"),
    ("sandloop-examples", "http_hello"),
    ("sandloop-examples", "wasi_http_hello"),
];

/// The features the portable build turns on: `wasi_http_hello`'s handler (it also reaches
/// the other portable programs, which must not import or export `wasi:http` for it; the
/// `wasi_http` tests check that).
const PORTABLE_FEATURES: &str = "sandloop-examples/wasi-http";

/// Features only the portable build has (`wasi-http` needs it): the binaries requiring
/// them are not built with the host's reactor.
const PORTABLE_ONLY_FEATURES: &[&str] = &["wasi-http"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../..").canonicalize().unwrap();
    for dir in [
        "guest",
        "examples",
        "tests/programs",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed=wasm_target.rs");

    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    match wasm_target::ensure_wasm_target(Path::new(&rustc), &root) {
        Ok(None) => {}
        Ok(Some(installed)) => println!("cargo:warning=installed the guest target: {installed}"),
        Err(err) => panic!("{err}"),
    }

    let target_dir = root.join("target/wasm-programs");
    let mut cmd = guest_cargo(&root, &target_dir);
    for package in PACKAGES {
        cmd.arg("-p").arg(package);
    }
    let status = cmd
        .status()
        .expect("failed to run cargo for the guest programs");
    assert!(
        status.success(),
        "building the guest programs for wasm32-wasip2 failed"
    );

    // The portable builds: a target directory of their own, as the `sandloop` crate is
    // built with other features (and the examples' binaries have the same names).
    let portable_dir = root.join("target/wasm-programs-portable");
    let mut cmd = guest_cargo(&root, &portable_dir);
    cmd.arg("--no-default-features")
        .arg("--features")
        .arg(PORTABLE_FEATURES);
    for (package, bin) in PORTABLE {
        cmd.arg("-p").arg(package).arg("--bin").arg(bin);
    }
    let status = cmd
        .status()
        .expect("failed to run cargo for the portable guest programs");
    assert!(
        status.success(),
        "building the portable guest programs for wasm32-wasip2 failed"
    );

    let out_dir = target_dir.join("wasm32-wasip2/release");
    let mut entries = Vec::new();
    for package in PACKAGES {
        for name in bin_names(&root, package) {
            // Test programs and examples share one output folder: a name used twice would
            // leave whichever was built last under it.
            assert!(
                entries.iter().all(|(n, _)| *n != name),
                "two guest programs are named {name:?} (tests/programs and examples share names)"
            );
            let path = out_dir.join(format!("{name}.wasm"));
            assert!(path.exists(), "missing guest program {}", path.display());
            entries.push((name, path));
        }
    }
    let mut code = String::from(
        "/// Every guest program built for the tests: (name, path to the .wasm component).\npub const PROGRAMS: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &entries {
        code.push_str(&format!(
            "    ({name:?}, {:?}),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(
        "/// The programs built portable (standard WASI 0.2 only): (name, path).\npub const PORTABLE_PROGRAMS: &[(&str, &str)] = &[\n",
    );
    for (_, bin) in PORTABLE {
        let path = portable_dir.join(format!("wasm32-wasip2/release/{bin}.wasm"));
        assert!(
            path.exists(),
            "missing portable guest program {}",
            path.display()
        );
        code.push_str(&format!(
            "    ({bin:?}, {:?}),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&quiet_cases_macro(&root.join("tests/programs/src/bin")));
    let generated = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("programs.rs");
    fs::write(generated, code).unwrap();
}

/// A release build of guest code for wasm32-wasip2 into `target_dir`, without the outer
/// build's flags (they are for the host; the guest gets its own).
fn guest_cargo(root: &Path, target_dir: &Path) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--target=wasm32-wasip2")
        .arg("--target-dir")
        .arg(target_dir);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The macro `for_each_quiet_case!("program", callback)`, which expands to
/// `callback!("program": case, ...)` with the cases a test program lists before `; checked:`
/// in its `cases!(...)`: the guest program is the one place a case is named.
fn quiet_cases_macro(programs: &Path) -> String {
    let mut arms = String::new();
    let mut files: Vec<_> = fs::read_dir(programs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let source = fs::read_to_string(&path).unwrap();
        let Some(start) = source.find("cases!(") else {
            continue;
        };
        let list = &source[start + "cases!(".len()..];
        let list = &list[..list.find(");").expect("cases!( ... ); is closed")];
        let quiet = list.split(';').next().unwrap_or_default();
        let names: Vec<&str> = quiet
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let program = path.file_stem().unwrap().to_string_lossy();
        arms.push_str(&format!(
            "    ({program:?}, $callback:ident) => {{ $callback!({program:?}: {}); }};\n",
            names.join(", ")
        ));
    }
    format!(
        "/// Expands to `callback!(\"program\": case, ...)` with the quiet cases of a test\n\
         /// program (those its `cases!` lists before `; checked:`).\n\
         #[macro_export]\nmacro_rules! for_each_quiet_case {{\n{arms}}}\n"
    )
}

/// The binaries of a workspace package, read from its `src/bin/` folder or its manifest's
/// `[[bin]]` names (but those requiring a portable-only feature), so adding a program needs
/// no change here.
fn bin_names(root: &Path, package: &str) -> Vec<String> {
    let dir = match package {
        "test-programs" => root.join("tests/programs"),
        "sandloop-examples" => root.join("examples"),
        other => panic!("unknown package {other}"),
    };
    let mut names = Vec::new();
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    // Each `[[bin]]` section's name, unless it requires a portable-only feature.
    let mut section: Option<(String, bool)> = None;
    let mut in_bin = false;
    for line in manifest.lines().chain(["[end]"]) {
        let line = line.trim();
        if line.starts_with('[') {
            if let Some((name, false)) = section.take() {
                names.push(name);
            }
            in_bin = line == "[[bin]]";
        } else if in_bin
            && line.starts_with("name")
            && let Some(name) = line.split('"').nth(1)
        {
            section = Some((name.to_string(), false));
        } else if in_bin
            && line.starts_with("required-features")
            && let Some((_, portable_only)) = &mut section
        {
            *portable_only = PORTABLE_ONLY_FEATURES
                .iter()
                .any(|feature| line.contains(&format!("\"{feature}\"")));
        }
    }
    if let Ok(read) = fs::read_dir(dir.join("src/bin")) {
        for entry in read.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}
