#!/usr/bin/env bash
# Density benchmarks of sandloop (issue 24): many idle instances in one host process, the
# start-up of one more, and a noisy neighbour's effect on another tenant. Writes
# bench/results/DENSITY.md (a README paragraph and table filled with this run's figures at
# its head, then each part's table) and keeps the raw key=value lines and logs in
# target/density-bench/.
#
#   bench/density.sh
#   DENSITY_N="1000" PARTS=density bench/density.sh
#
# The parts:
#   density  `sandloop run --instances N` of a precompiled http_hello, each instance on a
#            port of its own (HTTP_HELLO_BASE_PORT: instance i listens on BASE + i), in two
#            modes: `threads` (`--threads $THREADS`: instances on shared host threads) and
#            `own` (no flag: a thread and a reactor per instance; only for N <= OWN_MAX_N,
#            as 10,000 of them need more descriptors than the default limit). Once all N
#            print `Serving on`, the host's memory (VmRSS; Pss from smaps_rollup), OS
#            threads (/proc/PID/task) and descriptors (/proc/PID/fd) are read; then
#            bench/src/bin/http_sweep.rs GETs every port once and counts the 200s; then the
#            host is stopped with SIGTERM. An N=1 run per mode is the baseline of the
#            per-instance figures.
#   startup  bench/src/bin/startup.rs: a precompiled component to its first callback, on a
#            thread per instance and on shared threads (also part of micro.sh).
#   noisy    bench/src/bin/noisy.rs: 1,000 idle tenants and one echo tenant (the victim) in
#            one process; the victim's round trips alone, next to a tenant spinning in a
#            callback, and next to an echo tenant under load; on shared threads and on a
#            thread per tenant.
#
# Environment (defaults in brackets):
#   PARTS            what to run ["density startup noisy"]
#   DENSITY_N        instance counts of the density part ["1000 10000"]
#   MODES            modes of the density part ["threads own"]
#   THREADS          host threads of the `threads` mode and of noisy's shared runs [2]
#   OWN_MAX_N        the largest N run in the `own` mode [4500]
#   BASE_PORT        the first instance's port; BASE_PORT .. BASE_PORT+N-1 must be free
#                    and below the ephemeral range [20000]
#   LISTEN_TIMEOUT   seconds for all N to listen [180]
#   SWEEP_TIMEOUT    seconds for one GET [10]; CONCURRENCY: GETs in flight [256]
#   STOP_TIMEOUT     seconds for the host to end after SIGTERM before SIGKILL [30]
#   STARTUP_SECONDS  seconds per timed part of the start-up benchmark [1]
#   NOISY_TENANTS    idle tenants of the noisy part [1000]
#   NOISY_ROUNDS     the victim's round trips per run [20000]
#   NOISY_MODES      "shared", "own" or both ["shared own"]
#   NOISY_LOAD_NICE  nice value of noisy's load client threads: at 19 they yield the CPU
#                    to the host, as a client on another machine would [19]
#   OUT              the report [bench/results/DENSITY.md]
#   SKIP_BUILD=1     use what target/ already holds
set -euo pipefail

cd "$(dirname "$0")/.."

PARTS=${PARTS:-"density startup noisy"}
DENSITY_N=${DENSITY_N:-"1000 10000"}
MODES=${MODES:-"threads own"}
THREADS=${THREADS:-2}
OWN_MAX_N=${OWN_MAX_N:-4500}
BASE_PORT=${BASE_PORT:-20000}
LISTEN_TIMEOUT=${LISTEN_TIMEOUT:-180}
SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-10}
CONCURRENCY=${CONCURRENCY:-256}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
STARTUP_SECONDS=${STARTUP_SECONDS:-1}
NOISY_TENANTS=${NOISY_TENANTS:-1000}
NOISY_ROUNDS=${NOISY_ROUNDS:-20000}
NOISY_MODES=${NOISY_MODES:-"shared own"}
NOISY_LOAD_NICE=${NOISY_LOAD_NICE:-19}
OUT=${OUT:-bench/results/DENSITY.md}
SKIP_BUILD=${SKIP_BUILD:-0}
TARGET=${CARGO_TARGET_DIR:-target}
RAW_DIR="$TARGET/density-bench"

