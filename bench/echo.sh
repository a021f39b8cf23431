#!/usr/bin/env bash
# Echo benchmark: the sandloop echo example (examples/echo_server.rs) under the host, side by
# side with a native single-threaded mio echo server (bench/src/bin/mio_echo.rs), both driven
# by the same ping-pong load (bench/src/bin/echo_load.rs). Prints a markdown table, also
# written to target/echo-bench/results.md, with echo_load's key=value lines (raw.txt) and
# the servers' logs beside it.
#
#   bench/echo.sh
#   SIZES="1024" SECONDS_PER_RUN=10 PEERS=mio bench/echo.sh
#
# Environment (defaults in brackets):
#   SIZES            message sizes in bytes ["64 1024 16384"]
#   SECONDS_PER_RUN  measured seconds per run [5]
#   WARMUP           seconds of load before measuring [1]
#   CONNECTIONS      client connections, one message in flight each [64]
#   PEERS            servers to measure, in order ["mio sandloop"]
#   SERVER_CPU, CLIENT_CPU  cores for taskset when it exists and there are 2+ cores [0, 1]
#   SKIP_BUILD=1     use what target/ already holds
set -euo pipefail

cd "$(dirname "$0")/.."

SIZES=${SIZES:-"64 1024 16384"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}
PEERS=${PEERS:-"mio sandloop"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-target}
OUT_DIR="$TARGET/echo-bench"
READY_TIMEOUT=60 # seconds; the host compiles the component when it starts

wants() { [[ " $PEERS " == *" $1 "* ]]; }

for peer in $PEERS; do
    case $peer in
        mio | sandloop) ;;
        *) echo "echo.sh: unknown peer '$peer' in PEERS (known: mio sandloop)" >&2; exit 2 ;;
    esac
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    # The native tools need nothing of the host: without the default feature `guest-loop`
    # this build does not pull in wasmtime or the guest test programs.
    cargo build --release -p sandloop-bench --bins --no-default-features
    if wants sandloop; then
        cargo build --release -p sandloop-host --bin sandloop
        cargo build --release -p sandloop-examples --target wasm32-wasip2 --bin echo_server
    fi
fi

MIO_ECHO="$TARGET/release/mio_echo"
ECHO_LOAD="$TARGET/release/echo_load"
SANDLOOP="$TARGET/release/sandloop"
ECHO_WASM="$TARGET/wasm32-wasip2/release/echo_server.wasm"

PIN_SERVER=()
PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
    echo "echo.sh: not pinning (no taskset or a single core); client and server share cores" >&2
fi

mkdir -p "$OUT_DIR"
: >"$OUT_DIR/raw.txt"

SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "echo.sh: found no free port" >&2
    return 1
}

# Starts server $1 on port $2 with its output in $3; sets SERVER_PID. Returns once the port
# accepts connections, or fails if the server exits or does not get there in time.
start_server() {
    local peer=$1 port=$2 log=$3
    local cmd
    case $peer in
        mio) cmd=("$MIO_ECHO" "127.0.0.1:$port") ;;
        sandloop)
            cmd=("$SANDLOOP" run --allow-listen "127.0.0.1:$port" "$ECHO_WASM" -- "127.0.0.1:$port")
            ;;
    esac
    # taskset execs the server, so $! is the server's own pid (for its CPU times).
    "${PIN_SERVER[@]}" "${cmd[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + READY_TIMEOUT))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=
            echo "echo.sh: $peer server exited before accepting connections:" >&2
            sed 's/^/    /' "$log" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "echo.sh: $peer server not accepting on port $port after ${READY_TIMEOUT}s" >&2
            stop_server
            return 1
        fi
        sleep 0.1
    done
    if ! grep -q '^Serving on' "$log"; then
        echo "echo.sh: $peer server accepts connections but printed no 'Serving on' line" >&2
    fi
}

