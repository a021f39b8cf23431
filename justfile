# Thin wrappers over cargo. Nothing here is needed: `cargo demo`, `cargo example NAME` and
# `cargo test --release` do the same without installing just.

# The demo workload under the host.
demo:
    cargo demo

# Any example of examples/ under the host: `just example hello_world`.
example NAME *ARGS:
    cargo example {{NAME}} {{ARGS}}

# The whole test suite (what CI runs).
test:
    cargo test --release

# The network benchmark: sandloop's examples against mio, tokio, asyncio and uvloop, with
# results in bench/results/ (knobs in bench/run.sh: `REPS=1 SIZES=1024 just bench`).
bench:
    bash bench/run.sh

# Micro (loop core against asyncio, uvloop, tokio), start-up and scale benchmarks, with
# results in bench/results/MICRO.md.
bench-micro:
    bash bench/micro.sh

# Density (issue 24): N idle instances in one host (threads, memory, descriptors, all
# answering), start-up on shared threads, noisy neighbours; results in
# bench/results/DENSITY.md (knobs in bench/density.sh: `DENSITY_N=1000 just bench-density`).
bench-density:
    bash bench/density.sh

# The criterion benchmarks inside the guest (loop core, executor).
bench-criterion:
    cargo bench -p sandloop-bench

# Formatting and lints, natively and for the wasm guest, and `cargo doc` without warnings.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 -p sandloop -p sandloop-examples -p test-programs -- -D warnings
    bash .ci/doc
