#!/usr/bin/env bash
# Micro, start-up and scale benchmarks of sandloop, side by side with asyncio, uvloop and
# tokio, in one go. Writes bench/results/MICRO.md (markdown tables with each figure, the
# peers' figures and the ratios against the goals) and keeps the raw key=value lines in
# target/micro-bench/.
#
#   bench/micro.sh
#   PARTS="micro startup" REPEAT=5 bench/micro.sh
#
# The parts:
#   micro    the loop core inside the guest under the host (tests/programs/src/bin/
#            bench_loop.rs, run with `sandloop run`; the guest times its own section) and
#            the same operations on asyncio and uvloop (bench/micro/asyncio_micro.py) and
#            tokio current_thread (bench/src/bin/tokio_micro.rs): call_soon, 100k timers with
#            half cancelled, task create+await, future set_result+await. Each figure is the
#            median of REPEAT runs, each in a fresh process.
#   startup  bench/src/bin/startup.rs: a precompiled component (.cwasm) loaded, then run
#            from its cached InstancePre to its first callback, on demand, pooled, and
#            pooled on shared host threads;
#            instances started per second on 1 and 2 threads.
#   scale    bench/src/bin/idle_conns.rs against the echo servers (sandloop's example under
#            the host, uvloop, tokio): one active connection's latency and the server's CPU
#            time per round trip with 0, 1,000 and 10,000 idle connections open, and the
#            server's memory (VmRSS) per idle connection.
#
# Environment (defaults in brackets):
#   PARTS            what to run ["micro startup scale"]
#   REPEAT           runs per micro figure, the median is kept [3]
#   NATIVE_ITERS     operations per run for sandloop and tokio [1000000]
#   PYTHON_ITERS     operations per run for asyncio and uvloop [200000]
#   NATIVE_ROUNDS, PYTHON_ROUNDS  rounds of 100k timers per run [3, 1]
#   STARTUP_SECONDS  seconds per timed part of the start-up benchmark [1]
#   IDLE             idle connection counts of the scale part ["0 1000 10000"]
#   PINGS            active round trips measured at each idle count [20000]
#   SCALE_PEERS      servers of the scale part ["sandloop uvloop tokio"]
#   SERVER_CPU, CLIENT_CPU  cores for taskset (2+ cores): the scale part's server and
#                    client, and the micro runs on CLIENT_CPU [0, 1]
#   OUT              the report [bench/results/MICRO.md]
#   SKIP_BUILD=1     use what target/ already holds (and the venv as it is)
set -euo pipefail

cd "$(dirname "$0")/.."

PARTS=${PARTS:-"micro startup scale"}
REPEAT=${REPEAT:-3}
NATIVE_ITERS=${NATIVE_ITERS:-1000000}
PYTHON_ITERS=${PYTHON_ITERS:-200000}
NATIVE_ROUNDS=${NATIVE_ROUNDS:-3}
PYTHON_ROUNDS=${PYTHON_ROUNDS:-1}
STARTUP_SECONDS=${STARTUP_SECONDS:-1}
IDLE=${IDLE:-"0 1000 10000"}
PINGS=${PINGS:-20000}
SCALE_PEERS=${SCALE_PEERS:-"sandloop uvloop tokio"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-bench/results/MICRO.md}
SKIP_BUILD=${SKIP_BUILD:-0}
TARGET=${CARGO_TARGET_DIR:-target}
RAW_DIR="$TARGET/micro-bench"
VENV="$TARGET/bench-venv"
READY_TIMEOUT=60 # seconds; the host compiles the component when it starts

SANDLOOP="$TARGET/release/sandloop"
BENCH_LOOP_WASM="$TARGET/wasm32-wasip2/release/bench_loop.wasm"
ECHO_WASM="$TARGET/wasm32-wasip2/release/echo_server.wasm"
TOKIO_MICRO="$TARGET/release/tokio_micro"
TOKIO_ECHO="$TARGET/release/tokio_echo"
STARTUP="$TARGET/release/startup"
IDLE_CONNS="$TARGET/release/idle_conns"

log() { echo "micro.sh: $*" >&2; }
wants() { [[ " $PARTS " == *" $1 "* ]]; }
NOTES=()
note() { NOTES+=("$*"); log "$*"; }

mkdir -p "$RAW_DIR" "$(dirname "$OUT")"
: >"$RAW_DIR/raw.txt"

# --- Build -------------------------------------------------------------------------------