SANDLOOP="$TARGET/release/sandloop"
HTTP_WASM="$TARGET/wasm32-wasip2/release/http_hello.wasm"
# `--threads` turns the epoch checks on (a busy instance yields at them) and sets memories
# up without copy-on-write mappings, and precompiled code must have been compiled with the
# same settings (`sandloop compile --threads`): one .cwasm per mode.
HTTP_CWASM="$RAW_DIR/http_hello.cwasm"
HTTP_CWASM_SHARED="$RAW_DIR/http_hello_shared.cwasm"
HTTP_SWEEP="$TARGET/release/http_sweep"
STARTUP="$TARGET/release/startup"
NOISY="$TARGET/release/noisy"

log() { echo "density.sh: $*" >&2; }
wants() { [[ " $PARTS " == *" $1 "* ]]; }
NOTES=()
note() { NOTES+=("$*"); log "$*"; }

mkdir -p "$RAW_DIR" "$(dirname "$OUT")"
: >"$RAW_DIR/raw.txt"

# --- Build -------------------------------------------------------------------------------

if [[ $SKIP_BUILD != 1 ]]; then
    # One build at a time: the machine has two cores. The bench crate's default feature
    # (for startup and noisy) builds the host and every guest test program.
    cargo build --release -p sandloop-host --bin sandloop
    cargo build --release -p sandloop-bench --bin http_sweep --bin startup --bin noisy
    cargo build --release --target wasm32-wasip2 -p sandloop-examples --bin http_hello
fi
if wants density; then
    "$SANDLOOP" compile "$HTTP_WASM" -o "$HTTP_CWASM"
    "$SANDLOOP" compile --threads "$HTTP_WASM" -o "$HTTP_CWASM_SHARED"
fi

# Many instances need many descriptors (a thread per instance: 4 each): take all the hard
# limit allows.
FD_SOFT_BEFORE=$(ulimit -Sn)
FD_HARD=$(ulimit -Hn)
ulimit -Sn "$FD_HARD" || note "could not raise the soft descriptor limit to $FD_HARD"
FD_SOFT=$(ulimit -Sn)
log "descriptor limit: soft $FD_SOFT_BEFORE raised to $FD_SOFT (hard $FD_HARD)"

LOAD_BEFORE=$(cut -d ' ' -f 1 /proc/loadavg 2>/dev/null || echo unknown)
BUSY=$(pgrep -xc 'cargo|rustc' || true)
if ((BUSY > 0)); then
    note "cargo or rustc was running when the measurements started: the figures are skewed"
fi

# The value of key $1 in the key=value line $2.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }
# awk arithmetic: calc EXPR A [B [C [D]]] prints EXPR (in terms of a, b, c, d) of the
# numbers given; nothing when one of them is missing.
calc() {
    local expr=$1 v
    shift
    for v in "$@"; do [[ -n $v && $v != na ]] || return 0; done
    awk -v a="${1:-}" -v b="${2:-}" -v c="${3:-}" -v d="${4:-}" "BEGIN { printf \"%.6g\", $expr }"
}
fmt() { # number $2 with $1 decimals, or n/a
    if [[ -n ${2:-} && ${2:-} != na ]]; then printf "%.${1}f" "$2"; else echo "n/a"; fi
}
# "holds" or "falls short" for the comparison `a OP b` (OP: >= or <=, < or >).
verdict() {
    [[ -n ${1:-} && -n ${3:-} ]] || { echo "n/a"; return; }
    if awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; then echo "holds"; else echo "falls short"; fi
}
now() { date +%s.%N; }

# --- Density -----------------------------------------------------------------------------