# The value of key $1 in the key=value line $2.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# Percent of one core that side $2 (server, client) used at $1 messages per second, from
# the per-message CPU times in the key=value line $3.
busy() {
    awk -v rate="$1" -v user="$(field "$2_user_us_per_msg" "$3")" \
        -v sys="$(field "$2_sys_us_per_msg" "$3")" \
        'BEGIN { if (user == "na" || sys == "na") print "na"; else printf "%.0f", (user + sys) * rate / 1e4 }'
}

# Other work on the machine skews every number; the table says how busy it was.
LOAD_BEFORE=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo unknown)
ROWS=()
NOTES=()
declare -A MSGS_PER_S
for size in $SIZES; do
    for peer in $PEERS; do
        port=$(free_port)
        log="$OUT_DIR/$peer-$size.log"
        echo "== $peer, $size B messages, port $port" >&2
        if ! start_server "$peer" "$port" "$log"; then
            ROWS+=("| $peer | $size | failed to start | | | | | | | |")
            NOTES+=("$peer, $size B: the server did not start (see $log)")
            continue
        fi
        load=("$ECHO_LOAD" --addr "127.0.0.1:$port" --connections "$CONNECTIONS" --size "$size"
            --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --server-pid "$SERVER_PID")
        if result=$("${PIN_CLIENT[@]}" "${load[@]}"); then
            status=ok
        else
            status=failed
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            NOTES+=("$peer, $size B: the server exited during the run (see $log)")
        fi
        stop_server
        # Anything but the ready line in the server's output is worth a look.
        # (grep -m rather than a pipe into head, whose early exit would fail the pipeline.)
        other_lines=$(grep -vc '^Serving on' "$log" || true)
        if ((other_lines > 0)); then
            NOTES+=("$peer, $size B: the server printed $other_lines more lines, first: $(grep -v -m 3 '^Serving on' "$log" | tr '\n' ' ')(see $log)")
        fi
        if [[ $status != ok || -z $result ]]; then
            ROWS+=("| $peer | $size | load failed | | | | | | | |")
            NOTES+=("$peer, $size B: echo_load failed")
            continue
        fi
        errors=$(field errors "$result")
        if [[ $errors != 0 ]]; then
            NOTES+=("$peer, $size B: $errors of $CONNECTIONS connections failed during the run")
        fi
        echo "peer=$peer $result" >>"$OUT_DIR/raw.txt"
        rate=$(field msgs_per_s "$result")
        # Share of one core each side used: a server near 100% is the bottleneck; a client
        # near 100% means the load generator was, and the numbers understate the server.
        server_busy=$(busy "$rate" server "$result")
        client_busy=$(busy "$rate" client "$result")
        if [[ $client_busy != na ]] && ((${client_busy%.*} >= 90)); then
            NOTES+=("$peer, $size B: the client used ${client_busy}% of its core: client-bound")
        fi
        MSGS_PER_S[$peer,$size]=$rate
        ratio=
        if [[ $peer == sandloop && -n ${MSGS_PER_S[mio,$size]:-} ]]; then
            ratio=$(awk -v a="$rate" -v b="${MSGS_PER_S[mio,$size]}" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
        fi
        ROWS+=("| $peer | $size | $rate | $(field mib_per_s "$result") | $(field p50_us "$result") | $(field p99_us "$result") | $(field server_user_us_per_msg "$result") | $(field server_sys_us_per_msg "$result") | $server_busy | $ratio |")
    done
done

{
    echo "Echo, $CONNECTIONS connections, one message in flight each, ${SECONDS_PER_RUN}s measured after ${WARMUP}s warm-up; server pinned: ${PIN_SERVER[*]:-no}, client pinned: ${PIN_CLIENT[*]:-no}; load average before: $LOAD_BEFORE, after: $(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo unknown)."
    echo
    echo "| server | size (B) | msgs/s | MiB/s | p50 (us) | p99 (us) | server user (us/msg) | server sys (us/msg) | server CPU (% of a core) | sandloop/mio msgs/s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    if ((${#NOTES[@]} > 0)); then
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} | tee "$OUT_DIR/results.md"
