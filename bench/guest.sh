# Sourced by the bench scripts that run a guest test program under the `sandloop` CLI
# (sendfile.sh, tls.sh): builds it and the host (unless SKIP_BUILD is set) and
# precompiles it, so that what is timed is the run, not the compiler.

# prepare_guest BIN DIR: sets HOST (the CLI) and CWASM (BIN precompiled into DIR; run it
# with `"$HOST" run --allow-precompiled`).
prepare_guest() {
    local bin=$1 dir=$2
    if [[ -z "${SKIP_BUILD:-}" ]]; then
        cargo build --release -p sandloop-host --bin sandloop
        cargo build --release --target wasm32-wasip2 -p test-programs --bin "$bin"
    fi
    HOST=target/release/sandloop
    mkdir -p "$dir"
    CWASM="$dir/$bin.cwasm"
    "$HOST" compile "target/wasm32-wasip2/release/$bin.wasm" -o "$CWASM"
}

# free_port: a port nothing listens on at 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