HOST_PID=
# Stops the host: SIGTERM, then SIGKILL after STOP_TIMEOUT s; sets STOP_S (seconds it took),
# STOP_HOW and HOST_EXIT (its exit status; 128 + N: killed by signal N).
stop_host() {
    STOP_S= STOP_HOW= HOST_EXIT=
    [[ -n $HOST_PID ]] || return 0
    local start
    start=$(now)
    if kill -TERM "$HOST_PID" 2>/dev/null; then
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while kill -0 "$HOST_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
        if kill -0 "$HOST_PID" 2>/dev/null; then
            kill -KILL "$HOST_PID" 2>/dev/null || true
            STOP_HOW=killed
        else
            STOP_HOW=sigterm
        fi
    fi
    HOST_EXIT=0
    wait "$HOST_PID" 2>/dev/null || HOST_EXIT=$?
    STOP_S=$(calc 'b - a' "$start" "$(now)")
    HOST_PID=
}
trap stop_host EXIT
trap 'exit 130' INT TERM

# smaps_rollup's field $2 (kB) of process $1.
smaps() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }
vmrss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# The key=value figures of process $1 now.
sample() {
    local pid=$1
    echo "rss_kib=$(vmrss "$pid") pss_kib=$(smaps "$pid" Pss)" \
        "private_dirty_kib=$(smaps "$pid" Private_Dirty)" \
        "threads=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
        "fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
        "maps=$(wc -l <"/proc/$pid/maps" 2>/dev/null || echo na)"
}
# Prints the listening TCP ports in [$1, $2] (another program's ports would collide).
ports_in_use() {
    ss -Htln 2>/dev/null | awk -v lo="$1" -v hi="$2" '{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) print p }' | head -n 5 | tr '\n' ' '
}

# One run: mode $1, N $2; appends a `part=density` line to raw.txt.
density_run() {
    local mode=$1 n=$2 cwasm flags=() last=$((BASE_PORT + $2 - 1)) tag="$1-$2"
    local out="$RAW_DIR/host-$tag.out" err="$RAW_DIR/host-$tag.err"
    case $mode in
        threads) flags=(--threads "$THREADS") cwasm=$HTTP_CWASM_SHARED ;;
        own) cwasm=$HTTP_CWASM ;;
        *) note "density: unknown mode $mode"; return 0 ;;
    esac
    local busy
    busy=$(ports_in_use "$BASE_PORT" "$last")
    if [[ -n $busy ]]; then
        note "density: $mode N=$n skipped: ports $busy(of $BASE_PORT-$last) are taken"
        echo "part=density mode=$mode n=$n status=ports_taken" >>"$RAW_DIR/raw.txt"
        return 0
    fi
    log "density: $mode N=$n"
    : >"$out"
    local start
    start=$(now)
    "$SANDLOOP" run "${flags[@]}" --instances "$n" --allow-precompiled \
        --allow-listen "127.0.0.1:$BASE_PORT-$last" --env "HTTP_HELLO_BASE_PORT=$BASE_PORT" \
        "$cwasm" -- "127.0.0.1:$BASE_PORT" >"$out" 2>"$err" </dev/null &
    HOST_PID=$!
    local listening=0 deadline=$((SECONDS + LISTEN_TIMEOUT)) status=ok
    while :; do
        listening=$(grep -c '^Serving on' "$out" || true)
        ((listening >= n)) && break
        if ! kill -0 "$HOST_PID" 2>/dev/null; then status=host_ended; break; fi
        if ((SECONDS >= deadline)); then status=listen_timeout; break; fi
        sleep 0.05
    done
    local listen_s
    listen_s=$(calc 'b - a' "$start" "$(now)")
    if [[ $status != ok ]]; then
        # How it stood (a host that hangs may have hit a limit: descriptors, memory maps).
        local stood
        stood=$(sample "$HOST_PID")
        # Once it is reaped, its last words are in the file.
        stop_host
        local why
        why=$(grep -m 1 -iE 'error|panic' "$err" | cut -c 1-240 || true)
        note "density: $mode N=$n: $status after $(fmt 1 "$listen_s") s with $listening listening, host exit status $HOST_EXIT, ${stood:-gone}: ${why:-see $err}"
        echo "part=density mode=$mode n=$n status=$status listening=$listening listen_s=$listen_s exit=$HOST_EXIT" >>"$RAW_DIR/raw.txt"
        return 0
    fi
    # The figures of N idle instances, before any request.
    local idle
    idle=$(sample "$HOST_PID")
    local sweep
    if ! sweep=$("$HTTP_SWEEP" --base-port "$BASE_PORT" --count "$n" --concurrency "$CONCURRENCY" \
        --timeout "$SWEEP_TIMEOUT" 2>>"$RAW_DIR/sweep.err"); then
        note "density: $mode N=$n: http_sweep failed (see $RAW_DIR/sweep.err)"
        sweep="answered=na"
    fi
    local after
    after=$(sample "$HOST_PID")
    stop_host
    local leftover=
    leftover=$(pgrep -f -- "--env HTTP_HELLO_BASE_PORT=$BASE_PORT" || true)
    [[ -z $leftover ]] || note "density: $mode N=$n: host processes left after the stop: $leftover"
    echo "part=density mode=$mode n=$n status=ok listen_s=$listen_s $idle $sweep" \
        "after_rss_kib=$(field rss_kib "$after") after_fds=$(field fds "$after") stop_s=$STOP_S stop=$STOP_HOW exit=$HOST_EXIT" >>"$RAW_DIR/raw.txt"
}