if [[ $SKIP_BUILD != 1 ]]; then
    # One build at a time: the machine has two cores. The bench crate's default feature
    # builds the host and every guest test program (for `startup`).
    cargo build --release -p sandloop-host --bin sandloop
    cargo build --release -p sandloop-bench --bins
    cargo build --release --target wasm32-wasip2 -p test-programs --bin bench_loop
    cargo build --release --target wasm32-wasip2 -p sandloop-examples --bin echo_server
fi

# --- Python and uvloop (the venv the network harness, run.sh, uses too) -------------------

PYTHON=$(command -v python3 || true)
UVLOOP_PYTHON=
if [[ -n $PYTHON ]]; then
    if [[ $SKIP_BUILD != 1 ]]; then
        if [[ ! -x $VENV/bin/python ]] && ! python3 -m venv "$VENV" >"$RAW_DIR/venv.log" 2>&1; then
            note "could not create a venv in $VENV (see $RAW_DIR/venv.log)"
        fi
        if [[ -x $VENV/bin/python ]] && ! "$VENV/bin/python" -c 'import uvloop' 2>/dev/null; then
            log "installing uvloop into $VENV"
            "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uvloop \
                >>"$RAW_DIR/venv.log" 2>&1 || note "pip install uvloop failed (see $RAW_DIR/venv.log)"
        fi
    fi
    if [[ -x $VENV/bin/python ]]; then PYTHON="$VENV/bin/python"; fi
    if "$PYTHON" -c 'import uvloop' 2>/dev/null; then UVLOOP_PYTHON=$PYTHON; fi
fi
[[ -n $PYTHON ]] || note "no python3: the asyncio and uvloop figures are missing"
[[ -n $UVLOOP_PYTHON ]] || note "no uvloop: the uvloop figures are missing"

PIN_SERVER=()
PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
    note "not pinning (no taskset or a single core)"
fi

LOAD_BEFORE=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo unknown)
BUSY=$(ps -eo comm= | grep -cE '^(cargo|rustc)$' || true)
if ((BUSY > 0)); then
    note "cargo or rustc was running when the measurements started: the figures are skewed"
fi

# The value of key $1 in the key=value lines $2.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }
# awk arithmetic: calc EXPR A [B [C]] prints EXPR (in terms of a, b, c) of the numbers A,
# B, C; nothing when one of them is missing.
calc() {
    local expr=$1 v
    shift
    for v in "$@"; do [[ -n $v && $v != na ]] || return 0; done
    awk -v a="${1:-}" -v b="${2:-}" -v c="${3:-}" "BEGIN { printf \"%.6g\", $expr }"
}
# "n/a" when $1 is empty.
or_na() { if [[ -n ${1:-} ]]; then echo "$1"; else echo "n/a"; fi; }

# --- Micro -------------------------------------------------------------------------------

# The median elapsed_ns of REPEAT runs of the command "$@", or nothing if a run fails.
median_ns() {
    local runs=() out ns
    for _ in $(seq "$REPEAT"); do
        if ! out=$("${PIN_CLIENT[@]}" "$@" 2>>"$RAW_DIR/micro.err"); then
            log "failed: $*"
            return 0
        fi
        ns=$(sed -n 's/^elapsed_ns=//p' <<<"$out")
        [[ -n $ns ]] || return 0
        runs+=("$ns")
    done
    printf '%s\n' "${runs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

MICRO_NAMES="call_soon timers_100k_cancel_half task_create_await future_set_result_await"
declare -A NS_PER_OP
if wants micro; then
    : >"$RAW_DIR/micro.err"
    for name in $MICRO_NAMES; do
        for peer in sandloop asyncio uvloop tokio; do
            if [[ $name == timers_100k_cancel_half ]]; then
                iters_native=$NATIVE_ROUNDS iters_python=$PYTHON_ROUNDS per=100000
            else
                iters_native=$NATIVE_ITERS iters_python=$PYTHON_ITERS per=1
            fi
            case $peer in
                sandloop) iters=$iters_native cmd=("$SANDLOOP" run "$BENCH_LOOP_WASM" -- "$name" "$iters") ;;
                tokio) iters=$iters_native cmd=("$TOKIO_MICRO" "$name" "$iters") ;;
                asyncio)
                    [[ -n $PYTHON ]] || continue
                    iters=$iters_python cmd=("$PYTHON" bench/micro/asyncio_micro.py "$name" "$iters")
                    ;;
                uvloop)
                    [[ -n $UVLOOP_PYTHON ]] || continue
                    iters=$iters_python cmd=("$UVLOOP_PYTHON" bench/micro/asyncio_micro.py --uvloop "$name" "$iters")
                    ;;
            esac
            log "micro: $peer $name x$iters"
            ns=$(median_ns "${cmd[@]}")
            [[ -n $ns ]] || { note "micro: $peer $name failed (see $RAW_DIR/micro.err)"; continue; }
            NS_PER_OP[$peer,$name]=$(calc 'a / (b * c)' "$ns" "$iters" "$per")
            echo "part=micro peer=$peer name=$name iters=$iters ops_per_iter=$per median_elapsed_ns=$ns ns_per_op=${NS_PER_OP[$peer,$name]}" >>"$RAW_DIR/raw.txt"
        done
    done
