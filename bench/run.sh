#!/usr/bin/env bash
# The network benchmark: sandloop's examples under the host against peers doing the same job,
# all in one run, with the results as markdown tables (RESULTS.md) and a plot (echo.svg).
#
#   bench/run.sh                                   # or: just bench
#   REPS=1 SECONDS_PER_RUN=2 SIZES=1024 bench/run.sh
#   PEERS="mio uvloop sandloop" NO_HTTP=1 bench/run.sh
#
# From a clean clone it builds everything in release, creates a venv with uvloop under
# target/bench-venv, and installs wrk with apt-get if it is missing. Each server runs pinned
# to one core (SERVER_CPU) and the load generator to another (CLIENT_CPU):
# - echo: echo_load (bench/src/bin/echo_load) ping-pong over CONNECTIONS connections, one
#   message in flight each, for every size of SIZES: msgs/s, MiB/s, latency percentiles,
#   the server's user and system CPU per message and both sides' share of a core;
# - latency: the same over one connection with 64 B messages (LATENCY_PEERS);
# - connect: echo_load's connection rate, each connection one 64 B echo, then the client
#   closes with a reset (no TIME_WAIT piling up on its side; see echo_load/connect.rs)
#   (CONNECT_PEERS);
# - http: wrk against the "Hello, World!" servers (HTTP_PEERS; off with NO_HTTP=1).
# Every run measures SECONDS_PER_RUN seconds after WARMUP seconds of load; the repetitions
# (REPS) are interleaved, every server once per round, so that a drift of the machine
# spreads over all of them. The tables give medians, the min–max of the rates, and ratios
# against mio (the native ceiling) and uvloop.
#
# The servers (PEERS, in this order by default):
#   mio                 bench/src/bin/mio_echo.rs, mio_http.rs: plain mio, the native ceiling
#   tokio               bench/src/bin/tokio_echo.rs, tokio_http.rs: tokio current_thread
#   tokio-hyper         bench/src/bin/tokio_hyper.rs: hyper 1.x on tokio current_thread
#                       (HTTP only), the native peer of sandloop-hyper
#   asyncio             bench/peers/asyncio_echo.py, asyncio_http.py: CPython asyncio, Protocol
#   asyncio-streams     the same with the streams API (echo only)
#   uvloop              the asyncio peers on uvloop (from PyPI, in the venv)
#   uvloop-streams      the streams echo on uvloop
#   sandloop            examples/echo_server.rs, http_hello.rs under the host: Protocol API,
#                       the default loop (the host's completion mode)
#   sandloop-hyper      examples/hyper_hello.rs under the host: hyper 1.x on sandloop (HTTP
#                       only; the `hyper` feature)
#   sandloop-readiness  the echo example on SelectorEventLoop (readiness mode, --selector)
#   sandloop-streams    the echo example with the streams API (--streams)
#   sandloop-shared     the echo example on one shared host thread (`--threads 1`: the
#                       instance multiplexed with the shared reactor, as under `sandloop
#                       host`; not in the defaults)
#   portable-sandloop   the echo example built portable (without `host-reactor`: standard
#                       wasi:sockets and wasi:io/poll only) under `sandloop run`
#   portable-wasmtime   the same binary on the wasmtime CLI (tests/artifacts/install-wasmtime.sh)
#   portable-jco        the same binary on jco under node (tests/artifacts/install-jco.sh);
#                       its server CPU is not measured (the component runs in a child node
#                       process, which the load generator's --server-pid does not see)
#   (the portable-* servers are measured only when PEERS names them: not by default)
#
# Environment (defaults in brackets):
#   PEERS            servers to measure ["mio tokio tokio-hyper asyncio asyncio-streams
#                    uvloop uvloop-streams sandloop sandloop-readiness sandloop-streams
#                    sandloop-hyper"]
#   SIZES            echo message sizes in bytes ["64 1024 16384"]
#   REPS             repetitions of every run [3]
#   SECONDS_PER_RUN  measured seconds per run [5]
#   WARMUP           seconds of load before measuring [1]
#   CONNECTIONS      echo connections [64]; HTTP_CONNECTIONS wrk's connections [64]
#   LATENCY_PEERS    servers of the one-connection run ["mio sandloop"]
#   CONNECT_PEERS    servers of the connection-rate run ["mio tokio uvloop sandloop"]
#   CONNECT_CONNECTIONS  connections in progress at once in that run [16]
#   HTTP_PEERS       servers of the HTTP run ["mio tokio tokio-hyper asyncio uvloop sandloop
#                    sandloop-hyper"]
#                    (these three lists are cut down to PEERS; set one empty to skip its run)
#   NO_HTTP=1        no HTTP run (and no wrk install)
#   SKIP_BUILD=1     use what target/ already holds (and the venv as it is)
#   WAIT_QUIET=1     before each server, wait (up to WAIT_QUIET_MAX [900] seconds) while a
#                    compiler (cargo, rustc, cc1, ld) runs on the machine
#   SERVER_CPU, CLIENT_CPU  cores for taskset [0, 1]
#   OUT_DIR          where RESULTS.md, echo.svg and the runs' CSVs go [bench/results]
#   WORK_DIR         the servers' logs and the load generator's raw lines [target/bench]
set -euo pipefail

