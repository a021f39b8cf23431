#!/usr/bin/env bash
# sendfile throughput: the host's native sendfile(2) against the read-and-write fallback,
# side by side in one run (issue 5's closing note).
#
#   bench/sendfile.sh                      # 256 MiB, 5 interleaved rounds
#   SIZE_MIB=64 REPS=3 bench/sendfile.sh
#
# The guest (tests/programs/src/bin/bench_sendfile.rs) runs under `sandloop run` with the
# file's directory preopened (--dir) and sends the file once over loopback TCP to a
# native sink (a CPython socket reading into one 4 MiB buffer and discarding), with
# `loop.sendfile`:
#   native             a sandloop::fs::File on the default loop: the host queues the file
#                      behind the stream and sends it with sendfile(2) (completion mode)
#   fallback           a std::fs::File on the default loop: read in the guest in 64 KiB
#                      blocks and written through the transport with its flow control
#   native-selector    the same two on a SelectorEventLoop (readiness mode: the guest calls
#   fallback-selector  the host's one-shot send-file, or send, on writability)
# Rounds are interleaved (every mode once per round). Each line gives the guest's time from
# the call until the transport closed (the last byte sent) and the sink's time from its
# first byte to the end of stream; the table gives the median MiB/s of each over the rounds,
# and the sender's CPU time (the whole `sandloop run` of a precompiled guest, user+sys) per
# GiB sent, which is where the two paths differ most when the receiver is the bottleneck.
# The sandloop process is pinned to SERVER_CPU [0], the sink to CLIENT_CPU [1].
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-256}
REPS=${REPS:-5}
MODES=${MODES:-"native fallback native-selector fallback-selector"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WORK_DIR=${WORK_DIR:-target/bench/sendfile}

source bench/guest.sh
# Precompiled, so that the CPU time measured is the transfer's, not the compiler's.
prepare_guest bench_sendfile "$WORK_DIR"

mkdir -p "$WORK_DIR/data"
FILE="$WORK_DIR/data/payload.bin"
if [[ ! -f "$FILE" || $(stat -c %s "$FILE") -ne $((SIZE_MIB << 20)) ]]; then
    head -c $((SIZE_MIB << 20)) /dev/urandom >"$FILE"
fi
# Warm the page cache: both paths read the same cached file.
cat "$FILE" >/dev/null

SINK='
import socket, sys, time
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
buf = bytearray(4 << 20)
total, first = 0, None
while True:
    n = conn.recv_into(buf)
    if not n:
        break
    if first is None:
        first = time.perf_counter()
    total += n
end = time.perf_counter()
print(total, end - (first or end), flush=True)
'

RESULTS="$WORK_DIR/runs.txt"
: >"$RESULTS"
for round in $(seq 1 "$REPS"); do
    for mode in $MODES; do
        coproc SINK_PROC { taskset -c "$CLIENT_CPU" python3 -c "$SINK"; }
        read -r port <&"${SINK_PROC[0]}"
        guest_line=$(/usr/bin/time -f "%U %S" -o "$WORK_DIR/cpu.txt" \
            taskset -c "$SERVER_CPU" "$HOST" run --allow-precompiled --allow-connect "127.0.0.1:$port" \
            --dir "$WORK_DIR/data::/data" "$CWASM" -- "$mode" "$port" /data/payload.bin)
        read -r cpu_user cpu_sys <"$WORK_DIR/cpu.txt"
        read -r sink_bytes sink_secs <&"${SINK_PROC[0]}"
        wait "$SINK_PROC_PID" 2>/dev/null || true
        guest_secs=${guest_line##*secs=}
        guest_bytes=${guest_line#* bytes=}; guest_bytes=${guest_bytes%% *}
        if [[ "$guest_bytes" -ne $((SIZE_MIB << 20)) || "$sink_bytes" -ne $((SIZE_MIB << 20)) ]]; then
            echo "round $round $mode: sent $guest_bytes, received $sink_bytes of $((SIZE_MIB << 20))" >&2
            exit 1
        fi
        cpu=$(python3 -c "print($cpu_user + $cpu_sys)")
        echo "$round $mode $guest_secs $sink_secs $cpu" | tee -a "$RESULTS"
    done
done

python3 - "$RESULTS" "$SIZE_MIB" "$MODES" <<'PY'
import statistics, sys
path, size, modes = sys.argv[1], float(sys.argv[2]), sys.argv[3].split()
runs = {m: [] for m in modes}
for line in open(path):
    _, mode, guest, sink, cpu = line.split()
    runs[mode].append((size / float(guest), size / float(sink), float(cpu) / (size / 1024)))
base = statistics.median(r[0] for r in runs[modes[0]])
print()
print(f"sendfile of {size:.0f} MiB over loopback, {len(runs[modes[0]])} rounds (median, min-max)")
print()
print("| mode | MiB/s (guest: call to close) | MiB/s (sink: first byte to EOF) | vs " + modes[0] + " | sender CPU s/GiB (user+sys) |")
print("|---|---|---|---|---|")
for m in modes:
    g = [r[0] for r in runs[m]]
    s = [r[1] for r in runs[m]]
    c = [r[2] for r in runs[m]]
    print(f"| {m} | {statistics.median(g):.0f} ({min(g):.0f}-{max(g):.0f}) | "
          f"{statistics.median(s):.0f} ({min(s):.0f}-{max(s):.0f}) | {statistics.median(g) / base:.2f}x | "
          f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f}) |")
PY