fi

# --- Start-up ----------------------------------------------------------------------------

STARTUP_OUT=
if wants startup; then
    log "startup"
    if STARTUP_OUT=$("$STARTUP" --seconds "$STARTUP_SECONDS" --out-dir "$RAW_DIR"); then
        echo "part=startup $(tr '\n' ' ' <<<"$STARTUP_OUT")" >>"$RAW_DIR/raw.txt"
    else
        note "startup: the benchmark failed"
        STARTUP_OUT=
    fi
fi

# --- Scale -------------------------------------------------------------------------------

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
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts server $1 on port $2 with its output in $3; sets SERVER_PID once the port accepts
# connections.
start_server() {
    local peer=$1 port=$2 log=$3 cmd
    case $peer in
        sandloop) cmd=("$SANDLOOP" run --allow-listen "127.0.0.1:$port" "$ECHO_WASM" -- "127.0.0.1:$port") ;;
        uvloop) cmd=("$UVLOOP_PYTHON" bench/peers/asyncio_echo.py "127.0.0.1:$port" --uvloop) ;;
        asyncio) cmd=("$PYTHON" bench/peers/asyncio_echo.py "127.0.0.1:$port") ;;
        tokio) cmd=("$TOKIO_ECHO" "127.0.0.1:$port") ;;
        *) log "unknown scale peer $peer"; return 1 ;;
    esac
    # taskset execs the server, so $! is the server's own pid.
    "${PIN_SERVER[@]}" "${cmd[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + READY_TIMEOUT))
    until grep -q '^Serving on' "$log" 2>/dev/null; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || ((SECONDS >= deadline)); then
            log "$peer server did not start (see $log)"
            stop_server
            return 1
        fi
        sleep 0.05
    done
}

declare -A SCALE
if wants scale; then
    idle_list=$(tr ' ' ',' <<<"$IDLE")
    for peer in $SCALE_PEERS; do
        if [[ ( $peer == uvloop && -z $UVLOOP_PYTHON ) || ( $peer == asyncio && -z $PYTHON ) ]]; then
            continue
        fi
        port=$(free_port)
        log "scale: $peer on port $port"
        if ! start_server "$peer" "$port" "$RAW_DIR/scale-$peer.log"; then
            note "scale: the $peer server did not start (see $RAW_DIR/scale-$peer.log)"
            continue
        fi
        if out=$("${PIN_CLIENT[@]}" "$IDLE_CONNS" --addr "127.0.0.1:$port" --server-pid "$SERVER_PID" \
            --idle "$idle_list" --pings "$PINGS" 2>>"$RAW_DIR/scale-$peer.err"); then
            while read -r line; do
                echo "part=scale peer=$peer $line" >>"$RAW_DIR/raw.txt"
                n=$(field idle "$line")
                for key in p50_us p99_us server_cpu_us_per_msg rss_kib kib_per_idle; do
                    SCALE[$peer,$n,$key]=$(field "$key" "$line")
                done
            done <<<"$out"
        else
            note "scale: idle_conns failed against $peer (see $RAW_DIR/scale-$peer.err)"
        fi
        stop_server
    done
fi

# --- Report ------------------------------------------------------------------------------

