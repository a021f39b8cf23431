//! Precompiled components (`sandloop compile`, `sandloop run --allow-precompiled`): native
//! code runs only when the user allows it, only from a `*.cwasm`, and only with its
//! integrity trailer intact, so a damaged file is a clear error (exit 2), never a crash.
//! And a panic of the host, which only trusted but bad native code can provoke from
//! outside, exits 70 saying "host bug" on one line, never 101 like a workload's trap.

mod common;

use std::ops::Range;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TempDir, path_str, sandloop, stderr_of};
use sha2::{Digest as _, Sha256};
use test_programs_artifacts::program;

/// The integrity trailer `sandloop compile` appends: a SHA-256, then `SLSHA256`.
const TRAILER_LEN: usize = 40;

/// `sandloop compile`s `hello_world` into `dir` and returns the `.cwasm`'s path.
fn compile_hello_world(dir: &TempDir) -> PathBuf {
    let cwasm = dir.join("hello_world.cwasm");
    let compile = sandloop(&[
        "compile",
        path_str(program("hello_world")),
        "-o",
        path_str(&cwasm),
    ]);
    assert_eq!(compile.status.code(), Some(0), "{}", stderr_of(&compile));
    cwasm
}

/// `sandloop run --allow-precompiled FILE`, without the caller's RUST_BACKTRACE (a host
/// panic's output is then one line, and comes without symbolizing the host's backtrace).
fn run_precompiled(file: &Path) -> std::process::Output {
    common::output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-precompiled", path_str(file)])
            .env_remove("SANDLOOP_LOG")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null()),
    )
}

/// The byte range of section `name` in `elf` (64-bit little-endian, as wasmtime writes).
fn section(elf: &[u8], name: &str) -> Range<usize> {
    let at = |offset: usize, len: usize| {
        let mut bytes = [0; 8];
        bytes[..len].copy_from_slice(&elf[offset..offset + len]);
        usize::try_from(u64::from_le_bytes(bytes)).expect("an offset")
    };
    let (table, entry, count, names_index) = (at(0x28, 8), at(0x3a, 2), at(0x3c, 2), at(0x3e, 2));
    let header = |index: usize| table + index * entry;
    let names = at(header(names_index) + 0x18, 8);
    (0..count)
        .map(header)
        .find(|&h| {
            let start = names + at(h, 4);
            elf[start..].starts_with(name.as_bytes()) && elf[start + name.len()] == 0
        })
        .map(|h| {
            let offset = at(h + 0x18, 8);
            offset..offset + at(h + 0x20, 8)
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// `code` with `at..at + 4` flipped.
fn flipped(code: &[u8], at: usize) -> Vec<u8> {
    let mut bytes = code.to_vec();
    for byte in &mut bytes[at..(at + 4).min(code.len())] {
        *byte ^= 0xa5;
    }
    bytes
}

#[test]
fn a_cwasm_runs_only_with_allow_precompiled() {
    let dir = TempDir::new("cwasm-flag");
    let cwasm = compile_hello_world(&dir);

    let refused = sandloop(&["run", path_str(&cwasm)]);
    let stderr = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--allow-precompiled"), "{stderr}");
    assert!(stderr.contains(path_str(&cwasm)), "{stderr}");

    let run = run_precompiled(&cwasm);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "Hello World\n");
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
}

#[test]
fn code_for_shared_threads_runs_only_there_and_a_mismatch_says_how_to_compile() {
    let dir = TempDir::new("cwasm-threads");
    let plain = compile_hello_world(&dir);
    let shared = dir.join("hello_world_shared.cwasm");
    let compile = sandloop(&[
        "compile",
        "--threads",
        path_str(program("hello_world")),
        "-o",
        path_str(&shared),
    ]);
    assert_eq!(compile.status.code(), Some(0), "{}", stderr_of(&compile));

    let run = sandloop(&[
        "run",
        "--threads",
        "1",
        "--allow-precompiled",
        path_str(&shared),
    ]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "Hello World\n");
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));

    let refused = sandloop(&[
        "run",
        "--threads",
        "1",
        "--allow-precompiled",
        path_str(&plain),
    ]);
    let stderr = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sandloop compile --threads"), "{stderr}");
}

