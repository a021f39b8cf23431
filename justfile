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

# The benchmarks (criterion).
bench:
    cargo bench -p sandloop-bench

# Formatting and lints, natively and for the wasm guest.
lint:
    cargo fmt --all -- --check
    cargo clippy --release --all-targets -- -D warnings
    cargo clippy --release --target wasm32-wasip2 -p sandloop -p sandloop-examples -p test-programs -- -D warnings