fmt() { # number $2 with $1 decimals, or n/a
    if [[ -n ${2:-} && ${2:-} != na ]]; then printf "%.${1}f" "$2"; else echo "n/a"; fi
}
# "holds" or "falls short" for the comparison `a OP b` (OP: >= or <=).
verdict() {
    [[ -n ${1:-} && -n ${3:-} ]] || { echo "n/a"; return; }
    if awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; then echo "holds"; else echo "falls short"; fi
}

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "# Micro, start-up and scale benchmarks"
    echo
    echo "Written by \`bench/micro.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($(or_na "$CPU_MODEL")), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); $(rustc --version 2>/dev/null | cut -d ' ' -f 1-2), $("${PYTHON:-python3}" --version 2>&1), uvloop $(or_na "$("${UVLOOP_PYTHON:-false}" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null)"), tokio $(sed -n '/^name = "tokio"$/{n;s/^version = "\(.*\)"$/\1/p}' Cargo.lock | head -n 1). Load average before: $LOAD_BEFORE, after: $(cut -d ' ' -f 1 /proc/loadavg). Raw figures: \`$RAW_DIR/raw.txt\`."

    if wants micro; then
        S=sandloop
        echo
        echo "## Micro: the loop core"
        echo
        echo "Time per operation, the median of $REPEAT runs (each a fresh process, timed inside the loop around its own work). sandloop is the guest under the host; its and tokio's runs do $NATIVE_ITERS operations ($NATIVE_ROUNDS rounds of timers), asyncio's and uvloop's $PYTHON_ITERS ($PYTHON_ROUNDS round)."
        echo
        echo "| operation | sandloop | asyncio | uvloop | tokio | goal | measured | verdict |"
        echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"
        row() { # name label goal-kind
            local name=$1 label=$2 g=$3 s a u t
            s=${NS_PER_OP[$S,$name]:-} a=${NS_PER_OP[asyncio,$name]:-} u=${NS_PER_OP[uvloop,$name]:-} t=${NS_PER_OP[tokio,$name]:-}
            local cells="| $label | $(fmt 0 "$s") ns | $(fmt 0 "$a") ns | $(fmt 0 "$u") ns | $(fmt 0 "$t") ns"
            case $g in
                call_soon)
                    local mps
                    mps=$(calc '1e3 / a' "$s")
                    echo "$cells | >= 10 M callbacks/s | $(fmt 1 "$mps") M/s (uvloop $(fmt 2 "$(calc '1e3 / a' "$u")") M/s) | $(verdict "$mps" '>=' 10) |"
                    ;;
                uvloop10)
                    local x
                    x=$(calc 'b / a' "$s" "$u")
                    echo "$cells | >= 10x uvloop | $(fmt 1 "$x")x uvloop | $(verdict "$x" '>=' 10) |"
                    ;;
                task)
                    local x y
                    x=$(calc 'b / a' "$s" "$u")
                    y=$(calc 'a / b' "$s" "$t")
                    echo "$cells | >= 10x uvloop | $(fmt 1 "$x")x uvloop | $(verdict "$x" '>=' 10) |"
                    echo "| | | | | | within 2x tokio | $(fmt 1 "$y")x tokio's time | $(verdict "$y" '<=' 2) |"
                    ;;
            esac
        }
        row call_soon "call_soon + run (per callback)" call_soon
        row timers_100k_cancel_half "100k timers, random delays, half cancelled (per timer scheduled)" uvloop10
        row task_create_await "task create + await" task
        row future_set_result_await "future set_result + await" uvloop10
        echo
        echo "- call_soon: tokio has no plain callbacks; its column is the nearest thing, spawning a trivial task (not awaited) and running it."
        echo "- timers: delays pseudo-random in [0, 1 ms), so by the time 100,000 are scheduled they are due and the loop hardly waits. tokio's column is \`tokio_util::time::DelayQueue\` (insert, remove half, take the expired), a timing wheel of 1 ms slots that runs no callbacks."
        echo "- future set_result + await: the awaiting task creates a future, schedules its \`set_result\` with \`call_soon\` and awaits it. tokio has no \`call_soon\`: a resolver task fed by an mpsc channel completes a \`oneshot\`, so tokio pays two task wake-ups where the others pay a callback and one wake-up."
    fi

    if wants startup && [[ -n $STARTUP_OUT ]]; then
        echo
        echo "## Start-up: precompiled component to first callback"
        echo
        echo "\`load\`: a fresh runtime loads the \`.cwasm\` (the integrity check of its SHA-256 trailer, deserialize, link, \`InstancePre\`). \`run\`: \`Workload::run\` end to end from the cached \`InstancePre\` (new store, WASI context and reactor, instantiate, \`main\` makes a loop and runs its first callback, which stops it, teardown): an upper bound of instantiate-to-first-callback. \`pooling\`: \`PoolingOptions\`' defaults, which keep up to 1 MiB of each slot resident and reset only the dirtied pages (PAGEMAP_SCAN) where Linux can tell which, instead of returning the memory to the kernel; \`pooling_returned\`: wasmtime's default, the memory returned to the kernel (\`keep_resident: 0\`); \`pooling_resident\`: 2 MiB kept resident. \`shared\`: \`pooling\` with the instances on 2 shared host threads and one reactor (\`RuntimeOptions::shared_threads: Some(2)\`, code compiled with epoch checks; \`Workload::run\` runs the instance's task on the calling thread, seated at the shared reactor), \`shared_resident\` the same with \`pooling_resident\`'s pool; the others run each instance on a thread of its own."
        echo
        echo "| allocator | load p50 (us) | run p50 (us) | run p99 (us) | .cwasm to first callback, p50 load + run (us) | instances/s, 1 thread | instances/s, 2 threads |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        for cfg in ondemand pooling pooling_returned pooling_resident shared shared_resident; do
            l=$(field "load_${cfg}_p50_us" "$STARTUP_OUT")
            r=$(field "run_${cfg}_p50_us" "$STARTUP_OUT")
            echo "| $cfg | $(fmt 0 "$l") | $(fmt 1 "$r") | $(fmt 1 "$(field "run_${cfg}_p99_us" "$STARTUP_OUT")") | $(fmt 0 "$(calc 'a + b' "$l" "$r")") | $(fmt 0 "$(field "per_s_${cfg}_1t" "$STARTUP_OUT")") | $(fmt 0 "$(field "per_s_${cfg}_2t" "$STARTUP_OUT")") |"
        done
        echo
        p=$(field run_pooling_p50_us "$STARTUP_OUT")
        echo "Goal: precompiled component to first callback at most 20 us median, with InstancePre and the pooling allocator (\`pooling\`): $(fmt 1 "$p") us: $(verdict "$p" '<=' 20)."
    fi

    if wants scale; then
        echo
        echo "## Scale: idle connections plus one active"
        echo
        echo "Echo servers (sandloop's \`echo_server\` example under the host, \`asyncio_echo.py --uvloop\`, \`tokio_echo\`), server pinned: ${PIN_SERVER[*]:-no}, client pinned: ${PIN_CLIENT[*]:-no}. At each idle count (connections are added, each echoes one byte once, then stays silent) the active connection makes $PINGS round trips of 64 B, one at a time. CPU is the server's, all threads, user and system, per round trip: with one message in flight that is one loop iteration serving one event, kernel included. Memory per idle connection: the server's VmRSS growth (host and guest together, one process) over the idle connections; socket buffers live in the kernel and are not in it."
        echo
        header="| server |"
        sep="| --- |"
        for n in $IDLE; do header+=" p50 / p99 (us), $n idle |"; sep+=" ---: |"; done
        for n in $IDLE; do header+=" CPU (us/msg), $n idle |"; sep+=" ---: |"; done
        header+=" RSS with ${IDLE##* } idle (MiB) | KiB per idle connection |"
        sep+=" ---: | ---: |"
        echo "$header"
        echo "$sep"
        first=${IDLE%% *}
        last=${IDLE##* }
        for peer in $SCALE_PEERS; do
            [[ -n ${SCALE[$peer,$first,p50_us]:-} ]] || { echo "| $peer | n/a |"; continue; }
            line="| $peer |"
            for n in $IDLE; do line+=" $(fmt 1 "${SCALE[$peer,$n,p50_us]:-}") / $(fmt 1 "${SCALE[$peer,$n,p99_us]:-}") |"; done
            for n in $IDLE; do line+=" $(fmt 2 "${SCALE[$peer,$n,server_cpu_us_per_msg]:-}") |"; done
            line+=" $(fmt 1 "$(calc 'a / 1024' "${SCALE[$peer,$last,rss_kib]:-}")") | $(fmt 2 "${SCALE[$peer,$last,kib_per_idle]:-}") |"
            echo "$line"
        done
        S=sandloop
        if [[ -n ${SCALE[$S,$first,p99_us]:-} && -n ${SCALE[$S,$last,p99_us]:-} ]]; then
            g99=$(calc 'b / a' "${SCALE[$S,$first,p99_us]}" "${SCALE[$S,$last,p99_us]}")
            gcpu=$(calc 'b / a' "${SCALE[$S,$first,server_cpu_us_per_msg]}" "${SCALE[$S,$last,server_cpu_us_per_msg]}")
            echo
            echo "Goal: the active connection's p99 within 1.2x of its p99 with none idle, and the loop's per-iteration cost not growing with the idle count. sandloop, $last idle against $first: p99 $(fmt 2 "$g99")x, CPU per round trip $(fmt 2 "$gcpu")x: $(verdict "$g99" '<=' 1.2) for p99, $(verdict "$gcpu" '<=' 1.25) for the per-iteration cost (taken as flat within 25%, the noise of a shared 2-core machine)."
        fi
    fi

    if ((${#NOTES[@]} > 0)); then
        echo
        echo "## Notes of this run"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} >"$OUT"
cat "$OUT"