#[test]
fn precompiled_code_under_another_extension_is_refused() {
    let dir = TempDir::new("cwasm-disguised");
    let cwasm = compile_hello_world(&dir);
    let disguised = dir.join("hello_world.wasm");
    std::fs::rename(&cwasm, &disguised).expect("rename");

    for run in [
        sandloop(&["run", path_str(&disguised)]),
        run_precompiled(&disguised),
    ] {
        let stderr = stderr_of(&run);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("refusing native code"), "{stderr}");
    }
}

#[test]
fn a_damaged_cwasm_is_refused_with_exit_2_never_a_crash() {
    let dir = TempDir::new("cwasm-damaged");
    let sealed = std::fs::read(compile_hello_world(&dir)).expect("read the .cwasm");
    let code_len = sealed.len() - TRAILER_LEN;
    let (text, info) = (
        section(&sealed, ".text"),
        section(&sealed, ".wasmtime.info"),
    );
    let integrity = "integrity check failed";
    let no_trailer = "no integrity trailer";
    let cases = [
        (
            "code",
            flipped(&sealed, text.start + text.len() / 2),
            integrity,
        ),
        ("metadata", flipped(&sealed, info.start + 16), integrity),
        (
            "metadata",
            flipped(&sealed, info.start + info.len() / 2),
            integrity,
        ),
        ("ELF header", flipped(&sealed, 0x28), integrity),
        ("digest", flipped(&sealed, code_len + 8), integrity),
        ("tag", flipped(&sealed, sealed.len() - 4), no_trailer),
        (
            "truncated",
            sealed[..sealed.len() - 1000].to_vec(),
            no_trailer,
        ),
        ("without trailer", sealed[..code_len].to_vec(), no_trailer),
    ];
    let damaged = dir.join("damaged.cwasm");
    for (what, bytes, words) in cases {
        std::fs::write(&damaged, bytes).expect("write the damaged .cwasm");
        let run = run_precompiled(&damaged);
        let stderr = stderr_of(&run);
        assert_eq!(
            run.status.signal(),
            None,
            "{what}: the host crashed: {stderr}"
        );
        assert_eq!(run.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(words), "{what}: {stderr}");
        assert!(
            stderr.contains("compile the component again"),
            "{what}: {stderr}"
        );
    }
}

/// Nothing a workload does panics the host, but trusted native code can: a `.cwasm`'s
/// author can rewrite its trailer (the hash is no signature). Damaged wasmtime metadata,
/// re-sealed, made wasmtime panic at some places (and fail cleanly, abort, or run code
/// that traps, at others: which, depends on the bytes of the program compiled), so the
/// test walks the metadata until the host panics, and checks that run.
#[test]
fn a_host_panic_exits_70_with_one_line_saying_host_bug_never_101() {
    const TRIES: usize = 120;
    let dir = TempDir::new("cwasm-host-bug");
    let sealed = std::fs::read(compile_hello_world(&dir)).expect("read the .cwasm");
    let code = &sealed[..sealed.len() - TRAILER_LEN];
    let info = section(code, ".wasmtime.info");
    let forged = dir.join("forged.cwasm");
    for step in 0..TRIES {
        let mut bytes = flipped(code, info.start + info.len() * step / TRIES);
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        bytes.extend_from_slice(b"SLSHA256");
        std::fs::write(&forged, bytes).expect("write the forged .cwasm");
        let run = run_precompiled(&forged);
        let stderr = stderr_of(&run);
        // A guest's own panic ends as a trap ("workload trapped", 101); any other panic
        // is the host's.
        if stderr.contains("panicked") && !stderr.contains("workload trapped") {
            assert_eq!(
                run.status.code(),
                Some(70),
                "a host panic must not read as a workload's trap (101): {stderr}"
            );
        }
        if run.status.code() == Some(70) {
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {stderr}");
            assert!(
                lines[0].starts_with("error: host bug: sandloop panicked at "),
                "{stderr}"
            );
            assert!(lines[0].contains("please report it"), "{stderr}");
            return;
        }
    }
    panic!("no forged .cwasm made the host panic in {TRIES} tries; test the hook another way");
}
