#!/usr/bin/env bash
# TLS echo throughput against plain TCP, side by side in one run (issue 7's closing note).
#
#   bench/tls.sh                    # 256 MiB echoed, 5 interleaved rounds
#   SIZE_MIB=64 REPS=3 bench/tls.sh
#
# sandloop on both ends, two processes: the echo server (tests/programs/src/bin/
# bench_tls.rs, `server`) pinned to SERVER_CPU [0], the client (`client`) to CLIENT_CPU
# [1]. The client sends SIZE_MIB in 64 KiB writes with flow control and reads the echo back;
# the server pauses reading while its echo backs up. MODES: `plain` (TCP) and `tls` (the
# host's rustls, TLS 1.3 with the development certificates of `cargo xtask dev-cert`).
# Rounds are interleaved (every mode once per round). Each line gives the client's time
# from the first write to the last echoed byte; the table gives the median MiB/s echoed and
# the ratio to plain TCP.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-256}
REPS=${REPS:-5}
MODES=${MODES:-"plain tls"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WORK_DIR=${WORK_DIR:-target/bench/tls}

source bench/guest.sh
prepare_guest bench_tls "$WORK_DIR"
cargo xtask dev-cert "$WORK_DIR/certs" >/dev/null

RESULTS="$WORK_DIR/runs.txt"
: >"$RESULTS"
for round in $(seq 1 "$REPS"); do
    for mode in $MODES; do
        port=$(free_port)
        coproc SERVER { exec taskset -c "$SERVER_CPU" "$HOST" run --allow-precompiled --allow-listen "127.0.0.1:$port" \
            --dir "$WORK_DIR/certs::/certs" "$CWASM" -- server "$mode" "$port"; }
        read -r ready <&"${SERVER[0]}"
        [[ "$ready" == ready ]] || { echo "the server said: $ready" >&2; exit 1; }
        line=$(taskset -c "$CLIENT_CPU" "$HOST" run --allow-precompiled --allow-connect "127.0.0.1:$port" \
            --dir "$WORK_DIR/certs::/certs" "$CWASM" -- client "$mode" "$port" "$SIZE_MIB")
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        bytes=${line#* bytes=}; bytes=${bytes%% *}
        secs=${line##*secs=}
        if [[ "$bytes" -ne $((SIZE_MIB << 20)) ]]; then
            echo "round $round $mode: echoed $bytes of $((SIZE_MIB << 20))" >&2
            exit 1
        fi
        echo "$round $mode $secs" | tee -a "$RESULTS"
    done
done

python3 - "$RESULTS" "$SIZE_MIB" "$MODES" <<'PY'
import statistics, sys
path, size, modes = sys.argv[1], float(sys.argv[2]), sys.argv[3].split()
runs = {m: [] for m in modes}
for line in open(path):
    _, mode, secs = line.split()
    runs[mode].append(size / float(secs))
base = statistics.median(runs[modes[0]])
print()
print(f"echo of {size:.0f} MiB over loopback, sandloop client and server, {len(runs[modes[0]])} rounds (median, min-max)")
print()
print(f"| mode | MiB/s echoed | vs {modes[0]} |")
print("|---|---|---|")
for m in modes:
    r = runs[m]
    print(f"| {m} | {statistics.median(r):.0f} ({min(r):.0f}-{max(r):.0f}) | {statistics.median(r) / base:.2f}x |")
PY
