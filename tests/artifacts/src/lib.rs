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