cd "$(dirname "$0")/.."

DEFAULT_PEERS="mio tokio tokio-hyper asyncio asyncio-streams uvloop uvloop-streams sandloop sandloop-readiness sandloop-streams sandloop-hyper"
# Peers with an HTTP server only: the echo runs skip them.
HTTP_ONLY_PEERS="tokio-hyper sandloop-hyper"
ALL_PEERS="$DEFAULT_PEERS sandloop-shared portable-sandloop portable-wasmtime portable-jco"
PEERS=${PEERS:-$DEFAULT_PEERS}
SIZES=${SIZES:-"64 1024 16384"}
REPS=${REPS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}
HTTP_CONNECTIONS=${HTTP_CONNECTIONS:-64}
LATENCY_PEERS=${LATENCY_PEERS-"mio sandloop"}
LATENCY_SIZE=64
CONNECT_PEERS=${CONNECT_PEERS-"mio tokio uvloop sandloop"}
CONNECT_CONNECTIONS=${CONNECT_CONNECTIONS:-16}
CONNECT_SIZE=64
HTTP_PEERS=${HTTP_PEERS-"mio tokio tokio-hyper asyncio uvloop sandloop sandloop-hyper"}
NO_HTTP=${NO_HTTP:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
WAIT_QUIET=${WAIT_QUIET:-0}
WAIT_QUIET_MAX=${WAIT_QUIET_MAX:-900}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT_DIR=${OUT_DIR:-bench/results}
TARGET=${CARGO_TARGET_DIR:-target}
WORK_DIR=${WORK_DIR:-$TARGET/bench}
VENV="$TARGET/bench-venv"
READY_TIMEOUT=60 # seconds; the host compiles the component when it starts
# Server ports come from below Linux's ephemeral range (32768-60999 by default): the
# connection-rate run leaves thousands of client sockets in TIME_WAIT on ephemeral ports,
# which would keep a server from binding one of them for a minute.
NEXT_PORT=$((21000 + RANDOM % 5000))

log() { echo "run.sh: $*" >&2; }

# Whether word $1 is in the list $2.
has() { [[ " $2 " == *" $1 "* ]]; }

# The words of list $1 that are also in PEERS, in $1's order.
among_peers() {
    local out=() peer
    for peer in $1; do
        if has "$peer" "$PEERS"; then out+=("$peer"); fi
    done
    echo "${out[*]}"
}

for peer in $PEERS; do
    if ! has "$peer" "$ALL_PEERS"; then
        log "unknown peer '$peer' in PEERS (known: $ALL_PEERS)"
        exit 2
    fi
done
for value in REPS SECONDS_PER_RUN CONNECTIONS HTTP_CONNECTIONS CONNECT_CONNECTIONS; do
    if ! [[ ${!value} =~ ^[1-9][0-9]*$ ]]; then
        log "$value must be a positive whole number, not '${!value}'"
        exit 2
    fi
done

LATENCY_PEERS=$(among_peers "$LATENCY_PEERS")
CONNECT_PEERS=$(among_peers "$CONNECT_PEERS")
HTTP_PEERS=$(among_peers "$HTTP_PEERS")
if [[ $NO_HTTP == 1 ]]; then HTTP_PEERS=; fi

NOTES=()
note() {
    log "note: $*"
    NOTES+=("$*")
}

wants_sandloop() { [[ " $PEERS " == *" sandloop"* || " $PEERS " == *" portable-"* ]]; }
wants_portable() { [[ " $PEERS " == *" portable-"* ]]; }
wants_python() { [[ " $PEERS " == *" asyncio"* || " $PEERS " == *" uvloop"* ]]; }
wants_uvloop() { [[ " $PEERS " == *" uvloop"* ]]; }

# --- Build -------------------------------------------------------------------------------

if [[ $SKIP_BUILD != 1 ]]; then
    # The native tools need nothing of the host: without the default feature `guest-loop`
    # this build does not pull in wasmtime or the guest test programs.
    log "building the native tools"
    cargo build --release -p sandloop-bench --no-default-features \
        --bin echo_load --bin bench_report --bin mio_echo --bin mio_http \
        --bin tokio_echo --bin tokio_http --bin tokio_hyper
    if wants_sandloop; then
        log "building the host and the examples"
        cargo build --release -p sandloop-host --bin sandloop
        cargo build --release -p sandloop-examples --target wasm32-wasip2 \
            --bin echo_server --bin http_hello --bin hyper_hello
    fi
    if wants_portable; then
        # A target directory of its own: the same binary names, other features.
        log "building the portable echo example"
        cargo build --release -p sandloop-examples --target wasm32-wasip2 \
            --no-default-features --bin echo_server --target-dir "$TARGET/bench-portable"
    fi
fi

BIN="$TARGET/release"
SANDLOOP="$BIN/sandloop"
ECHO_WASM="$TARGET/wasm32-wasip2/release/echo_server.wasm"
HTTP_WASM="$TARGET/wasm32-wasip2/release/http_hello.wasm"
HYPER_WASM="$TARGET/wasm32-wasip2/release/hyper_hello.wasm"
PORTABLE_ECHO_WASM="$TARGET/bench-portable/wasm32-wasip2/release/echo_server.wasm"
# The other WASI hosts, installed under target/tools/ by the test suite's own scripts.
WASMTIME_CLI=
JCO_CLI=
if has portable-wasmtime "$PEERS"; then WASMTIME_CLI=$(bash tests/artifacts/install-wasmtime.sh); fi
if has portable-jco "$PEERS"; then JCO_CLI=$(bash tests/artifacts/install-jco.sh); fi
for tool in echo_load bench_report; do
    if [[ ! -x $BIN/$tool ]]; then
        log "$BIN/$tool is missing: run without SKIP_BUILD=1"
        exit 1
    fi
done

# --- Python and uvloop -------------------------------------------------------------------

PYTHON=
UVLOOP_VERSION=
if wants_python; then
    if [[ $SKIP_BUILD != 1 || ! -x $VENV/bin/python ]]; then
        if [[ ! -x $VENV/bin/python ]] && ! python3 -m venv "$VENV" >"$TARGET/bench-venv.log" 2>&1; then
            note "could not create a venv in $VENV (see $TARGET/bench-venv.log): the asyncio peers use python3 as it is"
        fi
        if [[ -x $VENV/bin/python ]] && wants_uvloop &&
            ! "$VENV/bin/python" -c 'import uvloop' 2>/dev/null; then
            log "installing uvloop into $VENV"
            if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uvloop \
                >>"$TARGET/bench-venv.log" 2>&1; then
                log "pip install uvloop failed (see $TARGET/bench-venv.log)"
            fi
        fi
    fi
    if [[ -x $VENV/bin/python ]]; then PYTHON="$VENV/bin/python"; else PYTHON=$(command -v python3 || true); fi
    if [[ -z $PYTHON ]]; then
        note "no python3: the asyncio and uvloop peers are skipped"
        PEERS=$(for peer in $PEERS; do [[ $peer == asyncio* || $peer == uvloop* ]] || echo "$peer"; done | xargs)
    elif wants_uvloop; then
        if UVLOOP_VERSION=$("$PYTHON" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null); then
            :
        else
            note "uvloop could not be installed from PyPI: the uvloop peers are skipped"
            PEERS=$(for peer in $PEERS; do [[ $peer == uvloop* ]] || echo "$peer"; done | xargs)
        fi
    fi
    LATENCY_PEERS=$(among_peers "$LATENCY_PEERS")
    CONNECT_PEERS=$(among_peers "$CONNECT_PEERS")
    HTTP_PEERS=$(among_peers "$HTTP_PEERS")
fi

# --- wrk ---------------------------------------------------------------------------------

if [[ -n $HTTP_PEERS ]] && ! command -v wrk >/dev/null; then
    SUDO=()
    if [[ $EUID != 0 ]]; then SUDO=(sudo -n); fi
    log "installing wrk with apt-get"
    if ! "${SUDO[@]}" apt-get install -y -qq wrk >"$TARGET/bench-wrk.log" 2>&1; then
        # A fresh machine may have no package lists yet.
        "${SUDO[@]}" apt-get update -qq >>"$TARGET/bench-wrk.log" 2>&1 || true
        "${SUDO[@]}" apt-get install -y -qq wrk >>"$TARGET/bench-wrk.log" 2>&1 || true
    fi
    if ! command -v wrk >/dev/null; then
        note "wrk could not be installed with apt-get (see $TARGET/bench-wrk.log): no HTTP run"
        HTTP_PEERS=
    fi
fi

# --- Servers -----------------------------------------------------------------------------

PIN_SERVER=()
PIN_CLIENT=()
PINNING="not pinned"
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_CLIENT=(taskset -c "$CLIENT_CPU")
    PINNING="Servers pinned to core $SERVER_CPU, the load generators (echo_load, wrk) to core $CLIENT_CPU"
else
    note "not pinned (no taskset or a single core): client and server share cores"
fi

mkdir -p "$OUT_DIR" "$WORK_DIR"
ECHO_CSV="$OUT_DIR/echo.csv"
HTTP_CSV="$OUT_DIR/http.csv"
RAW="$WORK_DIR/raw.txt"
CSV_HEADER="test,server,size,connections,rep,rate,mib_per_s,p50_us,p99_us,p999_us,server_user_us,server_sys_us,server_cpu_pct,client_cpu_pct,errors"
echo "$CSV_HEADER" >"$ECHO_CSV"
rm -f "$HTTP_CSV"
if [[ -n $HTTP_PEERS ]]; then echo "$CSV_HEADER" >"$HTTP_CSV"; fi
: >"$RAW"
rm -f "$WORK_DIR"/*.log

SERVER_PID=
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        # The server's process group when it leads one (jco: see server_command), else it.
        kill -- "-$SERVER_PID" 2>/dev/null || kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Sets SERVER_PORT to a port nobody holds, not even a socket in TIME_WAIT (the test bind
# has no SO_REUSEADDR); every server gets a port of its own.
free_port() {
    local port python=${PYTHON:-$(command -v python3 || true)}
    for _ in $(seq 200); do
        port=$NEXT_PORT
        NEXT_PORT=$((NEXT_PORT >= 32000 ? 21000 : NEXT_PORT + 1))
        if [[ -n $python ]]; then
            if "$python" -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null; then
                SERVER_PORT=$port
                return
            fi
        elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            SERVER_PORT=$port
            return
        fi
    done
    log "found no free port"
    return 1
}

# Sets SERVER_CMD to the command of server $1 for test $2 (echo or http) on ADDR $3.
server_command() {
    local peer=$1 test=$2 addr=$3
    case $test/$peer in
        echo/mio) SERVER_CMD=("$BIN/mio_echo" "$addr") ;;
        echo/tokio) SERVER_CMD=("$BIN/tokio_echo" "$addr") ;;
        echo/asyncio) SERVER_CMD=("$PYTHON" bench/peers/asyncio_echo.py "$addr") ;;
        echo/asyncio-streams) SERVER_CMD=("$PYTHON" bench/peers/asyncio_echo.py "$addr" --streams) ;;
        echo/uvloop) SERVER_CMD=("$PYTHON" bench/peers/asyncio_echo.py "$addr" --uvloop) ;;
        echo/uvloop-streams) SERVER_CMD=("$PYTHON" bench/peers/asyncio_echo.py "$addr" --uvloop --streams) ;;
        echo/sandloop) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$ECHO_WASM" -- "$addr") ;;
        echo/sandloop-readiness) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$ECHO_WASM" -- "$addr" --selector) ;;
        echo/sandloop-streams) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$ECHO_WASM" -- "$addr" --streams) ;;
        echo/sandloop-shared) SERVER_CMD=("$SANDLOOP" run --threads 1 --allow-listen "$addr" "$ECHO_WASM" -- "$addr") ;;
        echo/portable-sandloop) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$PORTABLE_ECHO_WASM" -- "$addr") ;;
        echo/portable-wasmtime) SERVER_CMD=("$WASMTIME_CLI" run -S inherit-network=y "$PORTABLE_ECHO_WASM" "$addr") ;;
        # A session of its own (setsid execs in place: same pid), so that stop_server ends
        # jco's child node process with it.
        echo/portable-jco) SERVER_CMD=(setsid "$JCO_CLI" run "$PORTABLE_ECHO_WASM" "$addr") ;;
        http/mio) SERVER_CMD=("$BIN/mio_http" "$addr") ;;
        http/tokio) SERVER_CMD=("$BIN/tokio_http" "$addr") ;;
        http/tokio-hyper) SERVER_CMD=("$BIN/tokio_hyper" "$addr") ;;
        http/asyncio) SERVER_CMD=("$PYTHON" bench/peers/asyncio_http.py "$addr") ;;
        http/uvloop) SERVER_CMD=("$PYTHON" bench/peers/asyncio_http.py "$addr" --uvloop) ;;
        http/sandloop) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$HTTP_WASM" -- "$addr") ;;
        http/sandloop-shared) SERVER_CMD=("$SANDLOOP" run --threads 1 --allow-listen "$addr" "$HTTP_WASM" -- "$addr") ;;
        http/sandloop-hyper) SERVER_CMD=("$SANDLOOP" run --allow-listen "$addr" "$HYPER_WASM" -- "$addr") ;;
        *)
            log "no $test server for $peer"
            return 1
            ;;
    esac
}

# Compilers at work skew every number; with WAIT_QUIET=1 wait them out.
busy_compilers() { pgrep -x 'cargo|rustc|cc1|cc1plus|ld|ld.lld|rust-lld' 2>/dev/null | wc -l; }
wait_quiet() {
    [[ $WAIT_QUIET == 1 ]] || return 0
    local deadline=$((SECONDS + WAIT_QUIET_MAX)) said=0
    while (($(busy_compilers) > 0)); do
        if ((SECONDS >= deadline)); then
            note "compilers were still running after waiting ${WAIT_QUIET_MAX}s; measured anyway"
            return 0
        fi
        if ((!said)); then
            log "waiting for compilers to finish"
            said=1
        fi
        sleep 2
    done
}
BUSY_RUNS=()
check_quiet() {
    if (($(busy_compilers) > 0)); then BUSY_RUNS+=("$1"); fi
}

# Starts server $1 for test $2 with its output in $3; sets SERVER_PID and SERVER_PORT.
# Returns once the server printed its `Serving on` line; fails if it exits first or does
# not get there in time.
start_server() {
    local peer=$1 test=$2 log=$3
    free_port
    server_command "$peer" "$test" "127.0.0.1:$SERVER_PORT"
    : >"$log"
    # taskset execs the server, so $! is the server's own pid (for its CPU times).
    "${PIN_SERVER[@]}" "${SERVER_CMD[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + READY_TIMEOUT))
    until grep -q '^Serving on' "$log"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=
            log "$peer ($test) exited before serving:"
            sed 's/^/    /' "$log" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "$peer ($test) printed no 'Serving on' line within ${READY_TIMEOUT}s"
            stop_server
            return 1
        fi
        sleep 0.05
    done
}

# Stops the server of run $1 (a label), noting whether it died on its own.
finish_server() {
    local label=$1
    if [[ -n $SERVER_PID ]] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
        note "$label: the server exited during the run (see $2)"
    fi
    stop_server
}

# Notes lines other than the ready line in a server's log (errors under load).
check_log() {
    local label=$1 log=$2 count
    count=$(grep -vc '^Serving on' "$log" || true)
    if ((count > 0)); then
        note "$label: the server printed $count more lines, the first: $(grep -v -m 3 '^Serving on' "$log" | tr '\n' ' ' | cut -c1-300)(see $log)"
    fi
}

# The value of key $1 in the key=value line $2 ("na" if absent).
field() {
    local value
    value=$(tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p")
    echo "${value:-na}"
}

# Runs echo_load with the arguments after $1..$4 (test, peer, rep, unit) and appends a row to
# echo.csv; notes failures.
load_run() {
    local test=$1 peer=$2 rep=$3 unit=$4
    shift 4
    local label="$test, $peer, rep $rep, $*"
    local result status=0 stderr="$WORK_DIR/echo_load.stderr"
    log "$test: $peer (rep $rep) $*"
    result=$("${PIN_CLIENT[@]}" "$BIN/echo_load" --addr "127.0.0.1:$SERVER_PORT" \
        --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --server-pid "$SERVER_PID" "$@" \
        2>"$stderr") || status=$?
    cat "$stderr" >&2
    { echo "== $label" && cat "$stderr"; } >>"$WORK_DIR/echo_load.log"
    if ((status != 0)) || [[ -z $result ]]; then
        note "$label: echo_load failed: $(tail -n 1 "$stderr")"
        return 0
    fi
    echo "test=$test server=$peer rep=$rep $result" >>"$RAW"
    local errors client_cpu
    errors=$(field errors "$result")
    if [[ $errors != 0 ]]; then
        note "$label: $errors connections failed, the first: $(grep -m 1 'connection failed' "$stderr" | sed 's/^echo_load: connection failed: //')"
    fi
    client_cpu=$(field client_cpu_pct "$result")
    RUNS=$((RUNS + 1))
    if [[ $client_cpu != na ]] && ((client_cpu >= 90)); then
        CLIENT_BOUND=$((CLIENT_BOUND + 1))
    fi
    printf '%s\n' "$test,$peer,$(field size "$result"),$(field connections "$result"),$rep,$(field "${unit}s_per_s" "$result"),$(field mib_per_s "$result"),$(field p50_us "$result"),$(field p99_us "$result"),$(field p999_us "$result"),$(field "server_user_us_per_$unit" "$result"),$(field "server_sys_us_per_$unit" "$result"),$(field server_cpu_pct "$result"),$(field client_cpu_pct "$result"),$errors" >>"$ECHO_CSV"
}

# One throwaway second of load on a fresh server, connections opened and closed included.
# A process's first load can be unlike the rest: CPython's asyncio, for one, spends three
# times the system time per message until its first connections close (until a first free
# of a mapped block raises glibc malloc's thresholds, every 256 KiB receive buffer is mapped
# and unmapped, or grows and trims the heap).
warm_server() {
    "${PIN_CLIENT[@]}" "$BIN/echo_load" --addr "127.0.0.1:$SERVER_PORT" --connections "$CONNECTIONS" \
        --size 1024 --seconds 1 --warmup 0 >/dev/null 2>>"$WORK_DIR/echo_load.log" || true
}

# --- HTTP with wrk -----------------------------------------------------------------------

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# utime and stime of process $1, in clock ticks (fields 14 and 15 of /proc/PID/stat; the
# command name before them may hold spaces, so count from its closing parenthesis).
proc_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo "na na"
        return
    }
    stat=${stat##*) }
    read -ra fields <<<"$stat"
    echo "${fields[11]} ${fields[12]}"
}

# Sets variable $1 to the user + system seconds of this shell's reaped children so far. The
# `times` builtin must run in this shell, not in a $(...) subshell, whose count starts at zero.
children_seconds() {
    local file="$WORK_DIR/times"
    times >"$file"
    printf -v "$1" '%s' "$(sed -n 2p "$file" | awk '{
        total = 0
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += t[1] * 60 + t[2] }
        printf "%.3f", total
    }')"
}

# A latency of wrk's (`305.00us`, `1.23ms`, `1.01s`) in microseconds.
wrk_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print "na"
    }'
}

http_run() {
    local peer=$1 rep=$2
    local label="http, $peer, rep $rep"
    local url="http://127.0.0.1:$SERVER_PORT/"
    log "http: $peer (rep $rep)"
    # wrk has no warm-up of its own.
    "${PIN_CLIENT[@]}" wrk -t1 -c"$HTTP_CONNECTIONS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
    local before after client_before client_after start end out
    before=$(proc_ticks "$SERVER_PID")
    children_seconds client_before
    start=$(date +%s.%N)
    if ! out=$("${PIN_CLIENT[@]}" wrk -t1 -c"$HTTP_CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$url" 2>&1); then
        note "$label: wrk failed: $(tail -n 1 <<<"$out")"
        return 0
    fi
    end=$(date +%s.%N)
    after=$(proc_ticks "$SERVER_PID")
    children_seconds client_after
    printf 'test=http server=%s rep=%s\n%s\n' "$peer" "$rep" "$out" >>"$RAW"

    local requests rps p50 p99 errors
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
    p50=$(wrk_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(wrk_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errors=$(awk '
        /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { n += $5 }
        END { print n + 0 }' <<<"$out")
    if [[ -z $requests || -z $rps ]]; then
        note "$label: could not read wrk's output (see $RAW)"
        return 0
    fi
    if ((errors > 0)); then
        note "$label: wrk counted $errors errors: $(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr '\n' ' ')"
    fi
    local cpu
    cpu=$(awk -v b="$before" -v a="$after" -v req="$requests" -v hz="$CLK_TCK" \
        -v s="$start" -v e="$end" -v cb="$client_before" -v ca="$client_after" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        wall = e - s
        if (x[1] == "na" || y[1] == "na" || req == 0) { printf "na,na,na"; }
        else {
            user = (y[1] - x[1]) / hz; sys = (y[2] - x[2]) / hz
            printf "%.3f,%.3f,%.0f", user * 1e6 / req, sys * 1e6 / req, (user + sys) * 100 / wall
        }
        printf ",%.0f", (ca - cb) * 100 / wall
    }')
    printf '%s\n' "http,$peer,0,$HTTP_CONNECTIONS,$rep,$rps,na,$p50,$p99,na,$cpu,$errors" >>"$HTTP_CSV"
}

# --- The runs ----------------------------------------------------------------------------

LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
RUNS=0
CLIENT_BOUND=0
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
log "measuring: PEERS=\"$PEERS\" SIZES=\"$SIZES\" REPS=$REPS SECONDS_PER_RUN=$SECONDS_PER_RUN"
for rep in $(seq "$REPS"); do
    for peer in $PEERS; do
        if has "$peer" "$HTTP_ONLY_PEERS"; then continue; fi
        wait_quiet
        server_log="$WORK_DIR/echo-$peer-$rep.log"
        if ! start_server "$peer" echo "$server_log"; then
            note "echo, $peer, rep $rep: the server did not start (see $server_log)"
            continue
        fi
        check_quiet "echo $peer rep $rep"
        warm_server
        for size in $SIZES; do
            load_run echo "$peer" "$rep" msg --connections "$CONNECTIONS" --size "$size"
        done
        if has "$peer" "$LATENCY_PEERS"; then
            load_run latency "$peer" "$rep" msg --connections 1 --size "$LATENCY_SIZE"
        fi
        # Last on this server: it leaves the client's ports in TIME_WAIT.
        if has "$peer" "$CONNECT_PEERS"; then
            load_run connect "$peer" "$rep" conn --mode connect \
                --connections "$CONNECT_CONNECTIONS" --size "$CONNECT_SIZE"
        fi
        check_quiet "echo $peer rep $rep"
        finish_server "echo, $peer, rep $rep" "$server_log"
        check_log "echo, $peer, rep $rep" "$server_log"
    done
    for peer in $HTTP_PEERS; do
        wait_quiet
        server_log="$WORK_DIR/http-$peer-$rep.log"
        if ! start_server "$peer" http "$server_log"; then
            note "http, $peer, rep $rep: the server did not start (see $server_log)"
            continue
        fi
        check_quiet "http $peer rep $rep"
        http_run "$peer" "$rep"
        check_quiet "http $peer rep $rep"
        finish_server "http, $peer, rep $rep" "$server_log"
        check_log "http, $peer, rep $rep" "$server_log"
    done
done
LOAD_AFTER=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)

if ((CLIENT_BOUND > 0)); then
    note "echo_load used 90% or more of its core in $CLIENT_BOUND of its $RUNS runs (the client CPU column): there it, not the server, may have set the rate"
fi
if ((${#BUSY_RUNS[@]} > 0)); then
    busy=$(printf '%s\n' "${BUSY_RUNS[@]}" | sort -u | paste -sd ';' | sed 's/;/; /g')
    note "a compiler was running at the start or the end of: $busy; those numbers are suspect"
fi

# --- The report --------------------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
cpu_model=${cpu_model:-$(uname -m)}
machine="$(nproc) cores, $cpu_model"
versions="Linux $(uname -r); $(rustc --version 2>/dev/null | cut -d ' ' -f 1-2 || echo 'rustc ?')"
if [[ -n $PYTHON ]]; then
    versions+="; Python $("$PYTHON" -c 'import platform; print(platform.python_version())')"
fi
if [[ -n $UVLOOP_VERSION ]]; then versions+="; uvloop $UVLOOP_VERSION"; fi
if [[ -n $HTTP_PEERS ]]; then
    # wrk --version prints its version and usage, and exits 1.
    versions+="; $(wrk --version 2>&1 | head -n 1 | cut -d ' ' -f 1-2 || true)"
fi
date_only=${STARTED%% *}

csvs=(--csv "$ECHO_CSV")
if [[ -f $HTTP_CSV ]]; then csvs+=(--csv "$HTTP_CSV"); fi
svg_args=()
if [[ $(wc -l <"$ECHO_CSV") -gt 1 ]] && grep -q '^echo,' "$ECHO_CSV"; then
    svg_args=(--svg "$OUT_DIR/echo.svg")
else
    rm -f "$OUT_DIR/echo.svg"
fi
tables="$WORK_DIR/tables.md"
if ! "$BIN/bench_report" "${csvs[@]}" --markdown "$tables" "${svg_args[@]}" \
    --caption "$date_only, $machine"; then
    note "bench_report failed: no tables"
    : >"$tables"
fi

{
    echo "# Benchmark results"
    echo
    echo "Measured $STARTED with \`bench/run.sh\` (\`just bench\`) on $machine; $versions."
    echo
    echo "$PINNING; every run ${SECONDS_PER_RUN} s measured after ${WARMUP} s of warm-up; $REPS repetition$( ((REPS > 1)) && echo "s, interleaved"); medians, with the min–max of the rates. CPU times are the server's over the measured window (user and system, per message, connection or request); a CPU share is of one core. \"vs mio\" and \"vs uvloop\": the ratio of the medians. Load average before: $LOAD_BEFORE; after: $LOAD_AFTER."
    echo
    echo "Over loopback the kernel does most of the work (the system time per message), and with the faster servers the load generator's core is saturated as well (client CPU near 100%): their rates are compressed towards each other and move with the kernel's cost from run to run (see the min–max). The server's user CPU time per message is where an event loop's own cost shows."
    echo
    if [[ ${#svg_args[@]} -gt 0 ]]; then
        echo "![Echo throughput and the server's user CPU time per message](echo.svg)"
        echo
    fi
    cat "$tables"
    if ((${#NOTES[@]} > 0)); then
        echo "### Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
        echo
    fi
    echo "The runs, one line each: [echo.csv](echo.csv)$([[ -f $HTTP_CSV ]] && echo ", [http.csv](http.csv)"). The servers' logs and the raw output of the load generators are in $WORK_DIR/ on the machine that ran them."
} >"$OUT_DIR/RESULTS.md"

cat "$OUT_DIR/RESULTS.md"
log "wrote $OUT_DIR/RESULTS.md${svg_args[*]:+ and $OUT_DIR/echo.svg}"