declare -A DENSITY
if wants density; then
    for mode in $MODES; do
        for n in 1 $DENSITY_N; do
            if [[ $mode == own ]] && ((n > OWN_MAX_N)); then
                note "density: own N=$n not run (a thread and 4 descriptors per instance; OWN_MAX_N=$OWN_MAX_N)"
                continue
            fi
            density_run "$mode" "$n"
            line=$(grep "^part=density mode=$mode n=$n " "$RAW_DIR/raw.txt" | tail -n 1)
            for key in status listening listen_s rss_kib pss_kib private_dirty_kib threads fds maps answered failed after_rss_kib stop_s stop exit; do
                DENSITY[$mode,$n,$key]=$(field "$key" "$line")
            done
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

# --- Noisy neighbour ---------------------------------------------------------------------

NOISY_OUT=
if wants noisy; then
    log "noisy: $NOISY_TENANTS idle tenants, modes $NOISY_MODES"
    if NOISY_OUT=$("$NOISY" --tenants "$NOISY_TENANTS" --rounds "$NOISY_ROUNDS" \
        --threads "$THREADS" --load-nice "$NOISY_LOAD_NICE" --modes "$(tr ' ' ',' <<<"$NOISY_MODES")" 2>"$RAW_DIR/noisy.err"); then
        while read -r line; do echo "part=noisy $line" >>"$RAW_DIR/raw.txt"; done <<<"$NOISY_OUT"
    else
        note "noisy: the benchmark failed: $(tail -n 1 "$RAW_DIR/noisy.err")"
        NOISY_OUT=
    fi
fi

# --- Report ------------------------------------------------------------------------------

