#!/usr/bin/env bash
# The echo benchmark alone, the sandloop echo example against the native mio server by
# default: bench/run.sh without the HTTP, latency and connection-rate runs, one repetition,
# with its results in target/echo-bench/ (RESULTS.md, echo.svg, echo.csv) instead of
# bench/results/. Every knob of run.sh applies:
#
#   bench/echo.sh
#   SIZES="1024" SECONDS_PER_RUN=10 PEERS="mio tokio sandloop" bench/echo.sh
set -euo pipefail

cd "$(dirname "$0")/.."

export PEERS=${PEERS:-"mio sandloop"}
export REPS=${REPS:-1}
export NO_HTTP=${NO_HTTP:-1}
export LATENCY_PEERS=${LATENCY_PEERS-}
export CONNECT_PEERS=${CONNECT_PEERS-}
export OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-target}/echo-bench}
export WORK_DIR=${WORK_DIR:-$OUT_DIR/work}
exec bash bench/run.sh