# d MODE N KEY: a density figure of this run.
d() { echo "${DENSITY[$1,$2,$3]:-}"; }
mib() { fmt "$1" "$(calc 'a / 1024' "$2")"; }
# Per instance, over the N=1 baseline of the mode: (X(N) - X(1)) / (N - 1).
per_instance() { calc '(a - b) / (c - 1)' "$(d "$1" "$2" "$3")" "$(d "$1" 1 "$3")" "$2"; }
# The noisy figure KEY of mode $1, run $2.
nz() { [[ -n $NOISY_OUT ]] && grep "^mode=$1 run=$2 " <<<"$NOISY_OUT" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -n 1; }
LARGEST_N=${DENSITY_N##* }

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "# Density: many tenants in one host process"
    echo
    echo "Written by \`bench/density.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores (${CPU_MODEL:-unknown CPU}), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); descriptor limit soft $FD_SOFT_BEFORE raised to $FD_SOFT (hard $FD_HARD). Load average before: $LOAD_BEFORE, after: $(cut -d ' ' -f 1 /proc/loadavg). Raw figures and logs: \`$RAW_DIR/\`."

    echo
    echo "## For the README"
    echo
    echo "A paragraph and table to paste (figures of this run; \`n/a\` where a part did not run or failed)."
    echo
    echo '```markdown'
    echo "### Density: many tenants in one process"
    echo
    echo "\`sandloop run --threads $THREADS --instances N\` runs N instances of one workload on $THREADS host threads with one shared reactor: an instance waiting for I/O holds no thread, and one that is busy yields after a budget of work. Without \`--threads\`, each instance has an OS thread, an epoll and a waker of its own: the thread-per-tenant design of most embedders. Measured with N idle copies of a precompiled \`http_hello\` (\`bench/density.sh\`), each on a port of its own, every one of them answering a GET:"
    echo
    echo "| N | mode | RSS | per instance | OS threads | fds | fds per instance | all answered | start to all listening |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
    for n in $DENSITY_N; do
        for mode in $MODES; do
            label=$mode
            [[ $mode == threads ]] && label="shared, $THREADS threads"
            [[ $mode == own ]] && label="thread per instance"
            if [[ $(d "$mode" "$n" status) == ok ]]; then
                echo "| $n | $label | $(mib 0 "$(d "$mode" "$n" rss_kib)") MiB | $(fmt 0 "$(per_instance "$mode" "$n" rss_kib)") KiB | $(d "$mode" "$n" threads) | $(d "$mode" "$n" fds) | $(fmt 2 "$(per_instance "$mode" "$n" fds)") | $(d "$mode" "$n" answered)/$n | $(fmt 1 "$(d "$mode" "$n" listen_s)") s |"
            elif [[ -n $(d "$mode" "$n" status) ]]; then
                echo "| $n | $label | failed: $(d "$mode" "$n" status) ($(d "$mode" "$n" listening) listening) | | | | | | |"
            else
                echo "| $n | $label | not run | | | | | | |"
            fi
        done
        # A process per tenant, estimated from the single instance: N times the memory
        # it dirtied (its own), plus the rest of its RSS once (the host binary and the
        # .cwasm's clean pages, which N processes would share).
        own1=threads
        [[ -n $(d own 1 rss_kib) ]] && own1=own
        if [[ -n $(d "$own1" 1 rss_kib) ]]; then
            est=$(calc 'c * b + (a - b)' "$(d "$own1" 1 rss_kib)" "$(d "$own1" 1 private_dirty_kib)" "$n")
            echo "| $n | process per instance (estimate: N x one host's dirty memory) | $(mib 0 "$est") MiB | $(fmt 0 "$(d "$own1" 1 private_dirty_kib)") KiB | $((n * $(d "$own1" 1 threads))) | $((n * $(d "$own1" 1 fds))) | $(d "$own1" 1 fds) | | |"
        fi
    done
    echo
    if [[ -n $STARTUP_OUT ]]; then
        echo "A new instance to its first callback (precompiled, pooling allocator, \`InstancePre\`): $(fmt 1 "$(field run_shared_p50_us "$STARTUP_OUT")") us median on shared threads ($(fmt 1 "$(field run_shared_resident_p50_us "$STARTUP_OUT")") us with 2 MiB of each pool slot kept resident), $(fmt 1 "$(field run_pooling_p50_us "$STARTUP_OUT")") us on a thread of its own (p99 $(fmt 1 "$(field run_shared_p99_us "$STARTUP_OUT")"), $(fmt 1 "$(field run_shared_resident_p99_us "$STARTUP_OUT")") and $(fmt 1 "$(field run_pooling_p99_us "$STARTUP_OUT")") us)."
        echo
    fi
    if [[ -n $NOISY_OUT ]]; then
        echo "One tenant's echo round trips (64 B, one connection) among $NOISY_TENANTS idle tenants, p99 next to a noisy neighbour over p99 alone:"
        echo
        echo "| neighbour | shared, $THREADS threads | thread per tenant |"
        echo "| --- | ---: | ---: |"
        for run in spin load; do
            [[ $run == spin ]] && what="spinning in a callback (no time limit)"
            [[ $run == load ]] && what="an echo tenant under load"
            echo "| $what | $(fmt 2 "$(nz shared "$run" p99_ratio)")x | $(fmt 2 "$(nz own "$run" p99_ratio)")x |"
        done
        echo
    fi
    echo '```'

    if wants density; then
        echo
        echo "## Density: N idle http_hello instances"
        echo
        echo "\`sandloop run [--threads $THREADS] --instances N --allow-precompiled --allow-listen 127.0.0.1:$BASE_PORT-(BASE+N-1) --env HTTP_HELLO_BASE_PORT=$BASE_PORT http_hello.cwasm -- 127.0.0.1:$BASE_PORT\`: instance i listens on port $BASE_PORT + i. Modes: \`threads\` = \`--threads $THREADS\`; \`own\` = no flag, a thread per instance (only up to N = $OWN_MAX_N). Figures read once all N printed \`Serving on\`, before any request; RSS is VmRSS, PSS from \`/proc/PID/smaps_rollup\`; memory maps: lines of \`/proc/PID/maps\` (the kernel's limit: vm.max_map_count = $(cat /proc/sys/vm/max_map_count 2>/dev/null || echo unknown)); per instance = (figure at N - figure at N = 1) / (N - 1). Answered: 200s of one GET per port (\`http_sweep\`, $CONCURRENCY in flight). Time: from the host's start to all listening."
        echo
        echo "| N | mode | RSS (MiB) | PSS (MiB) | RSS per instance (KiB) | threads | fds | fds per instance | memory maps | answered | all listening (s) | RSS after the GETs (MiB) | stop (s) |"
        echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for mode in $MODES; do
            for n in 1 $DENSITY_N; do
                st=$(d "$mode" "$n" status)
                [[ -n $st ]] || continue
                if [[ $st != ok ]]; then
                    echo "| $n | $mode | $st: $(d "$mode" "$n" listening) listening after $(fmt 1 "$(d "$mode" "$n" listen_s)") s, exit status $(d "$mode" "$n" exit) (see the notes) | | | | | | | | | | |"
                    continue
                fi
                if ((n > 1)); then
                    per=$(fmt 0 "$(per_instance "$mode" "$n" rss_kib)") fper=$(fmt 2 "$(per_instance "$mode" "$n" fds)")
                else
                    per= fper=
                fi
                echo "| $n | $mode | $(mib 1 "$(d "$mode" "$n" rss_kib)") | $(mib 1 "$(d "$mode" "$n" pss_kib)") | $per | $(d "$mode" "$n" threads) | $(d "$mode" "$n" fds) | $fper | $(d "$mode" "$n" maps) | $(d "$mode" "$n" answered)/$n | $(fmt 2 "$(d "$mode" "$n" listen_s)") | $(mib 1 "$(d "$mode" "$n" after_rss_kib)") | $(fmt 2 "$(d "$mode" "$n" stop_s)") ($(d "$mode" "$n" stop)) |"
            done
        done
        n=$LARGEST_N
        if [[ $(d threads "$n" status) == ok ]]; then
            echo
            echo "Goals at N = $n (shared threads): RSS under 1 GiB: $(verdict "$(d threads "$n" rss_kib)" '<' 1048576); at most 2 fds per instance plus a constant: $(fmt 2 "$(per_instance threads "$n" fds)"), $(verdict "$(per_instance threads "$n" fds)" '<=' 2); at most ~4 OS threads per core plus the host's helpers: $(d threads "$n" threads) threads on $(nproc) cores; all answer: $(verdict "$(d threads "$n" answered)" '>=' "$n")."
        fi
    fi

    if [[ -n $STARTUP_OUT ]]; then
        echo
        echo "## Start-up: precompiled component to first callback"
        echo
        echo "\`bench/src/bin/startup.rs\` (see its header): \`run\` is \`Workload::run\` end to end from the cached \`InstancePre\`, an upper bound of instantiate-to-first-callback. \`shared\`: the pooling allocator with \`shared_threads: Some(2)\` (code compiled with epoch checks), \`shared_resident\` the same with 2 MiB of each slot kept resident (as \`pooling_resident\`); the others run each instance on a thread of its own."
        echo
        echo "| configuration | load p50 (us) | run p50 (us) | run p99 (us) | instances/s, 1 thread | instances/s, 2 threads |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: |"
        for cfg in ondemand pooling pooling_resident shared shared_resident; do
            echo "| $cfg | $(fmt 0 "$(field "load_${cfg}_p50_us" "$STARTUP_OUT")") | $(fmt 1 "$(field "run_${cfg}_p50_us" "$STARTUP_OUT")") | $(fmt 1 "$(field "run_${cfg}_p99_us" "$STARTUP_OUT")") | $(fmt 0 "$(field "per_s_${cfg}_1t" "$STARTUP_OUT")") | $(fmt 0 "$(field "per_s_${cfg}_2t" "$STARTUP_OUT")") |"
        done
        p=$(field run_shared_p50_us "$STARTUP_OUT")
        r=$(field run_shared_resident_p50_us "$STARTUP_OUT")
        echo
        echo "Goal: a new instance to its first callback under 20 us median (pooling, InstancePre, precompiled), shared threads: $(fmt 1 "$p") us, $(verdict "$p" '<' 20); with slots kept resident $(fmt 1 "$r") us, $(verdict "$r" '<' 20)."
    fi

    if [[ -n $NOISY_OUT ]]; then
        echo
        echo "## Noisy neighbour"
        echo
        echo "\`bench/src/bin/noisy.rs\` (see its header), one process: $NOISY_TENANTS idle \`http_hello\` tenants and a victim \`echo_server\` tenant; a client thread makes $NOISY_ROUNDS round trips of 64 B on one connection, one at a time. Runs: \`alone\`; \`spin\`: one more tenant spins in a callback forever (no time limit); \`load\`: one more \`echo_server\` tenant saturated by client threads sending 1 KiB messages (at nice $NOISY_LOAD_NICE: on this machine's $(nproc) cores the client would otherwise take the CPU from the host, which a client on another machine does not). \`shared\`: \`shared_threads: Some($THREADS)\`; \`own\`: a thread per tenant. Ratio: p99 with the neighbour over p99 alone."
        echo
        echo "| mode | run | p50 (us) | p99 (us) | p99.9 (us) | max (us) | p99 / alone | load echoed (MiB/s) |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        while read -r line; do
            [[ $line == mode=* ]] || continue
            echo "| $(field mode "$line") | $(field run "$line") | $(fmt 1 "$(field p50_us "$line")") | $(fmt 1 "$(field p99_us "$line")") | $(fmt 1 "$(field p999_us "$line")") | $(fmt 0 "$(field max_us "$line")") | $(fmt 2 "$(field p99_ratio "$line")") | $(fmt 1 "$(field load_mib_per_s "$line")") |"
        done <<<"$NOISY_OUT"
        echo
        echo "Goal: with $NOISY_TENANTS idle tenants and one spinning or saturated, the victim's p99 within 1.2x of its p99 alone (shared threads): spin $(fmt 2 "$(nz shared spin p99_ratio)")x, $(verdict "$(nz shared spin p99_ratio)" '<=' 1.2); load $(fmt 2 "$(nz shared load p99_ratio)")x, $(verdict "$(nz shared load p99_ratio)" '<=' 1.2)."
    fi

    if ((${#NOTES[@]} > 0)); then
        echo
        echo "## Notes of this run"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} >"$OUT"
cat "$OUT"
